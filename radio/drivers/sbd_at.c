/* sbd_at.c - the 9602/9603 AT command set as a codec; see sbd_at.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sbd_at.h"

enum { ST_IDLE, ST_LINE, ST_BIN };

static const char *const cmd_text[SBD_CMD_N] = {
	[SBD_CMD_PROBE]		 = "AT",
	[SBD_CMD_ECHO_OFF]	 = "ATE0",
	[SBD_CMD_VERBOSE]	 = "ATV1",
	[SBD_CMD_FLOW_NONE]	 = "AT&K0",
	[SBD_CMD_FLOW_RTSCTS]	 = "AT&K3",
	[SBD_CMD_RING_ON]	 = "AT+SBDMTA=1",
	[SBD_CMD_RING_OFF]	 = "AT+SBDMTA=0",
	[SBD_CMD_IMEI]		 = "AT+CGSN",
	[SBD_CMD_SIGNAL]	 = "AT+CSQ",
	[SBD_CMD_WRITE_BINARY]	 = "AT+SBDWB=",
	[SBD_CMD_SESSION]	 = "AT+SBDIX",
	[SBD_CMD_SESSION_ANSWER] = "AT+SBDIXA",
	[SBD_CMD_READ_BINARY]	 = "AT+SBDRB",
	[SBD_CMD_CLEAR_MO]	 = "AT+SBDD0",
	[SBD_CMD_INDICATORS]	 = "AT+CIER=1,1,1",
};

const char *
sbd_at_command_name(enum sbd_cmd cmd)
{
	if ((unsigned)cmd >= SBD_CMD_N)
		return "?";
	return cmd_text[cmd];
}

int
sbd_at_command(enum sbd_cmd cmd, unsigned arg, char *buf, size_t cap)
{
	int n;

	if ((unsigned)cmd >= SBD_CMD_N)
		return -EINVAL;
	if (cmd == SBD_CMD_WRITE_BINARY) {
		if (arg == 0 || arg > SBD_MO_MAX)
			return -EINVAL;
		n = snprintf(buf, cap, "%s%u\r", cmd_text[cmd], arg);
	} else {
		n = snprintf(buf, cap, "%s\r", cmd_text[cmd]);
	}
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

uint16_t
sbd_checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += p[i];
	return (uint16_t)sum;
}

int
sbd_at_binary(const uint8_t *msg, size_t n, uint8_t *out, size_t cap)
{
	uint16_t ck;

	if (n == 0 || n > SBD_MO_MAX)
		return -EINVAL;
	if (cap < n + 2)
		return -ENOSPC;
	ck = sbd_checksum(msg, n);
	memmove(out, msg, n);
	out[n] = ck >> 8;
	out[n + 1] = ck & 0xff;
	return (int)n + 2;
}

/* ---- receive side --------------------------------------------------- */

void
sbd_at_rx_init(struct sbd_at_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->state = ST_IDLE;
}

void
sbd_at_rx_expect_binary(struct sbd_at_rx *rx)
{
	rx->want_binary = true;
}

