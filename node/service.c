/* Control requests against the store: the node's request handling with no
 * sockets and no clock.
 *
 * Group commit.  wj_service_batch() runs every request of a batch in one
 * LMDB write transaction, each write in a nested transaction of its own so
 * that a request that fails half-way (map full) leaves no trace while the
 * others stand.  The parent commits once, which is one fsync for the whole
 * batch, and only then are replies produced: a client that hears "done"
 * can count on it surviving kill -9 or a power cut.
 *
 * Reads inside a batch see the batch's earlier writes.  If the commit then
 * fails, every reply of the batch becomes that error, reads included, so a
 * client is never shown a case that was not stored. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/calendar.h"
#include "core/case.h"
#include "core/catalog.h"
#include "core/date.h"
#include "core/division.h"
#include "core/hlc.h"
#include "core/api_limits.h"
#include "core/names.h"
#include "core/pbwire.h"
#include "core/route.h"
#include "log.h"
#include "repl.h"
#include "storage/store.h"
#include "wj_build.h"

#define CATALOG_LOAD_MAX 10000

struct wj_service {
	wj_store_t *store;
	wj_calendar_t *cal;
	wj_hlc_t hlc;
	uint64_t node;
	uint32_t yellow_days;
	bool standalone;
	bool fill_warned;        /* the store's nearly-full warning was logged */
	int64_t started_at;
	char data_dir[1024];
	struct wj_repl *repl;   /* NULL when the node has no links */
	bool calendar_dirty;    /* a calendar event was applied: reload */
	/* The catalog item the last submission of this batch named, in the
	 * batch's arena: a window's batch names a few items again and again,
	 * and each one was looked up and unpacked anew.  Set and used only
	 * inside wj_service_batch; forgotten when a catalog event is
	 * applied. */
	Wuji__CatalogItem *batch_item;
};

/* ------------------------------------------------------------ helpers */

static int reply_error(Wuji__Reply *rep, const wj_err_t *err, wj_arena_t *a)
{
	int code = err->code ? err->code : WJ_EINTERNAL;
	/* The store's own codes that have no protobuf twin are reported as
	 * what they mean to a client. */
	if (code == WJ_EEXIST)
		code = WJ_EINVAL;
	if (code == WJ_ESCHEMA || code == WJ_EIO)
		code = WJ_EINTERNAL;
	rep->code = (Wuji__ErrorCode)(-code);
	rep->error = wj_arena_strdup(a, err->msg[0] ? err->msg : wj_err_name(code));
	if (err->n_allowed) {
		rep->allowed = wj_arena_alloc(a, err->n_allowed * sizeof(char *));
		for (size_t i = 0; i < err->n_allowed; i++)
			rep->allowed[i] = (char *)err->allowed[i];
		rep->n_allowed = err->n_allowed;
	}
	return code;
}

static int load_calendar(wj_service_t *s, wj_txn_t *t, wj_arena_t *a,
			 wj_err_t *err);

static int year_into_calendar(Wuji__CalendarYear *y, void *ctx)
{
	wj_calendar_t *cal = ctx;
	wj_err_t err = {0};
	/* A year stored by this node was validated when it was loaded; if it
	 * no longer validates the weekday rule stands in for it. */
	if (wj_calendar_set_year(cal, y, &err) != 0)
		wj_warn("calendar: stored year %d ignored: %s", y->year, err.msg);
	return 0;
}

static int load_calendar(wj_service_t *s, wj_txn_t *t, wj_arena_t *a,
			 wj_err_t *err)
{
	wj_calendar_t *cal = wj_calendar_new();
	int rc = wj_store_calendar_scan(t, a, year_into_calendar, cal, err);
	if (rc != 0) {
		wj_calendar_free(cal);
		return rc;
	}
	wj_calendar_free(s->cal);
	s->cal = cal;
	return 0;
}

static wj_case_ctx_t case_ctx(wj_service_t *s, int64_t now_ms, wj_arena_t *a)
{
	return (wj_case_ctx_t){
		.self = s->node,
		.now = now_ms / 1000,
		.cal = s->cal,
		.standalone = s->standalone,
		.arena = a,
	};
}

static void fill_warning(wj_service_t *s, Wuji__Case *c, int64_t now_ms)
{
	wj_case_warning(c, wj_date_from_unix(now_ms / 1000), s->cal,
			s->yellow_days);
}

/* The last date on which an accepted case can have a warning today: due
 * dates up to `yellow_days` working days ahead. */
static wj_date_t warning_horizon(wj_service_t *s, int64_t now_ms)
{
	return wj_calendar_add_workdays(s->cal, wj_date_from_unix(now_ms / 1000),
					s->yellow_days);
}

static int check_text(const char *what, const char *v, size_t max, wj_err_t *err)
{
	if (v == NULL || v[0] == '\0')
		return wj_err_set(err, WJ_EBADREQ, "%s is missing", what);
	if (strlen(v) > max)
		return wj_err_set(err, WJ_EBADREQ, "%s is longer than %zu bytes", what, max);
	return 0;
}

/* Stores a new event and the case it produced.  seq and hlc are assigned
 * here, in the transaction that stores them, so a seq is never reused. */
static int commit_event(wj_service_t *s, wj_txn_t *t, Wuji__Event *ev,
			const Wuji__Case *old, Wuji__Case *c, int64_t now_ms,
			const wj_case_ctx_t *ctx, wj_err_t *err)
{
	/* A case folds its first WJ_CASE_EVENTS_MAX events only: a step
	 * past them would have no effect anywhere. */
	int rc;
	if (old != NULL) {
		size_t held = 0;
		rc = wj_store_case_event_count(t, old->number, WJ_CASE_EVENTS_MAX, &held, err);
		if (rc != 0)
			return rc;
		if (held >= WJ_CASE_EVENTS_MAX)
			return wj_err_set(err, WJ_EINVAL,
					  "case %s has %u events, the most one case takes: no "
					  "further step can be recorded", old->number,
					  WJ_CASE_EVENTS_MAX);
	}
	uint64_t seq;
	rc = wj_store_next_seq(t, &seq, err);
	if (rc != 0)
		return rc;
	ev->seq = seq;
	/* Sort after everything the case has seen even if this node's wall
	 * clock is behind the node that made the last event. */
	if (old != NULL)
		wj_hlc_recv(&s->hlc, old->last_hlc, (uint64_t)now_ms);
	ev->hlc = wj_hlc_tick(&s->hlc, (uint64_t)now_ms);
	if (wj_hlc_ms(ev->hlc) > WJ_HLC_MS_MAX)
		return wj_err_set(err, WJ_EINVAL,
				  "this node's clock reads past the year 2100: set the system "
				  "clock right (timedatectl), as every other node refuses events "
				  "stamped so");
	/* Every other node refuses an event past the bound: so does the node
	 * that would make it. */
	size_t bytes = wuji__event__get_packed_size(ev);
	if (bytes > WJ_EVENT_BYTES_MAX)
		return wj_err_set(err, WJ_EINVAL,
				  "this step makes an event of %zu bytes, more than the %u an event "
				  "may have: name fewer or shorter materials, or a shorter reason",
				  bytes, WJ_EVENT_BYTES_MAX);
	rc = wj_case_apply(ctx, c, ev, err);
	if (rc != 0)
		return rc;
	/* A local event always sorts last: its hlc is past every hlc this
	 * node has seen. */
	c->last_hlc = ev->hlc;
	c->last_origin = ev->origin;
	c->last_seq = ev->seq;
	rc = wj_store_event_put(t, ev, 0, NULL, err);
	if (rc != 0)
		return rc;
	return wj_store_case_put(t, old, c, err);
}

