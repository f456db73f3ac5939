"""Integration: a village on a slow, flaky link.  Real wuji-node processes
at the five levels (province 330000000000 down to township 330106001000),
two villages under the township: village A (330106001201) runs in a
network namespace of its own, wjv-<pid>, and reaches the township through
a veth pair that is slow and lossy both ways (wjtest.SlowLink: 200 ms +-
50 ms, 5 % loss, 256 kbit/s, with tc netem where the kernel has it);
village B (330106001202) stays on this host.  CURVE links over TCP, LMDB
stores, node-ctl as the clerks and operators use it.

  1. cases that A takes over the slow link all reach the township, county,
     city and province, exactly once (the numbers node-ctl acknowledged,
     one submitted entry each), and decisions the county takes come back
     down to A;
  2. A's link cut for OUTAGE_S seconds (its end of the veth down) while
     both villages keep taking cases: each of B's cases still reaches the
     county (a bounded wait per case), A's stay at A;
  3. the link back: A's backlog drains, everything converges, node-ctl
     verify is clean on every node, and the township's node-ctl peers
     showed A's link down during the cut and up again after it;
  4. A's resident memory (VmRSS) stays under RSS_LIMIT_KB throughout.

PileUpTest needs no namespace: a village whose township is away piles up
PILE_CASES cases, and counting them (node-ctl peers, as an operator
looks at the backlog) must leave it under RSS_LIMIT_KB again.

Nothing here asserts a duration: each bound only keeps a broken run
finite.  The figures the run measures (A's catch-up after the cut, its
largest RSS, its backlog during the cut) are printed as `figure:` lines.

SlowLinkTest skips itself when this machine cannot make the namespace
(not root, no iproute2, `ip netns` refused); PileUpTest runs anywhere.  WJ_SLOW_LINK=netem|wire forces how
the link is slowed (see wjtest.SlowLink); WJ_KEEP=1 keeps the node
directories."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
from wjtest import (CITY, COUNTY, PROVINCE, SAMPLES, TOWNSHIP,  # noqa: E402
                    VILLAGE, wait_until)

wjtest.import_zmq('test_slow_link')   # for wjtest.submit_many

VILLAGE_A = VILLAGE            # behind the slow link
VILLAGE_B = '330106001202'     # on this host
UPPER = (TOWNSHIP, COUNTY, CITY, PROVINCE)

# deploy/samples/catalog.yaml: may be submitted at a village, decided by
# the county's agriculture bureau (县农业农村局).
ITEM = '330000-XK-00103'

SLOW_CASES = 12        # A's cases while the link is only slow
OUTAGE_S = 20          # how long A's link stays cut, at least
CUT_CASES = 640        # A's cases during the cut, at least: some 230 KB
                       # of events, more than the link carries in the 5 s
                       # after which a silent peer counts as gone
ROUND_S = 0.25         # during the cut: each round at least this long,
ROUND_A = 8            # with this many cases at A and one at B
RSS_LIMIT_KB = 16 * 1024   # a village's memory budget (README)
PILE_CASES = 20000     # PileUpTest: cases behind a township that is away
MORE_EACH = 10         # PileUpTest: cases taken at a time while it drains

# Bounds of the waits (not timing assertions).
SPREAD_WAIT = 40.0     # catalog and calendar from the province to A
REPL_WAIT = 40.0       # a case or step to cross the slow link and go up
B_WAIT = 10.0          # one of B's cases to reach the county during the cut
STATE_WAIT = 20.0      # a link state to show in node-ctl peers
CATCHUP_WAIT = 60.0    # A's backlog to drain after the cut


def code_str(v):
    return None if v is None else '%012d' % int(v)


class SlowLinkTest(wjtest.NodeTest):

    def setUp(self):
        why = wjtest.SlowLink.unavailable()
        if why:
            self.skipTest('a village on a slow link needs a network '
                          'namespace: %s' % why)
        super().setUp()
        self.link = wjtest.SlowLink()
        # Runs after tearDown has stopped the nodes (A among them, which
        # lives in the namespace).
        self.addCleanup(self.close_link)
        self.link.up()
        print('link: %s' % self.link.describe(), flush=True)

        codes = (PROVINCE, CITY, COUNTY, TOWNSHIP, VILLAGE_A, VILLAGE_B)
        self.n = {c: self.new_node(c) for c in codes}
        base = wjtest.free_port_base(4)
        listen = {PROVINCE: 'tcp://127.0.0.1:%d' % base,
                  CITY: 'tcp://127.0.0.1:%d' % (base + 1),
                  COUNTY: 'tcp://127.0.0.1:%d' % (base + 2),
                  # Both villages connect here: A through the veth, B
                  # locally (the address is this host's).
                  TOWNSHIP: 'tcp://%s:%d' % (self.link.host_addr,
                                             base + 3)}
        wjtest.link_nodes(list(self.n.values()), listen)
        # meson sets MALLOC_PERTURB_, which makes malloc write every byte
        # it hands out: memory a node reserves but never uses would count
        # as resident.  A's memory is measured as it runs in the field.
        self.n[VILLAGE_A].wrap = self.link.exec_argv() + \
            ['env', '-u', 'MALLOC_PERTURB_']
        for c in codes:
            self.n[c].start()
        # `ip netns exec` and env exec the daemon: the PID is its own.
        self.a_pid = self.n[VILLAGE_A].proc.pid
        exe = os.path.basename(os.readlink('/proc/%d/exe' % self.a_pid))
        self.assertEqual(exe, 'wuji-node')
        self.rss = []      # (seconds since start, KiB) of A

    def close_link(self):
        self.link.close()
        if self.link.wire_summary:
            print(self.link.wire_summary.strip(), flush=True)

    # -- helpers
    def ctl(self, code, *args, json_out=False):
        return self.n[code].ctl(*args, json_out=json_out)

    def okj(self, code, *args):
        return super().okj(self.n[code], *args)

    def sample_rss(self):
        kb = wjtest.vm_rss_kb(self.a_pid)
        self.assertIsNotNone(kb, 'village A (pid %d) is gone; its log:\n%s'
                             % (self.a_pid, self.n[VILLAGE_A].log_text()))
        self.rss.append(kb)
        return kb

    def case_at(self, code, number):
        r = self.ctl(code, 'show', number, json_out=True)
        return r.json() if r.rc == 0 else None

    def numbers_at(self, code, village):
        """Case numbers of `village` at a node, as listed (duplicates
        kept)."""
        return [c['number'] for c in wjtest.list_all(self.n[code].endpoint)
                if c['number'].startswith(village + '-')]

    def peer(self, at, code):
        """The entry for `code` in node-ctl peers --json at `at`."""
        r = self.ctl(at, 'peers', json_out=True)
        if r.rc != 0:
            return None
        for p in r.json():
            if code_str(p.get('node')) == code:
                return p
        return None

    def submit(self, code, applicant):
        args = ['submit', '--item', ITEM, '--applicant', applicant]
        for m in self.materials:
            args += ['--material', m]
        obj = self.okj(code, *args)
        num = obj.get('number', '')
        self.assertTrue(num.startswith(code + '-'), obj)
        return num

    def logs(self, codes=(VILLAGE_A, TOWNSHIP)):
        return ''.join('--- %s\n%s\n' % (c, self.n[c].log_text(3000))
                       for c in codes)

    def wait_status(self, code, number, status, timeout=REPL_WAIT):
        last = [None]

        def there():
            c = self.case_at(code, number)
            last[0] = c and c.get('status')
            return last[0] == status
        ok = wait_until(there, timeout, interval=0.2)
        self.assertTrue(ok, 'case %s at %s: %s, expected %s within %.0f s\n%s'
                        % (number, code, last[0], status, timeout,
                           self.logs()))

    def wait_all(self, code, village, numbers, timeout):
        want = set(numbers)
        ok = wait_until(lambda: want <= set(self.numbers_at(code, village)),
                        timeout, interval=0.25)
        missing = sorted(want - set(self.numbers_at(code, village)))
        self.assertTrue(ok and not missing,
                        '%d of %d cases of %s not at %s within %.0f s: %s\n%s'
                        % (len(missing), len(want), village, code, timeout,
                           missing[:10], self.logs()))

    def assert_exactly_once(self, village, acked):
        """At every node above the village: the acknowledged cases, each
        listed once, each with one submitted entry (no event applied
        twice), and no case the village never acknowledged."""
        for code in UPPER:
            listed = self.numbers_at(code, village)
            dups = sorted({x for x in listed if listed.count(x) > 1})
            self.assertEqual(dups, [], '%s lists cases twice' % code)
            self.assertEqual(sorted(listed), sorted(acked),
                             'cases of %s at %s: %d listed, %d acknowledged'
                             % (village, code, len(listed), len(acked)))
        for num in acked:
            c = self.case_at(PROVINCE, num)
            subs = [h for h in c['history'] if h['event'] == 'submitted']
            self.assertEqual(len(subs), 1, '%s at the province: %s'
                             % (num, c['history']))
            self.assertEqual(code_str(subs[0]['node']), village)

    # -- the test
    def test_village_on_slow_link(self):
        t0 = time.monotonic()
        self.spread()
        self.materials = [m['name'] for m in
                          self.okj(VILLAGE_A, 'catalog', 'show', ITEM)
                          ['materials'] if m['required']]
        self.sample_rss()

        # 1. Cases over the slow link, and decisions coming back down.
        slow = [self.submit(VILLAGE_A, 'Slow %d' % i)
                for i in range(SLOW_CASES)]
        b_cases = [self.submit(VILLAGE_B, 'Near %d' % i) for i in range(3)]
        self.sample_rss()
        for code in UPPER:
            self.wait_all(code, VILLAGE_A, slow, REPL_WAIT)
        self.wait_all(COUNTY, VILLAGE_B, b_cases, REPL_WAIT)
        decided, held = slow[:2], slow[2]
        for num in decided + [held]:
            self.ok(self.n[VILLAGE_A], 'accept', num)
        for num in decided + [held]:
            self.wait_status(COUNTY, num, 'accepted')
        self.ok(self.n[COUNTY], 'decide', decided[0], '--approve',
                '--certificate', 'NY-2026-001')
        self.ok(self.n[COUNTY], 'decide', decided[1], '--deny', '--reason',
                'outside the village plan')
        self.wait_status(VILLAGE_A, decided[0], 'approved')
        self.wait_status(VILLAGE_A, decided[1], 'denied')
        print('at village A over the slow link:\n%s'
              % self.ok(self.n[VILLAGE_A], 'show', decided[0]).out,
              flush=True)
        self.sample_rss()

        # 2. The link cut while both villages keep working.
        self.link.cut()
        cut_at = time.monotonic()
        print('link cut at %.1f s' % (cut_at - t0), flush=True)
        during, b_late, township_saw, a_backlog = [], [], set(), []
        # A decision for A taken while A cannot hear it.
        self.ok(self.n[COUNTY], 'decide', held, '--approve')
        i = 0
        while (time.monotonic() - cut_at < OUTAGE_S or
               len(during) < CUT_CASES) and i < 400:
            round_end = time.monotonic() + ROUND_S
            during += [self.submit(VILLAGE_A, 'Cut %d-%d' % (i, k))
                       for k in range(ROUND_A)]
            b = self.submit(VILLAGE_B, 'Near cut %d' % i)
            b_cases.append(b)
            if not wait_until(lambda: self.case_at(COUNTY, b) is not None,
                              B_WAIT, interval=0.1):
                b_late.append(b)
            p = self.peer(TOWNSHIP, VILLAGE_A)
            township_saw.add(p and p['state'])
            p = self.peer(VILLAGE_A, TOWNSHIP)
            if p:
                a_backlog.append(p['backlog'])
            self.sample_rss()
            i += 1
            time.sleep(max(0.0, round_end - time.monotonic()))
        self.assertEqual(b_late, [], '%d of %d cases of village B did not '
                         'reach the county within %.0f s while A was cut '
                         'off\n%s' % (len(b_late), i, B_WAIT,
                                      self.logs((VILLAGE_B, TOWNSHIP))))
        if 'down' not in township_saw:
            township_saw.add(wait_until(
                lambda: (self.peer(TOWNSHIP, VILLAGE_A) or {}).get('state')
                == 'down' and 'down', STATE_WAIT))
        self.assertIn('down', township_saw, 'the township never showed A '
                      'down while it was cut off; states seen: %s'
                      % township_saw)
        at_township = set(self.numbers_at(TOWNSHIP, VILLAGE_A))
        leaked = [x for x in during if x in at_township]
        self.assertEqual(leaked, [], 'cases taken during the cut reached '
                         'the township: the link was not cut')
        self.assertEqual(self.case_at(VILLAGE_A, held)['status'], 'accepted')
        print('figure: %d cases at A and %d at B during a %.0f s cut; A\'s '
              'backlog to the township (peers): %s; A\'s VmRSS up to %d KiB'
              % (len(during), i, time.monotonic() - cut_at,
                 a_backlog[-1:] and a_backlog[-1], max(self.rss)),
              flush=True)

        # 3. Back up: everything converges.
        self.link.heal()
        healed_at = time.monotonic()
        acked = slow + during
        self.wait_all(PROVINCE, VILLAGE_A, acked, CATCHUP_WAIT)
        print('figure: A caught up (all %d cases at the province) %.1f s '
              'after the link came back' % (len(acked),
                                            time.monotonic() - healed_at),
              flush=True)
        self.sample_rss()
        self.wait_status(VILLAGE_A, held, 'approved')
        ok = wait_until(lambda: (self.peer(TOWNSHIP, VILLAGE_A) or {})
                        .get('state') == 'up', STATE_WAIT)
        self.assertTrue(ok, 'the township does not show A up again: %s'
                        % self.peer(TOWNSHIP, VILLAGE_A))
        for code in UPPER:
            self.wait_all(code, VILLAGE_A, acked, REPL_WAIT)
        self.assert_exactly_once(VILLAGE_A, acked)
        self.assert_exactly_once(VILLAGE_B, b_cases)
        p = self.peer(VILLAGE_A, TOWNSHIP)
        ok = wait_until(lambda: (self.peer(VILLAGE_A, TOWNSHIP) or {})
                        .get('backlog') == 0, REPL_WAIT)
        self.assertTrue(ok, 'A still has a backlog to the township: %s'
                        % self.peer(VILLAGE_A, TOWNSHIP))
        bad = []
        for code, node in sorted(self.n.items()):
            r = node.ctl('verify', json_out=True)
            if r.rc != 0 or r.json().get('problems'):
                bad.append('%s: %r' % (code, r))
        self.assertEqual(bad, [], 'node-ctl verify')

        # 4. A's memory.
        self.sample_rss()
        print('figure: village A VmRSS KiB min %d max %d last %d (%d '
              'samples, %d cases at A)' % (min(self.rss), max(self.rss),
                                           self.rss[-1], len(self.rss),
                                           len(acked)), flush=True)
        san = wjtest.sanitizer_of(self.a_pid)
        if san:
            print('village A runs with %s: its memory bound is not checked'
                  % san, flush=True)
        else:
            self.assertLess(max(self.rss), RSS_LIMIT_KB,
                            'village A resident memory: %s KiB' % self.rss)
        print('test took %.1f s' % (time.monotonic() - t0), flush=True)

    def spread(self):
        for what, name in (('calendar', 'calendar-2026.yaml'),
                           ('catalog', 'catalog.yaml')):
            self.ok(self.n[PROVINCE], what, 'load',
                    os.path.join(SAMPLES, name))
        items = self.okj(PROVINCE, 'status')['catalog_items']
        last = {}

        def everywhere():
            for code, node in self.n.items():
                r = node.ctl('status', json_out=True)
                st = r.json() if r.rc == 0 else {}
                last[code] = (st.get('catalog_items'),
                              st.get('calendar_years'))
                if last[code][0] != items or 2026 not in (last[code][1] or []):
                    return False
            return True
        ok = wait_until(everywhere, SPREAD_WAIT, interval=0.2)
        self.assertTrue(ok, 'catalog (%d items) and calendar not everywhere '
                        'within %.0f s: %s\n%s'
                        % (items, SPREAD_WAIT, json.dumps(last), self.logs()))


class PileUpTest(wjtest.NodeTest):
    """A village keeps taking cases while its township is away (not yet
    started), then an operator asks node-ctl peers for the backlog: the
    count must not hold the backlog in memory.  Then the township comes:
    the village sends it everything and, once it is acknowledged, trims
    its change log, while it keeps taking a few cases at a time.  Through
    all of it the village's resident memory, sampled every SAMPLE_S,
    stays under RSS_LIMIT_KB (every page read maps the page-cache folio
    around it: a village that read its whole backlog at once, or trimmed
    it in one go, went to 41-44 MB)."""

    SAMPLE_S = 0.05

    def test_backlog_counted_sent_and_trimmed_in_bounded_memory(self):
        township = self.new_node(TOWNSHIP)
        village = self.new_node(VILLAGE_A)
        port = wjtest.free_port_base(1)
        wjtest.link_nodes([township, village],
                          {TOWNSHIP: 'tcp://127.0.0.1:%d' % port})
        # As in SlowLinkTest: no MALLOC_PERTURB_ for the node measured.
        village.wrap = ['env', '-u', 'MALLOC_PERTURB_']
        # debug: the village says when it trims its change log.
        village.start(extra=['--log-level', 'debug'])
        pid = village.proc.pid
        for what, name in (('calendar', 'calendar-2026.yaml'),
                           ('catalog', 'catalog.yaml')):
            self.ok(village, what, 'load', os.path.join(SAMPLES, name))
        mats = [m['name'] for m in
                self.okj(village, 'catalog', 'show', ITEM)['materials']
                if m['required']]
        numbers = wjtest.submit_many(
            village.endpoint, ITEM,
            ['Pile %d' % i for i in range(PILE_CASES)], mats)
        self.assertEqual(len(set(numbers)), PILE_CASES)
        # What the burst of submissions left mapped goes at the next tick.
        wait_until(lambda: wjtest.vm_rss_kb(pid) < RSS_LIMIT_KB, 5.0,
                   interval=0.2)

        counted = []
        for _ in range(3):
            peers = self.okj(village, 'peers')
            self.assertEqual([(code_str(p['node']), p['state'], p['backlog'])
                              for p in peers],
                             [(TOWNSHIP, 'connecting', PILE_CASES)])
            counted.append(wjtest.vm_rss_kb(pid))
            time.sleep(1.1)   # past the one-second cache of the count

        sampler = wjtest.Sampler(lambda: wjtest.vm_rss_kb(pid),
                                 self.SAMPLE_S)
        # Cases keep coming while the village sends and trims, a few at
        # a time as a busy window takes them: once the trim has freed
        # pages all over the store, every commit copies its leaves into
        # other page-cache folios.
        more = []

        def take_more():
            more.extend(wjtest.submit_many(
                village.endpoint, ITEM,
                ['More %d' % (len(more) + i) for i in range(MORE_EACH)], mats))
        try:
            township.start()

            def drained_and_trimmed():
                p = self.okj(village, 'peers')
                n = sum(int(k) for k in re.findall(
                    r'trimmed (\d+) change-log entries',
                    village.log_text(10 ** 7)))
                take_more()
                return (p[0]['state'] == 'up' and p[0]['backlog'] < 100 and
                        n >= PILE_CASES)
            # Maintenance runs every 5 s, and may trim part of the log
            # while the rest is still on its way: bounded wait until every
            # piled-up case's entry has gone.
            self.assertTrue(
                wait_until(drained_and_trimmed, 120.0, interval=0.05),
                'the village did not send and trim its backlog: %s\n%s'
                % (self.okj(village, 'peers'), village.log_text()))
            # A few more after the trim.
            for _ in range(20):
                take_more()
                time.sleep(0.05)
        finally:
            sent = sampler.stop()
        wait_until(lambda: self.okj(township, 'status')['cases'] ==
                   PILE_CASES + len(more), 60.0, interval=0.2)
        self.assertEqual(self.okj(township, 'status')['cases'],
                         PILE_CASES + len(more))
        print('figure: village with %d cases piled up: VmRSS %s KiB right '
              'after each node-ctl peers; %d samples while it sent them, '
              'trimmed its log and took %d more: max %d KiB, last %d KiB'
              % (PILE_CASES, counted, len(sent), len(more), max(sent),
                 sent[-1]),
              flush=True)
        san = wjtest.sanitizer_of(pid)
        if san:
            print('the village runs with %s: its memory bound is not '
                  'checked' % san, flush=True)
            return
        for kb in counted:
            self.assertLess(kb, RSS_LIMIT_KB, 'village resident memory '
                            'right after counting a backlog of %d cases: '
                            '%s KiB' % (PILE_CASES, counted))
        self.assertLess(max(sent), RSS_LIMIT_KB, 'village resident memory '
                        'while sending and trimming %d cases and taking %d '
                        'more: up to %d KiB' % (PILE_CASES, len(more),
                                                max(sent)))


if __name__ == '__main__':
    wjtest.main()
