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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "frame.h"
#include "link.h"
#include "loop.h"
#include "ports.h"
#include "route.h"

/* A driver that wraps UDP and loses a share of what it sends. */
static unsigned loss_pct;
static unsigned seed = 1;

/* Voice frames the channel carried (including the lost ones) and lost; the last one. */
static unsigned voice_wire, voice_lost;
static uint8_t last_voice[2048];
static size_t last_voice_len;

static int
lossy_send(struct link_driver *d, const struct link_addr *to, const void *f, size_t len)
{
	/* Byte 1 of the header, never encrypted, is the frame type. */
	bool voice = len > 1 && ((const uint8_t *)f)[1] == FRAME_VOICE;

	if (voice) {
		voice_wire++;
		last_voice_len = len < sizeof(last_voice) ? len : sizeof(last_voice);
		memcpy(last_voice, f, last_voice_len);
	}
	if ((unsigned)(rand_r(&seed) % 100) < loss_pct) {
		voice_lost += voice;
		return 0;
	}
	return link_udp_ops.send(d, to, f, len);
}

static struct link_driver_ops lossy_ops;

/*
 * A driver that wraps UDP and models a radio: one frame on the air at a
 * time, PACED_MS each, a TNC that refuses a frame while one is on the air;
 * ready_at says when it takes one again (as radio/drivers/kiss.c).  Counts the
 * segments it put on the air.
 */
#define PACED_MS	5
static uint64_t paced_busy_until;
static unsigned paced_segments;
static unsigned seg_at_arrival[60];	/* paced_segments when bundle i arrived */

static int
paced_send(struct link_driver *d, const struct link_addr *to, const void *f, size_t len)
{
	int r;

	if (loop_now() < paced_busy_until)
		return -EAGAIN;
	if ((r = link_udp_ops.send(d, to, f, len)) == 0) {
		paced_busy_until = loop_now() + PACED_MS;
		paced_segments += len > 1 && ((const uint8_t *)f)[1] == FRAME_SEGMENT;
	}
	return r;
}

static uint64_t
paced_ready_at(const struct link_driver *d)
{
	return paced_busy_until;
}

static struct link_driver_ops paced_ops;

/*
 * Two radios, each its own TNC (ready_at) on a channel of RADIO_RATE: what
 * each side put on the air, by frame type, and how many segment frames
 * were exactly the MTU long.
 */
#define RADIO_MTU	1200
#define RADIO_RATE	2400000		/* a full frame is on the air 5 ms */
struct radio_side {
	uint64_t busy_until;
	unsigned segments, full_segments, seg_acks, commits;
};
static struct radio_side radio[2];

static int
radio_send(int side, struct link_driver *d, const struct link_addr *to, const void *f, size_t len)
{
	struct radio_side *r = &radio[side];
	uint8_t type = len > 1 ? ((const uint8_t *)f)[1] : 0;
	int e;

	if (loop_now() < r->busy_until)
		return -EAGAIN;
	if ((e = link_udp_ops.send(d, to, f, len)) < 0)
		return e;
	r->busy_until = loop_now() + (uint64_t)len * 10 * 1000 / RADIO_RATE;
	if (type == FRAME_SEGMENT) {
		r->segments++;
		r->full_segments += len == RADIO_MTU;
	}
	r->seg_acks += type == FRAME_SEG_ACK;
	r->commits += type == FRAME_COMMIT_ACK;
	return 0;
}

static int
radio_send_a(struct link_driver *d, const struct link_addr *to, const void *f, size_t len)
{
	return radio_send(0, d, to, f, len);
}

static int
radio_send_b(struct link_driver *d, const struct link_addr *to, const void *f, size_t len)
{
	return radio_send(1, d, to, f, len);
}

static uint64_t
radio_ready_at_a(const struct link_driver *d)
{
	return radio[0].busy_until;
}

static uint64_t
radio_ready_at_b(const struct link_driver *d)
{
	return radio[1].busy_until;
}

static struct link_driver_ops radio_a_ops, radio_b_ops;

