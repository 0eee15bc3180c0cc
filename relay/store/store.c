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
 *
 * This file opens and closes the store, queues operations and dispatches
 * their completions; the writer thread is in store_writer.c (running the
 * operations of store_insert.c and store_exec.c), the read side
 * and the totals in store_read.c, rows in flight in store_pin.c, a full
 * filesystem in store_space.c, what they share in store_int.h.
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
#include <sys/stat.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "log.h"
#include "store.h"
#include "store_int.h"

/*
 * Sequence numbers reserved per durable write.  The next block is asked for
 * when half of this one is left, so the loop runs out (and store_next_seq()
 * answers 0) only if half a block is used before one commit of the writer:
 * 2^19 numbers, about 9 s at the 60,000 bundles/s of bench_daemon.
 */
#define SEQ_BLOCK		(1u << 20)
#define QUEUE_MAX		(64u << 20)	/* default store_options.queue_max */
#define COMMIT_MS		2
#define COMMIT_BYTES		(1u << 20)
#define WAL_LIMIT		"8388608"	/* WAL truncated back to this after a reset */
#define GROUP_BUCKETS		64		/* initial size of the summary hash */

uint64_t
store_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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

struct op *
store_op_new(enum op_kind kind, store_done_fn *done, void *arg)
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

void
store_op_free(struct op *op)
{
	op_strip(op);
	free(op->peek);
	free(op->sup);
	free(op);
}

int
store_enqueue(struct store *s, struct op *op)
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
	    (p->state != STORE_QUEUED && p->state != STORE_LOCAL && p->state != STORE_FRAGMENT &&
	    p->state != STORE_FLOOD && p->state != STORE_FLOOD_LOCAL) ||
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

	if ((op = store_op_new(OP_PUT, done, arg)) == NULL)
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
	op->flags = p->flags;
	op->from = p->from;
	op->ctime = p->ctime;
	op->cseq = p->cseq;
	op->received = store_wall_ms();
	op->head_len = p->head_len;
	op->payload_len = p->payload_len;
	op->fd_off = p->payload_off;
	op->tail_len = p->tail_len;
	op->est = put_estimate(op);
	op->mem += mem;
	op->weight += p->head_len + p->payload_len + p->tail_len;
	if ((r = store_enqueue(s, op)) != 0)
		goto fail;
	return 0;
fail:
	store_op_free(op);
	return r;
}

/* Queue an operation on one row (delete, take). */
static int
enqueue_row(struct store *s, enum op_kind kind, int64_t rowid, store_done_fn *done, void *arg)
{
	struct op *op;
	int r;

	if ((op = store_op_new(kind, done, arg)) == NULL)
		return -ENOMEM;
	op->rowid = rowid;
	if ((r = store_enqueue(s, op)) != 0)
		store_op_free(op);
	return r;
}

int
store_delete(struct store *s, int64_t rowid, store_done_fn *done, void *arg)
{
	return enqueue_row(s, OP_DELETE, rowid, done, arg);
}

int
store_expire(struct store *s, uint64_t now_ms, store_done_fn *done, void *arg)
{
	struct op *op;
	int r;

	if ((op = store_op_new(OP_EXPIRE, done, arg)) == NULL)
		return -ENOMEM;
	op->value = now_ms;
	op->mask = s->expired_fn != NULL ? s->expire_mask : 0;
	if ((r = store_enqueue(s, op)) != 0)
		store_op_free(op);
	return r;
}

void
store_on_expired(struct store *s, uint64_t mask, store_expired_fn *fn, void *arg)
{
	s->expire_mask = mask;
	s->expired_fn = fn;
	s->expired_arg = arg;
}

void
store_on_superseded(struct store *s, uint64_t mask, store_superseded_fn *fn, void *arg)
{
	s->sup_mask = mask;
	s->sup_fn = fn;
	s->sup_arg = arg;
}

void
store_on_stale(struct store *s, store_stale_fn *fn, void *arg)
{
	s->stale_fn = fn;
	s->stale_arg = arg;
}

