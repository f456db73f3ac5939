/* Replication between nodes: the protocol of proto/wuji.proto's PeerMsg,
 * as a state machine over the store with no I/O (see repl.h).
 *
 * Per peer there are two streams.
 *
 * Outgoing (our change log to the peer).  `acked` is what the peer has
 * confirmed, `wire` where the peer will be once the batches in flight
 * arrive, `scanned` how far we have looked for events the peer needs.  A
 * batch says "these are all the events for you in (prev, last]", so a
 * range with nothing for the peer costs no message: the next batch simply
 * starts at `wire`.  When acknowledgements stall, or the peer reports a
 * gap, we go back to `acked` and send again.
 *
 * A village's link may carry a few kbit/s, and one batch of 512 events
 * (some 180 KB) would then take longer to cross than the silence after
 * which either end calls the link dead: the stream would never move.  So
 * each peer's stream paces itself from what its acknowledgements say: a
 * byte budget per batch sized to be acknowledged in about a second, a
 * stall timeout that follows the measured time between acknowledgements
 * (and doubles at each stall), and after a stall one batch in flight
 * until acknowledgements flow again.  On a fast link none of this shows:
 * the budget grows past what batch_events allows and the timeout stays at
 * rto_ms.
 *
 * Incoming (the peer's log to us).  A batch is applied when prev <= our
 * position < last; the new position is stored in the transaction that
 * applies the events, then acknowledged.  Events in the overlap are
 * recognised by their id and skipped.
 *
 * Hello (on every (re)connection) agrees on epochs and resume points.  A
 * node restored from an old backup learns from the hello what it had
 * issued before, never reuses those seqs or case numbers, and takes a new
 * epoch so that peers read its log again from the start.  A peer that
 * needs entries already trimmed from our log is sent a snapshot: the
 * calendar, the catalog and every case routed to it, then the stream
 * resumes at the log position where the snapshot began. */
#include "repl.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/case.h"
#include "core/catalog.h"
#include "core/date.h"
#include "core/division.h"
#include "core/pbwire.h"
#include "core/route.h"
#include "log.h"
#include "storage/store.h"

#define INFLIGHT_MAX 64
#define RESTORED_GATE_MAX_MS (10 * 60 * 1000) /* see peer_may_hand_back */
/* All the waiting for one neighbour's restores in a day, however many
 * (see gate_spent_ms). */
#define RESTORE_GATE_BUDGET_MS (30 * 60 * 1000)
#define RESTORE_GATE_DAY_MS (24 * 3600 * 1000)
#define REFUSAL_LOG_MS 10000  /* refusals of one peer's input: a line at most this often */
/* Unacknowledged requests for everything back, over at least this long,
 * before we say the peer may never answer (a request is repeated every
 * hello interval, or every tick when the node is idle). */
#define RESYNC_UNANSWERED_WARN 10
#define RESYNC_UNANSWERED_WARN_MS 30000
#define RELEASE_BUSY_MS 2      /* a busy village drops its mapped pages */
#define BATCH_BYTES_FIRST (32u << 10) /* budget before any acknowledgement */
#define BATCH_BYTES_MIN 4096
#define BATCH_BYTES_MAX (64u << 20)
#define BATCH_TARGET_MS 1000    /* how long a batch should take to be acked */
#define RTO_MAX_MS 60000
#define SCAN_MAX 20000          /* log entries looked at per batch */
#define BACKLOG_SCAN_MAX 200000 /* log entries counted for `peers` */
#define SHED_EVERY 32           /* events a village reads between page releases */
#define TREE_NODES_MAX 100000
#define ROUTE_CACHE 4096
#define REPORT_MAX (8u << 20)
#define TREE_WARNING_MAX 240  /* bytes of a node's warning passed up */
/* Warning bytes in one tree report: with TREE_NODES_MAX nodes of about
 * 53 bytes it stays within REPORT_MAX, which the parent enforces. */
#define TREE_WARNINGS_MAX (1u << 20)

/* Field numbers in proto/wuji.proto, for batches packed by hand. */
#define PEER_MSG_BATCH_FIELD 11
#define BATCH_EVENTS_FIELD 4
#define PEER_MSG_AHEAD_FIELD 16
#define AHEAD_EVENTS_FIELD 1

/* A round with more than this goes up only in the ordinary stream: an
 * Ahead saves a lone case the wait for each level's fsync, while under
 * load the stream's batches already fill every commit, and sending each
 * event twice would cost throughput. */
#define AHEAD_EVENTS_MAX 64
#define AHEAD_BYTES_MAX (128u << 10)
/* After an Ahead, the ordinary stream to the parent waits this long, so
 * that what it repeats arrives in one batch (one commit there) rather
 * than one per Ahead: the parent's fsyncs stay about one per case. */
#define AHEAD_HOLD_MS 20

enum snap_phase { SNAP_CALENDAR, SNAP_CATALOG, SNAP_CASES, SNAP_DONE };

typedef struct peer {
	uint64_t code;
	bool is_parent;
	Wuji__LinkState state;
	bool hello_seen;         /* agreed on resume points since (re)connect */
	bool met;                /* a hello came from it since this process began */
	int64_t last_heard_ms, last_hello_ms, last_ping_ms, last_tree_ms;
	int64_t last_empty_ms;

	/* outgoing */
	uint64_t session;        /* bumped at every restart of the stream */
	bool sent;               /* a batch went to it since this process began */
	uint64_t acked, wire, scanned;
	uint64_t inflight[INFLIGHT_MAX];  /* `last` of each batch in flight */
	uint32_t inflight_events[INFLIGHT_MAX];
	size_t n_inflight;
	int64_t progress_ms;     /* acked last moved, or the first batch left */
	uint32_t inflight_bytes[INFLIGHT_MAX];
	/* pacing (see the top of this file) */
	uint32_t batch_bytes;    /* budget of event bytes per batch */
	uint32_t cwnd;           /* batches allowed in flight */
	uint32_t rto;            /* stall timeout now, ms */
	int64_t srtt, rttvar;    /* time between acks that move `acked`, ms
				    (srtt 0: not measured yet) */
	bool acked_dirty;        /* persist WJ_CURSOR_ACKED lazily */

	uint64_t goback_pos;     /* last gap honoured, to damp duplicate gap acks */
	int64_t goback_ms;
	uint64_t echo_until;     /* full resync: send events back where they came
				    from up to this log position */

	/* snapshot we send */
	uint64_t snap_id;
	bool snapshot;
	enum snap_phase snap_phase, snap_phase0;
	char snap_key[WJ_TEXT_MAX + 1], snap_key0[WJ_TEXT_MAX + 1];
	uint64_t snap_batch, snap_end;
	uint32_t snap_bytes;     /* event bytes of the batch in flight */
	bool snap_inflight, snap_final;
	int64_t snap_sent_ms;
	uint64_t resyncs;

	/* incoming */
	uint64_t recv_epoch, recv_pos;
	uint64_t snap_recv, snap_recv_id;
	/* We were restored from an old copy: until this peer's log has been
	 * read up to resync_target, ask it for everything (pending is
	 * persisted; the target comes from the peer's acknowledgement). */
	uint64_t resync_target;
	bool resync_pending;
	/* Hellos asking for everything back that the peer, answering our
	 * hellos, has not acknowledged: a peer of a build older than the
	 * resync never will, and its batches are held back meanwhile. */
	uint32_t resync_unanswered;
	int64_t resync_asked_ms;    /* the first of them */
	bool resync_unanswered_warned;
	/* It said that what it sends us may still lack events it is itself
	 * getting back, from the rest of the tree, after a restore (or we
	 * have not heard otherwise since our resync began): see
	 * peer_recovery. */
	bool away_recovering;
	/* Its log end when it last said it had recovered: until we have read
	 * its log that far, events of ours it got back may be on their way
	 * (this epoch of its log; 0 when nothing is owed). */
	uint64_t away_until;
	/* The epoch of its log in which it asked us for everything back
	 * (restored from an old copy itself), 0 if none or once it can hand
	 * back nothing more (persisted, with away_until: a crash of ours
	 * must not forget it while it may still hand back events of ours). */
	uint64_t restored_epoch;
	int64_t restored_since_ms;  /* when we heard it, or started */
	bool restored_gate_warned;
	/* How long our writes have waited for its restores since gate_day_ms
	 * (counted at each tick, from gate_seen_ms): each restore waits at
	 * most RESTORED_GATE_MAX_MS, and all of a day's at most
	 * RESTORE_GATE_BUDGET_MS, or a peer saying again and again that it
	 * was restored (new epochs) could hold them for ever. */
	int64_t gate_day_ms, gate_seen_ms, gate_spent_ms;
	/* Where its log is read again from, once a batch of it held events
	 * of ours that revealed our restore (restore_hint_seq); UINT64_MAX:
	 * none. */
	uint64_t hint_pos;
	/* Refusals of what it sent, logged at most every REFUSAL_LOG_MS:
	 * a peer must not be able to fill our log. */
	int64_t refusal_logged_ms;
	uint64_t refusals_unlogged;
	/* We told it we had recovered, in this epoch: from then on we say so
	 * (see recovering_toward). */
	bool toward_done;
	uint64_t min_session;    /* batches of older sessions are ignored */
	bool takes_ahead;        /* its hello said so: it is sent Aheads */
	int64_t ahead_hold_until; /* the stream to it waits till then (AHEAD_HOLD_MS);
				     0: not held */
	bool in_round;           /* batches applied in the open round */
	uint64_t round_from;     /* recv_pos before the round, if it fails */

	/* clock, parent only */
	int64_t skew_ms;
	bool skew_known;
	int64_t skew_warned_ms;

	/* the child's last tree report, packed */
	uint8_t *report;
	size_t report_len;
	bool report_big_warned;

	/* backlog, counted on demand and kept for a second */
	uint64_t backlog;
	int64_t backlog_ms;
	int64_t backlog_oldest_at;  /* Unix seconds of its oldest event */
} peer_t;

struct route_slot {
	char number[WJ_CASE_NUMBER_MAX + 1];
	uint8_t n;
	uint64_t parts[WJ_ROUTE_PARTICIPANTS_MAX];
};

struct wj_repl {
	wj_service_t *svc;
	wj_store_t *store;
	uint64_t self;
	wj_repl_opts_t o;
	peer_t *peers;
	size_t n_peers;
	uint64_t epoch, log_first, log_end, last_seq;
	/* The log end when this process began: no peer can hold more of
	 * this epoch's log, until we have sent it something. */
	uint64_t start_log_end;
	int64_t last_maint_ms;
	struct route_slot *routes;  /* participants by case number */
	uint64_t snap_counter;
	uint64_t restore_max_seq;   /* own events children may hand back: up to
				       the end of the gap left at the last restore */
	uint64_t restore_gap_from;  /* where that gap begins: the last own seq
				       known when the restore was found */
	bool restore_seen;          /* recovered from a restore in this run */
	/* An event of ours beyond our last seq, on a case of the child that
	 * sent it: what a restore took from us, come back through a child
	 * that got it back itself after its own hello (restored with us).
	 * Recovered from once the messages in hand are applied. */
	uint64_t restore_hint_seq, restore_hint_from;
	int64_t started_ms, now_ms; /* when this process began; the latest time given */
	int64_t last_release_ms;
	uint64_t released_at;       /* log_end at the last page release */
	bool heap_grown;            /* busy since the last malloc_trim */
	uint32_t reads_since_shed;  /* events read since pages were last dropped */
	bool read_since_release;    /* events read since the tick's last release */
	bool shed_warned;
	bool light;                 /* a village: the light node (small memory
				       budget, weak PC); a level never changes */
	wj_arena_t scratch;         /* one received message at a time */
	wj_arena_t route_scratch;   /* one routing decision at a time */
	/* One applied event at a time: each reads its case, or all of the
	 * case's events, and a batch may hold many events of one case. */
	wj_arena_t apply_scratch;
	bool commit_failing;        /* the last round's commit failed: no Aheads */
};

/* Cursor slots of our own beyond store.h's, kept per peer. */
#define CURSOR_RESYNC_PENDING 16
/* 17: the resync target, no longer kept (a resync restarts from the
 * peer's acknowledgement); not to be reused. */
#define CURSOR_RESTORE_MAX 18     /* peer 0: own seqs children may hand back */
#define CURSOR_RESTORE_GAP_FROM 19 /* peer 0: the seqs skipped at restores start above */
#define CURSOR_RESTORED_EPOCH 20   /* restored_epoch */
#define CURSOR_AWAY_UNTIL 21       /* away_until */

/* ------------------------------------------------------------ helpers */

void wj_repl_out_init(wj_repl_out_t *out, wj_arena_t *arena)
{
	memset(out, 0, sizeof(*out));
	out->arena = arena;
}

/* Drops the store's mapped pages (a village's memory budget); says once
 * when this process cannot. */
static void shed_pages(wj_repl_t *r)
{
	if (wj_store_release_pages(r->store) != 0 && !r->shed_warned) {
		wj_warn("repl: this process's mapping of the store is not in /proc/self/maps "
			"(is /proc mounted?): the village's memory budget cannot be kept");
		r->shed_warned = true;
	}
}

/* Whether a refusal of what p sent may be logged now; says first how many
 * were not. */
static bool refusal_may_log(const wj_repl_t *r, peer_t *p)
{
	if (p->refusal_logged_ms != 0 && r->now_ms - p->refusal_logged_ms < REFUSAL_LOG_MS) {
		p->refusals_unlogged++;
		return false;
	}
	if (p->refusals_unlogged > 0)
		wj_warn("repl: %" PRIu64 " more refusals of what %012" PRIu64 " sent were not "
			"logged", p->refusals_unlogged, p->code);
	p->refusal_logged_ms = r->now_ms ? r->now_ms : 1;
	p->refusals_unlogged = 0;
	return true;
}

static void want_tick(wj_repl_out_t *out, int64_t at)
{
	if (out->next_tick_ms == 0 || at < out->next_tick_ms)
		out->next_tick_ms = at;
}

/* Queues len bytes of a packed PeerMsg, in out's arena, for p. */
static void push_msg(wj_repl_out_t *out, const peer_t *p, uint8_t *data, size_t len)
{
	wj_repl_msg_t *slot = wj_arena_push(out->arena, &out->msgs, &out->n_msgs,
					    sizeof(*out->msgs));
	slot->peer = p->code;
	slot->data = data;
	slot->len = len;
}

static void emit(wj_repl_t *r, wj_repl_out_t *out, peer_t *p, Wuji__PeerMsg *m)
{
	m->from = r->self;
	size_t len = wuji__peer_msg__get_packed_size(m);
	uint8_t *buf = wj_arena_alloc(out->arena, len ? len : 1);
	push_msg(out, p, buf, wuji__peer_msg__pack(m, buf));
}

