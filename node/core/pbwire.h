/* The protobuf wire format read and written by hand, for the few places
 * where decoding a whole message only to re-encode it would cost more
 * than the work itself: replication forwards stored events as the bytes
 * they are, and peeks at the fields routing needs.
 *
 * Only what those places need: varints, length-delimited fields, and
 * skipping every other wire type.  Malformed input is reported, never
 * read past. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wj_pb_field {
	uint32_t number;
	uint32_t wire;          /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
	uint64_t varint;        /* wire 0 */
	const uint8_t *data;    /* wire 2: the field's bytes */
	size_t len;
} wj_pb_field_t;

typedef struct wj_pb_reader {
	const uint8_t *p, *end;
} wj_pb_reader_t;

static inline void wj_pb_reader_init(wj_pb_reader_t *r, const uint8_t *data, size_t len)
{
	r->p = data;
	r->end = data + len;
}

/* The next field: 1, or 0 at the end, or -1 when the bytes are not a
 * valid protobuf message (nothing past the end is read). */
int wj_pb_next(wj_pb_reader_t *r, wj_pb_field_t *f);

/* Bytes a varint of v takes, and writes it (buf has room for 10). */
size_t wj_pb_varint_size(uint64_t v);
size_t wj_pb_put_varint(uint8_t *buf, uint64_t v);

/* Bytes a length-delimited field of `len` bytes takes in all (its tag
 * for field numbers below 16, its length, the bytes), and writes its
 * head (tag and length) to buf, returning the head's size. */
size_t wj_pb_bytes_field_size(uint32_t number, size_t len);
size_t wj_pb_put_bytes_head(uint8_t *buf, uint32_t number, size_t len);

/* The fields of a packed wuji.Event that routing looks at, read without
 * decoding the event.  case_number points into data (not terminated).
 * Returns -1 when data is not a valid message. */
typedef struct wj_event_peek {
	uint64_t origin, seq;
	int64_t at;
	int type;
	const char *case_number;
	size_t case_number_len;
} wj_event_peek_t;

int wj_pb_peek_event(const uint8_t *data, size_t len, wj_event_peek_t *out);
