/*
 * track_config.c - the [track] section of the node's config file
 * (relay/base/config_section.h): checked by fieldrelayd -n and fieldrelay
 * config-check, read by fieldrelay-track.  Linked into the daemon too, so it
 * uses libc alone.
 *
 *   [track]
 *   gpsd = localhost:2947      the gpsd to read this node's GPS from ("none": no GPS)
 *   unit = Team 3              the name shown for this node (default: the node's name)
 *   db = /var/lib/fieldrelay/track.db
 *   keep = 48h                 history kept in the track DB
 *   error = 25m                the largest error the receivers' rebuilt track may have
 *   interval = CLASS MIN MAX   per link class (mesh, ip, satellite, narrowband):
 *                              never closer than MIN, at least every MAX (repeats)
 *   battery = auto             /sys/class/power_supply, a file holding a percentage, or none
 *   low_battery = 20           percent at or below which error and intervals stretch
 *   low_battery_factor = 3     by this much
 *   to = ipn:0.3               where positions go (everyone: the team and the command center)
 *   telemetry_to = ipn:1.6     where drone telemetry goes (MAVLink on the mesh, summaries
 *                              elsewhere): the ground station or command center ("none": off)
 *   cot = 239.2.3.1:6969       CoT SA multicast for TAK devices on this LAN ("none": off)
 *   cot_stale = 120s           a CoT event goes stale this long after its time
 *   mavlink = listen :14550    a MAVLink endpoint: listen [HOST]:PORT, connect HOST:PORT,
 *                              or tlog FILE [SPEED] (replayed at its own pace, or SPEED
 *                              times faster: 10 plays 10 minutes of flight in one;
 *                              0.01 .. 1000, default 1) (repeats)
 *   mavlink_out = HOST:PORT    re-emit drones heard over fieldrelay as MAVLink (repeats)
 *   rate = CLASS MSG HZ        MAVLink message MSG (name or id) at most HZ a second on
 *                              links of CLASS, over the defaults (repeats)
 *   summary = 60s              on satellite and narrowband: a drone summary this often
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_section.h"
#include "track.h"

static const char *const class_names[LINK_CLASS_COUNT] = { "mesh", "ip", "satellite", "narrowband" };

const char *
link_class_name(enum link_class c)
{
	return (unsigned)c < LINK_CLASS_COUNT ? class_names[c] : "unknown";
}

int
link_class_parse(const char *s)
{
	for (int i = 0; i < LINK_CLASS_COUNT; i++)
		if (strcasecmp(s, class_names[i]) == 0)
			return i;
	return -1;
}

/* The MAVLink messages a rate may name (common.xml ids). */
static const struct { const char *name; uint32_t id; } msg_names[] = {
	{ "HEARTBEAT", 0 }, { "SYS_STATUS", 1 }, { "GPS_RAW_INT", 24 }, { "ATTITUDE", 30 },
	{ "GLOBAL_POSITION_INT", 33 }, { "VFR_HUD", 74 }, { "BATTERY_STATUS", 147 },
	{ "HIGH_LATENCY2", 235 }, { "STATUSTEXT", 253 },
};

/* A message name or id: its id, or -1. */
static long
msgid_parse(const char *s)
{
	char *end;

	for (size_t i = 0; i < sizeof(msg_names) / sizeof(msg_names[0]); i++)
		if (strcasecmp(s, msg_names[i].name) == 0)
			return msg_names[i].id;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v > 0xffffff)
		return -1;
	return v;
}

void
track_conf_defaults(struct track_conf *c)
{
	/* Per class: MIN, MAX in seconds. */
	static const uint32_t iv[LINK_CLASS_COUNT][2] = {
		[LINK_MESH] = { 5, 300 }, [LINK_IP] = { 10, 600 },
		[LINK_SATELLITE] = { 60, 1800 }, [LINK_NARROWBAND] = { 30, 1800 },
	};

	memset(c, 0, sizeof(*c));
	snprintf(c->gpsd, sizeof(c->gpsd), "localhost:2947");
	snprintf(c->db, sizeof(c->db), "%s", TRACK_DB_DEFAULT);
	c->keep_s = 48 * 3600;
	c->error_m = 25;
	for (int i = 0; i < LINK_CLASS_COUNT; i++) {
		c->interval[i].min_ms = iv[i][0] * 1000;
		c->interval[i].max_ms = iv[i][1] * 1000;
	}
	snprintf(c->battery, sizeof(c->battery), "auto");
	c->low_battery = 20;
	c->low_battery_factor = 3;
	snprintf(c->to, sizeof(c->to), "ipn:0.%d", TRACK_SERVICE);
	c->cot_stale_s = 120;
	c->summary_ms = 60 * 1000;
}

