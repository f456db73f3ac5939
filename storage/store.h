/* wuji's store: one LMDB environment per node.
 *
 * Named databases (keys big-endian where numeric, so LMDB order is numeric
 * order):
 *   meta       named values: schema version, node id, last local seq,
 *              store epoch, change-log position, hybrid clock; and, after
 *              a kind byte below any letter:
 *                0x01 date(4) -> last case serial of that day
 *                0x02 peer(8) slot(8) -> value: replication positions
 *   cases      case number -> Case
 *   events     origin(8) seq(8) -> Event; append-only, an id is stored once
 *   changelog  local seq(8) -> origin(8) seq(8) from(8): the order events
 *              were applied here and the peer each came from;
 *              replication ships from it
 *   index      every index of cases and events, after a kind byte:
 *                1 status(1) number -> ""
 *                2 item code NUL number -> ""
 *                3 promised due(4) number -> "" (accepted cases only: the
 *                  clock runs)
 *                4 number NUL hlc(8) origin(8) seq(8) -> "": a case's
 *                  events
 *   catalog    item code -> CatalogItem
 *   calendar   year(4) -> CalendarYear
 *
 * Few databases, because a commit costs more the more B-trees it dirties:
 * storing one event touches meta, cases, events, changelog and index.
 *
 * Everything a request changes goes into one write transaction, and the
 * caller groups many requests into one transaction (group commit): the
 * commit's fsync makes them all durable at once, and no reply leaves before
 * it.  LMDB errors are translated to WJ_E* in one place (store.c).
 *
 * Decoded messages are allocated in the caller's arena and stay valid until
 * it is reset; they never point into LMDB's map. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/date.h"
#include "core/err.h"
#include "proto/wuji.pb-c.h"

/* 2: the indexes share one database, serials and cursors live in meta. */
#define WJ_SCHEMA_VERSION 2

typedef struct wj_store wj_store_t;
typedef struct wj_txn wj_txn_t;

typedef struct wj_store_opts {
	uint64_t node;        /* this node's code; a store of another node is refused */
	uint64_t map_size;    /* bytes; 0 = 1 GiB */
	bool read_only;       /* open without creating (tools, verify) */
} wj_store_opts_t;

/* Opens (creating when needed) the store in dir.  Refuses, with a message
 * saying what to do: a store written by another schema (a newer one, or an
 * older one: stores are not converted), a store of another node, a
 * directory that cannot be created or locked. */
int wj_store_open(const char *dir, const wj_store_opts_t *opts,
		  wj_store_t **out, wj_err_t *err);
void wj_store_close(wj_store_t *s);

int wj_txn_begin(wj_store_t *s, bool write, wj_txn_t **out, wj_err_t *err);
/* Commits (and fsyncs) a write transaction; frees it in every case.
 * WJ_EFULL when the map or the disk is full: nothing of it was written. */
int wj_txn_commit(wj_txn_t *t, wj_err_t *err);
void wj_txn_abort(wj_txn_t *t);
/* A nested transaction inside a write transaction, so one request of a
 * group commit can fail (map full) without losing the others. */
int wj_txn_begin_nested(wj_txn_t *parent, wj_txn_t **out, wj_err_t *err);

typedef struct wj_store_meta {
	uint64_t node;
	uint32_t schema;
	uint64_t last_seq;    /* last local event seq allocated */
	uint64_t epoch;       /* random, chosen when the store is created */
	uint64_t map_size;
	uint64_t map_used;    /* bytes of the map in use */
	uint64_t hlc;         /* highest hybrid clock value saved */
} wj_store_meta_t;

int wj_store_meta(wj_txn_t *t, wj_store_meta_t *out);
/* From this share of its map on, a store is nearly full: the node says
 * so (log, node-ctl status, tree reports) while there is time to raise
 * map_size_mb, since a full store takes no more writes. */
