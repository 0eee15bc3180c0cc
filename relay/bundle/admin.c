/*
 * admin.c - bundle status reports (RFC 9171 section 6.1), see admin.h.
 *
 * Wire format, as we write it (every array definite, shortest forms):
 *
 *   82                               administrative record: 2 elements
 *     01                             record type 1: bundle status report
 *     84 / 86                        the report: 4 elements, 6 for a fragment
 *       84                           status information, in this order:
 *         a a a a                    received, forwarded, delivered, deleted;
 *                                    a = 81 f4            not asserted
 *                                      | 81 f5            asserted
 *                                      | 82 f5 time       asserted at DTN ms
 *                                                         (only when the subject
 *                                                         had "report status time")
 *       reason                       uint, reason code (admin.h)
 *       eid                          the subject's source, as in bundle.c
 *       82 ctime seq                 the subject's creation timestamp
 *       [offset length]              subject is a fragment: its offset and
 *                                    payload length
 *
 * The decoder takes definite or indefinite arrays, a time on a status that
 * is not asserted (ignored), and rejects anything else: wrong types, missing
 * or extra elements, trailing bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "cbor.h"

#define REJECT(err, reason) do {	\
	*why = (reason);		\
	return -(err);			\
} while (0)

static const char *const status_names[ADMIN_STATUS_N] = {
	"received", "forwarded", "delivered", "deleted",
};

static const char *const reason_names[] = {
	[REASON_NONE] = "no additional information",
	[REASON_LIFETIME_EXPIRED] = "lifetime expired",
	[REASON_UNIDIRECTIONAL_LINK] = "forwarded over unidirectional link",
	[REASON_TRANSMISSION_CANCELED] = "transmission canceled",
	[REASON_DEPLETED_STORAGE] = "depleted storage",
	[REASON_DST_UNINTELLIGIBLE] = "destination endpoint ID unintelligible",
	[REASON_NO_ROUTE] = "no known route to destination from here",
	[REASON_NO_CONTACT] = "no timely contact with next node on route",
	[REASON_BLOCK_UNINTELLIGIBLE] = "block unintelligible",
	[REASON_HOP_LIMIT_EXCEEDED] = "hop limit exceeded",
	[REASON_TRAFFIC_PARED] = "traffic pared",
	[REASON_BLOCK_UNSUPPORTED] = "block unsupported",
};

const char *
admin_status_name(int status)
{
	return status >= 0 && status < ADMIN_STATUS_N ? status_names[status] : "?";
}

const char *
admin_reason_name(uint64_t reason)
{
	if (reason < sizeof(reason_names) / sizeof(reason_names[0]))
		return reason_names[reason];
	return "unknown reason";
}

int
admin_report_flag(const char *name, uint64_t *flag)
{
	static const struct { const char *name; uint64_t flag; } names[] = {
		{ "received", BF_RPT_RECEPTION }, { "forwarded", BF_RPT_FORWARDING },
		{ "delivered", BF_RPT_DELIVERY }, { "deleted", BF_RPT_DELETION },
		{ "time", BF_STATUS_TIME },
		{ "all", BF_RPT_RECEPTION | BF_RPT_FORWARDING | BF_RPT_DELIVERY | BF_RPT_DELETION },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0) {
			*flag = names[i].flag;
			return 0;
		}
	return -EINVAL;
}

ssize_t
admin_encode_status(const struct status_report *sr, uint8_t *out, size_t cap)
{
	struct cbor_writer w;

	if (sr->src.scheme != EID_IPN && sr->src.scheme != EID_DTN)
		return -EINVAL;
	cbor_writer_init(&w, out, cap);
	cbor_put_array(&w, 2);
	cbor_put_uint(&w, ADMIN_STATUS_REPORT);
	cbor_put_array(&w, sr->fragment ? 6 : 4);
	cbor_put_array(&w, ADMIN_STATUS_N);
	for (int i = 0; i < ADMIN_STATUS_N; i++) {
		bool timed = sr->asserted[i] && sr->has_time[i];

		cbor_put_array(&w, timed ? 2 : 1);
		cbor_put_bool(&w, sr->asserted[i]);
		if (timed)
			cbor_put_uint(&w, sr->time[i]);
	}
	cbor_put_uint(&w, sr->reason);
	eid_cbor_put(&w, &sr->src);
	cbor_put_array(&w, 2);
	cbor_put_uint(&w, sr->ctime);
	cbor_put_uint(&w, sr->seq);
	if (sr->fragment) {
		cbor_put_uint(&w, sr->frag_offset);
		cbor_put_uint(&w, sr->payload_len);
	}
	if (out == NULL)
		return (ssize_t)w.len;
	if (!cbor_writer_ok(&w))
		return -ENOSPC;
	return (ssize_t)w.len;
}

/* One status assertion: [bool] or [bool, time]. */
static int
read_assertion(struct cbor_reader *r, struct status_report *sr, int i, const char **why)
{
	uint64_t n, t;
	bool v;

	if (cbor_read_array(r, &n) < 0 || !cbor_next(r, &n) || cbor_read_bool(r, &v) < 0)
		REJECT(EBADMSG, "status assertion is not [true/false, (time)]");
	sr->asserted[i] = v;
	if (cbor_next(r, &n)) {
		if (cbor_read_uint(r, &t) < 0)
			REJECT(EBADMSG, "status time is not an unsigned integer");
		if (v) {
			sr->has_time[i] = true;
			sr->time[i] = t;
		}
	}
	if (cbor_next(r, &n))
		REJECT(EBADMSG, "status assertion has more than two elements");
	return 0;
}

