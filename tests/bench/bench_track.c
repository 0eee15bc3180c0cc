/*
 * bench_track.c - bytes on air per hour and the error of the track the
 * command center rebuilds (issue 13, item 7), on one real GPX track walked
 * and driven, for our sending by error (relay/track/beacon.c), SmartBeaconing
 * with Direwolf's defaults and a fixed 30 s, each the reference of the same
 * run.
 *
 * The track: tests/data/gpxpy_korita-zbevnica.gpx (a hike, SOURCES.md), its
 * timed points in order, interpolated to one fix a second (the true track;
 * each fix's speed and course those of the stretch between the two recorded
 * points around it, as a GPS's Doppler gives them).
 *   walk   as recorded: a hike with its stops (moving speed printed);
 *   drive  the same path at a steady 50 km/h, out and back until an hour
 *          has gone by (tight turns: a mountain road).
 *
 * Every strategy sees every fix; what it sends is encoded by posfmt (one fix
 * a bundle) and costs its payload plus the framing of a narrowband link,
 * measured per send with the real encoders as tests/unit/test_track_onair.c
 * does (bundle -> compact form -> BUNDLES frame in a compact envelope with
 * an 8-byte tag -> KISS).  The command center decodes what was sent and
 * places the unit where beacon_predict() puts it: dead reckoning from the
 * last fix received, for all strategies (and, printed beside, "hold": the
 * last fix received, not moved).  Error: the largest distance, over the
 * fixes, between the true track and that estimate; nothing is lost on the
 * way, so this is the sending decision's error alone.  CPU: the deciding,
 * encoding and recording of sends, per 1000 fixes (CLOCK_PROCESS_CPUTIME_ID).
 *
 * Beside them, for information: ours at mesh intervals and unthrottled
 * (1 s), the longest fixed interval that keeps within the error, and ours
 * with the least error setting whose bytes are SmartBeaconing's at most
 * (the error each buys at equal bytes).
 *
 * bench track-walk: ... PASS|FAIL      (ours at narrowband intervals: at most
 * bench track-drive: ... PASS|FAIL      SmartBeaconing's bytes, within 25 m)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundle.h"
#include "compact.h"
#include "crypto.h"
#include "frame.h"
#include "kiss.h"
#include "service.h"

#include "beacon.h"
#include "geo.h"
#include "posfmt.h"
#include "track.h"

#define GPX		"gpxpy_korita-zbevnica.gpx"
#define MAX_PTS		4096
#define DRIVE_SPEED	(50 / 3.6)		/* m/s */
#define DRIVE_HOURS	1.0
#define CPU_ROUNDS	20

#define SENDER		12
#define RECEIVER	7
#define BASE		849234000000ULL		/* the sender's time base, DTN ms */

struct pt {
	int64_t t;			/* ms */
	double lat, lon;
};

enum strategy { OURS_NARROW, OURS_MESH, OURS_1S, SMART, FIXED30, FIXED, OURS_BUDGET, N_STRATEGY };
static const char *const strategy_name[N_STRATEGY] = {
	"ours narrowband (25 m, 30 s..1800 s)", "ours mesh (25 m, 5 s..300 s)", "ours unthrottled (25 m, 1 s..300 s)",
	"SmartBeaconing (Direwolf defaults)", "fixed 30 s", "fixed, longest interval for 25 m",
	"ours at SmartBeaconing's bytes",
};
static double budget_err;		/* OURS_BUDGET's error */
static struct track_conf conf;		/* the [track] defaults: error and intervals */
static uint32_t fixed_ms = 30000;	/* FIXED's interval */

struct result {
	unsigned sends;
	double bytes, payload;		/* on air, of which posfmt payload */
	double max_err, mean_err, max_hold;
	double cpu_us;			/* per 1000 fixes */
};

static struct crypto_key key = { .id = 1 };
static const struct compact_ctx ctx = { .sender = SENDER, .receiver = RECEIVER, .time_base = BASE };

static void
fatal_if(int cond, const char *what)
{
	if (cond) {
		fprintf(stderr, "bench_track: %s\n", what);
		exit(2);
	}
}

