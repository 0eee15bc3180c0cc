/*
 * codec.c - Opus and Codec2 behind one interface (codec.h).  The libraries'
 * types stay in this file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <codec2/codec2.h>
#include <opus/opus.h>

#include "codec.h"

/* Opus: the most bytes of one packet (what opus_demo allows; CBR frames here are far smaller). */
#define OPUS_PACKET_MAX		1500
/* Codec2 PLC: each lost frame at this gain of the one before, silence after FADE_MS of loss. */
#define CODEC2_FADE_GAIN	0.6f
#define CODEC2_FADE_MS		100

struct codec {
	struct voice_mode mode;
	uint32_t samples;		/* per frame */
	/* Opus */
	OpusEncoder *enc;
	OpusDecoder *dec;
	/* Codec2: frame_ms is sub frames of its own, each sub_bytes long */
	struct CODEC2 *c2enc, *c2dec;
	uint32_t sub_samples, sub_bytes, n_sub;
	uint8_t *last;			/* the last frame decoded, for PLC */
	uint32_t lost_ms;		/* audio concealed since it */
	float gain;
};

static const struct { uint32_t bitrate; int mode; } codec2_modes[] = {
	{ 3200, CODEC2_MODE_3200 }, { 2400, CODEC2_MODE_2400 }, { 1600, CODEC2_MODE_1600 },
	{ 1400, CODEC2_MODE_1400 }, { 1300, CODEC2_MODE_1300 }, { 1200, CODEC2_MODE_1200 },
	{ 700, CODEC2_MODE_700C },
};

static int
opus_bandwidth(enum voice_bandwidth bw)
{
	switch (bw) {
	case VOICE_BW_NB: return OPUS_BANDWIDTH_NARROWBAND;
	case VOICE_BW_MB: return OPUS_BANDWIDTH_MEDIUMBAND;
	case VOICE_BW_WB: return OPUS_BANDWIDTH_WIDEBAND;
	case VOICE_BW_SWB: return OPUS_BANDWIDTH_SUPERWIDEBAND;
	case VOICE_BW_FB: return OPUS_BANDWIDTH_FULLBAND;
	}
	return -1;
}

