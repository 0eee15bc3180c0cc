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

#define LINK_MAX_PEERS	16

enum link_kind { LINK_UDP = 1, LINK_PCAP, LINK_KISS, LINK_SBD, LINK_TCP };

/* A neighbour's address on a link, whatever the medium. */
struct link_addr {
	socklen_t len;			/* 0 = none */
	struct sockaddr_storage sa;	/* UDP: the peer's socket address */
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
	uint32_t mtu;			/* largest frame the medium carries */
	uint64_t rate_bps;		/* nominal bit rate, 0 = unknown */
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
};

extern const struct link_driver_ops link_udp_ops;

/* "192.0.2.1:4556", "[fe80::1%eth0]:4556". */
int link_addr_format(const struct link_addr *a, char *out, size_t cap);
bool link_addr_equal(const struct link_addr *a, const struct link_addr *b);
/* Parse "host:port" or "[v6]:port" (numeric only: no DNS in the field). */
int link_addr_parse(struct link_addr *a, const char *text, uint16_t default_port);

#endif
