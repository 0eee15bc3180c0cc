/*
 * test_fragment.c - BPv7 fragmentation and reassembly with real stores:
 * a bundle is split at its source (pieces decode, carry the right offsets,
 * replicate what must be replicated, and together hold the payload), the
 * pieces arrive at the destination out of order with duplicates and an
 * overlap, and the bundle is rebuilt byte for byte; a power cut between the
 * last piece and its reassembly is finished at the next start.
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
#include <unistd.h>

#include <cmocka.h>

#include "bundle.h"
#include "config.h"
#include "fragment.h"
#include "loop.h"
#include "node.h"
#include "store.h"

#define PAYLOAD		(300 * 1024 + 17)
#define LIMIT		(64 * 1024)

struct fx {
	char dir[64];
	struct loop *loop;
	uint8_t *payload;
	int pending, result;
};

static struct node *
open_node(struct fx *f, unsigned id)
{
	char path[128], conf[512], err[256];
	struct config cfg;
	struct node *n;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/node%u", f->dir, id);
	mkdir(path, 0700);
	snprintf(conf, sizeof(conf), "%s/node%u.conf", f->dir, id);
	assert_non_null(fp = fopen(conf, "w"));
	fprintf(fp, "[node]\nid = %u\ndata_dir = %s\nclock = trusted\n", id, path);
	fclose(fp);
	if (config_load(conf, &cfg, err, sizeof(err)) < 0)
		fail_msg("config: %s", err);
	if ((n = node_new(&cfg, f->loop, err, sizeof(err))) == NULL)
		fail_msg("node: %s", err);
	return n;
}

static void
settle(struct fx *f, struct node *n)
{
	for (int i = 0; i < 200 && (f->pending > 0 || i < 5); i++)
		loop_once(f->loop, 10);
	store_flush(node_store(n));
	for (int i = 0; i < 5; i++)
		loop_once(f->loop, 5);
}

static void
sent(void *arg, int result, const char *id)
{
	struct fx *f = arg;

	f->pending--;
	f->result = result;
}

static void
split_done(void *arg, int result)
{
	struct fx *f = arg;

	f->pending--;
	f->result = result;
}

static void
received(void *arg, int result)
{
	struct fx *f = arg;

	f->pending--;
	if (result != 0 && result != -EEXIST)
		f->result = result;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_fragment.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_non_null(f->loop = loop_new());
	assert_non_null(f->payload = malloc(PAYLOAD));
	for (size_t i = 0; i < PAYLOAD; i++)
		f->payload[i] = (uint8_t)(i * 7 + i / 251);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[96];

	loop_free(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->payload);
	free(f);
	return 0;
}

/* Every queued bundle of node n, bytes in out[] (caller frees). */
static size_t
stored(struct node *n, uint8_t **out, size_t *len, size_t cap)
{
	struct store *st = node_store(n);
	struct store_entry e = { .priority = 0 };
	size_t k = 0;

	while (k < cap && store_next_queued(st, e.priority, e.rowid, &e) == 0) {
		out[k] = malloc(e.size);
		assert_int_equal(store_read(st, e.rowid, 0, out[k], e.size), (long)e.size);
		len[k++] = e.size;
	}
	return k;
}

/* Send the payload from node 1 to ipn:2.9 and split it; its pieces in out[]. */
static size_t
make_pieces(struct fx *f, uint8_t **out, size_t *len, size_t cap)
{
	struct node *a = open_node(f, 1);
	struct node_send s = { .priority = -1, .payload = f->payload, .payload_fd = -1, .payload_len = PAYLOAD };
	struct store_entry e;
	size_t k;

	eid_ipn(&s.dst, 2, 9);
	f->pending = 1;
	assert_int_equal(node_send(a, &s, sent, f), 0);
	settle(f, a);
	assert_int_equal(f->result, 0);
	assert_int_equal(store_next_queued(node_store(a), 0, 0, &e), 0);
	f->pending = 1;
	assert_int_equal(fragment_split(node_fragments(a), &e, LIMIT, split_done, f), 0);
	settle(f, a);
	assert_int_equal(f->result, 0);
	/* The original is gone, its pieces are queued. */
	assert_int_equal(store_get(node_store(a), e.rowid, &e), -ENOENT);
	k = stored(a, out, len, cap);
	node_free(a);
	return k;
}

static void
test_split(void **state)
{
	struct fx *f = *state;
	uint8_t *p[16];
	size_t len[16], k = make_pieces(f, p, len, 16), total = 0;
	uint64_t adu = 0;

	assert_int_equal(k, (PAYLOAD + LIMIT - 1) / LIMIT);
	for (size_t i = 0; i < k; i++) {
		struct bundle b;
		const char *why;

		assert_int_equal(bundle_decode(&b, p[i], len[i], &why), 0);
		assert_true(b.flags & BF_IS_FRAGMENT);
		assert_int_equal(b.adu_len, PAYLOAD);
		assert_true(b.payload_len <= LIMIT);
		assert_memory_equal(b.payload, f->payload + b.frag_offset, b.payload_len);
		assert_true(b.has_hop && b.priority >= 0);	/* every piece is scheduled and hop-limited */
		adu += b.payload_len;
		total += len[i];
		free(p[i]);
	}
	assert_int_equal(adu, PAYLOAD);
}

/* Deliver pieces to node 2; returns how many calls were made. */
static void
deliver(struct fx *f, struct node *c, uint8_t **p, size_t *len, const size_t *order, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *why;

		f->pending++;
		assert_int_equal(node_receive(c, -1, p[order[i]], len[order[i]], 1, received, f, &why), 0);
		settle(f, c);
	}
}

