/*
 * test_powercut.c - nothing the store acknowledged is lost when the power is
 * cut (DESIGN.md section 7).
 *
 * The first tests show that the powercut VFS can fail: unsynced writes,
 * uncommitted transactions and WAL commits at synchronous=NORMAL are gone
 * after a cut, synced data is not.  The scenarios then feed a store running
 * on that VFS, cut the power at a random moment (after k acknowledgements,
 * inside the k-th fsync, from another thread, with torn writes, twice with a
 * reboot on the VFS and a cut inside store_open between), reopen the
 * database with the default VFS and check every bundle whose completion said
 * 0: present, byte for byte, in its state; and that neither the boot counter
 * nor a sequence number handed out before the cut repeats.
 *
 * Every completion that said 0 is checked, also those the loop ran after the
 * cut: 0 claims a commit whose fsync returned, so it must be on disk.
 * POWERCUT_ROUNDS=n (default 6) sets how many rounds of the five kinds run.
 */
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log.h"
#include "powercut_vfs.h"
#include "store.h"

#define BIG_PAYLOAD	(100 * 1024)
#define MAX_BUNDLES	3000
#define IN_FLIGHT	256

struct fixture {
	char dir[256];
	char db[300];
};

/* ---- helpers ----------------------------------------------------------- */

static uint64_t
splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Deterministic content, so expected bytes need not be kept. */
static void
fill(uint64_t seed, uint8_t *buf, size_t len)
{
	uint64_t s = seed;

	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix(&s);
		size_t n = len - i < 8 ? len - i : 8;

		memcpy(buf + i, &v, n);
	}
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	/* On disk, not tmpfs: the point is what fsync made durable. */
	snprintf(f->dir, sizeof(f->dir), "/var/tmp/fieldrelay-powercut-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
	assert_int_equal(powercut_register(), 0);
	powercut_reset();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	powercut_reset();
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* After a cut: what a reboot sees.  All connections must be closed. */
static void
power_on(const char *db)
{
	assert_int_equal(powercut_remove_shm(db), 0);
	powercut_reset();
}

static sqlite3 *
db_open(const char *path, const char *vfs)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    vfs), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void
db_exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

