/* The calendar file (wj_calendar_parse in catalog.h): years of holidays and
 * make-up workdays as the State Council publishes them.  Each date is
 * checked where it stands so a message names its line; each year then goes
 * through wj_calendar_set_year() on a scratch calendar, so the file can
 * never hold a year the daemon would refuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/calendar.h"
#include "core/catalog.h"
#include "core/yaml_doc.h"

#define YEAR_MIN 1970
#define YEAR_MAX 9999

static const char *const root_keys[] = { "years", NULL };
static const char *const year_keys[] = {
	"year", "source", "holidays", "workdays", NULL,
};

static const char *const weekdays[] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday",
};

struct ctx {
	wj_yaml_t *y;
	wj_arena_t *a;
	wj_err_t *err;
	int year;
	size_t *year_line;   /* line of each year given so far, 0 = none */
	/* Line where each day of the year was listed, 0 = not yet: catches
	 * a day given twice, even inside two overlapping ranges. */
	size_t line[366];
};

static size_t seq_len(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top -
			seq->data.sequence.items.start);
}

static yaml_node_t *seq_item(struct ctx *c, yaml_node_t *seq, size_t i)
{
	return yaml_document_get_node(&c->y->doc,
				      seq->data.sequence.items.start[i]);
}

static bool weekend(wj_date_t d)
{
	int w = wj_date_weekday(d);

	return w == 0 || w == 6;
}

/* Copies s[0..n) without surrounding blanks into buf; false when it does
 * not fit (no date is that long). */
static bool trimmed(char *buf, size_t size, const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= size)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return true;
}

static int date_of(struct ctx *c, yaml_node_t *n, const char *path,
		   const char *s, size_t len, bool range_ok, wj_date_t *out)
{
	char buf[16];
	wj_date_t d;

	if (!trimmed(buf, sizeof(buf), s, len) || wj_date_parse(buf, &d) != 0)
		return wj_yaml_error(c->y, n, path, c->err,
				     "\"%.*s\" is not a date; write YYYY-MM-DD%s",
				     len > 40 ? 40 : (int)len, s,
				     range_ok ? " or a range "
				     "YYYY-MM-DD..YYYY-MM-DD" : "");
	if (d / 10000 != c->year)
		return wj_yaml_error(c->y, n, path, c->err,
				     "%s is not in %d; list it under year %d",
				     buf, c->year, d / 10000);
	*out = d;
	return 0;
}

/* Records day d as listed on n's line, refusing a second listing. */
static int mark(struct ctx *c, yaml_node_t *n, const char *path, wj_date_t d)
{
	int32_t doy = wj_date_to_days(d) - wj_date_to_days(c->year * 10000 + 101);
	char buf[11];

	if (wj_fails_assert(doy >= 0 && doy < 366))
		return WJ_EINTERNAL;
	if (c->line[doy]) {
		wj_date_format(d, buf);
		return wj_yaml_error(c->y, n, path, c->err,
				     "%s is already listed on line %zu; list "
				     "each day once, as a holiday or as a "
				     "workday", buf, c->line[doy]);
	}
	c->line[doy] = wj_yaml_line(n);
	return 0;
}

static int add(struct ctx *c, int32_t **arr, size_t *n, wj_date_t d)
{
	int32_t *slot = wj_arena_push(c->a, arr, n, sizeof(*slot));

	*slot = d;
	return 0;
}

