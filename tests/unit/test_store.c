/*
 * test_store.c - the durable bundle store: round trips (memory, fd, 16 MB),
 * dedup, supersede, expiry, quota with class reserves, disk full, persisted
 * counters across restarts and kill -9, stats, group commit, memory use;
 * flood states, per-neighbour holders, local take, deletion-report heads,
 * the migration of a version 1 database, and durable registrations (two
 * subscribers, a backlog, a restart, removal, expiry).
 *
 * Completions are driven the way the loop does it: poll store_fd(), then
 * store_dispatch().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "service.h"
#include "store.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

#define MiB (1024u * 1024u)
#define FAR_FUTURE 4000000000000ull	/* Unix ms, year 2096 */

struct fixture {
	char dir[64];
	char db[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	struct dirent *de;
	char path[512];
	DIR *d;

	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct store *
open_opts(struct fixture *f, struct store_options o)
{
	struct store *s;
	char err[256] = "";

	o.path = f->db;
	if ((s = store_open(&o, err, sizeof(err))) == NULL)
		fail_msg("store_open: %s", err);
	return s;
}

static struct store *
open_store(struct fixture *f)
{
	return open_opts(f, (struct store_options){ 0 });
}

/* ---- completions ------------------------------------------------------- */

struct done {
	int calls, result;
	int64_t rowid;
};

static void
on_done(void *arg, int result, int64_t rowid)
{
	struct done *d = arg;

	d->calls++;
	d->result = result;
	d->rowid = rowid;
}

/* Poll the store's fd and dispatch until *calls reaches target. */
static void
pump(struct store *s, const int *calls, int target)
{
	while (*calls < target) {
		struct pollfd pfd = { .fd = store_fd(s), .events = POLLIN };

		if (poll(&pfd, 1, 20000) <= 0)
			fail_msg("no completion within 20 s (%d of %d)", *calls, target);
		store_dispatch(s);
	}
}

static int
wait_done(struct store *s, struct done *d)
{
	pump(s, &d->calls, 1);
	return d->result;
}

/* ---- bundles ----------------------------------------------------------- */

static uint8_t
pattern(uint64_t off, unsigned seed)
{
	return (uint8_t)((off * 131u) ^ (off >> 11) ^ seed);
}

static void
fill(uint8_t *p, size_t n, uint64_t off, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(off + i, seed);
}

static const uint8_t head[] = "HEAD:primary+ext+payload-hdr";
static const uint8_t tail[] = "\xff";

static struct store_put
bundle(const char *id, const char *dst, int prio, int state, uint64_t expires,
    const uint8_t *payload, uint64_t len)
{
	struct store_put p = {
		.id = id, .src = "ipn:1.0", .dst = dst, .dst_node = 2,
		.dst_service = 64, .priority = prio, .state = state,
		.expires = expires, .head = head, .head_len = sizeof(head) - 1,
		.payload = payload, .payload_fd = -1, .payload_len = len,
		.tail = tail, .tail_len = sizeof(tail) - 1,
	};

	return p;
}

/* Put and wait; returns the result, *rowid the row. */
static int
put_wait(struct store *s, const struct store_put *p, int64_t *rowid)
{
	struct done d = { 0 };

	assert_int_equal(store_put(s, p, on_done, &d), 0);
	wait_done(s, &d);
	if (rowid != NULL)
		*rowid = d.rowid;
	return d.result;
}

static int
put_small(struct store *s, const char *id, int prio, uint64_t expires, int64_t *rowid)
{
	uint8_t payload[200];
	struct store_put p;

	fill(payload, sizeof(payload), 0, 1);
	p = bundle(id, "ipn:2.5", prio, STORE_QUEUED, expires, payload, sizeof(payload));
	return put_wait(s, &p, rowid);
}

static int
delete_wait(struct store *s, int64_t rowid)
{
	struct done d = { 0 };

	assert_int_equal(store_delete(s, rowid, on_done, &d), 0);
	return wait_done(s, &d);
}

/* Expire once; returns identities removed. */
static int64_t
expire_wait(struct store *s, uint64_t now)
{
	struct done d = { 0 };

	assert_int_equal(store_expire(s, now, on_done, &d), 0);
	assert_int_equal(wait_done(s, &d), 0);
	return d.rowid;
}

/* Compare the stored bytes of rowid with want, read in chunks of chunk. */
static void
check_bytes(struct store *s, int64_t rowid, const uint8_t *want, size_t len, size_t chunk)
{
	uint8_t *got = malloc(chunk);
	size_t off = 0;
	long n;

	assert_non_null(got);
	while (off < len) {
		n = store_read(s, rowid, off, got, chunk);
		assert_true(n > 0);
		assert_memory_equal(got, want + off, (size_t)n);
		off += (size_t)n;
	}
	assert_int_equal(store_read(s, rowid, off, got, chunk), 0);
	free(got);
}

/* VmHWM or VmRSS of this process in KiB. */
static long
vm_kib(const char *key)
{
	char line[256];
	long v = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key), NULL, 10);
	fclose(fp);
	return v;
}

