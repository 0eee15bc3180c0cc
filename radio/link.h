/*
 * link.h - the interface every link driver implements (DESIGN.md section 5).
 *
 * A driver moves opaque link frames (radio/frame.c builds and checks them)
 * between this node and its neighbours on one medium: UDP over mesh Wi-Fi,
 * raw Ethernet frames, a KISS TNC, a satellite modem.  It knows nothing of
 * bundles, sessions or keys.  The generic link layer on top keeps the
 * neighbour table (from beacons), one reliable session per neighbour
 * (radio/session.c), the priority queues, and the metrics.
 */
#ifndef FIELDRELAY_LINK_H
#define FIELDRELAY_LINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "addr.h"

#define LINK_MAX_PEERS	16
#define LINK_MAX_WINDOWS	8	/* contact windows per link */

enum link_kind { LINK_UDP = 1, LINK_PCAP, LINK_KISS, LINK_SBD, LINK_TCP, LINK_DIRECTIP };

#define LINK_MAX_UNITS	32	/* directip: SBD modems (IMEI -> node) */

/* KISS TNC settings (type = kiss). */
struct link_kiss_conf {
	char device[108];		/* serial device or pty; "" when tcp is set */
	uint32_t baud;			/* serial speed (a pty ignores it) */
	char tcp[80];			/* TCP KISS port "addr[:port]", e.g. Direwolf's 127.0.0.1:8001 */
	bool ax25;			/* AX.25 UI frames; else raw KISS (two nodes only: no addresses) */
	char callsign[10];		/* ours, "N0CALL-7" */
	char dest[10];			/* destination callsign of frames to everyone (beacons) */
	uint16_t txdelay_ms;		/* TNC keying delay, sent as KISS TXDELAY; counted as airtime */
	uint16_t slottime_ms;		/* KISS SLOTTIME */
	uint16_t txtail_ms;		/* KISS TXtail, sent only if txtail_set; counted as airtime */
	bool full_duplex;		/* the TNC sends while it hears (a wire, split frequencies) */
	bool txtail_set;
	uint8_t persist;		/* KISS P: p = (P + 1) / 256 */
};

/* An Iridium SBD modem (type = sbd, radio/drivers/sbd_link.c). */
struct link_sbd_conf {
	char device[108];		/* the modem's serial device */
	uint32_t baud;			/* 19200 */
	bool no_ring_alerts;		/* do not check the mailbox when the gateway rings */
	uint32_t mailbox_ms;		/* check for MT messages this often (0 = only on rings) */
	bool mailbox_set;		/* the config said (else the default, 15 min) */
	uint64_t peer;			/* the command center's node: the neighbour */
	uint32_t hold_ms;		/* non-urgent bundles wait this long for company in a message */
	uint32_t ack_hold_ms;		/* acks of MT messages wait this long for an MO message to ride on */
	bool ack_hold_set;
	uint32_t budget_messages;	/* MO messages per budget period (0 = no limit); bytes: link_conf */
	uint32_t bill_min;		/* a message is billed at least this many bytes */
	uint32_t bill_unit;		/* billed bytes round up to this */
	uint64_t price;			/* per billing unit, micro-units of the currency */
	uint32_t backoff_min_ms, backoff_max_ms;	/* after a failed session */
};

/* The command center's DirectIP side (type = directip, radio/drivers/directip_link.c). */
struct link_directip_conf {
	char gateway[80];		/* the gateway's MT port "addr:port" */
	struct { char imei[16]; uint64_t node; } units[LINK_MAX_UNITS];
	unsigned n_units;
	uint32_t retry_min_ms, retry_max_ms;	/* an MT message the gateway did not take */
	uint32_t ack_timeout_ms;	/* an MT message the unit has not acknowledged goes again */
};