#define WJ_STORE_FULL_WARN_PCT 90
/* Bytes of the map in use and its size, as wj_store_meta gives them,
 * without a transaction (cheap enough for every commit).  In use is a
 * high-water mark (LMDB reuses freed pages but never gives the file's end
 * back), and it is all of the map once a write was refused as too big
 * for it. */
void wj_store_map_usage(wj_store_t *s, uint64_t *used, uint64_t *size);
/* What the operator should do about a store with `used` of `size` bytes
 * of map in use, into buf, when it is nearly full; else false, buf "". */
bool wj_store_fill_warning(uint64_t used, uint64_t size, char *buf, size_t len);
/* Saves the node's hybrid clock when it is higher than the saved one, so
 * that after a restart new events still sort after every event seen
 * before, whatever the wall clock says. */
int wj_store_save_hlc(wj_txn_t *t, uint64_t hlc, wj_err_t *err);
/* Allocates the next local event seq (origin = this node). */
int wj_store_next_seq(wj_txn_t *t, uint64_t *seq, wj_err_t *err);
/* A day's case serial has six digits in a case number (numbers compare
 * as strings). */
#define WJ_STORE_SERIAL_MAX 999999u
/* Allocates the next case serial of a day (starts at 1); WJ_EINVAL once
 * the day's WJ_STORE_SERIAL_MAX are used. */
int wj_store_next_serial(wj_txn_t *t, wj_date_t day, uint32_t *serial,
			 wj_err_t *err);

/* Cases.  get: WJ_ENOTFOUND when absent.  put: `old` is the stored state
 * (NULL for a new case), used to move index entries. */
int wj_store_case_get(wj_txn_t *t, const char *number, wj_arena_t *a,
		      Wuji__Case **out, wj_err_t *err);
int wj_store_case_put(wj_txn_t *t, const Wuji__Case *old,
		      const Wuji__Case *c, wj_err_t *err);

typedef struct wj_case_filter {
	Wuji__CaseStatus status;  /* 0 = any */
	const char *item_code;    /* NULL = any */
	const char *after;        /* continue after this number; NULL = start */
} wj_case_filter_t;
/* Calls cb for each matching case in case-number order, until it returns
 * non-zero (which is returned).  c lives until cb returns (each case is
 * decoded in the scan's own scratch, so a scan of a whole store costs one
 * case of memory): a caller that keeps it copies it (wj_arena_dup_msg). */
typedef int (*wj_case_visit_cb)(Wuji__Case *c, void *ctx);
int wj_store_case_scan(wj_txn_t *t, const wj_case_filter_t *f, wj_case_visit_cb cb,
		       void *ctx, wj_err_t *err);
/* Accepted cases whose promised due date is <= up_to, earliest first. */
int wj_store_due_scan(wj_txn_t *t, wj_date_t up_to, wj_case_visit_cb cb, void *ctx,
		      wj_err_t *err);
/* The same from just after `after` (NULL or "": from the start), as the
 * next page of a list in due order: DUE/NUMBER (YYYYMMDD/case number,
 * where the page ended, as the list says), or a case number, placed at
 * its due date now, looked up in `a` (WJ_EBADREQ when it is no longer in
 * the due index). */
int wj_store_due_scan_after(wj_txn_t *t, wj_date_t up_to, const char *after, wj_arena_t *a,
			    wj_case_visit_cb cb, void *ctx, wj_err_t *err);
/* Number of cases in a status (from the status index). */
int wj_store_count_status(wj_txn_t *t, Wuji__CaseStatus s, uint64_t *n);

/* Events.  put stores ev under (origin, seq), appends it to the change
 * log with `from` (the peer it came from, 0 when made here: replication
 * never sends an event back where it came from), and, for case events,
 * indexes it under its case in (hlc, origin, seq) order.  *local (may be
 * NULL) gets the change-log position.  WJ_EEXIST when that id is stored
 * already: nothing is written. */
int wj_store_event_put(wj_txn_t *t, const Wuji__Event *ev, uint64_t from,
		       uint64_t *local, wj_err_t *err);
