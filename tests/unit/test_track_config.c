/*
 * test_track_config.c - the [track] section (relay/track/track_config.c):
 * its defaults, every key's values and the errors people get for bad ones,
 * and the section checked in a whole config file with file:line errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "config_section.h"
#include "track.h"

extern const struct config_section track_config_section;

static struct track_conf conf;
static char msg[512];

static int
set(const char *key, const char *value)
{
	msg[0] = '\0';
	return track_config_section.set(&conf, key, value, msg, sizeof(msg));
}

static void
expect_bad(const char *key, const char *value, const char *text)
{
	track_conf_defaults(&conf);
	if (set(key, value) != -1 || strstr(msg, text) == NULL)
		fail_msg("%s = %s: expected an error with '%s', got '%s'", key, value, text, msg);
}

static void
test_defaults(void **state)
{
	track_conf_defaults(&conf);
	assert_string_equal(conf.gpsd, "localhost:2947");
	assert_string_equal(conf.db, TRACK_DB_DEFAULT);
	assert_int_equal(conf.keep_s, 48 * 3600);
	assert_true(conf.error_m == 25);
	assert_string_equal(conf.to, "ipn:0.3");
	assert_string_equal(conf.cot, "");
	assert_int_equal(conf.summary_ms, 60000);
	for (int i = 0; i < LINK_CLASS_COUNT; i++)
		assert_true(conf.interval[i].min_ms > 0 && conf.interval[i].min_ms <= conf.interval[i].max_ms);
	/* A zeroed section (what the parser hands over) takes the defaults first. */
	memset(&conf, 0, sizeof(conf));
	assert_int_equal(set("error", "40m"), 0);
	assert_string_equal(conf.gpsd, "localhost:2947");
	assert_true(conf.error_m == 40);
}

static void
test_values(void **state)
{
	track_conf_defaults(&conf);
	assert_int_equal(set("gpsd", "none"), 0);
	assert_string_equal(conf.gpsd, "");
	assert_int_equal(set("gpsd", "10.0.0.2:2948"), 0);
	assert_int_equal(set("keep", "72h"), 0);
	assert_int_equal(conf.keep_s, 72 * 3600);
	assert_int_equal(set("error", "1.5km"), 0);
	assert_true(conf.error_m == 1500);
	assert_int_equal(set("interval", "narrowband 45s 20m"), 0);
	assert_int_equal(conf.interval[LINK_NARROWBAND].min_ms, 45000);
	assert_int_equal(conf.interval[LINK_NARROWBAND].max_ms, 1200000);
	assert_int_equal(set("mavlink", "listen :14550"), 0);
	assert_int_equal(set("mavlink", "connect 127.0.0.1:5760"), 0);
	assert_int_equal(set("mavlink", "tlog /var/log/flight.tlog"), 0);
	assert_int_equal(conf.n_mavlink, 3);
	assert_int_equal(conf.mavlink[0].kind, MAV_LISTEN);
	assert_int_equal(conf.mavlink[2].kind, MAV_TLOG);
	assert_string_equal(conf.mavlink[2].addr, "/var/log/flight.tlog");
	assert_true(conf.mavlink[2].speed == 1);
	assert_int_equal(set("mavlink", "tlog /var/log/flight.tlog 10"), 0);
	assert_int_equal(conf.mavlink[3].kind, MAV_TLOG);
	assert_string_equal(conf.mavlink[3].addr, "/var/log/flight.tlog");
	assert_true(conf.mavlink[3].speed == 10);
	conf.n_mavlink = 3;
	assert_int_equal(set("rate", "mesh ATTITUDE 2"), 0);
	assert_int_equal(set("rate", "satellite 33 0"), 0);
	assert_int_equal(conf.n_rate, 2);
	assert_int_equal(conf.rate[0].msgid, 30);
	assert_int_equal(conf.rate[1].cls, LINK_SATELLITE);
	assert_int_equal(set("cot", "239.2.3.1:6969"), 0);
	assert_int_equal(set("summary", "2m"), 0);
	assert_int_equal(conf.summary_ms, 120000);
	assert_int_equal(set("battery", "/run/ups/percent"), 0);
	assert_int_equal(set("low_battery", "15"), 0);
	assert_int_equal(conf.low_battery, 15);
	assert_string_equal(conf.telemetry_to, "");
	assert_int_equal(set("telemetry_to", "ipn:1.6"), 0);
	assert_string_equal(conf.telemetry_to, "ipn:1.6");
	assert_int_equal(set("telemetry_to", "none"), 0);
	assert_string_equal(conf.telemetry_to, "");
}

