/* Tests of the catalog and calendar files (catalog.c, calendar_file.c,
 * yaml_doc.c): the shipped samples, item validation, and that every error
 * names the file, the line and the field. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/calendar.h"
#include "core/catalog.h"
#include "core/names.h"

/* ---------------------------------------------------------------- helpers */

static bool file_exists(const char *path)
{
	return access(path, R_OK) == 0;
}

/* deploy/samples: $WJ_SAMPLES under meson test; otherwise found from this
 * source file's path or from the executable (build dir inside the tree). */
static const char *samples_dir(void)
{
	static char dir[PATH_MAX];
	char probe[PATH_MAX + 32], exe[PATH_MAX];
	const char *env = getenv("WJ_SAMPLES");
	const char *slash;
	ssize_t n;

	if (env && *env)
		return env;
	slash = strrchr(__FILE__, '/');
	snprintf(dir, sizeof(dir), "%.*s/../../deploy/samples",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	snprintf(probe, sizeof(probe), "%s/catalog.yaml", dir);
	if (file_exists(probe))
		return dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		snprintf(dir, sizeof(dir), "%.*s/../../deploy/samples",
			 slash ? (int)(slash - exe) : 1, slash ? exe : ".");
	}
	return dir;
}

static char *read_sample(const char *name, size_t *len)
{
	char path[PATH_MAX + 64];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", samples_dir(), name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s (set WJ_SAMPLES to deploy/samples)",
			 path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int parse_catalog(const char *text, wj_arena_t *a, Wuji__Catalog **c,
			 wj_err_t *err)
{
	/* Exactly strlen bytes: the parser must not rely on a NUL. */
	return wj_catalog_parse("bad.yaml", text, strlen(text), a, c, err);
}

/* Asserts that parsing fails and the message holds "bad.yaml:LINE: PATH"
 * and, when given, `also`. */
static void expect_error(bool calendar, const char *text, size_t line,
			 const char *path, const char *also)
{
	wj_arena_t a;
	wj_err_t err = { 0 };
	Wuji__Catalog *cat = NULL;
	Wuji__Calendar *cal = NULL;
	char want[128];
	int rc;

	wj_arena_init(&a, 0);
	if (calendar)
		rc = wj_calendar_parse("bad.yaml", text, strlen(text), &a,
				       &cal, &err);
	else
		rc = parse_catalog(text, &a, &cat, &err);
	if (rc >= 0)
		fail_msg("parse accepted:\n%s", text);
	assert_null(cat);
	assert_null(cal);
	assert_int_equal(err.code, rc);
	snprintf(want, sizeof(want), "bad.yaml:%zu: %s", line, path);
	if (!strstr(err.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, want);
	if (also && !strstr(err.msg, also))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, also);
	wj_arena_free(&a);
}

#define ITEM_HEAD                                                            \
	"# test catalog\n"                          /* 1 */                    \
	"items:\n"                                  /* 2 */                    \
	"  - code: \"X-1\"\n"                       /* 3 */                    \
	"    name: 测试事项\n"                      /* 4 */                    \
	"    kind: promised\n"                      /* 5 */

#define ITEM_TAIL                                                            \
	"    tasks:\n"                                                          \
	"      - { department: 县市场监督管理局, level: county }\n"

/* ------------------------------------------------------ the sample files */

static bool has_level(const Wuji__CatalogItem *it, Wuji__Level l,
		      bool tasks, bool apply)
{
	for (size_t i = 0; tasks && i < it->n_tasks; i++)
		if (it->tasks[i]->level == l)
			return true;
	for (size_t i = 0; apply && i < it->n_apply_levels; i++)
		if (it->apply_levels[i] == l)
			return true;
	return false;
}

static void test_sample_catalog(void **state)
{
	wj_arena_t a;
	wj_err_t err = { 0 };
	Wuji__Catalog *cat = NULL;
	size_t len, joint = 0, immediate = 0;
	char *buf = read_sample("catalog.yaml", &len);
	const Wuji__CatalogItem *first;

	wj_arena_init(&a, 0);
	if (wj_catalog_parse("catalog.yaml", buf, len, &a, &cat, &err) != 0)
		fail_msg("sample catalog: %s", err.msg);
	assert_non_null(cat);
	assert_true(cat->n_items >= 12);

	for (int l = WUJI__LEVEL__PROVINCE; l <= WUJI__LEVEL__VILLAGE; l++) {
		bool seen = false;

		for (size_t i = 0; i < cat->n_items; i++)
			seen |= has_level(cat->items[i], (Wuji__Level)l, true,
					  true);
		if (!seen)
			fail_msg("no item at level %s",
				 wj_level_name((Wuji__Level)l));
	}
	for (size_t i = 0; i < cat->n_items; i++) {
		const Wuji__CatalogItem *it = cat->items[i];

		assert_int_equal(wj_catalog_item_validate(it, &err), 0);
		if (has_level(it, WUJI__LEVEL__COUNTY, true, false) &&
		    has_level(it, WUJI__LEVEL__CITY, true, false))
			joint++;
		if (it->kind == WUJI__ITEM_KIND__ITEM_IMMEDIATE) {
			immediate++;
			assert_int_equal(it->promised_days, 0);
		} else {
			assert_true(it->promised_days < it->statutory_days);
		}
		assert_true(it->statutory_days <= 45);
		assert_true(it->item_type[0] != '\0');
	}
	assert_true(joint >= 2);
	assert_true(immediate >= 1);

	/* The demo item: a county item applied for at the county, one
	 * county task, two required materials of which one is waivable. */
	first = cat->items[0];
	assert_int_equal(first->kind, WUJI__ITEM_KIND__ITEM_PROMISED);
	assert_int_equal(first->n_apply_levels, 1);
	assert_int_equal(first->apply_levels[0], WUJI__LEVEL__COUNTY);
	assert_int_equal(first->n_tasks, 1);
	assert_int_equal(first->tasks[0]->level, WUJI__LEVEL__COUNTY);
	assert_int_equal(first->n_materials, 2);
	assert_true(first->materials[0]->required &&
		    first->materials[1]->required);
	assert_int_equal(first->materials[0]->waivable +
			 first->materials[1]->waivable, 1);
	assert_string_equal(first->code, "330000-XK-00101");

	/* A village item handled at the village, and county items that a
	 * village may take in. */
	{
		bool village_task = false, county_from_village = false;

		for (size_t i = 0; i < cat->n_items; i++) {
			const Wuji__CatalogItem *it = cat->items[i];

			village_task |= has_level(it, WUJI__LEVEL__VILLAGE,
						  true, false);
			county_from_village |=
				has_level(it, WUJI__LEVEL__COUNTY, true,
					  false) &&
				has_level(it, WUJI__LEVEL__VILLAGE, false,
					  true);
		}
		assert_true(village_task);
		assert_true(county_from_village);
	}
	wj_arena_free(&a);
	free(buf);
}

static void test_sample_calendar(void **state)
{
	wj_arena_t a;
	wj_err_t err = { 0 };
	Wuji__Calendar *cal = NULL;
	wj_calendar_t *c;
	size_t len;
	char *buf = read_sample("calendar-2026.yaml", &len);
	const Wuji__CalendarYear *y;

	wj_arena_init(&a, 0);
	if (wj_calendar_parse("calendar-2026.yaml", buf, len, &a, &cal,
			      &err) != 0)
		fail_msg("sample calendar: %s", err.msg);
	assert_int_equal(cal->n_years, 1);
	y = cal->years[0];
	assert_int_equal(y->year, 2026);
	/* Weekdays off: 2 + 6 + 1 + 3 + 1 + 1 + 5; weekend days in the
	 * ranges are not stored. */
	assert_int_equal(y->n_holidays, 19);
	assert_int_equal(y->n_workdays, 6);
	for (size_t i = 1; i < y->n_holidays; i++)
		assert_true(y->holidays[i - 1] < y->holidays[i]);
	assert_int_equal(y->holidays[0], 20260101);
	assert_int_equal(y->holidays[18], 20261007);
	assert_int_equal(y->workdays[0], 20260104);
	assert_int_equal(y->workdays[5], 20261010);

	c = wj_calendar_new();
	assert_int_equal(wj_calendar_set_year(c, y, &err), 0);
	/* domain.md: accepted Fri 13 Feb with 5 working days -> Sat 14
	 * (make-up) is day 1, 24..27 are days 2..5. */
	assert_int_equal(wj_calendar_add_workdays(c, 20260213, 5), 20260227);
	assert_true(wj_calendar_is_workday(c, 20260214));
	assert_false(wj_calendar_is_workday(c, 20260216));
	assert_false(wj_calendar_is_workday(c, 20261001));
	assert_true(wj_calendar_is_workday(c, 20260920));
	assert_true(wj_calendar_is_workday(c, 20260618));
	assert_false(wj_calendar_is_workday(c, 20260619));
	wj_calendar_free(c);
	wj_arena_free(&a);
	free(buf);
}

/* ------------------------------------------------------- catalog errors */

static void test_catalog_minimal(void **state)
{
	wj_arena_t a;
	wj_err_t err = { 0 };
	Wuji__Catalog *cat = NULL;
	const char *text =
		ITEM_HEAD
		"    promised_days: 3\n"
		"    statutory_days: 15\n"
		"    apply_at: [village, county]\n"
		ITEM_TAIL
		"    materials:\n"
		"      - { name: 居民身份证 }\n"
		"      - name: 经营场所证明\n"
		"        waivable: true\n"
		"  - code: X-2\n"
		"    name: 挂失\n"
		"    kind: immediate\n"
		"    tasks: [{ department: 派出所, level: township }]\n";

	wj_arena_init(&a, 0);
	if (parse_catalog(text, &a, &cat, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cat->n_items, 2);
	assert_string_equal(cat->items[0]->code, "X-1");
	assert_string_equal(cat->items[0]->name, "测试事项");
	assert_int_equal(cat->items[0]->promised_days, 3);
	assert_int_equal(cat->items[0]->statutory_days, 15);
	assert_int_equal(cat->items[0]->n_apply_levels, 2);
	assert_int_equal(cat->items[0]->apply_levels[0], WUJI__LEVEL__VILLAGE);
	assert_int_equal(cat->items[0]->n_materials, 2);
	/* required defaults to true, waivable to false */
	assert_true(cat->items[0]->materials[0]->required);
	assert_false(cat->items[0]->materials[0]->waivable);
	assert_true(cat->items[0]->materials[1]->waivable);
	assert_string_equal(cat->items[0]->legal_basis, "");
	assert_int_equal(cat->items[1]->kind, WUJI__ITEM_KIND__ITEM_IMMEDIATE);
	assert_int_equal(cat->items[1]->promised_days, 0);
	assert_int_equal(cat->items[1]->n_apply_levels, 0);
	wj_arena_free(&a);
}

static void test_catalog_wrong_type(void **state)
{
	expect_error(false, ITEM_HEAD
		     "    promised_days: three\n"   /* 6 */
		     "    statutory_days: 15\n"
		     ITEM_TAIL,
		     6, "items[0].promised_days",
		     "expected a whole number 0..3650, got \"three\"");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: [15]\n"   /* 7 */
		     ITEM_TAIL,
		     7, "items[0].statutory_days", "got a list");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     "    tasks: 县市场监督管理局\n", /* 8 */
		     8, "items[0].tasks", "expected a list");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     ITEM_TAIL
		     "    materials:\n"
		     "      - { name: 身份证, required: yes please }\n", /* 11 */
		     11, "items[0].materials[0].required",
		     "expected true or false");
	expect_error(false, "items: {a: 1}\n", 1, "items", "expected a list");
	expect_error(false, "- just a list\n", 1, "", "expected a mapping");
	expect_error(false, ITEM_HEAD
		     "    promised_days: -1\n"
		     "    statutory_days: 15\n"
		     ITEM_TAIL, 6, "items[0].promised_days", "\"-1\"");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 3651\n"
		     ITEM_TAIL, 7, "items[0].statutory_days", "\"3651\"");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 99999999999999999999999\n"
		     ITEM_TAIL, 7, "items[0].statutory_days", NULL);
}

