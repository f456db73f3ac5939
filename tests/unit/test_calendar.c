/* Unit tests for the working-day calendar (node/core/calendar.c), built
 * on the State Council's 2026 holiday notice (domain.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/calendar.h"
#include "core/date.h"
#include "core/err.h"

/* Weekday dates of the 2026 holiday ranges, and the make-up workdays. */
static int32_t holidays_2026[] = {
	20260101, 20260102,                                  /* New Year */
	20260216, 20260217, 20260218, 20260219, 20260220,    /* Spring */
	20260223,                                            /* Festival */
	20260406,                                            /* Qingming */
	20260501, 20260504, 20260505,                        /* Labour */
	20260619,                                            /* Dragon Boat */
	20260925,                                            /* Mid-Autumn */
	20261001, 20261002, 20261005, 20261006, 20261007,    /* National */
};
static int32_t workdays_2026[] = {
	20260104, 20260214, 20260228, 20260509, 20260920, 20261010,
};

static Wuji__CalendarYear year_2026(void)
{
	Wuji__CalendarYear y = WUJI__CALENDAR_YEAR__INIT;

	y.year = 2026;
	y.n_holidays = sizeof(holidays_2026) / sizeof(holidays_2026[0]);
	y.holidays = holidays_2026;
	y.n_workdays = sizeof(workdays_2026) / sizeof(workdays_2026[0]);
	y.workdays = workdays_2026;
	return y;
}

static int setup(void **state)
{
	wj_calendar_t *cal = wj_calendar_new();
	Wuji__CalendarYear y = year_2026();
	wj_err_t err;

	wj_err_clear(&err);
	if (wj_calendar_set_year(cal, &y, &err) != 0) {
		print_error("2026 refused: %s\n", err.msg);
		wj_calendar_free(cal);
		return -1;
	}
	*state = cal;
	return 0;
}

static int teardown(void **state)
{
	wj_calendar_free(*state);
	return 0;
}

static void test_is_workday_2026(void **state)
{
	const wj_calendar_t *cal = *state;

	assert_true(wj_calendar_has_year(cal, 2026));
	assert_false(wj_calendar_has_year(cal, 2025));
	assert_false(wj_calendar_has_year(cal, 2027));
	/* Holidays, including the weekend days inside the ranges. */
	assert_false(wj_calendar_is_workday(cal, 20260101));
	assert_false(wj_calendar_is_workday(cal, 20260103));
	assert_false(wj_calendar_is_workday(cal, 20260215));
	assert_false(wj_calendar_is_workday(cal, 20260216));
	assert_false(wj_calendar_is_workday(cal, 20260223));
	assert_false(wj_calendar_is_workday(cal, 20261001));
	assert_false(wj_calendar_is_workday(cal, 20261007));
	/* Make-up workdays. */
	assert_true(wj_calendar_is_workday(cal, 20260104));
	assert_true(wj_calendar_is_workday(cal, 20260214));
	assert_true(wj_calendar_is_workday(cal, 20260228));
	assert_true(wj_calendar_is_workday(cal, 20260509));
	assert_true(wj_calendar_is_workday(cal, 20260920));
	assert_true(wj_calendar_is_workday(cal, 20261010));
	/* Ordinary days. */
	assert_true(wj_calendar_is_workday(cal, 20260213));
	assert_true(wj_calendar_is_workday(cal, 20260224));
	assert_true(wj_calendar_is_workday(cal, 20261008));
	assert_false(wj_calendar_is_workday(cal, 20260221));  /* Sat */
	assert_false(wj_calendar_is_workday(cal, 20261011));  /* Sun */
	/* Not a date. */
	assert_false(wj_calendar_is_workday(cal, 20260230));
	assert_false(wj_calendar_is_workday(cal, 0));
}

/* domain.md: accepted Friday 13 February with 5 working days, Saturday
 * 14 February is day 1, due Friday 27 February. */
static void test_spring_festival_example(void **state)
{
	const wj_calendar_t *cal = *state;

	assert_int_equal(wj_calendar_add_workdays(cal, 20260213, 1), 20260214);
	assert_int_equal(wj_calendar_add_workdays(cal, 20260213, 2), 20260224);
	assert_int_equal(wj_calendar_add_workdays(cal, 20260213, 5), 20260227);
	assert_int_equal(wj_calendar_workdays_between(cal, 20260213, 20260227),
			 5);
	assert_int_equal(wj_calendar_workdays_between(cal, 20260213, 20260226),
			 4);
	assert_int_equal(wj_calendar_workdays_between(cal, 20260214, 20260223),
			 0);
	/* Day of acceptance not counted, n = 0 is the day itself. */
	assert_int_equal(wj_calendar_add_workdays(cal, 20260213, 0), 20260213);
	assert_int_equal(wj_calendar_workdays_between(cal, 20260213, 20260213),
			 0);
	assert_int_equal(wj_calendar_workdays_between(cal, 20260227, 20260213),
			 0);
}

