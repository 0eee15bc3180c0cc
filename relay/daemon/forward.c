/*
 * forward.c - routes and the walk over queued bundles; see forward.h.
 *
 * The walk goes through queued bundles most urgent first, a bounded batch
 * per tick, and hands each routable one to its next hop's link.  A bundle is
 * "in flight" from then until the next hop commits it (delete here) or the
 * link gives it back (neighbour gone, refused): then a later walk tries again,
 * possibly over another link.
 *
 * Bundles for every node (ipn:0.SERVICE, the broadcast services) have a
 * walk of their own, see "flooding" below.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "fragment.h"
#include "frame.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "report.h"
#include "store.h"

#define WALK_BATCH		256	/* bundles looked at per tick */
#define WALK_FETCH		64	/* bundles read from the store at once */
#define WALK_IDLE_MS		10000	/* a pass even when nothing happened (missed kicks) */
#define ROUTE_INTERVAL_MS	2000	/* distance vector to every neighbour */
#define IN_FLIGHT_MAX		256	/* bundles handed to links at once: enough to fill
					 * the windows, few enough that the per-transfer
					 * bookkeeping stays cheap */
#define FLOOD_IDLE_MS		60000	/* kicks cover flooding; this only backs them up */
#define FLOOD_HOLDERS_MAX	128	/* holders looked at per bundle; beyond, a neighbour
					 * may be offered a copy it has (it says so) */

#define FLIGHT_BUCKETS		512	/* rowid hash: the walk asks about every row it passes */

struct flight {
	struct forward *fw;
	int64_t rowid;
	unsigned link;
	uint64_t nbr;
	uint64_t size;
	int prio;
	uint64_t flags;			/* the bundle's BF_* (status reports) */
	bool flood;			/* one copy of a flood bundle, to nbr */
	bool used;
	bool splitting;			/* being replaced by fragments (relay/daemon/fragment.c) */
	int next;			/* hash chain, or free list; -1 ends */
};

struct forward {
	struct node *node;
	struct loop *loop;
	struct links *ls;		/* the links, their keys and interfaces (relay/daemon/links.c) */
	struct route_table *rt;
	struct flight *flight;		/* IN_FLIGHT_MAX slots; links hold pointers to them */
	int flight_hash[FLIGHT_BUCKETS];
	int flight_free;
	unsigned n_flight;
	struct store_queued fetched[WALK_FETCH];
	int cursor_prio;		/* where the walk goes on */
	int64_t cursor_rowid;
	bool walking;			/* a pass is under way */
	bool dirty;			/* something changed since the pass began */
	unsigned n_up;			/* neighbours up, over all links */
	struct loop_timer walk_timer, route_timer;
	/* The flood walk, shaped like the other. */
	int flood_prio;
	int64_t flood_rowid;
	bool flood_walking, flood_dirty;
	bool flood_starved;		/* the pass paused for want of a free slot */
	bool flood_full;		/* the next pass must look at every flood bundle */
	int64_t flood_floor;		/* rowids up to this were offered to every neighbour up */
	int64_t pass_floor, pass_top;	/* of the pass under way */
	struct loop_timer flood_timer;
	struct forward_counters count;
	struct log_ratelimit rl;
	uint32_t refuse[CONFIG_MAX_LINKS];	/* classes each link carries not (config, or all: closed) */
};

static unsigned
link_index(const struct forward *fw, const struct link *l)
{
	unsigned i = links_index(fw->ls, l);

	return i < links_count(fw->ls) ? i : 0;
}

static struct link *
link_at(const struct forward *fw, unsigned i)
{
	return links_link(fw->ls, i);
}

static unsigned
flight_bucket(int64_t rowid)
{
	return (unsigned)((uint64_t)rowid * 0x9e3779b97f4a7c15ull >> 55) & (FLIGHT_BUCKETS - 1);
}