/* What make() puts in the next link's config beyond its defaults. */
static uint16_t make_duty_permille;
static uint32_t make_duty_window_ms;
static uint64_t make_rate_bps;
static uint64_t make_budget;
static unsigned make_n_windows;
static uint16_t make_window_from, make_window_to;

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
	seg_at_arrival[idx] = paced_segments;
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

/* Voice frames as the receiver got them. */
#define VOICE_LOG	1024

struct voice_rec {
	uint64_t spurt, seq;
	uint64_t delay_us;		/* from link_send_voice() to the voice event */
};

static struct voice_rec vlog[VOICE_LOG];
static unsigned n_vlog;

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A synthetic 20 ms packet: send time (us), then a pattern that depends on seq. */
static size_t
voice_packet(uint8_t *p, uint64_t seq)
{
	size_t len = 40 + (size_t)(seq * 13 % 41);	/* 40..80 bytes, like Opus at 16-32 kbit/s */
	uint64_t t = now_us();

	memcpy(p, &t, sizeof(t));
	for (size_t k = sizeof(t); k < len; k++)
		p[k] = (uint8_t)(seq * 7 + k);
	return len;
}

static void
on_voice(void *arg, struct link *l, uint64_t nbr, uint64_t group, uint64_t spurt, uint64_t seq,
    const uint8_t *data, size_t len)
{
	uint64_t t;

	assert_int_equal(nbr, 1);
	assert_int_equal(group, 7);
	assert_int_equal(len, 40 + seq * 13 % 41);
	for (size_t k = sizeof(t); k < len; k++)
		assert_int_equal(data[k], (uint8_t)(seq * 7 + k));
	memcpy(&t, data, sizeof(t));
	assert_true(n_vlog < VOICE_LOG);
	vlog[n_vlog++] = (struct voice_rec){ .spurt = spurt, .seq = seq, .delay_us = now_us() - t };
}

/* link_free() that forgets the link, so that teardown() frees only what a
 * failed test left behind. */
static void
free_link(struct link **l)
{
	link_free(*l);
	*l = NULL;
}

/* After each test, passed or failed: a failed assertion jumps out of the test
 * with its links still open, their sockets bound and their timers armed. */
static int
teardown(void **state)
{
	free_link(&a.link);
	free_link(&b.link);
	return 0;
}

static struct link *
make(struct loop *loop, struct node *n, uint64_t id, uint16_t port, uint16_t peer, const struct link_driver_ops *ops)
{
	struct link_conf c = { .kind = LINK_UDP, .port = port, .n_peers = 1, .mtu = 1200,
	    .duty_permille = make_duty_permille, .duty_window_ms = make_duty_window_ms, .rate_bps = make_rate_bps,
	    .budget_bytes = make_budget, .budget_period_s = 86400, .n_windows = make_n_windows,
	    .windows = { { make_window_from, make_window_to } } };
	struct link_params p = { .node = id, .name = "t", .sender = &n->sender, .keys = &keys,
	    .beacon_ms = 100, .dead_ms = 400, .window = 32, .spool_dir = "/tmp" };
	struct link_events ev = { .arg = n, .neighbour = on_neighbour, .bundle = on_bundle,
	    .delivered = on_delivered, .returned = on_returned, .read = on_read, .voice = on_voice };
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
	uint16_t pa = test_free_port(), pb = test_free_port();
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
	/* A deadline for "eventually", not a timing bound: ASan on a loaded
	 * 2-core machine took over 60 s for these 4.5 MB at 10% loss. */
	run_until(loop, all_delivered, 300000);
	for (int i = 0; i < 60; i++) {
		assert_int_equal(bundles[i].delivered, 1);
		assert_int_equal(bundles[i].received, 1);
		assert_int_equal(bundles[i].returned, 0);
	}
	link_metrics(a.link, &m);
	assert_true(m.retransmissions > 0);	/* the loss was real */
	assert_int_equal(in_file, 2);
	assert_int_equal(link_enqueue(a.link, 99, 10, 1, &bundles[0]), -EHOSTUNREACH);

	/* B falls silent: A notices at dead_ms after it last heard B (a timer at
	 * that deadline, not the next beacon tick: that came up to 100 ms late),
	 * and hands back what was queued.  The bound is dead_ms, 20 ms, and the
	 * worst lateness of this loop's own wake-ups measured meanwhile: what a
	 * loaded machine adds (a few ms when idle, 100 ms and more when busy)
	 * is taken from this run, not guessed. */
	bundles[0].delivered = 0;
	loss_pct = 0;
	free_link(&b.link);
	assert_int_equal(link_enqueue(a.link, 2, bundles[0].len, 4, &bundles[0]), 0);
	uint64_t t0 = loop_now(), late = 0;
	while (!a_saw_down() && loop_now() < t0 + 3000) {
		uint64_t t = loop_now();

		loop_once(loop, 10);
		if (loop_now() > t + 10 && loop_now() - t - 10 > late)
			late = loop_now() - t - 10;
	}
	assert_true(a_saw_down());
	printf("# silent neighbour detected after %llu ms (dead_ms 400; the loop woke up to %llu ms late)\n",
	    (unsigned long long)(a.down_at - t0), (unsigned long long)late);
	assert_true(a.down_at - t0 <= 400 + 20 + late);
	assert_int_equal(bundles[0].returned, 1);
	free_link(&a.link);
	loop_free(loop);
	for (int i = 0; i < 60; i++)
		free(bundles[i].data);
	memset(bundles, 0, sizeof(bundles));
}

