/* ZeroMQ links between nodes; see links.h.
 *
 * libzmq's ZMQ_FD is edge-triggered: after each round we read ZMQ_EVENTS
 * and keep an idle handle running while messages remain.  Sends never
 * block: a message that cannot leave now (peer gone, high-water mark) is
 * dropped, and the engine sends it again from the last acknowledged
 * position.  Correctness never depends on libzmq delivering. */
#include "links.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zmq.h>

#include "core/division.h"
#include "log.h"

#define ROUND_MSGS 256
#define ROUND_BYTES (8 << 20) /* received bytes handed over at once */
#define PEER_MSG_MAX (64 << 20)
#define HWM 10000
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* A child's routing id: its code, then ROUTE_NONCE random bytes.  libzmq
 * lets a connecting peer name its own routing id, and a ROUTER sends
 * to whoever holds an id (ZMQ_ROUTER_HANDOVER gives it to the newest
 * holder): were the id just the code, a child with a valid key could
 * take a sibling's id and be sent its cases.  Ids are learnt from
 * messages whose CURVE key proved the sender (kid_route), and an
 * unguessable part makes them impossible to claim. */
#define ROUTE_NONCE 16
#define ROUTE_ID_MAX (12 + ROUTE_NONCE)

/* One ZeroMQ socket on the loop.  Its ZMQ_FD is edge-triggered and
 * says only that something may have changed, and a send on the socket
 * can consume the edge that messages arriving meanwhile would have
 * given: so `look` is set when the fd fires, when we sent on the socket
 * and when a round stopped before the socket was empty, and a socket is
 * read only while it is set.  Reading all four at every wakeup made a
 * third of a relay's syscalls. */
typedef struct zwatch {
	uv_poll_t poll;
	void *sock;
	struct wj_links *links;
	bool (*drain)(struct wj_links *l);  /* one round: true when emptied */
	bool look;
} zwatch_t;

/* What one drain of a socket took in: handed to the engine together, so
 * that batches queued behind a commit share the next one. */
struct inbox {
	zmq_msg_t msgs[ROUND_MSGS];
	wj_repl_in_t in[ROUND_MSGS];
	size_t n, bytes;
};

