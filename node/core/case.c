/* The case state machine (case.h): case numbers, checking a submission or
 * a command against a case and turning it into an event, and folding
 * events into a case.
 *
 * One validator (check_event) serves both wj_case_command() and
 * wj_case_apply(), so an event the command built is always one apply
 * accepts, and a refused command and a refused event read the same.  Apply
 * validates everything before it touches the case: a failed apply leaves
 * the case byte for byte as it was.
 *
 * Everything apply computes comes from the events and the calendar only
 * (never ctx->now, ctx->self or the catalog), so every node folds the same
 * events into the same case, due dates included. */
#include "core/case.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/catalog.h"
#include "core/date.h"
#include "core/division.h"
#include "core/names.h"

typedef Wuji__EventType ev_type_t;

#define ID_OTHER_MAX 64  /* bytes of a passport or other id number */

/* ------------------------------------------------------------ strings */

/* A growing string in an arena: messages and history details are built
 * piecewise from lists of unknown length. */
typedef struct sb {
	wj_arena_t *a;
	char *p;
	size_t n;
	size_t cap;
} sb_t;

static void sb_init(sb_t *b, wj_arena_t *a)
{
	b->a = a;
	b->cap = 256;
	b->p = wj_arena_alloc(a, b->cap);
	b->n = 0;
}

static void sb_printf(sb_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(sb_t *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if ((size_t)k >= b->cap - b->n) {
		size_t cap = b->cap * 2;
		char *p;

		while (cap < b->n + (size_t)k + 1)
			cap *= 2;
		p = wj_arena_alloc(b->a, cap);
		memcpy(p, b->p, b->n);
		b->p = p;
		b->cap = cap;
		va_start(ap, fmt);
		vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
	}
	b->n += (size_t)k;
}

/* Appends sep between list items: call with *first true before the list. */
static void sb_sep(sb_t *b, bool *first, const char *sep)
{
	if (!*first)
		sb_printf(b, "%s", sep);
	*first = false;
}

/* Sets err from a built message.  wj_err_t holds 512 bytes; a longer
 * message is cut at a UTF-8 character boundary so it stays valid text. */
static int fail(wj_err_t *err, int code, const char *msg)
{
	char buf[sizeof(((wj_err_t *)0)->msg)];
	size_t n = strlen(msg);

	if (n >= sizeof(buf)) {
		n = sizeof(buf) - 4;   /* room for "..." */
		while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
			n--;
		memcpy(buf, msg, n);
		memcpy(buf + n, "...", 4);
	} else {
		memcpy(buf, msg, n + 1);
	}
	return wj_err_set(err, code, "%s", buf);
}

/* Like wj_err_set(), for messages that may quote long user text. */
static int failf(wj_err_t *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int failf(wj_err_t *err, int code, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return fail(err, code, buf);
}

static bool empty(const char *s)
{
	return !s || !*s;
}

static char *sdup(wj_arena_t *a, const char *s)
{
	return wj_arena_strdup(a, s ? s : "");
}

/* Decodes one UTF-8 character at s (n bytes left).  Returns its length and
 * sets *cp, or 0 for an invalid sequence (overlong, surrogate, beyond
 * U+10FFFF, truncated). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xE0) == 0xC0) {
		len = 2;
		c &= 0x1F;
		min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3;
		c &= 0x0F;
		min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

/* Checks a text field a person typed (names, reasons, certificates,
 * material names): valid UTF-8, no control characters (C0, DEL, C1: they
 * would corrupt a notice or a log line), at most max bytes.  `field` names
 * it in the message; `hint` says what to give when it is required and
 * empty. */
static int check_text(const char *s, const char *field, bool required,
		      const char *hint, size_t max, wj_err_t *err)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p);

	if (n == 0) {
		if (!required)
			return 0;
		return failf(err, WJ_EINVAL, "%s is required: %s", field,
			     hint);
	}
	if (n > max)
		return failf(err, WJ_EINVAL,
			     "%s is %zu bytes long, more than the %zu "
			     "allowed: shorten it", field, n, max);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = utf8_next(p + i, n - i, &cp);

		if (k == 0)
			return failf(err, WJ_EINVAL,
				     "%s is not valid UTF-8 (at byte %zu):"
				     " send the text as UTF-8", field, i);
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
			return failf(err, WJ_EINVAL,
				     "%s contains the control character "
				     "U+%04" PRIX32 " at byte %zu: remove "
				     "it", field, cp, i);
		i += k;
	}
	return 0;
}

/* ------------------------------------------------------- case numbers */