static int holiday(struct ctx *c, yaml_node_t *n, const char *path,
		   Wuji__CalendarYear *y)
{
	const char *s, *dots;
	wj_date_t from, to, d;
	size_t before = y->n_holidays;
	char buf[11];
	int rc;

	if ((rc = wj_yaml_expect(c->y, n, YAML_SCALAR_NODE, path, c->err)))
		return rc;
	s = wj_yaml_scalar(n);
	dots = strstr(s, "..");
	if (!dots) {
		if ((rc = date_of(c, n, path, s, strlen(s), true, &d)))
			return rc;
		if (weekend(d)) {
			wj_date_format(d, buf);
			return wj_yaml_error(c->y, n, path, c->err,
					     "%s is a %s, off anyway; list only "
					     "weekdays as holidays (a range "
					     "may span a weekend)", buf,
					     weekdays[wj_date_weekday(d)]);
		}
		if ((rc = mark(c, n, path, d)))
			return rc;
		return add(c, &y->holidays, &y->n_holidays, d);
	}
	if ((rc = date_of(c, n, path, s, (size_t)(dots - s), true, &from)) ||
	    (rc = date_of(c, n, path, dots + 2, strlen(dots + 2), true,
				   &to)))
		return rc;
	if (to < from)
		return wj_yaml_error(c->y, n, path, c->err,
				     "the range ends before it starts; write "
				     "FIRST..LAST");
	/* Both ends lie in one year, so this runs at most 366 times. */
	for (d = from; d <= to; d = wj_date_add_days(d, 1)) {
		if (weekend(d))
			continue;
		if ((rc = mark(c, n, path, d)))
			return rc;
		add(c, &y->holidays, &y->n_holidays, d);
	}
	if (y->n_holidays == before)
		return wj_yaml_error(c->y, n, path, c->err,
				     "the range holds only weekend days, which "
				     "are off anyway; remove it");
	return 0;
}

static int workday(struct ctx *c, yaml_node_t *n, const char *path,
		   Wuji__CalendarYear *y)
{
	const char *s;
	wj_date_t d;
	char buf[11];
	int rc;

	if ((rc = wj_yaml_expect(c->y, n, YAML_SCALAR_NODE, path, c->err)))
		return rc;
	s = wj_yaml_scalar(n);
	if ((rc = date_of(c, n, path, s, strlen(s), false, &d)))
		return rc;
	if (!weekend(d)) {
		wj_date_format(d, buf);
		return wj_yaml_error(c->y, n, path, c->err,
				     "%s is a %s, a working day anyway; list "
				     "only weekend days as make-up workdays",
				     buf, weekdays[wj_date_weekday(d)]);
	}
	if ((rc = mark(c, n, path, d)))
		return rc;
	return add(c, &y->workdays, &y->n_workdays, d);
}

static int dates(struct ctx *c, yaml_node_t *map, const char *path,
		 const char *key, Wuji__CalendarYear *y,
		 int (*one)(struct ctx *, yaml_node_t *, const char *,
			    Wuji__CalendarYear *))
{
	yaml_node_t *seq = wj_yaml_get(c->y, map, key);
	char name[64];
	int rc;

	snprintf(name, sizeof(name), "%s.%s", path, key);
	if (!seq)
		return 0;
	if ((rc = wj_yaml_expect(c->y, seq, YAML_SEQUENCE_NODE, name, c->err)))
		return rc;
	for (size_t i = 0; i < seq_len(seq); i++) {
		snprintf(name, sizeof(name), "%s.%s[%zu]", path, key, i);
		if ((rc = one(c, seq_item(c, seq, i), name, y)))
			return rc;
	}
	return 0;
}

