/* Region allocator.
 *
 * Every request, event application and decoded protobuf message of one
 * batch lives in one arena and is freed at once with wj_arena_reset().
 * This lets the core mutate protobuf-c messages (append history, replace
 * strings) without tracking who allocated which field.  `pb` plugs the
 * arena into protobuf_c_message_unpack(). */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct wj_arena_block wj_arena_block_t;

typedef struct wj_arena {
	ProtobufCAllocator pb;      /* alloc from the arena, free is a no-op */
	wj_arena_block_t *head;     /* current block, newest first */
	size_t block_size;
	size_t used_total;
	size_t pb_left;             /* pb fails past this many more bytes */
	bool pb_refused;            /* and it did, since the budget was set */
} wj_arena_t;

void wj_arena_init(wj_arena_t *a, size_t block_size);
/* Never returns NULL: aborts when memory is exhausted, as the daemon cannot
 * recover a half-built reply anyway. Memory is zeroed and 16-byte aligned. */
void *wj_arena_alloc(wj_arena_t *a, size_t size);
char *wj_arena_strdup(wj_arena_t *a, const char *s);
char *wj_arena_strndup(wj_arena_t *a, const char *s, size_t n);
char *wj_arena_printf(wj_arena_t *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Grows a protobuf repeated field (array of n pointers or values of `elem`
 * bytes) by one slot and returns a pointer to the new slot. */
void *wj_arena_push(wj_arena_t *a, void *array_ptr, size_t *n, size_t elem);
/* Decoding into the arena (through `pb`) fails, as protobuf-c's unpack
 * then does cleanly, once it would take more than `bytes` more; SIZE_MAX
 * lifts the bound.  A message of n bytes can decode to far more (each
 * empty element of a repeated field is a struct): this bounds what an
 * untrusted one costs.  Plain allocations are not bounded. */
void wj_arena_pb_budget(wj_arena_t *a, size_t bytes);
/* What is left of that budget (about SIZE_MAX when unbounded), and
 * whether an allocation was refused since it was set. */
size_t wj_arena_pb_left(const wj_arena_t *a);
bool wj_arena_pb_refused(const wj_arena_t *a);
/* A copy of protobuf message m, all of it in the arena. */
void *wj_arena_dup_msg(wj_arena_t *a, const ProtobufCMessage *m);
/* Frees all blocks but the first, which is kept for reuse. */
void wj_arena_reset(wj_arena_t *a);
void wj_arena_free(wj_arena_t *a);
