/* test_route.c - static/default routes, distance vectors, split horizon, expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "route.h"

static void
test_direct_static_default(void **state)
{
	struct route_table *rt = route_new(1);
	struct route_hop h;

	assert_false(route_lookup(rt, 5, &h));
	assert_int_equal(route_add_static(rt, 9, 1), -22);	/* via self */
	assert_int_equal(route_add_static(rt, 9, 3), 0);
	assert_int_equal(route_add_static(rt, 0, 2), 0);	/* default via the command center side */
	/* Next hops not heard: everything waits. */
	assert_false(route_lookup(rt, 9, &h));
	assert_false(route_lookup(rt, 7, &h));
	route_neighbour_up(rt, 2, 0, 256, 0);
	assert_true(route_lookup(rt, 7, &h));
	assert_int_equal(h.kind, ROUTE_DEFAULT);
	assert_int_equal(h.via, 2);
	assert_true(route_lookup(rt, 9, &h));
	assert_int_equal(h.kind, ROUTE_DEFAULT);	/* static via 3 is not up */
	route_neighbour_up(rt, 3, 1, 5000, 0);
	assert_true(route_lookup(rt, 9, &h));
	assert_int_equal(h.kind, ROUTE_STATIC);
	assert_int_equal(h.via, 3);
	assert_int_equal(h.link, 1);
	assert_true(route_lookup(rt, 3, &h));
	assert_int_equal(h.kind, ROUTE_DIRECT);
	assert_false(route_lookup(rt, 1, &h));		/* ourselves: deliver locally */
	route_free(rt);
}

static void
test_cheapest_link_to_a_neighbour(void **state)
{
	struct route_table *rt = route_new(1);
	struct route_hop h;

	route_neighbour_up(rt, 2, 0, 256, 0);		/* mesh */
	route_neighbour_up(rt, 2, 1, 7000, 0);		/* radio */
	assert_true(route_lookup(rt, 2, &h));
	assert_int_equal(h.link, 0);
	route_neighbour_down(rt, 2, 0, 10);		/* mesh carrier lost */
	assert_true(route_lookup(rt, 2, &h));
	assert_int_equal(h.link, 1);
	route_neighbour_up(rt, 2, 0, 256, 20);
	assert_true(route_lookup(rt, 2, &h));
	assert_int_equal(h.link, 0);
	route_free(rt);
}

static void
test_learned_routes_and_failover(void **state)
{
	struct route_table *rt = route_new(1);
	struct route_entry from_b[] = { { 2, 0 }, { 3, 300 } };
	struct route_entry from_d[] = { { 4, 0 }, { 3, 1000 } };
	struct route_hop h;

	/* Vectors from strangers are ignored. */
	assert_false(route_update(rt, 2, 0, from_b, 2, 0));
	route_neighbour_up(rt, 2, 0, 256, 0);
	route_neighbour_up(rt, 4, 0, 256, 0);
	assert_true(route_update(rt, 2, 0, from_b, 2, 0));
	assert_true(route_lookup(rt, 3, &h));
	assert_int_equal(h.kind, ROUTE_LEARNED);
	assert_int_equal(h.via, 2);
	assert_int_equal(h.cost, 556);
	assert_false(route_update(rt, 4, 0, from_d, 2, 0));	/* worse: best unchanged */
	route_neighbour_down(rt, 2, 0, 100);
	assert_true(route_lookup(rt, 3, &h));
	assert_int_equal(h.via, 4);			/* the kept alternative */
	assert_int_equal(h.cost, 1256);
	/* D withdraws it: nothing left, the bundle waits. */
	from_d[1].cost = ROUTE_INFINITY;
	assert_true(route_update(rt, 4, 0, from_d, 2, 200));
	assert_false(route_lookup(rt, 3, &h));
	route_free(rt);
}

static void
test_poisoned_reverse(void **state)
{
	struct route_table *rt = route_new(1);
	struct route_entry from_b[] = { { 3, 100 } }, out[16];
	size_t n;
	int seen3 = 0;

	route_neighbour_up(rt, 2, 0, 256, 0);
	route_neighbour_up(rt, 5, 0, 256, 0);
	route_update(rt, 2, 0, from_b, 1, 0);
	n = route_advertise(rt, 2, out, 16);
	assert_int_equal(out[0].node, 1);
	assert_int_equal(out[0].cost, 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_not_equal(out[i].node, 2);	/* never advertise `to` to itself */
		if (out[i].node == 3) {
			assert_int_equal(out[i].cost, ROUTE_INFINITY);
			seen3++;
		}
	}
	assert_int_equal(seen3, 1);
	n = route_advertise(rt, 5, out, 16);
	for (size_t i = 0; i < n; i++)
		if (out[i].node == 3)
			assert_int_equal(out[i].cost, 356);
	route_free(rt);
}