static void test_national_day(void **state)
{
	const wj_calendar_t *cal = *state;

	/* 1–7 October off: the next working day after 30 September. */
	assert_int_equal(wj_calendar_add_workdays(cal, 20260930, 1), 20261008);
	assert_int_equal(wj_calendar_add_workdays(cal, 20260930, 2), 20261009);
	/* Saturday 10 October is a make-up workday. */
	assert_int_equal(wj_calendar_add_workdays(cal, 20260930, 3), 20261010);
	assert_int_equal(wj_calendar_add_workdays(cal, 20260930, 4), 20261012);
	assert_int_equal(wj_calendar_workdays_between(cal, 20260930, 20261010),
			 3);
	/* Labour Day: 30 April + 5 → 6, 7, 8, Sat 9, 11 May. */
	assert_int_equal(wj_calendar_add_workdays(cal, 20260430, 5), 20260511);
}

static void test_year_boundaries(void **state)
{
	const wj_calendar_t *cal = *state;

	/* 2025 is not loaded (weekday rule); 2026 starts with holidays. */
	assert_int_equal(wj_calendar_add_workdays(cal, 20251231, 1), 20260104);
	/* 2027 is not loaded: 1 January 2027 is an ordinary Friday. */
	assert_int_equal(wj_calendar_add_workdays(cal, 20261231, 1), 20270101);
	assert_int_equal(wj_calendar_workdays_between(cal, 20251231, 20261231),
			 248);
	assert_int_equal(wj_calendar_workdays_between(cal, 20241231, 20251231),
			 261);
	assert_int_equal(wj_calendar_workdays_between(cal, 20261231, 20271231),
			 261);
	assert_int_equal(wj_calendar_workdays_between(cal, 20200101, 20300101),
			 2596);
	assert_int_equal(wj_calendar_add_workdays(cal, 20200601, 300), 20210726);
	assert_int_equal(wj_calendar_add_workdays(cal, 20260101, 1000000),
			 58590214);
}

/* add_workdays and workdays_between are inverse, whatever the start. */
static void test_inverse(void **state)
{
	const wj_calendar_t *cal = *state;
	wj_date_t from = 20251201;

	for (int i = 0; i < 420; i++, from = wj_date_add_days(from, 1)) {
		for (uint32_t n = 1; n <= 40; n += 13) {
			wj_date_t due = wj_calendar_add_workdays(cal, from, n);

			assert_true(wj_date_valid(due));
			assert_true(wj_calendar_is_workday(cal, due));
			assert_int_equal(
				wj_calendar_workdays_between(cal, from, due),
				n);
			assert_int_equal(
				wj_calendar_workdays_between(
					cal, from, wj_date_add_days(due, -1)),
				n - 1);
		}
	}
}

static void test_not_loaded_uses_weekdays(void **state)
{
	wj_calendar_t *cal = wj_calendar_new();

	assert_false(wj_calendar_has_year(cal, 2026));
	/* Without the notice, 1 January 2026 (Thursday) is a workday and
	 * Saturday 14 February is not. */
	assert_true(wj_calendar_is_workday(cal, 20260101));
	assert_false(wj_calendar_is_workday(cal, 20260214));
	assert_true(wj_calendar_is_workday(cal, 20260216));
	assert_int_equal(wj_calendar_add_workdays(cal, 20260213, 5), 20260220);
	assert_int_equal(wj_calendar_add_workdays(cal, 20260213, 1), 20260216);
	assert_int_equal(wj_calendar_workdays_between(cal, 20260213, 20260220),
			 5);
	/* Whole weeks. */
	assert_int_equal(wj_calendar_workdays_between(cal, 20260101, 20260108),
			 5);
	assert_int_equal(wj_calendar_add_workdays(cal, 20260101, 50), 20260312);
	wj_calendar_free(cal);
}

static void test_range_limits(void **state)
{
	const wj_calendar_t *cal = *state;

	/* Nothing after 9999-12-31 can be named. */
	assert_int_equal(wj_calendar_add_workdays(cal, 99991230, 1), 99991231);
	assert_int_equal(wj_calendar_add_workdays(cal, 99991231, 1), 0);
	assert_int_equal(wj_calendar_add_workdays(cal, 99991224, 10), 0);
	assert_int_equal(wj_calendar_add_workdays(cal, 20260213, UINT32_MAX),
			 0);
	assert_int_equal(wj_calendar_add_workdays(cal, 20260230, 1), 0);
	assert_int_equal(wj_calendar_workdays_between(cal, 20260230, 20260301),
			 0);
	assert_int_equal(wj_calendar_workdays_between(cal, 19700101, 99991231),
			 2094913);
}