static long long
db_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
assert_integrity_ok(const char *path)
{
	sqlite3 *db = db_open(path, NULL);
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		fail_msg("integrity_check: %s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static off_t
real_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* ---- the VFS itself ---------------------------------------------------- */

static sqlite3_file *
vfs_open(const char *path)
{
	sqlite3_vfs *vfs = sqlite3_vfs_find(POWERCUT_VFS_NAME);
	sqlite3_file *file;
	int out;

	assert_non_null(vfs);
	file = calloc(1, (size_t)vfs->szOsFile);
	assert_non_null(file);
	assert_int_equal(vfs->xOpen(vfs, path, file, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB, &out), SQLITE_OK);
	return file;
}

static void
vfs_close(sqlite3_file *file)
{
	file->pMethods->xClose(file);
	free(file);
}

static void
test_vfs_unsynced_write_is_lost(void **state)
{
	struct fixture *f = *state;
	sqlite3_file *a = vfs_open(f->db), *b = vfs_open(f->db);
	char buf[16] = "";
	sqlite3_int64 sz;

	assert_int_equal(a->pMethods->xWrite(a, "hello", 5, 0), SQLITE_OK);
	/* Another handle of the same file sees it, as through the page cache. */
	assert_int_equal(b->pMethods->xRead(b, buf, 5, 0), SQLITE_OK);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(b->pMethods->xFileSize(b, &sz), SQLITE_OK);
	assert_int_equal(sz, 5);
	assert_int_equal(real_size(f->db), 0);

	powercut_cut();
	assert_int_equal(a->pMethods->xWrite(a, "x", 1, 0), SQLITE_IOERR_WRITE);
	assert_int_equal(a->pMethods->xSync(a, SQLITE_SYNC_FULL), SQLITE_IOERR_FSYNC);
	assert_int_equal(a->pMethods->xTruncate(a, 0), SQLITE_IOERR_TRUNCATE);
	vfs_close(a);
	vfs_close(b);
	powercut_reset();
	assert_int_equal(real_size(f->db), 0);
}

static void
test_vfs_synced_write_is_kept(void **state)
{
	struct fixture *f = *state;
	sqlite3_file *a = vfs_open(f->db);
	uint8_t big[3 * 4096 + 100], got[sizeof(big)];
	FILE *fp;

	fill(1, big, sizeof(big));
	/* Unaligned, across blocks, synced. */
	assert_int_equal(a->pMethods->xWrite(a, big, (int)sizeof(big), 10), SQLITE_OK);
	assert_int_equal(a->pMethods->xSync(a, SQLITE_SYNC_FULL), SQLITE_OK);
	assert_int_equal(real_size(f->db), (off_t)sizeof(big) + 10);
	/* Then an unsynced overwrite and extension, which the cut discards. */
	assert_int_equal(a->pMethods->xWrite(a, "XXXX", 4, 20), SQLITE_OK);
	assert_int_equal(a->pMethods->xWrite(a, "tail", 4, 100000), SQLITE_OK);
	powercut_cut();
	vfs_close(a);
	powercut_reset();

	assert_int_equal(real_size(f->db), (off_t)sizeof(big) + 10);
	fp = fopen(f->db, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 10, SEEK_SET), 0);
	assert_int_equal(fread(got, 1, sizeof(got), fp), sizeof(got));
	fclose(fp);
	assert_memory_equal(got, big, sizeof(big));
}

static void
test_vfs_truncate_is_pending_until_sync(void **state)
{
	struct fixture *f = *state;
	sqlite3_file *a = vfs_open(f->db);
	uint8_t data[10000], buf[6000];
	sqlite3_int64 sz;

	fill(2, data, sizeof(data));
	assert_int_equal(a->pMethods->xWrite(a, data, (int)sizeof(data), 0), SQLITE_OK);
	assert_int_equal(a->pMethods->xSync(a, SQLITE_SYNC_NORMAL), SQLITE_OK);

	/* Truncate, then extend by a write: the gap reads as zeros. */
	assert_int_equal(a->pMethods->xTruncate(a, 100), SQLITE_OK);
	assert_int_equal(a->pMethods->xFileSize(a, &sz), SQLITE_OK);
	assert_int_equal(sz, 100);
	assert_int_equal(a->pMethods->xRead(a, buf, 200, 0), SQLITE_IOERR_SHORT_READ);
	assert_memory_equal(buf, data, 100);
	assert_int_equal(a->pMethods->xWrite(a, "z", 1, 5000), SQLITE_OK);
	assert_int_equal(a->pMethods->xRead(a, buf, 5001, 0), SQLITE_OK);
	for (int i = 100; i < 5000; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(buf[5000], 'z');
	assert_int_equal(real_size(f->db), 10000);

	/* Synced, the real file is exactly the logical one. */
	assert_int_equal(a->pMethods->xSync(a, SQLITE_SYNC_NORMAL), SQLITE_OK);
	assert_int_equal(real_size(f->db), 5001);

	/* A truncate that is never synced does not happen. */
	assert_int_equal(a->pMethods->xTruncate(a, 0), SQLITE_OK);
	powercut_cut();
	assert_int_equal(a->pMethods->xRead(a, buf, 1, 0), SQLITE_IOERR_READ);
	vfs_close(a);
	powercut_reset();
	assert_int_equal(real_size(f->db), 5001);
}

static void
test_vfs_cut_at_sync(void **state)
{
	struct fixture *f = *state;
	sqlite3_file *a = vfs_open(f->db);
	sqlite3_vfs *vfs = sqlite3_vfs_find(POWERCUT_VFS_NAME);

	powercut_cut_at_sync(2, false, 0);
	assert_int_equal(a->pMethods->xWrite(a, "one", 3, 0), SQLITE_OK);
	assert_int_equal(a->pMethods->xSync(a, SQLITE_SYNC_FULL), SQLITE_OK);
	assert_false(powercut_is_cut());
	assert_int_equal(a->pMethods->xWrite(a, "two", 3, 3), SQLITE_OK);
	assert_int_equal(a->pMethods->xSync(a, SQLITE_SYNC_FULL), SQLITE_IOERR_FSYNC);
	assert_true(powercut_is_cut());
	/* Nothing reaches the disk after the cut, not even a delete. */
	assert_int_equal(vfs->xDelete(vfs, f->db, 0), SQLITE_IOERR_DELETE);
	vfs_close(a);
	powercut_reset();
	assert_int_equal(real_size(f->db), 3);
}

/* ---- SQLite through the VFS: the cases a store must not fall into ------ */

static void
make_table(const char *path)
{
	sqlite3 *db = db_open(path, POWERCUT_VFS_NAME);

	db_exec(db, "PRAGMA journal_mode=WAL");
	db_exec(db, "PRAGMA synchronous=FULL");
	db_exec(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)");
	sqlite3_close(db);
}

static void
insert_rows(sqlite3 *db, int from, int to)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "WITH RECURSIVE c(x) AS (SELECT %d UNION ALL "
	    "SELECT x+1 FROM c WHERE x<%d) INSERT INTO t SELECT x, randomblob(300) FROM c",
	    from, to);
	db_exec(db, sql);
}

