/*
 * test_cot.c - the CoT SA multicast sender (relay/track/cot.c): an event
 * sent to a multicast group is received by a socket on this host that
 * joined it on the loopback interface (as an ATAK device on the LAN would),
 * and it is the event export.c renders; unicast works too; bad addresses are
 * refused with a sentence.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "cot.h"
#include "export.h"
#include "ports.h"

static struct track_row
mkrow(const char *unit, enum fix_kind kind)
{
	struct track_row r;

	memset(&r, 0, sizeof(r));
	snprintf(r.unit, sizeof(r.unit), "%s", unit);
	fix_init(&r.fix);
	r.fix.time_ms = 1700000000000LL;
	r.fix.lat = 46.5;
	r.fix.lon = 7.25;
	r.fix.alt = 1500;
	r.fix.kind = kind;
	r.fix.source = kind == FIX_DRONE ? FIX_MAVLINK : FIX_GPSD;
	return r;
}

/* A receiver on port: joined to group on loopback (group non-NULL), or unicast. -1 if it cannot join. */
static int
receiver(uint16_t port, const char *group)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	if (group != NULL) {
		struct ip_mreq mr;

		/* Bound to the group: only what is sent to it arrives. */
		inet_pton(AF_INET, group, &sa.sin_addr);
		inet_pton(AF_INET, group, &mr.imr_multiaddr);
		mr.imr_interface.s_addr = htonl(INADDR_LOOPBACK);
		if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) {
			print_message("IP_ADD_MEMBERSHIP on loopback: %s\n", strerror(errno));
			close(fd);
			return -1;
		}
	} else {
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* One datagram within timeout_ms into buf: its length, or -1. */
static int
recv_one(int fd, char *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, timeout_ms) != 1)
		return -1;
	n = recv(fd, buf, cap - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

static void
expect_event(const char *got, const struct track_row *r, uint32_t stale_s)
{
	char want[COT_DATAGRAM_MAX];

	assert_true(export_cot_event(r, stale_s, true, want, sizeof(want)) > 0);
	assert_string_equal(got, want);
}

static void
test_multicast_loopback(void **state)
{
	uint16_t port = test_free_port();
	struct cot_opts o = { .ttl = 1, .ifaddr = "127.0.0.1", .stale_s = 60 };
	struct track_row a = mkrow("alpha", FIX_PERSON), d = mkrow("drone-1", FIX_DRONE);
	struct cot_stats st;
	char dest[64], err[256], buf[COT_DATAGRAM_MAX];
	struct cot *c;
	int fd, n;

	(void)state;
	if ((fd = receiver(port, "239.2.3.1")) < 0)
		fail_msg("cannot join 239.2.3.1 on loopback: the SA multicast cannot be checked");
	snprintf(dest, sizeof(dest), "239.2.3.1:%u", port);
	c = cot_new(dest, &o, err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(cot_send(c, &a), 0);
	assert_int_equal(cot_send(c, &d), 0);
	n = recv_one(fd, buf, sizeof(buf), 2000);
	if (n < 0)
		fail_msg("nothing received on 239.2.3.1:%u over loopback", port);
	print_message("multicast 239.2.3.1:%u over loopback: %d bytes\n", port, n);
	expect_event(buf, &a, 60);
	assert_non_null(strstr(buf, "stale=\"2023-11-14T22:14:20.000Z\""));
	assert_true(recv_one(fd, buf, sizeof(buf), 2000) > 0);
	expect_event(buf, &d, 60);
	assert_non_null(strstr(buf, "type=\"a-f-A-M-F-Q\""));
	cot_get_stats(c, &st);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.dropped + st.failed, 0);
	assert_true(st.bytes > 600);
	cot_free(c);
	close(fd);
}

static void
test_unicast(void **state)
{
	uint16_t port = test_free_port();
	struct track_row a = mkrow("alpha", FIX_PERSON);
	char dest[64], err[256], buf[COT_DATAGRAM_MAX];
	int fd = receiver(port, NULL);
	struct cot *c;

	(void)state;
	snprintf(dest, sizeof(dest), "127.0.0.1:%u", port);
	assert_non_null(c = cot_new(dest, NULL, err, sizeof(err)));
	assert_int_equal(cot_send(c, &a), 0);
	assert_true(recv_one(fd, buf, sizeof(buf), 2000) > 0);
	/* The default stale time: 120 s. */
	expect_event(buf, &a, 120);
	assert_non_null(strstr(buf, "uid=\"fieldrelay-alpha\""));
	cot_free(c);
	cot_free(NULL);
	close(fd);
}

static void
expect_bad(const char *dest, const struct cot_opts *o, const char *text)
{
	char err[256] = "";
	struct cot *c = cot_new(dest, o, err, sizeof(err));

	if (c != NULL) {
		cot_free(c);
		fail_msg("%s accepted", dest);
	}
	if (strstr(err, text) == NULL)
		fail_msg("%s: expected '%s', got '%s'", dest, text, err);
}

static void
test_bad_addresses(void **state)
{
	struct cot_opts o = { .ifaddr = "eth0" };
	char err[256];
	struct cot *c;

	(void)state;
	expect_bad("239.2.3.1", NULL, "is not HOST:PORT");
	expect_bad("239.2.3.1:0", NULL, "is not HOST:PORT");
	expect_bad("239.2.3.1:70000", NULL, "is not HOST:PORT");
	expect_bad("239.2.3.1:69x", NULL, "is not HOST:PORT");
	expect_bad(":6969", NULL, "is not HOST:PORT");
	expect_bad("[ff02::1:6969", NULL, "is not HOST:PORT");
	expect_bad("no-such-host.invalid:6969", NULL, "no-such-host.invalid:6969: ");
	expect_bad("239.2.3.1:6969", &o, "'eth0' is not an IPv4 address");
	/* The default, and IPv6. */
	assert_non_null(c = cot_new(NULL, NULL, err, sizeof(err)));
	cot_free(c);
	if ((c = cot_new("[ff02::1]:6969", NULL, err, sizeof(err))) == NULL)
		print_message("IPv6: %s\n", err);
	cot_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multicast_loopback),
		cmocka_unit_test(test_unicast),
		cmocka_unit_test(test_bad_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
