/*
 * store_writer.c - the store's writer thread, see store.c.
 *
 * Takes operations off the queue and runs them in group transactions on the
 * writer connection: puts (checked against the quota, bound whole or
 * streamed), deletes, expiry and sequence reservations.  A group that fails
 * as a whole is rolled back and replayed one transaction per operation.
 * Answered operations go to the completion list; the WAL is checkpointed
 * between groups.
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

#include "bundle.h"
#include "log.h"
#include "store.h"
#include "store_int.h"

#define BIND_MAX		(256 * 1024)	/* memory bundles up to this are bound whole */
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
static int
drop_rows(struct store *s, sqlite3_stmt *st)
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

		n = pread(op->fd, s->chunk, want, (off_t)(op->fd_off + done));
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

/* One row of the forward table, by rowid or (rowid 0) by identity. */
static int
handed_insert(struct store *s, int64_t rowid, const char *id, uint64_t nbr, int how, uint64_t when)
{
	sqlite3_stmt *st = s->w[rowid != 0 ? W_HANDED : W_HANDED_ID];
	int rc;

	if (rowid != 0)
		sqlite3_bind_int64(st, 1, rowid);
	else
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, i64(nbr));
	sqlite3_bind_int(st, 3, how);
	sqlite3_bind_int64(st, 4, i64(when));
	s->dirty = true;
	if ((rc = step_reset(st)) != SQLITE_OK)
		return db_fail(s, rc);
	return 0;
}

static int peek_head(struct store *s, struct op *op, int64_t rowid);

/* Append a u16 length and the bytes to op->sup. */
static int
sup_put(struct op *op, const void *p, size_t len)
{
	uint8_t *b;

	if ((b = realloc(op->sup, op->sup_len + 2 + len)) == NULL)
		return -ENOMEM;
	op->sup = b;
	b += op->sup_len;
	b[0] = (uint8_t)(len >> 8);
	b[1] = (uint8_t)len;
	if (len > 0)
		memcpy(b + 2, p, len);
	op->sup_len += 2 + len;
	return 0;
}

/*
 * Note for store_dispatch() that bundle id was superseded by bundle by:
 * [id][by][head], each a u16 length and its bytes; head is the bundle's
 * first bytes if it asked for a deletion report (rowid: stored; 0: the put's
 * own bytes), else empty.
 */
static int
sup_add(struct store *s, struct op *op, const char *id, const char *by, int64_t rowid, uint64_t flags)
{
	size_t n = 0, at;
	int r;

	if ((r = sup_put(op, id, strlen(id))) < 0 || (r = sup_put(op, by, strlen(by))) < 0)
		return r;
	if ((flags & s->sup_mask) == 0)
		return sup_put(op, NULL, 0);
	if (rowid == 0) {
		n = op->head_len < STORE_HEAD_PEEK ? op->head_len : STORE_HEAD_PEEK;
		return sup_put(op, op->buf, n);
	}
	/* peek_head() appends [len][bytes] to op->peek: borrow it. */
	at = op->peek_len;
	if ((r = peek_head(s, op, rowid)) < 0)
		return r;
	r = sup_put(op, op->peek + at + 2, op->peek_len - at - 2);
	op->peek_len = at;
	if (at == 0) {
		free(op->peek);
		op->peek = NULL;
	}
	return r;
}

/* One bundle that competes with a put's key. */
struct rival {
	int64_t rowid;
	int state;
	uint64_t flags, ctime, cseq;
	char id[BUNDLE_ID_MAX];
};

/*
 * A pinned row was superseded by op: once op is answered as done, the last
 * unpin deletes it.  Under pinmu.  Whatever fails here, the row stays and
 * goes: one fix too many, nothing lost.
 */
static void
stale_note(struct store *s, struct op *op, int64_t rowid)
{
	struct stale *v;
	char *b;
	size_t i;

	for (i = 0; i < s->nstale && s->stale[i].rowid != rowid; i++)
		;
	if (i < s->nstale && s->stale[i].confirmed)
		return;		/* superseded already */
	if ((b = strdup(op->id)) == NULL)
		return;
	if (i == s->nstale && s->nstale == s->maxstale) {
		size_t n = s->maxstale ? s->maxstale * 2 : 16;

		if ((v = reallocarray(s->stale, n, sizeof(*v))) == NULL) {
			free(b);
			return;
		}
		s->stale = v;
		s->maxstale = n;
	}
	if (i == s->nstale)
		s->stale[s->nstale++].rowid = rowid;
	else
		free(s->stale[i].by);
	s->stale[i].by = b;
	s->stale[i].ticket = op->ticket;
	s->stale[i].confirmed = false;
	op->doomed = true;	/* store_dispatch() settles it */
}

