/* wuji-bench tree: the workloads on a whole tree of nodes.
 *
 *   wuji-bench tree [--shape 1-1-1-1-1] [--keep DIR] [--build BUILDDIR]
 *                   [--base-port N] [--workload W1|W2|W3|all] [options]
 *
 * The bench starts its own tree with deploy/tree (the real wuji-node
 * binaries, CURVE links on loopback, LMDB on disk), drives it only through
 * the nodes' control APIs, prints one JSON line per workload on stdout and
 * stops the tree again.  Progress and diagnostics go to stderr.
 *
 *   W1  escalation chain: cases submitted at a village until the province
 *       shows them: throughput with the village kept busy, then per-case
 *       latency at a fixed rate, open loop.
 *   W2  joint round trip: the city decides its task of a joint city-county
 *       case; time from the city's OK until the county shows it approved.
 *   W3  catch-up: the city is killed, cases pile up at the county, the
 *       city starts again: seconds until the province has them all.
 *
 * "Visible at the province" needs no separate check of durability along
 * the way: a node forwards only what its own committed change log holds,
 * so a case the province shows was committed at every level below it.
 *
 * Completion is detected cheaply and then confirmed: `show` of the highest
 * case number submitted (events travel in log order, so it arrives last)
 * every --poll-ms, and once it is there `status`, whose case count is the
 * proof.  `status` alone is not polled fast: it walks every open case (the
 * status index), about 0.6 ms of the node's time at 40,000 cases against
 * 0.06 ms for a `show`, and the node under test should do the work.
 *
 * Each JSON line has workload, throughput_rps, lat_p50_ms, lat_p99_ms,
 * lat_max_ms, catchup_s, rss_mb_max, village_rss_mb, disk_fsync_p50_ms and
 * disk_fsync_p99_ms (null where a figure does not apply), then extras:
 *   every line: village_rss_anon_mb / _file_mb (heap vs. LMDB pages mapped:
 *     VmHWM counts both), disk_fsync_append_p50/p99_ms (the file grows),
 *     load1, nodes, shape, cpu_<level>_s, cpu_bench_s, cpu_others_s (the
 *     rest of the machine: kernel I/O threads, other people's jobs),
 *     cpu_steal_s, wall_s, cpus, errors (0 when everything was measured);
 *   W1: item, event_bytes, cases, clients, window, village_ack_s and
 *     township_s .. province_s (seconds from the first submission until
 *     each level had them all), tp_cpu_*_s (the throughput phase),
 *     rate_rps, duration_s, visible_at, lat_samples, village_ack_p50/p99_ms
 *     (the village's own durable ack), probe (watch: the change-log feeds
 *     of every level from the township up to the target, each answered
 *     when that node has stored the case; it counts once all have, as
 *     relays hand cases up before their own fsync; show: polling the
 *     target alone),
 *     poll_round_p50/max_ms (a watch reply's or a poll round's time:
 *     the resolution of the figures), poll_gap_us, send_lag_max_ms,
 *     disk_chain_p50/p99/max_ms (the floor: five durable commits in a
 *     row at the same rate on the same disk, nothing else; bench_disk.h),
 *     disk_chain_store_p50/p99/max_ms (the same with the pages a commit
 *     of one case rewrites, disk_chain_store_pages more, at random places
 *     in the file);
 *   W2: item, cases, parallel, setup_s, poll_round_p50/max_ms;
 *   W3: item, cases, pileup_s, city_down_s, city_start_s (until the
 *     restarted city answered), city_caught_up_s.
 * CPU figures cover the measured phase: W1 the whole workload, W2 the
 * round trips, W3 the catch-up. */
#include "bench_tree.h"
#include "bench_common.h"
#include "bench_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
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

#include "client.h"
#include "core/arena.h"
#include "core/case.h"
#include "core/division.h"
#include "core/err.h"

#define DEFAULT_SHAPE "1-1-1-1-1"
#define DEFAULT_BASE_PORT 27500
/* A village item with the most materials: the village records it, the
 * county decides it (上报件), so it climbs the whole chain like any
 * village case and carries "several materials" as the issue asks. */
#define DEFAULT_ITEM "330000-XK-00103"
#define DEFAULT_W2_ITEM "330000-BL-00115"  /* 食品生产许可: county + city */

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

#define CALL_TIMEOUT_MS 5000     /* one control request */
#define SEND_TIMEOUT_MS 2000     /* a pipelined send waiting for the node */
#define UP_TIMEOUT_S 180.0       /* deploy/tree up (its own waits are 20 s) */
#define DOWN_TIMEOUT_S 60.0      /* deploy/tree down: SIGTERM, 10 s, SIGKILL */
#define CMD_TIMEOUT_S 60.0       /* list, kill, start */
#define DISK_CHAIN_S 2            /* W1: seconds of the disk chain probe */
/* Pages one commit of one case rewrites besides the page it appends, in
 * this store's schema: `wuji-bench node` at 100/s, one submission a
 * commit, writes 14.9 pages in 13.3 write calls per fdatasync. */
#define DISK_CHAIN_STORE_PAGES 13
#define DISK_CHAIN_TOKENS_MAX 5000
#define LAT_DRAIN_S 30.0         /* W1 latency: wait for the last cases */
#define POLL_BATCH_MAX 1024      /* shows in one poll round */
#define ROUNDS_MAX 4000000       /* poll-round times kept */
#define ERRORS_SHOWN 5
#define NAME_MAX_BYTES WJ_BENCH_NAME_MAX
#define STALL_S 30               /* no case moving anywhere for this long */
#define CASE_STORE_BYTES 4096    /* map a ~0.9 KiB case costs each node:
				  * a 256 MiB map filled at 74,000 */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void sleep_ns(int64_t d)
{
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = d / NS_PER_S;
	ts.tv_nsec = d % NS_PER_S;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop)
		;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wuji-bench tree: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ options */

struct topts {
	const char *shape, *keep, *build, *repo, *item, *w2_item;
	unsigned base_port;
	bool w1, w2, w3;
	uint64_t cases, w2_cases, w3_cases;
	unsigned clients, window, rate, w2_parallel, poll_ms, event_bytes;
	double duration, timeout;
	int visible_at;          /* W1 latency: level polled (province) */
	const char *dump;        /* W1 latency: per-case times to this file */
	unsigned poll_gap_us;    /* W1 latency: pause between poll rounds */
	bool probe_watch;        /* W1 latency: watch the log, not poll show */
	double w3_down;          /* W3: keep the city down at least this long */
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: wuji-bench tree [options]\n"
"\n"
"Starts a tree of nodes with deploy/tree, runs the workloads, prints one\n"
"JSON line per workload and stops the tree (unless --keep).\n"
"  W1  village -> province: throughput, then latency at a fixed rate\n"
"  W2  joint case: city decision -> approved at the county\n"
"  W3  city killed, cases pile up at the county, city restarted: catch-up\n"
"\n"
"  --shape S          tree shape, province first (default " DEFAULT_SHAPE ")\n"
"  --keep DIR         make the tree in DIR and leave it running\n"
"  --build DIR        build with node/wuji-node and tools/node-ctl (default:\n"
"                     the build this program is in)\n"
"  --repo DIR         source tree holding deploy/tree (default: BUILD/..)\n"
"  --base-port N      first TCP port of the tree (default %d)\n"
"  --workload W       W1, W2, W3 or all (default all; a comma list works)\n"
"  --timeout S        bound on each wait for cases to arrive (default 300)\n"
"  --poll-ms N        completion probe interval (default 10)\n"
" W1 and W3:\n"
"  --item CODE        village item submitted (default " DEFAULT_ITEM ")\n"
"  --event-bytes B    pad the applicant name so an Event packs to about B\n"
"                     bytes (default 1024; names stay within 510 bytes)\n"
"  --cases N          W1 throughput submissions (default 20000)\n"
"  --clients C        pipelined clients at the village (default 4)\n"
"  --window W         submissions in flight per client (default 64)\n"
"  --rate R           W1 latency: submissions per second (default 500)\n"
"  --duration D       W1 latency: seconds (default 20; 0 skips it)\n"
"  --visible-at L     W1 latency: level where the case must show (default\n"
"                     province; township, county or city time one hop)\n"
"  --probe P          W1 latency: how visibility is seen: watch (default:\n"
"                     the change-log feed, node-ctl watch, of every level\n"
"                     from the township up: a case counts once each node\n"
"                     on the way has stored it) or show (poll the target\n"
"                     alone for every case acknowledged and not yet seen)\n"
"  --poll-gap-us N    W1 latency, --probe show: pause N us between poll\n"
"                     rounds (default 0: poll continuously; the polls cost\n"
"                     the target node and the machine CPU)\n"
"  --dump FILE        W1 latency: one line per case to FILE: index, due,\n"
"                     village ack and visible times, then (--probe watch)\n"
"                     when each level showed it, township first (ms from\n"
"                     the first due)\n"
"  --w3-cases N       W3 submissions while the city is down (default 20000)\n"
"  --w3-down-s S      W3: keep the city down at least S seconds (default 0:\n"
"                     start it as soon as the cases are at the county)\n"
" W2:\n"
"  --w2-item CODE     joint county+city item (default " DEFAULT_W2_ITEM ")\n"
"  --w2-cases N       round trips measured (default 200)\n"
"  --w2-parallel P    round trips in flight (default 4)\n"
"\n"
"Fields: workload, throughput_rps, lat_p50_ms, lat_p99_ms, lat_max_ms,\n"
"catchup_s, rss_mb_max (peak VmHWM over the nodes), village_rss_mb,\n"
"disk_fsync_p50_ms, disk_fsync_p99_ms, and extras; null where a figure\n"
"does not apply.  Exit status: 0 measured without errors, 1 errors or\n"
"failure, 2 bad usage.\n", DEFAULT_BASE_PORT);
}

static const struct wj_bench_cli cli = { "wuji-bench tree", usage };

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = wj_bench_vbad_usage(&cli, fmt, ap);
	va_end(ap);
	return rc;
}

static bool parse_workloads(const char *s, struct topts *o)
{
	char buf[64], *tok, *save;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	o->w1 = o->w2 = o->w3 = false;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(tok, "all") == 0)
			o->w1 = o->w2 = o->w3 = true;
		else if (strcasecmp(tok, "W1") == 0)
			o->w1 = true;
		else if (strcasecmp(tok, "W2") == 0)
			o->w2 = true;
		else if (strcasecmp(tok, "W3") == 0)
			o->w3 = true;
		else
			return false;
	}
	return o->w1 || o->w2 || o->w3;
}

enum {
	OPT_SHAPE = 256, OPT_KEEP, OPT_BUILD, OPT_REPO, OPT_BASE_PORT,
	OPT_WORKLOAD, OPT_TIMEOUT, OPT_POLL_MS, OPT_ITEM, OPT_EVENT_BYTES,
	OPT_CASES, OPT_CLIENTS, OPT_WINDOW, OPT_RATE, OPT_DURATION,
	OPT_VISIBLE_AT, OPT_W3_CASES, OPT_W2_ITEM, OPT_W2_CASES,
	OPT_W2_PARALLEL, OPT_DUMP, OPT_POLL_GAP, OPT_W3_DOWN, OPT_PROBE,
};

/* The numeric options: each parsed within its bounds into its field. */
#define NUM(id, lo, hi, field, kind) \
	WJ_BENCH_NUM(id, lo, hi, struct topts, field, WJ_BENCH_NUM_##kind)
static const struct wj_bench_num_opt num_opts[] = {
	NUM(OPT_BASE_PORT, 1024, 65535, base_port, UINT),
	NUM(OPT_DURATION, 0, 3600, duration, SECS),
	NUM(OPT_POLL_MS, 1, 1000, poll_ms, UINT),
	NUM(OPT_EVENT_BYTES, 0, 65536, event_bytes, UINT),
	NUM(OPT_CASES, 1, 10000000, cases, U64),
	NUM(OPT_CLIENTS, 1, 256, clients, UINT),
	NUM(OPT_W3_DOWN, 0, 3600, w3_down, SECS),
	NUM(OPT_WINDOW, 1, 4096, window, UINT),
	NUM(OPT_RATE, 1, 100000, rate, UINT),
	NUM(OPT_W3_CASES, 1, 10000000, w3_cases, U64),
	NUM(OPT_W2_CASES, 1, 1000000, w2_cases, U64),
	NUM(OPT_W2_PARALLEL, 1, 256, w2_parallel, UINT),
	NUM(OPT_POLL_GAP, 0, 1000000, poll_gap_us, UINT),
};
#undef NUM
#define N_NUM_OPTS (sizeof(num_opts) / sizeof(num_opts[0]))

static int parse_opts(int argc, char **argv, struct topts *o)
{
	static const struct option longs[] = {
		{ "shape", required_argument, NULL, OPT_SHAPE },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "build", required_argument, NULL, OPT_BUILD },
		{ "repo", required_argument, NULL, OPT_REPO },
		{ "base-port", required_argument, NULL, OPT_BASE_PORT },
		{ "workload", required_argument, NULL, OPT_WORKLOAD },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "poll-ms", required_argument, NULL, OPT_POLL_MS },
		{ "item", required_argument, NULL, OPT_ITEM },
		{ "event-bytes", required_argument, NULL, OPT_EVENT_BYTES },
		{ "cases", required_argument, NULL, OPT_CASES },
		{ "clients", required_argument, NULL, OPT_CLIENTS },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "visible-at", required_argument, NULL, OPT_VISIBLE_AT },
		{ "w3-cases", required_argument, NULL, OPT_W3_CASES },
		{ "w2-item", required_argument, NULL, OPT_W2_ITEM },
		{ "w2-cases", required_argument, NULL, OPT_W2_CASES },
		{ "w2-parallel", required_argument, NULL, OPT_W2_PARALLEL },
		{ "dump", required_argument, NULL, OPT_DUMP },
		{ "poll-gap-us", required_argument, NULL, OPT_POLL_GAP },
		{ "probe", required_argument, NULL, OPT_PROBE },
		{ "w3-down-s", required_argument, NULL, OPT_W3_DOWN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct topts){
		.shape = DEFAULT_SHAPE, .item = DEFAULT_ITEM,
		.w2_item = DEFAULT_W2_ITEM, .base_port = DEFAULT_BASE_PORT,
		.w1 = true, .w2 = true, .w3 = true,
		.cases = 20000, .w2_cases = 200, .w3_cases = 20000,
		.clients = 4, .window = 64, .rate = 500, .w2_parallel = 4,
		.poll_ms = 10, .event_bytes = 1024, .duration = 20,
		.timeout = 300, .visible_at = WUJI__LEVEL__PROVINCE,
		.probe_watch = true,
	};
	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		int num = wj_bench_num_opt(&cli, num_opts, N_NUM_OPTS, longs, ch, optarg, o);
		if (num < 0)
			return WJ_BENCH_EXIT_USAGE;
		if (num > 0)
			continue; /* a numeric option, parsed */
		switch (ch) {
		case OPT_SHAPE:
			o->shape = optarg;
			break;
		case OPT_KEEP:
			if (!*optarg)
				return bad_usage("--keep needs a directory");
			o->keep = optarg;
			break;
		case OPT_BUILD:
			o->build = optarg;
			break;
		case OPT_REPO:
			o->repo = optarg;
			break;
		case OPT_WORKLOAD:
			if (!parse_workloads(optarg, o))
				return bad_usage("--workload takes W1, W2, W3 or all "
						 "(or a comma list), not '%s'",
						 optarg);
			break;
		case OPT_TIMEOUT:
			if (!wj_bench_parse_secs(optarg, 1, 3600, &o->timeout))
				return bad_usage("--timeout takes 1 to 3600 seconds, "
						 "not '%s'", optarg);
			break;
		case OPT_ITEM:
			o->item = optarg;
			break;
		case OPT_VISIBLE_AT:
			if (strcmp(optarg, "province") == 0)
				o->visible_at = WUJI__LEVEL__PROVINCE;
			else if (strcmp(optarg, "city") == 0)
				o->visible_at = WUJI__LEVEL__CITY;
			else if (strcmp(optarg, "county") == 0)
				o->visible_at = WUJI__LEVEL__COUNTY;
			else if (strcmp(optarg, "township") == 0)
				o->visible_at = WUJI__LEVEL__TOWNSHIP;
			else
				return bad_usage("--visible-at takes province, city, "
						 "county or township, not '%s'",
						 optarg);
			break;
		case OPT_W2_ITEM:
			o->w2_item = optarg;
			break;
		case OPT_DUMP:
			o->dump = optarg;
			break;
		case OPT_PROBE:
			if (strcmp(optarg, "watch") == 0 || strcmp(optarg, "show") == 0) {
				o->probe_watch = strcmp(optarg, "watch") == 0;
				break;
			}
			say("--probe expects watch or show, not '%s'", optarg);
			return WJ_BENCH_EXIT_USAGE;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	if ((double)o->rate * o->duration > 10e6)
		return bad_usage("--rate times --duration must stay under 10 "
				 "million submissions");
	return 0;
}

