/* node-ctl's output: JSON objects for scripts and aligned text for people.
 *
 * Tables pad by display width, not bytes, because Chinese names take two
 * terminal columns per character; the width table below is a small subset
 * of Unicode's East Asian Width that covers what case data holds, so the
 * output does not depend on the user's locale being set up. */
#include "output.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/division.h"
#include "core/names.h"

#define LABEL_W 13       /* width of the labels of a header block */
#define COLS_MAX 10

/* ------------------------------------------------------------ UTF-8 */

/* Decodes the code point at s.  Returns its length in bytes, or 0 for an
 * invalid or overlong sequence.  s is NUL-terminated, and NUL is never a
 * continuation byte, so the checks stop at the end of the string. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	unsigned char b = s[0];

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b >= 0xc2 && b <= 0xdf) {
		if ((s[1] & 0xc0) != 0x80)
			return 0;
		*cp = (uint32_t)(b & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if (b >= 0xe0 && b <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		*cp = (uint32_t)(b & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
		      (s[2] & 0x3f);
		if (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff))
			return 0;
		return 3;
	}
	if (b >= 0xf0 && b <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		*cp = (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
		      (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
		if (*cp < 0x10000 || *cp > 0x10ffff)
			return 0;
		return 4;
	}
	return 0;
}

struct range {
	uint32_t lo, hi;
};

static const struct range zero_width[] = {
	{ 0x0300, 0x036f }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff },
	{ 0x200b, 0x200f }, { 0x20d0, 0x20ff }, { 0xfe00, 0xfe0f },
	{ 0xfe20, 0xfe2f },
};

static const struct range wide[] = {
	{ 0x1100, 0x115f },   /* Hangul Jamo */
	{ 0x2e80, 0x303e },   /* CJK radicals, punctuation (、。「」) */
	{ 0x3041, 0x33ff },   /* kana, bopomofo, CJK compatibility */
	{ 0x3400, 0x4dbf },   /* CJK extension A */
	{ 0x4e00, 0x9fff },   /* CJK unified ideographs */
	{ 0xa000, 0xa4cf },   /* Yi */
	{ 0xac00, 0xd7a3 },   /* Hangul syllables */
	{ 0xf900, 0xfaff },   /* CJK compatibility ideographs */
	{ 0xfe30, 0xfe4f },   /* CJK compatibility forms */
	{ 0xff00, 0xff60 },   /* fullwidth forms (（），：) */
	{ 0xffe0, 0xffe6 },
	{ 0x1f300, 0x1f64f }, /* emoji */
	{ 0x1f900, 0x1f9ff },
	{ 0x20000, 0x2fffd }, /* CJK extensions B.. */
	{ 0x30000, 0x3fffd },
};

static bool in_ranges(uint32_t cp, const struct range *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cp >= r[i].lo && cp <= r[i].hi)
			return true;
	return false;
}

static int cp_width(uint32_t cp)
{
	if (in_ranges(cp, zero_width, sizeof(zero_width) / sizeof(*zero_width)))
		return 0;
	if (in_ranges(cp, wide, sizeof(wide) / sizeof(*wide)))
		return 2;
	return 1;
}

/* Characters that must not reach a terminal: C0 and C1 controls, DEL, and
 * the bidirectional overrides that can make text read backwards. */
static bool cp_unsafe(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t wj_output_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;

	while (p && *p) {
		uint32_t cp;
		size_t n = utf8_next(p, &cp);

		if (n == 0) {
			w++;
			p++;
			continue;
		}
		w += (size_t)cp_width(cp);
		p += n;
	}
	return w;
}

/* A copy of s safe to print: invalid bytes and unsafe characters become
 * '?'.  Never longer than s.  Caller frees. */
static char *clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char *out = malloc(strlen((const char *)p) + 1), *o = out;

	if (!out)
		abort();
	while (*p) {
		uint32_t cp;
		size_t n = utf8_next(p, &cp);

		if (n == 0 || cp_unsafe(cp)) {
			*o++ = '?';
			p += n ? n : 1;
			continue;
		}
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	*o = '\0';
	return out;
}

static void put_clean(FILE *f, const char *s)
{
	char *c = clean(s);

	fputs(c, f);
	free(c);
}

void wj_output_mask_id(const char *id, char *buf, size_t size)
{
	const unsigned char *p = (const unsigned char *)(id ? id : "");
	size_t chars = 0, head, tail, i = 0, o = 0;

	if (size == 0)
		return;
	for (const unsigned char *q = p; *q; chars++) {
		uint32_t cp;
		size_t n = utf8_next(q, &cp);

		q += n ? n : 1;
	}
	/* An 18-character ID card or credit code keeps its region (6) and the
	 * last 4; shorter numbers (passports) keep less. */
	if (chars >= 10) {
		head = 6;
		tail = 4;
	} else if (chars > 4) {
		head = 1;
		tail = 2;
	} else {
		head = 0;
		tail = 0;
	}
	while (*p) {
		uint32_t cp;
		size_t n = utf8_next(p, &cp);
		const char *src = (const char *)p;
		size_t len = n;

		if (n == 0 || cp_unsafe(cp)) {
			src = "?";
			len = 1;
		}
		if (i >= head && i + tail < chars) {
			src = "*";
			len = 1;
		}
		if (o + len >= size)
			break;
		memcpy(buf + o, src, len);
		o += len;
		p += n ? n : 1;
		i++;
	}
	buf[o] = '\0';
}

/* ------------------------------------------------------------ times */

static int64_t floor_mod(int64_t a, int64_t b)
{
	int64_t m = a % b;

	return m < 0 ? m + b : m;
}

void wj_output_time(int64_t t, char buf[20])
{
	char d[11];
	int64_t s;

	if (t == 0) {
		buf[0] = '\0';
		return;
	}
	wj_date_format(wj_date_from_unix(t), d);
	s = floor_mod(t + WJ_TZ_OFFSET_SECONDS, 86400);
	snprintf(buf, 20, "%.10s %02d:%02d", d, (int)(s / 3600),
		 (int)(s / 60 % 60));
}

