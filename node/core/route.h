/* Where events go in the tree: pure decisions from division codes.
 *
 * Every event of a case goes up to all ancestors of the nodes that take
 * part in it (its origin and the nodes handling its tasks), so each level
 * sees everything below it; it goes down into a child's subtree only where
 * a participant lives.  Catalog and calendar events go down to the whole
 * subtree of the node that issued them.  A case between two areas routes
 * through their common ancestor, because that is where "up" meets "down". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wuji.pb-c.h"

#define WJ_ROUTE_PARTICIPANTS_MAX 17  /* origin + 16 tasks */

/* The case's participants, unique, in the order met: origin first.
 * Returns how many were written (at most max). */
size_t wj_route_participants(const Wuji__Case *c, uint64_t *out, size_t max);
/* Same, from a submission event (before any case exists). */
size_t wj_route_submission_participants(const Wuji__Event *ev, uint64_t *out,
					size_t max);
/* True when an event of a case with these participants goes down to
 * `child`: a participant lies inside the child's area. */
bool wj_route_to_child(uint64_t child, const uint64_t *parts, size_t n);
/* Every node that holds the case: each participant and its ancestors,
 * sorted, unique.  Returns the count written (at most max). */
size_t wj_route_known_at(const uint64_t *parts, size_t n, uint64_t *out,
			 size_t max);
/* May a child send an event with this origin?  Only events that
 * originate inside its own area. */
bool wj_route_child_may_send(uint64_t child, uint64_t origin);
/* May a child hand back an event from outside its area?  Only while we
 * get back what a restore took from us, and only a case event of a case
 * submitted inside its area: one we (or nodes above us) had sent down to
 * it, which may now exist nowhere else.  Never a catalog or calendar
 * event. */
bool wj_route_child_may_return(uint64_t child, const Wuji__Event *ev);
/* Catalog and calendar events flow down only: from the parent, and only
 * when they were issued at or above it. */
bool wj_route_is_broadcast(Wuji__EventType type);