/* Reset the peak RSS (Linux >= 4.0); false if the kernel refuses. */
static bool
reset_hwm(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	bool ok;

	if (fd == -1)
		return false;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

static void
assert_integrity_ok(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- tests ------------------------------------------------------------- */

static void
test_roundtrip_memory(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	uint8_t payload[1000], want[2000], buf[64];
	size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1, size = hl + 1000 + tl;
	struct store_entry e;
	struct store_put p;
	int64_t row, row2;
	uint8_t *big;

	fill(payload, sizeof(payload), 0, 7);
	p = bundle("ipn:1.0 100 1", "ipn:9.64", PRIO_MESSAGE, STORE_LOCAL, FAR_FUTURE,
	    payload, sizeof(payload));
	p.dst_node = 9;
	assert_int_equal(put_wait(s, &p, &row), 0);
	assert_true(row > 0);

	assert_int_equal(store_get(s, row, &e), 0);
	assert_int_equal(e.rowid, row);
	assert_string_equal(e.id, "ipn:1.0 100 1");
	assert_string_equal(e.src, "ipn:1.0");
	assert_string_equal(e.dst, "ipn:9.64");
	assert_int_equal(e.dst_node, 9);
	assert_int_equal(e.dst_service, 64);
	assert_int_equal(e.priority, PRIO_MESSAGE);
	assert_int_equal(e.state, STORE_LOCAL);
	assert_int_equal(e.size, size);
	assert_int_equal(e.head_len, hl);
	assert_int_equal(e.payload_len, 1000);
	assert_int_equal(e.expires, FAR_FUTURE);
	assert_true(e.received > 1600000000000ull);

	memcpy(want, head, hl);
	memcpy(want + hl, payload, 1000);
	memcpy(want + hl + 1000, tail, tl);
	check_bytes(s, row, want, size, 4096);
	check_bytes(s, row, want, size, 7);
	assert_int_equal(store_read(s, row, 500, buf, 10), 10);
	assert_memory_equal(buf, want + 500, 10);
	assert_int_equal(store_read(s, row, size - 1, buf, sizeof(buf)), 1);
	assert_int_equal(store_read(s, row, size + 5, buf, sizeof(buf)), 0);
	assert_int_equal(store_read(s, row + 1000, 0, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(store_get(s, row + 1000, &e), -ENOENT);

	/* The next local bundle for service 64 is this one, then none. */
	assert_int_equal(store_next_local(s, 64, 0, &e), 0);
	assert_int_equal(e.rowid, row);
	assert_int_equal(store_next_local(s, 64, row, &e), -ENOENT);
	assert_int_equal(store_next_local(s, 65, 0, &e), -ENOENT);
	p = bundle("ipn:1.0 100 2", "ipn:9.64", PRIO_MESSAGE, STORE_LOCAL, FAR_FUTURE,
	    payload, 10);
	assert_int_equal(put_wait(s, &p, &row2), 0);
	assert_true(row2 > row);
	assert_int_equal(store_next_local(s, 64, row, &e), 0);
	assert_int_equal(e.rowid, row2);

	/* A memory payload over the bind limit takes the streaming path. */
	big = malloc(3 * MiB);
	assert_non_null(big);
	fill(big, 3 * MiB, 0, 9);
	p = bundle("ipn:1.0 100 3", "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE, NULL, 0);
	p.head = big;
	p.head_len = 100;
	p.payload = big + 100;
	p.payload_len = 3 * MiB - 200;
	p.tail = big + 3 * MiB - 100;
	p.tail_len = 100;
	assert_int_equal(put_wait(s, &p, &row), 0);
	check_bytes(s, row, big, 3 * MiB, 65536);
	free(big);
	store_free(s);
}

/* 16 MB from an fd: never whole in memory, neither going in nor coming out. */
static void
test_roundtrip_fd_16mb(void **state)
{
	struct fixture *f = *state;
	const uint64_t len = 16 * MiB;
	static uint8_t chunk[65536], got[65536];
	char path[160];
	struct store_entry e;
	struct store_put p;
	struct done d = { 0 };
	struct store *s;
	long hwm0, hwm1;
	bool reset;
	int fd;

	snprintf(path, sizeof(path), "%s/payload", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	for (uint64_t off = 0; off < len; off += 65536) {
		fill(chunk, 65536, off, 3);
		assert_int_equal(write(fd, chunk, 65536), 65536);
	}
	/* Read position at the end: the store must pread from offset 0. */
	s = open_store(f);
	reset = reset_hwm();
	hwm0 = vm_kib(reset ? "VmHWM:" : "VmRSS:");

	p = bundle("ipn:1.0 200 1", "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE, NULL, len);
	p.payload_fd = fd;
	assert_int_equal(store_put(s, &p, on_done, &d), 0);
	/* The store holds its own descriptor: ours may go, and the name too. */
	close(fd);
	unlink(path);
	assert_int_equal(wait_done(s, &d), 0);

	assert_int_equal(store_get(s, d.rowid, &e), 0);
	assert_int_equal(e.payload_len, len);
	assert_int_equal(e.size, p.head_len + len + p.tail_len);
	assert_int_equal(store_read(s, d.rowid, 0, got, p.head_len), (long)p.head_len);
	assert_memory_equal(got, head, p.head_len);
	for (uint64_t off = 0; off < len; off += 65536) {
		assert_int_equal(store_read(s, d.rowid, p.head_len + off, got, 65536), 65536);
		fill(chunk, 65536, off, 3);
		if (memcmp(got, chunk, 65536) != 0)
			fail_msg("payload differs in the chunk at %llu", (unsigned long long)off);
	}
	assert_int_equal(store_read(s, d.rowid, p.head_len + len, got, 65536), (long)p.tail_len);
	assert_memory_equal(got, tail, p.tail_len);

	hwm1 = vm_kib("VmHWM:");
	print_message("  16 MB bundle: peak RSS grew %ld KiB%s\n", hwm1 - hwm0,
	    reset ? "" : " (VmHWM not resettable: measured against VmRSS)");
	/* ASan's quarantine keeps freed memory resident: no measure there. */
	if (!UNDER_ASAN)
		assert_true(hwm1 - hwm0 < 8 * 1024);
	store_free(s);
}

static void
test_fd_short_payload(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	char path[160];
	struct store_put p;
	struct store_stats st;
	int fd;

	snprintf(path, sizeof(path), "%s/short", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "only ten b", 10), 10);
	p = bundle("ipn:1.0 250 1", "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE, NULL, 5000);
	p.payload_fd = fd;
	assert_int_equal(put_wait(s, &p, NULL), -EIO);
	close(fd);
	/* Nothing of it stays, not even its identity. */
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 0);
	assert_int_equal(st.seen, 0);
	assert_int_equal(put_small(s, "ipn:1.0 250 1", PRIO_BULK, FAR_FUTURE, NULL), 0);
	store_free(s);
}

static void
test_dedup(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct done d1 = { 0 }, d2 = { 0 };
	struct store_stats st;
	struct store_put p;
	uint8_t payload[10] = { 0 };
	int64_t row;

	assert_int_equal(put_small(s, "ipn:3.1 1 0", PRIO_MESSAGE, FAR_FUTURE, &row), 0);
	assert_int_equal(put_small(s, "ipn:3.1 1 0", PRIO_MESSAGE, FAR_FUTURE, NULL), -EEXIST);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 1);
	assert_int_equal(st.seen, 1);

	/* Deleted (forwarded) but remembered: still a duplicate. */
	assert_int_equal(delete_wait(s, row), 0);
	assert_int_equal(delete_wait(s, row), -ENOENT);
	assert_int_equal(put_small(s, "ipn:3.1 1 0", PRIO_MESSAGE, FAR_FUTURE, NULL), -EEXIST);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 0);
	assert_int_equal(st.seen, 1);

	/* Twice in one group: one is accepted, the other is the duplicate. */
	p = bundle("ipn:3.1 2 0", "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED, FAR_FUTURE, payload, 10);
	assert_int_equal(store_put(s, &p, on_done, &d1), 0);
	assert_int_equal(store_put(s, &p, on_done, &d2), 0);
	pump(s, &d2.calls, 1);
	pump(s, &d1.calls, 1);
	assert_int_equal(d1.result, 0);
	assert_int_equal(d2.result, -EEXIST);
	assert_int_equal(d2.rowid, 0);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 1);
	store_free(s);

	/* And after a restart. */
	s = open_store(f);
	assert_int_equal(put_small(s, "ipn:3.1 1 0", PRIO_MESSAGE, FAR_FUTURE, NULL), -EEXIST);
	assert_int_equal(put_small(s, "ipn:3.1 2 0", PRIO_MESSAGE, FAR_FUTURE, NULL), -EEXIST);
	store_free(s);
}

static void
test_supersede(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	uint8_t payload[40] = { 1 };
	struct store_entry e;
	struct store_stats st;
	struct store_put p;
	int64_t r1, r2, r3, l1, l2;

	p = bundle("ipn:4.3 1 0", "ipn:1.3", PRIO_POSITION, STORE_QUEUED, FAR_FUTURE, payload, 40);
	p.supersede = "pos ipn:4";
	assert_int_equal(put_wait(s, &p, &r1), 0);
	p.id = "ipn:4.3 2 0";
	assert_int_equal(put_wait(s, &p, &r2), 0);
	assert_int_equal(store_get(s, r1, &e), -ENOENT);
	assert_int_equal(store_get(s, r2, &e), 0);
	p.id = "ipn:4.3 3 0";
	assert_int_equal(put_wait(s, &p, &r3), 0);
	assert_int_equal(store_get(s, r2, &e), -ENOENT);
	assert_int_equal(store_get(s, r3, &e), 0);

	/* Another unit's key is left alone. */
	p.id = "ipn:5.3 1 0";
	p.supersede = "pos ipn:5";
	assert_int_equal(put_wait(s, &p, NULL), 0);
	assert_int_equal(store_get(s, r3, &e), 0);

	/* Only queued bundles are replaced, not ones waiting for a local app. */
	p = bundle("ipn:6.3 1 0", "ipn:1.3", PRIO_POSITION, STORE_LOCAL, FAR_FUTURE, payload, 40);
	p.supersede = "pos ipn:6";
	assert_int_equal(put_wait(s, &p, &l1), 0);
	p.id = "ipn:6.3 2 0";
	assert_int_equal(put_wait(s, &p, &l2), 0);
	assert_int_equal(store_get(s, l1, &e), 0);
	assert_int_equal(store_get(s, l2, &e), 0);

	/* The superseded identity is still remembered. */
	p = bundle("ipn:4.3 1 0", "ipn:1.3", PRIO_POSITION, STORE_QUEUED, FAR_FUTURE, payload, 40);
	assert_int_equal(put_wait(s, &p, NULL), -EEXIST);

	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 4);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.local, 2);
	assert_int_equal(st.count[PRIO_POSITION], 4);
	assert_int_equal(st.seen, 6);
	store_free(s);
}

static void
test_expire(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct store_entry e;
	struct store_stats st;
	int64_t ra, rb, rc, rd;
	int64_t n, total;

	assert_int_equal(put_small(s, "A", PRIO_MESSAGE, 1000, &ra), 0);
	assert_int_equal(put_small(s, "B", PRIO_MESSAGE, 2000, &rb), 0);
	assert_int_equal(put_small(s, "C", PRIO_MESSAGE, 3000, &rc), 0);
	assert_int_equal(put_small(s, "D", PRIO_MESSAGE, 5000, &rd), 0);
	assert_int_equal(delete_wait(s, rd), 0);

	assert_int_equal(expire_wait(s, 2500), 2);
	assert_int_equal(store_get(s, ra, &e), -ENOENT);
	assert_int_equal(store_get(s, rb, &e), -ENOENT);
	assert_int_equal(store_get(s, rc, &e), 0);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 1);
	assert_int_equal(st.seen, 2);

	/* D was deleted, but its identity lives until its lifetime ends. */
	assert_int_equal(expire_wait(s, 4000), 1);
	assert_int_equal(put_small(s, "D", PRIO_MESSAGE, 5000, NULL), -EEXIST);
	assert_int_equal(expire_wait(s, 6000), 1);
	assert_int_equal(put_small(s, "D", PRIO_MESSAGE, 7000, NULL), 0);
	assert_int_equal(expire_wait(s, 6000), 0);

	/* Bounded batches: 2500 identities take three calls. */
	{
		static struct done d[2500];
		uint8_t payload[16] = { 0 };
		char id[32];
		int calls = 0;

		for (int i = 0; i < 2500; i++) {
			struct store_put p = bundle(id, "ipn:2.5", PRIO_BULK,
			    STORE_QUEUED, 10000, payload, sizeof(payload));

			snprintf(id, sizeof(id), "batch %d", i);
			assert_int_equal(store_put(s, &p, on_done, &d[i]), 0);
		}
		while (calls < 2500) {
			pump(s, &d[calls].calls, 1);
			assert_int_equal(d[calls].result, 0);
			calls++;
		}
	}
	total = 0;
	while ((n = expire_wait(s, 20000)) == STORE_EXPIRE_BATCH)
		total += n;
	total += n;
	assert_int_equal(total, 2501);	/* and D */
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 0);
	assert_int_equal(st.seen, 0);
	store_free(s);
}

static void
test_quota_class_reserve(void **state)
{
	struct fixture *f = *state;
	struct store_options o = {
		.quota = 2 * MiB, .reserve = 128 * 1024,
		.class_reserve = { [PRIO_URGENT] = 512 * 1024 },
	};
	static uint8_t payload[16 * 1024];
	struct store *s = open_opts(f, o);
	struct store_stats st;
	struct store_put p;
	struct done bulk = { 0 }, urgent = { 0 };
	char id[32];
	int nbulk = 0, nurgent = 0, r, i;

	fill(payload, sizeof(payload), 0, 5);
	for (i = 0; i < 500; i++) {
		snprintf(id, sizeof(id), "bulk %d", i);
		p = bundle(id, "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE,
		    payload, sizeof(payload));
		if ((r = put_wait(s, &p, NULL)) != 0)
			break;
		nbulk++;
	}
	assert_int_equal(r, -EDQUOT);
	assert_true(nbulk > 40);
	/* A retransmission of an accepted bundle is still a duplicate. */
	p = bundle("bulk 3", "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE,
	    payload, sizeof(payload));
	assert_int_equal(put_wait(s, &p, NULL), -EEXIST);

	/* Urgent still has its reserved room; bulk in the same group does not. */
	p = bundle("bulk again", "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE,
	    payload, sizeof(payload));
	assert_int_equal(store_put(s, &p, on_done, &bulk), 0);
	p = bundle("urgent 0", "ipn:2.5", PRIO_URGENT, STORE_QUEUED, FAR_FUTURE,
	    payload, sizeof(payload));
	assert_int_equal(store_put(s, &p, on_done, &urgent), 0);
	pump(s, &urgent.calls, 1);
	pump(s, &bulk.calls, 1);
	assert_int_equal(bulk.result, -EDQUOT);
	assert_int_equal(urgent.result, 0);
	nurgent++;
	for (i = 1; i < 500; i++) {
		snprintf(id, sizeof(id), "urgent %d", i);
		p = bundle(id, "ipn:2.5", PRIO_URGENT, STORE_QUEUED, FAR_FUTURE,
		    payload, sizeof(payload));
		if ((r = put_wait(s, &p, NULL)) != 0)
			break;
		nurgent++;
	}
	assert_int_equal(r, -EDQUOT);
	print_message("  quota: %d bulk, then %d urgent bundles of 16 KiB\n", nbulk, nurgent);
	assert_true(nurgent >= 20);

	assert_int_equal(store_stats(s, &st), 0);
	assert_true(st.used <= o.quota - o.reserve);
	assert_int_equal(st.count[PRIO_BULK], nbulk);
	assert_int_equal(st.count[PRIO_URGENT], nurgent);
	assert_int_equal(st.quota, o.quota);

	/* A refused bundle left no identity: it may come again later. */
	assert_int_equal(st.seen, nbulk + nurgent);
	store_free(s);

	/* The class figures are loaded again at open: urgent is still full. */
	s = open_opts(f, o);
	p = bundle("urgent again", "ipn:2.5", PRIO_URGENT, STORE_QUEUED, FAR_FUTURE,
	    payload, sizeof(payload));
	assert_int_equal(put_wait(s, &p, NULL), -EDQUOT);
	store_free(s);
}

/* In the child: count failures instead of cmocka's longjmp. */
static int child_fails;

static void
check(bool ok, const char *what, int got)
{
	if (!ok) {
		fprintf(stderr, "disk-full child: %s (got %d)\n", what, got);
		child_fails++;
	}
}

