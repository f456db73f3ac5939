/* wuji-sim: the deterministic simulator of a province's tree of nodes.
 *
 * Owns the run: options, the tree, the simulated network and clock, fault
 * injection, the event loop and the phases (faulty, healing, quiescent).
 * workload.c plays the clients, check.c says whether the run converged.
 *
 * Determinism: one xoshiro256** generator seeded from --seed drives every
 * choice, libsodium's random source (store epochs) is replaced by the
 * same generator, the queue orders equal times by insertion, and nothing
 * reads the real clock except the --max-real safety cap. */
#include "sim.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/division.h"
#include "core/pbwire.h"
#include "log.h"

#define T0_MS 1772413200000LL   /* 2026-03-02 09:00 +08:00 */
#define CLIENT_EVERY_MS 100
#define FAULT_EVERY_MS 100
#define QUIESCE_MAX_MS (600 * 1000LL)
#define LOOP_MAX 200000000ULL
#define DELIVER_GROUP_MAX 16
#define DELIVER_GROUP_MS 2

/* ------------------------------------------------------------ random */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro(uint64_t s[4])
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static void seed_rng(uint64_t s[4], uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		s[i] = splitmix(&x);
}

uint64_t sim_rand(sim_t *S)
{
	return xoshiro(S->rng);
}

uint64_t sim_below(sim_t *S, uint64_t n)
{
	return n ? sim_rand(S) % n : 0;
}

bool sim_chance(sim_t *S, double p)
{
	if (p <= 0)
		return false;
	return (double)(sim_rand(S) >> 11) * (1.0 / 9007199254740992.0) < p;
}

/* Store epochs come from libsodium: a second generator, seeded from the
 * run's seed, keeps them (and so every message) the same from run to
 * run. */
static uint64_t sodium_rng[4];

static const char *det_name(void)
{
	return "wuji-sim";
}

static uint32_t det_random(void)
{
	return (uint32_t)(xoshiro(sodium_rng) >> 32);
}

static void det_buf(void *const buf, const size_t size)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < size; i += 8) {
		uint64_t v = xoshiro(sodium_rng);
		memcpy(p + i, &v, size - i < 8 ? size - i : 8);
	}
}

static randombytes_implementation det_impl = {
	.implementation_name = det_name,
	.random = det_random,
	.buf = det_buf,
};

/* ------------------------------------------------------------ output */

static uint64_t current_seed;
/* SIGINT or SIGTERM (meson's timeout): stop at the next step and clean
 * up, so no store is left behind in /dev/shm. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

void sim_fail(sim_t *S, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (S->n_failures == 0)
		snprintf(S->failure, sizeof(S->failure), "%s", msg);
	if (S->self_test) {
		/* --sabotage: a failure is what the checks should find. */
		if (S->n_failures < 3)
			fprintf(stderr, "wuji-sim: caught seed=%" PRIu64 ": %s\n", current_seed, msg);
	} else if (S->n_failures < 25)
		fprintf(stderr, "wuji-sim: FAILED seed=%" PRIu64 ": %s\n", current_seed, msg);
	else if (S->n_failures == 25)
		fprintf(stderr, "wuji-sim: seed=%" PRIu64 ": more failures not shown\n",
			current_seed);
	S->n_failures++;
}

void sim_note(sim_t *S, int level, const char *fmt, ...)
{
	if (S->o->verbose < level)
		return;
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "sim [%9.3fs] %s\n", (double)(S->now - S->t0) / 1000.0, msg);
}

/* ------------------------------------------------------------- queue */

static bool q_less(const qitem_t *a, const qitem_t *b)
{
	return a->at != b->at ? a->at < b->at : a->order < b->order;
}

static void q_push(sim_t *S, qitem_t it)
{
	if (S->n_heap == S->cap_heap) {
		S->cap_heap = S->cap_heap ? 2 * S->cap_heap : 4096;
		S->heap = realloc(S->heap, S->cap_heap * sizeof(*S->heap));
		if (S->heap == NULL) {
			fprintf(stderr, "wuji-sim: out of memory\n");
			exit(2);
		}
	}
	it.order = S->order++;
	size_t i = S->n_heap++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!q_less(&it, &S->heap[p]))
			break;
		S->heap[i] = S->heap[p];
		i = p;
	}
	S->heap[i] = it;
}

static qitem_t q_pop(sim_t *S)
{
	qitem_t top = S->heap[0];
	qitem_t last = S->heap[--S->n_heap];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const qitem_t *best = &last;
		if (l < S->n_heap && q_less(&S->heap[l], best)) {
			m = l;
			best = &S->heap[l];
		}
		if (r < S->n_heap && q_less(&S->heap[r], best))
			m = r;
		if (m == i)
			break;
		S->heap[i] = S->heap[m];
		i = m;
	}
	if (S->n_heap > 0)
		S->heap[i] = last;
	return top;
}

/* -------------------------------------------------------------- tree */

int sim_index(const sim_t *S, uint64_t code)
{
	size_t mask = S->by_code_cap - 1;
	for (size_t h = (size_t)(code * 0x9e3779b97f4a7c15ULL >> 20) & mask;; h = (h + 1) & mask) {
		int i = S->by_code[h];
		if (i < 0)
			return -1;
		if (S->nodes[i].code == code)
			return i;
	}
}

int64_t sim_node_now(const sim_t *S, int i)
{
	return S->now + S->nodes[i].skew_ms;
}

static int add_node(sim_t *S, uint64_t code, int level, int parent)
{
	sim_node_t *n = &S->nodes[S->n_nodes];
	memset(n, 0, sizeof(*n));
	n->code = code;
	n->level = level;
	n->parent = parent;
	snprintf(n->dir, sizeof(n->dir), "%s/%012" PRIu64, S->root_dir, code);
	if (parent >= 0) {
		sim_node_t *p = &S->nodes[parent];
		p->children = realloc(p->children, (p->n_children + 1) * sizeof(int));
		p->child_codes = realloc(p->child_codes, (p->n_children + 1) * sizeof(uint64_t));
		p->children[p->n_children] = (int)S->n_nodes;
		p->child_codes[p->n_children] = code;
		p->n_children++;
	}
	return (int)S->n_nodes++;
}

static int build_tree(sim_t *S)
{
	const int *sh = S->o->shape;
	size_t total = 0, width = 1;
	for (int l = 0; l < SIM_LEVELS; l++) {
		width *= (size_t)sh[l];
		total += width;
	}
	S->nodes = calloc(total, sizeof(*S->nodes));
	S->by_code_cap = 1;
	while (S->by_code_cap < 2 * total)
		S->by_code_cap <<= 1;
	S->by_code = malloc(S->by_code_cap * sizeof(int));
	if (S->nodes == NULL || S->by_code == NULL)
		return -1;
	for (size_t i = 0; i < S->by_code_cap; i++)
		S->by_code[i] = -1;

	const uint64_t prov = 330000000000ULL;
	int p = add_node(S, prov, 1, -1);
	for (int c = 1; c <= sh[1]; c++) {
		uint64_t city = prov + (uint64_t)c * 100000000ULL;
		int ci = add_node(S, city, 2, p);
		for (int k = 0; k < sh[2]; k++) {
			uint64_t county = city + (uint64_t)(6 + k) * 1000000ULL;
			int ki = add_node(S, county, 3, ci);
			for (int t = 1; t <= sh[3]; t++) {
				uint64_t town = county + (uint64_t)t * 1000ULL;
				int ti = add_node(S, town, 4, ki);
				for (int v = 0; v < sh[4]; v++)
					add_node(S, town + 201 + (uint64_t)v, 5, ti);
			}
		}
	}
	size_t mask = S->by_code_cap - 1;
	for (size_t i = 0; i < S->n_nodes; i++) {
		uint64_t code = S->nodes[i].code;
		if (!wj_division_valid(code)) {
			fprintf(stderr, "wuji-sim: shape gives invalid code %012" PRIu64 "\n", code);
			return -1;
		}
		size_t h = (size_t)(code * 0x9e3779b97f4a7c15ULL >> 20) & mask;
		while (S->by_code[h] >= 0)
			h = (h + 1) & mask;
		S->by_code[h] = (int)i;
		if (S->o->skew_ms > 0)
			S->nodes[i].skew_ms =
				(int64_t)sim_below(S, (uint64_t)(2 * S->o->skew_ms + 1)) - S->o->skew_ms;
	}
	return 0;
}

