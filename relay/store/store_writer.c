/*
 * store_writer.c - the store's writer thread, see store.c.
 *
 * Takes operations off the queue and runs them in group transactions on the
 * writer connection.  A group that fails as a whole is rolled back and
 * replayed one transaction per operation.  Answered operations go to the
 * completion list; the WAL is checkpointed between groups.  What each
 * operation does is in store_insert.c (puts: quota, streaming, supersede)
 * and store_exec.c (the others).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "store_int.h"

#define CKPT_FRAMES		2000		/* checkpoint once the WAL holds this many pages */

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
int
store_w_fail(struct store *s, int rc)
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


/* Record a change of the open transaction; the quota sees it at once. */
int
store_w_delta_add(struct store *s, struct group *g, int64_t count, int64_t bytes, int64_t est)
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
		store_r_totals_add(s, s->deltas[i].g, s->deltas[i].count, s->deltas[i].bytes);
		emptied |= s->deltas[i].g->count == 0;
	}
	s->seen += (uint64_t)s->seen_txn;
	s->commits++;
	if (emptied)
		store_r_groups_prune(s);
	pthread_mutex_unlock(&s->smu);
	memcpy(s->est, s->est_txn, sizeof(s->est));
	s->last_rowid = s->last_rowid_txn;
	s->ndeltas = 0;
	s->seen_txn = 0;
}

/* Step a SELECT of ROW_COLS; account each row as deleted.  Rows or -errno. */
int
store_w_drop_rows(struct store *s, sqlite3_stmt *st)
{
	struct group *g;
	const char *dst;
	int rc, n = 0, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		dst = (const char *)sqlite3_column_text(st, 0);
		g = store_r_group_get(s, dst ? dst : "", sqlite3_column_int(st, 1),
		    sqlite3_column_int(st, 2));
		if (g == NULL)
			r = -ENOMEM;
		else if (r == 0)
			r = store_w_delta_add(s, g, -1, -sqlite3_column_int64(st, 3),
			    -sqlite3_column_int64(st, 4));
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_w_fail(s, rc);
	return r < 0 ? r : n;
}

static int
op_exec(struct store *s, struct op *op)
{
	int r;

	switch (op->kind) {
	case OP_PUT:
		op->rowid = 0;
		free(op->sup);		/* a replay starts over */
		op->sup = NULL;
		op->sup_len = 0;
		if ((r = store_i_put(s, op)) != 0)
			op->rowid = 0;
		return r;
	case OP_DELETE:
		return store_x_delete(s, op);
	case OP_EXPIRE:
		op->rowid = 0;
		s->expiring = op;
		r = store_x_expire(s, op);
		s->expiring = NULL;
		return r;
	case OP_SEQ:
		return store_x_seq(s, op);
	case OP_TAKE:
		return store_x_take(s, op);
	case OP_HANDED:
		return store_x_handed(s, op);
	case OP_BUDGET:
		return store_x_budget(s, op);
	case OP_PEER:
		return store_x_peer(s, op);
	case OP_REG:
	case OP_UNREG:
	case OP_REG_ACK:
		return store_g_exec(s, op);
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
	bool savepoint = op->kind == OP_PUT && store_i_streamed(op);
	struct mark m;
	int rc = SQLITE_OK, r;

	txn_mark(s, &m);
	if (savepoint && (rc = step_reset(s->w[W_SAVEPOINT])) != SQLITE_OK) {
		store_w_fail(s, rc);
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
		store_w_fail(s, rc);
		return false;
	}
	op->result = r;
	return true;
}

static void writer_op_once(struct store *s, struct op *op);

/*
 * Run one operation in a transaction of its own.  One that must work (all
 * but a put: it deletes, or records what is done) and found the disk full
 * runs again with the reserve given back to the filesystem.
 */
static void
writer_op_alone(struct store *s, struct op *op)
{
	writer_op_once(s, op);
	if (op->result == -ENOSPC && op->kind != OP_PUT && store_s_release(s))
		writer_op_once(s, op);
}

static void
writer_op_once(struct store *s, struct op *op)
{
	int rc, r;

	txn_reset(s);
	if ((rc = step_reset(s->w[W_BEGIN])) != SQLITE_OK) {
		op->result = store_w_fail(s, rc);
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
		r = store_w_fail(s, rc);
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
	s->seq_pending = false;
	pthread_mutex_unlock(&s->seqmu);
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
		if (op->kind == OP_DELETE)
			store_s_deleted(s, op);
		if (op->kind == OP_SEQ) {
			seq_settle(s, op->result == 0 ? op->value : 0);
			free(op);
		} else if (op->done == NULL && !op->doomed && op->sup == NULL) {
			nuser++;
			free(op->peek);
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
	struct timespec deadline;
	bool more;
	long ms;

	pthread_mutex_lock(&s->qmu);
	while (TAILQ_EMPTY(&s->queue) && TAILQ_EMPTY(&s->pending) && !s->stopping) {
		/* Deletes that failed are due again now, or wait with us. */
		if ((ms = store_s_retry(s)) == 0)
			break;
		if (ms < 0) {
			pthread_cond_wait(&s->qcv, &s->qmu);
			continue;
		}
		deadline_after(&deadline, (unsigned)ms);
		if (pthread_cond_timedwait(&s->qcv, &s->qmu, &deadline) == ETIMEDOUT && s->reserve_out) {
			pthread_mutex_unlock(&s->qmu);
			store_s_check(s);
			pthread_mutex_lock(&s->qmu);
		}
	}
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
		store_w_fail(s, rc);
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
		store_w_fail(s, rc);
	}
	writer_rollback(s);
	TAILQ_FOREACH(op, &group, entry)
		writer_op_alone(s, op);
	writer_finish(s, &group);
}

int
store_w_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *s = arg;

	s->wal_frames = frames;
	return SQLITE_OK;
}

/* Our own autocheckpoint: after the commit, so its errors are not a commit's;
 * early on a filesystem with little room (store_s_tight()). */
static void
writer_checkpoint(struct store *s)
{
	static struct log_ratelimit rl;
	int rc;

	if (s->wal_frames < CKPT_FRAMES && !store_s_tight(s, (uint64_t)s->wal_frames))
		return;
	rc = sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK)
		log_limited(&rl, "store: checkpoint: %s", sqlite3_errmsg(s->wdb));
	else
		s->wal_frames = 0;	/* all in the database now (store_s_put_room()) */
}

void *
store_w_main(void *arg)
{
	struct store *s = arg;

	while (writer_wait(s)) {
		writer_group(s);
		writer_checkpoint(s);
		store_s_check(s);
	}
	return NULL;
}
