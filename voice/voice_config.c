/*
 * voice_config.c - the [voice] section of the node's config file
 * (relay/base/config_section.h): checked by fieldrelayd -n and fieldrelay
 * config-check, read by fieldrelay-voice.  Linked into the daemon too, so it
 * uses libc alone.
 *
 *   [voice]
 *   group = NAME ipn:N ...     a talk group and its members' nodes (repeats; one at least)
 *   name = Team 3              the talker's name shown at receivers (default: the node's name)
 *   input = alsa:default       alsa:DEVICE, file:PATH (WAV or raw PCM) or none
 *   output = alsa:default      the same
 *   ptt = cli                  cli (`fieldrelay voice talk GROUP`), gpio:CHIP:LINE or vox
 *   priority = normal          normal, or command: may take the floor from a talker
 *   mode = CLASS MODE          the codec on links of CLASS (mesh, ip, satellite, narrowband)
 *                              (repeats, once per class); MODE is one of
 *                                opus RATE BW FRAME [redundant]   RATE 6k .. 64k, BW nb, mb,
 *                                                                 wb, swb or fb, FRAME 10 .. 120ms
 *                                codec2 RATE [FRAME] [redundant]  RATE 3200, 2400, 1600, 1400,
 *                                                                 1300, 1200 or 700C; FRAME a
 *                                                                 multiple of its own (20 or 40ms)
 *                                none                             no live voice: messages only
 *                              defaults: mesh opus 16k wb 20ms, ip opus 8k nb 60ms redundant,
 *                              satellite none, narrowband codec2 3200 40ms
 *   jitter_max = 200ms         the jitter buffer's bound
 *   messages = /var/lib/fieldrelay/voice   stored voice messages and the radio log
 *   keep = 7d                  how long they are kept
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_section.h"
#include "voice.h"

static const char *const link_names[VOICE_LINK_COUNT] = { "mesh", "ip", "satellite", "narrowband" };

const char *
voice_link_name(enum voice_link l)
{
	return (unsigned)l < VOICE_LINK_COUNT ? link_names[l] : "unknown";
}

int
voice_link_parse(const char *s)
{
	for (int i = 0; i < VOICE_LINK_COUNT; i++)
		if (strcasecmp(s, link_names[i]) == 0)
			return i;
	return -1;
}

static const struct { const char *name; uint32_t rate; } bandwidths[] = {
	[VOICE_BW_NB] = { "nb", 8000 }, [VOICE_BW_MB] = { "mb", 12000 }, [VOICE_BW_WB] = { "wb", 16000 },
	[VOICE_BW_SWB] = { "swb", 24000 }, [VOICE_BW_FB] = { "fb", 48000 },
};

/* Codec2's modes: the name, bit rate and native frame (libcodec2's codec2_samples_per_frame at 8 kHz). */
static const struct { const char *name; uint32_t bitrate; uint32_t frame_ms; } codec2_modes[] = {
	{ "3200", 3200, 20 }, { "2400", 2400, 20 }, { "1600", 1600, 40 }, { "1400", 1400, 40 },
	{ "1300", 1300, 40 }, { "1200", 1200, 40 }, { "700C", 700, 40 },
};

/* The largest packet of audio: LXST sends Codec2 700C in 400 ms. */
#define FRAME_MAX_MS	400

/* "20ms" or "20": milliseconds, or -1. */
static long
ms_parse(const char *s)
{
	char *end;

	errno = 0;
	long v = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || (strcmp(end, "ms") != 0 && *end != '\0'))
		return -1;
	return v;
}

/* "16k", "16000": bit/s, or -1. */
static long
bitrate_parse(const char *s)
{
	char *end;

	errno = 0;
	long v = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || v > 1000000)
		return -1;
	if (strcmp(end, "k") == 0)
		v *= 1000;
	else if (*end != '\0')
		return -1;
	return v;
}

