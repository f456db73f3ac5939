/* The control API client: one ZeroMQ DEALER per client, connected to a
 * node's ROUTER.  It owns request ids, the wait for a connection, the wait
 * for a reply and the decoding of replies into the caller's arena.
 *
 * Why it is careful about "nobody there": ZeroMQ connects lazily and queues
 * messages for peers that may come later, so a naive client hangs on a node
 * that is not running.  ZMQ_IMMEDIATE keeps messages off pipes that are not
 * connected (so POLLOUT means "a node is there"), a socket monitor reports
 * a refused connection at once instead of after the whole timeout, and an
 * ipc:// path that does not exist fails before anything is sent. */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define ENDPOINT_MAX 1024
/* Replies for earlier (timed-out) requests skipped per call, at most. */
#define STALE_MAX 100000

struct wj_client {
	void *sock;
	void *mon;              /* PAIR receiving the DEALER's monitor events */
	char endpoint[ENDPOINT_MAX];
	const char *ipc_path;   /* points into endpoint; NULL for other transports */
	int timeout_ms;         /* < 0: wait forever */
	uint64_t next_id;
	bool refused;           /* a connection attempt failed since the last success */
};

/* One ZeroMQ context for the process, as ZeroMQ recommends: the bench opens
 * dozens of clients, and a context each would cost two threads each.  It is
 * created with the first client and ended with the last. */
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static void *shared_ctx;
static unsigned ctx_users;
static uint64_t monitor_serial;  /* names each client's monitor endpoint */

static void *ctx_get(void)
{
	void *ctx;

	pthread_mutex_lock(&ctx_lock);
	if (!shared_ctx)
		shared_ctx = zmq_ctx_new();
	if (shared_ctx)
		ctx_users++;
	ctx = shared_ctx;
	pthread_mutex_unlock(&ctx_lock);
	return ctx;
}

static void ctx_put(void)
{
	void *ctx = NULL;

	pthread_mutex_lock(&ctx_lock);
	if (ctx_users && --ctx_users == 0) {
		ctx = shared_ctx;
		shared_ctx = NULL;
	}
	pthread_mutex_unlock(&ctx_lock);
	/* Every socket is closed by now, and LINGER 0 means term does not
	 * wait for unsent messages. */
	if (ctx)
		zmq_ctx_term(ctx);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline, for zmq_poll (-1 = forever). */
static long left_ms(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	return left > 0 ? (long)left : 0;
}

static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static int unreachable(wj_client_t *c, wj_err_t *err, const char *why)
{
	return wj_err_set(err, WJ_EIO,
			  "no node answers at %s%s: is wuji-node running? "
			  "(check the endpoint with -e or the config)",
			  c->endpoint, why);
}

/* Reads pending monitor events and remembers whether the last connection
 * attempt failed.  Events are two frames: (u16 event, u32 value), then the
 * endpoint. */
static void drain_monitor(wj_client_t *c)
{
	for (int i = 0; i < 1000; i++) {
		zmq_msg_t m;
		uint16_t ev;

		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&m);
			return;
		}
		if (zmq_msg_size(&m) >= 2) {
			memcpy(&ev, zmq_msg_data(&m), 2);
			if (ev == ZMQ_EVENT_CONNECTED)
				c->refused = false;
			else if (ev == ZMQ_EVENT_CONNECT_RETRIED)
				c->refused = true;
		}
		while (zmq_msg_more(&m)) {
			zmq_msg_close(&m);
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, c->mon, ZMQ_DONTWAIT) < 0)
				break;
		}
		zmq_msg_close(&m);
	}
}

static bool ipc_missing(const wj_client_t *c)
{
	struct stat st;

	return c->ipc_path && stat(c->ipc_path, &st) != 0 && errno == ENOENT;
}

/* A socket file this user may not write to (or a directory it may not
 * enter): connect(2) fails with EACCES, which ZeroMQ only retries. */
static bool ipc_denied(const wj_client_t *c)
{
	return c->ipc_path && access(c->ipc_path, W_OK) != 0 && errno == EACCES;
}

