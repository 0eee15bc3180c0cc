/*
 * links.c - the node's links, their keys, interfaces and saved state, live
 * frames and link events; see links.h.
 *
 * Every link reports to us first (struct link_events with us as arg): we
 * keep what is ours (the budget spent, live frames, carrier), pass the
 * rest to the owner (forward), and tell the watchers.  One indirect call
 * more per bundle event is nothing next to a store write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "frame.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "peerstate.h"
#include "route.h"
#include "store.h"

#define LINKS_KINDS		8	/* enum link_kind values, with room */
#define LINKS_LIVE_NODES	256	/* neighbours one live frame to everyone reaches at most */

/*
 * Saving what a metered link spent: one store write at a time per link; a
 * spend meanwhile is saved when it completes.  The link sends no further
 * segment until its spend is saved (link_budget_saved).
 */
struct budget_save {
	struct links *ls;
	unsigned link;
	bool busy;			/* a write is under way ... */
	uint64_t period, spent;		/* ... of these */
	bool again;			/* more was spent meanwhile */
	uint64_t next_period, next_spent;
};

/* A watcher of live frames or of events (fn NULL: removed while a call was under way). */
struct watcher {
	union {
		links_live_fn *live;
		links_event_fn *event;
	} fn;
	void *arg;
};

struct watchers {
	bool live;			/* which fn */
	struct watcher *w;
	size_t n, cap;
	unsigned busy;			/* calls under way: removal only clears fn */
	bool removed;
};

struct links {
	struct loop *loop;
	const struct config *cfg;
	struct store *store;
	struct crypto_keyring keys;
	struct crypto_sender sender;
	struct link *links[CONFIG_MAX_LINKS];
	const char *kinds[CONFIG_MAX_LINKS];
	uint32_t cost[CONFIG_MAX_LINKS];	/* route_link_cost() of its configured rate: live frames */
	bool usable[CONFIG_MAX_LINKS];	/* as the last LINK_UP/DOWN said */
	bool is_ext[CONFIG_MAX_LINKS];	/* a link_ext: no carrier or contact of the link layer's */
	unsigned n_links;
	const struct link_ext_ops *ext[LINKS_KINDS];	/* links_use_ext() */
	struct link_events owner;
	struct netlink *netlink;	/* carrier of the links' interfaces */
	struct peerstate *peers;	/* the links' replay windows across restarts */
	struct budget_save budget[CONFIG_MAX_LINKS];
	struct watchers live, events;
	struct log_ratelimit rl;
};

unsigned
links_count(const struct links *ls)
{
	return ls->n_links;
}

struct link *
links_link(const struct links *ls, unsigned i)
{
	return i < ls->n_links ? ls->links[i] : NULL;
}

unsigned
links_index(const struct links *ls, const struct link *l)
{
	for (unsigned i = 0; i < ls->n_links; i++)
		if (ls->links[i] == l)
			return i;
	return ls->n_links;
}

const char *
links_kind(const struct links *ls, unsigned i)
{
	return i < ls->n_links ? ls->kinds[i] : "?";
}

int
links_wireless(const struct links *ls, unsigned i, struct netlink_wireless *w)
{
	const char *ifn;

	if (i >= ls->n_links || (ifn = ls->cfg->links[i].conf.ifname)[0] == '\0' || ls->netlink == NULL)
		return -ENODEV;
	return netlink_wireless(ls->netlink, ifn, w);
}

void
links_use_ext(struct links *ls, int kind, const struct link_ext_ops *ext)
{
	if (kind > 0 && kind < LINKS_KINDS)
		ls->ext[kind] = ext;
}

/* ---- watchers ---- */

static bool
watcher_gone(const struct watchers *ws, const struct watcher *w)
{
	return ws->live ? w->fn.live == NULL : w->fn.event == NULL;
}

static void
watchers_add(struct watchers *ws, struct watcher add)
{
	struct watcher *w;

	if (ws->n == ws->cap) {
		size_t cap = ws->cap ? 2 * ws->cap : 4;

		if ((w = realloc(ws->w, cap * sizeof(*w))) == NULL) {
			log_warnx("links: out of memory: a watcher is not added");
			return;
		}
		ws->w = w;
		ws->cap = cap;
	}
	ws->w[ws->n++] = add;
}

static void
watchers_compact(struct watchers *ws)
{
	size_t k = 0;

	for (size_t i = 0; i < ws->n; i++)
		if (!watcher_gone(ws, &ws->w[i]))
			ws->w[k++] = ws->w[i];
	ws->n = k;
	ws->removed = false;
}

