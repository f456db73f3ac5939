/* The simulator's verdict, once the tree is quiescent:
 *   1. every node that should hold a case (its participants and their
 *      ancestors) holds it, byte for byte the same, and the same events;
 *   2. no other node holds the case or any of its events;
 *   3. every stored event of a case is in its history exactly once;
 *   4. every acknowledged submission and command is in the history of its
 *      case at every node that holds it, and took effect there, unless
 *      the client raced it against a step at another node: then it may
 *      be in the history without effect (superseded), which check 1
 *      makes the same at every copy;
 *   5. the catalog and the calendar reached every node, the same;
 *   6. an event id names the same event at every node that holds it;
 * and every store passes wj_store_verify.  Read straight from each
 * node's store in read transactions: nothing here changes a node. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "core/route.h"
#include "sim.h"
#include "storage/store.h"

#define MAX_REPORT 40

/* One event id as first seen: its content and where. */
typedef struct idslot {
	uint64_t origin, seq;  /* origin 0: free */
	uint64_t hash;         /* of the packed event */
	int node;
	char number[48];
} idslot_t;

typedef struct cref {
	bool lost;            /* undone by a restore of its origin: nowhere */
	uint8_t *bytes;       /* the origin's copy, packed */
	size_t len;
	Wuji__Case *c;        /* decoded, in the check arena */
	uint64_t n_events, ev_hash;
	bool *present;        /* per known node */
} cref_t;

struct chk {
	sim_t *S;
	wj_arena_t a;         /* references: whole check */
	wj_arena_t tmp;       /* per node */
	cref_t *refs;
	int *by_number;       /* open addressing: number -> case index */
	size_t cap;
	int node;             /* node being scanned */
	wj_txn_t *t;
	int reported;
	idslot_t *ids;        /* every case event seen at any node, by id */
	size_t ids_cap, n_ids;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	return h;
}

static int lookup(const struct chk *k, const char *number)
{
	size_t mask = k->cap - 1;
	for (size_t h = hash_str(number) & mask;; h = (h + 1) & mask) {
		int i = k->by_number[h];
		if (i < 0)
			return -1;
		if (strcmp(k->S->cases[i].number, number) == 0)
			return i;
	}
}

static const char *code12(uint64_t code)
{
	static char buf[4][16];
	static int n;
	n = (n + 1) & 3;
	snprintf(buf[n], sizeof(buf[n]), "%012" PRIu64, code);
	return buf[n];
}

#define FAIL(k, ...)                                          \
	do {                                                  \
		if ((k)->reported++ < MAX_REPORT)             \
			sim_fail((k)->S, __VA_ARGS__);        \
		else                                          \
			(k)->S->n_failures++;                 \
	} while (0)

/* Read-time fields are not state. */
static uint8_t *pack_state(Wuji__Case *c, wj_arena_t *a, size_t *len)
{
	Wuji__Case copy = *c;
	copy.warning = WUJI__WARNING__WARNING_NONE;
	copy.days_left = 0;
	copy.n_known_at = 0;
	copy.known_at = NULL;
	*len = wuji__case__get_packed_size(&copy);
	uint8_t *buf = wj_arena_alloc(a, *len ? *len : 1);
	wuji__case__pack(&copy, buf);
	return buf;
}

