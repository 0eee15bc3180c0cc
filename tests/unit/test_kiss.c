/*
 * test_kiss.c - the KISS framing and AX.25 UI codecs against hand-built
 * bytes, and the KISS link driver over a pty pair and over TCP: the TNC
 * parameters at open, addressing, skipping what is not ours, pacing to the
 * airtime, and a device that goes away and comes back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiss.h"
#include "link.h"
#include "log.h"

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- KISS framing ---- */

static void
test_kiss_escaping(void **state)
{
	static const uint8_t data[] = { 0x01, 0xc0, 0x02, 0xdb, 0xdc, 0xdd };
	static const uint8_t want[] = { 0xc0, 0x00, 0x01, 0xdb, 0xdc, 0x02, 0xdb, 0xdd, 0xdc, 0xdd, 0xc0 };
	/* Port 12, command 0: the type byte itself is a FEND and is escaped too. */
	static const uint8_t want_port12[] = { 0xc0, 0xdb, 0xdc, 0x07, 0xc0 };
	uint8_t out[64];
	size_t used;
	struct kiss_decoder d;

	assert_int_equal(kiss_encode(out, sizeof(out), 0, KISS_DATA, data, sizeof(data)), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(kiss_encode(out, sizeof(out), 12, KISS_DATA, "\x07", 1), sizeof(want_port12));
	assert_memory_equal(out, want_port12, sizeof(want_port12));
	assert_int_equal(kiss_encode(out, 10, 0, KISS_DATA, data, sizeof(data)), -EMSGSIZE);
	assert_int_equal(kiss_encode(out, 2, 0, KISS_DATA, NULL, 0), -EMSGSIZE);

	memset(&d, 0, sizeof(d));
	kiss_decoder_reset(&d);
	assert_true(kiss_decode(&d, want, sizeof(want), &used));
	assert_int_equal(used, sizeof(want));
	assert_int_equal(d.len, 1 + sizeof(data));
	assert_int_equal(d.buf[0], 0x00);
	assert_memory_equal(d.buf + 1, data, sizeof(data));
}

static void
test_kiss_decoder_stream(void **state)
{
	/* Noise before the first FEND, an empty frame, a bad escape, two good frames, one byte at a time. */
	static const uint8_t in[] = { 0x41, 0x42, 0xc0, 0xc0, 0xc0, 0x00, 0x11, 0xdb, 0x55, 0x22, 0xc0,
	    0x00, 0x33, 0xc0, 0xc0, 0x10, 0xdb, 0xdd, 0xc0 };
	struct kiss_decoder d;
	uint8_t frames[4][8];
	size_t lens[4], nf = 0, used;

	memset(&d, 0, sizeof(d));
	for (size_t i = 0; i < sizeof(in); i++) {
		if (kiss_decode(&d, in + i, 1, &used)) {
			assert_int_equal(used, 1);
			assert_true(nf < 4);
			memcpy(frames[nf], d.buf, d.len);
			lens[nf++] = d.len;
		}
	}
	assert_int_equal(nf, 2);
	assert_int_equal(lens[0], 2);
	assert_memory_equal(frames[0], "\x00\x33", 2);
	assert_int_equal(lens[1], 2);
	assert_memory_equal(frames[1], "\x10\xdb", 2);
	assert_int_equal(d.frames, 2);
	assert_int_equal(d.dropped, 1);	/* the bad escape */

	/* The same stream in one call: frames come one per call, *used says where to go on. */
	memset(&d, 0, sizeof(d));
	nf = 0;
	for (size_t off = 0; off < sizeof(in); off += used)
		if (kiss_decode(&d, in + off, sizeof(in) - off, &used))
			nf++;
	assert_int_equal(nf, 2);

	/* A frame longer than the buffer is dropped whole, and the next one still decodes. */
	memset(&d, 0, sizeof(d));
	uint8_t fend = KISS_FEND, big = 0x55, tail[] = { 0xc0, 0x00, 0x77, 0xc0 };

	assert_false(kiss_decode(&d, &fend, 1, &used));
	for (size_t i = 0; i < KISS_FRAME_MAX + 10; i++)
		assert_false(kiss_decode(&d, &big, 1, &used));
	assert_true(kiss_decode(&d, tail, sizeof(tail), &used));
	assert_int_equal(used, 4);
	assert_int_equal(d.len, 2);
	assert_int_equal(d.buf[1], 0x77);
	assert_int_equal(d.dropped, 1);
}

/* ---- AX.25 ---- */

static void
test_ax25_callsigns(void **state)
{
	struct ax25_call c;
	char s[AX25_CALL_TEXT];

	assert_int_equal(ax25_call_parse("n0call-7", &c), 0);
	assert_string_equal(c.call, "N0CALL");
	assert_int_equal(c.ssid, 7);
	ax25_call_format(&c, s, sizeof(s));
	assert_string_equal(s, "N0CALL-7");
	assert_int_equal(ax25_call_parse("QST", &c), 0);
	ax25_call_format(&c, s, sizeof(s));
	assert_string_equal(s, "QST");
	assert_int_equal(ax25_call_parse("DL1ABC-15", &c), 0);
	assert_int_equal(c.ssid, 15);
	assert_int_equal(ax25_call_parse("DL1ABC-16", &c), -EINVAL);
	assert_int_equal(ax25_call_parse("TOOLONG", &c), -EINVAL);
	assert_int_equal(ax25_call_parse("", &c), -EINVAL);
	assert_int_equal(ax25_call_parse("-1", &c), -EINVAL);
	assert_int_equal(ax25_call_parse("AB-", &c), -EINVAL);
	assert_int_equal(ax25_call_parse("AB-07", &c), -EINVAL);
	assert_int_equal(ax25_call_parse("A B", &c), -EINVAL);
	assert_int_equal(ax25_call_parse("AB/P", &c), -EINVAL);
}

static void
test_ax25_ui_frame(void **state)
{
	/* QST <- N0CALL-7, by hand from AX.25 2.2 section 3.12: shifted ASCII, C bit in the
	 * destination, reserved bits set, the extension bit on the source (the last address). */
	static const uint8_t want[] = {
		0xa2, 0xa6, 0xa8, 0x40, 0x40, 0x40, 0xe0,	/* Q S T, padding, C|RR|SSID 0 */
		0x9c, 0x60, 0x86, 0x82, 0x98, 0x98, 0x6f,	/* N 0 C A L L, RR|SSID 7|last */
		0x03, 0xf0, 'h', 'i',
	};
	struct ax25_call dst, src;
	struct ax25_ui ui;
	uint8_t out[64], bad[64];
	char s[AX25_CALL_TEXT];

	ax25_call_parse("QST", &dst);
	ax25_call_parse("N0CALL-7", &src);
	assert_int_equal(ax25_ui_encode(out, sizeof(out), &dst, &src, "hi", 2), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(ax25_ui_encode(out, 17, &dst, &src, "hi", 2), -EMSGSIZE);

	assert_int_equal(ax25_ui_decode(want, sizeof(want), &ui), 0);
	assert_true(ax25_call_equal(&ui.dst, &dst) && ax25_call_equal(&ui.src, &src));
	assert_int_equal(ui.n_digis, 0);
	assert_int_equal(ui.info_len, 2);
	assert_memory_equal(ui.info, "hi", 2);

	/* Through one digipeater (WIDE1-1, already repeated: H bit set). */
	memcpy(bad, want, 14);
	bad[13] &= ~0x01;
	memcpy(bad + 14, "\xae\x92\x88\x8a\x62\x40\xe3", 7);
	memcpy(bad + 21, want + 14, 4);
	assert_int_equal(ax25_ui_decode(bad, 25, &ui), 0);
	assert_int_equal(ui.n_digis, 1);
	ax25_call_format(&ui.src, s, sizeof(s));
	assert_string_equal(s, "N0CALL-7");

	/* The poll bit is fine; other frame types, other PIDs, damage are not. */
	memcpy(bad, want, sizeof(want));
	bad[14] = 0x13;
	assert_int_equal(ax25_ui_decode(bad, sizeof(want), &ui), 0);
	bad[14] = 0x00;		/* an I frame */
	assert_int_equal(ax25_ui_decode(bad, sizeof(want), &ui), -EBADMSG);
	memcpy(bad, want, sizeof(want));
	bad[15] = 0xcc;		/* IP */
	assert_int_equal(ax25_ui_decode(bad, sizeof(want), &ui), -EBADMSG);
	memcpy(bad, want, sizeof(want));
	bad[1] = 'S';		/* not shifted: low bit set */
	assert_int_equal(ax25_ui_decode(bad, sizeof(want), &ui), -EBADMSG);
	memcpy(bad, want, sizeof(want));
	bad[1] = 0x40;		/* a hole in the callsign: "Q T" */
	assert_int_equal(ax25_ui_decode(bad, sizeof(want), &ui), -EBADMSG);
	memcpy(bad, want, sizeof(want));
	bad[2] = '#' << 1;
	assert_int_equal(ax25_ui_decode(bad, sizeof(want), &ui), -EBADMSG);
	memcpy(bad, want, sizeof(want));
	bad[13] &= ~0x01;	/* no end to the address field */
	assert_int_equal(ax25_ui_decode(bad, sizeof(want), &ui), -EBADMSG);
	for (size_t n = 0; n < 16; n++)
		assert_int_equal(ax25_ui_decode(want, n, &ui), -EBADMSG);
	assert_int_equal(ax25_ui_decode(want, 16, &ui), 0);	/* empty info is well-formed */
	assert_int_equal(ui.info_len, 0);
}

/* ---- the driver ---- */

struct pty {
	int master;
	char path[64];
};

static void
pty_open(struct pty *p)
{
	struct termios t;
	int s;

	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	assert_true(p->master >= 0);
	assert_int_equal(grantpt(p->master), 0);
	assert_int_equal(unlockpt(p->master), 0);
	assert_int_equal(ptsname_r(p->master, p->path, sizeof(p->path)), 0);
	/* Raw on the slave before the driver opens it (the driver sets raw too). */
	s = open(p->path, O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	tcgetattr(s, &t);
	cfmakeraw(&t);
	tcsetattr(s, TCSANOW, &t);
	close(s);
}

/* Everything the master end can read within ms. */
static size_t
read_all(int fd, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	ssize_t r;

	while (n < cap && poll(&p, 1, ms) == 1) {
		if ((r = read(fd, buf + n, cap - n)) <= 0)
			break;
		n += (size_t)r;
		ms = 50;
	}
	return n;
}

/* The driver's next frame, waiting at most ms for its fd. */
static ssize_t
recv_wait(struct link_driver *d, struct link_addr *from, void *buf, size_t cap, int ms)
{
	struct pollfd p = { .fd = link_kiss_ops.fd(d), .events = POLLIN };
	uint64_t end = now_ms() + (uint64_t)ms;
	ssize_t n;

	for (;;) {
		if ((n = link_kiss_ops.recv(d, from, buf, cap)) != -EAGAIN)
			return n;
		if (now_ms() >= end || poll(&p, 1, (int)(end - now_ms())) != 1)
			return -EAGAIN;
	}
}

/* Poll the driver (as the link layer does) until up() says want. */
static bool
wait_up(struct link_driver *d, bool want, int ms)
{
	struct link_addr from;
	uint8_t buf[512];

	for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end;) {
		recv_wait(d, &from, buf, sizeof(buf), 50);
		if (link_kiss_ops.up(d) == want)
			return true;
	}
	return false;
}

static void
kiss_conf(struct link_conf *c, const char *device)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->name, "radio");
	c->kind = LINK_KISS;
	c->mtu = 256;
	c->rate_bps = 9600;
	c->kiss = (struct link_kiss_conf){ .baud = 9600, .ax25 = true, .callsign = "N0CALL-1", .dest = "QST",
	    .txdelay_ms = 300, .persist = 63, .slottime_ms = 100 };
	snprintf(c->kiss.device, sizeof(c->kiss.device), "%s", device);
}

