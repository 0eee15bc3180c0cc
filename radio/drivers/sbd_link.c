/*
 * sbd_link.c - an Iridium SBD modem as a link of the daemon (type = sbd,
 * issue 5 item 3): the field side.
 *
 * There are no beacons, sessions or acks of ours on a medium paid by the
 * byte.  The neighbour is the command center, configured (peer), and up
 * while the modem is usable (radio/drivers/sbd.c says so).  Bundles handed to the
 * link wait here, most urgent first; whenever the modem has no message
 * loaded, as many as fit go into one MO message (radio/drivers/sbdmsg.c: compact
 * form, sealed with the network key and the link's tag length) and the
 * modem runs its sessions.  A session with MO status 0-4 means the gateway
 * has the message: that is the hop acknowledgement of every bundle in it,
 * reported to the owner exactly like a commit ack on another link, so the
 * store lets each go once.  Until then the bundles stay in the store; a
 * daemon killed meanwhile sends them again after its restart (the command
 * center's store recognises a second copy).
 *
 * Only one message is at the modem at a time: it has one MO buffer, and
 * keeping the rest here lets later bundles share a message.  An urgent
 * bundle that arrives while a less urgent message waits for its session
 * (backoff, no signal) takes that message back and goes first.  A
 * non-urgent bundle may wait up to hold_ms for company, so positions sent
 * one by one share messages.  MT messages arrive from sessions the modem
 * starts (mailbox checks at an interval, ring alerts, and every MO
 * session): their bundles go to the owner like any received bundle.
 *
 * MT acknowledgements (issue 11 item 2): the command center keeps each MT
 * message's bundles until we say our store has them, since the gateway's
 * confirmation says nothing about our store (full, say).  Once every
 * bundle of an MT message is stored or refused, its ack (radio/drivers/sbdmsg.h:
 * 5 bytes, with the bundles refused for want of room, which the center
 * sends again) waits for the next MO message, which it rides on for
 * nothing.  Only if none goes within ack_hold (default 10 min) does an MO
 * message of acks alone go: the center is in no hurry (its copy is safe;
 * a refused bundle comes again only after a backoff anyway), and acks of
 * MT messages that arrive meanwhile share it.  Acks live in memory: after a
 * restart here the center sends unacknowledged bundles again after its
 * ack_timeout, and our store takes a copy it has as a duplicate (acked).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "bundle.h"
#include "crypto.h"
#include "frame.h"
#include "link.h"
#include "log.h"
#include "loop.h"
#include "sbd.h"
#include "sbdmsg.h"
#include "service.h"

#define SBD_LINK_BUNDLE_MAX	SBDMSG_MAX	/* larger bundles never fit a message */
#define ACK_SLOTS		64		/* MT messages being stored or acknowledged */

struct waiting {
	TAILQ_ENTRY(waiting) entry;
	void *ctx;
	int prio;
	uint64_t since;			/* monotonic ms it was handed to us */
	size_t cost;			/* its bytes in a shared message */
	size_t len;
	uint8_t bundle[];
};
TAILQ_HEAD(waiting_list, waiting);

/* An MT message: its bundles being stored, then its ack waiting or on its way. */
enum ack_state { ACK_FREE, ACK_STORING, ACK_READY, ACK_SENDING };

struct mt_ack {
	enum ack_state state;
	struct sbdmsg_ack a;
	uint64_t xid_lo;		/* our transfer ids of its bundles: xid_lo .. xid_lo + n - 1 */
	unsigned n, pending;
	bool opened;			/* every bundle handed on */
	uint64_t ready_at;
};

/* The message at the modem and the bundles (and acks) in it. */
struct message {
	struct waiting *w[FRAME_BUNDLES_MAX];
	unsigned n;
	struct mt_ack *acks[SBDMSG_ACKS_MAX];
	unsigned n_acks;
	int prio;
	size_t len;
};

