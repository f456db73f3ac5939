"""Integration: a whole province tree of wuji-node processes replicating over
CURVE links (issue 3), started by deploy/tree (31 nodes, shape 1-2-2-2-2)
and driven with node-ctl at the nodes a clerk would use.

  1. a city-county joint approval: accepted once at the county, each task
     decided at its own level, the same case (due date, every
     department's status, history) at county, city and province, and
     nowhere else;
  2. a village case decided by the county and delivered at the village;
  3. a county down while its villages keep taking cases: nothing lost;
  4. a relay (township) and the county killed with SIGKILL under load:
     every acknowledged case reaches the province exactly once, with no
     duplicated history, and every store verifies;
  5. a node with an unknown key, and one with a stolen key claiming
     another code, are refused by the county and learn and leak nothing;
  6. node-ctl peers and tree;
  7. a chain whose nodes are all told to stop at once (parents go while
     their children stop) stops: every node exits on SIGTERM.

One tree per test class (setUpClass/tearDownClass run deploy/tree up and
down in a temporary directory, on a random free base port).  Nothing here
asserts anything about timing: every wait_until bound only keeps a broken
run finite.  WJ_KEEP=1 keeps the tree directory (each node's node.log) for a
post-mortem."""

import concurrent.futures
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
# Now, not in a test: without the module this interpreter is replaced by
# the system one, which must not happen with a tree already running.
zmq = wjtest.import_zmq('test_tree.py')
from wjtest import (CAL_2026, CITY, COUNTY, PROVINCE, TOWNSHIP,  # noqa: E402
                    VILLAGE, CASE_NUMBER_RE, DATE_RE, EXIT_REFUSED, KEEP,
                    SAMPLES, SOURCE_ROOT, due_candidates, today_cst,
                    wait_until)

TREE = os.path.join(SOURCE_ROOT, 'deploy', 'tree')
# deploy/tree wants the build directory; NODE is BUILD/node/wuji-node.
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(wjtest.NODE)))
SHAPE = '1-2-2-2-2'
N_NODES = 1 + 2 + 4 + 8 + 16
PORTS = 64              # ports checked free from the base port on (31 used)

# Codes of the tree deploy/tree builds for 1-2-2-2-2 (besides wjtest's
# PROVINCE, CITY, COUNTY, TOWNSHIP and VILLAGE = 330106001201).
CITY2 = '330200000000'
COUNTY2 = '330107000000'      # the other county of city 1
COUNTY3 = '330206000000'      # a county of city 2
TOWNSHIP2 = '330106002000'    # the other township of COUNTY
VILLAGE2 = '330106001202'     # VILLAGE's sibling
VILLAGE3 = '330106002201'     # a village of TOWNSHIP2
VILLAGE4 = '330106002202'
COUNTY_VILLAGES = (VILLAGE, VILLAGE2, VILLAGE3, VILLAGE4)

# Items of deploy/samples/catalog.yaml.
ITEM_JOINT = '330000-BL-00115'     # county + city departments, at county
ITEM_REPORTED = '330000-XK-00102'  # county department, may apply at village
ITEM_VILLAGE = '330000-GG-00105'   # village department, at village only
ITEM_TOWNSHIP = '330000-GG-00106'  # township department, village/township

# Bounds of the waits (not timing assertions).
SPREAD_WAIT = 20.0     # catalog and calendar from the province to all
                       # (after deploy/tree up's own wait)
REPL_WAIT = 30.0       # a step to reach the other nodes of a case
CATCHUP_WAIT = 90.0    # a restarted node to catch up and forward
QUIET_WAIT = 5.0       # waiting for something that must NOT happen
TREE_TIMEOUT = 180     # one deploy/tree run

LOAD_WORKERS = VILLAGE, VILLAGE2, VILLAGE3, VILLAGE4
LOAD_MAX = 100         # submits per worker
LOAD_SECONDS = 20      # per worker


def level_of(code):
    """The level a 12-digit code names (trailing zeros)."""
    if code[2:] == '0' * 10:
        return 'province'
    if code[4:] == '0' * 8:
        return 'city'
    if code[6:] == '0' * 6:
        return 'county'
    if code[9:] == '000':
        return 'township'
    return 'village'


def code_str(v):
    """A node code from JSON (string or number) as 12 digits."""
    if v is None:
        return None
    return '%012d' % int(v)


# --------------------------------------------------------- CURVE key pairs
# A fresh key pair for a node the county does not know, made here (RFC 7748
# X25519 on the base point, Z85 as ZeroMQ writes keys) so the test needs no
# key tool of the code it tests.

_P = 2 ** 255 - 19
_Z85 = ('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
        '.-:+=^!/*?&<>()[]{}@%$#')


def _x25519_base(secret):
    k = bytearray(secret)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, 'little')
    x1, x2, z2, x3, z3, swap = 9, 1, 0, 9, 1, 0
    for t in range(254, -1, -1):
        kt = (k >> t) & 1
        if swap ^ kt:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = (x2 + z2) % _P, (x2 - z2) % _P
        aa, bb = a * a % _P, b * b % _P
        e = (aa - bb) % _P
        c, dd = (x3 + z3) % _P, (x3 - z3) % _P
        da, cb = dd * a % _P, c * b % _P
        x3, z3 = (da + cb) ** 2 % _P, x1 * (da - cb) ** 2 % _P
        x2, z2 = aa * bb % _P, e * (aa + 121665 * e) % _P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, _P - 2, _P) % _P).to_bytes(32, 'little')


