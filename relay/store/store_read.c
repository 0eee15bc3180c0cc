/*
 * store_read.c - the store's read side, see store.c.
 *
 * Lookups and blob reads on the read connection, on the caller's thread
 * (WAL lets them run while the writer writes), and the committed totals per
 * destination, class and state that stats and queue summaries come from.
 * The writer changes the totals when its transactions commit.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "store_int.h"

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
 * The group of a destination, class and kind of state, made if new.  Only the writer
 * (or store_open before it starts) calls this, so lookups need no lock;
 * changes to the table take smu because store_queue() walks it.
 */
struct group *
store_r_group_get(struct store *s, const char *dst, int priority, int state)
{
	struct group *g;
	unsigned h;
	size_t len;

	if (priority < 0 || priority >= PRIO_COUNT)
		priority = PRIO_BULK;
	state = state_kind(state);
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
void
store_r_groups_prune(struct store *s)
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

void
store_r_groups_free(struct store *s)
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
void
store_r_totals_add(struct store *s, struct group *g, int64_t count, int64_t bytes)
{
	g->count += (uint64_t)count;
	g->bytes += (uint64_t)bytes;
	s->cls_count[g->priority] += (uint64_t)count;
	s->cls_bytes[g->priority] += (uint64_t)bytes;
	s->state_count[g->state] += (uint64_t)count;
	s->state_bytes[g->state] += (uint64_t)bytes;
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
	e->flags = (uint64_t)sqlite3_column_int64(st, 13);
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

int
store_next_pending(struct store *s, int64_t reg, int64_t after, struct store_entry *e)
{
	int r;

	pthread_mutex_lock(&s->rmu);
	sqlite3_bind_int64(s->r[R_NEXT_PENDING], 1, reg);
	sqlite3_bind_int64(s->r[R_NEXT_PENDING], 2, after);
	r = read_entry(s, s->r[R_NEXT_PENDING], e);
	pthread_mutex_unlock(&s->rmu);
	return r;
}

/* The next entry of a (priority, rowid) walk over one partial index. */
static int
next_by_class(struct store *s, sqlite3_stmt *st, int priority, int64_t after, int64_t floor,
    struct store_entry *e)
{
	int r = -ENOENT;

	pthread_mutex_lock(&s->rmu);
	for (int p = priority < 0 ? 0 : priority; p < PRIO_COUNT && r == -ENOENT; p++) {
		sqlite3_bind_int64(st, 1, p);
		sqlite3_bind_int64(st, 2, p == priority && after > floor ? after : floor);
		r = read_entry(s, st, e);
	}
	pthread_mutex_unlock(&s->rmu);
	return r;
}

int
store_next_fragment(struct store *s, const char *prefix, int64_t after, struct store_entry *e)
{
	int r;

	pthread_mutex_lock(&s->rmu);
	sqlite3_bind_text(s->r[R_NEXT_FRAGMENT], 1, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->r[R_NEXT_FRAGMENT], 2, after);
	r = read_entry(s, s->r[R_NEXT_FRAGMENT], e);
	pthread_mutex_unlock(&s->rmu);
	return r;
}

/*
 * One read transaction for the whole batch: the forwarder walks past every
 * bundle in flight at each pass, and a transaction per row (shm locks, a
 * fresh look at the WAL) was most of the cost of forwarding small bundles.
 */
int
store_queued_batch(struct store *s, int priority, int64_t after, struct store_queued *q, size_t n)
{
	sqlite3_stmt *st = s->r[R_QUEUED_BATCH];
	size_t got = 0;
	int rc = SQLITE_DONE, r = 0;

	pthread_mutex_lock(&s->rmu);
	if ((rc = sqlite3_step(s->r[R_BEGIN])) != SQLITE_DONE) {
		sqlite3_reset(s->r[R_BEGIN]);
		r = db_errno(s->rdb, rc);
		goto out;
	}
	sqlite3_reset(s->r[R_BEGIN]);
	for (int p = priority < 0 ? 0 : priority; p < PRIO_COUNT && got < n && rc == SQLITE_DONE; p++) {
		sqlite3_bind_int64(st, 1, p);
		sqlite3_bind_int64(st, 2, p == priority ? after : 0);
		sqlite3_bind_int64(st, 3, (int64_t)(n - got));
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			q[got++] = (struct store_queued){ .rowid = sqlite3_column_int64(st, 0), .priority = p,
			    .dst_node = (uint64_t)sqlite3_column_int64(st, 1),
			    .size = (uint64_t)sqlite3_column_int64(st, 2),
			    .flags = (uint64_t)sqlite3_column_int64(st, 3) };
		sqlite3_reset(st);
	}
	if (rc != SQLITE_DONE) {
		log_warnx("store: read: %s", sqlite3_errmsg(s->rdb));
		r = db_errno(s->rdb, rc);
	}
	if (sqlite3_step(s->r[R_COMMIT]) != SQLITE_DONE && !sqlite3_get_autocommit(s->rdb))
		sqlite3_exec(s->rdb, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_reset(s->r[R_COMMIT]);
out:
	pthread_mutex_unlock(&s->rmu);
	return r < 0 ? r : (int)got;
}

int
store_next_queued(struct store *s, int priority, int64_t after, struct store_entry *e)
{
	return next_by_class(s, s->r[R_NEXT_QUEUED], priority, after, 0, e);
}

int
store_next_flood(struct store *s, int priority, int64_t after, int64_t floor, struct store_entry *e)
{
	return next_by_class(s, s->r[R_NEXT_FLOOD], priority, after, floor, e);
}

int64_t
store_max_rowid(struct store *s)
{
	int64_t v = 0;

	pthread_mutex_lock(&s->rmu);
	if (step_int(s->r[R_MAX_ROWID], &v) != SQLITE_OK)
		v = 0;
	pthread_mutex_unlock(&s->rmu);
	return v;
}

int
store_holders(struct store *s, int64_t rowid, struct store_holder *v, size_t cap)
{
	sqlite3_stmt *st = s->r[R_HOLDERS];
	size_t n = 0;
	int rc;

	pthread_mutex_lock(&s->rmu);
	sqlite3_bind_int64(st, 1, rowid);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n < cap)
			v[n] = (struct store_holder){ .node = (uint64_t)sqlite3_column_int64(st, 0),
			    .how = sqlite3_column_int(st, 1), .when = (uint64_t)sqlite3_column_int64(st, 2) };
		n++;
	}
	if (rc != SQLITE_DONE)
		log_warnx("store: read: %s", sqlite3_errmsg(s->rdb));
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->rmu);
	return rc == SQLITE_DONE ? (int)(n < INT_MAX ? n : INT_MAX) : -EIO;
}

