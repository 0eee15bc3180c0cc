/* config.c - INI configuration via libinih, see config.h. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "bundle.h"
#include "config.h"
#include "config_int.h"
#include "log.h"
#include "text.h"

/*
 * One "file:line: message" line.  What came from the file is shown escaped
 * (\x01, \xe9): raw, a control character would reach the terminal, and a
 * byte that is not UTF-8 would make the message impossible to send as JSON.
 */
void
config_vperr(struct parse *p, int line, const char *fmt, va_list ap)
{
	char msg[1024];
	int n;

	p->nerr++;
	if (p->errused >= p->errlen || p->nerr > 20)
		return;
	p->errused += text_escape(p->err + p->errused, p->errlen - p->errused, p->file, strlen(p->file));
	if (line > 0)
		n = snprintf(p->err + p->errused, p->errlen - p->errused, ":%d: ", line);
	else
		n = snprintf(p->err + p->errused, p->errlen - p->errused, ": ");
	if (n > 0)
		p->errused += (size_t)n;
	if (p->errused >= p->errlen) {
		p->errused = p->errlen;
		return;
	}
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n > 0)
		p->errused += text_escape(p->err + p->errused, p->errlen - p->errused, msg, strlen(msg));
	if (p->errused + 1 < p->errlen) {
		p->err[p->errused++] = '\n';
		p->err[p->errused] = '\0';
	}
}

void
config_perr(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_vperr(p, line, fmt, ap);
	va_end(ap);
}

struct unit {
	const char *suffix;
	uint64_t mult;
};

/* A number with an optional unit suffix from units (exact, case-sensitive). */
static int
parse_with_unit(const char *s, const struct unit *units, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	for (const struct unit *u = units; u->suffix; u++)
		if (strcmp(end, u->suffix) == 0)
			mult = u->mult;
	if (mult == 0 || v > UINT64_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

int
config_parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 },
		{ "K", 1ULL << 10 }, { "KB", 1ULL << 10 }, { "KiB", 1ULL << 10 }, { "k", 1ULL << 10 },
		{ "M", 1ULL << 20 }, { "MB", 1ULL << 20 }, { "MiB", 1ULL << 20 },
		{ "G", 1ULL << 30 }, { "GB", 1ULL << 30 }, { "GiB", 1ULL << 30 },
		{ "T", 1ULL << 40 }, { "TB", 1ULL << 40 }, { "TiB", 1ULL << 40 },
		{ NULL, 0 }
	};

	return parse_with_unit(s, units, out);
}

int
config_parse_duration(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 }, { NULL, 0 }
	};

	return parse_with_unit(s, units, out);
}

bool
config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool
config_copy_str(struct parse *p, char *dst, size_t cap, const char *name, const char *value)
{
	if (*value == '\0') {
		config_perr(p, p->line, "%s: empty value", name);
		return false;
	}
	if (strlen(value) >= cap) {
		config_perr(p, p->line, "%s: value too long (max %zu characters)", name, cap - 1);
		return false;
	}
	strcpy(dst, value);
	return true;
}

static int
set_node(struct parse *p, const char *name, const char *value)
{
	struct config *c = p->cfg;
	uint64_t v;

	if (strcmp(name, "id") == 0) {
		if (!config_parse_uint(value, 1, NODE_MAX, &v))
			BAD("id: '%s' is not a node number (1 .. " NODE_MAX_TEXT ")", value);
		c->node_id = v;
		p->seen_node_id = true;
	} else if (strcmp(name, "name") == 0) {
		config_copy_str(p, c->name, sizeof(c->name), name, value);
	} else if (strcmp(name, "data_dir") == 0) {
		if (*value != '/')
			BAD("data_dir: '%s' must be an absolute path", value);
		config_copy_str(p, c->data_dir, sizeof(c->data_dir), name, value);
		c->lines.data_dir = p->line;
	} else if (strcmp(name, "clock") == 0) {
		if (strcmp(value, "auto") == 0)
			c->clock = CLOCK_AUTO;
		else if (strcmp(value, "trusted") == 0)
			c->clock = CLOCK_TRUSTED;
		else if (strcmp(value, "untrusted") == 0)
			c->clock = CLOCK_UNTRUSTED;
		else
			BAD("clock: '%s' is not one of auto, trusted, untrusted", value);
	} else if (strcmp(name, "user") == 0) {
		config_copy_str(p, c->user, sizeof(c->user), name, value);
		c->lines.user = p->line;
	} else {
		BAD("unknown key '%s' in [node]", name);
	}
	return 1;
}

