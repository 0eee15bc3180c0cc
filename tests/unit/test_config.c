/* test_config.c - config parsing: values, defaults, file:line errors, reload diff. */
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
#include "log.h"

static char path[64];
static struct config cfg;
static char err[4096];

/* Write n bytes (NULs and all) to a temporary file and load it. */
static int
load_bytes(const char *text, size_t n)
{
	FILE *fp;

	strcpy(path, "/tmp/test_config.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_int_equal(fwrite(text, 1, n, fp), n);
	fclose(fp);
	int r = config_load(path, &cfg, err, sizeof(err));
	unlink(path);
	return r;
}

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

static void
test_kiss_links(void **state)
{
	const struct link_kiss_conf *k;

	assert_int_equal(load("[node]\nid = 5\n[security]\nkey_file = /k\n"
	    "[link radio]\ntype = kiss\ndevice = /dev/ttyUSB0\ncallsign = dl1abc-7\n"
	    "[link dw]\ntcp = 127.0.0.1\ntype = kiss\nax25 = no\nmtu = 512\nrate = 9600\nbaud = 1200\n"
	    "txdelay = 50ms\npersist = 255\nslottime = 0\ntxtail = 20ms\nduplex = full\nbeacon = 30s\ndest = CQ\nfragment = 4K\n"
	    "[link mesh]\ntype = udp\npeer = 10.0.0.1\n"), 0);
	assert_int_equal(cfg.n_links, 3);
	/* 1200 bit/s AFSK defaults. */
	k = &cfg.links[0].conf.kiss;
	assert_int_equal(cfg.links[0].conf.kind, LINK_KISS);
	assert_string_equal(k->device, "/dev/ttyUSB0");
	assert_string_equal(k->callsign, "DL1ABC-7");
	assert_string_equal(k->dest, "QST");
	assert_true(k->ax25);
	assert_int_equal(k->baud, 9600);
	assert_int_equal(k->txdelay_ms, 300);
	assert_int_equal(k->persist, 63);
	assert_int_equal(k->slottime_ms, 100);
	assert_false(k->txtail_set);		/* the TNC keeps its own */
	assert_false(k->full_duplex);
	assert_int_equal(k->txtail_ms, 0);
	assert_int_equal(cfg.links[0].conf.mtu, 256);
	assert_int_equal(cfg.links[0].conf.rate_bps, 1200);
	assert_int_equal(cfg.links[0].fragment, 16 << 10);
	assert_int_equal(cfg.links[0].beacon_ms, 10000);
	/* Every key set. */
	k = &cfg.links[1].conf.kiss;
	assert_string_equal(k->tcp, "127.0.0.1");
	assert_false(k->ax25);
	assert_string_equal(k->dest, "CQ");
	assert_int_equal(k->baud, 1200);
	assert_int_equal(k->txdelay_ms, 50);
	assert_int_equal(k->persist, 255);
	assert_int_equal(k->slottime_ms, 0);
	assert_true(k->txtail_set);
	assert_true(k->full_duplex);
	assert_int_equal(k->txtail_ms, 20);
	assert_int_equal(cfg.links[1].conf.mtu, 512);
	assert_int_equal(cfg.links[1].conf.rate_bps, 9600);
	assert_int_equal(cfg.links[1].fragment, 4 << 10);
	assert_int_equal(cfg.links[1].beacon_ms, 30000);
	/* A udp link keeps its own defaults. */
	assert_int_equal(cfg.links[2].conf.mtu, 1400);
	assert_int_equal(cfg.links[2].conf.rate_bps, 10000000);
	assert_int_equal(cfg.links[2].fragment, 256 << 10);
	assert_int_equal(cfg.links[2].beacon_ms, 0);

	/* Scheduling keys: classes carried, airtime duty cycle. */
	assert_int_equal(load("[node]\nid = 5\n[security]\nkey_file = /k\n"
	    "[link radio]\ntype = kiss\ndevice = /dev/ttyUSB0\ncallsign = dl1abc-7\n"
	    "classes = urgent, position,message\nduty_cycle = 10%\n"
	    "[link r2]\ntype = kiss\ndevice = /dev/ttyUSB1\ncallsign = dl1abc-8\nduty_cycle = 0.5%\nduty_window = 1m\n"), 0);
	assert_int_equal(cfg.links[0].refuse, 1u << 3 | 1u << 5 | 1u << 6);
	assert_int_equal(cfg.links[0].conf.duty_permille, 100);
	assert_int_equal(cfg.links[0].conf.duty_window_ms, 60000);
	assert_int_equal(cfg.links[1].refuse, 0);
	assert_int_equal(cfg.links[1].conf.duty_permille, 5);
	assert_int_equal(cfg.links[1].conf.duty_window_ms, 60000);
	/* A metered satellite link: budget, contact windows (one across midnight), classes. */
	assert_int_equal(load("[node]\nid = 5\n[security]\nkey_file = /k\n[link sat]\ntype = udp\npeer = 10.0.0.1\n"
	    "budget = 2M/day\nwindow = 06:00-08:00\nwindow = 22:30-24:00\nwindow = 23:00-01:15\n"
	    "classes = urgent,position,message\n"), 0);
	assert_int_equal(cfg.links[0].conf.budget_bytes, 2 << 20);
	assert_int_equal(cfg.links[0].conf.budget_period_s, 86400);
	assert_int_equal(cfg.links[0].conf.n_windows, 3);
	assert_int_equal(cfg.links[0].conf.windows[0].from, 360);
	assert_int_equal(cfg.links[0].conf.windows[0].to, 480);
	assert_int_equal(cfg.links[0].conf.windows[1].from, 1350);
	assert_int_equal(cfg.links[0].conf.windows[1].to, 0);
	assert_int_equal(cfg.links[0].conf.windows[2].to, 75);
	assert_int_equal(cfg.links[0].refuse, 1u << 3 | 1u << 5 | 1u << 6);
	/* With a budget and no classes key, no telemetry or bulk. */
	assert_int_equal(load("[node]\nid = 5\n[security]\nkey_file = /k\n[link sat]\ntype = udp\npeer = 10.0.0.1\n"
	    "budget = 100K/week\n[link sat2]\ntype = udp\npeer = 10.0.0.2\nbudget = 1G/month\n"
	    "classes = urgent,position,voicemsg,message,telemetry,bulk\n"), 0);
	assert_int_equal(cfg.links[0].conf.budget_period_s, 7 * 86400);
	assert_int_equal(cfg.links[0].refuse, 1u << 5 | 1u << 6);
	assert_int_equal(cfg.links[1].refuse, 0);

#define KISS "[node]\nid = 1\n[security]\nkey_file = /k\n[link r]\ntype = kiss\n"
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nclasses = urgent,photos\n", 9, "not a list of urgent");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nclasses = \n", 9, "not a list of urgent");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nduty_cycle = 10\n", 9, "share of airtime");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nduty_cycle = 101%\n", 9, "share of airtime");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nduty_window = 10ms\n", 9, "between 1s and 24h");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nbudget = 2M\n", 9, "bytes per hour, day");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nbudget = 2M/year\n", 9, "bytes per hour, day");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nwindow = 6-8\n", 9, "HH:MM-HH:MM");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nwindow = 06:00-06:00\n", 9, "HH:MM-HH:MM");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nwindow = 06:60-07:00\n", 9, "HH:MM-HH:MM");
	expect_error(KISS "device = /dev/ttyS0\n", 5, "needs a callsign");
	expect_error(KISS "callsign = N0CALL\n", 5, "exactly one of device");
	expect_error(KISS "callsign = N0CALL\ndevice = /dev/ttyS0\ntcp = 127.0.0.1:8001\n", 5, "exactly one of device");
	expect_error(KISS "device = /dev/ttyS0\ncallsign = N0CALL-16\n", 8, "not an AX.25 callsign");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\ndest = Q.S.T\n", 9, "not an AX.25 callsign");
	expect_error(KISS "device = ttyS0\nax25 = no\n", 7, "absolute path");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nbaud = 1000\n", 9, "not a serial speed");
	expect_error(KISS "tcp = localhost:8001\nax25 = no\n", 7, "numeric address");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\ntxdelay = 305\n", 9, "multiple of 10 ms");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nduplex = simplex\n", 9, "not half");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nslottime = 3s\n", 9, "up to 2550 ms");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\npersist = 256\n", 9, "persistence");
	expect_error(KISS "device = /dev/ttyS0\nax25 = maybe\n", 8, "yes or no");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nbeacon = 10ms\n", 9, "between 100ms and 1h");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\npeer = 10.0.0.1\n", 5, "port, bind, group4, group6 and peer");
	expect_error(KISS "device = /dev/ttyS0\nax25 = no\nrate = 0\n", 5, "needs its rate");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = 1.2.3.4\n"
	    "callsign = N0CALL\n", 5, "are for type = kiss");
