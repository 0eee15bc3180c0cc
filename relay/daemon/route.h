/*
 * route.h - where a bundle goes next (DESIGN.md section 5).
 *
 * Routes across *different* links (mesh, radio, satellite), where no IP
 * routing exists: static routes and a default route (toward the command
 * center) from the config, plus a small distance-vector exchange of reachable
 * nodes with link costs, RIP-shaped: split horizon with poisoned reverse,
 * triggered updates, a finite infinity, and hold-down when a neighbour goes.
 * Pure logic, no I/O: the link layer feeds neighbour events and received
 * vectors in and sends what route_advertise() returns.
 *
 * The lookup prefers, in order: the destination itself as an up neighbour;
 * the cheapest learned route through an up neighbour; a static route whose
 * next hop is up; the default route if its next hop is up.  With none of
 * these the bundle waits in the store: a DTN node keeps it until a contact
 * appears.
 */
#ifndef FIELDRELAY_ROUTE_H
#define FIELDRELAY_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link.h"		/* struct route_entry, ROUTE_INFINITY, ROUTE_HOLD_MS */

#define ROUTE_MAX_ENTRIES	1024	/* destinations we keep (bounded memory) */
#define ROUTE_MAX_LINKS		32	/* links whose classes can be restricted */

struct route_table;

enum route_kind { ROUTE_NONE = 0, ROUTE_DIRECT, ROUTE_LEARNED, ROUTE_STATIC, ROUTE_DEFAULT };

/* The answer of a lookup. */
struct route_hop {
	uint64_t via;			/* neighbour node to hand the bundle to */
	unsigned link;			/* link index the neighbour was heard on */
	uint32_t cost;
	int kind;			/* enum route_kind */
};

struct route_table *route_new(uint64_t self);
void route_free(struct route_table *rt);

/* Config: dst 0 = the default route.  0, -EINVAL (via self), -ENOSPC. */
int route_add_static(struct route_table *rt, uint64_t dst, uint64_t via);

/* A neighbour heard (or still heard) on a link at cost, or lost. */
void route_neighbour_up(struct route_table *rt, uint64_t nbr, unsigned link, uint32_t cost, uint64_t now_ms);
void route_neighbour_down(struct route_table *rt, uint64_t nbr, unsigned link, uint64_t now_ms);

/*
 * A distance vector from neighbour nbr heard on link.  Returns true if our
 * table changed (send a triggered update).
 */
bool route_update(struct route_table *rt, uint64_t nbr, unsigned link,
    const struct route_entry *v, size_t n, uint64_t now_ms);

/* Forget learned routes not refreshed for ROUTE_HOLD_MS.  true if changed. */
bool route_expire(struct route_table *rt, uint64_t now_ms);

/*
 * Our vector for neighbour `to`: ourselves at cost 0 and every reachable
 * destination, routes through `to` poisoned (split horizon).  Returns the
 * number of entries written (at most cap).
 */
size_t route_advertise(const struct route_table *rt, uint64_t to, struct route_entry *out, size_t cap);

/* Best next hop for dst; false if none is up (the bundle waits). */
bool route_lookup(const struct route_table *rt, uint64_t dst, struct route_hop *hop);
/*
 * Classes a link does not carry (config `classes`): bit p set = a bundle of
 * priority class p never goes on it (bulk waits for a cheap link rather
 * than take a radio or a metered one).  Default: every class.
 */
void route_set_link_classes(struct route_table *rt, unsigned link, uint32_t refuse);
/*
 * As route_lookup, for a bundle of class prio (-1: any): only next hops on
 * links that carry it.  Among those, the cheapest (route_link_cost: rate and
 * loss), so an urgent bundle takes the fast mesh while it is up and the
 * radio to the same neighbour as soon as the mesh neighbour is down.
 * Distance vectors are not per class: a learned route may end, further on,
 * on a link that refuses the class; there it waits.
 */
bool route_lookup_class(const struct route_table *rt, uint64_t dst, int prio, struct route_hop *hop);

/* Walk every destination we know (CLI `routes`). */
typedef void route_walk_fn(void *arg, uint64_t dst, const struct route_hop *best);
void route_walk(const struct route_table *rt, route_walk_fn *fn, void *arg);

/*
 * Link cost from its metrics, in the babel/ETX spirit: 256 for a perfect
 * 1 Mbit/s link, higher for slower or lossier ones.  loss in 0..1.
 */
uint32_t route_link_cost(uint64_t rate_bps, double loss, uint32_t rtt_ms);

#endif
