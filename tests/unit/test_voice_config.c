/*
 * test_voice_config.c - the [voice] section (voice/voice_config.c): its
 * defaults, every key's values and the errors people get for bad ones, and
 * the section checked in a whole config file with file:line errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "config_section.h"
#include "voice.h"

extern const struct config_section voice_config_section;

static struct voice_conf conf;
static char msg[512];

static int
set(const char *key, const char *value)
{
	msg[0] = '\0';
	return voice_config_section.set(&conf, key, value, msg, sizeof(msg));
}

static void
expect_bad(const char *key, const char *value, const char *text)
{
	voice_conf_defaults(&conf);
	if (set(key, value) != -1 || strstr(msg, text) == NULL)
		fail_msg("%s = %s: expected an error with '%s', got '%s'", key, value, text, msg);
}

static void
test_defaults(void **state)
{
	const struct voice_mode *m;

	voice_conf_defaults(&conf);
	assert_int_equal(conf.n_group, 0);
	assert_string_equal(conf.name, "");
	assert_int_equal(conf.input.kind, VOICE_IO_ALSA);
	assert_string_equal(conf.input.arg, "default");
	assert_int_equal(conf.output.kind, VOICE_IO_ALSA);
	assert_int_equal(conf.ptt, VOICE_PTT_CLI);
	assert_false(conf.command);
	assert_int_equal(conf.jitter_max_ms, 200);
	assert_string_equal(conf.messages, VOICE_MESSAGES_DEFAULT);
	assert_int_equal(conf.keep_s, 7 * 86400);
	/* The modes: mesh 16k WB 20 ms, ip 8k NB 60 ms with redundancy, narrowband Codec2 3200. */
	m = &conf.mode[VOICE_LINK_MESH];
	assert_int_equal(m->codec, VOICE_CODEC_OPUS);
	assert_int_equal(m->bitrate, 16000);
	assert_int_equal(m->sample_rate, 16000);
	assert_int_equal(m->frame_ms, 20);
	assert_false(m->redundant);
	assert_int_equal(voice_mode_samples(m), 320);
	m = &conf.mode[VOICE_LINK_IP];
	assert_int_equal(m->codec, VOICE_CODEC_OPUS);
	assert_int_equal(m->bitrate, 8000);
	assert_int_equal(m->bandwidth, VOICE_BW_NB);
	assert_int_equal(m->sample_rate, 8000);
	assert_int_equal(m->frame_ms, 60);
	assert_true(m->redundant);
	assert_int_equal(conf.mode[VOICE_LINK_SATELLITE].codec, VOICE_CODEC_NONE);
	m = &conf.mode[VOICE_LINK_NARROWBAND];
	assert_int_equal(m->codec, VOICE_CODEC_CODEC2);
	assert_int_equal(m->bitrate, 3200);
	assert_int_equal(m->sample_rate, 8000);
	assert_int_equal(m->frame_ms, 40);
	/* A zeroed section (what the parser hands over) takes the defaults first. */
	memset(&conf, 0, sizeof(conf));
	assert_int_equal(set("keep", "2d"), 0);
	assert_int_equal(conf.keep_s, 2 * 86400);
	assert_int_equal(conf.jitter_max_ms, 200);
	assert_int_equal(conf.mode[VOICE_LINK_MESH].bitrate, 16000);
}

