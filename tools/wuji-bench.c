/* wuji-bench: measures a node through its control API, as a client would.
 *
 *   wuji-bench node [options]
 *
 * Phase 1 (throughput): many clients, each with a window of pipelined
 * submissions, push cases as fast as the node acknowledges them.  An ack is
 * durable: the node replies only after the group commit's fsync.
 * Phase 2 (latency): submissions at a fixed rate, open loop: each one has a
 * scheduled send time fixed by the clock in advance, and its latency runs
 * from that time to the reply, so a stall of the node (or of the bench)
 * shows in the figures instead of silently delaying the next sends
 * (coordinated omission).
 *
 * Without -e the bench starts its own node in a temporary directory, loads
 * the sample catalog and calendar, and removes everything afterwards.
 * Results: one JSON line on stdout; progress and diagnostics on stderr. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_tree.h"
#include "client.h"
#include "core/arena.h"
#include "core/catalog.h"
#include "core/err.h"
#include "wj_build.h"

#define NODE_ID "330106000000"   /* a county: most sample items apply there */
#define NODE_LEVEL WUJI__LEVEL__COUNTY

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

#define START_TIMEOUT_NS (10 * NS_PER_S)  /* node answering status */
#define STOP_TIMEOUT_NS (10 * NS_PER_S)   /* node exiting after SIGTERM */
#define DRAIN1_NS (10 * NS_PER_S)         /* phase 1: wait for the last acks */
#define DRAIN2_NS (5 * NS_PER_S)          /* phase 2: same */
#define CALL_TIMEOUT_MS 10000             /* setup requests (catalog load) */
#define SEND_TIMEOUT_MS 2000              /* a send waiting for the node */
#define LAT_SAMPLES_MAX 10000000ULL       /* rate * duration */
#define LAT_RING 65536u                   /* phase 2 in flight per client */
#define ERRORS_SHOWN 5

struct opts {
	const char *endpoint;   /* NULL: start our own node */
	const char *node_path;
	const char *catalog;
	const char *calendar;
	const char *item;
	unsigned clients;
	unsigned window;
	unsigned threads;       /* 0: chosen from clients */
	uint64_t count;
	double seconds;
	unsigned rate;
	double duration;
	unsigned lat_clients;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
}

/* CPU time of this whole process (ZeroMQ's I/O threads included): the
 * bench competes with the node for cores, so its own cost is reported. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = { t / NS_PER_S, t % NS_PER_S };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR && !interrupted)
		;
}

static void sleep_ns(int64_t d)
{
	if (d > 0)
		sleep_until(wj_bench_now_ns() + d);
}

/* ------------------------------------------------------------ usage */

static void usage(FILE *f)
{
	fprintf(f,
"usage: wuji-bench node [options]\n"
"       wuji-bench tree [options]   (a local tree: W1, W2, W3; see tree --help)\n"
"\n"
"Measures a node through its control API and prints one JSON line.\n"
"Phase 1 submits cases as fast as the node acknowledges them (each ack is\n"
"durable); phase 2 submits at a fixed rate, open loop, and reports latency.\n"
"\n"
"  -e, --endpoint EP   use a running node (ipc://PATH or tcp://HOST:PORT);\n"
"                      without it a node is started in a temporary directory\n"
"      --node PATH     wuji-node to start (default: $WJ_NODE, or next to\n"
"                      this program: ../node/wuji-node, ../sbin/wuji-node)\n"
"      --catalog FILE  catalog to load (default: catalog.yaml in $WJ_SAMPLES,\n"
"                      else next to this program in ../../deploy/samples,\n"
"                      ../deploy/samples or ../share/wuji/samples)\n"
"      --calendar FILE calendar to load (default: calendar-2026.yaml there)\n"
"      --item CODE     catalog item to submit (default: the applicable item\n"
"                      with the largest cases, most materials and tasks)\n"
"  phase 1 (throughput):\n"
"      --clients C     concurrent clients (default 64)\n"
"      --window W      submissions in flight per client (default 4)\n"
"      --threads T     threads sharing the clients (default min(C, 2))\n"
"      --count N       submissions (default 100000; 0 skips phase 1)\n"
"      --seconds S     stop sending after S seconds (default 20)\n"
"  phase 2 (latency, open loop):\n"
"      --rate R        submissions per second (default 1000)\n"
"      --duration D    seconds (default 10; 0 skips phase 2)\n"
"      --lat-clients K clients sharing the rate (default 1)\n"
"  -h, --help          this text\n"
"  -V, --version       print the version\n"
"\n"
"Exit status: 0 when every submission was acknowledged, 1 on errors or\n"
"failure, 2 for bad usage.\n");
}

static const struct wj_bench_cli cli = { "wuji-bench", usage };

static int bad_usage(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = wj_bench_vbad_usage(&cli, fmt, ap);
	va_end(ap);
	return rc;
}

enum {
	OPT_NODE = 256, OPT_CATALOG, OPT_CALENDAR, OPT_ITEM, OPT_CLIENTS,
	OPT_WINDOW, OPT_THREADS, OPT_COUNT, OPT_SECONDS, OPT_RATE,
	OPT_DURATION, OPT_LAT_CLIENTS,
};

