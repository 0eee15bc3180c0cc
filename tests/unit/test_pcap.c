/*
 * test_pcap.c - the raw Ethernet link driver on a veth pair, in a network
 * namespace of this process's own (so nothing outside sees it, and it goes
 * when we exit).  Where namespaces cannot be made, every test is a TAP skip.
 *
 * The far end is either the driver itself or a plain AF_PACKET socket that
 * puts any bytes we like on the wire: wrong EtherTypes, short frames, lying
 * length fields, padding, our own source address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "link.h"

#define IF_A	"frpa0"
#define IF_B	"frpb0"
#define ETHERTYPE 0x88b5

static const struct link_driver_ops *ops = &link_pcap_ops;
static bool have_netns;

static int
run(const char *cmd)
{
	char line[256];

	snprintf(line, sizeof(line), "%s >/dev/null 2>&1", cmd);
	return system(line);
}

/* Our own namespace with frpa0 <-> frpb0, both up, no addresses at all. */
static int
make_veth(void)
{
	return run("ip link add " IF_A " type veth peer name " IF_B) ||
	    run("ip link set " IF_A " addrgenmode none") || run("ip link set " IF_B " addrgenmode none") ||
	    run("ip link set " IF_A " up") || run("ip link set " IF_B " up") ? -1 : 0;
}

static int
setup(void **state)
{
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "# no network namespace (%s): skipping\n", strerror(errno));
		return 0;
	}
	if (make_veth() < 0) {
		fprintf(stderr, "# cannot make a veth pair: skipping\n");
		return 0;
	}
	have_netns = true;
	return 0;
}

#define NEED_NETNS() do { if (!have_netns) skip(); } while (0)

static void
mac_of(const char *ifname, uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	assert_int_equal(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	close(s);
}

static void
mac_text(const uint8_t mac[ETH_ALEN], char *out, size_t cap)
{
	snprintf(out, cap, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* A raw socket on ifname, to put arbitrary frames on the wire. */
static int
raw_socket(const char *ifname)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(ifname) };
	int s = socket(AF_PACKET, SOCK_RAW, 0);	/* protocol 0: sends only */

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&ll, sizeof(ll)), 0);
	return s;
}

/* dst, src, EtherType, then body as it is (length field included by the caller). */
static void
raw_send(int s, const uint8_t dst[ETH_ALEN], const uint8_t src[ETH_ALEN], uint16_t type, const void *body,
    size_t len)
{
	uint8_t f[2048];

	memcpy(f, dst, ETH_ALEN);
	memcpy(f + ETH_ALEN, src, ETH_ALEN);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	memcpy(f + ETH_HLEN, body, len);
	assert_int_equal(send(s, f, ETH_HLEN + len, 0), (ssize_t)(ETH_HLEN + len));
}

/* Our length field, then text. */
static size_t
body_of(uint8_t *out, const char *text, unsigned claimed)
{
	size_t n = strlen(text);

	out[0] = (uint8_t)(claimed >> 8);
	out[1] = (uint8_t)claimed;
	memcpy(out + 2, text, n);
	return 2 + n;
}

static struct link_driver *
open_on(const char *ifname, uint32_t mtu)
{
	struct link_conf c = { .kind = LINK_PCAP, .mtu = mtu };
	struct link_driver *d;
	char err[256];

	snprintf(c.name, sizeof(c.name), "t%s", ifname);
	snprintf(c.ifname, sizeof(c.ifname), "%s", ifname);
	d = ops->open(&c, err, sizeof(err));
	if (d == NULL)
		fail_msg("open on %s: %s", ifname, err);
	return d;
}

/* The next frame within 2 s (the driver skips foreign ones; those count as a wait). */
static ssize_t
wait_recv(struct link_driver *d, struct link_addr *from, void *buf, size_t cap)
{
	for (int i = 0; i < 20; i++) {
		struct pollfd p = { .fd = ops->fd(d), .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 2000) != 1)
			return -ETIMEDOUT;
		if ((n = ops->recv(d, from, buf, cap)) != -EAGAIN)
			return n;
	}
	return -ETIMEDOUT;
}

/*
 * Nothing more for d: after at most a few wake-ups (the interface went
 * down, or away: -ENETDOWN) the fd goes quiet, and recv says so.
 */