/* Names the first fields that differ, for a failure a person can act on. */
static void describe_diff(const Wuji__Case *x, const Wuji__Case *y, char *out, size_t size)
{
	size_t n = 0;
#define ADD(...)                                                                 \
	do {                                                                     \
		if (n < size)                                                    \
			n += (size_t)snprintf(out + n, size - n, __VA_ARGS__);   \
	} while (0)
	if (x->status != y->status)
		ADD(" status %s vs %s;", wj_status_name(x->status), wj_status_name(y->status));
	if (x->n_history != y->n_history)
		ADD(" %zu vs %zu history entries;", x->n_history, y->n_history);
	size_t nh = x->n_history < y->n_history ? x->n_history : y->n_history;
	for (size_t i = 0; i < nh; i++) {
		const Wuji__HistoryEntry *a = x->history[i], *b = y->history[i];
		if (a->origin != b->origin || a->seq != b->seq || a->event != b->event ||
		    strcmp(a->detail ? a->detail : "", b->detail ? b->detail : "") != 0) {
			ADD(" history[%zu] %s %s/%" PRIu64 " vs %s %s/%" PRIu64 "%s;", i,
			    wj_event_name(a->event), code12(a->origin), a->seq,
			    wj_event_name(b->event), code12(b->origin), b->seq,
			    a->origin == b->origin && a->seq == b->seq ? " (detail differs)" : "");
			break;
		}
	}
	if (x->promised_due != y->promised_due || x->statutory_due != y->statutory_due)
		ADD(" due %d/%d vs %d/%d;", x->promised_due, x->statutory_due, y->promised_due,
		    y->statutory_due);
	if (x->n_tasks == y->n_tasks)
		for (size_t i = 0; i < x->n_tasks; i++)
			if (x->tasks[i]->status != y->tasks[i]->status)
				ADD(" task %zu %s vs %s;", i + 1,
				    wj_task_status_name(x->tasks[i]->status),
				    wj_task_status_name(y->tasks[i]->status));
	if (x->last_hlc != y->last_hlc || x->last_origin != y->last_origin ||
	    x->last_seq != y->last_seq)
		ADD(" last event %" PRIu64 "/%s/%" PRIu64 " vs %" PRIu64 "/%s/%" PRIu64 ";",
		    x->last_hlc, code12(x->last_origin), x->last_seq, y->last_hlc,
		    code12(y->last_origin), y->last_seq);
	if (x->extension_days != y->extension_days || x->n_pauses != y->n_pauses)
		ADD(" extension %u vs %u, pauses %zu vs %zu;", x->extension_days,
		    y->extension_days, x->n_pauses, y->n_pauses);
	if (n == 0)
		ADD(" other fields differ");
#undef ADD
}

struct evcount {
	uint64_t n, hash;
	struct chk *k;  /* when set: every id checked against the whole tree */
};

static void ids_grow(struct chk *k)
{
	size_t cap = k->ids_cap ? 2 * k->ids_cap : 1 << 14;
	idslot_t *ids = calloc(cap, sizeof(*ids));
	for (size_t i = 0; i < k->ids_cap; i++) {
		idslot_t *o = &k->ids[i];
		if (o->origin == 0)
			continue;
		size_t h = (size_t)((o->origin * 31 + o->seq) * 0x9e3779b97f4a7c15ULL >> 17);
		while (ids[h & (cap - 1)].origin)
			h++;
		ids[h & (cap - 1)] = *o;
	}
	free(k->ids);
	k->ids = ids;
	k->ids_cap = cap;
}

/* Check 6: an event id names one event, whichever node holds it.  Two
 * events under one id (a seq issued twice after a restore) are a loss
 * even where each copy of each case is consistent: a node that holds
 * one drops the other as a duplicate. */
static void check_id(struct chk *k, const Wuji__Event *ev, uint64_t hash)
{
	if (2 * (k->n_ids + 1) > k->ids_cap)
		ids_grow(k);
	size_t mask = k->ids_cap - 1;
	size_t h = (size_t)((ev->origin * 31 + ev->seq) * 0x9e3779b97f4a7c15ULL >> 17);
	for (;; h++) {
		idslot_t *s = &k->ids[h & mask];
		if (s->origin == 0) {
			*s = (idslot_t){.origin = ev->origin, .seq = ev->seq, .hash = hash,
					.node = k->node};
			snprintf(s->number, sizeof(s->number), "%s",
				 ev->case_number ? ev->case_number : "");
			k->n_ids++;
			return;
		}
		if (s->origin != ev->origin || s->seq != ev->seq)
			continue;
		if (s->hash != hash)
			FAIL(k, "event %s/%" PRIu64 " is two different events: %s of case %s at "
			     "%s, another of case %s at %s (a seq issued twice)",
			     code12(ev->origin), ev->seq, wj_event_name(ev->type),
			     ev->case_number ? ev->case_number : "", code12(k->S->nodes[k->node].code),
			     s->number, code12(k->S->nodes[s->node].code));
		return;
	}
}

/* Ids and contents: an event id that names another event at another
 * node (a seq issued twice after a restore) must not pass for the same. */
