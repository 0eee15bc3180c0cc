/*
 * track.c - fieldrelay-track: where every unit and drone is (track.h).
 *
 * One loop (poll) over this node's gpsd, its MAVLink endpoints and three
 * connections to fieldrelayd: one to send and ask (positions, telemetry,
 * the links, routes and flood views), one with the stream of the positions
 * and telemetry for the durable registration "track", one with the event
 * stream (links up and down, routes) that tells which class of link a
 * position must get through now.  Every position, own and received, goes
 * into the track DB; the CLI (track_cli.c) reads that file.
 *
 * The agent keeps no state the DB and the daemon's store do not hold: it
 * can be killed at any time.  When the daemon goes away the agent waits for
 * it and starts over; fixes that come meanwhile are in the DB, and the
 * newest goes out as soon as the daemon is back.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "battery.h"
#include "config_section.h"
#include "cot.h"
#include "drone.h"
#include "fieldrelay.h"
#include "gpsin.h"
#include "hostport.h"
#include "linkclass.h"
#include "posfmt.h"
#include "posout.h"
#include "track.h"
#include "track_cli.h"
#include "trackdb.h"

extern const struct config_section track_config_section;

static const char usage_text[] =
"Usage: fieldrelay-track [-c CONFIG] [-v]\n"
"       fieldrelay track list | show UNIT | export ...   (see 'fieldrelay track list --help')\n"
"\n"
"The tracking agent of fieldrelay: where every team and drone is, on any link.\n"
"\n"
"It reads this node's GPS from gpsd and reports the position to every node\n"
"(the team and the command center) when the track the receivers rebuild from\n"
"the last reports (straight on at the speed and course, or along the last two)\n"
"strays from the true position by more than the configured error (25 m),\n"
"never more often than the narrowest link that is up allows, and at least\n"
"every so often when still.  Each report carries the track since the last one\n"
"within that error, and positions that wait together go as one delta-coded\n"
"batch: a position alone takes 35 bytes on a narrowband radio, framing\n"
"included.  It takes drone telemetry (MAVLink over UDP, or a tlog replayed),\n"
"keeps every position it sends and receives in the track DB (48 h by\n"
"default), sends CoT to TAK devices on the LAN, and re-emits the drones it\n"
"hears of as MAVLink for QGroundControl.\n"
"\n"
"Options:\n"
"  -c, --config FILE   the node's config file (default " FR_DEFAULT_CONFIG "):\n"
"                      the control socket and the [track] section (keys in\n"
"                      relay/track/track_config.c and the README)\n"
"      --db FILE       the track DB (default: [track] db)\n"
"  -v, --verbose       log every position sent and received\n"
"  -h, --help          this text\n"
"\n"
"Commands (read the track DB; the agent need not run):\n"
"  list                every unit's last position, and a map of them\n"
"  show UNIT           a unit's recent positions\n"
"  export --gpx|--geojson|--cot FILE [--since T]\n"
"\n"
"Exit status: 0 stopped by a signal, 1 the track DB cannot be opened,\n"
"2 bad usage or config.\n";

static bool verbose;
static volatile sig_atomic_t stopping;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
logmsg(const char *fmt, ...)
{
	char when[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld fieldrelay-track: ", when, (long)(tv.tv_usec / 1000));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define NAMES_MAX	128
#define BODY_MAX	4096	/* a position bundle is far smaller: more is not ours */
#define PRUNE_MS	(10 * 60 * 1000)
#define BATTERY_MS	(60 * 1000)

struct agent {
	struct track_conf cf;
	const char *sock;
	struct trackdb *db;
	struct gpsin *gps;
	struct cot *cot;
	struct drone *drones;
	struct posout own;
	int64_t own_sent_mono;		/* when our own position last went (monotonic) */
	struct fr *tx, *rx, *ev;	/* the session: NULL when the daemon is not there */
	uint64_t node;
	enum link_class cls;
	int links_up;
	char routes[4096];		/* the routes view, for "the link it came over" */
	bool low_battery;
	bool clock_trusted;		/* the daemon's: bundles carry its time, not 0 */
	int64_t battery_at, prune_at;
	struct { uint64_t node; char unit[64]; } names[NAMES_MAX];	/* node -> its own unit's name */
	int n_names;
	uint64_t rx_bundles, rx_fixes, rx_bad, tx_bundles;
};

/* ---- the rules of this moment ---- */

