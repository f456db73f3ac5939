/* The simulator's clients: the catalog and calendar load at the province,
 * then cases submitted at villages, townships, counties, cities and the
 * province, each taken through its life by requests at the right nodes --
 * accepted where it was submitted, each task decided at the node that
 * handles it, delivered back at the origin -- exactly as windows would,
 * through wj_service_batch with packed wuji.Request messages.
 *
 * Every request that got an OK reply is recorded: the checks then demand
 * that it is in the history of its case at every node that holds it. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/catalog.h"
#include "core/names.h"
#include "core/route.h"
#include "sim.h"
#include "storage/store.h"

#define ACTIONS_PER_STEP 16

/* ------------------------------------------------------------- files */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t k;
	while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

/* $WJ_SAMPLES, then deploy/samples found from the binary's place in a
 * build directory (BUILD/tests/wuji-sim or BUILD/wuji-sim), then from
 * the current directory. */
static char *find_sample(const char *given, const char *name, char *path, size_t size,
			 size_t *len)
{
	if (given) {
		snprintf(path, size, "%s", given);
		return slurp(path, len);
	}
	const char *env = getenv("WJ_SAMPLES");
	if (env && *env) {
		snprintf(path, size, "%s/%s", env, name);
		return slurp(path, len);
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		static const char *const ups[] = {"../..", "..", "../../.."};
		for (size_t i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
			snprintf(path, size, "%s/%s/deploy/samples/%s", exe, ups[i], name);
			char *buf = slurp(path, len);
			if (buf)
				return buf;
		}
	}
	snprintf(path, size, "deploy/samples/%s", name);
	return slurp(path, len);
}

