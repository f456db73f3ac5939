/* Unit tests of the LMDB store (storage/store.c): creation and refusals,
 * case indexes, scans, events and the change log, counters, catalog and
 * calendar, a full map, nested transactions and verify.  Every test works
 * in its own mkdtemp directory, removed at the end; a few tamper with the
 * store through raw LMDB to plant what the store's API cannot write. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <lmdb.h>
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

#include "core/arena.h"
#include "storage/store.h"

#define NODE_A 440303001001ULL
#define NODE_B 440303001002ULL
#define NODE_C 330106000000ULL

struct fx {
	char tmp[64];
	char dir[96];
	wj_arena_t a;
	wj_store_t *s;
};

static int rm_cb(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->tmp, "/tmp/wj_store_XXXXXX");
	if (!mkdtemp(f->tmp)) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/data", f->tmp);
	wj_arena_init(&f->a, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	wj_store_close(f->s);
	wj_arena_free(&f->a);
	nftw(f->tmp, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static wj_store_t *open_store(struct fx *f, uint64_t node, uint64_t map)
{
	wj_store_opts_t o = { .node = node, .map_size = map };
	wj_err_t err = { 0 };
	wj_store_t *s = NULL;
	int rc = wj_store_open(f->dir, &o, &s, &err);

	if (rc)
		fail_msg("open: %d %s", rc, err.msg);
	return s;
}

static void reopen(struct fx *f, uint64_t map)
{
	wj_store_close(f->s);
	f->s = open_store(f, NODE_A, map);
}

static wj_txn_t *begin(struct fx *f, bool write)
{
	wj_txn_t *t = NULL;
	wj_err_t err = { 0 };

	assert_int_equal(wj_txn_begin(f->s, write, &t, &err), 0);
	return t;
}

static void commit(wj_txn_t *t)
{
	wj_err_t err = { 0 };
	int rc = wj_txn_commit(t, &err);

	if (rc)
		fail_msg("commit: %d %s", rc, err.msg);
}

static Wuji__Case *mk_case(wj_arena_t *a, const char *number,
			   const char *item, Wuji__CaseStatus st, int32_t due)
{
	Wuji__Case *c = wj_arena_alloc(a, sizeof(*c));

	wuji__case__init(c);
	c->number = wj_arena_strdup(a, number);
	c->item_code = wj_arena_strdup(a, item);
	c->item_name = "test item";
	c->status = st;
	c->promised_due = due;
	c->origin = NODE_A;
	return c;
}

static void put_case(wj_txn_t *t, const Wuji__Case *old, const Wuji__Case *c)
{
	wj_err_t err = { 0 };
	int rc = wj_store_case_put(t, old, c, &err);

	if (rc)
		fail_msg("case_put %s: %d %s", c->number, rc, err.msg);
}

/* Collects the numbers a scan visits. */
struct seen {
	char numbers[64][48];
	int n;
	int stop_after;     /* return 1 after this many; 0 = never */
};

static int collect(Wuji__Case *c, void *ctx)
{
	struct seen *s = ctx;

	if (s->n >= 64)
		return -100;
	snprintf(s->numbers[s->n++], sizeof(s->numbers[0]), "%s", c->number);
	return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

static int scan_status(struct fx *f, wj_txn_t *t, Wuji__CaseStatus st,
		       struct seen *out)
{
	wj_case_filter_t flt = { .status = st };

	memset(out, 0, sizeof(*out));
	return wj_store_case_scan(t, &flt, collect, out, NULL);
}

static int due_scan(struct fx *f, wj_txn_t *t, wj_date_t up_to,
		    struct seen *out)
{
	memset(out, 0, sizeof(*out));
	return wj_store_due_scan(t, up_to, collect, out, NULL);
}

/* Raw LMDB access to the store's files, for planting what the API refuses
 * to write.  The store must be closed meanwhile. */
static void raw_open(struct fx *f, MDB_env **env, MDB_txn **txn)
{
	assert_int_equal(mdb_env_create(env), 0);
	assert_int_equal(mdb_env_set_maxdbs(*env, 16), 0);
	assert_int_equal(mdb_env_open(*env, f->dir, 0, 0640), 0);
	assert_int_equal(mdb_txn_begin(*env, NULL, 0, txn), 0);
}

static MDB_dbi raw_dbi(MDB_txn *txn, const char *name)
{
	MDB_dbi dbi;

	assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
	return dbi;
}

static void raw_close(MDB_env *env, MDB_txn *txn)
{
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* The kind bytes of the index database's keys (store.c, enum
 * idx_kind): part of the on-disk format, so spelled out here too. */
#define KIND_STATUS 1
#define KIND_ITEM 2
#define KIND_DUE 3
#define KIND_CASE_EVENT 4

/* A case's event index key: kind number NUL hlc origin seq. */
static size_t case_ev_key(unsigned char *buf, const char *number,
			  uint64_t hlc, uint64_t origin, uint64_t seq)
{
	size_t n = strlen(number);

	buf[0] = KIND_CASE_EVENT;
	memcpy(buf + 1, number, n + 1);
	be64(buf + n + 2, hlc);
	be64(buf + n + 10, origin);
	be64(buf + n + 18, seq);
	return n + 26;
}

/* ------------------------------------------------------------------ */

static void test_create_reopen(void **state)
{
	struct fx *f = *state;
	wj_store_meta_t m1, m2;
	wj_txn_t *t;
	Wuji__Case *c;
	struct stat st;
	wj_err_t err = { 0 };

	f->s = open_store(f, NODE_A, 0);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0750);

	t = begin(f, false);
	assert_int_equal(wj_store_meta(t, &m1), 0);
	wj_txn_abort(t);
	assert_int_equal(m1.schema, WJ_SCHEMA_VERSION);
	assert_true(m1.node == NODE_A);
	assert_true(m1.last_seq == 0);
	assert_true(m1.epoch != 0);
	assert_true(m1.map_size == 1ULL << 30);
	assert_true(m1.map_used > 0 && m1.map_used < m1.map_size);

	t = begin(f, true);
	put_case(t, NULL, mk_case(&f->a, "N-0001", "ITEM-1",
				  WUJI__CASE_STATUS__RECEIVED, 0));
	commit(t);

	reopen(f, 0);
	t = begin(f, false);
	assert_int_equal(wj_store_meta(t, &m2), 0);
	assert_true(m2.epoch == m1.epoch);
	assert_true(m2.node == NODE_A);
	assert_int_equal(wj_store_case_get(t, "N-0001", &f->a, &c, &err), 0);
	assert_string_equal(c->item_code, "ITEM-1");
	assert_int_equal(wj_store_case_get(t, "N-0002", &f->a, &c, &err),
			 WJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "N-0002"));
	wj_txn_abort(t);

	/* A second writer of the same directory is refused while the first
	 * holds it. */
	{
		wj_store_opts_t o = { .node = NODE_A };
		wj_store_t *s2 = NULL;

		assert_int_equal(wj_store_open(f->dir, &o, &s2, &err),
				 WJ_EBUSY);
		assert_null(s2);
		assert_non_null(strstr(err.msg, f->dir));
	}

	/* Read-only: readable alongside the writer, never writable, and the
	 * node need not be known. */
	{
		wj_store_opts_t o = { .read_only = true };
		wj_store_t *ro = NULL;
		wj_txn_t *rt = NULL;

		assert_int_equal(wj_store_open(f->dir, &o, &ro, &err), 0);
		assert_int_equal(wj_txn_begin(ro, false, &rt, &err), 0);
		assert_int_equal(wj_store_case_get(rt, "N-0001", &f->a, &c,
						   &err), 0);
		wj_txn_abort(rt);
		assert_int_equal(wj_txn_begin(ro, true, &rt, &err), WJ_EINVAL);
		wj_store_close(ro);
	}
}

static void test_read_only_missing(void **state)
{
	struct fx *f = *state;
	wj_store_opts_t o = { .node = NODE_A, .read_only = true };
	wj_err_t err = { 0 };
	wj_store_t *s = NULL;
	struct stat st;

	assert_int_equal(wj_store_open(f->dir, &o, &s, &err), WJ_ENOTFOUND);
	assert_null(s);
	assert_non_null(strstr(err.msg, f->dir));
	/* Nothing was created by looking. */
	assert_int_equal(stat(f->dir, &st), -1);

	/* An empty directory is no store either. */
	assert_int_equal(mkdir(f->dir, 0750), 0);
	assert_int_equal(wj_store_open(f->dir, &o, &s, &err), WJ_ENOTFOUND);
	assert_null(s);
}

static void test_schema_refused(void **state)
{
	struct fx *f = *state;
	wj_err_t err = { 0 };
	wj_store_opts_t o = { .node = NODE_A };
	unsigned char v8[8] = { 0, 0, 0, 0, 0, 0, 0, WJ_SCHEMA_VERSION + 1 };
	MDB_val k = { 6, "schema" }, v = { 8, v8 };
	char want[64];
	MDB_env *env;
	MDB_txn *txn;

	f->s = open_store(f, NODE_A, 0);
	wj_store_close(f->s);
	f->s = NULL;

	raw_open(f, &env, &txn);
	assert_int_equal(mdb_put(txn, raw_dbi(txn, "meta"), &k, &v, 0), 0);
	raw_close(env, txn);

	assert_int_equal(wj_store_open(f->dir, &o, &f->s, &err), WJ_ESCHEMA);
	assert_null(f->s);
	snprintf(want, sizeof(want), "schema %d", WJ_SCHEMA_VERSION + 1);
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, f->dir));
	assert_non_null(strstr(err.msg, "upgrade wuji"));
	o.read_only = true;
	assert_int_equal(wj_store_open(f->dir, &o, &f->s, &err), WJ_ESCHEMA);
	assert_null(f->s);
}

static void test_other_node_refused(void **state)
{
	struct fx *f = *state;
	wj_store_opts_t o = { .node = NODE_B };
	wj_err_t err = { 0 };

	f->s = open_store(f, NODE_A, 0);
	wj_store_close(f->s);
	f->s = NULL;

	assert_int_equal(wj_store_open(f->dir, &o, &f->s, &err), WJ_EINVAL);
	assert_null(f->s);
	assert_non_null(strstr(err.msg, "440303001001"));
	assert_non_null(strstr(err.msg, "440303001002"));
	assert_non_null(strstr(err.msg, f->dir));

	/* A refused open leaves the store as it was. */
	f->s = open_store(f, NODE_A, 0);
	assert_non_null(f->s);
}

