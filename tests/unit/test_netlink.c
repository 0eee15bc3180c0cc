/*
 * test_netlink.c - radio/drivers/netlink.c without kernel events: messages built
 * here with libnl's nlmsg API, fed to the parsers and to the watch table
 * through netlink_input().  (The monitor's socket is real but not read: no
 * loop; the fake interfaces use indexes no kernel hands out this early.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <net/if.h>
#include <linux/if.h>
#include <linux/nl80211.h>
#include <linux/rtnetlink.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "netlink.h"

#define FAKE_INDEX 7000001

static struct nl_msg *
link_msg(int type, int ifindex, const char *name, unsigned flags, int operstate)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = flags };
	struct nl_msg *msg = nlmsg_alloc_simple(type, 0);

	assert_non_null(msg);
	assert_int_equal(nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO), 0);
	if (name != NULL)
		assert_int_equal(nla_put_string(msg, IFLA_IFNAME, name), 0);
	if (operstate >= 0)
		assert_int_equal(nla_put_u8(msg, IFLA_OPERSTATE, (uint8_t)operstate), 0);
	return msg;
}

static int
parse(struct nl_msg *msg, struct netlink_link *st, bool *deleted)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int rc = netlink_parse_link(nlh, nlh->nlmsg_len, st, deleted);

	nlmsg_free(msg);
	return rc;
}

static void
test_parse_link(void **state)
{
	struct netlink_link st;
	struct nl_msg *msg;
	struct nlmsghdr *nlh;
	bool deleted;

	assert_int_equal(parse(link_msg(RTM_NEWLINK, 5, "mesh0", IFF_UP | IFF_LOWER_UP,
	    IF_OPER_DORMANT), &st, &deleted), 0);
	assert_int_equal(st.ifindex, 5);
	assert_string_equal(st.ifname, "mesh0");
	assert_true(st.up);
	assert_true(st.lower_up);
	assert_int_equal(st.operstate, IF_OPER_DORMANT);
	assert_false(deleted);

	/* Up without carrier; no operstate attribute means unknown. */
	assert_int_equal(parse(link_msg(RTM_NEWLINK, 5, "mesh0", IFF_UP | IFF_RUNNING, -1),
	    &st, &deleted), 0);
	assert_true(st.up);
	assert_false(st.lower_up);
	assert_int_equal(st.operstate, IF_OPER_UNKNOWN);

	assert_int_equal(parse(link_msg(RTM_DELLINK, 9, NULL, 0, -1), &st, &deleted), 0);
	assert_int_equal(st.ifindex, 9);
	assert_true(deleted);

	/* A new link must name itself, with a name that fits. */
	assert_int_equal(parse(link_msg(RTM_NEWLINK, 5, NULL, IFF_UP, -1), &st, &deleted), -EINVAL);
	assert_int_equal(parse(link_msg(RTM_NEWLINK, 5, "", IFF_UP, -1), &st, &deleted), -EINVAL);
	assert_int_equal(parse(link_msg(RTM_NEWLINK, 5, "sixteen_chars_xx", IFF_UP, -1), &st,
	    &deleted), -EINVAL);
	assert_int_equal(parse(link_msg(RTM_NEWLINK, 0, "eth0", IFF_UP, -1), &st, &deleted), -EINVAL);
	assert_int_equal(parse(link_msg(RTM_NEWADDR, 5, "eth0", IFF_UP, -1), &st, &deleted), -EINVAL);

	/* An unterminated name. */
	msg = link_msg(RTM_NEWLINK, 5, NULL, IFF_UP, -1);
	assert_int_equal(nla_put(msg, IFLA_IFNAME, 4, "eth0"), 0);
	assert_int_equal(parse(msg, &st, &deleted), -EINVAL);

	/* The length field is not trusted beyond the buffer. */
	msg = link_msg(RTM_NEWLINK, 5, "eth0", IFF_UP, IF_OPER_UP);
	nlh = nlmsg_hdr(msg);
	assert_int_equal(netlink_parse_link(nlh, nlh->nlmsg_len - 1, &st, &deleted), -EINVAL);
	assert_int_equal(netlink_parse_link(nlh, 8, &st, &deleted), -EINVAL);
	/* An operstate of the wrong size. */
	nlmsg_free(msg);
	msg = link_msg(RTM_NEWLINK, 5, "eth0", IFF_UP, -1);
	assert_int_equal(nla_put(msg, IFLA_OPERSTATE, 0, NULL), 0);
	assert_int_equal(parse(msg, &st, &deleted), -EINVAL);
}