/* An acknowledgement given before COMMIT would be caught. */
static void
test_sqlite_uncommitted_is_lost(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;

	make_table(f->db);
	db = db_open(f->db, POWERCUT_VFS_NAME);
	db_exec(db, "PRAGMA synchronous=FULL");
	db_exec(db, "PRAGMA cache_size=10");
	insert_rows(db, 1, 100);
	db_exec(db, "BEGIN");
	insert_rows(db, 101, 5000);	/* spills pages into the WAL */
	powercut_cut();
	sqlite3_close_v2(db);
	power_on(f->db);

	assert_integrity_ok(f->db);
	db = db_open(f->db, NULL);
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 100);
	assert_int_equal(db_int(db, "SELECT max(k) FROM t"), 100);
	sqlite3_close(db);
}

/* DESIGN.md 7: "at NORMAL a WAL commit can be lost on power failure".  So it
 * is here: a store acknowledging after a commit that was not fsynced would
 * be caught. */
static void
test_sqlite_wal_normal_commit_is_lost(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;

	make_table(f->db);
	db = db_open(f->db, POWERCUT_VFS_NAME);
	db_exec(db, "PRAGMA synchronous=FULL");
	insert_rows(db, 1, 10);
	db_exec(db, "PRAGMA synchronous=NORMAL");
	insert_rows(db, 11, 20);	/* committed, acknowledged, not synced */
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 20);
	powercut_cut();
	sqlite3_close_v2(db);
	power_on(f->db);

	assert_integrity_ok(f->db);
	db = db_open(f->db, NULL);
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 10);
	sqlite3_close(db);
}

/*
 * The VFS must not lose what was synced either, or the store tests would
 * fail for nothing: FULL commits with checkpoints in between, cut inside
 * the n-th fsync (plain or torn), or torn while a spilled transaction is
 * open.  Every commit that returned is there, nothing else.
 */