static void
test_values(void **state)
{
	voice_conf_defaults(&conf);
	assert_int_equal(set("group", "rescue ipn:1 ipn:2 ipn:17"), 0);
	assert_int_equal(set("group", "command-net\tipn:1"), 0);
	assert_int_equal(conf.n_group, 2);
	assert_string_equal(conf.group[0].name, "rescue");
	assert_int_equal(conf.group[0].n_member, 3);
	assert_int_equal(conf.group[0].member[2], 17);
	assert_string_equal(conf.group[1].name, "command-net");
	assert_int_equal(conf.group[1].member[0], 1);
	assert_int_equal(set("name", "Team 3 lead"), 0);
	assert_string_equal(conf.name, "Team 3 lead");
	assert_int_equal(set("input", "file:/tmp/in.wav"), 0);
	assert_int_equal(conf.input.kind, VOICE_IO_FILE);
	assert_string_equal(conf.input.arg, "/tmp/in.wav");
	assert_int_equal(set("output", "alsa:null"), 0);
	assert_int_equal(conf.output.kind, VOICE_IO_ALSA);
	assert_string_equal(conf.output.arg, "null");
	assert_int_equal(set("output", "none"), 0);
	assert_int_equal(conf.output.kind, VOICE_IO_NONE);
	assert_int_equal(set("ptt", "gpio:gpiochip0:17"), 0);
	assert_int_equal(conf.ptt, VOICE_PTT_GPIO);
	assert_string_equal(conf.ptt_chip, "gpiochip0");
	assert_int_equal(conf.ptt_line, 17);
	assert_int_equal(set("ptt", "gpio:/dev/gpiochip1:4"), 0);
	assert_string_equal(conf.ptt_chip, "/dev/gpiochip1");
	assert_int_equal(set("ptt", "vox"), 0);
	assert_int_equal(conf.ptt, VOICE_PTT_VOX);
	assert_int_equal(set("priority", "command"), 0);
	assert_true(conf.command);
	assert_int_equal(set("mode", "mesh opus 24k swb 40ms"), 0);
	assert_int_equal(conf.mode[VOICE_LINK_MESH].bitrate, 24000);
	assert_int_equal(conf.mode[VOICE_LINK_MESH].sample_rate, 24000);
	assert_int_equal(conf.mode[VOICE_LINK_MESH].frame_ms, 40);
	assert_int_equal(set("mode", "narrowband codec2 2400"), 0);
	assert_int_equal(conf.mode[VOICE_LINK_NARROWBAND].bitrate, 2400);
	assert_int_equal(conf.mode[VOICE_LINK_NARROWBAND].frame_ms, 20);
	assert_false(conf.mode[VOICE_LINK_NARROWBAND].redundant);
	assert_int_equal(set("mode", "satellite codec2 700C 400ms redundant"), 0);
	assert_int_equal(conf.mode[VOICE_LINK_SATELLITE].bitrate, 700);
	assert_int_equal(conf.mode[VOICE_LINK_SATELLITE].frame_ms, 400);
	assert_true(conf.mode[VOICE_LINK_SATELLITE].redundant);
	assert_int_equal(set("mode", "ip none"), 0);
	assert_int_equal(conf.mode[VOICE_LINK_IP].codec, VOICE_CODEC_NONE);
	assert_int_equal(set("jitter_max", "120ms"), 0);
	assert_int_equal(conf.jitter_max_ms, 120);
	assert_int_equal(set("messages", "/srv/voice"), 0);
	assert_string_equal(conf.messages, "/srv/voice");
	assert_int_equal(set("keep", "36h"), 0);
	assert_int_equal(conf.keep_s, 36 * 3600);
	/* A mode line's codec2 frame with redundancy but no frame: the native one. */
	voice_conf_defaults(&conf);
	assert_int_equal(set("mode", "narrowband codec2 1600 redundant"), 0);
	assert_int_equal(conf.mode[VOICE_LINK_NARROWBAND].frame_ms, 40);
	assert_true(conf.mode[VOICE_LINK_NARROWBAND].redundant);
}

