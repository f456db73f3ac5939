/* node-ctl: the command line of a wuji node, through its control API only
 * (never LMDB, so it works the same against a local or a remote node).
 *
 * One table (`commands`) holds every command with its handler, the flags
 * it takes and needs, its usage line and its help, so that usage, option
 * checks and dispatch cannot drift apart.  Options are parsed once for the
 * whole command line (global options may come before or after the
 * command); each command then checks that it was given only its own.
 *
 * Exit status: 0 done, 1 refused by the node (or, for keygen, the files
 * could not be written), 2 usage error (including a bad local catalog or
 * calendar file), 3 node unreachable. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"
#include "core/arena.h"
#include "core/catalog.h"
#include "core/config.h"
#include "core/err.h"
#include "core/api_limits.h"
#include "core/names.h"
#include "output.h"
#include "wj_build.h"

#define PROG "node-ctl"

enum {
	EXIT_DONE = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

#define DEFAULT_TIMEOUT_MS 5000
#define TIMEOUT_MAX_MS (24 * 3600 * 1000)
#define FILE_MAX (16u << 20)     /* catalog/calendar files: the node's limit */

/* ------------------------------------------------------------ flags */

/* Command flags, one bit each.  Global options are not in here: every
 * command takes them. */
enum {
	F_ITEM = 1u << 0,
	F_APPLICANT = 1u << 1,
	F_ID_TYPE = 1u << 2,
	F_ID_NUMBER = 1u << 3,
	F_MATERIAL = 1u << 4,
	F_MISSING = 1u << 5,
	F_REASON = 1u << 6,
	F_DAYS = 1u << 7,
	F_TASK = 1u << 8,
	F_APPROVE = 1u << 9,
	F_DENY = 1u << 10,
	F_CERTIFICATE = 1u << 11,
	F_BY = 1u << 12,
	F_STATUS = 1u << 13,
	F_WARNING = 1u << 14,
	F_LIMIT = 1u << 15,
	F_AFTER = 1u << 16,
	F_OUTPUT = 1u << 17,
	F_NO_FOLLOW = 1u << 18,
};

/* getopt_long values for long-only options start above any char. */
enum {
	OPT_JSON = 256,
	OPT_FLAG_BASE = 512,   /* + index into flagdefs */
};

struct flagdef {
	const char *name;
	bool has_arg;
	bool repeat;      /* may be given several times, values collected */
	unsigned bit;
};

static const struct flagdef flagdefs[] = {
	{ "item", true, false, F_ITEM },
	{ "applicant", true, false, F_APPLICANT },
	{ "id-type", true, false, F_ID_TYPE },
	{ "id-number", true, false, F_ID_NUMBER },
	{ "material", true, true, F_MATERIAL },
	{ "missing", true, true, F_MISSING },
	{ "reason", true, false, F_REASON },
	{ "days", true, false, F_DAYS },
	{ "task", true, false, F_TASK },
	{ "approve", false, false, F_APPROVE },
	{ "deny", false, false, F_DENY },
	{ "certificate", true, false, F_CERTIFICATE },
	{ "by", true, false, F_BY },
	{ "status", true, false, F_STATUS },
	{ "warning", true, false, F_WARNING },
	{ "limit", true, false, F_LIMIT },
	{ "after", true, false, F_AFTER },
	{ "output", true, false, F_OUTPUT },   /* also -o */
	{ "no-follow", false, false, F_NO_FOLLOW },
};
#define N_FLAGS (sizeof(flagdefs) / sizeof(*flagdefs))

struct strlist {
	const char **v;
	size_t n;
};

struct ctl {
	/* global options */
	const char *endpoint;
	const char *config;
	int timeout_ms;
	bool json;
	/* command flags: values as given, checked by the handlers */
	unsigned given;
	const char *val[N_FLAGS];
	struct strlist materials, missing;
	/* positional arguments after the command word(s) */
	char **args;
	int nargs;
	/* set up before a handler runs */
	wj_client_t *client;
	wj_arena_t arena;
	const struct command *cmd;
};

struct command {
	const char *name;
	const char *sub;               /* second word ("catalog load"), or NULL */
	int (*run)(struct ctl *ctl);
	Wuji__EventType ev;            /* case commands: the step requested */
	unsigned flags;                /* flags it takes */
	unsigned needs;                /* flags it cannot do without */
	int min_args, max_args;
	const char *usage;             /* after "node-ctl NAME [SUB] " */
	const char *help;
	bool local;                    /* works without a node: no endpoint */
};

static int run_status(struct ctl *ctl);
static int run_submit(struct ctl *ctl);
static int run_case_command(struct ctl *ctl);
static int run_show(struct ctl *ctl);
static int run_list(struct ctl *ctl);
static int run_warnings(struct ctl *ctl);
static int run_catalog_load(struct ctl *ctl);
static int run_catalog_list(struct ctl *ctl);
static int run_catalog_show(struct ctl *ctl);
static int run_calendar_load(struct ctl *ctl);
static int run_calendar_show(struct ctl *ctl);
static int run_verify(struct ctl *ctl);
static int run_keygen(struct ctl *ctl);
static int run_peers(struct ctl *ctl);
static int run_tree(struct ctl *ctl);
static int run_watch(struct ctl *ctl);

#define EV(x) WUJI__EVENT_TYPE__EV_##x

