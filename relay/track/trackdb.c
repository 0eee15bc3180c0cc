/*
 * trackdb.c - the track DB in SQLite (trackdb.h).  The only module of the
 * agent that sees sqlite3.
 *
 * The file is meant to be read by people too:
 *   sqlite3 /var/lib/fieldrelay/track.db 'SELECT * FROM position_utc'
 * so the columns are plain (text names, degrees, metres, Unix ms) and an
 * unknown value is NULL, never NAN or a magic number.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "trackdb.h"

/* 'FRtk': PRAGMA application_id, so that a track DB is told from any other SQLite file. */
#define TRACKDB_APP_ID		0x4652746b
#define TRACKDB_SCHEMA		1
/* The CLI reads while the agent commits: a commit is short, wait for it. */
#define TRACKDB_BUSY_MS		2000
/* 9999-12-31T23:59:59.999Z: a later time is a broken clock or a broken sender. */
#define TRACKDB_TIME_MAX	253402300799999LL

static const char schema_sql[] =
    "CREATE TABLE position ("
    " unit TEXT NOT NULL,"
    " node INTEGER NOT NULL,"			/* 0: this node's own */
    " kind TEXT NOT NULL CHECK (kind IN ('person', 'drone')),"
    " source TEXT NOT NULL CHECK (source IN ('gpsd', 'mavlink', 'manual')),"
    " link TEXT NOT NULL,"			/* '' for own */
    " time_ms INTEGER NOT NULL,"		/* the fix's time, Unix ms */
    " lat REAL NOT NULL, lon REAL NOT NULL,"	/* degrees WGS84 */
    " alt REAL, speed REAL, course REAL,"	/* m MSL, m/s, degrees true; NULL: unknown */
    " eph REAL, epv REAL,"			/* error estimates, m */
    " stale INTEGER NOT NULL,"			/* 1: last known position, no fix since */
    " recv_ms INTEGER NOT NULL,"		/* when stored here, Unix ms */
    /* At-least-once delivery: the second copy is the same row.  Also the index of a unit's track. */
    " UNIQUE (unit, time_ms));"
    /* Prune and every unit's track in time order. */
    "CREATE INDEX position_time ON position (time_ms);"
    "CREATE VIEW position_utc AS SELECT unit, node, kind, source, link,"
    " strftime('%Y-%m-%dT%H:%M:%fZ', time_ms / 1000.0, 'unixepoch') AS time,"
    " lat, lon, alt, speed, course, eph, epv, stale,"
    " strftime('%Y-%m-%dT%H:%M:%fZ', recv_ms / 1000.0, 'unixepoch') AS received"
    " FROM position ORDER BY time_ms;";

#define ROW_COLS "unit, node, kind, source, link, time_ms, lat, lon, alt, speed, course," \
		 " eph, epv, stale, recv_ms"

enum stmt {
	ST_ADD,
	ST_PRUNE,
	ST_PRUNE_MAX,
	ST_UNITS,
	ST_TRACK_ALL,
	ST_TRACK_UNIT,
	ST_LAST_UNIT,
	ST_COUNT_ALL,
	ST_COUNT_UNIT,
	ST_UNIT_OF,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_ADD] = "INSERT OR IGNORE INTO position (" ROW_COLS ")"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[ST_PRUNE] = "DELETE FROM position WHERE time_ms < ?",
	[ST_PRUNE_MAX] = "DELETE FROM position WHERE rowid IN"
	    " (SELECT rowid FROM position WHERE time_ms < ? ORDER BY time_ms LIMIT ?)",
	/* SQLite's bare columns with max(): the row that holds the latest time_ms. */
	[ST_UNITS] = "SELECT " ROW_COLS ", n, first FROM position JOIN"
	    " (SELECT unit AS u, max(time_ms) AS t, count(*) AS n, min(time_ms) AS first"
	    "  FROM position GROUP BY unit) ON unit = u AND time_ms = t ORDER BY unit",
	[ST_TRACK_ALL] = "SELECT " ROW_COLS " FROM position WHERE time_ms >= ?"
	    " ORDER BY time_ms, unit",
	[ST_TRACK_UNIT] = "SELECT " ROW_COLS " FROM position WHERE unit = ? AND time_ms >= ?"
	    " ORDER BY time_ms",
	[ST_LAST_UNIT] = "SELECT * FROM (SELECT " ROW_COLS " FROM position"
	    " WHERE unit = ? AND time_ms >= ? ORDER BY time_ms DESC LIMIT ?) ORDER BY time_ms",
	[ST_COUNT_ALL] = "SELECT count(*) FROM position",
	[ST_COUNT_UNIT] = "SELECT count(*) FROM position WHERE unit = ?",
	/* Uses the UNIQUE (unit, time_ms) index poorly, but runs once per node heard. */
	[ST_UNIT_OF] = "SELECT unit FROM position WHERE node = ? AND kind = 'person'"
	    " ORDER BY time_ms DESC LIMIT 1",
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