static void
disk_full_child(struct fixture *f)
{
	static uint8_t payload[20 * 1024];
	struct rlimit rl = { 2 * MiB, 2 * MiB };
	struct done dbig = { 0 }, dsmall[3] = { { 0 } };
	struct store_put p;
	struct store *s;
	uint8_t *big;
	char err[256], id[32];
	int r;

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		_exit(100);
	if ((s = store_open(&(struct store_options){ .path = f->db }, err, sizeof(err))) == NULL) {
		fprintf(stderr, "disk-full child: %s\n", err);
		_exit(101);
	}
	fill(payload, sizeof(payload), 0, 2);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "before %d", i);
		p = bundle(id, "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED, FAR_FUTURE,
		    payload, sizeof(payload));
		r = put_wait(s, &p, NULL);
		check(r == 0, "put before the limit", r);
	}
	if ((big = malloc(4 * MiB)) == NULL)
		_exit(102);
	memset(big, 0x5a, 4 * MiB);
	p = bundle("too big", "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE, big, 4 * MiB);
	r = put_wait(s, &p, NULL);
	check(r == -ENOSPC, "4 MiB put over the file size limit", r);

	/* The store is still usable: a small one fits. */
	p = bundle("after", "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED, FAR_FUTURE,
	    payload, sizeof(payload));
	r = put_wait(s, &p, NULL);
	check(r == 0, "small put after disk full", r);

	/* One group with a big and small ones: the group fails, the small
	 * ones are retried alone and succeed. */
	p = bundle("too big 2", "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE, big, 4 * MiB);
	check(store_put(s, &p, on_done, &dbig) == 0, "queue big", 0);
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "group %d", i);
		p = bundle(id, "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED, FAR_FUTURE,
		    payload, 1000);
		check(store_put(s, &p, on_done, &dsmall[i]) == 0, "queue small", 0);
	}
	pump(s, &dsmall[2].calls, 1);
	check(dbig.calls == 1 && dbig.result == -ENOSPC, "big in a group", dbig.result);
	for (int i = 0; i < 3; i++)
		check(dsmall[i].calls == 1 && dsmall[i].result == 0, "small in a group",
		    dsmall[i].result);
	store_free(s);
	free(big);
	_exit(child_fails);
}

static void
test_disk_full(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;
	struct store_entry e;
	struct store *s;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		disk_full_child(f);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_integrity_ok(f->db);
	s = open_store(f);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 14);
	assert_int_equal(st.count[PRIO_BULK], 0);
	for (int64_t row = 1, found = 0; found < 14; row++) {
		assert_true(row < 100);
		if (store_get(s, row, &e) != 0)
			continue;
		found++;
		if (e.payload_len == 20 * 1024) {
			uint8_t want[sizeof(head) - 1 + 20 * 1024 + sizeof(tail) - 1];

			memcpy(want, head, sizeof(head) - 1);
			fill(want + sizeof(head) - 1, 20 * 1024, 0, 2);
			memcpy(want + sizeof(head) - 1 + 20 * 1024, tail, sizeof(tail) - 1);
			check_bytes(s, row, want, sizeof(want), 4096);
		}
	}
	/* Refused ones left no identity behind and can come again. */
	assert_int_equal(put_small(s, "too big", PRIO_BULK, FAR_FUTURE, NULL), 0);
	store_free(s);
	assert_integrity_ok(f->db);
}

/*
 * A delete that cannot be written (the WAL may not grow: a file size limit
 * at its current size): the bundle was let go (its next hop has it), so it
 * is not handed out again (store_pin() refuses it), and the delete is
 * retried until it goes through (issue 11, item 4).
 */
static void
undeleted_child(struct fixture *f)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	struct timespec pause = { 0, 20 * 1000000 };
	char err[256], wal[160];
	struct store_entry e;
	struct store *s;
	struct stat sb;
	int64_t a, b;
	int r;

	signal(SIGXFSZ, SIG_IGN);
	if ((s = store_open(&(struct store_options){ .path = f->db }, err, sizeof(err))) == NULL)
		_exit(101);
	check(put_small(s, "A", PRIO_MESSAGE, FAR_FUTURE, &a) == 0, "put A", 0);
	check(put_small(s, "B", PRIO_MESSAGE, FAR_FUTURE, &b) == 0, "put B", 0);
	check(store_pin(s, a) == 0, "pin A", 0);
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	if (stat(wal, &sb) != 0)
		_exit(102);
	rl.rlim_cur = (rlim_t)sb.st_size;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		_exit(100);
	r = delete_wait(s, a);
	check(r == -ENOSPC, "delete on a full disk", r);
	store_unpin(s, a);
	r = store_pin(s, a);
	check(r == -ENOENT, "pin of a bundle let go whose delete failed", r);
	if (r == 0)
		store_unpin(s, a);
	check(store_get(s, a, &e) == 0, "the row is still there", 0);
	r = store_pin(s, b);
	check(r == 0, "pin of another bundle", r);
	store_unpin(s, b);

	rl.rlim_cur = RLIM_INFINITY;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		_exit(100);
	for (int i = 0; i < 500 && store_get(s, a, &e) == 0; i++)
		nanosleep(&pause, NULL);	/* the retry comes within a second or so */
	check(store_get(s, a, &e) == -ENOENT, "the retried delete went through", 0);
	check(store_get(s, b, &e) == 0, "B stays", 0);
	store_free(s);
	_exit(child_fails);
}

static void
test_undeleted_not_sent_again(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		undeleted_child(f);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_integrity_ok(f->db);
}

static void
test_boot_counter(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	uint64_t boot = store_boot_count(s);

	assert_true(boot >= 1);
	store_free(s);
	s = open_store(f);
	assert_int_equal(store_boot_count(s), boot + 1);
	store_free(s);
	s = open_store(f);
	assert_int_equal(store_boot_count(s), boot + 2);
	store_free(s);
}

static void
test_seq_never_repeats(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	uint64_t prev = 0, v, child_max;
	int pfd[2], status;
	pid_t pid;

	/* Strictly increasing, past several reserved blocks. */
	for (int i = 0; i < 200000; i++) {
		v = store_next_seq(s);
		assert_true(v > prev);
		prev = v;
	}
	store_free(s);
	s = open_store(f);
	assert_true(store_next_seq(s) > prev);
	store_free(s);

	/* A process that used numbers is killed: none of them comes again. */
	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		struct store *cs;
		uint64_t m = 0;

		close(pfd[0]);
		cs = store_open(&(struct store_options){ .path = f->db }, err, sizeof(err));
		if (cs == NULL)
			_exit(1);
		for (int i = 0; i < 100000; i++)
			m = store_next_seq(cs);
		if (write(pfd[1], &m, sizeof(m)) != sizeof(m))
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &child_max, sizeof(child_max)), sizeof(child_max));
	close(pfd[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_true(child_max > prev);

	s = open_store(f);
	v = store_next_seq(s);
	assert_true(v > child_max);
	store_free(s);
}

static uint64_t
seq_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * store_next_seq() never waits for the writer: with the database locked by
 * another connection, so that the writer cannot reserve the next block, it
 * goes on handing out what is durable, then answers 0 at once (the writer
 * sits in its 5 s busy wait meanwhile; the condition variable this replaced
 * made the caller sit there too).  Once the lock goes, numbers come again,
 * above every earlier one; a clean close continues right after the last.
 */
static void
test_seq_never_waits_for_the_writer(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	uint64_t prev = 0, v = 0, t, slowest = 0, deadline;
	long handed = 0;
	sqlite3 *lock;

	assert_int_equal(sqlite3_open(f->db, &lock), SQLITE_OK);
	sqlite3_busy_timeout(lock, 5000);
	assert_int_equal(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	for (long i = 0; i < 4L << 20; i++) {
		t = seq_now_ms();
		v = store_next_seq(s);
		t = seq_now_ms() - t;
		if (t > slowest)
			slowest = t;
		if (v == 0)
			break;
		assert_true(v > prev);
		prev = v;
		handed++;
	}
	assert_int_equal(v, 0);			/* ran out: the writer is locked out */
	assert_true(handed > 500000);		/* half a block at least was ahead */
	assert_true(slowest < 1000);		/* nobody waited for the 5 s busy wait */
	assert_int_equal(store_next_seq(s), 0);

	assert_int_equal(sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lock);
	/* The writer reserves again (its retry may first finish a busy wait). */
	deadline = seq_now_ms() + 30000;
	while ((v = store_next_seq(s)) == 0 && seq_now_ms() < deadline)
		usleep(10000);
	assert_true(v > prev);
	prev = v;
	for (int i = 0; i < 1000; i++) {
		v = store_next_seq(s);
		assert_true(v > prev);
		prev = v;
	}
	store_free(s);

	s = open_store(f);
	assert_int_equal(store_next_seq(s), prev + 1);
	store_free(s);
}

struct queue_seen {
	int n;
	char dst[8][32];
	int prio[8];
	uint64_t count[8], bytes[8];
};

static void
on_queue(void *arg, const char *dst, int priority, uint64_t count, uint64_t bytes)
{
	struct queue_seen *q = arg;

	assert_true(q->n < 8);
	snprintf(q->dst[q->n], sizeof(q->dst[0]), "%s", dst);
	q->prio[q->n] = priority;
	q->count[q->n] = count;
	q->bytes[q->n] = bytes;
	q->n++;
}

static void
check_figures(struct store *s, uint64_t one)
{
	struct store_stats st;
	struct queue_seen q = { 0 };

	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 6);
	assert_int_equal(st.bytes, 6 * one);
	assert_int_equal(st.count[PRIO_MESSAGE], 4);
	assert_int_equal(st.class_bytes[PRIO_MESSAGE], 4 * one);
	assert_int_equal(st.count[PRIO_BULK], 2);
	assert_int_equal(st.count[PRIO_URGENT], 0);
	assert_int_equal(st.queued, 5);
	assert_int_equal(st.queued_bytes, 5 * one);
	assert_int_equal(st.local, 1);
	assert_int_equal(st.local_bytes, one);
	assert_int_equal(st.seen, 6);
	assert_true(st.used > 0);
	assert_true(st.boot >= 1);

	assert_int_equal(store_queue(s, on_queue, &q), 0);
	assert_int_equal(q.n, 3);
	assert_string_equal(q.dst[0], "ipn:1.64");
	assert_int_equal(q.prio[0], PRIO_MESSAGE);
	assert_int_equal(q.count[0], 1);
	assert_string_equal(q.dst[1], "ipn:2.5");
	assert_int_equal(q.prio[1], PRIO_MESSAGE);
	assert_int_equal(q.count[1], 3);
	assert_int_equal(q.bytes[1], 3 * one);
	assert_string_equal(q.dst[2], "ipn:3.7");
	assert_int_equal(q.prio[2], PRIO_BULK);
	assert_int_equal(q.count[2], 2);
}

static void
test_stats_and_queue(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	uint8_t payload[100] = { 0 };
	uint64_t one = sizeof(head) - 1 + 100 + sizeof(tail) - 1;
	struct queue_seen q = { 0 };
	struct store_stats st;
	struct store_put p;
	int64_t extra;
	char id[32];

	assert_int_equal(store_queue(s, on_queue, &q), 0);
	assert_int_equal(q.n, 0);
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "m %d", i);
		p = bundle(id, "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED, FAR_FUTURE, payload, 100);
		assert_int_equal(put_wait(s, &p, NULL), 0);
	}
	for (int i = 0; i < 2; i++) {
		snprintf(id, sizeof(id), "b %d", i);
		p = bundle(id, "ipn:3.7", PRIO_BULK, STORE_QUEUED, FAR_FUTURE, payload, 100);
		assert_int_equal(put_wait(s, &p, NULL), 0);
	}
	p = bundle("l 0", "ipn:1.64", PRIO_MESSAGE, STORE_LOCAL, FAR_FUTURE, payload, 100);
	assert_int_equal(put_wait(s, &p, NULL), 0);
	check_figures(s, one);

	/* A put and its delete leave the figures as they were. */
	p = bundle("x 0", "ipn:9.9", PRIO_URGENT, STORE_QUEUED, FAR_FUTURE, payload, 100);
	assert_int_equal(put_wait(s, &p, &extra), 0);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.count[PRIO_URGENT], 1);
	assert_int_equal(delete_wait(s, extra), 0);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.count[PRIO_URGENT], 0);
	assert_int_equal(st.seen, 7);
	assert_int_equal(expire_wait(s, FAR_FUTURE), 0);
	store_free(s);

	/* Loaded from the database at open. */
	s = open_store(f);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.seen, 7);
	assert_int_equal(st.bundles, 6);
	store_free(s);
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	static struct done d[1000];
	uint8_t payload[200];
	struct store_stats before, after;
	char id[32];
	int calls = 0;

	fill(payload, sizeof(payload), 0, 4);
	assert_int_equal(store_stats(s, &before), 0);
	for (int i = 0; i < 1000; i++) {
		struct store_put p = bundle(id, "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED,
		    FAR_FUTURE, payload, sizeof(payload));

		snprintf(id, sizeof(id), "g %d", i);
		assert_int_equal(store_put(s, &p, on_done, &d[i]), 0);
	}
	for (int i = 0; i < 1000; i++) {
		pump(s, &d[i].calls, 1);
		assert_int_equal(d[i].result, 0);
		calls += d[i].calls;
	}
	assert_int_equal(calls, 1000);
	assert_int_equal(store_stats(s, &after), 0);
	print_message("  1000 puts in %llu commits\n",
	    (unsigned long long)(after.commits - before.commits));
	assert_true(after.commits - before.commits <= 50);
	assert_int_equal(after.ops - before.ops, 1000);
	assert_int_equal(after.bundles, 1000);
	store_free(s);
}

