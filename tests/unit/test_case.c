/* Unit tests of the case state machine (node/core/case.c): case numbers,
 * submission, every lifecycle path, refusals that change nothing, time
 * limits on the 2026 calendar, warnings and determinism.
 *
 * A tiny driver plays the daemon: command -> event -> apply, keeping every
 * event so a test can fold the same list again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/calendar.h"
#include "core/case.h"
#include "core/catalog.h"
#include "core/date.h"
#include "core/names.h"

#define PROVINCE 330000000000ULL
#define CITY 330100000000ULL
#define COUNTY 330106000000ULL
#define TOWNSHIP 330106001000ULL
#define VILLAGE 330106001201ULL

#define NUMBER "330106000000-20260213-000001"
#define LOG_MAX 64

/* ------------------------------------------------------------ fixture */

struct fx {
	wj_arena_t a;
	wj_calendar_t *cal;
	wj_case_ctx_t ctx;
	Wuji__Case c;
	uint64_t seq;
	const Wuji__Event *log[LOG_MAX];
	size_t n_log;
	/* catalog items, built in code */
	Wuji__CatalogItem *promised;   /* county task, 4 materials */
	Wuji__CatalogItem *joint;      /* county + city tasks */
	Wuji__CatalogItem *immediate;
	Wuji__CatalogItem *city_only;  /* may be submitted at a city only */
	Wuji__CatalogItem *township;   /* a township task */
	Wuji__CatalogItem *village;    /* a village task */
};

/* 2026, State Council General Office notice of 4 November 2025: holidays
 * that fall on weekdays, and the make-up workdays. */
static const int32_t holidays_2026[] = {
	20260101, 20260102,
	20260216, 20260217, 20260218, 20260219, 20260220, 20260223,
	20260406,
	20260501, 20260504, 20260505,
	20260619,
	20260925,
	20261001, 20261002, 20261005, 20261006, 20261007,
};
static const int32_t workdays_2026[] = {
	20260104, 20260214, 20260228, 20260509, 20260920, 20261010,
};

/* An instant at hh:mm in China Standard Time. */
static int64_t at(wj_date_t d, int hh, int mm)
{
	return wj_date_to_unix(d) + hh * 3600 + mm * 60;
}

struct mdef {
	const char *name;
	bool required, waivable;
};

struct tdef {
	const char *department;
	Wuji__Level level;
};

static Wuji__CatalogItem *mkitem(wj_arena_t *a, const char *code,
				 const char *name, Wuji__ItemKind kind,
				 uint32_t pd, uint32_t sd,
				 const Wuji__Level *levels, size_t n_levels,
				 const struct tdef *tasks, size_t n_tasks,
				 const struct mdef *mats, size_t n_mats)
{
	Wuji__CatalogItem *it = wj_arena_alloc(a, sizeof(*it));

	wuji__catalog_item__init(it);
	it->code = wj_arena_strdup(a, code);
	it->name = wj_arena_strdup(a, name);
	it->kind = kind;
	it->promised_days = pd;
	it->statutory_days = sd;
	for (size_t i = 0; i < n_levels; i++) {
		Wuji__Level *l = wj_arena_push(a, &it->apply_levels,
					       &it->n_apply_levels,
					       sizeof(*it->apply_levels));
		*l = levels[i];
	}
	for (size_t i = 0; i < n_tasks; i++) {
		Wuji__CatalogTask *t = wj_arena_alloc(a, sizeof(*t));
		Wuji__CatalogTask **s;

		wuji__catalog_task__init(t);
		t->department = wj_arena_strdup(a, tasks[i].department);
		t->level = tasks[i].level;
		s = wj_arena_push(a, &it->tasks, &it->n_tasks,
				  sizeof(*it->tasks));
		*s = t;
	}
	for (size_t i = 0; i < n_mats; i++) {
		Wuji__CatalogMaterial *m = wj_arena_alloc(a, sizeof(*m));
		Wuji__CatalogMaterial **s;

		wuji__catalog_material__init(m);
		m->name = wj_arena_strdup(a, mats[i].name);
		m->required = mats[i].required;
		m->waivable = mats[i].waivable;
		s = wj_arena_push(a, &it->materials, &it->n_materials,
				  sizeof(*it->materials));
		*s = m;
	}
	return it;
}

#define N(x) (sizeof(x) / sizeof((x)[0]))

static int setup(void **state)
{
	static const struct mdef mats[] = {
		{ "申请书", true, false },
		{ "营业执照", true, true },    /* 容缺 */
		{ "场所证明", true, false },
		{ "照片", false, false },
	};
	static const struct mdef id_only[] = { { "身份证", true, false } };
	static const struct tdef county[] = {
		{ "县市场监管局", WUJI__LEVEL__COUNTY },
	};
	static const struct tdef joint[] = {
		{ "县发改局", WUJI__LEVEL__COUNTY },
		{ "市生态环境局", WUJI__LEVEL__CITY },
	};
	static const struct tdef civil[] = {
		{ "县民政局", WUJI__LEVEL__COUNTY },
	};
	static const struct tdef city[] = {
		{ "市公安局", WUJI__LEVEL__CITY },
	};
	static const struct tdef township[] = {
		{ "镇社会事务办", WUJI__LEVEL__TOWNSHIP },
	};
	static const struct tdef village[] = {
		{ "村委会", WUJI__LEVEL__VILLAGE },
	};
	static const Wuji__Level at_county[] = { WUJI__LEVEL__COUNTY };
	static const Wuji__Level at_city[] = { WUJI__LEVEL__CITY };
	Wuji__CalendarYear y = WUJI__CALENDAR_YEAR__INIT;
	struct fx *f = calloc(1, sizeof(*f));
	wj_err_t err = { 0 };

	assert_non_null(f);
	wj_arena_init(&f->a, 0);
	f->cal = wj_calendar_new();
	y.year = 2026;
	y.holidays = (int32_t *)holidays_2026;
	y.n_holidays = N(holidays_2026);
	y.workdays = (int32_t *)workdays_2026;
	y.n_workdays = N(workdays_2026);
	assert_int_equal(wj_calendar_set_year(f->cal, &y, &err), 0);

	f->ctx.self = COUNTY;
	f->ctx.now = at(20260213, 9, 0);
	f->ctx.cal = f->cal;
	f->ctx.standalone = false;
	f->ctx.arena = &f->a;
	wuji__case__init(&f->c);

	f->promised = mkitem(&f->a, "330106-XK-001", "食品经营许可",
			     WUJI__ITEM_KIND__ITEM_PROMISED, 5, 20, NULL, 0,
			     county, N(county), mats, N(mats));
	f->joint = mkitem(&f->a, "330106-LB-002", "建设项目环评与立项",
			  WUJI__ITEM_KIND__ITEM_PROMISED, 10, 45, at_county,
			  N(at_county), joint, N(joint), mats, N(mats));
	f->immediate = mkitem(&f->a, "330106-JB-003", "婚姻登记证明",
			      WUJI__ITEM_KIND__ITEM_IMMEDIATE, 0, 0, NULL, 0,
			      civil, N(civil), id_only, N(id_only));
	f->city_only = mkitem(&f->a, "330100-XK-004", "出入境证件",
			      WUJI__ITEM_KIND__ITEM_PROMISED, 7, 15, at_city,
			      N(at_city), city, N(city), id_only, N(id_only));
	f->township = mkitem(&f->a, "330106-GG-005", "老年优待证",
			     WUJI__ITEM_KIND__ITEM_PROMISED, 3, 10, NULL, 0,
			     township, N(township), id_only, N(id_only));
	f->village = mkitem(&f->a, "330106-GG-006", "村级证明",
			    WUJI__ITEM_KIND__ITEM_PROMISED, 1, 5, NULL, 0,
			    village, N(village), id_only, N(id_only));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	wj_calendar_free(f->cal);
	wj_arena_free(&f->a);
	free(f);
	return 0;
}

/* ------------------------------------------------------------- driver */

struct packed {
	uint8_t *p;
	size_t n;
};

static struct packed pack(wj_arena_t *a, const Wuji__Case *c)
{
	struct packed r;

	r.n = wuji__case__get_packed_size(c);
	r.p = wj_arena_alloc(a, r.n + 1);
	assert_int_equal(wuji__case__pack(c, r.p), r.n);
	return r;
}

static void assert_same(struct packed x, struct packed y)
{
	assert_int_equal(x.n, y.n);
	assert_memory_equal(x.p, y.p, x.n);
}

static void keep(struct fx *f, const Wuji__Event *ev)
{
	assert_true(f->n_log < LOG_MAX);
	f->log[f->n_log++] = ev;
}

static Wuji__Event *new_event(struct fx *f)
{
	Wuji__Event *ev = wj_arena_alloc(&f->a, sizeof(*ev));

	wuji__event__init(ev);
	ev->seq = f->seq + 1;
	ev->hlc = (f->seq + 1) * 1000;
	return ev;
}

/* Submits at ctx->self; `mats` are the supplied material names. */
static int submit_as(struct fx *f, const Wuji__CatalogItem *item,
		     const char *name, Wuji__IdType id_type, const char *id,
		     const char **mats, size_t n_mats, wj_err_t *err)
{
	Wuji__SubmitRequest req = WUJI__SUBMIT_REQUEST__INIT;
	Wuji__Applicant ap = WUJI__APPLICANT__INIT;
	Wuji__Event *ev = new_event(f);
	int rc;

	ap.name = (char *)name;
	ap.id_type = id_type;
	ap.id_number = (char *)(id ? id : "");
	req.item_code = item->code;
	req.applicant = &ap;
	req.materials = (char **)mats;
	req.n_materials = n_mats;
	rc = wj_case_submit(&f->ctx, item, &req, NUMBER, ev, err);
	if (rc)
		return rc;
	rc = wj_case_apply(&f->ctx, &f->c, ev, err);
	if (rc)
		fail_msg("a submission that was built did not apply: %s",
			 err->msg);
	f->seq++;
	keep(f, ev);
	return 0;
}