static int
set_store(struct parse *p, const char *name, const char *value)
{
	struct config *c = p->cfg;
	uint64_t v;
	int cls;

	if (strcmp(name, "path") == 0) {
		if (*value != '/')
			BAD("path: '%s' must be an absolute path", value);
		if (config_copy_str(p, c->store_path, sizeof(c->store_path), name, value))
			p->seen_store_path = true;
		c->lines.store_path = p->line;
	} else if (strcmp(name, "quota") == 0) {
		if (config_parse_size(value, &c->quota) < 0)
			BAD("quota: '%s' is not a size (e.g. 512M, 2G, 0 = none)", value);
	} else if (strcmp(name, "reserve") == 0) {
		if (config_parse_size(value, &c->reserve) < 0)
			BAD("reserve: '%s' is not a size (e.g. 4M)", value);
	} else if (strncmp(name, "reserve_", 8) == 0) {
		if ((cls = prio_parse(name + 8)) < 0 || strcmp(name + 8, prio_name(cls)) != 0)
			BAD("unknown key '%s' in [store] (reserve_CLASS takes a class name: urgent, position, voicemsg, message, telemetry, bulk)", name);
		if (config_parse_size(value, &c->class_reserve[cls]) < 0)
			BAD("%s: '%s' is not a size (e.g. 8M)", name, value);
	} else if (strcmp(name, "commit_ms") == 0) {
		if (!config_parse_uint(value, 0, 1000, &v))
			BAD("commit_ms: '%s' is not a number of milliseconds (0 .. 1000)", value);
		c->commit_ms = (unsigned)v;
	} else if (strcmp(name, "commit_bytes") == 0) {
		if (config_parse_size(value, &v) < 0 || v < 4096)
			BAD("commit_bytes: '%s' is not a size of at least 4K", value);
		c->commit_bytes = v;
	} else if (strcmp(name, "max_bundle_size") == 0) {
		if (config_parse_size(value, &v) < 0 || v < 1024 || v > 16u << 20)
			BAD("max_bundle_size: '%s' must be a size between 1K and 16M", value);
		c->max_bundle_size = v;
	} else if (strcmp(name, "expire_interval") == 0) {
		if (config_parse_duration(value, &v) < 0 || v < 1 || v > 86400)
			BAD("expire_interval: '%s' must be a duration between 1s and 1d", value);
		c->expire_interval = (unsigned)v;
	} else {
		BAD("unknown key '%s' in [store]", name);
	}
	return 1;
}

static int
set_bundle(struct parse *p, const char *name, const char *value)
{
	struct config *c = p->cfg;
	uint64_t v;

	if (strcmp(name, "default_lifetime") == 0) {
		if (config_parse_duration(value, &v) < 0 || v < 1 || v > 365 * 86400)
			BAD("default_lifetime: '%s' must be a duration between 1s and 365d (e.g. 90s, 30m, 24h, 7d)", value);
		c->default_lifetime = v;
	} else if (strcmp(name, "hop_limit") == 0) {
		if (!config_parse_uint(value, 1, 255, &v))
			BAD("hop_limit: '%s' is not a number between 1 and 255", value);
		c->hop_limit = v;
	} else if (strcmp(name, "crc") == 0) {
		if (strcmp(value, "crc32c") == 0)
			c->crc_type = CRC_32C;
		else if (strcmp(value, "crc16") == 0)
			c->crc_type = CRC_16;
		else
			BAD("crc: '%s' is not one of crc32c, crc16", value);
	} else {
		BAD("unknown key '%s' in [bundle]", name);
	}
	return 1;
}

static int
set_control(struct parse *p, const char *name, const char *value)
{
	struct config *c = p->cfg;
	uint64_t v;

	if (strcmp(name, "socket") == 0) {
		if (*value != '/')
			BAD("socket: '%s' must be an absolute path", value);
		if (strlen(value) >= 108)
			BAD("socket: path too long for a UNIX socket (max 107 characters)");
		if (config_copy_str(p, c->socket_path, sizeof(c->socket_path), name, value))
			p->seen_socket = true;
		c->lines.socket = p->line;
	} else if (strcmp(name, "mode") == 0) {
		char *end;

		errno = 0;
		v = strtoull(value, &end, 8);
		if (errno || *end != '\0' || *value == '\0' || v > 0777)
			BAD("mode: '%s' is not an octal file mode (e.g. 0660)", value);
		c->socket_mode = (mode_t)v;
	} else if (strcmp(name, "group") == 0) {
		config_copy_str(p, c->socket_group, sizeof(c->socket_group), name, value);
		c->lines.socket_group = p->line;
	} else {
		BAD("unknown key '%s' in [control]", name);
	}
	return 1;
}

