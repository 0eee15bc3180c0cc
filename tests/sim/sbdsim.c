/*
 * sbdsim.c - an Iridium 9602/9603 SBD modem on a pty, and the Iridium
 * gateway behind it speaking DirectIP to a command center.
 *
 * The modem side answers the AT command set the way the "ISU AT Command
 * Reference" describes (verbose result codes, echo on after power-up,
 * AT+SBDWB with READY and a checksum, AT+SBDIX status fields, AT+SBDRB
 * blocks, AT+SBDD, AT+CSQ, ring alerts with AT+SBDMTA=1), and like the real
 * modem it keeps the MO buffer after a session: a driver that checks the
 * mailbox without clearing it sends the old message again.
 *
 * A session takes --session-delay seconds (times --time-factor, so tests
 * run 10-20 s sessions in a fraction of a second), fails with MO status 32
 * without signal, with the codes queued by "fail" or drawn by --fail-rate,
 * and otherwise succeeds: the MO message goes to the gateway and the next
 * queued MT message comes back.  The gateway delivers each MO message to
 * --mo HOST:PORT over TCP (one DirectIP message per connection, retried
 * after --mo-retry while the command center is unreachable; --dup-mo
 * delivers each one twice, as a gateway unsure of a delivery does), and
 * takes MT messages on the DirectIP port --mt-port, answering each with a
 * confirmation and ringing the modem.
 *
 * See usage() for the options and the control commands.  One thread, one
 * epoll loop, a timerfd armed to the earliest deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "directip.h"

#define NSEC		((int64_t)1000000000)
#define MO_MAX		340
#define MT_MAX		270
#define MT_QUEUE_MAX	50	/* the gateway's limit per IMEI */
#define CMD_MAX		128
#define OUT_MAX		(64 * 1024)
#define MAX_CLIENTS	8
#define MAX_MT_CONNS	8
#define MAX_FAILS	256
#define MAX_SCRIPT	256
#define LINE_MAX_LEN	600

enum { EV_PTY = 1, EV_TIMER, EV_SIGNAL, EV_LISTEN, EV_CLIENT, EV_MT_LISTEN, EV_MT_CONN, EV_MO_CONN };
#define EV(kind, idx)	(((uint64_t)(kind) << 32) | (uint32_t)(idx))

struct blob {
	size_t len;
	uint8_t *data;
};

struct mt_msg {
	uint16_t mtmsn;
	size_t len;
	uint8_t data[MT_MAX];
};

struct mo_msg {			/* a DirectIP message waiting for the command center */
	struct mo_msg *next;
	uint16_t momsn;
	unsigned copies;	/* deliveries still to make (2 with --dup-mo) */
	size_t len;
	uint8_t data[];
};

struct client {
	int fd;
	size_t len;
	char buf[LINE_MAX_LEN];
};

struct mt_conn {
	int fd;
	size_t len;
	uint8_t buf[DIRECTIP_MSG_MAX];
	int64_t deadline;
};

struct script_line {
	int64_t at;
	char cmd[LINE_MAX_LEN];
};

enum modem_mode { MODEM_CMD, MODEM_DATA, MODEM_SESSION };

static struct sim {
	int ep, tfd, sfd;
	int64_t t0;
	double factor;
	uint64_t rng;
	int verbose;
	bool quit;
	FILE *events;

	/* the pty */
	int master, slave;
	char pts[64];
	const char *link_path;
	bool plugged;
	uint8_t out[OUT_MAX];
	size_t out_len;
	bool pollout;

	/* the modem */
	char imei[16];
	char model[64];
	enum modem_mode mode;
	char cmd[CMD_MAX + 1];
	size_t cmd_len;
	bool cmd_overflow;
	bool echo, ring_alerts, muted, errors;
	bool refuse_csq, refuse_cier;	/* ERROR to AT+CSQ(F) / AT+CIER, as some firmware does */
	unsigned cier_mode;		/* AT+CIER: 1 = +CIEV events on */
	bool cier_sig, cier_svc;
	unsigned ciev_signal, ciev_service;	/* what the last events said */
	bool ciev_due;			/* a change while the port was busy: report it after */
	unsigned signal;
	uint8_t mo_buf[MO_MAX];
	size_t mo_len;
	uint8_t mt_buf[MT_MAX];
	size_t mt_len;
	uint16_t momsn, next_mtmsn;
	size_t data_need, data_len;
	uint8_t data[MO_MAX + 2];
	int64_t data_deadline;
	int64_t session_end;
	bool session_answer;
	double delay_min, delay_max;
	int fails[MAX_FAILS];
	unsigned nfails;
	double fail_rate;
	int fail_code;

	/* the gateway */
	struct mt_msg mtq[MT_QUEUE_MAX];
	unsigned nmt;
	bool ring_due;
	int64_t ring_next;
	double ring_repeat;
	uint32_t cdr, auto_id;
	bool deliver_empty, dup_mo;
	struct sockaddr_storage mo_addr;
	socklen_t mo_addrlen;
	bool have_mo_addr;
	struct mo_msg *mo_head, *mo_tail;
	struct mo_msg *mo_last;		/* the last one delivered, for "redeliver" */
	unsigned mo_pending;
	int mo_fd;
	size_t mo_sent;
	bool mo_connected;
	int64_t mo_deadline, mo_retry_at;
	double mo_retry;
	int mt_listen;
	uint16_t mt_port;
	struct mt_conn mt_conns[MAX_MT_CONNS];

	/* control */
	const char *ctl_path;
	int ctl_fd;
	struct client clients[MAX_CLIENTS];
	struct script_line *script;
	unsigned nscript, script_next;

	/* counters */
	uint64_t commands, sessions, sessions_ok, sessions_failed, mailbox_checks, answers;
	uint64_t mo_received, mo_bytes, mo_delivered, mo_attempts, mo_failed_attempts;
	uint64_t mt_accepted, mt_rejected, mt_sent, rings, bad_checksums, writes, reads, errors_sent;
	uint64_t bad_commands, unplugs;
} S;

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
logmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("sbdsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("sbdsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

/* Simulated seconds to a real duration in ns. */
static int64_t
scaled(double sim_s)
{
	return (int64_t)(sim_s * S.factor * 1e9);
}

/* One JSON object a line in the --events file: {"t":..,"event":NAME,...}. */
static void
event(const char *fmt, ...)
{
	va_list ap;

	if (!S.events)
		return;
	fprintf(S.events, "{\"t\":%.6f,", (double)(now_ns() - S.t0) / NSEC);
	va_start(ap, fmt);
	vfprintf(S.events, fmt, ap);
	va_end(ap);
	fputs("}\n", S.events);
	fflush(S.events);
}

/* splitmix64 */
static uint64_t
rng_next(void)
{
	uint64_t z = (S.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
rng_uniform(void)
{
	return (double)(rng_next() >> 11) * 0x1.0p-53;
}

static uint16_t
checksum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return (uint16_t)s;
}

static void
epoll_set(int fd, uint32_t events, uint64_t tag, int op)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	if (epoll_ctl(S.ep, op, fd, &ev) < 0 && op != EPOLL_CTL_DEL)
		fatal("epoll_ctl: %s", strerror(errno));
}

/* ---- the pty ---------------------------------------------------------- */

static void
pty_flush(void)
{
	while (S.plugged && S.out_len > 0) {
		ssize_t n = write(S.master, S.out, S.out_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN)
				logmsg("pty write: %s", strerror(errno));
			break;
		}
		memmove(S.out, S.out + n, S.out_len - (size_t)n);
		S.out_len -= (size_t)n;
	}
	if (S.plugged && (S.out_len > 0) != S.pollout) {
		S.pollout = S.out_len > 0;
		epoll_set(S.master, EPOLLIN | (S.pollout ? EPOLLOUT : 0), EV(EV_PTY, 0), EPOLL_CTL_MOD);
	}
}

