"""Integration: durability under a crash.  Eight clients submit cases as fast
as they can; the daemon is killed with SIGKILL at a random moment; it is
restarted on the same data directory.  Every submit that was acknowledged
(node-ctl exit 0 with a case number) must be there afterwards, with its
applicant and item, and `node-ctl verify` must find no problem.  Three
rounds on the same data directory, the acknowledgements accumulating.

The seed of the random delays is printed; rerun with WJ_CRASH_SEED=N to
repeat a run.  Nothing here asserts anything about timing."""

import concurrent.futures
import json
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
from wjtest import COUNTY, ITEM_SIMPLE, NodeTest, ctl_argv  # noqa: E402

ROUNDS = 3
WORKERS = 8
MAX_SUBMITS = 400     # per worker and round
MAX_SECONDS = 20      # per worker and round
DELAY = (0.3, 1.5)    # seconds between the start of the load and the kill

SEED = int(os.environ.get('WJ_CRASH_SEED') or
           random.SystemRandom().randrange(1 << 32))


class CrashTest(NodeTest):

    def load(self, node, rnd_no, stop, acked_now, problems, lock):
        """Runs the workers until stop is set; fills acked_now."""

        def worker(w):
            deadline = time.monotonic() + MAX_SECONDS
            for i in range(MAX_SUBMITS):
                if stop.is_set() or time.monotonic() > deadline:
                    return
                name = 'Crash r%d w%d n%d' % (rnd_no, w, i)
                argv = ctl_argv(['submit', '--item', ITEM_SIMPLE,
                                 '--applicant', name], node.endpoint,
                                json_out=True)
                try:
                    p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, timeout=60)
                except subprocess.TimeoutExpired:
                    with lock:
                        problems.append('%s: node-ctl hung' % name)
                    return
                if p.returncode != 0:
                    # Refused or unreachable: not acknowledged.  Before the
                    # kill nothing should be refused.
                    if not stop.is_set() and p.returncode not in (3,) and \
                            node.running():
                        with lock:
                            problems.append('%s: exit %d before the kill: %s'
                                            % (name, p.returncode,
                                               p.stderr.decode(errors='replace')))
                    continue
                try:
                    num = json.loads(p.stdout)['number']
                except (ValueError, KeyError, TypeError):
                    with lock:
                        problems.append('%s: exit 0 but no number: %r'
                                        % (name, p.stdout))
                    continue
                with lock:
                    if num in acked_now:
                        problems.append('number %s given twice (%s, %s)'
                                        % (num, acked_now[num], name))
                    acked_now[num] = name

        threads = [threading.Thread(target=worker, args=(w,), daemon=True)
                   for w in range(WORKERS)]
        for t in threads:
            t.start()
        return threads

    def check_all(self, node, acked):
        """Every acknowledged case is there, with its applicant and item."""

        def one(item):
            num, name = item
            r = node.ctl('show', num, json_out=True)
            if r.rc != 0:
                return '%s (%s): show exit %d: %s' % (num, name, r.rc,
                                                       r.text.strip())
            try:
                c = json.loads(r.out)
            except ValueError:
                return '%s: show --json is not JSON: %r' % (num, r.out)
            bad = []
            if c.get('number') != num:
                bad.append('number %r' % c.get('number'))
            if wjtest.applicant_name(c) != name:
                bad.append('applicant %r, expected %r'
                           % (wjtest.applicant_name(c), name))
            if c.get('item') != ITEM_SIMPLE:
                bad.append('item %r' % c.get('item'))
            if c.get('status') != 'received':
                bad.append('status %r' % c.get('status'))
            return '%s: %s' % (num, ', '.join(bad)) if bad else None

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            errors = [e for e in ex.map(one, sorted(acked.items())) if e]
        self.assertEqual(errors[:20], [], '%d of %d acknowledged cases wrong '
                         'or missing after the crash (seed %d)'
                         % (len(errors), len(acked), SEED))

    def test_sigkill_under_load(self):
        print('test_crash: seed %d (rerun with WJ_CRASH_SEED=%d)'
              % (SEED, SEED), flush=True)
        rnd = random.Random(SEED)
        node = self.start_node(COUNTY)
        acked = {}
        for rnd_no in range(1, ROUNDS + 1):
            stop, lock = threading.Event(), threading.Lock()
            acked_now, problems = {}, []
            threads = self.load(node, rnd_no, stop, acked_now, problems, lock)
            delay = rnd.uniform(*DELAY)
            time.sleep(delay)
            node.kill()
            stop.set()
            for t in threads:
                t.join(120)
                self.assertFalse(t.is_alive(), 'a worker did not finish')
            self.assertEqual(problems[:20], [], 'round %d' % rnd_no)
            again = set(acked_now) & set(acked)
            self.assertEqual(again, set(), 'round %d gave numbers already '
                             'given in an earlier round' % rnd_no)
            acked.update(acked_now)
            print('round %d: killed after %.2f s, %d acknowledged '
                  '(%d in all)' % (rnd_no, delay, len(acked_now), len(acked)),
                  flush=True)

            node.start()   # same data dir, stale socket file and all
            self.check_all(node, acked)
            r = node.ctl('verify')
            self.assertEqual(r.rc, 0, 'round %d: %r' % (rnd_no, r))
            rep = self.okj(node, 'verify')
            if isinstance(rep, dict) and 'problems' in rep:
                self.assertEqual(rep['problems'], [], 'round %d' % rnd_no)
            # Every page: one list shows at most 1,000 cases.
            cases = wjtest.list_all(node.endpoint)
            self.assertGreaterEqual(len(cases), len(acked),
                                    'round %d: list --json' % rnd_no)
            numbers = [c['number'] for c in cases]
            self.assertEqual(len(numbers), len(set(numbers)),
                             'list --json repeats a case')
        self.assertGreater(len(acked), 0, 'no submit was acknowledged in '
                           '%d rounds: the test proved nothing' % ROUNDS)
        self.assertEqual(node.stop(), 0, node.log_text())


if __name__ == '__main__':
    wjtest.main()