static int
opus_open(struct codec *c)
{
	const struct voice_mode *m = &c->mode;
	int err, bw = opus_bandwidth(m->bandwidth);

	/* Opus's frame sizes (2.5 and 5 ms too, but not for voice here); others fail only at encode. */
	if (bw < 0 || (m->frame_ms % 20 != 0 && m->frame_ms != 10) || m->frame_ms > 120)
		return -EINVAL;
	c->enc = opus_encoder_create((opus_int32)m->sample_rate, 1, OPUS_APPLICATION_VOIP, &err);
	if (c->enc == NULL)
		return err == OPUS_ALLOC_FAIL ? -ENOMEM : -EINVAL;
	/* A constant rate: the link's budget is per second, and the scheduler reserves it.  No in-band
	 * FEC and no DTX: loss is ours (codec_pack_redundant), and a talk spurt is sent whole. */
	if (opus_encoder_ctl(c->enc, OPUS_SET_BITRATE((opus_int32)m->bitrate)) != OPUS_OK ||
	    opus_encoder_ctl(c->enc, OPUS_SET_VBR(0)) != OPUS_OK ||
	    opus_encoder_ctl(c->enc, OPUS_SET_BANDWIDTH(bw)) != OPUS_OK ||
	    opus_encoder_ctl(c->enc, OPUS_SET_MAX_BANDWIDTH(bw)) != OPUS_OK ||
	    opus_encoder_ctl(c->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK ||
	    opus_encoder_ctl(c->enc, OPUS_SET_INBAND_FEC(0)) != OPUS_OK ||
	    opus_encoder_ctl(c->enc, OPUS_SET_PACKET_LOSS_PERC(0)) != OPUS_OK ||
	    opus_encoder_ctl(c->enc, OPUS_SET_DTX(0)) != OPUS_OK)
		return -EINVAL;
	c->dec = opus_decoder_create((opus_int32)m->sample_rate, 1, &err);
	if (c->dec == NULL)
		return err == OPUS_ALLOC_FAIL ? -ENOMEM : -EINVAL;
	return 0;
}

static int
codec2_open(struct codec *c)
{
	const struct voice_mode *m = &c->mode;
	int mode = -1;

	for (size_t i = 0; i < sizeof(codec2_modes) / sizeof(codec2_modes[0]); i++)
		if (codec2_modes[i].bitrate == m->bitrate)
			mode = codec2_modes[i].mode;
	if (mode < 0 || m->sample_rate != 8000)
		return -EINVAL;
	if ((c->c2enc = codec2_create(mode)) == NULL || (c->c2dec = codec2_create(mode)) == NULL)
		return -ENOMEM;
	c->sub_samples = (uint32_t)codec2_samples_per_frame(c->c2enc);
	c->sub_bytes = (uint32_t)codec2_bytes_per_frame(c->c2enc);
	if (c->sub_samples == 0 || c->samples % c->sub_samples != 0)
		return -EINVAL;	/* the config allows only multiples of the native frame */
	c->n_sub = c->samples / c->sub_samples;
	if ((c->last = calloc(c->n_sub, c->sub_bytes)) == NULL)
		return -ENOMEM;
	return 0;
}

struct codec *
codec_new(const struct voice_mode *m)
{
	struct codec *c;
	int r = -EINVAL;

	if (m->frame_ms == 0 || m->sample_rate == 0 || m->sample_rate % 1000 != 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->mode = *m;
	c->samples = voice_mode_samples(m);
	if (m->codec == VOICE_CODEC_OPUS)
		r = opus_open(c);
	else if (m->codec == VOICE_CODEC_CODEC2)
		r = codec2_open(c);
	if (r < 0) {
		codec_free(c);
		errno = -r;
		return NULL;
	}
	return c;
}

void
codec_free(struct codec *c)
{
	if (c == NULL)
		return;
	if (c->enc)
		opus_encoder_destroy(c->enc);
	if (c->dec)
		opus_decoder_destroy(c->dec);
	if (c->c2enc)
		codec2_destroy(c->c2enc);
	if (c->c2dec)
		codec2_destroy(c->c2dec);
	free(c->last);
	free(c);
}

uint32_t
codec_samples(const struct codec *c)
{
	return c->samples;
}

size_t
codec_frame_max(const struct codec *c)
{
	return c->mode.codec == VOICE_CODEC_OPUS ? OPUS_PACKET_MAX : (size_t)c->n_sub * c->sub_bytes;
}

int
codec_encode(struct codec *c, const int16_t *pcm, uint8_t *out, size_t cap)
{
	if (c->enc) {
		opus_int32 n = opus_encode(c->enc, pcm, (int)c->samples, out,
		    (opus_int32)(cap < OPUS_PACKET_MAX ? cap : OPUS_PACKET_MAX));
		if (n == OPUS_BUFFER_TOO_SMALL)
			return -ENOSPC;
		return n < 0 ? -EINVAL : (int)n;
	}
	if (cap < (size_t)c->n_sub * c->sub_bytes)
		return -ENOSPC;
	/* codec2_encode takes short *, not const: copy each sub frame out of the caller's PCM. */
	for (uint32_t i = 0; i < c->n_sub; i++) {
		short sub[640];

		if (c->sub_samples > sizeof(sub) / sizeof(sub[0]))
			return -EINVAL;
		memcpy(sub, pcm + (size_t)i * c->sub_samples, c->sub_samples * sizeof(short));
		codec2_encode(c->c2enc, out + (size_t)i * c->sub_bytes, sub);
	}
	return (int)(c->n_sub * c->sub_bytes);
}

/* Codec2: decode frame (n_sub sub frames) into pcm at gain. */
static void
codec2_decode_frame(struct codec *c, const uint8_t *frame, int16_t *pcm, float gain)
{
	for (uint32_t i = 0; i < c->n_sub; i++)
		codec2_decode(c->c2dec, pcm + (size_t)i * c->sub_samples, frame + (size_t)i * c->sub_bytes);
	if (gain < 1)
		for (uint32_t i = 0; i < c->samples; i++)
			pcm[i] = (int16_t)(pcm[i] * gain);
}

int
codec_decode(struct codec *c, const uint8_t *frame, size_t len, int16_t *pcm)
{
	if (c->dec) {
		int n;

		if (len == 0 || len > OPUS_PACKET_MAX)
			return -EBADMSG;
		n = opus_decode(c->dec, frame, (opus_int32)len, pcm, (int)c->samples, 0);
		/* A packet of another frame size (a sender misconfigured) is bad here. */
		if (n < 0 || (uint32_t)n != c->samples)
			return -EBADMSG;
		return n;
	}
	if (len != (size_t)c->n_sub * c->sub_bytes)
		return -EBADMSG;
	codec2_decode_frame(c, frame, pcm, 1);
	memcpy(c->last, frame, len);
	c->lost_ms = 0;
	c->gain = 1;
	return (int)c->samples;
}

int
codec_conceal(struct codec *c, int16_t *pcm)
{
	if (c->dec) {
		int n = opus_decode(c->dec, NULL, 0, pcm, (int)c->samples, 0);

		return n < 0 ? -EINVAL : n;
	}
	/* The last frame's parameters again: the voice goes on for a frame or two, then fades out
	 * rather than buzzing on one pitch. */
	c->lost_ms += c->mode.frame_ms;
	c->gain *= CODEC2_FADE_GAIN;
	if (c->lost_ms > CODEC2_FADE_MS || c->gain == 0)
		memset(pcm, 0, c->samples * sizeof(*pcm));
	else
		codec2_decode_frame(c, c->last, pcm, c->gain);
	return (int)c->samples;
}

int
codec_pack_redundant(const uint8_t *frame, size_t len, const uint8_t *prev, size_t prev_len, uint8_t *out,
    size_t cap)
{
	size_t hdr = len < 0x80 ? 1 : 2;

	if (len > 0x7fff || (prev == NULL && prev_len != 0))
		return -EINVAL;
	if (hdr + len + prev_len > cap || hdr + len + prev_len > INT32_MAX)
		return -ENOSPC;
	if (hdr == 1) {
		out[0] = (uint8_t)len;
	} else {
		out[0] = (uint8_t)(0x80 | len >> 8);
		out[1] = (uint8_t)(len & 0xff);
	}
	memcpy(out + hdr, frame, len);
	if (prev_len)
		memcpy(out + hdr + len, prev, prev_len);
	return (int)(hdr + len + prev_len);
}

int
codec_unpack(const uint8_t *pkt, size_t len, struct codec_frames *out)
{
	size_t hdr, flen;

	if (len < 1)
		return -EBADMSG;
	if (pkt[0] & 0x80) {
		if (len < 2)
			return -EBADMSG;
		hdr = 2;
		flen = (size_t)(pkt[0] & 0x7f) << 8 | pkt[1];
		if (flen < 0x80)
			return -EBADMSG;	/* one form per length */
	} else {
		hdr = 1;
		flen = pkt[0];
	}
	if (flen > len - hdr)
		return -EBADMSG;
	out->frame = pkt + hdr;
	out->len = flen;
	out->prev_len = len - hdr - flen;
	out->prev = out->prev_len ? pkt + hdr + flen : NULL;
	return 0;
}