void wj_output_iso(int64_t t, char buf[32])
{
	char d[11];
	int64_t s;

	if (t == 0) {
		buf[0] = '\0';
		return;
	}
	wj_date_format(wj_date_from_unix(t), d);
	s = floor_mod(t + WJ_TZ_OFFSET_SECONDS, 86400);
	snprintf(buf, 32, "%.10sT%02d:%02d:%02d+08:00", d, (int)(s / 3600),
		 (int)(s / 60 % 60), (int)(s % 60));
}

static void fmt_date(int32_t d, char buf[11])
{
	if (d == 0)
		snprintf(buf, 11, "-");
	else
		wj_date_format(d, buf);
}

/* The node counts days left only while the clock runs (wj_case_warning):
 * elsewhere days_left is 0 and means nothing. */
static bool clock_shown(const Wuji__Case *c)
{
	return c->promised_due != 0 &&
	       c->status == WUJI__CASE_STATUS__ACCEPTED;
}

/* ------------------------------------------------------------ JSON */

/* A JSON string for s.  jansson refuses invalid UTF-8, and a refused
 * value would silently drop its key, so bad bytes become U+FFFD. */
static json_t *jstr(const char *s)
{
	const unsigned char *p;
	json_t *j;
	char *buf, *o;

	if (!s)
		s = "";
	j = json_string(s);
	if (j)
		return j;
	buf = malloc(strlen(s) * 3 + 1);
	if (!buf)
		return NULL;
	o = buf;
	p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp;
		size_t n = utf8_next(p, &cp);

		if (n == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
			continue;
		}
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	*o = '\0';
	j = json_string(buf);
	free(buf);
	return j;
}

/* Optional text: null when empty. */
static json_t *jopt(const char *s)
{
	return s && *s ? jstr(s) : json_null();
}

static json_t *jcode(uint64_t code)
{
	char buf[13];

	if (code == 0)
		return json_null();
	wj_division_format(code, buf);
	return json_string(buf);
}

static json_t *jdate(int32_t d)
{
	char buf[11];

	if (d == 0)
		return json_null();
	wj_date_format(d, buf);
	return json_string(buf);
}

static json_t *jtime(int64_t t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	wj_output_iso(t, buf);
	return json_string(buf);
}

static json_t *jint(json_int_t v)
{
	return json_integer(v);
}

static json_t *task_json(const Wuji__Task *t)
{
	json_t *o = json_object();

	json_object_set_new(o, "index", jint(t->index));
	json_object_set_new(o, "department", jstr(t->department));
	json_object_set_new(o, "node", jcode(t->node));
	json_object_set_new(o, "level", json_string(wj_level_name(t->level)));
	json_object_set_new(o, "status",
			    json_string(wj_task_status_name(t->status)));
	json_object_set_new(o, "certificate", jopt(t->certificate));
	json_object_set_new(o, "reason", jopt(t->reason));
	json_object_set_new(o, "decided_at", jtime(t->decided_at));
	json_object_set_new(o, "decided_by", jcode(t->decided_by));
	return o;
}

/* days_left only means something once there is a due date. */
json_t *wj_output_case_json(const Wuji__Case *c)
{
	json_t *o = json_object(), *a;
	char masked[128];

	json_object_set_new(o, "number", jstr(c->number));
	json_object_set_new(o, "item", jstr(c->item_code));
	json_object_set_new(o, "item_name", jstr(c->item_name));
	json_object_set_new(o, "item_kind",
			    json_string(wj_item_kind_name(c->item_kind)));
	json_object_set_new(o, "kind", json_string(wj_case_kind_name(c->kind)));
	json_object_set_new(o, "status", json_string(wj_status_name(c->status)));
	json_object_set_new(o, "warning",
			    json_string(wj_warning_name(c->warning)));
	json_object_set_new(o, "days_left",
			    clock_shown(c) ? jint(c->days_left) : json_null());
	json_object_set_new(o, "due_date", jdate(c->promised_due));
	json_object_set_new(o, "statutory_due", jdate(c->statutory_due));
	json_object_set_new(o, "promised_days", jint(c->promised_days));
	json_object_set_new(o, "statutory_days", jint(c->statutory_days));
	json_object_set_new(o, "origin", jcode(c->origin));
	a = json_array();
	for (size_t i = 0; i < c->n_known_at; i++)
		json_array_append_new(a, jcode(c->known_at[i]));
	json_object_set_new(o, "known_at", a);

	a = json_object();
	if (c->applicant) {
		wj_output_mask_id(c->applicant->id_number, masked,
				  sizeof(masked));
		json_object_set_new(a, "name", jstr(c->applicant->name));
		json_object_set_new(a, "id_type",
				    c->applicant->id_type ?
				    json_string(wj_id_type_name(c->applicant->id_type)) :
				    json_null());
		json_object_set_new(a, "id_number", jopt(masked));
	} else {
		json_object_set_new(a, "name", json_string(""));
		json_object_set_new(a, "id_type", json_null());
		json_object_set_new(a, "id_number", json_null());
	}
	json_object_set_new(o, "applicant", a);

	a = json_array();
	for (size_t i = 0; i < c->n_materials; i++) {
		const Wuji__Material *m = c->materials[i];
		json_t *mo = json_object();

		json_object_set_new(mo, "name", jstr(m->name));
		json_object_set_new(mo, "required", json_boolean(m->required));
		json_object_set_new(mo, "waivable", json_boolean(m->waivable));
		json_object_set_new(mo, "supplied", json_boolean(m->supplied));
		json_array_append_new(a, mo);
	}
	json_object_set_new(o, "materials", a);

	a = json_array();
	for (size_t i = 0; i < c->n_missing; i++)
		json_array_append_new(a, jstr(c->missing[i]));
	json_object_set_new(o, "missing", a);

	a = json_array();
	for (size_t i = 0; i < c->n_tasks; i++)
		json_array_append_new(a, task_json(c->tasks[i]));
	json_object_set_new(o, "tasks", a);

	a = json_array();
	for (size_t i = 0; i < c->n_history; i++) {
		const Wuji__HistoryEntry *h = c->history[i];
		json_t *ho = json_object();

		json_object_set_new(ho, "event",
				    json_string(wj_event_name(h->event)));
		json_object_set_new(ho, "node", jcode(h->node));
		json_object_set_new(ho, "at", jtime(h->at));
		json_object_set_new(ho, "detail", jopt(h->detail));
		/* A step that a racing step at another node superseded. */
		json_object_set_new(ho, "no_effect", json_boolean(h->no_effect));
		json_array_append_new(a, ho);
	}
	json_object_set_new(o, "history", a);

	json_object_set_new(o, "submitted_at", jtime(c->submitted_at));
	json_object_set_new(o, "accepted_at", jtime(c->accepted_at));
	json_object_set_new(o, "decided_at", jtime(c->decided_at));
	json_object_set_new(o, "delivered_at", jtime(c->delivered_at));
	json_object_set_new(o, "delivered_by",
			    c->delivered_by ?
			    json_string(wj_delivery_name(c->delivered_by)) :
			    json_null());
	json_object_set_new(o, "extension_days", jint(c->extension_days));
	json_object_set_new(o, "extension_reason", jopt(c->extension_reason));

	a = json_array();
	for (size_t i = 0; i < c->n_pauses; i++) {
		const Wuji__Pause *p = c->pauses[i];
		json_t *po = json_object();

		json_object_set_new(po, "start", jtime(p->start));
		json_object_set_new(po, "end", jtime(p->end));
		json_object_set_new(po, "reason", jopt(p->reason));
		json_object_set_new(po, "working_days", jint(p->working_days));
		json_array_append_new(a, po);
	}
	json_object_set_new(o, "pauses", a);
	json_object_set_new(o, "reason", jopt(c->reason));
	return o;
}