/* What the config says about one link ([link NAME] section). */
struct link_conf {
	char name[32];
	int kind;			/* enum link_kind */
	char ifname[IF_NAMESIZE];	/* interface it uses ("" = any) */
	char bind[64];			/* UDP: local address, "" = any */
	uint16_t port;			/* UDP: local port; also the peers' default */
	char group4[64];		/* UDP: IPv4 multicast group for beacons, "" = none */
	char group6[64];		/* UDP: IPv6 link-local multicast group, "" = none */
	char peers[LINK_MAX_PEERS][80];	/* static peers "host:port" / "[v6]:port" */
	unsigned n_peers;
	uint16_t ethertype;		/* pcap: EtherType of our frames, 0 = 0x88b5 */
	uint32_t mtu;			/* largest frame the medium carries (pcap: 0 = the interface's) */
	uint64_t rate_bps;		/* nominal bit rate, 0 = unknown */
	uint16_t duty_permille;		/* airtime duty-cycle limit, 0 = none (radio/meter.c duty_refill) */
	uint32_t duty_window_ms;	/* ... over this window */
	uint64_t budget_bytes;		/* bytes we may send per budget period, 0 = unmetered */
	uint32_t budget_period_s;	/* periods count from the Unix epoch (UTC days for 86400) */
	struct { uint16_t from, to; } windows[LINK_MAX_WINDOWS];	/* contact windows, UTC minutes of the day */
	unsigned n_windows;		/* 0 = always in contact */
	struct link_kiss_conf kiss;
	struct link_sbd_conf sbd;
	struct link_directip_conf dip;
};

struct link_driver;

struct link_driver_ops {
	const char *kind;
	/* Open the medium; NULL with a message in err. */
	struct link_driver *(*open)(const struct link_conf *c, char *err, size_t errlen);
	int (*fd)(const struct link_driver *d);
	/* Send one frame to one neighbour, or to everyone (beacons) if to is NULL.
	 * 0, -EAGAIN (medium busy: try when writable), -EMSGSIZE, -errno. */
	int (*send)(struct link_driver *d, const struct link_addr *to, const void *frame, size_t len);
	/* Take one received frame: its length, -EAGAIN when none, -errno. */
	ssize_t (*recv)(struct link_driver *d, struct link_addr *from, void *buf, size_t cap);
	void (*close)(struct link_driver *d);
	/* Largest frame it carries, when the medium says (NULL: the config's mtu). */
	uint32_t (*mtu)(const struct link_driver *d);
	/*
	 * Optional, for a medium that queues in the device (a KISS TNC): when
	 * (monotonic ms, as loop_now()) send will take a full-size frame again.
	 * The link layer holds its segments until then rather than lose one to
	 * -EAGAIN.  NULL: wait for the fd to become writable.
	 */
	uint64_t (*ready_at)(const struct link_driver *d);
	/* Optional: false while the medium is gone (device unplugged, TNC down).
	 * Asked after every wake-up of fd.  NULL: always there. */
	bool (*up)(const struct link_driver *d);
};

extern const struct link_driver_ops link_udp_ops;
extern const struct link_driver_ops link_pcap_ops;
extern const struct link_driver_ops link_kiss_ops;

/* ---- the generic link layer over a driver ---- */

struct link;
struct loop;
struct crypto_keyring;
struct crypto_sender;
/*
 * One entry of a distance vector as links carry it (radio/frame.c encodes
 * it); the daemon's route module (relay/daemon/route.h) makes and reads them.
 * Defined here, the lower layer, so the link layer needs nothing above it.
 */
#define ROUTE_INFINITY		0xffffu	/* unreachable */
#define ROUTE_HOLD_MS		30000	/* a learned route lives this long unrefreshed */
struct route_entry {
	uint64_t node;
	uint32_t cost;			/* ROUTE_INFINITY = withdrawn */
};

