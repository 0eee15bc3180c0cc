/* directip.c - Iridium SBD DirectIP messages; see directip.h for the wire format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "directip.h"

#define MO_HEADER_LEN	28
#define MO_LOCATION_LEN	11
#define MT_HEADER_LEN	21
#define MT_CONFIRM_LEN	25

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
	return p + 2;
}

static uint8_t *
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
	return p + 4;
}

static void
get_imei(char imei[DIRECTIP_IMEI_LEN + 1], const uint8_t *p)
{
	memcpy(imei, p, DIRECTIP_IMEI_LEN);
	imei[DIRECTIP_IMEI_LEN] = '\0';
}

bool
directip_imei_valid(const char *imei)
{
	for (int i = 0; i < DIRECTIP_IMEI_LEN; i++)
		if (imei[i] < '0' || imei[i] > '9')
			return false;
	return imei[DIRECTIP_IMEI_LEN] == '\0';
}

ssize_t
directip_msg_len(const uint8_t *buf, size_t have)
{
	if (have < 3)
		return 0;
	if (buf[0] != DIRECTIP_REVISION)
		return -EPROTO;
	return 3 + (ssize_t)get16(buf + 1);
}

typedef int ie_fn(void *arg, uint8_t iei, const uint8_t *v, size_t vlen);

/* Check the preamble and hand each IE to fn; the IEs must fill the message exactly. */
static int
ie_walk(const uint8_t *buf, size_t len, ie_fn *fn, void *arg)
{
	size_t off = 3;

	if (len < 3 || buf[0] != DIRECTIP_REVISION || get16(buf + 1) != len - 3)
		return -EINVAL;
	while (off < len) {
		size_t vlen;
		int r;

		if (len - off < 3)
			return -EINVAL;
		vlen = get16(buf + off + 1);
		if (len - off - 3 < vlen)
			return -EINVAL;
		if ((r = fn(arg, buf[off], buf + off + 3, vlen)) < 0)
			return r;
		off += 3 + vlen;
	}
	return 0;
}

/* ---- MO ------------------------------------------------------------- */

struct mo_walk {
	struct directip_mo *mo;
	bool header;
};

static int
location_decode(struct directip_location *l, const uint8_t *v)
{
	/* Reserved bits and the format code are 0 in every revision so far. */
	if (v[0] & 0xfc)
		return -EINVAL;
	l->south = v[0] & 0x02;
	l->west = v[0] & 0x01;
	l->lat_deg = v[1];
	l->lat_kmin = get16(v + 2);
	l->lon_deg = v[4];
	l->lon_kmin = get16(v + 5);
	l->cep_km = get32(v + 7);
	if (l->lat_deg > 90 || l->lon_deg > 180 || l->lat_kmin > 59999 || l->lon_kmin > 59999)
		return -EINVAL;
	return 0;
}

static int
mo_ie(void *arg, uint8_t iei, const uint8_t *v, size_t vlen)
{
	struct mo_walk *w = arg;
	struct directip_mo *mo = w->mo;

	switch (iei) {
	case DIRECTIP_IEI_MO_HEADER:
		if (w->header || vlen != MO_HEADER_LEN)
			return -EINVAL;
		w->header = true;
		mo->cdr_ref = get32(v);
		get_imei(mo->imei, v + 4);
		mo->session_status = v[19];
		mo->momsn = get16(v + 20);
		mo->mtmsn = get16(v + 22);
		mo->session_time = get32(v + 24);
		return 0;
	case DIRECTIP_IEI_MO_PAYLOAD:
		if (mo->has_payload || vlen == 0 || vlen > DIRECTIP_MO_PAYLOAD_MAX)
			return -EINVAL;
		mo->has_payload = true;
		mo->payload = v;
		mo->payload_len = vlen;
		return 0;
	case DIRECTIP_IEI_MO_LOCATION:
		if (mo->has_location || vlen != MO_LOCATION_LEN)
			return -EINVAL;
		mo->has_location = true;
		return location_decode(&mo->loc, v);
	default:
		mo->unknown_ies++;
		return 0;
	}
}

