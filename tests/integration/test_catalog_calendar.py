"""Integration: loading the service item catalog and the holiday calendar
through node-ctl, what catalog list/show report, bad files (an error naming
file, line and field, exit 2, nothing loaded), and the calendar's effect on
due dates, checked against wjtest's own working-day calendar."""

import datetime
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wjtest  # noqa: E402
from wjtest import (CAL_2026, CALENDAR_2026_YAML, COUNTY,  # noqa: E402
                    ITEM_JOINT, ITEM_SIMPLE, NodeTest, SAMPLES, TEST_ITEMS,
                    WorkCalendar, due_candidates, item, line_of,
                    today_cst)

GOOD_ITEM = """\
  - code: "OK-1"
    name: "GoodItem"
    kind: promised
    promised_days: 5
    statutory_days: 20
    apply_at: [county]
    tasks:
      - department: "office"
        level: county
    materials: []
"""


def one_item(**repl):
    """A catalog file of GOOD_ITEM then a second item with some lines
    replaced: repl maps a line prefix (after indentation) to its new text,
    or to None to drop the line."""
    lines = []
    for l in GOOD_ITEM.replace('OK-1', 'BAD-1').replace('GoodItem', 'BadItem'
                                                        ).splitlines():
        key = l.strip().lstrip('- ').split(':')[0]
        if key in repl:
            if repl[key] is None:
                continue
            indent = l[:len(l) - len(l.lstrip())]
            if l.strip().startswith('- '):
                indent += '- '
            l = indent + repl[key]
        lines.append(l)
    return 'items:\n' + GOOD_ITEM + '\n'.join(lines) + '\n'


