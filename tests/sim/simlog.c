/* The nodes' log inside the simulator: node/log.h's functions, defined
 * here instead of node/log.c, so that every line says which node wrote
 * it and when in simulated time (the real clock means nothing here, and
 * 229 nodes share one stderr). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sim.h"

static enum wj_log_level current_level = WJ_LOG_ERROR;
static const sim_t *log_sim;
static int log_node = -1;

static const char *const level_names[] = {
	[WJ_LOG_ERROR] = "error",
	[WJ_LOG_WARN] = "warn",
	[WJ_LOG_INFO] = "info",
	[WJ_LOG_DEBUG] = "debug",
};

void sim_log_context(const sim_t *S, int node)
{
	log_sim = S;
	log_node = node;
}

void wj_log_set_level(enum wj_log_level l)
{
	current_level = l;
}

int wj_log_parse_level(const char *s, enum wj_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum wj_log_level)i;
			return 0;
		}
	}
	return -1;
}

void wj_log(enum wj_log_level l, const char *fmt, ...)
{
	if (l > current_level)
		return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_sim && log_node >= 0 && (size_t)log_node < log_sim->n_nodes)
		fprintf(stderr, "node [%9.3fs] %012llu %-5s %s\n",
			(double)(log_sim->now - log_sim->t0) / 1000.0,
			(unsigned long long)log_sim->nodes[log_node].code, level_names[l], msg);
	else
		fprintf(stderr, "node %-5s %s\n", level_names[l], msg);
}
