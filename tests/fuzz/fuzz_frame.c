/*
 * fuzz_frame.c - libFuzzer target for the link frame envelope and bodies.
 *
 * The first input byte picks a mode:
 *  - even: the rest goes to frame_open() with a fixed test key, on a link
 *    using the flags in bits 1-2 (forged frames, truncation, header parsing);
 *  - odd: the rest is a body of type (byte >> 1) % (FRAME_TYPE_MAX + 1).
 *    Whatever frame_body_decode() accepts must encode back to exactly the
 *    same bytes (the codec is canonical), decode again to the same encoding,
 *    and survive frame_seal() -> frame_open() with every flag combination,
 *    in a full envelope and (all but beacons) in a compact one.
 * Any mismatch aborts, which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_frame: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();						\
	}								\
} while (0)

#define BUF_MAX	70000

static struct crypto_keyring ring;
static struct crypto_replay *replay;
static uint32_t counter = 1;

static void
init(void)
{
	uint8_t k[CRYPTO_KEY_LEN];

	if (replay)
		return;
	CHECK(crypto_init() == 0);
	crypto_keyring_init(&ring);
	memset(k, 0x5a, sizeof(k));
	CHECK(crypto_keyring_add(&ring, 1, k, false) == 0);
	replay = crypto_replay_new(0);
	CHECK(replay != NULL);
}

static void
open_arbitrary(uint8_t flags, const uint8_t *data, size_t size)
{
	static uint8_t buf[BUF_MAX];
	struct frame_rx rx = { .keys = &ring, .replay = replay, .flags = flags };
	struct frame_hdr h;
	struct frame_msg m;
	enum frame_drop d;

	memcpy(buf, data, size);
	d = frame_open(&rx, buf, size, &h, &m);
	CHECK((unsigned)d < FRAME_DROP_N);
	CHECK(rx.count[d] == 1);
}

static void
body_round_trip(unsigned type, const uint8_t *data, size_t size)
{
	static uint8_t enc[BUF_MAX], enc2[BUF_MAX], frame[BUF_MAX + 64];
	struct frame_msg m, m2, m3;
	ssize_t n, n2;

	if (frame_body_decode(type, data, size, &m) < 0)
		return;
	n = frame_body_encode(&m, enc, sizeof(enc));
	CHECK(n == (ssize_t)size);
	CHECK(memcmp(enc, data, size) == 0);
	CHECK(frame_body_encode(&m, NULL, 0) == n);
	CHECK(frame_body_decode(type, enc, n, &m2) == 0);
	n2 = frame_body_encode(&m2, enc2, sizeof(enc2));
	CHECK(n2 == n && memcmp(enc, enc2, n) == 0);

	for (uint8_t mode = 0; mode <= 2 * FRAME_F_ALL + 1; mode++) {
		uint8_t flags = mode & FRAME_F_ALL;
		bool compact = mode > FRAME_F_ALL;
		struct crypto_replay *rp = crypto_replay_new(4);
		struct frame_rx rx = { .keys = &ring, .replay = rp, .flags = flags };
		struct frame_hdr h = { .flags = flags, .sender = 77, .boot = 3, .counter = counter++,
		    .compact = compact };
		struct frame_hdr gh;
		ssize_t fl;

		CHECK(rp != NULL);
		if (type == FRAME_BEACON)
			h.sender = m.u.beacon.node <= UINT32_MAX ? (uint32_t)m.u.beacon.node : 0;
		fl = frame_seal(frame, sizeof(frame), &h, &m, &ring.keys[0]);
		if (compact && type == FRAME_BEACON) {
			CHECK(fl == -EINVAL);
			crypto_replay_free(rp);
			continue;
		}
		CHECK(fl > 0);
		/* A compact envelope needs the sender's boot from an earlier frame. */
		if (compact) {
			CHECK(frame_open(&rx, frame, fl, &gh, &m3) == FRAME_DROP_UNKNOWN_SENDER);
			crypto_replay_update(rp, 77, 3, h.counter - 1);
		}
		enum frame_drop d = frame_open(&rx, frame, fl, &gh, &m3);
		if (type == FRAME_BEACON && m.u.beacon.node > UINT32_MAX) {
			CHECK(d == FRAME_DROP_MALFORMED);
		} else {
			CHECK(d == FRAME_OK);
			CHECK(gh.type == type && gh.counter == h.counter && gh.sender == h.sender);
			CHECK(gh.boot == 3 && gh.compact == compact);
			n2 = frame_body_encode(&m3, enc2, sizeof(enc2));
			CHECK(n2 == n && memcmp(enc, enc2, n) == 0);
			CHECK(frame_open(&rx, frame, fl, &gh, &m3) != FRAME_OK);
		}
		crypto_replay_free(rp);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size < 1 || size > BUF_MAX)
		return 0;
	if (data[0] & 1)
		body_round_trip((data[0] >> 1) % (FRAME_TYPE_MAX + 1), data + 1, size - 1);
	else
		open_arbitrary((data[0] >> 1) & FRAME_F_ALL, data + 1, size - 1);
	return 0;
}
