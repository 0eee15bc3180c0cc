/*
 * fix.h - one position of one unit, as every part of fieldrelay-track
 * passes it: from gpsd or MAVLink in, through the sending decision and the
 * wire format, into the track DB and out as GPX, GeoJSON, CoT or MAVLink.
 *
 * Units: degrees (WGS84), metres, metres per second, degrees clockwise from
 * true north, Unix milliseconds.  A field not known is NAN (the doubles) or
 * 0 (time: never; a fix without a time is not a fix).
 */
#ifndef FIELDRELAY_TRACK_FIX_H
#define FIELDRELAY_TRACK_FIX_H

#include <stdbool.h>
#include <stdint.h>

/* Where a fix came from (the track DB's source column, by name). */
enum fix_source {
	FIX_GPSD = 0,		/* this node's GPS, through gpsd */
	FIX_MAVLINK = 1,	/* a drone's GLOBAL_POSITION_INT (or a summary of it) */
	FIX_MANUAL = 2,		/* typed in: `fieldrelay track set` */
};
#define FIX_SOURCE_COUNT 3
/* "gpsd", "mavlink", "manual". */
const char *fix_source_name(enum fix_source s);

/* What the fix is of. */
enum fix_kind {
	FIX_PERSON = 0,		/* a team, a person on foot, a vehicle: a unit */
	FIX_DRONE = 1,		/* an aircraft */
};

struct fix {
	int64_t time_ms;	/* when it was measured (the fix's time), Unix ms */
	double lat, lon;	/* degrees; both always known */
	double alt;		/* metres above mean sea level, or NAN */
	double speed;		/* m/s over ground, or NAN */
	double course;		/* degrees from true north, 0 .. <360, or NAN */
	double eph;		/* horizontal error estimate, metres (CoT ce), or NAN */
	double epv;		/* vertical error estimate, metres (CoT le), or NAN */
	enum fix_source source;
	enum fix_kind kind;
	bool stale;		/* the last known position, no fix since (gpsd lost it) */
};

/* A fix with every optional field unknown. */
void fix_init(struct fix *f);

#endif