static const struct command commands[] = {
	{ "status", NULL, run_status, 0, 0, 0, 0, 0, "",
	  "the node: code and level, version, counts, map use" },
	{ "submit", NULL, run_submit, 0,
	  F_ITEM | F_APPLICANT | F_ID_TYPE | F_ID_NUMBER | F_MATERIAL,
	  F_ITEM | F_APPLICANT, 0, 0,
	  "--item CODE --applicant NAME [--id-type id-card|passport|uscc|other]"
	  " [--id-number N] [--material NAME]...",
	  "records an application; prints the new case number" },
	{ "accept", NULL, run_case_command, EV(ACCEPTED), 0, 0, 1, 1, "CASE",
	  "accepts a case: its time limit starts" },
	{ "correct", NULL, run_case_command, EV(CORRECTION), F_MISSING,
	  F_MISSING, 1, 1, "CASE --missing NAME [--missing NAME]...",
	  "asks for every missing material at once (correction notice)" },
	{ "supply", NULL, run_case_command, EV(SUPPLIED), F_MATERIAL, 0, 1, 1,
	  "CASE [--material NAME]...",
	  "records materials supplied (all missing ones when none named)" },
	{ "reject", NULL, run_case_command, EV(REJECTED), F_REASON, F_REASON,
	  1, 1, "CASE --reason TEXT", "refuses to accept a case" },
	{ "pause", NULL, run_case_command, EV(PAUSED), F_REASON, F_REASON, 1, 1,
	  "CASE --reason TEXT",
	  "stops the clock for a special procedure (hearing, expert review)" },
	{ "resume", NULL, run_case_command, EV(RESUMED), 0, 0, 1, 1, "CASE",
	  "restarts the clock after a pause" },
	{ "extend", NULL, run_case_command, EV(EXTENDED), F_DAYS | F_REASON,
	  F_DAYS | F_REASON, 1, 1, "CASE --days N --reason TEXT",
	  "extends the time limit by N working days" },
	{ "decide", NULL, run_case_command, EV(DECIDED),
	  F_TASK | F_APPROVE | F_DENY | F_CERTIFICATE | F_REASON, 0, 1, 1,
	  "CASE [--task N] (--approve [--certificate NO] | --deny --reason TEXT)",
	  "records a department's decision on one task" },
	{ "deliver", NULL, run_case_command, EV(DELIVERED), F_BY, 0, 1, 1,
	  "CASE [--by window|post]", "records the delivery of the result" },
	{ "withdraw", NULL, run_case_command, EV(WITHDRAWN), F_REASON, 0, 1, 1,
	  "CASE [--reason TEXT]", "the applicant withdraws the application" },
	{ "archive", NULL, run_case_command, EV(ARCHIVED), 0, 0, 1, 1, "CASE",
	  "archives a finished case" },
	{ "show", NULL, run_show, 0, 0, 0, 1, 1, "CASE",
	  "a case: header, tasks and history" },
	{ "list", NULL, run_list, 0,
	  F_STATUS | F_WARNING | F_ITEM | F_LIMIT | F_AFTER, 0, 0, 0,
	  "[--status S] [--warning yellow|red] [--item CODE] [--limit N]"
	  " [--after CASE]",
	  "cases, one per line, filtered" },
	{ "warnings", NULL, run_warnings, 0, F_LIMIT | F_AFTER, 0, 0, 0,
	  "[--limit N] [--after CASE]",
	  "open cases with a yellow or red card, by due date" },
	{ "catalog", "load", run_catalog_load, 0, 0, 0, 1, 1, "FILE",
	  "checks a catalog file here and loads it into the node" },
	{ "catalog", "list", run_catalog_list, 0, 0, 0, 0, 0, "",
	  "the node's service items" },
	{ "catalog", "show", run_catalog_show, 0, 0, 0, 1, 1, "CODE",
	  "one service item in full" },
	{ "calendar", "load", run_calendar_load, 0, 0, 0, 1, 1, "FILE",
	  "checks a calendar file here and loads it into the node" },
	{ "calendar", "show", run_calendar_show, 0, 0, 0, 0, 1, "[YEAR]",
	  "holidays and make-up workdays the node knows" },
	{ "verify", NULL, run_verify, 0, 0, 0, 0, 0, "",
	  "asks the node to check its store; exit 1 when it finds problems" },
	{ "peers", NULL, run_peers, 0, 0, 0, 0, 0, "",
	  "the node's links to its parent and children: state, backlog, "
	  "lag, clock skew" },
	{ "tree", NULL, run_tree, 0, 0, 0, 0, 0, "",
	  "this node and every node below it, as far as reports have come "
	  "up" },
	{ "watch", NULL, run_watch, 0, F_AFTER | F_LIMIT | F_NO_FOLLOW, 0, 0, 0,
	  "[--after POS] [--limit N] [--no-follow]",
	  "follows the events this node stores, from here or from others, as "
	  "they come: one line each (position, time, origin/seq, step, case); "
	  "from now, or after change-log position POS; stops after N, or with "
	  "--no-follow once it has printed what is stored" },
	{ "keygen", NULL, run_keygen, 0, F_OUTPUT, 0, 0, 0, "[-o PREFIX]",
	  "writes a new CURVE key pair to PREFIX.key (secret, mode 0600) and "
	  "PREFIX.pub (default PREFIX: node); prints the public key; needs "
	  "no node", true },
};
#define N_COMMANDS (sizeof(commands) / sizeof(*commands))

/* ------------------------------------------------------------ usage */

static void print_usage_line(FILE *f, const struct command *c)
{
	fprintf(f, "%s %s%s%s%s%s", PROG, c->name, c->sub ? " " : "",
		c->sub ? c->sub : "", *c->usage ? " " : "", c->usage);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: %s [options] COMMAND [ARGS]\n\ncommands:\n", PROG);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		fputs("  ", f);
		print_usage_line(f, &commands[i]);
		fprintf(f, "\n      %s\n", commands[i].help);
	}
	fprintf(f,
		"\noptions (before or after the command):\n"
		"  -e, --endpoint ENDPOINT  the node's control endpoint, "
		"ipc://PATH or tcp://HOST:PORT\n"
		"  -c, --config FILE        read the endpoint from this config "
		"(default: $WUJI_CONFIG,\n"
		"                           else %s if it exists, else %s)\n"
		"  -t, --timeout MS         how long to wait for the node "
		"(default %d)\n"
		"      --json               print JSON instead of tables\n"
		"  -h, --help               print this help\n"
		"  -V, --version            print the version\n"
		"\nexit status: 0 done, 1 refused by the node (keygen: files "
		"not written),\n2 usage error, 3 node unreachable\n",
		WJ_DEFAULT_CONFIG, WJ_DEFAULT_CONTROL, DEFAULT_TIMEOUT_MS);
}

/* Reports a usage error and returns EXIT_USAGE.  With a command, shows its
 * usage line; without, points at --help. */
static int usage_error(const struct command *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct command *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c) {
		fputs("usage: ", stderr);
		print_usage_line(stderr, c);
		fputc('\n', stderr);
	} else {
		fprintf(stderr, "run '%s --help' for the commands and options\n",
			PROG);
	}
	return EXIT_USAGE;
}