/* One NL80211_CMD_NEW_STATION reply; signal/bitrate32/bitrate16 < 0: left out. */
static struct nl_msg *
station_msg(int signal, long bitrate32, long bitrate16)
{
	struct nl_msg *msg = nlmsg_alloc();
	struct nlattr *sinfo, *rate;

	assert_non_null(msg);
	assert_non_null(genlmsg_put(msg, 0, 0, 28, 0, 0, NL80211_CMD_NEW_STATION, 0));
	assert_int_equal(nla_put_u32(msg, NL80211_ATTR_IFINDEX, 3), 0);
	assert_non_null(sinfo = nla_nest_start(msg, NL80211_ATTR_STA_INFO));
	if (signal != 1)
		assert_int_equal(nla_put_u8(msg, NL80211_STA_INFO_SIGNAL, (uint8_t)(int8_t)signal), 0);
	if (bitrate32 >= 0 || bitrate16 >= 0) {
		assert_non_null(rate = nla_nest_start(msg, NL80211_STA_INFO_TX_BITRATE));
		if (bitrate32 >= 0)
			assert_int_equal(nla_put_u32(msg, NL80211_RATE_INFO_BITRATE32,
			    (uint32_t)bitrate32), 0);
		if (bitrate16 >= 0)
			assert_int_equal(nla_put_u16(msg, NL80211_RATE_INFO_BITRATE,
			    (uint16_t)bitrate16), 0);
		nla_nest_end(msg, rate);
	}
	nla_nest_end(msg, sinfo);
	return msg;
}

static int
feed_station(struct nl_msg *msg, struct netlink_wireless *w)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int rc = netlink_parse_station(nlh, nlh->nlmsg_len, w);

	nlmsg_free(msg);
	return rc;
}

static void
test_parse_station(void **state)
{
	struct netlink_wireless w = { 0 };
	struct nl_msg *msg;

	/* Signal is a signed dBm byte; the u32 bitrate is preferred over the u16. */
	assert_int_equal(feed_station(station_msg(-71, 1300, 65535), &w), 0);
	assert_true(w.wireless);
	assert_int_equal(w.stations, 1);
	assert_true(w.has_signal);
	assert_int_equal(w.signal_dbm, -71);
	assert_true(w.has_bitrate);
	assert_int_equal(w.tx_bitrate, 1300);

	/* A weaker station does not replace it, a stronger one does (with its rate). */
	assert_int_equal(feed_station(station_msg(-88, 10, -1), &w), 0);
	assert_int_equal(w.signal_dbm, -71);
	assert_int_equal(w.tx_bitrate, 1300);
	assert_int_equal(feed_station(station_msg(-40, -1, 540), &w), 0);
	assert_int_equal(w.stations, 3);
	assert_int_equal(w.signal_dbm, -40);
	assert_int_equal(w.tx_bitrate, 540);

	/* No signal reported: counted, figures kept. */
	assert_int_equal(feed_station(station_msg(1, 20, -1), &w), 0);
	assert_int_equal(w.stations, 4);
	assert_int_equal(w.signal_dbm, -40);

	/* Malformed: no station info, a truncated buffer, a signal of the wrong size. */
	msg = nlmsg_alloc();
	assert_non_null(genlmsg_put(msg, 0, 0, 28, 0, 0, NL80211_CMD_NEW_STATION, 0));
	assert_int_equal(feed_station(msg, &w), -EINVAL);
	msg = station_msg(-50, 10, -1);
	assert_int_equal(netlink_parse_station(nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len - 4, &w),
	    -EINVAL);
	nlmsg_free(msg);
	msg = nlmsg_alloc();
	assert_non_null(genlmsg_put(msg, 0, 0, 28, 0, 0, NL80211_CMD_NEW_STATION, 0));
	{
		struct nlattr *sinfo = nla_nest_start(msg, NL80211_ATTR_STA_INFO);

		assert_int_equal(nla_put(msg, NL80211_STA_INFO_SIGNAL, 0, NULL), 0);
		nla_nest_end(msg, sinfo);
	}
	assert_int_equal(feed_station(msg, &w), -EINVAL);
	assert_int_equal(w.stations, 4);
}