int
store_budget_get(struct store *s, const char *link, uint64_t *period, uint64_t *spent)
{
	sqlite3_stmt *st = s->r[R_BUDGET];
	int rc, r = -ENOENT;

	pthread_mutex_lock(&s->rmu);
	sqlite3_bind_text(st, 1, link, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*period = (uint64_t)sqlite3_column_int64(st, 0);
		*spent = (uint64_t)sqlite3_column_int64(st, 1);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		log_warnx("store: read: %s", sqlite3_errmsg(s->rdb));
		r = -EIO;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->rmu);
	return r;
}

int
store_peers(struct store *s, store_peer_fn *fn, void *arg)
{
	sqlite3_stmt *st = s->r[R_PEERS];
	int rc, n = 0;

	pthread_mutex_lock(&s->rmu);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fn(arg, (uint64_t)sqlite3_column_int64(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
		    (uint64_t)sqlite3_column_int64(st, 2));
		n++;
	}
	if (rc != SQLITE_DONE)
		log_warnx("store: read: %s", sqlite3_errmsg(s->rdb));
	sqlite3_reset(st);
	pthread_mutex_unlock(&s->rmu);
	return rc == SQLITE_DONE ? n : -EIO;
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
	st->queued = s->state_count[KIND_QUEUED];
	st->queued_bytes = s->state_bytes[KIND_QUEUED];
	st->local = s->state_count[KIND_LOCAL];
	st->local_bytes = s->state_bytes[KIND_LOCAL];
	st->flood = s->state_count[KIND_FLOOD];
	st->flood_bytes = s->state_bytes[KIND_FLOOD];
	st->seen = s->seen;
	st->commits = s->commits;
	pthread_mutex_unlock(&s->smu);
	pthread_mutex_lock(&s->qmu);
	st->ops = s->ops;
	pthread_mutex_unlock(&s->qmu);
	st->quota = s->opt.quota;
	st->reserve = s->opt.reserve;
	st->boot = s->boot;
	st->fs_free = store_s_fs_free(s);
	st->disk_full = s->reserve_out;		/* a flag the writer sets: a stale read is harmless */
	st->fs_short = s->fs_short;

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
	/* No groups yet: no rows, and NULL + 0 is undefined (clang's UBSan says so). */
	strs = rows != NULL ? (char *)(rows + s->ngroups) : NULL;
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
