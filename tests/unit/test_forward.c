/*
 * test_forward.c - forwarding (relay/daemon/forward.c) over fake links: a
 * real node and store, and links that are this file's link_ext (through
 * links_use_ext()), which record what forward hands them and let the test
 * bring neighbours up and down, commit what was sent and inject received
 * bundles.  So what forward decides is seen directly, with no medium, no
 * timing and no other node's forwarding in between:
 * a bundle for a neighbour goes on the link that neighbour is up on, and
 * leaves the store once the neighbour committed it; queued bundles go most
 * urgent first; a bundle from a link is stored and committed (a duplicate
 * too, a bad one refused); a link that loses the neighbour gives the bundle
 * back and it stays queued, to go on the next link the neighbour is up on;
 * the links module's events come in order, with forward's route changes.
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

#include "bundle.h"
#include "config.h"
#include "forward.h"
#include "frame.h"
#include "link.h"
#include "links.h"
#include "loop.h"
#include "node.h"
#include "service.h"
#include "store.h"

#define FAKE_LINKS	2
#define FAKE_NBRS	4
#define FAKE_LOG	64
#define SERVICE		7

/* ---- the fake link ---- */

struct fake_sent {
	uint64_t nbr, total;
	int prio;
	void *ctx;
	bool gone;			/* committed, returned or withdrawn */
};

struct fake {
	struct link *link;
	struct link_events ev;
	char name[32];
	uint64_t up[FAKE_NBRS];		/* neighbours up (0: free slot) */
	struct fake_sent sent[FAKE_LOG];
	unsigned n_sent;
	uint64_t committed[FAKE_LOG];	/* transfer ids forward committed */
	unsigned n_committed;
	uint64_t refused[FAKE_LOG];
	int refused_reason[FAKE_LOG];
	unsigned n_refused;
};

static struct fake *fakes[FAKE_LINKS];

static void *
fake_open(struct link *l, struct loop *loop, const struct link_conf *c, const struct link_params *p,
    const struct link_events *ev, char *err, size_t errlen)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->link = l;
	f->ev = *ev;
	snprintf(f->name, sizeof(f->name), "%s", c->name);
	for (unsigned i = 0; i < FAKE_LINKS; i++)
		if (fakes[i] == NULL) {
			fakes[i] = f;
			break;
		}
	return f;
}

static void
fake_close(void *x)
{
	for (unsigned i = 0; i < FAKE_LINKS; i++)
		if (fakes[i] == x)
			fakes[i] = NULL;
	free(x);
}

static bool
fake_is_up(const struct fake *f, uint64_t nbr)
{
	for (unsigned i = 0; i < FAKE_NBRS; i++)
		if (nbr != 0 && f->up[i] == nbr)
			return true;
	return false;
}

static int
fake_enqueue(void *x, uint64_t nbr, uint64_t total, int prio, void *ctx)
{
	struct fake *f = x;

	if (!fake_is_up(f, nbr))
		return -EHOSTUNREACH;
	assert_true(f->n_sent < FAKE_LOG);
	f->sent[f->n_sent++] = (struct fake_sent){ .nbr = nbr, .total = total, .prio = prio, .ctx = ctx };
	return 0;
}

static int
fake_withdraw(void *x, uint64_t nbr, void *ctx)
{
	struct fake *f = x;

	for (unsigned i = 0; i < f->n_sent; i++)
		if (!f->sent[i].gone && f->sent[i].ctx == ctx && f->sent[i].nbr == nbr) {
			f->sent[i].gone = true;
			return 0;
		}
	return -ENOENT;
}

static void
fake_committed(void *x, uint64_t nbr, uint64_t xid)
{
	struct fake *f = x;

	assert_true(f->n_committed < FAKE_LOG);
	f->committed[f->n_committed++] = xid;
}

static void
fake_refused(void *x, uint64_t nbr, uint64_t xid, int reason)
{
	struct fake *f = x;

	assert_true(f->n_refused < FAKE_LOG);
	f->refused_reason[f->n_refused] = reason;
	f->refused[f->n_refused++] = xid;
}

static bool
fake_neighbour_up(const void *x, uint64_t nbr)
{
	return fake_is_up(x, nbr);
}

static void
fake_neighbours(void *x, link_neighbour_fn *fn, void *arg)
{
	struct fake *f = x;
	struct link_addr a = { .len = 0 };

	for (unsigned i = 0; i < FAKE_NBRS; i++)
		if (f->up[i])
			fn(arg, f->link, f->up[i], &a);
}