/* ------------------------------------------------------------ values */

static const char *flag_value(const struct ctl *ctl, unsigned bit)
{
	for (size_t i = 0; i < N_FLAGS; i++)
		if (flagdefs[i].bit == bit)
			return ctl->val[i];
	return NULL;
}


static bool has(const struct ctl *ctl, unsigned bit)
{
	return (ctl->given & bit) != 0;
}

/* Parses a decimal number in [lo, hi]. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi,
		      unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* "received, correction, ..." for messages: the names come from names.c,
 * so the list never disagrees with what the parser accepts. */
static void enum_list(char *buf, size_t size, const char *(*name)(int),
		      const int *values, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
				      name(values[i]));
}

static const char *status_name_i(int v) { return wj_status_name(v); }
static const char *warning_name_i(int v) { return wj_warning_name(v); }
static const char *id_type_name_i(int v) { return wj_id_type_name(v); }
static const char *delivery_name_i(int v) { return wj_delivery_name(v); }

/* ------------------------------------------------------------ calls */

static void refused(const Wuji__Reply *r)
{
	const char *msg = r->error && *r->error ? r->error :
			  wj_err_name(-(int)r->code);

	fprintf(stderr, "%s: refused: %s\n", PROG, msg);
	if (r->code == WUJI__ERROR_CODE__E_NOT_ALLOWED) {
		fputs("allowed now: ", stderr);
		if (r->n_allowed == 0)
			fputs("nothing", stderr);
		for (size_t i = 0; i < r->n_allowed; i++)
			fprintf(stderr, "%s%s", i ? ", " : "", r->allowed[i]);
		fputc('\n', stderr);
	}
}

/* Sends req and waits for the reply.  Returns EXIT_DONE with *out set when
 * the node did it and answered with `want`, or prints why not and returns
 * the exit status. */
static int call_mismatch(const Wuji__Reply *r, Wuji__Reply__ResultCase want)
{
	fprintf(stderr,
		"%s: the node answered without the expected result "
		"(got %d, wanted %d): is it the same version as "
		"node-ctl (%s)?\n", PROG, (int)r->result_case,
		(int)want, WJ_VERSION);
	return EXIT_REFUSED;
}

static int call(struct ctl *ctl, Wuji__Request *req,
		Wuji__Reply__ResultCase want, Wuji__Reply **out)
{
	Wuji__Reply *r = NULL;
	wj_err_t err = { 0 };
	int rc;

	rc = wj_client_call(ctl->client, req, &ctl->arena, &r, &err);
	if (rc || !r) {
		fprintf(stderr, "%s: %s\n", PROG, err.msg);
		return EXIT_UNREACHABLE;
	}
	if (r->code != WUJI__ERROR_CODE__OK) {
		refused(r);
		return EXIT_REFUSED;
	}
	if (r->result_case != want)
		return call_mismatch(r, want);
	*out = r;
	return EXIT_DONE;
}

static int print_json(json_t *j)
{
	if (wj_output_json_print(stdout, j)) {
		fprintf(stderr, "%s: cannot write the JSON output\n", PROG);
		return EXIT_REFUSED;
	}
	return EXIT_DONE;
}

static int print_case(struct ctl *ctl, const Wuji__Case *c)
{
	if (ctl->json)
		return print_json(wj_output_case_json(c));
	wj_output_case_text(stdout, c);
	return EXIT_DONE;
}

/* ------------------------------------------------------------ handlers */

static int run_status(struct ctl *ctl)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__StatusRequest sr = WUJI__STATUS_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	int rc;

	req.op_case = WUJI__REQUEST__OP_STATUS;
	req.status = &sr;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_STATUS, &r);
	if (rc)
		return rc;
	if (ctl->json)
		return print_json(wj_output_status_json(r->status));
	wj_output_status_text(stdout, r->status);
	return EXIT_DONE;
}

static int run_submit(struct ctl *ctl)
{
	static const int id_types[] = { 1, 2, 3, 9 };
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__SubmitRequest sub = WUJI__SUBMIT_REQUEST__INIT;
	Wuji__Applicant ap = WUJI__APPLICANT__INIT;
	Wuji__Reply *r = NULL;
	int rc;

	sub.item_code = (char *)flag_value(ctl, F_ITEM);
	ap.name = (char *)flag_value(ctl, F_APPLICANT);
	if (!*sub.item_code)
		return usage_error(ctl->cmd, "--item needs a catalog item code "
				   "(see 'node-ctl catalog list')");
	if (!*ap.name)
		return usage_error(ctl->cmd, "--applicant needs the applicant's "
				   "name");
	if (has(ctl, F_ID_TYPE)) {
		const char *s = flag_value(ctl, F_ID_TYPE);

		if (wj_id_type_parse(s, &ap.id_type)) {
			char list[128];

			enum_list(list, sizeof(list), id_type_name_i, id_types,
				  4);
			return usage_error(ctl->cmd, "unknown --id-type '%s': "
					   "expected one of %s", s, list);
		}
	}
	if (has(ctl, F_ID_NUMBER)) {
		ap.id_number = (char *)flag_value(ctl, F_ID_NUMBER);
		/* A number without a type is almost always an ID card. */
		if (!has(ctl, F_ID_TYPE))
			ap.id_type = WUJI__ID_TYPE__ID_CARD;
	}
	sub.applicant = &ap;
	sub.materials = (char **)ctl->materials.v;
	sub.n_materials = ctl->materials.n;
	req.op_case = WUJI__REQUEST__OP_SUBMIT;
	req.submit = &sub;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_NUMBER, &r);
	if (rc)
		return rc;
	if (ctl->json) {
		json_t *o = json_object();

		json_object_set_new(o, "number", json_string(r->number));
		return print_json(o);
	}
	printf("%s\n", r->number);
	return EXIT_DONE;
}

static int show_case(struct ctl *ctl, const char *number, Wuji__Case **out)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__ShowRequest sr = WUJI__SHOW_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	int rc;

	sr.number = (char *)number;
	req.op_case = WUJI__REQUEST__OP_SHOW;
	req.show = &sr;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_CASE, &r);
	if (rc)
		return rc;
	*out = r->case_;
	return EXIT_DONE;
}

/* Without --task, decide picks the one task still waiting for a decision,
 * so the common single-department case needs no index. */