static const char *all_mats[] = { "申请书", "营业执照", "场所证明", "照片" };

static void submit_ok(struct fx *f, const Wuji__CatalogItem *item,
		      const char **mats, size_t n_mats)
{
	wj_err_t err = { 0 };
	int rc = submit_as(f, item, "张三", WUJI__ID_TYPE__ID_CARD,
			   "11010519491231002X", mats, n_mats, &err);

	if (rc)
		fail_msg("submit refused: %s", err.msg);
}

/* command -> event -> apply, as the daemon does. */
static int drive(struct fx *f, const Wuji__Command *cmd, int64_t t,
		 wj_err_t *err)
{
	Wuji__Event *ev = new_event(f);
	int rc;

	f->ctx.now = t;
	rc = wj_case_command(&f->ctx, &f->c, cmd, ev, err);
	if (rc)
		return rc;
	rc = wj_case_apply(&f->ctx, &f->c, ev, err);
	if (rc)
		fail_msg("an event the command built did not apply: %s",
			 err->msg);
	f->seq++;
	keep(f, ev);
	return 0;
}

static Wuji__Command mkcmd(Wuji__EventType type)
{
	Wuji__Command c = WUJI__COMMAND__INIT;

	c.type = type;
	return c;
}

static void ok(struct fx *f, const Wuji__Command *cmd, int64_t t)
{
	wj_err_t err = { 0 };

	if (drive(f, cmd, t, &err))
		fail_msg("%s refused: %s", wj_event_verb(cmd->type), err.msg);
}

static void step(struct fx *f, Wuji__EventType type, int64_t t)
{
	Wuji__Command c = mkcmd(type);

	ok(f, &c, t);
}

static void step_reason(struct fx *f, Wuji__EventType type,
			const char *reason, int64_t t)
{
	Wuji__Command c = mkcmd(type);

	c.reason = (char *)reason;
	ok(f, &c, t);
}

static void decide(struct fx *f, uint32_t task, bool approve,
		   const char *text, int64_t t)
{
	Wuji__Command c = mkcmd(WUJI__EVENT_TYPE__EV_DECIDED);

	c.task = task;
	c.approve = approve;
	if (approve)
		c.certificate = (char *)(text ? text : "");
	else
		c.reason = (char *)text;
	ok(f, &c, t);
}

static void contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* A command the case must refuse: the error code and message, and the
 * case byte for byte as before. */
static void refused(struct fx *f, const Wuji__Command *cmd, int64_t t,
		    int code, const char *needle, wj_err_t *err)
{
	struct packed before = pack(&f->a, &f->c), after;
	size_t n_log = f->n_log;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = drive(f, cmd, t, err);
	if (rc != code)
		fail_msg("%s: expected %d, got %d (%s)",
			 wj_event_verb(cmd->type), code, rc, err->msg);
	assert_int_equal(err->code, code);
	contains(err->msg, needle);
	after = pack(&f->a, &f->c);
	assert_same(before, after);
	assert_int_equal(f->n_log, n_log);
}

/* An event apply must refuse, leaving the case unchanged. */
static void apply_refused(struct fx *f, const Wuji__Event *ev, int code,
			  const char *needle)
{
	struct packed before = pack(&f->a, &f->c), after;
	wj_err_t err = { 0 };
	int rc = wj_case_apply(&f->ctx, &f->c, ev, &err);

	if (rc != code)
		fail_msg("apply %s: expected %d, got %d (%s)",
			 wj_event_name(ev->type), code, rc, err.msg);
	contains(err.msg, needle);
	after = pack(&f->a, &f->c);
	assert_same(before, after);
}

/* A step the status does not allow: WJ_ENOTALLOWED naming the status and
 * listing the allowed verbs, in the message and in err->allowed. */
