/*
 * sbd_at.h - the AT command set of Iridium 9602/9603 short-burst-data
 * modems (Iridium "ISU AT Command Reference"), as a pure codec: command
 * text out, the modem's byte stream in, split into lines and binary blocks
 * and parsed into structs.  No I/O and no clock: radio/drivers/sbd.c drives a modem
 * with it, tests feed it scripted bytes.
 *
 * What the modem sends (verbose mode, ATV1):
 *   - the echo of each command as typed, "AT+CSQ\r", unless ATE0;
 *   - responses and result codes as "\r\nTEXT\r\n": "OK", "ERROR", "READY"
 *     (AT+SBDWB waits for the binary message), a bare number (the result of
 *     AT+SBDWB / AT+SBDD), "+CSQ:N", "+SBDIX: a, b, c, d, e, f", the IMEI;
 *   - unsolicited "SBDRING" (a ring alert, with AT+SBDMTA=1) at any time;
 *   - unsolicited "+CIEV:0,N" (signal, N bars 0-5, as +CSQ says) and
 *     "+CIEV:1,N" (network service 0/1) after AT+CIER=1,1,1, each when the
 *     indicator changes (held back during a session, then the latest);
 *   - for AT+SBDRB, no line at all: a 2-byte big-endian length, the
 *     message, and a 2-byte checksum, then "\r\nOK\r\n".
 * Lines may end in CR, LF or both; empty lines are skipped.
 */
#ifndef FIELDRELAY_SBD_AT_H
#define FIELDRELAY_SBD_AT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SBD_MO_MAX		340	/* mobile-originated message, bytes (AT+SBDWB limit) */
#define SBD_MT_MAX		270	/* mobile-terminated message, bytes (9602/9603) */
#define SBD_AT_LINE_MAX		120	/* longest line we keep; longer ones are dropped */
#define SBD_SIGNAL_MAX		5	/* +CSQ: 0 (none) .. 5 bars */

/* The commands this driver sends.  arg is the length for SBD_CMD_WRITE_BINARY. */
enum sbd_cmd {
	SBD_CMD_PROBE,		/* AT */
	SBD_CMD_ECHO_OFF,	/* ATE0 */
	SBD_CMD_VERBOSE,	/* ATV1: word result codes */
	SBD_CMD_FLOW_NONE,	/* AT&K0: 3-wire serial, no RTS/CTS */
	SBD_CMD_FLOW_RTSCTS,	/* AT&K3 */
	SBD_CMD_RING_ON,	/* AT+SBDMTA=1: SBDRING on ring alerts */
	SBD_CMD_RING_OFF,	/* AT+SBDMTA=0 */
	SBD_CMD_IMEI,		/* AT+CGSN */
	SBD_CMD_SIGNAL,		/* AT+CSQ */
	SBD_CMD_WRITE_BINARY,	/* AT+SBDWB=<arg> */
	SBD_CMD_SESSION,	/* AT+SBDIX */
	SBD_CMD_SESSION_ANSWER,	/* AT+SBDIXA: a session in answer to a ring alert */
	SBD_CMD_READ_BINARY,	/* AT+SBDRB */
	SBD_CMD_CLEAR_MO,	/* AT+SBDD0 */
	SBD_CMD_INDICATORS,	/* AT+CIER=1,1,1: +CIEV on signal and service changes */
	SBD_CMD_N
};

/* "AT...\r" into buf; returns its length, or -ENOSPC / -EINVAL. */
int sbd_at_command(enum sbd_cmd cmd, unsigned arg, char *buf, size_t cap);
const char *sbd_at_command_name(enum sbd_cmd cmd);

/* The SBD checksum: the sum of the bytes, low 16 bits. */
uint16_t sbd_checksum(const uint8_t *p, size_t n);

/*
 * What follows "READY" after AT+SBDWB: the message and its checksum, big
 * endian.  Returns n + 2, or -EINVAL (n is 0 or above SBD_MO_MAX) / -ENOSPC.
 */
int sbd_at_binary(const uint8_t *msg, size_t n, uint8_t *out, size_t cap);

/* ---- what the modem says ------------------------------------------- */