/* ------------------------------------------------------- applying events */

/* An event from another node is untrusted input: everything the fold and
 * the store rely on is checked here, before anything is written. */
static int check_event(const Wuji__Event *ev, wj_err_t *err)
{
	if (!wj_division_valid(ev->origin))
		return wj_err_set(err, WJ_EINVAL, "event origin %llu is not a division code",
				  (unsigned long long)ev->origin);
	if (ev->seq == 0)
		return wj_err_set(err, WJ_EINVAL, "event from %012llu has seq 0",
				  (unsigned long long)ev->origin);
	if (wj_hlc_ms(ev->hlc) > WJ_HLC_MS_MAX)
		return wj_err_set(err, WJ_EINVAL,
				  "event %012llu/%llu carries a clock past the year 2100: the "
				  "clock of %012llu is wrong (node-ctl peers there shows its skew)",
				  (unsigned long long)ev->origin, (unsigned long long)ev->seq,
				  (unsigned long long)ev->origin);
	if (wj_route_is_broadcast(ev->type)) {
		if (ev->case_number && ev->case_number[0])
			return wj_err_set(err, WJ_EINVAL, "a catalog or calendar event names a case");
		if (ev->type == WUJI__EVENT_TYPE__EV_CATALOG_ITEM) {
			wj_err_t e = {0};
			if (ev->item == NULL)
				return wj_err_set(err, WJ_EINVAL, "catalog event without an item");
			if (wj_catalog_item_validate(ev->item, &e) != 0)
				return wj_err_set(err, WJ_EINVAL, "catalog event: %s", e.msg);
		} else {
			wj_calendar_t *scratch = wj_calendar_new();
			wj_err_t e = {0};
			int rc = ev->year ? wj_calendar_set_year(scratch, ev->year, &e)
					  : wj_err_set(&e, WJ_EINVAL, "no year");
			wj_calendar_free(scratch);
			if (rc != 0)
				return wj_err_set(err, WJ_EINVAL, "calendar event: %s", e.msg);
		}
		return 0;
	}
	if (ev->type < WUJI__EVENT_TYPE__EV_SUBMITTED || ev->type > WUJI__EVENT_TYPE__EV_ARCHIVED)
		return wj_err_set(err, WJ_EINVAL, "event type %d is unknown", (int)ev->type);
	if ((ev->promised_due != 0 || ev->statutory_due != 0) &&
	    (!wj_date_valid(ev->promised_due) || !wj_date_valid(ev->statutory_due) ||
	     ev->paused_days > 3650))
		return wj_err_set(err, WJ_EINVAL, "event carries impossible due dates");
	uint64_t origin;
	wj_date_t day;
	wj_err_t e = {0};
	if (ev->case_number == NULL ||
	    wj_case_number_parse(ev->case_number, &origin, &day, &e) != 0)
		return wj_err_set(err, WJ_EINVAL, "event names no valid case: %s", e.msg);
	if (ev->type == WUJI__EVENT_TYPE__EV_SUBMITTED) {
		const Wuji__Submission *sub = ev->submission;
		if (sub == NULL || sub->n_tasks == 0 || sub->n_tasks > 16)
			return wj_err_set(err, WJ_EINVAL, "submission of %s has no valid tasks",
					  ev->case_number);
		if (origin != ev->origin)
			return wj_err_set(err, WJ_EINVAL,
					  "case %s was submitted by %012llu, not by the node its "
					  "number names", ev->case_number,
					  (unsigned long long)ev->origin);
		for (size_t i = 0; i < sub->n_tasks; i++)
			if (!wj_division_valid(sub->tasks[i]->node))
				return wj_err_set(err, WJ_EINVAL, "a task of %s has no valid node",
						  ev->case_number);
	}
	return 0;
}

static bool key_after(uint64_t h1, uint64_t o1, uint64_t s1, uint64_t h2, uint64_t o2,
		      uint64_t s2)
{
	if (h1 != h2)
		return h1 > h2;
	if (o1 != o2)
		return o1 > o2;
	return s1 > s2;
}

struct refold {
	wj_case_ctx_t ctx;
	Wuji__Case *c;
	bool submitted;
	/* Events other than `trigger` that waited for the submission. */
	const Wuji__Event *trigger;
	wj_txn_t *t;
	bool log_waiting;
	int rc;
	uint64_t max_hlc, max_origin, max_seq;  /* greatest event id met */
};

/* What every event of a refold gets, folded or beyond the bound: logged
 * again if it waited for the submission, and counted in the case's
 * greatest event id. */
static int refold_beyond(uint64_t hlc, uint64_t origin, uint64_t seq, void *p)
{
	struct refold *r = p;
	/* An event that arrived before its case's submission could not be
	 * routed when it was logged: log it again now that its route is
	 * known. */
	if (r->log_waiting && r->rc == 0 &&
	    !(origin == r->trigger->origin && seq == r->trigger->seq))
		r->rc = wj_store_changelog_append(r->t, origin, seq, 0, NULL, NULL);
	if (key_after(hlc, origin, seq, r->max_hlc, r->max_origin, r->max_seq)) {
		r->max_hlc = hlc;
		r->max_origin = origin;
		r->max_seq = seq;
	}
	return 0;
}

/* The first WJ_CASE_EVENTS_MAX events of the case, in order: folded. */
static int refold_visit(Wuji__Event *ev, void *p)
{
	struct refold *r = p;
	(void)refold_beyond(ev->hlc, ev->origin, ev->seq, p);
	/* Events that do not fit at their place in the order are folded
	 * here exactly as they are one by one: in the history, without
	 * effect. */
	if (ev->type == WUJI__EVENT_TYPE__EV_SUBMITTED) {
		if (!r->submitted && wj_case_apply(&r->ctx, r->c, ev, NULL) == 0)
			r->submitted = true;
	} else if (r->submitted) {
		(void)wj_case_fold(&r->ctx, r->c, ev);
	}
	return 0;
}

/* Folds ev into its case: directly when it sorts after everything the
 * case has seen, else by folding all the case's events again. */
