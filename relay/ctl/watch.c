/*
 * watch.c - the event stream and live frames of the control socket
 * (PROTOCOL.md, "watch" and "live").
 *
 * A connection that watches gets, at once, the state as it is (each link,
 * each neighbour, the store) as events, then each change as it happens:
 * links up and down with their rate, MTU, loss and round trip; neighbours
 * heard and lost; route changes; the store's use (at most once a second,
 * when it changed).  A connection that watches live frames gets every live
 * frame heard on any link, with the link's name.  Nothing here is stored:
 * an event for a client that does not read (its output over the high-water
 * mark) is dropped and counted, so a stuck agent costs the daemon nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_int.h"
#include "forward.h"
#include "frame.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "views.h"

#define STORE_EVENT_MS		1000	/* store use is sent at most this often */

struct watch {
	struct control *ctl;
	unsigned events, live;		/* connections watching each */
	bool on_events, on_live;	/* registered with the links */
	struct loop_timer store_timer;
	uint64_t last_bundles, last_bytes;
	bool last_full;
};

void
control_set_links(struct control *ctl, struct links *ls)
{
	ctl->links = ls;
}

int
watch_new(struct control *ctl)
{
	if ((ctl->watch = calloc(1, sizeof(*ctl->watch))) == NULL)
		return -ENOMEM;
	ctl->watch->ctl = ctl;
	return 0;
}

/* Queue msg (stolen) for c if it reads its output; else drop it. */
static bool
event_send(struct conn *c, json_t *msg)
{
	if (conn_backlog(c) >= OUT_HIGH_WATER) {
		if (c->events_dropped++ == 0)
			log_limited(&c->ctl->rl, "control: a watcher does not read its events: dropping them");
		json_decref(msg);
		return false;
	}
	conn_send(c, msg);
	return true;
}

/* Send msg to every connection watching events (the reference is not stolen). */
static void
event_all(struct control *ctl, json_t *msg)
{
	struct conn *c, *next;

	for (c = LIST_FIRST(&ctl->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (!c->watch_events)
			continue;
		c->refs++;
		if (event_send(c, json_incref(msg)))
			conn_flush(c);
		next = c->closed ? next : LIST_NEXT(c, entry);
		conn_unref(c);
	}
}

static json_t *
store_event(struct control *ctl, struct store_stats *st)
{
	if (store_stats(node_store(ctl->node), st) < 0)
		return NULL;
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:b}", "event", "store", "bundles", (json_int_t)st->bundles,
	    "bytes", (json_int_t)st->bytes, "used", (json_int_t)st->used, "quota", (json_int_t)st->quota,
	    "disk_full", st->disk_full);
}

static void
store_tick(struct loop *l, void *arg)
{
	struct watch *w = arg;
	struct store_stats st;
	json_t *ev;

	if (w->events == 0)
		return;
	loop_timer_set(l, &w->store_timer, STORE_EVENT_MS, store_tick, w);
	if ((ev = store_event(w->ctl, &st)) == NULL)
		return;
	if (st.bundles != w->last_bundles || st.bytes != w->last_bytes || st.disk_full != w->last_full)
		event_all(w->ctl, ev);
	w->last_bundles = st.bundles;
	w->last_bytes = st.bytes;
	w->last_full = st.disk_full;
	json_decref(ev);
}

static json_t *
link_event(bool up, const char *link, uint64_t rate, uint32_t mtu, double loss, int64_t rtt)
{
	json_t *ev = json_pack("{s:s, s:b, s:s, s:I, s:i}", "event", "link", "up", up, "link", link,
	    "rate_bps", (json_int_t)rate, "mtu", (int)mtu);

	json_object_set_new(ev, "loss", loss >= 0 ? json_real(loss) : json_null());
	json_object_set_new(ev, "rtt_ms", rtt > 0 ? json_integer(rtt) : json_null());
	return ev;
}

static void
on_event(void *arg, const struct links_event *e)
{
	struct control *ctl = arg;
	json_t *ev;

	switch (e->kind) {
	case LINKS_LINK_UP:
	case LINKS_LINK_DOWN:
		ev = link_event(e->kind == LINKS_LINK_UP, e->link, e->rate_bps, e->mtu, e->loss, e->rtt_ms);
		break;
	case LINKS_NEIGHBOUR_UP:
	case LINKS_NEIGHBOUR_DOWN:
		ev = json_pack("{s:s, s:b, s:s, s:I}", "event", "neighbour", "up", e->kind == LINKS_NEIGHBOUR_UP,
		    "link", e->link, "node", (json_int_t)e->node);
		break;
	case LINKS_ROUTE_CHANGED:
		ev = json_pack("{s:s, s:s, s:I}", "event", "route", "link", e->link, "node", (json_int_t)e->node);
		break;
	default:
		return;
	}
	event_all(ctl, ev);
	json_decref(ev);
}

static void
on_live(void *arg, const struct links_live *f)
{
	struct control *ctl = arg;
	struct conn *c, *next;

	for (c = LIST_FIRST(&ctl->conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (!c->watch_live)
			continue;
		c->refs++;
		/* Frame and body go out together or not at all: late voice is no voice. */
		if (conn_reserve(c, f->len + 256) == 0 &&
		    event_send(c, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "event", "live", "link", f->link,
		    "from", (json_int_t)f->from, "group", (json_int_t)f->group, "spurt", (json_int_t)f->spurt,
		    "seq", (json_int_t)f->seq, "body", (json_int_t)f->len)) && !c->closed) {
			if (conn_reserve(c, f->len) == 0) {
				memcpy(c->out + c->out_len, f->data, f->len);
				c->out_len += f->len;
			} else {
				conn_close(c);	/* the body cannot follow: the stream cannot be framed */
			}
			if (!c->closed)
				conn_flush(c);
		}
		next = c->closed ? next : LIST_NEXT(c, entry);
		conn_unref(c);
	}
}

