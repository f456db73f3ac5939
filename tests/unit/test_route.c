/* Unit tests for routing in the tree (node/core/route.c): who holds a
 * case, and what a child may send up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/route.h"

#define PROVINCE 330000000000ULL
#define CITY 330100000000ULL
#define COUNTY 330106000000ULL
#define TOWNSHIP 330106001000ULL
#define VILLAGE 330106001201ULL
#define OTHER_VILLAGE 330106001202ULL

static Wuji__Event event(Wuji__EventType type, uint64_t origin, const char *number)
{
	Wuji__Event ev = WUJI__EVENT__INIT;

	ev.type = type;
	ev.origin = origin;
	ev.seq = 1;
	ev.case_number = (char *)number;
	return ev;
}

/* A village's case reported up to its county: the county's decision goes
 * down to the village, and only the village's own events may come up
 * from it in normal operation. */
static void test_child_may_send(void **state)
{
	(void)state;
	assert_true(wj_route_child_may_send(TOWNSHIP, VILLAGE));
	assert_true(wj_route_child_may_send(VILLAGE, VILLAGE));
	assert_false(wj_route_child_may_send(TOWNSHIP, COUNTY));
	assert_false(wj_route_child_may_send(VILLAGE, OTHER_VILLAGE));
}

/* After a restore, a child hands back what it held: the county's
 * decision on a case submitted in the child's area may come up, a
 * decision on another area's case may not, nor a catalog or calendar
 * event, nor an event whose case number is not one. */
static void test_child_may_return(void **state)
{
	(void)state;
	Wuji__Event own_case = event(WUJI__EVENT_TYPE__EV_DECIDED, COUNTY,
				     "330106001201-20260302-000003");
	Wuji__Event other = event(WUJI__EVENT_TYPE__EV_DECIDED, COUNTY,
				  "330106001202-20260302-000001");
	Wuji__Event township_case = event(WUJI__EVENT_TYPE__EV_DECIDED, COUNTY,
					  "330106001000-20260302-000001");
	Wuji__Event catalog = event(WUJI__EVENT_TYPE__EV_CATALOG_ITEM, PROVINCE, "");
	Wuji__Event garbage = event(WUJI__EVENT_TYPE__EV_DECIDED, COUNTY, "330106001201-x");
	Wuji__Event none = event(WUJI__EVENT_TYPE__EV_DECIDED, COUNTY, NULL);

	assert_true(wj_route_child_may_return(VILLAGE, &own_case));
	/* The township above the village: the case lies in its area too. */
	assert_true(wj_route_child_may_return(TOWNSHIP, &own_case));
	assert_false(wj_route_child_may_return(VILLAGE, &other));
	/* A case of the township itself never went down to a village. */
	assert_false(wj_route_child_may_return(VILLAGE, &township_case));
	assert_true(wj_route_child_may_return(TOWNSHIP, &township_case));
	assert_false(wj_route_child_may_return(CITY, &catalog));
	assert_false(wj_route_child_may_return(VILLAGE, &garbage));
	assert_false(wj_route_child_may_return(VILLAGE, &none));
	assert_false(wj_route_child_may_return(VILLAGE, NULL));
}

/* What may come back is never more than what went down: a case whose
 * origin lies inside the child's area is routed to that child. */
static void test_return_within_routes(void **state)
{
	(void)state;
	uint64_t parts[] = {VILLAGE, COUNTY};
	Wuji__Event ev = event(WUJI__EVENT_TYPE__EV_DECIDED, COUNTY,
			       "330106001201-20260302-000003");

	assert_true(wj_route_to_child(TOWNSHIP, parts, 2));
	assert_true(wj_route_child_may_return(TOWNSHIP, &ev));
	assert_false(wj_route_to_child(330106002000ULL, parts, 2));
	assert_false(wj_route_child_may_return(330106002000ULL, &ev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_child_may_send),
		cmocka_unit_test(test_child_may_return),
		cmocka_unit_test(test_return_within_routes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
