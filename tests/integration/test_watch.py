"""Integration: the change-log feed (`node-ctl watch`, WatchRequest).

A watch reads every event the node has stored, in order, from a given
position; one with nothing new is held by the node and answered as soon as
an event is stored (here or arriving from another node) or its wait runs
out.  Malformed watches are refused with a message, and a node holding
watches still serves and stops cleanly."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
from wjtest import (COUNTY, ITEM_SIMPLE, NodeTest, ctl_argv,  # noqa: E402
                    pb_bytes, pb_decode, pb_uint, reply_fields)

wjtest.import_zmq('test_watch')   # raw requests below

WAIT_S = 20        # bound on every wait for a watcher's output
OK, E_BAD_REQUEST, E_BUSY = 0, 1, 7


def req_watch(req_id, after=0, wait_ms=0, max_=0, from_now=False):
    """wuji.Request{id, watch: WatchRequest{after, wait_ms, max, from_now}}"""
    body = b''
    if after:
        body += pb_uint(1, after)
    if wait_ms:
        body += pb_uint(2, wait_ms)
    if max_:
        body += pb_uint(3, max_)
    if from_now:
        body += pb_uint(4, 1)
    return pb_uint(1, req_id) + pb_bytes(24, body)


class WatchTest(NodeTest):

    def watch_json(self, n, *args):
        r = n.ctl('watch', *args, json_out=True)
        self.assertEqual(r.rc, 0, r)
        return [json.loads(line) for line in r.out.splitlines()]

    def test_reads_the_log_in_order(self):
        n = self.start_node(COUNTY)
        nums = [self.submit(n, ITEM_SIMPLE, 'Watcher %d' % i) for i in range(3)]
        self.ok(n, 'accept', nums[0])
        # Everything from the start: the catalog and calendar loads, then
        # the three submissions and the acceptance, positions rising.
        changes = self.watch_json(n, '--after', '0', '--no-follow')
        positions = [c['pos'] for c in changes]
        self.assertEqual(positions, sorted(positions))
        self.assertEqual(len(set(positions)), len(positions))
        cases = [(c['type'], c['case']) for c in changes if c['case']]
        self.assertEqual(cases, [('submitted', nums[0]), ('submitted', nums[1]),
                                 ('submitted', nums[2]), ('accepted', nums[0])])
        self.assertTrue(all(c['origin'] == COUNTY for c in changes))
        self.assertIn('catalog-item', [c['type'] for c in changes])
        # From a position: only what follows it.
        sub = [c for c in changes if c['case'] == nums[1]][0]
        after = self.watch_json(n, '--after', str(sub['pos']), '--limit', '2')
        self.assertEqual([(c['type'], c['case']) for c in after],
                         [('submitted', nums[2]), ('accepted', nums[0])])
        # Without --no-follow and --limit it would wait for more: with a
        # limit larger than what is stored, --no-follow still ends.
        rest = self.watch_json(n, '--after', str(sub['pos']), '--limit', '100',
                               '--no-follow')
        self.assertEqual(len(rest), 2)
        # The table: one line per event.
        r = self.ok(n, 'watch', '--after', str(sub['pos']), '--limit', '1')
        self.assertIn(nums[2], r.out)
        self.assertIn('submitted', r.out)
        self.assertEqual(len(r.out.splitlines()), 1, r.out)

    def test_held_until_something_is_stored(self):
        n = self.start_node(COUNTY)
        # A watcher from now: nothing to say yet, so the node holds it.
        w = subprocess.Popen(ctl_argv(['watch', '--limit', '2'], n.endpoint,
                                      json_out=True),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            time.sleep(0.5)
            self.assertIsNone(w.poll(), 'watch returned with nothing stored')
            a = self.submit(n, ITEM_SIMPLE, 'First')
            b = self.submit(n, ITEM_SIMPLE, 'Second')
            out, err = w.communicate(timeout=WAIT_S)
        finally:
            if w.poll() is None:
                w.kill()
                w.wait()
        self.assertEqual(w.returncode, 0, err)
        got = [json.loads(line)['case'] for line in out.splitlines()]
        self.assertEqual(got, [a, b])
        # Meanwhile the node served everything else.
        self.assertEqual(self.status_of(n, a), 'received')

    def test_held_watches_beyond_a_batch(self):
        """A node that reads one request per batch (batch_max: 1) still
        answers every held watch when its time comes, the shortest first,
        not only the first one held."""
        n = self.new_node(COUNTY)
        n.write_config('log_level: info\nbatch_max: 1\n')
        n.start()
        with wjtest.control_socket(n.endpoint, WAIT_S) as s:
            s.send(req_watch(1, after=1 << 40, wait_ms=60000))
            s.send(req_watch(2, after=1 << 40, wait_ms=300))
            rid, code, error, _ = reply_fields(s.recv())
            self.assertEqual((rid, code), (2, OK), error)
        self.assertEqual(n.stop(), 0, n.log_text())

    def test_raw_requests(self):
        n = self.start_node(COUNTY)
        with wjtest.control_socket(n.endpoint, WAIT_S) as s:
            # Too long a wait, too many entries: refused with a reason.
            for req, what in ((req_watch(1, wait_ms=600000), 'wait'),
                              (req_watch(2, max_=1000000), 'max')):
                s.send(req)
                rid, code, error, _ = reply_fields(s.recv())
                self.assertEqual(code, E_BAD_REQUEST, what)
                self.assertIn(what, error)
            # A held watch whose time runs out is answered, empty.
            s.send(req_watch(3, from_now=True))
            rid, code, error, _ = reply_fields(s.recv())
            self.assertEqual((rid, code), (3, OK), error)
            s.send(req_watch(4, after=1 << 40, wait_ms=300))
            reply = s.recv()
            rid, code, error, _ = reply_fields(reply)
            self.assertEqual((rid, code), (4, OK), error)
            # Asked past the end of the log, it is told where the end
            # is, so that nothing stored before that point is skipped.
            changes = pb_decode(pb_decode(reply)[20][0])
            end = changes.get(2, [0])[0]
            self.assertLess(end, 1 << 40)
            self.assertGreater(end, 0)
            # Many held at once: past what the node holds, the rest are
            # told it is busy (not answered empty, which a client would
            # take as "ask again at once").
            for i in range(300):
                s.send(req_watch(100 + i, after=1 << 40, wait_ms=60000))
            busy = 0
            for _ in range(300 - 256):
                rid, code, error, _ = reply_fields(s.recv())
                self.assertEqual(code, E_BUSY, error)
                busy += 1
            self.assertEqual(busy, 300 - 256)
            self.assertEqual(self.ok(n, 'status').rc, 0)
            # Then the node stops cleanly with the others still held.
        self.assertEqual(n.stop(), 0, n.log_text())


if __name__ == '__main__':
    wjtest.main()