/* Split value into at most n words (in buf); their count, n + 1 for more. */
static int
words(const char *value, char *buf, size_t cap, char **w, int n)
{
	int k = 0;

	snprintf(buf, cap, "%s", value);
	for (char *save = NULL, *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (k == n)
			return n + 1;
		w[k++] = t;
	}
	return k;
}

static int
opus_mode_parse(char **w, int n, struct voice_mode *m, char *msg, size_t msglen)
{
	long rate, frame;
	int bw = -1;

	if (n < 4 || n > 5 || (n == 5 && strcmp(w[4], "redundant") != 0)) {
		snprintf(msg, msglen, "is not 'opus RATE BW FRAME [redundant]' (e.g. opus 16k wb 20ms)");
		return -1;
	}
	rate = bitrate_parse(w[1]);
	if (rate < 6000 || rate > 64000) {
		snprintf(msg, msglen, "opus: rate '%s' is not 6k .. 64k", w[1]);
		return -1;
	}
	for (size_t i = 0; i < sizeof(bandwidths) / sizeof(bandwidths[0]); i++)
		if (strcmp(w[2], bandwidths[i].name) == 0)
			bw = (int)i;
	if (bw < 0) {
		snprintf(msg, msglen, "opus: bandwidth '%s' is not nb, mb, wb, swb or fb", w[2]);
		return -1;
	}
	frame = ms_parse(w[3]);
	if (frame != 10 && frame != 20 && frame != 40 && frame != 60 && frame != 80 && frame != 100 &&
	    frame != 120) {
		snprintf(msg, msglen, "opus: frame '%s' is not 10, 20, 40, 60, 80, 100 or 120ms", w[3]);
		return -1;
	}
	*m = (struct voice_mode){ .codec = VOICE_CODEC_OPUS, .bitrate = (uint32_t)rate, .bandwidth = bw,
	    .sample_rate = bandwidths[bw].rate, .frame_ms = (uint32_t)frame, .redundant = n == 5 };
	return 0;
}

static int
codec2_mode_parse(char **w, int n, struct voice_mode *m, char *msg, size_t msglen)
{
	int k = -1, i = 2;
	long frame;

	if (n < 2 || n > 4) {
		snprintf(msg, msglen, "is not 'codec2 RATE [FRAME] [redundant]' (e.g. codec2 3200 40ms)");
		return -1;
	}
	for (size_t j = 0; j < sizeof(codec2_modes) / sizeof(codec2_modes[0]); j++)
		if (strcasecmp(w[1], codec2_modes[j].name) == 0)
			k = (int)j;
	if (k < 0) {
		snprintf(msg, msglen, "codec2: rate '%s' is not 3200, 2400, 1600, 1400, 1300, 1200 or 700C", w[1]);
		return -1;
	}
	frame = codec2_modes[k].frame_ms;
	if (i < n && strcmp(w[i], "redundant") != 0) {
		frame = ms_parse(w[i]);
		if (frame <= 0 || frame > FRAME_MAX_MS || frame % codec2_modes[k].frame_ms != 0) {
			snprintf(msg, msglen, "codec2: frame '%s' is not a multiple of %s's %ums up to %dms", w[i],
			    codec2_modes[k].name, codec2_modes[k].frame_ms, FRAME_MAX_MS);
			return -1;
		}
		i++;
	}
	if (i < n && strcmp(w[i], "redundant") == 0)
		i++;
	if (i != n) {
		snprintf(msg, msglen, "is not 'codec2 RATE [FRAME] [redundant]' (e.g. codec2 3200 40ms)");
		return -1;
	}
	*m = (struct voice_mode){ .codec = VOICE_CODEC_CODEC2, .bitrate = codec2_modes[k].bitrate,
	    .bandwidth = VOICE_BW_NB, .sample_rate = 8000, .frame_ms = (uint32_t)frame,
	    .redundant = strcmp(w[n - 1], "redundant") == 0 };
	return 0;
}