static peer_t *find_peer(wj_repl_t *r, uint64_t code)
{
	for (size_t i = 0; i < r->n_peers; i++)
		if (r->peers[i].code == code)
			return &r->peers[i];
	return NULL;
}

static void refresh_log(wj_repl_t *r, wj_txn_t *t)
{
	wj_store_meta_t m;
	if (wj_store_meta(t, &m) == 0) {
		r->epoch = m.epoch;
		r->last_seq = m.last_seq;
	}
	uint64_t first, last, trimmed;
	if (wj_store_changelog_bounds(t, &first, &last, &trimmed) == 0) {
		r->log_first = first ? first : last + 1;
		r->log_end = last;
	}
}

static wj_txn_t *read_txn(wj_repl_t *r)
{
	wj_txn_t *t;
	wj_err_t err = {0};
	if (wj_txn_begin(r->store, false, &t, &err) != 0) {
		wj_error("repl: cannot read the store: %s", err.msg);
		return NULL;
	}
	return t;
}

/* The stream stalled: assume the link is slower than we thought. */
static void pacing_stalled(peer_t *p)
{
	p->rto = p->rto < RTO_MAX_MS / 2 ? p->rto * 2 : RTO_MAX_MS;
	p->batch_bytes = p->batch_bytes / 2 > BATCH_BYTES_MIN ? p->batch_bytes / 2
							      : BATCH_BYTES_MIN;
	p->cwnd = 1;
}

/* `acked` moved by `bytes` of events, `ms` after it last moved (or after
 * the first batch left an idle stream); `full`: one of the batches used
 * at least half the budget, so the budget itself was tried. */
static void pacing_acked(wj_repl_t *r, peer_t *p, uint64_t bytes, bool full, int64_t ms)
{
	if (ms < 1)
		ms = 1;
	if (p->srtt == 0) {
		p->srtt = ms;
		p->rttvar = ms / 2;
	} else {
		int64_t d = ms > p->srtt ? ms - p->srtt : p->srtt - ms;
		p->rttvar += (d - p->rttvar) / 4;
		p->srtt += (ms - p->srtt) / 8;
	}
	int64_t rto = p->srtt + 4 * p->rttvar;
	p->rto = rto < r->o.rto_ms ? r->o.rto_ms : rto > RTO_MAX_MS ? RTO_MAX_MS : (uint32_t)rto;
	/* Slow acks: what the link carried in BATCH_TARGET_MS at the rate
	 * just seen.  Quick ones: half as much again, but only when the
	 * budget was used, or a few small batches on an idle slow link
	 * would let it grow without limit. */
	uint64_t budget = p->batch_bytes;
	if (ms > BATCH_TARGET_MS && bytes > 0)
		budget = bytes * BATCH_TARGET_MS / (uint64_t)ms;
	else if (full)
		budget += budget / 2;
	p->batch_bytes = budget < BATCH_BYTES_MIN ? BATCH_BYTES_MIN
			 : budget > BATCH_BYTES_MAX ? BATCH_BYTES_MAX : (uint32_t)budget;
	p->cwnd = p->cwnd * 2 < r->o.window_batches ? p->cwnd * 2 : r->o.window_batches;
}

static void reset_outgoing(peer_t *p, uint64_t at)
{
	p->session++;
	p->acked = p->wire = p->scanned = at;
	p->n_inflight = 0;
	p->snapshot = false;
	p->snap_inflight = false;
}

static void link_lost(peer_t *p)
{
	p->state = WUJI__LINK_STATE__LINK_DOWN;
	p->hello_seen = false;
	/* What was in flight may never arrive: start from the acknowledged
	 * position at the next hello. */
	p->n_inflight = 0;
	p->wire = p->scanned = p->acked;
	p->snap_inflight = false;
}

/* The peer holds our log up to pos (past p->acked): the batches in
 * flight up to there are done. */
static void acked_up_to(wj_repl_t *r, peer_t *p, uint64_t pos, int64_t now_ms)
{
	p->acked = pos;
	p->acked_dirty = true;
	size_t k = 0;
	uint64_t bytes = 0;
	bool full = false;
	for (; k < p->n_inflight && p->inflight[k] <= pos; k++) {
		bytes += p->inflight_bytes[k];
		full = full || p->inflight_bytes[k] >= p->batch_bytes / 2;
	}
	if (k > 0)
		pacing_acked(r, p, bytes, full, now_ms - p->progress_ms);
	p->progress_ms = now_ms;
	memmove(p->inflight, p->inflight + k, (p->n_inflight - k) * sizeof(p->inflight[0]));
	memmove(p->inflight_events, p->inflight_events + k,
		(p->n_inflight - k) * sizeof(p->inflight_events[0]));
	memmove(p->inflight_bytes, p->inflight_bytes + k,
		(p->n_inflight - k) * sizeof(p->inflight_bytes[0]));
	p->n_inflight -= k;
	if (p->wire < p->acked)
		p->wire = p->scanned = p->acked;
}

/* ------------------------------------------------------------ routing */

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Participants of the case an event belongs to.  They are fixed at
 * submission, so a small cache by case number never goes stale.  The
 * event is read from its stored bytes only when the cache cannot say. */
static size_t case_parts(wj_repl_t *r, wj_txn_t *t, const wj_event_peek_t *pk,
			 const uint8_t *raw, size_t raw_len, wj_arena_t *a, uint64_t *parts)
{
	char number[WJ_CASE_NUMBER_MAX + 1];
	if (pk->case_number_len == 0 || pk->case_number_len > WJ_CASE_NUMBER_MAX)
		return 0; /* not a case number this node could have made */
	memcpy(number, pk->case_number, pk->case_number_len);
	number[pk->case_number_len] = '\0';
	struct route_slot *slot = &r->routes[hash_str(number) % ROUTE_CACHE];
	if (strcmp(slot->number, number) == 0) {
		memcpy(parts, slot->parts, slot->n * sizeof(uint64_t));
		return slot->n;
	}
	size_t n;
	Wuji__Case *c;
	if (pk->type == WUJI__EVENT_TYPE__EV_SUBMITTED) {
		Wuji__Event *ev = wuji__event__unpack(&a->pb, raw_len, raw);
		if (ev == NULL)
			return 0;
		n = wj_route_submission_participants(ev, parts, WJ_ROUTE_PARTICIPANTS_MAX);
	} else if (wj_store_case_get(t, number, a, &c, NULL) == 0) {
		n = wj_route_participants(c, parts, WJ_ROUTE_PARTICIPANTS_MAX);
	} else {
		return 0; /* its submission has not arrived: nothing to route by yet */
	}
	strcpy(slot->number, number);
	slot->n = (uint8_t)n;
	memcpy(slot->parts, parts, n * sizeof(uint64_t));
	return n;
}

/* Whether a stored event goes to peer p, from its bytes. */
static bool routes_to(wj_repl_t *r, wj_txn_t *t, const peer_t *p, const uint8_t *raw,
		      size_t raw_len, wj_arena_t *a, bool echo)
{
	wj_event_peek_t pk;
	if (wj_pb_peek_event(raw, raw_len, &pk) != 0)
		return false; /* verify reports a stored event that does not decode */
	/* Catalog and calendar flow down; up only to give a parent restored
	 * from an old backup back what it issued itself. */
	if (wj_route_is_broadcast(pk.type))
		return !p->is_parent || (echo && pk.origin == p->code);
	if (p->is_parent)
		return true; /* every level sees everything below it */
	uint64_t parts[WJ_ROUTE_PARTICIPANTS_MAX];
	size_t n = case_parts(r, t, &pk, raw, raw_len, a, parts);
	return wj_route_to_child(p->code, parts, n);
}

/* ------------------------------------------------------------ sending */

/* An event as bytes, never decoded: read from the store's map to go into
 * a batch (valid in that read txn), or found in a received message (valid
 * while the message is). */
struct raw_event {
	const uint8_t *data;
	size_t len;
};

struct collect {
	wj_repl_t *r;
	wj_txn_t *t;
	peer_t *p;
	wj_arena_t *a;
	struct raw_event *events;
	size_t n_events;
	uint32_t max_events;
	uint64_t max_bytes;
	uint64_t bytes;
	uint64_t last;
	uint32_t scanned;
	bool count_only;
	uint64_t count;
	int64_t oldest_at;   /* count_only: `at` of the first event counted */
};

static int collect_entry(uint64_t pos, uint64_t origin, uint64_t seq, uint64_t from, void *ctx)
{
	struct collect *c = ctx;
	if (c->scanned >= (c->count_only ? BACKLOG_SCAN_MAX : SCAN_MAX))
		return 1;
	c->scanned++;
	c->last = pos;
	/* Never send an event back where it came from, unless that peer
	 * lost it (restored from an old copy of its store). */
	if (from == c->p->code && pos > c->p->echo_until)
		return 0;
	/* Each event read maps the page-cache folio around it: a village
	 * sending or counting thousands would map most of its store.  The
	 * pointers to events read so far stay valid (the map stays, the
	 * read transaction keeps the pages), they are only faulted in again. */
	if (c->r->light) {
		c->r->read_since_release = true;
		if (++c->r->reads_since_shed >= SHED_EVERY) {
			shed_pages(c->r);
			c->r->reads_since_shed = 0;
		}
	}
	struct raw_event ev;
	if (wj_store_event_raw(c->t, origin, seq, &ev.data, &ev.len, NULL) != 0)
		return 0;
	/* What routing decodes (a submission, a case on a cache miss) is
	 * dropped after each entry: a scan of 20,000 entries for a child that
	 * needs few of them must not hold them all. */
	bool routed = routes_to(c->r, c->t, c->p, ev.data, ev.len, &c->r->route_scratch,
				pos <= c->p->echo_until);
	wj_arena_reset(&c->r->route_scratch);
	if (!routed)
		return 0;
	if (c->count_only) {
		wj_event_peek_t pk;
		if (c->count++ == 0 && wj_pb_peek_event(ev.data, ev.len, &pk) == 0)
			c->oldest_at = pk.at;
		return 0;
	}
	struct raw_event *slot = wj_arena_push(c->a, &c->events, &c->n_events, sizeof(*slot));
	*slot = ev;
	c->bytes += ev.len;
	return c->n_events >= c->max_events || c->bytes >= c->max_bytes;
}

/* A PeerMsg whose body (field body_field) is the message `head` (a Batch,
 * or NULL) followed by each event's bytes as one more field events_field
 * (fields may come in any order): events are never packed again.  Its
 * length into *len. */
static uint8_t *pack_raw_events(wj_repl_t *r, wj_arena_t *a, uint32_t body_field,
				const Wuji__Batch *head, uint32_t events_field,
				const struct raw_event *events, size_t n, size_t *len)
{
	size_t body = head ? wuji__batch__get_packed_size(head) : 0;
	for (size_t i = 0; i < n; i++)
		body += wj_pb_bytes_field_size(events_field, events[i].len);
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.from = r->self;
	size_t from_len = wuji__peer_msg__get_packed_size(&m);
	uint8_t *buf = wj_arena_alloc(a, from_len + wj_pb_bytes_field_size(body_field, body));
	size_t o = wuji__peer_msg__pack(&m, buf);
	o += wj_pb_put_bytes_head(buf + o, body_field, body);
	if (head)
		o += wuji__batch__pack(head, buf + o);
	for (size_t i = 0; i < n; i++) {
		o += wj_pb_put_bytes_head(buf + o, events_field, events[i].len);
		memcpy(buf + o, events[i].data, events[i].len);
		o += events[i].len;
	}
	*len = o;
	return buf;
}

/* A batch of stored events, wrapped as PeerMsg.batch. */
static void send_raw_batch(wj_repl_t *r, wj_repl_out_t *out, peer_t *p, uint64_t prev,
			   uint64_t last, const struct raw_event *events, size_t n)
{
	Wuji__Batch b = WUJI__BATCH__INIT;
	b.session = p->session;
	b.epoch = r->epoch;
	b.prev = prev;
	b.last = last;
	size_t len;
	uint8_t *buf = pack_raw_events(r, out->arena, PEER_MSG_BATCH_FIELD, &b, BATCH_EVENTS_FIELD,
				       events, n, &len);
	push_msg(out, p, buf, len);
	p->sent = true;
}

static void send_batch(wj_repl_t *r, wj_repl_out_t *out, peer_t *p, uint64_t prev,
		       uint64_t last, Wuji__Event **events, size_t n, bool snapshot,
		       uint64_t snapshot_end)
{
	Wuji__Batch b = WUJI__BATCH__INIT;
	b.snapshot_id = snapshot ? p->snap_id : 0;
	b.session = p->session;
	b.epoch = r->epoch;
	b.prev = prev;
	b.last = last;
	b.events = events;
	b.n_events = n;
	b.snapshot = snapshot;
	b.snapshot_end = snapshot_end;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_BATCH;
	m.batch = &b;
	emit(r, out, p, &m);
	p->sent = true;
}

static void pump_log(wj_repl_t *r, wj_txn_t *t, peer_t *p, int64_t now_ms, wj_repl_out_t *out)
{
	if (p->ahead_hold_until != 0) {
		if (p->ahead_hold_until > now_ms) {
			want_tick(out, p->ahead_hold_until);
			return;
		}
		p->ahead_hold_until = 0; /* over: the next Ahead starts another */
	}
	while (p->n_inflight < p->cwnd && p->scanned < r->log_end) {
		struct collect c = {
			.r = r, .t = t, .p = p, .a = out->arena,
			.max_events = r->o.batch_events, .max_bytes = p->batch_bytes,
			.last = p->scanned,
		};
		wj_err_t err = {0};
		if (wj_store_changelog_scan(t, p->scanned, collect_entry, &c, &err) < 0) {
			wj_error("repl: reading the change log for %012" PRIu64 ": %s", p->code,
				 err.msg);
			return;
		}
		if (c.last == p->scanned)
			return;
		p->scanned = c.last;
		if (c.n_events == 0)
			continue; /* nothing for this peer here: the next batch covers it */
		send_raw_batch(r, out, p, p->wire, c.last, c.events, c.n_events);
		if (p->n_inflight == 0)
			p->progress_ms = now_ms;
		p->inflight[p->n_inflight] = c.last;
		p->inflight_events[p->n_inflight] = (uint32_t)c.n_events;
		p->inflight_bytes[p->n_inflight] = (uint32_t)c.bytes;
		p->n_inflight++;
		p->wire = c.last;
	}
	/* Let an idle peer record how far it is, so that after a restart we
	 * do not scan the same irrelevant entries again. */
	if (p->n_inflight == 0 && p->scanned > p->wire &&
	    now_ms - p->last_empty_ms >= r->o.ping_ms) {
		send_raw_batch(r, out, p, p->wire, p->scanned, NULL, 0);
		p->inflight[0] = p->scanned;
		p->inflight_events[0] = 0;
		p->inflight_bytes[0] = 0;
		p->n_inflight = 1;
		p->progress_ms = now_ms;
		p->wire = p->scanned;
		p->last_empty_ms = now_ms;
	}
}