static int fold_case_event(wj_service_t *s, wj_txn_t *t, const Wuji__Event *ev,
			   size_t held_before, wj_arena_t *a, wj_err_t *err)
{
	Wuji__Case *c = NULL;
	int rc = wj_store_case_get(t, ev->case_number, a, &c, err);
	if (rc != 0 && rc != WJ_ENOTFOUND)
		return rc;
	wj_case_ctx_t ctx = {.self = s->node, .cal = s->cal, .standalone = s->standalone,
			     .arena = a};
	if (c != NULL && key_after(ev->hlc, ev->origin, ev->seq, c->last_hlc,
				   c->last_origin, c->last_seq)) {
		Wuji__Case old = *c;
		/* After all the case's events, of which there are already
		 * as many as a case folds: kept and passed on, no effect. */
		if (held_before < WJ_CASE_EVENTS_MAX)
			(void)wj_case_fold(&ctx, c, ev);
		c->last_hlc = ev->hlc;
		c->last_origin = ev->origin;
		c->last_seq = ev->seq;
		return wj_store_case_put(t, &old, c, err);
	}
	if (c == NULL && ev->type != WUJI__EVENT_TYPE__EV_SUBMITTED)
		return 0; /* waits in case_events until its submission arrives */
	if (c == NULL && held_before == 0) {
		/* The usual new case: its submission is its only event (just
		 * stored), so folding all its events is applying this one. */
		c = wj_arena_alloc(a, sizeof(*c));
		wuji__case__init(c);
		if (wj_case_apply(&ctx, c, ev, NULL) != 0)
			return 0;
		c->last_hlc = ev->hlc;
		c->last_origin = ev->origin;
		c->last_seq = ev->seq;
		return wj_store_case_put(t, NULL, c, err);
	}
	struct refold r = {.ctx = ctx, .trigger = ev, .t = t,
			   .log_waiting = c == NULL};
	r.c = wj_arena_alloc(a, sizeof(*r.c));
	wuji__case__init(r.c);
	rc = wj_store_case_events_first(t, ev->case_number, WJ_CASE_EVENTS_MAX, a, refold_visit,
					refold_beyond, &r, err);
	if (rc < 0)
		return rc;
	if (r.rc != 0)
		return wj_err_set(err, r.rc, "cannot log the events of %s again",
				  ev->case_number);
	if (!r.submitted)
		return 0;
	r.c->last_hlc = r.max_hlc;
	r.c->last_origin = r.max_origin;
	r.c->last_seq = r.max_seq;
	return wj_store_case_put(t, c, r.c, err);
}

static int apply_catalog_event(wj_service_t *s, wj_txn_t *t, const Wuji__Event *ev,
			       wj_arena_t *a, wj_err_t *err)
{
	s->batch_item = NULL;
	Wuji__CatalogItem *cur = NULL;
	int rc = wj_store_catalog_get(t, ev->item->code, a, &cur, err);
	if (rc != 0 && rc != WJ_ENOTFOUND)
		return rc;
	if (cur && !key_after(ev->hlc, ev->origin, ev->seq, cur->hlc, cur->issued_by,
			      cur->event_seq))
		return 0; /* an older load: the stored entry stands */
	Wuji__CatalogItem item = *ev->item;
	item.hlc = ev->hlc;
	item.issued_by = ev->origin;
	item.event_seq = ev->seq;
	return wj_store_catalog_put(t, &item, err);
}

struct year_find {
	int32_t year;
	Wuji__CalendarYear *found;
};

static int find_year(Wuji__CalendarYear *y, void *p)
{
	struct year_find *f = p;
	if (y->year == f->year)
		f->found = y;
	return 0;
}

static int apply_calendar_event(wj_service_t *s, wj_txn_t *t, const Wuji__Event *ev,
				wj_arena_t *a, wj_err_t *err)
{
	struct year_find f = {.year = ev->year->year};
	int rc = wj_store_calendar_scan(t, a, find_year, &f, err);
	if (rc < 0)
		return rc;
	if (f.found && !key_after(ev->hlc, ev->origin, ev->seq, f.found->hlc,
				  f.found->issued_by, f.found->event_seq))
		return 0;
	Wuji__CalendarYear y = *ev->year;
	y.hlc = ev->hlc;
	y.issued_by = ev->origin;
	y.event_seq = ev->seq;
	rc = wj_store_calendar_put(t, &y, err);
	if (rc == 0)
		s->calendar_dirty = true;
	return rc;
}

int wj_service_apply_event(wj_service_t *s, wj_txn_t *t, const Wuji__Event *ev,
			   uint64_t from, int64_t now_ms, wj_arena_t *a, bool *fresh,
			   wj_err_t *err)
{
	return wj_service_apply_packed(s, t, ev, NULL, 0, from, now_ms, a, fresh, err);
}

int wj_service_apply_packed(wj_service_t *s, wj_txn_t *t, const Wuji__Event *ev,
			    const uint8_t *packed, size_t packed_len, uint64_t from,
			    int64_t now_ms, wj_arena_t *a, bool *fresh, wj_err_t *err)
{
	*fresh = false;
	/* Our own event, back from a peer: its seq and case serial will be
	 * raised past, so a claim no node could have issued would exhaust
	 * them (a 7-digit serial also sorts wrong). */
	bool own = ev->origin == s->node && from != 0;
	wj_date_t own_day = 0;
	uint32_t own_serial = 0;
	if (own && ev->type == WUJI__EVENT_TYPE__EV_SUBMITTED &&
	    wj_case_number_split(ev->case_number, NULL, &own_day, &own_serial, NULL) != 0)
		own_serial = 0;   /* check_event says what is wrong with it */
	if (own && (ev->seq >= WJ_SEQ_PLAUSIBLE_MAX || own_serial > WJ_STORE_SERIAL_MAX))
		return wj_err_set(err, WJ_EINVAL,
				  "an event of this node came back with seq %llu, case %s: "
				  "beyond anything this node can have issued",
				  (unsigned long long)ev->seq,
				  ev->case_number ? ev->case_number : "-");
	size_t bytes = packed ? packed_len : wuji__event__get_packed_size(ev);
	if (bytes > WJ_EVENT_BYTES_MAX)
		return wj_err_set(err, WJ_EINVAL,
				  "event %012llu/%llu packs to %zu bytes, more than the %u an "
				  "event may have (fields this version does not know count too)",
				  (unsigned long long)ev->origin, (unsigned long long)ev->seq,
				  bytes, WJ_EVENT_BYTES_MAX);
	int rc = check_event(ev, err);
	if (rc != 0)
		return rc;
	if (wj_store_event_exists(t, ev->origin, ev->seq))
		return 0;
	/* How many events the case holds before this one (counted up to the
	 * bound): whether a submission is the case's first event, and
	 * whether an event after all of them is among the first
	 * WJ_CASE_EVENTS_MAX the case folds. */
	size_t held = 0;
	if (!wj_route_is_broadcast(ev->type)) {
		rc = wj_store_case_event_count(t, ev->case_number, WJ_CASE_EVENTS_MAX, &held,
					       err);
		if (rc != 0)
			return rc;
	}
	if (from != 0)
		wj_hlc_recv(&s->hlc, ev->hlc, (uint64_t)now_ms);
	rc = packed ? wj_store_event_put_packed(t, ev, packed, packed_len, from, NULL, err)
		    : wj_store_event_put(t, ev, from, NULL, err);
	if (rc != 0)
		return rc;
	*fresh = true;
	if (own) {
		/* One of our own events, back from a peer after this store was
		 * restored from an older copy: never issue its seq, or its case
		 * number, again. */
		rc = wj_store_raise_seq(t, ev->seq, err);
		if (rc == 0 && own_serial)
			rc = wj_store_raise_serial(t, own_day, own_serial, err);
		if (rc != 0)
			return rc;
	}
	switch (ev->type) {
	case WUJI__EVENT_TYPE__EV_CATALOG_ITEM:
		return apply_catalog_event(s, t, ev, a, err);
	case WUJI__EVENT_TYPE__EV_CALENDAR_YEAR:
		return apply_calendar_event(s, t, ev, a, err);
	default:
		return fold_case_event(s, t, ev, held, a, err);
	}
}

/* A catalog or calendar entry loaded here becomes an event of this node,
 * so that replication spreads it down the subtree like any other. */