/* ----------------------------------------------------------- network */

static void sched_tick(sim_t *S, int i, int64_t node_at)
{
	sim_node_t *n = &S->nodes[i];
	/* The node asked in its own clock; the queue runs on true time. */
	int64_t at = node_at - n->skew_ms;
	if (at <= S->now)
		at = S->now + 1;
	if (n->tick_at != 0 && n->tick_at <= at)
		return;
	n->tick_at = at;
	n->tick_gen++;
	q_push(S, (qitem_t){.at = at, .kind = Q_TICK, .node = i, .gen = n->tick_gen,
			    .inc_to = n->incarnation});
}

static bool link_cut(const sim_t *S, int a, int b)
{
	if (!S->faults)
		return false;
	int child = S->nodes[a].parent == b ? a : b;
	return S->nodes[child].cut_until > S->now;
}

#define PEER_MSG_PING 13   /* field numbers of PeerMsg's bodies */
#define PEER_MSG_AHEAD 16

/* Whether a packed PeerMsg carries the body of that field number. */
static bool peer_msg_has(const uint8_t *data, size_t len, uint32_t body)
{
	wj_pb_reader_t r;
	wj_pb_field_t f;
	wj_pb_reader_init(&r, data, len);
	while (wj_pb_next(&r, &f) == 1)
		if (f.number == body && f.wire == 2)
			return true;
	return false;
}

static void send_msg(sim_t *S, int from, const wj_repl_msg_t *m)
{
	int to = sim_index(S, m->peer);
	if (to < 0 || (S->nodes[from].parent != to && S->nodes[to].parent != from)) {
		sim_fail(S, "node %012" PRIu64 " sent a message to %012" PRIu64
			 ", which is not its parent or child",
			 S->nodes[from].code, m->peer);
		return;
	}
	S->st.msgs++;
	if (m->len > 0 && peer_msg_has(m->data, m->len, PEER_MSG_AHEAD))
		S->st.aheads++;
	if (link_cut(S, from, to)) {
		S->st.cut_drops++;
		return;
	}
	if (S->faults && sim_chance(S, S->o->loss)) {
		S->st.lost++;
		return;
	}
	int copies = S->faults && sim_chance(S, S->o->dup) ? 2 : 1;
	S->st.dups += (uint64_t)(copies - 1);
	/* --ping-delay: a ping held back for seconds reaches the peer after
	 * later messages of the same link, saying what its sender was then
	 * (recovering or not) when the sender has moved on. */
	bool ping = S->faults && S->o->ping_delay > 0 && m->len > 0 &&
		    peer_msg_has(m->data, m->len, PEER_MSG_PING);
	for (int k = 0; k < copies; k++) {
		int64_t delay = 1 + (int64_t)sim_below(S, 50);
		if (S->faults && sim_chance(S, S->o->reorder)) {
			delay += 50 + (int64_t)sim_below(S, 450);
			S->st.reordered++;
		}
		if (ping && sim_chance(S, S->o->ping_delay)) {
			delay += 1000 + (int64_t)sim_below(S, 5000);
			S->st.pings_held++;
		}
		uint8_t *copy = malloc(m->len ? m->len : 1);
		memcpy(copy, m->data, m->len);
		q_push(S, (qitem_t){.at = S->now + delay, .kind = Q_DELIVER, .node = to,
				    .from = from, .inc_to = S->nodes[to].incarnation,
				    .inc_from = S->nodes[from].incarnation,
				    .data = copy, .len = m->len});
	}
}

static void flush_out(sim_t *S, int i, wj_repl_out_t *out)
{
	for (size_t k = 0; k < out->n_msgs; k++)
		send_msg(S, i, &out->msgs[k]);
	if (out->next_tick_ms)
		sched_tick(S, i, out->next_tick_ms);
	wj_arena_reset(out->arena);
	wj_repl_out_init(out, out->arena);
}

Wuji__Reply *sim_request(sim_t *S, int i, Wuji__Request *req)
{
	sim_node_t *n = &S->nodes[i];
	if (!n->up)
		return NULL;
	bool write = req->op_case == WUJI__REQUEST__OP_SUBMIT ||
		     req->op_case == WUJI__REQUEST__OP_COMMAND ||
		     req->op_case == WUJI__REQUEST__OP_CATALOG_LOAD ||
		     req->op_case == WUJI__REQUEST__OP_CALENDAR_LOAD;
	if (write && n->syncing)
		return NULL;
	req->id = ++S->req_id;
	sim_log_context(S, i);
	wj_arena_t *a = &S->req_arena;
	size_t len = wuji__request__get_packed_size(req);
	uint8_t *buf = wj_arena_alloc(a, len ? len : 1);
	wuji__request__pack(req, buf);
	wj_service_req_t r = {.data = buf, .len = len};
	int64_t now = sim_node_now(S, i);
	wj_service_batch(n->svc, &r, 1, now, a);
	Wuji__Reply *rep = wuji__reply__unpack(&a->pb, r.reply_len, r.reply);
	if (rep == NULL) {
		sim_fail(S, "node %012" PRIu64 " sent a reply that does not decode", n->code);
		return NULL;
	}
	if (write) {
		/* As the daemon does after every batch: ship new events. */
		wj_repl_out_t out;
		wj_repl_out_init(&out, &S->out_arena);
		wj_repl_tick(n->repl, now, &out);
		flush_out(S, i, &out);
	}
	return rep;
}

/* --------------------------------------------------- nodes up and down */

static int node_open(sim_t *S, int i)
{
	sim_node_t *n = &S->nodes[i];
	wj_err_t err = {0};
	sim_log_context(S, i);
	wj_service_opts_t so = {
		.node = n->code, .data_dir = n->dir, .map_size = 64ULL << 20,
		.yellow_days = 1, .standalone = false,
	};
	if (wj_service_open(&so, &n->svc, &err) != 0) {
		sim_fail(S, "cannot open node %012" PRIu64 ": %s", n->code, err.msg);
		return -1;
	}
	int64_t now = sim_node_now(S, i);
	wj_service_set_started(n->svc, now / 1000);
	wj_repl_opts_t ro = {
		.parent = n->parent >= 0 ? S->nodes[n->parent].code : 0,
		.children = n->child_codes,
		.n_children = n->n_children,
		.batch_events = S->o->batch_events,
		.window_batches = S->o->window_batches,
		.log_keep = S->o->log_keep,
	};
	if (wj_repl_new(n->svc, &ro, now, &n->repl, &err) != 0) {
		sim_fail(S, "cannot start replication at %012" PRIu64 ": %s", n->code, err.msg);
		wj_service_close(n->svc);
		n->svc = NULL;
		return -1;
	}
	wj_service_set_repl(n->svc, n->repl);
	n->up = true;
	n->tick_at = 0;
	sched_tick(S, i, now + 1);
	return 0;
}