/* What a link tells its owner (the node).  All run on the loop. */
struct link_events {
	void *arg;
	/* A neighbour was heard for the first time (up) or went silent/lost (down). */
	void (*neighbour)(void *arg, struct link *l, uint64_t nbr, bool up);
	/*
	 * A whole bundle arrived from nbr: total bytes, in mem when it was
	 * small enough to be assembled in memory, else in fd from offset 0
	 * (mem NULL); the link frees mem or closes fd after this returns.  The owner stores it and then calls
	 * link_committed(), or link_refused() if it cannot.
	 */
	void (*bundle)(void *arg, struct link *l, uint64_t nbr, uint64_t xid, int fd, const uint8_t *mem,
	    uint64_t total);
	/* nbr durably stored the bundle enqueued with ctx: we may let it go. */
	void (*delivered)(void *arg, struct link *l, uint64_t nbr, void *ctx);
	/* The transfer of ctx did not complete (neighbour gone, refused): reroute it. */
	void (*returned)(void *arg, struct link *l, uint64_t nbr, void *ctx, int reason);
	/* A distance vector from nbr. */
	void (*route)(void *arg, struct link *l, uint64_t nbr, const struct route_entry *v, size_t n);
	/* Read len bytes of the bundle ctx at off; bytes read or -errno. */
	long (*read)(void *arg, void *ctx, uint64_t off, void *buf, size_t len);
	/*
	 * A live voice frame from nbr: one Opus packet of a talk spurt in a talk
	 * group.  Authentic and fresh, but frames may be lost or reordered on the
	 * way: the owner's jitter buffer sorts them by seq.  NULL: counted, ignored.
	 */
	void (*voice)(void *arg, struct link *l, uint64_t nbr, uint64_t talkgroup, uint64_t spurt,
	    uint64_t seq, const uint8_t *data, size_t len);
	/*
	 * A metered link (budget) spent bytes: spent in all in budget period
	 * period.  The owner saves it durably and then calls link_budget_saved();
	 * until then no further segment goes, so after a crash the saved count
	 * is short by at most one frame.  NULL: nothing is saved, nothing waits.
	 */
	void (*spent)(void *arg, struct link *l, uint64_t period, uint64_t spent);
	/* A metered link can carry bundles again (open) or no longer (its
	 * period's budget is spent, or a contact window ended): what was queued
	 * on it and not yet sent whole went back through returned() just after
	 * this.  NULL: ignored. */
	void (*contact)(void *arg, struct link *l, bool open);
	/* The carrier came (up) or went (down: every neighbour went down just
	 * before this).  Not for links of a link_ext.  NULL: ignored. */
	void (*carrier)(void *arg, struct link *l, bool up);
};

/* Compact framing ([link] compact): auto = on when mtu <= 512 or rate <= 64 kbit/s. */
enum link_compact { LINK_COMPACT_AUTO = 0, LINK_COMPACT_NO, LINK_COMPACT_YES };

struct link_params {
	uint64_t node;			/* our node id (< 2^32: it is part of the nonce) */
	const char *name;		/* our name in beacons */
	struct crypto_sender *sender;	/* shared by all links: one frame counter per boot */
	const struct crypto_keyring *keys;
	uint8_t flags;			/* FRAME_F_AUTH_ONLY, FRAME_F_TAG8 */
	unsigned beacon_ms;		/* beacon interval (default 500) */
	unsigned dead_ms;		/* silent this long = gone (default 3 beacons) */
	unsigned window;		/* segments in flight per neighbour (default 64) */
	const char *spool_dir;		/* where incoming bundles are assembled */
	int compact;			/* enum link_compact */
	uint64_t budget_period;		/* a metered link: what it spent before a restart ... */
	uint64_t budget_spent;		/* ... in this budget period (store_budget_get) */
};

typedef void link_neighbour_fn(void *arg, struct link *l, uint64_t node, const struct link_addr *addr);

struct link_metrics {
	bool up;			/* carrier (or no interface to watch) */
	unsigned neighbours;
	uint64_t frames_tx, frames_rx, bytes_tx, bytes_rx;
	uint64_t segments, retransmissions;
	uint64_t voice_tx, voice_rx;	/* voice frames sent and taken in */
	uint64_t dropped[16];		/* per enum frame_drop cause */
	uint64_t send_errors;
	uint32_t mtu;			/* frame size in use */
	uint64_t rate_bps;		/* nominal bit rate from the config */
	uint64_t airtime_ms;		/* estimated time on the air of every frame sent */
	uint64_t budget_bytes, budget_used;	/* this period's budget and what we spent of it (0, 0: unmetered) */
	bool in_window;			/* inside a contact window (or the link has none) */
	bool open;			/* may carry traffic now: false while metered and spent or out of window */
	int32_t rtt_ms;			/* smoothed round trip, slowest neighbour up; -1 = no sample */
	bool compact;			/* compact framing to neighbours that speak it */
	uint64_t compact_tx, compact_rx;	/* bundles sent / rebuilt in compact form */
	uint64_t data_bytes_tx;		/* bytes of frames carrying bundles (segments, compact) */
	uint64_t ack_bytes_tx;		/* bytes of acknowledgements and aborts */
	char ext_json[1536];		/* a link_ext's own figures, a JSON object ("" = none) */
	uint64_t data_frames_tx, ack_frames_tx;	/* ... and frames of each */
};