static int issue_broadcast(wj_service_t *s, wj_txn_t *t, Wuji__EventType type,
			   Wuji__CatalogItem *item, Wuji__CalendarYear *year, int64_t now_ms,
			   wj_arena_t *a, wj_err_t *err)
{
	Wuji__Event *ev = wj_arena_alloc(a, sizeof(*ev));
	wuji__event__init(ev);
	uint64_t seq;
	int rc = wj_store_next_seq(t, &seq, err);
	if (rc != 0)
		return rc;
	ev->origin = s->node;
	ev->seq = seq;
	ev->hlc = wj_hlc_tick(&s->hlc, (uint64_t)now_ms);
	ev->at = now_ms / 1000;
	ev->type = type;
	ev->item = item;
	ev->year = year;
	bool fresh;
	return wj_service_apply_event(s, t, ev, 0, now_ms, a, &fresh, err);
}

/* ----------------------------------------------------------- handlers */

static int do_status(wj_service_t *s, wj_txn_t *t, int64_t now_ms,
		     Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err);

static int count_warning(Wuji__Case *c, void *ctx);

struct warn_count {
	wj_service_t *s;
	int64_t now_ms;
	uint64_t yellow, red;
};

static int count_warning(Wuji__Case *c, void *ctx)
{
	struct warn_count *w = ctx;
	fill_warning(w->s, c, w->now_ms);
	if (c->warning == WUJI__WARNING__YELLOW)
		w->yellow++;
	else if (c->warning == WUJI__WARNING__RED)
		w->red++;
	return 0;
}

static int do_status(wj_service_t *s, wj_txn_t *t, int64_t now_ms,
		     Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	Wuji__NodeStatus *st = wj_arena_alloc(a, sizeof(*st));
	wuji__node_status__init(st);
	wj_store_meta_t meta;
	wj_store_counts_t counts;
	int rc = wj_store_meta(t, &meta);
	if (rc == 0)
		rc = wj_store_counts(t, &counts);
	if (rc != 0)
		return wj_err_set(err, rc, "cannot read the store's counters");
	st->node = s->node;
	st->level = wj_division_level(s->node);
	st->version = WJ_VERSION;
	st->started_at = s->started_at;
	st->now = now_ms / 1000;
	st->cases = counts.cases;
	st->events = counts.events;
	st->last_seq = meta.last_seq;
	st->catalog_items = (uint32_t)counts.catalog;
	st->map_size = meta.map_size;
	st->map_used = meta.map_used;
	char fill[256];
	if (wj_store_fill_warning(meta.map_used, meta.map_size, fill, sizeof(fill)))
		st->warning = wj_arena_strdup(a, fill);
	st->data_dir = s->data_dir;
	st->schema_version = meta.schema;
	static const Wuji__CaseStatus open[] = {
		WUJI__CASE_STATUS__RECEIVED, WUJI__CASE_STATUS__CORRECTION,
		WUJI__CASE_STATUS__ACCEPTED, WUJI__CASE_STATUS__PAUSED,
	};
	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
		uint64_t n = 0;
		wj_store_count_status(t, open[i], &n);
		st->open_cases += n;
	}
	struct warn_count w = {.s = s, .now_ms = now_ms};
	rc = wj_store_due_scan(t, warning_horizon(s, now_ms), count_warning, &w, err);
	if (rc != 0)
		return rc;
	st->yellow = w.yellow;
	st->red = w.red;
	for (int y = 1970; y <= 9999; y++) {
		/* Bounded walk over the years the calendar knows; cheap enough
		 * for a status call and keeps the calendar's API small. */
		if (wj_calendar_has_year(s->cal, y)) {
			int32_t *slot = wj_arena_push(a, &st->calendar_years,
						      &st->n_calendar_years,
						      sizeof(int32_t));
			*slot = y;
		}
	}
	rep->result_case = WUJI__REPLY__RESULT_STATUS;
	rep->status = st;
	return 0;
}

static int do_submit(wj_service_t *s, wj_txn_t *t, const Wuji__SubmitRequest *req,
		     int64_t now_ms, Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	int rc = check_text("item code (--item)", req->item_code, WJ_TEXT_MAX, err);
	if (rc != 0)
		return rc;
	Wuji__CatalogItem *item = s->batch_item;
	if (item == NULL || !item->code || strcmp(item->code, req->item_code) != 0) {
		rc = wj_store_catalog_get(t, req->item_code, a, &item, err);
		if (rc == WJ_ENOTFOUND)
			return wj_err_set(err, WJ_EINVAL,
					  "unknown item code \"%s\": this node's catalog has no "
					  "such item (see node-ctl catalog list)", req->item_code);
		if (rc != 0)
			return rc;
		/* Kept only under its own code: a store whose key and item
		 * disagree (verify says so) must not answer for another. */
		if (item->code && strcmp(item->code, req->item_code) == 0)
			s->batch_item = item;
	}

	wj_case_ctx_t ctx = case_ctx(s, now_ms, a);
	wj_date_t today = wj_date_from_unix(ctx.now);
	uint32_t serial;
	rc = wj_store_next_serial(t, today, &serial, err);
	if (rc != 0)
		return rc;
	char number[WJ_CASE_NUMBER_MAX + 1];
	rc = wj_case_number_format(number, sizeof(number), s->node, today, serial);
	if (rc != 0)
		return wj_err_set(err, WJ_EINTERNAL, "cannot format a case number");

	Wuji__Event *ev = wj_arena_alloc(a, sizeof(*ev));
	wuji__event__init(ev);
	rc = wj_case_submit(&ctx, item, req, number, ev, err);
	if (rc != 0)
		return rc;
	Wuji__Case *c = wj_arena_alloc(a, sizeof(*c));
	wuji__case__init(c);
	rc = commit_event(s, t, ev, NULL, c, now_ms, &ctx, err);
	if (rc != 0)
		return rc;
	rep->result_case = WUJI__REPLY__RESULT_NUMBER;
	rep->number = c->number;
	return 0;
}

/* A case as a reply: with its warning now, and the nodes replication
 * takes it to (its participants and all their ancestors). */
static void case_reply(wj_service_t *s, Wuji__Case *c, int64_t now_ms, Wuji__Reply *rep,
		       wj_arena_t *a)
{
	fill_warning(s, c, now_ms);
	c->known_at = wj_arena_alloc(a, 5 * WJ_ROUTE_PARTICIPANTS_MAX * sizeof(uint64_t));
	if (s->standalone) {
		/* No tree: the case is here alone. */
		c->known_at[0] = s->node;
		c->n_known_at = 1;
	} else {
		uint64_t parts[WJ_ROUTE_PARTICIPANTS_MAX];
		size_t np = wj_route_participants(c, parts, WJ_ROUTE_PARTICIPANTS_MAX);
		c->n_known_at = wj_route_known_at(parts, np, c->known_at,
						  5 * WJ_ROUTE_PARTICIPANTS_MAX);
	}
	rep->result_case = WUJI__REPLY__RESULT_CASE;
	rep->case_ = c;
}

