/*
 * test_sbd_at.c - the 9602/9603 AT codec: command text, the SBD checksum,
 * splitting the modem's output into lines and SBDRB blocks (echo on and off,
 * unsolicited ring alerts, any chunking), and the +SBDIX / +CSQ / IMEI
 * parsers with every field at its limits and malformed responses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sbd_at.h"

static void
test_commands(void **state)
{
	static const struct { enum sbd_cmd cmd; unsigned arg; const char *text; } want[] = {
		{ SBD_CMD_PROBE, 0, "AT\r" },
		{ SBD_CMD_ECHO_OFF, 0, "ATE0\r" },
		{ SBD_CMD_VERBOSE, 0, "ATV1\r" },
		{ SBD_CMD_FLOW_NONE, 0, "AT&K0\r" },
		{ SBD_CMD_FLOW_RTSCTS, 0, "AT&K3\r" },
		{ SBD_CMD_RING_ON, 0, "AT+SBDMTA=1\r" },
		{ SBD_CMD_RING_OFF, 0, "AT+SBDMTA=0\r" },
		{ SBD_CMD_IMEI, 0, "AT+CGSN\r" },
		{ SBD_CMD_SIGNAL, 0, "AT+CSQ\r" },
		{ SBD_CMD_WRITE_BINARY, 1, "AT+SBDWB=1\r" },
		{ SBD_CMD_WRITE_BINARY, 340, "AT+SBDWB=340\r" },
		{ SBD_CMD_SESSION, 0, "AT+SBDIX\r" },
		{ SBD_CMD_SESSION_ANSWER, 0, "AT+SBDIXA\r" },
		{ SBD_CMD_READ_BINARY, 0, "AT+SBDRB\r" },
		{ SBD_CMD_CLEAR_MO, 0, "AT+SBDD0\r" },
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int n = sbd_at_command(want[i].cmd, want[i].arg, buf, sizeof(buf));

		assert_int_equal(n, strlen(want[i].text));
		assert_string_equal(buf, want[i].text);
	}
	assert_int_equal(sbd_at_command(SBD_CMD_WRITE_BINARY, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(sbd_at_command(SBD_CMD_WRITE_BINARY, 341, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(sbd_at_command(SBD_CMD_N, 0, buf, sizeof(buf)), -EINVAL);
	/* "AT+SBDIX\r" and its NUL need 10 bytes */
	assert_int_equal(sbd_at_command(SBD_CMD_SESSION, 0, buf, 9), -ENOSPC);
	assert_int_equal(sbd_at_command(SBD_CMD_SESSION, 0, buf, 10), 9);
}

