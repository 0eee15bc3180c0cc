/*
 * test_codec.c - Opus and Codec2 behind voice/codec.h, on real speech
 * (tests/data/voice, codec2's examples): each of the agent's modes encodes
 * and decodes at its bit rate, the decoded speech stays within a stated
 * log-spectral distance of the input, our redundancy gives back a lost
 * packet's frame exactly, and the packing refuses bad packets.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "codec.h"
#include "testdata.h"
#include "voice.h"

/* The speech: 16-bit mono PCM. */
struct pcm {
	int16_t *s;
	size_t n;
	uint32_t rate;
};

static uint32_t
le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A WAV file of 16-bit mono PCM from tests/data/voice. */
static struct pcm
wav_read(const char *name)
{
	struct pcm p = { 0 };
	size_t len, off = 12;
	uint8_t *b = test_data_read("voice", name, 1 << 22, &len);
	int fmt_ok = 0;

	assert_true(len > 44 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WAVE", 4) == 0);
	while (off + 8 <= len) {
		uint32_t size = le32(b + off + 4);

		if (size > len - off - 8)
			size = (uint32_t)(len - off - 8);
		if (memcmp(b + off, "fmt ", 4) == 0 && size >= 16) {
			/* PCM, one channel, 16 bits */
			fmt_ok = b[off + 8] == 1 && b[off + 9] == 0 && b[off + 10] == 1 && b[off + 22] == 16;
			p.rate = le32(b + off + 12);
		} else if (memcmp(b + off, "data", 4) == 0) {
			p.n = size / 2;
			p.s = malloc(p.n * sizeof(int16_t));
			for (size_t i = 0; i < p.n; i++)
				p.s[i] = (int16_t)(b[off + 8 + 2 * i] | b[off + 9 + 2 * i] << 8);
		}
		off += 8 + size + (size & 1);
	}
	free(b);
	assert_true(fmt_ok && p.s != NULL && p.rate == 8000);
	return p;
}

/* 8 kHz to 16 kHz: the samples between from a Hann-windowed sinc (the band stays below 4 kHz). */
static struct pcm
upsample2(const struct pcm *in)
{
	enum { TAPS = 16 };
	struct pcm out = { malloc(in->n * 2 * sizeof(int16_t)), in->n * 2, in->rate * 2 };
	double h[2 * TAPS];

	for (int k = 0; k < 2 * TAPS; k++) {
		double t = k - TAPS + 0.5;	/* from the half-way point to sample k */

		h[k] = sin(M_PI * t) / (M_PI * t) * (0.5 + 0.5 * cos(M_PI * t / (TAPS + 0.5)));
	}
	for (size_t i = 0; i < in->n; i++) {
		double acc = 0;

		for (int k = 0; k < 2 * TAPS; k++) {
			long j = (long)i + k - TAPS + 1;

			if (j >= 0 && (size_t)j < in->n)
				acc += h[k] * in->s[j];
		}
		out.s[2 * i] = in->s[i];
		out.s[2 * i + 1] = (int16_t)fmax(-32768, fmin(32767, lrint(acc)));
	}
	return out;
}

/* In-place radix-2 FFT of n (a power of two) complex values. */
static void
fft(double *re, double *im, size_t n)
{
	for (size_t i = 1, j = 0; i < n; i++) {
		size_t bit = n >> 1;

		for (; j & bit; bit >>= 1)
			j ^= bit;
		j |= bit;
		if (i < j) {
			double t = re[i]; re[i] = re[j]; re[j] = t;
			t = im[i]; im[i] = im[j]; im[j] = t;
		}
	}
	for (size_t len = 2; len <= n; len <<= 1) {
		double a = -2 * M_PI / (double)len;

		for (size_t i = 0; i < n; i += len)
			for (size_t k = 0; k < len / 2; k++) {
				double wr = cos(a * (double)k), wi = sin(a * (double)k);
				double xr = re[i + k + len / 2] * wr - im[i + k + len / 2] * wi;
				double xi = re[i + k + len / 2] * wi + im[i + k + len / 2] * wr;

				re[i + k + len / 2] = re[i + k] - xr;
				im[i + k + len / 2] = im[i + k] - xi;
				re[i + k] += xr;
				im[i + k] += xi;
			}
	}
}

/* Power spectrum of 32 ms of x from off (Hann window) into p, bins lo .. hi. */
static double
spectrum(const int16_t *x, size_t n, size_t off, size_t N, size_t lo, size_t hi, double *p)
{
	double re[1024], im[1024], energy = 0;

	for (size_t i = 0; i < N; i++) {
		double w = 0.5 - 0.5 * cos(2 * M_PI * (double)i / (double)N);

		re[i] = off + i < n ? w * x[off + i] : 0;
		im[i] = 0;
		energy += re[i] * re[i];
	}
	fft(re, im, N);
	for (size_t k = lo; k <= hi; k++)
		p[k - lo] = re[k] * re[k] + im[k] * im[k] + 1.0;	/* a floor far below speech */
	return energy;
}

/*
 * Log-spectral distance of y (delayed by lag samples) to x, in dB: per 32 ms
 * frame (half overlapped) the RMS over 125 Hz .. 3.75 kHz of the difference
 * of the two log power spectra, averaged over the frames of speech (within
 * 30 dB of x's loudest) among the first max_n samples of x.  bands 0: per
 * FFT bin (the textbook LSD, which also counts the harmonics' fine detail);
 * else per band of that many equal widths on the mel scale (the envelope a
 * listener hears: a parametric codec such as Codec2 is judged on it).
 */
static double
lsd_bands(const struct pcm *x, const int16_t *y, size_t ny, size_t lag, size_t max_n, int bands)
{
	size_t N = x->rate == 8000 ? 256 : 512, lo = 125 * N / x->rate, hi = 3750 * N / x->rate;
	size_t n = x->n < max_n ? x->n : max_n, frames = 0, nk = hi - lo + 1;
	double px[512], py[512], loudest = 0, sum = 0;
	int band[512];

	for (size_t k = 0; k < nk; k++) {
		double hz = (double)(k + lo) * x->rate / N, mel = 2595 * log10(1 + hz / 700);
		double m0 = 2595 * log10(1 + 125.0 / 700), m1 = 2595 * log10(1 + 3750.0 / 700);

		band[k] = bands ? (int)fmin(bands - 1, floor((mel - m0) / (m1 - m0) * bands)) : (int)k;
	}
	for (size_t off = 0; off + N <= n; off += N / 2)
		loudest = fmax(loudest, spectrum(x->s, x->n, off, N, lo, hi, px));
	for (size_t off = 0; off + N <= n; off += N / 2) {
		double bx[512] = { 0 }, by[512] = { 0 }, d = 0;
		int nb = bands ? bands : (int)nk;

		if (spectrum(x->s, x->n, off, N, lo, hi, px) < loudest * 1e-3)
			continue;
		if (off + lag >= ny)
			break;
		spectrum(y, ny, off + lag, N, lo, hi, py);
		for (size_t k = 0; k < nk; k++) {
			bx[band[k]] += px[k];
			by[band[k]] += py[k];
		}
		for (int b = 0; b < nb; b++) {
			double l = 10 * log10(bx[b] / by[b]);

			d += l * l;
		}
		sum += sqrt(d / nb);
		frames++;
	}
	return frames ? sum / (double)frames : INFINITY;
}

/* Mel bands for the envelope distance (20 between 125 Hz and 3.75 kHz: ~100 mel each). */
#define MEL_BANDS	20

static double
lsd(const struct pcm *x, const int16_t *y, size_t ny, size_t lag, size_t max_n)
{
	return lsd_bands(x, y, ny, lag, max_n, 0);
}

/* The codec's delay: the lag of y behind x (up to 80 ms) with the least distance over 3 s. */
static size_t
best_lag(const struct pcm *x, const int16_t *y, size_t ny)
{
	size_t step = x->rate / 2000, best = 0;	/* 0.5 ms */
	double d, least = INFINITY;

	for (size_t lag = 0; lag <= x->rate / 1000 * 80; lag += step)
		if ((d = lsd(x, y, ny, lag, x->rate * 3)) < least) {
			least = d;
			best = lag;
		}
	return best;
}

/* A talk spurt through one codec: the frames' bytes, and their decode without loss. */
struct spurt {
	uint8_t **frame;
	size_t *len;
	size_t n_frame;
	size_t bytes;			/* of all frames */
	int16_t *out;			/* decoded, n_frame * samples */
	size_t n_out;
	double cpu_s;			/* encode + decode */
};

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct spurt
spurt_run(const struct voice_mode *m, const struct pcm *in)
{
	struct codec *c = codec_new(m);
	uint32_t spf;
	struct spurt s = { 0 };
	int16_t *frame;
	double t0;

	assert_non_null(c);
	spf = codec_samples(c);
	assert_int_equal(spf, voice_mode_samples(m));
	/* One more frame of silence, so that the codec's delay does not cut the end. */
	s.n_frame = (in->n + spf - 1) / spf + 1;
	s.frame = calloc(s.n_frame, sizeof(*s.frame));
	s.len = calloc(s.n_frame, sizeof(*s.len));
	s.out = calloc(s.n_frame * spf, sizeof(int16_t));
	frame = calloc(spf, sizeof(int16_t));
	t0 = cpu_now();
	for (size_t i = 0; i < s.n_frame; i++) {
		size_t from = i * spf, k = from < in->n ? in->n - from : 0;
		int r;

		memset(frame, 0, spf * sizeof(int16_t));
		memcpy(frame, in->s + (from < in->n ? from : 0), (k < spf ? k : spf) * sizeof(int16_t));
		s.frame[i] = malloc(codec_frame_max(c));
		r = codec_encode(c, frame, s.frame[i], codec_frame_max(c));
		assert_true(r > 0);
		s.len[i] = (size_t)r;
		s.bytes += s.len[i];
		assert_int_equal(codec_decode(c, s.frame[i], s.len[i], s.out + i * spf), (int)spf);
	}
	s.cpu_s = cpu_now() - t0;
	s.n_out = s.n_frame * spf;
	free(frame);
	codec_free(c);
	return s;
}

static void
spurt_free(struct spurt *s)
{
	for (size_t i = 0; i < s->n_frame; i++)
		free(s->frame[i]);
	free(s->frame);
	free(s->len);
	free(s->out);
}

/* The agent's modes as the config writes them, with the distance each must keep to the input. */
static const struct {
	const char *cls, *mode;
	double max_lsd_db, max_mel_db;	/* per FFT bin, per mel band */
} modes[] = {
	/* Measured on both recordings (libopus 1.3.1, libcodec2 1.0.5), plus ~15%: mesh 4.83 / 1.86 dB,
	 * ip 7.13 / 3.58, Codec2 3200 8.89 / 5.41, 2400 8.94 / 5.40; other speech is 20 / 18 dB away. */
	{ "mesh", "opus 16k wb 20ms", 5.5, 2.2 },
	{ "ip", "opus 8k nb 60ms redundant", 8.0, 4.2 },
	{ "narrowband", "codec2 3200 40ms", 10.0, 6.2 },
	{ "narrowband", "codec2 2400 20ms", 10.0, 6.2 },
};
static const char *const speech[] = { "codec2_hts1a.wav", "codec2_vk5qi.wav" };

static struct voice_mode
mode_of(const char *s)
{
	struct voice_mode m;
	char why[160];

	if (voice_mode_parse(s, &m, why, sizeof(why)) < 0)
		fail_msg("%s: %s", s, why);
	return m;
}

/* Each mode on each recording: its payload rate, and the decoded speech's distance to the input. */
static void
test_modes(void **state)
{
	print_message("%-10s %-26s %-17s %10s %10s %7s %8s %8s %7s\n", "class", "mode", "speech", "payload",
	    "packets", "delay", "LSD", "mel LSD", "cpu");
	for (size_t f = 0; f < sizeof(speech) / sizeof(speech[0]); f++) {
		struct pcm in8 = wav_read(speech[f]), in16 = upsample2(&in8);

		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
			struct voice_mode m = mode_of(modes[i].mode);
			const struct pcm *in = m.sample_rate == 8000 ? &in8 : &in16;
			struct spurt s;
			double secs, payload, packets, d, dm;
			size_t lag;

			assert_int_equal(m.sample_rate, in->rate);
			s = spurt_run(&m, in);
			secs = (double)s.n_frame * m.frame_ms / 1000;
			payload = (double)s.bytes * 8 / secs;
			/* A redundant packet: the frame, the previous one, and the length byte(s). */
			packets = payload;
			if (m.redundant) {
				size_t b = 0;

				for (size_t k = 0; k < s.n_frame; k++)
					b += (s.len[k] < 0x80 ? 1 : 2) + s.len[k] + (k ? s.len[k - 1] : 0);
				packets = (double)b * 8 / secs;
			}
			lag = best_lag(in, s.out, s.n_out);
			d = lsd(in, s.out, s.n_out, lag, SIZE_MAX);
			dm = lsd_bands(in, s.out, s.n_out, lag, SIZE_MAX, MEL_BANDS);
			print_message("%-10s %-26s %-17s %6.0f b/s %6.0f b/s %5.1fms %5.2f dB %5.2f dB %6.2f%%\n",
			    modes[i].cls, modes[i].mode, speech[f], payload, packets, lag * 1000.0 / in->rate, d, dm,
			    100 * s.cpu_s / ((double)in->n / in->rate));
			if (fabs(payload - m.bitrate) > 0.1 * m.bitrate)
				fail_msg("%s: %.0f bit/s of payload, the mode's %u +- 10%%", modes[i].mode, payload,
				    m.bitrate);
			if (!(d <= modes[i].max_lsd_db))
				fail_msg("%s on %s: log-spectral distance %.2f dB, above %.1f dB", modes[i].mode, speech[f],
				    d, modes[i].max_lsd_db);
			if (!(dm <= modes[i].max_mel_db))
				fail_msg("%s on %s: mel-band log-spectral distance %.2f dB, above %.1f dB", modes[i].mode,
				    speech[f], dm, modes[i].max_mel_db);
			spurt_free(&s);
		}
		free(in8.s);
		free(in16.s);
	}
}