static int do_command(wj_service_t *s, wj_txn_t *t, const Wuji__Command *cmd,
		      int64_t now_ms, Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	int rc = check_text("case number", cmd->number, WJ_CASE_NUMBER_MAX, err);
	if (rc != 0)
		return rc;
	if (cmd->type == WUJI__EVENT_TYPE__EV_SUBMITTED || cmd->type == 0 ||
	    wj_event_verb(cmd->type)[0] == '?')
		return wj_err_set(err, WJ_EBADREQ,
				  "command type %d is not a step of a case", (int)cmd->type);
	Wuji__Case *c;
	rc = wj_store_case_get(t, cmd->number, a, &c, err);
	if (rc == WJ_ENOTFOUND)
		return wj_err_set(err, WJ_ENOTFOUND,
				  "no case %s on this node: check the number (node-ctl list)",
				  cmd->number);
	if (rc != 0)
		return rc;
	wj_case_ctx_t ctx = case_ctx(s, now_ms, a);
	Wuji__Event *ev = wj_arena_alloc(a, sizeof(*ev));
	wuji__event__init(ev);
	rc = wj_case_command(&ctx, c, cmd, ev, err);
	if (rc != 0)
		return rc;
	/* The store needs the old index keys (status, due date); apply
	 * replaces fields rather than writing into the old strings, so a
	 * shallow copy keeps them. */
	Wuji__Case old = *c;
	rc = commit_event(s, t, ev, &old, c, now_ms, &ctx, err);
	if (rc != 0)
		return rc;
	case_reply(s, c, now_ms, rep, a);
	return 0;
}

static int do_show(wj_service_t *s, wj_txn_t *t, const Wuji__ShowRequest *req,
		   int64_t now_ms, Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	int rc = check_text("case number", req->number, WJ_CASE_NUMBER_MAX, err);
	if (rc != 0)
		return rc;
	Wuji__Case *c;
	rc = wj_store_case_get(t, req->number, a, &c, err);
	if (rc == WJ_ENOTFOUND)
		return wj_err_set(err, WJ_ENOTFOUND,
				  "no case %s on this node: check the number (node-ctl list)",
				  req->number);
	if (rc != 0)
		return rc;
	case_reply(s, c, now_ms, rep, a);
	return 0;
}

struct list_ctx {
	wj_service_t *s;
	int64_t now_ms;
	wj_arena_t *a;
	Wuji__CaseList *out;
	Wuji__Warning warning;  /* 0 = any, else exact */
	bool any_warning;       /* warnings: yellow or red */
	bool due_order;         /* the next page goes on from a due date too */
	uint32_t limit;
};

static int list_visit(Wuji__Case *c, void *ctx)
{
	struct list_ctx *l = ctx;
	fill_warning(l->s, c, l->now_ms);
	if (l->warning && c->warning != l->warning)
		return 0;
	if (l->any_warning && c->warning == WUJI__WARNING__WARNING_NONE)
		return 0;
	if (l->out->n_cases >= l->limit) {
		/* One more than the page: tell the client where to go on.  In
		 * due order, from the due date the last case had here: it
		 * may move (an extension) before the next page is asked. */
		const Wuji__Case *last = l->out->cases[l->out->n_cases - 1];
		l->out->next = l->due_order
			? wj_arena_printf(l->a, "%08d/%s", (int)last->promised_due, last->number)
			: last->number;
		return 1;
	}
	Wuji__Case **slot = wj_arena_push(l->a, &l->out->cases, &l->out->n_cases,
					  sizeof(Wuji__Case *));
	*slot = wj_arena_dup_msg(l->a, &c->base);   /* c goes with the next case */
	return 0;
}

/* A list request's page size, and its `after`: a case number, or in due
 * order DUE/NUMBER (9 bytes more). */
static uint32_t page_limit(uint32_t asked)
{
	return asked == 0 ? WJ_LIST_LIMIT_DEFAULT
	       : asked > WJ_LIST_LIMIT_MAX ? WJ_LIST_LIMIT_MAX : asked;
}

static int check_after(const char *after, wj_err_t *err)
{
	if (after && strlen(after) > WJ_CASE_NUMBER_MAX + 9)
		return wj_err_set(err, WJ_EBADREQ, "'after' is not a case number");
	return 0;
}

static int do_list(wj_service_t *s, wj_txn_t *t, const Wuji__ListRequest *req,
		   int64_t now_ms, Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	if (req->status != 0 && wj_status_name(req->status)[0] == '?')
		return wj_err_set(err, WJ_EBADREQ, "unknown status %d", (int)req->status);
	if (req->warning != 0 && wj_warning_name(req->warning)[0] == '?')
		return wj_err_set(err, WJ_EBADREQ, "unknown warning %d", (int)req->warning);
	if (req->item_code && strlen(req->item_code) > WJ_TEXT_MAX)
		return wj_err_set(err, WJ_EBADREQ, "item code too long");
	int rc = check_after(req->after, err);
	if (rc != 0)
		return rc;
	Wuji__CaseList *out = wj_arena_alloc(a, sizeof(*out));
	wuji__case_list__init(out);
	struct list_ctx l = {
		.s = s, .now_ms = now_ms, .a = a, .out = out,
		.warning = req->warning, .limit = page_limit(req->limit),
	};
	l.due_order = req->warning != 0 && req->status == 0 &&
		      (req->item_code == NULL || req->item_code[0] == '\0');
	if (l.due_order) {
		/* Only accepted cases near or past their due date can carry a
		 * warning: the due index holds exactly those, in due order,
		 * and the next page goes on in that order. */
		rc = wj_store_due_scan_after(t, warning_horizon(s, now_ms), req->after, a,
					     list_visit, &l, err);
	} else {
		wj_case_filter_t f = {
			.status = req->status,
			.item_code = req->item_code && req->item_code[0] ? req->item_code : NULL,
			.after = req->after && req->after[0] ? req->after : NULL,
		};
		rc = wj_store_case_scan(t, &f, list_visit, &l, err);
	}
	if (rc < 0)
		return rc;
	rep->result_case = WUJI__REPLY__RESULT_LIST;
	rep->list = out;
	return 0;
}

static int do_warnings(wj_service_t *s, wj_txn_t *t, const Wuji__WarningsRequest *req,
		       int64_t now_ms, Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	Wuji__CaseList *out = wj_arena_alloc(a, sizeof(*out));
	wuji__case_list__init(out);
	struct list_ctx l = {
		.s = s, .now_ms = now_ms, .a = a, .out = out, .any_warning = true,
		.due_order = true, .limit = page_limit(req->limit),
	};
	int rc = check_after(req->after, err);
	if (rc != 0)
		return rc;
	rc = wj_store_due_scan_after(t, warning_horizon(s, now_ms), req->after, a, list_visit,
					 &l, err);
	if (rc < 0)
		return rc;
	rep->result_case = WUJI__REPLY__RESULT_LIST;
	rep->list = out;
	return 0;
}

/* A catalog load is all or nothing: every item is validated before any is
 * stored, so a bad file never leaves the catalog half-replaced. */
static int do_catalog_load(wj_service_t *s, wj_txn_t *t, const Wuji__CatalogLoadRequest *req,
			   int64_t now_ms, Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	const Wuji__Catalog *cat = req->catalog;
	if (cat == NULL || cat->n_items == 0)
		return wj_err_set(err, WJ_EBADREQ, "the catalog to load has no items");
	if (cat->n_items > CATALOG_LOAD_MAX)
		return wj_err_set(err, WJ_EBADREQ, "a catalog load holds at most %d items, got %zu",
				  CATALOG_LOAD_MAX, cat->n_items);
	for (size_t i = 0; i < cat->n_items; i++) {
		wj_err_t e = {0};
		if (wj_catalog_item_validate(cat->items[i], &e) != 0)
			return wj_err_set(err, WJ_EINVAL, "catalog item %zu (%s): %s", i + 1,
					  cat->items[i]->code ? cat->items[i]->code : "?", e.msg);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cat->items[i]->code, cat->items[j]->code) == 0)
				return wj_err_set(err, WJ_EINVAL,
						  "catalog item code %s appears twice",
						  cat->items[i]->code);
	}
	for (size_t i = 0; i < cat->n_items; i++) {
		int rc = issue_broadcast(s, t, WUJI__EVENT_TYPE__EV_CATALOG_ITEM, cat->items[i],
					 NULL, now_ms, a, err);
		if (rc != 0)
			return rc;
	}
	rep->result_case = WUJI__REPLY__RESULT_LOADED;
	rep->loaded = (uint32_t)cat->n_items;
	return 0;
}