static void
test_expiry(void **state)
{
	struct route_table *rt = route_new(1);
	struct route_entry v[] = { { 3, 10 } };
	struct route_hop h;

	route_neighbour_up(rt, 2, 0, 256, 0);
	route_update(rt, 2, 0, v, 1, 0);
	assert_false(route_expire(rt, ROUTE_HOLD_MS - 1));
	assert_true(route_lookup(rt, 3, &h));
	assert_true(route_expire(rt, ROUTE_HOLD_MS));
	assert_false(route_lookup(rt, 3, &h));
	route_expire(rt, 2 * ROUTE_HOLD_MS + 1);
	/* Forgotten entirely: withdrawals for it are no news. */
	v[0].cost = ROUTE_INFINITY;
	assert_false(route_update(rt, 2, 0, v, 1, 2 * ROUTE_HOLD_MS + 2));
	route_free(rt);
}

/* Exchange vectors among a line of nodes until nothing changes. */
static int
converge(struct route_table **rt, const uint64_t *ids, int n, const int adj[][5], uint64_t now)
{
	struct route_entry v[64];
	int rounds = 0;
	bool changed = true;

	while (changed && rounds < 1000) {
		changed = false;
		rounds++;
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++) {
				if (!adj[i][j])
					continue;
				size_t k = route_advertise(rt[i], ids[j], v, 64);
				changed |= route_update(rt[j], ids[i], 0, v, k, now);
			}
	}
	return rounds;
}

static void
test_line_converges_and_withdraws(void **state)
{
	const uint64_t ids[3] = { 10, 20, 30 };
	int adj[5][5] = { { 0, 1, 0 }, { 1, 0, 1 }, { 0, 1, 0 } };
	struct route_table *rt[3];
	struct route_hop h;
	int rounds;

	for (int i = 0; i < 3; i++)
		rt[i] = route_new(ids[i]);
	route_neighbour_up(rt[0], 20, 0, 256, 0);
	route_neighbour_up(rt[1], 10, 0, 256, 0);
	route_neighbour_up(rt[1], 30, 0, 300, 0);
	route_neighbour_up(rt[2], 20, 0, 300, 0);
	converge(rt, ids, 3, (const int (*)[5])adj, 0);
	assert_true(route_lookup(rt[0], 30, &h));
	assert_int_equal(h.via, 20);
	assert_int_equal(h.cost, 556);
	assert_true(route_lookup(rt[2], 10, &h));
	assert_int_equal(h.via, 20);
	/* Cut B-C: A must learn that C is gone, without counting to infinity. */
	adj[1][2] = adj[2][1] = 0;
	route_neighbour_down(rt[1], 30, 0, 1000);
	route_neighbour_down(rt[2], 20, 0, 1000);
	rounds = converge(rt, ids, 3, (const int (*)[5])adj, 1000);
	assert_true(rounds <= 3);
	assert_false(route_lookup(rt[0], 30, &h));
	assert_false(route_lookup(rt[1], 30, &h));
	for (int i = 0; i < 3; i++)
		route_free(rt[i]);
}

