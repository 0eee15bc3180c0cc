/*
 * dump.c - print a BPv7 bundle file human-readably or as JSON.
 *
 * The file is read whole (up to BUNDLE_MAX_SIZE), checked by the same strict
 * decoder the daemon uses, then walked block by block in wire order: the
 * decoder folds known blocks into struct bundle fields, bundle_blocks() gives
 * their numbers, flags and CRC types.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "bundle.h"
#include "dump.h"
#include "service.h"

#define PREVIEW_BYTES	32
#define DUMP_INVALID	1
#define DUMP_IO		2

struct flag_name {
	uint64_t bit;
	const char *name;
};

static const struct flag_name bundle_flags[] = {
	{ BF_IS_FRAGMENT, "fragment" },
	{ BF_ADMIN_RECORD, "admin-record" },
	{ BF_NO_FRAGMENT, "no-fragment" },
	{ BF_ACK_REQUESTED, "ack-requested" },
	{ BF_STATUS_TIME, "status-time" },
	{ BF_RPT_RECEPTION, "report-reception" },
	{ BF_RPT_FORWARDING, "report-forwarding" },
	{ BF_RPT_DELIVERY, "report-delivery" },
	{ BF_RPT_DELETION, "report-deletion" },
	{ 0, NULL }
};

static const struct flag_name block_flags[] = {
	{ BLF_REPLICATE, "replicate-in-fragments" },
	{ BLF_REPORT, "report-if-unprocessed" },
	{ BLF_DELETE_BUNDLE, "delete-bundle-if-unprocessed" },
	{ BLF_DISCARD, "discard-if-unprocessed" },
	{ 0, NULL }
};

static const char *
block_type_name(uint64_t type)
{
	switch (type) {
	case BLOCK_PAYLOAD:		return "payload";
	case BLOCK_PREVIOUS_NODE:	return "previous-node";
	case BLOCK_BUNDLE_AGE:		return "bundle-age";
	case BLOCK_HOP_COUNT:		return "hop-count";
	case 11:			return "block-integrity (BPSec)";
	case 12:			return "block-confidentiality (BPSec)";
	case BLOCK_PRIORITY:		return "priority (fieldrelay)";
	default:			return "unknown";
	}
}

static const char *
crc_name(int type)
{
	switch (type) {
	case CRC_NONE:	return "none";
	case CRC_16:	return "CRC-16/X.25";
	case CRC_32C:	return "CRC-32C";
	default:	return "unknown";
	}
}

/* "no-fragment, ack-requested, 0x800000" into buf; "none" for 0. */
static void
flags_text(uint64_t v, const struct flag_name *names, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (; names->name != NULL; names++) {
		if (v & names->bit) {
			n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s",
			    n ? ", " : "", names->name);
			v &= ~names->bit;
		}
	}
	if (v != 0)
		n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s0x%" PRIx64,
		    n ? ", " : "", v);
	if (n == 0)
		snprintf(buf, cap, "none");
}

static json_t *
flags_json(uint64_t v, const struct flag_name *names)
{
	json_t *a = json_array();
	char hex[24];

	for (; names->name != NULL; names++) {
		if (v & names->bit) {
			json_array_append_new(a, json_string(names->name));
			v &= ~names->bit;
		}
	}
	if (v != 0) {
		snprintf(hex, sizeof(hex), "0x%" PRIx64, v);
		json_array_append_new(a, json_string(hex));
	}
	return a;
}

