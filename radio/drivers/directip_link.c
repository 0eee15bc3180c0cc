/*
 * directip_link.c - the command center's side of Iridium SBD links (type =
 * directip, issue 5 item 3): the Iridium gateway's DirectIP interface.
 *
 * MO: the gateway connects to our port and delivers one message per
 * connection (radio/drivers/directip.h).  The modem's IMEI names the unit (config
 * `unit = IMEI NODE`); the payload is an SBD message of bundles
 * (radio/drivers/sbdmsg.h), opened with the network key and our replay window, and
 * each bundle goes to the owner like any received bundle.  The connection
 * is closed only once every bundle in it is durably stored, so the gateway
 * does not count as delivered what a crash here would lose; a bundle the
 * store refuses resets the connection, and the gateway delivers again.
 * Duplicates: the same IMEI, MOMSN and payload again is dropped
 * (directip_dedup, remembered once stored); the MOMSN alone says nothing,
 * since it restarts after AT+SBDC or a modem swapped under the same IMEI,
 * and wraps.  A copy that arrives after a restart of the daemon, when that
 * memory is gone, fails the replay window only if it is from the same
 * boot, and is otherwise recognised by the store as a bundle it has (same
 * source, creation time, sequence): never delivered twice.  Each drop is
 * logged at info and counted (mo_duplicates in `fieldrelay links`).
 *
 * MT: bundles for a unit wait here, most urgent first, and go, as many as
 * fit one 270-byte message, to the gateway's MT port, one connection per
 * message.  An error status, a refused connection or no answer within 10 s
 * puts the bundles back and tries again after a backoff that doubles
 * (retry_min .. retry_max).  A confirmation with a place in the gateway's
 * queue (> 0) is not yet the hop acknowledgement (issue 11 item 2): the
 * gateway holds the message until the modem takes it, but the unit's store
 * may still refuse a bundle (full).  So the bundles stay here until the
 * unit acknowledges the message (by the last bytes of its tag) in a later
 * MO message (radio/drivers/sbdmsg.h); a bundle it refused comes again after a
 * backoff (retry_max, doubling per refusal up to 8 times that, at most
 * ack_timeout), and a message it never acknowledged after ack_timeout
 * (default 24 h: it may wait at the gateway for the unit's next mailbox
 * check; a copy the unit already has is a duplicate to its store, and acked).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto.h"
#include "directip.h"
#include "frame.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "sbd_at.h"
#include "sbdmsg.h"
#include "service.h"

#define DIP_IO_TIMEOUT_MS	10000	/* a gateway connection that says nothing for this long is dropped */
#define DIP_TICK_MS		500
#define DIP_MO_CONNS		16
#define DIP_DEDUP_PER_IMEI	64
#define DIP_DEDUP_AGE_MS	(7ULL * 24 * 3600 * 1000)	/* MOMSNs wrap at 65536; a week is far from that */
#define DIP_UNACKED_MAX		16	/* MT messages per unit waiting for the unit's ack */

struct waiting {
	TAILQ_ENTRY(waiting) entry;
	void *ctx;
	int prio;
	uint64_t not_before;		/* refused by the unit: not again before */
	unsigned nacks;
	size_t len;
	uint8_t bundle[];
};
TAILQ_HEAD(waiting_list, waiting);

/* An MT message the gateway took, until the unit acknowledges it. */
struct unacked {
	bool used;
	uint8_t id[SBDMSG_ID_LEN];
	uint32_t client_id;
	uint64_t at;
	struct waiting *w[FRAME_BUNDLES_MAX];
	unsigned n;
};

struct dip_link;

/* A delivery from the gateway. */
struct mo_conn {
	struct dip_link *d;
	int fd;
	uint64_t deadline;
	uint8_t *buf;
	size_t len, cap;
	bool done;			/* the message is read and handed on */
	bool refused;			/* a bundle was not stored: reset, the gateway tries again */
	unsigned pending;		/* bundles handed on, not yet stored */
	uint64_t xid_lo, xid_hi;	/* the transfer ids of its bundles */
	char imei[DIRECTIP_IMEI_LEN + 1];
	uint16_t momsn;
	uint64_t digest;		/* of the payload */
	bool remember;			/* note IMEI + MOMSN + digest once stored */
};