struct sbd_link {
	struct link *link;
	struct loop *loop;
	struct link_conf conf;
	struct link_events ev;
	uint64_t node;
	struct sbd_port *port;
	struct sbdmsg_tx tx;
	struct frame_rx rx;
	bool up;
	struct waiting_list queue;	/* most urgent first, FIFO within a class */
	unsigned n_queue;
	struct message *at_modem;
	struct loop_timer hold_timer;
	struct mt_ack acks[ACK_SLOTS];
	struct mt_ack *receiving;	/* the MT message being opened */
	uint64_t next_xid;
	uint64_t bundles_tx, bundles_rx, messages, mt_bad, too_big;
	uint64_t acks_sent, nacks_sent, mt_refused, acks_lost;
	uint8_t msg[SBDMSG_MAX];
	uint8_t mt[SBD_MT_MAX];
	uint8_t rebuilt[SBDMSG_MAX + 1024];
	struct log_ratelimit rl;
};

static void pump(struct sbd_link *s);

static void
queue_insert(struct sbd_link *s, struct waiting *w)
{
	struct waiting *it;

	TAILQ_FOREACH(it, &s->queue, entry)
		if (it->prio > w->prio)
			break;
	if (it)
		TAILQ_INSERT_BEFORE(it, w, entry);
	else
		TAILQ_INSERT_TAIL(&s->queue, w, entry);
	s->n_queue++;
}

/* A message taken back from the modem: its bundles wait again, in order, and its acks. */
static void
message_unpack(struct sbd_link *s, struct message *m)
{
	for (unsigned i = 0; i < m->n; i++)
		queue_insert(s, m->w[i]);
	for (unsigned i = 0; i < m->n_acks; i++)
		m->acks[i]->state = ACK_READY;
	free(m);
}

/* The acks that may go, oldest first (slot order is close enough): how many, and when the first waits from. */
static unsigned
acks_ready(struct sbd_link *s, struct mt_ack **out, unsigned max, uint64_t *oldest)
{
	unsigned n = 0;

	*oldest = UINT64_MAX;
	for (unsigned i = 0; i < ACK_SLOTS; i++) {
		struct mt_ack *a = &s->acks[i];

		if (a->state != ACK_READY)
			continue;
		if (a->ready_at < *oldest)
			*oldest = a->ready_at;
		if (n < max)
			out[n++] = a;
	}
	return n;
}

static void
hold_timer(struct loop *loop, void *arg)
{
	pump(arg);
}

/*
 * Does the head of the queue go now?  Urgent bundles always; others once
 * the oldest waited hold_ms, or when there is more than one message's
 * worth (waiting longer would not save a message: the first is full).
 */
static bool
due(struct sbd_link *s, uint64_t now, uint64_t *when)
{
	struct waiting *w, *oldest = NULL;
	size_t bytes = sbdmsg_overhead(&s->tx);

	TAILQ_FOREACH(w, &s->queue, entry) {
		if (w->prio <= PRIO_URGENT)
			return true;
		if (oldest == NULL || w->since < oldest->since)
			oldest = w;
		bytes += w->cost;
	}
	if (oldest == NULL)
		return false;
	if (oldest->since + s->conf.sbd.hold_ms <= now || bytes > SBD_MO_MAX)
		return true;
	*when = oldest->since + s->conf.sbd.hold_ms;
	return false;
}

/*
 * Load the next message into the modem if it has none: when bundles are due
 * (with any acks that wait), or when an ack waited ack_hold (with whatever
 * bundles wait).
 */