class CatalogTest(NodeTest):

    def setUp(self):
        super().setUp()
        self.n = self.start_node(COUNTY, catalog=False, calendar=False)

    def catalog(self):
        items = self.okj(self.n, 'catalog', 'list')
        self.assertIsInstance(items, list)
        return items

    def test_sample_catalog_loads(self):
        path = os.path.join(SAMPLES, 'catalog.yaml')
        self.ok(self.n, 'catalog', 'load', path)
        items = self.catalog()
        self.assertGreater(len(items), 0, 'sample catalog loaded no items')
        codes = [i['code'] for i in items]
        self.assertEqual(len(codes), len(set(codes)))
        for i in items:
            with self.subTest(code=i['code']):
                self.assertIn(i['kind'], ('immediate', 'promised'))
                self.assertIsInstance(i['name'], str)
                self.assertIsInstance(i['promised_days'], int)
                self.assertIsInstance(i['statutory_days'], int)
                if i['kind'] == 'promised':
                    self.assertTrue(1 <= i['promised_days']
                                    <= i['statutory_days'], i)
                self.assertGreater(len(i['tasks']), 0)
                for t in i['tasks']:
                    self.assertIn(t['level'], wjtest.LEVELS)
                    self.assertTrue(t['department'])

    def test_list_and_show(self):
        self.load_catalog(self.n, TEST_ITEMS)
        got = {i['code']: i for i in self.catalog()}
        self.assertEqual(set(got), {i['code'] for i in TEST_ITEMS})
        for want in TEST_ITEMS:
            with self.subTest(code=want['code']):
                g = got[want['code']]
                for k in ('name', 'kind', 'promised_days', 'statutory_days'):
                    self.assertEqual(g[k], want[k], k)
                self.assertEqual([(t['department'], t['level'])
                                  for t in g['tasks']],
                                 [(t['department'], t['level'])
                                  for t in want['tasks']])
        r = self.ok(self.n, 'catalog', 'show', ITEM_JOINT, json_out=True)
        obj = r.json()
        if isinstance(obj, list):
            self.assertEqual(len(obj), 1, r)
            obj = obj[0]
        self.assertEqual(obj['code'], ITEM_JOINT)
        self.assertEqual(obj['name'], 'JointApproval')
        r = self.ok(self.n, 'catalog', 'show', ITEM_JOINT)
        self.assertIn('JointApproval', r.out)
        self.assertIn('city-environment', r.out)

    def test_show_unknown(self):
        self.load_catalog(self.n, TEST_ITEMS)
        for args in (['catalog', 'show', 'NO-SUCH'],):
            r = self.n.ctl(*args)
            self.assertEqual(r.rc, 1, r)
            r = self.n.ctl(*args, json_out=True)
            self.assertEqual(r.rc, 1, r)

    def test_reload_updates_item(self):
        self.load_catalog(self.n, TEST_ITEMS)
        changed = [dict(i) for i in TEST_ITEMS]
        for i in changed:
            if i['code'] == ITEM_SIMPLE:
                i['promised_days'], i['name'] = 7, 'SimpleLicenceV2'
        self.load_catalog(self.n, changed, 'catalog2.yaml')
        got = {i['code']: i for i in self.catalog()}
        self.assertEqual(got[ITEM_SIMPLE]['promised_days'], 7)
        self.assertEqual(got[ITEM_SIMPLE]['name'], 'SimpleLicenceV2')

    def check_bad(self, fname, text, lines, fields, what):
        """Loads a bad file: exit 2, a message naming the file, one of
        `lines` and one of `fields`, and an unchanged catalog."""
        before = self.catalog()
        path = self.write(fname, text)
        r = self.n.ctl('catalog', 'load', path)
        self.assertEqual(r.rc, 2, '%s: %r' % (what, r))
        msg = r.err + r.out
        self.assertIn(fname, msg, '%s: the error does not name the file' % what)
        self.assertTrue(any(re.search(r'(:|line )%d\b' % l, msg)
                            for l in lines),
                        '%s: the error does not name line %s: %r'
                        % (what, ' or '.join(map(str, lines)), msg))
        if fields:
            self.assertTrue(any(f in msg for f in fields),
                            '%s: the error does not name the field (%s): %r'
                            % (what, ' or '.join(fields), msg))
        self.assertEqual(self.catalog(), before, '%s: something was loaded'
                         % what)

    def test_bad_catalogs(self):
        self.load_catalog(self.n, TEST_ITEMS)
        cases = [
            ('promised_days not a number', {'promised_days':
                                            'promised_days: abc'},
             'promised_days: abc', ['promised_days']),
            ('negative days', {'statutory_days': 'statutory_days: -3'},
             'statutory_days: -3', ['statutory_days']),
            ('misspelt key', {'promised_days': 'promised_dayz: 5'},
             'promised_dayz', ['promised_dayz']),
            ('unknown kind', {'kind': 'kind: sometimes'}, 'kind: sometimes',
             ['kind']),
            ('unknown task level', {'level': 'level: galaxy'},
             'level: galaxy', ['level']),
            ('unknown apply_at level', {'apply_at': 'apply_at: [county, moon]'},
             'apply_at: [county, moon]', ['apply_at']),
            ('no tasks', {'tasks': 'tasks: []', 'department': None,
                          'level': None}, 'tasks: []', ['tasks']),
            ('promised above statutory', {'promised_days':
                                          'promised_days: 30'},
             'promised_days: 30', ['promised_days', 'statutory_days']),
            ('duplicate code', {'code': 'code: "OK-1"'}, None, ['code']),
            ('materials not a list', {'materials': 'materials: 7'},
             'materials: 7', ['materials']),
        ]
        for i, (what, repl, marker, fields) in enumerate(cases):
            with self.subTest(what=what):
                text = one_item(**repl)
                if marker is None:   # duplicate code: the second "code:"
                    lines = {line_of(text, 'code:', 1)}
                else:
                    lines = {line_of(text, marker)}
                if what == 'promised above statutory':
                    # a cross-field rule may point at either field or at
                    # the item itself
                    lines |= {line_of(text, 'statutory_days', 1),
                              line_of(text, 'code:', 1)}
                if what == 'no tasks':
                    lines.add(line_of(text, 'code:', 1))
                self.check_bad('bad-catalog-%d.yaml' % i, text, lines, fields,
                               what)

    def test_bad_catalog_syntax(self):
        self.load_catalog(self.n, TEST_ITEMS)
        text = one_item(apply_at='apply_at: [county')
        # libyaml reports an unclosed flow sequence at the line where it
        # notices, the next line or so
        ln = line_of(text, 'apply_at: [county')
        self.check_bad('syntax.yaml', text, range(ln, ln + 4), None,
                       'unclosed bracket')
        text = 'items:\n  - code: "X"\n\tname: tab\n'
        self.check_bad('tab.yaml', text, (2, 3), None, 'tab indentation')

    def test_missing_file(self):
        before = self.catalog()
        r = self.n.ctl('catalog', 'load', os.path.join(self.tmp, 'absent.yaml'))
        self.assertIn(r.rc, (1, 2), r)
        self.assertIn('absent.yaml', r.text)
        self.assertEqual(self.catalog(), before)