static void
assert_quiet(struct link_driver *d)
{
	struct link_addr from;
	struct pollfd p = { .fd = ops->fd(d), .events = POLLIN };
	char buf[64];
	ssize_t n;
	int wakeups = 0;

	while (poll(&p, 1, 200) == 1) {
		n = ops->recv(d, &from, buf, sizeof(buf));
		assert_true(n == -EAGAIN || n == -ENETDOWN);
		assert_true(++wakeups < 5);
	}
	assert_int_equal(ops->recv(d, &from, buf, sizeof(buf)), -EAGAIN);
}

/* Send; a capture found dead on the way is opened again by the next send. */
static int
send_again(struct link_driver *d, const char *text)
{
	int r = ops->send(d, NULL, text, strlen(text));

	return r == -ENETDOWN ? ops->send(d, NULL, text, strlen(text)) : r;
}

/*
 * The frame with text, sent from `from` to `to` (already sent once): after
 * `ip link set up` the carrier comes a moment later (the kernel's linkwatch,
 * later still on a busy machine) and a frame sent before it is dropped, as on
 * a real cable.  So it is sent again every 200 ms for up to 10 s until one
 * arrives; the copies that follow are taken off too.  Its length, or
 * -ETIMEDOUT when no frame ever flows.
 */
static ssize_t
recv_resending(struct link_driver *from, struct link_driver *to, const char *text, char *buf, size_t cap)
{
	struct pollfd p = { .fd = ops->fd(to), .events = POLLIN };
	struct link_addr addr;
	ssize_t n = -ETIMEDOUT, m;

	for (int i = 0; i < 50 && n <= 0; i++) {
		if (i > 0)
			send_again(from, text);
		while (n <= 0 && poll(&p, 1, 200) == 1)
			n = ops->recv(to, &addr, buf, cap);
	}
	if (n <= 0)
		return -ETIMEDOUT;
	while (poll(&p, 1, 300) == 1) {
		char extra[64];

		m = ops->recv(to, &addr, extra, sizeof(extra));
		assert_true(m == -EAGAIN || (m == n && memcmp(extra, text, (size_t)m) == 0));
	}
	return n;
}

static void
test_exchange(void **state)
{
	struct link_driver *a, *b;
	struct link_addr from, to_a;
	uint8_t mac_a[ETH_ALEN], mac_b[ETH_ALEN];
	char buf[2048], want[32], got[64];
	ssize_t n;

	NEED_NETNS();
	mac_of(IF_A, mac_a);
	mac_of(IF_B, mac_b);
	a = open_on(IF_A, 0);
	b = open_on(IF_B, 0);
	/* veth: 1500 bytes of Ethernet payload, less our 2-byte length field. */
	assert_int_equal(ops->mtu(a), 1498);

	/* A beacon to everyone (broadcast) reaches B, from A's MAC. */
	assert_int_equal(ops->send(a, NULL, "beacon", 6), 0);
	n = wait_recv(b, &from, buf, sizeof(buf));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "beacon", 6);
	link_addr_format(&from, got, sizeof(got));
	mac_text(mac_a, want, sizeof(want));
	assert_string_equal(got, want);
	to_a = from;

	/* The answer goes unicast to that address; A sees B's MAC. */
	assert_int_equal(ops->send(b, &to_a, "segment", 7), 0);
	assert_int_equal(wait_recv(a, &from, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "segment", 7);
	link_addr_format(&from, got, sizeof(got));
	mac_text(mac_b, want, sizeof(want));
	assert_string_equal(got, want);
	assert_false(link_addr_equal(&from, &to_a));

	/* The largest frame goes whole; one byte more is refused before the wire. */
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(ops->send(a, NULL, buf, 1498), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), 1498);
	assert_int_equal(buf[0], 0x5a);
	assert_int_equal(buf[1497], 0x5a);
	assert_int_equal(ops->send(a, NULL, buf, 1499), -EMSGSIZE);
	assert_int_equal(ops->send(a, &to_a, buf, 1499), -EMSGSIZE);

	/* A frame bigger than the caller's buffer is refused whole, never cut. */
	assert_int_equal(ops->send(a, NULL, "0123456789", 10), 0);
	assert_int_equal(wait_recv(b, &from, buf, 4), -EMSGSIZE);

	/* Neither side hears its own frames. */
	assert_quiet(a);
	assert_quiet(b);
	ops->close(a);
	ops->close(b);
}

