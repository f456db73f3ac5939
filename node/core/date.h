/* Civil dates in China Standard Time (UTC+8, no daylight saving).
 *
 * A wj_date_t is YYYYMMDD as an int (20260213): readable in logs, sortable,
 * and what the calendar files and the JSON output use.  Day arithmetic goes
 * through a day number (days since 1970-01-01). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef int32_t wj_date_t;

#define WJ_TZ_OFFSET_SECONDS (8 * 3600)

bool wj_date_valid(wj_date_t d);  /* years 1970..9999, real month and day */
/* The date in UTC+8 of a Unix instant. */
wj_date_t wj_date_from_unix(int64_t t);
/* Midnight (UTC+8) at the start of d, as a Unix instant. */
int64_t wj_date_to_unix(wj_date_t d);
int32_t wj_date_to_days(wj_date_t d);     /* days since 1970-01-01 */
wj_date_t wj_date_from_days(int32_t days);
wj_date_t wj_date_add_days(wj_date_t d, int32_t n);
int wj_date_weekday(wj_date_t d);         /* 0 Sunday .. 6 Saturday */
/* Parses "2026-02-13" (or "20260213"); returns 0 or WJ_EINVAL. */
int wj_date_parse(const char *s, wj_date_t *out);
/* "2026-02-13" into buf (11 bytes); "" for 0. */
void wj_date_format(wj_date_t d, char buf[11]);
