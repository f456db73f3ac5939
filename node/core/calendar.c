/* The working-day calendar (calendar.h): one 366-bit map per loaded year
 * in a small sorted array, and the weekday rule for every other year.
 * Counting goes a year at a time, so even a limit of millions of days
 * costs a few thousand steps. */
#include "core/calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_YEAR 1970
#define MAX_YEAR 9999

struct year_map {
	int year;
	int32_t jan1;                /* day number of 1 January */
	int ndays;                   /* 365 or 366 */
	uint8_t work[(366 + 7) / 8]; /* bit set: a working day */
};

struct wj_calendar {
	struct year_map *years;      /* sorted by year */
	size_t n, cap;
};

static const char *const weekday_name[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday",
};

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p) {
		fprintf(stderr, "wuji: out of memory (calendar, %zu bytes)\n",
			size);
		abort();
	}
	return p;
}

wj_calendar_t *wj_calendar_new(void)
{
	wj_calendar_t *cal = xrealloc(NULL, sizeof(*cal));

	memset(cal, 0, sizeof(*cal));
	return cal;
}

void wj_calendar_free(wj_calendar_t *cal)
{
	if (!cal)
		return;
	free(cal->years);
	free(cal);
}

static bool weekday_rule(int32_t days)
{
	int wd = (int)((days + 4) % 7);   /* 1970-01-01 was a Thursday */

	return wd >= 1 && wd <= 5;
}

/* Weekday-rule working days among day numbers [0, x). */
static int64_t weekdays_before(int64_t x)
{
	/* Day 0 is a Thursday: Th F Sa Su M Tu W. */
	static const int prefix[8] = { 0, 1, 2, 2, 2, 3, 4, 5 };

	return x / 7 * 5 + prefix[x % 7];
}

static const struct year_map *find_year(const wj_calendar_t *cal, int year)
{
	size_t lo = 0, hi = cal ? cal->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cal->years[mid].year == year)
			return &cal->years[mid];
		if (cal->years[mid].year < year)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool bit(const struct year_map *y, int i)
{
	return y->work[i / 8] >> (i % 8) & 1;
}