/*
 * Is rowid pinned (in flight)?  Then the last unpin deletes it (unless the
 * link delivered it); if not, doom it for op: nobody may pin it now.
 */
static bool
pinned_or_doom(struct store *s, struct op *op, int64_t rowid)
{
	struct doomed *d;
	bool pinned = false;

	pthread_mutex_lock(&s->pinmu);
	for (size_t i = 0; i < s->npins && !pinned; i++)
		pinned = s->pins[i] == rowid;
	if (pinned)
		stale_note(s, op, rowid);
	if (!pinned && s->ndoomed == s->maxdoomed) {
		size_t n = s->maxdoomed ? s->maxdoomed * 2 : 16;

		if ((d = reallocarray(s->doomed, n, sizeof(*d))) == NULL) {
			pthread_mutex_unlock(&s->pinmu);
			return true;	/* cannot keep walks off it: leave it */
		}
		s->doomed = d;
		s->maxdoomed = n;
	}
	if (!pinned) {
		s->doomed[s->ndoomed++] = (struct doomed){ rowid, op->ticket };
		op->doomed = true;
	}
	pthread_mutex_unlock(&s->pinmu);
	return pinned;
}

/* The bundles with the key of op, read whole before any of them is deleted. */
static int
rivals_get(struct store *s, const struct op *op, struct rival **out, size_t *n)
{
	sqlite3_stmt *st = s->w[W_SUPERSEDE];
	struct rival *v = NULL, *x;
	size_t cap = 0;
	const char *id;
	int rc;

	*n = 0;
	sqlite3_bind_text(st, 1, op->supersede, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 4;
			if ((x = reallocarray(v, cap, sizeof(*v))) == NULL) {
				sqlite3_reset(st);
				free(v);
				return -ENOMEM;
			}
			v = x;
		}
		x = &v[(*n)++];
		x->rowid = sqlite3_column_int64(st, 0);
		id = (const char *)sqlite3_column_text(st, 1);
		snprintf(x->id, sizeof(x->id), "%s", id ? id : "");
		x->state = sqlite3_column_int(st, 2);
		x->flags = (uint64_t)sqlite3_column_int64(st, 3);
		x->ctime = (uint64_t)sqlite3_column_int64(st, 4);
		x->cseq = (uint64_t)sqlite3_column_int64(st, 5);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return db_fail(s, rc);
	}
	*out = v;
	return 0;
}

/* Delete one superseded row, with its totals. */
static int
supersede_row(struct store *s, int64_t rowid)
{
	sqlite3_stmt *st = s->w[W_DELETE];
	int n, rc;

	sqlite3_bind_int64(st, 1, rowid);
	if ((n = drop_rows(s, st)) <= 0)
		return n;
	st = s->w[W_DELETE_DO];
	sqlite3_bind_int64(st, 1, rowid);
	if ((rc = step_reset(st)) != SQLITE_OK)
		return db_fail(s, rc);
	return 0;
}

/*
 * The supersede of a put with a key (store.h): 1 if a newer bundle with its
 * key is stored (the put is not to be stored), 0 once the older ones that
 * are not in flight are deleted, or -errno.  Before any write: the newer
 * check, so that a put that stores nothing deletes nothing either.
 */