/* A KISS data frame as a TNC would hand it over: AX.25 UI from src to dst. */
static size_t
tnc_frame(uint8_t *out, const char *dst, const char *src, const void *info, size_t len)
{
	struct ax25_call d, s;
	uint8_t ax[600];
	ssize_t n;

	assert_int_equal(ax25_call_parse(dst, &d), 0);
	assert_int_equal(ax25_call_parse(src, &s), 0);
	n = ax25_ui_encode(ax, sizeof(ax), &d, &s, info, len);
	assert_true(n > 0);
	return (size_t)kiss_encode(out, 2 * sizeof(ax), 0, KISS_DATA, ax, (size_t)n);
}

static void
test_driver_pty(void **state)
{
	/* TXDELAY 30 (x 10 ms), P 63, SLOTTIME 10 (x 10 ms). */
	static const uint8_t params[] = { 0xc0, 0x01, 30, 0xc0, 0xc0, 0x02, 63, 0xc0, 0xc0, 0x03, 10, 0xc0 };
	const struct link_driver_ops *ops = &link_kiss_ops;
	struct link_conf c;
	struct link_driver *d;
	struct link_addr from, to;
	struct pty p;
	struct ax25_ui ui;
	struct kiss_decoder dec;
	uint8_t buf[2048], in[4096];
	char err[256], s[32];
	size_t n = 0, used;

	pty_open(&p);
	kiss_conf(&c, p.path);
	assert_non_null(d = ops->open(&c, err, sizeof(err)));
	assert_true(ops->up(d));
	assert_int_equal(read_all(p.master, buf, sizeof(buf), 1000), sizeof(params));
	assert_memory_equal(buf, params, sizeof(params));

	/* To everyone: an AX.25 UI frame to QST from us. */
	assert_int_equal(ops->send(d, NULL, "beacon", 6), 0);
	n = read_all(p.master, buf, sizeof(buf), 1000);
	memset(&dec, 0, sizeof(dec));
	assert_true(kiss_decode(&dec, buf, n, &used));
	assert_int_equal(dec.buf[0], KISS_DATA);
	assert_int_equal(ax25_ui_decode(dec.buf + 1, dec.len - 1, &ui), 0);
	ax25_call_format(&ui.dst, s, sizeof(s));
	assert_string_equal(s, "QST");
	ax25_call_format(&ui.src, s, sizeof(s));
	assert_string_equal(s, "N0CALL-1");
	assert_int_equal(ui.info_len, 6);
	assert_memory_equal(ui.info, "beacon", 6);

	/* What the TNC hears: ours, one for another station, garbage, a frame for us with FENDs inside. */
	n = tnc_frame(in, "N0CALL-1", "DL1ABC-2", "hello", 5);
	n += tnc_frame(in + n, "OTHER", "DL1ABC-2", "not ours", 8);
	memcpy(in + n, "\xc0\x00\x01\x02\x03\xc0\xc0\x05\x10\xc0garbage", 17);
	n += 17;
	n += tnc_frame(in + n, "QST", "DL1ABC-2", "\xc0\xdb\xc0", 3);
	assert_int_equal(write(p.master, in, n), (ssize_t)n);
	assert_int_equal(recv_wait(d, &from, buf, sizeof(buf), 1000), 5);
	assert_memory_equal(buf, "hello", 5);
	link_addr_format(&from, s, sizeof(s));
	assert_string_equal(s, "DL1ABC-2");
	to = from;
	assert_int_equal(recv_wait(d, &from, buf, sizeof(buf), 1000), 3);
	assert_memory_equal(buf, "\xc0\xdb\xc0", 3);
	assert_true(link_addr_equal(&from, &to));
	assert_int_equal(recv_wait(d, &from, buf, sizeof(buf), 200), -EAGAIN);

	/* Back to that neighbour: addressed to its callsign.  The frames heard
	 * kept the TNC from sending our beacon, so the reply may be held for a
	 * moment: poll the driver as the link layer does. */
	assert_int_equal(ops->send(d, &to, "reply", 5), 0);
	recv_wait(d, &from, buf, sizeof(buf), 1000);
	n = read_all(p.master, buf, sizeof(buf), 1000);
	kiss_decoder_reset(&dec);
	assert_true(kiss_decode(&dec, buf, n, &used));
	assert_int_equal(ax25_ui_decode(dec.buf + 1, dec.len - 1, &ui), 0);
	ax25_call_format(&ui.dst, s, sizeof(s));
	assert_string_equal(s, "DL1ABC-2");

	/* Too big for the mtu. */
	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(ops->send(d, &to, buf, 257), -EMSGSIZE);
	ops->close(d);
	close(p.master);
}