static void
flight_init(struct forward *fw)
{
	for (unsigned i = 0; i < FLIGHT_BUCKETS; i++)
		fw->flight_hash[i] = -1;
	for (int i = 0; i < IN_FLIGHT_MAX; i++)
		fw->flight[i].next = i + 1 < IN_FLIGHT_MAX ? i + 1 : -1;
	fw->flight_free = 0;
}

/* The slot of rowid if it is in flight. */
static struct flight *
flight_find(struct forward *fw, int64_t rowid)
{
	for (int i = fw->flight_hash[flight_bucket(rowid)]; i >= 0; i = fw->flight[i].next)
		if (fw->flight[i].rowid == rowid)
			return &fw->flight[i];
	return NULL;
}

/*
 * A free slot for rowid, or NULL if IN_FLIGHT_MAX are in flight or a newer
 * bundle superseded it.  The row is pinned while in flight: a supersede
 * leaves it alone until the link is done with it (store_pin()).
 */
static struct flight *
flight_start(struct forward *fw, int64_t rowid, unsigned link, uint64_t nbr)
{
	unsigned h = flight_bucket(rowid);
	struct flight *f;
	int i = fw->flight_free;

	if (i < 0 || store_pin(node_store(fw->node), rowid) < 0)
		return NULL;
	f = &fw->flight[i];
	fw->flight_free = f->next;
	*f = (struct flight){ .fw = fw, .rowid = rowid, .link = link, .nbr = nbr, .used = true,
	    .next = fw->flight_hash[h] };
	fw->flight_hash[h] = i;
	fw->n_flight++;
	return f;
}

static void
flight_end(struct forward *fw, struct flight *f)
{
	int i = (int)(f - fw->flight), *p = &fw->flight_hash[flight_bucket(f->rowid)];

	if (!f->used)
		return;
	while (*p != i)
		p = &fw->flight[*p].next;
	*p = f->next;
	f->used = false;
	store_unpin(node_store(fw->node), f->rowid);
	f->next = fw->flight_free;
	fw->flight_free = i;
	fw->n_flight--;
}

static void forward_walk(struct loop *l, void *arg);
static void forward_kick(void *arg);
static void slot_freed(struct forward *fw);

/* The bundle of f is fragments now (they are queued: a kick finds them), or must go whole. */
static void
on_split(void *arg, int result)
{
	struct flight *f = arg;
	struct forward *fw = f->fw;

	f->splitting = false;
	if (result == -EPERM && link_enqueue(link_at(fw, f->link), f->nbr, f->size, f->prio, f) == 0)
		return;
	flight_end(fw, f);
	slot_freed(fw);
}

/* Hand the bundle of f to its link, or first split it if the link says it is too big. */
static int
flight_go(struct forward *fw, struct flight *f, const struct store_queued *q)
{
	uint64_t limit = node_config(fw->node)->links[f->link].fragment;
	struct store_entry e;

	f->size = q->size;
	f->prio = q->priority;
	f->flags = q->flags;
	if (limit != 0 && q->size > limit && store_get(node_store(fw->node), q->rowid, &e) == 0 &&
	    e.payload_len > limit) {
		f->splitting = true;
		if (fragment_split(node_fragments(fw->node), &e, limit, on_split, f) == 0)
			return 0;
		f->splitting = false;	/* cannot split now: it goes whole */
	}
	return link_enqueue(link_at(fw, f->link), f->nbr, q->size, q->priority, f);
}
static void flood_kick(void *arg);

/*
 * Something changed (a new bundle, a neighbour, a route, a free slot): make
 * sure a pass over the queue starts, or that the pass under way is followed
 * by another one.  A kick never restarts a pass in the middle: with bundles
 * arriving all the time, that would never reach the ones further down.
 */
static void stored_kick(void *arg, int kind, uint64_t service);

static void
forward_kick(void *arg)
{
	struct forward *fw = arg;

	fw->dirty = true;
	if (!fw->walking)
		loop_timer_set(fw->loop, &fw->walk_timer, 0, forward_walk, fw);
}

