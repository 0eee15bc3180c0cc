/*
 * store_pin.c - rows in flight, see store.h ("Supersede", store_pin()).
 *
 * A link holds a bundle from when it is handed over until it is delivered
 * or given back; meanwhile the row is pinned.  A supersede leaves a pinned
 * row alone (stale: deleted at its last unpin), an expiry likewise (held:
 * swept at its last unpin).  Rows either of them is about to delete are
 * doomed until store_dispatch() has answered the operation, so that a walk
 * that read them before the delete committed cannot pin them.  Everything
 * here is under pinmu; store_unpin() and the dispatch run on the loop thread,
 * store_p_keep() on the writer thread.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_int.h"

/* Under pinmu. */
static bool
doomed_has(const struct store *s, int64_t rowid)
{
	for (size_t i = 0; i < s->ndoomed; i++)
		if (s->doomed[i].rowid == rowid)
			return true;
	return false;
}

/* Under pinmu: did its lifetime end (an expiry is to sweep it)? */
static bool
held_has(const struct store *s, int64_t rowid)
{
	for (size_t i = 0; i < s->nheld; i++)
		if (s->held[i].rowid == rowid)
			return true;
	return false;
}

int
store_pin(struct store *s, int64_t rowid)
{
	int r = 0;

	pthread_mutex_lock(&s->pinmu);
	if (doomed_has(s, rowid) || held_has(s, rowid) || store_s_let_go(s, rowid)) {
		r = -ENOENT;
	} else if (s->npins == s->maxpins) {
		size_t n = s->maxpins ? s->maxpins * 2 : 256;
		int64_t *p = reallocarray(s->pins, n, sizeof(*p));

		if (p == NULL) {
			r = -ENOMEM;
		} else {
			s->pins = p;
			s->maxpins = n;
		}
	}
	if (r == 0)
		s->pins[s->npins++] = rowid;
	pthread_mutex_unlock(&s->pinmu);
	return r;
}

/* Under pinmu: is rowid pinned at all? */
static bool
pinned(const struct store *s, int64_t rowid)
{
	for (size_t i = 0; i < s->npins; i++)
		if (s->pins[i] == rowid)
			return true;
	return false;
}

/*
 * Delete a row superseded while it was in flight, now that its link is done
 * with it.  Doomed until answered, like a supersede's own deletions: a walk
 * must not pin it meanwhile.  Not deleted: it goes once more, dedup takes it.
 */
static void
stale_delete(struct store *s, int64_t rowid, char *by)
{
	struct doomed *d;
	struct op *op;

	if ((op = store_op_new(OP_DELETE, NULL, NULL)) == NULL) {
		free(by);
		return;
	}
	op->rowid = rowid;
	op->buf = (uint8_t *)by;
	op->id = by;
	op->mem += strlen(by) + 1;
	op->doomed = true;
	if (store_enqueue(s, op) != 0) {
		store_op_free(op);
		return;
	}
	/* The loop thread runs store_dispatch(): it cannot answer op before this. */
	pthread_mutex_lock(&s->pinmu);
	if (s->ndoomed == s->maxdoomed) {
		size_t n = s->maxdoomed ? s->maxdoomed * 2 : 16;

		if ((d = reallocarray(s->doomed, n, sizeof(*d))) != NULL) {
			s->doomed = d;
			s->maxdoomed = n;
		}
	}
	if (s->ndoomed < s->maxdoomed)
		s->doomed[s->ndoomed++] = (struct doomed){ rowid, op->ticket };
	pthread_mutex_unlock(&s->pinmu);
}

void
store_unpin(struct store *s, int64_t rowid)
{
	char *by = NULL;
	bool sweep = false;

	pthread_mutex_lock(&s->pinmu);
	for (size_t i = 0; i < s->npins; i++) {
		if (s->pins[i] == rowid) {
			s->pins[i] = s->pins[--s->npins];
			break;
		}
	}
	/* Kept as it is: an expiry under way must see the same row all through. */
	for (size_t i = 0; i < s->nheld && !pinned(s, rowid); i++) {
		if (s->held[i].rowid == rowid && !s->held[i].gone) {
			s->held[i].gone = true;
			sweep = true;
			break;
		}
	}
	for (size_t i = 0; i < s->nstale && !pinned(s, rowid); i++) {
		if (s->stale[i].rowid == rowid && s->stale[i].confirmed) {
			by = s->stale[i].by;
			s->stale[i] = s->stale[--s->nstale];
			break;
		}
	}
	pthread_mutex_unlock(&s->pinmu);
	if (by != NULL)
		stale_delete(s, rowid, by);
	/* Its lifetime ended while it was in flight: its link let go, it goes now. */
	if (sweep)
		(void)store_expire(s, store_wall_ms(), NULL, NULL);
}

/*
 * store_p_keep(), SQL store_keep(rowid), on the writer connection during an expiry: 1 if
 * the row is pinned (in flight: the expiry leaves it, store_unpin() sweeps
 * it), else 0 and it is doomed until the expiry is answered, so that no
 * walk pins it meanwhile.  The first answer per row holds for the whole
 * expiry: its statements must all pick the same rows.
 */
