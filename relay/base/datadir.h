/*
 * datadir.h - what start-up checks and takes before it touches the store:
 * a data directory other users cannot write to, and an exclusive lock on
 * it, so that one store has one daemon (issue 11 items 8 and 9).
 */
#ifndef FIELDRELAY_DATADIR_H
#define FIELDRELAY_DATADIR_H

#include <stddef.h>

/* The lock file in the data directory; it stays after the daemon exits. */
#define DATADIR_LOCK_NAME	"fieldrelayd.lock"

/*
 * May dir hold a store?  It must be a directory (or not exist yet: start-up
 * creates it) that other users cannot write to: anyone who can write there
 * can swap the database or its -wal under the daemon.  0, or -ENOTDIR,
 * -EPERM, or another -errno of stat(), with err saying why.  `fieldrelayd
 * -n` calls it too: it changes nothing.
 */
int datadir_check(const char *dir, char *err, size_t errlen);

/*
 * Take an exclusive lock (flock) on the lock file `path`, for `what` (the
 * thing it guards, for the message): the file descriptor, which the caller
 * keeps open for as long as it runs (the lock goes with the process, a kill
 * -9 included), or -EBUSY if another process holds it (err names it and, if
 * it wrote its pid, the pid), or another -errno.  The lock file is created
 * 0600 and holds the holder's pid.
 */
int datadir_lock(const char *path, const char *what, char *err, size_t errlen);

#endif