static bool
all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Modem output is printable ASCII; anything else is line noise. */
static bool
printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((s[i] < 0x20 && s[i] != '\t') || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static void
classify(struct sbd_at_rx *rx, struct sbd_at_event *ev)
{
	size_t n = rx->len;

	while (n > 0 && (rx->line[n - 1] == ' ' || rx->line[n - 1] == '\t'))
		n--;
	memcpy(ev->line, rx->line, n);
	ev->line[n] = '\0';
	ev->len = n;
	if (rx->overflow || !printable(ev->line, n)) {
		/* Kept for a log line: made printable, so it cannot forge one. */
		for (size_t i = 0; i < n; i++)
			if (!printable(&ev->line[i], 1))
				ev->line[i] = '?';
		ev->kind = SBD_AT_BAD;
	} else if (n == 2 && memcmp(ev->line, "OK", 2) == 0) {
		ev->kind = SBD_AT_OK;
	} else if (n == 5 && memcmp(ev->line, "ERROR", 5) == 0) {
		ev->kind = SBD_AT_ERROR;
	} else if (n == 5 && memcmp(ev->line, "READY", 5) == 0) {
		ev->kind = SBD_AT_READY;
	} else if (n == 7 && memcmp(ev->line, "SBDRING", 7) == 0) {
		ev->kind = SBD_AT_RING;
	} else if (n >= 2 && strncasecmp(ev->line, "AT", 2) == 0) {
		ev->kind = SBD_AT_ECHO;
	} else if (n <= 3 && all_digits(ev->line, n)) {
		ev->kind = SBD_AT_RESULT;
		ev->result = 0;
		for (size_t i = 0; i < n; i++)
			ev->result = ev->result * 10 + (unsigned)(ev->line[i] - '0');
	} else {
		ev->kind = SBD_AT_TEXT;
	}
	/* Echo and ring alerts may come before the block; anything else ends the wait. */
	if (ev->kind != SBD_AT_ECHO && ev->kind != SBD_AT_RING)
		rx->want_binary = false;
}

static void
bin_done(struct sbd_at_rx *rx, struct sbd_at_event *ev)
{
	size_t len = rx->bin_need - 4;
	uint16_t ck = (uint16_t)(rx->bin[2 + len] << 8 | rx->bin[3 + len]);

	ev->kind = SBD_AT_BINARY;
	memcpy(ev->data, rx->bin + 2, len);
	ev->data_len = len;
	ev->checksum_ok = sbd_checksum(ev->data, len) == ck;
	ev->line[0] = '\0';
	ev->len = 0;
	rx->want_binary = false;
	rx->state = ST_IDLE;
}

size_t
sbd_at_rx_feed(struct sbd_at_rx *rx, const uint8_t *buf, size_t n, struct sbd_at_event *ev)
{
	ev->kind = SBD_AT_NONE;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = buf[i];

		switch (rx->state) {
		case ST_IDLE:
			if (c == '\r' || c == '\n')
				continue;
			/*
			 * An SBDRB length is at most 270 = 0x010e, so its first
			 * byte is 0 or 1: never the start of a text line.
			 */
			if (rx->want_binary && c <= 0x01) {
				rx->state = ST_BIN;
				rx->bin[0] = c;
				rx->bin_len = 1;
				rx->bin_need = 0;
				continue;
			}
			rx->state = ST_LINE;
			rx->len = 0;
			rx->overflow = false;
			/* fall through */
		case ST_LINE:
			if (c == '\r' || c == '\n') {
				rx->state = ST_IDLE;
				classify(rx, ev);
				return i + 1;
			}
			if (rx->len < SBD_AT_LINE_MAX)
				rx->line[rx->len++] = (char)c;
			else
				rx->overflow = true;
			continue;
		case ST_BIN:
			rx->bin[rx->bin_len++] = c;
			if (rx->bin_len == 2) {
				size_t len = (size_t)rx->bin[0] << 8 | rx->bin[1];

				if (len > SBD_MT_MAX) {
					ev->kind = SBD_AT_BAD;
					ev->len = (size_t)snprintf(ev->line, sizeof(ev->line),
					    "SBDRB length %zu above %d", len, SBD_MT_MAX);
					rx->want_binary = false;
					rx->state = ST_IDLE;
					return i + 1;
				}
				rx->bin_need = len + 4;
			}
			if (rx->bin_need && rx->bin_len == rx->bin_need) {
				bin_done(rx, ev);
				return i + 1;
			}
			continue;
		}
	}
	return n;
}

/* ---- parsers -------------------------------------------------------- */

