/*
 * trackdb.h - the track DB: every position this node has seen, its own and
 * those received, per unit, in one plain SQLite file anyone can open with
 * sqlite3(1) (table position, view position_utc).  The agent writes it; the
 * CLI and the exports read it at the same time (WAL).
 *
 * A position delivered twice (the network delivers at least once) is stored
 * once: a unit has at most one position per time_ms.
 */
#ifndef FIELDRELAY_TRACK_TRACKDB_H
#define FIELDRELAY_TRACK_TRACKDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fix.h"

#define TRACKDB_UNIT_MAX	64
#define TRACKDB_LINK_MAX	32

struct trackdb;

/* One stored position, as the iterators hand it over. */
struct track_row {
	char unit[TRACKDB_UNIT_MAX];	/* the unit's name */
	uint64_t node;			/* the node it came from, 0: this node's own */
	char link[TRACKDB_LINK_MAX];	/* the link it came over, "" for this node's own */
	struct fix fix;
	int64_t recv_ms;		/* when this node stored it, Unix ms */
};

/* A unit: its latest position and how many it has. */
struct track_unit {
	struct track_row latest;
	uint64_t count;			/* positions stored */
	int64_t first_ms;		/* the time of the oldest */
};

/*
 * Called once per row or unit; a non-zero return stops the iteration and is
 * what the iterator returns.
 */
typedef int (*trackdb_row_fn)(const struct track_row *row, void *arg);
typedef int (*trackdb_unit_fn)(const struct track_unit *unit, void *arg);

/*
 * Open (and, not readonly, create) the track DB at path.  A file that is not
 * a track DB, one of a newer schema, a directory that does not exist: NULL,
 * errno set, and a sentence naming path in err.  readonly: never writes (the
 * CLI, while the agent writes).
 */
struct trackdb *trackdb_open(const char *path, bool readonly, char *err, size_t errlen);
void trackdb_close(struct trackdb *db);

/* The last error's message (the path, what failed, SQLite's words), or "". */
const char *trackdb_error(const struct trackdb *db);

/*
 * Store one position of unit from node over link (NULL: "") received at
 * recv_ms.  1: added, 0: that unit already has a position at that time,
 * -errno (-ENOSPC disk full, -EROFS read-only, -EBUSY locked, -EINVAL a bad
 * argument, -EIO) with trackdb_error() saying why.
 */
int trackdb_add(struct trackdb *db, const char *unit, uint64_t node, const char *link,
    const struct fix *f, int64_t recv_ms);

/* Many adds in one transaction (one sync): begin, adds, commit.  0 or -errno. */
int trackdb_begin(struct trackdb *db);
int trackdb_commit(struct trackdb *db);
/* Undo the adds since begin (after an error). */
void trackdb_rollback(struct trackdb *db);

/*
 * Delete every position measured before before_ms: the count, or -errno.
 * Called every minute it deletes a minute's positions (20 units at one fix
 * per 10 s: 120 rows, 0.3 ms); after a long stop it may have hours to
 * delete (7080 rows: 18 ms): trackdb_prune_max bounds the work per call.
 */
int trackdb_prune(struct trackdb *db, int64_t before_ms);
/* The same, the oldest max positions at most: call again while it returns max. */
int trackdb_prune_max(struct trackdb *db, int64_t before_ms, unsigned max);

/*
 * Each unit's latest position (by time), by unit name: 0, fn's stop value, or
 * -errno.  It counts every row: 50 ms for 345600 positions (20 units, 48 h at
 * one per 10 s), for the CLI, not for every tick of the agent's loop.
 */
int trackdb_units(struct trackdb *db, trackdb_unit_fn fn, void *arg);

/* The positions of unit (NULL: every unit) measured at or after since_ms, in time order. */
int trackdb_track(struct trackdb *db, const char *unit, int64_t since_ms, trackdb_row_fn fn,
    void *arg);

/* The last n positions of unit at or after since_ms, in time order (`track show`). */
int trackdb_last(struct trackdb *db, const char *unit, int64_t since_ms, unsigned n,
    trackdb_row_fn fn, void *arg);

/* How many positions are stored (unit NULL: all): the count or -errno. */
/* The name of node's own unit (its latest position that is no drone's): 0, -ENOENT, -errno. */
int trackdb_unit_of(struct trackdb *db, uint64_t node, char *unit, size_t cap);
int64_t trackdb_count(struct trackdb *db, const char *unit);

/* The kind column: "person", "drone"; parse: the kind or -1. */
const char *trackdb_kind_name(enum fix_kind k);
int trackdb_kind_parse(const char *s);
/* The source column ("gpsd", "mavlink", "manual", fix_source_name) back to the source, or -1. */
int trackdb_source_parse(const char *s);

#endif
