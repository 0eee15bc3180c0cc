/*
 * links.h - the node's links (DESIGN.md section 5): every configured link,
 * the network keyring and frame-nonce sender they share, the netlink watch
 * of their interfaces, the replay windows and metered budgets they keep in
 * the store.  Forwarding (relay/daemon/forward.c) moves bundles over them;
 * the application API sends and receives live frames (the realtime class:
 * voice) over them and watches their events.
 *
 * Live frames skip the store: links_send_live() hands one to the best live
 * link of each neighbour at once, and a live frame heard on any link goes
 * straight to every links_on_live() watcher with the name of the link it came
 * on.  Nothing is queued, retried or acknowledged: a frame that cannot leave
 * now would be too late to play.
 *
 * Lifetime: links_new() loads the keys and opens no link; links_open() opens
 * them with the owner's (forward's) link events; links_close() closes them
 * again (the owner's contexts go with them), links_free() the rest.
 */
#ifndef FIELDRELAY_LINKS_H
#define FIELDRELAY_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "link.h"
#include "netlink.h"

struct links;
struct loop;
struct config;
struct store;

/* Keys and nonce sender for the links of cfg (none opened yet); NULL with a message in err. */
struct links *links_new(struct loop *l, const struct config *cfg, struct store *st, char *err, size_t errlen);
/*
 * Links of config kind `kind` are opened through ext instead of the built-in
 * driver (before links_open()).  The seam tests use for a fake link; a link
 * kind built elsewhere could use it too.
 */
void links_use_ext(struct links *ls, int kind, const struct link_ext_ops *ext);
/*
 * Open every configured link, in config order (link i is cfg->links[i]),
 * with the owner's events.  The links' budget spending (events.spent) and
 * live frames (events.voice) are links' own: the owner's are not used.
 * 0, or -1 with a message in err.
 */
int links_open(struct links *ls, const struct link_events *owner, char *err, size_t errlen);
/* Close every link: no owner event follows.  Safe to call twice. */
void links_close(struct links *ls);
void links_free(struct links *ls);

unsigned links_count(const struct links *ls);
struct link *links_link(const struct links *ls, unsigned i);
/* The index of l (links_count() if it is none of ours). */
unsigned links_index(const struct links *ls, const struct link *l);
/* Its driver's kind ("udp", "kiss", "sbd", ...). */
const char *links_kind(const struct links *ls, unsigned i);
/* nl80211 station info of link i's interface (netlink_wireless()); -ENODEV: bound to none. */
int links_wireless(const struct links *ls, unsigned i, struct netlink_wireless *w);

/* ---- live frames ---- */

/*
 * Send one live frame (group: the talk group; spurt and seq as the voice
 * agent numbers them; 1 .. FRAME_VOICE_MAX bytes of data) to neighbour node,
 * or with node 0 to every neighbour that is up.  Each neighbour gets it once,
 * on its best live link: the cheapest by rate of those that carry live
 * frames (not a link_ext: SBD, DirectIP), are open and have it up; if that one cannot
 * take it now (too big for its MTU, medium busy), the next.  >= 0: how many
 * links it went on (one per neighbour reached; 0 never: then an error);
 * -EHOSTUNREACH (no such neighbour up, or none at all), -EINVAL (len),
 * -EMSGSIZE / -EAGAIN / -errno from the last link tried.
 */
int links_send_live(struct links *ls, uint64_t node /* 0: every neighbour */, uint64_t group,
    uint64_t spurt, uint64_t seq, const void *data, size_t len);

/* A live frame as it came: authentic and fresh, but frames may be lost or reordered. */
struct links_live {
	const char *link;		/* the link it came on */
	uint64_t from;			/* the neighbour that sent it */
	uint64_t group, spurt, seq;
	const uint8_t *data;		/* valid during the call only */
	size_t len;
};
typedef void links_live_fn(void *arg, const struct links_live *f);
/* fn(arg) hears every live frame from now on; several may watch (each hears each frame). */
void links_on_live(struct links *ls, links_live_fn *fn, void *arg);
/* fn(arg) hears no more (also from inside fn). */
void links_off_live(struct links *ls, links_live_fn *fn, void *arg);

/* ---- events ---- */

enum links_event_kind {
	LINKS_LINK_UP = 1,		/* a link can carry traffic: carrier up and (metered) open;
					 * SBD, DirectIP: the modem or gateway is there */
	LINKS_LINK_DOWN,		/* ... no longer: carrier lost, budget spent, out of contact */
	LINKS_NEIGHBOUR_UP,		/* node heard on link (first time, or again after it was lost) */
	LINKS_NEIGHBOUR_DOWN,		/* node lost on link (silent, carrier lost, no acknowledgements) */
	LINKS_ROUTE_CHANGED		/* the route table changed (node: the neighbour whose vector
					 * or coming and going changed it, 0: routes expired) */
};

/*
 * One event; link is "" where it is about no one link.  In order: a link up,
 * then its neighbours up, then the route change that follows; going, a
 * neighbour down, the route change, then (if it was the carrier) the link.  rate_bps, mtu, loss
 * and rtt_ms describe the link as it is now (link_metrics()): the configured
 * bit rate (0 unknown), the frame size in use, the share of segments sent
 * again (0 .. 1), the smoothed round trip of its slowest neighbour (0: no
 * sample yet).
 */
struct links_event {
	int kind;			/* enum links_event_kind */
	const char *link;
	uint64_t node;			/* the neighbour (NEIGHBOUR_*, ROUTE_CHANGED); else 0 */
	uint64_t rate_bps;
	uint32_t mtu;
	double loss;
	uint32_t rtt_ms;
};
typedef void links_event_fn(void *arg, const struct links_event *ev);
/* fn(arg) hears every event from now on; several may watch. */
void links_watch(struct links *ls, links_event_fn *fn, void *arg);
/* fn(arg) hears no more (also from inside fn). */
void links_unwatch(struct links *ls, links_event_fn *fn, void *arg);

/*
 * The owner's route table changed (it owns it: relay/daemon/route.c): tell
 * the watchers.  link: the link index it came through (links_count(): none).
 */
void links_route_changed(struct links *ls, unsigned link, uint64_t node);

#endif
