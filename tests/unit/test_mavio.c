/*
 * test_mavio.c - MAVLink endpoints (relay/track/mavio.c) over loopback UDP
 * and a tlog: a listening endpoint hears a connected one, answers whoever
 * spoke last, parses each datagram alone (a frame cut at a datagram's end
 * does not join the next); a broken frame is counted; the tlog replays at
 * its own pace (scaled) through its deadline, whole, in order.
 */
#include <errno.h>
#include <poll.h>
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

#include "mavio.h"
#include "mavlink.h"
#include "ports.h"
#include "testdata.h"
#include "tlog.h"

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct heard {
	int n;
	uint8_t seq[64];
	uint32_t msgid[64];
	int64_t wall_ms;
	uint64_t tlog_us[64];
	uint64_t last_us;
};

static void
heard_cb(struct mavio *e, const struct mav_frame *f, const struct mavio_rx *rx, void *arg)
{
	struct heard *h = arg;

	(void)e;
	if (h->n < 64) {
		h->seq[h->n] = f->seq;
		h->msgid[h->n] = f->msgid;
		h->tlog_us[h->n] = rx->tlog_us;
	}
	h->wall_ms = rx->wall_ms;
	h->last_us = rx->tlog_us;
	h->n++;
}

/* Poll e until it has read want frames in all (or 2 s pass). */
static void
read_until(struct mavio *e, struct heard *h, int want)
{
	int64_t end = mono_ms() + 2000;

	while (h->n < want && mono_ms() < end) {
		struct pollfd pfd = { .fd = mavio_fd(e), .events = POLLIN };

		assert_true(poll(&pfd, 1, 100) >= 0);
		if (pfd.revents & POLLIN)
			assert_true(mavio_read(e, mono_ms(), heard_cb, h) >= 0);
	}
}

static ssize_t
gpi_frame(uint8_t *buf, uint8_t seq)
{
	struct mav_global_position_int g = { .time_boot_ms = 1000u * seq, .lat = -353621474, .lon = 1491651746 };
	uint8_t pl[28];

	mav_encode_global_position_int(&g, pl);
	return mav_build_v2(buf, MAV_FRAME_MAX, seq, 1, 1, MAV_MSG_GLOBAL_POSITION_INT, pl, sizeof(pl));
}