/* The state as it is, for a watcher that just came. */
static void
link_now(void *arg, const struct forward_link_info *li)
{
	const struct link_metrics *m = &li->m;

	event_send(arg, link_event(m->up, li->name, m->rate_bps, m->mtu,
	    m->segments ? (double)m->retransmissions / (double)m->segments : -1, m->rtt_ms));
}

static void
neighbour_now(void *arg, const char *link, uint64_t node, const char *addr, uint32_t cost)
{
	event_send(arg, json_pack("{s:s, s:b, s:s, s:I}", "event", "neighbour", "up", 1, "link", link,
	    "node", (json_int_t)node));
}

void
watch_op(struct conn *c, json_t *req, json_t *tag)
{
	struct control *ctl = c->ctl;
	struct watch *w = ctl->watch;
	json_t *events = json_object_get(req, "events"), *live = json_object_get(req, "live");
	struct store_stats st;
	json_t *ev;

	if ((events && !json_is_boolean(events)) || (live && !json_is_boolean(live))) {
		conn_error(c, tag, "bad-request", "\"events\" and \"live\" must be true or false");
		return;
	}
	if (c->receiving || c->watch_events || c->watch_live) {
		conn_error(c, tag, "bad-request", "this connection is already receiving");
		return;
	}
	c->watch_events = events == NULL || json_is_true(events);
	c->watch_live = json_is_true(live);
	if (!c->watch_events && !c->watch_live) {
		conn_error(c, tag, "bad-request", "watch needs \"events\" or \"live\" (or both)");
		return;
	}
	if (c->watch_events && w->events++ == 0) {
		if (ctl->links && !w->on_events) {
			links_watch(ctl->links, on_event, ctl);
			w->on_events = true;
		}
		loop_timer_set(ctl->loop, &w->store_timer, STORE_EVENT_MS, store_tick, w);
	}
	if (c->watch_live && w->live++ == 0 && ctl->links && !w->on_live) {
		links_on_live(ctl->links, on_live, ctl);
		w->on_live = true;
	}
	conn_answer(c, tag, json_pack("{s:b, s:b, s:b}", "ok", 1, "events", c->watch_events, "live", c->watch_live));
	if (!c->watch_events)
		return;
	if (ctl->forward) {
		forward_links(ctl->forward, link_now, c);
		forward_neighbours(ctl->forward, neighbour_now, c);
	}
	if ((ev = store_event(ctl, &st)) != NULL)
		event_send(c, ev);
}

void
watch_stop(struct conn *c)
{
	struct watch *w = c->ctl->watch;

	if (w == NULL)
		return;
	if (c->watch_events && --w->events == 0)
		loop_timer_cancel(c->ctl->loop, &w->store_timer);
	if (c->watch_live)
		w->live--;
	/* The links keep calling us (cheap) until the daemon stops: watchers come and go. */
	c->watch_events = c->watch_live = false;
}

void
watch_free(struct control *ctl)
{
	struct watch *w = ctl->watch;

	if (w == NULL)
		return;
	loop_timer_cancel(ctl->loop, &w->store_timer);
	if (ctl->links && w->on_events)
		links_unwatch(ctl->links, on_event, ctl);
	if (ctl->links && w->on_live)
		links_off_live(ctl->links, on_live, ctl);
	free(w);
	ctl->watch = NULL;
}

/* ---- live ---- */

static int
field_u64(json_t *req, const char *key, uint64_t *v)
{
	json_t *x = json_object_get(req, key);

	if (x == NULL) {
		*v = 0;
		return 0;
	}
	if (!json_is_integer(x) || json_integer_value(x) < 0)
		return -1;
	*v = (uint64_t)json_integer_value(x);
	return 0;
}

void
watch_live_send(struct conn *c, json_t *req, const uint8_t *mem, int fd, uint64_t len)
{
	json_t *tag = json_object_get(req, "tag");
	uint64_t node, group, spurt, seq;
	int r;

	if (field_u64(req, "node", &node) < 0 || field_u64(req, "group", &group) < 0 ||
	    field_u64(req, "spurt", &spurt) < 0 || field_u64(req, "seq", &seq) < 0) {
		conn_error(c, tag, "bad-request", "\"node\", \"group\", \"spurt\" and \"seq\" must be non-negative integers");
		return;
	}
	if (mem == NULL || len == 0 || len > FRAME_VOICE_MAX) {
		conn_error(c, tag, "too-big", "a live frame is 1 .. %d bytes, not %" PRIu64, FRAME_VOICE_MAX, len);
		return;
	}
	if (c->ctl->links == NULL) {
		conn_error(c, tag, "unreachable", "this daemon has no links");
		return;
	}
	r = links_send_live(c->ctl->links, node, group, spurt, seq, mem, (size_t)len);
	if (r == -EHOSTUNREACH && node)
		conn_error(c, tag, "unreachable", "node %" PRIu64 " is not a neighbour that is up", node);
	else if (r == -EHOSTUNREACH)
		conn_error(c, tag, "unreachable", "no neighbour is up");
	else if (r == -EAGAIN)
		conn_error(c, tag, "busy", "no live link can take the frame now");
	else if (r == -EMSGSIZE)
		conn_error(c, tag, "too-big", "the frame is too big for the live links' MTU");
	else if (r < 0)
		conn_error(c, tag, "io", "live frame not sent: %s", strerror(-r));
	else if (tag)	/* answered only when asked (a tag), or when it fails: voice is 50 frames a second */
		conn_answer(c, tag, json_pack("{s:b, s:i}", "ok", 1, "links", r));
}
