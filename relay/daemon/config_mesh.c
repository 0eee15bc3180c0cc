/*
 * config_mesh.c - the link kinds of the mesh: udp (DTN over IP, to static
 * peers and multicast groups) and pcap (raw Ethernet frames on an
 * interface).  Their keys (port, bind, group4, group6, peer, interface,
 * ethertype) are the general ones of config.c, which directip links share
 * in part; here are what a section of each type needs and pcap's defaults.
 */
#include <stdint.h>

#include "config.h"
#include "config_int.h"

static void
udp_check(struct parse *p, const struct config_link *l, uint16_t keys)
{
	if (l->conf.n_peers == 0 && !l->conf.group4[0] && !l->conf.group6[0])
		config_perr(p, l->line, "[link %s] can reach nobody: give a peer, group4 or group6", l->conf.name);
	if (l->conf.group6[0] && !l->conf.ifname[0])
		config_perr(p, l->line, "[link %s] group6 is link-local: it needs an interface", l->conf.name);
}

const struct config_link_kind config_udp_kind = {
	.type = "udp",
	.kind = LINK_UDP,
	.check = udp_check,
};

/* A mesh hop's, but the MTU is the interface's (0: asked when it opens). */
static const struct config_link_base pcap_base = {
	.mtu = 0,
	.rate_bps = 10000000,
	.fragment = 256 << 10,
	.beacon_ms = 0,
};

static void
pcap_defaults(struct config_link *l, uint16_t keys)
{
	if (!l->conf.ethertype)
		l->conf.ethertype = 0x88b5;	/* IEEE 802 local experimental */
}

static void
pcap_check(struct parse *p, const struct config_link *l, uint16_t keys)
{
	if (!l->conf.ifname[0])
		config_perr(p, l->line, "[link %s] a pcap link needs an interface (interface = mesh0)", l->conf.name);
	if (l->conf.n_peers || l->conf.group4[0] || l->conf.group6[0] || l->conf.bind[0])
		config_perr(p, l->line, "[link %s] peer, group4, group6 and bind are for udp links: a pcap link finds its neighbours by broadcast",
		    l->conf.name);
}

const struct config_link_kind config_pcap_kind = {
	.type = "pcap",
	.kind = LINK_PCAP,
	.base = &pcap_base,
	.defaults = pcap_defaults,
	.check = pcap_check,
};
