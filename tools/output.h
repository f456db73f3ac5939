/* node-ctl's renderings of control API replies: JSON (jansson) for scripts
 * and aligned text for a clerk at a terminal.  Field names of the JSON are
 * an interface that outside checks rely on; change them only with care.
 *
 * Every *_json() returns a new reference (NULL only when memory runs out).
 * Text output replaces control characters and invalid UTF-8 coming from
 * the node with '?', so a stored case cannot drive the terminal. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/wuji.pb-c.h"

/* Columns a UTF-8 string takes in a terminal: East Asian wide characters
 * (Chinese) count 2, combining marks 0, invalid bytes 1 each. */
size_t wj_output_width(const char *s);
/* Masks the middle of an identity number, keeping the ends a clerk uses to
 * check it: 330106199001011234 -> 330106********1234.  Counts characters,
 * not bytes; always NUL-terminates buf (truncating when too small). */
void wj_output_mask_id(const char *id, char *buf, size_t size);
/* "2026-02-13 10:00" in UTC+8; "" for 0. */
void wj_output_time(int64_t t, char buf[20]);
/* "2026-02-13T10:00:00+08:00"; "" for 0. */
void wj_output_iso(int64_t t, char buf[32]);

json_t *wj_output_case_json(const Wuji__Case *c);
json_t *wj_output_cases_json(Wuji__Case *const *cases, size_t n);
json_t *wj_output_item_json(const Wuji__CatalogItem *it);
json_t *wj_output_catalog_json(const Wuji__Catalog *cat);
json_t *wj_output_calendar_json(const Wuji__Calendar *cal);
json_t *wj_output_status_json(const Wuji__NodeStatus *st);
json_t *wj_output_verify_json(const Wuji__VerifyReport *v);
/* `peers`: an array, one object per link, in the node's order (parent
 * first).  skew_ms is null for children and for a parent never heard. */
json_t *wj_output_peers_json(const Wuji__PeerList *l);
json_t *wj_output_change_json(const Wuji__Change *c);
int wj_output_json_line(FILE *f, json_t *j);
/* `tree`: an array of the nodes, sorted by code. */
json_t *wj_output_tree_json(const Wuji__TreeReport *t);
/* Writes j indented with a final newline and releases it (also when j is
 * NULL, which is reported as an error).  Returns 0 or -1. */
int wj_output_json_print(FILE *f, json_t *j);

/* `show`: header block, tasks table, history table. */
void wj_output_case_text(FILE *f, const Wuji__Case *c);
/* `list` and `warnings`: one row per case. */
void wj_output_cases_text(FILE *f, Wuji__Case *const *cases, size_t n);
void wj_output_catalog_text(FILE *f, const Wuji__Catalog *cat);
void wj_output_item_text(FILE *f, const Wuji__CatalogItem *it);
void wj_output_calendar_text(FILE *f, const Wuji__Calendar *cal);
void wj_output_status_text(FILE *f, const Wuji__NodeStatus *st);
void wj_output_verify_text(FILE *f, const Wuji__VerifyReport *v);
/* `peers`: one row per link. */
void wj_output_peers_text(FILE *f, const Wuji__PeerList *l);
void wj_output_change_text(FILE *f, const Wuji__Change *c);
/* `tree`: one row per node in code order, indented by level below the
 * first (highest) node. */
void wj_output_tree_text(FILE *f, const Wuji__TreeReport *t);

