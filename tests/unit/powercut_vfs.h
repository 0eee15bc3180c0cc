/*
 * powercut_vfs.h - a SQLite test VFS that simulates sudden power loss
 * (DESIGN.md section 7: "power loss is tested, not assumed").
 *
 * "powercut" wraps the default (unix) VFS.  Every write and truncate that has
 * not yet been made durable by an xSync of that file is held in an in-memory
 * overlay per file, shared by every handle of the same path the way the page
 * cache is; reads and sizes see it.  xSync applies the file's pending changes
 * to the real file, then syncs it.  powercut_cut() throws all pending changes
 * away; from then on every open, read, write, truncate, sync and delete on
 * this VFS fails with an I/O error, so nothing after the cut reaches the disk.
 *
 * What is on disk after a cut is exactly what a machine that lost power right
 * then could have kept if its disk wrote nothing it was not told to sync
 * (powercut_cut_torn() also keeps a random part of the unsynced writes).
 *
 * After the cut: close every connection, powercut_remove_shm() for each
 * database, powercut_reset(), then reopen with the default VFS.
 */
#ifndef FIELDRELAY_POWERCUT_VFS_H
#define FIELDRELAY_POWERCUT_VFS_H

#include <stdbool.h>
#include <stdint.h>

#define POWERCUT_VFS_NAME "powercut"

/* Register the VFS (not as the default).  Idempotent.  0 or -EIO. */
int powercut_register(void);

/* Cut the power now: pending writes of every file are discarded. */
void powercut_cut(void);

/*
 * Cut the power now, but first let a random part (seeded) of the pending
 * writes reach the disk, in 4 KiB pieces, in no particular order: what a
 * real disk may do with writes it was never asked to sync.
 */
void powercut_cut_torn(unsigned seed);

/*
 * Cut the power from inside the n-th xSync from now (n >= 1), before that
 * sync applies anything: the writer is caught with a commit half done.
 * torn: keep a random part of the unsynced writes, as powercut_cut_torn()
 * with that seed.  n = 0 disarms.
 */
void powercut_cut_at_sync(unsigned n, bool torn, unsigned seed);

bool powercut_is_cut(void);

/*
 * Power back on: forget every file's overlay and allow I/O again.  No file of
 * this VFS may still be open.
 */
void powercut_reset(void);

/* Delete "<db>-shm" (the wal-index is rebuilt from the WAL on recovery). */
int powercut_remove_shm(const char *db_path);

struct powercut_stats {
	uint64_t writes, syncs, truncates;	/* calls since the last reset */
	uint64_t pending_bytes;			/* in overlays right now */
	uint64_t dropped_bytes;			/* thrown away by the last cut */
	uint64_t failed_after_cut;		/* I/O calls refused after the cut */
};
void powercut_stats(struct powercut_stats *st);

#endif
