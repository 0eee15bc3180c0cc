/*
 * fuzz_track_export.c - libFuzzer target for what the track exports do with
 * names that come from the network (relay/track/export.c), and for the
 * --since parser (relay/track/track_cli.c).
 *
 * The input is a unit name, a link name and a time: the CoT event made of
 * them must be valid UTF-8 with no control character, its unit escaped (the
 * count of '"' and '<' fixed whatever the name), and fit its buffer or say
 * -ENOSPC; the JSON string must be one string (two unescaped quotes); the
 * time as ISO 8601 is always 24 characters.  Any break aborts.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "track_cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_track_export: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

/* Valid UTF-8 and no C0 control character (nor DEL). */
static void
check_text(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;

		CHECK(c >= 0x20 && c != 0x7f);
		CHECK(c < 0x80 || (c >= 0xc2 && c <= 0xf4));
		CHECK(i + len <= n);
		for (size_t k = 1; k < len; k++)
			CHECK((p[i + k] & 0xc0) == 0x80);
		i += len;
	}
}

static size_t
count(const char *s, char ch)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == ch;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char ref[4096];
	struct track_row r;
	char buf[4096], t[EXPORT_TIME_LEN], since[64];
	size_t cut = size > 0 ? data[0] % 64 : 0;
	int64_t ms = 0;
	int len, rlen;

	memset(&r, 0, sizeof(r));
	fix_init(&r.fix);
	if (size >= 9)
		memcpy(&ms, data + 1, 8);
	data += size >= 9 ? 9 : size;
	size -= size >= 9 ? 9 : size;
	if (cut > size)
		cut = size;
	memcpy(r.unit, data, cut < sizeof(r.unit) - 1 ? cut : sizeof(r.unit) - 1);
	memcpy(r.link, data + cut, size - cut < sizeof(r.link) - 1 ? size - cut : sizeof(r.link) - 1);
	r.fix.time_ms = ms;
	r.fix.lat = (double)(ms % 90);
	r.fix.lon = (double)(ms % 180);
	r.fix.kind = ms & 1 ? FIX_DRONE : FIX_PERSON;
	r.fix.source = (enum fix_source)((uint64_t)ms % FIX_SOURCE_COUNT);
	if (ms & 2) {
		r.fix.speed = 3;
		r.fix.course = 45;
	}

	export_time(ms, t);
	CHECK(strlen(t) == EXPORT_TIME_LEN - 1 && t[10] == 'T' && t[23] == 'Z');

	len = export_cot_event(&r, (uint32_t)(ms & 0xffff), true, buf, sizeof(buf));
	CHECK(len > 0 && (size_t)len == strlen(buf));
	check_text((const unsigned char *)buf, (size_t)len);
	/* The same event for an innocent name has as many quotes and tags: the name added none. */
	{
		struct track_row plain = r;

		snprintf(plain.unit, sizeof(plain.unit), "u");
		rlen = export_cot_event(&plain, (uint32_t)(ms & 0xffff), true, ref, sizeof(ref));
		CHECK(rlen > 0);
		CHECK(count(buf, '"') == count(ref, '"'));
		CHECK(count(buf, '<') == count(ref, '<'));
		CHECK(count(buf, '>') == count(ref, '>'));
	}
	/* Too small a buffer: -ENOSPC, never a cut event. */
	CHECK(export_cot_event(&r, 0, true, buf, (size_t)len / 2 + 1) == -ENOSPC);

	{
		char *js = NULL;
		size_t jlen = 0;
		FILE *fp = open_memstream(&js, &jlen);
		size_t quotes = 0;

		CHECK(fp != NULL);
		export_json_string(fp, r.unit);
		fclose(fp);
		check_text((const unsigned char *)js, jlen);
		for (size_t i = 0; i < jlen; i++) {
			if (js[i] == '\\')
				i++;
			else if (js[i] == '"')
				quotes++;
		}
		CHECK(quotes == 2 && js[0] == '"' && js[jlen - 1] == '"');
		free(js);
	}

	/* --since: any text parses or is refused, never crashes. */
	snprintf(since, sizeof(since), "%s", r.link);
	(void)track_cli_parse_time(since, 1700000000000LL);
	(void)track_cli_parse_time(r.unit, 1700000000000LL);
	return 0;
}