static int
supersede(struct store *s, struct op *op)
{
	struct rival *v = NULL;
	size_t n = 0, i;
	int r;

	if ((r = rivals_get(s, op, &v, &n)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		if (!store_newer(op->ctime, op->cseq, v[i].ctime, v[i].cseq) &&
		    store_newer(v[i].ctime, v[i].cseq, op->ctime, op->cseq)) {
			r = sup_add(s, op, op->id, v[i].id, 0, op->flags);
			free(v);
			return r < 0 ? r : 1;
		}
	}
	for (i = 0; i < n && r == 0; i++) {
		/* Waiting for the local application: not ours to drop. */
		if (v[i].state == STORE_FLOOD_LOCAL || pinned_or_doom(s, op, v[i].rowid))
			continue;
		/* Its head first, while it is there. */
		if ((r = sup_add(s, op, v[i].id, op->id, v[i].rowid, v[i].flags)) == 0) {
			s->dirty = true;
			r = supersede_row(s, v[i].rowid);
		}
	}
	free(v);
	return r;
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

	if ((r = quota_check(s, op)) != 0 || (r = store_s_put_room(s, op->priority, op->est)) != 0) {
		/* A duplicate is answered as one even when full: the sender
		 * may then let go of it instead of retrying forever. */
		int64_t has = 0;

		st = s->w[W_SEEN_HAS];
		sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
		if ((rc = step_int(st, &has)) != SQLITE_OK)
			return db_fail(s, rc);
		return has > 0 ? -EEXIST : r;
	}
	if ((g = store_r_group_get(s, op->dst, op->priority, op->state)) == NULL)
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

	if (op->supersede != NULL && (r = supersede(s, op)) != 0)
		return r < 0 ? r : 0;	/* 1: older than one stored, dropped */

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
	sqlite3_bind_int64(st, 16, i64(op->flags));
	sqlite3_bind_int64(st, 17, i64(op->ctime));
	sqlite3_bind_int64(st, 18, i64(op->cseq));
	rc = step_reset(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return -EEXIST;		/* in bundles but not in seen: old data */
	if (rc != SQLITE_OK)
		return db_fail(s, rc);
	op->rowid = ++s->last_rowid_txn;
	if (streamed && (r = put_stream(s, op)) != 0)
		return r;
	/* A flood bundle is not sent back where it came from. */
	if (op->from != 0 && (op->state == STORE_FLOOD || op->state == STORE_FLOOD_LOCAL) &&
	    (r = handed_insert(s, op->rowid, NULL, op->from, STORE_HELD_FROM, op->received)) < 0)
		return r;
	return delta_add(s, g, 1, (int64_t)total, (int64_t)op->est);
}

/*
 * Before the delete of a row superseded while it was in flight: note it
 * for store_dispatch().  -ENOENT if it is gone (its link delivered it).
 */
static int
stale_superseded(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_ROW_ID];
	char id[BUNDLE_ID_MAX];
	uint64_t flags;
	int rc;

	free(op->sup);		/* a replay starts over */
	op->sup = NULL;
	op->sup_len = 0;
	sqlite3_bind_int64(st, 1, op->rowid);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT : db_fail(s, rc);
	}
	snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
	flags = (uint64_t)sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return sup_add(s, op, id, op->id, op->rowid, flags);
}

static int
exec_delete(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_DELETE];
	int n, rc;

	if (op->id != NULL && (n = stale_superseded(s, op)) < 0)
		return n;

	sqlite3_bind_int64(st, 1, op->rowid);
	s->dirty = true;
	if ((n = drop_rows(s, st)) < 0)
		return n;
	st = s->w[W_DELETE_DO];
	sqlite3_bind_int64(st, 1, op->rowid);
	if (n > 0 && (rc = step_reset(st)) != SQLITE_OK)
		return db_fail(s, rc);
	s->dirty = n > 0;
	return n == 0 ? -ENOENT : 0;
}

/* Append the first bytes of bundle rowid to op->peek as [len u16][bytes]. */
static int
peek_head(struct store *s, struct op *op, int64_t rowid)
{
	sqlite3_blob *b;
	uint8_t *p;
	int n, rc;

	if ((rc = sqlite3_blob_open(s->wdb, "main", "bundles", "data", rowid, 0, &b)) != SQLITE_OK)
		return db_fail(s, rc);
	n = sqlite3_blob_bytes(b);
	if (n > STORE_HEAD_PEEK)
		n = STORE_HEAD_PEEK;
	if ((p = realloc(op->peek, op->peek_len + 2 + (size_t)n)) == NULL) {
		sqlite3_blob_close(b);
		return -ENOMEM;
	}
	op->peek = p;
	p += op->peek_len;
	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	rc = sqlite3_blob_read(b, p + 2, n, 0);
	sqlite3_blob_close(b);
	if (rc != SQLITE_OK)
		return db_fail(s, rc);
	op->peek_len += 2 + (size_t)n;
	return 0;
}