class CalendarTest(NodeTest):

    def setUp(self):
        super().setUp()
        self.n = self.start_node(COUNTY, calendar=False)

    def cal_show(self):
        r = self.ok(self.n, 'calendar', 'show', json_out=True)
        return r.json()

    def accept_days(self, item_code):
        num = self.submit(self.n, item_code, 'Calendar Tester')
        days = {today_cst()}
        self.ok(self.n, 'accept', num)
        days.add(today_cst())
        return self.show(self.n, num)['due_date'], days

    def test_sample_calendar_loads(self):
        path = os.path.join(SAMPLES, 'calendar-2026.yaml')
        self.ok(self.n, 'calendar', 'load', path)
        r = self.ok(self.n, 'calendar', 'show')
        self.assertIn('2026', r.out)
        self.cal_show()
        due, days = self.accept_days(ITEM_SIMPLE)
        self.assertIn(due, due_candidates(CAL_2026, days, 5))

    def test_sample_calendar_matches_the_notice(self):
        """The sample file (ranges spanning weekends) and wjtest's copy
        (weekdays only) describe the same 2026: the node holds the same
        calendar after loading either."""
        self.ok(self.n, 'calendar', 'load',
                os.path.join(SAMPLES, 'calendar-2026.yaml'))
        sample = self.cal_show()
        self.ok(self.n, 'calendar', 'load',
                self.write('cal.yaml', CALENDAR_2026_YAML))
        self.assertEqual(self.cal_show(), sample)

    def test_own_calendar_due_dates(self):
        path = self.write('cal.yaml', CALENDAR_2026_YAML)
        self.ok(self.n, 'calendar', 'load', path)
        self.assertIn('2026', self.ok(self.n, 'calendar', 'show').out)
        due, days = self.accept_days(ITEM_SIMPLE)
        self.assertIn(due, due_candidates(CAL_2026, days, 5))

    def test_no_calendar_weekday_rule(self):
        due, days = self.accept_days(ITEM_SIMPLE)
        self.assertIn(due, due_candidates(WorkCalendar(), days, 5))

    def test_due_date_in_year_not_loaded(self):
        """A limit long enough to end in a year the calendar does not hold
        (2027 here): the weekday rule applies there."""
        self.load_catalog(self.n, TEST_ITEMS + [
            item('T-LONG', 'LongReview', promised=60, statutory=100)],
            'long.yaml')
        self.ok(self.n, 'calendar', 'load',
                self.write('cal.yaml', CALENDAR_2026_YAML))
        due, days = self.accept_days('T-LONG')
        self.assertIn(due, due_candidates(CAL_2026, days, 60))

    def test_loaded_holidays_move_due_dates(self):
        """A calendar of the current year whose next weekdays are holidays
        and next Saturday a workday: the due date follows it."""
        today = today_cst()
        year = today.year
        holidays, workdays = set(), set()
        day = today
        for _ in range(20):
            day += datetime.timedelta(days=1)
            if day.year != year:
                break
            if day.weekday() < 5 and len(holidays) < 3:
                holidays.add(day)
            elif day.weekday() == 5 and not workdays:
                workdays.add(day)
        if not holidays and not workdays:
            self.skipTest('too close to the end of the year')
        base = CAL_2026.years.get(year, (set(), set()))
        cal = WorkCalendar({year: ((base[0] - workdays) | holidays,
                                   (base[1] - holidays) | workdays)})
        self.ok(self.n, 'calendar', 'load', self.write('near.yaml', cal.yaml()))
        due, days = self.accept_days(ITEM_SIMPLE)
        self.assertIn(due, due_candidates(cal, days, 5))
        # Loading the year again replaces it.
        self.ok(self.n, 'calendar', 'load',
                self.write('cal.yaml', CALENDAR_2026_YAML))
        due, days = self.accept_days(ITEM_SIMPLE)
        std = CAL_2026 if year == 2026 else WorkCalendar()
        self.assertIn(due, due_candidates(std, days, 5))

    def check_bad(self, fname, text, lines, fields, what):
        before = self.cal_show()
        path = self.write(fname, text)
        r = self.n.ctl('calendar', 'load', path)
        self.assertEqual(r.rc, 2, '%s: %r' % (what, r))
        msg = r.err + r.out
        self.assertIn(fname, msg, '%s: the error does not name the file' % what)
        self.assertTrue(any(re.search(r'(:|line )%d\b' % l, msg)
                            for l in lines),
                        '%s: the error does not name line %s: %r'
                        % (what, ' or '.join(map(str, lines)), msg))
        if fields:
            self.assertTrue(any(f in msg for f in fields),
                            '%s: the error does not name the field (%s): %r'
                            % (what, ' or '.join(fields), msg))
        self.assertEqual(self.cal_show(), before,
                         '%s: something was loaded' % what)

    def test_bad_calendars(self):
        self.ok(self.n, 'calendar', 'load',
                self.write('cal.yaml', CALENDAR_2026_YAML))
        good = CALENDAR_2026_YAML
        cases = [
            ('30 February', '2026-02-23', '2026-02-30', 'holidays'),
            ('month 13', '2026-04-06', '2026-13-06', 'holidays'),
            ('not a date', '2026-06-19', 'tomorrow', 'holidays'),
            ('slashes', '2026-09-25', '2026/09/25', 'holidays'),
            ('holiday on a Saturday', '2026-06-19', '2026-06-20', 'holidays'),
            ('holiday of another year', '2026-09-25', '2027-09-24',
             'holidays'),
            ('reversed range', '2026-02-16..2026-02-20',
             '2026-02-20..2026-02-16', 'holidays'),
            ('workday on a Monday', '2026-02-28', '2026-03-02', 'workdays'),
            ('workday listed twice', '2026-05-09', '2026-02-14', 'workdays'),
            ('workday 31 April', '2026-10-10', '2026-04-31', 'workdays'),
        ]
        for i, (what, old, new, field) in enumerate(cases):
            with self.subTest(what=what):
                self.assertIn('- ' + old + '\n', good)
                text = good.replace('- ' + old + '\n', '- ' + new + '\n', 1)
                ln = line_of(text, '- ' + new)
                lines = {ln, line_of(text, field + ':')}
                if what == 'workday listed twice':
                    lines.add(line_of(text, '- ' + new, 1))
                    ln = line_of(text, '- ' + new, 1)
                self.check_bad('bad-cal-%d.yaml' % i, text, lines, [field],
                               what)
        # Structural errors.
        for i, (what, text, marker, field) in enumerate([
                ('year not a number',
                 good.replace('year: 2026', 'year: twenty'), 'year: twenty',
                 'year'),
                ('misspelt key', good.replace('holidays:', 'holydays:'),
                 'holydays:', 'holydays'),
                ('holidays not a list',
                 'years:\n  - year: 2026\n    holidays: 2026-01-01\n'
                 '    workdays: []\n', 'holidays: 2026', 'holidays')]):
            with self.subTest(what=what):
                self.check_bad('bad-cal-s%d.yaml' % i, text,
                               {line_of(text, marker)}, [field], what)


if __name__ == '__main__':
    wjtest.main()
