/*
 * route.c - static, default and distance-vector routes; see route.h.
 *
 * Deployments are tens of nodes, so tables are small arrays searched
 * linearly: simple, bounded, and easy to read in a debugger.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

#define ROUTE_MAX_NEIGHBOURS	64
#define ROUTE_MAX_STATIC	64
#define ROUTE_CANDIDATES	4	/* routes kept per destination, best first */

struct neighbour {
	uint64_t node;
	unsigned link;
	uint32_t cost;
	bool up;
};

/* One way to reach a destination, as some neighbour advertised it. */
struct candidate {
	uint64_t via;
	unsigned link;
	uint32_t metric;		/* advertised + link cost, capped at infinity */
	uint64_t updated;		/* ms; when it went to infinity, if it did */
};

struct destination {
	uint64_t node;
	unsigned n;
	struct candidate c[ROUTE_CANDIDATES];
};

struct static_route {
	uint64_t dst, via;		/* dst 0: default route */
};

struct route_table {
	uint64_t self;
	struct neighbour nbr[ROUTE_MAX_NEIGHBOURS];
	unsigned n_nbr;
	struct destination *dst;	/* ROUTE_MAX_ENTRIES */
	unsigned n_dst;
	struct static_route st[ROUTE_MAX_STATIC];
	unsigned n_st;
	uint32_t refuse[ROUTE_MAX_LINKS];	/* per link: bit p = class p never goes on it */
};

struct route_table *
route_new(uint64_t self)
{
	struct route_table *rt;

	if ((rt = calloc(1, sizeof(*rt))) == NULL)
		return NULL;
	if ((rt->dst = calloc(ROUTE_MAX_ENTRIES, sizeof(*rt->dst))) == NULL) {
		free(rt);
		return NULL;
	}
	rt->self = self;
	return rt;
}

void
route_free(struct route_table *rt)
{
	if (rt == NULL)
		return;
	free(rt->dst);
	free(rt);
}

int
route_add_static(struct route_table *rt, uint64_t dst, uint64_t via)
{
	if (via == rt->self || via == 0 || dst == rt->self)
		return -EINVAL;
	if (rt->n_st == ROUTE_MAX_STATIC)
		return -ENOSPC;
	rt->st[rt->n_st].dst = dst;
	rt->st[rt->n_st].via = via;
	rt->n_st++;
	return 0;
}

static struct neighbour *
nbr_find(const struct route_table *rt, uint64_t node, unsigned link)
{
	for (unsigned i = 0; i < rt->n_nbr; i++)
		if (rt->nbr[i].node == node && rt->nbr[i].link == link)
			return (struct neighbour *)&rt->nbr[i];
	return NULL;
}

/* May link carry bundles of class prio (-1: any class)? */
static bool
carries(const struct route_table *rt, unsigned link, int prio)
{
	return prio < 0 || prio >= 32 || link >= ROUTE_MAX_LINKS || !(rt->refuse[link] & (1u << prio));
}

/* The cheapest up link to a neighbour that carries class prio, or NULL. */
static const struct neighbour *
nbr_best_for(const struct route_table *rt, uint64_t node, int prio)
{
	const struct neighbour *best = NULL;

	for (unsigned i = 0; i < rt->n_nbr; i++) {
		const struct neighbour *n = &rt->nbr[i];

		if (n->node == node && n->up && carries(rt, n->link, prio) && (best == NULL || n->cost < best->cost))
			best = n;
	}
	return best;
}

static const struct neighbour *
nbr_best(const struct route_table *rt, uint64_t node)
{
	return nbr_best_for(rt, node, -1);
}

static struct destination *
dst_find(const struct route_table *rt, uint64_t node)
{
	for (unsigned i = 0; i < rt->n_dst; i++)
		if (rt->dst[i].node == node)
			return &rt->dst[i];
	return NULL;
}

static struct destination *
dst_get(struct route_table *rt, uint64_t node)
{
	struct destination *d = dst_find(rt, node);

	if (d != NULL || rt->n_dst == ROUTE_MAX_ENTRIES)
		return d;
	d = &rt->dst[rt->n_dst++];
	memset(d, 0, sizeof(*d));
	d->node = node;
	return d;
}

static void
dst_remove(struct route_table *rt, struct destination *d)
{
	*d = rt->dst[--rt->n_dst];
}

static uint32_t
add_cost(uint32_t a, uint32_t b)
{
	uint64_t s = (uint64_t)a + b;

	return s >= ROUTE_INFINITY ? ROUTE_INFINITY : (uint32_t)s;
}

/* The best usable candidate: finite metric through a neighbour that is up, on a link carrying prio. */
static const struct candidate *
dst_best_for(const struct route_table *rt, const struct destination *d, int prio)
{
	const struct candidate *best = NULL;

	for (unsigned i = 0; i < d->n; i++) {
		const struct candidate *c = &d->c[i];
		const struct neighbour *n = nbr_find(rt, c->via, c->link);

		if (c->metric < ROUTE_INFINITY && n && n->up && carries(rt, c->link, prio) &&
		    (best == NULL || c->metric < best->metric))
			best = c;
	}
	return best;
}

