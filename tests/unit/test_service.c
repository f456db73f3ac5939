/* Service tests: control requests against a real store in a temp dir,
 * without sockets.  They check what the control API promises: group
 * commit answers every request of a batch, a refused request changes
 * nothing, garbage gets an error reply, and a full store fails the whole
 * batch with a clear error and no partial writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "core/date.h"
#include "core/pbwire.h"
#include "evlist.h"
#include "service.h"
#include "storage/store.h"

#define NODE 330106000000ULL
/* 2026-02-13 10:00 +08:00 */
#define T_0213 (1770948000LL * 1000)

struct fixture {
	char dir[64];
	wj_service_t *svc;
	wj_arena_t arena;
	uint64_t next_id;
};

static int setup_map(void **state, uint64_t map_size)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/wj-test-service-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	wj_service_opts_t o = {
		.node = NODE, .data_dir = f->dir, .map_size = map_size,
		.yellow_days = 1, .standalone = true,
	};
	wj_err_t err = {0};
	assert_int_equal(wj_service_open(&o, &f->svc, &err), 0);
	wj_arena_init(&f->arena, 1 << 16);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_map(state, 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	wj_service_close(f->svc);
	wj_arena_free(&f->arena);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Runs the requests as one batch and returns the decoded replies. */
static Wuji__Reply **run(struct fixture *f, int64_t now_ms, Wuji__Request **reqs, size_t n)
{
	wj_service_req_t *r = wj_arena_alloc(&f->arena, n * sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		reqs[i]->id = ++f->next_id;
		size_t len = wuji__request__get_packed_size(reqs[i]);
		uint8_t *buf = wj_arena_alloc(&f->arena, len + 1);
		r[i].data = buf;
		r[i].len = wuji__request__pack(reqs[i], buf);
	}
	wj_service_batch(f->svc, r, n, now_ms, &f->arena);
	Wuji__Reply **out = wj_arena_alloc(&f->arena, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		out[i] = wuji__reply__unpack(&f->arena.pb, r[i].reply_len, r[i].reply);
		assert_non_null(out[i]);
		assert_int_equal(out[i]->id, reqs[i]->id);
	}
	return out;
}

static Wuji__Reply *run1(struct fixture *f, int64_t now_ms, Wuji__Request *req)
{
	return run(f, now_ms, &req, 1)[0];
}

static Wuji__Request *new_req(struct fixture *f)
{
	Wuji__Request *r = wj_arena_alloc(&f->arena, sizeof(*r));
	wuji__request__init(r);
	return r;
}

static Wuji__CatalogItem *item(struct fixture *f, const char *code, int promised,
			       const char *const *mats, size_t n_mats)
{
	wj_arena_t *a = &f->arena;
	Wuji__CatalogItem *it = wj_arena_alloc(a, sizeof(*it));
	wuji__catalog_item__init(it);
	it->code = wj_arena_strdup(a, code);
	it->name = wj_arena_strdup(a, "个体工商户设立登记");
	it->kind = WUJI__ITEM_KIND__ITEM_PROMISED;
	it->promised_days = (uint32_t)promised;
	it->statutory_days = 15;
	Wuji__CatalogTask **t = wj_arena_push(a, &it->tasks, &it->n_tasks, sizeof(*t));
	*t = wj_arena_alloc(a, sizeof(**t));
	wuji__catalog_task__init(*t);
	(*t)->department = wj_arena_strdup(a, "县市场监督管理局");
	(*t)->level = WUJI__LEVEL__COUNTY;
	for (size_t i = 0; i < n_mats; i++) {
		Wuji__CatalogMaterial **m = wj_arena_push(a, &it->materials, &it->n_materials,
							  sizeof(*m));
		*m = wj_arena_alloc(a, sizeof(**m));
		wuji__catalog_material__init(*m);
		(*m)->name = wj_arena_strdup(a, mats[i]);
		(*m)->required = true;
	}
	return it;
}

/* Loads item XK-001 (two materials) with `promised` working days. */
static Wuji__Request *catalog_load_req(struct fixture *f, int promised)
{
	static const char *const mats[] = {"居民身份证", "经营场所证明"};
	Wuji__Request *r = new_req(f);
	Wuji__CatalogLoadRequest *cl = wj_arena_alloc(&f->arena, sizeof(*cl));
	wuji__catalog_load_request__init(cl);
	cl->catalog = wj_arena_alloc(&f->arena, sizeof(*cl->catalog));
	wuji__catalog__init(cl->catalog);
	Wuji__CatalogItem **slot = wj_arena_push(&f->arena, &cl->catalog->items,
						 &cl->catalog->n_items, sizeof(*slot));
	*slot = item(f, "XK-001", promised, mats, 2);
	r->op_case = WUJI__REQUEST__OP_CATALOG_LOAD;
	r->catalog_load = cl;
	return r;
}

static void load_catalog(struct fixture *f)
{
	Wuji__Reply *rep = run1(f, T_0213, catalog_load_req(f, 5));
	assert_int_equal(rep->code, WUJI__ERROR_CODE__OK);
	assert_int_equal(rep->loaded, 1);
}

static Wuji__Request *submit_req(struct fixture *f, const char *item_code, const char *name,
				 bool all_materials)
{
	Wuji__Request *r = new_req(f);
	Wuji__SubmitRequest *s = wj_arena_alloc(&f->arena, sizeof(*s));
	wuji__submit_request__init(s);
	s->item_code = wj_arena_strdup(&f->arena, item_code);
	s->applicant = wj_arena_alloc(&f->arena, sizeof(*s->applicant));
	wuji__applicant__init(s->applicant);
	s->applicant->name = wj_arena_strdup(&f->arena, name);
	if (all_materials) {
		static char *mats[] = {"居民身份证", "经营场所证明"};
		s->materials = mats;
		s->n_materials = 2;
	}
	r->op_case = WUJI__REQUEST__OP_SUBMIT;
	r->submit = s;
	return r;
}

/* n submissions of item XK-001 by `name`, every material, in one batch
 * (one group commit): their replies. */
static Wuji__Reply **submit_batch(struct fixture *f, size_t n, const char *name)
{
	Wuji__Request **reqs = wj_arena_alloc(&f->arena, n * sizeof(*reqs));
	for (size_t i = 0; i < n; i++)
		reqs[i] = submit_req(f, "XK-001", name, true);
	return run(f, T_0213, reqs, n);
}

static Wuji__Request *command_req(struct fixture *f, Wuji__EventType type, const char *number)
{
	Wuji__Request *r = new_req(f);
	Wuji__Command *c = wj_arena_alloc(&f->arena, sizeof(*c));
	wuji__command__init(c);
	c->type = type;
	c->number = wj_arena_strdup(&f->arena, number);
	r->op_case = WUJI__REQUEST__OP_COMMAND;
	r->command = c;
	return r;
}

static Wuji__Request *show_req(struct fixture *f, const char *number)
{
	Wuji__Request *r = new_req(f);
	Wuji__ShowRequest *s = wj_arena_alloc(&f->arena, sizeof(*s));
	wuji__show_request__init(s);
	s->number = wj_arena_strdup(&f->arena, number);
	r->op_case = WUJI__REQUEST__OP_SHOW;
	r->show = s;
	return r;
}

static void test_group_commit_answers_every_request(void **state)
{
	struct fixture *f = *state;
	load_catalog(f);
	enum { N = 50 };
	Wuji__Reply **reps = submit_batch(f, N, "张三");
	for (int i = 0; i < N; i++) {
		assert_int_equal(reps[i]->code, WUJI__ERROR_CODE__OK);
		assert_int_equal(reps[i]->result_case, WUJI__REPLY__RESULT_NUMBER);
		char want[64];
		snprintf(want, sizeof(want), "330106000000-20260213-%06d", i + 1);
		assert_string_equal(reps[i]->number, want);
	}
	/* Each is stored: show finds it with its history. */
	Wuji__Reply *rep = run1(f, T_0213, show_req(f, "330106000000-20260213-000050"));
	assert_int_equal(rep->code, WUJI__ERROR_CODE__OK);
	assert_int_equal(rep->case_->status, WUJI__CASE_STATUS__RECEIVED);
	assert_int_equal(rep->case_->n_history, 1);
}

static void test_lifecycle_and_due_date(void **state)
{
	struct fixture *f = *state;
	load_catalog(f);
	/* No calendar loaded yet: only weekends are off, so 5 working days
	 * after Friday 13 Feb is Friday 20 Feb. */
	Wuji__Reply *rep = run1(f, T_0213, submit_req(f, "XK-001", "李四", true));
	assert_int_equal(rep->code, 0);
	char *number = rep->number;
	rep = run1(f, T_0213, command_req(f, WUJI__EVENT_TYPE__EV_ACCEPTED, number));
	assert_int_equal(rep->code, 0);
	assert_int_equal(rep->case_->status, WUJI__CASE_STATUS__ACCEPTED);
	assert_int_equal(rep->case_->promised_due, 20260220);
	/* A step's reply says where the case is known: standalone, here. */
	assert_int_equal(rep->case_->n_known_at, 1);
	assert_int_equal(rep->case_->known_at[0], NODE);

	Wuji__Request *d = command_req(f, WUJI__EVENT_TYPE__EV_DECIDED, number);
	d->command->approve = true;
	rep = run1(f, T_0213, d);
	assert_int_equal(rep->code, 0);
	assert_int_equal(rep->case_->status, WUJI__CASE_STATUS__APPROVED);
	rep = run1(f, T_0213, command_req(f, WUJI__EVENT_TYPE__EV_DELIVERED, number));
	assert_int_equal(rep->code, 0);
	assert_int_equal(rep->case_->status, WUJI__CASE_STATUS__DELIVERED);
	assert_int_equal(rep->case_->n_history, 4);
}

/* A batch looks an item up once for all its submissions; a catalog load
 * in the same batch must be seen by the submissions after it. */
static void test_catalog_load_seen_within_a_batch(void **state)
{
	struct fixture *f = *state;
	load_catalog(f);
	Wuji__Request *reqs[] = {
		submit_req(f, "XK-001", "赵一", true),
		submit_req(f, "XK-001", "赵二", true),
		catalog_load_req(f, 9),
		submit_req(f, "XK-001", "赵三", true),
	};
	Wuji__Reply **reps = run(f, T_0213, reqs, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(reps[i]->code, WUJI__ERROR_CODE__OK);
	/* Accepted on Friday 13 Feb: 5 working days is 20 Feb, 9 is 26 Feb. */
	const int32_t want[] = {20260220, 20260220, 0, 20260226};
	for (int i = 0; i < 4; i++) {
		if (i == 2)
			continue;
		Wuji__Reply *rep = run1(f, T_0213, command_req(f, WUJI__EVENT_TYPE__EV_ACCEPTED,
								reps[i]->number));
		assert_int_equal(rep->code, WUJI__ERROR_CODE__OK);
		assert_int_equal(rep->case_->promised_due, want[i]);
	}
}

static void test_refusal_changes_nothing(void **state)
{
	struct fixture *f = *state;
	load_catalog(f);
	Wuji__Reply *rep = run1(f, T_0213, submit_req(f, "XK-001", "王五", true));
	char *number = rep->number;
	Wuji__Reply *before = run1(f, T_0213, show_req(f, number));
	size_t len = wuji__case__get_packed_size(before->case_);
	uint8_t *b1 = wj_arena_alloc(&f->arena, len);
	wuji__case__pack(before->case_, b1);

	rep = run1(f, T_0213, command_req(f, WUJI__EVENT_TYPE__EV_DELIVERED, number));
	assert_int_equal(rep->code, WUJI__ERROR_CODE__E_NOT_ALLOWED);
	assert_non_null(strstr(rep->error, "received"));
	assert_true(rep->n_allowed > 0);

	Wuji__Reply *after = run1(f, T_0213, show_req(f, number));
	assert_int_equal(wuji__case__get_packed_size(after->case_), len);
	uint8_t *b2 = wj_arena_alloc(&f->arena, len);
	wuji__case__pack(after->case_, b2);
	assert_memory_equal(b1, b2, len);
}

static void test_unknown_item_and_case(void **state)
{
	struct fixture *f = *state;
	load_catalog(f);
	Wuji__Reply *rep = run1(f, T_0213, submit_req(f, "NO-SUCH", "赵六", true));
	assert_int_equal(rep->code, WUJI__ERROR_CODE__E_INVALID);
	assert_non_null(strstr(rep->error, "NO-SUCH"));
	rep = run1(f, T_0213, show_req(f, "330106000000-20260213-999999"));
	assert_int_equal(rep->code, WUJI__ERROR_CODE__E_NOT_FOUND);
	rep = run1(f, T_0213, command_req(f, WUJI__EVENT_TYPE__EV_ACCEPTED, ""));
	assert_int_equal(rep->code, WUJI__ERROR_CODE__E_BAD_REQUEST);
	rep = run1(f, T_0213, command_req(f, (Wuji__EventType)77, "x"));
	assert_int_equal(rep->code, WUJI__ERROR_CODE__E_BAD_REQUEST);
}

static void test_garbage_gets_error_reply(void **state)
{
	struct fixture *f = *state;
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x01, 0x02};
	static const uint8_t truncated[] = {0x5a, 0x10, 0x0a, 0x05, 'X'};
	wj_service_req_t r[3] = {
		{.data = garbage, .len = sizeof(garbage)},
		{.data = truncated, .len = sizeof(truncated)},
		{.data = (const uint8_t *)"", .len = 0},
	};
	wj_service_batch(f->svc, r, 3, T_0213, &f->arena);
	for (int i = 0; i < 3; i++) {
		Wuji__Reply *rep = wuji__reply__unpack(&f->arena.pb, r[i].reply_len, r[i].reply);
		assert_non_null(rep);
		assert_int_equal(rep->code, WUJI__ERROR_CODE__E_BAD_REQUEST);
		assert_true(strlen(rep->error) > 10);
	}
}

/* A catalog load of n empty items, as bytes: 2 bytes each on the wire,
 * a CatalogItem struct each once decoded. */
static uint8_t *empty_items_request(struct fixture *f, size_t n, size_t *len)
{
	size_t items = 2 * n;
	size_t catalog = wj_pb_bytes_field_size(1, items);      /* Catalog.items */
	size_t load = wj_pb_bytes_field_size(1, catalog);       /* .catalog */
	*len = wj_pb_bytes_field_size(16, load);                /* Request.catalog_load */
	uint8_t *b = wj_arena_alloc(&f->arena, *len);
	size_t o = wj_pb_put_bytes_head(b, 16, load);
	o += wj_pb_put_bytes_head(b + o, 1, catalog);
	o += wj_pb_put_bytes_head(b + o, 1, items);
	for (size_t i = 0; i < n; i++, o += 2) {
		b[o] = 0x0a;   /* field 1, length-delimited */
		b[o + 1] = 0;
	}
	assert_int_equal(o, *len);
	return b;
}

/* A request of a few hundred KiB that would decode to tens of MiB (each
 * empty element of a repeated field a struct) is refused before it is
 * decoded whole, saying why; the node goes on. */
static void test_request_decoding_bounded(void **state)
{
	struct fixture *f = *state;
	size_t len;
	uint8_t *b = empty_items_request(f, 200000, &len);
	assert_true(len < 500000);
	size_t before = f->arena.used_total;
	wj_service_req_t r = {.data = b, .len = len};
	wj_service_batch(f->svc, &r, 1, T_0213, &f->arena);
	Wuji__Reply *rep = wuji__reply__unpack(&f->arena.pb, r.reply_len, r.reply);
	assert_non_null(rep);
	assert_int_equal(rep->code, WUJI__ERROR_CODE__E_BAD_REQUEST);
	assert_non_null(strstr(rep->error, "decodes to more than"));
	assert_true(f->arena.used_total - before <= wj_decode_budget(len) + (1u << 20));
	/* A few such items decode, and are refused for what they are. */
	b = empty_items_request(f, 3, &len);
	r = (wj_service_req_t){.data = b, .len = len};
	wj_service_batch(f->svc, &r, 1, T_0213, &f->arena);
	rep = wuji__reply__unpack(&f->arena.pb, r.reply_len, r.reply);
	assert_non_null(rep);
	assert_int_not_equal(rep->code, WUJI__ERROR_CODE__OK);
	assert_null(strstr(rep->error, "decodes to more than"));
	load_catalog(f);   /* and a real load still works */
}

/* A list that walks many cases and keeps few costs the memory of what it
 * keeps: each case it passes over is decoded in the scan's scratch. */
static void test_list_memory_is_what_it_keeps(void **state)
{
	struct fixture *f = *state;
	load_catalog(f);
	enum { N = 300 };
	Wuji__Reply **reps = submit_batch(f, N, "申请人");
	for (int i = 0; i < N; i++)
		assert_int_equal(reps[i]->code, 0);
	wj_arena_reset(&f->arena);

	Wuji__Request *r = new_req(f);
	Wuji__ListRequest *l = wj_arena_alloc(&f->arena, sizeof(*l));
	wuji__list_request__init(l);
	l->status = WUJI__CASE_STATUS__RECEIVED;
	l->item_code = "NO-SUCH";   /* walks every received case, keeps none */
	r->op_case = WUJI__REQUEST__OP_LIST;
	r->list = l;
	size_t before = f->arena.used_total;
	Wuji__Reply *rep = run1(f, T_0213, r);
	assert_int_equal(rep->code, 0);
	assert_int_equal(rep->list->n_cases, 0);
	assert_true(f->arena.used_total - before < 64 * 1024);
	/* What it keeps, it keeps whole. */
	l->item_code = "XK-001";
	l->limit = 5;
	rep = run1(f, T_0213, r);
	assert_int_equal(rep->list->n_cases, 5);
	assert_string_equal(rep->list->cases[4]->applicant->name, "申请人");
	assert_string_equal(rep->list->next, rep->list->cases[4]->number);
}

/* A store too small for the batch: the batch fails as a whole, every
 * reply says so, and the store still holds exactly what was committed
 * before. */
static int setup_tiny(void **state)
{
	return setup_map(state, 256 << 10);
}

static void test_store_full_fails_batch_cleanly(void **state)
{
	struct fixture *f = *state;
	load_catalog(f);
	Wuji__Reply *rep = run1(f, T_0213, submit_req(f, "XK-001", "first", true));
	assert_int_equal(rep->code, 0);
	char first[64];
	snprintf(first, sizeof(first), "%s", rep->number);
	int full = 0;
	for (int round = 0; round < 200 && !full; round++) {
		enum { N = 64 };
		Wuji__Reply **reps = submit_batch(f, N, "一个很长的申请人名字用来填满存储空间");
		for (int i = 0; i < N; i++) {
			if (reps[i]->code == WUJI__ERROR_CODE__E_STORE_FULL) {
				assert_non_null(strstr(reps[i]->error, "map"));
				full = 1;
			} else {
				assert_int_equal(reps[i]->code, 0);
			}
		}
		wj_arena_reset(&f->arena);
	}
	assert_true(full);
	/* Still serving, and what was committed is intact. */
	rep = run1(f, T_0213, show_req(f, first));
	assert_int_equal(rep->code, 0);
	assert_string_equal(rep->case_->applicant->name, "first");
}

/* ----------------------------------------------- racing steps, folded */

/* A second node's service, in a directory of its own under f->dir. */
static wj_service_t *open_node(struct fixture *f, const char *name, uint64_t node)
{
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/%s", f->dir, name);
	assert_int_equal(mkdir(dir, 0700), 0);
	wj_service_opts_t o = {.node = node, .data_dir = dir, .yellow_days = 1};
	wj_service_t *s;
	wj_err_t err = {0};
	assert_int_equal(wj_service_open(&o, &s, &err), 0);
	return s;
}

static uint8_t *case_bytes(struct fixture *f, wj_service_t *s, const char *number,
			   size_t *len, Wuji__Case **out)
{
	wj_txn_t *t;
	assert_int_equal(wj_txn_begin(wj_service_store(s), false, &t, NULL), 0);
	Wuji__Case *c;
	assert_int_equal(wj_store_case_get(t, number, &f->arena, &c, NULL), 0);
	wj_txn_abort(t);
	*len = wuji__case__get_packed_size(c);
	uint8_t *b = wj_arena_alloc(&f->arena, *len + 1);
	wuji__case__pack(c, b);
	*out = c;
	return b;
}

static void apply_all(struct fixture *f, wj_service_t *s, Wuji__Event *const *evs, size_t n)
{
	wj_txn_t *t;
	assert_int_equal(wj_txn_begin(wj_service_store(s), true, &t, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		bool fresh;
		wj_err_t err = {0};
		if (wj_service_apply_event(s, t, evs[i], NODE, T_0213, &f->arena, &fresh, &err))
			fail_msg("event %zu refused: %s", i, err.msg);
		assert_true(fresh);
	}
	assert_int_equal(wj_txn_commit(t, NULL), 0);
}

/* A case submitted and accepted at f->svc; its two events into *l. */
static char *submitted_and_accepted(struct fixture *f, const char *applicant,
				    struct evlist *l)
{
	load_catalog(f);
	Wuji__Reply *rep = run1(f, T_0213, submit_req(f, "XK-001", applicant, true));
	assert_int_equal(rep->code, 0);
	char *number = rep->number;
	rep = run1(f, T_0213, command_req(f, WUJI__EVENT_TYPE__EV_ACCEPTED, number));
	assert_int_equal(rep->code, 0);

	wj_txn_t *t;
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, NULL), 0);
	assert_int_equal(wj_store_case_events(t, number, &f->arena, collect_event, l, NULL), 0);
	wj_txn_abort(t);
	assert_int_equal(l->n, 2);
	return number;
}

