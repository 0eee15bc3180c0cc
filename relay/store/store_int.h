/*
 * store_int.h - what store.c, store_writer.c and store_read.c share: the
 * schema and statements, the queued operation, the store itself and small
 * helpers.  Private to relay/store*.c; everybody else uses store.h.
 *
 * Shared functions are named for the file that defines them: store_w_ in
 * store_writer.c, store_i_ in store_insert.c, store_x_ in store_exec.c,
 * store_r_ in store_read.c.
 */
#ifndef FIELDRELAY_STORE_INT_H
#define FIELDRELAY_STORE_INT_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <unistd.h>

#include "store.h"

#define SCHEMA_VERSION		6	/* 2: flags column, flood states, forward table in use;
				 * 3: link_budget (a table more: 2 -> 3 only creates it);
				 * 4: ctime, cseq (which of two superseding bundles is newer);
				 * 5: peers (a table more: 4 -> 5 only creates it);
				 * 6: registrations, pending (tables more: 5 -> 6 only creates them) */
#define CHUNK			(64 * 1024)	/* streaming unit for fd payloads */
#define BUSY_MS			5000		/* busy timeout of both connections */

/*
 * Estimated bytes a bundle takes in pages beyond its own bytes: the record
 * header and its id in the table, the id index, the seen row, the expiry
 * indexes.  C and SQL must agree exactly, the SQL form sums them at open.
 */
#define ROW_OVERHEAD		96
#define EST_SQL	"size + 3 * length(CAST(id AS BLOB)) + length(CAST(src AS BLOB)) + " \
		"length(CAST(dst AS BLOB)) + " \
		"2 * coalesce(length(CAST(supersede AS BLOB)), 0) + 96"

#define ROW_COLS "dst, priority, state, size, " EST_SQL
#define ENTRY_COLS "rowid, id, src, dst, dst_node, dst_service, priority, state, " \
		"size, head_len, payload_len, received, expires, flags"

/* Flood states (store.h) as SQL: the same text in the indexes and queries, so
 * that SQLite sees the partial indexes apply. */
#define SQL_FLOOD		"state IN (3, 4)"
#define SQL_LOCAL		"state IN (1, 4)"

