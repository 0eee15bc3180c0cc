/*
 * config_sbd.c - [link NAME] keys of sbd and directip links, their defaults
 * and checks: the two link kinds config_sbd_kind and config_directip_kind,
 * registered in config.c; see config_sbd.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_sbd.h"
#include "directip.h"
#include "kiss.h"
#include "sbd_at.h"
#include "service.h"

#undef BAD	/* config_int.h's reports through the parse; these fill in msg */
#define BAD(...) do { snprintf(msg, msglen, __VA_ARGS__); return -1; } while (0)

static bool
digits(const char *s, size_t min, size_t max)
{
	size_t n = strspn(s, "0123456789");

	return s[n] == '\0' && n >= min && n <= max;
}

/* "300" or "300ms", "10s", "2m", "1h" -> ms; -1 if not one. */
static long long
ms_of(const char *s)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (v > 1000000000ULL)
		return -1;
	if (*end == '\0' || strcmp(end, "ms") == 0)
		return (long long)v;
	if (strcmp(end, "s") == 0)
		return (long long)v * 1000;
	if (strcmp(end, "m") == 0)
		return (long long)v * 60000;
	if (strcmp(end, "h") == 0)
		return (long long)v * 3600000;
	return -1;
}

/* "MIN[:MAX]" durations. */
static int
retry_of(const char *s, uint32_t *min, uint32_t *max)
{
	char a[32];
	const char *colon = strchr(s, ':');
	long long lo, hi;

	if (strlen(s) >= sizeof(a))
		return -1;
	snprintf(a, sizeof(a), "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
	lo = ms_of(a);
	hi = colon ? ms_of(colon + 1) : lo * 60;
	if (lo < 100 || hi < lo || hi > 24LL * 3600 * 1000)
		return -1;
	*min = (uint32_t)lo;
	*max = (uint32_t)hi;
	return 0;
}

/* "1.50" -> 1500000 micro-units. */
static int
price_of(const char *s, uint64_t *out)
{
	unsigned long long whole;
	uint64_t frac = 0, scale = 100000;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	whole = strtoull(s, &end, 10);
	if (whole > 1000000)
		return -1;
	if (*end == '.') {
		for (end++; *end >= '0' && *end <= '9'; end++) {
			if (scale == 0)
				return -1;
			frac += (uint64_t)(*end - '0') * scale;
			scale /= 10;
		}
	}
	if (*end != '\0')
		return -1;
	*out = whole * 1000000 + frac;
	return 0;
}

/* "100 messages/day": the count; the period must agree with a bytes budget if both are given. */
static int
budget_messages_of(struct config_link *l, const char *s, char *msg, size_t msglen)
{
	static const struct { const char *name; uint32_t s; } per[] = {
		{ "hour", 3600 }, { "day", 86400 }, { "week", 7 * 86400 }, { "month", 30 * 86400 },
	};
	unsigned long n;
	char *end;

	n = strtoul(s, &end, 10);
	if (end == s || n == 0 || n > 1000000 || strncmp(end, " messages/", 10) != 0)
		BAD("budget: '%s' is not N messages per hour, day, week or month (e.g. 100 messages/day)", s);
	for (size_t i = 0; i < sizeof(per) / sizeof(per[0]); i++)
		if (strcmp(end + 10, per[i].name) == 0) {
			if (l->conf.budget_period_s && l->conf.budget_period_s != per[i].s)
				BAD("budget: messages and bytes must count over the same period");
			l->conf.sbd.budget_messages = (uint32_t)n;
			l->conf.budget_period_s = per[i].s;
			return 1;
		}
	BAD("budget: '%s' is not N messages per hour, day, week or month (e.g. 100 messages/day)", s);
}

static int
unit_of(struct config_link *l, const char *s, char *msg, size_t msglen)
{
	struct link_directip_conf *d = &l->conf.dip;
	char imei[32];
	unsigned long long node;
	char extra;

	if (sscanf(s, "%31s %llu %c", imei, &node, &extra) != 2 || !directip_imei_valid(imei) || node == 0 ||
	    node > LINK_NODE_MAX)
		BAD("unit: '%s' is not 'IMEI NODE' (15 digits and a node number, e.g. 300234010753370 5)", s);
	if (d->n_units == LINK_MAX_UNITS)
		BAD("unit: at most %d units per directip link", LINK_MAX_UNITS);
	for (unsigned i = 0; i < d->n_units; i++)
		if (strcmp(d->units[i].imei, imei) == 0 || d->units[i].node == node)
			BAD("unit: '%s': that IMEI or node is named twice", s);
	memcpy(d->units[d->n_units].imei, imei, DIRECTIP_IMEI_LEN + 1);
	d->units[d->n_units++].node = node;
	return 1;
}

/*
 * One key of a link section: 0 not one of these, 1 an sbd/directip key,
 * 2 a serial key (device, baud: kiss links take them too), -1 a bad value
 * (why in msg).
 */
static int
config_sbd_key(struct config_link *l, const char *name, const char *value, char *msg, size_t msglen)
{
	struct link_sbd_conf *s = &l->conf.sbd;
	struct link_addr a;
	unsigned long long v;
	long long ms;

	if (strcmp(name, "device") == 0) {
		if (*value != '/' || strlen(value) >= sizeof(s->device))
			BAD("device: '%s' must be an absolute path (e.g. /dev/ttyUSB0)", value);
		snprintf(s->device, sizeof(s->device), "%s", value);
		snprintf(l->conf.kiss.device, sizeof(l->conf.kiss.device), "%s", value);
		return 2;
	}
	if (strcmp(name, "baud") == 0) {
		if (!digits(value, 1, 6) || kiss_speed((uint32_t)(v = strtoull(value, NULL, 10))) == 0)
			BAD("baud: '%s' is not a serial speed (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)", value);
		s->baud = l->conf.kiss.baud = (uint32_t)v;
		return 2;
	}
	if (strcmp(name, "peer") == 0 && digits(value, 1, 10)) {
		if ((v = strtoull(value, NULL, 10)) == 0 || v > LINK_NODE_MAX)
			BAD("peer: '%s' is not a node number (sbd: the command center's)", value);
		s->peer = v;
		return 1;
	}
	if (strcmp(name, "budget") == 0 && strstr(value, "messages"))
		return budget_messages_of(l, value, msg, msglen);
	if (strcmp(name, "ring_alerts") == 0) {
		if (strcmp(value, "yes") == 0 || strcmp(value, "no") == 0)
			s->no_ring_alerts = value[0] == 'n';
		else
			BAD("ring_alerts: '%s' is not yes or no", value);
	} else if (strcmp(name, "interval") == 0) {
		s->mailbox_set = true;
		if (strcmp(value, "no") == 0)
			s->mailbox_ms = 0;
		else if ((ms = ms_of(value)) < 10000 || ms > 24LL * 3600 * 1000)
			BAD("interval: '%s' is not a mailbox check interval between 10s and 24h, or no (e.g. 15m)", value);
		else
			s->mailbox_ms = (uint32_t)ms;
	} else if (strcmp(name, "hold") == 0) {
		if ((ms = ms_of(value)) < 0 || ms > 3600000)
			BAD("hold: '%s' is not a time up to 1h (e.g. 30s, 0)", value);
		s->hold_ms = (uint32_t)ms;
	} else if (strcmp(name, "ack_hold") == 0) {
		if ((ms = ms_of(value)) < 0 || ms > 24LL * 3600 * 1000)
			BAD("ack_hold: '%s' is not a time up to 24h (e.g. 10m, 0)", value);
		s->ack_hold_ms = (uint32_t)ms;
		s->ack_hold_set = true;
	} else if (strcmp(name, "ack_timeout") == 0) {
		if ((ms = ms_of(value)) < 10000 || ms > 7LL * 24 * 3600 * 1000)
			BAD("ack_timeout: '%s' is not a time from 10s to 168h (e.g. 24h)", value);
		l->conf.dip.ack_timeout_ms = (uint32_t)ms;
	} else if (strcmp(name, "bill_min") == 0 || strcmp(name, "bill_unit") == 0) {
		if (!digits(value, 1, 4) || (v = strtoull(value, NULL, 10)) == 0 || v > SBD_MO_MAX)
			BAD("%s: '%s' is not a number of bytes from 1 to %d", name, value, SBD_MO_MAX);
		*(name[5] == 'm' ? &s->bill_min : &s->bill_unit) = (uint32_t)v;
	} else if (strcmp(name, "price") == 0) {
		if (price_of(value, &s->price) < 0)
			BAD("price: '%s' is not a price per billing unit (a decimal with up to 6 places, e.g. 0.0125)", value);
	} else if (strcmp(name, "retry") == 0) {
		uint32_t lo, hi;

		if (retry_of(value, &lo, &hi) < 0)
			BAD("retry: '%s' is not MIN[:MAX] (e.g. 10s:10m, at least 100ms, at most 24h)", value);
		s->backoff_min_ms = l->conf.dip.retry_min_ms = lo;
		s->backoff_max_ms = l->conf.dip.retry_max_ms = hi;
	} else if (strcmp(name, "gateway") == 0) {
		if (link_addr_parse(&a, value, 10800) < 0 || strlen(value) >= sizeof(l->conf.dip.gateway))
			BAD("gateway: '%s' is not the gateway's DirectIP MT port as a numeric addr[:port] (e.g. 192.0.2.7:10800)", value);
		snprintf(l->conf.dip.gateway, sizeof(l->conf.dip.gateway), "%s", value);
	} else if (strcmp(name, "unit") == 0) {
		return unit_of(l, value, msg, msglen);
	} else {
		return 0;
	}
	return 1;
}

/* The defaults of an sbd or directip link, for what the section did not set. */
static void
config_sbd_defaults(struct config_link *l, bool rate_set, bool fragment_set, bool classes_set)
{
	bool sbd = l->conf.kind == LINK_SBD;

	if (!sbd && l->conf.kind != LINK_DIRECTIP)
		return;
	/* About what an SBD link moves: 340 bytes per session of 10-20 s; its route cost is high. */
	if (!rate_set)
		l->conf.rate_bps = 100;
	l->conf.mtu = sbd ? SBD_MO_MAX : SBD_MT_MAX;
	if (!fragment_set)
		l->fragment = sbd ? SBD_FRAGMENT_MO : SBD_FRAGMENT_MT;
	if (!sbd && l->conf.port == 4556)
		l->conf.port = 10800;	/* DirectIP's usual port, not the DTN one */
	/* Paid by the byte: no telemetry or bulk unless the classes key says so. */
	if (!classes_set)
		l->refuse = 1u << PRIO_TELEMETRY | 1u << PRIO_BULK;
	if (sbd) {
		struct link_sbd_conf *s = &l->conf.sbd;

		if (s->baud == 0)
			s->baud = 19200;
		if (!s->mailbox_set)
			s->mailbox_ms = 15 * 60000;
		if (!s->ack_hold_set)
			s->ack_hold_ms = 10 * 60000;
		if (s->bill_min == 0)
			s->bill_min = 1;
		if (s->bill_unit == 0)
			s->bill_unit = 1;
		if (s->backoff_min_ms == 0) {
			s->backoff_min_ms = 10000;
			s->backoff_max_ms = 600000;
		}
	} else {
		if (l->conf.dip.retry_min_ms == 0) {
			l->conf.dip.retry_min_ms = 2000;
			l->conf.dip.retry_max_ms = 300000;
		}
		if (l->conf.dip.ack_timeout_ms == 0)
			l->conf.dip.ack_timeout_ms = 24 * 3600000;
	}
}

/* What an sbd or directip link section lacks: 0, or -1 with why in msg. */
static int
config_sbd_check(const struct config_link *l, char *msg, size_t msglen)
{
	if (l->conf.kind == LINK_SBD) {
		if (!l->conf.sbd.device[0])
			BAD("[link %s] needs the modem's device (device = /dev/ttyUSB0)", l->conf.name);
		if (l->conf.sbd.peer == 0)
			BAD("[link %s] needs peer = the command center's node number", l->conf.name);
		if (l->conf.dip.n_units || l->conf.dip.gateway[0])
			BAD("[link %s] unit and gateway are for type = directip", l->conf.name);
	} else {
		if (!l->conf.dip.gateway[0])
			BAD("[link %s] needs the gateway's DirectIP MT port (gateway = 192.0.2.7:10800)", l->conf.name);
		if (l->conf.dip.n_units == 0)
			BAD("[link %s] needs at least one unit = IMEI NODE", l->conf.name);
		if (l->conf.sbd.device[0] || l->conf.sbd.peer || l->conf.sbd.budget_messages)
			BAD("[link %s] device, peer and budget are for type = sbd (the modem's side)", l->conf.name);
	}
	return 0;
}

/* The keys of both kinds: the modem's and the gateway's. */
static int
sbd_key(struct parse *p, struct config_link *l, const char *name, const char *value, uint16_t *keys)
{
	char msg[200];
	int r;

	if ((r = config_sbd_key(l, name, value, msg, sizeof(msg))) < 0)
		{
		config_perr(p, p->line, "%s", msg);
		return 1;
	}
	if (r > 0)
		*keys |= r == 2 ? LK_SERIAL : LK_SBD;
	return r != 0;
}

static void
sbd_defaults(struct config_link *l, uint16_t keys)
{
	config_sbd_defaults(l, keys & LK_RATE, keys & LK_FRAGMENT, keys & LK_CLASSES);
}

static void
sbd_check(struct parse *p, const struct config_link *l, uint16_t keys)
{
	char msg[200];

	if (config_sbd_check(l, msg, sizeof(msg)) < 0)
		config_perr(p, l->line, "%s", msg);
}

#define SBD_FOREIGN "is not an sbd or directip link: peer as a node number, ring_alerts, interval, hold, " \
	"budget in messages, bill_min, bill_unit, price, retry, gateway and unit are for those"

const struct config_link_kind config_sbd_kind = {
	.type = "sbd",
	.kind = LINK_SBD,
	.key = sbd_key,
	.defaults = sbd_defaults,
	.check = sbd_check,
	.own = LK_SBD,
	.foreign = SBD_FOREIGN,
	.takes = LK_SBD | LK_SERIAL,
	.small_fragments = true,
};

/* Its keys are sbd_key()'s: one table for both sides. */
const struct config_link_kind config_directip_kind = {
	.type = "directip",
	.kind = LINK_DIRECTIP,
	.defaults = sbd_defaults,
	.check = sbd_check,
	.own = LK_SBD,
	.foreign = SBD_FOREIGN,
	.takes = LK_SBD,
	.small_fragments = true,
};
