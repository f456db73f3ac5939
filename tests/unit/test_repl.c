/* Replication tests: one node's wj_repl over a real store in a temp dir,
 * its peers played by hand-made messages.  The simulator (tests/sim)
 * covers whole trees under faults; these pin down single rules that a
 * sweep hits only by chance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "repl.h"
#include "service.h"
#include "storage/store.h"
#include "core/case.h"
#include "evlist.h"

#define PROVINCE 330000000000ULL
#define CITY_A 330100000000ULL
#define CITY_B 330200000000ULL
#define COUNTY_A1 330102000000ULL
#define TOWNSHIP_A11 330102001000ULL
#define COUNTY_B1 330201000000ULL
#define T0 1772413200000LL

struct fixture {
	char dir[64];
	wj_service_t *svc;
	wj_repl_t *repl;
	wj_arena_t arena;
};

static int setup_node(void **state, uint64_t node, uint64_t parent, const uint64_t *children,
		      size_t n_children)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/wj-test-repl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	wj_service_opts_t so = {.node = node, .data_dir = f->dir, .yellow_days = 1};
	wj_err_t err = {0};
	assert_int_equal(wj_service_open(&so, &f->svc, &err), 0);
	wj_repl_opts_t ro = {.parent = parent, .children = children, .n_children = n_children};
	assert_int_equal(wj_repl_new(f->svc, &ro, T0, &f->repl, &err), 0);
	wj_service_set_repl(f->svc, f->repl);
	wj_arena_init(&f->arena, 1 << 16);
	*state = f;
	return 0;
}

/* The province, with cities A and B below. */
static int setup(void **state)
{
	static const uint64_t children[] = {CITY_A, CITY_B};
	return setup_node(state, PROVINCE, 0, children, 2);
}

/* City A as a relay: the province above, county A1 below. */
static int setup_relay(void **state)
{
	static const uint64_t children[] = {COUNTY_A1};
	return setup_node(state, CITY_A, PROVINCE, children, 1);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	wj_service_set_repl(f->svc, NULL);
	wj_repl_free(f->repl);
	wj_service_close(f->svc);
	wj_arena_free(&f->arena);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Message i of out, decoded, when it goes to `to`; NULL otherwise. */
static Wuji__PeerMsg *msg_to(struct fixture *f, const wj_repl_out_t *out, size_t i, uint64_t to)
{
	if (out->msgs[i].peer != to)
		return NULL;
	Wuji__PeerMsg *m = wuji__peer_msg__unpack(&f->arena.pb, out->msgs[i].len,
						  out->msgs[i].data);
	assert_non_null(m);
	return m;
}

/* The `recovering` flag of the last ping or hello to `to` in out, as
 * 0 or 1; -1 when there is none. */
static int said_recovering(struct fixture *f, const wj_repl_out_t *out, uint64_t to)
{
	int said = -1;
	for (size_t i = 0; i < out->n_msgs; i++) {
		Wuji__PeerMsg *m = msg_to(f, out, i, to);
		if (m == NULL)
			continue;
		if (m->body_case == WUJI__PEER_MSG__BODY_PING)
			said = m->ping->recovering;
		else if (m->body_case == WUJI__PEER_MSG__BODY_HELLO)
			said = m->hello->recovering;
	}
	return said;
}

/* m from `from`, packed as the node's links hand it over. */
static wj_repl_in_t packed_from(struct fixture *f, uint64_t from, Wuji__PeerMsg *m)
{
	m->from = from;
	size_t len = wuji__peer_msg__get_packed_size(m);
	uint8_t *buf = wj_arena_alloc(&f->arena, len + 1);
	wuji__peer_msg__pack(m, buf);
	return (wj_repl_in_t){.peer = from, .data = buf, .len = len};
}

/* The node receives `in`; what it sends is in out.  With send_now, what
 * it sends before its commit goes there at once (the daemon's links). */
static void receive_in(struct fixture *f, wj_repl_in_t in, int64_t now, wj_repl_out_t *out,
		       void (*send_now)(void *ctx, const wj_repl_msg_t *m), void *ctx)
{
	wj_repl_out_init(out, &f->arena);
	out->send_now = send_now;
	out->send_now_ctx = ctx;
	wj_repl_receive_many(f->repl, &in, 1, now, out);
}

static void send_to(struct fixture *f, uint64_t from, Wuji__PeerMsg *m, int64_t now,
		    wj_repl_out_t *out)
{
	receive_in(f, packed_from(f, from, m), now, out, NULL, NULL);
}

static void send_hello(struct fixture *f, Wuji__Hello *h, int64_t now, wj_repl_out_t *out)
{
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_HELLO;
	m.hello = h;
	send_to(f, h->node, &m, now, out);
}

/* `from` sends the node a tree report of these nodes. */
static void send_tree(struct fixture *f, uint64_t from, Wuji__TreeNode **nodes, size_t n,
		      int64_t now, wj_repl_out_t *out)
{
	Wuji__TreeReport rep = WUJI__TREE_REPORT__INIT;
	rep.nodes = nodes;
	rep.n_nodes = n;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_TREE;
	m.tree = &rep;
	send_to(f, from, &m, now, out);
}

static void hello_ex(struct fixture *f, uint64_t from, uint64_t epoch, bool full_resync,
		     bool recovering, uint64_t log_end, uint64_t resume_epoch,
		     uint64_t resume_after, uint64_t your_max_seq, const char *your_max_case,
		     int64_t now, wj_repl_out_t *out)
{
	Wuji__Hello h = WUJI__HELLO__INIT;
	h.node = from;
	h.epoch = epoch;
	h.log_end = log_end;
	h.full_resync = full_resync;
	h.recovering = recovering;
	h.resume_epoch = resume_epoch;
	h.resume_after = resume_after;
	h.your_max_seq = your_max_seq;
	h.your_max_case = (char *)(your_max_case ? your_max_case : "");
	h.wall_ms = now;
	send_hello(f, &h, now, out);
}

static void hello_from(struct fixture *f, uint64_t from, uint64_t epoch, uint64_t your_max_seq,
		       int64_t now, wj_repl_out_t *out)
{
	hello_ex(f, from, epoch, false, false, 3, 0, 0, your_max_seq, NULL, now, out);
}

static void ping_from(struct fixture *f, uint64_t from, int64_t now, wj_repl_out_t *out)
{
	Wuji__Ping p = WUJI__PING__INIT;
	p.wall_ms = now;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_PING;
	m.ping = &p;
	send_to(f, from, &m, now, out);
}

/* `from` acknowledges the node's log (of this epoch) up to pos. */
static void ack_from(struct fixture *f, uint64_t from, uint64_t epoch, uint64_t pos, int64_t now,
		     wj_repl_out_t *out)
{
	Wuji__Ack ack = WUJI__ACK__INIT;
	ack.epoch = epoch;
	ack.pos = pos;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_ACK;
	m.ack = &ack;
	send_to(f, from, &m, now, out);
}

static void tick_out(struct fixture *f, int64_t now, wj_repl_out_t *out)
{
	wj_repl_out_init(out, &f->arena);
	wj_repl_tick(f->repl, now, out);
}

static int tick(struct fixture *f, int64_t now, uint64_t to)
{
	wj_repl_out_t out;
	tick_out(f, now, &out);
	return said_recovering(f, &out, to);
}

/* A restored node tells each peer whether what it sends may still lack
 * events on their way back from its other peers.  Once it has said no,
 * it must not say yes again in that epoch: a "no" held up on the way
 * would otherwise reach the peer after a later "yes" and end the peer's
 * wait for it too early.  Here the province, restored, waits for city A;
 * A's link goes down (a down child is not waited for: the province says
 * "no" to city B), then A comes back, its resync still pending. */
static void test_recovering_said_once(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;

	/* City A holds seq 5 of the province, whose store is empty: the
	 * province was restored from an older copy. */
	hello_from(f, CITY_A, 0xa1, 5, T0 + 10, &out);
	assert_true(wj_repl_recovering(f->repl));
	hello_from(f, CITY_B, 0xb1, 0, T0 + 20, &out);
	/* A has not sent everything back yet: B hears "recovering". */
	assert_int_equal(said_recovering(f, &out, CITY_B), 1);
	assert_int_equal(tick(f, T0 + 1500, CITY_B), 1);

	/* A falls silent; B does not. */
	ping_from(f, CITY_B, T0 + 4000, &out);
	ping_from(f, CITY_B, T0 + 5500, &out);
	assert_int_equal(tick(f, T0 + 6000, CITY_B), 0);

	/* A is back, still owing its resync: the province's own writes
	 * wait for it again, but what it has told B stands. */
	hello_from(f, CITY_A, 0xa1, 5, T0 + 6500, &out);
	assert_true(wj_repl_recovering(f->repl));
	ping_from(f, CITY_B, T0 + 7000, &out);
	assert_int_equal(tick(f, T0 + 7600, CITY_B), 0);
}


/* ------------------------------------------- restores with a child away */

static void close_node(struct fixture *f)
{
	wj_service_set_repl(f->svc, NULL);
	wj_repl_free(f->repl);
	wj_service_close(f->svc);
	f->repl = NULL;
	f->svc = NULL;
}

/* Opens the node in f->dir, with a map of map_size bytes (0: default). */
static void open_node_map(struct fixture *f, int64_t now, uint64_t map_size)
{
	wj_service_opts_t so = {.node = PROVINCE, .data_dir = f->dir, .yellow_days = 1,
				.map_size = map_size};
	wj_err_t err = {0};
	assert_int_equal(wj_service_open(&so, &f->svc, &err), 0);
	static const uint64_t children[] = {CITY_A, CITY_B};
	wj_repl_opts_t ro = {.children = children, .n_children = 2};
	assert_int_equal(wj_repl_new(f->svc, &ro, now, &f->repl, &err), 0);
	wj_service_set_repl(f->svc, f->repl);
}

static void open_node(struct fixture *f, int64_t now)
{
	open_node_map(f, now, 0);
}

/* Replaces the directory `to` with a copy of `from` (NULL: removes it). */
static void copy_dir(const char *from, const char *to)
{
	char cmd[256];
	if (from)
		snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s", to, from, to);
	else
		snprintf(cmd, sizeof(cmd), "rm -rf %s", to);
	assert_int_equal(system(cmd), 0);
}

static Wuji__Reply *request_at(struct fixture *f, wj_service_t *svc, Wuji__Request *req,
			       int64_t now);

static Wuji__Reply *request(struct fixture *f, Wuji__Request *req, int64_t now)
{
	return request_at(f, f->svc, req, now);
}

/* Runs one control request at svc (the node, or another service a test
 * plays a peer with). */
static Wuji__Reply *request_at(struct fixture *f, wj_service_t *svc, Wuji__Request *req,
			       int64_t now)
{
	static uint64_t id;
	req->id = ++id;
	wj_service_req_t r = {0};
	size_t len = wuji__request__get_packed_size(req);
	uint8_t *buf = wj_arena_alloc(&f->arena, len + 1);
	r.data = buf;
	r.len = wuji__request__pack(req, buf);
	wj_service_batch(svc, &r, 1, now, &f->arena);
	Wuji__Reply *rep = wuji__reply__unpack(&f->arena.pb, r.reply_len, r.reply);
	assert_non_null(rep);
	return rep;
}

static void load_catalog_at(struct fixture *f, wj_service_t *svc, int64_t now,
			    uint32_t promised_days);

static void load_catalog(struct fixture *f, int64_t now)
{
	load_catalog_at(f, f->svc, now, 5);
}

static void load_catalog_days(struct fixture *f, int64_t now, uint32_t promised_days)
{
	load_catalog_at(f, f->svc, now, promised_days);
}

/* Loads item XK-001, handled at the province, promised in that many
 * working days, at svc. */
static void load_catalog_at(struct fixture *f, wj_service_t *svc, int64_t now,
			    uint32_t promised_days)
{
	wj_arena_t *a = &f->arena;
	Wuji__CatalogItem *it = wj_arena_alloc(a, sizeof(*it));
	wuji__catalog_item__init(it);
	it->code = wj_arena_strdup(a, "XK-001");
	it->name = wj_arena_strdup(a, "个体工商户设立登记");
	it->kind = WUJI__ITEM_KIND__ITEM_PROMISED;
	it->promised_days = promised_days;
	it->statutory_days = 15;
	Wuji__CatalogTask **t = wj_arena_push(a, &it->tasks, &it->n_tasks, sizeof(*t));
	*t = wj_arena_alloc(a, sizeof(**t));
	wuji__catalog_task__init(*t);
	(*t)->department = wj_arena_strdup(a, "省市场监督管理局");
	(*t)->level = WUJI__LEVEL__PROVINCE;
	Wuji__CatalogLoadRequest *cl = wj_arena_alloc(a, sizeof(*cl));
	wuji__catalog_load_request__init(cl);
	cl->catalog = wj_arena_alloc(a, sizeof(*cl->catalog));
	wuji__catalog__init(cl->catalog);
	Wuji__CatalogItem **slot = wj_arena_push(a, &cl->catalog->items, &cl->catalog->n_items,
						 sizeof(*slot));
	*slot = it;
	Wuji__Request *r = wj_arena_alloc(a, sizeof(*r));
	wuji__request__init(r);
	r->op_case = WUJI__REQUEST__OP_CATALOG_LOAD;
	r->catalog_load = cl;
	Wuji__Reply *rep = request_at(f, svc, r, now);
	assert_int_equal(rep->code, WUJI__ERROR_CODE__OK);
}

static Wuji__Reply *submit_reply_at(struct fixture *f, wj_service_t *svc,
				     const char *applicant, int64_t now);

/* Asks the node to submit a case; its reply. */
static Wuji__Reply *submit_reply(struct fixture *f, const char *applicant, int64_t now)
{
	return submit_reply_at(f, f->svc, applicant, now);
}

static Wuji__Reply *submit_reply_at(struct fixture *f, wj_service_t *svc,
				     const char *applicant, int64_t now)
{
	wj_arena_t *a = &f->arena;
	Wuji__SubmitRequest *s = wj_arena_alloc(a, sizeof(*s));
	wuji__submit_request__init(s);
	s->item_code = wj_arena_strdup(a, "XK-001");
	s->applicant = wj_arena_alloc(a, sizeof(*s->applicant));
	wuji__applicant__init(s->applicant);
	s->applicant->name = wj_arena_strdup(a, applicant);
	Wuji__Request *r = wj_arena_alloc(a, sizeof(*r));
	wuji__request__init(r);
	r->op_case = WUJI__REQUEST__OP_SUBMIT;
	r->submit = s;
	return request_at(f, svc, r, now);
}

/* Submits a case at the node and returns its submission event. */
static Wuji__Event *submit(struct fixture *f, const char *applicant, int64_t now)
{
	wj_arena_t *a = &f->arena;
	Wuji__Reply *rep = submit_reply(f, applicant, now);
	if (rep->code != WUJI__ERROR_CODE__OK)
		fail_msg("submission refused: %s", rep->error);
	wj_txn_t *t;
	wj_err_t err = {0};
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, &err), 0);
	Wuji__Case *c;
	assert_int_equal(wj_store_case_get(t, rep->number, a, &c, &err), 0);
	assert_true(c->n_history >= 1);
	Wuji__Event *ev;
	assert_int_equal(wj_store_event_get(t, c->history[0]->origin, c->history[0]->seq, a, &ev,
					    &err), 0);
	wj_txn_abort(t);
	assert_int_equal(ev->type, WUJI__EVENT_TYPE__EV_SUBMITTED);
	return ev;
}