/* jansson integers are signed 64-bit: larger values go out as strings. */
static json_t *
json_u64(uint64_t v)
{
	char s[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(s, sizeof(s), "%" PRIu64, v);
	return json_string(s);
}

/* DTN time (ms since 2000-01-01) as ISO 8601 UTC; false if out of range. */
static bool
dtn_time_utc(uint64_t ms, char *buf, size_t cap)
{
	uint64_t secs = ms / 1000 + DTN_EPOCH_UNIX_MS / 1000;
	time_t t;
	struct tm tm;
	char date[32];

	if (secs > 253402300799ULL)	/* 9999-12-31T23:59:59Z */
		return false;
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return false;
	snprintf(buf, cap, "%s.%03uZ", date, (unsigned)(ms % 1000));
	return true;
}

static void
duration_text(uint64_t ms, char *buf, size_t cap)
{
	uint64_t s = ms / 1000;

	snprintf(buf, cap, "%" PRIu64 "d %02u:%02u:%02u.%03u", s / 86400,
	    (unsigned)(s / 3600 % 24), (unsigned)(s / 60 % 60), (unsigned)(s % 60),
	    (unsigned)(ms % 1000));
}

static void
hex_preview(const uint8_t *p, size_t n, bool spaced, char *buf, size_t cap)
{
	size_t k = 0;

	buf[0] = '\0';
	if (n > PREVIEW_BYTES)
		n = PREVIEW_BYTES;
	for (size_t i = 0; i < n && k + (spaced && i ? 4 : 3) <= cap; i++)
		k += (size_t)snprintf(buf + k, cap - k, spaced && i ? " %02x" : "%02x", p[i]);
}

/* The first bytes as text if they are printable ASCII, else false. */
static bool
text_preview(const uint8_t *p, size_t n, char *buf, size_t cap)
{
	if (n > PREVIEW_BYTES)
		n = PREVIEW_BYTES;
	if (n + 1 > cap)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\n' && p[i] != '\t' && p[i] != '\r')
			return false;
		buf[i] = p[i] == '\n' || p[i] == '\t' || p[i] == '\r' ? ' ' : (char)p[i];
	}
	buf[n] = '\0';
	return true;
}

static void
print_data(FILE *out, const char *label, const uint8_t *p, size_t n)
{
	char hex[PREVIEW_BYTES * 3 + 1], text[PREVIEW_BYTES + 1];

	fprintf(out, "  %-15s%zu bytes\n", label, n);
	if (n == 0)
		return;
	hex_preview(p, n, true, hex, sizeof(hex));
	fprintf(out, "  %-15s%s%s\n", "hex", hex, n > PREVIEW_BYTES ? " ..." : "");
	if (text_preview(p, n, text, sizeof(text)))
		fprintf(out, "  %-15s\"%s\"%s\n", "text", text, n > PREVIEW_BYTES ? " ..." : "");
}

/* The payload of an administrative record: a status report, decoded. */
static void
print_admin(FILE *out, const struct bundle *b)
{
	char line[BUNDLE_EID_MAX + 160];
	struct status_report sr;
	const char *why;

	if (admin_decode_status(&sr, b->payload, b->payload_len, &why) < 0) {
		fprintf(out, "  %-15s%s\n", "admin record", why);
		return;
	}
	admin_format(&sr, line, sizeof(line));
	fprintf(out, "  %-15s%s\n", "status report", line);
	for (int i = 0; i < ADMIN_STATUS_N; i++)
		if (sr.has_time[i] && dtn_time_utc(sr.time[i], line, sizeof(line)))
			fprintf(out, "  %-15s%s\n", admin_status_name(i), line);
}

