/*
 * store_exec.c - the writer thread's operations other than a put
 * (store_insert.c): deletes, expiry, takes, flood holders, sequence
 * reservations, link budgets and peers.  Each runs inside the transaction
 * store_writer.c opened for it.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "store.h"
#include "store_int.h"

/* One row of the forward table, by rowid or (rowid 0) by identity. */
int
store_x_handed_insert(struct store *s, int64_t rowid, const char *id, uint64_t nbr, int how, uint64_t when)
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
		return store_w_fail(s, rc);
	return 0;
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
		return rc == SQLITE_DONE ? -ENOENT : store_w_fail(s, rc);
	}
	snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
	flags = (uint64_t)sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return store_i_sup_add(s, op, id, op->id, op->rowid, flags);
}

int
store_x_delete(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_DELETE];
	int n, rc;

	if (op->id != NULL && (n = stale_superseded(s, op)) < 0)
		return n;

	sqlite3_bind_int64(st, 1, op->rowid);
	s->dirty = true;
	if ((n = store_w_drop_rows(s, st)) < 0)
		return n;
	st = s->w[W_DELETE_DO];
	sqlite3_bind_int64(st, 1, op->rowid);
	if (n > 0 && (rc = step_reset(st)) != SQLITE_OK)
		return store_w_fail(s, rc);
	s->dirty = n > 0;
	return n == 0 ? -ENOENT : 0;
}

/* Append the first bytes of bundle rowid to op->peek as [len u16][bytes]. */
int
store_x_peek_head(struct store *s, struct op *op, int64_t rowid)
{
	sqlite3_blob *b;
	uint8_t *p;
	int n, rc;

	if ((rc = sqlite3_blob_open(s->wdb, "main", "bundles", "data", rowid, 0, &b)) != SQLITE_OK)
		return store_w_fail(s, rc);
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
		return store_w_fail(s, rc);
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
		r = store_x_peek_head(s, op, sqlite3_column_int64(st, 0));
	sqlite3_reset(st);
	if (r == 0 && rc != SQLITE_DONE)
		r = store_w_fail(s, rc);
	return r;
}

/*
 * Forget at most STORE_EXPIRE_BATCH identities whose lifetime has ended,
 * with their bundles if still stored; op->rowid = identities forgotten.
 * Both statements pick the same rows: the first deletes no seen rows.
 */
int
store_x_expire(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_EXPIRE_BUNDLES];
	int n, rc;

	if ((n = expire_peek(s, op)) < 0)
		return n;
	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int(st, 2, STORE_EXPIRE_BATCH);
	s->dirty = true;
	if ((n = store_w_drop_rows(s, st)) < 0)
		return n;
	st = s->w[W_EXPIRE_BUNDLES_DO];
	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int(st, 2, STORE_EXPIRE_BATCH);
	if (n > 0 && (rc = step_reset(st)) != SQLITE_OK)
		return store_w_fail(s, rc);
	st = s->w[W_EXPIRE_SEEN];
	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int(st, 2, STORE_EXPIRE_BATCH);
	if ((rc = step_reset(st)) != SQLITE_OK)
		return store_w_fail(s, rc);
	n = sqlite3_changes(s->wdb);
	s->seen_txn -= n;
	op->rowid = n;
	return 0;
}

/* LOCAL: delete; FLOOD_LOCAL: becomes FLOOD; FLOOD: nothing to do. */
int
store_x_take(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_TAKE];
	int64_t state = -1;
	int rc;

	sqlite3_bind_int64(st, 1, op->rowid);
	if ((rc = step_int(st, &state)) == SQLITE_DONE)
		return -ENOENT;		/* no such row */
	if (rc != SQLITE_OK)
		return store_w_fail(s, rc);
	if (state == STORE_FLOOD)
		return 0;
	if (state != STORE_FLOOD_LOCAL)
		return store_x_delete(s, op);
	/* Both flood states count as one kind in the totals: nothing to move. */
	st = s->w[W_TAKE_FLOOD];
	sqlite3_bind_int64(st, 1, op->rowid);
	s->dirty = true;
	if ((rc = step_reset(st)) != SQLITE_OK)
		return store_w_fail(s, rc);
	return 0;
}

/* A neighbour has a flood bundle; op->rowid becomes the count sent to. */
int
store_x_handed(struct store *s, struct op *op)
{
	int64_t rowid = op->bundle, n = 0;
	int r, rc;

	op->rowid = 0;
	if ((r = store_x_handed_insert(s, rowid, op->id, op->value, op->how, op->received)) < 0)
		return r;
	if (rowid == 0)
		return 0;
	sqlite3_bind_int64(s->w[W_HANDED_SENT], 1, rowid);
	if ((rc = step_int(s->w[W_HANDED_SENT], &n)) != SQLITE_OK)
		return store_w_fail(s, rc);
	op->rowid = n;
	return 0;
}

int
store_x_seq(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_SEQ_SET];
	int rc;

	sqlite3_bind_int64(st, 1, i64(op->value));
	if ((rc = step_reset(st)) != SQLITE_OK)
		return store_w_fail(s, rc);
	return 0;
}

int
store_x_budget(struct store *s, struct op *op)
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
		return store_w_fail(s, rc);
	return 0;
}

int
store_x_peer(struct store *s, struct op *op)
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
		return store_w_fail(s, rc);
	return 0;
}