#define BUNDLES_COLUMNS "("						\
	" rowid INTEGER PRIMARY KEY,"	/* given by the writer, see store_i_put() */ \
	" id TEXT NOT NULL UNIQUE,"					\
	" src TEXT NOT NULL,"						\
	" dst TEXT NOT NULL,"						\
	" dst_node INTEGER NOT NULL,"					\
	" dst_service INTEGER NOT NULL,"				\
	" priority INTEGER NOT NULL,"					\
	" state INTEGER NOT NULL,"					\
	" size INTEGER NOT NULL,"					\
	" head_len INTEGER NOT NULL,"					\
	" payload_len INTEGER NOT NULL,"				\
	" received INTEGER NOT NULL,"					\
	" expires INTEGER NOT NULL,"					\
	" supersede TEXT,"						\
	" flags INTEGER NOT NULL DEFAULT 0,"	/* bundle processing flags */ \
	" ctime INTEGER NOT NULL DEFAULT 0,"	/* creation timestamp: time, */ \
	" cseq INTEGER NOT NULL DEFAULT 0,"	/* sequence (supersede order) */ \
	" data BLOB NOT NULL)"		/* last: scans need not walk its pages */

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS bundles " BUNDLES_COLUMNS ";"
	"CREATE INDEX IF NOT EXISTS bundles_supersede ON bundles(supersede)"
	" WHERE supersede IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS bundles_local ON bundles(dst_service, rowid)"
	" WHERE " SQL_LOCAL ";"
	/* The forwarder walks queued bundles most urgent first, */
	"CREATE INDEX IF NOT EXISTS bundles_queued ON bundles(priority, rowid)"
	" WHERE state = 0;"
	/* and the bundles for every node likewise, in a walk of their own. */
	"CREATE INDEX IF NOT EXISTS bundles_flood ON bundles(priority, rowid)"
	" WHERE " SQL_FLOOD ";"
	/* Which neighbour has which flood bundle (state: enum store_holder_how):
	 * flooding and data mules; see store_handed(). */
	"CREATE TABLE IF NOT EXISTS forward ("
	" bundle INTEGER NOT NULL,"
	" neighbour INTEGER NOT NULL,"
	" state INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" PRIMARY KEY (bundle, neighbour)) WITHOUT ROWID;"
	"CREATE TRIGGER IF NOT EXISTS bundles_gone AFTER DELETE ON bundles"
	" BEGIN DELETE FROM forward WHERE bundle = old.rowid; END;"
	/* Transfers cut half way, resumed after a restart (rowid: blob I/O). */
	"CREATE TABLE IF NOT EXISTS partial ("
	" rowid INTEGER PRIMARY KEY,"
	" peer INTEGER NOT NULL,"
	" id TEXT NOT NULL,"
	" total INTEGER NOT NULL,"
	" received INTEGER NOT NULL,"
	" updated INTEGER NOT NULL,"
	" data BLOB NOT NULL,"
	" UNIQUE (peer, id));"
	/*
	 * Identities remembered until the bundle's lifetime ends.  Every bundle
	 * has its seen row with the same expiry (inserted in its transaction,
	 * deleted with it at expiry), so expiry finds bundles through
	 * seen_expires and bundles need no expiry index of their own.
	 */
	"CREATE TABLE IF NOT EXISTS seen ("
	" id TEXT PRIMARY KEY,"
	" expires INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS seen_expires ON seen(expires);"
	"CREATE TABLE IF NOT EXISTS counters ("
	" name TEXT PRIMARY KEY,"
	" value INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT OR IGNORE INTO counters VALUES ('boot', 0), ('seq', 1);"
	/* What a metered link spent in its budget period: a restart must not
	 * hand out the period's budget again (store_budget_save()). */
	"CREATE TABLE IF NOT EXISTS link_budget ("
	" link TEXT PRIMARY KEY,"
	" period INTEGER NOT NULL,"
	" spent INTEGER NOT NULL) WITHOUT ROWID;"
	/* Replay protection across restarts (relay/daemon/peerstate.c): per sender
	 * node, its newest boot counter and the highest frame counter of that
	 * boot seen here, saved now and then (store_peer_save()). */
	"CREATE TABLE IF NOT EXISTS peers ("
	" node INTEGER PRIMARY KEY,"
	" boot INTEGER NOT NULL,"
	" top INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);"
	/*
	 * Durable registrations of agents (store_reg.c): a bundle for a local
	 * service has one pending row per registration of its service, from
	 * its put (or the registration) until that registration acks it; the
	 * last ack takes it.  A bundle's rows go with it (expiry, delete).
	 */
	"CREATE TABLE IF NOT EXISTS registrations ("
	" id INTEGER PRIMARY KEY,"
	" service INTEGER NOT NULL,"
	" name TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" UNIQUE (service, name));"
	"CREATE TABLE IF NOT EXISTS pending ("
	" reg INTEGER NOT NULL,"
	" bundle INTEGER NOT NULL,"
	" PRIMARY KEY (reg, bundle)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS pending_bundle ON pending(bundle);"
	"CREATE TRIGGER IF NOT EXISTS bundles_gone_pending AFTER DELETE ON bundles"
	" BEGIN DELETE FROM pending WHERE bundle = old.rowid; END;";

/*
 * Version 1 to 2: the bundles table gains its flags column before data (a
 * column added at the end would sit behind every payload's pages) and the
 * local index covers state 4.  The table is rebuilt once; dropping it drops
 * its indexes and trigger, which schema_sql then creates afresh.
 */
static const char migrate_v1_sql[] =
	"CREATE TABLE bundles_v2 " BUNDLES_COLUMNS ";"
	"INSERT INTO bundles_v2 (rowid, id, src, dst, dst_node, dst_service, priority, state,"
	" size, head_len, payload_len, received, expires, supersede, flags, data)"
	" SELECT rowid, id, src, dst, dst_node, dst_service, priority, state, size, head_len,"
	" payload_len, received, expires, supersede, 0, data FROM bundles;"
	"DROP TABLE bundles;"
	"ALTER TABLE bundles_v2 RENAME TO bundles;"
	"DELETE FROM forward;";

/*
 * Version 2 or 3 to 4: the creation timestamp, for supersede.  Added at the
 * end, behind the data: it is read only for the few bundles with the key of
 * a put (small position reports), so the table need not be rebuilt.
 * Bundles stored before have 0, 0: any newer one supersedes them.
 */
static const char migrate_v3_sql[] =
	"ALTER TABLE bundles ADD COLUMN ctime INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE bundles ADD COLUMN cseq INTEGER NOT NULL DEFAULT 0;";

