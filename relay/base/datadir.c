/*
 * datadir.c - the data directory's checks and lock; see datadir.h.
 *
 * Why a lock and not the control socket's liveness probe: two daemons with
 * different sockets but one data_dir both opened the store and handed the
 * same bundles to two applications.  flock() goes with the open file, so a
 * daemon killed with -9 leaves nothing to clean up, and the lock file is
 * never removed (unlinking it would let a third daemon lock a new file
 * while the second still holds the old one).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datadir.h"

int
datadir_check(const char *dir, char *err, size_t errlen)
{
	struct stat sb;

	if (stat(dir, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "data_dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "data_dir %s: not a directory", dir);
		return -ENOTDIR;
	}
	if (sb.st_mode & S_IWOTH) {
		snprintf(err, errlen, "data_dir %s is writable by other users (mode %04o): any local user could"
		    " replace the store; chmod o-w %s", dir, (unsigned)(sb.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

/* The pid the holder wrote into the lock file, 0 if none. */
static long
holder_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	char *end;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return pid > 0 && (*end == '\n' || *end == '\0') ? pid : 0;
}

int
datadir_lock(const char *path, const char *what, char *err, size_t errlen)
{
	char pid[32];
	long holder;
	int fd, e, n;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		e = errno;
		snprintf(err, errlen, "%s: cannot open the lock file %s: %s", what, path, strerror(e));
		return -e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		if (e == EWOULDBLOCK) {
			holder = holder_pid(fd);
			if (holder)
				snprintf(err, errlen, "%s is in use by another fieldrelayd (pid %ld, lock %s):"
				    " one daemon per store", what, holder, path);
			else
				snprintf(err, errlen, "%s is in use by another fieldrelayd (lock %s):"
				    " one daemon per store", what, path);
			e = EBUSY;
		} else {
			snprintf(err, errlen, "%s: cannot lock %s: %s", what, path, strerror(e));
		}
		close(fd);
		return -e;
	}
	/* For the message of the next one; the lock itself is what counts. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		/* A full disk: the lock holds all the same. */
	}
	return fd;
}
