/*
 * udp.c - the UDP link driver: mesh Wi-Fi or any IP network.
 *
 * One socket per link, bound to the configured port.  Beacons go to an IPv4
 * multicast group and/or an IPv6 link-local group on the link's interface
 * (multicast reaches one IP hop only), and to every static peer, which is how
 * a node beyond a babeld-routed mesh is reached.  Frames to a neighbour go
 * unicast.  IPv6 sockets are dual-stack, so one socket serves both families.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "link.h"

/*
 * Socket buffers: a sender's window of segments arrives as one burst, which
 * the default (about 200 KB, and counted with the kernel's overhead per
 * datagram) does not hold once segments are large or the window wide.
 */
#define UDP_SOCKBUF		(2 << 20)

struct link_driver {
	int fd;
	unsigned ifindex;
	struct link_addr group4, group6;
	struct link_addr peers[LINK_MAX_PEERS];
	unsigned n_peers;
};

/* Best effort: as root beyond net.core.[rw]mem_max, else up to it. */
static void
sockbuf(int fd, int opt, int force)
{
	int size = UDP_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

static struct link_driver *
udp_open(const struct link_conf *c, char *err, size_t errlen)
{
	struct sockaddr_in6 local = { .sin6_family = AF_INET6, .sin6_port = htons(c->port) };
	struct link_driver *d;
	int off = 0;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->fd = -1;
	if (c->ifname[0] && (d->ifindex = if_nametoindex(c->ifname)) == 0) {
		snprintf(err, errlen, "link %s: no interface %s", c->name, c->ifname);
		goto fail;
	}
	if (c->bind[0]) {
		struct link_addr b, b6;

		if (link_addr_parse(&b, c->bind, c->port) < 0) {
			snprintf(err, errlen, "link %s: bad bind address %s", c->name, c->bind);
			goto fail;
		}
		link_addr_to_v6(&b, &b6);
		local = *(struct sockaddr_in6 *)&b6.sa;
	}
	if ((d->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(d->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0) {
		snprintf(err, errlen, "link %s: socket: %s", c->name, strerror(errno));
		goto fail;
	}
	if (c->ifname[0] && setsockopt(d->fd, SOL_SOCKET, SO_BINDTODEVICE, c->ifname,
	    (socklen_t)strlen(c->ifname)) < 0) {
		snprintf(err, errlen, "link %s: bind to %s: %s", c->name, c->ifname, strerror(errno));
		goto fail;
	}
	sockbuf(d->fd, SO_RCVBUF, SO_RCVBUFFORCE);
	sockbuf(d->fd, SO_SNDBUF, SO_SNDBUFFORCE);
	if (bind(d->fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		snprintf(err, errlen, "link %s: bind port %u: %s", c->name, c->port, strerror(errno));
		goto fail;
	}
	if (c->group4[0]) {
		struct ip_mreqn mr = { .imr_ifindex = (int)d->ifindex };

		if (link_addr_parse(&d->group4, c->group4, c->port) < 0 || d->group4.sa.ss_family != AF_INET ||
		    !IN_MULTICAST(ntohl(((struct sockaddr_in *)&d->group4.sa)->sin_addr.s_addr))) {
			snprintf(err, errlen, "link %s: %s is not an IPv4 multicast group", c->name, c->group4);
			goto fail;
		}
		mr.imr_multiaddr = ((struct sockaddr_in *)&d->group4.sa)->sin_addr;
		if (setsockopt(d->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
		    setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) < 0 ||
		    setsockopt(d->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &off, sizeof(off)) < 0) {
			snprintf(err, errlen, "link %s: join %s: %s", c->name, c->group4, strerror(errno));
			goto fail;
		}
	}
	if (c->group6[0]) {
		struct ipv6_mreq mr = { .ipv6mr_interface = d->ifindex };

		if (link_addr_parse(&d->group6, c->group6, c->port) < 0 || d->group6.sa.ss_family != AF_INET6 ||
		    !IN6_IS_ADDR_MULTICAST(&((struct sockaddr_in6 *)&d->group6.sa)->sin6_addr) || d->ifindex == 0) {
			snprintf(err, errlen, "link %s: %s is not an IPv6 multicast group, or no interface is set",
			    c->name, c->group6);
			goto fail;
		}
		((struct sockaddr_in6 *)&d->group6.sa)->sin6_scope_id = d->ifindex;
		mr.ipv6mr_multiaddr = ((struct sockaddr_in6 *)&d->group6.sa)->sin6_addr;
		if (setsockopt(d->fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
		    setsockopt(d->fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &d->ifindex, sizeof(d->ifindex)) < 0 ||
		    setsockopt(d->fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &off, sizeof(off)) < 0) {
			snprintf(err, errlen, "link %s: join %s: %s", c->name, c->group6, strerror(errno));
			goto fail;
		}
	}
	for (unsigned i = 0; i < c->n_peers; i++) {
		if (link_addr_parse(&d->peers[i], c->peers[i], c->port) < 0) {
			snprintf(err, errlen, "link %s: bad peer address %s (numeric host:port)", c->name, c->peers[i]);
			goto fail;
		}
		d->n_peers++;
	}
	return d;
fail:
	if (d->fd >= 0)
		close(d->fd);
	free(d);
	return NULL;
}

static int
udp_fd(const struct link_driver *d)
{
	return d->fd;
}

static int
send_one(struct link_driver *d, const struct link_addr *to, const void *frame, size_t len)
{
	struct link_addr v6;

	link_addr_to_v6(to, &v6);
	if (sendto(d->fd, frame, len, MSG_DONTWAIT, (struct sockaddr *)&v6.sa, v6.len) < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

static int
udp_send(struct link_driver *d, const struct link_addr *to, const void *frame, size_t len)
{
	int r = 0, e;

	if (to)
		return send_one(d, to, frame, len);
	/* Everyone: the groups and every static peer; report the first failure. */
	if (d->group4.len && (e = send_one(d, &d->group4, frame, len)) < 0 && r == 0)
		r = e;
	if (d->group6.len && (e = send_one(d, &d->group6, frame, len)) < 0 && r == 0)
		r = e;
	for (unsigned i = 0; i < d->n_peers; i++)
		if ((e = send_one(d, &d->peers[i], frame, len)) < 0 && r == 0)
			r = e;
	return r;
}

static ssize_t
udp_recv(struct link_driver *d, struct link_addr *from, void *buf, size_t cap)
{
	socklen_t sl = sizeof(from->sa);
	ssize_t n = recvfrom(d->fd, buf, cap, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from->sa, &sl);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((size_t)n > cap)
		return -EMSGSIZE;	/* truncated: never parse half a frame */
	from->len = sl;
	link_addr_from_v6(from);
	return n;
}

static void
udp_close(struct link_driver *d)
{
	if (d == NULL)
		return;
	close(d->fd);
	free(d);
}

const struct link_driver_ops link_udp_ops = {
	.kind = "udp",
	.open = udp_open,
	.fd = udp_fd,
	.send = udp_send,
	.recv = udp_recv,
	.close = udp_close,
};