/* store_free() finishes what is queued; store_flush() waits for commits. */
static void
test_flush_and_free(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct store_stats st;
	char id[32];

	store_free(NULL);
	store_flush(s);
	for (int i = 0; i < 100; i++) {
		uint8_t payload[50] = { 0 };
		struct store_put p = bundle(id, "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED,
		    FAR_FUTURE, payload, sizeof(payload));

		snprintf(id, sizeof(id), "f %d", i);
		assert_int_equal(store_put(s, &p, NULL, NULL), 0);
	}
	store_flush(s);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 100);
	for (int i = 100; i < 200; i++) {
		uint8_t payload[50] = { 0 };
		struct store_put p = bundle(id, "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED,
		    FAR_FUTURE, payload, sizeof(payload));
		static struct done d;

		snprintf(id, sizeof(id), "f %d", i);
		assert_int_equal(store_put(s, &p, on_done, &d), 0);
	}
	store_free(s);		/* undispatched callbacks are dropped, not leaked */
	s = open_store(f);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 200);
	store_free(s);
}

static void
test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	uint8_t payload[10] = { 0 };
	struct store_put p;
	char longid[400];
	char err[128];

	p = bundle("ok", "ipn:2.5", PRIO_COUNT, STORE_QUEUED, FAR_FUTURE, payload, 10);
	assert_int_equal(store_put(s, &p, on_done, NULL), -EINVAL);
	p = bundle("ok", "ipn:2.5", PRIO_BULK, 7, FAR_FUTURE, payload, 10);
	assert_int_equal(store_put(s, &p, on_done, NULL), -EINVAL);
	p = bundle("ok", "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE, NULL, 10);
	assert_int_equal(store_put(s, &p, on_done, NULL), -EINVAL);
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	p = bundle(longid, "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE, payload, 10);
	assert_int_equal(store_put(s, &p, on_done, NULL), -EINVAL);
	p = bundle("ok", "ipn:2.5", PRIO_BULK, STORE_QUEUED, FAR_FUTURE, payload, 64 * MiB);
	assert_int_equal(store_put(s, &p, on_done, NULL), -EMSGSIZE);
	store_free(s);

	for (int r = 0; r <= 200; r++) {
		assert_non_null(store_strerror(-r));
		assert_true(strlen(store_strerror(-r)) > 0);
	}
	assert_string_equal(store_strerror(-EDQUOT), "store quota or class reserve exceeded");
	assert_null(store_open(&(struct store_options){ .path = "/nonexistent/dir/x.db" },
	    err, sizeof(err)));
	assert_true(strlen(err) > 0);
	assert_null(store_open(&(struct store_options){ .path = f->db, .quota = 100,
	    .reserve = 100 }, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
}

/* 100,000 bundles stored: memory stays small, running and after a restart. */
static void
test_many_bundles_small_rss(void **state)
{
	struct fixture *f = *state;
	const int n = 100000, window = 4096;
	static struct done d[4096];
	uint8_t payload[200];
	struct store_stats st;
	struct store *s;
	long rss0, rss1, rss2;
	char id[32];
	int sent = 0, done = 0;

	fill(payload, sizeof(payload), 0, 6);
	rss0 = vm_kib("VmRSS:");
	s = open_store(f);
	while (done < n) {
		while (sent < n && sent - done < window) {
			struct store_put p = bundle(id, "ipn:2.5", PRIO_MESSAGE,
			    STORE_QUEUED, FAR_FUTURE, payload, sizeof(payload));

			snprintf(id, sizeof(id), "ipn:1.0 %d 0", sent);
			d[sent % window] = (struct done){ 0 };
			assert_int_equal(store_put(s, &p, on_done, &d[sent % window]), 0);
			sent++;
		}
		pump(s, &d[done % window].calls, 1);
		assert_int_equal(d[done % window].result, 0);
		done++;
	}
	rss1 = vm_kib("VmRSS:");
	store_free(s);
	s = open_store(f);
	rss2 = vm_kib("VmRSS:");
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, (uint64_t)n);
	store_free(s);
	print_message("  100k bundles: RSS +%ld KiB while storing, +%ld KiB after reopen\n",
	    rss1 - rss0, rss2 - rss0);
	if (!UNDER_ASAN) {
		assert_true(rss1 - rss0 < 32 * 1024);
		assert_true(rss2 - rss0 < 32 * 1024);
	}
}

/* The forwarder's walk: queued bundles most urgent first; a payload from the middle of a file. */
static void
test_next_queued_and_payload_offset(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct store_entry e;
	struct store_put p;
	int64_t bulk, urgent, msg, local, row;
	uint8_t buf[64];
	char tmpl[] = "/tmp/test_store_off.XXXXXX";
	int fd, prio = 0;

	assert_int_equal(put_small(s, "ipn:1.0 1 1", PRIO_BULK, UINT64_MAX / 2, &bulk), 0);
	assert_int_equal(put_small(s, "ipn:1.0 1 2", PRIO_URGENT, UINT64_MAX / 2, &urgent), 0);
	assert_int_equal(put_small(s, "ipn:1.0 1 3", PRIO_MESSAGE, UINT64_MAX / 2, &msg), 0);
	p = bundle("ipn:1.0 1 4", "ipn:1.64", PRIO_URGENT, STORE_LOCAL, UINT64_MAX / 2, buf, 8);
	assert_int_equal(put_wait(s, &p, &local), 0);
	row = 0;
	assert_int_equal(store_next_queued(s, prio, row, &e), 0);
	assert_int_equal(e.rowid, urgent);
	assert_int_equal(store_next_queued(s, e.priority, e.rowid, &e), 0);
	assert_int_equal(e.rowid, msg);
	assert_int_equal(store_next_queued(s, e.priority, e.rowid, &e), 0);
	assert_int_equal(e.rowid, bulk);
	assert_int_equal(store_next_queued(s, e.priority, e.rowid, &e), -ENOENT);

	/* The same walk in batches: across classes, resumed after the last row, local ones left out. */
	{
		struct store_queued q[4];

		assert_int_equal(store_queued_batch(s, 0, 0, q, 4), 3);
		assert_int_equal(q[0].rowid, urgent);
		assert_int_equal(q[0].priority, PRIO_URGENT);
		assert_int_equal(q[0].dst_node, 2);
		assert_int_equal(q[1].rowid, msg);
		assert_int_equal(q[2].rowid, bulk);
		assert_int_equal(q[2].size, e.size);
		assert_int_equal(store_queued_batch(s, 0, 0, q, 2), 2);
		assert_int_equal(q[1].rowid, msg);
		assert_int_equal(store_queued_batch(s, q[1].priority, q[1].rowid, q, 4), 1);
		assert_int_equal(q[0].rowid, bulk);
		assert_int_equal(store_queued_batch(s, q[0].priority, q[0].rowid, q, 4), 0);
	}

	/* A bundle assembled in a spool file: the payload starts after the head. */
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	unlink(tmpl);
	assert_int_equal(write(fd, "SKIPpayload-bytes", 17), 17);
	p = bundle("ipn:1.0 1 5", "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED, UINT64_MAX / 2, NULL, 13);
	p.payload_fd = fd;
	p.payload_off = 4;
	assert_int_equal(put_wait(s, &p, &row), 0);
	close(fd);
	assert_int_equal(store_get(s, row, &e), 0);
	assert_int_equal(store_read(s, row, e.head_len, buf, 13), 13);
	assert_memory_equal(buf, "payload-bytes", 13);
	store_free(s);
}

/* ---- flooding, holders, take, expiry reports, migration ----------------- */

static int
take_wait(struct store *s, int64_t rowid)
{
	struct done d = { 0 };

	assert_int_equal(store_take(s, rowid, on_done, &d), 0);
	return wait_done(s, &d);
}

/* Record a holder and wait; returns the result, *sent the count of "sent". */
static int
handed_wait(struct store *s, int64_t rowid, const char *id, uint64_t nbr, int how, int64_t *sent)
{
	struct done d = { 0 };

	assert_int_equal(store_handed(s, rowid, id, nbr, how, on_done, &d), 0);
	wait_done(s, &d);
	if (sent != NULL)
		*sent = d.rowid;
	return d.result;
}

static int
put_flood(struct store *s, const char *id, int state, uint64_t from, uint64_t flags, uint64_t expires,
    int64_t *rowid)
{
	uint8_t payload[64];
	struct store_put p;

	fill(payload, sizeof(payload), 0, 3);
	p = bundle(id, "ipn:0.2", PRIO_URGENT, state, expires, payload, sizeof(payload));
	p.dst_node = 0;
	p.dst_service = 2;
	p.from = from;
	p.flags = flags;
	return put_wait(s, &p, rowid);
}

static void
test_flood_states_and_holders(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct store_holder h[8];
	struct store_entry e;
	struct store_stats st;
	int64_t ra, rb, rl, rq, sent;

	assert_int_equal(put_flood(s, "alert A", STORE_FLOOD_LOCAL, 7, 0x40000, FAR_FUTURE, &ra), 0);
	assert_int_equal(put_flood(s, "alert B", STORE_FLOOD, 0, 0, FAR_FUTURE, &rb), 0);
	assert_int_equal(put_small(s, "queued", PRIO_URGENT, FAR_FUTURE, &rq), 0);
	{
		uint8_t payload[8] = { 0 };
		struct store_put p = bundle("local", "ipn:2.2", PRIO_URGENT, STORE_LOCAL, FAR_FUTURE, payload, 8);

		p.dst_service = 2;
		assert_int_equal(put_wait(s, &p, &rl), 0);
	}
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.flood, 2);
	assert_int_equal(st.local, 1);
	assert_int_equal(st.queued, 1);

	/* The flood walk sees both flood bundles, the unicast walk neither. */
	assert_int_equal(store_next_flood(s, 0, 0, 0, &e), 0);
	assert_int_equal(e.rowid, ra);
	assert_int_equal(e.flags, 0x40000);
	assert_int_equal(e.state, STORE_FLOOD_LOCAL);
	assert_int_equal(store_next_flood(s, e.priority, e.rowid, 0, &e), 0);
	assert_int_equal(e.rowid, rb);
	assert_int_equal(store_next_flood(s, e.priority, e.rowid, 0, &e), -ENOENT);
	/* A floor skips what a walk saw already, in every class. */
	assert_int_equal(store_next_flood(s, 0, 0, ra, &e), 0);
	assert_int_equal(e.rowid, rb);
	assert_int_equal(store_next_flood(s, 0, 0, rb, &e), -ENOENT);
	assert_int_equal(store_max_rowid(s), rl);
	assert_int_equal(store_next_queued(s, 0, 0, &e), 0);
	assert_int_equal(e.rowid, rq);
	assert_int_equal(store_next_queued(s, e.priority, e.rowid, &e), -ENOENT);

	/* The local application sees the one not yet taken, and the local one. */
	assert_int_equal(store_next_local(s, 2, 0, &e), 0);
	assert_int_equal(e.rowid, ra);
	assert_int_equal(store_next_local(s, 2, ra, &e), 0);
	assert_int_equal(e.rowid, rl);
	assert_int_equal(store_next_local(s, 2, rl, &e), -ENOENT);

	/* Taking: the flood bundle stays for other nodes, the local one goes. */
	assert_int_equal(take_wait(s, ra), 0);
	assert_int_equal(store_get(s, ra, &e), 0);
	assert_int_equal(e.state, STORE_FLOOD);
	assert_int_equal(take_wait(s, ra), 0);
	assert_int_equal(store_get(s, ra, &e), 0);
	assert_int_equal(take_wait(s, rl), 0);
	assert_int_equal(store_get(s, rl, &e), -ENOENT);
	assert_int_equal(take_wait(s, rl), -ENOENT);
	assert_int_equal(store_next_local(s, 2, 0, &e), -ENOENT);
	assert_int_equal(store_next_flood(s, 0, 0, 0, &e), 0);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.flood, 2);
	assert_int_equal(st.local, 0);

	/* Holders: where it came from at once; the first record per neighbour wins. */
	assert_int_equal(store_holders(s, ra, h, 8), 1);
	assert_int_equal(h[0].node, 7);
	assert_int_equal(h[0].how, STORE_HELD_FROM);
	assert_true(h[0].when > 0);
	assert_int_equal(store_holders(s, rb, h, 8), 0);
	assert_int_equal(handed_wait(s, ra, NULL, 9, STORE_HELD_SENT, &sent), 0);
	assert_int_equal(sent, 1);
	assert_int_equal(handed_wait(s, ra, NULL, 9, STORE_HELD_OFFERED, &sent), 0);
	assert_int_equal(sent, 1);
	assert_int_equal(handed_wait(s, ra, NULL, 3, STORE_HELD_SENT, &sent), 0);
	assert_int_equal(sent, 2);
	assert_int_equal(handed_wait(s, 0, "alert A", 11, STORE_HELD_OFFERED, &sent), 0);
	assert_int_equal(sent, 0);
	/* Not a flood bundle, or not there: nothing recorded. */
	assert_int_equal(handed_wait(s, rq, NULL, 9, STORE_HELD_SENT, &sent), 0);
	assert_int_equal(handed_wait(s, 0, "nobody", 9, STORE_HELD_OFFERED, NULL), 0);
	assert_int_equal(store_holders(s, rq, h, 8), 0);
	assert_int_equal(store_handed(s, 0, NULL, 9, STORE_HELD_SENT, on_done, NULL), -EINVAL);
	assert_int_equal(store_handed(s, ra, NULL, 9, 0, on_done, NULL), -EINVAL);

	/* Durable: after a restart the holders are all still known, in node order. */
	store_free(s);
	s = open_store(f);
	assert_int_equal(store_holders(s, ra, h, 2), 4);
	assert_int_equal(store_holders(s, ra, h, 8), 4);
	assert_int_equal(h[0].node, 3);
	assert_int_equal(h[0].how, STORE_HELD_SENT);
	assert_int_equal(h[1].node, 7);
	assert_int_equal(h[1].how, STORE_HELD_FROM);
	assert_int_equal(h[2].node, 9);
	assert_int_equal(h[2].how, STORE_HELD_SENT);
	assert_int_equal(h[3].node, 11);
	assert_int_equal(h[3].how, STORE_HELD_OFFERED);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.flood, 2);

	/* A flood bundle goes when its lifetime ends, and its holders with it. */
	assert_int_equal(put_flood(s, "alert C", STORE_FLOOD_LOCAL, 5, 0, 1000, &rb), 0);
	assert_int_equal(store_holders(s, rb, h, 8), 1);
	assert_int_equal(expire_wait(s, 2000), 1);
	assert_int_equal(store_get(s, rb, &e), -ENOENT);
	assert_int_equal(store_holders(s, rb, h, 8), 0);
	assert_int_equal(store_holders(s, ra, h, 8), 4);
	store_free(s);
}

