/*
 * test_links.c - the links module (relay/daemon/links.c) between two real
 * nodes on loopback, each with two UDP links to the other, a fast one with
 * small frames and a slow one with large frames: live frames go once per
 * neighbour on its best link that takes them (the slow one when the frame
 * does not fit the fast one's MTU), reach every live watcher with the link
 * they came on, and stop reaching a watcher that left; neighbour, link and
 * route events reach every event watcher with the link's figures.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config.h"
#include "link.h"
#include "links.h"
#include "loop.h"
#include "node.h"
#include "ports.h"
#include "store.h"

#define LIVE_LOG	16
#define EVENT_LOG	64

struct live_rec {
	char link[32];
	uint64_t from, group, spurt, seq;
	uint8_t data[1400];
	size_t len;
};

struct live_watch {
	struct live_rec rec[LIVE_LOG];
	unsigned n;
};

struct event_rec {
	int kind;
	char link[32];
	uint64_t node, rate_bps;
	uint32_t mtu;
	double loss;
};

struct event_watch {
	struct event_rec rec[EVENT_LOG];
	unsigned n;
};

struct side {
	struct config cfg;
	struct node *node;
	struct links *ls;
	unsigned up, down;		/* the owner's neighbour events */
};

struct fx {
	char dir[64];
	struct loop *loop;
	struct side a, b;
	struct live_watch live1, live2;
	struct event_watch ev1, ev2;
};

static void
on_live(void *arg, const struct links_live *f)
{
	struct live_watch *w = arg;
	struct live_rec *r;

	if (w->n == LIVE_LOG)
		return;
	r = &w->rec[w->n++];
	snprintf(r->link, sizeof(r->link), "%s", f->link);
	r->from = f->from;
	r->group = f->group;
	r->spurt = f->spurt;
	r->seq = f->seq;
	r->len = f->len < sizeof(r->data) ? f->len : sizeof(r->data);
	memcpy(r->data, f->data, r->len);
}

static void
on_event(void *arg, const struct links_event *ev)
{
	struct event_watch *w = arg;
	struct event_rec *r;

	if (w->n == EVENT_LOG)
		return;
	r = &w->rec[w->n++];
	r->kind = ev->kind;
	snprintf(r->link, sizeof(r->link), "%s", ev->link);
	r->node = ev->node;
	r->rate_bps = ev->rate_bps;
	r->mtu = ev->mtu;
	r->loss = ev->loss;
}

/* The owner's events: this test forwards nothing. */
static void
owner_neighbour(void *arg, struct link *l, uint64_t nbr, bool up)
{
	struct side *s = arg;

	if (up)
		s->up++;
	else
		s->down++;
}

static void
owner_bundle(void *arg, struct link *l, uint64_t nbr, uint64_t xid, int fd, const uint8_t *mem, uint64_t total)
{
	link_refused(l, nbr, xid, 0);
}

static void
owner_delivered(void *arg, struct link *l, uint64_t nbr, void *ctx)
{
}

static void
owner_returned(void *arg, struct link *l, uint64_t nbr, void *ctx, int reason)
{
}

static long
owner_read(void *arg, void *ctx, uint64_t off, void *buf, size_t len)
{
	return -EIO;
}

