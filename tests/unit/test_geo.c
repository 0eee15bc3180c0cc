/*
 * test_geo.c - the sphere's geometry (relay/track/geo.c) against values
 * known independently of it: a degree of latitude, Paris-London, the
 * cardinal bearings, and points built off segments of known geometry.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "geo.h"

#define PARIS_LAT	48.8566
#define PARIS_LON	2.3522
#define LONDON_LAT	51.5074
#define LONDON_LON	(-0.1278)

static void
near(double got, double want, double tol, const char *what)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%s: got %.6f, want %.6f +- %g", what, got, want, tol);
}

static void
test_distance(void **state)
{
	(void)state;
	/* A degree of latitude: pi R / 180 = 111 194.9 m on the mean sphere (111.2 km). */
	near(geo_distance(45, 7, 46, 7), 111195, 2, "1 deg latitude");
	near(geo_distance(0, 0, 0, 1), 111195, 2, "1 deg longitude at the equator");
	near(geo_distance(60, 10, 60, 11), 111195 / 2.0, 30, "1 deg longitude at 60 N");
	/* Paris - London, great circle on the mean sphere: about 343.5 km. */
	near(geo_distance(PARIS_LAT, PARIS_LON, LONDON_LAT, LONDON_LON), 343.5e3, 1e3, "Paris-London");
	near(geo_distance(LONDON_LAT, LONDON_LON, PARIS_LAT, PARIS_LON), 343.5e3, 1e3, "London-Paris");
	near(geo_distance(PARIS_LAT, PARIS_LON, PARIS_LAT, PARIS_LON), 0, 1e-9, "a point to itself");
	/* Half the circumference, pole to pole. */
	near(geo_distance(90, 0, -90, 0), M_PI * GEO_EARTH_RADIUS, 1, "pole to pole");
	/* Small distances keep their precision: 1 m north. */
	near(geo_distance(45, 7, 45 + 1 / 111195.0, 7), 1, 1e-3, "1 m");
	/* Across the antimeridian: 0.002 deg of longitude at the equator. */
	near(geo_distance(0, 179.999, 0, -179.999), 222.4, 0.5, "across 180");
}

static void
test_bearing(void **state)
{
	(void)state;
	near(geo_bearing(0, 0, 1, 0), 0, 1e-9, "north");
	near(geo_bearing(0, 0, 0, 1), 90, 1e-9, "east");
	near(geo_bearing(1, 0, 0, 0), 180, 1e-9, "south");
	near(geo_bearing(0, 1, 0, 0), 270, 1e-9, "west");
	near(geo_bearing(0, 179.5, 0, -179.5), 90, 1e-9, "east across 180");
	/* Paris to London: north-west, about 330 deg. */
	near(geo_bearing(PARIS_LAT, PARIS_LON, LONDON_LAT, LONDON_LON), 330.0, 0.5, "Paris-London");
	near(geo_bearing(5, 5, 5, 5), 0, 0, "no direction");
	for (double b = -720; b < 720; b += 37) {
		double r = geo_bearing(10, 10, 10 + cos(b * M_PI / 180), 10 + sin(b * M_PI / 180));

		assert_true(r >= 0 && r < 360);
	}
}

static void
test_destination(void **state)
{
	double lat, lon, b, d;

	(void)state;
	geo_destination(45, 7, 0, 111195, &lat, &lon);
	near(lat, 46, 1e-4, "1 deg north: lat");
	near(lon, 7, 1e-9, "1 deg north: lon");
	geo_destination(0, 179.999, 90, 222.4, &lat, &lon);
	near(lon, -179.999, 1e-5, "east across 180");
	/* Paris + (bearing, distance) to London lands on London. */
	b = geo_bearing(PARIS_LAT, PARIS_LON, LONDON_LAT, LONDON_LON);
	d = geo_distance(PARIS_LAT, PARIS_LON, LONDON_LAT, LONDON_LON);
	geo_destination(PARIS_LAT, PARIS_LON, b, d, &lat, &lon);
	near(geo_distance(lat, lon, LONDON_LAT, LONDON_LON), 0, 0.01, "Paris + bearing, distance");
	/* Every bearing at 25 m is 25 m away, and has that bearing back. */
	for (double t = 0; t < 360; t += 15) {
		geo_destination(43.5, 16.4, t, 25, &lat, &lon);
		near(geo_distance(43.5, 16.4, lat, lon), 25, 1e-6, "25 m");
		near(fmod(geo_bearing(43.5, 16.4, lat, lon) - t + 540, 360) - 180, 0, 1e-4, "bearing kept");
	}
	geo_destination(10, 20, 123, 0, &lat, &lon);
	near(lat, 10, 1e-12, "no move: lat");
	near(lon, 20, 1e-12, "no move: lon");
}

static void
test_segment_distance(void **state)
{
	double alat = 43.5, alon = 16.4, blat, blon, mlat, mlon, plat, plon;

	(void)state;
	/* On the equator, a segment 0..1 deg E, a point 0.01 deg N over its middle. */
	near(geo_segment_distance(0.01, 0.5, 0, 0, 0, 1), 1111.95, 0.1, "over the middle");
	near(geo_segment_distance(-0.01, 0.5, 0, 0, 0, 1), 1111.95, 0.1, "under the middle");
	near(geo_segment_distance(0, 2, 0, 0, 0, 1), 111195, 2, "beyond b");
	near(geo_segment_distance(0, -1, 0, 0, 0, 1), 111195, 2, "behind a");
	near(geo_segment_distance(0, 0.3, 0, 0, 0, 1), 0, 1e-6, "on it");
	near(geo_segment_distance(1, 1, 0, 0, 0, 0), 157249, 100, "degenerate segment");
	/* A 1 km segment bearing 60 deg; a point 25 m to its right at the middle. */
	geo_destination(alat, alon, 60, 1000, &blat, &blon);
	geo_destination(alat, alon, 60, 500, &mlat, &mlon);
	geo_destination(mlat, mlon, 150, 25, &plat, &plon);
	near(geo_segment_distance(plat, plon, alat, alon, blat, blon), 25, 0.01, "25 m right");
	near(geo_segment_distance(plat, plon, blat, blon, alat, alon), 25, 0.01, "25 m right, reversed");
	/* 30 m beyond b on its line, 40 m off: 50 m from b. */
	geo_destination(alat, alon, 60, 1030, &mlat, &mlon);
	geo_destination(mlat, mlon, 330, 40, &plat, &plon);
	near(geo_segment_distance(plat, plon, alat, alon, blat, blon), 50, 0.05, "past the end");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_bearing),
		cmocka_unit_test(test_destination),
		cmocka_unit_test(test_segment_distance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