/* Snapshot: stop-and-wait batches of the calendar, the catalog and the
 * cases routed to the peer, each case's events in (hlc, origin, seq)
 * order so its submission always comes first. */
struct snap_collect {
	wj_repl_t *r;
	wj_txn_t *t;
	peer_t *p;
	wj_arena_t *a;
	Wuji__Event **events;
	size_t n_events;
	char key[WJ_TEXT_MAX + 1];
	uint64_t bytes;
	bool full;
};

static int snap_add(Wuji__Event *ev, void *ctx)
{
	struct snap_collect *s = ctx;
	Wuji__Event **slot = wj_arena_push(s->a, &s->events, &s->n_events, sizeof(*slot));
	*slot = ev;
	s->bytes += wuji__event__get_packed_size(ev);
	return 0;
}

/* Room for more in this snapshot batch (one item or case always fits). */
static bool snap_full(const struct snap_collect *s)
{
	return s->n_events >= s->r->o.batch_events ||
	       (s->n_events > 0 && s->bytes >= s->p->batch_bytes);
}

static Wuji__Event *broadcast_event(wj_arena_t *a, Wuji__EventType type, uint64_t origin,
				    uint64_t seq, uint64_t hlc)
{
	Wuji__Event *ev = wj_arena_alloc(a, sizeof(*ev));
	wuji__event__init(ev);
	ev->type = type;
	ev->origin = origin;
	ev->seq = seq;
	ev->hlc = hlc;
	ev->case_number = "";
	return ev;
}

static int snap_year(Wuji__CalendarYear *y, void *ctx)
{
	struct snap_collect *s = ctx;
	if (y->issued_by == 0 || y->event_seq == 0)
		return 0;
	if (s->p->is_parent && y->issued_by != s->p->code)
		return 0; /* up only what the parent issued */
	Wuji__Event *ev = broadcast_event(s->a, WUJI__EVENT_TYPE__EV_CALENDAR_YEAR, y->issued_by,
					  y->event_seq, y->hlc);
	ev->year = y;
	return snap_add(ev, s);
}

static int snap_item(Wuji__CatalogItem *item, void *ctx)
{
	struct snap_collect *s = ctx;
	if (strcmp(item->code, s->key) <= 0 && s->key[0])
		return 0;
	if (snap_full(s)) {
		s->full = true;
		return 1;
	}
	if (item->issued_by != 0 && item->event_seq != 0 &&
	    (!s->p->is_parent || item->issued_by == s->p->code)) {
		Wuji__Event *ev = broadcast_event(s->a, WUJI__EVENT_TYPE__EV_CATALOG_ITEM,
						  item->issued_by, item->event_seq, item->hlc);
		ev->item = item;
		snap_add(ev, s);
	}
	snprintf(s->key, sizeof(s->key), "%s", item->code);
	return 0;
}

static int snap_case(Wuji__Case *c, void *ctx)
{
	struct snap_collect *s = ctx;
	if (snap_full(s)) {
		s->full = true;
		return 1;
	}
	uint64_t parts[WJ_ROUTE_PARTICIPANTS_MAX];
	size_t n = wj_route_participants(c, parts, WJ_ROUTE_PARTICIPANTS_MAX);
	if (s->p->is_parent || wj_route_to_child(s->p->code, parts, n))
		wj_store_case_events(s->t, c->number, s->a, snap_add, s, NULL);
	snprintf(s->key, sizeof(s->key), "%s", c->number);
	return 0;
}

static void pump_snapshot(wj_repl_t *r, wj_txn_t *t, peer_t *p, int64_t now_ms,
			  wj_repl_out_t *out)
{
	if (p->snap_inflight)
		return;
	struct snap_collect s = {.r = r, .t = t, .p = p, .a = out->arena};
	p->snap_phase0 = p->snap_phase;
	memcpy(p->snap_key0, p->snap_key, sizeof(p->snap_key));
	snprintf(s.key, sizeof(s.key), "%s", p->snap_key);
	wj_err_t err = {0};
	while (p->snap_phase != SNAP_DONE && !s.full) {
		int rc = 0;
		if (p->snap_phase == SNAP_CALENDAR) {
			rc = wj_store_calendar_scan(t, out->arena, snap_year, &s, &err);
			p->snap_phase = SNAP_CATALOG;
			s.key[0] = '\0';
		} else if (p->snap_phase == SNAP_CATALOG) {
			rc = wj_store_catalog_scan(t, out->arena, snap_item, &s, &err);
			if (!s.full) {
				p->snap_phase = SNAP_CASES;
				s.key[0] = '\0';
			}
		} else {
			wj_case_filter_t f = {.after = s.key[0] ? s.key : NULL};
			rc = wj_store_case_scan(t, &f, snap_case, &s, &err);
			if (!s.full)
				p->snap_phase = SNAP_DONE;
		}
		if (rc < 0) {
			wj_error("repl: snapshot for %012" PRIu64 ": %s", p->code, err.msg);
			return;
		}
	}
	memcpy(p->snap_key, s.key, sizeof(p->snap_key));
	p->snap_final = p->snap_phase == SNAP_DONE;
	send_batch(r, out, p, p->snap_batch, p->snap_batch + 1, s.events, s.n_events, true,
		   p->snap_final ? p->snap_end : 0);
	p->snap_inflight = true;
	p->snap_sent_ms = now_ms;
	p->snap_bytes = (uint32_t)s.bytes;
}

static void start_snapshot(wj_repl_t *r, peer_t *p, uint64_t peer_pos)
{
	wj_warn("repl: %012" PRIu64 " needs our change log after position %" PRIu64
		", but entries up to %" PRIu64 " were trimmed: resynchronising it from a "
		"snapshot of its area", p->code, peer_pos, r->log_first - 1);
	reset_outgoing(p, 0);
	p->snapshot = true;
	/* Unique per snapshot and per process start, so a batch or an ack
	 * of an older snapshot is never taken for one of this one. */
	p->snap_id = ((uint64_t)r->epoch << 20) ^ (++r->snap_counter) ^
		     ((uint64_t)p->last_heard_ms << 24);
	if (p->snap_id == 0)
		p->snap_id = 1;
	p->snap_phase = SNAP_CALENDAR;
	p->snap_key[0] = '\0';
	p->snap_batch = 0;
	p->snap_end = r->log_end;
	p->resyncs++;
}

static void pump(wj_repl_t *r, wj_txn_t *t, peer_t *p, int64_t now_ms, wj_repl_out_t *out)
{
	if (p->state != WUJI__LINK_STATE__LINK_UP && p->state != WUJI__LINK_STATE__LINK_RESYNC)
		return;
	if (!p->hello_seen)
		return;
	/* The log was trimmed past what this peer has acknowledged while it
	 * was connected: its stream cannot continue, only a snapshot can. */
	if (!p->snapshot && p->acked + 1 < r->log_first && r->log_first > 1) {
		start_snapshot(r, p, p->acked);
		p->state = WUJI__LINK_STATE__LINK_RESYNC;
	}
	if (p->snapshot)
		pump_snapshot(r, t, p, now_ms, out);
	else
		pump_log(r, t, p, now_ms, out);
	if (p->n_inflight > 0 || p->snap_inflight)
		want_tick(out, now_ms + p->rto);
}

/* Ships new log entries to every peer at once: a relay forwards what it
 * just applied without waiting for a timer. */
static void pump_all(wj_repl_t *r, int64_t now_ms, wj_repl_out_t *out)
{
	wj_txn_t *t = read_txn(r);
	if (t == NULL)
		return;
	refresh_log(r, t);
	for (size_t i = 0; i < r->n_peers; i++)
		pump(r, t, &r->peers[i], now_ms, out);
	wj_txn_abort(t);
}

/* ---------------------------------------------------------- messages */

static bool resync_blocks(const wj_repl_t *r, const peer_t *p);

/* Whether what we send q may still lack events that a restore took from
 * us and that are on their way back from our other peers (Hello and
 * Ping `recovering`).  q itself is left out: what we lack of q's side
 * comes back from q, and q waiting for itself would never end.  Once
 * false it stays false for this epoch, so that a ping held up on the
 * way cannot end q's wait early: a late `false` says nothing a later
 * `true` would contradict. */
static bool recovering_toward(wj_repl_t *r, peer_t *q)
{
	if (q->toward_done)
		return false;
	bool starting = r->now_ms - r->started_ms < (int64_t)r->o.dead_ms;
	for (size_t i = 0; i < r->n_peers; i++) {
		peer_t *p = &r->peers[i];
		if (p == q)
			continue;
		if (resync_blocks(r, p))
			return true;
		/* Just started, and p not met yet: whether our store is an
		 * old copy we learn from the peers' hellos, and p's may be
		 * the one that tells. */
		if (!p->met && starting)
			return true;
	}
	q->toward_done = true;
	return false;
}

/* A restored neighbour has had RESTORED_GATE_MAX_MS to recover: our
 * writes no longer wait for it (peer_may_hand_back), and the operator is
 * told. */
static bool restored_gate_over(const peer_t *p, int64_t now_ms)
{
	return p->restored_epoch != 0 && (now_ms - p->restored_since_ms >= RESTORED_GATE_MAX_MS ||
					  p->gate_spent_ms >= RESTORE_GATE_BUDGET_MS);
}

/* peer_may_hand_back, its time limits aside. */
static bool gate_wanted(const peer_t *p)
{
	return p->state == WUJI__LINK_STATE__LINK_UP && p->restored_epoch != 0 &&
	       p->restored_epoch == p->recv_epoch &&
	       (p->away_recovering || p->recv_pos < p->away_until);
}

/* Counts the time our writes waited for p since the last tick. */
static void count_gate_time(peer_t *p, int64_t now_ms)
{
	if (now_ms - p->gate_day_ms >= RESTORE_GATE_DAY_MS) {
		p->gate_day_ms = now_ms;
		p->gate_spent_ms = 0;
	}
	if (p->gate_seen_ms != 0 && now_ms > p->gate_seen_ms && gate_wanted(p) &&
	    !restored_gate_over(p, now_ms))
		p->gate_spent_ms += now_ms - p->gate_seen_ms;
	p->gate_seen_ms = now_ms;
}

static bool resync_ignored(const peer_t *p, int64_t now_ms)
{
	return p->resync_pending && p->resync_target == 0 &&
	       p->resync_unanswered >= RESYNC_UNANSWERED_WARN &&
	       now_ms - p->resync_asked_ms >= RESYNC_UNANSWERED_WARN_MS;
}

/* The peer answers our hellos but not our request for everything back:
 * say so once, in the log and in node-ctl peers (peer_warning). */
static void count_unanswered_resync(peer_t *p, int64_t now_ms)
{
	if (p->resync_unanswered++ == 0)
		p->resync_asked_ms = now_ms;
	if (resync_ignored(p, now_ms) && !p->resync_unanswered_warned) {
		wj_warn("repl: %012" PRIu64 " has not acknowledged %u requests over %lld s to "
			"send back everything it holds for this node (restored from an old "
			"copy); its batches are held back until it does: does it run an older "
			"wuji? Upgrade it (node-ctl status there shows its version)", p->code,
			p->resync_unanswered, (long long)((now_ms - p->resync_asked_ms) / 1000));
		p->resync_unanswered_warned = true;
	}
}

static void send_hello_ex(wj_repl_t *r, wj_txn_t *t, peer_t *p, int64_t now_ms, bool is_reply,
			  bool resync_ack, uint64_t resync_from, wj_repl_out_t *out);

static void send_hello(wj_repl_t *r, wj_txn_t *t, peer_t *p, int64_t now_ms, bool is_reply,
		       wj_repl_out_t *out)
{
	send_hello_ex(r, t, p, now_ms, is_reply, false, 0, out);
}

static void send_hello_ex(wj_repl_t *r, wj_txn_t *t, peer_t *p, int64_t now_ms, bool is_reply,
			  bool resync_ack, uint64_t resync_from, wj_repl_out_t *out)
{
	Wuji__Hello h = WUJI__HELLO__INIT;
	h.node = r->self;
	h.epoch = r->epoch;
	h.log_end = r->log_end;
	h.resume_epoch = p->recv_epoch;
	h.resume_after = p->recv_pos;
	wj_store_origin_max_seq(t, p->code, &h.your_max_seq);
	char prefix[16], last[WJ_CASE_NUMBER_MAX + 1];
	char code[13];
	wj_division_format(p->code, code);
	snprintf(prefix, sizeof(prefix), "%s-", code);
	wj_store_last_case_with_prefix(t, prefix, last, sizeof(last));
	h.your_max_case = last;
	h.wall_ms = now_ms;
	h.is_reply = is_reply;
	h.full_resync = p->resync_pending;
	if (h.full_resync && p->resync_target == 0 && p->hello_seen)
		count_unanswered_resync(p, now_ms);
	h.resync_ack = resync_ack;
	h.resync_from = resync_from;
	h.resync_session = resync_ack ? p->session : 0;
	h.recovering = recovering_toward(r, p);
	h.takes_ahead = true;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_HELLO;
	m.hello = &h;
	emit(r, out, p, &m);
	p->last_hello_ms = now_ms;
}

static void send_ack(wj_repl_t *r, wj_repl_out_t *out, peer_t *p, uint64_t pos, bool snapshot,
		     bool resend)
{
	Wuji__Ack a = WUJI__ACK__INIT;
	a.epoch = p->recv_epoch;
	a.pos = pos;
	a.snapshot = snapshot;
	a.resend = resend;
	a.snapshot_id = snapshot ? p->snap_recv_id : 0;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_ACK;
	m.ack = &a;
	emit(r, out, p, &m);
}

