/*
 * gpsin.c - this node's GPS through gpsd (gpsin.h).
 */
#include <errno.h>
#include <gps.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpsin.h"
#include "hostport.h"

struct gpsin {
	char host[256], port[16];
	struct gpsin_ops ops;
	void *arg;
	struct gps_data_t gps;
	bool open;			/* gps is a live connection */
	bool said_down;			/* the loss is in the log already */
	int64_t retry_at;		/* next connect attempt (monotonic ms) */
	int64_t retry_ms;		/* the wait after the next failure */
	int64_t last_fix_at;		/* monotonic ms of the last valid fix, 0 none */
	bool have_last, last_stale;
	struct fix last;		/* the last valid fix */
	struct gpsin_stats st;
};

static void say(struct gpsin *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
say(struct gpsin *g, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (g->ops.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g->ops.log(g->arg, msg);
}

struct gpsin *
gpsin_new(const char *hostport, const struct gpsin_ops *ops, void *arg)
{
	struct gpsin *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	if (hostport_split(hostport, g->host, sizeof(g->host), g->port, sizeof(g->port)) < 0) {
		free(g);
		errno = EINVAL;
		return NULL;
	}
	if (g->host[0] == '\0')
		snprintf(g->host, sizeof(g->host), "localhost");
	g->ops = *ops;
	g->arg = arg;
	g->retry_ms = GPSIN_RETRY_MIN_MS;
	return g;
}

static void
disconnect(struct gpsin *g)
{
	if (!g->open)
		return;
	gps_close(&g->gps);
	g->open = false;
}

void
gpsin_free(struct gpsin *g)
{
	if (g == NULL)
		return;
	disconnect(g);
	free(g);
}

int
gpsin_fd(const struct gpsin *g)
{
	return g->open ? (int)g->gps.gps_fd : -1;
}

bool
gpsin_connected(const struct gpsin *g)
{
	return g->open;
}

void
gpsin_stats(const struct gpsin *g, struct gpsin_stats *st)
{
	*st = g->st;
}

/* The last fix once more, stale: fixes stopped. */
static void
go_stale(struct gpsin *g)
{
	if (!g->have_last || g->last_stale)
		return;
	g->last_stale = true;
	g->last.stale = true;
	g->ops.fix(g->arg, &g->last);
}

/* The connection is gone: try again soon, and then less often. */
static void
lost(struct gpsin *g, int64_t now_ms, const char *why)
{
	if (g->open) {
		g->st.losses++;
		say(g, "gpsd at %s:%s: %s; reconnecting", g->host, g->port, why);
		g->said_down = true;
		g->retry_ms = GPSIN_RETRY_MIN_MS;
	}
	disconnect(g);
	g->retry_at = now_ms + g->retry_ms;
	g->retry_ms = g->retry_ms * 2 > GPSIN_RETRY_MAX_MS ? GPSIN_RETRY_MAX_MS : g->retry_ms * 2;
	go_stale(g);
}

static void
try_connect(struct gpsin *g, int64_t now_ms)
{
	char where[300];

	snprintf(where, sizeof(where), "%s:%s", g->host, g->port);
	memset(&g->gps, 0, sizeof(g->gps));
	if (gps_open(g->host, g->port, &g->gps) != 0) {
		if (!g->said_down)
			say(g, "gpsd at %s: %s; trying again", where, gps_errstr(errno));
		g->said_down = true;
		g->retry_at = now_ms + g->retry_ms;
		g->retry_ms = g->retry_ms * 2 > GPSIN_RETRY_MAX_MS ? GPSIN_RETRY_MAX_MS : g->retry_ms * 2;
		return;
	}
	g->open = true;
	if (gps_stream(&g->gps, WATCH_ENABLE | WATCH_JSON, NULL) < 0) {
		lost(g, now_ms, "cannot start the watch");
		return;
	}
	g->st.connects++;
	g->said_down = false;
	g->retry_ms = GPSIN_RETRY_MIN_MS;
	g->last_fix_at = now_ms;	/* the silence counts from now */
	say(g, "gpsd at %s: connected", where);
}

void
gpsin_tick(struct gpsin *g, int64_t now_ms)
{
	if (!g->open && now_ms >= g->retry_at)
		try_connect(g, now_ms);
	if (g->have_last && !g->last_stale && now_ms - g->last_fix_at >= GPSIN_STALE_MS)
		go_stale(g);
}

int64_t
gpsin_deadline(const struct gpsin *g)
{
	int64_t d = INT64_MAX;

	if (!g->open)
		d = g->retry_at;
	if (g->have_last && !g->last_stale && g->last_fix_at + GPSIN_STALE_MS < d)
		d = g->last_fix_at + GPSIN_STALE_MS;
	return d;
}

static double
known(double v)
{
	return isfinite(v) ? v : NAN;
}

/* One report in g->gps: a TPV with a fix goes on. */
static void
take(struct gpsin *g, int64_t now_ms)
{
	const struct gps_fix_t *gf = &g->gps.fix;
	struct fix f;

	if (!(g->gps.set & MODE_SET))
		return;		/* not a TPV (a SKY, a VERSION, ...) */
	g->st.reports++;
	if (gf->mode < MODE_2D || !(g->gps.set & LATLON_SET) || !isfinite(gf->latitude) ||
	    !isfinite(gf->longitude) || fabs(gf->latitude) > 90 || fabs(gf->longitude) > 180 ||
	    gf->time.tv_sec <= 0) {
		g->st.no_fix++;
		if (gf->mode == MODE_NO_FIX)
			go_stale(g);
		return;
	}
	fix_init(&f);
	f.source = FIX_GPSD;
	f.kind = FIX_PERSON;
	f.time_ms = (int64_t)gf->time.tv_sec * 1000 + gf->time.tv_nsec / 1000000;
	f.lat = gf->latitude;
	f.lon = gf->longitude;
	if (gf->mode >= MODE_3D)
		f.alt = known(gf->altMSL);
	f.speed = known(gf->speed);
	f.course = known(gf->track);
	f.eph = known(gf->eph);
	f.epv = gf->mode >= MODE_3D ? known(gf->epv) : NAN;
	if (isfinite(f.course) && (f.course < 0 || f.course >= 360))
		f.course = fmod(fmod(f.course, 360) + 360, 360);
	g->st.fixes++;
	g->last = f;
	g->have_last = true;
	g->last_stale = false;
	g->last_fix_at = now_ms;
	g->ops.fix(g->arg, &f);
}

void
gpsin_read(struct gpsin *g, int64_t now_ms)
{
	/*
	 * gps_read() reads what the socket holds and unpacks each whole line it
	 * got, the last one into g->gps; as we look at every read, a report we
	 * do not see is one superseded within the same read.
	 */
	for (int i = 0; i < 64 && g->open; i++) {
		g->gps.set = 0;
		int r = gps_read(&g->gps, NULL, 0);

		if (r < 0) {
			lost(g, now_ms, "the connection closed");
			return;
		}
		if (r == 0)
			return;
		take(g, now_ms);
		if (!gps_waiting(&g->gps, 0))
			return;
	}
}