/* The window withdraws while the department decides: two nodes that get
 * the two events in opposite orders (one folds them as they come, the
 * other must fold the case again) end with the same case, the decision
 * in its history without effect. */
static void test_racing_steps_fold_the_same(void **state)
{
	struct fixture *f = *state;
	struct evlist l = {0};
	char *number = submitted_and_accepted(f, "孙七", &l);
	Wuji__Event w = WUJI__EVENT__INIT, d = WUJI__EVENT__INIT;
	w.origin = d.origin = NODE;
	w.case_number = d.case_number = number;
	w.at = d.at = T_0213 / 1000 + 60;
	w.type = WUJI__EVENT_TYPE__EV_WITHDRAWN;
	w.reason = "申请人撤回";
	w.seq = 100;
	w.hlc = l.ev[1]->hlc + 100;
	d.type = WUJI__EVENT_TYPE__EV_DECIDED;
	d.task = 1;
	d.approve = true;
	d.seq = 101;
	d.hlc = l.ev[1]->hlc + 200;

	wj_service_t *in_order = open_node(f, "a", 330000000000ULL);
	wj_service_t *reversed = open_node(f, "b", 330000000000ULL);
	apply_all(f, in_order, (Wuji__Event *[]){l.ev[0], l.ev[1], &w, &d}, 4);
	apply_all(f, reversed, (Wuji__Event *[]){l.ev[0], l.ev[1], &d, &w}, 4);
	size_t n1, n2;
	Wuji__Case *c1, *c2;
	uint8_t *b1 = case_bytes(f, in_order, number, &n1, &c1);
	uint8_t *b2 = case_bytes(f, reversed, number, &n2, &c2);
	assert_int_equal(n1, n2);
	assert_memory_equal(b1, b2, n1);
	assert_int_equal(c1->status, WUJI__CASE_STATUS__WITHDRAWN);
	assert_int_equal(c1->n_history, 4);
	assert_false(c1->history[2]->no_effect);
	assert_true(c1->history[3]->no_effect);
	assert_int_equal(c1->history[3]->seq, 101);
	assert_non_null(strstr(c1->history[3]->detail, "already withdrawn"));
	assert_int_equal(c1->last_seq, 101);
	wj_service_close(in_order);
	wj_service_close(reversed);
}