static void
watchers_remove(struct watchers *ws, struct watcher rm)
{
	for (size_t i = 0; i < ws->n; i++) {
		struct watcher *w = &ws->w[i];

		if (w->arg == rm.arg && (ws->live ? w->fn.live == rm.fn.live : w->fn.event == rm.fn.event)) {
			if (ws->live)
				w->fn.live = NULL;
			else
				w->fn.event = NULL;
			ws->removed = true;
			break;
		}
	}
	if (ws->removed && ws->busy == 0)
		watchers_compact(ws);
}

/* Every watcher hears it; those a call adds meanwhile hear the next, those it removes no more. */
static void
watchers_call(struct watchers *ws, const struct links_live *f, const struct links_event *ev)
{
	size_t n = ws->n;

	ws->busy++;
	for (size_t i = 0; i < n && i < ws->n; i++) {
		struct watcher *w = &ws->w[i];

		if (watcher_gone(ws, w))
			continue;
		if (ws->live)
			w->fn.live(w->arg, f);
		else
			w->fn.event(w->arg, ev);
	}
	if (--ws->busy == 0 && ws->removed)
		watchers_compact(ws);
}

void
links_on_live(struct links *ls, links_live_fn *fn, void *arg)
{
	watchers_add(&ls->live, (struct watcher){ .fn.live = fn, .arg = arg });
}

void
links_off_live(struct links *ls, links_live_fn *fn, void *arg)
{
	watchers_remove(&ls->live, (struct watcher){ .fn.live = fn, .arg = arg });
}

void
links_watch(struct links *ls, links_event_fn *fn, void *arg)
{
	watchers_add(&ls->events, (struct watcher){ .fn.event = fn, .arg = arg });
}

void
links_unwatch(struct links *ls, links_event_fn *fn, void *arg)
{
	watchers_remove(&ls->events, (struct watcher){ .fn.event = fn, .arg = arg });
}

/* Tell the watchers about link i (or none: i >= n_links) and node. */
static void
emit(struct links *ls, int kind, unsigned i, uint64_t node)
{
	struct links_event ev = { .kind = kind, .link = "", .node = node };
	struct link_metrics m;

	if (ls->events.n == 0)
		return;
	if (i < ls->n_links) {
		link_metrics(ls->links[i], &m);
		ev.link = link_name(ls->links[i]);
		ev.rate_bps = m.rate_bps;
		ev.mtu = m.mtu;
		ev.loss = m.segments ? (double)m.retransmissions / (double)m.segments : 0;
		if (ev.loss > 1)
			ev.loss = 1;
		ev.rtt_ms = m.rtt_ms > 0 ? (uint32_t)m.rtt_ms : 0;
	}
	watchers_call(&ls->events, NULL, &ev);
}

/*
 * Can link i carry traffic: carrier and (metered) open; a link_ext (an SBD
 * modem, DirectIP) while its medium says it is up.
 */
static bool
usable(const struct links *ls, unsigned i)
{
	struct link_metrics m;

	link_metrics(ls->links[i], &m);
	return m.up && (m.open || ls->is_ext[i]);
}

/* Link i may have become usable or unusable (carrier, contact, a modem): say so once per change. */
static void
usable_check(struct links *ls, unsigned i)
{
	bool now;

	if (i >= ls->n_links)
		return;
	now = usable(ls, i);
	if (now == ls->usable[i])
		return;
	ls->usable[i] = now;
	emit(ls, now ? LINKS_LINK_UP : LINKS_LINK_DOWN, i, 0);
}

void
links_route_changed(struct links *ls, unsigned link, uint64_t node)
{
	emit(ls, LINKS_ROUTE_CHANGED, link, node);
}

/* ---- live frames ---- */

struct live_set {
	uint64_t node[LINKS_LIVE_NODES];
	size_t n;
};

static void
live_collect(void *arg, struct link *l, uint64_t node, const struct link_addr *addr)
{
	struct live_set *s = arg;

	for (size_t i = 0; i < s->n; i++)
		if (s->node[i] == node)
			return;
	if (s->n < LINKS_LIVE_NODES)
		s->node[s->n++] = node;
}

/* Does link i carry live frames now? */
static bool
live_capable(const struct links *ls, unsigned i)
{
	return !ls->is_ext[i] && link_open(ls->links[i]);	/* no live frames over paid messages */
}