/* The node's event with that id, NULL if it has none. */
static Wuji__Event *event_at_node(struct fixture *f, uint64_t seq)
{
	wj_txn_t *t;
	wj_err_t err = {0};
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, &err), 0);
	Wuji__Event *ev = NULL;
	if (wj_store_event_get(t, PROVINCE, seq, &f->arena, &ev, &err) != 0)
		ev = NULL;
	wj_txn_abort(t);
	return ev;
}

static bool case_at_node(struct fixture *f, const char *number)
{
	wj_txn_t *t;
	wj_err_t err = {0};
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, &err), 0);
	Wuji__Case *c;
	bool found = wj_store_case_get(t, number, &f->arena, &c, &err) == 0;
	wj_txn_abort(t);
	return found;
}

/* The epoch the node's last hello to `to` in out gives, 0 if none. */
static uint64_t hello_epoch(struct fixture *f, const wj_repl_out_t *out, uint64_t to)
{
	uint64_t epoch = 0;
	for (size_t i = 0; i < out->n_msgs; i++) {
		Wuji__PeerMsg *m = msg_to(f, out, i, to);
		if (m && m->body_case == WUJI__PEER_MSG__BODY_HELLO)
			epoch = m->hello->epoch;
	}
	return epoch;
}

/* `child`'s log batch (prev, prev + n] of these events: packed, or sent
 * to the node. */
static wj_repl_in_t batch_in(struct fixture *f, uint64_t child, uint64_t epoch,
			     uint64_t prev, Wuji__Event **evs, size_t n)
{
	Wuji__Batch b = WUJI__BATCH__INIT;
	b.epoch = epoch;
	b.prev = prev;
	b.last = prev + n;
	b.session = 1;
	b.n_events = n;
	b.events = evs;
	Wuji__PeerMsg bm = WUJI__PEER_MSG__INIT;
	bm.body_case = WUJI__PEER_MSG__BODY_BATCH;
	bm.batch = &b;
	return packed_from(f, child, &bm);
}