/* After a restore, the seqs and case serials we issue next start this far
 * beyond the highest any connected peer holds of ours.  What we issued
 * after our backup may survive only beyond a link that is down through
 * our whole recovery (a decision that reached a village but not, its
 * link down, our parent); a village may stay away for a week, so we do
 * not wait for it, and an id issued again would then name two events.
 *
 * Seqs: 2^32 is more events than any node issues in the life of a backup
 * (a busy county issues a few thousand a day: 2^20 lasted a year there,
 * and a province's or a city's busiest weeks come closer), yet 2^16
 * restores fit below the 2^48 a hello may claim.  Nothing counts on an
 * origin's seqs being contiguous: events are found by id, logs by their
 * own positions.
 *
 * Serials: a day's serial has 6 digits (numbers compare as strings), so
 * the gap must leave room for the rest of the day.  A node restored from
 * last night's backup may have numbered all of today's cases since: today
 * skips 100,000 (more than the busiest centre numbers in a day), or half
 * of what is left of the day's 999999 once that is less, and at least
 * 1,000; nine restores in a day still leave room.  The store refuses a
 * serial past 999999 (no case is numbered there that day) rather than
 * issue a seventh digit.  Only the day of the clock and the day of the
 * last case a peer reported are raised, the latter (yesterday, or
 * tomorrow by a skewed clock) by 1,000: submissions take the wall
 * clock's day, so no case of an earlier day is numbered again unless the
 * clock steps back past midnight. */
#define RESTORE_SEQ_GAP (UINT64_C(1) << 32)
#define RESTORE_SERIAL_GAP_TODAY 100000u
#define RESTORE_SERIAL_GAP_MIN 1000u
#define SERIAL_MAX WJ_STORE_SERIAL_MAX

/* The serials skipped past `last`, the last a peer holds of a day. */
static uint32_t restore_serial_gap(uint32_t last, bool today)
{
	uint32_t gap = today ? (SERIAL_MAX - last) / 2 : 0;
	if (gap > RESTORE_SERIAL_GAP_TODAY)
		gap = RESTORE_SERIAL_GAP_TODAY;
	return gap > RESTORE_SERIAL_GAP_MIN ? gap : RESTORE_SERIAL_GAP_MIN;
}

/* Raises day's serial to `at_least` (what a peer holds) and then past
 * the gap, within the six digits. */
static int raise_serial_gap(wj_txn_t *t, wj_date_t day, bool today, uint32_t at_least,
			    wj_err_t *err)
{
	if (!wj_date_valid(day))
		return 0;
	uint32_t last = 0;
	int rc = wj_store_serial(t, day, &last, err);
	if (rc != 0)
		return rc;
	if (at_least > last)
		last = at_least;
	if (last > SERIAL_MAX)
		last = SERIAL_MAX;
	last += restore_serial_gap(last, today);
	if (last > SERIAL_MAX)
		last = SERIAL_MAX;
	return wj_store_raise_serial(t, day, last, err);
}

/* Our peers remember more of what we issued than our store does: the
 * store was restored from an older copy.  Never issue those ids again,
 * nor the ones we may have issued after our backup that only a peer out
 * of reach holds (see RESTORE_SEQ_GAP), and take a new epoch so that
 * every peer reads our log from its start.  `told` is the highest seq of
 * ours the peer holds, 0 when its claim was not believed. */
static void recover_from_restore(wj_repl_t *r, const Wuji__Hello *h, uint64_t told,
				 uint64_t peer, int64_t now_ms)
{
	wj_txn_t *t;
	wj_err_t err = {0};
	if (wj_txn_begin(r->store, true, &t, &err) != 0) {
		wj_error("repl: cannot recover from a restore: %s", err.msg);
		return;
	}
	wj_store_meta_t meta = {0};
	int rc = wj_store_meta(t, &meta);
	uint64_t base = told > meta.last_seq ? told : meta.last_seq;
	uint64_t gap_end = base < UINT64_MAX - RESTORE_SEQ_GAP ? base + RESTORE_SEQ_GAP
							       : UINT64_MAX;
	if (rc == 0)
		rc = wj_store_raise_seq(t, gap_end, &err);
	else
		wj_err_set(&err, rc, "cannot read the store's counters");
	uint64_t origin;
	wj_date_t day = 0, today = wj_date_from_unix(now_ms / 1000);
	/* The peer's last case of ours: a day to come, or a serial past six
	 * digits, no node has numbered; never believed. */
	uint32_t claimed = 0;
	if (rc == 0 && h->your_max_case && h->your_max_case[0] &&
	    wj_case_number_split(h->your_max_case, &origin, &day, &claimed, NULL) == 0 &&
	    origin == r->self && day <= wj_date_add_days(today, 1))
		rc = raise_serial_gap(t, day, day == today,
				      claimed > SERIAL_MAX ? SERIAL_MAX : claimed, &err);
	else
		day = 0;
	if (rc == 0 && today != day)
		rc = raise_serial_gap(t, today, true, 0, &err);
	uint64_t epoch = 0;
	if (rc == 0)
		rc = wj_store_new_epoch(t, &epoch, &err);
	/* Ask every peer for what it has of ours, until its log has been read
	 * to where it stands now; survives a crash during the recovery. */
	uint64_t restore_max = gap_end > r->restore_max_seq ? gap_end : r->restore_max_seq;
	uint64_t gap_from = base;
	if (rc == 0)
		rc = wj_store_cursor_put(t, 0, CURSOR_RESTORE_MAX, restore_max, &err);
	if (rc == 0)
		rc = wj_store_cursor_put(t, 0, CURSOR_RESTORE_GAP_FROM, gap_from, &err);
	for (size_t i = 0; rc == 0 && i < r->n_peers; i++)
		rc = wj_store_cursor_put(t, r->peers[i].code, CURSOR_RESYNC_PENDING, 1, &err);
	if (rc == 0)
		rc = wj_txn_commit(t, &err);
	else
		wj_txn_abort(t);
	if (rc != 0) {
		wj_error("repl: cannot recover from a restore: %s", err.msg);
		return;
	}
	wj_warn("repl: %012" PRIu64 " holds events up to seq %" PRIu64 " from this node, "
		"but this node's store ended at %" PRIu64 ": it was restored from an older "
		"copy. Those seqs will not be reused, nor the next %" PRIu64 " (new events "
		"from %" PRIu64 "), and today's case serials skip %u or half of what is "
		"left of the day; new epoch %016" PRIx64 "; peers will send back what was "
		"lost", peer, told, meta.last_seq, RESTORE_SEQ_GAP, gap_end + 1,
		RESTORE_SERIAL_GAP_TODAY, epoch);
	r->epoch = epoch;
	r->restore_max_seq = restore_max;
	r->restore_gap_from = gap_from;
	r->restore_seen = true;
	for (size_t i = 0; i < r->n_peers; i++) {
		r->peers[i].hello_seen = false;
		r->peers[i].last_hello_ms = 0;
		r->peers[i].resync_pending = true;
		r->peers[i].resync_target = 0;
		r->peers[i].away_recovering = true;
		r->peers[i].toward_done = false;
		reset_outgoing(&r->peers[i], 0);
	}
}

struct cursor_val {
	uint64_t slot, value;
};

/* Writes cursors of a peer in a transaction of their own (and its
 * fsync): for state that changes at hellos, not per batch. */
static void persist_cursors(wj_repl_t *r, peer_t *p, const char *what,
			    const struct cursor_val *cv, size_t n)
{
	wj_txn_t *t;
	wj_err_t err = {0};
	if (wj_txn_begin(r->store, true, &t, &err) == 0) {
		int rc = 0;
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = wj_store_cursor_put(t, p->code, cv[i].slot, cv[i].value, &err);
		if (rc == 0)
			wj_txn_commit(t, &err);
		else
			wj_txn_abort(t);
	}
	if (err.code)
		wj_error("repl: cannot record the %s of %012" PRIu64 ": %s", what, p->code,
			 err.msg);
}

static void persist_recv(wj_repl_t *r, peer_t *p)
{
	persist_cursors(r, p, "position",
			(struct cursor_val[]){{WJ_CURSOR_RECV_EPOCH, p->recv_epoch},
					      {WJ_CURSOR_RECV_POS, p->recv_pos}}, 2);
}

static void persist_restored(wj_repl_t *r, peer_t *p)
{
	persist_cursors(r, p, "restore",
			(struct cursor_val[]){{CURSOR_RESTORED_EPOCH, p->restored_epoch},
					      {CURSOR_AWAY_UNTIL, p->away_until}}, 2);
}

/* A restored peer that has recovered, and whose log we have read to
 * where it stood then, can hand back nothing more: stop watching it.
 * Otherwise every later ordinary restart of it (it says `recovering`
 * until it has met its peers) would hold up our writes again. */
static void restored_peer_check(wj_repl_t *r, peer_t *p)
{
	if (p->restored_epoch != 0 && !p->away_recovering && p->recv_pos >= p->away_until) {
		p->restored_epoch = 0;
		p->away_until = 0;
		persist_restored(r, p);
	}
}

/* Only whether a resync is pending survives a restart: its target comes
 * from the peer's next acknowledgement (see wj_repl_new). */
static void persist_resync(wj_repl_t *r, peer_t *p)
{
	persist_cursors(r, p, "resync",
			(struct cursor_val[]){{CURSOR_RESYNC_PENDING, p->resync_pending}}, 1);
}

/* A resync after a restore is done once the peer's log has been read up
 * to where it stood when the resync began, and once the peer is not
 * recovering itself (see peer_recovery). */
static void check_resync_done(wj_repl_t *r, peer_t *p)
{
	if (p->resync_pending && p->resync_target && p->recv_pos >= p->resync_target &&
	    !p->away_recovering) {
		p->resync_pending = false;
		persist_resync(r, p);
		wj_info("repl: %012" PRIu64 " has sent back everything it had for us", p->code);
	}
}

/* What a peer says of its own recovery (hello, ping).  A peer restored
 * from a backup as well lacks events of ours until it has got them back
 * from the rest of the tree: a parent from further up or from its other
 * children, a child from its own children, which alone may hold what we
 * sent down before our backup.  What it echoes to us before that may
 * miss them, and a resync counted done then would let us write on cases
 * as they were before our backup, or issue seqs that exist elsewhere.
 * So while it recovers our resync with it waits, and once it has
 * recovered we read its log up to where it stood then.
 *
 * There is no cycle: what a peer says to us is about the other side of
 * it (recovering_toward leaves us out), and the tree has no loops. */
static void peer_recovery(wj_repl_t *r, peer_t *p, bool recovering, uint64_t log_end)
{
	if (recovering) {
		if (!p->away_recovering && p->resync_pending)
			wj_info("repl: %s %012" PRIu64 " is itself recovering from a restore: "
				"waiting for it", p->is_parent ? "parent" : "child", p->code);
		p->away_recovering = true;
		return;
	}
	if (!p->away_recovering)
		return;
	p->away_recovering = false;
	p->away_until = log_end;
	if (p->restored_epoch != 0)
		persist_restored(r, p);
	if (p->resync_pending && p->resync_target && log_end > p->resync_target)
		p->resync_target = log_end;
	check_resync_done(r, p);
}

/* Whether a peer's word that it holds seq of ours may be believed: past
 * it, and past the gap left after it, the service takes no seq. */
static bool plausible_own_seq(uint64_t seq)
{
	return seq < WJ_SEQ_PLAUSIBLE_MAX - RESTORE_SEQ_GAP;
}

static void on_hello(wj_repl_t *r, peer_t *p, const Wuji__Hello *h, int64_t now_ms,
		     wj_repl_out_t *out)
{
	wj_txn_t *t = read_txn(r);
	if (t == NULL)
		return;
	refresh_log(r, t);
	/* A claim beyond any plausible count is a peer's bug or malice, not
	 * a restore: believing it would exhaust our seqs (and the gap after
	 * it must keep our own seqs below what the service accepts). */
	bool plausible = plausible_own_seq(h->your_max_seq);
	if (!plausible && refusal_may_log(r, p))
		wj_warn("repl: %012" PRIu64 " claims to hold seq %" PRIu64 " of ours: ignored",
			p->code, h->your_max_seq);
	/* A peer that has read our log further than it reaches holds
	 * entries a restore took from us.  Compare with the log as it was
	 * when we started, as long as we have sent this peer nothing since:
	 * the log grows at once (children's batches), and the entries that
	 * refill the lost positions are not the ones the peer holds. */
	uint64_t known_end = p->sent ? r->log_end : r->start_log_end;
	bool restored = (plausible && h->your_max_seq > r->last_seq) ||
			(h->resume_epoch == r->epoch && h->resume_after > known_end);
	/* A store is swapped for an older copy only while the node is
	 * stopped: a second restore seen in one run is a peer's bug or
	 * malice, and each one believed would cost a new epoch (every peer
	 * reads our log again) and a gap in our seqs and serials. */
	if (restored && r->restore_seen) {
		if (refusal_may_log(r, p))
			wj_warn("repl: %012" PRIu64 " says again that this node lost events (seq %" PRIu64
				", log position %" PRIu64 "): ignored, this run already recovered "
				"from a restore", p->code, h->your_max_seq, h->resume_after);
		restored = false;
	}
	if (restored) {
		wj_txn_abort(t);
		recover_from_restore(r, h, plausible ? h->your_max_seq : 0, p->code, now_ms);
		t = read_txn(r);
		if (t == NULL)
			return;
		refresh_log(r, t);
		/* Every peer, the one that told us included, must hear that we
		 * need everything back. */
		for (size_t i = 0; i < r->n_peers; i++)
			send_hello(r, t, &r->peers[i], now_ms, false, out);
	}

	/* Incoming: a new epoch of the peer's log is read from its start. */
	if (h->epoch != p->recv_epoch) {
		if (p->recv_epoch != 0)
			wj_info("repl: %012" PRIu64 " has a new epoch: reading its log again from "
				"the start", p->code);
		p->recv_epoch = h->epoch;
		p->recv_pos = 0;
		p->away_until = 0;
		wj_txn_abort(t);
		persist_recv(r, p);
		t = read_txn(r);
		if (t == NULL)
			return;
	}

	/* Outgoing: resume where the peer is, or resynchronise it. */
	uint64_t start = h->resume_epoch == r->epoch ? h->resume_after : 0;
	if (restored)
		start = 0;
	/* A reply, when the peer's own hello has set this session up already
	 * (both sides say hello at once after every reconnect): what we sent
	 * since is on its way, and starting again from the reply's position
	 * would send all of it twice.  The reply only says how far the peer
	 * had got.  Resyncs and restores keep the full reset. */
	bool continues = h->is_reply && p->hello_seen && !p->snapshot && !restored &&
			 !h->full_resync && !h->resync_ack && !p->resync_pending &&
			 h->resume_epoch == r->epoch && start >= p->acked && start <= p->wire;
	/* A hello that is not a reply opens a new session on the peer's side
	 * (it restarted, or lost the link): whatever we were sending it,
	 * snapshots included, starts again from what it says it has. */
	if (continues) {
		if (start > p->acked)
			acked_up_to(r, p, start, now_ms);
	} else if (!p->snapshot || !p->hello_seen || !h->is_reply) {
		if (start + 1 < r->log_first && r->log_first > 1)
			start_snapshot(r, p, start);
		else
			reset_outgoing(p, start);
	}
	bool ack_resync = false;
	if (h->full_resync && p->restored_epoch != h->epoch) {
		p->restored_epoch = h->epoch;
		p->restored_since_ms = now_ms;
		if (p->gate_spent_ms < RESTORE_GATE_BUDGET_MS)
			p->restored_gate_warned = false;
		else if (refusal_may_log(r, p))
			wj_warn("repl: %012" PRIu64 " says it was restored from an old copy "
				"again: case writes here have waited %d minutes for its restores "
				"today and do not wait this time; it gets back what it lost",
				p->code, RESTORE_GATE_BUDGET_MS / 60000);
		persist_restored(r, p);
	}
	if (h->full_resync) {
		/* The peer lost what it had: echo everything we hold for it,
		 * its own events included, from where it says it is. */
		if (r->log_end > p->echo_until)
			p->echo_until = r->log_end;
		/* Not in answer to an ack: two restored peers would otherwise
		 * acknowledge each other forever. */
		ack_resync = !h->is_reply || !h->resync_ack;
	}
	if (h->resync_ack && p->resync_pending) {
		/* From here the peer's stream restarts at resync_from and
		 * echoes everything: the resync is done once it has reached
		 * the peer's log end as of now. */
		if (h->resync_from < p->recv_pos)
			p->recv_pos = h->resync_from;
		p->min_session = h->resync_session;
		p->resync_target = h->log_end ? h->log_end : 1;
		p->resync_unanswered = 0;
		p->resync_unanswered_warned = false;
		persist_recv(r, p);
		check_resync_done(r, p);
	}
	peer_recovery(r, p, h->recovering, h->log_end);
	restored_peer_check(r, p);
	if (p->acked != start && !p->snapshot) {
		p->acked = start;
		p->acked_dirty = true;
	}
	bool was_up = p->state == WUJI__LINK_STATE__LINK_UP;
	p->hello_seen = true;
	p->met = true;
	p->takes_ahead = h->takes_ahead;
	p->state = p->snapshot ? WUJI__LINK_STATE__LINK_RESYNC : WUJI__LINK_STATE__LINK_UP;
	if (!was_up)
		wj_info("repl: link to %s %012" PRIu64 " is up (we resume at %" PRIu64
			", it resumes at %" PRIu64 ")", p->is_parent ? "parent" : "child",
			p->code, start, p->recv_pos);
	/* Answer a hello that asks for one, and acknowledge every request to
	 * send everything back (a reply carrying the ack is not answered). */
	if (!h->is_reply || ack_resync)
		send_hello_ex(r, t, p, now_ms, true, ack_resync, start, out);
	pump(r, t, p, now_ms, out);
	wj_txn_abort(t);
}