enum sbd_at_kind {
	SBD_AT_NONE = 0,	/* nothing complete yet */
	SBD_AT_OK,
	SBD_AT_ERROR,
	SBD_AT_READY,		/* AT+SBDWB: send the message now */
	SBD_AT_RING,		/* SBDRING: a mobile-terminated message waits */
	SBD_AT_ECHO,		/* our own command, echoed */
	SBD_AT_RESULT,		/* a bare number of at most 3 digits (AT+SBDWB, AT+SBDD) */
	SBD_AT_TEXT,		/* any other line: +CSQ:, +SBDIX:, the IMEI, ... */
	SBD_AT_BINARY,		/* an AT+SBDRB block (see checksum_ok) */
	SBD_AT_BAD,		/* unusable: a line too long or not printable ASCII (line has
				 * it with "?" for such bytes), an impossible SBDRB length */
};

struct sbd_at_event {
	enum sbd_at_kind kind;
	unsigned result;			/* SBD_AT_RESULT */
	char line[SBD_AT_LINE_MAX + 1];		/* the line, NUL-terminated (not BINARY) */
	size_t len;
	uint8_t data[SBD_MT_MAX];		/* SBD_AT_BINARY */
	size_t data_len;
	bool checksum_ok;
};

/* The receive side: bytes in, events out.  Plain struct, no allocation. */
struct sbd_at_rx {
	int state;
	bool want_binary;
	char line[SBD_AT_LINE_MAX + 1];
	size_t len;
	bool overflow;
	uint8_t bin[2 + SBD_MT_MAX + 2];
	size_t bin_len, bin_need;
};

void sbd_at_rx_init(struct sbd_at_rx *rx);

/*
 * The next response is an AT+SBDRB block (call when sending AT+SBDRB).
 * An echo line or SBDRING before it is still reported as such; any other
 * line (ERROR) ends the wait.
 */
void sbd_at_rx_expect_binary(struct sbd_at_rx *rx);

/*
 * Consume bytes until one event is complete.  Returns how many bytes were
 * used; ev->kind is SBD_AT_NONE if all n were used without completing one.
 * Call again with the rest: handling an event may change what comes next.
 */
size_t sbd_at_rx_feed(struct sbd_at_rx *rx, const uint8_t *buf, size_t n, struct sbd_at_event *ev);

/* ---- parsed responses --------------------------------------------- */

/* +SBDIX: <MO status>, <MOMSN>, <MT status>, <MTMSN>, <MT length>, <MT queued> */
struct sbd_sbdix {
	unsigned mo_status;	/* 0-4 sent; 5 and up failed (see sbd_mo_status_str) */
	uint16_t momsn;
	unsigned mt_status;	/* 0 none, 1 one received (read it with AT+SBDRB), 2 mailbox check failed */
	uint16_t mtmsn;
	unsigned mt_length;	/* bytes of the received one, <= SBD_MT_MAX */
	unsigned mt_queued;	/* more waiting at the gateway */
};

/* 0, or -EINVAL if line is not a well-formed +SBDIX response in range. */
int sbd_at_parse_sbdix(const char *line, struct sbd_sbdix *out);

/* "+CSQ:N" or "+CSQF:N", N 0-5: 0 or -EINVAL. */
int sbd_at_parse_csq(const char *line, unsigned *signal);

/*
 * "+CIEV:I,V" (I 0 signal with V 0-5, I 1 service with V 0-1; I 2 antenna
 * with V 0-1 on some firmware): 0 or -EINVAL.
 */
int sbd_at_parse_ciev(const char *line, unsigned *indicator, unsigned *value);

/* A 15-digit IMEI line: 0 (copied into imei[16]) or -EINVAL. */
int sbd_at_parse_imei(const char *line, char imei[16]);

/* MO status 0-4: the message reached the gateway. */
static inline bool
sbd_mo_ok(unsigned mo_status)
{
	return mo_status <= 4;
}

const char *sbd_mo_status_str(unsigned mo_status);
const char *sbd_mt_status_str(unsigned mt_status);
/* The result code of AT+SBDWB: 0 loaded, 1 timeout, 2 bad checksum, 3 bad size. */
const char *sbd_write_result_str(unsigned result);

#endif