/* A configured TXtail goes to the TNC after the other parameters. */
static void
test_driver_txtail(void **state)
{
	static const uint8_t params[] = { 0xc0, 0x01, 30, 0xc0, 0xc0, 0x02, 63, 0xc0, 0xc0, 0x03, 10, 0xc0,
	    0xc0, 0x04, 5, 0xc0 };
	const struct link_driver_ops *ops = &link_kiss_ops;
	struct link_conf c;
	struct link_driver *d;
	struct pty p;
	uint8_t buf[256];
	char err[256];

	pty_open(&p);
	kiss_conf(&c, p.path);
	c.kiss.txtail_ms = 50;
	c.kiss.txtail_set = true;
	assert_non_null(d = ops->open(&c, err, sizeof(err)));
	assert_int_equal(read_all(p.master, buf, sizeof(buf), 1000), sizeof(params));
	assert_memory_equal(buf, params, sizeof(params));
	ops->close(d);
	close(p.master);
}

static void
test_driver_pacing(void **state)
{
	const struct link_driver_ops *ops = &link_kiss_ops;
	struct link_conf c;
	struct link_driver *d;
	struct pty p;
	struct link_addr from;
	uint8_t buf[4096], in[8192];
	char err[256];
	uint64_t t0, t1, ready, air;
	size_t n;
	int r, held = 0;

	pty_open(&p);
	kiss_conf(&c, p.path);
	c.rate_bps = 1200;
	c.kiss.txdelay_ms = 100;
	assert_non_null(d = ops->open(&c, err, sizeof(err)));
	read_all(p.master, buf, sizeof(buf), 500);
	memset(buf, 0x11, sizeof(buf));
	t0 = now_ms();
	assert_true(ops->ready_at(d) <= t0);
	/* A full frame goes; the next full one must wait for the first one's airtime. */
	assert_int_equal(ops->send(d, NULL, buf, 256), 0);
	t1 = now_ms();
	assert_int_equal(ops->send(d, NULL, buf, 256), -EAGAIN);
	/* 256 + 16 (AX.25) + 3 (KISS) bytes at 10 bits / 1200 bit/s, plus TXDELAY. */
	air = 100 + (256 + 16 + 3) * 10 * 1000 / 1200;
	ready = ops->ready_at(d);
	assert_true(ready >= t0 + air && ready <= t1 + air + 2);
	/* A small frame (an ack) may still queue behind it, once; the next
	 * ones wait in the driver, in order, until the backlog is one frame. */
	assert_int_equal(ops->send(d, NULL, buf, 40), 0);
	assert_true(ops->ready_at(d) > ready);
	ready = ops->ready_at(d);
	assert_int_equal(ops->send(d, NULL, buf, 40), 0);
	assert_int_equal(ops->send(d, NULL, buf, 41), 0);
	/* A full frame is not due before the held ones are on air too (59 and 60 bytes KISS-encoded). */
	assert_true(ops->ready_at(d) >= ready + 2 * 100 + (59 + 60) * 10 * 1000 / 1200 - 2);
	/* On the line: the full frame and one small one, not the held ones. */
	n = read_all(p.master, in, sizeof(in), 300);
	assert_int_equal(n, 256 + 16 + 3 + 40 + 16 + 3);
	/* Nothing overtakes them, and the room for them is bounded. */
	assert_int_equal(ops->send(d, NULL, buf, 256), -EAGAIN);
	while ((r = ops->send(d, NULL, buf, 40)) == 0)
		held++;
	assert_int_equal(r, -EAGAIN);
	assert_true(held > 5 && held < 40);
	/* Once the backlog is down to one full frame they go, in order. */
	recv_wait(d, &from, in, sizeof(in), (int)(air + 200));
	n = read_all(p.master, in, sizeof(in), 100);
	assert_int_equal(n, (size_t)(held + 2) * (40 + 16 + 3) + 1);
	assert_int_equal(in[40 + 16 + 2], KISS_FEND);	/* the 40-byte one first */
	while (now_ms() < ops->ready_at(d))
		usleep(10 * 1000);
	assert_int_equal(ops->send(d, NULL, buf, 256), 0);
	ops->close(d);
	close(p.master);
}