/* The numeric options: each parsed within its bounds into its field. */
#define NUM(id, lo, hi, field, kind) \
	WJ_BENCH_NUM(id, lo, hi, struct opts, field, WJ_BENCH_NUM_##kind)
static const struct wj_bench_num_opt num_opts[] = {
	NUM(OPT_CLIENTS, 1, 4096, clients, UINT),
	NUM(OPT_SECONDS, 0.1, 3600, seconds, SECS),
	NUM(OPT_DURATION, 0, 3600, duration, SECS),
	NUM(OPT_WINDOW, 1, 4096, window, UINT),
	NUM(OPT_THREADS, 1, 1024, threads, UINT),
	NUM(OPT_COUNT, 0, 100000000, count, U64),
	NUM(OPT_RATE, 1, 1000000, rate, UINT),
	NUM(OPT_LAT_CLIENTS, 1, 64, lat_clients, UINT),
};
#undef NUM
#define N_NUM_OPTS (sizeof(num_opts) / sizeof(num_opts[0]))

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "node", required_argument, NULL, OPT_NODE },
		{ "catalog", required_argument, NULL, OPT_CATALOG },
		{ "calendar", required_argument, NULL, OPT_CALENDAR },
		{ "item", required_argument, NULL, OPT_ITEM },
		{ "clients", required_argument, NULL, OPT_CLIENTS },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "seconds", required_argument, NULL, OPT_SECONDS },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "lat-clients", required_argument, NULL, OPT_LAT_CLIENTS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct opts){
		.clients = 64, .window = 4, .count = 100000, .seconds = 20,
		.rate = 1000, .duration = 10, .lat_clients = 1,
	};
	optind = 1;
	while ((ch = getopt_long(argc, argv, "e:hV", longs, NULL)) != -1) {
		int num = wj_bench_num_opt(&cli, num_opts, N_NUM_OPTS, longs, ch, optarg, o);
		if (num < 0)
			return WJ_BENCH_EXIT_USAGE;
		if (num > 0)
			continue; /* a numeric option, parsed */
		switch (ch) {
		case 'e':
			if (!*optarg)
				return bad_usage("-e needs an endpoint");
			o->endpoint = optarg;
			break;
		case OPT_NODE:
			o->node_path = optarg;
			break;
		case OPT_CATALOG:
			o->catalog = optarg;
			break;
		case OPT_CALENDAR:
			o->calendar = optarg;
			break;
		case OPT_ITEM:
			if (!*optarg)
				return bad_usage("--item needs a code");
			o->item = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("wuji-bench %s\n", WJ_VERSION);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if (o->endpoint && (o->node_path || o->catalog || o->calendar))
		return bad_usage("--node, --catalog and --calendar start a node: "
				 "they cannot go with -e");
	if ((double)o->rate * o->duration > (double)LAT_SAMPLES_MAX)
		return bad_usage("--rate times --duration must stay under 10 "
				 "million submissions");
	/* Two threads keep 64 clients busy: more cost CPU (wakeups) that
	 * the node, sharing a small machine, needs more than the bench. */
	if (o->threads == 0)
		o->threads = o->clients < 2 ? o->clients : 2;
	if (o->threads > o->clients)
		return bad_usage("--threads cannot exceed --clients");
	if (o->count == 0 && o->duration == 0)
		return bad_usage("--count 0 and --duration 0 leave nothing to "
				 "measure");
	return 0;
}

/* ------------------------------------------------------- submissions */

/* What every submission carries: the item and all its materials, so the
 * case is complete and as large as the catalog makes it. */
struct gen {
	const char *item_code;
	char **materials;
	size_t n_materials;
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void reqbuf_init(struct wj_bench_reqbuf *rb, const struct gen *g)
{
	wj_bench_reqbuf_init(rb, g->item_code, g->materials, g->n_materials);
}

/* Applicant number i: a distinct name pattern and a resident ID number of
 * the node's county with a valid GB 11643 check digit, so a node that
 * validates ID numbers accepts every one. */
static void reqbuf_fill(struct wj_bench_reqbuf *rb, uint64_t i)
{
	wj_bench_reqbuf_fill(rb, NODE_ID, 0, i);
	rb->req.id = 0;
}

/* ------------------------------------------------ in-flight tracking */

/* Requests sent on one client and not answered yet, oldest first.  Replies
 * are matched by id; an id we do not know (a client that does not report
 * ids) is taken as the oldest request, which the node answers first. */
struct slot {
	uint64_t id;
	int64_t t;      /* send time (phase 1) or scheduled time (phase 2) */
	bool done;
};

struct bclient {
	wj_client_t *c;
	struct slot *ring;
	uint32_t cap, head, n;  /* n counts answered slots not yet popped */
	uint32_t outstanding;
	bool dead;
};

static int bclient_open(struct bclient *b, const char *endpoint,
			uint32_t cap, wj_err_t *err)
{
	memset(b, 0, sizeof(*b));
	b->ring = calloc(cap, sizeof(*b->ring));
	if (!b->ring)
		return wj_err_set(err, WJ_EINTERNAL, "out of memory");
	b->cap = cap;
	if (wj_client_open(endpoint, SEND_TIMEOUT_MS, &b->c, err) < 0) {
		free(b->ring);
		b->ring = NULL;
		return err ? err->code : WJ_EIO;
	}
	return 0;
}

static void bclient_close(struct bclient *b)
{
	if (b->c)
		wj_client_close(b->c);
	free(b->ring);
	memset(b, 0, sizeof(*b));
}

static bool bclient_full(const struct bclient *b)
{
	return b->n >= b->cap;
}

static void bclient_push(struct bclient *b, uint64_t id, int64_t t)
{
	struct slot *s = &b->ring[(b->head + b->n) % b->cap];

	s->id = id;
	s->t = t;
	s->done = false;
	b->n++;
	b->outstanding++;
}

/* Returns the time recorded for the request answered by `id`, or -1 for a
 * reply to nothing outstanding. */
static int64_t bclient_match(struct bclient *b, uint64_t id)
{
	struct slot *s = NULL;
	int64_t t;

	if (b->outstanding == 0)
		return -1;
	for (uint32_t j = 0; j < b->n; j++) {
		struct slot *x = &b->ring[(b->head + j) % b->cap];

		if (!x->done && x->id == id) {
			s = x;
			break;
		}
	}
	for (uint32_t j = 0; !s && j < b->n; j++) {
		struct slot *x = &b->ring[(b->head + j) % b->cap];

		if (!x->done)
			s = x;
	}
	t = s->t;
	s->done = true;
	b->outstanding--;
	while (b->n && b->ring[b->head].done) {
		b->head = (b->head + 1) % b->cap;
		b->n--;
	}
	return t;
}

/* Send (or scheduled) time of the oldest request still unanswered. */
static int64_t bclient_oldest(const struct bclient *b)
{
	for (uint32_t j = 0; j < b->n; j++) {
		const struct slot *x = &b->ring[(b->head + j) % b->cap];

		if (!x->done)
			return x->t;
	}
	return INT64_MAX;
}

/* ------------------------------------------------- reply accounting */

struct tally {
	_Atomic uint64_t acked;
	_Atomic uint64_t errors;
	_Atomic uint64_t busy;
	_Atomic unsigned shown;   /* error replies printed so far */
};

static void tally_error(struct tally *t, const char *what, int code,
			const char *msg)
{
	unsigned k;

	atomic_fetch_add(&t->errors, 1);
	if (code == WUJI__ERROR_CODE__E_BUSY)
		atomic_fetch_add(&t->busy, 1);
	k = atomic_fetch_add(&t->shown, 1);
	if (k < ERRORS_SHOWN)
		fprintf(stderr, "wuji-bench: %s: %s (code %d)%s\n", what,
			msg && *msg ? msg : "no message", code,
			k == ERRORS_SHOWN - 1 ?
			"; further errors are only counted" : "");
}

/* Receives at most one reply on b.  Returns 1 and sets *sent_t (the
 * time recorded at send) and *ok when a reply came, 0 when none did. */
static int recv_one(struct bclient *b, int timeout_ms, wj_arena_t *a,
		    struct tally *tl, int64_t *sent_t, bool *ok)
{
	Wuji__Reply *r = NULL;
	int64_t t;

	/* No wj_err_t: an empty poll is the common case here, and its
	 * message would be formatted for nothing. */
	if (wj_client_recv(b->c, timeout_ms, a, &r, NULL) < 0 || !r) {
		wj_arena_reset(a);
		return 0;
	}
	t = bclient_match(b, r->id);
	if (t < 0) {
		/* A late answer to an earlier phase's request: not ours. */
		wj_arena_reset(a);
		return 0;
	}
	*sent_t = t;
	*ok = r->code == WUJI__ERROR_CODE__OK;
	if (!*ok)
		tally_error(tl, "submission refused", r->code, r->error);
	wj_arena_reset(a);
	return 1;
}

/* ------------------------------------------------ phase 1: throughput */

struct p1 {
	const char *endpoint;
	const struct gen *gen;
	unsigned window;
	uint64_t count;
	int64_t deadline;          /* stop sending */
	int64_t drain_deadline;    /* give up on replies */
	_Atomic uint64_t tickets;  /* submissions handed out */
	_Atomic int64_t last_ack;
	_Atomic uint64_t lost;
	_Atomic uint64_t lat_sum_ns, lat_n;
	_Atomic unsigned running;
	_Atomic unsigned opened;   /* threads whose clients are open */
	_Atomic bool go;           /* deadlines are set: start */
	_Atomic bool failed;
	struct tally tl;
};

struct p1_thread {
	struct p1 *p;
	pthread_t tid;
	struct bclient *cl;
	unsigned n;
};

static void max_store(_Atomic int64_t *x, int64_t v)
{
	int64_t cur = atomic_load(x);

	while (cur < v && !atomic_compare_exchange_weak(x, &cur, v))
		;
}

/* Fills every window of this thread's clients.  Returns false once the
 * submissions are all handed out. */
static bool p1_fill(struct p1_thread *t, struct wj_bench_reqbuf *rb)
{
	struct p1 *p = t->p;

	for (unsigned k = 0; k < t->n; k++) {
		struct bclient *b = &t->cl[k];

		while (!b->dead && !bclient_full(b)) {
			uint64_t tk = atomic_fetch_add(&p->tickets, 1);
			wj_err_t err;

			if (tk >= p->count)
				return false;
			reqbuf_fill(rb, tk);
			wj_err_clear(&err);
			if (wj_client_send(b->c, &rb->req, &err) < 0) {
				tally_error(&p->tl, "send failed", err.code,
					    err.msg);
				b->dead = true;
				break;
			}
			bclient_push(b, rb->req.id, wj_bench_now_ns());
		}
	}
	return true;
}

static unsigned p1_handle(struct p1_thread *t, struct bclient *b, int64_t st,
			  bool ok)
{
	struct p1 *p = t->p;
	int64_t now = wj_bench_now_ns();

	if (ok) {
		atomic_fetch_add(&p->tl.acked, 1);
		max_store(&p->last_ack, now);
	}
	atomic_fetch_add(&p->lat_sum_ns, (uint64_t)(now - st));
	atomic_fetch_add(&p->lat_n, 1);
	return 1;
}

/* Takes every reply already waiting on this thread's clients. */
static unsigned p1_drain(struct p1_thread *t, wj_arena_t *a)
{
	unsigned got = 0;

	for (unsigned k = 0; k < t->n; k++) {
		struct bclient *b = &t->cl[k];
		int64_t st;
		bool ok;

		while (b->outstanding && recv_one(b, 0, a, &t->p->tl, &st, &ok))
			got += p1_handle(t, b, st, ok);
	}
	return got;
}

static void *p1_run(void *arg)
{
	struct p1_thread *t = arg;
	struct p1 *p = t->p;
	struct wj_bench_reqbuf rb;
	wj_arena_t a;
	bool sending = true;

	wj_arena_init(&a, 64 * 1024);
	reqbuf_init(&rb, p->gen);
	for (unsigned k = 0; k < t->n; k++) {
		wj_err_t err;

		wj_err_clear(&err);
		if (bclient_open(&t->cl[k], p->endpoint, p->window, &err) < 0) {
			fprintf(stderr, "wuji-bench: %s\n", err.msg);
			atomic_store(&p->failed, true);
			t->cl[k].dead = true;
		}
	}
	/* All clients connect before the clock starts. */
	atomic_fetch_add(&p->opened, 1);
	while (!atomic_load(&p->go))
		sleep_ns(NS_PER_MS);
	if (atomic_load(&p->failed))
		sending = false;

	for (;;) {
		int64_t now = wj_bench_now_ns();
		uint64_t outstanding = 0;
		unsigned alive = 0, oldest_k = 0;
		int64_t oldest = INT64_MAX;

		if (now >= p->deadline || interrupted)
			sending = false;
		if (sending)
			sending = p1_fill(t, &rb);
		for (unsigned k = 0; k < t->n; k++) {
			int64_t o = bclient_oldest(&t->cl[k]);

			outstanding += t->cl[k].outstanding;
			alive += !t->cl[k].dead;
			if (o < oldest) {
				oldest = o;
				oldest_k = k;
			}
		}
		if (!alive)
			sending = false;
		if (outstanding == 0) {
			if (!sending)
				break;
			continue;
		}
		if (now >= p->drain_deadline) {
			atomic_fetch_add(&p->lost, outstanding);
			atomic_fetch_add(&p->tl.errors, outstanding);
			break;
		}
		if (p1_drain(t, &a) == 0) {
			/* Nothing waiting: block on the client whose request is
			 * oldest, as a group commit answers in send order; the
			 * others are taken right after it wakes. */
			struct bclient *b = &t->cl[oldest_k];
			int64_t st;
			bool ok;

			if (recv_one(b, 50, &a, &p->tl, &st, &ok))
				p1_handle(t, b, st, ok);
		}
	}
	for (unsigned k = 0; k < t->n; k++)
		bclient_close(&t->cl[k]);
	wj_arena_free(&a);
	atomic_fetch_sub(&p->running, 1);
	return NULL;
}

struct p1_result {
	uint64_t acked, errors, busy, lost;
	double secs, rps, mean_ms;
};

static int phase1(const struct opts *o, const char *endpoint,
		  const struct gen *g, struct p1_result *res)
{
	struct p1 *p;
	struct p1_thread *th;
	struct bclient *cl;
	unsigned nt = o->threads;
	int64_t start, last_print, now, deadline;
	uint64_t last_acked = 0;
	unsigned started = 0;
	double cpu0 = cpu_s(), cpu;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	p = calloc(1, sizeof(*p));
	th = calloc(nt, sizeof(*th));
	cl = calloc(o->clients, sizeof(*cl));
	if (!p || !th || !cl) {
		fprintf(stderr, "wuji-bench: out of memory\n");
		free(p), free(th), free(cl);
		return -1;
	}
	p->endpoint = endpoint;
	p->gen = g;
	p->window = o->window;
	p->count = o->count;
	for (unsigned i = 0; i < nt; i++) {
		unsigned first = (unsigned)((uint64_t)o->clients * i / nt);
		unsigned end = (unsigned)((uint64_t)o->clients * (i + 1) / nt);

		th[i].p = p;
		th[i].cl = cl + first;
		th[i].n = end - first;
		atomic_fetch_add(&p->running, 1);
		if (pthread_create(&th[i].tid, NULL, p1_run, &th[i]) != 0) {
			fprintf(stderr, "wuji-bench: cannot start thread %u: %s\n",
				i, strerror(errno));
			atomic_fetch_sub(&p->running, 1);
			atomic_store(&p->failed, true);
			break;
		}
		started++;
	}
	fprintf(stderr, "wuji-bench: phase 1: %u clients on %u threads, window "
		"%u, %" PRIu64 " submissions or %.1f s\n", o->clients, nt,
		o->window, o->count, o->seconds);
	deadline = wj_bench_now_ns() + CALL_TIMEOUT_MS * NS_PER_MS;
	while (atomic_load(&p->opened) < started && wj_bench_now_ns() < deadline)
		sleep_ns(NS_PER_MS);
	if (atomic_load(&p->opened) < started) {
		fprintf(stderr, "wuji-bench: clients did not open within 10 s\n");
		atomic_store(&p->failed, true);
	}
	start = wj_bench_now_ns();
	p->deadline = start + (int64_t)(o->seconds * NS_PER_S);
	p->drain_deadline = p->deadline + DRAIN1_NS;
	atomic_store(&p->last_ack, start);
	atomic_store(&p->go, true);

	last_print = start;
	while (atomic_load(&p->running) > 0) {
		sleep_ns(100 * NS_PER_MS);
		now = wj_bench_now_ns();
		if (now - last_print >= NS_PER_S) {
			uint64_t acked = atomic_load(&p->tl.acked);

			fprintf(stderr, "wuji-bench: phase 1: %.0f s: %" PRIu64
				" acked, %.0f/s\n", (now - start) / 1e9, acked,
				(acked - last_acked) * 1e9 / (now - last_print));
			last_acked = acked;
			last_print = now;
		}
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i].tid, NULL);
	cpu = cpu_s() - cpu0;

	res->acked = atomic_load(&p->tl.acked);
	res->errors = atomic_load(&p->tl.errors);
	res->busy = atomic_load(&p->tl.busy);
	res->lost = atomic_load(&p->lost);
	res->secs = (atomic_load(&p->last_ack) - start) / 1e9;
	res->rps = res->secs > 0 ? res->acked / res->secs : 0;
	if (atomic_load(&p->lat_n))
		res->mean_ms = atomic_load(&p->lat_sum_ns) / 1e6 /
			       atomic_load(&p->lat_n);
	if (atomic_load(&p->failed))
		rc = -1;
	fprintf(stderr, "wuji-bench: phase 1: %" PRIu64 " acked in %.2f s = "
		"%.0f/s; closed-loop mean latency %.2f ms; %" PRIu64
		" errors (%" PRIu64 " busy, %" PRIu64 " unanswered)\n",
		res->acked, res->secs, res->rps, res->mean_ms, res->errors,
		res->busy, res->lost);
	if (res->acked)
		fprintf(stderr, "wuji-bench: phase 1: the bench used %.1f s of "
			"CPU, %.1f us a submission\n", cpu,
			cpu * 1e6 / res->acked);
	free(p);
	free(th);
	free(cl);
	return rc;
}

/* -------------------------------------------------- phase 2: latency */

struct p2 {
	const struct opts *o;
	const char *endpoint;
	const struct gen *g;
	uint64_t first_ticket;   /* applicant numbers continue phase 1's */
	uint64_t total;          /* scheduled submissions */
	int64_t *samples;        /* ns, one per acknowledged submission */
	_Atomic uint64_t n_samples;
	/* How late the bench itself sent each one: tells a slow node from a
	 * starved bench when the machine is shared. */
	int64_t *lags;
	_Atomic uint64_t sent;
	_Atomic uint64_t lost;
	_Atomic bool finished;
	bool failed;
	struct tally tl;
};

static int64_t p2_sched(int64_t t0, uint64_t i, unsigned rate)
{
	/* In integer ns from the start, so no drift accumulates; i stays
	 * under 10^7 (LAT_SAMPLES_MAX), so i * 10^9 fits. */
	return t0 + (int64_t)(i * (uint64_t)NS_PER_S / rate);
}

static void p2_record(struct p2 *p, int64_t scheduled, bool ok)
{
	int64_t now = wj_bench_now_ns();

	if (ok) {
		p->samples[atomic_load(&p->n_samples)] = now - scheduled;
		atomic_fetch_add(&p->n_samples, 1);
		atomic_fetch_add(&p->tl.acked, 1);
	}
}

/* Takes the replies waiting; with first_timeout_ms > 0, first waits that
 * long on client first_k (the one holding the oldest request). */
static unsigned p2_take(struct p2 *p, struct bclient *cl, unsigned n,
			wj_arena_t *a, int first_timeout_ms, unsigned first_k)
{
	unsigned got = 0;
	int64_t st;
	bool ok;

	if (first_timeout_ms > 0) {
		if (!cl[first_k].outstanding ||
		    !recv_one(&cl[first_k], first_timeout_ms, a, &p->tl, &st,
			      &ok))
			return 0;
		p2_record(p, st, ok);
		got++;
	}
	for (unsigned k = 0; k < n; k++) {
		while (cl[k].outstanding &&
		       recv_one(&cl[k], 0, a, &p->tl, &st, &ok)) {
			p2_record(p, st, ok);
			got++;
		}
	}
	return got;
}

static void *p2_run(void *arg)
{
	struct p2 *p = arg;
	const struct opts *o = p->o;
	unsigned n = o->lat_clients;
	struct bclient *cl = calloc(n, sizeof(*cl));
	struct wj_bench_reqbuf rb;
	wj_arena_t a;
	uint64_t i = 0, total = p->total;
	int64_t t0, end;

	/* Sub-millisecond sleeps must not be stretched by the default 50 us
	 * timer slack, or the bench itself would add latency. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	wj_arena_init(&a, 64 * 1024);
	reqbuf_init(&rb, p->g);
	for (unsigned k = 0; cl && k < n; k++) {
		wj_err_t err;

		wj_err_clear(&err);
		if (bclient_open(&cl[k], p->endpoint, LAT_RING, &err) < 0) {
			fprintf(stderr, "wuji-bench: %s\n", err.msg);
			p->failed = true;
		}
	}
	if (!cl || p->failed)
		goto out;

	t0 = wj_bench_now_ns() + 10 * NS_PER_MS;
	for (;;) {
		int64_t now = wj_bench_now_ns(), target, rem;
		uint64_t outstanding = 0;
		unsigned oldest_k = 0;
		int64_t oldest = INT64_MAX;

		end = p2_sched(t0, p->total, o->rate) + DRAIN2_NS;
		if ((interrupted || now >= end) && i < total) {
			/* Never sent: counted as failures, not left out. */
			atomic_fetch_add(&p->tl.errors, total - i);
			total = i;
		}
		/* Everything due goes now, back to back if we fell behind:
		 * the schedule, not the replies, decides when to send. */
		while (i < total && now >= p2_sched(t0, i, o->rate) &&
		       now < end) {
			struct bclient *b = &cl[i % n];
			int64_t when = p2_sched(t0, i, o->rate);
			wj_err_t err;

			i++;
			if (b->dead || bclient_full(b)) {
				tally_error(&p->tl, "cannot send",
					    WUJI__ERROR_CODE__E_BUSY,
					    b->dead ? "client failed" :
					    "too many submissions in flight");
				continue;
			}
			reqbuf_fill(&rb, p->first_ticket + i);
			wj_err_clear(&err);
			if (wj_client_send(b->c, &rb.req, &err) < 0) {
				/* The node did not take it within the send
				 * timeout; it may recover, so keep going. */
				tally_error(&p->tl, "send failed", err.code,
					    err.msg);
				now = wj_bench_now_ns();
				continue;
			}
			now = wj_bench_now_ns();
			bclient_push(b, rb.req.id, when);
			p->lags[atomic_fetch_add(&p->sent, 1)] = now - when;
		}
		for (unsigned k = 0; k < n; k++) {
			int64_t first = bclient_oldest(&cl[k]);

			outstanding += cl[k].outstanding;
			if (first < oldest) {
				oldest = first;
				oldest_k = k;
			}
		}
		if (i >= total && outstanding == 0)
			break;
		if (now >= end) {
			atomic_fetch_add(&p->lost, outstanding);
			atomic_fetch_add(&p->tl.errors, outstanding);
			break;
		}
		target = i < total ? p2_sched(t0, i, o->rate) : end;
		rem = target - now;
		if (outstanding == 0) {
			sleep_until(target);
			continue;
		}
		if (rem >= NS_PER_MS) {
			int ms = (int)(rem / NS_PER_MS);

			p2_take(p, cl, n, &a, ms > 100 ? 100 : ms, oldest_k);
		} else if (p2_take(p, cl, n, &a, 0, 0) == 0) {
			/* Under a millisecond to the next send: the receive
			 * timeout cannot wait that finely, so poll, with a
			 * short sleep that bounds the measuring error. */
			sleep_ns(rem < 50000 ? rem : 50000);
		}
	}
