/* Hand-written protobuf wire format; see pbwire.h. */
#include "pbwire.h"

#include <string.h>

static int get_varint(wj_pb_reader_t *r, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return -1;
		uint8_t b = *r->p++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1; /* more than 10 bytes */
}

int wj_pb_next(wj_pb_reader_t *r, wj_pb_field_t *f)
{
	if (r->p >= r->end)
		return 0;
	uint64_t key;
	if (get_varint(r, &key) != 0)
		return -1;
	memset(f, 0, sizeof(*f));
	f->number = (uint32_t)(key >> 3);
	f->wire = (uint32_t)(key & 7);
	if (f->number == 0 || key >> 32 != 0)
		return -1;
	size_t left;
	switch (f->wire) {
	case 0:
		return get_varint(r, &f->varint) == 0 ? 1 : -1;
	case 1:
	case 5:
		left = (size_t)(r->end - r->p);
		f->len = f->wire == 1 ? 8 : 4;
		if (left < f->len)
			return -1;
		f->data = r->p;
		r->p += f->len;
		return 1;
	case 2: {
		uint64_t n;
		if (get_varint(r, &n) != 0)
			return -1;
		left = (size_t)(r->end - r->p);
		if (n > left)
			return -1;
		f->data = r->p;
		f->len = (size_t)n;
		r->p += n;
		return 1;
	}
	default:
		return -1; /* groups (3, 4) are not used by wuji's schema */
	}
}

size_t wj_pb_varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

size_t wj_pb_put_varint(uint8_t *buf, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		buf[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t)v;
	return n;
}

size_t wj_pb_bytes_field_size(uint32_t number, size_t len)
{
	return wj_pb_varint_size((uint64_t)number << 3 | 2) + wj_pb_varint_size(len) + len;
}

size_t wj_pb_put_bytes_head(uint8_t *buf, uint32_t number, size_t len)
{
	size_t n = wj_pb_put_varint(buf, (uint64_t)number << 3 | 2);
	return n + wj_pb_put_varint(buf + n, len);
}

/* Field numbers of wuji.Event (proto/wuji.proto). */
enum { EVENT_ORIGIN = 1, EVENT_SEQ = 2, EVENT_AT = 4, EVENT_TYPE = 5, EVENT_CASE_NUMBER = 6 };

int wj_pb_peek_event(const uint8_t *data, size_t len, wj_event_peek_t *out)
{
	wj_pb_reader_t r;
	wj_pb_field_t f;
	int rc;
	memset(out, 0, sizeof(*out));
	out->case_number = "";
	wj_pb_reader_init(&r, data, len);
	while ((rc = wj_pb_next(&r, &f)) == 1) {
		if (f.number == EVENT_ORIGIN && f.wire == 0) {
			out->origin = f.varint;
		} else if (f.number == EVENT_SEQ && f.wire == 0) {
			out->seq = f.varint;
		} else if (f.number == EVENT_AT && f.wire == 0) {
			out->at = (int64_t)f.varint;
		} else if (f.number == EVENT_TYPE && f.wire == 0) {
			out->type = (int)(int32_t)f.varint;
		} else if (f.number == EVENT_CASE_NUMBER && f.wire == 2) {
			out->case_number = (const char *)f.data;
			out->case_number_len = f.len;
		}
	}
	return rc;
}
