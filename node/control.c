/* Control API adapter: ZeroMQ ROUTER socket <-> wj_service_batch().
 *
 * libzmq signals readiness through ZMQ_FD edge-triggered: the fd fires
 * once when the socket becomes readable, and not again while messages
 * remain.  So after each round we read ZMQ_EVENTS and, if requests are
 * still waiting, keep an idle handle running until they are drained.  A
 * round handles at most `rounds_max` batches so signals and other handles
 * are served between rounds. */
#include "control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"

#define ROUNDS_MAX 4
#define HELD_MAX 256   /* watches held at once; more are answered at once */
/* A held watch keeps its request, decoded again at each commit: one far
 * larger than a watch needs (unknown fields) is answered at once. */
#define HELD_BYTES_MAX 1024
#define SNDHWM 100000
#define RCVHWM 100000

struct wj_control {
	uv_poll_t poll;
	uv_idle_t idle;
	int open_handles;
	void *zctx;
	void *sock;
	wj_service_t *svc;
	wj_arena_t arena;
	uint32_t batch_max;
	zmq_msg_t *ids;
	zmq_msg_t *payloads;
	bool *multipart;
	wj_service_req_t *reqs;
	uint64_t batches, requests;
	char ipc_path[1024];   /* socket file to remove at stop, "" for tcp */
	void (*after_batch)(void *data);
	void *after_batch_data;
	/* Watches with nothing to answer yet, until something is stored or
	 * their time is up. */
	struct held {
		zmq_msg_t id, payload;
		int64_t until_ms;   /* mono_ms() */
	} *held;
	size_t n_held;
	uint64_t checked_commit;   /* store commit they were last asked at */
	uv_timer_t timer;
};

void wj_control_on_batch(wj_control_t *c, void (*cb)(void *data), void *data)
{
	c->after_batch = cb;
	c->after_batch_data = data;
}

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

/* Held watches wait by this clock: the wall clock may be stepped (NTP, an
 * operator), and a watch must not wait that much longer or shorter. */
static int64_t mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* Reads one request: an identity frame then one payload frame.  Extra
 * frames are read and dropped, and the request is marked so that it is
 * answered with an error rather than half-understood. */
static int recv_one(wj_control_t *c, size_t i)
{
	zmq_msg_init(&c->ids[i]);
	if (zmq_msg_recv(&c->ids[i], c->sock, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&c->ids[i]);
		return -1;
	}
	zmq_msg_init(&c->payloads[i]);
	c->multipart[i] = false;
	if (!zmq_msg_more(&c->ids[i]))
		return 0; /* identity without a payload: an empty request */
	zmq_msg_recv(&c->payloads[i], c->sock, 0);
	while (zmq_msg_more(&c->payloads[i])) {
		zmq_msg_t extra;
		zmq_msg_init(&extra);
		zmq_msg_recv(&extra, c->sock, 0);
		bool more = zmq_msg_more(&extra);
		zmq_msg_close(&extra);
		c->multipart[i] = true;
		if (!more)
			break;
	}
	return 0;
}