/* A new case whose submission comes first is made from that one event
 * (no refold); one whose later event came first is folded from both.
 * Both end as the case its own node has. */
static void test_new_case_folds_the_same_either_way(void **state)
{
	struct fixture *f = *state;
	struct evlist l = {0};
	char *number = submitted_and_accepted(f, "吴九", &l);
	assert_int_equal(l.ev[0]->type, WUJI__EVENT_TYPE__EV_SUBMITTED);

	wj_service_t *first = open_node(f, "first", 330000000000ULL);
	wj_service_t *later = open_node(f, "later", 330000000000ULL);
	apply_all(f, first, (Wuji__Event *[]){l.ev[0]}, 1);
	size_t n0;
	Wuji__Case *c0;
	(void)case_bytes(f, first, number, &n0, &c0);
	assert_int_equal(c0->n_history, 1);
	assert_int_equal(c0->last_seq, l.ev[0]->seq);
	assert_int_equal(c0->last_hlc, l.ev[0]->hlc);
	apply_all(f, first, (Wuji__Event *[]){l.ev[1]}, 1);
	apply_all(f, later, (Wuji__Event *[]){l.ev[1], l.ev[0]}, 2);

	size_t n1, n2, n3;
	Wuji__Case *c1, *c2, *c3;
	uint8_t *b1 = case_bytes(f, first, number, &n1, &c1);
	uint8_t *b2 = case_bytes(f, later, number, &n2, &c2);
	uint8_t *b3 = case_bytes(f, f->svc, number, &n3, &c3);
	assert_int_equal(n1, n2);
	assert_memory_equal(b1, b2, n1);
	assert_int_equal(n1, n3);
	assert_memory_equal(b1, b3, n1);
	assert_int_equal(c1->n_history, 2);
	assert_int_equal(c1->last_seq, l.ev[1]->seq);
	wj_service_close(first);
	wj_service_close(later);
}