static int
read_report(struct cbor_reader *r, struct status_report *sr, const char **why)
{
	uint64_t n, m, k = 0;
	int e;

	if (cbor_read_array(r, &n) < 0)
		REJECT(EBADMSG, "status report is not an array");
	if (!cbor_next(r, &n) || cbor_read_array(r, &m) < 0)
		REJECT(EBADMSG, "status information is not an array");
	for (int i = 0; i < ADMIN_STATUS_N; i++) {
		if (!cbor_next(r, &m))
			REJECT(EBADMSG, "status information has fewer than four assertions");
		if ((e = read_assertion(r, sr, i, why)) < 0)
			return e;
	}
	if (cbor_next(r, &m))
		REJECT(EBADMSG, "status information has more than four assertions");
	if (!cbor_next(r, &n) || cbor_read_uint(r, &sr->reason) < 0)
		REJECT(EBADMSG, "reason code missing or not an unsigned integer");
	if (!cbor_next(r, &n))
		REJECT(EBADMSG, "subject source EID missing");
	if ((e = eid_cbor_read(r, &sr->src)) < 0)
		REJECT(-e, "subject source EID is malformed");
	if (!cbor_next(r, &n) || cbor_read_array(r, &m) < 0 ||
	    !cbor_next(r, &m) || cbor_read_uint(r, &sr->ctime) < 0 ||
	    !cbor_next(r, &m) || cbor_read_uint(r, &sr->seq) < 0 || cbor_next(r, &m))
		REJECT(EBADMSG, "subject creation timestamp is not [time, sequence]");
	while (cbor_next(r, &n)) {
		if (k == 2)
			REJECT(EBADMSG, "status report has more than six elements");
		if (cbor_read_uint(r, k == 0 ? &sr->frag_offset : &sr->payload_len) < 0)
			REJECT(EBADMSG, "fragment offset or length is not an unsigned integer");
		k++;
	}
	if (k == 1)
		REJECT(EBADMSG, "fragment offset without a payload length");
	sr->fragment = k == 2;
	return 0;
}

int
admin_decode_status(struct status_report *sr, const uint8_t *buf, size_t len, const char **why)
{
	struct cbor_reader r;
	uint64_t n, type;
	int e;

	memset(sr, 0, sizeof(*sr));
	cbor_reader_init(&r, buf, len);
	if (cbor_read_array(&r, &n) < 0 || !cbor_next(&r, &n) || cbor_read_uint(&r, &type) < 0)
		REJECT(EBADMSG, "not an administrative record [type, content]");
	if (type != ADMIN_STATUS_REPORT)
		REJECT(EPROTONOSUPPORT, "administrative record is not a status report");
	if (!cbor_next(&r, &n))
		REJECT(EBADMSG, "administrative record without content");
	if ((e = read_report(&r, sr, why)) < 0)
		return e;
	if (cbor_next(&r, &n))
		REJECT(EBADMSG, "administrative record has more than two elements");
	if (cbor_left(&r) > 0)
		REJECT(EBADMSG, "trailing bytes after the administrative record");
	return 0;
}

/* snprintf at *n into out, keeping *n the length a big enough buffer would hold. */
static void appendf(char *out, size_t cap, int *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
appendf(char *out, size_t cap, int *n, const char *fmt, ...)
{
	size_t at = (size_t)*n < cap ? (size_t)*n : cap;
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(out + at, cap - at, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n += k;
}

int
admin_format(const struct status_report *sr, char *out, size_t cap)
{
	char src[BUNDLE_EID_MAX];
	int n = 0, k = 0;

	if (cap > 0)
		out[0] = '\0';
	eid_format(&sr->src, src, sizeof(src));
	appendf(out, cap, &n, "%s %" PRIu64 " %" PRIu64, src, sr->ctime, sr->seq);
	if (sr->fragment)
		appendf(out, cap, &n, " (fragment at %" PRIu64 ", %" PRIu64 " bytes)", sr->frag_offset,
		    sr->payload_len);
	for (int i = 0; i < ADMIN_STATUS_N; i++)
		if (sr->asserted[i])
			appendf(out, cap, &n, "%s%s", k++ ? ", " : ": ", status_names[i]);
	appendf(out, cap, &n, "%s (%s)", k ? "" : ": nothing asserted", admin_reason_name(sr->reason));
	return n;
}