static void
test_checksum(void **state)
{
	uint8_t msg[SBD_MO_MAX], out[SBD_MO_MAX + 2];

	/* 'h'+'e'+'l'+'l'+'o' = 104+101+108+108+111 = 532 = 0x0214 */
	assert_int_equal(sbd_checksum((const uint8_t *)"hello", 5), 0x0214);
	assert_int_equal(sbd_at_binary((const uint8_t *)"hello", 5, out, sizeof(out)), 7);
	assert_memory_equal(out, "hello\x02\x14", 7);
	/* 340 * 0xff = 86700 = 0x152ac: only the low 16 bits count */
	memset(msg, 0xff, sizeof(msg));
	assert_int_equal(sbd_checksum(msg, sizeof(msg)), 0x52ac);
	assert_int_equal(sbd_at_binary(msg, sizeof(msg), out, sizeof(out)), SBD_MO_MAX + 2);
	assert_int_equal(out[SBD_MO_MAX], 0x52);
	assert_int_equal(out[SBD_MO_MAX + 1], 0xac);
	assert_int_equal(sbd_at_binary(msg, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(sbd_at_binary(msg, SBD_MO_MAX + 1, out, sizeof(out) + 8), -EINVAL);
	assert_int_equal(sbd_at_binary(msg, 10, out, 11), -ENOSPC);
	assert_int_equal(sbd_checksum(msg, 0), 0);
}

/* Feed everything in chunks of `chunk` bytes; collect the events. */
struct got {
	struct sbd_at_event ev[32];
	int n;
};

static void
feed(struct sbd_at_rx *rx, const void *data, size_t len, size_t chunk, struct got *g)
{
	const uint8_t *p = data;

	while (len > 0) {
		size_t c = len < chunk ? len : chunk;
		const uint8_t *q = p;
		size_t left = c;

		while (left > 0) {
			size_t used = sbd_at_rx_feed(rx, q, left, &g->ev[g->n]);

			assert_true(used > 0 && used <= left);
			q += used;
			left -= used;
			if (g->ev[g->n].kind != SBD_AT_NONE) {
				assert_true(g->n < 31);
				g->n++;
			}
		}
		p += c;
		len -= c;
	}
}

static void
test_lines(void **state)
{
	/* Echo on, every kind of line, CR LF / CR / LF endings, blank lines. */
	static const char in[] =
	    "AT+CSQ\r\r\n+CSQ:4\r\n\r\nOK\r\n"
	    "AT+SBDWB=5\r\r\nREADY\r\n"
	    "\r\n0\r\n\r\nOK\r\n"
	    "\r\nSBDRING\r\n"
	    "AT+SBDIX\r\r\n+SBDIX: 0, 23, 1, 4, 12, 0\r\n\r\nOK\r\n"
	    "ERROR\n300234010753370\r"
	    "3\n123\r\n1234\r\n";
	static const struct { enum sbd_at_kind kind; const char *line; } want[] = {
		{ SBD_AT_ECHO, "AT+CSQ" }, { SBD_AT_TEXT, "+CSQ:4" }, { SBD_AT_OK, "OK" },
		{ SBD_AT_ECHO, "AT+SBDWB=5" }, { SBD_AT_READY, "READY" },
		{ SBD_AT_RESULT, "0" }, { SBD_AT_OK, "OK" },
		{ SBD_AT_RING, "SBDRING" },
		{ SBD_AT_ECHO, "AT+SBDIX" }, { SBD_AT_TEXT, "+SBDIX: 0, 23, 1, 4, 12, 0" },
		{ SBD_AT_OK, "OK" },
		{ SBD_AT_ERROR, "ERROR" }, { SBD_AT_TEXT, "300234010753370" },
		{ SBD_AT_RESULT, "3" }, { SBD_AT_RESULT, "123" }, { SBD_AT_TEXT, "1234" },
	};
	size_t nw = sizeof(want) / sizeof(want[0]);

	/* Whatever the chunking, the same events. */
	for (size_t chunk = 1; chunk <= sizeof(in); chunk++) {
		struct sbd_at_rx rx;
		struct got g = { .n = 0 };

		sbd_at_rx_init(&rx);
		feed(&rx, in, sizeof(in) - 1, chunk, &g);
		assert_int_equal(g.n, nw);
		for (size_t i = 0; i < nw; i++) {
			assert_int_equal(g.ev[i].kind, want[i].kind);
			assert_string_equal(g.ev[i].line, want[i].line);
		}
		assert_int_equal(g.ev[5].result, 0);
		assert_int_equal(g.ev[13].result, 3);
		assert_int_equal(g.ev[14].result, 123);
	}
}

static void
test_bad_lines(void **state)
{
	struct sbd_at_rx rx;
	struct got g = { .n = 0 };
	char big[SBD_AT_LINE_MAX + 40];

	sbd_at_rx_init(&rx);
	memset(big, 'x', sizeof(big));
	feed(&rx, big, sizeof(big), 7, &g);
	feed(&rx, "\r\nOK\r\n", 6, 1, &g);
	/* control characters and bytes above 0x7e are line noise */
	feed(&rx, "O\001K\r\nOK\x80\r\n+CSQ:5 \t\r\n", 20, 3, &g);
	assert_int_equal(g.n, 5);
	assert_int_equal(g.ev[0].kind, SBD_AT_BAD);
	assert_int_equal(g.ev[1].kind, SBD_AT_OK);
	assert_int_equal(g.ev[2].kind, SBD_AT_BAD);
	assert_int_equal(g.ev[3].kind, SBD_AT_BAD);
	/* trailing blanks are not part of the line */
	assert_int_equal(g.ev[4].kind, SBD_AT_TEXT);
	assert_string_equal(g.ev[4].line, "+CSQ:5");
	/* a line of exactly SBD_AT_LINE_MAX is fine */
	memset(big, 'y', SBD_AT_LINE_MAX);
	big[SBD_AT_LINE_MAX] = '\n';
	g.n = 0;
	feed(&rx, big, SBD_AT_LINE_MAX + 1, 64, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ev[0].kind, SBD_AT_TEXT);
	assert_int_equal(g.ev[0].len, SBD_AT_LINE_MAX);
}

/* An SBDRB block of msg, framed like the modem does. */
static size_t
sbdrb_block(uint8_t *out, const uint8_t *msg, size_t n, bool corrupt)
{
	uint16_t ck = sbd_checksum(msg, n);

	out[0] = n >> 8;
	out[1] = n & 0xff;
	memcpy(out + 2, msg, n);
	out[2 + n] = ck >> 8;
	out[3 + n] = (ck & 0xff) ^ (corrupt ? 1 : 0);
	return n + 4;
}

static void
test_binary(void **state)
{
	/* A message that looks like lines inside: the block is taken by its length. */
	static const uint8_t msg[] = "\r\nOK\r\nERROR\r\n\x00\x01SBDRING\r\n";
	uint8_t in[600];
	size_t n = 0, mlen = sizeof(msg) - 1;

	for (int echo = 0; echo <= 1; echo++) {
		for (size_t chunk = 1; chunk < 80; chunk += 13) {
			struct sbd_at_rx rx;
			struct got g = { .n = 0 };
			int k = 0;

			n = 0;
			if (echo)
				n += (size_t)sprintf((char *)in, "AT+SBDRB\r");
			n += sbdrb_block(in + n, msg, mlen, false);
			memcpy(in + n, "\r\nOK\r\n", 6);
			n += 6;
			sbd_at_rx_init(&rx);
			sbd_at_rx_expect_binary(&rx);
			feed(&rx, in, n, chunk, &g);
			assert_int_equal(g.n, 2 + echo);
			if (echo)
				assert_int_equal(g.ev[k++].kind, SBD_AT_ECHO);
			assert_int_equal(g.ev[k].kind, SBD_AT_BINARY);
			assert_true(g.ev[k].checksum_ok);
			assert_int_equal(g.ev[k].data_len, mlen);
			assert_memory_equal(g.ev[k].data, msg, mlen);
			assert_int_equal(g.ev[k + 1].kind, SBD_AT_OK);
		}
	}
}

static void
test_binary_edges(void **state)
{
	struct sbd_at_rx rx;
	struct got g = { .n = 0 };
	uint8_t msg[SBD_MT_MAX], in[1024];
	size_t n;

	/* A ring alert before the block, a corrupted checksum, the longest message. */
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	n = (size_t)sprintf((char *)in, "\r\nSBDRING\r\n");
	n += sbdrb_block(in + n, msg, sizeof(msg), true);
	sbd_at_rx_init(&rx);
	sbd_at_rx_expect_binary(&rx);
	feed(&rx, in, n, 5, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ev[0].kind, SBD_AT_RING);
	assert_int_equal(g.ev[1].kind, SBD_AT_BINARY);
	assert_false(g.ev[1].checksum_ok);
	assert_int_equal(g.ev[1].data_len, SBD_MT_MAX);

	/* An empty MT buffer: length 0, checksum 0. */
	g.n = 0;
	sbd_at_rx_expect_binary(&rx);
	feed(&rx, "\x00\x00\x00\x00\r\nOK\r\n", 10, 1, &g);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ev[0].kind, SBD_AT_BINARY);
	assert_true(g.ev[0].checksum_ok);
	assert_int_equal(g.ev[0].data_len, 0);

	/* A length above 270 cannot be: reported, and lines work again after it. */
	g.n = 0;
	sbd_at_rx_expect_binary(&rx);
	feed(&rx, "\x01\x0f" "abc\r\nOK\r\n", 11, 4, &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.ev[0].kind, SBD_AT_BAD);
	assert_int_equal(g.ev[1].kind, SBD_AT_TEXT);
	assert_string_equal(g.ev[1].line, "abc");
	assert_int_equal(g.ev[2].kind, SBD_AT_OK);

	/* ERROR instead of a block ends the wait: a later 0x00 starts a line. */
	g.n = 0;
	sbd_at_rx_expect_binary(&rx);
	feed(&rx, "AT+SBDRB\rERROR\r\n", 16, 3, &g);
	feed(&rx, "\x00\x01OK\r\n", 6, 6, &g);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.ev[0].kind, SBD_AT_ECHO);
	assert_int_equal(g.ev[1].kind, SBD_AT_ERROR);
	assert_int_equal(g.ev[2].kind, SBD_AT_BAD);	/* control bytes in a line */

	/* Without expect_binary, no block is ever assumed. */
	g.n = 0;
	sbd_at_rx_init(&rx);
	feed(&rx, "\x00\x02hi\x00\x00\r\n", 8, 8, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ev[0].kind, SBD_AT_BAD);
}

