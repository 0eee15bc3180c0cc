/*
 * forward.c - links, routes and the walk over queued bundles; see forward.h.
 *
 * The walk goes through queued bundles most urgent first, a bounded batch
 * per tick, and hands each routable one to its next hop's link.  A bundle is
 * "in flight" from then until the next hop commits it (delete here) or the
 * link gives it back (neighbour gone, refused): then a later walk tries again,
 * possibly over another link.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "forward.h"
#include "fragment.h"
#include "frame.h"
#include "log.h"
#include "loop.h"
#include "netlink.h"
#include "node.h"
#include "store.h"

#define WALK_BATCH		256	/* bundles looked at per tick */
#define WALK_IDLE_MS		10000	/* a pass even when nothing happened (missed kicks) */
#define ROUTE_INTERVAL_MS	2000	/* distance vector to every neighbour */
#define IN_FLIGHT_MAX		256	/* bundles handed to links at once: enough to fill
					 * the windows, few enough that the per-transfer
					 * bookkeeping stays cheap */

struct flight {
	struct forward *fw;
	int64_t rowid;
	unsigned link;
	uint64_t nbr;
	uint64_t size;
	int prio;
	bool used;
	bool splitting;			/* being replaced by fragments (relay/fragment.c) */
};

struct forward {
	struct node *node;
	struct loop *loop;
	struct crypto_keyring keys;
	struct crypto_sender sender;
	struct link *links[CONFIG_MAX_LINKS];
	const char *kinds[CONFIG_MAX_LINKS];
	unsigned n_links;
	struct route_table *rt;
	struct netlink *netlink;	/* carrier of the links' interfaces */
	struct flight *flight;		/* IN_FLIGHT_MAX slots; links hold pointers to them */
	unsigned n_flight;
	int cursor_prio;		/* where the walk goes on */
	int64_t cursor_rowid;
	bool walking;			/* a pass is under way */
	bool dirty;			/* something changed since the pass began */
	unsigned n_up;			/* neighbours up, over all links */
	struct loop_timer walk_timer, route_timer;
	struct log_ratelimit rl;
};

static unsigned
link_index(const struct forward *fw, const struct link *l)
{
	for (unsigned i = 0; i < fw->n_links; i++)
		if (fw->links[i] == l)
			return i;
	return 0;
}

/* The slot of rowid, or with want_free a free slot.  A small array: linear is fine. */
static struct flight *
flight_slot(struct forward *fw, int64_t rowid, bool want_free)
{
	for (unsigned i = 0; i < IN_FLIGHT_MAX; i++) {
		struct flight *f = &fw->flight[i];

		if (want_free ? !f->used : f->used && f->rowid == rowid)
			return f;
	}
	return NULL;
}

static void
flight_end(struct forward *fw, struct flight *f)
{
	f->used = false;
	fw->n_flight--;
}

static void forward_walk(struct loop *l, void *arg);
static void forward_kick(void *arg);

/* The bundle of f is fragments now (they are queued: a kick finds them), or must go whole. */
static void
on_split(void *arg, int result)
{
	struct flight *f = arg;
	struct forward *fw = f->fw;

	f->splitting = false;
	if (result == -EPERM && link_enqueue(fw->links[f->link], f->nbr, f->size, f->prio, f) == 0)
		return;
	flight_end(fw, f);
	forward_kick(fw);
}

/* Hand the bundle of f to its link, or first split it if the link says it is too big. */
static int
flight_start(struct forward *fw, struct flight *f, const struct store_entry *e)
{
	uint64_t limit = node_config(fw->node)->links[f->link].fragment;

	if (limit != 0 && e->payload_len > limit) {
		f->splitting = true;
		if (fragment_split(fw->node, e, limit, on_split, f) == 0)
			return 0;
		f->splitting = false;	/* cannot split now: it goes whole */
	}
	return link_enqueue(fw->links[f->link], f->nbr, e->size, e->priority, f);
}

