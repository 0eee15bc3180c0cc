/*
 * fuzz_codec.c - libFuzzer target for received voice packets
 * (voice/codec.c): codec_unpack() on a redundant packet, then both its
 * frames through the decoder, as a receiver does with what the air brings.
 *
 * The first input byte picks the mode (low bit: Opus 8k NB 60 ms, or Codec2
 * 3200 in 40 ms); the rest is the packet.  What codec_unpack() accepts must
 * lie inside the packet and pack again to the same bytes; a decode gives a
 * whole frame or -EBADMSG, nothing else.  Any mismatch aborts, which
 * libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_codec: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static const struct voice_mode modes[2] = {
	{ .codec = VOICE_CODEC_OPUS, .bitrate = 8000, .bandwidth = VOICE_BW_NB, .sample_rate = 8000,
	  .frame_ms = 60, .redundant = true },
	{ .codec = VOICE_CODEC_CODEC2, .bitrate = 3200, .bandwidth = VOICE_BW_NB, .sample_rate = 8000,
	  .frame_ms = 40, .redundant = true },
};

static void
decode(struct codec *c, const uint8_t *frame, size_t len)
{
	static int16_t pcm[8000];
	int n = codec_decode(c, frame, len, pcm);

	CHECK(n == -EBADMSG || n == (int)codec_samples(c));
	if (n < 0)
		CHECK(codec_conceal(c, pcm) == (int)codec_samples(c));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct codec *codecs[2];
	static uint8_t again[1 << 16];
	struct codec_frames fr;
	struct codec *c;
	int n;

	if (size < 1 || size > sizeof(again))
		return 0;
	if (codecs[0] == NULL) {
		CHECK((codecs[0] = codec_new(&modes[0])) != NULL);
		CHECK((codecs[1] = codec_new(&modes[1])) != NULL);
	}
	c = codecs[data[0] & 1];
	if (codec_unpack(data + 1, size - 1, &fr) < 0)
		return 0;
	CHECK(fr.frame >= data + 1 && fr.frame + fr.len <= data + size);
	CHECK(fr.prev == NULL ? fr.prev_len == 0 : fr.prev == fr.frame + fr.len && fr.prev + fr.prev_len == data + size);
	n = codec_pack_redundant(fr.frame, fr.len, fr.prev, fr.prev_len, again, sizeof(again));
	CHECK(n == (int)(size - 1) && memcmp(again, data + 1, size - 1) == 0);
	if (fr.prev)
		decode(c, fr.prev, fr.prev_len);
	decode(c, fr.frame, fr.len);
	return 0;
}