/*
 * One batch of a pass over the queued bundles, most urgent first.  Passes
 * run only while some neighbour is up (nothing is routable otherwise) and
 * when something changed, plus one every WALK_IDLE_MS: a relay with
 * thousands of bundles waiting for a path must not spin through them.
 */
static void
forward_walk(struct loop *l, void *arg)
{
	struct forward *fw = arg;
	struct store *st = node_store(fw->node);
	struct route_hop hop;
	int r = 0, n = 0, k = 0;

	if (!fw->walking) {
		fw->walking = true;
		fw->dirty = false;
		fw->cursor_prio = 0;
		fw->cursor_rowid = 0;
	}
	if (fw->n_up == 0 || fw->n_flight >= IN_FLIGHT_MAX) {
		/* Nothing can go, or the links have enough: a kick wakes us. */
		fw->walking = false;
		loop_timer_set(l, &fw->walk_timer, WALK_IDLE_MS, forward_walk, fw);
		return;
	}
	/* Rows fetched are used within this tick only: by the next one they may be gone. */
	for (int i = 0; i < WALK_BATCH && fw->n_flight < IN_FLIGHT_MAX; i++) {
		const struct store_queued *e;
		struct flight *f;

		if (k == n) {
			if ((n = store_queued_batch(st, fw->cursor_prio, fw->cursor_rowid, fw->fetched,
			    WALK_FETCH)) <= 0) {
				r = n < 0 ? n : -ENOENT;
				break;
			}
			k = 0;
		}
		e = &fw->fetched[k++];
		fw->cursor_prio = e->priority;
		fw->cursor_rowid = e->rowid;
		if (flight_find(fw, e->rowid) != NULL)
			continue;	/* already on its way */
		/* The cheapest link that carries its class: bulk waits for one, urgent takes any. */
		if (e->dst_node == 0 || !route_lookup_class(fw->rt, e->dst_node, e->priority, &hop))
			continue;	/* no route: it waits */
		if ((f = flight_start(fw, e->rowid, hop.link, hop.via)) == NULL) {
			if (fw->n_flight < IN_FLIGHT_MAX)
				continue;	/* superseded meanwhile */
			break;
		}
		if (flight_go(fw, f, e) < 0)
			flight_end(fw, f);
	}
	if (r == 0 && fw->n_flight < IN_FLIGHT_MAX) {
		loop_timer_set(l, &fw->walk_timer, 1, forward_walk, fw);	/* the pass goes on */
		return;
	}
	fw->walking = false;
	loop_timer_set(l, &fw->walk_timer, fw->dirty && r == -ENOENT ? 1 : WALK_IDLE_MS, forward_walk, fw);
}

/* ---- link events ---- */

static void
on_neighbour(void *arg, struct link *l, uint64_t nbr, bool up)
{
	struct forward *fw = arg;
	unsigned li = link_index(fw, l);

	fw->n_up += up ? 1 : -1;
	if (up) {
		route_neighbour_up(fw->rt, nbr, li, route_link_cost(node_config(fw->node)->links[li].conf.rate_bps,
		    0, 0), loop_now());
		fw->flood_full = true;	/* a data mule: whatever it lacks goes now */
		flood_kick(fw);
	} else {
		route_neighbour_down(fw->rt, nbr, li, loop_now());
	}
	links_route_changed(fw->ls, li, nbr);
	forward_kick(fw);
}

struct commit {
	struct forward *fw;
	struct link *link;
	uint64_t nbr, xid;
};

static void
on_stored(void *arg, int result)
{
	struct commit *c = arg;

	if (result == -EEXIST)
		c->fw->count.duplicates++;
	if (result == 0 || result == -EEXIST)
		link_committed(c->link, c->nbr, c->xid);
	else
		link_refused(c->link, c->nbr, c->xid, ABORT_REFUSED_QUOTA);
	free(c);
}

