/*
 * test_session.c - reliable transfers over a simulated channel: loss both
 * ways, delay, lost commit acks, priority order, window, give-up.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"

/* A frame in flight on the simulated channel. */
enum kind { SEG, ACK, COMMIT };
struct pkt {
	enum kind kind;
	uint64_t at;			/* delivery time */
	struct session_seg seg;
	uint64_t cum;
	struct session_range r[SESSION_SACK_RANGES];
	size_t n;
};

struct sim {
	struct session_tx *tx;
	struct session_rx *rx;
	struct pkt q[65536];
	size_t nq;
	unsigned loss_pct, delay;
	uint64_t now;
	unsigned seed;
	int delivered[4096];		/* commits seen by the sender, per ctx */
	int completed[4096];		/* completions seen by the receiver, per xid */
	uint64_t order[4096];
	unsigned norder;
	unsigned max_inflight;
};

static bool
lost(struct sim *s)
{
	return (unsigned)(rand_r(&s->seed) % 100) < s->loss_pct;
}

static void
put(struct sim *s, struct pkt p)
{
	if (lost(s))
		return;
	p.at = s->now + s->delay;
	assert_true(s->nq < sizeof(s->q) / sizeof(s->q[0]));
	s->q[s->nq++] = p;
}

/* Deliver everything due now; the receiver commits at once. */
static void
deliver(struct sim *s)
{
	for (size_t i = 0; i < s->nq;) {
		struct pkt p = s->q[i];

		if (p.at > s->now) {
			i++;
			continue;
		}
		s->q[i] = s->q[--s->nq];
		if (p.kind == SEG) {
			int r = session_rx_segment(s->rx, p.seg.xid, p.seg.total, p.seg.off, p.seg.len);
			struct pkt a = { .kind = ACK };

			assert_int_not_equal(r, RX_BAD);
			if (r == RX_COMPLETE) {
				s->completed[p.seg.xid]++;
				session_rx_committed(s->rx, p.seg.xid);
			}
			if (r == RX_COMPLETE || r == RX_COMMITTED) {
				a.kind = COMMIT;
				a.seg.xid = p.seg.xid;
				put(s, a);
				continue;
			}
			a.seg.xid = p.seg.xid;
			a.n = session_rx_ack(s->rx, p.seg.xid, &a.cum, a.r, SESSION_SACK_RANGES);
			put(s, a);
		} else if (p.kind == ACK) {
			session_tx_ack(s->tx, p.seg.xid, p.cum, p.r, p.n, s->now);
		} else {
			void *ctx = session_tx_commit(s->tx, p.seg.xid);

			if (ctx) {	/* contexts are index + 1: NULL means unknown */
				s->delivered[(uintptr_t)ctx - 1]++;
				s->order[s->norder++] = (uintptr_t)ctx - 1;
			}
		}
	}
}

/* Run until every transfer is committed or time runs out; returns ms taken or -1. */
static long
run(struct sim *s, unsigned want, uint64_t limit)
{
	uint64_t start = s->now;
	struct session_seg g;
	struct session_tx_stats st;
	int r;

	for (;;) {
		while ((r = session_tx_next(s->tx, s->now, &g)) == 1)
			put(s, (struct pkt){ .kind = SEG, .seg = g });
		if (r < 0)
			return -1;
		session_tx_stats(s->tx, &st);
		if (st.inflight > s->max_inflight)
			s->max_inflight = st.inflight;
		if (st.transfers_done == want)
			return (long)(s->now - start);
		if (s->now - start > limit)
			return -1;
		s->now++;
		deliver(s);
	}
}

static struct sim *
sim_new(uint32_t mss, unsigned window, unsigned loss, unsigned delay, unsigned seed)
{
	struct sim *s = calloc(1, sizeof(*s));

	s->tx = session_tx_new(mss, window, 100, 1);
	s->rx = session_rx_new();
	s->loss_pct = loss;
	s->delay = delay;
	s->seed = seed;
	return s;
}