/* Snapshots this incarnation of node i sent (resyncs live in memory). */
static uint64_t count_resyncs(sim_t *S, int i)
{
	uint64_t n = 0;
	if (S->nodes[i].repl == NULL)
		return 0;
	Wuji__PeerList *pl = wj_repl_peers(S->nodes[i].repl, sim_node_now(S, i), &S->out_arena);
	for (size_t k = 0; k < pl->n_peers; k++)
		n += pl->peers[k]->resyncs;
	wj_arena_reset(&S->out_arena);
	return n;
}

static void node_close(sim_t *S, int i)
{
	sim_node_t *n = &S->nodes[i];
	if (!n->up)
		return;
	S->st.resyncs += count_resyncs(S, i);
	wj_service_set_repl(n->svc, NULL);
	wj_repl_free(n->repl);
	wj_service_close(n->svc);
	n->repl = NULL;
	n->svc = NULL;
	n->up = false;
	/* kill -9: its timers and whatever was on the wire to or from it
	 * (the connections reset) are gone. */
	n->incarnation++;
	n->tick_gen++;
	n->tick_at = 0;
}

bool sim_maybe_undone(const sim_t *S, int i, int64_t at_ms)
{
	const sim_node_t *n = &S->nodes[i];
	for (size_t k = 0; k < n->n_lost_spans; k++)
		if (at_ms >= n->lost_spans[k][0] && at_ms <= n->lost_spans[k][1])
			return true;
	return false;
}

static int copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
	char buf[1 << 16];
	size_t k;
	int rc = in && out ? 0 : -1;
	while (rc == 0 && (k = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, k, out) != k)
			rc = -1;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

/* A copy of data.mdb between two steps is consistent: no transaction
 * is open then, and the last commit is complete. */
static void take_backup(sim_t *S, int i)
{
	sim_node_t *n = &S->nodes[i];
	char data[200], backup[200];
	snprintf(data, sizeof(data), "%s/data.mdb", n->dir);
	snprintf(backup, sizeof(backup), "%s/backup-%012" PRIu64 ".mdb", S->root_dir, n->code);
	if (copy_file(data, backup) == 0) {
		n->has_backup = true;
		n->backup_at = S->now;
	}
}

/* While a node is down: now and then take a backup of its store, or put
 * back the one taken earlier, as an operator restoring a broken disk
 * would.  Whatever it wrote since that backup and did not pass on is
 * lost; what it passed on must come back, and it must never reuse an
 * event id or a case number. */
static void backup_or_restore(sim_t *S, int i, bool force)
{
	sim_node_t *n = &S->nodes[i];
	char data[200], backup[200], lock[200];
	snprintf(data, sizeof(data), "%s/data.mdb", n->dir);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", n->dir);
	snprintf(backup, sizeof(backup), "%s/backup-%012" PRIu64 ".mdb", S->root_dir, n->code);
	if (n->has_backup && (force || sim_chance(S, S->o->restore_rate))) {
		if (copy_file(backup, data) != 0) {
			sim_fail(S, "cannot restore %s from %s", data, backup);
			return;
		}
		remove(lock);
		n->lost_spans = realloc(n->lost_spans, (n->n_lost_spans + 1) * sizeof(*n->lost_spans));
		n->lost_spans[n->n_lost_spans][0] = n->backup_at;
		n->lost_spans[n->n_lost_spans][1] = S->now;
		n->n_lost_spans++;
		n->has_backup = false;
		n->syncing = true;
		S->st.restores++;
		sim_note(S, 1, "restore %012" PRIu64 " from its backup of %.1f s", n->code,
			 (double)(n->backup_at - S->t0) / 1000);
	} else if (sim_chance(S, 0.5)) {
		take_backup(S, i);
	}
}

static void crash_ex(sim_t *S, int i, int64_t down_ms, bool restore)
{
	sim_node_t *n = &S->nodes[i];
	node_close(S, i);
	n->crashes++;
	S->st.crashes++;
	if (restore)
		backup_or_restore(S, i, true);
	else if (S->o->restore_rate > 0)
		backup_or_restore(S, i, false);
	sim_note(S, 1, "crash %012" PRIu64 " for %.1f s", n->code, (double)down_ms / 1000);
	q_push(S, (qitem_t){.at = S->now + down_ms, .kind = Q_RESTART, .node = i,
			    .inc_to = n->incarnation});
}

static void crash(sim_t *S, int i, int64_t down_ms)
{
	crash_ex(S, i, down_ms, false);
}

static void restart(sim_t *S, int i)
{
	if (S->nodes[i].up)
		return;
	sim_note(S, 1, "restart %012" PRIu64, S->nodes[i].code);
	node_open(S, i);
}

/* --restore-pairs: a node and one of its children (and now and then the
 * node's parent too) are restored from backups at about the same time,
 * which independent restores almost never do.  The backups are taken
 * now, and the link above the group is cut for longer than the group
 * takes to go down: what the node writes meanwhile reaches only its
 * children's subtrees, and after the restores survives only below a
 * node that was itself restored.  What the group issued before must
 * still never be issued again, and nothing acknowledged outside the
 * lost spans may be lost. */
static void restore_group_begin(sim_t *S)
{
	/* A node with grandchildren, so that its events can outlive two
	 * restores one level down. */
	int n = (int)sim_below(S, S->n_nodes);
	for (int k = 0; k < 20 && S->nodes[n].level > SIM_LEVELS - 2; k++)
		n = (int)sim_below(S, S->n_nodes);
	sim_node_t *N = &S->nodes[n];
	if (N->level > SIM_LEVELS - 2 || N->n_children == 0 || !N->up)
		return;
	int c = N->children[sim_below(S, N->n_children)];
	int p = N->parent >= 0 && sim_chance(S, 0.3) ? N->parent : -1;
	if (!S->nodes[c].up || (p >= 0 && !S->nodes[p].up))
		return;
	int group[3] = {n, c, p};
	for (int k = 0; k < 3; k++)
		if (group[k] >= 0)
			take_backup(S, group[k]);
	int top = p >= 0 ? p : n;
	int64_t wait = 1000 + (int64_t)sim_below(S, 5000);
	if (S->nodes[top].parent >= 0) {
		sim_node_t *t = &S->nodes[top];
		int64_t until = S->now + wait + 1000 + (int64_t)sim_below(S, 8000);
		if (t->cut_until < until)
			t->cut_until = until;
		S->st.partitions++;
	}
	char also[48] = "";
	if (p >= 0)
		snprintf(also, sizeof(also), " and its parent %012" PRIu64, S->nodes[p].code);
	sim_note(S, 1, "restore group: backups of %012" PRIu64 ", its child %012" PRIu64
		 "%s; restores in %.1f s", N->code, S->nodes[c].code, also, (double)wait / 1000);
	q_push(S, (qitem_t){.at = S->now + wait, .kind = Q_RESTORE_GROUP, .node = n, .from = c,
			    .third = p});
}