/* A unit (modem) and its MT traffic. */
struct unit {
	struct dip_link *d;
	char imei[DIRECTIP_IMEI_LEN + 1];
	uint64_t node;
	struct waiting_list queue;
	unsigned n_queue;
	/* the message on its way to the gateway */
	int fd;				/* -1: none */
	uint64_t deadline;
	struct waiting *w[FRAME_BUNDLES_MAX];
	unsigned n;
	uint8_t out[3 + 3 + 21 + 3 + SBD_MT_MAX];
	size_t out_len, out_off;
	uint8_t in[64];
	size_t in_len;
	uint32_t client_id;
	uint8_t out_id[SBDMSG_ID_LEN];	/* the message's id, as the unit will ack it */
	uint64_t retry_at;
	uint32_t backoff_ms;
	struct unacked unacked[DIP_UNACKED_MAX];
	unsigned n_unacked;		/* bundles */
};

struct dip_link {
	struct link *link;
	struct loop *loop;
	struct link_conf conf;
	struct link_events ev;
	uint64_t node;
	const struct link_params *p;
	struct sbdmsg_tx tx;
	struct frame_rx rx;
	int listen_fd;
	struct sockaddr_storage gw;
	socklen_t gw_len;
	struct mo_conn *mo[DIP_MO_CONNS];
	struct unit units[LINK_MAX_UNITS];
	unsigned n_units;
	struct directip_dedup *dedup;
	struct loop_timer tick, up_timer;
	bool up;
	uint64_t next_xid;
	uint32_t next_client_id;
	uint64_t mo_received, mo_duplicates, mo_bad, mo_unknown, mo_refused, mo_empty, bundles_rx;
	uint64_t mt_sent, mt_failed, mt_bytes, bundles_tx;
	uint64_t acks_rx, acks_unknown, bundles_acked, bundles_nacked, ack_timeouts;
	char last_error[160];
	uint8_t msg[SBDMSG_MAX];
	uint8_t rebuilt[SBDMSG_MAX + 1024];
	struct log_ratelimit rl;
};

static void unit_pump(struct unit *u);

static void
set_error(struct dip_link *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_error(struct dip_link *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->last_error, sizeof(d->last_error), fmt, ap);
	va_end(ap);
	log_limited(&d->rl, "link %s: %s", d->conf.name, d->last_error);
}

static struct unit *
unit_by_imei(struct dip_link *d, const char *imei)
{
	for (unsigned i = 0; i < d->n_units; i++)
		if (strcmp(d->units[i].imei, imei) == 0)
			return &d->units[i];
	return NULL;
}

static struct unit *
unit_by_node(const struct dip_link *d, uint64_t node)
{
	for (unsigned i = 0; i < d->n_units; i++)
		if (d->units[i].node == node)
			return (struct unit *)&d->units[i];
	return NULL;
}

/* ---- MO: deliveries from the gateway ---- */

static void
mo_close(struct mo_conn *c, bool reset)
{
	struct dip_link *d = c->d;

	for (unsigned i = 0; i < DIP_MO_CONNS; i++)
		if (d->mo[i] == c)
			d->mo[i] = NULL;
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	loop_del_fd(d->loop, c->fd);
	close(c->fd);
	free(c->buf);
	free(c);
}

/* Every bundle of c is stored (or refused): now the gateway may let go. */
static void
mo_finish(struct mo_conn *c)
{
	struct dip_link *d = c->d;

	if (!c->done || c->pending > 0)
		return;
	if (c->refused) {
		d->mo_refused++;
		set_error(d, "MO message %u from %s: a bundle was not stored; the gateway delivers it again",
		    c->momsn, c->imei);
		mo_close(c, true);
		return;
	}
	if (c->remember)
		directip_dedup_seen(d->dedup, c->imei, c->momsn, c->digest, loop_now());
	mo_close(c, false);
}

struct mo_open {
	struct mo_conn *c;
	struct unit *u;
};

static void
mo_bundle(void *arg, uint64_t sender, uint64_t xid, const uint8_t *bundle, size_t len)
{
	struct mo_open *o = arg;
	struct mo_conn *c = o->c;
	struct dip_link *d = c->d;
	uint64_t id = d->next_xid++;

	if (sender != o->u->node)
		log_limited(&d->rl, "link %s: modem %s is configured as ipn:%llu but its message is from ipn:%llu",
		    d->conf.name, c->imei, (unsigned long long)o->u->node, (unsigned long long)sender);
	if (c->pending == 0 && c->xid_lo == 0)
		c->xid_lo = id;
	c->xid_hi = id;
	c->pending++;
	d->bundles_rx++;
	d->ev.bundle(d->ev.arg, d->link, sender, id, -1, bundle, len);
}