static void
sim_free(struct sim *s)
{
	session_tx_free(s->tx);
	session_rx_free(s->rx);
	free(s);
}

static void
test_lossless_window_not_one_per_rtt(void **state)
{
	struct sim *s = sim_new(1000, 32, 0, 50, 1);
	long ms;

	for (uintptr_t i = 0; i < 320; i++)
		session_tx_add(s->tx, 200, 4, (void *)(i + 1));
	ms = run(s, 320, 100000);
	/* 320 one-segment bundles, 32 in flight, 100 ms round trip: ~10 round trips. */
	assert_true(ms > 0 && ms <= 12 * 100);
	assert_int_equal(s->max_inflight, 32);
	for (int i = 0; i < 320; i++)
		assert_int_equal(s->delivered[i], 1);
	sim_free(s);
}

static void
test_five_percent_loss_each_way_exactly_once(void **state)
{
	for (unsigned seed = 1; seed <= 5; seed++) {
		struct sim *s = sim_new(512, 16, 5, 20, seed);
		struct session_tx_stats st;

		for (uintptr_t i = 0; i < 1000; i++)
			session_tx_add(s->tx, (i * 7919) % 5000, 4, (void *)(i + 1));
		assert_true(run(s, 1000, 10000000) > 0);
		for (int i = 0; i < 1000; i++) {
			assert_int_equal(s->delivered[i], 1);
		}
		for (int x = 1; x <= 1000; x++)
			assert_int_equal(s->completed[x], 1);	/* committed once at the receiver */
		session_tx_stats(s->tx, &st);
		/* Retransmissions stay near the loss: well under a third of the segments. */
		assert_true(st.retransmissions < st.segments / 3);
		assert_true(st.srtt_ms >= 40 && st.srtt_ms < 200);
		sim_free(s);
	}
}

static void
test_priority_order(void **state)
{
	struct sim *s = sim_new(1000, 1, 0, 10, 1);

	session_tx_add(s->tx, 100, 6, (void *)1);	/* bulk */
	session_tx_add(s->tx, 100, 6, (void *)2);
	session_tx_add(s->tx, 100, 4, (void *)3);	/* message */
	session_tx_add(s->tx, 100, 1, (void *)4);	/* alert, queued last, leaves first */
	assert_true(run(s, 4, 100000) > 0);
	assert_int_equal(s->order[0], 3);
	assert_int_equal(s->order[1], 2);
	assert_int_equal(s->order[2], 0);
	assert_int_equal(s->order[3], 1);
	sim_free(s);
}

static void
test_lost_commit_ack_is_recovered(void **state)
{
	struct sim *s = sim_new(1000, 4, 0, 10, 1);
	struct session_seg g;

	session_tx_add(s->tx, 1500, 4, (void *)8);
	/* Let both segments and their acks through, but drop the first COMMIT_ACK. */
	while (session_tx_next(s->tx, s->now, &g) == 1)
		put(s, (struct pkt){ .kind = SEG, .seg = g });
	for (int t = 0; t < 30; t++) {
		s->now++;
		for (size_t i = 0; i < s->nq; i++)
			if (s->q[i].kind == COMMIT && s->q[i].at <= s->now)
				s->q[i] = s->q[--s->nq];
		deliver(s);
	}
	assert_int_equal(s->delivered[7], 0);
	assert_true(run(s, 1, 100000) > 0);	/* poke -> RX_COMMITTED -> COMMIT_ACK again */
	assert_int_equal(s->delivered[7], 1);
	assert_int_equal(s->completed[1], 1);
	sim_free(s);
}