static void
rule_now(const struct agent *a, struct posout_rule *r)
{
	double k = a->low_battery ? a->cf.low_battery_factor : 1;

	posout_rule_default(r, &a->cf, a->cls);
	r->error_m *= k;
	r->min_ms = (uint32_t)fmin(r->min_ms * k, 86400e3);
	r->max_ms = (uint32_t)fmin(r->max_ms * k, 86400e3);
}

static void
check_battery(struct agent *a, int64_t now)
{
	int level;
	bool low;

	if (now < a->battery_at)
		return;
	a->battery_at = now + BATTERY_MS;
	level = battery_level(a->cf.battery, NULL);
	low = level >= 0 && level <= a->cf.low_battery;
	if (low != a->low_battery)
		logmsg("battery at %d%%: %s", level, low ? "low-battery mode (error and intervals stretched)" :
		    "normal mode again");
	a->low_battery = low;
}

/* ---- asking the daemon ---- */

static int
ask(struct agent *a, const char *op, char **reply)
{
	char req[64];

	snprintf(req, sizeof(req), "{\"op\":\"%s\"}", op);
	return fr_request(a->tx, req, reply);
}

static void
refresh_links(struct agent *a)
{
	struct linkclass_view v;
	char *reply = NULL;

	if (ask(a, "links", &reply) < 0 || linkclass_parse(reply, &v) < 0) {
		free(reply);
		return;
	}
	free(reply);
	if (v.up && (v.narrowest != a->cls || v.up != a->links_up))
		logmsg("%d link%s up, the narrowest %s (%s): a report every %.1f s at most often, every %.0f s at least",
		    v.up, v.up == 1 ? "" : "s", v.narrowest_link, link_class_name(v.narrowest),
		    a->cf.interval[v.narrowest].min_ms / 1000.0, a->cf.interval[v.narrowest].max_ms / 1000.0);
	/* No link up: keep the last class, the bundle waits in the store for one. */
	if (v.up)
		a->cls = v.narrowest;
	drone_set_class(a->drones, a->cls);
	a->links_up = v.up;
}

static void
refresh_clock(struct agent *a)
{
	char *reply = NULL;

	if (ask(a, "status", &reply) == 0)
		a->clock_trusted = linkclass_clock_trusted(reply);
	free(reply);
}

static void
refresh_routes(struct agent *a)
{
	char *reply = NULL;

	if (ask(a, "routes", &reply) == 0 && strlen(reply) < sizeof(a->routes))
		snprintf(a->routes, sizeof(a->routes), "%s", reply);
	free(reply);
}

/* Has a neighbour taken the bundle id?  When we cannot tell: no (carry its fixes again). */
static bool
taken(struct agent *a, const char *id)
{
	char *reply = NULL;
	int r;

	if (id[0] == '\0')
		return true;
	if (ask(a, "flood", &reply) < 0) {
		free(reply);
		return false;
	}
	r = linkclass_flood_taken(reply, id);
	free(reply);
	return r == 1;
}

/* ---- reporting ---- */

/*
 * Send a unit's report.  0 (sent or refused: the fix stays the newest and goes
 * with the next), -errno when the daemon is gone.
 */
static int
report(struct agent *a, struct posout *p, bool heartbeat)
{
	uint8_t payload[512];
	char id[384], key[96];
	struct fr_send s = { .dst = a->cf.to, .service = TRACK_SERVICE, .priority = "position",
	    .lifetime = a->cf.keep_s };
	/* Our own name goes along where bytes are cheap, at first and with each heartbeat. */
	bool name = !p->own || a->cls <= LINK_IP || p->sent == 0 || heartbeat;
	ssize_t n;
	int r;

	if (a->tx == NULL)
		return 0;
	if (!p->own) {
		snprintf(key, sizeof(key), "track:%s", p->unit);
		s.supersede = key;
	}
	/* The daemon stamps bundles with its clock, or 0 when it has none it trusts. */
	n = posout_build(p, taken(a, p->last_id), name, a->clock_trusted ? now_wall_ms() : 0, payload, sizeof(payload));
	if (n < 0) {
		logmsg("%s: cannot encode the position: %s", p->unit, strerror((int)-n));
		return 0;
	}
	r = fr_send(a->tx, &s, payload, -1, (uint64_t)n, id, sizeof(id));
	if (r == -EREMOTEIO) {
		logmsg("%s: position refused by fieldrelayd: %s", p->unit, fr_error(a->tx));
		return 0;
	}
	if (r < 0)
		return r;
	posout_sent(p, id);
	if (p == &a->own)
		a->own_sent_mono = now_mono_ms();
	a->tx_bundles++;
	if (verbose) {
		time_t t = (time_t)(p->last.time_ms / 1000);
		char when[32];
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		logmsg("%s: %d fix%s in %zd bytes (%s, fix of %s.%03dZ, %s) as %s", p->unit, p->n_batch,
		    p->n_batch == 1 ? "" : "es", n, p->last.stale ? "stale" : heartbeat ? "heartbeat" : "moved", when,
		    (int)(p->last.time_ms % 1000), link_class_name(a->cls), id);
	}
	return 0;
}

