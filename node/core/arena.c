/* Region allocator (arena.h): bump allocation in malloc'd blocks, freed
 * all at once, and the ProtobufCAllocator that lets protobuf-c unpack
 * straight into an arena. */
#include "core/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define ALIGN 16
#define DEFAULT_BLOCK (64 * 1024)

struct wj_arena_block {
	wj_arena_block_t *next;     /* older block */
	size_t size;                /* usable bytes in data */
	size_t used;
	struct push_cache *cache;   /* wj_arena_push() state, in the head */
	/* Keeps data 16-byte aligned whatever the header size. */
	_Alignas(ALIGN) unsigned char data[];
};

static void oom(size_t size)
{
	fprintf(stderr, "wuji: out of memory allocating %zu bytes\n", size);
	abort();
}

static void *pb_alloc(void *data, size_t size)
{
	wj_arena_t *a = data;
	/* Unbounded is SIZE_MAX: no arena ever allocates that much. */
	if (size > a->pb_left) {
		a->pb_refused = true;
		return NULL;
	}
	a->pb_left -= size;
	return wj_arena_alloc(a, size);
}

void wj_arena_pb_budget(wj_arena_t *a, size_t bytes)
{
	a->pb_refused = false;
	a->pb_left = bytes;
}

size_t wj_arena_pb_left(const wj_arena_t *a)
{
	return a->pb_left;
}

bool wj_arena_pb_refused(const wj_arena_t *a)
{
	return a->pb_refused;
}

void *wj_arena_dup_msg(wj_arena_t *a, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = wj_arena_alloc(a, len ? len : 1);
	protobuf_c_message_pack(m, buf);
	void *copy = protobuf_c_message_unpack(m->descriptor, &a->pb, len, buf);
	if (copy == NULL)
		oom(len);   /* it packed, so only memory can be short */
	return copy;
}

static void pb_free(void *data, void *ptr)
{
	/* Freed with the arena. */
}

