/* Fuzz target: bytes another node sends, through decoding, validation and
 * application by the replication engine, against a real store on
 * /dev/shm.  The node under test is a county with a parent (the city) and
 * one child (a township).  The first input byte picks the sender, so both
 * the trusted direction (parent) and the checked one (child: only events
 * of its own area) are reached.  Before the fuzzed message, a hello from
 * that peer is delivered so batches and acks are not dropped as "before
 * hello".  With bit 1 of the first byte set, the rest is several messages
 * handed over together (wj_repl_receive_many), as the daemon does with
 * what a socket had queued. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl.h"
#include "service.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SELF 330106000000ULL
#define PARENT 330100000000ULL
#define CHILD 330106001000ULL
#define NOW_MS (1770948000LL * 1000)
#define MANY_MAX 8

static wj_service_t *svc;
static wj_repl_t *repl;
static wj_arena_t arena;
static char dir[64];
static int64_t now_ms = NOW_MS;

static void cleanup(void)
{
	wj_repl_free(repl);
	wj_service_close(svc);
	wj_arena_free(&arena);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_peer: could not remove %s\n", dir);
}

static void hello_from(uint64_t peer)
{
	Wuji__Hello h = WUJI__HELLO__INIT;
	h.node = peer;
	h.epoch = peer; /* any stable value */
	Wuji__PeerMsg m = WUJI__PEER_MSG__INIT;
	m.from = peer;
	m.body_case = WUJI__PEER_MSG__BODY_HELLO;
	m.hello = &h;
	uint8_t buf[256];
	size_t len = wuji__peer_msg__pack(&m, buf);
	wj_repl_out_t out;
	wj_repl_out_init(&out, &arena);
	wj_repl_receive(repl, peer, buf, len, now_ms, &out);
	wj_arena_reset(&arena);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	strcpy(dir, "/dev/shm/wj-fuzz-peer-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		strcpy(dir, "/tmp/wj-fuzz-peer-XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
	}
	wj_service_opts_t so = {.node = SELF, .data_dir = dir, .yellow_days = 1};
	wj_err_t err = {0};
	if (wj_service_open(&so, &svc, &err) != 0) {
		fprintf(stderr, "fuzz_peer: %s\n", err.msg);
		abort();
	}
	uint64_t children[] = {CHILD};
	wj_repl_opts_t ro = {.parent = PARENT, .children = children, .n_children = 1};
	if (wj_repl_new(svc, &ro, now_ms, &repl, &err) != 0) {
		fprintf(stderr, "fuzz_peer: %s\n", err.msg);
		abort();
	}
	wj_service_set_repl(svc, repl);
	wj_arena_init(&arena, 1 << 16);
	atexit(cleanup);
	hello_from(PARENT);
	hello_from(CHILD);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (repl == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size == 0)
		return 0;
	uint64_t peer = data[0] & 1 ? CHILD : PARENT;
	now_ms += 10;
	wj_repl_out_t out;
	wj_repl_out_init(&out, &arena);
	if (data[0] & 2) {
		/* Several messages arriving together, each a length byte and
		 * that many bytes: consecutive batches then share a round
		 * (one transaction, nested ones inside). */
		wj_repl_in_t in[MANY_MAX];
		size_t n = 0, at = 1;
		while (at < size && n < MANY_MAX) {
			size_t len = data[at];
			if (len > size - at - 1)
				len = size - at - 1;
			in[n++] = (wj_repl_in_t){.peer = peer, .data = data + at + 1, .len = len};
			at += 1 + len;
		}
		wj_repl_receive_many(repl, in, n, now_ms, &out);
	} else {
		wj_repl_receive(repl, peer, data + 1, size - 1, now_ms, &out);
	}
	/* Whatever the engine answers must itself be a valid message. */
	for (size_t i = 0; i < out.n_msgs; i++)
		if (wuji__peer_msg__unpack(&arena.pb, out.msgs[i].len, out.msgs[i].data) == NULL)
			abort();
	wj_repl_tick(repl, now_ms, &out);
	wj_arena_reset(&arena);
	return 0;
}