static void not_allowed(struct fx *f, Wuji__EventType type,
			const char *status, const char *allowed)
{
	Wuji__Command c = mkcmd(type);
	char want[256];
	wj_err_t err;
	const char *verbs[WJ_ERR_ALLOWED_MAX];
	size_t n;

	c.reason = "理由";
	c.days = 1;
	c.task = 1;
	refused(f, &c, f->ctx.now, WJ_ENOTALLOWED, "is not allowed", &err);
	snprintf(want, sizeof(want), "is %s: \"%s\" is not allowed now; ",
		 status, wj_event_verb(type));
	contains(err.msg, want);
	contains(err.msg, allowed);
	n = wj_case_allowed(f->c.status, verbs, WJ_ERR_ALLOWED_MAX);
	assert_int_equal(err.n_allowed, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(err.allowed[i], verbs[i]);
}

static const Wuji__HistoryEntry *last_history(const Wuji__Case *c)
{
	assert_true(c->n_history > 0);
	return c->history[c->n_history - 1];
}

/* Folds the driver's event log into a fresh case (in its own arena, with
 * a context whose clock and node differ: apply must not read them). */
static struct packed refold(struct fx *f, wj_arena_t *a)
{
	wj_case_ctx_t ctx = { .self = PROVINCE, .now = 0, .cal = f->cal,
			      .standalone = true, .arena = a };
	Wuji__Case c = WUJI__CASE__INIT;
	wj_err_t err = { 0 };

	for (size_t i = 0; i < f->n_log; i++)
		if (wj_case_apply(&ctx, &c, f->log[i], &err))
			fail_msg("refold of event %zu: %s", i, err.msg);
	return pack(&f->a, &c);
}

/* ------------------------------------------------------- case numbers */

static void test_number(void **state)
{
	char buf[WJ_CASE_NUMBER_MAX + 1];
	uint64_t origin = 0;
	wj_date_t day = 0;
	wj_err_t err = { 0 };
	char longer[64];

	(void)state;
	assert_int_equal(wj_case_number_format(buf, sizeof(buf), COUNTY,
					       20260213, 1), 0);
	assert_string_equal(buf, NUMBER);
	assert_int_equal(wj_case_number_format(buf, sizeof(buf), VILLAGE,
					       20261231, 1234567), 0);
	assert_string_equal(buf, "330106001201-20261231-1234567");
	assert_int_equal(wj_case_number_format(buf, 10, COUNTY, 20260213, 1),
			 WJ_EINVAL);
	assert_int_equal(wj_case_number_format(buf, sizeof(buf),
					       330100000001ULL, 20260213, 1),
			 WJ_EINVAL);

	assert_int_equal(wj_case_number_parse(NUMBER, &origin, &day, &err), 0);
	assert_int_equal(origin, COUNTY);
	assert_int_equal(day, 20260213);
	assert_int_equal(wj_case_number_parse("330106001201-20261231-1234567",
					      &origin, &day, &err), 0);
	assert_int_equal(origin, VILLAGE);
	{
		uint32_t serial = 0;

		assert_int_equal(wj_case_number_split("330106001201-20261231-1234567",
						      NULL, &day, &serial, &err), 0);
		assert_int_equal(day, 20261231);
		assert_int_equal(serial, 1234567);
	}

	/* Every refusal leaves the outputs alone. */
	origin = 7;
	day = 7;
	assert_int_equal(wj_case_number_parse("", &origin, &day, &err),
			 WJ_EINVAL);
	assert_int_equal(wj_case_number_parse("330106000000-20260230-000001",
					      &origin, &day, &err), WJ_EINVAL);
	contains(err.msg, "date");
	assert_int_equal(wj_case_number_parse("330100000001-20260213-000001",
					      &origin, &day, &err), WJ_EINVAL);
	contains(err.msg, "division code");
	assert_int_equal(wj_case_number_parse("330106000000-20260213-00001",
					      &origin, &day, &err), WJ_EINVAL);
	assert_int_equal(wj_case_number_parse("330106000000-20260213-00000a",
					      &origin, &day, &err), WJ_EINVAL);
	assert_int_equal(wj_case_number_parse("330106000000_20260213-000001",
					      &origin, &day, &err), WJ_EINVAL);
	assert_int_equal(wj_case_number_parse("330106000000-20260213-0000001",
					      &origin, &day, &err), WJ_EINVAL);
	assert_int_equal(wj_case_number_parse("330106000000-20260213-99999999999",
					      &origin, &day, &err), WJ_EINVAL);
	memset(longer, '1', sizeof(longer));
	memcpy(longer, "330106000000-20260213-", 22);
	longer[WJ_CASE_NUMBER_MAX + 1] = '\0';
	assert_int_equal(wj_case_number_parse(longer, &origin, &day, &err),
			 WJ_EINVAL);
	assert_int_equal(origin, 7);
	assert_int_equal(day, 7);
}

static void test_allowed_table(void **state)
{
	static const struct {
		Wuji__CaseStatus s;
		const char *verbs;
		bool open;
	} want[] = {
		{ WUJI__CASE_STATUS__RECEIVED, "accept correct reject withdraw",
		  true },
		{ WUJI__CASE_STATUS__CORRECTION, "supply reject withdraw", true },
		{ WUJI__CASE_STATUS__ACCEPTED, "pause extend decide withdraw",
		  true },
		{ WUJI__CASE_STATUS__PAUSED, "resume extend withdraw", true },
		{ WUJI__CASE_STATUS__APPROVED, "deliver", false },
		{ WUJI__CASE_STATUS__DENIED, "deliver", false },
		{ WUJI__CASE_STATUS__DELIVERED, "archive", false },
		{ WUJI__CASE_STATUS__REJECTED, "archive", false },
		{ WUJI__CASE_STATUS__WITHDRAWN, "archive", false },
		{ WUJI__CASE_STATUS__ARCHIVED, "", false },
		{ WUJI__CASE_STATUS__STATUS_NONE, "", false },
	};
	const char *out[WJ_ERR_ALLOWED_MAX];

	(void)state;
	for (size_t i = 0; i < N(want); i++) {
		char joined[128] = "";
		size_t n = wj_case_allowed(want[i].s, out, WJ_ERR_ALLOWED_MAX);

		for (size_t j = 0; j < n; j++) {
			if (j)
				strcat(joined, " ");
			strcat(joined, out[j]);
		}
		assert_string_equal(joined, want[i].verbs);
		assert_int_equal(wj_case_is_open(want[i].s), want[i].open);
	}
	/* max bounds the output */
	assert_int_equal(wj_case_allowed(WUJI__CASE_STATUS__RECEIVED, out, 2),
			 2);
	assert_string_equal(out[0], "accept");
	assert_string_equal(out[1], "correct");
}

/* --------------------------------------------------------- submission */

static void test_submit(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	const Wuji__Event *ev;
	const char *some[] = { "申请书", "场所证明" };

	f->ctx.now = at(20260213, 9, 30);
	submit_ok(f, f->promised, some, N(some));
	ev = f->log[0];
	assert_int_equal(ev->type, WUJI__EVENT_TYPE__EV_SUBMITTED);
	assert_int_equal(ev->origin, COUNTY);
	assert_int_equal(ev->at, at(20260213, 9, 30));
	assert_string_equal(ev->case_number, NUMBER);
	assert_int_equal(ev->seq, 1);   /* the caller's, untouched */
	assert_int_equal(ev->hlc, 1000);

	assert_string_equal(c->number, NUMBER);
	assert_int_equal(c->status, WUJI__CASE_STATUS__RECEIVED);
	assert_int_equal(c->kind, WUJI__CASE_KIND__CASE_PROMISED);
	assert_int_equal(c->item_kind, WUJI__ITEM_KIND__ITEM_PROMISED);
	assert_string_equal(c->item_code, "330106-XK-001");
	assert_string_equal(c->item_name, "食品经营许可");
	assert_int_equal(c->origin, COUNTY);
	assert_int_equal(c->submitted_at, at(20260213, 9, 30));
	assert_int_equal(c->promised_days, 5);
	assert_int_equal(c->statutory_days, 20);
	assert_int_equal(c->promised_due, 0);
	assert_string_equal(c->applicant->name, "张三");
	assert_int_equal(c->applicant->id_type, WUJI__ID_TYPE__ID_CARD);
	assert_string_equal(c->applicant->id_number, "11010519491231002X");
	assert_int_equal(c->n_materials, 4);
	assert_string_equal(c->materials[0]->name, "申请书");
	assert_true(c->materials[0]->supplied);
	assert_true(c->materials[0]->required);
	assert_false(c->materials[1]->supplied);
	assert_true(c->materials[1]->waivable);
	assert_true(c->materials[2]->supplied);
	assert_false(c->materials[3]->supplied);
	assert_false(c->materials[3]->required);
	assert_int_equal(c->n_tasks, 1);
	assert_int_equal(c->tasks[0]->index, 1);
	assert_string_equal(c->tasks[0]->department, "县市场监管局");
	assert_int_equal(c->tasks[0]->level, WUJI__LEVEL__COUNTY);
	assert_int_equal(c->tasks[0]->node, COUNTY);
	assert_int_equal(c->tasks[0]->status, WUJI__TASK_STATUS__TASK_WAITING);
	assert_int_equal(c->n_history, 1);
	assert_int_equal(c->history[0]->event, WUJI__EVENT_TYPE__EV_SUBMITTED);
	assert_int_equal(c->history[0]->node, COUNTY);
	assert_int_equal(c->history[0]->origin, COUNTY);
	assert_int_equal(c->history[0]->seq, 1);
	assert_int_equal(c->last_hlc, 1000);

	/* A case is submitted once. */
	apply_refused(f, ev, WJ_ENOTALLOWED, "submitted already");
}

static void test_submit_id_default(void **state)
{
	struct fx *f = *state;
	wj_err_t err = { 0 };

	/* No id type: an id card, and its checksum is checked. */
	assert_int_equal(submit_as(f, f->promised, "李四", WUJI__ID_TYPE__ID_NONE,
				   "11010519491231002X", all_mats,
				   N(all_mats), &err), 0);
	assert_int_equal(f->c.applicant->id_type, WUJI__ID_TYPE__ID_CARD);
}

static void submit_refused(struct fx *f, const Wuji__CatalogItem *item,
			   const char *name, Wuji__IdType type,
			   const char *id, const char **mats, size_t n,
			   const char *needle)
{
	struct packed before = pack(&f->a, &f->c), after;
	Wuji__Event ev = WUJI__EVENT__INIT;
	Wuji__SubmitRequest req = WUJI__SUBMIT_REQUEST__INIT;
	Wuji__Applicant ap = WUJI__APPLICANT__INIT;
	wj_err_t err = { 0 };
	int rc;

	ap.name = (char *)name;
	ap.id_type = type;
	ap.id_number = (char *)(id ? id : "");
	req.applicant = &ap;
	req.materials = (char **)mats;
	req.n_materials = n;
	ev.seq = 42;
	rc = wj_case_submit(&f->ctx, item, &req, NUMBER, &ev, &err);
	if (rc != WJ_EINVAL)
		fail_msg("expected a refusal containing \"%s\", got %d (%s)",
			 needle, rc, err.msg);
	contains(err.msg, needle);
	/* The event is untouched. */
	assert_int_equal(ev.type, WUJI__EVENT_TYPE__EV_NONE);
	assert_int_equal(ev.seq, 42);
	assert_null(ev.submission);
	after = pack(&f->a, &f->c);
	assert_same(before, after);
}

static void test_submit_refusals(void **state)
{
	struct fx *f = *state;
	const Wuji__CatalogItem *p = f->promised;
	const char *unknown[] = { "申请书", "户口本" };
	const char *ctl[] = { "申请\x01书" };
	char big[WJ_TEXT_MAX + 2];

	submit_refused(f, p, "", WUJI__ID_TYPE__ID_CARD, NULL, NULL, 0,
		       "applicant name is required");
	/* GB 11643: the check character of 11010519491231002? is X. */
	submit_refused(f, p, "张三", WUJI__ID_TYPE__ID_CARD,
		       "110105194912310021", NULL, 0,
		       "check digit should be X");
	submit_refused(f, p, "张三", WUJI__ID_TYPE__ID_NONE,
		       "110105194912310021", NULL, 0,
		       "check digit should be X");
	submit_refused(f, p, "张三", WUJI__ID_TYPE__ID_CARD,
		       "11010519491231002x", NULL, 0, "18 characters");
	submit_refused(f, p, "张三", WUJI__ID_TYPE__ID_CARD, "1101051949", NULL,
		       0, "18 characters");
	submit_refused(f, p, "某公司", WUJI__ID_TYPE__ID_USCC,
		       "91330106mA2XXXXX0X", NULL, 0, "uppercase");
	submit_refused(f, p, "某公司", WUJI__ID_TYPE__ID_USCC, "9133010", NULL,
		       0, "18 characters");
	submit_refused(f, p, "John", WUJI__ID_TYPE__ID_PASSPORT,
		       "E1234\n5678", NULL, 0, "control character");
	submit_refused(f, p, "张三", (Wuji__IdType)7, "X", NULL, 0,
		       "unknown id type");
	/* Unknown material: the error lists the item's materials. */
	submit_refused(f, p, "张三", WUJI__ID_TYPE__ID_NONE, NULL, unknown,
		       N(unknown), "户口本");
	submit_refused(f, p, "张三", WUJI__ID_TYPE__ID_NONE, NULL, unknown,
		       N(unknown), "申请书, 营业执照, 场所证明, 照片");
	submit_refused(f, p, "张三", WUJI__ID_TYPE__ID_NONE, NULL, ctl,
		       N(ctl), "material name contains the control character");
	/* Text fields */
	submit_refused(f, p, "张\x7f三", WUJI__ID_TYPE__ID_NONE, NULL, NULL, 0,
		       "applicant name contains the control character U+007F");
	submit_refused(f, p, "\xe5\xbc\xa0\xe4", WUJI__ID_TYPE__ID_NONE, NULL,
		       NULL, 0, "applicant name is not valid UTF-8");
	submit_refused(f, p, "\xc0\xaf", WUJI__ID_TYPE__ID_NONE, NULL, NULL,
		       0, "not valid UTF-8");
	submit_refused(f, p, "\xc2\x85", WUJI__ID_TYPE__ID_NONE, NULL, NULL,
		       0, "control character U+0085");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	submit_refused(f, p, big, WUJI__ID_TYPE__ID_NONE, NULL, NULL, 0,
		       "more than the 512 allowed");
	/* The item is applicable at a city node only. */
	submit_refused(f, f->city_only, "张三", WUJI__ID_TYPE__ID_NONE, NULL,
		       NULL, 0, "cannot be submitted at a county node");
	submit_refused(f, f->city_only, "张三", WUJI__ID_TYPE__ID_NONE, NULL,
		       NULL, 0, "level: city");
	f->ctx.self = VILLAGE;
	submit_refused(f, f->joint, "张三", WUJI__ID_TYPE__ID_NONE, NULL, NULL,
		       0, "cannot be submitted at a village node; submit it "
		       "at a node of level: county");
	assert_int_equal(f->n_log, 0);

	/* Exactly WJ_TEXT_MAX bytes is fine, and a passport is free text. */
	big[WJ_TEXT_MAX] = '\0';
	f->ctx.self = COUNTY;
	{
		wj_err_t err = { 0 };

		assert_int_equal(submit_as(f, p, big, WUJI__ID_TYPE__ID_PASSPORT,
					   "E12345678", NULL, 0, &err), 0);
	}
}

static void test_submit_kinds(void **state)
{
	struct fx *f = *state;
	const char *id[] = { "身份证" };

	/* A county item submitted at a village goes to the village's county
	 * and is reported up. */
	f->ctx.self = VILLAGE;
	submit_ok(f, f->promised, all_mats, N(all_mats));
	assert_int_equal(f->c.tasks[0]->node, COUNTY);
	assert_int_equal(f->c.kind, WUJI__CASE_KIND__CASE_REPORTED_UP);
	assert_int_equal(f->c.origin, VILLAGE);

	/* A township item at the village: its township. */
	wuji__case__init(&f->c);
	submit_ok(f, f->township, id, 1);
	assert_int_equal(f->c.tasks[0]->node, TOWNSHIP);
	assert_int_equal(f->c.kind, WUJI__CASE_KIND__CASE_REPORTED_UP);

	/* A village item at the village: handled there. */
	wuji__case__init(&f->c);
	submit_ok(f, f->village, id, 1);
	assert_int_equal(f->c.tasks[0]->node, VILLAGE);
	assert_int_equal(f->c.kind, WUJI__CASE_KIND__CASE_PROMISED);

	/* A township item at the county: no lower node handles a county
	 * case, the county keeps it. */
	f->ctx.self = COUNTY;
	wuji__case__init(&f->c);
	submit_ok(f, f->township, id, 1);
	assert_int_equal(f->c.tasks[0]->node, COUNTY);
	assert_int_equal(f->c.kind, WUJI__CASE_KIND__CASE_PROMISED);

	/* Several tasks: joint, each at its level's node. */
	wuji__case__init(&f->c);
	submit_ok(f, f->joint, all_mats, N(all_mats));
	assert_int_equal(f->c.kind, WUJI__CASE_KIND__CASE_JOINT);
	assert_int_equal(f->c.n_tasks, 2);
	assert_int_equal(f->c.tasks[0]->node, COUNTY);
	assert_int_equal(f->c.tasks[1]->node, CITY);
	assert_int_equal(f->c.tasks[1]->index, 2);
	assert_int_equal(f->c.tasks[1]->level, WUJI__LEVEL__CITY);

	wuji__case__init(&f->c);
	submit_ok(f, f->immediate, id, 1);
	assert_int_equal(f->c.kind, WUJI__CASE_KIND__CASE_IMMEDIATE);
	assert_int_equal(f->c.item_kind, WUJI__ITEM_KIND__ITEM_IMMEDIATE);
}

/* ---------------------------------------------------------- lifecycle */

static void test_lifecycle_simple(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	Wuji__Command d;

	submit_ok(f, f->promised, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ACCEPTED);
	assert_int_equal(c->accepted_at, at(20260302, 10, 0));
	assert_int_equal(c->tasks[0]->status, WUJI__TASK_STATUS__TASK_PENDING);
	assert_int_equal(c->promised_due, 20260309);   /* Mon + 5 */
	assert_int_equal(c->statutory_due, 20260330);  /* Mon + 20 */
	assert_int_equal(last_history(c)->event, WUJI__EVENT_TYPE__EV_ACCEPTED);
	contains(last_history(c)->detail, "2026-03-09");

	/* decide without a task number: the only pending task. */
	d = mkcmd(WUJI__EVENT_TYPE__EV_DECIDED);
	d.approve = true;
	ok(f, &d, at(20260304, 15, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__APPROVED);
	assert_int_equal(c->decided_at, at(20260304, 15, 0));
	assert_int_equal(c->tasks[0]->status, WUJI__TASK_STATUS__TASK_APPROVED);
	assert_string_equal(c->tasks[0]->certificate, NUMBER "-1");
	assert_int_equal(c->tasks[0]->decided_at, at(20260304, 15, 0));
	assert_int_equal(c->tasks[0]->decided_by, COUNTY);
	contains(last_history(c)->detail, "task 1 (县市场监管局)");
	contains(last_history(c)->detail, NUMBER "-1");

	step(f, WUJI__EVENT_TYPE__EV_DELIVERED, at(20260305, 9, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__DELIVERED);
	assert_int_equal(c->delivered_by, WUJI__DELIVERY__BY_WINDOW);
	assert_int_equal(c->delivered_at, at(20260305, 9, 0));
	step(f, WUJI__EVENT_TYPE__EV_ARCHIVED, at(20260306, 9, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ARCHIVED);
	assert_false(wj_case_is_open(c->status));
	assert_int_equal(c->n_history, 5);
	for (size_t i = 0; i < c->n_history; i++) {
		assert_int_equal(c->history[i]->seq, i + 1);
		assert_int_equal(c->history[i]->node, COUNTY);
	}
	assert_int_equal(c->last_hlc, 5000);

	/* Archived: nothing more. */
	not_allowed(f, WUJI__EVENT_TYPE__EV_ARCHIVED, "archived",
		    "nothing is allowed");
	not_allowed(f, WUJI__EVENT_TYPE__EV_ACCEPTED, "archived",
		    "nothing is allowed");
}

static void test_certificate_and_post(void **state)
{
	struct fx *f = *state;
	Wuji__Command d = mkcmd(WUJI__EVENT_TYPE__EV_DELIVERED);

	submit_ok(f, f->promised, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	decide(f, 1, true, "浙食证字第0001号", at(20260303, 10, 0));
	assert_string_equal(f->c.tasks[0]->certificate, "浙食证字第0001号");
	d.by = WUJI__DELIVERY__BY_POST;
	ok(f, &d, at(20260304, 10, 0));
	assert_int_equal(f->c.delivered_by, WUJI__DELIVERY__BY_POST);
	contains(last_history(&f->c)->detail, "post");
}

static void test_correction(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	const char *some[] = { "申请书" };
	char *missing[] = { "场所证明", "营业执照" };
	char *unknown[] = { "场所证明", "户口本" };
	char *twice[] = { "场所证明", "场所证明" };
	char *photo[] = { "照片" };
	char *place[] = { "场所证明" };
	Wuji__Command cmd;
	wj_err_t err;

	submit_ok(f, f->promised, some, N(some));
	/* 场所证明 is required and cannot be waived: no acceptance, and the
	 * refusal tells what to send. */
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_ACCEPTED);
	refused(f, &cmd, at(20260213, 10, 0), WJ_EINVAL,
		"cannot accept: required materials missing: 场所证明. "
		"Send a correction notice: correct " NUMBER, &err);

	cmd = mkcmd(WUJI__EVENT_TYPE__EV_CORRECTION);
	refused(f, &cmd, at(20260213, 10, 0), WJ_EINVAL,
		"申请书, 营业执照, 场所证明, 照片", &err);
	cmd.names = unknown;
	cmd.n_names = N(unknown);
	refused(f, &cmd, at(20260213, 10, 0), WJ_EINVAL,
		"has no material \"户口本\"; its materials are: 申请书", &err);
	cmd.names = twice;
	cmd.n_names = N(twice);
	refused(f, &cmd, at(20260213, 10, 0), WJ_EINVAL, "listed twice", &err);

	/* One notice listing everything missing (一次性告知). */
	cmd.names = missing;
	cmd.n_names = N(missing);
	ok(f, &cmd, at(20260213, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__CORRECTION);
	assert_int_equal(c->n_missing, 2);
	assert_string_equal(c->missing[0], "场所证明");
	assert_string_equal(c->missing[1], "营业执照");
	assert_false(c->materials[2]->supplied);
	contains(last_history(c)->detail, "场所证明, 营业执照");
	assert_int_equal(c->promised_due, 0);   /* no clock yet */

	not_allowed(f, WUJI__EVENT_TYPE__EV_ACCEPTED, "correction",
		    "allowed: supply, reject, withdraw");

	cmd = mkcmd(WUJI__EVENT_TYPE__EV_SUPPLIED);
	cmd.names = photo;
	cmd.n_names = 1;
	refused(f, &cmd, at(20260214, 9, 0), WJ_EINVAL,
		"\"照片\" is not on the correction list", &err);
	/* Each once: a name repeated would only swell the event (past what
	 * other nodes take, were it repeated enough). */
	char *place_twice[] = {"场所证明", "场所证明"};
	cmd.names = place_twice;
	cmd.n_names = N(place_twice);
	refused(f, &cmd, at(20260214, 9, 0), WJ_EINVAL, "listed twice", &err);
	cmd.n_names = 1;

	cmd.names = place;
	ok(f, &cmd, at(20260214, 9, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__CORRECTION);
	assert_int_equal(c->n_missing, 1);
	assert_string_equal(c->missing[0], "营业执照");
	assert_true(c->materials[2]->supplied);
	contains(last_history(c)->detail, "still missing: 营业执照");

	/* No names: all that is missing arrived. */
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_SUPPLIED);
	ok(f, &cmd, at(20260214, 10, 0));
	assert_int_equal(f->log[f->n_log - 1]->n_names, 1);
	assert_int_equal(c->status, WUJI__CASE_STATUS__RECEIVED);
	assert_int_equal(c->n_missing, 0);
	assert_true(c->materials[1]->supplied);

	/* Accepted on Saturday 14 February, a make-up workday: 24-28
	 * February are days 1-5. */
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260214, 11, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ACCEPTED);
	assert_int_equal(c->promised_due, 20260228);
}

static void test_accept_waivable(void **state)
{
	struct fx *f = *state;
	const char *some[] = { "申请书", "场所证明" };

	/* 营业执照 is missing but may be waived (容缺受理). */
	submit_ok(f, f->promised, some, N(some));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 10, 0));
	assert_int_equal(f->c.status, WUJI__CASE_STATUS__ACCEPTED);
	contains(last_history(&f->c)->detail, "容缺");
	contains(last_history(&f->c)->detail, "营业执照");
	assert_false(f->c.materials[1]->supplied);
}

static void test_reject(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	Wuji__Command cmd = mkcmd(WUJI__EVENT_TYPE__EV_REJECTED);
	char *place[] = { "场所证明" };
	wj_err_t err;

	/* from received */
	submit_ok(f, f->promised, all_mats, N(all_mats));
	refused(f, &cmd, at(20260213, 10, 0), WJ_EINVAL, "reason is required",
		&err);
	cmd.reason = "bad\x1b[31m";
	refused(f, &cmd, at(20260213, 10, 0), WJ_EINVAL,
		"reason contains the control character U+001B", &err);
	step_reason(f, WUJI__EVENT_TYPE__EV_REJECTED, "不属于本机关职权范围",
		    at(20260213, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__REJECTED);
	assert_string_equal(c->reason, "不属于本机关职权范围");
	assert_int_equal(c->tasks[0]->status,
			 WUJI__TASK_STATUS__TASK_CANCELLED);
	contains(last_history(c)->detail, "不属于本机关职权范围");
	not_allowed(f, WUJI__EVENT_TYPE__EV_ACCEPTED, "rejected",
		    "allowed: archive");
	step(f, WUJI__EVENT_TYPE__EV_ARCHIVED, at(20260213, 11, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ARCHIVED);

	/* from correction */
	wuji__case__init(&f->c);
	submit_ok(f, f->promised, all_mats, N(all_mats));
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_CORRECTION);
	cmd.names = place;
	cmd.n_names = 1;
	ok(f, &cmd, at(20260213, 10, 0));
	step_reason(f, WUJI__EVENT_TYPE__EV_REJECTED, "逾期未补正",
		    at(20260220, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__REJECTED);
	assert_int_equal(c->tasks[0]->status,
			 WUJI__TASK_STATUS__TASK_CANCELLED);
}

static void withdraw_from(struct fx *f, int how)
{
	const Wuji__Case *c = &f->c;
	char *place[] = { "场所证明" };
	Wuji__Command cmd;

	wuji__case__init(&f->c);
	submit_ok(f, f->promised, all_mats, N(all_mats));
	if (how == 1) {
		cmd = mkcmd(WUJI__EVENT_TYPE__EV_CORRECTION);
		cmd.names = place;
		cmd.n_names = 1;
		ok(f, &cmd, at(20260213, 10, 0));
	} else if (how >= 2) {
		step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 10, 0));
	}
	if (how == 3)
		step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "专家评审",
			    at(20260224, 10, 0));
	assert_true(wj_case_is_open(c->status));
	/* The reason is optional. */
	if (how == 0)
		step(f, WUJI__EVENT_TYPE__EV_WITHDRAWN, at(20260225, 10, 0));
	else
		step_reason(f, WUJI__EVENT_TYPE__EV_WITHDRAWN, "申请人撤回",
			    at(20260225, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__WITHDRAWN);
	assert_int_equal(c->tasks[0]->status,
			 WUJI__TASK_STATUS__TASK_CANCELLED);
	assert_int_equal(last_history(c)->event,
			 WUJI__EVENT_TYPE__EV_WITHDRAWN);
	if (how)
		assert_string_equal(c->reason, "申请人撤回");
	step(f, WUJI__EVENT_TYPE__EV_ARCHIVED, at(20260226, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ARCHIVED);
}

static void test_withdraw(void **state)
{
	struct fx *f = *state;

	for (int how = 0; how < 4; how++)
		withdraw_from(f, how);
}

static void test_withdraw_keeps_decisions(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;

	submit_ok(f, f->joint, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	decide(f, 1, true, NULL, at(20260303, 10, 0));
	step(f, WUJI__EVENT_TYPE__EV_WITHDRAWN, at(20260304, 10, 0));
	assert_int_equal(c->tasks[0]->status, WUJI__TASK_STATUS__TASK_APPROVED);
	assert_int_equal(c->tasks[1]->status,
			 WUJI__TASK_STATUS__TASK_CANCELLED);
}

static void test_not_allowed_message(void **state)
{
	struct fx *f = *state;
	Wuji__Command cmd = mkcmd(WUJI__EVENT_TYPE__EV_SUPPLIED);
	wj_err_t err;

	submit_ok(f, f->promised, all_mats, N(all_mats));
	not_allowed(f, WUJI__EVENT_TYPE__EV_DECIDED, "received",
		    "allowed: accept, correct, reject, withdraw");
	not_allowed(f, WUJI__EVENT_TYPE__EV_RESUMED, "received",
		    "allowed: accept, correct, reject, withdraw");
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 10, 0));
	refused(f, &cmd, at(20260213, 11, 0), WJ_ENOTALLOWED, "", &err);
	assert_string_equal(err.msg, "case " NUMBER " is accepted: \"supply\" "
			    "is not allowed now; allowed: pause, extend, "
			    "decide, withdraw");
	assert_int_equal(err.n_allowed, 4);
	assert_string_equal(err.allowed[0], "pause");
	assert_string_equal(err.allowed[3], "withdraw");
	not_allowed(f, WUJI__EVENT_TYPE__EV_ACCEPTED, "accepted",
		    "allowed: pause, extend, decide, withdraw");
	not_allowed(f, WUJI__EVENT_TYPE__EV_DELIVERED, "accepted",
		    "allowed: pause, extend, decide, withdraw");
	step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "现场核查",
		    at(20260224, 10, 0));
	not_allowed(f, WUJI__EVENT_TYPE__EV_DECIDED, "paused",
		    "allowed: resume, extend, withdraw");
	not_allowed(f, WUJI__EVENT_TYPE__EV_PAUSED, "paused",
		    "allowed: resume, extend, withdraw");
	step(f, WUJI__EVENT_TYPE__EV_RESUMED, at(20260225, 10, 0));
	decide(f, 1, false, "条件不符", at(20260226, 10, 0));
	assert_int_equal(f->c.status, WUJI__CASE_STATUS__DENIED);
	not_allowed(f, WUJI__EVENT_TYPE__EV_ARCHIVED, "denied",
		    "allowed: deliver");
	step(f, WUJI__EVENT_TYPE__EV_DELIVERED, at(20260227, 10, 0));
	not_allowed(f, WUJI__EVENT_TYPE__EV_DELIVERED, "delivered",
		    "allowed: archive");

	/* Commands that are not steps at all. */
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_SUBMITTED);
	refused(f, &cmd, at(20260227, 11, 0), WJ_EBADREQ, "unknown command",
		&err);
	cmd = mkcmd((Wuji__EventType)99);
	refused(f, &cmd, at(20260227, 11, 0), WJ_EBADREQ, "unknown command",
		&err);
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_ARCHIVED);
	cmd.number = "330106000000-20260213-000002";
	refused(f, &cmd, at(20260227, 11, 0), WJ_EBADREQ, "another case",
		&err);
}

