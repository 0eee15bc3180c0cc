/*
 * kiss.h - narrowband radio through a KISS TNC (DESIGN.md section 5): the
 * KISS framing of the host-TNC serial protocol and the AX.25 UI header, as
 * pure codecs (fuzzed), and the link driver link_kiss_ops (radio/link.h).
 *
 * KISS (K3MC/KA9Q, 1987): a frame is FEND, a type byte (port in the high
 * nibble, command in the low one: 0 data, 1 TXDELAY, 2 P, 3 SLOTTIME), the
 * data with FEND written as FESC TFEND and FESC as FESC TFESC, and FEND.
 *
 * AX.25 UI frame (AX.25 2.2, sections 3 and 6.2), what goes inside a KISS
 * data frame (the TNC adds flags and FCS):
 *   7 bytes destination address, 7 bytes source address, [7 bytes per
 *   digipeater, at most 8], control 0x03 (UI), PID 0xF0 (no layer 3), info.
 *   An address is six callsign characters (A-Z, 0-9, space padded), each
 *   shifted left one bit, then the SSID byte: C/H bit (0x80), two reserved
 *   bits set (0x60), the SSID (0-15) shifted left one bit, and the
 *   address-extension bit (0x01) set on the last address only.  We send
 *   command frames: C set in the destination, clear in the source.
 */
#ifndef FIELDRELAY_KISS_H
#define FIELDRELAY_KISS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

#define KISS_FEND		0xc0
#define KISS_FESC		0xdb
#define KISS_TFEND		0xdc
#define KISS_TFESC		0xdd

enum kiss_cmd {
	KISS_DATA = 0,
	KISS_TXDELAY = 1,	/* keying delay, 10 ms units */
	KISS_PERSIST = 2,	/* p-persistence: p = (P + 1) / 256 */
	KISS_SLOTTIME = 3,	/* 10 ms units */
	KISS_TXTAIL = 4,	/* keyed after the frame, 10 ms units */
};

#define KISS_FRAME_MAX		4096	/* type byte + data, decoded: longer ones are dropped */
/* Bytes kiss_encode() may need for len bytes of data: every byte escaped. */
#define KISS_ENCODED_MAX(len)	(2 * (size_t)(len) + 4)

/* FEND, port/command, data escaped, FEND.  Bytes written, or -EMSGSIZE. */
ssize_t kiss_encode(uint8_t *out, size_t cap, unsigned port, unsigned cmd, const void *data, size_t len);

/* A KISS byte stream back into frames. */
struct kiss_decoder {
	uint8_t buf[KISS_FRAME_MAX];	/* the frame: type byte first */
	size_t len;
	bool synced;			/* a FEND was seen: bytes before the first are noise */
	bool esc;			/* the last byte was FESC */
	bool bad;			/* too long or a bad escape: dropped at the next FEND */
	bool complete;			/* buf holds a frame handed out: start afresh */
	uint64_t frames;		/* complete frames handed out */
	uint64_t dropped;		/* too long, or FESC followed by something else */
};

void kiss_decoder_reset(struct kiss_decoder *d);
/*
 * Feed up to n bytes; stops after the byte that completes a frame.  Returns
 * true with the frame in d->buf / d->len (valid until the next call), false
 * when all n bytes were taken without completing one.  *used says how many
 * bytes were taken either way.  Empty frames (FEND FEND) are skipped.
 */
bool kiss_decode(struct kiss_decoder *d, const uint8_t *in, size_t n, size_t *used);

/* ---- AX.25 ---- */

#define AX25_ADDR_LEN		7
#define AX25_UI_HDR		(2 * AX25_ADDR_LEN + 2)	/* no digipeaters */
#define AX25_MAX_DIGIS		8
#define AX25_CTL_UI		0x03
#define AX25_PID_NONE		0xf0

/* A UI frame from src to dst carrying info.  Bytes written, or -EMSGSIZE. */
ssize_t ax25_ui_encode(uint8_t *out, size_t cap, const struct ax25_call *dst, const struct ax25_call *src,
    const void *info, size_t len);

struct ax25_ui {
	struct ax25_call dst, src;
	unsigned n_digis;		/* digipeaters in the path (not kept) */
	const uint8_t *info;		/* points into the frame */
	size_t info_len;
};

/* Strictly parse a UI frame with PID 0xF0: 0, or -EBADMSG for anything else. */
int ax25_ui_decode(const uint8_t *frame, size_t len, struct ax25_ui *ui);

/* Serial speeds the driver can set: the termios speed constant, or 0. */
unsigned kiss_speed(uint32_t baud);

#endif
