/* Routing rules of the tree; see route.h.  Pure functions of codes. */
#include "core/route.h"

#include <stdlib.h>

#include "core/case.h"
#include "core/division.h"

static size_t add_unique(uint64_t *out, size_t n, size_t max, uint64_t v)
{
	if (v == 0)
		return n;
	for (size_t i = 0; i < n; i++)
		if (out[i] == v)
			return n;
	if (n < max)
		out[n++] = v;
	return n;
}

size_t wj_route_participants(const Wuji__Case *c, uint64_t *out, size_t max)
{
	size_t n = add_unique(out, 0, max, c->origin);
	for (size_t i = 0; i < c->n_tasks; i++)
		n = add_unique(out, n, max, c->tasks[i]->node);
	return n;
}

size_t wj_route_submission_participants(const Wuji__Event *ev, uint64_t *out,
					size_t max)
{
	size_t n = add_unique(out, 0, max, ev->origin);
	if (ev->submission)
		for (size_t i = 0; i < ev->submission->n_tasks; i++)
			n = add_unique(out, n, max, ev->submission->tasks[i]->node);
	return n;
}

bool wj_route_to_child(uint64_t child, const uint64_t *parts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (wj_division_inside(parts[i], child))
			return true;
	return false;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

size_t wj_route_known_at(const uint64_t *parts, size_t n, uint64_t *out,
			 size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		for (uint64_t c = parts[i]; c != 0; c = wj_division_parent(c))
			k = add_unique(out, k, max, c);
	qsort(out, k, sizeof(*out), cmp_u64);
	return k;
}

bool wj_route_child_may_send(uint64_t child, uint64_t origin)
{
	return wj_division_inside(origin, child);
}

bool wj_route_child_may_return(uint64_t child, const Wuji__Event *ev)
{
	uint64_t origin;

	if (ev == NULL || wj_route_is_broadcast(ev->type))
		return false;
	/* A case's task nodes are its origin or ancestors of it, so the
	 * case goes down to the child exactly when its origin, named by
	 * its number, lies inside the child's area. */
	if (wj_case_number_parse(ev->case_number, &origin, NULL, NULL) != 0)
		return false;
	return wj_division_inside(origin, child);
}

bool wj_route_is_broadcast(Wuji__EventType type)
{
	return type == WUJI__EVENT_TYPE__EV_CATALOG_ITEM ||
	       type == WUJI__EVENT_TYPE__EV_CALENDAR_YEAR;
}