/*
 * A half-duplex TNC waits while it hears the other station: a frame heard
 * while ours wait in it moves our estimate on by its airtime; frames
 * handed over together count their time once; with nothing of ours
 * waiting, a frame heard changes nothing.
 */
static void
test_driver_channel_heard(void **state)
{
	const struct link_driver_ops *ops = &link_kiss_ops;
	struct link_conf c;
	struct link_driver *d;
	struct link_addr from;
	struct pty p;
	uint8_t buf[4096], in[1024];
	char err[256];
	uint64_t ready, later, heard;
	size_t n;

	pty_open(&p);
	kiss_conf(&c, p.path);
	c.rate_bps = 1200;
	c.kiss.txdelay_ms = 100;
	assert_non_null(d = ops->open(&c, err, sizeof(err)));
	read_all(p.master, buf, sizeof(buf), 500);

	/* Nothing of ours queued: a frame heard does not hold us back. */
	n = tnc_frame(in, "OTHER", "DL1ABC-2", buf, 100);
	assert_int_equal(write(p.master, in, n), (ssize_t)n);
	assert_int_equal(recv_wait(d, &from, buf, sizeof(buf), 300), -EAGAIN);
	assert_true(ops->ready_at(d) <= now_ms());
	/* 100 info + 16 AX.25 + FCS and flag: 100 ms TXDELAY + 120 bytes at 10 bits / 1200 bit/s. */
	heard = 100 + 120 * 10 * 1000 / 1200;
	usleep((useconds_t)heard * 1000);	/* the next one heard cannot overlap that one */

	memset(buf, 0x33, sizeof(buf));
	assert_int_equal(ops->send(d, NULL, buf, 256), 0);
	read_all(p.master, in, sizeof(in), 100);
	ready = ops->ready_at(d);
	n = tnc_frame(in, "OTHER", "DL1ABC-2", buf, 100);
	assert_int_equal(write(p.master, in, n), (ssize_t)n);
	assert_int_equal(recv_wait(d, &from, buf, sizeof(buf), 300), -EAGAIN);
	later = ops->ready_at(d);
	assert_true(later >= ready + heard - 2 && later <= ready + heard + 2);
	/* Two more at once: on air one after the other, so the second adds nothing here. */
	usleep((useconds_t)heard * 1000);
	later = ops->ready_at(d);
	n = tnc_frame(in, "OTHER", "DL1ABC-2", buf, 100);
	n += tnc_frame(in + n, "OTHER", "DL1ABC-2", buf, 100);
	assert_int_equal(write(p.master, in, n), (ssize_t)n);
	assert_int_equal(recv_wait(d, &from, buf, sizeof(buf), 300), -EAGAIN);
	ready = ops->ready_at(d);
	assert_true(ready >= later + heard - 2 && ready <= later + heard + 50);
	ops->close(d);

	/* Full duplex: the TNC sent on while it heard; the estimate stays. */
	c.kiss.full_duplex = true;
	assert_non_null(d = ops->open(&c, err, sizeof(err)));
	read_all(p.master, buf, sizeof(buf), 500);
	memset(buf, 0x33, sizeof(buf));
	assert_int_equal(ops->send(d, NULL, buf, 256), 0);
	read_all(p.master, in, sizeof(in), 100);
	ready = ops->ready_at(d);
	n = tnc_frame(in, "OTHER", "DL1ABC-2", buf, 100);
	assert_int_equal(write(p.master, in, n), (ssize_t)n);
	assert_int_equal(recv_wait(d, &from, buf, sizeof(buf), 300), -EAGAIN);
	assert_int_equal(ops->ready_at(d), ready);
	ops->close(d);
	close(p.master);
}

