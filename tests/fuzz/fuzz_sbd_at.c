/*
 * fuzz_sbd_at.c - libFuzzer target for what a 9602/9603 modem sends.
 *
 * The input is the modem's byte stream.  It is split into events twice,
 * once in one piece and once a byte at a time, asking for an SBDRB block
 * after each echoed AT+SBDRB: both runs must give the same events, each
 * well formed.  Every text line goes through the +SBDIX / +CSQ / IMEI
 * parsers; what they accept must print back to a line they parse the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbd_at.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_sbd_at: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

#define MAX_EVENTS	4096

struct run {
	struct sbd_at_event ev[MAX_EVENTS];
	size_t n;
};

static struct run one, bytewise;

static void
check_parsers(const char *line)
{
	struct sbd_sbdix ix, ix2;
	char buf[128], imei[16];
	unsigned v, v2;

	if (sbd_at_parse_sbdix(line, &ix) == 0) {
		CHECK(ix.mt_status <= 2 && ix.mt_length <= SBD_MT_MAX && ix.mo_status <= 255);
		snprintf(buf, sizeof(buf), "+SBDIX: %u, %u, %u, %u, %u, %u", ix.mo_status, ix.momsn,
		    ix.mt_status, ix.mtmsn, ix.mt_length, ix.mt_queued);
		CHECK(sbd_at_parse_sbdix(buf, &ix2) == 0);
		CHECK(ix.mo_status == ix2.mo_status && ix.momsn == ix2.momsn &&
		    ix.mt_status == ix2.mt_status && ix.mtmsn == ix2.mtmsn &&
		    ix.mt_length == ix2.mt_length && ix.mt_queued == ix2.mt_queued);
	}
	if (sbd_at_parse_csq(line, &v) == 0) {
		CHECK(v <= SBD_SIGNAL_MAX);
		snprintf(buf, sizeof(buf), "+CSQ:%u", v);
		CHECK(sbd_at_parse_csq(buf, &v2) == 0 && v2 == v);
	}
	if (sbd_at_parse_imei(line, imei) == 0)
		CHECK(strlen(imei) == 15 && strcmp(imei, line) == 0);
	if (sbd_at_parse_ciev(line, &v, &v2) == 0) {
		unsigned i3, v3;

		CHECK(v <= 2 && v2 <= (v == 0 ? SBD_SIGNAL_MAX : 1));
		snprintf(buf, sizeof(buf), "+CIEV:%u,%u", v, v2);
		CHECK(sbd_at_parse_ciev(buf, &i3, &v3) == 0 && i3 == v && v3 == v2);
	}
}

static void
split(const uint8_t *data, size_t size, size_t chunk, struct run *r)
{
	struct sbd_at_rx rx;
	size_t off = 0;

	sbd_at_rx_init(&rx);
	r->n = 0;
	while (off < size && r->n < MAX_EVENTS) {
		size_t c = size - off < chunk ? size - off : chunk;
		size_t used = sbd_at_rx_feed(&rx, data + off, c, &r->ev[r->n]);
		struct sbd_at_event *e = &r->ev[r->n];

		CHECK(used > 0 && used <= c);
		off += used;
		if (e->kind == SBD_AT_NONE)
			continue;
		CHECK(e->kind <= SBD_AT_BAD);
		if (e->kind == SBD_AT_BINARY) {
			CHECK(e->data_len <= SBD_MT_MAX);
		} else {
			CHECK(e->len <= SBD_AT_LINE_MAX && strlen(e->line) == e->len);
		}
		if (e->kind == SBD_AT_RESULT)
			CHECK(e->len >= 1 && e->len <= 3 && e->result <= 999);
		if (e->kind == SBD_AT_TEXT)
			check_parsers(e->line);
		if (e->kind == SBD_AT_ECHO && strncmp(e->line, "AT+SBDRB", 8) == 0)
			sbd_at_rx_expect_binary(&rx);
		r->n++;
	}
}

static bool
same_event(const struct sbd_at_event *a, const struct sbd_at_event *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == SBD_AT_BINARY)
		return a->data_len == b->data_len && a->checksum_ok == b->checksum_ok &&
		    memcmp(a->data, b->data, a->data_len) == 0;
	return a->len == b->len && strcmp(a->line, b->line) == 0 && a->result == b->result;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line;

	if (size > 65536)
		return 0;
	split(data, size, size ? size : 1, &one);
	split(data, size, 1, &bytewise);
	CHECK(one.n == bytewise.n);
	for (size_t i = 0; i < one.n; i++)
		CHECK(same_event(&one.ev[i], &bytewise.ev[i]));

	/* The parsers on their own, on anything. */
	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	check_parsers(line);
	free(line);
	return 0;
}