/*
 * Something changed (a new bundle, a neighbour, a route, a free slot): make
 * sure a pass over the queue starts, or that the pass under way is followed
 * by another one.  A kick never restarts a pass in the middle: with bundles
 * arriving all the time, that would never reach the ones further down.
 */
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
	struct store_entry e;
	struct route_hop hop;
	int r = 0;

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
	for (int i = 0; i < WALK_BATCH && fw->n_flight < IN_FLIGHT_MAX; i++) {
		struct flight *f;

		if ((r = store_next_queued(st, fw->cursor_prio, fw->cursor_rowid, &e)) < 0)
			break;
		fw->cursor_prio = e.priority;
		fw->cursor_rowid = e.rowid;
		if (flight_slot(fw, e.rowid, false) != NULL)
			continue;	/* already on its way */
		if (e.dst_node == 0 || !route_lookup(fw->rt, e.dst_node, &hop))
			continue;	/* no route: it waits */
		if ((f = flight_slot(fw, e.rowid, true)) == NULL)
			break;
		*f = (struct flight){ .fw = fw, .rowid = e.rowid, .link = hop.link, .nbr = hop.via,
		    .size = e.size, .prio = e.priority, .used = true };
		if (flight_start(fw, f, &e) < 0) {
			f->used = false;
			continue;
		}
		fw->n_flight++;
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
	} else {
		route_neighbour_down(fw->rt, nbr, li, loop_now());
	}
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

static void
deleted(void *arg, int result, int64_t rowid)
{
	struct deletion *d = arg;

	if (result < 0 && result != -ENOENT)
		log_limited(&d->fw->rl, "store: cannot delete forwarded bundle %lld: %s", (long long)rowid,
		    store_strerror(result));
	/* Only now may the walk see the row gone; until then the slot keeps it from going twice. */
	flight_end(d->fw, d->f);
	forward_kick(d->fw);	/* a slot is free */
	free(d);
}

static void
on_delivered(void *arg, struct link *l, uint64_t nbr, void *ctx)
{
	struct forward *fw = arg;
	struct flight *f = ctx;
	struct deletion *d = malloc(sizeof(*d));

	/* The next hop has it durably: our forwarding obligation is done. */
	if (d != NULL) {
		d->fw = fw;
		d->f = f;
		if (store_delete(node_store(fw->node), f->rowid, deleted, d) == 0)
			return;
		free(d);
	}
	flight_end(fw, f);	/* the bundle stays queued: at worst it goes twice, dedup takes it */
	forward_kick(fw);
}

static void
on_returned(void *arg, struct link *l, uint64_t nbr, void *ctx, int reason)
{
	struct forward *fw = arg;

	flight_end(fw, ctx);
	forward_kick(fw);
}

static void
on_route(void *arg, struct link *l, uint64_t nbr, const struct route_entry *v, size_t n)
{
	struct forward *fw = arg;

	if (route_update(fw->rt, nbr, link_index(fw, l), v, n, loop_now()))
		forward_kick(fw);
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

	if (route_expire(fw->rt, loop_now()))
		forward_kick(fw);
	for (unsigned i = 0; i < fw->n_links; i++)
		link_neighbours(fw->links[i], send_vector, fw);
	loop_timer_set(loop, &fw->route_timer, ROUTE_INTERVAL_MS, route_tick, fw);
}

