/*
 * bench_track.c - what the command center sees of a unit and what it costs
 * on the air (issue 13, item 7), on one real GPX track walked and driven:
 * our agent's reports (relay/track/posout.c: sending by the error of the
 * live position, the Douglas-Peucker history in each bundle) per link class,
 * SmartBeaconing with Direwolf's defaults and a fixed 30 s.
 *
 * The track: tests/data/gpxpy_korita-zbevnica.gpx (a hike, SOURCES.md), its
 * timed points in order, interpolated to one fix a second (the true track;
 * each fix's speed and course those of the stretch between the two recorded
 * points around it, as a GPS's Doppler gives them).
 *   walk   as recorded: a hike with its stops (moving speed printed);
 *   drive  the same path at a steady 50 km/h, out and back until an hour
 *          has gone by (tight turns: a mountain road).
 *
 * Every strategy sees every fix.  What it sends goes as posfmt payloads (one
 * bundle a send; SmartBeaconing and fixed send their one fix, without speed
 * and course unless said) and costs its payload plus the framing of a
 * narrowband link, measured per send with the real encoders as
 * tests/unit/test_track_onair.c does (bundle -> compact form -> BUNDLES
 * frame in a compact envelope with an 8-byte tag -> KISS, its escapes
 * included).  The command center decodes every bundle (nothing is lost on
 * the way: the sending decision's error alone) and keeps every fix in it.
 *   live     where it shows the unit at each second: beacon_predict() from
 *            the fixes it has (dead reckoning from speed and course when the
 *            newest has them, else along the last two), against the truth;
 *            "hold" beside it: the newest fix, not moved;
 *   history  the fixes it has joined by straight lines, against every true
 *            fix up to the last one received: the distance to the segment
 *            over its time.
 * CPU: the sender's part (deciding, building, encoding, recording), per
 * 1000 fixes (CLOCK_PROCESS_CPUTIME_ID).
 *
 * Ours per class with the [track] defaults (error 25 m; narrowband 30 s ..
 * 1800 s, mesh 5 s .. 300 s), each with and without speed and course (the
 * default, posout_rule_default(), is printed against what measures fewer
 * bytes); and ours with the narrowband interval (`interval narrowband MIN
 * MAX`, a config the agent takes; MIN 30 s .. 2 h, MAX 30 min .. 2 h) whose
 * bytes are SmartBeaconing's at most with the least live error
 * (BENCH_TRACK_ALL=1 in the environment prints every interval tried).  Targets, printed PASS or FAIL (the bench
 * exits 1 when one failed, 2 when it could not run):
 *   bench track-walk|drive: ours at SmartBeaconing's bytes at most, its
 *       history within 25 m (issue 13); its live error beside
 *   bench track-walk|drive-narrowband: ours with the defaults, the history
 *       within 25 m, the live error printed
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
#include "posout.h"
#include "track.h"

#define GPX		"gpxpy_korita-zbevnica.gpx"
#define MAX_PTS		4096
#define DRIVE_SPEED	(50 / 3.6)		/* m/s */
#define DRIVE_HOURS	1.0
#define CPU_ROUNDS	5

#define SENDER		12
#define RECEIVER	7
#define BASE		849234000000ULL		/* the sender's time base, DTN ms */

struct pt {
	int64_t t;			/* ms */
	double lat, lon;
};

static struct crypto_key key = { .id = 1 };
static const struct compact_ctx ctx = { .sender = SENDER, .receiver = RECEIVER, .time_base = BASE };
static struct track_conf conf;		/* the [track] defaults: error and intervals */

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

/*
 * The track as gpsd reported it, from tests/bench/bench_track_gpsd.py (the
 * GPX through gpsbabel, gpsfake and gpsd): lines "UNIX_MS LAT LON".
 */