json_t *wj_output_cases_json(Wuji__Case *const *cases, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, wj_output_case_json(cases[i]));
	return a;
}

json_t *wj_output_item_json(const Wuji__CatalogItem *it)
{
	json_t *o = json_object(), *a;

	json_object_set_new(o, "code", jstr(it->code));
	json_object_set_new(o, "name", jstr(it->name));
	json_object_set_new(o, "kind", json_string(wj_item_kind_name(it->kind)));
	json_object_set_new(o, "promised_days", jint(it->promised_days));
	json_object_set_new(o, "statutory_days", jint(it->statutory_days));
	a = json_array();
	for (size_t i = 0; i < it->n_apply_levels; i++)
		json_array_append_new(a,
			json_string(wj_level_name(it->apply_levels[i])));
	json_object_set_new(o, "apply_at", a);
	a = json_array();
	for (size_t i = 0; i < it->n_tasks; i++) {
		json_t *t = json_object();

		json_object_set_new(t, "department",
				    jstr(it->tasks[i]->department));
		json_object_set_new(t, "level",
				    json_string(wj_level_name(it->tasks[i]->level)));
		json_array_append_new(a, t);
	}
	json_object_set_new(o, "tasks", a);
	a = json_array();
	for (size_t i = 0; i < it->n_materials; i++) {
		const Wuji__CatalogMaterial *m = it->materials[i];
		json_t *mo = json_object();

		json_object_set_new(mo, "name", jstr(m->name));
		json_object_set_new(mo, "required", json_boolean(m->required));
		json_object_set_new(mo, "waivable", json_boolean(m->waivable));
		json_array_append_new(a, mo);
	}
	json_object_set_new(o, "materials", a);
	json_object_set_new(o, "item_type", jopt(it->item_type));
	json_object_set_new(o, "legal_basis", jopt(it->legal_basis));
	json_object_set_new(o, "result_name", jopt(it->result_name));
	json_object_set_new(o, "version", jint(it->version));
	return o;
}

json_t *wj_output_catalog_json(const Wuji__Catalog *cat)
{
	json_t *a = json_array();

	for (size_t i = 0; cat && i < cat->n_items; i++)
		json_array_append_new(a, wj_output_item_json(cat->items[i]));
	return a;
}

static json_t *dates_json(const int32_t *d, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jdate(d[i]));
	return a;
}

json_t *wj_output_calendar_json(const Wuji__Calendar *cal)
{
	json_t *o = json_object(), *a = json_array();

	for (size_t i = 0; cal && i < cal->n_years; i++) {
		const Wuji__CalendarYear *y = cal->years[i];
		json_t *yo = json_object();

		json_object_set_new(yo, "year", jint(y->year));
		json_object_set_new(yo, "holidays",
				    dates_json(y->holidays, y->n_holidays));
		json_object_set_new(yo, "workdays",
				    dates_json(y->workdays, y->n_workdays));
		json_array_append_new(a, yo);
	}
	json_object_set_new(o, "years", a);
	return o;
}

json_t *wj_output_status_json(const Wuji__NodeStatus *st)
{
	json_t *o = json_object(), *a = json_array();

	json_object_set_new(o, "node", jcode(st->node));
	json_object_set_new(o, "level", json_string(wj_level_name(st->level)));
	json_object_set_new(o, "version", jstr(st->version));
	json_object_set_new(o, "cases", jint((json_int_t)st->cases));
	json_object_set_new(o, "open_cases", jint((json_int_t)st->open_cases));
	json_object_set_new(o, "events", jint((json_int_t)st->events));
	json_object_set_new(o, "last_seq", jint((json_int_t)st->last_seq));
	json_object_set_new(o, "yellow", jint((json_int_t)st->yellow));
	json_object_set_new(o, "red", jint((json_int_t)st->red));
	json_object_set_new(o, "catalog_items", jint(st->catalog_items));
	for (size_t i = 0; i < st->n_calendar_years; i++)
		json_array_append_new(a, jint(st->calendar_years[i]));
	json_object_set_new(o, "calendar_years", a);
	json_object_set_new(o, "map_size", jint((json_int_t)st->map_size));
	json_object_set_new(o, "map_used", jint((json_int_t)st->map_used));
	json_object_set_new(o, "warning", jopt(st->warning));
	json_object_set_new(o, "data_dir", jstr(st->data_dir));
	json_object_set_new(o, "schema_version", jint(st->schema_version));
	json_object_set_new(o, "started_at", jtime(st->started_at));
	json_object_set_new(o, "now", jtime(st->now));
	return o;
}