int wj_case_number_format(char *buf, size_t size, uint64_t origin,
			  wj_date_t day, uint32_t serial)
{
	int n;

	if (!wj_division_valid(origin) || !wj_date_valid(day))
		return WJ_EINVAL;
	n = snprintf(buf, size, "%012" PRIu64 "-%08" PRId32 "-%06" PRIu32,
		     origin, day, serial);
	if (n < 0 || (size_t)n >= size)
		return WJ_EINVAL;
	return 0;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int wj_case_number_parse(const char *s, uint64_t *origin, wj_date_t *day,
			 wj_err_t *err)
{
	return wj_case_number_split(s, origin, day, NULL, err);
}

int wj_case_number_split(const char *s, uint64_t *origin, wj_date_t *day,
			 uint32_t *serial_out, wj_err_t *err)
{
	static const char shape[] = "a case number looks like "
		"330106000000-20260213-000001 (origin node, date, serial)";
	uint64_t code = 0, serial = 0;
	wj_date_t d = 0;
	size_t n, ns;

	if (empty(s))
		return failf(err, WJ_EINVAL, "case number is empty: %s",
			     shape);
	n = strlen(s);
	if (n > WJ_CASE_NUMBER_MAX)
		return failf(err, WJ_EINVAL, "case number is %zu "
			     "characters, more than %d: %s", n,
			     WJ_CASE_NUMBER_MAX, shape);
	if (n < 12 + 1 + 8 + 1 + 6 || s[12] != '-' || s[21] != '-' ||
	    !all_digits(s, 12) || !all_digits(s + 13, 8) ||
	    !all_digits(s + 22, n - 22))
		/* Not quoted: it may not even be text. */
		return failf(err, WJ_EINVAL, "that is not a case number: %s",
			     shape);
	for (size_t i = 0; i < 12; i++)
		code = code * 10 + (uint64_t)(s[i] - '0');
	for (size_t i = 13; i < 21; i++)
		d = d * 10 + (s[i] - '0');
	/* Serials are zero-padded to 6 digits, never more: one case has one
	 * spelling, so a number can be compared as a string. */
	ns = n - 22;
	if (ns > 6 && s[22] == '0')
		return failf(err, WJ_EINVAL, "case number %s has a serial "
			     "with extra leading zeros: %s", s, shape);
	for (size_t i = 22; i < n; i++) {
		serial = serial * 10 + (uint64_t)(s[i] - '0');
		if (serial > UINT32_MAX)
			return failf(err, WJ_EINVAL, "case number %s has "
				     "a serial beyond %" PRIu32 ": %s", s,
				     UINT32_MAX, shape);
	}
	if (!wj_division_valid(code))
		return failf(err, WJ_EINVAL, "case number %s does not "
			     "start with a valid division code: %s", s,
			     shape);
	if (!wj_date_valid(d))
		return failf(err, WJ_EINVAL, "case number %s holds the "
			     "invalid date %08" PRId32 ": %s", s, d, shape);
	if (origin)
		*origin = code;
	if (day)
		*day = d;
	if (serial_out)
		*serial_out = (uint32_t)serial;
	return 0;
}

/* ------------------------------------------------------ allowed verbs */

/* The lifecycle of case.h as a table: the steps allowed in each status,
 * in the order node-ctl shows them. */
static size_t allowed_events(Wuji__CaseStatus s, const ev_type_t **out)
{
	static const ev_type_t received[] = {
		WUJI__EVENT_TYPE__EV_ACCEPTED, WUJI__EVENT_TYPE__EV_CORRECTION,
		WUJI__EVENT_TYPE__EV_REJECTED, WUJI__EVENT_TYPE__EV_WITHDRAWN,
	};
	static const ev_type_t correction[] = {
		WUJI__EVENT_TYPE__EV_SUPPLIED, WUJI__EVENT_TYPE__EV_REJECTED,
		WUJI__EVENT_TYPE__EV_WITHDRAWN,
	};
	static const ev_type_t accepted[] = {
		WUJI__EVENT_TYPE__EV_PAUSED, WUJI__EVENT_TYPE__EV_EXTENDED,
		WUJI__EVENT_TYPE__EV_DECIDED, WUJI__EVENT_TYPE__EV_WITHDRAWN,
	};
	static const ev_type_t paused[] = {
		WUJI__EVENT_TYPE__EV_RESUMED, WUJI__EVENT_TYPE__EV_EXTENDED,
		WUJI__EVENT_TYPE__EV_WITHDRAWN,
	};
	static const ev_type_t decided[] = {
		WUJI__EVENT_TYPE__EV_DELIVERED,
	};
	static const ev_type_t finished[] = {
		WUJI__EVENT_TYPE__EV_ARCHIVED,
	};

#define RET(t) do { *out = (t); return sizeof(t) / sizeof((t)[0]); } while (0)
	switch (s) {
	case WUJI__CASE_STATUS__RECEIVED:	RET(received);
	case WUJI__CASE_STATUS__CORRECTION:	RET(correction);
	case WUJI__CASE_STATUS__ACCEPTED:	RET(accepted);
	case WUJI__CASE_STATUS__PAUSED:		RET(paused);
	case WUJI__CASE_STATUS__APPROVED:
	case WUJI__CASE_STATUS__DENIED:		RET(decided);
	case WUJI__CASE_STATUS__DELIVERED:
	case WUJI__CASE_STATUS__REJECTED:
	case WUJI__CASE_STATUS__WITHDRAWN:	RET(finished);
	default:
		*out = NULL;
		return 0;
	}
#undef RET
}

size_t wj_case_allowed(Wuji__CaseStatus s, const char **out, size_t max)
{
	const ev_type_t *t;
	size_t n = allowed_events(s, &t), k = 0;

	for (size_t i = 0; i < n && k < max; i++)
		out[k++] = wj_event_verb(t[i]);
	return k;
}

static bool is_allowed(Wuji__CaseStatus s, ev_type_t type)
{
	const ev_type_t *t;
	size_t n = allowed_events(s, &t);

	for (size_t i = 0; i < n; i++)
		if (t[i] == type)
			return true;
	return false;
}

bool wj_case_is_open(Wuji__CaseStatus s)
{
	return s == WUJI__CASE_STATUS__RECEIVED ||
	       s == WUJI__CASE_STATUS__CORRECTION ||
	       s == WUJI__CASE_STATUS__ACCEPTED ||
	       s == WUJI__CASE_STATUS__PAUSED;
}

/* WJ_ENOTALLOWED naming the status and the steps that are allowed, with
 * err->allowed filled so a client can offer them. */
static int check_status(const Wuji__Case *c, ev_type_t type, wj_err_t *err)
{
	const char *verbs[WJ_ERR_ALLOWED_MAX];
	char msg[sizeof(((wj_err_t *)0)->msg)];
	size_t n, len;

	if (c->status == WUJI__CASE_STATUS__STATUS_NONE)
		return failf(err, WJ_ENOTALLOWED, "case %s has not been "
			     "submitted: submit it first",
			     empty(c->number) ? "(no number)" : c->number);
	if (is_allowed(c->status, type))
		return 0;
	n = wj_case_allowed(c->status, verbs, WJ_ERR_ALLOWED_MAX);
	len = (size_t)snprintf(msg, sizeof(msg),
			       "case %s is %s: \"%s\" is not allowed now; ",
			       c->number, wj_status_name(c->status),
			       wj_event_verb(type));
	if (len >= sizeof(msg))
		len = sizeof(msg) - 1;
	if (n == 0) {
		snprintf(msg + len, sizeof(msg) - len,
			 "nothing is allowed: the case is closed");
	} else {
		len += (size_t)snprintf(msg + len, sizeof(msg) - len,
					"allowed: ");
		for (size_t i = 0; i < n && len < sizeof(msg); i++)
			len += (size_t)snprintf(msg + len, sizeof(msg) - len,
						"%s%s", i ? ", " : "", verbs[i]);
	}
	failf(err, WJ_ENOTALLOWED, "%s", msg);
	if (err) {
		for (size_t i = 0; i < n; i++)
			err->allowed[i] = verbs[i];
		err->n_allowed = n;
	}
	return WJ_ENOTALLOWED;
}

/* ------------------------------------------------------------ lookups */

static Wuji__Material *find_material(const Wuji__Case *c, const char *name)
{
	for (size_t i = 0; i < c->n_materials; i++)
		if (strcmp(c->materials[i]->name, name) == 0)
			return c->materials[i];
	return NULL;
}

static bool in_list(char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static void sb_strings(sb_t *b, char *const *list, size_t n)
{
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		sb_sep(b, &first, ", ");
		sb_printf(b, "%s", list[i]);
	}
}

static void sb_materials(sb_t *b, const Wuji__Case *c)
{
	bool first = true;

	for (size_t i = 0; i < c->n_materials; i++) {
		sb_sep(b, &first, ", ");
		sb_printf(b, "%s", c->materials[i]->name);
	}
	if (first)
		sb_printf(b, "(none)");
}

/* Required materials not supplied; blocking = those that may not be
 * waived (容缺), which stop an acceptance. */
static size_t unsupplied(const Wuji__Case *c, bool blocking_only, sb_t *b)
{
	bool first = true;
	size_t n = 0;

	for (size_t i = 0; i < c->n_materials; i++) {
		const Wuji__Material *m = c->materials[i];

		if (!m->required || m->supplied)
			continue;
		if (blocking_only && m->waivable)
			continue;
		if (b) {
			sb_sep(b, &first, ", ");
			sb_printf(b, "%s", m->name);
		}
		n++;
	}
	return n;
}

static void dues_for(const Wuji__Case *c, const wj_calendar_t *cal, int64_t accepted_at,
		     uint32_t extension, uint32_t extra_stopped, int32_t *promised,
		     int32_t *statutory);

static int last_open_pause(const Wuji__Case *c)
{
	if (c->n_pauses == 0 || c->pauses[c->n_pauses - 1]->end != 0)
		return -1;
	return (int)c->n_pauses - 1;
}

static const char *dept(const Wuji__Task *t)
{
	return empty(t->department) ? "(no department)" : t->department;
}

/* ------------------------------------------------------ the validator */

/* Checks that ev fits c: the status allows the step and the payload is
 * complete and consistent with the case.  Shared by command and apply. */
static int check_event(const Wuji__Case *c, const Wuji__Event *ev,
		       wj_arena_t *a, wj_err_t *err)
{
	int rc;
	sb_t b;

	rc = check_status(c, ev->type, err);
	if (rc)
		return rc;
	switch (ev->type) {
	case WUJI__EVENT_TYPE__EV_ACCEPTED:
		/* 容缺受理: a required material may be missing at acceptance
		 * only when the item lets it be supplied later. */
		if (unsupplied(c, true, NULL) == 0)
			return 0;
		sb_init(&b, a);
		sb_printf(&b, "cannot accept: required materials missing: ");
		unsupplied(c, true, &b);
		/* The notice must list every missing item at once (一次性
		 * 告知), waivable ones included. */
		sb_printf(&b, ". Send a correction notice: correct %s",
			  c->number);
		for (size_t i = 0; i < c->n_materials; i++) {
			const Wuji__Material *m = c->materials[i];

			if (m->required && !m->supplied)
				sb_printf(&b, " --missing \"%s\"", m->name);
		}
		return fail(err, WJ_EINVAL, b.p);

	case WUJI__EVENT_TYPE__EV_CORRECTION:
		if (ev->n_names == 0) {
			sb_init(&b, a);
			sb_printf(&b, "a correction notice must list the "
				  "missing materials, all at once; the case's "
				  "materials are: ");
			sb_materials(&b, c);
			return fail(err, WJ_EINVAL, b.p);
		}
		for (size_t i = 0; i < ev->n_names; i++) {
			rc = check_text(ev->names[i], "missing material name",
					true, "name each missing material",
					WJ_TEXT_MAX, err);
			if (rc)
				return rc;
			if (!find_material(c, ev->names[i])) {
				sb_init(&b, a);
				sb_printf(&b, "case %s has no material \"%s\";"
					  " its materials are: ", c->number,
					  ev->names[i]);
				sb_materials(&b, c);
				return fail(err, WJ_EINVAL, b.p);
			}
			if (in_list(ev->names, i, ev->names[i]))
				return failf(err, WJ_EINVAL, "material "
					     "\"%s\" is listed twice: "
					     "list each missing material "
					     "once", ev->names[i]);
		}
		return 0;

	case WUJI__EVENT_TYPE__EV_SUPPLIED:
		for (size_t i = 0; i < ev->n_names; i++) {
			rc = check_text(ev->names[i], "supplied material name",
					true, "name each supplied material",
					WJ_TEXT_MAX, err);
			if (rc)
				return rc;
			if (!in_list(c->missing, c->n_missing, ev->names[i])) {
				sb_init(&b, a);
				sb_printf(&b, "material \"%s\" is not on the "
					  "correction list of case %s; still "
					  "missing: ", ev->names[i], c->number);
				sb_strings(&b, c->missing, c->n_missing);
				return fail(err, WJ_EINVAL, b.p);
			}
			if (in_list(ev->names, i, ev->names[i]))
				return failf(err, WJ_EINVAL, "material "
					     "\"%s\" is listed twice: "
					     "list each supplied material "
					     "once", ev->names[i]);
		}
		return 0;

	case WUJI__EVENT_TYPE__EV_REJECTED:
		return check_text(ev->reason, "reason", true,
				  "say why the case is not accepted and on "
				  "what legal basis", WJ_TEXT_MAX, err);

	case WUJI__EVENT_TYPE__EV_WITHDRAWN:
	case WUJI__EVENT_TYPE__EV_RESUMED:
		rc = check_text(ev->reason, "reason", false, "", WJ_TEXT_MAX,
				err);
		if (rc)
			return rc;
		if (ev->type == WUJI__EVENT_TYPE__EV_RESUMED &&
		    last_open_pause(c) < 0)
			return failf(err, WJ_EINVAL, "case %s has no "
				     "running pause to end", c->number);
		return 0;

	case WUJI__EVENT_TYPE__EV_PAUSED:
		return check_text(ev->reason, "reason", true,
				  "name the special procedure (hearing, "
				  "inspection, expert review...) that stops "
				  "the clock", WJ_TEXT_MAX, err);

	case WUJI__EVENT_TYPE__EV_EXTENDED: {
		bool joint = c->kind == WUJI__CASE_KIND__CASE_JOINT;
		uint32_t max = joint ? WJ_EXTENSION_MAX_DAYS_JOINT :
				       WJ_EXTENSION_MAX_DAYS;

		rc = check_text(ev->reason, "reason", true,
				"say why the case needs more time (it is told "
				"to the applicant)", WJ_TEXT_MAX, err);
		if (rc)
			return rc;
		if (c->extension_days) {
			char day[11] = "";

			/* The date of the extension is in its history entry. */
			for (size_t i = c->n_history; i-- > 0;) {
				if (c->history[i]->event ==
				    WUJI__EVENT_TYPE__EV_EXTENDED &&
				    !c->history[i]->no_effect) {
					wj_date_format(wj_date_from_unix(
						c->history[i]->at), day);
					break;
				}
			}
			return failf(err, WJ_EINVAL, "case %s was already "
				     "extended once by %" PRIu32 " working"
				     " days%s%s; the law allows one "
				     "extension", c->number,
				     c->extension_days, *day ? " on " : "",
				     day);
		}
		if (ev->days < 1 || ev->days > max)
			return failf(err, WJ_EINVAL, "an extension is 1 to "
				     "%" PRIu32 " working days%s; %" PRIu32
				     " was given", max,
				     joint ? " for a joint case" : "",
				     ev->days);
		return 0;
	}

	case WUJI__EVENT_TYPE__EV_DECIDED: {
		const Wuji__Task *t;

		if (ev->task < 1 || ev->task > c->n_tasks)
			return failf(err, WJ_EINVAL, "case %s has no task "
				     "%" PRIu32 "; its tasks are 1 to %zu",
				     c->number, ev->task, c->n_tasks);
		t = c->tasks[ev->task - 1];
		if (t->status != WUJI__TASK_STATUS__TASK_PENDING)
			return failf(err, WJ_EINVAL, "task %" PRIu32
				     " (%s) of case %s is %s; only a "
				     "pending task can be decided",
				     ev->task, dept(t), c->number,
				     wj_task_status_name(t->status));
		if (ev->approve)
			return check_text(ev->certificate, "certificate",
					  false, "", WJ_TEXT_MAX, err);
		return check_text(ev->reason, "reason", true,
				  "say why the task is denied and how the "
				  "applicant can fix it", WJ_TEXT_MAX, err);
	}

	case WUJI__EVENT_TYPE__EV_DELIVERED:
		if (ev->by != WUJI__DELIVERY__DELIVERY_NONE &&
		    ev->by != WUJI__DELIVERY__BY_WINDOW &&
		    ev->by != WUJI__DELIVERY__BY_POST)
			return failf(err, WJ_EINVAL, "unknown delivery "
				     "%d: deliver by window or post",
				     (int)ev->by);
		return 0;

	case WUJI__EVENT_TYPE__EV_ARCHIVED:
		return 0;

	default:
		/* check_status refuses anything outside the table. */
		return failf(err, WJ_EINTERNAL, "unexpected event type %d",
			     (int)ev->type);
	}
}

/* --------------------------------------------------------- submission */

static const uint8_t id_weights[17] = {
	7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2
};

/* Checks an identity number against its type.  A number without a type
 * is a resident identity card, by far the most common at a window. */
static int check_id(Wuji__IdType *type, const char *num, wj_err_t *err)
{
	size_t n = strlen(num);
	unsigned sum = 0;
	char check;

	if (*type == WUJI__ID_TYPE__ID_NONE)
		*type = WUJI__ID_TYPE__ID_CARD;
	switch (*type) {
	case WUJI__ID_TYPE__ID_CARD:
		/* GB 11643-1999: 17 digits and a check character. */
		if (n != 18 || !all_digits(num, 17) ||
		    !((num[17] >= '0' && num[17] <= '9') || num[17] == 'X'))
			return failf(err, WJ_EINVAL, "id-card number must "
				     "be 18 characters: 17 digits, then a "
				     "digit or an uppercase X (got %zu "
				     "characters)", n);
		for (size_t i = 0; i < 17; i++)
			sum += (unsigned)(num[i] - '0') * id_weights[i];
		check = "10X98765432"[sum % 11];
		if (num[17] != check)
			return failf(err, WJ_EINVAL, "id-card number ends "
				     "in %c, but its check digit should be"
				     " %c: re-read the number from the "
				     "card", num[17], check);
		return 0;
	case WUJI__ID_TYPE__ID_USCC:
		/* 统一社会信用代码: 18 digits or uppercase letters. */
		if (n != 18)
			return failf(err, WJ_EINVAL, "unified social "
				     "credit code must be 18 characters "
				     "(got %zu)", n);
		for (size_t i = 0; i < n; i++)
			if (!((num[i] >= '0' && num[i] <= '9') ||
			      (num[i] >= 'A' && num[i] <= 'Z')))
				return failf(err, WJ_EINVAL, "unified "
					     "social credit code may hold "
					     "only digits and uppercase "
					     "letters (character %zu is "
					     "not)", i + 1);
		return 0;
	case WUJI__ID_TYPE__ID_PASSPORT:
	case WUJI__ID_TYPE__ID_OTHER:
		return check_text(num, "id number", true, "", ID_OTHER_MAX,
				  err);
	default:
		return failf(err, WJ_EINVAL, "unknown id type %d: use "
			     "id-card, passport, uscc or other",
			     (int)*type);
	}
}

static int check_applicable(const Wuji__CatalogItem *item, Wuji__Level lvl,
			    wj_arena_t *a, wj_err_t *err)
{
	sb_t b;

	if (item->n_apply_levels == 0)
		return 0;
	for (size_t i = 0; i < item->n_apply_levels; i++)
		if (item->apply_levels[i] == lvl)
			return 0;
	sb_init(&b, a);
	sb_printf(&b, "item %s (%s) cannot be submitted at a %s node; submit "
		  "it at a node of level: ", item->code, item->name,
		  wj_level_name(lvl));
	for (size_t i = 0; i < item->n_apply_levels; i++)
		sb_printf(&b, "%s%s", i ? ", " : "",
			  wj_level_name(item->apply_levels[i]));
	return fail(err, WJ_EINVAL, b.p);
}

static const Wuji__CatalogMaterial *
find_item_material(const Wuji__CatalogItem *item, const char *name)
{
	for (size_t i = 0; i < item->n_materials; i++)
		if (strcmp(item->materials[i]->name, name) == 0)
			return item->materials[i];
	return NULL;
}

int wj_case_submit(const wj_case_ctx_t *ctx, const Wuji__CatalogItem *item,
		   const Wuji__SubmitRequest *req, const char *number,
		   Wuji__Event *ev, wj_err_t *err)
{
	Wuji__Event e = WUJI__EVENT__INIT;
	Wuji__Submission *sub;
	Wuji__Applicant *ap;
	Wuji__IdType id_type;
	Wuji__Level lvl;
	wj_arena_t *a;
	uint64_t self;
	int rc;

	wj_require(ctx && ctx->arena && item && req && ev);
	a = ctx->arena;
	self = ctx->self;
	lvl = wj_division_level(self);
	if (lvl == WUJI__LEVEL__LEVEL_NONE)
		return failf(err, WJ_EINTERNAL, "this node's code %012"
			     PRIu64 " is not a division code: fix the "
			     "node setting", self);
	rc = wj_case_number_parse(number, NULL, NULL, err);
	if (rc)
		return rc;
	if (!empty(req->item_code) && strcmp(req->item_code, item->code) != 0)
		return failf(err, WJ_EBADREQ, "the request names another "
			     "item than %s, the one given", item->code);
	if (item->kind != WUJI__ITEM_KIND__ITEM_IMMEDIATE &&
	    item->kind != WUJI__ITEM_KIND__ITEM_PROMISED)
		return failf(err, WJ_EINVAL, "item %s has no kind: fix "
			     "the catalog", item->code);
	if (item->n_tasks == 0)
		return failf(err, WJ_EINVAL, "item %s has no tasks: fix "
			     "the catalog", item->code);
	for (size_t i = 0; i < item->n_tasks; i++) {
		Wuji__Level tl = item->tasks[i]->level;

		if (tl < WUJI__LEVEL__PROVINCE || tl > WUJI__LEVEL__VILLAGE)
			return failf(err, WJ_EINVAL, "task %zu of item %s "
				     "has no valid level: fix the catalog",
				     i + 1, item->code);
	}

	if (!req->applicant || empty(req->applicant->name))
		return failf(err, WJ_EINVAL, "applicant name is required:"
			     " give the name of the person or company "
			     "applying");
	rc = check_text(req->applicant->name, "applicant name", true, "",
			WJ_TEXT_MAX, err);
	if (rc)
		return rc;
	id_type = req->applicant->id_type;
	if (id_type != WUJI__ID_TYPE__ID_NONE &&
	    strcmp(wj_id_type_name(id_type), "?") == 0)
		return failf(err, WJ_EINVAL, "unknown id type %d: use "
			     "id-card, passport, uscc or other", (int)id_type);
	if (!empty(req->applicant->id_number)) {
		rc = check_id(&id_type, req->applicant->id_number, err);
		if (rc)
			return rc;
	}
	rc = check_applicable(item, lvl, a, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < req->n_materials; i++) {
		sb_t b;

		rc = check_text(req->materials[i], "material name", true,
				"name each material supplied", WJ_TEXT_MAX,
				err);
		if (rc)
			return rc;
		if (find_item_material(item, req->materials[i]))
			continue;
		sb_init(&b, a);
		sb_printf(&b, "item %s (%s) takes no material \"%s\"; its "
			  "materials are: ", item->code, item->name,
			  req->materials[i]);
		for (size_t j = 0; j < item->n_materials; j++)
			sb_printf(&b, "%s%s", j ? ", " : "",
				  item->materials[j]->name);
		if (item->n_materials == 0)
			sb_printf(&b, "(none)");
		return fail(err, WJ_EINVAL, b.p);
	}

	sub = wj_arena_alloc(a, sizeof(*sub));
	wuji__submission__init(sub);
	sub->item_code = sdup(a, item->code);
	sub->item_name = sdup(a, item->name);
	sub->item_kind = item->kind;
	sub->promised_days = item->promised_days;
	sub->statutory_days = item->statutory_days;
	ap = wj_arena_alloc(a, sizeof(*ap));
	wuji__applicant__init(ap);
	ap->name = sdup(a, req->applicant->name);
	ap->id_number = sdup(a, req->applicant->id_number);
	ap->id_type = empty(ap->id_number) ? req->applicant->id_type : id_type;
	sub->applicant = ap;

	for (size_t i = 0; i < item->n_materials; i++) {
		const Wuji__CatalogMaterial *cm = item->materials[i];
		Wuji__Material **slot, *m;

		m = wj_arena_alloc(a, sizeof(*m));
		wuji__material__init(m);
		m->name = sdup(a, cm->name);
		m->required = cm->required;
		m->waivable = cm->waivable;
		m->supplied = in_list(req->materials, req->n_materials,
				      cm->name);
		slot = wj_arena_push(a, &sub->materials, &sub->n_materials,
				     sizeof(*sub->materials));
		*slot = m;
	}
	for (size_t i = 0; i < item->n_tasks; i++) {
		const Wuji__CatalogTask *ct = item->tasks[i];
		Wuji__Task **slot, *t;

		t = wj_arena_alloc(a, sizeof(*t));
		wuji__task__init(t);
		t->index = (uint32_t)i + 1;
		t->department = sdup(a, ct->department);
		t->level = ct->level;
		/* A task at or above this node's level goes to the ancestor
		 * at that level (a village's county item goes to its county);
		 * a lower level cannot handle a case submitted here, so the
		 * node keeps it. */
		t->node = ct->level <= lvl ?
			  wj_division_ancestor(self, ct->level) : self;
		t->status = WUJI__TASK_STATUS__TASK_WAITING;
		slot = wj_arena_push(a, &sub->tasks, &sub->n_tasks,
				     sizeof(*sub->tasks));
		*slot = t;
	}
	if (item->kind == WUJI__ITEM_KIND__ITEM_IMMEDIATE)
		sub->kind = WUJI__CASE_KIND__CASE_IMMEDIATE;
	else if (sub->n_tasks > 1)
		sub->kind = WUJI__CASE_KIND__CASE_JOINT;
	else if (sub->tasks[0]->node != self)
		sub->kind = WUJI__CASE_KIND__CASE_REPORTED_UP;
	else
		sub->kind = WUJI__CASE_KIND__CASE_PROMISED;

	e.origin = self;
	e.at = ctx->now;
	e.type = WUJI__EVENT_TYPE__EV_SUBMITTED;
	e.case_number = sdup(a, number);
	e.submission = sub;
	e.seq = ev->seq;
	e.hlc = ev->hlc;
	*ev = e;
	return 0;
}

/* ----------------------------------------------------------- commands */

static char *default_certificate(wj_arena_t *a, const char *number,
				 uint32_t task)
{
	return wj_arena_printf(a, "%s-%" PRIu32, number, task);
}

/* decide without a task number: the only pending task, if there is one. */
static int pick_task(const wj_case_ctx_t *ctx, const Wuji__Case *c,
		     uint32_t *task, wj_err_t *err)
{
	size_t pending = 0;
	bool first = true;
	sb_t b;

	for (size_t i = 0; i < c->n_tasks; i++) {
		if (c->tasks[i]->status == WUJI__TASK_STATUS__TASK_PENDING) {
			*task = (uint32_t)i + 1;
			pending++;
		}
	}
	if (pending == 1)
		return 0;
	sb_init(&b, ctx->arena);
	if (pending == 0) {
		sb_printf(&b, "case %s has no pending task to decide",
			  c->number);
		return fail(err, WJ_EINVAL, b.p);
	}
	sb_printf(&b, "case %s has %zu pending tasks: ", c->number, pending);
	for (size_t i = 0; i < c->n_tasks; i++) {
		const Wuji__Task *t = c->tasks[i];

		if (t->status != WUJI__TASK_STATUS__TASK_PENDING)
			continue;
		sb_sep(&b, &first, ", ");
		sb_printf(&b, "%" PRIu32 " (%s at %012" PRIu64 ")", t->index,
			  dept(t), t->node);
	}
	sb_printf(&b, "; say which task to decide");
	return fail(err, WJ_EINVAL, b.p);
}

/* Who takes a step.  A step that two nodes could take at once would
 * race, and the merged order would let only one of them stand: so each
 * step belongs to one node.  The window where the case was submitted
 * deals with the applicant (accept, correct, supply, reject, pause,
 * resume, extend, withdraw, deliver, archive); each task is decided where
 * it is handled, checked once the task is known (wj_case_command).  A
 * standalone node takes every step. */
static int check_role(const wj_case_ctx_t *ctx, const Wuji__Case *c,
		      ev_type_t type, wj_err_t *err)
{
	sb_t b;
	bool first = true;

	if (ctx->standalone || type == WUJI__EVENT_TYPE__EV_DECIDED ||
	    c->origin == ctx->self)
		return 0;
	sb_init(&b, ctx->arena);
	sb_printf(&b, "case %s was submitted at node %012" PRIu64 ": \"%s\" is "
		  "done there, at the window that serves the applicant; this "
		  "node ", c->number, c->origin, wj_event_verb(type));
	for (size_t i = 0; i < c->n_tasks; i++) {
		if (c->tasks[i]->node != ctx->self)
			continue;
		sb_printf(&b, "%s%" PRIu32, first ? "decides its task " : ", ",
			  c->tasks[i]->index);
		first = false;
	}
	if (first)
		sb_printf(&b, "handles none of its tasks");
	return fail(err, WJ_EINVAL, b.p);
}

int wj_case_command(const wj_case_ctx_t *ctx, const Wuji__Case *c,
		    const Wuji__Command *cmd, Wuji__Event *ev, wj_err_t *err)
{
	Wuji__Event e = WUJI__EVENT__INIT;
	wj_arena_t *a;
	int rc;

	wj_require(ctx && ctx->arena && c && cmd && ev);
	a = ctx->arena;
	if (!empty(cmd->number) && strcmp(cmd->number, c->number) != 0)
		return failf(err, WJ_EBADREQ, "the command names another "
			     "case than %s, the one given", c->number);
	if (cmd->type <= WUJI__EVENT_TYPE__EV_SUBMITTED ||
	    cmd->type > WUJI__EVENT_TYPE__EV_ARCHIVED)
		return failf(err, WJ_EBADREQ, "unknown command %d: use "
			     "accept, correct, supply, reject, pause, "
			     "resume, extend, decide, deliver, withdraw "
			     "or archive", (int)cmd->type);
	rc = check_status(c, cmd->type, err);
	if (rc)
		return rc;
	rc = check_role(ctx, c, cmd->type, err);
	if (rc)
		return rc;

	e.origin = ctx->self;
	e.at = ctx->now;
	e.type = cmd->type;
	e.case_number = sdup(a, c->number);
	switch (cmd->type) {
	case WUJI__EVENT_TYPE__EV_CORRECTION:
		e.n_names = cmd->n_names;
		e.names = cmd->names;
		break;
	case WUJI__EVENT_TYPE__EV_SUPPLIED:
		/* No names: everything on the correction list arrived.  The
		 * event names them, so it reads the same on every node. */
		if (cmd->n_names) {
			e.n_names = cmd->n_names;
			e.names = cmd->names;
		} else {
			e.n_names = c->n_missing;
			e.names = c->missing;
		}
		break;
	case WUJI__EVENT_TYPE__EV_ACCEPTED:
		dues_for(c, ctx->cal, ctx->now, c->extension_days, 0, &e.promised_due,
			 &e.statutory_due);
		break;
	case WUJI__EVENT_TYPE__EV_REJECTED:
	case WUJI__EVENT_TYPE__EV_WITHDRAWN:
	case WUJI__EVENT_TYPE__EV_PAUSED:
		e.reason = cmd->reason;
		break;
	case WUJI__EVENT_TYPE__EV_RESUMED: {
		const Wuji__Pause *p = c->pauses[last_open_pause(c)];
		e.reason = cmd->reason;
		e.paused_days = wj_calendar_workdays_between(ctx->cal,
			wj_date_from_unix(p->start), wj_date_from_unix(ctx->now));
		dues_for(c, ctx->cal, c->accepted_at, c->extension_days, e.paused_days,
			 &e.promised_due, &e.statutory_due);
		break;
	}
	case WUJI__EVENT_TYPE__EV_EXTENDED:
		e.reason = cmd->reason;
		e.days = cmd->days;
		dues_for(c, ctx->cal, c->accepted_at, cmd->days, 0, &e.promised_due,
			 &e.statutory_due);
		break;
	case WUJI__EVENT_TYPE__EV_DECIDED:
		e.task = cmd->task;
		if (e.task == 0) {
			rc = pick_task(ctx, c, &e.task, err);
			if (rc)
				return rc;
		}
		e.approve = cmd->approve;
		if (e.approve)
			e.certificate = cmd->certificate;
		else
			e.reason = cmd->reason;
		break;
	case WUJI__EVENT_TYPE__EV_DELIVERED:
		e.by = cmd->by == WUJI__DELIVERY__DELIVERY_NONE ?
		       WUJI__DELIVERY__BY_WINDOW : cmd->by;
		break;
	default:
		break;
	}
	rc = check_event(c, &e, a, err);
	if (rc)
		return rc;

	if (e.type == WUJI__EVENT_TYPE__EV_DECIDED) {
		const Wuji__Task *t = c->tasks[e.task - 1];

		/* Only the task's handling node decides it: the other
		 * level learns the decision from that node's event. */
		if (!ctx->standalone && t->node != ctx->self)
			return failf(err, WJ_EINVAL, "task %" PRIu32
				     " (%s) is handled by node %012"
				     PRIu64 "; decide it there", e.task,
				     dept(t), t->node);
		if (e.approve && empty(e.certificate))
			e.certificate = default_certificate(a, c->number,
							    e.task);
	}

	/* The event owns copies: the command may be freed before it. */
	if (e.n_names) {
		char **names = wj_arena_alloc(a, e.n_names * sizeof(*names));

		for (size_t i = 0; i < e.n_names; i++)
			names[i] = sdup(a, e.names[i]);
		e.names = names;
	}
	e.reason = sdup(a, e.reason);
	e.certificate = sdup(a, e.certificate);
	e.seq = ev->seq;
	e.hlc = ev->hlc;
	*ev = e;
	return 0;
}

/* -------------------------------------------------------------- apply */

/* Due dates from acceptance: the limit plus the extension plus the working
 * days of every finished pause (特别程序 do not count against the limit),
 * counted on `cal`.  A running pause counts at resume, so due dates stay
 * put while paused. */
static void dues_for(const Wuji__Case *c, const wj_calendar_t *cal, int64_t accepted_at,
		     uint32_t extension, uint32_t extra_stopped, int32_t *promised,
		     int32_t *statutory)
{
	wj_date_t from = wj_date_from_unix(accepted_at);
	uint32_t stopped = extra_stopped;

	for (size_t i = 0; i < c->n_pauses; i++)
		stopped += c->pauses[i]->working_days;
	*promised = wj_calendar_add_workdays(cal, from,
		c->promised_days + extension + stopped);
	*statutory = wj_calendar_add_workdays(cal, from,
		c->statutory_days + extension + stopped);
}

/* The event carries the due dates the acting node computed (see
 * Event.promised_due): every node takes them as they are, so a node
 * whose calendar arrived late still agrees.  Events without them are
 * computed here. */
static void set_dues(Wuji__Case *c, const wj_calendar_t *cal, const Wuji__Event *ev)
{
	if (ev->promised_due != 0 && ev->statutory_due != 0) {
		c->promised_due = ev->promised_due;
		c->statutory_due = ev->statutory_due;
		return;
	}
	dues_for(c, cal, c->accepted_at, c->extension_days, 0, &c->promised_due,
		 &c->statutory_due);
}

static void sb_dues(sb_t *b, const Wuji__Case *c)
{
	char p[11], s[11];

	wj_date_format(c->promised_due, p);
	wj_date_format(c->statutory_due, s);
	sb_printf(b, "promised due %s, statutory due %s", p, s);
}

static int check_submission(const Wuji__Case *c, const Wuji__Event *ev,
			    wj_err_t *err)
{
	const Wuji__Submission *s = ev->submission;
	int rc;

	if (c->status != WUJI__CASE_STATUS__STATUS_NONE || !empty(c->number))
		return failf(err, WJ_ENOTALLOWED, "case %s was submitted "
			     "already; a submission starts a new case",
			     c->number);
	rc = wj_case_number_parse(ev->case_number, NULL, NULL, err);
	if (rc)
		return rc;
	if (!s || s->n_tasks == 0)
		return failf(err, WJ_EINVAL, "submission of case %s has "
			     "no %s", ev->case_number,
			     s ? "tasks" : "content");
	for (size_t i = 0; i < s->n_tasks; i++)
		if (!s->tasks[i])
			return failf(err, WJ_EINVAL, "submission of case "
				     "%s has an empty task",
				     ev->case_number);
	for (size_t i = 0; i < s->n_materials; i++)
		if (!s->materials[i])
			return failf(err, WJ_EINVAL, "submission of case "
				     "%s has an empty material",
				     ev->case_number);
	return 0;
}

static void apply_submitted(wj_arena_t *a, Wuji__Case *c,
			    const Wuji__Event *ev, sb_t *d)
{
	const Wuji__Submission *s = ev->submission;
	size_t supplied = 0;

	c->number = sdup(a, ev->case_number);
	c->item_code = sdup(a, s->item_code);
	c->item_name = sdup(a, s->item_name);
	c->item_kind = s->item_kind;
	c->kind = s->kind;
	c->origin = ev->origin;
	c->status = WUJI__CASE_STATUS__RECEIVED;
	c->promised_days = s->promised_days;
	c->statutory_days = s->statutory_days;
	c->submitted_at = ev->at;
	if (s->applicant) {
		Wuji__Applicant *ap = wj_arena_alloc(a, sizeof(*ap));

		wuji__applicant__init(ap);
		ap->name = sdup(a, s->applicant->name);
		ap->id_type = s->applicant->id_type;
		ap->id_number = sdup(a, s->applicant->id_number);
		c->applicant = ap;
	}
	for (size_t i = 0; i < s->n_materials; i++) {
		const Wuji__Material *src = s->materials[i];
		Wuji__Material **slot, *m = wj_arena_alloc(a, sizeof(*m));

		wuji__material__init(m);
		m->name = sdup(a, src->name);
		m->required = src->required;
		m->waivable = src->waivable;
		m->supplied = src->supplied;
		supplied += m->supplied;
		slot = wj_arena_push(a, &c->materials, &c->n_materials,
				     sizeof(*c->materials));
		*slot = m;
	}
	for (size_t i = 0; i < s->n_tasks; i++) {
		const Wuji__Task *src = s->tasks[i];
		Wuji__Task **slot, *t = wj_arena_alloc(a, sizeof(*t));

		wuji__task__init(t);
		t->index = src->index;
		t->department = sdup(a, src->department);
		t->node = src->node;
		t->level = src->level;
		t->status = src->status;
		t->certificate = sdup(a, src->certificate);
		t->reason = sdup(a, src->reason);
		t->decided_at = src->decided_at;
		t->decided_by = src->decided_by;
		slot = wj_arena_push(a, &c->tasks, &c->n_tasks,
				     sizeof(*c->tasks));
		*slot = t;
	}

	sb_printf(d, "item %s %s, %s case; materials supplied %zu of %zu; "
		  "tasks: ", c->item_code, c->item_name,
		  wj_case_kind_name(c->kind), supplied, c->n_materials);
	for (size_t i = 0; i < c->n_tasks; i++)
		sb_printf(d, "%s%" PRIu32 " %s at %012" PRIu64, i ? ", " : "",
			  c->tasks[i]->index, dept(c->tasks[i]),
			  c->tasks[i]->node);
}

static void decide_task(wj_arena_t *a, Wuji__Task *t, const Wuji__Event *ev,
			bool approve, const char *certificate)
{
	t->status = approve ? WUJI__TASK_STATUS__TASK_APPROVED :
			      WUJI__TASK_STATUS__TASK_DENIED;
	if (approve)
		t->certificate = sdup(a, certificate);
	else
		t->reason = sdup(a, ev->reason);
	t->decided_at = ev->at;
	t->decided_by = ev->origin;
}

static void apply_accepted(wj_arena_t *a, const wj_calendar_t *cal,
			   Wuji__Case *c, const Wuji__Event *ev, sb_t *d)
{
	c->status = WUJI__CASE_STATUS__ACCEPTED;
	c->accepted_at = ev->at;
	for (size_t i = 0; i < c->n_tasks; i++)
		c->tasks[i]->status = WUJI__TASK_STATUS__TASK_PENDING;
	set_dues(c, cal, ev);
	sb_printf(d, "accepted; ");
	sb_dues(d, c);
	if (unsupplied(c, false, NULL)) {
		sb_printf(d, "; accepted with materials missing (容缺), to be "
			  "supplied later: ");
		unsupplied(c, false, d);
	}
	/* 即办件: decided on the spot, every task approved with its
	 * default certificate. */
	if (c->item_kind == WUJI__ITEM_KIND__ITEM_IMMEDIATE) {
		for (size_t i = 0; i < c->n_tasks; i++) {
			Wuji__Task *t = c->tasks[i];

			decide_task(a, t, ev, true,
				    default_certificate(a, c->number,
							t->index));
		}
		c->status = WUJI__CASE_STATUS__APPROVED;
		c->decided_at = ev->at;
		sb_printf(d, "; immediate item approved on the spot, "
			  "certificate%s ", c->n_tasks > 1 ? "s" : "");
		for (size_t i = 0; i < c->n_tasks; i++)
			sb_printf(d, "%s%s", i ? ", " : "",
				  c->tasks[i]->certificate);
	}
}

static void apply_correction(wj_arena_t *a, Wuji__Case *c,
			     const Wuji__Event *ev, sb_t *d)
{
	char **missing = wj_arena_alloc(a, ev->n_names * sizeof(*missing));

	for (size_t i = 0; i < ev->n_names; i++) {
		missing[i] = sdup(a, ev->names[i]);
		find_material(c, ev->names[i])->supplied = false;
	}
	c->missing = missing;
	c->n_missing = ev->n_names;
	c->status = WUJI__CASE_STATUS__CORRECTION;
	sb_printf(d, "correction notice, missing: ");
	sb_strings(d, c->missing, c->n_missing);
}

static void apply_supplied(wj_arena_t *a, Wuji__Case *c, const Wuji__Event *ev,
			   sb_t *d)
{
	/* An event without names supplies the whole list. */
	char *const *names = ev->n_names ? ev->names : c->missing;
	size_t n_names = ev->n_names ? ev->n_names : c->n_missing;
	char **left = wj_arena_alloc(a, (c->n_missing + 1) * sizeof(*left));
	size_t n_left = 0;

	sb_printf(d, "supplied: ");
	sb_strings(d, names, n_names);
	for (size_t i = 0; i < n_names; i++) {
		Wuji__Material *m = find_material(c, names[i]);

		if (m)
			m->supplied = true;
	}
	for (size_t i = 0; i < c->n_missing; i++)
		if (!in_list(names, n_names, c->missing[i]))
			left[n_left++] = c->missing[i];
	c->missing = n_left ? left : NULL;
	c->n_missing = n_left;
	if (n_left == 0) {
		c->status = WUJI__CASE_STATUS__RECEIVED;
		sb_printf(d, "; correction complete, back to received");
	} else {
		sb_printf(d, "; still missing: ");
		sb_strings(d, c->missing, c->n_missing);
	}
}

static void cancel_tasks(Wuji__Case *c)
{
	for (size_t i = 0; i < c->n_tasks; i++) {
		Wuji__Task *t = c->tasks[i];

		if (t->status == WUJI__TASK_STATUS__TASK_WAITING ||
		    t->status == WUJI__TASK_STATUS__TASK_PENDING)
			t->status = WUJI__TASK_STATUS__TASK_CANCELLED;
	}
}

static void apply_decided(wj_arena_t *a, Wuji__Case *c, const Wuji__Event *ev,
			  sb_t *d)
{
	Wuji__Task *t = c->tasks[ev->task - 1];
	size_t undecided = 0, denied = 0;

	decide_task(a, t, ev, ev->approve, empty(ev->certificate) ?
		    default_certificate(a, c->number, ev->task) :
		    ev->certificate);
	if (ev->approve)
		sb_printf(d, "task %" PRIu32 " (%s) approved, certificate %s",
			  ev->task, dept(t), t->certificate);
	else
		sb_printf(d, "task %" PRIu32 " (%s) denied: %s", ev->task,
			  dept(t), t->reason);

	for (size_t i = 0; i < c->n_tasks; i++) {
		if (c->tasks[i]->status == WUJI__TASK_STATUS__TASK_PENDING ||
		    c->tasks[i]->status == WUJI__TASK_STATUS__TASK_WAITING)
			undecided++;
		else if (c->tasks[i]->status ==
			 WUJI__TASK_STATUS__TASK_DENIED)
			denied++;
	}
	if (undecided)
		return;
	/* The case is decided with its last task: approved only when every
	 * task approved; a denial carries every denying task's reason. */
	c->decided_at = ev->at;
	if (denied == 0) {
		c->status = WUJI__CASE_STATUS__APPROVED;
		sb_printf(d, "; case approved");
		return;
	}
	c->status = WUJI__CASE_STATUS__DENIED;
	{
		sb_t r;
		bool first = true;

		sb_init(&r, a);
		for (size_t i = 0; i < c->n_tasks; i++) {
			if (c->tasks[i]->status !=
			    WUJI__TASK_STATUS__TASK_DENIED)
				continue;
			sb_sep(&r, &first, "; ");
			sb_printf(&r, "%s", c->tasks[i]->reason);
		}
		c->reason = r.p;
	}
	sb_printf(d, "; case denied");
}

/* Appends ev's entry to c's history: the same for an event that took
 * effect and for one that did not (no_effect), but the flag. */
static void add_history(wj_arena_t *a, Wuji__Case *c, const Wuji__Event *ev,
			const char *detail, bool no_effect)
{
	Wuji__HistoryEntry **slot, *h;

	h = wj_arena_alloc(a, sizeof(*h));
	wuji__history_entry__init(h);
	h->event = ev->type;
	h->node = ev->origin;
	h->at = ev->at;
	h->detail = (char *)detail;
	h->origin = ev->origin;
	h->seq = ev->seq;
	h->no_effect = no_effect;
	slot = wj_arena_push(a, &c->history, &c->n_history,
			     sizeof(*c->history));
	*slot = h;
	if (ev->hlc > c->last_hlc)
		c->last_hlc = ev->hlc;
}

int wj_case_apply(const wj_case_ctx_t *ctx, Wuji__Case *c,
		  const Wuji__Event *ev, wj_err_t *err)
{
	const wj_calendar_t *cal;
	wj_arena_t *a;
	int rc;
	sb_t d;

	wj_require(ctx && ctx->arena && ctx->cal && c && ev);
	a = ctx->arena;
	cal = ctx->cal;

	/* Everything is checked before anything changes. */
	if (ev->type == WUJI__EVENT_TYPE__EV_SUBMITTED) {
		rc = check_submission(c, ev, err);
	} else if (ev->type <= WUJI__EVENT_TYPE__EV_SUBMITTED ||
		   ev->type > WUJI__EVENT_TYPE__EV_ARCHIVED) {
		rc = failf(err, WJ_EINVAL, "unknown event type %d",
			   (int)ev->type);
	} else if (c->status != WUJI__CASE_STATUS__STATUS_NONE &&
		   strcmp(ev->case_number ? ev->case_number : "",
			  c->number) != 0) {
		rc = failf(err, WJ_EINVAL, "an event for another case was "
			   "applied to case %s", c->number);
	} else {
		rc = check_event(c, ev, a, err);
	}
	if (rc)
		return rc;

	sb_init(&d, a);
	switch (ev->type) {
	case WUJI__EVENT_TYPE__EV_SUBMITTED:
		apply_submitted(a, c, ev, &d);
		break;
	case WUJI__EVENT_TYPE__EV_ACCEPTED:
		apply_accepted(a, cal, c, ev, &d);
		break;
	case WUJI__EVENT_TYPE__EV_CORRECTION:
		apply_correction(a, c, ev, &d);
		break;
	case WUJI__EVENT_TYPE__EV_SUPPLIED:
		apply_supplied(a, c, ev, &d);
		break;
	case WUJI__EVENT_TYPE__EV_REJECTED:
		c->status = WUJI__CASE_STATUS__REJECTED;
		c->reason = sdup(a, ev->reason);
		cancel_tasks(c);
		sb_printf(&d, "not accepted: %s", ev->reason);
		break;
	case WUJI__EVENT_TYPE__EV_WITHDRAWN:
		/* Decided tasks keep their decisions; the rest stop. */
		c->status = WUJI__CASE_STATUS__WITHDRAWN;
		c->reason = sdup(a, ev->reason);
		cancel_tasks(c);
		sb_printf(&d, "withdrawn%s%s", empty(ev->reason) ? "" : ": ",
			  empty(ev->reason) ? "" : ev->reason);
		break;
	case WUJI__EVENT_TYPE__EV_PAUSED: {
		Wuji__Pause **ps, *p = wj_arena_alloc(a, sizeof(*p));

		wuji__pause__init(p);
		p->start = ev->at;
		p->reason = sdup(a, ev->reason);
		ps = wj_arena_push(a, &c->pauses, &c->n_pauses,
				   sizeof(*c->pauses));
		*ps = p;
		c->status = WUJI__CASE_STATUS__PAUSED;
		sb_printf(&d, "clock stopped: %s", ev->reason);
		break;
	}
	case WUJI__EVENT_TYPE__EV_RESUMED: {
		Wuji__Pause *p = c->pauses[last_open_pause(c)];

		/* The pause's working days are those after the day it began,
		 * up to and including the day it ended: a pause begun and
		 * ended on one day costs nothing. */
		p->end = ev->at;
		p->working_days = ev->promised_due != 0 ? ev->paused_days
			: wj_calendar_workdays_between(cal, wj_date_from_unix(p->start),
						       wj_date_from_unix(p->end));
		c->status = WUJI__CASE_STATUS__ACCEPTED;
		set_dues(c, cal, ev);
		sb_printf(&d, "clock restarted after %" PRIu32 " working days"
			  " not counted%s%s; ", p->working_days,
			  empty(ev->reason) ? "" : ": ",
			  empty(ev->reason) ? "" : ev->reason);
		sb_dues(&d, c);
		break;
	}
	case WUJI__EVENT_TYPE__EV_EXTENDED:
		c->extension_days = ev->days;
		c->extension_reason = sdup(a, ev->reason);
		set_dues(c, cal, ev);
		sb_printf(&d, "extended by %" PRIu32 " working days: %s; ",
			  ev->days, ev->reason);
		sb_dues(&d, c);
		break;
	case WUJI__EVENT_TYPE__EV_DECIDED:
		apply_decided(a, c, ev, &d);
		break;
	case WUJI__EVENT_TYPE__EV_DELIVERED:
		c->status = WUJI__CASE_STATUS__DELIVERED;
		c->delivered_by = ev->by == WUJI__DELIVERY__DELIVERY_NONE ?
				  WUJI__DELIVERY__BY_WINDOW : ev->by;
		c->delivered_at = ev->at;
		sb_printf(&d, "delivered by %s",
			  wj_delivery_name(c->delivered_by));
		break;
	case WUJI__EVENT_TYPE__EV_ARCHIVED:
		c->status = WUJI__CASE_STATUS__ARCHIVED;
		sb_printf(&d, "archived");
		break;
	default:
		break;
	}

	add_history(a, c, ev, d.p, false);
	return 0;
}

/* Why a stored event had no effect, for its history entry: in the
 * words of what the case was when the event came in order, not of the
 * command refusal (whose list of allowed steps means nothing here). */
static void superseded_detail(const Wuji__Case *c, const Wuji__Event *ev,
			      const wj_err_t *err, sb_t *d)
{
	sb_printf(d, "superseded, no effect: ");
	if (!is_allowed(c->status, ev->type)) {
		sb_printf(d, "the case was already %s when this step came "
			  "(a step taken at another node came first)",
			  wj_status_name(c->status));
	} else if (ev->type == WUJI__EVENT_TYPE__EV_DECIDED &&
		   ev->task >= 1 && ev->task <= c->n_tasks &&
		   c->tasks[ev->task - 1]->status !=
		   WUJI__TASK_STATUS__TASK_PENDING) {
		const Wuji__Task *t = c->tasks[ev->task - 1];

		sb_printf(d, "task %" PRIu32 " (%s) was already %s when this "
			  "decision came (a step taken at another node came "
			  "first)", ev->task, dept(t),
			  wj_task_status_name(t->status));
	} else {
		sb_printf(d, "%s", err->msg);
	}
}

bool wj_case_fold(const wj_case_ctx_t *ctx, Wuji__Case *c,
		  const Wuji__Event *ev)
{
	wj_err_t err = { 0 };
	sb_t d;

	wj_require(ctx && ctx->arena && ctx->cal && c && ev);
	if (wj_case_apply(ctx, c, ev, &err) == 0)
		return true;
	if (ev->type == WUJI__EVENT_TYPE__EV_SUBMITTED ||
	    c->status == WUJI__CASE_STATUS__STATUS_NONE ||
	    strcmp(ev->case_number ? ev->case_number : "", c->number) != 0)
		return false;
	sb_init(&d, ctx->arena);
	superseded_detail(c, ev, &err, &d);
	add_history(ctx->arena, c, ev, d.p, true);
	return false;
}

/* ----------------------------------------------------------- warnings */

void wj_case_warning(Wuji__Case *c, wj_date_t today, const wj_calendar_t *cal,
		     uint32_t yellow_days)
{
	uint32_t left;

	c->warning = WUJI__WARNING__WARNING_NONE;
	c->days_left = 0;
	/* Only an accepted case's clock runs: a paused one is stopped, the
	 * others have not started or are done. */
	if (c->status != WUJI__CASE_STATUS__ACCEPTED || c->promised_due == 0)
		return;
	if (today > c->promised_due) {
		c->warning = WUJI__WARNING__RED;
		c->days_left = -(int32_t)wj_calendar_workdays_between(cal,
			c->promised_due, today);
		return;
	}
	left = wj_calendar_workdays_between(cal, today, c->promised_due);
	c->days_left = (int32_t)left;
	if (left <= yellow_days)
		c->warning = WUJI__WARNING__YELLOW;
}
