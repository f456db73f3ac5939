/* What the disk under a bench's stores allows, measured before the nodes
 * start: the floor under every durable figure the bench prints.  Used by
 * wuji-bench tree; plain files and threads, no LMDB, no node. */
#ifndef WJ_BENCH_DISK_H
#define WJ_BENCH_DISK_H

#include <stddef.h>

/* pwrite of 4 KiB + fdatasync, timed one at a time. */
struct wj_disk_fsync {
	double p50, p99;         /* overwriting one block */
	double ap50, ap99;       /* appending: the file grows, as a store does */
	size_t n;                /* samples of each series */
};

/* Fills *out (NaN where a series failed); 0, or -1 with err set. */
int wj_disk_fsync_baseline(const char *dir, struct wj_disk_fsync *out, char *err,
			   size_t err_len);

/* A chain of `stages` threads, each with a file of its own in dir, as the
 * five levels of a tree are: tokens enter the first at `rate` a second;
 * each stage takes every token waiting, commits them durably as LMDB
 * does (the data pages appended and fdatasync'ed, then the meta page
 * written through an O_DSYNC descriptor) and hands them on.  Latency is
 * from a token's due time to its leaving the last stage: what durable
 * storage at every level costs on this disk, with no network, CURVE or
 * protobuf in the way.
 *
 * `scatter` more pages per commit are overwritten at random places in
 * a region of the file written beforehand, as a B-tree store rewrites the
 * leaf and branch pages one commit touches (LMDB copies them on write
 * into pages freed earlier, all over the file): 0 gives the bare floor of
 * one page a token. */
struct wj_disk_chain {
	double p50, p99, max;    /* ms */
	size_t n;                /* tokens that went through */
	unsigned stages, rate, scatter;
};

int wj_disk_chain_floor(const char *dir, unsigned stages, unsigned rate, unsigned tokens,
			unsigned scatter, struct wj_disk_chain *out, char *err, size_t err_len);

#endif