static void
remember(struct agent *a, const char *unit, uint64_t node, const char *link, const struct fix *f)
{
	struct track_row row;
	int r = trackdb_add(a->db, unit, node, link, f, now_wall_ms());

	if (r < 0)
		logmsg("track DB: %s: %s", unit, trackdb_error(a->db));
	if (a->cot == NULL || r <= 0)
		return;
	memset(&row, 0, sizeof(row));
	snprintf(row.unit, sizeof(row.unit), "%s", unit);
	row.node = node;
	snprintf(row.link, sizeof(row.link), "%s", link);
	row.fix = *f;
	row.recv_ms = now_wall_ms();
	cot_send(a->cot, &row);
}

static int session_error;

static void
own_fix(void *arg, const struct fix *f)
{
	struct agent *a = arg;
	struct posout_rule r;

	remember(a, a->own.unit, 0, "", f);
	rule_now(a, &r);
	if (posout_offer(&a->own, f, &r) && session_error == 0)
		session_error = report(a, &a->own, false);
}

static void
gps_log(void *arg, const char *msg)
{
	(void)arg;
	logmsg("%s", msg);
}

/* A drone's position (drone.c): into the DB, and reported like our own. */
static void
drone_fix(void *arg, struct posout *p, const struct fix *f)
{
	struct agent *a = arg;
	struct posout_rule r;

	remember(a, p->unit, 0, "", f);
	rule_now(a, &r);
	if (posout_offer(p, f, &r) && session_error == 0)
		session_error = report(a, p, false);
}

/* Drone telemetry to send (drone.c): MAVLink frames or a summary. */
static void
drone_telemetry(void *arg, const uint8_t *data, size_t len)
{
	struct agent *a = arg;
	struct fr_send s = { .dst = a->cf.telemetry_to, .service = TRACK_TELEMETRY_SERVICE,
	    .priority = "telemetry", .lifetime = 600, .supersede = "" };
	char id[384];
	int r;

	if (a->tx == NULL || a->cf.telemetry_to[0] == '\0' || session_error)
		return;
	r = fr_send(a->tx, &s, data, -1, len, id, sizeof(id));
	if (r == -EREMOTEIO)
		logmsg("telemetry refused by fieldrelayd: %s", fr_error(a->tx));
	else if (r < 0)
		session_error = r;
}

/* ---- what comes in ---- */

static void
name_learn(struct agent *a, uint64_t node, const char *unit)
{
	int i;

	for (i = 0; i < a->n_names && a->names[i].node != node; i++)
		;
	if (i == a->n_names) {
		if (a->n_names == NAMES_MAX)
			i = (int)(node % NAMES_MAX);
		else
			a->n_names++;
	}
	a->names[i].node = node;
	snprintf(a->names[i].unit, sizeof(a->names[i].unit), "%s", unit);
}

/* The name of node's own unit: learnt from its reports, the track DB, or "ipn:N". */
static void
name_of(struct agent *a, uint64_t node, char *unit, size_t cap)
{
	for (int i = 0; i < a->n_names; i++)
		if (a->names[i].node == node) {
			snprintf(unit, cap, "%s", a->names[i].unit);
			return;
		}
	if (trackdb_unit_of(a->db, node, unit, cap) == 0) {
		name_learn(a, node, unit);
		return;
	}
	snprintf(unit, cap, "ipn:%" PRIu64, node);
}

#define DTN_EPOCH_UNIX_MS	946684800000LL	/* 2000-01-01T00:00:00Z */

/*
 * What a position's time is told against: the bundle's creation time (its id
 * is "SOURCE CTIME SEQ", DTN ms), or when the sender had no clock it
 * trusted (CTIME 0) the time it came here.
 */
static int64_t
bundle_time(const struct fr_bundle *b)
{
	const char *sp = strchr(b->id, ' ');
	unsigned long long ct;

	if (sp && sscanf(sp + 1, "%llu", &ct) == 1 && ct > 0 && ct < (1ULL << 52))
		return (int64_t)ct + DTN_EPOCH_UNIX_MS;
	return (int64_t)b->received;
}