static void
on_bundle(void *arg, struct link *l, uint64_t nbr, uint64_t xid, int fd, const uint8_t *mem, uint64_t total)
{
	struct forward *fw = arg;
	struct commit *c = malloc(sizeof(*c));
	const char *why;
	int r;

	if (c == NULL) {
		link_refused(l, nbr, xid, ABORT_REFUSED_QUOTA);
		return;
	}
	*c = (struct commit){ .fw = fw, .link = l, .nbr = nbr, .xid = xid };
	if ((r = node_receive(fw->node, fd, mem, total, nbr, on_stored, c, &why)) == 0)
		return;
	free(c);
	if (r == -ELOOP || r == -ETIME) {
		link_committed(l, nbr, xid);	/* dropped on purpose: the sender may let go */
	} else {
		log_limited(&fw->rl, "link %s: bundle from ipn:%llu refused: %s", link_name(l),
		    (unsigned long long)nbr, why ? why : strerror(-r));
		link_refused(l, nbr, xid, r == -EBADMSG ? ABORT_BAD_BUNDLE : ABORT_REFUSED_QUOTA);
	}
}

struct deletion {
	struct forward *fw;
	struct flight *f;
};

static void flood_walk(struct loop *l, void *arg);

/* A slot is free: the walks that may have stopped for want of one go on. */
static void
slot_freed(struct forward *fw)
{
	forward_kick(fw);
	if (fw->flood_starved) {
		fw->flood_starved = false;
		loop_timer_set(fw->loop, &fw->flood_timer, 0, flood_walk, fw);
	}
}

static void flood_delivered(struct forward *fw, struct flight *f);

static void
deleted(void *arg, int result, int64_t rowid)
{
	struct deletion *d = arg;

	if (result < 0 && result != -ENOENT)
		log_limited(&d->fw->rl, "store: cannot delete forwarded bundle %lld: %s (its next hop has it:"
		    " not sent again, the delete is retried)", (long long)rowid, store_strerror(result));
	/* Only now may the walk see the row gone; until then the slot keeps it from going twice. */
	flight_end(d->fw, d->f);
	slot_freed(d->fw);
	free(d);
}

/* A forwarding report, if the bundle asked: from its stored head, before it goes. */
static void
report_forwarded(struct forward *fw, const struct flight *f)
{
	uint8_t head[STORE_HEAD_PEEK];
	long k;

	if (!report_wanted(f->flags, ADMIN_FORWARDED))
		return;
	if ((k = store_read(node_store(fw->node), f->rowid, 0, head, sizeof(head))) > 0)
		node_report_head(fw->node, head, (size_t)k, -1, ADMIN_FORWARDED, REASON_NONE);
}

static void
on_delivered(void *arg, struct link *l, uint64_t nbr, void *ctx)
{
	struct forward *fw = arg;
	struct flight *f = ctx;
	struct deletion *d;

	if (f->flood) {
		flood_delivered(fw, f);
		return;
	}
	fw->count.handed++;
	report_forwarded(fw, f);
	/* The next hop has it durably: our forwarding obligation is done. */
	if ((d = malloc(sizeof(*d))) != NULL) {
		d->fw = fw;
		d->f = f;
		if (store_delete(node_store(fw->node), f->rowid, deleted, d) == 0)
			return;
		free(d);
	}
	flight_end(fw, f);	/* the bundle stays queued: at worst it goes twice, dedup takes it */
	slot_freed(fw);
}

static void
on_returned(void *arg, struct link *l, uint64_t nbr, void *ctx, int reason)
{
	struct forward *fw = arg;
	struct flight *f = ctx;

	/* A flood copy goes again at once to a neighbour that restarted (it is
	 * still up); one that went away gets it when it is back (its up event
	 * kicks a pass); one that refused it (full) at the next idle pass. */
	if (f->flood && reason == -ECONNRESET) {
		fw->flood_full = true;
		flood_kick(fw);
	}
	flight_end(fw, f);
	slot_freed(fw);
}

