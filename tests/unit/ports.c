/*
 * ports.c - free ports for the unit tests.  See ports.h.
 *
 * The reservation is an abstract unix socket named for the port (the name
 * tests/harness/ports.py uses too): no file to clean up, and the
 * kernel lets go of it when the process dies however it dies.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ports.h"

#define PORT_MIN 20000

static void
ephemeral_range(unsigned *lo, unsigned *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	*lo = 32768;	/* Linux's default */
	*hi = 60999;
	if (f == NULL)
		return;
	if (fscanf(f, "%u %u", lo, hi) != 2) {
		*lo = 32768;
		*hi = 60999;
	}
	fclose(f);
}

/* The reservation's fd (held open until the process exits), or -1 if
 * another process has it. */
static int
reserve(unsigned port)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int n;

	if (fd < 0)
		return -1;
	/* Abstract: sun_path[0] is NUL, the name is not NUL-terminated. */
	n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "fieldrelay-test-port-%u", port);
	if (bind(fd, (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool
bindable(int family, int type, unsigned port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd = socket(family, type | SOCK_CLOEXEC, 0), one = 1, r;

	if (fd < 0)
		return errno == EAFNOSUPPORT;	/* no IPv6 here: nothing to collide with */
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		r = bind(fd, (struct sockaddr *)&s6, sizeof(s6));
	} else {
		r = bind(fd, (struct sockaddr *)&s4, sizeof(s4));
	}
	close(fd);
	return r == 0;
}

static bool
port_free(unsigned port)
{
	return bindable(AF_INET, SOCK_DGRAM, port) && bindable(AF_INET, SOCK_STREAM, port) &&
	    bindable(AF_INET6, SOCK_DGRAM, port) && bindable(AF_INET6, SOCK_STREAM, port);
}

void
test_free_ports(uint16_t *ports, int n)
{
	static unsigned seed;
	unsigned lo, hi, span, start, got = 0;

	ephemeral_range(&lo, &hi);
	if (lo <= PORT_MIN && hi >= 65535)	/* no room outside it: probing must do */
		lo = hi = 0;
	span = 65536 - PORT_MIN;
	if (seed == 0)
		seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	start = (unsigned)rand_r(&seed) % span;
	for (unsigned i = 0; i < span && got < (unsigned)n; i++) {
		unsigned port = PORT_MIN + (start + i) % span;
		int fd;

		if (port >= lo && port <= hi)
			continue;
		if ((fd = reserve(port)) < 0)
			continue;	/* another test (run) has it */
		if (!port_free(port)) {
			close(fd);
			continue;
		}
		ports[got++] = (uint16_t)port;
	}
	if (got < (unsigned)n)
		fail_msg("no %d free ports outside the ephemeral range %u-%u", n, lo, hi);
}

uint16_t
test_free_port(void)
{
	uint16_t port;

	test_free_ports(&port, 1);
	return port;
}