/* Bytes from the modem to the driver. */
static void
modem_out(const void *p, size_t n)
{
	if (!S.plugged || S.muted)
		return;
	if (S.out_len + n > OUT_MAX) {
		logmsg("pty: the driver does not read; %zu bytes dropped", n);
		return;
	}
	memcpy(S.out + S.out_len, p, n);
	S.out_len += n;
	pty_flush();
}

static void
modem_line(const char *s)
{
	modem_out("\r\n", 2);
	modem_out(s, strlen(s));
	modem_out("\r\n", 2);
}

static void
pty_open(void)
{
	struct termios t;
	char tmp[512];

	S.master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (S.master < 0 || grantpt(S.master) < 0 || unlockpt(S.master) < 0)
		fatal("pty: %s", strerror(errno));
	if (ptsname_r(S.master, S.pts, sizeof(S.pts)) != 0)
		fatal("ptsname: %s", strerror(errno));
	/* Held open so the master never sees a hang-up between driver reopens; raw, like a UART. */
	S.slave = open(S.pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (S.slave < 0 || tcgetattr(S.slave, &t) < 0)
		fatal("%s: %s", S.pts, strerror(errno));
	cfmakeraw(&t);
	if (tcsetattr(S.slave, TCSANOW, &t) < 0)
		fatal("%s: tcsetattr: %s", S.pts, strerror(errno));
	if (S.link_path) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", S.link_path);
		unlink(tmp);
		if (symlink(S.pts, tmp) < 0 || rename(tmp, S.link_path) < 0)
			fatal("symlink %s -> %s: %s", S.link_path, S.pts, strerror(errno));
	}
	S.plugged = true;
	S.pollout = false;
	S.out_len = 0;
	epoll_set(S.master, EPOLLIN, EV(EV_PTY, 0), EPOLL_CTL_ADD);
}

/* The modem vanishes: the driver's reads fail with EIO and the path is gone. */
static void
pty_close(void)
{
	if (!S.plugged)
		return;
	if (S.link_path)
		unlink(S.link_path);
	epoll_set(S.master, 0, 0, EPOLL_CTL_DEL);
	close(S.master);
	close(S.slave);
	S.plugged = false;
	S.unplugs++;
}

/* ---- the modem -------------------------------------------------------- */

/* Power-up state: echo on, ring alerts off, buffers empty. */
static void
modem_reset(void)
{
	S.mode = MODEM_CMD;
	S.cmd_len = 0;
	S.echo = true;
	S.ring_alerts = false;
	S.cier_mode = 0;
	S.cier_sig = S.cier_svc = false;
	S.mo_len = 0;
	S.mt_len = 0;
}

static void
ok(void)
{
	modem_line("OK");
}

static void
error(void)
{
	S.errors_sent++;
	modem_line("ERROR");
}

static void
result(unsigned code)
{
	char b[8];

	snprintf(b, sizeof(b), "%u", code);
	modem_line(b);
	ok();
}

static void
ring(void)
{
	if (!S.plugged || S.muted || !S.ring_alerts || S.signal == 0)
		return;
	S.rings++;
	event("\"event\":\"ring\"");
	modem_line("SBDRING");
}

/*
 * +CIEV indicator events (AT+CIER=1,...): each indicator reported when it
 * changes; a change while a session or a binary write holds the port is
 * reported (the latest value) on return to command mode.
 */
static void
ciev_report(void)
{
	char b[32];
	unsigned svc = S.signal > 0;

	if (S.cier_mode != 1 || !S.plugged || S.muted)
		return;
	if (S.mode != MODEM_CMD) {
		S.ciev_due = true;
		return;
	}
	S.ciev_due = false;
	if (S.cier_sig && S.signal != S.ciev_signal) {
		snprintf(b, sizeof(b), "+CIEV:0,%u", S.signal);
		modem_line(b);
		event("\"event\":\"ciev\",\"indicator\":0,\"value\":%u", S.signal);
	}
	if (S.cier_svc && svc != S.ciev_service) {
		snprintf(b, sizeof(b), "+CIEV:1,%u", svc);
		modem_line(b);
		event("\"event\":\"ciev\",\"indicator\":1,\"value\":%u", svc);
	}
	S.ciev_signal = S.signal;
	S.ciev_service = svc;
}

/* Ring once the modem is idle, if ring alerts are on and there is signal. */
static void
ring_maybe(int64_t now)
{
	if (!S.ring_due || S.mode != MODEM_CMD || now < S.ring_next)
		return;
	if (!S.ring_alerts || S.signal == 0 || !S.plugged || S.muted)
		return;		/* the gateway's next ring alert will find it */
	ring();
	if (S.ring_repeat > 0 && S.nmt > 0)
		S.ring_next = now + scaled(S.ring_repeat);
	else
		S.ring_due = false;
}

static void mo_kick(int64_t now);

static void
gateway_mo(uint16_t momsn, uint16_t mtmsn, bool with_payload, int64_t now)
{
	struct directip_mo mo = {
		.cdr_ref = ++S.cdr, .session_status = 0, .momsn = momsn,
		.mtmsn = mtmsn, .session_time = (uint32_t)time(NULL),
		.has_payload = with_payload, .payload = S.mo_buf, .payload_len = S.mo_len,
	};
	struct mo_msg *m;
	ssize_t n;

	memcpy(mo.imei, S.imei, sizeof(mo.imei));
	n = directip_mo_encode(&mo, NULL, 0);
	if (n < 0 || (m = calloc(1, sizeof(*m) + (size_t)n)) == NULL)
		fatal("MO message: %s", strerror(n < 0 ? (int)-n : errno));
	directip_mo_encode(&mo, m->data, (size_t)n);
	m->len = (size_t)n;
	m->momsn = momsn;
	m->copies = S.dup_mo ? 2 : 1;
	if (S.mo_tail)
		S.mo_tail->next = m;
	else
		S.mo_head = m;
	S.mo_tail = m;
	S.mo_pending++;
	mo_kick(now);
}

static int
next_fail(void)
{
	if (S.nfails > 0) {
		int code = S.fails[0];

		memmove(S.fails, S.fails + 1, (--S.nfails) * sizeof(S.fails[0]));
		return code;
	}
	if (S.fail_rate > 0 && rng_uniform() < S.fail_rate)
		return S.fail_code;
	return 0;
}