/*
 * What an expiry leaves: a bundle in flight (store_keep(), store.c) keeps
 * its row and its seen row until its link lets go.
 */
#define EXPIRE_KEEP	"NOT EXISTS (SELECT 1 FROM bundles b WHERE b.id = seen.id AND store_keep(b.rowid))"

/* Statements of the writer connection. */
enum {
	W_BEGIN, W_COMMIT, W_ROLLBACK, W_SAVEPOINT, W_RELEASE, W_ROLLBACK_TO,
	W_SEEN_ADD, W_SEEN_HAS, W_SUPERSEDE, W_INSERT, W_DELETE, W_DELETE_DO,
	W_EXPIRE_BUNDLES, W_EXPIRE_BUNDLES_DO, W_EXPIRE_SEEN, W_PAGES, W_FREE_PAGES, W_SEQ_SET,
	W_EXPIRE_REPORTS, W_TAKE, W_TAKE_FLOOD, W_HANDED, W_HANDED_ID, W_HANDED_SENT,
	W_BUDGET_SET, W_ROW_ID, W_PEER_SET, W_SEQ_CLOSE,
	W_PENDING_ADD, W_REG_ADD, W_REG_ID, W_REG_BACKLOG, W_REG_DEL, W_REG_ORPHANS, W_PENDING_DEL_REG,
	W_PENDING_DEL, W_PENDING_LEFT, W_COUNT
};