static void test_case_indexes(void **state)
{
	struct fx *f = *state;
	Wuji__Case *c0, *c1, *c2, *c3, *got;
	wj_err_t err = { 0 };
	struct seen s;
	uint64_t n;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	c0 = mk_case(&f->a, "C-1", "ITEM-A", WUJI__CASE_STATUS__RECEIVED, 0);
	c0->warning = WUJI__WARNING__RED;
	c0->days_left = -3;
	put_case(t, NULL, c0);
	put_case(t, NULL, mk_case(&f->a, "C-2", "ITEM-B",
				  WUJI__CASE_STATUS__RECEIVED, 0));
	/* old == NULL says "new": an existing case is not overwritten. */
	assert_int_equal(wj_store_case_put(t, NULL, c0, &err), WJ_EEXIST);
	commit(t);

	t = begin(f, false);
	assert_int_equal(wj_store_case_get(t, "C-1", &f->a, &got, &err), 0);
	/* Read-time fields are never stored. */
	assert_int_equal(got->warning, WUJI__WARNING__WARNING_NONE);
	assert_int_equal(got->days_left, 0);
	assert_string_equal(got->item_name, "test item");
	assert_int_equal(scan_status(f, t, WUJI__CASE_STATUS__RECEIVED, &s),
			 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(wj_store_count_status(t, WUJI__CASE_STATUS__RECEIVED,
					       &n), 0);
	assert_true(n == 2);
	wj_txn_abort(t);

	/* received -> accepted with a due date: both indexes move. */
	t = begin(f, true);
	c1 = mk_case(&f->a, "C-1", "ITEM-A", WUJI__CASE_STATUS__ACCEPTED,
		     20260310);
	put_case(t, c0, c1);
	assert_int_equal(scan_status(f, t, WUJI__CASE_STATUS__RECEIVED, &s),
			 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.numbers[0], "C-2");
	assert_int_equal(scan_status(f, t, WUJI__CASE_STATUS__ACCEPTED, &s),
			 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.numbers[0], "C-1");
	assert_int_equal(due_scan(f, t, 20260310, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.numbers[0], "C-1");
	assert_int_equal(due_scan(f, t, 20260309, &s), 0);
	assert_int_equal(s.n, 0);
	commit(t);

	/* An extension moves the due entry; pausing removes it. */
	t = begin(f, true);
	c2 = mk_case(&f->a, "C-1", "ITEM-A", WUJI__CASE_STATUS__ACCEPTED,
		     20260320);
	put_case(t, c1, c2);
	assert_int_equal(due_scan(f, t, 20260315, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(due_scan(f, t, 20260320, &s), 0);
	assert_int_equal(s.n, 1);
	c3 = mk_case(&f->a, "C-1", "ITEM-A", WUJI__CASE_STATUS__PAUSED,
		     20260320);
	put_case(t, c2, c3);
	assert_int_equal(due_scan(f, t, 99991231, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(scan_status(f, t, WUJI__CASE_STATUS__ACCEPTED, &s),
			 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(scan_status(f, t, WUJI__CASE_STATUS__PAUSED, &s), 0);
	assert_int_equal(s.n, 1);
	commit(t);

	/* After a reopen the indexes are what was committed. */
	reopen(f, 0);
	t = begin(f, false);
	{
		wj_case_filter_t flt = { .item_code = "ITEM-B" };

		memset(&s, 0, sizeof(s));
		assert_int_equal(wj_store_case_scan(t, &flt, collect,
						    &s, &err), 0);
		assert_int_equal(s.n, 1);
		assert_string_equal(s.numbers[0], "C-2");
		/* A prefix of a code is another code. */
		flt.item_code = "ITEM";
		memset(&s, 0, sizeof(s));
		assert_int_equal(wj_store_case_scan(t, &flt, collect,
						    &s, &err), 0);
		assert_int_equal(s.n, 0);
		/* Both filters at once. */
		flt.item_code = "ITEM-A";
		flt.status = WUJI__CASE_STATUS__RECEIVED;
		memset(&s, 0, sizeof(s));
		assert_int_equal(wj_store_case_scan(t, &flt, collect,
						    &s, &err), 0);
		assert_int_equal(s.n, 0);
		flt.status = WUJI__CASE_STATUS__PAUSED;
		assert_int_equal(wj_store_case_scan(t, &flt, collect,
						    &s, &err), 0);
		assert_int_equal(s.n, 1);
	}
	assert_int_equal(wj_store_count_status(t, WUJI__CASE_STATUS__RECEIVED,
					       &n), 0);
	assert_true(n == 1);
	assert_int_equal(wj_store_count_status(t, WUJI__CASE_STATUS__PAUSED,
					       &n), 0);
	assert_true(n == 1);
	assert_int_equal(wj_store_count_status(t, WUJI__CASE_STATUS__ACCEPTED,
					       &n), 0);
	assert_true(n == 0);
	wj_txn_abort(t);
}

static void test_case_limits(void **state)
{
	struct fx *f = *state;
	char longnum[64], longcode[600];
	wj_err_t err = { 0 };
	Wuji__Case *c;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	memset(longnum, '9', 41);
	longnum[41] = '\0';
	memset(longcode, 'X', 470);
	longcode[470] = '\0';
	t = begin(f, true);
	c = mk_case(&f->a, longnum, "I", WUJI__CASE_STATUS__RECEIVED, 0);
	assert_int_equal(wj_store_case_put(t, NULL, c, &err), WJ_EBADREQ);
	c = mk_case(&f->a, "OK-1", longcode, WUJI__CASE_STATUS__RECEIVED, 0);
	assert_int_equal(wj_store_case_put(t, NULL, c, &err), WJ_EBADREQ);
	/* The longest allowed number and code fit LMDB's key limit with
	 * the index's kind byte. */
	longnum[40] = '\0';
	longcode[469] = '\0';
	c = mk_case(&f->a, longnum, longcode, WUJI__CASE_STATUS__ACCEPTED,
		    20260101);
	put_case(t, NULL, c);
	assert_int_equal(wj_store_case_get(t, "", &f->a, &c, &err),
			 WJ_EBADREQ);
	commit(t);
}

static void test_scan_paging(void **state)
{
	struct fx *f = *state;
	wj_case_filter_t flt = { 0 };
	char all[30][48], last[48];
	wj_err_t err = { 0 };
	struct seen s;
	wj_txn_t *t;
	int i, total, rounds;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	/* Inserted out of order; odd ones accepted. */
	for (i = 0; i < 30; i++) {
		int k = (i * 7) % 30;
		char num[16];

		snprintf(num, sizeof(num), "P-%03d", k);
		put_case(t, NULL, mk_case(&f->a, num, "ITEM",
			 k % 2 ? WUJI__CASE_STATUS__ACCEPTED :
				 WUJI__CASE_STATUS__RECEIVED,
			 k % 2 ? 20260301 + k : 0));
	}
	commit(t);

	t = begin(f, false);
	/* Pages of 7 over everything, each continuing after the last. */
	total = 0;
	last[0] = '\0';
	for (rounds = 0; rounds < 10; rounds++) {
		memset(&s, 0, sizeof(s));
		s.stop_after = 7;
		flt.after = total ? last : NULL;
		i = wj_store_case_scan(t, &flt, collect, &s, &err);
		assert_true(i == 0 || i == 1);
		for (i = 0; i < s.n; i++)
			strcpy(all[total + i], s.numbers[i]);
		total += s.n;
		if (s.n < 7)
			break;
		strcpy(last, s.numbers[s.n - 1]);
	}
	assert_int_equal(total, 30);
	for (i = 0; i < 30; i++) {
		char want[16];

		snprintf(want, sizeof(want), "P-%03d", i);
		assert_string_equal(all[i], want);
	}

	/* The callback's non-zero return comes back. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 3;
	assert_int_equal(wj_store_case_scan(t, NULL, collect, &s,
					    &err), 1);
	assert_int_equal(s.n, 3);

	/* Paging within a status, after a number that is not in it. */
	flt.status = WUJI__CASE_STATUS__ACCEPTED;
	flt.after = "P-010";
	memset(&s, 0, sizeof(s));
	assert_int_equal(wj_store_case_scan(t, &flt, collect, &s,
					    &err), 0);
	assert_int_equal(s.n, 10);
	assert_string_equal(s.numbers[0], "P-011");
	assert_string_equal(s.numbers[9], "P-029");
	flt.after = "P-011";
	memset(&s, 0, sizeof(s));
	assert_int_equal(wj_store_case_scan(t, &flt, collect, &s,
					    &err), 0);
	assert_int_equal(s.n, 9);
	assert_string_equal(s.numbers[0], "P-013");

	/* Paging within an item. */
	flt.status = 0;
	flt.item_code = "ITEM";
	flt.after = "P-027";
	memset(&s, 0, sizeof(s));
	assert_int_equal(wj_store_case_scan(t, &flt, collect, &s,
					    &err), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.numbers[0], "P-028");

	/* The due index is in date order. */
	assert_int_equal(due_scan(f, t, 20260301 + 7, &s), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.numbers[0], "P-001");
	assert_string_equal(s.numbers[3], "P-007");
	wj_txn_abort(t);
}

/* A visit that writes: the scan must neither skip nor repeat a case when
 * its callback moves the case it is visiting out of the scanned index. */
struct mover {
	wj_txn_t *t;
	wj_arena_t *a;
	int n;
};

static int close_case(Wuji__Case *c, void *ctx)
{
	struct mover *m = ctx;
	Wuji__Case *nc = mk_case(m->a, c->number, c->item_code,
				 WUJI__CASE_STATUS__APPROVED, 0);

	put_case(m->t, c, nc);
	m->n++;
	return m->n > 100 ? -100 : 0;
}

static void test_scan_with_writes(void **state)
{
	struct fx *f = *state;
	struct mover m = { .a = &f->a };
	uint64_t n;
	wj_txn_t *t;
	int i;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	for (i = 0; i < 20; i++) {
		char num[16];

		snprintf(num, sizeof(num), "W-%02d", i);
		put_case(t, NULL, mk_case(&f->a, num, "I",
			 WUJI__CASE_STATUS__ACCEPTED, 20260301 + i % 3));
	}
	m.t = t;
	assert_int_equal(wj_store_due_scan(t, 20260310, close_case, &m,
					   NULL), 0);
	assert_int_equal(m.n, 20);
	assert_int_equal(wj_store_count_status(t, WUJI__CASE_STATUS__APPROVED,
					       &n), 0);
	assert_true(n == 20);
	commit(t);
}

static Wuji__Event *mk_event(wj_arena_t *a, uint64_t origin, uint64_t seq,
			     const char *number)
{
	Wuji__Event *ev = wj_arena_alloc(a, sizeof(*ev));

	wuji__event__init(ev);
	ev->origin = origin;
	ev->seq = seq;
	ev->hlc = seq << 16;
	ev->at = 1770000000 + (int64_t)seq;
	ev->type = WUJI__EVENT_TYPE__EV_SUBMITTED;
	ev->case_number = wj_arena_strdup(a, number);
	ev->reason = "because";
	return ev;
}

struct log {
	uint64_t local[32], origin[32], seq[32], from[32];
	int n;
	int stop_after;
};

static int collect_log(uint64_t local, uint64_t origin, uint64_t seq,
		       uint64_t from, void *ctx)
{
	struct log *l = ctx;

	if (l->n >= 32)
		return -100;
	l->local[l->n] = local;
	l->origin[l->n] = origin;
	l->seq[l->n] = seq;
	l->from[l->n] = from;
	l->n++;
	return l->stop_after && l->n >= l->stop_after ? 7 : 0;
}

static void test_event_idempotent(void **state)
{
	struct fx *f = *state;
	Wuji__Event *ev, *got;
	wj_store_counts_t cnt;
	wj_err_t err = { 0 };
	uint64_t local = 0;
	struct log l = { 0 };
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	ev = mk_event(&f->a, NODE_B, 5, "E-1");
	t = begin(f, true);
	assert_int_equal(wj_store_event_put(t, ev, 0, &local, &err), 0);
	assert_true(local == 1);
	commit(t);

	t = begin(f, true);
	local = 99;
	assert_int_equal(wj_store_event_put(t, ev, 0, &local, &err), WJ_EEXIST);
	assert_true(local == 99);
	/* The refusal leaves the transaction usable. */
	commit(t);

	t = begin(f, false);
	assert_true(wj_store_event_exists(t, NODE_B, 5));
	assert_false(wj_store_event_exists(t, NODE_B, 6));
	assert_false(wj_store_event_exists(t, NODE_A, 5));
	assert_int_equal(wj_store_event_get(t, NODE_B, 5, &f->a, &got, &err),
			 0);
	assert_true(got->origin == NODE_B && got->seq == 5);
	assert_string_equal(got->case_number, "E-1");
	assert_string_equal(got->reason, "because");
	assert_int_equal(wj_store_event_get(t, NODE_B, 6, &f->a, &got, &err),
			 WJ_ENOTFOUND);
	assert_int_equal(wj_store_changelog_scan(t, 0, collect_log, &l, &err),
			 0);
	assert_int_equal(l.n, 1);
	assert_true(l.local[0] == 1 && l.origin[0] == NODE_B &&
		    l.seq[0] == 5 && l.from[0] == 0);
	assert_int_equal(wj_store_counts(t, &cnt), 0);
	assert_true(cnt.events == 1 && cnt.changelog == 1);
	wj_txn_abort(t);

	/* An event without an id is refused. */
	t = begin(f, true);
	assert_int_equal(wj_store_event_put(t, mk_event(&f->a, 0, 1, "E-2"),
					    0, NULL, &err), WJ_EBADREQ);
	wj_txn_abort(t);
}

static void test_changelog_order(void **state)
{
	struct fx *f = *state;
	static const uint64_t ids[][2] = {
		{ NODE_B, 9 }, { NODE_A, 1 }, { NODE_B, 3 }, { NODE_A, 2 },
		{ 110000000000ULL, 1 }, { NODE_B, 10 },
	};
	wj_err_t err = { 0 };
	struct log l = { 0 };
	uint64_t local;
	wj_txn_t *t;
	int i;

	f->s = open_store(f, NODE_A, 0);
	/* One transaction per event for the first three, one for the rest:
	 * the log keeps the order of application either way. */
	for (i = 0; i < 6; i++) {
		if (i <= 3)
			t = begin(f, true);
		assert_int_equal(wj_store_event_put(t, mk_event(&f->a,
			ids[i][0], ids[i][1], "L-1"), 0, &local, &err), 0);
		assert_true(local == (uint64_t)i + 1);
		if (i < 3 || i == 5)
			commit(t);
	}
	reopen(f, 0);

	t = begin(f, false);
	assert_int_equal(wj_store_changelog_scan(t, 0, collect_log, &l, &err),
			 0);
	assert_int_equal(l.n, 6);
	for (i = 0; i < 6; i++) {
		assert_true(l.local[i] == (uint64_t)i + 1);
		assert_true(l.origin[i] == ids[i][0]);
		assert_true(l.seq[i] == ids[i][1]);
	}
	memset(&l, 0, sizeof(l));
	assert_int_equal(wj_store_changelog_scan(t, 2, collect_log, &l, &err),
			 0);
	assert_int_equal(l.n, 4);
	assert_true(l.local[0] == 3 && l.seq[0] == 3);
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	assert_int_equal(wj_store_changelog_scan(t, 0, collect_log, &l, &err),
			 7);
	assert_int_equal(l.n, 2);
	memset(&l, 0, sizeof(l));
	assert_int_equal(wj_store_changelog_scan(t, 6, collect_log, &l, &err),
			 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(wj_store_changelog_scan(t, UINT64_MAX, collect_log,
						 &l, &err), 0);
	assert_int_equal(l.n, 0);
	wj_txn_abort(t);
}

static void test_seq_serial_persist(void **state)
{
	struct fx *f = *state;
	wj_err_t err = { 0 };
	wj_store_meta_t m;
	uint64_t seq;
	uint32_t serial;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 1);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 2);
	assert_int_equal(wj_store_meta(t, &m), 0);
	assert_true(m.last_seq == 2);
	assert_int_equal(wj_store_next_serial(t, 20260213, &serial, &err), 0);
	assert_int_equal(serial, 1);
	assert_int_equal(wj_store_next_serial(t, 20260213, &serial, &err), 0);
	assert_int_equal(serial, 2);
	assert_int_equal(wj_store_next_serial(t, 20260214, &serial, &err), 0);
	assert_int_equal(serial, 1);
	commit(t);

	/* An aborted transaction allocates nothing. */
	t = begin(f, true);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 3);
	assert_int_equal(wj_store_next_serial(t, 20260213, &serial, &err), 0);
	wj_txn_abort(t);

	reopen(f, 0);
	t = begin(f, true);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 3);
	assert_int_equal(wj_store_next_serial(t, 20260213, &serial, &err), 0);
	assert_int_equal(serial, 3);
	assert_int_equal(wj_store_next_serial(t, 20260214, &serial, &err), 0);
	assert_int_equal(serial, 2);
	commit(t);
	t = begin(f, false);
	assert_int_equal(wj_store_meta(t, &m), 0);
	assert_true(m.last_seq == 3);
	wj_txn_abort(t);
}

static int collect_item(Wuji__CatalogItem *it, void *ctx)
{
	struct seen *s = ctx;

	if (s->n >= 64)
		return -100;
	snprintf(s->numbers[s->n++], sizeof(s->numbers[0]), "%s", it->code);
	return 0;
}

static int collect_year(Wuji__CalendarYear *y, void *ctx)
{
	Wuji__CalendarYear **out = ctx;
	int i;

	for (i = 0; i < 4 && out[i]; i++)
		;
	if (i == 4)
		return -100;
	out[i] = y;
	return 0;
}

static void test_catalog_calendar(void **state)
{
	struct fx *f = *state;
	static const char *codes[] = { "11440300MB2C92605J3440113004000",
				       "000105001000", "Z-LAST", "A" };
	Wuji__CatalogItem it, *got;
	Wuji__CatalogTask task, *tasks[1] = { &task };
	Wuji__CalendarYear y1, y2, *years[4] = { 0 };
	int32_t hol[] = { 20260101, 20260216, 20260217 }, work[] = { 20260214 };
	wj_err_t err = { 0 };
	struct seen s = { 0 };
	wj_txn_t *t;
	int i;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	for (i = 0; i < 4; i++) {
		wuji__catalog_item__init(&it);
		wuji__catalog_task__init(&task);
		it.code = (char *)codes[i];
		it.name = "办理营业执照";
		it.kind = WUJI__ITEM_KIND__ITEM_PROMISED;
		it.promised_days = 5 + i;
		task.department = "市场监督管理局";
		task.level = WUJI__LEVEL__COUNTY;
		it.n_tasks = 1;
		it.tasks = tasks;
		assert_int_equal(wj_store_catalog_put(t, &it, &err), 0);
	}
	it.code = "";
	assert_int_equal(wj_store_catalog_put(t, &it, &err), WJ_EBADREQ);
	wuji__calendar_year__init(&y1);
	y1.year = 2026;
	y1.n_holidays = 3;
	y1.holidays = hol;
	y1.n_workdays = 1;
	y1.workdays = work;
	wuji__calendar_year__init(&y2);
	y2.year = 2025;
	assert_int_equal(wj_store_calendar_put(t, &y1, &err), 0);
	assert_int_equal(wj_store_calendar_put(t, &y2, &err), 0);
	commit(t);

	reopen(f, 0);
	t = begin(f, false);
	assert_int_equal(wj_store_catalog_get(t, codes[0], &f->a, &got, &err),
			 0);
	assert_string_equal(got->code, codes[0]);
	assert_string_equal(got->name, "办理营业执照");
	assert_int_equal(got->promised_days, 5);
	assert_int_equal(got->n_tasks, 1);
	assert_string_equal(got->tasks[0]->department, "市场监督管理局");
	assert_int_equal(got->tasks[0]->level, WUJI__LEVEL__COUNTY);
	assert_int_equal(wj_store_catalog_get(t, "NOPE", &f->a, &got, &err),
			 WJ_ENOTFOUND);
	assert_non_null(strstr(err.msg, "NOPE"));
	assert_int_equal(wj_store_catalog_scan(t, &f->a, collect_item, &s,
					       &err), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.numbers[0], "000105001000");
	assert_string_equal(s.numbers[1], "11440300MB2C92605J3440113004000");
	assert_string_equal(s.numbers[2], "A");
	assert_string_equal(s.numbers[3], "Z-LAST");

	assert_int_equal(wj_store_calendar_scan(t, &f->a, collect_year, years,
						&err), 0);
	assert_non_null(years[0]);
	assert_non_null(years[1]);
	assert_null(years[2]);
	assert_int_equal(years[0]->year, 2025);
	assert_int_equal(years[1]->year, 2026);
	assert_int_equal(years[1]->n_holidays, 3);
	assert_int_equal(years[1]->holidays[1], 20260216);
	assert_int_equal(years[1]->n_workdays, 1);
	assert_int_equal(years[1]->workdays[0], 20260214);
	{
		wj_store_counts_t cnt;

		assert_int_equal(wj_store_counts(t, &cnt), 0);
		assert_true(cnt.catalog == 4 && cnt.calendar_years == 2);
		assert_true(cnt.cases == 0 && cnt.events == 0);
	}
	wj_txn_abort(t);
}

/* A case with a payload of about `size` bytes. */
static Wuji__Case *big_case(wj_arena_t *a, const char *number, size_t size)
{
	Wuji__Case *c = mk_case(a, number, "BIG", WUJI__CASE_STATUS__RECEIVED,
				0);
	char *p = wj_arena_alloc(a, size + 1);

	memset(p, 'x', size);
	c->item_name = p;
	return c;
}

#define TINY_MAP (64 * 1024)
#define SMALL_MAP (128 * 1024)

static void test_map_full(void **state)
{
	struct fx *f = *state;
	wj_err_t err = { 0 };
	Wuji__Case *c;
	wj_store_meta_t m;
	int i, rc = 0, committed = 0;
	char num[16];
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, SMALL_MAP);
	t = begin(f, false);
	assert_int_equal(wj_store_meta(t, &m), 0);
	wj_txn_abort(t);
	assert_true(m.map_size >= SMALL_MAP && m.map_size < 4 * SMALL_MAP);

	/* One 1000-byte case per commit until the map is full. */
	for (i = 0; i < 200; i++) {
		snprintf(num, sizeof(num), "F-%03d", i);
		t = begin(f, true);
		rc = wj_store_case_put(t, NULL, big_case(&f->a, num, 1000),
				       &err);
		if (rc) {
			wj_err_t cerr = { 0 };

			assert_int_equal(rc, WJ_EFULL);
			/* A commit after the failure refuses too. */
			assert_int_equal(wj_txn_commit(t, &cerr), WJ_EFULL);
			break;
		}
		rc = wj_txn_commit(t, &err);
		if (rc) {
			assert_int_equal(rc, WJ_EFULL);
			break;
		}
		committed++;
		wj_arena_reset(&f->a);
	}
	assert_int_equal(rc, WJ_EFULL);
	assert_true(committed > 3);
	assert_non_null(strstr(err.msg, "map_size_mb"));
	assert_non_null(strstr(err.msg, f->dir));

	/* Still usable: reads work, and the failed case is not there. */
	t = begin(f, false);
	snprintf(num, sizeof(num), "F-%03d", committed);
	assert_int_equal(wj_store_case_get(t, num, &f->a, &c, &err),
			 WJ_ENOTFOUND);
	wj_txn_abort(t);

	/* After a reopen every committed case is intact. */
	reopen(f, SMALL_MAP);
	t = begin(f, false);
	for (i = 0; i < committed; i++) {
		snprintf(num, sizeof(num), "F-%03d", i);
		assert_int_equal(wj_store_case_get(t, num, &f->a, &c, &err), 0);
		assert_int_equal(strlen(c->item_name), 1000);
	}
	wj_txn_abort(t);

	/* A larger map lets the store grow again. */
	reopen(f, 4 * SMALL_MAP);
	t = begin(f, true);
	snprintf(num, sizeof(num), "F-%03d", committed);
	put_case(t, NULL, big_case(&f->a, num, 2000));
	commit(t);
}

static void test_nested_full(void **state)
{
	struct fx *f = *state;
	wj_txn_t *t, *child;
	wj_err_t err = { 0 };
	Wuji__Case *c;
	uint64_t seq;

	f->s = open_store(f, NODE_A, TINY_MAP);
	t = begin(f, true);
	put_case(t, NULL, mk_case(&f->a, "S-1", "I",
				  WUJI__CASE_STATUS__RECEIVED, 0));
	assert_int_equal(wj_txn_begin_nested(t, &child, &err), 0);
	assert_int_equal(wj_store_next_seq(child, &seq, &err), 0);
	/* Larger than the whole map. */
	assert_int_equal(wj_store_case_put(child, NULL,
		big_case(&f->a, "S-BIG", 2 * TINY_MAP), &err), WJ_EFULL);
	assert_non_null(strstr(err.msg, "map_size_mb"));
	/* Committing the failed child refuses and frees it; the parent goes
	 * on. */
	assert_int_equal(wj_txn_commit(child, &err), WJ_EFULL);
	put_case(t, NULL, mk_case(&f->a, "S-2", "I",
				  WUJI__CASE_STATUS__RECEIVED, 0));
	commit(t);

	reopen(f, TINY_MAP);
	t = begin(f, false);
	assert_int_equal(wj_store_case_get(t, "S-1", &f->a, &c, &err), 0);
	assert_int_equal(wj_store_case_get(t, "S-2", &f->a, &c, &err), 0);
	assert_int_equal(wj_store_case_get(t, "S-BIG", &f->a, &c, &err),
			 WJ_ENOTFOUND);
	wj_txn_abort(t);
	t = begin(f, true);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 1);
	wj_txn_abort(t);
}

static void test_nested_abort(void **state)
{
	struct fx *f = *state;
	wj_txn_t *t, *child;
	wj_err_t err = { 0 };
	Wuji__Case *c;
	uint64_t seq;
	struct seen s;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	put_case(t, NULL, mk_case(&f->a, "K-1", "I",
				  WUJI__CASE_STATUS__RECEIVED, 0));
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 1);

	/* Aborted child: none of its writes, indexes included. */
	assert_int_equal(wj_txn_begin_nested(t, &child, &err), 0);
	put_case(child, NULL, mk_case(&f->a, "K-2", "I",
				      WUJI__CASE_STATUS__ACCEPTED, 20260401));
	assert_int_equal(wj_store_next_seq(child, &seq, &err), 0);
	assert_true(seq == 2);
	assert_int_equal(wj_store_event_put(child, mk_event(&f->a, NODE_A, 2,
				"K-2"), 0, NULL, &err), 0);
	wj_txn_abort(child);
	assert_int_equal(wj_store_case_get(t, "K-2", &f->a, &c, &err),
			 WJ_ENOTFOUND);
	assert_int_equal(due_scan(f, t, 99991231, &s), 0);
	assert_int_equal(s.n, 0);

	/* Committed child: its writes join the parent's. */
	assert_int_equal(wj_txn_begin_nested(t, &child, &err), 0);
	assert_int_equal(wj_store_next_seq(child, &seq, &err), 0);
	assert_true(seq == 2);
	put_case(child, NULL, mk_case(&f->a, "K-3", "I",
				      WUJI__CASE_STATUS__RECEIVED, 0));
	commit(child);
	commit(t);

	reopen(f, 0);
	t = begin(f, false);
	assert_int_equal(wj_store_case_get(t, "K-1", &f->a, &c, &err), 0);
	assert_int_equal(wj_store_case_get(t, "K-2", &f->a, &c, &err),
			 WJ_ENOTFOUND);
	assert_int_equal(wj_store_case_get(t, "K-3", &f->a, &c, &err), 0);
	assert_false(wj_store_event_exists(t, NODE_A, 2));
	{
		wj_store_meta_t m;

		assert_int_equal(wj_store_meta(t, &m), 0);
		assert_true(m.last_seq == 2);
	}
	wj_txn_abort(t);

	/* Aborting a parent with a live child frees both. */
	t = begin(f, true);
	assert_int_equal(wj_txn_begin_nested(t, &child, &err), 0);
	put_case(child, NULL, mk_case(&f->a, "K-4", "I",
				      WUJI__CASE_STATUS__RECEIVED, 0));
	wj_txn_abort(t);
}

struct problems {
	char text[16][768];
	int n;
};

static void on_problem(const char *p, void *ctx)
{
	struct problems *pr = ctx;

	if (pr->n < 16)
		snprintf(pr->text[pr->n], sizeof(pr->text[0]), "%s", p);
	pr->n++;
}

static bool mentions(const struct problems *pr, const char *a,
		     const char *b)
{
	int i;

	for (i = 0; i < pr->n && i < 16; i++)
		if (strstr(pr->text[i], a) && (!b || strstr(pr->text[i], b)))
			return true;
	return false;
}

static void test_verify(void **state)
{
	struct fx *f = *state;
	struct problems pr = { 0 };
	wj_err_t err = { 0 };
	Wuji__Case *c1;
	uint64_t local, seq;
	wj_txn_t *t;
	int i;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	for (i = 0; i < 5; i++) {
		char num[16];

		snprintf(num, sizeof(num), "V-%d", i);
		put_case(t, NULL, mk_case(&f->a, num, "ITEM",
			 i % 2 ? WUJI__CASE_STATUS__ACCEPTED :
				 WUJI__CASE_STATUS__RECEIVED,
			 i % 2 ? 20260501 : 0));
		assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
		assert_int_equal(wj_store_event_put(t, mk_event(&f->a, NODE_A,
					seq, num), 0, &local, &err), 0);
	}
	c1 = mk_case(&f->a, "V-1", "ITEM", WUJI__CASE_STATUS__ACCEPTED,
		     20260501);
	put_case(t, c1, mk_case(&f->a, "V-1", "ITEM",
				WUJI__CASE_STATUS__APPROVED, 20260501));
	commit(t);

	t = begin(f, false);
	assert_int_equal(wj_store_verify(t, &f->a, on_problem, &pr, &err), 0);
	wj_txn_abort(t);
	if (pr.n)
		fail_msg("clean store: %s", pr.text[0]);

	/* Plant: an event of this node beyond last_seq (the API stores what
	 * it is given); then, behind the store's back, V-0 deleted with its
	 * index entries left, V-2 undecodable, V-3's due entry dropped and a
	 * change-log entry naming no event. */
	t = begin(f, true);
	assert_int_equal(wj_store_event_put(t, mk_event(&f->a, NODE_A, 77,
				"V-4"), 0, NULL, &err), 0);
	commit(t);
	wj_store_close(f->s);
	f->s = NULL;
	{
		MDB_env *env;
		MDB_txn *txn;
		unsigned char junk[] = { 0xff, 0xff, 0xff };
		unsigned char due[] = { KIND_DUE, 20260501 >> 24,
					(20260501 >> 16) & 0xff,
					(20260501 >> 8) & 0xff, 20260501 & 0xff,
					'V', '-', '3' };
		unsigned char lk[8] = { 0, 0, 0, 0, 0, 0, 0, 99 };
		unsigned char lv[24] = { 0, 0, 0, 0x66, 0x93, 0x2e, 0x12, 0x34,
					 0, 0, 0, 0, 0, 0, 0, 42 };
		unsigned char ck[64];
		MDB_val k = { 3, "V-0" }, v = { 3, junk }, nil = { 0, "" };

		raw_open(f, &env, &txn);
		assert_int_equal(mdb_del(txn, raw_dbi(txn, "cases"), &k, NULL),
				 0);
		k.mv_data = "V-2";
		assert_int_equal(mdb_put(txn, raw_dbi(txn, "cases"), &k, &v,
					 0), 0);
		k.mv_size = sizeof(due);
		k.mv_data = due;
		assert_int_equal(mdb_del(txn, raw_dbi(txn, "index"), &k,
					 NULL), 0);
		k.mv_size = 8;
		k.mv_data = lk;
		v.mv_size = 24;
		v.mv_data = lv;
		assert_int_equal(mdb_put(txn, raw_dbi(txn, "changelog"), &k,
					 &v, 0), 0);
		/* A change-log value of the old 16-byte layout. */
		lk[7] = 100;
		v.mv_size = 16;
		assert_int_equal(mdb_put(txn, raw_dbi(txn, "changelog"), &k,
					 &v, 0), 0);
		/* V-1's event (seq 2) unlisted under its case; an entry for
		 * an event never stored. */
		k.mv_size = case_ev_key(ck, "V-1", 2 << 16, NODE_A, 2);
		k.mv_data = ck;
		assert_int_equal(mdb_del(txn, raw_dbi(txn, "index"), &k,
					 NULL), 0);
		k.mv_size = case_ev_key(ck, "V-9", 1, NODE_B, 3);
		assert_int_equal(mdb_put(txn, raw_dbi(txn, "index"), &k,
					 &nil, 0), 0);
		raw_close(env, txn);
	}
	f->s = open_store(f, NODE_A, 0);
	memset(&pr, 0, sizeof(pr));
	t = begin(f, false);
	assert_int_equal(wj_store_verify(t, &f->a, on_problem, &pr, &err), 0);
	wj_txn_abort(t);
	assert_true(mentions(&pr, "V-0", "status index"));
	assert_true(mentions(&pr, "V-0", "item index"));
	assert_true(mentions(&pr, "V-2", "does not decode"));
	assert_true(mentions(&pr, "V-3", "due index"));
	assert_true(mentions(&pr, "change-log entry 99", "not stored"));
	assert_true(mentions(&pr, "change-log entry 99", "log_seq"));
	assert_true(mentions(&pr, "seq 77", "last_seq"));
	assert_true(mentions(&pr, "change log has a malformed entry",
			     "16-byte value"));
	assert_true(mentions(&pr, "(440303001001, 2) of case V-1",
			     "missing from the case_events index"));
	assert_true(mentions(&pr, "(440303001002, 3) under case V-9",
			     "not stored"));
	assert_int_equal(pr.n, 10);

	/* Reading the damaged case says what to do. */
	t = begin(f, false);
	assert_int_equal(wj_store_case_get(t, "V-2", &f->a, &c1, &err),
			 WJ_EINTERNAL);
	assert_non_null(strstr(err.msg, "verify"));
	{
		struct seen s = { 0 };

		/* A listing skips the stale entry of V-0 and stops at V-2. */
		assert_int_equal(scan_status(f, t, WUJI__CASE_STATUS__RECEIVED,
					     &s), WJ_EINTERNAL);
	}
	wj_txn_abort(t);
}

/* ------------------------------------------------ replication support */

/* Logging an event again is allowed (it waited for its case); an event
 * with no change-log entry at all is a problem verify reports. */
static void test_relog_and_unlogged(void **state)
{
	struct fx *f = *state;
	struct problems pr;
	wj_err_t err = { 0 };
	uint64_t local = 0;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	assert_int_equal(wj_store_event_put(t, mk_event(&f->a, NODE_B, 5, "E-1"), 0, NULL,
					    &err), 0);
	assert_int_equal(wj_store_event_put(t, mk_event(&f->a, NODE_B, 6, "E-1"), 0, NULL,
					    &err), 0);
	assert_int_equal(wj_store_changelog_append(t, NODE_B, 5, 0, &local, &err), 0);
	assert_int_equal(local, 3);
	assert_int_equal(wj_store_changelog_append(t, NODE_B, 9, 0, NULL, &err), WJ_ENOTFOUND);
	commit(t);
	memset(&pr, 0, sizeof(pr));
	t = begin(f, false);
	assert_int_equal(wj_store_verify(t, &f->a, on_problem, &pr, &err), 0);
	wj_txn_abort(t);
	assert_int_equal(pr.n, 0);

	{
		MDB_env *env;
		MDB_txn *txn;
		unsigned char lk[8] = { 0, 0, 0, 0, 0, 0, 0, 2 };
		unsigned char lk3[8] = { 0, 0, 0, 0, 0, 0, 0, 3 };
		MDB_val k = { 8, lk };

		wj_store_close(f->s);
		f->s = NULL;
		raw_open(f, &env, &txn);
		assert_int_equal(mdb_del(txn, raw_dbi(txn, "changelog"), &k, NULL), 0);
		k.mv_data = lk3;
		assert_int_equal(mdb_del(txn, raw_dbi(txn, "changelog"), &k, NULL), 0);
		raw_close(env, txn);
		f->s = open_store(f, NODE_A, 0);
	}
	memset(&pr, 0, sizeof(pr));
	t = begin(f, false);
	assert_int_equal(wj_store_verify(t, &f->a, on_problem, &pr, &err), 0);
	wj_txn_abort(t);
	assert_true(mentions(&pr, "events", "change log"));
}

static void put_event(wj_txn_t *t, Wuji__Event *ev, uint64_t from,
		      uint64_t *local)
{
	wj_err_t err = { 0 };
	int rc = wj_store_event_put(t, ev, from, local, &err);

	if (rc)
		fail_msg("event_put (%" PRIu64 ", %" PRIu64 "): %d %s",
			 ev->origin, ev->seq, rc, err.msg);
}

static void verify_clean(struct fx *f)
{
	struct problems pr = { 0 };
	wj_err_t err = { 0 };
	wj_txn_t *t = begin(f, false);

	assert_int_equal(wj_store_verify(t, &f->a, on_problem, &pr, &err), 0);
	wj_txn_abort(t);
	if (pr.n)
		fail_msg("%d problems, first: %s", pr.n, pr.text[0]);
}

static void test_event_from(void **state)
{
	struct fx *f = *state;
	wj_err_t err = { 0 };
	struct log l = { 0 };
	uint64_t local, seq;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	/* Made here. */
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	put_event(t, mk_event(&f->a, NODE_A, seq, "F-1"), 0, &local);
	assert_true(local == 1);
	put_event(t, mk_event(&f->a, NODE_B, 4, "F-1"), NODE_B, &local);
	assert_true(local == 2);
	/* Relayed: originated at one node, received from another. */
	put_event(t, mk_event(&f->a, 110000000000ULL, 9, "F-2"),
		  UINT64_MAX - 1, &local);
	assert_true(local == 3);
	commit(t);

	reopen(f, 0);
	t = begin(f, false);
	assert_int_equal(wj_store_changelog_scan(t, 0, collect_log, &l, &err),
			 0);
	assert_int_equal(l.n, 3);
	assert_true(l.origin[0] == NODE_A && l.seq[0] == 1 && l.from[0] == 0);
	assert_true(l.origin[1] == NODE_B && l.seq[1] == 4 &&
		    l.from[1] == NODE_B);
	assert_true(l.origin[2] == 110000000000ULL && l.seq[2] == 9 &&
		    l.from[2] == UINT64_MAX - 1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(wj_store_changelog_scan(t, 2, collect_log, &l, &err),
			 0);
	assert_int_equal(l.n, 1);
	assert_true(l.local[0] == 3 && l.from[0] == UINT64_MAX - 1);
	wj_txn_abort(t);
	verify_clean(f);
}

struct evs {
	uint64_t origin[32], seq[32], hlc[32];
	char number[32][48];
	int n;
	int stop_after;
};

static int collect_ev(Wuji__Event *ev, void *ctx)
{
	struct evs *e = ctx;

	if (e->n >= 32)
		return -100;
	e->origin[e->n] = ev->origin;
	e->seq[e->n] = ev->seq;
	e->hlc[e->n] = ev->hlc;
	snprintf(e->number[e->n], sizeof(e->number[0]), "%s",
		 ev->case_number);
	e->n++;
	return e->stop_after && e->n >= e->stop_after ? 5 : 0;
}

static Wuji__Event *mk_event_hlc(wj_arena_t *a, uint64_t origin,
				 uint64_t seq, const char *number,
				 uint64_t hlc)
{
	Wuji__Event *ev = mk_event(a, origin, seq, number);

	ev->hlc = hlc;
	return ev;
}

static void test_case_events(void **state)
{
	struct fx *f = *state;
	/* origin, seq, hlc: put in this order, read in (hlc, origin, seq)
	 * order.  hlc 0x100 is shared by three events; 0x1ff vs 0x200
	 * differ in more than the last byte. */
	static const uint64_t puts[][3] = {
		{ NODE_B, 7, 0x300 },
		{ NODE_C, 3, 0x100 },
		{ NODE_B, 2, 0x200 },
		{ NODE_C, 1, 0x1ff },
		{ NODE_B, 1, 0x100 },
		{ NODE_C, 2, 0x100 },
		{ NODE_C, 9, 0x10000 },
	};
	static const int order[] = { 5, 1, 4, 3, 2, 0, 6 };
	char longnum[64];
	Wuji__Event *ev;
	wj_err_t err = { 0 };
	struct evs e = { 0 };
	wj_store_counts_t cnt;
	wj_txn_t *t;
	int i;

	f->s = open_store(f, NODE_A, 0);
	/* Spread over transactions, with events of other cases between:
	 * the case "X-1" itself is never stored (its submission has not
	 * arrived). */
	for (i = 0; i < 7; i++) {
		t = begin(f, true);
		put_event(t, mk_event_hlc(&f->a, puts[i][0], puts[i][1],
					  "X-1", puts[i][2]), 0, NULL);
		put_event(t, mk_event_hlc(&f->a, 120000000000ULL + i, 1,
					  i % 2 ? "X-10" : "X-", 0x150), 0,
			  NULL);
		commit(t);
	}
	/* Not a case event: indexed under no case. */
	t = begin(f, true);
	ev = mk_event(&f->a, NODE_B, 50, "");
	ev->type = WUJI__EVENT_TYPE__EV_CATALOG_ITEM;
	put_event(t, ev, NODE_B, NULL);
	commit(t);

	t = begin(f, false);
	{
		Wuji__Case *c;

		assert_int_equal(wj_store_case_get(t, "X-1", &f->a, &c, &err),
				 WJ_ENOTFOUND);
	}
	assert_int_equal(wj_store_case_events(t, "X-1", &f->a, collect_ev, &e,
					      &err), 0);
	assert_int_equal(e.n, 7);
	for (i = 0; i < 7; i++) {
		assert_true(e.origin[i] == puts[order[i]][0]);
		assert_true(e.seq[i] == puts[order[i]][1]);
		assert_true(e.hlc[i] == puts[order[i]][2]);
		assert_string_equal(e.number[i], "X-1");
	}
	/* "X-1" is a prefix of "X-10", "X-" of both: each gets its own. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(wj_store_case_events(t, "X-10", &f->a, collect_ev,
					      &e, &err), 0);
	assert_int_equal(e.n, 3);
	assert_true(e.origin[0] == 120000000001ULL &&
		    e.origin[2] == 120000000005ULL);
	memset(&e, 0, sizeof(e));
	assert_int_equal(wj_store_case_events(t, "X-", &f->a, collect_ev, &e,
					      &err), 0);
	assert_int_equal(e.n, 4);
	memset(&e, 0, sizeof(e));
	assert_int_equal(wj_store_case_events(t, "X-2", &f->a, collect_ev, &e,
					      &err), 0);
	assert_int_equal(e.n, 0);
	/* The callback's return stops the walk and comes back. */
	memset(&e, 0, sizeof(e));
	e.stop_after = 2;
	assert_int_equal(wj_store_case_events(t, "X-1", &f->a, collect_ev, &e,
					      &err), 5);
	assert_int_equal(e.n, 2);
	assert_int_equal(wj_store_case_events(t, "", &f->a, collect_ev, &e,
					      &err), WJ_EBADREQ);
	assert_int_equal(wj_store_counts(t, &cnt), 0);
	assert_true(cnt.events == 15 && cnt.changelog == 15);
	wj_txn_abort(t);

	/* A number too long to index is refused before anything is
	 * written. */
	memset(longnum, '7', 41);
	longnum[41] = '\0';
	t = begin(f, true);
	assert_int_equal(wj_store_event_put(t, mk_event(&f->a, NODE_B, 99,
				longnum), 0, NULL, &err), WJ_EBADREQ);
	assert_false(wj_store_event_exists(t, NODE_B, 99));
	commit(t);

	/* Within a write transaction, including what it wrote itself. */
	t = begin(f, true);
	put_event(t, mk_event_hlc(&f->a, NODE_B, 8, "X-1", 0x1fe), 0, NULL);
	memset(&e, 0, sizeof(e));
	assert_int_equal(wj_store_case_events(t, "X-1", &f->a, collect_ev, &e,
					      &err), 0);
	assert_int_equal(e.n, 8);
	assert_true(e.origin[3] == NODE_B && e.seq[3] == 8);
	wj_txn_abort(t);

	verify_clean(f);
}

/* An index entry whose event is gone is skipped by the reader. */
static void test_case_events_stale(void **state)
{
	struct fx *f = *state;
	unsigned char ck[64];
	wj_err_t err = { 0 };
	struct evs e = { 0 };
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	put_event(t, mk_event_hlc(&f->a, NODE_C, 1, "S-1", 10), 0, NULL);
	put_event(t, mk_event_hlc(&f->a, NODE_C, 2, "S-1", 30), 0, NULL);
	commit(t);
	wj_store_close(f->s);
	f->s = NULL;
	{
		MDB_env *env;
		MDB_txn *txn;
		MDB_val k = { 0, ck }, nil = { 0, "" };

		raw_open(f, &env, &txn);
		k.mv_size = case_ev_key(ck, "S-1", 20, NODE_B, 5);
		assert_int_equal(mdb_put(txn, raw_dbi(txn, "index"), &k,
					 &nil, 0), 0);
		raw_close(env, txn);
	}
	f->s = open_store(f, NODE_A, 0);
	t = begin(f, false);
	assert_int_equal(wj_store_case_events(t, "S-1", &f->a, collect_ev, &e,
					      &err), 0);
	assert_int_equal(e.n, 2);
	assert_true(e.seq[0] == 1 && e.seq[1] == 2);
	wj_txn_abort(t);
}

static uint64_t max_seq(wj_txn_t *t, uint64_t origin)
{
	uint64_t seq = 12345;

	assert_int_equal(wj_store_origin_max_seq(t, origin, &seq), 0);
	return seq;
}

static void test_origin_max_seq(void **state)
{
	struct fx *f = *state;
	const uint64_t o = 440303001005ULL;
	/* Put out of order; seqs across byte boundaries. */
	static const uint64_t seqs_o[] = { 5, 300, 2, 255, 256, 9 };
	wj_txn_t *t;
	size_t i;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, false);
	assert_true(max_seq(t, o) == 0);
	assert_true(max_seq(t, 0) == 0);
	assert_true(max_seq(t, UINT64_MAX) == 0);
	wj_txn_abort(t);

	t = begin(f, true);
	for (i = 0; i < sizeof(seqs_o) / sizeof(seqs_o[0]); i++)
		put_event(t, mk_event(&f->a, o, seqs_o[i], "M-1"), 0, NULL);
	put_event(t, mk_event(&f->a, o - 1, 1000, "M-1"), 0, NULL);
	put_event(t, mk_event(&f->a, o - 1, 7, "M-1"), 0, NULL);
	put_event(t, mk_event(&f->a, o + 1, 1, "M-1"), 0, NULL);
	put_event(t, mk_event(&f->a, o + 3, 4, "M-1"), 0, NULL);
	/* Seen inside the transaction that wrote it. */
	assert_true(max_seq(t, o) == 300);
	commit(t);

	t = begin(f, false);
	assert_true(max_seq(t, o) == 300);
	assert_true(max_seq(t, o - 1) == 1000);
	assert_true(max_seq(t, o + 1) == 1);
	assert_true(max_seq(t, o + 3) == 4);     /* the last origin */
	assert_true(max_seq(t, o - 2) == 0);     /* before every origin */
	assert_true(max_seq(t, o + 2) == 0);     /* between origins */
	assert_true(max_seq(t, o + 4) == 0);     /* after every origin */
	assert_true(max_seq(t, 0) == 0);
	assert_true(max_seq(t, UINT64_MAX) == 0);
	/* Stepping through an origin's seqs, over the gaps. */
	static const uint64_t sorted_o[] = { 2, 5, 9, 255, 256, 300 };
	uint64_t q = 0;
	for (i = 0; i < sizeof(sorted_o) / sizeof(sorted_o[0]); i++) {
		assert_int_equal(wj_store_origin_next_seq(t, o, q, &q), 0);
		assert_true(q == sorted_o[i]);
	}
	assert_int_equal(wj_store_origin_next_seq(t, o, q, &q), 0);
	assert_true(q == 0);                     /* not the next origin's */
	assert_int_equal(wj_store_origin_next_seq(t, o - 1, 7, &q), 0);
	assert_true(q == 1000);
	assert_int_equal(wj_store_origin_next_seq(t, o + 2, 0, &q), 0);
	assert_true(q == 0);
	assert_int_equal(wj_store_origin_next_seq(t, o + 4, 0, &q), 0);
	assert_true(q == 0);                     /* after every origin */
	assert_int_equal(wj_store_origin_next_seq(t, o, UINT64_MAX, &q), 0);
	assert_true(q == 0);
	wj_txn_abort(t);

	t = begin(f, true);
	put_event(t, mk_event(&f->a, UINT64_MAX, 3, "M-2"), 0, NULL);
	put_event(t, mk_event(&f->a, UINT64_MAX, UINT64_MAX, "M-2"), 0, NULL);
	assert_true(max_seq(t, UINT64_MAX) == UINT64_MAX);
	assert_true(max_seq(t, o + 3) == 4);
	wj_txn_abort(t);
}

static void test_raise(void **state)
{
	struct fx *f = *state;
	wj_err_t err = { 0 };
	wj_store_meta_t m;
	uint32_t serial;
	uint64_t seq;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 1);
	assert_int_equal(wj_store_raise_seq(t, 40, &err), 0);
	assert_int_equal(wj_store_meta(t, &m), 0);
	assert_true(m.last_seq == 40);
	/* A lower value does not lower it. */
	assert_int_equal(wj_store_raise_seq(t, 10, &err), 0);
	assert_int_equal(wj_store_raise_seq(t, 0, &err), 0);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 41);

	assert_int_equal(wj_store_next_serial(t, 20260213, &serial, &err), 0);
	assert_int_equal(serial, 1);
	assert_int_equal(wj_store_raise_serial(t, 20260213, 70000, &err), 0);
	assert_int_equal(wj_store_raise_serial(t, 20260213, 5, &err), 0);
	assert_int_equal(wj_store_serial(t, 20260213, &serial, &err), 0);
	assert_int_equal(serial, 70000);
	assert_int_equal(wj_store_serial(t, 20260214, &serial, &err), 0);
	assert_int_equal(serial, 0);
	/* A day never used starts from the raised value. */
	assert_int_equal(wj_store_raise_serial(t, 20260301, 12, &err), 0);
	assert_int_equal(wj_store_raise_serial(t, 20260213, 0, &err), 0);
	assert_int_equal(wj_store_raise_serial(t, 0, 5, &err), WJ_EINVAL);
	commit(t);

	reopen(f, 0);
	t = begin(f, true);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 42);
	assert_int_equal(wj_store_raise_seq(t, 42, &err), 0);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 43);
	assert_int_equal(wj_store_next_serial(t, 20260213, &serial, &err), 0);
	assert_int_equal(serial, 70001);
	assert_int_equal(wj_store_next_serial(t, 20260301, &serial, &err), 0);
	assert_int_equal(serial, 13);
	assert_int_equal(wj_store_next_serial(t, 20260302, &serial, &err), 0);
	assert_int_equal(serial, 1);
	/* A day's serial has six digits: the last is 999999, then none. */
	assert_int_equal(wj_store_raise_serial(t, 20260303, WJ_STORE_SERIAL_MAX - 1, &err), 0);
	assert_int_equal(wj_store_next_serial(t, 20260303, &serial, &err), 0);
	assert_int_equal(serial, 999999);
	assert_int_equal(wj_store_next_serial(t, 20260303, &serial, &err), WJ_EINVAL);
	assert_non_null(strstr(err.msg, "every case serial"));
	assert_int_equal(wj_store_serial(t, 20260303, &serial, &err), 0);
	assert_int_equal(serial, 999999);
	commit(t);

	/* Aborted raises are not kept. */
	t = begin(f, true);
	assert_int_equal(wj_store_raise_seq(t, 1000, &err), 0);
	assert_int_equal(wj_store_raise_serial(t, 20260302, 1000, &err), 0);
	wj_txn_abort(t);
	t = begin(f, true);
	assert_int_equal(wj_store_next_seq(t, &seq, &err), 0);
	assert_true(seq == 44);
	assert_int_equal(wj_store_next_serial(t, 20260302, &serial, &err), 0);
	assert_int_equal(serial, 2);
	commit(t);
}

