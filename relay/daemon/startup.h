/*
 * startup.h - what start-up needs from the system, checked without changing
 * anything: `fieldrelayd -n` and start-up run the same checks, so that a
 * config that passes -n does not stop the daemon at start (a key file that
 * is missing or readable by others, a data_dir files cannot be made in).
 */
#ifndef FIELDRELAY_STARTUP_H
#define FIELDRELAY_STARTUP_H

#include <stddef.h>

struct config;

/*
 * Check that the data directory exists or can be made and takes files, that
 * the store file and the control socket can be made or opened where the
 * config puts them, that [node] user and [control] group exist, that the
 * network key file loads (links only) and that the links' interfaces exist.
 * Takes no lock, binds no socket and leaves the store alone.  Returns 0, or
 * -EINVAL with every problem as a "file:line: message" line in err.
 */
int startup_check(const struct config *cfg, char *err, size_t errlen);

#endif
