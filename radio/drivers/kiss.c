/*
 * kiss.c - the KISS TNC link driver: narrowband radio through a TNC on a
 * serial device, a pty, or a TCP KISS port (Direwolf); codecs in kiss.h.
 *
 * The radio is a broadcast medium: every frame reaches every station in
 * range.  With AX.25 (the default, and what amateur use and Direwolf
 * need) each frame carries the destination callsign: a neighbour's for
 * frames to it, `dest` ("QST") for frames to everyone; frames for other
 * stations are not ours and are skipped.  Raw KISS has no addresses, so
 * it serves two nodes only.
 *
 * Pacing: KISS has no flow control and the TNC keeps its own queue, so a
 * driver writing as fast as the serial line takes bytes would build a
 * queue in the TNC that urgent traffic cannot overtake.  We keep an
 * estimate of when the TNC will have sent everything we gave it (TXDELAY
 * plus 10 bits a byte at the link's rate: a serial byte with start and
 * stop bit; on HDLC air, 8 bits plus stuffing, flags and FCS stay below
 * that) and take a full-size frame only when that time has come, so at
 * most the frame on air is ahead of the next one.  Small frames (acks,
 * beacons) may queue behind one full frame; while more than that is
 * ahead, the driver holds them (a few, in order) and writes them when the
 * backlog is down to one frame: refused, an ack costs the peer a
 * retransmission of what it acknowledged.
 *
 * A half-duplex TNC does not key up while it hears the other station, so
 * what we gave it waits that long: frames heard move the estimate on.
 *
 * The device may vanish (USB unplugged, Direwolf restarted): the link
 * goes down, and we reopen it with backoff until it is back.  The fd the
 * link layer polls is an epoll of our own holding the device, the retry
 * timer and a wake-up eventfd, so it stays the same across reopens.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "kiss.h"
#include "link.h"
#include "log.h"

/* ---- KISS framing ---- */

ssize_t
kiss_encode(uint8_t *out, size_t cap, unsigned port, unsigned cmd, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t type = (uint8_t)((port & 0x0f) << 4 | (cmd & 0x0f));
	size_t n = 0;

	if (cap < 3)
		return -EMSGSIZE;
	out[n++] = KISS_FEND;
	for (size_t i = 0; i <= len; i++) {
		uint8_t b = i == 0 ? type : p[i - 1];

		if (n + 3 > cap)
			return -EMSGSIZE;
		if (b == KISS_FEND) {
			out[n++] = KISS_FESC;
			out[n++] = KISS_TFEND;
		} else if (b == KISS_FESC) {
			out[n++] = KISS_FESC;
			out[n++] = KISS_TFESC;
		} else {
			out[n++] = b;
		}
	}
	out[n++] = KISS_FEND;
	return (ssize_t)n;
}

void
kiss_decoder_reset(struct kiss_decoder *d)
{
	d->len = 0;
	d->complete = false;
	d->synced = false;
	d->esc = false;
	d->bad = false;
}

bool
kiss_decode(struct kiss_decoder *d, const uint8_t *in, size_t n, size_t *used)
{
	if (d->complete) {
		d->complete = false;
		d->len = 0;	/* the frame handed out last time */
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t b = in[i];

		if (b == KISS_FEND) {
			bool done = d->synced && d->len > 0 && !d->bad && !d->esc;

			if (d->synced && !done && (d->len > 0 || d->bad || d->esc))
				d->dropped++;
			d->synced = true;
			d->esc = false;
			d->bad = false;
			if (done) {
				d->frames++;
				d->complete = true;
				*used = i + 1;
				return true;
			}
			d->len = 0;
			continue;
		}
		if (!d->synced)
			continue;	/* noise before the first FEND, or we joined mid-frame */
		if (d->esc) {
			d->esc = false;
			if (b == KISS_TFEND)
				b = KISS_FEND;
			else if (b == KISS_TFESC)
				b = KISS_FESC;
			else
				d->bad = true;	/* a FESC must be followed by TFEND or TFESC */
		} else if (b == KISS_FESC) {
			d->esc = true;
			continue;
		}
		if (d->bad)
			continue;
		if (d->len == sizeof(d->buf)) {
			d->bad = true;
			continue;
		}
		d->buf[d->len++] = b;
	}
	*used = n;
	return false;
}

/* ---- AX.25 ---- */