struct wj_links {
	uv_loop_t *loop;
	wj_repl_t *repl;
	uint64_t self;
	uint64_t parent;
	void *zctx;
	void *zap, *children, *up, *mon;
	zwatch_t w_zap, w_children, w_up, w_mon;
	bool up_handshaken;        /* since the last connect */
	int64_t handshake_warned_ms;
	int64_t claim_warned_ms;   /* rate limit for impostor warnings */
	uint64_t claims_dropped;
	uv_idle_t idle;
	uv_timer_t timer;
	int open_handles;
	wj_arena_t arena;
	wj_child_t *kids;         /* copy: code and key of each child */
	size_t n_kids;
	/* Each child's routing id, as its last proven message came: where
	 * messages to it go (none until it has spoken). */
	struct kid_route {
		uint8_t id[ROUTE_ID_MAX];
		size_t len;
	} *kid_routes;
	uint8_t (*kid_keys)[32];  /* binary public keys, for ZAP */
	bool stopping;
	struct inbox inbox;
	void (*on_receive)(void *data);
	void *on_receive_data;
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ sending */

static void on_timer(uv_timer_t *h);
static void schedule(wj_links_t *l);

static struct kid_route *kid_route(wj_links_t *l, uint64_t code)
{
	for (size_t i = 0; i < l->n_kids; i++)
		if (l->kids[i].id == code)
			return &l->kid_routes[i];
	return NULL;
}

/* Sends one message now: what flush queues, and what wj_repl wants to
 * leave at once (a wj_repl_out_t's send_now). */
static void send_now(void *ctx, const wj_repl_msg_t *m)
{
	wj_links_t *l = ctx;
	int rc;
	if (m->peer == l->parent && l->up) {
		rc = zmq_send(l->up, m->data, m->len, ZMQ_DONTWAIT);
		l->w_up.look = true;
	} else if (l->children) {
		const struct kid_route *to = kid_route(l, m->peer);
		rc = -1;
		errno = EHOSTUNREACH;   /* not heard from since we started */
		if (to && to->len)
			rc = zmq_send(l->children, to->id, to->len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
		if (rc >= 0)
			rc = zmq_send(l->children, m->data, m->len, ZMQ_DONTWAIT);
		l->w_children.look = true;
	} else {
		rc = -1;
	}
	if (rc < 0)
		wj_debug("links: message to %012" PRIu64 " not sent: %s", m->peer,
			 zmq_strerror(errno));
}

static void flush(wj_links_t *l, wj_repl_out_t *out)
{
	for (size_t i = 0; i < out->n_msgs; i++)
		send_now(l, &out->msgs[i]);
	if (!l->stopping && out->next_tick_ms) {
		int64_t delay = out->next_tick_ms - wall_ms();
		uint64_t due = delay > 0 ? (uint64_t)delay : 0;
		/* Keep the earliest deadline when one is already set. */
		uint64_t left = uv_timer_get_due_in(&l->timer);
		if (!uv_is_active((uv_handle_t *)&l->timer) || due < left)
			uv_timer_start(&l->timer, on_timer, due, 0);
	}
	wj_arena_reset(&l->arena);
	schedule(l);
}

static void run_tick(wj_links_t *l)
{
	wj_repl_out_t out;
	wj_repl_out_init(&out, &l->arena);
	wj_repl_tick(l->repl, wall_ms(), &out);
	flush(l, &out);
}

static void on_timer(uv_timer_t *h)
{
	run_tick(h->data);
}

void wj_links_on_receive(wj_links_t *l, void (*cb)(void *data), void *data)
{
	l->on_receive = cb;
	l->on_receive_data = data;
}

void wj_links_kick(wj_links_t *l)
{
	if (l && !l->stopping)
		run_tick(l);
}

/* ---------------------------------------------------------- receiving */

static void inbox_add(struct inbox *b, uint64_t peer, zmq_msg_t *msg)
{
	zmq_msg_init(&b->msgs[b->n]);
	zmq_msg_move(&b->msgs[b->n], msg);
	b->in[b->n] = (wj_repl_in_t){.peer = peer,
				     .data = zmq_msg_data(&b->msgs[b->n]),
				     .len = zmq_msg_size(&b->msgs[b->n])};
	b->bytes += b->in[b->n].len;
	b->n++;
}

static bool inbox_full(const struct inbox *b)
{
	return b->n == ROUND_MSGS || b->bytes >= ROUND_BYTES;
}

static void deliver(wj_links_t *l, struct inbox *b)
{
	if (b->n > 0) {
		wj_repl_out_t out;
		wj_repl_out_init(&out, &l->arena);
		out.send_now = send_now;   /* a relay's Ahead leaves before its fsync */
		out.send_now_ctx = l;
		wj_repl_receive_many(l->repl, b->in, b->n, wall_ms(), &out);
		flush(l, &out);
		if (l->on_receive)
			l->on_receive(l->on_receive_data);
	}
	for (size_t i = 0; i < b->n; i++)
		zmq_msg_close(&b->msgs[i]);
	b->n = b->bytes = 0;
}

static bool drain_up(wj_links_t *l)
{
	struct inbox *box = &l->inbox;
	bool empty = false;
	for (int i = 0; i < ROUND_MSGS && !inbox_full(box); i++) {
		zmq_msg_t msg;
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, l->up, ZMQ_DONTWAIT) < 0) {
			empty = errno != EINTR;
			zmq_msg_close(&msg);
			break;
		}
		bool more = zmq_msg_more(&msg);
		/* The parent speaks in single frames; anything else is not
		 * ours to read. */
		if (!more)
			inbox_add(box, l->parent, &msg);
		zmq_msg_close(&msg);
		while (more) {
			zmq_msg_init(&msg);
			zmq_msg_recv(&msg, l->up, 0);
			more = zmq_msg_more(&msg);
			zmq_msg_close(&msg);
		}
	}
	deliver(l, box);
	return empty;
}