static void on_ack(wj_repl_t *r, peer_t *p, const Wuji__Ack *a, int64_t now_ms,
		   wj_repl_out_t *out)
{
	if (a->epoch != r->epoch || !p->hello_seen)
		return; /* about an older epoch of our log */
	if (a->snapshot) {
		if (!p->snapshot || a->snapshot_id != p->snap_id) {
			/* about another snapshot */
		} else if (a->resend) {
			/* The peer lost the thread of this snapshot (it
			 * restarted): begin it again. */
			start_snapshot(r, p, p->acked);
		} else if (p->snap_inflight && a->pos == p->snap_batch + 1) {
			p->snap_batch++;
			p->snap_inflight = false;
			pacing_acked(r, p, p->snap_bytes, p->snap_bytes >= p->batch_bytes / 2,
				     now_ms - p->snap_sent_ms);
			if (p->snap_final) {
				wj_info("repl: snapshot for %012" PRIu64 " done after %" PRIu64
					" batches; resuming its log at %" PRIu64, p->code,
					p->snap_batch, p->snap_end);
				reset_outgoing(p, p->snap_end);
				p->acked_dirty = true;
				p->state = WUJI__LINK_STATE__LINK_UP;
			}
		}
	} else if (a->pos > p->acked) {
		acked_up_to(r, p, a->pos, now_ms);
	}
	if (a->resend && !a->snapshot && !p->snapshot &&
	    !(a->pos == p->goback_pos && now_ms - p->goback_ms < r->o.rto_ms)) {
		/* The peer saw a gap (a batch lost on the way): go back to
		 * where it is.  Duplicates of the same gap ack within rto_ms
		 * are ignored, or one loss would cause a storm of resends. */
		if (a->pos < p->acked) {
			p->acked = a->pos;
			p->acked_dirty = true;
		}
		p->n_inflight = 0;
		p->wire = p->scanned = p->acked;
		p->goback_pos = a->pos;
		p->goback_ms = now_ms;
	}
	wj_txn_t *t = read_txn(r);
	if (t == NULL)
		return;
	refresh_log(r, t);
	pump(r, t, p, now_ms, out);
	wj_txn_abort(t);
}

/* The bytes of each event of a received batch as the peer packed them,
 * found by walking the message: NULL unless they line up one for one
 * with the decoded events (then each is packed again when stored).  An
 * event whose bytes are not exactly what packing it gives (NUL-padded
 * strings, fields twice, other non-canonical encodings) is stored packed
 * again, so every node stores the same bytes for an id: the event that
 * was checked. */
static struct raw_event *events_bytes(const uint8_t *data, size_t len, uint32_t body_field,
				      uint32_t events_field, Wuji__Event *const *events,
				      size_t n_events, wj_arena_t *a)
{
	if (n_events == 0)
		return NULL;
	struct raw_event *out = wj_arena_alloc(a, n_events * sizeof(*out));
	size_t n = 0;
	wj_pb_reader_t msg;
	wj_pb_field_t f;
	int rc;
	wj_pb_reader_init(&msg, data, len);
	while ((rc = wj_pb_next(&msg, &f)) == 1) {
		if (f.number != body_field || f.wire != 2)
			continue;
		wj_pb_reader_t batch;
		wj_pb_field_t e;
		int brc;
		wj_pb_reader_init(&batch, f.data, f.len);
		while ((brc = wj_pb_next(&batch, &e)) == 1) {
			if (e.number != events_field || e.wire != 2)
				continue;
			if (n == n_events)
				return NULL;
			out[n++] = (struct raw_event){e.data, e.len};
		}
		if (brc < 0)
			return NULL;
	}
	if (rc < 0 || n != n_events)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		wj_event_peek_t pk;
		if (wj_pb_peek_event(out[i].data, out[i].len, &pk) != 0 ||
		    pk.origin != events[i]->origin || pk.seq != events[i]->seq ||
		    wuji__event__get_packed_size(events[i]) != out[i].len)
			out[i].data = NULL; /* this one is packed again */
	}
	return out;
}

/* A round's fresh events from below, to go up ahead of its commit (see
 * Ahead in proto/wuji.proto); pointers into the received messages. */
struct ahead {
	struct raw_event *events;
	size_t n;
	uint64_t bytes;
	bool over;               /* too many: the ordinary stream takes them */
	wj_arena_t *arena;
};

static void ahead_add(wj_repl_t *r, struct ahead *ah, const peer_t *from,
		      const Wuji__Event *ev, const struct raw_event *packed)
{
	/* Only events that the child which sent them has itself received
	 * and committed: never the child's own.  Whatever goes up ahead of
	 * our commit is then on disk at the origin and at the origin's
	 * parent, so if we crash before committing, a restore of the origin
	 * is still seen (its parent holds the event) and the origin never
	 * issues that id again while the levels above hold it.  Nor while
	 * the child hands back what a restore of ours took: that belongs
	 * to the ordinary stream, which the restore logic reads. */
	if (ah == NULL || ah->over || from->is_parent || ev->origin == r->self ||
	    ev->origin == from->code || from->resync_pending || from->restored_epoch != 0 ||
	    r->o.parent == 0 || wj_route_is_broadcast(ev->type))
		return;
	if (packed == NULL || packed->data == NULL || ah->n >= AHEAD_EVENTS_MAX ||
	    ah->bytes + packed->len > AHEAD_BYTES_MAX) {
		ah->over = true;   /* all or nothing: see AHEAD_EVENTS_MAX */
		return;
	}
	struct raw_event *slot = wj_arena_push(ah->arena, &ah->events, &ah->n, sizeof(*slot));
	*slot = *packed;
	ah->bytes += packed->len;
}

/* Applies a batch's events and the peer's new position inside t.  An
 * event the node refuses is logged and skipped; any other failure leaves
 * t unusable and is returned. */
static int apply_events(wj_repl_t *r, peer_t *p, wj_txn_t *t, const Wuji__Batch *b,
			const struct raw_event *packed, uint64_t new_pos, int64_t now_ms,
			struct ahead *ah, wj_err_t *err)
{
	size_t refused = 0, in_gap = 0;
	for (size_t i = 0; i < b->n_events; i++) {
		const Wuji__Event *ev = b->events[i];
		/* Our own events, back from below after a restore: those its
		 * hello said it holds (and the gap past them), and any while
		 * we read its log back (it may have got them back from its own
		 * children since, even beyond what we know we issued: we were
		 * restored from a backup older than it though no hello told
		 * us). */
		bool beyond = ev->origin == r->self && ev->seq > r->last_seq &&
			      ev->seq > r->restore_max_seq &&
			      !wj_store_event_exists(t, ev->origin, ev->seq);
		/* An event of ours that we would have sent this peer: all,
		 * to the parent; to a child, the catalog and calendar and
		 * steps of cases of its area (a restore is a peer's word,
		 * and must not let it speak for us beyond that). */
		bool ours_for_it = ev->origin == r->self &&
				   (p->is_parent || wj_route_is_broadcast(ev->type) ||
				    wj_route_child_may_return(p->code, ev));
		bool own_back = ours_for_it &&
				(ev->seq <= r->restore_max_seq || p->resync_pending);
		if (beyond && !own_back && !p->is_parent) {
			/* Not while we read its log back after a restore: a
			 * child speaks only for its own area, and one that
			 * could hand us "our" events at any time could make
			 * up our decisions, or use up our seqs and serials.
			 * An honest child holding such an event says so in
			 * its hello, and we recover; but one restored along
			 * with us gets it back from below only after its
			 * hello.  A step of ours on a case of its area is
			 * then taken as that word (a restore is believed
			 * once a run, whoever says it): we recover, and it
			 * comes back with everything else. */
			if (!r->restore_seen && ours_for_it && plausible_own_seq(ev->seq)) {
				/* Read again from the batch it came in (a
				 * snapshot: from the start, as a snapshot's
				 * positions are not its log's). */
				uint64_t from_pos = b->snapshot ? 0 : b->prev;
				if (from_pos < p->hint_pos)
					p->hint_pos = from_pos;
				if (ev->seq > r->restore_hint_seq) {
					r->restore_hint_seq = ev->seq;
					r->restore_hint_from = p->code;
				}
				continue;
			}
			if (refused++ == 0 && refusal_may_log(r, p))
				wj_warn("repl: child %012" PRIu64 " sent event %" PRIu64 " of this "
					"node, beyond the last one it issued (%" PRIu64 "), while "
					"nothing is being handed back: refused", p->code, ev->seq,
					r->last_seq);
			continue;
		}
		/* One of the seqs the restore skipped: issued after our backup,
		 * beyond what the peer that revealed the restore held (the
		 * gap is there for events like it). */
		if (ev->origin == r->self && ev->seq > r->restore_gap_from &&
		    ev->seq <= r->restore_max_seq &&
		    !wj_store_event_exists(t, ev->origin, ev->seq) && in_gap++ == 0)
			wj_info("repl: %012" PRIu64 " handed back event %" PRIu64 " of this node, "
				"from the seqs the restore left unissued (%" PRIu64 "..%" PRIu64
				"): it was issued after the backup", p->code, ev->seq,
				r->restore_gap_from + 1, r->restore_max_seq);
		if (beyond && !p->is_parent)
			wj_warn("repl: child %012" PRIu64 " handed back event %" PRIu64 " of this "
				"node, beyond the last one it knows of (%" PRIu64 "): this node was "
				"restored from an older copy of its store; that seq will not be "
				"reused", p->code, ev->seq, r->last_seq);
		/* Restored, we asked this child for everything back: what we
		 * had sent down to it from above included, which may now be
		 * nowhere else (our parent restored too, say).  Our own
		 * events come back only as own_back allows. */
		bool handed_back = p->resync_pending && ev->origin != r->self &&
				   wj_route_child_may_return(p->code, ev);
		if (!p->is_parent && !own_back && !handed_back &&
		    (wj_route_is_broadcast(ev->type) ||
		     !wj_route_child_may_send(p->code, ev->origin))) {
			/* A child speaks only for its own area, and the
			 * catalog comes from above. */
			if (refused++ == 0 && refusal_may_log(r, p))
				wj_warn("repl: child %012" PRIu64 " sent an event from %012" PRIu64
					" (type %d), outside what it may send: dropped", p->code,
					ev->origin, (int)ev->type);
			continue;
		}
		bool fresh;
		wj_err_t e = {0};
		const uint8_t *bytes = packed ? packed[i].data : NULL;
		int rc = wj_service_apply_packed(r->svc, t, ev, bytes, bytes ? packed[i].len : 0,
						 p->code, now_ms, &r->apply_scratch, &fresh, &e);
		wj_arena_reset(&r->apply_scratch);
		if (rc == WJ_EINVAL) {
			if (refusal_may_log(r, p))
				wj_warn("repl: event %012" PRIu64 "/%" PRIu64 " from %012" PRIu64
					" refused: %s", ev->origin, ev->seq, p->code, e.msg);
			continue;
		}
		if (rc != 0) {
			*err = e;
			return rc;
		}
		if (fresh)
			ahead_add(r, ah, p, ev, packed ? &packed[i] : NULL);
	}
	/* A batch whose events of ours revealed our restore is read again
	 * (recover_from_hint): in the same transaction as the rest of it,
	 * so that a crash before the recovery forgets neither. */
	if (new_pos != 0)
		return wj_store_cursor_put(t, p->code, WJ_CURSOR_RECV_POS,
					   p->hint_pos < new_pos ? p->hint_pos : new_pos, err);
	return 0;
}

/* Applies a batch's events and the new position in one transaction. */
static int apply_batch(wj_repl_t *r, peer_t *p, const Wuji__Batch *b, uint64_t new_pos,
		       int64_t now_ms)
{
	wj_txn_t *t;
	wj_err_t err = {0};
	if (wj_txn_begin(r->store, true, &t, &err) != 0)
		goto fail;
	if (apply_events(r, p, t, b, NULL, new_pos, now_ms, NULL, &err) != 0 ||
	    wj_service_before_commit(r->svc, t, &err) != 0) {
		wj_txn_abort(t);
		goto fail;
	}
	if (wj_txn_commit(t, &err) != 0)
		goto fail;
	wj_service_calendar_changed(r->svc);
	return 0;
fail:
	/* Not acknowledged: the peer sends it again. */
	wj_error("repl: cannot apply a batch from %012" PRIu64 ": %s", p->code, err.msg);
	return -1;
}