struct trackdb {
	sqlite3 *db;
	char *path;
	bool readonly;
	sqlite3_stmt *st[ST_COUNT];
	char err[512];
};

const char *
trackdb_kind_name(enum fix_kind k)
{
	return k == FIX_DRONE ? "drone" : "person";
}

int
trackdb_kind_parse(const char *s)
{
	if (strcmp(s, "person") == 0)
		return FIX_PERSON;
	if (strcmp(s, "drone") == 0)
		return FIX_DRONE;
	return -1;
}

int
trackdb_source_parse(const char *s)
{
	for (int i = 0; i < FIX_SOURCE_COUNT; i++)
		if (strcmp(s, fix_source_name((enum fix_source)i)) == 0)
			return i;
	return -1;
}

/* SQLite's result code as the errno a caller can act on. */
static int
rc_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:	return -ENOSPC;
	case SQLITE_READONLY:	return -EROFS;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:	return -EBUSY;
	case SQLITE_NOMEM:	return -ENOMEM;
	case SQLITE_PERM:
	case SQLITE_AUTH:	return -EACCES;
	case SQLITE_CANTOPEN:	return -ENOENT;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:	return -EBADMSG;
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
	case SQLITE_MISMATCH:
	case SQLITE_CONSTRAINT:	return -EINVAL;
	default:		return -EIO;
	}
}

static int
set_error(struct trackdb *db, int rc, const char *what)
{
	snprintf(db->err, sizeof(db->err), "%s: %s: %s", db->path, what,
	    db->db != NULL ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc));
	return rc_errno(rc);
}

const char *
trackdb_error(const struct trackdb *db)
{
	return db != NULL ? db->err : "";
}

static int
int_query(sqlite3 *sq, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = sqlite3_prepare_v2(sq, sql, -1, &st, NULL)) != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/*
 * Make sure the file is a track DB we can read: ours by application_id, of a
 * schema we know.  A new, empty file gets the schema (not readonly).
 */
