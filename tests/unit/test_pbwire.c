/* Unit tests for the hand-written protobuf wire format (node/core/pbwire.c):
 * what it reads and writes must agree with protobuf-c, and malformed bytes
 * must be refused without reading past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/pbwire.h"
#include "proto/wuji.pb-c.h"

static uint8_t *pack_event(const Wuji__Event *ev, size_t *len)
{
	*len = wuji__event__get_packed_size(ev);
	uint8_t *buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	assert_int_equal(wuji__event__pack(ev, buf), *len);
	return buf;
}

static void test_peek_reads_routing_fields(void **state)
{
	(void)state;
	Wuji__Submission sub = WUJI__SUBMISSION__INIT;
	sub.item_code = "330000-XK-00103";
	Wuji__Event ev = WUJI__EVENT__INIT;
	ev.origin = 330106001201ULL;
	ev.seq = 42;
	ev.hlc = 123456789;
	ev.type = WUJI__EVENT_TYPE__EV_SUBMITTED;
	ev.case_number = "330106001201-20260302-000007";
	ev.submission = &sub;
	size_t len;
	uint8_t *buf = pack_event(&ev, &len);
	wj_event_peek_t pk;
	assert_int_equal(wj_pb_peek_event(buf, len, &pk), 0);
	assert_int_equal(pk.origin, ev.origin);
	assert_int_equal(pk.type, ev.type);
	assert_int_equal(pk.case_number_len, strlen(ev.case_number));
	assert_memory_equal(pk.case_number, ev.case_number, pk.case_number_len);
	free(buf);

	/* A catalog event has no case number: an empty one, not garbage. */
	Wuji__Event bc = WUJI__EVENT__INIT;
	bc.origin = 330000000000ULL;
	bc.seq = 1;
	bc.type = WUJI__EVENT_TYPE__EV_CATALOG_ITEM;
	buf = pack_event(&bc, &len);
	assert_int_equal(wj_pb_peek_event(buf, len, &pk), 0);
	assert_int_equal(pk.type, WUJI__EVENT_TYPE__EV_CATALOG_ITEM);
	assert_int_equal(pk.case_number_len, 0);
	assert_string_equal(pk.case_number, "");
	free(buf);
}

static void test_varints_match_protobuf(void **state)
{
	(void)state;
	static const uint64_t values[] = { 0, 1, 127, 128, 300, 16383, 16384,
					   UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		/* Ack.pos is a uint64 field number 2: its encoding is the
		 * tag byte 0x10 and then the varint. */
		Wuji__Ack a = WUJI__ACK__INIT;
		a.pos = values[i];
		uint8_t want[16], got[16];
		size_t n = wuji__ack__pack(&a, want);
		got[0] = 0x10;
		size_t m = 1 + wj_pb_put_varint(got + 1, values[i]);
		if (values[i] == 0) {
			assert_int_equal(n, 0); /* proto3 leaves zero out */
			continue;
		}
		assert_int_equal(m, n);
		assert_memory_equal(got, want, n);
		assert_int_equal(wj_pb_varint_size(values[i]), n - 1);
	}
}

/* A batch built by hand the way repl.c sends stored events decodes, with
 * protobuf-c, to the same events in the same order. */
static void test_hand_built_batch_decodes(void **state)
{
	(void)state;
	Wuji__Event evs[3];
	uint8_t *raw[3];
	size_t raw_len[3];
	static const char *numbers[3] = { "330106001201-20260302-000001",
					  "330106001201-20260302-000002", "" };
	for (int i = 0; i < 3; i++) {
		wuji__event__init(&evs[i]);
		evs[i].origin = 330106001201ULL;
		evs[i].seq = (uint64_t)i + 1;
		evs[i].type = WUJI__EVENT_TYPE__EV_ACCEPTED;
		evs[i].case_number = (char *)numbers[i];
		evs[i].reason = (char *)"受理";
		raw[i] = pack_event(&evs[i], &raw_len[i]);
	}
	Wuji__Batch b = WUJI__BATCH__INIT;
	b.epoch = 0xabcdef;
	b.prev = 10;
	b.last = 13;
	b.session = 2;
	size_t body = wuji__batch__get_packed_size(&b);
	for (int i = 0; i < 3; i++)
		body += wj_pb_bytes_field_size(4, raw_len[i]);
	uint8_t buf[4096];
	size_t o = wj_pb_put_bytes_head(buf, 11, body);
	o += wuji__batch__pack(&b, buf + o);
	for (int i = 0; i < 3; i++) {
		o += wj_pb_put_bytes_head(buf + o, 4, raw_len[i]);
		memcpy(buf + o, raw[i], raw_len[i]);
		o += raw_len[i];
	}
	assert_int_equal(o, wj_pb_bytes_field_size(11, body));
	Wuji__PeerMsg *m = wuji__peer_msg__unpack(NULL, o, buf);
	assert_non_null(m);
	assert_int_equal(m->body_case, WUJI__PEER_MSG__BODY_BATCH);
	assert_int_equal(m->batch->epoch, b.epoch);
	assert_int_equal(m->batch->prev, 10);
	assert_int_equal(m->batch->last, 13);
	assert_int_equal(m->batch->session, 2);
	assert_int_equal(m->batch->n_events, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(m->batch->events[i]->seq, (uint64_t)i + 1);
		assert_string_equal(m->batch->events[i]->case_number, numbers[i]);
		free(raw[i]);
	}
	wuji__peer_msg__free_unpacked(m, NULL);
}

static void test_malformed_refused(void **state)
{
	(void)state;
	wj_event_peek_t pk;
	wj_pb_reader_t r;
	wj_pb_field_t f;
	/* A varint that never ends. */
	static const uint8_t endless[] = { 0x08, 0xff, 0xff, 0xff };
	assert_int_equal(wj_pb_peek_event(endless, sizeof(endless), &pk), -1);
	/* Eleven continuation bytes: longer than any varint. */
	static const uint8_t too_long[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					    0xff, 0xff, 0xff, 0xff, 0x01 };
	assert_int_equal(wj_pb_peek_event(too_long, sizeof(too_long), &pk), -1);
	/* A string field that claims more bytes than there are. */
	static const uint8_t short_string[] = { 0x32, 0x10, 'a', 'b' };
	assert_int_equal(wj_pb_peek_event(short_string, sizeof(short_string), &pk), -1);
	/* Groups are not part of the schema. */
	static const uint8_t group[] = { 0x0b };
	assert_int_equal(wj_pb_peek_event(group, sizeof(group), &pk), -1);
	/* Field number 0 is invalid. */
	static const uint8_t zero[] = { 0x00, 0x01 };
	assert_int_equal(wj_pb_peek_event(zero, sizeof(zero), &pk), -1);
	/* A fixed64 cut short. */
	static const uint8_t fixed[] = { 0x09, 1, 2, 3 };
	wj_pb_reader_init(&r, fixed, sizeof(fixed));
	assert_int_equal(wj_pb_next(&r, &f), -1);
	/* Empty input is a valid, empty message. */
	assert_int_equal(wj_pb_peek_event(NULL, 0, &pk), 0);
	assert_int_equal(pk.case_number_len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peek_reads_routing_fields),
		cmocka_unit_test(test_varints_match_protobuf),
		cmocka_unit_test(test_hand_built_batch_decodes),
		cmocka_unit_test(test_malformed_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