static void
session_finish(int64_t now)
{
	char line[96];
	unsigned mo_status, mt_status = 0, mt_len = 0, mt_queued = 0;
	uint16_t momsn = S.momsn, mtmsn = 0;
	int fail = S.signal == 0 ? 32 : next_fail();

	S.mode = MODEM_CMD;
	S.sessions++;
	if (S.mo_len == 0)
		S.mailbox_checks++;
	if (fail) {
		mo_status = (unsigned)fail;
		S.sessions_failed++;
	} else {
		mo_status = 0;
		S.sessions_ok++;
		S.momsn++;
		if (S.mo_len) {
			S.mo_received++;
			S.mo_bytes += S.mo_len;
		}
		if (S.nmt > 0) {
			struct mt_msg *m = &S.mtq[0];

			memcpy(S.mt_buf, m->data, m->len);
			S.mt_len = m->len;
			mt_status = 1;
			mtmsn = m->mtmsn;
			mt_len = (unsigned)m->len;
			memmove(S.mtq, S.mtq + 1, (--S.nmt) * sizeof(S.mtq[0]));
			S.mt_sent++;
		}
		mt_queued = S.nmt;
		if (S.nmt == 0)
			S.ring_due = false;
		if (S.mo_len || S.deliver_empty)
			gateway_mo(momsn, mtmsn, S.mo_len > 0, now);
	}
	event("\"event\":\"session\",\"answer\":%s,\"mo_status\":%u,\"momsn\":%u,\"mo_len\":%zu,"
	    "\"mt_status\":%u,\"mtmsn\":%u,\"mt_len\":%u,\"mt_queued\":%u",
	    S.session_answer ? "true" : "false", mo_status, momsn, S.mo_len, mt_status, mtmsn,
	    mt_len, mt_queued);
	snprintf(line, sizeof(line), "+SBDIX: %u, %u, %u, %u, %u, %u", mo_status, momsn, mt_status,
	    mtmsn, mt_len, mt_queued);
	modem_line(line);
	ok();
	if (S.ciev_due)
		ciev_report();
}

static void
session_start(bool answer, int64_t now)
{
	double d = S.delay_min;

	if (S.delay_max > S.delay_min)
		d += (S.delay_max - S.delay_min) * rng_uniform();
	/* Without signal the modem gives up at once. */
	if (S.signal == 0)
		d = d < 1 ? d : 1;
	S.mode = MODEM_SESSION;
	S.session_answer = answer;
	S.session_end = now + scaled(d);
	if (answer)
		S.answers++;
}

/* The bytes after READY: message and checksum are complete. */
static void
data_done(void)
{
	size_t n = S.data_need - 2;
	uint16_t ck = (uint16_t)(S.data[n] << 8 | S.data[n + 1]);

	S.mode = MODEM_CMD;
	if (checksum(S.data, n) != ck) {
		S.bad_checksums++;
		result(2);
		return;
	}
	memcpy(S.mo_buf, S.data, n);
	S.mo_len = n;
	S.writes++;
	result(0);
	if (S.ciev_due)
		ciev_report();
}

static void
read_binary(void)
{
	uint8_t b[2 + MT_MAX + 2];
	uint16_t ck = checksum(S.mt_buf, S.mt_len);

	b[0] = (uint8_t)(S.mt_len >> 8);
	b[1] = (uint8_t)S.mt_len;
	memcpy(b + 2, S.mt_buf, S.mt_len);
	b[2 + S.mt_len] = (uint8_t)(ck >> 8);
	b[3 + S.mt_len] = (uint8_t)ck;
	modem_out(b, S.mt_len + 4);
	S.reads++;
	ok();
}

/* One command line, without "AT" and the CR. */
static void
at_command(const char *c, int64_t now)
{
	char b[64];
	unsigned v;
	int n;

	S.commands++;
	if (S.verbose)
		logmsg("AT%s", c);
	if (S.errors) {
		error();
		return;
	}
	if (*c == '\0' || strcasecmp(c, "&K0") == 0 || strcasecmp(c, "&K3") == 0 ||
	    strcasecmp(c, "V1") == 0 || strncasecmp(c, "&D", 2) == 0) {
		ok();
	} else if (strcasecmp(c, "E0") == 0 || strcasecmp(c, "E1") == 0 || strcasecmp(c, "E") == 0) {
		S.echo = c[1] == '1';
		ok();
	} else if ((strcasecmp(c, "+CSQ") == 0 || strcasecmp(c, "+CSQF") == 0) && S.refuse_csq) {
		error();
	} else if (strncasecmp(c, "+CIER", 5) == 0 && S.refuse_cier) {
		error();
	} else if (strncasecmp(c, "+CIER=", 6) == 0) {
		unsigned a[4] = { 0, 0, 0, 0 };
		int k = sscanf(c + 6, "%u,%u,%u,%u", &a[0], &a[1], &a[2], &a[3]);

		if (k < 1 || a[0] > 1 || a[1] > 1 || a[2] > 1 || a[3] > 1) {
			error();
			return;
		}
		S.cier_mode = a[0];
		S.cier_sig = a[1];
		S.cier_svc = a[2];
		/* Reported on changes only, from what the modem shows now. */
		S.ciev_signal = S.signal;
		S.ciev_service = S.signal > 0;
		ok();
	} else if (strcasecmp(c, "+CIER?") == 0) {
		snprintf(b, sizeof(b), "+CIER:%u,%d,%d,0", S.cier_mode, S.cier_sig, S.cier_svc);
		modem_line(b);
		ok();
	} else if (strcasecmp(c, "+CSQ") == 0 || strcasecmp(c, "+CSQF") == 0) {
		snprintf(b, sizeof(b), "%s:%u", c[4] ? "+CSQF" : "+CSQ", S.signal);
		modem_line(b);
		ok();
	} else if (strcasecmp(c, "+CGSN") == 0) {
		modem_line(S.imei);
		ok();
	} else if (strcasecmp(c, "+CGMM") == 0) {
		modem_line(S.model);
		ok();
	} else if (strncasecmp(c, "+SBDWB=", 7) == 0 && sscanf(c + 7, "%u%n", &v, &n) == 1 &&
	    c[7 + n] == '\0') {
		if (v < 1 || v > MO_MAX) {
			result(3);
			return;
		}
		S.mode = MODEM_DATA;
		S.data_need = v + 2;
		S.data_len = 0;
		S.data_deadline = now + scaled(60);
		modem_line("READY");
	} else if (strcasecmp(c, "+SBDRB") == 0) {
		read_binary();
	} else if (strcasecmp(c, "+SBDD0") == 0 || strcasecmp(c, "+SBDD1") == 0 ||
	    strcasecmp(c, "+SBDD2") == 0) {
		if (c[5] != '1')
			S.mo_len = 0;
		if (c[5] != '0')
			S.mt_len = 0;
		result(0);
	} else if (strcasecmp(c, "+SBDC") == 0) {
		S.momsn = 0;
		result(0);
	} else if (strcasecmp(c, "+SBDMTA=0") == 0 || strcasecmp(c, "+SBDMTA=1") == 0) {
		S.ring_alerts = c[8] == '1';
		ok();
	} else if (strcasecmp(c, "+SBDMTA?") == 0) {
		snprintf(b, sizeof(b), "+SBDMTA:%d", S.ring_alerts);
		modem_line(b);
		ok();
	} else if (strcasecmp(c, "+SBDIX") == 0 || strcasecmp(c, "+SBDIXA") == 0) {
		session_start(c[6] != '\0', now);
	} else {
		S.bad_commands++;
		error();
	}
}