static void
pump(struct sbd_link *s)
{
	struct sbdmsg_item items[FRAME_BUNDLES_MAX];
	struct sbdmsg_ack acks[SBDMSG_ACKS_MAX];
	struct mt_ack *slots[SBDMSG_ACKS_MAX];
	struct waiting *w;
	struct message *m;
	uint64_t now = loop_now(), when = UINT64_MAX, oldest;
	size_t n = 0, taken = 0, acks_taken = 0;
	unsigned n_acks;
	bool bundles_due;
	ssize_t len;
	int r;

	if (!s->up || s->at_modem != NULL)
		return;
	n_acks = acks_ready(s, slots, SBDMSG_ACKS_MAX, &oldest);
	if (TAILQ_EMPTY(&s->queue) && n_acks == 0)
		return;
	bundles_due = !TAILQ_EMPTY(&s->queue) && due(s, now, &when);
	if (!bundles_due && (n_acks == 0 || oldest + s->conf.sbd.ack_hold_ms > now)) {
		if (n_acks && oldest + s->conf.sbd.ack_hold_ms < when)
			when = oldest + s->conf.sbd.ack_hold_ms;
		loop_timer_set(s->loop, &s->hold_timer, when > now ? when - now : 1, hold_timer, s);
		return;
	}
	TAILQ_FOREACH(w, &s->queue, entry) {
		if (n == FRAME_BUNDLES_MAX - 1)		/* one entry for the ack record */
			break;
		items[n++] = (struct sbdmsg_item){ w->bundle, w->len };
	}
	for (unsigned i = 0; i < n_acks; i++)
		acks[i] = slots[i]->a;
	if ((len = sbdmsg_pack_acks(&s->tx, items, n, acks, n_acks, SBD_MO_MAX, s->msg, sizeof(s->msg), &taken,
	    &acks_taken)) < 0 || (m = calloc(1, sizeof(*m))) == NULL) {
		log_limited(&s->rl, "link %s: cannot pack a message: %s", s->conf.name,
		    strerror(len < 0 ? (int)-len : ENOMEM));
		loop_timer_set(s->loop, &s->hold_timer, 1000, hold_timer, s);
		return;
	}
	for (size_t i = 0; i < taken; i++) {
		w = TAILQ_FIRST(&s->queue);
		TAILQ_REMOVE(&s->queue, w, entry);
		s->n_queue--;
		m->w[m->n++] = w;
	}
	for (size_t i = 0; i < acks_taken; i++) {
		slots[i]->state = ACK_SENDING;
		m->acks[m->n_acks++] = slots[i];
	}
	/* Acks alone go as the least urgent: any bundle may take their message back and carry them. */
	m->prio = m->n ? m->w[0]->prio : PRIO_BULK;
	m->len = (size_t)len;
	if ((r = sbd_port_send(s->port, s->msg, (size_t)len, m->prio, m)) < 0) {
		log_limited(&s->rl, "link %s: the modem does not take a %zd-byte message: %s", s->conf.name, len,
		    strerror(-r));
		message_unpack(s, m);
		loop_timer_set(s->loop, &s->hold_timer, 1000, hold_timer, s);
		return;
	}
	s->at_modem = m;
	s->messages++;
}

/* ---- the modem's events ---- */

static void
on_delivered(void *arg, void *ctx, uint16_t momsn)
{
	struct sbd_link *s = arg;
	struct message *m = ctx;

	if (m == s->at_modem)
		s->at_modem = NULL;
	log_debug("link %s: MO message %u delivered, %u bundle(s) and %u ack(s) in %zu bytes", s->conf.name, momsn,
	    m->n, m->n_acks, m->len);
	for (unsigned i = 0; i < m->n_acks; i++) {
		s->acks_sent++;
		s->nacks_sent += m->acks[i]->a.refused != 0;
		m->acks[i]->state = ACK_FREE;
	}
	/* The gateway has it: the hop acknowledgement of every bundle in it. */
	for (unsigned i = 0; i < m->n; i++) {
		s->bundles_tx++;
		s->ev.delivered(s->ev.arg, s->link, s->conf.sbd.peer, m->w[i]->ctx);
		free(m->w[i]);
	}
	free(m);
	pump(s);
}

static void
on_failed(void *arg, void *ctx, const char *why)
{
	struct sbd_link *s = arg;
	struct message *m = ctx;

	if (m == s->at_modem)
		s->at_modem = NULL;
	log_warnx("link %s: the modem refused a %zu-byte message: %s", s->conf.name, m->len, why);
	for (unsigned i = 0; i < m->n; i++) {
		s->ev.returned(s->ev.arg, s->link, s->conf.sbd.peer, m->w[i]->ctx, -EMSGSIZE);
		free(m->w[i]);
	}
	for (unsigned i = 0; i < m->n_acks; i++)
		m->acks[i]->state = ACK_READY;
	free(m);
	pump(s);
}