/* Events applied out of order or not fitting the case are refused by
 * apply itself, and change nothing. */
static void test_apply_refusals(void **state)
{
	struct fx *f = *state;
	Wuji__Event ev = WUJI__EVENT__INIT;
	char *photo[] = { "照片" };
	const char *some[] = { "申请书" };

	ev.origin = COUNTY;
	ev.at = at(20260213, 10, 0);
	ev.case_number = NUMBER;
	ev.type = WUJI__EVENT_TYPE__EV_ACCEPTED;
	apply_refused(f, &ev, WJ_ENOTALLOWED, "has not been submitted");

	submit_ok(f, f->promised, some, N(some));
	/* Required 场所证明 is missing: an accept event does not fit. */
	apply_refused(f, &ev, WJ_EINVAL, "required materials missing");
	ev.type = WUJI__EVENT_TYPE__EV_DECIDED;
	ev.task = 1;
	ev.approve = true;
	apply_refused(f, &ev, WJ_ENOTALLOWED, "is received");
	ev.type = WUJI__EVENT_TYPE__EV_SUPPLIED;
	ev.names = photo;
	ev.n_names = 1;
	apply_refused(f, &ev, WJ_ENOTALLOWED, "\"supply\" is not allowed");
	ev.type = WUJI__EVENT_TYPE__EV_CORRECTION;
	ev.case_number = "330106000000-20260213-000009";
	apply_refused(f, &ev, WJ_EINVAL, "another case");
	ev.case_number = NUMBER;
	ev.type = WUJI__EVENT_TYPE__EV_NONE;
	apply_refused(f, &ev, WJ_EINVAL, "unknown event type");

	/* A decision of a task that is not pending. */
	wuji__case__init(&f->c);
	submit_ok(f, f->joint, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	decide(f, 1, true, NULL, at(20260303, 10, 0));
	ev.type = WUJI__EVENT_TYPE__EV_DECIDED;
	ev.names = NULL;
	ev.n_names = 0;
	ev.task = 1;
	apply_refused(f, &ev, WJ_EINVAL, "is approved; only a pending task");
	ev.task = 3;
	apply_refused(f, &ev, WJ_EINVAL, "has no task 3");
	ev.task = 0;
	apply_refused(f, &ev, WJ_EINVAL, "has no task 0");
	ev.task = 2;
	ev.approve = false;
	apply_refused(f, &ev, WJ_EINVAL, "reason is required");
	ev.type = WUJI__EVENT_TYPE__EV_RESUMED;
	apply_refused(f, &ev, WJ_ENOTALLOWED, "\"resume\" is not allowed");

	/* An older hlc does not move last_hlc back. */
	ev.type = WUJI__EVENT_TYPE__EV_PAUSED;
	ev.reason = "听证";
	ev.hlc = 1;
	ev.seq = 77;
	assert_int_equal(wj_case_apply(&f->ctx, &f->c, &ev, NULL), 0);
	assert_int_equal(f->c.last_hlc, 4000);
	assert_int_equal(last_history(&f->c)->seq, 77);
	ev.hlc = 99999;
	ev.type = WUJI__EVENT_TYPE__EV_RESUMED;
	assert_int_equal(wj_case_apply(&f->ctx, &f->c, &ev, NULL), 0);
	assert_int_equal(f->c.last_hlc, 99999);
}

static void test_immediate(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	const char *id[] = { "身份证" };

	submit_ok(f, f->immediate, id, 1);
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__APPROVED);
	assert_int_equal(c->accepted_at, at(20260213, 10, 0));
	assert_int_equal(c->decided_at, at(20260213, 10, 0));
	assert_int_equal(c->tasks[0]->status, WUJI__TASK_STATUS__TASK_APPROVED);
	assert_string_equal(c->tasks[0]->certificate, NUMBER "-1");
	assert_int_equal(c->tasks[0]->decided_by, COUNTY);
	assert_int_equal(c->promised_due, 20260213);
	assert_int_equal(c->n_history, 2);
	not_allowed(f, WUJI__EVENT_TYPE__EV_DECIDED, "approved",
		    "allowed: deliver");
	step(f, WUJI__EVENT_TYPE__EV_DELIVERED, at(20260213, 10, 5));
	step(f, WUJI__EVENT_TYPE__EV_ARCHIVED, at(20260213, 10, 6));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ARCHIVED);
}