static void
test_driver_device_not_taking(void **state)
{
	const struct link_driver_ops *ops = &link_kiss_ops;
	struct link_conf c;
	struct link_driver *d;
	struct link_addr from;
	struct pty p;
	uint8_t buf[8192];
	char err[256];
	int i, r = 0;

	pty_open(&p);
	kiss_conf(&c, p.path);
	c.rate_bps = 1000000000000ULL;	/* airtime rounds to 0 us: only the device can stop us */
	c.kiss.txdelay_ms = 0;
	assert_non_null(d = ops->open(&c, err, sizeof(err)));
	memset(buf, 0x22, sizeof(buf));
	/* Nobody reads the other end: sooner or later the device takes only part of a frame. */
	for (i = 0; i < 100000 && (r = ops->send(d, NULL, buf, 256)) == 0; i++)
		;
	assert_int_equal(r, -EAGAIN);
	assert_true(ops->up(d));
	assert_true(ops->ready_at(d) > now_ms());
	assert_int_equal(ops->send(d, NULL, buf, 20), 0);	/* an ack waits in the driver */
	assert_int_equal(ops->send(d, NULL, buf, 256), -EAGAIN);
	/* The other end reads again: the rest of the frame goes, the ack, then the next one. */
	while (read_all(p.master, buf, sizeof(buf), 100) > 0)
		recv_wait(d, &from, buf, sizeof(buf), 10);
	assert_true(ops->ready_at(d) <= now_ms());
	assert_int_equal(ops->send(d, NULL, buf, 256), 0);
	ops->close(d);
	close(p.master);
}

