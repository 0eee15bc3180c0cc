/*
 * export.h - the track DB as files other programs read: GPX 1.1 (gpsbabel,
 * every GPS tool), GeoJSON (RFC 7946: QGIS, ogr2ogr, web maps) and Cursor on
 * Target events (ATAK, WinTAK, TAK Server), and one CoT event into a buffer
 * for the SA multicast (cot.c).
 */
#ifndef FIELDRELAY_TRACK_EXPORT_H
#define FIELDRELAY_TRACK_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trackdb.h"

enum export_format {
	EXPORT_GPX,
	EXPORT_GEOJSON,
	EXPORT_COT,
};

struct export_opts {
	enum export_format format;
	int64_t since_ms;	/* positions measured at or after this only (0: all) */
	const char *unit;	/* this unit only, NULL: every unit */
	bool latest;		/* GeoJSON: a Point feature per unit's latest too;
				   CoT: one event per unit (its latest), not one per position */
	uint32_t cot_stale_s;	/* CoT: stale = time + this (0: EXPORT_COT_STALE_S) */
};

#define EXPORT_COT_STALE_S	120
/* What TAK writes for a ce, le or hae it does not know. */
#define COT_UNKNOWN		9999999.0
/* CoT types (MITRE's CoTtypes.xml, e.g. github.com/dB-SPL/cot-types):
 * a-f-G-U-C  atom, friend, Ground / Unit / Combat: what ATAK sends for its own position;
 * a-f-A-M-F-Q  atom, friend, Air / Military / Fixed / "Drone, RPV, UAV". */
#define COT_TYPE_GROUND		"a-f-G-U-C"
#define COT_TYPE_DRONE		"a-f-A-M-F-Q"

/*
 * Write the positions o selects from db to out as o->format: the number of
 * positions written, or -errno (the DB's, with trackdb_error(); -EIO when out
 * fails).
 *
 * GPX: one <trk> per unit (by name), one <trkseg>, its positions in time order.
 * GeoJSON: a FeatureCollection with a LineString per unit (a Point when it
 * has one position), properties unit, kind, source, node, link, count,
 * start, end.
 * CoT: one <event> per line, without an XML declaration: the stream TAK
 * Server and ATAK's TCP input read.
 */
int export_write(struct trackdb *db, const struct export_opts *o, FILE *out);

/*
 * One CoT event for row into buf (NUL-terminated): its length, or -ENOSPC if
 * it does not fit in cap.  declaration: start with <?xml ...?> (a datagram
 * of its own, as the SA multicast sends).
 */
int export_cot_event(const struct track_row *row, uint32_t stale_s, bool declaration, char *buf,
    size_t cap);

/* s as a JSON string, quotes included, escaped (bytes not UTF-8: U+FFFD). */
void export_json_string(FILE *out, const char *s);

/* Unix ms as ISO 8601 UTC with milliseconds, "2023-11-14T22:13:20.123Z" (25 bytes with the NUL). */
#define EXPORT_TIME_LEN	25
void export_time(int64_t ms, char buf[EXPORT_TIME_LEN]);

#endif