static int pick_task(struct ctl *ctl, const char *number, uint32_t *task)
{
	Wuji__Case *c;
	size_t pending = 0;
	char list[512];
	size_t o = 0;
	int rc;

	rc = show_case(ctl, number, &c);
	if (rc)
		return rc;
	list[0] = '\0';
	for (size_t i = 0; i < c->n_tasks; i++) {
		const Wuji__Task *t = c->tasks[i];

		if (t->status != WUJI__TASK_STATUS__TASK_PENDING)
			continue;
		*task = t->index;
		pending++;
		if (o < sizeof(list))
			o += (size_t)snprintf(list + o, sizeof(list) - o,
					      "%s%u %s", o ? ", " : "",
					      t->index, t->department);
	}
	if (pending == 1)
		return EXIT_DONE;
	if (pending > 1)
		return usage_error(ctl->cmd, "case %s has %zu tasks awaiting a "
				   "decision (%s): choose one with --task N",
				   number, pending, list);
	/* None pending: let the node say what is allowed now. */
	*task = c->n_tasks ? c->tasks[0]->index : 0;
	return EXIT_DONE;
}

static int run_case_command(struct ctl *ctl)
{
	static const int deliveries[] = { 1, 2 };
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__Command cmd = WUJI__COMMAND__INIT;
	Wuji__Reply *r = NULL;
	unsigned long v;
	int rc;

	cmd.type = ctl->cmd->ev;
	cmd.number = ctl->args[0];
	if (has(ctl, F_REASON)) {
		cmd.reason = (char *)flag_value(ctl, F_REASON);
		if (!*cmd.reason)
			return usage_error(ctl->cmd, "--reason needs a text "
					   "saying why");
	}
	switch (cmd.type) {
	case WUJI__EVENT_TYPE__EV_CORRECTION:
		cmd.names = (char **)ctl->missing.v;
		cmd.n_names = ctl->missing.n;
		break;
	case WUJI__EVENT_TYPE__EV_SUPPLIED:
		cmd.names = (char **)ctl->materials.v;
		cmd.n_names = ctl->materials.n;
		break;
	case WUJI__EVENT_TYPE__EV_EXTENDED:
		if (parse_uint(flag_value(ctl, F_DAYS), 1, 3650, &v))
			return usage_error(ctl->cmd, "--days expects a number "
					   "of working days from 1 to 3650, "
					   "not '%s'", flag_value(ctl, F_DAYS));
		cmd.days = (uint32_t)v;
		break;
	case WUJI__EVENT_TYPE__EV_DECIDED:
		if (has(ctl, F_APPROVE) == has(ctl, F_DENY))
			return usage_error(ctl->cmd, "decide needs exactly one "
					   "of --approve and --deny");
		if (has(ctl, F_DENY) && !has(ctl, F_REASON))
			return usage_error(ctl->cmd, "--deny needs --reason "
					   "TEXT: say why, and how the "
					   "applicant can fix it");
		if (has(ctl, F_DENY) && has(ctl, F_CERTIFICATE))
			return usage_error(ctl->cmd, "--certificate goes with "
					   "--approve, not --deny");
		cmd.approve = has(ctl, F_APPROVE);
		if (has(ctl, F_CERTIFICATE))
			cmd.certificate = (char *)flag_value(ctl,
							     F_CERTIFICATE);
		if (has(ctl, F_TASK)) {
			if (parse_uint(flag_value(ctl, F_TASK), 0, 100000, &v))
				return usage_error(ctl->cmd, "--task expects a "
						   "task number as 'show' "
						   "lists it, not '%s'",
						   flag_value(ctl, F_TASK));
			cmd.task = (uint32_t)v;
		} else {
			rc = pick_task(ctl, cmd.number, &cmd.task);
			if (rc)
				return rc;
		}
		break;
	case WUJI__EVENT_TYPE__EV_DELIVERED:
		cmd.by = WUJI__DELIVERY__BY_WINDOW;
		if (has(ctl, F_BY) &&
		    wj_delivery_parse(flag_value(ctl, F_BY), &cmd.by)) {
			char list[64];

			enum_list(list, sizeof(list), delivery_name_i,
				  deliveries, 2);
			return usage_error(ctl->cmd, "unknown --by '%s': "
					   "expected %s",
					   flag_value(ctl, F_BY), list);
		}
		break;
	default:
		break;
	}
	req.op_case = WUJI__REQUEST__OP_COMMAND;
	req.command = &cmd;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_CASE, &r);
	if (rc)
		return rc;
	return print_case(ctl, r->case_);
}

static int run_show(struct ctl *ctl)
{
	Wuji__Case *c;
	int rc;

	rc = show_case(ctl, ctl->args[0], &c);
	if (rc)
		return rc;
	return print_case(ctl, c);
}

static int print_cases(struct ctl *ctl, const Wuji__CaseList *l)
{
	if (l->next && *l->next)
		fprintf(stderr, "%s: more cases follow: run again with "
			"--after %s\n", PROG, l->next);
	if (ctl->json)
		return print_json(wj_output_cases_json(l->cases, l->n_cases));
	wj_output_cases_text(stdout, l->cases, l->n_cases);
	return EXIT_DONE;
}

static int get_limit(struct ctl *ctl, uint32_t *limit)
{
	unsigned long v;

	*limit = 0;
	if (!has(ctl, F_LIMIT))
		return EXIT_DONE;
	if (parse_uint(flag_value(ctl, F_LIMIT), 1, WJ_LIST_LIMIT_MAX, &v))
		return usage_error(ctl->cmd, "--limit expects a number of "
				   "cases from 1 to %d (a page; --after gives the "
				   "next), not '%s'", WJ_LIST_LIMIT_MAX,
				   flag_value(ctl, F_LIMIT));
	*limit = (uint32_t)v;
	return EXIT_DONE;
}