/* One frame to node on its best live link that takes it: 1, or the last error. */
static int
live_one(struct links *ls, uint64_t node, uint64_t group, uint64_t spurt, uint64_t seq, const void *data,
    size_t len)
{
	bool tried[CONFIG_MAX_LINKS] = { false };
	int r = -EHOSTUNREACH;

	for (;;) {
		unsigned best = ls->n_links;

		for (unsigned i = 0; i < ls->n_links; i++)
			if (!tried[i] && live_capable(ls, i) && link_neighbour_up(ls->links[i], node) &&
			    (best == ls->n_links || ls->cost[i] < ls->cost[best]))
				best = i;
		if (best == ls->n_links)
			return r;
		tried[best] = true;
		if ((r = link_send_voice(ls->links[best], node, group, spurt, seq, data, len)) == 0)
			return 1;
		if (r == -EINVAL)
			return r;	/* the frame itself: no link takes it */
	}
}

int
links_send_live(struct links *ls, uint64_t node, uint64_t group, uint64_t spurt, uint64_t seq,
    const void *data, size_t len)
{
	struct live_set s = { .n = 0 };
	int r = -EHOSTUNREACH, sent = 0, k;

	if (len < 1 || len > FRAME_VOICE_MAX)
		return -EINVAL;
	if (node != 0)
		return live_one(ls, node, group, spurt, seq, data, len);
	for (unsigned i = 0; i < ls->n_links; i++)
		if (live_capable(ls, i))
			link_neighbours(ls->links[i], live_collect, &s);
	for (size_t i = 0; i < s.n; i++) {
		if ((k = live_one(ls, s.node[i], group, spurt, seq, data, len)) > 0)
			sent += k;
		else
			r = k;
	}
	return sent > 0 ? sent : r;
}

static void
on_voice(void *arg, struct link *l, uint64_t nbr, uint64_t group, uint64_t spurt, uint64_t seq,
    const uint8_t *data, size_t len)
{
	struct links *ls = arg;
	struct links_live f = { .link = link_name(l), .from = nbr, .group = group, .spurt = spurt,
	    .seq = seq, .data = data, .len = len };

	watchers_call(&ls->live, &f, NULL);
}

/* ---- the owner's events, passed on ---- */

static void
on_neighbour(void *arg, struct link *l, uint64_t nbr, bool up)
{
	struct links *ls = arg;
	unsigned i = links_index(ls, l);

	/*
	 * Watchers hear the link come (a link_ext's medium comes and goes with
	 * its neighbours), then the neighbour, then what the owner makes of it
	 * (a route changed); going, the other way round.
	 */
	if (up)
		usable_check(ls, i);
	emit(ls, up ? LINKS_NEIGHBOUR_UP : LINKS_NEIGHBOUR_DOWN, i, nbr);
	ls->owner.neighbour(ls->owner.arg, l, nbr, up);
	if (!up)
		usable_check(ls, i);
}

static void
on_bundle(void *arg, struct link *l, uint64_t nbr, uint64_t xid, int fd, const uint8_t *mem, uint64_t total)
{
	struct links *ls = arg;

	ls->owner.bundle(ls->owner.arg, l, nbr, xid, fd, mem, total);
}

static void
on_delivered(void *arg, struct link *l, uint64_t nbr, void *ctx)
{
	struct links *ls = arg;

	ls->owner.delivered(ls->owner.arg, l, nbr, ctx);
}

static void
on_returned(void *arg, struct link *l, uint64_t nbr, void *ctx, int reason)
{
	struct links *ls = arg;

	ls->owner.returned(ls->owner.arg, l, nbr, ctx, reason);
}

static void
on_route(void *arg, struct link *l, uint64_t nbr, const struct route_entry *v, size_t n)
{
	struct links *ls = arg;

	if (ls->owner.route)
		ls->owner.route(ls->owner.arg, l, nbr, v, n);
}

static long
on_read(void *arg, void *ctx, uint64_t off, void *buf, size_t len)
{
	struct links *ls = arg;

	return ls->owner.read(ls->owner.arg, ctx, off, buf, len);
}

static void
on_contact(void *arg, struct link *l, bool open)
{
	struct links *ls = arg;

	if (ls->owner.contact)
		ls->owner.contact(ls->owner.arg, l, open);
	usable_check(ls, links_index(ls, l));
}

static void
on_carrier(void *arg, struct link *l, bool up)
{
	struct links *ls = arg;

	usable_check(ls, links_index(ls, l));
}