static int item_visit(Wuji__CatalogItem *item, void *ctx)
{
	void **p = ctx;
	Wuji__Catalog *cat = p[0];
	wj_arena_t *a = p[1];
	Wuji__CatalogItem **slot = wj_arena_push(a, &cat->items, &cat->n_items,
						 sizeof(Wuji__CatalogItem *));
	*slot = item;
	return 0;
}

static int do_catalog_read(wj_service_t *s, wj_txn_t *t, const char *code,
			   Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	Wuji__Catalog *cat = wj_arena_alloc(a, sizeof(*cat));
	wuji__catalog__init(cat);
	int rc;
	if (code) {
		rc = check_text("item code", code, WJ_TEXT_MAX, err);
		if (rc != 0)
			return rc;
		Wuji__CatalogItem *item;
		rc = wj_store_catalog_get(t, code, a, &item, err);
		if (rc == WJ_ENOTFOUND)
			return wj_err_set(err, WJ_ENOTFOUND,
					  "no item %s in this node's catalog (see node-ctl catalog list)",
					  code);
		if (rc != 0)
			return rc;
		void *p[2] = {cat, a};
		item_visit(item, p);
	} else {
		void *p[2] = {cat, a};
		rc = wj_store_catalog_scan(t, a, item_visit, p, err);
		if (rc < 0)
			return rc;
	}
	rep->result_case = WUJI__REPLY__RESULT_CATALOG;
	rep->catalog = cat;
	return 0;
}

static int do_calendar_load(wj_service_t *s, wj_txn_t *t, const Wuji__CalendarLoadRequest *req,
			    int64_t now_ms, Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	const Wuji__Calendar *cal = req->calendar;
	if (cal == NULL || cal->n_years == 0)
		return wj_err_set(err, WJ_EBADREQ, "the calendar to load has no years");
	if (cal->n_years > 100)
		return wj_err_set(err, WJ_EBADREQ, "a calendar load holds at most 100 years");
	wj_calendar_t *scratch = wj_calendar_new();
	int rc = 0;
	for (size_t i = 0; i < cal->n_years && rc == 0; i++) {
		wj_err_t e = {0};
		if (wj_calendar_set_year(scratch, cal->years[i], &e) != 0)
			rc = wj_err_set(err, WJ_EINVAL, "calendar year %d: %s",
					cal->years[i]->year, e.msg);
	}
	wj_calendar_free(scratch);
	for (size_t i = 0; i < cal->n_years && rc == 0; i++)
		rc = issue_broadcast(s, t, WUJI__EVENT_TYPE__EV_CALENDAR_YEAR, NULL,
				     cal->years[i], now_ms, a, err);
	if (rc != 0)
		return rc;
	rep->result_case = WUJI__REPLY__RESULT_LOADED;
	rep->loaded = (uint32_t)cal->n_years;
	return 0;
}

static int year_visit(Wuji__CalendarYear *y, void *ctx)
{
	void **p = ctx;
	Wuji__Calendar *cal = p[0];
	wj_arena_t *a = p[1];
	int32_t want = *(int32_t *)p[2];
	if (want != 0 && y->year != want)
		return 0;
	Wuji__CalendarYear **slot = wj_arena_push(a, &cal->years, &cal->n_years,
						  sizeof(Wuji__CalendarYear *));
	*slot = y;
	return 0;
}

static int do_calendar_show(wj_service_t *s, wj_txn_t *t, const Wuji__CalendarShowRequest *req,
			    Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	Wuji__Calendar *cal = wj_arena_alloc(a, sizeof(*cal));
	wuji__calendar__init(cal);
	int32_t want = req->year;
	void *p[3] = {cal, a, &want};
	int rc = wj_store_calendar_scan(t, a, year_visit, p, err);
	if (rc < 0)
		return rc;
	if (want != 0 && cal->n_years == 0)
		return wj_err_set(err, WJ_ENOTFOUND,
				  "no calendar for %d on this node: load one with node-ctl "
				  "calendar load FILE (until then weekends are the only days off)",
				  want);
	rep->result_case = WUJI__REPLY__RESULT_CALENDAR;
	rep->calendar = cal;
	return 0;
}

static void verify_problem(const char *problem, void *ctx)
{
	void **p = ctx;
	Wuji__VerifyReport *r = p[0];
	wj_arena_t *a = p[1];
	if (r->n_problems >= 1000)
		return;
	char **slot = wj_arena_push(a, &r->problems, &r->n_problems, sizeof(char *));
	*slot = wj_arena_strdup(a, problem);
}

static int do_verify(wj_service_t *s, wj_txn_t *t, Wuji__Reply *rep, wj_arena_t *a,
		     wj_err_t *err)
{
	Wuji__VerifyReport *r = wj_arena_alloc(a, sizeof(*r));
	wuji__verify_report__init(r);
	void *p[2] = {r, a};
	int rc = wj_store_verify(t, a, verify_problem, p, err);
	if (rc != 0)
		return rc;
	wj_store_counts_t counts;
	if (wj_store_counts(t, &counts) == 0) {
		r->cases = counts.cases;
		r->events = counts.events;
	}
	rep->result_case = WUJI__REPLY__RESULT_VERIFY;
	rep->verify = r;
	return 0;
}

/* ------------------------------------------------------------- watch */

#define WATCH_WAIT_MAX_MS 60000
#define WATCH_DEFAULT_MAX 1000
#define WATCH_MAX 10000

struct watch_scan {
	wj_txn_t *t;
	wj_arena_t *a;
	Wuji__ChangeList *l;
	uint32_t max;
};

static int watch_entry(uint64_t pos, uint64_t origin, uint64_t seq, uint64_t from, void *ctx)
{
	struct watch_scan *w = ctx;
	(void)from;
	if (w->l->n_changes >= w->max)
		return 1;
	Wuji__Change *c = wj_arena_alloc(w->a, sizeof(*c));
	wuji__change__init(c);
	c->pos = pos;
	c->origin = origin;
	c->seq = seq;
	const uint8_t *raw;
	size_t len;
	wj_event_peek_t pk;
	if (wj_store_event_raw(w->t, origin, seq, &raw, &len, NULL) == 0 &&
	    wj_pb_peek_event(raw, len, &pk) == 0) {
		c->type = (Wuji__EventType)pk.type;
		c->at = pk.at;
		c->case_number = wj_arena_strndup(w->a, pk.case_number, pk.case_number_len);
	}
	Wuji__Change **slot = wj_arena_push(w->a, &w->l->changes, &w->l->n_changes,
					    sizeof(*slot));
	*slot = c;
	w->l->last = pos;
	return 0;
}

/* *hold is set when there is nothing to say yet and the client is willing
 * to wait: the caller holds the request and asks again. */