/* Before an expiry deletes them: the heads of the bundles that want a report. */
static int
expire_peek(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_EXPIRE_REPORTS];
	int rc, r = 0;

	free(op->peek);		/* a replay starts over */
	op->peek = NULL;
	op->peek_len = 0;
	if (op->mask == 0)
		return 0;
	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int(st, 2, STORE_EXPIRE_BATCH);
	sqlite3_bind_int64(st, 3, i64(op->mask));
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = peek_head(s, op, sqlite3_column_int64(st, 0));
	sqlite3_reset(st);
	if (r == 0 && rc != SQLITE_DONE)
		r = db_fail(s, rc);
	return r;
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

	if ((n = expire_peek(s, op)) < 0)
		return n;
	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int(st, 2, STORE_EXPIRE_BATCH);
	s->dirty = true;
	if ((n = drop_rows(s, st)) < 0)
		return n;
	st = s->w[W_EXPIRE_BUNDLES_DO];
	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int(st, 2, STORE_EXPIRE_BATCH);
	if (n > 0 && (rc = step_reset(st)) != SQLITE_OK)
		return db_fail(s, rc);
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

/* LOCAL: delete; FLOOD_LOCAL: becomes FLOOD; FLOOD: nothing to do. */
static int
exec_take(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_TAKE];
	int64_t state = -1;
	int rc;

	sqlite3_bind_int64(st, 1, op->rowid);
	if ((rc = step_int(st, &state)) == SQLITE_DONE)
		return -ENOENT;		/* no such row */
	if (rc != SQLITE_OK)
		return db_fail(s, rc);
	if (state == STORE_FLOOD)
		return 0;
	if (state != STORE_FLOOD_LOCAL)
		return exec_delete(s, op);
	/* Both flood states count as one kind in the totals: nothing to move. */
	st = s->w[W_TAKE_FLOOD];
	sqlite3_bind_int64(st, 1, op->rowid);
	s->dirty = true;
	if ((rc = step_reset(st)) != SQLITE_OK)
		return db_fail(s, rc);
	return 0;
}

/* A neighbour has a flood bundle; op->rowid becomes the count sent to. */
static int
exec_handed(struct store *s, struct op *op)
{
	int64_t rowid = op->bundle, n = 0;
	int r, rc;

	op->rowid = 0;
	if ((r = handed_insert(s, rowid, op->id, op->value, op->how, op->received)) < 0)
		return r;
	if (rowid == 0)
		return 0;
	sqlite3_bind_int64(s->w[W_HANDED_SENT], 1, rowid);
	if ((rc = step_int(s->w[W_HANDED_SENT], &n)) != SQLITE_OK)
		return db_fail(s, rc);
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
exec_budget(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_BUDGET_SET];
	int rc;

	sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, i64(op->expires));
	sqlite3_bind_int64(st, 3, i64(op->value));
	s->dirty = true;
	rc = step_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_OK)
		return db_fail(s, rc);
	return 0;
}

static int
exec_peer(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_PEER_SET];
	int rc;

	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int64(st, 2, i64(op->ctime));
	sqlite3_bind_int64(st, 3, i64(op->cseq));
	sqlite3_bind_int64(st, 4, i64(op->received));
	s->dirty = true;
	rc = step_reset(st);
	if (rc != SQLITE_OK)
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
		free(op->sup);		/* a replay starts over */
		op->sup = NULL;
		op->sup_len = 0;
		if ((r = exec_put(s, op)) != 0)
			op->rowid = 0;
		return r;
	case OP_DELETE:
		return exec_delete(s, op);
	case OP_EXPIRE:
		op->rowid = 0;
		s->expiring = op;
		r = exec_expire(s, op);
		s->expiring = NULL;
		return r;
	case OP_SEQ:
		return exec_seq(s, op);
	case OP_TAKE:
		return exec_take(s, op);
	case OP_HANDED:
		return exec_handed(s, op);
	case OP_BUDGET:
		return exec_budget(s, op);
	case OP_PEER:
		return exec_peer(s, op);
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