json_t *wj_output_verify_json(const Wuji__VerifyReport *v)
{
	json_t *o = json_object(), *a = json_array();

	json_object_set_new(o, "cases", jint((json_int_t)v->cases));
	json_object_set_new(o, "events", jint((json_int_t)v->events));
	for (size_t i = 0; i < v->n_problems; i++)
		json_array_append_new(a, jstr(v->problems[i]));
	json_object_set_new(o, "problems", a);
	return o;
}

static json_t *jstate(Wuji__LinkState st)
{
	return st == WUJI__LINK_STATE__LINK_NONE ? json_null() :
	       json_string(wj_link_state_name(st));
}

static json_t *juint(uint64_t v)
{
	/* JSON integers are signed 64-bit in jansson; positions and counts
	 * never come near 2^63. */
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* The node measures the parent's clock only; before the parent has
 * answered at all, 0 would read as "in step". */
static bool skew_known(const Wuji__PeerInfo *p)
{
	return p->is_parent && p->last_contact != 0;
}

json_t *wj_output_peers_json(const Wuji__PeerList *l)
{
	json_t *a = json_array();

	for (size_t i = 0; l && i < l->n_peers; i++) {
		const Wuji__PeerInfo *p = l->peers[i];
		json_t *o = json_object();

		json_object_set_new(o, "node", jcode(p->node));
		json_object_set_new(o, "role",
				    json_string(p->is_parent ? "parent" : "child"));
		json_object_set_new(o, "state", jstate(p->state));
		json_object_set_new(o, "acked", juint(p->acked));
		json_object_set_new(o, "log_end", juint(p->log_end));
		json_object_set_new(o, "backlog", juint(p->backlog));
		json_object_set_new(o, "lag_s", json_real(p->lag_s));
		json_object_set_new(o, "last_contact", jtime(p->last_contact));
		json_object_set_new(o, "skew_ms", skew_known(p) ?
				    jint(p->skew_ms) : json_null());
		json_object_set_new(o, "received", juint(p->received));
		json_object_set_new(o, "resyncs", juint(p->resyncs));
		json_object_set_new(o, "warning", jopt(p->warning));
		json_array_append_new(a, o);
	}
	return a;
}

static int cmp_tree_node(const void *a, const void *b)
{
	const Wuji__TreeNode *x = *(Wuji__TreeNode *const *)a;
	const Wuji__TreeNode *y = *(Wuji__TreeNode *const *)b;

	return x->node < y->node ? -1 : x->node > y->node;
}

/* The report's nodes sorted by code: a parent's code is its children's
 * with the lower parts zeroed, so code order is the tree drawn top down.
 * Caller frees. */
static Wuji__TreeNode **tree_sorted(const Wuji__TreeReport *t, size_t *n)
{
	Wuji__TreeNode **v;

	*n = t ? t->n_nodes : 0;
	v = malloc((*n ? *n : 1) * sizeof(*v));
	if (!v)
		abort();
	if (*n)
		memcpy(v, t->nodes, *n * sizeof(*v));
	qsort(v, *n, sizeof(*v), cmp_tree_node);
	return v;
}

json_t *wj_output_tree_json(const Wuji__TreeReport *t)
{
	json_t *a = json_array();
	size_t n;
	Wuji__TreeNode **v = tree_sorted(t, &n);

	for (size_t i = 0; i < n; i++) {
		const Wuji__TreeNode *x = v[i];
		wj_level_t l = wj_division_level(x->node);
		json_t *o = json_object();

		json_object_set_new(o, "node", jcode(x->node));
		json_object_set_new(o, "level", l ?
				    json_string(wj_level_name(l)) : json_null());
		json_object_set_new(o, "parent", jcode(x->parent));
		json_object_set_new(o, "state", jstate(x->state));
		json_object_set_new(o, "backlog", juint(x->backlog));
		json_object_set_new(o, "cases", juint(x->cases));
		json_object_set_new(o, "last_contact", jtime(x->last_contact));
		json_object_set_new(o, "reported_at", jtime(x->reported_at));
		json_object_set_new(o, "warning", jopt(x->warning));
		json_array_append_new(a, o);
	}
	free(v);
	return a;
}

json_t *wj_output_change_json(const Wuji__Change *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "pos", jint((json_int_t)c->pos));
	json_object_set_new(o, "origin", jcode(c->origin));
	json_object_set_new(o, "seq", jint((json_int_t)c->seq));
	json_object_set_new(o, "type", json_string(wj_event_name(c->type)));
	json_object_set_new(o, "case", c->case_number && *c->case_number
					       ? json_string(c->case_number)
					       : json_null());
	json_object_set_new(o, "at", jtime(c->at));
	return o;
}

void wj_output_change_text(FILE *f, const Wuji__Change *c)
{
	char at[20];

	wj_output_time(c->at, at);
	fprintf(f, "%8" PRIu64 "  %-16s  %012" PRIu64 "/%-6" PRIu64 "  %-12s  %s\n",
		c->pos, at, c->origin, c->seq, wj_event_name(c->type),
		c->case_number && *c->case_number ? c->case_number : "-");
}

/* One JSON object per line, for a stream a program reads as it comes. */
int wj_output_json_line(FILE *f, json_t *j)
{
	int rc;

	if (!j)
		return -1;
	rc = json_dumpf(j, f, JSON_COMPACT);
	json_decref(j);
	if (rc == 0 && fputc('\n', f) == EOF)
		rc = -1;
	return rc;
}

