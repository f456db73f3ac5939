"""Integration: hostile and malformed input.  Raw bytes on the control socket
(a ZeroMQ DEALER talking to the node directly): garbage, a truncated
protobuf, an unknown oneof field, an empty frame, a 20 MiB message,
multi-frame garbage.  For each the node either answers with an error or
drops the connection, and afterwards still answers node-ctl status and
takes a normal submit.  Then bad values through node-ctl: unknown items,
invalid node codes, invalid case numbers, out-of-range days, bad calendar
dates."""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
from wjtest import (CALENDAR_2026_YAML, COUNTY, ITEM_SIMPLE,  # noqa: E402
                    NodeTest, pb_bytes, pb_str, pb_uint, reply_fields,
                    req_status, req_submit)

zmq = wjtest.import_zmq('test_bad_input')

REPLY_WAIT_MS = 3000   # how long to wait for an answer that may not come
OK, E_BAD_REQUEST = 0, 1


class RawSocketTest(NodeTest):

    def setUp(self):
        super().setUp()
        self.n = self.start_node(COUNTY)
        self.zctx = zmq.Context()
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close(linger=0)
        self.zctx.term()
        super().tearDown()

    def dealer(self):
        s = self.zctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, REPLY_WAIT_MS)
        s.setsockopt(zmq.SNDTIMEO, REPLY_WAIT_MS)
        s.connect(self.n.endpoint)
        self.socks.append(s)
        return s

    def exchange(self, frames):
        """Sends frames as one message on a new connection and returns the
        reply frames, or None when the node answered nothing."""
        s = self.dealer()
        s.send_multipart(frames)
        try:
            return s.recv_multipart()
        except zmq.Again:
            return None

    def assertStillServes(self, what):
        self.assertTrue(self.n.running(), 'wuji-node died after %s; log:\n%s'
                        % (what, self.n.log_text()))
        r = self.n.ctl('status')
        self.assertEqual(r.rc, 0, '%s: %r' % (what, r))
        num = self.submit(self.n, ITEM_SIMPLE, 'After ' + what)
        self.assertEqual(self.status_of(self.n, num), 'received')

    def assertErrorOrDrop(self, reply, what):
        if reply is None:
            return
        self.assertEqual(len(reply), 1, '%s: reply of %d frames'
                         % (what, len(reply)))
        try:
            _, code, error, _ = reply_fields(reply[0])
        except ValueError as e:
            self.fail('%s: the reply is not a wuji.Reply: %s' % (what, e))
        self.assertNotEqual(code, OK, '%s: answered OK' % what)
        self.assertTrue(error, '%s: an error reply without a message' % what)

    def test_encoder_sanity(self):
        """The hand-made encoding is right: a status and a submit work."""
        reply = self.exchange([req_status(41)])
        self.assertIsNotNone(reply, 'no reply to a valid status request')
        rid, code, error, _ = reply_fields(reply[0])
        self.assertEqual((rid, code), (41, OK), error)
        reply = self.exchange([req_submit(ITEM_SIMPLE, 'Raw Socket', 42)])
        self.assertIsNotNone(reply, 'no reply to a valid submit request')
        rid, code, error, number = reply_fields(reply[0])
        self.assertEqual((rid, code), (42, OK), error)
        self.assertRegex(number, wjtest.CASE_NUMBER_RE)
        c = self.show(self.n, number)
        self.assertEqual(wjtest.applicant_name(c), 'Raw Socket')

    def test_garbage(self):
        rnd = random.Random(20261122)
        blobs = [b'\xff' * 64, b'hello, node', bytes(range(256)),
                 bytes(rnd.getrandbits(8) for _ in range(4096)),
                 b'\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01']
        for i, blob in enumerate(blobs):
            with self.subTest(blob=i):
                self.assertErrorOrDrop(self.exchange([blob]), 'garbage %d' % i)
                self.assertStillServes('garbage %d' % i)

    def test_truncated_protobuf(self):
        whole = req_submit(ITEM_SIMPLE, 'Truncated Applicant', 7)
        for cut in (len(whole) - 1, len(whole) - 5, len(whole) // 2, 3):
            with self.subTest(cut=cut):
                self.assertErrorOrDrop(self.exchange([whole[:cut]]),
                                       'truncated at %d' % cut)
                self.assertStillServes('truncated at %d' % cut)
        names = [wjtest.applicant_name(self.show(self.n, x['number']))
                 for x in self.okj(self.n, 'list')]
        self.assertNotIn('Truncated Applicant', names)

    def test_unknown_oneof_field(self):
        for field in (9, 22, 99, 536870911):
            with self.subTest(field=field):
                msg = pb_uint(1, 5) + pb_bytes(field, b'')
                self.assertErrorOrDrop(self.exchange([msg]),
                                       'unknown field %d' % field)
                self.assertStillServes('unknown field %d' % field)
        # A request with no operation at all.
        self.assertErrorOrDrop(self.exchange([pb_uint(1, 6)]), 'no op')
        self.assertStillServes('no op')

    def test_wrong_types_inside(self):
        # submit given as a varint; item_code given as a varint
        for what, msg in (
                ('submit as varint', pb_uint(1, 1) + pb_uint(11, 5)),
                ('item as varint', pb_uint(1, 1) +
                 pb_bytes(11, pb_uint(1, 3) + pb_bytes(2, pb_str(1, 'X')))),
                ('applicant as string', pb_uint(1, 1) + pb_bytes(
                    11, pb_str(1, ITEM_SIMPLE) + pb_uint(2, 7)))):
            with self.subTest(what=what):
                self.assertErrorOrDrop(self.exchange([msg]), what)
                self.assertStillServes(what)

    def test_invalid_utf8_name(self):
        """Not valid UTF-8 in a name: refused, or stored without breaking
        the JSON output of show and list."""
        msg = pb_uint(1, 1) + pb_bytes(11, pb_str(1, ITEM_SIMPLE) + pb_bytes(
            2, pb_bytes(1, b'Bad \xff\xfe\xc3 name')))
        reply = self.exchange([msg])
        if reply is not None:
            _, code, _, number = reply_fields(reply[0])
            if code == OK:
                self.show(self.n, number)
                self.ok(self.n, 'show', number)
        self.okj(self.n, 'list')
        self.assertStillServes('invalid UTF-8')

    def test_empty_frame(self):
        self.assertErrorOrDrop(self.exchange([b'']), 'empty frame')
        self.assertStillServes('empty frame')

    def test_huge_message(self):
        big = pb_uint(1, 9) + pb_bytes(11, pb_str(1, ITEM_SIMPLE) + pb_bytes(
            2, pb_bytes(1, b'x' * (20 << 20))))
        self.assertGreater(len(big), 20 << 20)
        self.assertErrorOrDrop(self.exchange([big]), '20 MiB message')
        self.assertStillServes('20 MiB message')

    def test_multi_frame_garbage(self):
        for frames in ([b'a', b'b', b'c'], [req_status(3), b'junk'],
                       [b'', req_status(4)], [b'\x00'] * 50):
            what = 'multi-frame %d frames' % len(frames)
            with self.subTest(what=what):
                reply = self.exchange(frames)
                if reply is not None and len(reply) == 1:
                    try:
                        _, code, _, _ = reply_fields(reply[0])
                    except ValueError as e:
                        self.fail('%s: reply is not a wuji.Reply: %s'
                                  % (what, e))
                self.assertStillServes(what)

    def test_many_connections_then_normal_use(self):
        # Connections that send garbage and go away without reading.
        for i in range(50):
            s = self.dealer()
            s.send(b'\x08' + bytes([i]) + b'\xff\xff')
        for s in self.socks:
            s.close(linger=0)
        self.socks = []
        self.assertStillServes('50 abandoned connections')


class BadValuesTest(NodeTest):

    def setUp(self):
        super().setUp()
        self.n = self.start_node(COUNTY)

    def test_unknown_item_code(self):
        for code in ('NO-SUCH-ITEM', 'x' * 600, ' ', '\u6c11\u653f'):
            with self.subTest(code=code[:20]):
                r = self.n.ctl('submit', '--item', code, '--applicant', 'A')
                self.assertIn(r.rc, (1, 2) if not code.strip() else (1,), r)
        self.assertEqual(self.okj(self.n, 'list'), [])
        self.ok(self.n, 'status')

    def test_invalid_case_numbers(self):
        bogus = ['bogus', '', '-', COUNTY, COUNTY + '-20261122',
                 COUNTY + '-20261122-', COUNTY + '-2026112-000001',
                 '330100000001-20261122-000001', COUNTY + '-20261340-000001',
                 COUNTY + '-20261122-abc', '../../etc/passwd', 'x' * 5000,
                 COUNTY + '-20261122-000001\n', '%s%s%s%n']
        for num in bogus:
            with self.subTest(num=num[:40]):
                for args in (['show', num], ['accept', num],
                             ['archive', num]):
                    r = self.n.ctl(*args)
                    self.assertIn(r.rc, (1, 2), r)
                    r = self.n.ctl(*args, json_out=True)
                    self.assertIn(r.rc, (1, 2), r)
        self.assertTrue(self.n.running(), self.n.log_text())
        self.ok(self.n, 'status')
        self.submit(self.n, ITEM_SIMPLE, 'Still Fine')

    def test_extend_days(self):
        num = self.submit(self.n, ITEM_SIMPLE, 'Days Tester')
        self.ok(self.n, 'accept', num)
        before = self.show(self.n, num)
        for days, codes in (('0', (1, 2)), ('11', (1,)), ('abc', (2,)),
                            ('-1', (1, 2)), ('', (1, 2)), ('1e3', (2,)),
                            ('4294967297', (1, 2)), ('99999999999999999999',
                                                     (1, 2))):
            with self.subTest(days=days):
                r = self.n.ctl('extend', num, '--days', days, '--reason', 'x')
                self.assertIn(r.rc, codes, r)
                self.assertEqual(self.show(self.n, num), before)

    def test_invalid_node_codes(self):
        for code in ('12345', '330100000001', '000000000000', 'abcdefghijkl',
                     '3301060000001', '33010600000', '-33010600000',
                     '330106000000x', '', '990000000000x'):
            with self.subTest(code=code):
                n = self.new_node(COUNTY, name='bad-%d' % len(self.nodes))
                n.code = code
                n.spawn()
                rc = n.wait_exit()
                self.assertNotEqual(rc, 0, '--id %r accepted' % code)
                self.assertGreater(rc, 0, '--id %r: killed by signal %d'
                                   % (code, -rc))
                if code:
                    self.assertIn(code, n.log_text())

    def test_invalid_calendar_dates(self):
        path = self.write('cal.yaml', CALENDAR_2026_YAML)
        self.ok(self.n, 'calendar', 'load', path)
        before = self.okj(self.n, 'calendar', 'show')
        for i, bad in enumerate(('2026-02-29', '2026-00-10', '2026-01-32',
                                 '0000-01-01', '2026-1-5', '20260230',
                                 '2026-02-16..', '..2026-02-16',
                                 '2026-02-16..2026-02-16..2026-02-17',
                                 '99999999999', '"2026-02-16\\u0000"')):
            with self.subTest(date=bad):
                text = CALENDAR_2026_YAML.replace('- 2026-02-23\n',
                                                  '- %s\n' % bad)
                path = self.write('bad-%d.yaml' % i, text)
                r = self.n.ctl('calendar', 'load', path)
                self.assertEqual(r.rc, 2, r)
                self.assertIn('bad-%d.yaml' % i, r.text)
                self.assertEqual(self.okj(self.n, 'calendar', 'show'), before)
        self.assertTrue(self.n.running())

    def test_binary_catalog_file(self):
        before = self.okj(self.n, 'catalog', 'list')
        rnd = random.Random(7)
        for i, blob in enumerate((b'\x00' * 100, b'items:\n  - \xff\xfe\x00',
                                  bytes(rnd.getrandbits(8)
                                        for _ in range(2000)),
                                  b'items: ' + b'[' * 10000)):
            with self.subTest(blob=i):
                path = os.path.join(self.tmp, 'bin-%d.yaml' % i)
                with open(path, 'wb') as f:
                    f.write(blob)
                r = self.n.ctl('catalog', 'load', path)
                self.assertEqual(r.rc, 2, r)
                self.assertEqual(self.okj(self.n, 'catalog', 'list'), before)
        self.assertTrue(self.n.running())


if __name__ == '__main__':
    wjtest.main()