/* The submitted event of a new case at f->svc, as stored, with an
 * unknown field (number 999) of pad bytes appended, decoded again. */
static Wuji__Event *padded_event(struct fixture *f, size_t pad, uint8_t **bytes, size_t *len)
{
	load_catalog(f);
	Wuji__Reply *rep = run1(f, T_0213, submit_req(f, "XK-001", "周八", true));
	assert_int_equal(rep->code, 0);
	struct evlist l = {0};
	wj_txn_t *t;
	assert_int_equal(wj_txn_begin(wj_service_store(f->svc), false, &t, NULL), 0);
	assert_int_equal(wj_store_case_events(t, rep->number, &f->arena, collect_event, &l, NULL),
			 0);
	wj_txn_abort(t);
	assert_true(l.n >= 1);
	size_t base = wuji__event__get_packed_size(l.ev[0]);
	*len = base + wj_pb_bytes_field_size(999, pad);
	*bytes = wj_arena_alloc(&f->arena, *len);
	size_t o = wuji__event__pack(l.ev[0], *bytes);
	o += wj_pb_put_bytes_head(*bytes + o, 999, pad);
	memset(*bytes + o, 'x', pad);
	Wuji__Event *ev = wuji__event__unpack(&f->arena.pb, *len, *bytes);
	assert_non_null(ev);
	assert_int_equal(ev->base.n_unknown_fields, 1);
	return ev;
}