static void
test_listen_connect(void **state)
{
	uint16_t port = test_free_port();
	char addr[64];
	struct mavio *l, *c;
	struct heard hl = { 0 }, hc = { 0 };
	uint8_t dgram[4 * MAV_FRAME_MAX];
	size_t len = 0;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	l = mavio_listen(addr);
	assert_non_null(l);
	assert_true(mavio_fd(l) >= 0);
	assert_true(mavio_next_deadline(l) == INT64_MAX);
	/* No one spoke yet: nowhere to answer. */
	assert_int_equal(mavio_send(l, (const uint8_t *)"x", 1), -ENOTCONN);
	c = mavio_connect(addr);
	assert_non_null(c);
	/* Three frames in one datagram, then one alone. */
	for (int i = 0; i < 3; i++)
		len += (size_t)gpi_frame(dgram + len, (uint8_t)i);
	assert_int_equal(mavio_send(c, dgram, len), 0);
	len = (size_t)gpi_frame(dgram, 3);
	assert_int_equal(mavio_send(c, dgram, len), 0);
	read_until(l, &hl, 4);
	assert_int_equal(hl.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(hl.seq[i], i);
	assert_true(hl.wall_ms > 1700000000000LL);
	assert_int_equal(hl.tlog_us[0], 0);
	assert_int_equal(mavio_stats(l)->good, 4);
	/* The listener answers whoever sent last: the connected endpoint. */
	len = (size_t)gpi_frame(dgram, 9);
	assert_int_equal(mavio_send(l, dgram, len), 0);
	read_until(c, &hc, 1);
	assert_int_equal(hc.n, 1);
	assert_int_equal(hc.seq[0], 9);
	/* A second sender: now the answers go to it, not to the first. */
	struct mavio *c2 = mavio_connect(addr);
	struct heard h2 = { 0 };
	assert_non_null(c2);
	len = (size_t)gpi_frame(dgram, 10);
	assert_int_equal(mavio_send(c2, dgram, len), 0);
	read_until(l, &hl, 5);
	assert_int_equal(hl.n, 5);
	len = (size_t)gpi_frame(dgram, 11);
	assert_int_equal(mavio_send(l, dgram, len), 0);
	read_until(c2, &h2, 1);
	assert_int_equal(h2.n, 1);
	assert_int_equal(h2.seq[0], 11);
	assert_int_equal(mavio_read(c, mono_ms(), heard_cb, &hc), 0);
	assert_int_equal(hc.n, 1);
	mavio_free(c2);
	mavio_free(c);
	mavio_free(l);
	mavio_free(NULL);
}

/* A frame cut at the end of a datagram is lost, not glued to the next one. */
static void
test_datagram_alone(void **state)
{
	uint16_t port = test_free_port();
	char addr[64];
	struct mavio *l, *c;
	struct heard h = { 0 };
	uint8_t a[MAV_FRAME_MAX], b[MAV_FRAME_MAX];
	ssize_t na, nb;

	(void)state;
	snprintf(addr, sizeof(addr), ":%u", port);	/* every address */
	l = mavio_listen(addr);
	assert_non_null(l);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	c = mavio_connect(addr);
	assert_non_null(c);
	na = gpi_frame(a, 1);
	nb = gpi_frame(b, 2);
	/* The first half of frame 1, then the rest of it with frame 2 after. */
	assert_int_equal(mavio_send(c, a, 20), 0);
	uint8_t rest[2 * MAV_FRAME_MAX];
	memcpy(rest, a + 20, (size_t)na - 20);
	memcpy(rest + na - 20, b, (size_t)nb);
	assert_int_equal(mavio_send(c, rest, (size_t)(na - 20 + nb)), 0);
	/* And a datagram with a broken CRC. */
	b[15] ^= 1;
	assert_int_equal(mavio_send(c, b, (size_t)nb), 0);
	b[15] ^= 1;
	b[4] = 3;
	/* seq is under the CRC: rebuild it. */
	nb = gpi_frame(b, 3);
	assert_int_equal(mavio_send(c, b, (size_t)nb), 0);
	read_until(l, &h, 2);
	/* Let the broken datagram be read too. */
	mavio_read(l, mono_ms(), heard_cb, &h);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.seq[0], 2);
	assert_int_equal(h.seq[1], 3);
	assert_int_equal(mavio_stats(l)->bad_crc, 1);
	assert_true(mavio_stats(l)->garbage >= 20);
	mavio_free(c);
	mavio_free(l);
}

/* A flood is read in bounded batches: the loop gets its turn between them, and nothing is lost. */
static void
test_bounded_read(void **state)
{
	uint16_t port = test_free_port();
	char addr[64];
	struct mavio *l, *c;
	struct heard h = { 0 };
	uint8_t buf[MAV_FRAME_MAX];
	int rcvbuf = 4 << 20, first, n;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_non_null(l = mavio_listen(addr));
	assert_int_equal(setsockopt(mavio_fd(l), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	assert_non_null(c = mavio_connect(addr));
	for (int i = 0; i < 400; i++) {
		n = (int)gpi_frame(buf, (uint8_t)i);
		assert_int_equal(mavio_send(c, buf, (size_t)n), 0);
	}
	first = mavio_read(l, mono_ms(), heard_cb, &h);
	assert_true(first > 0 && first < 400);
	n = first;
	for (int k = 0; k < 10 && n < 400; k++)
		n += mavio_read(l, mono_ms(), heard_cb, &h);
	assert_int_equal(n, 400);
	assert_int_equal(h.n, 400);
	mavio_free(c);
	mavio_free(l);
}

/* The ground station was not there (ICMP port unreachable), then starts: the first frame reaches it. */
static void
test_connect_before_listen(void **state)
{
	uint16_t port = test_free_port();
	char addr[64];
	struct mavio *l, *c;
	struct heard h = { 0 };
	uint8_t buf[MAV_FRAME_MAX];
	size_t n = (size_t)gpi_frame(buf, 7);

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_non_null(c = mavio_connect(addr));
	assert_int_equal(mavio_send(c, buf, n), 0);
	usleep(50000);				/* the ICMP error comes back */
	assert_non_null(l = mavio_listen(addr));
	assert_int_equal(mavio_send(c, buf, n), 0);
	read_until(l, &h, 1);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.seq[0], 7);
	mavio_free(c);
	mavio_free(l);
}

/* [v6]:PORT, where the machine has IPv6 loopback. */
static void
test_ipv6(void **state)
{
	uint16_t port = test_free_port();
	char addr[64];
	struct mavio *l, *c;
	struct heard h = { 0 };
	uint8_t buf[MAV_FRAME_MAX];
	ssize_t n;

	(void)state;
	snprintf(addr, sizeof(addr), "[::1]:%u", port);
	l = mavio_listen(addr);
	if (!l) {
		printf("  no IPv6 loopback (%s): skipped\n", strerror(errno));
		return;
	}
	c = mavio_connect(addr);
	assert_non_null(c);
	n = gpi_frame(buf, 42);
	assert_int_equal(mavio_send(c, buf, (size_t)n), 0);
	read_until(l, &h, 1);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.seq[0], 42);
	mavio_free(c);
	mavio_free(l);
}