int wj_output_json_print(FILE *f, json_t *j)
{
	int rc;

	if (!j)
		return -1;
	rc = json_dumpf(j, f, JSON_INDENT(2));
	json_decref(j);
	if (rc == 0 && fputc('\n', f) == EOF)
		rc = -1;
	return rc;
}

/* ------------------------------------------------------------ tables */

struct table {
	size_t ncols;
	const char *head[COLS_MAX];
	bool right[COLS_MAX];
	char **cells;           /* nrows * ncols, cleaned copies */
	size_t nrows, cap;
};

/* "warning: CODE text", under a table of links or nodes; nothing for "". */
static void warning_line(FILE *f, uint64_t node, const char *w)
{
	char code[13];

	if (!w || !w[0])
		return;
	wj_division_format(node, code);
	fprintf(f, "warning: %s ", code);
	put_clean(f, w);
	fputc('\n', f);
}

static void table_init(struct table *t, size_t ncols, const char *const *head,
		       const char *align)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	/* align: one letter per column, 'r' for right; may stop early. */
	for (size_t i = 0; i < ncols; i++) {
		t->head[i] = head[i];
		if (align && !align[i])
			align = NULL;
		t->right[i] = align && align[i] == 'r';
	}
}

/* Adds a row: cells holds ncols strings (NULL prints as empty). */
static void table_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = realloc(t->cells, t->cap * t->ncols * sizeof(char *));
		if (!t->cells)
			abort();
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = clean(cells[i]);
	t->nrows++;
}

static void print_cell(FILE *f, const char *s, size_t width, bool right,
		       bool last)
{
	size_t w = wj_output_width(s);

	if (right)
		for (; w < width; w++)
			fputc(' ', f);
	fputs(s, f);
	if (!right && !last)
		for (; w < width; w++)
			fputc(' ', f);
}

static void table_print(FILE *f, struct table *t)
{
	size_t width[COLS_MAX] = { 0 };

	for (size_t c = 0; c < t->ncols; c++) {
		width[c] = wj_output_width(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = wj_output_width(t->cells[r * t->ncols + c]);

			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		const char *const *row = r == 0 ? t->head :
			(const char *const *)&t->cells[(r - 1) * t->ncols];
		size_t last = 0;

		/* Empty trailing cells print nothing, not trailing blanks. */
		for (size_t c = 0; c < t->ncols; c++)
			if (*row[c])
				last = c;
		for (size_t c = 0; c <= last; c++) {
			if (c)
				fputs("  ", f);
			print_cell(f, row[c], width[c], t->right[c], c == last);
		}
		fputc('\n', f);
	}
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
}

/* ------------------------------------------------------------ text */

/* One "Label        value" line of a header block; value printf-style and
 * cleaned.  Continuation lines of a list start with an empty label. */
static void kv(FILE *f, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void kv(FILE *f, const char *label, const char *fmt, ...)
{
	va_list ap;
	char *v = NULL;

	va_start(ap, fmt);
	if (vasprintf(&v, fmt, ap) < 0)
		v = NULL;
	va_end(ap);
	fprintf(f, "%-*s", LABEL_W, label);
	put_clean(f, v ? v : "?");
	fputc('\n', f);
	free(v);
}

static const char *plural(uint32_t n)
{
	return n == 1 ? "" : "s";
}

/* "yellow, 1 working day left", "red, 2 working days overdue". */
static void warning_text(const Wuji__Case *c, char *buf, size_t size)
{
	const char *w = wj_warning_name(c->warning);
	int32_t d = c->days_left;

	if (c->status == WUJI__CASE_STATUS__PAUSED)
		snprintf(buf, size, "%s (clock paused)", w);
	else if (!clock_shown(c))
		snprintf(buf, size, "%s", w);
	else if (d > 0)
		snprintf(buf, size, "%s, %d working day%s left", w, (int)d,
			 plural((uint32_t)d));
	else if (d == 0)
		snprintf(buf, size, "%s, due today", w);
	else
		snprintf(buf, size, "%s, %d working day%s overdue", w, (int)-d,
			 plural((uint32_t)-d));
}

/* The open correction list; when there is none, the required materials
 * still not supplied (容缺 or not yet asked for), so "none" never hides a
 * material the applicant still owes. */
static void missing_text(FILE *f, const Wuji__Case *c)
{
	char *list = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&list, &len);
	size_t n = 0;

	if (!m)
		abort();
	for (size_t i = 0; i < c->n_missing; i++)
		fprintf(m, "%s%s", n++ ? ", " : "", c->missing[i]);
	if (n == 0) {
		for (size_t i = 0; i < c->n_materials; i++) {
			const Wuji__Material *mt = c->materials[i];

			if (mt->required && !mt->supplied)
				fprintf(m, "%s%s", n++ ? ", " : "", mt->name);
		}
	}
	fclose(m);
	if (c->n_missing)
		kv(f, "Missing", "%s", list);
	else if (n)
		kv(f, "Missing", "none asked for; not supplied yet: %s", list);
	else
		kv(f, "Missing", "none");
	free(list);
}

/* The nodes that hold the case, as codes; several lines when many. */
static void known_at_text(FILE *f, const Wuji__Case *c)
{
	char line[128];
	size_t o = 0, lines = 0;

	if (c->n_known_at == 0) {
		kv(f, "Known at", "-");
		return;
	}
	line[0] = '\0';
	for (size_t i = 0; i < c->n_known_at; i++) {
		char code[13];

		wj_division_format(c->known_at[i], code);
		if (o && o + 14 > 66) {
			kv(f, lines++ ? "" : "Known at", "%s,", line);
			o = 0;
			line[0] = '\0';
		}
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s",
				      o ? ", " : "", code);
	}
	kv(f, lines ? "" : "Known at", "%s", line);
}

