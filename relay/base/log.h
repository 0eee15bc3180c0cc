/*
 * log.h - logging in the OpenBSD daemon shape: log_warn() appends
 * strerror(errno), log_warnx() does not, fatal() logs and exits.  To stderr
 * with -d (or before log_init), otherwise to syslog/the journal.
 */
#ifndef FIELDRELAY_LOG_H
#define FIELDRELAY_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(bool to_stderr, const char *ident);
void log_setlevel(int level);
int log_getlevel(void);
/* "error", "warn", "info", "debug" -> level, or -1. */
int log_parse_level(const char *s);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * The most verbose level logged (log_setlevel()); read by log_debug() so
 * that a debug line costs one comparison when debug is off: its arguments
 * (a formatted address, a lookup) are not evaluated at all, only checked
 * against the format by the compiler.
 */
extern int log_max_level;
#define log_debug(...) do {						\
	if (log_max_level >= LOG_LVL_DEBUG)				\
		log_debug_line(__VA_ARGS__);				\
} while (0)

/*
 * Rate-limited warning for input from the air or from clients: at most a
 * few lines per second per call site, then a count of what was suppressed.
 */
struct log_ratelimit { long long window; unsigned printed, suppressed; };
void log_limited(struct log_ratelimit *rl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