static void test_last_case_with_prefix(void **state)
{
	struct fx *f = *state;
	static const char *numbers[] = {
		"440303001001-20260213-000002",
		"440303001001-20260213-000010",
		"440303001001-20260213-000001",
		"440303001001-20260214-000001",
		"440303001002-20260213-000005",
		"440303001010-20260213-000001",
		"440303001000-20260215-000009",
		"Z\xff\xff" "1",
		"\xff\xff",
	};
	char buf[64], small[10];
	wj_txn_t *t;
	size_t i;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, false);
	assert_int_equal(wj_store_last_case_with_prefix(t, "440303001001-",
							buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(wj_store_last_case_with_prefix(t, "", buf,
							sizeof(buf)), 0);
	assert_string_equal(buf, "");
	wj_txn_abort(t);

	t = begin(f, true);
	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		put_case(t, NULL, mk_case(&f->a, numbers[i], "I",
					  WUJI__CASE_STATUS__RECEIVED, 0));
	commit(t);

	t = begin(f, false);
#define LAST(prefix, want)                                                   \
	do {                                                                 \
		strcpy(buf, "junk");                                         \
		assert_int_equal(wj_store_last_case_with_prefix(t, prefix,   \
					buf, sizeof(buf)), 0);               \
		assert_string_equal(buf, want);                              \
	} while (0)
	LAST("440303001001-20260213-", "440303001001-20260213-000010");
	LAST("440303001001-20260214-", "440303001001-20260214-000001");
	LAST("440303001001-", "440303001001-20260214-000001");
	LAST("440303001002-20260213-", "440303001002-20260213-000005");
	LAST("440303001002-20260214-", "");
	LAST("440303001003-", "");
	/* A node whose code starts with another's. */
	LAST("44030300101", "440303001010-20260213-000001");
	LAST("440303001000-", "440303001000-20260215-000009");
	LAST("4403030010", "440303001010-20260213-000001");
	/* A whole number is its own prefix. */
	LAST("440303001001-20260213-000001", "440303001001-20260213-000001");
	LAST("440303001001-20260213-0000011", "");
	/* Prefixes ending in 0xff bytes have no simple successor. */
	LAST("Z\xff\xff", "Z\xff\xff" "1");
	LAST("Z\xff", "Z\xff\xff" "1");
	LAST("\xff", "\xff\xff");
	LAST("\xff\xff\xff", "");
	LAST("", "\xff\xff");
	LAST("5", "");
	LAST("3", "");
#undef LAST
	/* Too small a buffer is refused, not cut. */
	assert_int_equal(wj_store_last_case_with_prefix(t, "440303001002",
			 small, sizeof(small)), WJ_EINVAL);
	assert_string_equal(small, "");
	wj_txn_abort(t);
}

static void test_new_epoch(void **state)
{
	struct fx *f = *state;
	uint64_t e0, e1 = 0, e2 = 0;
	wj_err_t err = { 0 };
	wj_store_meta_t m;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, false);
	assert_int_equal(wj_store_meta(t, &m), 0);
	wj_txn_abort(t);
	e0 = m.epoch;

	/* Aborted: the old epoch stays. */
	t = begin(f, true);
	assert_int_equal(wj_store_new_epoch(t, &e1, &err), 0);
	assert_true(e1 != e0 && e1 != 0);
	assert_int_equal(wj_store_meta(t, &m), 0);
	assert_true(m.epoch == e1);
	wj_txn_abort(t);
	t = begin(f, false);
	assert_int_equal(wj_store_meta(t, &m), 0);
	assert_true(m.epoch == e0);
	wj_txn_abort(t);

	t = begin(f, true);
	assert_int_equal(wj_store_new_epoch(t, &e1, &err), 0);
	assert_true(e1 != e0 && e1 != 0);
	assert_int_equal(wj_store_new_epoch(t, &e2, &err), 0);
	assert_true(e2 != e1 && e2 != e0 && e2 != 0);
	commit(t);

	reopen(f, 0);
	t = begin(f, false);
	assert_int_equal(wj_store_meta(t, &m), 0);
	assert_true(m.epoch == e2);
	wj_txn_abort(t);
	verify_clean(f);
}