static void case_header(FILE *f, const Wuji__Case *c)
{
	char a[32], b[32], code[13], masked[128], warn[96];

	kv(f, "Case", "%s", c->number);
	kv(f, "Item", "%s  %s", c->item_code, c->item_name);
	kv(f, "Kind", "%s", wj_case_kind_name(c->kind));
	kv(f, "Status", "%s", wj_status_name(c->status));
	warning_text(c, warn, sizeof(warn));
	kv(f, "Warning", "%s", warn);
	if (c->applicant) {
		const Wuji__Applicant *p = c->applicant;

		wj_output_mask_id(p->id_number, masked, sizeof(masked));
		if (*masked)
			kv(f, "Applicant", "%s  %s %s", p->name,
			   p->id_type ? wj_id_type_name(p->id_type) : "id",
			   masked);
		else
			kv(f, "Applicant", "%s", p->name);
	}
	wj_division_format(c->origin, code);
	kv(f, "Origin", "%s", c->origin ? code : "-");
	known_at_text(f, c);
	wj_output_time(c->submitted_at, a);
	kv(f, "Submitted", "%s", *a ? a : "-");
	wj_output_time(c->accepted_at, a);
	kv(f, "Accepted", "%s", *a ? a : "-");
	if (c->promised_due) {
		fmt_date(c->promised_due, a);
		fmt_date(c->statutory_due, b);
		if (c->extension_days)
			kv(f, "Due", "%s promised (%u working day%s +%u "
			   "extension), %s statutory (%u +%u)", a,
			   c->promised_days, plural(c->promised_days),
			   c->extension_days, b, c->statutory_days,
			   c->extension_days);
		else
			kv(f, "Due", "%s promised (%u working day%s), %s "
			   "statutory (%u)", a, c->promised_days,
			   plural(c->promised_days), b, c->statutory_days);
	} else {
		kv(f, "Due", "- (%u/%u working days from acceptance)",
		   c->promised_days, c->statutory_days);
	}
	if (c->extension_days)
		kv(f, "Extension", "%u working day%s: %s", c->extension_days,
		   plural(c->extension_days), c->extension_reason);
	else
		kv(f, "Extension", "none");
	if (c->n_pauses == 0)
		kv(f, "Pauses", "none");
	for (size_t i = 0; i < c->n_pauses; i++) {
		const Wuji__Pause *p = c->pauses[i];

		wj_output_time(p->start, a);
		wj_output_time(p->end, b);
		if (p->end)
			kv(f, i ? "" : "Pauses",
			   "%s .. %s, %u working day%s: %s", a, b,
			   p->working_days, plural(p->working_days), p->reason);
		else
			kv(f, i ? "" : "Pauses", "since %s (running): %s", a,
			   p->reason);
	}
	if (c->n_materials == 0)
		kv(f, "Materials", "none");
	for (size_t i = 0; i < c->n_materials; i++) {
		const Wuji__Material *m = c->materials[i];
		const char *note = "";

		if (!m->required)
			note = "  (optional)";
		else if (m->waivable)
			note = "  (waivable)";
		kv(f, i ? "" : "Materials", "[%c] %s%s", m->supplied ? 'x' : ' ',
		   m->name, note);
	}
	missing_text(f, c);
	if (c->decided_at) {
		wj_output_time(c->decided_at, a);
		kv(f, "Decided", "%s", a);
	}
	if (c->delivered_at) {
		wj_output_time(c->delivered_at, a);
		kv(f, "Delivered", "%s by %s", a,
		   wj_delivery_name(c->delivered_by));
	}
	if (c->reason && *c->reason)
		kv(f, "Reason", "%s", c->reason);
}

void wj_output_case_text(FILE *f, const Wuji__Case *c)
{
	static const char *const thead[] = {
		"#", "DEPARTMENT", "NODE", "LEVEL", "STATUS",
		"CERTIFICATE/REASON"
	};
	static const char *const hhead[] = { "TIME", "EVENT", "NODE", "DETAIL" };
	struct table t;

	case_header(f, c);

	fputs("\nTasks\n", f);
	table_init(&t, 6, thead, "r");
	for (size_t i = 0; i < c->n_tasks; i++) {
		const Wuji__Task *k = c->tasks[i];
		char idx[12], code[13];
		const char *note = *k->certificate ? k->certificate : k->reason;

		snprintf(idx, sizeof(idx), "%u", k->index);
		wj_division_format(k->node, code);
		table_row(&t, (const char *[]){
			idx, k->department, k->node ? code : "-",
			wj_level_name(k->level),
			wj_task_status_name(k->status), note });
	}
	table_print(f, &t);
	table_free(&t);

	fputs("\nHistory\n", f);
	table_init(&t, 4, hhead, NULL);
	for (size_t i = 0; i < c->n_history; i++) {
		const Wuji__HistoryEntry *h = c->history[i];
		char at[20], code[13], event[48];

		wj_output_time(h->at, at);
		wj_division_format(h->node, code);
		/* The clerk who took a superseded step must see at a glance
		 * that it did not count; the detail says why. */
		snprintf(event, sizeof(event), "%s%s", wj_event_name(h->event),
			 h->no_effect ? " (NO EFFECT)" : "");
		table_row(&t, (const char *[]){
			at, event, h->node ? code : "-", h->detail });
	}
	table_print(f, &t);
	table_free(&t);
}

void wj_output_cases_text(FILE *f, Wuji__Case *const *cases, size_t n)
{
	static const char *const head[] = {
		"NUMBER", "ITEM", "STATUS", "WARNING", "DUE", "DAYS LEFT"
	};
	struct table t;

	if (n == 0) {
		fputs("no cases\n", f);
		return;
	}
	table_init(&t, 6, head, NULL);
	for (size_t i = 0; i < n; i++) {
		const Wuji__Case *c = cases[i];
		char due[11], left[16];

		fmt_date(c->promised_due, due);
		if (clock_shown(c))
			snprintf(left, sizeof(left), "%d", (int)c->days_left);
		else
			snprintf(left, sizeof(left), "-");
		table_row(&t, (const char *[]){
			c->number, c->item_code, wj_status_name(c->status),
			wj_warning_name(c->warning), due, left });
	}
	table_print(f, &t);
	table_free(&t);
}