static void
test_silent_neighbour_times_out_and_drains(void **state)
{
	struct session_tx *tx = session_tx_new(1000, 8, 50, 1);
	struct session_seg g;
	uint64_t now = 0;
	int r, sent = 0;

	session_tx_add(tx, 3000, 4, (void *)1);
	session_tx_add(tx, 10, 1, (void *)2);
	while ((r = session_tx_next(tx, now, &g)) >= 0 && now < 10000000) {
		if (r == 1)
			sent++;
		else
			now = session_tx_deadline(tx);
	}
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(sent, 4 * SESSION_MAX_TRIES);
	assert_non_null(session_tx_drain(tx));
	assert_non_null(session_tx_drain(tx));
	assert_null(session_tx_drain(tx));
	session_tx_free(tx);
}

/* A transfer nothing of which went out can be taken back (superseded); one that started cannot. */
static void
test_withdraw_only_before_the_first_segment(void **state)
{
	struct session_tx *tx = session_tx_new(1000, 1, 50, 1);
	struct session_seg g;
	uintptr_t left;

	session_tx_add(tx, 3000, 2, (void *)1);
	session_tx_add(tx, 100, 2, (void *)2);
	session_tx_add(tx, 100, 2, (void *)3);
	assert_int_equal(session_tx_next(tx, 0, &g), 1);	/* window 1: only the first */
	assert_ptr_equal(g.ctx, (void *)1);
	assert_int_equal(session_tx_withdraw(tx, (void *)1), -EBUSY);
	assert_int_equal(session_tx_withdraw(tx, (void *)2), 0);
	assert_int_equal(session_tx_withdraw(tx, (void *)2), -ENOENT);
	assert_int_equal(session_tx_withdraw(tx, (void *)9), -ENOENT);
	/* What is left: the first (started) and the third, nothing of the second. */
	left = (uintptr_t)session_tx_drain(tx);
	left |= (uintptr_t)session_tx_drain(tx) << 8;
	assert_true(left == (1 | 3 << 8) || left == (3 | 1 << 8));
	assert_null(session_tx_drain(tx));
	session_tx_free(tx);
}

/*
 * A segment that a later one overtook is lost (links deliver in order): it
 * goes again at once, long before its timeout, and only once; segments sent
 * in the same millisecond may arrive in any order without that.
 */
static void
test_overtaken_segment_resent_before_its_timeout(void **state)
{
	struct session_tx *tx = session_tx_new(1000, 8, 1000, 1);
	struct session_range r = { 1000, 1000 };
	struct session_tx_stats st;
	struct session_seg g;

	session_tx_add(tx, 2000, 4, (void *)1);
	assert_int_equal(session_tx_next(tx, 0, &g), 1);	/* [0, 1000) at 0 ms: will be lost */
	assert_int_equal(g.off, 0);
	assert_int_equal(session_tx_next(tx, 0, &g), 1);	/* [1000, 2000) in the same ms */
	assert_int_equal(session_tx_next(tx, 0, &g), 0);
	/* Same-millisecond reordering: only [1000, 2000) is reported; nothing is resent. */
	session_tx_ack(tx, 1, 0, &r, 1, 10);
	assert_int_equal(session_tx_next(tx, 11, &g), 0);
	session_tx_add(tx, 500, 4, (void *)2);
	assert_int_equal(session_tx_next(tx, 12, &g), 1);	/* bundle 2, 12 ms after [0, 1000) */
	assert_int_equal(g.xid, 2);
	assert_int_equal(session_tx_next(tx, 13, &g), 0);	/* [0, 1000) waits: its timeout is >= 200 ms */
	/* Bundle 2 is committed: [0, 1000), sent well before it, was lost. */
	assert_non_null(session_tx_commit(tx, 2));
	assert_int_equal(session_tx_next(tx, 20, &g), 1);
	assert_true(g.retransmission);
	assert_int_equal(g.xid, 1);
	assert_int_equal(g.off, 0);
	assert_int_equal(session_tx_next(tx, 21, &g), 0);	/* once, not again at every call */
	session_tx_ack(tx, 1, 2000, NULL, 0, 25);		/* the repair arrived */
	assert_int_equal(session_tx_next(tx, 26, &g), 0);
	assert_non_null(session_tx_commit(tx, 1));
	session_tx_stats(tx, &st);
	assert_int_equal(st.retransmissions, 1);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.rto_ms, 200);			/* the floor, on a 10 ms round trip */
	session_tx_free(tx);
}

