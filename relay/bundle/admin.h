/*
 * admin.h - administrative records (RFC 9171 section 6.1): bundle status
 * reports, encoded and strictly decoded.
 *
 * A status report is the payload of a bundle whose "is administrative
 * record" flag is set, sent by a node that received, forwarded, delivered or
 * deleted a bundle (the subject) to the subject's report-to endpoint, when
 * the subject's flags asked for it.  The decoder never reads outside its
 * buffer and never allocates.
 */
#ifndef FIELDRELAY_ADMIN_H
#define FIELDRELAY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bundle.h"

#define ADMIN_STATUS_REPORT	1	/* administrative record type code */
#define ADMIN_RECORD_MAX	(BUNDLE_EID_MAX + 128)	/* a status report encodes to less */

/* The four status indicators, in their order on the wire. */
enum admin_status {
	ADMIN_RECEIVED = 0,
	ADMIN_FORWARDED = 1,
	ADMIN_DELIVERED = 2,
	ADMIN_DELETED = 3,
	ADMIN_STATUS_N
};

/* Status report reason codes (RFC 9171 6.1.1, IANA registry). */
enum admin_reason {
	REASON_NONE = 0,
	REASON_LIFETIME_EXPIRED = 1,
	REASON_UNIDIRECTIONAL_LINK = 2,
	REASON_TRANSMISSION_CANCELED = 3,
	REASON_DEPLETED_STORAGE = 4,
	REASON_DST_UNINTELLIGIBLE = 5,
	REASON_NO_ROUTE = 6,
	REASON_NO_CONTACT = 7,
	REASON_BLOCK_UNINTELLIGIBLE = 8,
	REASON_HOP_LIMIT_EXCEEDED = 9,
	REASON_TRAFFIC_PARED = 10,
	REASON_BLOCK_UNSUPPORTED = 11,
};

struct status_report {
	bool asserted[ADMIN_STATUS_N];
	bool has_time[ADMIN_STATUS_N];	/* only where asserted */
	uint64_t time[ADMIN_STATUS_N];	/* DTN time, ms */
	uint64_t reason;		/* enum admin_reason, others carried */
	/* The subject bundle's identity. */
	struct eid src;
	uint64_t ctime, seq;
	bool fragment;
	uint64_t frag_offset;		/* if fragment */
	uint64_t payload_len;		/* of the fragment, if fragment */
};

/*
 * The administrative record [1, report] into out (cap bytes).  Returns its
 * length, -ENOSPC if cap is too small (out NULL: only the length), -EINVAL if
 * the source EID is invalid.
 */
ssize_t admin_encode_status(const struct status_report *sr, uint8_t *out, size_t cap);

/*
 * Decode an administrative record that must be a status report.  0, or
 * -EBADMSG (malformed), -EMSGSIZE (an EID over our limit) or
 * -EPROTONOSUPPORT (another record type) with *why a static reason.
 */
int admin_decode_status(struct status_report *sr, const uint8_t *buf, size_t len, const char **why);

/*
 * The bundle flags a sender sets to ask for reports, by name: "received",
 * "forwarded", "delivered", "deleted", "all" (the four), "time" (report
 * status time).  0, or -EINVAL for another name.
 */
int admin_report_flag(const char *name, uint64_t *flag);

/* "received", "forwarded", "delivered", "deleted". */
const char *admin_status_name(int status);
/* "lifetime expired", ..., "unknown reason". */
const char *admin_reason_name(uint64_t reason);
/* One line: "ipn:1.5 800000 3 delivered, forwarded (no additional information)".
 * Returns the length written (truncated like snprintf). */
int admin_format(const struct status_report *sr, char *out, size_t cap);

#endif