/* A field this version does not know is kept and passed on as it came
 * (a newer node's events cross older ones whole) ... */
static void test_unknown_fields_kept(void **state)
{
	struct fixture *f = *state;
	uint8_t *bytes;
	size_t len;
	Wuji__Event *ev = padded_event(f, 1024, &bytes, &len);
	wj_service_t *up = open_node(f, "a", 330100000000ULL);
	wj_txn_t *t;
	bool fresh;
	wj_err_t err = {0};

	assert_int_equal(wj_txn_begin(wj_service_store(up), true, &t, NULL), 0);
	if (wj_service_apply_packed(up, t, ev, bytes, len, NODE, T_0213, &f->arena, &fresh, &err))
		fail_msg("refused: %s", err.msg);
	assert_true(fresh);
	const uint8_t *kept;
	size_t kept_len;
	assert_int_equal(wj_store_event_raw(t, ev->origin, ev->seq, &kept, &kept_len, NULL), 0);
	assert_int_equal(kept_len, len);
	assert_memory_equal(kept, bytes, len);
	assert_int_equal(wj_txn_commit(t, NULL), 0);
	wj_service_close(up);
}

/* ... but an event padded past WJ_EVENT_BYTES_MAX is refused, with what
 * was wrong, and nothing of it is stored. */