/* A symlink that follows the pty, as the serial emulator keeps it. */
static void
relink(const char *link, const char *target)
{
	char tmp[128];

	snprintf(tmp, sizeof(tmp), "%s.new", link);
	unlink(tmp);
	assert_int_equal(symlink(target, tmp), 0);
	assert_int_equal(rename(tmp, link), 0);
}

static void
test_driver_device_gone_and_back(void **state)
{
	const struct link_driver_ops *ops = &link_kiss_ops;
	struct link_conf c;
	struct link_driver *d;
	struct link_addr from;
	struct pty p;
	uint8_t buf[1024];
	char err[256], link[64];
	size_t n;

	snprintf(link, sizeof(link), "/tmp/test_kiss.%d.tty", (int)getpid());
	unlink(link);
	kiss_conf(&c, link);
	/* Missing at start: not an error, the link is down until it appears. */
	assert_non_null(d = ops->open(&c, err, sizeof(err)));
	assert_false(ops->up(d));
	assert_int_equal(ops->send(d, NULL, "x", 1), -ENETDOWN);
	pty_open(&p);
	relink(link, p.path);
	assert_true(wait_up(d, true, 3000));
	/* Pulled out: the driver notices, and says so. */
	close(p.master);
	unlink(link);
	assert_true(wait_up(d, false, 3000));
	assert_int_equal(ops->send(d, NULL, "x", 1), -ENETDOWN);
	/* Plugged in again (another pty behind the same path): up, and frames flow. */
	pty_open(&p);
	relink(link, p.path);
	assert_true(wait_up(d, true, 5000));
	read_all(p.master, buf, sizeof(buf), 300);	/* the TNC parameters again */
	n = tnc_frame(buf, "QST", "DL1ABC", "again", 5);
	assert_int_equal(write(p.master, buf, n), (ssize_t)n);
	assert_int_equal(recv_wait(d, &from, buf, sizeof(buf), 1000), 5);
	ops->close(d);
	close(p.master);
	unlink(link);
}