/* An MT message whose bundles are all stored or refused: its ack may go. */
static void
ack_check(struct sbd_link *s, struct mt_ack *a)
{
	if (a->state != ACK_STORING || !a->opened || a->pending > 0)
		return;
	a->state = ACK_READY;
	a->ready_at = loop_now();
	pump(s);
}

static struct mt_ack *
ack_of_xid(struct sbd_link *s, uint64_t xid)
{
	for (unsigned i = 0; i < ACK_SLOTS; i++) {
		struct mt_ack *a = &s->acks[i];

		if (a->state == ACK_STORING && xid >= a->xid_lo && xid < a->xid_lo + a->n)
			return a;
	}
	return NULL;
}

static void
on_bundle(void *arg, uint64_t sender, uint64_t xid, const uint8_t *bundle, size_t len)
{
	struct sbd_link *s = arg;
	struct mt_ack *a = s->receiving;
	uint64_t id = s->next_xid++;	/* ours: unique across MT messages */

	s->bundles_rx++;
	if (a && a->n < FRAME_BUNDLES_MAX) {
		a->n++;
		a->pending++;
	}
	s->ev.bundle(s->ev.arg, s->link, sender, id, -1, bundle, len);
}

static void
on_received(void *arg, const uint8_t *msg, size_t len, uint16_t mtmsn)
{
	struct sbd_link *s = arg;
	enum frame_drop drop;
	const char *why;

	if (len > sizeof(s->mt)) {
		s->mt_bad++;
		return;
	}
	memcpy(s->mt, msg, len);
	for (unsigned i = 0; i < ACK_SLOTS && s->receiving == NULL; i++)
		if (s->acks[i].state == ACK_FREE)
			s->receiving = &s->acks[i];
	if (s->receiving) {
		*s->receiving = (struct mt_ack){ .state = ACK_STORING, .xid_lo = s->next_xid };
		sbdmsg_id(msg, len, s->receiving->a.id);
	} else {
		s->acks_lost++;
		log_limited(&s->rl, "link %s: %d MT messages wait for their acks: MT message %u goes unacknowledged "
		    "(the command center sends it again after its ack_timeout)", s->conf.name, ACK_SLOTS, mtmsn);
	}
	if (sbdmsg_open(&s->rx, s->node, s->mt, len, s->rebuilt, sizeof(s->rebuilt), on_bundle, s, &drop,
	    &why) < 0) {
		s->mt_bad++;
		log_limited(&s->rl, "link %s: MT message %u (%zu bytes) dropped: %s", s->conf.name, mtmsn, len, why);
		if (s->receiving)
			s->receiving->state = ACK_FREE;	/* nothing was handed on: no ack (a copy is not acked twice) */
	} else if (s->receiving) {
		s->receiving->opened = true;
		ack_check(s, s->receiving);
	}
	s->receiving = NULL;
}

/* Every bundle here and at the modem goes back to the owner (the modem is gone). */
static void
return_all(struct sbd_link *s)
{
	struct waiting *w;
	void *ctx;

	while ((ctx = sbd_drain(sbd_port_core(s->port))) != NULL) {
		if (ctx == s->at_modem)
			s->at_modem = NULL;
		message_unpack(s, ctx);
	}
	while ((w = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, w, entry);
		s->n_queue--;
		s->ev.returned(s->ev.arg, s->link, s->conf.sbd.peer, w->ctx, -ENETDOWN);
		free(w);
	}
}

static void
on_link(void *arg, bool up, const char *why)
{
	struct sbd_link *s = arg;

	if (up == s->up)
		return;
	s->up = up;
	log_info("link %s: modem %s (%s): command center ipn:%llu %s", s->conf.name, up ? "up" : "down", why,
	    (unsigned long long)s->conf.sbd.peer, up ? "reachable" : "unreachable");
	if (!up)
		return_all(s);
	s->ev.neighbour(s->ev.arg, s->link, s->conf.sbd.peer, up);
	pump(s);
}

/* ---- the link_ext interface ---- */