static int
set_log(struct parse *p, const char *name, const char *value)
{
	int lvl;

	if (strcmp(name, "level") == 0) {
		if ((lvl = log_parse_level(value)) < 0)
			BAD("level: '%s' is not one of error, warn, info, debug", value);
		p->cfg->log_level = lvl;
	} else {
		BAD("unknown key '%s' in [log]", name);
	}
	return 1;
}

/* "54M" -> 54000000 bit/s: rates count in thousands, not 1024s. */
static int
parse_rate(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "k", 1000 }, { "K", 1000 }, { "M", 1000000 }, { "G", 1000000000 }, { NULL, 0 }
	};

	return parse_with_unit(s, units, out);
}

/* "2M/day" -> bytes and the period in seconds (hour, day, week, month = 30 days). */
static int
parse_budget(const char *s, uint64_t *bytes, uint32_t *period)
{
	static const struct { const char *name; uint32_t s; } per[] = {
		{ "hour", 3600 }, { "day", 86400 }, { "week", 7 * 86400 }, { "month", 30 * 86400 },
	};
	const char *slash = strchr(s, '/');
	char size[32];

	if (slash == NULL || (size_t)(slash - s) >= sizeof(size))
		return -1;
	memcpy(size, s, (size_t)(slash - s));
	size[slash - s] = '\0';
	if (config_parse_size(size, bytes) < 0 || *bytes == 0)
		return -1;
	for (size_t i = 0; i < sizeof(per) / sizeof(per[0]); i++)
		if (strcmp(slash + 1, per[i].name) == 0) {
			*period = per[i].s;
			return 0;
		}
	return -1;
}

/* "urgent,position,message" -> a mask of enum prio bits (live voice always). */
static int
parse_classes(const char *s, uint64_t *out)
{
	static const char *const names[PRIO_COUNT] = {
		[PRIO_URGENT] = "urgent", [PRIO_POSITION] = "position", [PRIO_VOICEMSG] = "voicemsg",
		[PRIO_MESSAGE] = "message", [PRIO_TELEMETRY] = "telemetry", [PRIO_BULK] = "bulk",
	};
	const char *p = s;

	*out = 1u << PRIO_REALTIME;
	while (*p) {
		size_t n = strcspn(p, ", ");
		int found = -1;

		for (int i = 0; i < PRIO_COUNT; i++)
			if (names[i] && strlen(names[i]) == n && strncmp(p, names[i], n) == 0)
				found = i;
		if (found < 0)
			return -1;
		*out |= 1u << found;
		p += n;
		p += strspn(p, ", ");
	}
	return *out != (1u << PRIO_REALTIME) ? 0 : -1;
}

/* "10%" or "0.5%" -> permille (100, 5); "0" -> 0. */
static int
parse_permille(const char *s, uint64_t *out)
{
	unsigned long whole = 0, tenth = 0;
	char *end;

	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -1;
	whole = strtoul(s, &end, 10);
	if (*end == '.') {
		if (end[1] < '0' || end[1] > '9')
			return -1;
		tenth = (unsigned long)(end[1] - '0');
		end += 2;
	}
	if (strcmp(end, "%") != 0 || whole > 100)
		return -1;
	*out = whole * 10 + tenth;
	return *out > 0 ? 0 : -1;
}

/* "300" or "300ms", "10s", "2m" -> milliseconds. */
int
config_parse_ms(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { NULL, 0 }
	};

	return parse_with_unit(s, units, out);
}

bool
config_parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = true;
	else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = false;
	else
		return false;
	return true;
}

static struct config_link *
link_section(struct parse *p, const char *name)
{
	struct config *c = p->cfg;

	for (unsigned i = 0; i < c->n_links; i++)
		if (strcmp(c->links[i].conf.name, name) == 0)
			return &c->links[i];
	if (c->n_links == CONFIG_MAX_LINKS) {
		if (p->reported_section != p->section_line) {
			p->reported_section = p->section_line;
			config_perr(p, p->section_line, "too many links (at most %d)", CONFIG_MAX_LINKS);
		}
		return NULL;
	}
	struct config_link *l = &c->links[c->n_links++];

	memset(l, 0, sizeof(*l));
	snprintf(l->conf.name, sizeof(l->conf.name), "%s", name);
	l->conf.port = 4556;	/* the IANA port of DTN convergence layers */
	l->conf.kiss = (struct link_kiss_conf){ .baud = 9600, .ax25 = true, .dest = "QST",
	    .txdelay_ms = 300, .persist = 63, .slottime_ms = 100 };	/* Direwolf's and the usual defaults */
	l->line = p->section_line;
	p->link_keys[c->n_links - 1] = 0;
	return l;
}