static void test_catalog_missing_field(void **state)
{
	expect_error(false,
		     "items:\n"
		     "  - code: X-1\n"              /* 2: the item's line */
		     "    kind: promised\n"
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     ITEM_TAIL,
		     2, "items[0].name", "required field missing");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     ITEM_TAIL
		     "  - code: X-2\n", 3, "items[0].statutory_days",
		     "required field missing");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n",
		     3, "items[0]", "tasks");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     "    tasks:\n"
		     "      - { department: 县市场监督管理局 }\n", /* 9 */
		     9, "items[0].tasks[0].level", "required field missing");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     "    tasks: []\n", 8, "items[0].tasks", "at least 1");
	expect_error(false, "# nothing\nother: 1\n", 2, "other",
		     "unknown key");
	expect_error(false, "items: []\n", 1, "items", "at least 1");
	expect_error(false, ITEM_HEAD
		     "    name: again\n"
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     ITEM_TAIL, 6, "items[0].name",
		     "given twice (first on line 4)");
	expect_error(false,
		     "items:\n"
		     "  - code: X-1\n"
		     "    legal_basis: ~\n"
		     "    name: \"\"\n"
		     "    kind: immediate\n"
		     ITEM_TAIL, 4, "items[0].name", "must not be empty");
	/* An empty required value is not a value. */
	expect_error(false,
		     "items:\n"
		     "  - code: X-1\n"
		     "    name:\n"
		     "    kind: promised\n"
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     ITEM_TAIL, 3, "items[0].name", "must not be empty");
}