int
voice_mode_parse(const char *s, struct voice_mode *m, char *msg, size_t msglen)
{
	char buf[256], *w[6];
	int n = words(s, buf, sizeof(buf), w, 6);

	if (n == 1 && strcmp(w[0], "none") == 0) {
		*m = (struct voice_mode){ .codec = VOICE_CODEC_NONE };
		return 0;
	}
	if (n >= 1 && strcmp(w[0], "opus") == 0)
		return opus_mode_parse(w, n, m, msg, msglen);
	if (n >= 1 && strcmp(w[0], "codec2") == 0)
		return codec2_mode_parse(w, n, m, msg, msglen);
	snprintf(msg, msglen, "is not opus ..., codec2 ... or none");
	return -1;
}

void
voice_conf_defaults(struct voice_conf *c)
{
	/* Issue 14: mesh 16 kbit/s wideband 20 ms; a scarce IP link 8 kbit/s narrowband 60 ms with the
	 * previous frame re-sent; the 9600 bit/s radio Codec2 3200 in M17's 40 ms frames. */
	static const char *const modes[VOICE_LINK_COUNT] = {
		[VOICE_LINK_MESH] = "opus 16k wb 20ms", [VOICE_LINK_IP] = "opus 8k nb 60ms redundant",
		[VOICE_LINK_SATELLITE] = "none", [VOICE_LINK_NARROWBAND] = "codec2 3200 40ms",
	};
	char msg[128];

	memset(c, 0, sizeof(*c));
	c->input = (struct voice_io){ .kind = VOICE_IO_ALSA, .arg = "default" };
	c->output = (struct voice_io){ .kind = VOICE_IO_ALSA, .arg = "default" };
	c->ptt = VOICE_PTT_CLI;
	for (int i = 0; i < VOICE_LINK_COUNT; i++)
		if (voice_mode_parse(modes[i], &c->mode[i], msg, sizeof(msg)) < 0)
			abort();	/* our own table */
	c->jitter_max_ms = 200;
	snprintf(c->messages, sizeof(c->messages), "%s", VOICE_MESSAGES_DEFAULT);
	c->keep_s = 7 * 86400;
}

/* "90", "90s", "200ms", "15m", "48h", "7d": milliseconds in *ms (at most max_s seconds). */
static int
duration_parse(const char *s, uint64_t max_s, uint64_t *ms)
{
	char *end;
	double v, unit = 1000;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !(v >= 0) || *s == '-' || *s == '+')
		return -1;
	if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		unit = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		unit = 60e3;
	else if (strcmp(end, "h") == 0)
		unit = 3600e3;
	else if (strcmp(end, "d") == 0)
		unit = 86400e3;
	else
		return -1;
	if (v * unit > (double)max_s * 1000)
		return -1;
	*ms = (uint64_t)llround(v * unit);
	return 0;
}