static void
test_carrier_loss_and_forged_frames(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = test_free_port(), pb = test_free_port();
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
	free_link(&a.link);
	free_link(&b.link);
	loop_free(loop);
}

/* Bulk bundles of 2 MB, two at a time in the session, topped up as they complete. */
#define BULK_POOL	16
#define BULK_LEN	(2u << 20)

static unsigned bulk_enqueued;

static unsigned
bulk_pending(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < bulk_enqueued; i++)
		n += bundles[i].delivered == 0;
	return n;
}

static void
bulk_top_up(void)
{
	while (bulk_enqueued < BULK_POOL && bulk_pending() < 2) {
		struct bundle *bu = &bundles[bulk_enqueued];
		uint32_t idx = bulk_enqueued;

		bu->len = BULK_LEN;
		bu->data = malloc(bu->len);
		assert_non_null(bu->data);
		for (size_t k = 0; k < bu->len; k++)
			bu->data[k] = (uint8_t)(k * 131 + idx);
		memcpy(bu->data, &idx, 4);
		assert_int_equal(link_enqueue(a.link, 2, bu->len, 6, bu), 0);
		bulk_enqueued++;
	}
}

static bool
bulk_delivered(void)
{
	return bulk_pending() == 0;
}

/* A talk spurt at 50 frames/s: one frame per 20 ms timer tick. */
struct talker {
	struct loop *loop;
	struct loop_timer timer;
	uint64_t nbr, spurt, seq, until_ms;
	unsigned sent;
	int last_error;
	bool bulk;			/* keep a bulk transfer going beside it */
	unsigned bulk_idle;		/* ticks when no bulk bundle was in the session */
};

static void
talk(struct loop *loop, void *arg)
{
	struct talker *t = arg;
	uint8_t p[128];
	size_t len = voice_packet(p, t->seq);
	int r;

	if (t->bulk) {
		bulk_top_up();
		t->bulk_idle += bulk_pending() == 0;
	}
	r = link_send_voice(a.link, t->nbr, 7, t->spurt, t->seq, p, len);

	if (r == 0)
		t->sent++;
	else
		t->last_error = r;
	t->seq++;
	if (loop_now() < t->until_ms)
		loop_timer_set(loop, &t->timer, 20, talk, t);
}

static void
talk_for(struct loop *loop, struct talker *t, unsigned ms)
{
	t->until_ms = loop_now() + ms;
	talk(loop, t);
	while (loop_now() < t->until_ms + 40)
		loop_once(loop, 10);
}