void
store_p_keep(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct store *s = sqlite3_user_data(ctx);
	struct op *op = s->expiring;
	int64_t rowid = sqlite3_value_int64(argv[0]);
	int keep = 0;
	size_t i;

	if (op == NULL) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	pthread_mutex_lock(&s->pinmu);
	for (i = 0; i < s->nheld; i++)
		if (s->held[i].rowid == rowid && s->held[i].ticket == op->ticket)
			break;
	if (i < s->nheld) {
		keep = 1;
		goto out;
	}
	/* Let go since an earlier expiry left it: this one takes it. */
	for (i = 0; i < s->nheld;) {
		if (s->held[i].rowid == rowid && s->held[i].gone)
			s->held[i] = s->held[--s->nheld];
		else
			i++;
	}
	if (doomed_has(s, rowid)) {
		keep = 0;
	} else if (pinned(s, rowid)) {
		for (i = 0; i < s->nheld && s->held[i].rowid != rowid; i++)
			;
		if (i == s->nheld && s->nheld == s->maxheld) {
			size_t n = s->maxheld ? s->maxheld * 2 : 16;
			struct held *v = reallocarray(s->held, n, sizeof(*v));

			if (v != NULL) {
				s->held = v;
				s->maxheld = n;
			}
		}
		if (i < s->maxheld) {
			if (i == s->nheld)
				s->nheld++;
			s->held[i] = (struct held){ rowid, op->ticket, false, false };
			op->doomed = true;
			keep = 1;
		} else {
			sqlite3_result_error_nomem(ctx);
			pthread_mutex_unlock(&s->pinmu);
			return;
		}
	} else {
		if (s->ndoomed == s->maxdoomed) {
			size_t n = s->maxdoomed ? s->maxdoomed * 2 : 16;
			struct doomed *d = reallocarray(s->doomed, n, sizeof(*d));

			if (d != NULL) {
				s->doomed = d;
				s->maxdoomed = n;
			}
		}
		if (s->ndoomed == s->maxdoomed) {
			sqlite3_result_error_nomem(ctx);
			pthread_mutex_unlock(&s->pinmu);
			return;
		}
		s->doomed[s->ndoomed++] = (struct doomed){ rowid, op->ticket };
		op->doomed = true;
	}
out:
	pthread_mutex_unlock(&s->pinmu);
	sqlite3_result_int(ctx, keep);
}

/*
 * The expiry with this ticket is answered.  The rows it left in flight:
 * their senders may take them back (and so unpin them) if it is done; those
 * let go meanwhile are for the sweep their last unpin queued.
 */
void
store_p_held_tell(struct store *s, uint64_t ticket, bool done)
{
	int64_t rowid;
	size_t i;

	pthread_mutex_lock(&s->pinmu);
	for (i = 0; i < s->nheld;) {
		if (s->held[i].ticket != ticket) {
			i++;
		} else if (s->held[i].gone) {
			s->held[i] = s->held[--s->nheld];
		} else if (s->held[i].told || !done || s->stale_fn == NULL) {
			s->held[i++].told = true;
		} else {
			s->held[i].told = true;
			rowid = s->held[i].rowid;
			pthread_mutex_unlock(&s->pinmu);
			s->stale_fn(s->stale_arg, rowid);
			pthread_mutex_lock(&s->pinmu);
			i = 0;	/* the table may have moved */
		}
	}
	pthread_mutex_unlock(&s->pinmu);
}

/*
 * The put with this ticket is answered: what it deleted is gone for every
 * reader; what it passed over in flight is superseded if it is done (and
 * deleted now if its link let go meanwhile), else not.
 */
void
store_p_doomed_clear(struct store *s, uint64_t ticket, bool done)
{
	struct stale x;
	size_t i;

	pthread_mutex_lock(&s->pinmu);
	for (i = 0; i < s->ndoomed;) {
		if (s->doomed[i].ticket == ticket)
			s->doomed[i] = s->doomed[--s->ndoomed];
		else
			i++;
	}
	for (i = 0; i < s->nstale;) {
		x = s->stale[i];
		if (x.confirmed || x.ticket != ticket) {
			i++;
		} else if (done && pinned(s, x.rowid)) {
			s->stale[i++].confirmed = true;
			if (s->stale_fn == NULL)
				continue;
			/* Its sender may take it back: it unpins (and so deletes) it. */
			pthread_mutex_unlock(&s->pinmu);
			s->stale_fn(s->stale_arg, x.rowid);
			pthread_mutex_lock(&s->pinmu);
			i = 0;	/* the table may have moved */
		} else {
			s->stale[i] = s->stale[--s->nstale];
			if (!done) {
				free(x.by);
				continue;
			}
			/* Its link let go before the put was answered: delete it now. */
			pthread_mutex_unlock(&s->pinmu);
			stale_delete(s, x.rowid, x.by);
			pthread_mutex_lock(&s->pinmu);
			i = 0;	/* the table may have moved */
		}
	}
	pthread_mutex_unlock(&s->pinmu);
}
