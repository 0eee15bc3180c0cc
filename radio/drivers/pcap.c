/*
 * pcap.c - the raw Ethernet link driver (libpcap): link frames in Ethernet
 * frames of our own EtherType, on an interface that needs no IP
 * configuration at all (an 802.11s mesh point, an ad-hoc cell, a cable).
 *
 * Beacons go to the broadcast address, frames to a neighbour to its MAC.
 * We capture with a BPF filter on our EtherType that also leaves out our own
 * MAC, and send with pcap_inject().
 *
 * The link polls an epoll fd of ours, with the capture's fd inside while a
 * capture is open.  Capturing cannot start on an interface that is down
 * (libpcap refuses), and a capture dies with its interface: so a link may
 * start while its radio is still down, and an interface that vanished and
 * came back is captured again, all without the link noticing.  The capture
 * is (re)opened when the link next sends, which it does as soon as netlink
 * reports the carrier back (a beacon).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "link.h"
#include "log.h"

#define PCAP_ETHERTYPE_DEFAULT	0x88b5	/* IEEE 802 local experimental 1 */
#define PCAP_LEN_BYTES		2	/* our length field after the EtherType */
#define PCAP_HDR		(ETH_HLEN + PCAP_LEN_BYTES)
#define PCAP_FRAME_MAX		(65535 - PCAP_LEN_BYTES)
#define PCAP_SKIP_MAX		64	/* foreign frames skipped per recv call */
#define PCAP_VLAN_ROOM		4	/* snapshot room for a tag libpcap puts back */

struct link_driver {
	char name[32];			/* the link's, for messages */
	char ifname[IF_NAMESIZE];
	uint16_t ethertype;
	uint8_t mac[ETH_ALEN];		/* ours, as of the last (re)open */
	int ifindex;
	uint32_t ifmtu;
	uint32_t mtu;			/* largest link frame we send */
	int epfd;			/* what the link polls */
	pcap_t *pcap;			/* NULL while the interface is down or gone */
	int capfd;			/* its fd, inside epfd */
	struct log_ratelimit rl;
	uint8_t tx[PCAP_HDR + PCAP_FRAME_MAX];
};

/* The interface's index, MAC and MTU: 0 or -errno with a message in err. */
static int
iface_query(struct link_driver *d, char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int s, r = 0;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		r = -errno;
		snprintf(err, errlen, "link %s: socket: %s", d->name, strerror(-r));
		return r;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", d->ifname);
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
		r = errno == ENXIO ? -ENODEV : -errno;
		goto out;
	}
	d->ifindex = ifr.ifr_ifindex;
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
		r = -errno;
		goto out;
	}
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		r = -EPROTONOSUPPORT;
		goto out;
	}
	memcpy(d->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	if (ioctl(s, SIOCGIFMTU, &ifr) < 0) {
		r = -errno;
		goto out;
	}
	d->ifmtu = (uint32_t)ifr.ifr_mtu;
out:
	close(s);
	if (r == -ENODEV)
		snprintf(err, errlen, "link %s: no interface %s", d->name, d->ifname);
	else if (r == -EPROTONOSUPPORT)
		snprintf(err, errlen, "link %s: %s is not an Ethernet interface", d->name, d->ifname);
	else if (r < 0)
		snprintf(err, errlen, "link %s: interface %s: %s", d->name, d->ifname, strerror(-r));
	return r;
}

static void
capture_close(struct link_driver *d)
{
	if (d->pcap == NULL)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->capfd, NULL);
	pcap_close(d->pcap);
	d->pcap = NULL;
	d->capfd = -1;
}

/* pcap_activate()'s failure as -errno, with what the operator needs to know. */
static int
activate_error(struct link_driver *d, int status, char *err, size_t errlen)
{
	switch (status) {
	case PCAP_ERROR_IFACE_NOT_UP:
		snprintf(err, errlen, "link %s: interface %s is down", d->name, d->ifname);
		return -ENETDOWN;
	case PCAP_ERROR_NO_SUCH_DEVICE:
		snprintf(err, errlen, "link %s: no interface %s", d->name, d->ifname);
		return -ENODEV;
	case PCAP_ERROR_PERM_DENIED:
		snprintf(err, errlen, "link %s: cannot capture on %s: permission denied (raw frames need root or CAP_NET_RAW)",
		    d->name, d->ifname);
		return -EPERM;
	default:
		snprintf(err, errlen, "link %s: cannot capture on %s: %s (%s)", d->name, d->ifname,
		    pcap_statustostr(status), pcap_geterr(d->pcap));
		return -EIO;
	}
}

/*
 * Start capturing: our EtherType, not from our own MAC, every frame handed
 * over at once, never blocking.  0 or -errno with a message in err.
 */
