/* Unit tests for civil dates in UTC+8 (node/core/date.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/date.h"
#include "core/err.h"

static void test_valid(void **state)
{
	assert_true(wj_date_valid(19700101));
	assert_true(wj_date_valid(20260213));
	assert_true(wj_date_valid(20000229));    /* divisible by 400 */
	assert_true(wj_date_valid(20240229));
	assert_true(wj_date_valid(99991231));
	assert_false(wj_date_valid(21000229));   /* divisible by 100 */
	assert_false(wj_date_valid(20250229));
	assert_false(wj_date_valid(20260230));
	assert_false(wj_date_valid(20260431));
	assert_false(wj_date_valid(20261301));
	assert_false(wj_date_valid(20260001));
	assert_false(wj_date_valid(20260100));
	assert_false(wj_date_valid(19691231));
	assert_false(wj_date_valid(100000101));
	assert_false(wj_date_valid(0));
	assert_false(wj_date_valid(-20260213));
}

static void test_days(void **state)
{
	assert_int_equal(wj_date_to_days(19700101), 0);
	assert_int_equal(wj_date_to_days(19700102), 1);
	assert_int_equal(wj_date_to_days(20260213), 20497);
	assert_int_equal(wj_date_to_days(99991231), 2932896);
	assert_int_equal(wj_date_from_days(0), 19700101);
	assert_int_equal(wj_date_from_days(20497), 20260213);
	assert_int_equal(wj_date_from_days(2932896), 99991231);
	/* Out of range or invalid. */
	assert_int_equal(wj_date_from_days(-1), 0);
	assert_int_equal(wj_date_from_days(2932897), 0);
	assert_int_equal(wj_date_to_days(20260230), -1);
	assert_int_equal(wj_date_to_days(0), -1);
}

/* Every day from 1970 to 2110 and a sample up to 9999: the day number
 * round-trips, increases by one and the date is the next valid one. */
static void test_round_trip(void **state)
{
	wj_date_t prev = 19691231;
	int32_t last = wj_date_to_days(99991231);

	for (int32_t n = 0; n <= 51500; n++) {
		wj_date_t d = wj_date_from_days(n);

		assert_true(wj_date_valid(d));
		assert_true(d > prev);
		assert_int_equal(wj_date_to_days(d), n);
		assert_int_equal(wj_date_weekday(d), (n + 4) % 7);
		if (n > 0)
			assert_int_equal(wj_date_add_days(prev, 1), d);
		prev = d;
	}
	for (int32_t n = 51500; n <= last; n += 997) {
		wj_date_t d = wj_date_from_days(n);

		assert_true(wj_date_valid(d));
		assert_int_equal(wj_date_to_days(d), n);
	}
	/* Every valid YYYYMMDD of a few years maps to a distinct day. */
	for (int y = 1999; y <= 2001; y++) {
		int count = 0;

		for (int m = 1; m <= 12; m++)
			for (int day = 1; day <= 31; day++) {
				wj_date_t d = y * 10000 + m * 100 + day;

				if (!wj_date_valid(d))
					continue;
				count++;
				assert_int_equal(
					wj_date_from_days(wj_date_to_days(d)),
					d);
			}
		assert_int_equal(count, y == 2000 ? 366 : 365);
	}
}

static void test_weekday(void **state)
{
	assert_int_equal(wj_date_weekday(19700101), 4);  /* Thursday */
	assert_int_equal(wj_date_weekday(20260213), 5);  /* Friday */
	assert_int_equal(wj_date_weekday(20260214), 6);  /* Saturday */
	assert_int_equal(wj_date_weekday(20260104), 0);  /* Sunday */
	assert_int_equal(wj_date_weekday(20000101), 6);
	assert_int_equal(wj_date_weekday(20240229), 4);
	assert_int_equal(wj_date_weekday(99991231), 5);
	assert_int_equal(wj_date_weekday(20260230), -1);
}