out:
	for (unsigned k = 0; cl && k < n; k++)
		bclient_close(&cl[k]);
	free(cl);
	wj_arena_free(&a);
	atomic_store(&p->finished, true);
	return NULL;
}

/* Nearest-rank percentile of sorted samples, in ms. */
static double pct_ms(const int64_t *s, uint64_t n, double q)
{
	return n == 0 ? 0 : wj_bench_pct_ms(s, n, q);
}

struct p2_result {
	uint64_t samples, errors, lost, sent;
	double p50, p99, p999, max, secs;
	double lag_p99, lag_max;
};

static int phase2(const struct opts *o, const char *endpoint,
		  const struct gen *g, uint64_t first_ticket,
		  struct p2_result *res)
{
	struct p2 p = { .o = o, .endpoint = endpoint, .g = g,
			.first_ticket = first_ticket };
	pthread_t tid;
	int64_t start, last_print, now;

	memset(res, 0, sizeof(*res));
	p.total = (uint64_t)llround(o->rate * o->duration);
	if (p.total == 0)
		return 0;
	p.samples = malloc(p.total * sizeof(*p.samples));
	p.lags = malloc(p.total * sizeof(*p.lags));
	if (!p.samples || !p.lags) {
		fprintf(stderr, "wuji-bench: out of memory for %" PRIu64
			" latency samples\n", p.total);
		free(p.samples);
		free(p.lags);
		return -1;
	}
	fprintf(stderr, "wuji-bench: phase 2: %u/s for %.1f s on %u client%s, "
		"open loop\n", o->rate, o->duration, o->lat_clients,
		o->lat_clients > 1 ? "s" : "");
	start = wj_bench_now_ns();
	if (pthread_create(&tid, NULL, p2_run, &p) != 0) {
		fprintf(stderr, "wuji-bench: cannot start a thread: %s\n",
			strerror(errno));
		free(p.samples);
		free(p.lags);
		return -1;
	}
	last_print = start;
	while (!atomic_load(&p.finished)) {
		sleep_ns(100 * NS_PER_MS);
		now = wj_bench_now_ns();
		if (now - last_print >= NS_PER_S) {
			fprintf(stderr, "wuji-bench: phase 2: %.0f s: %" PRIu64
				" sent, %" PRIu64 " acked\n", (now - start) / 1e9,
				atomic_load(&p.sent), atomic_load(&p.n_samples));
			last_print = now;
		}
	}
	pthread_join(tid, NULL);
	res->secs = (wj_bench_now_ns() - start) / 1e9;
	res->samples = atomic_load(&p.n_samples);
	res->errors = atomic_load(&p.tl.errors);
	res->lost = atomic_load(&p.lost);
	res->sent = atomic_load(&p.sent);
	qsort(p.samples, res->samples, sizeof(*p.samples), wj_bench_cmp_i64);
	res->p50 = pct_ms(p.samples, res->samples, 0.50);
	res->p99 = pct_ms(p.samples, res->samples, 0.99);
	res->p999 = pct_ms(p.samples, res->samples, 0.999);
	res->max = res->samples ? p.samples[res->samples - 1] / 1e6 : 0;
	qsort(p.lags, res->sent, sizeof(*p.lags), wj_bench_cmp_i64);
	res->lag_p99 = pct_ms(p.lags, res->sent, 0.99);
	res->lag_max = res->sent ? p.lags[res->sent - 1] / 1e6 : 0;
	fprintf(stderr, "wuji-bench: phase 2: %" PRIu64 " acked of %" PRIu64
		" scheduled: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max "
		"%.3f ms; %" PRIu64 " errors (%" PRIu64 " unanswered)\n",
		res->samples, p.total, res->p50, res->p99, res->p999, res->max,
		res->errors, res->lost);
	fprintf(stderr, "wuji-bench: phase 2: the bench sent late by p99 %.3f "
		"ms, max %.3f ms (included in the latencies above)\n",
		res->lag_p99, res->lag_max);
	free(p.samples);
	free(p.lags);
	return p.failed ? -1 : 0;
}