static void
test_foreign_and_malformed_frames(void **state)
{
	static const uint8_t bcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t mac_a[ETH_ALEN], mac_b[ETH_ALEN], body[128], pad[64] = { 0 };
	struct link_driver *b;
	struct link_addr from;
	char buf[256];
	size_t n;
	int s;

	NEED_NETNS();
	mac_of(IF_A, mac_a);
	mac_of(IF_B, mac_b);
	b = open_on(IF_B, 0);
	s = raw_socket(IF_A);

	/* Another EtherType is not ours: ignored, and the next right one comes through. */
	n = body_of(body, "wrong", 5);
	raw_send(s, mac_b, mac_a, 0x88b6, body, n);
	n = body_of(body, "right", 5);
	raw_send(s, mac_b, mac_a, ETHERTYPE, body, n);
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "right", 5);

	/* Frames claiming B's own source address are not from a neighbour. */
	n = body_of(body, "mirror", 6);
	raw_send(s, bcast, mac_b, ETHERTYPE, body, n);
	assert_quiet(b);

	/* Padding (the 60-byte Ethernet minimum) is cut off by the length field. */
	n = body_of(body, "abc", 3);
	memcpy(body + n, pad, 40);
	raw_send(s, bcast, mac_a, ETHERTYPE, body, n + 40);
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "abc", 3);

	/* Short: a header and one byte, no room for the length field. */
	raw_send(s, bcast, mac_a, ETHERTYPE, "x", 1);
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), -EMSGSIZE);
	/* A header alone. */
	raw_send(s, bcast, mac_a, ETHERTYPE, "", 0);
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), -EMSGSIZE);
	/* A length field that claims more than arrived. */
	n = body_of(body, "0123456789", 100);
	raw_send(s, bcast, mac_a, ETHERTYPE, body, n);
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), -EMSGSIZE);
	n = body_of(body, "", 0xffff);
	raw_send(s, bcast, mac_a, ETHERTYPE, body, n);
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), -EMSGSIZE);
	/* An empty link frame is passed on as such (frame_open() counts it truncated). */
	n = body_of(body, "", 0);
	raw_send(s, bcast, mac_a, ETHERTYPE, body, n);
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), 0);

	/* After all that, a good frame still arrives. */
	n = body_of(body, "still here", 10);
	raw_send(s, mac_b, mac_a, ETHERTYPE, body, n);
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "still here", 10);
	assert_quiet(b);
	close(s);
	ops->close(b);
}

static void
test_ethertype_and_mtu(void **state)
{
	struct link_conf c = { .name = "x", .kind = LINK_PCAP, .ethertype = 0x88b6, .mtu = 600 };
	struct link_driver *a, *b;
	struct link_addr from;
	char err[256], buf[1024] = { 0 };

	NEED_NETNS();
	strcpy(c.ifname, IF_A);
	assert_non_null(a = ops->open(&c, err, sizeof(err)));
	assert_int_equal(ops->mtu(a), 600);
	assert_int_equal(ops->send(a, NULL, buf, 601), -EMSGSIZE);
	/* A driver on the default EtherType does not hear 0x88b6; one on 0x88b6 does. */
	b = open_on(IF_B, 0);
	assert_int_equal(ops->send(a, NULL, "other type", 10), 0);
	assert_quiet(b);
	ops->close(b);
	strcpy(c.ifname, IF_B);
	assert_non_null(b = ops->open(&c, err, sizeof(err)));
	assert_int_equal(ops->send(a, NULL, buf, 600), 0);
	assert_int_equal(wait_recv(b, &from, buf, sizeof(buf)), 600);
	ops->close(a);
	ops->close(b);

	/* More than the interface carries is a start-up error, not a surprise later. */
	c.mtu = 1499;
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "mtu 1499 is more than frpb0 carries (1498"));
}

static void
test_bad_config(void **state)
{
	struct link_conf c = { .name = "raw", .kind = LINK_PCAP };
	char err[256];

	NEED_NETNS();
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "needs an interface"));
	strcpy(c.ifname, "frpnosuch0");
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_string_equal(err, "link raw: no interface frpnosuch0");
	strcpy(c.ifname, "lo");
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_string_equal(err, "link raw: lo is not an Ethernet interface");
	strcpy(c.ifname, IF_A);
	c.ethertype = 0x0100;
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "is a length, not an EtherType"));
}

