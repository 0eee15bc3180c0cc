/* test_config.c - config parsing: values, defaults, file:line errors, reload diff. */
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

#include "bundle.h"
#include "config.h"
#include "log.h"

static char path[64];
static struct config cfg;
static char err[4096];

static int
load(const char *text)
{
	FILE *fp;

	strcpy(path, "/tmp/test_config.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	int r = config_load(path, &cfg, err, sizeof(err));
	unlink(path);
	return r;
}

/* err must hold "PATH:LINE: ...msg..." */
static void
expect_error(const char *text, int line, const char *msg)
{
	char prefix[128];

	assert_int_equal(load(text), -EINVAL);
	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, msg) == NULL)
		fail_msg("expected '%s...%s', got '%s'", prefix, msg, err);
}

static void
test_defaults(void **state)
{
	assert_int_equal(load("[node]\nid = 12\n"), 0);
	assert_int_equal(cfg.node_id, 12);
	assert_string_equal(cfg.data_dir, "/var/lib/fieldrelay");
	assert_string_equal(cfg.store_path, "/var/lib/fieldrelay/bundles.db");
	assert_string_equal(cfg.socket_path, "/var/lib/fieldrelay/control.sock");
	assert_int_equal(cfg.quota, 0);
	assert_int_equal(cfg.commit_ms, 2);
	assert_int_equal(cfg.max_bundle_size, 16u << 20);
	assert_int_equal(cfg.default_lifetime, 86400);
	assert_int_equal(cfg.crc_type, CRC_32C);
	assert_int_equal(cfg.socket_mode, 0660);
	assert_int_equal(cfg.log_level, LOG_LVL_INFO);
}

static void
test_all_keys(void **state)
{
	assert_int_equal(load(
	    "; comment\n[node]\nid = 7\nname = cv-1\ndata_dir = /srv/fr\nclock = untrusted\nuser = nobody\n"
	    "[store]\npath = /srv/db\nquota = 2G\nreserve = 8M\nreserve_urgent = 16M\nreserve_bulk = 1K\n"
	    "commit_ms = 5\ncommit_bytes = 64K\nmax_bundle_size = 1M\nexpire_interval = 2m\n"
	    "[bundle]\ndefault_lifetime = 7d\nhop_limit = 9\ncrc = crc16\n"
	    "[control]\nsocket = /run/x.sock\nmode = 0600\ngroup = adm\n[log]\nlevel = debug\n"), 0);
	assert_string_equal(cfg.name, "cv-1");
	assert_string_equal(cfg.store_path, "/srv/db");
	assert_int_equal(cfg.clock, CLOCK_UNTRUSTED);
	assert_int_equal(cfg.quota, 2ull << 30);
	assert_int_equal(cfg.class_reserve[PRIO_URGENT], 16u << 20);
	assert_int_equal(cfg.class_reserve[PRIO_BULK], 1024);
	assert_int_equal(cfg.commit_bytes, 65536);
	assert_int_equal(cfg.expire_interval, 120);
	assert_int_equal(cfg.default_lifetime, 7 * 86400);
	assert_int_equal(cfg.hop_limit, 9);
	assert_int_equal(cfg.crc_type, CRC_16);
	assert_string_equal(cfg.socket_path, "/run/x.sock");
	assert_int_equal(cfg.socket_mode, 0600);
	assert_string_equal(cfg.socket_group, "adm");
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);
}