static bool drain_children(wj_links_t *l)
{
	struct inbox *box = &l->inbox;
	bool empty = false;
	for (int i = 0; i < ROUND_MSGS && !inbox_full(box); i++) {
		zmq_msg_t id, body;
		zmq_msg_init(&id);
		if (zmq_msg_recv(&id, l->children, ZMQ_DONTWAIT) < 0) {
			empty = errno != EINTR;
			zmq_msg_close(&id);
			break;
		}
		zmq_msg_init(&body);
		bool ok = zmq_msg_more(&id) && zmq_msg_recv(&body, l->children, 0) >= 0 &&
			  !zmq_msg_more(&body);
		bool more = ok ? false : zmq_msg_more(&body);
		while (more) {
			zmq_msg_t extra;
			zmq_msg_init(&extra);
			zmq_msg_recv(&extra, l->children, 0);
			more = zmq_msg_more(&extra);
			zmq_msg_close(&extra);
		}
		/* The routing id is what the child claims; User-Id is what
		 * the ZAP handler proved from its key.  They must agree. */
		const char *user = ok ? zmq_msg_gets(&body, "User-Id") : NULL;
		char claimed[13] = {0};
		size_t n = zmq_msg_size(&id) < 12 ? zmq_msg_size(&id) : 12;
		memcpy(claimed, zmq_msg_data(&id), n);
		if (!ok) {
			wj_warn("links: malformed message from child %s: dropped", claimed);
		} else if (user == NULL || strcmp(user, claimed) != 0) {
			/* Logged at most every 30 s: an impostor must not be able
			 * to flood the log. */
			l->claims_dropped++;
			int64_t now = wall_ms();
			if (now - l->claim_warned_ms > 30000) {
				wj_warn("links: a child authenticated as %s claims to be %s: refused "
					"(%" PRIu64 " such messages dropped so far)",
					user ? user : "(nobody)", claimed, l->claims_dropped);
				l->claim_warned_ms = now;
			}
		} else {
			uint64_t code = strtoull(user, NULL, 10);
			struct kid_route *from = kid_route(l, code);
			size_t id_len = zmq_msg_size(&id);
			if (from && id_len <= ROUTE_ID_MAX &&
			    (from->len != id_len ||
			     memcmp(from->id, zmq_msg_data(&id), id_len) != 0)) {
				memcpy(from->id, zmq_msg_data(&id), id_len);
				from->len = id_len;
			}
			inbox_add(box, code, &body);
		}
		zmq_msg_close(&id);
		zmq_msg_close(&body);
	}
	deliver(l, box);
	return empty;
}

/* ZAP (RFC 27): libzmq asks whether a CURVE client may connect.  Only the
 * children listed in the children file may, and the connection is then
 * named with the child's code (User-Id). */
