/* wuji-node: the daemon every service center runs.
 *
 * main() only wires things together: configuration (file, then flags), the
 * store and service, the control socket, signals, and systemd's readiness
 * notification.  Everything that decides anything lives in the core and
 * the service. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "control.h"
#include "links.h"
#include "repl.h"
#include "core/config.h"
#include "core/division.h"
#include "core/names.h"
#include "log.h"
#include "notify.h"
#include "service.h"
#include "wj_build.h"

/* Under a Type=notify unit, systemd waits for READY=1 before it calls the
 * node started, and fails the start when it never comes. */
static void tell_systemd(const char *state)
{
	wj_err_t err = {0};

	if (wj_notify(state, &err) < 0)
		wj_warn("%s; a Type=notify unit will not see it", err.msg);
}

/* Wipes a secret from memory once it has been handed to libzmq. */
static void wipe_secret(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wuji-node [--config FILE] [--id CODE] [--data DIR] [--control ENDPOINT]\n"
		"                 [--log-level error|warn|info|debug]\n"
		"       wuji-node -V | --help\n"
		"\n"
		"Runs one wuji node: stores this service center's cases and serves node-ctl.\n"
		"Flags override the config file (reference: deploy/wuji.conf).\n"
		"  -c, --config FILE     configuration file (YAML); none is read without\n"
		"                        it (the systemd unit passes /etc/wuji/wuji.conf)\n"
		"  -i, --id CODE         the node's 12-digit administrative division code\n"
		"  -d, --data DIR        data directory (LMDB store)\n"
		"  -C, --control EP      control endpoint, e.g. ipc:///run/wuji/control\n"
		"  -l, --log-level L     error, warn, info or debug\n"
		"  -V, --version         print the version and exit\n");
}

struct daemon {
	uv_loop_t *loop;
	uv_signal_t sigterm, sigint;
	wj_control_t *control;
	wj_links_t *links;
	int signal_count;
};

static void after_control_batch(void *data)
{
	struct daemon *d = data;
	wj_links_kick(d->links);
}

static void after_receive(void *data)
{
	struct daemon *d = data;
	wj_control_changed(d->control);
}

/* Links to the parent and children, when the config names any.  *bad_config
 * tells a mistake in the files (keys, children, settings), which restarting
 * does not fix, from a failure to open the sockets, which it may. */