/* ---- metered links: what they spent, saved ---- */

static void budget_write(struct budget_save *b, uint64_t period, uint64_t spent);

static void
budget_written(void *arg, int result, int64_t rowid)
{
	struct budget_save *b = arg;
	struct links *ls = b->ls;

	b->busy = false;
	if (result < 0)
		log_limited(&ls->rl, "link %s: cannot save the budget spent: %s", link_name(ls->links[b->link]),
		    store_strerror(result));	/* the next spend (a beacon) tries again */
	else
		link_budget_saved(ls->links[b->link], b->period, b->spent);
	if (b->again) {
		b->again = false;
		budget_write(b, b->next_period, b->next_spent);
	}
}

static void
budget_write(struct budget_save *b, uint64_t period, uint64_t spent)
{
	struct links *ls = b->ls;
	int r;

	if (b->busy) {
		b->again = true;
		b->next_period = period;
		b->next_spent = spent;
		return;
	}
	b->period = period;
	b->spent = spent;
	if ((r = store_budget_save(ls->store, link_name(ls->links[b->link]), period, spent,
	    budget_written, b)) < 0) {
		log_limited(&ls->rl, "link %s: cannot save the budget spent: %s", link_name(ls->links[b->link]),
		    strerror(-r));
		return;
	}
	b->busy = true;
}

static void
on_spent(void *arg, struct link *l, uint64_t period, uint64_t spent)
{
	struct links *ls = arg;
	unsigned li = links_index(ls, l);

	/* Its first beacon, from link_new(): the next spend saves it. */
	if (li < ls->n_links)
		budget_write(&ls->budget[li], period, spent);
}

/* ---- interfaces ---- */

/* An interface changed: its links are usable only while it is up with carrier. */
static void
on_interface(void *arg, int ifindex, const char *ifname, bool up, bool lower_up, int operstate)
{
	struct links *ls = arg;

	for (unsigned i = 0; i < ls->n_links; i++)
		if (strcmp(ls->cfg->links[i].conf.ifname, ifname) == 0)
			link_set_carrier(ls->links[i], up && lower_up);
}

/* Watch the interfaces links are bound to (act on the flags, not operstate). */
static int
watch_interfaces(struct links *ls, char *err, size_t errlen)
{
	struct netlink_link st;

	for (unsigned i = 0; i < ls->n_links; i++) {
		const char *ifn = ls->cfg->links[i].conf.ifname;

		if (ifn[0] == '\0')
			continue;
		if (ls->netlink == NULL && (ls->netlink = netlink_new(ls->loop, on_interface, ls)) == NULL) {
			snprintf(err, errlen, "netlink: %s", strerror(errno));
			return -1;
		}
		if (netlink_watch(ls->netlink, ifn) < 0) {
			snprintf(err, errlen, "netlink: cannot watch %s", ifn);
			return -1;
		}
		netlink_link_state(ls->netlink, ifn, &st);
		link_set_carrier(ls->links[i], st.up && st.lower_up);
	}
	return 0;
}

static const struct link_driver_ops *
driver_of(int kind)
{
	switch (kind) {
	case LINK_UDP:
		return &link_udp_ops;
	case LINK_PCAP:
		return &link_pcap_ops;
	case LINK_KISS:
		return &link_kiss_ops;
	default:
		return NULL;
	}
}

/* Media that deliver by themselves (SBD, DirectIP, a test's fake): no beacons or sessions. */
static const struct link_ext_ops *
ext_of(const struct links *ls, int kind)
{
	if (kind > 0 && kind < LINKS_KINDS && ls->ext[kind])
		return ls->ext[kind];
	return kind == LINK_SBD ? &link_sbd_ops : kind == LINK_DIRECTIP ? &link_directip_ops : NULL;
}

/* ---- lifetime ---- */