/* The link kinds, each in its own file; the order of the list in messages. */
static const struct config_link_kind *const link_kinds[] = {
	&config_udp_kind, &config_pcap_kind, &config_kiss_kind, &config_sbd_kind, &config_directip_kind, NULL
};

/* A mesh Wi-Fi hop's: where a kind has no base of its own. */
static const struct config_link_base mesh_base = {
	.mtu = 1400,
	.rate_bps = 10000000,
	.fragment = 256 << 10,	/* what a cut transfer costs: a fraction of a second */
	.beacon_ms = 0,		/* the link layer's default */
};

static const struct config_link_kind *
link_kind(int kind)
{
	for (const struct config_link_kind *const *k = link_kinds; *k; k++)
		if ((*k)->kind == kind)
			return *k;
	return NULL;
}

/* "udp, pcap, kiss, sbd, directip", in types. */
static const char *
link_types(char *types, size_t size)
{
	size_t used = 0;
	int n;

	types[0] = '\0';
	for (const struct config_link_kind *const *k = link_kinds; *k; k++) {
		n = snprintf(types + used, size - used, "%s%s", used ? ", " : "", (*k)->type);
		if (n > 0 && (size_t)n < size - used)
			used += (size_t)n;
	}
	return types;
}

/* The defaults of what the section did not set, which depend on the link's type. */
static void
link_defaults(struct config_link *l, const struct config_link_kind *kind, uint16_t keys)
{
	const struct config_link_base *b = kind && kind->base ? kind->base : &mesh_base;

	if (!(keys & LK_MTU))
		l->conf.mtu = b->mtu;
	if (!(keys & LK_RATE))
		l->conf.rate_bps = b->rate_bps;
	if (!(keys & LK_FRAGMENT))
		l->fragment = b->fragment;
	/*
	 * A metered link: a transfer cut when the budget runs out starts again
	 * in the next period, so no piece may need most of a period's budget,
	 * or a bundle bigger than the budget would never get through.
	 */
	if (l->conf.budget_bytes && !(keys & LK_FRAGMENT) && l->fragment > l->conf.budget_bytes / 8)
		l->fragment = l->conf.budget_bytes / 8 < 1024 ? 1024 : l->conf.budget_bytes / 8;
	/* A budget is not for bulk sync or telemetry unless the link says so. */
	if (l->conf.budget_bytes && !(keys & LK_CLASSES))
		l->refuse = 1u << PRIO_TELEMETRY | 1u << PRIO_BULK;
	if (!(keys & LK_BEACON))
		l->beacon_ms = b->beacon_ms;
}