static void
test_sqlite_full_commits_survive(void **state)
{
	struct fixture *f = *state;
	char wal[320];

	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	for (unsigned round = 0; round < 30; round++) {
		uint64_t rnd = round + 1;
		unsigned cut_at = 1 + (unsigned)(splitmix(&rnd) % 150);
		int committed = 0, got, kind = round % 3;
		sqlite3 *db;

		make_table(f->db);
		db = db_open(f->db, POWERCUT_VFS_NAME);
		db_exec(db, "PRAGMA synchronous=FULL");
		db_exec(db, "PRAGMA wal_autocheckpoint=50");
		if (kind < 2)
			powercut_cut_at_sync(cut_at, kind == 1, round);
		for (int i = 0; i < 400; i++) {
			char sql[96];

			snprintf(sql, sizeof(sql), "INSERT INTO t VALUES(%d, randomblob(%d))",
			    i + 1, 100 + (int)(splitmix(&rnd) % 6000));
			if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
				break;
			committed = i + 1;
			if (kind == 2 && (unsigned)i + 1 == cut_at) {
				/* An open transaction whose pages spill to the WAL. */
				db_exec(db, "PRAGMA cache_size=10");
				db_exec(db, "BEGIN");
				insert_rows(db, 100000, 102000);
				powercut_cut_torn(round);
				break;
			}
		}
		assert_true(powercut_is_cut());
		sqlite3_close_v2(db);
		power_on(f->db);

		assert_integrity_ok(f->db);
		db = db_open(f->db, NULL);
		got = (int)db_int(db, "SELECT count(*) FROM t WHERE k <= 400");
		/* Torn: the failed commit's frames may all have reached the disk. */
		if (got != committed && !(kind == 1 && got == committed + 1))
			fail_msg("round %u (kind %d, cut at %u): %d rows, %d committed", round,
			    kind, cut_at, got, committed);
		assert_int_equal(db_int(db, "SELECT count(*) FROM t WHERE k > 400"), 0);
		sqlite3_close(db);
		unlink(f->db);
		unlink(wal);
	}
}

/* ---- the store --------------------------------------------------------- */

enum cut_how {
	CUT_AFTER_ACKS,		/* by the loop, after k acknowledgements */
	CUT_AT_SYNC,		/* inside the writer's k-th fsync */
	CUT_FROM_THREAD,	/* from another thread at a random time */
	CUT_TORN_AT_SYNC,	/* inside the k-th fsync, random unsynced writes kept */
	CUT_TWICE,		/* torn, reboot on the VFS, cut again in store_open */
	CUT_HOW_COUNT,
	CUT_IN_OPEN = CUT_HOW_COUNT	/* the second half of CUT_TWICE */
};

static const char *const cut_names[] = {
	"after-acks", "at-sync", "thread", "torn-sync", "twice"
};

struct sent {
	char id[64];
	uint64_t seed;
	int priority, state;
	size_t head_len, tail_len;
	uint64_t payload_len;
	int result;			/* 1 until the completion ran */
	int64_t rowid;
	int acked_after_cut;
};

struct scenario {
	struct sent sent[2 * MAX_BUNDLES];
	pthread_mutex_t mu;		/* completions may run inside store_free */
	int n, inflight, acked, failed;
	int acked_after_cut;
	uint64_t boot;			/* highest boot count seen */
	uint64_t max_seq;		/* highest sequence number handed out */
};

struct done_ctx {
	struct scenario *sc;
	struct sent *b;
};

static void
scenario_done(void *arg, int result, int64_t rowid)
{
	struct done_ctx *c = arg;
	bool cut = powercut_is_cut();

	pthread_mutex_lock(&c->sc->mu);
	c->b->result = result;
	c->b->rowid = rowid;
	c->sc->inflight--;
	if (result == 0) {
		c->sc->acked++;
		if (cut) {
			c->b->acked_after_cut = 1;
			c->sc->acked_after_cut++;
		}
	} else {
		c->sc->failed++;
	}
	pthread_mutex_unlock(&c->sc->mu);
}

static void
make_bundle(const struct sent *b, uint8_t *head, uint8_t *payload, uint8_t *tail)
{
	fill(b->seed, head, b->head_len);
	fill(b->seed ^ 0x5555, payload, (size_t)b->payload_len);
	fill(b->seed ^ 0xaaaa, tail, b->tail_len);
}