static int
load_fixes(const char *path, struct pt *pts, int cap)
{
	FILE *f = fopen(path, "r");
	long long t;
	double la, lo;
	int n = 0;

	fatal_if(f == NULL, "cannot open the fixes file");
	while (n < cap && fscanf(f, "%lld %lf %lf", &t, &la, &lo) == 3) {
		pts[n] = (struct pt){ .t = t, .lat = la, .lon = lo };
		if (n == 0 || pts[n].t > pts[n - 1].t)
			n++;
	}
	fclose(f);
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

enum kind { OURS, SMART, FIXED };

struct strategy {
	char name[64];
	enum kind kind;
	struct posout_rule rule;	/* ours */
	bool motion;			/* SMART, FIXED: speed and course in their fix */
	uint32_t every_ms;		/* FIXED */
};

struct result {
	unsigned sends, received;
	double bytes, payload;		/* on air, of which posfmt payload */
	double live_max, live_mean, hold_max, hist_max;
	double cpu_us;			/* per 1000 fixes */
};

static struct posout po;		/* ours: large, so not on the stack */

/* The sender: whether f makes a send, and then the fixes of its bundle as received and the payload. */
struct sender {
	const struct strategy *s;
	struct beacon b;		/* SMART, FIXED: what they sent */
	struct beacon_smart sb;
};

static void
sender_init(struct sender *x, const struct strategy *s)
{
	x->s = s;
	beacon_init(&x->b);
	beacon_smart_init(&x->sb);
	if (s->kind == OURS)
		posout_init(&po, "unit", true);
}

/* A send at f? Its payload into p, its length, and what the receivers decode into got[0..*n-1]. */
static ssize_t
sender_step(struct sender *x, const struct fix *f, uint8_t *p, size_t cap, struct fix *got, int *n)
{
	int64_t now = f->time_ms + 300;		/* the bundle is made a moment after the fix */
	struct fix one;
	ssize_t len;

	switch (x->s->kind) {
	case OURS:
		if (!posout_offer(&po, f, &x->s->rule))
			return 0;
		len = posout_build(&po, true, false, now, p, cap);
		fatal_if(len <= 0, "posout_build failed");
		posout_sent(&po, "ipn:12.3 1 1");
		memcpy(got, posout_built(&po, n), (size_t)po.n_next * sizeof(*got));
		return len;
	case SMART:
		if (!beacon_smart_due(&x->sb, f, f->time_ms))
			return 0;
		break;
	case FIXED:
	default:
		if (!beacon_fixed_due(&x->b, f->time_ms, x->s->every_ms))
			return 0;
		break;
	}
	one = *f;
	if (!x->s->motion)
		one.speed = one.course = NAN;
	len = posfmt_encode(&one, 1, now, NULL, p, cap);
	fatal_if(len <= 0, "cannot encode a fix");
	fatal_if(posfmt_decode(p, (size_t)len, now, got, 1, NULL, 0) != 1, "cannot decode a fix");
	*n = 1;
	beacon_sent(&x->b, got);
	beacon_smart_sent(&x->sb, f, f->time_ms);
	return len;
}

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The command center's track: every fix received, in time order. */
static struct fix *rx;
static int n_rx, rx_cap;

static void
rx_add(const struct fix *f, struct beacon *live)
{
	if (n_rx > 0 && f->time_ms <= rx[n_rx - 1].time_ms) {
		if (f->time_ms == rx[n_rx - 1].time_ms)
			rx[n_rx - 1] = *f;
		return;
	}
	fatal_if(n_rx == rx_cap, "too many fixes received");
	rx[n_rx++] = *f;
	beacon_sent(live, f);
}

/* The received fixes joined by lines against the true track, up to the last one received. */
static double
history_error(const struct fix *fx, int n)
{
	double worst = 0;
	int j = 0;

	for (int i = 0; i < n && n_rx > 0; i++) {
		double d;

		if (fx[i].time_ms < rx[0].time_ms)
			continue;
		if (fx[i].time_ms > rx[n_rx - 1].time_ms)
			break;
		while (j + 1 < n_rx && rx[j + 1].time_ms < fx[i].time_ms)
			j++;
		d = j + 1 < n_rx ? geo_segment_distance(fx[i].lat, fx[i].lon, rx[j].lat, rx[j].lon, rx[j + 1].lat,
		    rx[j + 1].lon) : geo_distance(fx[i].lat, fx[i].lon, rx[j].lat, rx[j].lon);
		if (d > worst)
			worst = d;
	}
	return worst;
}

static void
simulate(const struct strategy *s, const struct fix *fx, int n, struct result *r)
{
	struct fix got[POSFMT_MAX_FIXES];
	struct sender x;
	struct beacon live;
	uint8_t p[512];
	double sum = 0, t0;
	int m = 0;

	memset(r, 0, sizeof(*r));
	n_rx = 0;
	sender_init(&x, s);
	beacon_init(&live);
	for (int i = 0; i < n; i++) {
		const struct fix *f = &fx[i];
		ssize_t len = sender_step(&x, f, p, sizeof(p), got, &m);
		double lat, lon, e;

		if (len > 0) {
			r->bytes += (double)on_air(p, (size_t)len, r->sends, f->time_ms + 300);
			r->payload += (double)len;
			r->sends++;
			for (int k = 0; k < m; k++)
				rx_add(&got[k], &live);
		}
		if (!beacon_predict(&live, f->time_ms, &lat, &lon))
			continue;
		e = geo_distance(lat, lon, f->lat, f->lon);
		sum += e;
		if (e > r->live_max)
			r->live_max = e;
		e = geo_distance(rx[n_rx - 1].lat, rx[n_rx - 1].lon, f->lat, f->lon);
		if (e > r->hold_max)
			r->hold_max = e;
	}
	r->live_mean = sum / n;
	r->received = (unsigned)n_rx;
	r->hist_max = history_error(fx, n);

	/* CPU: the sender's part alone, over and over. */
	t0 = cpu_s();
	for (int round = 0; round < CPU_ROUNDS; round++) {
		sender_init(&x, s);
		for (int i = 0; i < n; i++)
			sender_step(&x, &fx[i], p, sizeof(p), got, &m);
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

static struct strategy
ours(const char *name, enum link_class cls, int motion)
{
	struct strategy s = { .kind = OURS };

	posout_rule_default(&s.rule, &conf, cls);
	if (motion >= 0) {
		s.rule.motion = motion;
		s.rule.anchor_ms = motion ? 0 : POSOUT_ANCHOR_MS;
	}
	snprintf(s.name, sizeof(s.name), "%s", name);
	return s;
}

enum {
	S_NARROW, S_NARROW_MOTION, S_NARROW_NOANCHOR, S_MESH, S_MESH_PLAIN, S_SMART, S_SMART_MOTION, S_FIXED30,
	S_BUDGET, N_S
};

static void
row(const char *scen, const struct strategy *s, const struct result *r, const struct result *sb, double hours)
{
	printf("# %-5s %-44s %5u %5u %7.0f %5.2f %6.1f %8.1f %6.1f %7.1f %8.1f %5.2f %5.2f %6.1f %7.1f\n", scen,
	    s->name, r->sends, r->received, r->bytes / hours, r->bytes / sb->bytes, r->payload / r->sends,
	    r->live_max, r->live_mean, r->hold_max, r->hist_max, r->live_max / sb->live_max,
	    r->hist_max / sb->hist_max, r->bytes / r->sends, r->cpu_us);
}

static bool any_failed;
static const char *label = "track";	/* the figures' names: bench LABEL-... */

/* A target's verdict, as every bench prints it (tests/bench/run.sh counts them). */
static const char *
met(bool ok)
{
	any_failed |= !ok;
	return ok ? "PASS" : "FAIL";
}

/* Bytes on air of ours [narrowband, mesh][without, with speed and course], over the scenarios. */
static double motion_bytes[2][2];

/* One scenario: the table and its bench lines. */
static void
scenario(const char *name, const struct fix *fx, int n)
{
	static const uint32_t mins[] = { 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 1800, 2400, 3600,
	    5400, 7200 };
	struct strategy s[N_S];
	struct result r[N_S];
	double hours = (n - 1) / 3600.0;
	const struct result *sb = &r[S_SMART];
	uint32_t budget_min = 0;
	int budget_tried = 0;

	describe(name, fx, n);
	s[S_NARROW] = ours("ours narrowband (default)", LINK_NARROWBAND, -1);
	s[S_NARROW_MOTION] = ours("ours narrowband, speed+course", LINK_NARROWBAND, 1);
	s[S_NARROW_NOANCHOR] = ours("ours narrowband, no speed, no anchor", LINK_NARROWBAND, 0);
	s[S_NARROW_NOANCHOR].rule.anchor_ms = 0;
	s[S_MESH] = ours("ours mesh (default)", LINK_MESH, -1);
	s[S_MESH_PLAIN] = ours("ours mesh, no speed+course (anchor)", LINK_MESH, 0);
	s[S_SMART] = (struct strategy){ .name = "SmartBeaconing (Direwolf defaults)", .kind = SMART };
	s[S_SMART_MOTION] = (struct strategy){ .name = "SmartBeaconing, speed+course", .kind = SMART,
	    .motion = true };
	s[S_FIXED30] = (struct strategy){ .name = "fixed 30 s", .kind = FIXED, .every_ms = 30000 };
	for (int i = 0; i < N_S - 1; i++)
		simulate(&s[i], fx, n, &r[i]);
	/*
	 * Every interval MIN MAX of those (MAX from 30 min up): of those whose
	 * bytes are SmartBeaconing's at most, the least live error; none: the
	 * fewest bytes.
	 */
	{
		struct strategy t;
		struct result q;
		bool found = false;

		for (size_t k = 0; k < sizeof(mins) / sizeof(mins[0]); k++) {
			for (size_t j = 0; j < sizeof(mins) / sizeof(mins[0]); j++) {
				if (mins[j] < mins[k] || mins[j] < 1800)
					continue;
				t = s[S_NARROW];
				t.rule.min_ms = mins[k] * 1000;
				t.rule.max_ms = mins[j] * 1000;
				snprintf(t.name, sizeof(t.name), "ours, interval narrowband %us %us", mins[k], mins[j]);
				simulate(&t, fx, n, &q);
				budget_tried++;
				if (getenv("BENCH_TRACK_ALL"))
					row(name, &t, &q, sb, hours);
				if (q.bytes <= sb->bytes ? !found || q.live_max < r[S_BUDGET].live_max :
				    !found && (budget_tried == 1 || q.bytes < r[S_BUDGET].bytes)) {
					found = found || q.bytes <= sb->bytes;
					s[S_BUDGET] = t;
					r[S_BUDGET] = q;
				}
			}
		}
	}
	budget_min = s[S_BUDGET].rule.min_ms / 1000;
	printf("# %-5s %-44s %5s %5s %7s %5s %6s %8s %6s %7s %8s %5s %5s %6s %7s\n", name, "strategy", "sends",
	    "fixes", "B/h", "xSB", "P/send", "live max", "mean", "hold", "hist max", "xSB", "xSB", "B/send",
	    "us/1000");
	for (int i = 0; i < N_S; i++)
		row(name, &s[i], &r[i], sb, hours);

	/* Speed and course per class, summed over the scenarios in main. */
	motion_bytes[0][1] += r[S_NARROW_MOTION].bytes;
	motion_bytes[0][0] += s[S_NARROW].rule.motion ? r[S_NARROW_NOANCHOR].bytes : r[S_NARROW].bytes;
	motion_bytes[1][1] += s[S_MESH].rule.motion ? r[S_MESH].bytes : r[S_MESH_PLAIN].bytes;
	motion_bytes[1][0] += s[S_MESH].rule.motion ? r[S_MESH_PLAIN].bytes : r[S_MESH].bytes;
	printf("bench %s-%s: ours at SmartBeaconing's bytes at most (interval narrowband %us %us): %.0f B/h, "
	    "ratio %.2f to SmartBeaconing's %.0f B/h; history max %.1f m (SmartBeaconing %.1f m, ratio %.2f); live "
	    "max %.1f m (SmartBeaconing %.1f m, ratio %.2f); CPU %.1f us per 1000 fixes (SmartBeaconing %.1f) "
	    "(target: ratio <= 1, history <= %.0f m) %s\n", label, name, budget_min, s[S_BUDGET].rule.max_ms / 1000,
	    r[S_BUDGET].bytes / hours, r[S_BUDGET].bytes / sb->bytes, sb->bytes / hours, r[S_BUDGET].hist_max,
	    sb->hist_max, r[S_BUDGET].hist_max / sb->hist_max, r[S_BUDGET].live_max, sb->live_max,
	    r[S_BUDGET].live_max / sb->live_max, r[S_BUDGET].cpu_us, sb->cpu_us, conf.error_m,
	    met(r[S_BUDGET].bytes <= sb->bytes && r[S_BUDGET].hist_max <= conf.error_m));
	printf("bench %s-%s-narrowband: ours with the narrowband defaults (%.0f m, %us..%us): %.0f B/h, ratio "
	    "%.2f to SmartBeaconing; history max %.1f m, live max %.1f m, mean %.1f m; fixed 30 s %.0f B/h, ratio "
	    "%.2f, history %.1f m, live %.1f m (target: history <= %.0f m) %s\n", label, name, conf.error_m,
	    s[S_NARROW].rule.min_ms / 1000, s[S_NARROW].rule.max_ms / 1000, r[S_NARROW].bytes / hours,
	    r[S_NARROW].bytes / sb->bytes, r[S_NARROW].hist_max, r[S_NARROW].live_max, r[S_NARROW].live_mean,
	    r[S_FIXED30].bytes / hours, r[S_FIXED30].bytes / sb->bytes, r[S_FIXED30].hist_max,
	    r[S_FIXED30].live_max, conf.error_m, met(r[S_NARROW].hist_max <= conf.error_m));
}

int
main(int argc, char **argv)
{
	static struct pt pts[MAX_PTS], dpts[8 * MAX_PTS];
	struct fix *walk, *drv;
	int n, nw, nd;

	track_conf_defaults(&conf);
	fatal_if(crypto_init() < 0, "libsodium does not start");
	memset(key.key, 0x42, sizeof(key.key));
	if (argc == 3 && strcmp(argv[1], "--fixes") == 0) {
		label = "track-gpsd";
		n = load_fixes(argv[2], pts, MAX_PTS);
		fatal_if(n < 100, "too few fixes in the file");
		printf("# %s: %d fixes as gpsd reported the GPX\n", argv[2], n);
	} else {
		fatal_if(argc != 1, "usage: bench_track [--fixes FILE]");
		n = load_gpx(pts, MAX_PTS);
		fatal_if(n < 100, "too few timed points in the GPX");
		printf("# %s: %d timed track points\n", GPX, n);
	}
	nw = sample(pts, n, &walk);
	nd = sample(dpts, drive(pts, n, dpts, 8 * MAX_PTS, DRIVE_SPEED, DRIVE_HOURS), &drv);
	rx_cap = nw > nd ? nw : nd;
	rx = calloc((size_t)rx_cap, sizeof(*rx));
	fatal_if(rx == NULL, "out of memory");
	printf("# columns: sends; fixes the command center has; bytes on air per hour and its ratio to "
	    "SmartBeaconing's; payload per send; live error max and mean, hold max; history max; the ratios of live "
	    "and history max to SmartBeaconing's; bytes on air per send; CPU us per 1000 fixes\n");
	scenario("walk", walk, nw);
	scenario("drive", drv, nd);
	for (int c = 0; c < 2; c++) {
		enum link_class cls = c ? LINK_MESH : LINK_NARROWBAND;
		struct posout_rule def;
		bool with = motion_bytes[c][1] < motion_bytes[c][0];
		double def_b, other_b;

		posout_rule_default(&def, &conf, cls);
		def_b = motion_bytes[c][def.motion ? 1 : 0];
		other_b = motion_bytes[c][def.motion ? 0 : 1];
		printf("bench %s-motion-%s: walk and drive, ours with speed and course %.0f B on air, without %.0f B: "
		    "%s measures fewer, the default is %s, ratio %.3f to the other (target: the default at most 2 %% "
		    "over the other) %s\n", label, link_class_name(cls), motion_bytes[c][1], motion_bytes[c][0],
		    with ? "with" : "without", def.motion ? "with" : "without", def_b / other_b,
		    met(def_b <= other_b * 1.02));
	}
	free(rx);
	free(walk);
	free(drv);
	return any_failed ? 1 : 0;
}
