/*
 * test_link_compact.c - compact framing between two link layers over real
 * UDP sockets on loopback, MTU 256 and 8-byte tags as on a narrow radio
 * link: what a position report and an alert cost on air, alone and sharing
 * a frame (the target: at most 16 bytes a bundle beside its payload);
 * commit acks gathered into one frame; bundles that are not ours go as
 * segments; 200 bundles exactly once over a lossy channel; a receiver that
 * restarts; compact = auto and no.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testdata.h"
#include "bundle.h"
#include "compact.h"
#include "crypto.h"
#include "frame.h"
#include "link.h"
#include "loop.h"
#include "ports.h"
#include "service.h"

#define MTU		256
#define ITEMS		256
#define WIRE_LOG	8192

/* Frames as the channel carried them (lost ones too). */
struct wire {
	uint32_t sender;
	uint8_t type;
	bool compact;
	size_t len;
	uint8_t bytes[MTU];
};

static struct wire wire[WIRE_LOG];
static unsigned n_wire;
static unsigned loss_pct;
static unsigned seed = 7;

static int
recording_send(struct link_driver *d, const struct link_addr *to, const void *f, size_t len)
{
	const uint8_t *p = f;
	struct wire *w = &wire[n_wire++ % WIRE_LOG];

	/* Node ids here are below 128: one varint byte, at offset 1 (compact) or 4. */
	w->compact = p[0] & FRAME_COMPACT;
	w->type = w->compact ? p[0] >> 3 & 0x0f : p[1];
	w->sender = w->compact ? p[1] : p[4];
	w->len = len;
	memcpy(w->bytes, p, len < MTU ? len : MTU);
	if ((unsigned)(rand_r(&seed) % 100) < loss_pct)
		return 0;
	return link_udp_ops.send(d, to, f, len);
}

static struct link_driver_ops recording_ops;

struct item {
	uint8_t *data;
	size_t len, payload_len;
	int delivered, received, returned;
};

struct node {
	struct link *link;
	struct crypto_sender sender;
};

static struct item items[ITEMS];
static unsigned n_items;
static struct node a, b;
static struct crypto_keyring keys;
static bool requeue;		/* returned transfers go again, as forward.c does ... */
static struct item *returned[ITEMS];	/* ... from the loop, not from inside the link */
static unsigned n_returned;

static void
on_neighbour(void *arg, struct link *l, uint64_t nbr, bool up)
{
}

static void
on_bundle(void *arg, struct link *l, uint64_t nbr, uint64_t xid, int fd, const uint8_t *mem, uint64_t total)
{
	unsigned i;

	assert_non_null(mem);
	for (i = 0; i < n_items; i++)
		if (items[i].len == total && memcmp(items[i].data, mem, total) == 0)
			break;
	if (i == n_items)
		fail_msg("a bundle of %llu bytes arrived that was never sent", (unsigned long long)total);
	items[i].received++;
	link_committed(l, nbr, xid);
}

static void
on_delivered(void *arg, struct link *l, uint64_t nbr, void *ctx)
{
	((struct item *)ctx)->delivered++;
}

static void
on_returned(void *arg, struct link *l, uint64_t nbr, void *ctx, int reason)
{
	struct item *it = ctx;

	it->returned++;
	if (requeue) {
		assert_true(n_returned < ITEMS);
		returned[n_returned++] = it;
	}
}