static void
modem_byte(uint8_t ch, int64_t now)
{
	if (S.muted)
		return;		/* a dead modem hears nothing either */
	switch (S.mode) {
	case MODEM_DATA:
		S.data[S.data_len++] = ch;
		if (S.data_len == S.data_need)
			data_done();
		return;
	case MODEM_SESSION:
		return;		/* the modem takes no command during a session */
	case MODEM_CMD:
		break;
	}
	if (ch == '\n')
		return;
	if (ch != '\r') {
		if (S.cmd_len < CMD_MAX)
			S.cmd[S.cmd_len++] = (char)ch;
		else
			S.cmd_overflow = true;
		return;
	}
	S.cmd[S.cmd_len] = '\0';
	if (S.echo && !S.muted) {
		modem_out(S.cmd, S.cmd_len);
		modem_out("\r", 1);
	}
	if (S.cmd_len == 0) {
		/* an empty line: nothing */
	} else if (S.cmd_overflow || S.cmd_len < 2 || strncasecmp(S.cmd, "AT", 2) != 0) {
		S.bad_commands++;
		error();
	} else {
		at_command(S.cmd + 2, now);
	}
	S.cmd_len = 0;
	S.cmd_overflow = false;
}

static void
on_pty(uint32_t events, int64_t now)
{
	uint8_t buf[1024];

	if (events & EPOLLOUT)
		pty_flush();
	if (!(events & EPOLLIN))
		return;
	for (;;) {
		ssize_t n = read(S.master, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (ssize_t i = 0; i < n && S.plugged; i++)
			modem_byte(buf[i], now);
	}
}

/* ---- the gateway: MO messages to the command center -------------------- */

static void
mo_close(void)
{
	if (S.mo_fd >= 0) {
		epoll_set(S.mo_fd, 0, 0, EPOLL_CTL_DEL);
		close(S.mo_fd);
	}
	S.mo_fd = -1;
	S.mo_connected = false;
}

static void
mo_failed(const char *what, int err, int64_t now)
{
	S.mo_failed_attempts++;
	logmsg("MO delivery of MOMSN %u: %s: %s; again in %.3f s", S.mo_head->momsn, what,
	    strerror(err), S.mo_retry * S.factor);
	mo_close();
	S.mo_retry_at = now + scaled(S.mo_retry);
}

static void
mo_done(int64_t now)
{
	struct mo_msg *m = S.mo_head;

	mo_close();
	S.mo_delivered++;
	event("\"event\":\"mo_delivered\",\"momsn\":%u,\"bytes\":%zu", m->momsn, m->len);
	if (--m->copies > 0)
		return;		/* --dup-mo: the same message once more */
	S.mo_head = m->next;
	if (!S.mo_head)
		S.mo_tail = NULL;
	S.mo_pending--;
	free(S.mo_last);
	m->next = NULL;
	S.mo_last = m;
}

/* The gateway delivers the last MO message once more, as one unsure of a delivery does. */
static bool
mo_redeliver(int64_t now)
{
	struct mo_msg *m;

	if (!S.mo_last || (m = malloc(sizeof(*m) + S.mo_last->len)) == NULL)
		return false;
	memcpy(m, S.mo_last, sizeof(*m) + S.mo_last->len);
	m->next = NULL;
	m->copies = 1;
	if (S.mo_tail)
		S.mo_tail->next = m;
	else
		S.mo_head = m;
	S.mo_tail = m;
	S.mo_pending++;
	mo_kick(now);
	return true;
}

/* Start delivering the head of the MO queue if nothing else is under way. */
static void
mo_kick(int64_t now)
{
	int fd;

	if (S.mo_fd >= 0 || !S.mo_head || now < S.mo_retry_at)
		return;
	if (!S.have_mo_addr) {		/* no command center: delivered into the void */
		while (S.mo_head)
			mo_done(now);
		return;
	}
	S.mo_attempts++;
	fd = socket(S.mo_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		mo_failed("socket", errno, now);
		return;
	}
	S.mo_fd = fd;
	S.mo_sent = 0;
	S.mo_deadline = now + 10 * NSEC;
	if (connect(fd, (struct sockaddr *)&S.mo_addr, S.mo_addrlen) < 0 && errno != EINPROGRESS) {
		mo_failed("connect", errno, now);
		return;
	}
	epoll_set(fd, EPOLLOUT | EPOLLIN, EV(EV_MO_CONN, 0), EPOLL_CTL_ADD);
}

/* Connect, write the message, half-close, and wait for the command center to close. */
static void
on_mo_conn(uint32_t events, int64_t now)
{
	struct mo_msg *m = S.mo_head;

	if (!S.mo_connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(S.mo_fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			mo_failed("connect", err, now);
			return;
		}
		S.mo_connected = true;
	}
	if (S.mo_connected && S.mo_sent < m->len) {
		ssize_t n = send(S.mo_fd, m->data + S.mo_sent, m->len - S.mo_sent, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			mo_failed("send", errno, now);
			return;
		}
		if (n > 0)
			S.mo_sent += (size_t)n;
		if (S.mo_sent == m->len) {
			shutdown(S.mo_fd, SHUT_WR);
			epoll_set(S.mo_fd, EPOLLIN, EV(EV_MO_CONN, 0), EPOLL_CTL_MOD);
		}
		return;
	}
	if (S.mo_connected && S.mo_sent == m->len && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		uint8_t b[64];
		ssize_t n = recv(S.mo_fd, b, sizeof(b), 0);

		if (n == 0)
			mo_done(now);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			mo_failed("waiting for the close", errno, now);
	}
}

/* ---- the gateway: MT messages from the command center ----------------- */

static int16_t
mt_accept(const struct directip_mt *mt, int64_t now)
{
	if (!directip_imei_valid(mt->imei))
		return -1;
	if (strcmp(mt->imei, S.imei) != 0)
		return -2;
	if (mt->flags & DIRECTIP_MT_FLUSH)
		S.nmt = 0;
	if (mt->flags & DIRECTIP_MT_RING) {
		S.ring_due = true;
		S.ring_next = now;
		return 0;
	}
	if (!mt->has_payload)
		return (mt->flags & DIRECTIP_MT_FLUSH) ? 0 : -4;
	if (mt->payload_len > MT_MAX)
		return -3;
	if (S.nmt >= MT_QUEUE_MAX)
		return -5;
	S.mtq[S.nmt].mtmsn = ++S.next_mtmsn;
	S.mtq[S.nmt].len = mt->payload_len;
	memcpy(S.mtq[S.nmt].data, mt->payload, mt->payload_len);
	S.nmt++;
	S.mt_accepted++;
	if (!S.ring_due) {
		S.ring_due = true;
		S.ring_next = now;
	}
	event("\"event\":\"mt_queued\",\"mtmsn\":%u,\"len\":%zu,\"client_id\":%" PRIu32 ",\"queue\":%u",
	    S.next_mtmsn, mt->payload_len, mt->client_id, S.nmt);
	return (int16_t)S.nmt;
}

static void
mt_conn_close(struct mt_conn *c)
{
	epoll_set(c->fd, 0, 0, EPOLL_CTL_DEL);
	close(c->fd);
	c->fd = -1;
}

static void
on_mt_conn(struct mt_conn *c, int64_t now)
{
	struct directip_mt mt;
	struct directip_mt_confirm conf = { 0 };
	uint8_t reply[64];
	ssize_t n, need;

	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		mt_conn_close(c);
		return;
	}
	c->len += (size_t)n;
	need = directip_msg_len(c->buf, c->len);
	if (need == 0 || (need > 0 && c->len < (size_t)need))
		return;
	if (need < 0 || directip_mt_decode(c->buf, (size_t)need, &mt) < 0) {
		conf.status = -7;	/* violation of the MT DirectIP protocol */
		memcpy(conf.imei, "000000000000000", 16);
		S.mt_rejected++;
	} else {
		conf.client_id = mt.client_id;
		memcpy(conf.imei, mt.imei, sizeof(conf.imei));
		if (!directip_imei_valid(conf.imei))
			memcpy(conf.imei, "000000000000000", 16);
		conf.status = mt_accept(&mt, now);
		if (conf.status < 0)
			S.mt_rejected++;
		else
			conf.auto_id = ++S.auto_id;
	}
	n = directip_mt_confirm_encode(&conf, reply, sizeof(reply));
	if (n > 0 && send(c->fd, reply, (size_t)n, MSG_NOSIGNAL) != n)
		logmsg("MT confirmation: %s", strerror(errno));
	mt_conn_close(c);
}

