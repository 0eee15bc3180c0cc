/* report.c - sending and logging bundle status reports, see report.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "node.h"
#include "report.h"
#include "service.h"

static struct log_ratelimit report_rl;

static const uint64_t status_flag[ADMIN_STATUS_N] = {
	[ADMIN_RECEIVED] = BF_RPT_RECEPTION,
	[ADMIN_FORWARDED] = BF_RPT_FORWARDING,
	[ADMIN_DELIVERED] = BF_RPT_DELIVERY,
	[ADMIN_DELETED] = BF_RPT_DELETION,
};

void
report_subject_of(struct report_subject *s, const struct bundle *b)
{
	memset(s, 0, sizeof(*s));
	s->flags = b->flags;
	s->src = b->src;
	s->report_to = b->report_to;
	s->ctime = b->ctime;
	s->seq = b->seq;
	s->frag_offset = b->frag_offset;
	s->payload_len = b->payload_len;
	s->priority = b->priority;
}

bool
report_wanted(uint64_t flags, int status)
{
	if (status < 0 || status >= ADMIN_STATUS_N || (flags & BF_ADMIN_RECORD))
		return false;
	return (flags & status_flag[status]) != 0;
}

static void
report_sent(void *arg, int result, const char *id)
{
	if (result != 0 && result != -EEXIST)
		log_limited(&report_rl, "status report %s not stored: %s", id, store_strerror(result));
}

void
report_send(struct node *n, const struct report_subject *s, int status, uint64_t reason)
{
	const struct config *cfg = node_config(n);
	struct node_send ns = { .payload_fd = -1, .admin = true };
	struct status_report sr = { 0 };
	uint8_t rec[ADMIN_RECORD_MAX];
	char subj[BUNDLE_EID_MAX];
	ssize_t len;
	int r;

	if (!report_wanted(s->flags, status))
		return;
	/* RFC 9171 4.2.3: an anonymous source (dtn:none) asks for nothing. */
	if (s->report_to.scheme != EID_IPN || (s->src.scheme == EID_DTN && strcmp(s->src.dtn, "none") == 0))
		return;
	sr.asserted[status] = true;
	/* Our clock's time only when it is worth something. */
	if ((s->flags & BF_STATUS_TIME) && node_clock_trusted(n)) {
		sr.has_time[status] = true;
		sr.time[status] = loop_wallclock_ms() - DTN_EPOCH_UNIX_MS;
	}
	sr.reason = reason;
	sr.src = s->src;
	sr.ctime = s->ctime;
	sr.seq = s->seq;
	if (s->flags & BF_IS_FRAGMENT) {
		sr.fragment = true;
		sr.frag_offset = s->frag_offset;
		sr.payload_len = s->payload_len;
	}
	if ((len = admin_encode_status(&sr, rec, sizeof(rec))) < 0) {
		log_limited(&report_rl, "cannot encode a status report: %s", strerror((int)-len));
		return;
	}
	ns.dst = s->report_to;
	ns.priority = s->priority < 0 ? PRIO_MESSAGE : s->priority == PRIO_REALTIME ? PRIO_URGENT : s->priority;
	ns.payload = rec;
	ns.payload_len = (uint64_t)len;
	eid_format(&s->src, subj, sizeof(subj));
	log_debug("status report to ipn:%" PRIu64 ".%" PRIu64 ": %s %" PRIu64 " %" PRIu64 " %s (%s)",
	    s->report_to.node, s->report_to.service, subj, s->ctime, s->seq, admin_status_name(status),
	    admin_reason_name(reason));
	if (s->report_to.node == cfg->node_id) {
		struct eid self;

		eid_ipn(&self, cfg->node_id, 0);
		report_log(&self, rec, (size_t)len);
	}
	if ((r = node_send(n, &ns, report_sent, NULL)) < 0)
		log_limited(&report_rl, "status report for %s %" PRIu64 " %" PRIu64 " not sent: %s", subj,
		    s->ctime, s->seq, strerror(-r));
}

void
report_send_head(struct node *n, const uint8_t *head, size_t len, int priority, int status, uint64_t reason)
{
	struct report_subject s;
	struct bundle b;
	const char *why;

	if (bundle_decode_primary(&b, head, len, &why) < 0) {
		log_limited(&report_rl, "stored bundle unreadable for a status report: %s", why);
		return;
	}
	report_subject_of(&s, &b);
	s.priority = priority;
	report_send(n, &s, status, reason);
}

void
report_log(const struct eid *from, const uint8_t *payload, size_t len)
{
	struct status_report sr;
	char who[BUNDLE_EID_MAX], line[BUNDLE_EID_MAX + 160];
	const char *why;

	eid_format(from, who, sizeof(who));
	if (admin_decode_status(&sr, payload, len, &why) < 0) {
		log_limited(&report_rl, "administrative record from %s not understood: %s", who, why);
		return;
	}
	admin_format(&sr, line, sizeof(line));
	log_info("status report from %s: %s", who, line);
}
