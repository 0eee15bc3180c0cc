/*
 * test_track_cli.c - `fieldrelay track list | show | export`
 * (relay/track/track_cli.c) on a track DB made with trackdb: the table and
 * the map (each unit where it is, relative to the others), --json, show's
 * last N in order, exports to a file and to standard output, --since in its
 * three forms, the exit statuses (0, 1 failed, 2 usage) and their messages,
 * reading while the agent holds a write open, names that would drive a
 * terminal.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "track_cli.h"
#include "trackdb.h"

#define T0	1700000000000LL		/* 2023-11-14T22:13:20Z */
#define NOW	(T0 + 100000)		/* 100 s after the first fix */

static char dir[64], path[128];
static char *out_buf, *err_buf;

static int
setup(void **state)
{
	struct trackdb *db;
	char err[512];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_track_cli.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/track.db", dir);
	if ((db = trackdb_open(path, false, err, sizeof(err))) == NULL)
		return -1;
	/* alpha walks north from the south-west corner; bravo, a drone, is north-east of it. */
	for (int i = 0; i < 10; i++) {
		struct fix f;

		fix_init(&f);
		f.time_ms = T0 + i * 10000;
		f.lat = 46.5 + i * 0.0001;
		f.lon = 7.25;
		f.speed = 1.1;
		f.course = 0;
		f.alt = 1500;
		f.eph = 4;
		if (trackdb_add(db, "alpha", 0, NULL, &f, f.time_ms + 100) != 1)
			return -1;
		fix_init(&f);
		f.time_ms = T0 + i * 5000;
		f.lat = 46.503;
		f.lon = 7.254 + i * 0.0001;
		f.kind = FIX_DRONE;
		f.source = FIX_MAVLINK;
		if (i < 4 && trackdb_add(db, "bravo", 12, "mesh0", &f, f.time_ms + 1500) != 1)
			return -1;
	}
	trackdb_close(db);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	free(out_buf);
	free(err_buf);
	out_buf = err_buf = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Run `fieldrelay track ARGS...` (NULL-terminated) on path; output in out_buf, err_buf. */
static int
run(const char *first, ...)
{
	char *argv[32];
	size_t olen, elen;
	FILE *out, *err;
	va_list ap;
	int argc = 0, rc;

	argv[argc++] = "track";
	va_start(ap, first);
	for (const char *a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	free(out_buf);
	free(err_buf);
	out = open_memstream(&out_buf, &olen);
	err = open_memstream(&err_buf, &elen);
	assert_non_null(out);
	assert_non_null(err);
	rc = track_cli_run(argc, argv, path, out, err, NOW);
	fclose(out);
	fclose(err);
	return rc;
}

static void
test_parse_time(void **state)
{
	(void)state;
	assert_int_equal(track_cli_parse_time("2023-11-14T22:13:20Z", NOW), T0);
	assert_int_equal(track_cli_parse_time("2023-11-14T22:13:20.250Z", NOW), T0 + 250);
	assert_int_equal(track_cli_parse_time("2023-11-14T23:13:20+01:00", NOW), T0);
	assert_int_equal(track_cli_parse_time("2023-11-14T17:13:20-0500", NOW), T0);
	assert_int_equal(track_cli_parse_time("2023-11-14T22:13", NOW), T0 - 20000);
	assert_int_equal(track_cli_parse_time("2023-11-14", NOW), T0 - (22 * 3600 + 13 * 60 + 20) * 1000LL);
	assert_int_equal(track_cli_parse_time("2000-03-01", NOW), 951868800000LL);
	assert_int_equal(track_cli_parse_time("1700000000", NOW), T0);
	assert_int_equal(track_cli_parse_time("1700000000.5", NOW), T0 + 500);
	assert_int_equal(track_cli_parse_time("90s", NOW), NOW - 90000);
	assert_int_equal(track_cli_parse_time("30m", NOW), NOW - 1800000);
	assert_int_equal(track_cli_parse_time("2h", NOW), NOW - 7200000);
	assert_int_equal(track_cli_parse_time("1d", NOW), NOW - 86400000);
	assert_int_equal(track_cli_parse_time("1h30m", NOW), NOW - 5400000);
	assert_int_equal(track_cli_parse_time("1.5h", NOW), NOW - 5400000);
	static const char *const bad[] = {
		"", "yesterday", "2h30", "2x", "-5m", "2023-13-01", "2023-11-14T25:00Z",
		"2023-11-14T22:13:20Q", "2023-11-14T22:13:20.Z", "h", "1e20",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (track_cli_parse_time(bad[i], NOW) != -1)
			fail_msg("'%s' parsed", bad[i]);
}

/* The row and column of letter ch inside the map's frame, or fails. */
static void
map_pos(const char *text, char ch, int *row, int *col)
{
	const char *top = strstr(text, "\n+---"), *line;
	int r = 0;

	assert_non_null(top);
	for (line = strchr(top + 1, '\n') + 1; *line == '|'; line = strchr(line, '\n') + 1, r++) {
		const char *end = strchr(line, '\n');
		const char *p = memchr(line + 1, ch, (size_t)(end - line - 1));

		if (p != NULL) {
			*row = r;
			*col = (int)(p - line - 1);
			return;
		}
	}
	fail_msg("no '%c' on the map:\n%s", ch, text);
}

static void
test_list(void **state)
{
	int ra, ca, rb, cb, rows = 0;

	(void)state;
	assert_int_equal(run("list", NULL), 0);
	fputs(out_buf, stdout);
	assert_string_equal(err_buf, "");
	assert_non_null(strstr(out_buf, "UNIT             KIND   SOURCE  LINK          AGE"));
	/* alpha: own (link -), last fix 10 s before NOW, 10 fixes; bravo: 85 s, 4 fixes. */
	assert_non_null(strstr(out_buf, "\nalpha            person gpsd    -             10s   46.500900     7.250000     1.1      0     10\n"));
	assert_non_null(strstr(out_buf, "\nbravo            drone  mavlink mesh0         85s   46.503000     7.254300       -      -      4\n"));
	/* The map: alpha (A) south-west of bravo (B), both inside the frame, with a legend and a scale. */
	map_pos(out_buf, 'A', &ra, &ca);
	map_pos(out_buf, 'B', &rb, &cb);
	assert_true(ra > rb);
	assert_true(ca < cb);
	/* The box is the two positions plus margins: they are apart by most of the map. */
	assert_true(cb - ca >= 20 || ra - rb >= 10);
	for (const char *p = strstr(out_buf, "\n|"); p != NULL && p[1] == '|'; p = strchr(p + 1, '\n'))
		rows++;
	assert_int_equal(rows, 20);
	assert_non_null(strstr(out_buf, " A alpha"));
	assert_non_null(strstr(out_buf, "B bravo"));
	assert_non_null(strstr(out_buf, " m\n"));
	assert_non_null(strstr(out_buf, "N ^   2 units"));

	assert_int_equal(run("list", "--no-map", NULL), 0);
	assert_null(strstr(out_buf, "+---"));
	/* --since: bravo's last (22:13:35) is before 22:13:40, so only alpha. */
	assert_int_equal(run("list", "--since", "2023-11-14T22:13:40Z", "--no-map", NULL), 0);
	assert_non_null(strstr(out_buf, "alpha"));
	assert_null(strstr(out_buf, "bravo"));
	assert_int_equal(run("list", "--since=1s", NULL), 0);
	assert_non_null(strstr(out_buf, "no positions in"));
}

static void
test_list_json(void **state)
{
	(void)state;
	assert_int_equal(run("list", "--json", NULL), 0);
	assert_true(out_buf[0] == '[');
	assert_non_null(strstr(out_buf, "{\"unit\":\"alpha\",\"kind\":\"person\",\"source\":\"gpsd\","
	    "\"time\":\"2023-11-14T22:14:50.000Z\",\"lat\":46.5009000,\"lon\":7.2500000,\"alt\":1500.00,"
	    "\"speed\":1.10,\"course\":0.0,\"eph\":4.0,\"epv\":null,\"stale\":false,\"node\":0,\"link\":\"\","
	    "\"received\":\"2023-11-14T22:14:50.100Z\",\"age_s\":10.000,\"fixes\":10,"
	    "\"first\":\"2023-11-14T22:13:20.000Z\"}"));
	assert_non_null(strstr(out_buf, "\"unit\":\"bravo\",\"kind\":\"drone\""));
	assert_non_null(strstr(out_buf, "\"node\":12,\"link\":\"mesh0\""));
	assert_null(strstr(out_buf, "+---"));
}

static void
test_show(void **state)
{
	const char *a, *b, *c;

	(void)state;
	assert_int_equal(run("show", "alpha", "-n", "3", NULL), 0);
	fputs(out_buf, stdout);
	assert_non_null(a = strstr(out_buf, "\n2023-11-14T22:14:30.000Z  46.5007000    7.2500000  1500.0    1.1      0     4 gpsd          0 -          0.1s\n"));
	assert_non_null(b = strstr(out_buf, "\n2023-11-14T22:14:40.000Z"));
	assert_non_null(c = strstr(out_buf, "\n2023-11-14T22:14:50.000Z"));
	assert_true(a < b && b < c);
	assert_null(strstr(out_buf, "22:14:20"));
	assert_non_null(strstr(out_buf, "3 of 10 positions of alpha\n"));
	/* -n 0: all; with --since. */
	assert_int_equal(run("show", "-n", "0", "--since", "2023-11-14T22:14:00Z", "alpha", NULL), 0);
	assert_non_null(strstr(out_buf, "6 of 10 positions"));
	assert_int_equal(run("show", "bravo", "--json", NULL), 0);
	assert_true(out_buf[0] == '[');
	assert_non_null(strstr(out_buf, "\"unit\":\"bravo\",\"kind\":\"drone\",\"source\":\"mavlink\","
	    "\"time\":\"2023-11-14T22:13:20.000Z\",\"lat\":46.5030000,\"lon\":7.2540000,\"alt\":null"));
	assert_non_null(strstr(out_buf, "\"received\":\"2023-11-14T22:13:36.500Z\"}]\n"));

	assert_int_equal(run("show", "charlie", NULL), 1);
	assert_non_null(strstr(err_buf, "no unit 'charlie' in "));
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static char *
slurp(const char *p)
{
	FILE *fp = fopen(p, "r");
	char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void
test_export_files(void **state)
{
	char file[192], want[256], *s;

	(void)state;
	snprintf(file, sizeof(file), "%s/out.gpx", dir);
	assert_int_equal(run("export", "--gpx", file, NULL), 0);
	snprintf(want, sizeof(want), "14 positions to %s\n", file);
	assert_string_equal(out_buf, want);
	s = slurp(file);
	assert_int_equal(count_of(s, "<trkpt "), 14);
	assert_int_equal(count_of(s, "<trk>"), 2);
	free(s);
	snprintf(want, sizeof(want), "%s.tmp%ld", file, (long)getpid());
	assert_int_equal(access(want, F_OK), -1);

	/* --unit, --since as a time ago (NOW - 30 s = 22:14:30), GeoJSON. */
	snprintf(file, sizeof(file), "%s/out.geojson", dir);
	assert_int_equal(run("export", "--geojson", file, "--unit", "alpha", "--since", "30s", NULL), 0);
	assert_non_null(strstr(out_buf, "3 positions to "));
	s = slurp(file);
	assert_non_null(strstr(s, "[[7.2500000,46.5007000,1500.00],[7.2500000,46.5008000,1500.00],[7.2500000,46.5009000,1500.00]]"));
	assert_null(strstr(s, "bravo"));
	free(s);

	/* CoT to standard output, one event per unit. */
	assert_int_equal(run("export", "--cot", "-", "--latest", "--stale", "60", NULL), 0);
	assert_int_equal(count_of(out_buf, "<event "), 2);
	assert_non_null(strstr(out_buf, "uid=\"fieldrelay-bravo\" type=\"a-f-A-M-F-Q\" how=\"m-g\""
	    " time=\"2023-11-14T22:13:35.000Z\" start=\"2023-11-14T22:13:35.000Z\" stale=\"2023-11-14T22:14:35.000Z\""));
	assert_int_equal(run("export", "--cot=-", "--since", "1700000090", NULL), 0);
	assert_int_equal(count_of(out_buf, "<event "), 1);

	/* A directory that does not exist: failure, and no file. */
	snprintf(file, sizeof(file), "%s/no/such/out.gpx", dir);
	assert_int_equal(run("export", "--gpx", file, NULL), 1);
	assert_non_null(strstr(err_buf, "No such file or directory"));
}

static void
expect_usage(const char *text, const char *a, const char *b, const char *c)
{
	int rc = run(a, b, c, NULL);

	if (rc != 2 || strstr(err_buf, text) == NULL || strstr(err_buf, "Try 'fieldrelay track --help'.") == NULL)
		fail_msg("%s %s %s: expected 2 and '%s', got %d '%s'", a, b ? b : "", c ? c : "", text, rc, err_buf);
	assert_string_equal(out_buf, "");
}

static void
test_usage(void **state)
{
	(void)state;
	expect_usage("which command", NULL, NULL, NULL);
	expect_usage("'map' is not a track command", "map", NULL, NULL);
	expect_usage("show needs a UNIT", "show", NULL, NULL);
	expect_usage("show takes one UNIT", "show", "a", "b");
	expect_usage("-n: 'x' is not a count", "show", "-n", "x");
	expect_usage("-n needs a count", "show", "a", "-n");
	expect_usage("export needs --gpx FILE", "export", NULL, NULL);
	expect_usage("--gpx needs a FILE", "export", "--gpx", NULL);
	expect_usage("one format at a time", "export", "--gpx=a", "--cot=b");
	expect_usage("--since: 'soon' is not a time", "list", "--since", "soon");
	expect_usage("--since needs a time", "export", "--gpx=-", "--since");
	expect_usage("--stale needs seconds", "export", "--cot=-", "--stale=0");
	expect_usage("list: unexpected argument 'x'", "list", "x", NULL);
	expect_usage("--db needs a PATH", "list", "--db", NULL);

	assert_int_equal(run("--help", NULL), 0);
	assert_true(strncmp(out_buf, "Usage: fieldrelay track", 23) == 0);
	assert_non_null(strstr(out_buf, "Exit status: 0 done, 1 failed"));
	assert_int_equal(run("export", "-h", NULL), 0);
	assert_non_null(strstr(out_buf, "--geojson"));
	assert_int_equal(run("help", NULL), 0);
	/* Every line of the help fits 80 columns. */
	for (const char *p = out_buf, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		if (nl - p > 80)
			fail_msg("help line longer than 80: %.*s", (int)(nl - p), p);
}

static void
test_no_db(void **state)
{
	char other[192];

	(void)state;
	snprintf(other, sizeof(other), "%s/none.db", dir);
	assert_int_equal(run("--db", other, "list", NULL), 1);
	assert_non_null(strstr(err_buf, "none.db: no track DB there"));
	assert_int_equal(run("list", "--db", other, NULL), 1);
	/* Read-only: nothing created. */
	assert_int_equal(access(other, F_OK), -1);
	assert_int_equal(run("--db", dir, "list", NULL), 1);
	assert_non_null(strstr(err_buf, "is a directory"));
}

/* The agent holds a write transaction open: list still reads the last commit, at once. */
static void
test_while_agent_writes(void **state)
{
	struct trackdb *w;
	struct fix f;
	char err[512];

	(void)state;
	assert_non_null(w = trackdb_open(path, false, err, sizeof(err)));
	assert_int_equal(trackdb_begin(w), 0);
	fix_init(&f);
	f.time_ms = NOW;
	f.lat = 46.6;
	f.lon = 7.3;
	assert_int_equal(trackdb_add(w, "charlie", 3, "sbd", &f, NOW), 1);
	assert_int_equal(run("list", "--no-map", NULL), 0);
	assert_null(strstr(out_buf, "charlie"));
	assert_int_equal(trackdb_commit(w), 0);
	assert_int_equal(run("list", NULL), 0);
	assert_non_null(strstr(out_buf, "charlie"));
	assert_non_null(strstr(out_buf, "C charlie"));
	trackdb_close(w);
}

/* A unit named to clear the screen, sent over the network: shown harmless. */
static void
test_terminal_safe(void **state)
{
	struct trackdb *w;
	struct fix f;
	char err[512];

	(void)state;
	assert_non_null(w = trackdb_open(path, false, err, sizeof(err)));
	fix_init(&f);
	f.time_ms = NOW;
	f.lat = 46.5;
	f.lon = 7.25;
	assert_int_equal(trackdb_add(w, "evil\x1b[2J\x07", 3, "l\x1b", &f, NOW), 1);
	trackdb_close(w);
	assert_int_equal(run("list", NULL), 0);
	assert_null(strchr(out_buf, '\x1b'));
	assert_null(strchr(out_buf, '\x07'));
	assert_non_null(strstr(out_buf, "evil?[2J?"));
	assert_int_equal(run("show", "evil\x1b[2J\x07", NULL), 0);
	assert_null(strchr(out_buf, '\x1b'));
	assert_int_equal(run("list", "--json", NULL), 0);
	assert_non_null(strstr(out_buf, "\"unit\":\"evil\\u001b[2J\\u0007\""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_while_agent_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminal_safe, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