static void
test_receiver_ranges_and_bad_input(void **state)
{
	struct session_rx *rx = session_rx_new();
	struct session_range r[8];
	uint64_t cum;
	size_t n;

	assert_int_equal(session_rx_segment(rx, 1, 100, 50, 10), RX_NEW);
	assert_int_equal(session_rx_segment(rx, 1, 100, 80, 20), RX_NEW);
	n = session_rx_ack(rx, 1, &cum, r, 8);
	assert_int_equal(cum, 0);
	assert_int_equal(n, 2);
	assert_int_equal(r[0].off, 50);
	assert_int_equal(session_rx_segment(rx, 1, 100, 55, 5), RX_DUP);
	assert_int_equal(session_rx_segment(rx, 1, 100, 0, 50), RX_NEW);
	n = session_rx_ack(rx, 1, &cum, r, 8);
	assert_int_equal(cum, 60);
	assert_int_equal(n, 1);
	assert_int_equal(session_rx_segment(rx, 1, 99, 60, 20), RX_BAD);	/* length changed */
	assert_int_equal(session_rx_segment(rx, 1, 100, 90, 20), RX_BAD);	/* beyond the end */
	assert_int_equal(session_rx_segment(rx, 1, 100, UINT64_MAX, 2), RX_BAD);
	assert_int_equal(session_rx_segment(rx, 1, 100, 60, 20), RX_COMPLETE);
	session_rx_committed(rx, 1);
	assert_int_equal(session_rx_segment(rx, 1, 100, 60, 20), RX_COMMITTED);
	assert_int_equal(session_rx_segment(rx, 2, 0, 0, 0), RX_COMPLETE);	/* empty bundle */
	/* Too fragmented: refused without harm, accepted once gaps close. */
	for (uint64_t i = 0; i < SESSION_RX_RANGES; i++)
		assert_int_equal(session_rx_segment(rx, 3, 10000, i * 10, 5), RX_NEW);
	assert_int_equal(session_rx_segment(rx, 3, 10000, 9000, 5), RX_DUP);
	assert_int_equal(session_rx_segment(rx, 3, 10000, 5, 5), RX_NEW);
	assert_int_equal(session_rx_segment(rx, 3, 10000, 9000, 5), RX_NEW);
	session_rx_free(rx);
}

/*
 * A paced medium, as the link layer drives a radio: one segment on the air
 * at a time (frame ms each), taken from the session only when the medium
 * is free; the far side is delay ms away and acknowledges every segment.
 * Returns the number of frames put on the air.
 */
#define PACED_FRAME	10

static unsigned
paced_step(struct sim *s, uint64_t *free_at, uint64_t *sent_xid, unsigned cap)
{
	struct session_seg g;
	unsigned n = 0;

	if (s->now >= *free_at && session_tx_next(s->tx, s->now, &g) == 1) {
		put(s, (struct pkt){ .kind = SEG, .seg = g });
		*free_at = s->now + PACED_FRAME;
		if (n < cap)
			sent_xid[n] = g.xid;
		n++;
	}
	s->now++;
	deliver(s);
	return n;
}

/*
 * A bulk transfer fills the window on a long, slow path (300 ms each way,
 * 10 ms a frame: a window of 16 is full long before the first ack).  An
 * alert, then a position, queued in the middle go out as the very next
 * frame, not after a round trip's worth of acks; bulk resumes after them.
 */