static uint64_t cursor(wj_txn_t *t, uint64_t peer, uint64_t slot)
{
	uint64_t v = 12345;

	assert_int_equal(wj_store_cursor_get(t, peer, slot, &v), 0);
	return v;
}

static void test_cursors(void **state)
{
	struct fx *f = *state;
	wj_err_t err = { 0 };
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	assert_true(cursor(t, NODE_B, WJ_CURSOR_RECV_POS) == 0);
	assert_int_equal(wj_store_cursor_put(t, NODE_B, WJ_CURSOR_RECV_POS,
					     42, &err), 0);
	assert_int_equal(wj_store_cursor_put(t, NODE_B, WJ_CURSOR_RECV_EPOCH,
					     UINT64_MAX, &err), 0);
	assert_int_equal(wj_store_cursor_put(t, NODE_B + 1, WJ_CURSOR_ACKED,
					     0x0102030405060708ULL, &err), 0);
	assert_true(cursor(t, NODE_B, WJ_CURSOR_RECV_POS) == 42);
	commit(t);

	reopen(f, 0);
	t = begin(f, true);
	assert_true(cursor(t, NODE_B, WJ_CURSOR_RECV_POS) == 42);
	assert_true(cursor(t, NODE_B, WJ_CURSOR_RECV_EPOCH) == UINT64_MAX);
	assert_true(cursor(t, NODE_B + 1, WJ_CURSOR_ACKED) ==
		    0x0102030405060708ULL);
	/* Absent: other slots of a known peer, neighbouring peers. */
	assert_true(cursor(t, NODE_B, WJ_CURSOR_ACKED) == 0);
	assert_true(cursor(t, NODE_B, WJ_CURSOR_ACKED_EPOCH) == 0);
	assert_true(cursor(t, NODE_B + 1, WJ_CURSOR_RECV_POS) == 0);
	assert_true(cursor(t, NODE_B - 1, WJ_CURSOR_RECV_POS) == 0);
	/* Overwrite, also with a smaller value (a new epoch restarts
	 * positions). */
	assert_int_equal(wj_store_cursor_put(t, NODE_B, WJ_CURSOR_RECV_POS, 7,
					     &err), 0);
	assert_true(cursor(t, NODE_B, WJ_CURSOR_RECV_POS) == 7);
	commit(t);

	t = begin(f, true);
	assert_int_equal(wj_store_cursor_put(t, NODE_B, WJ_CURSOR_RECV_POS,
					     99, &err), 0);
	wj_txn_abort(t);
	t = begin(f, false);
	assert_true(cursor(t, NODE_B, WJ_CURSOR_RECV_POS) == 7);
	wj_txn_abort(t);
	verify_clean(f);
}

