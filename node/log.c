/* Logging to stderr: one line per message, timestamped in China Standard
 * Time like every other time wuji shows, so logs and case histories line
 * up without conversion. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/date.h"

static enum wj_log_level current_level = WJ_LOG_INFO;

static const char *const level_names[] = {
	[WJ_LOG_ERROR] = "error",
	[WJ_LOG_WARN] = "warn",
	[WJ_LOG_INFO] = "info",
	[WJ_LOG_DEBUG] = "debug",
};

/* syslog priorities (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG) that the
 * journal reads from a "<N>" in front of a line. */
static const int level_priorities[] = {
	[WJ_LOG_ERROR] = 3,
	[WJ_LOG_WARN] = 4,
	[WJ_LOG_INFO] = 6,
	[WJ_LOG_DEBUG] = 7,
};

/* -1 until the first message, then whether stderr is the journal. */
static int to_journal = -1;

/* systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connects to
 * stderr; only when stderr is still that stream are lines prefixed, so a
 * node started from a shell inside a unit (or with stderr redirected)
 * writes plain lines. */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
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

/* "<N>" for level l when stderr is the journal, else "". */
static const char *journal_prefix(enum wj_log_level l, char buf[8])
{
	if (to_journal < 0)
		to_journal = stderr_is_journal();
	buf[0] = '\0';
	if (to_journal)
		snprintf(buf, 8, "<%d>", level_priorities[l]);
	return buf;
}

void wj_log_startup_error(const char *fmt, ...)
{
	char msg[2048], prio[8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%swuji-node: %s\n", journal_prefix(WJ_LOG_ERROR, prio), msg);
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
	/* In the journal the priority makes `journalctl -p warning` find the
	 * node's warnings and errors; the level word stays for reading. */
	char prio[8];
	fprintf(stderr, "%s%s.%03ld+08:00 %-5s %s\n", journal_prefix(l, prio),
		stamp, ts.tv_nsec / 1000000L, level_names[l], msg);
}