struct peeked {
	int calls;
	uint8_t first[STORE_HEAD_PEEK];
	size_t len;
};

static void
on_peek(void *arg, const uint8_t *head_bytes, size_t len)
{
	struct peeked *p = arg;

	if (p->calls++ == 0) {
		memcpy(p->first, head_bytes, len);
		p->len = len;
	}
}

static void
test_expiry_reports(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct peeked pk = { 0 };
	uint8_t big[3000];
	struct store_put p;
	int64_t r;

	store_on_expired(s, 0x40000, on_peek, &pk);
	fill(big, sizeof(big), 0, 9);
	/* Asked for a deletion report, with a long payload: its first bytes come back. */
	p = bundle("report me", "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED, 1000, big, sizeof(big));
	p.flags = 0x40000 | 0x20000;
	assert_int_equal(put_wait(s, &p, &r), 0);
	/* Asked for other reports only, or none. */
	p = bundle("other", "ipn:2.5", PRIO_MESSAGE, STORE_QUEUED, 1000, big, 10);
	p.flags = 0x20000;
	assert_int_equal(put_wait(s, &p, NULL), 0);
	assert_int_equal(put_small(s, "plain", PRIO_MESSAGE, 1000, NULL), 0);
	/* Still alive: not reported. */
	assert_int_equal(put_flood(s, "later", STORE_FLOOD, 0, 0x40000, 5000, NULL), 0);

	assert_int_equal(expire_wait(s, 2000), 3);
	assert_int_equal(pk.calls, 1);
	assert_int_equal(pk.len, STORE_HEAD_PEEK);
	assert_memory_equal(pk.first, head, sizeof(head) - 1);
	assert_memory_equal(pk.first + sizeof(head) - 1, big, STORE_HEAD_PEEK - (sizeof(head) - 1));
	/* A short bundle comes back whole. */
	assert_int_equal(expire_wait(s, 6000), 1);
	assert_int_equal(pk.calls, 2);
	store_free(s);
}

/* ---- supersede: order, in flight, reports ------------------------------- */

/* What the superseded callback was told. */
struct superseded {
	int calls, heads;
	char id[8][64], by[8][64];
};

static void
on_superseded(void *arg, const char *id, const char *by, const uint8_t *h, size_t len)
{
	struct superseded *x = arg;

	if (x->calls < 8) {
		snprintf(x->id[x->calls], sizeof(x->id[0]), "%s", id);
		snprintf(x->by[x->calls], sizeof(x->by[0]), "%s", by);
	}
	x->calls++;
	if (h != NULL) {
		/* The bundle's first bytes: its head, then its payload. */
		assert_true(len >= sizeof(head) - 1);
		assert_memory_equal(h, head, sizeof(head) - 1);
		x->heads++;
	}
}

/* Pinned rows superseded (store_on_stale): the last one. */
static void
on_stale(void *arg, int64_t rowid)
{
	*(int64_t *)arg = rowid;
}

/* A position of a unit with its creation timestamp. */
static struct store_put
position(const char *id, const char *key, uint64_t ctime, uint64_t cseq, const uint8_t *payload)
{
	struct store_put p = bundle(id, "ipn:1.3", PRIO_POSITION, STORE_QUEUED, FAR_FUTURE, payload, 40);

	p.supersede = key;
	p.ctime = ctime;
	p.cseq = cseq;
	return p;
}

static void
test_supersede_key(void **state)
{
	char k1[128], k2[128], k3[128], small[16];

	assert_int_equal(service_supersede_key(k1, sizeof(k1), PRIO_POSITION, "ipn:4.3", "ipn:1.3"), 0);
	assert_string_equal(k1, "position ipn:4.3 ipn:1.3");
	/* Another unit, another destination, another source service: other streams. */
	assert_int_equal(service_supersede_key(k2, sizeof(k2), PRIO_POSITION, "ipn:5.3", "ipn:1.3"), 0);
	assert_string_not_equal(k1, k2);
	assert_int_equal(service_supersede_key(k2, sizeof(k2), PRIO_POSITION, "ipn:4.3", "ipn:0.3"), 0);
	assert_string_not_equal(k1, k2);
	assert_int_equal(service_supersede_key(k3, sizeof(k3), PRIO_POSITION, "ipn:4.64", "ipn:1.3"), 0);
	assert_string_not_equal(k1, k3);
	/* The same bundle gives the same key wherever it is derived. */
	assert_int_equal(service_supersede_key(k2, sizeof(k2), PRIO_POSITION, "ipn:4.3", "ipn:1.3"), 0);
	assert_string_equal(k1, k2);
	/* Messages, alerts, bulk never supersede by default. */
	for (int c = 0; c < PRIO_COUNT; c++)
		if (c != PRIO_POSITION)
			assert_int_equal(service_supersede_key(k1, sizeof(k1), c, "ipn:4.5", "ipn:1.5"), -ENOENT);
	assert_int_equal(service_supersede_key(small, sizeof(small), PRIO_POSITION, "ipn:4.3", "ipn:1.3"),
	    -ENOSPC);

	/* Creation time decides when both have one; else the sequence number. */
	assert_true(store_newer(2000, 1, 1000, 9));
	assert_false(store_newer(1000, 9, 2000, 1));
	assert_true(store_newer(1000, 9, 1000, 8));
	assert_true(store_newer(0, 9, 0, 8));
	assert_false(store_newer(0, 8, 0, 9));
	assert_true(store_newer(0, 9, 5000, 8));	/* a node that lost its clock: its counter goes on */
	assert_false(store_newer(7, 7, 7, 7));
}

/*
 * An older bundle that arrives late never replaces a newer queued one: it is
 * not stored (its identity is remembered), and the callback says so; older
 * ones are dropped once, with their heads when they asked for reports.
 */
static void
test_supersede_older(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct superseded x = { 0 };
	uint8_t payload[40] = { 2 };
	struct store_entry e;
	struct store_stats st;
	struct store_put p;
	int64_t newer, older, r;

	store_on_superseded(s, 0x40000, on_superseded, &x);
	p = position("ipn:4.3 5000 2", "position ipn:4.3 ipn:1.3", 5000, 2, payload);
	assert_int_equal(put_wait(s, &p, &newer), 0);
	assert_true(newer > 0);
	p = position("ipn:4.3 4000 9", "position ipn:4.3 ipn:1.3", 4000, 9, payload);
	p.flags = 0x40000;
	assert_int_equal(put_wait(s, &p, &older), 0);
	assert_int_equal(older, 0);	/* accepted, not stored */
	assert_int_equal(store_get(s, newer, &e), 0);
	assert_int_equal(x.calls, 1);
	assert_string_equal(x.id[0], "ipn:4.3 4000 9");
	assert_string_equal(x.by[0], "ipn:4.3 5000 2");
	assert_int_equal(x.heads, 1);
	assert_int_equal(put_wait(s, &p, NULL), -EEXIST);	/* remembered */
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.queued, 1);

	/* The same stamp again (another fragment-less copy): not newer, replaces. */
	p = position("ipn:4.3 5000 2 again", "position ipn:4.3 ipn:1.3", 5000, 2, payload);
	assert_int_equal(put_wait(s, &p, &r), 0);
	assert_true(r > newer);
	assert_int_equal(store_get(s, newer, &e), -ENOENT);
	assert_int_equal(x.calls, 2);
	assert_int_equal(x.heads, 1);	/* it asked for no report */
	/* A stored one that asked for a report: its head, read before it goes. */
	p = position("ipn:4.3 6000 3", "position ipn:4.3 ipn:1.3", 6000, 3, payload);
	p.flags = 0x40000;
	assert_int_equal(put_wait(s, &p, &older), 0);
	p = position("ipn:4.3 7000 4", "position ipn:4.3 ipn:1.3", 7000, 4, payload);
	assert_int_equal(put_wait(s, &p, &r), 0);
	assert_int_equal(store_get(s, older, &e), -ENOENT);
	assert_int_equal(x.calls, 4);
	assert_int_equal(x.heads, 2);
	assert_string_equal(x.id[3], "ipn:4.3 6000 3");
	assert_string_equal(x.by[3], "ipn:4.3 7000 4");

	/* A newer one by sequence when neither has a clock. */
	p = position("ipn:6.3 0 10", "position ipn:6.3 ipn:1.3", 0, 10, payload);
	assert_int_equal(put_wait(s, &p, &older), 0);
	p = position("ipn:6.3 0 3", "position ipn:6.3 ipn:1.3", 0, 3, payload);
	assert_int_equal(put_wait(s, &p, &r), 0);
	assert_int_equal(r, 0);
	p = position("ipn:6.3 0 11", "position ipn:6.3 ipn:1.3", 0, 11, payload);
	assert_int_equal(put_wait(s, &p, &newer), 0);
	assert_int_equal(store_get(s, older, &e), -ENOENT);
	assert_int_equal(store_get(s, newer, &e), 0);

	/* A message without a key is never replaced by anything. */
	assert_int_equal(put_small(s, "ipn:6.5 0 12", PRIO_MESSAGE, FAR_FUTURE, &r), 0);
	p = position("ipn:6.3 0 13", "position ipn:6.3 ipn:1.3", 0, 13, payload);
	assert_int_equal(put_wait(s, &p, NULL), 0);
	assert_int_equal(store_get(s, r, &e), 0);

	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.queued, 3);
	assert_int_equal(st.count[PRIO_POSITION], 2);
	store_free(s);
}