static long
on_read(void *arg, void *ctx, uint64_t off, void *buf, size_t len)
{
	struct item *it = ctx;

	if (off >= it->len)
		return 0;
	if (len > it->len - off)
		len = it->len - off;
	memcpy(buf, it->data + off, len);
	return (long)len;
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
make(struct loop *loop, struct node *n, uint64_t id, uint32_t boot, uint16_t port, uint16_t peer,
    uint32_t mtu, int compact)
{
	struct link_conf c = { .kind = LINK_UDP, .port = port, .n_peers = 1, .mtu = mtu, .rate_bps = 10000000 };
	struct link_params p = { .node = id, .name = "t", .sender = &n->sender, .keys = &keys,
	    .flags = FRAME_F_TAG8, .beacon_ms = 100, .dead_ms = 1000, .window = 32, .spool_dir = "/tmp",
	    .compact = compact };
	struct link_events ev = { .arg = n, .neighbour = on_neighbour, .bundle = on_bundle,
	    .delivered = on_delivered, .returned = on_returned, .read = on_read };
	char err[256];
	struct link *l;

	snprintf(c.name, sizeof(c.name), "compact%llu", (unsigned long long)id);
	snprintf(c.peers[0], sizeof(c.peers[0]), "127.0.0.1:%u", peer);
	assert_int_equal(crypto_sender_init(&n->sender, id, boot), 0);
	l = link_new(loop, &c, &recording_ops, &p, &ev, err, sizeof(err));
	if (l == NULL)
		fail_msg("%s", err);
	return l;
}

static void
run_until(struct loop *loop, bool (*done)(void), unsigned ms)
{
	uint64_t end = loop_now() + ms;

	while (!done() && loop_now() < end) {
		loop_once(loop, 10);
		while (n_returned > 0 && link_neighbour_up(a.link, 2)) {
			struct item *it = returned[--n_returned];

			assert_int_equal(link_enqueue(a.link, 2, it->len, PRIO_POSITION, it), 0);
		}
	}
	assert_true(done());
}

static bool
both_up(void)
{
	return link_neighbour_up(a.link, 2) && link_neighbour_up(b.link, 1);
}

static unsigned first_pending;	/* items from here on are waited for */

static bool
all_delivered(void)
{
	for (unsigned i = first_pending; i < n_items; i++)
		if (items[i].delivered == 0)
			return false;
	return true;
}

/* Let each side hear the other's beacons (capabilities, time base) a few times. */
static void
settle(struct loop *loop)
{
	uint64_t end = loop_now() + 350;

	run_until(loop, both_up, 5000);
	while (loop_now() < end)
		loop_once(loop, 10);
}

static struct item *
add_item(const struct bundle *bu)
{
	struct item *it = &items[n_items++];
	ssize_t n = bundle_encode(bu, NULL, 0);

	assert_true(n_items <= ITEMS);
	assert_true(n > 0);
	memset(it, 0, sizeof(*it));
	it->data = malloc((size_t)n);
	assert_non_null(it->data);
	assert_int_equal(bundle_encode(bu, it->data, (size_t)n), n);
	it->len = (size_t)n;
	it->payload_len = bu->payload_len;
	return it;
}

static uint64_t
dtn_now(void)
{
	return loop_wallclock_ms() - DTN_EPOCH_UNIX_MS;
}

/*
 * Our position report from ipn:1.3 to ipn:2.3 as node_send() makes it: made
 * an hour after the sender's link opened (its time base), sequence number
 * 5000: what a unit an hour into its mission sends, not the smallest case.
 */
static struct item *
position_report(unsigned k, size_t plen)
{
	static uint8_t payload[64];
	struct bundle bu;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 29 + k);
	bundle_init(&bu);
	eid_ipn(&bu.dst, 2, SVC_POSITION);
	eid_ipn(&bu.src, 1, SVC_POSITION);
	eid_ipn(&bu.report_to, 1, 0);
	bu.ctime = dtn_now() + 3600 * 1000 + k;
	bu.seq = 5000 + k;
	bu.lifetime = 24 * 3600 * 1000;
	bu.priority = PRIO_POSITION;
	bu.payload = payload;
	bu.payload_len = plen;
	return add_item(&bu);
}

/* An alert from the command center (ipn:9.2) to ipn:2.2 that came through the sender. */
static struct item *
alert(unsigned k)
{
	static const char text[] = "EVACUATE sector B: river rising, go to assembly point 3 now";
	struct bundle bu;

	bundle_init(&bu);
	eid_ipn(&bu.dst, 2, SVC_ALERT);
	eid_ipn(&bu.src, 9, SVC_ALERT);
	eid_ipn(&bu.report_to, 9, 0);
	bu.ctime = dtn_now() - 20000 + k;
	bu.seq = 130 + k;
	bu.lifetime = 6 * 3600 * 1000;
	bu.priority = PRIO_URGENT;
	bu.has_prev = true;
	eid_ipn(&bu.prev, 1, 0);
	bu.hop_count = 2;
	bu.payload = (const uint8_t *)text;
	bu.payload_len = sizeof(text) - 1;
	return add_item(&bu);
}

static void
enqueue(struct item *it, int prio)
{
	assert_int_equal(link_enqueue(a.link, 2, it->len, prio, it), 0);
}