static int
set_link(struct parse *p, const char *name, const char *value)
{
	const char *lname = p->section + strlen("link ");
	const struct config_link_kind *const *k;
	struct config_link *l;
	uint16_t *keys;
	uint64_t v;
	char types[128];

	if (*lname == '\0' || strlen(lname) >= sizeof(l->conf.name) || strchr(lname, ' '))
		BAD("[link NAME]: '%s' is not a link name (one word, at most 31 characters)", lname);
	if ((l = link_section(p, lname)) == NULL)
		return 1;
	keys = &p->link_keys[l - p->cfg->links];
	/* Every kind's own keys, whatever the type: it may come last (foreign ones: at the end). */
	for (k = link_kinds; *k; k++)
		if ((*k)->key != NULL && (*k)->key(p, l, name, value, keys))
			return 1;
	if (strcmp(name, "port") == 0 || strcmp(name, "bind") == 0 || strcmp(name, "group4") == 0 ||
	    strcmp(name, "group6") == 0 || strcmp(name, "peer") == 0)
		*keys |= LK_UDP;
	if (strcmp(name, "type") == 0) {
		for (k = link_kinds; *k && strcmp((*k)->type, value) != 0; k++)
			;
		if (*k == NULL)
			BAD("type: '%s' is not a link type this build has (%s)", value, link_types(types, sizeof(types)));
		l->conf.kind = (*k)->kind;
	} else if (strcmp(name, "beacon") == 0) {
		if (config_parse_ms(value, &v) < 0 || v < 100 || v > 3600000)
			BAD("beacon: '%s' is not an interval between 100ms and 1h (e.g. 500ms, 10s)", value);
		l->beacon_ms = (unsigned)v;
		*keys |= LK_BEACON;
	} else if (strcmp(name, "port") == 0) {
		if (!config_parse_uint(value, 1, 65535, &v))
			BAD("port: '%s' is not a UDP port (1 .. 65535)", value);
		l->conf.port = (uint16_t)v;
	} else if (strcmp(name, "interface") == 0) {
		config_copy_str(p, l->conf.ifname, sizeof(l->conf.ifname), name, value);
	} else if (strcmp(name, "bind") == 0) {
		struct link_addr a;

		/* What the driver parses when it opens (radio/drivers/udp.c, directip_link.c): refused there, refused here. */
		if (link_addr_parse(&a, value, l->conf.port) < 0)
			BAD("bind: '%s' is not a numeric address (e.g. 10.0.0.5 or fd00::5)", value);
		config_copy_str(p, l->conf.bind, sizeof(l->conf.bind), name, value);
	} else if (strcmp(name, "group4") == 0) {
		struct link_addr a;

		if (link_addr_parse(&a, value, l->conf.port) < 0 || a.sa.ss_family != AF_INET ||
		    !IN_MULTICAST(ntohl(((struct sockaddr_in *)&a.sa)->sin_addr.s_addr)))
			BAD("group4: '%s' is not an IPv4 multicast group (e.g. 239.192.0.1)", value);
		config_copy_str(p, l->conf.group4, sizeof(l->conf.group4), name, value);
	} else if (strcmp(name, "group6") == 0) {
		struct link_addr a;

		if (link_addr_parse(&a, value, l->conf.port) < 0 || a.sa.ss_family != AF_INET6 ||
		    !IN6_IS_ADDR_MULTICAST(&((struct sockaddr_in6 *)&a.sa)->sin6_addr))
			BAD("group6: '%s' is not an IPv6 multicast group (e.g. ff02::1:6)", value);
		config_copy_str(p, l->conf.group6, sizeof(l->conf.group6), name, value);
	} else if (strcmp(name, "peer") == 0) {
		struct link_addr a;

		if (l->conf.n_peers == LINK_MAX_PEERS)
			BAD("peer: at most %d static peers per link", LINK_MAX_PEERS);
		if (link_addr_parse(&a, value, l->conf.port) < 0)
			BAD("peer: '%s' is not a numeric address[:port] (e.g. 10.0.0.7:4556 or [fd00::7]:4556)", value);
		if (config_copy_str(p, l->conf.peers[l->conf.n_peers], sizeof(l->conf.peers[0]), name, value))
			l->conf.n_peers++;
	} else if (strcmp(name, "ethertype") == 0) {
		if (!config_parse_uint(value, 0x0600, 0xffff, &v))
			BAD("ethertype: '%s' is not an EtherType (0x0600 .. 0xffff, e.g. 0x88b5)", value);
		if (v == 0x0800 || v == 0x0806 || v == 0x86dd || v == 0x8100 || v == 0x88a8 || v == 0x9100)
			BAD("ethertype: 0x%04x belongs to IPv4, ARP, IPv6 or VLAN tags; use a free one (0x88b5, 0x88b6)",
			    (unsigned)v);
		l->conf.ethertype = (uint16_t)v;
	} else if (strcmp(name, "mtu") == 0) {
		if (!config_parse_uint(value, 256, 65000, &v))
			BAD("mtu: '%s' is not a frame size between 256 and 65000", value);
		l->conf.mtu = (uint32_t)v;
		*keys |= LK_MTU;
	} else if (strcmp(name, "rate") == 0) {
		if (parse_rate(value, &l->conf.rate_bps) < 0)
			BAD("rate: '%s' is not a bit rate (e.g. 1200, 9600, 54M)", value);
		*keys |= LK_RATE;
	} else if (strcmp(name, "classes") == 0) {
		if (parse_classes(value, &v) < 0)
			BAD("classes: '%s' is not a list of urgent, position, voicemsg, message, telemetry, bulk (e.g. urgent,position,message)", value);
		l->refuse = (uint32_t)~v & ((1u << PRIO_COUNT) - 1);
		*keys |= LK_CLASSES;
	} else if (strcmp(name, "budget") == 0) {
		if (parse_budget(value, &l->conf.budget_bytes, &l->conf.budget_period_s) < 0)
			BAD("budget: '%s' is not bytes per hour, day, week or month (e.g. 2M/day)", value);
	} else if (strcmp(name, "window") == 0) {
		unsigned h1, m1, h2, m2;
		char extra;

		if (l->conf.n_windows == LINK_MAX_WINDOWS)
			BAD("window: at most %d contact windows per link", LINK_MAX_WINDOWS);
		if (sscanf(value, "%u:%u-%u:%u%c", &h1, &m1, &h2, &m2, &extra) != 4 || h1 > 23 || h2 > 24 ||
		    m1 > 59 || m2 > 59 || (h2 == 24 && m2 != 0) || h1 * 60 + m1 == h2 * 60 + m2)
			BAD("window: '%s' is not a UTC time span HH:MM-HH:MM (e.g. 06:00-08:00, 22:00-02:00)", value);
		l->conf.windows[l->conf.n_windows].from = (uint16_t)(h1 * 60 + m1);
		l->conf.windows[l->conf.n_windows].to = (uint16_t)((h2 * 60 + m2) % 1440);
		l->conf.n_windows++;
	} else if (strcmp(name, "duty_cycle") == 0) {
		if (parse_permille(value, &v) < 0 || v > 1000)
			BAD("duty_cycle: '%s' is not a share of airtime from 0.1%% to 100%% (e.g. 10%%), or 0 for none", value);
		l->conf.duty_permille = (uint16_t)(v == 1000 ? 0 : v);
		if (l->conf.duty_window_ms == 0)
			l->conf.duty_window_ms = 60000;
	} else if (strcmp(name, "duty_window") == 0) {
		if (config_parse_ms(value, &v) < 0 || v < 1000 || v > 86400000)
			BAD("duty_window: '%s' is not a window between 1s and 24h (e.g. 60s, 60m)", value);
		l->conf.duty_window_ms = (uint32_t)v;
	} else if (strcmp(name, "fragment") == 0) {
		if (strcmp(value, "no") == 0)
			l->fragment = 0;
		else if (config_parse_size(value, &l->fragment) < 0 || l->fragment < 64 ||
		    l->fragment > BUNDLE_MAX_SIZE)
			BAD("fragment: '%s' is not a size between 1K and 16M (64 on sbd and directip links), or no (e.g. 256K)", value);
		*keys |= LK_FRAGMENT;
	} else if (strcmp(name, "auth_only") == 0) {
		if (!config_parse_bool(value, &l->auth_only))
			BAD("auth_only: '%s' is not yes or no", value);
	} else if (strcmp(name, "tag") == 0) {
		if (strcmp(value, "16") == 0)
			l->tag8 = false;
		else if (strcmp(value, "8") == 0)
			l->tag8 = true;
		else
			BAD("tag: '%s' must be 16 or 8 (bytes of authentication tag)", value);
	} else if (strcmp(name, "compact") == 0) {
		if (strcmp(value, "auto") == 0)
			l->compact = LINK_COMPACT_AUTO;
		else if (strcmp(value, "yes") == 0)
			l->compact = LINK_COMPACT_YES;
		else if (strcmp(value, "no") == 0)
			l->compact = LINK_COMPACT_NO;
		else
			BAD("compact: '%s' is not auto, yes or no (compact framing on narrow links)", value);
	} else {
		BAD("unknown key '%s' in [link %s]", name, lname);
	}
	return 1;
}

