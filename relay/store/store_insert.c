/*
 * store_insert.c - a put on the writer thread (store_writer.c): checked
 * against the quota, bound whole or streamed through sqlite3_blob, and the
 * supersede of the older bundles with its key.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "log.h"
#include "store.h"
#include "store_int.h"

#define BIND_MAX		(256 * 1024)	/* memory bundles up to this are bound whole */

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
		return store_w_fail(s, rc);
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
		return store_w_fail(s, rc);
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
		return store_w_fail(s, rc);
	}
	if ((rc = sqlite3_blob_close(b)) != SQLITE_OK)
		return store_w_fail(s, rc);
	return r;
}

/* Whether a put writes its bytes through sqlite3_blob (and may fail half way). */
bool
store_i_streamed(const struct op *op)
{
	return op->fd != -1 || op->head_len + op->payload_len + op->tail_len > BIND_MAX;
}
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
int
store_i_sup_add(struct store *s, struct op *op, const char *id, const char *by, int64_t rowid, uint64_t flags)
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
	/* store_x_peek_head() appends [len][bytes] to op->peek: borrow it. */
	at = op->peek_len;
	if ((r = store_x_peek_head(s, op, rowid)) < 0)
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
		return store_w_fail(s, rc);
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
	if ((n = store_w_drop_rows(s, st)) <= 0)
		return n;
	st = s->w[W_DELETE_DO];
	sqlite3_bind_int64(st, 1, rowid);
	if ((rc = step_reset(st)) != SQLITE_OK)
		return store_w_fail(s, rc);
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
			r = store_i_sup_add(s, op, op->id, v[i].id, 0, op->flags);
			free(v);
			return r < 0 ? r : 1;
		}
	}
	for (i = 0; i < n && r == 0; i++) {
		/* Waiting for the local application: not ours to drop. */
		if (v[i].state == STORE_FLOOD_LOCAL || pinned_or_doom(s, op, v[i].rowid))
			continue;
		/* Its head first, while it is there. */
		if ((r = store_i_sup_add(s, op, v[i].id, op->id, v[i].rowid, v[i].flags)) == 0) {
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
 * it errs on the safe side); see writer_op_in_group() in store_writer.c.
 * Rowids come from our counter rather than max(rowid) + 1, so that a
 * deleted newest bundle's rowid is not given to the next one while somebody
 * may still hold it.
 */
int
store_i_put(struct store *s, struct op *op)
{
	sqlite3_stmt *st;
	struct group *g;
	uint64_t total = op->head_len + op->payload_len + op->tail_len;
	bool streamed = store_i_streamed(op);
	int rc, r;

	if ((r = quota_check(s, op)) != 0 || (r = store_s_put_room(s, op->priority, op->est)) != 0) {
		/* A duplicate is answered as one even when full: the sender
		 * may then let go of it instead of retrying forever. */
		int64_t has = 0;

		st = s->w[W_SEEN_HAS];
		sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
		if ((rc = step_int(st, &has)) != SQLITE_OK)
			return store_w_fail(s, rc);
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
		return store_w_fail(s, rc);
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
		return store_w_fail(s, rc);
	op->rowid = ++s->last_rowid_txn;
	if (streamed && (r = put_stream(s, op)) != 0)
		return r;
	if ((op->state == STORE_LOCAL || op->state == STORE_FLOOD_LOCAL) &&
	    (r = store_g_pending_add(s, op->rowid, op->dst_service)) < 0)
		return r;
	/* A flood bundle is not sent back where it came from. */
	if (op->from != 0 && (op->state == STORE_FLOOD || op->state == STORE_FLOOD_LOCAL) &&
	    (r = store_x_handed_insert(s, op->rowid, NULL, op->from, STORE_HELD_FROM, op->received)) < 0)
		return r;
	return store_w_delta_add(s, g, 1, (int64_t)total, (int64_t)op->est);
}