static int
sbd_enqueue(void *x, uint64_t nbr, uint64_t total, int prio, void *ctx)
{
	struct sbd_link *s = x;
	struct waiting *w;
	ssize_t need;
	long got;

	if (!s->up || nbr != s->conf.sbd.peer)
		return -EHOSTUNREACH;
	if (total > SBD_LINK_BUNDLE_MAX)
		goto too_big;
	if ((w = malloc(sizeof(*w) + total)) == NULL)
		return -ENOMEM;
	if ((got = s->ev.read(s->ev.arg, ctx, 0, w->bundle, (size_t)total)) != (long)total) {
		free(w);
		return got < 0 ? (int)got : -EIO;
	}
	if ((need = sbdmsg_measure(&s->tx, w->bundle, (size_t)total)) < 0 || need > SBD_MO_MAX) {
		free(w);
		goto too_big;
	}
	w->ctx = ctx;
	w->prio = prio;
	w->cost = (size_t)need - sbdmsg_overhead(&s->tx) + 2;
	w->since = loop_now();
	w->len = (size_t)total;
	queue_insert(s, w);
	/* An urgent bundle does not wait behind a message that has not started its session. */
	if (s->at_modem && prio < s->at_modem->prio) {
		void *back = sbd_drain(sbd_port_core(s->port));

		if (back != NULL) {
			if (back == s->at_modem)
				s->at_modem = NULL;
			message_unpack(s, back);
		}
	}
	pump(s);
	return 0;
too_big:
	s->too_big++;
	log_limited(&s->rl, "link %s: a %llu-byte bundle does not fit one SBD message (%d bytes): lower the "
	    "link's fragment size", s->conf.name, (unsigned long long)total, SBD_MO_MAX);
	return -EMSGSIZE;
}

/* A newer bundle replaces ctx (a position superseded): take it back unless
 * its message is in a session now. */
static int
sbd_withdraw(void *x, uint64_t nbr, void *ctx)
{
	struct sbd_link *s = x;
	struct waiting *w;
	void *back;

	for (unsigned i = 0; s->at_modem && i < s->at_modem->n; i++) {
		if (s->at_modem->w[i]->ctx != ctx)
			continue;
		if ((back = sbd_drain(sbd_port_core(s->port))) == NULL)
			return -EBUSY;
		if (back == s->at_modem)
			s->at_modem = NULL;
		message_unpack(s, back);
		break;
	}
	TAILQ_FOREACH(w, &s->queue, entry)
		if (w->ctx == ctx)
			break;
	if (w == NULL)
		return -ENOENT;
	TAILQ_REMOVE(&s->queue, w, entry);
	s->n_queue--;
	free(w);
	pump(s);
	return 0;
}

/* An MT bundle is stored (or a copy we had): its message's ack counts it as taken. */
static void
sbd_committed(void *x, uint64_t nbr, uint64_t xid)
{
	struct sbd_link *s = x;
	struct mt_ack *a = ack_of_xid(s, xid);

	if (a && a->pending > 0) {
		a->pending--;
		ack_check(s, a);
	}
}

/* Not stored: for want of room the ack asks for it again; a bundle that can never be stored is not. */
static void
sbd_refused(void *x, uint64_t nbr, uint64_t xid, int reason)
{
	struct sbd_link *s = x;
	struct mt_ack *a = ack_of_xid(s, xid);

	s->mt_refused++;
	log_limited(&s->rl, "link %s: an MT bundle from ipn:%llu was not stored (reason %d)%s", s->conf.name,
	    (unsigned long long)nbr, reason, a && reason == ABORT_REFUSED_QUOTA ?
	    ": the command center keeps it and sends it again" : "");
	if (a && a->pending > 0) {
		if (reason == ABORT_REFUSED_QUOTA)
			a->a.refused |= UINT32_C(1) << (xid - a->xid_lo);
		a->pending--;
		ack_check(s, a);
	}
}

static bool
sbd_neighbour_up(const void *x, uint64_t nbr)
{
	const struct sbd_link *s = x;

	return s->up && nbr == s->conf.sbd.peer;
}

static void
sbd_neighbours(void *x, link_neighbour_fn *fn, void *arg)
{
	struct sbd_link *s = x;
	struct link_addr none = { 0 };

	if (s->up)
		fn(arg, s->link, s->conf.sbd.peer, &none);
}