static void restore_group_end(sim_t *S, const qitem_t *it)
{
	int group[3] = {it->node, it->from, it->third};
	int done = 0;
	for (int k = 0; k < 3; k++) {
		int i = group[k];
		if (i < 0 || !S->nodes[i].up || !S->nodes[i].has_backup)
			continue;
		/* Down at about the same time, back in a few seconds, the
		 * order of their returns drawn too. */
		crash_ex(S, i, 300 + (int64_t)sim_below(S, 4000), true);
		done++;
	}
	if (done > 1)
		S->st.group_restores++;
}

static void fault_step(sim_t *S)
{
	double step = FAULT_EVERY_MS / 1000.0;
	if (S->o->restore_pairs > 0 && sim_chance(S, S->o->restore_pairs * step))
		restore_group_begin(S);
	if (sim_chance(S, S->o->crash_rate * step)) {
		/* Inner nodes carry the traffic of whole subtrees: crash them
		 * more often than their share. */
		int i = (int)sim_below(S, S->n_nodes);
		for (int k = 0; k < 20 && sim_chance(S, 0.6) && S->nodes[i].level == SIM_LEVELS; k++)
			i = (int)sim_below(S, S->n_nodes);
		if (S->nodes[i].up) {
			/* Mostly short outages; some long enough for the peers to
			 * declare the link dead and, with a short log, to need a
			 * snapshot. */
			int64_t down = sim_chance(S, 0.2) ? 20000 + (int64_t)sim_below(S, 40000)
							   : 300 + (int64_t)sim_below(S, 8000);
			crash(S, i, down);
		}
	}
	if (S->o->restore_rate > 0 && sim_chance(S, 0.5 * step)) {
		/* The nightly backup, at a random node. */
		int i = (int)sim_below(S, S->n_nodes);
		for (int k = 0; k < 20 && sim_chance(S, 0.6) && S->nodes[i].level == SIM_LEVELS; k++)
			i = (int)sim_below(S, S->n_nodes);
		if (S->nodes[i].up)
			take_backup(S, i);
	}
	if (sim_chance(S, S->o->partition_rate * step) && S->n_nodes > 1) {
		int i = 1 + (int)sim_below(S, S->n_nodes - 1);
		sim_node_t *n = &S->nodes[i];
		if (n->cut_until <= S->now) {
			int64_t len = 500 + (int64_t)sim_below(S, 20000);
			n->cut_until = S->now + len;
			S->st.partitions++;
			sim_note(S, 1, "cut %012" PRIu64 " <-> %012" PRIu64 " for %.1f s",
				 n->code, S->nodes[n->parent].code, (double)len / 1000);
		}
	}
}

static void heal(sim_t *S)
{
	sim_note(S, 1, "healing: faults stop, crashed nodes restart, links mend");
	S->faults = false;
	for (size_t i = 0; i < S->n_nodes; i++) {
		S->nodes[i].cut_until = 0;
		restart(S, (int)i);
	}
}

/* All links up on both sides, nothing routed and unacknowledged. */
static bool quiescent(sim_t *S, char *why, size_t why_len)
{
	for (size_t i = 0; i < S->n_nodes; i++) {
		sim_node_t *n = &S->nodes[i];
		if (!n->up) {
			snprintf(why, why_len, "%012" PRIu64 " is down", n->code);
			return false;
		}
		Wuji__PeerList *pl = wj_repl_peers(n->repl, sim_node_now(S, (int)i), &S->out_arena);
		for (size_t k = 0; k < pl->n_peers; k++) {
			Wuji__PeerInfo *p = pl->peers[k];
			if (p->state != WUJI__LINK_STATE__LINK_UP || p->backlog != 0) {
				snprintf(why, why_len,
					 "%012" PRIu64 " -> %012" PRIu64 ": state %d, backlog %" PRIu64
					 ", acked %" PRIu64 " of %" PRIu64,
					 n->code, p->node, (int)p->state, p->backlog, p->acked,
					 p->log_end);
				wj_arena_reset(&S->out_arena);
				return false;
			}
		}
		wj_arena_reset(&S->out_arena);
	}
	return true;
}

/* ---------------------------------------------------------- the loop */

static double real_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* --trace-link A-B: every message between two nodes, decoded. */
static void trace_msg(sim_t *S, const qitem_t *it, const char *what)
{
	uint64_t a = S->nodes[it->from].code, b = S->nodes[it->node].code;
	if (!((a == S->o->trace_a && b == S->o->trace_b) || (a == S->o->trace_b && b == S->o->trace_a)))
		return;
	Wuji__PeerMsg *m = wuji__peer_msg__unpack(&S->out_arena.pb, it->len, it->data);
	char body[1200] = "?";
	if (m == NULL)
		snprintf(body, sizeof(body), "undecodable");
	else if (m->body_case == WUJI__PEER_MSG__BODY_HELLO)
		snprintf(body, sizeof(body), "hello%s epoch %016" PRIx64 " log_end %" PRIu64
			 " resume %016" PRIx64 "/%" PRIu64 " your_max_seq %" PRIu64 "%s%s%s",
			 m->hello->is_reply ? "(reply)" : "", m->hello->epoch, m->hello->log_end,
			 m->hello->resume_epoch, m->hello->resume_after, m->hello->your_max_seq,
			 m->hello->full_resync ? " full_resync" : "",
			 m->hello->resync_ack ? " resync_ack" : "",
			 m->hello->recovering ? " recovering" : "");
	else if (m->body_case == WUJI__PEER_MSG__BODY_BATCH) {
		size_t n = (size_t)snprintf(body, sizeof(body), "batch%s epoch %016" PRIx64 " (%"
					    PRIu64 ", %" PRIu64 "] %zu events%s",
					    m->batch->snapshot ? "(snapshot)" : "", m->batch->epoch,
					    m->batch->prev, m->batch->last, m->batch->n_events,
					    m->batch->snapshot_end ? " final" : "");
		/* Which events, to follow one along a path. */
		for (size_t k = 0; k < m->batch->n_events && n + 40 < sizeof(body); k++) {
			const Wuji__Event *ev = m->batch->events[k];
			n += (size_t)snprintf(body + n, sizeof(body) - n, "%s%012" PRIu64 "/%" PRIu64,
					      k ? " " : ": ", ev->origin, ev->seq);
		}
	} else if (m->body_case == WUJI__PEER_MSG__BODY_ACK)
		snprintf(body, sizeof(body), "ack%s%s epoch %016" PRIx64 " pos %" PRIu64,
			 m->ack->snapshot ? "(snapshot)" : "", m->ack->resend ? "(resend)" : "",
			 m->ack->epoch, m->ack->pos);
	else if (m->body_case == WUJI__PEER_MSG__BODY_PING)
		snprintf(body, sizeof(body), "ping epoch %016" PRIx64 " log_end %" PRIu64 "%s",
			 m->ping->epoch, m->ping->log_end, m->ping->recovering ? " recovering" : "");
	else if (m->body_case == WUJI__PEER_MSG__BODY_PONG)
		snprintf(body, sizeof(body), "pong");
	else if (m->body_case == WUJI__PEER_MSG__BODY_TREE)
		snprintf(body, sizeof(body), "tree");
	if (m == NULL || (m->body_case != WUJI__PEER_MSG__BODY_PONG &&
			  m->body_case != WUJI__PEER_MSG__BODY_TREE))
		fprintf(stderr, "link [%9.3fs] %012" PRIu64 " -> %012" PRIu64 " %s: %s\n",
			(double)(S->now - S->t0) / 1000, a, b, what, body);
	wj_arena_reset(&S->out_arena);
}