static void batch_from(struct fixture *f, uint64_t child, uint64_t epoch, uint64_t prev,
		       Wuji__Event **evs, size_t n, int64_t now, wj_repl_out_t *out)
{
	receive_in(f, batch_in(f, child, epoch, prev, evs, n), now, out, NULL, NULL);
}

/* A child's change log as the tests play it: ev[i] at position i + 1. */
struct child_log {
	uint64_t code, epoch;
	Wuji__Event *ev[8];
	size_t n;
};

/* The child, asked for everything back after the node's restore from
 * just after position `from` of its log, acknowledges and sends the rest
 * of its log, as a real one would. */
static void child_resends(struct fixture *f, const struct child_log *c, uint64_t node_epoch,
			  uint64_t from, int64_t now)
{
	wj_repl_out_t out;
	Wuji__Hello h = WUJI__HELLO__INIT;
	h.node = c->code;
	h.epoch = c->epoch;
	h.log_end = c->n;
	h.resume_epoch = node_epoch;
	h.your_max_seq = c->ev[c->n - 1]->seq;
	h.your_max_case = c->ev[c->n - 1]->case_number;
	h.wall_ms = now;
	h.is_reply = true;
	h.resync_ack = true;
	h.resync_from = from;
	h.resync_session = 1;
	send_hello(f, &h, now, &out);
	if (from < c->n)
		batch_from(f, c->code, c->epoch, from, (Wuji__Event **)&c->ev[from], c->n - from,
			   now + 1, &out);
}

/* A child, asked for everything back after the node's restore, hands
 * back `ev` (its log holds just that). */
static void child_hands_back(struct fixture *f, uint64_t child, uint64_t epoch,
			     uint64_t node_epoch, Wuji__Event *ev, int64_t now)
{
	struct child_log c = {.code = child, .epoch = epoch, .ev = {ev}, .n = 1};
	child_resends(f, &c, node_epoch, 0, now);
}

/* The node is backed up; 10 s later, make(f, arg, now) makes an
 * event; 10 s later the node is restored from the backup: the event,
 * which the node no longer holds. */
static Wuji__Event *lost_to_restore(struct fixture *f, int64_t *now,
				    Wuji__Event *(*make)(struct fixture *f, const void *arg,
							 int64_t now),
				    const void *arg)
{
	char backup[80];
	snprintf(backup, sizeof(backup), "%s.backup", f->dir);
	close_node(f);
	copy_dir(f->dir, backup);
	open_node(f, *now);
	*now += 10000;
	Wuji__Event *ev = make(f, arg, *now);
	close_node(f);
	copy_dir(backup, f->dir);
	copy_dir(NULL, backup);
	*now += 10000;
	open_node(f, *now);
	assert_null(event_at_node(f, ev->seq));
	return ev;
}

static Wuji__Event *make_case(struct fixture *f, const void *applicant, int64_t now)
{
	return submit(f, applicant, now);
}

/* A case from `applicant`, lost to a restore (lost_to_restore). */
static Wuji__Event *case_lost_to_restore(struct fixture *f, const char *applicant,
					  int64_t *now)
{
	return lost_to_restore(f, now, make_case, applicant);
}

/* The node's own last event. */
static Wuji__Event *last_own_event(struct fixture *f)
{
	wj_txn_t *t;
	uint64_t seq = 0;
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, NULL), 0);
	assert_int_equal(wj_store_origin_max_seq(t, PROVINCE, &seq), 0);
	wj_txn_abort(t);
	Wuji__Event *ev = event_at_node(f, seq);
	assert_non_null(ev);
	return ev;
}

/* Loads XK-001 again, promised in `days`: the catalog event it makes,
 * which goes down to every child. */
static Wuji__Event *catalog_update(struct fixture *f, uint32_t days, int64_t now)
{
	load_catalog_days(f, now, days);
	Wuji__Event *ev = last_own_event(f);
	assert_int_equal(ev->type, WUJI__EVENT_TYPE__EV_CATALOG_ITEM);
	assert_int_equal(ev->item->promised_days, days);
	return ev;
}

static Wuji__Event *make_update(struct fixture *f, const void *days, int64_t now)
{
	return catalog_update(f, *(const uint32_t *)days, now);
}

/* XK-001 loaded again, promised in `days`, lost to a restore
 * (lost_to_restore): a catalog event the node's children may hold. */
static Wuji__Event *update_lost_to_restore(struct fixture *f, uint32_t days, int64_t *now)
{
	return lost_to_restore(f, now, make_update, &days);
}

/* The promised days of XK-001 in the node's catalog. */
static uint32_t promised_days_at_node(struct fixture *f)
{
	wj_txn_t *t;
	Wuji__CatalogItem *it = NULL;
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, NULL), 0);
	assert_int_equal(wj_store_catalog_get(t, "XK-001", &f->arena, &it, NULL), 0);
	wj_txn_abort(t);
	return it->promised_days;
}

/* The province's backup holds its first case.  After it, catalog update
 * 2 went down to city A, and update 3 to city B alone (A's link was
 * down).  The province is restored from the backup while B is away, and
 * takes case writes once A has handed update 2 back: waiting for B, who
 * may stay away for a week, is not an option.  Its next event must not
 * take the seq of update 3, which B still holds: when B comes back, both
 * live at the province, each under its own id. */
static void test_restore_skips_ids_held_beyond_a_down_link(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	char backup[80];
	snprintf(backup, sizeof(backup), "%s.backup", f->dir);

	/* Long enough after the start that no peer unheard of holds the
	 * province's writes back. */
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	Wuji__Event *ev1 = submit(f, "张一", now);
	close_node(f);
	copy_dir(f->dir, backup);
	open_node(f, now);
	now += 10000;
	Wuji__Event *ev2 = catalog_update(f, 6, now);
	Wuji__Event *ev3 = catalog_update(f, 7, now);
	assert_true(ev1->seq < ev2->seq && ev2->seq < ev3->seq);

	/* Restored from the backup. */
	close_node(f);
	copy_dir(backup, f->dir);
	copy_dir(NULL, backup);
	now += 10000;
	open_node(f, now);
	assert_null(event_at_node(f, ev2->seq));
	assert_int_equal(promised_days_at_node(f), 5);

	/* City A tells; the province recovers and takes writes once A has
	 * handed update 2 back. */
	hello_ex(f, CITY_A, 0xa1, false, false, 1, 0, 0, ev2->seq, NULL, now, &out);
	assert_true(wj_repl_recovering(f->repl));
	uint64_t epoch = hello_epoch(f, &out, CITY_A);
	assert_int_not_equal(epoch, 0);
	child_hands_back(f, CITY_A, 0xa1, epoch, ev2, now + 10);
	assert_non_null(event_at_node(f, ev2->seq));
	assert_int_equal(promised_days_at_node(f), 6);
	now += 10000;
	assert_int_equal(tick(f, now, CITY_A), 0);
	assert_false(wj_repl_recovering(f->repl));

	Wuji__Event *ev4 = submit(f, "张四", now);
	assert_true(ev4->seq > ev3->seq);

	/* B is back, with update 3. */
	now += 1000;
	hello_ex(f, CITY_B, 0xb1, false, false, 1, 0, 0, ev3->seq, NULL, now, &out);
	child_hands_back(f, CITY_B, 0xb1, epoch, ev3, now + 10);
	Wuji__Event *back = event_at_node(f, ev3->seq);
	assert_non_null(back);
	assert_int_equal(back->type, WUJI__EVENT_TYPE__EV_CATALOG_ITEM);
	assert_int_equal(promised_days_at_node(f), 7);
	assert_true(case_at_node(f, ev4->case_number));
	assert_non_null(event_at_node(f, ev4->seq));
}

/* A step on case `number`, as a control request. */
static Wuji__Request *command_at(struct fixture *f, Wuji__EventType type, const char *number)
{
	Wuji__Command *c = wj_arena_alloc(&f->arena, sizeof(*c));
	wuji__command__init(c);
	c->type = type;
	c->number = wj_arena_strdup(&f->arena, number);
	Wuji__Request *r = wj_arena_alloc(&f->arena, sizeof(*r));
	wuji__request__init(r);
	r->op_case = WUJI__REQUEST__OP_COMMAND;
	r->command = c;
	return r;
}

/* A case submitted and accepted at `city` (a store of its own, the same
 * catalog: XK-001, a task at the province): its two events into *log. */