static int run_list(struct ctl *ctl)
{
	static const int statuses[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	static const int warnings[] = { 1, 2 };
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__ListRequest lr = WUJI__LIST_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	char list[256];
	int rc;

	if (has(ctl, F_STATUS) &&
	    (wj_status_parse(flag_value(ctl, F_STATUS), &lr.status) ||
	     lr.status == WUJI__CASE_STATUS__STATUS_NONE)) {
		enum_list(list, sizeof(list), status_name_i, statuses, 10);
		return usage_error(ctl->cmd, "unknown --status '%s': expected "
				   "one of %s", flag_value(ctl, F_STATUS),
				   list);
	}
	if (has(ctl, F_WARNING) &&
	    (wj_warning_parse(flag_value(ctl, F_WARNING), &lr.warning) ||
	     lr.warning == WUJI__WARNING__WARNING_NONE)) {
		enum_list(list, sizeof(list), warning_name_i, warnings, 2);
		return usage_error(ctl->cmd, "unknown --warning '%s': expected "
				   "%s (cases with no card: --warning is "
				   "left out)", flag_value(ctl, F_WARNING),
				   list);
	}
	if (has(ctl, F_ITEM))
		lr.item_code = (char *)flag_value(ctl, F_ITEM);
	if (has(ctl, F_AFTER))
		lr.after = (char *)flag_value(ctl, F_AFTER);
	rc = get_limit(ctl, &lr.limit);
	if (rc)
		return rc;
	req.op_case = WUJI__REQUEST__OP_LIST;
	req.list = &lr;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_LIST, &r);
	if (rc)
		return rc;
	return print_cases(ctl, r->list);
}

static int run_warnings(struct ctl *ctl)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__WarningsRequest wr = WUJI__WARNINGS_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	int rc;

	rc = get_limit(ctl, &wr.limit);
	if (rc)
		return rc;
	if (has(ctl, F_AFTER))
		wr.after = (char *)flag_value(ctl, F_AFTER);
	req.op_case = WUJI__REQUEST__OP_WARNINGS;
	req.warnings = &wr;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_LIST, &r);
	if (rc)
		return rc;
	return print_cases(ctl, r->list);
}

/* Reads a whole local file into the arena (NUL-terminated).  Prints why
 * not and returns EXIT_USAGE: a file the user named is their input. */
static int read_file(struct ctl *ctl, const char *path, char **buf,
		     size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, cap = 64 * 1024;
	char *b;

	if (!f) {
		fprintf(stderr, "%s: cannot open %s: %s\n", PROG, path,
			strerror(errno));
		return EXIT_USAGE;
	}
	b = malloc(cap);
	if (!b)
		abort();
	for (;;) {
		size_t got;

		if (n == cap) {
			if (cap >= FILE_MAX) {
				fprintf(stderr, "%s: %s is larger than %u MiB: "
					"split it\n", PROG, path,
					FILE_MAX >> 20);
				free(b);
				fclose(f);
				return EXIT_USAGE;
			}
			cap *= 2;
			b = realloc(b, cap);
			if (!b)
				abort();
		}
		got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "%s: cannot read %s: %s\n", PROG, path,
			strerror(errno));
		free(b);
		fclose(f);
		return EXIT_USAGE;
	}
	fclose(f);
	*buf = wj_arena_strndup(&ctl->arena, b, n);
	*len = n;
	free(b);
	return EXIT_DONE;
}

static int print_loaded(struct ctl *ctl, uint32_t n, const char *what,
			const char *file)
{
	if (ctl->json) {
		json_t *o = json_object();

		json_object_set_new(o, "loaded", json_integer(n));
		return print_json(o);
	}
	printf("loaded %u %s%s from %s\n", n, what, n == 1 ? "" : "s", file);
	return EXIT_DONE;
}

/* catalog load and calendar load: the same steps on a different YAML file
 * (catalog true: the catalog, else the calendar). */
static int run_load(struct ctl *ctl, bool catalog)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__CatalogLoadRequest clr = WUJI__CATALOG_LOAD_REQUEST__INIT;
	Wuji__CalendarLoadRequest klr = WUJI__CALENDAR_LOAD_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	wj_err_t err = { 0 };
	char *buf;
	size_t len;
	int rc;

	rc = read_file(ctl, ctl->args[0], &buf, &len);
	if (rc)
		return rc;
	if (catalog)
		rc = wj_catalog_parse(ctl->args[0], buf, len, &ctl->arena,
				      &clr.catalog, &err);
	else
		rc = wj_calendar_parse(ctl->args[0], buf, len, &ctl->arena,
				       &klr.calendar, &err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", PROG, err.msg);
		return EXIT_USAGE;
	}
	if (catalog) {
		req.op_case = WUJI__REQUEST__OP_CATALOG_LOAD;
		req.catalog_load = &clr;
	} else {
		req.op_case = WUJI__REQUEST__OP_CALENDAR_LOAD;
		req.calendar_load = &klr;
	}
	rc = call(ctl, &req, WUJI__REPLY__RESULT_LOADED, &r);
	if (rc)
		return rc;
	return print_loaded(ctl, r->loaded, catalog ? "item" : "year",
			    ctl->args[0]);
}

static int run_catalog_load(struct ctl *ctl)
{
	return run_load(ctl, true);
}

static int get_catalog(struct ctl *ctl, const char *code, Wuji__Catalog **out)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__CatalogListRequest lr = WUJI__CATALOG_LIST_REQUEST__INIT;
	Wuji__CatalogShowRequest sr = WUJI__CATALOG_SHOW_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	int rc;

	if (code) {
		sr.code = (char *)code;
		req.op_case = WUJI__REQUEST__OP_CATALOG_SHOW;
		req.catalog_show = &sr;
	} else {
		req.op_case = WUJI__REQUEST__OP_CATALOG_LIST;
		req.catalog_list = &lr;
	}
	rc = call(ctl, &req, WUJI__REPLY__RESULT_CATALOG, &r);
	if (rc)
		return rc;
	*out = r->catalog;
	return EXIT_DONE;
}

static int run_catalog_list(struct ctl *ctl)
{
	Wuji__Catalog *cat;
	int rc;

	rc = get_catalog(ctl, NULL, &cat);
	if (rc)
		return rc;
	if (ctl->json)
		return print_json(wj_output_catalog_json(cat));
	wj_output_catalog_text(stdout, cat);
	return EXIT_DONE;
}