static void test_catalog_unknown_key(void **state)
{
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     "    promised_dayz: 4\n"       /* 8 */
		     ITEM_TAIL,
		     8, "items[0].promised_dayz", "unknown key");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     "    tasks:\n"
		     "      - department: 县市场监督管理局\n"
		     "        level: county\n"
		     "      - department: 市市场监督管理局\n"
		     "        levle: city\n",       /* 12 */
		     12, "items[0].tasks[1].levle", "known keys");
	expect_error(false, "itmes:\n  - code: X\n", 1, "itmes",
		     "unknown key");
}

static void test_catalog_duplicate_code(void **state)
{
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     ITEM_TAIL
		     "  - code: X-2\n"              /* 10 */
		     "    name: 其他\n"
		     "    kind: immediate\n"
		     ITEM_TAIL
		     "  - code: \"X-1\"\n"          /* 15 */
		     "    name: 又一个\n"
		     "    kind: immediate\n"
		     ITEM_TAIL,
		     15, "items[2].code", "items[0] (line 3)");
}

static void test_catalog_days(void **state)
{
	expect_error(false, ITEM_HEAD
		     "    promised_days: 20\n"      /* 6 */
		     "    statutory_days: 15\n"
		     ITEM_TAIL,
		     6, "items[0].promised_days", "statutory");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 0\n"
		     "    statutory_days: 15\n"
		     ITEM_TAIL, 6, "items[0].promised_days", "at least 1");
	expect_error(false,
		     "items:\n"
		     "  - code: X-1\n"
		     "    name: 挂失\n"
		     "    kind: immediate\n"
		     "    promised_days: 2\n"       /* 5 */
		     ITEM_TAIL, 5, "items[0].promised_days", "immediate");
	expect_error(false,
		     "items:\n"
		     "  - code: X-1\n"
		     "    name: 挂失\n"
		     "    kind: quick\n"            /* 4 */
		     ITEM_TAIL, 4, "items[0].kind",
		     "expected immediate or promised, got \"quick\"");
}

