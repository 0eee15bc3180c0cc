/*
 * bench_store.c - durable ingest through the store against plain SQLite,
 * measured in the same run (DESIGN.md section 8).
 *
 *   store-ingest-200B   200-byte bundles through store_put, a bounded number
 *                       in flight, counted at their completions; reference:
 *                       the very rows the store wrote, inserted with plain
 *                       SQLite (same schema and indexes, WAL, synchronous=FULL,
 *                       1000 bundles per transaction) into a fresh database.
 *                       Target: at least half the reference.
 *   store-ingest-full   the rate into a store that already holds 500,000
 *                       bundles against the rate into an empty one.
 *                       Target: at least 80%.
 *
 * Runs on disk (default /var/tmp, or -d DIR), never on tmpfs, where fsync
 * costs nothing.  Prints one grep-able line per figure, PASS or FAIL; exits
 * 1 if any FAILs.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define HEAD_LEN	32
#define TAIL_LEN	4
#define BUNDLE_LEN	200
#define PAYLOAD_LEN	(BUNDLE_LEN - HEAD_LEN - TAIL_LEN)
#define REF_TXN		1000

struct feed {
	uint64_t inflight, acked, failed;
	int first_error;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_store: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(2);
}

static void
put_done(void *arg, int result, int64_t rowid)
{
	struct feed *f = arg;

	f->inflight--;
	if (result == 0) {
		f->acked++;
	} else {
		if (!f->failed)
			f->first_error = result;
		f->failed++;
	}
}

/* Wait for completions (at most ms), run them. */
static void
pump(struct store *s, int ms)
{
	struct pollfd pfd = { .fd = store_fd(s), .events = POLLIN };

	if (poll(&pfd, 1, ms) > 0)
		store_dispatch(s);
}

/*
 * Put bundles [first, first+n) as fast as the store takes them, at most
 * window outstanding, and wait for every completion.  Returns seconds from
 * the first put to the last completion.
 */
static double
feed(struct store *s, uint64_t first, uint64_t n, uint64_t window)
{
	static uint8_t head[HEAD_LEN], payload[PAYLOAD_LEN], tail[TAIL_LEN];
	struct feed f = { 0 };
	double t0 = now_s();
	uint64_t i = 0;

	while (i < n || f.inflight > 0) {
		while (i < n && f.inflight < window) {
			uint64_t k = first + i;
			char id[64], dst[32];
			int prio = 1 + (int)(k % 6);
			struct store_put p = {
				.id = id, .src = "ipn:7.5", .dst = dst,
				.dst_node = 10 + k % 50, .dst_service = 5,
				.priority = prio, .state = STORE_QUEUED,
				.expires = (uint64_t)time(NULL) * 1000 + 7 * 86400000ULL,
				.head = head, .head_len = HEAD_LEN,
				.payload = payload, .payload_fd = -1, .payload_len = PAYLOAD_LEN,
				.tail = tail, .tail_len = TAIL_LEN,
			};
			int rc;

			snprintf(id, sizeof(id), "ipn:7.5 0 %llu 0", (unsigned long long)k);
			snprintf(dst, sizeof(dst), "ipn:%llu.5", (unsigned long long)p.dst_node);
			memcpy(head, &k, sizeof(k));
			memcpy(payload, &k, sizeof(k));
			rc = store_put(s, &p, put_done, &f);
			if (rc == -EAGAIN || rc == -ENOBUFS) {
				break;		/* queue full: let completions drain */
			} else if (rc != 0) {
				die("store_put", strerror(-rc));
			}
			f.inflight++;
			i++;
		}
		pump(s, 10);
	}
	if (f.failed)
		die("a put completed with an error", store_strerror(f.first_error));
	return now_s() - t0;
}

static struct store *
open_store(const char *path)
{
	struct store_options opt = { .path = path };
	char err[256] = "";
	struct store *s = store_open(&opt, err, sizeof(err));

	if (!s)
		die("store_open", err);
	return s;
}

/* ---- the reference: the store's own rows, inserted plainly -------------- */

struct ref_table {
	char *name;
	char **ddl;			/* CREATE TABLE and its CREATE INDEXes */
	int nddl, ncols;
	sqlite3_value **vals;		/* rows * ncols */
	uint64_t rows;
};

struct ref {
	struct ref_table t[16];
	int n;
	int page_size;
	uint64_t bytes;
};

static void
exec_or_die(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		die(sql, err);
}

/*
 * Load, from the store's database, every table that holds a row per bundle
 * (at least n rows): its DDL and its first n rows.
 */