static void
test_driver_tcp(void **state)
{
	const struct link_driver_ops *ops = &link_kiss_ops;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct link_conf c;
	struct link_driver *d;
	struct link_addr from;
	uint8_t buf[1024];
	char err[256];
	int ls, cs;
	size_t n;

	/* Refused: down, and it keeps trying. */
	ls = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(ls, (struct sockaddr *)&sin, &sl);
	kiss_conf(&c, "");
	snprintf(c.kiss.tcp, sizeof(c.kiss.tcp), "127.0.0.1:%u", ntohs(sin.sin_port));
	c.kiss.ax25 = false;	/* raw KISS: the frame as it is */
	assert_non_null(d = ops->open(&c, err, sizeof(err)));
	assert_true(wait_up(d, false, 300));
	/* The TNC starts listening: the next try connects. */
	assert_int_equal(listen(ls, 1), 0);
	assert_true(wait_up(d, true, 3000));
	assert_true((cs = accept(ls, NULL, NULL)) >= 0);
	assert_int_equal(read_all(cs, buf, sizeof(buf), 1000), 12);	/* the parameters */
	assert_int_equal(ops->send(d, NULL, "raw", 3), 0);
	assert_int_equal(read_all(cs, buf, sizeof(buf), 1000), 6);
	assert_memory_equal(buf, "\xc0\x00raw\xc0", 6);
	n = (size_t)kiss_encode(buf, sizeof(buf), 0, KISS_DATA, "from tnc", 8);
	assert_int_equal(write(cs, buf, n), (ssize_t)n);
	assert_int_equal(recv_wait(d, &from, buf, sizeof(buf), 1000), 8);
	assert_int_equal(from.len, 0);	/* raw KISS has no addresses */
	/* The TNC goes away. */
	close(cs);
	close(ls);
	assert_true(wait_up(d, false, 3000));
	ops->close(d);
}

static void
test_driver_bad_config(void **state)
{
	const struct link_driver_ops *ops = &link_kiss_ops;
	struct link_conf c;
	char err[256];

	kiss_conf(&c, "/dev/null");
	strcpy(c.kiss.callsign, "NOT A CALL");
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "not an AX.25 callsign"));
	kiss_conf(&c, "/dev/null");
	c.kiss.baud = 12345;
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "not a serial speed"));
	kiss_conf(&c, "");
	strcpy(c.kiss.tcp, "tnc.example:8001");
	assert_null(ops->open(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "numeric"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kiss_escaping),
		cmocka_unit_test(test_kiss_decoder_stream),
		cmocka_unit_test(test_ax25_callsigns),
		cmocka_unit_test(test_ax25_ui_frame),
		cmocka_unit_test(test_driver_pty),
		cmocka_unit_test(test_driver_txtail),
		cmocka_unit_test(test_driver_pacing),
		cmocka_unit_test(test_driver_channel_heard),
		cmocka_unit_test(test_driver_device_not_taking),
		cmocka_unit_test(test_driver_device_gone_and_back),
		cmocka_unit_test(test_driver_tcp),
		cmocka_unit_test(test_driver_bad_config),
	};

	log_setlevel(LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
