/* Helpers shared by the two benches (wuji-bench node and wuji-bench tree):
 * option parsing, the monotonic clock, percentiles and the submissions
 * they generate.  No I/O beyond the usage error on stderr. */
#ifndef WJ_BENCH_COMMON_H
#define WJ_BENCH_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/wuji.pb-c.h"

/* Longest applicant name generated, in bytes (WJ_TEXT_MAX is 512, whole
 * characters). */
#define WJ_BENCH_NAME_MAX 510

/* A submit request and the buffers its strings point at, one per thread. */
struct wj_bench_reqbuf {
	Wuji__Request req;
	Wuji__SubmitRequest sub;
	Wuji__Applicant app;
	char name[WJ_BENCH_NAME_MAX + 8];
	char idn[24];
};

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t wj_bench_now_ns(void);

/* Parses a decimal s within [lo, hi] into *out; false (and *out untouched)
 * when s is not one. */
bool wj_bench_parse_u64(const char *s, uint64_t lo, uint64_t hi,
			uint64_t *out);

/* Parses a finite number of seconds s within [lo, hi] into *out; false
 * (and *out untouched) when s is not one. */
bool wj_bench_parse_secs(const char *s, double lo, double hi, double *out);

/* Exit status for bad usage. */
#define WJ_BENCH_EXIT_USAGE 2

/* How a bench names itself in messages and prints its usage text. */
struct wj_bench_cli {
	const char *prefix;
	void (*usage)(FILE *f);
};

/* Prints "PREFIX: message", a blank line and the usage text on stderr;
 * returns WJ_BENCH_EXIT_USAGE. */
int wj_bench_vbad_usage(const struct wj_bench_cli *cli, const char *fmt,
			va_list ap);

/* Parses arg, the value of option --name, within [lo, hi] into *out;
 * false after printing "--name takes LO to HI, not 'ARG'" as bad usage. */
bool wj_bench_opt_u64(const struct wj_bench_cli *cli, const char *name,
		      const char *arg, uint64_t lo, uint64_t hi, uint64_t *out);

/* The same for a number of seconds (wj_bench_parse_secs). */
bool wj_bench_opt_secs(const struct wj_bench_cli *cli, const char *name,
		       const char *arg, double lo, double hi, double *out);

/* A numeric option of a bench, parsed within [lo, hi] into a field of
 * the bench's options struct: one table row instead of one parsing block
 * per option. */
enum wj_bench_num_kind {
	WJ_BENCH_NUM_UINT,   /* unsigned */
	WJ_BENCH_NUM_U64,    /* uint64_t */
	WJ_BENCH_NUM_SECS,   /* double, seconds (wj_bench_parse_secs) */
};

struct wj_bench_num_opt {
	int id;              /* getopt_long's value for it (its name is there) */
	double lo, hi;
	size_t offset, size; /* of the field */
	enum wj_bench_num_kind kind;
};

#define WJ_BENCH_NUM(id, lo, hi, type, field, kind)                           \
	{ (id), (lo), (hi), offsetof(type, field), sizeof(((type *)0)->field),  \
	  (kind) }

/* When opt is one of table's options: parses arg into its field of opts
 * and returns 1, or prints the bad usage (naming the option as longs
 * does) and returns -1.  Returns 0 for an option not in the table. */
struct option;
int wj_bench_num_opt(const struct wj_bench_cli *cli,
		     const struct wj_bench_num_opt *table, size_t n,
		     const struct option *longs, int opt, const char *arg,
		     void *opts);

/* qsort comparator for int64_t. */
int wj_bench_cmp_i64(const void *x, const void *y);

/* Nearest-rank percentile q of n sorted ns samples, in ms; NaN when n is
 * 0. */
double wj_bench_pct_ms(const int64_t *s, size_t n, double q);

/* Points rb's request at its own submission and applicant: item_code and
 * materials are borrowed (the caller keeps them alive), not copied. */
void wj_bench_reqbuf_init(struct wj_bench_reqbuf *rb, const char *item_code,
			  char **materials, size_t n_materials);

/* Applicant i into rb's buffers: a three-character name padded up to
 * name_bytes (0: no padding; at most WJ_BENCH_NAME_MAX), and a resident ID
 * number of county6 (its first six digits) with a valid GB 11643 check
 * digit, so a node that validates ID numbers accepts every one. */
void wj_bench_reqbuf_fill(struct wj_bench_reqbuf *rb, const char *county6,
			  size_t name_bytes, uint64_t i);

#endif