static void test_catalog_levels_materials(void **state)
{
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     "    tasks:\n"
		     "      - { department: 县局, level: countyy }\n", /* 9 */
		     9, "items[0].tasks[0].level", "\"countyy\"");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     "    apply_at:\n"
		     "      - village\n"
		     "      - town\n"               /* 10 */
		     ITEM_TAIL, 10, "items[0].apply_at[1]", "\"town\"");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     "    apply_at: [county, county]\n"
		     ITEM_TAIL, 8, "items[0].apply_at[1]", "twice");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     ITEM_TAIL
		     "    materials:\n"
		     "      - { name: 身份证 }\n"
		     "      - { name: 照片 }\n"
		     "      - { name: 身份证, required: true }\n", /* 13 */
		     13, "items[0].materials[2]", "materials[0]");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     ITEM_TAIL
		     "    materials:\n"
		     "      - { name: 照片, required: false, waivable: true }\n",
		     11, "items[0].materials[0].waivable", "required");
	expect_error(false, ITEM_HEAD
		     "    promised_days: 3\n"
		     "    statutory_days: 15\n"
		     "    item_type: \"99\"\n"
		     ITEM_TAIL, 8, "items[0].item_type", "GB/T 39046");
	/* Control characters and over-long text. */
	expect_error(false,
		     "items:\n"
		     "  - code: X-1\n"
		     "    name: \"bad\\u0007bell\"\n"
		     "    kind: immediate\n"
		     ITEM_TAIL, 3, "items[0].name", "control character");
	{
		char text[2048], name[600];

		memset(name, 'n', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		snprintf(text, sizeof(text),
			 "items:\n  - code: X-1\n    name: %s\n"
			 "    kind: immediate\n" ITEM_TAIL, name);
		expect_error(false, text, 3, "items[0].name", "512");
	}
	/* 17 tasks */
	{
		char text[4096];
		size_t used;

		used = (size_t)snprintf(text, sizeof(text), "%s",
					"items:\n  - code: X-1\n    name: n\n"
					"    kind: immediate\n    tasks:\n");
		for (int i = 0; i < 17; i++)
			used += (size_t)snprintf(text + used,
						 sizeof(text) - used,
						 "      - { department: d%d, "
						 "level: city }\n", i);
		/* A block list starts at its first "-", line 6. */
		expect_error(false, text, 6, "items[0].tasks", "at most 16");
	}
}