/* A batch sent before the peer began to send everything back: it skips
 * the events that came from us, so it must not count, nor move our
 * position past them.  Until the peer acknowledges our request
 * (resync_target still 0) every batch may be one of those: one that
 * moved recv_pos then would make the peer's echo start after events of
 * ours that it holds, and they would never come back. */
static bool batch_before_resync(const peer_t *p, const Wuji__Batch *b)
{
	return p->resync_pending && (p->resync_target == 0 || b->session < p->min_session);
}

static void on_batch(wj_repl_t *r, peer_t *p, const Wuji__Batch *b, int64_t now_ms,
		     wj_repl_out_t *out)
{
	if (!p->hello_seen || b->epoch != p->recv_epoch) {
		/* We do not agree on where this stream stands yet. */
		if (now_ms - p->last_hello_ms >= r->o.hello_ms) {
			wj_txn_t *t = read_txn(r);
			if (t) {
				send_hello(r, t, p, now_ms, false, out);
				wj_txn_abort(t);
			}
		}
		return;
	}
	if (batch_before_resync(p, b))
		return;
	if (b->snapshot) {
		if (b->snapshot_id != p->snap_recv_id) {
			if (b->prev != 0) {
				/* The middle of a snapshot we know nothing of (we
				 * restarted): ask for it from the start. */
				p->snap_recv_id = b->snapshot_id;
				p->snap_recv = 0;
				send_ack(r, out, p, 0, true, true);
				return;
			}
			p->snap_recv_id = b->snapshot_id;
			p->snap_recv = 0;
		}
		if (b->prev != p->snap_recv) {
			/* A duplicate is acknowledged again; a gap asks for a
			 * restart. */
			send_ack(r, out, p, p->snap_recv, true, b->last > p->snap_recv);
			return;
		}
		uint64_t pos = b->snapshot_end ? b->snapshot_end : 0;
		if (pos && pos <= p->recv_pos)
			pos = 0; /* never move back */
		if (apply_batch(r, p, b, pos, now_ms) != 0)
			return;
		p->snap_recv = b->last;
		if (pos) {
			p->recv_pos = pos;
			wj_info("repl: snapshot from %012" PRIu64 " applied; following its log "
				"from %" PRIu64, p->code, pos);
			check_resync_done(r, p);
		}
		send_ack(r, out, p, b->last, true, false);
		pump_all(r, now_ms, out);
		return;
	}
	if (b->last <= p->recv_pos) {
		send_ack(r, out, p, p->recv_pos, false, false); /* a duplicate */
		return;
	}
	if (b->prev > p->recv_pos) {
		send_ack(r, out, p, p->recv_pos, false, true); /* a gap */
		return;
	}
	/* Unreachable: a batch that continues the stream is applied by a
	 * round (see wj_repl_receive_many). */
	(void)wj_fails_assert(!"a continuing batch reached on_batch");
}

static void on_ping(wj_repl_t *r, peer_t *p, const Wuji__Ping *ping, int64_t now_ms,
		    wj_repl_out_t *out)
{
	/* A ping of an older epoch was sent before the peer's own restore
	 * and says nothing of its recovery now.  Within an epoch a peer says
	 * `recovering` and then, once, no more (recovering_toward), so a late
	 * ping can only make us wait longer. */
	if (p->hello_seen && ping->epoch == p->recv_epoch) {
		peer_recovery(r, p, ping->recovering, ping->log_end);
		restored_peer_check(r, p);
	}
	Wuji__Pong pong = WUJI__PONG__INIT;
	pong.echo_wall_ms = ping->wall_ms;
	pong.wall_ms = now_ms;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_PONG;
	m.pong = &pong;
	emit(r, out, p, &m);
}

static void on_pong(wj_repl_t *r, peer_t *p, const Wuji__Pong *pong, int64_t now_ms)
{
	if (!p->is_parent || pong->echo_wall_ms > now_ms)
		return;
	/* Offset of the parent's clock, assuming the reply took half the
	 * round trip. */
	int64_t rtt = now_ms - pong->echo_wall_ms;
	p->skew_ms = pong->wall_ms - (pong->echo_wall_ms + rtt / 2);
	p->skew_known = true;
	int64_t mag = p->skew_ms < 0 ? -p->skew_ms : p->skew_ms;
	if (mag > (int64_t)r->o.skew_warn_ms && now_ms - p->skew_warned_ms > 60000) {
		wj_warn("repl: this node's clock is %" PRId64 " ms %s its parent's (bound %u "
			"ms): check NTP on both", mag, p->skew_ms > 0 ? "behind" : "ahead of",
			r->o.skew_warn_ms);
		p->skew_warned_ms = now_ms;
	}
}

