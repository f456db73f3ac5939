/* The node's configuration file (YAML, deploy/wuji.conf documents every
 * key).  One table in config.c lists each key with its type, range and
 * default, so the parser, the reference file and the docs agree.
 * Shared by wuji-node and node-ctl (which only needs control). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define WJ_PATH_MAX 1024

typedef struct wj_config {
	uint64_t id;                      /* division code; 0 = not set */
	char data_dir[WJ_PATH_MAX];
	char control[WJ_PATH_MAX];        /* control endpoint, e.g. ipc:///run/wuji/control */
	uint64_t map_size_mb;             /* LMDB map size */
	uint32_t yellow_days;             /* warning when this many working days or fewer remain */
	uint32_t batch_max;               /* requests per group commit */
	char log_level[16];               /* error warn info debug */
	/* Replication (issue 3), parsed now so configs can carry them. */
	char listen[WJ_PATH_MAX];         /* endpoint for children; "" = none */
	char parent[WJ_PATH_MAX];         /* parent endpoint; "" = top of tree */
	uint64_t parent_id;
	char key_file[WJ_PATH_MAX];       /* this node's CURVE secret key */
	char parent_key[64];              /* parent's public key, Z85 */
	char children_file[WJ_PATH_MAX];  /* list of children: code and public key */
} wj_config_t;

#define WJ_DEFAULT_CONFIG "/etc/wuji/wuji.conf"
#define WJ_DEFAULT_CONTROL "ipc:///run/wuji/control"

void wj_config_defaults(wj_config_t *c);
/* Parses buf over the values already in c (so defaults come first and
 * flags may override after).  Unknown keys are errors naming file and line. */
int wj_config_parse(wj_config_t *c, const char *file, const char *buf,
		    size_t len, wj_err_t *err);
/* Reads and parses a file (the only function here that does I/O; it lives
 * with the parser because both tools need exactly this). */
int wj_config_load(wj_config_t *c, const char *path, wj_err_t *err);
