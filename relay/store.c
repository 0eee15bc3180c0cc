/*
 * store.c - the durable bundle store (DESIGN.md section 7), see store.h.
 *
 * Two connections to one WAL database.  The writer connection belongs to the
 * writer thread: it takes operations off a queue, runs each inside its own
 * SAVEPOINT of one group transaction, and commits (synchronous=FULL: that is
 * the fsync) once commit_bytes are pending or commit_ms have passed.  Done
 * operations go onto a completion list and the eventfd is signalled;
 * store_dispatch() runs their callbacks on the loop thread.  The read
 * connection serves lookups on the caller's thread; WAL lets it read while
 * the writer writes.
 *
 * If a group fails as a whole (disk full, I/O error) it is rolled back and
 * its operations run again one transaction each, so that those which fit
 * still succeed and each gets its own answer.  That works because an
 * operation can be replayed until it is finished: memory payloads are
 * copied, fd payloads are dup()ed and read with pread() from offset 0.
 *
 * Counts and bytes per destination, class and state are kept in memory
 * (loaded by one scan at open, changed only when a transaction commits), so
 * that stats, queue summaries and quota checks never scan the bundles.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "log.h"
#include "store.h"

#define SCHEMA_VERSION		1
#define SEQ_BLOCK		65536		/* sequence numbers reserved per durable write */
#define CHUNK			(64 * 1024)	/* streaming unit for fd payloads */
#define BIND_MAX		(256 * 1024)	/* memory bundles up to this are bound whole */
#define QUEUE_MAX		(64u << 20)	/* default store_options.queue_max */
#define COMMIT_MS		2
#define COMMIT_BYTES		(1u << 20)
#define CKPT_FRAMES		2000		/* checkpoint once the WAL holds this many pages */
#define WAL_LIMIT		"8388608"	/* WAL truncated back to this after a reset */
#define BUSY_MS			5000
#define GROUP_BUCKETS		64		/* initial size of the summary hash */

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
		"size, head_len, payload_len, received, expires"

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS bundles ("
	" rowid INTEGER PRIMARY KEY,"	/* given by the writer, see exec_put() */
	" id TEXT NOT NULL UNIQUE,"
	" src TEXT NOT NULL,"
	" dst TEXT NOT NULL,"
	" dst_node INTEGER NOT NULL,"
	" dst_service INTEGER NOT NULL,"
	" priority INTEGER NOT NULL,"
	" state INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" head_len INTEGER NOT NULL,"
	" payload_len INTEGER NOT NULL,"
	" received INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" supersede TEXT,"
	" data BLOB NOT NULL);"		/* last: scans need not walk its pages */
	"CREATE INDEX IF NOT EXISTS bundles_supersede ON bundles(supersede)"
	" WHERE supersede IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS bundles_local ON bundles(dst_service, rowid)"
	" WHERE state = 1;"
	/* What was handed to which neighbour: flooding and data mules. */
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
	"INSERT OR IGNORE INTO counters VALUES ('boot', 0), ('seq', 1);";

/* Statements of the writer connection. */
enum {
	W_BEGIN, W_COMMIT, W_ROLLBACK, W_SAVEPOINT, W_RELEASE, W_ROLLBACK_TO,
	W_SEEN_ADD, W_SEEN_HAS, W_SUPERSEDE, W_INSERT, W_DELETE, W_EXPIRE_BUNDLES,
	W_EXPIRE_SEEN, W_PAGES, W_FREE_PAGES, W_SEQ_SET, W_COUNT
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
	[W_SUPERSEDE] = "DELETE FROM bundles WHERE supersede = ?1 AND state = 0"
	    " RETURNING " ROW_COLS,
	[W_INSERT] = "INSERT INTO bundles (id, src, dst, dst_node, dst_service,"
	    " priority, state, size, head_len, payload_len, received, expires,"
	    " supersede, data, rowid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
	    " ?10, ?11, ?12, ?13, ?14, ?15)",
	[W_DELETE] = "DELETE FROM bundles WHERE rowid = ?1 RETURNING " ROW_COLS,
	[W_EXPIRE_BUNDLES] = "DELETE FROM bundles WHERE id IN (SELECT id FROM seen"
	    " WHERE expires < ?1 ORDER BY expires LIMIT ?2) RETURNING " ROW_COLS,
	[W_EXPIRE_SEEN] = "DELETE FROM seen WHERE id IN (SELECT id FROM seen"
	    " WHERE expires < ?1 ORDER BY expires LIMIT ?2)",
	[W_PAGES] = "PRAGMA page_count",
	[W_FREE_PAGES] = "PRAGMA freelist_count",
	[W_SEQ_SET] = "UPDATE counters SET value = ?1 WHERE name = 'seq'",
};

/* Statements of the read connection. */
enum { R_GET, R_NEXT_LOCAL, R_PAGES, R_FREE_PAGES, R_COUNT };

static const char *const rsql[R_COUNT] = {
	[R_GET] = "SELECT " ENTRY_COLS " FROM bundles WHERE rowid = ?1",
	[R_NEXT_LOCAL] = "SELECT " ENTRY_COLS " FROM bundles WHERE state = 1"
	    " AND dst_service = ?1 AND rowid > ?2 ORDER BY rowid LIMIT 1",
	[R_PAGES] = "PRAGMA page_count",
	[R_FREE_PAGES] = "PRAGMA freelist_count",
};

enum op_kind { OP_PUT, OP_DELETE, OP_EXPIRE, OP_SEQ };

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
	uint64_t value;			/* expire: now; seq: the new reservation */

	/* OP_PUT: buf holds head, payload (unless from fd), tail, strings. */
	uint8_t *buf;
	int fd;
	const char *id, *src, *dst, *supersede;
	uint64_t dst_node, dst_service, expires, received, payload_len, est;
	size_t head_len, tail_len;
	int priority, state;
};
TAILQ_HEAD(op_list, op);

/* Bundles of one destination, class and state: store_queue(), stats. */
struct group {
	struct group *next;		/* hash chain */
	uint64_t count, bytes;
	unsigned hash;
	int priority, state;
	char dst[];
};

/* A change to a group, applied when its transaction commits. */
struct delta {
	struct group *g;
	int64_t count, bytes, est;
};

/* Where an operation's changes to the working totals began. */
struct mark {
	size_t ndeltas;
	int64_t seen;
	uint64_t est[PRIO_COUNT];
};

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
	uint64_t state_count[2], state_bytes[2];
	uint64_t seen, commits;

	/* Sequence numbers, under seqmu: [seq_next, seq_durable) are ours. */
	pthread_mutex_t seqmu;
	pthread_cond_t seqcv;
	uint64_t seq_next, seq_durable;
	bool seq_pending, seq_failed;

	pthread_mutex_t rmu;		/* the read connection and its statements */
};