static int
cmp_u64(const void *x, const void *y)
{
	uint64_t a1 = *(const uint64_t *)x, b1 = *(const uint64_t *)y;

	return a1 < b1 ? -1 : a1 > b1;
}

/* Median, 95th percentile and maximum delay (us) of spurt's frames. */
static void
delays(uint64_t spurt, uint64_t *median, uint64_t *p95, uint64_t *max)
{
	uint64_t d[VOICE_LOG];
	unsigned n = 0;

	for (unsigned i = 0; i < n_vlog; i++)
		if (vlog[i].spurt == spurt)
			d[n++] = vlog[i].delay_us;
	assert_true(n > 0);
	qsort(d, n, sizeof(d[0]), cmp_u64);
	*median = d[n / 2];
	*p95 = d[n * 95 / 100];
	*max = d[n - 1];
}

/*
 * Live voice beside a bulk transfer over a channel that loses 10% of frames:
 * voice is lost like the channel loses it and no more, never sent twice,
 * arrives in order, and the bulk transfer does not delay it.
 */
static void
test_voice_alongside_bulk(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = test_free_port(), pb = test_free_port();
	struct talker quiet = { .loop = loop, .nbr = 0, .spurt = 1 };
	struct talker busy = { .loop = loop, .nbr = 2, .spurt = 2, .bulk = true };
	struct link_metrics ma, mb, before;
	uint64_t med0, p95_0, max0, med1, p95_1, max1, bulk_segments;
	unsigned wire0, lost, got;
	uint8_t p[FRAME_VOICE_MAX];
	struct link_addr to;
	int fd;

	setup_keys();
	lossy_ops = link_udp_ops;
	lossy_ops.send = lossy_send;
	loss_pct = 10;
	voice_wire = voice_lost = 0;
	n_vlog = 0;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.link = make(loop, &a, 1, pa, pb, &lossy_ops);
	b.link = make(loop, &b, 2, pb, pa, &lossy_ops);
	run_until(loop, both_up, 5000);

	/* What cannot go is refused before a frame is spent. */
	assert_int_equal(link_send_voice(a.link, 2, 7, 9, 0, p, 0), -EINVAL);
	assert_int_equal(link_send_voice(a.link, 2, 7, 9, 0, p, FRAME_VOICE_MAX + 1), -EINVAL);
	assert_int_equal(link_send_voice(a.link, 2, 7, 9, 0, p, FRAME_VOICE_MAX), -EMSGSIZE);	/* mtu 1200 */
	assert_int_equal(link_send_voice(a.link, 99, 7, 9, 0, p, 60), -EHOSTUNREACH);
	assert_int_equal(voice_wire, 0);

	/* One second of voice alone (to every neighbour): the reference delay. */
	talk_for(loop, &quiet, 1000);
	assert_int_equal(quiet.last_error, 0);

	/* A bulk transfer that lasts as long as the voice does. */
	bulk_enqueued = 0;
	bulk_top_up();
	link_metrics(a.link, &before);
	assert_true(before.segments > 0);	/* the window is full, the rest waits in the session */
	/* Ahead of every queued segment: on the medium before link_send_voice() returns. */
	wire0 = voice_wire;
	assert_int_equal(link_send_voice(a.link, 2, 7, busy.spurt, busy.seq, p, voice_packet(p, busy.seq)), 0);
	assert_int_equal(voice_wire, wire0 + 1);
	busy.seq++;

	talk_for(loop, &busy, 3000);
	assert_int_equal(busy.last_error, 0);
	link_metrics(a.link, &ma);
	bulk_segments = ma.segments - before.segments;
	assert_int_equal(busy.bulk_idle, 0);	/* the bulk transfer ran all along */
	assert_true(bulk_segments > 500);
	run_until(loop, bulk_delivered, 300000);	/* "eventually", as above */
	for (unsigned i = 0; i < bulk_enqueued; i++)
		assert_int_equal(bundles[i].received, 1);

	/* Loss is the channel's, nothing more; no frame went twice; order kept. */
	link_metrics(a.link, &ma);
	link_metrics(b.link, &mb);
	assert_int_equal(voice_wire, quiet.sent + busy.sent + 1);
	assert_int_equal(ma.voice_tx, voice_wire);
	got = n_vlog;
	lost = voice_wire - got;
	assert_int_equal(mb.voice_rx, got);
	assert_int_equal(lost, voice_lost);
	assert_true(ma.retransmissions > 0);	/* the channel's loss hit the bulk transfer */
	for (unsigned i = 1; i < n_vlog; i++) {
		assert_true(vlog[i].spurt >= vlog[i - 1].spurt);
		if (vlog[i].spurt == vlog[i - 1].spurt)
			assert_true(vlog[i].seq > vlog[i - 1].seq);
	}
	delays(1, &med0, &p95_0, &max0);
	delays(2, &med1, &p95_1, &max1);
	printf("# voice: %u frames sent, %u lost (%.1f%%, channel 10%%), none sent twice; bulk: %u x 2 MB, "
	    "%llu segments during the voice, %llu retransmissions in all\n", voice_wire, lost,
	    100.0 * lost / voice_wire, bulk_enqueued, (unsigned long long)bulk_segments,
	    (unsigned long long)ma.retransmissions);
	printf("# voice delay alone: median %llu us, p95 %llu us, max %llu us\n", (unsigned long long)med0,
	    (unsigned long long)p95_0, (unsigned long long)max0);
	printf("# voice delay with bulk: median %llu us, p95 %llu us, max %llu us\n", (unsigned long long)med1,
	    (unsigned long long)p95_1, (unsigned long long)max1);
	assert_true(voice_wire >= 190);
	assert_true(lost * 100 >= voice_wire * 3 && lost * 100 <= voice_wire * 20);
	/*
	 * Behind the bulk transfer's queue, a frame would wait for a window of
	 * segments (a round trip) or, with 10% of them lost, for a
	 * retransmission timeout (>= 200 ms): the p95 would be 200 ms or more.
	 * Beside it, only for the frames already in the socket and the loop's
	 * turn: about 0.1 ms on an idle machine.  On a busy one the process
	 * waits for a core as well, tens of ms at a time, more often the
	 * busier it is; the second of voice alone (p95_0) measured that in this
	 * run, so the bounds grow with it, up to 50 and 150 ms: the p95 still
	 * under the retransmission timeout that a frame behind the queue waits.
	 */
	uint64_t med_bound = 10000 + 2 * med0, p95_bound = 40000 + 2 * p95_0;

	if (med_bound > 50000)
		med_bound = 50000;
	if (p95_bound > 150000)
		p95_bound = 150000;
	printf("# bounds from this run's reference: median %llu us, p95 %llu us\n", (unsigned long long)med_bound,
	    (unsigned long long)p95_bound);
	assert_true(med1 <= med_bound);
	assert_true(p95_1 <= p95_bound);

	/* Authenticated and replay-checked like any frame. */
	loss_pct = 0;
	link_metrics(b.link, &before);
	got = n_vlog;
	assert_int_equal(link_send_voice(a.link, 2, 7, 4, 0, p, voice_packet(p, 0)), 0);
	for (int i = 0; i < 20 && n_vlog == got; i++)
		loop_once(loop, 10);
	assert_int_equal(n_vlog, got + 1);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	link_addr_parse(&to, "127.0.0.1", pb);
	sendto(fd, last_voice, last_voice_len, 0, (struct sockaddr *)&to.sa, to.len);
	last_voice[last_voice_len - 20] ^= 0x04;
	sendto(fd, last_voice, last_voice_len, 0, (struct sockaddr *)&to.sa, to.len);
	close(fd);
	for (int i = 0; i < 20; i++)
		loop_once(loop, 10);
	link_metrics(b.link, &mb);
	assert_int_equal(n_vlog, got + 1);
	assert_int_equal(mb.dropped[FRAME_DROP_REPLAYED], before.dropped[FRAME_DROP_REPLAYED] + 1);
	assert_int_equal(mb.dropped[FRAME_DROP_BAD_TAG], before.dropped[FRAME_DROP_BAD_TAG] + 1);

	for (unsigned i = 0; i < bulk_enqueued; i++)
		free(bundles[i].data);
	memset(bundles, 0, sizeof(bundles));
	free_link(&a.link);
	free_link(&b.link);
	loop_free(loop);
}

