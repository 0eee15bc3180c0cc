/*
 * test_directip.c - DirectIP MO/MT messages against byte layouts written
 * out by hand from the Iridium SBD developers guide (and one MO message
 * published as an example by a device vendor), malformed messages, and the
 * MO duplicate filter (IMEI + MOMSN).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "directip.h"

/*
 * The MO example from Teltonika's SBD documentation: header, location,
 * payload.  Its listing carries 7 bytes more than the overall length
 * declares (79); these are the 79.
 */
static const uint8_t vendor_mo[] = {
	0x01, 0x00, 0x4c,
	0x01, 0x00, 0x1c, 0xf9, 0x9d, 0xd2, 0x63,
	'3', '0', '0', '2', '3', '4', '0', '6', '4', '0', '7', '0', '8', '3', '0',
	0x00, 0x00, 0x18, 0x00, 0x00, 0x59, 0x28, 0x2d, 0xbc,
	0x03, 0x00, 0x0b, 0x00, 0x36, 0xa2, 0xb8, 0x19, 0x3d, 0x12, 0x00, 0x00, 0x00, 0x03,
	0x02, 0x00, 0x1c,
	0x59, 0x28, 0x2b, 0xa3, 0x91, 0xf5, 0xab, 0xcd, 0xbf, 0xdd, 0x01, 0x80, 0x00, 0x00,
	0x59, 0x28, 0x2b, 0xa8, 0x91, 0xf5, 0xab, 0xcd, 0xbf, 0xdd, 0x01, 0x80, 0x00, 0x00,
};

static void
test_mo_vendor_example(void **state)
{
	struct directip_mo mo;
	uint8_t out[128];

	assert_int_equal(sizeof(vendor_mo), 79);
	assert_int_equal(directip_msg_len(vendor_mo, 3), 79);
	assert_int_equal(directip_mo_decode(vendor_mo, sizeof(vendor_mo), &mo), 0);
	assert_int_equal(mo.cdr_ref, 0xf99dd263);
	assert_string_equal(mo.imei, "300234064070830");
	assert_int_equal(mo.session_status, 0);
	assert_int_equal(mo.momsn, 24);
	assert_int_equal(mo.mtmsn, 0);
	assert_int_equal(mo.session_time, 1495805372);	/* 2017-05-26 13:29:32 UTC */
	assert_true(mo.has_location);
	assert_false(mo.loc.south);
	assert_false(mo.loc.west);
	assert_int_equal(mo.loc.lat_deg, 54);
	assert_int_equal(mo.loc.lat_kmin, 41656);
	assert_int_equal(mo.loc.lon_deg, 25);
	assert_int_equal(mo.loc.lon_kmin, 15634);
	assert_int_equal(mo.loc.cep_km, 3);
	assert_true(mo.has_payload);
	assert_int_equal(mo.payload_len, 28);
	assert_ptr_equal(mo.payload, vendor_mo + 51);
	assert_int_equal(mo.unknown_ies, 0);
	/* Our encoder writes the IEs in the same order: byte for byte the same. */
	assert_int_equal(directip_mo_encode(&mo, NULL, 0), 79);
	assert_int_equal(directip_mo_encode(&mo, out, sizeof(out)), 79);
	assert_memory_equal(out, vendor_mo, 79);
	assert_int_equal(directip_mo_encode(&mo, out, 78), -ENOSPC);
}

