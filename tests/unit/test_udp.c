/* test_udp.c - the UDP link driver on loopback: addresses, static peers, unicast, bad config. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include <cmocka.h>

#include "link.h"
#include "ports.h"

static void
test_addresses(void **state)
{
	struct link_addr a, b;
	char s[96];

	assert_int_equal(link_addr_parse(&a, "127.0.0.1:4556", 1), 0);
	link_addr_format(&a, s, sizeof(s));
	assert_string_equal(s, "127.0.0.1:4556");
	assert_int_equal(link_addr_parse(&a, "10.1.2.3", 4556), 0);
	link_addr_format(&a, s, sizeof(s));
	assert_string_equal(s, "10.1.2.3:4556");
	assert_int_equal(link_addr_parse(&a, "[::1]:5000", 1), 0);
	link_addr_format(&a, s, sizeof(s));
	assert_string_equal(s, "[::1]:5000");
	assert_int_equal(link_addr_parse(&a, "[fe80::1%lo]:7", 1), 0);
	link_addr_format(&a, s, sizeof(s));
	assert_string_equal(s, "[fe80::1%lo]:7");
	assert_int_equal(link_addr_parse(&a, "[fe80::1%nosuchif0]:7", 1), -ENODEV);
	assert_int_equal(link_addr_parse(&a, "::1:55", 1), -EINVAL);		/* needs brackets */
	assert_int_equal(link_addr_parse(&a, "relay.example:55", 1), -EINVAL);	/* no DNS */
	assert_int_equal(link_addr_parse(&a, "1.2.3.4:0", 1), -EINVAL);
	assert_int_equal(link_addr_parse(&a, "1.2.3.4:65536", 1), -EINVAL);
	assert_int_equal(link_addr_parse(&a, "1.2.3.4:", 1), -EINVAL);
	assert_int_equal(link_addr_parse(&a, "[::1", 1), -EINVAL);
	assert_int_equal(link_addr_parse(&a, "1.2.3.4", 0), -EINVAL);		/* no port at all */
	link_addr_parse(&a, "127.0.0.1:9", 1);
	link_addr_parse(&b, "127.0.0.1:9", 1);
	assert_true(link_addr_equal(&a, &b));
	link_addr_parse(&b, "127.0.0.1:10", 1);
	assert_false(link_addr_equal(&a, &b));
}

static ssize_t
wait_recv(const struct link_driver_ops *ops, struct link_driver *d, struct link_addr *from, void *buf, size_t cap)
{
	struct pollfd p = { .fd = ops->fd(d), .events = POLLIN };

	assert_int_equal(poll(&p, 1, 2000), 1);
	return ops->recv(d, from, buf, cap);
}

static void
test_peers_and_unicast(void **state)
{
	const struct link_driver_ops *ops = &link_udp_ops;
	uint16_t pa_port = test_free_port(), pb_port = test_free_port();
	struct link_conf ca = { .name = "a", .kind = LINK_UDP, .port = pa_port, .n_peers = 1 };
	struct link_conf cb = { .name = "b", .kind = LINK_UDP, .port = pb_port };
	struct link_driver *a, *b;
	struct link_addr from, pa;
	char err[256], buf[64], s[96], want[32];
	ssize_t n;

	snprintf(ca.peers[0], sizeof(ca.peers[0]), "127.0.0.1:%u", pb_port);
	assert_non_null(a = ops->open(&ca, err, sizeof(err)));
	assert_non_null(b = ops->open(&cb, err, sizeof(err)));
	assert_int_equal(ops->recv(b, &from, buf, sizeof(buf)), -EAGAIN);
	/* A beacon to everyone reaches the static peer. */
	assert_int_equal(ops->send(a, NULL, "beacon", 6), 0);
	n = wait_recv(ops, b, &from, buf, sizeof(buf));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "beacon", 6);
	link_addr_format(&from, s, sizeof(s));
	snprintf(want, sizeof(want), "127.0.0.1:%u", pa_port);
	assert_string_equal(s, want);
	link_addr_parse(&pa, want, 1);
	assert_true(link_addr_equal(&from, &pa));
	/* The answer goes straight back to where it came from. */
	assert_int_equal(ops->send(b, &pa, "segment", 7), 0);
	assert_int_equal(wait_recv(ops, a, &from, buf, sizeof(buf)), 7);
	link_addr_format(&from, s, sizeof(s));
	snprintf(want, sizeof(want), "127.0.0.1:%u", pb_port);
	assert_string_equal(s, want);
	/* A frame bigger than the buffer is refused whole, never half-parsed. */
	assert_int_equal(ops->send(b, &pa, "0123456789", 10), 0);
	assert_int_equal(wait_recv(ops, a, &from, buf, 4), -EMSGSIZE);
	ops->close(a);
	ops->close(b);
}

static void
test_bad_config(void **state)
{
	const struct link_driver_ops *ops = &link_udp_ops;
	struct link_conf c = { .name = "mesh", .kind = LINK_UDP, .port = test_free_port() };
	char err[256];

	strcpy(c.ifname, "nosuchif0");
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "no interface nosuchif0"));
	c.ifname[0] = '\0';
	strcpy(c.group4, "10.0.0.1");
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "not an IPv4 multicast group"));
	c.group4[0] = '\0';
	strcpy(c.group6, "ff02::4556");	/* link-local multicast needs an interface */
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "no interface is set"));
	c.group6[0] = '\0';
	c.n_peers = 1;
	strcpy(c.peers[0], "cc.example:1");
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "bad peer address"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_peers_and_unicast),
		cmocka_unit_test(test_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
