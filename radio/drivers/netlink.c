/*
 * netlink.c - interface state (rtnetlink) and wireless station info
 * (nl80211) through libnl, see netlink.h.
 *
 * The monitor keeps a table of every interface the kernel told us about,
 * keyed by ifindex, and a list of watched names.  After each message it
 * compares each watched name's state with what it last reported and calls
 * back on a difference: so a rename, a deletion, a missed event or a re-dump
 * all end up reported the same way, and nothing is reported twice.
 */
#include <errno.h>
#include <net/if.h>		/* before <linux/if.h>: libc-compat sorts them */
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/nl80211.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "log.h"
#include "loop.h"
#include "netlink.h"

/* Big enough for one dump datagram with room to spare (the kernel fills ~32 KB). */
#define NETLINK_RXBUF		65536
/* A burst of link changes (a bridge of 50 ports going down) must fit. */
#define NETLINK_SOCKBUF		(1 << 20)
/* The start-up dump: the kernel answers at once, or is broken. */
#define NETLINK_SYNC_MS		1000
/* nl80211 queries run inside loop callbacks: a short leash. */
#define NL80211_TIMEOUT_MS	100
/* Datagrams per socket callback, so one flood cannot hold the loop. */
#define NETLINK_BATCH		64
#define NETLINK_REDUMP_RETRY_MS	100

_Static_assert(NETLINK_IFNAMSIZ == IFNAMSIZ, "interface name size");

struct netlink_iface {
	LIST_ENTRY(netlink_iface) entry;
	struct netlink_link st;
	unsigned dump_gen;		/* the dump (or event during it) that last saw it */
};

struct netlink_watch {
	LIST_ENTRY(netlink_watch) entry;
	char ifname[NETLINK_IFNAMSIZ];
	struct netlink_link last;	/* as last reported (or read at watch time) */
	unsigned refs;
	bool dead;			/* unwatched during a callback, freed after */
};

struct netlink {
	struct loop *loop;
	netlink_event_fn *fn;
	void *arg;
	struct nl_sock *sk;
	int fd;
	bool registered;
	LIST_HEAD(, netlink_iface) ifaces;
	LIST_HEAD(, netlink_watch) watches;
	bool dispatching;

	/* Table (re)reading: on start-up and after lost events. */
	bool dumping;
	bool redump;			/* lost events again during a dump */
	uint32_t dump_seq;
	unsigned dump_gen;
	struct loop_timer redump_timer;
	unsigned lost;
	struct log_ratelimit rl_lost, rl_bad;

	/* nl80211: resolved on first use; absent until an interface appears. */
	struct nl_sock *genl;
	int nl80211_id;			/* 0 not resolved, -1 absent */
	unsigned ifaces_born;		/* interfaces created; re-resolve when it moves */
	unsigned nl80211_tried_at;
	bool nl80211_logged;

	union {
		struct nlmsghdr align;
		uint8_t buf[NETLINK_RXBUF];
	} rx;
};

static struct nla_policy link_policy[IFLA_MAX + 1] = {
	[IFLA_IFNAME] = { .type = NLA_UNSPEC },	/* bounds checked by hand */
	[IFLA_OPERSTATE] = { .type = NLA_U8 },
};

static struct nla_policy sta_top_policy[NL80211_ATTR_MAX + 1] = {
	[NL80211_ATTR_STA_INFO] = { .type = NLA_NESTED },
};

static struct nla_policy sta_info_policy[NL80211_STA_INFO_MAX + 1] = {
	[NL80211_STA_INFO_SIGNAL] = { .type = NLA_U8 },
	[NL80211_STA_INFO_TX_BITRATE] = { .type = NLA_NESTED },
};

static struct nla_policy rate_policy[NL80211_RATE_INFO_MAX + 1] = {
	[NL80211_RATE_INFO_BITRATE] = { .type = NLA_U16 },
	[NL80211_RATE_INFO_BITRATE32] = { .type = NLA_U32 },
};