static void
test_errors(void **state)
{
	expect_error("[node]\nid = 1\n\n[radio]\nx = 1\ny = 2\n", 4, "unknown section [radio]");
	expect_error("[node]\nid = 1\nid2 = 3\n", 3, "unknown key 'id2' in [node]");
	expect_error("[node]\nid = 0\n", 2, "not a node number");
	expect_error("[node]\nid = -4\n", 2, "not a node number");
	expect_error("[node]\nid = 99999999999999999999\n", 2, "not a node number");
	expect_error("[node]\nid = 1\nclock = sometimes\n", 3, "clock");
	expect_error("[node]\nid = 1\n[store]\nquota = 12Q\n", 4, "quota");
	expect_error("[node]\nid = 1\n[store]\nreserve_sometimes = 1M\n", 4, "unknown key 'reserve_sometimes'");
	expect_error("[node]\nid = 1\n[store]\nmax_bundle_size = 17M\n", 4, "max_bundle_size");
	expect_error("[node]\nid = 1\n[bundle]\ncrc = md5\n", 4, "crc");
	expect_error("[node]\nid = 1\n[bundle]\nhop_limit = 0\n", 4, "hop_limit");
	expect_error("[node]\nid = 1\n[control]\nmode = 0999\n", 4, "octal");
	expect_error("[node]\nid = 1\n[control]\nsocket = rel.sock\n", 4, "absolute");
	expect_error("[node]\nid = 1\nname =\n", 3, "empty value");
	expect_error("id = 1\n", 1, "outside any section");
	expect_error("[node]\nid = 1\nnot ini at all\n", 3, "syntax error");
	expect_error("[node]\nname = x\n", 0, "[node] id is required");
	/* Every error is reported, not only the first. */
	assert_int_equal(load("[node]\nid = x\nfoo = 1\n[log]\nlevel = y\n"), -EINVAL);
	assert_non_null(strstr(err, ":2: "));
	assert_non_null(strstr(err, ":3: "));
	assert_non_null(strstr(err, ":5: "));
}

static void
test_missing_file(void **state)
{
	assert_true(config_load("/nonexistent/fieldrelay.conf", &cfg, err, sizeof(err)) == -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
}

static void
test_sizes_and_durations(void **state)
{
	uint64_t v;

	assert_int_equal(config_parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(config_parse_size("4KiB", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(config_parse_size("3MB", &v), 0);
	assert_int_equal(v, 3u << 20);
	assert_int_equal(config_parse_size("1Tx", &v), -EINVAL);
	assert_int_equal(config_parse_size("-1", &v), -EINVAL);
	assert_int_equal(config_parse_size("99999999999999G", &v), -EINVAL);
	assert_int_equal(config_parse_duration("90s", &v), 0);
	assert_int_equal(v, 90);
	assert_int_equal(config_parse_duration("3h", &v), 0);
	assert_int_equal(v, 10800);
	assert_int_equal(config_parse_duration("1w", &v), -EINVAL);
	assert_int_equal(config_parse_duration("", &v), -EINVAL);
}

static void
test_reloadable(void **state)
{
	static struct config a, b;
	char out[1024];

	assert_int_equal(load("[node]\nid = 1\n"), 0);
	a = cfg;
	b = cfg;
	assert_true(config_reloadable(&a, &b, out, sizeof(out)));
	assert_string_equal(out, "");
	b.log_level = LOG_LVL_DEBUG;
	assert_true(config_reloadable(&a, &b, out, sizeof(out)));
	assert_non_null(strstr(out, "[log] level changed: applied"));
	b.quota = 1;
	assert_false(config_reloadable(&a, &b, out, sizeof(out)));
	assert_non_null(strstr(out, "[store] quota changed: needs a restart"));
}

static void
test_links_routes_security(void **state)
{
	assert_int_equal(load("[node]\nid = 5\n[security]\nkey_file = /etc/fr.key\n"
	    "[link mesh]\ntype = udp\nport = 4600\ninterface = lo\ngroup4 = 239.1.2.3\n"
	    "peer = 10.0.0.7\npeer = [fd00::9]:4999\nmtu = 1200\nrate = 54M\nfragment = 1M\n"
	    "[link ham]\ntype = udp\npeer = 10.9.9.9:1\nauth_only = yes\ntag = 8\nfragment = no\ncompact = yes\n"
	    "[route]\ndefault = 1\nstatic = 12 via 7\nstatic = 13 via 7\n"), 0);
	assert_string_equal(cfg.key_file, "/etc/fr.key");
	assert_int_equal(cfg.n_links, 2);
	assert_string_equal(cfg.links[0].conf.name, "mesh");
	assert_int_equal(cfg.links[0].conf.kind, LINK_UDP);
	assert_int_equal(cfg.links[0].conf.port, 4600);
	assert_int_equal(cfg.links[0].conf.n_peers, 2);
	assert_string_equal(cfg.links[0].conf.peers[1], "[fd00::9]:4999");
	assert_int_equal(cfg.links[0].conf.rate_bps, 54000000);
	assert_int_equal(cfg.links[0].conf.mtu, 1200);
	assert_true(cfg.links[1].auth_only && cfg.links[1].tag8);
	assert_int_equal(cfg.links[0].fragment, 1 << 20);
	assert_int_equal(cfg.links[1].fragment, 0);
	assert_int_equal(cfg.links[0].compact, LINK_COMPACT_AUTO);
	assert_int_equal(cfg.links[1].compact, LINK_COMPACT_YES);
	assert_int_equal(cfg.links[1].conf.port, 4556);
	assert_int_equal(cfg.route_default, 1);
	assert_int_equal(cfg.n_routes, 2);
	assert_int_equal(cfg.routes[1].dst, 13);
	assert_int_equal(cfg.routes[1].via, 7);

	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = carrier-pigeon\npeer = 1.2.3.4\n",
	    6, "not a link type");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = relay.example\n",
	    7, "not a numeric address");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = udp\n", 5, "can reach nobody");
	expect_error("[node]\nid = 1\n[link m]\ntype = udp\npeer = 1.2.3.4\n", 0, "key_file is not");
	expect_error("[node]\nid = 1\n[route]\nstatic = 12 through 5\n", 4, "DST via NEXTHOP");
	expect_error("[node]\nid = 1\n[route]\ndefault = x\n", 4, "not a node number");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = 1.2.3.4\ntag = 12\n",
	    8, "must be 16 or 8");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = 1.2.3.4\nfragment = 12\n",
	    8, "between 1K and 16M");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = 1.2.3.4\ncompact = maybe\n",
	    8, "not auto, yes or no");
	assert_int_equal(load("[node]\nid = 5\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = 1.2.3.4\n"
	    "compact = no\n"), 0);
	assert_int_equal(cfg.links[0].compact, LINK_COMPACT_NO);
}