static void
fake_metrics(const void *x, struct link_metrics *m)
{
	const struct fake *f = x;

	for (unsigned i = 0; i < FAKE_NBRS; i++)
		m->neighbours += f->up[i] != 0;
	m->up = m->neighbours > 0;	/* like an SBD modem: there while its neighbour is */
	m->open = true;
	m->frames_tx = f->n_sent;
}

static const struct link_ext_ops fake_ops = {
	.kind = "fake", .open = fake_open, .close = fake_close, .enqueue = fake_enqueue,
	.withdraw = fake_withdraw, .committed = fake_committed, .refused = fake_refused,
	.neighbour_up = fake_neighbour_up, .neighbours = fake_neighbours, .metrics = fake_metrics,
};

/* The neighbour comes or goes as a real link reports it: its transfers go back first. */
static void
fake_up(struct fake *f, uint64_t nbr)
{
	for (unsigned i = 0; i < FAKE_NBRS; i++)
		if (f->up[i] == 0) {
			f->up[i] = nbr;
			f->ev.neighbour(f->ev.arg, f->link, nbr, true);
			return;
		}
	fail_msg("fake link %s: no room for a neighbour", f->name);
}

static void
fake_down(struct fake *f, uint64_t nbr)
{
	for (unsigned i = 0; i < f->n_sent; i++)
		if (!f->sent[i].gone && f->sent[i].nbr == nbr) {
			f->sent[i].gone = true;
			f->ev.returned(f->ev.arg, f->link, nbr, f->sent[i].ctx, -ENETDOWN);
		}
	for (unsigned i = 0; i < FAKE_NBRS; i++)
		if (f->up[i] == nbr)
			f->up[i] = 0;
	f->ev.neighbour(f->ev.arg, f->link, nbr, false);
}

/* The neighbour says the i-th bundle sent is durable there. */
static void
fake_commit(struct fake *f, unsigned i)
{
	assert_true(i < f->n_sent);
	assert_false(f->sent[i].gone);
	f->sent[i].gone = true;
	f->ev.delivered(f->ev.arg, f->link, f->sent[i].nbr, f->sent[i].ctx);
}

/* The bytes of the i-th bundle sent, as the link reads them from the store; their length. */
static size_t
fake_read(struct fake *f, unsigned i, uint8_t *buf, size_t cap)
{
	long n;

	assert_true(i < f->n_sent && f->sent[i].total <= cap);
	n = f->ev.read(f->ev.arg, f->sent[i].ctx, 0, buf, (size_t)f->sent[i].total);
	assert_int_equal(n, (long)f->sent[i].total);
	return (size_t)n;
}

static struct fake *
fake_named(const char *name)
{
	for (unsigned i = 0; i < FAKE_LINKS; i++)
		if (fakes[i] && strcmp(fakes[i]->name, name) == 0)
			return fakes[i];
	fail_msg("no fake link %s", name);
	return NULL;
}

/* ---- the node under test ---- */

struct fx {
	char dir[64];
	struct loop *loop;
	struct config cfg;
	struct node *node;
	struct links *ls;
	struct forward *fw;
	int pending, result;
};

