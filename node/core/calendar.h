/* Working days (工作日): weekends and public holidays are off, make-up
 * workdays (调休) are on.  The calendar is set by the state each year and
 * distributed down the tree; for a year it does not hold, the plain weekday
 * rule applies (and wj_calendar_has_year() lets callers warn about it).
 *
 * Counting follows Chinese law: the day of acceptance is not counted, a
 * period starts the next day, and the due date is the last working day of
 * the limit. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/date.h"
#include "core/err.h"
#include "proto/wuji.pb-c.h"

typedef struct wj_calendar wj_calendar_t;

/* An empty calendar (weekday rule everywhere). Never NULL. */
wj_calendar_t *wj_calendar_new(void);
void wj_calendar_free(wj_calendar_t *cal);
/* Validates and adds (or replaces) one year: every holiday must be a date
 * of that year on a weekday, every make-up workday a date of that year on
 * a weekend, no date listed twice. */
int wj_calendar_set_year(wj_calendar_t *cal, const Wuji__CalendarYear *y,
			 wj_err_t *err);
bool wj_calendar_has_year(const wj_calendar_t *cal, int year);
bool wj_calendar_is_workday(const wj_calendar_t *cal, wj_date_t d);
/* The n-th working day after `from` (from itself not counted). n = 0
 * returns from. */
wj_date_t wj_calendar_add_workdays(const wj_calendar_t *cal, wj_date_t from,
				   uint32_t n);
/* Working days d with from < d <= to; 0 when to <= from. */
uint32_t wj_calendar_workdays_between(const wj_calendar_t *cal, wj_date_t from,
				      wj_date_t to);
