/*
 * bundletool - drive the bundle codec from the interop tests.
 *
 *   bundletool encode JSON|-     bundle described by JSON -> bytes on stdout
 *   bundletool decode FILE       dump_bundle_file() as JSON
 *   bundletool text FILE         dump_bundle_file() as text
 *   bundletool payload FILE      the payload bytes
 *   bundletool reencode FILE     decode, encode again -> bytes on stdout
 *   bundletool id FILE           bundle_id()
 *
 * encode starts from bundle_init() and applies the keys present: dst, src,
 * report_to (EID text); flags, crc_type, ctime, seq, lifetime, payload_flags,
 * payload_crc (integers, or decimal strings above 2^63); fragment [offset,
 * adu_len]; prev (EID or null); age (int or null); hop ([limit, count] or
 * null); priority (int or null); payload_hex, or payload_pattern N for N
 * bytes of 0, 1, ... 255, 0, ...; other [{type, number, flags, crc_type,
 * data_hex}]; stream (true: write head, payload, tail separately).
 *
 * Exit status: 0 done, 1 invalid bundle or refused encode, 2 usage or I/O.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "dump.h"

/* Everything allocated, freed at exit so LeakSanitizer stays quiet. */
static uint8_t *file_buf, *payload_buf, *out_buf;
static uint8_t *other_buf[BUNDLE_MAX_BLOCKS];
static json_t *spec;

static void
cleanup(void)
{
	free(file_buf);
	free(payload_buf);
	free(out_buf);
	for (size_t i = 0; i < BUNDLE_MAX_BLOCKS; i++)
		free(other_buf[i]);
	json_decref(spec);
}

static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = BUNDLE_MAX_SIZE + 1, n;
	uint8_t *buf;

	if (f == NULL || (buf = malloc(cap)) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
	n = fread(buf, 1, cap, f);
	if (ferror(f)) {
		fprintf(stderr, "%s: read error\n", path);
		exit(2);
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	file_buf = buf;
	return buf;
}

static void
write_all(const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, stdout) != n) {
		fprintf(stderr, "bundletool: write error\n");
		exit(2);
	}
}

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "bundletool: %s\n", what);
	exit(2);
}

static uint64_t
get_u64(json_t *v, const char *what)
{
	char *end;
	unsigned long long u;

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return (uint64_t)json_integer_value(v);
	if (json_is_string(v)) {
		errno = 0;
		u = strtoull(json_string_value(v), &end, 10);
		if (errno == 0 && *end == '\0' && end != json_string_value(v))
			return u;
	}
	die(what);
}

/* Hex text to freshly allocated bytes. */
static uint8_t *
unhex(json_t *v, size_t *n)
{
	const char *s = json_string_value(v);
	size_t len;
	uint8_t *out;
	unsigned x;

	if (s == NULL || (len = strlen(s)) % 2 != 0)
		die("bad hex");
	if ((out = malloc(len / 2 + 1)) == NULL)
		die("out of memory");
	for (size_t i = 0; i < len / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &x) != 1)
			die("bad hex");
		out[i] = (uint8_t)x;
	}
	*n = len / 2;
	return out;
}

static void
get_eid(json_t *o, const char *key, struct eid *e)
{
	json_t *v = json_object_get(o, key);

	if (v != NULL && (!json_is_string(v) || eid_parse(e, json_string_value(v)) < 0))
		die(key);
}