/* ---- the GPX track ---- */

static int64_t
iso_ms(const char *s)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi;
	double sec;

	if (sscanf(s, "%d-%d-%dT%d:%d:%lfZ", &y, &mo, &d, &h, &mi, &sec) != 6)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return (int64_t)timegm(&tm) * 1000 + (int64_t)llround(sec * 1000);
}

/* The timed track points of the file, in order: a small parser for GPSBabel's GPX 1.0. */
static int
load_gpx(struct pt *pts, int cap)
{
	char path[1024];
	const char *dir = getenv("FIELDRELAY_TEST_DATA");
	FILE *f;
	char *text, *p;
	long len;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "tests/data", GPX);
	f = fopen(path, "rb");
	fatal_if(f == NULL, "cannot open tests/data/" GPX);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = malloc((size_t)len + 1);
	fatal_if(text == NULL || fread(text, 1, (size_t)len, f) != (size_t)len, "cannot read the GPX");
	text[len] = '\0';
	fclose(f);
	for (p = strstr(text, "<trkpt "); p && n < cap; p = strstr(p, "<trkpt ")) {
		char *end = strstr(p, "</trkpt>"), *la = strstr(p, "lat=\""), *lo = strstr(p, "lon=\"");
		char *tm = strstr(p, "<time>");

		fatal_if(end == NULL || la == NULL || lo == NULL || la > end || lo > end, "bad trkpt");
		if (tm && tm < end) {
			pts[n].lat = strtod(la + 5, NULL);
			pts[n].lon = strtod(lo + 5, NULL);
			pts[n].t = iso_ms(tm + 6);
			fatal_if(pts[n].t < 0, "bad time");
			/* Keep time strictly increasing: a point at the same time as the last is a duplicate. */
			if (n == 0 || pts[n].t > pts[n - 1].t)
				n++;
		}
		p = end;
	}
	free(text);
	return n;
}

/* The same path at a steady speed, out and back until hours have gone by. */
static int
drive(const struct pt *in, int n, struct pt *out, int cap, double speed, double hours)
{
	int m = 0, dir = 1, i = 0;
	int64_t t = 0;

	out[m++] = (struct pt){ 0, in[0].lat, in[0].lon };
	while (t < hours * 3600e3 && m < cap) {
		int j = i + dir;
		double d;

		if (j < 0 || j >= n) {
			dir = -dir;
			continue;
		}
		d = geo_distance(in[i].lat, in[i].lon, in[j].lat, in[j].lon);
		i = j;
		if (d < 0.5)
			continue;
		t += (int64_t)llround(d / speed * 1000);
		out[m++] = (struct pt){ t, in[j].lat, in[j].lon };
	}
	return m;
}

/* One fix a second along the points (interpolated), speed and course of the stretch. */
static int
sample(const struct pt *p, int n, struct fix **out)
{
	int64_t t0 = p[0].t, t1 = p[n - 1].t;
	int count = (int)((t1 - t0) / 1000) + 1, k = 0, i = 0;
	struct fix *f = calloc((size_t)count, sizeof(*f));

	fatal_if(f == NULL, "out of memory");
	for (int64_t t = t0; t <= t1 && k < count; t += 1000, k++) {
		double a, d, dt;

		while (i + 2 < n && p[i + 1].t <= t)
			i++;
		dt = (double)(p[i + 1].t - p[i].t);
		a = (double)(t - p[i].t) / dt;
		if (a > 1)
			a = 1;
		fix_init(&f[k]);
		f[k].time_ms = 1285000000000LL + (t - t0);
		f[k].lat = p[i].lat + a * (p[i + 1].lat - p[i].lat);
		f[k].lon = p[i].lon + a * (p[i + 1].lon - p[i].lon);
		d = geo_distance(p[i].lat, p[i].lon, p[i + 1].lat, p[i + 1].lon);
		f[k].speed = d / (dt / 1000);
		f[k].course = d > 0 ? geo_bearing(p[i].lat, p[i].lon, p[i + 1].lat, p[i + 1].lon) : NAN;
	}
	*out = f;
	return k;
}

