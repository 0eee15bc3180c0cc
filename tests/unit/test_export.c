/*
 * test_export.c - GPX, GeoJSON and CoT from the track DB
 * (relay/track/export.c): every position in its unit's track, in time order,
 * escaped, unknown values left out (or TAK's 9999999.0), --since and --unit
 * selecting, a CoT event into a buffer that is too small, a full disk.
 *
 * With FIELDRELAY_EXPORT_DIR set, the files are also written there, with
 * truth.csv (the positions as the DB holds them), for
 * tests/integration/test_track_formats.py to read back with gpsbabel,
 * ogr2ogr and lxml.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "export.h"
#include "trackdb.h"

#define T0	1700000000000LL		/* 2023-11-14T22:13:20Z */

static char dir[64], path[128];
static struct trackdb *db;

/* Two people walking and a drone: alpha with every field, the others with some unknown. */
static const char *const UNIT_ODD = "bravo & <co> \"2\"";

static int
setup(void **state)
{
	char err[512];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_export.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/track.db", dir);
	if ((db = trackdb_open(path, false, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	trackdb_begin(db);
	for (int i = 0; i < 10; i++) {
		struct fix f;

		fix_init(&f);
		f.time_ms = T0 + i * 10000 + 123;
		f.lat = 46.5 + i * 0.0001;		/* north, about 11 m per fix */
		f.lon = 7.25;
		f.alt = 1500 + i * 0.5;
		f.speed = 1.1;
		f.course = 0;
		f.eph = 5;
		f.epv = 8;
		f.source = FIX_GPSD;
		if (trackdb_add(db, "alpha", 0, NULL, &f, f.time_ms + 10) != 1)
			return -1;
		fix_init(&f);
		f.time_ms = T0 + i * 15000;
		f.lat = 46.501;
		f.lon = 7.251 + i * 0.0002;		/* east */
		f.source = FIX_GPSD;
		if (i < 6 && trackdb_add(db, UNIT_ODD, 5, "kiss0", &f, f.time_ms + 2000) != 1)
			return -1;
		fix_init(&f);
		f.time_ms = T0 + i * 5000 + 500;
		f.lat = 46.502 + 0.001 * sin(i * 0.6);
		f.lon = 7.252 + 0.001 * cos(i * 0.6);
		f.alt = 1620;
		f.speed = 12;
		f.course = fmod(i * 34.4 + 90, 360);
		f.source = FIX_MAVLINK;
		f.kind = FIX_DRONE;
		if (trackdb_add(db, "drone-1", 9, "mesh", &f, f.time_ms + 300) != 1)
			return -1;
	}
	return trackdb_commit(db);
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	trackdb_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Export into a string (malloc'd): the count in *n. */
static char *
export_str(const struct export_opts *o, int *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	*n = export_write(db, o, fp);
	fclose(fp);
	return buf;
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void
test_time(void **state)
{
	char t[EXPORT_TIME_LEN];

	(void)state;
	export_time(T0 + 123, t);
	assert_string_equal(t, "2023-11-14T22:13:20.123Z");
	export_time(0, t);
	assert_string_equal(t, "1970-01-01T00:00:00.000Z");
	export_time(951782400007LL, t);		/* a leap day */
	assert_string_equal(t, "2000-02-29T00:00:00.007Z");
	export_time(-1, t);
	assert_string_equal(t, "1969-12-31T23:59:59.999Z");
	/* Out of range (a sender's broken clock): a valid time, never a crash. */
	export_time(INT64_MIN, t);
	assert_int_equal(strlen(t), EXPORT_TIME_LEN - 1);
	export_time(INT64_MAX, t);
	assert_string_equal(t, "1970-01-01T00:00:00.000Z");
}

static void
test_gpx(void **state)
{
	struct export_opts o = { .format = EXPORT_GPX };
	char *s, *a, *b, *d;
	int n;

	(void)state;
	s = export_str(&o, &n);
	assert_int_equal(n, 10 + 6 + 10);
	assert_int_equal(count_of(s, "<trk>"), 3);
	assert_int_equal(count_of(s, "<trkseg>"), 3);
	assert_int_equal(count_of(s, "<trkpt "), 26);
	assert_int_equal(count_of(s, "</trkpt>"), 26);
	/* One track per unit, by name, each point in its own unit's track. */
	assert_non_null(a = strstr(s, "<trk><name>alpha</name><type>person</type>"));
	assert_non_null(b = strstr(s, "<trk><name>bravo &amp; &lt;co&gt; &quot;2&quot;</name>"));
	assert_non_null(d = strstr(s, "<trk><name>drone-1</name><type>drone</type>"));
	assert_true(a < b && b < d);
	assert_non_null(strstr(a, "<trkpt lat=\"46.5000000\" lon=\"7.2500000\"><ele>1500.00</ele>"
	    "<time>2023-11-14T22:13:20.123Z</time><src>gpsd</src><extensions>"
	    "<gpxtpx:TrackPointExtension><gpxtpx:speed>1.10</gpxtpx:speed>"
	    "<gpxtpx:course>0.0</gpxtpx:course></gpxtpx:TrackPointExtension></extensions></trkpt>"));
	/* Unknown altitude: no <ele>; no speed nor course: no extensions. */
	assert_non_null(strstr(b, "<trkpt lat=\"46.5010000\" lon=\"7.2510000\"><time>"
	    "2023-11-14T22:13:20.000Z</time><src>gpsd</src></trkpt>"));
	assert_true(strstr(s, "</gpx>\n") == s + strlen(s) - 7);
	free(s);

	/* --since and --unit. */
	o.since_ms = T0 + 50000;
	s = export_str(&o, &n);
	/* alpha's last 5, bravo's at 60 s and 75 s; the drone has none since: no track at all. */
	assert_int_equal(n, 5 + 2);
	assert_int_equal(count_of(s, "<trk>"), 2);
	assert_null(strstr(s, "drone-1"));
	assert_non_null(strstr(s, "<time>2023-11-14T22:14:10.123Z</time>"));	/* alpha's 5th */
	assert_non_null(strstr(s, "<time>2023-11-14T22:14:20.000Z</time>"));	/* bravo's 4th */
	assert_null(strstr(s, "<time>2023-11-14T22:14:00.123Z</time>"));
	assert_null(strstr(s, "<time>2023-11-14T22:14:05.000Z</time>"));
	free(s);
	o.unit = UNIT_ODD;
	o.since_ms = 0;
	s = export_str(&o, &n);
	assert_int_equal(n, 6);
	assert_int_equal(count_of(s, "<trk>"), 1);
	free(s);
	o.unit = "nobody";
	s = export_str(&o, &n);
	assert_int_equal(n, 0);
	assert_int_equal(count_of(s, "<trk>"), 0);
	assert_non_null(strstr(s, "</gpx>"));
	free(s);
}

static void
test_geojson(void **state)
{
	struct export_opts o = { .format = EXPORT_GEOJSON, .latest = true };
	char *s, *p;
	int n;

	(void)state;
	s = export_str(&o, &n);
	assert_int_equal(n, 26);
	assert_true(strncmp(s, "{\"type\":\"FeatureCollection\",\"features\":[", 40) == 0);
	assert_int_equal(count_of(s, "\"LineString\""), 3);
	assert_int_equal(count_of(s, "\"Point\""), 3);
	/* lon first (RFC 7946 section 3.1.1), with the altitude when every position has one. */
	assert_non_null(strstr(s, "\"coordinates\":[[7.2500000,46.5000000,1500.00],[7.2500000,46.5001000,1500.50]"));
	/* bravo has no altitudes: two coordinates, and its name escaped for JSON. */
	assert_non_null(strstr(s, "[[7.2510000,46.5010000],[7.2512000,46.5010000]"));
	assert_non_null(p = strstr(s, "\"unit\":\"bravo & <co> \\\"2\\\"\",\"kind\":\"person\",\"source\":\"gpsd\",\"node\":5,\"link\":\"kiss0\",\"count\":6"));
	assert_non_null(strstr(s, "\"unit\":\"drone-1\",\"kind\":\"drone\",\"source\":\"mavlink\""));
	assert_non_null(strstr(s, "\"start\":\"2023-11-14T22:13:20.123Z\",\"end\":\"2023-11-14T22:14:50.123Z\""));
	assert_non_null(strstr(p, "\"speed\":null,\"course\":null,\"eph\":null,\"stale\":false,\"latest\":true"));
	free(s);

	/* A unit with one position since T is a Point, not a one-point line. */
	o.latest = false;
	o.since_ms = T0 + 75000;
	o.unit = UNIT_ODD;
	s = export_str(&o, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(s, "{\"type\":\"Point\",\"coordinates\":[7.2520000,46.5010000]}"));
	assert_null(strstr(s, "LineString"));
	free(s);
}

static void
test_cot(void **state)
{
	struct export_opts o = { .format = EXPORT_COT, .cot_stale_s = 300 };
	char *s, *line;
	int n;

	(void)state;
	s = export_str(&o, &n);
	assert_int_equal(n, 26);
	assert_int_equal(count_of(s, "\n"), 26);
	assert_int_equal(count_of(s, "<event "), 26);
	assert_int_equal(count_of(s, "type=\"a-f-A-M-F-Q\""), 10);
	assert_int_equal(count_of(s, "type=\"a-f-G-U-C\""), 16);
	assert_null(strstr(s, "<?xml"));
	/* The first line is the earliest position of all: bravo's, at T0. */
	assert_non_null(strstr(s, "<event version=\"2.0\" uid=\"fieldrelay-bravo &amp; &lt;co&gt; &quot;2&quot;\""
	    " type=\"a-f-G-U-C\" how=\"m-g\" time=\"2023-11-14T22:13:20.000Z\""
	    " start=\"2023-11-14T22:13:20.000Z\" stale=\"2023-11-14T22:18:20.000Z\">"
	    "<point lat=\"46.5010000\" lon=\"7.2510000\" hae=\"9999999.0\" ce=\"9999999.0\" le=\"9999999.0\"/>"
	    "<detail><contact callsign=\"bravo &amp; &lt;co&gt; &quot;2&quot;\"/>"
	    "<precisionlocation geopointsrc=\"GPS\" altsrc=\"???\"/></detail></event>\n") == s);
	assert_non_null(strstr(s, "<point lat=\"46.5000000\" lon=\"7.2500000\" hae=\"1500.0\" ce=\"5.0\" le=\"8.0\"/>"
	    "<detail><contact callsign=\"alpha\"/><track speed=\"1.10\" course=\"0.0\"/>"));
	/* In time order. */
	{
		char last[EXPORT_TIME_LEN] = "";

		for (line = s; (line = strstr(line, " time=\"")) != NULL; line += 7) {
			char t[EXPORT_TIME_LEN];

			memcpy(t, line + 7, EXPORT_TIME_LEN - 1);
			t[EXPORT_TIME_LEN - 1] = '\0';
			assert_true(strcmp(last, t) <= 0);
			memcpy(last, t, sizeof(t));
		}
	}
	free(s);

	/* One event per unit: its latest. */
	o.latest = true;
	s = export_str(&o, &n);
	assert_int_equal(n, 3);
	assert_non_null(strstr(s, "uid=\"fieldrelay-alpha\" type=\"a-f-G-U-C\" how=\"m-g\" time=\"2023-11-14T22:14:50.123Z\""));
	free(s);
}

static void
test_cot_event_buffer(void **state)
{
	struct track_row r;
	char buf[1024];
	int len;

	(void)state;
	memset(&r, 0, sizeof(r));
	snprintf(r.unit, sizeof(r.unit), "Team \x01<1>\xff");
	fix_init(&r.fix);
	r.fix.time_ms = T0;
	r.fix.lat = -33.8688;
	r.fix.lon = 151.2093;
	r.fix.source = FIX_MANUAL;
	len = export_cot_event(&r, 0, true, buf, sizeof(buf));
	assert_true(len > 0 && (size_t)len == strlen(buf));
	{
		const char *decl = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><event ";

		assert_true(strncmp(buf, decl, strlen(decl)) == 0);
	}
	/* A control character and a byte that is not UTF-8: U+FFFD, never raw. */
	assert_non_null(strstr(buf, "callsign=\"Team \xef\xbf\xbd&lt;1&gt;\xef\xbf\xbd\""));
	/* Manual: how "h-g-i-g-o" (a human placed it); the default stale time, 120 s. */
	assert_non_null(strstr(buf, "how=\"h-g-i-g-o\" time=\"2023-11-14T22:13:20.000Z\" start=\"2023-11-14T22:13:20.000Z\""
	    " stale=\"2023-11-14T22:15:20.000Z\""));
	assert_non_null(strstr(buf, "<point lat=\"-33.8688000\" lon=\"151.2093000\""));
	/* Every size too small fails cleanly, the one that fits works. */
	for (size_t cap = 0; cap <= (size_t)len; cap++)
		assert_int_equal(export_cot_event(&r, 0, true, buf, cap), -ENOSPC);
	assert_int_equal(export_cot_event(&r, 0, true, buf, (size_t)len + 1), len);
}

static void
test_output_fails(void **state)
{
	struct export_opts o = { .format = EXPORT_GPX };
	FILE *fp = fopen("/dev/full", "w");

	(void)state;
	if (fp == NULL) {
		print_message("no /dev/full: untested\n");
		return;
	}
	assert_int_equal(export_write(db, &o, fp), -EIO);
	fclose(fp);
}

/* For test_track_formats.py: the exports and what the DB holds. */
static int
truth_row(const struct track_row *r, void *arg)
{
	FILE *fp = arg;

	fprintf(fp, "%s\t%lld\t%.7f\t%.7f\t%s\t%s\n", r->unit, (long long)r->fix.time_ms, r->fix.lat,
	    r->fix.lon, isnan(r->fix.alt) ? "" : "alt", trackdb_kind_name(r->fix.kind));
	return 0;
}

static void
write_one(const char *out, const char *name, const struct export_opts *o)
{
	char p[512];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", out, name);
	assert_non_null(fp = fopen(p, "w"));
	assert_true(export_write(db, o, fp) > 0);
	assert_int_equal(fclose(fp), 0);
}

static void
test_write_files(void **state)
{
	const char *out = getenv("FIELDRELAY_EXPORT_DIR");
	struct export_opts o = { .cot_stale_s = 120 };
	struct track_row r;
	char p[512], buf[2048], own[] = "/tmp/test_export_files.XXXXXX";
	FILE *fp;

	(void)state;
	/* test_track_formats.py reads them (FIELDRELAY_EXPORT_DIR); alone, they go to a mkdtemp() folder. */
	if (out == NULL)
		assert_non_null(out = mkdtemp(own));
	o.format = EXPORT_GPX;
	write_one(out, "track.gpx", &o);
	o.format = EXPORT_GEOJSON;
	o.latest = true;
	write_one(out, "track.geojson", &o);
	o.format = EXPORT_COT;
	o.latest = false;
	write_one(out, "track.cot", &o);
	o.latest = true;
	write_one(out, "latest.cot", &o);
	/* One datagram as the multicast sends it. */
	memset(&r, 0, sizeof(r));
	snprintf(r.unit, sizeof(r.unit), "drone-1");
	fix_init(&r.fix);
	r.fix.time_ms = T0;
	r.fix.lat = 46.5;
	r.fix.lon = 7.25;
	r.fix.alt = 1620;
	r.fix.speed = 12;
	r.fix.course = 90;
	r.fix.kind = FIX_DRONE;
	r.fix.source = FIX_MAVLINK;
	assert_true(export_cot_event(&r, 60, true, buf, sizeof(buf)) > 0);
	snprintf(p, sizeof(p), "%s/event.xml", out);
	assert_non_null(fp = fopen(p, "w"));
	fputs(buf, fp);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/truth.tsv", out);
	assert_non_null(fp = fopen(p, "w"));
	assert_int_equal(trackdb_track(db, NULL, 0, truth_row, fp), 0);
	fclose(fp);
	if (out == own) {
		snprintf(p, sizeof(p), "rm -rf '%s'", own);
		assert_int_equal(system(p), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_gpx),
		cmocka_unit_test(test_geojson),
		cmocka_unit_test(test_cot),
		cmocka_unit_test(test_cot_event_buffer),
		cmocka_unit_test(test_output_fails),
		cmocka_unit_test(test_write_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