static void test_catalog_syntax(void **state)
{
	wj_arena_t a;
	wj_err_t err = { 0 };
	Wuji__Catalog *cat = NULL;
	const char *bad = "items:\n  - code: [unclosed\n    name: x\n";
	const char *two = ITEM_HEAD "    promised_days: 3\n"
		"    statutory_days: 15\n" ITEM_TAIL "---\nitems: []\n";

	wj_arena_init(&a, 0);
	assert_int_equal(parse_catalog(bad, &a, &cat, &err), WJ_EBADREQ);
	assert_non_null(strstr(err.msg, "bad.yaml:"));
	assert_non_null(strstr(err.msg, "syntax error"));
	assert_null(cat);
	assert_true(parse_catalog("", &a, &cat, &err) < 0);
	assert_non_null(strstr(err.msg, "empty"));
	assert_true(parse_catalog("# only a comment\n", &a, &cat, &err) < 0);
	assert_true(wj_catalog_parse("none.yaml", NULL, 0, &a, &cat, &err) < 0);
	assert_non_null(strstr(err.msg, "none.yaml"));
	assert_true(parse_catalog(two, &a, &cat, &err) < 0);
	assert_non_null(strstr(err.msg, "bad.yaml:11:"));
	assert_non_null(strstr(err.msg, "second"));
	/* Invalid UTF-8 is refused by the reader, with the file name. */
	assert_true(parse_catalog("items:\n  - code: \xff\xfe\n", &a, &cat,
				  &err) < 0);
	assert_non_null(strstr(err.msg, "bad.yaml"));
	assert_null(cat);
	wj_arena_free(&a);
}