static void
addr_put(uint8_t *p, const struct ax25_call *c, bool cbit, bool last)
{
	size_t n = strlen(c->call);

	for (size_t i = 0; i < 6; i++)
		p[i] = (uint8_t)((i < n ? (uint8_t)c->call[i] : ' ') << 1);
	p[6] = (uint8_t)((cbit ? 0x80 : 0) | 0x60 | (c->ssid & 0x0f) << 1 | (last ? 0x01 : 0));
}

/* One 7-byte address; false if a character is not A-Z 0-9 or the padding has a hole. */
static bool
addr_get(const uint8_t *p, struct ax25_call *c)
{
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < 6; i++) {
		uint8_t ch = p[i] >> 1;

		if (p[i] & 0x01)
			return false;	/* the extension bit belongs in the SSID byte only */
		if (ch == ' ') {
			continue;
		} else if ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) {
			if (n != i)
				return false;	/* a character after padding */
			c->call[n++] = (char)ch;
		} else {
			return false;
		}
	}
	c->ssid = (p[6] >> 1) & 0x0f;
	return n > 0;
}

ssize_t
ax25_ui_encode(uint8_t *out, size_t cap, const struct ax25_call *dst, const struct ax25_call *src,
    const void *info, size_t len)
{
	if (cap < AX25_UI_HDR || len > cap - AX25_UI_HDR)
		return -EMSGSIZE;
	addr_put(out, dst, true, false);
	addr_put(out + AX25_ADDR_LEN, src, false, true);
	out[2 * AX25_ADDR_LEN] = AX25_CTL_UI;
	out[2 * AX25_ADDR_LEN + 1] = AX25_PID_NONE;
	if (len)
		memcpy(out + AX25_UI_HDR, info, len);
	return (ssize_t)(AX25_UI_HDR + len);
}

int
ax25_ui_decode(const uint8_t *f, size_t len, struct ax25_ui *ui)
{
	struct ax25_call digi;
	size_t off = 0;
	unsigned n = 0;
	bool last = false;

	memset(ui, 0, sizeof(*ui));
	/* Addresses until the extension bit: destination, source, digipeaters. */
	while (!last) {
		if (n == 2 + AX25_MAX_DIGIS || len - off < AX25_ADDR_LEN)
			return -EBADMSG;
		if (!addr_get(f + off, n == 0 ? &ui->dst : n == 1 ? &ui->src : &digi))
			return -EBADMSG;
		last = f[off + AX25_ADDR_LEN - 1] & 0x01;
		off += AX25_ADDR_LEN;
		n++;
	}
	if (n < 2 || len - off < 2)
		return -EBADMSG;
	/* UI, with or without the poll bit; no layer 3. */
	if ((f[off] & ~0x10) != AX25_CTL_UI || f[off + 1] != AX25_PID_NONE)
		return -EBADMSG;
	off += 2;
	ui->n_digis = n - 2;
	ui->info = f + off;
	ui->info_len = len - off;
	return 0;
}

unsigned
kiss_speed(uint32_t baud)
{
	static const struct { uint32_t baud; speed_t speed; } t[] = {
		{ 1200, B1200 }, { 2400, B2400 }, { 4800, B4800 }, { 9600, B9600 }, { 19200, B19200 },
		{ 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 }, { 230400, B230400 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].baud == baud)
			return t[i].speed;
	return 0;
}

/* ---- the driver ---- */

#define KISS_BITS_PER_BYTE	10
#define KISS_SMALL_FRAME	96	/* link frames this short may wait behind one full frame */
#define KISS_RETRY_MIN_MS	500
#define KISS_RETRY_MAX_MS	10000
#define KISS_STABLE_MS		10000	/* up this long: the next loss starts the backoff over */
#define KISS_TCP_PORT		8001	/* Direwolf's default KISS port */
#define KISS_INFO_MAX		65536	/* largest link frame (the config caps mtu lower) */
#define KISS_HDLC_EXTRA		4	/* FCS and a closing flag a frame heard had on air */
#define KISS_HELD_MAX		1024	/* small frames waiting in the driver, KISS-encoded */

enum dev_state { DEV_CLOSED, DEV_CONNECTING, DEV_OPEN };
enum { TAG_DEV = 1, TAG_TIMER, TAG_WAKE };