/* The frames of a type node sent since wire index from. */
static unsigned
frames_of(uint32_t node, uint8_t type, unsigned from, struct wire **last)
{
	unsigned n = 0;

	for (unsigned i = from; i < n_wire; i++)
		if (wire[i % WIRE_LOG].sender == node && wire[i % WIRE_LOG].type == type) {
			n++;
			if (last)
				*last = &wire[i % WIRE_LOG];
		}
	return n;
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
reset_items(void)
{
	for (unsigned i = 0; i < n_items; i++)
		free(items[i].data);
	memset(items, 0, sizeof(items));
	n_items = first_pending = 0;
}

/*
 * Open a captured BUNDLES frame of node 1 (boot 1) as the receiver would:
 * compact envelope, the 8-byte tag the link asked for, k entries that
 * rebuild items first.. byte for byte.  The sender's time base (from its
 * beacon) is found from the first entry and must serve them all.
 */
static void
check_captured(const struct wire *w, unsigned first, unsigned k)
{
	struct frame_rx rx = { .keys = &keys, .replay = crypto_replay_new(0), .flags = FRAME_F_TAG8 };
	struct compact_ctx c = { .sender = 1, .receiver = 2, .time_base = 0 };
	uint8_t buf[MTU], out[512];
	struct frame_hdr h;
	struct frame_msg m;
	struct bundle got, want;
	const char *why;
	ssize_t blen, n;

	assert_non_null(rx.replay);
	memcpy(buf, w->bytes, w->len);
	/* What the receiver heard of node 1 a little before (its counters skip ahead
	 * when it meets a neighbour, radio/link.c nbr_heard). */
	crypto_replay_update(rx.replay, 1, 1, a.sender.next > 1000 ? (uint32_t)(a.sender.next - 1000) : 0);
	assert_int_equal(frame_open(&rx, buf, w->len, &h, &m), FRAME_OK);
	assert_true(h.compact);
	assert_int_equal(h.flags, FRAME_F_TAG8);
	blen = frame_body_encode(&m, NULL, 0);
	assert_int_equal(w->len, 4 + (size_t)blen + 8);
	assert_int_equal(m.type, FRAME_BUNDLES);
	assert_int_equal(m.u.bundles.n, k);
	for (unsigned i = 0; i < k; i++) {
		const struct frame_bundle *e = &m.u.bundles.b[i];
		const struct item *it = &items[first + i];

		if (i == 0) {
			n = compact_decode(&c, e->data, e->len, out, sizeof(out), &why);
			assert_true(n > 0);
			assert_int_equal(bundle_decode(&got, out, (size_t)n, &why), 0);
			assert_int_equal(bundle_decode(&want, it->data, it->len, &why), 0);
			c.time_base = want.ctime - got.ctime;
			/* The link opened a moment ago: its base is now, give or take a minute. */
			assert_true(c.time_base + 60000 > dtn_now() && c.time_base < dtn_now() + 60000);
		}
		n = compact_decode(&c, e->data, e->len, out, sizeof(out), &why);
		assert_int_equal(n, it->len);
		assert_memory_equal(out, it->data, it->len);
	}
	crypto_replay_free(rx.replay);
}

/*
 * What a bundle costs on air beside its payload: the frame's header, the
 * compact bundle header and its entry in the frame, the tag, shared by the
 * bundles in the frame.
 */
static double
overhead(const struct wire *w, unsigned first, unsigned k)
{
	size_t payload = 0;

	for (unsigned i = first; i < first + k; i++)
		payload += items[i].payload_len;
	return (double)(w->len - payload) / k;
}

static void
test_overhead_on_air(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = test_free_port(), pb = test_free_port();
	struct link_metrics ma, mb;
	struct wire *w = NULL;
	unsigned from, first;
	double one, four, alone_alert;

	setup_keys();
	recording_ops = link_udp_ops;
	recording_ops.send = recording_send;
	loss_pct = 0;
	reset_items();
	a.link = make(loop, &a, 1, 1, pa, pb, MTU, LINK_COMPACT_AUTO);
	b.link = make(loop, &b, 2, 1, pb, pa, MTU, LINK_COMPACT_AUTO);
	settle(loop);
	link_metrics(a.link, &ma);
	assert_true(ma.compact);	/* auto: MTU 256 is narrow */

	/* One position report alone in its frame. */
	from = n_wire;
	first = n_items;
	enqueue(position_report(0, 30), PRIO_POSITION);
	run_until(loop, all_delivered, 3000);
	assert_int_equal(frames_of(1, FRAME_BUNDLES, from, &w), 1);
	assert_int_equal(frames_of(1, FRAME_SEGMENT, from, NULL), 0);
	check_captured(w, first, 1);
	one = overhead(w, first, 1);

	/* Four queued in the same turn of the loop share one frame. */
	from = n_wire;
	first = first_pending = n_items;
	for (unsigned k = 1; k <= 4; k++)
		enqueue(position_report(k, 30), PRIO_POSITION);
	run_until(loop, all_delivered, 3000);
	assert_int_equal(frames_of(1, FRAME_BUNDLES, from, &w), 1);
	check_captured(w, first, 4);
	four = overhead(w, first, 4);
	/* Their commit acks went back together, in one small frame. */
	assert_int_equal(frames_of(2, FRAME_COMMITS, from, &w), 1);
	assert_int_equal(frames_of(2, FRAME_COMMIT_ACK, from, NULL), 0);
	assert_true(w->compact);
	printf("# commit acks for 4 bundles: one %zu-byte frame\n", w->len);
	assert_true(w->len <= 4 + 4 + 8);

	/* An alert relayed from the command center, alone. */
	from = n_wire;
	first = first_pending = n_items;
	enqueue(alert(0), PRIO_URGENT);
	run_until(loop, all_delivered, 3000);
	assert_int_equal(frames_of(1, FRAME_BUNDLES, from, &w), 1);
	alone_alert = overhead(w, first, 1);

	printf("# per-bundle overhead on air (8-byte tag, MTU %u): position report %.1f bytes alone, "
	    "%.2f with 4 in a frame; alert %.1f alone\n", MTU, one, four, alone_alert);
	/* The target of issue 5: <= 16 bytes a bundle between neighbours that know each other. */
	assert_true(four <= 16.0);
	assert_true(one <= 24.0 && alone_alert <= 26.0);
	for (unsigned i = 0; i < n_items; i++) {
		assert_int_equal(items[i].delivered, 1);
		assert_int_equal(items[i].received, 1);
	}
	link_metrics(a.link, &ma);
	link_metrics(b.link, &mb);
	assert_int_equal(ma.compact_tx, 6);
	assert_int_equal(mb.compact_rx, 6);
	assert_int_equal(mb.dropped[FRAME_DROP_BAD_TAG] + mb.dropped[FRAME_DROP_UNKNOWN_SENDER], 0);
	free_link(&a.link);
	free_link(&b.link);
	loop_free(loop);
	reset_items();
}

static bool
b_knows_a(void)
{
	return both_up();
}

/*
 * uD3TN's bundles and bytes that are no bundle at all travel as segments;
 * then 200 bundles over a channel that loses 10% each way, exactly once;
 * then the receiver restarts while bundles are on their way.
 */
static void
test_full_form_loss_and_restart(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = test_free_port(), pb = test_free_port();
	struct link_metrics ma, mb;
	unsigned from;
	uint64_t bytes0, acks0;

	setup_keys();
	recording_ops = link_udp_ops;
	recording_ops.send = recording_send;
	loss_pct = 0;
	reset_items();
	requeue = false;
	a.link = make(loop, &a, 1, 1, pa, pb, MTU, LINK_COMPACT_YES);
	b.link = make(loop, &b, 2, 1, pb, pa, MTU, LINK_COMPACT_YES);
	settle(loop);

	/* Full form: uD3TN's small bundle, its 1 KB one (segmented), and 40 bytes of no bundle. */
	from = n_wire;
	{
		const char *names[] = { "dtn-mtcp-a2b-01.bpv7", "dtn-mtcp-a2b-02.bpv7" };

		for (int i = 0; i < 2; i++) {
			struct item *it = &items[n_items++];

			it->data = test_data_read("bpv7", names[i], 4096, &it->len);
			enqueue(it, PRIO_MESSAGE);
		}
		items[n_items].len = 40;
		items[n_items].data = malloc(40);
		memset(items[n_items].data, 0x5a, 40);
		enqueue(&items[n_items++], PRIO_MESSAGE);
	}
	run_until(loop, all_delivered, 5000);
	assert_int_equal(frames_of(1, FRAME_BUNDLES, from, NULL), 0);
	assert_true(frames_of(1, FRAME_SEGMENT, from, NULL) >= 1 + 1 + 5);
	link_metrics(a.link, &ma);
	assert_int_equal(ma.compact_tx, 0);

	/* 200 of ours over a lossy channel. */
	loss_pct = 10;
	first_pending = n_items;
	link_metrics(a.link, &ma);
	link_metrics(b.link, &mb);
	bytes0 = ma.data_bytes_tx;
	acks0 = mb.ack_bytes_tx;
	for (unsigned i = 0; i < 200; i++) {
		struct item *it = i % 10 == 9 ? alert(i) : position_report(i, 1 + i % 60);

		enqueue(it, i % 10 == 9 ? PRIO_URGENT : PRIO_POSITION);
		/* In bursts, as the forwarder hands them over. */
		if (i % 25 == 24)
			loop_once(loop, 0);
	}
	run_until(loop, all_delivered, 60000);
	for (unsigned i = 0; i < n_items; i++) {
		assert_int_equal(items[i].delivered, 1);
		assert_int_equal(items[i].received, 1);
		assert_int_equal(items[i].returned, 0);
	}
	link_metrics(a.link, &ma);
	link_metrics(b.link, &mb);
	assert_true(ma.retransmissions > 0);	/* the loss was real */
	assert_true(ma.compact_tx >= 200);
	printf("# 200 bundles, 10%% loss: %.1f bytes of data frames and %.1f of acks a bundle, %llu retransmitted\n",
	    (double)(ma.data_bytes_tx - bytes0) / 200, (double)(mb.ack_bytes_tx - acks0) / 200,
	    (unsigned long long)ma.retransmissions);
	assert_int_equal(mb.dropped[FRAME_DROP_MALFORMED], 0);

	/* B restarts (boot 2) just as 20 more leave: whatever A had in flight comes back and goes again. */
	loss_pct = 0;
	requeue = true;
	first_pending = n_items;
	free_link(&b.link);
	b.link = make(loop, &b, 2, 2, pb, pa, MTU, LINK_COMPACT_YES);
	for (unsigned i = 0; i < 20; i++)
		enqueue(position_report(300 + i, 20), PRIO_POSITION);
	run_until(loop, all_delivered, 20000);
	for (unsigned i = first_pending; i < n_items; i++) {
		assert_int_equal(items[i].delivered, 1);
		assert_int_equal(items[i].received, 1);
	}
	run_until(loop, b_knows_a, 1000);
	free_link(&a.link);
	free_link(&b.link);
	loop_free(loop);
	reset_items();
	requeue = false;
}

/* compact = no on one side: the other sees no capability and sends full segments; auto on a wide link: off. */
static void
test_compact_off(void **state)
{
	struct loop *loop = loop_new();
	uint16_t pa = test_free_port(), pb = test_free_port();
	struct link_metrics ma, mb;
	unsigned from = n_wire;

	setup_keys();
	recording_ops = link_udp_ops;
	recording_ops.send = recording_send;
	loss_pct = 0;
	reset_items();
	a.link = make(loop, &a, 1, 1, pa, pb, MTU, LINK_COMPACT_YES);
	b.link = make(loop, &b, 2, 1, pb, pa, MTU, LINK_COMPACT_NO);
	settle(loop);
	for (unsigned k = 0; k < 5; k++)
		enqueue(position_report(k, 30), PRIO_POSITION);
	run_until(loop, all_delivered, 3000);
	link_metrics(a.link, &ma);
	link_metrics(b.link, &mb);
	assert_true(ma.compact);
	assert_false(mb.compact);
	assert_int_equal(ma.compact_tx, 0);
	assert_int_equal(frames_of(1, FRAME_BUNDLES, from, NULL), 0);
	assert_int_equal(frames_of(1, FRAME_SEGMENT, from, NULL), 5);
	assert_int_equal(frames_of(2, FRAME_COMMIT_ACK, from, NULL), 5);
	for (unsigned i = from; i < n_wire; i++)
		assert_false(wire[i % WIRE_LOG].compact);
	free_link(&a.link);
	free_link(&b.link);

	/* auto on a wide link (MTU 1200, 10 Mbit/s): off. */
	a.link = make(loop, &a, 1, 1, pa, pb, 1200, LINK_COMPACT_AUTO);
	link_metrics(a.link, &ma);
	assert_false(ma.compact);
	free_link(&a.link);
	loop_free(loop);
	reset_items();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_overhead_on_air, teardown),
		cmocka_unit_test_teardown(test_full_form_loss_and_restart, teardown),
		cmocka_unit_test_teardown(test_compact_off, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