/* The distance tells speech from speech that is not the same: the bounds above mean something. */
static void
test_lsd_discriminates(void **state)
{
	struct pcm a = wav_read(speech[0]), b = wav_read(speech[1]);
	double same = lsd(&a, a.s, a.n, 0, SIZE_MAX), other = lsd(&a, b.s + 8000, b.n - 8000, 0, SIZE_MAX);
	double other_mel = lsd_bands(&a, b.s + 8000, b.n - 8000, 0, SIZE_MAX, MEL_BANDS);
	int16_t *quiet = malloc(a.n * sizeof(int16_t));

	for (size_t i = 0; i < a.n; i++)
		quiet[i] = (int16_t)(a.s[i] / 4);	/* 12 dB down: about 12 dB everywhere */
	double down = lsd(&a, quiet, a.n, 0, SIZE_MAX), down_mel = lsd_bands(&a, quiet, a.n, 0, SIZE_MAX, MEL_BANDS);
	double worst = 0, worst_mel = 0;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		worst = fmax(worst, modes[i].max_lsd_db);
		worst_mel = fmax(worst_mel, modes[i].max_mel_db);
	}
	print_message("LSD (mel bands): itself %.2f dB, 12 dB quieter %.2f (%.2f) dB, other speech %.2f (%.2f) dB\n",
	    same, down, down_mel, other, other_mel);
	assert_true(same < 1e-9);
	assert_true(down > 11 && down < 13 && down_mel > 11 && down_mel < 13);
	/* Other speech is farther than any mode's bound. */
	assert_true(other > worst && other_mel > worst_mel);
	free(quiet);
	free(a.s);
	free(b.s);
}