static void
test_alert_waits_at_most_one_frame_behind_bulk(void **state)
{
	struct sim *s = sim_new(200, 16, 0, 300, 1);
	uint64_t free_at = 0, xid[1];
	struct session_tx_stats st;
	unsigned frames = 0, waited;

	assert_int_equal(session_tx_add(s->tx, 200 * 400, 6, (void *)1), 1);
	while (s->now < 250)
		frames += paced_step(s, &free_at, xid, 0);
	session_tx_stats(s->tx, &st);
	assert_true(st.inflight >= 14);		/* bulk holds the window (less its reserve) */
	for (int k = 0; k < 2; k++) {
		uint64_t id = session_tx_add(s->tx, 150, k == 0 ? 1 : 2, (void *)(uintptr_t)(2 + k));
		uint64_t queued = s->now;

		/* The frame on the air now finishes; then the urgent one goes. */
		for (waited = 0; ; ) {
			unsigned n = paced_step(s, &free_at, xid, 1);

			if (n && xid[0] == id)
				break;
			waited += n;
			assert_true(s->now - queued < 10000);
		}
		printf("# class %d waited %u frames behind bulk, %llu ms (frame %d ms)\n", k == 0 ? 1 : 2,
		    waited, (unsigned long long)(s->now - 1 - queued), PACED_FRAME);
		assert_int_equal(waited, 0);
		assert_true(s->now - 1 - queued <= PACED_FRAME);
	}
	assert_true(run(s, 3, 1000000) >= 0);
	assert_int_equal(s->order[0], 1);	/* the alert, then the position, then bulk */
	assert_int_equal(s->order[1], 2);
	assert_int_equal(s->order[2], 0);
	sim_free(s);
}

/*
 * Bulk never starves positions: with bulk always queued on a paced medium
 * and a 5% loss each way (repairs of bulk compete too), no bulk frame goes
 * ahead of a position report queued, and bulk still gets the rest.
 */
static void
test_positions_never_wait_behind_bulk(void **state)
{
	struct sim *s = sim_new(200, 16, 5, 30, 7);
	uint64_t free_at = 0, xid[1];
	unsigned worst = 0, positions = 0;

	for (uintptr_t i = 0; i < 8; i++)
		session_tx_add(s->tx, 200 * 50, 6, (void *)(i + 1));
	for (int k = 0; k < 40; k++) {
		uint64_t id, queued;
		unsigned waited = 0;

		while (s->now % 97 != 0)
			paced_step(s, &free_at, xid, 0);
		id = session_tx_add(s->tx, 120, 2, (void *)(uintptr_t)(100 + k));
		queued = s->now;
		for (;;) {
			unsigned n = paced_step(s, &free_at, xid, 1);

			if (n && xid[0] == id)
				break;
			waited += n && xid[0] <= 8;	/* bulk; an earlier position's repair may go first */
			assert_true(s->now - queued < 10000);
		}
		if (waited > worst)
			worst = waited;
		positions++;
	}
	printf("# %u positions under bulk with 5%% loss: at most %u bulk frames ahead of one\n", positions, worst);
	assert_int_equal(worst, 0);
	assert_true(run(s, 48, 10000000) >= 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(s->delivered[i], 1);
	for (int k = 0; k < 40; k++)
		assert_int_equal(s->delivered[99 + k], 1);
	sim_free(s);
}

/*
 * Fair share within a class: two bulk transfers queued one after the other
 * take turns of quantum bytes, instead of the second waiting for all of the
 * first; a third waits its turn while SESSION_RR_ACTIVE transfers are active.
 */
static void
test_round_robin_within_class(void **state)
{
	struct session_tx *tx = session_tx_new(100, SESSION_WINDOW_MAX, 100, 1);
	struct session_seg g;
	uint64_t seq[60];
	unsigned n = 0, runs = 0;

	session_tx_set_quantum(tx, 200);	/* two segments a turn */
	session_tx_add(tx, 1000, 6, (void *)1);
	session_tx_add(tx, 1000, 6, (void *)2);
	while (n < 20 && session_tx_next(tx, 0, &g) == 1)
		seq[n++] = g.xid;
	assert_int_equal(n, 20);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(seq[i], 1 + (i / 2) % 2);	/* 1 1 2 2 1 1 2 2 ... */
		if (i == 0 || seq[i] != seq[i - 1])
			runs++;
	}
	assert_int_equal(runs, 10);
	session_tx_free(tx);

	/* Six transfers: the first SESSION_RR_ACTIVE share; the others start as those finish. */
	tx = session_tx_new(100, SESSION_WINDOW_MAX, 100, 1);
	for (uintptr_t i = 0; i < 6; i++)
		session_tx_add(tx, 300, 6, (void *)(i + 1));
	n = 0;
	while (n < 18 && session_tx_next(tx, 0, &g) == 1)
		seq[n++] = g.xid;
	assert_int_equal(n, 18);
	for (unsigned i = 0; i < SESSION_RR_ACTIVE; i++)
		assert_int_equal(seq[i], i + 1);
	for (unsigned i = 0; i < 2 * SESSION_RR_ACTIVE; i++)
		assert_true(seq[i] <= SESSION_RR_ACTIVE);	/* 5 and 6 wait for a place */
	session_tx_free(tx);
}