/* ------------------------------------------------------ the node */

static int call(const char *endpoint, Wuji__Request *req, wj_arena_t *a,
		Wuji__Reply **r, const char *what)
{
	wj_client_t *c;
	wj_err_t err;
	int rc;

	wj_err_clear(&err);
	rc = wj_client_open(endpoint, CALL_TIMEOUT_MS, &c, &err);
	if (rc < 0) {
		fprintf(stderr, "wuji-bench: %s: %s\n", what, err.msg);
		return rc;
	}
	rc = wj_client_call(c, req, a, r, &err);
	wj_client_close(c);
	if (rc < 0) {
		fprintf(stderr, "wuji-bench: %s: %s\n", what, err.msg);
		return rc;
	}
	if ((*r)->code != WUJI__ERROR_CODE__OK) {
		fprintf(stderr, "wuji-bench: %s refused: %s (code %d)\n", what,
			(*r)->error && *(*r)->error ? (*r)->error : "no message",
			(*r)->code);
		return WJ_EINVAL;
	}
	return 0;
}

/* The directory holding this executable, or "" when unknown. */
static void exe_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	if (n <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	else
		buf[0] = '\0';
}

static bool is_file(const char *path, int mode)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, mode) == 0;
}

static int find_node(const struct opts *o, char *out, size_t size)
{
	static const char *const rel[] = { "../node/wuji-node",
					   "../sbin/wuji-node", "wuji-node" };
	const char *env = getenv("WJ_NODE");
	char dir[PATH_MAX];

	if (o->node_path || (env && *env)) {
		const char *p = o->node_path ? o->node_path : env;

		if (!is_file(p, X_OK)) {
			fprintf(stderr, "wuji-bench: %s is not an executable "
				"file: give the path of wuji-node with --node\n", p);
			return -1;
		}
		snprintf(out, size, "%s", p);
		return 0;
	}
	exe_dir(dir, sizeof(dir));
	for (size_t i = 0; i < N_OF(rel); i++) {
		if ((size_t)snprintf(out, size, "%s/%s", dir, rel[i]) < size &&
		    is_file(out, X_OK))
			return 0;
	}
	fprintf(stderr, "wuji-bench: cannot find wuji-node next to %s: give its "
		"path with --node or $WJ_NODE, or build it (ninja wuji-node)\n",
		dir);
	return -1;
}