static void levels_text(const Wuji__CatalogItem *it, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	if (it->n_apply_levels == 0) {
		snprintf(buf, size, "any");
		return;
	}
	for (size_t i = 0; i < it->n_apply_levels && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
				      wj_level_name(it->apply_levels[i]));
}

static void days_text(const Wuji__CatalogItem *it, char *buf, size_t size)
{
	if (it->kind == WUJI__ITEM_KIND__ITEM_IMMEDIATE)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%u/%u", it->promised_days,
			 it->statutory_days);
}

void wj_output_catalog_text(FILE *f, const Wuji__Catalog *cat)
{
	static const char *const head[] = {
		"CODE", "NAME", "KIND", "DAYS", "APPLY AT", "TASKS"
	};
	struct table t;

	if (!cat || cat->n_items == 0) {
		fputs("the catalog is empty: load one with "
		      "'node-ctl catalog load FILE'\n", f);
		return;
	}
	table_init(&t, 6, head, "...r");
	for (size_t i = 0; i < cat->n_items; i++) {
		const Wuji__CatalogItem *it = cat->items[i];
		char days[24], levels[96], tasks[512];
		size_t o = 0;

		days_text(it, days, sizeof(days));
		levels_text(it, levels, sizeof(levels));
		tasks[0] = '\0';
		for (size_t k = 0; k < it->n_tasks && o < sizeof(tasks); k++)
			o += (size_t)snprintf(tasks + o, sizeof(tasks) - o,
					      "%s%s (%s)", k ? ", " : "",
					      it->tasks[k]->department,
					      wj_level_name(it->tasks[k]->level));
		table_row(&t, (const char *[]){
			it->code, it->name, wj_item_kind_name(it->kind), days,
			levels, tasks });
	}
	table_print(f, &t);
	table_free(&t);
	fputs("DAYS: promised/statutory working days from acceptance\n", f);
}

void wj_output_item_text(FILE *f, const Wuji__CatalogItem *it)
{
	static const char *const thead[] = { "#", "DEPARTMENT", "LEVEL" };
	static const char *const mhead[] = { "MATERIAL", "REQUIRED", "WAIVABLE" };
	char levels[96];
	struct table t;

	kv(f, "Code", "%s", it->code);
	kv(f, "Name", "%s", it->name);
	kv(f, "Kind", "%s", wj_item_kind_name(it->kind));
	if (it->kind == WUJI__ITEM_KIND__ITEM_IMMEDIATE)
		kv(f, "Limits", "decided at acceptance");
	else
		kv(f, "Limits", "%u working day%s promised, %u statutory",
		   it->promised_days, plural(it->promised_days),
		   it->statutory_days);
	levels_text(it, levels, sizeof(levels));
	kv(f, "Apply at", "%s", levels);
	if (*it->item_type)
		kv(f, "Type", "%s", it->item_type);
	if (*it->legal_basis)
		kv(f, "Legal basis", "%s", it->legal_basis);
	if (*it->result_name)
		kv(f, "Result", "%s", it->result_name);
	kv(f, "Version", "%u", it->version);

	fputs("\nTasks\n", f);
	table_init(&t, 3, thead, "r");
	for (size_t i = 0; i < it->n_tasks; i++) {
		char idx[24];

		snprintf(idx, sizeof(idx), "%zu", i + 1);
		table_row(&t, (const char *[]){
			idx, it->tasks[i]->department,
			wj_level_name(it->tasks[i]->level) });
	}
	table_print(f, &t);
	table_free(&t);

	fputs("\nMaterials\n", f);
	table_init(&t, 3, mhead, NULL);
	for (size_t i = 0; i < it->n_materials; i++) {
		const Wuji__CatalogMaterial *m = it->materials[i];

		table_row(&t, (const char *[]){
			m->name, m->required ? "yes" : "no",
			m->waivable ? "yes" : "no" });
	}
	table_print(f, &t);
	table_free(&t);
}

/* Dates, several to a line under a label. */
static void dates_text(FILE *f, const char *label, const int32_t *d, size_t n)
{
	char buf[11];

	fprintf(f, "  %-10s%3zu ", label, n);
	for (size_t i = 0; i < n; i++) {
		if (i && i % 6 == 0)
			fprintf(f, "\n  %-10s    ", "");
		fmt_date(d[i], buf);
		fprintf(f, " %s", buf);
	}
	fputc('\n', f);
}

void wj_output_calendar_text(FILE *f, const Wuji__Calendar *cal)
{
	if (!cal || cal->n_years == 0) {
		fputs("no calendar years: load one with "
		      "'node-ctl calendar load FILE' (the weekday rule "
		      "applies meanwhile)\n", f);
		return;
	}
	for (size_t i = 0; i < cal->n_years; i++) {
		const Wuji__CalendarYear *y = cal->years[i];

		if (i)
			fputc('\n', f);
		fprintf(f, "%d\n", (int)y->year);
		dates_text(f, "holidays", y->holidays, y->n_holidays);
		dates_text(f, "workdays", y->workdays, y->n_workdays);
	}
}

static void bytes_text(uint64_t n, char *buf, size_t size)
{
	if (n >= (1ull << 30))
		snprintf(buf, size, "%.1f GiB", (double)n / (1ull << 30));
	else if (n >= (1ull << 20))
		snprintf(buf, size, "%.1f MiB", (double)n / (1ull << 20));
	else
		snprintf(buf, size, "%.1f KiB", (double)n / 1024);
}