/* ---- on air ---- */

/* The bytes a position bundle with this payload takes on a narrowband link (test_track_onair.c). */
static size_t
on_air(const uint8_t *payload, size_t len, unsigned k, int64_t ctime_unix)
{
	static uint8_t bundle[1024], form[1024], frame[1024], kiss[2 * 1024 + 4];
	struct frame_hdr h = { .flags = FRAME_F_TAG8, .sender = SENDER, .boot = 3,
	    .counter = 70000 + 3 * k, .compact = true };
	struct frame_msg m = { .type = FRAME_BUNDLES };
	struct bundle b;
	const char *why;
	ssize_t n;

	bundle_init(&b);
	eid_ipn(&b.dst, 0, SVC_POSITION);
	eid_ipn(&b.src, SENDER, SVC_POSITION);
	eid_ipn(&b.report_to, SENDER, SVC_ADMIN);
	/* The link came up an hour before the first fix. */
	b.ctime = (uint64_t)(ctime_unix - 1285000000000LL) + BASE + 3600 * 1000;
	b.seq = 5000 + k;
	b.lifetime = 24 * 3600 * 1000;
	b.priority = service_default_prio(SVC_POSITION);
	b.payload = payload;
	b.payload_len = len;
	n = bundle_encode(&b, bundle, sizeof(bundle));
	fatal_if(n < 0, "cannot encode the bundle");
	n = compact_encode(&ctx, bundle, (size_t)n, form, sizeof(form), &why);
	fatal_if(n < 0, why);
	m.u.bundles.n = 1;
	m.u.bundles.b[0] = (struct frame_bundle){ .xid = 100 + k, .data = form, .len = (size_t)n };
	n = frame_seal(frame, sizeof(frame), &h, &m, &key);
	fatal_if(n < 0, "cannot seal the frame");
	n = kiss_encode(kiss, sizeof(kiss), 0, KISS_DATA, frame, (size_t)n);
	fatal_if(n < 0, "cannot KISS-encode");
	return (size_t)n;
}

/* ---- the strategies ---- */

struct sender {
	enum strategy s;
	struct beacon b;		/* ours, fixed: what was sent */
	struct beacon_smart sb;
};

static void
sender_init(struct sender *x, enum strategy s)
{
	x->s = s;
	beacon_init(&x->b);
	beacon_smart_init(&x->sb);
}

static bool
sender_due(struct sender *x, const struct fix *f)
{
	switch (x->s) {
	case OURS_NARROW:
		return beacon_due(&x->b, f, f->time_ms, conf.error_m, conf.interval[LINK_NARROWBAND].min_ms,
		    conf.interval[LINK_NARROWBAND].max_ms);
	case OURS_MESH:
		return beacon_due(&x->b, f, f->time_ms, conf.error_m, conf.interval[LINK_MESH].min_ms,
		    conf.interval[LINK_MESH].max_ms);
	case OURS_1S:
		return beacon_due(&x->b, f, f->time_ms, conf.error_m, 1000, conf.interval[LINK_MESH].max_ms);
	case SMART:
		return beacon_smart_due(&x->sb, f, f->time_ms);
	case FIXED30:
		return beacon_fixed_due(&x->b, f->time_ms, 30000);
	case OURS_BUDGET:
		return beacon_due(&x->b, f, f->time_ms, budget_err, 1000, conf.interval[LINK_NARROWBAND].max_ms);
	case FIXED:
	default:
		return beacon_fixed_due(&x->b, f->time_ms, fixed_ms);
	}
}