static int do_watch(wj_txn_t *t, const Wuji__WatchRequest *req, Wuji__Reply *rep,
		    wj_arena_t *a, bool *hold, wj_err_t *err)
{
	if (req->wait_ms > WATCH_WAIT_MAX_MS)
		return wj_err_set(err, WJ_EBADREQ,
				  "wait of %u ms is longer than the %u ms a watch may be held: "
				  "ask again instead", req->wait_ms, WATCH_WAIT_MAX_MS);
	if (req->max > WATCH_MAX)
		return wj_err_set(err, WJ_EBADREQ,
				  "max of %u entries is more than %u: ask in several replies",
				  req->max, WATCH_MAX);
	Wuji__ChangeList *l = wj_arena_alloc(a, sizeof(*l));
	wuji__change_list__init(l);
	uint64_t first, last, trimmed;
	int rc = wj_store_changelog_bounds(t, &first, &last, &trimmed);
	if (rc != 0)
		return wj_err_set(err, rc, "cannot read the change log: run node-ctl verify");
	l->first = first ? first : last + 1;
	l->last = req->from_now || req->after > last ? last : req->after;
	if (!req->from_now && req->after < last) {
		struct watch_scan w = {.t = t, .a = a, .l = l,
				       .max = req->max ? req->max : WATCH_DEFAULT_MAX};
		rc = wj_store_changelog_scan(t, req->after, watch_entry, &w, err);
		if (rc < 0)
			return rc;
	}
	/* The reply is ready either way: the caller may hold it back. */
	rep->result_case = WUJI__REPLY__RESULT_CHANGES;
	rep->changes = l;
	*hold = l->n_changes == 0 && !req->from_now && req->wait_ms > 0;
	return 0;
}

/* A watch with nothing new: true when it is to be held (no reply yet).
 * Otherwise rep is what to answer: do_watch's empty list with the log's
 * bounds when its time is up, or E_BUSY when the caller holds as many
 * watches as it can. */
static bool hold_watch(wj_service_req_t *r, const Wuji__WatchRequest *w, int64_t now_ms,
		       Wuji__Reply *rep, wj_arena_t *a)
{
	if (r->hold_until_ms == 0)
		r->hold_until_ms = now_ms + w->wait_ms;
	if (now_ms >= r->hold_until_ms)
		return false;
	if (r->may_hold)
		return true;
	uint64_t id = rep->id;
	wuji__reply__init(rep);
	rep->id = id;
	wj_err_t err = {0};
	wj_err_set(&err, WJ_EBUSY, "the node holds as many watches as it can: ask again "
		   "without wait_ms, or later");
	reply_error(rep, &err, a);
	return false;
}

static bool is_write(const Wuji__Request *req)
{
	switch (req->op_case) {
	case WUJI__REQUEST__OP_SUBMIT:
	case WUJI__REQUEST__OP_COMMAND:
	case WUJI__REQUEST__OP_CATALOG_LOAD:
	case WUJI__REQUEST__OP_CALENDAR_LOAD:
		return true;
	default:
		return false;
	}
}

static int dispatch(wj_service_t *s, wj_txn_t *t, const Wuji__Request *req, int64_t now_ms,
		    Wuji__Reply *rep, wj_arena_t *a, wj_err_t *err)
{
	if ((req->op_case == WUJI__REQUEST__OP_SUBMIT ||
	     req->op_case == WUJI__REQUEST__OP_COMMAND) &&
	    s->repl != NULL && wj_repl_recovering(s->repl))
		return wj_err_set(err, WJ_EBUSY,
				  "this node was restored from an older copy of its store and is "
				  "getting back from its peers what it had; cases cannot change "
				  "until then. Try again in a moment (node-ctl peers shows the "
				  "progress)");
	switch (req->op_case) {
	case WUJI__REQUEST__OP_STATUS:
		return do_status(s, t, now_ms, rep, a, err);
	case WUJI__REQUEST__OP_SUBMIT:
		return do_submit(s, t, req->submit, now_ms, rep, a, err);
	case WUJI__REQUEST__OP_COMMAND:
		return do_command(s, t, req->command, now_ms, rep, a, err);
	case WUJI__REQUEST__OP_SHOW:
		return do_show(s, t, req->show, now_ms, rep, a, err);
	case WUJI__REQUEST__OP_LIST:
		return do_list(s, t, req->list, now_ms, rep, a, err);
	case WUJI__REQUEST__OP_WARNINGS:
		return do_warnings(s, t, req->warnings, now_ms, rep, a, err);
	case WUJI__REQUEST__OP_CATALOG_LOAD:
		return do_catalog_load(s, t, req->catalog_load, now_ms, rep, a, err);
	case WUJI__REQUEST__OP_CATALOG_LIST:
		return do_catalog_read(s, t, NULL, rep, a, err);
	case WUJI__REQUEST__OP_CATALOG_SHOW:
		return do_catalog_read(s, t, req->catalog_show->code, rep, a, err);
	case WUJI__REQUEST__OP_CALENDAR_LOAD:
		return do_calendar_load(s, t, req->calendar_load, now_ms, rep, a, err);
	case WUJI__REQUEST__OP_CALENDAR_SHOW:
		return do_calendar_show(s, t, req->calendar_show, rep, a, err);
	case WUJI__REQUEST__OP_VERIFY:
		return do_verify(s, t, rep, a, err);
	case WUJI__REQUEST__OP_PEERS:
		if (s->repl == NULL)
			return wj_err_set(err, WJ_ENOTFOUND,
					  "this node has no links to other nodes (no parent or "
					  "listen in its config)");
		rep->result_case = WUJI__REPLY__RESULT_PEERS;
		rep->peers = wj_repl_peers(s->repl, now_ms, a);
		return 0;
	case WUJI__REQUEST__OP_TREE:
		rep->result_case = WUJI__REPLY__RESULT_TREE;
		rep->tree = wj_repl_tree(s->repl, s->node, now_ms, a);
		return 0;
	default:
		return wj_err_set(err, WJ_EBADREQ,
				  "the request names no operation this node knows "
				  "(is node-ctl newer than wuji-node?)");
	}
}

/* ---------------------------------------------------------- the batch */