static bool
lossless_delivered_two(void)
{
	return bundles[0].delivered && bundles[1].delivered;
}

static bool
lossless_delivered(void)
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
	uint16_t pa = test_free_port(), pb = test_free_port();
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
	run_until(loop, lossless_delivered, 20000);
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
	free_link(&a.link);
	free_link(&b.link);
	loop_free(loop);
}

static bool
paced_bulk_flowing(void)
{
	return paced_segments >= 30;
}

static bool
alert_received(void)
{
	return bundles[1].received > 0;
}

static void
fill_bundle(uint32_t idx, size_t len)
{
	bundles[idx].len = len;
	bundles[idx].data = malloc(len);
	assert_non_null(bundles[idx].data);
	for (size_t k = 0; k < len; k++)
		bundles[idx].data[k] = (uint8_t)(k * 29 + idx);
	memcpy(bundles[idx].data, &idx, 4);
}

/*
 * A radio-like medium that holds one frame at a time, a bulk transfer in
 * progress: an alert queued in its middle is the very next segment on the
 * air (at most the frame already on the air is ahead of it), and both
 * arrive exactly once.
 */
static void
test_alert_next_on_air_behind_bulk(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = test_free_port(), pb = test_free_port();
	unsigned before;
	uint64_t t0;

	setup_keys();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	paced_ops = link_udp_ops;
	paced_ops.send = paced_send;
	paced_ops.ready_at = paced_ready_at;
	paced_busy_until = 0;
	paced_segments = 0;
	a.link = make(loop, &a, 1, pa, pb, &paced_ops);
	b.link = make(loop, &b, 2, pb, pa, &link_udp_ops);
	run_until(loop, both_up, 5000);
	fill_bundle(0, 400000);		/* bulk: ~350 frames, ~1.7 s */
	fill_bundle(1, 300);		/* an alert */
	assert_int_equal(link_enqueue(a.link, 2, bundles[0].len, 6, &bundles[0]), 0);
	run_until(loop, paced_bulk_flowing, 5000);
	before = paced_segments;
	t0 = loop_now();
	assert_int_equal(link_enqueue(a.link, 2, bundles[1].len, 1, &bundles[1]), 0);
	run_until(loop, alert_received, 5000);
	printf("# alert: %u segments on air after it was queued (itself included), %llu ms (frame %d ms)\n",
	    seg_at_arrival[1] - before, (unsigned long long)(loop_now() - t0), PACED_MS);
	assert_int_equal(seg_at_arrival[1] - before, 1);
	assert_true(bundles[0].received == 0);
	run_until(loop, lossless_delivered_two, 20000);
	assert_int_equal(bundles[0].received, 1);
	assert_int_equal(bundles[1].received, 1);
	assert_int_equal(bundles[0].delivered, 1);
	assert_int_equal(bundles[1].delivered, 1);
	for (int i = 0; i < 2; i++)
		free(bundles[i].data);
	memset(bundles, 0, sizeof(bundles));
	free_link(&a.link);
	free_link(&b.link);
	loop_free(loop);
}