int wj_client_open(const char *endpoint, int timeout_ms, wj_client_t **out,
		   wj_err_t *err)
{
	wj_client_t *c;
	void *ctx;
	char mon_ep[64];
	int zero = 0, one = 1;

	if (!endpoint || !*endpoint)
		return wj_err_set(err, WJ_EINVAL,
				  "no control endpoint given: pass -e ipc://PATH "
				  "or -e tcp://HOST:PORT");
	if (strlen(endpoint) >= ENDPOINT_MAX)
		return wj_err_set(err, WJ_EINVAL,
				  "the control endpoint is longer than %d bytes: "
				  "use a shorter path", ENDPOINT_MAX - 1);
	if (strncmp(endpoint, "ipc://", 6) != 0 &&
	    strncmp(endpoint, "tcp://", 6) != 0)
		return wj_err_set(err, WJ_EINVAL,
				  "endpoint '%s' is not ipc://PATH or "
				  "tcp://HOST:PORT: fix -e or the control key "
				  "of the config", endpoint);

	c = calloc(1, sizeof(*c));
	if (!c)
		return wj_err_set(err, WJ_EINTERNAL, "out of memory");
	strcpy(c->endpoint, endpoint);
	if (strncmp(c->endpoint, "ipc://", 6) == 0)
		c->ipc_path = c->endpoint + 6;
	c->timeout_ms = timeout_ms;
	/* Ids need only differ within one client's life. */
	c->next_id = 1;

	ctx = ctx_get();
	if (!ctx) {
		free(c);
		return wj_err_set(err, WJ_EIO, "cannot create a ZeroMQ "
				  "context: %s", zmq_strerror(errno));
	}
	c->sock = zmq_socket(ctx, ZMQ_DEALER);
	if (!c->sock)
		goto zfail;
	if (zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof(one)))
		goto zfail;
	snprintf(mon_ep, sizeof(mon_ep), "inproc://wj-client-monitor-%llu",
		 (unsigned long long)__atomic_fetch_add(&monitor_serial, 1,
							__ATOMIC_RELAXED));
	if (zmq_socket_monitor(c->sock, mon_ep,
			       ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED))
		goto zfail;
	c->mon = zmq_socket(ctx, ZMQ_PAIR);
	if (!c->mon ||
	    zmq_setsockopt(c->mon, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_connect(c->mon, mon_ep))
		goto zfail;
	if (zmq_connect(c->sock, endpoint)) {
		wj_err_set(err, WJ_EINVAL,
			   "cannot use endpoint '%s': %s: give ipc://PATH or "
			   "tcp://HOST:PORT", endpoint, zmq_strerror(errno));
		wj_client_close(c);
		return WJ_EINVAL;
	}
	*out = c;
	return 0;
zfail:
	wj_err_set(err, WJ_EIO, "cannot set up a ZeroMQ socket: %s",
		   zmq_strerror(errno));
	wj_client_close(c);
	return WJ_EIO;
}

void wj_client_close(wj_client_t *c)
{
	if (!c)
		return;
	/* Stop the monitor and read what it already wrote: libzmq 4.3.4
	 * leaks the endpoint text of monitor events left unread at close. */
	if (c->sock && c->mon) {
		zmq_socket_monitor(c->sock, NULL, 0);
		drain_monitor(c);
	}
	if (c->sock)
		zmq_close(c->sock);
	if (c->mon)
		zmq_close(c->mon);
	free(c);
	ctx_put();
}

/* Waits until the DEALER has a connected node to send to.  With
 * ZMQ_IMMEDIATE, POLLOUT means exactly that.  The socket file is looked
 * at only when the socket is not ready, so a busy client pays nothing. */
static int wait_writable(wj_client_t *c, int64_t deadline, wj_err_t *err)
{
	for (bool first = true;; first = false) {
		zmq_pollitem_t items[2] = {
			{ .socket = c->sock, .events = ZMQ_POLLOUT },
			{ .socket = c->mon, .events = ZMQ_POLLIN },
		};
		long wait = first ? 0 : left_ms(deadline);
		int rc = zmq_poll(items, 2, wait);

		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return wj_err_set(err, WJ_EIO, "waiting for %s: %s",
					  c->endpoint, zmq_strerror(errno));
		}
		if (items[0].revents & ZMQ_POLLOUT)
			return 0;
		if (first && ipc_missing(c))
			return unreachable(c, err,
					   " (the socket file does not exist)");
		if (first && ipc_denied(c))
			return unreachable(c, err,
					   " (permission denied on the socket file: run "
					   "node-ctl as a member of the node's group, "
					   "wuji under systemd, or as root)");
		if (items[1].revents & ZMQ_POLLIN) {
			drain_monitor(c);
			if (c->refused)
				return unreachable(c, err, " (cannot connect)");
			continue;
		}
		if (!first && (wait == 0 || left_ms(deadline) == 0))
			return unreachable(c, err, "");
	}
}