int wj_service_open(const wj_service_opts_t *o, wj_service_t **out, wj_err_t *err)
{
	wj_service_t *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return wj_err_set(err, WJ_EINTERNAL, "out of memory");
	s->node = o->node;
	s->yellow_days = o->yellow_days;
	s->standalone = o->standalone;
	snprintf(s->data_dir, sizeof(s->data_dir), "%s", o->data_dir);
	s->cal = wj_calendar_new();
	wj_store_opts_t so = {.node = o->node, .map_size = o->map_size};
	int rc = wj_store_open(o->data_dir, &so, &s->store, err);
	if (rc != 0)
		goto fail;
	wj_txn_t *t;
	rc = wj_txn_begin(s->store, false, &t, err);
	if (rc != 0)
		goto fail;
	wj_arena_t a;
	wj_arena_init(&a, 64 << 10);
	rc = load_calendar(s, t, &a, err);
	wj_store_meta_t meta;
	if (rc == 0 && wj_store_meta(t, &meta) == 0)
		s->hlc = meta.hlc; /* new events sort after all seen before */
	wj_txn_abort(t);
	wj_arena_free(&a);
	if (rc != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	if (s->store)
		wj_store_close(s->store);
	wj_calendar_free(s->cal);
	free(s);
	return rc;
}

void wj_service_close(wj_service_t *s)
{
	if (s == NULL)
		return;
	wj_store_close(s->store);
	wj_calendar_free(s->cal);
	free(s);
}

uint64_t wj_service_last_commit(wj_service_t *s)
{
	return wj_store_last_commit(s->store);
}

void wj_service_set_started(wj_service_t *s, int64_t t)
{
	s->started_at = t;
}

struct wj_store *wj_service_store(wj_service_t *s)
{
	return s->store;
}

uint64_t wj_service_node(const wj_service_t *s)
{
	return s->node;
}

void wj_service_set_repl(wj_service_t *s, struct wj_repl *r)
{
	s->repl = r;
}

int wj_service_before_commit(wj_service_t *s, wj_txn_t *t, wj_err_t *err)
{
	/* Once a run: the store's use is a high-water mark, which only a
	 * bigger map (a restart) brings down; once said, nothing to look at. */
	if (!s->fill_warned) {
		uint64_t used, size;
		char w[256];

		wj_store_map_usage(s->store, &used, &size);
		if (wj_store_fill_warning(used, size, w, sizeof(w))) {
			wj_warn("%s", w);
			s->fill_warned = true;
		}
	}
	return wj_store_save_hlc(t, s->hlc, err);
}

void wj_service_calendar_changed(wj_service_t *s)
{
	if (!s->calendar_dirty)
		return;
	s->calendar_dirty = false;
	wj_txn_t *rt;
	wj_err_t e = {0};
	wj_arena_t a;
	wj_arena_init(&a, 16 << 10);
	if (wj_txn_begin(s->store, false, &rt, &e) == 0) {
		if (load_calendar(s, rt, &a, &e) != 0)
			wj_error("calendar: reload failed: %s", e.msg);
		wj_txn_abort(rt);
	}
	wj_arena_free(&a);
}

static void pack_reply(wj_service_req_t *r, Wuji__Reply *rep, wj_arena_t *a)
{
	size_t len = wuji__reply__get_packed_size(rep);
	r->reply = wj_arena_alloc(a, len ? len : 1);
	r->reply_len = wuji__reply__pack(rep, r->reply);
}

int wj_service_batch(wj_service_t *s, wj_service_req_t *reqs, size_t n, int64_t now_ms,
		     wj_arena_t *a)
{
	s->batch_item = NULL;
	Wuji__Reply **replies = wj_arena_alloc(a, n * sizeof(*replies));
	Wuji__Request **decoded = wj_arena_alloc(a, n * sizeof(*decoded));
	bool *held = wj_arena_alloc(a, n * sizeof(*held));
	bool writes = false;

	size_t decode_left = WJ_DECODE_BATCH_MAX;
	for (size_t i = 0; i < n; i++) {
		Wuji__Reply *rep = replies[i] = wj_arena_alloc(a, sizeof(*rep));
		wuji__reply__init(rep);
		wj_err_t err = {0};
		if (reqs[i].len > WJ_REQUEST_MAX) {
			wj_err_set(&err, WJ_EBADREQ, "request of %zu bytes is larger than the "
				   "limit of %u bytes", reqs[i].len, WJ_REQUEST_MAX);
			reply_error(rep, &err, a);
			continue;
		}
		size_t budget = wj_decode_budget(reqs[i].len);
		if (budget > WJ_DECODE_REQUEST_MAX)
			budget = WJ_DECODE_REQUEST_MAX;
		bool batch_bound = budget >= decode_left;
		size_t given = batch_bound ? decode_left : budget;
		wj_arena_pb_budget(a, given);
		Wuji__Request *req = wuji__request__unpack(&a->pb, reqs[i].len, reqs[i].data);
		bool too_big = wj_arena_pb_refused(a);
		decode_left -= given - wj_arena_pb_left(a);
		wj_arena_pb_budget(a, SIZE_MAX);
		if (too_big) {
			if (batch_bound)
				wj_err_set(&err, WJ_EBADREQ, "the requests sent at once decode to "
					   "more than %u MiB: send fewer at a time",
					   WJ_DECODE_BATCH_MAX >> 20);
			else
				wj_err_set(&err, WJ_EBADREQ, "request of %zu bytes decodes to more "
					   "than %zu KiB (a repeated field with very many "
					   "elements?): split it", reqs[i].len, budget >> 10);
			reply_error(rep, &err, a);
			continue;
		}
		if (req == NULL) {
			wj_err_set(&err, WJ_EBADREQ,
				   "request of %zu bytes does not decode as a wuji.Request: "
				   "is the client speaking the wuji control protocol?",
				   reqs[i].len);
			reply_error(rep, &err, a);
			continue;
		}
		rep->id = req->id;
		decoded[i] = req;
		writes = writes || is_write(req);
	}

	/* A batch of reads (supervisors' queries, a front end polling) takes
	 * a read transaction: no commit, no fsync, and it does not wait for
	 * the writer. */
	wj_err_t txn_err = {0};
	wj_txn_t *t = NULL;
	int rc = wj_txn_begin(s->store, writes, &t, &txn_err);
	for (size_t i = 0; i < n; i++) {
		Wuji__Request *req = decoded[i];
		Wuji__Reply *rep = replies[i];
		wj_err_t err = {0};
		if (req == NULL)
			continue;
		if (rc != 0) {
			reply_error(rep, &txn_err, a);
			continue;
		}
		if (req->op_case == WUJI__REQUEST__OP_WATCH) {
			bool hold = false;
			if (do_watch(t, req->watch, rep, a, &hold, &err) != 0)
				reply_error(rep, &err, a);
			else if (hold)
				held[i] = hold_watch(&reqs[i], req->watch, now_ms, rep, a);
			if (!held[i])
				reqs[i].hold_until_ms = 0;
			continue;
		}
		if (!is_write(req)) {
			if (dispatch(s, t, req, now_ms, rep, a, &err) != 0)
				reply_error(rep, &err, a);
			continue;
		}
		wj_txn_t *nested;
		int nrc = wj_txn_begin_nested(t, &nested, &err);
		if (nrc == 0) {
			nrc = dispatch(s, nested, req, now_ms, rep, a, &err);
			if (nrc == 0)
				nrc = wj_txn_commit(nested, &err);
			else
				wj_txn_abort(nested);
		}
		if (nrc != 0) {
			/* The reply may hold a half-built result: start it over. */
			wuji__reply__init(rep);
			rep->id = req->id;
			reply_error(rep, &err, a);
		}
	}

	if (rc == 0 && !writes) {
		wj_txn_abort(t);
	} else if (rc == 0) {
		rc = wj_service_before_commit(s, t, &txn_err);
		if (rc == 0)
			rc = wj_txn_commit(t, &txn_err);
		else
			wj_txn_abort(t);
		if (rc != 0) {
			wj_error("store: group commit of %zu requests failed: %s", n, txn_err.msg);
			for (size_t i = 0; i < n; i++) {
				if (decoded[i] == NULL)
					continue;
				uint64_t id = replies[i]->id;
				wuji__reply__init(replies[i]);
				replies[i]->id = id;
				reply_error(replies[i], &txn_err, a);
			}
		}
		wj_service_calendar_changed(s);
	}
	for (size_t i = 0; i < n; i++) {
		if (held[i]) {
			reqs[i].reply = NULL;
			reqs[i].reply_len = 0;
			continue;
		}
		pack_reply(&reqs[i], replies[i], a);
	}
	s->batch_item = NULL;   /* lives in the arena the caller resets */
	return rc;
}