/*
 * A newer bundle superseded rowid while it waited in a link's queue: take
 * it back unless its transfer started.  flight_end() unpins it, and so the
 * store deletes it (store_on_stale()).
 */
static void
on_stale(void *arg, int64_t rowid)
{
	struct forward *fw = arg;
	struct flight *f, *back[16];
	size_t n = 0;

	for (int i = fw->flight_hash[flight_bucket(rowid)]; i >= 0 && n < 16; i = fw->flight[i].next) {
		f = &fw->flight[i];
		if (f->rowid == rowid && !f->splitting && link_withdraw(link_at(fw, f->link), f->nbr, f) == 0)
			back[n++] = f;
	}
	for (size_t k = 0; k < n; k++)
		flight_end(fw, back[k]);
	if (n > 0)
		slot_freed(fw);
}

/* A closed metered link is no route for any class; open, for those the config gives it. */
static void
link_classes(struct forward *fw, unsigned li)
{
	fw->refuse[li] = link_open(link_at(fw, li)) ? node_config(fw->node)->links[li].refuse : UINT32_MAX;
	route_set_link_classes(fw->rt, li, fw->refuse[li]);
}

static void
on_contact(void *arg, struct link *l, bool open)
{
	struct forward *fw = arg;

	link_classes(fw, link_index(fw, l));
	forward_kick(fw);
	if (open) {
		fw->flood_full = true;	/* what waited for it may go now */
		flood_kick(fw);
	}
}

static void
on_route(void *arg, struct link *l, uint64_t nbr, const struct route_entry *v, size_t n)
{
	struct forward *fw = arg;
	unsigned li = link_index(fw, l);

	if (route_update(fw->rt, nbr, li, v, n, loop_now())) {
		links_route_changed(fw->ls, li, nbr);
		forward_kick(fw);
	}
}

static long
on_read(void *arg, void *ctx, uint64_t off, void *buf, size_t len)
{
	struct forward *fw = arg;
	struct flight *f = ctx;

	return store_read(node_store(fw->node), f->rowid, off, buf, len);
}

static void
send_vector(void *arg, struct link *l, uint64_t node, const struct link_addr *addr)
{
	struct forward *fw = arg;
	struct route_entry v[ROUTE_MAX_ENTRIES];
	size_t n = route_advertise(fw->rt, node, v, ROUTE_MAX_ENTRIES);

	link_send_route(l, node, v, n);
}

/* Tell every neighbour what we can reach; forget what went stale. */
static void
route_tick(struct loop *loop, void *arg)
{
	struct forward *fw = arg;

	if (route_expire(fw->rt, loop_now())) {
		links_route_changed(fw->ls, links_count(fw->ls), 0);
		forward_kick(fw);
	}
	for (unsigned i = 0; i < links_count(fw->ls); i++)
		link_neighbours(link_at(fw, i), send_vector, fw);
	loop_timer_set(loop, &fw->route_timer, ROUTE_INTERVAL_MS, route_tick, fw);
}

/*
 * Each link's metrics, and for a link on an interface its radio as nl80211
 * sees it: a query to the kernel per link (bounded, and answered from a
 * cache where there is no nl80211), so for the CLI, not for every frame.
 */
void
forward_links(const struct forward *fw, forward_link_fn *fn, void *arg)
{
	const struct config *cfg = node_config(fw->node);
	struct forward_link_info li;

	for (unsigned i = 0; i < links_count(fw->ls); i++) {
		memset(&li, 0, sizeof(li));
		li.name = link_name(link_at(fw, i));
		li.kind = links_kind(fw->ls, i);
		li.ifname = cfg->links[i].conf.ifname;
		link_metrics(link_at(fw, i), &li.m);
		li.wireless_rc = links_wireless(fw->ls, i, &li.w);
		fn(arg, &li);
	}
}

struct nbr_walk {
	const struct forward *fw;
	forward_nbr_fn *fn;
	void *arg;
};

