"""Shared helpers for the wuji integration tests.

The tests are black-box: they start real wuji-node processes on temporary
data directories and ipc sockets and drive them with node-ctl, as a clerk or
an operator would.  This module owns everything the test files share:
locating the binaries, starting and stopping daemons (by PID only), running
node-ctl, writing catalog and calendar files, a working-day calendar written
independently of the C one (so due dates are checked against a second
implementation), and a few lines of protobuf wire encoding for raw-socket
tests.

Run a test file alone with `python3 tests/integration/test_x.py`; without the
WJ_* variables meson sets, the binaries are looked up in build/ (or in
$WJ_BUILD_DIR) under the source root.  WJ_KEEP=1 keeps the temporary
directories (daemon logs included) for a post-mortem.
"""

import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get('WJ_SOURCE_ROOT') or \
    os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get('WJ_BUILD_DIR') or os.path.join(SOURCE_ROOT, 'build')
NODE = os.environ.get('WJ_NODE') or os.path.join(BUILD_DIR, 'node', 'wuji-node')
CTL = os.environ.get('WJ_CTL') or os.path.join(BUILD_DIR, 'tools', 'node-ctl')
SAMPLES = os.environ.get('WJ_SAMPLES') or \
    os.path.join(SOURCE_ROOT, 'deploy', 'samples')
KEEP = os.environ.get('WJ_KEEP') == '1'

# Node codes of one branch of the tree (Hangzhou, Xihu district).
PROVINCE = '330000000000'
CITY = '330100000000'
COUNTY = '330106000000'
TOWNSHIP = '330106001000'
VILLAGE = '330106001201'

STATUSES = ('received', 'correction', 'accepted', 'paused', 'approved',
            'denied', 'delivered', 'rejected', 'withdrawn', 'archived')
WARNINGS = ('none', 'yellow', 'red')
TASK_STATUSES = ('waiting', 'pending', 'approved', 'denied', 'cancelled')
LEVELS = ('province', 'city', 'county', 'township', 'village')
EVENTS = ('submitted', 'accepted', 'correction', 'supplied', 'rejected',
          'paused', 'resumed', 'extended', 'decided', 'delivered',
          'withdrawn', 'archived')

# Exit codes of node-ctl.
EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

CTL_TIMEOUT = 30      # seconds for one node-ctl run, far above any normal run
READY_TIMEOUT = 10.0  # seconds for a daemon to answer `status`
STOP_TIMEOUT = 5.0    # seconds between SIGTERM and SIGKILL

CASE_NUMBER_RE = re.compile(r'^(\d{12})-(\d{8})-(\d+)$')
DATE_RE = re.compile(r'^\d{4}-\d{2}-\d{2}$')


def import_zmq(who):
    """The zmq module.  python3-zmq comes from Debian: when this
    interpreter (pyenv, venv) lacks it, the test program is run again
    under the system one; exits 1 when that has none either."""
    try:
        import zmq
        return zmq
    except ImportError:
        if os.path.exists('/usr/bin/python3') and \
                os.environ.get('WJ_REEXEC') != '1' and \
                os.path.realpath(sys.executable) != \
                os.path.realpath('/usr/bin/python3'):
            os.environ['WJ_REEXEC'] = '1'
            os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)
        sys.stderr.write('%s: the zmq module is missing; install '
                         'python3-zmq (apt-get install -y python3-zmq)\n'
                         % who)
        sys.exit(1)


def check_binaries():
    """Fails early, with the paths tried, when a binary is missing."""
    for p in (NODE, CTL):
        if not os.access(p, os.X_OK):
            sys.stderr.write('wjtest: %s is not an executable; build it, or '
                             'set WJ_NODE / WJ_CTL / WJ_BUILD_DIR\n' % p)
            sys.exit(1)


# ------------------------------------------------------------------ dates

CST = datetime.timezone(datetime.timedelta(hours=8))


def today_cst():
    """Today's date in China Standard Time, as the daemon sees it."""
    return datetime.datetime.now(CST).date()


def d(s):
    return datetime.date.fromisoformat(s)


def expand_dates(specs):
    """Expands "YYYY-MM-DD" and "A..B" entries into a set of dates."""
    out = set()
    for s in specs:
        if '..' in s:
            a, b = s.split('..')
            a, b = d(a), d(b)
            for i in range((b - a).days + 1):
                out.add(a + datetime.timedelta(days=i))
        else:
            out.add(d(s))
    return out