/*
 * A link whose medium does its own delivery, with no beacons, frames in
 * sessions or acks of ours: an Iridium SBD modem (radio/drivers/sbd_link.c), the
 * command center's DirectIP side (radio/drivers/directip_link.c).  Its neighbours
 * are configured; it calls the owner's events (struct link_events) with the
 * struct link it was opened for, and the generic calls below pass on to it.
 */
struct link_ext_ops {
	const char *kind;
	void *(*open)(struct link *l, struct loop *loop, const struct link_conf *c, const struct link_params *p,
	    const struct link_events *ev, char *err, size_t errlen);
	void (*close)(void *x);
	int (*enqueue)(void *x, uint64_t nbr, uint64_t total, int prio, void *ctx);
	/* Optional: as link_withdraw(); NULL: nothing is taken back (-EBUSY). */
	int (*withdraw)(void *x, uint64_t nbr, void *ctx);
	/* An incoming bundle is stored (or not: refused); nothing goes back on these media. */
	void (*committed)(void *x, uint64_t nbr, uint64_t xid);
	void (*refused)(void *x, uint64_t nbr, uint64_t xid, int reason);
	bool (*neighbour_up)(const void *x, uint64_t nbr);
	void (*neighbours)(void *x, link_neighbour_fn *fn, void *arg);
	void (*metrics)(const void *x, struct link_metrics *m);
};

extern const struct link_ext_ops link_sbd_ops;
extern const struct link_ext_ops link_directip_ops;

struct link *link_new_ext(struct loop *loop, const struct link_conf *c, const struct link_ext_ops *ops,
    const struct link_params *p, const struct link_events *ev, char *err, size_t errlen);

struct link *link_new(struct loop *loop, const struct link_conf *c, const struct link_driver_ops *ops,
    const struct link_params *p, const struct link_events *ev, char *err, size_t errlen);
void link_free(struct link *l);
const char *link_name(const struct link *l);
/*
 * The link's replay window (relay/daemon/peerstate.c saves and restores it across
 * restarts); NULL for SBD and DirectIP links, which keep their own.
 */
struct crypto_replay *link_replay(struct link *l);

/* Send a bundle of total bytes to neighbour nbr.  0, -EHOSTUNREACH (not up), -ENOMEM. */
int link_enqueue(struct link *l, uint64_t nbr, uint64_t total, int prio, void *ctx);
/* Take back the bundle of ctx queued for nbr if none of it went out yet (no
 * returned event follows): 0, -EBUSY once it started, -ENOENT. */
int link_withdraw(struct link *l, uint64_t nbr, void *ctx);
/* The bundle of transfer xid from nbr is durable here: tell the sender. */
void link_committed(struct link *l, uint64_t nbr, uint64_t xid);
/* It could not be stored (reason: enum frame_abort_reason). */
void link_refused(struct link *l, uint64_t nbr, uint64_t xid, int reason);
/*
 * Send one live voice frame (an Opus packet, 1..FRAME_VOICE_MAX bytes) to
 * neighbour nbr, or with nbr 0 to every neighbour that is up (each its own
 * frame, at its own address).  It goes to the driver at once, ahead of any
 * segment waiting in a session, and is never acknowledged, retransmitted or
 * stored: a voice frame that cannot leave now is dropped, since it would be
 * too late to play.  0 (nbr 0: reached at least one neighbour),
 * -EHOSTUNREACH (not up, or nobody is), -EMSGSIZE (does not fit the link's
 * MTU), -EINVAL (len), -EAGAIN (the medium is busy), -errno.
 */
int link_send_voice(struct link *l, uint64_t nbr, uint64_t talkgroup, uint64_t spurt, uint64_t seq,
    const void *data, size_t len);
/* Send our distance vector (route_advertise()) to nbr. */
int link_send_route(struct link *l, uint64_t nbr, const struct route_entry *v, size_t n);
/* Carrier from netlink: down marks every neighbour gone at once. */
void link_set_carrier(struct link *l, bool up);
bool link_neighbour_up(const struct link *l, uint64_t nbr);
/* False while a metered link has spent its period's budget or is outside its contact windows. */
bool link_open(const struct link *l);
/* The owner saved what the link spent (events.spent): segments may go on. */
void link_budget_saved(struct link *l, uint64_t period, uint64_t spent);
/* Every neighbour that is up, with its address. */
void link_neighbours(struct link *l, link_neighbour_fn *fn, void *arg);
void link_metrics(const struct link *l, struct link_metrics *m);

#endif