static void
check_delivered(struct fx *f, struct node *c)
{
	struct store_entry e;
	uint8_t *buf;
	struct bundle b;
	const char *why;

	settle(f, c);
	assert_int_equal(store_next_local(node_store(c), 9, 0, &e), 0);
	assert_non_null(buf = malloc(e.size));
	assert_int_equal(store_read(node_store(c), e.rowid, 0, buf, e.size), (long)e.size);
	assert_int_equal(bundle_decode(&b, buf, e.size, &why), 0);
	assert_false(b.flags & BF_IS_FRAGMENT);
	assert_int_equal(b.payload_len, PAYLOAD);
	assert_memory_equal(b.payload, f->payload, PAYLOAD);
	/* Delivered once, the pieces gone. */
	assert_int_equal(store_next_local(node_store(c), 9, e.rowid, &e), -ENOENT);
	assert_int_equal(store_next_fragment(node_store(c), "", 0, &e), -ENOENT);
	free(buf);
}

static void
test_reassembly_out_of_order(void **state)
{
	struct fx *f = *state;
	uint8_t *p[16];
	size_t len[16], k = make_pieces(f, p, len, 16);
	size_t order[] = { 4, 0, 2, 2, 1, 3 };	/* a duplicate; the last piece in the middle */
	struct node *c = open_node(f, 2);
	struct store_entry e;

	assert_int_equal(k, 5);
	deliver(f, c, p, len, order, 4);
	/* Not whole yet: pieces wait, nothing for the service. */
	assert_int_equal(store_next_local(node_store(c), 9, 0, &e), -ENOENT);
	assert_int_equal(store_next_fragment(node_store(c), "", 0, &e), 0);
	deliver(f, c, p, len, order + 4, 2);
	assert_int_equal(f->result, 0);
	check_delivered(f, c);
	/* A late duplicate piece is recognised (seen), not kept for ever. */
	deliver(f, c, p, len, order, 1);
	assert_int_equal(store_next_fragment(node_store(c), "", 0, &e), -ENOENT);
	node_free(c);
	for (size_t i = 0; i < k; i++)
		free(p[i]);
}

/* Pieces of pieces (a later link with a smaller limit) fit together too. */
static void
test_overlap_and_refragment(void **state)
{
	struct fx *f = *state;
	uint8_t *p[16], *q[32];
	size_t len[16], qlen[32], k = make_pieces(f, p, len, 16), nq;
	struct node *b = open_node(f, 3), *c;
	struct store_entry e;
	size_t order[32] = { 0 };

	/* Relay 3 splits the first piece again, into 16K pieces. */
	f->pending = 1;
	assert_int_equal(node_receive(b, -1, p[0], len[0], 1, received, f, &(const char *){ NULL }), 0);
	settle(f, b);
	assert_int_equal(store_next_queued(node_store(b), 0, 0, &e), 0);
	f->pending = 1;
	assert_int_equal(fragment_split(node_fragments(b), &e, 16 * 1024, split_done, f), 0);
	settle(f, b);
	assert_int_equal(f->result, 0);
	nq = stored(b, q, qlen, 32);
	assert_int_equal(nq, 4);
	node_free(b);

	c = open_node(f, 2);
	/* The whole first piece AND its sub-pieces arrive (two paths): overlap. */
	for (size_t i = 0; i < nq; i++)
		order[i] = i;
	deliver(f, c, q, qlen, order, nq);
	size_t rest[] = { 0, 1, 2, 3, 4 };
	deliver(f, c, p, len, rest, k);
	check_delivered(f, c);
	node_free(c);
	for (size_t i = 0; i < k; i++)
		free(p[i]);
	for (size_t i = 0; i < nq; i++)
		free(q[i]);
}

/* The last piece was committed, then the power went before the reassembly. */
static void
test_power_cut_before_reassembly(void **state)
{
	struct fx *f = *state;
	uint8_t *p[16];
	size_t len[16], k = make_pieces(f, p, len, 16);
	size_t order[] = { 0, 1, 2, 3 };
	struct node *c = open_node(f, 2);
	struct store_put sp = { 0 };
	struct store_entry e;
	struct bundle b;
	char id[BUNDLE_ID_MAX];
	const char *why;

	deliver(f, c, p, len, order, 4);
	/* Store the last piece the way node_receive would, without what follows its commit. */
	assert_int_equal(bundle_decode(&b, p[4], len[4], &why), 0);
	bundle_id(&b, id, sizeof(id));
	sp.id = id;
	sp.src = "ipn:1.9";
	sp.dst = "ipn:2.9";
	sp.dst_node = 2;
	sp.dst_service = 9;
	sp.priority = b.priority;
	sp.state = STORE_FRAGMENT;
	sp.expires = 4000000000000ull;
	sp.head = p[4];
	sp.head_len = (size_t)(b.payload - p[4]);
	sp.payload = b.payload;
	sp.payload_fd = -1;
	sp.payload_len = b.payload_len;
	sp.tail = b.payload + b.payload_len;
	sp.tail_len = len[4] - sp.head_len - b.payload_len;
	assert_int_equal(store_put(node_store(c), &sp, NULL, NULL), 0);
	store_flush(node_store(c));
	assert_int_equal(store_next_local(node_store(c), 9, 0, &e), -ENOENT);
	node_free(c);

	c = open_node(f, 2);	/* the next start finishes it */
	check_delivered(f, c);
	node_free(c);
	for (size_t i = 0; i < k; i++)
		free(p[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reassembly_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_and_refragment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_cut_before_reassembly, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