static int send_req(wj_client_t *c, Wuji__Request *req, int64_t deadline,
		    wj_err_t *err)
{
	zmq_msg_t m;
	size_t len;
	int rc;

	rc = wait_writable(c, deadline, err);
	if (rc)
		return rc;
	req->id = c->next_id++;
	len = wuji__request__get_packed_size(req);
	if (zmq_msg_init_size(&m, len))
		return wj_err_set(err, WJ_EINTERNAL,
				  "cannot allocate a %zu-byte request", len);
	wuji__request__pack(req, zmq_msg_data(&m));
	for (;;) {
		if (zmq_msg_send(&m, c->sock, ZMQ_DONTWAIT) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		rc = errno;
		zmq_msg_close(&m);
		if (rc == EAGAIN)
			return unreachable(c, err, " (the connection closed)");
		return wj_err_set(err, WJ_EIO, "sending to %s: %s",
				  c->endpoint, zmq_strerror(rc));
	}
}

/* Receives one reply (any id).  The reply is the last frame of the
 * message: a node that puts an empty delimiter first is read as well. */
static int recv_reply(wj_client_t *c, int64_t deadline, int timeout_ms,
		      wj_arena_t *a, Wuji__Reply **reply, wj_err_t *err)
{
	zmq_pollitem_t item = { .socket = c->sock, .events = ZMQ_POLLIN };
	zmq_msg_t m;
	int rc;

	for (;;) {
		long wait = left_ms(deadline);

		rc = zmq_poll(&item, 1, wait);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return wj_err_set(err, WJ_EIO, "waiting for %s: %s",
					  c->endpoint, zmq_strerror(errno));
		if (rc > 0)
			break;
		if (wait == 0 || left_ms(deadline) == 0)
			return wj_err_set(err, WJ_EIO,
					  "the node at %s did not answer within "
					  "%d ms: it may be overloaded or stuck "
					  "(retry with a longer -t, or check its "
					  "log)", c->endpoint, timeout_ms);
	}
	zmq_msg_init(&m);
	for (;;) {
		if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0) {
			rc = errno;
			zmq_msg_close(&m);
			return wj_err_set(err, WJ_EIO, "receiving from %s: %s",
					  c->endpoint, zmq_strerror(rc));
		}
		if (!zmq_msg_more(&m))
			break;
		zmq_msg_close(&m);
		zmq_msg_init(&m);
	}
	*reply = wuji__reply__unpack(&a->pb, zmq_msg_size(&m),
				     zmq_msg_data(&m));
	zmq_msg_close(&m);
	if (!*reply)
		return wj_err_set(err, WJ_EBADREQ,
				  "the node at %s sent a reply that is not a "
				  "wuji.Reply: is it a wuji-node of the same "
				  "version?", c->endpoint);
	c->refused = false;
	return 0;
}

int wj_client_call(wj_client_t *c, Wuji__Request *req, wj_arena_t *a,
		   Wuji__Reply **reply, wj_err_t *err)
{
	int64_t deadline = deadline_after(c->timeout_ms);
	int rc;

	rc = send_req(c, req, deadline, err);
	if (rc)
		return rc;
	for (int stale = 0; stale < STALE_MAX; stale++) {
		Wuji__Reply *r;

		rc = recv_reply(c, deadline, c->timeout_ms, a, &r, err);
		if (rc)
			return rc;
		if (r->id == req->id) {
			*reply = r;
			return 0;
		}
		/* An answer to a request that timed out earlier. */
	}
	return wj_err_set(err, WJ_EIO,
			  "the node at %s sent %d replies to other requests: "
			  "giving up", c->endpoint, STALE_MAX);
}

int wj_client_send(wj_client_t *c, Wuji__Request *req, wj_err_t *err)
{
	return send_req(c, req, deadline_after(c->timeout_ms), err);
}

int wj_client_recv(wj_client_t *c, int timeout_ms, wj_arena_t *a,
		   Wuji__Reply **reply, wj_err_t *err)
{
	return recv_reply(c, deadline_after(timeout_ms), timeout_ms, a, reply,
			  err);
}
