/* log.c - stderr or syslog logging, see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static bool use_stderr = true;
int log_max_level = LOG_LVL_INFO;

void
log_init(bool to_stderr, const char *ident)
{
	use_stderr = to_stderr;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_setlevel(int l)
{
	log_max_level = l;
}

int
log_getlevel(void)
{
	return log_max_level;
}

int
log_parse_level(const char *s)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	return -1;
}

static void
vlog(int lvl, const char *fmt, va_list ap, const char *suffix)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char msg[1024];

	if (lvl > log_max_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (use_stderr) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld %s%s%s\n", tm.tm_hour, tm.tm_min,
		    tm.tm_sec, ts.tv_nsec / 1000000, msg, suffix ? ": " : "",
		    suffix ? suffix : "");
	} else {
		if (suffix)
			syslog(prio[lvl], "%s: %s", msg, suffix);
		else
			syslog(prio[lvl], "%s", msg);
	}
}

#define LOG_BODY(lvl, suffix) do {		\
	va_list ap;				\
	va_start(ap, fmt);			\
	vlog(lvl, fmt, ap, suffix);		\
	va_end(ap);				\
} while (0)

void
log_warn(const char *fmt, ...)
{
	int saved = errno;

	LOG_BODY(LOG_LVL_WARN, strerror(saved));
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, NULL);
}

/* Called through the log_debug() macro (log.h), which checks the level first. */
void
log_debug_line(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, NULL);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;

	LOG_BODY(LOG_LVL_ERR, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_ERR, NULL);
	exit(1);
}

void
log_limited(struct log_ratelimit *rl, const char *fmt, ...)
{
	struct timespec ts;
	long long now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec;
	if (now != rl->window) {
		if (rl->suppressed)
			log_warnx("(%u similar messages suppressed)", rl->suppressed);
		rl->window = now;
		rl->printed = rl->suppressed = 0;
	}
	if (rl->printed >= 5) {
		rl->suppressed++;
		return;
	}
	rl->printed++;
	LOG_BODY(LOG_LVL_WARN, NULL);
}
