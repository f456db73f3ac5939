/* A thin layer over libyaml's document API for our human-edited files
 * (catalog, calendar, config).  Every getter names the file, line and field
 * in its error, e.g.
 *     catalog.yaml:42: items[3].promised_days: expected a whole number 0..3650
 * so a clerk editing the file knows exactly where to look. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "core/err.h"

typedef struct wj_yaml {
	yaml_document_t doc;
	const char *file;   /* for messages; not owned */
	bool loaded;
} wj_yaml_t;

/* Parses buf (need not be NUL-terminated).  On a syntax error, fills err
 * with file:line:column and libyaml's reason.  An empty document is an
 * error. */
int wj_yaml_load(wj_yaml_t *y, const char *file, const char *buf, size_t len,
		 wj_err_t *err);
void wj_yaml_free(wj_yaml_t *y);
yaml_node_t *wj_yaml_root(wj_yaml_t *y);
/* 1-based line of a node, for messages. */
size_t wj_yaml_line(const yaml_node_t *n);

/* Mapping access.  `path` is the field's full name for messages
 * ("items[3].tasks[0].level").  wj_yaml_get returns NULL when absent. */
yaml_node_t *wj_yaml_get(wj_yaml_t *y, yaml_node_t *map, const char *key);
/* Refuses keys not in the NULL-terminated list: a typo in a field name is
 * an error, never silently ignored. */
int wj_yaml_check_keys(wj_yaml_t *y, yaml_node_t *map, const char *path,
		       const char *const *known, wj_err_t *err);
int wj_yaml_expect(wj_yaml_t *y, yaml_node_t *n, yaml_node_type_t type,
		   const char *path, wj_err_t *err);

/* Scalar fields of a mapping.  `required` fields report an error when
 * absent; optional ones leave *out unchanged. */
int wj_yaml_str(wj_yaml_t *y, yaml_node_t *map, const char *key,
		const char *path, bool required, const char **out,
		wj_err_t *err);
int wj_yaml_uint(wj_yaml_t *y, yaml_node_t *map, const char *key,
		 const char *path, bool required, uint64_t min, uint64_t max,
		 uint64_t *out, wj_err_t *err);
int wj_yaml_bool(wj_yaml_t *y, yaml_node_t *map, const char *key,
		 const char *path, bool required, bool *out, wj_err_t *err);
/* The scalar value of a node as a NUL-terminated string owned by the
 * document (valid until wj_yaml_free). */
const char *wj_yaml_scalar(yaml_node_t *n);
/* Formats "file:line: path: message" into err. */
int wj_yaml_error(wj_yaml_t *y, yaml_node_t *n, const char *path, wj_err_t *err,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
