"""Integration: node-ctl as a command-line tool.  Exit codes (2 for usage
errors, 3 when the node cannot be reached), --json output that parses, the
human `list` table with its columns lined up, -c CONFIG, and -V."""

import json
import os
import re
import shutil
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
from wjtest import (COUNTY, CTL, ITEM_JOINT, ITEM_ONE_DAY,  # noqa: E402
                    ITEM_PERMIT, ITEM_SIMPLE, MAT_FORM, MAT_ID, MAT_PHOTO,
                    CASE_NUMBER_RE, NodeTest, TEST_ITEMS, ctl, item, run)

LONG_ITEM = 'T-A-MUCH-LONGER-ITEM-CODE'


def project_version():
    with open(os.path.join(wjtest.SOURCE_ROOT, 'meson.build')) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    return m.group(1)


def token_starts(line):
    """Columns where a run of non-blanks starts."""
    return [i for i, ch in enumerate(line)
            if ch != ' ' and (i == 0 or line[i - 1] == ' ')]


class CliTest(NodeTest):

    def setUp(self):
        super().setUp()
        self.n = self.start_node(COUNTY, catalog=False)
        self.load_catalog(self.n, TEST_ITEMS + [item(LONG_ITEM, 'LongCode')])
        self.num = self.submit(self.n, ITEM_SIMPLE, 'Usage Tester')

    def test_version(self):
        r = run([CTL, '-V'])
        self.assertEqual(r.rc, 0, r)
        self.assertIn(project_version(), r.text)

    def test_usage_errors(self):
        num = self.num
        before = self.show(self.n, num)
        cases = [
            ['frobnicate'],
            ['frobnicate', num],
            ['status', '--frobnicate'],
            ['reject', num],
            ['pause', num],
            ['extend', num, '--days', '2'],
            ['extend', num, '--reason', 'no days'],
            ['correct', num],
            ['decide', num],
            ['decide', num, '--deny'],
            ['decide', num, '--approve', '--deny', '--reason', 'both'],
            ['deliver', num, '--by', 'nowhere'],
            ['list', '--warning', 'blue'],
            ['list', '--status', 'happy'],
            ['submit', '--applicant', 'No Item'],
            ['submit', '--item', ITEM_SIMPLE],
            ['submit', '--item', ITEM_SIMPLE, '--applicant', 'A',
             '--id-type', 'alien'],
            ['accept'],
            ['show'],
            ['accept', num, 'extra-argument'],
            ['catalog'],
            ['catalog', 'frobnicate'],
            ['catalog', 'load'],
            ['calendar', 'load'],
        ]
        for args in cases:
            with self.subTest(args=' '.join(args)):
                r = self.n.ctl(*args)
                self.assertUsage(r)
        r = run([CTL])
        self.assertUsage(r)
        self.assertEqual(self.show(self.n, num), before,
                         'a usage error changed the case')
        self.assertEqual([c['number'] for c in self.okj(self.n, 'list')],
                         [num], 'a usage error submitted a case')

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which('setpriv'),
                         'needs root and setpriv to run node-ctl as another user')
    def test_permission_denied_is_said(self):
        """A user outside the node's group is told why it cannot connect,
        not just that the node does not answer."""
        r = wjtest.run(['setpriv', '--reuid=65534', '--regid=65534',
                        '--clear-groups'] +
                       wjtest.ctl_argv(['status'], self.n.endpoint))
        self.assertEqual(r.rc, 3, r)
        self.assertIn('permission denied', r.err)

    def test_unreachable(self):
        nowhere = 'ipc://' + os.path.join(self.tmp, 'nobody-here.sock')
        with socket.socket() as s:     # a loopback port nobody listens on
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        for ep in (nowhere, 'tcp://127.0.0.1:%d' % port):
            for args in (['status'], ['show', self.num],
                         ['submit', '--item', ITEM_SIMPLE, '--applicant', 'A']):
                with self.subTest(endpoint=ep, args=args[0]):
                    r = ctl(ep, *args)
                    self.assertEqual(r.rc, 3, r)
                    self.assertTrue(r.err.strip(), 'exit 3 without a message')
        # A node that was running and is gone (its socket file remains).
        self.n.kill()
        r = self.n.ctl('status')
        self.assertEqual(r.rc, 3, r)

    def test_json_outputs(self):
        n = self.n
        self.ok(n, 'calendar', 'load',
                self.write('cal.yaml', wjtest.CALENDAR_2026_YAML))
        a = self.submit(n, ITEM_PERMIT, 'Json One', [MAT_ID, MAT_FORM,
                                                      MAT_PHOTO])
        b = self.submit(n, ITEM_ONE_DAY, 'Json Two')
        runs = [
            ['status'], ['list'], ['list', '--status', 'received'],
            ['list', '--warning', 'yellow'], ['warnings'], ['show', a],
            ['accept', a], ['accept', b], ['pause', a, '--reason', 'r'],
            ['resume', a], ['extend', a, '--days', '1', '--reason', 'r'],
            ['decide', a, '--approve', '--certificate', 'C1'],
            ['deliver', a, '--by', 'post'], ['archive', a],
            ['catalog', 'list'], ['catalog', 'show', ITEM_JOINT],
            ['calendar', 'show'], ['verify'], ['show', b],
        ]
        for args in runs:
            with self.subTest(args=' '.join(args)):
                r = self.ok(n, *args, json_out=True)
                try:
                    json.loads(r.out)
                except ValueError as e:
                    self.fail('not JSON (%s): %r' % (e, r))
        r = self.ok(n, 'submit', '--item', ITEM_SIMPLE, '--applicant', 'J3',
                    json_out=True)
        obj = r.json()
        self.assertEqual(list(obj), ['number'], r)
        self.assertRegex(obj['number'], CASE_NUMBER_RE)
        c = self.show(n, b)
        self.assertEqual(c['warning'], 'yellow')
        self.assertIn(c['status'], wjtest.STATUSES)
        for t in c['tasks']:
            self.assertIn(t['status'], wjtest.TASK_STATUSES)
            self.assertIn(t['level'], wjtest.LEVELS)
            self.assertIsInstance(t['node'], str)
            self.assertRegex(t['node'], r'^\d{12}$')
        for h in self.show(n, a)['history']:
            self.assertIn(h['event'], wjtest.EVENTS)

    def test_list_table(self):
        n = self.n
        nums = [self.num]
        for code, who in ((ITEM_PERMIT, 'Table1'), (ITEM_JOINT, 'Table2'),
                          (LONG_ITEM, 'Table3'), (ITEM_ONE_DAY, 'Table4'),
                          (ITEM_SIMPLE, 'Table5')):
            mats = [MAT_ID, MAT_FORM] if code == ITEM_PERMIT else []
            nums.append(self.submit(n, code, who, mats))
        self.ok(n, 'accept', nums[1])
        self.ok(n, 'accept', nums[2])
        self.ok(n, 'pause', nums[2], '--reason', 'table')
        self.ok(n, 'accept', nums[3])
        self.ok(n, 'accept', nums[4])
        self.ok(n, 'reject', nums[5], '--reason', 'table')
        r = self.ok(n, 'list')
        lines = [l.rstrip() for l in r.out.splitlines()]
        rows = [i for i, l in enumerate(lines)
                if any(CASE_NUMBER_RE.match(w) for w in l.split())]
        self.assertEqual(len(rows), len(nums), r)
        for num in nums:
            self.assertTrue(any(num in lines[i] for i in rows), num)
        header = None
        for i in range(rows[0] - 1, -1, -1):
            if re.search(r'[A-Za-z]', lines[i]):
                header = lines[i]
                break
        self.assertIsNotNone(header, 'list has no header line: %r' % r)
        for l in lines:
            self.assertTrue(all(ord(ch) < 128 for ch in l), 'non-ASCII: %r'
                            % l)
        hstarts = set(token_starts(header))
        for i in rows:
            starts = token_starts(lines[i])
            self.assertGreaterEqual(len(starts), 3, lines[i])
            self.assertTrue(set(starts) <= hstarts,
                            'columns do not line up:\n%s\n%s\nrow starts %s, '
                            'header starts %s' % (header, lines[i], starts,
                                                  sorted(hstarts)))
        # the first column of every row at the same place
        self.assertEqual(len({token_starts(lines[i])[0] for i in rows}), 1)

    def test_config_option(self):
        cfg = self.write('ctl.conf', 'control: %s\n' % self.n.endpoint)
        r = run([CTL, 'status', '-c', cfg])
        self.assertEqual(r.rc, 0, r)
        r = run([CTL, 'show', '-c', cfg, '--json', self.num])
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json()['number'], self.num)
        # -e wins over the file
        bad = self.write('bad.conf', 'control: ipc://%s\n'
                         % os.path.join(self.tmp, 'nobody.sock'))
        r = run([CTL, 'status', '-c', bad, '-e', self.n.endpoint])
        self.assertEqual(r.rc, 0, r)

    def test_human_outputs(self):
        r = self.ok(self.n, 'show', self.num)
        self.assertIn(self.num, r.out)
        self.assertIn('received', r.out)
        self.assertIn(ITEM_SIMPLE, r.out)
        r = self.ok(self.n, 'catalog', 'list')
        for it in TEST_ITEMS:
            self.assertIn(it['code'], r.out)


if __name__ == '__main__':
    wjtest.main()