#undef KISS
}


/* A key or a section given twice was taken silently (the last won). */
static void
test_repeats(void **state)
{
	expect_error("[node]\nid = 1\nname = a\nid = 2\n", 4, "id: set again in [node] (first at line 2)");
	expect_error("[node]\nid = 1\n[log]\nlevel = info\n[node]\nname = b\n", 5, "[node] again (first at line 1)");
	expect_error("[node]\nid = 1\n[store]\n[store]\n", 4, "[store] again (first at line 3)");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = 1.2.3.4\n"
	    "[link m]\nmtu = 1000\n", 8, "[link m] again (first at line 5)");
	expect_error("[node]\nid = 1\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = 1.2.3.4\n"
	    "mtu = 1000\nmtu = 1200\n", 9, "mtu: set again in [link m] (first at line 8)");
	expect_error("[node]\nid = 1\n[route]\ndefault = 3\ndefault = 4\n", 5, "default: set again");
	/* An indented line was libinih's continuation of the value before: now a key like any other. */
	expect_error("[node]\nid = 1\nname = a\n  id = 5\n", 4, "id: set again in [node] (first at line 2)");
	assert_int_equal(load("[node]\n  id = 3\n\tname = indented\n"), 0);
	assert_int_equal(cfg.node_id, 3);
	assert_string_equal(cfg.name, "indented");
	/* Keys that add one more each may repeat; other links and sections are fine. */
	assert_int_equal(load("[node]\nid = 5\n[security]\nkey_file = /k\n[link a]\ntype = udp\npeer = 10.0.0.1\n"
	    "peer = 10.0.0.2\nwindow = 01:00-02:00\nwindow = 03:00-04:00\n[link b]\ntype = udp\npeer = 10.0.0.3\n"
	    "[route]\nstatic = 7 via 6\nstatic = 8 via 6\n"), 0);
	assert_int_equal(cfg.links[0].conf.n_peers, 2);
	assert_int_equal(cfg.links[0].conf.n_windows, 2);
	assert_int_equal(cfg.n_routes, 2);
	/* Every repeat is reported, each at its line. */
	assert_int_equal(load("[node]\nid = 1\nid = 2\n[log]\nlevel = info\nlevel = debug\n"), -EINVAL);
	assert_non_null(strstr(err, ":3: id: set again"));
	assert_non_null(strstr(err, ":6: level: set again"));
}