static void send_reply(wj_control_t *c, zmq_msg_t *id, const uint8_t *data, size_t len)
{
	/* A client that went away or stopped reading loses its reply; the
	 * work itself is committed either way. */
	if (zmq_send(c->sock, zmq_msg_data(id), zmq_msg_size(id),
		     ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(c->sock, data, len, ZMQ_DONTWAIT) < 0)
		wj_debug("control: reply dropped: %s", zmq_strerror(errno));
}

static void on_timer(uv_timer_t *h);

/* Wakes up for the held watch whose time runs out first. */
static void arm_timer(wj_control_t *c)
{
	if (c->n_held == 0) {
		uv_timer_stop(&c->timer);
		return;
	}
	int64_t first = c->held[0].until_ms;
	for (size_t i = 1; i < c->n_held; i++)
		if (c->held[i].until_ms < first)
			first = c->held[i].until_ms;
	int64_t wait = first - mono_ms();
	uv_timer_start(&c->timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

/* Asks again for every held watch: those with something new now, or
 * whose time is up, are answered; the others stay held.  Only when the
 * store committed since the last time, or a watch's time is up: messages
 * from other nodes that stored nothing (pings, acks) cost nothing. */
static void recheck_held(wj_control_t *c, bool timer)
{
	if (c == NULL || c->n_held == 0)
		return;
	uint64_t commit = wj_service_last_commit(c->svc);
	if (!timer && commit == c->checked_commit)
		return;
	c->checked_commit = commit;
	size_t n = c->n_held; /* reqs has room for HELD_MAX */
	int64_t wall = wall_ms(), mono = mono_ms();
	for (size_t i = 0; i < n; i++)
		c->reqs[i] = (wj_service_req_t){
			.data = zmq_msg_data(&c->held[i].payload),
			.len = zmq_msg_size(&c->held[i].payload),
			.may_hold = true,
			/* The service counts in wall time: its deadline is
			 * as far from now as ours. */
			.hold_until_ms = wall + (c->held[i].until_ms - mono),
		};
	wj_service_batch(c->svc, c->reqs, n, wall, &c->arena);
	size_t kept = 0;
	for (size_t i = 0; i < c->n_held; i++) {
		struct held *h = &c->held[i];
		if (c->reqs[i].reply != NULL) {
			send_reply(c, &h->id, c->reqs[i].reply, c->reqs[i].reply_len);
			zmq_msg_close(&h->id);
			zmq_msg_close(&h->payload);
			continue;
		}
		if (kept != i) {
			zmq_msg_init(&c->held[kept].id);
			zmq_msg_init(&c->held[kept].payload);
			zmq_msg_move(&c->held[kept].id, &h->id);
			zmq_msg_move(&c->held[kept].payload, &h->payload);
			c->held[kept].until_ms = h->until_ms;
			zmq_msg_close(&h->id);
			zmq_msg_close(&h->payload);
		}
		kept++;
	}
	c->n_held = kept;
	wj_arena_reset(&c->arena);
	arm_timer(c);
}

void wj_control_changed(wj_control_t *c)
{
	recheck_held(c, false);
}

static void on_timer(uv_timer_t *h)
{
	recheck_held(h->data, true);
}

static size_t handle_batch(wj_control_t *c)
{
	size_t n = 0;
	while (n < c->batch_max && recv_one(c, n) == 0)
		n++;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		c->reqs[i] = (wj_service_req_t){
			.data = zmq_msg_data(&c->payloads[i]),
			.len = zmq_msg_size(&c->payloads[i]),
		};
		if (c->multipart[i]) {
			/* Refuse without decoding: an empty request with a
			 * garbage byte never decodes. */
			static const uint8_t bad[] = {0xff};
			c->reqs[i].data = bad;
			c->reqs[i].len = sizeof(bad);
		}
	}
	uint64_t commit = wj_service_last_commit(c->svc);
	for (size_t i = 0; i < n; i++)
		c->reqs[i].may_hold = c->n_held + n <= HELD_MAX && c->reqs[i].len <= HELD_BYTES_MAX;
	int64_t wall = wall_ms(), mono = mono_ms();
	wj_service_batch(c->svc, c->reqs, n, wall, &c->arena);
	bool holding = false;
	for (size_t i = 0; i < n; i++) {
		if (c->reqs[i].reply == NULL && c->n_held < HELD_MAX) {
			struct held *h = &c->held[c->n_held++];
			zmq_msg_init(&h->id);
			zmq_msg_init(&h->payload);
			zmq_msg_move(&h->id, &c->ids[i]);
			zmq_msg_move(&h->payload, &c->payloads[i]);
			h->until_ms = mono + (c->reqs[i].hold_until_ms - wall);
			holding = true;
		} else {
			send_reply(c, &c->ids[i], c->reqs[i].reply, c->reqs[i].reply_len);
		}
		zmq_msg_close(&c->ids[i]);
		zmq_msg_close(&c->payloads[i]);
	}
	wj_arena_reset(&c->arena);
	c->batches++;
	c->requests += n;
	if (wj_service_last_commit(c->svc) != commit) {
		if (c->after_batch)
			c->after_batch(c->after_batch_data);
		wj_control_changed(c);
	} else if (holding) {
		arm_timer(c);
	}
	return n;
}

static void on_idle(uv_idle_t *h);

static void drain(wj_control_t *c)
{
	for (int round = 0; round < ROUNDS_MAX; round++)
		if (handle_batch(c) == 0)
			break;
	int events = 0;
	size_t size = sizeof(events);
	if (zmq_getsockopt(c->sock, ZMQ_EVENTS, &events, &size) == 0 &&
	    (events & ZMQ_POLLIN))
		uv_idle_start(&c->idle, on_idle);
	else
		uv_idle_stop(&c->idle);
}

static void on_idle(uv_idle_t *h)
{
	drain(h->data);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	if (status < 0) {
		wj_error("control: poll failed: %s", uv_strerror(status));
		return;
	}
	drain(h->data);
}

static void on_close(uv_handle_t *h)
{
	wj_control_t *c = h->data;
	if (--c->open_handles > 0)
		return;
	wj_arena_free(&c->arena);
	free(c->ids);
	free(c->payloads);
	free(c->multipart);
	free(c->reqs);
	free(c->held);
	free(c);
}

int wj_control_start(uv_loop_t *loop, const char *endpoint, wj_service_t *svc,
		     uint32_t batch_max, wj_control_t **out, wj_err_t *err)
{
	wj_control_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return wj_err_set(err, WJ_EINTERNAL, "out of memory");
	c->svc = svc;
	c->batch_max = batch_max ? batch_max : 1024;
	c->ids = calloc(c->batch_max, sizeof(*c->ids));
	c->payloads = calloc(c->batch_max, sizeof(*c->payloads));
	c->multipart = calloc(c->batch_max, sizeof(*c->multipart));
	/* Requests of a batch, or every held watch asked again at once. */
	c->reqs = calloc(c->batch_max > HELD_MAX ? c->batch_max : HELD_MAX, sizeof(*c->reqs));
	c->held = calloc(HELD_MAX, sizeof(*c->held));
	wj_arena_init(&c->arena, 1 << 20);
	int rc = WJ_EIO;
	if (!c->ids || !c->payloads || !c->multipart || !c->reqs || !c->held) {
		rc = wj_err_set(err, WJ_EINTERNAL, "out of memory");
		goto fail;
	}
	c->zctx = zmq_ctx_new();
	c->sock = c->zctx ? zmq_socket(c->zctx, ZMQ_ROUTER) : NULL;
	if (c->sock == NULL) {
		rc = wj_err_set(err, WJ_EIO, "cannot create the control socket: %s",
				zmq_strerror(errno));
		goto fail;
	}
	int64_t maxmsg = WJ_REQUEST_MAX;
	int hwm_out = SNDHWM, hwm_in = RCVHWM, linger = 0;
	zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	zmq_setsockopt(c->sock, ZMQ_SNDHWM, &hwm_out, sizeof(hwm_out));
	zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm_in, sizeof(hwm_in));
	zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(c->sock, endpoint) != 0) {
		rc = wj_err_set(err, WJ_EIO,
				"cannot bind the control endpoint %s: %s (for ipc:// the "
				"directory must exist and be writable; set control in the "
				"config or pass --control)", endpoint, zmq_strerror(errno));
		goto fail;
	}
	if (strncmp(endpoint, "ipc://", 6) == 0) {
		snprintf(c->ipc_path, sizeof(c->ipc_path), "%s", endpoint + 6);
		if (chmod(c->ipc_path, 0660) != 0)
			wj_warn("control: cannot set mode 0660 on %s: %s", c->ipc_path,
				strerror(errno));
	}

	int fd;
	size_t fd_size = sizeof(fd);
	zmq_getsockopt(c->sock, ZMQ_FD, &fd, &fd_size);
	uv_poll_init(loop, &c->poll, fd);
	uv_idle_init(loop, &c->idle);
	uv_timer_init(loop, &c->timer);
	c->poll.data = c->idle.data = c->timer.data = c;
	c->open_handles = 3;
	uv_poll_start(&c->poll, UV_READABLE, on_readable);
	*out = c;
	return 0;
fail:
	if (c->sock)
		zmq_close(c->sock);
	if (c->zctx)
		zmq_ctx_term(c->zctx);
	wj_arena_free(&c->arena);
	free(c->ids);
	free(c->payloads);
	free(c->multipart);
	free(c->reqs);
	free(c->held);
	free(c);
	return rc;
}

void wj_control_stop(wj_control_t *c)
{
	if (c == NULL)
		return;
	wj_info("control: stopping after %llu requests in %llu batches",
		(unsigned long long)c->requests, (unsigned long long)c->batches);
	uv_poll_stop(&c->poll);
	uv_idle_stop(&c->idle);
	uv_timer_stop(&c->timer);
	/* Held watches go unanswered: their clients see the node go. */
	for (size_t i = 0; i < c->n_held; i++) {
		zmq_msg_close(&c->held[i].id);
		zmq_msg_close(&c->held[i].payload);
	}
	c->n_held = 0;
	zmq_close(c->sock);
	zmq_ctx_term(c->zctx);
	/* A socket file left behind would make node-ctl try to connect to a
	 * node that is gone. */
	if (c->ipc_path[0])
		unlink(c->ipc_path);
	uv_close((uv_handle_t *)&c->poll, on_close);
	uv_close((uv_handle_t *)&c->idle, on_close);
	uv_close((uv_handle_t *)&c->timer, on_close);
}