static void bounds(wj_txn_t *t, uint64_t first, uint64_t last,
		   uint64_t trimmed)
{
	uint64_t fi = 99, la = 99, tr = 99;

	assert_int_equal(wj_store_changelog_bounds(t, &fi, &la, &tr), 0);
	if (fi != first || la != last || tr != trimmed)
		fail_msg("bounds %" PRIu64 " %" PRIu64 " %" PRIu64 ", want %"
			 PRIu64 " %" PRIu64 " %" PRIu64, fi, la, tr, first,
			 last, trimmed);
}

#define TRIM_CAP 1000

static uint64_t trim(wj_txn_t *t, uint64_t upto)
{
	wj_err_t err = { 0 };
	uint64_t removed = 12345;
	int rc = wj_store_changelog_trim(t, upto, TRIM_CAP, &removed, &err);

	if (rc)
		fail_msg("trim %" PRIu64 ": %d %s", upto, rc, err.msg);
	return removed;
}

static void test_changelog_trim(void **state)
{
	struct fx *f = *state;
	wj_err_t err = { 0 };
	struct log l = { 0 };
	Wuji__Event *ev;
	uint64_t local, i;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	bounds(t, 0, 0, 0);
	assert_true(trim(t, 100) == 0);
	bounds(t, 0, 0, 0);
	for (i = 1; i <= 10; i++)
		put_event(t, mk_event(&f->a, NODE_B, i, "T-1"), NODE_B, NULL);
	bounds(t, 1, 10, 0);
	commit(t);

	t = begin(f, true);
	assert_true(trim(t, 4) == 4);
	bounds(t, 5, 10, 4);
	/* Again, or lower: nothing more goes, trimmed stays. */
	assert_true(trim(t, 4) == 0);
	assert_true(trim(t, 2) == 0);
	bounds(t, 5, 10, 4);
	assert_int_equal(wj_store_changelog_scan(t, 0, collect_log, &l, &err),
			 0);
	assert_int_equal(l.n, 6);
	assert_true(l.local[0] == 5 && l.seq[0] == 5 && l.from[0] == NODE_B);
	assert_true(l.local[5] == 10);
	commit(t);

	/* An aborted trim removes nothing. */
	t = begin(f, true);
	assert_true(trim(t, 8) == 4);
	bounds(t, 9, 10, 8);
	wj_txn_abort(t);

	reopen(f, 0);
	t = begin(f, true);
	bounds(t, 5, 10, 4);
	/* Positions keep growing after a trim and a reopen. */
	put_event(t, mk_event(&f->a, NODE_C, 1, "T-2"), 0, &local);
	assert_true(local == 11);
	bounds(t, 5, 11, 4);
	/* The events themselves stay. */
	assert_int_equal(wj_store_event_get(t, NODE_B, 1, &f->a, &ev, &err),
			 0);
	assert_true(wj_store_event_exists(t, NODE_B, 4));
	assert_true(trim(t, 1000) == 7);
	bounds(t, 0, 11, 11);
	memset(&l, 0, sizeof(l));
	assert_int_equal(wj_store_changelog_scan(t, 0, collect_log, &l, &err),
			 0);
	assert_int_equal(l.n, 0);
	commit(t);
	verify_clean(f);

	reopen(f, 0);
	t = begin(f, true);
	bounds(t, 0, 11, 11);
	put_event(t, mk_event(&f->a, NODE_C, 2, "T-2"), 0, &local);
	assert_true(local == 12);
	bounds(t, 12, 12, 11);
	/* A trim that removes nothing keeps the trimmed position. */
	assert_true(trim(t, 3) == 0);
	bounds(t, 12, 12, 11);
	memset(&l, 0, sizeof(l));
	assert_int_equal(wj_store_changelog_scan(t, 0, collect_log, &l, &err),
			 0);
	assert_int_equal(l.n, 1);
	assert_true(l.local[0] == 12 && l.origin[0] == NODE_C &&
		    l.seq[0] == 2);
	{
		uint64_t fi = 99;

		/* Any bound may be left out. */
		assert_int_equal(wj_store_changelog_bounds(t, &fi, NULL, NULL),
				 0);
		assert_true(fi == 12);
	}
	assert_int_equal(wj_store_changelog_trim(t, 12, TRIM_CAP, NULL, &err), 0);
	bounds(t, 0, 12, 12);
	commit(t);
	verify_clean(f);
}

