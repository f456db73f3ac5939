"""Integration: the daemon's start, configuration and shutdown, and the whole
life of a case driven through node-ctl (accept, correct, supply, reject,
pause, resume, extend, decide, deliver, withdraw, archive), with due dates
and warnings checked against wjtest's own working-day calendar."""

import os
import signal
import socket
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
from wjtest import (CAL_2026, CITY, COUNTY, PROVINCE, TOWNSHIP,  # noqa: E402
                    VILLAGE, ITEM_IMMEDIATE, ITEM_JOINT, ITEM_ONE_DAY,
                    ITEM_PERMIT, ITEM_SIMPLE, MAT_FORM, MAT_ID, MAT_PHOTO,
                    CASE_NUMBER_RE, DATE_RE, NodeTest, TEST_ITEMS,
                    due_candidates, task_ref, today_cst)

ALL_MATERIALS = (MAT_ID, MAT_FORM, MAT_PHOTO)


class DaemonTest(NodeTest):
    """Start, configuration, refusal to start, shutdown."""

    def test_start_status_and_sigterm(self):
        n = self.new_node().start()
        st = os.stat(n.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode), 'control endpoint %s is '
                        'not a socket' % n.sock)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660,
                         'control socket mode is %o, expected 0660'
                         % stat.S_IMODE(st.st_mode))
        self.ok(n, 'status')
        self.assertEqual(n.stop(signal.SIGTERM), 0,
                         'SIGTERM: expected exit 0; log:\n' + n.log_text())
        # Logs go to stderr, one line per message, each with its level.
        self.assertRegex(n.log_text(), r'(?im)\b(error|warn|warning|info|'
                         r'debug)\b', 'no log line with a level on stderr')

    def notify_case(self, address, name):
        """Runs a node under a fake systemd listening at `address` (a
        path, or '@name' for the abstract namespace) and returns what it
        was told: READY=1 once the control socket is bound, STOPPING=1 on
        SIGTERM."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind('\0' + address[1:] if address.startswith('@') else address)
        sock.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=address)
        n = self.new_node(name=name)
        n.spawn(env=env)
        ready = sock.recv(4096)
        # Ready means usable: the control socket is there already.
        self.assertTrue(os.path.exists(n.sock), 'READY=1 before the control '
                        'socket %s was bound' % n.sock)
        n.wait_ready()
        self.ok(n, 'status')
        self.assertEqual(n.stop(signal.SIGTERM), 0, n.log_text())
        stopping = sock.recv(4096)
        self.assertNotIn('cannot tell systemd', n.log_text())
        return ready, stopping

    def test_tells_systemd_ready_and_stopping(self):
        # Type=notify in the unit: without READY=1 systemd fails the start.
        path = os.path.join(self.tmp, 'notify.sock')
        self.assertEqual(self.notify_case(path, 'by-path'),
                         (b'READY=1', b'STOPPING=1'))
        abstract = '@wuji-test-notify-%d' % os.getpid()
        self.assertEqual(self.notify_case(abstract, 'abstract'),
                         (b'READY=1', b'STOPPING=1'))

    def test_unusable_notify_socket_is_a_warning(self):
        env = dict(os.environ,
                   NOTIFY_SOCKET=os.path.join(self.tmp, 'nobody-listens'))
        n = self.new_node().start(env=env)
        self.ok(n, 'status')
        self.assertEqual(n.stop(signal.SIGTERM), 0, n.log_text())
        self.assertRegex(n.log_text(), r'(?i)warn.*cannot tell systemd '
                         r"'READY=1' at .*nobody-listens")

    def test_sigint_exits_cleanly(self):
        n = self.new_node().start()
        self.assertEqual(n.stop(signal.SIGINT), 0,
                         'SIGINT: expected exit 0; log:\n' + n.log_text())

    def test_restart_keeps_cases(self):
        n = self.start_node()
        num = self.submit(n, ITEM_SIMPLE, 'Li Si')
        before = self.show(n, num)
        self.assertEqual(n.stop(), 0)
        n.start()
        after = self.show(n, num)
        self.assertEqual(after['number'], num)
        self.assertEqual(after['status'], 'received')
        self.assertEqual(after['item'], before['item'])
        self.assertEqual(wjtest.applicant_name(after), 'Li Si')

    def test_config_file_alone(self):
        n = self.new_node(TOWNSHIP)
        n.write_config('# every setting from the file\n'
                       'id: %s\n'
                       'data_dir: %s\n'
                       'control: %s\n'
                       'log_level: info\n' % (n.code, n.data, n.endpoint))
        n.start(flags=False)
        self.load_catalog(n, [wjtest.item('T-TWP', 'TownshipItem',
                                          apply_at=('township',),
                                          tasks=(('office', 'township'),))])
        num = self.submit(n, 'T-TWP')
        self.assertTrue(num.startswith(TOWNSHIP + '-'), num)

    def test_flags_override_config(self):
        n = self.new_node(COUNTY)
        other = os.path.join(self.tmp, 'other-data')
        os.makedirs(other)
        n.write_config('id: %s\n'
                       'data_dir: %s\n'
                       'control: ipc://%s\n'
                       'log_level: info\n'
                       % (VILLAGE, other, os.path.join(self.tmp, 'other.sock')))
        n.start()   # --id COUNTY --data ... --control ... over the file
        self.assertFalse(os.path.exists(os.path.join(self.tmp, 'other.sock')),
                         'the control flag did not override the file')
        self.load_catalog(n, TEST_ITEMS)
        num = self.submit(n, ITEM_SIMPLE)
        self.assertTrue(num.startswith(COUNTY + '-'),
                        '--id did not override the file: %s' % num)
        self.assertEqual(os.listdir(other), [],
                         '--data did not override the file')

    def test_every_level_starts(self):
        for code in (PROVINCE, CITY, COUNTY, TOWNSHIP, VILLAGE):
            with self.subTest(code=code):
                n = self.new_node(code)
                n.start()
                self.ok(n, 'status')
                self.assertEqual(n.stop(), 0, n.log_text())

    def test_invalid_id_refused(self):
        for code in ('12345', '330100000001'):
            with self.subTest(code=code):
                n = self.new_node(COUNTY, name='bad-' + code)
                n.code = code
                n.spawn()
                rc = n.wait_exit()
                self.assertNotEqual(rc, 0, 'wuji-node --id %s started' % code)
                self.assertIn(code, n.log_text(),
                              'the refusal does not name the code')

    def test_link_files_missing_is_a_config_error(self):
        """A key or children file that cannot be used is a mistake in the
        configuration: exit status 2, which systemd does not restart
        (RestartPreventExitStatus=2), and the message names the file."""
        for what, extra in (
                ('key_file', 'listen: tcp://127.0.0.1:1\n'
                             'key_file: %s/missing.key\n'
                             'children_file: %s/children.yaml\n'),
                ('children_file', 'listen: tcp://127.0.0.1:1\n'
                                  'key_file: %s/node.key\n'
                                  'children_file: %s/missing.yaml\n')):
            with self.subTest(what=what):
                n = self.new_node(COUNTY, name='links-' + what)
                os.makedirs(n.dir, exist_ok=True)
                r = wjtest.run([wjtest.CTL, 'keygen', '-o',
                                os.path.join(n.dir, 'node')])
                self.assertEqual(r.rc, 0, r)
                n.write_config('id: %s\ndata_dir: %s\ncontrol: %s\n'
                               % (n.code, n.data, n.endpoint) +
                               extra % (n.dir, n.dir))
                n.spawn(flags=False)
                rc = n.wait_exit()
                self.assertEqual(rc, 2, 'expected exit status 2; log:\n'
                                 + n.log_text())
                self.assertIn('missing', n.log_text())

    def test_wrong_parent_id_is_a_config_error(self):
        """A parent_id that is not this node's parent is a mistake in the
        configuration too: exit status 2, not a restart every 2 s."""
        n = self.new_node(COUNTY, name='wrong-parent')
        os.makedirs(n.dir, exist_ok=True)
        r = wjtest.run([wjtest.CTL, 'keygen', '-o', os.path.join(n.dir, 'node')])
        self.assertEqual(r.rc, 0, r)
        n.write_config('id: %s\ndata_dir: %s\ncontrol: %s\n'
                       'key_file: %s/node.key\n'
                       'parent: tcp://127.0.0.1:1\n'
                       'parent_id: 330200000000\n'
                       'parent_key: "%s"\n'
                       % (n.code, n.data, n.endpoint, n.dir, 'x' * 40))
        n.spawn(flags=False)
        rc = n.wait_exit()
        self.assertEqual(rc, 2, 'expected exit status 2; log:\n' + n.log_text())
        self.assertIn('330200000000 is not the parent', n.log_text())

    def test_data_dir_of_another_node_refused(self):
        a = self.start_node(COUNTY)
        num = self.submit(a, ITEM_SIMPLE, 'Wang Wu')
        self.assertEqual(a.stop(), 0)
        b = self.new_node(TOWNSHIP, data=a.data)
        b.spawn()
        rc = b.wait_exit()
        self.assertNotEqual(rc, 0, 'a township node opened a county node\'s '
                            'data dir; log:\n' + b.log_text())
        # The refusal did no harm: the owner still starts and has its case.
        a.start()
        self.assertEqual(self.show(a, num)['status'], 'received')


class LifecycleTest(NodeTest):

    def setUp(self):
        super().setUp()
        self.n = self.start_node(COUNTY)

    # -- helpers
    def do(self, *args):
        return self.ok(self.n, *args)

    def accept(self, num):
        """Accepts and returns the days it may have been accepted on."""
        days = {today_cst()}
        self.do('accept', num)
        days.add(today_cst())
        return days

    def events(self, case):
        return [h['event'] for h in case['history']]

    def assertDue(self, case, days, n):
        self.assertIn(case['due_date'], due_candidates(CAL_2026, days, n),
                      'due date of %s after %d working days' % (sorted(days), n))

    # -- tests
    def test_case_numbers(self):
        days = {today_cst()}
        nums = [self.submit(self.n, ITEM_SIMPLE, 'Applicant %d' % i)
                for i in range(6)]
        days.add(today_cst())
        self.assertEqual(len(set(nums)), len(nums), nums)
        for num in nums:
            m = CASE_NUMBER_RE.match(num)
            self.assertEqual(m.group(1), COUNTY, num)
            self.assertIn(m.group(2), {x.strftime('%Y%m%d') for x in days},
                          num)

    def test_human_submit_prints_number(self):
        r = self.do('submit', '--item', ITEM_SIMPLE, '--applicant', 'Zhao Liu')
        nums = [w for w in r.out.split() if CASE_NUMBER_RE.match(w)]
        self.assertEqual(len(nums), 1, r)
        self.assertEqual(self.show(self.n, nums[0])['status'], 'received')

    def test_fresh_case(self):
        num = self.submit(self.n, ITEM_PERMIT, 'Sun Qi', ALL_MATERIALS,
                          extra=('--id-type', 'id-card', '--id-number',
                                 '33010619900101123X'))
        c = self.show(self.n, num)
        self.assertEqual(c['number'], num)
        self.assertEqual(c['item'], ITEM_PERMIT)
        self.assertEqual(c['status'], 'received')
        self.assertEqual(c['warning'], 'none')
        self.assertIsNone(c['due_date'])
        self.assertEqual(wjtest.applicant_name(c), 'Sun Qi')
        self.assertEqual(len(c['tasks']), 1)
        t = c['tasks'][0]
        self.assertEqual(t['department'], 'civil-affairs')
        self.assertEqual(t['node'], COUNTY)
        self.assertEqual(t['level'], 'county')
        self.assertEqual(t['status'], 'waiting')
        self.assertEqual(self.events(c), ['submitted'])
        h = c['history'][0]
        self.assertEqual(str(h['node']), COUNTY)
        self.assertIsNotNone(h.get('at'))

    def test_promised_path_to_archive(self):
        num = self.submit(self.n, ITEM_PERMIT, 'Zhou Ba', ALL_MATERIALS)
        days = self.accept(num)
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'accepted')
        self.assertRegex(c['due_date'], DATE_RE)
        self.assertDue(c, days, 3)
        self.assertEqual(c['warning'], 'none')
        self.assertEqual([t['status'] for t in c['tasks']], ['pending'])

        self.do('decide', num, '--approve', '--certificate', 'CERT-0001')
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'approved')
        self.assertEqual([t['status'] for t in c['tasks']], ['approved'])

        self.do('deliver', num, '--by', 'window')
        self.assertEqual(self.status_of(self.n, num), 'delivered')
        self.do('archive', num)
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'archived')
        self.assertEqual(self.events(c), ['submitted', 'accepted', 'decided',
                                          'delivered', 'archived'])
        for h in c['history']:
            self.assertEqual(str(h['node']), COUNTY, h)
            self.assertIsNotNone(h.get('at'), h)

    def test_correction_then_supply(self):
        num = self.submit(self.n, ITEM_PERMIT, 'Wu Jiu', [MAT_PHOTO])
        # Required, non-waivable IdCard is missing: no acceptance.
        before = self.show(self.n, num)
        r = self.n.ctl('accept', num)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.show(self.n, num), before)

        self.do('correct', num, '--missing', MAT_ID, '--missing', MAT_FORM)
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'correction')
        self.assertIsNone(c['due_date'], 'the clock runs during correction')
        self.assertEqual(c['warning'], 'none')
        # The notice lists every missing material at once.
        text = self.n.ctl('show', num).text
        self.assertIn(MAT_ID, text)
        self.assertIn(MAT_FORM, text)

        self.do('supply', num)
        self.assertEqual(self.status_of(self.n, num), 'received')
        days = self.accept(num)
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'accepted')
        self.assertDue(c, days, 3)
        self.assertEqual(self.events(c), ['submitted', 'correction',
                                          'supplied', 'accepted'])

    def test_waivable_material_may_be_missing(self):
        num = self.submit(self.n, ITEM_PERMIT, 'Zheng Shi', [MAT_ID])
        self.accept(num)
        self.assertEqual(self.status_of(self.n, num), 'accepted')

    def test_reject_then_archive(self):
        num = self.submit(self.n, ITEM_PERMIT, 'Feng Yi', [MAT_PHOTO])
        self.do('reject', num, '--reason', 'not within this office\'s remit')
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'rejected')
        self.assertIsNone(c['due_date'])
        self.assertEqual([t['status'] for t in c['tasks']], ['cancelled'])
        self.assertIn('remit', self.n.ctl('show', num).text)
        self.do('archive', num)
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'archived')
        self.assertEqual(self.events(c), ['submitted', 'rejected', 'archived'])

    def test_pause_resume_same_day(self):
        num = self.submit(self.n, ITEM_SIMPLE, 'Chen Er')
        days = self.accept(num)
        due = self.show(self.n, num)['due_date']
        self.do('pause', num, '--reason', 'expert review')
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'paused')
        self.do('resume', num)
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'accepted')
        if today_cst() in days:   # midnight did not pass in between
            self.assertEqual(c['due_date'], due)
        self.assertEqual(self.events(c)[-2:], ['paused', 'resumed'])

    def test_extend_once(self):
        num = self.submit(self.n, ITEM_SIMPLE, 'Chu San')
        self.accept(num)
        due = wjtest.d(self.show(self.n, num)['due_date'])
        self.do('extend', num, '--days', '3', '--reason', 'site inspection')
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'accepted')
        self.assertEqual(c['due_date'],
                         CAL_2026.add_workdays(due, 3).isoformat())
        self.assertEqual(self.events(c)[-1], 'extended')
        # Only once.
        r = self.n.ctl('extend', num, '--days', '2', '--reason', 'again')
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.show(self.n, num), c)

    def test_extend_limits(self):
        simple = self.submit(self.n, ITEM_SIMPLE, 'Wei Si')
        self.accept(simple)
        due = wjtest.d(self.show(self.n, simple)['due_date'])
        self.do('extend', simple, '--days', '10', '--reason', 'max')
        self.assertEqual(self.show(self.n, simple)['due_date'],
                         CAL_2026.add_workdays(due, 10).isoformat())

        simple2 = self.submit(self.n, ITEM_SIMPLE, 'Wei Wu')
        self.accept(simple2)
        before = self.show(self.n, simple2)
        r = self.n.ctl('extend', simple2, '--days', '11', '--reason', 'x')
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.show(self.n, simple2), before)

        joint = self.submit(self.n, ITEM_JOINT, 'Jiang Liu')
        self.accept(joint)
        due = wjtest.d(self.show(self.n, joint)['due_date'])
        self.do('extend', joint, '--days', '15', '--reason', 'joint max')
        self.assertEqual(self.show(self.n, joint)['due_date'],
                         CAL_2026.add_workdays(due, 15).isoformat())

        joint2 = self.submit(self.n, ITEM_JOINT, 'Jiang Qi')
        self.accept(joint2)
        before = self.show(self.n, joint2)
        r = self.n.ctl('extend', joint2, '--days', '16', '--reason', 'x')
        self.assertIn(r.rc, (1, 2), r)
        self.assertEqual(self.show(self.n, joint2), before)

    def test_extend_while_paused(self):
        num = self.submit(self.n, ITEM_SIMPLE, 'Shen Ba')
        self.accept(num)
        self.do('pause', num, '--reason', 'hearing')
        self.do('extend', num, '--days', '2', '--reason', 'hearing runs long')
        self.assertEqual(self.status_of(self.n, num), 'paused')
        self.do('resume', num)
        self.assertEqual(self.status_of(self.n, num), 'accepted')

    def test_joint_all_approve(self):
        num = self.submit(self.n, ITEM_JOINT, 'Han Jiu')
        c = self.show(self.n, num)
        self.assertEqual([(t['department'], t['level'], t['node'], t['status'])
                          for t in c['tasks']],
                         [('county-planning', 'county', COUNTY, 'waiting'),
                          ('city-environment', 'city', CITY, 'waiting')])
        days = self.accept(num)
        c = self.show(self.n, num)
        self.assertDue(c, days, 5)
        self.assertEqual([t['status'] for t in c['tasks']],
                         ['pending', 'pending'])
        self.do('decide', num, '--task', task_ref(c, 0), '--approve',
                '--certificate', 'PLAN-1')
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'accepted',
                         'one of two tasks decided, the case is not')
        self.assertEqual([t['status'] for t in c['tasks']],
                         ['approved', 'pending'])
        self.do('decide', num, '--task', task_ref(c, 1), '--approve',
                '--certificate', 'ENV-1')
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'approved')
        self.assertEqual([t['status'] for t in c['tasks']],
                         ['approved', 'approved'])
        self.do('deliver', num, '--by', 'post')
        self.assertEqual(self.status_of(self.n, num), 'delivered')

    def test_joint_one_denies(self):
        num = self.submit(self.n, ITEM_JOINT, 'Yang Shi')
        self.accept(num)
        c = self.show(self.n, num)
        self.do('decide', num, '--task', task_ref(c, 0), '--deny', '--reason',
                'zoning does not allow it')
        c = self.show(self.n, num)
        self.assertEqual(c['tasks'][0]['status'], 'denied')
        if c['status'] == 'accepted':
            self.do('decide', num, '--task', task_ref(c, 1), '--approve',
                    '--certificate', 'ENV-2')
            c = self.show(self.n, num)
        self.assertEqual(c['status'], 'denied')
        self.do('deliver', num, '--by', 'window')
        self.do('archive', num)
        self.assertEqual(self.status_of(self.n, num), 'archived')

    def test_single_deny(self):
        num = self.submit(self.n, ITEM_SIMPLE, 'Zhu Yi')
        self.accept(num)
        self.do('decide', num, '--deny', '--reason', 'conditions not met')
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'denied')
        self.assertEqual([t['status'] for t in c['tasks']], ['denied'])
        self.assertIn('conditions not met', self.n.ctl('show', num).text)
        self.do('deliver', num)   # --by is optional
        self.assertEqual(self.status_of(self.n, num), 'delivered')

    def test_immediate_item_approved_at_acceptance(self):
        num = self.submit(self.n, ITEM_IMMEDIATE, 'Qin Er')
        self.do('accept', num)
        c = self.show(self.n, num)
        self.assertEqual(c['status'], 'approved')
        self.assertEqual([t['status'] for t in c['tasks']], ['approved'])
        self.do('deliver', num, '--by', 'window')
        self.do('archive', num)
        self.assertEqual(self.status_of(self.n, num), 'archived')

    def test_withdraw_from_each_open_status(self):
        nums = {}
        nums['received'] = self.submit(self.n, ITEM_PERMIT, 'You San',
                                       ALL_MATERIALS)
        nums['correction'] = self.submit(self.n, ITEM_PERMIT, 'Xu Si')
        self.do('correct', nums['correction'], '--missing', MAT_ID,
                '--missing', MAT_FORM)
        nums['accepted'] = self.submit(self.n, ITEM_SIMPLE, 'He Wu')
        self.do('accept', nums['accepted'])
        nums['paused'] = self.submit(self.n, ITEM_SIMPLE, 'Lv Liu')
        self.do('accept', nums['paused'])
        self.do('pause', nums['paused'], '--reason', 'testing')
        for status, num in nums.items():
            with self.subTest(status=status):
                self.assertEqual(self.status_of(self.n, num), status)
                self.do('withdraw', num)
                c = self.show(self.n, num)
                self.assertEqual(c['status'], 'withdrawn')
                self.assertEqual(c['warning'], 'none')
                self.assertEqual([t['status'] for t in c['tasks']],
                                 ['cancelled'])
                self.assertEqual(self.events(c)[-1], 'withdrawn')
                self.do('archive', num)
                self.assertEqual(self.status_of(self.n, num), 'archived')

    def test_warnings(self):
        one = self.submit(self.n, ITEM_ONE_DAY, 'Shi Qi')
        fresh = self.submit(self.n, ITEM_PERMIT, 'Zhang Ba', ALL_MATERIALS)
        waiting = self.submit(self.n, ITEM_ONE_DAY, 'Kong Jiu')
        days = self.accept(one)
        self.accept(fresh)
        c = self.show(self.n, one)
        self.assertDue(c, days, 1)
        self.assertEqual(c['warning'], 'yellow')
        self.assertEqual(self.show(self.n, fresh)['warning'], 'none')
        self.assertEqual(self.show(self.n, waiting)['warning'], 'none',
                         'a case not accepted has no running clock')

        yellow = [x['number'] for x in self.okj(self.n, 'list', '--warning',
                                                'yellow')]
        self.assertIn(one, yellow)
        self.assertNotIn(fresh, yellow)
        self.assertNotIn(waiting, yellow)
        red = [x['number'] for x in self.okj(self.n, 'list', '--warning',
                                             'red')]
        self.assertEqual(red, [])

        self.assertIn(one, self.do('warnings').out)
        w = self.okj(self.n, 'warnings')
        self.assertIn(one, str(w))
        self.assertNotIn(fresh, str(w))

    def test_list(self):
        a = self.submit(self.n, ITEM_SIMPLE, 'Cao Yi')
        b = self.submit(self.n, ITEM_SIMPLE, 'Yan Er')
        c = self.submit(self.n, ITEM_PERMIT, 'Hua San')
        days = self.accept(b)
        self.do('reject', c, '--reason', 'incomplete')
        cases = self.okj(self.n, 'list')
        self.assertIsInstance(cases, list)
        byn = {x['number']: x for x in cases}
        self.assertEqual(set(byn), {a, b, c})
        for x in cases:
            for k in ('number', 'item', 'status', 'warning', 'due_date'):
                self.assertIn(k, x)
        self.assertEqual(byn[a]['status'], 'received')
        self.assertIsNone(byn[a]['due_date'])
        self.assertEqual(byn[b]['status'], 'accepted')
        self.assertIn(byn[b]['due_date'], due_candidates(CAL_2026, days, 5))
        self.assertEqual(byn[c]['status'], 'rejected')
        self.assertEqual(byn[c]['item'], ITEM_PERMIT)
        for st, want in (('received', {a}), ('accepted', {b}),
                         ('rejected', {c}), ('archived', set())):
            got = {x['number'] for x in self.okj(self.n, 'list', '--status',
                                                 st)}
            self.assertEqual(got, want, st)


if __name__ == '__main__':
    wjtest.main()
