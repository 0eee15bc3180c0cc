/*
 * test_config_sbd.c - the keys of sbd and directip links (relay/daemon/config_sbd.c):
 * values, defaults that depend on the type, and file:line errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_sbd.h"

#define HEAD "[node]\nid = 5\n[security]\nkey_file = /etc/k\n"

static char path[64];
static struct config cfg;
static char err[4096];

static int
load(const char *text)
{
	FILE *fp;
	int fd, r;

	strcpy(path, "/tmp/test_config_sbd.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	r = config_load(path, &cfg, err, sizeof(err));
	unlink(path);
	return r;
}

static void
expect_error(const char *text, int line, const char *msg)
{
	char prefix[128];

	assert_int_equal(load(text), -EINVAL);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strstr(err, prefix) == NULL || strstr(err, msg) == NULL)
		fail_msg("expected '%s...%s', got '%s'", prefix, msg, err);
}

static void
sbd_keys_and_defaults(void **state)
{
	const struct config_link *l;

	assert_int_equal(load(HEAD "[link iridium]\ntype = sbd\ndevice = /dev/ttyUSB1\npeer = 1\n"), 0);
	l = &cfg.links[0];
	assert_int_equal(l->conf.kind, LINK_SBD);
	assert_string_equal(l->conf.sbd.device, "/dev/ttyUSB1");
	assert_int_equal(l->conf.sbd.peer, 1);
	assert_int_equal(l->conf.sbd.baud, 19200);
	assert_int_equal(l->conf.sbd.mailbox_ms, 15 * 60000);
	assert_int_equal(l->conf.sbd.ack_hold_ms, 10 * 60000);
	assert_false(l->conf.sbd.no_ring_alerts);
	assert_int_equal(l->fragment, SBD_FRAGMENT_MO);
	assert_int_equal(l->conf.mtu, 340);
	assert_true(l->refuse & (1u << PRIO_BULK));
	assert_true(l->refuse & (1u << PRIO_TELEMETRY));
	assert_false(l->refuse & (1u << PRIO_POSITION));

	assert_int_equal(load(HEAD "[link iridium]\ntype = sbd\ndevice = /dev/ttyUSB1\npeer = 1\nbaud = 9600\n"
	    "interval = 15m\nring_alerts = no\nhold = 30s\nack_hold = 0\nretry = 5s:1m\nbudget = 20 messages/day\n"
	    "budget = 4K/day\nbill_min = 10\nbill_unit = 5\nprice = 1.25\nfragment = 200\n"
	    "classes = urgent,position,message,bulk\n"), 0);
	l = &cfg.links[0];
	assert_int_equal(l->conf.sbd.baud, 9600);
	assert_int_equal(l->conf.sbd.mailbox_ms, 15 * 60000);
	assert_true(l->conf.sbd.no_ring_alerts);
	assert_int_equal(l->conf.sbd.hold_ms, 30000);
	assert_int_equal(l->conf.sbd.ack_hold_ms, 0);
	assert_int_equal(l->conf.sbd.backoff_min_ms, 5000);
	assert_int_equal(l->conf.sbd.backoff_max_ms, 60000);
	assert_int_equal(l->conf.sbd.budget_messages, 20);
	assert_int_equal(l->conf.budget_bytes, 4096);
	assert_int_equal(l->conf.budget_period_s, 86400);
	assert_int_equal(l->conf.sbd.bill_min, 10);
	assert_int_equal(l->conf.sbd.bill_unit, 5);
	assert_int_equal(l->conf.sbd.price, 1250000);
	assert_int_equal(l->fragment, 200);
	assert_false(l->refuse & (1u << PRIO_BULK));
}

static void
directip_keys_and_defaults(void **state)
{
	const struct config_link *l;

	assert_int_equal(load(HEAD "[link gw]\ntype = directip\ngateway = 192.0.2.7:10801\n"
	    "unit = 300234010753370 21\nunit = 300234010753371 22\n"), 0);
	l = &cfg.links[0];
	assert_int_equal(l->conf.kind, LINK_DIRECTIP);
	assert_int_equal(l->conf.port, 10800);
	assert_string_equal(l->conf.dip.gateway, "192.0.2.7:10801");
	assert_int_equal(l->conf.dip.n_units, 2);
	assert_string_equal(l->conf.dip.units[1].imei, "300234010753371");
	assert_int_equal(l->conf.dip.units[1].node, 22);
	assert_int_equal(l->fragment, SBD_FRAGMENT_MT);
	assert_int_equal(l->conf.mtu, 270);
	assert_int_equal(l->conf.dip.ack_timeout_ms, 24 * 3600000);
	assert_int_equal(load(HEAD "[link gw]\ntype = directip\ngateway = 192.0.2.7\nunit = 300234010753370 21\n"
	    "ack_timeout = 2h\n"), 0);
	assert_int_equal(cfg.links[0].conf.dip.ack_timeout_ms, 2 * 3600000);
}

static void
errors(void **state)
{
	expect_error(HEAD "[link i]\ntype = sbd\ndevice = /dev/x\n", 5, "needs peer");
	expect_error(HEAD "[link i]\ntype = sbd\npeer = 1\n", 5, "needs the modem's device");
	expect_error(HEAD "[link i]\ntype = sbd\ndevice = /dev/x\npeer = 1\ninterval = 5s\n", 9, "interval");
	expect_error(HEAD "[link i]\ntype = sbd\ndevice = /dev/x\npeer = 1\nbudget = 5 messages/fortnight\n", 9,
	    "messages per hour");
	expect_error(HEAD "[link i]\ntype = sbd\ndevice = /dev/x\npeer = 1\nprice = 1.2345678\n", 9, "price");
	expect_error(HEAD "[link i]\ntype = sbd\ndevice = /dev/x\npeer = 1\nunit = 300234010753370 2\n", 5,
	    "for type = directip");
	expect_error(HEAD "[link g]\ntype = directip\nunit = 300234010753370 2\n", 5, "needs the gateway");
	expect_error(HEAD "[link g]\ntype = directip\ngateway = 1.2.3.4\n", 5, "at least one unit");
	expect_error(HEAD "[link g]\ntype = directip\ngateway = 1.2.3.4\nunit = 30023401075337 2\n", 8, "IMEI NODE");
	expect_error(HEAD "[link g]\ntype = directip\ngateway = 1.2.3.4\nunit = 300234010753370 2\n"
	    "unit = 300234010753370 3\n", 9, "named twice");
	expect_error(HEAD "[link g]\ntype = directip\ngateway = name.example:10800\n", 7, "numeric");
	expect_error(HEAD "[link u]\ntype = udp\npeer = 10.0.0.1\nhold = 1s\n", 5, "not an sbd or directip link");
	expect_error(HEAD "[link u]\ntype = udp\npeer = 10.0.0.1\nfragment = 200\n", 5, "at least 1K");
	expect_error(HEAD "[link i]\ntype = sbd\ndevice = /dev/x\npeer = 1\nack_hold = 25h\n", 9, "ack_hold");
	expect_error(HEAD "[link g]\ntype = directip\ngateway = 1.2.3.4\nunit = 300234010753370 2\n"
	    "ack_timeout = 5s\n", 9, "ack_timeout");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sbd_keys_and_defaults),
		cmocka_unit_test(directip_keys_and_defaults),
		cmocka_unit_test(errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