/* Crashes aimed at the delicate moments, which random crashes rarely
 * hit: in the middle of a snapshot, for less than the dead interval, so
 * that the sender does not notice the restart. */
static void targeted_crash(sim_t *S, const qitem_t *it)
{
	Wuji__PeerMsg *m = wuji__peer_msg__unpack(&S->out_arena.pb, it->len, it->data);
	bool snap = m && m->body_case == WUJI__PEER_MSG__BODY_BATCH && m->batch->snapshot &&
		    m->batch->prev > 0;
	wj_arena_reset(&S->out_arena);
	if (snap && sim_chance(S, S->o->snap_crash)) {
		sim_note(S, 1, "crash %012" PRIu64 " while it receives a snapshot",
			 S->nodes[it->node].code);
		crash(S, it->node, 200 + (int64_t)sim_below(S, 2000));
	}
}

/* Whether a message may be handed over: its sender and receiver are still
 * the incarnations it was sent between, and their link is not cut. */
static bool deliverable(sim_t *S, qitem_t *it)
{
	sim_node_t *to = &S->nodes[it->node];
	if (!to->up || to->incarnation != it->inc_to ||
	    S->nodes[it->from].incarnation != it->inc_from) {
		S->st.crash_drops++;
		if (S->o->trace_a)
			trace_msg(S, it, "lost (crash)");
		return false;
	}
	if (link_cut(S, it->node, it->from)) {
		S->st.cut_drops++;
		if (S->o->trace_a)
			trace_msg(S, it, "lost (cut)");
		return false;
	}
	if (S->o->trace_a)
		trace_msg(S, it, "delivered");
	S->st.delivered++;
	to->received++;
	/* The trace: every delivery, when, where and what.  Two runs of a
	 * seed must give the same. */
	uint64_t h = S->trace ^ (uint64_t)S->now;
	h = (h ^ (uint64_t)it->node * 1000003u ^ (uint64_t)it->from) * 1099511628211ULL;
	for (size_t k = 0; k < it->len; k++)
		h = (h ^ it->data[k]) * 1099511628211ULL;
	S->trace = h;
	return true;
}

/* Messages to one node handed over together, as the daemon hands over
 * what a socket had queued: batches that continue their streams share one
 * transaction (wj_repl_receive_many). */
static void deliver(sim_t *S, qitem_t *items, size_t n)
{
	int node = items[0].node;
	wj_repl_in_t in[DELIVER_GROUP_MAX];
	bool handed[DELIVER_GROUP_MAX];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		handed[i] = deliverable(S, &items[i]);
		if (handed[i])
			in[k++] = (wj_repl_in_t){.peer = S->nodes[items[i].from].code,
						 .data = items[i].data,
						 .len = items[i].len};
	}
	if (k == 0)
		return;
	sim_log_context(S, node);
	wj_repl_out_t out;
	wj_repl_out_init(&out, &S->out_arena);
	wj_repl_receive_many(S->nodes[node].repl, in, k, sim_node_now(S, node), &out);
	flush_out(S, node, &out);
	if (S->faults && S->o->crash_rate > 0)
		for (size_t i = 0; i < n && S->nodes[node].incarnation == items[i].inc_to; i++)
			if (handed[i])
				targeted_crash(S, &items[i]);
}

static void tick(sim_t *S, qitem_t *it)
{
	sim_node_t *n = &S->nodes[it->node];
	if (!n->up || it->gen != n->tick_gen || it->inc_to != n->incarnation)
		return;
	n->tick_at = 0;
	S->st.ticks++;
	sim_log_context(S, it->node);
	wj_repl_out_t out;
	wj_repl_out_init(&out, &S->out_arena);
	int64_t now = sim_node_now(S, it->node);
	wj_repl_tick(n->repl, now, &out);
	if (out.next_tick_ms == 0)
		out.next_tick_ms = now + 1000; /* never leave a node without a timer */
	flush_out(S, it->node, &out);
}

static int run_loop(sim_t *S)
{
	double real0 = real_seconds();
	int64_t quiesce_from = 0, last_qcheck = 0;
	int q_ok = 0;
	char why[256] = "";
	for (uint64_t step = 0; step < LOOP_MAX; step++) {
		if (S->n_heap == 0) {
			sim_fail(S, "the event queue ran empty at %.3f s",
				 (double)(S->now - S->t0) / 1000);
			return -1;
		}
		if ((step & 4095) == 0 && real_seconds() - real0 > S->o->max_real_s) {
			size_t busy = 0;
			for (size_t i = 1; i < S->n_nodes; i++)
				if (S->nodes[i].received > S->nodes[busy].received)
					busy = i;
			sim_fail(S, "gave up after %.0f s of real time at %.1f s simulated "
				 "(raise --max-real); %" PRIu64 " messages so far, the busiest "
				 "node %012" PRIu64 " received %" PRIu64, S->o->max_real_s,
				 (double)(S->now - S->t0) / 1000, S->st.msgs,
				 S->nodes[busy].code, S->nodes[busy].received);
			return -1;
		}
		if (interrupted) {
			sim_fail(S, "interrupted at %.1f s simulated", (double)(S->now - S->t0) / 1000);
			return -1;
		}
		qitem_t it = q_pop(S);
		S->now = it.at;
		switch (it.kind) {
		case Q_DELIVER: {
			/* What reaches a node within DELIVER_GROUP_MS, with
			 * nothing for another node in between, arrives
			 * together. */
			qitem_t group[DELIVER_GROUP_MAX];
			size_t n = 0;
			group[n++] = it;
			while (n < DELIVER_GROUP_MAX && S->n_heap > 0 &&
			       S->heap[0].kind == Q_DELIVER && S->heap[0].node == it.node &&
			       S->heap[0].at <= it.at + DELIVER_GROUP_MS)
				group[n++] = q_pop(S);
			deliver(S, group, n);
			for (size_t i = 0; i < n; i++)
				free(group[i].data);
			break;
		}
		case Q_TICK:
			tick(S, &it);
			break;
		case Q_RESTART:
			if (S->nodes[it.node].incarnation == it.inc_to)
				restart(S, it.node);
			break;
		case Q_RESTORE_GROUP:
			if (S->faults)
				restore_group_end(S, &it);
			break;
		case Q_FAULT:
			if (S->faults) {
				fault_step(S);
				q_push(S, (qitem_t){.at = S->now + FAULT_EVERY_MS, .kind = Q_FAULT});
			}
			break;
		case Q_CLIENT:
			if (S->faults && S->now >= S->fault_end)
				heal(S);
			if (S->client_on) {
				sim_client_step(S);
				bool done = !S->faults && S->submitted >= S->o->cases &&
					    sim_client_idle(S);
				if (done || S->now >= S->client_end) {
					S->client_on = false;
					quiesce_from = S->now;
					sim_note(S, 1, "client stops (%s)",
						 done ? "every case finished" : "time is up");
				}
			} else if (!S->faults && S->now - last_qcheck >= 1000) {
				last_qcheck = S->now;
				if (quiescent(S, why, sizeof(why))) {
					/* Backlogs are counted at most once a second:
					 * two checks a second apart see fresh counts. */
					if (++q_ok >= 2) {
						sim_note(S, 1, "quiescent");
						return 0;
					}
				} else {
					q_ok = 0;
				}
				if (S->now - quiesce_from > QUIESCE_MAX_MS) {
					sim_fail(S, "not quiescent %.0f s after the client stopped: %s",
						 (double)QUIESCE_MAX_MS / 1000, why);
					return -1;
				}
			}
			q_push(S, (qitem_t){.at = S->now + CLIENT_EVERY_MS, .kind = Q_CLIENT});
			break;
		}
		if (S->n_failures)
			return -1;
	}
	sim_fail(S, "the event loop ran %llu steps without settling",
		 (unsigned long long)LOOP_MAX);
	return -1;
}