int
directip_mo_decode(const uint8_t *buf, size_t len, struct directip_mo *mo)
{
	struct mo_walk w = { .mo = mo };
	int r;

	memset(mo, 0, sizeof(*mo));
	if ((r = ie_walk(buf, len, mo_ie, &w)) < 0)
		return r;
	return w.header ? 0 : -EINVAL;
}

static uint8_t *
ie_start(uint8_t *p, uint8_t iei, size_t len)
{
	*p++ = iei;
	return put16(p, (uint16_t)len);
}

/* Preamble for a message of body bytes after it: -ENOSPC / -EINVAL or the total. */
static ssize_t
msg_room(size_t body, uint8_t *buf, size_t cap)
{
	if (body > 65535)
		return -EINVAL;
	if (buf == NULL || cap == 0)
		return (ssize_t)(3 + body);
	if (cap < 3 + body)
		return -ENOSPC;
	buf[0] = DIRECTIP_REVISION;
	put16(buf + 1, (uint16_t)body);
	return (ssize_t)(3 + body);
}

ssize_t
directip_mo_encode(const struct directip_mo *mo, uint8_t *buf, size_t cap)
{
	size_t body = 3 + MO_HEADER_LEN;
	ssize_t total;
	uint8_t *p;

	if (strlen(mo->imei) != DIRECTIP_IMEI_LEN)
		return -EINVAL;
	if (mo->has_payload) {
		if (mo->payload_len == 0 || mo->payload_len > DIRECTIP_MO_PAYLOAD_MAX)
			return -EINVAL;
		body += 3 + mo->payload_len;
	}
	if (mo->has_location) {
		const struct directip_location *l = &mo->loc;

		if (l->lat_deg > 90 || l->lon_deg > 180 || l->lat_kmin > 59999 || l->lon_kmin > 59999)
			return -EINVAL;
		body += 3 + MO_LOCATION_LEN;
	}
	if ((total = msg_room(body, buf, cap)) < 0 || buf == NULL || cap == 0)
		return total;
	p = ie_start(buf + 3, DIRECTIP_IEI_MO_HEADER, MO_HEADER_LEN);
	p = put32(p, mo->cdr_ref);
	memcpy(p, mo->imei, DIRECTIP_IMEI_LEN);
	p += DIRECTIP_IMEI_LEN;
	*p++ = mo->session_status;
	p = put16(p, mo->momsn);
	p = put16(p, mo->mtmsn);
	p = put32(p, mo->session_time);
	if (mo->has_location) {
		const struct directip_location *l = &mo->loc;

		p = ie_start(p, DIRECTIP_IEI_MO_LOCATION, MO_LOCATION_LEN);
		*p++ = (l->south ? 0x02 : 0) | (l->west ? 0x01 : 0);
		*p++ = l->lat_deg;
		p = put16(p, l->lat_kmin);
		*p++ = l->lon_deg;
		p = put16(p, l->lon_kmin);
		p = put32(p, l->cep_km);
	}
	if (mo->has_payload) {
		p = ie_start(p, DIRECTIP_IEI_MO_PAYLOAD, mo->payload_len);
		memcpy(p, mo->payload, mo->payload_len);
	}
	return total;
}

/* ---- MT ------------------------------------------------------------- */

struct mt_walk {
	struct directip_mt *mt;
	bool header;
};

static int
mt_ie(void *arg, uint8_t iei, const uint8_t *v, size_t vlen)
{
	struct mt_walk *w = arg;
	struct directip_mt *mt = w->mt;

	switch (iei) {
	case DIRECTIP_IEI_MT_HEADER:
		if (w->header || vlen != MT_HEADER_LEN)
			return -EINVAL;
		w->header = true;
		mt->client_id = get32(v);
		get_imei(mt->imei, v + 4);
		mt->flags = get16(v + 19);
		return 0;
	case DIRECTIP_IEI_MT_PAYLOAD:
		if (mt->has_payload || vlen == 0 || vlen > DIRECTIP_MT_PAYLOAD_MAX)
			return -EINVAL;
		mt->has_payload = true;
		mt->payload = v;
		mt->payload_len = vlen;
		return 0;
	default:
		mt->unknown_ies++;
		return 0;
	}
}

