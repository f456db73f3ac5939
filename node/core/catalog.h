/* The service item catalog (事项目录): validation of items and the
 * human-edited catalog file (YAML, see deploy/samples/catalog.yaml).
 *
 * Parsing works on a buffer, never a path, so it does no I/O: node-ctl reads
 * the file and sends the parsed catalog; the fuzzer feeds it bytes. */
#pragma once

#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "proto/wuji.pb-c.h"

#define WJ_ITEM_DAYS_MAX 3650
#define WJ_TEXT_MAX 512  /* names, reasons, departments: bytes */

/* Checks one item as the daemon must before storing it (it may come from
 * any client): code and name non-empty and printable, kind set, immediate
 * items with 0 days and promised items with 1 <= promised <= statutory,
 * at least one task, every level valid, material names unique. */
int wj_catalog_item_validate(const Wuji__CatalogItem *item, wj_err_t *err);

/* Parses a catalog file.  Everything is allocated in `arena`.  Errors name
 * file, line and field. Item codes must be unique in the file. */
int wj_catalog_parse(const char *file, const char *buf, size_t len,
		     wj_arena_t *arena, Wuji__Catalog **out, wj_err_t *err);

/* Parses a calendar file (deploy/samples/calendar-2026.yaml) and validates
 * each year as wj_calendar_set_year() would. */
int wj_calendar_parse(const char *file, const char *buf, size_t len,
		      wj_arena_t *arena, Wuji__Calendar **out, wj_err_t *err);
