/*
 * store_reg.c - durable registrations of agents (store.h, "Registrations").
 *
 * A registration is a (service, name) pair an agent asked for.  Every bundle
 * for a local service gets one row in `pending` per registration of its
 * service, in the transaction of its put; a new registration gets rows for
 * what waits already.  An ack deletes the registration's row; the last row's
 * ack takes the bundle (store_take()'s rules: a LOCAL bundle leaves the
 * store, a FLOOD_LOCAL one stays for the other nodes).  So a subscriber that
 * is away misses nothing, and two subscribers of one service each get every
 * bundle, across restarts and power cuts: it is all in the database.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_int.h"

/* ---- the writer's side ---- */

int
store_g_pending_add(struct store *s, int64_t rowid, uint64_t service)
{
	sqlite3_stmt *st = s->w[W_PENDING_ADD];
	int rc;

	sqlite3_bind_int64(st, 1, rowid);
	sqlite3_bind_int64(st, 2, i64(service));
	if ((rc = step_reset(st)) != SQLITE_OK)
		return store_w_fail(s, rc);
	return 0;
}

static int
reg_id(struct store *s, uint64_t service, const char *name, int64_t *id)
{
	sqlite3_stmt *st = s->w[W_REG_ID];
	int rc;

	sqlite3_bind_int64(st, 1, i64(service));
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = step_int(st, id);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	return rc == SQLITE_OK ? 0 : store_w_fail(s, rc);
}

/* Take bundle rowid as store_take() does (no answer of its own). */
static int
take(struct store *s, int64_t rowid)
{
	struct op t = { .kind = OP_TAKE, .rowid = rowid, .fd = -1 };
	int r = store_x_take(s, &t);

	free(t.sup);
	return r == -ENOENT ? 0 : r;
}

static int
exec_reg(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_REG_ADD];
	int64_t id;
	int rc;

	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, i64(op->received));
	rc = step_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_OK)
		return store_w_fail(s, rc);
	if (sqlite3_changes(s->wdb) == 0)
		return reg_id(s, op->value, op->id, &op->rowid);	/* known: nothing changes */
	s->dirty = true;
	id = sqlite3_last_insert_rowid(s->wdb);
	st = s->w[W_REG_BACKLOG];
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, i64(op->value));
	if ((rc = step_reset(st)) != SQLITE_OK)
		return store_w_fail(s, rc);
	op->rowid = id;
	return 0;
}

static int
exec_unreg(struct store *s, struct op *op)
{
	sqlite3_stmt *st;
	int64_t id, *orphans = NULL;
	size_t n = 0, cap = 0;
	int r, rc;

	if ((r = reg_id(s, op->value, op->id, &id)) < 0)
		return r;
	/* What only this registration still waited for is taken (others had it). */
	st = s->w[W_REG_ORPHANS];
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, i64(op->value));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			int64_t *p = realloc(orphans, (cap = cap ? cap * 2 : 64) * sizeof(*p));

			if (p == NULL) {
				sqlite3_reset(st);
				free(orphans);
				return -ENOMEM;
			}
			orphans = p;
		}
		orphans[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(orphans);
		return store_w_fail(s, rc);
	}
	s->dirty = true;
	sqlite3_bind_int64(s->w[W_PENDING_DEL_REG], 1, id);
	sqlite3_bind_int64(s->w[W_REG_DEL], 1, id);
	if ((rc = step_reset(s->w[W_PENDING_DEL_REG])) != SQLITE_OK ||
	    (rc = step_reset(s->w[W_REG_DEL])) != SQLITE_OK) {
		free(orphans);
		return store_w_fail(s, rc);
	}
	for (size_t i = 0; i < n; i++)
		if ((r = take(s, orphans[i])) < 0) {
			free(orphans);
			return r;
		}
	free(orphans);
	op->rowid = id;
	return 0;
}