static const struct candidate *
dst_best(const struct route_table *rt, const struct destination *d)
{
	return dst_best_for(rt, d, -1);
}

/* Record what neighbour (via, link) says about d; true if the best changed. */
static bool
dst_learn(struct route_table *rt, struct destination *d, uint64_t via, unsigned link,
    uint32_t metric, uint64_t now)
{
	const struct candidate *before = dst_best(rt, d);
	uint64_t old_via = before ? before->via : 0;
	uint32_t old_metric = before ? before->metric : ROUTE_INFINITY;
	struct candidate *c = NULL;
	const struct candidate *after;

	for (unsigned i = 0; i < d->n; i++)
		if (d->c[i].via == via && d->c[i].link == link)
			c = &d->c[i];
	if (c == NULL) {
		if (metric >= ROUTE_INFINITY)
			return false;	/* a withdrawal of something we never had */
		if (d->n < ROUTE_CANDIDATES) {
			c = &d->c[d->n++];
		} else {
			/* Full: replace the worst, if the newcomer is better. */
			c = &d->c[0];
			for (unsigned i = 1; i < d->n; i++)
				if (d->c[i].metric > c->metric)
					c = &d->c[i];
			if (c->metric <= metric)
				return false;
		}
		c->via = via;
		c->link = link;
	}
	if (c->metric != metric || metric < ROUTE_INFINITY)
		c->updated = now;
	c->metric = metric;
	after = dst_best(rt, d);
	return (after ? after->via : 0) != old_via ||
	    (after ? after->metric : ROUTE_INFINITY) != old_metric;
}

void
route_neighbour_up(struct route_table *rt, uint64_t nbr, unsigned link, uint32_t cost, uint64_t now)
{
	struct neighbour *n = nbr_find(rt, nbr, link);

	if (nbr == rt->self)
		return;
	if (n == NULL) {
		if (rt->n_nbr == ROUTE_MAX_NEIGHBOURS)
			return;
		n = &rt->nbr[rt->n_nbr++];
		n->node = nbr;
		n->link = link;
	}
	n->up = true;
	n->cost = cost ? cost : 1;
}

void
route_neighbour_down(struct route_table *rt, uint64_t nbr, unsigned link, uint64_t now)
{
	struct neighbour *n = nbr_find(rt, nbr, link);

	if (n == NULL || !n->up)
		return;
	n->up = false;
	/* Everything learned through it is unreachable that way until it returns. */
	for (unsigned i = 0; i < rt->n_dst; i++)
		for (unsigned j = 0; j < rt->dst[i].n; j++) {
			struct candidate *c = &rt->dst[i].c[j];

			if (c->via == nbr && c->link == link && c->metric < ROUTE_INFINITY) {
				c->metric = ROUTE_INFINITY;
				c->updated = now;
			}
		}
}

bool
route_update(struct route_table *rt, uint64_t nbr, unsigned link,
    const struct route_entry *v, size_t n, uint64_t now)
{
	const struct neighbour *nb = nbr_find(rt, nbr, link);
	bool changed = false;

	if (nb == NULL || !nb->up)
		return false;	/* only heard neighbours may teach us routes */
	for (size_t i = 0; i < n; i++) {
		struct destination *d;

		if (v[i].node == rt->self || v[i].node == nbr || v[i].node == 0)
			continue;	/* ourselves, or the neighbour itself: we know better */
		if ((d = v[i].cost >= ROUTE_INFINITY ? dst_find(rt, v[i].node) : dst_get(rt, v[i].node)) == NULL)
			continue;
		changed |= dst_learn(rt, d, nbr, link, add_cost(v[i].cost, nb->cost), now);
	}
	return changed;
}

bool
route_expire(struct route_table *rt, uint64_t now)
{
	bool changed = false;

	for (unsigned i = 0; i < rt->n_dst;) {
		struct destination *d = &rt->dst[i];

		for (unsigned j = 0; j < d->n;) {
			struct candidate *c = &d->c[j];

			if (c->updated + ROUTE_HOLD_MS > now) {
				j++;
			} else if (c->metric < ROUTE_INFINITY) {
				/* Not refreshed: unreachable now, forgotten one hold time later. */
				c->metric = ROUTE_INFINITY;
				c->updated = now;
				changed = true;
				j++;
			} else {
				*c = d->c[--d->n];
			}
		}
		if (d->n == 0)
			dst_remove(rt, d);
		else
			i++;
	}
	return changed;
}

/* Append node at cost unless it is `to` or already listed. */
static size_t
adv_add(struct route_entry *out, size_t n, size_t cap, uint64_t to, uint64_t node, uint32_t cost)
{
	if (node == to || n >= cap)
		return n;
	for (size_t k = 0; k < n; k++)
		if (out[k].node == node)
			return n;
	out[n] = (struct route_entry){ .node = node, .cost = cost };
	return n + 1;
}

/* What we tell `to` about dst: our cost, or infinity if we have no way
 * there or our way goes through `to` (poisoned reverse). */