static int
put_one(struct store *s, struct scenario *sc, struct done_ctx *ctx, int i, uint64_t *rnd,
    unsigned round)
{
	static uint8_t head[64], tail[16], payload[BIG_PAYLOAD];
	struct sent *b = &sc->sent[i];
	struct store_put p = { 0 };
	char dst[32];
	int fd = -1, rc;

	snprintf(b->id, sizeof(b->id), "ipn:7.5 %u %d 0", round, i);
	b->seed = splitmix(rnd);
	b->priority = 1 + (int)(splitmix(rnd) % 6);
	b->state = splitmix(rnd) % 4 == 0 ? STORE_LOCAL : STORE_QUEUED;
	b->head_len = 20 + splitmix(rnd) % 40;
	b->tail_len = 1 + splitmix(rnd) % 8;
	b->payload_len = splitmix(rnd) % 12 == 0 ? BIG_PAYLOAD : 200;
	b->result = 1;
	make_bundle(b, head, payload, tail);
	snprintf(dst, sizeof(dst), "ipn:9.%d", 64 + b->priority);

	p.id = b->id;
	p.src = "ipn:7.5";
	p.dst = dst;
	p.dst_node = 9;
	p.dst_service = 64 + (uint64_t)b->priority;
	p.priority = b->priority;
	p.state = b->state;
	p.expires = (uint64_t)time(NULL) * 1000 + 86400000;
	p.head = head;
	p.head_len = b->head_len;
	p.tail = tail;
	p.tail_len = b->tail_len;
	p.payload_len = b->payload_len;
	p.payload_fd = -1;
	if (b->payload_len == BIG_PAYLOAD && i % 2) {
		/* The streaming path: payload from a file descriptor. */
		fd = memfd_create("payload", MFD_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, payload, BIG_PAYLOAD), BIG_PAYLOAD);
		p.payload_fd = fd;
	} else {
		p.payload = payload;
	}
	ctx->sc = sc;
	ctx->b = b;
	pthread_mutex_lock(&sc->mu);
	sc->inflight++;
	pthread_mutex_unlock(&sc->mu);
	rc = store_put(s, &p, scenario_done, ctx);
	if (rc != 0) {
		pthread_mutex_lock(&sc->mu);
		sc->inflight--;
		pthread_mutex_unlock(&sc->mu);
		b->result = rc;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct cutter {
	pthread_t thread;
	unsigned delay_us;
};

static void *
cutter_main(void *arg)
{
	struct cutter *c = arg;

	usleep(c->delay_us);
	powercut_cut();
	return NULL;
}

struct freer {
	pthread_t thread;
	struct store *s;
};

static void *
freer_main(void *arg)
{
	struct freer *fr = arg;

	store_free(fr->s);
	return NULL;
}

/* store_free must return even though every write fails now. */
static void
free_with_deadline(struct store *s)
{
	struct freer fr = { .s = s };
	struct timespec deadline;

	assert_int_equal(pthread_create(&fr.thread, NULL, freer_main, &fr), 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 30;
	if (pthread_timedjoin_np(fr.thread, NULL, &deadline) != 0)
		fail_msg("store_free did not return within 30 s after the power cut");
}

static void
check_bundle(struct store *s, const struct sent *b)
{
	static uint8_t want[64 + BIG_PAYLOAD + 16], got[sizeof(want)];
	uint64_t size = b->head_len + b->payload_len + b->tail_len;
	struct store_entry e;
	long n;

	make_bundle(b, want, want + b->head_len, want + b->head_len + b->payload_len);
	if (store_get(s, b->rowid, &e) != 0)
		fail_msg("acknowledged bundle %s (rowid %lld%s) lost in the power cut", b->id,
		    (long long)b->rowid, b->acked_after_cut ? ", completion ran after the cut" : "");
	assert_string_equal(e.id, b->id);
	assert_int_equal(e.priority, b->priority);
	assert_int_equal(e.state, b->state);
	assert_int_equal(e.size, size);
	assert_int_equal(e.head_len, b->head_len);
	assert_int_equal(e.payload_len, b->payload_len);
	n = store_read(s, b->rowid, 0, got, sizeof(got));
	assert_int_equal(n, (long)size);
	if (memcmp(got, want, (size_t)size) != 0)
		fail_msg("bundle %s: stored bytes differ after the power cut", b->id);
}

/* A store that hangs after the cut must fail the test, not stall the run. */
static void
on_alarm(int sig)
{
	static const char msg[] = "test_powercut: scenario hung (store blocked after the "
	    "power cut?)\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

/* One life of the store on the powercut VFS: what happened in it. */
struct life {
	unsigned k;
	int put, acked, lost_callbacks;
	uint64_t dropped;
	bool idle_cut, open_failed;
};

/*
 * Open the store on the powercut VFS, feed it until the power is cut (how,
 * k), and free it.  Bundles are numbered on from sc->n; their completions
 * land in sc.  A store_open cut short by the cut must fail cleanly.
 */
static void
live_until_cut(struct fixture *f, struct scenario *sc, enum cut_how how, unsigned k,
    unsigned round, uint64_t *rnd, struct life *life)
{
	static struct done_ctx ctx[2 * MAX_BUNDLES];
	struct store_options opt = { .path = f->db, .vfs = POWERCUT_VFS_NAME };
	struct cutter cutter = { .delay_us = (unsigned)(splitmix(rnd) % 150000) };
	int first = sc->n, acked0 = sc->acked, after_cut_puts = 0;
	uint64_t cut_time = 0, boot;
	struct powercut_stats pst;
	char err[256] = "";
	struct store *s;

	memset(life, 0, sizeof(*life));
	life->k = k;
	if (how == CUT_IN_OPEN)
		powercut_cut_at_sync(k, false, 0);
	s = store_open(&opt, err, sizeof(err));
	if (!s) {
		if (how != CUT_IN_OPEN || !powercut_is_cut())
			fail_msg("store_open on powercut: %s", err);
		life->open_failed = true;
		return;
	}
	boot = store_boot_count(s);
	if (boot <= sc->boot)
		fail_msg("boot counter %llu did not grow past %llu", (unsigned long long)boot,
		    (unsigned long long)sc->boot);
	sc->boot = boot;
	if (how == CUT_AT_SYNC || how == CUT_TORN_AT_SYNC)
		powercut_cut_at_sync(k, how == CUT_TORN_AT_SYNC, round);
	else if (how == CUT_FROM_THREAD)
		assert_int_equal(pthread_create(&cutter.thread, NULL, cutter_main, &cutter), 0);

	for (;;) {
		struct pollfd pfd = { .fd = store_fd(s), .events = POLLIN };
		bool cut = powercut_is_cut();
		int inflight;

		if (cut && !cut_time)
			cut_time = now_ms();
		pthread_mutex_lock(&sc->mu);
		inflight = sc->inflight;
		pthread_mutex_unlock(&sc->mu);
		/* Feed; after the cut a few more, which must fail, not vanish. */
		while (inflight < IN_FLIGHT && sc->n < first + MAX_BUNDLES &&
		    (!cut || after_cut_puts < 5)) {
			put_one(s, sc, &ctx[sc->n], sc->n, rnd, round);
			sc->n++;
			inflight++;
			if (cut)
				after_cut_puts++;
			if (!cut && sc->n % 16 == 0) {
				uint64_t seq = store_next_seq(s);

				/* Only a number handed out wholly before the cut. */
				if (!powercut_is_cut() && seq > sc->max_seq)
					sc->max_seq = seq;
			}
		}
		if (cut && (inflight == 0 || now_ms() - cut_time > 10000))
			break;
		if (!cut && sc->n == first + MAX_BUNDLES && inflight == 0) {
			powercut_cut();	/* ran out of bundles first */
			life->idle_cut = true;
			continue;
		}
		if (poll(&pfd, 1, 100) > 0)
			store_dispatch(s);
		if (!cut && how == CUT_AFTER_ACKS && sc->acked - acked0 >= (int)k)
			powercut_cut();
	}
	if (how == CUT_FROM_THREAD)
		pthread_join(cutter.thread, NULL);
	powercut_stats(&pst);
	free_with_deadline(s);

	pthread_mutex_lock(&sc->mu);
	life->lost_callbacks = sc->inflight;
	sc->inflight = 0;	/* store_free dropped them (store.h allows it) */
	pthread_mutex_unlock(&sc->mu);
	life->put = sc->n - first;
	life->acked = sc->acked - acked0;
	life->dropped = pst.dropped_bytes;
	power_on(f->db);
}

/* Reboot with the default VFS: every acknowledged bundle is there. */
static int
verify_after_cuts(struct fixture *f, struct scenario *sc)
{
	char err[256] = "";
	struct store *s;
	int checked = 0;

	assert_integrity_ok(f->db);
	s = store_open(&(struct store_options){ .path = f->db }, err, sizeof(err));
	if (!s)
		fail_msg("store_open after the power cut: %s", err);
	for (int i = 0; i < sc->n; i++) {
		if (sc->sent[i].result == 0) {
			check_bundle(s, &sc->sent[i]);
			checked++;
		}
	}
	if (store_boot_count(s) <= sc->boot)
		fail_msg("boot counter %llu repeats after the cut",
		    (unsigned long long)store_boot_count(s));
	if (sc->max_seq && store_next_seq(s) <= sc->max_seq)
		fail_msg("sequence number %llu handed out before the cut repeats after it",
		    (unsigned long long)sc->max_seq);
	store_free(s);
	return checked;
}

static void
print_life(const char *name, unsigned round, const struct life *l, const struct scenario *sc)
{
	if (l->open_failed) {
		print_message("  cut %-10s k=%-4u round %u: power cut inside store_open, "
		    "which failed cleanly\n", name, l->k, round);
		return;
	}
	print_message("  cut %-10s k=%-4u round %u: %d put, %d acknowledged, %d without "
	    "completion at store_free; %llu KiB unsynced dropped%s\n", name, l->k, round,
	    l->put, l->acked, l->lost_callbacks, (unsigned long long)(l->dropped / 1024),
	    l->idle_cut ? " (cut when idle)" : "");
}

static void
run_scenario(struct fixture *f, unsigned round, enum cut_how how)
{
	static struct scenario sc;
	uint64_t rnd = 0x1234 + round * 7919 + (uint64_t)how;
	/* k acknowledgements, or the k-th fsync (a commit syncs the WAL once,
	 * a checkpoint the database once more). */
	unsigned k = 1 + (unsigned)(splitmix(&rnd) % (how == CUT_AFTER_ACKS ? 1500 : 30));
	struct life life;
	int checked;

	signal(SIGALRM, on_alarm);
	alarm(120);
	memset(&sc, 0, sizeof(sc));
	pthread_mutex_init(&sc.mu, NULL);
	powercut_reset();
	if (how == CUT_TWICE) {
		/* Torn, rebooted on the same VFS, then cut in or right after open. */
		live_until_cut(f, &sc, CUT_TORN_AT_SYNC, k, round, &rnd, &life);
		print_life("twice/1", round, &life, &sc);
		live_until_cut(f, &sc, CUT_IN_OPEN, 1 + (unsigned)(splitmix(&rnd) % 4), round,
		    &rnd, &life);
		print_life("twice/2", round, &life, &sc);
	} else {
		live_until_cut(f, &sc, how, k, round, &rnd, &life);
		print_life(cut_names[how], round, &life, &sc);
	}
	checked = verify_after_cuts(f, &sc);
	print_message("  %*s %d acknowledged (%d completed after the cut): all present, "
	    "byte for byte\n", 22, "", checked, sc.acked_after_cut);
	alarm(0);
	pthread_mutex_destroy(&sc.mu);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	mkdir(f->dir, 0700);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Sequence numbers (store_next_seq()) across a power cut and a clean
 * restart: every number handed out comes from a block that was durable
 * first, so none repeats after the cut, not even those handed out while the
 * writer's next reservation was being cut; the loop is answered 0, never
 * made to wait, once the block runs out.  A clean close continues right
 * after the last number.
 */
static void
test_seq_unique_across_cut_and_restart(void **state)
{
	struct fixture *f = *state;
	struct store_options opt = { .path = f->db, .vfs = POWERCUT_VFS_NAME };
	char err[256] = "";
	struct store *s;
	uint64_t v, prev = 0, deadline;
	long zeros = 0;

	s = store_open(&opt, err, sizeof(err));
	if (s == NULL)
		fail_msg("store_open on powercut: %s", err);
	/*
	 * Three blocks' worth, the writer reserving as we go: a 0 (the writer
	 * behind, on a busy machine) is no number, so count the numbers.
	 */
	for (long got = 0; got < 3L << 20;) {
		if ((v = store_next_seq(s)) == 0) {
			store_flush(s);		/* behind: let it commit */
			zeros++;
			continue;
		}
		assert_true(v > prev);
		prev = v;
		got++;
	}
	assert_true(prev >= 3L << 20);
	store_flush(s);

	/* The power goes inside the commit of the next reservation; take
	 * numbers until none is left. */
	powercut_cut_at_sync(1, false, 0);
	deadline = mono_ms() + 30000;
	for (;;) {
		if ((v = store_next_seq(s)) != 0) {
			assert_true(v > prev);
			prev = v;
			continue;
		}
		if (powercut_is_cut())
			break;
		if (mono_ms() > deadline)
			fail_msg("no power cut within 30 s: the reservation was never written");
		usleep(1000);
	}
	assert_int_equal(store_next_seq(s), 0);
	free_with_deadline(s);
	power_on(f->db);

	assert_integrity_ok(f->db);
	s = store_open(&(struct store_options){ .path = f->db }, err, sizeof(err));
	if (s == NULL)
		fail_msg("store_open after the cut: %s", err);
	v = store_next_seq(s);
	if (v <= prev)
		fail_msg("sequence number %llu comes again after the cut (highest before: %llu)",
		    (unsigned long long)v, (unsigned long long)prev);
	prev = v;
	for (int i = 0; i < 100; i++) {
		v = store_next_seq(s);
		assert_true(v > prev);
		prev = v;
	}
	store_free(s);

	s = store_open(&(struct store_options){ .path = f->db }, err, sizeof(err));
	if (s == NULL)
		fail_msg("store_open after a clean stop: %s", err);
	assert_int_equal(store_next_seq(s), prev + 1);
	store_free(s);
}

static void
test_store_survives_power_cuts(void **state)
{
	struct fixture *f = *state;
	const char *env = getenv("POWERCUT_ROUNDS");
	unsigned rounds = env ? (unsigned)strtoul(env, NULL, 10) : 6;

	for (unsigned round = 0; round < rounds; round++)
		for (int how = 0; how < CUT_HOW_COUNT; how++)
			run_scenario(f, round, (enum cut_how)how);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vfs_unsynced_write_is_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfs_synced_write_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfs_truncate_is_pending_until_sync, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vfs_cut_at_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_uncommitted_is_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_wal_normal_commit_is_lost, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_full_commits_survive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_unique_across_cut_and_restart, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_survives_power_cuts, setup, teardown),
	};

	/* The store's I/O errors after each cut are expected; keep them quiet. */
	log_setlevel(LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
