/* The deterministic simulator's shared state: the tree of nodes, the
 * simulated network and clock, the client workload and the checks.
 *
 * One process, no sockets, no real clock: every node is a real
 * wj_service + wj_repl over its own LMDB store, and the simulator moves
 * the bytes between them with latency, loss, duplication, reordering,
 * partitions and crash-restarts, all drawn from one seeded generator, so
 * the same seed replays the same run. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "proto/wuji.pb-c.h"
#include "repl.h"
#include "service.h"

#define SIM_LEVELS 5
#define SIM_KNOWN_MAX (5 * 17)

/* ------------------------------------------------------------ options */

typedef struct sim_opts {
	uint64_t seed;
	int shape[SIM_LEVELS];   /* fan-out per level; shape[0] is 1 */
	uint32_t cases;          /* cases the client submits */
	double loss, dup, reorder;
	double crash_rate;       /* crashes per simulated second, whole tree */
	double partition_rate;   /* link cuts per simulated second */
	double snap_crash;       /* chance to crash a node receiving a snapshot batch */
	double restore_rate;     /* share of restarts from an older backup */
	double restore_pairs;    /* neighbours restored together, per second */
	double ping_delay;       /* chance to hold a ping back 1-6 s */
	int64_t skew_ms;         /* each node's clock is off by up to this */
	uint32_t batch_events, window_batches;
	uint64_t log_keep;
	bool late_calendar;      /* load the calendar after the cases began */
	bool conflicts;          /* let the client issue racing commands */
	bool quick;              /* at most 100 cases */
	bool keep;               /* keep the data directory */
	bool twice;              /* run each seed twice: the traces must match */
	int verbose;
	double max_real_s;       /* give up (and fail) after this much real time */
	const char *catalog_path, *calendar_path;
	uint64_t trace_a, trace_b; /* --trace-link */
	uint64_t dump_origin;      /* --dump-origin */
	const char *dump_case;   /* print this case at every node at the end */
	const char *sabotage;    /* self-test: break a store, the checks must fail */
} sim_opts_t;

/* ----------------------------------------------------------- the tree */

typedef struct sim_node {
	uint64_t code;
	int level;                /* 1 province .. 5 village */
	int parent;               /* index, -1 at the top */
	int *children;
	size_t n_children;
	uint64_t *child_codes;
	char dir[160];
	wj_service_t *svc;        /* NULL while down */
	wj_repl_t *repl;
	bool up;
	uint32_t incarnation;     /* bumped by every crash */
	int64_t tick_at;          /* scheduled repl tick, 0 = none */
	uint64_t tick_gen;
	int64_t cut_until;        /* the link to the parent is cut until then */
	int64_t skew_ms;          /* this node's clock minus true time */
	uint64_t crashes;
	uint64_t received;        /* messages delivered to it */
	/* --restore-rate: a backup of the store, and the spans of time
	 * whose local writes a restore from it may have undone. */
	bool has_backup;
	int64_t backup_at;
	int64_t (*lost_spans)[2];
	size_t n_lost_spans;
	bool syncing;             /* restored: no client writes until all links are up */
} sim_node_t;

/* ------------------------------------------------------ the event queue */

enum qkind { Q_DELIVER, Q_TICK, Q_RESTART, Q_CLIENT, Q_FAULT, Q_RESTORE_GROUP };

typedef struct qitem {
	int64_t at;
	uint64_t order;           /* insertion order: FIFO among equal times */
	int kind;
	int node, from;
	int third;                /* Q_RESTORE_GROUP: a third node, or -1 */
	uint32_t inc_to, inc_from;
	uint64_t gen;
	uint8_t *data;
	size_t len;
} qitem_t;

/* ------------------------------------------------------- the workload */

enum cstage { C_OPEN, C_DONE };

typedef struct sim_ack {
	uint64_t origin, seq;
	int type;                 /* Wuji__EventType */
	int64_t at_ms;
} sim_ack_t;