static int find_sample(const char *given_path, const char *name, char *out,
		       size_t size)
{
	static const char *const rel[] = { "../../deploy/samples",
					   "../deploy/samples",
					   "../share/wuji/samples" };
	const char *env = getenv("WJ_SAMPLES");
	char dir[PATH_MAX];

	if (given_path) {
		snprintf(out, size, "%s", given_path);
		return 0;
	}
	if (env && *env) {
		snprintf(out, size, "%s/%s", env, name);
		return 0;
	}
	exe_dir(dir, sizeof(dir));
	for (size_t i = 0; i < N_OF(rel); i++) {
		if ((size_t)snprintf(out, size, "%s/%s/%s", dir, rel[i], name) <
		    size && is_file(out, R_OK))
			return 0;
	}
	fprintf(stderr, "wuji-bench: cannot find %s: set $WJ_SAMPLES to the "
		"samples directory (deploy/samples), or give the file with "
		"--catalog / --calendar\n", name);
	return -1;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		fprintf(stderr, "wuji-bench: cannot open %s: %s\n", path,
			strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			char *nb;

			if (cap >= (64u << 20)) {
				fprintf(stderr, "wuji-bench: %s is over 64 MiB: is "
					"it the right file?\n", path);
				goto fail;
			}
			cap = cap ? cap * 2 : 64 * 1024;
			nb = realloc(buf, cap + 1);
			if (!nb)
				goto fail;
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);

		n += r;
		if (r == 0) {
			if (ferror(f)) {
				fprintf(stderr, "wuji-bench: cannot read %s: %s\n",
					path, strerror(errno));
				goto fail;
			}
			break;
		}
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

struct node {
	pid_t pid;
	char dir[PATH_MAX];
	char endpoint[PATH_MAX + 16];
	char log[PATH_MAX + 16];
};

static void dump_log(const struct node *n)
{
	FILE *f = fopen(n->log, "r");
	char line[1024];
	int lines = 0;

	if (!f)
		return;
	fprintf(stderr, "wuji-bench: the node's output (%s):\n", n->log);
	while (fgets(line, sizeof(line), f) && lines++ < 60)
		fprintf(stderr, "  | %s", line);
	fclose(f);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	if (remove(path) < 0)
		fprintf(stderr, "wuji-bench: cannot remove %s: %s\n", path,
			strerror(errno));
	return 0;
}

static void node_stop(struct node *n)
{
	int64_t deadline;
	int status = 0;
	pid_t r = 0;

	if (n->pid > 0) {
		kill(n->pid, SIGTERM);
		deadline = wj_bench_now_ns() + STOP_TIMEOUT_NS;
		while ((r = waitpid(n->pid, &status, WNOHANG)) == 0 &&
		       wj_bench_now_ns() < deadline)
			sleep_ns(20 * NS_PER_MS);
		if (r == 0) {
			fprintf(stderr, "wuji-bench: the node did not exit within "
				"10 s of SIGTERM: killing it\n");
			kill(n->pid, SIGKILL);
			waitpid(n->pid, &status, 0);
		} else if (r == n->pid && WIFEXITED(status) &&
			   WEXITSTATUS(status) != 0) {
			fprintf(stderr, "wuji-bench: the node exited with status "
				"%d\n", WEXITSTATUS(status));
			dump_log(n);
		} else if (r == n->pid && WIFSIGNALED(status) &&
			   WTERMSIG(status) != SIGTERM) {
			fprintf(stderr, "wuji-bench: the node died of signal %d\n",
				WTERMSIG(status));
			dump_log(n);
		}
		n->pid = 0;
	}
	if (n->dir[0]) {
		nftw(n->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		n->dir[0] = '\0';
	}
}

static int node_start(const char *path, struct node *n)
{
	const char *tmp = getenv("TMPDIR");
	struct statfs sf;
	pid_t parent = getpid();
	int64_t deadline;

	memset(n, 0, sizeof(*n));
	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(n->dir, sizeof(n->dir), "%s/wuji-bench-XXXXXX", tmp);
	if (!mkdtemp(n->dir)) {
		fprintf(stderr, "wuji-bench: cannot create a directory in %s: "
			"%s (set TMPDIR to a writable directory)\n", tmp,
			strerror(errno));
		n->dir[0] = '\0';
		return -1;
	}
	/* sockaddr_un holds 108 bytes; the ipc endpoint must fit. */
	if (strlen(n->dir) + strlen("/control") >= 100) {
		fprintf(stderr, "wuji-bench: %s is too long for an ipc socket "
			"path: set TMPDIR to a shorter directory\n", n->dir);
		node_stop(n);
		return -1;
	}
	if (statfs(n->dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		fprintf(stderr, "wuji-bench: warning: %s is on tmpfs, where "
			"fsync costs nothing: durable figures need TMPDIR on "
			"a disk\n", n->dir);
	snprintf(n->endpoint, sizeof(n->endpoint), "ipc://%s/control", n->dir);
	snprintf(n->log, sizeof(n->log), "%s/node.log", n->dir);

	n->pid = fork();
	if (n->pid < 0) {
		fprintf(stderr, "wuji-bench: fork: %s\n", strerror(errno));
		n->pid = 0;
		node_stop(n);
		return -1;
	}
	if (n->pid == 0) {
		int fd = open(n->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0644);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		/* The node must not outlive a bench that is killed; a ^C
		 * at the terminal stops the bench, which then stops the node
		 * (its own process group keeps the ^C from reaching it). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		setpgid(0, 0);
		if (nul >= 0)
			dup2(nul, 0);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(path, path, "--id", NODE_ID, "--data", n->dir,
		      "--control", n->endpoint, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	fprintf(stderr, "wuji-bench: started %s (pid %d) in %s\n", path,
		(int)n->pid, n->dir);

	deadline = wj_bench_now_ns() + START_TIMEOUT_NS;
	for (;;) {
		Wuji__Request req = WUJI__REQUEST__INIT;
		Wuji__StatusRequest st = WUJI__STATUS_REQUEST__INIT;
		Wuji__Reply *r = NULL;
		wj_client_t *c = NULL;
		wj_arena_t a;
		int status, rc;

		if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
			fprintf(stderr, "wuji-bench: the node exited before it "
				"answered\n");
			n->pid = 0;
			dump_log(n);
			node_stop(n);
			return -1;
		}
		if (wj_bench_now_ns() >= deadline || interrupted) {
			fprintf(stderr, "wuji-bench: the node did not answer a "
				"status request within 10 s\n");
			dump_log(n);
			node_stop(n);
			return -1;
		}
		/* A fresh client each try: a request left queued on a timed
		 * out socket must not answer a later call. */
		req.op_case = WUJI__REQUEST__OP_STATUS;
		req.status = &st;
		wj_arena_init(&a, 4096);
		rc = wj_client_open(n->endpoint, 300, &c, NULL);
		if (rc == 0) {
			rc = wj_client_call(c, &req, &a, &r, NULL);
			wj_client_close(c);
		}
		wj_arena_free(&a);
		if (rc == 0 && r)
			break;
		sleep_ns(50 * NS_PER_MS);
	}
	return 0;
}

/* Loads the catalog and calendar files into the node; returns the parsed
 * catalog (in arena a) to choose the item from. */
static int load_samples(const struct opts *o, const char *endpoint,
			wj_arena_t *a, Wuji__Catalog **cat)
{
	char path[PATH_MAX];
	Wuji__Calendar *cal = NULL;
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__CatalogLoadRequest cl = WUJI__CATALOG_LOAD_REQUEST__INIT;
	Wuji__CalendarLoadRequest kl = WUJI__CALENDAR_LOAD_REQUEST__INIT;
	Wuji__Reply *r;
	wj_err_t err;
	size_t len;
	char *buf;
	int rc;

	if (find_sample(o->catalog, "catalog.yaml", path, sizeof(path)) < 0 ||
	    !(buf = read_file(path, &len)))
		return -1;
	wj_err_clear(&err);
	rc = wj_catalog_parse(path, buf, len, a, cat, &err);
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "wuji-bench: %s\n", err.msg);
		return -1;
	}
	cl.catalog = *cat;
	req.op_case = WUJI__REQUEST__OP_CATALOG_LOAD;
	req.catalog_load = &cl;
	if (call(endpoint, &req, a, &r, "loading the catalog") < 0)
		return -1;
	fprintf(stderr, "wuji-bench: loaded %zu catalog items from %s\n",
		(*cat)->n_items, path);

	if (find_sample(o->calendar, "calendar-2026.yaml", path,
			sizeof(path)) < 0 || !(buf = read_file(path, &len)))
		return -1;
	wj_err_clear(&err);
	rc = wj_calendar_parse(path, buf, len, a, &cal, &err);
	free(buf);
	if (rc < 0) {
		fprintf(stderr, "wuji-bench: %s\n", err.msg);
		return -1;
	}
	kl.calendar = cal;
	req = (Wuji__Request)WUJI__REQUEST__INIT;
	req.op_case = WUJI__REQUEST__OP_CALENDAR_LOAD;
	req.calendar_load = &kl;
	if (call(endpoint, &req, a, &r, "loading the calendar") < 0)
		return -1;
	fprintf(stderr, "wuji-bench: loaded the calendar from %s\n", path);
	return 0;
}

static bool applies_at(const Wuji__CatalogItem *it, Wuji__Level level)
{
	if (it->n_apply_levels == 0 || level == WUJI__LEVEL__LEVEL_NONE)
		return true;
	for (size_t i = 0; i < it->n_apply_levels; i++)
		if (it->apply_levels[i] == level)
			return true;
	return false;
}

/* Roughly the bytes the item puts into each case: its name, a Material
 * per material and a Task per department (the constants stand for the
 * fields around the strings). */
static size_t item_weight(const Wuji__CatalogItem *it)
{
	size_t w = strlen(it->name);

	for (size_t i = 0; i < it->n_materials; i++)
		w += strlen(it->materials[i]->name) + 8;
	for (size_t i = 0; i < it->n_tasks; i++)
		w += strlen(it->tasks[i]->department) + 24;
	return w;
}

/* The item named by --item, or the applicable one whose cases are the
 * largest (usually a joint approval): the bench wants cases as large as
 * the catalog makes them. */
static const Wuji__CatalogItem *choose_item(const Wuji__Catalog *cat,
					    const char *code, Wuji__Level level)
{
	const Wuji__CatalogItem *best = NULL;

	for (size_t i = 0; cat && i < cat->n_items; i++) {
		const Wuji__CatalogItem *it = cat->items[i];

		if (code) {
			if (strcmp(it->code, code) == 0)
				return it;
			continue;
		}
		if (!applies_at(it, level))
			continue;
		if (!best || item_weight(it) > item_weight(best))
			best = it;
	}
	if (code)
		fprintf(stderr, "wuji-bench: item %s is not in the catalog: "
			"give a code that is (node-ctl catalog list)\n", code);
	else if (!best)
		fprintf(stderr, "wuji-bench: no catalog item can be submitted at "
			"this node's level: load a catalog that has one\n");
	return best;
}

static int setup_gen(const Wuji__CatalogItem *it, struct gen *g,
		     wj_arena_t *a)
{
	g->item_code = wj_arena_strdup(a, it->code);
	g->n_materials = it->n_materials;
	g->materials = wj_arena_alloc(a, (it->n_materials + 1) *
					 sizeof(*g->materials));
	for (size_t i = 0; i < it->n_materials; i++)
		g->materials[i] = wj_arena_strdup(a, it->materials[i]->name);
	return 0;
}

/* One submission before the run: a refused item fails here with the
 * node's own message instead of as 100,000 errors, and showing the case
 * tells how large a stored case is. */
static int probe(const char *endpoint, struct wj_bench_reqbuf *rb, wj_arena_t *a)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__ShowRequest show = WUJI__SHOW_REQUEST__INIT;
	Wuji__Reply *r;

	if (call(endpoint, &rb->req, a, &r, "a first submission") < 0)
		return -1;
	if (r->result_case != WUJI__REPLY__RESULT_NUMBER || !r->number ||
	    !*r->number) {
		fprintf(stderr, "wuji-bench: warning: the node acknowledged a "
			"submission without a case number\n");
		return 0;
	}
	show.number = r->number;
	req.op_case = WUJI__REQUEST__OP_SHOW;
	req.show = &show;
	if (call(endpoint, &req, a, &r, "showing the first case") == 0 &&
	    r->result_case == WUJI__REPLY__RESULT_CASE && r->case_)
		fprintf(stderr, "wuji-bench: case %s: %zu bytes encoded, %zu "
			"history entries\n", show.number,
			wuji__case__get_packed_size(r->case_),
			r->case_->n_history);
	return 0;
}

/* ------------------------------------------------------------ main */

static int bench_node(const struct opts *o)
{
	struct node node = { 0 };
	const char *endpoint = o->endpoint;
	char node_path[PATH_MAX];
	wj_arena_t a;            /* catalog, status: lives to the end */
	Wuji__Catalog *cat = NULL;
	Wuji__Level level = WUJI__LEVEL__LEVEL_NONE;
	const Wuji__CatalogItem *it;
	struct gen g;
	struct wj_bench_reqbuf rb;
	struct p1_result r1 = { 0 };
	struct p2_result r2 = { 0 };
	uint64_t errors;
	char p50[32] = "null", p99[32] = "null", pmax[32] = "null";
	bool failed = false;
	int rc = 1;

	wj_arena_init(&a, 64 * 1024);
	if (!endpoint) {
		if (find_node(o, node_path, sizeof(node_path)) < 0 ||
		    node_start(node_path, &node) < 0)
			goto out;
		endpoint = node.endpoint;
		if (load_samples(o, endpoint, &a, &cat) < 0)
			goto out;
		level = NODE_LEVEL;
	} else {
		Wuji__Request req = WUJI__REQUEST__INIT;
		Wuji__StatusRequest st = WUJI__STATUS_REQUEST__INIT;
		Wuji__CatalogListRequest cl = WUJI__CATALOG_LIST_REQUEST__INIT;
		Wuji__Reply *r;

		req.op_case = WUJI__REQUEST__OP_STATUS;
		req.status = &st;
		if (call(endpoint, &req, &a, &r, "status") < 0)
			goto out;
		if (r->result_case == WUJI__REPLY__RESULT_STATUS)
			level = r->status->level;
		req = (Wuji__Request)WUJI__REQUEST__INIT;
		req.op_case = WUJI__REQUEST__OP_CATALOG_LIST;
		req.catalog_list = &cl;
		if (call(endpoint, &req, &a, &r, "listing the catalog") < 0)
			goto out;
		if (r->result_case == WUJI__REPLY__RESULT_CATALOG)
			cat = r->catalog;
		if (!cat || cat->n_items == 0) {
			fprintf(stderr, "wuji-bench: the node at %s has an empty "
				"catalog: load one (node-ctl catalog load)\n",
				endpoint);
			goto out;
		}
	}
	if (!(it = choose_item(cat, o->item, level)))
		goto out;
	setup_gen(it, &g, &a);
	reqbuf_init(&rb, &g);
	reqbuf_fill(&rb, 0);
	fprintf(stderr, "wuji-bench: submitting item %s (%s) with %zu "
		"materials: %zu bytes a request\n", it->code, it->name,
		g.n_materials, wuji__request__get_packed_size(&rb.req));
	if (probe(endpoint, &rb, &a) < 0)
		goto out;

	if (o->count && !interrupted && phase1(o, endpoint, &g, &r1) < 0)
		failed = true;
	if (o->duration > 0 && !interrupted && !failed) {
		sleep_ns(NS_PER_S / 2);  /* let the node's queue empty */
		if (phase2(o, endpoint, &g, o->count + 1, &r2) < 0)
			failed = true;
	}
	errors = r1.errors + r2.errors;
	/* Latencies are null, not 0, when phase 2 measured nothing. */
	if (r2.samples) {
		snprintf(p50, sizeof(p50), "%.3f", r2.p50);
		snprintf(p99, sizeof(p99), "%.3f", r2.p99);
		snprintf(pmax, sizeof(pmax), "%.3f", r2.max);
	}
	printf("{\"bench\":\"node\",\"clients\":%u,\"window\":%u,"
	       "\"threads\":%u,\"submissions\":%" PRIu64 ","
	       "\"throughput_rps\":%.1f,\"rate_rps\":%u,"
	       "\"lat_samples\":%" PRIu64 ",\"lat_p50_ms\":%s,"
	       "\"lat_p99_ms\":%s,\"lat_max_ms\":%s,"
	       "\"duration_s\":%.3f,\"errors\":%" PRIu64 "}\n",
	       o->clients, o->window, o->threads, r1.acked, r1.rps, o->rate,
	       r2.samples, p50, p99, pmax, r1.secs, errors);
	fflush(stdout);
	rc = failed || errors || interrupted ? 1 : 0;
out:
	node_stop(&node);
	wj_arena_free(&a);
	return rc;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct opts o;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("wuji-bench %s\n", WJ_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "tree") == 0)
		return wj_bench_tree(argc - 1, argv + 1, argv[0]);
	if (strcmp(argv[1], "node") != 0) {
		fprintf(stderr, "wuji-bench: unknown benchmark '%s'\n\n", argv[1]);
		usage(stderr);
		return 2;
	}
	rc = parse_opts(argc - 1, argv + 1, &o);
	if (rc)
		return rc;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return bench_node(&o);
}