static void
test_mo_mailbox_check(void **state)
{
	/* A session without payload or location: the header alone; south-west location flags. */
	uint8_t msg[] = {
		1, 0, 31,
		0x01, 0, 28, 0, 0, 0, 7,
		'3', '0', '0', '0', '3', '4', '0', '1', '0', '1', '2', '3', '4', '5', '0',
		13, 0x12, 0x34, 0xab, 0xcd, 0x65, 0x00, 0x00, 0x01,
	};
	struct directip_mo mo;
	uint8_t loc[] = { 0x03, 0, 11, 0x03, 33, 0xea, 0x5f, 70, 0, 0, 0, 0, 0, 9 };
	uint8_t big[64];

	assert_int_equal(directip_mo_decode(msg, sizeof(msg), &mo), 0);
	assert_false(mo.has_payload);
	assert_false(mo.has_location);
	assert_int_equal(mo.cdr_ref, 7);
	assert_int_equal(mo.session_status, 13);
	assert_int_equal(mo.momsn, 0x1234);
	assert_int_equal(mo.mtmsn, 0xabcd);
	assert_int_equal(mo.session_time, 0x65000001);
	assert_string_equal(directip_session_status_str(13), "RF link loss");

	memcpy(big, msg, sizeof(msg));
	memcpy(big + sizeof(msg), loc, sizeof(loc));
	big[2] = 31 + 14;
	assert_int_equal(directip_mo_decode(big, sizeof(msg) + sizeof(loc), &mo), 0);
	assert_true(mo.has_location);
	assert_true(mo.loc.south);
	assert_true(mo.loc.west);
	assert_int_equal(mo.loc.lat_deg, 33);
	assert_int_equal(mo.loc.lat_kmin, 59999);
	assert_int_equal(mo.loc.lon_deg, 70);
	assert_int_equal(mo.loc.cep_km, 9);
}

