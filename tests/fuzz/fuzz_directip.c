/*
 * fuzz_directip.c - libFuzzer target for Iridium DirectIP messages and the
 * MO duplicate filter.
 *
 * The first byte picks a mode:
 *  0: the rest is an MO message, 1: an MT message, 2: an MT confirmation.
 *     Whatever decodes must encode, decode again to the same fields, and
 *     encode again to the same bytes.
 *  3: the rest is a sequence of (unit, MOMSN, time step) for the duplicate
 *     filter, checked against a plain list of everything it was shown.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_directip: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

static uint8_t enc[DIRECTIP_MSG_MAX], enc2[DIRECTIP_MSG_MAX];

static void
mo_round_trip(const uint8_t *data, size_t size)
{
	struct directip_mo a, b;
	ssize_t n, n2;

	if (directip_mo_decode(data, size, &a) < 0)
		return;
	CHECK(directip_msg_len(data, size) == (ssize_t)size);
	CHECK(!a.has_payload || (a.payload_len >= 1 && a.payload_len <= DIRECTIP_MO_PAYLOAD_MAX &&
	    a.payload >= data && a.payload + a.payload_len <= data + size));
	if (strlen(a.imei) != DIRECTIP_IMEI_LEN) {	/* a NUL inside: no encoding */
		CHECK(directip_mo_encode(&a, enc, sizeof(enc)) == -EINVAL);
		return;
	}
	n = directip_mo_encode(&a, enc, sizeof(enc));
	CHECK(n > 0 && n <= (ssize_t)size);
	CHECK(directip_mo_encode(&a, NULL, 0) == n);
	CHECK(directip_mo_decode(enc, (size_t)n, &b) == 0);
	CHECK(b.cdr_ref == a.cdr_ref && strcmp(a.imei, b.imei) == 0);
	CHECK(b.session_status == a.session_status && b.momsn == a.momsn && b.mtmsn == a.mtmsn);
	CHECK(b.session_time == a.session_time && b.has_payload == a.has_payload);
	CHECK(b.payload_len == a.payload_len && (!a.has_payload ||
	    memcmp(a.payload, b.payload, a.payload_len) == 0));
	CHECK(b.has_location == a.has_location && a.loc.south == b.loc.south &&
	    a.loc.west == b.loc.west && a.loc.lat_deg == b.loc.lat_deg &&
	    a.loc.lat_kmin == b.loc.lat_kmin && a.loc.lon_deg == b.loc.lon_deg &&
	    a.loc.lon_kmin == b.loc.lon_kmin && a.loc.cep_km == b.loc.cep_km);
	CHECK(b.unknown_ies == 0);
	n2 = directip_mo_encode(&b, enc2, sizeof(enc2));
	CHECK(n2 == n && memcmp(enc, enc2, (size_t)n) == 0);
}

static void
mt_round_trip(const uint8_t *data, size_t size)
{
	struct directip_mt a, b;
	ssize_t n, n2;

	if (directip_mt_decode(data, size, &a) < 0)
		return;
	if (strlen(a.imei) != DIRECTIP_IMEI_LEN) {
		CHECK(directip_mt_encode(&a, enc, sizeof(enc)) == -EINVAL);
		return;
	}
	n = directip_mt_encode(&a, enc, sizeof(enc));
	CHECK(n > 0 && n <= (ssize_t)size);
	CHECK(directip_mt_decode(enc, (size_t)n, &b) == 0);
	CHECK(a.client_id == b.client_id && strcmp(a.imei, b.imei) == 0 && a.flags == b.flags);
	CHECK(a.has_payload == b.has_payload && a.payload_len == b.payload_len);
	CHECK(!a.has_payload || memcmp(a.payload, b.payload, a.payload_len) == 0);
	n2 = directip_mt_encode(&b, enc2, sizeof(enc2));
	CHECK(n2 == n && memcmp(enc, enc2, (size_t)n) == 0);
}

static void
confirm_round_trip(const uint8_t *data, size_t size)
{
	struct directip_mt_confirm a, b;
	ssize_t n;

	if (directip_mt_confirm_decode(data, size, &a) < 0)
		return;
	if (strlen(a.imei) != DIRECTIP_IMEI_LEN)
		return;
	n = directip_mt_confirm_encode(&a, enc, sizeof(enc));
	CHECK(n == 31);
	CHECK(directip_mt_confirm_decode(enc, (size_t)n, &b) == 0);
	CHECK(a.client_id == b.client_id && strcmp(a.imei, b.imei) == 0 &&
	    a.auto_id == b.auto_id && a.status == b.status);
	(void)directip_mt_status_str(a.status);
}

/* The filter against a list of everything: per unit the last PER entries within AGE. */
#define UNITS	4
#define PER	8
#define AGE	1000

static void
dedup_model(const uint8_t *data, size_t size)
{
	static const char *const imei[UNITS] = { "300234010000000", "300234010000001",
		"300234010000002", "300234010000003" };
	struct directip_dedup *d = directip_dedup_new(PER, UNITS, AGE);
	struct { uint16_t momsn; uint64_t digest, at; } hist[UNITS][4096];
	size_t nh[UNITS] = { 0 };
	uint64_t now = 0;

	CHECK(d != NULL);
	for (size_t i = 0; i + 3 <= size && i < 3 * 4096; i += 3) {
		unsigned u = data[i] % UNITS;
		uint16_t momsn = (uint16_t)(data[i + 1] % 16);	/* few values: many repeats */
		uint64_t digest = data[i + 1] >> 6;		/* a reused MOMSN with new content */
		bool want = false;

		now += (uint64_t)data[i + 2] * 8;
		/* the last PER entries of the unit, if young enough */
		for (size_t k = nh[u] > PER ? nh[u] - PER : 0; k < nh[u]; k++)
			if (hist[u][k].momsn == momsn && hist[u][k].digest == digest && now - hist[u][k].at < AGE)
				want = true;
		CHECK(directip_dedup_seen(d, imei[u], momsn, digest, now) == want);
		if (!want) {
			hist[u][nh[u]].momsn = momsn;
			hist[u][nh[u]].digest = digest;
			hist[u][nh[u]].at = now;
			nh[u]++;
		}
	}
	directip_dedup_free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > DIRECTIP_MSG_MAX + 1)
		return 0;
	switch (data[0] % 4) {
	case 0: mo_round_trip(data + 1, size - 1); break;
	case 1: mt_round_trip(data + 1, size - 1); break;
	case 2: confirm_round_trip(data + 1, size - 1); break;
	case 3: dedup_model(data + 1, size - 1); break;
	}
	return 0;
}