typedef struct sim_case {
	char number[48];
	char item[64];
	int origin;               /* node index */
	uint64_t parts[17];
	size_t n_parts;
	uint64_t known[SIM_KNOWN_MAX];
	size_t n_known;
	size_t n_tasks;
	uint64_t task_node[16];
	int missing;              /* material index left out at submission, -1 */
	bool corrected, paused_once, extended, contested;
	bool maybe_lost;          /* not at its origin after a restore: stop */
	int stage;
	int64_t next_at;
	sim_ack_t *acks;
	size_t n_acks, cap_acks;
} sim_case_t;

typedef struct sim_stats {
	uint64_t msgs, delivered, lost, dups, reordered, cut_drops, crash_drops;
	uint64_t crashes, partitions, ticks, resyncs, restores;
	uint64_t group_restores;  /* --restore-pairs: groups restored together */
	uint64_t pings_held;      /* --ping-delay */
	uint64_t aheads;          /* Ahead messages sent (relays' early hand-up) */
	uint64_t submits, commands, refused, events_acked;
	uint64_t superseded;      /* acknowledged steps without effect, at their origin */
} sim_stats_t;

/* ---------------------------------------------------------- the run */

typedef struct sim {
	const sim_opts_t *o;
	uint64_t rng[4];
	int64_t t0, now;          /* true simulated time, Unix ms */
	sim_node_t *nodes;
	size_t n_nodes;
	int *by_code;             /* open addressing: code -> index */
	size_t by_code_cap;
	char root_dir[128];

	qitem_t *heap;
	size_t n_heap, cap_heap;
	uint64_t order;

	bool faults;              /* the faulty phase is on */
	bool client_on;
	int64_t fault_end, client_end, submit_start, submit_every;
	uint32_t submitted, submit_tries;
	bool catalog_loaded, calendar_loaded;
	int64_t calendar_at;      /* when the province acknowledged the load */

	sim_case_t *cases;
	size_t n_cases, cap_cases;

	Wuji__Catalog *catalog;
	Wuji__Calendar *calendar;
	wj_arena_t file_arena;    /* catalog and calendar, for the whole run */
	wj_arena_t out_arena;     /* repl output of one step */
	wj_arena_t req_arena;     /* one client request */
	uint64_t req_id;

	sim_stats_t st;
	uint64_t trace;           /* hash of every delivery */
	char failure[1024];       /* first failure, "" while all is well */
	int n_failures;
	bool self_test;           /* --sabotage: failures are expected */
} sim_t;

/* sim.c */
uint64_t sim_rand(sim_t *S);
uint64_t sim_below(sim_t *S, uint64_t n);
bool sim_chance(sim_t *S, double p);
int sim_index(const sim_t *S, uint64_t code);
int64_t sim_node_now(const sim_t *S, int i);
/* Runs the requests at node i (one wj_service_batch), then ticks its
 * replication so new events leave.  Returns the decoded replies (in
 * S->req_arena) or NULL when the node is down. */
Wuji__Reply *sim_request(sim_t *S, int i, Wuji__Request *req);
void sim_fail(sim_t *S, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_note(sim_t *S, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True when a write acknowledged at node i at time at_ms may have been
 * undone by a restore of i from an older backup. */
bool sim_maybe_undone(const sim_t *S, int i, int64_t at_ms);

/* simlog.c: the node whose code runs now, for its log lines */
void sim_log_context(const sim_t *S, int node);

/* workload.c */
int sim_load_files(sim_t *S);
void sim_client_step(sim_t *S);
bool sim_client_idle(const sim_t *S);
void sim_case_add_ack(sim_case_t *c, uint64_t origin, uint64_t seq, int type,
		      int64_t at_ms);

/* check.c */
int sim_check(sim_t *S);
void sim_dump_case(sim_t *S, const char *number);
void sim_dump_origin(sim_t *S, uint64_t origin);
void sim_sabotage(sim_t *S, const char *how, void (*wipe)(sim_t *, int));