static int
set_route(struct parse *p, const char *name, const char *value)
{
	struct config *c = p->cfg;
	unsigned long long dst, via;
	char extra;

	if (strcmp(name, "default") == 0) {
		if (!config_parse_uint(value, 1, LINK_NODE_MAX, &c->route_default))
			BAD("default: '%s' is not a node number (the next hop toward the command center)", value);
		p->route_line[CONFIG_MAX_ROUTES] = p->line;
	} else if (strcmp(name, "static") == 0) {
		if (sscanf(value, "%llu via %llu %c", &dst, &via, &extra) != 2 || dst == 0 || via == 0 ||
		    dst > LINK_NODE_MAX || via > LINK_NODE_MAX)
			BAD("static: '%s' is not 'DST via NEXTHOP' (node numbers, e.g. 12 via 5)", value);
		if (c->n_routes == CONFIG_MAX_ROUTES)
			BAD("static: at most %d static routes", CONFIG_MAX_ROUTES);
		c->routes[c->n_routes].dst = dst;
		c->routes[c->n_routes].via = via;
		p->route_line[c->n_routes++] = p->line;
	} else {
		BAD("unknown key '%s' in [route]", name);
	}
	return 1;
}

static int
set_security(struct parse *p, const char *name, const char *value)
{
	if (strcmp(name, "key_file") == 0) {
		if (*value != '/')
			BAD("key_file: '%s' must be an absolute path", value);
		config_copy_str(p, p->cfg->key_file, sizeof(p->cfg->key_file), name, value);
		p->cfg->lines.key_file = p->line;
	} else {
		BAD("unknown key '%s' in [security]", name);
	}
	return 1;
}

/* The daemon's own sections; agents' come from config_agent_sections[] (config_sections.c). */
const struct config_daemon_section config_daemon_sections[] = {
	{ "node", false, set_node },
	{ "store", false, set_store },
	{ "bundle", false, set_bundle },
	{ "control", false, set_control },
	{ "log", false, set_log },
	{ "security", false, set_security },
	{ "route", false, set_route },
	{ "link", true, set_link },
	{ NULL, false, NULL },
};