static int
set_group(struct voice_conf *c, const char *value, char *msg, size_t msglen)
{
	char buf[1024], *w[VOICE_MAX_MEMBERS + 1];
	struct voice_group *g;
	int n;

	if (c->n_group == VOICE_MAX_GROUPS) {
		snprintf(msg, msglen, "group: at most %d talk groups", VOICE_MAX_GROUPS);
		return -1;
	}
	g = &c->group[c->n_group];
	memset(g, 0, sizeof(*g));
	n = words(value, buf, sizeof(buf), w, VOICE_MAX_MEMBERS + 1);
	if (n < 2) {
		snprintf(msg, msglen, "group: '%s' is not NAME ipn:N [ipn:M ...] (e.g. rescue ipn:1 ipn:2 ipn:3)",
		    value);
		return -1;
	}
	if (n > VOICE_MAX_MEMBERS + 1) {
		snprintf(msg, msglen, "group: %s: at most %d members", w[0], VOICE_MAX_MEMBERS);
		return -1;
	}
	if (strlen(w[0]) >= sizeof(g->name) || strspn(w[0], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_-.") != strlen(w[0])) {
		snprintf(msg, msglen, "group: name '%s' is not 1 .. %zu letters, digits, '-', '_' or '.'", w[0],
		    sizeof(g->name) - 1);
		return -1;
	}
	for (int i = 0; i < c->n_group; i++)
		if (strcmp(c->group[i].name, w[0]) == 0) {
			snprintf(msg, msglen, "group: %s given twice", w[0]);
			return -1;
		}
	for (int i = 1; i < n; i++) {
		unsigned long long node;
		int len = 0;

		if (sscanf(w[i], "ipn:%llu%n", &node, &len) != 1 || w[i][len] != '\0' || w[i][4] < '1' ||
		    w[i][4] > '9') {
			snprintf(msg, msglen, "group: %s: member '%s' is not a node's ipn:N (N from 1)", w[0], w[i]);
			return -1;
		}
		for (int j = 0; j < g->n_member; j++)
			if (g->member[j] == node) {
				snprintf(msg, msglen, "group: %s: member %s given twice", w[0], w[i]);
				return -1;
			}
		g->member[g->n_member++] = node;
	}
	snprintf(g->name, sizeof(g->name), "%s", w[0]);
	c->n_group++;
	return 0;
}

static int
set_io(struct voice_io *io, const char *key, const char *value, char *msg, size_t msglen)
{
	const char *arg = NULL;

	if (strcmp(value, "none") == 0) {
		*io = (struct voice_io){ .kind = VOICE_IO_NONE };
		return 0;
	}
	if (strncmp(value, "alsa:", 5) == 0)
		arg = value + 5;
	else if (strncmp(value, "file:", 5) == 0)
		arg = value + 5;
	if (arg == NULL || *arg == '\0') {
		snprintf(msg, msglen, "%s: '%s' is not alsa:DEVICE, file:PATH or none (e.g. alsa:default)", key, value);
		return -1;
	}
	if (strlen(arg) >= sizeof(io->arg)) {
		snprintf(msg, msglen, "%s: longer than %zu characters", key, sizeof(io->arg) - 1);
		return -1;
	}
	io->kind = value[0] == 'a' ? VOICE_IO_ALSA : VOICE_IO_FILE;
	snprintf(io->arg, sizeof(io->arg), "%s", arg);
	return 0;
}

static int
set_ptt(struct voice_conf *c, const char *value, char *msg, size_t msglen)
{
	const char *chip, *colon;
	char *end;

	if (strcmp(value, "cli") == 0 || strcmp(value, "vox") == 0) {
		c->ptt = value[0] == 'c' ? VOICE_PTT_CLI : VOICE_PTT_VOX;
		return 0;
	}
	if (strncmp(value, "gpio:", 5) != 0)
		goto bad;
	chip = value + 5;
	colon = strrchr(chip, ':');
	if (colon == NULL || colon == chip || (size_t)(colon - chip) >= sizeof(c->ptt_chip))
		goto bad;
	errno = 0;
	unsigned long line = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || line > 65535)
		goto bad;
	c->ptt = VOICE_PTT_GPIO;
	snprintf(c->ptt_chip, sizeof(c->ptt_chip), "%.*s", (int)(colon - chip), chip);
	c->ptt_line = (uint32_t)line;
	return 0;
bad:
	snprintf(msg, msglen, "ptt: '%s' is not cli, gpio:CHIP:LINE (e.g. gpio:gpiochip0:17) or vox", value);
	return -1;
}

static int
set_mode(struct voice_conf *c, const char *value, char *msg, size_t msglen)
{
	char cls[32], why[160];
	const char *rest;
	size_t len = strcspn(value, " \t");
	int l;

	snprintf(cls, sizeof(cls), "%.*s", (int)(len < sizeof(cls) ? len : sizeof(cls) - 1), value);
	rest = value + len + strspn(value + len, " \t");
	if ((l = voice_link_parse(cls)) < 0 || *rest == '\0') {
		snprintf(msg, msglen, "mode: '%s' is not CLASS MODE (CLASS mesh, ip, satellite or narrowband; "
		    "e.g. ip opus 8k nb 60ms redundant)", value);
		return -1;
	}
	if (c->mode_set & (1u << l)) {
		snprintf(msg, msglen, "mode: %s given twice", cls);
		return -1;
	}
	if (voice_mode_parse(rest, &c->mode[l], why, sizeof(why)) < 0) {
		snprintf(msg, msglen, "mode: %s: '%s' %s", cls, rest, why);
		return -1;
	}
	c->mode_set |= 1u << l;
	return 0;
}

