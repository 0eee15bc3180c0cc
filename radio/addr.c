/*
 * addr.c - link addresses of every medium: IP socket addresses (UDP),
 * Ethernet MACs (pcap) and AX.25 callsigns (KISS); parsed from the config,
 * formatted for logs and `fieldrelay links`, compared for the neighbour
 * table.  Here, below the drivers, so that no driver needs another one.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* ---- AX.25 callsigns ---- */

int
ax25_call_parse(const char *text, struct ax25_call *c)
{
	const char *dash = strchr(text, '-');
	size_t n = dash ? (size_t)(dash - text) : strlen(text);

	memset(c, 0, sizeof(*c));
	if (n < 1 || n > 6)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)text[i]) || (unsigned char)text[i] > 0x7f)
			return -EINVAL;
		c->call[i] = (char)toupper((unsigned char)text[i]);
	}
	if (dash) {
		const char *s = dash + 1;

		if (s[0] < '0' || s[0] > '9' || (s[1] && (s[1] < '0' || s[1] > '9' || s[2] || s[0] == '0')))
			return -EINVAL;
		if (atoi(s) > 15)
			return -EINVAL;
		c->ssid = (uint8_t)atoi(s);
	}
	return 0;
}

int
ax25_call_format(const struct ax25_call *c, char *out, size_t cap)
{
	if (c->ssid)
		return snprintf(out, cap, "%s-%u", c->call, c->ssid);
	return snprintf(out, cap, "%s", c->call);
}

bool
ax25_call_equal(const struct ax25_call *a, const struct ax25_call *b)
{
	return a->ssid == b->ssid && strcmp(a->call, b->call) == 0;
}

void
link_addr_ax25(struct link_addr *a, const struct ax25_call *c)
{
	struct ax25_sockaddr *s = (struct ax25_sockaddr *)&a->sa;

	memset(a, 0, sizeof(*a));
	s->family = AF_AX25;
	s->call = *c;
	a->len = sizeof(*s);
}

static int
ax25_addr_format(const struct link_addr *a, char *out, size_t cap)
{
	const struct ax25_sockaddr *s = (const struct ax25_sockaddr *)&a->sa;

	if (a->len != sizeof(*s) || s->family != AF_AX25)
		return snprintf(out, cap, "(none)");
	return ax25_call_format(&s->call, out, cap);
}

/* ---- IP and Ethernet ---- */

int
link_addr_parse(struct link_addr *a, const char *text, uint16_t default_port)
{
	char host[80];
	const char *port = NULL, *scope;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
	unsigned long p = default_port;
	char *end;

	memset(a, 0, sizeof(*a));
	if (strlen(text) >= sizeof(host))
		return -EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return -EINVAL;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port = close[1] == ':' ? close + 2 : NULL;
	} else {
		const char *colon = strrchr(text, ':');

		if (colon && strchr(text, ':') != colon)
			return -EINVAL;	/* bare IPv6 needs brackets */
		snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - text) : (int)strlen(text), text);
		port = colon ? colon + 1 : NULL;
	}
	if (port) {
		p = strtoul(port, &end, 10);
		if (*port == '\0' || *end != '\0' || p == 0 || p > 65535)
			return -EINVAL;
	}
	if (p == 0)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		a->len = sizeof(*s4);
		return 0;
	}
	if ((scope = strchr(host, '%')) != NULL) {
		char ifn[IF_NAMESIZE + 1];

		snprintf(ifn, sizeof(ifn), "%s", scope + 1);
		host[scope - host] = '\0';
		if ((s6->sin6_scope_id = if_nametoindex(ifn)) == 0)
			return -ENODEV;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		a->len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

/* IPv4 addresses are handled as v4-mapped IPv6 on our dual-stack socket. */
void
link_addr_to_v6(const struct link_addr *in, struct link_addr *out)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&in->sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->sa;

	if (in->sa.ss_family != AF_INET) {
		*out = *in;
		return;
	}
	memset(out, 0, sizeof(*out));
	s6->sin6_family = AF_INET6;
	s6->sin6_port = s4->sin_port;
	s6->sin6_addr.s6_addr[10] = 0xff;
	s6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&s6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
	out->len = sizeof(*s6);
}

/* The other way, so that logs and peers show plain IPv4. */
void
link_addr_from_v6(struct link_addr *a)
{
	struct sockaddr_in6 s6 = *(struct sockaddr_in6 *)&a->sa;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;

	if (s6.sin6_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
		return;
	memset(&a->sa, 0, sizeof(a->sa));
	s4->sin_family = AF_INET;
	s4->sin_port = s6.sin6_port;
	memcpy(&s4->sin_addr, &s6.sin6_addr.s6_addr[12], 4);
	a->len = sizeof(*s4);
}

int
link_addr_format(const struct link_addr *a, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN], ifn[IF_NAMESIZE] = "";
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;

	if (a->sa.ss_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		return snprintf(out, cap, "%s:%u", host, ntohs(s4->sin_port));
	}
	if (a->sa.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		if (s6->sin6_scope_id)
			if_indextoname(s6->sin6_scope_id, ifn);
		return snprintf(out, cap, "[%s%s%s]:%u", host, ifn[0] ? "%" : "", ifn, ntohs(s6->sin6_port));
	}
	if (a->sa.ss_family == AF_PACKET) {
		const struct sockaddr_ll *ll = (const struct sockaddr_ll *)&a->sa;
		char mac[3 * sizeof(ll->sll_addr) + 1] = "";
		unsigned i;

		for (i = 0; i < ll->sll_halen && i < sizeof(ll->sll_addr); i++)
			sprintf(mac + 3 * i, "%02x:", ll->sll_addr[i]);
		if (i > 0)
			mac[3 * i - 1] = '\0';	/* no colon after the last byte */
		return snprintf(out, cap, "%s", mac);
	}
	if (a->sa.ss_family == AF_AX25)
		return ax25_addr_format(a, out, cap);
	return snprintf(out, cap, "(none)");
}

bool
link_addr_equal(const struct link_addr *a, const struct link_addr *b)
{
	const struct sockaddr_ll *la = (const struct sockaddr_ll *)&a->sa, *lb = (const struct sockaddr_ll *)&b->sa;
	struct link_addr x, y;

	/* A station is its MAC: the frame type it last sent from does not matter. */
	if (a->sa.ss_family == AF_PACKET || b->sa.ss_family == AF_PACKET)
		return a->sa.ss_family == b->sa.ss_family && la->sll_halen == lb->sll_halen &&
		    la->sll_halen <= sizeof(la->sll_addr) && memcmp(la->sll_addr, lb->sll_addr, la->sll_halen) == 0;
	link_addr_to_v6(a, &x);
	link_addr_to_v6(b, &y);
	return x.len == y.len && memcmp(&x.sa, &y.sa, x.len) == 0;
}