/* NULs, control characters and bytes that are not UTF-8 in the file. */
static void
test_bad_bytes(void **state)
{
	static const char nul[] = "[node]\nid = 1\nname = a\0b\n";
	char prefix[128];

	assert_int_equal(load_bytes(nul, sizeof(nul) - 1), -EINVAL);
	snprintf(prefix, sizeof(prefix), "%s:3: NUL byte (\\x00)", path);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("got '%s'", err);
	/* Shown escaped: nothing raw reaches the terminal or a JSON answer. */
	expect_error("[node]\nid = 1\nname = x\001y\n", 3, "name: 'x\\x01y' has a control character");
	expect_error("[node]\nid = 1\nclock = \033[31mred\n", 3, "clock: '\\x1b[31mred' has a control character");
	expect_error("[node]\nid = 1\nname = caf\351\n", 3, "name: 'caf\\xe9' has a control character or bytes that are not UTF-8");
	expect_error("[node]\nid = 1\nna\001me = x\n", 3, "key 'na\\x01me' has a control character");
	expect_error("[node]\nid = 1\n[li\377nk]\n", 3, "section [li\\xff");
	for (size_t i = 0; i < strlen(err); i++)
		if ((unsigned char)err[i] < 0x20 && err[i] != '\n')
			fail_msg("raw control character in '%s'", err);
	/* UTF-8 text is fine where text goes; a byte-order mark is skipped. */
	assert_int_equal(load("\357\273\277[node]\nid = 1\nname = Zürich-Süd\n"), 0);
	assert_string_equal(cfg.name, "Zürich-Süd");
	/* Longer than libinih's line buffer: it would have cut the line in two. */
	{
		char text[600];

		snprintf(text, sizeof(text), "[node]\nid = 1\nname = %0300d\nuser = nobody\n", 0);
		expect_error(text, 3, "line too long");
		assert_null(strstr(err, ":4:"));
	}
	/* Every syntax error is reported, not only the first. */
	assert_int_equal(load("[node]\nid = 1\nnonsense\n[log\nlevel = info\nmore nonsense\n"), -EINVAL);
	assert_non_null(strstr(err, ":3: syntax error"));
	assert_non_null(strstr(err, ":4: syntax error"));
	assert_non_null(strstr(err, ":6: syntax error"));
	/* An empty unknown section is still unknown. */
	expect_error("[node]\nid = 1\n[radio]\n", 3, "unknown section [radio]");
}