static void
ref_load(struct ref *r, const char *store_db, uint64_t n)
{
	sqlite3 *db;
	sqlite3_stmt *st, *q;
	char sql[512];

	if (sqlite3_open_v2(store_db, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("open store db", sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' AND "
	    "name NOT LIKE 'sqlite_%' ORDER BY rowid", -1, &st, NULL) != SQLITE_OK)
		die("schema", sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW && r->n < 16) {
		struct ref_table *t = &r->t[r->n];
		const char *name = (const char *)sqlite3_column_text(st, 0);
		uint64_t row = 0;

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", name);
		if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
			continue;	/* virtual tables and the like */
		if (sqlite3_step(q) != SQLITE_ROW || (uint64_t)sqlite3_column_int64(q, 0) < n) {
			sqlite3_finalize(q);
			continue;
		}
		sqlite3_finalize(q);
		t->name = strdup(name);

		/* The table first, then its indexes. */
		snprintf(sql, sizeof(sql), "SELECT sql FROM sqlite_master WHERE tbl_name=?1 AND "
		    "sql IS NOT NULL ORDER BY type='index', rowid");
		sqlite3_prepare_v2(db, sql, -1, &q, NULL);
		sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
		t->ddl = calloc(32, sizeof(*t->ddl));
		while (sqlite3_step(q) == SQLITE_ROW && t->nddl < 32)
			t->ddl[t->nddl++] = strdup((const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);

		snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY rowid LIMIT %llu", name,
		    (unsigned long long)n);
		if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
			/* WITHOUT ROWID */
			snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" LIMIT %llu", name,
			    (unsigned long long)n);
			if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
				die("read rows", sqlite3_errmsg(db));
		}
		t->ncols = sqlite3_column_count(q);
		t->vals = calloc(n * (uint64_t)t->ncols, sizeof(*t->vals));
		if (!t->vals)
			die("out of memory", NULL);
		while (sqlite3_step(q) == SQLITE_ROW) {
			for (int c = 0; c < t->ncols; c++) {
				t->vals[row * (uint64_t)t->ncols + (uint64_t)c] =
				    sqlite3_value_dup(sqlite3_column_value(q, c));
				r->bytes += (uint64_t)sqlite3_column_bytes(q, c);
			}
			row++;
		}
		t->rows = row;
		sqlite3_finalize(q);
		r->n++;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		r->page_size = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	if (r->n == 0)
		die("no table in the store holds a row per bundle", NULL);
}

/* "bundles+seen": the tables the reference fills. */
static const char *
ref_names(const struct ref *r)
{
	static char buf[256];
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < r->n && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? "+" : "",
		    r->t[i].name);
	return buf;
}

static void
ref_free(struct ref *r)
{
	for (int i = 0; i < r->n; i++) {
		struct ref_table *t = &r->t[i];

		for (uint64_t v = 0; v < t->rows * (uint64_t)t->ncols; v++)
			sqlite3_value_free(t->vals[v]);
		free(t->vals);
		for (int d = 0; d < t->nddl; d++)
			free(t->ddl[d]);
		free(t->ddl);
		free(t->name);
	}
}

/* Insert the loaded rows into a fresh database, REF_TXN bundles per
 * transaction, WAL, synchronous=FULL.  Returns seconds. */
static double
ref_insert(const struct ref *r, const char *path, uint64_t n)
{
	sqlite3_stmt *ins[16];
	sqlite3 *db;
	char sql[4096];
	double t0, secs;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("open reference db", sqlite3_errmsg(db));
	if (r->page_size) {
		snprintf(sql, sizeof(sql), "PRAGMA page_size=%d", r->page_size);
		exec_or_die(db, sql);
	}
	exec_or_die(db, "PRAGMA journal_mode=WAL");
	exec_or_die(db, "PRAGMA synchronous=FULL");
	for (int i = 0; i < r->n; i++) {
		const struct ref_table *t = &r->t[i];
		size_t off;

		for (int d = 0; d < t->nddl; d++)
			exec_or_die(db, t->ddl[d]);
		off = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO \"%s\" VALUES(", t->name);
		for (int c = 0; c < t->ncols && off < sizeof(sql) - 4; c++)
			off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s?", c ? "," : "");
		snprintf(sql + off, sizeof(sql) - off, ")");
		if (sqlite3_prepare_v2(db, sql, -1, &ins[i], NULL) != SQLITE_OK)
			die(sql, sqlite3_errmsg(db));
	}
	t0 = now_s();
	for (uint64_t b = 0; b < n; b += REF_TXN) {
		exec_or_die(db, "BEGIN");
		for (int i = 0; i < r->n; i++) {
			const struct ref_table *t = &r->t[i];

			for (uint64_t row = b; row < b + REF_TXN && row < t->rows; row++) {
				for (int c = 0; c < t->ncols; c++)
					sqlite3_bind_value(ins[i], c + 1,
					    t->vals[row * (uint64_t)t->ncols + (uint64_t)c]);
				if (sqlite3_step(ins[i]) != SQLITE_DONE)
					die("reference insert", sqlite3_errmsg(db));
				sqlite3_reset(ins[i]);
			}
		}
		exec_or_die(db, "COMMIT");
	}
	secs = now_s() - t0;
	for (int i = 0; i < r->n; i++)
		sqlite3_finalize(ins[i]);
	sqlite3_close(db);
	return secs;
}

/* ---- where we run ------------------------------------------------------- */