static void
test_pcap_links(void **state)
{
	assert_int_equal(load("[node]\nid = 5\n[security]\nkey_file = /etc/fr.key\n"
	    "[link raw]\ntype = pcap\ninterface = mesh0\n"
	    "[link raw2]\ntype = pcap\ninterface = adhoc0\nethertype = 0x88B6\nmtu = 1000\n"
	    "[link ip]\ntype = udp\npeer = 10.0.0.7\n"), 0);
	assert_int_equal(cfg.links[0].conf.kind, LINK_PCAP);
	assert_string_equal(cfg.links[0].conf.ifname, "mesh0");
	assert_int_equal(cfg.links[0].conf.ethertype, 0x88b5);
	assert_int_equal(cfg.links[0].conf.mtu, 0);	/* the interface's, found at start */
	assert_int_equal(cfg.links[1].conf.ethertype, 0x88b6);
	assert_int_equal(cfg.links[1].conf.mtu, 1000);
	assert_int_equal(cfg.links[2].conf.mtu, 1400);
	assert_int_equal(cfg.links[2].conf.ethertype, 0);

	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = pcap\n", 5,
	    "[link m] a pcap link needs an interface");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = pcap\ninterface = m0\n"
	    "ethertype = 0x05ff\n", 8, "not an EtherType");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = pcap\ninterface = m0\n"
	    "ethertype = 0x10000\n", 8, "not an EtherType");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = pcap\ninterface = m0\n"
	    "ethertype = raw\n", 8, "not an EtherType");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = pcap\ninterface = m0\n"
	    "ethertype = 0x86dd\n", 8, "IPv4, ARP, IPv6 or VLAN");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = pcap\ninterface = m0\n"
	    "peer = 10.0.0.1\n", 5, "are for udp links");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = 10.0.0.1\n"
	    "ethertype = 0x88b5\n", 5, "ethertype is for pcap links");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_sizes_and_durations),
		cmocka_unit_test(test_reloadable),
		cmocka_unit_test(test_links_routes_security),
		cmocka_unit_test(test_pcap_links),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