static int run_catalog_show(struct ctl *ctl)
{
	Wuji__Catalog *cat;
	const Wuji__CatalogItem *it = NULL;
	int rc;

	rc = get_catalog(ctl, ctl->args[0], &cat);
	if (rc)
		return rc;
	for (size_t i = 0; i < cat->n_items && !it; i++)
		if (strcmp(cat->items[i]->code, ctl->args[0]) == 0)
			it = cat->items[i];
	if (!it) {
		fprintf(stderr, "%s: refused: no item %s in the node's catalog "
			"(see 'node-ctl catalog list')\n", PROG, ctl->args[0]);
		return EXIT_REFUSED;
	}
	if (ctl->json)
		return print_json(wj_output_item_json(it));
	wj_output_item_text(stdout, it);
	return EXIT_DONE;
}

static int run_calendar_load(struct ctl *ctl)
{
	return run_load(ctl, false);
}

static int run_calendar_show(struct ctl *ctl)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__CalendarShowRequest sr = WUJI__CALENDAR_SHOW_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	unsigned long year;
	int rc;

	if (ctl->nargs == 1) {
		if (parse_uint(ctl->args[0], 1970, 9999, &year))
			return usage_error(ctl->cmd, "YEAR expects a year from "
					   "1970 to 9999, not '%s'",
					   ctl->args[0]);
		sr.year = (int32_t)year;
	}
	req.op_case = WUJI__REQUEST__OP_CALENDAR_SHOW;
	req.calendar_show = &sr;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_CALENDAR, &r);
	if (rc)
		return rc;
	if (ctl->json)
		return print_json(wj_output_calendar_json(r->calendar));
	wj_output_calendar_text(stdout, r->calendar);
	return EXIT_DONE;
}

static int run_verify(struct ctl *ctl)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__VerifyRequest vr = WUJI__VERIFY_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	int rc;

	req.op_case = WUJI__REQUEST__OP_VERIFY;
	req.verify = &vr;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_VERIFY, &r);
	if (rc)
		return rc;
	if (ctl->json)
		rc = print_json(wj_output_verify_json(r->verify));
	else
		wj_output_verify_text(stdout, r->verify);
	if (rc)
		return rc;
	return r->verify->n_problems ? EXIT_REFUSED : EXIT_DONE;
}

#define WATCH_WAIT_MS 10000
#define WATCH_BUSY_TRIES 30      /* a node too busy to hold the watch: retries */
#define WATCH_BUSY_PAUSE_MS 1000

/* Long polls: each request is held by the node until something is stored
 * or WATCH_WAIT_MS pass, then asked again from where the last left off. */
static int run_watch(struct ctl *ctl)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__WatchRequest wr = WUJI__WATCH_REQUEST__INIT;
	unsigned long v, limit = 0, printed = 0, busy = 0;
	wj_err_t err = { 0 };

	if (has(ctl, F_LIMIT)) {
		if (parse_uint(flag_value(ctl, F_LIMIT), 1, ULONG_MAX, &v))
			return usage_error(ctl->cmd, "--limit expects a number of "
					   "events, not '%s'", flag_value(ctl, F_LIMIT));
		limit = v;
	}
	if (has(ctl, F_AFTER)) {
		if (parse_uint(flag_value(ctl, F_AFTER), 0, ULONG_MAX, &v))
			return usage_error(ctl->cmd, "--after expects a change-log "
					   "position (a number), not '%s'",
					   flag_value(ctl, F_AFTER));
		wr.after = v;
	} else {
		wr.from_now = true;
	}
	bool follow = !has(ctl, F_NO_FOLLOW);
	req.op_case = WUJI__REQUEST__OP_WATCH;
	req.watch = &wr;
	for (;;) {
		Wuji__Reply *r = NULL;
		wj_arena_reset(&ctl->arena);
		if (wj_client_send(ctl->client, &req, &err) ||
		    wj_client_recv(ctl->client, WATCH_WAIT_MS + ctl->timeout_ms,
				   &ctl->arena, &r, &err) || !r) {
			fprintf(stderr, "%s: %s\n", PROG, err.msg);
			return EXIT_UNREACHABLE;
		}
		if (r->code == WUJI__ERROR_CODE__E_BUSY && busy++ < WATCH_BUSY_TRIES) {
			/* The node holds as many watches as it can: a
			 * follower waits its turn rather than give up. */
			usleep(WATCH_BUSY_PAUSE_MS * 1000);
			continue;
		}
		if (r->code != WUJI__ERROR_CODE__OK) {
			refused(r);
			return EXIT_REFUSED;
		}
		busy = 0;
		if (r->result_case != WUJI__REPLY__RESULT_CHANGES)
			return call_mismatch(r, WUJI__REPLY__RESULT_CHANGES);
		const Wuji__ChangeList *l = r->changes;
		if (!wr.from_now && wr.after + 1 < l->first && printed == 0)
			fprintf(stderr, "%s: positions %lu to %" PRIu64 " were trimmed "
				"from the node's change log: starting at %" PRIu64 "\n",
				PROG, (unsigned long)wr.after + 1, l->first - 1, l->first);
		for (size_t i = 0; i < l->n_changes; i++) {
			if (ctl->json)
				wj_output_json_line(stdout, wj_output_change_json(l->changes[i]));
			else
				wj_output_change_text(stdout, l->changes[i]);
			if (limit && ++printed >= limit) {
				fflush(stdout);
				return EXIT_DONE;
			}
		}
		fflush(stdout);
		if (!follow && l->n_changes == 0)
			return EXIT_DONE;
		wr.from_now = false;
		wr.after = l->last;
		wr.wait_ms = follow ? WATCH_WAIT_MS : 0;
	}
}

static int run_peers(struct ctl *ctl)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__PeersRequest pr = WUJI__PEERS_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	int rc;

	req.op_case = WUJI__REQUEST__OP_PEERS;
	req.peers = &pr;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_PEERS, &r);
	if (rc)
		return rc;
	if (ctl->json)
		return print_json(wj_output_peers_json(r->peers));
	wj_output_peers_text(stdout, r->peers);
	return EXIT_DONE;
}

static int run_tree(struct ctl *ctl)
{
	Wuji__Request req = WUJI__REQUEST__INIT;
	Wuji__TreeRequest tr = WUJI__TREE_REQUEST__INIT;
	Wuji__Reply *r = NULL;
	int rc;

	req.op_case = WUJI__REQUEST__OP_TREE;
	req.tree = &tr;
	rc = call(ctl, &req, WUJI__REPLY__RESULT_TREE, &r);
	if (rc)
		return rc;
	if (ctl->json)
		return print_json(wj_output_tree_json(r->tree));
	wj_output_tree_text(stdout, r->tree);
	return EXIT_DONE;
}