struct body {
	uint8_t p[BODY_MAX];
	size_t len;
	bool over;
};

static int
body_sink(void *arg, const void *data, size_t len)
{
	struct body *b = arg;

	if (b->len + len > sizeof(b->p)) {
		b->over = true;
		return 0;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static void
take_positions(struct agent *a, const struct fr_bundle *b, const struct body *body)
{
	struct fix fixes[POSFMT_MAX_FIXES];
	unsigned long long node = 0, svc;
	char unit[64] = "", link[32] = "";
	int n;

	if (sscanf(b->src, "ipn:%llu.%llu", &node, &svc) != 2 || node == 0) {
		a->rx_bad++;
		logmsg("%s: a position from %s, which is no node: dropped", b->id, b->src);
		return;
	}
	if (node == a->node)
		return;		/* our own, flooded back: in the DB already */
	n = body->over ? -EBADMSG : posfmt_decode(body->p, body->len, bundle_time(b), fixes, POSFMT_MAX_FIXES,
	    unit, sizeof(unit));
	if (n <= 0) {
		a->rx_bad++;
		logmsg("%s: %zu bytes from %s are not positions: dropped", b->id, body->len, b->src);
		return;
	}
	if (unit[0] && fixes[0].kind != FIX_DRONE)
		name_learn(a, node, unit);
	else if (unit[0] == '\0')
		name_of(a, node, unit, sizeof(unit));
	if (linkclass_route_link(a->routes, node, link, sizeof(link)) < 0)
		link[0] = '\0';
	trackdb_begin(a->db);
	for (int i = 0; i < n; i++) {
		/* The air carries no source: a drone's position is its MAVLink's. */
		if (fixes[i].kind == FIX_DRONE)
			fixes[i].source = FIX_MAVLINK;
		remember(a, unit, node, link, &fixes[i]);
	}
	trackdb_commit(a->db);
	a->rx_fixes += (uint64_t)n;
	if (verbose)
		logmsg("%s: %d fix%s of %s from ipn:%llu over %s", b->id, n, n == 1 ? "" : "es", unit, node,
		    link[0] ? link : "?");
}

/* The next bundle of the stream: positions or telemetry.  0, or -errno (the session ends). */
static int
take_bundle(struct agent *a, struct fr *rx, bool telemetry)
{
	static struct body body;
	struct fr_bundle b;
	int r;

	if ((r = fr_recv_next(rx, &b)) <= 0)
		return r < 0 ? r : -EPIPE;
	body.len = 0;
	body.over = false;
	if ((r = fr_recv_body(rx, &b, body_sink, &body)) < 0)
		return r;
	a->rx_bundles++;
	if (telemetry)
		drone_received(a->drones, b.src, body.p, body.over ? 0 : body.len);
	else
		take_positions(a, &b, &body);
	return fr_ack(rx, b.rowid);
}

static int
take_event(struct agent *a)
{
	struct fr_event ev;
	int r;

	while ((r = fr_next(a->ev, &ev, 0)) == 1) {
		if (ev.kind == FR_EV_LINK_UP || ev.kind == FR_EV_LINK_DOWN)
			refresh_links(a);
		else if (ev.kind == FR_EV_ROUTE || ev.kind == FR_EV_NEIGHBOUR_UP)
			refresh_routes(a);
	}
	return r;
}

/* ---- the session with the daemon ---- */

static void
session_close(struct agent *a)
{
	fr_close(a->tx);
	fr_close(a->rx);
	fr_close(a->ev);
	a->tx = a->rx = a->ev = NULL;
}

static int
session_open(struct agent *a)
{
	char err[512];
	struct fr_hello h;
	int r;

	if ((a->tx = fr_open_wait(a->sock, FR_TIMEOUT_MS, 1000, err, sizeof(err))) == NULL)
		return -errno;
	if ((a->rx = fr_open(a->sock, FR_TIMEOUT_MS, err, sizeof(err))) == NULL ||
	    (a->ev = fr_open(a->sock, FR_TIMEOUT_MS, err, sizeof(err))) == NULL) {
		logmsg("%s", err);
		session_close(a);
		return -EPIPE;
	}
	if ((r = fr_hello(a->tx, "fieldrelay-track", &h)) < 0 || (r = fr_hello(a->rx, "fieldrelay-track", NULL)) < 0 ||
	    (r = fr_recv_start(a->rx, TRACK_SERVICE, TRACK_NAME, 0, true)) < 0 ||
	    (r = fr_watch(a->ev, FR_WATCH_EVENTS)) < 0) {
		logmsg("fieldrelayd: %s", fr_error(a->tx)[0] ? fr_error(a->tx) : fr_error(a->rx));
		session_close(a);
		return r;
	}
	fr_set_timeout(a->rx, FR_TIMEOUT_MS);
	a->node = h.node;
	if (a->own.unit[0] == '\0')
		snprintf(a->own.unit, sizeof(a->own.unit), "%s", a->cf.unit[0] ? a->cf.unit : h.name);
	drone_set_node(a->drones, h.node, a->own.unit);
	refresh_links(a);
	refresh_routes(a);
	refresh_clock(a);
	logmsg("tracking %s from ipn:%" PRIu64 " to %s (fieldrelayd %s); positions for '%s' on service %d",
	    a->own.unit, a->node, a->cf.to, h.version, TRACK_NAME, TRACK_SERVICE);
	return 0;
}

/* The stream of telemetry for the ground station, on its own connection. */
static struct fr *
telemetry_stream(struct agent *a)
{
	char err[512];
	struct fr *c;

	if ((c = fr_open(a->sock, FR_TIMEOUT_MS, err, sizeof(err))) == NULL)
		return NULL;
	if (fr_recv_start(c, TRACK_TELEMETRY_SERVICE, TRACK_NAME, 0, true) < 0) {
		logmsg("telemetry stream: %s", fr_error(c));
		fr_close(c);
		return NULL;
	}
	return c;
}

static int
poll_timeout(struct agent *a, int64_t now)
{
	int64_t d = now + 1000;		/* the battery, heartbeats, pruning: a second is soon enough */
	int64_t g = a->gps ? gpsin_deadline(a->gps) : INT64_MAX;
	int64_t m = drone_deadline(a->drones);

	if (g < d)
		d = g;
	if (m < d)
		d = m;
	return d <= now ? 0 : (int)(d - now);
}

/* Housekeeping at least once a second. */
static void
tick(struct agent *a, int64_t now)
{
	struct posout_rule r;

	if (now >= a->battery_at && a->tx)
		refresh_clock(a);	/* a clock set from the GPS becomes trusted */
	check_battery(a, now);
	if (a->gps)
		gpsin_tick(a->gps, now);
	drone_tick(a->drones, now);
	if (now >= a->prune_at) {
		int n = trackdb_prune(a->db, now_wall_ms() - (int64_t)a->cf.keep_s * 1000);

		if (n > 0)
			logmsg("track DB: %d position%s older than %u h removed", n, n == 1 ? "" : "s",
			    a->cf.keep_s / 3600);
		a->prune_at = now + PRUNE_MS;
	}
	/*
	 * No fix for a while (gpsd gone, or stale): the newest fix again, at the
	 * heartbeat's pace, by our clock since the fix's may have stopped.
	 */
	rule_now(a, &r);
	if (a->own.have_last && a->own.sent && session_error == 0 && now - a->own_sent_mono >= (int64_t)r.max_ms)
		session_error = report(a, &a->own, true);
}

enum { P_GPS, P_RX, P_TEL, P_EV, P_MAV };
#define MAX_FDS		(P_MAV + TRACK_MAX_MAVLINK * 2 + 2)

/* One session: until the daemon goes away or a signal stops us. */
static void
serve(struct agent *a)
{
	struct pollfd pf[MAX_FDS];
	struct fr *tel;
	int r = 0;

	if (session_open(a) < 0) {
		sleep(1);
		return;
	}
	tel = telemetry_stream(a);
	session_error = 0;
	while (!stopping && session_error == 0) {
		int64_t now = now_mono_ms();
		int n = P_MAV;

		pf[P_GPS] = (struct pollfd){ .fd = a->gps ? gpsin_fd(a->gps) : -1, .events = POLLIN };
		pf[P_RX] = (struct pollfd){ .fd = fr_fd(a->rx), .events = POLLIN };
		pf[P_TEL] = (struct pollfd){ .fd = tel ? fr_fd(tel) : -1, .events = POLLIN };
		pf[P_EV] = (struct pollfd){ .fd = fr_fd(a->ev), .events = POLLIN };
		n += drone_pollfds(a->drones, pf + P_MAV, MAX_FDS - P_MAV);
		/* The library may hold a message read ahead: then do not wait. */
		int t = fr_poll(a->rx, 0) == 1 || fr_poll(a->ev, 0) == 1 || (tel && fr_poll(tel, 0) == 1) ? 0 :
		    poll_timeout(a, now);
		if (poll(pf, (nfds_t)n, t) < 0 && errno != EINTR)
			break;
		now = now_mono_ms();
		if (pf[P_GPS].revents)
			gpsin_read(a->gps, now);
		while (session_error == 0 && (r = fr_poll(a->rx, 0)) == 1)
			session_error = take_bundle(a, a->rx, false);
		if (r < 0)
			session_error = r;
		while (tel && session_error == 0 && (r = fr_poll(tel, 0)) == 1)
			session_error = take_bundle(a, tel, true);
		if (session_error == 0 && (r = take_event(a)) < 0)
			session_error = r;
		drone_read(a->drones, pf + P_MAV, n - P_MAV, now);
		tick(a, now);
	}
	if (!stopping)
		logmsg("fieldrelayd: %s; waiting for it to come back", strerror(-session_error));
	fr_close(tel);
	session_close(a);
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
run(struct agent *a)
{
	struct gpsin_ops gops = { own_fix, gps_log };
	struct drone_ops dops = { drone_fix, drone_telemetry, gps_log };
	char err[512];

	if ((a->db = trackdb_open(a->cf.db, false, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fieldrelay-track: %s\n", err);
		return 1;
	}
	if (a->cf.gpsd[0] && (a->gps = gpsin_new(a->cf.gpsd, &gops, a)) == NULL) {
		fprintf(stderr, "fieldrelay-track: gpsd = %s: not HOST:PORT\n", a->cf.gpsd);
		trackdb_close(a->db);
		return 2;
	}
	struct cot_opts co = { .ttl = 1, .stale_s = a->cf.cot_stale_s };

	if (a->cf.cot[0] && (a->cot = cot_new(a->cf.cot, &co, err, sizeof(err))) == NULL)
		logmsg("cot = %s: %s; no CoT", a->cf.cot, err);
	if ((a->drones = drone_new(&a->cf, &dops, a, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fieldrelay-track: %s\n", err);
		gpsin_free(a->gps);
		trackdb_close(a->db);
		return 2;
	}
	posout_init(&a->own, "", true);
	check_battery(a, now_mono_ms());
	while (!stopping)
		serve(a);
	logmsg("stopping: %" PRIu64 " reports sent, %" PRIu64 " fixes received in %" PRIu64 " bundles (%" PRIu64
	    " not positions)", a->tx_bundles, a->rx_fixes, a->rx_bundles, a->rx_bad);
	drone_free(a->drones);
	cot_free(a->cot);
	gpsin_free(a->gps);
	trackdb_close(a->db);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "db", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct agent a;
	const char *config = NULL, *socket = NULL, *db = NULL;
	struct fr_conf *conf;
	bool json = false;
	char err[1024];
	int ch, ret;

	while ((ch = getopt_long(argc, argv, "+c:s:t:jvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 's':
			socket = optarg;
			break;
		case 't':
			break;		/* the CLI's --timeout: the commands do not wait for anything */
		case 'j':
			json = true;
			break;
		case 'd':
			db = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs("Try 'fieldrelay-track --help'.\n", stderr);
			return 2;
		}
	}
	if ((conf = fr_conf_load(config, "track", err, sizeof(err))) == NULL) {
		fprintf(stderr, "fieldrelay-track: %s\n", err);
		return 2;
	}
	track_conf_defaults(&a.cf);
	if (fr_conf_each(conf, track_config_section.set, &a.cf, err, sizeof(err)) < 0) {
		fprintf(stderr, "fieldrelay-track: %s\n", err);
		fr_conf_free(conf);
		return 2;
	}
	if (optind < argc) {
		/* A command: `fieldrelay track list` runs us as `fieldrelay-track [--json] list`. */
		char **av = calloc((size_t)(argc - optind + 3), sizeof(*av));
		int n = 0;

		if (av == NULL)
			return 1;
		av[n++] = "fieldrelay track";
		for (int i = optind; i < argc; i++)
			av[n++] = argv[i];
		if (json)
			av[n++] = "--json";
		ret = track_cli_main(n, av, db ? db : a.cf.db);
		free(av);
		fr_conf_free(conf);
		return ret;
	}
	a.sock = socket ? socket : fr_conf_socket(conf);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (db)
		snprintf(a.cf.db, sizeof(a.cf.db), "%s", db);
	ret = run(&a);
	fr_conf_free(conf);
	return ret;
}
