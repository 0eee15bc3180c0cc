/*
 * store_space.c - the store on a full filesystem, see store.c.
 *
 * Four things keep a full disk from becoming a stuck or looping node:
 *
 * The reserve file (PATH-reserve, opt.reserve bytes but at most a sixteenth
 * of the filesystem, allocated with posix_fallocate): room the filesystem
 * cannot give to anybody else.  When
 * an operation that must work (a delete, an expiry, a take, a record) finds
 * the disk full, the writer releases it and runs the operation again; new
 * bundles are then refused until the filesystem has the room to allocate it
 * again.  The file stays between runs, so a restart on a full disk still
 * has it.
 *
 * Room checks against statvfs before a put, so that the classes' reserved
 * room (opt.class_reserve) holds on the filesystem as it does in the quota:
 * a bundle of one class is refused when what is left of the filesystem (and
 * of the free pages inside the database) is what the other classes have
 * reserved and not yet used, or what a checkpoint of the WAL needs.
 *
 * Early checkpoints where the filesystem has little room (store_s_tight()),
 * so that the WAL is reused rather than grown, and a delete finds room in it.
 *
 * Deletes that failed: the row stays, but the bundle was let go (its next
 * hop has it), so store_pin() refuses it and a forwarder never sends it
 * again; the writer retries the delete every RETRY_MS.  That state lives in
 * memory: after a restart the bundle may go once more, and dedup takes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "store_int.h"

#define RETRY_MS		1000	/* failed deletes are tried again this often */
#define CHECK_MS		1000	/* a released reserve is tried again this often */
#define TIGHT_FRAMES		8	/* a WAL this small is not worth an early checkpoint */
#define PLENTY_BYTES		(64ull << 20)	/* beyond twice this free, look at the disk ... */
#define PLENTY_MS		1000		/* ... this often, or after this many bytes */

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* statvfs of the store's filesystem (of its directory before it exists). */
static bool
store_statvfs(const struct store *s, struct statvfs *v)
{
	char dir[PATH_MAX], *slash;

	if (statvfs(s->path, v) == 0)
		return true;
	snprintf(dir, sizeof(dir), "%s", s->path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir ? 1 : 0] = '\0';
	return statvfs(dir, v) == 0;
}

/* Bytes of the filesystem of the store free for us; UINT64_MAX if unknown. */
uint64_t
store_s_fs_free(const struct store *s)
{
	struct statvfs v;

	if (!store_statvfs(s, &v))
		return UINT64_MAX;
	return (uint64_t)v.f_bavail * v.f_frsize;
}

/*
 * Writer: free bytes as of the last look, less what we may have written
 * since (fs_spent, counted by store_s_put_room()).  A look costs a system call, so on a disk with plenty of
 * room the writer looks only every PLENTY_MS or after PLENTY_BYTES written.
 */
static uint64_t
fs_free_now(struct store *s)
{
	uint64_t now = mono_ms();

	if (s->fs_known != UINT64_MAX && s->fs_known > PLENTY_BYTES * 2 && s->fs_spent < PLENTY_BYTES &&
	    now < s->fs_at + PLENTY_MS)
		return s->fs_known - s->fs_spent;
	s->fs_known = store_s_fs_free(s);
	s->fs_at = now;
	s->fs_spent = 0;
	return s->fs_known;
}

static bool
statvfs_total(const struct store *s, uint64_t *total)
{
	struct statvfs v;

	if (!store_statvfs(s, &v))
		return false;
	*total = (uint64_t)v.f_blocks * v.f_frsize;
	return true;
}

/* Allocate the reserve file to its full size: 0 or -errno. */
static int
reserve_fill(struct store *s)
{
	int r;

	if (s->reserve_fd == -1)
		return -EBADF;
	if ((r = posix_fallocate(s->reserve_fd, 0, (off_t)s->reserve_size)) != 0) {
		/* A partial allocation would be a reserve we cannot count on. */
		if (ftruncate(s->reserve_fd, 0) != 0)
			log_warn("store: %s", s->reserve_path);
		return -r;
	}
	return 0;
}

/*
 * At open: the reserve file, and a word if the filesystem cannot hold the
 * quota (the quota then does not protect the reserves: the disk fills first).
 */