/* One call removes at most TRIM_CAP entries.  The entries are planted
 * with raw LMDB: storing that many events would be slow. */
static void test_changelog_trim_cap(void **state)
{
	struct fx *f = *state;
	const uint64_t total = TRIM_CAP + 3;
	uint64_t i;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	wj_store_close(f->s);
	f->s = NULL;
	{
		unsigned char kb[8], vb[24] = { 0 }, lb[8];
		MDB_val k = { 8, kb }, v = { 24, vb };
		MDB_val mk = { 7, "log_seq" }, mv = { 8, lb };
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi log;

		raw_open(f, &env, &txn);
		log = raw_dbi(txn, "changelog");
		for (i = 1; i <= total; i++) {
			be64(kb, i);
			be64(vb, NODE_B);
			be64(vb + 8, i);
			assert_int_equal(mdb_put(txn, log, &k, &v, MDB_APPEND),
					 0);
		}
		be64(lb, total);
		assert_int_equal(mdb_put(txn, raw_dbi(txn, "meta"), &mk, &mv,
					 0), 0);
		raw_close(env, txn);
	}
	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	bounds(t, 1, total, 0);
	assert_true(trim(t, UINT64_MAX) == TRIM_CAP);
	bounds(t, TRIM_CAP + 1, total, TRIM_CAP);
	commit(t);
	t = begin(f, true);
	assert_true(trim(t, UINT64_MAX) == 3);
	bounds(t, 0, total, total);
	assert_true(trim(t, UINT64_MAX) == 0);
	commit(t);
}