static void on_tree(wj_repl_t *r, peer_t *p, const uint8_t *data, size_t len)
{
	if (p->is_parent)
		return;
	if (len > REPORT_MAX) {
		if (!p->report_big_warned)
			wj_warn("repl: %012" PRIu64 " reports a tree of %zu bytes, more than %u: "
				"node-ctl tree here keeps its last smaller report", p->code, len,
				REPORT_MAX);
		p->report_big_warned = true;
		return;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (copy == NULL)
		return;
	memcpy(copy, data, len);
	free(p->report);
	p->report = copy;
	p->report_len = len;
}

/* A round: consecutive batches that simply continue their streams (the
 * common case under load, when batches queue while the previous commit
 * syncs) are applied in one write transaction, each in a nested one, and
 * acknowledged after its one commit and fsync.  Anything else ends the
 * round first, so acknowledgements only ever cover committed positions
 * and no other write transaction is begun while the round's is open. */
struct round {
	wj_txn_t *t;
	size_t events;
	struct ahead ahead;
};

#define ROUND_EVENTS_MAX 4096  /* bounds the transaction's dirty pages */

static bool batch_continues(const peer_t *p, const Wuji__Batch *b)
{
	return p->hello_seen && b->epoch == p->recv_epoch && !b->snapshot &&
	       !batch_before_resync(p, b) &&
	       b->last > p->recv_pos && b->prev <= p->recv_pos;
}

/* The round's fresh events from below go up now, while its commit syncs:
 * to a parent that takes Aheads, over a link that is up, and never while
 * a restore is being recovered from (what goes up then is the ordinary
 * stream's business alone). */
static void send_ahead(wj_repl_t *r, struct ahead *ah, wj_repl_out_t *out)
{
	peer_t *q = r->o.parent ? find_peer(r, r->o.parent) : NULL;
	/* Nor more than the link's pacing lets a batch carry: an Ahead
	 * must not queue a slow link up ahead of acks and pings. */
	if (ah->n == 0 || ah->over || q == NULL || !q->takes_ahead || !q->hello_seen ||
	    q->state != WUJI__LINK_STATE__LINK_UP || ah->bytes > q->batch_bytes ||
	    r->restore_seen || r->restore_hint_seq || r->commit_failing || wj_repl_recovering(r))
		return;
	size_t o;
	uint8_t *buf = pack_raw_events(r, out->arena, PEER_MSG_AHEAD_FIELD, NULL,
				       AHEAD_EVENTS_FIELD, ah->events, ah->n, &o);
	if (out->send_now) {
		wj_repl_msg_t msg = {.peer = q->code, .data = buf, .len = o};
		out->send_now(out->send_now_ctx, &msg);
	} else {
		push_msg(out, q, buf, o);
	}
	if (q->ahead_hold_until == 0)
		q->ahead_hold_until = r->now_ms + AHEAD_HOLD_MS;
	want_tick(out, q->ahead_hold_until);
}

static void round_end(wj_repl_t *r, struct round *rd, int64_t now_ms, wj_repl_out_t *out)
{
	if (rd->t == NULL)
		return;
	send_ahead(r, &rd->ahead, out);
	rd->ahead = (struct ahead){.arena = out->arena};
	wj_err_t err = {0};
	int rc = wj_service_before_commit(r->svc, rd->t, &err);
	if (rc == 0)
		rc = wj_txn_commit(rd->t, &err);
	else
		wj_txn_abort(rd->t);
	rd->t = NULL;
	rd->events = 0;
	if (rc != 0)
		wj_error("repl: cannot commit received batches: %s; they will be sent again",
			 err.msg);
	else
		wj_service_calendar_changed(r->svc);
	/* Aheads wait for a round that commits: a store that cannot commit
	 * (full, failing) must not keep handing up what it does not hold. */
	r->commit_failing = rc != 0;
	for (size_t i = 0; i < r->n_peers; i++) {
		peer_t *p = &r->peers[i];
		if (!p->in_round)
			continue;
		p->in_round = false;
		if (rc != 0) {
			/* Not acknowledged: the peer goes back and sends
			 * them again. */
			p->recv_pos = p->round_from;
			continue;
		}
		send_ack(r, out, p, p->recv_pos, false, false);
		check_resync_done(r, p);
	}
	if (rc == 0)
		pump_all(r, now_ms, out);
}

/* Applies b's events, found packed in the message `in` under these field
 * numbers, in a transaction nested in the round's; new_pos as in
 * apply_events.  On failure nothing of it stays, not even in the round's
 * Ahead, and the peer sends it again (`what` says what it was). */
static int round_apply(wj_repl_t *r, struct round *rd, peer_t *p, const Wuji__Batch *b,
		       const wj_repl_in_t *in, uint32_t body_field, uint32_t events_field,
		       uint64_t new_pos, const char *what, int64_t now_ms, wj_repl_out_t *out)
{
	wj_err_t err = {0};
	if (rd->t == NULL && wj_txn_begin(r->store, true, &rd->t, &err) != 0) {
		rd->t = NULL;
		wj_error("repl: cannot apply %s from %012" PRIu64 ": %s", what, p->code, err.msg);
		return -1;
	}
	wj_txn_t *child;
	if (wj_txn_begin_nested(rd->t, &child, &err) != 0) {
		wj_error("repl: cannot apply %s from %012" PRIu64 ": %s", what, p->code, err.msg);
		round_end(r, rd, now_ms, out);
		return -1;
	}
	struct raw_event *packed = events_bytes(in->data, in->len, body_field, events_field,
						b->events, b->n_events, &r->scratch);
	struct ahead before = rd->ahead;
	int rc = apply_events(r, p, child, b, packed, new_pos, now_ms, &rd->ahead, &err);
	if (rc == 0)
		rc = wj_txn_commit(child, &err); /* frees child either way */
	else
		wj_txn_abort(child);
	if (rc != 0) {
		rd->ahead = before; /* not applied here: not sent up either */
		wj_error("repl: cannot apply %s from %012" PRIu64 ": %s", what, p->code, err.msg);
		return -1;
	}
	rd->events += b->n_events;
	return 0;
}

static void round_add(wj_repl_t *r, struct round *rd, peer_t *p, const Wuji__Batch *b,
		      const wj_repl_in_t *in, int64_t now_ms, wj_repl_out_t *out)
{
	/* Not applied: not acknowledged, the peer goes back and sends it
	 * again. */
	if (round_apply(r, rd, p, b, in, PEER_MSG_BATCH_FIELD, BATCH_EVENTS_FIELD, b->last,
			"a batch", now_ms, out) != 0)
		return;
	if (!p->in_round) {
		p->in_round = true;
		p->round_from = p->recv_pos;
	}
	p->recv_pos = p->hint_pos < b->last ? p->hint_pos : b->last;
	if (rd->events >= ROUND_EVENTS_MAX)
		round_end(r, rd, now_ms, out);
}

/* Whether an Ahead from p is applied: from a child whose stream we follow
 * as usual, with no restore on either side in the way (its events then
 * come in the ordinary stream only, which the restore logic reads). */
static bool ahead_welcome(const wj_repl_t *r, const peer_t *p)
{
	/* Not "restored in this run" (restore_seen lasts till a restart):
	 * once recovered, a node takes Aheads again, or every one its
	 * children send (their hellos told them it does) would be lost
	 * latency. */
	return !p->is_parent && p->hello_seen && !p->resync_pending && p->restored_epoch == 0 &&
	       !p->away_recovering && r->restore_hint_seq == 0 && !wj_repl_recovering(r);
}

/* An Ahead joins the round: its events are applied (each checked as in a
 * batch) with no position and no acknowledgement, and those new here go
 * further up ahead of this node's commit too. */
static void round_add_ahead(wj_repl_t *r, struct round *rd, peer_t *p, const Wuji__Ahead *a,
			    const wj_repl_in_t *in, int64_t now_ms, wj_repl_out_t *out)
{
	/* Neither events of ours (a relay sends up only what came from
	 * below it: one of ours would read as news of our restore) nor the
	 * sender's own (they come in its stream only, see ahead_add). */
	for (size_t i = 0; i < a->n_events; i++)
		if (a->events[i]->origin == r->self || a->events[i]->origin == p->code) {
			if (refusal_may_log(r, p))
				wj_warn("repl: %012" PRIu64 " sent an Ahead holding an event of "
					"%s: dropped", p->code,
					a->events[i]->origin == r->self ? "this node" : "its own");
			return;
		}
	if (a->n_events == 0)
		return;
	Wuji__Batch b = WUJI__BATCH__INIT;
	b.events = a->events;
	b.n_events = a->n_events;
	/* Nothing lost if it fails: the same events come in p's stream. */
	if (round_apply(r, rd, p, &b, in, PEER_MSG_AHEAD_FIELD, AHEAD_EVENTS_FIELD, 0,
			"an Ahead", now_ms, out) != 0)
		return;
	if (rd->events >= ROUND_EVENTS_MAX)
		round_end(r, rd, now_ms, out);
}

static void dispatch(wj_repl_t *r, peer_t *p, Wuji__PeerMsg *m, int64_t now_ms,
		     wj_repl_out_t *out)
{
	switch (m->body_case) {
	case WUJI__PEER_MSG__BODY_HELLO:
		on_hello(r, p, m->hello, now_ms, out);
		break;
	case WUJI__PEER_MSG__BODY_BATCH:
		on_batch(r, p, m->batch, now_ms, out);
		break;
	case WUJI__PEER_MSG__BODY_ACK:
		on_ack(r, p, m->ack, now_ms, out);
		break;
	case WUJI__PEER_MSG__BODY_PING:
		on_ping(r, p, m->ping, now_ms, out);
		break;
	case WUJI__PEER_MSG__BODY_PONG:
		on_pong(r, p, m->pong, now_ms);
		break;
	case WUJI__PEER_MSG__BODY_AHEAD:
		/* Not for us now (see ahead_welcome): the ordinary stream
		 * brings the same events.  Only a parent sending one is wrong. */
		if (p->is_parent && refusal_may_log(r, p))
			wj_warn("repl: parent %012" PRIu64 " sent an Ahead, which only goes up: "
				"dropped", p->code);
		break;
	case WUJI__PEER_MSG__BODY_TREE: {
		size_t tl = wuji__tree_report__get_packed_size(m->tree);
		uint8_t *buf = wj_arena_alloc(out->arena, tl ? tl : 1);
		on_tree(r, p, buf, wuji__tree_report__pack(m->tree, buf));
		break;
	}
	default:
		if (refusal_may_log(r, p))
			wj_warn("repl: message from %012" PRIu64 " has no body this node knows: dropped",
				p->code);
	}
}

/* A child handed us an event of ours we never knew we issued (see
 * restore_hint_seq): recover as from a hello saying so, and tell every
 * peer. */
static void recover_from_hint(wj_repl_t *r, int64_t now_ms, wj_repl_out_t *out)
{
	uint64_t told = r->restore_hint_seq, from = r->restore_hint_from;
	r->restore_hint_seq = r->restore_hint_from = 0;
	/* The events they came with were skipped, not taken (though their
	 * batches were acknowledged): the logs of the children that sent
	 * them are read again from those batches. */
	for (size_t i = 0; i < r->n_peers; i++) {
		peer_t *p = &r->peers[i];
		if (p->hint_pos < p->recv_pos) {
			p->recv_pos = p->hint_pos;
			persist_recv(r, p);
		}
		p->hint_pos = UINT64_MAX;
	}
	if (r->restore_seen)
		return;   /* recovering already: they come back with the rest */
	const Wuji__Hello none = WUJI__HELLO__INIT;
	recover_from_restore(r, &none, told, from, now_ms);
	wj_txn_t *t = read_txn(r);
	if (t == NULL)
		return;
	refresh_log(r, t);
	for (size_t i = 0; i < r->n_peers; i++)
		send_hello(r, t, &r->peers[i], now_ms, false, out);
	wj_txn_abort(t);
}

void wj_repl_receive_many(wj_repl_t *r, const wj_repl_in_t *in, size_t n, int64_t now_ms,
			  wj_repl_out_t *out)
{
	struct round rd = {.ahead = {.arena = out->arena}};
	r->now_ms = now_ms;
	for (size_t i = 0; i < n; i++) {
		peer_t *p = find_peer(r, in[i].peer);
		if (p == NULL) {
			wj_warn("repl: message from %012" PRIu64 ", which is not a peer of this "
				"node: dropped", in[i].peer);
			continue;
		}
		wj_arena_reset(&r->scratch);
		wj_arena_pb_budget(&r->scratch, wj_decode_budget(in[i].len));
		Wuji__PeerMsg *m =
			wuji__peer_msg__unpack(&r->scratch.pb, in[i].len, in[i].data);
		bool too_big = wj_arena_pb_refused(&r->scratch);
		wj_arena_pb_budget(&r->scratch, SIZE_MAX);
		if (m == NULL && too_big) {
			if (refusal_may_log(r, p))
				wj_warn("repl: %zu bytes from %012" PRIu64 " decode to more than "
					"%zu KiB (a repeated field with very many elements): "
					"dropped", in[i].len, in[i].peer,
					wj_decode_budget(in[i].len) >> 10);
			continue;
		}
		if (m == NULL) {
			if (refusal_may_log(r, p))
				wj_warn("repl: %zu bytes from %012" PRIu64 " do not decode as a peer "
					"message: dropped", in[i].len, in[i].peer);
			continue;
		}
		p->last_heard_ms = now_ms;
		if (p->state == WUJI__LINK_STATE__LINK_DOWN ||
		    p->state == WUJI__LINK_STATE__LINK_NONE)
			p->state = WUJI__LINK_STATE__LINK_CONNECTING;
		bool batch = m->body_case == WUJI__PEER_MSG__BODY_BATCH;
		if (batch && batch_continues(p, m->batch)) {
			round_add(r, &rd, p, m->batch, &in[i], now_ms, out);
			continue;
		}
		if (m->body_case == WUJI__PEER_MSG__BODY_AHEAD && ahead_welcome(r, p)) {
			round_add_ahead(r, &rd, p, m->ahead, &in[i], now_ms, out);
			continue;
		}
		round_end(r, &rd, now_ms, out);
		/* A failed commit moves positions back: a batch that looked
		 * like a duplicate may continue the stream now. */
		if (batch && batch_continues(p, m->batch)) {
			round_add(r, &rd, p, m->batch, &in[i], now_ms, out);
			continue;
		}
		dispatch(r, p, m, now_ms, out);
	}
	round_end(r, &rd, now_ms, out);
	wj_arena_reset(&r->scratch);
	if (r->restore_hint_seq != 0)
		recover_from_hint(r, now_ms, out);
}

void wj_repl_receive(wj_repl_t *r, uint64_t peer, const uint8_t *data, size_t len,
		     int64_t now_ms, wj_repl_out_t *out)
{
	wj_repl_in_t in = {.peer = peer, .data = data, .len = len};
	wj_repl_receive_many(r, &in, 1, now_ms, out);
}

/* ------------------------------------------------------------- timers */

static void send_ping(wj_repl_t *r, peer_t *p, int64_t now_ms, wj_repl_out_t *out)
{
	Wuji__Ping ping = WUJI__PING__INIT;
	ping.wall_ms = now_ms;
	ping.epoch = r->epoch;
	ping.recovering = recovering_toward(r, p);
	ping.log_end = r->log_end;
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_PING;
	m.ping = &ping;
	emit(r, out, p, &m);
	p->last_ping_ms = now_ms;
}

static void send_tree(wj_repl_t *r, peer_t *p, int64_t now_ms, wj_repl_out_t *out)
{
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.body_case = WUJI__PEER_MSG__BODY_TREE;
	m.tree = wj_repl_tree(r, r->self, now_ms, out->arena);
	emit(r, out, p, &m);
	p->last_tree_ms = now_ms;
}

/* Change-log entries one maintenance transaction deletes.  A village
 * deletes few at a time and drops its mapped pages after each step: the
 * entries a burst of cases left are spread over its whole store, and
 * every page read maps the page cache's whole folio around it (up to
 * hundreds of KiB on current kernels), so trimming 20,000 entries at once
 * took its resident memory from 14 to 30 MB.  Elsewhere one step is big
 * enough that a busy province needs few commits. */
#define TRIM_STEP_LIGHT 1000
#define TRIM_STEP 100000
#define TRIM_STEPS_MAX 64

/* Where the change log may be trimmed up to: entries every peer has
 * acknowledged go, and so do entries older than log_keep, even if a peer
 * that has been away long still needs them (it will get a snapshot). */
static uint64_t trim_bound(const wj_repl_t *r)
{
	uint64_t keep_from = r->log_end;
	for (size_t i = 0; i < r->n_peers; i++) {
		const peer_t *p = &r->peers[i];
		uint64_t need = p->snapshot ? p->snap_end : p->acked;
		if (need < keep_from)
			keep_from = need;
	}
	uint64_t floor = r->log_end > r->o.log_keep ? r->log_end - r->o.log_keep : 0;
	return keep_from > floor ? keep_from : floor;
}

static void persist_lazy_acks(wj_repl_t *r, wj_txn_t *t, wj_err_t *err)
{
	for (size_t i = 0; i < r->n_peers; i++) {
		peer_t *p = &r->peers[i];
		if (p->acked_dirty) {
			wj_store_cursor_put(t, p->code, WJ_CURSOR_ACKED, p->acked, err);
			wj_store_cursor_put(t, p->code, WJ_CURSOR_ACKED_EPOCH, r->epoch, err);
			p->acked_dirty = false;
		}
	}
}

/* Persists lazy acknowledgements (in the first step's transaction) and
 * trims the change log, a step per transaction. */
static void maintain(wj_repl_t *r, int64_t now_ms)
{
	const uint64_t step = r->light ? TRIM_STEP_LIGHT : TRIM_STEP;
	const uint64_t upto = trim_bound(r);
	uint64_t removed = 0, total = 0;
	wj_err_t err = {0};
	wj_txn_t *t;

	r->last_maint_ms = now_ms;
	for (int i = 0; i < TRIM_STEPS_MAX && (i == 0 || removed == step); i++) {
		if (wj_txn_begin(r->store, true, &t, &err) != 0)
			break;
		if (i == 0)
			persist_lazy_acks(r, t, &err);
		removed = 0;
		if (r->n_peers > 0 && upto >= r->log_first)
			wj_store_changelog_trim(t, upto, step, &removed, &err);
		if (wj_txn_commit(t, &err) != 0) {
			wj_error("repl: maintenance: %s", err.msg);
			/* The acknowledgements it carried are written again
			 * next time. */
			for (size_t k = 0; i == 0 && k < r->n_peers; k++)
				r->peers[k].acked_dirty = true;
			break;
		}
		total += removed;
		if (removed && r->light)
			shed_pages(r);
	}
	if (total)
		wj_debug("repl: trimmed %" PRIu64 " change-log entries up to %" PRIu64, total,
			 upto);
}

void wj_repl_tick(wj_repl_t *r, int64_t now_ms, wj_repl_out_t *out)
{
	r->now_ms = now_ms;
	wj_txn_t *t = read_txn(r);
	if (t == NULL)
		return;
	refresh_log(r, t);
	for (size_t i = 0; i < r->n_peers; i++) {
		peer_t *p = &r->peers[i];
		if (p->hello_seen && now_ms - p->last_heard_ms > r->o.dead_ms) {
			wj_warn("repl: no word from %012" PRIu64 " for %u ms: link down", p->code,
				r->o.dead_ms);
			link_lost(p);
		}
		restored_peer_check(r, p);
		count_gate_time(p, now_ms);
		if (restored_gate_over(p, now_ms) && !p->restored_gate_warned) {
			wj_warn("repl: %012" PRIu64 " was restored from an old copy and has not "
				"finished getting back what it lost after %d minutes (%d in all "
				"today, restored again and again): case writes here no longer "
				"wait for it; if it still holds events of this node issued after "
				"this node's own backup, their ids may be issued again (check it "
				"with node-ctl peers there)", p->code,
				(int)((now_ms - p->restored_since_ms) / 60000),
				(int)(p->gate_spent_ms / 60000));
			p->restored_gate_warned = true;
		}
		if (!p->hello_seen) {
			if (now_ms - p->last_hello_ms >= r->o.hello_ms)
				send_hello(r, t, p, now_ms, false, out);
			want_tick(out, p->last_hello_ms + r->o.hello_ms);
			continue;
		}
		if (p->resync_pending && p->resync_target == 0 &&
		    now_ms - p->last_hello_ms >= r->o.hello_ms)
			send_hello(r, t, p, now_ms, false, out); /* until acknowledged */
		if (now_ms - p->last_ping_ms >= r->o.ping_ms)
			send_ping(r, p, now_ms, out);
		want_tick(out, p->last_ping_ms + r->o.ping_ms);
		if (p->is_parent && now_ms - p->last_tree_ms >= r->o.tree_ms)
			send_tree(r, p, now_ms, out);
		if (p->snapshot && p->snap_inflight && now_ms - p->snap_sent_ms > p->rto) {
			p->snap_phase = p->snap_phase0;
			memcpy(p->snap_key, p->snap_key0, sizeof(p->snap_key));
			p->snap_inflight = false;
			pacing_stalled(p);
		}
		if (!p->snapshot && p->n_inflight > 0 && now_ms - p->progress_ms > p->rto) {
			/* Acknowledgements stalled: something was lost, or
			 * the link is slower than the pacing assumed. */
			p->n_inflight = 0;
			p->wire = p->scanned = p->acked;
			pacing_stalled(p);
		}
		pump(r, t, p, now_ms, out);
	}
	wj_txn_abort(t);
	/* A village node runs on a weak PC with a small memory budget: its
	 * store's pages need not stay mapped.  Every second, and after each
	 * commit or read of events to send (at most every RELEASE_BUSY_MS):
	 * every page a commit or a read touches stays mapped with the
	 * page-cache folio around it, and once a trim has freed pages all
	 * over the store, each commit copies its leaves into other folios.
	 * At 25 ms, W1's cases after its burst took a village to 28 MB; at
	 * 2 ms, 17-18 MB, for some 3 % of a core more while it is busy. */
	if (r->light) {
		int64_t since = now_ms - r->last_release_ms;
		bool busy = r->log_end != r->released_at || r->read_since_release;
		if (since >= 1000 || (since >= RELEASE_BUSY_MS && busy)) {
			/* Once a burst (of cases, or of sending) is over, the
			 * heap it grew (batches, replies) is free but stays
			 * resident unless handed back. */
			if (busy) {
				r->heap_grown = true;
			} else if (r->heap_grown) {
				malloc_trim(0);
				r->heap_grown = false;
			}
			shed_pages(r);
			r->last_release_ms = now_ms;
			r->released_at = r->log_end;
			r->read_since_release = false;
			r->reads_since_shed = 0;
		}
		/* Busy now: likely busy at the next look as well. */
		want_tick(out, r->last_release_ms + (busy ? RELEASE_BUSY_MS : 1000));
	}
	if (now_ms - r->last_maint_ms > 5000)
		maintain(r, now_ms);
	want_tick(out, r->last_maint_ms + 5000);
}

/* ----------------------------------------------------- lifecycle, views */

int wj_repl_new(wj_service_t *svc, const wj_repl_opts_t *o, int64_t now_ms, wj_repl_t **out,
		wj_err_t *err)
{
	wj_repl_t *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return wj_err_set(err, WJ_EINTERNAL, "out of memory");
	r->svc = svc;
	wj_arena_init(&r->scratch, 64 * 1024);
	wj_arena_init(&r->route_scratch, 16 * 1024);
	wj_arena_init(&r->apply_scratch, 16 * 1024);
	r->store = wj_service_store(svc);
	r->self = wj_service_node(svc);
	r->light = wj_division_level(r->self) == WUJI__LEVEL__VILLAGE;
	r->o = *o;
#define DEFAULT(f, v) if (r->o.f == 0) r->o.f = (v)
	DEFAULT(batch_events, r->light ? 128 : 512);
	DEFAULT(window_batches, 8);
	DEFAULT(hello_ms, 500);
	DEFAULT(ping_ms, 1000);
	DEFAULT(dead_ms, 5000);
	DEFAULT(rto_ms, 2000);
	DEFAULT(skew_warn_ms, 2000);
	DEFAULT(tree_ms, 2000);
	DEFAULT(log_keep, 1000000);
#undef DEFAULT
	if (r->o.window_batches > INFLIGHT_MAX)
		r->o.window_batches = INFLIGHT_MAX;
	r->o.children = NULL;
	r->routes = calloc(ROUTE_CACHE, sizeof(*r->routes));
	r->peers = calloc(o->n_children + 1, sizeof(*r->peers));
	if (r->routes == NULL || r->peers == NULL) {
		wj_repl_free(r);
		return wj_err_set(err, WJ_EINTERNAL, "out of memory");
	}
	if (o->parent) {
		if (!wj_division_valid(o->parent) || wj_division_parent(r->self) != o->parent) {
			wj_repl_free(r);
			return wj_err_set(err, WJ_EINVAL,
					  "parent %012" PRIu64 " is not the parent of this node "
					  "%012" PRIu64 ": a node's parent is its code truncated "
					  "one level up", o->parent, r->self);
		}
		r->peers[r->n_peers++] = (peer_t){.code = o->parent, .is_parent = true,
						  .hint_pos = UINT64_MAX};
	}
	for (size_t i = 0; i < o->n_children; i++) {
		uint64_t c = o->children[i];
		if (!wj_division_valid(c) || c == r->self || !wj_division_inside(c, r->self)) {
			char code[13];
			wj_division_format(r->self, code);
			wj_repl_free(r);
			return wj_err_set(err, WJ_EINVAL,
					  "child %012" PRIu64 " is not inside this node's area "
					  "(%s): refused", c, code);
		}
		if (find_peer(r, c)) {
			wj_repl_free(r);
			return wj_err_set(err, WJ_EINVAL, "child %012" PRIu64 " is listed twice", c);
		}
		r->peers[r->n_peers++] = (peer_t){.code = c, .hint_pos = UINT64_MAX};
	}
	wj_txn_t *t;
	int rc = wj_txn_begin(r->store, false, &t, err);
	if (rc != 0) {
		wj_repl_free(r);
		return rc;
	}
	refresh_log(r, t);
	r->start_log_end = r->log_end;
	for (size_t i = 0; i < r->n_peers; i++) {
		peer_t *p = &r->peers[i];
		p->state = WUJI__LINK_STATE__LINK_CONNECTING;
		p->batch_bytes = BATCH_BYTES_FIRST;
		p->cwnd = r->o.window_batches;
		p->rto = r->o.rto_ms;
		/* Sessions grow across restarts too, so a receiver never takes
		 * a new session for an old one. */
		p->session = (uint64_t)now_ms << 8;
		wj_store_cursor_get(t, p->code, WJ_CURSOR_RECV_EPOCH, &p->recv_epoch);
		wj_store_cursor_get(t, p->code, WJ_CURSOR_RECV_POS, &p->recv_pos);
		uint64_t acked_epoch = 0;
		wj_store_cursor_get(t, p->code, WJ_CURSOR_ACKED_EPOCH, &acked_epoch);
		if (acked_epoch == r->epoch)
			wj_store_cursor_get(t, p->code, WJ_CURSOR_ACKED, &p->acked);
		p->wire = p->scanned = p->acked;
		uint64_t pending = 0;
		wj_store_cursor_get(t, p->code, CURSOR_RESYNC_PENDING, &pending);
		p->resync_pending = pending != 0;
		/* A resync under way when we stopped starts over from the
		 * peer's acknowledgement: which of its sessions echoes
		 * everything is known only from that (min_session), and a
		 * batch of an older session taken now could move our position
		 * past events of ours it skipped.  Until then our hellos ask
		 * again (tick) and its batches wait (batch_before_resync). */
		p->resync_target = 0;
		wj_store_cursor_get(t, p->code, CURSOR_RESTORED_EPOCH, &p->restored_epoch);
		wj_store_cursor_get(t, p->code, CURSOR_AWAY_UNTIL, &p->away_until);
		p->restored_since_ms = now_ms;
		/* Unknown until it says: assume the peer recovers too, so
		 * that hearing otherwise raises the target to its log end. */
		p->away_recovering = p->resync_pending || p->restored_epoch != 0;
	}
	wj_store_cursor_get(t, 0, CURSOR_RESTORE_MAX, &r->restore_max_seq);
	wj_store_cursor_get(t, 0, CURSOR_RESTORE_GAP_FROM, &r->restore_gap_from);
	wj_txn_abort(t);
	r->last_maint_ms = now_ms;
	r->started_ms = r->now_ms = now_ms;
	*out = r;
	return 0;
}

void wj_repl_free(wj_repl_t *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_peers; i++)
		free(r->peers[i].report);
	free(r->peers);
	free(r->routes);
	wj_arena_free(&r->scratch);
	wj_arena_free(&r->route_scratch);
	wj_arena_free(&r->apply_scratch);
	free(r);
}