/* "90", "90s", "15m", "48h", "2d": milliseconds in *ms (at most max_s seconds). */
static int
duration_parse(const char *s, uint64_t max_s, uint64_t *ms)
{
	char *end;
	double v, unit = 1000;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !(v >= 0) || *s == '-' || *s == '+')
		return -1;
	if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		unit = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		unit = 60e3;
	else if (strcmp(end, "h") == 0)
		unit = 3600e3;
	else if (strcmp(end, "d") == 0)
		unit = 86400e3;
	else
		return -1;
	if (v * unit > (double)max_s * 1000)
		return -1;
	*ms = (uint64_t)llround(v * unit);
	return 0;
}

/* "25", "25m", "1.5km": metres. */
static int
distance_parse(const char *s, double *m)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !(v > 0) || !isfinite(v))
		return -1;
	if (strcmp(end, "km") == 0)
		v *= 1000;
	else if (strcmp(end, "") != 0 && strcmp(end, "m") != 0)
		return -1;
	if (v > 100000)
		return -1;
	*m = v;
	return 0;
}

/* HOST:PORT (HOST may be empty when empty_host, [v6]:PORT allowed). */
static int
hostport_check(const char *s, int empty_host)
{
	const char *colon = strrchr(s, ':');
	char *end;

	if (!colon || (colon == s && !empty_host))
		return -1;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port < 1 || port > 65535)
		return -1;
	return 0;
}

static int
copy_value(char *dst, size_t cap, const char *value, const char *key, char *msg, size_t msglen)
{
	if (strlen(value) >= cap) {
		snprintf(msg, msglen, "%s: longer than %zu characters", key, cap - 1);
		return -1;
	}
	snprintf(dst, cap, "%s", value);
	return 0;
}

/* HOST:PORT, or "none" (kept as ""), for key into dst. */
static int
set_hostport_or_none(char *dst, size_t cap, const char *key, const char *value, const char *example, char *msg,
    size_t msglen)
{
	if (strcmp(value, "none") == 0) {
		dst[0] = '\0';
		return 0;
	}
	if (hostport_check(value, 0) < 0) {
		snprintf(msg, msglen, "%s: '%s' is not HOST:PORT (e.g. %s) or none", key, value, example);
		return -1;
	}
	return copy_value(dst, cap, value, key, msg, msglen);
}

/* Split value into at most n words (in buf); their count. */
static int
words(const char *value, char *buf, size_t cap, char **w, int n)
{
	int k = 0;

	snprintf(buf, cap, "%s", value);
	for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (k == n)
			return n + 1;
		w[k++] = t;
	}
	return k;
}

static int
set_interval(struct track_conf *c, const char *value, char *msg, size_t msglen)
{
	char buf[256], *w[3];
	uint64_t lo, hi;
	int cls;

	if (words(value, buf, sizeof(buf), w, 3) != 3 || (cls = link_class_parse(w[0])) < 0 ||
	    duration_parse(w[1], 86400, &lo) < 0 || duration_parse(w[2], 86400, &hi) < 0 || hi < lo || hi == 0) {
		snprintf(msg, msglen, "interval: '%s' is not CLASS MIN MAX (CLASS mesh, ip, satellite or "
		    "narrowband; MIN <= MAX, durations up to 1d, e.g. narrowband 30s 30m)", value);
		return -1;
	}
	c->interval[cls].min_ms = (uint32_t)lo;
	c->interval[cls].max_ms = (uint32_t)hi;
	return 0;
}

