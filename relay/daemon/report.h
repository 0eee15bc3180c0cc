/*
 * report.h - bundle status reports as this node sends and receives them
 * (RFC 9171 sections 5.4, 5.6, 5.7, 5.10 and 6.1.1).
 *
 * A report goes out when the subject bundle's flags ask for that status
 * (BF_RPT_* in bundle.h), never for an administrative record itself, and
 * only to an ipn report-to endpoint (dtn:none means "no reports"; dtn
 * report-to endpoints we cannot route).  It is a bundle of its own: source
 * ipn:NODE.0, report-to dtn:none, the subject's priority class, the default
 * lifetime, built here and stored through node_send() like any other (node_report()).  Where:
 *   received   node.c, once a bundle from a link is durable here
 *   forwarded  forward.c, once a next hop committed it (a flood bundle: the
 *              first neighbour only, one report per node)
 *   delivered  node_delivered(), when the local application takes it
 *   deleted    hop limit exceeded or lifetime over on arrival (node.c), and
 *              lifetime expired in the store (store_on_expired())
 * At the report-to node, reports arrive at service 0 like any local bundle
 * (`fieldrelay reports` takes and decodes them) and are logged.
 */
#ifndef FIELDRELAY_REPORT_H
#define FIELDRELAY_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "admin.h"
#include "bundle.h"

/* What a report needs of its subject: a small copy, kept while it is stored. */
struct report_subject {
	uint64_t flags;			/* BF_* */
	struct eid src, report_to;
	uint64_t ctime, seq;
	uint64_t frag_offset, payload_len;
	int priority;			/* enum prio, -1 unknown */
};

void report_subject_of(struct report_subject *s, const struct bundle *b);
/* Do these bundle flags ask for a report of status (enum admin_status)? */
bool report_wanted(uint64_t flags, int status);
/*
 * The administrative record of a report of status (enum admin_status) on s,
 * into rec: its length, 0 if s asked for no such report, or -errno.  The
 * time is stamped only when clock_trusted.  node_report() sends it.
 */
ssize_t report_record(const struct report_subject *s, int status, uint64_t reason, bool clock_trusted, uint8_t *rec,
    size_t cap);
/* The class a report on s travels in: the subject's, never realtime. */
int report_priority(const struct report_subject *s);
/* A status report for this node arrived from `from`: log it decoded. */
void report_log(const struct eid *from, const uint8_t *payload, size_t len);

#endif