/*
 * The link fills each frame: a fresh segment grows to what its frame holds,
 * never past the bundle's end; the next segment starts where it ended; a
 * retransmission keeps its length and cannot grow; only the last segment
 * handed out can.
 */
static void
test_fresh_segment_grows_to_fill_its_frame(void **state)
{
	struct session_tx *tx = session_tx_new(200, 8, 1000, 1);
	struct session_tx_stats st;
	struct session_seg g, h;

	session_tx_add(tx, 500, 6, (void *)1);
	assert_int_equal(session_tx_next(tx, 0, &g), 1);
	assert_int_equal(g.len, 200);
	assert_int_equal(session_tx_grow(tx, &g, 230), 230);
	assert_int_equal(g.len, 230);
	assert_int_equal(session_tx_grow(tx, &g, 210), 230);	/* never shrinks */
	assert_int_equal(session_tx_next(tx, 0, &h), 1);
	assert_int_equal(h.off, 230);
	assert_int_equal(h.len, 200);
	assert_int_equal(session_tx_grow(tx, &g, 260), 230);	/* no longer the last one handed out */
	assert_int_equal(session_tx_grow(tx, &h, 400), 270);	/* up to the bundle's end */
	assert_int_equal(h.len, 270);
	assert_int_equal(session_tx_next(tx, 0, &h), 0);	/* all 500 bytes are out */
	session_tx_stats(tx, &st);
	assert_int_equal(st.bytes, 500);
	/* [0, 230) is lost: it goes again as it was, and a retransmission does not grow. */
	assert_int_equal(session_tx_next(tx, 5000, &g), 1);
	assert_true(g.retransmission);
	assert_int_equal(g.off, 0);
	assert_int_equal(g.len, 230);
	assert_int_equal(session_tx_grow(tx, &g, 250), 230);
	session_tx_ack(tx, 1, 500, NULL, 0, 5010);
	session_tx_stats(tx, &st);
	assert_int_equal(st.inflight, 0);
	assert_non_null(session_tx_commit(tx, 1));
	session_tx_free(tx);
}

/*
 * A receiver that holds its SEG_ACKs (ack delay 3 s): a segment of a bundle
 * of several segments times out RTO + 3 s after it went, not at the RTO; a
 * bundle sent whole in one segment (answered by its commit, never held) at
 * the RTO.
 */