static void set_bit(struct year_map *y, int i, bool on)
{
	if (on)
		y->work[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		y->work[i / 8] &= (uint8_t)~(1u << (i % 8));
}

static int32_t jan1(int year)
{
	return wj_date_to_days(year * 10000 + 101);
}

static int32_t last_day_of_year(int year)
{
	return wj_date_to_days(year * 10000 + 1231);
}

/* Checks one listed date; `holiday` says which list it came from. */
static int check_date(int year, int32_t d, bool holiday, uint8_t *seen,
		      const uint8_t *seen_holiday, wj_err_t *err)
{
	const char *what = holiday ? "a holiday" : "a make-up workday";
	char buf[11];
	int wd, i;

	if (!wj_date_valid(d))
		return wj_err_set(err, WJ_EINVAL,
			"%d is listed as %s of %d but is not a date: write "
			"real dates of that year (YYYY-MM-DD)",
			d, what, year);
	wj_date_format(d, buf);
	if (d / 10000 != year)
		return wj_err_set(err, WJ_EINVAL,
			"%s is listed as %s of %d but belongs to %d: list "
			"each date under its own year", buf, what, year,
			d / 10000);
	wd = wj_date_weekday(d);
	if (holiday && (wd == 0 || wd == 6))
		return wj_err_set(err, WJ_EINVAL,
			"%s is listed as a holiday but is a %s: list only "
			"weekdays as holidays and weekends as make-up "
			"workdays", buf, weekday_name[wd]);
	if (!holiday && wd >= 1 && wd <= 5)
		return wj_err_set(err, WJ_EINVAL,
			"%s is listed as a make-up workday but is a %s: list "
			"only weekends as make-up workdays and weekdays as "
			"holidays", buf, weekday_name[wd]);
	i = wj_date_to_days(d) - jan1(year);
	if (seen[i / 8] >> (i % 8) & 1) {
		bool was_holiday = seen_holiday[i / 8] >> (i % 8) & 1;

		return wj_err_set(err, WJ_EINVAL,
			"%s is listed twice (%s): list each date once, as "
			"either a holiday or a make-up workday", buf,
			was_holiday && holiday ? "twice as a holiday" :
			!was_holiday && !holiday ?
				"twice as a make-up workday" :
				"as a holiday and as a make-up workday");
	}
	seen[i / 8] |= (uint8_t)(1u << (i % 8));
	return 0;
}

int wj_calendar_set_year(wj_calendar_t *cal, const Wuji__CalendarYear *y,
			 wj_err_t *err)
{
	uint8_t seen[(366 + 7) / 8] = { 0 };
	uint8_t seen_holiday[(366 + 7) / 8] = { 0 };
	struct year_map m;
	size_t pos;
	int rc;

	if (!cal || !y)
		return wj_err_set(err, WJ_EBADREQ,
			"no calendar year given: pass a year with its "
			"holidays and make-up workdays");
	if (y->year < MIN_YEAR || y->year > MAX_YEAR)
		return wj_err_set(err, WJ_EINVAL,
			"calendar year %d is out of range: give a year from "
			"%d to %d", y->year, MIN_YEAR, MAX_YEAR);
	if ((y->n_holidays && !y->holidays) || (y->n_workdays && !y->workdays))
		return wj_err_set(err, WJ_EBADREQ,
			"calendar year %d has a date count but no dates: "
			"rebuild the message", y->year);

	for (size_t i = 0; i < y->n_holidays; i++) {
		/* seen doubles as seen_holiday: every earlier date was
		 * a holiday. */
		rc = check_date(y->year, y->holidays[i], true, seen, seen,
				err);
		if (rc)
			return rc;
	}
	/* Holidays are all in `seen` now: whatever a workday collides with
	 * is either a holiday or an earlier workday. */
	memcpy(seen_holiday, seen, sizeof(seen));
	for (size_t i = 0; i < y->n_workdays; i++) {
		rc = check_date(y->year, y->workdays[i], false, seen,
				seen_holiday, err);
		if (rc)
			return rc;
	}

	memset(&m, 0, sizeof(m));
	m.year = y->year;
	m.jan1 = jan1(y->year);
	m.ndays = last_day_of_year(y->year) - m.jan1 + 1;
	for (int i = 0; i < m.ndays; i++)
		set_bit(&m, i, weekday_rule(m.jan1 + i));
	for (size_t i = 0; i < y->n_holidays; i++)
		set_bit(&m, wj_date_to_days(y->holidays[i]) - m.jan1, false);
	for (size_t i = 0; i < y->n_workdays; i++)
		set_bit(&m, wj_date_to_days(y->workdays[i]) - m.jan1, true);

	for (pos = 0; pos < cal->n && cal->years[pos].year < m.year; pos++)
		;
	if (pos < cal->n && cal->years[pos].year == m.year) {
		cal->years[pos] = m;
		return 0;
	}
	if (cal->n == cal->cap) {
		cal->cap = cal->cap ? cal->cap * 2 : 4;
		cal->years = xrealloc(cal->years,
				      cal->cap * sizeof(*cal->years));
	}
	memmove(&cal->years[pos + 1], &cal->years[pos],
		(cal->n - pos) * sizeof(*cal->years));
	cal->years[pos] = m;
	cal->n++;
	return 0;
}

bool wj_calendar_has_year(const wj_calendar_t *cal, int year)
{
	return find_year(cal, year) != NULL;
}

static bool workday_days(const wj_calendar_t *cal, int32_t days)
{
	wj_date_t d = wj_date_from_days(days);
	const struct year_map *y = find_year(cal, d / 10000);

	if (y)
		return bit(y, days - y->jan1);
	return weekday_rule(days);
}

bool wj_calendar_is_workday(const wj_calendar_t *cal, wj_date_t d)
{
	int32_t days = wj_date_to_days(d);

	if (days < 0)
		return false;
	return workday_days(cal, days);
}

/* Working days among day numbers [a, b], both inside one year. */
static int64_t count_in_year(const wj_calendar_t *cal, int year, int32_t a,
			     int32_t b)
{
	const struct year_map *y = find_year(cal, year);
	int64_t n = 0;

	if (!y)
		return weekdays_before((int64_t)b + 1) - weekdays_before(a);
	for (int32_t i = a - y->jan1; i <= b - y->jan1; i++)
		n += bit(y, i);
	return n;
}

wj_date_t wj_calendar_add_workdays(const wj_calendar_t *cal, wj_date_t from,
				   uint32_t n)
{
	int32_t start = wj_date_to_days(from);
	int64_t left = n;
	int year;

	if (start < 0)
		return 0;
	if (n == 0)
		return from;
	year = from / 10000;
	/* Whole years first (never more than MAX_YEAR - MIN_YEAR steps),
	 * then day by day inside the year that holds the answer. */
	for (int32_t a = start + 1;; year++) {
		int32_t end;
		int64_t have;

		if (year > MAX_YEAR)
			return 0;   /* beyond the dates we can name */
		end = last_day_of_year(year);
		have = count_in_year(cal, year, a, end);
		if (have < left) {
			left -= have;
			a = end + 1;
			continue;
		}
		for (int32_t d = a; d <= end; d++) {
			if (workday_days(cal, d) && --left == 0)
				return wj_date_from_days(d);
		}
		/* count_in_year() and workday_days() disagree: a bug. */
		wj_require(!"add_workdays: year count mismatch");
	}
}

uint32_t wj_calendar_workdays_between(const wj_calendar_t *cal, wj_date_t from,
				      wj_date_t to)
{
	int32_t a = wj_date_to_days(from), b = wj_date_to_days(to);
	int64_t n = 0;

	if (a < 0 || b < 0 || b <= a)
		return 0;
	a++;
	for (int year = from / 10000; a <= b; year++) {
		int32_t end = last_day_of_year(year);

		if (end > b)
			end = b;
		n += count_in_year(cal, year, a, end);
		a = end + 1;
	}
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}