/* The first len bytes of buf hold one whole message of at least hdrlen payload. */
static struct nlmsghdr *
msg_checked(const void *buf, size_t len, size_t hdrlen)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;

	if (len < NLMSG_HDRLEN || nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > len)
		return NULL;
	if (!nlmsg_valid_hdr(nlh, (int)hdrlen))
		return NULL;
	return nlh;
}

int
netlink_parse_link(const void *buf, size_t len, struct netlink_link *out, bool *deleted)
{
	struct nlattr *tb[IFLA_MAX + 1];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	const char *name;
	size_t n;

	if ((nlh = msg_checked(buf, len, sizeof(*ifi))) == NULL)
		return -EINVAL;
	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return -EINVAL;
	if (nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, link_policy) < 0)
		return -EINVAL;
	ifi = nlmsg_data(nlh);
	if (ifi->ifi_index <= 0)
		return -EINVAL;

	memset(out, 0, sizeof(*out));
	out->ifindex = ifi->ifi_index;
	out->up = ifi->ifi_flags & IFF_UP;
	out->lower_up = ifi->ifi_flags & IFF_LOWER_UP;
	out->operstate = tb[IFLA_OPERSTATE] ? nla_get_u8(tb[IFLA_OPERSTATE]) : IF_OPER_UNKNOWN;
	*deleted = nlh->nlmsg_type == RTM_DELLINK;
	if (*deleted)
		return 0;	/* the index is all that matters */

	/* Not trusted to be terminated: a name is 1..15 bytes then a NUL. */
	if (tb[IFLA_IFNAME] == NULL)
		return -EINVAL;
	name = nla_data(tb[IFLA_IFNAME]);
	n = strnlen(name, (size_t)nla_len(tb[IFLA_IFNAME]));
	if (n == 0 || n >= NETLINK_IFNAMSIZ || n == (size_t)nla_len(tb[IFLA_IFNAME]))
		return -EINVAL;
	memcpy(out->ifname, name, n);
	return 0;
}

int
netlink_parse_station(const void *buf, size_t len, struct netlink_wireless *out)
{
	struct nlattr *tb[NL80211_ATTR_MAX + 1];
	struct nlattr *sinfo[NL80211_STA_INFO_MAX + 1];
	struct nlattr *rate[NL80211_RATE_INFO_MAX + 1];
	struct nlmsghdr *nlh;
	uint32_t bitrate = 0;
	bool has_bitrate = false;
	int signal;

	if ((nlh = msg_checked(buf, len, GENL_HDRLEN)) == NULL)
		return -EINVAL;
	if (genlmsg_parse(nlh, 0, tb, NL80211_ATTR_MAX, sta_top_policy) < 0)
		return -EINVAL;
	if (tb[NL80211_ATTR_STA_INFO] == NULL)
		return -EINVAL;
	if (nla_parse_nested(sinfo, NL80211_STA_INFO_MAX, tb[NL80211_ATTR_STA_INFO],
	    sta_info_policy) < 0)
		return -EINVAL;
	if (sinfo[NL80211_STA_INFO_TX_BITRATE] != NULL) {
		if (nla_parse_nested(rate, NL80211_RATE_INFO_MAX,
		    sinfo[NL80211_STA_INFO_TX_BITRATE], rate_policy) < 0)
			return -EINVAL;
		/* The u16 saturates above 6.5 Gbit/s; prefer the u32. */
		if (rate[NL80211_RATE_INFO_BITRATE32] != NULL) {
			bitrate = nla_get_u32(rate[NL80211_RATE_INFO_BITRATE32]);
			has_bitrate = true;
		} else if (rate[NL80211_RATE_INFO_BITRATE] != NULL) {
			bitrate = nla_get_u16(rate[NL80211_RATE_INFO_BITRATE]);
			has_bitrate = true;
		}
	}

	out->wireless = true;
	out->stations++;
	if (sinfo[NL80211_STA_INFO_SIGNAL] == NULL) {
		/* No signal to rank it by: its rate stands only until a station with one shows up. */
		if (!out->has_signal && !out->has_bitrate && has_bitrate) {
			out->has_bitrate = true;
			out->tx_bitrate = bitrate;
		}
		return 0;
	}
	signal = (int8_t)nla_get_u8(sinfo[NL80211_STA_INFO_SIGNAL]);
	/* The best station stands for the link: on a mesh, the one we can reach. */
	if (!out->has_signal || signal > out->signal_dbm) {
		out->has_signal = true;
		out->signal_dbm = signal;
		out->has_bitrate = has_bitrate;
		out->tx_bitrate = bitrate;
	}
	return 0;
}

