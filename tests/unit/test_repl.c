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
#include <cmocka.h>

#include "repl.h"
#include "service.h"

#define PROVINCE 330000000000ULL
#define CITY_A 330100000000ULL
#define CITY_B 330200000000ULL
#define T0 1772413200000LL

struct fixture {
	char dir[64];
	wj_service_t *svc;
	wj_repl_t *repl;
	wj_arena_t arena;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/wj-test-repl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	wj_service_opts_t so = {.node = PROVINCE, .data_dir = f->dir, .yellow_days = 1};
	wj_err_t err = {0};
	assert_int_equal(wj_service_open(&so, &f->svc, &err), 0);
	static const uint64_t children[] = {CITY_A, CITY_B};
	wj_repl_opts_t ro = {.children = children, .n_children = 2};
	assert_int_equal(wj_repl_new(f->svc, &ro, T0, &f->repl, &err), 0);
	wj_service_set_repl(f->svc, f->repl);
	wj_arena_init(&f->arena, 1 << 16);
	*state = f;
	return 0;
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

/* The `recovering` flag of the last ping or hello to `to` in out, as
 * 0 or 1; -1 when there is none. */
static int said_recovering(struct fixture *f, const wj_repl_out_t *out, uint64_t to)
{
	int said = -1;
	for (size_t i = 0; i < out->n_msgs; i++) {
		if (out->msgs[i].peer != to)
			continue;
		Wuji__PeerMsg *m = wuji__peer_msg__unpack(&f->arena.pb, out->msgs[i].len,
							  out->msgs[i].data);
		assert_non_null(m);
		if (m->body_case == WUJI__PEER_MSG__BODY_PING)
			said = m->ping->recovering;
		else if (m->body_case == WUJI__PEER_MSG__BODY_HELLO)
			said = m->hello->recovering;
	}
	return said;
}

static void send_to(struct fixture *f, uint64_t from, Wuji__PeerMsg *m, int64_t now,
		    wj_repl_out_t *out)
{
	m->from = from;
	size_t len = wuji__peer_msg__get_packed_size(m);
	uint8_t *buf = wj_arena_alloc(&f->arena, len + 1);
	wuji__peer_msg__pack(m, buf);
	wj_repl_out_init(out, &f->arena);
	wj_repl_receive(f->repl, from, buf, len, now, out);
}

static void hello_from(struct fixture *f, uint64_t from, uint64_t epoch, uint64_t your_max_seq,
		       int64_t now, wj_repl_out_t *out)
{
	Wuji__Hello h = WUJI__HELLO__INIT;
	h.node = from;
	h.epoch = epoch;
	h.log_end = 3;
	h.your_max_seq = your_max_seq;
	h.wall_ms = now;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_HELLO;
	m.hello = &h;
	send_to(f, from, &m, now, out);
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

static int tick(struct fixture *f, int64_t now, uint64_t to)
{
	wj_repl_out_t out;
	wj_repl_out_init(&out, &f->arena);
	wj_repl_tick(f->repl, now, &out);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_recovering_said_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