/* --sabotage wipe: the node loses its store and comes back empty, with
 * no links, so nothing repairs it before the checks. */
static void wipe_node(sim_t *S, int i)
{
	sim_node_t *n = &S->nodes[i];
	node_close(S, i);
	rm_tree(n->dir);
	mkdir(n->dir, 0755);
	wj_err_t err = {0};
	wj_service_opts_t so = {.node = n->code, .data_dir = n->dir, .map_size = 64ULL << 20};
	if (wj_service_open(&so, &n->svc, &err) == 0)
		n->up = true;
}

/* ------------------------------------------------------------ one run */

static void free_run(sim_t *S)
{
	for (size_t i = 0; i < S->n_nodes; i++) {
		node_close(S, (int)i);
		free(S->nodes[i].children);
		free(S->nodes[i].lost_spans);
		free(S->nodes[i].child_codes);
	}
	for (size_t i = 0; i < S->n_heap; i++)
		free(S->heap[i].data);
	for (size_t i = 0; i < S->n_cases; i++)
		free(S->cases[i].acks);
	free(S->cases);
	free(S->heap);
	free(S->nodes);
	free(S->by_code);
	wj_arena_free(&S->file_arena);
	wj_arena_free(&S->out_arena);
	wj_arena_free(&S->req_arena);
}

static int run_one(const sim_opts_t *o, uint64_t seed, uint64_t *trace)
{
	sim_t *S = calloc(1, sizeof(*S));
	sim_opts_t oo = *o;
	oo.seed = seed;
	if (oo.quick && oo.cases > 100)
		oo.cases = 100;
	S->o = &oo;
	current_seed = seed;
	wj_log_set_level(o->verbose >= 4 ? WJ_LOG_DEBUG : o->verbose >= 3 ? WJ_LOG_INFO
			 : o->verbose >= 2 ? WJ_LOG_WARN : WJ_LOG_ERROR);
	seed_rng(S->rng, seed);
	seed_rng(sodium_rng, seed ^ 0x5eed5eed5eed5eedULL);
	S->t0 = S->now = T0_MS;
	wj_arena_init(&S->file_arena, 256 << 10);
	wj_arena_init(&S->out_arena, 256 << 10);
	wj_arena_init(&S->req_arena, 64 << 10);
	snprintf(S->root_dir, sizeof(S->root_dir), "/dev/shm/wj-sim-%d", (int)getpid());
	rm_tree(S->root_dir);
	double real0 = real_seconds();
	int rc = -1;

	if (mkdir(S->root_dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "wuji-sim: cannot create %s: %s\n", S->root_dir, strerror(errno));
		goto out;
	}
	if (sim_load_files(S) != 0 || build_tree(S) != 0)
		goto out;
	for (size_t i = 0; i < S->n_nodes; i++) {
		if (mkdir(S->nodes[i].dir, 0755) != 0 && errno != EEXIST) {
			sim_fail(S, "cannot create %s: %s", S->nodes[i].dir, strerror(errno));
			goto out;
		}
		if (node_open(S, (int)i) != 0)
			goto out;
	}

	/* Timeline: calendar and catalog load at the start (the calendar
	 * later with --late-calendar); cases start after a warm-up and are
	 * spread evenly; faults run from the start until 20 s after the last
	 * submission; the client then finishes its cases (at most 90 s) and
	 * the tree must fall quiet within QUIESCE_MAX_MS. */
	S->faults = true;
	S->client_on = true;
	S->submit_start = S->t0 + 10000;
	S->submit_every = 150;
	S->fault_end = S->submit_start + (int64_t)oo.cases * S->submit_every + 20000;
	S->client_end = S->fault_end + 90000;
	q_push(S, (qitem_t){.at = S->t0, .kind = Q_CLIENT});
	q_push(S, (qitem_t){.at = S->t0 + 1000, .kind = Q_FAULT});

	if (run_loop(S) == 0 && sim_check(S) == 0) {
		rc = 0;
		if (o->sabotage) {
			/* Self-test: the clean run passed; now break it and
			 * the checks must notice. */
			sim_sabotage(S, o->sabotage, wipe_node);
			S->self_test = true;
			if (sim_check(S) == 0) {
				S->self_test = false;
				sim_fail(S, "--sabotage %s went unnoticed by the checks", o->sabotage);
				rc = -1;
			}
			S->self_test = false;
		}
	}
	if (o->dump_case)
		sim_dump_case(S, o->dump_case);
	if (o->dump_origin)
		sim_dump_origin(S, o->dump_origin);

	uint64_t events = 0;
	for (size_t i = 0; i < S->n_nodes; i++)
		if (S->nodes[i].up)
			S->st.resyncs += count_resyncs(S, (int)i);
	for (size_t i = 0; i < S->n_cases; i++)
		events += S->cases[i].n_acks;
	if (rc == 0 && o->sabotage)
		printf("wuji-sim: ok seed=%" PRIu64 ": the checks caught --sabotage %s (%d "
		       "problems)\n", seed, o->sabotage, S->n_failures);
	else if (rc == 0)
		printf("wuji-sim: ok seed=%" PRIu64 ": %zu nodes, %zu cases, %" PRIu64
		       " events acknowledged, %" PRIu64 " messages (%" PRIu64 " Aheads, %" PRIu64
		       " lost, %" PRIu64
		       " cut, %" PRIu64 " dropped by crashes, %" PRIu64 " duplicated, %" PRIu64
		        " reordered), %" PRIu64 " crashes, %" PRIu64 " partitions, %" PRIu64
		       " snapshots, %" PRIu64 " restores (%" PRIu64 " in groups), %" PRIu64
		       " pings held, %" PRIu64 " superseded steps, %.1f s "
		       "simulated, %.1f s real, trace %016" PRIx64 "\n",
		       seed, S->n_nodes, S->n_cases, events, S->st.msgs, S->st.aheads, S->st.lost,
		       S->st.cut_drops, S->st.crash_drops, S->st.dups, S->st.reordered,
		       S->st.crashes, S->st.partitions, S->st.resyncs, S->st.restores,
		       S->st.group_restores, S->st.pings_held, S->st.superseded,
		       (double)(S->now - S->t0) / 1000, real_seconds() - real0, S->trace);
	else
		fprintf(stderr, "wuji-sim: seed=%" PRIu64 " failed after %.1f s simulated "
			"(%zu cases, %" PRIu64 " crashes, %" PRIu64 " partitions); replay with "
			"the same options and --seed %" PRIu64 "%s\n", seed, (double)(S->now - S->t0) / 1000,
			S->n_cases, S->st.crashes, S->st.partitions, seed,
			o->keep ? "" : " (--keep to look at the stores, -v to follow it)");
	fflush(stdout);
out:
	*trace = S->trace;
	free_run(S);
	if (!o->keep || rc == 0)
		rm_tree(S->root_dir);
	else
		fprintf(stderr, "wuji-sim: stores kept in %s\n", S->root_dir);
	free(S);
	return rc;
}