/*
 * A bundle in flight (pinned) is not deleted under its link: it stays, the
 * newer one is stored beside it, and its last unpin deletes it (a link that
 * gave it back) unless the link delivered it first.  A row a supersede has
 * deleted cannot be pinned until its put is answered, so a walk that read it
 * before the commit does not send it.
 */
static void
test_supersede_in_flight(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	struct superseded x = { 0 };
	uint8_t payload[40] = { 3 };
	struct store_entry e;
	struct store_put p;
	struct done d = { 0 };
	char path[160];
	int64_t a, b, c, k, stale = 0;
	int fd;

	store_on_superseded(s, 0x40000, on_superseded, &x);
	store_on_stale(s, on_stale, &stale);
	p = position("ipn:4.3 1000 1", "position ipn:4.3 ipn:1.3", 1000, 1, payload);
	assert_int_equal(put_wait(s, &p, &a), 0);
	assert_int_equal(store_pin(s, a), 0);
	p = position("ipn:4.3 2000 2", "position ipn:4.3 ipn:1.3", 2000, 2, payload);
	assert_int_equal(put_wait(s, &p, &b), 0);
	assert_int_equal(store_get(s, a, &e), 0);	/* in flight: left alone */
	assert_int_equal(store_get(s, b, &e), 0);
	assert_int_equal(x.calls, 0);
	assert_int_equal(stale, a);	/* its sender is told: it may take it back */
	stale = 0;
	/* Pinned twice (two flood copies): both must end. */
	assert_int_equal(store_pin(s, a), 0);
	store_unpin(s, a);
	p = position("ipn:4.3 3000 3", "position ipn:4.3 ipn:1.3", 3000, 3, payload);
	assert_int_equal(put_wait(s, &p, &c), 0);
	assert_int_equal(store_get(s, a, &e), 0);
	assert_int_equal(store_get(s, b, &e), -ENOENT);
	assert_int_equal(x.calls, 1);
	store_flush(s);
	store_dispatch(s);
	assert_int_equal(store_get(s, a, &e), 0);	/* still pinned once */

	/* The link gave it back: the last unpin deletes it, nobody may pin it meanwhile. */
	store_unpin(s, a);
	assert_int_equal(store_pin(s, a), -ENOENT);
	pump(s, &x.calls, 2);
	assert_string_equal(x.id[1], "ipn:4.3 1000 1");
	assert_string_equal(x.by[1], "ipn:4.3 2000 2");	/* the first newer one that passed it over */
	assert_int_equal(store_get(s, a, &e), -ENOENT);

	/* Delivered while superseded: its link deleted it; the unpin finds nothing to do. */
	assert_int_equal(store_pin(s, c), 0);
	p = position("ipn:4.3 3500 5", "position ipn:4.3 ipn:1.3", 3500, 5, payload);
	assert_int_equal(put_wait(s, &p, &b), 0);
	assert_int_equal(store_get(s, c, &e), 0);
	assert_int_equal(delete_wait(s, c), 0);
	store_unpin(s, c);
	store_flush(s);
	store_dispatch(s);
	assert_int_equal(x.calls, 2);

	/* A newer one that failed (its payload file is short) supersedes nothing. */
	snprintf(path, sizeof(path), "%s/short", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "only ten b", 10), 10);
	assert_int_equal(stale, c);
	stale = 0;
	assert_int_equal(store_pin(s, b), 0);
	p = position("ipn:4.3 3900 6", "position ipn:4.3 ipn:1.3", 3900, 6, NULL);
	p.payload_fd = fd;
	p.payload_len = 5000;
	assert_int_equal(put_wait(s, &p, NULL), -EIO);
	close(fd);
	assert_int_equal(stale, 0);	/* failed: nobody is told */
	store_unpin(s, b);
	store_flush(s);
	store_dispatch(s);
	assert_int_equal(store_get(s, b, &e), 0);
	assert_int_equal(x.calls, 2);

	/* Committed but not yet answered: the deleted rows cannot be pinned. */
	p = position("ipn:4.3 4000 4", "position ipn:4.3 ipn:1.3", 4000, 4, payload);
	assert_int_equal(store_put(s, &p, on_done, &d), 0);
	store_flush(s);
	assert_int_equal(store_pin(s, b), -ENOENT);
	assert_int_equal(wait_done(s, &d), 0);
	k = d.rowid;
	assert_int_equal(store_get(s, b, &e), -ENOENT);
	assert_int_equal(x.calls, 3);
	/* Answered: pins work again (the walk sees the rows gone). */
	assert_int_equal(store_pin(s, k), 0);
	store_unpin(s, k);
	store_free(s);
}

/*
 * A bundle whose lifetime ends while a link sends it stays until the link
 * lets go (issue 11, item 3): the link reads it to the last byte, its
 * sender is told it may take it back, and the last unpin sweeps it.
 */
static void
test_expire_in_flight(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	uint8_t payload[200], got[64];
	struct store_stats st;
	struct store_entry e;
	struct done d = { 0 };
	int64_t a, b, c, stale = 0;

	store_on_stale(s, on_stale, &stale);
	fill(payload, sizeof(payload), 0, 1);
	assert_int_equal(put_small(s, "A", PRIO_MESSAGE, 1000, &a), 0);
	assert_int_equal(put_small(s, "B", PRIO_MESSAGE, 1000, &b), 0);
	assert_int_equal(store_pin(s, a), 0);
	assert_int_equal(expire_wait(s, 2000), 1);	/* B only */
	assert_int_equal(store_get(s, b, &e), -ENOENT);
	assert_int_equal(store_get(s, a, &e), 0);
	assert_int_equal(store_read(s, a, sizeof(head) - 1, got, sizeof(got)), (long)sizeof(got));
	assert_memory_equal(got, payload, sizeof(got));
	assert_int_equal(stale, a);	/* its sender may take it back */
	assert_int_equal(store_pin(s, a), -ENOENT);	/* and nobody sends it again */
	assert_int_equal(expire_wait(s, 3000), 0);	/* still in flight: still there */
	assert_int_equal(store_get(s, a, &e), 0);
	assert_int_equal(store_put(s, &(struct store_put){ .id = "A", .src = "ipn:1.0", .dst = "ipn:2.5",
	    .payload_fd = -1, .expires = 1000 }, on_done, &d), 0);
	assert_int_equal(wait_done(s, &d), -EEXIST);	/* its identity is kept with it */

	/* The link let go: it goes now, without waiting for the next sweep. */
	store_unpin(s, a);
	store_flush(s);
	store_dispatch(s);
	store_flush(s);
	assert_int_equal(store_get(s, a, &e), -ENOENT);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 0);
	assert_int_equal(st.seen, 0);

	/* Expired and committed, not yet answered: nobody may pin it meanwhile. */
	assert_int_equal(put_small(s, "C", PRIO_MESSAGE, 1000, &c), 0);
	d.calls = 0;
	assert_int_equal(store_expire(s, 2000, on_done, &d), 0);
	store_flush(s);
	assert_int_equal(store_pin(s, c), -ENOENT);
	assert_int_equal(wait_done(s, &d), 0);
	assert_int_equal(d.rowid, 1);
	assert_int_equal(store_get(s, c, &e), -ENOENT);
	store_free(s);
}