/* The same, storing `packed` (ev as packed by its origin or a peer: it
 * must decode to ev) without packing it again. */
int wj_store_event_put_packed(wj_txn_t *t, const Wuji__Event *ev,
			      const uint8_t *packed, size_t len, uint64_t from,
			      uint64_t *local, wj_err_t *err);
bool wj_store_event_exists(wj_txn_t *t, uint64_t origin, uint64_t seq);
/* The event's stored bytes (a packed wuji.Event), without decoding them:
 * they point into the store's map and are valid until t ends. */
int wj_store_event_raw(wj_txn_t *t, uint64_t origin, uint64_t seq,
		       const uint8_t **data, size_t *len, wj_err_t *err);
int wj_store_event_get(wj_txn_t *t, uint64_t origin, uint64_t seq,
		       wj_arena_t *a, Wuji__Event **out, wj_err_t *err);
/* Change-log entries with position > after, in order, until cb returns
 * non-zero (which is returned). */
typedef int (*wj_changelog_cb)(uint64_t local, uint64_t origin, uint64_t seq,
			       uint64_t from, void *ctx);
int wj_store_changelog_scan(wj_txn_t *t, uint64_t after, wj_changelog_cb cb,
			    void *ctx, wj_err_t *err);
/* Logs a stored event again, at a new position: an event that arrived
 * before its case's submission could not be routed then, and is routed
 * when the submission arrives. */
int wj_store_changelog_append(wj_txn_t *t, uint64_t origin, uint64_t seq,
			      uint64_t from, uint64_t *local, wj_err_t *err);
/* The events of one case in (hlc, origin, seq) order, including events
 * stored before the case's submission arrived. */
typedef int (*wj_event_visit_cb)(Wuji__Event *ev, void *ctx);
int wj_store_case_events(wj_txn_t *t, const char *number, wj_arena_t *a,
			 wj_event_visit_cb cb, void *ctx, wj_err_t *err);
/* The same, but only the first `decode_max` events are read and decoded
 * (cb); of the rest, id_cb gets the ids the index holds, nothing read.
 * A case with very many events then costs no more memory than that. */
typedef int (*wj_event_id_cb)(uint64_t hlc, uint64_t origin, uint64_t seq, void *ctx);
int wj_store_case_events_first(wj_txn_t *t, const char *number, size_t decode_max,
			       wj_arena_t *a, wj_event_visit_cb cb, wj_event_id_cb id_cb,
			       void *ctx, wj_err_t *err);
/* How many events of the case are stored, counted up to `limit` and
 * without reading them: whether a submission is a case's first event,
 * and whether a case has as many as it folds (WJ_CASE_EVENTS_MAX). */
int wj_store_case_event_count(wj_txn_t *t, const char *number, size_t limit,
			      size_t *n, wj_err_t *err);
/* Highest seq of the events originated by `origin` stored here; 0 when
 * none. */
int wj_store_origin_max_seq(wj_txn_t *t, uint64_t origin, uint64_t *seq);
/* The lowest seq above `after` of the events of `origin` stored here; 0
 * when none.  An origin's seqs need not be contiguous: a node restored
 * from a backup skips a range of them. */
int wj_store_origin_next_seq(wj_txn_t *t, uint64_t origin, uint64_t after, uint64_t *seq);

/* Restore from a backup.  A node restored from an old copy of its store
 * learns from its peers what it had issued before; it must never issue
 * those event seqs or case numbers again. */
int wj_store_raise_seq(wj_txn_t *t, uint64_t at_least, wj_err_t *err);
int wj_store_raise_serial(wj_txn_t *t, wj_date_t day, uint32_t at_least,
			  wj_err_t *err);
/* The last case serial allocated on a day (0 if none). */
int wj_store_serial(wj_txn_t *t, wj_date_t day, uint32_t *last, wj_err_t *err);
/* The largest case number starting with prefix, into buf ("" if none). */
int wj_store_last_case_with_prefix(wj_txn_t *t, const char *prefix,
				   char *buf, size_t size);