/* ------------------------------------------------------------ options */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wuji-sim [options]\n"
		"Deterministic simulation of a province's tree of wuji nodes (real\n"
		"wj_service + wj_repl, one LMDB store each under /dev/shm): a client\n"
		"workload under faults, then healing, then checks that every node\n"
		"converged.  Same seed and options, same run.\n"
		"\n"
		"Which runs:\n"
		"  --seed N            seed of the run (default 1)\n"
		"  --runs K            run seeds N .. N+K-1\n"
		"  --seeds-file FILE   one run per line: SEED [OPTIONS], # comments;\n"
		"                      a line's options go on top of the command line's\n"
		"  --twice             run each seed twice: the traces must be equal\n"
		"The world:\n"
		"  --shape A-B-C-D-E   fan-out per level (default 1-3-3-4-5: 229 nodes)\n"
		"  --cases N           cases to submit (default 300)\n"
		"  --quick             at most 100 cases\n"
		"  --late-calendar     load the calendar 15 s after cases have started\n"
		"  --conflicts         let the client race commands against decisions\n"
		"  --catalog FILE, --calendar FILE   default: $WJ_SAMPLES, or\n"
		"                      deploy/samples found from the binary's place\n"
		"Faults (until 20 s after the last submission):\n"
		"  --loss P            message loss probability (default 0.02)\n"
		"  --dup P             duplication probability (default 0.01)\n"
		"  --reorder P         probability of 50-500 ms more delay (default 0.05)\n"
		"  --crash-rate R      crash-restarts per simulated second (default 0.25)\n"
		"  --snap-crash P      crash a node that just took a snapshot batch,\n"
		"                      for less than the dead interval (default 0.05)\n"
		"  --partition-rate R  link cuts per simulated second (default 0.3)\n"
		"  --restore-rate P    share of crashes that come back from an older\n"
		"                      backup of the store (default 0)\n"
		"  --restore-pairs R   per simulated second: back up a node and one of\n"
		"                      its children (at times its parent too), cut the\n"
		"                      link above them, and a few seconds later restore\n"
		"                      them all from those backups (default 0)\n"
		"  --ping-delay P      chance to hold a ping back 1-6 s (default 0)\n"
		"  --skew MS           each node's clock off by up to MS ms (default 0)\n"
		"Replication options (small, so that windows, trimming and snapshots\n"
		"happen):\n"
		"  --batch N (default 8), --window N (default 4), --log-keep N (default 100)\n"
		"Looking into a run:\n"
		"  -v                  faults and phases; -v -v the client's requests and\n"
		"                      the nodes' warnings; -v -v -v their info lines\n"
		"  --trace-link A-B    every message between nodes A and B, decoded\n"
		"  --dump-case NUMBER  that case and its events at every node, at the end\n"
		"  --dump-origin CODE  the events of that origin at every node, at the end\n"
		"  --keep              keep /dev/shm/wj-sim-PID after a failure\n"
		"  --max-real S        give up (and fail) after S s of real time (300)\n"
		"  --sabotage HOW      self-test of the checks: after a clean run, break\n"
		"                      the stores (wipe, corrupt, forget, nullify,\n"
		"                      leak or reuse); passes when the checks then\n"
		"                      find the damage\n"
		"Exit status: 0 when every run passed, 1 when one failed, 2 for bad usage.\n");
}

static int parse_shape(const char *s, int shape[SIM_LEVELS])
{
	int n = sscanf(s, "%d-%d-%d-%d-%d", &shape[0], &shape[1], &shape[2], &shape[3],
		       &shape[4]);
	if (n != 5 || shape[0] != 1 || shape[1] < 1 || shape[1] > 99 || shape[2] < 1 ||
	    shape[2] > 94 || shape[3] < 1 || shape[3] > 99 || shape[4] < 1 || shape[4] > 199) {
		fprintf(stderr, "wuji-sim: --shape wants 1-CITIES-COUNTIES-TOWNSHIPS-VILLAGES "
			"(cities 1-99, counties 1-94, townships 1-99, villages 1-199), "
			"got \"%s\"\n", s);
		return -1;
	}
	return 0;
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double d = v ? strtod(v, &end) : 0;
	if (v == NULL || errno || end == v || *end || d < lo || d > hi) {
		fprintf(stderr, "wuji-sim: %s wants a number from %g to %g, got \"%s\"\n", opt,
			lo, hi, v ? v : "");
		return -1;
	}
	*out = d;
	return 0;
}

/* Options of one run.  Returns 0, or 2 after telling what is wrong.
 * per_seed: a line of a seeds file, where the seed itself was read
 * already and the selection of seeds cannot change. */
typedef struct selection {
	uint64_t runs;
	const char *seeds_file;
} selection_t;

