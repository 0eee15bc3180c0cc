/*
 * test_trackdb.c - the track DB (relay/track/trackdb.c): positions stored
 * once however often delivered, unknown fields kept unknown, each unit's
 * latest, tracks in time order, pruning, a reader beside the writer (WAL),
 * and the errors: not a track DB, a newer schema, no such directory,
 * read-only, disk full.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "trackdb.h"

static char dir[64], path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_trackdb.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/track.db", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct fix
mkfix(int64_t t, double lat, double lon)
{
	struct fix f;

	fix_init(&f);
	f.time_ms = t;
	f.lat = lat;
	f.lon = lon;
	return f;
}

static struct trackdb *
open_rw(void)
{
	char err[512];
	struct trackdb *db = trackdb_open(path, false, err, sizeof(err));

	if (db == NULL)
		fail_msg("open %s: %s", path, err);
	return db;
}

struct rows {
	struct track_row r[64];
	int n;
};

static int
collect(const struct track_row *r, void *arg)
{
	struct rows *rs = arg;

	if (rs->n < 64)
		rs->r[rs->n++] = *r;
	return 0;
}

struct units {
	struct track_unit u[16];
	int n;
};

static int
collect_unit(const struct track_unit *u, void *arg)
{
	struct units *us = arg;

	if (us->n < 16)
		us->u[us->n++] = *u;
	return 0;
}

static int
stop_at_two(const struct track_row *r, void *arg)
{
	int *n = arg;

	(void)r;
	return ++*n == 2 ? 42 : 0;
}

static void
test_add_once_and_read_back(void **state)
{
	struct trackdb *db = open_rw();
	struct fix f = mkfix(1700000000123, 46.5, 7.25);
	struct rows rs = { .n = 0 };

	(void)state;
	f.alt = 1500.5;
	f.speed = 1.25;
	f.course = 270;
	f.eph = 4;
	f.source = FIX_GPSD;
	assert_int_equal(trackdb_add(db, "alpha", 0, NULL, &f, 1700000000200), 1);
	/* The same fix again (delivered twice): stored once. */
	assert_int_equal(trackdb_add(db, "alpha", 0, NULL, &f, 1700000000900), 0);
	/* Another unit at the same time is another position. */
	f.kind = FIX_DRONE;
	f.source = FIX_MAVLINK;
	f.epv = 7;
	f.alt = NAN;
	assert_int_equal(trackdb_add(db, "drone-1", 0x1234567890ULL, "mesh0", &f, 1700000000300), 1);
	assert_int_equal(trackdb_count(db, NULL), 2);
	assert_int_equal(trackdb_count(db, "alpha"), 1);

	assert_int_equal(trackdb_track(db, NULL, 0, collect, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_string_equal(rs.r[0].unit, "alpha");
	assert_int_equal(rs.r[0].node, 0);
	assert_string_equal(rs.r[0].link, "");
	assert_int_equal(rs.r[0].fix.time_ms, 1700000000123);
	assert_true(rs.r[0].fix.lat == 46.5 && rs.r[0].fix.lon == 7.25);
	assert_true(rs.r[0].fix.alt == 1500.5 && rs.r[0].fix.speed == 1.25 && rs.r[0].fix.course == 270);
	assert_true(rs.r[0].fix.eph == 4 && isnan(rs.r[0].fix.epv));
	assert_int_equal(rs.r[0].fix.source, FIX_GPSD);
	assert_int_equal(rs.r[0].fix.kind, FIX_PERSON);
	/* The first copy's receive time is kept. */
	assert_int_equal(rs.r[0].recv_ms, 1700000000200);
	assert_string_equal(rs.r[1].unit, "drone-1");
	assert_int_equal(rs.r[1].node, 0x1234567890ULL);
	assert_string_equal(rs.r[1].link, "mesh0");
	assert_int_equal(rs.r[1].fix.kind, FIX_DRONE);
	assert_int_equal(rs.r[1].fix.source, FIX_MAVLINK);
	assert_true(isnan(rs.r[1].fix.alt) && rs.r[1].fix.epv == 7);
	trackdb_close(db);
}

static void
test_bad_positions(void **state)
{
	struct trackdb *db = open_rw();
	struct fix f = mkfix(1700000000000, 46.5, 7.25);
	char longname[100];

	(void)state;
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(trackdb_add(db, "", 0, NULL, &f, 1), -EINVAL);
	assert_int_equal(trackdb_add(db, longname, 0, NULL, &f, 1), -EINVAL);
	assert_non_null(strstr(trackdb_error(db), "bad field"));
	f.lat = NAN;
	assert_int_equal(trackdb_add(db, "a", 0, NULL, &f, 1), -EINVAL);
	f = mkfix(0, 46.5, 7.25);
	assert_int_equal(trackdb_add(db, "a", 0, NULL, &f, 1), -EINVAL);
	f = mkfix(253402300800000LL, 46.5, 7.25);	/* the year 10000 */
	assert_int_equal(trackdb_add(db, "a", 0, NULL, &f, 1), -EINVAL);
	f = mkfix(1, 91, 7.25);
	assert_int_equal(trackdb_add(db, "a", 0, NULL, &f, 1), -EINVAL);
	assert_int_equal(trackdb_count(db, NULL), 0);
	trackdb_close(db);
}

static void
test_units_track_last_prune(void **state)
{
	struct trackdb *db = open_rw();
	struct units us = { .n = 0 };
	struct rows rs = { .n = 0 };
	int n = 0;

	(void)state;
	assert_int_equal(trackdb_begin(db), 0);
	/* Out of order on purpose: the order comes from time, not arrival. */
	for (int i = 9; i >= 0; i--) {
		struct fix a = mkfix(1000000 + i * 1000, 46 + i * 0.001, 7);
		struct fix b = mkfix(1000500 + i * 2000, 47, 8 + i * 0.001);

		assert_int_equal(trackdb_add(db, "bravo", 7, "kiss0", &a, 2000000), 1);
		if (i < 5)
			assert_int_equal(trackdb_add(db, "alpha", 0, NULL, &b, 2000000), 1);
	}
	assert_int_equal(trackdb_commit(db), 0);

	assert_int_equal(trackdb_units(db, collect_unit, &us), 0);
	assert_int_equal(us.n, 2);
	assert_string_equal(us.u[0].latest.unit, "alpha");
	assert_int_equal(us.u[0].count, 5);
	assert_int_equal(us.u[0].latest.fix.time_ms, 1000500 + 4 * 2000);
	assert_int_equal(us.u[0].first_ms, 1000500);
	assert_string_equal(us.u[1].latest.unit, "bravo");
	assert_int_equal(us.u[1].count, 10);
	assert_int_equal(us.u[1].latest.fix.time_ms, 1009000);
	assert_true(fabs(us.u[1].latest.fix.lat - 46.009) < 1e-9);

	/* One unit since a time, in time order. */
	assert_int_equal(trackdb_track(db, "bravo", 1005000, collect, &rs), 0);
	assert_int_equal(rs.n, 5);
	for (int i = 0; i < rs.n; i++)
		assert_int_equal(rs.r[i].fix.time_ms, 1005000 + i * 1000);
	/* Every unit, interleaved by time. */
	rs.n = 0;
	assert_int_equal(trackdb_track(db, NULL, 0, collect, &rs), 0);
	assert_int_equal(rs.n, 15);
	for (int i = 1; i < rs.n; i++)
		assert_true(rs.r[i - 1].fix.time_ms <= rs.r[i].fix.time_ms);
	/* The last three, oldest first. */
	rs.n = 0;
	assert_int_equal(trackdb_last(db, "bravo", 0, 3, collect, &rs), 0);
	assert_int_equal(rs.n, 3);
	assert_int_equal(rs.r[0].fix.time_ms, 1007000);
	assert_int_equal(rs.r[2].fix.time_ms, 1009000);
	/* A callback stops the iteration with its value. */
	assert_int_equal(trackdb_track(db, NULL, 0, stop_at_two, &n), 42);
	assert_int_equal(n, 2);

	/* Prune: bravo's 1000000..1004000 (5), alpha's 1000500, 1002500, 1004500 (3). */
	assert_int_equal(trackdb_prune_max(db, 1005000, 3), 3);
	/* The oldest first: bravo's 1000000, alpha's 1000500, bravo's 1001000. */
	rs.n = 0;
	assert_int_equal(trackdb_track(db, NULL, 0, collect, &rs), 0);
	assert_int_equal(rs.r[0].fix.time_ms, 1002000);
	assert_int_equal(trackdb_prune(db, 1005000), 5);
	assert_int_equal(trackdb_count(db, NULL), 7);
	assert_int_equal(trackdb_prune(db, 1005000), 0);
	assert_int_equal(trackdb_prune_max(db, 1005000, 10), 0);
	trackdb_close(db);
}

static void
test_rollback(void **state)
{
	struct trackdb *db = open_rw();
	struct fix f = mkfix(5000, 1, 2);

	(void)state;
	assert_int_equal(trackdb_begin(db), 0);
	assert_int_equal(trackdb_add(db, "a", 0, NULL, &f, 1), 1);
	trackdb_rollback(db);
	assert_int_equal(trackdb_count(db, NULL), 0);
	trackdb_rollback(db);	/* none open: nothing */
	trackdb_close(db);
}

/* The CLI reads while the agent writes: it sees each commit, never half a batch, and never blocks it. */
static void
test_reader_beside_writer(void **state)
{
	struct trackdb *w = open_rw(), *r;
	struct fix f = mkfix(1000, 1, 2);
	char err[512];

	(void)state;
	assert_int_equal(trackdb_add(w, "a", 0, NULL, &f, 1), 1);
	assert_non_null(r = trackdb_open(path, true, err, sizeof(err)));
	assert_int_equal(trackdb_count(r, NULL), 1);
	assert_int_equal(trackdb_begin(w), 0);
	for (int i = 1; i <= 3; i++) {
		f.time_ms = 1000 + i;
		assert_int_equal(trackdb_add(w, "a", 0, NULL, &f, 1), 1);
	}
	assert_int_equal(trackdb_count(r, NULL), 1);
	assert_int_equal(trackdb_commit(w), 0);
	assert_int_equal(trackdb_count(r, NULL), 4);
	/* The reader cannot write, and says so. */
	f.time_ms = 9999;
	assert_int_equal(trackdb_add(r, "a", 0, NULL, &f, 1), -EROFS);
	assert_non_null(strstr(trackdb_error(r), "read-only"));
	assert_int_equal(trackdb_prune(r, 100000), -EROFS);
	assert_int_equal(trackdb_prune_max(r, 100000, 5), -EROFS);
	trackdb_close(r);
	trackdb_close(w);
}

static void
expect_open_error(const char *p, bool readonly, int want_errno, const char *text)
{
	char err[512];
	struct trackdb *db;

	errno = 0;
	db = trackdb_open(p, readonly, err, sizeof(err));
	if (db != NULL) {
		trackdb_close(db);
		fail_msg("%s opened; expected '%s'", p, text);
	}
	if (errno != want_errno || strstr(err, text) == NULL || strstr(err, p) == NULL)
		fail_msg("%s: expected errno %d and '%s', got %d '%s'", p, want_errno, text, errno, err);
}

static void
write_file(const char *p, const void *data, size_t len)
{
	FILE *fp = fopen(p, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

static bool
have_sqlite3_cli(void)
{
	return system("command -v sqlite3 >/dev/null 2>&1") == 0;
}

static void
test_open_errors(void **state)
{
	char p[192], cmd[512];
	struct trackdb *db;

	(void)state;
	snprintf(p, sizeof(p), "%s/no/such/dir/track.db", dir);
	expect_open_error(p, false, ENOENT, "does not exist");
	snprintf(p, sizeof(p), "%s/absent.db", dir);
	expect_open_error(p, true, ENOENT, "no track DB there");
	expect_open_error(dir, false, EISDIR, "is a directory");

	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	{
		const char *text = "lat,lon\n46.5,7.2\nthis is a text file, not SQLite, longer than its 100-byte header\n"
		    "so that SQLite reads a whole header and finds it is not one\n";

		write_file(p, text, strlen(text));
	}
	expect_open_error(p, false, EBADMSG, "not a track DB");
	expect_open_error(p, true, EBADMSG, "not a track DB");

	snprintf(p, sizeof(p), "%s/empty.db", dir);
	write_file(p, "", 0);
	expect_open_error(p, true, ENODATA, "empty file");
	assert_non_null(db = trackdb_open(p, false, cmd, sizeof(cmd)));
	trackdb_close(db);
	assert_non_null(db = trackdb_open(p, true, cmd, sizeof(cmd)));
	trackdb_close(db);

	if (!have_sqlite3_cli()) {
		print_message("no sqlite3(1): another program's SQLite file and a newer schema untested\n");
		return;
	}
	snprintf(p, sizeof(p), "%s/other.db", dir);
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' 'CREATE TABLE bundles (id INTEGER)'", p);
	assert_int_equal(system(cmd), 0);
	expect_open_error(p, false, EBADMSG, "another program");

	/* Ours, but written by a newer fieldrelay. */
	db = open_rw();
	trackdb_close(db);
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' 'PRAGMA user_version = 99'", path);
	assert_int_equal(system(cmd), 0);
	expect_open_error(path, true, EPROTO, "schema 99");
	/* And the file is inspectable: the view shows times in UTC. */
	snprintf(cmd, sizeof(cmd), "sqlite3 '%s' 'PRAGMA user_version = 1'", path);
	assert_int_equal(system(cmd), 0);
	db = open_rw();
	{
		struct fix f = mkfix(1700000000123, 46.5, 7.25);
		char out[256] = "";
		FILE *fp;

		assert_int_equal(trackdb_add(db, "alpha", 0, NULL, &f, 1), 1);
		snprintf(cmd, sizeof(cmd), "sqlite3 '%s' 'SELECT unit, time, alt FROM position_utc'", path);
		assert_non_null(fp = popen(cmd, "r"));
		assert_non_null(fgets(out, sizeof(out), fp));
		pclose(fp);
		assert_string_equal(out, "alpha|2023-11-14T22:13:20.123Z|\n");
	}
	trackdb_close(db);
}

/*
 * `fieldrelay track list` run by a user who cannot write the DB's directory
 * while the agent is stopped (no -shm to read through): it still reads.
 */
static void
test_reader_without_write_access(void **state)
{
	struct trackdb *db;
	struct fix f = mkfix(1000, 1, 2);
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	db = open_rw();
	assert_int_equal(trackdb_add(db, "a", 0, NULL, &f, 1), 1);
	trackdb_close(db);
	assert_int_equal(chmod(dir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[512];

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(77);
		if ((db = trackdb_open(path, true, err, sizeof(err))) == NULL) {
			fprintf(stderr, "%s\n", err);
			_exit(10);
		}
		_exit(trackdb_count(db, NULL) == 1 ? 0 : 11);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * Disk full: the DB on a 160 KiB tmpfs (a private mount namespace, in a child):
 * adds fail with -ENOSPC and a message, nothing crashes, and what was
 * committed before is still there.  Skipped where mounting is not allowed.
 */
static void
test_disk_full(void **state)
{
	char mnt[96];
	pid_t pid;
	int status;

	(void)state;
	snprintf(mnt, sizeof(mnt), "%s/small", dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char p[160], err[512];
		struct trackdb *db;
		int e = 0, i;

		if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("tmpfs", mnt, "tmpfs", 0, "size=160k") != 0)
			_exit(77);
		snprintf(p, sizeof(p), "%s/track.db", mnt);
		if ((db = trackdb_open(p, false, err, sizeof(err))) == NULL)
			_exit(10);
		for (i = 0; i < 100000 && e >= 0; i++) {
			struct fix f = mkfix(1000 + i, 46.5, 7.25);

			e = trackdb_add(db, "alpha-with-a-long-name-to-fill-pages", 0, "mesh", &f, 1);
		}
		if (e != -ENOSPC) {
			fprintf(stderr, "after %d adds: %d %s\n", i, e, trackdb_error(db));
			_exit(11);
		}
		if (strstr(trackdb_error(db), p) == NULL || strstr(trackdb_error(db), "full") == NULL) {
			fprintf(stderr, "message: %s\n", trackdb_error(db));
			_exit(12);
		}
		fprintf(stderr, "disk full after %d adds: %s\n", i - 1, trackdb_error(db));
		if (trackdb_count(db, NULL) != i - 1)
			_exit(13);
		/* A batch that does not fit: the adds fail or the commit does; rolled back, nothing of it stays. */
		e = 0;
		if (trackdb_begin(db) == 0) {
			int k;

			for (k = 0; k < 1000 && e >= 0; k++) {
				struct fix f = mkfix(900000 + k, 46.5, 7.25);

				e = trackdb_add(db, "bravo-with-a-long-name-to-fill-pages", 0, "mesh", &f, 1);
			}
			if (e >= 0)
				e = trackdb_commit(db);
			trackdb_rollback(db);
			fprintf(stderr, "a batch: failed after %d adds (%s)\n", k, trackdb_error(db));
			if (e != -ENOSPC) {
				fprintf(stderr, "batch: %d %s\n", e, trackdb_error(db));
				_exit(14);
			}
		}
		trackdb_close(db);
		/* Reopened on the full disk: what was committed, all of it, nothing more. */
		if ((db = trackdb_open(p, false, err, sizeof(err))) == NULL) {
			fprintf(stderr, "reopen: %s\n", err);
			_exit(15);
		}
		if (trackdb_count(db, NULL) != i - 1 || trackdb_count(db, "bravo-with-a-long-name-to-fill-pages") != 0)
			_exit(16);
		trackdb_close(db);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		print_message("cannot mount a tmpfs here: disk full untested\n");
		return;
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The name a node's own unit goes by: its latest position's, never a drone's. */
static void
test_unit_of(void **state)
{
	struct trackdb *db = open_rw();
	struct fix f = mkfix(1000, 45.0, 14.0);
	char unit[64];

	(void)state;
	assert_int_equal(trackdb_unit_of(db, 7, unit, sizeof(unit)), -ENOENT);
	assert_int_equal(trackdb_add(db, "Team 3", 7, "mesh", &f, 2000), 1);
	f.time_ms = 3000;
	f.kind = FIX_DRONE;
	assert_int_equal(trackdb_add(db, "Team 3/drone1", 7, "mesh", &f, 3500), 1);
	assert_int_equal(trackdb_unit_of(db, 7, unit, sizeof(unit)), 0);
	assert_string_equal(unit, "Team 3");
	f.time_ms = 2500;
	f.kind = FIX_PERSON;
	assert_int_equal(trackdb_add(db, "Team 3 (renamed)", 7, "mesh", &f, 3600), 1);
	assert_int_equal(trackdb_unit_of(db, 7, unit, sizeof(unit)), 0);
	assert_string_equal(unit, "Team 3 (renamed)");
	assert_int_equal(trackdb_unit_of(db, 8, unit, sizeof(unit)), -ENOENT);
	trackdb_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_once_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_positions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_units_track_last_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_beside_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_without_write_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unit_of, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