static int
capture_open(struct link_driver *d, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "", filter[96];
	struct bpf_program prog;
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	if ((r = iface_query(d, err, errlen)) < 0)
		return r;
	if (d->ifmtu < d->mtu + PCAP_LEN_BYTES)
		log_warnx("link %s: %s now carries %u bytes, less than the link's mtu %u plus %d: big frames will fail",
		    d->name, d->ifname, d->ifmtu, d->mtu, PCAP_LEN_BYTES);
	if ((d->pcap = pcap_create(d->ifname, ebuf)) == NULL) {
		snprintf(err, errlen, "link %s: pcap on %s: %s", d->name, d->ifname, ebuf);
		return -ENOMEM;
	}
	/* Snapshot: a whole frame of this MTU (libpcap sizes its ring slots by it). */
	pcap_set_snaplen(d->pcap, (int)(d->ifmtu + ETH_HLEN + PCAP_VLAN_ROOM));
	pcap_set_promisc(d->pcap, 0);
	pcap_set_immediate_mode(d->pcap, 1);
	if ((r = pcap_activate(d->pcap)) < 0) {
		r = activate_error(d, r, err, errlen);
		goto fail;
	}
	if (r > 0)
		log_warnx("link %s: capture on %s: %s", d->name, d->ifname, pcap_statustostr(r));
	if (pcap_datalink(d->pcap) != DLT_EN10MB) {
		snprintf(err, errlen, "link %s: %s does not carry Ethernet frames (%s)", d->name, d->ifname,
		    pcap_datalink_val_to_name(pcap_datalink(d->pcap)));
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	snprintf(filter, sizeof(filter), "ether proto 0x%04x and not ether src %02x:%02x:%02x:%02x:%02x:%02x",
	    d->ethertype, d->mac[0], d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5]);
	if (pcap_compile(d->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "link %s: filter '%s': %s", d->name, filter, pcap_geterr(d->pcap));
		r = -EINVAL;
		goto fail;
	}
	r = pcap_setfilter(d->pcap, &prog);
	pcap_freecode(&prog);
	if (r < 0) {
		snprintf(err, errlen, "link %s: filter on %s: %s", d->name, d->ifname, pcap_geterr(d->pcap));
		r = -EIO;
		goto fail;
	}
	/* pcap_setnonblock() covers reading; our own O_NONBLOCK keeps pcap_inject() from blocking too. */
	if (pcap_setnonblock(d->pcap, 1, ebuf) < 0 || (d->capfd = pcap_get_selectable_fd(d->pcap)) < 0 ||
	    fcntl(d->capfd, F_SETFL, fcntl(d->capfd, F_GETFL) | O_NONBLOCK) < 0 ||
	    epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->capfd, &ev) < 0) {
		snprintf(err, errlen, "link %s: capture on %s: cannot poll it: %s", d->name, d->ifname,
		    ebuf[0] ? ebuf : strerror(errno));
		r = -EIO;
		goto fail;
	}
	return 0;
fail:
	pcap_close(d->pcap);
	d->pcap = NULL;
	d->capfd = -1;
	return r;
}

/* When the link sends: capture again if the interface was down or gone. */
static int
capture_ensure(struct link_driver *d)
{
	char err[PCAP_ERRBUF_SIZE + 128];
	int r;

	if (d->pcap)
		return 0;
	if ((r = capture_open(d, err, sizeof(err))) == 0)
		log_info("link %s: capturing on %s", d->name, d->ifname);
	else if (r != -ENETDOWN)
		log_limited(&d->rl, "%s", err);
	return r;
}