static void test_oversized_event_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t *bytes;
	size_t len;
	Wuji__Event *ev = padded_event(f, WJ_EVENT_BYTES_MAX, &bytes, &len);
	wj_service_t *up = open_node(f, "a", 330100000000ULL);
	wj_txn_t *t;
	bool fresh = true;
	wj_err_t err = {0};

	assert_int_equal(wj_txn_begin(wj_service_store(up), true, &t, NULL), 0);
	assert_int_equal(wj_service_apply_packed(up, t, ev, bytes, len, NODE, T_0213, &f->arena,
						 &fresh, &err),
			 WJ_EINVAL);
	assert_false(fresh);
	assert_non_null(strstr(err.msg, "more than the 131072 an event may have"));
	assert_false(wj_store_event_exists(t, ev->origin, ev->seq));
	/* Decoded and packed again (no stored bytes given): the same. */
	assert_int_equal(wj_service_apply_event(up, t, ev, NODE, T_0213, &f->arena, &fresh, &err),
			 WJ_EINVAL);
	assert_false(wj_store_event_exists(t, ev->origin, ev->seq));
	wj_txn_abort(t);
	wj_service_close(up);
}

/* A peer's event whose clock is past 2100 is refused: merged into this
 * node's clock it would stick every node's clock near its end. */
