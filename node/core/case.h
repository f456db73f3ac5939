/* The case state machine (办件生命周期), with no I/O.
 *
 * A request becomes an event in two pure steps:
 *   wj_case_submit() / wj_case_command(): check a request against the
 *     current case and build the event, or refuse it and change nothing;
 *   wj_case_apply(): fold an event into a case.  Deterministic: the same
 *     events and calendar give the same case (due dates included) on every
 *     node, whatever its clock or catalog says.
 * The caller (daemon, simulator, tests) stores the event and the case.
 *
 * Lifecycle:
 *   received   -> accept | correct | reject | withdraw
 *   correction -> supply (back to received) | reject | withdraw
 *   accepted   -> pause | extend | decide | withdraw
 *   paused     -> resume | extend | withdraw
 *   approved / denied -> deliver
 *   delivered / rejected / withdrawn -> archive
 * An immediate item is decided at acceptance.  A case is decided when all
 * of its tasks are: approved only if every task approves. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/calendar.h"
#include "core/err.h"
#include "proto/wuji.pb-c.h"

#define WJ_EXTENSION_MAX_DAYS 10        /* 行政许可法 art. 42 */
#define WJ_EXTENSION_MAX_DAYS_JOINT 15  /* art. 42, joint handling */
#define WJ_CASE_NUMBER_MAX 40

typedef struct wj_case_ctx {
	uint64_t self;              /* this node's division code */
	int64_t now;                /* Unix seconds, from the caller's clock */
	const wj_calendar_t *cal;
	/* A node with no parent and no children decides every task itself;
	 * otherwise only the task's handling node may decide it. */
	bool standalone;
	wj_arena_t *arena;          /* everything allocated lives here */
} wj_case_ctx_t;

/* Case number: "<origin code>-<YYYYMMDD>-<serial, 6+ digits>", unique in the
 * province because the origin's code is, readable at a window. */
int wj_case_number_format(char *buf, size_t size, uint64_t origin,
			  wj_date_t day, uint32_t serial);
/* Validates the shape and returns the origin code and date. */
int wj_case_number_parse(const char *s, uint64_t *origin, wj_date_t *day,
			 wj_err_t *err);
/* The same, and the serial (any out pointer may be NULL). */
int wj_case_number_split(const char *s, uint64_t *origin, wj_date_t *day,
			 uint32_t *serial, wj_err_t *err);

/* Builds EV_SUBMITTED for a new case numbered `number` (allocated by the
 * caller) from the catalog item.  Refuses a missing applicant name, an
 * unknown material name (the error lists the item's materials), an item
 * not applicable at this node's level.  Tasks get their handling nodes
 * from the item's task levels and ctx->self.
 * ev->origin, at, type, case_number and submission are set; ev->seq and
 * ev->hlc are the caller's. */
int wj_case_submit(const wj_case_ctx_t *ctx, const Wuji__CatalogItem *item,
		   const Wuji__SubmitRequest *req, const char *number,
		   Wuji__Event *ev, wj_err_t *err);

/* Checks cmd against the case c and builds the event.  Refusals:
 * WJ_ENOTALLOWED with err->allowed listing the verbs allowed now and the
 * message naming the current status; WJ_EINVAL for a missing reason, bad
 * days, unknown task or material, a step this node does not take (see
 * below), and so on.
 *
 * Each step belongs to one node, so that two nodes never take racing
 * steps that the merged order would let only one of stand: a task is
 * decided at the node that handles it, every other step at the case's
 * origin, the window where it was submitted.  A standalone node takes
 * every step. */
int wj_case_command(const wj_case_ctx_t *ctx, const Wuji__Case *c,
		    const Wuji__Command *cmd, Wuji__Event *ev, wj_err_t *err);

/* Folds ev into c.  For EV_SUBMITTED, c must be freshly initialised
 * (wuji__case__init).  Uses only ev, cal and arena (for new strings and
 * array slots); ctx->now and ctx->self are not read.  An event that does
 * not fit the case (applied out of order) returns WJ_ENOTALLOWED and leaves
 * c unchanged. */
int wj_case_apply(const wj_case_ctx_t *ctx, Wuji__Case *c,
		  const Wuji__Event *ev, wj_err_t *err);

/* Folds an event that is stored already (made here or at another node)
 * into c, in the order of events (hlc, origin, seq): applies it, or, when
 * it does not fit the case at its place in that order -- a step taken at
 * another node at the same time came first -- records it in the history
 * all the same, with no_effect set and the reason in its detail, and
 * changes nothing else (but last_hlc).  So every node that holds the same
 * events shows the same history, and the clerk who took the losing step
 * sees that it did not count.  A submission that does not fit, or an
 * event for a case not submitted yet, is not recorded.  Returns true when
 * the event took effect. */
bool wj_case_fold(const wj_case_ctx_t *ctx, Wuji__Case *c,
		  const Wuji__Event *ev);

/* Fills c->warning and c->days_left as of `today`: RED past the promised
 * due date, YELLOW when yellow_days working days or fewer remain, NONE
 * otherwise and for cases whose clock is not running. */
void wj_case_warning(Wuji__Case *c, wj_date_t today, const wj_calendar_t *cal,
		     uint32_t yellow_days);

/* True for statuses in which the time limit runs or may run again. */
bool wj_case_is_open(Wuji__CaseStatus s);

/* Verbs allowed in a status, static strings, at most WJ_ERR_ALLOWED_MAX. */
size_t wj_case_allowed(Wuji__CaseStatus s, const char **out, size_t max);