int
netlink_wireless_format(const char *ifname, int rc, const struct netlink_wireless *w, char *buf, size_t cap)
{
	char sig[32] = "signal unknown", rate[48] = "tx bitrate unknown", more[32] = "";

	if (ifname == NULL || ifname[0] == '\0')
		return snprintf(buf, cap, "not known: the link is bound to no interface");
	if (rc == -EOPNOTSUPP)
		return snprintf(buf, cap, "not available: no nl80211 in this kernel (%s)", ifname);
	if (rc == -ENODEV)
		return snprintf(buf, cap, "not available: no interface %s", ifname);
	if (rc < 0)
		return snprintf(buf, cap, "not available: nl80211 on %s: %s", ifname, strerror(-rc));
	if (!w->wireless)
		return snprintf(buf, cap, "%s: not wireless", ifname);
	if (w->stations == 0)
		return snprintf(buf, cap, "%s: wireless, no station associated", ifname);
	if (w->has_signal)
		snprintf(sig, sizeof(sig), "signal %d dBm", w->signal_dbm);
	/* nl80211 counts in 100 kbit/s. */
	if (w->has_bitrate)
		snprintf(rate, sizeof(rate), "tx bitrate %u.%u Mbit/s", w->tx_bitrate / 10, w->tx_bitrate % 10);
	if (w->stations > 1)
		snprintf(more, sizeof(more), " (best of %d stations)", w->stations);
	return snprintf(buf, cap, "%s: %s, %s%s", ifname, sig, rate, more);
}

const char *
netlink_operstate_name(int operstate)
{
	static char buf[32];

	return rtnl_link_operstate2str((uint8_t)operstate, buf, sizeof(buf));
}

unsigned
netlink_events_lost(const struct netlink *nl)
{
	return nl->lost;
}

/* ---- the interface table ---- */

static struct netlink_iface *
iface_by_index(struct netlink *nl, int ifindex)
{
	struct netlink_iface *i;

	LIST_FOREACH(i, &nl->ifaces, entry)
		if (i->st.ifindex == ifindex)
			return i;
	return NULL;
}

static struct netlink_iface *
iface_by_name(struct netlink *nl, const char *ifname)
{
	struct netlink_iface *i;

	LIST_FOREACH(i, &nl->ifaces, entry)
		if (strcmp(i->st.ifname, ifname) == 0)
			return i;
	return NULL;
}

static void
iface_remove(struct netlink_iface *i)
{
	LIST_REMOVE(i, entry);
	free(i);
}

static void
state_of(struct netlink *nl, const char *ifname, struct netlink_link *out)
{
	struct netlink_iface *i = iface_by_name(nl, ifname);

	if (i != NULL) {
		*out = i->st;
		return;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->ifname, sizeof(out->ifname), "%s", ifname);
	out->operstate = IF_OPER_NOTPRESENT;
}

static bool
state_same(const struct netlink_link *a, const struct netlink_link *b)
{
	return a->ifindex == b->ifindex && a->up == b->up && a->lower_up == b->lower_up &&
	    a->operstate == b->operstate;
}