static const char *const wsql[W_COUNT] = {
	[W_BEGIN] = "BEGIN IMMEDIATE",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	[W_SAVEPOINT] = "SAVEPOINT op",
	[W_RELEASE] = "RELEASE op",
	[W_ROLLBACK_TO] = "ROLLBACK TO op",
	[W_SEEN_ADD] = "INSERT INTO seen (id, expires) VALUES (?1, ?2)",
	[W_SEEN_HAS] = "SELECT count(*) FROM seen WHERE id = ?1",
	/*
	 * Deletions come in pairs: a SELECT of what is about to go (for the
	 * totals), then the DELETE.  A DELETE ... RETURNING would build every
	 * deleted record in memory, 16 MB of payload included.
	 */
	/* The bundles a put with a key competes with (deleted by rowid, below). */
	[W_SUPERSEDE] = "SELECT rowid, id, state, flags, ctime, cseq FROM bundles"
	    " WHERE supersede = ?1 AND state IN (0, 3, 4)",
	[W_INSERT] = "INSERT INTO bundles (id, src, dst, dst_node, dst_service,"
	    " priority, state, size, head_len, payload_len, received, expires,"
	    " supersede, data, rowid, flags, ctime, cseq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
	    " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
	[W_DELETE] = "SELECT " ROW_COLS " FROM bundles WHERE rowid = ?1",
	[W_DELETE_DO] = "DELETE FROM bundles WHERE rowid = ?1",
	[W_EXPIRE_BUNDLES] = "SELECT " ROW_COLS " FROM bundles WHERE id IN (SELECT id FROM seen"
	    " WHERE expires < ?1 AND " EXPIRE_KEEP " ORDER BY expires LIMIT ?2)",
	[W_EXPIRE_BUNDLES_DO] = "DELETE FROM bundles WHERE id IN (SELECT id FROM seen"
	    " WHERE expires < ?1 AND " EXPIRE_KEEP " ORDER BY expires LIMIT ?2)",
	[W_EXPIRE_SEEN] = "DELETE FROM seen WHERE id IN (SELECT id FROM seen"
	    " WHERE expires < ?1 AND " EXPIRE_KEEP " ORDER BY expires LIMIT ?2)",
	[W_PAGES] = "PRAGMA page_count",
	[W_FREE_PAGES] = "PRAGMA freelist_count",
	[W_SEQ_SET] = "UPDATE counters SET value = ?1 WHERE name = 'seq'",
	/* Back down to the next unused number, unless somebody else wrote it. */
	[W_SEQ_CLOSE] = "UPDATE counters SET value = ?1 WHERE name = 'seq' AND value = ?2",
	/* The same rows as W_EXPIRE_BUNDLES that asked for a deletion report. */
	[W_EXPIRE_REPORTS] = "SELECT rowid FROM bundles WHERE id IN (SELECT id FROM seen"
	    " WHERE expires < ?1 AND " EXPIRE_KEEP " ORDER BY expires LIMIT ?2) AND flags & ?3 != 0",
	[W_TAKE] = "SELECT state FROM bundles WHERE rowid = ?1",
	[W_TAKE_FLOOD] = "UPDATE bundles SET state = 3 WHERE rowid = ?1 AND state = 4",
	[W_HANDED] = "INSERT OR IGNORE INTO forward (bundle, neighbour, state, updated)"
	    " SELECT rowid, ?2, ?3, ?4 FROM bundles WHERE rowid = ?1 AND " SQL_FLOOD,
	[W_HANDED_ID] = "INSERT OR IGNORE INTO forward (bundle, neighbour, state, updated)"
	    " SELECT rowid, ?2, ?3, ?4 FROM bundles WHERE id = ?1 AND " SQL_FLOOD,
	[W_HANDED_SENT] = "SELECT count(*) FROM forward WHERE bundle = ?1 AND state = 2",
	[W_BUDGET_SET] = "INSERT OR REPLACE INTO link_budget (link, period, spent) VALUES (?1, ?2, ?3)",
	[W_ROW_ID] = "SELECT id, flags FROM bundles WHERE rowid = ?1",
	/* Never backwards: saves may arrive out of order, a replay may not win. */
	[W_PEER_SET] = "INSERT INTO peers (node, boot, top, updated) VALUES (?1, ?2, ?3, ?4)"
	    " ON CONFLICT (node) DO UPDATE SET boot = excluded.boot, top = excluded.top,"
	    " updated = excluded.updated WHERE excluded.boot > peers.boot"
	    " OR (excluded.boot = peers.boot AND excluded.top > peers.top)",
	/* A bundle for a local service waits for each registration of its service. */
	[W_PENDING_ADD] = "INSERT INTO pending (reg, bundle) SELECT id, ?1 FROM registrations WHERE service = ?2",
	[W_REG_ADD] = "INSERT OR IGNORE INTO registrations (service, name, created) VALUES (?1, ?2, ?3)",
	[W_REG_ID] = "SELECT id FROM registrations WHERE service = ?1 AND name = ?2",
	/* A new registration gets what waits for its service already. */
	[W_REG_BACKLOG] = "INSERT OR IGNORE INTO pending (reg, bundle) SELECT ?1, rowid FROM bundles"
	    " WHERE " SQL_LOCAL " AND dst_service = ?2",
	[W_REG_DEL] = "DELETE FROM registrations WHERE id = ?1",
	/* Bundles only the registration going away still waited for, when others remain. */
	[W_REG_ORPHANS] = "SELECT p.bundle FROM pending p WHERE p.reg = ?1"
	    " AND NOT EXISTS (SELECT 1 FROM pending q WHERE q.bundle = p.bundle AND q.reg != ?1)"
	    " AND EXISTS (SELECT 1 FROM registrations r WHERE r.service = ?2 AND r.id != ?1)",
	[W_PENDING_DEL_REG] = "DELETE FROM pending WHERE reg = ?1",
	[W_PENDING_DEL] = "DELETE FROM pending WHERE reg = ?1 AND bundle = ?2",
	[W_PENDING_LEFT] = "SELECT count(*) FROM pending WHERE bundle = ?1",
};

/* Statements of the read connection. */
enum { R_GET, R_NEXT_LOCAL, R_NEXT_QUEUED, R_NEXT_FRAGMENT, R_QUEUED_BATCH, R_BEGIN, R_COMMIT, R_PAGES,
	R_FREE_PAGES, R_NEXT_FLOOD, R_HOLDERS, R_MAX_ROWID, R_BUDGET, R_PEERS,
	R_NEXT_PENDING, R_REG_FIND, R_REG_COUNT, R_REGS, R_COUNT };

