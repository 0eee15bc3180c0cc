/*
 * directip.h - Iridium SBD DirectIP messages (Iridium "Short Burst Data
 * Service Developers Guide"), the command center's side of an SBD link:
 * the gateway connects to us over TCP and delivers each mobile-originated
 * (MO) message; we connect to the gateway to queue a mobile-terminated (MT)
 * message and read its confirmation.  One message per connection.
 *
 * Wire format, every integer big endian:
 *   1  protocol revision (1)
 *   2  overall length: bytes that follow
 *   then information elements (IEs), each
 *   1  IEI   2  length   length bytes of content
 *
 *   0x01 MO header, 28: CDR reference 4, IMEI 15 (ASCII digits), session
 *        status 1, MOMSN 2, MTMSN 2, time of session 4 (Unix seconds)
 *   0x02 MO payload, 1-1960 bytes (absent for a mailbox check)
 *   0x03 MO location, 11: flags 1 (bit 1 south, bit 0 west; the format code
 *        in bits 3-2 and the reserved bits 7-4 are 0), latitude degrees 1,
 *        thousandths of a minute 2, longitude degrees 1, thousandths of a
 *        minute 2, CEP radius in km 4
 *   0x41 MT header, 21: client message id 4, IMEI 15, disposition flags 2
 *   0x42 MT payload, 1-1890 bytes
 *   0x44 MT confirmation, 25: client message id 4, IMEI 15, auto id 4,
 *        status 2 (signed: > 0 the message's place in the MT queue, 0 no
 *        payload, < 0 an error, see directip_mt_status_str)
 *
 * Decoders check every length against what was received, take unknown IEs
 * as skippable, refuse a repeated or missing header and anything left over.
 * Payloads are not copied: they point into the decoded buffer.
 */
#ifndef FIELDRELAY_DIRECTIP_H
#define FIELDRELAY_DIRECTIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DIRECTIP_REVISION	1
#define DIRECTIP_IMEI_LEN	15
#define DIRECTIP_MO_PAYLOAD_MAX	1960
#define DIRECTIP_MT_PAYLOAD_MAX	1890
#define DIRECTIP_MSG_MAX	(3 + 65535)

enum {
	DIRECTIP_IEI_MO_HEADER	= 0x01,
	DIRECTIP_IEI_MO_PAYLOAD	= 0x02,
	DIRECTIP_IEI_MO_LOCATION = 0x03,
	DIRECTIP_IEI_MT_HEADER	= 0x41,
	DIRECTIP_IEI_MT_PAYLOAD	= 0x42,
	DIRECTIP_IEI_MT_CONFIRM	= 0x44,
};

/* MT disposition flags */
#define DIRECTIP_MT_FLUSH	0x0001	/* delete the IMEI's queued MT messages first */
#define DIRECTIP_MT_RING	0x0002	/* send a ring alert, no message */
#define DIRECTIP_MT_LOCATION	0x0008	/* update the modem's location */
#define DIRECTIP_MT_HIGH_PRIO	0x0010	/* place at the head of the queue */
#define DIRECTIP_MT_ASSIGN_MTMSN 0x0020

struct directip_location {
	bool south, west;
	uint8_t lat_deg;		/* 0-90 */
	uint16_t lat_kmin;		/* thousandths of a minute, 0-59999 */
	uint8_t lon_deg;		/* 0-180 */
	uint16_t lon_kmin;
	uint32_t cep_km;
};

struct directip_mo {
	uint32_t cdr_ref;
	char imei[DIRECTIP_IMEI_LEN + 1];
	uint8_t session_status;		/* 0-2 success, see directip_session_status_str */
	uint16_t momsn, mtmsn;
	uint32_t session_time;		/* Unix seconds */
	bool has_payload;
	const uint8_t *payload;
	size_t payload_len;
	bool has_location;
	struct directip_location loc;
	unsigned unknown_ies;		/* skipped on decode */
};

struct directip_mt {
	uint32_t client_id;
	char imei[DIRECTIP_IMEI_LEN + 1];
	uint16_t flags;
	bool has_payload;
	const uint8_t *payload;
	size_t payload_len;
	unsigned unknown_ies;
};

struct directip_mt_confirm {
	uint32_t client_id;
	char imei[DIRECTIP_IMEI_LEN + 1];
	uint32_t auto_id;
	int16_t status;
};

/*
 * How long the message at the start of a TCP stream is: 3 + its overall
 * length once 3 bytes have arrived, 0 before; -EPROTO if the revision is not 1.
 */
ssize_t directip_msg_len(const uint8_t *buf, size_t have);

/* Decoders: 0, or -EINVAL (malformed: see the head comment). */
int directip_mo_decode(const uint8_t *buf, size_t len, struct directip_mo *mo);
int directip_mt_decode(const uint8_t *buf, size_t len, struct directip_mt *mt);
int directip_mt_confirm_decode(const uint8_t *buf, size_t len, struct directip_mt_confirm *c);

/* Encoders: bytes written (buf NULL or cap 0: bytes needed), or -EINVAL / -ENOSPC. */
ssize_t directip_mo_encode(const struct directip_mo *mo, uint8_t *buf, size_t cap);
ssize_t directip_mt_encode(const struct directip_mt *mt, uint8_t *buf, size_t cap);
ssize_t directip_mt_confirm_encode(const struct directip_mt_confirm *c, uint8_t *buf, size_t cap);

/* 15 ASCII digits. */
bool directip_imei_valid(const char *imei);

const char *directip_session_status_str(unsigned status);
const char *directip_mt_status_str(int status);

/*
 * Duplicate MO messages: the gateway delivers again when it is not sure a
 * delivery arrived.  A message is the same one when IMEI, MOMSN and the
 * payload (its digest, directip_payload_digest) are: the MOMSN alone is not
 * enough, as it restarts at 0 after AT+SBDC or with a modem swapped in
 * under the same IMEI, and wraps at 65536, so a MOMSN seen before may
 * carry a new message.  Remembers the last per_imei messages of each IMEI
 * (at most max_imeis IMEIs, the least recently heard forgotten first) for
 * max_age_ms (0: never ages).
 */
struct directip_dedup;

/*
 * A 64-bit digest of an MO payload (FNV-1a): not cryptographic, and needs
 * not be: it tells a re-delivery from a new message under a reused MOMSN,
 * and a payload is sealed by its sender, so no one else can choose one to
 * collide with a message not yet sent.
 */
uint64_t directip_payload_digest(const uint8_t *p, size_t n);

struct directip_dedup *directip_dedup_new(unsigned per_imei, unsigned max_imeis, uint64_t max_age_ms);
void directip_dedup_free(struct directip_dedup *d);
/* true: seen before (drop it); false: new, and now remembered. */
bool directip_dedup_seen(struct directip_dedup *d, const char *imei, uint16_t momsn, uint64_t digest,
    uint64_t now_ms);
/* The same question without remembering it (remember once the message is safely stored). */
bool directip_dedup_has(struct directip_dedup *d, const char *imei, uint16_t momsn, uint64_t digest,
    uint64_t now_ms);

#endif