int
directip_mt_decode(const uint8_t *buf, size_t len, struct directip_mt *mt)
{
	struct mt_walk w = { .mt = mt };
	int r;

	memset(mt, 0, sizeof(*mt));
	if ((r = ie_walk(buf, len, mt_ie, &w)) < 0)
		return r;
	return w.header ? 0 : -EINVAL;
}

ssize_t
directip_mt_encode(const struct directip_mt *mt, uint8_t *buf, size_t cap)
{
	size_t body = 3 + MT_HEADER_LEN;
	ssize_t total;
	uint8_t *p;

	if (strlen(mt->imei) != DIRECTIP_IMEI_LEN)
		return -EINVAL;
	if (mt->has_payload) {
		if (mt->payload_len == 0 || mt->payload_len > DIRECTIP_MT_PAYLOAD_MAX)
			return -EINVAL;
		body += 3 + mt->payload_len;
	}
	if ((total = msg_room(body, buf, cap)) < 0 || buf == NULL || cap == 0)
		return total;
	p = ie_start(buf + 3, DIRECTIP_IEI_MT_HEADER, MT_HEADER_LEN);
	p = put32(p, mt->client_id);
	memcpy(p, mt->imei, DIRECTIP_IMEI_LEN);
	p += DIRECTIP_IMEI_LEN;
	p = put16(p, mt->flags);
	if (mt->has_payload) {
		p = ie_start(p, DIRECTIP_IEI_MT_PAYLOAD, mt->payload_len);
		memcpy(p, mt->payload, mt->payload_len);
	}
	return total;
}

struct confirm_walk {
	struct directip_mt_confirm *c;
	bool seen;
};

static int
confirm_ie(void *arg, uint8_t iei, const uint8_t *v, size_t vlen)
{
	struct confirm_walk *w = arg;

	if (iei != DIRECTIP_IEI_MT_CONFIRM)
		return 0;
	if (w->seen || vlen != MT_CONFIRM_LEN)
		return -EINVAL;
	w->seen = true;
	w->c->client_id = get32(v);
	get_imei(w->c->imei, v + 4);
	w->c->auto_id = get32(v + 19);
	w->c->status = (int16_t)get16(v + 23);
	return 0;
}

int
directip_mt_confirm_decode(const uint8_t *buf, size_t len, struct directip_mt_confirm *c)
{
	struct confirm_walk w = { .c = c };
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = ie_walk(buf, len, confirm_ie, &w)) < 0)
		return r;
	return w.seen ? 0 : -EINVAL;
}

ssize_t
directip_mt_confirm_encode(const struct directip_mt_confirm *c, uint8_t *buf, size_t cap)
{
	ssize_t total;
	uint8_t *p;

	if (strlen(c->imei) != DIRECTIP_IMEI_LEN)
		return -EINVAL;
	if ((total = msg_room(3 + MT_CONFIRM_LEN, buf, cap)) < 0 || buf == NULL || cap == 0)
		return total;
	p = ie_start(buf + 3, DIRECTIP_IEI_MT_CONFIRM, MT_CONFIRM_LEN);
	p = put32(p, c->client_id);
	memcpy(p, c->imei, DIRECTIP_IMEI_LEN);
	p += DIRECTIP_IMEI_LEN;
	p = put32(p, c->auto_id);
	put16(p, (uint16_t)c->status);
	return total;
}

const char *
directip_session_status_str(unsigned status)
{
	switch (status) {
	case 0: return "success";
	case 1: return "success, MT message too large";
	case 2: return "success, location unacceptable";
	case 10: return "session timeout";
	case 12: return "MO message too large";
	case 13: return "RF link loss";
	case 14: return "IMEI protocol anomaly";
	case 15: return "IMEI prohibited";
	default: return "unknown session status";
	}
}