/* Load text as the daemon does when it starts (config_load_daemon()). */
static int
load_daemon(const char *text)
{
	FILE *fp;
	int fd, r;

	strcpy(path, "/tmp/test_config.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	r = config_load_daemon(path, &cfg, err, sizeof(err));
	unlink(path);
	return r;
}

/*
 * An agent's section (the test-only [testagent], tests/agent/testagent):
 * config_load() checks it with the agent's own table, set() and finish(),
 * errors as file:line like the daemon's own; config_load_daemon() skips it.
 */
static void
test_agent_sections(void **state)
{
	static const char *const bad[] = {
		"[node]\nid = 1\n[testagent]\ngreeting = hi\ninterval = 0\n",
		"[node]\nid = 1\n[testagent]\ngreeting = hi\ncolour = blue\n",
		"[testagent]\n[node]\nid = 1\n",
		"[node]\nid = 1\n[testagent]\ngreeting = hi\ngreeting = ho\n",
		"[node]\nid = 1\n[testagent]\ngreeting = hi\npeer = 1\npeer = 2\npeer = 3\npeer = 4\npeer = 5\n",
	};

	assert_int_equal(load("[node]\nid = 1\n[testagent]\ngreeting = hi\ninterval = 30s\npeer = 2\npeer = 3\n"
	    "[log]\nlevel = debug\n"), 0);
	assert_int_equal(cfg.node_id, 1);
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);

	expect_error(bad[0], 5, "interval: '0' is not a number of seconds from 1 to 3600");
	expect_error(bad[1], 5, "unknown key 'colour' in [testagent] (read by fieldrelay-testagent)");
	/* What the section lacks, at its header, whether it ends at the next header or the file's end. */
	expect_error(bad[2], 1, "[testagent] needs a greeting");
	expect_error("[node]\nid = 1\n[testagent]\ninterval = 5\n", 3, "[testagent] needs a greeting");
	/* The key table says which keys repeat; the others are given once. */
	expect_error(bad[3], 5, "greeting: set again in [testagent] (first at line 4)");
	expect_error(bad[4], 9, "peer: at most 4 peers");
	expect_error("[node]\nid = 1\n[testagent]\ngreeting = hi\n[testagent]\ngreeting = ho\n", 5,
	    "[testagent] again (first at line 3): there is one such section");
	/* A section nobody owns is still an error; the message names the agents' sections too. */
	expect_error("[node]\nid = 1\n[tracker]\nx = 1\n", 3, "unknown section [tracker]");
	assert_non_null(strstr(err, "link NAME; agents: testagent, echo, track, voice)"));

	/* The daemon starts on each: an agent's mistake is the agent's. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load_daemon(bad[i]) != 0)
			fail_msg("config_load_daemon refused %s: %s", bad[i], err);
		assert_int_equal(cfg.node_id, 1);
	}
	/* But not on what is wrong with the file itself, or with its own sections. */
	assert_int_equal(load_daemon("[node]\nid = 1\n[testagent]\nnonsense\n"), -EINVAL);
	assert_non_null(strstr(err, ":4: syntax error"));
	assert_int_equal(load_daemon("[node]\nid = 1\n[testagent]\ngreeting = hi\n[tracker]\n"), -EINVAL);
	assert_non_null(strstr(err, ":5: unknown section [tracker]"));
	assert_int_equal(load_daemon("[testagent]\ngreeting = x\n[node]\nid = 0\n"), -EINVAL);
	assert_non_null(strstr(err, ":4: id: '0' is not a node number"));
}