/* ---------------------------------------------------- page release */

/* A village drops its mapped pages now and then: the mapping must be
 * found however data_dir is spelled (it was looked up by path, and a
 * trailing slash or a symlink made the release a silent no-op). */
static void test_release_pages_finds_the_map(void **state)
{
	struct fx *f = *state;
	char link[128], slash[128];
	const char *spellings[3];

	snprintf(link, sizeof(link), "%s/link", f->tmp);
	snprintf(slash, sizeof(slash), "%s/", f->dir);
	spellings[0] = f->dir;
	spellings[1] = slash;
	spellings[2] = link;
	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(symlink(f->dir, link), 0);
	for (int i = 0; i < 3; i++) {
		wj_store_opts_t o = { .node = NODE_A };
		wj_err_t err = { 0 };
		wj_store_t *s = NULL;

		if (wj_store_open(spellings[i], &o, &s, &err))
			fail_msg("open %s: %s", spellings[i], err.msg);
		if (wj_store_release_pages(s) != 0)
			fail_msg("no mapping found for the store opened as %s", spellings[i]);
		assert_int_equal(wj_store_release_pages(s), 0);
		wj_store_close(s);
	}
}

/* ------------------------------------------------------------ layout */

static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void raw_put(MDB_txn *txn, const char *db, const void *key,
		    size_t klen, const void *val, size_t vlen)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };

	assert_int_equal(mdb_put(txn, raw_dbi(txn, db), &k, &v, 0), 0);
}

/* The store has exactly the seven databases of schema 2; every index key
 * starts with its kind, and serials and cursors are meta keys after a
 * kind byte that no named meta key starts with. */
static void test_layout(void **state)
{
	static const char *const want[] = {
		"calendar", "cases", "catalog", "changelog", "events",
		"index", "meta",
	};
	struct fx *f = *state;
	struct problems pr = { 0 };
	wj_err_t err = { 0 };
	uint32_t serial;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	put_case(t, NULL, mk_case(&f->a, "L-1", "ITEM",
				  WUJI__CASE_STATUS__ACCEPTED, 20260301));
	put_event(t, mk_event(&f->a, NODE_B, 1, "L-1"), 0, NULL);
	assert_int_equal(wj_store_next_serial(t, 20260213, &serial, &err), 0);
	assert_int_equal(wj_store_cursor_put(t, NODE_B, WJ_CURSOR_RECV_POS,
					     42, &err), 0);
	commit(t);
	wj_store_close(f->s);
	f->s = NULL;
	{
		unsigned char sk[5] = { 0x01 }, ck[17] = { 0x02 };
		unsigned char bad[2] = { 0x03, 'x' }, v4[4] = { 0 };
		unsigned char v8[8] = { 0 };
		int kinds[8] = { 0 }, i = 0;
		MDB_cursor *cur;
		MDB_env *env;
		MDB_txn *txn;
		MDB_val k, v;
		MDB_dbi main;

		raw_open(f, &env, &txn);
		assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main), 0);
		assert_int_equal(mdb_cursor_open(txn, main, &cur), 0);
		while (mdb_cursor_get(cur, &k, &v, i ? MDB_NEXT : MDB_FIRST) ==
		       0) {
			assert_true(i < 7);
			assert_int_equal(k.mv_size, strlen(want[i]));
			assert_memory_equal(k.mv_data, want[i], k.mv_size);
			i++;
		}
		assert_int_equal(i, 7);
		mdb_cursor_close(cur);

		assert_int_equal(mdb_cursor_open(txn, raw_dbi(txn, "index"),
						 &cur), 0);
		for (i = 0; mdb_cursor_get(cur, &k, &v, i ? MDB_NEXT :
					   MDB_FIRST) == 0; i++) {
			unsigned char kind = *(unsigned char *)k.mv_data;

			assert_true(kind >= KIND_STATUS &&
				    kind <= KIND_CASE_EVENT);
			kinds[kind]++;
		}
		mdb_cursor_close(cur);
		assert_int_equal(kinds[KIND_STATUS], 1);
		assert_int_equal(kinds[KIND_ITEM], 1);
		assert_int_equal(kinds[KIND_DUE], 1);
		assert_int_equal(kinds[KIND_CASE_EVENT], 1);

		be32(sk + 1, 20260213);
		k.mv_size = sizeof(sk);
		k.mv_data = sk;
		assert_int_equal(mdb_get(txn, raw_dbi(txn, "meta"), &k, &v),
				 0);
		assert_int_equal(v.mv_size, 4);
		assert_int_equal(((unsigned char *)v.mv_data)[3], 1);
		be64(ck + 1, NODE_B);
		be64(ck + 9, WJ_CURSOR_RECV_POS);
		k.mv_size = sizeof(ck);
		k.mv_data = ck;
		assert_int_equal(mdb_get(txn, raw_dbi(txn, "meta"), &k, &v),
				 0);
		assert_int_equal(v.mv_size, 8);
		assert_int_equal(((unsigned char *)v.mv_data)[7], 42);

		/* What verify must notice in meta: a key of no known kind,
		 * a cursor of the wrong size. */
		raw_put(txn, "meta", bad, sizeof(bad), v8, sizeof(v8));
		raw_put(txn, "meta", ck, sizeof(ck), v4, sizeof(v4));
		raw_close(env, txn);
	}
	f->s = open_store(f, NODE_A, 0);
	t = begin(f, false);
	assert_int_equal(wj_store_verify(t, &f->a, on_problem, &pr, &err), 0);
	wj_txn_abort(t);
	assert_true(mentions(&pr, "meta database has an unknown key",
			     "\\x03x"));
	assert_true(mentions(&pr, "cursor 2 of peer 440303001002",
			     "4-byte value"));
	assert_int_equal(pr.n, 2);
}

/* Each scan of the index database stays within its own index and value:
 * entries planted just past a scan's bound (the next status, the next
 * item code, the next kind, the next case) name cases and events the
 * scan does visit, so a scan that read past its bound would return them
 * twice.  verify reports every planted entry. */
static void test_index_bounds(void **state)
{
	struct fx *f = *state;
	struct problems pr = { 0 };
	wj_case_filter_t flt = { .item_code = "I" };
	wj_err_t err = { 0 };
	struct evs e = { 0 };
	struct seen s;
	uint64_t n;
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	t = begin(f, true);
	put_case(t, NULL, mk_case(&f->a, "R-1", "I",
				  WUJI__CASE_STATUS__RECEIVED, 0));
	put_case(t, NULL, mk_case(&f->a, "A-1", "I",
				  WUJI__CASE_STATUS__ACCEPTED, 20260301));
	put_case(t, NULL, mk_case(&f->a, "A-2", "I2",
				  WUJI__CASE_STATUS__ACCEPTED, 20260302));
	put_event(t, mk_event_hlc(&f->a, NODE_B, 1, "E-1", 10), 0, NULL);
	put_event(t, mk_event_hlc(&f->a, NODE_B, 2, "E-1", 20), 0, NULL);
	put_event(t, mk_event_hlc(&f->a, NODE_B, 3, "E-2", 30), 0, NULL);
	commit(t);
	verify_clean(f);
	wj_store_close(f->s);
	f->s = NULL;
	{
		unsigned char st[] = { KIND_STATUS,
				       WUJI__CASE_STATUS__ACCEPTED + 1,
				       'A', '-', '1' };
		unsigned char it[] = { KIND_ITEM, 'I', '3', 0, 'R', '-', '1' };
		unsigned char due[] = { KIND_CASE_EVENT, 0, 0, 0, 0,
					'A', '-', '1' };
		unsigned char ck[64];
		size_t cn;
		MDB_env *env;
		MDB_txn *txn;

		be32(due + 1, 20260301);
		/* E-1's first event, filed under E-2. */
		cn = case_ev_key(ck, "E-2", 10, NODE_B, 1);
		raw_open(f, &env, &txn);
		raw_put(txn, "index", st, sizeof(st), "", 0);
		raw_put(txn, "index", it, sizeof(it), "", 0);
		raw_put(txn, "index", due, sizeof(due), "", 0);
		raw_put(txn, "index", ck, cn, "", 0);
		raw_close(env, txn);
	}
	f->s = open_store(f, NODE_A, 0);
	t = begin(f, false);

	assert_int_equal(scan_status(f, t, WUJI__CASE_STATUS__ACCEPTED, &s),
			 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.numbers[0], "A-1");
	assert_string_equal(s.numbers[1], "A-2");
	assert_int_equal(wj_store_count_status(t, WUJI__CASE_STATUS__ACCEPTED,
					       &n), 0);
	assert_true(n == 2);
	assert_int_equal(wj_store_count_status(t, WUJI__CASE_STATUS__RECEIVED,
					       &n), 0);
	assert_true(n == 1);
	/* The planted entry is all there is under the next status. */
	assert_int_equal(wj_store_count_status(t, WUJI__CASE_STATUS__PAUSED,
					       &n), 0);
	assert_true(n == 1);

	memset(&s, 0, sizeof(s));
	assert_int_equal(wj_store_case_scan(t, &flt, collect, &s,
					    &err), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.numbers[0], "A-1");
	assert_string_equal(s.numbers[1], "R-1");

	/* The due index is the last case index before the events' one. */
	assert_int_equal(due_scan(f, t, 20261231, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.numbers[0], "A-1");
	assert_string_equal(s.numbers[1], "A-2");

	assert_int_equal(wj_store_case_events(t, "E-1", &f->a, collect_ev, &e,
					      &err), 0);
	assert_int_equal(e.n, 2);
	assert_true(e.seq[0] == 1 && e.seq[1] == 2);

	assert_int_equal(wj_store_verify(t, &f->a, on_problem, &pr, &err), 0);
	wj_txn_abort(t);
	assert_true(mentions(&pr, "status index lists case A-1 as paused",
			     "accepted"));
	assert_true(mentions(&pr, "item index lists case R-1 under item I3",
			     NULL));
	assert_true(mentions(&pr, "case_events index has a malformed entry",
			     "A-1"));
	assert_true(mentions(&pr, "(440303001002, 1) under case E-2",
			     "E-1"));
	assert_int_equal(pr.n, 4);
}

/* A store of schema 1 (twelve databases, made by an older wuji) is
 * refused, read-only too, with what to do, and left as it was. */
static void test_old_schema_refused(void **state)
{
	static const char *const old_dbs[] = {
		"cases", "events", "changelog", "case_events", "serials",
		"catalog", "calendar", "idx_status", "idx_item", "idx_due",
		"cursors",
	};
	struct fx *f = *state;
	wj_store_opts_t o = { .node = NODE_A };
	wj_err_t err = { 0 };
	unsigned char v8[8];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	size_t i;

	assert_int_equal(mkdir(f->dir, 0750), 0);
	raw_open(f, &env, &txn);
	assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &dbi), 0);
	for (i = 0; i < sizeof(old_dbs) / sizeof(old_dbs[0]); i++)
		assert_int_equal(mdb_dbi_open(txn, old_dbs[i], MDB_CREATE,
					      &dbi), 0);
	be64(v8, 1);
	raw_put(txn, "meta", "schema", 6, v8, 8);
	raw_put(txn, "meta", "epoch", 5, v8, 8);
	be64(v8, NODE_A);
	raw_put(txn, "meta", "node", 4, v8, 8);
	be64(v8, 0);
	raw_put(txn, "meta", "last_seq", 8, v8, 8);
	raw_put(txn, "meta", "log_seq", 7, v8, 8);
	raw_close(env, txn);

	assert_int_equal(wj_store_open(f->dir, &o, &f->s, &err), WJ_ESCHEMA);
	assert_null(f->s);
	assert_non_null(strstr(err.msg, f->dir));
	assert_non_null(strstr(err.msg, "older wuji"));
	assert_non_null(strstr(err.msg, "schema 1"));
	assert_non_null(strstr(err.msg, "empty data_dir"));
	o.read_only = true;
	assert_int_equal(wj_store_open(f->dir, &o, &f->s, &err), WJ_ESCHEMA);
	assert_null(f->s);

	/* Refusing wrote nothing: no database of the new layout, the old
	 * ones still there. */
	raw_open(f, &env, &txn);
	assert_int_equal(mdb_dbi_open(txn, "index", 0, &dbi), MDB_NOTFOUND);
	assert_int_equal(mdb_dbi_open(txn, "cursors", 0, &dbi), 0);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* Leaf pages of a database, read with LMDB itself (the store closed
 * meanwhile and opened again after). */
