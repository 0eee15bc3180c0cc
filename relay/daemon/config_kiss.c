/*
 * config_kiss.c - the [link NAME] keys of KISS links (type = kiss: a TNC on
 * a serial port, a pty or KISS over TCP, AX.25 framing), their defaults and
 * what such a section needs; registered in config.c's link kinds.
 */
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "kiss.h"

/*
 * The keys only KISS links take.  device and baud are serial keys, which
 * sbd links take too: config_sbd.c sets both kinds' from them.
 */
static const char *const kiss_keys[] = {
	"tcp", "callsign", "dest", "ax25", "txdelay", "slottime", "txtail", "duplex", "persist", NULL
};

/* KISS-only keys; 1 if name was one of them (value checked), 0 if not. */
static int
kiss_key(struct parse *p, struct config_link *l, const char *name, const char *value, uint16_t *keys)
{
	struct link_kiss_conf *k = &l->conf.kiss;
	struct ax25_call call;
	struct link_addr a;
	uint64_t v;

	size_t i;

	for (i = 0; kiss_keys[i] != NULL && strcmp(kiss_keys[i], name) != 0; i++)
		;
	if (kiss_keys[i] == NULL)
		return 0;
	/* Taken, even with a bad value: an error at the end too if the link is not a kiss link. */
	*keys |= LK_KISS;
	if (strcmp(name, "tcp") == 0) {
		if (link_addr_parse(&a, value, 8001) < 0)
			BAD("tcp: '%s' is not a numeric address[:port] (e.g. 127.0.0.1:8001)", value);
		config_copy_str(p, k->tcp, sizeof(k->tcp), name, value);
	} else if (strcmp(name, "callsign") == 0 || strcmp(name, "dest") == 0) {
		if (ax25_call_parse(value, &call) < 0)
			BAD("%s: '%s' is not an AX.25 callsign (1-6 letters and digits, -SSID 0-15: N0CALL-7)", name, value);
		ax25_call_format(&call, name[0] == 'c' ? k->callsign : k->dest, sizeof(k->callsign));
	} else if (strcmp(name, "ax25") == 0) {
		if (!config_parse_bool(value, &k->ax25))
			BAD("ax25: '%s' is not yes or no", value);
	} else if (strcmp(name, "txdelay") == 0 || strcmp(name, "slottime") == 0 || strcmp(name, "txtail") == 0) {
		if (config_parse_ms(value, &v) < 0 || v % 10 || v > 2550)
			BAD("%s: '%s' is not a multiple of 10 ms up to 2550 ms (e.g. 300ms)", name, value);
		*(strcmp(name, "txdelay") == 0 ? &k->txdelay_ms : name[0] == 's' ? &k->slottime_ms :
		    &k->txtail_ms) = (uint16_t)v;
		k->txtail_set |= name[2] == 't';
	} else if (strcmp(name, "duplex") == 0) {
		if (strcmp(value, "half") != 0 && strcmp(value, "full") != 0)
			BAD("duplex: '%s' is not half (a radio channel) or full (a wire, split frequencies)", value);
		k->full_duplex = value[0] == 'f';
	} else if (strcmp(name, "persist") == 0) {
		if (!config_parse_uint(value, 0, 255, &v))
			BAD("persist: '%s' is not a KISS persistence value 0 .. 255 (p = (P+1)/256, e.g. 63)", value);
		k->persist = (uint8_t)v;
	}
	return 1;
}

/* A KISS link needs exactly one way to its TNC, and a callsign for AX.25. */
static void
kiss_check(struct parse *p, const struct config_link *l, uint16_t keys)
{
	const struct link_kiss_conf *k = &l->conf.kiss;

	if (!k->device[0] == !k->tcp[0])
		config_perr(p, l->line, "[link %s] needs exactly one of device (a serial port or pty) and tcp (a KISS TCP port)",
		    l->conf.name);
	if (k->ax25 && !k->callsign[0])
		config_perr(p, l->line, "[link %s] sends AX.25 frames: it needs a callsign (or ax25 = no for raw KISS)",
		    l->conf.name);
	if (keys & LK_UDP)
		config_perr(p, l->line, "[link %s] is a kiss link: port, bind, group4, group6 and peer are for type = udp",
		    l->conf.name);
	if (l->conf.rate_bps == 0)
		config_perr(p, l->line, "[link %s] needs its rate (bit/s on air): KISS writes are paced to it", l->conf.name);
}

/* A 1200 bit/s AFSK channel's. */
static const struct config_link_base kiss_base = {
	.mtu = 256,			/* AX.25's default info field (N1) */
	.rate_bps = 1200,
	.fragment = 16 << 10,		/* a cut transfer costs 2 minutes at 1200 bit/s */
	.beacon_ms = 10000,		/* every beacon costs TXDELAY and airtime */
};

const struct config_link_kind config_kiss_kind = {
	.type = "kiss",
	.kind = LINK_KISS,
	.key = kiss_key,
	.base = &kiss_base,
	.check = kiss_check,
	.own = LK_KISS,
	.foreign = "is not a kiss link: device, baud, tcp, callsign, dest, ax25, duplex, txdelay, txtail, "
	    "persist and slottime are for type = kiss",
	.takes = LK_KISS | LK_SERIAL,
};
