/*
 * test_linkclass.c - what the agent reads off the daemon's views
 * (relay/track/linkclass.c): the class of each kind of link, the narrowest
 * link up, the link toward a node, and whether a neighbour took a bundle.
 * The JSON is shaped as relay/ctl/views.c writes it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "linkclass.h"

static void
test_classes(void **state)
{
	(void)state;
	assert_int_equal(linkclass_of("kiss", 0, false), LINK_NARROWBAND);
	assert_int_equal(linkclass_of("kiss", 1000000, false), LINK_NARROWBAND);
	assert_int_equal(linkclass_of("sbd", 0, true), LINK_SATELLITE);
	assert_int_equal(linkclass_of("directip", 0, false), LINK_SATELLITE);
	assert_int_equal(linkclass_of("udp", 0, false), LINK_MESH);
	assert_int_equal(linkclass_of("pcap", 54000000, false), LINK_MESH);
	assert_int_equal(linkclass_of("udp", 9600, false), LINK_NARROWBAND);
	assert_int_equal(linkclass_of("udp", 64000, false), LINK_NARROWBAND);
	assert_int_equal(linkclass_of("udp", 64001, true), LINK_IP);
}

static void
test_links_view(void **state)
{
	struct linkclass_view v;

	(void)state;
	assert_int_equal(linkclass_parse("{\"ok\":true,\"links\":[{\"name\":\"mesh0\",\"kind\":\"udp\",\"up\":true,"
	    "\"rate_bps\":0},{\"name\":\"vhf\",\"kind\":\"kiss\",\"up\":false,\"rate_bps\":1200},"
	    "{\"name\":\"cell\",\"kind\":\"udp\",\"up\":true,\"rate_bps\":2000000,\"budget_bytes\":1000000}]}", &v), 0);
	assert_int_equal(v.links, 3);
	assert_int_equal(v.up, 2);
	assert_int_equal(v.narrowest, LINK_IP);
	assert_string_equal(v.narrowest_link, "cell");
	assert_int_equal(linkclass_parse("{\"ok\":true,\"links\":[{\"name\":\"vhf\",\"kind\":\"kiss\",\"up\":true},"
	    "{\"name\":\"mesh0\",\"kind\":\"udp\",\"up\":true}]}", &v), 0);
	assert_int_equal(v.narrowest, LINK_NARROWBAND);
	assert_string_equal(v.narrowest_link, "vhf");
	assert_int_equal(linkclass_parse("{\"ok\":true,\"links\":[]}", &v), 0);
	assert_int_equal(v.up, 0);
	assert_int_equal(linkclass_parse("{\"ok\":false}", &v), -EBADMSG);
	assert_int_equal(linkclass_parse("not json", &v), -EBADMSG);
}

static void
test_routes_view(void **state)
{
	const char *j = "{\"ok\":true,\"routes\":[{\"dst\":2,\"via\":2,\"link\":\"mesh0\",\"cost\":1,\"kind\":\"direct\"},"
	    "{\"dst\":7,\"via\":null,\"kind\":\"unreachable\"},{\"dst\":9,\"via\":2,\"link\":\"vhf\",\"cost\":3,"
	    "\"kind\":\"learned\"}]}";
	char link[32];

	(void)state;
	assert_int_equal(linkclass_route_link(j, 9, link, sizeof(link)), 0);
	assert_string_equal(link, "vhf");
	assert_int_equal(linkclass_route_link(j, 2, link, sizeof(link)), 0);
	assert_string_equal(link, "mesh0");
	assert_int_equal(linkclass_route_link(j, 7, link, sizeof(link)), -ENOENT);
	assert_int_equal(linkclass_route_link(j, 5, link, sizeof(link)), -ENOENT);
	assert_int_equal(linkclass_route_link("", 5, link, sizeof(link)), -EBADMSG);
}

static void
test_flood_view(void **state)
{
	const char *j = "{\"ok\":true,\"total\":3,\"flood\":["
	    "{\"id\":\"ipn:1.3 100 1\",\"holders\":[]},"
	    "{\"id\":\"ipn:1.3 200 2\",\"holders\":[{\"node\":2,\"how\":\"offered\",\"when\":5}]},"
	    "{\"id\":\"ipn:1.3 300 3\",\"holders\":[{\"node\":2,\"how\":\"offered\",\"when\":5},"
	    "{\"node\":3,\"how\":\"sent\",\"when\":6}]}]}";

	(void)state;
	assert_int_equal(linkclass_flood_taken(j, "ipn:1.3 100 1"), 0);
	assert_int_equal(linkclass_flood_taken(j, "ipn:1.3 200 2"), 0);	/* offered only */
	assert_int_equal(linkclass_flood_taken(j, "ipn:1.3 300 3"), 1);
	assert_int_equal(linkclass_flood_taken(j, "ipn:1.3 400 4"), -ENOENT);
	assert_int_equal(linkclass_flood_taken("{}", "x"), -EBADMSG);
}

static void
test_status_view(void **state)
{
	(void)state;
	assert_true(linkclass_clock_trusted("{\"ok\":true,\"node\":1,\"clock_trusted\":true}"));
	assert_true(linkclass_clock_trusted("{\"clock_trusted\": true, \"store\": {}}"));
	assert_false(linkclass_clock_trusted("{\"ok\":true,\"clock_trusted\":false}"));
	assert_false(linkclass_clock_trusted("{\"ok\":true}"));
	assert_false(linkclass_clock_trusted("{\"clock_trusted\":\"true\"}"));
	assert_false(linkclass_clock_trusted("not json"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_links_view),
		cmocka_unit_test(test_routes_view),
		cmocka_unit_test(test_flood_view),
		cmocka_unit_test(test_status_view),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