static int count_event(Wuji__Event *ev, void *ctx)
{
	struct evcount *e = ctx;
	uint8_t buf[4096];
	e->n++;
	e->hash = (e->hash ^ ev->origin) * 1099511628211ULL;
	e->hash = (e->hash ^ ev->seq) * 1099511628211ULL;
	uint64_t own = 1469598103934665603ULL;
	size_t len = wuji__event__get_packed_size(ev);
	if (len <= sizeof(buf)) {
		wuji__event__pack(ev, buf);
		for (size_t i = 0; i < len; i++) {
			e->hash = (e->hash ^ buf[i]) * 1099511628211ULL;
			own = (own ^ buf[i]) * 1099511628211ULL;
		}
	}
	if (e->k)
		check_id(e->k, ev, own);
	return 0;
}

static bool in_known(const sim_case_t *c, uint64_t code, size_t *pos)
{
	size_t lo = 0, hi = c->n_known;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c->known[mid] < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->n_known && c->known[lo] == code) {
		*pos = lo;
		return true;
	}
	return false;
}

static const Wuji__HistoryEntry *in_history(const Wuji__Case *c, uint64_t origin,
					     uint64_t seq)
{
	for (size_t i = 0; i < c->n_history; i++)
		if (c->history[i]->origin == origin && c->history[i]->seq == seq)
			return c->history[i];
	return NULL;
}

static int visit_case(Wuji__Case *cs, void *ctx)
{
	struct chk *k = ctx;
	sim_t *S = k->S;
	uint64_t self = S->nodes[k->node].code;
	int idx = lookup(k, cs->number);
	if (idx < 0) {
		FAIL(k, "node %s holds case %s, which no client was told was stored",
		     code12(self), cs->number);
		return 0;
	}
	sim_case_t *c = &S->cases[idx];
	cref_t *r = &k->refs[idx];
	size_t pos;
	if (r->lost) {
		FAIL(k, "case %s is not at its origin %s any more (restored from a backup "
		     "older than it), yet %s holds it: it should have come back",
		     cs->number, code12(S->nodes[c->origin].code), code12(self));
		return 0;
	}
	if (!in_known(c, self, &pos)) {
		FAIL(k, "node %s holds case %s, but only its participants and their "
		     "ancestors should (the case's participants: origin %s, %zu task node(s))",
		     code12(self), cs->number, code12(S->nodes[c->origin].code), c->n_tasks);
		return 0;
	}
	r->present[pos] = true;
	if (r->bytes == NULL)
		return 0; /* no reference: reported already */

	/* 3: each event once in the history. */
	for (size_t i = 0; i < cs->n_history; i++)
		for (size_t j = i + 1; j < cs->n_history; j++)
			if (cs->history[i]->origin == cs->history[j]->origin &&
			    cs->history[i]->seq == cs->history[j]->seq)
				FAIL(k, "case %s at %s: event %s/%" PRIu64 " (%s) is in its "
				     "history twice (entries %zu and %zu)", cs->number,
				     code12(self), code12(cs->history[i]->origin),
				     cs->history[i]->seq, wj_event_name(cs->history[i]->event),
				     i + 1, j + 1);

	/* 1: the same events and the same state as the origin. */
	struct evcount e = {0, 1469598103934665603ULL, k};
	wj_store_case_events(k->t, cs->number, &k->tmp, count_event, &e, NULL);
	if (e.n != r->n_events || e.hash != r->ev_hash)
		FAIL(k, "case %s: node %s holds %" PRIu64 " of its events, the origin %s "
		     "holds %" PRIu64 "%s", cs->number, code12(self), e.n,
		     code12(S->nodes[c->origin].code), r->n_events,
		     e.n == r->n_events ? " (not the same ones)" : "");
	if (e.n != cs->n_history)
		FAIL(k, "case %s at %s: %" PRIu64 " events stored but %zu in its history "
		     "(an event was not applied, or applied twice)", cs->number,
		     code12(self), e.n, cs->n_history);
	size_t len;
	uint8_t *bytes = pack_state(cs, &k->tmp, &len);
	if (len != r->len || memcmp(bytes, r->bytes, len) != 0) {
		char diff[600];
		describe_diff(cs, r->c, diff, sizeof(diff));
		FAIL(k, "case %s differs between %s and its origin %s:%s", cs->number,
		     code12(self), code12(S->nodes[c->origin].code), diff);
	}

	/* 4: nothing acknowledged is lost, nor silently without effect. */
	for (size_t i = 0; i < c->n_acks; i++) {
		const sim_ack_t *ack = &c->acks[i];
		const Wuji__HistoryEntry *h = in_history(cs, ack->origin, ack->seq);
		if (h == NULL && !sim_maybe_undone(S, sim_index(S, ack->origin), ack->at_ms))
			FAIL(k, "case %s at %s: the acknowledged %s by %s (event %" PRIu64
			     ", at %.3f s) is not in its history", cs->number, code12(self),
			     wj_event_name(ack->type), code12(ack->origin), ack->seq,
			     (double)(ack->at_ms - S->t0) / 1000);
		if (h && h->no_effect && self == ack->origin)
			S->st.superseded++;
		/* A step a restore may have undone may come back without the
		 * steps it followed (undone too, and nowhere else): then it
		 * has no effect, the same at every copy (check 1). */
		if (h && h->no_effect && !c->contested &&
		    !sim_maybe_undone(S, sim_index(S, ack->origin), ack->at_ms))
			FAIL(k, "case %s at %s: the acknowledged %s by %s (event %" PRIu64
			     ", at %.3f s) had no effect (%s), yet the client raced no "
			     "step against it", cs->number, code12(self),
			     wj_event_name(ack->type), code12(ack->origin), ack->seq,
			     (double)(ack->at_ms - S->t0) / 1000, h->detail);
	}
	return 0;
}