class WorkCalendar:
    """Working days: weekdays, minus holidays, plus make-up workdays; the
    plain weekday rule for a year the calendar does not hold.  Counting
    follows Chinese law: the start day is not counted."""

    def __init__(self, years=None):
        # year -> (holidays, workdays), both sets of dates
        self.years = dict(years or {})

    def copy(self):
        return WorkCalendar({y: (set(h), set(w))
                             for y, (h, w) in self.years.items()})

    def is_workday(self, day):
        y = self.years.get(day.year)
        if y is not None:
            holidays, workdays = y
            if day in workdays:
                return True
            if day in holidays:
                return False
        return day.weekday() < 5

    def add_workdays(self, start, n):
        """The n-th working day after start (start not counted)."""
        day = start
        for _ in range(40 * (n + 1) + 400):
            if n == 0:
                return day
            day += datetime.timedelta(days=1)
            if self.is_workday(day):
                n -= 1
        raise AssertionError('add_workdays did not terminate')

    def workdays_between(self, a, b):
        """Working days x with a < x <= b."""
        n, day = 0, a
        while day < b:
            day += datetime.timedelta(days=1)
            if self.is_workday(day):
                n += 1
        return n

    def yaml(self):
        """The calendar as a calendar file (one date per entry)."""
        lines = ['# test calendar written by wjtest.py', 'years:']
        for y in sorted(self.years):
            holidays, workdays = self.years[y]
            lines.append('  - year: %d' % y)
            for key, days in (('holidays', holidays), ('workdays', workdays)):
                if days:
                    lines.append('    %s:' % key)
                    for x in sorted(days):
                        lines.append('      - %s' % x.isoformat())
                else:
                    lines.append('    %s: []' % key)
        return '\n'.join(lines) + '\n'


# The 2026 calendar (State Council General Office, 4 November 2025).  The
# holidays that fall on weekends are left out: they change nothing and a
# calendar file may only list weekdays as holidays.
HOLIDAYS_2026 = [
    '2026-01-01', '2026-01-02',                  # New Year (3 Jan is Sat)
    '2026-02-16..2026-02-20', '2026-02-23',      # Spring Festival 15-23 Feb
    '2026-04-06',                                # Qingming 4-6 Apr
    '2026-05-01', '2026-05-04', '2026-05-05',    # Labour Day 1-5 May
    '2026-06-19',                                # Dragon Boat 19-21 Jun
    '2026-09-25',                                # Mid-Autumn 25-27 Sep
    '2026-10-01', '2026-10-02', '2026-10-05..2026-10-07',  # National Day
]
WORKDAYS_2026 = ['2026-01-04', '2026-02-14', '2026-02-28', '2026-05-09',
                 '2026-09-20', '2026-10-10']

CAL_2026 = WorkCalendar({2026: (expand_dates(HOLIDAYS_2026),
                                expand_dates(WORKDAYS_2026))})

# Written by hand (ranges included) rather than by WorkCalendar.yaml() so the
# file looks like one a clerk would write.
CALENDAR_2026_YAML = """\
# 2026 public holidays and make-up workdays (test copy)
years:
  - year: 2026
    holidays:
      - 2026-01-01
      - 2026-01-02
      - 2026-02-16..2026-02-20
      - 2026-02-23
      - 2026-04-06
      - 2026-05-01
      - 2026-05-04..2026-05-05
      - 2026-06-19
      - 2026-09-25
      - 2026-10-01..2026-10-02
      - 2026-10-05..2026-10-07
    workdays:
      - 2026-01-04
      - 2026-02-14
      - 2026-02-28
      - 2026-05-09
      - 2026-09-20
      - 2026-10-10
"""


def due_candidates(cal, days_before, n):
    """Expected due dates (ISO strings) for a case accepted while today was
    one of days_before (today read before and after the command, in case
    midnight passed in between)."""
    return {cal.add_workdays(t, n).isoformat() for t in days_before}


# ---------------------------------------------------------------- catalog

def item(code, name, kind='promised', promised=5, statutory=20,
         apply_at=('county',), tasks=(('civil-affairs', 'county'),),
         materials=()):
    """A catalog item as a dict; materials are (name, required, waivable)."""
    return {'code': code, 'name': name, 'kind': kind,
            'promised_days': promised, 'statutory_days': statutory,
            'apply_at': list(apply_at),
            'tasks': [{'department': dep, 'level': lvl} for dep, lvl in tasks],
            'materials': [{'name': m, 'required': r, 'waivable': w}
                          for m, r, w in materials]}


# The items the tests use.  Names without spaces keep the table checks of
# test_cli simple (ASCII, no blanks inside a cell).
ITEM_PERMIT = 'T-PERMIT'      # promised 3/20, materials, one county task
ITEM_ONE_DAY = 'T-ONE-DAY'    # promised 1/5, no materials
ITEM_SIMPLE = 'T-SIMPLE'      # promised 5/20, no materials
ITEM_IMMEDIATE = 'T-NOW'      # immediate
ITEM_JOINT = 'T-JOINT'        # promised 5/20, county + city departments
ITEM_CITY = 'T-CITY-ONLY'     # may only be submitted at a city node

MAT_ID = 'IdCard'             # required, not waivable
MAT_FORM = 'ApplicationForm'  # required, waivable (容缺)
MAT_PHOTO = 'Photo'           # optional