static int parse_opts(int argc, char **argv, sim_opts_t *o, selection_t *sel, bool per_seed)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		double d = 0;
		if (strcmp(a, "--late-calendar") == 0) {
			o->late_calendar = true;
			continue;
		} else if (strcmp(a, "--conflicts") == 0) {
			o->conflicts = true;
			continue;
		} else if (strcmp(a, "--quick") == 0) {
			o->quick = true;
			continue;
		} else if (strcmp(a, "--keep") == 0) {
			o->keep = true;
			continue;
		} else if (strcmp(a, "--twice") == 0) {
			o->twice = true;
			continue;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o->verbose++;
			continue;
		}
		if (per_seed && (strcmp(a, "--seed") == 0 || strcmp(a, "--runs") == 0 ||
				 strcmp(a, "--seeds-file") == 0)) {
			fprintf(stderr, "wuji-sim: %s cannot be given on a line of a seeds file\n", a);
			return 2;
		}
		/* Every other option takes a value. */
		if (v == NULL) {
			fprintf(stderr, "wuji-sim: unknown option or missing value: %s\n", a);
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--seed") == 0) {
			char *end;
			errno = 0;
			o->seed = strtoull(v, &end, 10);
			if (errno || end == v || *end) {
				fprintf(stderr, "wuji-sim: --seed wants a decimal number, got \"%s\"\n", v);
				return 2;
			}
		} else if (strcmp(a, "--seeds-file") == 0) {
			sel->seeds_file = v;
		} else if (strcmp(a, "--shape") == 0) {
			if (parse_shape(v, o->shape) != 0)
				return 2;
		} else if (strcmp(a, "--catalog") == 0) {
			o->catalog_path = v;
		} else if (strcmp(a, "--calendar") == 0) {
			o->calendar_path = v;
		} else if (strcmp(a, "--trace-link") == 0) {
			unsigned long long x, y;
			if (sscanf(v, "%llu-%llu", &x, &y) != 2) {
				fprintf(stderr, "wuji-sim: --trace-link wants CODE-CODE\n");
				return 2;
			}
			o->trace_a = x;
			o->trace_b = y;
		} else if (strcmp(a, "--dump-origin") == 0) {
			o->dump_origin = strtoull(v, NULL, 10);
		} else if (strcmp(a, "--dump-case") == 0) {
			o->dump_case = v;
		} else if (strcmp(a, "--sabotage") == 0) {
			if (strcmp(v, "wipe") && strcmp(v, "corrupt") && strcmp(v, "forget") &&
			    strcmp(v, "nullify") && strcmp(v, "leak") && strcmp(v, "reuse")) {
				fprintf(stderr, "wuji-sim: --sabotage is wipe, corrupt, forget, "
					"nullify, leak or reuse\n");
				return 2;
			}
			o->sabotage = v;
		} else if (strcmp(a, "--runs") == 0) {
			if (parse_num(a, v, 1, 1e6, &d))
				return 2;
			sel->runs = (uint64_t)d;
		} else if (strcmp(a, "--cases") == 0) {
			if (parse_num(a, v, 0, 100000, &d))
				return 2;
			o->cases = (uint32_t)d;
		} else if (strcmp(a, "--loss") == 0) {
			if (parse_num(a, v, 0, 0.9, &o->loss))
				return 2;
		} else if (strcmp(a, "--dup") == 0) {
			if (parse_num(a, v, 0, 0.9, &o->dup))
				return 2;
		} else if (strcmp(a, "--reorder") == 0) {
			if (parse_num(a, v, 0, 1, &o->reorder))
				return 2;
		} else if (strcmp(a, "--crash-rate") == 0) {
			if (parse_num(a, v, 0, 10, &o->crash_rate))
				return 2;
		} else if (strcmp(a, "--partition-rate") == 0) {
			if (parse_num(a, v, 0, 10, &o->partition_rate))
				return 2;
		} else if (strcmp(a, "--snap-crash") == 0) {
			if (parse_num(a, v, 0, 1, &o->snap_crash))
				return 2;
		} else if (strcmp(a, "--restore-rate") == 0) {
			if (parse_num(a, v, 0, 1, &o->restore_rate))
				return 2;
		} else if (strcmp(a, "--restore-pairs") == 0) {
			if (parse_num(a, v, 0, 10, &o->restore_pairs))
				return 2;
		} else if (strcmp(a, "--ping-delay") == 0) {
			if (parse_num(a, v, 0, 1, &o->ping_delay))
				return 2;
		} else if (strcmp(a, "--skew") == 0) {
			if (parse_num(a, v, 0, 3600000, &d))
				return 2;
			o->skew_ms = (int64_t)d;
		} else if (strcmp(a, "--batch") == 0) {
			if (parse_num(a, v, 1, 100000, &d))
				return 2;
			o->batch_events = (uint32_t)d;
		} else if (strcmp(a, "--window") == 0) {
			if (parse_num(a, v, 1, 64, &d))
				return 2;
			o->window_batches = (uint32_t)d;
		} else if (strcmp(a, "--log-keep") == 0) {
			if (parse_num(a, v, 1, 1e12, &d))
				return 2;
			o->log_keep = (uint64_t)d;
		} else if (strcmp(a, "--max-real") == 0) {
			if (parse_num(a, v, 1, 1e6, &o->max_real_s))
				return 2;
		} else {
			fprintf(stderr, "wuji-sim: unknown option: %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	return 0;
}

typedef struct planned {
	uint64_t seed;
	sim_opts_t o;
	char *line;     /* owns the strings o points into */
} planned_t;

/* One run per line: "SEED [OPTIONS]", options on top of the command
 * line's, "#" to the end of a line is a comment. */
static int read_seeds(const char *path, const sim_opts_t *base, planned_t **plan, size_t *n)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "wuji-sim: cannot open seeds file %s: %s\n", path,
			strerror(errno));
		return 2;
	}
	char buf[1024];
	int lineno = 0;
	while (fgets(buf, sizeof(buf), f)) {
		lineno++;
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		char *line = strdup(buf);
		char *args[64];
		int na = 0;
		for (char *tok = strtok(line, " \t\r\n"); tok && na < 64; tok = strtok(NULL, " \t\r\n"))
			args[na++] = tok;
		if (na == 0) {
			free(line);
			continue;
		}
		char *end;
		errno = 0;
		unsigned long long v = strtoull(args[0], &end, 10);
		planned_t p = {.seed = v, .o = *base, .line = line};
		selection_t sel = {0};
		if (errno || end == args[0] || *end) {
			fprintf(stderr, "wuji-sim: %s:%d: a line starts with a decimal seed\n", path,
				lineno);
			free(line);
			fclose(f);
			return 2;
		}
		if (parse_opts(na - 1, args + 1, &p.o, &sel, true) != 0) {
			fprintf(stderr, "wuji-sim: (in %s:%d)\n", path, lineno);
			free(line);
			fclose(f);
			return 2;
		}
		*plan = realloc(*plan, (*n + 1) * sizeof(**plan));
		(*plan)[(*n)++] = p;
	}
	fclose(f);
	if (*n == 0) {
		fprintf(stderr, "wuji-sim: %s lists no seeds\n", path);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	sim_opts_t o = {
		.seed = 1,
		.shape = {1, 3, 3, 4, 5},
		.cases = 300,
		.loss = 0.02,
		.dup = 0.01,
		.reorder = 0.05,
		.crash_rate = 0.25,
		.partition_rate = 0.3,
		.batch_events = 8,
		.window_batches = 4,
		.log_keep = 100,
		.snap_crash = 0.05,
		.max_real_s = 300,
	};
	selection_t sel = {.runs = 1};
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	if (parse_opts(argc - 1, argv + 1, &o, &sel, false) != 0)
		return 2;
	if (randombytes_set_implementation(&det_impl) != 0 || sodium_init() < 0) {
		fprintf(stderr, "wuji-sim: cannot set up libsodium\n");
		return 2;
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	planned_t *plan = NULL;
	size_t n = 0;
	if (sel.seeds_file) {
		if (read_seeds(sel.seeds_file, &o, &plan, &n) != 0)
			return 2;
	} else {
		plan = calloc(sel.runs, sizeof(*plan));
		for (uint64_t k = 0; k < sel.runs; k++)
			plan[n++] = (planned_t){.seed = o.seed + k, .o = o};
	}
	int failed = 0;
	size_t done = 0;
	for (size_t k = 0; k < n && !interrupted; k++, done++) {
		uint64_t t1, t2;
		if (run_one(&plan[k].o, plan[k].seed, &t1) != 0) {
			failed++;
		} else if (plan[k].o.twice) {
			if (run_one(&plan[k].o, plan[k].seed, &t2) != 0) {
				failed++;
			} else if (t1 != t2) {
				fprintf(stderr, "wuji-sim: FAILED seed=%" PRIu64 ": not deterministic: "
					"the second run's trace is %016" PRIx64 ", the first's %016"
					PRIx64 "\n", plan[k].seed, t2, t1);
				failed++;
			}
		}
		free(plan[k].line);
	}
	free(plan);
	if (n > 1)
		printf("wuji-sim: %zu of %zu runs passed%s\n", done - (size_t)failed, n,
		       interrupted ? " (interrupted)" : "");
	return failed ? 1 : 0;
}
