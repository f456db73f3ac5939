/* A client of a node's control API (ZeroMQ DEALER to the node's ROUTER).
 * Each request is one frame holding a packed wuji.Request; each reply one
 * frame holding a packed wuji.Reply with the same id.  Used by node-ctl and
 * wuji-bench; the bench keeps many requests in flight on one client. */
#pragma once

#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "proto/wuji.pb-c.h"

typedef struct wj_client wj_client_t;

/* Connects to endpoint (ipc://PATH or tcp://HOST:PORT).  Connection is
 * lazy in ZeroMQ; a node that is not there shows as WJ_EIO on the first
 * call, within timeout_ms. */
int wj_client_open(const char *endpoint, int timeout_ms, wj_client_t **out,
		   wj_err_t *err);
void wj_client_close(wj_client_t *c);

/* Sends req (req->id is set by the client) and waits for its reply,
 * decoded into arena a.  WJ_EIO: the node did not answer within the
 * timeout (unreachable).  A reply with code != OK is still returned as 0:
 * the caller reads reply->code. */
int wj_client_call(wj_client_t *c, Wuji__Request *req, wj_arena_t *a,
		   Wuji__Reply **reply, wj_err_t *err);

/* Pipelining for the benchmark: send without waiting, then receive replies
 * as they come (any order).  recv waits at most timeout_ms (-1 forever). */
int wj_client_send(wj_client_t *c, Wuji__Request *req, wj_err_t *err);
int wj_client_recv(wj_client_t *c, int timeout_ms, wj_arena_t *a,
		   Wuji__Reply **reply, wj_err_t *err);