/* Send f: encode it, decode it as the receivers do, record it.  The payload's length. */
static size_t
sender_send(struct sender *x, const struct fix *f, int64_t base, uint8_t *p, size_t cap, struct fix *got)
{
	ssize_t n = posfmt_encode(f, 1, base, NULL, p, cap);

	fatal_if(n < 0, "cannot encode a fix");
	fatal_if(posfmt_decode(p, (size_t)n, base, got, 1, NULL, 0) != 1, "cannot decode a fix");
	beacon_sent(&x->b, got);
	beacon_smart_sent(&x->sb, got, f->time_ms);
	return (size_t)n;
}

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
simulate(enum strategy s, const struct fix *fx, int n, struct result *r)
{
	struct sender x;
	struct beacon rx;		/* the command center's view */
	struct fix got, hold;
	uint8_t p[64];
	double sum = 0, t0;

	memset(r, 0, sizeof(*r));
	sender_init(&x, s);
	beacon_init(&rx);
	fix_init(&hold);
	for (int i = 0; i < n; i++) {
		const struct fix *f = &fx[i];
		double lat, lon, e;

		if (sender_due(&x, f)) {
			/* The bundle is made a moment after the fix. */
			int64_t base = f->time_ms + 300;
			size_t len = sender_send(&x, f, base, p, sizeof(p), &got);

			r->bytes += (double)on_air(p, len, r->sends, base);
			r->payload += (double)len;
			r->sends++;
			beacon_sent(&rx, &got);
			hold = got;
		}
		beacon_predict(&rx, f->time_ms, &lat, &lon);
		e = geo_distance(lat, lon, f->lat, f->lon);
		sum += e;
		if (e > r->max_err)
			r->max_err = e;
		e = geo_distance(hold.lat, hold.lon, f->lat, f->lon);
		if (e > r->max_hold)
			r->max_hold = e;
	}
	r->mean_err = sum / n;

	/* CPU: the sender's part alone, over and over. */
	t0 = cpu_s();
	for (int round = 0; round < CPU_ROUNDS; round++) {
		sender_init(&x, s);
		for (int i = 0; i < n; i++)
			if (sender_due(&x, &fx[i]))
				sender_send(&x, &fx[i], fx[i].time_ms + 300, p, sizeof(p), &got);
	}
	r->cpu_us = (cpu_s() - t0) / CPU_ROUNDS / n * 1000 * 1e6;
}

static void
describe(const char *name, const struct fix *fx, int n)
{
	double moving = 0, dist = 0;
	int nm = 0;

	for (int i = 1; i < n; i++) {
		double d = geo_distance(fx[i - 1].lat, fx[i - 1].lon, fx[i].lat, fx[i].lon);

		dist += d;
		if (fx[i].speed >= 0.3) {
			moving += fx[i].speed;
			nm++;
		}
	}
	printf("# %s: %d fixes (%.2f h), %.2f km, average %.1f km/h, %.1f km/h while moving (%.0f %% of the "
	    "time)\n", name, n, (n - 1) / 3600.0, dist / 1000, dist / (n - 1) * 3.6, nm ? moving / nm * 3.6 : 0,
	    100.0 * nm / (n - 1));
}

static const char *
fixed_name(void)
{
	static char name[64];

	snprintf(name, sizeof(name), "fixed %u s (longest for %.0f m)", fixed_ms / 1000, conf.error_m);
	return name;
}

static const char *
budget_name(void)
{
	static char name[64];

	snprintf(name, sizeof(name), "ours at SB's bytes (%.0f m, 1 s..1800 s)", budget_err);
	return name;
}