static const char *const rsql[R_COUNT] = {
	[R_GET] = "SELECT " ENTRY_COLS " FROM bundles WHERE rowid = ?1",
	[R_NEXT_LOCAL] = "SELECT " ENTRY_COLS " FROM bundles WHERE " SQL_LOCAL
	    " AND dst_service = ?1 AND rowid > ?2 ORDER BY rowid LIMIT 1",
	/* One class at a time: an index seek on (priority, rowid), never a scan. */
	[R_NEXT_QUEUED] = "SELECT " ENTRY_COLS " FROM bundles WHERE state = 0"
	    " AND priority = ?1 AND rowid > ?2 ORDER BY rowid LIMIT 1",
	/* A fragment's id is its whole bundle's id, a space, offset and length:
	 * the siblings are a range of the id index. */
	[R_NEXT_FRAGMENT] = "SELECT " ENTRY_COLS " FROM bundles WHERE state = 2"
	    " AND id >= ?1 AND id < ?1 || '\x7f' AND rowid > ?2 ORDER BY rowid LIMIT 1",
	[R_QUEUED_BATCH] = "SELECT rowid, dst_node, size, flags FROM bundles WHERE state = 0"
	    " AND priority = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3",
	[R_BEGIN] = "BEGIN",
	[R_COMMIT] = "COMMIT",
	[R_PAGES] = "PRAGMA page_count",
	[R_FREE_PAGES] = "PRAGMA freelist_count",
	[R_NEXT_FLOOD] = "SELECT " ENTRY_COLS " FROM bundles WHERE " SQL_FLOOD
	    " AND priority = ?1 AND rowid > ?2 ORDER BY rowid LIMIT 1",
	[R_HOLDERS] = "SELECT neighbour, state, updated FROM forward WHERE bundle = ?1"
	    " ORDER BY neighbour",
	[R_MAX_ROWID] = "SELECT coalesce(max(rowid), 0) FROM bundles",
	[R_BUDGET] = "SELECT period, spent FROM link_budget WHERE link = ?1",
	[R_PEERS] = "SELECT node, boot, top FROM peers ORDER BY updated DESC",
	[R_NEXT_PENDING] = "SELECT " ENTRY_COLS " FROM bundles WHERE rowid IN (SELECT bundle FROM pending"
	    " WHERE reg = ?1 AND bundle > ?2 ORDER BY bundle LIMIT 1)",
	[R_REG_FIND] = "SELECT id FROM registrations WHERE service = ?1 AND name = ?2",
	[R_REG_COUNT] = "SELECT count(*) FROM registrations WHERE service = ?1",
	[R_REGS] = "SELECT r.id, r.service, r.name, r.created,"
	    " (SELECT count(*) FROM pending p WHERE p.reg = r.id) FROM registrations r ORDER BY r.service, r.name",
};

enum op_kind { OP_PUT, OP_DELETE, OP_EXPIRE, OP_SEQ, OP_TAKE, OP_HANDED, OP_BUDGET, OP_PEER, OP_REG, OP_UNREG,
	OP_REG_ACK };

/* One queued operation.  Replayable until writer_finish() strips it. */
struct op {
	TAILQ_ENTRY(op) entry;
	enum op_kind kind;
	int result;
	int64_t rowid;			/* delete: the row; put: the new row; expire: rows gone */
	uint64_t ticket;		/* queue order, for store_flush() */
	store_done_fn *done;
	void *arg;
	size_t mem;			/* bytes held, counted against queue_max */
	size_t weight;			/* bytes counted toward commit_bytes */
	uint64_t value;			/* expire: now; seq: the new reservation; handed: neighbour;
					 * budget: bytes spent (the link's name in id, period in expires);
					 * peer: the node (boot, top in ctime, cseq) */
	uint64_t mask;			/* expire: flags that want the primary block back */
	int how;			/* handed: enum store_holder_how */
	int64_t bundle;			/* handed: the bundle's row (0: by id) */
	uint8_t *peek;			/* expire: [len u16][bytes]... of reported bundles */
	size_t peek_len;
	uint8_t *sup;			/* put, delete of a stale row: bundles it superseded,
					 * see store_i_sup_add(); such a delete has the newer id in id */
	size_t sup_len;
	bool doomed;			/* has rows in store->doomed or ->stale */

	/* OP_PUT: buf holds head, payload (unless from fd), tail, strings. */
	uint8_t *buf;
	int fd;
	uint64_t fd_off;		/* payload starts here in fd */
	const char *id, *src, *dst, *supersede;
	uint64_t dst_node, dst_service, expires, received, payload_len, est, flags, from;
	uint64_t ctime, cseq;
	size_t head_len, tail_len;
	int priority, state;
};
TAILQ_HEAD(op_list, op);

/* How the totals count states: queued, local (and waiting fragments), flood. */
enum { KIND_QUEUED, KIND_LOCAL, KIND_FLOOD, STORE_KINDS };

static inline int
state_kind(int state)
{
	if (state == STORE_QUEUED)
		return KIND_QUEUED;
	if (state == STORE_FLOOD || state == STORE_FLOOD_LOCAL)
		return KIND_FLOOD;
	return KIND_LOCAL;
}