/* libinih calls this per key; returning 1 keeps it going so we see every error. */
static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	const struct config_daemon_section *d;
	const struct config_section *agent;
	enum config_section_kind kind;

	if (name == NULL)	/* a section header alone */
		return 1;
	if (strcmp(section, DROPPED_SECTION) == 0)
		return 1;
	/* An agent's section is not the daemon's to check when it starts. */
	if ((kind = config_section_kind(section, &agent)) == SECTION_AGENT && p->skip_agents)
		return 1;
	if (!text_clean(name, strlen(name)))
		BAD("key '%s' has a control character or bytes that are not UTF-8", name);
	if (!text_clean(value, strlen(value)))
		BAD("%s: '%s' has a control character or bytes that are not UTF-8", name, value);
	if (config_repeated_key(p, section, name, value))
		return 1;
	if (kind == SECTION_AGENT) {
		config_agent_key(p, name, value);
		return 1;
	}
	if ((d = config_daemon_section(section)) != NULL) {
		p->section = section;
		return d->set(p, name, value);
	}
	if (*section == '\0')
		BAD("key '%s' outside any section (expected [node], [store], [bundle], [control] or [log] first)", name);
	if (p->reported_section != p->section_line) {
		char known[512];

		p->reported_section = p->section_line;
		config_perr(p, p->section_line, "unknown section [%s] (known: %s)", section,
		    config_sections_known(known, sizeof(known)));
	}
	return 1;
}

static void
set_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	if (gethostname(c->name, sizeof(c->name) - 1) != 0)
		strcpy(c->name, "fieldrelay");
	strcpy(c->data_dir, "/var/lib/fieldrelay");
	c->clock = CLOCK_AUTO;
	c->reserve = 1u << 20;
	c->commit_ms = 2;
	c->commit_bytes = 1u << 20;
	c->max_bundle_size = 16u << 20;
	c->expire_interval = 10;
	c->default_lifetime = 86400;
	c->hop_limit = 32;
	c->crc_type = CRC_32C;
	c->socket_mode = 0660;
	c->log_level = LOG_LVL_INFO;
}

int
config_parse(const char *path, const char *text, size_t len, struct config *cfg, char *err, size_t errlen)
{
	return config_parse_flags(path, text, len, cfg, 0, err, errlen);
}

