/* Helpers shared by wuji-bench node (wuji-bench.c) and wuji-bench tree
 * (bench_tree.c): the figures and inputs of both must be made the same way
 * to be comparable. */
#include "bench_common.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_S 1000000000LL
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

int64_t wj_bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

bool wj_bench_parse_u64(const char *s, uint64_t lo, uint64_t hi,
			uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

bool wj_bench_parse_secs(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int wj_bench_vbad_usage(const struct wj_bench_cli *cli, const char *fmt,
			va_list ap)
{
	fprintf(stderr, "%s: ", cli->prefix);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n\n");
	cli->usage(stderr);
	return WJ_BENCH_EXIT_USAGE;
}

static void bad_usage(const struct wj_bench_cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bad_usage(const struct wj_bench_cli *cli, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wj_bench_vbad_usage(cli, fmt, ap);
	va_end(ap);
}

bool wj_bench_opt_u64(const struct wj_bench_cli *cli, const char *name,
		      const char *arg, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (wj_bench_parse_u64(arg, lo, hi, out))
		return true;
	bad_usage(cli, "--%s takes %" PRIu64 " to %" PRIu64 ", not '%s'",
		  name, lo, hi, arg);
	return false;
}

bool wj_bench_opt_secs(const struct wj_bench_cli *cli, const char *name,
		       const char *arg, double lo, double hi, double *out)
{
	if (wj_bench_parse_secs(arg, lo, hi, out))
		return true;
	bad_usage(cli, "--%s takes %g to %g, not '%s'", name, lo, hi, arg);
	return false;
}

int wj_bench_cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return (a > b) - (a < b);
}

double wj_bench_pct_ms(const int64_t *s, size_t n, double q)
{
	size_t r;

	if (n == 0)
		return NAN;
	r = (size_t)ceil(q * (double)n);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return s[r - 1] / 1e6;
}

static const char *const surnames[] = {
	"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
	"徐", "孙", "马", "朱", "胡", "郭", "何", "林", "高", "罗",
	"郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
	"彭", "曾",
};

static const char *const given[] = {
	"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋",
	"勇", "艳", "杰", "娟", "涛", "明", "超", "霞", "平", "刚",
	"桂", "英", "华", "玉", "兰", "文", "建", "国", "红", "志",
	"秀", "海",
};

void wj_bench_reqbuf_init(struct wj_bench_reqbuf *rb, const char *item_code,
			  char **materials, size_t n_materials)
{
	wuji__request__init(&rb->req);
	wuji__submit_request__init(&rb->sub);
	wuji__applicant__init(&rb->app);
	rb->req.op_case = WUJI__REQUEST__OP_SUBMIT;
	rb->req.submit = &rb->sub;
	rb->sub.item_code = (char *)item_code;
	rb->sub.applicant = &rb->app;
	rb->sub.materials = materials;
	rb->sub.n_materials = n_materials;
	rb->app.id_type = WUJI__ID_TYPE__ID_CARD;
	rb->app.name = rb->name;
	rb->app.id_number = rb->idn;
}

void wj_bench_reqbuf_fill(struct wj_bench_reqbuf *rb, const char *county6,
			  size_t name_bytes, uint64_t i)
{
	static const int w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10,
				   5, 8, 4, 2 };
	static const char check[] = "10X98765432";
	uint64_t s = N_OF(surnames), gv = N_OF(given);
	size_t n;
	int sum = 0;

	n = (size_t)snprintf(rb->name, sizeof(rb->name), "%s%s%s",
			     surnames[i % s], given[(i / s) % gv],
			     given[(i / s / gv) % gv]);
	/* Padding with whole characters (3 bytes each in UTF-8). */
	for (uint64_t k = 0; n + 3 <= name_bytes; k++) {
		memcpy(rb->name + n, given[(i + k * 7) % gv], 3);
		n += 3;
	}
	rb->name[n] = '\0';
	snprintf(rb->idn, sizeof(rb->idn), "%.6s%04u%02u%02u%03u",
		 county6, 1950 + (unsigned)(i % 56),
		 1 + (unsigned)(i / 56 % 12), 1 + (unsigned)(i / 672 % 28),
		 (unsigned)(i / 18816 % 1000));
	for (int k = 0; k < 17; k++)
		sum += (rb->idn[k] - '0') * w[k];
	rb->idn[17] = check[sum % 11];
	rb->idn[18] = '\0';
}

static const char *long_name(const struct option *longs, int id)
{
	for (; longs->name; longs++)
		if (longs->val == id)
			return longs->name;
	return "?";
}

int wj_bench_num_opt(const struct wj_bench_cli *cli,
		     const struct wj_bench_num_opt *table, size_t n,
		     const struct option *longs, int opt, const char *arg,
		     void *opts)
{
	for (size_t i = 0; i < n; i++) {
		const struct wj_bench_num_opt *t = &table[i];
		char *field = (char *)opts + t->offset;
		const char *name;
		uint64_t v;
		double d;

		if (t->id != opt)
			continue;
		name = long_name(longs, opt);
		switch (t->kind) {
		case WJ_BENCH_NUM_SECS:
			if (!wj_bench_opt_secs(cli, name, arg, t->lo, t->hi, &d))
				return -1;
			if (t->size != sizeof(double)) {
				fprintf(stderr, "%s: --%s: the option table does not "
					"match its field: a bug in the bench\n",
					cli->prefix, name);
				return -1;
			}
			memcpy(field, &d, sizeof(d));
			return 1;
		case WJ_BENCH_NUM_UINT:
		case WJ_BENCH_NUM_U64:
			if (!wj_bench_opt_u64(cli, name, arg, (uint64_t)t->lo,
					      (uint64_t)t->hi, &v))
				return -1;
			if (t->kind == WJ_BENCH_NUM_UINT && t->size == sizeof(unsigned)) {
				unsigned u = (unsigned)v;
				memcpy(field, &u, sizeof(u));
			} else if (t->kind == WJ_BENCH_NUM_U64 && t->size == sizeof(uint64_t)) {
				memcpy(field, &v, sizeof(v));
			} else {
				fprintf(stderr, "%s: --%s: the option table does not "
					"match its field: a bug in the bench\n",
					cli->prefix, name);
				return -1;
			}
			return 1;
		}
	}
	return 0;
}