/* Bundles of one destination, class and kind of state: store_queue(), stats. */
struct group {
	struct group *next;		/* hash chain */
	uint64_t count, bytes;
	unsigned hash;
	int priority, state;		/* state: its kind */
	char dst[];
};

struct delta;			/* see store_writer.c */

struct store {
	struct store_options opt;
	char *path, *vfs;
	sqlite3 *wdb, *rdb;
	sqlite3_stmt *w[W_COUNT], *r[R_COUNT];
	uint64_t page_size;
	uint64_t boot;
	int efd;
	pthread_t thread;
	bool running;

	/* Queue and completions, under qmu. */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;		/* to the writer: work, flush, stop */
	pthread_cond_t donecv;		/* to flushers: a group finished */
	struct op_list queue, completed;
	size_t queue_mem;
	uint64_t next_ticket, done_ticket, ops;
	unsigned flushers;
	bool stopping;

	/* Writer thread only. */
	struct op_list pending;		/* taken off the queue, not run yet */
	uint8_t *chunk;
	struct delta *deltas;
	size_t ndeltas, maxdeltas;
	int64_t seen_txn;
	uint64_t est[PRIO_COUNT];	/* estimated bytes per class, committed */
	uint64_t est_txn[PRIO_COUNT];	/* the same inside the open transaction */
	bool broken;			/* the open transaction must be abandoned */
	bool dirty;			/* the running operation has written */
	int64_t last_rowid;		/* highest rowid given out */
	int64_t last_rowid_txn;
	int wal_frames;

	/* Committed totals, under smu; groups change only in the writer. */
	pthread_mutex_t smu;
	struct group **buckets;
	size_t nbuckets, ngroups;
	uint64_t cls_count[PRIO_COUNT], cls_bytes[PRIO_COUNT];
	uint64_t state_count[STORE_KINDS], state_bytes[STORE_KINDS];
	uint64_t seen, commits;

	/* Sequence numbers, under seqmu: [seq_next, seq_durable) are ours;
	 * seq_pending: a reservation is queued (store_next_seq()). */
	pthread_mutex_t seqmu;
	uint64_t seq_next, seq_durable;
	bool seq_pending;

	pthread_mutex_t rmu;		/* the read connection and its statements */

	/* Expired bundles that asked for a deletion report (loop thread). */
	uint64_t expire_mask;
	store_expired_fn *expired_fn;
	void *expired_arg;
	/* Superseded bundles (loop thread; sup_mask read by the writer). */
	uint64_t sup_mask;
	store_superseded_fn *sup_fn;
	void *sup_arg;
	store_stale_fn *stale_fn;
	void *stale_arg;

	/*
	 * Under pinmu: rows in flight (store_pin), and rows a supersede
	 * deletes, by the ticket of its put, until store_dispatch() has
	 * answered that put.  A walk reads rows and pins them in one loop
	 * callback, so a row it read before the delete committed is still
	 * doomed when it asks to pin it.
	 */
	pthread_mutex_t pinmu;
	int64_t *pins;
	size_t npins, maxpins;
	struct doomed { int64_t rowid; uint64_t ticket; } *doomed;
	size_t ndoomed, maxdoomed;
	/* Rows a supersede left alone because they were pinned: once its put
	 * is answered as done (confirmed), the last store_unpin() deletes them
	 * (by: the id of the newer bundle).  A put that failed confirms none. */
	struct stale { int64_t rowid; char *by; uint64_t ticket; bool confirmed; } *stale;
	size_t nstale, maxstale;
	/* Rows whose lifetime ended while pinned: an expiry left them (and their
	 * seen rows) alone, and nobody may pin them again; the last store_unpin()
	 * sweeps them (store_pin.c).  told: the sender was offered to take it
	 * back (store_on_stale); gone: let go, for the next expiry. */
	struct held { int64_t rowid; uint64_t ticket; bool told, gone; } *held;
	size_t nheld, maxheld;
	/* Rows the next hop has whose delete failed: never pinned (sent) again,
	 * their delete retried at retry_at (store_space.c). */
	int64_t *undel;
	size_t nundel, maxundel;
	uint64_t retry_at;		/* CLOCK_MONOTONIC ms, 0 none */