static char *city_case(struct fixture *f, uint64_t city, const char *applicant, int64_t now,
		       struct child_log *log)
{
	char dir[80];
	snprintf(dir, sizeof(dir), "%s.%012llu", f->dir, (unsigned long long)city);
	assert_int_equal(mkdir(dir, 0700), 0);
	wj_service_opts_t so = {.node = city, .data_dir = dir, .yellow_days = 1};
	wj_service_t *svc;
	assert_int_equal(wj_service_open(&so, &svc, NULL), 0);
	load_catalog_at(f, svc, now, 5);
	Wuji__Reply *rep = submit_reply_at(f, svc, applicant, now);
	assert_int_equal(rep->code, WUJI__ERROR_CODE__OK);
	char *number = rep->number;
	Wuji__Request *acc = command_at(f, WUJI__EVENT_TYPE__EV_ACCEPTED, number);
	assert_int_equal(request_at(f, svc, acc, now)->code, WUJI__ERROR_CODE__OK);
	struct evlist l = {0};
	wj_txn_t *t;
	assert_int_equal(wj_txn_begin(wj_service_store(svc), false, &t, NULL), 0);
	assert_int_equal(wj_store_case_events(t, number, &f->arena, collect_event, &l, NULL), 0);
	wj_txn_abort(t);
	wj_service_close(svc);
	copy_dir(NULL, dir);
	assert_int_equal(l.n, 2);
	log->code = city;
	log->ev[0] = l.ev[0];
	log->ev[1] = l.ev[1];
	log->n = 2;
	return number;
}

static Wuji__Event *decide(struct fixture *f, const char *number, int64_t now)
{
	Wuji__Request *dec = command_at(f, WUJI__EVENT_TYPE__EV_DECIDED, number);
	dec->command->approve = true;
	assert_int_equal(request(f, dec, now)->code, WUJI__ERROR_CODE__OK);
	Wuji__Event *d = last_own_event(f);
	assert_int_equal(d->type, WUJI__EVENT_TYPE__EV_DECIDED);
	return d;
}

/* The province and cities A and B are restored together, from backups
 * older than the province's decision on a case of A's area and its
 * catalog update; only villages below the cities still held them.  The
 * cities' hellos say nothing of the province's seqs (they had lost them
 * too); later, having got them back from below, each passes them up in
 * an ordinary batch, both in one receive.  The province must take that
 * as word of its restore (it refused the events, then gave their seqs to
 * its next decisions: wuji-sim seed 6002 with --restore-rate 1): recover,
 * read each city's log again from its batch, take everything back, and
 * issue nothing under those seqs. */
static void test_own_events_from_restored_children_reveal_the_restore(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	struct child_log a = {.epoch = 0xa1}, b = {.epoch = 0xb1};
	char *num_a = city_case(f, CITY_A, "张一", now, &a);
	char *num_b = city_case(f, CITY_B, "李二", now, &b);
	hello_ex(f, CITY_A, a.epoch, false, false, 2, 0, 0, 0, NULL, now, &out);
	hello_ex(f, CITY_B, b.epoch, false, false, 2, 0, 0, 0, NULL, now, &out);
	batch_from(f, CITY_A, a.epoch, 0, a.ev, 2, now + 1, &out);
	batch_from(f, CITY_B, b.epoch, 0, b.ev, 2, now + 1, &out);
	assert_true(case_at_node(f, num_a) && case_at_node(f, num_b));

	/* Backed up; the province decides both and updates the catalog;
	 * restored. */
	char backup[80];
	snprintf(backup, sizeof(backup), "%s.backup", f->dir);
	close_node(f);
	copy_dir(f->dir, backup);
	open_node(f, now);
	now += 10000;
	a.ev[a.n++] = decide(f, num_a, now);
	b.ev[b.n++] = catalog_update(f, 9, now);
	close_node(f);
	copy_dir(backup, f->dir);
	copy_dir(NULL, backup);
	now += 10000;
	open_node(f, now);
	const Wuji__Event *ours[] = {a.ev[2], b.ev[2]};
	for (size_t i = 0; i < 2; i++)
		assert_null(event_at_node(f, ours[i]->seq));

	/* The cities (restored too) say hello knowing nothing of ours, then
	 * pass our events up, in one receive. */
	hello_ex(f, CITY_A, a.epoch, false, false, a.n, 0, 0, 0, NULL, now, &out);
	hello_ex(f, CITY_B, b.epoch, false, false, b.n, 0, 0, 0, NULL, now, &out);
	assert_false(wj_repl_recovering(f->repl));
	wj_repl_in_t in[2] = {batch_in(f, CITY_A, a.epoch, 2, &a.ev[2], 1),
			      batch_in(f, CITY_B, b.epoch, 2, &b.ev[2], 1)};
	wj_repl_out_init(&out, &f->arena);
	wj_repl_receive_many(f->repl, in, 2, now + 10, &out);
	for (size_t i = 0; i < 2; i++)
		assert_null(event_at_node(f, ours[i]->seq));
	assert_true(wj_repl_recovering(f->repl));

	/* It asks each city for everything back, its log from that batch on
	 * (where the cities start again: a city asked from further on would
	 * never send our events again). */
	uint64_t epoch = 0, resume_a = UINT64_MAX, resume_b = UINT64_MAX;
	for (size_t i = 0; i < out.n_msgs; i++) {
		Wuji__PeerMsg *m = msg_to(f, &out, i, CITY_A);
		if (m == NULL)
			m = msg_to(f, &out, i, CITY_B);
		if (m == NULL || m->body_case != WUJI__PEER_MSG__BODY_HELLO)
			continue;
		assert_true(m->hello->full_resync);
		epoch = m->hello->epoch;
		if (out.msgs[i].peer == CITY_A)
			resume_a = m->hello->resume_after;
		else
			resume_b = m->hello->resume_after;
	}
	assert_int_not_equal(epoch, 0);
	assert_int_equal(resume_a, 2);
	assert_int_equal(resume_b, 2);

	/* They acknowledge and send the rest of their logs: taken back. */
	child_resends(f, &a, epoch, resume_a, now + 20);
	child_resends(f, &b, epoch, resume_b, now + 20);
	for (size_t i = 0; i < 2; i++)
		assert_non_null(event_at_node(f, ours[i]->seq));
	assert_int_equal(promised_days_at_node(f), 9);
	now += 10000;
	tick(f, now, CITY_A);
	assert_false(wj_repl_recovering(f->repl));
	/* And the province's next event is past the gap left after them. */
	Wuji__Event *next = submit(f, "张三", now);
	assert_true(next->seq > b.ev[2]->seq + (UINT64_C(1) << 31));
}

/* ev, a submission of the node's, as a liar forges it: another seq, and
 * case serial `serial` (its number into num). */
static Wuji__Event forged_submission(const Wuji__Event *ev, uint64_t seq, const char *serial,
				     char *num, size_t len)
{
	Wuji__Event forged = *ev;
	forged.seq = seq;
	snprintf(num, len, "%.21s-%s", ev->case_number, serial);
	forged.case_number = num;
	return forged;
}

/* Restored, the province asks its children for everything back.  City A
 * hands back its submission of a case numbered as the province's (seq
 * and serial past what the province issued): a child holds none of the
 * province's own cases (they go up, never down), so even now it may not
 * speak for the province: refused, and the province's next case takes
 * the next ids. */
static void test_restored_node_takes_no_own_case_from_a_child(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	Wuji__Event *ev1 = submit(f, "张一", now);
	Wuji__Event *lost = update_lost_to_restore(f, 6, &now);

	hello_ex(f, CITY_A, 0xa1, false, false, 1, 0, 0, lost->seq, NULL, now, &out);
	assert_true(wj_repl_recovering(f->repl));
	uint64_t epoch = hello_epoch(f, &out, CITY_A);
	char num[64];
	Wuji__Event forged = forged_submission(ev1, lost->seq, "999999", num, sizeof(num));
	Wuji__Event *fp = &forged;
	child_hands_back(f, CITY_A, 0xa1, epoch, fp, now + 10);
	assert_null(event_at_node(f, lost->seq));
	assert_false(case_at_node(f, num));

	now += 10000;
	assert_int_equal(tick(f, now, CITY_A), 0);
	assert_false(wj_repl_recovering(f->repl));
	Wuji__Reply *rep = submit_reply(f, "张二", now + 10);
	if (rep->code != WUJI__ERROR_CODE__OK)
		fail_msg("submission refused: %s", rep->error);
	assert_string_not_equal(rep->number, num);
	assert_true(strcmp(rep->number, num) < 0);
}

/* ----------------------------------- claims of restored or lying peers */

static int submit_code(struct fixture *f, const char *applicant, int64_t now)
{
	return submit_reply(f, applicant, now)->code;
}

/* The province was never restored.  City A was restored once (its hello
 * asked for everything back) and has recovered.  Later A merely restarts,
 * and says `recovering` until it has met its own children: that must not
 * hold up the province's writes (it did, on every later restart of A,
 * until the province had read A's whole log). */