static void test_clock_past_2100_refused(void **state)
{
	struct fixture *f = *state;
	struct evlist l = {0};
	(void)submitted_and_accepted(f, "郑十", &l);
	wj_service_t *up = open_node(f, "a", 330000000000ULL);
	wj_txn_t *t;
	bool fresh = true;
	wj_err_t err = {0};

	Wuji__Event late = *l.ev[0];
	late.hlc = UINT64_MAX;
	assert_int_equal(wj_txn_begin(wj_service_store(up), true, &t, NULL), 0);
	assert_int_equal(wj_service_apply_event(up, t, &late, NODE, T_0213, &f->arena, &fresh,
						&err),
			 WJ_EINVAL);
	assert_false(fresh);
	assert_non_null(strstr(err.msg, "past the year 2100"));
	assert_false(wj_store_event_exists(t, late.origin, late.seq));
	late.hlc = (WJ_HLC_MS_MAX + 1) << 16;
	assert_int_equal(wj_service_apply_event(up, t, &late, NODE, T_0213, &f->arena, &fresh,
						&err),
			 WJ_EINVAL);
	late.hlc = WJ_HLC_MS_MAX << 16;
	assert_int_equal(wj_service_apply_event(up, t, &late, NODE, T_0213, &f->arena, &fresh,
						&err),
			 0);
	assert_true(fresh);
	wj_txn_abort(t);
	wj_service_close(up);
	/* Nor does a node whose own clock reads past 2100 make such events. */
	Wuji__Reply *rep = run1(f, (int64_t)WJ_HLC_MS_MAX + 86400000LL,
				submit_req(f, "XK-001", "钱十二", true));
	assert_int_not_equal(rep->code, 0);
	assert_non_null(strstr(rep->error, "past the year 2100"));
}

/* The acceptance of l (ev[1]) again with seq + i and hlc + 2 i; i = 0 is
 * the acceptance itself. */
static Wuji__Event *acceptance_again(struct fixture *f, const struct evlist *l, uint64_t i)
{
	Wuji__Event *e = wj_arena_alloc(&f->arena, sizeof(*e));
	*e = *l->ev[1];
	e->seq += i;
	e->hlc += 2 * i;
	return e;
}

static void apply_counted(struct fixture *f, wj_service_t *s, wj_txn_t *t, Wuji__Event *ev)
{
	wj_arena_t a;
	bool fresh = false;
	wj_err_t err = {0};
	wj_arena_init(&a, 0);
	if (wj_service_apply_event(s, t, ev, NODE, T_0213, &a, &fresh, &err))
		fail_msg("event %llu refused: %s", (unsigned long long)ev->seq, err.msg);
	assert_true(fresh);
	wj_arena_free(&a);
}

/* A case folds its first WJ_CASE_EVENTS_MAX events in order; the rest are
 * kept (and passed on) without effect, so that what a peer can make a
 * case cost stays bounded.  Two nodes that get the events in different
 * orders fold the same case: one gets an early event only once the bound
 * was reached, and it pushes the last folded one out. */
static void test_case_events_bounded(void **state)
{
	struct fixture *f = *state;
	struct evlist l = {0};
	char *number = submitted_and_accepted(f, "王十一", &l);
	const uint64_t extra = WJ_CASE_EVENTS_MAX + 5;
	Wuji__Event *early = acceptance_again(f, &l, 100000);
	early->hlc = l.ev[1]->hlc + 1;   /* between the first two acceptances */
	wj_service_t *node[2] = {open_node(f, "a", 330000000000ULL),
				 open_node(f, "b", 330000000000ULL)};
	size_t n[2];
	uint8_t *b[2];
	for (int k = 0; k < 2; k++) {
		wj_txn_t *t;
		assert_int_equal(wj_txn_begin(wj_service_store(node[k]), true, &t, NULL), 0);
		apply_counted(f, node[k], t, l.ev[0]);
		if (k == 1)
			apply_counted(f, node[k], t, early);
		for (uint64_t i = 0; i < extra; i++)
			apply_counted(f, node[k], t, acceptance_again(f, &l, i));
		if (k == 0)
			apply_counted(f, node[k], t, early);
		/* Every event is kept. */
		assert_true(wj_store_event_exists(t, NODE, l.ev[1]->seq + extra - 1));
		assert_int_equal(wj_txn_commit(t, NULL), 0);
		Wuji__Case *c;
		b[k] = case_bytes(f, node[k], number, &n[k], &c);
		assert_int_equal(c->n_history, WJ_CASE_EVENTS_MAX);
		/* Submission, acceptance, the early one, then acceptances up
		 * to the bound. */
		assert_int_equal(c->history[2]->seq, early->seq);
		assert_int_equal(c->history[WJ_CASE_EVENTS_MAX - 1]->seq,
				 l.ev[1]->seq + WJ_CASE_EVENTS_MAX - 3);
		assert_int_equal(c->last_seq, l.ev[1]->seq + extra - 1);
	}
	assert_int_equal(n[0], n[1]);
	assert_memory_equal(b[0], b[1], n[0]);
	wj_service_close(node[0]);
	wj_service_close(node[1]);
}

