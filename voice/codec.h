/*
 * codec.h - one interface over Opus (libopus, the VOIP application) and
 * Codec2 (libcodec2): a frame of 16-bit mono PCM at the mode's rate in, its
 * bytes out; the bytes back to PCM; PLC for a frame that never came; and
 * our redundancy for scarce links, each packet carrying the previous frame
 * too, so that one lost packet costs nothing when the next one arrives.
 *
 * Opus's own in-band FEC is off: libopus 1.3.1's does nothing below ~15
 * kbit/s at 10% loss (issue 14), which is where we need it.
 */
#ifndef FIELDRELAY_VOICE_CODEC_H
#define FIELDRELAY_VOICE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "voice.h"

struct codec;

/* An encoder and a decoder for mode m; NULL with errno (EINVAL: not a codec's mode). */
struct codec *codec_new(const struct voice_mode *m);
void codec_free(struct codec *c);

/* PCM samples per frame (the mode's frame_ms at its sample rate). */
uint32_t codec_samples(const struct codec *c);
/* The most bytes one encoded frame may take (for out's size). */
size_t codec_frame_max(const struct codec *c);

/* Encode one frame of codec_samples() samples into out: its length, or -errno. */
int codec_encode(struct codec *c, const int16_t *pcm, uint8_t *out, size_t cap);
/* Decode one frame into pcm (codec_samples() of them): their count, or -errno (-EBADMSG: bad bytes). */
int codec_decode(struct codec *c, const uint8_t *frame, size_t len, int16_t *pcm);
/*
 * A frame for one that was lost, into pcm: Opus's PLC; for Codec2 the last
 * frame's parameters again, fading out (silent after 100 ms of loss).
 */
int codec_conceal(struct codec *c, int16_t *pcm);

/*
 * A redundant packet: this frame and the previous one.
 *
 *   byte 0 (and 1)  the length L of this frame: one byte 0 .. 127, or two
 *                   bytes 0x80 | L >> 8, L & 0xff for 128 .. 32767
 *   L bytes         this frame
 *   the rest        the previous frame (none: the first of a talk spurt)
 *
 * codec_pack_redundant: the packet's length into out, or -ENOSPC / -EINVAL.
 */
int codec_pack_redundant(const uint8_t *frame, size_t len, const uint8_t *prev, size_t prev_len, uint8_t *out,
    size_t cap);

/* The frames of a received packet: pointers into it. */
struct codec_frames {
	const uint8_t *frame;
	size_t len;
	const uint8_t *prev;		/* NULL when the packet has none */
	size_t prev_len;
};
/* Split a redundant packet (untrusted bytes): 0, or -EBADMSG. */
int codec_unpack(const uint8_t *pkt, size_t len, struct codec_frames *out);

#endif