/* The line `fieldrelay links` shows, from what nl80211 said (or could not say). */
static void
test_wireless_format(void **state)
{
	struct netlink_wireless w = { 0 };
	struct netlink *nl;
	char line[160];
	int rc;

	netlink_wireless_format(NULL, 0, &w, line, sizeof(line));
	assert_string_equal(line, "not known: the link is bound to no interface");
	netlink_wireless_format("", -EOPNOTSUPP, &w, line, sizeof(line));
	assert_string_equal(line, "not known: the link is bound to no interface");
	netlink_wireless_format("wlan0", -EOPNOTSUPP, &w, line, sizeof(line));
	assert_string_equal(line, "not available: no nl80211 in this kernel (wlan0)");
	netlink_wireless_format("wlan0", -ENODEV, &w, line, sizeof(line));
	assert_string_equal(line, "not available: no interface wlan0");
	netlink_wireless_format("wlan0", -ETIMEDOUT, &w, line, sizeof(line));
	assert_string_equal(line, "not available: nl80211 on wlan0: Connection timed out");
	netlink_wireless_format("veth0", 0, &w, line, sizeof(line));
	assert_string_equal(line, "veth0: not wireless");
	w.wireless = true;
	netlink_wireless_format("mesh0", 0, &w, line, sizeof(line));
	assert_string_equal(line, "mesh0: wireless, no station associated");

	/* From station replies as the kernel sends them, through the parser. */
	memset(&w, 0, sizeof(w));
	{
		/* A station that reports neither (only how long it has been quiet). */
		struct nl_msg *msg = nlmsg_alloc();
		struct nlattr *sinfo;

		assert_non_null(genlmsg_put(msg, 0, 0, 28, 0, 0, NL80211_CMD_NEW_STATION, 0));
		assert_non_null(sinfo = nla_nest_start(msg, NL80211_ATTR_STA_INFO));
		assert_int_equal(nla_put_u32(msg, NL80211_STA_INFO_INACTIVE_TIME, 120), 0);
		nla_nest_end(msg, sinfo);
		assert_int_equal(feed_station(msg, &w), 0);
	}
	netlink_wireless_format("mesh0", 0, &w, line, sizeof(line));
	assert_string_equal(line, "mesh0: signal unknown, tx bitrate unknown");
	assert_int_equal(feed_station(station_msg(1, 65, -1), &w), 0);
	netlink_wireless_format("mesh0", 0, &w, line, sizeof(line));
	assert_string_equal(line, "mesh0: signal unknown, tx bitrate 6.5 Mbit/s (best of 2 stations)");
	memset(&w, 0, sizeof(w));
	assert_int_equal(feed_station(station_msg(-71, 1300, 65535), &w), 0);
	netlink_wireless_format("wlan0", 0, &w, line, sizeof(line));
	assert_string_equal(line, "wlan0: signal -71 dBm, tx bitrate 130.0 Mbit/s");
	assert_int_equal(feed_station(station_msg(-40, -1, 540), &w), 0);
	netlink_wireless_format("wlan0", 0, &w, line, sizeof(line));
	assert_string_equal(line, "wlan0: signal -40 dBm, tx bitrate 54.0 Mbit/s (best of 2 stations)");
	memset(&w, 0, sizeof(w));
	assert_int_equal(feed_station(station_msg(-92, -1, -1), &w), 0);
	netlink_wireless_format("wlan0", 0, &w, line, sizeof(line));
	assert_string_equal(line, "wlan0: signal -92 dBm, tx bitrate unknown");

	/* The real query on lo, whatever this kernel has: not wireless, or no nl80211. */
	assert_non_null(nl = netlink_new(NULL, NULL, NULL));
	rc = netlink_wireless(nl, "lo", &w);
	netlink_wireless_format("lo", rc, &w, line, sizeof(line));
	printf("# lo: %s\n", line);
	if (rc == 0)
		assert_string_equal(line, "lo: not wireless");
	else
		assert_string_equal(line, "not available: no nl80211 in this kernel (lo)");
	netlink_free(nl);
}

/* ---- the watch table ---- */

struct seen {
	int n;
	int ifindex;
	char ifname[16];
	bool up, lower_up;
	int operstate;
	struct netlink *nl;
	const char *unwatch;	/* unwatch this from inside the callback */
};

static void
on_event(void *arg, int ifindex, const char *ifname, bool up, bool lower_up, int operstate)
{
	struct seen *s = arg;

	s->n++;
	s->ifindex = ifindex;
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
	s->up = up;
	s->lower_up = lower_up;
	s->operstate = operstate;
	if (s->unwatch != NULL)
		netlink_unwatch(s->nl, s->unwatch);
}

static void
input(struct netlink *nl, struct nl_msg *msg)
{
	netlink_input(nl, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len);
	nlmsg_free(msg);
}

