/*
 * track.h - fieldrelay-track, unit tracking and drone telemetry: its [track]
 * section (track_config.c) and the few names every module of the agent
 * shares.  The modules (one .c/.h pair each):
 *
 *   fix        one position (fix.h)
 *   geo        distances and projections on the WGS84 sphere
 *   beacon     when to send: by the error of the track the receivers
 *              rebuild (and SmartBeaconing, fixed interval, for the bench)
 *   posfmt     positions on the air: one fix or a delta-coded batch
 *   posout     one unit's reports: the decision, the history, the batch
 *              carried behind supersede
 *   gpsin      this node's GPS through gpsd (libgps), reconnecting
 *   battery    the battery level, for the low-battery mode
 *   linkclass  the daemon's views read: the narrowest link up, routes, flood
 *   trackdb    the track DB (SQLite): own and received positions
 *   export     GPX, GeoJSON and CoT from the track DB
 *   cot        CoT SA multicast for TAK devices
 *   mavlink    MAVLink v1/v2 frames: parse, check, build
 *   tlog       MAVLink telemetry logs (.tlog)
 *   mavrate    per link class and message id rate limits, the summary
 *   mavio      MAVLink endpoints: UDP listen/connect, tlog replay, re-emit
 *   drone      the drones heard: positions, telemetry out, re-emit of others'
 *   track_cli  `fieldrelay track list | show | export`
 *   track.c    main: the agent's loop
 */
#ifndef FIELDRELAY_TRACK_H
#define FIELDRELAY_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACK_SERVICE		3		/* SVC_POSITION: ipn:0.3 to everyone */
#define TRACK_TELEMETRY_SERVICE	6		/* SVC_TELEMETRY */
#define TRACK_NAME		"track"		/* the agent's durable registration */
#define TRACK_DB_DEFAULT	"/var/lib/fieldrelay/track.db"

/*
 * The classes of link a position may have to cross, narrowest last: the
 * agent sends for the narrowest link that is up (what every fix must get
 * through to reach the command center).
 */
enum link_class {
	LINK_MESH = 0,		/* Wi-Fi mesh, Ethernet, fast IP: > 64 kbit/s */
	LINK_IP = 1,		/* a scarce IP link (cellular, a metered link) */
	LINK_SATELLITE = 2,	/* Iridium SBD, DirectIP */
	LINK_NARROWBAND = 3,	/* KISS radio, or a link of 64 kbit/s or less */
	LINK_CLASS_COUNT
};
/* "mesh", "ip", "satellite", "narrowband"; parse: the class or -1. */
const char *link_class_name(enum link_class c);
int link_class_parse(const char *s);

/* Sending by error, per link class. */
struct track_interval {
	uint32_t min_ms;	/* never two sends closer than this */
	uint32_t max_ms;	/* the heartbeat: a send at least this often, even when still */
};

#define TRACK_MAX_MAVLINK	4
#define TRACK_MAX_RATES		32

/* A MAVLink endpoint: as mavlink-router's, or a tlog to replay. */
struct track_mav_endpoint {
	enum { MAV_LISTEN, MAV_CONNECT, MAV_TLOG } kind;
	char addr[256];		/* HOST:PORT (listen: [HOST]:PORT), or the tlog's path */
	double speed;		/* a tlog: its replay speed factor (0 is 1: as recorded) */
};

/* A rate limit: message id msgid at most hz times a second on links of class cls. */
struct track_rate {
	enum link_class cls;
	uint32_t msgid;
	double hz;		/* 0: never */
};

/* [track] in the node's config file (track_config.c). */
struct track_conf {
	char gpsd[256];			/* HOST:PORT, "" for none */
	char unit[64];			/* the name shown for this node's position ("" : the node's name) */
	char db[256];			/* the track DB */
	uint32_t keep_s;		/* history kept, seconds (48 h) */
	double error_m;			/* the largest error the receivers' track may have (25 m) */
	struct track_interval interval[LINK_CLASS_COUNT];
	char battery[256];		/* "auto" (/sys/class/power_supply), a file with a percentage, or "" */
	int low_battery;		/* percent at or below which the low-battery mode holds (20) */
	double low_battery_factor;	/* error and intervals times this in low-battery mode (3) */
	char to[64];			/* where positions go: "ipn:0.3" (everyone) */
	char telemetry_to[64];		/* where drone telemetry goes (one node), "" : nowhere */
	char cot[256];			/* CoT SA multicast HOST:PORT, "" for none */
	uint32_t cot_stale_s;		/* a CoT event's stale time after its time (120 s) */
	struct track_mav_endpoint mavlink[TRACK_MAX_MAVLINK];
	int n_mavlink;
	char mavlink_out[TRACK_MAX_MAVLINK][256];	/* re-emit what arrives to HOST:PORT */
	int n_mavlink_out;
	struct track_rate rate[TRACK_MAX_RATES];	/* on top of the defaults (mavrate.c) */
	int n_rate;
	uint32_t summary_ms;		/* satellite and narrowband: a summary this often (60 s) */
};
/* The defaults, then each key of the section through track_config_section.set(). */
void track_conf_defaults(struct track_conf *c);

#endif