static void test_joint(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	Wuji__Command d = mkcmd(WUJI__EVENT_TYPE__EV_DECIDED);
	wj_err_t err;

	submit_ok(f, f->joint, all_mats, N(all_mats));
	assert_int_equal(c->kind, WUJI__CASE_KIND__CASE_JOINT);
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	assert_int_equal(c->tasks[0]->status, WUJI__TASK_STATUS__TASK_PENDING);
	assert_int_equal(c->tasks[1]->status, WUJI__TASK_STATUS__TASK_PENDING);

	/* Two pending tasks: say which. */
	d.approve = true;
	refused(f, &d, at(20260303, 10, 0), WJ_EINVAL,
		"1 (县发改局 at 330106000000), 2 (市生态环境局 at "
		"330100000000)", &err);
	/* The city's task is decided at the city. */
	d.task = 2;
	refused(f, &d, at(20260303, 10, 0), WJ_EINVAL,
		"task 2 (市生态环境局) is handled by node 330100000000; "
		"decide it there", &err);
	d.task = 3;
	refused(f, &d, at(20260303, 10, 0), WJ_EINVAL, "has no task 3", &err);

	decide(f, 1, true, NULL, at(20260303, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ACCEPTED);
	assert_int_equal(c->tasks[0]->status, WUJI__TASK_STATUS__TASK_APPROVED);
	assert_int_equal(c->decided_at, 0);
	d.task = 1;
	refused(f, &d, at(20260303, 11, 0), WJ_EINVAL,
		"task 1 (县发改局) of case " NUMBER " is approved", &err);

	/* At the city node: the only pending task is 2; it denies. */
	f->ctx.self = CITY;
	d = mkcmd(WUJI__EVENT_TYPE__EV_DECIDED);
	refused(f, &d, at(20260304, 10, 0), WJ_EINVAL,
		"reason is required: say why the task is denied", &err);
	d.reason = "不符合环评要求";
	ok(f, &d, at(20260304, 10, 0));
	assert_int_equal(f->log[f->n_log - 1]->task, 2);
	assert_int_equal(c->tasks[1]->status, WUJI__TASK_STATUS__TASK_DENIED);
	assert_string_equal(c->tasks[1]->reason, "不符合环评要求");
	assert_int_equal(c->tasks[1]->decided_by, CITY);
	assert_int_equal(c->status, WUJI__CASE_STATUS__DENIED);
	assert_string_equal(c->reason, "不符合环评要求");
	assert_int_equal(c->decided_at, at(20260304, 10, 0));
	assert_int_equal(last_history(c)->node, CITY);
	contains(last_history(c)->detail, "case denied");
}

static void test_joint_outcomes(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;

	/* Both approve: approved.  A standalone node decides every task. */
	f->ctx.standalone = true;
	submit_ok(f, f->joint, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	decide(f, 2, true, "环评批复", at(20260303, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ACCEPTED);
	decide(f, 1, true, NULL, at(20260304, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__APPROVED);
	assert_string_equal(c->tasks[0]->certificate, NUMBER "-1");
	assert_string_equal(c->tasks[1]->certificate, "环评批复");

	/* Both deny: the reasons joined. */
	wuji__case__init(&f->c);
	submit_ok(f, f->joint, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	decide(f, 2, false, "理由二", at(20260303, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ACCEPTED);
	decide(f, 1, false, "理由一", at(20260304, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__DENIED);
	assert_string_equal(c->reason, "理由一; 理由二");

	/* One denies, then the other approves: denied. */
	wuji__case__init(&f->c);
	submit_ok(f, f->joint, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	decide(f, 1, false, "理由一", at(20260303, 10, 0));
	decide(f, 2, true, NULL, at(20260304, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__DENIED);
	assert_string_equal(c->reason, "理由一");
}

static void test_village(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	Wuji__Command d = mkcmd(WUJI__EVENT_TYPE__EV_DECIDED);
	wj_err_t err;

	f->ctx.self = VILLAGE;
	submit_ok(f, f->promised, all_mats, N(all_mats));
	assert_int_equal(c->tasks[0]->node, COUNTY);
	assert_int_equal(c->kind, WUJI__CASE_KIND__CASE_REPORTED_UP);
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	/* The village records; the county decides. */
	d.approve = true;
	refused(f, &d, at(20260303, 10, 0), WJ_EINVAL,
		"is handled by node 330106000000", &err);
	f->ctx.self = COUNTY;
	ok(f, &d, at(20260303, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__APPROVED);
	/* The result comes back down and is delivered at the village. */
	f->ctx.self = VILLAGE;
	step(f, WUJI__EVENT_TYPE__EV_DELIVERED, at(20260304, 10, 0));
	assert_int_equal(last_history(c)->node, VILLAGE);
	assert_int_equal(c->status, WUJI__CASE_STATUS__DELIVERED);
}

/* Each step belongs to one node: the window where the case was
 * submitted, or (decisions) the node that handles the task.  Anywhere
 * else the command is refused, naming where to go, and nothing changes. */
static void test_roles(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	Wuji__Command cmd;
	wj_err_t err;

	/* A village case reported up to the county. */
	f->ctx.self = VILLAGE;
	submit_ok(f, f->promised, all_mats, N(all_mats));
	f->ctx.self = COUNTY;
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_ACCEPTED);
	refused(f, &cmd, at(20260302, 10, 0), WJ_EINVAL,
		"was submitted at node 330106001201: \"accept\" is done there",
		&err);
	contains(err.msg, "this node decides its task 1");
	f->ctx.self = CITY;
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_REJECTED);
	cmd.reason = "理由";
	refused(f, &cmd, at(20260302, 10, 0), WJ_EINVAL,
		"handles none of its tasks", &err);
	f->ctx.self = VILLAGE;
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));

	/* The county, deciding, may not also pause, extend, withdraw,
	 * deliver or archive: each of these would race the window's. */
	f->ctx.self = COUNTY;
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_PAUSED);
	cmd.reason = "专家评审";
	refused(f, &cmd, at(20260303, 10, 0), WJ_EINVAL, "\"pause\" is done there",
		&err);
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_EXTENDED);
	cmd.reason = "情况复杂";
	cmd.days = 5;
	refused(f, &cmd, at(20260303, 10, 0), WJ_EINVAL, "\"extend\" is done there",
		&err);
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_WITHDRAWN);
	refused(f, &cmd, at(20260303, 10, 0), WJ_EINVAL,
		"\"withdraw\" is done there", &err);
	decide(f, 1, true, NULL, at(20260303, 10, 0));
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_DELIVERED);
	refused(f, &cmd, at(20260304, 10, 0), WJ_EINVAL,
		"\"deliver\" is done there", &err);
	f->ctx.self = VILLAGE;
	step(f, WUJI__EVENT_TYPE__EV_DELIVERED, at(20260304, 10, 0));
	f->ctx.self = COUNTY;
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_ARCHIVED);
	refused(f, &cmd, at(20260305, 10, 0), WJ_EINVAL,
		"\"archive\" is done there", &err);
	assert_int_equal(c->status, WUJI__CASE_STATUS__DELIVERED);

	/* A standalone node takes every step. */
	f->ctx.standalone = true;
	step(f, WUJI__EVENT_TYPE__EV_ARCHIVED, at(20260305, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ARCHIVED);
}

/* -------------------------------------------------------- time limits */

static void test_spring_festival(void **state)
{
	struct fx *f = *state;

	/* Accepted Friday 13 February at 10:00 +08:00 with 5 promised
	 * working days: Sat 14 (make-up) is day 1, the holiday does not
	 * count, 24-27 are days 2-5. */
	submit_ok(f, f->promised, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 10, 0));
	assert_int_equal(f->c.promised_due, 20260227);
	/* 20 days: 28 Feb (make-up) is day 6, then 2 Mar onwards. */
	assert_int_equal(f->c.statutory_due, 20260319);

	/* Late evening is still the same day in UTC+8. */
	wuji__case__init(&f->c);
	submit_ok(f, f->promised, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 23, 59));
	assert_int_equal(f->c.promised_due, 20260227);
}