static size_t leaf_pages(struct fx *f, const char *db)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_stat st;

	wj_store_close(f->s);
	f->s = NULL;
	raw_open(f, &env, &txn);
	assert_int_equal(mdb_stat(txn, raw_dbi(txn, db), &st), 0);
	raw_close(env, txn);
	reopen(f, 0);
	return st.ms_leaf_pages;
}

#define ORDERED_N 300

/* Cases and events of about 1 KiB stored in key order, as a village
 * stores its own, fill their pages: three cases or four events to a 4 KiB
 * page (LMDB left two and three, splitting a page every other insert).
 * A key out of order is still stored, and a key taken, last or not, is
 * still refused. */
static void test_ordered_records_fill_pages(void **state)
{
	struct fx *f = *state;
	wj_err_t err = { 0 };
	char number[48];
	wj_txn_t *t;

	f->s = open_store(f, NODE_A, 0);
	char *reason = wj_arena_alloc(&f->a, 801);
	memset(reason, 'r', 800);
	reason[800] = '\0';
	for (int i = 1; i <= ORDERED_N; i++) {
		t = begin(f, true);
		snprintf(number, sizeof(number), "A-20260301-%06d", i);
		put_case(t, NULL, big_case(&f->a, number, 1000));
		Wuji__Event *ev = mk_event(&f->a, NODE_B, (uint64_t)i, number);
		ev->reason = reason;
		put_event(t, ev, 0, NULL);
		commit(t);
	}
	assert_true(leaf_pages(f, "cases") <= ORDERED_N / 3 + 1);
	assert_true(leaf_pages(f, "events") <= ORDERED_N / 4 + 1);

	t = begin(f, true);
	/* Before every stored key: stored the ordinary way. */
	put_case(t, NULL, big_case(&f->a, "A-20260101-000001", 1000));
	put_event(t, mk_event(&f->a, NODE_C, 7, "A-20260101-000001"), 0, NULL);
	/* Taken: the last key, and one in the middle. */
	snprintf(number, sizeof(number), "A-20260301-%06d", ORDERED_N);
	assert_int_equal(wj_store_case_put(t, NULL, big_case(&f->a, number, 10), &err),
			 WJ_EEXIST);
	assert_int_equal(wj_store_case_put(t, NULL, big_case(&f->a, "A-20260301-000150", 10),
					   &err), WJ_EEXIST);
	assert_int_equal(wj_store_event_put(t, mk_event(&f->a, NODE_B, ORDERED_N, number), 0,
					    NULL, &err), WJ_EEXIST);
	assert_int_equal(wj_store_event_put(t, mk_event(&f->a, NODE_B, 150, number), 0, NULL,
					    &err), WJ_EEXIST);
	commit(t);

	/* Events as a peer packed them, in a nested transaction as a
	 * replication round stores them: the next key, then a taken one. */
	t = begin(f, true);
	wj_txn_t *child;
	assert_int_equal(wj_txn_begin_nested(t, &child, &err), 0);
	uint64_t seqs[] = { ORDERED_N + 1, 150 };
	int want[] = { 0, WJ_EEXIST };
	for (int i = 0; i < 2; i++) {
		Wuji__Event *ev = mk_event(&f->a, NODE_B, seqs[i], number);
		size_t len = wuji__event__get_packed_size(ev);
		uint8_t *buf = wj_arena_alloc(&f->a, len);
		wuji__event__pack(ev, buf);
		assert_int_equal(wj_store_event_put_packed(child, ev, buf, len, 0, NULL, &err),
				 want[i]);
	}
	assert_int_equal(wj_txn_commit(child, &err), 0);
	commit(t);

	t = begin(f, false);
	Wuji__Case *c;
	assert_int_equal(wj_store_case_get(t, "A-20260101-000001", &f->a, &c, &err), 0);
	assert_true(wj_store_event_exists(t, NODE_C, 7));
	assert_true(wj_store_event_exists(t, NODE_B, ORDERED_N + 1));
	wj_txn_abort(t);
	verify_clean(f);
}

/* Size of data.mdb, and whether every byte of it from `from` on is zero. */
static uint64_t data_file(struct fx *f, uint64_t from, bool *zeros_after)
{
	char path[160];
	struct stat st;
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	assert_int_equal(stat(path, &st), 0);
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseeko(fp, (off_t)from, SEEK_SET), 0);
	int ch;
	*zeros_after = true;
	while ((ch = getc(fp)) != EOF)
		if (ch != 0)
			*zeros_after = false;
	fclose(fp);
	return (uint64_t)st.st_size;
}

/* One commit of case S-i, about 1 KiB: returns the bytes now in use. */
static uint64_t commit_small_case(struct fx *f, int i)
{
	char num[24];
	uint64_t used, size;
	wj_txn_t *t = begin(f, true);
	snprintf(num, sizeof(num), "S-%04d", i);
	put_case(t, NULL, big_case(&f->a, num, 1000));
	commit(t);
	wj_arena_reset(&f->a);
	wj_store_map_usage(f->s, &used, &size);
	return used;
}

/* Small commits keep zeros written ahead of what the store uses, at most
 * 1 MiB (so that their fsyncs overwrite blocks rather than append); LMDB
 * grows into them and nothing stored is touched; a burst of large commits
 * gets none once it is seen to be one. */
static void test_slack_ahead_of_use(void **state)
{
	struct fx *f = *state;
	uint64_t used = 0, size, file, first_file;
	bool zeros;
	char num[24];
	int i;

	f->s = open_store(f, NODE_A, 0);
	for (i = 0; i < 4; i++)
		used = commit_small_case(f, i);
	first_file = data_file(f, used, &zeros);
	assert_true(first_file > used);
	assert_true(first_file - used <= 1024 * 1024);
	assert_true(zeros);

	/* Grown into its zeros and past where the file first ended: zeros
	 * ahead still, the cases all there after a reopen, verify content. */
	for (i = 4; used <= first_file && i < 4000; i++)
		used = commit_small_case(f, i);
	assert_true(used > first_file);
	file = data_file(f, used, &zeros);
	assert_true(file > used);
	assert_true(file - used <= 1024 * 1024);
	assert_true(zeros);
	int n = i;
	reopen(f, 0);
	wj_txn_t *t = begin(f, false);
	for (i = 0; i < n; i++) {
		Wuji__Case *c;
		wj_err_t err = { 0 };
		snprintf(num, sizeof(num), "S-%04d", i);
		assert_int_equal(wj_store_case_get(t, num, &f->a, &c, &err), 0);
		assert_int_equal(strlen(c->item_name), 1000);
		wj_arena_reset(&f->a);
	}
	struct problems pr = { 0 };
	wj_err_t err = { 0 };
	assert_int_equal(wj_store_verify(t, &f->a, on_problem, &pr, &err), 0);
	assert_int_equal(pr.n, 0);
	wj_txn_abort(t);

	/* Large commits (known for one from the second on): LMDB appends
	 * past the zeros, and no more are written. */
	for (i = 0; i < 12; i++) {
		t = begin(f, true);
		for (int k = 0; k < 200; k++) {
			snprintf(num, sizeof(num), "B-%02d-%03d", i, k);
			put_case(t, NULL, big_case(&f->a, num, 1000));
		}
		commit(t);
		wj_arena_reset(&f->a);
	}
	wj_store_map_usage(f->s, &used, &size);
	assert_int_equal(data_file(f, used, &zeros), used);
}

/* Nearly full from WJ_STORE_FULL_WARN_PCT of the map on, saying what to
 * do; a store's usage is what LMDB reports for its map. */
static void test_fill_warning(void **state)
{
	struct fx *f = *state;
	char w[256];
	uint64_t used, size;

	assert_false(wj_store_fill_warning(899, 1000, w, sizeof(w)));
	assert_string_equal(w, "");
	assert_false(wj_store_fill_warning(0, 0, w, sizeof(w)));
	assert_true(wj_store_fill_warning(900, 1000, w, sizeof(w)));
	assert_non_null(strstr(w, "store 90% full"));
	assert_non_null(strstr(w, "raise map_size_mb"));
	assert_true(wj_store_fill_warning(1000, 1000, w, 16)); /* cut, not overrun */
	assert_int_equal(strlen(w), 15);

	f->s = open_store(f, NODE_A, SMALL_MAP);
	wj_store_map_usage(f->s, &used, &size);
	assert_true(size == SMALL_MAP);
	assert_true(used > 0 && used < size);
	assert_false(wj_store_fill_warning(used, size, w, sizeof(w)));

	/* One write too big for what is left, from well under the mark: the
	 * last commit's figures would not show it; the refusal does. */
	wj_txn_t *t = begin(f, true);
	wj_err_t err = { 0 };
	assert_int_equal(wj_store_case_put(t, NULL, big_case(&f->a, "BIG-1", SMALL_MAP), &err),
			 WJ_EFULL);
	wj_txn_abort(t);
	wj_store_map_usage(f->s, &used, &size);
	assert_true(used == size);
	assert_true(wj_store_fill_warning(used, size, w, sizeof(w)));
	assert_non_null(strstr(w, "store 100% full"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_reopen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_slack_ahead_of_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_missing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_schema_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_other_node_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_case_indexes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_case_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_scan_paging, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_scan_with_writes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_event_idempotent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_changelog_order, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_seq_serial_persist, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_catalog_calendar, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_map_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nested_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nested_abort, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relog_and_unlogged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_from, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_case_events, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_case_events_stale, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_origin_max_seq, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_raise, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_last_case_with_prefix, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_new_epoch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cursors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_changelog_trim, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_release_pages_finds_the_map, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_changelog_trim_cap, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_bounds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_old_schema_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ordered_records_fill_pages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fill_warning, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