bool
store_newer(uint64_t t1, uint64_t s1, uint64_t t2, uint64_t s2)
{
	if (t1 != 0 && t2 != 0 && t1 != t2)
		return t1 > t2;
	return s1 > s2;
}

int
store_take(struct store *s, int64_t rowid, store_done_fn *done, void *arg)
{
	return enqueue_row(s, OP_TAKE, rowid, done, arg);
}

int
store_handed(struct store *s, int64_t rowid, const char *id, uint64_t nbr, int how, store_done_fn *done,
    void *arg)
{
	struct op *op;
	int r;

	if ((rowid == 0 && (id == NULL || *id == '\0')) || how < STORE_HELD_FROM || how > STORE_HELD_OFFERED)
		return -EINVAL;
	if ((op = store_op_new(OP_HANDED, done, arg)) == NULL)
		return -ENOMEM;
	op->bundle = rowid;
	op->value = nbr;
	op->how = how;
	op->received = store_wall_ms();
	if (rowid == 0) {
		if ((op->buf = (uint8_t *)strdup(id)) == NULL) {
			store_op_free(op);
			return -ENOMEM;
		}
		op->id = (const char *)op->buf;
		op->mem += strlen(id) + 1;
	}
	if ((r = store_enqueue(s, op)) != 0)
		store_op_free(op);
	return r;
}

int
store_budget_save(struct store *s, const char *link, uint64_t period, uint64_t spent, store_done_fn *done,
    void *arg)
{
	struct op *op;
	int r;

	if (link == NULL || *link == '\0')
		return -EINVAL;
	if ((op = store_op_new(OP_BUDGET, done, arg)) == NULL)
		return -ENOMEM;
	if ((op->buf = (uint8_t *)strdup(link)) == NULL) {
		store_op_free(op);
		return -ENOMEM;
	}
	op->id = (const char *)op->buf;
	op->mem += strlen(link) + 1;
	op->expires = period;
	op->value = spent;
	if ((r = store_enqueue(s, op)) != 0)
		store_op_free(op);
	return r;
}

int
store_peer_save(struct store *s, uint64_t node, uint64_t boot, uint64_t top, store_done_fn *done, void *arg)
{
	struct op *op;
	int r;

	if ((op = store_op_new(OP_PEER, done, arg)) == NULL)
		return -ENOMEM;
	op->value = node;
	op->ctime = boot;
	op->cseq = top;
	op->received = store_wall_ms();
	if ((r = store_enqueue(s, op)) != 0)
		store_op_free(op);
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

/* The first bytes of each expired bundle that wanted a deletion report. */
static void
dispatch_expired(struct store *s, const struct op *op)
{
	size_t off = 0, n;

	while (off + 2 <= op->peek_len) {
		n = (size_t)op->peek[off] << 8 | op->peek[off + 1];
		if (n > op->peek_len - off - 2)
			break;
		s->expired_fn(s->expired_arg, op->peek + off + 2, n);
		off += 2 + n;
	}
}

/* A u16 length and that many bytes of op->sup at *off; NULL at the end. */
static const uint8_t *
sup_next(const struct op *op, size_t *off, size_t *len)
{
	const uint8_t *p;

	if (*off + 2 > op->sup_len)
		return NULL;
	*len = (size_t)op->sup[*off] << 8 | op->sup[*off + 1];
	if (*len > op->sup_len - *off - 2)
		return NULL;
	p = op->sup + *off + 2;
	*off += 2 + *len;
	return p;
}

/* The bundles a put superseded: records [id][by][head], written by store_i_sup_add(). */
static void
dispatch_superseded(struct store *s, const struct op *op)
{
	char id[BUNDLE_ID_MAX], by[BUNDLE_ID_MAX];
	const uint8_t *pi, *pb, *ph;
	size_t off = 0, li, lb, lh;

	while ((pi = sup_next(op, &off, &li)) != NULL && (pb = sup_next(op, &off, &lb)) != NULL &&
	    (ph = sup_next(op, &off, &lh)) != NULL) {
		if (li >= sizeof(id) || lb >= sizeof(by))
			continue;
		memcpy(id, pi, li);
		id[li] = '\0';
		memcpy(by, pb, lb);
		by[lb] = '\0';
		s->sup_fn(s->sup_arg, id, by, lh > 0 ? ph : NULL, lh);
	}
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
		if (op->peek != NULL && s->expired_fn != NULL)
			dispatch_expired(s, op);
		if (op->sup != NULL && s->sup_fn != NULL)
			dispatch_superseded(s, op);
		if (op->doomed)
			store_p_doomed_clear(s, op->ticket, op->result == 0);
		if (op->doomed && op->kind == OP_EXPIRE)
			store_p_held_tell(s, op->ticket, op->result == 0);
		if (op->done != NULL)
			op->done(op->arg, op->result, op->rowid);
		free(op->peek);
		free(op->sup);
		free(op);
	}
}