struct link_driver {
	char name[32];
	struct link_kiss_conf k;
	uint32_t mtu;
	uint64_t rate_bps;
	struct ax25_call me, everyone;
	struct link_addr tcp;
	char where[128];		/* the device or the TCP address, for messages */
	int ep, dev, timer, wake;
	enum dev_state state;
	unsigned retry_ms;
	uint64_t opened_at;		/* ms */
	char last_error[160];		/* the open error we logged: say it again only when it changes */
	uint64_t busy_until;		/* us: when the TNC will have sent what we gave it */
	uint64_t heard_until;		/* us: the end of the last frame heard on the channel */
	uint8_t rbuf[1024];
	size_t rpos, rlen;
	struct kiss_decoder dec;
	uint8_t ax[AX25_UI_HDR + KISS_INFO_MAX];	/* the frame being sent, before KISS */
	uint8_t out[KISS_ENCODED_MAX(AX25_UI_HDR + KISS_INFO_MAX)];
	size_t out_off, out_len;	/* bytes of the last frame the device has not taken yet */
	uint8_t held[KISS_HELD_MAX];	/* small frames waiting for the backlog to shrink */
	size_t held_len;
	uint64_t held_airtime;		/* us, their airtime once written */
	uint64_t garbled;		/* dec.dropped already logged */
	struct log_ratelimit rl;
};

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* How long the TNC is busy with n bytes we give it. */
static uint64_t
airtime_us(const struct link_driver *d, size_t n)
{
	return (uint64_t)(d->k.txdelay_ms + d->k.txtail_ms) * 1000 +
	    (uint64_t)n * KISS_BITS_PER_BYTE * 1000000 / d->rate_bps;
}