/*
 * Drop every drop_every-th packet of a redundant spurt.  Recovered: a lost
 * frame decoded from the next packet's copy, before that packet's own: the
 * copy is the lost frame byte for byte, and with Opus the whole decode
 * equals the loss-free one sample for sample.  (Codec2 draws unvoiced phases
 * from one random generator in the library, codec2_rand(), shared by every
 * decoder in the process: two decodes of the same frames differ there, so
 * its recovered decode is held to a distance instead.)  Concealed: the same
 * loss through PLC alone, which must be measurably worse.
 */
static void
redundancy_check(const char *mode_s, const struct pcm *in, size_t drop_every, bool exact)
{
	struct voice_mode m = mode_of(mode_s);
	struct spurt s = spurt_run(&m, in);
	struct codec *rx = codec_new(&m), *plc = codec_new(&m);
	uint32_t spf = codec_samples(rx);
	int16_t *rec = calloc(s.n_out, sizeof(int16_t)), *con = calloc(s.n_out, sizeof(int16_t));
	uint8_t pkt[2 * 1500 + 2];
	size_t lost = 0, on_air = 0;

	assert_true(m.redundant);
	for (size_t i = 0; i < s.n_frame; i++) {
		struct codec_frames fr;
		int n = codec_pack_redundant(s.frame[i], s.len[i], i ? s.frame[i - 1] : NULL, i ? s.len[i - 1] : 0,
		    pkt, sizeof(pkt));

		assert_true(n > 0);
		on_air += (size_t)n;
		if (i % drop_every == drop_every / 2 && i + 1 < s.n_frame) {
			lost++;
			assert_int_equal(codec_conceal(plc, con + i * spf), (int)spf);
			continue;	/* lost: the next packet brings it */
		}
		assert_int_equal(codec_unpack(pkt, (size_t)n, &fr), 0);
		assert_int_equal(fr.len, s.len[i]);
		assert_memory_equal(fr.frame, s.frame[i], fr.len);
		if (i > 0 && i % drop_every == drop_every / 2 + 1) {
			assert_non_null(fr.prev);
			assert_int_equal(fr.prev_len, s.len[i - 1]);
			assert_memory_equal(fr.prev, s.frame[i - 1], fr.prev_len);
			assert_int_equal(codec_decode(rx, fr.prev, fr.prev_len, rec + (i - 1) * spf), (int)spf);
		}
		assert_int_equal(codec_decode(rx, fr.frame, fr.len, rec + i * spf), (int)spf);
		assert_int_equal(codec_decode(plc, fr.frame, fr.len, con + i * spf), (int)spf);
	}
	assert_true(lost > 0);
	{
		struct pcm ref = { s.out, s.n_out, m.sample_rate };
		double d_rec = lsd_bands(&ref, rec, s.n_out, 0, SIZE_MAX, MEL_BANDS);
		double d_con = lsd_bands(&ref, con, s.n_out, 0, SIZE_MAX, MEL_BANDS);

		print_message("%s: %zu of %zu packets lost (1 in %zu): from the loss-free decode, recovered %.2f dB "
		    "mel LSD%s, PLC alone %.2f dB; packets %.0f b/s\n", mode_s, lost, s.n_frame, drop_every, d_rec,
		    exact ? " (sample for sample)" : "", d_con,
		    (double)on_air * 8 / ((double)s.n_frame * m.frame_ms / 1000));
		if (exact)
			assert_memory_equal(rec, s.out, s.n_out * sizeof(int16_t));
		/* Concealment is not the frame itself: the comparison above could fail. */
		assert_true(memcmp(con, s.out, s.n_out * sizeof(int16_t)) != 0);
		if (!(d_rec < d_con))
			fail_msg("%s: recovered %.2f dB, no better than PLC's %.2f dB", mode_s, d_rec, d_con);
	}
	free(rec);
	free(con);
	codec_free(rx);
	codec_free(plc);
	spurt_free(&s);
}