/* Without root, the error says what is missing (asked in a child that gives root up). */
static void
test_no_permission(void **state)
{
	struct link_conf c = { .name = "raw", .kind = LINK_PCAP };
	char err[256] = "";
	int fds[2], status;
	pid_t pid;
	ssize_t n;

	NEED_NETNS();
	if (geteuid() != 0)
		skip();
	strcpy(c.ifname, IF_A);
	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		struct link_driver *d;

		close(fds[0]);
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		d = ops->open(&c, err, sizeof(err));
		if (write(fds[1], err, strlen(err)) < 0)
			_exit(3);
		_exit(d == NULL ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], err, sizeof(err) - 1);
	close(fds[0]);
	assert_true(n > 0);
	err[n] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(err, "link raw: cannot capture on frpa0: permission denied (raw frames need root or CAP_NET_RAW)");
}

/*
 * An interface that is down at start, goes down under a capture, or
 * vanishes and comes back: the driver opens, stays quiet meanwhile, and
 * carries frames again once the link sends.
 */
static void
test_down_gone_and_back(void **state)
{
	struct link_driver *a, *b;
	struct link_addr from;
	char buf[64];

	NEED_NETNS();
	assert_int_equal(run("ip link set " IF_A " down"), 0);
	a = open_on(IF_A, 0);
	b = open_on(IF_B, 0);
	assert_int_equal(ops->send(a, NULL, "early", 5), -ENETDOWN);
	assert_quiet(a);
	assert_int_equal(run("ip link set " IF_A " up"), 0);
	assert_int_equal(ops->send(a, NULL, "up now", 6), 0);
	assert_int_equal(recv_resending(a, b, "up now", buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "up now", 6);

	/* Down under an open capture: a wake-up at most, then quiet; up again, frames flow. */
	assert_int_equal(run("ip link set " IF_B " down"), 0);
	assert_quiet(b);
	assert_int_equal(run("ip link set " IF_B " up"), 0);
	assert_int_equal(ops->send(a, NULL, "back", 4), 0);
	assert_int_equal(recv_resending(a, b, "back", buf, sizeof(buf)), 4);

	/* Gone (a USB radio pulled) and back with a new index: captured again. */
	assert_int_equal(run("ip link del " IF_A), 0);
	assert_quiet(a);
	assert_quiet(b);
	assert_true(ops->send(a, NULL, "void", 4) < 0);
	assert_int_equal(make_veth(), 0);
	assert_int_equal(send_again(a, "gone"), 0);
	assert_int_equal(send_again(b, "again"), 0);
	assert_int_equal(wait_recv(a, &from, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "again", 5);
	ops->close(a);
	ops->close(b);
}

static void
test_addresses(void **state)
{
	struct link_addr a = { .len = sizeof(struct sockaddr_ll) }, b;
	struct sockaddr_ll *ll = (struct sockaddr_ll *)&a.sa;
	static const uint8_t mac[ETH_ALEN] = { 0x02, 0x00, 0x5e, 0x10, 0xab, 0x01 };
	char s[96];

	ll->sll_family = AF_PACKET;
	ll->sll_halen = ETH_ALEN;
	ll->sll_pkttype = PACKET_BROADCAST;
	memcpy(ll->sll_addr, mac, ETH_ALEN);
	link_addr_format(&a, s, sizeof(s));
	assert_string_equal(s, "02:00:5e:10:ab:01");
	link_addr_format(&a, s, 9);
	assert_string_equal(s, "02:00:5e");	/* truncated like snprintf, terminated */
	b = a;
	((struct sockaddr_ll *)&b.sa)->sll_pkttype = PACKET_HOST;	/* the same station */
	assert_true(link_addr_equal(&a, &b));
	((struct sockaddr_ll *)&b.sa)->sll_addr[5] = 0x02;
	assert_false(link_addr_equal(&a, &b));
	assert_int_equal(link_addr_parse(&b, "10.0.0.1:4556", 1), 0);
	assert_false(link_addr_equal(&a, &b));
	assert_false(link_addr_equal(&b, &a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_exchange),
		cmocka_unit_test(test_foreign_and_malformed_frames),
		cmocka_unit_test(test_ethertype_and_mtu),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_no_permission),
		cmocka_unit_test(test_down_gone_and_back),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