static void test_restart_of_once_restored_child_blocks_nobody(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	/* A restored: full_resync, nothing else to wait for. */
	hello_ex(f, CITY_A, 0xa1, true, false, 3, 0, 0, 0, NULL, now, &out);
	hello_ex(f, CITY_B, 0xb1, false, false, 3, 0, 0, 0, NULL, now, &out);
	assert_false(wj_repl_recovering(f->repl));
	assert_int_equal(submit_code(f, "before", now), WUJI__ERROR_CODE__OK);
	/* Hours later A restarts, same epoch, its log far ahead of what we
	 * have read of it. */
	now += 3600 * 1000;
	hello_ex(f, CITY_A, 0xa1, false, true, 1000000, 0, 0, 0, NULL, now, &out);
	hello_ex(f, CITY_B, 0xb1, false, false, 3, 0, 0, 0, NULL, now, &out);
	assert_false(wj_repl_recovering(f->repl));
	assert_int_equal(submit_code(f, "during A's restart", now), WUJI__ERROR_CODE__OK);
}

/* No restore anywhere.  City A sends, in an ordinary batch, an event
 * claiming the province as origin, seq UINT64_MAX, case serial
 * 4294967295.  A child speaks only for its own area: it is refused, and
 * the province's next case takes the next seq and serial. */
static void test_child_cannot_hand_back_our_events_unasked(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	Wuji__Event *ev1 = submit(f, "张一", now);
	hello_ex(f, CITY_A, 0xa1, false, false, 1, 0, 0, 0, NULL, now, &out);
	hello_ex(f, CITY_B, 0xb1, false, false, 1, 0, 0, 0, NULL, now, &out);
	assert_false(wj_repl_recovering(f->repl));

	char num[64];
	Wuji__Event forged = forged_submission(ev1, UINT64_MAX, "4294967295", num, sizeof(num));
	Wuji__Event *fp = &forged;
	batch_from(f, CITY_A, 0xa1, 0, &fp, 1, now + 1, &out);
	assert_null(event_at_node(f, UINT64_MAX));
	Wuji__Event *ev2 = submit(f, "张二", now + 2);
	assert_true(ev2->seq > ev1->seq && ev2->seq < ev1->seq + 10);
	assert_string_not_equal(ev2->case_number, num);
}

/* A child claims, again and again, to have read our log beyond its end
 * in our current epoch, the last time with a case serial past six
 * digits.  A store is swapped only while the node is stopped: the first
 * claim is a restore (new epoch, a gap of 2^32 seqs and 100,000 of
 * today's serials),
 * the others are ignored, so they cannot use up our seqs and serials. */
static void test_restore_believed_once_a_run(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	Wuji__Event *ev1 = submit(f, "张一", now);
	hello_ex(f, CITY_A, 0xa1, false, false, 1, 0, 0, 0, NULL, now, &out);
	uint64_t epoch = hello_epoch(f, &out, CITY_A);
	assert_int_not_equal(epoch, 0);
	wj_date_t day;
	uint64_t o;
	assert_int_equal(wj_case_number_parse(ev1->case_number, &o, &day, NULL), 0);
	uint64_t epochs[6] = {epoch};
	for (int i = 1; i <= 5; i++) {
		now += 100;
		hello_ex(f, CITY_A, 0xa1, false, false, 1, epoch, UINT64_C(1) << 40, 0, NULL,
			 now, &out);
		uint64_t e = hello_epoch(f, &out, CITY_A);
		epochs[i] = e ? e : epoch;
		epoch = epochs[i];
	}
	assert_int_not_equal(epochs[1], epochs[0]);   /* the first: a restore */
	assert_int_equal(epochs[5], epochs[1]);       /* the rest: ignored */
	char num[64];
	snprintf(num, sizeof(num), "%.21s-4294967295", ev1->case_number);
	hello_ex(f, CITY_A, 0xa1, false, false, 1, epoch, UINT64_C(1) << 40,
		 (UINT64_C(1) << 40), num, now + 100, &out);

	wj_txn_t *t;
	wj_err_t err = {0};
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, &err), 0);
	uint32_t serial = 0;
	assert_int_equal(wj_store_serial(t, day, &serial, &err), 0);
	wj_store_meta_t meta = {0};
	assert_int_equal(wj_store_meta(t, &meta), 0);
	wj_txn_abort(t);
	assert_int_equal(serial, 1 + 100000);
	assert_int_equal(meta.last_seq, ev1->seq + (UINT64_C(1) << 32));
}

/* The first restore of a run believes a peer's last case of ours only
 * within six digits: a claim of serial 4294967295 leaves the day at
 * 999999 at most, never past it (a 7-digit serial sorts wrong). */
static void test_restore_claim_clamped(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	Wuji__Event *ev1 = submit(f, "张一", now);
	wj_date_t day;
	uint64_t o;
	assert_int_equal(wj_case_number_parse(ev1->case_number, &o, &day, NULL), 0);
	char num[64];
	snprintf(num, sizeof(num), "%.21s-4294967295", ev1->case_number);
	hello_ex(f, CITY_A, 0xa1, false, false, 1, 0, 0, ev1->seq + 5, num, now, &out);
	wj_txn_t *t;
	wj_err_t err = {0};
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, &err), 0);
	uint32_t serial = 0;
	assert_int_equal(wj_store_serial(t, day, &serial, &err), 0);
	wj_txn_abort(t);
	assert_true(serial >= 1 && serial <= WJ_STORE_SERIAL_MAX);
}

/* Province P and city A restored together from backups; P's case 2
 * (issued after P's backup) survives only below A.  No hello reveals P's
 * restore.  A, recovering from its children, tells P (full_resync,
 * recovering): P's writes wait (peer_may_hand_back).  P then restarts (a
 * crash): it must still wait (it did not: what it knew of A was in
 * memory only, and it issued case 2's seq and number again). */
static void test_restart_keeps_waiting_for_restored_neighbour(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	submit(f, "张一", now);
	Wuji__Event *ev2 = case_lost_to_restore(f, "张二", &now);

	/* A, restored too, asks for everything back and is recovering. */
	hello_ex(f, CITY_A, 0xa2, true, true, 3, 0, 0, 0, NULL, now, &out);
	hello_ex(f, CITY_B, 0xb1, false, false, 3, 0, 0, 0, NULL, now, &out);
	now += 6000;
	assert_true(wj_repl_recovering(f->repl));
	/* A's resync with us is done; A still recovering from its children. */
	hello_ex(f, CITY_A, 0xa2, false, true, 3, 0, 0, 0, NULL, now, &out);
	assert_true(wj_repl_recovering(f->repl));

	/* P crashes and restarts. */
	close_node(f);
	now += 2000;
	open_node(f, now);
	hello_ex(f, CITY_A, 0xa2, false, true, 3, 0, 0, 0, NULL, now, &out);
	hello_ex(f, CITY_B, 0xb1, false, false, 3, 0, 0, 0, NULL, now, &out);
	/* The gate holds: nothing issued under case 2's seq. */
	assert_true(wj_repl_recovering(f->repl));
	assert_int_not_equal(submit_code(f, "张四", now + 10), WUJI__ERROR_CODE__OK);
	assert_null(event_at_node(f, ev2->seq));
}

/* City A says it was restored and is recovering, then says so again
 * every minute under a new epoch, never finishing.  Each restore may hold
 * the province's writes 10 minutes (RESTORED_GATE_MAX_MS), and each new
 * one starts that again (a real second restore needs it), but all of a
 * day's hold them at most 30 minutes (RESTORE_GATE_BUDGET_MS). */
static void test_restored_child_cannot_hold_writes_for_ever(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	hello_ex(f, CITY_B, 0xb1, false, false, 3, 0, 0, 0, NULL, now, &out);
	uint64_t epoch = 0xa2;
	hello_ex(f, CITY_A, epoch, true, true, 3, 0, 0, 0, NULL, now, &out);
	assert_true(wj_repl_recovering(f->repl));
	assert_int_not_equal(submit_code(f, "张一", now + 1), WUJI__ERROR_CODE__OK);
	const int64_t first = now;
	while (now - first < 30 * 60 * 1000 - 2000) {
		now += 1000;
		if ((now - first) % 60000 == 0)
			hello_ex(f, CITY_A, ++epoch, true, true, 3, 0, 0, 0, NULL, now, &out);
		ping_from(f, CITY_A, now, &out);
		ping_from(f, CITY_B, now, &out);
		tick(f, now, CITY_A);
	}
	assert_true(wj_repl_recovering(f->repl));
	while (now - first < 30 * 60 * 1000 + 2000) {
		now += 1000;
		ping_from(f, CITY_A, now, &out);
		ping_from(f, CITY_B, now, &out);
		tick(f, now, CITY_A);
	}
	assert_false(wj_repl_recovering(f->repl));
	assert_int_equal(submit_code(f, "张二", now + 1), WUJI__ERROR_CODE__OK);
	/* Yet another restore the same day: it does not hold writes. */
	hello_ex(f, CITY_A, ++epoch, true, true, 3, 0, 0, 0, NULL, now + 2, &out);
	assert_false(wj_repl_recovering(f->repl));
}