static void
test_watch_by_name(void **state)
{
	struct seen s = { 0 };
	struct netlink_link st;
	struct netlink *nl = netlink_new(NULL, on_event, &s);

	assert_non_null(nl);
	s.nl = nl;
	assert_int_equal(netlink_watch(nl, "frt0"), 0);
	assert_int_equal(netlink_watch(nl, "this_name_is_too_long"), -EINVAL);
	assert_int_equal(netlink_link_state(nl, "frt0", &st), -ENODEV);
	assert_int_equal(st.operstate, IF_OPER_NOTPRESENT);

	/* Another interface: nothing to report. */
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX + 1, "frt9", IFF_UP, IF_OPER_UP));
	assert_int_equal(s.n, 0);

	/* It appears, administratively up, no carrier. */
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX, "frt0", IFF_UP, IF_OPER_LOWERLAYERDOWN));
	assert_int_equal(s.n, 1);
	assert_int_equal(s.ifindex, FAKE_INDEX);
	assert_string_equal(s.ifname, "frt0");
	assert_true(s.up);
	assert_false(s.lower_up);
	assert_int_equal(netlink_link_state(nl, "frt0", &st), 0);
	assert_int_equal(st.ifindex, FAKE_INDEX);

	/* The same state again (an unrelated attribute changed): said once. */
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX, "frt0", IFF_UP, IF_OPER_LOWERLAYERDOWN));
	assert_int_equal(s.n, 1);

	/* Carrier comes before operstate: each change is one report. */
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX, "frt0", IFF_UP | IFF_LOWER_UP,
	    IF_OPER_LOWERLAYERDOWN));
	assert_int_equal(s.n, 2);
	assert_true(s.lower_up);
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX, "frt0", IFF_UP | IFF_LOWER_UP, IF_OPER_UP));
	assert_int_equal(s.n, 3);
	assert_int_equal(s.operstate, IF_OPER_UP);

	/* Renamed away: the watched name is gone. */
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX, "frt1", IFF_UP | IFF_LOWER_UP, IF_OPER_UP));
	assert_int_equal(s.n, 4);
	assert_string_equal(s.ifname, "frt0");
	assert_int_equal(s.ifindex, 0);
	assert_false(s.up);
	assert_false(s.lower_up);
	assert_int_equal(s.operstate, IF_OPER_NOTPRESENT);

	/* Another interface takes the name; then a missed deletion: a newer
	 * holder of the name replaces the stale one. */
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX + 2, "frt0", 0, IF_OPER_DOWN));
	assert_int_equal(s.n, 5);
	assert_int_equal(s.ifindex, FAKE_INDEX + 2);
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX + 3, "frt0", IFF_UP, IF_OPER_DOWN));
	assert_int_equal(s.n, 6);
	assert_int_equal(s.ifindex, FAKE_INDEX + 3);
	input(nl, link_msg(RTM_DELLINK, FAKE_INDEX + 2, NULL, 0, -1));
	assert_int_equal(s.n, 6);

	/* Deleted: reported as not present and down. */
	input(nl, link_msg(RTM_DELLINK, FAKE_INDEX + 3, NULL, 0, -1));
	assert_int_equal(s.n, 7);
	assert_int_equal(s.ifindex, 0);
	assert_false(s.up);

	/* Malformed input changes nothing. */
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX, NULL, IFF_UP, -1));
	assert_int_equal(s.n, 7);

	netlink_free(nl);
}

static void
test_unwatch(void **state)
{
	struct seen s = { 0 };
	struct netlink *nl = netlink_new(NULL, on_event, &s);

	assert_non_null(nl);
	s.nl = nl;
	/* Two users of one interface: it stays watched until both let go. */
	assert_int_equal(netlink_watch(nl, "frt5"), 0);
	assert_int_equal(netlink_watch(nl, "frt5"), 0);
	netlink_unwatch(nl, "frt5");
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX + 5, "frt5", IFF_UP, IF_OPER_UP));
	assert_int_equal(s.n, 1);

	/* Unwatched from inside its own callback: that report, then none. */
	s.unwatch = "frt5";
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX + 5, "frt5", 0, IF_OPER_DOWN));
	assert_int_equal(s.n, 2);
	input(nl, link_msg(RTM_NEWLINK, FAKE_INDEX + 5, "frt5", IFF_UP, IF_OPER_UP));
	assert_int_equal(s.n, 2);

	netlink_free(nl);
	netlink_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_link),
		cmocka_unit_test(test_parse_station),
		cmocka_unit_test(test_wireless_format),
		cmocka_unit_test(test_watch_by_name),
		cmocka_unit_test(test_unwatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
