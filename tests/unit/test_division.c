/* Unit tests for division codes (node/core/division.c) and for the enum
 * names (node/core/names.c), which have no test program of their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/division.h"
#include "core/names.h"

#define PROVINCE 330000000000ULL
#define CITY 330100000000ULL
#define COUNTY 330106000000ULL
#define TOWNSHIP 330106001000ULL
#define VILLAGE 330106001001ULL

static void test_parse_valid(void **state)
{
	static const struct {
		const char *s;
		uint64_t code;
		wj_level_t level;
	} ok[] = {
		{ "330000000000", PROVINCE, WUJI__LEVEL__PROVINCE },
		{ "330100000000", CITY, WUJI__LEVEL__CITY },
		{ "330106000000", COUNTY, WUJI__LEVEL__COUNTY },
		{ "330106001000", TOWNSHIP, WUJI__LEVEL__TOWNSHIP },
		{ "330106001001", VILLAGE, WUJI__LEVEL__VILLAGE },
		{ "110101001001", 110101001001ULL, WUJI__LEVEL__VILLAGE },
		{ "820000000000", 820000000000ULL, WUJI__LEVEL__PROVINCE },
		{ "999999999999", 999999999999ULL, WUJI__LEVEL__VILLAGE },
		{ "330106100200", 330106100200ULL, WUJI__LEVEL__VILLAGE },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		uint64_t code = 7;
		wj_err_t err;
		char buf[13];

		wj_err_clear(&err);
		assert_int_equal(wj_division_parse(ok[i].s, &code, &err), 0);
		assert_int_equal(err.code, 0);
		assert_int_equal(code, ok[i].code);
		assert_true(wj_division_valid(code));
		assert_int_equal(wj_division_level(code), ok[i].level);
		wj_division_format(code, buf);
		assert_string_equal(buf, ok[i].s);
	}
}

static void expect_refused(const char *s, const char *needle)
{
	uint64_t code = 12345;
	wj_err_t err;

	wj_err_clear(&err);
	assert_int_equal(wj_division_parse(s, &code, &err), WJ_EINVAL);
	assert_int_equal(err.code, WJ_EINVAL);
	assert_int_equal(code, 12345);  /* untouched */
	if (!strstr(err.msg, needle))
		fail_msg("message for \"%s\" lacks \"%s\": %s", s, needle,
			 err.msg);
}

static void test_parse_invalid(void **state)
{
	uint64_t code;
	wj_err_t err;

	expect_refused("33010600100",
		"\"33010600100\" is not a division code: expected 12 digits "
		"(2 province, 2 city, 2 county, 3 township, 3 village), "
		"got 11");
	expect_refused("3301060010011", "got 13");
	expect_refused("", "12 digits");
	expect_refused("33010600100x", "not a digit");
	expect_refused(" 33010600100", "not a digit");
	expect_refused("-33010600100", "not a digit");
	expect_refused("000000000000", "province");
	expect_refused("050000000000", "province");
	expect_refused("330100000001",
		"the village part is 001 but the county part above it is "
		"zero");
	expect_refused("330006000000", "county part is 06 but the city part");
	expect_refused("330106000001", "village part is 001 but the "
		"township part");
	expect_refused("330100001000", "township part is 001 but the "
		"county part");
	/* A NULL err is allowed. */
	assert_int_equal(wj_division_parse("abc", &code, NULL), WJ_EINVAL);
	assert_int_equal(wj_division_parse(NULL, &code, &err), WJ_EINVAL);
}

static void test_valid_numbers(void **state)
{
	assert_true(wj_division_valid(VILLAGE));
	assert_false(wj_division_valid(0));
	assert_false(wj_division_valid(1000000000000ULL));  /* 13 digits */
	assert_false(wj_division_valid(UINT64_MAX));
	assert_false(wj_division_valid(330100000001ULL));
	assert_false(wj_division_valid(33010600100ULL));    /* province 03 */
	assert_int_equal(wj_division_level(330100000001ULL),
			 WUJI__LEVEL__LEVEL_NONE);
	assert_int_equal(wj_division_level(0), WUJI__LEVEL__LEVEL_NONE);
}