static void expect_refused(Wuji__CalendarYear *y, const char *needle)
{
	wj_calendar_t *cal = wj_calendar_new();
	wj_err_t err;

	wj_err_clear(&err);
	assert_int_equal(wj_calendar_set_year(cal, y, &err), WJ_EINVAL);
	assert_int_equal(err.code, WJ_EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("expected \"%s\" in: %s", needle, err.msg);
	/* Nothing was added. */
	assert_false(wj_calendar_has_year(cal, y->year));
	wj_calendar_free(cal);
}

static void test_set_year_refusals(void **state)
{
	Wuji__CalendarYear y = WUJI__CALENDAR_YEAR__INIT;
	int32_t h[3], w[3];

	y.holidays = h;
	y.workdays = w;

	y.year = 2026;
	y.n_holidays = 1;
	h[0] = 20260214;
	expect_refused(&y,
		"2026-02-14 is listed as a holiday but is a Saturday: list "
		"only weekdays as holidays and weekends as make-up workdays");

	y.n_holidays = 0;
	y.n_workdays = 1;
	w[0] = 20260213;
	expect_refused(&y, "2026-02-13 is listed as a make-up workday but is "
		"a Friday");

	y.n_workdays = 0;
	y.n_holidays = 1;
	h[0] = 20270101;
	expect_refused(&y, "2027-01-01 is listed as a holiday of 2026 but "
		"belongs to 2027");

	h[0] = 20260230;
	expect_refused(&y, "20260230");

	y.n_holidays = 2;
	h[0] = 20260216;
	h[1] = 20260216;
	expect_refused(&y, "2026-02-16 is listed twice (twice as a holiday)");

	y.n_holidays = 1;
	y.n_workdays = 2;
	w[0] = 20260214;
	w[1] = 20260214;
	expect_refused(&y, "2026-02-14 is listed twice (twice as a make-up "
		"workday)");

	/* The same date in both lists is also caught by the weekday check;
	 * either way it is refused and named. */
	y.n_holidays = 1;
	h[0] = 20260216;
	y.n_workdays = 1;
	w[0] = 20260216;
	expect_refused(&y, "2026-02-16");

	y.n_holidays = 0;
	y.n_workdays = 0;
	y.year = 1969;
	expect_refused(&y, "1969");
	y.year = 10000;
	expect_refused(&y, "10000");
}

static void test_set_year_replace_and_keep(void **state)
{
	wj_calendar_t *cal = wj_calendar_new();
	Wuji__CalendarYear y = year_2026();
	Wuji__CalendarYear bad = year_2026();
	Wuji__CalendarYear y27 = WUJI__CALENDAR_YEAR__INIT;
	Wuji__CalendarYear y25 = WUJI__CALENDAR_YEAR__INIT;
	int32_t bad_h[] = { 20260101, 20260103 };  /* Saturday */
	int32_t h27[] = { 20270101 };
	int32_t h25[] = { 20251001 };
	wj_err_t err;

	assert_int_equal(wj_calendar_set_year(cal, &y, &err), 0);
	/* A refused replacement leaves the loaded year as it was. */
	bad.holidays = bad_h;
	bad.n_holidays = 2;
	assert_int_equal(wj_calendar_set_year(cal, &bad, &err), WJ_EINVAL);
	assert_true(strstr(err.msg, "2026-01-03") != NULL);
	assert_true(wj_calendar_is_workday(cal, 20260214));
	assert_false(wj_calendar_is_workday(cal, 20260216));

	/* Years added out of order are all found. */
	y27.year = 2027;
	y27.holidays = h27;
	y27.n_holidays = 1;
	y25.year = 2025;
	y25.holidays = h25;
	y25.n_holidays = 1;
	assert_int_equal(wj_calendar_set_year(cal, &y27, NULL), 0);
	assert_int_equal(wj_calendar_set_year(cal, &y25, NULL), 0);
	assert_true(wj_calendar_has_year(cal, 2025));
	assert_true(wj_calendar_has_year(cal, 2027));
	assert_false(wj_calendar_is_workday(cal, 20270101));
	assert_false(wj_calendar_is_workday(cal, 20251001));
	assert_true(wj_calendar_is_workday(cal, 20251002));

	/* Replacing 2026 with an empty list restores the weekday rule. */
	y.n_holidays = 0;
	y.n_workdays = 0;
	assert_int_equal(wj_calendar_set_year(cal, &y, NULL), 0);
	assert_true(wj_calendar_has_year(cal, 2026));
	assert_true(wj_calendar_is_workday(cal, 20260216));
	assert_false(wj_calendar_is_workday(cal, 20260214));
	assert_int_equal(wj_calendar_workdays_between(cal, 20251231, 20261231),
			 261);
	/* Edge years are accepted. */
	y.year = 9999;
	assert_int_equal(wj_calendar_set_year(cal, &y, NULL), 0);
	y.year = 1970;
	assert_int_equal(wj_calendar_set_year(cal, &y, NULL), 0);
	wj_calendar_free(cal);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_workday_2026),
		cmocka_unit_test(test_spring_festival_example),
		cmocka_unit_test(test_national_day),
		cmocka_unit_test(test_year_boundaries),
		cmocka_unit_test(test_inverse),
		cmocka_unit_test(test_not_loaded_uses_weekdays),
		cmocka_unit_test(test_range_limits),
		cmocka_unit_test(test_set_year_refusals),
		cmocka_unit_test(test_set_year_replace_and_keep),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