/* ------------------------------------------------------- JSON lines */

struct jline {
	char buf[4096];
	size_t n;
};

static void jraw(struct jline *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void jraw(struct jline *j, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (j->n >= sizeof(j->buf))
		return;
	va_start(ap, fmt);
	k = vsnprintf(j->buf + j->n, sizeof(j->buf) - j->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		j->n += (size_t)k;
}

static void jkey(struct jline *j, const char *key)
{
	jraw(j, "%s\"%s\":", j->n > 1 ? "," : "", key);
}

/* A number, or null for NaN: a figure that does not apply or was not
 * measured is null, never 0. */
static void jnum(struct jline *j, const char *key, double v, int decimals)
{
	jkey(j, key);
	if (!isfinite(v))
		jraw(j, "null");
	else
		jraw(j, "%.*f", decimals, v);
}

static void ju64(struct jline *j, const char *key, uint64_t v)
{
	jkey(j, key);
	jraw(j, "%" PRIu64, v);
}

/* Codes and names, some given on the command line. */
static void jstr(struct jline *j, const char *key, const char *v)
{
	jkey(j, key);
	jraw(j, "\"");
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;

		if (ch == '"' || ch == '\\')
			jraw(j, "\\%c", ch);
		else if (ch < 0x20)
			jraw(j, "\\u%04x", ch);
		else
			jraw(j, "%c", ch);
	}
	jraw(j, "\"");
}

/* ------------------------------------------------------ percentiles */

struct dist {
	double p50, p99, max;
	size_t n;
};

static struct dist dist_of(int64_t *s, size_t n)
{
	struct dist d = { NAN, NAN, NAN, n };

	if (n == 0)
		return d;
	qsort(s, n, sizeof(*s), wj_bench_cmp_i64);
	d.p50 = wj_bench_pct_ms(s, n, 0.50);
	d.p99 = wj_bench_pct_ms(s, n, 0.99);
	d.max = s[n - 1] / 1e6;
	return d;
}

/* --------------------------------------------------------- the tree */

struct tnode {
	uint64_t code;
	char level[32];
	char endpoint[PATH_MAX + 8];
};

struct tree {
	char script[PATH_MAX + 32];
	char dir[PATH_MAX];
	char build[PATH_MAX];
	char shape[64];
	unsigned base_port;
	bool made_dir;      /* ours to remove */
	bool up;            /* `down` is owed */
	bool ready;         /* `up` succeeded */
	struct tnode *nodes;
	size_t n;
	/* W1 and W3: the first village and its ancestors (-1: none). */
	int village, township, county, city, province;
	/* W2: the first county and its city. */
	int w2_county, w2_city;
};

static int find_code(const struct tree *t, uint64_t code)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->nodes[i].code == code)
			return (int)i;
	return -1;
}

/* Starts deploy/tree with args.  Its stdout goes to a pipe (*out_fd) when
 * out_fd is given, else to our stderr, as progress. */
