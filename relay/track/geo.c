/*
 * geo.c - the sphere's geometry for fieldrelay-track (geo.h).
 */
#include <math.h>

#include "geo.h"

#define RAD	(M_PI / 180.0)

/* Central angle between two points, radians (haversine: exact near 0). */
static double
central_angle(double lat1, double lon1, double lat2, double lon2)
{
	double p1 = lat1 * RAD, p2 = lat2 * RAD;
	double dp = p2 - p1, dl = (lon2 - lon1) * RAD;
	double h = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);

	if (h > 1)
		h = 1;
	return 2 * atan2(sqrt(h), sqrt(1 - h));
}

double
geo_distance(double lat1, double lon1, double lat2, double lon2)
{
	return GEO_EARTH_RADIUS * central_angle(lat1, lon1, lat2, lon2);
}

double
geo_bearing(double lat1, double lon1, double lat2, double lon2)
{
	double p1 = lat1 * RAD, p2 = lat2 * RAD, dl = (lon2 - lon1) * RAD;
	double y = sin(dl) * cos(p2);
	double x = cos(p1) * sin(p2) - sin(p1) * cos(p2) * cos(dl);
	double b;

	if (x == 0 && y == 0)
		return 0;
	b = atan2(y, x) / RAD;
	b = fmod(b + 360.0, 360.0);
	return b >= 360.0 ? 0 : b;
}

void
geo_destination(double lat, double lon, double bearing, double distance, double *lat2, double *lon2)
{
	double d = distance / GEO_EARTH_RADIUS, t = bearing * RAD;
	double p1 = lat * RAD, l1 = lon * RAD;
	double sp = sin(p1) * cos(d) + cos(p1) * sin(d) * cos(t);
	double p2, l2;

	if (sp > 1)
		sp = 1;
	if (sp < -1)
		sp = -1;
	p2 = asin(sp);
	l2 = l1 + atan2(sin(t) * sin(d) * cos(p1), cos(d) - sin(p1) * sp);
	*lat2 = p2 / RAD;
	/* Normalise to -180 .. 180. */
	*lon2 = fmod(l2 / RAD + 540.0, 360.0) - 180.0;
}

/*
 * The cross-track distance gives the distance to the whole great circle;
 * the along-track distance says whether its foot lies between a and b.
 * Outside, the nearer end is the answer.
 */
double
geo_segment_distance(double plat, double plon, double alat, double alon, double blat, double blon)
{
	double dab = central_angle(alat, alon, blat, blon);
	double dap = central_angle(alat, alon, plat, plon);
	double tab, tap, xt, at;

	if (dab < 1e-12)
		return GEO_EARTH_RADIUS * dap;
	tab = geo_bearing(alat, alon, blat, blon) * RAD;
	tap = geo_bearing(alat, alon, plat, plon) * RAD;
	xt = asin(sin(dap) * sin(tap - tab));
	/* Along track from a, signed: negative behind a. */
	at = atan2(sin(dap) * cos(tap - tab), cos(dap));
	if (at <= 0)
		return GEO_EARTH_RADIUS * dap;
	if (at >= dab)
		return geo_distance(plat, plon, blat, blon);
	return GEO_EARTH_RADIUS * fabs(xt);
}