/* The warning of `node` in a tree report; fails when it is not there. */
static const char *tree_warning_of(const Wuji__TreeReport *rep, uint64_t node)
{
	for (size_t i = 0; i < rep->n_nodes; i++)
		if (rep->nodes[i]->node == node)
			return rep->nodes[i]->warning ? rep->nodes[i]->warning : "";
	fail_msg("no node %012llu in the tree report", (unsigned long long)node);
	return NULL;
}

/* A child's tree report carries its own warnings and those of its
 * subtree up, each kept within bounds; a node outside the child's area
 * is not taken from it. */
static void test_tree_carries_warnings_up(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	hello_from(f, CITY_A, 0xa1, 0, now, &out);

	char long_warning[1000], own[300];
	memset(long_warning, 'w', sizeof(long_warning) - 1);
	long_warning[sizeof(long_warning) - 1] = '\0';
	snprintf(own, sizeof(own), "child 330102000000 has not acknowledged %.250s",
		 long_warning);
	const uint64_t county = 330102000000ULL;
	Wuji__TreeNode a = WUJI__TREE_NODE__INIT, c = WUJI__TREE_NODE__INIT,
		       forged = WUJI__TREE_NODE__INIT;
	a.node = CITY_A;
	a.warning = own;
	c.node = county;
	c.parent = CITY_A;
	c.warning = long_warning;
	forged.node = CITY_B;
	forged.warning = "forged";
	Wuji__TreeNode *nodes[] = {&a, &c, &forged};
	send_tree(f, CITY_A, nodes, 3, now + 1, &out);

	Wuji__TreeReport *tree = wj_repl_tree(f->repl, PROVINCE, now + 2, &f->arena);
	assert_int_equal(strlen(tree_warning_of(tree, CITY_A)), 240);
	assert_memory_equal(tree_warning_of(tree, CITY_A), own, 240);
	assert_int_equal(strlen(tree_warning_of(tree, county)), 240);
	assert_string_equal(tree_warning_of(tree, CITY_B), "");
	assert_string_equal(tree_warning_of(tree, PROVINCE), "");
}

/* A subtree full of warnings: every node still comes up, the warnings
 * only as far as 1 MiB of them, so the report stays within what a
 * parent takes (8 MiB). */
static void test_tree_warnings_bounded_in_all(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	hello_from(f, CITY_A, 0xa1, 0, now, &out);

	enum { N = 6000 };
	char w[241];
	memset(w, 'w', 240);
	w[240] = '\0';
	Wuji__TreeNode *nodes = calloc(N, sizeof(*nodes));
	Wuji__TreeNode **ptrs = calloc(N, sizeof(*ptrs));
	assert_non_null(nodes);
	assert_non_null(ptrs);
	for (size_t i = 0; i < N; i++) {
		wuji__tree_node__init(&nodes[i]);
		/* Townships 001-999 of counties 01-07 of city A. */
		nodes[i].node = CITY_A + (i / 999 + 1) * 1000000ULL + (i % 999 + 1) * 1000ULL;
		nodes[i].parent = CITY_A + (i / 999 + 1) * 1000000ULL;
		nodes[i].warning = w;
		ptrs[i] = &nodes[i];
	}
	send_tree(f, CITY_A, ptrs, N, now + 1, &out);
	free(nodes);
	free(ptrs);

	Wuji__TreeReport *tree = wj_repl_tree(f->repl, PROVINCE, now + 2, &f->arena);
	size_t total = 0, with = 0;
	for (size_t i = 0; i < tree->n_nodes; i++) {
		size_t len = strlen(tree->nodes[i]->warning ? tree->nodes[i]->warning : "");
		total += len;
		with += len > 0;
	}
	assert_int_equal(tree->n_nodes, 1 + 2 + N);   /* us, A, B, A's subtree */
	assert_true(total <= (1u << 20));
	assert_true(with > 4000 && with < N);
	assert_true(wuji__tree_report__get_packed_size(tree) < (8u << 20));
}

/* ------------------------------------------- a peer that never answers */

/* What node-ctl peers says of `node`. */
static Wuji__PeerInfo *peer_of(struct fixture *f, uint64_t node, int64_t now)
{
	Wuji__PeerList *l = wj_repl_peers(f->repl, now, &f->arena);
	for (size_t i = 0; i < l->n_peers; i++)
		if (l->peers[i]->node == node)
			return l->peers[i];
	fail_msg("no peer %012llu in node-ctl peers", (unsigned long long)node);
	return NULL;
}

static const char *peer_warning_of(struct fixture *f, uint64_t node, int64_t now)
{
	Wuji__PeerInfo *p = peer_of(f, node, now);
	return p->warning ? p->warning : "";
}

/* The province, restored, asks its children for everything back and
 * holds their batches until they acknowledge.  City A answers hellos
 * and pings but never the request (a build from before it): node-ctl
 * peers must say so after a while, not hold A's batches back silently;
 * B, never connected, is no such case.  Once A acknowledges, the warning
 * goes. */
static void test_unanswered_resync_shows_in_peers(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	Wuji__Event *ev1 = update_lost_to_restore(f, 6, &now);

	/* A holds catalog update 1, which the restored province lost. */
	hello_ex(f, CITY_A, 0xa1, false, false, 1, 0, 0, ev1->seq, NULL, now, &out);
	assert_true(wj_repl_recovering(f->repl));
	uint64_t epoch = hello_epoch(f, &out, CITY_A);
	assert_int_not_equal(epoch, 0);
	assert_string_equal(peer_warning_of(f, CITY_A, now), "");

	/* 10 s of A answering everything but the request: not yet. */
	for (int i = 0; i < 20; i++) {
		now += 500;
		ping_from(f, CITY_A, now, &out);
		tick(f, now, CITY_A);
	}
	assert_string_equal(peer_warning_of(f, CITY_A, now), "");
	/* A minute: it is said, for A only. */
	for (int i = 0; i < 100; i++) {
		now += 500;
		ping_from(f, CITY_A, now, &out);
		tick(f, now, CITY_A);
	}
	const char *w = peer_warning_of(f, CITY_A, now);
	assert_non_null(strstr(w, "has not acknowledged"));
	assert_non_null(strstr(w, "older wuji"));
	assert_string_equal(peer_warning_of(f, CITY_B, now), "");
	/* The tree report the province sends up says so too, naming A. */
	const char *tw = tree_warning_of(wj_repl_tree(f->repl, PROVINCE, now, &f->arena),
					 PROVINCE);
	assert_non_null(strstr(tw, "child 330100000000 has not acknowledged"));
	assert_null(event_at_node(f, ev1->seq));

	/* A, upgraded, acknowledges and hands update 1 back. */
	child_hands_back(f, CITY_A, 0xa1, epoch, ev1, now + 1100);
	assert_non_null(event_at_node(f, ev1->seq));
	assert_string_equal(peer_warning_of(f, CITY_A, now + 1200), "");
}

/* Events of ours in the (log, not snapshot) batches to `to` in out. */
static size_t batch_events_to(struct fixture *f, const wj_repl_out_t *out, uint64_t to)
{
	size_t n = 0;
	for (size_t i = 0; i < out->n_msgs; i++) {
		Wuji__PeerMsg *m = msg_to(f, out, i, to);
		if (m && m->body_case == WUJI__PEER_MSG__BODY_BATCH && !m->batch->snapshot)
			n += m->batch->n_events;
	}
	return n;
}

/* After a reconnect both sides say hello at once.  The child's hello
 * starts the stream to it; its reply to ours says no more than that hello
 * did and must not start the stream again: over a village link the
 * window would cross twice at every reconnect.  A reply that says the
 * child has got further acknowledges what it has. */