/* Creates path (never replacing a file) with mode, writes text and makes
 * it durable.  On failure prints why, removes what it created, and
 * returns EXIT_REFUSED. */
static int write_new_file(const char *path, mode_t mode, const char *text)
{
	size_t len = strlen(text), off = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		if (errno == EEXIST)
			fprintf(stderr, "%s: %s already exists: keygen never "
				"replaces a key; move it away or choose "
				"another prefix with -o\n", PROG, path);
		else
			fprintf(stderr, "%s: cannot create %s: %s\n", PROG,
				path, strerror(errno));
		return EXIT_REFUSED;
	}
	/* The umask may only take bits away; set exactly what we mean. */
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return EXIT_DONE;
fail:
	fprintf(stderr, "%s: cannot write %s: %s\n", PROG, path,
		strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(path);
	return EXIT_REFUSED;
}

static int run_keygen(struct ctl *ctl)
{
	const char *prefix = has(ctl, F_OUTPUT) ? flag_value(ctl, F_OUTPUT) :
			     "node";
	char pub[WJ_KEY_Z85_LEN + 1], sec[WJ_KEY_Z85_LEN + 1];
	char key_path[WJ_PATH_MAX], pub_path[WJ_PATH_MAX];
	char text[256], line[64];
	wj_keypair_t check;
	wj_err_t err = { 0 };
	int rc;

	if (!*prefix)
		return usage_error(ctl->cmd, "-o needs a path prefix, e.g. "
				   "/etc/wuji/node");
	if ((size_t)snprintf(key_path, sizeof(key_path), "%s.key", prefix) >=
	    sizeof(key_path) ||
	    (size_t)snprintf(pub_path, sizeof(pub_path), "%s.pub", prefix) >=
	    sizeof(pub_path))
		return usage_error(ctl->cmd, "-o: the path is longer than %d "
				   "bytes", WJ_PATH_MAX - 5);
	/* Both checked first, so an existing .pub does not leave a new
	 * .key behind. */
	if (access(key_path, F_OK) == 0 || access(pub_path, F_OK) == 0) {
		fprintf(stderr, "%s: %s already exists: keygen never replaces "
			"a key; move it away or choose another prefix with "
			"-o\n", PROG, access(key_path, F_OK) == 0 ? key_path :
			pub_path);
		return EXIT_REFUSED;
	}
	if (zmq_curve_keypair(pub, sec) != 0) {
		fprintf(stderr, "%s: cannot make a key pair: %s (libzmq needs "
			"CURVE support: build it with libsodium)\n", PROG,
			zmq_strerror(errno));
		return EXIT_REFUSED;
	}
	snprintf(text, sizeof(text),
		 "# CURVE key pair of a wuji node, written by node-ctl keygen.\n"
		 "# The secret key is this node's identity: keep this file "
		 "mode 0600.\n"
		 "public: \"%s\"\n"
		 "secret: \"%s\"\n", pub, sec);
	explicit_bzero(sec, sizeof(sec));
	/* What the node will read must parse: checked before it is written. */
	if (wj_keypair_parse(&check, key_path, text, strlen(text), &err)) {
		fprintf(stderr, "%s: internal error: the new key file does not "
			"parse: %s\n", PROG, err.msg);
		explicit_bzero(text, sizeof(text));
		return EXIT_REFUSED;
	}
	explicit_bzero(&check, sizeof(check));
	rc = write_new_file(key_path, 0600, text);
	explicit_bzero(text, sizeof(text));
	if (rc)
		return rc;
	snprintf(line, sizeof(line), "%s\n", pub);
	rc = write_new_file(pub_path, 0644, line);
	if (rc) {
		unlink(key_path);
		return rc;
	}
	if (ctl->json) {
		json_t *o = json_object();

		json_object_set_new(o, "public", json_string(pub));
		json_object_set_new(o, "key_file", json_string(key_path));
		json_object_set_new(o, "pub_file", json_string(pub_path));
		return print_json(o);
	}
	printf("%s\n", pub);
	return EXIT_DONE;
}

/* ------------------------------------------------------------ main */

static void strlist_add(struct strlist *l, const char *s)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	if (!l->v)
		abort();
	l->v[l->n++] = s;
}

/* The endpoint: -e, else the config's control key (-c, $WUJI_CONFIG, or
 * the default file when it exists), else the built-in default. */
static int resolve_endpoint(struct ctl *ctl, char *buf, size_t size)
{
	const char *path = ctl->config;
	wj_config_t cfg;
	wj_err_t err = { 0 };

	if (ctl->endpoint) {
		snprintf(buf, size, "%s", ctl->endpoint);
		return EXIT_DONE;
	}
	if (!path) {
		path = getenv("WUJI_CONFIG");
		if (path && !*path)
			path = NULL;
	}
	if (!path && access(WJ_DEFAULT_CONFIG, F_OK) == 0)
		path = WJ_DEFAULT_CONFIG;
	if (!path) {
		snprintf(buf, size, "%s", WJ_DEFAULT_CONTROL);
		return EXIT_DONE;
	}
	wj_config_defaults(&cfg);
	if (wj_config_load(&cfg, path, &err)) {
		fprintf(stderr, "%s: %s\n", PROG, err.msg);
		fprintf(stderr, "%s: fix the config, or give the endpoint with "
			"-e\n", PROG);
		return EXIT_USAGE;
	}
	snprintf(buf, size, "%s", *cfg.control ? cfg.control :
		 WJ_DEFAULT_CONTROL);
	return EXIT_DONE;
}

static const struct command *find_command(struct ctl *ctl, char **pos,
					   int npos, int *used, int *rc)
{
	bool known = false;
	char subs[128];
	size_t o = 0;

	*rc = EXIT_DONE;
	subs[0] = '\0';
	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct command *c = &commands[i];

		if (strcmp(c->name, pos[0]) != 0)
			continue;
		known = true;
		if (!c->sub) {
			*used = 1;
			return c;
		}
		if (npos > 1 && strcmp(c->sub, pos[1]) == 0) {
			*used = 2;
			return c;
		}
		if (o < sizeof(subs))
			o += (size_t)snprintf(subs + o, sizeof(subs) - o,
					      "%s%s", o ? ", " : "", c->sub);
	}
	if (known && npos > 1)
		*rc = usage_error(NULL, "unknown '%s' command '%s': expected "
				  "one of %s", pos[0], pos[1], subs);
	else if (known)
		*rc = usage_error(NULL, "'%s' needs a command: one of %s",
				  pos[0], subs);
	else
		*rc = usage_error(NULL, "unknown command '%s'", pos[0]);
	return NULL;
}