static void
test_triangle_falls_back_to_radio(void **state)
{
	const uint64_t ids[3] = { 10, 20, 30 };
	int adj[5][5] = { { 0, 1, 1 }, { 1, 0, 1 }, { 1, 1, 0 } };
	struct route_table *rt[3];
	struct route_hop h;

	for (int i = 0; i < 3; i++)
		rt[i] = route_new(ids[i]);
	route_neighbour_up(rt[0], 20, 0, 256, 0);
	route_neighbour_up(rt[1], 10, 0, 256, 0);
	route_neighbour_up(rt[1], 30, 0, 300, 0);
	route_neighbour_up(rt[2], 20, 0, 300, 0);
	route_neighbour_up(rt[0], 30, 1, 7000, 0);	/* A-C over a narrow radio */
	route_neighbour_up(rt[2], 10, 1, 7000, 0);
	converge(rt, ids, 3, (const int (*)[5])adj, 0);
	assert_true(route_lookup(rt[0], 30, &h));
	assert_int_equal(h.via, 20);			/* two mesh hops beat the radio */
	adj[1][2] = adj[2][1] = 0;
	route_neighbour_down(rt[1], 30, 0, 1000);
	route_neighbour_down(rt[2], 20, 0, 1000);
	converge(rt, ids, 3, (const int (*)[5])adj, 1000);
	assert_true(route_lookup(rt[0], 30, &h));
	assert_int_equal(h.via, 30);
	assert_int_equal(h.link, 1);
	assert_int_equal(h.kind, ROUTE_DIRECT);
	/* And B now reaches C through A and the radio. */
	assert_true(route_lookup(rt[1], 30, &h));
	assert_int_equal(h.via, 10);
	assert_int_equal(h.cost, 7256);
	for (int i = 0; i < 3; i++)
		route_free(rt[i]);
}

static void
test_link_cost(void **state)
{
	uint32_t mesh = route_link_cost(1000000, 0, 2);
	uint32_t lossy = route_link_cost(1000000, 0.3, 2);
	uint32_t radio = route_link_cost(1200, 0, 300);
	uint32_t sat = route_link_cost(64000, 0.01, 1200);

	assert_true(mesh >= 256 && mesh < 300);
	assert_true(lossy > mesh);
	assert_true(radio > sat && sat > mesh);
	assert_true(radio < ROUTE_INFINITY);
	assert_true(route_link_cost(0, 2.0, 0) < ROUTE_INFINITY);
}

/*
 * A neighbour on the mesh (link 0) and a radio that carries no telemetry
 * or bulk (link 1): every class takes the mesh while it is up; when the
 * mesh neighbour goes, alerts and positions take the radio at once and bulk
 * waits; when it returns, everything takes the mesh again.  The same for
 * the default route through that neighbour.
 */
static void
test_classes_per_link(void **state)
{
	struct route_table *rt = route_new(1);
	struct route_hop h;

	route_set_link_classes(rt, 1, 1u << 5 | 1u << 6);
	assert_int_equal(route_add_static(rt, 0, 2), 0);
	route_neighbour_up(rt, 2, 0, 256, 0);
	route_neighbour_up(rt, 2, 1, 7000, 0);
	for (int prio = -1; prio <= 6; prio++) {
		assert_true(route_lookup_class(rt, 2, prio, &h));
		assert_int_equal(h.link, 0);
		assert_true(route_lookup_class(rt, 9, prio, &h));	/* default route */
		assert_int_equal(h.link, 0);
	}
	route_neighbour_down(rt, 2, 0, 10);
	for (int prio = 1; prio <= 4; prio++) {
		assert_true(route_lookup_class(rt, 2, prio, &h));
		assert_int_equal(h.link, 1);
		assert_int_equal(h.kind, ROUTE_DIRECT);
		assert_true(route_lookup_class(rt, 9, prio, &h));
		assert_int_equal(h.link, 1);
		assert_int_equal(h.kind, ROUTE_DEFAULT);
	}
	assert_false(route_lookup_class(rt, 2, 5, &h));		/* telemetry and bulk wait */
	assert_false(route_lookup_class(rt, 2, 6, &h));
	assert_false(route_lookup_class(rt, 9, 6, &h));
	assert_true(route_lookup(rt, 2, &h));			/* any class: the radio is there */
	assert_int_equal(h.link, 1);
	route_neighbour_up(rt, 2, 0, 256, 20);
	assert_true(route_lookup_class(rt, 2, 6, &h));
	assert_int_equal(h.link, 0);
	assert_true(route_lookup_class(rt, 2, 1, &h));
	assert_int_equal(h.link, 0);
	route_free(rt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_static_default),
		cmocka_unit_test(test_cheapest_link_to_a_neighbour),
		cmocka_unit_test(test_learned_routes_and_failover),
		cmocka_unit_test(test_poisoned_reverse),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_line_converges_and_withdraws),
		cmocka_unit_test(test_triangle_falls_back_to_radio),
		cmocka_unit_test(test_link_cost),
		cmocka_unit_test(test_classes_per_link),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