static int start_links(struct daemon *d, const wj_config_t *cfg, wj_service_t *svc,
		       wj_repl_t **repl, bool *bad_config, wj_err_t *err)
{
	wj_keypair_t keys;
	wj_child_t *children = NULL;
	size_t n_children = 0;
	int rc;
	*bad_config = true;
	if (cfg->key_file[0] == '\0')
		return wj_err_set(err, WJ_EINVAL, "listen or parent is set, so key_file must "
				  "name this node's key file (make one with node-ctl keygen)");
	rc = wj_keypair_load(&keys, cfg->key_file, err);
	if (rc != 0)
		return rc;
	if (cfg->listen[0]) {
		if (cfg->children_file[0] == '\0')
			return wj_err_set(err, WJ_EINVAL, "listen is set, so children_file must "
					  "list the children allowed to connect");
		rc = wj_children_load(cfg->id, cfg->children_file, &children, &n_children, err);
		if (rc != 0)
			return rc;
	}
	uint64_t parent_id = cfg->parent_id ? cfg->parent_id : wj_division_parent(cfg->id);
	if (cfg->parent[0] && cfg->parent_key[0] == '\0') {
		free(children);
		return wj_err_set(err, WJ_EINVAL, "parent is set, so parent_key must hold the "
				  "parent's public key");
	}
	if (cfg->parent[0] && parent_id != wj_division_parent(cfg->id)) {
		free(children);
		return wj_err_set(err, WJ_EINVAL, "parent_id %012" PRIu64 " is not the parent "
				  "of this node %012" PRIu64 ": a node's parent is its code "
				  "truncated one level up (leave parent_id out)", parent_id,
				  cfg->id);
	}
	*bad_config = false;
	uint64_t *codes = calloc(n_children ? n_children : 1, sizeof(uint64_t));
	for (size_t i = 0; codes && i < n_children; i++)
		codes[i] = children[i].id;
	wj_repl_opts_t ro = {
		.parent = cfg->parent[0] ? parent_id : 0,
		.children = codes,
		.n_children = n_children,
		.skew_warn_ms = cfg->skew_warn_ms,
		.log_keep = cfg->log_keep,
	};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	rc = codes ? wj_repl_new(svc, &ro, (int64_t)ts.tv_sec * 1000, repl, err)
		   : wj_err_set(err, WJ_EINTERNAL, "out of memory");
	free(codes);
	if (rc == 0) {
		wj_links_opts_t lo = {
			.self = cfg->id,
			.listen = cfg->listen,
			.parent = cfg->parent,
			.parent_id = parent_id,
			.parent_key = cfg->parent_key,
			.keys = &keys,
			.children = children,
			.n_children = n_children,
		};
		rc = wj_links_start(d->loop, *repl, &lo, &d->links, err);
		if (rc != 0) {
			wj_repl_free(*repl);
			*repl = NULL;
		}
	}
	if (rc == 0)
		wj_info("links: %zu children allowed%s%s%s%s", n_children,
			cfg->listen[0] ? ", listening on " : "", cfg->listen,
			cfg->parent[0] ? ", parent at " : "", cfg->parent);
	free(children);
	wipe_secret(&keys, sizeof(keys));
	return rc;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	if (d->signal_count++ > 0)
		return;
	/* Batches run to completion inside one loop iteration, so every
	 * request already read has been committed and answered by now. */
	wj_info("received %s: finishing and stopping", strsignal(signum));
	tell_systemd("STOPPING=1");
	wj_control_stop(d->control);
	d->control = NULL;
	wj_links_stop(d->links);
	d->links = NULL;
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"id", required_argument, NULL, 'i'},
		{"data", required_argument, NULL, 'd'},
		{"control", required_argument, NULL, 'C'},
		{"log-level", required_argument, NULL, 'l'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *config_path = NULL, *id = NULL, *data = NULL, *control = NULL,
		   *level = NULL;
	int ch;
	while ((ch = getopt_long(argc, argv, "c:i:d:C:l:Vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 'i': id = optarg; break;
		case 'd': data = optarg; break;
		case 'C': control = optarg; break;
		case 'l': level = optarg; break;
		case 'V': printf("wuji-node %s\n", WJ_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		wj_log_startup_error("unexpected argument \"%s\"", argv[optind]);
		usage(stderr);
		return 2;
	}

	wj_config_t cfg;
	wj_config_defaults(&cfg);
	wj_err_t err = {0};
	if (config_path && wj_config_load(&cfg, config_path, &err) != 0) {
		wj_log_startup_error("%s", err.msg);
		return 2;
	}
	if (id && wj_division_parse(id, &cfg.id, &err) != 0) {
		wj_log_startup_error("--id: %s", err.msg);
		return 2;
	}
	if (data)
		snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data);
	if (control)
		snprintf(cfg.control, sizeof(cfg.control), "%s", control);
	if (level)
		snprintf(cfg.log_level, sizeof(cfg.log_level), "%s", level);
	enum wj_log_level ll;
	if (wj_log_parse_level(cfg.log_level, &ll) != 0) {
		wj_log_startup_error("unknown log level \"%s\": use error, warn, "
				     "info or debug", cfg.log_level);
		return 2;
	}
	wj_log_set_level(ll);
	if (cfg.id == 0) {
		wj_log_startup_error("no node id: pass --config FILE (a config with id: "
				     "CODE; none is read without it) or --id CODE (the "
				     "12-digit division code of this service center)");
		return 2;
	}
	if (!wj_division_valid(cfg.id)) {
		wj_log_startup_error("%012llu is not a valid division code",
				     (unsigned long long)cfg.id);
		return 2;
	}
	if (cfg.data_dir[0] == '\0' || cfg.control[0] == '\0') {
		wj_log_startup_error("data_dir and control must not be empty");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	char code[13];
	wj_division_format(cfg.id, code);
	wj_service_opts_t so = {
		.node = cfg.id,
		.data_dir = cfg.data_dir,
		.map_size = cfg.map_size_mb << 20,
		.yellow_days = cfg.yellow_days,
		/* Until links to other nodes are configured, this node is the
		 * whole tree and decides every task itself. */
		.standalone = cfg.parent[0] == '\0' && cfg.listen[0] == '\0',
	};
	wj_service_t *svc;
	if (wj_service_open(&so, &svc, &err) != 0) {
		wj_error("cannot open the store: %s", err.msg);
		return 1;
	}
	wj_service_set_started(svc, (int64_t)time(NULL));

	struct daemon d = {.loop = uv_default_loop()};
	wj_repl_t *repl = NULL;
	if (!so.standalone) {
		bool bad_config;
		if (start_links(&d, &cfg, svc, &repl, &bad_config, &err) != 0) {
			wj_error("%s", err.msg);
			wj_service_close(svc);
			return bad_config ? 2 : 1;
		}
		wj_service_set_repl(svc, repl);
	}
	if (wj_control_start(d.loop, cfg.control, svc, wj_config_batch_max(&cfg), &d.control, &err) != 0) {
		wj_error("%s", err.msg);
		wj_links_stop(d.links);
		uv_run(d.loop, UV_RUN_DEFAULT);
		wj_repl_free(repl);
		wj_service_close(svc);
		return 1;
	}
	wj_control_on_batch(d.control, after_control_batch, &d);
	if (d.links)
		wj_links_on_receive(d.links, after_receive, &d);
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sigint);
	d.sigterm.data = d.sigint.data = &d;
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);

	wj_info("node %s (%s) ready: control %s, data %s", code,
		wj_level_name(wj_division_level(cfg.id)), cfg.control, cfg.data_dir);
	tell_systemd("READY=1");
	uv_run(d.loop, UV_RUN_DEFAULT);
	wj_repl_free(repl);
	wj_service_close(svc);
	uv_loop_close(d.loop);
	wj_info("node %s stopped", code);
	return 0;
}
