/* Civil dates in UTC+8 (date.h).  Day numbers come from Howard Hinnant's
 * days_from_civil / civil_from_days, so nothing here depends on the libc
 * time zone database or on TZ. Invalid inputs map to 0 ("no date"), -1
 * (day numbers, weekdays) or 0 (instants), never to a plausible date. */
#include "core/date.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define DAY_SECONDS 86400
#define MIN_YEAR 1970
#define MAX_YEAR 9999

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

bool wj_date_valid(wj_date_t d)
{
	int y = d / 10000, m = d / 100 % 100, day = d % 100;

	if (d <= 0 || y < MIN_YEAR || y > MAX_YEAR || m < 1 || m > 12)
		return false;
	return day >= 1 && day <= month_days(y, m);
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Last day number the dates cover: 9999-12-31. */
static int32_t max_days(void)
{
	return (int32_t)days_from_civil(MAX_YEAR, 12, 31);
}

int32_t wj_date_to_days(wj_date_t d)
{
	if (!wj_date_valid(d))
		return -1;
	return (int32_t)days_from_civil(d / 10000, d / 100 % 100, d % 100);
}

wj_date_t wj_date_from_days(int32_t days)
{
	int64_t z, era, doe, yoe, y, doy, mp, day, m;

	if (days < 0 || days > max_days())
		return 0;
	z = (int64_t)days + 719468;
	era = z / 146097;   /* z >= 0 here */
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	day = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	return (wj_date_t)(y * 10000 + m * 100 + day);
}

wj_date_t wj_date_from_unix(int64_t t)
{
	int64_t local, days;

	if (t > INT64_MAX - WJ_TZ_OFFSET_SECONDS)
		return 0;
	local = t + WJ_TZ_OFFSET_SECONDS;
	/* Floor division: instants before the epoch are out of range, but
	 * must not round towards 1970-01-01. */
	days = local / DAY_SECONDS;
	if (local % DAY_SECONDS < 0)
		days--;
	if (days < 0 || days > max_days())
		return 0;
	return wj_date_from_days((int32_t)days);
}

int64_t wj_date_to_unix(wj_date_t d)
{
	int32_t days = wj_date_to_days(d);

	if (days < 0)
		return 0;
	return (int64_t)days * DAY_SECONDS - WJ_TZ_OFFSET_SECONDS;
}

wj_date_t wj_date_add_days(wj_date_t d, int32_t n)
{
	int64_t days = wj_date_to_days(d);

	if (days < 0)
		return 0;
	days += n;
	if (days < 0 || days > max_days())
		return 0;
	return wj_date_from_days((int32_t)days);
}

int wj_date_weekday(wj_date_t d)
{
	int32_t days = wj_date_to_days(d);

	if (days < 0)
		return -1;
	return (int)((days + 4) % 7);   /* 1970-01-01 was a Thursday */
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int num(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int wj_date_parse(const char *s, wj_date_t *out)
{
	size_t len;
	wj_date_t d;

	if (!s)
		return WJ_EINVAL;
	len = strlen(s);
	if (len == 10 && s[4] == '-' && s[7] == '-' && digits(s, 4) &&
	    digits(s + 5, 2) && digits(s + 8, 2))
		d = num(s, 4) * 10000 + num(s + 5, 2) * 100 + num(s + 8, 2);
	else if (len == 8 && digits(s, 8))
		d = num(s, 8);
	else
		return WJ_EINVAL;
	if (!wj_date_valid(d))
		return WJ_EINVAL;
	*out = d;
	return 0;
}

void wj_date_format(wj_date_t d, char buf[11])
{
	if (d == 0) {
		buf[0] = '\0';
		return;
	}
	/* Invalid dates are still shown as they are, to help whoever reads
	 * the log; anything too wide for the buffer is "?". */
	if (d < 0 || d > 99999999) {
		strcpy(buf, "?");
		return;
	}
	snprintf(buf, 11, "%04d-%02d-%02d", d / 10000, d / 100 % 100, d % 100);
}