static void
print_text(FILE *out, const char *path, size_t size, const struct bundle *b,
    const struct bundle_block *blocks, int nblocks)
{
	char buf[BUNDLE_ID_MAX + 64], when[64];

	fprintf(out, "%s: BPv7 bundle, %zu bytes\n", path, size);
	bundle_id(b, buf, sizeof(buf));
	fprintf(out, "  %-15s%s\n", "id", buf);
	fprintf(out, "primary block\n");
	fprintf(out, "  %-15s7\n", "version");
	flags_text(b->flags, bundle_flags, buf, sizeof(buf));
	fprintf(out, "  %-15s0x%" PRIx64 " (%s)\n", "flags", b->flags, buf);
	fprintf(out, "  %-15s%s%s\n", "crc", crc_name(b->crc_type),
	    b->crc_type != CRC_NONE ? ", checked ok" : "");
	eid_format(&b->dst, buf, sizeof(buf));
	fprintf(out, "  %-15s%s\n", "destination", buf);
	eid_format(&b->src, buf, sizeof(buf));
	fprintf(out, "  %-15s%s\n", "source", buf);
	eid_format(&b->report_to, buf, sizeof(buf));
	fprintf(out, "  %-15s%s\n", "report-to", buf);
	if (b->ctime == 0)
		fprintf(out, "  %-15sno clock (0)\n", "creation time");
	else if (dtn_time_utc(b->ctime, when, sizeof(when)))
		fprintf(out, "  %-15s%" PRIu64 " ms (%s)\n", "creation time", b->ctime, when);
	else
		fprintf(out, "  %-15s%" PRIu64 " ms (out of range)\n", "creation time", b->ctime);
	fprintf(out, "  %-15s%" PRIu64 "\n", "sequence", b->seq);
	duration_text(b->lifetime, when, sizeof(when));
	fprintf(out, "  %-15s%" PRIu64 " ms (%s)\n", "lifetime", b->lifetime, when);
	if (b->flags & BF_IS_FRAGMENT) {
		fprintf(out, "  %-15s%" PRIu64 "\n", "frag offset", b->frag_offset);
		fprintf(out, "  %-15s%" PRIu64 "\n", "ADU length", b->adu_len);
	}

	for (int i = 0; i < nblocks; i++) {
		const struct bundle_block *k = &blocks[i];

		fprintf(out, "block %" PRIu64 ": %s (type %" PRIu64 ")\n", k->number,
		    block_type_name(k->type), k->type);
		flags_text(k->flags, block_flags, buf, sizeof(buf));
		fprintf(out, "  %-15s0x%" PRIx64 " (%s)\n", "flags", k->flags, buf);
		fprintf(out, "  %-15s%s%s\n", "crc", crc_name(k->crc_type),
		    k->crc_type != CRC_NONE ? ", checked ok" : "");
		switch (k->type) {
		case BLOCK_PAYLOAD:
			print_data(out, "length", b->payload, b->payload_len);
			if (b->flags & BF_ADMIN_RECORD)
				print_admin(out, b);
			break;
		case BLOCK_PREVIOUS_NODE:
			eid_format(&b->prev, buf, sizeof(buf));
			fprintf(out, "  %-15s%s\n", "node", buf);
			break;
		case BLOCK_BUNDLE_AGE:
			duration_text(b->age, when, sizeof(when));
			fprintf(out, "  %-15s%" PRIu64 " ms (%s)\n", "age", b->age, when);
			break;
		case BLOCK_HOP_COUNT:
			fprintf(out, "  %-15s%" PRIu64 " of %" PRIu64 "\n", "hops",
			    b->hop_count, b->hop_limit);
			break;
		case BLOCK_PRIORITY:
			fprintf(out, "  %-15s%d (%s)\n", "priority", b->priority,
			    prio_name(b->priority));
			break;
		default:
			print_data(out, "data", k->data, k->len);
			break;
		}
	}
}

static void
json_data(json_t *o, const char *prefix, const uint8_t *p, size_t n)
{
	char key[32], hex[PREVIEW_BYTES * 2 + 1], text[PREVIEW_BYTES + 1];

	snprintf(key, sizeof(key), "%s_length", prefix);
	json_object_set_new(o, key, json_u64(n));
	hex_preview(p, n, false, hex, sizeof(hex));
	snprintf(key, sizeof(key), "%s_preview_hex", prefix);
	json_object_set_new(o, key, json_string(hex));
	snprintf(key, sizeof(key), "%s_preview_text", prefix);
	json_object_set_new(o, key, text_preview(p, n, text, sizeof(text)) ?
	    json_string(text) : json_null());
}

static json_t *
eid_json(const struct eid *e)
{
	char buf[BUNDLE_EID_MAX];

	eid_format(e, buf, sizeof(buf));
	return json_string(buf);
}