static void test_reply_to_our_hello_does_not_resend(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0;

	load_catalog(f, now);
	tick_out(f, now, &out);
	uint64_t epoch = hello_epoch(f, &out, CITY_A);
	assert_int_not_equal(epoch, 0);

	Wuji__Hello h = WUJI__HELLO__INIT;
	h.node = CITY_A;
	h.epoch = 0xa1;
	h.resume_epoch = epoch;
	h.resume_after = 0;
	h.your_max_case = "";
	h.wall_ms = now;
	send_hello(f, &h, now, &out);
	size_t sent = batch_events_to(f, &out, CITY_A);
	assert_true(sent > 0);

	h.is_reply = true;
	send_hello(f, &h, now + 1, &out);
	assert_int_equal(batch_events_to(f, &out, CITY_A), 0);
	Wuji__PeerInfo *info = peer_of(f, CITY_A, now + 1);
	assert_int_equal(info->acked, 0);
	assert_true(info->backlog > 0);

	/* The same reply, once the child has applied the window. */
	uint64_t log_end = info->log_end;
	assert_true(log_end > 0);
	h.resume_after = log_end;
	send_hello(f, &h, now + 2000, &out); /* peers counts backlogs once a second */
	assert_int_equal(batch_events_to(f, &out, CITY_A), 0);
	info = peer_of(f, CITY_A, now + 2000);
	assert_int_equal(info->acked, log_end);
	assert_int_equal(info->backlog, 0);
}

/* ------------------------------------------------ Ahead (relays' early hand-up) */

/* The parent's hello to the relay, saying whether it takes Aheads. */
static void parent_hello(struct fixture *f, bool takes_ahead, int64_t now, wj_repl_out_t *out)
{
	Wuji__Hello h = WUJI__HELLO__INIT;
	h.node = PROVINCE;
	h.epoch = 0x91;
	h.your_max_case = "";
	h.wall_ms = now;
	h.takes_ahead = takes_ahead;
	send_hello(f, &h, now, out);
}

static void ahead_from(struct fixture *f, uint64_t from, Wuji__Event **evs, size_t n,
		       int64_t now, wj_repl_out_t *out)
{
	Wuji__Ahead a = WUJI__AHEAD__INIT;
	a.events = evs;
	a.n_events = n;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_AHEAD;
	m.ahead = &a;
	send_to(f, from, &m, now, out);
}

/* The highest acknowledgement to `to` in out; -1 if none. */
static int64_t acked_to(struct fixture *f, const wj_repl_out_t *out, uint64_t to)
{
	int64_t pos = -1;
	for (size_t i = 0; i < out->n_msgs; i++) {
		Wuji__PeerMsg *m = msg_to(f, out, i, to);
		if (m && m->body_case == WUJI__PEER_MSG__BODY_ACK && (int64_t)m->ack->pos > pos)
			pos = (int64_t)m->ack->pos;
	}
	return pos;
}

/* What the relay handed its adapter to send at once, and whether the
 * case had been committed at that moment. */
struct sent_now {
	struct fixture *f;
	const char *number;
	size_t aheads, events;
	bool committed_then;
};

static void record_send_now(void *ctx, const wj_repl_msg_t *msg)
{
	struct sent_now *s = ctx;
	assert_int_equal(msg->peer, PROVINCE);
	Wuji__PeerMsg *m = wuji__peer_msg__unpack(&s->f->arena.pb, msg->len, msg->data);
	assert_non_null(m);
	assert_int_equal(m->body_case, WUJI__PEER_MSG__BODY_AHEAD);
	assert_int_equal(m->from, CITY_A);
	s->aheads++;
	s->events += m->ahead->n_events;
	s->committed_then = s->committed_then || case_at_node(s->f, s->number);
}

/* County A1's log batch (prev, prev + c->n] of c's events reaches the
 * relay, whose adapter sends at once what may leave before the commit. */
static void county_batch(struct fixture *f, const struct child_log *c, uint64_t prev,
			 struct sent_now *sn, int64_t now, wj_repl_out_t *out)
{
	receive_in(f, batch_in(f, COUNTY_A1, 0xc1, prev, (Wuji__Event **)c->ev, c->n), now, out,
		   record_send_now, sn);
}

static size_t batch_events_after_tick(struct fixture *f, int64_t now, uint64_t to)
{
	wj_repl_out_t out;
	tick_out(f, now, &out);
	return batch_events_to(f, &out, to);
}

/* W1's latency: a relay hands a case from below up to its parent before
 * its own commit (whose fsync would otherwise come first at every
 * level), acknowledges the child after the commit as always, and its
 * ordinary stream repeats the events a moment later, in one batch.  The
 * child's own events never go ahead: only what the child has received
 * and committed itself, so that a crash of ours before our commit leaves
 * nothing above us that the origin's parent lacks. */
static void test_relay_sends_ahead_before_its_commit(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	struct child_log c = {.epoch = 0xc1}, own = {.epoch = 0xc1};
	char *num = city_case(f, TOWNSHIP_A11, "张一", now, &c);
	char *own_num = city_case(f, COUNTY_A1, "李二", now, &own);
	parent_hello(f, true, now, &out);
	hello_ex(f, COUNTY_A1, 0xc1, false, false, 4, 0, 0, 0, NULL, now, &out);

	struct sent_now sn = {.f = f, .number = num};
	county_batch(f, &c, 0, &sn, now + 1, &out);
	assert_int_equal(sn.aheads, 1);
	assert_int_equal(sn.events, 2);
	assert_false(sn.committed_then);
	assert_true(case_at_node(f, num));
	assert_int_equal(acked_to(f, &out, COUNTY_A1), 2);
	assert_int_equal(batch_events_to(f, &out, PROVINCE), 0);
	assert_int_equal(batch_events_after_tick(f, now + 2, PROVINCE), 0);
	assert_int_equal(batch_events_after_tick(f, now + 1000, PROVINCE), 2);

	struct sent_now sn2 = {.f = f, .number = own_num};
	county_batch(f, &own, 2, &sn2, now + 2000, &out);
	assert_int_equal(sn2.aheads, 0);
	assert_true(case_at_node(f, own_num));
	assert_int_equal(batch_events_to(f, &out, PROVINCE), 2);
}

/* An Ahead stays within what the link to the parent carries in a batch:
 * once the parent's acknowledgements say the link is slow (its budget
 * down to the least), a round with more fresh bytes than that sends no
 * Ahead, and the ordinary stream, paced, carries its events. */
static void test_ahead_within_the_links_pacing(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	char name[3 * 160 + 1] = "";
	for (int i = 0; i < 160; i++)
		strcat(name, "张");
	struct child_log towns[9];
	Wuji__Event *evs[18];
	char *nums[9];
	size_t n = 0, later_bytes = 0;
	for (int i = 0; i < 9; i++) {
		towns[i] = (struct child_log){.epoch = 0xc1};
		nums[i] = city_case(f, TOWNSHIP_A11 + (uint64_t)i * 1000, name, now, &towns[i]);
		for (size_t k = 0; k < towns[i].n; k++) {
			if (n >= 2)
				later_bytes += wuji__event__get_packed_size(towns[i].ev[k]);
			evs[n++] = towns[i].ev[k];
		}
	}
	/* More than the least budget (4 KiB), well within the first (32). */
	assert_true(later_bytes > 4096 && later_bytes < 16384);
	parent_hello(f, true, now, &out);
	uint64_t epoch = hello_epoch(f, &out, PROVINCE);
	assert_true(epoch != 0);
	hello_ex(f, COUNTY_A1, 0xc1, false, false, n, 0, 0, 0, NULL, now, &out);

	struct sent_now sn = {.f = f, .number = nums[0]};
	receive_in(f, batch_in(f, COUNTY_A1, 0xc1, 0, evs, 2), now + 1, &out, record_send_now,
		   &sn);
	assert_int_equal(sn.aheads, 1);
	tick_out(f, now + 1000, &out);
	assert_int_equal(batch_events_to(f, &out, PROVINCE), 2);
	uint64_t last = 0;
	for (size_t i = 0; i < out.n_msgs; i++) {
		Wuji__PeerMsg *m = msg_to(f, &out, i, PROVINCE);
		if (m && m->body_case == WUJI__PEER_MSG__BODY_BATCH)
			last = m->batch->last;
	}

	/* Acknowledged 10 s after it left: a slow link. */
	ack_from(f, PROVINCE, epoch, last, now + 11000, &out);

	struct sent_now sn2 = {.f = f, .number = nums[1]};
	receive_in(f, batch_in(f, COUNTY_A1, 0xc1, 2, evs + 2, n - 2), now + 11001, &out,
		   record_send_now, &sn2);
	assert_int_equal(sn2.aheads, 0);
	for (int i = 1; i < 9; i++)
		assert_true(case_at_node(f, nums[i]));
	assert_int_equal(acked_to(f, &out, COUNTY_A1), (int64_t)n);
	/* In batches of at most the budget: more than one. */
	size_t batches = 0;
	for (size_t i = 0; i < out.n_msgs; i++) {
		Wuji__PeerMsg *m = msg_to(f, &out, i, PROVINCE);
		batches += m && m->body_case == WUJI__PEER_MSG__BODY_BATCH;
	}
	assert_int_equal(batch_events_to(f, &out, PROVINCE), n - 2);
	assert_true(batches > 1);
}