static void
open_side(struct fx *f, struct side *s, unsigned id, uint16_t fast, uint16_t slow, uint16_t peer_fast,
    uint16_t peer_slow)
{
	char path[128], conf[128], key[128], err[512];
	struct link_events ev = { .arg = s, .neighbour = owner_neighbour, .bundle = owner_bundle,
	    .delivered = owner_delivered, .returned = owner_returned, .read = owner_read };
	FILE *fp;

	snprintf(path, sizeof(path), "%s/node%u", f->dir, id);
	mkdir(path, 0700);
	snprintf(key, sizeof(key), "%s/network.key", f->dir);
	snprintf(conf, sizeof(conf), "%s/node%u.conf", f->dir, id);
	assert_non_null(fp = fopen(conf, "w"));
	/* Beacons at the default 500 ms: only 1.5 s of silence loses a neighbour, not a busy machine. */
	fprintf(fp, "[node]\nid = %u\ndata_dir = %s\nclock = trusted\n[security]\nkey_file = %s\n"
	    "[link fast]\ntype = udp\nport = %u\npeer = 127.0.0.1:%u\nrate = 54M\nmtu = 256\n"
	    "[link slow]\ntype = udp\nport = %u\npeer = 127.0.0.1:%u\nrate = 9600\nmtu = 1400\n",
	    id, path, key, fast, peer_fast, slow, peer_slow);
	fclose(fp);
	if (config_load(conf, &s->cfg, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	if ((s->node = node_new(&s->cfg, f->loop, err, sizeof(err))) == NULL)
		fail_msg("node: %s", err);
	if ((s->ls = links_new(f->loop, node_config(s->node), node_store(s->node), err, sizeof(err))) == NULL)
		fail_msg("links: %s", err);
	if (links_open(s->ls, &ev, err, sizeof(err)) < 0)
		fail_msg("links_open: %s", err);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint16_t p[4];
	char key[128];
	FILE *fp;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_links.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(key, sizeof(key), "%s/network.key", f->dir);
	assert_non_null(fp = fopen(key, "w"));
	fprintf(fp, "1 %s send\n", "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
	fclose(fp);
	assert_int_equal(chmod(key, 0600), 0);
	assert_non_null(f->loop = loop_new());
	test_free_ports(p, 4);
	open_side(f, &f->a, 1, p[0], p[1], p[2], p[3]);
	/* Watchers before b opens: a's neighbour-up events are heard. */
	links_watch(f->a.ls, on_event, &f->ev1);
	links_watch(f->a.ls, on_event, &f->ev2);
	open_side(f, &f->b, 2, p[2], p[3], p[0], p[1]);
	links_on_live(f->b.ls, on_live, &f->live1);
	links_on_live(f->b.ls, on_live, &f->live2);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[96];

	links_free(f->a.ls);
	links_free(f->b.ls);
	node_free(f->a.node);
	node_free(f->b.node);
	loop_free(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static bool
both_up(struct fx *f)
{
	for (unsigned i = 0; i < 2; i++)
		if (!link_neighbour_up(links_link(f->a.ls, i), 2) || !link_neighbour_up(links_link(f->b.ls, i), 1))
			return false;
	return true;
}

static void
run_until(struct fx *f, bool (*done)(struct fx *), unsigned ms)
{
	uint64_t end = loop_now() + ms;

	while (!done(f) && loop_now() < end)
		loop_once(f->loop, 10);
	assert_true(done(f));
}

/* Let whatever is on its way arrive (loopback: well within this). */
static void
settle(struct fx *f, unsigned ms)
{
	uint64_t end = loop_now() + ms;

	while (loop_now() < end)
		loop_once(f->loop, 5);
}

static unsigned
count_events(const struct event_watch *w, int kind, const char *link, uint64_t node)
{
	unsigned k = 0;

	for (unsigned i = 0; i < w->n; i++)
		if (w->rec[i].kind == kind && strcmp(w->rec[i].link, link) == 0 && w->rec[i].node == node)
			k++;
	return k;
}

static const struct event_rec *
find_event(const struct event_watch *w, int kind, const char *link)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w->rec[i].kind == kind && strcmp(w->rec[i].link, link) == 0)
			return &w->rec[i];
	return NULL;
}

static const struct live_rec *
find_seq(const struct live_watch *w, uint64_t seq)
{
	for (unsigned i = 0; i < w->n; i++)
		if (w->rec[i].seq == seq)
			return &w->rec[i];
	return NULL;
}

static void
test_accessors(void **state)
{
	struct fx *f = *state;
	struct netlink_wireless w;

	assert_int_equal(links_count(f->a.ls), 2);
	assert_string_equal(link_name(links_link(f->a.ls, 0)), "fast");
	assert_string_equal(link_name(links_link(f->a.ls, 1)), "slow");
	assert_null(links_link(f->a.ls, 2));
	assert_int_equal(links_index(f->a.ls, links_link(f->a.ls, 1)), 1);
	assert_int_equal(links_index(f->a.ls, links_link(f->b.ls, 1)), 2);	/* not one of a's */
	assert_string_equal(links_kind(f->a.ls, 0), "udp");
	assert_int_equal(links_wireless(f->a.ls, 0, &w), -ENODEV);	/* bound to no interface */
}

static void
test_neighbour_events(void **state)
{
	struct fx *f = *state;
	const struct event_rec *e;

	run_until(f, both_up, 5000);
	/* Each watcher heard ipn:2 come up on each link, once. */
	assert_int_equal(count_events(&f->ev1, LINKS_NEIGHBOUR_UP, "fast", 2), 1);
	assert_int_equal(count_events(&f->ev1, LINKS_NEIGHBOUR_UP, "slow", 2), 1);
	assert_int_equal(count_events(&f->ev2, LINKS_NEIGHBOUR_UP, "fast", 2), 1);
	assert_int_equal(count_events(&f->ev2, LINKS_NEIGHBOUR_UP, "slow", 2), 1);
	assert_int_equal(f->a.up, 2);	/* and the owner heard them too */
	assert_non_null(e = find_event(&f->ev1, LINKS_NEIGHBOUR_UP, "fast"));
	assert_int_equal(e->rate_bps, 54000000);
	assert_int_equal(e->mtu, 256);
	assert_non_null(e = find_event(&f->ev2, LINKS_NEIGHBOUR_UP, "slow"));
	assert_int_equal(e->rate_bps, 9600);
	assert_int_equal(e->mtu, 1400);
	assert_true(e->loss >= 0 && e->loss <= 1);
}

static void
test_live_best_link(void **state)
{
	struct fx *f = *state;
	uint8_t small[40], big[600];
	const struct live_rec *r;

	run_until(f, both_up, 5000);
	memset(small, 0x11, sizeof(small));
	memset(big, 0x22, sizeof(big));
	/* To ipn:2: up on both links, the fast one is best and takes it. */
	assert_int_equal(links_send_live(f->a.ls, 2, 7, 3, 1, small, sizeof(small)), 1);
	settle(f, 200);
	assert_int_equal(f->live1.n, 1);
	assert_int_equal(f->live2.n, 1);	/* every watcher hears each frame */
	assert_string_equal(f->live1.rec[0].link, "fast");
	assert_int_equal(f->live1.rec[0].from, 1);
	assert_int_equal(f->live1.rec[0].group, 7);
	assert_int_equal(f->live1.rec[0].spurt, 3);
	assert_int_equal(f->live1.rec[0].seq, 1);
	assert_int_equal(f->live1.rec[0].len, sizeof(small));
	assert_memory_equal(f->live1.rec[0].data, small, sizeof(small));
	assert_string_equal(f->live2.rec[0].link, "fast");
	/* Too big for the fast link's 256-byte frames: the slow one takes it. */
	assert_int_equal(links_send_live(f->a.ls, 2, 7, 3, 2, big, sizeof(big)), 1);
	/* To everyone: ipn:2 once, not once per link. */
	assert_int_equal(links_send_live(f->a.ls, 0, 7, 3, 3, small, sizeof(small)), 1);
	settle(f, 200);
	/* Over two links they may come in either order. */
	assert_int_equal(f->live1.n, 3);
	assert_non_null(r = find_seq(&f->live1, 2));
	assert_string_equal(r->link, "slow");
	assert_int_equal(r->len, sizeof(big));
	assert_memory_equal(r->data, big, sizeof(big));
	assert_non_null(r = find_seq(&f->live1, 3));
	assert_string_equal(r->link, "fast");
	/* A watcher that left hears no more; the other still does. */
	links_off_live(f->b.ls, on_live, &f->live2);
	assert_int_equal(links_send_live(f->a.ls, 2, 7, 3, 4, small, sizeof(small)), 1);
	settle(f, 200);
	assert_int_equal(f->live1.n, 4);
	assert_int_equal(f->live2.n, 3);
}

static void
test_live_errors(void **state)
{
	struct fx *f = *state;
	uint8_t buf[1400] = { 1 };

	run_until(f, both_up, 5000);
	assert_int_equal(links_send_live(f->a.ls, 99, 1, 1, 1, buf, 10), -EHOSTUNREACH);
	assert_int_equal(links_send_live(f->a.ls, 2, 1, 1, 1, buf, 0), -EINVAL);
	assert_int_equal(links_send_live(f->a.ls, 2, 1, 1, 1, buf, 1276), -EINVAL);	/* > FRAME_VOICE_MAX */
	settle(f, 100);
	assert_int_equal(f->live1.n, 0);
}

static void
test_link_down_up(void **state)
{
	struct fx *f = *state;
	uint8_t small[40] = { 3 };

	run_until(f, both_up, 5000);
	/* Carrier lost on a's fast link: ipn:2 is lost there, the link is down, live frames take the slow one. */
	link_set_carrier(links_link(f->a.ls, 0), false);
	assert_int_equal(count_events(&f->ev1, LINKS_NEIGHBOUR_DOWN, "fast", 2), 1);
	assert_int_equal(count_events(&f->ev1, LINKS_LINK_DOWN, "fast", 0), 1);
	assert_int_equal(count_events(&f->ev2, LINKS_LINK_DOWN, "fast", 0), 1);
	assert_int_equal(f->a.down, 1);
	assert_int_equal(links_send_live(f->a.ls, 2, 1, 1, 1, small, sizeof(small)), 1);
	settle(f, 200);
	assert_int_equal(f->live1.n, 1);
	assert_string_equal(f->live1.rec[0].link, "slow");
	/* Back: the link is up once (a second carrier-up is no change). */
	link_set_carrier(links_link(f->a.ls, 0), true);
	link_set_carrier(links_link(f->a.ls, 0), true);
	assert_int_equal(count_events(&f->ev1, LINKS_LINK_UP, "fast", 0), 1);
	run_until(f, both_up, 5000);
	assert_int_equal(count_events(&f->ev1, LINKS_NEIGHBOUR_UP, "fast", 2), 2);
}

static void
test_route_changed_and_unwatch(void **state)
{
	struct fx *f = *state;
	const struct event_rec *e;

	links_route_changed(f->a.ls, 1, 2);
	links_route_changed(f->a.ls, links_count(f->a.ls), 0);
	assert_non_null(e = find_event(&f->ev1, LINKS_ROUTE_CHANGED, "slow"));
	assert_int_equal(e->node, 2);
	assert_int_equal(e->mtu, 1400);
	assert_non_null(e = find_event(&f->ev1, LINKS_ROUTE_CHANGED, ""));
	assert_int_equal(e->node, 0);
	assert_int_equal(e->mtu, 0);
	links_unwatch(f->a.ls, on_event, &f->ev2);
	links_route_changed(f->a.ls, 0, 2);
	assert_int_equal(count_events(&f->ev1, LINKS_ROUTE_CHANGED, "fast", 2), 1);
	assert_int_equal(count_events(&f->ev2, LINKS_ROUTE_CHANGED, "fast", 2), 0);
}

/* A watcher that leaves from inside its own call: the others still hear that event. */
static struct fx *self_fx;

static void
leave_at_once(void *arg, const struct links_event *ev)
{
	struct event_watch *w = arg;

	w->n++;
	links_unwatch(self_fx->a.ls, leave_at_once, arg);
}

static void
test_unwatch_inside_call(void **state)
{
	struct fx *f = *state;
	struct event_watch once = { .n = 0 };

	self_fx = f;
	links_unwatch(f->a.ls, on_event, &f->ev1);
	links_unwatch(f->a.ls, on_event, &f->ev2);
	links_watch(f->a.ls, leave_at_once, &once);
	links_watch(f->a.ls, on_event, &f->ev1);
	links_route_changed(f->a.ls, 0, 2);
	links_route_changed(f->a.ls, 0, 2);
	assert_int_equal(once.n, 1);
	assert_int_equal(count_events(&f->ev1, LINKS_ROUTE_CHANGED, "fast", 2), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_accessors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_neighbour_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_best_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_down_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_changed_and_unwatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwatch_inside_call, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
