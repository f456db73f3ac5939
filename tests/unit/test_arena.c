/* Unit tests for the region allocator (node/core/arena.c) and the error
 * helpers (node/core/err.c), which have no test program of their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/err.h"
#include "proto/wuji.pb-c.h"

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static void test_many_allocations(void **state)
{
	enum { N = 5000 };
	wj_arena_t a;
	unsigned char **ptrs = calloc(N, sizeof(*ptrs));
	size_t *sizes = calloc(N, sizeof(*sizes));

	assert_non_null(ptrs);
	assert_non_null(sizes);
	wj_arena_init(&a, 4096);
	for (size_t i = 0; i < N; i++) {
		/* Mostly small, some larger than a block. */
		sizes[i] = i % 97 == 0 ? 5000 + i : 1 + (i * 37) % 300;
		ptrs[i] = wj_arena_alloc(&a, sizes[i]);
		assert_non_null(ptrs[i]);
		assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
		assert_true(all_zero(ptrs[i], sizes[i]));
		memset(ptrs[i], (int)(i % 251) + 1, sizes[i]);
	}
	/* No allocation overlapped another. */
	for (size_t i = 0; i < N; i++)
		for (size_t j = 0; j < sizes[i]; j++)
			assert_int_equal(ptrs[i][j], (int)(i % 251) + 1);
	assert_true(a.used_total >= N);
	wj_arena_free(&a);
	free(ptrs);
	free(sizes);
}

/* A decode budget bounds what protobuf-c may take through `pb` (the
 * allocation past it fails, and says so), not plain allocations; SIZE_MAX
 * lifts it. */
static void test_pb_budget(void **state)
{
	(void)state;
	wj_arena_t a;
	wj_arena_init(&a, 4096);
	assert_int_equal(wj_arena_pb_left(&a), SIZE_MAX);
	wj_arena_pb_budget(&a, 100);
	assert_non_null(a.pb.alloc(a.pb.allocator_data, 60));
	assert_int_equal(wj_arena_pb_left(&a), 40);
	assert_false(wj_arena_pb_refused(&a));
	assert_null(a.pb.alloc(a.pb.allocator_data, 41));
	assert_true(wj_arena_pb_refused(&a));
	assert_non_null(wj_arena_alloc(&a, 1000));   /* not bounded */
	assert_non_null(a.pb.alloc(a.pb.allocator_data, 40));
	wj_arena_pb_budget(&a, SIZE_MAX);
	assert_false(wj_arena_pb_refused(&a));
	assert_non_null(a.pb.alloc(a.pb.allocator_data, 1 << 20));
	/* A message that cannot decode within it fails cleanly. */
	wj_arena_pb_budget(&a, 8);
	static const uint8_t show[] = {0x0a, 0x03, 'a', 'b', 'c'};   /* number "abc" */
	assert_null(wuji__show_request__unpack(&a.pb, sizeof(show), show));
	wj_arena_pb_budget(&a, 4096);
	Wuji__ShowRequest *r = wuji__show_request__unpack(&a.pb, sizeof(show), show);
	assert_non_null(r);
	assert_string_equal(r->number, "abc");
	wj_arena_free(&a);
}

static void test_zero_size_and_default_block(void **state)
{
	wj_arena_t a;
	void *p, *q;

	wj_arena_init(&a, 0);
	assert_true(a.block_size >= 256);
	p = wj_arena_alloc(&a, 0);
	q = wj_arena_alloc(&a, 0);
	assert_non_null(p);
	assert_non_null(q);
	assert_ptr_not_equal(p, q);
	wj_arena_free(&a);
}