uint64_t
store_boot_count(const struct store *s)
{
	return s->boot;
}

/* Ask the writer to make the next block durable; under seqmu, never waits. */
static int
seq_request(struct store *s)
{
	struct op *op;
	int r;

	if ((op = store_op_new(OP_SEQ, NULL, NULL)) == NULL)
		return -ENOMEM;
	op->value = (s->seq_next > s->seq_durable ? s->seq_next : s->seq_durable) + SEQ_BLOCK;
	if ((r = store_enqueue(s, op)) != 0) {
		store_op_free(op);
		return r;
	}
	s->seq_pending = true;
	return 0;
}

/*
 * Numbers come from a block whose end is durable before any of it is handed
 * out, so after a power cut the next open starts above every number used.
 * The next block is written by the writer thread, in a group commit, once
 * half of this one is used (SEQ_BLOCK); this never waits for it: with the
 * block used up before that commits, or the write failed, the answer is 0
 * and the next call asks again.  seqmu is held only for these few lines.
 */
uint64_t
store_next_seq(struct store *s)
{
	static struct log_ratelimit rl;
	uint64_t v = 0;

	pthread_mutex_lock(&s->seqmu);
	if (s->seq_next < s->seq_durable)
		v = s->seq_next++;
	if (!s->seq_pending && s->seq_durable - s->seq_next < SEQ_BLOCK / 2)
		(void)seq_request(s);
	pthread_mutex_unlock(&s->seqmu);
	if (v == 0)
		log_limited(&rl, "store: no durable sequence number (the store writer is behind or failing)");
	return v;
}

/*
 * At a clean stop, once the writer is gone: store where the numbers ended,
 * so that the next open goes on from there instead of skipping the rest of
 * the block.  Only if the counter still holds our reservation, so that it
 * never goes below one written by somebody else; a failure leaves the
 * higher value, which is just as safe.
 */
static void
seq_close(struct store *s)
{
	sqlite3_stmt *st = s->w[W_SEQ_CLOSE];
	int rc;

	if (st == NULL || s->seq_next >= s->seq_durable)
		return;
	sqlite3_bind_int64(st, 1, i64(s->seq_next));
	sqlite3_bind_int64(st, 2, i64(s->seq_durable));
	if ((rc = step_reset(st)) != SQLITE_OK)
		log_debug("store: sequence counter at close: %s", sqlite3_errmsg(s->wdb));
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

/*
 * The database and its -wal and -shm hold every payload: only we may read
 * them (issue 11 item 9).  SQLite creates a new database 0644 (less the
 * umask) and gives -wal and -shm the mode of the database, so the database
 * is created 0600 here first; files an older version left readable to
 * others are narrowed.
 */
static int
secure_files(const char *path, char *err, size_t errlen)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char name[PATH_MAX];
	struct stat sb;
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0)
		close(fd);
	else if (errno != EEXIST)
		return open_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffix[i]);
		if (lstat(name, &sb) < 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) == 0)
			continue;
		if (chmod(name, sb.st_mode & 0700) < 0)
			return open_err(err, errlen, -errno, "%s is readable by other users and cannot be"
			    " made private: %s", name, strerror(errno));
		log_info("store: %s was mode %04o, now %04o", name, (unsigned)(sb.st_mode & 07777),
		    (unsigned)(sb.st_mode & 0700));
	}
	return 0;
}