/* A node that folds the events without the 2026 calendar (it arrived
 * late there) still shows the dates the accepting node computed: the
 * events carry them. */
static void test_dues_travel_with_events(void **state)
{
	struct fx *f = *state;
	wj_calendar_t *bare = wj_calendar_new();
	wj_case_ctx_t ctx = { .self = PROVINCE, .cal = bare, .arena = &f->a };
	Wuji__Case c = WUJI__CASE__INIT;
	wj_err_t err = { 0 };

	submit_ok(f, f->promised, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 10, 0));
	step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "专家评审", at(20260224, 10, 0));
	step(f, WUJI__EVENT_TYPE__EV_RESUMED, at(20260226, 10, 0));
	for (size_t i = 0; i < f->n_log; i++)
		assert_int_equal(wj_case_apply(&ctx, &c, f->log[i], &err), 0);
	/* With weekends only, 5 working days after 13 Feb would be 20 Feb. */
	assert_int_equal(c.promised_due, f->c.promised_due);
	assert_int_equal(c.statutory_due, f->c.statutory_due);
	assert_int_equal(c.pauses[0]->working_days, f->c.pauses[0]->working_days);
	/* 27 Feb + 2 paused working days: Sat 28 Feb (make-up), Mon 2 Mar. */
	assert_int_equal(f->c.promised_due, 20260302);
	wj_calendar_free(bare);
}