static int64_t
i64(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Same sum as EST_SQL. */
static uint64_t
put_estimate(const struct op *op)
{
	uint64_t n;

	n = op->head_len + op->payload_len + op->tail_len + ROW_OVERHEAD;
	n += 3 * strlen(op->id) + strlen(op->src) + strlen(op->dst);
	if (op->supersede != NULL)
		n += 2 * strlen(op->supersede);
	return n;
}

/*
 * SQLite result -> errno.  A file-size limit (EFBIG) or a filesystem quota
 * is a full disk to us; -EDQUOT is kept for our own quota.
 */
static int
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

/*
 * Is the disk (or the process's file-size limit) used up?  SQLite reports a
 * short write as SQLITE_IOERR_WRITE with errno often already lost, so when a
 * write fails we look at the filesystem ourselves before calling it an I/O
 * error: the operator must be told "full", which they can fix.
 */
static bool
space_exhausted(const struct store *s)
{
	char wal[PATH_MAX];
	struct statvfs vfs;
	struct rlimit rl;
	struct stat sb;
	off_t biggest = 0;

	if (statvfs(s->path, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < (1u << 20))
		return true;
	if (getrlimit(RLIMIT_FSIZE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return false;
	snprintf(wal, sizeof(wal), "%s-wal", s->path);
	if (stat(s->path, &sb) == 0)
		biggest = sb.st_size;
	if (stat(wal, &sb) == 0 && sb.st_size > biggest)
		biggest = sb.st_size;
	return (uint64_t)biggest + (1u << 20) >= (uint64_t)rl.rlim_cur;
}

/* A writer error that spoils the open transaction. */
static int
db_fail(struct store *s, int rc)
{
	static struct log_ratelimit rl;
	int r = db_errno(s->wdb, rc);

	s->broken = true;
	if (r == -EIO && (rc & 0xff) == SQLITE_IOERR && space_exhausted(s))
		r = -ENOSPC;
	if (r == -ENOSPC)
		log_limited(&rl, "store: disk full (%s): refusing new bundles, stored ones are safe",
		    sqlite3_errmsg(s->wdb));
	else
		log_limited(&rl, "store: %s (%d, errno %d)", sqlite3_errmsg(s->wdb), rc,
		    sqlite3_system_errno(s->wdb));
	return r;
}

/* Step a cached statement once, for its effect; SQLITE_OK or the error. */
static int
step_reset(sqlite3_stmt *st)
{
	int rc;

	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* A one-integer query of a cached statement, e.g. a pragma. */
static int
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

static unsigned
group_hash(const char *dst, int priority, int state)
{
	unsigned h = 2166136261u;

	while (*dst != '\0')
		h = (h ^ (unsigned char)*dst++) * 16777619u;
	h = (h ^ (unsigned)priority) * 16777619u;
	return (h ^ (unsigned)state) * 16777619u;
}

/* Double the hash table; under smu, since readers walk it. */
static void
groups_grow(struct store *s)
{
	struct group **nb, *g;
	size_t n = s->nbuckets * 2;

	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < s->nbuckets; i++) {
		while ((g = s->buckets[i]) != NULL) {
			s->buckets[i] = g->next;
			g->next = nb[g->hash & (n - 1)];
			nb[g->hash & (n - 1)] = g;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->nbuckets = n;
}

/*
 * The group of a destination, class and state, made if new.  Only the writer
 * (or store_open before it starts) calls this, so lookups need no lock;
 * changes to the table take smu because store_queue() walks it.
 */
static struct group *
group_get(struct store *s, const char *dst, int priority, int state)
{
	struct group *g;
	unsigned h;
	size_t len;

	if (priority < 0 || priority >= PRIO_COUNT)
		priority = PRIO_BULK;
	state = state == STORE_LOCAL ? STORE_LOCAL : STORE_QUEUED;
	h = group_hash(dst, priority, state);
	for (g = s->buckets[h & (s->nbuckets - 1)]; g != NULL; g = g->next)
		if (g->hash == h && g->priority == priority && g->state == state &&
		    strcmp(g->dst, dst) == 0)
			return g;
	len = strlen(dst) + 1;
	if ((g = calloc(1, sizeof(*g) + len)) == NULL)
		return NULL;
	memcpy(g->dst, dst, len);
	g->hash = h;
	g->priority = priority;
	g->state = state;
	pthread_mutex_lock(&s->smu);
	g->next = s->buckets[h & (s->nbuckets - 1)];
	s->buckets[h & (s->nbuckets - 1)] = g;
	if (++s->ngroups > 2 * s->nbuckets)
		groups_grow(s);
	pthread_mutex_unlock(&s->smu);
	return g;
}

/* Drop groups that became empty; under smu. */
static void
groups_prune(struct store *s)
{
	struct group **gp, *g;

	for (size_t i = 0; i < s->nbuckets; i++) {
		gp = &s->buckets[i];
		while ((g = *gp) != NULL) {
			if (g->count == 0) {
				*gp = g->next;
				free(g);
				s->ngroups--;
			} else
				gp = &g->next;
		}
	}
}

static void
groups_free(struct store *s)
{
	struct group *g;

	for (size_t i = 0; i < s->nbuckets; i++) {
		while ((g = s->buckets[i]) != NULL) {
			s->buckets[i] = g->next;
			free(g);
		}
	}
	free(s->buckets);
}

/* Apply one change to the committed totals; under smu. */
static void
totals_add(struct store *s, struct group *g, int64_t count, int64_t bytes)
{
	g->count += (uint64_t)count;
	g->bytes += (uint64_t)bytes;
	s->cls_count[g->priority] += (uint64_t)count;
	s->cls_bytes[g->priority] += (uint64_t)bytes;
	s->state_count[g->state] += (uint64_t)count;
	s->state_bytes[g->state] += (uint64_t)bytes;
}

/* Record a change of the open transaction; the quota sees it at once. */
static int
delta_add(struct store *s, struct group *g, int64_t count, int64_t bytes, int64_t est)
{
	struct delta *d;
	uint64_t *e = &s->est_txn[g->priority];

	if (s->ndeltas == s->maxdeltas) {
		size_t n = s->maxdeltas ? s->maxdeltas * 2 : 1024;

		if ((d = reallocarray(s->deltas, n, sizeof(*d))) == NULL)
			return -ENOMEM;
		s->deltas = d;
		s->maxdeltas = n;
	}
	s->deltas[s->ndeltas++] = (struct delta){ g, count, bytes, est };
	if (est < 0 && (uint64_t)-est > *e)
		*e = 0;
	else
		*e += (uint64_t)est;
	return 0;
}

static void
txn_reset(struct store *s)
{
	s->ndeltas = 0;
	s->seen_txn = 0;
	s->broken = false;
	s->last_rowid_txn = s->last_rowid;
	memcpy(s->est_txn, s->est, sizeof(s->est));
}

static void
txn_mark(struct store *s, struct mark *m)
{
	m->ndeltas = s->ndeltas;
	m->seen = s->seen_txn;
	memcpy(m->est, s->est_txn, sizeof(m->est));
}

static void
txn_restore(struct store *s, const struct mark *m)
{
	s->ndeltas = m->ndeltas;
	s->seen_txn = m->seen;
	memcpy(s->est_txn, m->est, sizeof(m->est));
}

/* The transaction committed: its changes become the totals. */
static void
txn_apply(struct store *s)
{
	bool emptied = false;

	pthread_mutex_lock(&s->smu);
	for (size_t i = 0; i < s->ndeltas; i++) {
		totals_add(s, s->deltas[i].g, s->deltas[i].count, s->deltas[i].bytes);
		emptied |= s->deltas[i].g->count == 0;
	}
	s->seen += (uint64_t)s->seen_txn;
	s->commits++;
	if (emptied)
		groups_prune(s);
	pthread_mutex_unlock(&s->smu);
	memcpy(s->est, s->est_txn, sizeof(s->est));
	s->last_rowid = s->last_rowid_txn;
	s->ndeltas = 0;
	s->seen_txn = 0;
}

/* Step a DELETE ... RETURNING ROW_COLS; account each row.  Rows or -errno. */
static int
drop_rows(struct store *s, sqlite3_stmt *st)
{
	struct group *g;
	const char *dst;
	int rc, n = 0, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		dst = (const char *)sqlite3_column_text(st, 0);
		g = group_get(s, dst ? dst : "", sqlite3_column_int(st, 1),
		    sqlite3_column_int(st, 2));
		if (g == NULL)
			r = -ENOMEM;
		else if (r == 0)
			r = delta_add(s, g, -1, -sqlite3_column_int64(st, 3),
			    -sqlite3_column_int64(st, 4));
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(s, rc);
	return r < 0 ? r : n;
}

/*
 * Would a bundle of this class and estimated size fit?  Pages in use plus
 * its pages must stay under the quota less the reserve less the room other
 * classes have reserved and not yet used.
 */
static int
quota_check(struct store *s, const struct op *op)
{
	uint64_t used, need, limit, room, ps = s->page_size;
	int64_t pages = 0, free_pages = 0;
	int rc;

	if (s->opt.quota == 0)
		return 0;
	if ((rc = step_int(s->w[W_PAGES], &pages)) != SQLITE_OK ||
	    (rc = step_int(s->w[W_FREE_PAGES], &free_pages)) != SQLITE_OK)
		return db_fail(s, rc);
	used = (uint64_t)(pages - free_pages) * ps;
	/* Overflow pages keep 4 bytes for their chain pointer. */
	need = op->est + op->est / (ps - 4) * 4;
	need = (need + ps - 1) / ps * ps;
	limit = s->opt.quota > s->opt.reserve ? s->opt.quota - s->opt.reserve : 0;
	for (int k = 0; k < PRIO_COUNT; k++) {
		if (k == op->priority || s->opt.class_reserve[k] <= s->est_txn[k])
			continue;
		room = s->opt.class_reserve[k] - s->est_txn[k];
		limit = limit > room ? limit - room : 0;
	}
	return used + need > limit ? -EDQUOT : 0;
}

/* Write head, payload (from memory or the fd, in chunks) and tail. */
static int
put_stream(struct store *s, struct op *op)
{
	sqlite3_blob *b;
	uint64_t done = 0;
	int off = 0, rc, r = 0;
	ssize_t n;

	rc = sqlite3_blob_open(s->wdb, "main", "bundles", "data", op->rowid, 1, &b);
	if (rc != SQLITE_OK)
		return db_fail(s, rc);
	if (op->head_len > 0)
		rc = sqlite3_blob_write(b, op->buf, (int)op->head_len, off);
	off += (int)op->head_len;
	if (op->fd == -1 && op->payload_len > 0 && rc == SQLITE_OK)
		rc = sqlite3_blob_write(b, op->buf + op->head_len,
		    (int)op->payload_len, off);
	while (op->fd != -1 && done < op->payload_len && rc == SQLITE_OK) {
		size_t want = op->payload_len - done < CHUNK ?
		    (size_t)(op->payload_len - done) : CHUNK;

		n = pread(op->fd, s->chunk, want, (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The payload's file is short or unreadable: this op only. */
			r = n == 0 ? -EIO : -errno;
			log_warnx("store: payload of %s: %s", op->id,
			    n == 0 ? "file shorter than payload" : strerror(errno));
			break;
		}
		rc = sqlite3_blob_write(b, s->chunk, (int)n, off + (int)done);
		done += (uint64_t)n;
	}
	off += (int)op->payload_len;
	if (op->tail_len > 0 && rc == SQLITE_OK && r == 0)
		rc = sqlite3_blob_write(b, op->buf + op->head_len +
		    (op->fd == -1 ? op->payload_len : 0), (int)op->tail_len, off);
	if (rc != SQLITE_OK) {
		sqlite3_blob_close(b);
		return db_fail(s, rc);
	}
	if ((rc = sqlite3_blob_close(b)) != SQLITE_OK)
		return db_fail(s, rc);
	return r;
}

/* Whether a put writes its bytes through sqlite3_blob (and may fail half way). */
static bool
put_streamed(const struct op *op)
{
	return op->fd != -1 || op->head_len + op->payload_len + op->tail_len > BIND_MAX;
}

/*
 * Insert a bundle and its seen row, replace a superseded one.  Refusals come
 * before the first write (the quota check before the supersede credit, so
 * it errs on the safe side); see writer_op_in_group().  Rowids come from our
 * counter rather than max(rowid) + 1, so that a deleted newest bundle's
 * rowid is not given to the next one while somebody may still hold it.
 */
static int
exec_put(struct store *s, struct op *op)
{
	sqlite3_stmt *st;
	struct group *g;
	uint64_t total = op->head_len + op->payload_len + op->tail_len;
	bool streamed = put_streamed(op);
	int rc, r;

	if ((r = quota_check(s, op)) != 0) {
		/* A duplicate is answered as one even when full: the sender
		 * may then let go of it instead of retrying forever. */
		int64_t has = 0;

		st = s->w[W_SEEN_HAS];
		sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
		if ((rc = step_int(st, &has)) != SQLITE_OK)
			return db_fail(s, rc);
		return has > 0 ? -EEXIST : r;
	}
	if ((g = group_get(s, op->dst, op->priority, op->state)) == NULL)
		return -ENOMEM;

	/* The seen row first: its primary key is the dedup check. */
	st = s->w[W_SEEN_ADD];
	sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, i64(op->expires));
	rc = step_reset(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;
	if (rc != SQLITE_OK)
		return db_fail(s, rc);
	s->dirty = true;
	s->seen_txn++;

	if (op->supersede != NULL) {
		st = s->w[W_SUPERSEDE];
		sqlite3_bind_text(st, 1, op->supersede, -1, SQLITE_STATIC);
		if ((r = drop_rows(s, st)) < 0)
			return r;
	}

	st = s->w[W_INSERT];
	sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, op->src, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, op->dst, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, i64(op->dst_node));
	sqlite3_bind_int64(st, 5, i64(op->dst_service));
	sqlite3_bind_int(st, 6, op->priority);
	sqlite3_bind_int(st, 7, op->state);
	sqlite3_bind_int64(st, 8, (int64_t)total);
	sqlite3_bind_int64(st, 9, (int64_t)op->head_len);
	sqlite3_bind_int64(st, 10, (int64_t)op->payload_len);
	sqlite3_bind_int64(st, 11, i64(op->received));
	sqlite3_bind_int64(st, 12, i64(op->expires));
	if (op->supersede != NULL)
		sqlite3_bind_text(st, 13, op->supersede, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 13);
	if (streamed)
		sqlite3_bind_zeroblob(st, 14, (int)total);
	else
		sqlite3_bind_blob(st, 14, op->buf, (int)total, SQLITE_STATIC);
	sqlite3_bind_int64(st, 15, s->last_rowid_txn + 1);
	rc = step_reset(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;		/* in bundles but not in seen: old data */
	if (rc != SQLITE_OK)
		return db_fail(s, rc);
	op->rowid = ++s->last_rowid_txn;
	if (streamed && (r = put_stream(s, op)) != 0)
		return r;
	return delta_add(s, g, 1, (int64_t)total, (int64_t)op->est);
}

static int
exec_delete(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_DELETE];
	int n;

	sqlite3_bind_int64(st, 1, op->rowid);
	s->dirty = true;
	if ((n = drop_rows(s, st)) < 0)
		return n;
	s->dirty = n > 0;
	return n == 0 ? -ENOENT : 0;
}

/*
 * Forget at most STORE_EXPIRE_BATCH identities whose lifetime has ended,
 * with their bundles if still stored; op->rowid = identities forgotten.
 * Both statements pick the same rows: the first deletes no seen rows.
 */
static int
exec_expire(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_EXPIRE_BUNDLES];
	int n, rc;

	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int(st, 2, STORE_EXPIRE_BATCH);
	s->dirty = true;
	if ((n = drop_rows(s, st)) < 0)
		return n;
	st = s->w[W_EXPIRE_SEEN];
	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int(st, 2, STORE_EXPIRE_BATCH);
	if ((rc = step_reset(st)) != SQLITE_OK)
		return db_fail(s, rc);
	n = sqlite3_changes(s->wdb);
	s->seen_txn -= n;
	op->rowid = n;
	return 0;
}

static int
exec_seq(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_SEQ_SET];
	int rc;

	sqlite3_bind_int64(st, 1, i64(op->value));
	if ((rc = step_reset(st)) != SQLITE_OK)
		return db_fail(s, rc);
	return 0;
}

static int
op_exec(struct store *s, struct op *op)
{
	int r;

	switch (op->kind) {
	case OP_PUT:
		op->rowid = 0;
		if ((r = exec_put(s, op)) != 0)
			op->rowid = 0;
		return r;
	case OP_DELETE:
		return exec_delete(s, op);
	case OP_EXPIRE:
		op->rowid = 0;
		return exec_expire(s, op);
	case OP_SEQ:
		return exec_seq(s, op);
	}
	return -EINVAL;
}

static void
writer_rollback(struct store *s)
{
	int rc;

	if (sqlite3_get_autocommit(s->wdb))
		return;		/* SQLite rolled back already */
	if ((rc = step_reset(s->w[W_ROLLBACK])) != SQLITE_OK)
		log_warnx("store: rollback: %s", sqlite3_errmsg(s->wdb));
}

/*
 * Run one operation inside the group, isolated from the others: a streamed
 * put, which can fail half way through its bytes, in a SAVEPOINT of its own.
 * Everything else refuses before its first write, and each of its writes is
 * one atomic statement, so no savepoint is needed; that matters, since a
 * savepoint copies every page it touches to the sub-journal and would halve
 * the rate of small puts.  An operation that fails after it has written
 * breaks the group instead, which is then replayed one transaction per
 * operation.  False: abandon the group.
 */
static bool
writer_op_in_group(struct store *s, struct op *op)
{
	bool savepoint = op->kind == OP_PUT && put_streamed(op);
	struct mark m;
	int rc = SQLITE_OK, r;

	txn_mark(s, &m);
	if (savepoint && (rc = step_reset(s->w[W_SAVEPOINT])) != SQLITE_OK) {
		db_fail(s, rc);
		return false;
	}
	s->dirty = false;
	r = op_exec(s, op);
	if (s->broken || (r != 0 && s->dirty && !savepoint)) {
		s->broken = true;
		return false;
	}
	if (r != 0)
		txn_restore(s, &m);
	if (savepoint && r == 0)
		rc = step_reset(s->w[W_RELEASE]);
	else if (savepoint && (rc = step_reset(s->w[W_ROLLBACK_TO])) == SQLITE_OK)
		rc = step_reset(s->w[W_RELEASE]);
	if (rc != SQLITE_OK) {
		db_fail(s, rc);
		return false;
	}
	op->result = r;
	return true;
}

/* Run one operation in a transaction of its own. */
static void
writer_op_alone(struct store *s, struct op *op)
{
	int rc, r;

	txn_reset(s);
	if ((rc = step_reset(s->w[W_BEGIN])) != SQLITE_OK) {
		op->result = db_fail(s, rc);
		writer_rollback(s);
		return;
	}
	r = op_exec(s, op);
	if (r == 0) {
		if ((rc = step_reset(s->w[W_COMMIT])) == SQLITE_OK) {
			txn_apply(s);
			op->result = 0;
			return;
		}
		r = db_fail(s, rc);
	}
	writer_rollback(s);
	txn_reset(s);
	op->result = r;
}

/* Settle a sequence reservation: value 0 means its write failed. */
static void
seq_settle(struct store *s, uint64_t value)
{
	pthread_mutex_lock(&s->seqmu);
	if (value > s->seq_durable)
		s->seq_durable = value;
	s->seq_failed = value == 0;
	s->seq_pending = false;
	pthread_cond_broadcast(&s->seqcv);
	pthread_mutex_unlock(&s->seqmu);
}

static void
op_strip(struct op *op)
{
	free(op->buf);
	op->buf = NULL;
	if (op->fd != -1)
		close(op->fd);
	op->fd = -1;
}

/* Operations of a group are answered: hand them to the loop. */
static void
writer_finish(struct store *s, struct op_list *group)
{
	struct op_list done;
	struct op *op;
	uint64_t last = 0, nuser = 0;
	size_t mem = 0;
	bool notify;

	TAILQ_INIT(&done);
	while ((op = TAILQ_FIRST(group)) != NULL) {
		TAILQ_REMOVE(group, op, entry);
		mem += op->mem;
		last = op->ticket;
		op_strip(op);
		if (op->kind == OP_SEQ) {
			seq_settle(s, op->result == 0 ? op->value : 0);
			free(op);
		} else if (op->done == NULL) {
			nuser++;
			free(op);
		} else {
			nuser++;
			TAILQ_INSERT_TAIL(&done, op, entry);
		}
	}
	pthread_mutex_lock(&s->qmu);
	s->queue_mem -= mem;
	s->done_ticket = last;
	s->ops += nuser;
	notify = TAILQ_EMPTY(&s->completed) && !TAILQ_EMPTY(&done);
	TAILQ_CONCAT(&s->completed, &done, entry);
	pthread_cond_broadcast(&s->donecv);
	pthread_mutex_unlock(&s->qmu);
	if (notify && eventfd_write(s->efd, 1) == -1)
		log_warn("store: eventfd");
}

/* Block until there is work; false when stopping with nothing left. */
static bool
writer_wait(struct store *s)
{
	bool more;

	pthread_mutex_lock(&s->qmu);
	while (TAILQ_EMPTY(&s->queue) && TAILQ_EMPTY(&s->pending) && !s->stopping)
		pthread_cond_wait(&s->qcv, &s->qmu);
	TAILQ_CONCAT(&s->pending, &s->queue, entry);
	more = !TAILQ_EMPTY(&s->pending);
	pthread_mutex_unlock(&s->qmu);
	return more;
}

/*
 * Inside a group, out of work: wait for more until the group's deadline,
 * unless somebody waits in store_flush() or we stop.  False: commit now.
 */
static bool
writer_more(struct store *s, const struct timespec *deadline)
{
	bool more = false;

	pthread_mutex_lock(&s->qmu);
	for (;;) {
		if (!TAILQ_EMPTY(&s->queue)) {
			TAILQ_CONCAT(&s->pending, &s->queue, entry);
			more = true;
			break;
		}
		if (s->flushers > 0 || s->stopping)
			break;
		if (pthread_cond_timedwait(&s->qcv, &s->qmu, deadline) == ETIMEDOUT) {
			more = !TAILQ_EMPTY(&s->queue);
			TAILQ_CONCAT(&s->pending, &s->queue, entry);
			break;
		}
	}
	pthread_mutex_unlock(&s->qmu);
	return more;
}

/*
 * One group commit: run pending operations, each in a savepoint, until
 * commit_bytes or the window is over, then commit.  If the group fails as a
 * whole, roll it back and run its operations one transaction each.
 */
static void
writer_group(struct store *s)
{
	struct op_list group;
	struct timespec deadline;
	struct op *op;
	size_t weight = 0;
	bool ok = true;
	int rc;

	TAILQ_INIT(&group);
	deadline_after(&deadline, s->opt.commit_ms);
	txn_reset(s);
	if ((rc = step_reset(s->w[W_BEGIN])) != SQLITE_OK) {
		db_fail(s, rc);
		writer_rollback(s);
		/* Answer the first alone, so that we make progress. */
		op = TAILQ_FIRST(&s->pending);
		TAILQ_REMOVE(&s->pending, op, entry);
		TAILQ_INSERT_TAIL(&group, op, entry);
		writer_op_alone(s, op);
		writer_finish(s, &group);
		return;
	}
	for (;;) {
		if (TAILQ_EMPTY(&s->pending) && !writer_more(s, &deadline))
			break;
		op = TAILQ_FIRST(&s->pending);
		TAILQ_REMOVE(&s->pending, op, entry);
		TAILQ_INSERT_TAIL(&group, op, entry);
		if (!writer_op_in_group(s, op)) {
			ok = false;
			break;
		}
		if ((weight += op->weight) >= s->opt.commit_bytes)
			break;
	}
	if (ok) {
		if ((rc = step_reset(s->w[W_COMMIT])) == SQLITE_OK) {
			txn_apply(s);
			writer_finish(s, &group);
			return;
		}
		db_fail(s, rc);
	}
	writer_rollback(s);
	TAILQ_FOREACH(op, &group, entry)
		writer_op_alone(s, op);
	writer_finish(s, &group);
}

static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *s = arg;

	s->wal_frames = frames;
	return SQLITE_OK;
}

/* Our own autocheckpoint: after the commit, so its errors are not a commit's. */
static void
writer_checkpoint(struct store *s)
{
	static struct log_ratelimit rl;
	int rc;

	if (s->wal_frames < CKPT_FRAMES)
		return;
	s->wal_frames = 0;
	rc = sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK)
		log_limited(&rl, "store: checkpoint: %s", sqlite3_errmsg(s->wdb));
}

static void *
writer_main(void *arg)
{
	struct store *s = arg;

	while (writer_wait(s)) {
		writer_group(s);
		writer_checkpoint(s);
	}
	return NULL;
}

static struct op *
op_new(enum op_kind kind, store_done_fn *done, void *arg)
{
	struct op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->kind = kind;
	op->done = done;
	op->arg = arg;
	op->fd = -1;
	op->mem = sizeof(*op);
	op->weight = 64;
	return op;
}

static void
op_free(struct op *op)
{
	op_strip(op);
	free(op);
}

static int
enqueue(struct store *s, struct op *op)
{
	int r = 0;

	pthread_mutex_lock(&s->qmu);
	if (s->stopping)
		r = -ESHUTDOWN;
	else if (op->kind == OP_PUT && s->queue_mem > 0 &&
	    s->queue_mem + op->mem > s->opt.queue_max)
		r = -ENOBUFS;
	else {
		op->ticket = ++s->next_ticket;
		s->queue_mem += op->mem;
		TAILQ_INSERT_TAIL(&s->queue, op, entry);
		pthread_cond_signal(&s->qcv);
	}
	pthread_mutex_unlock(&s->qmu);
	return r;
}

int
store_put(struct store *s, const struct store_put *p, store_done_fn *done, void *arg)
{
	struct op *op;
	size_t idl, srcl, dstl, supl, len, mem;
	uint8_t *b;
	bool from_fd;
	int r;

	if (p->id == NULL || p->src == NULL || p->dst == NULL ||
	    p->priority < 0 || p->priority >= PRIO_COUNT ||
	    (p->state != STORE_QUEUED && p->state != STORE_LOCAL) ||
	    (p->head == NULL && p->head_len > 0) ||
	    (p->tail == NULL && p->tail_len > 0) ||
	    (p->payload == NULL && p->payload_fd < 0 && p->payload_len > 0))
		return -EINVAL;
	idl = strlen(p->id);
	srcl = strlen(p->src);
	dstl = strlen(p->dst);
	supl = p->supersede != NULL ? strlen(p->supersede) : 0;
	if (idl == 0 || idl >= sizeof(((struct store_entry *)0)->id) ||
	    srcl >= sizeof(((struct store_entry *)0)->src) ||
	    dstl >= sizeof(((struct store_entry *)0)->dst) || supl > BUNDLE_ID_MAX)
		return -EINVAL;
	if (p->head_len > BUNDLE_MAX_SIZE || p->tail_len > BUNDLE_MAX_SIZE ||
	    p->payload_len > BUNDLE_MAX_SIZE ||
	    p->head_len + p->payload_len + p->tail_len > BUNDLE_MAX_SIZE)
		return -EMSGSIZE;
	from_fd = p->payload == NULL && p->payload_len > 0;

	if ((op = op_new(OP_PUT, done, arg)) == NULL)
		return -ENOMEM;
	len = p->head_len + (from_fd ? 0 : p->payload_len) + p->tail_len;
	mem = len + idl + srcl + dstl + supl + 4;
	if ((op->buf = malloc(mem)) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if (from_fd && (op->fd = fcntl(p->payload_fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		r = -errno;
		goto fail;
	}
	b = op->buf;
	if (p->head_len > 0)
		memcpy(b, p->head, p->head_len);
	b += p->head_len;
	if (!from_fd && p->payload_len > 0)
		memcpy(b, p->payload, p->payload_len);
	b += from_fd ? 0 : p->payload_len;
	if (p->tail_len > 0)
		memcpy(b, p->tail, p->tail_len);
	b += p->tail_len;
	op->id = memcpy(b, p->id, idl + 1);
	b += idl + 1;
	op->src = memcpy(b, p->src, srcl + 1);
	b += srcl + 1;
	op->dst = memcpy(b, p->dst, dstl + 1);
	b += dstl + 1;
	if (supl > 0)
		op->supersede = memcpy(b, p->supersede, supl + 1);
	op->dst_node = p->dst_node;
	op->dst_service = p->dst_service;
	op->priority = p->priority;
	op->state = p->state;
	op->expires = p->expires;
	op->received = wall_ms();
	op->head_len = p->head_len;
	op->payload_len = p->payload_len;
	op->tail_len = p->tail_len;
	op->est = put_estimate(op);
	op->mem += mem;
	op->weight += p->head_len + p->payload_len + p->tail_len;
	if ((r = enqueue(s, op)) != 0)
		goto fail;
	return 0;
fail:
	op_free(op);
	return r;
}

int
store_delete(struct store *s, int64_t rowid, store_done_fn *done, void *arg)
{
	struct op *op;
	int r;

	if ((op = op_new(OP_DELETE, done, arg)) == NULL)
		return -ENOMEM;
	op->rowid = rowid;
	if ((r = enqueue(s, op)) != 0)
		op_free(op);
	return r;
}

int
store_expire(struct store *s, uint64_t now_ms, store_done_fn *done, void *arg)
{
	struct op *op;
	int r;

	if ((op = op_new(OP_EXPIRE, done, arg)) == NULL)
		return -ENOMEM;
	op->value = now_ms;
	if ((r = enqueue(s, op)) != 0)
		op_free(op);
	return r;
}

void
store_flush(struct store *s)
{
	uint64_t target;

	pthread_mutex_lock(&s->qmu);
	target = s->next_ticket;
	s->flushers++;
	pthread_cond_signal(&s->qcv);
	while (s->done_ticket < target)
		pthread_cond_wait(&s->donecv, &s->qmu);
	s->flushers--;
	pthread_mutex_unlock(&s->qmu);
}

int
store_fd(const struct store *s)
{
	return s->efd;
}

void
store_dispatch(struct store *s)
{
	struct op_list list;
	struct op *op;
	eventfd_t n;

	if (eventfd_read(s->efd, &n) == -1 && errno != EAGAIN)
		log_warn("store: eventfd");
	TAILQ_INIT(&list);
	pthread_mutex_lock(&s->qmu);
	TAILQ_CONCAT(&list, &s->completed, entry);
	pthread_mutex_unlock(&s->qmu);
	while ((op = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, op, entry);
		op->done(op->arg, op->result, op->rowid);
		free(op);
	}
}

uint64_t
store_boot_count(const struct store *s)
{
	return s->boot;
}

/* Ask the writer to make the next block durable; under seqmu. */
static int
seq_request(struct store *s)
{
	struct op *op;
	int r;

	if ((op = op_new(OP_SEQ, NULL, NULL)) == NULL)
		return -ENOMEM;
	op->value = (s->seq_next > s->seq_durable ? s->seq_next : s->seq_durable) + SEQ_BLOCK;
	if ((r = enqueue(s, op)) != 0) {
		op_free(op);
		return r;
	}
	s->seq_pending = true;
	return 0;
}

/*
 * Numbers come from a block whose end is durable before any of it is handed
 * out.  The next block is written by the writer thread, in a group commit,
 * once half of this one is used; only if all of it is used before that
 * commits does this wait for it (a few milliseconds, never in practice).
 */
uint64_t
store_next_seq(struct store *s)
{
	uint64_t v = 0;
	bool asked = false;

	pthread_mutex_lock(&s->seqmu);
	while (s->seq_next >= s->seq_durable) {
		if (asked && !s->seq_pending && s->seq_failed)
			goto out;
		if (!s->seq_pending && seq_request(s) != 0)
			goto out;
		asked = true;
		pthread_cond_wait(&s->seqcv, &s->seqmu);
	}
	v = s->seq_next++;
	if (!s->seq_pending && s->seq_durable - s->seq_next < SEQ_BLOCK / 2)
		(void)seq_request(s);
out:
	pthread_mutex_unlock(&s->seqmu);
	if (v == 0)
		log_warnx("store: no durable sequence number");
	return v;
}

static void
copy_text(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	snprintf(dst, cap, "%s", t ? t : "");
}

static void
entry_fill(sqlite3_stmt *st, struct store_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->rowid = sqlite3_column_int64(st, 0);
	copy_text(e->id, sizeof(e->id), st, 1);
	copy_text(e->src, sizeof(e->src), st, 2);
	copy_text(e->dst, sizeof(e->dst), st, 3);
	e->dst_node = (uint64_t)sqlite3_column_int64(st, 4);
	e->dst_service = (uint64_t)sqlite3_column_int64(st, 5);
	e->priority = sqlite3_column_int(st, 6);
	e->state = sqlite3_column_int(st, 7);
	e->size = (uint64_t)sqlite3_column_int64(st, 8);
	e->head_len = (uint64_t)sqlite3_column_int64(st, 9);
	e->payload_len = (uint64_t)sqlite3_column_int64(st, 10);
	e->received = (uint64_t)sqlite3_column_int64(st, 11);
	e->expires = (uint64_t)sqlite3_column_int64(st, 12);
}

/* Step a read statement that yields one entry; the caller holds rmu. */
static int
read_entry(struct store *s, sqlite3_stmt *st, struct store_entry *e)
{
	int rc, r;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		entry_fill(st, e);
		r = 0;
	} else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else {
		log_warnx("store: read: %s", sqlite3_errmsg(s->rdb));
		r = db_errno(s->rdb, rc);
	}
	sqlite3_reset(st);
	return r;
}

int
store_get(struct store *s, int64_t rowid, struct store_entry *e)
{
	int r;

	pthread_mutex_lock(&s->rmu);
	sqlite3_bind_int64(s->r[R_GET], 1, rowid);
	r = read_entry(s, s->r[R_GET], e);
	pthread_mutex_unlock(&s->rmu);
	return r;
}

int
store_next_local(struct store *s, uint64_t service, int64_t after, struct store_entry *e)
{
	int r;

	pthread_mutex_lock(&s->rmu);
	sqlite3_bind_int64(s->r[R_NEXT_LOCAL], 1, i64(service));
	sqlite3_bind_int64(s->r[R_NEXT_LOCAL], 2, after);
	r = read_entry(s, s->r[R_NEXT_LOCAL], e);
	pthread_mutex_unlock(&s->rmu);
	return r;
}

/* Each call opens the blob afresh: an open handle would pin a WAL snapshot. */
long
store_read(struct store *s, int64_t rowid, uint64_t offset, void *buf, size_t len)
{
	sqlite3_blob *b;
	uint64_t size;
	long r;
	int rc;

	pthread_mutex_lock(&s->rmu);
	rc = sqlite3_blob_open(s->rdb, "main", "bundles", "data", rowid, 0, &b);
	if (rc != SQLITE_OK) {
		/* SQLITE_ERROR is "no such rowid" here. */
		r = rc == SQLITE_ERROR ? -ENOENT : db_errno(s->rdb, rc);
		goto out;
	}
	size = (uint64_t)sqlite3_blob_bytes(b);
	if (offset >= size)
		r = 0;
	else {
		if (len > size - offset)
			len = (size_t)(size - offset);
		if (len > INT_MAX)
			len = INT_MAX;
		rc = sqlite3_blob_read(b, buf, (int)len, (int)offset);
		r = rc == SQLITE_OK ? (long)len : db_errno(s->rdb, rc);
	}
	sqlite3_blob_close(b);
out:
	pthread_mutex_unlock(&s->rmu);
	return r;
}

int
store_stats(struct store *s, struct store_stats *st)
{
	int64_t pages = 0, free_pages = 0;
	int rc, r = 0;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&s->smu);
	for (int k = 0; k < PRIO_COUNT; k++) {
		st->count[k] = s->cls_count[k];
		st->class_bytes[k] = s->cls_bytes[k];
		st->bundles += s->cls_count[k];
		st->bytes += s->cls_bytes[k];
	}
	st->queued = s->state_count[STORE_QUEUED];
	st->queued_bytes = s->state_bytes[STORE_QUEUED];
	st->local = s->state_count[STORE_LOCAL];
	st->local_bytes = s->state_bytes[STORE_LOCAL];
	st->seen = s->seen;
	st->commits = s->commits;
	pthread_mutex_unlock(&s->smu);
	pthread_mutex_lock(&s->qmu);
	st->ops = s->ops;
	pthread_mutex_unlock(&s->qmu);
	st->quota = s->opt.quota;
	st->reserve = s->opt.reserve;
	st->boot = s->boot;

	pthread_mutex_lock(&s->rmu);
	if ((rc = step_int(s->r[R_PAGES], &pages)) != SQLITE_OK ||
	    (rc = step_int(s->r[R_FREE_PAGES], &free_pages)) != SQLITE_OK)
		r = db_errno(s->rdb, rc);
	pthread_mutex_unlock(&s->rmu);
	st->used = (uint64_t)(pages - free_pages) * s->page_size;
	return r;
}

struct queue_row {
	const char *dst;
	int priority;
	uint64_t count, bytes;
};

static int
queue_row_cmp(const void *a, const void *b)
{
	const struct queue_row *x = a, *y = b;
	int c = strcmp(x->dst, y->dst);

	return c != 0 ? c : x->priority - y->priority;
}

/* Snapshot under smu, then call fn outside it, sorted, states merged. */
int
store_queue(struct store *s, store_queue_fn *fn, void *arg)
{
	struct queue_row *rows = NULL;
	struct group *g;
	size_t n = 0, cap, i, j;
	char *strs;
	int r = 0;

	pthread_mutex_lock(&s->smu);
	cap = 0;
	for (i = 0; i < s->nbuckets; i++)
		for (g = s->buckets[i]; g != NULL; g = g->next)
			cap += sizeof(*rows) + strlen(g->dst) + 1;
	if (cap > 0 && (rows = malloc(cap)) == NULL) {
		r = -ENOMEM;
		pthread_mutex_unlock(&s->smu);
		goto out;
	}
	strs = (char *)(rows + s->ngroups);
	for (i = 0; i < s->nbuckets; i++) {
		for (g = s->buckets[i]; g != NULL; g = g->next) {
			if (g->count == 0)
				continue;
			rows[n] = (struct queue_row){ strs, g->priority, g->count, g->bytes };
			strs = stpcpy(strs, g->dst) + 1;
			n++;
		}
	}
	pthread_mutex_unlock(&s->smu);
	if (n > 1)
		qsort(rows, n, sizeof(*rows), queue_row_cmp);
	for (i = 0; i < n; i = j) {
		uint64_t count = rows[i].count, bytes = rows[i].bytes;

		for (j = i + 1; j < n && queue_row_cmp(&rows[i], &rows[j]) == 0; j++) {
			count += rows[j].count;
			bytes += rows[j].bytes;
		}
		fn(arg, rows[i].dst, rows[i].priority, count, bytes);
	}
out:
	free(rows);
	return r;
}

const char *
store_strerror(int result)
{
	switch (result < 0 ? -result : result) {
	case 0:
		return "ok";
	case EEXIST:
		return "duplicate: bundle already seen";
	case EDQUOT:
		return "store quota or class reserve exceeded";
	case ENOSPC:
		return "disk full";
	case EIO:
		return "database error";
	case ENOENT:
		return "no such bundle";
	case ENOBUFS:
		return "store queue full, try again";
	case ESHUTDOWN:
		return "store closing";
	case EMSGSIZE:
		return "bundle too large";
	case EINVAL:
		return "invalid bundle";
	default:
		return strerror(result < 0 ? -result : result);
	}
}

static int
open_err(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
open_err(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int
db_open(struct store *s, sqlite3 **db, bool writer, char *err, size_t errlen)
{
	const char *pragmas = writer ?
	    "PRAGMA synchronous = FULL; PRAGMA cache_size = -2000;"
	    " PRAGMA journal_size_limit = " WAL_LIMIT ";" :
	    "PRAGMA cache_size = -2000; PRAGMA query_only = 1;";
	sqlite3_stmt *st = NULL;
	const char *mode;
	int flags, rc;

	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (writer)
		flags |= SQLITE_OPEN_CREATE;
	if ((rc = sqlite3_open_v2(s->path, db, flags, s->vfs)) != SQLITE_OK)
		goto fail;
	sqlite3_extended_result_codes(*db, 1);
	sqlite3_busy_timeout(*db, BUSY_MS);
	if (writer) {
		if ((rc = sqlite3_prepare_v2(*db, "PRAGMA journal_mode = WAL", -1,
		    &st, NULL)) != SQLITE_OK)
			goto fail;
		rc = sqlite3_step(st);
		mode = (const char *)sqlite3_column_text(st, 0);
		if (rc != SQLITE_ROW || mode == NULL || strcmp(mode, "wal") != 0) {
			sqlite3_finalize(st);
			return open_err(err, errlen, -EIO, "%s: cannot use WAL mode: %s",
			    s->path, sqlite3_errmsg(*db));
		}
		sqlite3_finalize(st);
		/* Checkpoints run after commits in writer_checkpoint(). */
		sqlite3_wal_autocheckpoint(*db, 0);
		sqlite3_wal_hook(*db, wal_hook, s);
	}
	if ((rc = sqlite3_exec(*db, pragmas, NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	return open_err(err, errlen, db_errno(*db, rc), "%s: %s", s->path,
	    *db != NULL ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
}

static int
prepare_all(sqlite3 *db, const char *const *sql, sqlite3_stmt **st, int n)
{
	for (int i = 0; i < n; i++)
		if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &st[i], NULL) != SQLITE_OK)
			return -EIO;
	return 0;
}

static int
counter_get(sqlite3 *db, const char *name, int64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT value FROM counters WHERE name = ?1",
	    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = step_int(st, v);
	sqlite3_finalize(st);
	return rc;
}

static int
int_query(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK)
		return rc;
	rc = step_int(st, v);
	sqlite3_finalize(st);
	return rc;
}

/*
 * One synchronous transaction at open: create the schema if missing, count
 * this boot, and make the first block of sequence numbers durable.
 */
static int
open_txn(struct store *s, char *err, size_t errlen)
{
	char sql[128];
	int64_t version = 0, boot = 0, seq = 0;
	int rc;

	if ((rc = sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	if ((rc = int_query(s->wdb, "PRAGMA user_version", &version)) != SQLITE_OK)
		goto fail;
	if (version > SCHEMA_VERSION) {
		sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
		return open_err(err, errlen, -EPROTO, "%s: schema version %lld is newer"
		    " than this program's %d", s->path, (long long)version, SCHEMA_VERSION);
	}
	if (version < SCHEMA_VERSION) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
		if ((rc = sqlite3_exec(s->wdb, schema_sql, NULL, NULL, NULL)) != SQLITE_OK ||
		    (rc = sqlite3_exec(s->wdb, sql, NULL, NULL, NULL)) != SQLITE_OK)
			goto fail;
	}
	if ((rc = sqlite3_exec(s->wdb, "UPDATE counters SET value = value + 1"
	    " WHERE name = 'boot'", NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = counter_get(s->wdb, "boot", &boot)) != SQLITE_OK ||
	    (rc = counter_get(s->wdb, "seq", &seq)) != SQLITE_OK)
		goto fail;
	/* Everything below the stored value may have been handed out. */
	s->boot = (uint64_t)boot;
	s->seq_next = seq > 0 ? (uint64_t)seq : 1;
	s->seq_durable = s->seq_next + SEQ_BLOCK;
	snprintf(sql, sizeof(sql), "UPDATE counters SET value = %lld WHERE name = 'seq'",
	    (long long)s->seq_durable);
	if ((rc = sqlite3_exec(s->wdb, sql, NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	open_err(err, errlen, 0, "%s: %s", s->path, sqlite3_errmsg(s->wdb));
	rc = db_errno(s->wdb, rc);
	if (!sqlite3_get_autocommit(s->wdb))
		sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Load the per-group totals with one scan (no sort, constant memory). */
static int
load_totals(struct store *s)
{
	sqlite3_stmt *st;
	struct group *g;
	const char *dst;
	int64_t seen = 0, ps = 0;
	int rc;

	rc = sqlite3_prepare_v2(s->wdb, "SELECT " ROW_COLS " FROM bundles", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		dst = (const char *)sqlite3_column_text(st, 0);
		g = group_get(s, dst ? dst : "", sqlite3_column_int(st, 1),
		    sqlite3_column_int(st, 2));
		if (g == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		totals_add(s, g, 1, sqlite3_column_int64(st, 3));
		s->est[g->priority] += (uint64_t)sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rc;
	if ((rc = int_query(s->wdb, "SELECT coalesce(max(rowid), 0) FROM bundles",
	    &s->last_rowid)) != SQLITE_OK ||
	    (rc = int_query(s->wdb, "SELECT count(*) FROM seen", &seen)) != SQLITE_OK ||
	    (rc = int_query(s->wdb, "PRAGMA page_size", &ps)) != SQLITE_OK)
		return rc;
	s->seen = (uint64_t)seen;
	s->page_size = ps > 512 ? (uint64_t)ps : 4096;
	return SQLITE_OK;
}

struct store *
store_open(const struct store_options *opt, char *err, size_t errlen)
{
	struct store *s;
	pthread_condattr_t ca;
	sigset_t all, old;
	uint64_t reserved;
	int r, rc;

	if (opt->path == NULL) {
		errno = EINVAL;
		open_err(err, errlen, 0, "store: no database path");
		return NULL;
	}
	reserved = opt->reserve;
	for (int k = 0; k < PRIO_COUNT; k++)
		reserved += opt->class_reserve[k];
	if (opt->quota > 0 && reserved >= opt->quota) {
		errno = EINVAL;
		open_err(err, errlen, 0, "store: reserves (%llu) leave no room in the"
		    " quota (%llu)", (unsigned long long)reserved,
		    (unsigned long long)opt->quota);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		open_err(err, errlen, 0, "store: out of memory");
		return NULL;
	}
	s->opt = *opt;
	if (s->opt.commit_ms == 0)
		s->opt.commit_ms = COMMIT_MS;
	if (s->opt.commit_bytes == 0)
		s->opt.commit_bytes = COMMIT_BYTES;
	if (s->opt.queue_max == 0)
		s->opt.queue_max = QUEUE_MAX;
	s->efd = -1;
	pthread_mutex_init(&s->qmu, NULL);
	pthread_mutex_init(&s->smu, NULL);
	pthread_mutex_init(&s->seqmu, NULL);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->qcv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->donecv, NULL);
	pthread_cond_init(&s->seqcv, NULL);
	TAILQ_INIT(&s->queue);
	TAILQ_INIT(&s->completed);
	TAILQ_INIT(&s->pending);

	r = -ENOMEM;
	s->path = strdup(opt->path);
	s->vfs = opt->vfs != NULL ? strdup(opt->vfs) : NULL;
	s->chunk = malloc(CHUNK);
	s->nbuckets = GROUP_BUCKETS;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	if (s->path == NULL || (opt->vfs != NULL && s->vfs == NULL) ||
	    s->chunk == NULL || s->buckets == NULL) {
		open_err(err, errlen, 0, "store: out of memory");
		goto fail;
	}
	if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		r = open_err(err, errlen, -errno, "store: eventfd: %s", strerror(errno));
		goto fail;
	}
	if ((r = db_open(s, &s->wdb, true, err, errlen)) != 0 ||
	    (r = open_txn(s, err, errlen)) != 0)
		goto fail;
	if ((rc = load_totals(s)) != SQLITE_OK) {
		r = open_err(err, errlen, db_errno(s->wdb, rc), "%s: %s", s->path,
		    sqlite3_errmsg(s->wdb));
		goto fail;
	}
	if ((r = prepare_all(s->wdb, wsql, s->w, W_COUNT)) != 0) {
		open_err(err, errlen, 0, "%s: %s", s->path, sqlite3_errmsg(s->wdb));
		goto fail;
	}
	if ((r = db_open(s, &s->rdb, false, err, errlen)) != 0)
		goto fail;
	if ((r = prepare_all(s->rdb, rsql, s->r, R_COUNT)) != 0) {
		open_err(err, errlen, 0, "%s: %s", s->path, sqlite3_errmsg(s->rdb));
		goto fail;
	}

	/* The writer takes no signals: the loop's signalfd needs them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&s->thread, NULL, writer_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		open_err(err, errlen, 0, "store: thread: %s", strerror(-r));
		goto fail;
	}
	s->running = true;
	return s;
fail:
	store_free(s);
	errno = r < 0 ? -r : EIO;
	return NULL;
}

/*
 * Finish queued operations, stop the writer, close.  Callbacks not yet run by
 * store_dispatch() are dropped (their operations did complete).
 */
void
store_free(struct store *s)
{
	struct op *op;
	int rc;

	if (s == NULL)
		return;
	if (s->running) {
		pthread_mutex_lock(&s->qmu);
		s->stopping = true;
		pthread_cond_signal(&s->qcv);
		pthread_mutex_unlock(&s->qmu);
		pthread_join(s->thread, NULL);
	}
	while ((op = TAILQ_FIRST(&s->completed)) != NULL) {
		TAILQ_REMOVE(&s->completed, op, entry);
		op_free(op);
	}
	for (int i = 0; i < R_COUNT; i++)
		sqlite3_finalize(s->r[i]);
	sqlite3_close(s->rdb);
	for (int i = 0; i < W_COUNT; i++)
		sqlite3_finalize(s->w[i]);
	if (s->wdb != NULL && s->running) {
		rc = sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE,
		    NULL, NULL);
		if (rc != SQLITE_OK)
			log_warnx("store: checkpoint: %s", sqlite3_errmsg(s->wdb));
	}
	if (sqlite3_close(s->wdb) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(s->wdb));
	if (s->efd != -1)
		close(s->efd);
	if (s->buckets != NULL)
		groups_free(s);
	free(s->deltas);
	free(s->chunk);
	free(s->path);
	free(s->vfs);
	pthread_cond_destroy(&s->qcv);
	pthread_cond_destroy(&s->donecv);
	pthread_cond_destroy(&s->seqcv);
	pthread_mutex_destroy(&s->qmu);
	pthread_mutex_destroy(&s->smu);
	pthread_mutex_destroy(&s->seqmu);
	pthread_mutex_destroy(&s->rmu);
	free(s);
}
