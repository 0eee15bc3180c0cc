/*
 * test_link.c - two link layers over real UDP sockets on loopback, one event
 * loop: discovery by beacon, bundles of every size delivered exactly once
 * with frames dropped at random, silent neighbours, carrier loss, forged
 * frames, and what a bulk transfer costs in acknowledgements and reads.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "frame.h"
#include "link.h"
#include "loop.h"
#include "route.h"

/* A driver that wraps UDP and loses a share of what it sends. */
static unsigned loss_pct;
static unsigned seed = 1;

static int
lossy_send(struct link_driver *d, const struct link_addr *to, const void *f, size_t len)
{
	if ((unsigned)(rand_r(&seed) % 100) < loss_pct)
		return 0;
	return link_udp_ops.send(d, to, f, len);
}

static struct link_driver_ops lossy_ops;

struct bundle {
	uint8_t *data;
	size_t len;
	int delivered, received, returned;
};

struct node {
	struct link *link;
	struct crypto_sender sender;
	int up_events, down_events;
	uint64_t down_at;
};

static struct bundle bundles[60];
static struct node a, b;
static struct crypto_keyring keys;
static unsigned reads, in_memory, in_file;	/* on_read calls; how bundles came in */

static void
on_neighbour(void *arg, struct link *l, uint64_t nbr, bool up)
{
	struct node *n = arg;

	if (up) {
		n->up_events++;
	} else {
		n->down_events++;
		n->down_at = loop_now();
	}
}

static void
on_bundle(void *arg, struct link *l, uint64_t nbr, uint64_t xid, int fd, const uint8_t *mem, uint64_t total)
{
	uint8_t *got = malloc(total ? total : 1);
	uint32_t idx;

	if (mem) {
		memcpy(got, mem, total);
		in_memory++;
	} else {
		assert_int_equal(pread(fd, got, total, 0), (ssize_t)total);
		in_file++;
	}
	assert_true(total >= 4);
	memcpy(&idx, got, 4);
	assert_true(idx < 60);
	assert_int_equal(total, bundles[idx].len);
	assert_memory_equal(got, bundles[idx].data, total);
	bundles[idx].received++;
	free(got);
	link_committed(l, nbr, xid);
}

static void
on_delivered(void *arg, struct link *l, uint64_t nbr, void *ctx)
{
	((struct bundle *)ctx)->delivered++;
}

static void
on_returned(void *arg, struct link *l, uint64_t nbr, void *ctx, int reason)
{
	((struct bundle *)ctx)->returned++;
}

static long
on_read(void *arg, void *ctx, uint64_t off, void *buf, size_t len)
{
	struct bundle *bu = ctx;

	reads++;
	if (off >= bu->len)
		return 0;
	if (len > bu->len - off)
		len = bu->len - off;
	memcpy(buf, bu->data + off, len);
	return (long)len;
}

static struct link *
make(struct loop *loop, struct node *n, uint64_t id, uint16_t port, uint16_t peer, const struct link_driver_ops *ops)
{
	struct link_conf c = { .kind = LINK_UDP, .port = port, .n_peers = 1, .mtu = 1200 };
	struct link_params p = { .node = id, .name = "t", .sender = &n->sender, .keys = &keys,
	    .beacon_ms = 100, .dead_ms = 400, .window = 32, .spool_dir = "/tmp" };
	struct link_events ev = { .arg = n, .neighbour = on_neighbour, .bundle = on_bundle,
	    .delivered = on_delivered, .returned = on_returned, .read = on_read };
	char err[256];
	struct link *l;

	snprintf(c.name, sizeof(c.name), "test%llu", (unsigned long long)id);
	snprintf(c.peers[0], sizeof(c.peers[0]), "127.0.0.1:%u", peer);
	assert_int_equal(crypto_sender_init(&n->sender, id, 1), 0);
	l = link_new(loop, &c, ops, &p, &ev, err, sizeof(err));
	if (l == NULL)
		fail_msg("%s", err);
	return l;
}

static void
run_until(struct loop *loop, bool (*done)(void), unsigned ms)
{
	uint64_t end = loop_now() + ms;

	while (!done() && loop_now() < end)
		loop_once(loop, 10);
	assert_true(done());
}

static bool
both_up(void)
{
	return link_neighbour_up(a.link, 2) && link_neighbour_up(b.link, 1);
}

static bool
all_delivered(void)
{
	for (int i = 0; i < 60; i++)
		if (bundles[i].delivered == 0)
			return false;
	return true;
}