static void test_pause_resume(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	Wuji__Command p = mkcmd(WUJI__EVENT_TYPE__EV_PAUSED);
	wj_err_t err;

	submit_ok(f, f->promised, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 10, 0));
	refused(f, &p, at(20260224, 10, 0), WJ_EINVAL, "reason is required",
		&err);
	step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "专家评审",
		    at(20260224, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__PAUSED);
	assert_int_equal(c->n_pauses, 1);
	assert_int_equal(c->pauses[0]->start, at(20260224, 10, 0));
	assert_int_equal(c->pauses[0]->end, 0);
	assert_string_equal(c->pauses[0]->reason, "专家评审");
	/* While paused the due dates stay. */
	assert_int_equal(c->promised_due, 20260227);
	assert_true(wj_case_is_open(c->status));

	/* Resumed Thursday: Wed 25 and Thu 26 are not counted. */
	step(f, WUJI__EVENT_TYPE__EV_RESUMED, at(20260226, 15, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__ACCEPTED);
	assert_int_equal(c->pauses[0]->end, at(20260226, 15, 0));
	assert_int_equal(c->pauses[0]->working_days, 2);
	assert_int_equal(c->promised_due, 20260302);   /* Sat 28 Feb, Mon */
	assert_int_equal(c->statutory_due, 20260323);
	contains(last_history(c)->detail, "2 working days");

	/* A pause that begins and ends the same day costs nothing;
	 * another across a weekend costs the working days only. */
	step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "现场核查",
		    at(20260227, 9, 0));
	step(f, WUJI__EVENT_TYPE__EV_RESUMED, at(20260227, 17, 0));
	assert_int_equal(c->pauses[1]->working_days, 0);
	assert_int_equal(c->promised_due, 20260302);
	step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "检测", at(20260306, 9, 0));
	step(f, WUJI__EVENT_TYPE__EV_RESUMED, at(20260309, 9, 0));
	assert_int_equal(c->pauses[2]->working_days, 1);  /* Mon 9 Mar */
	assert_int_equal(c->promised_due, 20260303);
	assert_int_equal(c->n_pauses, 3);
}

static void test_extension(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	Wuji__Command e = mkcmd(WUJI__EVENT_TYPE__EV_EXTENDED);
	wj_err_t err;

	submit_ok(f, f->promised, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 10, 0));
	e.days = 3;
	refused(f, &e, at(20260225, 10, 0), WJ_EINVAL, "reason is required",
		&err);
	e.reason = "情况复杂，经负责人批准";
	e.days = 0;
	refused(f, &e, at(20260225, 10, 0), WJ_EINVAL,
		"an extension is 1 to 10 working days; 0 was given", &err);
	e.days = 11;
	refused(f, &e, at(20260225, 10, 0), WJ_EINVAL,
		"1 to 10 working days; 11", &err);
	e.days = 10;
	ok(f, &e, at(20260225, 10, 0));
	assert_int_equal(c->extension_days, 10);
	assert_string_equal(c->extension_reason, "情况复杂，经负责人批准");
	assert_int_equal(c->promised_due, 20260312);   /* 15 from 13 Feb */
	assert_int_equal(c->statutory_due, 20260402);  /* 30 from 13 Feb */
	contains(last_history(c)->detail, "extended by 10 working days");
	/* Only once. */
	e.days = 1;
	refused(f, &e, at(20260226, 10, 0), WJ_EINVAL,
		"already extended once by 10 working days on 2026-02-25; the "
		"law allows one extension", &err);
	/* Still once when paused. */
	step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "听证", at(20260226, 10, 0));
	refused(f, &e, at(20260226, 11, 0), WJ_EINVAL, "already extended",
		&err);
}

static void test_extension_paused_and_joint(void **state)
{
	struct fx *f = *state;
	const Wuji__Case *c = &f->c;
	Wuji__Command e = mkcmd(WUJI__EVENT_TYPE__EV_EXTENDED);
	wj_err_t err;

	/* Joint handling: up to 15 (行政许可法 art. 42). */
	submit_ok(f, f->joint, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	e.reason = "联合审查";
	e.days = 16;
	refused(f, &e, at(20260303, 10, 0), WJ_EINVAL,
		"1 to 15 working days for a joint case; 16", &err);
	/* Extending while paused moves the dates by the extension now; the
	 * pause moves them at resume. */
	step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "专家评审",
		    at(20260303, 10, 0));
	e.days = 15;
	ok(f, &e, at(20260304, 10, 0));
	assert_int_equal(c->status, WUJI__CASE_STATUS__PAUSED);
	/* 25 working days from 2 March; Qingming (6 April) skipped. */
	assert_int_equal(c->promised_due, 20260407);
	step(f, WUJI__EVENT_TYPE__EV_RESUMED, at(20260305, 10, 0));
	assert_int_equal(c->pauses[0]->working_days, 2);
	assert_int_equal(c->promised_due, 20260409);
}

static void test_warnings(void **state)
{
	struct fx *f = *state;
	Wuji__Case *c = &f->c;

	submit_ok(f, f->promised, all_mats, N(all_mats));
	c->warning = WUJI__WARNING__RED;
	c->days_left = 5;
	wj_case_warning(c, 20260226, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__WARNING_NONE);
	assert_int_equal(c->days_left, 0);

	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 10, 0));
	assert_int_equal(c->promised_due, 20260227);
	wj_case_warning(c, 20260213, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__WARNING_NONE);
	assert_int_equal(c->days_left, 5);
	wj_case_warning(c, 20260225, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__WARNING_NONE);
	assert_int_equal(c->days_left, 2);
	/* The day before the due date. */
	wj_case_warning(c, 20260226, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__YELLOW);
	assert_int_equal(c->days_left, 1);
	wj_case_warning(c, 20260226, f->cal, 0);
	assert_int_equal(c->warning, WUJI__WARNING__WARNING_NONE);
	wj_case_warning(c, 20260227, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__YELLOW);
	assert_int_equal(c->days_left, 0);
	/* After it: red, with the working days overdue. */
	wj_case_warning(c, 20260228, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__RED);
	assert_int_equal(c->days_left, -1);
	wj_case_warning(c, 20260303, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__RED);
	assert_int_equal(c->days_left, -3);

	/* Paused: the clock is stopped. */
	step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "检验",
		    at(20260226, 10, 0));
	wj_case_warning(c, 20260303, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__WARNING_NONE);
	assert_int_equal(c->days_left, 0);

	/* Resumed: one working day (27 Feb) not counted, due Sat 28 Feb. */
	step(f, WUJI__EVENT_TYPE__EV_RESUMED, at(20260227, 10, 0));
	assert_int_equal(c->promised_due, 20260228);
	wj_case_warning(c, 20260226, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__WARNING_NONE);
	assert_int_equal(c->days_left, 2);
	wj_case_warning(c, 20260227, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__YELLOW);
	/* Decided: no warning any more. */
	decide(f, 1, true, NULL, at(20260227, 11, 0));
	wj_case_warning(c, 20260310, f->cal, 1);
	assert_int_equal(c->warning, WUJI__WARNING__WARNING_NONE);
	assert_int_equal(c->days_left, 0);
}

/* --------------------------------------------------------- determinism */

static void test_determinism(void **state)
{
	struct fx *f = *state;
	char *missing[] = { "场所证明" };
	const char *some[] = { "申请书", "营业执照" };
	Wuji__Command cmd = mkcmd(WUJI__EVENT_TYPE__EV_CORRECTION);
	wj_arena_t a1, a2;
	struct packed p1, p2, orig;

	submit_ok(f, f->joint, some, N(some));
	cmd.names = missing;
	cmd.n_names = 1;
	ok(f, &cmd, at(20260213, 10, 0));
	step(f, WUJI__EVENT_TYPE__EV_SUPPLIED, at(20260213, 11, 0));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260213, 12, 0));
	step_reason(f, WUJI__EVENT_TYPE__EV_PAUSED, "专家评审",
		    at(20260224, 10, 0));
	step(f, WUJI__EVENT_TYPE__EV_RESUMED, at(20260227, 10, 0));
	cmd = mkcmd(WUJI__EVENT_TYPE__EV_EXTENDED);
	cmd.reason = "联合审查";
	cmd.days = 12;
	ok(f, &cmd, at(20260302, 10, 0));
	decide(f, 1, true, NULL, at(20260303, 10, 0));
	f->ctx.self = CITY;
	decide(f, 2, false, "不符合要求", at(20260304, 10, 0));
	f->ctx.self = COUNTY;
	step(f, WUJI__EVENT_TYPE__EV_DELIVERED, at(20260305, 10, 0));
	step(f, WUJI__EVENT_TYPE__EV_ARCHIVED, at(20260306, 10, 0));
	assert_int_equal(f->c.status, WUJI__CASE_STATUS__ARCHIVED);

	orig = pack(&f->a, &f->c);
	wj_arena_init(&a1, 0);
	wj_arena_init(&a2, 0);
	p1 = refold(f, &a1);
	p2 = refold(f, &a2);
	assert_same(p1, p2);
	assert_same(p1, orig);
	wj_arena_free(&a1);
	wj_arena_free(&a2);

	/* The folded case round-trips through its packed bytes, and the
	 * unpacked copy takes further events like the original. */
	{
		Wuji__Case *u = wuji__case__unpack(&f->a.pb, orig.n, orig.p);

		assert_non_null(u);
		assert_same(pack(&f->a, u), orig);
	}
}

