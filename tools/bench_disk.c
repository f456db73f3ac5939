/* What the disk allows (bench_disk.h): single fdatasync()s, and a chain
 * of durable commits as a case crossing five levels needs them. */
#include "bench_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

#define PAGE 4096
#define FSYNC_SAMPLES 200
#define CHAIN_STAGES_MAX 16
#define CHAIN_TOKENS_MAX 100000
#define CHAIN_DRAIN_S 10         /* after the last token is due */
#define TOKENS_PER_READ (PIPE_BUF / sizeof(int64_t))
#define SCATTER_REGION_PAGES 1024 /* 4 MiB written before the chain runs */

static int fail(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

static void dist_ms(int64_t *s, size_t n, double *p50, double *p99, double *max)
{
	if (n == 0)
		return;
	qsort(s, n, sizeof(*s), wj_bench_cmp_i64);
	*p50 = wj_bench_pct_ms(s, n, 0.50);
	*p99 = wj_bench_pct_ms(s, n, 0.99);
	if (max)
		*max = s[n - 1] / 1e6;
}

/* ------------------------------------------------------------ fsync */

/* Timed pwrite + fdatasync of 4 KiB, at offset 0 or appending. */
static size_t fsync_series(int fd, bool append, double *p50, double *p99)
{
	int64_t s[FSYNC_SAMPLES];
	char block[PAGE];
	size_t n = 0;

	memset(block, 'w', sizeof(block));
	for (int i = 0; i < FSYNC_SAMPLES; i++) {
		off_t off = append ? (off_t)(i + 1) * PAGE : 0;
		int64_t t0 = wj_bench_now_ns();

		block[0] = (char)i;
		if (pwrite(fd, block, sizeof(block), off) != (ssize_t)sizeof(block) ||
		    fdatasync(fd) < 0)
			break;
		s[n++] = wj_bench_now_ns() - t0;
	}
	dist_ms(s, n, p50, p99, NULL);
	return n;
}

/* Overwriting a block is the cheap case; appending changes the file
 * size, as when a store grows. */
int wj_disk_fsync_baseline(const char *dir, struct wj_disk_fsync *out, char *err,
			   size_t err_len)
{
	char path[PATH_MAX + 32], block[PAGE];
	int fd;

	*out = (struct wj_disk_fsync){ NAN, NAN, NAN, NAN, 0 };
	snprintf(path, sizeof(path), "%s/fsync-probe", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(err, err_len, "cannot create %s: %s", path, strerror(errno));
	/* The first write allocates the block; the series overwrites it. */
	memset(block, 'w', sizeof(block));
	if (pwrite(fd, block, sizeof(block), 0) == (ssize_t)sizeof(block))
		fdatasync(fd);
	errno = 0;
	out->n = fsync_series(fd, false, &out->p50, &out->p99);
	if (out->n == FSYNC_SAMPLES && fsync_series(fd, true, &out->ap50, &out->ap99) < FSYNC_SAMPLES)
		out->n = 0;
	int e = errno;
	close(fd);
	unlink(path);
	if (out->n < FSYNC_SAMPLES)
		return fail(err, err_len, "write or fdatasync on %s failed: %s", path,
			    e ? strerror(e) : "short write");
	return 0;
}

/* ------------------------------------------------------------ chain */

struct stage {
	int in, out;             /* pipe ends: tokens (int64_t due times) */
	int data_fd, meta_fd;    /* one file, twice: as LMDB opens data.mdb */
	off_t end;
	unsigned scatter;        /* pages overwritten per commit */
	unsigned seed;
	int error;               /* errno of the first failed write or sync */
	pthread_t thread;
};

static bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		len -= (size_t)w;
	}
	return true;
}

/* One durable commit of k tokens: `scatter` pages overwritten here and
 * there and a page a token appended, fdatasync, then the meta page
 * through the O_DSYNC descriptor (LMDB's order: the data a meta page
 * points to is on disk before the meta page). */