static void
test_mt(void **state)
{
	static const uint8_t payload[] = "evacuate sector B";
	/* MT header then payload, by hand */
	uint8_t want[3 + 24 + 3 + 17] = {
		1, 0, 24 + 3 + 17,
		0x41, 0, 21, 'M', 's', 'g', '1',
		'3', '0', '0', '2', '3', '4', '0', '1', '0', '7', '5', '3', '3', '7', '0',
		0x00, 0x21,
		0x42, 0, 17,
	};
	struct directip_mt mt = { .client_id = 0x4d736731, .flags = DIRECTIP_MT_FLUSH | DIRECTIP_MT_ASSIGN_MTMSN,
		.has_payload = true, .payload = payload, .payload_len = 17 };
	struct directip_mt got;
	uint8_t out[128];

	memcpy(want + 30, payload, 17);
	strcpy(mt.imei, "300234010753370");
	assert_int_equal(directip_mt_encode(&mt, NULL, 0), sizeof(want));
	assert_int_equal(directip_mt_encode(&mt, out, sizeof(out)), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(directip_mt_decode(want, sizeof(want), &got), 0);
	assert_int_equal(got.client_id, 0x4d736731);
	assert_string_equal(got.imei, "300234010753370");
	assert_int_equal(got.flags, 0x21);
	assert_true(got.has_payload);
	assert_int_equal(got.payload_len, 17);
	assert_memory_equal(got.payload, payload, 17);

	/* A ring-alert-only request has no payload IE. */
	mt.has_payload = false;
	mt.flags = DIRECTIP_MT_RING;
	assert_int_equal(directip_mt_encode(&mt, out, sizeof(out)), 27);
	assert_int_equal(directip_mt_decode(out, 27, &got), 0);
	assert_false(got.has_payload);
	assert_int_equal(got.flags, DIRECTIP_MT_RING);

	/* limits */
	mt.has_payload = true;
	mt.payload_len = DIRECTIP_MT_PAYLOAD_MAX + 1;
	assert_int_equal(directip_mt_encode(&mt, NULL, 0), -EINVAL);
	mt.payload_len = 0;
	assert_int_equal(directip_mt_encode(&mt, NULL, 0), -EINVAL);
	mt.payload_len = 1;
	strcpy(mt.imei, "3002340107533");
	assert_int_equal(directip_mt_encode(&mt, NULL, 0), -EINVAL);
}

static void
test_mt_confirm(void **state)
{
	uint8_t want[] = {
		1, 0, 28,
		0x44, 0, 25, 0, 0, 0, 9,
		'3', '0', '0', '2', '3', '4', '0', '1', '0', '7', '5', '3', '3', '7', '0',
		0x00, 0x01, 0xe2, 0x40, 0xff, 0xfb,
	};
	struct directip_mt_confirm c = { .client_id = 9, .auto_id = 123456, .status = -5 }, got;
	uint8_t out[64];

	strcpy(c.imei, "300234010753370");
	assert_int_equal(directip_mt_confirm_encode(&c, out, sizeof(out)), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(directip_mt_confirm_decode(want, sizeof(want), &got), 0);
	assert_int_equal(got.client_id, 9);
	assert_int_equal(got.auto_id, 123456);
	assert_int_equal(got.status, -5);
	assert_string_equal(got.imei, "300234010753370");
	assert_string_equal(directip_mt_status_str(got.status), "MT queue full");
	assert_string_equal(directip_mt_status_str(3), "queued");
	/* a confirmation must be there */
	uint8_t none[] = { 1, 0, 3, 0x77, 0, 0 };
	assert_int_equal(directip_mt_confirm_decode(none, sizeof(none), &got), -EINVAL);
}

/* Decode a copy of vendor_mo after edit() changed it; returns the decoder's answer. */
static int
mo_edited(void (*edit)(uint8_t *m, size_t *len))
{
	uint8_t m[sizeof(vendor_mo) + 32];
	size_t len = sizeof(vendor_mo);
	struct directip_mo mo;

	memcpy(m, vendor_mo, sizeof(vendor_mo));
	edit(m, &len);
	return directip_mo_decode(m, len, &mo);
}

static void e_revision(uint8_t *m, size_t *len) { m[0] = 2; }
static void e_overall_short(uint8_t *m, size_t *len) { m[2]--; }
static void e_overall_long(uint8_t *m, size_t *len) { m[2]++; }
static void e_truncated(uint8_t *m, size_t *len) { (*len)--; m[2]--; }
static void e_header_len(uint8_t *m, size_t *len) { m[5] = 27; }
static void e_ie_past_end(uint8_t *m, size_t *len) { m[50] = 0x1d; }
static void e_lat(uint8_t *m, size_t *len) { m[38] = 91; }
static void e_kmin(uint8_t *m, size_t *len) { m[39] = 0xea; m[40] = 0x60; }	/* 60000 */
static void e_lon(uint8_t *m, size_t *len) { m[41] = 181; }
static void e_reserved(uint8_t *m, size_t *len) { m[37] = 0x10; }
static void e_loc_len(uint8_t *m, size_t *len) { m[36] = 10; }
static void e_no_header(uint8_t *m, size_t *len) { m[3] = 0x7f; }	/* unknown IE */

static void
e_dup_header(uint8_t *m, size_t *len)
{
	memmove(m + 3 + 31, m + 3, *len - 3);
	*len += 31;
	m[1] = (uint8_t)((*len - 3) >> 8);
	m[2] = (uint8_t)(*len - 3);
}

static void
e_empty_payload(uint8_t *m, size_t *len)
{
	m[49] = 0;
	m[50] = 0;
	*len = 51;
	m[2] = 48;
}

static void
e_dangling(uint8_t *m, size_t *len)
{
	m[(*len)++] = 0x02;	/* half an IE header */
	m[(*len)++] = 0x00;
	m[2] += 2;
}

static void
test_mo_malformed(void **state)
{
	assert_int_equal(mo_edited(e_revision), -EINVAL);
	assert_int_equal(mo_edited(e_overall_short), -EINVAL);
	assert_int_equal(mo_edited(e_overall_long), -EINVAL);
	assert_int_equal(mo_edited(e_truncated), -EINVAL);
	assert_int_equal(mo_edited(e_header_len), -EINVAL);
	assert_int_equal(mo_edited(e_ie_past_end), -EINVAL);
	assert_int_equal(mo_edited(e_lat), -EINVAL);
	assert_int_equal(mo_edited(e_kmin), -EINVAL);
	assert_int_equal(mo_edited(e_lon), -EINVAL);
	assert_int_equal(mo_edited(e_reserved), -EINVAL);
	assert_int_equal(mo_edited(e_loc_len), -EINVAL);
	assert_int_equal(mo_edited(e_no_header), -EINVAL);
	assert_int_equal(mo_edited(e_dup_header), -EINVAL);
	assert_int_equal(mo_edited(e_empty_payload), -EINVAL);
	assert_int_equal(mo_edited(e_dangling), -EINVAL);
	assert_int_equal(directip_mo_decode(vendor_mo, 2, &(struct directip_mo){ 0 }), -EINVAL);
	assert_int_equal(directip_msg_len(vendor_mo, 2), 0);
	assert_int_equal(directip_msg_len((const uint8_t *)"\x02\x00\x01", 3), -EPROTO);
}

static void
test_unknown_ie(void **state)
{
	/* An IE we do not know (MT priority, 0x46) is skipped and counted. */
	uint8_t m[sizeof(vendor_mo) + 5];
	struct directip_mo mo;

	memcpy(m, vendor_mo, sizeof(vendor_mo));
	memcpy(m + sizeof(vendor_mo), "\x46\x00\x02\x00\x05", 5);
	m[2] += 5;
	assert_int_equal(directip_mo_decode(m, sizeof(m), &mo), 0);
	assert_int_equal(mo.unknown_ies, 1);
	assert_int_equal(mo.momsn, 24);
}

static void
test_dedup(void **state)
{
	struct directip_dedup *d = directip_dedup_new(4, 2, 60000);
	const char *a = "300234010753370", *b = "300234010753371", *c = "300234010753372";

	assert_non_null(d);
	assert_false(directip_dedup_seen(d, a, 10, 1, 0));
	assert_true(directip_dedup_seen(d, a, 10, 1, 100));	/* redelivered */
	assert_false(directip_dedup_seen(d, b, 10, 1, 100));	/* same MOMSN, other unit */
	assert_true(directip_dedup_seen(d, b, 10, 1, 200));
	/* wrap-around: 65535 then 0 are two messages */
	assert_false(directip_dedup_seen(d, a, 65535, 1, 300));
	assert_false(directip_dedup_seen(d, a, 0, 1, 400));
	assert_true(directip_dedup_seen(d, a, 65535, 1, 500));
	/* only the last 4 per IMEI are kept: 10 is forgotten after 4 more */
	assert_false(directip_dedup_seen(d, a, 1, 1, 600));
	assert_false(directip_dedup_seen(d, a, 2, 1, 700));
	assert_false(directip_dedup_seen(d, a, 10, 1, 800));
	/* entries age out: 2 was heard at 700 */
	assert_true(directip_dedup_seen(d, a, 2, 1, 700 + 59999));
	assert_false(directip_dedup_seen(d, a, 2, 1, 700 + 60000));
	/* at most 2 IMEIs: a third evicts the least recently heard (b) */
	assert_false(directip_dedup_seen(d, c, 5, 1, 70000));
	assert_false(directip_dedup_seen(d, b, 10, 1, 70001));	/* b was forgotten */
	assert_true(directip_dedup_seen(d, b, 10, 1, 70002));
	directip_dedup_free(d);
	directip_dedup_free(NULL);
	assert_null(directip_dedup_new(0, 1, 0));

	/* max age 0: never forgotten by age */
	d = directip_dedup_new(2, 1, 0);
	assert_false(directip_dedup_seen(d, a, 7, 1, 0));
	assert_true(directip_dedup_seen(d, a, 7, 1, UINT64_MAX / 2));
	directip_dedup_free(d);

	/* A reused MOMSN (AT+SBDC, a modem swapped under the same IMEI) with new content is new. */
	d = directip_dedup_new(8, 1, 0);
	assert_false(directip_dedup_seen(d, a, 0, directip_payload_digest((const uint8_t *)"one", 3), 0));
	assert_false(directip_dedup_seen(d, a, 0, directip_payload_digest((const uint8_t *)"two", 3), 1));
	assert_false(directip_dedup_has(d, a, 0, directip_payload_digest((const uint8_t *)"three", 5), 2));
	assert_true(directip_dedup_has(d, a, 0, directip_payload_digest((const uint8_t *)"one", 3), 3));
	assert_true(directip_dedup_seen(d, a, 0, directip_payload_digest((const uint8_t *)"two", 3), 4));
	assert_true(directip_payload_digest((const uint8_t *)"ab", 2) != directip_payload_digest((const uint8_t *)"ba", 2));
	directip_dedup_free(d);
}

static void
test_imei(void **state)
{
	assert_true(directip_imei_valid("300234010753370"));
	assert_false(directip_imei_valid("30023401075337"));
	assert_false(directip_imei_valid("3002340107533701"));
	assert_false(directip_imei_valid("30023401075337x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mo_vendor_example),
		cmocka_unit_test(test_mo_mailbox_check),
		cmocka_unit_test(test_mt),
		cmocka_unit_test(test_mt_confirm),
		cmocka_unit_test(test_mo_malformed),
		cmocka_unit_test(test_unknown_ie),
		cmocka_unit_test(test_dedup),
		cmocka_unit_test(test_imei),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