static void test_ancestor_parent(void **state)
{
	assert_int_equal(wj_division_ancestor(VILLAGE, WUJI__LEVEL__PROVINCE),
			 PROVINCE);
	assert_int_equal(wj_division_ancestor(VILLAGE, WUJI__LEVEL__CITY), CITY);
	assert_int_equal(wj_division_ancestor(VILLAGE, WUJI__LEVEL__COUNTY),
			 COUNTY);
	assert_int_equal(wj_division_ancestor(VILLAGE, WUJI__LEVEL__TOWNSHIP),
			 TOWNSHIP);
	assert_int_equal(wj_division_ancestor(VILLAGE, WUJI__LEVEL__VILLAGE),
			 VILLAGE);
	assert_int_equal(wj_division_ancestor(COUNTY, WUJI__LEVEL__COUNTY),
			 COUNTY);
	/* Below the code's own level. */
	assert_int_equal(wj_division_ancestor(COUNTY, WUJI__LEVEL__TOWNSHIP), 0);
	assert_int_equal(wj_division_ancestor(PROVINCE, WUJI__LEVEL__VILLAGE),
			 0);
	assert_int_equal(wj_division_ancestor(VILLAGE, WUJI__LEVEL__LEVEL_NONE),
			 0);
	assert_int_equal(wj_division_ancestor(330100000001ULL,
					      WUJI__LEVEL__PROVINCE), 0);

	assert_int_equal(wj_division_parent(VILLAGE), TOWNSHIP);
	assert_int_equal(wj_division_parent(TOWNSHIP), COUNTY);
	assert_int_equal(wj_division_parent(COUNTY), CITY);
	assert_int_equal(wj_division_parent(CITY), PROVINCE);
	assert_int_equal(wj_division_parent(PROVINCE), 0);
	assert_int_equal(wj_division_parent(0), 0);
	assert_int_equal(wj_division_parent(330100000001ULL), 0);
}

static void test_inside(void **state)
{
	assert_true(wj_division_inside(VILLAGE, VILLAGE));
	assert_true(wj_division_inside(VILLAGE, TOWNSHIP));
	assert_true(wj_division_inside(VILLAGE, COUNTY));
	assert_true(wj_division_inside(VILLAGE, CITY));
	assert_true(wj_division_inside(VILLAGE, PROVINCE));
	assert_true(wj_division_inside(COUNTY, PROVINCE));
	/* Higher levels are not inside lower ones. */
	assert_false(wj_division_inside(COUNTY, VILLAGE));
	assert_false(wj_division_inside(PROVINCE, CITY));
	/* Siblings and cousins. */
	assert_false(wj_division_inside(VILLAGE, 330106001002ULL));
	assert_false(wj_division_inside(VILLAGE, 330106002000ULL));
	assert_false(wj_division_inside(VILLAGE, 330102000000ULL));
	assert_false(wj_division_inside(VILLAGE, 330200000000ULL));
	assert_false(wj_division_inside(VILLAGE, 320000000000ULL));
	/* A numeric prefix that is not a tree prefix: 3301060010010 is
	 * not a thing, and 330106001001 is not inside 33010600100. */
	assert_false(wj_division_inside(VILLAGE, 33010600100ULL));
	/* Invalid codes are inside nothing and contain nothing. */
	assert_false(wj_division_inside(VILLAGE, 330100000001ULL));
	assert_false(wj_division_inside(330100000001ULL, PROVINCE));
	assert_false(wj_division_inside(0, 0));
}

static void test_format(void **state)
{
	char buf[13];

	wj_division_format(110000000000ULL, buf);
	assert_string_equal(buf, "110000000000");
	wj_division_format(0, buf);
	assert_string_equal(buf, "000000000000");
}