static void stage_commit(struct stage *s, size_t k)
{
	static const char page[PAGE];

	for (unsigned i = 0; i < s->scatter && !s->error; i++) {
		off_t at = (off_t)(1 + rand_r(&s->seed) % SCATTER_REGION_PAGES) * PAGE;

		if (pwrite(s->data_fd, page, PAGE, at) != PAGE)
			s->error = errno ? errno : EIO;
	}
	for (size_t i = 0; i < k && !s->error; i++, s->end += PAGE)
		if (pwrite(s->data_fd, page, PAGE, s->end) != PAGE)
			s->error = errno ? errno : EIO;
	if (!s->error && fdatasync(s->data_fd) < 0)
		s->error = errno;
	if (!s->error && pwrite(s->meta_fd, page, PAGE, 0) != PAGE)
		s->error = errno ? errno : EIO;
}

/* Takes every token waiting, commits, hands them on; ends when the
 * stage before closes its end, and closes its own. */
static void *stage_main(void *arg)
{
	struct stage *s = arg;
	int64_t buf[TOKENS_PER_READ];

	for (;;) {
		ssize_t n = read(s->in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* Writes of whole tokens up to PIPE_BUF are atomic, so a
		 * read ends on a token; finish one that did not anyway. */
		while (n % (ssize_t)sizeof(int64_t) != 0) {
			ssize_t m = read(s->in, (char *)buf + n, sizeof(int64_t) - (size_t)n % sizeof(int64_t));

			if (m < 0 && errno == EINTR)
				continue;
			if (m <= 0)
				goto out;
			n += m;
		}
		stage_commit(s, (size_t)n / sizeof(int64_t));
		if (!write_all(s->out, buf, (size_t)n))
			break;
	}
out:
	close(s->out);
	return NULL;
}

static int stage_open(struct stage *s, const char *dir, unsigned i, char *err, size_t err_len)
{
	char path[PATH_MAX + 32];
	static const char page[PAGE];

	snprintf(path, sizeof(path), "%s/chain-probe-%u", dir, i);
	s->data_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	s->meta_fd = s->data_fd < 0 ? -1 : open(path, O_WRONLY | O_DSYNC | O_CLOEXEC);
	int e = errno;
	if (s->data_fd >= 0)
		unlink(path);   /* open, it lives on until closed */
	if (s->data_fd < 0 || s->meta_fd < 0)
		return fail(err, err_len, "cannot create %s: %s", path, strerror(e));
	/* The meta page, then the region scattered writes land in. */
	s->end = 0;
	for (unsigned p = 0; p < (s->scatter ? 1 + SCATTER_REGION_PAGES : 1); p++, s->end += PAGE)
		if (pwrite(s->data_fd, page, PAGE, s->end) != PAGE)
			return fail(err, err_len, "cannot write %s: %s", path, strerror(errno));
	if (fdatasync(s->data_fd) < 0)
		return fail(err, err_len, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

int wj_disk_chain_floor(const char *dir, unsigned stages, unsigned rate, unsigned tokens,
			unsigned scatter, struct wj_disk_chain *out, char *err, size_t err_len)
{
	struct stage st[CHAIN_STAGES_MAX];
	int first_in = -1, last_out = -1, rc = 0;
	unsigned started = 0;
	int64_t *lat = NULL;

	*out = (struct wj_disk_chain){ NAN, NAN, NAN, 0, stages, rate, scatter };
	if (stages == 0 || stages > CHAIN_STAGES_MAX || rate == 0 || tokens == 0 ||
	    tokens > CHAIN_TOKENS_MAX)
		return fail(err, err_len, "chain: 1-%d stages, a rate and 1-%d tokens",
			    CHAIN_STAGES_MAX, CHAIN_TOKENS_MAX);
	lat = calloc(tokens, sizeof(*lat));
	if (!lat)
		return fail(err, err_len, "out of memory");
	for (unsigned i = 0; i < stages; i++)
		st[i] = (struct stage){ .in = -1, .out = -1, .data_fd = -1, .meta_fd = -1,
					.scatter = scatter, .seed = 0x5eed + i };

	/* Pipes: main -> stage 0 -> ... -> stage n-1 -> main. */
	for (unsigned i = 0; i <= stages && rc == 0; i++) {
		int p[2];

		if (pipe2(p, O_CLOEXEC) < 0) {
			rc = fail(err, err_len, "pipe: %s", strerror(errno));
			break;
		}
		if (i == 0)
			first_in = p[1];
		else
			st[i - 1].out = p[1];
		if (i == stages)
			last_out = p[0];
		else
			st[i].in = p[0];
	}
	for (unsigned i = 0; i < stages && rc == 0; i++)
		rc = stage_open(&st[i], dir, i, err, err_len);
	for (unsigned i = 0; i < stages && rc == 0; i++) {
		if (pthread_create(&st[i].thread, NULL, stage_main, &st[i]) != 0)
			rc = fail(err, err_len, "cannot start a thread");
		else
			started++;
	}

	/* The first pipe is written without blocking: were the chain slower
	 * than the rate, a blocking write would stop this thread reading the
	 * last pipe, the stages would fill it and stop, and nothing would
	 * move again. */
	if (rc == 0 && fcntl(first_in, F_SETFL, O_NONBLOCK) < 0)
		rc = fail(err, err_len, "pipe: %s", strerror(errno));
	if (rc == 0) {
		const int64_t period = 1000000000LL / rate;
		const int64_t t0 = wj_bench_now_ns() + 10000000LL;
		const int64_t deadline = t0 + (int64_t)tokens * period +
					 CHAIN_DRAIN_S * 1000000000LL;
		unsigned sent = 0;

		while (out->n < tokens) {
			int64_t now = wj_bench_now_ns();

			if (now > deadline) {
				rc = fail(err, err_len, "chain: %zu of %u tokens through after "
					  "%d s", out->n, tokens, CHAIN_DRAIN_S);
				break;
			}
			bool full = false;
			while (sent < tokens && t0 + (int64_t)sent * period <= now) {
				int64_t due = t0 + (int64_t)sent * period;

				if (write(first_in, &due, sizeof(due)) != (ssize_t)sizeof(due)) {
					full = true;   /* EAGAIN: sent when there is room */
					break;
				}
				sent++;
			}
			int64_t wait = sent < tokens && !full ? t0 + (int64_t)sent * period - now
							       : deadline - now;
			struct pollfd pfd[2] = {
				{ .fd = last_out, .events = POLLIN },
				{ .fd = first_in, .events = full ? POLLOUT : 0 },
			};
			int ms = wait > 0 ? (int)((wait + 999999) / 1000000) : 0;

			if (poll(pfd, 2, ms) <= 0 || !(pfd[0].revents & (POLLIN | POLLHUP)))
				continue;
			int64_t buf[TOKENS_PER_READ];
			ssize_t n = read(last_out, buf, sizeof(buf));

			if (n <= 0) {
				rc = fail(err, err_len, "chain: the last stage stopped");
				break;
			}
			now = wj_bench_now_ns();
			for (size_t k = 0; k < (size_t)n / sizeof(int64_t) && out->n < tokens; k++)
				lat[out->n++] = now - buf[k];
		}
	}
	if (first_in >= 0)
		close(first_in);   /* the stages end one after the other */
	for (unsigned i = started; i < stages; i++) {
		if (st[i].out >= 0)
			close(st[i].out);   /* never started: nobody else will */
		st[i].out = -1;
	}
	/* Whatever is still in the chain comes out before the stages can
	 * end: read it to the end (bounded, in case a stage is stuck in a
	 * write to a disk that does not answer). */
	for (int64_t end = wj_bench_now_ns() + CHAIN_DRAIN_S * 1000000000LL;
	     last_out >= 0 && started > 0 && wj_bench_now_ns() < end;) {
		struct pollfd pfd = { .fd = last_out, .events = POLLIN };
		char sink[PIPE_BUF];

		if (poll(&pfd, 1, 100) > 0 && read(last_out, sink, sizeof(sink)) <= 0)
			break;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(st[i].thread, NULL);
	for (unsigned i = 0; i < stages; i++) {
		if (rc == 0 && st[i].error)
			rc = fail(err, err_len, "chain stage %u: %s", i, strerror(st[i].error));
		if (st[i].in >= 0)
			close(st[i].in);
		if (st[i].data_fd >= 0)
			close(st[i].data_fd);
		if (st[i].meta_fd >= 0)
			close(st[i].meta_fd);
	}
	if (last_out >= 0)
		close(last_out);
	if (rc == 0)
		dist_ms(lat, out->n, &out->p50, &out->p99, &out->max);
	free(lat);
	return rc;
}