static void
test_ack_delay_defers_timeouts_of_partial_segments(void **state)
{
	struct session_tx *tx = session_tx_new(1000, 8, 1000, 1);
	struct session_seg g;

	session_tx_set_ack_delay(tx, 3000);
	session_tx_add(tx, 5000, 6, (void *)1);
	session_tx_add(tx, 300, 1, (void *)2);
	assert_int_equal(session_tx_next(tx, 0, &g), 1);	/* the alert, whole */
	assert_int_equal(g.xid, 2);
	assert_int_equal(session_tx_next(tx, 0, &g), 1);	/* bulk [0, 1000) */
	assert_int_equal(g.xid, 1);
	assert_int_equal(session_tx_next(tx, 999, &g), 1);	/* bulk [1000, 2000) */
	/* At the RTO only the alert is due again. */
	assert_int_equal(session_tx_next(tx, 1000, &g), 1);
	assert_true(g.retransmission);
	assert_int_equal(g.xid, 2);
	assert_non_null(session_tx_commit(tx, 2));
	assert_int_equal(session_tx_next(tx, 3999, &g), 1);	/* bulk [2000, 3000): new data, the window has room */
	assert_false(g.retransmission);
	assert_int_equal(session_tx_next(tx, 3999, &g), 1);
	assert_false(g.retransmission);
	assert_int_equal(session_tx_next(tx, 3999, &g), 1);
	assert_false(g.retransmission);
	assert_int_equal(g.off, 4000);
	/* RTO + ack delay after it went, bulk [0, 1000) is due. */
	assert_int_equal(session_tx_next(tx, 4000, &g), 1);
	assert_true(g.retransmission);
	assert_int_equal(g.xid, 1);
	assert_int_equal(g.off, 0);
	assert_true(session_tx_deadline(tx) <= 999 + 4000);	/* [1000, 2000) next */
	session_tx_free(tx);
}

/* A fresh segment the medium did not take goes back: the next call gives it again, not a timeout. */
static void
test_unsend_gives_the_segment_back(void **state)
{
	struct session_tx *tx = session_tx_new(100, 8, 1000, 1);
	struct session_tx_stats st;
	struct session_seg g, h;

	session_tx_add(tx, 250, 6, (void *)1);
	assert_int_equal(session_tx_next(tx, 0, &g), 1);
	assert_int_equal(session_tx_next(tx, 0, &h), 1);
	assert_int_equal(h.off, 100);
	assert_false(session_tx_unsend(tx, &g));	/* not the last handed out */
	assert_true(session_tx_unsend(tx, &h));
	session_tx_stats(tx, &st);
	assert_int_equal(st.inflight, 1);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.bytes, 100);
	assert_int_equal(session_tx_next(tx, 1, &h), 1);	/* the same bytes again, as new */
	assert_false(h.retransmission);
	assert_int_equal(h.off, 100);
	assert_int_equal(h.len, 100);
	assert_int_equal(session_tx_next(tx, 1, &h), 1);
	assert_int_equal(h.off, 200);
	assert_int_equal(h.len, 50);
	assert_int_equal(session_tx_next(tx, 2, &h), 0);
	/* A retransmission cannot be taken back. */
	assert_int_equal(session_tx_next(tx, 5000, &g), 1);
	assert_true(g.retransmission);
	assert_false(session_tx_unsend(tx, &g));
	session_tx_free(tx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lossless_window_not_one_per_rtt),
		cmocka_unit_test(test_five_percent_loss_each_way_exactly_once),
		cmocka_unit_test(test_priority_order),
		cmocka_unit_test(test_withdraw_only_before_the_first_segment),
		cmocka_unit_test(test_lost_commit_ack_is_recovered),
		cmocka_unit_test(test_silent_neighbour_times_out_and_drains),
		cmocka_unit_test(test_overtaken_segment_resent_before_its_timeout),
		cmocka_unit_test(test_receiver_ranges_and_bad_input),
		cmocka_unit_test(test_alert_waits_at_most_one_frame_behind_bulk),
		cmocka_unit_test(test_positions_never_wait_behind_bulk),
		cmocka_unit_test(test_round_robin_within_class),
		cmocka_unit_test(test_fresh_segment_grows_to_fill_its_frame),
		cmocka_unit_test(test_ack_delay_defers_timeouts_of_partial_segments),
		cmocka_unit_test(test_unsend_gives_the_segment_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