static void
test_sbdix(void **state)
{
	struct sbd_sbdix ix;

	assert_int_equal(sbd_at_parse_sbdix("+SBDIX: 0, 12, 1, 7, 5, 2", &ix), 0);
	assert_int_equal(ix.mo_status, 0);
	assert_int_equal(ix.momsn, 12);
	assert_int_equal(ix.mt_status, 1);
	assert_int_equal(ix.mtmsn, 7);
	assert_int_equal(ix.mt_length, 5);
	assert_int_equal(ix.mt_queued, 2);
	assert_true(sbd_mo_ok(ix.mo_status));

	/* every field at its limit, no spaces */
	assert_int_equal(sbd_at_parse_sbdix("+SBDIX:255,65535,2,65535,270,65535", &ix), 0);
	assert_int_equal(ix.mo_status, 255);
	assert_int_equal(ix.momsn, 65535);
	assert_int_equal(ix.mt_status, 2);
	assert_int_equal(ix.mtmsn, 65535);
	assert_int_equal(ix.mt_length, SBD_MT_MAX);
	assert_int_equal(ix.mt_queued, 65535);
	assert_false(sbd_mo_ok(ix.mo_status));

	/* a failure with its MOMSN, spaces around commas */
	assert_int_equal(sbd_at_parse_sbdix("+SBDIX: 32 ,9 , 0,0 ,0, 0", &ix), 0);
	assert_int_equal(ix.mo_status, 32);
	assert_int_equal(ix.momsn, 9);

	static const char *const bad[] = {
		"", "+SBDIX:", "+SBDIX: 0, 1, 0, 0, 0", "+SBDIX: 0, 1, 0, 0, 0, 0, 0",
		"+SBDIX: 0, 1, 3, 0, 0, 0",		/* MT status 3 */
		"+SBDIX: 0, 1, 1, 0, 271, 0",		/* MT longer than a 9602 takes */
		"+SBDIX: 0, 65536, 0, 0, 0, 0",		/* MOMSN is 16 bits */
		"+SBDIX: 0, 1, 0, 65536, 0, 0",
		"+SBDIX: 0, 1, 0, 0, 0, 65536",
		"+SBDIX: 256, 1, 0, 0, 0, 0",
		"+SBDIX: 0, 000001, 0, 0, 0, 0",	/* six digits */
		"+SBDIX: -1, 1, 0, 0, 0, 0", "+SBDIX: +1, 1, 0, 0, 0, 0",
		"+SBDIX: 0, 1, 0, 0, 0, 0x", "+SBDIX: 0, 1, 0, 0, 0, 0,",
		"+SBDIX: 0,, 1, 0, 0, 0", "+SBDIX: 0 1, 0, 0, 0, 0", "+SBDIX: a, 1, 0, 0, 0, 0",
		"+SBDI: 0, 1, 0, 0, 0, 0", "+sbdix: 0, 1, 0, 0, 0, 0", " +SBDIX: 0, 1, 0, 0, 0, 0",
		"+SBDIX: 0; 1; 0; 0; 0; 0",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ix, 0x5a, sizeof(ix));
		assert_int_equal(sbd_at_parse_sbdix(bad[i], &ix), -EINVAL);
	}
}