void wj_repl_link_ready(wj_repl_t *r, uint64_t peer)
{
	peer_t *p = find_peer(r, peer);
	if (p != NULL && !p->hello_seen)
		p->last_hello_ms = 0;
}

/* A resync that holds up our recovery: the parent's always (every
 * event of ours went up); a child's unless its link is down, or we have
 * heard nothing from it for the dead interval (since we started, or
 * since it last spoke).  What a child that is away holds comes back when
 * it returns; waiting for it would stop the node for as long as a
 * village is offline.  A child that is reconnecting, or that we have not
 * heard yet just after a restart, counts: its link is not up yet, but it
 * may hold events of ours that nobody else has. */
static bool resync_blocks(const wj_repl_t *r, const peer_t *p)
{
	if (!p->resync_pending)
		return false;
	if (p->is_parent)
		return true;
	switch (p->state) {
	case WUJI__LINK_STATE__LINK_UP:
	case WUJI__LINK_STATE__LINK_RESYNC:
		return true;
	case WUJI__LINK_STATE__LINK_DOWN:
		return false;
	default: {
		int64_t since = p->last_heard_ms > r->started_ms ? p->last_heard_ms : r->started_ms;
		return r->now_ms - since < (int64_t)r->o.dead_ms;
	}
	}
}

/* A peer restored from an old copy, still getting back what the restore
 * took from it, or whose log we have not read to where it stood when it
 * had: it may hand us back events of our own that we lack too.  We may
 * have been restored along with it from backups that no hello of ours
 * reveals (what we issued since our backup survives only beyond it), and
 * a write now could issue a seq it is about to give back (the gate holds
 * from its hello on, after a restart of ours too: what we know of it is
 * persisted).  A peer that merely restarted says `recovering` too until
 * it has met its peers; that holds up nobody's writes
 * (restored_peer_check).  And the wait is bounded: a restored neighbour
 * that never finishes (stuck, or lying) must not stop this node for
 * good; past RESTORED_GATE_MAX_MS the operator is told. */
static bool peer_may_hand_back(const wj_repl_t *r, const peer_t *p)
{
	return gate_wanted(p) && !restored_gate_over(p, r->now_ms);
}

bool wj_repl_recovering(const wj_repl_t *r)
{
	for (size_t i = 0; i < r->n_peers; i++)
		if (resync_blocks(r, &r->peers[i]) || peer_may_hand_back(r, &r->peers[i]))
			return true;
	return false;
}

bool wj_repl_is_peer(const wj_repl_t *r, uint64_t peer)
{
	return find_peer((wj_repl_t *)r, peer) != NULL;
}

/* Events routed to p and not yet acknowledged, counted from the log (at
 * most BACKLOG_SCAN_MAX entries) and kept for a second. */
static uint64_t backlog_of(wj_repl_t *r, wj_txn_t *t, peer_t *p, int64_t now_ms)
{
	if (now_ms - p->backlog_ms < 1000 && p->backlog_ms != 0)
		return p->backlog;
	/* Counting holds nothing: routing decides in its own scratch arena,
	 * emptied after each entry, and the oldest event's time is peeked. */
	struct collect c = {.r = r, .t = t, .p = p, .count_only = true};
	wj_store_changelog_scan(t, p->snapshot ? 0 : p->acked, collect_entry, &c, NULL);
	p->backlog = c.count;
	p->backlog_oldest_at = c.oldest_at;
	p->backlog_ms = now_ms;
	return c.count;
}

/* What an operator should look at on this link, "" when nothing. */
static char *peer_warning(const peer_t *p, int64_t now_ms, wj_arena_t *a)
{
	if (resync_ignored(p, now_ms))
		return wj_arena_printf(a, "has not acknowledged %u requests over %lld s to "
				       "send back what it holds for this node; its batches "
				       "are held back: upgrade it if it runs an older wuji",
				       p->resync_unanswered,
				       (long long)((now_ms - p->resync_asked_ms) / 1000));
	if (restored_gate_over(p, now_ms))
		return wj_arena_printf(a, "restored from an old copy and not recovered "
				       "%lld minutes after this node learned of it (or "
				       "started): case writes here no longer wait for it",
				       (long long)((now_ms - p->restored_since_ms) / 60000));
	return "";
}

Wuji__PeerList *wj_repl_peers(wj_repl_t *r, int64_t now_ms, wj_arena_t *a)
{
	Wuji__PeerList *l = wj_arena_alloc(a, sizeof(*l));
	wuji__peer_list__init(l);
	l->skew_bound_ms = r->o.skew_warn_ms;
	wj_txn_t *t = read_txn(r);
	if (t)
		refresh_log(r, t);
	for (size_t i = 0; i < r->n_peers; i++) {
		peer_t *p = &r->peers[i];
		Wuji__PeerInfo *pi = wj_arena_alloc(a, sizeof(*pi));
		wuji__peer_info__init(pi);
		pi->node = p->code;
		pi->is_parent = p->is_parent;
		pi->state = p->state;
		pi->acked = p->acked;
		pi->log_end = r->log_end;
		pi->backlog = t ? backlog_of(r, t, p, now_ms) : 0;
		/* Lag: how long the oldest event the peer still lacks has
		 * existed (by its origin's clock). */
		pi->lag_s = pi->backlog && p->backlog_oldest_at
				    ? (double)now_ms / 1000.0 - (double)p->backlog_oldest_at : 0.0;
		if (pi->lag_s < 0)
			pi->lag_s = 0;
		pi->last_contact = p->last_heard_ms / 1000;
		pi->skew_ms = p->skew_known ? p->skew_ms : 0;
		pi->received = p->recv_pos;
		pi->resyncs = p->resyncs;
		pi->warning = peer_warning(p, now_ms, a);
		Wuji__PeerInfo **slot = wj_arena_push(a, &l->peers, &l->n_peers, sizeof(*slot));
		*slot = pi;
	}
	if (t)
		wj_txn_abort(t);
	return l;
}

/* This node's warning for the tree report, so that an operator at the
 * top sees which node below needs attention: its store nearly full (it
 * will soon take no more writes), else its first link warning, naming
 * the link. */
static char *own_warning(wj_repl_t *r, int64_t now_ms, wj_arena_t *a)
{
	uint64_t used, size;
	char fill[256];
	wj_store_map_usage(r->store, &used, &size);
	if (wj_store_fill_warning(used, size, fill, sizeof(fill)))
		return wj_arena_strndup(a, fill, TREE_WARNING_MAX);
	for (size_t i = 0; i < r->n_peers; i++) {
		const peer_t *p = &r->peers[i];
		const char *w = peer_warning(p, now_ms, a);
		if (w[0])
			return wj_arena_printf(a, "%s %012" PRIu64 " %.*s",
					       p->is_parent ? "parent" : "child", p->code,
					       TREE_WARNING_MAX - 21, w);
	}
	return "";
}

/* A warning from below, as a child reported it: kept within bounds,
 * each and all of a report's together (`budget` bytes left). */
static char *bounded_warning(const char *w, size_t *budget, wj_arena_t *a)
{
	if (w == NULL || w[0] == '\0' || *budget < TREE_WARNING_MAX)
		return "";
	char *b = wj_arena_strndup(a, w, TREE_WARNING_MAX);
	*budget -= strlen(b);
	return b;
}

static Wuji__TreeNode *tree_add(Wuji__TreeReport *rep, wj_arena_t *a)
{
	if (rep->n_nodes >= TREE_NODES_MAX)
		return NULL;
	Wuji__TreeNode *n = wj_arena_alloc(a, sizeof(*n));
	wuji__tree_node__init(n);
	Wuji__TreeNode **slot = wj_arena_push(a, &rep->nodes, &rep->n_nodes, sizeof(*slot));
	*slot = n;
	return n;
}

Wuji__TreeReport *wj_repl_tree(wj_repl_t *r, uint64_t self, int64_t now_ms, wj_arena_t *a)
{
	Wuji__TreeReport *rep = wj_arena_alloc(a, sizeof(*rep));
	wuji__tree_report__init(rep);
	Wuji__TreeNode *me = tree_add(rep, a);
	me->node = self;
	me->parent = wj_division_parent(self);
	me->reported_at = now_ms / 1000;
	me->state = WUJI__LINK_STATE__LINK_NONE;
	if (r == NULL)
		return rep;
	me->warning = own_warning(r, now_ms, a);
	size_t budget = TREE_WARNINGS_MAX - strlen(me->warning);
	wj_txn_t *t = read_txn(r);
	if (t) {
		wj_store_counts_t counts;
		if (wj_store_counts(t, &counts) == 0)
			me->cases = counts.cases;
		refresh_log(r, t);
	}
	for (size_t i = 0; i < r->n_peers; i++) {
		peer_t *p = &r->peers[i];
		if (p->is_parent) {
			me->state = p->state;
			me->backlog = t ? backlog_of(r, t, p, now_ms) : 0;
			me->last_contact = p->last_heard_ms / 1000;
			continue;
		}
		/* The child as this node sees the link, then whatever the
		 * child last reported of its own subtree. */
		Wuji__TreeNode *c = tree_add(rep, a);
		if (c == NULL)
			break;
		c->node = p->code;
		c->parent = self;
		c->state = p->state;
		c->backlog = t ? backlog_of(r, t, p, now_ms) : 0;
		c->last_contact = p->last_heard_ms / 1000;
		Wuji__TreeReport *sub = p->report
			? wuji__tree_report__unpack(&a->pb, p->report_len, p->report) : NULL;
		for (size_t k = 0; sub && k < sub->n_nodes; k++) {
			Wuji__TreeNode *n = sub->nodes[k];
			if (n->node == p->code) {
				c->cases = n->cases;
				c->reported_at = n->reported_at;
				c->warning = bounded_warning(n->warning, &budget, a);
				continue;
			}
			if (!wj_division_inside(n->node, p->code))
				continue; /* a child reports only its own subtree */
			Wuji__TreeNode *d = tree_add(rep, a);
			if (d == NULL)
				break;
			*d = *n;
			d->warning = bounded_warning(n->warning, &budget, a);
		}
	}
	if (t)
		wj_txn_abort(t);
	return rep;
}