/* Make the link layer's fd readable, so it calls recv() and asks up(). */
static void
wake(struct link_driver *d)
{
	uint64_t one = 1;

	if (write(d->wake, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_limited(&d->rl, "link %s: eventfd: %s", d->name, strerror(errno));
}

static void
arm_retry(struct link_driver *d)
{
	struct itimerspec its = { .it_value = { .tv_sec = d->retry_ms / 1000,
	    .tv_nsec = (long)(d->retry_ms % 1000) * 1000000 } };

	timerfd_settime(d->timer, 0, &its, NULL);
	d->retry_ms = d->retry_ms * 2 > KISS_RETRY_MAX_MS ? KISS_RETRY_MAX_MS : d->retry_ms * 2;
}

static void
dev_close(struct link_driver *d)
{
	if (d->dev >= 0) {
		epoll_ctl(d->ep, EPOLL_CTL_DEL, d->dev, NULL);
		/* Closing a tty waits (up to 30 s) until its output drained: drop it, never block. */
		if (d->k.device[0])
			tcflush(d->dev, TCIOFLUSH);
		close(d->dev);
	}
	d->dev = -1;
	d->state = DEV_CLOSED;
	d->out_len = d->out_off = 0;
	d->rpos = d->rlen = 0;
	d->busy_until = 0;
	d->held_len = 0;
	d->held_airtime = 0;
	kiss_decoder_reset(&d->dec);
}

/* Opening failed: say why (once per distinct reason) and try again later. */
static void
open_failed(struct link_driver *d, const char *why)
{
	if (strcmp(why, d->last_error) != 0) {
		log_warnx("link %s: KISS TNC %s: %s; trying again every %u s at most", d->name, d->where, why,
		    KISS_RETRY_MAX_MS / 1000);
		snprintf(d->last_error, sizeof(d->last_error), "%s", why);
	} else {
		log_debug("link %s: KISS TNC %s: %s", d->name, d->where, why);
	}
	dev_close(d);
	arm_retry(d);
}

/* The TNC was there and went away. */
static void
dev_lost(struct link_driver *d, const char *why)
{
	log_warnx("link %s: KISS TNC %s lost: %s; reopening", d->name, d->where, why);
	snprintf(d->last_error, sizeof(d->last_error), "%s", why);
	if (d->opened_at + KISS_STABLE_MS <= mono_us() / 1000)
		d->retry_ms = KISS_RETRY_MIN_MS;
	dev_close(d);
	arm_retry(d);
	wake(d);
}

static int
dev_watch(struct link_driver *d, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = TAG_DEV };

	return epoll_ctl(d->ep, EPOLL_CTL_MOD, d->dev, &ev);
}

/* The device is usable: tell the TNC its channel-access parameters. */
static void
dev_ready(struct link_driver *d)
{
	const uint8_t p[4][2] = { { KISS_TXDELAY, (uint8_t)(d->k.txdelay_ms / 10) },
	    { KISS_PERSIST, d->k.persist }, { KISS_SLOTTIME, (uint8_t)(d->k.slottime_ms / 10) },
	    { KISS_TXTAIL, (uint8_t)(d->k.txtail_ms / 10) } };
	uint8_t buf[4 * 8];
	size_t n = 0;
	ssize_t w;

	/* TXtail only when configured: many TNCs ignore it, Direwolf takes it. */
	for (int i = 0; i < (d->k.txtail_set ? 4 : 3); i++)
		n += (size_t)kiss_encode(buf + n, sizeof(buf) - n, 0, p[i][0], &p[i][1], 1);
	d->state = DEV_OPEN;
	d->opened_at = mono_us() / 1000;
	if ((w = write(d->dev, buf, n)) != (ssize_t)n) {
		dev_lost(d, w < 0 ? strerror(errno) : "it did not take its parameters");
		return;
	}
	log_info("link %s: KISS TNC %s ready (TXDELAY %u ms, P %u, SLOTTIME %u ms, TXtail %s)", d->name, d->where,
	    d->k.txdelay_ms, d->k.persist, d->k.slottime_ms, d->k.txtail_set ? "set" : "the TNC's own");
	d->last_error[0] = '\0';
	wake(d);
}

static int
open_serial(struct link_driver *d, char *why, size_t cap)
{
	struct termios t;
	speed_t sp = (speed_t)kiss_speed(d->k.baud);

	if ((d->dev = open(d->k.device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		snprintf(why, cap, "%s", strerror(errno));
		return -1;
	}
	if (!isatty(d->dev)) {
		snprintf(why, cap, "not a serial device");
		return -1;
	}
	/* Raw 8N1, no flow control, no modem lines: the TNC's bytes as they are. */
	if (tcgetattr(d->dev, &t) < 0) {
		snprintf(why, cap, "tcgetattr: %s", strerror(errno));
		return -1;
	}
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(tcflag_t)CRTSCTS;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, sp) < 0 || cfsetospeed(&t, sp) < 0 || tcsetattr(d->dev, TCSANOW, &t) < 0) {
		snprintf(why, cap, "cannot set %u baud raw mode: %s", d->k.baud, strerror(errno));
		return -1;
	}
	tcflush(d->dev, TCIOFLUSH);	/* whatever waited from before is stale */
	return 0;
}

static int
open_tcp(struct link_driver *d, char *why, size_t cap)
{
	int one = 1;

	if ((d->dev = socket(d->tcp.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(why, cap, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(d->dev, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(d->dev, (struct sockaddr *)&d->tcp.sa, d->tcp.len) == 0)
		return 0;
	if (errno == EINPROGRESS) {
		d->state = DEV_CONNECTING;
		return 0;
	}
	snprintf(why, cap, "connect: %s", strerror(errno));
	return -1;
}

/* Try the device (or start connecting); on failure arm the retry timer. */
static void
dev_open(struct link_driver *d)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_DEV };
	char why[128];
	int r;

	dev_close(d);
	r = d->k.device[0] ? open_serial(d, why, sizeof(why)) : open_tcp(d, why, sizeof(why));
	if (r < 0) {
		open_failed(d, why);
		return;
	}
	if (d->state == DEV_CONNECTING)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(d->ep, EPOLL_CTL_ADD, d->dev, &ev) < 0) {
		snprintf(why, sizeof(why), "epoll: %s", strerror(errno));
		open_failed(d, why);
		return;
	}
	if (d->state != DEV_CONNECTING)
		dev_ready(d);
}

static void
connect_done(struct link_driver *d)
{
	int err = 0;
	socklen_t sl = sizeof(err);
	char why[128];

	if (getsockopt(d->dev, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	if (err) {
		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		open_failed(d, why);
		return;
	}
	dev_watch(d, EPOLLIN);
	dev_ready(d);
}

static void held_flush(struct link_driver *d);

/* Give the device what it did not take of the last frame. */
static void
flush_out(struct link_driver *d)
{
	ssize_t w;

	while (d->out_off < d->out_len) {
		w = write(d->dev, d->out + d->out_off, d->out_len - d->out_off);
		if (w < 0 && errno == EAGAIN)
			return;
		if (w <= 0) {
			dev_lost(d, w < 0 ? strerror(errno) : "write returned 0");
			return;
		}
		d->out_off += (size_t)w;
	}
	d->out_off = d->out_len = 0;
	dev_watch(d, EPOLLIN);
	held_flush(d);
}

/* The backlog a small frame may wait behind: one full frame. */
static uint64_t
small_limit(const struct link_driver *d)
{
	return airtime_us(d, AX25_UI_HDR + d->mtu + 3);
}

/* Write n encoded bytes of airtime us; what the device does not take waits in out. */
static void
dev_write(struct link_driver *d, const uint8_t *buf, size_t n, uint64_t us)
{
	uint64_t now = mono_us();
	ssize_t w;

	if (buf != d->out)
		memcpy(d->out, buf, n);
	w = write(d->dev, d->out, n);
	if (w < 0 && errno != EAGAIN) {
		dev_lost(d, strerror(errno));
		return;
	}
	if (w < 0)
		w = 0;
	if ((size_t)w < n) {
		/* The rest goes when the device takes it; nothing else goes before. */
		d->out_off = (size_t)w;
		d->out_len = n;
		dev_watch(d, EPOLLIN | EPOLLOUT);
	}
	d->busy_until = (d->busy_until > now ? d->busy_until : now) + us;
}

/*
 * Write the held small frames if the backlog allows, else set the timer
 * for when it will (by our estimate; frames heard may push it on again).
 */
static void
held_flush(struct link_driver *d)
{
	uint64_t now = mono_us(), backlog, limit = small_limit(d);
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	if (d->held_len == 0 || d->out_len)
		return;		/* flush_out() calls again when the device has taken the rest */
	backlog = d->busy_until > now ? d->busy_until - now : 0;
	if (backlog > limit) {
		uint64_t wait = backlog - limit + 1000;

		its.it_value.tv_sec = (time_t)(wait / 1000000);
		its.it_value.tv_nsec = (long)(wait % 1000000) * 1000;
		timerfd_settime(d->timer, 0, &its, NULL);
		return;
	}
	dev_write(d, d->held, d->held_len, d->held_airtime);
	d->held_len = 0;
	d->held_airtime = 0;
}

/* What woke the link layer's fd: the retry timer, the device's state. */
static void
service(struct link_driver *d)
{
	struct epoll_event evs[4];
	uint64_t v;
	int n = epoll_wait(d->ep, evs, 4, 0);

	for (int i = 0; i < n; i++) {
		switch (evs[i].data.u64) {
		case TAG_TIMER:
			if (read(d->timer, &v, sizeof(v)) <= 0)
				break;
			if (d->state == DEV_CLOSED)
				dev_open(d);
			else if (d->state == DEV_OPEN)
				held_flush(d);
			break;
		case TAG_WAKE:
			if (read(d->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_limited(&d->rl, "link %s: eventfd: %s", d->name, strerror(errno));
			break;
		case TAG_DEV:
			if (d->state == DEV_CONNECTING)
				connect_done(d);
			else if (d->state == DEV_OPEN && (evs[i].events & EPOLLOUT))
				flush_out(d);
			/* Hang-ups and errors show up as a failing read below. */
			break;
		}
	}
}

/*
 * The TNC heard a frame of n bytes on the channel, ending about now.  A
 * half-duplex TNC does not key up while it hears a carrier, so whatever we
 * had queued in it waited that long: move our estimate on by the part of
 * the frame that overlapped our backlog.  Without this, each side's queue
 * grows while the other one talks, and is then sent as one long
 * transmission that again holds the other side's queue back.
 */
static void
channel_heard(struct link_driver *d, size_t n)
{
	uint64_t now = mono_us(), on_air = airtime_us(d, n), start = now > on_air ? now - on_air : 0;

	if (d->k.full_duplex)
		return;		/* it did not wait for the frame */
	/* Frames handed over together were on air one after the other: count that time once. */
	if (start < d->heard_until)
		start = d->heard_until;
	d->heard_until = now;
	if (d->busy_until > start && now > start)
		d->busy_until += d->busy_until < now ? d->busy_until - start : now - start;
}

/* A decoded KISS frame: our data, or something to skip (0). */
static ssize_t
take_frame(struct link_driver *d, struct link_addr *from, void *buf, size_t cap)
{
	const uint8_t *f = d->dec.buf;
	struct ax25_ui ui;

	if (f[0] != KISS_DATA)
		return 0;	/* another port, or a command echoed back: not ours */
	channel_heard(d, d->dec.len - 1 + KISS_HDLC_EXTRA);
	if (!d->k.ax25) {
		memset(from, 0, sizeof(*from));
		if (d->dec.len - 1 > cap)
			return -EMSGSIZE;
		memcpy(buf, f + 1, d->dec.len - 1);
		return (ssize_t)(d->dec.len - 1);
	}
	if (ax25_ui_decode(f + 1, d->dec.len - 1, &ui) < 0) {
		log_limited(&d->rl, "link %s: skipped a KISS frame that is not an AX.25 UI frame (%zu bytes)",
		    d->name, d->dec.len - 1);
		return 0;
	}
	if (!ax25_call_equal(&ui.dst, &d->me) && !ax25_call_equal(&ui.dst, &d->everyone))
		return 0;	/* for another station on the channel */
	if (ui.info_len == 0)
		return 0;
	if (ui.info_len > cap)
		return -EMSGSIZE;
	link_addr_ax25(from, &ui.src);
	memcpy(buf, ui.info, ui.info_len);
	return (ssize_t)ui.info_len;
}

static ssize_t
kiss_recv(struct link_driver *d, struct link_addr *from, void *buf, size_t cap)
{
	ssize_t n;
	size_t used;

	service(d);
	for (;;) {
		while (d->rpos < d->rlen) {
			bool got = kiss_decode(&d->dec, d->rbuf + d->rpos, d->rlen - d->rpos, &used);

			d->rpos += used;
			if (d->dec.dropped != d->garbled) {
				d->garbled = d->dec.dropped;
				log_limited(&d->rl, "link %s: skipped a garbled KISS frame (bad escape or too long)",
				    d->name);
			}
			if (got && (n = take_frame(d, from, buf, cap)) != 0) {
				if (d->rpos < d->rlen)
					wake(d);	/* more frames wait in rbuf: come back */
				return n;
			}
		}
		if (d->state != DEV_OPEN)
			return -EAGAIN;
		n = read(d->dev, d->rbuf, sizeof(d->rbuf));
		if (n > 0) {
			d->rpos = 0;
			d->rlen = (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return -EAGAIN;
		dev_lost(d, n == 0 ? "closed by the other end" : strerror(errno));
		return -EAGAIN;
	}
}

/*
 * A full frame goes only when the TNC has sent everything before it (by our
 * estimate), a small one when at most one full frame is ahead of it; a
 * small one that cannot go yet is held (see the head comment).  What the
 * device does not take at once waits here, and nothing goes after it
 * until it has.
 */
static int
kiss_send(struct link_driver *d, const struct link_addr *to, const void *frame, size_t len)
{
	const struct ax25_sockaddr *s = to ? (const struct ax25_sockaddr *)&to->sa : NULL;
	const void *data = frame;
	uint64_t now = mono_us(), backlog, limit;
	bool small = len <= KISS_SMALL_FRAME;
	ssize_t n;

	if (d->state != DEV_OPEN)
		return -ENETDOWN;
	if (len > d->mtu || len > KISS_INFO_MAX)
		return -EMSGSIZE;
	held_flush(d);
	if ((d->out_len || d->held_len) && !small)
		return -EAGAIN;	/* the device has not taken the last frame yet, or small ones wait */
	backlog = d->busy_until > now ? d->busy_until - now : 0;
	limit = small ? small_limit(d) : 0;
	if (backlog > limit && !small)
		return -EAGAIN;
	if (d->k.ax25) {
		const struct ax25_call *dst = &d->everyone;

		if (s && to->len == sizeof(*s) && s->family == AF_AX25)
			dst = &s->call;
		if ((n = ax25_ui_encode(d->ax, sizeof(d->ax), dst, &d->me, frame, len)) < 0)
			return (int)n;
		data = d->ax;
		len = (size_t)n;
	}
	if (small && (d->out_len || d->held_len || backlog > limit)) {
		/* Behind more than one frame: wait here, in order, while there is room. */
		n = kiss_encode(d->held + d->held_len, sizeof(d->held) - d->held_len, 0, KISS_DATA, data, len);
		if (n < 0)
			return -EAGAIN;
		d->held_len += (size_t)n;
		d->held_airtime += airtime_us(d, (size_t)n);
		held_flush(d);
		return 0;
	}
	if ((n = kiss_encode(d->out, sizeof(d->out), 0, KISS_DATA, data, len)) < 0)
		return (int)n;
	dev_write(d, d->out, (size_t)n, airtime_us(d, (size_t)n));
	return d->state == DEV_OPEN ? 0 : -ENETDOWN;
}

static uint64_t
kiss_ready_at(const struct link_driver *d)
{
	uint64_t now = mono_us(), t = d->busy_until > now ? d->busy_until : now;

	if (d->state != DEV_OPEN || d->out_len)
		return now / 1000 + 100;	/* ask again soon; the link is told when the device returns */
	/* Small frames held go first: a full frame offered before they are on air would be refused,
	 * and what the link took from its session for it would wait out a timeout. */
	t += d->held_airtime;
	/* Rounded so that loop_now() (whole ms) reaching it means the time has come. */
	return t > now ? (t + 999) / 1000 : now / 1000;
}

static bool
kiss_up(const struct link_driver *d)
{
	return d->state == DEV_OPEN;
}

static int
kiss_fd(const struct link_driver *d)
{
	return d->ep;
}

static void
kiss_close(struct link_driver *d)
{
	if (d == NULL)
		return;
	dev_close(d);
	if (d->timer >= 0)
		close(d->timer);
	if (d->wake >= 0)
		close(d->wake);
	if (d->ep >= 0)
		close(d->ep);
	free(d);
}

/* Callsigns and addresses from the config; false with a message. */
static bool
kiss_setup(struct link_driver *d, const struct link_conf *c, char *err, size_t errlen)
{
	if (c->rate_bps == 0) {
		snprintf(err, errlen, "link %s: a KISS link needs its rate (bit/s on air)", c->name);
		return false;
	}
	if (c->kiss.ax25 && ax25_call_parse(c->kiss.callsign, &d->me) < 0) {
		snprintf(err, errlen, "link %s: callsign '%s' is not an AX.25 callsign (e.g. N0CALL-7)", c->name,
		    c->kiss.callsign);
		return false;
	}
	if (c->kiss.ax25 && ax25_call_parse(c->kiss.dest[0] ? c->kiss.dest : "QST", &d->everyone) < 0) {
		snprintf(err, errlen, "link %s: dest '%s' is not an AX.25 callsign", c->name, c->kiss.dest);
		return false;
	}
	if (c->kiss.device[0]) {
		if (kiss_speed(c->kiss.baud) == 0) {
			snprintf(err, errlen, "link %s: %u baud is not a serial speed this driver sets", c->name,
			    c->kiss.baud);
			return false;
		}
		snprintf(d->where, sizeof(d->where), "%s", c->kiss.device);
	} else if (link_addr_parse(&d->tcp, c->kiss.tcp, KISS_TCP_PORT) == 0) {
		link_addr_format(&d->tcp, d->where, sizeof(d->where));
	} else {
		snprintf(err, errlen, "link %s: needs a device, or tcp as a numeric addr[:port] (not '%s')", c->name,
		    c->kiss.tcp);
		return false;
	}
	return true;
}

static struct link_driver *
kiss_open(const struct link_conf *c, char *err, size_t errlen)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct link_driver *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->ep = d->dev = d->timer = d->wake = -1;
	snprintf(d->name, sizeof(d->name), "%s", c->name);
	d->k = c->kiss;
	d->mtu = c->mtu;
	d->rate_bps = c->rate_bps;
	d->retry_ms = KISS_RETRY_MIN_MS;
	if (!kiss_setup(d, c, err, errlen))
		goto fail;
	if ((d->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (d->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    (d->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "link %s: %s", c->name, strerror(errno));
		goto fail;
	}
	ev.data.u64 = TAG_TIMER;
	if (epoll_ctl(d->ep, EPOLL_CTL_ADD, d->timer, &ev) < 0)
		goto fail_epoll;
	ev.data.u64 = TAG_WAKE;
	if (epoll_ctl(d->ep, EPOLL_CTL_ADD, d->wake, &ev) < 0)
		goto fail_epoll;
	/* A TNC missing at start is not fatal: the link is down until it appears. */
	dev_open(d);
	return d;
fail_epoll:
	snprintf(err, errlen, "link %s: epoll: %s", c->name, strerror(errno));
fail:
	kiss_close(d);
	return NULL;
}

const struct link_driver_ops link_kiss_ops = {
	.kind = "kiss",
	.open = kiss_open,
	.fd = kiss_fd,
	.send = kiss_send,
	.recv = kiss_recv,
	.close = kiss_close,
	.ready_at = kiss_ready_at,
	.up = kiss_up,
};
