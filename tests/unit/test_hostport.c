/*
 * test_hostport.c - HOST:PORT as the [track] endpoints give it
 * (relay/track/hostport.c), and the two clocks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hostport.h"

static void
test_split(void **state)
{
	char host[64], port[8];

	(void)state;
	assert_int_equal(hostport_split("localhost:2947", host, sizeof(host), port, sizeof(port)), 0);
	assert_string_equal(host, "localhost");
	assert_string_equal(port, "2947");
	assert_int_equal(hostport_split("[::1]:14550", host, sizeof(host), port, sizeof(port)), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(hostport_split(":14550", host, sizeof(host), port, sizeof(port)), 0);
	assert_string_equal(host, "");
	assert_string_equal(port, "14550");
	assert_int_equal(hostport_split("239.2.3.1:6969", host, sizeof(host), port, sizeof(port)), 0);
	assert_string_equal(host, "239.2.3.1");
	static const char *const bad[] = { "localhost", "host:", "host:0", "host:65536", "host:12x", "[::1",
	    "[::1]14550", "[]:1", "::1:14550", "host:-1", "host: 1", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hostport_split(bad[i], host, sizeof(host), port, sizeof(port)), -EINVAL);
	/* Too long for the caller's buffers. */
	assert_int_equal(hostport_split("a-rather-long-host-name:1", host, 8, port, sizeof(port)), -EINVAL);
}

static void
test_clocks(void **state)
{
	int64_t m = now_mono_ms(), w = now_wall_ms();

	(void)state;
	assert_true(w > 1700000000000LL);	/* after 2023 */
	assert_true(now_mono_ms() >= m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_clocks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