/* An alias loop or a repeated alias must end in an error, not a hang. */
static void test_catalog_aliases(void **state)
{
	wj_arena_t a;
	wj_err_t err = { 0 };
	Wuji__Catalog *cat = NULL;
	const char *loop = "items: &x [*x]\n";
	const char *rep = "items:\n  - &i { code: A, name: n, kind: immediate,"
		" tasks: [{department: d, level: city}] }\n  - *i\n";

	wj_arena_init(&a, 0);
	assert_true(parse_catalog(loop, &a, &cat, &err) < 0);
	assert_true(parse_catalog(rep, &a, &cat, &err) < 0);
	assert_non_null(strstr(err.msg, "items[1].code"));
	assert_null(cat);
	wj_arena_free(&a);
}

/* ---------------------------------------------------- item validation */

struct item_fixture {
	Wuji__CatalogItem it;
	Wuji__CatalogTask t[17], *tp[17];
	Wuji__CatalogMaterial m[65], *mp[65];
	Wuji__Level apply[2];
};

static void fixture(struct item_fixture *f)
{
	wuji__catalog_item__init(&f->it);
	f->it.code = "330000-XK-1";
	f->it.name = "食品生产许可";
	f->it.kind = WUJI__ITEM_KIND__ITEM_PROMISED;
	f->it.promised_days = 10;
	f->it.statutory_days = 20;
	for (int i = 0; i < 17; i++) {
		wuji__catalog_task__init(&f->t[i]);
		f->t[i].department = "县市场监督管理局";
		f->t[i].level = WUJI__LEVEL__COUNTY;
		f->tp[i] = &f->t[i];
	}
	f->it.tasks = f->tp;
	f->it.n_tasks = 2;
	f->t[1].department = "市市场监督管理局";
	f->t[1].level = WUJI__LEVEL__CITY;
	for (int i = 0; i < 65; i++) {
		static char names[65][8];

		snprintf(names[i], sizeof(names[i]), "m%d", i);
		wuji__catalog_material__init(&f->m[i]);
		f->m[i].name = names[i];
		f->m[i].required = true;
		f->mp[i] = &f->m[i];
	}
	f->it.materials = f->mp;
	f->it.n_materials = 3;
	f->apply[0] = WUJI__LEVEL__COUNTY;
	f->apply[1] = WUJI__LEVEL__VILLAGE;
	f->it.apply_levels = f->apply;
	f->it.n_apply_levels = 2;
}

static void refuse(struct item_fixture *f, const char *also)
{
	wj_err_t err = { 0 };

	assert_int_not_equal(wj_catalog_item_validate(&f->it, &err), 0);
	assert_true(err.code < 0);
	if (also && !strstr(err.msg, also))
		fail_msg("message \"%s\" lacks \"%s\"", err.msg, also);
	fixture(f);
}

