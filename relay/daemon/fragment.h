/*
 * fragment.h - BPv7 fragmentation and reassembly (RFC 9171 section 5.8).
 *
 * A bundle bigger than a link's limit ([link] fragment = SIZE) is replaced in
 * the store by fragments of at most that many payload bytes each.  Every
 * fragment is a bundle of its own: stored, forwarded and acknowledged hop by
 * hop on its own, so a transfer cut half way resumes with the first fragment
 * the next hop has not committed, not from byte 0.  Relays forward fragments
 * as they are (and split them further if a later link needs it); only the
 * destination puts them back together, in state STORE_FRAGMENT until the
 * last piece is there.
 *
 * Payload bytes never pass through memory as a whole: the bundle is copied
 * into an unlinked file in the data directory and the store streams the
 * pieces from there.
 */
#ifndef FIELDRELAY_FRAGMENT_H
#define FIELDRELAY_FRAGMENT_H

#include <stdint.h>

#include "store.h"

/*
 * What fragmentation needs of the node it works for (node.c fills it in):
 * the store, the data directory for reassembly files, and the way in for a
 * reassembled bundle (checked and stored as if it came from a link; done
 * runs with 0 once it is durable, or an error).  It keeps no node pointer, so
 * node.c may call it without the two including each other.
 */
typedef void fragment_recv_fn(void *arg, int result);
struct fragment_host {
	struct store *store;
	const char *data_dir;
	int (*receive)(void *arg, int fd, uint64_t total, fragment_recv_fn *done, void *done_arg,
	    const char **why);
	void *arg;
};

/*
 * result: 0 the stored bundle e was replaced by its fragments (it is gone,
 * they are queued); -EPERM it must not be fragmented (its flags say so, or
 * its payload is not bigger than limit): send it whole; other -errno: nothing
 * changed (quota, disk full, I/O).
 */
typedef void fragment_done_fn(void *arg, int result);

/* Split e into pieces of at most limit payload bytes.  Returns 0 if under
 * way (fn will run), else -errno and fn will not run. */
int fragment_split(const struct fragment_host *h, const struct store_entry *e, uint64_t limit, fragment_done_fn *fn, void *arg);

/*
 * A fragment addressed to us became durable (id: its bundle id).  If every
 * byte of its bundle is here now, rebuild the bundle for its service and
 * delete the fragments.  Also run at start-up over what waits
 * (fragment_resume), since a power cut may come between the two steps.
 */
void fragment_arrived(const struct fragment_host *h, const char *id);
void fragment_resume(const struct fragment_host *h);

#endif