struct links *
links_new(struct loop *l, const struct config *cfg, struct store *st, char *err, size_t errlen)
{
	struct links *ls;

	if ((ls = calloc(1, sizeof(*ls))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ls->loop = l;
	ls->cfg = cfg;
	ls->live.live = true;
	ls->store = st;
	if (cfg->n_links > 0) {
		if (crypto_init() < 0 || crypto_keyfile_load(cfg->key_file, &ls->keys, err, errlen) < 0)
			goto fail;
		if (crypto_sender_init(&ls->sender, cfg->node_id, store_boot_count(st)) < 0) {
			snprintf(err, errlen, "node id or boot counter beyond 2^32: cannot form frame nonces");
			goto fail;
		}
	}
	return ls;
fail:
	links_free(ls);
	return NULL;
}

int
links_open(struct links *ls, const struct link_events *owner, char *err, size_t errlen)
{
	const struct config *cfg = ls->cfg;
	struct link_events ev = { .arg = ls, .neighbour = on_neighbour, .bundle = on_bundle,
	    .delivered = on_delivered, .returned = on_returned, .route = on_route, .read = on_read,
	    .voice = on_voice, .spent = on_spent, .contact = on_contact, .carrier = on_carrier };

	ls->owner = *owner;
	for (unsigned i = 0; i < cfg->n_links; i++) {
		const struct config_link *cl = &cfg->links[i];
		struct link_params p = { .node = cfg->node_id, .name = cfg->name, .sender = &ls->sender,
		    .keys = &ls->keys, .spool_dir = cfg->data_dir, .beacon_ms = cl->beacon_ms,
		    .compact = cl->compact,
		    .flags = (uint8_t)((cl->auth_only ? FRAME_F_AUTH_ONLY : 0) | (cl->tag8 ? FRAME_F_TAG8 : 0)) };
		const struct link_ext_ops *ext = ext_of(ls, cl->conf.kind);
		const struct link_driver_ops *ops = ext ? NULL : driver_of(cl->conf.kind);

		ls->budget[i] = (struct budget_save){ .ls = ls, .link = i };
		if (cl->conf.budget_bytes &&
		    store_budget_get(ls->store, cl->conf.name, &p.budget_period, &p.budget_spent) == 0)
			log_info("link %s: %llu bytes spent in budget period %llu before this start", cl->conf.name,
			    (unsigned long long)p.budget_spent, (unsigned long long)p.budget_period);
		if (ops == NULL && ext == NULL) {
			snprintf(err, errlen, "link %s: no driver for its type in this build", cl->conf.name);
			return -1;
		}
		if ((ls->links[i] = ext ? link_new_ext(ls->loop, &cl->conf, ext, &p, &ev, err, errlen) :
		    link_new(ls->loop, &cl->conf, ops, &p, &ev, err, errlen)) == NULL)
			return -1;
		ls->kinds[i] = ext ? ext->kind : ops->kind;
		ls->is_ext[i] = ext != NULL;
		ls->cost[i] = route_link_cost(cl->conf.rate_bps, 0, 0);
		ls->n_links++;
		if (cl->conf.kind == LINK_PCAP)
			log_info("link %s: pcap on %s, EtherType 0x%04x", cl->conf.name, cl->conf.ifname,
			    cl->conf.ethertype);
		else if (cl->conf.kind == LINK_KISS)
			log_info("link %s: kiss via %s, %llu bit/s, mtu %u", cl->conf.name, cl->conf.kiss.device[0] ?
			    cl->conf.kiss.device : cl->conf.kiss.tcp, (unsigned long long)cl->conf.rate_bps, cl->conf.mtu);
		else if (ext == NULL)
			log_info("link %s: %s on port %u, %u static peer(s)", cl->conf.name, ops->kind,
			    cl->conf.port, cl->conf.n_peers);
	}
	if (watch_interfaces(ls, err, errlen) < 0)
		return -1;
	if (ls->n_links > 0 && (ls->peers = peerstate_new(ls->store, ls->loop)) == NULL) {
		snprintf(err, errlen, "cannot read the replay state from the store: %s", strerror(errno));
		return -1;
	}
	for (unsigned i = 0; i < ls->n_links; i++) {
		if (link_replay(ls->links[i]) && peerstate_watch(ls->peers, link_replay(ls->links[i])) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		ls->usable[i] = usable(ls, i);	/* what LINK_UP/DOWN report is a change from this */
	}
	return 0;
}

void
links_close(struct links *ls)
{
	if (ls == NULL)
		return;
	netlink_free(ls->netlink);
	ls->netlink = NULL;
	peerstate_free(ls->peers);	/* saves the windows exactly: before the links go */
	ls->peers = NULL;
	for (unsigned i = 0; i < ls->n_links; i++)
		link_free(ls->links[i]);
	ls->n_links = 0;
}

void
links_free(struct links *ls)
{
	if (ls == NULL)
		return;
	links_close(ls);
	crypto_keyring_clear(&ls->keys);
	free(ls->live.w);
	free(ls->events.w);
	free(ls);
}