TEST_ITEMS = [
    item(ITEM_PERMIT, 'TestPermit', promised=3, statutory=20,
         materials=((MAT_ID, True, False), (MAT_FORM, True, True),
                    (MAT_PHOTO, False, False))),
    item(ITEM_ONE_DAY, 'OneDayCertificate', promised=1, statutory=5),
    item(ITEM_SIMPLE, 'SimpleLicence', promised=5, statutory=20),
    item(ITEM_IMMEDIATE, 'ImmediateProof', kind='immediate', promised=0,
         statutory=0),
    item(ITEM_JOINT, 'JointApproval', promised=5, statutory=20,
         tasks=(('county-planning', 'county'), ('city-environment', 'city'))),
    item(ITEM_CITY, 'CityOnlyPermit', apply_at=('city',),
         tasks=(('city-transport', 'city'),)),
]
ITEMS_BY_CODE = {i['code']: i for i in TEST_ITEMS}


def _yq(s):
    """A YAML double-quoted scalar."""
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def catalog_yaml(items):
    lines = ['# test catalog written by wjtest.py', 'items:']
    for it in items:
        lines.append('  - code: %s' % _yq(it['code']))
        lines.append('    name: %s' % _yq(it['name']))
        lines.append('    kind: %s' % it['kind'])
        lines.append('    promised_days: %d' % it['promised_days'])
        lines.append('    statutory_days: %d' % it['statutory_days'])
        lines.append('    apply_at: [%s]' % ', '.join(it['apply_at']))
        lines.append('    tasks:')
        for t in it['tasks']:
            lines.append('      - department: %s' % _yq(t['department']))
            lines.append('        level: %s' % t['level'])
        if it['materials']:
            lines.append('    materials:')
            for m in it['materials']:
                lines.append('      - name: %s' % _yq(m['name']))
                lines.append('        required: %s'
                             % ('true' if m['required'] else 'false'))
                lines.append('        waivable: %s'
                             % ('true' if m['waivable'] else 'false'))
        else:
            lines.append('    materials: []')
    return '\n'.join(lines) + '\n'


def line_of(text, needle, nth=0):
    """1-based line number of the nth line containing needle."""
    hits = [i + 1 for i, l in enumerate(text.splitlines()) if needle in l]
    if len(hits) <= nth:
        raise AssertionError('%r not in test file' % needle)
    return hits[nth]


# ---------------------------------------------------------------- node-ctl

class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def text(self):
        return self.out + self.err

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError('%s: output is not JSON (%s):\n%s'
                                 % (' '.join(self.argv), e, self.out))

    def __repr__(self):
        return ('$ %s\nexit %s\n--- stdout\n%s--- stderr\n%s'
                % (' '.join(self.argv), self.rc, self.out, self.err))


