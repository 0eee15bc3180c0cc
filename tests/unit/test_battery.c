/*
 * test_battery.c - the battery level for the low-battery mode
 * (relay/track/battery.c): the lowest battery in a sysfs tree (mains and
 * USB supplies left out), a file with a percentage, and what is no level.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "battery.h"

static char root[64];

static void
put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
dir(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static void
test_sysfs(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/fr-battery-XXXXXX");
	assert_non_null(mkdtemp(root));
	assert_int_equal(battery_level("auto", root), -1);	/* no battery at all: unknown */
	dir("AC");
	put("AC/type", "Mains\n");
	put("AC/capacity", "3\n");	/* not a battery: never counts */
	assert_int_equal(battery_level("auto", root), -1);
	dir("BAT0");
	put("BAT0/type", "Battery\n");
	put("BAT0/capacity", "57\n");
	assert_int_equal(battery_level("auto", root), 57);
	dir("BAT1");
	put("BAT1/type", "Battery\n");
	put("BAT1/capacity", "18\n");
	assert_int_equal(battery_level("auto", root), 18);	/* the lowest */
	put("BAT1/capacity", "garbage\n");
	assert_int_equal(battery_level("auto", root), 57);
	assert_int_equal(battery_level("auto", "/nonexistent/power_supply"), -1);
}

static void
test_file(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/level", root);
	put("level", "42%\n");
	assert_int_equal(battery_level(path, NULL), 42);
	put("level", "99.6");
	assert_int_equal(battery_level(path, NULL), 100);
	put("level", "101");
	assert_int_equal(battery_level(path, NULL), -1);
	put("level", "-1");
	assert_int_equal(battery_level(path, NULL), -1);
	put("level", "");
	assert_int_equal(battery_level(path, NULL), -1);
	put("level", "20 percent");
	assert_int_equal(battery_level(path, NULL), -1);
	assert_int_equal(battery_level("/nonexistent/level", NULL), -1);
	assert_int_equal(battery_level("", NULL), -1);
	assert_int_equal(battery_level(NULL, NULL), -1);
}

static int
cleanup(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sysfs),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, cleanup);
}
