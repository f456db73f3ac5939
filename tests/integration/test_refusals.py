"""Integration: every transition the lifecycle does not allow is refused with
exit 1, a message naming the current status and the steps allowed next, and
no change to the case (show --json identical before and after).  Also the
other refusals of the node: unknown case, item, material or task, an item
not offered at this level, acceptance with a required material missing."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
from wjtest import (COUNTY, ITEM_CITY, ITEM_JOINT, ITEM_PERMIT,  # noqa: E402
                    ITEM_SIMPLE, MAT_FORM, MAT_ID, MAT_PHOTO, NodeTest,
                    task_ref)

VERBS = ('accept', 'correct', 'supply', 'reject', 'pause', 'resume',
         'extend', 'decide', 'deliver', 'withdraw', 'archive')

# Arguments that make each command well-formed, so that only the case's
# status can be the reason for a refusal.  The cases are of ITEM_PERMIT
# with the waivable form missing, so `correct --missing` names a real,
# missing material in every status.
VERB_ARGS = {
    'accept': [],
    'correct': ['--missing', MAT_FORM],
    'supply': [],
    'reject': ['--reason', 'test refusal'],
    'pause': ['--reason', 'test refusal'],
    'resume': [],
    'extend': ['--days', '2', '--reason', 'test refusal'],
    'decide': ['--approve', '--certificate', 'CERT-X'],
    'deliver': ['--by', 'window'],
    'withdraw': [],
    'archive': [],
}

# status -> (steps the spec allows next, which the refusal must name;
#            steps where the spec is silent, neither tried nor required)
ALLOWED = {
    'received': ({'accept', 'correct', 'reject', 'withdraw'}, set()),
    'correction': ({'supply', 'withdraw'}, {'reject', 'correct'}),
    'accepted': ({'pause', 'extend', 'decide', 'withdraw'}, set()),
    'paused': ({'resume', 'withdraw'}, {'extend'}),
    'approved': ({'deliver'}, set()),
    'denied': ({'deliver'}, set()),
    'delivered': ({'archive'}, set()),
    'rejected': ({'archive'}, set()),
    'withdrawn': ({'archive'}, set()),
    'archived': (set(), set()),
}


class TransitionRefusals(NodeTest):

    def setUp(self):
        super().setUp()
        self.n = self.start_node(COUNTY)

    def step(self, num, verb):
        self.ok(self.n, verb, num, *VERB_ARGS[verb])

    def make(self, status):
        """A case in the given status."""
        num = self.submit(self.n, ITEM_PERMIT, 'Case in ' + status,
                          [MAT_ID, MAT_PHOTO])
        path = {
            'received': [],
            'correction': ['correct'],
            'accepted': ['accept'],
            'paused': ['accept', 'pause'],
            'approved': ['accept', 'decide'],
            'denied': ['accept'],
            'delivered': ['accept', 'decide', 'deliver'],
            'rejected': ['reject'],
            'withdrawn': ['withdraw'],
            'archived': ['accept', 'decide', 'deliver', 'archive'],
        }[status]
        for verb in path:
            self.step(num, verb)
        if status == 'denied':
            self.ok(self.n, 'decide', num, '--deny', '--reason', 'no')
        self.assertEqual(self.status_of(self.n, num), status)
        return num

    def test_refused_transitions(self):
        for status, (allowed, unclear) in ALLOWED.items():
            num = self.make(status)
            for verb in VERBS:
                if verb in allowed or verb in unclear:
                    continue
                with self.subTest(status=status, verb=verb):
                    before = self.show(self.n, num)
                    r = self.n.ctl(verb, num, *VERB_ARGS[verb])
                    self.assertRefused(r, status, *sorted(allowed))
                    self.assertEqual(self.show(self.n, num), before,
                                     'a refused %s changed the case' % verb)

    def test_allowed_steps_are_allowed(self):
        """The other half of the table: each step named as allowed works
        (on a fresh case, since it changes the case)."""
        for status, (allowed, _) in ALLOWED.items():
            for verb in sorted(allowed):
                with self.subTest(status=status, verb=verb):
                    num = self.make(status)
                    r = self.n.ctl(verb, num, *VERB_ARGS[verb])
                    self.assertEqual(r.rc, 0, r)


class OtherRefusals(NodeTest):

    def setUp(self):
        super().setUp()
        self.n = self.start_node(COUNTY)

    def unchanged(self, num, *args):
        """Runs a command expected to be refused; returns its Result after
        checking exit 1 and that the case did not change."""
        before = self.show(self.n, num)
        r = self.n.ctl(*args)
        self.assertEqual(r.rc, 1, r)
        self.assertTrue(r.text.strip(), 'refusal without a message: %r' % r)
        self.assertEqual(self.show(self.n, num), before)
        return r

    def test_required_material_missing_blocks_acceptance(self):
        num = self.submit(self.n, ITEM_PERMIT, 'No Id', [MAT_FORM, MAT_PHOTO])
        r = self.unchanged(num, 'accept', num)
        self.assertIn(MAT_ID, r.text, 'the refusal does not name the '
                      'missing material')
        self.assertEqual(self.status_of(self.n, num), 'received')

    def test_unknown_case(self):
        bogus = COUNTY + '-20261122-999999'
        for args in (['show', bogus], ['accept', bogus],
                     ['withdraw', bogus],
                     ['reject', bogus, '--reason', 'x']):
            with self.subTest(args=args):
                r = self.n.ctl(*args)
                self.assertEqual(r.rc, 1, r)

    def test_unknown_item(self):
        r = self.n.ctl('submit', '--item', 'NO-SUCH-ITEM', '--applicant', 'A')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('NO-SUCH-ITEM', r.text)
        self.assertEqual(self.okj(self.n, 'list'), [])

    def test_item_not_offered_at_this_level(self):
        r = self.n.ctl('submit', '--item', ITEM_CITY, '--applicant', 'A')
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.okj(self.n, 'list'), [])

    def test_unknown_material(self):
        r = self.n.ctl('submit', '--item', ITEM_PERMIT, '--applicant', 'A',
                       '--material', 'Passport-of-the-cat')
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.okj(self.n, 'list'), [])
        num = self.submit(self.n, ITEM_PERMIT, 'B')
        self.unchanged(num, 'correct', num, '--missing', 'Passport-of-the-cat')

    def test_empty_applicant(self):
        r = self.n.ctl('submit', '--item', ITEM_SIMPLE, '--applicant', '')
        self.assertIn(r.rc, (1, 2), r)
        self.assertEqual(self.okj(self.n, 'list'), [])

    def test_no_catalog(self):
        n = self.start_node(COUNTY, catalog=False, name='empty')
        r = n.ctl('submit', '--item', ITEM_SIMPLE, '--applicant', 'A')
        self.assertEqual(r.rc, 1, r)

    def test_unknown_task(self):
        num = self.submit(self.n, ITEM_JOINT, 'C')
        self.ok(self.n, 'accept', num)
        self.unchanged(num, 'decide', num, '--task', '99', '--approve',
                       '--certificate', 'X')

    def test_task_decided_twice(self):
        num = self.submit(self.n, ITEM_JOINT, 'D')
        self.ok(self.n, 'accept', num)
        c = self.show(self.n, num)
        self.ok(self.n, 'decide', num, '--task', task_ref(c, 0), '--approve',
                '--certificate', 'X1')
        self.unchanged(num, 'decide', num, '--task', task_ref(c, 0), '--deny',
                       '--reason', 'changed my mind')

    def test_extend_twice(self):
        num = self.submit(self.n, ITEM_SIMPLE, 'E')
        self.ok(self.n, 'accept', num)
        self.ok(self.n, 'extend', num, '--days', '1', '--reason', 'first')
        self.unchanged(num, 'extend', num, '--days', '1', '--reason', 'again')


if __name__ == '__main__':
    wjtest.main()