/*
 * Bulk over two paced radios at a known rate: every segment frame but the
 * last of each bundle is exactly the MTU long (segments sized for the
 * header they go with), and the receiver sends far fewer SEG_ACKs than one
 * per segment (held for several segments or a pause), with no
 * retransmission for it: the sender's timeouts allow for the hold.
 */
static void
test_radio_frames_full_and_acks_thinned(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = test_free_port(), pb = test_free_port();
	struct link_metrics ma;

	setup_keys();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(radio, 0, sizeof(radio));
	radio_a_ops = link_udp_ops;
	radio_a_ops.send = radio_send_a;
	radio_a_ops.ready_at = radio_ready_at_a;
	radio_b_ops = radio_a_ops;
	radio_b_ops.send = radio_send_b;
	radio_b_ops.ready_at = radio_ready_at_b;
	make_rate_bps = RADIO_RATE;
	a.link = make(loop, &a, 1, pa, pb, &radio_a_ops);
	b.link = make(loop, &b, 2, pb, pa, &radio_b_ops);
	make_rate_bps = 0;
	run_until(loop, both_up, 5000);
	for (uint32_t i = 0; i < 6; i++) {
		fill_bundle(i, 40000 + 1000 * i);
		assert_int_equal(link_enqueue(a.link, 2, bundles[i].len, 6, &bundles[i]), 0);
	}
	run_until(loop, lossless_delivered, 20000);
	link_metrics(a.link, &ma);
	printf("# radio: %u segment frames, %u of them full (%u B), %u SEG_ACKs and %u commit acks back, "
	    "%llu retransmissions\n", radio[0].segments, radio[0].full_segments, RADIO_MTU, radio[1].seg_acks,
	    radio[1].commits, (unsigned long long)ma.retransmissions);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(bundles[i].received, 1);
		assert_int_equal(bundles[i].delivered, 1);
	}
	assert_int_equal(ma.retransmissions, 0);
	assert_true(radio[0].segments > 200);
	assert_true(radio[0].full_segments >= radio[0].segments - 6);
	assert_true(radio[1].seg_acks * 6 <= radio[0].segments);
	for (int i = 0; i < 6; i++)
		free(bundles[i].data);
	memset(bundles, 0, sizeof(bundles));
	free_link(&a.link);
	free_link(&b.link);
	loop_free(loop);
}