static int
set_mavlink(struct track_conf *c, const char *value, char *msg, size_t msglen)
{
	char buf[512], *w[3], *end;
	struct track_mav_endpoint *e;
	int n;

	if (c->n_mavlink == TRACK_MAX_MAVLINK) {
		snprintf(msg, msglen, "mavlink: at most %d endpoints", TRACK_MAX_MAVLINK);
		return -1;
	}
	e = &c->mavlink[c->n_mavlink];
	n = words(value, buf, sizeof(buf), w, 3);
	if (n < 2 || n > 3 || strlen(w[1]) >= sizeof(e->addr))
		goto bad;
	e->speed = 1;
	if (n == 2 && strcmp(w[0], "listen") == 0 && hostport_check(w[1], 1) == 0)
		e->kind = MAV_LISTEN;
	else if (n == 2 && strcmp(w[0], "connect") == 0 && hostport_check(w[1], 0) == 0)
		e->kind = MAV_CONNECT;
	else if (strcmp(w[0], "tlog") == 0)
		e->kind = MAV_TLOG;
	else
		goto bad;
	if (n == 3) {
		errno = 0;
		e->speed = strtod(w[2], &end);
		if (end == w[2] || *end || errno || !(e->speed >= 0.01) || e->speed > 1000) {
			snprintf(msg, msglen, "mavlink: tlog %s: speed '%s' is not a factor from 0.01 to 1000 "
			    "(1: as recorded, 10: ten times faster)", w[1], w[2]);
			return -1;
		}
	}
	snprintf(e->addr, sizeof(e->addr), "%s", w[1]);
	c->n_mavlink++;
	return 0;
bad:
	snprintf(msg, msglen, "mavlink: '%s' is not 'listen [HOST]:PORT', 'connect HOST:PORT' or 'tlog FILE [SPEED]'",
	    value);
	return -1;
}

static int
set_rate(struct track_conf *c, const char *value, char *msg, size_t msglen)
{
	char buf[256], *w[3], *end;
	int cls;
	long id;
	double hz;

	if (c->n_rate == TRACK_MAX_RATES) {
		snprintf(msg, msglen, "rate: at most %d rates", TRACK_MAX_RATES);
		return -1;
	}
	if (words(value, buf, sizeof(buf), w, 3) != 3 || (cls = link_class_parse(w[0])) < 0 ||
	    (id = msgid_parse(w[1])) < 0)
		goto bad;
	errno = 0;
	hz = strtod(w[2], &end);
	if (end == w[2] || *end || errno || !(hz >= 0) || hz > 100)
		goto bad;
	c->rate[c->n_rate++] = (struct track_rate){ .cls = cls, .msgid = (uint32_t)id, .hz = hz };
	return 0;
bad:
	snprintf(msg, msglen, "rate: '%s' is not CLASS MSG HZ (e.g. mesh ATTITUDE 2; MSG a message name or id, "
	    "HZ 0 .. 100, 0 for never)", value);
	return -1;
}