static void
test_csq_imei(void **state)
{
	char line[16], imei[16];
	unsigned v;

	for (unsigned i = 0; i <= 5; i++) {
		snprintf(line, sizeof(line), "+CSQ:%u", i);
		assert_int_equal(sbd_at_parse_csq(line, &v), 0);
		assert_int_equal(v, i);
	}
	assert_int_equal(sbd_at_parse_csq("+CSQF:3", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(sbd_at_parse_csq("+CSQ: 4", &v), 0);
	assert_int_equal(v, 4);
	static const char *const bad[] = { "+CSQ:6", "+CSQ:", "+CSQ:-1", "+CSQ:5x", "+CSQ:10",
		"CSQ:5", "+CSQ 5", "+CSQ:5,1", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sbd_at_parse_csq(bad[i], &v), -EINVAL);

	unsigned ind;

	assert_int_equal(sbd_at_parse_ciev("+CIEV:0,4", &ind, &v), 0);
	assert_int_equal(ind, 0);
	assert_int_equal(v, 4);
	assert_int_equal(sbd_at_parse_ciev("+CIEV: 1, 0", &ind, &v), 0);
	assert_int_equal(ind, 1);
	assert_int_equal(v, 0);
	static const char *const bad_ciev[] = { "+CIEV:0,6", "+CIEV:1,2", "+CIEV:3,0", "+CIEV:0", "+CIEV:0,",
		"+CIEV:0,1,2", "+CIEV0,1", "CIEV:0,1", "" };
	for (size_t i = 0; i < sizeof(bad_ciev) / sizeof(bad_ciev[0]); i++)
		assert_int_equal(sbd_at_parse_ciev(bad_ciev[i], &ind, &v), -EINVAL);

	assert_int_equal(sbd_at_parse_imei("300234010753370", imei), 0);
	assert_string_equal(imei, "300234010753370");
	assert_int_equal(sbd_at_parse_imei("30023401075337", imei), -EINVAL);
	assert_int_equal(sbd_at_parse_imei("3002340107533701", imei), -EINVAL);
	assert_int_equal(sbd_at_parse_imei("30023401075337a", imei), -EINVAL);
}

static void
test_status_words(void **state)
{
	for (unsigned st = 0; st < 256; st++) {
		assert_non_null(sbd_mo_status_str(st));
		assert_int_equal(sbd_mo_ok(st), st <= 4);
	}
	assert_string_equal(sbd_mo_status_str(32), "no network service");
	assert_string_equal(sbd_mo_status_str(35), "modem busy");
	assert_string_equal(sbd_mo_status_str(18), "connection lost (RF drop)");
	assert_string_equal(sbd_mt_status_str(2), "mailbox check failed");
	assert_string_equal(sbd_write_result_str(2), "checksum mismatch");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_binary_edges),
		cmocka_unit_test(test_sbdix),
		cmocka_unit_test(test_csq_imei),
		cmocka_unit_test(test_status_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