static void test_unix(void **state)
{
	/* The date in China changes at 16:00 UTC. */
	assert_int_equal(wj_date_from_unix(1770998399), 20260213);
	assert_int_equal(wj_date_from_unix(1770998400), 20260214);
	assert_int_equal(wj_date_to_unix(20260214), 1770998400);
	assert_int_equal(wj_date_to_unix(20260213), 1770998400 - 86400);
	assert_int_equal(wj_date_from_unix(0), 19700101);
	assert_int_equal(wj_date_from_unix(951825600), 20000229);
	/* 1970-01-01 00:00 in China is 1969-12-31T16:00:00Z. */
	assert_int_equal(wj_date_to_unix(19700101), -28800);
	assert_int_equal(wj_date_from_unix(-28800), 19700101);
	assert_int_equal(wj_date_from_unix(-28801), 0);
	assert_int_equal(wj_date_from_unix(INT64_MAX), 0);
	assert_int_equal(wj_date_from_unix(INT64_MIN), 0);
	assert_int_equal(wj_date_to_unix(20260230), 0);
	/* Each midnight maps back to its date, the second before to the
	 * day before. */
	for (wj_date_t d = 20251225; d != 20260110;
	     d = wj_date_add_days(d, 1)) {
		int64_t t = wj_date_to_unix(d);

		assert_int_equal(wj_date_from_unix(t), d);
		assert_int_equal(wj_date_from_unix(t + 86399), d);
		assert_int_equal(wj_date_from_unix(t - 1),
				 wj_date_add_days(d, -1));
	}
}

static void test_add_days(void **state)
{
	assert_int_equal(wj_date_add_days(20260213, 0), 20260213);
	assert_int_equal(wj_date_add_days(20260228, 1), 20260301);
	assert_int_equal(wj_date_add_days(20240228, 1), 20240229);
	assert_int_equal(wj_date_add_days(20251231, 1), 20260101);
	assert_int_equal(wj_date_add_days(20260101, -1), 20251231);
	assert_int_equal(wj_date_add_days(20260213, 365), 20270213);
	assert_int_equal(wj_date_add_days(20260301, -1), 20260228);
	/* Past the ends of the range, or from an invalid date. */
	assert_int_equal(wj_date_add_days(99991231, 1), 0);
	assert_int_equal(wj_date_add_days(19700101, -1), 0);
	assert_int_equal(wj_date_add_days(20260213, INT32_MAX), 0);
	assert_int_equal(wj_date_add_days(20260213, INT32_MIN), 0);
	assert_int_equal(wj_date_add_days(20260230, 1), 0);
}

static void test_parse(void **state)
{
	wj_date_t d = 0;

	assert_int_equal(wj_date_parse("2026-02-13", &d), 0);
	assert_int_equal(d, 20260213);
	assert_int_equal(wj_date_parse("20240229", &d), 0);
	assert_int_equal(d, 20240229);
	assert_int_equal(wj_date_parse("1970-01-01", &d), 0);
	assert_int_equal(d, 19700101);

	d = 12345;
	assert_int_equal(wj_date_parse("2026-02-30", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("20260230", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("2025-02-29", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("2026-13-01", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("1969-12-31", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("2026-2-13", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("2026/02/13", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("2026-02-13 ", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse(" 20260213", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("2026021", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("202602130", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("+2026-02-13", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("2026-0a-13", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("-0260213", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse("", &d), WJ_EINVAL);
	assert_int_equal(wj_date_parse(NULL, &d), WJ_EINVAL);
	assert_int_equal(d, 12345);  /* untouched on failure */
}

static void test_format(void **state)
{
	char buf[11];
	wj_date_t back;

	wj_date_format(20260213, buf);
	assert_string_equal(buf, "2026-02-13");
	wj_date_format(19700101, buf);
	assert_string_equal(buf, "1970-01-01");
	wj_date_format(99991231, buf);
	assert_string_equal(buf, "9999-12-31");
	wj_date_format(0, buf);
	assert_string_equal(buf, "");
	wj_date_format(-5, buf);
	assert_int_equal(strlen(buf) < 11, 1);
	wj_date_format(2147483647, buf);
	assert_int_equal(strlen(buf) < 11, 1);
	for (wj_date_t d = 20231220; d != 20240310;
	     d = wj_date_add_days(d, 1)) {
		wj_date_format(d, buf);
		assert_int_equal(wj_date_parse(buf, &back), 0);
		assert_int_equal(back, d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_weekday),
		cmocka_unit_test(test_unix),
		cmocka_unit_test(test_add_days),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