static void
test_redundancy_recovers(void **state)
{
	struct pcm in = wav_read(speech[1]);

	redundancy_check("opus 8k nb 60ms redundant", &in, 10, true);
	redundancy_check("codec2 3200 40ms redundant", &in, 7, false);
	free(in.s);
}

/*
 * The scarce IP link's budget (issue 14: <= 12 kbit/s on air with all
 * headers) against the redundant packet, which carries two frames: per copy
 * rate, the packets' payload, that plus IPv4/UDP's 28 bytes a packet (our
 * own header is not counted: it is not built yet), and the distance.  Only
 * printed, for choosing the mode; the check is that the distance falls as
 * the rate rises, so that the figures mean something.
 */
static void
test_ip_budget(void **state)
{
	static const uint32_t rates[] = { 4000, 5000, 6000, 8000 };
	struct pcm in = wav_read(speech[1]);
	double prev = INFINITY;

	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		struct voice_mode m = mode_of("opus 8k nb 60ms redundant");
		struct spurt s;
		size_t b = 0;
		double secs, d;

		m.bitrate = rates[r];
		s = spurt_run(&m, &in);
		secs = (double)s.n_frame * m.frame_ms / 1000;
		for (size_t k = 0; k < s.n_frame; k++)
			b += (s.len[k] < 0x80 ? 1 : 2) + s.len[k] + (k ? s.len[k - 1] : 0);
		d = lsd_bands(&in, s.out, s.n_out, best_lag(&in, s.out, s.n_out), SIZE_MAX, MEL_BANDS);
		print_message("ip budget: opus %u b/s NB 60ms redundant: packets %.0f b/s, with IPv4/UDP %.0f b/s, "
		    "mel LSD %.2f dB\n", rates[r], b * 8 / secs, (b + 28.0 * s.n_frame) * 8 / secs, d);
		assert_true(d < prev);
		prev = d;
		spurt_free(&s);
	}
	free(in.s);
}