static void
json_admin(json_t *k, const struct bundle *b)
{
	struct status_report sr;
	json_t *st, *times, *r;
	const char *why;

	if (admin_decode_status(&sr, b->payload, b->payload_len, &why) < 0) {
		json_object_set_new(k, "admin_record_error", json_string(why));
		return;
	}
	st = json_array();
	times = json_object();
	for (int i = 0; i < ADMIN_STATUS_N; i++) {
		if (sr.asserted[i])
			json_array_append_new(st, json_string(admin_status_name(i)));
		if (sr.has_time[i])
			json_object_set_new(times, admin_status_name(i), json_u64(sr.time[i]));
	}
	r = json_pack("{s:o, s:o, s:o, s:s, s:o, s:o, s:o}", "status", st, "times", times,
	    "reason", json_u64(sr.reason), "reason_text", admin_reason_name(sr.reason),
	    "subject_source", eid_json(&sr.src), "subject_creation_time_ms", json_u64(sr.ctime),
	    "subject_sequence", json_u64(sr.seq));
	if (sr.fragment) {
		json_object_set_new(r, "subject_fragment_offset", json_u64(sr.frag_offset));
		json_object_set_new(r, "subject_payload_length", json_u64(sr.payload_len));
	}
	json_object_set_new(k, "status_report", r);
}

static json_t *
make_json(const char *path, size_t size, const struct bundle *b,
    const struct bundle_block *blocks, int nblocks)
{
	json_t *root = json_object(), *p = json_object(), *list = json_array(), *k;
	char buf[BUNDLE_ID_MAX], when[64];

	json_object_set_new(root, "file", json_string(path));
	json_object_set_new(root, "size", json_u64(size));
	bundle_id(b, buf, sizeof(buf));
	json_object_set_new(root, "id", json_string(buf));

	json_object_set_new(p, "version", json_integer(7));
	json_object_set_new(p, "flags", json_u64(b->flags));
	json_object_set_new(p, "flag_names", flags_json(b->flags, bundle_flags));
	json_object_set_new(p, "crc_type", json_string(crc_name(b->crc_type)));
	json_object_set_new(p, "crc_checked", json_boolean(b->crc_type != CRC_NONE));
	json_object_set_new(p, "destination", eid_json(&b->dst));
	json_object_set_new(p, "source", eid_json(&b->src));
	json_object_set_new(p, "report_to", eid_json(&b->report_to));
	json_object_set_new(p, "creation_time_ms", json_u64(b->ctime));
	json_object_set_new(p, "creation_time_utc", b->ctime != 0 &&
	    dtn_time_utc(b->ctime, when, sizeof(when)) ? json_string(when) : json_null());
	json_object_set_new(p, "sequence", json_u64(b->seq));
	json_object_set_new(p, "lifetime_ms", json_u64(b->lifetime));
	if (b->flags & BF_IS_FRAGMENT) {
		json_object_set_new(p, "fragment_offset", json_u64(b->frag_offset));
		json_object_set_new(p, "total_adu_length", json_u64(b->adu_len));
	}
	json_object_set_new(root, "primary", p);

	for (int i = 0; i < nblocks; i++) {
		const struct bundle_block *blk = &blocks[i];

		k = json_object();
		json_object_set_new(k, "number", json_u64(blk->number));
		json_object_set_new(k, "type", json_u64(blk->type));
		json_object_set_new(k, "type_name", json_string(block_type_name(blk->type)));
		json_object_set_new(k, "flags", json_u64(blk->flags));
		json_object_set_new(k, "flag_names", flags_json(blk->flags, block_flags));
		json_object_set_new(k, "crc_type", json_string(crc_name(blk->crc_type)));
		json_object_set_new(k, "crc_checked", json_boolean(blk->crc_type != CRC_NONE));
		switch (blk->type) {
		case BLOCK_PAYLOAD:
			json_data(k, "payload", b->payload, b->payload_len);
			if (b->flags & BF_ADMIN_RECORD)
				json_admin(k, b);
			break;
		case BLOCK_PREVIOUS_NODE:
			json_object_set_new(k, "node", eid_json(&b->prev));
			break;
		case BLOCK_BUNDLE_AGE:
			json_object_set_new(k, "age_ms", json_u64(b->age));
			break;
		case BLOCK_HOP_COUNT:
			json_object_set_new(k, "hop_limit", json_u64(b->hop_limit));
			json_object_set_new(k, "hop_count", json_u64(b->hop_count));
			break;
		case BLOCK_PRIORITY:
			json_object_set_new(k, "priority", json_integer(b->priority));
			json_object_set_new(k, "priority_name", json_string(prio_name(b->priority)));
			break;
		default:
			json_data(k, "data", blk->data, blk->len);
			break;
		}
		json_array_append_new(list, k);
	}
	json_object_set_new(root, "blocks", list);
	return root;
}