static void
on_mt_listen(int64_t now)
{
	int fd = accept4(S.mt_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_MT_CONNS; i++)
		if (S.mt_conns[i].fd < 0) {
			S.mt_conns[i].fd = fd;
			S.mt_conns[i].len = 0;
			S.mt_conns[i].deadline = now + 10 * NSEC;
			epoll_set(fd, EPOLLIN, EV(EV_MT_CONN, i), EPOLL_CTL_ADD);
			return;
		}
	close(fd);
}

/* ---- control ---------------------------------------------------------- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
stats_json(char *buf, size_t n)
{
	snprintf(buf, n, "{\"t\":%.6f,\"plugged\":%s,\"signal\":%u,\"echo\":%s,\"ring_alerts\":%s,"
	    "\"muted\":%s,\"errors\":%s,\"momsn\":%u,\"mo_buffer\":%zu,\"commands\":%" PRIu64
	    ",\"bad_commands\":%" PRIu64 ",\"errors_sent\":%" PRIu64 ",\"writes\":%" PRIu64
	    ",\"bad_checksums\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"sessions\":%" PRIu64
	    ",\"sessions_ok\":%" PRIu64 ",\"sessions_failed\":%" PRIu64 ",\"mailbox_checks\":%" PRIu64
	    ",\"answers\":%" PRIu64 ",\"mo_received\":%" PRIu64 ",\"mo_bytes\":%" PRIu64
	    ",\"mo_pending\":%u,\"mo_delivered\":%" PRIu64 ",\"mo_attempts\":%" PRIu64
	    ",\"mo_failed_attempts\":%" PRIu64 ",\"mt_accepted\":%" PRIu64 ",\"mt_rejected\":%" PRIu64
	    ",\"mt_queued\":%u,\"mt_sent\":%" PRIu64 ",\"rings\":%" PRIu64 ",\"unplugs\":%" PRIu64 "}\n",
	    (double)(now_ns() - S.t0) / NSEC, S.plugged ? "true" : "false", S.signal,
	    S.echo ? "true" : "false", S.ring_alerts ? "true" : "false", S.muted ? "true" : "false",
	    S.errors ? "true" : "false", S.momsn, S.mo_len, S.commands, S.bad_commands, S.errors_sent,
	    S.writes, S.bad_checksums, S.reads, S.sessions, S.sessions_ok, S.sessions_failed,
	    S.mailbox_checks, S.answers, S.mo_received, S.mo_bytes, S.mo_pending, S.mo_delivered,
	    S.mo_attempts, S.mo_failed_attempts, S.mt_accepted, S.mt_rejected, S.nmt, S.mt_sent,
	    S.rings, S.unplugs);
}

static bool
on_off(const char *s, bool *out)
{
	if (strcmp(s, "on") == 0)
		*out = true;
	else if (strcmp(s, "off") == 0)
		*out = false;
	else
		return false;
	return true;
}

static bool
parse_fail(const char *s, int count)
{
	char *end;
	long code = strtol(s, &end, 10);

	if (*end || code < 5 || code > 255 || count < 1)
		return false;
	for (int i = 0; i < count && S.nfails < MAX_FAILS; i++)
		S.fails[S.nfails++] = (int)code;
	return true;
}

static bool
parse_delay(const char *a, const char *b)
{
	char *end;
	double lo = strtod(a, &end), hi;

	if (*end || !(lo >= 0))
		return false;
	hi = lo;
	if (b) {
		hi = strtod(b, &end);
		if (*end || !(hi >= lo))
			return false;
	}
	S.delay_min = lo;
	S.delay_max = hi;
	return true;
}

/* One control command; the reply line (newline included) goes to reply. */
static void
control(char *line, char *reply, size_t n, int64_t now)
{
	char *tok[4], *save = NULL, *w;
	int nt = 0;
	bool b;

	for (w = strtok_r(line, " \t\r\n", &save); w && nt < 4; w = strtok_r(NULL, " \t\r\n", &save))
		tok[nt++] = w;
	if (nt == 0) {
		reply[0] = '\0';
		return;
	}
	if (S.verbose)
		logmsg("control: %s%s%s", tok[0], nt > 1 ? " " : "", nt > 1 ? tok[1] : "");
	if (strcmp(tok[0], "stats") == 0 && nt == 1) {
		stats_json(reply, n);
		return;
	} else if (strcmp(tok[0], "signal") == 0 && nt == 2 && strlen(tok[1]) == 1 &&
	    tok[1][0] >= '0' && tok[1][0] <= '5') {
		S.signal = (unsigned)(tok[1][0] - '0');
		event("\"event\":\"signal\",\"signal\":%u", S.signal);
		ciev_report();
		ring_maybe(now);
	} else if (strcmp(tok[0], "fail") == 0 && (nt == 2 || nt == 3) &&
	    parse_fail(tok[1], nt == 3 ? atoi(tok[2]) : 1)) {
		/* queued */
	} else if (strcmp(tok[0], "failrate") == 0 && nt == 3) {
		double p = atof(tok[1]);
		int code = atoi(tok[2]);

		if (!(p >= 0 && p <= 1) || code < 5 || code > 255)
			goto bad;
		S.fail_rate = p;
		S.fail_code = code;
	} else if (strcmp(tok[0], "delay") == 0 && (nt == 2 || nt == 3) &&
	    parse_delay(tok[1], nt == 3 ? tok[2] : NULL)) {
		/* set */
	} else if (strcmp(tok[0], "mt") == 0 && nt == 2) {
		size_t len = strlen(tok[1]) / 2;
		struct directip_mt mt = { .has_payload = true, .payload_len = len };
		uint8_t data[MT_MAX];

		if (strlen(tok[1]) % 2 || len == 0 || len > MT_MAX)
			goto bad;
		for (size_t i = 0; i < len; i++) {
			int hi = hexval(tok[1][2 * i]), lo = hexval(tok[1][2 * i + 1]);

			if (hi < 0 || lo < 0)
				goto bad;
			data[i] = (uint8_t)(hi << 4 | lo);
		}
		mt.payload = data;
		memcpy(mt.imei, S.imei, sizeof(mt.imei));
		if (mt_accept(&mt, now) < 0)
			goto bad;
	} else if (strcmp(tok[0], "ring") == 0 && nt == 1) {
		ring();
	} else if (strcmp(tok[0], "mute") == 0 && nt == 2 && on_off(tok[1], &b)) {
		S.muted = b;
	} else if (strcmp(tok[0], "errors") == 0 && nt == 2 && on_off(tok[1], &b)) {
		S.errors = b;
	} else if (strcmp(tok[0], "refuse") == 0 && nt == 3 && strcasecmp(tok[1], "+CSQ") == 0 &&
	    on_off(tok[2], &b)) {
		S.refuse_csq = b;
	} else if (strcmp(tok[0], "refuse") == 0 && nt == 3 && strcasecmp(tok[1], "+CIER") == 0 &&
	    on_off(tok[2], &b)) {
		S.refuse_cier = b;
	} else if (strcmp(tok[0], "reboot") == 0 && nt == 1) {
		modem_reset();
		event("\"event\":\"reboot\"");
	} else if (strcmp(tok[0], "sbdc") == 0 && nt == 1) {
		S.momsn = 0;		/* what AT+SBDC does */
		event("\"event\":\"sbdc\"");
	} else if (strcmp(tok[0], "swap") == 0 && nt == 1) {
		/* Another modem provisioned under the same IMEI: its MOMSN starts at 0. */
		S.momsn = 0;
		modem_reset();
		event("\"event\":\"swap\"");
	} else if (strcmp(tok[0], "redeliver") == 0 && nt == 1) {
		if (!mo_redeliver(now))
			goto bad;
	} else if (strcmp(tok[0], "unplug") == 0 && nt == 1) {
		pty_close();
		event("\"event\":\"unplug\"");
	} else if (strcmp(tok[0], "plug") == 0 && nt == 1) {
		if (!S.plugged) {
			pty_open();
			modem_reset();
			event("\"event\":\"plug\",\"pty\":\"%s\"", S.pts);
		}
	} else if (strcmp(tok[0], "quit") == 0 && nt == 1) {
		S.quit = true;
	} else if (strcmp(tok[0], "help") == 0) {
		snprintf(reply, n, "commands: stats | signal 0-5 | fail CODE [COUNT] | failrate P CODE | "
		    "delay MIN [MAX] | mt HEX | ring | mute on|off | errors on|off | reboot | "
		    "unplug | plug | quit\n");
		return;
	} else {
		goto bad;
	}
	snprintf(reply, n, "ok\n");
	return;
bad:
	snprintf(reply, n, "error: bad command (try \"help\")\n");
}