/* What is not a regular text file of a sane size is refused before it is read. */
static void
test_not_a_file(void **state)
{
	char dir[] = "/tmp/test_config.dir.XXXXXX", fifo[64];

	assert_int_equal(config_load("/dev/zero", &cfg, err, sizeof(err)), -EINVAL);	/* read for ever, before */
	assert_non_null(strstr(err, "/dev/zero: a device, not a config file"));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(config_load(dir, &cfg, err, sizeof(err)), -EISDIR);	/* "id is required", before */
	assert_non_null(strstr(err, ": a directory, not a config file"));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(config_load(fifo, &cfg, err, sizeof(err)), -EINVAL);	/* blocked in open, before */
	assert_non_null(strstr(err, ": a FIFO, not a config file"));
	unlink(fifo);
	rmdir(dir);
	{
		size_t n = CONFIG_MAX_SIZE + 1;
		char *big = malloc(n);

		assert_non_null(big);
		memset(big, '\n', n);
		memcpy(big, "[node]\nid = 1\n", 14);
		assert_int_equal(load_bytes(big, n), -EFBIG);
		assert_non_null(strstr(err, "a config file is at most 1024 KiB"));
		assert_int_equal(load_bytes(big, n - 1), 0);
		free(big);
	}
}

/* What start-up would refuse later (the route table, the UDP driver) is a config error. */
static void
test_startup_refusals(void **state)
{
#define LINK "[node]\nid = 5\n[security]\nkey_file = /k\n[link m]\ntype = udp\npeer = 10.0.0.1\n"
	expect_error(LINK "bind = anywhere\n", 8, "bind: 'anywhere' is not a numeric address");
	expect_error(LINK "group4 = 10.0.0.1\n", 8, "not an IPv4 multicast group");
	expect_error(LINK "group6 = fd00::1\ninterface = lo\n", 8, "not an IPv6 multicast group");
	expect_error(LINK "[route]\ndefault = 5\n", 9, "default: 5 is this node");
	expect_error(LINK "[route]\nstatic = 9 via 5\n", 9, "static: 9 via 5: a route leads from this node");
	expect_error(LINK "[route]\nstatic = 5 via 6\n", 9, "a route leads from this node");
	assert_int_equal(load(LINK "bind = 10.0.0.5\ngroup4 = 239.1.2.3\n[route]\ndefault = 1\nstatic = 9 via 6\n"), 0);
	assert_int_equal(cfg.lines.key_file, 4);
	assert_int_equal(cfg.lines.data_dir, 0);
#undef LINK
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
		cmocka_unit_test(test_kiss_links),
		cmocka_unit_test(test_repeats),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_not_a_file),
		cmocka_unit_test(test_startup_refusals),
		cmocka_unit_test(test_agent_sections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