/* A parent that did not say it takes Aheads (an older build) gets none:
 * the ordinary stream sends at once.  An Ahead from a parent (they only
 * go up) is dropped. */
static void test_no_ahead_to_a_parent_that_does_not_take_them(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	struct child_log c = {.epoch = 0xc1};
	char *num = city_case(f, TOWNSHIP_A11, "张一", now, &c);
	parent_hello(f, false, now, &out);
	hello_ex(f, COUNTY_A1, c.epoch, false, false, 2, 0, 0, 0, NULL, now, &out);

	struct sent_now sn = {.f = f, .number = num};
	county_batch(f, &c, 0, &sn, now + 1, &out);
	assert_int_equal(sn.aheads, 0);
	assert_int_equal(batch_events_to(f, &out, PROVINCE), 2);

	struct child_log other = {.epoch = 0xc2};
	char *num2 = city_case(f, CITY_B, "李二", now, &other);
	ahead_from(f, PROVINCE, other.ev, other.n, now + 2, &out);
	assert_false(case_at_node(f, num2));
}

/* The parent's side: an Ahead's events are stored at once, with no
 * position and no acknowledgement; the same events in the child's
 * stream are then recognised, acknowledged and not applied again. */
static void test_ahead_applied_without_position(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	struct child_log a = {.epoch = 0xa1};
	char *num = city_case(f, COUNTY_A1, "张一", now, &a);
	hello_ex(f, CITY_A, a.epoch, false, false, 2, 0, 0, 0, NULL, now, &out);

	ahead_from(f, CITY_A, a.ev, a.n, now + 1, &out);
	assert_true(case_at_node(f, num));
	assert_int_equal(acked_to(f, &out, CITY_A), -1);
	assert_int_equal(peer_of(f, CITY_A, now + 1)->received, 0);

	batch_from(f, CITY_A, a.epoch, 0, a.ev, a.n, now + 2, &out);
	assert_int_equal(acked_to(f, &out, CITY_A), 2);
	assert_int_equal(peer_of(f, CITY_A, now + 2)->received, 2);
	struct evlist l = {0};
	wj_txn_t *t;
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, NULL), 0);
	assert_int_equal(wj_store_case_events(t, num, &f->arena, collect_event, &l, NULL), 0);
	wj_txn_abort(t);
	assert_int_equal(l.n, 2);
}

/* An Ahead is checked as a batch is: a child's Ahead holding another
 * area's case is refused; one holding an event of the node itself (which
 * would read as news of a restore) or of the sender itself (those come
 * in its stream only) is dropped whole; one from a child not yet agreed
 * with (no hello) waits for its stream. */
static void test_ahead_checked_like_a_batch(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	struct child_log a = {.epoch = 0xa1}, b = {.epoch = 0xb1}, s = {.epoch = 0xa1};
	char *num_a = city_case(f, COUNTY_A1, "张一", now, &a);
	char *num_b = city_case(f, COUNTY_B1, "李二", now, &b);
	char *num_s = city_case(f, CITY_A, "赵六", now, &s);

	ahead_from(f, CITY_A, a.ev, a.n, now, &out);
	assert_false(case_at_node(f, num_a));

	hello_ex(f, CITY_A, a.epoch, false, false, 2, 0, 0, 0, NULL, now, &out);
	ahead_from(f, CITY_A, b.ev, b.n, now + 1, &out);
	assert_false(case_at_node(f, num_b));
	ahead_from(f, CITY_A, s.ev, s.n, now + 1, &out);
	assert_false(case_at_node(f, num_s));

	Wuji__Event *own = submit(f, "王五", now + 2);
	char num[64];
	Wuji__Event forged = forged_submission(own, own->seq + 5, "999990", num, sizeof(num));
	Wuji__Event *both[] = {a.ev[0], &forged};
	ahead_from(f, CITY_A, both, 2, now + 3, &out);
	assert_false(case_at_node(f, num_a));
	assert_false(case_at_node(f, num));
	assert_false(wj_repl_recovering(f->repl));
}

/* A node restored from a backup takes no Aheads while it recovers (its
 * children's streams are what the restore logic reads), and takes them
 * again once it has: its hellos say it does, and each one refused costs
 * its child's stream a hold for nothing. */
static void test_recovered_node_takes_aheads_again(void **state)
{
	struct fixture *f = *state;
	wj_repl_out_t out;
	int64_t now = T0 + 10000;
	load_catalog(f, now);
	struct child_log a = {.epoch = 0xa1}, a2 = {.epoch = 0xa1};
	char *num = city_case(f, COUNTY_A1, "张一", now, &a);
	char *num2 = city_case(f, COUNTY_A1, "李二", now, &a2);
	Wuji__Event *lost = update_lost_to_restore(f, 6, &now);

	hello_ex(f, CITY_A, 0xa1, false, false, 1, 0, 0, lost->seq, NULL, now, &out);
	assert_true(wj_repl_recovering(f->repl));
	ahead_from(f, CITY_A, a.ev, a.n, now + 1, &out);
	assert_false(case_at_node(f, num));

	uint64_t epoch = hello_epoch(f, &out, CITY_A);
	child_hands_back(f, CITY_A, 0xa1, epoch, lost, now + 10);
	now += 10000;
	ping_from(f, CITY_A, now, &out);   /* the link stays up */
	tick(f, now, CITY_A);
	assert_false(wj_repl_recovering(f->repl));
	ahead_from(f, CITY_A, a2.ev, a2.n, now + 1, &out);
	assert_true(case_at_node(f, num2));
}

/* The node's status reply's warning ("" when none). */
static const char *status_warning(struct fixture *f, int64_t now)
{
	wj_arena_t *a = &f->arena;
	Wuji__StatusRequest *sr = wj_arena_alloc(a, sizeof(*sr));
	wuji__status_request__init(sr);
	Wuji__Request *r = wj_arena_alloc(a, sizeof(*r));
	wuji__request__init(r);
	r->op_case = WUJI__REQUEST__OP_STATUS;
	r->status = sr;
	Wuji__Reply *rep = request(f, r, now);
	assert_int_equal(rep->code, WUJI__ERROR_CODE__OK);
	assert_int_equal(rep->result_case, WUJI__REPLY__RESULT_STATUS);
	return rep->status->warning ? rep->status->warning : "";
}

/* A store filling up is said in node-ctl status and in the tree report
 * (so the province sees which node below is filling) while the node
 * still takes cases, not once it refuses them. */
static void test_nearly_full_store_said_before_it_fills(void **state)
{
	struct fixture *f = *state;
	int64_t now = T0;

	close_node(f);
	copy_dir(NULL, f->dir);
	open_node_map(f, now, 128 * (uint64_t)sysconf(_SC_PAGESIZE)); /* 512 KiB of 4 KiB pages */
	load_catalog(f, now);
	assert_string_equal(status_warning(f, now), "");

	int accepted = 0;
	const char *said = "";
	for (int i = 0; i < 2000 && !said[0]; i++) {
		char name[32];
		snprintf(name, sizeof(name), "申请人 %d", i);
		if (submit_reply(f, name, ++now)->code != WUJI__ERROR_CODE__OK)
			break;
		accepted++;
		said = status_warning(f, now);
	}
	assert_true(accepted > 0);
	assert_non_null(strstr(said, "% full"));
	assert_non_null(strstr(said, "map_size_mb"));
	const char *tw = tree_warning_of(wj_repl_tree(f->repl, PROVINCE, now, &f->arena),
					 PROVINCE);
	assert_string_equal(tw, said);
	/* And the node still takes a case. */
	assert_int_equal(submit_reply(f, "还能受理", ++now)->code, WUJI__ERROR_CODE__OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_recovering_said_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_skips_ids_held_beyond_a_down_link,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restored_node_takes_no_own_case_from_a_child,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_own_events_from_restored_children_reveal_the_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restored_child_cannot_hold_writes_for_ever,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_of_once_restored_child_blocks_nobody,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_child_cannot_hand_back_our_events_unasked,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_believed_once_a_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_claim_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_waiting_for_restored_neighbour,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unanswered_resync_shows_in_peers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_carries_warnings_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_warnings_bounded_in_all, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reply_to_our_hello_does_not_resend, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nearly_full_store_said_before_it_fills,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_sends_ahead_before_its_commit,
						setup_relay, teardown),
		cmocka_unit_test_setup_teardown(test_no_ahead_to_a_parent_that_does_not_take_them,
						setup_relay, teardown),
		cmocka_unit_test_setup_teardown(test_ahead_within_the_links_pacing, setup_relay,
						teardown),
		cmocka_unit_test_setup_teardown(test_ahead_applied_without_position, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ahead_checked_like_a_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovered_node_takes_aheads_again, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
