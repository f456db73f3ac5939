/* Links to other nodes: the ZeroMQ adapter around the replication engine.
 *
 * A node binds one ROUTER for its children and connects one DEALER to its
 * parent, both CURVE-encrypted.  A ZAP handler admits a child only with a
 * public key listed in the children file, and names the connection with
 * that child's code; a message whose sender claims another code is
 * dropped.  Bytes go to wj_repl_receive(); what the engine returns is sent
 * out; its timer becomes a libuv timer. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "core/err.h"
#include "repl.h"
#include "service.h"

typedef struct wj_links wj_links_t;

typedef struct wj_links_opts {
	uint64_t self;
	const char *listen;          /* "" = no children */
	const char *parent;          /* "" = top of the tree */
	uint64_t parent_id;
	const char *parent_key;      /* parent's public key, Z85 */
	const wj_keypair_t *keys;    /* this node's keys */
	const wj_child_t *children;
	size_t n_children;
} wj_links_opts_t;

int wj_links_start(uv_loop_t *loop, wj_repl_t *repl, const wj_links_opts_t *o,
		   wj_links_t **out, wj_err_t *err);
/* Runs the engine now: after a control batch wrote events, so that they
 * leave at once instead of at the next timer. */
void wj_links_kick(wj_links_t *l);
/* Called after messages from other nodes were handled (they may have
 * stored events): the daemon answers held watches with it. */
void wj_links_on_receive(wj_links_t *l, void (*cb)(void *data), void *data);
/* Closes the sockets; memory is freed once the loop closed the handles. */
void wj_links_stop(wj_links_t *l);