static void
nbr_one(void *arg, struct link *l, uint64_t node, const struct link_addr *addr)
{
	struct nbr_walk *w = arg;
	struct route_hop hop;
	char a[96];

	link_addr_format(addr, a, sizeof(a));
	w->fn(w->arg, link_name(l), node, a,
	    route_lookup(w->fw->rt, node, &hop) && hop.kind == ROUTE_DIRECT ? hop.cost : 0);
}

void
forward_neighbours(const struct forward *fw, forward_nbr_fn *fn, void *arg)
{
	struct nbr_walk w = { fw, fn, arg };

	for (unsigned i = 0; i < links_count(fw->ls); i++)
		link_neighbours(link_at(fw, i), nbr_one, &w);
}

void
forward_routes(const struct forward *fw, route_walk_fn *fn, void *arg)
{
	route_walk(fw->rt, fn, arg);
}

const char *
forward_link_name(const struct forward *fw, unsigned link)
{
	return link < links_count(fw->ls) ? link_name(link_at(fw, link)) : "?";
}

unsigned
forward_in_flight(const struct forward *fw)
{
	return fw->n_flight;
}

void
forward_counters(const struct forward *fw, struct forward_counters *c)
{
	*c = fw->count;
}

struct forward *
forward_new(struct node *n, struct links *ls, struct loop *l, char *err, size_t errlen)
{
	const struct config *cfg = node_config(n);
	struct link_events ev = { .neighbour = on_neighbour, .bundle = on_bundle,
	    .delivered = on_delivered, .returned = on_returned, .route = on_route, .read = on_read,
	    .contact = on_contact };
	struct forward *fw;

	if ((fw = calloc(1, sizeof(*fw))) == NULL || (fw->flight = calloc(IN_FLIGHT_MAX, sizeof(*fw->flight))) == NULL ||
	    (fw->rt = route_new(cfg->node_id)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	fw->node = n;
	fw->loop = l;
	flight_init(fw);
	ev.arg = fw;
	if (cfg->route_default && route_add_static(fw->rt, 0, cfg->route_default) < 0) {
		snprintf(err, errlen, "[route] default %llu: not a next hop", (unsigned long long)cfg->route_default);
		goto fail;
	}
	for (unsigned i = 0; i < cfg->n_routes; i++)
		if (route_add_static(fw->rt, cfg->routes[i].dst, cfg->routes[i].via) < 0) {
			snprintf(err, errlen, "[route] static %llu via %llu: not a usable route",
			    (unsigned long long)cfg->routes[i].dst, (unsigned long long)cfg->routes[i].via);
			goto fail;
		}
	fw->ls = ls;
	if (links_open(ls, &ev, err, errlen) < 0)
		goto fail;
	for (unsigned i = 0; i < links_count(ls); i++)
		link_classes(fw, i);
	node_watch(n, NODE_QUEUED, 0, stored_kick, fw);
	store_on_stale(node_store(n), on_stale, fw);
	node_watch(n, NODE_FLOOD, 0, stored_kick, fw);
	route_tick(l, fw);
	forward_kick(fw);
	flood_kick(fw);
	return fw;
fail:
	forward_free(fw);
	return NULL;
}

void
forward_free(struct forward *fw)
{
	if (fw == NULL)
		return;
	if (fw->node) {
		node_unwatch(fw->node, stored_kick, fw);
		store_on_stale(node_store(fw->node), NULL, NULL);
	}
	if (fw->loop) {
		loop_timer_cancel(fw->loop, &fw->walk_timer);
		loop_timer_cancel(fw->loop, &fw->route_timer);
		loop_timer_cancel(fw->loop, &fw->flood_timer);
	}
	links_close(fw->ls);	/* the links hold our flight slots */
	route_free(fw->rt);
	free(fw->flight);
	free(fw);
}

/* ---- flooding ----
 *
 * A bundle for every node goes to each neighbour that is up and not known to
 * have it: not the one it came from, not its source, not one that committed
 * it or offered it to us (the store's forward table, durable, so a restart
 * sends nothing twice), not one it is on its way to.  It stays in the store
 * until its lifetime ends, so a neighbour that turns up later (a data mule)
 * still gets it.  Passes over the flood bundles run when one arrives, when a
 * neighbour comes up, and every FLOOD_IDLE_MS (which is also when a copy a
 * neighbour refused, its store full, is offered again).  Only a neighbour
 * that came (back) and the idle pass need a look at all of them: a pass for
 * new bundles starts above the rowids the last complete pass covered, so a
 * node that keeps thousands of positions does not walk them all for each new
 * one.
 */

/* The idle pass looks at everything: a copy refused earlier goes again. */
static void
flood_idle(struct loop *l, void *arg)
{
	struct forward *fw = arg;

	if (!fw->flood_dirty)
		fw->flood_full = true;
	flood_walk(l, fw);
}

static void
flood_kick(void *arg)
{
	struct forward *fw = arg;

	fw->flood_dirty = true;
	if (!fw->flood_walking)
		loop_timer_set(fw->loop, &fw->flood_timer, 0, flood_walk, fw);
}

/* A bundle became durable: one to forward, or one for every node. */
static void
stored_kick(void *arg, int kind, uint64_t service)
{
	if (kind == NODE_QUEUED)
		forward_kick(arg);
	else
		flood_kick(arg);
}

/* The copy of bundle rowid on its way to nbr, if any (copies to several neighbours share a chain). */
static struct flight *
flood_slot(struct forward *fw, int64_t rowid, uint64_t nbr)
{
	for (int i = fw->flight_hash[flight_bucket(rowid)]; i >= 0; i = fw->flight[i].next) {
		struct flight *f = &fw->flight[i];

		if (f->flood && f->rowid == rowid && f->nbr == nbr)
			return f;
	}
	return NULL;
}

/* One flood bundle being offered around. */
struct offer {
	struct forward *fw;
	const struct store_entry *e;
	uint64_t src;			/* its source node: it has it */
	const struct store_holder *held;
	size_t n_held;
	unsigned link;
};

static bool
offer_held(const struct offer *o, uint64_t nbr)
{
	if (nbr == o->src)
		return true;
	for (size_t i = 0; i < o->n_held; i++)
		if (o->held[i].node == nbr)
			return true;
	return false;
}

static void
offer_to(void *arg, struct link *l, uint64_t nbr, const struct link_addr *addr)
{
	struct offer *o = arg;
	struct forward *fw = o->fw;
	struct flight *f;

	uint32_t refuse = fw->refuse[o->link];

	if (o->e->priority >= 0 && o->e->priority < 32 && (refuse & (1u << o->e->priority)))
		return;	/* not a class this link carries */
	if (offer_held(o, nbr) || fw->n_flight >= IN_FLIGHT_MAX || flood_slot(fw, o->e->rowid, nbr) != NULL ||
	    (f = flight_start(fw, o->e->rowid, o->link, nbr)) == NULL)	/* counted before: the link */
		return;							/* may give it back at once */
	f->flags = o->e->flags;
	f->flood = true;
	if (link_enqueue(l, nbr, o->e->size, o->e->priority, f) < 0) {
		flight_end(fw, f);
		fw->flood_full = true;	/* not offered: the floor must not pass it */
		return;
	}
	fw->count.flood_sent++;
}

/*
 * One batch of a pass over the flood bundles, most urgent first.  Out of free
 * slots, the pass pauses where it is (at the bundle that may still lack
 * neighbours) and slot_freed() resumes it: flood bundles stay in the store,
 * so starting over each time would walk the same ones again and again.
 */
static void
flood_walk(struct loop *l, void *arg)
{
	struct forward *fw = arg;
	struct store *st = node_store(fw->node);
	struct store_holder held[FLOOD_HOLDERS_MAX];
	struct store_entry e;
	struct eid src;
	int n, r = 0;

	if (!fw->flood_walking) {
		fw->flood_walking = true;
		fw->flood_dirty = false;
		fw->flood_prio = 0;
		fw->flood_rowid = 0;
		/* Later bundles get higher rowids: up to pass_top, this pass sees all. */
		fw->pass_floor = fw->flood_full ? 0 : fw->flood_floor;
		fw->pass_top = store_max_rowid(st);
		fw->flood_full = false;
	}
	fw->flood_starved = false;
	if (fw->n_up == 0) {
		fw->flood_walking = false;	/* nobody to offer anything to: a neighbour kicks us */
		loop_timer_set(l, &fw->flood_timer, FLOOD_IDLE_MS, flood_idle, fw);
		return;
	}
	for (int i = 0; i < WALK_BATCH; i++) {
		struct offer o = { .fw = fw, .e = &e, .held = held };

		if (fw->n_flight >= IN_FLIGHT_MAX) {
			fw->flood_starved = true;
			loop_timer_set(l, &fw->flood_timer, FLOOD_IDLE_MS, flood_walk, fw);
			return;
		}
		if ((r = store_next_flood(st, fw->flood_prio, fw->flood_rowid, fw->pass_floor, &e)) < 0)
			break;
		fw->count.flood_scanned++;
		if ((n = store_holders(st, e.rowid, held, FLOOD_HOLDERS_MAX)) >= 0) {
			o.n_held = (size_t)n < FLOOD_HOLDERS_MAX ? (size_t)n : FLOOD_HOLDERS_MAX;
			o.src = eid_parse(&src, e.src) == 0 && src.scheme == EID_IPN ? src.node : 0;
			for (o.link = 0; o.link < links_count(fw->ls); o.link++)
				link_neighbours(link_at(fw, o.link), offer_to, &o);
			if (fw->n_flight >= IN_FLIGHT_MAX)
				continue;	/* it may lack some still: resume at it */
		}
		fw->flood_prio = e.priority;
		fw->flood_rowid = e.rowid;
	}
	if (r == 0) {
		loop_timer_set(l, &fw->flood_timer, 1, flood_walk, fw);	/* the pass goes on */
		return;
	}
	fw->flood_walking = false;
	if (r == -ENOENT && !fw->flood_full)
		fw->flood_floor = fw->pass_top;
	loop_timer_set(l, &fw->flood_timer, fw->flood_dirty && r == -ENOENT ? 1 : FLOOD_IDLE_MS, flood_idle, fw);
}

struct handing {
	struct forward *fw;
	struct flight *f;
};

/* The record that nbr has it is durable: only now may a pass see it, and the slot go. */
static void
flood_recorded(void *arg, int result, int64_t sent_to)
{
	struct handing *h = arg;
	struct forward *fw = h->fw;

	if (result < 0) {
		log_limited(&fw->rl, "store: cannot note that ipn:%llu has flood bundle %lld: %s",
		    (unsigned long long)h->f->nbr, (long long)h->f->rowid, store_strerror(result));
		fw->flood_full = true;	/* a later pass offers it again; the neighbour says it has it */
	} else if (sent_to == 1)
		report_forwarded(fw, h->f);	/* once per node, at the first neighbour */
	flight_end(fw, h->f);
	slot_freed(fw);
	free(h);
}

/* A neighbour committed its copy: remember that it has it. */
static void
flood_delivered(struct forward *fw, struct flight *f)
{
	struct handing *h = malloc(sizeof(*h));

	fw->count.flood_handed++;
	if (h != NULL) {
		*h = (struct handing){ fw, f };
		if (store_handed(node_store(fw->node), f->rowid, NULL, f->nbr, STORE_HELD_SENT, flood_recorded, h) == 0)
			return;
		free(h);
	}
	/* Not recorded: a later pass offers it again and the neighbour says it has it. */
	fw->flood_full = true;
	flight_end(fw, f);
	slot_freed(fw);
}