/* -------------------------------------------------- catalog, calendar */

typedef struct blobs {
	uint8_t **b;
	size_t *len;
	size_t n, n_len;
	wj_arena_t *a;
} blobs_t;

static void blob_add(blobs_t *bl, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = wj_arena_alloc(bl->a, len ? len : 1);
	protobuf_c_message_pack(m, buf);
	uint8_t **slot = wj_arena_push(bl->a, &bl->b, &bl->n, sizeof(*slot));
	*slot = buf;
	size_t *ls = wj_arena_push(bl->a, &bl->len, &bl->n_len, sizeof(*ls));
	*ls = len;
}

static int item_blob(Wuji__CatalogItem *it, void *ctx)
{
	blob_add(ctx, &it->base);
	return 0;
}

static int year_blob(Wuji__CalendarYear *y, void *ctx)
{
	blob_add(ctx, &y->base);
	return 0;
}

static bool blobs_equal(const blobs_t *x, const blobs_t *y)
{
	if (x->n != y->n)
		return false;
	for (size_t i = 0; i < x->n; i++)
		if (x->len[i] != y->len[i] || memcmp(x->b[i], y->b[i], x->len[i]) != 0)
			return false;
	return true;
}

static void problem(const char *p, void *ctx)
{
	struct chk *k = ctx;
	FAIL(k, "store of %s fails verify: %s", code12(k->S->nodes[k->node].code), p);
}

/* ------------------------------------------------------------- check */

static int check_files(struct chk *k)
{
	sim_t *S = k->S;
	blobs_t cat0 = {.a = &k->a}, cal0 = {.a = &k->a};
	wj_txn_t *t;
	if (wj_txn_begin(wj_service_store(S->nodes[0].svc), false, &t, NULL) != 0) {
		FAIL(k, "cannot read the province's store");
		return -1;
	}
	wj_store_catalog_scan(t, &k->a, item_blob, &cat0, NULL);
	wj_store_calendar_scan(t, &k->a, year_blob, &cal0, NULL);
	wj_txn_abort(t);
	if (cat0.n != S->catalog->n_items)
		FAIL(k, "the province holds %zu catalog items; %zu were loaded", cat0.n,
		     S->catalog->n_items);
	if (cal0.n != S->calendar->n_years)
		FAIL(k, "the province holds %zu calendar years; %zu were loaded", cal0.n,
		     S->calendar->n_years);
	for (size_t i = 1; i < S->n_nodes; i++) {
		blobs_t cat = {.a = &k->tmp}, cal = {.a = &k->tmp};
		if (wj_txn_begin(wj_service_store(S->nodes[i].svc), false, &t, NULL) != 0)
			continue;
		wj_store_catalog_scan(t, &k->tmp, item_blob, &cat, NULL);
		wj_store_calendar_scan(t, &k->tmp, year_blob, &cal, NULL);
		wj_txn_abort(t);
		if (!blobs_equal(&cat, &cat0))
			FAIL(k, "node %s holds %zu catalog items, not the province's %zu%s",
			     code12(S->nodes[i].code), cat.n, cat0.n,
			     cat.n == cat0.n ? " (they differ)" : "");
		if (!blobs_equal(&cal, &cal0))
			FAIL(k, "node %s holds %zu calendar years, not the province's %zu%s",
			     code12(S->nodes[i].code), cal.n, cal0.n,
			     cal.n == cal0.n ? " (they differ)" : "");
		wj_arena_reset(&k->tmp);
	}
	return 0;
}