int sim_load_files(sim_t *S)
{
	char path[PATH_MAX + 64];
	size_t len;
	wj_err_t err = {0};
	char *buf = find_sample(S->o->catalog_path, "catalog.yaml", path, sizeof(path), &len);
	if (buf == NULL) {
		fprintf(stderr, "wuji-sim: cannot read the catalog (last tried %s): give "
			"--catalog FILE or set WJ_SAMPLES to deploy/samples\n", path);
		return -1;
	}
	int rc = wj_catalog_parse(path, buf, len, &S->file_arena, &S->catalog, &err);
	free(buf);
	if (rc != 0) {
		fprintf(stderr, "wuji-sim: %s\n", err.msg);
		return -1;
	}
	buf = find_sample(S->o->calendar_path, "calendar-2026.yaml", path, sizeof(path), &len);
	if (buf == NULL) {
		fprintf(stderr, "wuji-sim: cannot read the calendar (last tried %s): give "
			"--calendar FILE or set WJ_SAMPLES to deploy/samples\n", path);
		return -1;
	}
	rc = wj_calendar_parse(path, buf, len, &S->file_arena, &S->calendar, &err);
	free(buf);
	if (rc != 0) {
		fprintf(stderr, "wuji-sim: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------------- helpers */

static const char *node_name(const sim_t *S, int i)
{
	static char buf[4][16];
	static int k;
	k = (k + 1) & 3;
	snprintf(buf[k], sizeof(buf[k]), "%012" PRIu64, S->nodes[i].code);
	return buf[k];
}

void sim_case_add_ack(sim_case_t *c, uint64_t origin, uint64_t seq, int type, int64_t at_ms)
{
	if (c->n_acks == c->cap_acks) {
		c->cap_acks = c->cap_acks ? 2 * c->cap_acks : 8;
		c->acks = realloc(c->acks, c->cap_acks * sizeof(*c->acks));
	}
	c->acks[c->n_acks++] = (sim_ack_t){.origin = origin, .seq = seq, .type = type,
					   .at_ms = at_ms};
}

static bool ok(const Wuji__Reply *r)
{
	return r && r->code == WUJI__ERROR_CODE__OK;
}

static Wuji__Reply *show(sim_t *S, int node, const char *number)
{
	Wuji__ShowRequest sr = WUJI__SHOW_REQUEST__INIT;
	sr.number = (char *)number;
	Wuji__Request req = WUJI__REQUEST__INIT;
	req.op_case = WUJI__REQUEST__OP_SHOW;
	req.show = &sr;
	return sim_request(S, node, &req);
}

/* Sends cmd about c to node; on OK records the event it made, which is
 * the newest entry of the returned history (a local event sorts last). */
static Wuji__Reply *command(sim_t *S, sim_case_t *c, int node, Wuji__Command *cmd)
{
	cmd->number = c->number;
	Wuji__Request req = WUJI__REQUEST__INIT;
	req.op_case = WUJI__REQUEST__OP_COMMAND;
	req.command = cmd;
	Wuji__Reply *rep = sim_request(S, node, &req);
	if (rep == NULL)
		return NULL;
	if (!ok(rep)) {
		S->st.refused++;
		sim_note(S, 2, "%s at %s refused for %s: %s", wj_event_verb(cmd->type),
			 node_name(S, node), c->number, rep->error);
		return rep;
	}
	S->st.commands++;
	Wuji__Case *cs = rep->case_;
	Wuji__HistoryEntry *h = cs && cs->n_history ? cs->history[cs->n_history - 1] : NULL;
	if (h == NULL || h->event != cmd->type || h->origin != S->nodes[node].code) {
		sim_fail(S, "%s of case %s at %s was acknowledged, but the case it "
			 "returned does not end with that event (last: %s by %012" PRIu64 ")",
			 wj_event_verb(cmd->type), c->number, node_name(S, node),
			 h ? wj_event_name(h->event) : "none", h ? h->origin : 0);
		return rep;
	}
	sim_case_add_ack(c, h->origin, h->seq, h->event, S->now);
	sim_note(S, 2, "%s %s at %s (event %012" PRIu64 "/%" PRIu64 ")",
		 wj_event_verb(cmd->type), c->number, node_name(S, node), h->origin, h->seq);
	return rep;
}

static int count_year(Wuji__CalendarYear *y, void *ctx)
{
	(void)y;
	(*(size_t *)ctx)++;
	return 0;
}

/* A restore of the province from a backup older than the calendar load
 * may undo it everywhere: the load reached nobody before (a cut, or the
 * cities restored along with it).  The operator loads it again once the
 * province is back with its peers and still lacks it. */
static void calendar_lost(sim_t *S, int prov)
{
	if (!S->calendar_loaded || S->nodes[prov].syncing ||
	    !sim_maybe_undone(S, prov, S->calendar_at))
		return;
	wj_txn_t *t;
	size_t years = 0;
	if (wj_txn_begin(wj_service_store(S->nodes[prov].svc), false, &t, NULL) != 0)
		return;
	wj_store_calendar_scan(t, &S->req_arena, count_year, &years, NULL);
	wj_txn_abort(t);
	if (years == 0) {
		sim_note(S, 1, "the province lost the calendar in a restore: loading it again");
		S->calendar_loaded = false;
	}
}

static void load_files(sim_t *S)
{
	int prov = 0;
	if (!S->nodes[prov].up)
		return;
	calendar_lost(S, prov);
	bool cal_due = !S->o->late_calendar || S->now >= S->submit_start + 15000;
	if (!S->calendar_loaded && cal_due) {
		Wuji__CalendarLoadRequest cl = WUJI__CALENDAR_LOAD_REQUEST__INIT;
		cl.calendar = S->calendar;
		Wuji__Request req = WUJI__REQUEST__INIT;
		req.op_case = WUJI__REQUEST__OP_CALENDAR_LOAD;
		req.calendar_load = &cl;
		Wuji__Reply *rep = sim_request(S, prov, &req);
		if (ok(rep)) {
			S->calendar_loaded = true;
			S->calendar_at = S->now;
			sim_note(S, 1, "calendar loaded at the province");
		} else if (rep) {
			sim_fail(S, "the province refused the calendar: %s", rep->error);
		}
	}
	if (!S->catalog_loaded) {
		Wuji__CatalogLoadRequest cl = WUJI__CATALOG_LOAD_REQUEST__INIT;
		cl.catalog = S->catalog;
		Wuji__Request req = WUJI__REQUEST__INIT;
		req.op_case = WUJI__REQUEST__OP_CATALOG_LOAD;
		req.catalog_load = &cl;
		Wuji__Reply *rep = sim_request(S, prov, &req);
		if (ok(rep)) {
			S->catalog_loaded = true;
			sim_note(S, 1, "catalog loaded at the province (%zu items)",
				 S->catalog->n_items);
		} else if (rep) {
			sim_fail(S, "the province refused the catalog: %s", rep->error);
		}
	}
}

/* ------------------------------------------------------------ submit */

static bool applies_at(const Wuji__CatalogItem *it, int level)
{
	if (it->n_apply_levels == 0)
		return true;
	for (size_t i = 0; i < it->n_apply_levels; i++)
		if ((int)it->apply_levels[i] == level)
			return true;
	return false;
}

static bool is_joint(const Wuji__CatalogItem *it)
{
	for (size_t i = 1; i < it->n_tasks; i++)
		if (it->tasks[i]->level != it->tasks[0]->level)
			return true;
	return false;
}

static int pick_level(sim_t *S)
{
	uint64_t r = sim_below(S, 100);
	return r < 55 ? 5 : r < 85 ? 3 : r < 92 ? 4 : r < 97 ? 2 : 1;
}

static int pick_node(sim_t *S, int level)
{
	/* Bounded rejection sampling; levels are large enough. */
	for (int k = 0; k < 10000; k++) {
		int i = (int)sim_below(S, S->n_nodes);
		if (S->nodes[i].level == level)
			return i;
	}
	return 0;
}

static const Wuji__CatalogItem *pick_item(sim_t *S, int level)
{
	const Wuji__Catalog *cat = S->catalog;
	uint32_t total = 0;
	uint32_t w[256];
	size_t n = cat->n_items < 256 ? cat->n_items : 256;
	for (size_t i = 0; i < n; i++) {
		const Wuji__CatalogItem *it = cat->items[i];
		w[i] = 0;
		if (!applies_at(it, level))
			continue;
		w[i] = 2;
		if (level == 3 && is_joint(it))
			w[i] = 6; /* the central flow: city-county joint approvals */
		if (level == 5 && it->tasks[0]->level == WUJI__LEVEL__VILLAGE)
			w[i] = 1; /* mostly items that go up */
		total += w[i];
	}
	if (total == 0)
		return NULL;
	uint32_t r = (uint32_t)sim_below(S, total);
	for (size_t i = 0; i < n; i++) {
		if (r < w[i])
			return cat->items[i];
		r -= w[i];
	}
	return NULL;
}

static sim_case_t *new_case(sim_t *S)
{
	if (S->n_cases == S->cap_cases) {
		S->cap_cases = S->cap_cases ? 2 * S->cap_cases : 256;
		S->cases = realloc(S->cases, S->cap_cases * sizeof(*S->cases));
	}
	sim_case_t *c = &S->cases[S->n_cases++];
	memset(c, 0, sizeof(*c));
	c->missing = -1;
	return c;
}

static void submit_one(sim_t *S)
{
	int level = pick_level(S);
	int node = pick_node(S, level);
	const Wuji__CatalogItem *it = pick_item(S, level);
	if (it == NULL || !S->nodes[node].up)
		return;
	S->submit_tries++;
	Wuji__SubmitRequest sr = WUJI__SUBMIT_REQUEST__INIT;
	Wuji__Applicant ap = WUJI__APPLICANT__INIT;
	char name[64];
	snprintf(name, sizeof(name), "申请人%" PRIu32, S->submit_tries);
	ap.name = name;
	sr.item_code = it->code;
	sr.applicant = &ap;
	char *mats[64];
	size_t nm = 0;
	int missing = -1;
	if (it->n_materials && sim_chance(S, 0.2)) {
		int k = (int)sim_below(S, it->n_materials);
		if (it->materials[k]->required)
			missing = k;
	}
	for (size_t i = 0; i < it->n_materials && nm < 64; i++)
		if ((int)i != missing)
			mats[nm++] = it->materials[i]->name;
	sr.materials = mats;
	sr.n_materials = nm;
	Wuji__Request req = WUJI__REQUEST__INIT;
	req.op_case = WUJI__REQUEST__OP_SUBMIT;
	req.submit = &sr;
	Wuji__Reply *rep = sim_request(S, node, &req);
	if (!ok(rep)) {
		/* Mostly: the catalog has not reached this node yet. */
		S->st.refused++;
		sim_note(S, 2, "submit %s at %s refused: %s", it->code, node_name(S, node),
			 rep ? rep->error : "node down");
		return;
	}
	S->st.submits++;
	S->submitted++;
	for (size_t i = 0; i < S->n_cases; i++) {
		sim_case_t *old = &S->cases[i];
		if (strcmp(old->number, rep->number) != 0)
			continue;
		if (old->origin == node && sim_maybe_undone(S, node, old->acks[0].at_ms)) {
			/* The restore undid that case before it left: its
			 * number is free again and nobody else knows it. */
			sim_note(S, 1, "case number %s, lost in a restore, is used again",
				 old->number);
			old->number[0] = '\0';
			old->maybe_lost = true;
			old->stage = C_DONE;
		} else {
			sim_fail(S, "case number %s was given again by %s, to a new case; the "
				 "first holder is still known", rep->number, node_name(S, node));
			return;
		}
	}
	sim_case_t *c = new_case(S);
	snprintf(c->number, sizeof(c->number), "%s", rep->number);
	snprintf(c->item, sizeof(c->item), "%s", it->code);
	c->origin = node;
	c->missing = missing;
	/* 容缺: a waivable material may stay missing at acceptance. */
	if (missing >= 0 && it->materials[missing]->waivable && sim_chance(S, 0.5))
		c->corrected = true;
	c->next_at = S->now + 100 + (int64_t)sim_below(S, 1500);

	/* The reference copy: tasks and participants as the origin fixed
	 * them, and the submission's event id. */
	Wuji__Reply *sh = show(S, node, c->number);
	if (!ok(sh) || sh->case_ == NULL) {
		sim_fail(S, "case %s was just acknowledged at %s, but show there says: %s",
			 c->number, node_name(S, node), sh ? sh->error : "node down");
		return;
	}
	Wuji__Case *cs = sh->case_;
	c->n_tasks = cs->n_tasks < 16 ? cs->n_tasks : 16;
	for (size_t i = 0; i < c->n_tasks; i++)
		c->task_node[i] = cs->tasks[i]->node;
	c->n_parts = wj_route_participants(cs, c->parts, 17);
	c->n_known = wj_route_known_at(c->parts, c->n_parts, c->known, SIM_KNOWN_MAX);
	bool found = false;
	for (size_t i = 0; i < cs->n_history; i++) {
		Wuji__HistoryEntry *h = cs->history[i];
		if (h->event == WUJI__EVENT_TYPE__EV_SUBMITTED) {
			sim_case_add_ack(c, h->origin, h->seq, h->event, S->now);
			found = true;
		}
	}
	if (!found)
		sim_fail(S, "case %s at %s has no submission in its history", c->number,
			 node_name(S, node));
	sim_note(S, 2, "submit %s (%s) at %s: %zu task(s)", c->number, it->code,
		 node_name(S, node), c->n_tasks);
}

/* ------------------------------------------------------------- cases */

static bool all_local(const sim_case_t *c, const sim_t *S)
{
	for (size_t i = 0; i < c->n_tasks; i++)
		if (c->task_node[i] != S->nodes[c->origin].code)
			return false;
	return true;
}

/* A task is decided where it is handled, once that node holds the case
 * in a state that allows it. */
static void work_task(sim_t *S, sim_case_t *c, size_t k)
{
	int node = sim_index(S, c->task_node[k]);
	if (node < 0) {
		sim_fail(S, "case %s: task %zu is handled by %012" PRIu64 ", which is not a "
			 "node of the tree", c->number, k + 1, c->task_node[k]);
		return;
	}
	Wuji__Reply *sh = show(S, node, c->number);
	if (sh == NULL)
		return; /* down */
	if (!ok(sh))
		return; /* not there yet */
	Wuji__Case *cs = sh->case_;
	if (k >= cs->n_tasks) {
		sim_fail(S, "case %s has %zu tasks at %s, %zu at its origin", c->number,
			 cs->n_tasks, node_name(S, node), c->n_tasks);
		return;
	}
	Wuji__TaskStatus ts = cs->tasks[k]->status;
	if (cs->status != WUJI__CASE_STATUS__ACCEPTED || ts != WUJI__TASK_STATUS__TASK_PENDING)
		return;
	Wuji__Command cmd = WUJI__COMMAND__INIT;
	cmd.type = WUJI__EVENT_TYPE__EV_DECIDED;
	cmd.task = (uint32_t)k + 1;
	cmd.approve = sim_chance(S, 0.85);
	if (!cmd.approve)
		cmd.reason = "材料不符合法定条件，补齐后可重新申请";
	command(S, c, node, &cmd);
}

static void work_case(sim_t *S, sim_case_t *c)
{
	int o = c->origin;
	c->next_at = S->now + 200 + (int64_t)sim_below(S, 1500);
	Wuji__Reply *sh = show(S, o, c->number);
	if (sh == NULL)
		return; /* the origin is down */
	if (!ok(sh) || sh->case_ == NULL) {
		if (sim_maybe_undone(S, o, c->acks[0].at_ms)) {
			/* Submitted after the backup its origin was restored
			 * from; it may come back from a peer, or be lost. */
			c->maybe_lost = true;
			c->stage = C_DONE;
			return;
		}
		sim_fail(S, "case %s, acknowledged at %s, is not there any more: %s",
			 c->number, node_name(S, o), sh->error);
		return;
	}
	Wuji__Case *cs = sh->case_;
	Wuji__Command cmd = WUJI__COMMAND__INIT;
	bool local = all_local(c, S);
	switch (cs->status) {
	case WUJI__CASE_STATUS__RECEIVED:
		if (c->missing >= 0 && !c->corrected && (size_t)c->missing < cs->n_materials) {
			char *names[1] = {cs->materials[c->missing]->name};
			cmd.type = WUJI__EVENT_TYPE__EV_CORRECTION;
			cmd.names = names;
			cmd.n_names = 1;
			if (ok(command(S, c, o, &cmd)))
				c->corrected = true;
			return;
		}
		if (sim_chance(S, 0.03)) {
			cmd.type = WUJI__EVENT_TYPE__EV_REJECTED;
			cmd.reason = "不属于本机关职权范围（《行政许可法》第三十二条）";
		} else if (sim_chance(S, 0.03)) {
			cmd.type = WUJI__EVENT_TYPE__EV_WITHDRAWN;
			cmd.reason = "申请人主动撤回";
		} else {
			cmd.type = WUJI__EVENT_TYPE__EV_ACCEPTED;
		}
		command(S, c, o, &cmd);
		return;
	case WUJI__CASE_STATUS__CORRECTION:
		cmd.type = WUJI__EVENT_TYPE__EV_SUPPLIED;
		command(S, c, o, &cmd);
		return;
	case WUJI__CASE_STATUS__ACCEPTED:
		/* Steps at the origin that race a decision elsewhere only with
		 * --conflicts: whichever comes first in the order of events
		 * stands, the other stays in the history without effect, which
		 * is no lost write (contested lets the checks accept that). */
		if (local || S->o->conflicts) {
			if (!c->paused_once && sim_chance(S, 0.08)) {
				cmd.type = WUJI__EVENT_TYPE__EV_PAUSED;
				cmd.reason = "专家评审（《行政许可法》第四十五条）";
				c->paused_once = true;
			} else if (!c->extended && sim_chance(S, 0.05)) {
				cmd.type = WUJI__EVENT_TYPE__EV_EXTENDED;
				cmd.reason = "情况复杂，经负责人批准延长";
				cmd.days = 5;
				c->extended = true;
			} else if (!local && sim_chance(S, 0.02)) {
				cmd.type = WUJI__EVENT_TYPE__EV_WITHDRAWN;
				cmd.reason = "申请人撤回";
			}
			if (cmd.type) {
				if (!local)
					c->contested = true;
				command(S, c, o, &cmd);
				return;
			}
		}
		/* Pending as the origin sees it: the decision may be made
		 * already and on its way back. */
		for (size_t k = 0; k < c->n_tasks && k < cs->n_tasks; k++)
			if (cs->tasks[k]->status == WUJI__TASK_STATUS__TASK_PENDING)
				work_task(S, c, k);
		return;
	case WUJI__CASE_STATUS__PAUSED:
		cmd.type = WUJI__EVENT_TYPE__EV_RESUMED;
		cmd.reason = "评审结束";
		command(S, c, o, &cmd);
		return;
	case WUJI__CASE_STATUS__APPROVED:
	case WUJI__CASE_STATUS__DENIED:
		cmd.type = WUJI__EVENT_TYPE__EV_DELIVERED;
		cmd.by = sim_chance(S, 0.7) ? WUJI__DELIVERY__BY_WINDOW : WUJI__DELIVERY__BY_POST;
		command(S, c, o, &cmd);
		return;
	case WUJI__CASE_STATUS__DELIVERED:
	case WUJI__CASE_STATUS__REJECTED:
	case WUJI__CASE_STATUS__WITHDRAWN:
		cmd.type = WUJI__EVENT_TYPE__EV_ARCHIVED;
		command(S, c, o, &cmd);
		return;
	case WUJI__CASE_STATUS__ARCHIVED:
		c->stage = C_DONE;
		return;
	default:
		sim_fail(S, "case %s has status %d at its origin %s", c->number,
			 (int)cs->status, node_name(S, o));
	}
}

bool sim_client_idle(const sim_t *S)
{
	for (size_t i = 0; i < S->n_cases; i++)
		if (S->cases[i].stage != C_DONE)
			return false;
	return true;
}

/* A node restored from a backup takes no writes until it has met all of
 * its peers, which tell it what it issued before the restore. */
static void update_syncing(sim_t *S)
{
	for (size_t i = 0; i < S->n_nodes; i++) {
		sim_node_t *n = &S->nodes[i];
		if (!n->syncing || !n->up)
			continue;
		Wuji__PeerList *pl = wj_repl_peers(n->repl, sim_node_now(S, (int)i), &S->req_arena);
		bool all_up = true;
		for (size_t k = 0; k < pl->n_peers; k++)
			if (pl->peers[k]->state != WUJI__LINK_STATE__LINK_UP)
				all_up = false;
		if (all_up) {
			n->syncing = false;
			sim_note(S, 1, "%012" PRIu64 " met its peers after the restore", n->code);
		}
		wj_arena_reset(&S->req_arena);
	}
}

void sim_client_step(sim_t *S)
{
	update_syncing(S);
	load_files(S);
	wj_arena_reset(&S->req_arena);
	if (S->now >= S->submit_start && S->submitted < S->o->cases) {
		uint64_t due = (uint64_t)((S->now - S->submit_start) / S->submit_every) + 1;
		for (int k = 0; k < 4 && S->submitted < due && S->submitted < S->o->cases; k++) {
			submit_one(S);
			wj_arena_reset(&S->req_arena);
		}
	}
	if (S->n_cases == 0)
		return;
	size_t start = (size_t)sim_below(S, S->n_cases);
	int acted = 0;
	for (size_t k = 0; k < S->n_cases && acted < ACTIONS_PER_STEP; k++) {
		sim_case_t *c = &S->cases[(start + k) % S->n_cases];
		if (c->stage == C_DONE || c->next_at > S->now)
			continue;
		work_case(S, c);
		wj_arena_reset(&S->req_arena);
		acted++;
	}
}