/* Report every watched name whose state differs from what it last reported. */
static void
notify(struct netlink *nl)
{
	struct netlink_watch *w, *tmp;
	struct netlink_link now;

	nl->dispatching = true;
	LIST_FOREACH(w, &nl->watches, entry) {
		if (w->dead)
			continue;
		state_of(nl, w->ifname, &now);
		if (state_same(&now, &w->last))
			continue;
		w->last = now;
		log_debug("netlink: %s ifindex %d %s%s, operstate %s", w->ifname, now.ifindex,
		    now.up ? "up" : "down", now.lower_up ? " carrier" : " no-carrier",
		    netlink_operstate_name(now.operstate));
		if (nl->fn != NULL)
			nl->fn(nl->arg, now.ifindex, w->ifname, now.up, now.lower_up, now.operstate);
	}
	nl->dispatching = false;
	for (w = LIST_FIRST(&nl->watches); w != NULL; w = tmp) {
		tmp = LIST_NEXT(w, entry);
		if (w->dead) {
			LIST_REMOVE(w, entry);
			free(w);
		}
	}
}

static void
table_update(struct netlink *nl, const struct netlink_link *st, bool deleted)
{
	struct netlink_iface *i = iface_by_index(nl, st->ifindex), *other;

	if (deleted) {
		if (i != NULL)
			iface_remove(i);
		return;
	}
	/* Names are unique at any instant: a holder we did not hear leave is stale. */
	if ((other = iface_by_name(nl, st->ifname)) != NULL && other != i)
		iface_remove(other);
	if (i == NULL) {
		if ((i = calloc(1, sizeof(*i))) == NULL) {
			/* Forget the table; the re-dump will bring it back. */
			log_warn("netlink: interface table");
			return;
		}
		LIST_INSERT_HEAD(&nl->ifaces, i, entry);
		nl->ifaces_born++;
	}
	i->st = *st;
	i->dump_gen = nl->dump_gen;
}

/* ---- reading the table again ---- */

static int
dump_start(struct netlink *nl)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nl_msg *msg;
	int err;

	if ((msg = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP)) == NULL)
		return -ENOMEM;
	if (nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	err = nl_send_auto(nl->sk, msg);
	if (err >= 0) {
		nl->dump_seq = nlmsg_hdr(msg)->nlmsg_seq;
		nl->dump_gen++;
		nl->dumping = true;
		nl->redump = false;
	}
	nlmsg_free(msg);
	return err < 0 ? -EIO : 0;
}

static void
on_redump_timer(struct loop *l, void *arg)
{
	struct netlink *nl = arg;

	if (nl->dumping)
		return;
	if (dump_start(nl) < 0) {
		log_warnx("netlink: cannot ask for the interface table, retrying");
		loop_timer_set(l, &nl->redump_timer, NETLINK_REDUMP_RETRY_MS, on_redump_timer, nl);
	}
}

/* Events were lost: the table may be wrong in any way, so read all of it. */
static void
events_lost(struct netlink *nl)
{
	nl->lost++;
	log_limited(&nl->rl_lost, "netlink: link events lost (socket overflow), reading "
	    "the interface table again");
	if (nl->dumping)
		nl->redump = true;
	else if (nl->loop != NULL)
		loop_timer_set(nl->loop, &nl->redump_timer, 0, on_redump_timer, nl);
	else
		(void)dump_start(nl);
}

/* Whatever the finished dump did not list (nor any event during it) is gone. */
static void
dump_done(struct netlink *nl, bool ok)
{
	struct netlink_iface *i, *tmp;

	nl->dumping = false;
	if (ok) {
		for (i = LIST_FIRST(&nl->ifaces); i != NULL; i = tmp) {
			tmp = LIST_NEXT(i, entry);
			if (i->dump_gen != nl->dump_gen)
				iface_remove(i);
		}
	}
	if (!ok || nl->redump) {
		nl->redump = false;
		if (nl->loop != NULL)
			loop_timer_set(nl->loop, &nl->redump_timer, ok ? 0 : NETLINK_REDUMP_RETRY_MS,
			    on_redump_timer, nl);
		else
			(void)dump_start(nl);
	}
}