static void make_refs(struct chk *k)
{
	sim_t *S = k->S;
	for (size_t i = 0; i < S->n_cases; i++) {
		sim_case_t *c = &S->cases[i];
		cref_t *r = &k->refs[i];
		r->present = wj_arena_alloc(&k->a, (c->n_known + 1) * sizeof(bool));
		wj_txn_t *t;
		if (wj_txn_begin(wj_service_store(S->nodes[c->origin].svc), false, &t, NULL) != 0)
			continue;
		Wuji__Case *cs;
		if (c->number[0] == '\0') {
			r->lost = true; /* its number went to a later case */
			wj_txn_abort(t);
			continue;
		}
		if (wj_store_case_get(t, c->number, &k->a, &cs, NULL) != 0) {
			if (sim_maybe_undone(S, c->origin, c->acks[0].at_ms))
				r->lost = true;
			else
				FAIL(k, "case %s, acknowledged at %s, is not in its store",
				     c->number, code12(S->nodes[c->origin].code));
			wj_txn_abort(t);
			continue;
		}
		uint64_t parts[17];
		size_t np = wj_route_participants(cs, parts, 17);
		if (np != c->n_parts || memcmp(parts, c->parts, np * sizeof(parts[0])) != 0)
			FAIL(k, "case %s: its participants at the origin changed since it was "
			     "submitted", c->number);
		r->c = cs;
		r->bytes = pack_state(cs, &k->a, &r->len);
		struct evcount e = {0, 1469598103934665603ULL};
		wj_store_case_events(t, c->number, &k->a, count_event, &e, NULL);
		r->n_events = e.n;
		r->ev_hash = e.hash;
		wj_txn_abort(t);
	}
}

int sim_check(sim_t *S)
{
	struct chk k = {.S = S};
	wj_arena_init(&k.a, 1 << 20);
	wj_arena_init(&k.tmp, 1 << 20);
	int before = S->n_failures;
	for (size_t i = 0; i < S->n_nodes; i++)
		if (!S->nodes[i].up)
			FAIL(&k, "node %s is down at the end", code12(S->nodes[i].code));
	if (S->n_failures != before)
		goto out;

	k.cap = 1;
	while (k.cap < 2 * S->n_cases + 2)
		k.cap <<= 1;
	k.by_number = malloc(k.cap * sizeof(int));
	k.refs = calloc(S->n_cases + 1, sizeof(*k.refs));
	for (size_t i = 0; i < k.cap; i++)
		k.by_number[i] = -1;
	for (size_t i = 0; i < S->n_cases; i++) {
		size_t h = hash_str(S->cases[i].number) & (k.cap - 1);
		while (k.by_number[h] >= 0)
			h = (h + 1) & (k.cap - 1);
		k.by_number[h] = (int)i;
	}

	check_files(&k);
	make_refs(&k);
	for (size_t i = 0; i < S->n_nodes; i++) {
		k.node = (int)i;
		wj_txn_t *t;
		if (wj_txn_begin(wj_service_store(S->nodes[i].svc), false, &t, NULL) != 0) {
			FAIL(&k, "cannot read the store of %s", code12(S->nodes[i].code));
			continue;
		}
		k.t = t;
		wj_store_case_scan(t, &(wj_case_filter_t){0}, visit_case, &k, NULL);
		/* 2, events: a node outside a case's routes holds none of them. */
		for (size_t c = 0; c < S->n_cases; c++) {
			size_t pos;
			if (S->cases[c].number[0] == '\0' ||
			    (in_known(&S->cases[c], S->nodes[i].code, &pos) && !k.refs[c].lost))
				continue;
			struct evcount e = {0, 0, &k};
			wj_store_case_events(t, S->cases[c].number, &k.tmp, count_event, &e, NULL);
			if (e.n)
				FAIL(&k, "node %s holds %" PRIu64 " event(s) of case %s, which "
				     "is not routed to it", code12(S->nodes[i].code), e.n,
				     S->cases[c].number);
		}
		wj_store_verify(t, &k.tmp, problem, &k, NULL);
		wj_txn_abort(t);
		wj_arena_reset(&k.tmp);
	}
	for (size_t c = 0; c < S->n_cases; c++) {
		sim_case_t *sc = &S->cases[c];
		for (size_t j = 0; j < sc->n_known && !k.refs[c].lost; j++)
			if (k.refs[c].present && !k.refs[c].present[j])
				FAIL(&k, "case %s (origin %s, %s) is missing at %s, which "
				     "should hold it", sc->number, code12(S->nodes[sc->origin].code),
				     sc->item, code12(sc->known[j]));
	}
	free(k.by_number);
	free(k.refs);
	free(k.ids);
out:
	wj_arena_free(&k.a);
	wj_arena_free(&k.tmp);
	return S->n_failures != before ? -1 : 0;
}