/*
 * Flood copies: a newer position for every node replaces one in state FLOOD
 * (taken here, or made here) with its holder records, never one the local
 * application has not taken yet.
 */
static void
test_supersede_flood(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	uint8_t payload[40] = { 4 };
	struct store_entry e;
	struct store_holder held[2];
	struct store_put p;
	int64_t fl, fll, n;

	p = position("ipn:4.3 1000 1", "position ipn:4.3 ipn:0.3", 1000, 1, payload);
	p.state = STORE_FLOOD;
	assert_int_equal(put_wait(s, &p, &fl), 0);
	assert_int_equal(handed_wait(s, fl, NULL, 7, STORE_HELD_SENT, &n), 0);
	p = position("ipn:4.3 2000 2", "position ipn:4.3 ipn:0.3", 2000, 2, payload);
	p.state = STORE_FLOOD_LOCAL;
	p.from = 7;
	assert_int_equal(put_wait(s, &p, &fll), 0);
	assert_int_equal(store_get(s, fl, &e), -ENOENT);
	assert_int_equal(store_holders(s, fl, held, 2), 0);
	p = position("ipn:4.3 3000 3", "position ipn:4.3 ipn:0.3", 3000, 3, payload);
	p.state = STORE_FLOOD_LOCAL;
	assert_int_equal(put_wait(s, &p, NULL), 0);
	assert_int_equal(store_get(s, fll, &e), 0);	/* the application has not seen it */
	assert_int_equal(e.state, STORE_FLOOD_LOCAL);
	/* An older copy arriving late is not flooded again. */
	p = position("ipn:4.3 1500 5", "position ipn:4.3 ipn:0.3", 1500, 5, payload);
	p.state = STORE_FLOOD_LOCAL;
	assert_int_equal(put_wait(s, &p, &n), 0);
	assert_int_equal(n, 0);
	store_free(s);
}

/* A version 3 store (no ctime, cseq) gains them; its bundles count as oldest. */
static void
test_migrate_v3_supersede(void **state)
{
	struct fixture *f = *state;
	uint8_t payload[40] = { 5 };
	struct store_entry e;
	struct store_put p;
	struct store *s;
	sqlite3 *db;
	int64_t old, r;

	s = open_store(f);
	p = position("ipn:4.3 9000 9", "position ipn:4.3 ipn:1.3", 9000, 9, payload);
	assert_int_equal(put_wait(s, &p, &old), 0);
	store_free(s);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE bundles DROP COLUMN ctime;"
	    "ALTER TABLE bundles DROP COLUMN cseq; PRAGMA user_version = 3;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	s = open_store(f);
	assert_int_equal(store_get(s, old, &e), 0);
	p = position("ipn:4.3 100 1", "position ipn:4.3 ipn:1.3", 100, 1, payload);
	assert_int_equal(put_wait(s, &p, &r), 0);
	assert_true(r > old);
	assert_int_equal(store_get(s, old, &e), -ENOENT);
	store_free(s);
	assert_integrity_ok(f->db);
}

/* A store written by schema version 1 opens as the current version, bundles intact. */
static void
test_migrate_v1(void **state)
{
	struct fixture *f = *state;
	struct store_entry e;
	struct store_stats st;
	struct store *s;
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t r;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	    "PRAGMA journal_mode = WAL;"
	    "CREATE TABLE bundles (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, src TEXT NOT NULL,"
	    " dst TEXT NOT NULL, dst_node INTEGER NOT NULL, dst_service INTEGER NOT NULL,"
	    " priority INTEGER NOT NULL, state INTEGER NOT NULL, size INTEGER NOT NULL,"
	    " head_len INTEGER NOT NULL, payload_len INTEGER NOT NULL, received INTEGER NOT NULL,"
	    " expires INTEGER NOT NULL, supersede TEXT, data BLOB NOT NULL);"
	    "CREATE INDEX bundles_local ON bundles(dst_service, rowid) WHERE state = 1;"
	    "CREATE INDEX bundles_queued ON bundles(priority, rowid) WHERE state = 0;"
	    "CREATE TABLE forward (bundle INTEGER NOT NULL, neighbour INTEGER NOT NULL,"
	    " state INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (bundle, neighbour)) WITHOUT ROWID;"
	    "CREATE TRIGGER bundles_gone AFTER DELETE ON bundles BEGIN DELETE FROM forward WHERE bundle = old.rowid; END;"
	    "CREATE TABLE seen (id TEXT PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID;"
	    "CREATE INDEX seen_expires ON seen(expires);"
	    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	    "INSERT INTO counters VALUES ('boot', 4), ('seq', 70000);"
	    "INSERT INTO bundles VALUES (5, 'old local', 'ipn:1.5', 'ipn:2.5', 2, 5, 4, 1, 3, 1, 1, 1, 9e12, NULL, x'aabbcc');"
	    "INSERT INTO bundles VALUES (6, 'old queued', 'ipn:1.5', 'ipn:3.5', 3, 5, 4, 0, 2, 1, 1, 1, 9e12, NULL, x'ddee');"
	    "INSERT INTO seen VALUES ('old local', 9e12), ('old queued', 9e12);"
	    "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	s = open_store(f);
	assert_int_equal(store_boot_count(s), 5);
	assert_true(store_next_seq(s) >= 70000);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 2);
	assert_int_equal(st.local, 1);
	assert_int_equal(st.queued, 1);
	assert_int_equal(store_next_local(s, 5, 0, &e), 0);
	assert_int_equal(e.rowid, 5);
	assert_int_equal(e.flags, 0);
	check_bytes(s, 5, (const uint8_t *)"\xaa\xbb\xcc", 3, 2);
	assert_int_equal(store_next_queued(s, 0, 0, &e), 0);
	assert_int_equal(e.rowid, 6);
	assert_int_equal(put_small(s, "old queued", PRIO_MESSAGE, FAR_FUTURE, NULL), -EEXIST);
	assert_int_equal(put_flood(s, "new alert", STORE_FLOOD_LOCAL, 4, 0, FAR_FUTURE, &r), 0);
	assert_true(r > 6);
	assert_int_equal(take_wait(s, 5), 0);
	assert_int_equal(delete_wait(s, 6), 0);
	store_free(s);

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version),"
	    " (SELECT count(*) FROM sqlite_master WHERE name IN ('bundles_flood', 'bundles_local',"
	    " 'bundles_queued', 'bundles_gone', 'bundles_supersede')),"
	    " (SELECT sql LIKE '%flags%' FROM sqlite_master WHERE name = 'bundles'),"
	    " (SELECT count(*) FROM sqlite_master WHERE name = 'bundles_v2')", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 6);
	assert_int_equal(sqlite3_column_int(q, 1), 5);
	assert_int_equal(sqlite3_column_int(q, 2), 1);
	assert_int_equal(sqlite3_column_int(q, 3), 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_integrity_ok(f->db);
}

static int
budget_save_wait(struct store *s, const char *link, uint64_t period, uint64_t spent)
{
	struct done d = { 0 };

	assert_int_equal(store_budget_save(s, link, period, spent, on_done, &d), 0);
	return wait_done(s, &d);
}

/*
 * A version 2 store (what the daemon wrote before metered budgets were
 * kept) opens as version 3: its bundles, flood holders and counters stay,
 * and the budget table is there, empty.  What a link spent is kept across
 * a reopen, per link, the last save winning.
 */
static void
test_migrate_v2_budget(void **state)
{
	struct fixture *f = *state;
	struct store_entry e;
	struct store_stats st;
	struct store *s;
	sqlite3 *db;
	sqlite3_stmt *q;
	struct store_holder held[4];
	uint64_t period = 0, spent = 0, boot;
	int64_t flood, sent;

	s = open_store(f);
	assert_int_equal(put_small(s, "v2 queued", PRIO_MESSAGE, FAR_FUTURE, NULL), 0);
	assert_int_equal(put_flood(s, "v2 alert", STORE_FLOOD, 4, 0, FAR_FUTURE, &flood), 0);
	assert_int_equal(handed_wait(s, flood, NULL, 7, STORE_HELD_SENT, &sent), 0);
	assert_int_equal(sent, 1);
	boot = store_boot_count(s);
	store_free(s);
	/* Make it what version 2 left: no budget table, user_version 2. */
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE link_budget; PRAGMA user_version = 2;", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	s = open_store(f);
	assert_int_equal(store_boot_count(s), boot + 1);
	assert_int_equal(store_stats(s, &st), 0);
	assert_int_equal(st.bundles, 2);
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.flood, 1);
	assert_int_equal(store_next_queued(s, 0, 0, &e), 0);
	assert_string_equal(e.id, "v2 queued");
	/* The forward table survived: it came from 4, went to 7. */
	assert_int_equal(store_holders(s, flood, held, 4), 2);
	assert_int_equal(held[0].node, 4);
	assert_int_equal(held[1].node, 7);
	assert_int_equal(held[1].how, STORE_HELD_SENT);
	assert_int_equal(put_small(s, "v2 queued", PRIO_MESSAGE, FAR_FUTURE, NULL), -EEXIST);
	assert_int_equal(store_budget_get(s, "sat", &period, &spent), -ENOENT);
	assert_int_equal(budget_save_wait(s, "sat", 20000, 1234), 0);
	assert_int_equal(budget_save_wait(s, "sat", 20000, 5678), 0);
	assert_int_equal(budget_save_wait(s, "radio", 19999, 42), 0);
	store_free(s);

	s = open_store(f);
	assert_int_equal(store_budget_get(s, "sat", &period, &spent), 0);
	assert_int_equal(period, 20000);
	assert_int_equal(spent, 5678);
	assert_int_equal(store_budget_get(s, "radio", &period, &spent), 0);
	assert_int_equal(period, 19999);
	assert_int_equal(spent, 42);
	assert_int_equal(store_budget_save(s, "", 1, 1, NULL, NULL), -EINVAL);
	store_free(s);

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT user_version FROM pragma_user_version", -1, &q, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 6);
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_integrity_ok(f->db);
}

static int
peer_save_wait(struct store *s, uint64_t node, uint64_t boot, uint64_t top)
{
	struct done d = { 0 };

	assert_int_equal(store_peer_save(s, node, boot, top, on_done, &d), 0);
	return wait_done(s, &d);
}

struct peer_rows { unsigned n; uint64_t node[8], boot[8], top[8]; };

static void
peer_row(void *arg, uint64_t node, uint64_t boot, uint64_t top)
{
	struct peer_rows *p = arg;

	if (p->n < 8) {
		p->node[p->n] = node;
		p->boot[p->n] = boot;
		p->top[p->n] = top;
	}
	p->n++;
}

/*
 * A version 4 store (before replay state was kept) opens as version 5: its
 * bundles and counters stay, and the peers table is there, empty.  A peer's
 * saved boot and frame counter survive a reopen, and a save never moves a
 * peer backwards: not to an older boot, nor to a lower counter of its boot.
 */