/* Back in u's queue ahead of those of its class: where it was before it left. */
static void
put_back(struct unit *u, struct waiting *w)
{
	struct waiting *it;

	TAILQ_FOREACH(it, &u->queue, entry)
		if (it->prio >= w->prio)
			break;
	if (it)
		TAILQ_INSERT_BEFORE(it, w, entry);
	else
		TAILQ_INSERT_TAIL(&u->queue, w, entry);
	u->n_queue++;
}

/* The unit acknowledged an MT message: what it stored is delivered; what it refused comes again. */
static void
mo_ack(void *arg, uint64_t sender, const struct sbdmsg_ack *a)
{
	struct mo_open *o = arg;
	struct unit *u = o->u;
	struct dip_link *d = u->d;
	struct unacked *m = NULL;
	uint64_t now = loop_now();
	unsigned refused = 0;

	d->acks_rx++;
	for (unsigned i = 0; i < DIP_UNACKED_MAX && m == NULL; i++)
		if (u->unacked[i].used && memcmp(u->unacked[i].id, a->id, SBDMSG_ID_LEN) == 0)
			m = &u->unacked[i];
	if (m == NULL) {
		/* Acked before (a second copy of the MO message), or sent before a restart here. */
		d->acks_unknown++;
		log_debug("link %s: %s acknowledges an MT message not waiting for it", d->conf.name, u->imei);
		return;
	}
	for (unsigned i = m->n; i-- > 0;) {
		struct waiting *w = m->w[i];

		if (a->refused & (UINT32_C(1) << i)) {
			uint64_t delay = (uint64_t)d->conf.dip.retry_max_ms << (w->nacks < 3 ? w->nacks : 3);

			if (delay > d->conf.dip.ack_timeout_ms)
				delay = d->conf.dip.ack_timeout_ms;
			w->nacks++;
			w->not_before = now + delay;
			refused++;
			d->bundles_nacked++;
			put_back(u, w);
			continue;
		}
		d->bundles_acked++;
		u->n_unacked--;
		d->ev.delivered(d->ev.arg, d->link, u->node, w->ctx);
		free(w);
	}
	u->n_unacked -= refused;
	if (refused)
		log_info("link %s: %s did not store %u bundle(s) of MT message %u (full?): sent again later",
		    d->conf.name, u->imei, refused, m->client_id);
	m->used = false;
	unit_pump(u);
}

/* A whole DirectIP message arrived on c. */
static void
mo_message(struct mo_conn *c)
{
	struct dip_link *d = c->d;
	struct directip_mo mo;
	struct mo_open o = { .c = c };
	enum frame_drop drop;
	const char *why;

	if (directip_mo_decode(c->buf, c->len, &mo) < 0) {
		d->mo_bad++;
		set_error(d, "a malformed DirectIP MO message (%zu bytes)", c->len);
		return;
	}
	snprintf(c->imei, sizeof(c->imei), "%s", mo.imei);
	c->momsn = mo.momsn;
	if ((o.u = unit_by_imei(d, mo.imei)) == NULL) {
		d->mo_unknown++;
		set_error(d, "MO message from modem %s, which no unit line names", mo.imei);
		return;
	}
	if (!mo.has_payload) {
		d->mo_empty++;	/* a mailbox check */
		return;
	}
	c->digest = directip_payload_digest(mo.payload, mo.payload_len);
	if (directip_dedup_has(d->dedup, mo.imei, mo.momsn, c->digest, loop_now())) {
		d->mo_duplicates++;
		log_info("link %s: MO message %u from %s dropped: the gateway delivered it again (same MOMSN and "
		    "payload as one stored)", d->conf.name, mo.momsn, mo.imei);
		return;
	}
	d->mo_received++;
	if (mo.payload_len > sizeof(d->msg)) {
		d->mo_bad++;
		return;
	}
	memcpy(d->msg, mo.payload, mo.payload_len);
	c->remember = true;
	if (sbdmsg_open_acks(&d->rx, d->node, d->msg, mo.payload_len, d->rebuilt, sizeof(d->rebuilt), mo_bundle,
	    mo_ack, &o, &drop, &why) < 0) {
		if (drop == FRAME_DROP_REPLAYED) {
			d->mo_duplicates++;	/* the same frame again under another MOMSN: a resent message */
			log_info("link %s: MO message %u from %s dropped: a frame already received (replayed)",
			    d->conf.name, mo.momsn, mo.imei);
			return;
		}
		d->mo_bad++;
		set_error(d, "MO message %u from %s dropped: %s", mo.momsn, mo.imei, why);
	}
}