/* Codec2's PLC: the last frame again, fading, then silence after 100 ms. */
static void
test_codec2_conceal(void **state)
{
	struct pcm in = wav_read(speech[0]);
	struct voice_mode m = mode_of("codec2 3200 20ms");
	struct codec *c = codec_new(&m);
	int16_t pcm[160];
	uint8_t frame[16];
	double prev = INFINITY;

	assert_non_null(c);
	/* 1 s in, where the speaker is talking. */
	for (size_t i = 0; i < 50; i++) {
		assert_int_equal(codec_encode(c, in.s + i * 160, frame, sizeof(frame)), 8);
		assert_int_equal(codec_decode(c, frame, 8, pcm), 160);
	}
	for (int i = 0; i < 8; i++) {
		double e = 0;

		assert_int_equal(codec_conceal(c, pcm), 160);
		for (int k = 0; k < 160; k++)
			e += (double)pcm[k] * pcm[k];
		if (i < 5)
			assert_true(e > 0 && e < prev);
		else
			assert_true(e == 0);	/* past 100 ms */
		prev = e;
	}
	codec_free(c);
	free(in.s);
}

static void
test_bad_input(void **state)
{
	struct voice_mode m = mode_of("opus 8k nb 60ms redundant"), c2 = mode_of("codec2 3200 40ms");
	struct codec *c = codec_new(&m), *k = codec_new(&c2);
	struct codec_frames fr;
	uint8_t big[300], pkt[400], junk[3] = { 0xff, 0xff, 0xff };
	int16_t pcm[480];
	int n;

	assert_non_null(c);
	assert_non_null(k);
	assert_int_equal(codec_frame_max(k), 16);
	/* Lengths: one byte below 128, two from 128; the previous frame is what follows. */
	memset(big, 0xa5, sizeof(big));
	n = codec_pack_redundant(big, 200, big, 50, pkt, sizeof(pkt));
	assert_int_equal(n, 252);
	assert_int_equal(pkt[0], 0x80);
	assert_int_equal(pkt[1], 200);
	assert_int_equal(codec_unpack(pkt, (size_t)n, &fr), 0);
	assert_int_equal(fr.len, 200);
	assert_int_equal(fr.prev_len, 50);
	assert_int_equal(codec_pack_redundant(big, 60, NULL, 0, pkt, sizeof(pkt)), 61);
	assert_int_equal(codec_unpack(pkt, 61, &fr), 0);
	assert_null(fr.prev);
	assert_int_equal(codec_pack_redundant(big, 200, big, 200, pkt, sizeof(pkt)), -ENOSPC);
	/* Untrusted packets. */
	assert_int_equal(codec_unpack(pkt, 0, &fr), -EBADMSG);
	pkt[0] = 61;
	assert_int_equal(codec_unpack(pkt, 61, &fr), -EBADMSG);	/* says 61, holds 60 */
	pkt[0] = 0x80;
	pkt[1] = 5;
	assert_int_equal(codec_unpack(pkt, 10, &fr), -EBADMSG);	/* a short length in the long form */
	assert_int_equal(codec_unpack(pkt, 1, &fr), -EBADMSG);
	assert_int_equal(codec_unpack(junk, 3, &fr), -EBADMSG);
	/* Frames of the wrong size or no frame at all. */
	assert_int_equal(codec_decode(c, big, 0, pcm), -EBADMSG);
	assert_int_equal(codec_decode(k, big, 15, pcm), -EBADMSG);
	assert_int_equal(codec_encode(k, pcm, big, 15), -ENOSPC);
	/* Modes that are no codec's. */
	m.codec = VOICE_CODEC_NONE;
	assert_null(codec_new(&m));
	assert_int_equal(errno, EINVAL);
	c2.bitrate = 9600;
	assert_null(codec_new(&c2));
	assert_int_equal(errno, EINVAL);
	m = mode_of("opus 8k nb 60ms");
	m.frame_ms = 30;
	assert_null(codec_new(&m));
	assert_int_equal(errno, EINVAL);
	c2 = mode_of("codec2 1600 40ms");
	c2.frame_ms = 20;	/* half of 1600's own frame */
	assert_null(codec_new(&c2));
	assert_int_equal(errno, EINVAL);
	codec_free(NULL);
	codec_free(c);
	codec_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lsd_discriminates),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_redundancy_recovers),
		cmocka_unit_test(test_ip_budget),
		cmocka_unit_test(test_codec2_conceal),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