static Wuji__Request *warnings_req(struct fixture *f, uint32_t limit, const char *after)
{
	Wuji__Request *r = new_req(f);
	Wuji__WarningsRequest *w = wj_arena_alloc(&f->arena, sizeof(*w));
	wuji__warnings_request__init(w);
	w->limit = limit;
	w->after = (char *)(after ? after : "");
	r->op_case = WUJI__REQUEST__OP_WARNINGS;
	r->warnings = w;
	return r;
}

static Wuji__Request *red_list_req(struct fixture *f, uint32_t limit, const char *after)
{
	Wuji__Request *r = new_req(f);
	Wuji__ListRequest *l = wj_arena_alloc(&f->arena, sizeof(*l));
	wuji__list_request__init(l);
	l->warning = WUJI__WARNING__RED;
	l->limit = limit;
	l->after = (char *)(after ? after : "");
	r->op_case = WUJI__REQUEST__OP_LIST;
	r->list = l;
	return r;
}

/* Warning lists come in due order, and so does their next page: case 1
 * (accepted later, due later) follows case 2 there.  Paged by case
 * number instead, the page after case 2 was empty and case 1 never
 * shown.  The page ends at DUE/NUMBER, not at the case: case 2 extended
 * between the pages (its due date now after case 1's) must not make the
 * next page skip case 1. */
static void test_warning_pages_follow_due_order(void **state)
{
	struct fixture *f = *state;
	load_catalog(f);
	char *number[2];
	for (int i = 0; i < 2; i++) {
		Wuji__Reply *rep = run1(f, T_0213, submit_req(f, "XK-001", i ? "二" : "一", true));
		assert_int_equal(rep->code, 0);
		number[i] = rep->number;
	}
	const int64_t day = 86400LL * 1000;
	assert_int_equal(run1(f, T_0213 + 7 * day, command_req(f, WUJI__EVENT_TYPE__EV_ACCEPTED,
								 number[0]))->code, 0);
	Wuji__Reply *acc = run1(f, T_0213, command_req(f, WUJI__EVENT_TYPE__EV_ACCEPTED,
						       number[1]));
	assert_int_equal(acc->code, 0);
	char token[64];
	snprintf(token, sizeof(token), "%08d/%s", (int)acc->case_->promised_due, number[1]);
	const int64_t later = T_0213 + 90 * day;   /* both overdue: red */
	Wuji__Request *(*kinds[2])(struct fixture *, uint32_t, const char *) = {
		warnings_req, red_list_req};
	for (int k = 0; k < 2; k++) {
		Wuji__Reply *rep = run1(f, later, kinds[k](f, 1, NULL));
		assert_int_equal(rep->code, 0);
		assert_int_equal(rep->list->n_cases, 1);
		assert_string_equal(rep->list->cases[0]->number, number[1]);
		assert_string_equal(rep->list->next, token);
	}
	/* Case 2 extended by 10 working days: due after case 1 now. */
	Wuji__Request *ext = command_req(f, WUJI__EVENT_TYPE__EV_EXTENDED, number[1]);
	ext->command->days = 10;
	ext->command->reason = "需要现场核查";
	assert_int_equal(run1(f, T_0213 + 8 * day, ext)->code, 0);
	for (int k = 0; k < 2; k++) {
		Wuji__Reply *rep = run1(f, later, kinds[k](f, 1, token));
		assert_int_equal(rep->code, 0);
		assert_int_equal(rep->list->n_cases, 1);
		assert_string_equal(rep->list->cases[0]->number, number[0]);
		/* (Case 2 comes again after it, at its new date.) */
		rep = run1(f, later, kinds[k](f, 5, rep->list->cases[0]->number));
		assert_int_equal(rep->code, 0);
		assert_int_equal(rep->list->n_cases, 1);
		assert_string_equal(rep->list->cases[0]->number, number[1]);
	}
	/* A page end that is no position, and a case that left the due
	 * index since its page: say so. */
	Wuji__Reply *rep = run1(f, later, warnings_req(f, 1, "2026/0213/x"));
	assert_int_equal(rep->code, WUJI__ERROR_CODE__E_BAD_REQUEST);
	assert_non_null(strstr(rep->error, "where a page ended"));
	assert_int_equal(run1(f, later, command_req(f, WUJI__EVENT_TYPE__EV_WITHDRAWN,
						    number[1]))->code, 0);
	rep = run1(f, later, warnings_req(f, 1, number[1]));
	assert_int_not_equal(rep->code, 0);
	assert_non_null(strstr(rep->error, "list again from the start"));
	/* Its DUE/NUMBER still places the next page. */
	rep = run1(f, later, warnings_req(f, 1, token));
	assert_int_equal(rep->code, 0);
	assert_int_equal(rep->list->n_cases, 1);
	assert_string_equal(rep->list->cases[0]->number, number[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group_commit_answers_every_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle_and_due_date, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog_load_seen_within_a_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refusal_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_racing_steps_fold_the_same, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_case_folds_the_same_either_way, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_fields_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_event_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_past_2100_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_case_events_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warning_pages_follow_due_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unknown_item_and_case, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_gets_error_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_decoding_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_memory_is_what_it_keeps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_full_fails_batch_cleanly, setup_tiny, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