static bool
first_delivered(void)
{
	return bundles[0].delivered == 1;
}

static bool
second_delivered(void)
{
	return bundles[1].delivered == 1;
}

static bool
a_saw_down(void)
{
	return a.down_events > 0;
}

static void
setup_keys(void)
{
	uint8_t k[32];

	crypto_init();
	memset(k, 0x42, sizeof(k));
	crypto_keyring_init(&keys);
	crypto_keyring_add(&keys, 1, k, true);
}

static void
test_lossy_transfer_exactly_once(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = (uint16_t)(30000 + getpid() % 20000), pb = pa + 1;
	struct link_metrics m;

	setup_keys();
	lossy_ops = link_udp_ops;
	lossy_ops.send = lossy_send;
	loss_pct = 10;
	reads = in_memory = in_file = 0;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.link = make(loop, &a, 1, pa, pb, &lossy_ops);
	b.link = make(loop, &b, 2, pb, pa, &lossy_ops);
	run_until(loop, both_up, 5000);
	for (uint32_t i = 0; i < 60; i++) {
		/* Up to 160 KB assembled in memory, the last two (350 KB) in spool files. */
		size_t len = i < 20 ? 4 + i : i < 40 ? 1000 + i * 997 : i < 58 ? 100000 + i * 1000 : 300000 + i * 1000;

		bundles[i].len = len;
		bundles[i].data = malloc(len);
		for (size_t k = 0; k < len; k++)
			bundles[i].data[k] = (uint8_t)(k * 31 + i);
		memcpy(bundles[i].data, &i, 4);
		assert_int_equal(link_enqueue(a.link, 2, len, (int)(i % 7), &bundles[i]), 0);
	}
	run_until(loop, all_delivered, 60000);
	for (int i = 0; i < 60; i++) {
		assert_int_equal(bundles[i].delivered, 1);
		assert_int_equal(bundles[i].received, 1);
		assert_int_equal(bundles[i].returned, 0);
	}
	link_metrics(a.link, &m);
	assert_true(m.retransmissions > 0);	/* the loss was real */
	assert_int_equal(in_file, 2);
	assert_int_equal(link_enqueue(a.link, 99, 10, 1, &bundles[0]), -EHOSTUNREACH);

	/* B falls silent: A notices within dead_ms plus a beacon, and hands back what was queued. */
	bundles[0].delivered = 0;
	loss_pct = 0;
	link_free(b.link);
	b.link = NULL;
	assert_int_equal(link_enqueue(a.link, 2, bundles[0].len, 4, &bundles[0]), 0);
	uint64_t t0 = loop_now();
	run_until(loop, a_saw_down, 3000);
	printf("# silent neighbour detected after %llu ms (dead_ms 400)\n", (unsigned long long)(a.down_at - t0));
	assert_true(a.down_at - t0 <= 400 + 150);
	assert_int_equal(bundles[0].returned, 1);
	link_free(a.link);
	loop_free(loop);
	for (int i = 0; i < 60; i++)
		free(bundles[i].data);
	memset(bundles, 0, sizeof(bundles));
}