static pid_t tree_spawn(const struct tree *t, const char *const *args,
			int *out_fd)
{
	const char *argv[16];
	int pfd[2] = { -1, -1 };
	size_t k = 0;
	pid_t pid;

	argv[k++] = t->script;
	for (size_t i = 0; args[i] && k < N_OF(argv) - 1; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	if (out_fd && pipe2(pfd, O_CLOEXEC) < 0) {
		say("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		say("fork: %s", strerror(errno));
		if (out_fd) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return -1;
	}
	if (pid == 0) {
		/* Own process group: a ^C reaches the bench, which then stops
		 * the tree in order.  If the bench dies, the script gets a
		 * SIGINT, which makes `up` stop the nodes it started. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGINT);
		if (out_fd)
			dup2(pfd[1], 1);
		else
			dup2(2, 1);
		execv(t->script, (char *const *)argv);
		fprintf(stderr, "wuji-bench tree: cannot run %s: %s\n",
			t->script, strerror(errno));
		_exit(127);
	}
	if (out_fd) {
		close(pfd[1]);
		*out_fd = pfd[0];
	}
	return pid;
}

/* Waits for a deploy/tree run, reading its stdout into out (when fd >= 0)
 * and killing it at the deadline.  Returns its exit status, or -1. */
static int tree_wait(pid_t pid, int fd, char *out, size_t size,
		     int64_t deadline)
{
	size_t n = 0;
	int status = 0;
	bool killed = false, reaped = false;

	if (out && size)
		out[0] = '\0';
	for (;;) {
		pid_t r;

		if (fd >= 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (poll(&p, 1, 20) > 0) {
				char tmp[4096];
				ssize_t k = read(fd, tmp, sizeof(tmp));

				if (k <= 0) {
					close(fd);
					fd = -1;
				} else if (out && n + 1 < size) {
					size_t c = (size_t)k < size - 1 - n ?
						   (size_t)k : size - 1 - n;

					memcpy(out + n, tmp, c);
					n += c;
					out[n] = '\0';
				}
			}
		} else {
			sleep_ns(20 * NS_PER_MS);
		}
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			reaped = true;
			break;
		}
		if (r < 0 && errno != EINTR) {
			say("waitpid: %s", strerror(errno));
			break;
		}
		if (!killed && wj_bench_now_ns() > deadline) {
			say("deploy/tree (pid %d) did not finish in time: "
			    "stopping it", (int)pid);
			kill(pid, SIGINT);
			deadline = wj_bench_now_ns() + 10 * NS_PER_S;
			killed = true;
		} else if (killed && wj_bench_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
	}
	if (fd >= 0) {
		/* The rest of the output, when it exited before we read it;
		 * without blocking, should anything it started hold the pipe. */
		char tmp[4096];
		ssize_t k;

		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		while ((k = read(fd, tmp, sizeof(tmp))) > 0) {
			if (out && n + 1 < size) {
				size_t c = (size_t)k < size - 1 - n ?
					   (size_t)k : size - 1 - n;

				memcpy(out + n, tmp, c);
				n += c;
				out[n] = '\0';
			}
		}
		close(fd);
	}
	if (killed || !reaped)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int tree_run(const struct tree *t, const char *const *args, char *out,
		    size_t size, double timeout_s)
{
	int fd = -1;
	pid_t pid = tree_spawn(t, args, out ? &fd : NULL);

	if (pid < 0)
		return -1;
	return tree_wait(pid, fd, out, size,
			 wj_bench_now_ns() + (int64_t)(timeout_s * NS_PER_S));
}

/* Reads `deploy/tree list` and finds the nodes the workloads use. */
static int tree_list(struct tree *t)
{
	const char *args[] = { "list", t->dir, NULL };
	size_t cap = 1 << 20;
	char *out = malloc(cap), *line, *save;
	int rc;

	if (!out)
		return -1;
	rc = tree_run(t, args, out, cap, CMD_TIMEOUT_S);
	if (rc != 0) {
		say("deploy/tree list %s failed (status %d)", t->dir, rc);
		free(out);
		return -1;
	}
	free(t->nodes);
	t->nodes = NULL;
	t->n = 0;
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct tnode nd = { 0 };
		char code[32], level[32], ep[PATH_MAX + 8];
		struct tnode *nn;

		if (sscanf(line, "%31s %31s %4100s", code, level, ep) != 3 ||
		    strlen(code) != 12)
			continue;
		nd.code = strtoull(code, NULL, 10);
		snprintf(nd.level, sizeof(nd.level), "%s", level);
		snprintf(nd.endpoint, sizeof(nd.endpoint), "%s", ep);
		nn = realloc(t->nodes, (t->n + 1) * sizeof(*nn));
		if (!nn)
			break;
		t->nodes = nn;
		t->nodes[t->n++] = nd;
	}
	free(out);
	if (t->n == 0) {
		say("deploy/tree list %s named no nodes", t->dir);
		return -1;
	}
	t->village = t->township = t->county = t->city = t->province = -1;
	t->w2_county = t->w2_city = -1;
	for (size_t i = 0; i < t->n; i++) {
		uint64_t c = t->nodes[i].code;

		if (t->village < 0 &&
		    wj_division_level(c) == WUJI__LEVEL__VILLAGE) {
			t->village = (int)i;
			t->township = find_code(t, wj_division_ancestor(c,
						WUJI__LEVEL__TOWNSHIP));
			t->county = find_code(t, wj_division_ancestor(c,
					      WUJI__LEVEL__COUNTY));
			t->city = find_code(t, wj_division_ancestor(c,
					    WUJI__LEVEL__CITY));
			t->province = find_code(t, wj_division_ancestor(c,
						WUJI__LEVEL__PROVINCE));
		}
		if (t->w2_county < 0 &&
		    wj_division_level(c) == WUJI__LEVEL__COUNTY) {
			t->w2_county = (int)i;
			t->w2_city = find_code(t, wj_division_parent(c));
		}
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0)
		say("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

static bool is_exec(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(p, X_OK) == 0;
}

/* BUILD/tools/wuji-bench -> BUILD; "" when self_exe says nothing. */
static void build_of(const char *self_exe, char *out, size_t size)
{
	char path[PATH_MAX], *slash;

	out[0] = '\0';
	if (!self_exe || !strchr(self_exe, '/'))
		self_exe = "/proc/self/exe";
	if (!realpath(self_exe, path))
		return;
	for (int up = 0; up < 2; up++) {
		slash = strrchr(path, '/');
		if (!slash)
			return;
		*slash = '\0';
	}
	snprintf(out, size, "%s", path[0] ? path : "/");
}

/* Each store's map (deploy/tree --map-mb) for every case the workloads
 * submit reaching every level: about 3-4 KiB a case of about 1 KiB
 * (deploy/wuji.conf), 5 KiB with room to spare, and 20 KiB for a joint
 * case and its many steps; never below deploy/tree's own 256 MiB. */
static unsigned tree_map_mb(const struct topts *o)
{
	double cases = (double)o->cases + (double)o->rate * o->duration + (double)o->w3_cases;
	double mb = 64 + (cases * 5 + (double)o->w2_cases * 20) / 1024;

	return mb < 256 ? 256 : mb > 1048576 ? 1048576 : (unsigned)ceil(mb);
}

static int tree_up(struct tree *t, const struct topts *o,
		   const char *self_exe)
{
	char build[PATH_MAX] = "", repo[PATH_MAX + 8], port[16], map_mb[16];
	const char *tmp = getenv("TMPDIR");
	struct statfs sf;
	int rc;

	if (o->build) {
		if (!realpath(o->build, build)) {
			say("--build %s: %s", o->build, strerror(errno));
			return -1;
		}
	} else {
		build_of(self_exe, build, sizeof(build));
	}
	if (o->repo) {
		if (!realpath(o->repo, repo)) {
			say("--repo %s: %s", o->repo, strerror(errno));
			return -1;
		}
	} else {
		snprintf(repo, sizeof(repo), "%s/..", build);
	}
	snprintf(t->build, sizeof(t->build), "%s", build);
	snprintf(t->script, sizeof(t->script), "%s/deploy/tree", repo);
	if (!is_exec(t->script)) {
		say("cannot find deploy/tree at %s: give the source tree with "
		    "--repo", t->script);
		return -1;
	}
	{
		char p[PATH_MAX + 32];

		snprintf(p, sizeof(p), "%s/node/wuji-node", build);
		if (!is_exec(p)) {
			say("%s is not an executable: give the build directory "
			    "with --build (and build wuji-node and node-ctl in "
			    "it)", p);
			return -1;
		}
	}
	if (o->keep) {
		if (strlen(o->keep) >= sizeof(t->dir) - 1) {
			say("--keep %s: path too long", o->keep);
			return -1;
		}
		snprintf(t->dir, sizeof(t->dir), "%s", o->keep);
	} else {
		if (!tmp || !*tmp)
			tmp = "/tmp";
		snprintf(t->dir, sizeof(t->dir), "%s/wjbt-XXXXXX", tmp);
		if (!mkdtemp(t->dir)) {
			say("cannot create a directory in %s: %s (set TMPDIR)",
			    tmp, strerror(errno));
			return -1;
		}
		t->made_dir = true;
	}
	snprintf(t->shape, sizeof(t->shape), "%s", o->shape);
	t->base_port = o->base_port;
	snprintf(port, sizeof(port), "%u", o->base_port);
	snprintf(map_mb, sizeof(map_mb), "%u", tree_map_mb(o));
	say("starting a tree of shape %s in %s (wuji-node from %s, stores of %s MiB)",
	    o->shape, t->dir, build, map_mb);
	{
		const char *args[] = { "up", t->dir, "--shape", o->shape,
				       "--base-port", port, "--build", build,
				       "--map-mb", map_mb, NULL };

		t->up = true;   /* `down` is harmless if up failed half-way */
		rc = tree_run(t, args, NULL, 0, UP_TIMEOUT_S);
	}
	if (rc != 0) {
		say("deploy/tree up failed (status %d): see above", rc);
		return -1;
	}
	t->ready = true;
	if (statfs(t->dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
		say("warning: %s is on tmpfs, where fsync costs nothing: "
		    "durable figures need TMPDIR on a disk", t->dir);
	return tree_list(t);
}

static void tree_down(struct tree *t, bool failed)
{
	const char *args[] = { "down", t->dir, NULL };

	if (t->up && !t->ready) {
		/* A failed `up` stops what it started; `down` is only owed
		 * when it got as far as writing the tree's manifest. */
		char manifest[PATH_MAX + 16];
		struct stat st;

		snprintf(manifest, sizeof(manifest), "%s/tree.json", t->dir);
		if (stat(manifest, &st) != 0)
			t->up = false;
	}
	if (t->up) {
		say("stopping the tree");
		if (tree_run(t, args, NULL, 0, DOWN_TIMEOUT_S) != 0)
			say("deploy/tree down %s failed: stop it by hand",
			    t->dir);
		t->up = false;
	}
	if (t->made_dir) {
		char manifest[PATH_MAX + 16];
		struct stat st;

		/* Keep the logs of a failed run; an `up` that failed before
		 * writing anything leaves nothing worth keeping. */
		snprintf(manifest, sizeof(manifest), "%s/tree.json", t->dir);
		if (failed && stat(manifest, &st) == 0) {
			say("the tree's files and logs stay in %s", t->dir);
		} else {
			nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		}
		t->made_dir = false;
	}
}

/* ------------------------------------------------------------ memory */

struct mem {
	double hwm_mb, rss_mb, anon_mb, file_mb;
	bool ok;
};

static pid_t node_pid(const struct tree *t, const struct tnode *nd)
{
	char path[PATH_MAX + 64], buf[64], cmd[PATH_MAX];
	FILE *f;
	long pid = 0;
	ssize_t k;
	int fd;

	snprintf(path, sizeof(path), "%s/%012" PRIu64 "/pid", t->dir,
		 nd->code);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	pid = strtol(buf, NULL, 10);
	if (pid <= 1)
		return -1;
	/* A stale pid file must not make us report another program. */
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	k = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (k <= 0)
		return -1;
	cmd[k] = '\0';
	{
		const char *base = strrchr(cmd, '/');

		base = base ? base + 1 : cmd;
		if (strcmp(base, "wuji-node") != 0)
			return -1;
	}
	return (pid_t)pid;
}

static struct mem node_mem(const struct tree *t, const struct tnode *nd)
{
	struct mem m = { NAN, NAN, NAN, NAN, false };
	char path[64], line[256];
	pid_t pid = node_pid(t, nd);
	FILE *f;

	if (pid <= 0)
		return m;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return m;
	while (fgets(line, sizeof(line), f)) {
		unsigned long kb;

		if (sscanf(line, "VmHWM: %lu", &kb) == 1)
			m.hwm_mb = kb / 1024.0, m.ok = true;
		else if (sscanf(line, "VmRSS: %lu", &kb) == 1)
			m.rss_mb = kb / 1024.0;
		else if (sscanf(line, "RssAnon: %lu", &kb) == 1)
			m.anon_mb = kb / 1024.0;
		else if (sscanf(line, "RssFile: %lu", &kb) == 1)
			m.file_mb = kb / 1024.0;
	}
	fclose(f);
	return m;
}

/* rss_mb_max (peak VmHWM over every node, since each started) and the
 * village's own figures.  VmHWM counts the LMDB pages the node has
 * touched through its map (file-backed, reclaimable page cache) as well
 * as its heap, so anon and file are reported apart. */
static void add_mem(struct jline *j, const struct tree *t)
{
	double hwm_max = NAN;
	struct mem v = { NAN, NAN, NAN, NAN, false };

	for (size_t i = 0; i < t->n; i++) {
		struct mem m = node_mem(t, &t->nodes[i]);

		if (m.ok && (isnan(hwm_max) || m.hwm_mb > hwm_max))
			hwm_max = m.hwm_mb;
		if ((int)i == t->village)
			v = m;
	}
	jnum(j, "rss_mb_max", hwm_max, 1);
	jnum(j, "village_rss_mb", v.hwm_mb, 1);
	jnum(j, "village_rss_anon_mb", v.anon_mb, 1);
	jnum(j, "village_rss_file_mb", v.file_mb, 1);
}

/* --------------------------------------------------------------- CPU */

/* CPU seconds each node of the chain and the bench use during a
 * workload: on a small machine the nodes share the cores, and these say
 * which of them the time went to. */
struct cpu_snap {
	pid_t pid[5];
	double node[5];          /* village, township, county, city, province */
	double bench;
	double busy, steal;      /* the whole machine, /proc/stat */
	int64_t t;
};

/* Busy and steal seconds of the whole machine: whatever else runs here
 * (other people's tests, kernel I/O threads) competes with the tree. */
static void machine_cpu(double *busy, double *steal)
{
	unsigned long long v[10] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	double hz = (double)sysconf(_SC_CLK_TCK);

	*busy = *steal = NAN;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		/* user nice system idle iowait irq softirq steal */
		*busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / hz;
		*steal = v[7] / hz;
	}
	fclose(f);
}

static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return NAN;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* After the command: state, then fields 4..13, then utime stime. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) != 2)
		return NAN;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static pid_t node_pid(const struct tree *t, const struct tnode *nd);

static void cpu_take(const struct tree *t, struct cpu_snap *c)
{
	int idx[5] = { t->village, t->township, t->county, t->city,
		       t->province };

	for (int i = 0; i < 5; i++) {
		c->pid[i] = idx[i] >= 0 ? node_pid(t, &t->nodes[idx[i]]) : -1;
		c->node[i] = c->pid[i] > 0 ? proc_cpu_s(c->pid[i]) : NAN;
	}
	c->bench = self_cpu_s();
	machine_cpu(&c->busy, &c->steal);
	c->t = wj_bench_now_ns();
}

static void add_cpu(struct jline *j, const struct tree *t,
		    const struct cpu_snap *before)
{
	static const char *const key[5] = {
		"cpu_village_s", "cpu_township_s", "cpu_county_s",
		"cpu_city_s", "cpu_province_s",
	};
	struct cpu_snap now;
	double ours = 0;

	cpu_take(t, &now);
	for (int i = 0; i < 5; i++) {
		double d = now.node[i];

		/* A node started again (W3's city) counts from its start. */
		if (now.pid[i] == before->pid[i])
			d -= before->node[i];
		jnum(j, key[i], d, 2);
		if (isfinite(d))
			ours += d;
	}
	jnum(j, "cpu_bench_s", now.bench - before->bench, 2);
	ours += now.bench - before->bench;
	/* Everything else busy on the machine meanwhile: kernel threads
	 * writing for the nodes, and anything other people run. */
	jnum(j, "cpu_others_s", now.busy - before->busy - ours, 2);
	jnum(j, "cpu_steal_s", now.steal - before->steal, 2);
	jnum(j, "wall_s", (now.t - before->t) / 1e9, 2);
	ju64(j, "cpus", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
}

struct cpu_sum {
	double nodes, bench, others;
};

/* Prints the CPU seconds since `before`; returns the sums. */
static struct cpu_sum cpu_say(const struct tree *t,
			      const struct cpu_snap *before, const char *label)
{
	struct cpu_sum sum = { 0, 0, 0 };
	struct cpu_snap now;
	double d[5], ours;

	cpu_take(t, &now);
	ours = now.bench - before->bench;
	for (int i = 0; i < 5; i++) {
		d[i] = now.pid[i] == before->pid[i] ?
		       now.node[i] - before->node[i] : now.node[i];
		if (isfinite(d[i]))
			ours += d[i];
	}
	say("%s: CPU seconds in %.2f s: village %.2f, township %.2f, county "
	    "%.2f, city %.2f, province %.2f, bench %.2f, everything else "
	    "%.2f", label, (now.t - before->t) / 1e9, d[0], d[1], d[2], d[3],
	    d[4], now.bench - before->bench, now.busy - before->busy - ours);
	sum.bench = now.bench - before->bench;
	sum.nodes = ours - sum.bench;
	sum.others = now.busy - before->busy - ours;
	return sum;
}

/* --------------------------------------------------- control calls */

static wj_client_t *open_client(const char *endpoint, int timeout_ms)
{
	wj_client_t *c = NULL;
	wj_err_t err;

	wj_err_clear(&err);
	if (wj_client_open(endpoint, timeout_ms, &c, &err) < 0) {
		say("%s", err.msg);
		return NULL;
	}
	return c;
}

/* One request, waiting for its reply.  Returns 0 when the reply is OK; a
 * refusal is printed unless quiet. */
static int call(wj_client_t *c, Wuji__Request *req, wj_arena_t *a,
		Wuji__Reply **r, const char *what, bool quiet)
{
	wj_err_t err;

	wj_err_clear(&err);
	if (wj_client_call(c, req, a, r, &err) < 0) {
		if (!quiet)
			say("%s: %s", what, err.msg);
		return -1;
	}
	if ((*r)->code != WUJI__ERROR_CODE__OK) {
		if (!quiet)
			say("%s refused: %s (code %d)", what,
			    (*r)->error && *(*r)->error ? (*r)->error :
			    "no message", (*r)->code);
		return -1;
	}
	return 0;
}

static int node_cases(wj_client_t *c, uint64_t *cases)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__StatusRequest st = WUJI__STATUS_REQUEST__INIT;
	Wuji__Reply *r;
	wj_arena_t a;
	int rc;

	wj_arena_init(&a, 8192);
	req.op_case = WUJI__REQUEST__OP_STATUS;
	req.status = &st;
	rc = call(c, &req, &a, &r, "status", false);
	if (rc == 0 && r->result_case == WUJI__REPLY__RESULT_STATUS)
		*cases = r->status->cases;
	else
		rc = -1;
	wj_arena_free(&a);
	return rc;
}

static void show_req(Wuji__Request *req, Wuji__ShowRequest *sh,
		     const char *number)
{
	wuji__request__init(req);
	wuji__show_request__init(sh);
	sh->number = (char *)number;
	req->op_case = WUJI__REQUEST__OP_SHOW;
	req->show = sh;
}

/* 1 when the node shows the case, 0 when it does not (yet), -1 when it
 * does not answer. */
static int node_has(wj_client_t *c, const char *number)
{
	Wuji__Request req;
	Wuji__ShowRequest sh;
	Wuji__Reply *r;
	wj_arena_t a;
	wj_err_t err;
	int rc;

	wj_arena_init(&a, 8192);
	show_req(&req, &sh, number);
	wj_err_clear(&err);
	if (wj_client_call(c, &req, &a, &r, &err) < 0)
		rc = -1;
	else
		rc = r->code == WUJI__ERROR_CODE__OK;
	wj_arena_free(&a);
	return rc;
}

/* The catalog entry as the node has it (the tree spreads the sample
 * catalog from the province). */
static Wuji__CatalogItem *fetch_item(const char *endpoint, const char *code,
				     wj_arena_t *a)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__CatalogShowRequest cs = WUJI__CATALOG_SHOW_REQUEST__INIT;
	Wuji__Reply *r;
	wj_client_t *c = open_client(endpoint, CALL_TIMEOUT_MS);
	Wuji__CatalogItem *it = NULL;

	if (!c)
		return NULL;
	cs.code = (char *)code;
	req.op_case = WUJI__REQUEST__OP_CATALOG_SHOW;
	req.catalog_show = &cs;
	if (call(c, &req, a, &r, "catalog show", false) == 0 &&
	    r->result_case == WUJI__REPLY__RESULT_CATALOG && r->catalog &&
	    r->catalog->n_items == 1)
		it = r->catalog->items[0];
	else
		say("item %s is not in the catalog at %s: choose another with "
		    "--item / --w2-item", code, endpoint);
	wj_client_close(c);
	return it;
}

/* Case numbers are "<origin>-<YYYYMMDD>-<serial, 6+ digits>": the part
 * before the serial compares as text, the serial as a number. */
static int number_cmp(const char *a, const char *b)
{
	const char *da = strrchr(a, '-'), *db = strrchr(b, '-');
	size_t la, lb;
	int c;

	if (!da || !db)
		return strcmp(a, b);
	la = (size_t)(da - a);
	lb = (size_t)(db - b);
	c = strncmp(a, b, la < lb ? la : lb);
	if (c || la != lb)
		return c ? c : (la < lb ? -1 : 1);
	{
		unsigned long long x = strtoull(da + 1, NULL, 10);
		unsigned long long y = strtoull(db + 1, NULL, 10);

		return (x > y) - (x < y);
	}
}

/* ------------------------------------------------------ submissions */

/* What every submission of a workload carries. */
struct subgen {
	const char *item_code;
	char **materials;        /* every material of the item: complete */
	size_t n_materials;
	char county6[7];         /* ID numbers issued in the node's county */
	size_t name_bytes;       /* applicant name length, whole characters */
	size_t event_bytes;      /* the Event it makes, packed */
};

static void reqbuf_init(struct wj_bench_reqbuf *rb, const struct subgen *g)
{
	wj_bench_reqbuf_init(rb, g->item_code, g->materials, g->n_materials);
}

/* Names padded to name_bytes: the issue's ~1 KiB cases. */
static void reqbuf_fill(struct wj_bench_reqbuf *rb, const struct subgen *g,
			uint64_t i)
{
	wj_bench_reqbuf_fill(rb, g->county6, g->name_bytes, i);
}

/* The Event the node will make from submission i, packed: built with the
 * core's own wj_case_submit(), with a seq and hlc of realistic size. */
static size_t event_size(const struct subgen *g, const Wuji__CatalogItem *it,
			 uint64_t node)
{
	struct wj_bench_reqbuf rb;
	wj_arena_t a;
	wj_case_ctx_t ctx = { 0 };
	Wuji__Event ev = WUJI__EVENT__INIT;
	char number[64];
	size_t n = 0;

	wj_arena_init(&a, 16384);
	reqbuf_init(&rb, g);
	reqbuf_fill(&rb, g, 12345);
	ctx.self = node;
	ctx.now = 1790000000;
	ctx.arena = &a;
	ev.seq = 123456;
	ev.hlc = 0x0190000000000000ULL;
	wj_case_number_format(number, sizeof(number), node, 20261122, 123456);
	if (wj_case_submit(&ctx, it, &rb.sub, number, &ev, NULL) == 0) {
		ev.seq = 123456;
		ev.hlc = 0x0190000000000000ULL;
		n = wuji__event__get_packed_size(&ev);
	}
	wj_arena_free(&a);
	return n;
}

static int setup_gen(struct subgen *g, const Wuji__CatalogItem *it,
		     uint64_t node, size_t target, wj_arena_t *a)
{
	char code[13];
	size_t base;

	memset(g, 0, sizeof(*g));
	g->item_code = wj_arena_strdup(a, it->code);
	g->n_materials = it->n_materials;
	g->materials = wj_arena_alloc(a, (it->n_materials + 1) *
					 sizeof(*g->materials));
	for (size_t i = 0; i < it->n_materials; i++)
		g->materials[i] = wj_arena_strdup(a, it->materials[i]->name);
	wj_division_format(node, code);
	memcpy(g->county6, code, 6);
	g->county6[6] = '\0';
	g->name_bytes = 9;
	base = event_size(g, it, node);
	if (base == 0) {
		say("the core refuses a submission of item %s at %012" PRIu64
		    ": is it applicable at that level?", it->code, node);
		return -1;
	}
	if (target > base) {
		size_t want = 9 + (target - base);

		if (want > NAME_MAX_BYTES)
			want = NAME_MAX_BYTES;
		g->name_bytes = want - want % 3;
	}
	g->event_bytes = event_size(g, it, node);
	if (target && g->event_bytes + 16 < target)
		say("note: item %s makes Events of %zu bytes at most (the "
		    "applicant name is limited to 512 bytes), short of the "
		    "%zu asked", it->code, g->event_bytes, target);
	return 0;
}

/* ----------------------------------------- submissions, flat out */

/* Submits n cases on `clients` pipelined clients, as fast as the node
 * acknowledges them (an ack is durable: the node replies after its group
 * commit).  Runs in its own thread while the main thread watches the
 * tree. */
struct flood {
	const char *endpoint;
	const struct subgen *g;
	unsigned clients, window;
	uint64_t n, first_ticket;
	int64_t deadline;
	int64_t t_start, t_last_ack;
	_Atomic uint64_t acked, failed;
	_Atomic bool finished;
	pthread_mutex_t mu;
	char max_number[64];     /* highest case number acknowledged */
	unsigned shown;
};

static void flood_error(struct flood *f, const char *what, const char *msg,
			int code)
{
	if (f->shown++ < ERRORS_SHOWN)
		say("%s: %s (code %d)%s", what, msg && *msg ? msg : "no message",
		    code, f->shown == ERRORS_SHOWN ?
		    "; further errors are only counted" : "");
}

static void flood_reply(struct flood *f, const Wuji__Reply *r)
{
	if (r->code == WUJI__ERROR_CODE__OK &&
	    r->result_case == WUJI__REPLY__RESULT_NUMBER && r->number &&
	    *r->number) {
		pthread_mutex_lock(&f->mu);
		if (!f->max_number[0] || number_cmp(r->number,
						    f->max_number) > 0)
			snprintf(f->max_number, sizeof(f->max_number), "%s",
				 r->number);
		f->t_last_ack = wj_bench_now_ns();
		pthread_mutex_unlock(&f->mu);
		atomic_fetch_add(&f->acked, 1);
	} else {
		atomic_fetch_add(&f->failed, 1);
		flood_error(f, "submission refused", r->error, r->code);
	}
}

static void *flood_run(void *arg)
{
	struct flood *f = arg;
	unsigned k, nc = f->clients;
	wj_client_t **cl = calloc(nc, sizeof(*cl));
	unsigned *out = calloc(nc, sizeof(*out));
	bool *dead = calloc(nc, sizeof(*dead));
	struct wj_bench_reqbuf rb;
	wj_arena_t a;
	uint64_t sent = 0;
	unsigned rr = 0;

	wj_arena_init(&a, 64 * 1024);
	reqbuf_init(&rb, f->g);
	for (k = 0; cl && k < nc; k++) {
		cl[k] = open_client(f->endpoint, SEND_TIMEOUT_MS);
		if (!cl[k])
			dead[k] = true;
	}
	f->t_start = wj_bench_now_ns();
	while (cl && out && dead) {
		uint64_t outstanding = 0;
		unsigned alive = 0, got = 0;

		for (k = 0; k < nc; k++) {
			while (!dead[k] && out[k] < f->window && sent < f->n &&
			       !stop) {
				wj_err_t err;

				reqbuf_fill(&rb, f->g, f->first_ticket + sent);
				wj_err_clear(&err);
				if (wj_client_send(cl[k], &rb.req, &err) < 0) {
					flood_error(f, "send failed", err.msg,
						    err.code);
					dead[k] = true;
					break;
				}
				sent++;
				out[k]++;
			}
			outstanding += out[k];
			alive += !dead[k];
		}
		if (outstanding == 0 && (sent >= f->n || !alive || stop))
			break;
		if (wj_bench_now_ns() > f->deadline || stop) {
			atomic_fetch_add(&f->failed, outstanding);
			say("%" PRIu64 " submissions unanswered at the deadline",
			    outstanding);
			break;
		}
		for (k = 0; k < nc; k++) {
			Wuji__Reply *r;

			while (out[k] && wj_client_recv(cl[k], 0, &a, &r,
							NULL) == 0) {
				out[k]--;
				got++;
				flood_reply(f, r);
				wj_arena_reset(&a);
			}
		}
		if (got)
			continue;
		/* Nothing waiting: block briefly on one client; a group
		 * commit answers all clients at once, so the others are
		 * read right after. */
		for (unsigned j = 0; j < nc; j++) {
			Wuji__Reply *r;

			k = (rr + j) % nc;
			if (!out[k])
				continue;
			if (wj_client_recv(cl[k], 2, &a, &r, NULL) == 0) {
				out[k]--;
				flood_reply(f, r);
			}
			wj_arena_reset(&a);
			rr = k + 1;
			break;
		}
	}
	/* Sends that never happened count as failures, not as nothing. */
	if (sent < f->n)
		atomic_fetch_add(&f->failed, f->n - sent);
	for (k = 0; cl && k < nc; k++)
		wj_client_close(cl[k]);
	free(cl);
	free(out);
	free(dead);
	wj_arena_free(&a);
	atomic_store(&f->finished, true);
	return NULL;
}

/* ------------------------------------------- waiting for arrival */

/* One node the cases must reach: done when its case count reaches
 * target.  Probed with `show` of the highest number (cheap), confirmed
 * with `status` (the proof). */
struct arrival {
	int node;
	const char *name;        /* for progress and fields */
	wj_client_t *c;
	uint64_t base, target, last_count;
	int64_t done_ns;         /* 0 until confirmed */
	bool max_seen;
};

static void arrival_init(struct arrival *v, const struct tree *t, int node,
			 const char *name)
{
	memset(v, 0, sizeof(*v));
	v->node = node;
	v->name = name;
	v->c = open_client(t->nodes[node].endpoint, CALL_TIMEOUT_MS);
	if (v->c && node_cases(v->c, &v->base) < 0)
		say("%s %012" PRIu64 " does not answer status", name,
		    t->nodes[node].code);
}

/* Cases that arrived since the start (the count may not be read yet). */
static uint64_t arrived(const struct arrival *v)
{
	return v->last_count > v->base ? v->last_count - v->base : 0;
}

static void arrival_close(struct arrival *v)
{
	if (v->c)
		wj_client_close(v->c);
	v->c = NULL;
}

/* Probes every arrival not done yet once.  Returns how many are done. */
static size_t arrival_probe(struct arrival *v, size_t n, const char *max)
{
	size_t done = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t cases;

		if (v[i].done_ns) {
			done++;
			continue;
		}
		if (!v[i].c)
			continue;
		if (!v[i].max_seen && node_has(v[i].c, max) == 1)
			v[i].max_seen = true;
		if (!v[i].max_seen)
			continue;
		if (node_cases(v[i].c, &cases) == 0) {
			v[i].last_count = cases;
			if (cases >= v[i].target) {
				v[i].done_ns = wj_bench_now_ns();
				done++;
			}
		}
	}
	return done;
}

static void arrival_progress(struct arrival *v, size_t n, int64_t t0,
			     uint64_t acked)
{
	char line[512];
	size_t k = 0;

	k += (size_t)snprintf(line + k, sizeof(line) - k, "%5.1f s: acked %"
			      PRIu64, (wj_bench_now_ns() - t0) / 1e9, acked);
	for (size_t i = 0; i < n && k < sizeof(line); i++) {
		uint64_t cases = v[i].last_count;

		if (!v[i].done_ns && v[i].c &&
		    node_cases(v[i].c, &cases) == 0)
			v[i].last_count = cases;
		k += (size_t)snprintf(line + k, sizeof(line) - k, ", %s %"
				      PRIu64 "%s", v[i].name,
				      cases > v[i].base ? cases - v[i].base : 0,
				      v[i].done_ns ? " (all)" : "");
	}
	say("%s", line);
}

/* Waits until arrival `last` has every case the submitter f got
 * acknowledged (the others are timed on the way), probing every poll_ms
 * once f has finished.  Returns 0, or -1 at the deadline, when nothing
 * moves for STALL_S, or when interrupted. */
static int arrival_wait(struct arrival *v, size_t n, size_t last,
			struct flood *f, int64_t t0, int64_t deadline,
			unsigned poll_ms)
{
	char max[64] = "";
	int64_t next_progress = wj_bench_now_ns() + NS_PER_S, moved = wj_bench_now_ns();
	uint64_t last_sum = 0;

	for (;;) {
		int64_t now = wj_bench_now_ns();
		bool final = atomic_load(&f->finished);
		uint64_t acked = atomic_load(&f->acked);

		if (stop)
			return -1;
		if (final) {
			pthread_mutex_lock(&f->mu);
			snprintf(max, sizeof(max), "%s", f->max_number);
			pthread_mutex_unlock(&f->mu);
			for (size_t i = 0; i < n; i++)
				v[i].target = v[i].base + acked;
		}
		if (final && max[0]) {
			arrival_probe(v, n, max);
			if (v[last].done_ns) {
				for (size_t i = 0; i < n; i++)
					if (!v[i].done_ns)
						say("note: %s showed %" PRIu64 " of "
						    "the %" PRIu64 " cases when %s "
						    "had them all (not timed)",
						    v[i].name, arrived(&v[i]),
						    v[i].target - v[i].base,
						    v[last].name);
				return 0;
			}
		} else if (final && !max[0]) {
			return -1;  /* nothing was acknowledged */
		}
		now = wj_bench_now_ns();
		if (now >= next_progress) {
			uint64_t sum = acked;

			arrival_progress(v, n, t0, acked);
			next_progress = now + NS_PER_S;
			for (size_t i = 0; i < n; i++)
				sum += v[i].last_count;
			if (sum != last_sum)
				moved = now;
			last_sum = sum;
		}
		if (final && now - moved > STALL_S * NS_PER_S) {
			say("no case moved for %d s: %s has %" PRIu64 " of the %"
			    PRIu64 " cases; giving up (see node.log in each "
			    "node's directory)", STALL_S, v[last].name,
			    arrived(&v[last]), v[last].target - v[last].base);
			return -1;
		}
		if (now > deadline) {
			say("gave up waiting after the timeout: %s has %"
			    PRIu64 " of the %" PRIu64 " cases", v[last].name,
			    arrived(&v[last]), v[last].target - v[last].base);
			return -1;
		}
		sleep_ns((int64_t)poll_ms * NS_PER_MS);
	}
}

/* ------------------------------------------------ W1: latency phase */

/* Open loop: submission i is due at t0 + i/rate whatever happened before
 * (so a stall shows in the figures instead of delaying later sends), and
 * its latency runs from that due time until the province (or the
 * --visible-at level) and every level below it have shown it stored
 * (--probe show: the first poll reply from the target that shows it). */
enum { L_UNSENT, L_SENT, L_ACKED, L_FAILED, L_VISIBLE };
#define WATCH_LEVELS 4   /* township, county, city, province */

struct lcase {
	int64_t due, acked, visible;
	int64_t at[WATCH_LEVELS];   /* when each watched level showed it */
	int state;
	char number[48];
};

struct latrun {
	const char *village_ep, *target_ep;
	const struct subgen *g;
	uint64_t first_ticket;
	unsigned rate;
	uint64_t total;
	struct lcase *cs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t *pending;       /* acked, not yet visible, in order */
	size_t n_pending;
	bool sender_done;
	int64_t lag_max;         /* how late the bench sent, worst */
	uint64_t failed;
	unsigned shown;
	int64_t *rounds;         /* poll round times */
	size_t n_rounds;
	int64_t gap_ns;          /* pause between rounds */
	/* --probe watch: cases the change logs of every level from the
	 * township up to the target have shown, matched with the acknowledged
	 * ones by number, whichever comes first.  Relays hand cases up before
	 * their own fsync (an Ahead), so the target may store a case before a
	 * level below it has: it counts as visible once every level has. */
	bool watch;
	const char *watch_ep[WATCH_LEVELS];   /* township first, the target last */
	uint64_t watch_after[WATCH_LEVELS];   /* each one's log end before the run */
	unsigned n_watch;
	bool watch_failed;         /* one watcher gave up: the others stop too */
	struct seen {
		char number[48];
		int64_t at[WATCH_LEVELS];   /* when watch_ep[k] showed it */
		int64_t idx;     /* the case, -1 = not acknowledged yet */
		uint8_t levels;  /* bit k: watch_ep[k] showed it */
		bool used;
	} *seen;
	size_t seen_cap;         /* a power of two */
	uint64_t n_visible;
};

static struct seen *seen_slot(struct latrun *L, const char *number)
{
	uint32_t h = 2166136261u;

	for (const char *p = number; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (size_t k = 0; k < L->seen_cap; k++) {
		struct seen *s = &L->seen[(h + k) & (L->seen_cap - 1)];

		if (!s->used) {
			s->used = true;
			snprintf(s->number, sizeof(s->number), "%s", number);
			s->idx = -1;
			return s;
		}
		if (strcmp(s->number, number) == 0)
			return s;
	}
	return NULL; /* full: cannot happen with cap >= 4 x the cases */
}

/* Called with L->mu held once both halves of a case are known. */
static void seen_match(struct latrun *L, struct seen *s)
{
	struct lcase *lc;

	if (s->idx < 0 || s->levels != (1u << L->n_watch) - 1)
		return;
	lc = &L->cs[s->idx];
	if (lc->state == L_ACKED) {
		/* Visible once the last of them showed it. */
		lc->visible = 0;
		for (unsigned k = 0; k < L->n_watch; k++)
			if (s->at[k] > lc->visible)
				lc->visible = s->at[k];
		memcpy(lc->at, s->at, sizeof(lc->at));
		lc->state = L_VISIBLE;
		L->n_visible++;
	}
}

static void lat_error(struct latrun *L, const char *what, const char *msg,
		      int code)
{
	if (L->shown++ < ERRORS_SHOWN)
		say("%s: %s (code %d)", what, msg && *msg ? msg : "no message",
		    code);
}

static void *lat_send(void *arg)
{
	struct latrun *L = arg;
	wj_client_t *c = open_client(L->village_ep, SEND_TIMEOUT_MS);
	uint64_t *by_id = calloc(L->total + 2, sizeof(*by_id));
	struct wj_bench_reqbuf rb;
	wj_arena_t a;
	uint64_t i = 0, outstanding = 0, id0 = 0;
	int64_t t0, end;

	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	wj_arena_init(&a, 64 * 1024);
	reqbuf_init(&rb, L->g);
	t0 = wj_bench_now_ns() + 10 * NS_PER_MS;
	for (uint64_t k = 0; k < L->total; k++)
		L->cs[k].due = t0 + (int64_t)(k * (uint64_t)NS_PER_S / L->rate);
	end = t0 + (int64_t)(L->total * (uint64_t)NS_PER_S / L->rate) +
	      10 * NS_PER_S;
	while (c && by_id) {
		int64_t now = wj_bench_now_ns(), wait;
		Wuji__Reply *r;

		while (i < L->total && now >= L->cs[i].due && !stop) {
			wj_err_t err;

			reqbuf_fill(&rb, L->g, L->first_ticket + i);
			wj_err_clear(&err);
			if (wj_client_send(c, &rb.req, &err) < 0) {
				pthread_mutex_lock(&L->mu);
				L->cs[i].state = L_FAILED;
				L->failed++;
				lat_error(L, "send failed", err.msg, err.code);
				pthread_mutex_unlock(&L->mu);
			} else {
				if (!id0)
					id0 = rb.req.id;
				if (rb.req.id - id0 <= L->total)
					by_id[rb.req.id - id0] = i + 1;
				now = wj_bench_now_ns();
				if (now - L->cs[i].due > L->lag_max)
					L->lag_max = now - L->cs[i].due;
				L->cs[i].state = L_SENT;
				outstanding++;
			}
			i++;
			now = wj_bench_now_ns();
		}
		if (stop || (i >= L->total && outstanding == 0))
			break;
		if (now > end) {
			say("%" PRIu64 " submissions unanswered 10 s after the "
			    "last was due", outstanding);
			break;
		}
		wait = i < L->total ? L->cs[i].due - now : 100 * NS_PER_MS;
		if (outstanding == 0) {
			sleep_ns(wait);
			continue;
		}
		if (wj_client_recv(c, wait >= NS_PER_MS ?
				   (int)(wait / NS_PER_MS) : 0, &a, &r,
				   NULL) < 0) {
			wj_arena_reset(&a);
			if (wait < NS_PER_MS)
				sleep_ns(wait < 50000 ? wait : 50000);
			continue;
		}
		{
			uint64_t slot = r->id >= id0 && r->id - id0 <= L->total ?
					by_id[r->id - id0] : 0;
			int64_t t = wj_bench_now_ns();

			if (slot == 0) {
				wj_arena_reset(&a);
				continue;  /* not one of ours */
			}
			outstanding--;
			pthread_mutex_lock(&L->mu);
			if (r->code == WUJI__ERROR_CODE__OK &&
			    r->result_case == WUJI__REPLY__RESULT_NUMBER &&
			    r->number) {
				struct lcase *lc = &L->cs[slot - 1];

				snprintf(lc->number, sizeof(lc->number), "%s",
					 r->number);
				lc->acked = t;
				lc->state = L_ACKED;
				L->pending[L->n_pending++] = slot - 1;
				if (L->watch) {
					struct seen *sn = seen_slot(L, lc->number);

					if (sn) {
						sn->idx = (int64_t)(slot - 1);
						seen_match(L, sn);
					}
				}
				pthread_cond_signal(&L->cv);
			} else {
				L->cs[slot - 1].state = L_FAILED;
				L->failed++;
				lat_error(L, "submission refused", r->error,
					  r->code);
			}
			pthread_mutex_unlock(&L->mu);
		}
		wj_arena_reset(&a);
	}
	pthread_mutex_lock(&L->mu);
	for (uint64_t k = 0; k < L->total; k++) {
		if (L->cs[k].state == L_SENT || L->cs[k].state == L_UNSENT) {
			L->cs[k].state = L_FAILED;
			L->failed++;
		}
	}
	L->sender_done = true;
	pthread_cond_signal(&L->cv);
	pthread_mutex_unlock(&L->mu);
	if (c)
		wj_client_close(c);
	free(by_id);
	wj_arena_free(&a);
	return NULL;
}

/* The poller: rounds of pipelined `show`s at the target node for every
 * case acknowledged and not seen yet, each round starting as soon as the
 * previous one has all its replies. */
static int lat_poll(struct latrun *L, double drain_s)
{
	wj_client_t *c = open_client(L->target_ep, CALL_TIMEOUT_MS);
	uint64_t *batch = malloc(POLL_BATCH_MAX * sizeof(*batch));
	int64_t drain_deadline = 0;
	wj_arena_t a;
	int rc = 0;

	if (!c || !batch) {
		if (c)
			wj_client_close(c);
		free(batch);
		return -1;
	}
	wj_arena_init(&a, 256 * 1024);
	for (;;) {
		size_t nb = 0, got = 0;
		uint64_t id0 = 0;
		int64_t r0;
		bool done;

		pthread_mutex_lock(&L->mu);
		while (L->n_pending == 0 && !L->sender_done && !stop) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 2 * NS_PER_MS;
			if (ts.tv_nsec >= NS_PER_S) {
				ts.tv_sec++;
				ts.tv_nsec -= NS_PER_S;
			}
			pthread_cond_timedwait(&L->cv, &L->mu, &ts);
		}
		done = L->sender_done && L->n_pending == 0;
		for (size_t k = 0; k < L->n_pending && nb < POLL_BATCH_MAX; k++)
			batch[nb++] = L->pending[k];
		if (L->sender_done && !drain_deadline)
			drain_deadline = wj_bench_now_ns() +
					 (int64_t)(drain_s * NS_PER_S);
		pthread_mutex_unlock(&L->mu);
		if (done || stop)
			break;
		if (drain_deadline && wj_bench_now_ns() > drain_deadline) {
			say("%zu or more cases still not visible %.0f s after "
			    "the last submission", nb, drain_s);
			rc = -1;
			break;
		}
		r0 = wj_bench_now_ns();
		for (size_t k = 0; k < nb; k++) {
			Wuji__Request req;
			Wuji__ShowRequest sh;
			wj_err_t err;

			show_req(&req, &sh, L->cs[batch[k]].number);
			wj_err_clear(&err);
			if (wj_client_send(c, &req, &err) < 0) {
				say("poll: %s", err.msg);
				rc = -1;
				goto out;
			}
			if (!id0)
				id0 = req.id;
		}
		while (got < nb) {
			Wuji__Reply *r;
			wj_err_t err;
			int64_t t;

			wj_err_clear(&err);
			if (wj_client_recv(c, CALL_TIMEOUT_MS, &a, &r, &err) < 0) {
				say("poll: %s", err.msg);
				rc = -1;
				goto out;
			}
			t = wj_bench_now_ns();
			if (r->id < id0 || r->id - id0 >= nb) {
				wj_arena_reset(&a);
				continue;
			}
			got++;
			if (r->code == WUJI__ERROR_CODE__OK) {
				struct lcase *lc = &L->cs[batch[r->id - id0]];

				pthread_mutex_lock(&L->mu);
				if (lc->state == L_ACKED) {
					lc->visible = t;
					lc->state = L_VISIBLE;
				}
				pthread_mutex_unlock(&L->mu);
			} else if (r->code != WUJI__ERROR_CODE__E_NOT_FOUND) {
				lat_error(L, "poll refused", r->error, r->code);
			}
			wj_arena_reset(&a);
		}
		if (L->n_rounds < ROUNDS_MAX)
			L->rounds[L->n_rounds++] = wj_bench_now_ns() - r0;
		sleep_ns(L->gap_ns);
		/* Drop the cases seen from the pending list, keeping order. */
		pthread_mutex_lock(&L->mu);
		{
			size_t w = 0;

			for (size_t k = 0; k < L->n_pending; k++)
				if (L->cs[L->pending[k]].state != L_VISIBLE)
					L->pending[w++] = L->pending[k];
			L->n_pending = w;
		}
		pthread_mutex_unlock(&L->mu);
	}
out:
	wj_arena_free(&a);
	wj_client_close(c);
	free(batch);
	return rc;
}

static void watch_req(Wuji__Request *req, Wuji__WatchRequest *w, uint64_t after,
		      uint32_t wait_ms, bool from_now)
{
	wuji__request__init(req);
	wuji__watch_request__init(w);
	w->after = after;
	w->wait_ms = wait_ms;
	w->max = 10000;
	w->from_now = from_now;
	req->op_case = WUJI__REQUEST__OP_WATCH;
	req->watch = w;
}

/* The target's change-log position now, where the watch starts. */
static int watch_start(const char *ep, uint64_t *after)
{
	wj_client_t *c = open_client(ep, CALL_TIMEOUT_MS);
	Wuji__Request req;
	Wuji__WatchRequest w;
	Wuji__Reply *r = NULL;
	wj_arena_t a;
	wj_err_t err;
	int rc = -1;

	if (!c)
		return -1;
	wj_arena_init(&a, 4096);
	watch_req(&req, &w, 0, 0, true);
	wj_err_clear(&err);
	if (wj_client_call(c, &req, &a, &r, &err) == 0 &&
	    r->code == WUJI__ERROR_CODE__OK &&
	    r->result_case == WUJI__REPLY__RESULT_CHANGES) {
		*after = r->changes->last;
		rc = 0;
	} else {
		say("watch at %s: %s", ep, r && r->error ? r->error : err.msg);
	}
	wj_arena_free(&a);
	wj_client_close(c);
	return rc;
}

/* A watcher gave up: the others stop too, the figures being lost anyway. */
static void lat_give_up(struct latrun *L)
{
	pthread_mutex_lock(&L->mu);
	L->watch_failed = true;
	pthread_mutex_unlock(&L->mu);
}

/* The prober with --probe watch: one watch held at level k at a time,
 * answered by the node as soon as it stores events; a case counts as
 * visible when the replies naming its submission have come from every
 * level.  Costs a node one read per commit instead of a poll per case. */
static int lat_watch(struct latrun *L, unsigned k, double drain_s)
{
	wj_client_t *c = open_client(L->watch_ep[k], CALL_TIMEOUT_MS);
	int64_t drain_deadline = 0;
	uint64_t after = L->watch_after[k];
	bool top = k + 1 == L->n_watch;
	wj_arena_t a;
	int rc = 0;

	if (!c) {
		lat_give_up(L);
		return -1;
	}
	wj_arena_init(&a, 256 * 1024);
	while (!stop) {
		Wuji__Request req;
		Wuji__WatchRequest w;
		Wuji__Reply *r;
		wj_err_t err;
		int64_t r0 = wj_bench_now_ns(), t;
		bool done;

		pthread_mutex_lock(&L->mu);
		done = (L->sender_done && L->n_visible + L->failed >= L->total) ||
		       L->watch_failed;
		if (L->sender_done && !drain_deadline)
			drain_deadline = r0 + (int64_t)(drain_s * NS_PER_S);
		pthread_mutex_unlock(&L->mu);
		if (done)
			break;
		if (drain_deadline && r0 > drain_deadline) {
			say("cases still not visible %.0f s after the last "
			    "submission", drain_s);
			rc = -1;
			break;
		}
		watch_req(&req, &w, after, 200, false);
		wj_err_clear(&err);
		if (wj_client_send(c, &req, &err) < 0 ||
		    wj_client_recv(c, CALL_TIMEOUT_MS + 200, &a, &r, &err) < 0) {
			say("watch: %s", err.msg);
			rc = -1;
			break;
		}
		t = wj_bench_now_ns();
		if (r->code != WUJI__ERROR_CODE__OK ||
		    r->result_case != WUJI__REPLY__RESULT_CHANGES) {
			lat_error(L, "watch refused", r->error, r->code);
			rc = -1;
			break;
		}
		pthread_mutex_lock(&L->mu);
		for (size_t i = 0; i < r->changes->n_changes; i++) {
			const Wuji__Change *ch = r->changes->changes[i];
			struct seen *sn;

			if (ch->type != WUJI__EVENT_TYPE__EV_SUBMITTED ||
			    !ch->case_number || !*ch->case_number)
				continue;
			sn = seen_slot(L, ch->case_number);
			if (sn && !(sn->levels & (1u << k))) {
				sn->levels |= (uint8_t)(1u << k);
				sn->at[k] = t;
				seen_match(L, sn);
			}
		}
		pthread_mutex_unlock(&L->mu);
		after = r->changes->last;
		if (top && r->changes->n_changes && L->n_rounds < ROUNDS_MAX)
			L->rounds[L->n_rounds++] = t - r0;
		wj_arena_reset(&a);
	}
	wj_arena_free(&a);
	wj_client_close(c);
	if (rc != 0)
		lat_give_up(L);
	return rc;
}

struct lat_watcher {
	struct latrun *L;
	unsigned k;
	int rc;
	pthread_t tid;
};

static void *lat_watch_main(void *arg)
{
	struct lat_watcher *w = arg;

	w->rc = lat_watch(w->L, w->k, LAT_DRAIN_S);
	return NULL;
}

struct latres {
	struct dist lat, ack, rounds;
	uint64_t sent, visible, failed;
	double lag_max_ms;
};

static int w1_latency(const struct topts *o, const struct tree *t,
		      const struct subgen *g, uint64_t first_ticket,
		      int target, struct latres *res)
{
	struct latrun L = { 0 };
	pthread_t tid;
	int64_t *lat = NULL, *ack = NULL;
	size_t nl = 0, na = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	res->lat = res->ack = res->rounds = (struct dist){ NAN, NAN, NAN, 0 };
	L.village_ep = t->nodes[t->village].endpoint;
	L.target_ep = t->nodes[target].endpoint;
	L.g = g;
	L.first_ticket = first_ticket;
	L.rate = o->rate;
	L.gap_ns = (int64_t)o->poll_gap_us * 1000;
	L.total = (uint64_t)llround(o->rate * o->duration);
	if (L.total == 0)
		return 0;
	L.cs = calloc(L.total, sizeof(*L.cs));
	L.pending = calloc(L.total, sizeof(*L.pending));
	L.rounds = malloc(ROUNDS_MAX * sizeof(*L.rounds));
	lat = malloc(L.total * sizeof(*lat));
	ack = malloc(L.total * sizeof(*ack));
	if (!L.cs || !L.pending || !L.rounds || !lat || !ack) {
		say("out of memory");
		rc = -1;
		goto out;
	}
	L.watch = o->probe_watch;
	if (L.watch) {
		const int up[WATCH_LEVELS] = { t->township, t->county, t->city, t->province };

		for (size_t k = 0; k < WATCH_LEVELS; k++) {
			L.watch_ep[L.n_watch++] = t->nodes[up[k]].endpoint;
			if (up[k] == target)
				break;
		}
		L.seen_cap = 1;
		while (L.seen_cap < 4 * L.total)
			L.seen_cap <<= 1;
		L.seen = calloc(L.seen_cap, sizeof(*L.seen));
		for (unsigned k = 0; L.seen && k < L.n_watch; k++)
			if (watch_start(L.watch_ep[k], &L.watch_after[k]) != 0) {
				free(L.seen);
				L.seen = NULL;
			}
		if (!L.seen) {
			say("cannot start watching the levels up to %s", L.target_ep);
			rc = -1;
			goto out;
		}
	}
	pthread_mutex_init(&L.mu, NULL);
	pthread_cond_init(&L.cv, NULL);
	say("W1 latency: %u/s for %.0f s at the village, open loop; %s at %s "
	    "%012" PRIu64, o->rate, o->duration,
	    L.watch ? "watching the change log" : "polling `show`",
	    t->nodes[target].level, t->nodes[target].code);
	if (pthread_create(&tid, NULL, lat_send, &L) != 0) {
		say("cannot start a thread: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	/* When the poller fails, the sender still ends on its own deadline:
	 * only the figures are lost. */
	struct lat_watcher lw[WATCH_LEVELS];
	unsigned started = 0;
	int prc = 0;

	for (; L.watch && started + 1 < L.n_watch; started++) {
		lw[started] = (struct lat_watcher){ .L = &L, .k = started };
		prc = pthread_create(&lw[started].tid, NULL, lat_watch_main, &lw[started]);
		if (prc != 0)
			break;
	}
	if (prc != 0) {
		say("cannot start a thread: %s", strerror(prc));
		lat_give_up(&L);   /* the watchers started end at once */
		rc = -1;
	} else {
		rc = L.watch ? lat_watch(&L, L.n_watch - 1, LAT_DRAIN_S)
			     : lat_poll(&L, LAT_DRAIN_S);
	}
	for (unsigned k = 0; k < started; k++) {
		pthread_join(lw[k].tid, NULL);
		if (lw[k].rc != 0)
			rc = -1;
	}
	pthread_join(tid, NULL);
	if (o->dump) {
		FILE *df = fopen(o->dump, "w");

		if (!df) {
			say("--dump %s: %s", o->dump, strerror(errno));
		} else {
			int64_t base = L.cs[0].due;

			fprintf(df, "# case due_ms ack_ms visible_ms, then the "
				"time each watched level showed it, township "
				"first (ms from the first due time; -1: never)\n");
			for (uint64_t k = 0; k < L.total; k++) {
				struct lcase *lc = &L.cs[k];

				fprintf(df, "%" PRIu64 " %.3f %.3f %.3f", k,
					(lc->due - base) / 1e6,
					lc->acked ? (lc->acked - base) / 1e6 : -1,
					lc->visible ? (lc->visible - base) / 1e6
						    : -1);
				for (unsigned w = 0; L.watch && w < L.n_watch; w++)
					fprintf(df, " %.3f", lc->at[w] ?
						(lc->at[w] - base) / 1e6 : -1);
				fputc('\n', df);
			}
			fclose(df);
		}
	}
	for (uint64_t k = 0; k < L.total; k++) {
		struct lcase *lc = &L.cs[k];

		if (lc->state == L_VISIBLE)
			lat[nl++] = lc->visible - lc->due;
		if (lc->state == L_VISIBLE || lc->state == L_ACKED)
			ack[na++] = lc->acked - lc->due;
		if (lc->state != L_UNSENT)
			res->sent++;
	}
	res->visible = nl;
	res->failed = L.failed + (na - nl);
	res->lat = dist_of(lat, nl);
	res->ack = dist_of(ack, na);
	res->rounds = dist_of(L.rounds, L.n_rounds);
	res->lag_max_ms = L.lag_max / 1e6;
	say("W1 latency: %zu of %" PRIu64 " visible: p50 %.2f ms, p99 %.2f ms, "
	    "max %.2f ms; village ack p50 %.2f ms, p99 %.2f ms; %zu %s, "
	    "p50 %.3f ms, max %.2f ms; bench sent late by %.2f ms at "
	    "most", nl, L.total, res->lat.p50, res->lat.p99, res->lat.max,
	    res->ack.p50, res->ack.p99, L.n_rounds,
	    L.watch ? "watch replies" : "poll rounds", res->rounds.p50,
	    res->rounds.max, res->lag_max_ms);
	pthread_mutex_destroy(&L.mu);
	pthread_cond_destroy(&L.cv);
out:
	free(L.seen);
	free(L.cs);
	free(L.pending);
	free(L.rounds);
	free(lat);
	free(ack);
	return rc;
}

/* -------------------------------------------------------------- W1 */

/* W1's latency floor on this disk: five durable commits one after the
 * other (village to province), at W1's rate, with nothing else in the
 * way (bench_disk.c).  Run while the tree is idle, just before the
 * latency phase, so both see the disk in the same state. */
static int disk_chain(const struct topts *o, const struct tree *t, unsigned scatter,
		      struct wj_disk_chain *c)
{
	uint64_t tokens = (uint64_t)o->rate * DISK_CHAIN_S;
	char err[256];

	if (tokens > DISK_CHAIN_TOKENS_MAX)
		tokens = DISK_CHAIN_TOKENS_MAX;
	if (wj_disk_chain_floor(t->dir, 5, o->rate, (unsigned)(tokens ? tokens : 1), scatter, c,
				err, sizeof(err)) < 0) {
		say("disk chain: %s", err);
		return -1;
	}
	say("disk chain: %zu tokens through 5 durable commits in a row at %u"
	    "/s, %u more pages a commit: p50 %.2f ms, p99 %.2f ms, max %.2f ms", c->n,
	    o->rate, scatter, c->p50, c->p99, c->max);
	return 0;
}

/* PREFIX_p50_ms, _p99_ms and _max_ms of a disk chain. */
static void jchain(struct jline *j, const char *prefix, const struct wj_disk_chain *c)
{
	char key[64];

	snprintf(key, sizeof(key), "%s_p50_ms", prefix);
	jnum(j, key, c->p50, 3);
	snprintf(key, sizeof(key), "%s_p99_ms", prefix);
	jnum(j, key, c->p99, 3);
	snprintf(key, sizeof(key), "%s_max_ms", prefix);
	jnum(j, key, c->max, 3);
}

struct common {
	struct wj_disk_fsync disk;
	uint64_t ticket;         /* applicant numbers never repeat */
	bool failed;
};

static void add_common(struct jline *j, const struct common *cm,
		       const struct tree *t)
{
	add_mem(j, t);
	jnum(j, "disk_fsync_p50_ms", cm->disk.p50, 3);
	jnum(j, "disk_fsync_p99_ms", cm->disk.p99, 3);
	jnum(j, "disk_fsync_append_p50_ms", cm->disk.ap50, 3);
	jnum(j, "disk_fsync_append_p99_ms", cm->disk.ap99, 3);
	{
		FILE *f = fopen("/proc/loadavg", "r");
		double l1 = NAN;

		if (f) {
			if (fscanf(f, "%lf", &l1) != 1)
				l1 = NAN;
			fclose(f);
		}
		jnum(j, "load1", l1, 2);
	}
	ju64(j, "nodes", t->n);
	jstr(j, "shape", t->shape);
}

static void emit(struct jline *j)
{
	jraw(j, "}");
	printf("%s\n", j->buf);
	fflush(stdout);
}

static bool have_chain(const struct tree *t, const char *w)
{
	if (t->village >= 0 && t->township >= 0 && t->county >= 0 &&
	    t->city >= 0 && t->province >= 0)
		return true;
	say("%s needs a village and all its ancestors: use a shape with five "
	    "levels (e.g. 1-1-1-1-1)", w);
	return false;
}

static void skipped(const char *w, const char *why, const struct common *cm,
		    const struct tree *t)
{
	struct jline j = { .n = 0 };

	jraw(&j, "{");
	jstr(&j, "workload", w);
	jnum(&j, "throughput_rps", NAN, 0);
	jnum(&j, "lat_p50_ms", NAN, 0);
	jnum(&j, "lat_p99_ms", NAN, 0);
	jnum(&j, "lat_max_ms", NAN, 0);
	jnum(&j, "catchup_s", NAN, 0);
	add_common(&j, cm, t);
	jstr(&j, "skipped", why);
	emit(&j);
}

static int chain_arrivals(const struct tree *t, struct arrival *v)
{
	arrival_init(&v[0], t, t->township, "township");
	arrival_init(&v[1], t, t->county, "county");
	arrival_init(&v[2], t, t->city, "city");
	arrival_init(&v[3], t, t->province, "province");
	for (int i = 0; i < 4; i++)
		if (!v[i].c)
			return -1;
	return 0;
}

static void w1(const struct topts *o, const struct tree *t,
	       struct common *cm)
{
	struct jline j = { .n = 0 };
	struct flood f = { 0 };
	struct arrival v[4];
	struct subgen g = { 0 };
	struct latres lr = { 0 };
	struct cpu_snap cpu0;
	struct cpu_sum tp = { NAN, NAN, NAN };
	Wuji__CatalogItem *it;
	wj_arena_t a;
	pthread_t tid;
	struct wj_disk_chain chain = { NAN, NAN, NAN, 0, 0, 0, 0 };
	struct wj_disk_chain store_chain = { NAN, NAN, NAN, 0, 0, 0, 0 };
	bool chain_failed = false;
	double secs = NAN, rps = NAN;
	int target;
	int rc = -1;

	if (!have_chain(t, "W1")) {
		skipped("W1", "shape has no five-level chain", cm, t);
		return;
	}
	wj_arena_init(&a, 64 * 1024);
	memset(v, 0, sizeof(v));
	cpu_take(t, &cpu0);
	lr.lat = lr.ack = lr.rounds = (struct dist){ NAN, NAN, NAN, 0 };
	it = fetch_item(t->nodes[t->village].endpoint, o->item, &a);
	if (!it || setup_gen(&g, it, t->nodes[t->village].code,
			     o->event_bytes, &a) < 0)
		goto out;
	say("W1: item %s (%s), %zu materials, applicant names of %zu bytes: "
	    "Events of %zu bytes", it->code, it->name, g.n_materials,
	    g.name_bytes, g.event_bytes);
	if (chain_arrivals(t, v) < 0)
		goto out;

	cpu_take(t, &cpu0);
	f.endpoint = t->nodes[t->village].endpoint;
	f.g = &g;
	f.clients = o->clients;
	f.window = o->window;
	f.n = o->cases;
	f.first_ticket = cm->ticket;
	f.deadline = wj_bench_now_ns() + (int64_t)(o->timeout * NS_PER_S);
	pthread_mutex_init(&f.mu, NULL);
	cm->ticket += o->cases;
	say("W1 throughput: %" PRIu64 " submissions at village %012" PRIu64
	    " on %u clients, %u in flight each", o->cases,
	    t->nodes[t->village].code, o->clients, o->window);
	if (pthread_create(&tid, NULL, flood_run, &f) != 0) {
		say("cannot start a thread: %s", strerror(errno));
		goto out;
	}
	while (!f.t_start && !atomic_load(&f.finished))
		sleep_ns(NS_PER_MS);
	rc = arrival_wait(v, 4, 3, &f, f.t_start,
			  wj_bench_now_ns() + (int64_t)(o->timeout * NS_PER_S),
			  o->poll_ms);
	pthread_join(tid, NULL);
	if (rc == 0) {
		secs = (v[3].done_ns - f.t_start) / 1e9;
		rps = atomic_load(&f.acked) / secs;
	}
	say("W1 throughput: %" PRIu64 " acked by the village in %.2f s "
	    "(%.0f/s); at the province after %.2f s: %.0f cases/s",
	    atomic_load(&f.acked), (f.t_last_ack - f.t_start) / 1e9,
	    atomic_load(&f.acked) / ((f.t_last_ack - f.t_start) / 1e9), secs,
	    rps);
	tp = cpu_say(t, &cpu0, "W1 throughput");
	if (rc == 0 && o->duration > 0 && !stop) {
		struct cpu_snap c1;
		int lv = o->visible_at;

		target = lv == WUJI__LEVEL__TOWNSHIP ? t->township :
			 lv == WUJI__LEVEL__COUNTY ? t->county :
			 lv == WUJI__LEVEL__CITY ? t->city : t->province;
		sleep_ns(NS_PER_S / 2);  /* let the tree go idle */
		chain_failed = disk_chain(o, t, 0, &chain) < 0;
		chain_failed |= disk_chain(o, t, DISK_CHAIN_STORE_PAGES, &store_chain) < 0;
		cpu_take(t, &c1);
		rc = w1_latency(o, t, &g, cm->ticket, target, &lr);
		cm->ticket += lr.sent;
		cpu_say(t, &c1, "W1 latency");
	}
out:
	jraw(&j, "{");
	jstr(&j, "workload", "W1");
	jnum(&j, "throughput_rps", rps, 1);
	jnum(&j, "lat_p50_ms", lr.lat.p50, 3);
	jnum(&j, "lat_p99_ms", lr.lat.p99, 3);
	jnum(&j, "lat_max_ms", lr.lat.max, 3);
	jnum(&j, "catchup_s", NAN, 0);
	add_common(&j, cm, t);
	jstr(&j, "item", o->item);
	ju64(&j, "event_bytes", g.event_bytes);
	ju64(&j, "cases", atomic_load(&f.acked));
	ju64(&j, "clients", o->clients);
	ju64(&j, "window", o->window);
	jnum(&j, "village_ack_s", f.t_last_ack ?
	     (f.t_last_ack - f.t_start) / 1e9 : NAN, 3);
	jnum(&j, "township_s", v[0].done_ns ?
	     (v[0].done_ns - f.t_start) / 1e9 : NAN, 3);
	jnum(&j, "county_s", v[1].done_ns ?
	     (v[1].done_ns - f.t_start) / 1e9 : NAN, 3);
	jnum(&j, "city_s", v[2].done_ns ?
	     (v[2].done_ns - f.t_start) / 1e9 : NAN, 3);
	jnum(&j, "province_s", secs, 3);
	/* CPU of the throughput phase alone: the nodes share the machine's
	 * cores, so this says how close to CPU-bound the figure is. */
	jnum(&j, "tp_cpu_nodes_s", tp.nodes, 2);
	jnum(&j, "tp_cpu_bench_s", tp.bench, 2);
	jnum(&j, "tp_cpu_others_s", tp.others, 2);
	ju64(&j, "rate_rps", o->rate);
	jnum(&j, "duration_s", o->duration, 1);
	jstr(&j, "visible_at", o->visible_at == WUJI__LEVEL__TOWNSHIP ?
	     "township" : o->visible_at == WUJI__LEVEL__COUNTY ? "county" :
	     o->visible_at == WUJI__LEVEL__CITY ? "city" : "province");
	ju64(&j, "lat_samples", lr.lat.n);
	jnum(&j, "village_ack_p50_ms", lr.ack.p50, 3);
	jnum(&j, "village_ack_p99_ms", lr.ack.p99, 3);
	jnum(&j, "poll_round_p50_ms", lr.rounds.p50, 3);
	jnum(&j, "poll_round_max_ms", lr.rounds.max, 3);
	ju64(&j, "poll_gap_us", o->poll_gap_us);
	jstr(&j, "probe", o->probe_watch ? "watch" : "show");
	jnum(&j, "send_lag_max_ms", o->duration > 0 ? lr.lag_max_ms : NAN,
	     3);
	jchain(&j, "disk_chain", &chain);
	jchain(&j, "disk_chain_store", &store_chain);
	jnum(&j, "disk_chain_store_pages", DISK_CHAIN_STORE_PAGES, 0);
	add_cpu(&j, t, &cpu0);
	ju64(&j, "errors", atomic_load(&f.failed) + lr.failed +
	     (rc < 0 ? 1 : 0) + chain_failed);
	emit(&j);
	if (rc < 0 || atomic_load(&f.failed) || lr.failed || chain_failed)
		cm->failed = true;
	for (int i = 0; i < 4; i++)
		arrival_close(&v[i]);
	if (f.endpoint)
		pthread_mutex_destroy(&f.mu);
	wj_arena_free(&a);
}

/* -------------------------------------------------------------- W2 */

/* n pipelined requests on one client, at most `window` in flight; build
 * fills request i, done sees its reply.  Returns the replies that were
 * not OK (or -1 when the node stopped answering). */
typedef void (*build_cb)(void *ctx, uint64_t i, Wuji__Request *req,
			 wj_arena_t *a);
typedef void (*done_cb)(void *ctx, uint64_t i, const Wuji__Reply *r,
			int64_t t);

static int64_t pipeline(wj_client_t *c, uint64_t n, unsigned window,
			build_cb build, done_cb done, void *ctx,
			const char *what)
{
	wj_arena_t ra, qa;
	uint64_t sent = 0, got = 0, id0 = 0;
	int64_t bad = 0;
	unsigned shown = 0;

	wj_arena_init(&ra, 64 * 1024);
	wj_arena_init(&qa, 16 * 1024);
	while (got < n && !stop) {
		Wuji__Reply *r;
		wj_err_t err;

		while (sent < n && sent - got < window) {
			Wuji__Request req = WUJI__REQUEST__INIT;

			build(ctx, sent, &req, &qa);
			wj_err_clear(&err);
			if (wj_client_send(c, &req, &err) < 0) {
				say("%s: %s", what, err.msg);
				bad = -1;
				goto out;
			}
			if (sent == 0)
				id0 = req.id;
			sent++;
			wj_arena_reset(&qa);
		}
		wj_err_clear(&err);
		if (wj_client_recv(c, CALL_TIMEOUT_MS, &ra, &r, &err) < 0) {
			say("%s: %s", what, err.msg);
			bad = -1;
			goto out;
		}
		if (r->id >= id0 && r->id - id0 < sent) {
			got++;
			if (r->code != WUJI__ERROR_CODE__OK) {
				bad++;
				if (shown++ < ERRORS_SHOWN)
					say("%s refused: %s (code %d)", what,
					    r->error ? r->error : "", r->code);
			}
			done(ctx, r->id - id0, r, wj_bench_now_ns());
		}
		wj_arena_reset(&ra);
	}
out:
	wj_arena_free(&ra);
	wj_arena_free(&qa);
	return stop ? -1 : bad;
}

struct w2case {
	char number[48];
	int64_t t0, t1;
	int state;   /* 0 setting up, 1 ready at the city, 2 decided at the
		      * city, 3 approved at the county, -1 failed */
};

struct w2 {
	const struct subgen *g;
	uint64_t first_ticket;
	struct w2case *cs;
	uint64_t *list;          /* indices a pipeline works on */
	uint32_t county_task, city_task;
	struct wj_bench_reqbuf rb;
	Wuji__Command cmd;
	Wuji__ShowRequest sh;
};

static void w2_build_submit(void *ctx, uint64_t i, Wuji__Request *req,
			    wj_arena_t *a)
{
	struct w2 *w = ctx;

	(void)a;
	reqbuf_init(&w->rb, w->g);
	reqbuf_fill(&w->rb, w->g, w->first_ticket + i);
	*req = w->rb.req;
	req->submit = &w->rb.sub;
	w->rb.sub.applicant = &w->rb.app;
}

static void w2_done_submit(void *ctx, uint64_t i, const Wuji__Reply *r,
			   int64_t t)
{
	struct w2 *w = ctx;

	(void)t;
	if (r->code == WUJI__ERROR_CODE__OK &&
	    r->result_case == WUJI__REPLY__RESULT_NUMBER && r->number)
		snprintf(w->cs[i].number, sizeof(w->cs[i].number), "%s",
			 r->number);
	else
		w->cs[i].state = -1;
}

static void w2_command(struct w2 *w, Wuji__Request *req, uint64_t i,
		       Wuji__EventType type, uint32_t task)
{
	wuji__command__init(&w->cmd);
	w->cmd.type = type;
	w->cmd.number = w->cs[i].number;
	w->cmd.task = task;
	w->cmd.approve = type == WUJI__EVENT_TYPE__EV_DECIDED;
	req->op_case = WUJI__REQUEST__OP_COMMAND;
	req->command = &w->cmd;
}

static void w2_build_accept(void *ctx, uint64_t i, Wuji__Request *req,
			    wj_arena_t *a)
{
	(void)a;
	w2_command(ctx, req, ((struct w2 *)ctx)->list[i],
		   WUJI__EVENT_TYPE__EV_ACCEPTED, 0);
}

static void w2_build_decide_county(void *ctx, uint64_t i, Wuji__Request *req,
				   wj_arena_t *a)
{
	struct w2 *w = ctx;

	(void)a;
	w2_command(w, req, w->list[i], WUJI__EVENT_TYPE__EV_DECIDED,
		   w->county_task);
}

static void w2_build_decide_city(void *ctx, uint64_t i, Wuji__Request *req,
				 wj_arena_t *a)
{
	struct w2 *w = ctx;

	(void)a;
	w2_command(w, req, w->list[i], WUJI__EVENT_TYPE__EV_DECIDED,
		   w->city_task);
}

static void w2_done_step(void *ctx, uint64_t i, const Wuji__Reply *r,
			 int64_t t)
{
	struct w2 *w = ctx;

	(void)t;
	if (r->code != WUJI__ERROR_CODE__OK)
		w->cs[w->list[i]].state = -1;
}

static void w2_build_show(void *ctx, uint64_t i, Wuji__Request *req,
			  wj_arena_t *a)
{
	struct w2 *w = ctx;

	(void)a;
	show_req(req, &w->sh, w->cs[w->list[i]].number);
}

/* At the city: the case is accepted and the county's task decided, so
 * the city's decision is the last step. */
static void w2_done_city_ready(void *ctx, uint64_t i, const Wuji__Reply *r,
			       int64_t t)
{
	struct w2 *w = ctx;
	const Wuji__Case *c = r->case_;

	(void)t;
	if (r->code != WUJI__ERROR_CODE__OK ||
	    r->result_case != WUJI__REPLY__RESULT_CASE || !c)
		return;
	if (c->status == WUJI__CASE_STATUS__ACCEPTED &&
	    w->county_task <= c->n_tasks &&
	    c->tasks[w->county_task - 1]->status ==
	    WUJI__TASK_STATUS__TASK_APPROVED)
		w->cs[w->list[i]].state = 1;
}

static void w2_done_decide_city(void *ctx, uint64_t i, const Wuji__Reply *r,
				int64_t t)
{
	struct w2 *w = ctx;
	struct w2case *c = &w->cs[w->list[i]];

	if (r->code == WUJI__ERROR_CODE__OK) {
		c->t0 = t;
		c->state = 2;
	} else {
		c->state = -1;
	}
}

static void w2_done_county_approved(void *ctx, uint64_t i,
				    const Wuji__Reply *r, int64_t t)
{
	struct w2 *w = ctx;
	struct w2case *c = &w->cs[w->list[i]];

	if (r->code == WUJI__ERROR_CODE__OK &&
	    r->result_case == WUJI__REPLY__RESULT_CASE && r->case_ &&
	    r->case_->status == WUJI__CASE_STATUS__APPROVED && c->state == 2) {
		c->t1 = t;
		c->state = 3;
	}
}

/* Indices of the cases in `state`, at most max, into w->list. */
static uint64_t w2_select(struct w2 *w, uint64_t n, int state, uint64_t max)
{
	uint64_t k = 0;

	for (uint64_t i = 0; i < n && k < max; i++)
		if (w->cs[i].state == state)
			w->list[k++] = i;
	return k;
}

static int w2_setup(const struct topts *o, const struct tree *t, struct w2 *w,
		    uint64_t n, wj_client_t *county, wj_client_t *city,
		    int64_t deadline)
{
	uint64_t k;

	say("W2: setting up %" PRIu64 " joint cases at county %012" PRIu64
	    ": submit, accept, county task approved", n,
	    t->nodes[t->w2_county].code);
	if (pipeline(county, n, 64, w2_build_submit, w2_done_submit, w,
		     "W2 submit") != 0)
		return -1;
	k = w2_select(w, n, 0, n);
	if (pipeline(county, k, 64, w2_build_accept, w2_done_step, w,
		     "W2 accept") != 0)
		return -1;
	k = w2_select(w, n, 0, n);
	if (pipeline(county, k, 64, w2_build_decide_county, w2_done_step, w,
		     "W2 county decision") != 0)
		return -1;
	/* The city must hold the case accepted, with the county's decision,
	 * before its own decision is the one that completes it. */
	for (;;) {
		k = w2_select(w, n, 0, POLL_BATCH_MAX);
		if (k == 0)
			return 0;
		if (pipeline(city, k, POLL_BATCH_MAX, w2_build_show,
			     w2_done_city_ready, w, "W2 city show") < 0)
			return -1;
		if (wj_bench_now_ns() > deadline || stop) {
			say("W2: the cases did not reach the city in time");
			return -1;
		}
		sleep_ns((int64_t)o->poll_ms * NS_PER_MS);
	}
}

static void w2(const struct topts *o, const struct tree *t,
	       struct common *cm)
{
	struct jline j = { .n = 0 };
	struct w2 w;
	struct subgen g = { 0 };
	Wuji__CatalogItem *it = NULL;
	wj_client_t *county = NULL, *city = NULL;
	wj_arena_t a;
	int64_t *lat = NULL, *rounds = NULL, deadline, t_start = 0, t_end = 0;
	int64_t t_setup = wj_bench_now_ns();
	uint64_t n = o->w2_cases, done = 0, failed = 0, nr = 0;
	struct dist d = { NAN, NAN, NAN, 0 }, dr = { NAN, NAN, NAN, 0 };
	double rps = NAN, setup_s = NAN;
	struct cpu_snap cpu0;
	int rc = -1;

	memset(&w, 0, sizeof(w));
	cpu_take(t, &cpu0);
	if (t->w2_county < 0 || t->w2_city < 0) {
		say("W2 needs a county and its city: use a shape with at least "
		    "three levels");
		skipped("W2", "shape has no county", cm, t);
		return;
	}
	wj_arena_init(&a, 64 * 1024);
	it = fetch_item(t->nodes[t->w2_county].endpoint, o->w2_item, &a);
	if (!it || setup_gen(&g, it, t->nodes[t->w2_county].code, 0, &a) < 0)
		goto out;
	for (size_t i = 0; i < it->n_tasks; i++) {
		if (it->tasks[i]->level == WUJI__LEVEL__COUNTY && !w.county_task)
			w.county_task = (uint32_t)i + 1;
		if (it->tasks[i]->level == WUJI__LEVEL__CITY && !w.city_task)
			w.city_task = (uint32_t)i + 1;
	}
	if (!w.county_task || !w.city_task || it->n_tasks != 2) {
		say("W2: item %s must have exactly one county task and one "
		    "city task", it->code);
		goto out;
	}
	w.g = &g;
	w.first_ticket = cm->ticket;
	cm->ticket += n;
	w.cs = calloc(n, sizeof(*w.cs));
	w.list = calloc(n > POLL_BATCH_MAX ? n : POLL_BATCH_MAX,
			sizeof(*w.list));
	lat = calloc(n, sizeof(*lat));
	rounds = malloc(ROUNDS_MAX * sizeof(*rounds));
	county = open_client(t->nodes[t->w2_county].endpoint, CALL_TIMEOUT_MS);
	city = open_client(t->nodes[t->w2_city].endpoint, CALL_TIMEOUT_MS);
	if (!w.cs || !w.list || !lat || !rounds || !county || !city)
		goto out;
	deadline = wj_bench_now_ns() + (int64_t)(o->timeout * NS_PER_S);
	if (w2_setup(o, t, &w, n, county, city, deadline) < 0)
		goto out;
	setup_s = (wj_bench_now_ns() - t_setup) / 1e9;
	say("W2: %" PRIu64 " cases ready at the city after %.2f s; round trips,"
	    " %u in flight", n, setup_s, o->w2_parallel);

	/* Round trips: decide at the city (t0 = its OK), then poll the
	 * county until it shows the case approved (t1). */
	t_start = wj_bench_now_ns();
	cpu_take(t, &cpu0);
	for (;;) {
		uint64_t inflight = 0, k;

		for (uint64_t i = 0; i < n; i++)
			inflight += w.cs[i].state == 2;
		k = inflight < o->w2_parallel ?
		    w2_select(&w, n, 1, o->w2_parallel - inflight) : 0;
		if (k && pipeline(city, k, o->w2_parallel,
				  w2_build_decide_city, w2_done_decide_city,
				  &w, "W2 city decision") < 0)
			break;
		k = w2_select(&w, n, 2, POLL_BATCH_MAX);
		if (k == 0) {
			if (w2_select(&w, n, 1, 1) == 0) {
				rc = 0;
				break;
			}
			continue;
		}
		{
			int64_t r0 = wj_bench_now_ns();

			if (pipeline(county, k, POLL_BATCH_MAX, w2_build_show,
				     w2_done_county_approved, &w,
				     "W2 county show") < 0)
				break;
			if (nr < ROUNDS_MAX)
				rounds[nr++] = wj_bench_now_ns() - r0;
		}
		if (wj_bench_now_ns() > deadline || stop) {
			say("W2: round trips did not finish in time");
			break;
		}
	}
	for (uint64_t i = 0; i < n; i++) {
		if (w.cs[i].state == 3) {
			lat[done++] = w.cs[i].t1 - w.cs[i].t0;
			if (w.cs[i].t1 > t_end)
				t_end = w.cs[i].t1;
		} else {
			failed++;
		}
	}
	if (done && t_end > t_start)
		rps = done / ((t_end - t_start) / 1e9);
	d = dist_of(lat, done);
	dr = dist_of(rounds, nr);
	say("W2: %" PRIu64 " round trips, %.1f/s: p50 %.2f ms, p99 %.2f ms, "
	    "max %.2f ms; county poll rounds p50 %.3f ms", done, rps, d.p50,
	    d.p99, d.max, dr.p50);
out:
	jraw(&j, "{");
	jstr(&j, "workload", "W2");
	jnum(&j, "throughput_rps", rps, 1);
	jnum(&j, "lat_p50_ms", d.p50, 3);
	jnum(&j, "lat_p99_ms", d.p99, 3);
	jnum(&j, "lat_max_ms", d.max, 3);
	jnum(&j, "catchup_s", NAN, 0);
	add_common(&j, cm, t);
	jstr(&j, "item", o->w2_item);
	ju64(&j, "cases", done);
	ju64(&j, "parallel", o->w2_parallel);
	jnum(&j, "setup_s", setup_s, 3);
	jnum(&j, "poll_round_p50_ms", dr.p50, 3);
	jnum(&j, "poll_round_max_ms", dr.max, 3);
	add_cpu(&j, t, &cpu0);
	ju64(&j, "errors", failed + (rc < 0 && failed == 0 ? 1 : 0));
	emit(&j);
	if (rc < 0 || failed)
		cm->failed = true;
	if (county)
		wj_client_close(county);
	if (city)
		wj_client_close(city);
	free(w.cs);
	free(w.list);
	free(lat);
	free(rounds);
	wj_arena_free(&a);
}

/* -------------------------------------------------------------- W3 */

static void w3(const struct topts *o, struct tree *t, struct common *cm)
{
	struct jline j = { .n = 0 };
	struct flood f = { 0 };
	struct arrival at_county, v[2];
	struct subgen g = { 0 };
	Wuji__CatalogItem *it;
	wj_arena_t a;
	pthread_t tid;
	char city_code[13], max[64] = "";
	double catchup = NAN, pileup_s = NAN, start_s = NAN, city_s = NAN;
	bool killed = false, restarted = false;
	struct cpu_snap cpu0;
	int64_t t0 = 0, t_kill = 0;
	pid_t sp = -1;
	int rc = -1;

	if (!have_chain(t, "W3")) {
		skipped("W3", "shape has no five-level chain", cm, t);
		return;
	}
	wj_arena_init(&a, 64 * 1024);
	cpu_take(t, &cpu0);
	memset(&at_county, 0, sizeof(at_county));
	memset(v, 0, sizeof(v));
	it = fetch_item(t->nodes[t->village].endpoint, o->item, &a);
	if (!it || setup_gen(&g, it, t->nodes[t->village].code,
			     o->event_bytes, &a) < 0)
		goto out;
	/* Counts before: the province's base is taken while the city is
	 * still up, and nothing reaches it while the city is down. */
	arrival_init(&at_county, t, t->county, "county");
	arrival_init(&v[1], t, t->province, "province");
	if (!at_county.c || !v[1].c)
		goto out;
	{
		wj_client_t *c = open_client(t->nodes[t->city].endpoint,
					     CALL_TIMEOUT_MS);

		v[0].node = t->city;
		v[0].name = "city";
		if (!c || node_cases(c, &v[0].base) < 0) {
			if (c)
				wj_client_close(c);
			goto out;
		}
		wj_client_close(c);
	}
	wj_division_format(t->nodes[t->city].code, city_code);
	{
		const char *args[] = { "kill", t->dir, city_code, NULL };

		say("W3: killing the city %s (SIGKILL)", city_code);
		if (tree_run(t, args, NULL, 0, CMD_TIMEOUT_S) != 0) {
			say("W3: deploy/tree kill failed");
			goto out;
		}
		killed = true;
		t_kill = wj_bench_now_ns();
	}
	f.endpoint = t->nodes[t->village].endpoint;
	f.g = &g;
	f.clients = o->clients;
	f.window = o->window;
	f.n = o->w3_cases;
	f.first_ticket = cm->ticket;
	f.deadline = wj_bench_now_ns() + (int64_t)(o->timeout * NS_PER_S);
	pthread_mutex_init(&f.mu, NULL);
	cm->ticket += o->w3_cases;
	say("W3: %" PRIu64 " submissions at the village while the city is "
	    "down", o->w3_cases);
	if (pthread_create(&tid, NULL, flood_run, &f) != 0) {
		pthread_mutex_destroy(&f.mu);
		f.endpoint = NULL;
		goto out;
	}
	while (!f.t_start && !atomic_load(&f.finished))
		sleep_ns(NS_PER_MS);
	rc = arrival_wait(&at_county, 1, 0, &f, f.t_start,
			  wj_bench_now_ns() + (int64_t)(o->timeout * NS_PER_S),
			  o->poll_ms);
	pthread_join(tid, NULL);
	if (rc < 0) {
		say("W3: the cases did not all reach the county");
		goto out;
	}
	pileup_s = (at_county.done_ns - f.t_start) / 1e9;
	snprintf(max, sizeof(max), "%s", f.max_number);
	say("W3: %" PRIu64 " cases at the county after %.2f s",
	    atomic_load(&f.acked), pileup_s);
	if (o->w3_down > 0) {
		int64_t until = t_kill + (int64_t)(o->w3_down * NS_PER_S);

		say("W3: keeping the city down until %.0f s after the kill",
		    o->w3_down);
		while (wj_bench_now_ns() < until && !stop)
			sleep_ns(20 * NS_PER_MS);
	}

	/* The clock starts with the start command: the city's own start-up
	 * is part of catching up. */
	v[1].target = v[1].base + atomic_load(&f.acked);
	v[0].target = v[0].base + atomic_load(&f.acked);
	cpu_say(t, &cpu0, "W3 pile-up");
	cpu_take(t, &cpu0);
	{
		const char *args[] = { "start", t->dir, city_code, NULL };

		t0 = wj_bench_now_ns();
		sp = tree_spawn(t, args, NULL);
		if (sp < 0)
			goto out;
	}
	rc = -1;
	for (int64_t deadline = t0 + (int64_t)(o->timeout * NS_PER_S),
	     next = t0 + NS_PER_S, moved = t0, last = 0;;) {
		int64_t now;
		int status;

		if (sp > 0 && waitpid(sp, &status, WNOHANG) == sp) {
			sp = -1;
			start_s = (wj_bench_now_ns() - t0) / 1e9;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				say("W3: deploy/tree start failed");
				break;
			}
			restarted = true;
			v[0].c = open_client(t->nodes[t->city].endpoint,
					     CALL_TIMEOUT_MS);
		}
		arrival_probe(v, v[0].c ? 2 : 0, max);
		if (!v[0].c)
			arrival_probe(&v[1], 1, max);
		if (v[0].done_ns && !isfinite(city_s))
			city_s = (v[0].done_ns - t0) / 1e9;
		if (v[1].done_ns) {
			catchup = (v[1].done_ns - t0) / 1e9;
			rc = 0;
			break;
		}
		now = wj_bench_now_ns();
		if (now >= next) {
			arrival_progress(&v[1], 1, t0, atomic_load(&f.acked));
			if ((int64_t)v[1].last_count != last)
				moved = now;
			last = (int64_t)v[1].last_count;
			next = now + NS_PER_S;
		}
		if (now > deadline || stop || now - moved > STALL_S * NS_PER_S) {
			say("W3: the province did not catch up (it has %" PRIu64
			    " of the %" PRIu64 " cases); see node.log in each "
			    "node's directory", arrived(&v[1]),
			    v[1].target - v[1].base);
			break;
		}
		sleep_ns((int64_t)o->poll_ms * NS_PER_MS);
	}
	if (sp > 0) {
		/* deploy/tree start still running: let it finish (bounded),
		 * so the tree is in a known state for `down`. */
		int st = tree_wait(sp, -1, NULL, 0,
				   wj_bench_now_ns() + (int64_t)(CMD_TIMEOUT_S * NS_PER_S));

		sp = -1;
		restarted = st == 0;
		if (!isfinite(start_s))
			start_s = (wj_bench_now_ns() - t0) / 1e9;
	}
	say("W3: province has all %" PRIu64 " cases %.2f s after the start "
	    "command (the city answered after %.2f s, had them all after "
	    "%.2f s)", atomic_load(&f.acked), catchup, start_s, city_s);
out:
	if (killed && !restarted && sp < 0) {
		const char *args[] = { "start", t->dir, city_code, NULL };

		if (t0 == 0 && tree_run(t, args, NULL, 0, CMD_TIMEOUT_S) != 0)
			say("W3: could not start the city again");
	}
	jraw(&j, "{");
	jstr(&j, "workload", "W3");
	jnum(&j, "throughput_rps", NAN, 0);
	jnum(&j, "lat_p50_ms", NAN, 0);
	jnum(&j, "lat_p99_ms", NAN, 0);
	jnum(&j, "lat_max_ms", NAN, 0);
	jnum(&j, "catchup_s", catchup, 3);
	add_common(&j, cm, t);
	jstr(&j, "item", o->item);
	ju64(&j, "cases", atomic_load(&f.acked));
	jnum(&j, "pileup_s", pileup_s, 3);
	jnum(&j, "city_down_s", t0 && t_kill ? (t0 - t_kill) / 1e9 : NAN, 3);
	jnum(&j, "city_start_s", start_s, 3);
	jnum(&j, "city_caught_up_s", city_s, 3);
	add_cpu(&j, t, &cpu0);
	ju64(&j, "errors", atomic_load(&f.failed) + (rc < 0 ? 1 : 0));
	emit(&j);
	if (rc < 0 || atomic_load(&f.failed))
		cm->failed = true;
	arrival_close(&at_county);
	arrival_close(&v[0]);
	arrival_close(&v[1]);
	if (f.endpoint)
		pthread_mutex_destroy(&f.mu);
	wj_arena_free(&a);
}

/* Every case of the run ends up in the province's store: say so before
 * the run when it will not fit (deploy/tree gives each node a 256 MiB
 * map), instead of failing half-way with "store full". */
static void check_room(const struct topts *o, const struct tree *t)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__StatusRequest st = WUJI__STATUS_REQUEST__INIT;
	Wuji__Reply *r;
	wj_client_t *c;
	wj_arena_t a;
	uint64_t cases = 0, need;

	if (o->w1)
		cases += o->cases + (uint64_t)llround(o->rate * o->duration);
	if (o->w2)
		cases += o->w2_cases;
	if (o->w3)
		cases += o->w3_cases;
	need = cases * CASE_STORE_BYTES;
	c = open_client(t->nodes[0].endpoint, CALL_TIMEOUT_MS);
	if (!c)
		return;
	wj_arena_init(&a, 8192);
	req.op_case = WUJI__REQUEST__OP_STATUS;
	req.status = &st;
	if (call(c, &req, &a, &r, "status", false) == 0 &&
	    r->result_case == WUJI__REPLY__RESULT_STATUS &&
	    r->status->map_size > r->status->map_used &&
	    need > (r->status->map_size - r->status->map_used) / 10 * 9)
		say("warning: this run stores about %" PRIu64 " cases at every "
		    "node of the chain, about %" PRIu64 " MiB, and the "
		    "stores hold %" PRIu64 " MiB (deploy/tree's map_size_mb): "
		    "expect \"store full\"; lower --cases, --duration or "
		    "--w3-cases", cases, need >> 20,
		    r->status->map_size >> 20);
	wj_arena_free(&a);
	wj_client_close(c);
}

/* ------------------------------------------------------------ entry */

int wj_bench_tree(int argc, char **argv, const char *self_exe)
{
	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	struct topts o;
	struct tree t;
	struct common cm = { .ticket = 1 };
	int rc;

	rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	memset(&t, 0, sizeof(t));
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	signal(SIGPIPE, SIG_IGN);
	stop = 0;

	if (tree_up(&t, &o, self_exe) < 0) {
		cm.failed = true;
		goto out;
	}
	{
		char err[256];

		if (wj_disk_fsync_baseline(t.dir, &cm.disk, err, sizeof(err)) < 0)
			say("disk: %s", err);
		say("disk: %zu fdatasync()s of a 4 KiB pwrite: p50 %.2f ms, p99 "
		    "%.2f ms (appending: p50 %.2f ms, p99 %.2f ms)", cm.disk.n,
		    cm.disk.p50, cm.disk.p99, cm.disk.ap50, cm.disk.ap99);
	}
	check_room(&o, &t);
	if (o.w1 && !stop)
		w1(&o, &t, &cm);
	if (o.w2 && !stop)
		w2(&o, &t, &cm);
	if (o.w3 && !stop)
		w3(&o, &t, &cm);
	if (stop) {
		say("interrupted");
		cm.failed = true;
	}
out:
	if (o.keep && t.ready) {
		say("the tree keeps running in %s: stop it with \"%s down %s\"",
		    t.dir, t.script, t.dir);
		t.up = false;
	} else {
		tree_down(&t, cm.failed);
	}
	free(t.nodes);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return cm.failed ? 1 : 0;
}