def run(argv, timeout=CTL_TIMEOUT, env=None):
    """Runs a program to completion (bounded) and returns a Result."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise AssertionError('%s did not finish within %d s'
                             % (' '.join(argv), timeout)) from e
    return Result(argv, p.returncode,
                  p.stdout.decode('utf-8', 'replace'),
                  p.stderr.decode('utf-8', 'replace'))


# Commands of two words: the options go after both.
_TWO_WORD = ('catalog', 'calendar')


def ctl_argv(args, endpoint=None, json_out=False, config=None):
    """node-ctl's argv with the common options placed right after the
    command word(s), as in `node-ctl show -e ipc://x --json NUMBER`."""
    args = [str(a) for a in args]
    n = 2 if args and args[0] in _TWO_WORD and len(args) > 1 else 1
    opts = []
    if endpoint:
        opts += ['-e', endpoint]
    if config:
        opts += ['-c', config]
    if json_out:
        opts.append('--json')
    return [CTL] + args[:n] + opts + args[n:]


def ctl(endpoint, *args, json_out=False, config=None, timeout=CTL_TIMEOUT):
    return run(ctl_argv(args, endpoint, json_out, config), timeout=timeout)


def list_all(endpoint, pages=100):
    """Every case at a node: node-ctl list --json, paged with --after.
    AssertionError when a page fails or there are more than `pages`."""
    out, after = [], None
    for _ in range(pages):
        args = ['list', '--limit', '1000']
        if after:
            args += ['--after', after]
        r = ctl(endpoint, *args, json_out=True)
        if r.rc != 0:
            raise AssertionError('node-ctl list failed: %r' % r)
        page = r.json()
        if not isinstance(page, list):
            raise AssertionError('node-ctl list --json: not a list: %r' % r)
        out += page
        if len(page) < 1000:
            return out
        after = page[-1]['number']
    raise AssertionError('list at %s: more than %d pages' % (endpoint, pages))


# ---------------------------------------------------------------- daemons

class Node:
    """One wuji-node process with its own directory, data dir and socket.
    Stopped only by its own PID."""

    def __init__(self, tmp, code=COUNTY, name=None, data=None):
        self.code = code
        self.dir = os.path.join(tmp, name or ('node-' + code))
        os.makedirs(self.dir, exist_ok=True)
        self.data = data or os.path.join(self.dir, 'data')
        os.makedirs(self.data, exist_ok=True)
        self.sock = os.path.join(self.dir, 'control.sock')
        self.endpoint = 'ipc://' + self.sock
        self.config = os.path.join(self.dir, 'wuji.conf')
        self.log = os.path.join(self.dir, 'stderr.log')
        self.proc = None
        self.runs = 0
        # argv put before the daemon's own, e.g. SlowLink.exec_argv() to
        # run it in a network namespace (`ip netns exec` execs the daemon,
        # so proc.pid is the daemon's PID all the same).
        self.wrap = []
        self.write_config()

    def write_config(self, text=None):
        """Writes the config file.  The default holds only the log level:
        the flags carry id, data dir and endpoint."""
        if text is None:
            text = '# written by wjtest.py\nlog_level: info\n'
        with open(self.config, 'w') as f:
            f.write(text)

    def argv(self, flags=True, extra=()):
        a = list(self.wrap) + [NODE, '--config', self.config]
        if flags:
            a += ['--id', self.code, '--data', self.data,
                  '--control', self.endpoint]
        return a + list(extra)

    def spawn(self, argv=None, flags=True, extra=(), env=None):
        """Starts the daemon without waiting for it (env: its whole
        environment, default ours)."""
        assert self.proc is None or self.proc.poll() is not None, \
            'node already running'
        argv = argv or self.argv(flags, extra)
        self.runs += 1
        logf = open(self.log, 'a')
        logf.write('==== run %d: %s\n' % (self.runs, ' '.join(argv)))
        logf.flush()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, env=env)
        finally:
            logf.close()
        return self.proc

    def start(self, flags=True, extra=(), argv=None, env=None):
        self.spawn(argv, flags, extra, env)
        self.wait_ready()
        return self

    def log_text(self, tail=4000):
        try:
            with open(self.log, encoding='utf-8', errors='replace') as f:
                return f.read()[-tail:]
        except OSError:
            return ''

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Polls `node-ctl status` every 20 ms until it succeeds (not a
        timing assertion: the bound only keeps a broken run finite)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError('wuji-node exited with %d before it was '
                                     'ready; its log:\n%s'
                                     % (rc, self.log_text()))
            if os.path.exists(self.sock):
                last = ctl(self.endpoint, 'status',
                           timeout=max(1, deadline - time.monotonic() + 5))
                if last.rc == 0:
                    return
            time.sleep(0.02)
        raise AssertionError('wuji-node not ready after %.0f s (last status: '
                             '%r); its log:\n%s'
                             % (timeout, last, self.log_text()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig, waits, then SIGKILL.  Returns the exit status (negative
        for a signal, as subprocess reports it) or None if never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        return self.proc.returncode

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)
        return self.proc.returncode

    def wait_exit(self, timeout=READY_TIMEOUT):
        """For daemons expected to refuse to start: their exit status, or
        an AssertionError if they are still running after timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError('wuji-node still running after %.0f s; '
                                 'expected it to refuse to start; log:\n%s'
                                 % (timeout, self.log_text()))

    # node-ctl against this node
    def ctl(self, *args, json_out=False, timeout=CTL_TIMEOUT):
        return ctl(self.endpoint, *args, json_out=json_out, timeout=timeout)