static bool drain_zap(wj_links_t *l)
{
	for (int i = 0; i < ROUND_MSGS; i++) {
		zmq_msg_t part[7];
		int n = 0;
		bool more = true;
		while (more) {
			zmq_msg_t m;
			zmq_msg_init(&m);
			if (zmq_msg_recv(&m, l->zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
				bool empty = n == 0 && errno != EINTR;
				zmq_msg_close(&m);
				for (int k = 0; k < n; k++)
					zmq_msg_close(&part[k]);
				return empty;
			}
			more = zmq_msg_more(&m);
			if (n < 7)
				part[n++] = m;
			else
				zmq_msg_close(&m);
		}
		const char *status = "400", *text = "unknown key", *user = "";
		char code[13] = "";
		char addr[64] = "?";
		if (n >= 4) {
			size_t al = zmq_msg_size(&part[3]) < sizeof(addr) - 1
					    ? zmq_msg_size(&part[3]) : sizeof(addr) - 1;
			memcpy(addr, zmq_msg_data(&part[3]), al);
			addr[al] = '\0';
		}
		if (n == 7 && zmq_msg_size(&part[5]) == 5 &&
		    memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 &&
		    zmq_msg_size(&part[6]) == 32) {
			for (size_t k = 0; k < l->n_kids; k++) {
				if (memcmp(l->kid_keys[k], zmq_msg_data(&part[6]), 32) == 0) {
					wj_division_format(l->kids[k].id, code);
					status = "200";
					text = "OK";
					user = code;
					break;
				}
			}
		}
		if (status[0] != '2')
			wj_warn("links: connection from %s refused: its key is not in the "
				"children file", addr);
		/* Reply: version, request id, status code, text, user id,
		 * metadata. */
		zmq_send(l->zap, "1.0", 3, ZMQ_SNDMORE);
		if (n >= 2)
			zmq_send(l->zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
		else
			zmq_send(l->zap, "", 0, ZMQ_SNDMORE);
		zmq_send(l->zap, status, 3, ZMQ_SNDMORE);
		zmq_send(l->zap, text, strlen(text), ZMQ_SNDMORE);
		zmq_send(l->zap, user, strlen(user), ZMQ_SNDMORE);
		zmq_send(l->zap, "", 0, 0);
		for (int k = 0; k < n; k++)
			zmq_msg_close(&part[k]);
	}
	return false;
}

/* Events of the parent connection: a connection that closes before its
 * CURVE handshake completed almost always means a wrong parent_key, or a
 * parent that does not list this node's key.  Say so, at most every 30 s. */
static bool drain_monitor(wj_links_t *l)
{
	bool kick_pending = false, empty = false;
	for (int i = 0; i < ROUND_MSGS; i++) {
		zmq_msg_t ev, addr;
		zmq_msg_init(&ev);
		if (zmq_msg_recv(&ev, l->mon, ZMQ_DONTWAIT) < 0) {
			empty = errno != EINTR;
			zmq_msg_close(&ev);
			break;
		}
		zmq_msg_init(&addr);
		if (zmq_msg_more(&ev))
			zmq_msg_recv(&addr, l->mon, 0);
		uint16_t id = 0;
		if (zmq_msg_size(&ev) >= 2)
			memcpy(&id, zmq_msg_data(&ev), 2);
		int64_t now = wall_ms();
		if (id == ZMQ_EVENT_CONNECTED) {
			l->up_handshaken = false;
		} else if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
			l->up_handshaken = true;
			/* A hello sent before this was dropped (ZMQ_IMMEDIATE):
			 * send it now instead of at the next hello timer. */
			wj_repl_link_ready(l->repl, l->parent);
			kick_pending = true;
		} else if ((id == ZMQ_EVENT_DISCONNECTED && !l->up_handshaken) ||
			   id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
			   id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
			   id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
			if (now - l->handshake_warned_ms > 30000) {
				wj_warn("links: the parent %012" PRIu64 " closed the connection during "
					"the CURVE handshake: check parent_key, and that the parent's "
					"children file lists this node's public key", l->parent);
				l->handshake_warned_ms = now;
			}
		}
		zmq_msg_close(&ev);
		zmq_msg_close(&addr);
	}
	if (kick_pending)
		run_tick(l);
	return empty;
}

static void on_idle(uv_idle_t *h);

static zwatch_t *const *watches(wj_links_t *l, zwatch_t *ws[4])
{
	ws[0] = &l->w_zap;
	ws[1] = &l->w_children;
	ws[2] = &l->w_up;
	ws[3] = &l->w_mon;
	return ws;
}

/* Reads every socket that may have something, a round each, a few times
 * over (what one delivers may be answered at once); what is left waits
 * for the next loop iteration (the idle handle), so that timers and the
 * control socket get their turn. */
static void service(wj_links_t *l)
{
	zwatch_t *ws[4];
	watches(l, ws);
	for (int pass = 0; pass < 4 && !l->stopping; pass++) {
		bool any = false;
		for (size_t i = 0; i < 4 && !l->stopping; i++) {
			if (ws[i]->sock == NULL || !ws[i]->look)
				continue;
			any = true;
			ws[i]->look = false;
			if (!ws[i]->drain(l))
				ws[i]->look = true;
		}
		if (!any)
			break;
	}
	schedule(l);
}

static void schedule(wj_links_t *l)
{
	zwatch_t *ws[4];
	bool pending = false;
	watches(l, ws);
	for (size_t i = 0; i < 4; i++)
		pending = pending || (ws[i]->sock != NULL && ws[i]->look);
	if (pending && !l->stopping)
		uv_idle_start(&l->idle, on_idle);
	else
		uv_idle_stop(&l->idle);
}

static void on_idle(uv_idle_t *h)
{
	service(h->data);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	zwatch_t *w = h->data;
	if (status < 0)
		wj_error("links: poll failed: %s", uv_strerror(status));
	w->look = true;
	service(w->links);
}

/* ------------------------------------------------------------- set-up */

static void on_close(uv_handle_t *h)
{
	wj_links_t *l = h->data;
	if (h->type == UV_POLL)
		l = ((zwatch_t *)h->data)->links;
	if (--l->open_handles > 0)
		return;
	wj_arena_free(&l->arena);
	free(l->kids);
	free(l->kid_keys);
	free(l->kid_routes);
	free(l);
}

/* Closes whatever sockets were opened, in an order that cannot block:
 *  - the parent socket's monitor first: libzmq sends its events from the
 *    I/O thread, blocking and holding the monitor's lock, into a PAIR
 *    socket that has no peer once l->mon is closed.  An event then (the
 *    parent went away too) blocked that thread for good, and stopping the
 *    monitor after waited for the lock forever;
 *  - the children's socket before its ZAP handler: without a handler
 *    libzmq lets any CURVE client in. */
static void close_sockets(wj_links_t *l)
{
	if (l->up)
		zmq_socket_monitor(l->up, NULL, 0);
	if (l->children)
		zmq_close(l->children);
	if (l->zap)
		zmq_close(l->zap);
	if (l->mon)
		zmq_close(l->mon);
	if (l->up)
		zmq_close(l->up);
}

static void watch(wj_links_t *l, zwatch_t *w, void *sock, bool (*drain)(wj_links_t *l))
{
	int fd;
	size_t size = sizeof(fd);
	zmq_getsockopt(sock, ZMQ_FD, &fd, &size);
	w->sock = sock;
	w->links = l;
	w->drain = drain;
	w->look = true;   /* anything that came before the loop watched it */
	uv_poll_init(l->loop, &w->poll, fd);
	w->poll.data = w;
	uv_poll_start(&w->poll, UV_READABLE, on_readable);
	l->open_handles++;
}

static void common_opts(void *sock)
{
	int linger = 0, hwm = HWM, ivl = 1000, timeout = 5000, ttl = 10000;
	int64_t maxmsg = PEER_MSG_MAX;
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	/* ZMTP heartbeats notice a dead TCP connection in seconds, so libzmq
	 * reconnects; the engine's own pings decide the link state. */
	zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof(timeout));
	zmq_setsockopt(sock, ZMQ_HEARTBEAT_TTL, &ttl, sizeof(ttl));
}