static int check_args(struct ctl *ctl, const struct command *c)
{
	unsigned extra = ctl->given & ~c->flags;
	unsigned missing = c->needs & ~ctl->given;

	for (size_t i = 0; i < N_FLAGS; i++)
		if (extra & flagdefs[i].bit)
			return usage_error(c, "option --%s does not apply to "
					   "'%s%s%s'", flagdefs[i].name,
					   c->name, c->sub ? " " : "",
					   c->sub ? c->sub : "");
	for (size_t i = 0; i < N_FLAGS; i++)
		if (missing & flagdefs[i].bit)
			return usage_error(c, "option --%s is required",
					   flagdefs[i].name);
	if (ctl->nargs < c->min_args)
		return usage_error(c, "missing %.*s", (int)strcspn(c->usage, " "),
				   c->usage);
	if (ctl->nargs > c->max_args)
		return usage_error(c, "unexpected argument '%s'",
				   ctl->args[c->max_args]);
	for (int i = 0; i < ctl->nargs; i++)
		if (!*ctl->args[i])
			return usage_error(c, "empty argument");
	return EXIT_DONE;
}

int main(int argc, char **argv)
{
	static const struct option global[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
	};
	enum { N_GLOBAL = sizeof(global) / sizeof(*global) };
	struct option longopts[N_GLOBAL + N_FLAGS + 1];
	struct ctl ctl = { .timeout_ms = DEFAULT_TIMEOUT_MS };
	const struct command *cmd;
	char endpoint[WJ_PATH_MAX];
	bool help = false;
	wj_err_t err = { 0 };
	unsigned long v;
	int opt, used, rc;

	memcpy(longopts, global, sizeof(global));
	for (size_t i = 0; i < N_FLAGS; i++)
		longopts[N_GLOBAL + i] = (struct option){
			flagdefs[i].name,
			flagdefs[i].has_arg ? required_argument : no_argument,
			NULL, OPT_FLAG_BASE + (int)i };
	memset(&longopts[N_GLOBAL + N_FLAGS], 0, sizeof(struct option));

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":e:c:t:o:hV", longopts,
				  NULL)) != -1) {
		/* -o is the short form of the command flag --output. */
		if (opt == 'o') {
			for (size_t i = 0; i < N_FLAGS; i++)
				if (flagdefs[i].bit == F_OUTPUT)
					opt = OPT_FLAG_BASE + (int)i;
		}
		switch (opt) {
		case 'e':
			ctl.endpoint = optarg;
			break;
		case 'c':
			ctl.config = optarg;
			break;
		case 't':
			if (parse_uint(optarg, 1, TIMEOUT_MAX_MS, &v))
				return usage_error(NULL, "-t expects a timeout "
						   "in milliseconds from 1 to "
						   "%d, not '%s'",
						   TIMEOUT_MAX_MS, optarg);
			ctl.timeout_ms = (int)v;
			break;
		case OPT_JSON:
			ctl.json = true;
			break;
		case 'h':
			help = true;
			break;
		case 'V':
			printf("%s %s\n", PROG, WJ_VERSION);
			return EXIT_DONE;
		case ':':
			return usage_error(NULL, "option '%s' needs a value",
					   argv[optind - 1]);
		case '?':
			if (optopt && optopt < OPT_JSON)
				return usage_error(NULL, "unknown option '-%c'",
						   optopt);
			return usage_error(NULL, "unknown option '%s'",
					   argv[optind - 1]);
		default: {
			size_t i = (size_t)(opt - OPT_FLAG_BASE);

			if (opt < OPT_FLAG_BASE || i >= N_FLAGS)
				return usage_error(NULL, "unknown option");
			if ((ctl.given & flagdefs[i].bit) && !flagdefs[i].repeat)
				return usage_error(NULL, "option --%s given "
						   "twice", flagdefs[i].name);
			ctl.given |= flagdefs[i].bit;
			ctl.val[i] = optarg ? optarg : "";
			if (flagdefs[i].bit == F_MATERIAL)
				strlist_add(&ctl.materials, optarg);
			else if (flagdefs[i].bit == F_MISSING)
				strlist_add(&ctl.missing, optarg);
			break;
		}
		}
	}

	if (optind >= argc) {
		if (help) {
			usage(stdout);
			return EXIT_DONE;
		}
		fprintf(stderr, "%s: no command given\n", PROG);
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(&ctl, argv + optind, argc - optind, &used, &rc);
	if (!cmd)
		return rc;
	if (help) {
		printf("usage: ");
		print_usage_line(stdout, cmd);
		printf("\n%s\n", cmd->help);
		return EXIT_DONE;
	}
	ctl.cmd = cmd;
	ctl.args = argv + optind + used;
	ctl.nargs = argc - optind - used;
	rc = check_args(&ctl, cmd);
	if (rc)
		goto out;
	if (cmd->local) {
		wj_arena_init(&ctl.arena, 4096);
		rc = cmd->run(&ctl);
		wj_arena_free(&ctl.arena);
		goto flush;
	}

	rc = resolve_endpoint(&ctl, endpoint, sizeof(endpoint));
	if (rc)
		goto out;
	rc = wj_client_open(endpoint, ctl.timeout_ms, &ctl.client, &err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", PROG, err.msg);
		rc = rc == WJ_EIO ? EXIT_UNREACHABLE : EXIT_USAGE;
		goto out;
	}
	wj_arena_init(&ctl.arena, 64 * 1024);
	rc = cmd->run(&ctl);
	wj_arena_free(&ctl.arena);
	wj_client_close(ctl.client);
flush:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write the output: %s\n", PROG,
			strerror(errno));
		if (rc == EXIT_DONE)
			rc = EXIT_REFUSED;
	}
out:
	free(ctl.materials.v);
	free(ctl.missing.v);
	return rc;
}
