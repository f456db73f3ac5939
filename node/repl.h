/* Replication between nodes, with no I/O: messages and time in, messages
 * and a timer deadline out.  The daemon's links (node/links.c) and the
 * simulator (tests/sim) are the adapters that move the bytes.
 *
 * Each link carries two streams, one per direction (see PeerMsg in
 * proto/wuji.proto).  The sending side ships the entries of its change
 * log that routing gives the peer, in batches, at most a window of them
 * unacknowledged; the receiving side applies a batch and records the
 * sender's epoch and position in the same transaction, then acknowledges.
 * Lost, duplicated or reordered messages, crashes and reconnects all end
 * the same way: the sender goes back to the last acknowledged position,
 * and events already applied are recognised by their id and skipped.
 * Memory per peer is constant: events are read from the store when they
 * are sent, never queued in memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "proto/wuji.pb-c.h"
#include "service.h"

typedef struct wj_repl wj_repl_t;

typedef struct wj_repl_opts {
	uint64_t parent;            /* 0 at the top of the tree */
	const uint64_t *children;   /* the nodes allowed to connect below */
	size_t n_children;
	uint32_t batch_events;      /* events per batch; 0 = 512 */
	uint32_t window_batches;    /* unacknowledged batches per peer; 0 = 8 */
	uint32_t hello_ms;          /* resend hello while not up; 0 = 500 */
	uint32_t ping_ms;           /* 0 = 1000 */
	uint32_t dead_ms;           /* silence that marks a link down; 0 = 5000 */
	uint32_t rto_ms;            /* resend when acks stall; 0 = 2000 */
	uint32_t skew_warn_ms;      /* warn when the parent's clock is further off; 0 = 2000 */
	uint32_t tree_ms;           /* report the subtree up; 0 = 2000 */
	uint64_t log_keep;          /* change-log entries kept beyond every
				       peer's acknowledgement; 0 = 1000000 */
} wj_repl_opts_t;

typedef struct wj_repl_msg {
	uint64_t peer;
	uint8_t *data;   /* packed wuji.PeerMsg, in the out arena */
	size_t len;
} wj_repl_msg_t;

/* What a call produced.  Messages and their bytes live in `arena` until
 * the caller resets it; the caller sends them in order.
 *
 * send_now, when the caller sets it, takes the messages that should leave
 * before the call returns: a relay's Ahead, sent while its own commit
 * syncs (see Ahead in proto/wuji.proto), possibly before messages to the
 * same peer already in msgs.  Without it they are queued in msgs like
 * the rest; nothing but latency depends on when or in what order they
 * leave. */
typedef struct wj_repl_out {
	wj_arena_t *arena;
	wj_repl_msg_t *msgs;
	size_t n_msgs;
	int64_t next_tick_ms;  /* call wj_repl_tick() again by then */
	void (*send_now)(void *ctx, const wj_repl_msg_t *m);
	void *send_now_ctx;
} wj_repl_out_t;

void wj_repl_out_init(wj_repl_out_t *out, wj_arena_t *arena);

int wj_repl_new(wj_service_t *svc, const wj_repl_opts_t *o, int64_t now_ms,
		wj_repl_t **out, wj_err_t *err);
void wj_repl_free(wj_repl_t *r);

/* True when peer is this node's parent or one of its children. */
bool wj_repl_is_peer(const wj_repl_t *r, uint64_t peer);

/* A message from peer, which the transport has authenticated as that
 * node.  Malformed messages and events a child may not send are logged
 * and dropped; nothing a peer sends can stop the node. */
void wj_repl_receive(wj_repl_t *r, uint64_t peer, const uint8_t *data,
		     size_t len, int64_t now_ms, wj_repl_out_t *out);

typedef struct wj_repl_in {
	uint64_t peer;
	const uint8_t *data;  /* packed wuji.PeerMsg */
	size_t len;
} wj_repl_in_t;

/* The messages that arrived together, in order.  Consecutive batches
 * continuing their streams are applied in one transaction (one fsync, up
 * to 4096 events), each in a nested one, and each peer is acknowledged
 * once, after the commit; any other message ends that round first.  When
 * the commit fails nothing of the round is acknowledged and the peers
 * send it again.  The transport hands over what it has queued, so under
 * load the cost of a commit is spread over many batches. */
void wj_repl_receive_many(wj_repl_t *r, const wj_repl_in_t *in, size_t n,
			  int64_t now_ms, wj_repl_out_t *out);
/* The transport has (re)connected to peer: say hello now rather than at
 * the next hello timer. */
void wj_repl_link_ready(wj_repl_t *r, uint64_t peer);

/* Timers, and new local events to ship: call after every batch of
 * control requests and whenever next_tick_ms is reached. */
void wj_repl_tick(wj_repl_t *r, int64_t now_ms, wj_repl_out_t *out);

/* True while this node, restored from an older copy of its store, is
 * still getting back from its parent and its connected children what it
 * had, or while a connected peer, restored itself, may still hand back
 * events of this node's: case writes must wait, or they would act on a
 * case as it was before the backup, or issue an event seq that a peer's
 * subtree still holds. */
bool wj_repl_recovering(const wj_repl_t *r);

/* For node-ctl peers and tree; allocated in a. */
Wuji__PeerList *wj_repl_peers(wj_repl_t *r, int64_t now_ms, wj_arena_t *a);
/* This node and everything below it as far as reports have reached it.
 * r may be NULL (a node without links): just this node. */
Wuji__TreeReport *wj_repl_tree(wj_repl_t *r, uint64_t self, int64_t now_ms,
			       wj_arena_t *a);