/* One scenario: the table, and the bench line for ours at narrowband intervals. */
static bool
scenario(const char *name, const struct fix *fx, int n)
{
	struct result r[N_STRATEGY];
	double hours = (n - 1) / 3600.0;
	const struct result *sb = &r[SMART];
	bool ok;

	describe(name, fx, n);
	for (int s = 0; s < N_STRATEGY; s++)
		simulate((enum strategy)s, fx, n, &r[s]);
	/* The longest fixed interval, in whole seconds, whose track stays within the error. */
	for (fixed_ms = 1000; fixed_ms < 1800000; fixed_ms += 1000) {
		struct result t;

		simulate(FIXED, fx, n, &t);
		if (t.max_err > conf.error_m)
			break;
		r[FIXED] = t;
	}
	fixed_ms -= 1000;
	/* Ours with the least error (5 % steps from the configured one) whose bytes are SmartBeaconing's at most. */
	for (budget_err = conf.error_m; budget_err < 1e5; budget_err *= 1.05) {
		simulate(OURS_BUDGET, fx, n, &r[OURS_BUDGET]);
		if (r[OURS_BUDGET].bytes <= r[SMART].bytes)
			break;
	}
	printf("# %-7s %-40s %6s %9s %7s %9s %9s %9s %9s %8s\n", name, "strategy", "sends", "B/h", "xSB",
	    "max err m", "mean m", "hold max", "B/send", "us/1000");
	for (int s = 0; s < N_STRATEGY; s++)
		printf("# %-7s %-40s %6u %9.0f %7.2f %9.1f %9.1f %9.1f %9.1f %8.1f\n", name,
		    s == FIXED ? fixed_name() : s == OURS_BUDGET ? budget_name() : strategy_name[s],
		    r[s].sends, r[s].bytes / hours, r[s].bytes / sb->bytes, r[s].max_err, r[s].mean_err,
		    r[s].max_hold, r[s].bytes / r[s].sends, r[s].cpu_us);
	ok = r[OURS_NARROW].bytes <= sb->bytes && r[OURS_NARROW].max_err <= conf.error_m;
	printf("bench track-%s: ours at narrowband intervals %.0f B/h on air, ratio %.2f to SmartBeaconing's "
	    "%.0f B/h; max error %.1f m (SmartBeaconing %.1f m, ratio %.2f); CPU %.1f us per 1000 fixes "
	    "(SmartBeaconing %.1f) (target ratio <= 1, error <= %.0f m) %s\n", name, r[OURS_NARROW].bytes / hours,
	    r[OURS_NARROW].bytes / sb->bytes, sb->bytes / hours, r[OURS_NARROW].max_err, sb->max_err,
	    r[OURS_NARROW].max_err / sb->max_err, r[OURS_NARROW].cpu_us, sb->cpu_us, conf.error_m,
	    ok ? "PASS" : "FAIL");
	printf("bench track-%s-mesh: ours at mesh intervals %.0f B/h, ratio %.2f to SmartBeaconing; max error "
	    "%.1f m; unthrottled (1 s) %.0f B/h, ratio %.2f, max error %.1f m; the longest fixed interval within "
	    "%.0f m, %u s, %.0f B/h, ratio %.2f (for information)\n", name, r[OURS_MESH].bytes / hours,
	    r[OURS_MESH].bytes / sb->bytes, r[OURS_MESH].max_err, r[OURS_1S].bytes / hours,
	    r[OURS_1S].bytes / sb->bytes, r[OURS_1S].max_err, conf.error_m, fixed_ms / 1000, r[FIXED].bytes / hours,
	    r[FIXED].bytes / sb->bytes);
	printf("bench track-%s-same-bytes: ours at SmartBeaconing's bytes at most (error %.0f m, 1 s..1800 s) "
	    "%.0f B/h, ratio %.2f; max error %.1f m against SmartBeaconing's %.1f m, ratio %.2f; mean %.1f m "
	    "against %.1f m (for information)\n", name, budget_err, r[OURS_BUDGET].bytes / hours,
	    r[OURS_BUDGET].bytes / sb->bytes, r[OURS_BUDGET].max_err, sb->max_err, r[OURS_BUDGET].max_err / sb->max_err,
	    r[OURS_BUDGET].mean_err, sb->mean_err);
	return ok;
}

int
main(void)
{
	static struct pt pts[MAX_PTS], dpts[8 * MAX_PTS];
	struct fix *walk, *drv;
	int n, nw, nd;
	bool ok;

	track_conf_defaults(&conf);
	fatal_if(crypto_init() < 0, "libsodium does not start");
	memset(key.key, 0x42, sizeof(key.key));
	n = load_gpx(pts, MAX_PTS);
	fatal_if(n < 100, "too few timed points in the GPX");
	printf("# %s: %d timed track points\n", GPX, n);
	nw = sample(pts, n, &walk);
	nd = sample(dpts, drive(pts, n, dpts, 8 * MAX_PTS, DRIVE_SPEED, DRIVE_HOURS), &drv);
	ok = scenario("walk", walk, nw);
	ok = scenario("drive", drv, nd) && ok;
	free(walk);
	free(drv);
	return ok ? 0 : 1;
}