static uint32_t
adv_cost(const struct route_table *rt, uint64_t dst, uint64_t to)
{
	const struct neighbour *nb = nbr_best(rt, dst);
	const struct destination *d = dst_find(rt, dst);
	const struct candidate *c = d ? dst_best(rt, d) : NULL;

	if (nb && (c == NULL || nb->cost <= c->metric))
		return nb->cost;
	if (c && c->via != to)
		return c->metric;
	return ROUTE_INFINITY;
}

size_t
route_advertise(const struct route_table *rt, uint64_t to, struct route_entry *out, size_t cap)
{
	size_t n = adv_add(out, 0, cap, to, rt->self, 0);

	/* Lost neighbours are listed too, at infinity: that is how the loss spreads. */
	for (unsigned i = 0; i < rt->n_nbr; i++)
		n = adv_add(out, n, cap, to, rt->nbr[i].node, adv_cost(rt, rt->nbr[i].node, to));
	for (unsigned i = 0; i < rt->n_dst; i++)
		n = adv_add(out, n, cap, to, rt->dst[i].node, adv_cost(rt, rt->dst[i].node, to));
	return n;
}

static bool
static_lookup(const struct route_table *rt, uint64_t dst, int kind, int prio, struct route_hop *hop)
{
	for (unsigned i = 0; i < rt->n_st; i++) {
		const struct neighbour *nb;

		if (rt->st[i].dst != dst || (nb = nbr_best_for(rt, rt->st[i].via, prio)) == NULL)
			continue;
		hop->via = nb->node;
		hop->link = nb->link;
		hop->cost = nb->cost;
		hop->kind = kind;
		return true;
	}
	return false;
}

void
route_set_link_classes(struct route_table *rt, unsigned link, uint32_t refuse)
{
	if (link < ROUTE_MAX_LINKS)
		rt->refuse[link] = refuse;
}

bool
route_lookup(const struct route_table *rt, uint64_t dst, struct route_hop *hop)
{
	return route_lookup_class(rt, dst, -1, hop);
}

bool
route_lookup_class(const struct route_table *rt, uint64_t dst, int prio, struct route_hop *hop)
{
	const struct neighbour *nb = nbr_best_for(rt, dst, prio);
	const struct destination *d = dst_find(rt, dst);
	const struct candidate *c = d ? dst_best_for(rt, d, prio) : NULL;

	memset(hop, 0, sizeof(*hop));
	if (dst == rt->self)
		return false;
	if (nb && (c == NULL || nb->cost <= c->metric)) {
		*hop = (struct route_hop){ .via = nb->node, .link = nb->link, .cost = nb->cost,
		    .kind = ROUTE_DIRECT };
		return true;
	}
	if (c) {
		*hop = (struct route_hop){ .via = c->via, .link = c->link, .cost = c->metric,
		    .kind = ROUTE_LEARNED };
		return true;
	}
	return static_lookup(rt, dst, ROUTE_STATIC, prio, hop) ||
	    static_lookup(rt, 0, ROUTE_DEFAULT, prio, hop);
}

void
route_walk(const struct route_table *rt, route_walk_fn *fn, void *arg)
{
	struct route_hop hop;

	for (unsigned i = 0; i < rt->n_nbr; i++)
		if (nbr_best(rt, rt->nbr[i].node) == &rt->nbr[i] && route_lookup(rt, rt->nbr[i].node, &hop))
			fn(arg, rt->nbr[i].node, &hop);
	for (unsigned i = 0; i < rt->n_dst; i++) {
		if (nbr_best(rt, rt->dst[i].node))
			continue;	/* listed above */
		if (route_lookup(rt, rt->dst[i].node, &hop))
			fn(arg, rt->dst[i].node, &hop);
		else
			fn(arg, rt->dst[i].node, NULL);
	}
	for (unsigned i = 0; i < rt->n_st; i++)
		if (rt->st[i].dst != 0 && !nbr_best(rt, rt->st[i].dst) && !dst_find(rt, rt->st[i].dst))
			fn(arg, rt->st[i].dst, route_lookup(rt, rt->st[i].dst, &hop) ? &hop : NULL);
}

uint32_t
route_link_cost(uint64_t rate_bps, double loss, uint32_t rtt_ms)
{
	double cost, deliver;

	if (rate_bps == 0)
		rate_bps = 1200;	/* unknown: assume the slowest radio we carry */
	if (loss < 0)
		loss = 0;
	if (loss > 0.9)
		loss = 0.9;
	deliver = 1.0 - loss;
	/*
	 * Expected transmissions (ETX ~ 1/delivery for data and ack) times the
	 * time a 1 KB frame takes relative to a 1 Mbit/s link, plus the round
	 * trip: a 1200 bit/s radio hop costs as much as ~29 fast mesh hops.
	 */
	cost = 256.0 / (deliver * deliver) * sqrt(1e6 / (double)rate_bps) + rtt_ms / 4.0;
	if (cost < 1)
		cost = 1;
	if (cost >= ROUTE_INFINITY - 1)
		cost = ROUTE_INFINITY - 1;
	return (uint32_t)cost;
}