int
config_parse_flags(const char *path, const char *text, size_t len, struct config *cfg, int flags,
    char *err, size_t errlen)
{
	struct parse p = { .cfg = cfg, .file = path, .text = text, .len = len, .err = err, .errlen = errlen,
	    .skip_agents = flags & CONFIG_SKIP_AGENTS };
	uint64_t reserved = 0;
	int r;

	if (errlen)
		err[0] = '\0';
	set_defaults(cfg);
	if (strlen(path) >= sizeof(cfg->path)) {
		config_perr(&p, 0, "path too long");
		return -ENAMETOOLONG;
	}
	strcpy(cfg->path, path);
	/* A UTF-8 byte-order mark, which libinih would skip, is skipped here: read_line checks every line. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		p.pos = 3;
	r = ini_parse_stream(config_read_line, &p, on_key, &p);
	if (r > 0)	/* a syntax error read_line did not see */
		config_perr(&p, r, "syntax error (expected [section] or key = value)");
	else if (r < 0)
		config_perr(&p, 0, "cannot parse (out of memory)");
	config_section_enter(&p, NULL);		/* the last section ends */

	if (!p.seen_node_id)
		config_perr(&p, 0, "[node] id is required (this node's ipn number, e.g. id = 12)");
	if (!p.seen_store_path)
		snprintf(cfg->store_path, sizeof(cfg->store_path), "%s/bundles.db", cfg->data_dir);
	if (!p.seen_socket) {
		if (strlen(cfg->data_dir) + sizeof("/control.sock") > sizeof(cfg->socket_path)) {
			config_perr(&p, 0, "data_dir %s is too long for the control socket in it; set [control] socket", cfg->data_dir);
		} else {
			strcpy(cfg->socket_path, cfg->data_dir);
			strcat(cfg->socket_path, "/control.sock");
		}
	}
	for (unsigned i = 0; i < cfg->n_links; i++) {
		struct config_link *l = &cfg->links[i];
		const struct config_link_kind *kind = link_kind(l->conf.kind);
		uint16_t keys = p.link_keys[i], told = 0;
		char types[128];

		link_defaults(l, kind, keys);
		if (kind != NULL && kind->defaults != NULL)
			kind->defaults(l, keys);
		if (kind == NULL)
			config_perr(&p, l->line, "[link %s] needs a type (%s)", l->conf.name, link_types(types, sizeof(types)));
		if (kind != NULL && kind->check != NULL)
			kind->check(&p, l, keys);
		/* One kind's keys in a link of another kind (or of none). */
		for (const struct config_link_kind *const *k = link_kinds; *k; k++) {
			uint16_t own = (*k)->own & keys & ~told;

			if (own && !(kind != NULL && (kind->takes & own))) {
				config_perr(&p, l->line, "[link %s] %s", l->conf.name, (*k)->foreign);
				told |= own;
			}
		}
		if ((keys & LK_SERIAL) && !(kind != NULL && (kind->takes & LK_SERIAL)))
			config_perr(&p, l->line, "[link %s] device and baud are for type = kiss or sbd", l->conf.name);
		if (!(kind != NULL && kind->small_fragments) && l->fragment && l->fragment < 1024)
			config_perr(&p, l->line, "[link %s] fragment: at least 1K on this type of link", l->conf.name);
		if (l->conf.kind != LINK_PCAP && l->conf.ethertype)
			config_perr(&p, l->line, "[link %s] ethertype is for pcap links", l->conf.name);
	}
	if (cfg->n_links > 0 && !cfg->key_file[0])
		config_perr(&p, 0, "links are configured but [security] key_file is not: every frame is authenticated with the network key");
	/* What the route table would refuse at start (route_add_static): the default takes a slot too. */
	if (cfg->route_default && cfg->n_routes == CONFIG_MAX_ROUTES)
		config_perr(&p, p.route_line[CONFIG_MAX_ROUTES], "default: with %d static routes there is no room for it",
		    CONFIG_MAX_ROUTES);
	if (cfg->route_default && cfg->route_default == cfg->node_id)
		config_perr(&p, p.route_line[CONFIG_MAX_ROUTES], "default: %" PRIu64 " is this node: the next hop is another node",
		    cfg->route_default);
	for (unsigned i = 0; i < cfg->n_routes; i++)
		if (cfg->routes[i].dst == cfg->node_id || cfg->routes[i].via == cfg->node_id)
			config_perr(&p, p.route_line[i], "static: %" PRIu64 " via %" PRIu64 ": a route leads from this node (%" PRIu64
			    ") to another", cfg->routes[i].dst, cfg->routes[i].via, cfg->node_id);
	if (cfg->n_links > 0 && cfg->node_id > LINK_NODE_MAX)
		config_perr(&p, 0, "[node] id must be below 2^32 when links are configured (it is part of every frame's nonce)");
	for (int i = 0; i < PRIO_COUNT; i++)
		reserved += cfg->class_reserve[i];
	if (cfg->quota && cfg->reserve + reserved >= cfg->quota)
		config_perr(&p, 0, "[store] reserve plus the class reserves (%" PRIu64 " bytes) leave nothing of quota (%" PRIu64 " bytes)",
		    cfg->reserve + reserved, cfg->quota);
	return p.nerr ? -EINVAL : 0;
}

/* Append "what\n" to out. */
static void
note(char *out, size_t outlen, const char *what, bool reloadable)
{
	size_t used = strlen(out);

	if (used < outlen)
		snprintf(out + used, outlen - used, "%s %s\n", what,
		    reloadable ? "changed: applied" : "changed: needs a restart");
}

bool
config_reloadable(const struct config *o, const struct config *n, char *out, size_t outlen)
{
	bool ok = true;

	if (outlen)
		out[0] = '\0';
#define CMP(field, label) \
	if (memcmp(&o->field, &n->field, sizeof(o->field)) != 0) { \
		note(out, outlen, label, false); \
		ok = false; \
	}
	CMP(node_id, "[node] id");
	CMP(name, "[node] name");
	CMP(data_dir, "[node] data_dir");
	CMP(clock, "[node] clock");
	CMP(user, "[node] user");
	CMP(store_path, "[store] path");
	CMP(quota, "[store] quota");
	CMP(reserve, "[store] reserve");
	CMP(class_reserve, "[store] reserve_*");
	CMP(commit_ms, "[store] commit_ms");
	CMP(commit_bytes, "[store] commit_bytes");
	CMP(max_bundle_size, "[store] max_bundle_size");
	CMP(expire_interval, "[store] expire_interval");
	CMP(default_lifetime, "[bundle] default_lifetime");
	CMP(hop_limit, "[bundle] hop_limit");
	CMP(crc_type, "[bundle] crc");
	CMP(socket_path, "[control] socket");
	CMP(socket_mode, "[control] mode");
	CMP(socket_group, "[control] group");
	CMP(key_file, "[security] key_file");
	CMP(links, "[link] sections");
	CMP(n_links, "[link] sections");
	CMP(route_default, "[route] default");
	CMP(routes, "[route] static");
	CMP(n_routes, "[route] static");
#undef CMP
	if (o->log_level != n->log_level)
		note(out, outlen, "[log] level", true);
	return ok;
}
