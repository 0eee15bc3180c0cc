/*
 * geo.h - distances and projections on a sphere of the earth's mean radius
 * (IUGG R1 = 6371008.8 m).  Good to about 0.5 % against WGS84, far below a
 * GPS fix's error at the distances the sending decision works with.
 *
 * Units as in fix.h: degrees, metres, degrees clockwise from true north.
 */
#ifndef FIELDRELAY_TRACK_GEO_H
#define FIELDRELAY_TRACK_GEO_H

#define GEO_EARTH_RADIUS	6371008.8	/* metres */

/* Great-circle distance between two points (haversine), metres. */
double geo_distance(double lat1, double lon1, double lat2, double lon2);

/* Initial bearing from point 1 towards point 2, 0 .. <360; 0 when they coincide. */
double geo_bearing(double lat1, double lon1, double lat2, double lon2);

/*
 * The point reached from (lat, lon) going distance metres along the great
 * circle of initial bearing bearing: into *lat2, *lon2 (lon in -180 .. 180).
 */
void geo_destination(double lat, double lon, double bearing, double distance,
    double *lat2, double *lon2);

/*
 * Distance from point p to the great-circle segment a-b, metres: to the
 * nearest point of the arc between a and b (an end when the perpendicular
 * falls outside it).  A degenerate segment (a == b) is the distance to a.
 */
double geo_segment_distance(double plat, double plon, double alat, double alon,
    double blat, double blon);

#endif