static struct link_driver *
raw_open(const struct link_conf *c, char *err, size_t errlen)
{
	struct link_driver *d;
	uint32_t most;
	int r;

	if (c->ifname[0] == '\0') {
		snprintf(err, errlen, "link %s: a pcap link needs an interface", c->name);
		return NULL;
	}
	if (c->ethertype != 0 && c->ethertype < ETH_P_802_3_MIN) {
		snprintf(err, errlen, "link %s: ethertype 0x%04x is a length, not an EtherType (0x0600 and up)",
		    c->name, c->ethertype);
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(d->name, sizeof(d->name), "%s", c->name);
	snprintf(d->ifname, sizeof(d->ifname), "%s", c->ifname);
	d->ethertype = c->ethertype ? c->ethertype : PCAP_ETHERTYPE_DEFAULT;
	d->capfd = -1;
	if ((d->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		snprintf(err, errlen, "link %s: epoll: %s", c->name, strerror(errno));
		goto fail;
	}
	if (iface_query(d, err, errlen) < 0)
		goto fail;
	if (d->ifmtu <= PCAP_LEN_BYTES) {
		snprintf(err, errlen, "link %s: %s has an mtu of %u bytes", c->name, c->ifname, d->ifmtu);
		goto fail;
	}
	/* The whole Ethernet payload, less our length field. */
	most = (d->ifmtu < 65535 ? d->ifmtu : 65535) - PCAP_LEN_BYTES;
	if (c->mtu > most) {
		snprintf(err, errlen, "link %s: mtu %u is more than %s carries (%u: its mtu %u less %d bytes of length)",
		    c->name, c->mtu, c->ifname, most, d->ifmtu, PCAP_LEN_BYTES);
		goto fail;
	}
	d->mtu = c->mtu ? c->mtu : most;
	if ((r = capture_open(d, err, errlen)) == -ENETDOWN)
		log_info("link %s: %s is down; capturing starts when it comes up", c->name, c->ifname);
	else if (r < 0)
		goto fail;
	return d;
fail:
	if (d->epfd >= 0)
		close(d->epfd);
	free(d);
	return NULL;
}

static int
raw_fd(const struct link_driver *d)
{
	return d->epfd;
}

static uint32_t
raw_mtu(const struct link_driver *d)
{
	return d->mtu;
}

/*
 * An Ethernet frame of ours, byte by byte (pcap_inject() gives it to the
 * interface as is; the hardware adds the FCS and pads it to 60 bytes):
 *
 *   0..5    destination MAC: a neighbour's, or ff:ff:ff:ff:ff:ff (beacons)
 *   6..11   source MAC: this interface's
 *   12..13  EtherType, big-endian (ethertype =, default 0x88b5)
 *   14..15  length of the link frame, big-endian: padding is not ours
 *   16..    the link frame (radio/frame.c), then any padding
 */
static int
raw_send(struct link_driver *d, const struct link_addr *to, const void *frame, size_t len)
{
	static const uint8_t broadcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const struct sockaddr_ll *ll = to ? (const struct sockaddr_ll *)&to->sa : NULL;
	int r;

	if (len > d->mtu)
		return -EMSGSIZE;
	if (ll && (ll->sll_family != AF_PACKET || ll->sll_halen != ETH_ALEN))
		return -EAFNOSUPPORT;
	if ((r = capture_ensure(d)) < 0)
		return r;
	memcpy(d->tx, ll ? ll->sll_addr : broadcast, ETH_ALEN);
	memcpy(d->tx + ETH_ALEN, d->mac, ETH_ALEN);
	d->tx[12] = (uint8_t)(d->ethertype >> 8);
	d->tx[13] = (uint8_t)d->ethertype;
	d->tx[14] = (uint8_t)(len >> 8);
	d->tx[15] = (uint8_t)len;
	memcpy(d->tx + PCAP_HDR, frame, len);
	errno = 0;
	if (pcap_inject(d->pcap, d->tx, PCAP_HDR + len) >= 0)
		return 0;
	r = errno;
	if (r == EAGAIN || r == EWOULDBLOCK || r == ENOBUFS)
		return -EAGAIN;	/* the interface's queue is full */
	if (r == ENXIO || r == ENODEV) {
		/* The interface went away under the capture: open it again on the next send. */
		log_info("link %s: %s is gone; capturing again when it returns", d->name, d->ifname);
		capture_close(d);
		return -ENETDOWN;
	}
	return r ? -r : -EIO;
}

/*
 * One frame of ours from the capture.  Foreign frames (another EtherType,
 * our own, a group source address) are skipped; short ones, and ones whose
 * length field claims more than arrived, are -EMSGSIZE, which the link
 * counts as truncated.
 */
static ssize_t
raw_recv(struct link_driver *d, struct link_addr *from, void *buf, size_t cap)
{
	struct sockaddr_ll *ll = (struct sockaddr_ll *)&from->sa;
	struct pcap_pkthdr *h;
	const uint8_t *p;
	size_t n;
	int r;

	for (int i = 0; d->pcap && i < PCAP_SKIP_MAX; i++) {
		if ((r = pcap_next_ex(d->pcap, &h, &p)) == 0)
			return -EAGAIN;
		if (r < 0) {
			log_limited(&d->rl, "link %s: capture on %s failed: %s; opening it again on the next send",
			    d->name, d->ifname, pcap_geterr(d->pcap));
			capture_close(d);
			return -ENETDOWN;
		}
		if (h->caplen < ETH_HLEN || ((p[12] << 8) | p[13]) != d->ethertype ||
		    memcmp(p + ETH_ALEN, d->mac, ETH_ALEN) == 0 || (p[ETH_ALEN] & 1))
			continue;
		if (h->caplen < h->len || h->caplen < PCAP_HDR)
			return -EMSGSIZE;
		n = ((size_t)p[14] << 8) | p[15];
		if (n > h->caplen - PCAP_HDR || n > cap)
			return -EMSGSIZE;
		memcpy(buf, p + PCAP_HDR, n);
		memset(from, 0, sizeof(*from));
		ll->sll_family = AF_PACKET;
		ll->sll_protocol = htons(d->ethertype);
		ll->sll_ifindex = d->ifindex;
		ll->sll_hatype = ARPHRD_ETHER;
		ll->sll_halen = ETH_ALEN;
		memcpy(ll->sll_addr, p + ETH_ALEN, ETH_ALEN);
		from->len = sizeof(*ll);
		return (ssize_t)n;
	}
	return -EAGAIN;
}

static void
raw_close(struct link_driver *d)
{
	if (d == NULL)
		return;
	capture_close(d);
	close(d->epfd);
	free(d);
}

const struct link_driver_ops link_pcap_ops = {
	.kind = "pcap",
	.open = raw_open,
	.fd = raw_fd,
	.send = raw_send,
	.recv = raw_recv,
	.close = raw_close,
	.mtu = raw_mtu,
};