static void test_item_validate(void **state)
{
	static struct item_fixture f;
	static char long_name[WJ_TEXT_MAX + 2];
	wj_err_t err = { 0 };

	fixture(&f);
	assert_int_equal(wj_catalog_item_validate(&f.it, &err), 0);
	f.it.kind = WUJI__ITEM_KIND__ITEM_IMMEDIATE;
	f.it.promised_days = 0;
	f.it.statutory_days = 0;
	assert_int_equal(wj_catalog_item_validate(&f.it, &err), 0);
	f.it.n_materials = 0;
	f.it.n_apply_levels = 0;
	assert_int_equal(wj_catalog_item_validate(&f.it, &err), 0);
	fixture(&f);
	f.it.n_tasks = 16;
	f.it.n_materials = 64;
	f.it.promised_days = f.it.statutory_days = WJ_ITEM_DAYS_MAX;
	assert_int_equal(wj_catalog_item_validate(&f.it, &err), 0);
	fixture(&f);

	assert_int_not_equal(wj_catalog_item_validate(NULL, &err), 0);
	f.it.code = "";
	refuse(&f, "code");
	f.it.name = "";
	refuse(&f, "name");
	f.it.name = "tab\there";
	refuse(&f, "control");
	f.it.name = "bad \xc3 utf8";
	refuse(&f, "UTF-8");
	f.it.name = "overlong \xc0\xaf";
	refuse(&f, "UTF-8");
	f.it.name = "c1 \xc2\x85";
	refuse(&f, "control");
	memset(long_name, 'x', WJ_TEXT_MAX + 1);
	f.it.name = long_name;
	refuse(&f, "512");
	long_name[WJ_TEXT_MAX] = '\0';
	f.it.name = long_name;
	assert_int_equal(wj_catalog_item_validate(&f.it, &err), 0);
	fixture(&f);
	f.it.kind = WUJI__ITEM_KIND__ITEM_KIND_NONE;
	refuse(&f, "kind");
	f.it.kind = (Wuji__ItemKind)7;
	refuse(&f, "kind");
	f.it.kind = WUJI__ITEM_KIND__ITEM_IMMEDIATE;
	f.it.promised_days = 3;
	refuse(&f, "immediate");
	f.it.promised_days = 0;
	refuse(&f, "at least 1");
	f.it.promised_days = 21;
	refuse(&f, "statutory");
	f.it.statutory_days = WJ_ITEM_DAYS_MAX + 1;
	refuse(&f, "limit");
	f.it.n_tasks = 0;
	refuse(&f, "task");
	f.it.n_tasks = 17;
	refuse(&f, "16");
	f.t[1].level = WUJI__LEVEL__LEVEL_NONE;
	refuse(&f, "level");
	f.t[1].level = (Wuji__Level)6;
	refuse(&f, "level");
	f.t[0].department = "";
	refuse(&f, "department");
	f.m[2].name = "m0";
	refuse(&f, "twice");
	f.m[1].name = "";
	refuse(&f, "name");
	f.it.n_materials = 65;
	refuse(&f, "64");
	f.apply[1] = (Wuji__Level)0;
	refuse(&f, "level");
	f.apply[0] = (Wuji__Level)9;
	refuse(&f, "level");
	f.it.item_type = "0\x01";
	refuse(&f, "item_type");
}

/* ------------------------------------------------------ calendar errors */

#define YEAR_HEAD                                                            \
	"years:\n"                                  /* 1 */                    \
	"  - year: 2026\n"                          /* 2 */