void
store_s_open(struct store *s)
{
	uint64_t fs = store_s_fs_free(s);
	struct stat sb;
	uint64_t have = 0, total = 0;
	int r;

	s->reserve_fd = -1;
	s->fs_known = UINT64_MAX;
	if (fs != UINT64_MAX && s->opt.quota > 0) {
		if (stat(s->path, &sb) == 0)
			have = (uint64_t)sb.st_size;
		if (fs + have < s->opt.quota)
			log_warnx("store: quota %llu bytes, but the filesystem of %s has only %llu bytes"
			    " free (the disk fills before the quota; reserves are checked against it)",
			    (unsigned long long)s->opt.quota, s->path, (unsigned long long)fs);
		s->fs_short = fs + have < s->opt.quota;
	}
	s->reserve_size = s->opt.reserve;
	if (statvfs_total(s, &total) && s->reserve_size > total / 16)
		s->reserve_size = total / 16 / 4096 * 4096;	/* a 2 MB disk keeps most of itself */
	if (snprintf(s->reserve_path, sizeof(s->reserve_path), "%s-reserve", s->path) >=
	    (int)sizeof(s->reserve_path))
		return;
	if (s->reserve_size == 0) {
		(void)unlink(s->reserve_path);	/* one from a run with a reserve: give it back */
		return;
	}
	if ((s->reserve_fd = open(s->reserve_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		log_warn("store: reserve file %s", s->reserve_path);
		return;
	}
	if (fstat(s->reserve_fd, &sb) == 0 && (uint64_t)sb.st_blocks * 512 >= s->reserve_size)
		return;		/* there from the last run */
	if ((r = reserve_fill(s)) != 0) {
		log_warnx("store: cannot reserve %llu bytes in %s: %s: new bundles are refused"
		    " until there is room", (unsigned long long)s->reserve_size, s->reserve_path,
		    strerror(-r));
		s->reserve_out = true;
	}
}

void
store_s_close(struct store *s)
{
	if (s->reserve_fd != -1)
		close(s->reserve_fd);
	s->reserve_fd = -1;
}

/*
 * Writer: an operation that must work found the disk full.  Give the
 * reserve back to the filesystem; true if there was one to give (run the
 * operation again).
 */
bool
store_s_release(struct store *s)
{
	if (s->reserve_fd == -1 || s->reserve_out)
		return false;
	if (ftruncate(s->reserve_fd, 0) != 0) {
		log_warn("store: %s", s->reserve_path);
		return false;
	}
	s->reserve_out = true;
	s->reserve_check = mono_ms() + CHECK_MS;
	s->fs_known = UINT64_MAX;
	log_warnx("store: disk full: reserve released so that deletes and commits go on;"
	    " new bundles are refused until %llu bytes are free again",
	    (unsigned long long)s->reserve_size);
	return true;
}

/* Take the released reserve back if the filesystem has the room: true if it did. */
static bool
reserve_back(struct store *s)
{
	if (store_s_fs_free(s) < s->reserve_size + s->page_size * 16 || reserve_fill(s) != 0)
		return false;
	s->reserve_out = false;
	s->fs_known = UINT64_MAX;
	log_info("store: room again: reserve of %llu bytes back, new bundles accepted",
	    (unsigned long long)s->reserve_size);
	return true;
}

/* Writer, between groups: take the reserve back once the filesystem has room. */
void
store_s_check(struct store *s)
{
	uint64_t now = mono_ms();
	int rc;

	if (!s->reserve_out || s->reserve_fd == -1 || now < s->reserve_check)
		return;
	s->reserve_check = now + CHECK_MS;
	/*
	 * What deletes freed is free pages inside the database; the WAL holds
	 * their old copies until a checkpoint, and only a truncating one gives
	 * its room back to the filesystem.
	 */
	if (store_s_fs_free(s) < s->reserve_size + s->page_size * 16) {
		/* Not waiting for readers: commits must not wait behind us; next time, then. */
		sqlite3_busy_timeout(s->wdb, 0);
		rc = sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		sqlite3_busy_timeout(s->wdb, BUSY_MS);
		if (rc != SQLITE_OK)
			return;
	}
	(void)reserve_back(s);
}

/*
 * Writer, before a put: -ENOSPC if the filesystem cannot take it and still
 * checkpoint what the WAL holds, keeping the room the other classes
 * reserved.  Its pages come from the free pages inside the database first;
 * each is written to the WAL now, and those that grow the database once
 * more when checkpointed; so do the WAL's frames not yet checkpointed.
 * Erring on the safe side: a WAL reused from its start takes no new room.
 */
int
store_s_put_room(struct store *s, int priority, uint64_t need)
{
	uint64_t fs, keep = 0, grow, free_db, want;
	int64_t free_pages = 0;

	/* Room may have come back since the last look (an alert must not wait for it). */
	if (s->reserve_out && (s->reserve_fd == -1 || !reserve_back(s)))
		return -ENOSPC;
	for (int k = 0; k < PRIO_COUNT; k++)
		if (k != priority && s->opt.class_reserve[k] > s->est_txn[k])
			keep += s->opt.class_reserve[k] - s->est_txn[k];
	want = 2 * need + (uint64_t)s->wal_frames * (s->page_size + 24) + keep;
	if ((fs = fs_free_now(s)) == UINT64_MAX)
		return 0;	/* cannot tell: SQLite says when the disk is full */
	s->fs_spent += 2 * need;
	if (fs > want + PLENTY_BYTES)
		return 0;	/* the free pages need not be counted */
	if (step_int(s->w[W_FREE_PAGES], &free_pages) != SQLITE_OK)
		return 0;
	free_db = (uint64_t)free_pages * s->page_size;
	grow = need > free_db ? need - free_db : 0;
	/* Free pages count toward a class's room, like the filesystem's. */
	keep = keep > free_db - (need - grow) ? keep - (free_db - (need - grow)) : 0;
	want = need + grow + (uint64_t)s->wal_frames * (s->page_size + 24) + keep;
	return fs < want ? -ENOSPC : 0;
}

/*
 * Writer, after a commit: should the WAL be checkpointed now rather than
 * at CKPT_FRAMES?  A WAL that is a large share of the room left would hold
 * every page twice when the disk fills, and a checkpoint then has no room to
 * write them into the database; checkpointed early, the WAL is reused from
 * its start instead of growing, and deletes find room in it.
 */
bool
store_s_tight(struct store *s, uint64_t wal_frames)
{
	uint64_t fs;

	if (wal_frames < TIGHT_FRAMES || (fs = fs_free_now(s)) == UINT64_MAX)
		return false;
	return wal_frames * (s->page_size + 24) * 4 > fs;
}

/* Under pinmu. */
static bool
undeleted_has(const struct store *s, int64_t rowid)
{
	for (size_t i = 0; i < s->nundel; i++)
		if (s->undel[i] == rowid)
			return true;
	return false;
}

/* store_pin(), under pinmu: let go already, its delete to be retried? */
bool
store_s_let_go(const struct store *s, int64_t rowid)
{
	return s->nundel > 0 && undeleted_has(s, rowid);
}

/*
 * Writer, as a delete is answered: a failed one (not "gone") is noted, a
 * retry that worked is forgotten.
 */
void
store_s_deleted(struct store *s, const struct op *op)
{
	int64_t *v;

	pthread_mutex_lock(&s->pinmu);
	if (op->result == 0 || op->result == -ENOENT) {
		for (size_t i = 0; i < s->nundel; i++) {
			if (s->undel[i] == op->rowid) {
				s->undel[i] = s->undel[--s->nundel];
				break;
			}
		}
	} else if (op->result != -ESHUTDOWN && !undeleted_has(s, op->rowid)) {
		if (s->nundel == s->maxundel) {
			size_t n = s->maxundel ? s->maxundel * 2 : 64;

			if ((v = reallocarray(s->undel, n, sizeof(*v))) != NULL) {
				s->undel = v;
				s->maxundel = n;
			}
		}
		if (s->nundel < s->maxundel)
			s->undel[s->nundel++] = op->rowid;
		if (s->retry_at == 0)
			s->retry_at = mono_ms() + RETRY_MS;
	}
	pthread_mutex_unlock(&s->pinmu);
}

/*
 * Writer, with qmu held, when the queue is empty: milliseconds until the
 * failed deletes are due again or a released reserve is to be tried again
 * (store_s_check()), -1 if neither; or queue the deletes now (0).
 */
long
store_s_retry(struct store *s)
{
	struct op *op;
	uint64_t now = mono_ms();
	long check = -1;
	size_t i;

	if (s->reserve_out && s->reserve_fd != -1)
		check = s->reserve_check > now ? (long)(s->reserve_check - now) : 1;
	pthread_mutex_lock(&s->pinmu);
	if (s->nundel == 0) {
		s->retry_at = 0;
		pthread_mutex_unlock(&s->pinmu);
		return check;
	}
	if (s->retry_at == 0)
		s->retry_at = now + RETRY_MS;
	if (now < s->retry_at) {
		pthread_mutex_unlock(&s->pinmu);
		return check >= 0 && check < (long)(s->retry_at - now) ? check : (long)(s->retry_at - now);
	}
	s->retry_at = now + RETRY_MS;
	for (i = 0; i < s->nundel; i++) {
		if ((op = store_op_new(OP_DELETE, NULL, NULL)) == NULL)
			break;
		op->rowid = s->undel[i];
		op->ticket = ++s->next_ticket;
		s->queue_mem += op->mem;
		TAILQ_INSERT_TAIL(&s->queue, op, entry);
	}
	pthread_mutex_unlock(&s->pinmu);
	return 0;
}