/*
 * duty_cycle = 20% over 1 s on a link of 1 Mbit/s (a 1200-byte frame is on
 * the air 12 ms): a bulk transfer that could fill the link uses at most 20%
 * of the time plus the bucket (200 ms) and one frame, yet keeps going.
 */
static void
test_duty_cycle_limits_airtime(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = test_free_port(), pb = test_free_port();
	struct link_metrics m0, m1;
	uint64_t t0, t1, used;

	setup_keys();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	make_duty_permille = 200;
	make_duty_window_ms = 1000;
	make_rate_bps = 1000000;
	a.link = make(loop, &a, 1, pa, pb, &link_udp_ops);
	make_duty_permille = 0;
	make_duty_window_ms = 0;
	make_rate_bps = 0;
	b.link = make(loop, &b, 2, pb, pa, &link_udp_ops);
	run_until(loop, both_up, 5000);
	fill_bundle(0, 4000000);	/* 40 s on the air at full rate */
	link_metrics(a.link, &m0);
	t0 = loop_now();
	assert_int_equal(link_enqueue(a.link, 2, bundles[0].len, 6, &bundles[0]), 0);
	while (loop_now() < t0 + 2000)
		loop_once(loop, 10);
	link_metrics(a.link, &m1);
	t1 = loop_now();
	used = m1.airtime_ms - m0.airtime_ms;
	printf("# duty 20%%: %llu ms on air in %llu ms, %llu segments\n", (unsigned long long)used,
	    (unsigned long long)(t1 - t0), (unsigned long long)(m1.segments - m0.segments));
	assert_true(used <= (t1 - t0) * 20 / 100 + 200 + 12);
	assert_true(used >= (t1 - t0) * 10 / 100);	/* it keeps sending */
	assert_int_equal(bundles[0].received, 0);
	free(bundles[0].data);
	memset(bundles, 0, sizeof(bundles));
	free_link(&a.link);
	free_link(&b.link);
	loop_free(loop);
}

/*
 * A metered link: 60 KB a day.  A 300 KB transfer spends the budget and
 * then stops (at most one frame beyond it); beacons stop too, so the far
 * side sees us go silent; the transfer is not delivered.
 */
