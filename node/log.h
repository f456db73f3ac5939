/* Logging to stderr with a level, one line per message:
 *   2026-02-13T09:30:00.123+08:00 info  control: listening on ipc://...
 * When stderr is systemd's journal (JOURNAL_STREAM names it), each line
 * starts with its syslog priority, "<3>" for error to "<7>" for debug,
 * which the journal takes off and keeps as the entry's priority. */
#pragma once

enum wj_log_level { WJ_LOG_ERROR, WJ_LOG_WARN, WJ_LOG_INFO, WJ_LOG_DEBUG };

void wj_log_set_level(enum wj_log_level l);
int wj_log_parse_level(const char *s, enum wj_log_level *out);
void wj_log(enum wj_log_level l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A refusal to start (a bad flag or config file), for the person who typed
 * the command: "wuji-node: MESSAGE" with no timestamp, at error priority
 * in the journal. */
void wj_log_startup_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#define wj_error(...) wj_log(WJ_LOG_ERROR, __VA_ARGS__)
#define wj_warn(...) wj_log(WJ_LOG_WARN, __VA_ARGS__)
#define wj_info(...) wj_log(WJ_LOG_INFO, __VA_ARGS__)
#define wj_debug(...) wj_log(WJ_LOG_DEBUG, __VA_ARGS__)