static struct node *
open_node(struct fx *f, unsigned id, bool links, struct config *cfg)
{
	char path[128], conf[128], key[128], err[512];
	struct node *n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/node%u", f->dir, id);
	mkdir(path, 0700);
	snprintf(key, sizeof(key), "%s/network.key", f->dir);
	snprintf(conf, sizeof(conf), "%s/node%u.conf", f->dir, id);
	assert_non_null(fp = fopen(conf, "w"));
	fprintf(fp, "[node]\nid = %u\ndata_dir = %s\nclock = trusted\n", id, path);
	if (links)	/* type udp for the config; links_use_ext() makes them fakes */
		fprintf(fp, "[security]\nkey_file = %s\n[link a]\ntype = udp\npeer = 127.0.0.1:9\nrate = 1M\n"
		    "[link b]\ntype = udp\npeer = 127.0.0.1:9\nrate = 9600\n", key);
	fclose(fp);
	if (config_load(conf, cfg, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	if ((n = node_new(cfg, f->loop, err, sizeof(err))) == NULL)
		fail_msg("node: %s", err);
	return n;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char key[128], err[512];
	FILE *fp;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_forward.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(key, sizeof(key), "%s/network.key", f->dir);
	assert_non_null(fp = fopen(key, "w"));
	fprintf(fp, "1 %s send\n", "4242424242424242424242424242424242424242424242424242424242424242");
	fclose(fp);
	assert_int_equal(chmod(key, 0600), 0);
	assert_non_null(f->loop = loop_new());
	f->node = open_node(f, 1, true, &f->cfg);
	if ((f->ls = links_new(f->loop, node_config(f->node), node_store(f->node), err, sizeof(err))) == NULL)
		fail_msg("links: %s", err);
	links_use_ext(f->ls, LINK_UDP, &fake_ops);
	if ((f->fw = forward_new(f->node, f->ls, f->loop, err, sizeof(err))) == NULL)
		fail_msg("forward: %s", err);
	assert_non_null(fake_named("a"));
	assert_non_null(fake_named("b"));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[96];

	forward_free(f->fw);
	links_free(f->ls);
	node_free(f->node);
	loop_free(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Turn the loop until cond holds (a deadline for "eventually", not a timing bound). */
static void
run_until(struct fx *f, bool (*cond)(struct fx *), unsigned ms)
{
	uint64_t end = loop_now() + ms;

	while (!cond(f) && loop_now() < end)
		loop_once(f->loop, 10);
	assert_true(cond(f));
}

/* Let the store commit and the walks run what is due. */
static void
settle(struct fx *f, struct node *n)
{
	for (int i = 0; i < 300 && (f->pending > 0 || i < 5); i++)
		loop_once(f->loop, 10);
	store_flush(node_store(n));
	for (int i = 0; i < 10; i++)
		loop_once(f->loop, 5);
}

static void
sent_cb(void *arg, int result, const char *id)
{
	struct fx *f = arg;

	f->pending--;
	if (result != 0)
		f->result = result;
}

/* A bundle from node n to ipn:dst.SERVICE in class prio, its payload the text. */
static void
send_to(struct fx *f, struct node *n, uint64_t dst, int prio, const char *text)
{
	struct node_send s = { .src_service = SERVICE, .priority = prio, .payload = (const uint8_t *)text,
	    .payload_fd = -1, .payload_len = strlen(text), .supersede = "" };

	eid_ipn(&s.dst, dst, SERVICE);
	f->pending++;
	assert_int_equal(node_send(n, &s, sent_cb, f), 0);
}

static unsigned
queued(struct node *n)
{
	struct store_entry e;
	unsigned k = 0;
	int prio = 0;
	int64_t after = 0;

	while (store_next_queued(node_store(n), prio, after, &e) == 0) {
		k++;
		prio = e.priority;
		after = e.rowid;
	}
	return k;
}

static bool
b_sent_one(struct fx *f)
{
	return fake_named("b")->n_sent >= 1;
}

static bool
a_sent_one(struct fx *f)
{
	return fake_named("a")->n_sent >= 1;
}

static bool
a_sent_five(struct fx *f)
{
	return fake_named("a")->n_sent >= 5;
}

static bool
nothing_queued(struct fx *f)
{
	return queued(f->node) == 0 && forward_in_flight(f->fw) == 0;
}

static bool
a_committed_one(struct fx *f)
{
	return fake_named("a")->n_committed >= 1;
}

static bool
a_committed_two(struct fx *f)
{
	return fake_named("a")->n_committed >= 2;
}

static bool
memfind(const uint8_t *buf, size_t len, const char *s)
{
	size_t k = strlen(s);

	for (size_t i = 0; i + k <= len; i++)
		if (memcmp(buf + i, s, k) == 0)
			return true;
	return false;
}

static void
test_bundle_goes_on_its_neighbours_link(void **state)
{
	struct fx *f = *state;
	struct fake *a = fake_named("a"), *b = fake_named("b");
	struct forward_counters c;
	uint8_t buf[4096];
	size_t n;

	fake_up(a, 3);
	fake_up(b, 2);
	send_to(f, f->node, 2, PRIO_MESSAGE, "for node two");
	settle(f, f->node);
	assert_int_equal(f->result, 0);
	run_until(f, b_sent_one, 5000);
	/* On b, where ipn:2 is; nothing on a, where only ipn:3 is. */
	assert_int_equal(b->n_sent, 1);
	assert_int_equal(a->n_sent, 0);
	assert_int_equal(b->sent[0].nbr, 2);
	assert_int_equal(b->sent[0].prio, PRIO_MESSAGE);
	assert_int_equal(forward_in_flight(f->fw), 1);
	/* What the link reads is the stored bundle: it decodes, for ipn:2, with the payload. */
	n = fake_read(b, 0, buf, sizeof(buf));
	assert_true(memfind(buf, n, "for node two"));
	/* Still queued until the neighbour commits it; then it leaves the store. */
	assert_int_equal(queued(f->node), 1);
	fake_commit(b, 0);
	settle(f, f->node);
	run_until(f, nothing_queued, 5000);
	forward_counters(f->fw, &c);
	assert_int_equal(c.handed, 1);
	/* Sent once only. */
	assert_int_equal(b->n_sent, 1);
}

static void
test_most_urgent_first(void **state)
{
	struct fx *f = *state;
	struct fake *a = fake_named("a");
	uint8_t buf[4096];
	size_t n;

	/* Queued while ipn:2 is away: bulk first, then a message, then an urgent one. */
	send_to(f, f->node, 2, PRIO_BULK, "bulk one");
	send_to(f, f->node, 2, PRIO_BULK, "bulk two");
	send_to(f, f->node, 2, PRIO_MESSAGE, "a message");
	send_to(f, f->node, 2, PRIO_BULK, "bulk three");
	send_to(f, f->node, 2, PRIO_URGENT, "evacuate");
	settle(f, f->node);
	assert_int_equal(f->result, 0);
	assert_int_equal(queued(f->node), 5);
	assert_int_equal(a->n_sent, 0);
	fake_up(a, 2);
	run_until(f, a_sent_five, 5000);
	assert_int_equal(a->sent[0].prio, PRIO_URGENT);
	n = fake_read(a, 0, buf, sizeof(buf));
	assert_true(memfind(buf, n, "evacuate"));
	assert_int_equal(a->sent[1].prio, PRIO_MESSAGE);
	for (unsigned i = 2; i < 5; i++)
		assert_int_equal(a->sent[i].prio, PRIO_BULK);
	/* Within a class, in the order they came. */
	n = fake_read(a, 2, buf, sizeof(buf));
	assert_true(memfind(buf, n, "bulk one"));
	n = fake_read(a, 4, buf, sizeof(buf));
	assert_true(memfind(buf, n, "bulk three"));
}

static void
test_received_bundle_is_stored(void **state)
{
	struct fx *f = *state;
	struct fake *a = fake_named("a");
	struct config cfg2;
	struct node *two = open_node(f, 2, false, &cfg2);
	struct forward_counters c;
	struct store_entry e;
	uint8_t buf[4096], bad[64];
	long n;

	/* A bundle ipn:2 made for us, as its store holds it. */
	send_to(f, two, 1, PRIO_MESSAGE, "hello node one");
	settle(f, two);
	assert_int_equal(f->result, 0);
	assert_int_equal(store_next_queued(node_store(two), 0, 0, &e), 0);
	assert_true(e.size <= sizeof(buf));
	n = store_read(node_store(two), e.rowid, 0, buf, (size_t)e.size);
	assert_int_equal(n, (long)e.size);
	node_free(two);

	fake_up(a, 2);
	a->ev.bundle(a->ev.arg, a->link, 2, 41, -1, buf, (uint64_t)n);
	settle(f, f->node);
	run_until(f, a_committed_one, 5000);
	assert_int_equal(a->committed[0], 41);
	/* For a local service: kept for it, not queued onward. */
	assert_int_equal(store_next_local(node_store(f->node), SERVICE, 0, &e), 0);
	assert_string_equal(e.src, "ipn:2.7");
	assert_int_equal(queued(f->node), 0);
	/* The same again (its commit was lost): committed again, stored once. */
	a->ev.bundle(a->ev.arg, a->link, 2, 42, -1, buf, (uint64_t)n);
	settle(f, f->node);
	run_until(f, a_committed_two, 5000);
	assert_int_equal(a->committed[1], 42);
	forward_counters(f->fw, &c);
	assert_int_equal(c.duplicates, 1);
	assert_int_equal(store_next_local(node_store(f->node), SERVICE, e.rowid, &e), -ENOENT);
	/* Bytes that are no bundle: refused as such, at once. */
	memset(bad, 0xff, sizeof(bad));
	a->ev.bundle(a->ev.arg, a->link, 2, 43, -1, bad, sizeof(bad));
	assert_int_equal(a->n_refused, 1);
	assert_int_equal(a->refused[0], 43);
	assert_int_equal(a->refused_reason[0], ABORT_BAD_BUNDLE);
}

static void
test_link_down_keeps_bundle_queued(void **state)
{
	struct fx *f = *state;
	struct fake *a = fake_named("a"), *b = fake_named("b");
	uint8_t buf[4096];
	size_t n;

	fake_up(a, 2);
	send_to(f, f->node, 2, PRIO_URGENT, "keep me");
	settle(f, f->node);
	run_until(f, a_sent_one, 5000);
	assert_int_equal(forward_in_flight(f->fw), 1);
	/* ipn:2 lost on a: the link gives the bundle back, and it stays in the store. */
	fake_down(a, 2);
	settle(f, f->node);
	assert_int_equal(forward_in_flight(f->fw), 0);
	assert_int_equal(queued(f->node), 1);
	assert_int_equal(a->n_sent, 1);	/* nowhere to go: not sent again */
	/* ipn:2 turns up on b: it goes there. */
	fake_up(b, 2);
	run_until(f, b_sent_one, 5000);
	assert_int_equal(b->sent[0].nbr, 2);
	n = fake_read(b, 0, buf, sizeof(buf));
	assert_true(memfind(buf, n, "keep me"));
	assert_int_equal(queued(f->node), 1);	/* until b's neighbour commits it */
	fake_commit(b, 0);
	settle(f, f->node);
	run_until(f, nothing_queued, 5000);
}

/* Events as the links module reports them. */
struct event_log {
	int kind[32];
	uint64_t node[32];
	char link[32][8];
	unsigned n;
};

static void
on_event(void *arg, const struct links_event *ev)
{
	struct event_log *g = arg;

	if (g->n == 32)
		return;
	g->kind[g->n] = ev->kind;
	g->node[g->n] = ev->node;
	snprintf(g->link[g->n], sizeof(g->link[0]), "%s", ev->link);
	g->n++;
}

static void
expect_events(struct event_log *g, const int *kind, const uint64_t *node, unsigned n)
{
	assert_int_equal(g->n, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(g->kind[i], kind[i]);
		assert_int_equal(g->node[i], node[i]);
		assert_string_equal(g->link[i], "a");
	}
	g->n = 0;
}

static void
test_events(void **state)
{
	struct fx *f = *state;
	struct fake *a = fake_named("a");
	struct event_log g = { .n = 0 };
	struct route_entry v[1] = { { .node = 5, .cost = 10 } };

	links_watch(f->ls, on_event, &g);
	/* The link comes with its first neighbour; forward's route table changes. */
	fake_up(a, 2);
	expect_events(&g, (int[]){ LINKS_LINK_UP, LINKS_NEIGHBOUR_UP, LINKS_ROUTE_CHANGED },
	    (uint64_t[]){ 0, 2, 2 }, 3);
	fake_up(a, 3);
	expect_events(&g, (int[]){ LINKS_NEIGHBOUR_UP, LINKS_ROUTE_CHANGED }, (uint64_t[]){ 3, 3 }, 2);
	/* ipn:2 says it reaches ipn:5: a new route. */
	a->ev.route(a->ev.arg, a->link, 2, v, 1);
	expect_events(&g, (int[]){ LINKS_ROUTE_CHANGED }, (uint64_t[]){ 2 }, 1);
	a->ev.route(a->ev.arg, a->link, 2, v, 1);	/* the same again: no change */
	assert_int_equal(g.n, 0);
	fake_down(a, 3);
	expect_events(&g, (int[]){ LINKS_NEIGHBOUR_DOWN, LINKS_ROUTE_CHANGED }, (uint64_t[]){ 3, 3 }, 2);
	/* The last neighbour goes, and the link with it. */
	fake_down(a, 2);
	expect_events(&g, (int[]){ LINKS_NEIGHBOUR_DOWN, LINKS_ROUTE_CHANGED, LINKS_LINK_DOWN },
	    (uint64_t[]){ 2, 2, 0 }, 3);
	/* No live frames over a link_ext. */
	fake_up(a, 2);
	assert_int_equal(links_send_live(f->ls, 2, 1, 1, 1, "x", 1), -EHOSTUNREACH);
	links_unwatch(f->ls, on_event, &g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bundle_goes_on_its_neighbours_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_most_urgent_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_received_bundle_is_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_down_keeps_bundle_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
