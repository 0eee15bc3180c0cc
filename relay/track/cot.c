/*
 * cot.c - the CoT SA multicast sender (cot.h).  One event per datagram, with
 * its XML declaration, as ATAK sends its own position.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cot.h"
#include "hostport.h"
#include "export.h"

struct cot {
	int fd;
	struct sockaddr_storage dest;
	socklen_t dest_len;
	uint32_t stale_s;
	struct cot_stats st;
};

static bool
is_multicast(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return IN_MULTICAST(ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr));
	return IN6_IS_ADDR_MULTICAST(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* The multicast options of a socket sending to c->dest. */
static int
set_multicast(struct cot *c, const struct cot_opts *o, char *err, size_t errlen)
{
	int ttl = o != NULL && o->ttl > 0 ? o->ttl : 1, loop = 1;

	if (c->dest.ss_family == AF_INET) {
		unsigned char ttl8 = (unsigned char)(ttl > 255 ? 255 : ttl), loop8 = 1;

		if (setsockopt(c->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl8, sizeof(ttl8)) != 0 ||
		    setsockopt(c->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop8, sizeof(loop8)) != 0)
			goto fail;
		if (o != NULL && o->ifaddr != NULL && o->ifaddr[0] != '\0') {
			struct in_addr ifa;

			if (inet_pton(AF_INET, o->ifaddr, &ifa) != 1) {
				snprintf(err, errlen, "CoT: interface address '%s' is not an IPv4 address",
				    o->ifaddr);
				return -EINVAL;
			}
			if (setsockopt(c->fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa)) != 0)
				goto fail;
		}
		return 0;
	}
	if (setsockopt(c->fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl)) != 0 ||
	    setsockopt(c->fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof(loop)) != 0)
		goto fail;
	return 0;
fail:
	{
		int e = errno;

		snprintf(err, errlen, "CoT: multicast options: %s", strerror(e));
		return -e;
	}
}

struct cot *
cot_new(const char *dest, const struct cot_opts *o, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	char host[256], port[8];
	struct cot *c;
	int rc, e;

	if (dest == NULL || dest[0] == '\0')
		dest = COT_DEFAULT_DEST;
	if (hostport_split(dest, host, sizeof(host), port, sizeof(port)) != 0 || host[0] == '\0') {
		snprintf(err, errlen, "CoT: '%s' is not HOST:PORT (e.g. %s)", dest, COT_DEFAULT_DEST);
		errno = EINVAL;
		return NULL;
	}
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "CoT: %s: %s", dest, gai_strerror(rc));
		errno = rc == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		e = ENOMEM;
		snprintf(err, errlen, "CoT: out of memory");
		goto fail_ai;
	}
	memcpy(&c->dest, ai->ai_addr, ai->ai_addrlen);
	c->dest_len = ai->ai_addrlen;
	c->stale_s = o != NULL && o->stale_s > 0 ? o->stale_s : EXPORT_COT_STALE_S;
	if ((c->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		e = errno;
		snprintf(err, errlen, "CoT: socket: %s", strerror(e));
		goto fail_c;
	}
	if (is_multicast(&c->dest) && (e = -set_multicast(c, o, err, errlen)) != 0)
		goto fail_fd;
	freeaddrinfo(ai);
	return c;
fail_fd:
	close(c->fd);
fail_c:
	free(c);
fail_ai:
	freeaddrinfo(ai);
	errno = e;
	return NULL;
}

void
cot_free(struct cot *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}

int
cot_send(struct cot *c, const struct track_row *row)
{
	char buf[COT_DATAGRAM_MAX];
	int len = export_cot_event(row, c->stale_s, true, buf, sizeof(buf));
	ssize_t n;

	if (len < 0) {
		c->st.failed++;
		return len;
	}
	n = sendto(c->fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (const struct sockaddr *)&c->dest, c->dest_len);
	if (n < 0) {
		int e = errno;

		if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
			c->st.dropped++;
			return -EAGAIN;
		}
		c->st.failed++;
		return -e;
	}
	c->st.sent++;
	c->st.bytes += (uint64_t)n;
	return 0;
}

void
cot_get_stats(const struct cot *c, struct cot_stats *st)
{
	*st = c->st;
}