/* Every name parses back to its value, and unknown names are refused. */
static void test_names(void **state)
{
	static const char *const levels[] = {
		"province", "city", "county", "township", "village",
	};
	static const char *const statuses[] = {
		"received", "correction", "accepted", "paused", "approved",
		"denied", "delivered", "rejected", "withdrawn", "archived",
	};
	static const char *const events[] = {
		"submitted", "accepted", "correction", "supplied", "rejected",
		"paused", "resumed", "extended", "decided", "delivered",
		"withdrawn", "archived",
	};
	static const char *const verbs[] = {
		"submit", "accept", "correct", "supply", "reject", "pause",
		"resume", "extend", "decide", "deliver", "withdraw", "archive",
	};
	Wuji__Level lv;
	Wuji__CaseStatus st;
	Wuji__Warning w;
	Wuji__ItemKind ik;
	Wuji__IdType id;
	Wuji__Delivery dl;

	for (int i = 0; i < 5; i++) {
		assert_string_equal(wj_level_name((Wuji__Level)(i + 1)),
				    levels[i]);
		assert_int_equal(wj_level_parse(levels[i], &lv), 0);
		assert_int_equal(lv, i + 1);
	}
	assert_string_equal(wj_level_name(WUJI__LEVEL__LEVEL_NONE), "?");
	assert_int_equal(wj_level_parse("Province", &lv), WJ_EINVAL);
	assert_int_equal(wj_level_parse("", &lv), WJ_EINVAL);
	assert_int_equal(wj_level_parse(NULL, &lv), WJ_EINVAL);

	for (int i = 0; i < 10; i++) {
		assert_string_equal(wj_status_name((Wuji__CaseStatus)(i + 1)),
				    statuses[i]);
		assert_int_equal(wj_status_parse(statuses[i], &st), 0);
		assert_int_equal(st, i + 1);
	}
	assert_string_equal(wj_status_name((Wuji__CaseStatus)99), "?");
	assert_int_equal(wj_status_parse("accept", &st), WJ_EINVAL);

	for (int i = 0; i < 12; i++) {
		assert_string_equal(wj_event_name((Wuji__EventType)(i + 1)),
				    events[i]);
		assert_string_equal(wj_event_verb((Wuji__EventType)(i + 1)),
				    verbs[i]);
	}
	assert_string_equal(wj_event_name(WUJI__EVENT_TYPE__EV_NONE), "?");
	assert_string_equal(wj_event_name(WUJI__EVENT_TYPE__EV_CATALOG_ITEM), "catalog-item");
	assert_string_equal(wj_event_name(WUJI__EVENT_TYPE__EV_CALENDAR_YEAR), "calendar-year");

	assert_string_equal(wj_warning_name(WUJI__WARNING__WARNING_NONE),
			    "none");
	assert_string_equal(wj_warning_name(WUJI__WARNING__RED), "red");
	assert_int_equal(wj_warning_parse("yellow", &w), 0);
	assert_int_equal(w, WUJI__WARNING__YELLOW);
	assert_int_equal(wj_warning_parse("none", &w), 0);
	assert_int_equal(w, WUJI__WARNING__WARNING_NONE);

	assert_string_equal(wj_item_kind_name(WUJI__ITEM_KIND__ITEM_PROMISED),
			    "promised");
	assert_int_equal(wj_item_kind_parse("immediate", &ik), 0);
	assert_int_equal(ik, WUJI__ITEM_KIND__ITEM_IMMEDIATE);
	assert_int_equal(wj_item_kind_parse("joint", &ik), WJ_EINVAL);

	assert_string_equal(wj_case_kind_name(WUJI__CASE_KIND__CASE_JOINT),
			    "joint");
	assert_string_equal(
		wj_case_kind_name(WUJI__CASE_KIND__CASE_REPORTED_UP),
		"reported-up");
	assert_string_equal(
		wj_task_status_name(WUJI__TASK_STATUS__TASK_CANCELLED),
		"cancelled");
	assert_string_equal(
		wj_task_status_name(WUJI__TASK_STATUS__TASK_WAITING),
		"waiting");

	assert_string_equal(wj_id_type_name(WUJI__ID_TYPE__ID_CARD), "id-card");
	assert_int_equal(wj_id_type_parse("uscc", &id), 0);
	assert_int_equal(id, WUJI__ID_TYPE__ID_USCC);
	assert_int_equal(wj_id_type_parse("other", &id), 0);
	assert_int_equal(id, WUJI__ID_TYPE__ID_OTHER);

	assert_string_equal(wj_delivery_name(WUJI__DELIVERY__BY_POST), "post");
	assert_int_equal(wj_delivery_parse("window", &dl), 0);
	assert_int_equal(dl, WUJI__DELIVERY__BY_WINDOW);
	dl = WUJI__DELIVERY__BY_POST;
	assert_int_equal(wj_delivery_parse("email", &dl), WJ_EINVAL);
	assert_int_equal(dl, WUJI__DELIVERY__BY_POST);  /* untouched */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_valid_numbers),
		cmocka_unit_test(test_ancestor_parent),
		cmocka_unit_test(test_inside),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