/* Chooses a new random epoch: peers then resend this node's log from the
 * start instead of trusting positions from before the restore. */
int wj_store_new_epoch(wj_txn_t *t, uint64_t *epoch, wj_err_t *err);

/* Replication cursors: small values per (peer, slot), written in the
 * same transaction as the data they describe.  Absent = 0. */
#define WJ_CURSOR_RECV_EPOCH 1   /* epoch of the peer's log we follow */
#define WJ_CURSOR_RECV_POS 2     /* peer's log applied up to here */
#define WJ_CURSOR_ACKED 3        /* our log the peer acknowledged */
#define WJ_CURSOR_ACKED_EPOCH 4  /* our epoch that ACKED refers to */
int wj_store_cursor_get(wj_txn_t *t, uint64_t peer, uint64_t slot,
			uint64_t *value);
int wj_store_cursor_put(wj_txn_t *t, uint64_t peer, uint64_t slot,
			uint64_t value, wj_err_t *err);

/* Change-log bounds.  Positions only grow, trimmed or not: *first is the
 * oldest position still held (0 when the log is empty), *last the newest
 * ever written, *trimmed the highest position removed (0 = none). */
int wj_store_changelog_bounds(wj_txn_t *t, uint64_t *first, uint64_t *last,
			      uint64_t *trimmed);
/* Removes entries with position <= upto (events themselves stay),
 * oldest first, at most max per call, so that one transaction's dirty
 * pages stay as few as the caller wants: *removed (may be NULL) gets how
 * many went; while it is max, call again in a new transaction. */
int wj_store_changelog_trim(wj_txn_t *t, uint64_t upto, uint64_t max,
			    uint64_t *removed, wj_err_t *err);

/* Catalog and calendar. */
int wj_store_catalog_put(wj_txn_t *t, const Wuji__CatalogItem *item,
			 wj_err_t *err);
int wj_store_catalog_get(wj_txn_t *t, const char *code, wj_arena_t *a,
			 Wuji__CatalogItem **out, wj_err_t *err);
typedef int (*wj_item_visit_cb)(Wuji__CatalogItem *item, void *ctx);
int wj_store_catalog_scan(wj_txn_t *t, wj_arena_t *a, wj_item_visit_cb cb,
			  void *ctx, wj_err_t *err);
int wj_store_calendar_put(wj_txn_t *t, const Wuji__CalendarYear *y,
			  wj_err_t *err);
typedef int (*wj_year_visit_cb)(Wuji__CalendarYear *y, void *ctx);
int wj_store_calendar_scan(wj_txn_t *t, wj_arena_t *a, wj_year_visit_cb cb,
			   void *ctx, wj_err_t *err);

/* Drops the store's mapped pages from this process's resident memory
 * (they stay in the kernel's page cache and come back on the next read).
 * A village node calls it now and then to stay within its memory budget
 * on a weak PC.  Safe inside a read transaction (its pages fault back
 * in).  -1 when this process's mapping of the store cannot be found (no
 * /proc): nothing is released, ever. */
int wj_store_release_pages(wj_store_t *s);
/* The id of the last committed write transaction (LMDB's txnid), read
 * without a transaction: it changes when anything was stored. */
uint64_t wj_store_last_commit(wj_store_t *s);

typedef struct wj_store_counts {
	uint64_t cases, events, changelog, catalog, calendar_years;
} wj_store_counts_t;
int wj_store_counts(wj_txn_t *t, wj_store_counts_t *out);

/* Walks the whole store and checks it is consistent: every case decodes,
 * every index entry points at a case in that state and every case has its
 * index entries, every change-log entry names a stored event, every event
 * decodes.  Each problem is passed to cb as a sentence. */
typedef void (*wj_problem_cb)(const char *problem, void *ctx);
int wj_store_verify(wj_txn_t *t, wj_arena_t *a, wj_problem_cb cb, void *ctx,
		    wj_err_t *err);