static wj_arena_block_t *block_new(size_t size)
{
	wj_arena_block_t *b;

	if (size > SIZE_MAX - sizeof(*b))
		oom(size);
	b = malloc(sizeof(*b) + size);
	if (!b)
		oom(size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	b->cache = NULL;
	return b;
}

void wj_arena_init(wj_arena_t *a, size_t block_size)
{
	if (block_size < 256)
		block_size = block_size ? 256 : DEFAULT_BLOCK;
	block_size = (block_size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	a->pb.alloc = pb_alloc;
	a->pb.free = pb_free;
	a->pb_refused = false;
	a->pb_left = SIZE_MAX;
	a->pb.allocator_data = a;
	a->head = NULL;
	a->block_size = block_size;
	a->used_total = 0;
}

void *wj_arena_alloc(wj_arena_t *a, size_t size)
{
	wj_arena_block_t *b = a->head;
	void *p;

	if (a->block_size == 0)
		a->block_size = DEFAULT_BLOCK;  /* zeroed, never initialised */
	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - ALIGN)
		oom(size);
	size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (!b || b->size - b->used < size) {
		if (size > a->block_size / 4) {
			/* A big request gets its own block, put behind the
			 * current one so the space left there is not lost. */
			wj_arena_block_t *big = block_new(size);

			big->used = size;
			if (b) {
				big->next = b->next;
				b->next = big;
			} else {
				a->head = big;
			}
			a->used_total += size;
			memset(big->data, 0, size);
			return big->data;
		}
		b = block_new(a->block_size);
		if (a->head)
			b->cache = a->head->cache;
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += size;
	a->used_total += size;
	memset(p, 0, size);
	return p;
}

char *wj_arena_strndup(wj_arena_t *a, const char *s, size_t n)
{
	size_t len = s ? strnlen(s, n) : 0;
	char *p = wj_arena_alloc(a, len + 1);

	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *wj_arena_strdup(wj_arena_t *a, const char *s)
{
	return wj_arena_strndup(a, s, s ? strlen(s) : 0);
}

char *wj_arena_printf(wj_arena_t *a, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	char *p;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (len < 0)
		return wj_arena_strdup(a, "");
	p = wj_arena_alloc(a, (size_t)len + 1);
	if ((size_t)len < sizeof(small)) {
		memcpy(p, small, (size_t)len + 1);
	} else {
		va_start(ap, fmt);
		vsnprintf(p, (size_t)len + 1, fmt, ap);
		va_end(ap);
	}
	return p;
}

/* wj_arena_push() must grow arrays it did not allocate (protobuf-c unpack
 * sizes them exactly), so capacity cannot be guessed from n.  Arrays it
 * allocated itself are remembered in a small direct-mapped cache with
 * their capacity and the length they were last given; a push may append in
 * place only when the caller presents the same pointer, element size and
 * length.  Anything else (an unpacked array, an evicted entry, a shallow
 * copy of a message whose twin already pushed, a shrunk array) is copied
 * into a fresh array of doubled capacity, which is always correct. */
#define PUSH_CACHE_SLOTS 64

struct push_entry {
	void *arr;
	size_t cap;
	size_t n;
	size_t elem;
};

struct push_cache {
	struct push_entry e[PUSH_CACHE_SLOTS];
};

static struct push_entry *push_slot(struct push_cache *c, const void *arr)
{
	uintptr_t h = (uintptr_t)arr / ALIGN;

	h ^= h >> 7;
	return &c->e[h % PUSH_CACHE_SLOTS];
}

void *wj_arena_push(wj_arena_t *a, void *array_ptr, size_t *n, size_t elem)
{
	unsigned char **arr = array_ptr;
	size_t cur = *n;
	struct push_cache *cache;
	struct push_entry *ent;
	unsigned char *p, *slot;
	size_t cap;

	wj_require(elem > 0);
	wj_require(*arr != NULL || cur == 0);
	if (!a->head || !a->head->cache) {
		/* Allocate first: it may add the head block that holds it. */
		cache = wj_arena_alloc(a, sizeof(*cache));
		a->head->cache = cache;
	}
	cache = a->head->cache;

	ent = *arr ? push_slot(cache, *arr) : NULL;
	if (ent && ent->arr == *arr && ent->elem == elem && ent->n == cur &&
	    cur < ent->cap) {
		slot = *arr + cur * elem;
		memset(slot, 0, elem);
		ent->n = cur + 1;
		*n = cur + 1;
		return slot;
	}

	if (cur > SIZE_MAX / 2 / elem - 4)
		oom(cur);
	cap = cur < 4 ? 4 : cur * 2;
	p = wj_arena_alloc(a, cap * elem);
	if (cur)
		memcpy(p, *arr, cur * elem);
	/* The head may have changed in wj_arena_alloc(); it carries the
	 * cache over, so look it up again. */
	ent = push_slot(a->head->cache, p);
	ent->arr = p;
	ent->cap = cap;
	ent->n = cur + 1;
	ent->elem = elem;
	*arr = p;
	*n = cur + 1;
	return p + cur * elem;
}

void wj_arena_reset(wj_arena_t *a)
{
	wj_arena_block_t *b = a->head, *keep = NULL;

	while (b) {
		wj_arena_block_t *next = b->next;

		/* Keep one normal-size block for reuse. */
		if (!keep && b->size == a->block_size)
			keep = b;
		else
			free(b);
		b = next;
	}
	if (keep) {
		keep->next = NULL;
		keep->used = 0;
		keep->cache = NULL;
	}
	a->head = keep;
	a->used_total = 0;
}

void wj_arena_free(wj_arena_t *a)
{
	wj_arena_block_t *b = a->head;

	while (b) {
		wj_arena_block_t *next = b->next;

		free(b);
		b = next;
	}
	a->head = NULL;
	a->used_total = 0;
}