static void test_calendar_minimal(void **state)
{
	wj_arena_t a;
	wj_err_t err = { 0 };
	Wuji__Calendar *cal = NULL;
	const char *text = YEAR_HEAD
		"    holidays: [\"2026-10-07\", 2026-01-01..2026-01-04, "
		"20260406]\n"
		"    workdays: [2026-10-10]\n"
		"  - year: 2027\n"
		"    holidays: []\n";

	wj_arena_init(&a, 0);
	if (wj_calendar_parse("bad.yaml", text, strlen(text), &a, &cal,
			      &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(cal->n_years, 2);
	/* Sorted, weekend days of the range skipped. */
	assert_int_equal(cal->years[0]->n_holidays, 4);
	assert_int_equal(cal->years[0]->holidays[0], 20260101);
	assert_int_equal(cal->years[0]->holidays[1], 20260102);
	assert_int_equal(cal->years[0]->holidays[2], 20260406);
	assert_int_equal(cal->years[0]->holidays[3], 20261007);
	assert_int_equal(cal->years[0]->n_workdays, 1);
	assert_int_equal(cal->years[1]->year, 2027);
	assert_int_equal(cal->years[1]->n_holidays, 0);
	wj_arena_free(&a);
}

static void test_calendar_errors(void **state)
{
	/* bad dates */
	expect_error(true, YEAR_HEAD
		     "    holidays:\n"
		     "      - 2026-01-01\n"
		     "      - 2026-02-30\n",        /* 5 */
		     5, "years[0].holidays[1]", "\"2026-02-30\" is not a date");
	expect_error(true, YEAR_HEAD
		     "    workdays: [soon]\n", 3, "years[0].workdays[0]",
		     "not a date");
	expect_error(true, YEAR_HEAD
		     "    holidays: [2026-01-01..2026-13-01]\n", 3,
		     "years[0].holidays[0]", "not a date");
	expect_error(true, YEAR_HEAD
		     "    holidays: [2026-01-05..2026-01-02]\n", 3,
		     "years[0].holidays[0]", "ends before");
	/* weekend holiday, weekday workday */
	expect_error(true, YEAR_HEAD
		     "    holidays:\n"
		     "      - 2026-01-02\n"
		     "      - 2026-01-03\n",        /* 5 */
		     5, "years[0].holidays[1]", "Saturday");
	expect_error(true, YEAR_HEAD
		     "    holidays: [2026-01-02]\n"
		     "    workdays: [2026-01-04, 2026-01-05]\n", /* 4 */
		     4, "years[0].workdays[1]", "Monday");
	expect_error(true, YEAR_HEAD
		     "    holidays: [2026-01-03..2026-01-04]\n", 3,
		     "years[0].holidays[0]", "weekend");
	/* outside the year */
	expect_error(true, YEAR_HEAD
		     "    holidays: [2025-12-31]\n", 3,
		     "years[0].holidays[0]", "not in 2026");
	expect_error(true, YEAR_HEAD
		     "    holidays: [2026-12-31..2027-01-01]\n", 3,
		     "years[0].holidays[0]", "not in 2026");
	/* a day twice, even through overlapping ranges */
	expect_error(true, YEAR_HEAD
		     "    holidays:\n"
		     "      - 2026-02-16..2026-02-20\n"
		     "      - 2026-02-20..2026-02-23\n", /* 5 */
		     5, "years[0].holidays[1]", "line 4");
	/* years */
	expect_error(true, YEAR_HEAD
		     "    holidays: [2026-01-01]\n"
		     "  - year: 2026\n",            /* 4 */
		     4, "years[1].year", "line 2");
	expect_error(true, "years:\n  - year: twenty\n", 2, "years[0].year",
		     "whole number");
	expect_error(true, "years:\n  - source: x\n", 2, "years[0].year",
		     "required field missing");
	expect_error(true, YEAR_HEAD "    holiday: [2026-01-01]\n", 3,
		     "years[0].holiday", "unknown key");
	expect_error(true, YEAR_HEAD "    holidays: 2026-01-01\n", 3,
		     "years[0].holidays", "expected a list");
	expect_error(true, YEAR_HEAD "    holidays: [[2026-01-01]]\n", 3,
		     "years[0].holidays[0]", "expected a single value");
	expect_error(true, "years: []\n", 1, "years", "at least one");
	expect_error(true, "year: 2026\n", 1, "year", "unknown key");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_catalog),
		cmocka_unit_test(test_sample_calendar),
		cmocka_unit_test(test_catalog_minimal),
		cmocka_unit_test(test_catalog_wrong_type),
		cmocka_unit_test(test_catalog_missing_field),
		cmocka_unit_test(test_catalog_unknown_key),
		cmocka_unit_test(test_catalog_duplicate_code),
		cmocka_unit_test(test_catalog_days),
		cmocka_unit_test(test_catalog_levels_materials),
		cmocka_unit_test(test_catalog_syntax),
		cmocka_unit_test(test_catalog_aliases),
		cmocka_unit_test(test_item_validate),
		cmocka_unit_test(test_calendar_minimal),
		cmocka_unit_test(test_calendar_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