/* s as a JSON string into out (at most cap): quotes, backslashes and control characters escaped. */
static void
json_str(char *out, size_t cap, const char *s)
{
	size_t k = 0;

	for (; *s && k + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			k += (size_t)snprintf(out + k, cap - k, "\\%c", c);
		else if (c < 0x20)
			k += (size_t)snprintf(out + k, cap - k, "\\u%04x", c);
		else
			out[k++] = (char)c;
	}
	out[k] = '\0';
}

static void
sbd_metrics(const void *x, struct link_metrics *m)
{
	const struct sbd_link *s = x;
	const struct link_sbd_conf *c = &s->conf.sbd;
	struct sbd_stats st;
	char state[64], err[300];
	uint64_t bb = s->conf.budget_bytes;
	unsigned waiting_acks = 0;

	for (unsigned i = 0; i < ACK_SLOTS; i++)
		waiting_acks += s->acks[i].state == ACK_READY || s->acks[i].state == ACK_SENDING;
	sbd_port_stats(s->port, &st);
	m->up = s->up;
	m->neighbours = s->up ? 1 : 0;
	m->frames_tx = st.mo_messages;
	m->bytes_tx = m->data_bytes_tx = st.mo_bytes;
	m->frames_rx = st.mt_messages;
	m->bytes_rx = st.mt_bytes;
	m->budget_bytes = bb;
	m->budget_used = bb ? st.period_bytes : 0;
	for (int i = 0; i < FRAME_DROP_N; i++)
		m->dropped[i] = i == FRAME_OK ? 0 : s->rx.count[i];
	json_str(state, sizeof(state), st.state);
	json_str(err, sizeof(err), st.last_error);
	snprintf(m->ext_json, sizeof(m->ext_json),
	    "{\"state\":\"%s\",\"imei\":\"%s\",\"signal\":%d,\"signal_source\":\"%s\",\"peer\":%llu,"
	    "\"queued\":%u,\"bundles_waiting\":%u,"
	    "\"sessions\":%llu,\"sessions_ok\":%llu,\"sessions_failed\":%llu,\"mailbox_checks\":%llu,"
	    "\"rings\":%llu,\"mo_messages\":%llu,\"mo_bytes\":%llu,\"mt_messages\":%llu,\"mt_bytes\":%llu,"
	    "\"billed_bytes\":%llu,\"cost\":%llu,\"budget_messages\":%u,\"budget_bytes\":%llu,"
	    "\"budget_used_messages\":%llu,\"budget_used_bytes\":%llu,\"budget_left_messages\":%lld,"
	    "\"budget_left_bytes\":%lld,\"budget_spent\":%s,\"bundles_tx\":%llu,\"bundles_rx\":%llu,"
	    "\"mt_bad\":%llu,\"too_big\":%llu,\"mt_refused\":%llu,\"acks_waiting\":%u,\"acks_sent\":%llu,"
	    "\"nacks_sent\":%llu,\"last_error\":\"%s\"}",
	    state, st.imei, st.signal, st.signal_source, (unsigned long long)c->peer, st.queued, s->n_queue,
	    (unsigned long long)st.sessions, (unsigned long long)st.sessions_ok,
	    (unsigned long long)st.sessions_failed, (unsigned long long)st.mailbox_checks,
	    (unsigned long long)st.rings, (unsigned long long)st.mo_messages, (unsigned long long)st.mo_bytes,
	    (unsigned long long)st.mt_messages, (unsigned long long)st.mt_bytes,
	    (unsigned long long)st.billed_bytes, (unsigned long long)st.cost, c->budget_messages,
	    (unsigned long long)bb, (unsigned long long)st.period_messages, (unsigned long long)st.period_bytes,
	    c->budget_messages ? (long long)c->budget_messages - (long long)st.period_messages : -1LL,
	    bb ? (long long)bb - (long long)st.period_bytes : -1LL, st.budget_spent ? "true" : "false",
	    (unsigned long long)s->bundles_tx, (unsigned long long)s->bundles_rx, (unsigned long long)s->mt_bad,
	    (unsigned long long)s->too_big, (unsigned long long)s->mt_refused, waiting_acks,
	    (unsigned long long)s->acks_sent, (unsigned long long)s->nacks_sent, err);
}