static void
test_carrier_loss_and_forged_frames(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = (uint16_t)(30010 + getpid() % 20000), pb = pa + 1;
	struct link_metrics m;
	struct link_addr to;
	int fd;

	setup_keys();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.link = make(loop, &a, 1, pa, pb, &link_udp_ops);
	b.link = make(loop, &b, 2, pb, pa, &link_udp_ops);
	run_until(loop, both_up, 5000);

	/* Garbage, a truncated header and a frame sealed with another key: dropped and counted. */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	link_addr_parse(&to, "127.0.0.1", pa);
	sendto(fd, "\x07garbage", 8, 0, (struct sockaddr *)&to.sa, to.len);
	sendto(fd, "\x01\x01", 2, 0, (struct sockaddr *)&to.sa, to.len);
	{
		struct crypto_key other = { .id = 1 };
		struct frame_hdr h = { .sender = 3, .boot = 1, .counter = 1 };
		struct frame_msg msg = { .type = FRAME_COMMIT_ACK, .u.commit.xid = 1 };
		uint8_t buf[128];
		ssize_t n;

		memset(other.key, 0x17, sizeof(other.key));
		n = frame_seal(buf, sizeof(buf), &h, &msg, &other);
		assert_true(n > 0);
		sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&to.sa, to.len);
	}
	close(fd);
	for (int i = 0; i < 20; i++)
		loop_once(loop, 10);
	link_metrics(a.link, &m);
	assert_int_equal(m.dropped[FRAME_DROP_BAD_VERSION], 1);
	assert_int_equal(m.dropped[FRAME_DROP_TRUNCATED], 1);
	assert_int_equal(m.dropped[FRAME_DROP_BAD_TAG], 1);
	assert_true(link_neighbour_up(a.link, 2));	/* and nothing else changed */

	/* Carrier loss marks the neighbour gone at once, not after dead_ms. */
	link_set_carrier(a.link, false);
	assert_int_equal(a.down_events, 1);
	assert_false(link_neighbour_up(a.link, 2));
	link_metrics(a.link, &m);
	assert_false(m.up);
	link_set_carrier(a.link, true);
	run_until(loop, both_up, 3000);
	assert_int_equal(a.up_events, 2);

	/* B never noticed the blip: a bundle sent now must really reach it (transfer
	 * ids continue, so B cannot mistake it for one it already committed). */
	for (uint32_t i = 0; i < 2; i++) {
		bundles[i].len = 64;
		bundles[i].data = calloc(1, 64);
		memcpy(bundles[i].data, &i, 4);
	}
	assert_int_equal(link_enqueue(a.link, 2, 64, 4, &bundles[0]), 0);
	run_until(loop, first_delivered, 3000);
	link_set_carrier(a.link, false);
	link_set_carrier(a.link, true);
	run_until(loop, both_up, 3000);
	assert_int_equal(link_enqueue(a.link, 2, 64, 4, &bundles[1]), 0);
	run_until(loop, second_delivered, 3000);
	assert_int_equal(bundles[1].received, 1);
	for (int i = 0; i < 2; i++)
		free(bundles[i].data);
	memset(bundles, 0, sizeof(bundles));
	link_free(a.link);
	link_free(b.link);
	loop_free(loop);
}

static bool
bulk_delivered(void)
{
	for (int i = 0; i < 6; i++)
		if (bundles[i].delivered == 0)
			return false;
	return true;
}

/*
 * Lossless bulk: SEG_ACKs are cumulative and delayed (far fewer than the
 * segments), the sender reads each bundle from its store in a few large
 * reads rather than one per segment, small bundles are assembled in memory
 * and large ones in files, and all arrive intact exactly once.
 */
static void
test_bulk_transfer_acks_and_reads(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = (uint16_t)(30020 + getpid() % 20000), pb = pa + 1;
	struct link_metrics ma, mb;
	uint64_t acks_before;

	setup_keys();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	reads = in_memory = in_file = 0;
	a.link = make(loop, &a, 1, pa, pb, &link_udp_ops);
	b.link = make(loop, &b, 2, pb, pa, &link_udp_ops);
	run_until(loop, both_up, 5000);
	link_metrics(b.link, &mb);
	acks_before = mb.frames_tx;
	for (uint32_t i = 0; i < 6; i++) {
		size_t len = i < 4 ? 65536 + i : 600000 + i;

		bundles[i].len = len;
		bundles[i].data = malloc(len);
		for (size_t k = 0; k < len; k++)
			bundles[i].data[k] = (uint8_t)(k * 7 + i);
		memcpy(bundles[i].data, &i, 4);
		assert_int_equal(link_enqueue(a.link, 2, len, 4, &bundles[i]), 0);
	}
	run_until(loop, bulk_delivered, 20000);
	link_metrics(a.link, &ma);
	link_metrics(b.link, &mb);
	printf("# %llu segments, %llu frames back (acks, commits, beacons), %u store reads\n",
	    (unsigned long long)ma.segments, (unsigned long long)(mb.frames_tx - acks_before), reads);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(bundles[i].delivered, 1);
		assert_int_equal(bundles[i].received, 1);
	}
	assert_int_equal(in_memory, 4);
	assert_int_equal(in_file, 2);
	assert_true(ma.segments > 1000);
	assert_true(mb.frames_tx - acks_before < ma.segments / 4);
	assert_true(reads <= 4 + 2 * 3 + ma.retransmissions);	/* 256 KB at a time */
	for (int i = 0; i < 6; i++)
		free(bundles[i].data);
	memset(bundles, 0, sizeof(bundles));
	link_free(a.link);
	link_free(b.link);
	loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lossy_transfer_exactly_once),
		cmocka_unit_test(test_carrier_loss_and_forged_frames),
		cmocka_unit_test(test_bulk_transfer_acks_and_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