const char *
directip_mt_status_str(int status)
{
	if (status > 0)
		return "queued";
	switch (status) {
	case 0: return "accepted, no payload";
	case -1: return "invalid IMEI";
	case -2: return "unknown IMEI";
	case -3: return "payload too large";
	case -4: return "payload expected, none received";
	case -5: return "MT queue full";
	case -6: return "MT resources unavailable";
	case -7: return "DirectIP protocol violation";
	case -8: return "ring alerts disabled for this IMEI";
	case -9: return "IMEI not attached";
	case -10: return "source address rejected";
	case -11: return "MTMSN out of range";
	default: return "unknown error";
	}
}

/* ---- duplicate MO messages ------------------------------------------ */

struct seen {
	uint16_t momsn;
	uint64_t digest;
	uint64_t at;
};

struct unit {
	TAILQ_ENTRY(unit) entry;		/* most recently heard first */
	char imei[DIRECTIP_IMEI_LEN + 1];
	unsigned head, n;			/* ring of the last MOMSNs */
	struct seen ring[];
};

struct directip_dedup {
	unsigned per_imei, max_imeis, n;
	uint64_t max_age;
	TAILQ_HEAD(unit_list, unit) units;
};

uint64_t
directip_payload_digest(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

struct directip_dedup *
directip_dedup_new(unsigned per_imei, unsigned max_imeis, uint64_t max_age_ms)
{
	struct directip_dedup *d;

	if (per_imei == 0 || max_imeis == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->per_imei = per_imei;
	d->max_imeis = max_imeis;
	d->max_age = max_age_ms;
	TAILQ_INIT(&d->units);
	return d;
}

void
directip_dedup_free(struct directip_dedup *d)
{
	struct unit *u;

	if (d == NULL)
		return;
	while ((u = TAILQ_FIRST(&d->units)) != NULL) {
		TAILQ_REMOVE(&d->units, u, entry);
		free(u);
	}
	free(d);
}

static struct unit *
unit_get(struct directip_dedup *d, const char *imei)
{
	struct unit *u;

	TAILQ_FOREACH(u, &d->units, entry)
		if (strncmp(u->imei, imei, DIRECTIP_IMEI_LEN) == 0)
			break;
	if (u == NULL) {
		if (d->n >= d->max_imeis) {
			u = TAILQ_LAST(&d->units, unit_list);
			TAILQ_REMOVE(&d->units, u, entry);
			d->n--;
			free(u);
		}
		if ((u = calloc(1, sizeof(*u) + d->per_imei * sizeof(u->ring[0]))) == NULL)
			return NULL;
		strncpy(u->imei, imei, DIRECTIP_IMEI_LEN);
		d->n++;
	} else {
		TAILQ_REMOVE(&d->units, u, entry);
	}
	TAILQ_INSERT_HEAD(&d->units, u, entry);
	return u;
}

static bool
unit_has(const struct directip_dedup *d, const struct unit *u, uint16_t momsn, uint64_t digest, uint64_t now_ms)
{
	for (unsigned i = 0; i < u->n; i++) {
		const struct seen *s = &u->ring[(u->head + d->per_imei - 1 - i) % d->per_imei];

		if (s->momsn == momsn && s->digest == digest && (d->max_age == 0 || now_ms - s->at < d->max_age))
			return true;
	}
	return false;
}

bool
directip_dedup_has(struct directip_dedup *d, const char *imei, uint16_t momsn, uint64_t digest, uint64_t now_ms)
{
	struct unit *u = unit_get(d, imei);

	return u != NULL && unit_has(d, u, momsn, digest, now_ms);
}

bool
directip_dedup_seen(struct directip_dedup *d, const char *imei, uint16_t momsn, uint64_t digest, uint64_t now_ms)
{
	struct unit *u = unit_get(d, imei);

	/* Out of memory: better a duplicate delivered than a message lost. */
	if (u == NULL)
		return false;
	if (unit_has(d, u, momsn, digest, now_ms))
		return true;
	u->ring[u->head].momsn = momsn;
	u->ring[u->head].digest = digest;
	u->ring[u->head].at = now_ms;
	u->head = (u->head + 1) % d->per_imei;
	if (u->n < d->per_imei)
		u->n++;
	return false;
}
