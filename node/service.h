/* The node's request handling: control requests in, replies out, against
 * the store.  No sockets and no clock: the caller passes the time, so the
 * daemon, the unit tests and the fuzzer drive the same code.
 *
 * Group commit: wj_service_batch() handles many requests in one LMDB write
 * transaction and one fsync.  Each request runs in a nested transaction,
 * so one that fails (map full, refused) leaves the others intact; replies
 * are produced only after the commit, so a client never hears "done" for
 * something that is not on disk. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "proto/wuji.pb-c.h"

#define WJ_REQUEST_MAX (16u << 20)  /* bytes; larger requests are refused */
/* What a message may take once decoded: 16 times its bytes and 64 KiB
 * (a real one takes 4-14 times its size; each empty element of a
 * repeated field, two bytes on the wire, is a struct of tens of bytes
 * or more).  A control request at most 128 MiB (a big request is big
 * for its strings, which decode to about their size), and the requests
 * of one batch 256 MiB together, so that no one request uses up a
 * batch's.  Past it the message is refused as too big, not decoded into
 * all of memory.  (A peer's batch is bounded by its bytes alone: a big
 * one is a catch-up, refusing it would stop the link.) */
#define WJ_DECODE_REQUEST_MAX (128u << 20)
#define WJ_DECODE_BATCH_MAX (256u << 20)
static inline size_t wj_decode_budget(size_t len)
{
	return len * 16 + (64u << 10);
}
/* Bytes an event applied from outside a case request may pack to: one
 * from another node, or a catalog or calendar event loaded here (case
 * events made here are bounded by request validation).  The largest real
 * one (a catalog item or a submission with 64 materials and 16 tasks at
 * the longest names) stays under 48 KiB.  Fields this version does not
 * know are kept and passed on, so that a newer node's events cross older
 * ones whole; this bounds what a peer can make every ancestor store. */
#define WJ_EVENT_BYTES_MAX (128u << 10)
/* Beyond this no node issues a seq (nor a day's case serial past
 * WJ_STORE_SERIAL_MAX): a peer's claim past them is a bug or malice,
 * never believed. */
#define WJ_SEQ_PLAUSIBLE_MAX (UINT64_C(1) << 48)
/* The latest hybrid clock an event may carry: 2100-01-01 in ms.  The
 * clock has room to 2^48 ms; one received is merged into every node's
 * own, so a peer's timestamp near that end would leave every clock
 * stuck there (ordering the events of a case by origin alone). */
#define WJ_HLC_MS_MAX UINT64_C(4102444800000)
/* Events a case folds: its first this many in (hlc, origin, seq) order,
 * every step and every step without effect.  A real case has tens.  The
 * rest are kept and passed on like any event, without effect: the rule
 * depends on the events alone, so every node that holds them all folds
 * the same case, and a case's record, and what an event out of order
 * reads back, stay bounded whatever a peer sends.  The node that holds
 * the case refuses its steps past the bound. */
#define WJ_CASE_EVENTS_MAX 1000

typedef struct wj_service wj_service_t;

typedef struct wj_service_opts {
	uint64_t node;
	const char *data_dir;
	uint64_t map_size;        /* bytes, 0 = default */
	uint32_t yellow_days;
	bool standalone;
} wj_service_opts_t;

int wj_service_open(const wj_service_opts_t *o, wj_service_t **out,
		    wj_err_t *err);
void wj_service_close(wj_service_t *s);
/* Records when the daemon started, for status replies. */
void wj_service_set_started(wj_service_t *s, int64_t unix_seconds);

typedef struct wj_service_req {
	const uint8_t *data;   /* packed wuji.Request (in) */
	size_t len;
	uint8_t *reply;        /* packed wuji.Reply (out, in the arena) */
	size_t reply_len;
	/* A watch with nothing new may be held: the caller keeps the
	 * request and hands it over again (with the same hold_until_ms)
	 * when something was stored or the time has come.  In: 0 the first
	 * time; may_hold false forces an answer.  Out: reply is NULL while
	 * held, and hold_until_ms says until when. */
	bool may_hold;
	int64_t hold_until_ms;
} wj_service_req_t;

/* Handles n requests at time now_ms (Unix milliseconds: the HLC needs
 * them) in one transaction.
 * Produces a reply for each, even for garbage input, except for watches
 * it holds.  Returns 0, or a negative code when the commit failed (every
 * write was then answered with that error). */
int wj_service_batch(wj_service_t *s, wj_service_req_t *reqs, size_t n,
		     int64_t now_ms, wj_arena_t *a);
/* Changes whenever anything was stored, by requests or by replication (a
 * batch of reads stores nothing, and leaves nothing new to replicate). */
uint64_t wj_service_last_commit(wj_service_t *s);

/* ------------------------------------------------------------------
 * For the replication engine (repl.c), which runs on the same store.
 */
struct wj_store;
struct wj_txn;
struct wj_repl;

struct wj_store *wj_service_store(wj_service_t *s);
uint64_t wj_service_node(const wj_service_t *s);
/* Lets status, peers and tree requests read the replication state. */
void wj_service_set_repl(wj_service_t *s, struct wj_repl *r);

/* Stores and applies one event that came from peer `from` (0 for an
 * event made here), in transaction t:
 *   - an event whose id is stored already is ignored (*fresh = false):
 *     every event is applied at most once, forever;
 *   - a case event is folded into its case; if it sorts before the last
 *     event the case has seen, the case is folded again from all of its
 *     events in (hlc, origin, seq) order, so that every node reaches the
 *     same state whatever order events arrive in; an event that does
 *     not fit the case at its place in that order (a racing step at
 *     another node came first) is in the history marked no_effect
 *     (wj_case_fold);
 *   - a catalog or calendar event replaces the stored entry when it is
 *     newer.
 * WJ_EINVAL for an event that is malformed (nothing is written then). */
int wj_service_apply_event(wj_service_t *s, struct wj_txn *t,
			   const Wuji__Event *ev, uint64_t from, int64_t now_ms,
			   wj_arena_t *a, bool *fresh, wj_err_t *err);
/* The same for an event that came packed from a peer: `packed` (what the
 * peer sent for it, which decodes to ev) is stored as it is, saving a
 * second encoding on every hop. */
int wj_service_apply_packed(wj_service_t *s, struct wj_txn *t,
			    const Wuji__Event *ev, const uint8_t *packed,
			    size_t packed_len, uint64_t from, int64_t now_ms,
			    wj_arena_t *a, bool *fresh, wj_err_t *err);
/* Every write transaction ends with this before its commit: saves the
 * hybrid clock in t (so that a restarted node never stamps an event lower
 * than one it has seen), and logs a warning, once a run, when the store
 * has passed WJ_STORE_FULL_WARN_PCT of its map. */
int wj_service_before_commit(wj_service_t *s, struct wj_txn *t, wj_err_t *err);
/* Re-reads the calendar after a transaction that changed it committed. */
void wj_service_calendar_changed(wj_service_t *s);