static void
client_close(struct client *c)
{
	epoll_set(c->fd, 0, 0, EPOLL_CTL_DEL);
	close(c->fd);
	c->fd = -1;
}

static void
on_client(struct client *c, int64_t now)
{
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	char *nl, reply[2048];
	size_t used = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	while ((nl = memchr(c->buf + used, '\n', c->len - used))) {
		*nl = '\0';
		control(c->buf + used, reply, sizeof(reply), now);
		used = (size_t)(nl - c->buf) + 1;
		if (reply[0] && write(c->fd, reply, strlen(reply)) != (ssize_t)strlen(reply)) {
			client_close(c);
			return;
		}
	}
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	if (c->len >= sizeof(c->buf) - 1)
		client_close(c);
}

static void
on_listen(void)
{
	int fd = accept4(S.ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (S.clients[i].fd < 0) {
			S.clients[i].fd = fd;
			S.clients[i].len = 0;
			epoll_set(fd, EPOLLIN, EV(EV_CLIENT, i), EPOLL_CTL_ADD);
			return;
		}
	close(fd);
}

static void
script_run(int64_t now)
{
	char reply[2048];

	while (S.script_next < S.nscript && S.script[S.script_next].at <= now) {
		control(S.script[S.script_next].cmd, reply, sizeof(reply), now);
		if (strncmp(reply, "error", 5) == 0)
			logmsg("script: %s", reply);
		S.script_next++;
	}
}

static void
script_load(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[LINE_MAX_LEN + 32];
	int lineno = 0;

	if (!f)
		fatal("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *end, *p = line;
		double t;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		t = strtod(p, &end);
		if (end == p || !(t >= 0) || (*end != ' ' && *end != '\t'))
			fatal("%s:%d: expected \"SECONDS COMMAND\"", path, lineno);
		if (S.nscript == MAX_SCRIPT)
			fatal("%s:%d: more than %d lines", path, lineno, MAX_SCRIPT);
		if (!S.script && !(S.script = calloc(MAX_SCRIPT, sizeof(*S.script))))
			fatal("out of memory");
		S.script[S.nscript].at = (int64_t)(t * 1e9);	/* scaled once the factor is known */
		snprintf(S.script[S.nscript].cmd, sizeof(S.script[0].cmd), "%s", end + 1);
		if (S.nscript && S.script[S.nscript].at < S.script[S.nscript - 1].at)
			fatal("%s:%d: times must not go backwards", path, lineno);
		S.nscript++;
	}
	fclose(f);
}

/* ---- time ------------------------------------------------------------- */

static void
take_min(int64_t *t, int64_t v)
{
	if (v > 0 && v < *t)
		*t = v;
}

static void
arm_timer(void)
{
	int64_t t = INT64_MAX;
	struct itimerspec its = { 0 };

	if (S.mode == MODEM_SESSION)
		take_min(&t, S.session_end);
	if (S.mode == MODEM_DATA)
		take_min(&t, S.data_deadline);
	/* only when ring_maybe() could ring then: a ring held back must not spin the loop */
	if (S.ring_due && S.mode == MODEM_CMD && S.ring_alerts && S.signal > 0 && S.plugged && !S.muted)
		take_min(&t, S.ring_next > 0 ? S.ring_next : 1);
	if (S.mo_fd >= 0)
		take_min(&t, S.mo_deadline);
	else if (S.mo_head)
		take_min(&t, S.mo_retry_at > 0 ? S.mo_retry_at : 1);
	for (int i = 0; i < MAX_MT_CONNS; i++)
		if (S.mt_conns[i].fd >= 0)
			take_min(&t, S.mt_conns[i].deadline);
	if (S.script_next < S.nscript)
		take_min(&t, S.script[S.script_next].at > 0 ? S.script[S.script_next].at : 1);
	if (t != INT64_MAX) {
		its.it_value.tv_sec = t / NSEC;
		its.it_value.tv_nsec = t % NSEC;
	}
	timerfd_settime(S.tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void
on_timer(int64_t now)
{
	uint64_t x;

	if (read(S.tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		logmsg("timerfd: %s", strerror(errno));
	if (S.mode == MODEM_SESSION && now >= S.session_end)
		session_finish(now);
	if (S.mode == MODEM_DATA && now >= S.data_deadline) {
		S.mode = MODEM_CMD;
		result(1);	/* the message did not arrive in time */
	}
	if (S.mo_fd >= 0 && now >= S.mo_deadline)
		mo_failed("no close from the command center", ETIMEDOUT, now);
	for (int i = 0; i < MAX_MT_CONNS; i++)
		if (S.mt_conns[i].fd >= 0 && now >= S.mt_conns[i].deadline)
			mt_conn_close(&S.mt_conns[i]);
	script_run(now);
}

/* ---- set-up ----------------------------------------------------------- */

static void
usage(FILE *f)
{
	fputs(
"NAME\n"
"    sbdsim - an Iridium 9602/9603 SBD modem on a pty and its gateway (DirectIP)\n"
"\n"
"SYNOPSIS\n"
"    sbdsim [--link PATH] [--imei IMEI] [--signal N] [--session-delay MIN[:MAX]]\n"
"           [--time-factor F] [--fail CODE[xN]]... [--fail-rate P:CODE]\n"
"           [--mo HOST:PORT] [--mo-retry S] [--dup-mo] [--deliver-empty]\n"
"           [--mt-port PORT] [--ring-repeat S] [--control PATH] [--script FILE]\n"
"           [--events FILE] [--seed N] [--refuse +CSQ|+CIER]... [-v]\n"
"\n"
"DESCRIPTION\n"
"    The modem is a pty: its name is printed at start, and --link PATH points a\n"
"    symlink at it (kept pointing at the current pty across unplug/plug).  It\n"
"    answers AT, ATE0/1, ATV1, AT&K0/3, AT&Dn, AT+CSQ(F), AT+CGSN, AT+CGMM,\n"
"    AT+SBDWB=n (READY, n bytes and a 2-byte checksum, then 0 loaded / 1 timeout\n"
"    after 60 s / 2 bad checksum / 3 bad size), AT+SBDRB, AT+SBDD0/1/2, AT+SBDC,\n"
"    AT+SBDMTA=0/1/?, AT+SBDIX, AT+SBDIXA and AT+CIER=m[,s[,v[,a]]] / AT+CIER?\n"
"    (with mode 1, +CIEV:0,N on each signal change and +CIEV:1,0/1 on each\n"
"    service change, held back while a session runs); anything else is ERROR,\n"
"    and so is AT+CSQ or AT+CIER after --refuse.  After a power-up (and\n"
"    \"reboot\") echo is on, ring alerts and +CIEV events are off.\n"
"\n"
"    A session lasts --session-delay seconds (uniform in MIN..MAX; default 10:20),\n"
"    and every simulated time is multiplied by --time-factor (default 1).  With\n"
"    signal 0 a session fails at once with MO status 32; otherwise it fails with\n"
"    the next code queued by --fail / \"fail\", or with --fail-rate's probability,\n"
"    or succeeds: MOMSN counts up, the MO buffer (kept, like the real modem's)\n"
"    goes to the gateway, and the next MT message is handed over.\n"
"\n"
"    Gateway: each MO message is sent to --mo HOST:PORT as one DirectIP message\n"
"    per TCP connection, and counts as delivered when the command center closes\n"
"    the connection; a failed attempt is retried after --mo-retry seconds\n"
"    (default 60, scaled).  --dup-mo delivers each twice.  --deliver-empty also\n"
"    reports sessions without an MO message (header only).  MT messages arrive as\n"
"    DirectIP on --mt-port (127.0.0.1, default: any free port, printed at start),\n"
"    are confirmed (status = place in the queue, or -1 invalid IMEI, -2 unknown\n"
"    IMEI, -3 too big for the modem (270), -4 no payload, -5 queue full (50),\n"
"    -7 malformed) and ring the modem (SBDRING) when it is idle, has signal and\n"
"    has ring alerts on; --ring-repeat S rings again every S seconds while\n"
"    messages wait.\n"
"\n"
"CONTROL\n"
"    Commands on the --control UNIX socket, one a line, each answered with one\n"
"    line; --script FILE runs \"SECONDS COMMAND\" lines at those simulated times:\n"
"        stats                   JSON counters\n"
"        signal 0-5              what AT+CSQ says; 0: no sessions\n"
"        fail CODE [COUNT]       the next sessions fail with MO status CODE\n"
"        failrate P CODE         each session fails with probability P\n"
"        delay MIN [MAX]         session length, simulated seconds\n"
"        mt HEX                  queue an MT message (as if from DirectIP)\n"
"        ring                    an SBDRING now\n"
"        mute on|off             the modem says nothing at all (a dead modem)\n"
"        errors on|off           the modem answers ERROR to everything\n"
"        refuse +CSQ|+CIER on|off  ERROR to AT+CSQ(F) / to AT+CIER (as --refuse)\n"
"        reboot                  the modem restarts (echo on, buffers empty)\n"
"        sbdc                    MOMSN back to 0, as AT+SBDC does\n"
"        swap                    another modem under the same IMEI: MOMSN 0, rebooted\n"
"        redeliver               the gateway delivers the last MO message again\n"
"        unplug | plug           the device disappears / comes back\n"
"        quit\n"
"\n"
"OUTPUT\n"
"    One line on stdout once ready: {\"event\":\"ready\",\"pty\":..,\"link\":..,\n"
"    \"mt_port\":..,\"imei\":..}.  --events FILE gets one JSON line per session,\n"
"    ring, MT message queued and MO message delivered.  Exit 0 after a signal or\n"
"    \"quit\", 2 on a usage or set-up error.\n", f);
}

static bool
parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai;
	size_t hl;

	if (!colon || (hl = (size_t)(colon - s)) >= sizeof(host))
		return false;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return false;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return true;
}

static int
open_mt_listen(unsigned port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t l = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 16) < 0)
		fatal("DirectIP MT port %u: %s", port, strerror(errno));
	getsockname(fd, (struct sockaddr *)&sin, &l);
	S.mt_port = ntohs(sin.sin_port);
	return fd;
}

static int
open_control(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		fatal("control socket %s: name too long", path);
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0)
		fatal("control socket %s: %s", path, strerror(errno));
	return fd;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "link", required_argument, NULL, 'l' },
		{ "imei", required_argument, NULL, 'i' },
		{ "signal", required_argument, NULL, 'S' },
		{ "session-delay", required_argument, NULL, 'd' },
		{ "time-factor", required_argument, NULL, 'f' },
		{ "fail", required_argument, NULL, 'F' },
		{ "fail-rate", required_argument, NULL, 'R' },
		{ "mo", required_argument, NULL, 'm' },
		{ "mo-retry", required_argument, NULL, 'r' },
		{ "dup-mo", no_argument, NULL, 'D' },
		{ "deliver-empty", no_argument, NULL, 'E' },
		{ "mt-port", required_argument, NULL, 'p' },
		{ "ring-repeat", required_argument, NULL, 'g' },
		{ "control", required_argument, NULL, 'c' },
		{ "script", required_argument, NULL, 's' },
		{ "events", required_argument, NULL, 'e' },
		{ "seed", required_argument, NULL, 'x' },
		{ "refuse", required_argument, NULL, 'X' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *script = NULL, *events = NULL;
	unsigned mt_port = 0;
	sigset_t sigs;
	int c;

	memset(&S, 0, sizeof(S));
	S.factor = 1;
	S.signal = 5;
	S.delay_min = 10;
	S.delay_max = 20;
	S.mo_retry = 60;
	S.rng = 1;
	S.mo_fd = S.ctl_fd = S.mt_listen = -1;
	strcpy(S.imei, "300234010753370");
	strcpy(S.model, "IRIDIUM 9600 Family SBD Transceiver");
	for (int i = 0; i < MAX_CLIENTS; i++)
		S.clients[i].fd = -1;
	for (int i = 0; i < MAX_MT_CONNS; i++)
		S.mt_conns[i].fd = -1;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		char *end, *colon;

		switch (c) {
		case 'l': S.link_path = optarg; break;
		case 'i':
			if (strlen(optarg) != 15 || strspn(optarg, "0123456789") != 15)
				fatal("--imei: 15 digits");
			strcpy(S.imei, optarg);
			break;
		case 'S':
			if (strlen(optarg) != 1 || optarg[0] < '0' || optarg[0] > '5')
				fatal("--signal: 0-5");
			S.signal = (unsigned)(optarg[0] - '0');
			break;
		case 'd':
			colon = strchr(optarg, ':');
			if (colon)
				*colon++ = '\0';
			if (!parse_delay(optarg, colon))
				fatal("--session-delay: MIN[:MAX] seconds");
			break;
		case 'f':
			S.factor = strtod(optarg, &end);
			if (*end || !(S.factor > 0))
				fatal("--time-factor: a number above 0");
			break;
		case 'F': {
			int count = 1;
			char *x = strchr(optarg, 'x');

			if (x) {
				*x++ = '\0';
				count = atoi(x);
			}
			if (!parse_fail(optarg, count))
				fatal("--fail: CODE[xCOUNT], CODE 5-255");
			break;
		}
		case 'R':
			colon = strchr(optarg, ':');
			if (!colon)
				fatal("--fail-rate: P:CODE");
			S.fail_rate = strtod(optarg, &end);
			S.fail_code = atoi(colon + 1);
			if (end != colon || !(S.fail_rate >= 0 && S.fail_rate <= 1) || S.fail_code < 5 ||
			    S.fail_code > 255)
				fatal("--fail-rate: P:CODE with P in 0..1, CODE 5-255");
			break;
		case 'm':
			if (!parse_hostport(optarg, &S.mo_addr, &S.mo_addrlen))
				fatal("--mo: HOST:PORT");
			S.have_mo_addr = true;
			break;
		case 'r':
			S.mo_retry = strtod(optarg, &end);
			if (*end || !(S.mo_retry >= 0))
				fatal("--mo-retry: seconds");
			break;
		case 'D': S.dup_mo = true; break;
		case 'E': S.deliver_empty = true; break;
		case 'p':
			mt_port = (unsigned)strtoul(optarg, &end, 10);
			if (*end || mt_port > 65535)
				fatal("--mt-port: 0-65535");
			break;
		case 'g':
			S.ring_repeat = strtod(optarg, &end);
			if (*end || !(S.ring_repeat >= 0))
				fatal("--ring-repeat: seconds");
			break;
		case 'c': S.ctl_path = optarg; break;
		case 's': script = optarg; break;
		case 'e': events = optarg; break;
		case 'x': S.rng = strtoull(optarg, NULL, 0); break;
		case 'X':
			if (strcasecmp(optarg, "+CSQ") == 0)
				S.refuse_csq = true;
			else if (strcasecmp(optarg, "+CIER") == 0)
				S.refuse_cier = true;
			else
				fatal("--refuse: +CSQ or +CIER");
			break;
		case 'v': S.verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (script) {
		script_load(script);
		for (unsigned i = 0; i < S.nscript; i++)
			S.script[i].at = (int64_t)((double)S.script[i].at * S.factor);
	}
	if (events && !(S.events = fopen(events, "a")))
		fatal("%s: %s", events, strerror(errno));

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((S.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (S.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    (S.sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		fatal("set-up: %s", strerror(errno));
	epoll_set(S.tfd, EPOLLIN, EV(EV_TIMER, 0), EPOLL_CTL_ADD);
	epoll_set(S.sfd, EPOLLIN, EV(EV_SIGNAL, 0), EPOLL_CTL_ADD);
	S.mt_listen = open_mt_listen(mt_port);
	epoll_set(S.mt_listen, EPOLLIN, EV(EV_MT_LISTEN, 0), EPOLL_CTL_ADD);
	if (S.ctl_path) {
		S.ctl_fd = open_control(S.ctl_path);
		epoll_set(S.ctl_fd, EPOLLIN, EV(EV_LISTEN, 0), EPOLL_CTL_ADD);
	}
	modem_reset();
	pty_open();
	S.t0 = now_ns();
	for (unsigned i = 0; i < S.nscript; i++)
		S.script[i].at += S.t0;
	printf("{\"event\":\"ready\",\"pty\":\"%s\",\"link\":\"%s\",\"mt_port\":%u,\"imei\":\"%s\","
	    "\"t0\":%.6f}\n", S.pts, S.link_path ? S.link_path : "", S.mt_port, S.imei,
	    (double)S.t0 / NSEC);
	fflush(stdout);

	while (!S.quit) {
		struct epoll_event evs[16];
		int n;

		script_run(now_ns());
		arm_timer();
		n = epoll_wait(S.ep, evs, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fatal("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n && !S.quit; i++) {
			uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32);
			uint32_t idx = (uint32_t)evs[i].data.u64;
			int64_t now = now_ns();

			switch (kind) {
			case EV_PTY:
				if (S.plugged)
					on_pty(evs[i].events, now);
				break;
			case EV_TIMER: on_timer(now); break;
			case EV_SIGNAL: S.quit = true; break;
			case EV_LISTEN: on_listen(); break;
			case EV_CLIENT:
				if (S.clients[idx].fd >= 0)
					on_client(&S.clients[idx], now);
				break;
			case EV_MT_LISTEN: on_mt_listen(now); break;
			case EV_MT_CONN:
				if (S.mt_conns[idx].fd >= 0)
					on_mt_conn(&S.mt_conns[idx], now);
				break;
			case EV_MO_CONN:
				if (S.mo_fd >= 0)
					on_mo_conn(evs[i].events, now);
				break;
			}
			ring_maybe(now_ns());
			mo_kick(now_ns());
		}
		/* ring and MO retry deadlines pass without an event of their own */
		ring_maybe(now_ns());
		mo_kick(now_ns());
	}
	if (S.link_path && S.plugged)
		unlink(S.link_path);
	if (S.ctl_path)
		unlink(S.ctl_path);
	logmsg("exit: %" PRIu64 " sessions (%" PRIu64 " ok), %" PRIu64 " MO delivered, %" PRIu64
	    " MT sent, %" PRIu64 " rings", S.sessions, S.sessions_ok, S.mo_delivered, S.mt_sent, S.rings);
	return 0;
}