static void
test_errors(void **state)
{
	expect_bad("gpsd", "localhost", "gpsd: 'localhost' is not HOST:PORT");
	expect_bad("gpsd", "localhost:99999", "is not HOST:PORT");
	expect_bad("keep", "10s", "keep: '10s' is not a duration from 1m to 366d");
	expect_bad("keep", "forever", "is not a duration");
	expect_bad("error", "0", "error: '0' is not a distance above 0");
	expect_bad("error", "-5m", "is not a distance");
	expect_bad("interval", "radio 30s 10m", "interval: 'radio 30s 10m' is not CLASS MIN MAX");
	expect_bad("interval", "mesh 10m 30s", "MIN <= MAX");
	expect_bad("interval", "mesh 10s", "is not CLASS MIN MAX");
	expect_bad("mavlink", "serve :14550", "is not 'listen [HOST]:PORT'");
	expect_bad("mavlink", "connect :14550", "is not 'listen [HOST]:PORT'");
	expect_bad("mavlink", "listen :14550 10", "is not 'listen [HOST]:PORT'");
	expect_bad("mavlink", "tlog /f.tlog fast", "speed 'fast' is not a factor from 0.01 to 1000");
	expect_bad("mavlink", "tlog /f.tlog 0", "is not a factor");
	expect_bad("mavlink", "tlog /f.tlog 5000", "is not a factor");
	expect_bad("mavlink", "tlog /f.tlog 2 3", "'tlog FILE [SPEED]'");
	expect_bad("rate", "mesh NOSUCH 1", "rate: 'mesh NOSUCH 1' is not CLASS MSG HZ");
	expect_bad("rate", "mesh HEARTBEAT 1000", "HZ 0 .. 100");
	expect_bad("low_battery", "120", "is not a percentage");
	expect_bad("low_battery_factor", "0.5", "is not a factor from 1 to 100");
	expect_bad("to", "everyone", "to: 'everyone' is not an ipn endpoint");
	expect_bad("telemetry_to", "ipn:0.6", "telemetry_to: 'ipn:0.6' is not the ipn endpoint of one node");
	expect_bad("telemetry_to", "dtn://cc", "is not the ipn endpoint of one node");
	expect_bad("cot", "multicast", "cot: 'multicast' is not HOST:PORT");
	expect_bad("summary", "0", "summary: '0' is not a duration from 1s");
	expect_bad("colour", "blue", "colour: not a key of [track]");
	track_conf_defaults(&conf);
	for (int i = 0; i < TRACK_MAX_MAVLINK; i++)
		assert_int_equal(set("mavlink", "listen :14550"), 0);
	assert_int_equal(set("mavlink", "listen :14551"), -1);
	assert_non_null(strstr(msg, "at most 4 endpoints"));
}

/* The section in a node's config file: checked by the one parser, errors with file:line. */
static void
test_in_config_file(void **state)
{
	static struct config cfg;
	char path[] = "/tmp/test_track_config.XXXXXX", err[1024], want[128];
	int fd = mkstemp(path);
	FILE *fp;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs("[node]\nid = 1\n[track]\ngpsd = localhost:2947\nerror = 25m\ninterval = mesh 5s 5m\n"
	    "interval = narrowband 30s 30m\nkeep = 48h\n", fp);
	fclose(fp);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	fp = fopen(path, "w");
	fputs("[node]\nid = 1\n[track]\ngpsd = localhost:2947\nerror = far\n", fp);
	fclose(fp);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:5: ", path);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, "error: 'far' is not a distance"))
		fail_msg("got '%s'", err);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_in_config_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
