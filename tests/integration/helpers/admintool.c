/*
 * admintool - drive the status report codec (relay/bundle/admin.c) from the interop
 * tests.
 *
 *   admintool encode JSON|-    status report described by JSON -> record bytes
 *   admintool decode FILE|-    record bytes -> JSON with the same keys
 *
 * JSON keys: asserted (names: received, forwarded, delivered, deleted),
 * times {name: DTN ms}, reason, src (EID text), ctime, seq, fragment
 * [offset, length] (absent: not a fragment).  Integers above 2^63 as
 * decimal strings.  Exit status: 0 done, 1 refused, 2 usage or I/O.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

static void die(const char *what) __attribute__((noreturn));

static void
die(const char *what)
{
	fprintf(stderr, "admintool: %s\n", what);
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

static int
status_index(const char *name)
{
	for (int i = 0; i < ADMIN_STATUS_N; i++)
		if (strcmp(name, admin_status_name(i)) == 0)
			return i;
	die("unknown status name");
}

/* JSON cannot hold every uint64: above 2^63 as a string. */
static json_t *
u64_json(uint64_t v)
{
	char s[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(s, sizeof(s), "%" PRIu64, v);
	return json_string(s);
}

static int
cmd_encode(const char *arg)
{
	struct status_report sr = { 0 };
	uint8_t out[ADMIN_RECORD_MAX];
	json_error_t err;
	const char *k;
	json_t *o, *v;
	size_t i;
	ssize_t n;

	o = strcmp(arg, "-") == 0 ? json_loadf(stdin, 0, &err) : json_loads(arg, 0, &err);
	if (o == NULL || !json_is_object(o))
		die("bad JSON");
	json_array_foreach(json_object_get(o, "asserted"), i, v)
		sr.asserted[status_index(json_string_value(v) ? json_string_value(v) : "")] = true;
	json_object_foreach(json_object_get(o, "times"), k, v) {
		int s = status_index(k);

		sr.has_time[s] = true;
		sr.time[s] = get_u64(v, "times");
	}
	if ((v = json_object_get(o, "reason")) != NULL)
		sr.reason = get_u64(v, "reason");
	if (!json_is_string(json_object_get(o, "src")) ||
	    eid_parse(&sr.src, json_string_value(json_object_get(o, "src"))) < 0)
		die("src");
	sr.ctime = get_u64(json_object_get(o, "ctime"), "ctime");
	sr.seq = get_u64(json_object_get(o, "seq"), "seq");
	if ((v = json_object_get(o, "fragment")) != NULL) {
		sr.fragment = true;
		sr.frag_offset = get_u64(json_array_get(v, 0), "fragment");
		sr.payload_len = get_u64(json_array_get(v, 1), "fragment");
	}
	json_decref(o);
	if ((n = admin_encode_status(&sr, out, sizeof(out))) < 0) {
		fprintf(stderr, "admintool: encode: %s\n", strerror((int)-n));
		return 1;
	}
	if (fwrite(out, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0)
		die("write error");
	return 0;
}

static int
cmd_decode(const char *path)
{
	static uint8_t buf[1 << 16];
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct status_report sr;
	json_t *o, *names, *times;
	const char *why;
	size_t n;
	char src[BUNDLE_EID_MAX];
	int e;

	if (f == NULL)
		die(strerror(errno));
	n = fread(buf, 1, sizeof(buf), f);
	if (f != stdin)
		fclose(f);
	if ((e = admin_decode_status(&sr, buf, n, &why)) < 0) {
		o = json_pack("{s:s, s:s}", "error", why, "errno", strerror(-e));
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
		return 1;
	}
	names = json_array();
	times = json_object();
	for (int i = 0; i < ADMIN_STATUS_N; i++) {
		if (sr.asserted[i])
			json_array_append_new(names, json_string(admin_status_name(i)));
		if (sr.has_time[i])
			json_object_set_new(times, admin_status_name(i), u64_json(sr.time[i]));
	}
	eid_format(&sr.src, src, sizeof(src));
	o = json_pack("{s:o, s:o, s:o, s:s, s:o, s:o}", "asserted", names, "times", times,
	    "reason", u64_json(sr.reason), "src", src, "ctime", u64_json(sr.ctime), "seq", u64_json(sr.seq));
	if (sr.fragment)
		json_object_set_new(o, "fragment", json_pack("[o, o]", u64_json(sr.frag_offset),
		    u64_json(sr.payload_len)));
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: admintool encode|decode ARG\n");
		return 2;
	}
	if (strcmp(argv[1], "encode") == 0)
		return cmd_encode(argv[2]);
	if (strcmp(argv[1], "decode") == 0)
		return cmd_decode(argv[2]);
	fprintf(stderr, "admintool: unknown command %s\n", argv[1]);
	return 2;
}