static void
test_bad_addresses(void **state)
{
	(void)state;
	errno = 0;
	assert_null(mavio_connect(":14550"));
	assert_int_equal(errno, EINVAL);
	assert_null(mavio_listen("127.0.0.1"));
	assert_null(mavio_connect("no.such.host.invalid:14550"));
	assert_null(mavio_tlog("/nonexistent.tlog", 1, 0));
	assert_int_equal(errno, ENOENT);
}

/*
 * The flight's first 7 s of records (two, a 4.3 s gap, then the stream) at 20x: due by the deadline, at the
 * pace of their own times, in order, all of them; the loop sleeps on the
 * deadline between.
 */
static void
test_tlog_replay(void **state)
{
	char path[4096];
	struct heard *h = calloc(1, sizeof(*h));
	struct tlog *t;
	struct mav_frame *f = malloc(sizeof(*f));
	uint64_t ts, first = 0;
	int expect = 0, total = 0, polls = 0, early = 0;
	struct mavio *e;
	int64_t start;

	(void)state;
	assert_non_null(h);
	assert_non_null(f);
	test_data_path("", "cuav_quadplane_2016-11-12.tlog", path, sizeof(path));
	/* How many records the first 7 s of the log hold. */
	t = tlog_open(path);
	assert_non_null(t);
	while (tlog_next(t, &ts, f) == 1) {
		if (!first)
			first = ts;
		if (ts - first <= 7000000)
			expect++;
		total++;
	}
	tlog_free(t);
	start = mono_ms();
	e = mavio_tlog(path, 20.0, start);
	assert_non_null(e);
	assert_int_equal(mavio_fd(e), -1);
	assert_int_equal(mavio_send(e, (const uint8_t *)"x", 1), -EBADF);
	assert_true(mavio_next_deadline(e) == start);
	/* Replay until the records of the first 7 s (0.35 s at 20x) are out. */
	while (h->n < expect) {
		int64_t now = mono_ms(), due = mavio_next_deadline(e);
		int n;

		if (due > now) {
			poll(NULL, 0, (int)(due - now));
			continue;
		}
		n = mavio_read(e, mono_ms(), heard_cb, h);
		assert_true(n > 0);
		polls++;
		/* Nothing comes out before its time (its time since the first / 20). */
		if ((h->last_us - first) / 20000 > (uint64_t)(mono_ms() - start))
			early++;
	}
	int64_t took = mono_ms() - start;
	printf("  %d records of 7 s of flight replayed at 20x in %lld ms over %d reads\n", expect, (long long)took,
	    polls);
	assert_int_equal(early, 0);
	assert_true(took >= 330 && took < 1500);
	assert_true(polls > 5);
	for (int i = 1; i < 64 && i < h->n; i++)
		assert_true(h->tlog_us[i] >= h->tlog_us[i - 1]);
	assert_int_equal(h->tlog_us[0], first);
	assert_false(mavio_done(e));
	mavio_free(e);

	/* As fast as it reads: every record, then done. */
	memset(h, 0, sizeof(*h));
	e = mavio_tlog(path, 0, mono_ms());
	assert_non_null(e);
	while (!mavio_done(e))
		assert_true(mavio_read(e, mono_ms(), heard_cb, h) > 0 || mavio_done(e));
	assert_true(mavio_next_deadline(e) == INT64_MAX);
	printf("  whole flight at full speed: %d records\n", h->n);
	assert_int_equal(h->n, total);
	mavio_free(e);
	free(h);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_connect),
		cmocka_unit_test(test_datagram_alone),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_bounded_read),
		cmocka_unit_test(test_connect_before_listen),
		cmocka_unit_test(test_tlog_replay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