	/* The reserve file (store_space.c; writer thread after open). */
	char reserve_path[PATH_MAX];
	int reserve_fd;
	uint64_t reserve_size;		/* bytes it holds when not released */
	bool reserve_out;		/* released: new bundles are refused */
	uint64_t reserve_check;		/* when to try to take it back */
	bool fs_short;			/* the filesystem had less room than the quota at open */
	uint64_t fs_known, fs_at, fs_spent;	/* writer: free bytes at the last look, when, written since */
	struct op *expiring;		/* writer: the expiry running (store_keep()) */
};

static inline int64_t
i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/*
 * SQLite result -> errno.  A file-size limit (EFBIG) or a filesystem quota
 * is a full disk to us; -EDQUOT is kept for our own quota.
 */
static inline int
db_errno(sqlite3 *db, int rc)
{
	int e;

	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_IOERR:
		e = sqlite3_system_errno(db);
		if (e == ENOSPC || e == EFBIG || e == EDQUOT)
			return -ENOSPC;
		return -EIO;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	default:
		return -EIO;
	}
}

/* A one-integer query of a cached statement, e.g. a pragma. */
static inline int
step_int(sqlite3_stmt *st, int64_t *v)
{
	int rc;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_reset(st);
	return rc;
}

/* Step a cached statement once, for its effect; SQLITE_OK or the error. */
static inline int
step_reset(sqlite3_stmt *st)
{
	int rc;

	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static inline void
op_strip(struct op *op)
{
	free(op->buf);
	op->buf = NULL;
	if (op->fd != -1)
		close(op->fd);
	op->fd = -1;
}

/* store.c: operations */
uint64_t store_wall_ms(void);
struct op *store_op_new(enum op_kind kind, store_done_fn *done, void *arg);
void store_op_free(struct op *op);
int store_enqueue(struct store *s, struct op *op);

/* store_pin.c: rows in flight */
void store_p_keep(sqlite3_context *ctx, int argc, sqlite3_value **argv);
void store_p_held_tell(struct store *s, uint64_t ticket, bool done);
void store_p_doomed_clear(struct store *s, uint64_t ticket, bool done);

/* store_writer.c: the thread, group commits, the working totals */
void *store_w_main(void *arg);
int store_w_wal_hook(void *arg, sqlite3 *db, const char *name, int frames);
int store_w_fail(struct store *s, int rc);
int store_w_delta_add(struct store *s, struct group *g, int64_t count, int64_t bytes, int64_t est);
int store_w_drop_rows(struct store *s, sqlite3_stmt *st);

/* store_insert.c: a put */
int store_i_put(struct store *s, struct op *op);
bool store_i_streamed(const struct op *op);
int store_i_sup_add(struct store *s, struct op *op, const char *id, const char *by, int64_t rowid,
    uint64_t flags);

/* store_exec.c: the other operations, and what a put borrows from them */
int store_x_handed_insert(struct store *s, int64_t rowid, const char *id, uint64_t nbr, int how,
    uint64_t when);
int store_x_peek_head(struct store *s, struct op *op, int64_t rowid);
int store_x_delete(struct store *s, struct op *op);
int store_x_expire(struct store *s, struct op *op);
int store_x_take(struct store *s, struct op *op);
int store_x_handed(struct store *s, struct op *op);
int store_x_seq(struct store *s, struct op *op);
int store_x_budget(struct store *s, struct op *op);
int store_x_peer(struct store *s, struct op *op);

/* store_reg.c: durable registrations (the writer's side) */
int store_g_pending_add(struct store *s, int64_t rowid, uint64_t service);
int store_g_exec(struct store *s, struct op *op);

/* store_space.c: a full filesystem */
void store_s_open(struct store *s);
void store_s_close(struct store *s);
bool store_s_release(struct store *s);
void store_s_check(struct store *s);
int store_s_put_room(struct store *s, int priority, uint64_t need);
uint64_t store_s_fs_free(const struct store *s);
bool store_s_tight(struct store *s, uint64_t wal_frames);
bool store_s_let_go(const struct store *s, int64_t rowid);
void store_s_deleted(struct store *s, const struct op *op);
long store_s_retry(struct store *s);

/* store_read.c: the committed per-group totals */
struct group *store_r_group_get(struct store *s, const char *dst, int priority, int state);
void store_r_groups_prune(struct store *s);
void store_r_groups_free(struct store *s);
void store_r_totals_add(struct store *s, struct group *g, int64_t count, int64_t bytes);

#endif