static void
mo_io(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct mo_conn *c = arg;
	ssize_t n, want;

	if (c->done) {
		/* Waiting for the store; the gateway may only close its side. */
		char junk[64];

		if (read(fd, junk, sizeof(junk)) <= 0)
			loop_mod_fd(loop, fd, 0);
		return;
	}
	for (;;) {
		if (c->len == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 512;
			uint8_t *b;

			if (cap > DIRECTIP_MSG_MAX)
				cap = DIRECTIP_MSG_MAX;
			if (cap == c->cap || (b = realloc(c->buf, cap)) == NULL) {
				c->d->mo_bad++;
				mo_close(c, false);
				return;
			}
			c->buf = b;
			c->cap = cap;
		}
		n = read(fd, c->buf + c->len, c->cap - c->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* The gateway gave up before the whole message came. */
			c->d->mo_bad += c->len > 0;
			mo_close(c, false);
			return;
		}
		c->len += (size_t)n;
		want = directip_msg_len(c->buf, c->len);
		if (want < 0 || (want > 0 && c->len > (size_t)want)) {
			c->d->mo_bad++;
			set_error(c->d, "a DirectIP MO stream that is not one message");
			mo_close(c, false);
			return;
		}
		if (want > 0 && c->len == (size_t)want) {
			mo_message(c);
			c->done = true;	/* only now: a bundle stored at once must not close c under mo_message */
			mo_finish(c);
			return;
		}
	}
}

static void
mo_accept(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct dip_link *d = arg;
	struct mo_conn *c;
	unsigned slot;
	int cfd;

	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		for (slot = 0; slot < DIP_MO_CONNS && d->mo[slot]; slot++)
			;
		if (slot == DIP_MO_CONNS || (c = calloc(1, sizeof(*c))) == NULL) {
			close(cfd);	/* busy: the gateway tries again */
			continue;
		}
		*c = (struct mo_conn){ .d = d, .fd = cfd, .deadline = loop_now() + DIP_IO_TIMEOUT_MS };
		if (loop_add_fd(loop, cfd, EPOLLIN, mo_io, c) < 0) {
			close(cfd);
			free(c);
			continue;
		}
		d->mo[slot] = c;
	}
}

/* ---- MT: to the gateway ---- */

static void
unit_conn_end(struct unit *u, bool ok)
{
	struct dip_link *d = u->d;

	if (u->fd >= 0) {
		loop_del_fd(d->loop, u->fd);
		close(u->fd);
		u->fd = -1;
	}
	if (ok) {
		/* The gateway has it; the unit's ack lets go (unit_pump made sure of a free slot). */
		struct unacked *m = NULL;

		for (unsigned i = 0; i < DIP_UNACKED_MAX && m == NULL; i++)
			if (!u->unacked[i].used)
				m = &u->unacked[i];
		*m = (struct unacked){ .used = true, .client_id = u->client_id, .at = loop_now(), .n = u->n };
		memcpy(m->id, u->out_id, SBDMSG_ID_LEN);
		memcpy(m->w, u->w, u->n * sizeof(u->w[0]));
		u->n_unacked += u->n;
		d->bundles_tx += u->n;
	}
	/* Put back, last first, each ahead of those of its class: the order they left in. */
	for (unsigned i = u->n; !ok && i-- > 0;)
		put_back(u, u->w[i]);
	u->n = 0;
	if (ok) {
		u->backoff_ms = 0;
		d->mt_sent++;
	} else {
		d->mt_failed++;
		u->backoff_ms = u->backoff_ms ? u->backoff_ms * 2 : d->conf.dip.retry_min_ms;
		if (u->backoff_ms > d->conf.dip.retry_max_ms)
			u->backoff_ms = d->conf.dip.retry_max_ms;
		u->retry_at = loop_now() + u->backoff_ms;
	}
	unit_pump(u);
}