void
forward_links(const struct forward *fw, forward_link_fn *fn, void *arg)
{
	struct link_metrics m;

	for (unsigned i = 0; i < fw->n_links; i++) {
		link_metrics(fw->links[i], &m);
		fn(arg, link_name(fw->links[i]), fw->kinds[i], &m);
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

	for (unsigned i = 0; i < fw->n_links; i++)
		link_neighbours(fw->links[i], nbr_one, &w);
}

void
forward_routes(const struct forward *fw, route_walk_fn *fn, void *arg)
{
	route_walk(fw->rt, fn, arg);
}

const char *
forward_link_name(const struct forward *fw, unsigned link)
{
	return link < fw->n_links ? link_name(fw->links[link]) : "?";
}

unsigned
forward_in_flight(const struct forward *fw)
{
	return fw->n_flight;
}

/* An interface changed: its links are usable only while it is up with carrier. */
static void
on_interface(void *arg, int ifindex, const char *ifname, bool up, bool lower_up, int operstate)
{
	struct forward *fw = arg;
	const struct config *cfg = node_config(fw->node);

	for (unsigned i = 0; i < fw->n_links; i++)
		if (strcmp(cfg->links[i].conf.ifname, ifname) == 0)
			link_set_carrier(fw->links[i], up && lower_up);
}

static const struct link_driver_ops *
driver_of(int kind)
{
	switch (kind) {
	case LINK_UDP:
		return &link_udp_ops;
	case LINK_KISS:
		return &link_kiss_ops;
	default:
		return NULL;
	}
}

/* Watch the interfaces links are bound to (act on the flags, not operstate). */
static int
watch_interfaces(struct forward *fw, char *err, size_t errlen)
{
	const struct config *cfg = node_config(fw->node);
	struct netlink_link st;

	for (unsigned i = 0; i < fw->n_links; i++) {
		const char *ifn = cfg->links[i].conf.ifname;

		if (ifn[0] == '\0')
			continue;
		if (fw->netlink == NULL && (fw->netlink = netlink_new(fw->loop, on_interface, fw)) == NULL) {
			snprintf(err, errlen, "netlink: %s", strerror(errno));
			return -1;
		}
		if (netlink_watch(fw->netlink, ifn) < 0) {
			snprintf(err, errlen, "netlink: cannot watch %s", ifn);
			return -1;
		}
		netlink_link_state(fw->netlink, ifn, &st);
		link_set_carrier(fw->links[i], st.up && st.lower_up);
	}
	return 0;
}

struct forward *
forward_new(struct node *n, struct loop *l, char *err, size_t errlen)
{
	const struct config *cfg = node_config(n);
	struct link_events ev = { .neighbour = on_neighbour, .bundle = on_bundle,
	    .delivered = on_delivered, .returned = on_returned, .route = on_route, .read = on_read };
	struct forward *fw;

	if ((fw = calloc(1, sizeof(*fw))) == NULL || (fw->flight = calloc(IN_FLIGHT_MAX, sizeof(*fw->flight))) == NULL ||
	    (fw->rt = route_new(cfg->node_id)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	fw->node = n;
	fw->loop = l;
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
	if (cfg->n_links > 0) {
		if (crypto_init() < 0 || crypto_keyfile_load(cfg->key_file, &fw->keys, err, errlen) < 0)
			goto fail;
		if (crypto_sender_init(&fw->sender, cfg->node_id, store_boot_count(node_store(n))) < 0) {
			snprintf(err, errlen, "node id or boot counter beyond 2^32: cannot form frame nonces");
			goto fail;
		}
	}
	for (unsigned i = 0; i < cfg->n_links; i++) {
		const struct config_link *cl = &cfg->links[i];
		struct link_params p = { .node = cfg->node_id, .name = cfg->name, .sender = &fw->sender,
		    .keys = &fw->keys, .spool_dir = cfg->data_dir, .beacon_ms = cl->beacon_ms,
		    .flags = (uint8_t)((cl->auth_only ? FRAME_F_AUTH_ONLY : 0) | (cl->tag8 ? FRAME_F_TAG8 : 0)) };

		const struct link_driver_ops *ops = driver_of(cl->conf.kind);

		if (ops == NULL) {
			snprintf(err, errlen, "link %s: no driver for its type in this build", cl->conf.name);
			goto fail;
		}
		if ((fw->links[i] = link_new(l, &cl->conf, ops, &p, &ev, err, errlen)) == NULL)
			goto fail;
		fw->kinds[i] = ops->kind;
		fw->n_links++;
		if (cl->conf.kind == LINK_KISS)
			log_info("link %s: kiss via %s, %llu bit/s, mtu %u", cl->conf.name, cl->conf.kiss.device[0] ?
			    cl->conf.kiss.device : cl->conf.kiss.tcp, (unsigned long long)cl->conf.rate_bps, cl->conf.mtu);
		else
			log_info("link %s: %s on port %u, %u static peer(s)", cl->conf.name, ops->kind,
			    cl->conf.port, cl->conf.n_peers);
	}
	if (watch_interfaces(fw, err, errlen) < 0)
		goto fail;
	node_on_queued(n, forward_kick, fw);
	route_tick(l, fw);
	forward_kick(fw);
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
	if (fw->node)
		node_on_queued(fw->node, NULL, NULL);
	if (fw->loop) {
		loop_timer_cancel(fw->loop, &fw->walk_timer);
		loop_timer_cancel(fw->loop, &fw->route_timer);
	}
	netlink_free(fw->netlink);
	for (unsigned i = 0; i < fw->n_links; i++)
		link_free(fw->links[i]);
	route_free(fw->rt);
	crypto_keyring_clear(&fw->keys);
	free(fw->flight);
	free(fw);
}