void wj_output_status_text(FILE *f, const Wuji__NodeStatus *st)
{
	char code[13], at[20], used[24], size[24], years[128];
	size_t o = 0;

	wj_division_format(st->node, code);
	kv(f, "Node", "%s (%s)", code, wj_level_name(st->level));
	kv(f, "Version", "%s", st->version);
	wj_output_time(st->started_at, at);
	kv(f, "Started", "%s", *at ? at : "-");
	kv(f, "Data dir", "%s", st->data_dir);
	kv(f, "Schema", "%u", st->schema_version);
	kv(f, "Cases", "%llu (%llu open, %llu yellow, %llu red)",
	   (unsigned long long)st->cases, (unsigned long long)st->open_cases,
	   (unsigned long long)st->yellow, (unsigned long long)st->red);
	kv(f, "Events", "%llu", (unsigned long long)st->events);
	kv(f, "Catalog", "%u item%s", st->catalog_items,
	   plural(st->catalog_items));
	years[0] = '\0';
	for (size_t i = 0; i < st->n_calendar_years && o < sizeof(years); i++)
		o += (size_t)snprintf(years + o, sizeof(years) - o, "%s%d",
				      i ? ", " : "", (int)st->calendar_years[i]);
	kv(f, "Calendar", "%s", o ? years : "none (weekday rule)");
	bytes_text(st->map_used, used, sizeof(used));
	bytes_text(st->map_size, size, sizeof(size));
	kv(f, "Map", "%s used of %s (%.1f%%)", used, size,
	   st->map_size ? 100.0 * (double)st->map_used / (double)st->map_size :
	   0.0);
	if (st->warning && st->warning[0])
		kv(f, "Warning", "%s", st->warning);
}

void wj_output_verify_text(FILE *f, const Wuji__VerifyReport *v)
{
	fprintf(f, "checked %llu cases and %llu events: ",
		(unsigned long long)v->cases, (unsigned long long)v->events);
	if (v->n_problems == 0) {
		fputs("no problems\n", f);
		return;
	}
	fprintf(f, "%zu problem%s\n", v->n_problems,
		v->n_problems == 1 ? "" : "s");
	for (size_t i = 0; i < v->n_problems; i++) {
		fputs("  ", f);
		put_clean(f, v->problems[i]);
		fputc('\n', f);
	}
}

/* "2026-02-13 10:00:05" in UTC+8: link times need the seconds. */
static void time_sec(int64_t t, char buf[24])
{
	char iso[32];

	wj_output_iso(t, iso);
	snprintf(buf, 24, "%.10s %.8s", iso, iso + 11);
}

void wj_output_peers_text(FILE *f, const Wuji__PeerList *l)
{
	static const char *const head[] = {
		"NODE", "ROLE", "STATE", "ACKED/LOG END", "BACKLOG", "LAG (s)",
		"LAST CONTACT", "SKEW (ms)", "RECEIVED"
	};
	struct table t;

	if (!l || l->n_peers == 0) {
		fputs("no links: this node has neither a parent nor "
		      "children configured\n", f);
		return;
	}
	table_init(&t, 9, head, "...rrr.rr");
	for (size_t i = 0; i < l->n_peers; i++) {
		const Wuji__PeerInfo *p = l->peers[i];
		char code[13], pos[48], backlog[24], lag[32], at[24], skew[24],
		     recv[24];

		wj_division_format(p->node, code);
		snprintf(pos, sizeof(pos), "%llu/%llu",
			 (unsigned long long)p->acked,
			 (unsigned long long)p->log_end);
		snprintf(backlog, sizeof(backlog), "%llu",
			 (unsigned long long)p->backlog);
		snprintf(lag, sizeof(lag), "%.1f", p->lag_s);
		if (p->last_contact)
			time_sec(p->last_contact, at);
		else
			snprintf(at, sizeof(at), "never");
		if (skew_known(p))
			snprintf(skew, sizeof(skew), "%lld",
				 (long long)p->skew_ms);
		else
			snprintf(skew, sizeof(skew), "-");
		snprintf(recv, sizeof(recv), "%llu",
			 (unsigned long long)p->received);
		table_row(&t, (const char *[]){
			code, p->is_parent ? "parent" : "child",
			wj_link_state_name(p->state), pos, backlog, lag, at,
			skew, recv });
	}
	table_print(f, &t);
	table_free(&t);
	fprintf(f, "ACKED/LOG END: our change-log position the peer has "
		"acknowledged / our last; RECEIVED: the peer's position we "
		"have applied; SKEW: the parent's clock minus ours (warning "
		"past %lld ms)\n", (long long)l->skew_bound_ms);
	for (size_t i = 0; i < l->n_peers; i++)
		warning_line(f, l->peers[i]->node, l->peers[i]->warning);
}

void wj_output_tree_text(FILE *f, const Wuji__TreeReport *rep)
{
	static const char *const head[] = {
		"CODE", "LEVEL", "STATE", "BACKLOG", "CASES", "LAST CONTACT"
	};
	struct table t;
	size_t n;
	Wuji__TreeNode **v = tree_sorted(rep, &n);
	int top = WUJI__LEVEL__VILLAGE;

	if (n == 0) {
		fputs("no nodes\n", f);
		free(v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int l = (int)wj_division_level(v[i]->node);

		if (l && l < top)
			top = l;
	}
	table_init(&t, 6, head, "...rr");
	for (size_t i = 0; i < n; i++) {
		const Wuji__TreeNode *x = v[i];
		int l = (int)wj_division_level(x->node);
		int indent = l > top ? 2 * (l - top) : 0;
		char code[13], name[40], backlog[24], cases[24], at[24];

		wj_division_format(x->node, code);
		snprintf(name, sizeof(name), "%*s%s", indent, "", code);
		snprintf(backlog, sizeof(backlog), "%llu",
			 (unsigned long long)x->backlog);
		snprintf(cases, sizeof(cases), "%llu",
			 (unsigned long long)x->cases);
		if (x->last_contact)
			time_sec(x->last_contact, at);
		else
			snprintf(at, sizeof(at), "%s",
				 x->state == WUJI__LINK_STATE__LINK_NONE ?
				 "-" : "never");
		table_row(&t, (const char *[]){
			name, l ? wj_level_name((wj_level_t)l) : "?",
			wj_link_state_name(x->state), backlog, cases, at });
	}
	table_print(f, &t);
	table_free(&t);
	fputs("STATE, BACKLOG, LAST CONTACT: the link to the node's parent, "
	      "as the parent sees it\n", f);
	for (size_t i = 0; i < n; i++)
		warning_line(f, v[i]->node, v[i]->warning);
	free(v);
}
