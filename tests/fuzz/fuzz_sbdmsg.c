/*
 * fuzz_sbdmsg.c - libFuzzer target for SBD messages (radio/drivers/sbdmsg.c), what
 * the command center takes from the gateway and the backpack from its modem.
 *
 * The first input byte picks a mode:
 *  - 0 mod 3: the rest is a received message, opened as it is (forgeries,
 *    truncation: almost all fail the tag, which must be all that happens);
 *  - 1 mod 3: the rest is a frame body of type BUNDLES or SEGMENT (bit 0 of
 *    the second byte); if the frame codec accepts it, it is sealed with the
 *    network key like an authentic message and opened: every bundle handed
 *    on from compact form must be one our decoder accepts, within the
 *    scratch buffer (a full-form one is checked by the store);
 *  - 2 mod 3: the rest is a bundle; if it decodes, it is packed and opened
 *    again and must come back byte for byte.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "crypto.h"
#include "frame.h"
#include "sbdmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_sbdmsg: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

#define SENDER		5
#define RECEIVER	1
#define SCRATCH		(SBDMSG_MAX + 1024)

static struct crypto_keyring ring;
static struct crypto_sender snd;
static struct crypto_replay *replay;

struct expect {
	const uint8_t *bundle;		/* NULL: any valid bundle */
	size_t len;
	bool raw;			/* full form: the store checks it, anything goes */
	unsigned n;
	const struct sbdmsg_ack *acks;	/* NULL: any well-formed ack */
	unsigned n_acks;
};

static void
init(void)
{
	uint8_t k[CRYPTO_KEY_LEN];

	if (replay)
		return;
	CHECK(crypto_init() == 0);
	crypto_keyring_init(&ring);
	memset(k, 0x3c, sizeof(k));
	CHECK(crypto_keyring_add(&ring, 1, k, true) == 0);
	CHECK(crypto_sender_init(&snd, SENDER, 1) == 0);
	replay = crypto_replay_new(0);
	CHECK(replay != NULL);
}

static void
on_bundle(void *arg, uint64_t sender, uint64_t xid, const uint8_t *bundle, size_t len)
{
	struct expect *e = arg;
	struct bundle b;
	const char *why;

	CHECK(sender == SENDER);
	CHECK(len > 0 && len <= SCRATCH);
	if (e->bundle) {
		CHECK(len == e->len && memcmp(bundle, e->bundle, len) == 0);
	} else if (!e->raw) {
		uint8_t *copy = malloc(len);	/* exact size: ASan sees any over-read */

		CHECK(copy != NULL);
		memcpy(copy, bundle, len);
		CHECK(bundle_decode(&b, copy, len, &why) == 0);
		free(copy);
	}
	e->n++;
}

/* An ack handed on re-encodes into a record that decodes to the same ack. */
static void
on_ack(void *arg, uint64_t sender, const struct sbdmsg_ack *a)
{
	struct expect *e = arg;

	CHECK(sender == SENDER);
	CHECK(e->n_acks < SBDMSG_ACKS_MAX);
	if (e->acks)
		CHECK(memcmp(&e->acks[e->n_acks], a, sizeof(*a)) == 0);
	e->n_acks++;
}

static void
open_it(uint8_t *msg, size_t len, struct expect *e)
{
	static uint8_t scratch[SCRATCH];
	struct frame_rx rx = { .keys = &ring, .replay = replay, .flags = FRAME_F_TAG8, .self = RECEIVER };
	enum frame_drop drop;
	const char *why;
	int r = sbdmsg_open_acks(&rx, RECEIVER, msg, len, scratch, sizeof(scratch), on_bundle, on_ack, e, &drop,
	    &why);

	CHECK(r == -EBADMSG ? why != NULL && e->n == 0 && e->n_acks == 0 :
	    r >= 0 && (unsigned)r == e->n && (r > 0 || e->n_acks > 0));
}

/* Acks from the input (5 bytes each: id, refused as a byte spread over 32 bits) through pack and open. */
static void
acks_round_trip(const uint8_t *p, size_t n)
{
	static uint8_t msg[SBDMSG_MAX + 64];
	struct sbdmsg_tx tx = { .sender = &snd, .keys = &ring, .flags = FRAME_F_TAG8, .receiver = RECEIVER };
	struct sbdmsg_ack acks[SBDMSG_ACKS_MAX];
	struct expect e = { .acks = acks };
	size_t k = 0, taken, acks_taken, overhead;
	ssize_t len;

	for (; k < SBDMSG_ACKS_MAX && n >= 5 * (k + 1); k++) {
		memset(&acks[k], 0, sizeof(acks[k]));
		memcpy(acks[k].id, p + 5 * k, SBDMSG_ID_LEN);
		acks[k].refused = (uint32_t)p[5 * k + 4] << (p[5 * k + 4] % 25);
	}
	if (k == 0)
		return;
	overhead = sbdmsg_overhead(&tx);	/* before the counter moves on */
	len = sbdmsg_pack_acks(&tx, NULL, 0, acks, k, SBDMSG_MAX, msg, sizeof(msg), &taken, &acks_taken);
	CHECK(len > 0 && taken == 0 && acks_taken == k);
	CHECK((size_t)len == overhead + sbdmsg_ack_record_len(acks, k));
	open_it(msg, (size_t)len, &e);
	CHECK(e.n_acks == k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[SBDMSG_MAX + 64], msg[SBDMSG_MAX + 64];
	struct sbdmsg_tx tx = { .sender = &snd, .keys = &ring, .flags = FRAME_F_TAG8, .receiver = RECEIVER };
	struct expect e = { 0 };
	struct frame_hdr h = { .flags = FRAME_F_TAG8, .sender = SENDER, .boot = 1 };
	struct frame_msg m;
	struct sbdmsg_item it;
	struct bundle b;
	const char *why;
	size_t taken;
	ssize_t len;

	init();
	if (size < 2 || size - 1 > SBDMSG_MAX)
		return 0;
	memcpy(buf, data + 1, size - 1);
	switch (data[0] % 4) {
	case 3:
		acks_round_trip(buf, size - 1);
		break;
	case 0:
		open_it(buf, size - 1, &e);
		break;
	case 1:
		if (size < 3 || frame_body_decode(data[1] & 1 ? FRAME_SEGMENT : FRAME_BUNDLES, buf + 1, size - 2,
		    &m) < 0)
			break;
		e.raw = m.type == FRAME_SEGMENT;
		CHECK(crypto_sender_next(&snd, &h.counter) == 0);
		if ((len = frame_seal(msg, sizeof(msg), &h, &m, crypto_keyring_send_key(&ring))) < 0)
			break;
		open_it(msg, (size_t)len, &e);
		break;
	default:
		if (bundle_decode(&b, buf, size - 1, &why) < 0)
			break;
		it = (struct sbdmsg_item){ buf, size - 1 };
		len = sbdmsg_pack(&tx, &it, 1, SBDMSG_MAX, msg, sizeof(msg), &taken);
		if (len == -EMSGSIZE)
			break;
		CHECK(len > 0 && taken == 1);
		CHECK(sbdmsg_measure(&tx, buf, size - 1) == len);
		e.bundle = buf;
		e.len = size - 1;
		open_it(msg, (size_t)len, &e);
		CHECK(e.n == 1);
		break;
	}
	return 0;
}