static void
skip_spaces(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

/* Decimal digits (at most 5), value <= max; spaces before are skipped. */
static int
parse_uint(const char **p, unsigned max, unsigned *out)
{
	unsigned v = 0;
	int nd = 0;

	skip_spaces(p);
	while (**p >= '0' && **p <= '9') {
		if (++nd > 5)
			return -EINVAL;
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
	}
	if (nd == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int
sbd_at_parse_sbdix(const char *line, struct sbd_sbdix *out)
{
	static const unsigned max[6] = { 255, 65535, 2, 65535, SBD_MT_MAX, 65535 };
	const char *p = line;
	unsigned v[6];

	if (strncmp(p, "+SBDIX:", 7) != 0)
		return -EINVAL;
	p += 7;
	for (int i = 0; i < 6; i++) {
		if (parse_uint(&p, max[i], &v[i]) < 0)
			return -EINVAL;
		skip_spaces(&p);
		if (i < 5 && *p++ != ',')
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	out->mo_status = v[0];
	out->momsn = (uint16_t)v[1];
	out->mt_status = v[2];
	out->mtmsn = (uint16_t)v[3];
	out->mt_length = v[4];
	out->mt_queued = v[5];
	return 0;
}

int
sbd_at_parse_csq(const char *line, unsigned *signal)
{
	const char *p = line;
	unsigned v;

	if (strncmp(p, "+CSQ:", 5) == 0)
		p += 5;
	else if (strncmp(p, "+CSQF:", 6) == 0)
		p += 6;
	else
		return -EINVAL;
	if (parse_uint(&p, SBD_SIGNAL_MAX, &v) < 0)
		return -EINVAL;
	skip_spaces(&p);
	if (*p != '\0')
		return -EINVAL;
	*signal = v;
	return 0;
}

int
sbd_at_parse_ciev(const char *line, unsigned *indicator, unsigned *value)
{
	const char *p = line;
	unsigned i, v;

	if (strncmp(p, "+CIEV:", 6) != 0)
		return -EINVAL;
	p += 6;
	if (parse_uint(&p, 2, &i) < 0)
		return -EINVAL;
	skip_spaces(&p);
	if (*p++ != ',' || parse_uint(&p, i == 0 ? SBD_SIGNAL_MAX : 1, &v) < 0)
		return -EINVAL;
	skip_spaces(&p);
	if (*p != '\0')
		return -EINVAL;
	*indicator = i;
	*value = v;
	return 0;
}

int
sbd_at_parse_imei(const char *line, char imei[16])
{
	if (strlen(line) != 15 || !all_digits(line, 15))
		return -EINVAL;
	memcpy(imei, line, 16);
	return 0;
}

const char *
sbd_mo_status_str(unsigned st)
{
	switch (st) {
	case 0: return "sent";
	case 1: return "sent, MT message too big for the modem";
	case 2: return "sent, location update not accepted";
	case 3: case 4: return "sent (reserved status)";
	case 10: return "gateway: call did not complete in the allowed time";
	case 11: return "gateway: MO queue full";
	case 12: return "gateway: MO message has too many segments";
	case 13: return "gateway: session did not complete";
	case 14: return "gateway: invalid segment size";
	case 15: return "gateway: access denied";
	case 16: return "modem locked, may not make SBD calls";
	case 17: return "gateway not responding (local session timeout)";
	case 18: return "connection lost (RF drop)";
	case 19: return "link failure (protocol error)";
	case 32: return "no network service";
	case 33: return "antenna fault";
	case 34: return "radio disabled";
	case 35: return "modem busy";
	case 36: return "try later: 3 minutes since last registration";
	case 37: return "SBD service temporarily disabled";
	case 38: return "try later: traffic management period";
	case 64: return "band violation";
	case 65: return "PLL lock failure (hardware error)";
	default: return "failed (reserved status)";
	}
}

const char *
sbd_mt_status_str(unsigned st)
{
	switch (st) {
	case 0: return "no MT message";
	case 1: return "MT message received";
	case 2: return "mailbox check failed";
	default: return "invalid MT status";
	}
}

const char *
sbd_write_result_str(unsigned result)
{
	switch (result) {
	case 0: return "loaded";
	case 1: return "modem timed out waiting for the message";
	case 2: return "checksum mismatch";
	case 3: return "message size not accepted";
	default: return "unknown result";
	}
}