void
netlink_input(struct netlink *nl, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = len > NETLINK_RXBUF ? NETLINK_RXBUF : (int)len;
	struct netlink_link st;
	bool deleted;

	for (; nlmsg_ok(nlh, left); nlh = nlmsg_next((struct nlmsghdr *)nlh, &left)) {
		bool ours = nl->dumping && nlh->nlmsg_seq == nl->dump_seq;

		if (ours && (nlh->nlmsg_flags & NLM_F_DUMP_INTR))
			nl->redump = true;	/* the table changed under the dump */
		switch (nlh->nlmsg_type) {
		case NLMSG_DONE:
			if (ours) {
				dump_done(nl, true);
				notify(nl);
			}
			break;
		case NLMSG_ERROR:
			if (ours) {
				log_warnx("netlink: interface dump failed, retrying");
				dump_done(nl, false);
			}
			break;
		case RTM_NEWLINK:
		case RTM_DELLINK:
			if (netlink_parse_link(nlh, nlh->nlmsg_len, &st, &deleted) < 0) {
				log_limited(&nl->rl_bad, "netlink: malformed link message dropped");
				break;
			}
			table_update(nl, &st, deleted);
			notify(nl);
			break;
		default:
			break;
		}
	}
}

/* Read what is queued, without blocking.  0, or -errno on a socket error. */
static int
netlink_read(struct netlink *nl)
{
	struct sockaddr_nl from;
	struct iovec iov = { nl->rx.buf, sizeof(nl->rx.buf) };
	struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
	    .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	for (int round = 0; round < NETLINK_BATCH; round++) {
		mh.msg_namelen = sizeof(from);
		n = recvmsg(nl->fd, &mh, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS) {
				events_lost(nl);
				continue;
			}
			return -errno;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			events_lost(nl);
			continue;
		}
		/* Only the kernel speaks on this socket; anything else is forged. */
		if (mh.msg_namelen != sizeof(from) || from.nl_pid != 0) {
			log_limited(&nl->rl_bad, "netlink: message from port %u dropped",
			    (unsigned)from.nl_pid);
			continue;
		}
		netlink_input(nl, nl->rx.buf, (size_t)n);
	}
	return 0;
}

static void
on_readable(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct netlink *nl = arg;
	int err;

	if ((err = netlink_read(nl)) < 0)
		log_limited(&nl->rl_bad, "netlink: receive: %s", strerror(-err));
}

/* The start-up dump: bounded wait, the kernel answers at once. */
static int
dump_sync(struct netlink *nl)
{
	uint64_t deadline = loop_now() + NETLINK_SYNC_MS;
	struct pollfd pfd = { .fd = nl->fd, .events = POLLIN };
	int err;

	if ((err = dump_start(nl)) < 0)
		return err;
	while (nl->dumping) {
		uint64_t now = loop_now();

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) == -1 && errno != EINTR)
			return -errno;
		if ((err = netlink_read(nl)) < 0)
			return err;
	}
	return 0;
}