/*
 * secure_delete = FAST rather than Debian's build default ON: ON overwrites
 * every freed overflow page with zeros, so each forwarded (deleted) bundle
 * was written a second time, to the WAL and again by the checkpoint: half
 * of a relay's disk writes, and wear on the flash of field units.  FAST
 * still clears what deletes leave on pages they rewrite anyway.  Queued
 * bundles are stored in clear in any case; freed pages are reused soon.
 */
static int
db_open(struct store *s, sqlite3 **db, bool writer, char *err, size_t errlen)
{
	const char *pragmas = writer ?
	    "PRAGMA synchronous = FULL; PRAGMA cache_size = -2000; PRAGMA secure_delete = FAST;"
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
		sqlite3_wal_hook(*db, store_w_wal_hook, s);
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
	int64_t version = 0, boot = 0, seq = 0, has_ctime = 0;
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
		if (version == 1 && (rc = sqlite3_exec(s->wdb, migrate_v1_sql, NULL, NULL, NULL)) != SQLITE_OK)
			goto fail;
		if ((version == 2 || version == 3) &&
		    ((rc = int_query(s->wdb, "SELECT count(*) FROM pragma_table_info('bundles')"
		    " WHERE name = 'ctime'", &has_ctime)) != SQLITE_OK ||
		    (has_ctime == 0 && (rc = sqlite3_exec(s->wdb, migrate_v3_sql, NULL, NULL, NULL)) != SQLITE_OK)))
			goto fail;
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
		g = store_r_group_get(s, dst ? dst : "", sqlite3_column_int(st, 1),
		    sqlite3_column_int(st, 2));
		if (g == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		store_r_totals_add(s, g, 1, sqlite3_column_int64(st, 3));
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
	s->reserve_fd = -1;
	pthread_mutex_init(&s->qmu, NULL);
	pthread_mutex_init(&s->smu, NULL);
	pthread_mutex_init(&s->seqmu, NULL);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_mutex_init(&s->pinmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->qcv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->donecv, NULL);
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
	store_s_open(s);
	if ((r = secure_files(s->path, err, errlen)) != 0 ||
	    (r = db_open(s, &s->wdb, true, err, errlen)) != 0)
		goto fail;
	/* The boot counter must be written even on a full disk: that is what the reserve is for. */
	if ((r = open_txn(s, err, errlen)) == -ENOSPC && store_s_release(s))
		r = open_txn(s, err, errlen);
	if (r != 0)
		goto fail;
	if (sqlite3_create_function(s->wdb, "store_keep", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, s, store_p_keep,
	    NULL, NULL) != SQLITE_OK) {
		r = open_err(err, errlen, -ENOMEM, "%s: %s", s->path, sqlite3_errmsg(s->wdb));
		goto fail;
	}
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
	r = -pthread_create(&s->thread, NULL, store_w_main, s);
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
		seq_close(s);
	}
	while ((op = TAILQ_FIRST(&s->completed)) != NULL) {
		TAILQ_REMOVE(&s->completed, op, entry);
		store_op_free(op);
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
	store_s_close(s);
	if (s->buckets != NULL)
		store_r_groups_free(s);
	free(s->deltas);
	free(s->chunk);
	free(s->path);
	free(s->vfs);
	pthread_cond_destroy(&s->qcv);
	pthread_cond_destroy(&s->donecv);
	pthread_mutex_destroy(&s->qmu);
	pthread_mutex_destroy(&s->smu);
	pthread_mutex_destroy(&s->seqmu);
	pthread_mutex_destroy(&s->rmu);
	pthread_mutex_destroy(&s->pinmu);
	free(s->pins);
	free(s->doomed);
	for (size_t i = 0; i < s->nstale; i++)
		free(s->stale[i].by);
	free(s->stale);
	free(s->held);
	free(s->undel);
	free(s);
}