static int
cmd_encode(const char *arg)
{
	json_t *o, *v, *x;
	json_error_t err;
	struct bundle b;
	uint8_t *payload = NULL, *out;
	ssize_t n, h, t;
	size_t i;

	o = strcmp(arg, "-") == 0 ? json_loadf(stdin, 0, &err) : json_loads(arg, 0, &err);
	spec = o;
	if (o == NULL || !json_is_object(o)) {
		fprintf(stderr, "bundletool: bad JSON: %s\n", err.text);
		return 2;
	}
	bundle_init(&b);
	get_eid(o, "dst", &b.dst);
	get_eid(o, "src", &b.src);
	get_eid(o, "report_to", &b.report_to);
#define U64(key, field) if ((v = json_object_get(o, key)) != NULL) b.field = get_u64(v, key)
	U64("flags", flags);
	U64("ctime", ctime);
	U64("seq", seq);
	U64("lifetime", lifetime);
	U64("payload_flags", payload_flags);
#undef U64
	if ((v = json_object_get(o, "crc_type")) != NULL)
		b.crc_type = (uint8_t)get_u64(v, "crc_type");
	if ((v = json_object_get(o, "payload_crc")) != NULL)
		b.payload_crc = (uint8_t)get_u64(v, "payload_crc");
	if ((v = json_object_get(o, "fragment")) != NULL) {
		b.frag_offset = get_u64(json_array_get(v, 0), "fragment");
		b.adu_len = get_u64(json_array_get(v, 1), "fragment");
	}
	if ((v = json_object_get(o, "prev")) != NULL) {
		b.has_prev = !json_is_null(v);
		if (b.has_prev)
			get_eid(o, "prev", &b.prev);
	}
	if ((v = json_object_get(o, "age")) != NULL) {
		b.has_age = !json_is_null(v);
		if (b.has_age)
			b.age = get_u64(v, "age");
	}
	if ((v = json_object_get(o, "hop")) != NULL) {
		b.has_hop = !json_is_null(v);
		if (b.has_hop) {
			b.hop_limit = get_u64(json_array_get(v, 0), "hop");
			b.hop_count = get_u64(json_array_get(v, 1), "hop");
		}
	}
	if ((v = json_object_get(o, "priority")) != NULL)
		b.priority = json_is_null(v) ? -1 : (int)json_integer_value(v);
	if ((v = json_object_get(o, "payload_hex")) != NULL) {
		payload = payload_buf = unhex(v, &b.payload_len);
	} else if ((v = json_object_get(o, "payload_pattern")) != NULL) {
		b.payload_len = get_u64(v, "payload_pattern");
		if ((payload = payload_buf = malloc(b.payload_len + 1)) == NULL)
			die("out of memory");
		for (i = 0; i < b.payload_len; i++)
			payload[i] = (uint8_t)i;
	}
	b.payload = payload;
	json_array_foreach(json_object_get(o, "other"), i, x) {
		struct bundle_block *k = &b.other[b.n_other];

		if (b.n_other == BUNDLE_MAX_BLOCKS)
			die("too many other blocks");
		k->type = get_u64(json_object_get(x, "type"), "other.type");
		k->number = get_u64(json_object_get(x, "number"), "other.number");
		if ((v = json_object_get(x, "flags")) != NULL)
			k->flags = get_u64(v, "other.flags");
		if ((v = json_object_get(x, "crc_type")) != NULL)
			k->crc_type = (uint8_t)get_u64(v, "other.crc_type");
		k->data = other_buf[b.n_other] = unhex(json_object_get(x, "data_hex"), &k->len);
		b.n_other++;
	}

	if (json_is_true(json_object_get(o, "stream"))) {
		h = bundle_encode_head(&b, NULL, 0);
		t = bundle_encode_tail(&b, NULL, 0);
		if (h < 0 || t < 0) {
			fprintf(stderr, "bundletool: encode: %s\n", strerror((int)-(h < 0 ? h : t)));
			return 1;
		}
		if ((out = out_buf = malloc((size_t)(h > t ? h : t))) == NULL)
			die("out of memory");
		if (bundle_encode_head(&b, out, (size_t)h) != h)
			die("head changed size");
		write_all(out, (size_t)h);
		write_all(b.payload, b.payload_len);
		if (bundle_encode_tail(&b, out, (size_t)t) != t)
			die("tail changed size");
		write_all(out, (size_t)t);
	} else {
		if ((n = bundle_encode(&b, NULL, 0)) < 0) {
			fprintf(stderr, "bundletool: encode: %s\n", strerror((int)-n));
			return 1;
		}
		if ((out = out_buf = malloc((size_t)n)) == NULL)
			die("out of memory");
		if (bundle_encode(&b, out, (size_t)n) != n)
			die("bundle changed size");
		write_all(out, (size_t)n);
	}
	return fflush(stdout) == 0 ? 0 : 2;
}

/* Decode FILE for the commands that need the struct; exits if invalid. */
static uint8_t *
load(const char *path, struct bundle *b)
{
	const char *why;
	size_t len;
	uint8_t *buf = read_file(path, &len);

	if (bundle_decode(b, buf, len, &why) < 0) {
		fprintf(stderr, "%s: invalid bundle: %s\n", path, why);
		exit(1);
	}
	return buf;
}

int
main(int argc, char **argv)
{
	char id[BUNDLE_ID_MAX];
	struct bundle b;
	uint8_t *out;
	ssize_t n;

	atexit(cleanup);
	if (argc != 3) {
		fprintf(stderr, "usage: bundletool encode|decode|text|payload|reencode|id ARG\n");
		return 2;
	}
	if (strcmp(argv[1], "encode") == 0)
		return cmd_encode(argv[2]);
	if (strcmp(argv[1], "decode") == 0)
		return dump_bundle_file(argv[2], true, stdout);
	if (strcmp(argv[1], "text") == 0)
		return dump_bundle_file(argv[2], false, stdout);
	load(argv[2], &b);
	if (strcmp(argv[1], "payload") == 0) {
		write_all(b.payload, b.payload_len);
	} else if (strcmp(argv[1], "reencode") == 0) {
		if ((n = bundle_encode(&b, NULL, 0)) < 0 || (out = out_buf = malloc((size_t)n)) == NULL ||
		    bundle_encode(&b, out, (size_t)n) != n) {
			fprintf(stderr, "bundletool: re-encode failed\n");
			return 1;
		}
		write_all(out, (size_t)n);
	} else if (strcmp(argv[1], "id") == 0) {
		if (bundle_id(&b, id, sizeof(id)) < 0)
			return 1;
		printf("%s\n", id);
	} else {
		fprintf(stderr, "bundletool: unknown command %s\n", argv[1]);
		return 2;
	}
	return fflush(stdout) == 0 ? 0 : 2;
}