static void
sbd_close(void *x)
{
	struct sbd_link *s = x;
	struct waiting *w;
	void *ctx;

	if (s == NULL)
		return;
	loop_timer_cancel(s->loop, &s->hold_timer);
	while (s->port && (ctx = sbd_drain(sbd_port_core(s->port))) != NULL) {
		if (ctx == s->at_modem)
			s->at_modem = NULL;
		message_unpack(s, ctx);
	}
	/* A message in a session when we stop: the core frees its copy; ours goes with it. */
	if (s->at_modem)
		message_unpack(s, s->at_modem);
	sbd_port_free(s->port);
	while ((w = TAILQ_FIRST(&s->queue)) != NULL) {
		TAILQ_REMOVE(&s->queue, w, entry);
		free(w);
	}
	crypto_replay_free(s->rx.replay);
	free(s);
}

static void *
sbd_open(struct link *l, struct loop *loop, const struct link_conf *c, const struct link_params *p,
    const struct link_events *ev, char *err, size_t errlen)
{
	const struct link_sbd_conf *sc = &c->sbd;
	struct sbd_events sev = { .delivered = on_delivered, .failed = on_failed, .received = on_received,
	    .link = on_link };
	struct sbd_params sp;
	struct sbd_link *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->link = l;
	s->loop = loop;
	s->conf = *c;
	s->ev = *ev;
	s->node = p->node;
	s->next_xid = 1;
	TAILQ_INIT(&s->queue);
	s->tx = (struct sbdmsg_tx){ .sender = p->sender, .keys = p->keys, .flags = p->flags, .receiver = sc->peer };
	s->rx = (struct frame_rx){ .keys = p->keys, .flags = p->flags, .self = (uint32_t)p->node };
	if ((s->rx.replay = crypto_replay_new(0)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	sbd_params_default(&sp);
	sp.baud = sc->baud;
	sp.ring_alerts = !sc->no_ring_alerts;
	sp.mailbox_interval_ms = sc->mailbox_ms;
	sp.budget_messages = sc->budget_messages;
	sp.budget_bytes = c->budget_bytes;
	if (c->budget_period_s)
		sp.budget_period_ms = (uint64_t)c->budget_period_s * 1000;
	sp.bill_min_bytes = sc->bill_min;
	sp.bill_unit_bytes = sc->bill_unit;
	sp.price_per_unit = sc->price;
	if (sc->backoff_min_ms)
		sp.backoff_min_ms = sc->backoff_min_ms;
	if (sc->backoff_max_ms)
		sp.backoff_max_ms = sc->backoff_max_ms;
	/* Only one of our messages is at the modem at a time (see the head comment). */
	sp.queue_max = 4;
	if ((s->port = sbd_port_new(loop, sc->device, &sp, &sev, s)) == NULL) {
		snprintf(err, errlen, "link %s: cannot drive a modem on %s at %u baud: %s", c->name, sc->device,
		    sc->baud, strerror(errno));
		goto fail;
	}
	log_info("link %s: Iridium SBD modem on %s, command center ipn:%llu, hold %u ms, acks held %u ms, mailbox "
	    "every %u ms%s", c->name, sc->device, (unsigned long long)sc->peer, sc->hold_ms, sc->ack_hold_ms,
	    sc->mailbox_ms,
	    sc->no_ring_alerts ? "" : " and on ring alerts");
	return s;
fail:
	sbd_close(s);
	return NULL;
}

const struct link_ext_ops link_sbd_ops = {
	.kind = "sbd",
	.open = sbd_open,
	.close = sbd_close,
	.enqueue = sbd_enqueue,
	.withdraw = sbd_withdraw,
	.committed = sbd_committed,
	.refused = sbd_refused,
	.neighbour_up = sbd_neighbour_up,
	.neighbours = sbd_neighbours,
	.metrics = sbd_metrics,
};