/*
 * Read all of fd, refusing more than BUNDLE_MAX_SIZE bytes (-EFBIG).
 * Regular files are sized up front; pipes are read in growing chunks.
 */
static int
read_all(int fd, uint8_t **bufp, size_t *lenp)
{
	size_t cap = 64 << 10, len = 0;
	uint8_t *buf = NULL, *nb;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > BUNDLE_MAX_SIZE)
			return -EFBIG;
		cap = (size_t)st.st_size + 1;
	}
	for (;;) {
		if (len == cap || buf == NULL) {
			if (buf != NULL)
				cap = cap * 2 > (size_t)BUNDLE_MAX_SIZE + 1 ?
				    (size_t)BUNDLE_MAX_SIZE + 1 : cap * 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > BUNDLE_MAX_SIZE) {
			free(buf);
			return -EFBIG;
		}
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

/* An error on stderr and, for --json, as {"ok": false, "path", "error"} on out too. */
static void
dump_error(bool json, FILE *out, const char *path, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
dump_error(bool json, FILE *out, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", path, msg);
	if (json && (o = json_pack("{s:b, s:s, s:s}", "ok", 0, "path", path, "error", msg)) != NULL) {
		json_dumpf(o, out, JSON_COMPACT);
		fputc('\n', out);
		fflush(out);
		json_decref(o);
	}
}

int
dump_bundle_file(const char *path, bool json, FILE *out)
{
	struct bundle_block blocks[BUNDLE_MAX_BLOCKS + 1];
	struct bundle b;
	const char *why = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd, e, nblocks, ret = 0;
	json_t *root;

	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		dump_error(json, out, path, "cannot read: %s", strerror(errno));
		return DUMP_IO;
	}
	e = read_all(fd, &buf, &len);
	if (fd != STDIN_FILENO)
		close(fd);
	if (e == -EFBIG) {
		dump_error(json, out, path, "invalid bundle: larger than BUNDLE_MAX_SIZE (%u bytes)", BUNDLE_MAX_SIZE);
		return DUMP_INVALID;
	}
	if (e < 0) {
		dump_error(json, out, path, "cannot read: %s", strerror(-e));
		return DUMP_IO;
	}

	if ((e = bundle_decode(&b, buf, len, &why)) < 0 ||
	    (nblocks = bundle_blocks(buf, len, blocks, BUNDLE_MAX_BLOCKS + 1, &why)) < 0) {
		dump_error(json, out, path, "invalid bundle: %s", why);
		ret = DUMP_INVALID;
		goto out;
	}
	if (json) {
		root = make_json(path, len, &b, blocks, nblocks);
		if (json_dumpf(root, out, JSON_INDENT(2)) < 0 || fputc('\n', out) == EOF)
			ret = DUMP_IO;
		json_decref(root);
	} else {
		print_text(out, path, len, &b, blocks, nblocks);
	}
	if (fflush(out) == EOF || ferror(out))
		ret = DUMP_IO;
	if (ret == DUMP_IO)
		fprintf(stderr, "%s: cannot write the dump: %s\n", path, strerror(errno));
out:
	free(buf);
	return ret;
}