static void test_strings(void **state)
{
	wj_arena_t a;
	char big[1000];
	char *s;

	wj_arena_init(&a, 512);
	assert_string_equal(wj_arena_strdup(&a, "杭州市西湖区"), "杭州市西湖区");
	assert_string_equal(wj_arena_strdup(&a, ""), "");
	assert_string_equal(wj_arena_strdup(&a, NULL), "");
	assert_string_equal(wj_arena_strndup(&a, "abcdef", 3), "abc");
	assert_string_equal(wj_arena_strndup(&a, "ab", 10), "ab");
	assert_string_equal(wj_arena_printf(&a, "%s-%05d", "case", 42),
			    "case-00042");
	/* Longer than any internal scratch buffer and than the block. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = wj_arena_printf(&a, "<%s>", big);
	assert_int_equal(strlen(s), sizeof(big) + 1);
	assert_int_equal(s[0], '<');
	assert_int_equal(s[sizeof(big)], '>');
	assert_int_equal(s[500], 'x');
	wj_arena_free(&a);
}

static void test_push_values(void **state)
{
	wj_arena_t a;
	int32_t *arr = NULL;
	size_t n = 0;

	wj_arena_init(&a, 1024);
	for (int i = 0; i < 3000; i++) {
		int32_t *slot = wj_arena_push(&a, &arr, &n, sizeof(*arr));

		assert_int_equal(n, (size_t)i + 1);
		assert_ptr_equal(slot, &arr[i]);
		assert_int_equal(*slot, 0);
		*slot = i * 3;
	}
	for (int i = 0; i < 3000; i++)
		assert_int_equal(arr[i], i * 3);
	wj_arena_free(&a);
}

static void test_push_pointers(void **state)
{
	wj_arena_t a;
	char **arr = NULL;
	size_t n = 0;

	wj_arena_init(&a, 1024);
	for (int i = 0; i < 200; i++) {
		char **slot = wj_arena_push(&a, &arr, &n, sizeof(*arr));

		assert_null(*slot);
		*slot = wj_arena_printf(&a, "m%d", i);
	}
	assert_int_equal(n, 200);
	for (int i = 0; i < 200; i++) {
		char want[16];

		snprintf(want, sizeof(want), "m%d", i);
		assert_string_equal(arr[i], want);
	}
	wj_arena_free(&a);
}

/* An array sized exactly (as protobuf-c unpack sizes them) must be copied,
 * not extended over whatever was allocated next. */
static void test_push_exact_array(void **state)
{
	wj_arena_t a;
	uint64_t *arr, *after;
	size_t n = 2;

	wj_arena_init(&a, 1024);
	arr = wj_arena_alloc(&a, 2 * sizeof(*arr));
	after = wj_arena_alloc(&a, 4 * sizeof(*after));
	arr[0] = 10;
	arr[1] = 11;
	for (int i = 0; i < 4; i++)
		after[i] = 0xdeadbeef;
	/* Also after 16-byte rounding, slot 2 would land on `after`. */
	*(uint64_t *)wj_arena_push(&a, &arr, &n, sizeof(*arr)) = 12;
	*(uint64_t *)wj_arena_push(&a, &arr, &n, sizeof(*arr)) = 13;
	assert_int_equal(n, 4);
	assert_int_equal(arr[0], 10);
	assert_int_equal(arr[1], 11);
	assert_int_equal(arr[2], 12);
	assert_int_equal(arr[3], 13);
	for (int i = 0; i < 4; i++)
		assert_int_equal(after[i], 0xdeadbeef);
	wj_arena_free(&a);
}

/* Two messages sharing one array (a shallow copy) must not both append
 * into the same spare slot. */
static void test_push_shared_array(void **state)
{
	wj_arena_t a;
	int32_t *x = NULL, *y;
	size_t nx = 0, ny;

	wj_arena_init(&a, 1024);
	*(int32_t *)wj_arena_push(&a, &x, &nx, sizeof(*x)) = 1;
	y = x;
	ny = nx;
	*(int32_t *)wj_arena_push(&a, &x, &nx, sizeof(*x)) = 2;
	*(int32_t *)wj_arena_push(&a, &y, &ny, sizeof(*y)) = 3;
	assert_int_equal(nx, 2);
	assert_int_equal(ny, 2);
	assert_int_equal(x[0], 1);
	assert_int_equal(x[1], 2);
	assert_int_equal(y[0], 1);
	assert_int_equal(y[1], 3);
	/* A shrunk array grows again from its new length. */
	nx = 1;
	*(int32_t *)wj_arena_push(&a, &x, &nx, sizeof(*x)) = 4;
	assert_int_equal(nx, 2);
	assert_int_equal(x[1], 4);
	assert_int_equal(y[1], 3);
	wj_arena_free(&a);
}

static void test_protobuf_unpack(void **state)
{
	wj_arena_t a;
	Wuji__Case c = WUJI__CASE__INIT;
	Wuji__Applicant app = WUJI__APPLICANT__INIT;
	Wuji__Task t[3] = { WUJI__TASK__INIT, WUJI__TASK__INIT,
			    WUJI__TASK__INIT };
	Wuji__Task *tp[3] = { &t[0], &t[1], &t[2] };
	char *missing[2] = { "户口簿", "照片" };
	Wuji__Case *u, *v;
	Wuji__Task **slot;
	uint8_t *buf, *buf2;
	size_t len, len2;

	c.number = "330106-20260213-0001";
	c.item_code = "330100-000-XK-00001";
	c.item_name = "食品经营许可";
	c.status = WUJI__CASE_STATUS__ACCEPTED;
	c.promised_due = 20260227;
	c.origin = 330106001001ULL;
	app.name = "张三";
	app.id_type = WUJI__ID_TYPE__ID_CARD;
	app.id_number = "330106199001011234";
	c.applicant = &app;
	for (int i = 0; i < 3; i++) {
		t[i].index = (uint32_t)i;
		t[i].department = i == 0 ? "市场监管局" : i == 1 ? "卫健委" :
			"消防救援";
		t[i].status = WUJI__TASK_STATUS__TASK_PENDING;
		t[i].node = 330106000000ULL;
	}
	c.n_tasks = 3;
	c.tasks = tp;
	c.n_missing = 2;
	c.missing = missing;

	len = wuji__case__get_packed_size(&c);
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(wuji__case__pack(&c, buf), len);

	wj_arena_init(&a, 256);
	u = wuji__case__unpack(&a.pb, len, buf);
	free(buf);  /* nothing unpacked may point into the input */
	assert_non_null(u);
	assert_true(a.used_total > 0);
	assert_string_equal(u->number, "330106-20260213-0001");
	assert_string_equal(u->item_name, "食品经营许可");
	assert_int_equal(u->status, WUJI__CASE_STATUS__ACCEPTED);
	assert_int_equal(u->promised_due, 20260227);
	assert_int_equal(u->origin, 330106001001ULL);
	assert_non_null(u->applicant);
	assert_string_equal(u->applicant->name, "张三");
	assert_string_equal(u->applicant->id_number, "330106199001011234");
	assert_int_equal(u->n_tasks, 3);
	assert_string_equal(u->tasks[1]->department, "卫健委");
	assert_int_equal(u->tasks[2]->index, 2);
	assert_int_equal(u->n_missing, 2);
	assert_string_equal(u->missing[1], "照片");

	/* Grow the unpacked repeated fields, as the core does. */
	slot = wj_arena_push(&a, &u->tasks, &u->n_tasks, sizeof(*u->tasks));
	*slot = wj_arena_alloc(&a, sizeof(**slot));
	wuji__task__init(*slot);
	(*slot)->index = 3;
	(*slot)->department = wj_arena_strdup(&a, "住建局");
	*(char **)wj_arena_push(&a, &u->missing, &u->n_missing,
				sizeof(*u->missing)) =
		wj_arena_strdup(&a, "营业执照");
	u->item_name = wj_arena_strdup(&a, "食品经营许可（变更）");

	len2 = wuji__case__get_packed_size(u);
	buf2 = wj_arena_alloc(&a, len2);
	assert_int_equal(wuji__case__pack(u, buf2), len2);
	v = wuji__case__unpack(&a.pb, len2, buf2);
	assert_non_null(v);
	assert_int_equal(v->n_tasks, 4);
	assert_string_equal(v->tasks[0]->department, "市场监管局");
	assert_string_equal(v->tasks[3]->department, "住建局");
	assert_int_equal(v->n_missing, 3);
	assert_string_equal(v->missing[0], "户口簿");
	assert_string_equal(v->missing[2], "营业执照");
	assert_string_equal(v->item_name, "食品经营许可（变更）");
	assert_string_equal(v->applicant->name, "张三");

	/* Garbage does not decode (and leaks nothing: freed with arena). */
	{
		uint8_t junk[] = { 0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01 };

		assert_null(wuji__case__unpack(&a.pb, sizeof(junk), junk));
	}
	wj_arena_free(&a);
}

static void test_reset(void **state)
{
	wj_arena_t a;
	unsigned char *p;
	int32_t *arr = NULL;
	size_t n = 0;

	wj_arena_init(&a, 1024);
	for (int i = 0; i < 100; i++) {
		p = wj_arena_alloc(&a, 300);
		memset(p, 0xff, 300);
	}
	p = wj_arena_alloc(&a, 10000);
	memset(p, 0xff, 10000);
	for (int i = 0; i < 10; i++)
		*(int32_t *)wj_arena_push(&a, &arr, &n, sizeof(*arr)) = i;
	wj_arena_reset(&a);
	assert_int_equal(a.used_total, 0);
	/* Reused memory is handed out zeroed again. */
	for (int i = 0; i < 100; i++) {
		p = wj_arena_alloc(&a, 300);
		assert_true(all_zero(p, 300));
	}
	/* Push state does not survive a reset. */
	arr = NULL;
	n = 0;
	for (int i = 0; i < 10; i++)
		*(int32_t *)wj_arena_push(&a, &arr, &n, sizeof(*arr)) = i + 100;
	for (int i = 0; i < 10; i++)
		assert_int_equal(arr[i], i + 100);
	wj_arena_reset(&a);
	wj_arena_reset(&a);
	assert_non_null(wj_arena_strdup(&a, "again"));
	wj_arena_free(&a);
	/* An arena freed can be initialised and used again. */
	wj_arena_init(&a, 1024);
	assert_string_equal(wj_arena_strdup(&a, "fresh"), "fresh");
	wj_arena_free(&a);
}

static void test_err_set(void **state)
{
	wj_err_t err;

	wj_err_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
	assert_int_equal(err.n_allowed, 0);
	assert_int_equal(wj_err_set(&err, WJ_EINVAL, "bad %s %d", "x", 7),
			 WJ_EINVAL);
	assert_int_equal(err.code, WJ_EINVAL);
	assert_string_equal(err.msg, "bad x 7");
	assert_int_equal(wj_err_set(NULL, WJ_ENOTFOUND, "ignored"),
			 WJ_ENOTFOUND);
	wj_err_clear(NULL);
	wj_err_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
	assert_string_equal(wj_err_name(WJ_ENOTFOUND), "not found");
	assert_string_equal(wj_err_name(WJ_EBADREQ), "bad request");
	for (int c = WJ_EIO; c <= 0; c++)
		assert_string_not_equal(wj_err_name(c), "unknown error");
	assert_string_equal(wj_err_name(-99), "unknown error");
}

static void test_err_long_message(void **state)
{
	wj_err_t err;
	char big[2000];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wj_err_set(&err, WJ_EINVAL, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

static void test_fails_assert(void **state)
{
	int n = 3;

	assert_false(wj_fails_assert(n == 3));
	assert_true(wj_fails_assert(n == 4));
}

static void test_require_aborts(void **state)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int n = 1;

		wj_require(n == 1);  /* passes */
		wj_require(n == 2);
		_exit(0);            /* not reached */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_allocations),
		cmocka_unit_test(test_zero_size_and_default_block),
		cmocka_unit_test(test_pb_budget),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_push_values),
		cmocka_unit_test(test_push_pointers),
		cmocka_unit_test(test_push_exact_array),
		cmocka_unit_test(test_push_shared_array),
		cmocka_unit_test(test_protobuf_unpack),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_err_set),
		cmocka_unit_test(test_err_long_message),
		cmocka_unit_test(test_fails_assert),
		cmocka_unit_test(test_require_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