static void
test_errors(void **state)
{
	expect_bad("group", "rescue", "group: 'rescue' is not NAME ipn:N [ipn:M ...]");
	expect_bad("group", "rescue ipn:0", "group: rescue: member 'ipn:0' is not a node's ipn:N");
	expect_bad("group", "rescue ipn:1.5", "member 'ipn:1.5' is not a node's ipn:N");
	expect_bad("group", "rescue dtn://a", "member 'dtn://a' is not");
	expect_bad("group", "rescue ipn:2 ipn:2", "group: rescue: member ipn:2 given twice");
	expect_bad("group", "res/cue ipn:2", "group: name 'res/cue' is not 1 .. 31 letters");
	expect_bad("input", "mic", "input: 'mic' is not alsa:DEVICE, file:PATH or none");
	expect_bad("input", "alsa:", "input: 'alsa:' is not alsa:DEVICE");
	expect_bad("output", "pulse:default", "output: 'pulse:default' is not alsa:DEVICE");
	expect_bad("ptt", "button", "ptt: 'button' is not cli, gpio:CHIP:LINE");
	expect_bad("ptt", "gpio:gpiochip0", "is not cli, gpio:CHIP:LINE");
	expect_bad("ptt", "gpio::4", "is not cli, gpio:CHIP:LINE");
	expect_bad("ptt", "gpio:gpiochip0:x", "is not cli, gpio:CHIP:LINE");
	expect_bad("priority", "high", "priority: 'high' is not normal or command");
	expect_bad("mode", "radio codec2 3200", "mode: 'radio codec2 3200' is not CLASS MODE");
	expect_bad("mode", "mesh", "mode: 'mesh' is not CLASS MODE");
	expect_bad("mode", "mesh speex 8k", "mode: mesh: 'speex 8k' is not opus ..., codec2 ... or none");
	expect_bad("mode", "mesh opus 16k wb", "mode: mesh: 'opus 16k wb' is not 'opus RATE BW FRAME [redundant]'");
	expect_bad("mode", "mesh opus 2k wb 20ms", "opus: rate '2k' is not 6k .. 64k");
	expect_bad("mode", "mesh opus 16k xb 20ms", "opus: bandwidth 'xb' is not nb, mb, wb, swb or fb");
	expect_bad("mode", "mesh opus 16k wb 30ms", "opus: frame '30ms' is not 10, 20, 40");
	expect_bad("mode", "ip opus 8k nb 60ms twice", "is not 'opus RATE BW FRAME [redundant]'");
	expect_bad("mode", "narrowband codec2 9600", "codec2: rate '9600' is not 3200, 2400");
	expect_bad("mode", "narrowband codec2 1600 20ms", "codec2: frame '20ms' is not a multiple of 1600's 40ms");
	expect_bad("mode", "narrowband codec2 3200 800ms", "up to 400ms");
	expect_bad("mode", "narrowband codec2 3200 40ms redundant x", "is not 'codec2 RATE [FRAME] [redundant]'");
	expect_bad("jitter_max", "5ms", "jitter_max: '5ms' is not a duration from 20ms to 1s");
	expect_bad("jitter_max", "2s", "is not a duration from 20ms to 1s");
	expect_bad("messages", "voice", "messages: 'voice' is not an absolute path");
	expect_bad("keep", "10m", "keep: '10m' is not a duration from 1h to 366d");
	expect_bad("keep", "forever", "is not a duration");
	expect_bad("colour", "blue", "colour: not a key of [voice]");

	voice_conf_defaults(&conf);
	assert_int_equal(set("group", "a ipn:1"), 0);
	assert_int_equal(set("group", "a ipn:2"), -1);
	assert_non_null(strstr(msg, "group: a given twice"));
	assert_int_equal(set("mode", "mesh opus 16k wb 20ms"), 0);
	assert_int_equal(set("mode", "mesh opus 24k wb 20ms"), -1);
	assert_non_null(strstr(msg, "mode: mesh given twice"));
	assert_int_equal(conf.mode[VOICE_LINK_MESH].bitrate, 16000);
	voice_conf_defaults(&conf);
	for (int i = 0; i < VOICE_MAX_GROUPS; i++) {
		char g[64];

		snprintf(g, sizeof(g), "g%d ipn:1", i);
		assert_int_equal(set("group", g), 0);
	}
	assert_int_equal(set("group", "more ipn:1"), -1);
	assert_non_null(strstr(msg, "at most 16 talk groups"));
	/* A group of more members than a talk group holds. */
	{
		char big[1024] = "big";

		for (int i = 1; i <= VOICE_MAX_MEMBERS + 1; i++)
			snprintf(big + strlen(big), sizeof(big) - strlen(big), " ipn:%d", i);
		expect_bad("group", big, "group: big: at most 32 members");
	}
	/* The section needs a group. */
	voice_conf_defaults(&conf);
	assert_int_equal(voice_config_section.finish(&conf, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "[voice] needs a talk group"));
	assert_int_equal(set("group", "rescue ipn:1 ipn:2"), 0);
	assert_int_equal(voice_config_section.finish(&conf, msg, sizeof(msg)), 0);
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* The section in a node's config file: checked by the one parser, errors with file:line. */
static void
test_in_config_file(void **state)
{
	static struct config cfg;
	char path[] = "/tmp/test_voice_config.XXXXXX", err[1024], want[128];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	write_file(path, "[node]\nid = 1\n[voice]\ngroup = rescue ipn:1 ipn:2\ngroup = cmd ipn:1\n"
	    "mode = ip opus 8k nb 60ms redundant\nmode = narrowband codec2 2400\nptt = vox\nkeep = 7d\n");
	if (config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	write_file(path, "[node]\nid = 1\n[voice]\ngroup = rescue ipn:1\nmode = mesh opus 16k wb 30ms\n");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:5: ", path);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, "opus: frame '30ms'"))
		fail_msg("got '%s'", err);
	write_file(path, "[node]\nid = 1\n[voice]\ngroup = rescue ipn:1\n\npriority = loud\n");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:6: ", path);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, "priority: 'loud' is not normal or command"))
		fail_msg("got '%s'", err);
	/* A key given twice that does not repeat, and a section without a group (at its header). */
	write_file(path, "[node]\nid = 1\n[voice]\ngroup = rescue ipn:1\nptt = cli\nptt = vox\n");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:6: ", path);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, "ptt: set again in [voice]"))
		fail_msg("got '%s'", err);
	write_file(path, "[node]\nid = 1\n[voice]\nname = Team 3\n");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:3: ", path);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, "[voice] needs a talk group"))
		fail_msg("got '%s'", err);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_in_config_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