def _z85(b):
    out = []
    for i in range(0, len(b), 4):
        v = int.from_bytes(b[i:i + 4], 'big')
        out.append(''.join(_Z85[(v // 85 ** j) % 85]
                           for j in range(4, -1, -1)))
    return ''.join(out)


def new_keypair():
    """(public, secret), Z85."""
    secret = os.urandom(32)
    return _z85(_x25519_base(secret)), _z85(secret)


def read_conf(path):
    """The `key: value` lines of a node config (quotes and comments
    removed)."""
    out = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            s = line.strip()
            if not s or s.startswith('#') or ':' not in s:
                continue
            k, v = s.split(':', 1)
            v = v.strip()
            if v[:1] in ('"', "'"):
                q = v[0]
                v = v[1:v.index(q, 1)] if q in v[1:] else v[1:]
            else:
                v = v.split(' #', 1)[0].strip()
            out[k.strip()] = v
    return out


# ------------------------------------------------------------------ the tree

class Tree:
    """A tree of nodes run by deploy/tree in its own temporary directory."""

    def __init__(self, shape=SHAPE):
        self.shape = shape
        self.dir = tempfile.mkdtemp(prefix='wj-tree-')
        self.base_port = wjtest.free_port_base(PORTS)
        self.endpoints = {}   # code -> control endpoint
        self.levels = {}      # code -> level as listed

    def run(self, *args, timeout=TREE_TIMEOUT):
        return wjtest.run([TREE] + [str(a) for a in args], timeout=timeout)

    def up(self):
        r = self.run('up', self.dir, '--shape', self.shape, '--base-port',
                     self.base_port, '--build', BUILD)
        if r.rc != 0:
            raise AssertionError('deploy/tree up failed:\n%r\n%s'
                                 % (r, self.log_tails()))
        r = self.run('list', self.dir)
        if r.rc != 0:
            raise AssertionError('deploy/tree list failed:\n%r' % r)
        for line in r.out.splitlines():
            f = line.split()
            if len(f) < 3 or line.lstrip().startswith('#'):
                continue
            self.levels[f[0]] = f[1]
            self.endpoints[f[0]] = f[2]
        return r

    def kill(self, code):
        r = self.run('kill', self.dir, code)
        if r.rc != 0:
            raise AssertionError('deploy/tree kill %s failed:\n%r' % (code, r))

    def start(self, code):
        r = self.run('start', self.dir, code)
        if r.rc != 0:
            raise AssertionError('deploy/tree start %s failed:\n%r\n%s'
                                 % (code, r, self.log_tail(code)))

    def down(self):
        return self.run('down', self.dir)

    def remove(self):
        if KEEP:
            sys.stderr.write('kept %s\n' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- files
    def node_dir(self, code):
        return os.path.join(self.dir, code)

    def log_path(self, code):
        return os.path.join(self.dir, code, 'node.log')

    def log_text(self, code):
        try:
            with open(self.log_path(code), encoding='utf-8',
                      errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def log_tail(self, code, lines=25):
        text = self.log_text(code).splitlines()[-lines:]
        return '--- %s/node.log (last %d lines)\n%s\n' % (
            code, len(text), '\n'.join(text))

    def log_tails(self, codes=(PROVINCE, CITY, COUNTY, TOWNSHIP, VILLAGE)):
        return ''.join(self.log_tail(c) for c in codes)

    def config(self, code):
        """(path, settings) of the node's config file in its directory:
        the file there that sets `id`."""
        d = self.node_dir(code)
        names = sorted(os.listdir(d))
        names = [n for n in names if n.endswith(('.conf', '.yaml', '.yml'))] \
            + [n for n in names if not n.endswith(('.conf', '.yaml', '.yml'))]
        for name in names:
            p = os.path.join(d, name)
            if not os.path.isfile(p) or os.path.getsize(p) > 1 << 20:
                continue
            try:
                conf = read_conf(p)
            except (OSError, UnicodeDecodeError):
                continue
            if conf.get('id', '').strip('"\'') == code:
                return p, conf
        raise AssertionError('no config file setting id %s in %s (files: %s)'
                             % (code, d, os.listdir(d)))

    # -- node-ctl
    def ctl(self, code, *args, json_out=False, timeout=wjtest.CTL_TIMEOUT):
        return wjtest.ctl(self.endpoints[code], *args, json_out=json_out,
                          timeout=timeout)

    def peers(self, code):
        """(result, list of links) of node-ctl peers --json at code; the
        list is empty when the call failed."""
        r = self.ctl(code, 'peers', json_out=True)
        if r.rc != 0:
            return r, []
        peers = r.json()
        if isinstance(peers, dict):
            peers = peers.get('peers', [])
        return r, peers


class TreeTestCase(unittest.TestCase):
    """Base: one tree for the class, started in setUpClass."""

    maxDiff = None
    tree = None

    @classmethod
    def setUpClass(cls):
        wjtest.check_binaries()
        if not os.access(TREE, os.X_OK):
            raise AssertionError('%s is missing or not executable' % TREE)
        cls.tree = Tree()
        try:
            cls.tree.up()
            cls.wait_spread()
        except BaseException:
            cls.tree.down()
            cls.tree.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.tree is not None:
            r = cls.tree.down()
            if r.rc != 0:
                sys.stderr.write('deploy/tree down: %r\n' % r)
            cls.tree.remove()

    @classmethod
    def wait_spread(cls):
        """Waits (bounded, no assertion) until every node holds as many
        catalog items as the province and the 2026 calendar; the tests
        check it."""
        t = cls.tree
        items = cls.province_items()

        def spread(code):
            def have():
                r = t.ctl(code, 'status', json_out=True)
                if r.rc != 0:
                    return False
                st = r.json()
                return (st.get('catalog_items') == items and
                        2026 in st.get('calendar_years', []))
            return wait_until(have, SPREAD_WAIT)

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(spread, sorted(t.endpoints)))

    @classmethod
    def province_items(cls):
        r = cls.tree.ctl(PROVINCE, 'status', json_out=True)
        return r.json().get('catalog_items') if r.rc == 0 else None

    # -- node-ctl helpers
    def ctl(self, code, *args, json_out=False):
        return self.tree.ctl(code, *args, json_out=json_out)

    def ok(self, code, *args, json_out=False):
        r = self.ctl(code, *args, json_out=json_out)
        self.assertEqual(r.rc, 0, '%r\n%s' % (r, self.tree.log_tail(code)))
        return r

    def okj(self, code, *args):
        return self.ok(code, *args, json_out=True).json()

    def case_at(self, code, number):
        """The case as `show --json` gives it at code, or None when the
        node does not have it (or does not answer now)."""
        r = self.ctl(code, 'show', number, json_out=True)
        if r.rc != 0:
            return None
        c = r.json()
        self.assertIsInstance(c, dict, r)
        return c

    def materials(self, code, item):
        """Every material name of a catalog item, as the node knows it."""
        it = self.okj(code, 'catalog', 'show', item)
        if isinstance(it, dict) and 'items' in it:
            it = it['items'][0]
        return [m['name'] for m in it['materials']]

    def submit(self, code, item, applicant, materials=()):
        args = ['submit', '--item', item, '--applicant', applicant]
        for m in materials:
            args += ['--material', m]
        obj = self.okj(code, *args)
        self.assertIsInstance(obj, dict)
        num = obj.get('number')
        self.assertRegex(num or '', CASE_NUMBER_RE, obj)
        self.assertTrue(num.startswith(code + '-'), num)
        return num

    def list_all(self, code):
        """Every case at the node (list --json, paged with --after)."""
        return wjtest.list_all(self.tree.endpoints[code])

    @staticmethod
    def view(c):
        """What every node holding a case must agree on."""
        if c is None:
            return None
        return {
            'status': c.get('status'),
            'kind': c.get('kind'),
            'origin': code_str(c.get('origin')),
            'due_date': c.get('due_date'),
            'statutory_due': c.get('statutory_due'),
            'accepted_at': c.get('accepted_at'),
            'tasks': [(t.get('index'), t.get('department'),
                       code_str(t.get('node')), t.get('level'),
                       t.get('status'), t.get('certificate'),
                       code_str(t.get('decided_by')))
                      for t in c.get('tasks', [])],
            'history': [(h.get('event'), code_str(h.get('node')),
                         h.get('at')) for h in c.get('history', [])],
            'known_at': sorted(code_str(k) for k in c.get('known_at') or []),
        }

    def wait_converged(self, number, codes, status, task_statuses,
                       timeout=REPL_WAIT):
        """Waits until every node in codes shows the case with `status` and
        the tasks in `task_statuses` (in task order), then asserts that
        they all show the same case.  Returns that view."""
        last = {}

        def there():
            for code in codes:
                c = self.case_at(code, number)
                last[code] = self.view(c)
                if c is None or c['status'] != status or \
                        [t['status'] for t in c['tasks']] != task_statuses:
                    return False
            return True

        ok = wait_until(there, timeout)
        self.assertTrue(ok, 'case %s did not reach status %s with tasks %s '
                        'at %s within %.0f s; last seen:\n%s\n%s'
                        % (number, status, task_statuses, codes, timeout,
                           json.dumps(last, indent=1, ensure_ascii=False),
                           self.tree.log_tails(codes)))
        first = last[codes[0]]
        for code in codes[1:]:
            self.assertEqual(last[code], first, 'case %s: %s and %s disagree'
                             % (number, codes[0], code))
        return first

    def assertAbsent(self, code, number):
        r = self.ctl(code, 'show', number, json_out=True)
        self.assertEqual(r.rc, EXIT_REFUSED, 'case %s should not be at %s: '
                         '%r' % (number, code, r))


# ------------------------------------------------------- flows and security

class SpreadCheck:
    """The tree itself: 31 nodes at their levels, and the catalog and the
    calendar loaded at the province reaching every one of them.  Mixed into
    every class, so a class whose tree came up wrong says so first."""

    def test_0_tree_and_catalog_spread(self):
        t = self.tree
        self.assertEqual(len(t.endpoints), N_NODES,
                         'deploy/tree list:\n%s' % t.run('list', t.dir).out)
        for code, lvl in t.levels.items():
            self.assertRegex(code, r'^33\d{10}$')
            self.assertEqual(lvl, level_of(code), code)
        for code in (PROVINCE, CITY, CITY2, COUNTY, COUNTY2, COUNTY3,
                     TOWNSHIP, TOWNSHIP2) + COUNTY_VILLAGES:
            self.assertIn(code, t.endpoints)
        n = self.province_items()
        self.assertGreater(n or 0, 0, 'the province has no catalog')
        missing = []
        for code in sorted(t.endpoints):
            st = self.okj(code, 'status')
            self.assertEqual(code_str(st.get('node')), code)
            if st.get('catalog_items') != n or \
                    2026 not in st.get('calendar_years', []):
                missing.append('%s: %s items, years %s'
                               % (code, st.get('catalog_items'),
                                  st.get('calendar_years')))
        self.assertEqual(missing, [], 'catalog (%d items) and 2026 calendar '
                         'not at every node after deploy/tree up and %.0f s '
                         'more; their links to their parents:\n%s'
                         % (n, SPREAD_WAIT, self.links_of(missing)))
        # The catalog arrived whole: the same items at a village.
        prov = sorted(i['code'] for i in self.catalog(PROVINCE))
        self.assertEqual(sorted(i['code'] for i in self.catalog(VILLAGE4)),
                         prov)

    def catalog(self, code):
        v = self.okj(code, 'catalog', 'list')
        if isinstance(v, dict):
            v = v.get('items', [])
        self.assertIsInstance(v, list)
        return v

    def links_of(self, missing):
        """The parent link of each node in missing, as both ends see it."""
        out = []
        for line in missing:
            code = line.split(':')[0]
            parent = code_str(int(code) - int(code) % {
                'city': 10 ** 10, 'county': 10 ** 8, 'township': 10 ** 6,
                'village': 10 ** 3}.get(level_of(code), 1))
            for at, peer in ((code, parent), (parent, code)):
                r = self.ctl(at, 'peers', json_out=True)
                p = [x for x in (r.json() if r.rc == 0 else [])
                     if code_str(x.get('node')) == peer]
                out.append('  at %s, peer %s: %s' % (
                    at, peer, json.dumps(p[0] if p else r.text.strip())))
            out.append(self.tree.log_tail(code, 6))
            out.append(self.tree.log_tail(parent, 6))
        return '\n'.join(out)



class TreeFlowTest(SpreadCheck, TreeTestCase):
    """Joint approval, a village case, refused intruders, peers and tree."""

    def test_1_joint_approval(self):
        mats = self.materials(COUNTY, ITEM_JOINT)
        num = self.submit(COUNTY, ITEM_JOINT, 'Hangzhou Foods Ltd', mats)

        # The tasks exist at once, each at its level's node.
        c = self.case_at(COUNTY, num)
        self.assertEqual(c['status'], 'received')
        self.assertEqual(c['kind'], 'joint')
        nodes = {t['level']: code_str(t['node']) for t in c['tasks']}
        self.assertEqual(nodes, {'county': COUNTY, 'city': CITY}, c['tasks'])
        self.assertEqual([t['status'] for t in c['tasks']],
                         ['waiting'] * len(c['tasks']))
        county_task = next(str(t['index']) for t in c['tasks']
                           if t['level'] == 'county')
        city_task = next(str(t['index']) for t in c['tasks']
                         if t['level'] == 'city')
        three = [COUNTY, CITY, PROVINCE]
        self.wait_converged(num, three, 'received', ['waiting', 'waiting'])

        days = {today_cst()}
        self.ok(COUNTY, 'accept', num)
        days.add(today_cst())
        v = self.wait_converged(num, three, 'accepted', ['pending', 'pending'])
        self.assertRegex(v['due_date'] or '', DATE_RE)
        self.assertIn(v['due_date'],
                      due_candidates(CAL_2026, days, c['promised_days']))
        self.assertEqual(v['known_at'], sorted([PROVINCE, CITY, COUNTY]),
                         'known_at of a county-city joint case')

        # Each level decides only its own department's task.
        r = self.ctl(COUNTY, 'decide', num, '--task', city_task, '--approve')
        self.assertEqual(r.rc, EXIT_REFUSED, r)
        self.assertIn(CITY, r.text, r)
        r = self.ctl(CITY, 'decide', num, '--task', county_task, '--approve')
        self.assertEqual(r.rc, EXIT_REFUSED, r)

        self.ok(COUNTY, 'decide', num, '--task', county_task, '--approve',
                '--certificate', 'CTY-001')
        want = ['approved' if t['level'] == 'county' else 'pending'
                for t in c['tasks']]
        self.wait_converged(num, three, 'accepted', want)

        self.ok(CITY, 'decide', num, '--task', city_task, '--approve',
                '--certificate', 'CITY-001')
        v = self.wait_converged(num, three, 'approved',
                                ['approved', 'approved'])
        certs = {t[3]: t[5] for t in v['tasks']}
        self.assertEqual(certs, {'county': 'CTY-001', 'city': 'CITY-001'})
        deciders = {t[3]: t[6] for t in v['tasks']}
        self.assertEqual(deciders, {'county': COUNTY, 'city': CITY})

        self.ok(COUNTY, 'deliver', num)
        v = self.wait_converged(num, three, 'delivered',
                                ['approved', 'approved'])
        self.assertEqual([h[0] for h in v['history']],
                         ['submitted', 'accepted', 'decided', 'decided',
                          'delivered'])
        self.assertEqual([h[1] for h in v['history']],
                         [COUNTY, COUNTY, COUNTY, CITY, COUNTY])

        # Nowhere else: not at the other city, not at other counties, not
        # below the county (no participant lives there).
        for code in (CITY2, COUNTY2, COUNTY3, TOWNSHIP, VILLAGE):
            self.assertAbsent(code, num)

    def test_2_village_case(self):
        mats = self.materials(VILLAGE, ITEM_REPORTED)
        # A supervisor at the province follows what arrives there: the
        # watch is held until the case comes up the tree.
        watcher = subprocess.Popen(
            wjtest.ctl_argv(['watch'], self.tree.endpoints[PROVINCE],
                            json_out=True),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        try:
            time.sleep(0.3)
            num = self.submit(VILLAGE, ITEM_REPORTED, 'Wang Cunmin', mats)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ready, _, _ = select.select([watcher.stdout], [], [], 1)
                if not ready:
                    continue
                line = watcher.stdout.readline()
                if not line:
                    break
                seen.append(json.loads(line))
                if seen[-1]['case'] == num:
                    break
        finally:
            watcher.kill()
            watcher.wait()
        mine = [(c['type'], c['origin']) for c in seen if c['case'] == num]
        self.assertEqual(mine, [('submitted', VILLAGE)],
                         'the province\'s watch did not show the case: %r' % seen)
        c = self.case_at(VILLAGE, num)
        self.assertEqual(c['status'], 'received')
        self.assertEqual(c['kind'], 'reported-up')
        self.assertEqual([code_str(t['node']) for t in c['tasks']], [COUNTY])
        path = [VILLAGE, TOWNSHIP, COUNTY, CITY, PROVINCE]
        v = self.wait_converged(num, path, 'received', ['waiting'])
        self.assertEqual(v['known_at'], sorted(path))

        # The village agent records and accepts it (no rule in the issue
        # makes acceptance the handling node's: accept at the village).
        days = {today_cst()}
        self.ok(VILLAGE, 'accept', num)
        days.add(today_cst())
        v = self.wait_converged(num, path, 'accepted', ['pending'])
        self.assertIn(v['due_date'],
                      due_candidates(CAL_2026, days, c['promised_days']))

        # Only the county decides it.
        r = self.ctl(VILLAGE, 'decide', num, '--approve')
        self.assertEqual(r.rc, EXIT_REFUSED, r)
        self.ok(COUNTY, 'decide', num, '--approve')
        self.wait_converged(num, path, 'approved', ['approved'])

        self.ok(VILLAGE, 'deliver', num)
        v = self.wait_converged(num, path, 'delivered', ['approved'])
        self.assertEqual([(h[0], h[1]) for h in v['history']],
                         [('submitted', VILLAGE), ('accepted', VILLAGE),
                          ('decided', COUNTY), ('delivered', VILLAGE)])
        for code in (VILLAGE2, TOWNSHIP2, VILLAGE3, COUNTY2, CITY2):
            self.assertAbsent(code, num)

    # -- intruders
    def intruder(self, tmp, code, key_file, township_conf):
        """A wuji-node outside the tree whose config names the county as its
        parent (endpoint and key as a real child of the county has them)."""
        n = wjtest.Node(tmp, code)
        n.write_config('# an intruder written by test_tree.py\n'
                       'id: %s\n'
                       'log_level: debug\n'
                       'parent: "%s"\n'
                       'parent_key: "%s"\n'
                       'key_file: "%s"\n'
                       % (code, township_conf['parent'],
                          township_conf['parent_key'], key_file))
        return n

    def test_5_intruders_refused(self):
        _, tconf = self.tree.config(TOWNSHIP)
        for k in ('parent', 'parent_key', 'key_file'):
            self.assertIn(k, tconf, 'config of %s' % TOWNSHIP)
        township_key = tconf['key_file']
        if not os.path.isabs(township_key):
            township_key = os.path.join(self.tree.node_dir(TOWNSHIP),
                                        township_key)
        self.assertTrue(os.path.isfile(township_key), township_key)

        tmp = tempfile.mkdtemp(prefix='wj-intruder-')
        nodes = []
        try:
            self._intruders(tmp, nodes, township_key, tconf)
        finally:
            for n in nodes:
                n.stop()
            if KEEP:
                sys.stderr.write('kept %s\n' % tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)

    def _intruders(self, tmp, nodes, township_key, tconf):
        log_from = len(self.tree.log_text(COUNTY))

        def county_log_since():
            return self.tree.log_text(COUNTY)[log_from:]

        # 1. A township code of the county with a key the county never
        # listed.
        pub, sec = new_keypair()
        key = os.path.join(tmp, 'stranger.key')
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write('public: "%s"\nsecret: "%s"\n' % (pub, sec))
        stranger = self.intruder(tmp, '330106003000', key, tconf)
        nodes.append(stranger)
        stranger.start()

        def has_catalog():
            r = stranger.ctl('catalog', 'list', json_out=True)
            self.assertEqual(r.rc, 0, r)
            v = r.json()
            if isinstance(v, dict):
                v = v.get('items', [])
            return v
        got = wait_until(has_catalog, QUIET_WAIT)
        self.assertFalse(got, 'a node with a key not in the county\'s '
                         'children file got the catalog: %r' % got)
        refused = wait_until(lambda: 'refused' in county_log_since(),
                             REPL_WAIT)
        self.assertTrue(refused, 'no "refused" in the county log after a '
                        'node with an unknown key connected:\n%s\n%s'
                        % (county_log_since()[-3000:], stranger.log_text()))
        # What it records stays with it.
        r = stranger.ctl('catalog', 'load',
                         os.path.join(SAMPLES, 'catalog.yaml'))
        self.assertEqual(r.rc, 0, r)
        leak1 = self.submit_at(stranger, ITEM_TOWNSHIP, 'Stranger Case')

        # 2. A real child's key (the township's), claiming a code that is
        # not its own.
        log_from = len(self.tree.log_text(COUNTY))
        liar = self.intruder(tmp, '330107001000', township_key, tconf)
        nodes.append(liar)
        liar.start()
        r = liar.ctl('catalog', 'load', os.path.join(SAMPLES, 'catalog.yaml'))
        self.assertEqual(r.rc, 0, r)
        leak2 = self.submit_at(liar, ITEM_TOWNSHIP, 'Liar Case')
        said = wait_until(lambda: ('claims' in county_log_since() or
                                   'refused' in county_log_since()),
                          REPL_WAIT)
        self.assertTrue(said, 'nothing "claims" or "refused" in the county '
                        'log after a node with %s\'s key connected as '
                        '330107001000:\n%s\n%s'
                        % (TOWNSHIP, county_log_since()[-3000:],
                           liar.log_text()))

        # 3. A real child's key (the township's) on a connection that names
        # itself with its sibling's code, as the sibling's routing id was
        # before ids were made unguessable: libzmq hands such an id over to
        # the newest connection, and the county would send it the
        # sibling's pings, batches and cases.  It must be sent nothing.
        self._sibling_id_taken(township_key, tconf)

        # Neither case ever reaches the county or the province.
        for num in (leak1, leak2):
            seen = wait_until(lambda: (self.case_at(PROVINCE, num) or
                                       self.case_at(COUNTY, num)),
                              QUIET_WAIT)
            self.assertFalse(seen, 'case %s of an intruder reached the tree'
                             % num)
            self.assertAbsent(PROVINCE, num)
            self.assertAbsent(COUNTY, num)

        # The real township, whose key the liar used, still relays.
        num = self.submit(VILLAGE, ITEM_TOWNSHIP, 'After Intruders',
                          self.materials(VILLAGE, ITEM_TOWNSHIP))
        self.assertTrue(wait_until(lambda: self.case_at(PROVINCE, num),
                                   REPL_WAIT),
                        'case %s from %s did not reach the province after the '
                        'intruders\n%s' % (num, VILLAGE,
                                           self.tree.log_tails()))

    def _sibling_id_taken(self, township_key, tconf):
        keys = read_conf(township_key)
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        try:
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.ROUTING_ID, TOWNSHIP2.encode())
            s.setsockopt(zmq.CURVE_SERVERKEY, tconf['parent_key'].encode())
            s.setsockopt(zmq.CURVE_PUBLICKEY, keys['public'].encode())
            s.setsockopt(zmq.CURVE_SECRETKEY, keys['secret'].encode())
            s.connect(tconf['parent'])
            # The county pings each child every second.
            got = s.poll(int(QUIET_WAIT * 1000))
            self.assertEqual(got, 0, 'a connection with %s\'s key naming '
                             'itself %s was sent a message meant for %s'
                             % (TOWNSHIP, TOWNSHIP2, TOWNSHIP2))
        finally:
            s.close(linger=0)
            ctx.term()

        def sibling_up():
            r, peers = self.tree.peers(COUNTY)
            self.assertEqual(r.rc, 0, r)
            return any(code_str(p['node']) == TOWNSHIP2 and
                       p.get('state') == 'up' for p in peers)
        self.assertTrue(wait_until(sibling_up, REPL_WAIT),
                        '%s is not up at the county after a connection took '
                        'its name' % TOWNSHIP2)

    def submit_at(self, node, item, applicant):
        r = node.ctl('catalog', 'show', item, json_out=True)
        self.assertEqual(r.rc, 0, r)
        it = r.json()
        args = ['submit', '--item', item, '--applicant', applicant]
        for m in it['materials']:
            args += ['--material', m['name']]
        r = node.ctl(*args, json_out=True)
        self.assertEqual(r.rc, 0, r)
        return r.json()['number']

    # -- peers and tree
    def test_6_peers_and_tree(self):
        children = {TOWNSHIP, TOWNSHIP2}
        last = [None]

        def all_up():
            r, peers = self.tree.peers(COUNTY)
            self.assertEqual(r.rc, 0, r)
            last[0] = peers
            states = {code_str(p['node']): (p.get('role'), p.get('state'))
                      for p in peers}
            want = {CITY: ('parent', 'up')}
            want.update({c: ('child', 'up') for c in children})
            return states == want
        ok = wait_until(all_up, REPL_WAIT)
        self.assertTrue(ok, 'peers --json at the county: expected the city '
                        'as parent and %s as children, all up; got:\n%s'
                        % (sorted(children),
                           json.dumps(last[0], indent=1)))
        for p in last[0]:
            for k in ('node', 'role', 'state', 'acked', 'log_end', 'backlog',
                      'lag_s', 'last_contact', 'skew_ms', 'received'):
                self.assertIn(k, p, 'peers --json entry lacks %s: %r'
                              % (k, p))

        everyone = set(self.tree.endpoints)

        def tree_nodes():
            r = self.ctl(PROVINCE, 'tree', json_out=True)
            self.assertEqual(r.rc, 0, r)
            v = r.json()
            if isinstance(v, dict):
                v = v.get('nodes', [])
            last[0] = v
            return [code_str(n['node']) for n in v]
        ok = wait_until(lambda: set(tree_nodes()) == everyone, REPL_WAIT)
        got = tree_nodes()
        self.assertTrue(ok, 'tree --json at the province: missing %s, extra '
                        '%s' % (sorted(everyone - set(got)),
                                sorted(set(got) - everyone)))
        self.assertEqual(len(got), N_NODES, 'a node listed twice: %s' % got)


# ------------------------------------------------------------- failures

class TreeFailureTest(SpreadCheck, TreeTestCase):
    """Nodes killed while their villages keep working."""

    def test_3_county_down(self):
        self.tree.kill(COUNTY)
        items = [(ITEM_VILLAGE, self.materials(VILLAGE, ITEM_VILLAGE)),
                 (ITEM_TOWNSHIP, self.materials(VILLAGE, ITEM_TOWNSHIP))]
        nums = []
        try:
            for i in range(20):
                village = (VILLAGE, VILLAGE3)[i % 2]
                item, mats = items[(i // 2) % 2]
                nums.append(self.submit(village, item, 'Outage %d' % i, mats))
        finally:
            self.tree.start(COUNTY)
        self.assertEqual(len(set(nums)), 20, nums)

        def all_at_province():
            have = {c['number'] for c in self.list_all(PROVINCE)}
            return set(nums) <= have
        ok = wait_until(all_at_province, CATCHUP_WAIT)
        missing = [n for n in nums if self.case_at(PROVINCE, n) is None]
        self.assertTrue(ok and not missing, '%d of 20 cases taken while the '
                        'county was down never reached the province: %s\n%s'
                        % (len(missing), missing,
                           self.tree.log_tails((COUNTY, TOWNSHIP, TOWNSHIP2,
                                                CITY, PROVINCE))))
        for n in nums:
            self.assertIsNotNone(self.case_at(COUNTY, n), n)

    def test_4_relay_killed_under_load(self):
        t = self.tree
        items = {v: [(ITEM_VILLAGE, self.materials(v, ITEM_VILLAGE)),
                     (ITEM_TOWNSHIP, self.materials(v, ITEM_TOWNSHIP))]
                 for v in LOAD_WORKERS}
        acked, problems = {}, []
        lock = threading.Lock()

        def worker(w, village):
            deadline = time.monotonic() + LOAD_SECONDS
            for i in range(LOAD_MAX):
                if time.monotonic() > deadline:
                    return
                item, mats = items[village][i % 2]
                name = 'Load w%d n%d' % (w, i)
                argv = ['submit', '--item', item, '--applicant', name]
                for m in mats:
                    argv += ['--material', m]
                r = t.ctl(village, *argv, json_out=True, timeout=60)
                with lock:
                    if r.rc != 0:
                        # A village never stops: its own submits must work
                        # whatever happens above it.
                        problems.append('%s at %s: %r' % (name, village, r))
                        continue
                    try:
                        num = json.loads(r.out)['number']
                    except (ValueError, KeyError, TypeError):
                        problems.append('%s: exit 0, no number: %r'
                                        % (name, r.out))
                        continue
                    if num in acked:
                        problems.append('number %s given twice' % num)
                    acked[num] = (village, name, item)

        threads = [threading.Thread(target=worker, args=(w, v), daemon=True)
                   for w, v in enumerate(LOAD_WORKERS)]
        for th in threads:
            th.start()

        def progress(n):
            with lock:
                return len(acked) >= n or \
                    not any(th.is_alive() for th in threads)

        killed = []
        try:
            wait_until(lambda: progress(40), LOAD_SECONDS)
            for code in (TOWNSHIP, COUNTY):
                t.kill(code)
                killed.append(code)
            before_restart = len(acked)
            wait_until(lambda: progress(before_restart + 120), LOAD_SECONDS)
        finally:
            for code in killed:
                t.start(code)
        for th in threads:
            th.join(LOAD_SECONDS + 60)
            self.assertFalse(th.is_alive(), 'a load worker did not finish')
        self.assertEqual(problems[:10], [], '%d submits at villages failed'
                         % len(problems))
        self.assertGreater(len(acked), 0)
        print('test_4: %d cases acknowledged, %d before the kill'
              % (len(acked), before_restart), flush=True)

        prefixes = tuple(v + '-' for v in LOAD_WORKERS)

        def at(code):
            return [c for c in self.list_all(code)
                    if c['number'].startswith(prefixes)]

        ok = wait_until(lambda: set(acked) <= {c['number']
                                               for c in at(PROVINCE)},
                        CATCHUP_WAIT)
        for code in (PROVINCE, COUNTY):
            cases = at(code)
            numbers = [c['number'] for c in cases]
            missing = sorted(set(acked) - set(numbers))
            self.assertEqual(missing[:10], [], '%s lacks %d of %d '
                             'acknowledged cases (waited %s)\n%s'
                             % (code, len(missing), len(acked),
                                'enough' if ok else '%.0f s' % CATCHUP_WAIT,
                                t.log_tails((VILLAGE, TOWNSHIP, COUNTY, CITY,
                                             PROVINCE))))
            dups = sorted({n for n in numbers if numbers.count(n) > 1})
            self.assertEqual(dups, [], '%s lists cases more than once'
                             % code)
            self.check_histories(code, acked)

        bad = []
        for code in sorted(t.endpoints):
            r = t.ctl(code, 'verify', json_out=True)
            if r.rc != 0:
                bad.append('%s: %r' % (code, r))
                continue
            rep = r.json()
            if isinstance(rep, dict) and rep.get('problems'):
                bad.append('%s: %s' % (code, rep['problems'][:5]))
        self.assertEqual(bad, [], 'node-ctl verify')

    def check_histories(self, code, acked):
        """Each acknowledged case was only submitted: its history holds one
        submitted entry, at its village."""

        def one(item):
            num, (village, name, itm) = item
            c = self.case_at(code, num)
            if c is None:
                return '%s: not at %s' % (num, code)
            hist = [(h['event'], code_str(h['node']), h['at'])
                    for h in c['history']]
            if hist != [('submitted', village, hist[0][2] if hist else None)]:
                return '%s at %s: history %s' % (num, code, hist)
            if wjtest.applicant_name(c) != name or c['item'] != itm:
                return '%s at %s: applicant %r item %r, expected %r %r' % (
                    num, code, wjtest.applicant_name(c), c['item'], name,
                    itm)
            return None

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            errors = [e for e in ex.map(one, sorted(acked.items())) if e]
        self.assertEqual(errors[:10], [], '%d of %d cases wrong at %s'
                         % (len(errors), len(acked), code))


def pid_alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


class StopTest(unittest.TestCase):
    """A node stopping while its parent goes away too must still stop.  It
    did not, now and then: libzmq reported the parent's departure on the
    parent socket's monitor into a socket the node had closed already,
    blocked its I/O thread there holding the monitor's lock, and the
    node's next call waited for that lock forever.  A five-level chain is
    started once; each round lets the links come up, sends every node
    SIGTERM at once, waits for all of them to exit and starts them again
    (the old code hung in about one round of twenty)."""

    ROUNDS = 40
    STOP_BOUND_S = 20   # keeps a hung run finite; not a timing assertion

    def test_7_all_stop_at_once(self):
        wjtest.check_binaries()
        tree = Tree('1-1-1-1-1')
        hung = []

        def links_up(code):
            peers = tree.peers(code)[1]
            return bool(peers) and all(p.get('state') == 'up' for p in peers)

        try:
            tree.up()
            for rnd in range(self.ROUNDS):
                self.assertTrue(wait_until(lambda: all(links_up(c) for c in tree.endpoints),
                                           30),
                                'round %d: the chain\'s links never all came up\n%s'
                                % (rnd, tree.log_tails()))
                pids = {}
                for code in tree.endpoints:
                    with open(os.path.join(tree.node_dir(code), 'pid')) as f:
                        pids[code] = int(f.read().split()[0])
                for pid in pids.values():
                    os.kill(pid, 15)
                wait_until(lambda: not any(pid_alive(p) for p in pids.values()),
                           self.STOP_BOUND_S)
                for code, pid in sorted(pids.items()):
                    if pid_alive(pid):
                        hung.append('round %d: %s (pid %d) still runs %d s after '
                                    'SIGTERM\n%s' % (rnd, code, pid,
                                                      self.STOP_BOUND_S,
                                                      tree.log_tail(code, 5)))
                    elif tree.log_text(code).count('node %s stopped' % code) != rnd + 1:
                        # Gone, but not by finishing its shutdown.
                        hung.append('round %d: %s exited without stopping cleanly\n%s'
                                    % (rnd, code, tree.log_tail(code, 5)))
                if hung:
                    break
                for code in sorted(pids):
                    tree.start(code)
        finally:
            tree.down()   # SIGKILLs what is left
            tree.remove()
        self.assertEqual(hung, [])


if __name__ == '__main__':
    wjtest.main()