class NodeTest(unittest.TestCase):
    """Base class: a temp dir per test, daemons stopped by PID in tearDown."""

    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='wj-it-')
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            try:
                n.stop()
            except Exception as e:   # keep stopping the others
                sys.stderr.write('tearDown: %s\n' % e)
        if KEEP:
            sys.stderr.write('kept %s\n' % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- set-up helpers
    def new_node(self, code=COUNTY, name=None, data=None):
        n = Node(self.tmp, code, name, data)
        self.nodes.append(n)
        return n

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return path

    def start_node(self, code=COUNTY, catalog=True, calendar=True, name=None):
        """A running node, with the test catalog and the 2026 calendar
        loaded unless told otherwise."""
        n = self.new_node(code, name)
        n.start()
        if catalog:
            self.load_catalog(n, TEST_ITEMS)
        if calendar:
            path = self.write('calendar-2026.yaml', CALENDAR_2026_YAML)
            r = n.ctl('calendar', 'load', path)
            self.assertEqual(r.rc, 0, r)
        return n

    def load_catalog(self, n, items, fname='catalog.yaml'):
        path = self.write(fname, catalog_yaml(items))
        r = n.ctl('catalog', 'load', path)
        self.assertEqual(r.rc, 0, r)
        return path

    # -- node-ctl helpers that assert success
    def ok(self, n, *args, json_out=False):
        r = n.ctl(*args, json_out=json_out)
        self.assertEqual(r.rc, 0, r)
        return r

    def okj(self, n, *args):
        return self.ok(n, *args, json_out=True).json()

    def submit(self, n, item_code, applicant='Zhang San', materials=(),
               extra=()):
        args = ['submit', '--item', item_code, '--applicant', applicant]
        for m in materials:
            args += ['--material', m]
        r = self.ok(n, *(args + list(extra)), json_out=True)
        obj = r.json()
        self.assertIsInstance(obj, dict, r)
        self.assertIn('number', obj, r)
        num = obj['number']
        self.assertRegex(num, CASE_NUMBER_RE, r)
        return num

    def show(self, n, number):
        c = self.okj(n, 'show', number)
        self.assertIsInstance(c, dict)
        return c

    def status_of(self, n, number):
        return self.show(n, number)['status']

    def assertRefused(self, r, *mentions):
        """Exit 1 and a message naming each of mentions."""
        self.assertEqual(r.rc, EXIT_REFUSED, r)
        for m in mentions:
            self.assertIn(m, r.text, r)

    def assertUsage(self, r):
        self.assertEqual(r.rc, EXIT_USAGE, r)
        self.assertTrue(r.err.strip(), 'usage error with no message: %r' % r)


def applicant_name(case):
    """The applicant's name in a show --json object (an object with a name,
    or a plain string)."""
    a = case.get('applicant')
    if isinstance(a, dict):
        return a.get('name')
    return a


def task_ref(case, i):
    """What to pass to decide --task for the i-th task (0-based) of a case:
    the task's own index when the JSON gives one, else i + 1."""
    t = case['tasks'][i]
    if isinstance(t, dict) and 'index' in t:
        return str(t['index'])
    return str(i + 1)


# ------------------------------------------------------------ waiting, ports

POLL_INTERVAL = 0.05   # seconds between two looks at a state we wait for


def wait_until(pred, timeout, interval=POLL_INTERVAL):
    """Calls pred() every `interval` seconds until it returns something
    true, and returns that; after `timeout` seconds returns pred()'s last
    (false) value instead.  Not a timing assertion: the bound only keeps a
    broken run finite, and the caller asserts on the value it gets."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def ephemeral_low(default=32768):
    """The first port the kernel hands out to outgoing connections."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def free_port_base(count, lo=30000, hi=40000, tries=200):
    """A port N in [lo, hi) such that N .. N+count-1 can all be bound on
    127.0.0.1 right now (a random choice, so parallel runs rarely meet).
    The range is cut below the kernel's ephemeral ports when they start
    inside it: an outgoing connection (a child node connecting to its
    parent) may otherwise take a port before the node meant to listen on
    it binds it.  Raises AssertionError when no such range is found."""
    import random
    import socket
    eph = ephemeral_low()
    if lo + count < eph < hi:
        hi = eph
    rnd = random.SystemRandom()
    for _ in range(tries):
        base = rnd.randrange(lo, hi - count)
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(('127.0.0.1', p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError('no %d free tcp ports in a row between %d and %d'
                         % (count, lo, hi))


# ------------------------------------------------------ a tree of nodes

def parent_code(code):
    """The division code one level up (village 330106001201 -> township
    330106001000); None for a province."""
    for keep in (9, 6, 4, 2):
        if code[keep:] != '0' * (12 - keep):
            return code[:keep] + '0' * (12 - keep)
    return None


def keygen(prefix):
    """node-ctl keygen -o PREFIX; returns the public key (Z85)."""
    r = run([CTL, '--json', 'keygen', '-o', prefix])
    if r.rc != 0:
        raise AssertionError('node-ctl keygen failed: %r' % r)
    return r.json()['public']


def link_nodes(nodes, listen):
    """Makes the Nodes in `nodes` one tree, as an operator would: a key
    pair per node (node-ctl keygen), a children file at each parent and
    configs naming key_file, listen, children_file, parent and
    parent_key.  `listen` maps the code of each node that has children to
    the endpoint it binds, which its children connect to.  A node's
    parent is the node of its code one level up, when it is in `nodes`
    (otherwise it is the top).  The flags still carry id, data dir and
    control endpoint."""
    by_code = {n.code: n for n in nodes}
    public = {n.code: keygen(os.path.join(n.dir, 'node')) for n in nodes}
    for n in nodes:
        kids = sorted(c for c in by_code if parent_code(c) == n.code)
        lines = ['# written by wjtest.link_nodes', 'log_level: info',
                 'key_file: %s' % os.path.join(n.dir, 'node.key')]
        if kids:
            path = os.path.join(n.dir, 'children.yaml')
            with open(path, 'w') as f:
                f.write('children:\n')
                for c in kids:
                    f.write('  - { id: "%s", key: "%s" }\n' % (c, public[c]))
            lines += ['listen: %s' % listen[n.code],
                      'children_file: %s' % path]
        up = parent_code(n.code)
        if up in by_code:
            lines += ['parent: %s' % listen[up],
                      'parent_key: "%s"' % public[up]]
        n.write_config('\n'.join(lines) + '\n')
    return public


def vm_rss_kb(pid):
    """VmRSS of a process from /proc/PID/status, in KiB; None if gone."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class Sampler:
    """Calls fn() every `interval` seconds on a thread of its own, until
    stop() (or `limit` seconds, to keep a broken run finite), and keeps
    the values that are not None: memory seen while something happens."""

    def __init__(self, fn, interval, limit=600.0):
        self.values = []
        self._stop = threading.Event()

        def run():
            deadline = time.monotonic() + limit
            while not self._stop.is_set() and time.monotonic() < deadline:
                v = fn()
                if v is not None:
                    self.values.append(v)
                self._stop.wait(interval)
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.values


def sanitizer_of(pid):
    """The sanitizer runtime a process runs with ('libasan', ...), or None.
    Its shadow memory makes resident-memory figures meaningless."""
    try:
        with open('/proc/%d/maps' % pid) as f:
            for line in f:
                for lib in ('libasan', 'libtsan', 'libmsan',
                            'libclang_rt.asan'):
                    if lib in line:
                        return lib
    except OSError:
        pass
    return None


def skip_file(reason):
    """Ends a test program with meson's "skipped" status (77), saying
    why.  main() does it when every test of the file skipped itself."""
    print('SKIP: %s' % reason, flush=True)
    sys.exit(77)


# ------------------------------------------------ a slow link (netns)

class SlowLink:
    """A network namespace, wjv-<pid>, joined to this one by a veth pair
    whose two directions are slow and lossy: DELAY_MS +- JITTER_MS, LOSS %
    of the packets dropped, RATE_KBIT kbit/s.  The host end has
    host_addr, the namespace end ns_addr; a daemon started with
    exec_argv() in front of its argv runs inside the namespace.

    The impairment is `tc netem` on both ends of the veth when the kernel
    has sch_netem.  When it has not (the test machines' kernel is built
    without it), the pair goes through a second namespace, wjw-<pid>, in
    which tests/integration/wire.py moves the frames with the same delay,
    jitter, loss and rate.  WJ_SLOW_LINK=netem or =wire forces one.

    cut() and heal() take the namespace's end of the link down and up (an
    unplugged cable at the village); the host end keeps its address, so
    the host can still reach host_addr locally.  close() removes what this
    object created, by name, and stops the wire by its PID; it may be
    called any number of times and after a failed up()."""

    DELAY_MS, JITTER_MS, LOSS, RATE_KBIT = 200, 50, 5, 256
    WIRE = os.path.join(HERE, 'wire.py')

    def __init__(self):
        pid = os.getpid()
        self.ns = 'wjv-%d' % pid
        self.wire_ns = 'wjw-%d' % pid
        self.host_if = 'wjh-%d' % pid
        self.ns_if = 'wja-%d' % pid
        self.mid_if = ('wjm0-%d' % pid, 'wjm1-%d' % pid)
        self.host_addr = self.ns_addr = None
        self.how = None          # 'netem' or 'wire', once up
        self.why_not_netem = None
        self.wire = None         # the wire's Popen
        self.wire_summary = ''   # what the wire printed, once closed
        self.wire_log = None
        self._netns = []         # namespaces we made, to delete
        self._links = []         # host-side links we made, to delete

    @staticmethod
    def unavailable():
        """Why this machine cannot make a SlowLink, or None."""
        if os.geteuid() != 0:
            return 'not root (network namespaces and tc need root)'
        for prog in ('ip', 'tc'):
            if shutil.which(prog) is None:
                return '%s not found (Debian package iproute2)' % prog
        name = 'wjprobe-%d' % os.getpid()
        r = run(['ip', 'netns', 'add', name], timeout=10)
        if r.rc != 0:
            return '`ip netns add` fails: %s' % r.err.strip()
        run(['ip', 'netns', 'del', name], timeout=10)
        return None

    def _ip(self, *args, ns=None):
        argv = ['ip'] + (['-n', ns] if ns else []) + [str(a) for a in args]
        r = run(argv, timeout=10)
        if r.rc != 0:
            raise AssertionError('%s failed: %s' % (' '.join(argv),
                                                     r.err.strip()))
        return r

    def _pick_subnet(self):
        """A /30 in 10.243.0.0/16 that no address or route here
        overlaps."""
        import ipaddress
        taken = []
        for what in (['-4', '-j', 'addr'], ['-4', '-j', 'route', 'show',
                                              'table', 'all']):
            r = run(['ip'] + what, timeout=10)
            try:
                entries = json.loads(r.out or '[]')
            except ValueError:
                entries = []
            for e in entries:
                for a in e.get('addr_info', []):
                    taken.append(ipaddress.ip_network(
                        '%s/%s' % (a['local'], a['prefixlen']), strict=False))
                dst = e.get('dst')
                if dst and dst != 'default':
                    try:
                        taken.append(ipaddress.ip_network(dst, strict=False))
                    except ValueError:
                        pass
        base = ipaddress.ip_network('10.243.0.0/16')
        subnets = list(base.subnets(new_prefix=30))
        start = os.getpid() % len(subnets)
        for i in range(len(subnets)):
            net = subnets[(start + i) % len(subnets)]
            if not any(net.overlaps(t) for t in taken):
                hosts = list(net.hosts())
                return str(hosts[0]), str(hosts[1])
        raise AssertionError('no free /30 in %s for the test link' % base)

    def up(self):
        forced = os.environ.get('WJ_SLOW_LINK', '')
        if forced not in ('', 'netem', 'wire'):
            raise AssertionError('WJ_SLOW_LINK=%s: use netem or wire' % forced)
        self.host_addr, self.ns_addr = self._pick_subnet()
        self._ip('netns', 'add', self.ns)
        self._netns.append(self.ns)
        self._ip('link', 'set', 'lo', 'up', ns=self.ns)
        # Try netem on a plain pair first.
        self._ip('link', 'add', self.host_if, 'type', 'veth', 'peer', 'name',
                 self.ns_if, 'netns', self.ns)
        self._links.append(self.host_if)
        why = None
        if forced != 'wire':
            why = self._netem()
            if why is None:
                self.how = 'netem'
            elif forced == 'netem':
                raise AssertionError('WJ_SLOW_LINK=netem: %s' % why)
        if self.how is None:
            # Rebuild as host <-> wire namespace <-> village namespace.
            self._ip('link', 'del', self.host_if)
            self._links.remove(self.host_if)
            self._ip('netns', 'add', self.wire_ns)
            self._netns.append(self.wire_ns)
            self._ip('link', 'add', self.host_if, 'type', 'veth', 'peer',
                     'name', self.mid_if[0], 'netns', self.wire_ns)
            self._links.append(self.host_if)
            self._ip('link', 'add', self.mid_if[1], 'netns', self.wire_ns,
                     'type', 'veth', 'peer', 'name', self.ns_if, 'netns',
                     self.ns)
            for i in self.mid_if:
                self._ip('link', 'set', i, 'up', ns=self.wire_ns)
            self._start_wire()
            self.how = 'wire'
            self.why_not_netem = why
        self._ip('addr', 'add', self.host_addr + '/30', 'dev', self.host_if)
        self._ip('link', 'set', self.host_if, 'up')
        self._ip('addr', 'add', self.ns_addr + '/30', 'dev', self.ns_if,
                 ns=self.ns)
        self._ip('link', 'set', self.ns_if, 'up', ns=self.ns)
        return self

    def _netem_args(self):
        return ['netem', 'delay', '%dms' % self.DELAY_MS,
                '%dms' % self.JITTER_MS, 'loss', '%g%%' % self.LOSS,
                'rate', '%dkbit' % self.RATE_KBIT]

    def _netem(self):
        """Puts netem on both ends; returns why it could not, or None."""
        for ns, dev in ((None, self.host_if), (self.ns, self.ns_if)):
            argv = ['tc'] + (['-n', ns] if ns else []) + \
                ['qdisc', 'add', 'dev', dev, 'root'] + self._netem_args()
            r = run(argv, timeout=10)
            if r.rc != 0:
                return '`%s` failed: %s' % (' '.join(argv), r.err.strip())
        return None

    def _start_wire(self):
        self.wire_log = tempfile.NamedTemporaryFile(
            prefix='wj-wire-', suffix='.log', delete=False)
        argv = ['ip', 'netns', 'exec', self.wire_ns, sys.executable,
                self.WIRE, self.mid_if[0], self.mid_if[1],
                '--delay-ms', str(self.DELAY_MS),
                '--jitter-ms', str(self.JITTER_MS),
                '--loss', str(self.LOSS), '--rate-kbit', str(self.RATE_KBIT)]
        self.wire = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.wire_log,
                                     stderr=subprocess.STDOUT)
        # Up once it says so (bounded; not a timing assertion).
        ok = wait_until(lambda: self.wire.poll() is not None or
                        b'up' in self._wire_output(), 10)
        if not ok or self.wire.poll() is not None:
            out = self._wire_output().decode(errors='replace')
            raise AssertionError('wire.py did not start: %s' % out)

    def _wire_output(self):
        try:
            with open(self.wire_log.name, 'rb') as f:
                return f.read()
        except (OSError, AttributeError):
            return b''

    def describe(self):
        what = ('delay %dms +-%dms, loss %g%%, rate %dkbit each way'
                % (self.DELAY_MS, self.JITTER_MS, self.LOSS, self.RATE_KBIT))
        if self.how == 'netem':
            return 'tc netem on veth %s/%s: %s' % (self.host_if, self.ns_if,
                                                   what)
        return ('wire.py in netns %s between %s and %s (%s): %s'
                % (self.wire_ns, self.host_if, self.ns_if,
                   'forced by WJ_SLOW_LINK' if self.why_not_netem is None
                   else 'no netem here: ' + self.why_not_netem, what))

    def exec_argv(self):
        return ['ip', 'netns', 'exec', self.ns]

    def cut(self):
        self._ip('link', 'set', self.ns_if, 'down', ns=self.ns)

    def heal(self):
        self._ip('link', 'set', self.ns_if, 'up', ns=self.ns)

    def close(self):
        """Removes everything up() made; reports (does not raise) what
        could not be removed."""
        problems = []
        if self.wire is not None:
            if self.wire.poll() is None:
                self.wire.terminate()
                try:
                    self.wire.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.wire.kill()
                    self.wire.wait(STOP_TIMEOUT)
            self.wire = None
            self.wire_summary = self._wire_output().decode(errors='replace')
        for link in list(self._links):
            # Deleting one end of a veth deletes the other.
            r = run(['ip', 'link', 'del', link], timeout=10)
            if r.rc != 0 and 'Cannot find device' not in r.err:
                problems.append('ip link del %s: %s' % (link, r.err.strip()))
            self._links.remove(link)
        for ns in list(self._netns):
            r = run(['ip', 'netns', 'del', ns], timeout=10)
            if r.rc != 0:
                problems.append('ip netns del %s: %s' % (ns, r.err.strip()))
            self._netns.remove(ns)
        if self.wire_log is not None:
            self.wire_log.close()
            if not KEEP:
                try:
                    os.unlink(self.wire_log.name)
                except OSError:
                    pass
            self.wire_log = None
        if problems:
            sys.stderr.write('SlowLink.close: %s\n' % '; '.join(problems))
        return problems


# ---------------------------------------------------------- protobuf wire

def pb_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_key(field, wire_type):
    return pb_varint(field << 3 | wire_type)


def pb_uint(field, n):
    return pb_key(field, 0) + pb_varint(n)


def pb_bytes(field, b):
    return pb_key(field, 2) + pb_varint(len(b)) + b


def pb_str(field, s):
    return pb_bytes(field, s.encode('utf-8'))


def req_status(req_id=1):
    """wuji.Request{id, status: StatusRequest{}}"""
    return pb_uint(1, req_id) + pb_bytes(10, b'')


def req_submit(item_code, name, req_id=2, materials=()):
    """wuji.Request{id, submit: SubmitRequest{item_code, Applicant{name},
    materials}}"""
    body = pb_str(1, item_code) + pb_bytes(2, pb_str(1, name))
    for m in materials:
        body += pb_str(3, m)
    return pb_uint(1, req_id) + pb_bytes(11, body)


@contextlib.contextmanager
def control_socket(endpoint, timeout):
    """A DEALER on a node's control endpoint, for raw requests; every
    receive waits at most `timeout` seconds (zmq.Again when it ran out).
    Needs the zmq module (import_zmq)."""
    import zmq
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
    s.connect(endpoint)
    try:
        yield s
    finally:
        s.close(linger=0)
        ctx.term()


def submit_many(endpoint, item_code, names, materials=(), window=256,
                timeout=60.0):
    """Submits one case per name through one pipelined control connection
    (at most `window` requests in flight), as a load generator would;
    returns the case numbers in the order of names.  Raises
    AssertionError on a refusal, or when the node stops answering for
    `timeout` seconds.  Needs the zmq module (import_zmq)."""
    import zmq
    numbers = [None] * len(names)
    sent = done = 0
    with control_socket(endpoint, timeout) as s:
        while done < len(names):
            while sent < len(names) and sent - done < window:
                s.send(req_submit(item_code, names[sent], sent + 1,
                                  materials))
                sent += 1
            try:
                reply = s.recv()
            except zmq.Again:
                raise AssertionError('submit_many: no reply for %.0f s after '
                                     '%d of %d' % (timeout, done, len(names)))
            rid, code, error, number = reply_fields(reply)
            if code != 0 or not 1 <= rid <= len(names):
                raise AssertionError('submit_many: request %d refused: %d %s'
                                     % (rid, code, error))
            numbers[rid - 1] = number
            done += 1
    return numbers


def pb_decode(buf):
    """Decodes one message level into {field: [values]}: ints for varints,
    bytes for length-delimited fields.  ValueError on malformed input."""
    out, i = {}, 0

    def varint():
        nonlocal i
        n, shift = 0, 0
        for _ in range(10):
            if i >= len(buf):
                raise ValueError('truncated varint')
            b = buf[i]
            i += 1
            n |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80:
                return n
        raise ValueError('varint too long')

    while i < len(buf):
        k = varint()
        field, wt = k >> 3, k & 7
        if wt == 0:
            v = varint()
        elif wt == 2:
            ln = varint()
            if i + ln > len(buf):
                raise ValueError('truncated field %d' % field)
            v = bytes(buf[i:i + ln])
            i += ln
        elif wt == 1:
            v = bytes(buf[i:i + 8])
            i += 8
        elif wt == 5:
            v = bytes(buf[i:i + 4])
            i += 4
        else:
            raise ValueError('wire type %d' % wt)
        out.setdefault(field, []).append(v)
    return out


def reply_fields(buf):
    """(id, code, error, number) of a wuji.Reply."""
    f = pb_decode(buf)
    first = lambda k, dflt: f.get(k, [dflt])[0]
    return (first(1, 0), first(2, 0),
            first(3, b'').decode('utf-8', 'replace'),
            first(11, b'').decode('utf-8', 'replace'))


def main():
    """Runs the file's tests.  When every test was skipped (the machine
    lacks what they need), exits 77 so that meson counts the file as
    skipped rather than passed."""
    check_binaries()
    # meson stops a test that runs too long with SIGTERM: make it an
    # exception, so that tearDown and cleanups still stop the daemons and
    # remove what the test made.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    prog = unittest.main(verbosity=2, exit=False)
    res = prog.result
    if res.testsRun and len(res.skipped) == res.testsRun:
        skip_file('; '.join(sorted({why for _, why in res.skipped})))
    sys.exit(0 if res.wasSuccessful() else 1)
