/*
 * forward.h - moving stored bundles toward their destinations (DESIGN.md
 * sections 4 and 5): its route table, and the walk over queued bundles that
 * hands each one to the next hop's link (the links are relay/daemon/links.c's).
 *
 * A bundle leaves the store only when the next hop's COMMIT_ACK says it is
 * durable there.  Bundles with no route stay queued and go as soon as a
 * neighbour or a route appears.
 */
#ifndef FIELDRELAY_FORWARD_H
#define FIELDRELAY_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "link.h"
#include "netlink.h"
#include "route.h"

struct forward;
struct links;
struct node;
struct loop;

/*
 * Forward over the links of ls (relay/daemon/links.h), which it opens with
 * its events and closes again in forward_free(); ls outlives it.
 */
struct forward *forward_new(struct node *n, struct links *ls, struct loop *l, char *err, size_t errlen);
void forward_free(struct forward *fw);

/* One link as the CLI shows it. */
struct forward_link_info {
	const char *name, *kind;
	const char *ifname;		/* "": bound to no interface */
	struct link_metrics m;
	int wireless_rc;		/* netlink_wireless(); meaningless without ifname */
	struct netlink_wireless w;	/* nl80211 station info, when wireless_rc is 0 */
};

/* Walks for the CLI (neighbors, links, routes). */
typedef void forward_link_fn(void *arg, const struct forward_link_info *li);
void forward_links(const struct forward *fw, forward_link_fn *fn, void *arg);
typedef void forward_nbr_fn(void *arg, const char *link, uint64_t node, const char *addr, uint32_t cost);
void forward_neighbours(const struct forward *fw, forward_nbr_fn *fn, void *arg);
void forward_routes(const struct forward *fw, route_walk_fn *fn, void *arg);
const char *forward_link_name(const struct forward *fw, unsigned link);
/* Bundles handed to links and not yet committed by the next hop. */
unsigned forward_in_flight(const struct forward *fw);

/* What went where since start-up (`fieldrelay links`). */
struct forward_counters {
	uint64_t handed;		/* bundles a next hop committed */
	uint64_t flood_sent;		/* copies of flood bundles handed to links */
	uint64_t flood_handed;		/* ... that the neighbour committed */
	uint64_t flood_scanned;		/* flood bundles the walk looked at */
	uint64_t duplicates;		/* bundles from links that were here already */
};
void forward_counters(const struct forward *fw, struct forward_counters *c);

#endif