/* ------------------------------------------------------------- debug */

static int dump_event(Wuji__Event *ev, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "      event %s/%" PRIu64 " hlc %" PRIu64 ".%" PRIu64 " %s\n",
		code12(ev->origin), ev->seq, ev->hlc >> 16, ev->hlc & 0xffff,
		wj_event_name(ev->type));
	return 0;
}

void sim_dump_case(sim_t *S, const char *number)
{
	wj_arena_t a;
	wj_arena_init(&a, 1 << 16);
	for (size_t i = 0; i < S->n_nodes; i++) {
		if (!S->nodes[i].up)
			continue;
		wj_txn_t *t;
		if (wj_txn_begin(wj_service_store(S->nodes[i].svc), false, &t, NULL) != 0)
			continue;
		Wuji__Case *c;
		if (wj_store_case_get(t, number, &a, &c, NULL) == 0) {
			fprintf(stderr, "  %s: %s, %zu history entries, last %" PRIu64 "/%s/%" PRIu64
				"\n", code12(S->nodes[i].code), wj_status_name(c->status),
				c->n_history, c->last_hlc, code12(c->last_origin), c->last_seq);
			for (size_t h = 0; h < c->n_history; h++)
				fprintf(stderr, "    %zu %s%s %s/%" PRIu64 ": %s\n", h + 1,
					wj_event_name(c->history[h]->event),
					c->history[h]->no_effect ? " (no effect)" : "",
					code12(c->history[h]->origin), c->history[h]->seq,
					c->history[h]->detail);
		} else {
			struct evcount e = {0, 0};
			wj_store_case_events(t, number, &a, count_event, &e, NULL);
			if (e.n)
				fprintf(stderr, "  %s: no case, but %" PRIu64 " of its events\n",
					code12(S->nodes[i].code), e.n);
		}
		wj_store_case_events(t, number, &a, dump_event, NULL, NULL);
		wj_txn_abort(t);
		wj_arena_reset(&a);
	}
	wj_arena_free(&a);
}

/* ---------------------------------------------------------- self-test */

enum rewrite { RW_CORRUPT, RW_FORGET, RW_NULLIFY };

static int rewrite_case(sim_t *S, int node, const char *number, enum rewrite how)
{
	wj_arena_t a;
	wj_arena_init(&a, 1 << 16);
	wj_txn_t *t;
	int rc = wj_txn_begin(wj_service_store(S->nodes[node].svc), true, &t, NULL);
	Wuji__Case *c = NULL;
	if (rc == 0 && (rc = wj_store_case_get(t, number, &a, &c, NULL)) == 0) {
		Wuji__Case old = *c;
		if (how == RW_CORRUPT)
			c->extension_days += 1;
		else if (how == RW_FORGET && c->n_history > 0)
			c->n_history--;
		else if (how == RW_NULLIFY && c->n_history > 0)
			c->history[c->n_history - 1]->no_effect = true;
		rc = wj_store_case_put(t, &old, c, NULL);
	}
	if (rc == 0)
		rc = wj_txn_commit(t, NULL);
	else if (t)
		wj_txn_abort(t);
	wj_arena_free(&a);
	return rc;
}