int wj_links_start(uv_loop_t *loop, wj_repl_t *repl, const wj_links_opts_t *o,
		   wj_links_t **out, wj_err_t *err)
{
	if (!zmq_has("curve"))
		return wj_err_set(err, WJ_EINTERNAL,
				  "this libzmq was built without CURVE: links between nodes "
				  "need it (Debian's libzmq5 has it)");
	wj_links_t *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return wj_err_set(err, WJ_EINTERNAL, "out of memory");
	l->loop = loop;
	l->repl = repl;
	l->self = o->self;
	l->parent = o->parent[0] ? o->parent_id : 0;
	wj_arena_init(&l->arena, 1 << 20);
	l->zctx = zmq_ctx_new();
	int rc = WJ_EIO;
	if (l->zctx == NULL) {
		rc = wj_err_set(err, WJ_EIO, "cannot create a ZeroMQ context");
		goto fail;
	}
	uint8_t secret[32];
	if (zmq_z85_decode(secret, o->keys->secret_key) == NULL) {
		rc = wj_err_set(err, WJ_EINVAL, "this node's secret key is not valid Z85");
		goto fail;
	}

	if (o->listen[0]) {
		l->n_kids = o->n_children;
		l->kids = calloc(o->n_children ? o->n_children : 1, sizeof(*l->kids));
		l->kid_keys = calloc(o->n_children ? o->n_children : 1, sizeof(*l->kid_keys));
		l->kid_routes = calloc(o->n_children ? o->n_children : 1, sizeof(*l->kid_routes));
		if (l->kids == NULL || l->kid_keys == NULL || l->kid_routes == NULL) {
			rc = wj_err_set(err, WJ_EINTERNAL, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < o->n_children; i++) {
			l->kids[i] = o->children[i];
			if (zmq_z85_decode(l->kid_keys[i], o->children[i].key) == NULL) {
				rc = wj_err_set(err, WJ_EINVAL,
						"the key of child %012" PRIu64 " is not valid Z85",
						o->children[i].id);
				goto fail;
			}
		}
		/* The ZAP handler must be bound before the first child can
		 * connect, in the same context as the socket it guards. */
		l->zap = zmq_socket(l->zctx, ZMQ_REP);
		int zero = 0;
		if (l->zap == NULL ||
		    zmq_setsockopt(l->zap, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
		    zmq_bind(l->zap, ZAP_ENDPOINT) != 0) {
			rc = wj_err_set(err, WJ_EIO, "cannot start the ZAP handler: %s",
					zmq_strerror(errno));
			goto fail;
		}
		l->children = zmq_socket(l->zctx, ZMQ_ROUTER);
		int one = 1;
		common_opts(l->children);
		zmq_setsockopt(l->children, ZMQ_CURVE_SERVER, &one, sizeof(one));
		zmq_setsockopt(l->children, ZMQ_CURVE_SECRETKEY, secret, 32);
		zmq_setsockopt(l->children, ZMQ_ZAP_DOMAIN, "wuji", 4);
		zmq_setsockopt(l->children, ZMQ_ROUTER_HANDOVER, &one, sizeof(one));
		zmq_setsockopt(l->children, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
		if (zmq_bind(l->children, o->listen) != 0) {
			rc = wj_err_set(err, WJ_EIO, "cannot listen for children on %s: %s",
					o->listen, zmq_strerror(errno));
			goto fail;
		}
	}
	if (o->parent[0]) {
		uint8_t server[32], public[32];
		if (zmq_z85_decode(server, o->parent_key) == NULL ||
		    zmq_z85_decode(public, o->keys->public_key) == NULL) {
			rc = wj_err_set(err, WJ_EINVAL,
					"parent_key or this node's public key is not valid Z85");
			goto fail;
		}
		l->up = zmq_socket(l->zctx, ZMQ_DEALER);
		common_opts(l->up);
		uint8_t id[ROUTE_ID_MAX];
		char code[13];
		wj_division_format(o->self, code);
		memcpy(id, code, 12);
		if (getrandom(id + 12, ROUTE_NONCE, 0) != ROUTE_NONCE) {
			rc = wj_err_set(err, WJ_EIO, "cannot draw random bytes for the link to "
					"the parent: %s", strerror(errno));
			goto fail;
		}
		int one = 1, ivl = 100, ivl_max = 1000;
		zmq_setsockopt(l->up, ZMQ_ROUTING_ID, id, sizeof(id));
		zmq_setsockopt(l->up, ZMQ_CURVE_SERVERKEY, server, 32);
		zmq_setsockopt(l->up, ZMQ_CURVE_PUBLICKEY, public, 32);
		zmq_setsockopt(l->up, ZMQ_CURVE_SECRETKEY, secret, 32);
		zmq_setsockopt(l->up, ZMQ_IMMEDIATE, &one, sizeof(one));
		zmq_setsockopt(l->up, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
		zmq_setsockopt(l->up, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof(ivl_max));
		/* Both ends or neither: libzmq blocks its I/O thread on an
		 * event for a monitor nobody reads (see close_sockets).  No
		 * event comes before the parent is connected, below. */
		int zero = 0;
		if (zmq_socket_monitor(l->up, "inproc://wj-links-parent-monitor",
				       ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
				       ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
				       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
				       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
		    (l->mon = zmq_socket(l->zctx, ZMQ_PAIR)) == NULL ||
		    zmq_setsockopt(l->mon, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
		    zmq_connect(l->mon, "inproc://wj-links-parent-monitor") != 0) {
			rc = wj_err_set(err, WJ_EIO, "cannot watch the link to the parent: %s",
					zmq_strerror(errno));
			goto fail;
		}
		if (zmq_connect(l->up, o->parent) != 0) {
			rc = wj_err_set(err, WJ_EIO, "cannot connect to the parent at %s: %s",
					o->parent, zmq_strerror(errno));
			goto fail;
		}
	}
	uv_idle_init(loop, &l->idle);
	uv_timer_init(loop, &l->timer);
	l->idle.data = l->timer.data = l;
	l->open_handles = 2;
	if (l->zap)
		watch(l, &l->w_zap, l->zap, drain_zap);
	if (l->children)
		watch(l, &l->w_children, l->children, drain_children);
	if (l->up)
		watch(l, &l->w_up, l->up, drain_up);
	if (l->mon)
		watch(l, &l->w_mon, l->mon, drain_monitor);
	schedule(l);
	uv_timer_start(&l->timer, on_timer, 0, 0);
	*out = l;
	return 0;
fail:
	close_sockets(l);
	if (l->zctx)
		zmq_ctx_term(l->zctx);
	wj_arena_free(&l->arena);
	free(l->kids);
	free(l->kid_keys);
	free(l->kid_routes);
	free(l);
	return rc;
}

void wj_links_stop(wj_links_t *l)
{
	if (l == NULL)
		return;
	l->stopping = true;
	uv_timer_stop(&l->timer);
	uv_idle_stop(&l->idle);
	zwatch_t *ws[4];
	watches(l, ws);
	for (size_t i = 0; i < 4; i++) {
		if (ws[i]->sock == NULL)
			continue;
		uv_poll_stop(&ws[i]->poll);
		uv_close((uv_handle_t *)&ws[i]->poll, on_close);
	}
	close_sockets(l);
	zmq_ctx_term(l->zctx);
	uv_close((uv_handle_t *)&l->idle, on_close);
	uv_close((uv_handle_t *)&l->timer, on_close);
}