/* op->value: the registration, op->bundle: the bundle; op->rowid: registrations still waiting. */
static int
exec_ack(struct store *s, struct op *op)
{
	sqlite3_stmt *st = s->w[W_PENDING_DEL];
	int64_t left = 0;
	int r, rc;

	sqlite3_bind_int64(st, 1, i64(op->value));
	sqlite3_bind_int64(st, 2, op->bundle);
	if ((rc = step_reset(st)) != SQLITE_OK)
		return store_w_fail(s, rc);
	if (sqlite3_changes(s->wdb) == 0)
		return -ENOENT;		/* acked before, or the bundle is gone */
	s->dirty = true;
	sqlite3_bind_int64(s->w[W_PENDING_LEFT], 1, op->bundle);
	if ((rc = step_int(s->w[W_PENDING_LEFT], &left)) != SQLITE_OK)
		return store_w_fail(s, rc);
	if (left == 0 && (r = take(s, op->bundle)) < 0)
		return r;
	op->rowid = left;
	return 0;
}

int
store_g_exec(struct store *s, struct op *op)
{
	op->rowid = 0;		/* a replay starts over */
	switch (op->kind) {
	case OP_REG:
		return exec_reg(s, op);
	case OP_UNREG:
		return exec_unreg(s, op);
	case OP_REG_ACK:
		return exec_ack(s, op);
	default:
		return -EINVAL;
	}
}

/* ---- the loop's side ---- */

static int
enqueue_named(struct store *s, enum op_kind kind, uint64_t service, const char *name, store_done_fn *done,
    void *arg)
{
	struct op *op;
	int r;

	if (name == NULL || *name == '\0' || strlen(name) > STORE_REG_NAME_MAX)
		return -EINVAL;
	if ((op = store_op_new(kind, done, arg)) == NULL)
		return -ENOMEM;
	if ((op->buf = (uint8_t *)strdup(name)) == NULL) {
		store_op_free(op);
		return -ENOMEM;
	}
	op->id = (const char *)op->buf;
	op->mem += strlen(name) + 1;
	op->value = service;
	op->received = store_wall_ms();
	if ((r = store_enqueue(s, op)) != 0)
		store_op_free(op);
	return r;
}

int
store_reg_add(struct store *s, uint64_t service, const char *name, store_done_fn *done, void *arg)
{
	return enqueue_named(s, OP_REG, service, name, done, arg);
}

int
store_reg_remove(struct store *s, uint64_t service, const char *name, store_done_fn *done, void *arg)
{
	return enqueue_named(s, OP_UNREG, service, name, done, arg);
}

int
store_reg_ack(struct store *s, int64_t reg, int64_t rowid, store_done_fn *done, void *arg)
{
	struct op *op;
	int r;

	if (reg <= 0 || rowid <= 0)
		return -EINVAL;
	if ((op = store_op_new(OP_REG_ACK, done, arg)) == NULL)
		return -ENOMEM;
	op->value = (uint64_t)reg;
	op->bundle = rowid;
	if ((r = store_enqueue(s, op)) != 0)
		store_op_free(op);
	return r;
}

int64_t
store_reg_find(struct store *s, uint64_t service, const char *name)
{
	sqlite3_stmt *st = s->r[R_REG_FIND];
	int64_t id = 0;
	int rc;

	pthread_mutex_lock(&s->rmu);
	sqlite3_bind_int64(st, 1, i64(service));
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = step_int(st, &id);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->rmu);
	if (rc == SQLITE_DONE)
		return 0;
	return rc == SQLITE_OK ? id : -EIO;
}

int
store_reg_count(struct store *s, uint64_t service)
{
	sqlite3_stmt *st = s->r[R_REG_COUNT];
	int64_t n = 0;
	int rc;

	pthread_mutex_lock(&s->rmu);
	sqlite3_bind_int64(st, 1, i64(service));
	rc = step_int(st, &n);
	pthread_mutex_unlock(&s->rmu);
	return rc == SQLITE_OK ? (int)n : -EIO;
}

int
store_registrations(struct store *s, store_reg_fn *fn, void *arg)
{
	sqlite3_stmt *st = s->r[R_REGS];
	int n = 0, rc;

	pthread_mutex_lock(&s->rmu);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fn(arg, sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
		    (const char *)sqlite3_column_text(st, 2), (uint64_t)sqlite3_column_int64(st, 3),
		    (uint64_t)sqlite3_column_int64(st, 4));
		n++;
	}
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->rmu);
	return rc == SQLITE_DONE ? n : -EIO;
}
