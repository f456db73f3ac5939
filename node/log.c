/* Logging to stderr: one line per message, timestamped in China Standard
 * Time like every other time wuji shows, so logs and case histories line
 * up without conversion. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/date.h"

static enum wj_log_level current_level = WJ_LOG_INFO;

static const char *const level_names[] = {
	[WJ_LOG_ERROR] = "error",
	[WJ_LOG_WARN] = "warn",
	[WJ_LOG_INFO] = "info",
	[WJ_LOG_DEBUG] = "debug",
};

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
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	time_t local = ts.tv_sec + WJ_TZ_OFFSET_SECONDS;
	struct tm tm;
	gmtime_r(&local, &tm);
	char stamp[40];
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	/* One fprintf per line keeps lines whole when several processes share
	 * a terminal or a journal stream. */
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03ld+08:00 %-5s %s\n", stamp, ts.tv_nsec / 1000000L,
		level_names[l], msg);
}
