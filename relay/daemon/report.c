/* report.c - building and logging bundle status reports, see report.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "loop.h"
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

ssize_t
report_record(const struct report_subject *s, int status, uint64_t reason, bool clock_trusted, uint8_t *rec,
    size_t cap)
{
	struct status_report sr = { 0 };
	ssize_t len;

	if (!report_wanted(s->flags, status))
		return 0;
	/* RFC 9171 4.2.3: an anonymous source (dtn:none) asks for nothing. */
	if (s->report_to.scheme != EID_IPN || (s->src.scheme == EID_DTN && strcmp(s->src.dtn, "none") == 0))
		return 0;
	sr.asserted[status] = true;
	/* Our clock's time only when it is worth something. */
	if ((s->flags & BF_STATUS_TIME) && clock_trusted) {
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
	if ((len = admin_encode_status(&sr, rec, cap)) < 0)
		log_limited(&report_rl, "cannot encode a status report: %s", strerror((int)-len));
	return len;
}

int
report_priority(const struct report_subject *s)
{
	return s->priority < 0 ? PRIO_MESSAGE : s->priority == PRIO_REALTIME ? PRIO_URGENT : s->priority;
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