static int
check_schema(struct trackdb *db)
{
	int64_t app, version, tables;
	char sql[128];
	int rc;

	if ((rc = int_query(db->db, "PRAGMA application_id", &app)) != SQLITE_OK)
		return set_error(db, rc, (rc & 0xff) == SQLITE_NOTADB ? "not a track DB" : "reading the schema");
	if ((rc = int_query(db->db, "PRAGMA user_version", &version)) != SQLITE_OK ||
	    (rc = int_query(db->db, "SELECT count(*) FROM sqlite_master", &tables)) != SQLITE_OK)
		return set_error(db, rc, "reading the schema");
	if (app == TRACKDB_APP_ID) {
		if (version > TRACKDB_SCHEMA) {
			snprintf(db->err, sizeof(db->err), "%s: a track DB of schema %lld, newer than"
			    " this program's %d", db->path, (long long)version, TRACKDB_SCHEMA);
			return -EPROTO;
		}
		if (version == TRACKDB_SCHEMA)
			return 0;
	} else if (app != 0 || tables != 0) {
		snprintf(db->err, sizeof(db->err), "%s: not a track DB (an SQLite file of"
		    " another program: application_id %#llx, %lld objects)", db->path,
		    (unsigned long long)app, (long long)tables);
		return -EBADMSG;
	}
	if (db->readonly) {
		snprintf(db->err, sizeof(db->err), "%s: an empty file, not a track DB yet"
		    " (the agent creates it)", db->path);
		return -ENODATA;
	}
	/* Empty, or ours at version 0 (the schema half created is impossible: one transaction). */
	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d;",
	    TRACKDB_APP_ID, TRACKDB_SCHEMA);
	if ((rc = sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
		return set_error(db, rc, "creating the schema");
	if ((rc = sqlite3_exec(db->db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(db->db, sql, NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
		int e = set_error(db, rc, "creating the schema");

		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
		return e;
	}
	return 0;
}

/* Why a path cannot be opened, in words, before SQLite says "unable to open". */
static int
check_path(const char *path, bool readonly, char *err, size_t errlen)
{
	struct stat st;
	char *dir, *slash;
	int e = 0;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: is a directory, not a track DB", path);
			return -EISDIR;
		}
		return 0;
	}
	if (errno != ENOENT) {
		e = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return e;
	}
	if (readonly) {
		snprintf(err, errlen, "%s: no track DB there (the agent creates it)", path);
		return -ENOENT;
	}
	if ((dir = strdup(path)) == NULL)
		return -ENOMEM;
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if (dir[0] != '\0' && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
			snprintf(err, errlen, "%s: the directory %s does not exist", path, dir);
			e = -ENOENT;
		}
	}
	free(dir);
	return e;
}

/* path read-only as "file:PATH?immutable=1", PATH %-escaped for the URI. */
static int
open_immutable(const char *path, sqlite3 **out)
{
	size_t n = strlen(path);
	char *uri = malloc(n * 3 + 32), *p;
	int rc;

	if (uri == NULL)
		return SQLITE_NOMEM;
	p = uri + sprintf(uri, "file:");
	for (const unsigned char *c = (const unsigned char *)path; *c != '\0'; c++) {
		if (*c == '%' || *c == '?' || *c == '#' || *c <= ' ' || *c >= 0x7f)
			p += sprintf(p, "%%%02X", *c);
		else
			*p++ = (char)*c;
	}
	strcpy(p, "?immutable=1");
	rc = sqlite3_open_v2(uri, out, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	free(uri);
	if (rc == SQLITE_OK)
		sqlite3_extended_result_codes(*out, 1);
	return rc;
}

struct trackdb *
trackdb_open(const char *path, bool readonly, char *err, size_t errlen)
{
	struct trackdb *db;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc, e;

	if (errlen > 0)
		err[0] = '\0';
	if ((e = check_path(path, readonly, err, errlen)) < 0) {
		errno = -e;
		return NULL;
	}
	if ((db = calloc(1, sizeof(*db))) == NULL || (db->path = strdup(path)) == NULL) {
		free(db);
		snprintf(err, errlen, "%s: out of memory", path);
		errno = ENOMEM;
		return NULL;
	}
	db->readonly = readonly;
	if ((rc = sqlite3_open_v2(path, &db->db, flags | SQLITE_OPEN_NOMUTEX, NULL)) != SQLITE_OK) {
		e = set_error(db, rc, "cannot open");
		goto fail;
	}
	sqlite3_extended_result_codes(db->db, 1);
	sqlite3_busy_timeout(db->db, TRACKDB_BUSY_MS);
	if ((e = check_schema(db)) == -EROFS && readonly) {
		/*
		 * A WAL file nobody has open, in a directory this user cannot
		 * write: SQLite cannot make the -shm it reads through.  With no
		 * writer (else the -shm would be there) the file does not change
		 * under us: open it as immutable.
		 */
		sqlite3_close(db->db);
		db->db = NULL;
		if ((rc = open_immutable(path, &db->db)) != SQLITE_OK) {
			e = set_error(db, rc, "cannot open");
			goto fail;
		}
		e = check_schema(db);
	}
	if (e < 0)
		goto fail;
	if (!readonly) {
		/* WAL: the CLI reads while the agent writes; NORMAL: a power cut loses at most the last commits, never the file. */
		if ((rc = sqlite3_exec(db->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
		    NULL, NULL, NULL)) != SQLITE_OK) {
			e = set_error(db, rc, "setting WAL mode");
			goto fail;
		}
	}
	for (int i = 0; i < ST_COUNT; i++) {
		if (readonly && (i == ST_ADD || i == ST_PRUNE || i == ST_PRUNE_MAX))
			continue;	/* prepared on a read-only file, they fail only when run */
		if ((rc = sqlite3_prepare_v3(db->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &db->st[i], NULL)) != SQLITE_OK) {
			e = set_error(db, rc, "preparing a statement");
			goto fail;
		}
	}
	return db;
fail:
	snprintf(err, errlen, "%s", db->err);
	trackdb_close(db);
	errno = -e;
	return NULL;
}

void
trackdb_close(struct trackdb *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_close(db->db);
	free(db->path);
	free(db);
}

static void
bind_opt(sqlite3_stmt *st, int i, double v)
{
	if (isnan(v))
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_double(st, i, v);
}

static int
run(struct trackdb *db, enum stmt which, const char *what)
{
	sqlite3_stmt *st = db->st[which];
	int rc;

	if (st == NULL) {
		snprintf(db->err, sizeof(db->err), "%s: %s: opened read-only", db->path, what);
		return -EROFS;
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return set_error(db, rc, what);
	return 0;
}

int
trackdb_add(struct trackdb *db, const char *unit, uint64_t node, const char *link,
    const struct fix *f, int64_t recv_ms)
{
	sqlite3_stmt *st = db->st[ST_ADD];
	int e;

	if (unit == NULL || unit[0] == '\0' || strlen(unit) >= TRACKDB_UNIT_MAX ||
	    (link != NULL && strlen(link) >= TRACKDB_LINK_MAX) || f->time_ms <= 0 ||
	    f->time_ms > TRACKDB_TIME_MAX ||
	    !isfinite(f->lat) || !isfinite(f->lon) || fabs(f->lat) > 90 || fabs(f->lon) > 180 ||
	    (unsigned)f->source >= FIX_SOURCE_COUNT || node > INT64_MAX) {
		snprintf(db->err, sizeof(db->err), "%s: a position of '%s' with a bad field"
		    " (unit, link, time, lat/lon, source or node)", db->path, unit != NULL ? unit : "");
		return -EINVAL;
	}
	if (st == NULL) {
		snprintf(db->err, sizeof(db->err), "%s: adding a position: opened read-only", db->path);
		return -EROFS;
	}
	sqlite3_bind_text(st, 1, unit, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)node);
	sqlite3_bind_text(st, 3, trackdb_kind_name(f->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, fix_source_name(f->source), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, link != NULL ? link : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, f->time_ms);
	sqlite3_bind_double(st, 7, f->lat);
	sqlite3_bind_double(st, 8, f->lon);
	bind_opt(st, 9, f->alt);
	bind_opt(st, 10, f->speed);
	bind_opt(st, 11, f->course);
	bind_opt(st, 12, f->eph);
	bind_opt(st, 13, f->epv);
	sqlite3_bind_int(st, 14, f->stale);
	sqlite3_bind_int64(st, 15, recv_ms);
	e = run(db, ST_ADD, "adding a position");
	sqlite3_clear_bindings(st);
	if (e < 0)
		return e;
	return sqlite3_changes(db->db) > 0 ? 1 : 0;
}

int
trackdb_begin(struct trackdb *db)
{
	return run(db, ST_BEGIN, "beginning a batch");
}

int
trackdb_commit(struct trackdb *db)
{
	return run(db, ST_COMMIT, "committing a batch");
}

void
trackdb_rollback(struct trackdb *db)
{
	if (!sqlite3_get_autocommit(db->db))
		(void)run(db, ST_ROLLBACK, "rolling back a batch");
}

int
trackdb_prune(struct trackdb *db, int64_t before_ms)
{
	int e;

	if (db->st[ST_PRUNE] == NULL)
		return run(db, ST_PRUNE, "pruning");
	sqlite3_bind_int64(db->st[ST_PRUNE], 1, before_ms);
	if ((e = run(db, ST_PRUNE, "pruning")) < 0)
		return e;
	return sqlite3_changes(db->db);
}

int
trackdb_prune_max(struct trackdb *db, int64_t before_ms, unsigned max)
{
	int e;

	if (db->st[ST_PRUNE_MAX] == NULL)
		return run(db, ST_PRUNE_MAX, "pruning");
	sqlite3_bind_int64(db->st[ST_PRUNE_MAX], 1, before_ms);
	sqlite3_bind_int64(db->st[ST_PRUNE_MAX], 2, max);
	if ((e = run(db, ST_PRUNE_MAX, "pruning")) < 0)
		return e;
	return sqlite3_changes(db->db);
}

static double
col_opt(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static void
col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(dst, cap, "%s", s != NULL ? (const char *)s : "");
}

/* The columns of ROW_COLS at the statement's row into r. */
static void
read_row(sqlite3_stmt *st, struct track_row *r)
{
	char word[16];
	int v;

	memset(r, 0, sizeof(*r));
	fix_init(&r->fix);
	col_text(st, 0, r->unit, sizeof(r->unit));
	r->node = (uint64_t)sqlite3_column_int64(st, 1);
	col_text(st, 2, word, sizeof(word));
	r->fix.kind = (v = trackdb_kind_parse(word)) >= 0 ? (enum fix_kind)v : FIX_PERSON;
	col_text(st, 3, word, sizeof(word));
	r->fix.source = (v = trackdb_source_parse(word)) >= 0 ? (enum fix_source)v : FIX_MANUAL;
	col_text(st, 4, r->link, sizeof(r->link));
	r->fix.time_ms = sqlite3_column_int64(st, 5);
	r->fix.lat = sqlite3_column_double(st, 6);
	r->fix.lon = sqlite3_column_double(st, 7);
	r->fix.alt = col_opt(st, 8);
	r->fix.speed = col_opt(st, 9);
	r->fix.course = col_opt(st, 10);
	r->fix.eph = col_opt(st, 11);
	r->fix.epv = col_opt(st, 12);
	r->fix.stale = sqlite3_column_int(st, 13) != 0;
	r->recv_ms = sqlite3_column_int64(st, 14);
}

/* Step a bound query to its end, each row to fn (rows) or ufn (units). */
static int
iterate(struct trackdb *db, sqlite3_stmt *st, trackdb_row_fn fn, trackdb_unit_fn ufn, void *arg)
{
	int rc, stop = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (ufn != NULL) {
			struct track_unit u;

			read_row(st, &u.latest);
			u.count = (uint64_t)sqlite3_column_int64(st, 15);
			u.first_ms = sqlite3_column_int64(st, 16);
			stop = ufn(&u, arg);
		} else {
			struct track_row r;

			read_row(st, &r);
			stop = fn(&r, arg);
		}
		if (stop != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE)
		stop = set_error(db, rc, "reading positions");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return stop;
}

int
trackdb_units(struct trackdb *db, trackdb_unit_fn fn, void *arg)
{
	return iterate(db, db->st[ST_UNITS], NULL, fn, arg);
}

int
trackdb_track(struct trackdb *db, const char *unit, int64_t since_ms, trackdb_row_fn fn, void *arg)
{
	sqlite3_stmt *st;

	if (unit == NULL) {
		st = db->st[ST_TRACK_ALL];
		sqlite3_bind_int64(st, 1, since_ms);
	} else {
		st = db->st[ST_TRACK_UNIT];
		sqlite3_bind_text(st, 1, unit, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, since_ms);
	}
	return iterate(db, st, fn, NULL, arg);
}

int
trackdb_last(struct trackdb *db, const char *unit, int64_t since_ms, unsigned n,
    trackdb_row_fn fn, void *arg)
{
	sqlite3_stmt *st = db->st[ST_LAST_UNIT];

	sqlite3_bind_text(st, 1, unit, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, since_ms);
	sqlite3_bind_int64(st, 3, n);
	return iterate(db, st, fn, NULL, arg);
}

int64_t
trackdb_count(struct trackdb *db, const char *unit)
{
	sqlite3_stmt *st = db->st[unit == NULL ? ST_COUNT_ALL : ST_COUNT_UNIT];
	int64_t n = 0;
	int rc;

	if (unit != NULL)
		sqlite3_bind_text(st, 1, unit, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		n = set_error(db, rc, "counting positions");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

int
trackdb_unit_of(struct trackdb *db, uint64_t node, char *unit, size_t cap)
{
	sqlite3_stmt *st = db->st[ST_UNIT_OF];
	int rc, r = -ENOENT;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)node);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(unit, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = set_error(db, rc, "looking up a node's unit");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}