/* Builds the event of cmd at node `self` against case c, without
 * applying it: a step taken at that node on its copy of the case. */
static const Wuji__Event *built_at(struct fx *f, const Wuji__Case *c,
				   uint64_t self, const Wuji__Command *cmd,
				   int64_t t)
{
	wj_case_ctx_t ctx = f->ctx;
	Wuji__Event *ev = new_event(f);
	wj_err_t err = { 0 };

	ctx.self = self;
	ctx.now = t;
	if (wj_case_command(&ctx, c, cmd, ev, &err))
		fail_msg("%s at %012llu refused: %s", wj_event_verb(cmd->type),
			 (unsigned long long)self, err.msg);
	f->seq++;
	return ev;
}

/* Folds the events in the given order into a copy of `base` (in a, with
 * a context that is not the acting nodes'). */
static Wuji__Case *fold_copy(struct fx *f, wj_arena_t *a, const Wuji__Case *base,
			     const Wuji__Event *const *evs, size_t n, bool *took)
{
	wj_case_ctx_t ctx = { .self = PROVINCE, .cal = f->cal, .arena = a };
	struct packed p = pack(a, base);
	Wuji__Case *c = wuji__case__unpack(&a->pb, p.n, p.p);

	assert_non_null(c);
	for (size_t i = 0; i < n; i++)
		took[i] = wj_case_fold(&ctx, c, evs[i]);
	return c;
}

/* Two nodes take steps on the same case at the same time: the window
 * (the village) withdraws while the county decides.  Whichever comes
 * first in the order of events stands; the other stays in the history,
 * marked without effect and saying why, the same on every node. */
static void test_fold_superseded(void **state)
{
	struct fx *f = *state;
	Wuji__Command w = mkcmd(WUJI__EVENT_TYPE__EV_WITHDRAWN);
	Wuji__Command d = mkcmd(WUJI__EVENT_TYPE__EV_DECIDED);
	const Wuji__Event *withdraw, *decision, *evs[2];
	const Wuji__HistoryEntry *h;
	wj_arena_t a1, a2;
	Wuji__Case *c1, *c2;
	bool took[2];

	f->ctx.self = VILLAGE;
	submit_ok(f, f->promised, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	w.reason = "申请人撤回";
	withdraw = built_at(f, &f->c, VILLAGE, &w, at(20260303, 10, 0));
	d.approve = true;
	decision = built_at(f, &f->c, COUNTY, &d, at(20260303, 10, 0));
	wj_arena_init(&a1, 0);
	wj_arena_init(&a2, 0);

	/* The withdrawal first: the decision changed nothing. */
	evs[0] = withdraw;
	evs[1] = decision;
	c1 = fold_copy(f, &a1, &f->c, evs, 2, took);
	assert_true(took[0]);
	assert_false(took[1]);
	assert_int_equal(c1->status, WUJI__CASE_STATUS__WITHDRAWN);
	assert_int_equal(c1->tasks[0]->status, WUJI__TASK_STATUS__TASK_CANCELLED);
	assert_int_equal(c1->n_history, 4);
	assert_false(c1->history[2]->no_effect);
	h = c1->history[3];
	assert_true(h->no_effect);
	assert_int_equal(h->event, WUJI__EVENT_TYPE__EV_DECIDED);
	assert_int_equal(h->node, COUNTY);
	assert_int_equal(h->seq, decision->seq);
	contains(h->detail, "superseded, no effect: the case was already "
		 "withdrawn when this step came");
	assert_int_equal(c1->last_hlc, decision->hlc);
	/* Folded again, in another arena: the same bytes. */
	c2 = fold_copy(f, &a2, &f->c, evs, 2, took);
	assert_same(pack(&a1, c1), pack(&a2, c2));

	/* The decision first: the case is decided, the withdrawal came too
	 * late. */
	evs[0] = decision;
	evs[1] = withdraw;
	c1 = fold_copy(f, &a1, &f->c, evs, 2, took);
	assert_true(took[0]);
	assert_false(took[1]);
	assert_int_equal(c1->status, WUJI__CASE_STATUS__APPROVED);
	h = c1->history[3];
	assert_true(h->no_effect);
	assert_int_equal(h->node, VILLAGE);
	contains(h->detail, "the case was already approved");
	wj_arena_free(&a1);
	wj_arena_free(&a2);
}

/* A decision that came when its task was decided already (made twice at
 * the task's node from two copies of the case, one of them restored, say):
 * the second says so.  An extension without effect does not count as the
 * case's one extension. */
static void test_fold_superseded_task(void **state)
{
	struct fx *f = *state;
	Wuji__Command d = mkcmd(WUJI__EVENT_TYPE__EV_DECIDED);
	Wuji__Command x = mkcmd(WUJI__EVENT_TYPE__EV_EXTENDED);
	const Wuji__Event *evs[5];
	wj_arena_t a;
	Wuji__Case *c;
	bool took[5];

	submit_ok(f, f->joint, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	d.task = 1;
	d.approve = true;
	evs[0] = built_at(f, &f->c, COUNTY, &d, at(20260303, 10, 0));
	d.approve = false;
	d.reason = "不符合条件";
	evs[1] = built_at(f, &f->c, COUNTY, &d, at(20260303, 11, 0));
	x.reason = "情况复杂";
	x.days = 5;
	evs[2] = built_at(f, &f->c, COUNTY, &x, at(20260303, 12, 0));
	evs[3] = built_at(f, &f->c, COUNTY, &x, at(20260304, 12, 0));
	evs[4] = built_at(f, &f->c, COUNTY, &x, at(20260305, 12, 0));
	wj_arena_init(&a, 0);
	c = fold_copy(f, &a, &f->c, evs, 5, took);
	assert_true(took[0]);
	assert_false(took[1]);
	assert_true(took[2]);
	assert_false(took[3]);
	assert_false(took[4]);
	assert_int_equal(c->tasks[0]->status, WUJI__TASK_STATUS__TASK_APPROVED);
	contains(c->history[3]->detail, "task 1 (县发改局) was already approved "
		 "when this decision came");
	/* The third extension names the date of the one that counted. */
	assert_true(c->history[5]->no_effect);
	contains(c->history[6]->detail, "superseded, no effect: case " NUMBER
		 " was already extended once by 5 working days on 2026-03-03");

	/* A submission that does not fit leaves no trace. */
	assert_false(wj_case_fold(&f->ctx, c, f->log[0]));
	assert_int_equal(c->n_history, 7);
	wj_arena_free(&a);
}

/* An unpacked case (arrays sized exactly by protobuf-c) takes events. */
static void test_apply_to_unpacked(void **state)
{
	struct fx *f = *state;
	struct packed p;
	Wuji__Case *u;
	Wuji__Event *ev;
	wj_err_t err = { 0 };
	Wuji__Command cmd = mkcmd(WUJI__EVENT_TYPE__EV_PAUSED);

	submit_ok(f, f->joint, all_mats, N(all_mats));
	step(f, WUJI__EVENT_TYPE__EV_ACCEPTED, at(20260302, 10, 0));
	p = pack(&f->a, &f->c);
	u = wuji__case__unpack(&f->a.pb, p.n, p.p);
	assert_non_null(u);
	cmd.reason = "听证";
	ev = new_event(f);
	f->ctx.now = at(20260303, 10, 0);
	assert_int_equal(wj_case_command(&f->ctx, u, &cmd, ev, &err), 0);
	assert_int_equal(wj_case_apply(&f->ctx, u, ev, &err), 0);
	assert_int_equal(wj_case_apply(&f->ctx, &f->c, ev, &err), 0);
	assert_same(pack(&f->a, u), pack(&f->a, &f->c));
	assert_int_equal(u->n_history, 3);
	assert_int_equal(u->n_pauses, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_number),
		cmocka_unit_test(test_allowed_table),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_submit),
		T(test_submit_id_default),
		T(test_submit_refusals),
		T(test_submit_kinds),
		T(test_lifecycle_simple),
		T(test_certificate_and_post),
		T(test_correction),
		T(test_accept_waivable),
		T(test_reject),
		T(test_withdraw),
		T(test_withdraw_keeps_decisions),
		T(test_not_allowed_message),
		T(test_apply_refusals),
		T(test_immediate),
		T(test_joint),
		T(test_joint_outcomes),
		T(test_village),
		T(test_roles),
		T(test_fold_superseded),
		T(test_fold_superseded_task),
		T(test_spring_festival),
		T(test_dues_travel_with_events),
		T(test_pause_resume),
		T(test_extension),
		T(test_extension_paused_and_joint),
		T(test_warnings),
		T(test_determinism),
		T(test_apply_to_unpacked),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