static void
mt_io(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct unit *u = arg;
	struct dip_link *d = u->d;
	struct directip_mt_confirm cf;
	ssize_t n, want;
	int err = 0;
	socklen_t el = sizeof(err);

	if (u->out_off < u->out_len) {
		if ((events & (EPOLLERR | EPOLLHUP)) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			set_error(d, "gateway %s: %s", d->conf.dip.gateway, strerror(err ? err : ECONNREFUSED));
			unit_conn_end(u, false);
			return;
		}
		n = send(fd, u->out + u->out_off, u->out_len - u->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			set_error(d, "gateway %s: send: %s", d->conf.dip.gateway, strerror(errno));
			unit_conn_end(u, false);
			return;
		}
		if (n > 0)
			u->out_off += (size_t)n;
		if (u->out_off == u->out_len)
			loop_mod_fd(loop, fd, EPOLLIN);
		return;
	}
	n = read(fd, u->in + u->in_len, sizeof(u->in) - u->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		u->in_len += (size_t)n;
	want = directip_msg_len(u->in, u->in_len);
	if (want > 0 && u->in_len >= (size_t)want) {
		if (directip_mt_confirm_decode(u->in, (size_t)want, &cf) < 0 || cf.client_id != u->client_id) {
			set_error(d, "gateway %s: a confirmation that does not decode or answer message %u",
			    d->conf.dip.gateway, u->client_id);
			unit_conn_end(u, false);
		} else if (cf.status <= 0) {
			set_error(d, "gateway %s refused MT message %u for %s: %s (%d)", d->conf.dip.gateway,
			    u->client_id, u->imei, directip_mt_status_str(cf.status), cf.status);
			unit_conn_end(u, false);
		} else {
			log_debug("link %s: MT message %u for %s queued at the gateway, place %d", d->conf.name,
			    u->client_id, u->imei, cf.status);
			unit_conn_end(u, true);
		}
		return;
	}
	if (n <= 0 || want < 0 || u->in_len == sizeof(u->in)) {
		set_error(d, "gateway %s: no confirmation for MT message %u", d->conf.dip.gateway, u->client_id);
		unit_conn_end(u, false);
	}
}

/* Start the next MT message of u, if one waits and nothing is on its way. */
static void
unit_pump(struct unit *u)
{
	struct dip_link *d = u->d;
	struct sbdmsg_item items[FRAME_BUNDLES_MAX];
	struct waiting *ws[FRAME_BUNDLES_MAX];
	struct directip_mt mt = { .flags = 0 };
	struct waiting *w;
	uint64_t now = loop_now();
	size_t n = 0, taken = 0;
	unsigned slots = 0;
	ssize_t len, k;

	if (u->fd >= 0 || TAILQ_EMPTY(&u->queue) || now < u->retry_at)
		return;
	for (unsigned i = 0; i < DIP_UNACKED_MAX; i++)
		slots += !u->unacked[i].used;
	if (slots == 0)
		return;		/* the unit has not acknowledged enough: wait for it */
	TAILQ_FOREACH(w, &u->queue, entry) {
		if (n == FRAME_BUNDLES_MAX)
			break;
		if (w->not_before > now)
			continue;	/* refused by the unit a while ago */
		ws[n] = w;
		items[n++] = (struct sbdmsg_item){ w->bundle, w->len };
	}
	if (n == 0)
		return;
	d->tx.receiver = u->node;
	if ((len = sbdmsg_pack(&d->tx, items, n, SBD_MT_MAX, d->msg, sizeof(d->msg), &taken)) < 0) {
		set_error(d, "cannot pack an MT message for %s: %s", u->imei, strerror((int)-len));
		u->retry_at = loop_now() + d->conf.dip.retry_max_ms;
		return;
	}
	u->client_id = ++d->next_client_id;
	mt.client_id = u->client_id;
	memcpy(mt.imei, u->imei, sizeof(mt.imei));
	sbdmsg_id(d->msg, (size_t)len, u->out_id);
	if (ws[0]->prio <= PRIO_URGENT)
		mt.flags |= DIRECTIP_MT_HIGH_PRIO;
	mt.has_payload = true;
	mt.payload = d->msg;
	mt.payload_len = (size_t)len;
	if ((k = directip_mt_encode(&mt, u->out, sizeof(u->out))) < 0) {
		set_error(d, "cannot encode an MT message: %s", strerror((int)-k));
		return;
	}
	u->out_len = (size_t)k;
	u->out_off = 0;
	u->in_len = 0;
	if ((u->fd = socket(d->gw.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    (connect(u->fd, (struct sockaddr *)&d->gw, d->gw_len) < 0 && errno != EINPROGRESS) ||
	    loop_add_fd(d->loop, u->fd, EPOLLOUT, mt_io, u) < 0) {
		set_error(d, "gateway %s: connect: %s", d->conf.dip.gateway, strerror(errno));
		if (u->fd >= 0)
			close(u->fd);
		u->fd = -1;
		u->n = 0;
		u->retry_at = loop_now() + d->conf.dip.retry_min_ms;
		return;
	}
	u->deadline = loop_now() + DIP_IO_TIMEOUT_MS;
	for (size_t i = 0; i < taken; i++) {
		TAILQ_REMOVE(&u->queue, ws[i], entry);
		u->n_queue--;
		u->w[u->n++] = ws[i];
	}
	d->mt_bytes += (uint64_t)len;
}

/* Time out silent connections; start MT messages whose backoff ended. */
static void
dip_tick(struct loop *loop, void *arg)
{
	struct dip_link *d = arg;
	uint64_t now = loop_now();

	for (unsigned i = 0; i < DIP_MO_CONNS; i++) {
		struct mo_conn *c = d->mo[i];

		/* A message being stored is waited for; only a silent gateway is dropped. */
		if (c && !c->done && now >= c->deadline) {
			d->mo_bad += c->len > 0;
			mo_close(c, false);
		}
	}
	for (unsigned i = 0; i < d->n_units; i++) {
		struct unit *u = &d->units[i];

		for (unsigned k = 0; k < DIP_UNACKED_MAX; k++) {
			struct unacked *m = &u->unacked[k];

			if (!m->used || now < m->at + d->conf.dip.ack_timeout_ms)
				continue;
			log_info("link %s: %s has not acknowledged MT message %u in %u ms: its %u bundle(s) go again",
			    d->conf.name, u->imei, m->client_id, d->conf.dip.ack_timeout_ms, m->n);
			d->ack_timeouts++;
			for (unsigned j = m->n; j-- > 0;)
				put_back(u, m->w[j]);
			u->n_unacked -= m->n;
			m->used = false;
		}
		if (u->fd >= 0 && now >= u->deadline) {
			set_error(d, "gateway %s: no answer to MT message %u in %d ms", d->conf.dip.gateway,
			    u->client_id, DIP_IO_TIMEOUT_MS);
			unit_conn_end(u, false);
		} else {
			unit_pump(u);
		}
	}
	loop_timer_set(loop, &d->tick, DIP_TICK_MS, dip_tick, d);
}

/* The units are reachable through the gateway from the start (after link_new_ext returned). */
static void
dip_up(struct loop *loop, void *arg)
{
	struct dip_link *d = arg;

	d->up = true;
	for (unsigned i = 0; i < d->n_units; i++)
		d->ev.neighbour(d->ev.arg, d->link, d->units[i].node, true);
}

/* ---- the link_ext interface ---- */

static int
dip_enqueue(void *x, uint64_t nbr, uint64_t total, int prio, void *ctx)
{
	struct dip_link *d = x;
	struct unit *u = unit_by_node(d, nbr);
	struct waiting *w, *it;
	ssize_t need;
	long got;

	if (u == NULL || !d->up)
		return -EHOSTUNREACH;
	if (total > SBDMSG_MAX)
		return -EMSGSIZE;
	if ((w = malloc(sizeof(*w) + total)) == NULL)
		return -ENOMEM;
	if ((got = d->ev.read(d->ev.arg, ctx, 0, w->bundle, (size_t)total)) != (long)total) {
		free(w);
		return got < 0 ? (int)got : -EIO;
	}
	d->tx.receiver = nbr;
	if ((need = sbdmsg_measure(&d->tx, w->bundle, (size_t)total)) < 0 || need > SBD_MT_MAX) {
		free(w);
		log_limited(&d->rl, "link %s: a %llu-byte bundle does not fit one MT message (%d bytes): lower the "
		    "link's fragment size", d->conf.name, (unsigned long long)total, SBD_MT_MAX);
		return -EMSGSIZE;
	}
	w->ctx = ctx;
	w->prio = prio;
	w->not_before = 0;
	w->nacks = 0;
	w->len = (size_t)total;
	TAILQ_FOREACH(it, &u->queue, entry)
		if (it->prio > prio)
			break;
	if (it)
		TAILQ_INSERT_BEFORE(it, w, entry);
	else
		TAILQ_INSERT_TAIL(&u->queue, w, entry);
	u->n_queue++;
	unit_pump(u);
	return 0;
}

static struct mo_conn *
conn_of_xid(struct dip_link *d, uint64_t xid)
{
	for (unsigned i = 0; i < DIP_MO_CONNS; i++)
		if (d->mo[i] && d->mo[i]->pending > 0 && xid >= d->mo[i]->xid_lo && xid <= d->mo[i]->xid_hi)
			return d->mo[i];
	return NULL;
}

static void
dip_committed(void *x, uint64_t nbr, uint64_t xid)
{
	struct mo_conn *c = conn_of_xid(x, xid);

	if (c) {
		c->pending--;
		mo_finish(c);
	}
}

static void
dip_refused(void *x, uint64_t nbr, uint64_t xid, int reason)
{
	struct mo_conn *c = conn_of_xid(x, xid);

	if (c) {
		c->refused = true;
		c->pending--;
		mo_finish(c);
	}
}

static bool
dip_neighbour_up(const void *x, uint64_t nbr)
{
	const struct dip_link *d = x;

	return d->up && unit_by_node(d, nbr) != NULL;
}

static void
dip_neighbours(void *x, link_neighbour_fn *fn, void *arg)
{
	struct dip_link *d = x;
	struct link_addr none = { 0 };

	for (unsigned i = 0; d->up && i < d->n_units; i++)
		fn(arg, d->link, d->units[i].node, &none);
}

static void
dip_metrics(const void *x, struct link_metrics *m)
{
	const struct dip_link *d = x;
	unsigned waiting = 0, unacked = 0;
	char err[sizeof(d->last_error) * 2];
	size_t k = 0;

	for (unsigned i = 0; i < d->n_units; i++) {
		waiting += d->units[i].n_queue + d->units[i].n;
		unacked += d->units[i].n_unacked;
	}
	for (const char *s = d->last_error; *s && k + 3 < sizeof(err); s++) {
		if (*s == '"' || *s == '\\')
			err[k++] = '\\';
		err[k++] = (unsigned char)*s < 0x20 ? ' ' : *s;
	}
	err[k] = '\0';
	m->up = d->up;
	m->neighbours = d->up ? d->n_units : 0;
	m->frames_rx = d->mo_received;
	m->frames_tx = d->mt_sent;
	m->bytes_tx = m->data_bytes_tx = d->mt_bytes;
	for (int i = 1; i < FRAME_DROP_N; i++)
		m->dropped[i] = d->rx.count[i];
	snprintf(m->ext_json, sizeof(m->ext_json),
	    "{\"port\":%u,\"gateway\":\"%s\",\"units\":%u,\"mo_received\":%llu,\"mo_duplicates\":%llu,"
	    "\"mo_bad\":%llu,\"mo_unknown_imei\":%llu,\"mo_refused\":%llu,\"mo_empty\":%llu,\"bundles_rx\":%llu,"
	    "\"mt_sent\":%llu,\"mt_failed\":%llu,\"mt_bytes\":%llu,\"bundles_tx\":%llu,\"bundles_waiting\":%u,"
	    "\"bundles_unacked\":%u,\"acks_rx\":%llu,\"acks_unknown\":%llu,\"bundles_acked\":%llu,"
	    "\"bundles_nacked\":%llu,\"ack_timeouts\":%llu,\"last_error\":\"%s\"}",
	    d->conf.port, d->conf.dip.gateway, d->n_units, (unsigned long long)d->mo_received,
	    (unsigned long long)d->mo_duplicates, (unsigned long long)d->mo_bad, (unsigned long long)d->mo_unknown,
	    (unsigned long long)d->mo_refused, (unsigned long long)d->mo_empty, (unsigned long long)d->bundles_rx,
	    (unsigned long long)d->mt_sent, (unsigned long long)d->mt_failed, (unsigned long long)d->mt_bytes,
	    (unsigned long long)d->bundles_tx, waiting, unacked, (unsigned long long)d->acks_rx,
	    (unsigned long long)d->acks_unknown, (unsigned long long)d->bundles_acked,
	    (unsigned long long)d->bundles_nacked, (unsigned long long)d->ack_timeouts, err);
}

static void
dip_close(void *x)
{
	struct dip_link *d = x;
	struct waiting *w;

	if (d == NULL)
		return;
	loop_timer_cancel(d->loop, &d->tick);
	loop_timer_cancel(d->loop, &d->up_timer);
	for (unsigned i = 0; i < DIP_MO_CONNS; i++)
		if (d->mo[i])
			mo_close(d->mo[i], false);
	for (unsigned i = 0; i < d->n_units; i++) {
		struct unit *u = &d->units[i];

		if (u->fd >= 0) {
			loop_del_fd(d->loop, u->fd);
			close(u->fd);
		}
		for (unsigned k = 0; k < u->n; k++)
			free(u->w[k]);
		for (unsigned k = 0; k < DIP_UNACKED_MAX; k++)
			for (unsigned j = 0; u->unacked[k].used && j < u->unacked[k].n; j++)
				free(u->unacked[k].w[j]);
		while ((w = TAILQ_FIRST(&u->queue)) != NULL) {
			TAILQ_REMOVE(&u->queue, w, entry);
			free(w);
		}
	}
	if (d->listen_fd >= 0) {
		loop_del_fd(d->loop, d->listen_fd);
		close(d->listen_fd);
	}
	directip_dedup_free(d->dedup);
	crypto_replay_free(d->rx.replay);
	free(d);
}

static int
dip_listen(struct dip_link *d, char *err, size_t errlen)
{
	struct link_addr a;
	char text[96];
	int one = 1;

	snprintf(text, sizeof(text), "%s", d->conf.bind[0] ? d->conf.bind : "0.0.0.0");
	if (strchr(text, ':') && text[0] != '[')
		snprintf(text, sizeof(text), "[%s]:%u", d->conf.bind, d->conf.port);
	else
		snprintf(text + strlen(text), sizeof(text) - strlen(text), ":%u", d->conf.port);
	if (link_addr_parse(&a, text, d->conf.port) < 0) {
		snprintf(err, errlen, "link %s: bind %s is not a numeric address", d->conf.name, d->conf.bind);
		return -1;
	}
	if ((d->listen_fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(d->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(d->listen_fd, (struct sockaddr *)&a.sa, a.len) < 0 || listen(d->listen_fd, 16) < 0 ||
	    loop_add_fd(d->loop, d->listen_fd, EPOLLIN, mo_accept, d) < 0) {
		snprintf(err, errlen, "link %s: cannot listen for the gateway on %s: %s", d->conf.name, text,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void *
dip_open(struct link *l, struct loop *loop, const struct link_conf *c, const struct link_params *p,
    const struct link_events *ev, char *err, size_t errlen)
{
	struct dip_link *d;
	struct link_addr gw;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->link = l;
	d->loop = loop;
	d->conf = *c;
	d->ev = *ev;
	d->node = p->node;
	d->listen_fd = -1;
	d->next_xid = 1;
	d->tx = (struct sbdmsg_tx){ .sender = p->sender, .keys = p->keys, .flags = p->flags };
	d->rx = (struct frame_rx){ .keys = p->keys, .flags = p->flags, .self = (uint32_t)p->node };
	if ((d->rx.replay = crypto_replay_new(0)) == NULL ||
	    (d->dedup = directip_dedup_new(DIP_DEDUP_PER_IMEI, LINK_MAX_UNITS * 4, DIP_DEDUP_AGE_MS)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (link_addr_parse(&gw, c->dip.gateway, 10800) < 0) {
		snprintf(err, errlen, "link %s: gateway %s is not a numeric address:port", c->name, c->dip.gateway);
		goto fail;
	}
	memcpy(&d->gw, &gw.sa, sizeof(d->gw));
	d->gw_len = gw.len;
	for (unsigned i = 0; i < c->dip.n_units; i++) {
		struct unit *u = &d->units[d->n_units++];

		u->d = d;
		snprintf(u->imei, sizeof(u->imei), "%s", c->dip.units[i].imei);
		u->node = c->dip.units[i].node;
		u->fd = -1;
		TAILQ_INIT(&u->queue);
	}
	if (dip_listen(d, err, errlen) < 0)
		goto fail;
	loop_timer_set(loop, &d->tick, DIP_TICK_MS, dip_tick, d);
	loop_timer_set(loop, &d->up_timer, 0, dip_up, d);
	log_info("link %s: DirectIP, MO on port %u, MT to gateway %s, %u unit(s)", c->name, c->port,
	    c->dip.gateway, d->n_units);
	return d;
fail:
	dip_close(d);
	return NULL;
}

const struct link_ext_ops link_directip_ops = {
	.kind = "directip",
	.open = dip_open,
	.close = dip_close,
	.enqueue = dip_enqueue,
	.committed = dip_committed,
	.refused = dip_refused,
	.neighbour_up = dip_neighbour_up,
	.neighbours = dip_neighbours,
	.metrics = dip_metrics,
};