struct netlink *
netlink_new(struct loop *l, netlink_event_fn *fn, void *arg)
{
	struct netlink *nl;
	int err;

	if ((nl = calloc(1, sizeof(*nl))) == NULL)
		return NULL;
	nl->fn = fn;
	nl->arg = arg;
	nl->fd = -1;
	LIST_INIT(&nl->ifaces);
	LIST_INIT(&nl->watches);

	if ((nl->sk = nl_socket_alloc()) == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	if (nl_connect(nl->sk, NETLINK_ROUTE) < 0 ||
	    nl_socket_add_membership(nl->sk, RTNLGRP_LINK) < 0 ||
	    nl_socket_set_nonblocking(nl->sk) < 0) {
		err = -EIO;
		goto fail;
	}
	nl->fd = nl_socket_get_fd(nl->sk);
	if (nl_socket_set_buffer_size(nl->sk, NETLINK_SOCKBUF, 0) < 0)
		log_debug("netlink: cannot enlarge the socket buffer");
	/* Subscribed first, so nothing falls between the dump and the events. */
	if ((err = dump_sync(nl)) < 0)
		goto fail;
	if (l != NULL) {
		if ((err = loop_add_fd(l, nl->fd, EPOLLIN, on_readable, nl)) < 0)
			goto fail;
		nl->loop = l;
		nl->registered = true;
	}
	return nl;
fail:
	netlink_free(nl);
	errno = -err;
	return NULL;
}

void
netlink_free(struct netlink *nl)
{
	struct netlink_iface *i;
	struct netlink_watch *w;

	if (nl == NULL)
		return;
	if (nl->loop != NULL) {
		loop_timer_cancel(nl->loop, &nl->redump_timer);
		if (nl->registered)
			loop_del_fd(nl->loop, nl->fd);
	}
	while ((i = LIST_FIRST(&nl->ifaces)) != NULL)
		iface_remove(i);
	while ((w = LIST_FIRST(&nl->watches)) != NULL) {
		LIST_REMOVE(w, entry);
		free(w);
	}
	nl_socket_free(nl->genl);
	nl_socket_free(nl->sk);
	free(nl);
}

static bool
name_ok(const char *ifname)
{
	size_t n = ifname ? strnlen(ifname, NETLINK_IFNAMSIZ) : 0;

	return n > 0 && n < NETLINK_IFNAMSIZ;
}

int
netlink_watch(struct netlink *nl, const char *ifname)
{
	struct netlink_watch *w;

	if (!name_ok(ifname))
		return -EINVAL;
	LIST_FOREACH(w, &nl->watches, entry) {
		if (!w->dead && strcmp(w->ifname, ifname) == 0) {
			w->refs++;
			return 0;
		}
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	snprintf(w->ifname, sizeof(w->ifname), "%s", ifname);
	w->refs = 1;
	state_of(nl, ifname, &w->last);
	LIST_INSERT_HEAD(&nl->watches, w, entry);
	return 0;
}

void
netlink_unwatch(struct netlink *nl, const char *ifname)
{
	struct netlink_watch *w;

	if (!name_ok(ifname))
		return;
	LIST_FOREACH(w, &nl->watches, entry) {
		if (w->dead || strcmp(w->ifname, ifname) != 0 || --w->refs > 0)
			continue;
		if (nl->dispatching) {
			w->dead = true;
		} else {
			LIST_REMOVE(w, entry);
			free(w);
		}
		return;
	}
}

int
netlink_link_state(struct netlink *nl, const char *ifname, struct netlink_link *out)
{
	if (!name_ok(ifname))
		return -EINVAL;
	state_of(nl, ifname, out);
	return out->ifindex > 0 ? 0 : -ENODEV;
}

/* ---- nl80211 ---- */

struct genl_reply {
	int error;
	bool done;
	bool wireless;
	struct netlink_wireless *out;
};

static int
on_genl_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct genl_reply *r = arg;

	r->error = e->error;
	r->done = true;
	return NL_STOP;
}

static int
on_genl_done(struct nl_msg *msg, void *arg)
{
	struct genl_reply *r = arg;

	r->done = true;
	return NL_STOP;
}

static int
on_interface(struct nl_msg *msg, void *arg)
{
	struct genl_reply *r = arg;

	r->wireless = true;
	return NL_OK;
}

static int
on_station(struct nl_msg *msg, void *arg)
{
	struct genl_reply *r = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	/* A station we cannot read is left out of the figures, not fatal. */
	(void)netlink_parse_station(nlh, nlh->nlmsg_len, r->out);
	return NL_OK;
}

static void
genl_close(struct netlink *nl)
{
	nl_socket_free(nl->genl);
	nl->genl = NULL;
	nl->nl80211_id = 0;
}

/* Resolve nl80211 once; where it is absent, again only once a new interface appears. */
static int
nl80211_open(struct netlink *nl)
{
	struct timeval tv = { .tv_sec = NL80211_TIMEOUT_MS / 1000,
	    .tv_usec = (NL80211_TIMEOUT_MS % 1000) * 1000 };
	int id;

	if (nl->nl80211_id > 0)
		return 0;
	if (nl->nl80211_id < 0 && nl->nl80211_tried_at == nl->ifaces_born)
		return -EOPNOTSUPP;
	nl->nl80211_tried_at = nl->ifaces_born;
	if ((nl->genl = nl_socket_alloc()) == NULL)
		return -ENOMEM;
	if (genl_connect(nl->genl) < 0) {
		id = -NLE_FAILURE;
		goto absent;
	}
	(void)setsockopt(nl_socket_get_fd(nl->genl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((id = genl_ctrl_resolve(nl->genl, NL80211_GENL_NAME)) < 0)
		goto absent;
	nl->nl80211_id = id;
	log_debug("netlink: nl80211 is family %d", id);
	return 0;
absent:
	if (!nl->nl80211_logged)
		log_debug("netlink: no nl80211 in this kernel (%s): no wireless metrics",
		    nl_geterror(id));
	nl->nl80211_logged = true;
	nl_socket_free(nl->genl);
	nl->genl = NULL;
	nl->nl80211_id = -1;
	return -EOPNOTSUPP;
}

/* One nl80211 request about ifindex, replies to fn.  0 or -errno. */
static int
nl80211_call(struct netlink *nl, uint8_t cmd, int flags, int ifindex,
    nl_recvmsg_msg_cb_t fn, struct genl_reply *r)
{
	struct nl_msg *msg;
	struct nl_cb *cb;
	int err;

	if ((msg = nlmsg_alloc()) == NULL)
		return -ENOMEM;
	if ((cb = nl_cb_alloc(NL_CB_DEFAULT)) == NULL) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	if (genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->nl80211_id, 0, flags | NLM_F_ACK,
	    cmd, 0) == NULL || nla_put_u32(msg, NL80211_ATTR_IFINDEX, (uint32_t)ifindex) < 0) {
		err = -ENOMEM;
		goto out;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, fn, r);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_genl_done, r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_genl_done, r);
	nl_cb_err(cb, NL_CB_CUSTOM, on_genl_error, r);
	if (nl_send_auto(nl->genl, msg) < 0) {
		err = -EIO;
		goto out;
	}
	err = 0;
	while (!r->done) {
		/* 0: the receive timeout ran out; <0 with done: the kernel's error. */
		int n = nl_recvmsgs_report(nl->genl, cb);

		if (r->done)
			break;
		if (n <= 0) {
			err = n == 0 ? -ETIMEDOUT : -EIO;
			break;
		}
	}
	if (err == 0)
		err = r->error;
out:
	nl_cb_put(cb);
	nlmsg_free(msg);
	return err;
}

int
netlink_wireless(struct netlink *nl, const char *ifname, struct netlink_wireless *out)
{
	struct genl_reply r = { .out = out };
	struct netlink_link st;
	int err;

	memset(out, 0, sizeof(*out));
	if (netlink_link_state(nl, ifname, &st) < 0)
		return -ENODEV;
	if ((err = nl80211_open(nl)) < 0)
		return err;

	/* A netdev nl80211 does not know is not wireless: it says ENODEV or EINVAL. */
	err = nl80211_call(nl, NL80211_CMD_GET_INTERFACE, 0, st.ifindex, on_interface, &r);
	if (err == -ENODEV || err == -EINVAL || err == -EOPNOTSUPP)
		return 0;
	if (err < 0)
		goto broken;
	if (!r.wireless)
		return 0;
	out->wireless = true;

	memset(&r, 0, sizeof(r));
	r.out = out;
	err = nl80211_call(nl, NL80211_CMD_GET_STATION, NLM_F_DUMP, st.ifindex, on_station, &r);
	if (err == -ENODEV)
		return -ENODEV;	/* gone in between */
	if (err < 0)
		goto broken;
	out->wireless = true;
	return 0;
broken:
	/* A late reply would confuse the next request: start afresh. */
	log_debug("netlink: nl80211 query on %s: %s", ifname, strerror(-err));
	genl_close(nl);
	return err;
}
