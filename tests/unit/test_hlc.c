/* Unit tests for the hybrid logical clock (node/core/hlc.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/hlc.h"

#define HLC(ms, c) (((uint64_t)(ms) << 16) | (uint64_t)(c))
#define COUNTER(h) ((h) & 0xffff)

static void test_tick_follows_wall_clock(void **state)
{
	wj_hlc_t s = 0, h;

	h = wj_hlc_tick(&s, 1000);
	assert_int_equal(h, HLC(1000, 0));
	assert_int_equal(s, h);
	assert_int_equal(wj_hlc_ms(h), 1000);
	h = wj_hlc_tick(&s, 1005);
	assert_int_equal(h, HLC(1005, 0));
	/* Same millisecond: the counter orders the events. */
	h = wj_hlc_tick(&s, 1005);
	assert_int_equal(h, HLC(1005, 1));
	h = wj_hlc_tick(&s, 1005);
	assert_int_equal(h, HLC(1005, 2));
	/* Wall clock steps back: time does not. */
	h = wj_hlc_tick(&s, 900);
	assert_int_equal(h, HLC(1005, 3));
	h = wj_hlc_tick(&s, 1006);
	assert_int_equal(h, HLC(1006, 0));
}

static void test_tick_strictly_increasing(void **state)
{
	wj_hlc_t s = 0, prev = 0;
	/* A clock that jitters back and forth. */
	static const uint64_t wall[] = { 5, 7, 3, 7, 7, 8, 2, 10, 10, 9 };

	for (int round = 0; round < 1000; round++) {
		for (size_t i = 0; i < sizeof(wall) / sizeof(wall[0]); i++) {
			wj_hlc_t h = wj_hlc_tick(&s, wall[i] + round / 10);

			assert_true(h > prev);
			assert_true(wj_hlc_ms(h) >= wall[i] + round / 10);
			prev = h;
		}
	}
}

static void test_counter_overflow(void **state)
{
	wj_hlc_t s = HLC(2000, 0xfffe), h;

	h = wj_hlc_tick(&s, 2000);
	assert_int_equal(h, HLC(2000, 0xffff));
	/* The counter is full: the physical part moves on. */
	h = wj_hlc_tick(&s, 2000);
	assert_int_equal(h, HLC(2001, 0));
	assert_int_equal(wj_hlc_ms(h), 2001);
	h = wj_hlc_tick(&s, 2000);
	assert_int_equal(h, HLC(2001, 1));
	/* The end of time saturates instead of wrapping to 0. */
	s = UINT64_MAX;
	assert_int_equal(wj_hlc_tick(&s, 5), UINT64_MAX);
	/* Wall time beyond 48 bits is clamped, not truncated. */
	s = 0;
	h = wj_hlc_tick(&s, UINT64_C(1) << 50);
	assert_int_equal(wj_hlc_ms(h), (UINT64_C(1) << 48) - 1);
}

static void test_recv(void **state)
{
	wj_hlc_t s, h;

	/* Remote ahead of us and of the wall clock: adopt it, plus one. */
	s = HLC(1000, 4);
	h = wj_hlc_recv(&s, HLC(3000, 7), 2000);
	assert_int_equal(h, HLC(3000, 8));
	assert_int_equal(s, h);
	/* Local ahead of remote: our own, plus one. */
	s = HLC(5000, 2);
	h = wj_hlc_recv(&s, HLC(4000, 9), 3000);
	assert_int_equal(h, HLC(5000, 3));
	/* Same millisecond on both: the larger counter, plus one. */
	s = HLC(5000, 2);
	h = wj_hlc_recv(&s, HLC(5000, 9), 5000);
	assert_int_equal(h, HLC(5000, 10));
	s = HLC(5000, 12);
	h = wj_hlc_recv(&s, HLC(5000, 9), 4000);
	assert_int_equal(h, HLC(5000, 13));
	/* Wall clock ahead of both: counter restarts. */
	s = HLC(5000, 12);
	h = wj_hlc_recv(&s, HLC(5500, 9), 6000);
	assert_int_equal(h, HLC(6000, 0));
	/* A received timestamp orders after the one it answers, and a
	 * following local tick after that. */
	{
		wj_hlc_t a = 0, b = 0, ea, eb, ec;

		ea = wj_hlc_tick(&a, 10000);    /* node A, clock ahead */
		eb = wj_hlc_recv(&b, ea, 9000); /* node B, clock behind */
		assert_true(eb > ea);
		ec = wj_hlc_tick(&b, 9001);
		assert_true(ec > eb);
		assert_int_equal(wj_hlc_ms(ec), 10000);
		assert_int_equal(COUNTER(ec), 2);
	}
	/* Overflow in recv also carries into the milliseconds. */
	s = HLC(7000, 0xffff);
	h = wj_hlc_recv(&s, HLC(7000, 0xffff), 7000);
	assert_int_equal(h, HLC(7001, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tick_follows_wall_clock),
		cmocka_unit_test(test_tick_strictly_increasing),
		cmocka_unit_test(test_counter_overflow),
		cmocka_unit_test(test_recv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