static const char *
fs_name(long type)
{
	switch ((unsigned long)type) {
	case 0xEF53: return "ext4";
	case 0x58465342: return "xfs";
	case 0x9123683E: return "btrfs";
	case 0x01021994: return "tmpfs";
	case 0x794c7630: return "overlayfs";
	case 0x2fc12fc1: return "zfs";
	case 0xF2F52010: return "f2fs";
	case 0x6969: return "nfs";
	default: return "unknown";
	}
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
rm_db(const char *path)
{
	char p[512];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static bool
verdict(double ratio, double target)
{
	return ratio >= target;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_store [-d DIR] [-n INGEST] [-f FILL] [-m MEASURE] "
	    "[-w WINDOW] [-r REPEAT]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *base = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/var/tmp";
	uint64_t n_ingest = 200000, n_fill = 500000, n_measure = 100000, window = 5000;
	char dir[256], db[300], refdb[300];
	struct statfs sfs;
	struct ref ref = { 0 };
	struct store *s;
	double t_store, t_ref, t_empty[9], t_full[9], ratios[9], sorted[9], r1, r2;
	char runs[128];
	size_t off;
	int repeat = 3, mid;
	bool ok = true;
	int c;

	while ((c = getopt(argc, argv, "d:n:f:m:w:r:")) != -1) {
		switch (c) {
		case 'd': base = optarg; break;
		case 'n': n_ingest = strtoull(optarg, NULL, 10); break;
		case 'f': n_fill = strtoull(optarg, NULL, 10); break;
		case 'm': n_measure = strtoull(optarg, NULL, 10); break;
		case 'w': window = strtoull(optarg, NULL, 10); break;
		case 'r': repeat = atoi(optarg); break;
		default: usage();
		}
	}
	if (!n_ingest || !n_measure || n_fill < n_measure || !window || repeat < 1 || repeat > 9)
		usage();
	snprintf(dir, sizeof(dir), "%s/fieldrelay-bench-XXXXXX", base);
	if (!mkdtemp(dir))
		die("mkdtemp", strerror(errno));
	if (statfs(dir, &sfs) != 0)
		die("statfs", strerror(errno));
	printf("bench_store: databases in %s on %s (fs magic 0x%lx), sqlite %s\n", dir,
	    fs_name((long)sfs.f_type), (unsigned long)sfs.f_type, sqlite3_libversion());
	if ((unsigned long)sfs.f_type == 0x01021994) {
		printf("bench_store: %s is tmpfs: fsync is free there, figures would mean "
		    "nothing; use -d or BENCH_DIR\n", dir);
		ok = false;
		goto out;
	}
	snprintf(db, sizeof(db), "%s/store.db", dir);
	snprintf(refdb, sizeof(refdb), "%s/reference.db", dir);

	/* (a) ingest of 200-byte bundles, then the same rows plainly. */
	s = open_store(db);
	t_store = feed(s, 0, n_ingest, window);
	store_free(s);
	ref_load(&ref, db, n_ingest);
	t_ref = ref_insert(&ref, refdb, n_ingest);
	r1 = t_ref / t_store;
	printf("bench store-ingest-200B: %.0f bundles/s (%llu, %llu in flight); reference "
	    "raw-sqlite FULL/WAL %d/txn: %.0f rows/s (the store's rows: %s; %.0f B/bundle); "
	    "ratio %.2f (target >= 0.50) %s\n", (double)n_ingest / t_store,
	    (unsigned long long)n_ingest, (unsigned long long)window, REF_TXN,
	    (double)n_ingest / t_ref, ref_names(&ref), (double)ref.bytes / (double)n_ingest,
	    r1, verdict(r1, 0.50) ? "PASS" : "FAIL");
	ok &= verdict(r1, 0.50);
	ref_free(&ref);
	rm_db(db);
	rm_db(refdb);
	fflush(stdout);

	/*
	 * (c) the same rate into an empty store and into one holding n_fill.
	 * Each run is short, so it is repeated on a fresh store and the median
	 * ratio counts: one disturbance on a shared machine should not decide.
	 */
	for (int i = 0; i < repeat; i++) {
		s = open_store(db);
		t_empty[i] = feed(s, 0, n_measure, window);
		feed(s, n_measure, n_fill - n_measure, window * 4);
		t_full[i] = feed(s, n_fill, n_measure, window);
		store_free(s);
		rm_db(db);
		ratios[i] = t_empty[i] / t_full[i];
	}
	memcpy(sorted, ratios, sizeof(sorted));
	qsort(sorted, (size_t)repeat, sizeof(sorted[0]), cmp_double);
	r2 = sorted[repeat / 2];
	for (mid = 0; ratios[mid] != r2; mid++)
		;
	off = 0;
	for (int i = 0; i < repeat; i++)
		off += (size_t)snprintf(runs + off, sizeof(runs) - off, " %.2f", ratios[i]);
	printf("bench store-ingest-full: %.0f bundles/s into a store holding %llu; empty store: "
	    "%.0f bundles/s; ratio %.2f (median of%s) (target >= 0.80) %s\n",
	    (double)n_measure / t_full[mid], (unsigned long long)n_fill,
	    (double)n_measure / t_empty[mid], r2, runs, verdict(r2, 0.80) ? "PASS" : "FAIL");
	ok &= verdict(r2, 0.80);
out:
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ok ? 0 : 1;
}