static int
track_set(void *conf, const char *key, const char *value, char *msg, size_t msglen)
{
	struct track_conf *c = conf;
	uint64_t ms;
	char *end;

	if (c->db[0] == '\0')
		track_conf_defaults(c);	/* the parser hands us zeroes */
	if (strcmp(key, "gpsd") == 0)
		return set_hostport_or_none(c->gpsd, sizeof(c->gpsd), key, value, "localhost:2947", msg, msglen);
	if (strcmp(key, "unit") == 0)
		return copy_value(c->unit, sizeof(c->unit), value, key, msg, msglen);
	if (strcmp(key, "db") == 0) {
		if (*value == '\0') {
			snprintf(msg, msglen, "db: the track DB's path is empty");
			return -1;
		}
		return copy_value(c->db, sizeof(c->db), value, key, msg, msglen);
	}
	if (strcmp(key, "keep") == 0) {
		if (duration_parse(value, 366u * 86400, &ms) < 0 || ms < 60000) {
			snprintf(msg, msglen, "keep: '%s' is not a duration from 1m to 366d (e.g. 48h)", value);
			return -1;
		}
		c->keep_s = (uint32_t)(ms / 1000);
		return 0;
	}
	if (strcmp(key, "error") == 0) {
		if (distance_parse(value, &c->error_m) < 0) {
			snprintf(msg, msglen, "error: '%s' is not a distance above 0 and up to 100km (e.g. 25m)", value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "interval") == 0)
		return set_interval(c, value, msg, msglen);
	if (strcmp(key, "battery") == 0) {
		if (strcmp(value, "none") == 0) {
			c->battery[0] = '\0';
			return 0;
		}
		return copy_value(c->battery, sizeof(c->battery), value, key, msg, msglen);
	}
	if (strcmp(key, "low_battery") == 0) {
		long v = strtol(value, &end, 10);

		if (*value < '0' || *value > '9' || *end || v > 100) {
			snprintf(msg, msglen, "low_battery: '%s' is not a percentage (0 .. 100)", value);
			return -1;
		}
		c->low_battery = (int)v;
		return 0;
	}
	if (strcmp(key, "low_battery_factor") == 0) {
		double v = strtod(value, &end);

		if (end == value || *end || !(v >= 1) || v > 100) {
			snprintf(msg, msglen, "low_battery_factor: '%s' is not a factor from 1 to 100", value);
			return -1;
		}
		c->low_battery_factor = v;
		return 0;
	}
	if (strcmp(key, "telemetry_to") == 0) {
		unsigned long long n, sv;
		int len = 0;

		if (strcmp(value, "none") == 0) {
			c->telemetry_to[0] = '\0';
			return 0;
		}
		if (sscanf(value, "ipn:%llu.%llu%n", &n, &sv, &len) != 2 || value[len] != '\0' || n == 0) {
			snprintf(msg, msglen, "telemetry_to: '%s' is not the ipn endpoint of one node "
			    "(the ground station's or command center's, e.g. ipn:1.6), or none", value);
			return -1;
		}
		return copy_value(c->telemetry_to, sizeof(c->telemetry_to), value, key, msg, msglen);
	}
	if (strcmp(key, "to") == 0) {
		unsigned long long n, s;
		int len = 0;

		if (sscanf(value, "ipn:%llu.%llu%n", &n, &s, &len) != 2 || value[len] != '\0') {
			snprintf(msg, msglen, "to: '%s' is not an ipn endpoint (ipn:0.3 is everyone)", value);
			return -1;
		}
		return copy_value(c->to, sizeof(c->to), value, key, msg, msglen);
	}
	if (strcmp(key, "cot") == 0)
		return set_hostport_or_none(c->cot, sizeof(c->cot), key, value, "239.2.3.1:6969", msg, msglen);
	if (strcmp(key, "cot_stale") == 0) {
		if (duration_parse(value, 86400, &ms) < 0 || ms < 1000) {
			snprintf(msg, msglen, "cot_stale: '%s' is not a duration from 1s to 1d", value);
			return -1;
		}
		c->cot_stale_s = (uint32_t)(ms / 1000);
		return 0;
	}
	if (strcmp(key, "mavlink") == 0)
		return set_mavlink(c, value, msg, msglen);
	if (strcmp(key, "mavlink_out") == 0) {
		if (c->n_mavlink_out == TRACK_MAX_MAVLINK) {
			snprintf(msg, msglen, "mavlink_out: at most %d", TRACK_MAX_MAVLINK);
			return -1;
		}
		if (hostport_check(value, 0) < 0 || strlen(value) >= sizeof(c->mavlink_out[0])) {
			snprintf(msg, msglen, "mavlink_out: '%s' is not HOST:PORT (e.g. 127.0.0.1:14550)", value);
			return -1;
		}
		snprintf(c->mavlink_out[c->n_mavlink_out++], sizeof(c->mavlink_out[0]), "%s", value);
		return 0;
	}
	if (strcmp(key, "rate") == 0)
		return set_rate(c, value, msg, msglen);
	if (strcmp(key, "summary") == 0) {
		if (duration_parse(value, 86400, &ms) < 0 || ms < 1000) {
			snprintf(msg, msglen, "summary: '%s' is not a duration from 1s to 1d (e.g. 60s)", value);
			return -1;
		}
		c->summary_ms = (uint32_t)ms;
		return 0;
	}
	snprintf(msg, msglen, "%s: not a key of [track] (gpsd, unit, db, keep, error, interval, battery, "
	    "low_battery, low_battery_factor, to, telemetry_to, cot, cot_stale, mavlink, mavlink_out, rate, summary)", key);
	return -1;
}

static const struct config_key track_keys[] = {
	{ "gpsd", false }, { "unit", false }, { "db", false }, { "keep", false }, { "error", false },
	{ "interval", true }, { "battery", false }, { "low_battery", false }, { "low_battery_factor", false },
	{ "to", false }, { "telemetry_to", false }, { "cot", false }, { "cot_stale", false }, { "mavlink", true },
	{ "mavlink_out", true }, { "rate", true }, { "summary", false },
	{ NULL, false },
};

const struct config_section track_config_section = {
	.name = "track",
	.agent = "fieldrelay-track",
	.keys = track_keys,
	.conf_size = sizeof(struct track_conf),
	.set = track_set,
	.finish = NULL,
};