static void
test_migrate_v4_peers(void **state)
{
	struct fixture *f = *state;
	struct peer_rows rows = { 0 };
	struct store_entry e;
	struct store *s;
	sqlite3 *db;
	sqlite3_stmt *q;
	uint64_t boot;

	s = open_store(f);
	assert_int_equal(put_small(s, "v4 queued", PRIO_MESSAGE, FAR_FUTURE, NULL), 0);
	boot = store_boot_count(s);
	store_free(s);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE peers; PRAGMA user_version = 4;", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);

	s = open_store(f);
	assert_int_equal(store_boot_count(s), boot + 1);
	assert_int_equal(store_next_queued(s, 0, 0, &e), 0);
	assert_string_equal(e.id, "v4 queued");
	assert_int_equal(store_peers(s, peer_row, &rows), 0);
	assert_int_equal(peer_save_wait(s, 7, 3, 1000), 0);
	assert_int_equal(peer_save_wait(s, 7, 3, 900), 0);	/* lower: kept at 1000 */
	assert_int_equal(peer_save_wait(s, 7, 2, 5000), 0);	/* older boot: kept */
	assert_int_equal(peer_save_wait(s, 9, 1, UINT32_MAX), 0);
	assert_int_equal(peer_save_wait(s, 9, 2, 5), 0);	/* newer boot: taken */
	store_free(s);

	s = open_store(f);
	assert_int_equal(store_peers(s, peer_row, &rows), 2);
	assert_int_equal(rows.n, 2);
	for (unsigned i = 0; i < 2; i++) {
		if (rows.node[i] == 7) {
			assert_int_equal(rows.boot[i], 3);
			assert_int_equal(rows.top[i], 1000);
		} else {
			assert_int_equal(rows.node[i], 9);
			assert_int_equal(rows.boot[i], 2);
			assert_int_equal(rows.top[i], 5);
		}
	}
	assert_int_equal(peer_save_wait(s, 7, 3, 1001), 0);
	store_free(s);
	rows.n = 0;
	s = open_store(f);
	assert_int_equal(store_peers(s, peer_row, &rows), 2);
	assert_int_equal(rows.node[0], 7);			/* most recently saved first */
	assert_int_equal(rows.top[0], 1001);
	store_free(s);

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	/* Opened by this version: 6, with the tables of registrations (5 -> 6 only creates them). */
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version),"
	    " (SELECT count(*) FROM sqlite_master WHERE name IN ('registrations', 'pending',"
	    " 'bundles_gone_pending'))", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 6);
	assert_int_equal(sqlite3_column_int(q, 1), 3);
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_integrity_ok(f->db);
}

/* The walks and the local queue use their partial indexes, never a scan. */
static void
test_flood_queries_use_indexes(void **state)
{
	static const char *const q[] = {
		"SELECT rowid FROM bundles WHERE state IN (3, 4) AND priority = 1 AND rowid > 0 ORDER BY rowid LIMIT 1",
		"SELECT rowid FROM bundles WHERE state IN (1, 4) AND dst_service = 2 AND rowid > 0 ORDER BY rowid LIMIT 1",
	};
	static const char *const idx[] = { "bundles_flood", "bundles_local" };
	struct fixture *f = *state;
	struct store *s = open_store(f);
	char plan[1024];
	sqlite3 *db;
	sqlite3_stmt *st;

	store_free(s);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	for (size_t i = 0; i < 2; i++) {
		char sql[512];

		snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", q[i]);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		plan[0] = '\0';
		while (sqlite3_step(st) == SQLITE_ROW)
			snprintf(plan + strlen(plan), sizeof(plan) - strlen(plan), "%s;",
			    (const char *)sqlite3_column_text(st, 3));
		sqlite3_finalize(st);
		if (strstr(plan, idx[i]) == NULL)
			fail_msg("%s: plan \"%s\" does not use %s", q[i], plan, idx[i]);
	}
	sqlite3_close(db);
}

/* ---- registrations ----------------------------------------------------- */

static int64_t
reg_wait(struct store *s, uint64_t service, const char *name, bool remove)
{
	struct done d = { 0 };

	assert_int_equal((remove ? store_reg_remove : store_reg_add)(s, service, name, on_done, &d), 0);
	wait_done(s, &d);
	return d.result < 0 ? d.result : d.rowid;
}

/* The result of an ack; *left: registrations still waiting. */
static int
reg_ack_wait(struct store *s, int64_t reg, int64_t rowid, int64_t *left)
{
	struct done d = { 0 };

	assert_int_equal(store_reg_ack(s, reg, rowid, on_done, &d), 0);
	wait_done(s, &d);
	if (left)
		*left = d.rowid;
	return d.result;
}

static int64_t
put_local(struct store *s, const char *id, uint64_t service, uint64_t expires)
{
	uint8_t payload[64];
	struct store_put p;
	int64_t rowid = 0;

	fill(payload, sizeof(payload), 0, 3);
	p = bundle(id, "ipn:1.64", PRIO_MESSAGE, STORE_LOCAL, expires, payload, sizeof(payload));
	p.dst_node = 1;
	p.dst_service = service;
	assert_int_equal(put_wait(s, &p, &rowid), 0);
	return rowid;
}

/* The rowids waiting for reg, oldest first: how many. */
static int
pending(struct store *s, int64_t reg, int64_t *v, int cap)
{
	struct store_entry e;
	int64_t after = 0;
	int n = 0;

	while (n < cap && store_next_pending(s, reg, after, &e) == 0)
		after = v[n++] = e.rowid;
	return n;
}

/* Two registrations of one service each get every bundle; the last ack takes it. */
static void
test_reg_two_subscribers(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	int64_t a, b, r[3], got[4], left = -1;
	struct store_entry e;

	assert_true((a = reg_wait(s, 64, "a", false)) > 0);
	assert_true((b = reg_wait(s, 64, "b", false)) > 0);
	assert_true(a != b);
	assert_int_equal(reg_wait(s, 64, "a", false), a);	/* known: the same one */
	assert_int_equal(store_reg_find(s, 64, "b"), b);
	assert_int_equal(store_reg_find(s, 65, "b"), 0);
	assert_int_equal(store_reg_count(s, 64), 2);
	assert_int_equal(store_reg_count(s, 65), 0);
	for (int i = 0; i < 3; i++) {
		char id[32];

		snprintf(id, sizeof(id), "ipn:9.1 0 %d", i);
		r[i] = put_local(s, id, 64, FAR_FUTURE);
	}
	put_local(s, "ipn:9.1 0 other", 65, FAR_FUTURE);	/* another service: none of theirs */
	assert_int_equal(pending(s, a, got, 4), 3);
	assert_memory_equal(got, r, sizeof(r));
	assert_int_equal(pending(s, b, got, 4), 3);
	assert_memory_equal(got, r, sizeof(r));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(reg_ack_wait(s, a, r[i], &left), 0);
		assert_int_equal(left, 1);
		assert_int_equal(store_get(s, r[i], &e), 0);	/* b still waits for it */
	}
	assert_int_equal(pending(s, a, got, 4), 0);
	assert_int_equal(reg_ack_wait(s, a, r[0], NULL), -ENOENT);	/* acked before */
	assert_int_equal(pending(s, b, got, 4), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(reg_ack_wait(s, b, r[i], &left), 0);
		assert_int_equal(left, 0);
		assert_int_equal(store_get(s, r[i], &e), -ENOENT);	/* the last ack took it */
	}
	assert_int_equal(store_reg_ack(s, 0, r[0], NULL, NULL), -EINVAL);
	assert_int_equal(store_reg_add(s, 64, "", NULL, NULL), -EINVAL);
	store_free(s);
	assert_integrity_ok(f->db);
}

/* What waited before a registration is its too; all of it outlives a restart. */
static void
test_reg_backlog_restart(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	int64_t a, r0, r1, r2, got[4], left;

	r0 = put_local(s, "ipn:9.1 0 0", 64, FAR_FUTURE);
	r1 = put_local(s, "ipn:9.1 0 1", 64, FAR_FUTURE);
	assert_true((a = reg_wait(s, 64, "agent", false)) > 0);
	assert_int_equal(pending(s, a, got, 4), 2);
	assert_int_equal(got[0], r0);
	assert_int_equal(got[1], r1);
	assert_int_equal(reg_ack_wait(s, a, r0, &left), 0);
	store_free(s);

	s = open_store(f);	/* away and back: the registration and what waits for it remain */
	assert_int_equal(store_reg_find(s, 64, "agent"), a);
	assert_int_equal(pending(s, a, got, 4), 1);
	assert_int_equal(got[0], r1);
	r2 = put_local(s, "ipn:9.1 0 2", 64, FAR_FUTURE);
	assert_int_equal(pending(s, a, got, 4), 2);
	assert_int_equal(got[1], r2);
	store_free(s);
	assert_integrity_ok(f->db);
}

/* Removing a registration takes what only it still waited for; an expiry takes its rows along. */
static void
test_reg_remove_and_expire(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_store(f);
	int64_t a, b, r0, r1, r2, got[4], left;
	struct store_entry e;
	uint64_t now = (uint64_t)time(NULL) * 1000;

	assert_true((a = reg_wait(s, 64, "a", false)) > 0);
	assert_true((b = reg_wait(s, 64, "b", false)) > 0);
	r0 = put_local(s, "ipn:9.1 0 0", 64, FAR_FUTURE);
	r1 = put_local(s, "ipn:9.1 0 1", 64, FAR_FUTURE);
	r2 = put_local(s, "ipn:9.1 0 2", 64, now + 1000);
	assert_int_equal(reg_ack_wait(s, a, r0, &left), 0);	/* only b waits for r0 now */
	assert_int_equal(left, 1);
	assert_int_equal(reg_wait(s, 64, "b", true), b);
	assert_int_equal(reg_wait(s, 64, "b", true), -ENOENT);
	assert_int_equal(store_reg_count(s, 64), 1);
	assert_int_equal(store_get(s, r0, &e), -ENOENT);	/* nobody left to want it */
	assert_int_equal(pending(s, a, got, 4), 2);
	assert_int_equal(got[0], r1);
	assert_int_equal(expire_wait(s, now + 5000), 1);
	assert_int_equal(store_get(s, r2, &e), -ENOENT);
	assert_int_equal(pending(s, a, got, 4), 1);
	assert_int_equal(got[0], r1);
	store_free(s);
	assert_integrity_ok(f->db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_next_queued_and_payload_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_fd_16mb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_short_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_supersede, setup, teardown),
		cmocka_unit_test(test_supersede_key),
		cmocka_unit_test_setup_teardown(test_supersede_older, setup, teardown),
		cmocka_unit_test_setup_teardown(test_supersede_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_supersede_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v3_supersede, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_class_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_never_repeats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_never_waits_for_the_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_and_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_and_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_bundles_small_rss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood_states_and_holders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undeleted_not_sent_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v2_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v4_peers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood_queries_use_indexes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reg_two_subscribers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reg_backlog_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reg_remove_and_expire, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
