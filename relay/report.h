/*
 * report.h - bundle status reports as this node sends and receives them
 * (RFC 9171 sections 5.4, 5.6, 5.7, 5.10 and 6.1.1).
 *
 * A report goes out when the subject bundle's flags ask for that status
 * (BF_RPT_* in bundle.h), never for an administrative record itself, and
 * only to an ipn report-to endpoint (dtn:none means "no reports"; dtn
 * report-to endpoints we cannot route).  It is a bundle of its own: source
 * ipn:NODE.0, report-to dtn:none, the subject's priority class, the default
 * lifetime, built and stored through node_send() like any other.  Where:
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

#include "admin.h"
#include "bundle.h"

struct node;

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
/* Send the report if the subject asked for it (status: enum admin_status). */
void report_send(struct node *n, const struct report_subject *s, int status, uint64_t reason);
/* The same for a stored bundle, from its first bytes (its primary block);
 * priority: its class as the store knows it, -1 if unknown. */
void report_send_head(struct node *n, const uint8_t *head, size_t len, int priority, int status,
    uint64_t reason);
/* A status report for this node arrived from `from`: log it decoded. */
void report_log(const struct eid *from, const uint8_t *payload, size_t len);

#endif
