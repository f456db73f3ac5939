"""Integration: the node's log lines.  Under systemd, stderr is a journal
stream named by JOURNAL_STREAM (DEV:INODE); there every line must start
with its syslog priority ("<3>" error ... "<7>" debug) so that
`journalctl -p warning` finds errors.  Anywhere else (a terminal, a file,
or a JOURNAL_STREAM inherited by a process whose stderr went elsewhere) the
lines must stay plain."""

import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
from wjtest import NodeTest  # noqa: E402

# "2026-11-22T09:38:15.125+08:00 info  node ...", or "wuji-node: ..." when
# it refuses to start (wjtest.Node writes a "==== run" header line of its
# own before each run).
LINE_RE = re.compile(r'^(<[0-7]>)?(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}'
                     r'\+08:00 (error|warn |info |debug) |wuji-node: )')
PRIORITY = {'error': '<3>', 'warn ': '<4>', 'info ': '<6>', 'debug': '<7>'}


def node_lines(node):
    """(prefix or None, level) for every line the node logged."""
    out = []
    with open(node.log, encoding='utf-8', errors='replace') as f:
        for line in f:
            if line.startswith('==== run'):
                continue
            m = LINE_RE.match(line)
            if m is None:
                raise AssertionError('log line in no known form: %r' % line)
            out.append((m.group(1), m.group(2) or 'error'))
    return out


class LogTest(NodeTest):

    def stream_env(self, node, dev_ino=None):
        """Our environment with JOURNAL_STREAM naming the node's log file
        (created here so that its inode exists before the node starts)."""
        open(node.log, 'a').close()
        st = os.stat(node.log)
        env = dict(os.environ)
        env['JOURNAL_STREAM'] = dev_ino or '%d:%d' % (st.st_dev, st.st_ino)
        return env

    def run_node(self, env, name=None):
        """Starts a node, has it answer once, stops it with SIGTERM."""
        n = self.new_node(name=name)
        n.start(env=env(n) if env else None, extra=['--log-level', 'debug'])
        self.assertEqual(n.ctl('status').rc, 0)
        self.assertEqual(n.stop(signal.SIGTERM), 0, n.log_text())
        return n

    def test_journal_stream_gets_priorities(self):
        n = self.run_node(self.stream_env)
        lines = node_lines(n)
        self.assertTrue(any(lvl == 'info ' for _, lvl in lines), lines)
        for prefix, lvl in lines:
            self.assertEqual(prefix, PRIORITY[lvl], lines)

    def test_error_priority(self):
        n = self.new_node()
        # A data "directory" that is a file: the store cannot be opened.
        blocker = self.write('not-a-dir', 'x')
        n.spawn(env=self.stream_env(n),
                argv=n.argv(extra=['--data', blocker]))
        self.assertEqual(n.wait_exit(), 1, n.log_text())
        lines = node_lines(n)
        self.assertIn(('<3>', 'error'), lines)

    def test_startup_error_priority(self):
        # A bad flag is reported before logging starts, without a
        # timestamp, but still as an error.
        for env, want, name in ((self.stream_env, '<3>', 'journal'),
                                (None, None, 'plain')):
            n = self.new_node(name=name)
            n.spawn(env=env(n) if env else None,
                    argv=n.argv(extra=['--id', '123']))
            self.assertEqual(n.wait_exit(), 2, n.log_text())
            self.assertEqual(node_lines(n), [(want, 'error')], n.log_text())

    def test_plain_elsewhere(self):
        for env, name in ((None, 'plain'),
                          (lambda n: self.stream_env(n, '1:1'), 'other')):
            n = self.run_node(env, name)
            lines = node_lines(n)
            self.assertTrue(lines, n.log_text())
            self.assertEqual([p for p, _ in lines if p], [], lines)


if __name__ == '__main__':
    wjtest.main()