struct leak {
	sim_t *S;
	wj_service_t *to;
	wj_txn_t *t;
	wj_arena_t *a;
	int64_t l_now;
};

static int leak_event(Wuji__Event *ev, void *ctx)
{
	struct leak *l = ctx;
	bool fresh;
	wj_service_apply_event(l->to, l->t, ev, ev->origin, l->l_now, l->a, &fresh, NULL);
	return 0;
}

static void leak_case(sim_t *S, sim_case_t *c, int node)
{
	wj_arena_t a;
	wj_arena_init(&a, 1 << 16);
	wj_txn_t *from, *to;
	if (wj_txn_begin(wj_service_store(S->nodes[c->origin].svc), false, &from, NULL) != 0)
		goto out;
	if (wj_txn_begin(wj_service_store(S->nodes[node].svc), true, &to, NULL) != 0) {
		wj_txn_abort(from);
		goto out;
	}
	struct leak l = {.S = S, .to = S->nodes[node].svc, .t = to, .a = &a,
			 .l_now = sim_node_now(S, node)};
	wj_store_case_events(from, c->number, &a, leak_event, &l, NULL);
	wj_txn_abort(from);
	wj_txn_commit(to, NULL);
out:
	wj_arena_free(&a);
}

/* --sabotage reuse: node i stores, under the id of an event it does not
 * hold, another event of a case it does hold, as a node restored from an
 * old backup would that issued a seq again while the first event lived
 * on elsewhere. */
static bool reuse_id(sim_t *S, int i, const char *number, uint64_t origin, uint64_t seq)
{
	wj_arena_t a;
	wj_arena_init(&a, 1 << 16);
	wj_txn_t *t;
	bool done = false;
	if (wj_txn_begin(wj_service_store(S->nodes[i].svc), true, &t, NULL) != 0)
		goto out;
	Wuji__Case *c;
	Wuji__Event *ev;
	if (wj_store_event_exists(t, origin, seq) ||
	    wj_store_case_get(t, number, &a, &c, NULL) != 0 || c->n_history == 0 ||
	    wj_store_event_get(t, c->history[c->n_history - 1]->origin,
			       c->history[c->n_history - 1]->seq, &a, &ev, NULL) != 0) {
		wj_txn_abort(t);
		goto out;
	}
	ev->origin = origin;
	ev->seq = seq;
	ev->hlc++;
	done = wj_store_event_put(t, ev, S->nodes[i].parent >= 0 ?
				  S->nodes[S->nodes[i].parent].code : 0, NULL, NULL) == 0 &&
	       wj_txn_commit(t, NULL) == 0;
	if (!done)
		wj_txn_abort(t);
out:
	wj_arena_free(&a);
	return done;
}

/* Breaks the converged tree in one way the checks must notice:
 *   wipe     a county loses its store (and comes back empty, unlinked);
 *   corrupt  one node's copy of a case changes;
 *   forget   every copy of a case loses its newest history entry;
 *   nullify  every copy of a case shows its newest step as without
 *            effect, though nothing raced it (the copies agree);
 *   leak     a village outside a case's routes gets the case;
 *   reuse    a node holds, under the id of another case's event, an
 *            event of its own case (a seq issued twice). */
