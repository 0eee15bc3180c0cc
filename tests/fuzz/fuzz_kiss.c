/*
 * fuzz_kiss.c - libFuzzer target for the KISS decoder and the AX.25 UI parser.
 *
 * The input is a byte stream from a TNC, fed to the decoder in chunks whose
 * sizes come from the first input byte (a serial line hands bytes over in
 * any split).  Every frame that comes out must fit the decoder's buffer;
 * data frames go to ax25_ui_decode(), and whatever it accepts must survive
 * ax25_ui_encode() -> ax25_ui_decode() with the same callsigns and info.
 * Independently, each frame's bytes must survive kiss_encode() ->
 * kiss_decode() unchanged.  Any mismatch aborts (a crash to libFuzzer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_kiss: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static struct kiss_decoder dec, back;
static uint8_t enc[KISS_ENCODED_MAX(KISS_FRAME_MAX)];
static uint8_t ax[KISS_FRAME_MAX + AX25_UI_HDR];

static void
check_frame(const uint8_t *f, size_t len)
{
	struct ax25_ui ui, again;
	ssize_t n;
	size_t used;

	CHECK(len >= 1 && len <= KISS_FRAME_MAX);
	/* KISS: what came out goes back in and out unchanged. */
	n = kiss_encode(enc, sizeof(enc), f[0] >> 4, f[0] & 0x0f, f + 1, len - 1);
	CHECK(n > 0);
	kiss_decoder_reset(&back);
	CHECK(kiss_decode(&back, enc, (size_t)n, &used) && used == (size_t)n);
	CHECK(back.len == len && memcmp(back.buf, f, len) == 0);
	/* AX.25: what we accept, we can say again. */
	if (ax25_ui_decode(f + 1, len - 1, &ui) < 0)
		return;
	CHECK(ui.info_len <= len - 1 - AX25_UI_HDR);
	CHECK(strlen(ui.dst.call) >= 1 && strlen(ui.src.call) <= 6 && ui.dst.ssid < 16 && ui.src.ssid < 16);
	n = ax25_ui_encode(ax, sizeof(ax), &ui.dst, &ui.src, ui.info, ui.info_len);
	CHECK(n == (ssize_t)(AX25_UI_HDR + ui.info_len));
	CHECK(ax25_ui_decode(ax, (size_t)n, &again) == 0);
	CHECK(ax25_call_equal(&again.dst, &ui.dst) && ax25_call_equal(&again.src, &ui.src));
	CHECK(again.n_digis == 0 && again.info_len == ui.info_len);
	CHECK(memcmp(again.info, ui.info, ui.info_len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk, off = 1, used;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	memset(&dec, 0, sizeof(dec));
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		for (size_t k = 0; k < n; k += used) {
			if (kiss_decode(&dec, data + off + k, n - k, &used))
				check_frame(dec.buf, dec.len);
			CHECK(used >= 1 && used <= n - k);
		}
		off += n;
	}
	return 0;
}