static void
test_budget_stops_the_link(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = test_free_port(), pb = test_free_port();
	struct link_metrics m1, m2;

	setup_keys();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	make_budget = 60000;
	a.link = make(loop, &a, 1, pa, pb, &link_udp_ops);
	make_budget = 0;
	b.link = make(loop, &b, 2, pb, pa, &link_udp_ops);
	run_until(loop, both_up, 5000);
	fill_bundle(0, 300000);
	assert_int_equal(link_enqueue(a.link, 2, bundles[0].len, 6, &bundles[0]), 0);
	for (uint64_t end = loop_now() + 1000; loop_now() < end;)
		loop_once(loop, 10);
	link_metrics(a.link, &m1);
	for (uint64_t end = loop_now() + 1000; loop_now() < end;)
		loop_once(loop, 10);
	link_metrics(a.link, &m2);
	printf("# budget 60000 B/day: %llu used, %llu bytes sent in all, %llu in the second after\n",
	    (unsigned long long)m2.budget_used, (unsigned long long)m2.bytes_tx,
	    (unsigned long long)(m2.bytes_tx - m1.bytes_tx));
	assert_int_equal(m2.budget_bytes, 60000);
	assert_true(m2.budget_used >= 60000);
	assert_true(m2.budget_used <= 60000 + 1200);
	assert_int_equal(m2.bytes_tx, m1.bytes_tx);		/* nothing more: not even beacons */
	assert_int_equal(bundles[0].received, 0);
	assert_false(link_neighbour_up(b.link, 1));		/* B no longer hears A */
	free(bundles[0].data);
	memset(bundles, 0, sizeof(bundles));
	free_link(&a.link);
	free_link(&b.link);
	loop_free(loop);
}

/* Contact windows (UTC time of day): outside them nothing goes; inside, it does. */
static void
test_contact_window(void **state)
{
	unsigned minute = (unsigned)((time(NULL) % 86400) / 60);

	for (int inside = 0; inside < 2; inside++) {
		struct loop *loop = loop_new();
		uint16_t pa = test_free_port(), pb = test_free_port();
		struct link_metrics m;

		setup_keys();
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		make_n_windows = 1;
		/* An hour around now, or an hour that starts two hours from now. */
		make_window_from = (uint16_t)((minute + (inside ? 1440 - 60 : 120)) % 1440);
		make_window_to = (uint16_t)((minute + (inside ? 60 : 180)) % 1440);
		a.link = make(loop, &a, 1, pa, pb, &link_udp_ops);
		make_n_windows = 0;
		b.link = make(loop, &b, 2, pb, pa, &link_udp_ops);
		fill_bundle(0, 5000);
		for (uint64_t end = loop_now() + 1500; loop_now() < end && !bundles[0].delivered;) {
			if (link_neighbour_up(a.link, 2) && bundles[0].data && !bundles[0].returned &&
			    link_enqueue(a.link, 2, bundles[0].len, 4, &bundles[0]) == 0)
				bundles[0].returned = -1;	/* enqueued once */
			loop_once(loop, 10);
		}
		link_metrics(a.link, &m);
		assert_int_equal(m.in_window, inside);
		assert_int_equal(link_neighbour_up(b.link, 1), inside);	/* beacons only in the window */
		assert_int_equal(bundles[0].delivered, inside);
		if (!inside)
			assert_int_equal(m.frames_tx, 0);
		free(bundles[0].data);
		memset(bundles, 0, sizeof(bundles));
		free_link(&a.link);
		free_link(&b.link);
		loop_free(loop);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_lossy_transfer_exactly_once, teardown),
		cmocka_unit_test_teardown(test_carrier_loss_and_forged_frames, teardown),
		cmocka_unit_test_teardown(test_voice_alongside_bulk, teardown),
		cmocka_unit_test_teardown(test_bulk_transfer_acks_and_reads, teardown),
		cmocka_unit_test_teardown(test_alert_next_on_air_behind_bulk, teardown),
		cmocka_unit_test_teardown(test_radio_frames_full_and_acks_thinned, teardown),
		cmocka_unit_test_teardown(test_duty_cycle_limits_airtime, teardown),
		cmocka_unit_test_teardown(test_budget_stops_the_link, teardown),
		cmocka_unit_test_teardown(test_contact_window, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
