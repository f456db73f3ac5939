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
	uint32_t batch_max;               /* requests per group commit; 0: by level */
	char log_level[16];               /* error warn info debug */
	/* Replication (issue 3), parsed now so configs can carry them. */
	char listen[WJ_PATH_MAX];         /* endpoint for children; "" = none */
	char parent[WJ_PATH_MAX];         /* parent endpoint; "" = top of tree */
	uint64_t parent_id;
	char key_file[WJ_PATH_MAX];       /* this node's CURVE secret key */
	char parent_key[64];              /* parent's public key, Z85 */
	char children_file[WJ_PATH_MAX];  /* list of children: code and public key */
	uint32_t skew_warn_ms;            /* warn when the parent's clock is further off */
	uint64_t log_keep;                /* change-log entries kept past every peer's ack */
} wj_config_t;

/* CURVE keys are 40-character Z85 strings. */
#define WJ_KEY_Z85_LEN 40

typedef struct wj_keypair {
	char public_key[WJ_KEY_Z85_LEN + 1];
	char secret_key[WJ_KEY_Z85_LEN + 1];
} wj_keypair_t;

/* A key file (written by node-ctl keygen, mode 0600):
 *     public: "<40 Z85 chars>"
 *     secret: "<40 Z85 chars>"
 * wj_keypair_load refuses a secret key file readable by group or others. */
int wj_keypair_parse(wj_keypair_t *k, const char *file, const char *buf, size_t len,
		     wj_err_t *err);
int wj_keypair_load(wj_keypair_t *k, const char *path, wj_err_t *err);

typedef struct wj_child {
	uint64_t id;
	char key[WJ_KEY_Z85_LEN + 1];   /* public key, Z85 */
} wj_child_t;

/* The children file: the nodes allowed to connect below this one.
 *     children:
 *       - { id: "330106001000", key: "<40 Z85 chars>" }
 * Each id must be a valid code inside `self`'s area, and ids and keys
 * unique.  *out is malloc'd (free() it). */
int wj_children_parse(uint64_t self, const char *file, const char *buf, size_t len,
		      wj_child_t **out, size_t *n, wj_err_t *err);
int wj_children_load(uint64_t self, const char *path, wj_child_t **out, size_t *n,
		     wj_err_t *err);

#define WJ_DEFAULT_CONTROL "ipc:///run/wuji/control"

void wj_config_defaults(wj_config_t *c);
/* Parses buf over the values already in c (so defaults come first and
 * flags may override after).  Unknown keys are errors naming file and line. */
int wj_config_parse(wj_config_t *c, const char *file, const char *buf,
		    size_t len, wj_err_t *err);
/* Reads and parses a file (the only function here that does I/O; it lives
 * with the parser because both tools need exactly this). */
int wj_config_load(wj_config_t *c, const char *path, wj_err_t *err);
/* Requests per group commit: batch_max when set, else by the node's
 * level (a village takes smaller batches to stay within its memory). */
uint32_t wj_config_batch_max(const wj_config_t *c);