void sim_sabotage(sim_t *S, const char *how, void (*wipe)(sim_t *, int))
{
	if (strcmp(how, "reuse") == 0) {
		for (size_t i = 0; i < S->n_cases; i++) {
			sim_case_t *c1 = &S->cases[i];
			if (c1->number[0] == '\0' || c1->n_acks < 2 || c1->contested)
				continue;
			const sim_ack_t *ack = &c1->acks[c1->n_acks - 1];
			for (size_t j = 0; j < S->n_cases; j++) {
				sim_case_t *c2 = &S->cases[j];
				size_t pos;
				if (j == i || c2->number[0] == '\0' || c2->maybe_lost)
					continue;
				for (size_t x = 0; x < c2->n_known; x++) {
					if (in_known(c1, c2->known[x], &pos))
						continue;
					int node = sim_index(S, c2->known[x]);
					if (!reuse_id(S, node, c2->number, ack->origin, ack->seq))
						continue;
					fprintf(stderr, "wuji-sim: sabotage: %s holds event %s/%"
						PRIu64 " (of case %s elsewhere) as an event of "
						"case %s\n", code12(c2->known[x]),
						code12(ack->origin), ack->seq, c1->number,
						c2->number);
					return;
				}
			}
		}
		return;
	}
	if (strcmp(how, "leak") == 0) {
		/* A village outside a case's routes gets the case's events. */
		for (size_t i = 0; i < S->n_cases; i++) {
			sim_case_t *c = &S->cases[i];
			for (size_t v = 0; v < S->n_nodes; v++) {
				size_t pos;
				if (S->nodes[v].level != 5 || in_known(c, S->nodes[v].code, &pos))
					continue;
				fprintf(stderr, "wuji-sim: sabotage: copying case %s to %s\n",
					c->number, code12(S->nodes[v].code));
				leak_case(S, c, (int)v);
				return;
			}
		}
		return;
	}
	if (strcmp(how, "wipe") == 0) {
		for (size_t i = 0; i < S->n_nodes; i++)
			if (S->nodes[i].level == 3) {
				fprintf(stderr, "wuji-sim: sabotage: wiping %s\n",
					code12(S->nodes[i].code));
				wipe(S, (int)i);
				return;
			}
		return;
	}
	for (size_t i = 0; i < S->n_cases; i++) {
		sim_case_t *c = &S->cases[i];
		if (c->n_known < 3 || c->n_acks < 3 || c->contested)
			continue;
		if (strcmp(how, "corrupt") == 0) {
			int node = sim_index(S, c->known[0]);
			fprintf(stderr, "wuji-sim: sabotage: changing case %s at %s\n", c->number,
				code12(c->known[0]));
			rewrite_case(S, node, c->number, RW_CORRUPT);
		} else if (strcmp(how, "nullify") == 0) {
			fprintf(stderr, "wuji-sim: sabotage: marking the last step of case %s "
				"without effect everywhere\n", c->number);
			for (size_t k = 0; k < c->n_known; k++)
				rewrite_case(S, sim_index(S, c->known[k]), c->number, RW_NULLIFY);
		} else {
			fprintf(stderr, "wuji-sim: sabotage: dropping the last history entry of "
				"case %s everywhere\n", c->number);
			for (size_t k = 0; k < c->n_known; k++)
				rewrite_case(S, sim_index(S, c->known[k]), c->number, RW_FORGET);
		}
		return;
	}
}

/* --dump-origin CODE: which node holds which event of that origin. */
void sim_dump_origin(sim_t *S, uint64_t origin)
{
	wj_arena_t a;
	wj_arena_init(&a, 1 << 16);
	for (size_t i = 0; i < S->n_nodes; i++) {
		if (!S->nodes[i].up)
			continue;
		wj_txn_t *t;
		if (wj_txn_begin(wj_service_store(S->nodes[i].svc), false, &t, NULL) != 0)
			continue;
		uint64_t max = 0;
		wj_store_origin_max_seq(t, origin, &max);
		wj_store_meta_t m = {0};
		wj_store_meta(t, &m);
		if (max)
			fprintf(stderr, "  %s holds events of %s up to seq %" PRIu64 " (its last_seq %"
				PRIu64 "):\n", code12(S->nodes[i].code), code12(origin), max, m.last_seq);
		/* Seqs skip the gap a restore leaves: step from one stored to
		 * the next. */
		for (uint64_t q = 0; wj_store_origin_next_seq(t, origin, q, &q) == 0 && q != 0;) {
			Wuji__Event *ev;
			if (wj_store_event_get(t, origin, q, &a, &ev, NULL) == 0)
				fprintf(stderr, "    %" PRIu64 " %s %s hlc %" PRIu64 ".%" PRIu64 "\n", q,
					wj_event_name(ev->type), ev->case_number, ev->hlc >> 16,
					ev->hlc & 0xffff);
		}
		wj_txn_abort(t);
		wj_arena_reset(&a);
	}
	wj_arena_free(&a);
}