static int cmp_date(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

static int parse_year(struct ctx *c, yaml_node_t *n, const char *path,
		      wj_calendar_t *scratch, Wuji__CalendarYear *y)
{
	const char *source = NULL;
	uint64_t year = 0;
	wj_err_t cerr = { 0 };
	int rc;

	if ((rc = wj_yaml_check_keys(c->y, n, path, year_keys, c->err)) ||
	    (rc = wj_yaml_uint(c->y, n, "year", path, true, YEAR_MIN, YEAR_MAX,
			       &year, c->err)) ||
	    (rc = wj_yaml_str(c->y, n, "source", path, false, &source,
			      c->err)))
		return rc;
	if (source && strlen(source) > WJ_TEXT_MAX) {
		char name[64];

		snprintf(name, sizeof(name), "%s.source", path);
		return wj_yaml_error(c->y, wj_yaml_get(c->y, n, "source"),
				     name, c->err, "is %zu bytes long; the "
				     "limit is %d bytes: shorten it",
				     strlen(source), WJ_TEXT_MAX);
	}
	if (c->year_line[year - YEAR_MIN]) {
		char name[64];

		snprintf(name, sizeof(name), "%s.year", path);
		return wj_yaml_error(c->y, wj_yaml_get(c->y, n, "year"), name,
				     c->err, "%llu is already given on line %zu; "
				     "give each year once",
				     (unsigned long long)year,
				     c->year_line[year - YEAR_MIN]);
	}
	c->year_line[year - YEAR_MIN] = wj_yaml_line(n);
	c->year = (int)year;
	y->year = (int32_t)year;
	memset(c->line, 0, sizeof(c->line));
	if ((rc = dates(c, n, path, "holidays", y, holiday)) ||
	    (rc = dates(c, n, path, "workdays", y, workday)))
		return rc;
	/* Ranges and lists may come in any order; store them sorted. */
	if (y->n_holidays)
		qsort(y->holidays, y->n_holidays, sizeof(*y->holidays),
		      cmp_date);
	if (y->n_workdays)
		qsort(y->workdays, y->n_workdays, sizeof(*y->workdays),
		      cmp_date);
	if (wj_calendar_set_year(scratch, y, &cerr) != 0)
		return wj_yaml_error(c->y, n, path, c->err, "%s", cerr.msg);
	return 0;
}

int wj_calendar_parse(const char *file, const char *buf, size_t len,
		      wj_arena_t *arena, Wuji__Calendar **out, wj_err_t *err)
{
	wj_yaml_t y;
	struct ctx *c;
	Wuji__Calendar *cal;
	wj_calendar_t *scratch = NULL;
	yaml_node_t *root, *seq;
	size_t *year_line = NULL;
	char path[32];
	int rc;

	rc = wj_yaml_load(&y, file, buf, len, err);
	if (rc)
		return rc;
	c = calloc(1, sizeof(*c));
	year_line = calloc(YEAR_MAX - YEAR_MIN + 1, sizeof(*year_line));
	scratch = wj_calendar_new();
	if (!c || !year_line) {
		rc = wj_err_set(err, WJ_EINTERNAL, "%s: out of memory",
				y.file);
		goto out;
	}
	c->y = &y;
	c->year_line = year_line;
	c->a = arena;
	c->err = err;
	root = wj_yaml_root(&y);
	if ((rc = wj_yaml_check_keys(&y, root, "", root_keys, err)))
		goto out;
	seq = wj_yaml_get(&y, root, "years");
	if (!seq) {
		rc = wj_yaml_error(&y, root, "years", err,
				   "required field missing; the calendar "
				   "lists its years under \"years:\"");
		goto out;
	}
	if ((rc = wj_yaml_expect(&y, seq, YAML_SEQUENCE_NODE, "years", err)))
		goto out;
	if (seq_len(seq) == 0) {
		rc = wj_yaml_error(&y, seq, "years", err,
				   "must list at least one year");
		goto out;
	}
	cal = wj_arena_alloc(arena, sizeof(*cal));
	wuji__calendar__init(cal);
	for (size_t i = 0; i < seq_len(seq); i++) {
		yaml_node_t *n = seq_item(c, seq, i);
		Wuji__CalendarYear **slot;

		snprintf(path, sizeof(path), "years[%zu]", i);
		slot = wj_arena_push(arena, &cal->years, &cal->n_years,
				     sizeof(*slot));
		*slot = wj_arena_alloc(arena, sizeof(**slot));
		wuji__calendar_year__init(*slot);
		if ((rc = parse_year(c, n, path, scratch, *slot)))
			goto out;
	}
	*out = cal;
out:
	wj_calendar_free(scratch);
	free(year_line);
	free(c);
	wj_yaml_free(&y);
	return rc;
}
