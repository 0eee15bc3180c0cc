/*
 * voice.h - fieldrelay-voice, push-to-talk: its [voice] section
 * (voice_config.c) and the few names every module of the agent shares.
 * The modules (one .c/.h pair each):
 *
 *   codec      one interface over Opus and Codec2: a frame of PCM in, a
 *              frame's bytes out, PLC for a lost frame, and our redundancy
 *              (the previous frame re-sent in each packet) for scarce links
 *
 * To come (issue 14): the jitter buffer, talk groups and the floor, audio
 * I/O (ALSA, WAV/raw files and pipes), PTT (CLI, GPIO, VOX), Ogg Opus voice
 * messages and the radio log, `fieldrelay voice ...`, and voice.c, the
 * agent's loop.
 */
#ifndef FIELDRELAY_VOICE_H
#define FIELDRELAY_VOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VOICE_NAME		"voice"		/* the agent's durable registration */
#define VOICE_MESSAGES_DEFAULT	"/var/lib/fieldrelay/voice"

/*
 * The classes of link a talk spurt may have to cross (the same classes as
 * fieldrelay-track's, narrowest last): each has its own codec mode.
 */
enum voice_link {
	VOICE_LINK_MESH = 0,		/* Wi-Fi mesh, Ethernet, fast IP */
	VOICE_LINK_IP = 1,		/* a scarce IP link (cellular, a metered link) */
	VOICE_LINK_SATELLITE = 2,	/* Iridium SBD: no live voice, messages only */
	VOICE_LINK_NARROWBAND = 3,	/* KISS radio, 9600 bit/s */
	VOICE_LINK_COUNT
};
/* "mesh", "ip", "satellite", "narrowband"; parse: the class or -1. */
const char *voice_link_name(enum voice_link l);
int voice_link_parse(const char *s);

enum voice_codec {
	VOICE_CODEC_NONE = 0,		/* no live voice on this class */
	VOICE_CODEC_OPUS,
	VOICE_CODEC_CODEC2,
};

/* Opus's audio bandwidths; Codec2 is always narrowband. */
enum voice_bandwidth {
	VOICE_BW_NB = 0,		/* 4 kHz audio, 8 kHz PCM */
	VOICE_BW_MB,			/* 6 kHz, 12 kHz PCM */
	VOICE_BW_WB,			/* 8 kHz, 16 kHz PCM */
	VOICE_BW_SWB,			/* 12 kHz, 24 kHz PCM */
	VOICE_BW_FB,			/* 20 kHz, 48 kHz PCM */
};

/*
 * How voice goes over one class of link: the codec, its bit rate, the audio
 * of one packet (frame_ms: Opus's frame; Codec2's native frames, 20 or 40
 * ms, are grouped into it) and whether each packet carries the previous
 * frame too (codec_pack_redundant).
 */
struct voice_mode {
	enum voice_codec codec;
	uint32_t bitrate;		/* bit/s of the codec's payload: 16000, 3200 */
	enum voice_bandwidth bandwidth;
	uint32_t sample_rate;		/* of the PCM in and out, Hz */
	uint32_t frame_ms;		/* audio per frame (per packet) */
	bool redundant;			/* the previous frame re-sent in each packet */
};
/* The mode's PCM samples per frame. */
static inline uint32_t
voice_mode_samples(const struct voice_mode *m)
{
	return m->sample_rate / 1000 * m->frame_ms;
}

#define VOICE_MAX_GROUPS	16
#define VOICE_MAX_MEMBERS	32

/* A talk group: its name and its members' node numbers. */
struct voice_group {
	char name[32];
	uint64_t member[VOICE_MAX_MEMBERS];	/* ipn node numbers */
	int n_member;
};

/* Where audio comes from or goes to. */
struct voice_io {
	enum { VOICE_IO_NONE, VOICE_IO_ALSA, VOICE_IO_FILE } kind;
	char arg[256];			/* the ALSA device or the file's path */
};

/* [voice] in the node's config file (voice_config.c). */
struct voice_conf {
	struct voice_group group[VOICE_MAX_GROUPS];
	int n_group;
	char name[64];			/* the talker's name at receivers ("": the node's name) */
	struct voice_io input;		/* alsa:default */
	struct voice_io output;		/* alsa:default */
	enum { VOICE_PTT_CLI, VOICE_PTT_GPIO, VOICE_PTT_VOX } ptt;
	char ptt_chip[64];		/* gpio: the chip (gpiochip0, /dev/gpiochip0) */
	uint32_t ptt_line;		/* gpio: the line's offset on it */
	bool command;			/* priority = command: may take the floor from a talker */
	struct voice_mode mode[VOICE_LINK_COUNT];
	uint32_t mode_set;		/* the classes a mode line named (one each) */
	uint32_t jitter_max_ms;		/* the jitter buffer's bound (200 ms) */
	char messages[256];		/* stored voice messages and the radio log */
	uint32_t keep_s;		/* how long they are kept (7 d) */
};
/* The defaults, then each key of the section through voice_config_section.set(). */
void voice_conf_defaults(struct voice_conf *c);
/*
 * A mode as the config writes it: "opus 16k wb 20ms", "opus 8k nb 60ms
 * redundant", "codec2 3200 40ms", "none".  0, or -1 with why in msg.
 */
int voice_mode_parse(const char *s, struct voice_mode *m, char *msg, size_t msglen);

#endif
