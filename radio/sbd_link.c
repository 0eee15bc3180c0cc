/*
 * sbd_link.c - an Iridium SBD modem as a link of the daemon (type = sbd,
 * issue 5 item 3): the field side.
 *
 * There are no beacons, sessions or acks of ours on a medium paid by the
 * byte.  The neighbour is the command center, configured (peer), and up
 * while the modem is usable (radio/sbd.c says so).  Bundles handed to the
 * link wait here, most urgent first; whenever the modem has no message
 * loaded, as many as fit go into one MO message (radio/sbdmsg.c: compact
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

/* The message at the modem and the bundles in it. */
struct message {
	struct waiting *w[FRAME_BUNDLES_MAX];
	unsigned n;
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
	uint64_t bundles_tx, bundles_rx, messages, mt_bad, too_big;
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

/* A message taken back from the modem: its bundles wait again, in order. */
static void
message_unpack(struct sbd_link *s, struct message *m)
{
	for (unsigned i = 0; i < m->n; i++)
		queue_insert(s, m->w[i]);
	free(m);
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

/* Load the next message into the modem if it has none. */
static void
pump(struct sbd_link *s)
{
	struct sbdmsg_item items[FRAME_BUNDLES_MAX];
	struct waiting *w;
	struct message *m;
	uint64_t now = loop_now(), when = 0;
	size_t n = 0, taken = 0;
	ssize_t len;
	int r;

	if (!s->up || s->at_modem != NULL || TAILQ_EMPTY(&s->queue))
		return;
	if (!due(s, now, &when)) {
		loop_timer_set(s->loop, &s->hold_timer, when > now ? when - now : 1, hold_timer, s);
		return;
	}
	TAILQ_FOREACH(w, &s->queue, entry) {
		if (n == FRAME_BUNDLES_MAX)
			break;
		items[n++] = (struct sbdmsg_item){ w->bundle, w->len };
	}
	if ((len = sbdmsg_pack(&s->tx, items, n, SBD_MO_MAX, s->msg, sizeof(s->msg), &taken)) < 0 ||
	    (m = calloc(1, sizeof(*m))) == NULL) {
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
	m->prio = m->w[0]->prio;
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
	log_debug("link %s: MO message %u delivered, %u bundle(s) in %zu bytes", s->conf.name, momsn, m->n, m->len);
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
	free(m);
	pump(s);
}

static void
on_bundle(void *arg, uint64_t sender, uint64_t xid, const uint8_t *bundle, size_t len)
{
	struct sbd_link *s = arg;

	s->bundles_rx++;
	s->ev.bundle(s->ev.arg, s->link, sender, xid, -1, bundle, len);
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
	if (sbdmsg_open(&s->rx, s->node, s->mt, len, s->rebuilt, sizeof(s->rebuilt), on_bundle, s, &drop,
	    &why) < 0) {
		s->mt_bad++;
		log_limited(&s->rl, "link %s: MT message %u (%zu bytes) dropped: %s", s->conf.name, mtmsn, len, why);
	}
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

static void
sbd_committed(void *x, uint64_t nbr, uint64_t xid)
{
	/* MT bundles: the gateway let go when the modem took the message; nothing goes back. */
}

static void
sbd_refused(void *x, uint64_t nbr, uint64_t xid, int reason)
{
	struct sbd_link *s = x;

	log_limited(&s->rl, "link %s: an MT bundle from ipn:%llu was not stored (reason %d): it is lost to this "
	    "hop; its sender keeps no copy", s->conf.name, (unsigned long long)nbr, reason);
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
	    "\"mt_bad\":%llu,\"too_big\":%llu,\"last_error\":\"%s\"}",
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
	    (unsigned long long)s->too_big, err);
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
	log_info("link %s: Iridium SBD modem on %s, command center ipn:%llu, hold %u ms, mailbox every %u ms%s",
	    c->name, sc->device, (unsigned long long)sc->peer, sc->hold_ms, sc->mailbox_ms,
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