static int
voice_set(void *conf, const char *key, const char *value, char *msg, size_t msglen)
{
	struct voice_conf *c = conf;
	uint64_t ms;

	if (c->messages[0] == '\0')
		voice_conf_defaults(c);	/* the parser hands us zeroes */
	if (strcmp(key, "group") == 0)
		return set_group(c, value, msg, msglen);
	if (strcmp(key, "name") == 0) {
		if (strlen(value) >= sizeof(c->name)) {
			snprintf(msg, msglen, "name: longer than %zu characters", sizeof(c->name) - 1);
			return -1;
		}
		snprintf(c->name, sizeof(c->name), "%s", value);
		return 0;
	}
	if (strcmp(key, "input") == 0 || strcmp(key, "output") == 0)
		return set_io(key[0] == 'i' ? &c->input : &c->output, key, value, msg, msglen);
	if (strcmp(key, "ptt") == 0)
		return set_ptt(c, value, msg, msglen);
	if (strcmp(key, "priority") == 0) {
		if (strcmp(value, "normal") != 0 && strcmp(value, "command") != 0) {
			snprintf(msg, msglen, "priority: '%s' is not normal or command (command may take the floor)",
			    value);
			return -1;
		}
		c->command = value[0] == 'c';
		return 0;
	}
	if (strcmp(key, "mode") == 0)
		return set_mode(c, value, msg, msglen);
	if (strcmp(key, "jitter_max") == 0) {
		if (duration_parse(value, 1, &ms) < 0 || ms < 20) {
			snprintf(msg, msglen, "jitter_max: '%s' is not a duration from 20ms to 1s (e.g. 200ms)", value);
			return -1;
		}
		c->jitter_max_ms = (uint32_t)ms;
		return 0;
	}
	if (strcmp(key, "messages") == 0) {
		if (*value != '/' || strlen(value) >= sizeof(c->messages)) {
			snprintf(msg, msglen, "messages: '%s' is not an absolute path (of up to %zu characters)", value,
			    sizeof(c->messages) - 1);
			return -1;
		}
		snprintf(c->messages, sizeof(c->messages), "%s", value);
		return 0;
	}
	if (strcmp(key, "keep") == 0) {
		if (duration_parse(value, 366u * 86400, &ms) < 0 || ms < 3600 * 1000) {
			snprintf(msg, msglen, "keep: '%s' is not a duration from 1h to 366d (e.g. 7d)", value);
			return -1;
		}
		c->keep_s = (uint32_t)(ms / 1000);
		return 0;
	}
	snprintf(msg, msglen, "%s: not a key of [voice] (group, name, input, output, ptt, priority, mode, "
	    "jitter_max, messages, keep)", key);
	return -1;
}

/* Voice needs somebody to talk to. */
static int
voice_finish(void *conf, char *msg, size_t msglen)
{
	const struct voice_conf *c = conf;

	if (c->n_group == 0) {
		snprintf(msg, msglen, "[voice] needs a talk group (group = NAME ipn:N [ipn:M ...])");
		return -1;
	}
	return 0;
}

static const struct config_key voice_keys[] = {
	{ "group", true }, { "name", false }, { "input", false }, { "output", false }, { "ptt", false },
	{ "priority", false }, { "mode", true }, { "jitter_max", false }, { "messages", false }, { "keep", false },
	{ NULL, false },
};

const struct config_section voice_config_section = {
	.name = "voice",
	.agent = "fieldrelay-voice",
	.keys = voice_keys,
	.conf_size = sizeof(struct voice_conf),
	.set = voice_set,
	.finish = voice_finish,
};
