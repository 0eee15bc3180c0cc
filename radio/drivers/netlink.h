/*
 * netlink.h - interface state from the kernel (rtnetlink, through libnl) and
 * wireless station info (nl80211, through libnl-genl).
 *
 * The link monitor lives on the event loop: it subscribes to RTNLGRP_LINK,
 * keeps a table of the interfaces it has seen, and calls back whenever the
 * state of a watched interface name changes.  Links act on the flags: IFF_UP
 * (administratively up) and IFF_LOWER_UP (carrier) change at once, while the
 * RFC 2863 operstate follows some hundreds of milliseconds later.
 *
 * An interface is watched by name, because that is what the config holds: it
 * may not exist yet, may be renamed, may vanish or move to another namespace.
 * A name with no interface behind it is reported as down, with ifindex 0 and
 * operstate IF_OPER_NOTPRESENT.
 */
#ifndef FIELDRELAY_NETLINK_H
#define FIELDRELAY_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct netlink;

#define NETLINK_IFNAMSIZ 16		/* IFNAMSIZ, without <net/if.h> vs <linux/if.h> */

/* What the kernel said about one interface. */
struct netlink_link {
	int ifindex;			/* 0: no interface of that name */
	char ifname[NETLINK_IFNAMSIZ];
	bool up;			/* IFF_UP */
	bool lower_up;			/* IFF_LOWER_UP: carrier */
	uint8_t operstate;		/* IF_OPER_* from <linux/if.h> */
};

/*
 * Called from the loop on every change of a watched name's state (flags,
 * operstate, appearance, disappearance).  up && lower_up is "usable".
 */
typedef void netlink_event_fn(void *arg, int ifindex, const char *ifname, bool up,
    bool lower_up, int operstate);

/*
 * Subscribe to link events, read the current interfaces (one dump, at
 * start-up, bounded to a second) and register the socket with the loop.
 * l == NULL: nothing reads the socket (unit tests drive netlink_input()).
 * NULL with errno set.
 */
struct netlink *netlink_new(struct loop *l, netlink_event_fn *fn, void *arg);
void netlink_free(struct netlink *nl);

/*
 * Report changes of ifname from now on.  No callback for the state it has
 * now: ask netlink_link_state() for that.  0, -EINVAL (bad name), -ENOMEM.
 */
int netlink_watch(struct netlink *nl, const char *ifname);
void netlink_unwatch(struct netlink *nl, const char *ifname);

/*
 * State of ifname as of the last message read from the kernel (the table the
 * start-up dump filled and every event since keeps current); never blocks.
 * 0, or -ENODEV with *out filled in as down and not present.
 */
int netlink_link_state(struct netlink *nl, const char *ifname, struct netlink_link *out);

/* Wireless station info, for the link metrics. */
struct netlink_wireless {
	bool wireless;			/* an nl80211 interface */
	int stations;			/* associated peers (mesh: several) */
	bool has_signal;
	int signal_dbm;			/* strongest station */
	bool has_bitrate;
	uint32_t tx_bitrate;		/* 100 kbit/s units, of that station */
};

/*
 * Ask nl80211 about ifname.  0 with out->wireless true or false; -ENODEV if
 * there is no such interface; -EOPNOTSUPP where the kernel has no nl80211
 * (logged once, at debug level; tried again only after a new interface
 * appears, as a USB radio loads cfg80211).  Two round trips to the kernel,
 * each bounded to 100 ms: call it for metrics, not per packet.
 */
int netlink_wireless(struct netlink *nl, const char *ifname, struct netlink_wireless *out);

/*
 * What a link's radio looks like, in one line for `fieldrelay links`: from
 * ifname (NULL or "": the link is bound to no interface), the return value
 * of netlink_wireless() and what it filled in.  "wlan0: signal -71 dBm, tx
 * bitrate 130.0 Mbit/s", "veth0: not wireless", "not available: no nl80211
 * in this kernel", ...  Returns what snprintf() does.
 */
int netlink_wireless_format(const char *ifname, int rc, const struct netlink_wireless *w, char *buf,
    size_t cap);

/* Times the socket overflowed (events lost, table read again). */
unsigned netlink_events_lost(const struct netlink *nl);

/* "up", "down", "lowerlayerdown", ... for logs and the CLI. */
const char *netlink_operstate_name(int operstate);

/*
 * The parsers, exported for the unit test and the fuzz target.  buf holds one
 * netlink message (header included) of len bytes, in host order, as the
 * kernel sends it.  0 or -EINVAL.
 */
/* RTM_NEWLINK / RTM_DELLINK; *deleted tells which. */
int netlink_parse_link(const void *buf, size_t len, struct netlink_link *out, bool *deleted);
/* One NL80211_CMD_NEW_STATION reply, merged into out (strongest signal wins). */
int netlink_parse_station(const void *buf, size_t len, struct netlink_wireless *out);

/*
 * Process a buffer of messages as if the kernel had sent it: what the socket
 * callback does with each datagram.  For tests.
 */
void netlink_input(struct netlink *nl, const void *buf, size_t len);

#endif
