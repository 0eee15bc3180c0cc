/* test_crypto.c - RFC 8439 vectors, truncated tags, authenticate-only, replay window, key file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto.h"

static size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = v;
	}
	return n;
}

static const char sunscreen[] =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";

/* RFC 8439 2.4.2: ChaCha20 from block 1 is exactly our encryption step. */
static void
test_rfc_2_4_2_chacha20(void **state)
{
	uint8_t key[32], nonce[12], ct[114], want[114], tag[16];

	for (int i = 0; i < 32; i++)
		key[i] = i;
	unhex("000000000000004a00000000", nonce, sizeof(nonce));
	assert_int_equal(strlen(sunscreen), 114);
	unhex("6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab"
	    "8f593dabcd62b3571639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e"
	    "52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d", want, sizeof(want));
	assert_int_equal(crypto_seal(ct, tag, 16, (const uint8_t *)sunscreen, 114, NULL, 0, nonce, key), 0);
	assert_memory_equal(ct, want, 114);
}

/* RFC 8439 2.5.2: the Poly1305 primitive we build on. */
static void
test_rfc_2_5_2_poly1305(void **state)
{
	uint8_t key[32], tag[16], want[16];
	const char *msg = "Cryptographic Forum Research Group";

	unhex("85d6be7857556d337f4452fe42d506a8" "0103808afb0db2fd4abff6af4149f51b", key, sizeof(key));
	unhex("a8061dc1305136c6c22b8baf0c0127a9", want, sizeof(want));
	crypto_onetimeauth_poly1305(tag, (const uint8_t *)msg, strlen(msg), key);
	assert_memory_equal(tag, want, 16);
}

/* RFC 8439 2.6.2: the one-time key from ChaCha20 block 0. */
static void
test_rfc_2_6_2_poly1305_keygen(void **state)
{
	uint8_t key[32], nonce[12], otk[32], want[32];

	for (int i = 0; i < 32; i++)
		key[i] = 0x80 + i;
	unhex("000000000001020304050607", nonce, sizeof(nonce));
	unhex("8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646", want, sizeof(want));
	crypto_poly1305_key(otk, nonce, key);
	assert_memory_equal(otk, want, 32);
}

static uint8_t v_key[32], v_nonce[12], v_aad[12], v_ct[114], v_tag[16];

static void
aead_vector(void)
{
	for (int i = 0; i < 32; i++)
		v_key[i] = 0x80 + i;
	unhex("070000004041424344454647", v_nonce, sizeof(v_nonce));
	unhex("50515253c0c1c2c3c4c5c6c7", v_aad, sizeof(v_aad));
	unhex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca96712"
	    "82fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58"
	    "fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116", v_ct, sizeof(v_ct));
	unhex("1ae10b594f09e26a7e902ecbd0600691", v_tag, sizeof(v_tag));
}

/* RFC 8439 2.8.2: ciphertext and tag exactly; and the 8-byte tag is its prefix. */
static void
test_rfc_2_8_2_aead(void **state)
{
	uint8_t ct[114], tag[16], pt[114], otk[32], want_otk[32];

	aead_vector();
	unhex("7bac2b252db447af09b67a55a4e955840ae1d6731075d9eb2a9375783ed553ff", want_otk, 32);
	crypto_poly1305_key(otk, v_nonce, v_key);
	assert_memory_equal(otk, want_otk, 32);

	assert_int_equal(crypto_seal(ct, tag, 16, (const uint8_t *)sunscreen, 114, v_aad, 12, v_nonce, v_key), 0);
	assert_memory_equal(ct, v_ct, 114);
	assert_memory_equal(tag, v_tag, 16);

	assert_int_equal(crypto_seal(ct, tag, 8, (const uint8_t *)sunscreen, 114, v_aad, 12, v_nonce, v_key), 0);
	assert_memory_equal(tag, v_tag, 8);

	assert_int_equal(crypto_open(pt, v_ct, 114, v_tag, 16, v_aad, 12, v_nonce, v_key), 0);
	assert_memory_equal(pt, sunscreen, 114);
	assert_int_equal(crypto_open(pt, v_ct, 114, v_tag, 8, v_aad, 12, v_nonce, v_key), 0);
	assert_int_equal(crypto_seal(ct, tag, 12, pt, 114, v_aad, 12, v_nonce, v_key), -EINVAL);
}

/* Our construction and libsodium's AEAD agree byte for byte, over many lengths. */
static void
test_matches_libsodium(void **state)
{
	uint8_t key[32], nonce[12], aad[80], pt[300], ct[300], ct2[300 + 16], tag[16], back[300];
	unsigned long long clen;

	randombytes_buf(key, sizeof(key));
	for (size_t len = 0; len <= 300; len += 7) {
		for (size_t alen = 0; alen <= 80; alen += 13) {
			randombytes_buf(nonce, sizeof(nonce));
			randombytes_buf(aad, sizeof(aad));
			randombytes_buf(pt, sizeof(pt));
			assert_int_equal(crypto_seal(ct, tag, 16, pt, len, aad, alen, nonce, key), 0);
			crypto_aead_chacha20poly1305_ietf_encrypt(ct2, &clen, pt, len, aad, alen, NULL, nonce, key);
			assert_int_equal(clen, len + 16);
			assert_memory_equal(ct, ct2, len);
			assert_memory_equal(tag, ct2 + len, 16);
			/* In place, too. */
			memcpy(back, pt, len);
			assert_int_equal(crypto_seal(back, tag, 16, back, len, aad, alen, nonce, key), 0);
			assert_memory_equal(back, ct, len);
			assert_int_equal(crypto_open(back, back, len, tag, 16, aad, alen, nonce, key), 0);
			assert_memory_equal(back, pt, len);
		}
	}
}

/* Every single bit flip anywhere (aad, ciphertext, tag, nonce) is refused, for both tag lengths. */
static void
test_bit_flips_rejected(void **state)
{
	uint8_t ct[114], pt[114], tag[16], aad[12], nonce[12];

	aead_vector();
	for (size_t taglen = 8; taglen <= 16; taglen += 8) {
		memcpy(tag, v_tag, 16);
		for (size_t bit = 0; bit < 114 * 8; bit++) {
			memcpy(ct, v_ct, 114);
			memset(pt, 0xaa, sizeof(pt));
			ct[bit / 8] ^= 1 << bit % 8;
			assert_int_equal(crypto_open(pt, ct, 114, tag, taglen, v_aad, 12, v_nonce, v_key), -EBADMSG);
			/* Nothing was decrypted. */
			for (size_t i = 0; i < 114; i++)
				assert_int_equal(pt[i], 0xaa);
		}
		for (size_t bit = 0; bit < taglen * 8; bit++) {
			memcpy(tag, v_tag, 16);
			tag[bit / 8] ^= 1 << bit % 8;
			assert_int_equal(crypto_open(pt, v_ct, 114, tag, taglen, v_aad, 12, v_nonce, v_key), -EBADMSG);
		}
		memcpy(tag, v_tag, 16);
		for (size_t bit = 0; bit < 12 * 8; bit++) {
			memcpy(aad, v_aad, 12);
			memcpy(nonce, v_nonce, 12);
			aad[bit / 8] ^= 1 << bit % 8;
			assert_int_equal(crypto_open(pt, v_ct, 114, tag, taglen, aad, 12, v_nonce, v_key), -EBADMSG);
			nonce[bit / 8] ^= 1 << bit % 8;
			assert_int_equal(crypto_open(pt, v_ct, 114, tag, taglen, v_aad, 12, nonce, v_key), -EBADMSG);
		}
		/* Shorter aad or ciphertext. */
		assert_int_equal(crypto_open(pt, v_ct, 113, tag, taglen, v_aad, 12, v_nonce, v_key), -EBADMSG);
		assert_int_equal(crypto_open(pt, v_ct, 114, tag, taglen, v_aad, 11, v_nonce, v_key), -EBADMSG);
		assert_int_equal(crypto_open(pt, v_ct, 114, tag, taglen, v_aad, 12, v_nonce, v_key), 0);
	}
}

/* Authenticate-only: message in clear, tag = AEAD with aad || msg and empty ciphertext. */
static void
test_auth_only(void **state)
{
	uint8_t key[32], nonce[12], hdr[10], msg[100], joined[110], tag[16], ref[16], ct[1];
	unsigned long long clen;

	randombytes_buf(key, sizeof(key));
	randombytes_buf(hdr, sizeof(hdr));
	randombytes_buf(msg, sizeof(msg));
	crypto_nonce(nonce, 7, 3, 99);
	memcpy(joined, hdr, 10);
	memcpy(joined + 10, msg, 100);

	assert_int_equal(crypto_authonly_tag(tag, 16, hdr, 10, msg, 100, nonce, key), 0);
	assert_int_equal(crypto_seal(ct, ref, 16, NULL, 0, joined, 110, nonce, key), 0);
	assert_memory_equal(tag, ref, 16);
	uint8_t sod[16];
	crypto_aead_chacha20poly1305_ietf_encrypt(sod, &clen, NULL, 0, joined, 110, NULL, nonce, key);
	assert_int_equal(clen, 16);
	assert_memory_equal(tag, sod, 16);

	assert_int_equal(crypto_authonly_verify(tag, 16, hdr, 10, msg, 100, nonce, key), 0);
	assert_int_equal(crypto_authonly_verify(tag, 8, hdr, 10, msg, 100, nonce, key), 0);
	for (size_t bit = 0; bit < 100 * 8; bit++) {
		msg[bit / 8] ^= 1 << bit % 8;
		assert_int_equal(crypto_authonly_verify(tag, 8, hdr, 10, msg, 100, nonce, key), -EBADMSG);
		msg[bit / 8] ^= 1 << bit % 8;
	}
	hdr[0] ^= 1;
	assert_int_equal(crypto_authonly_verify(tag, 16, hdr, 10, msg, 100, nonce, key), -EBADMSG);
	hdr[0] ^= 1;
	/* Moving the boundary between header and message changes nothing (same aad bytes)... */
	assert_int_equal(crypto_authonly_verify(tag, 16, hdr, 9, joined + 9, 101, nonce, key), 0);
	/* ...which is why the frame header carries the lengths it needs itself. */
}

static void
test_nonce_layout(void **state)
{
	uint8_t n[12], want[12];

	crypto_nonce(n, 0x01020304, 0x0a0b0c0d, 0xfffffffe);
	unhex("010203040a0b0c0dfffffffe", want, sizeof(want));
	assert_memory_equal(n, want, 12);
}

static void
test_sender_counter(void **state)
{
	struct crypto_sender s;
	uint32_t c;

	assert_int_equal(crypto_sender_init(&s, UINT64_C(1) << 32, 1), -ERANGE);
	assert_int_equal(crypto_sender_init(&s, 5, UINT64_C(1) << 32), -ERANGE);
	assert_int_equal(crypto_sender_init(&s, 5, 2), 0);
	assert_int_equal(crypto_sender_next(&s, &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(crypto_sender_next(&s, &c), 0);
	assert_int_equal(c, 1);
	s.next = UINT32_MAX;
	assert_int_equal(crypto_sender_next(&s, &c), 0);
	assert_int_equal(c, UINT32_MAX);
	assert_int_equal(crypto_sender_next(&s, &c), -EOVERFLOW);
	assert_int_equal(crypto_sender_next(&s, &c), -EOVERFLOW);
}

/* check, then update on success: what frame_open does. */
static enum crypto_replay_verdict
rx(struct crypto_replay *r, uint32_t node, uint32_t boot, uint32_t ctr)
{
	enum crypto_replay_verdict v = crypto_replay_check(r, node, boot, ctr);

	if (v == REPLAY_FRESH)
		crypto_replay_update(r, node, boot, ctr);
	return v;
}

static void
test_replay_window(void **state)
{
	struct crypto_replay *r = crypto_replay_new(0);

	assert_non_null(r);
	/* In order. */
	for (uint32_t c = 0; c < 200; c++)
		assert_int_equal(rx(r, 1, 1, c), REPLAY_FRESH);
	/* Duplicates of recent ones. */
	assert_int_equal(rx(r, 1, 1, 199), REPLAY_DUPLICATE);
	assert_int_equal(rx(r, 1, 1, 150), REPLAY_DUPLICATE);
	assert_int_equal(rx(r, 1, 1, 136), REPLAY_DUPLICATE);	/* 63 behind: still in the window */
	assert_int_equal(rx(r, 1, 1, 135), REPLAY_TOO_OLD);	/* 64 behind */
	assert_int_equal(rx(r, 1, 1, 0), REPLAY_TOO_OLD);
	/* Reordered within the window: a gap, then the missing ones late. */
	assert_int_equal(rx(r, 1, 1, 210), REPLAY_FRESH);
	for (uint32_t c = 209; c >= 200; c--)
		assert_int_equal(rx(r, 1, 1, c), REPLAY_FRESH);
	for (uint32_t c = 200; c <= 210; c++)
		assert_int_equal(rx(r, 1, 1, c), REPLAY_DUPLICATE);
	/* A jump beyond the window forgets the bitmap but not the top. */
	assert_int_equal(rx(r, 1, 1, 1000), REPLAY_FRESH);
	assert_int_equal(rx(r, 1, 1, 999), REPLAY_FRESH);
	assert_int_equal(rx(r, 1, 1, 937), REPLAY_FRESH);
	assert_int_equal(rx(r, 1, 1, 936), REPLAY_TOO_OLD);
	assert_int_equal(rx(r, 1, 1, 1000), REPLAY_DUPLICATE);
	/* Check alone changes nothing. */
	assert_int_equal(crypto_replay_check(r, 1, 1, 1001), REPLAY_FRESH);
	assert_int_equal(crypto_replay_check(r, 1, 1, 1001), REPLAY_FRESH);
	/* Another sender has its own window. */
	assert_int_equal(rx(r, 2, 1, 1000), REPLAY_FRESH);
	assert_int_equal(rx(r, 2, 1, 5), REPLAY_TOO_OLD);
	/* Boot change: newer boot resets, counters start over; the old boot is dead. */
	assert_int_equal(rx(r, 1, 2, 0), REPLAY_FRESH);
	assert_int_equal(rx(r, 1, 2, 1), REPLAY_FRESH);
	assert_int_equal(rx(r, 1, 2, 0), REPLAY_DUPLICATE);
	assert_int_equal(rx(r, 1, 1, 5000), REPLAY_OLD_BOOT);
	assert_int_equal(rx(r, 1, 1, 1001), REPLAY_OLD_BOOT);
	/* Counter extremes. */
	assert_int_equal(rx(r, 3, 1, UINT32_MAX), REPLAY_FRESH);
	assert_int_equal(rx(r, 3, 1, UINT32_MAX), REPLAY_DUPLICATE);
	assert_int_equal(rx(r, 3, 1, 0), REPLAY_TOO_OLD);
	assert_int_equal(crypto_replay_evictions(r), 0);
	crypto_replay_free(r);
	crypto_replay_free(NULL);
}

/* A full table evicts the least recently heard sender, and counts it. */
static void
test_replay_eviction(void **state)
{
	struct crypto_replay *r = crypto_replay_new(4);

	for (uint32_t n = 1; n <= 4; n++)
		assert_int_equal(rx(r, n, 1, 10), REPLAY_FRESH);
	assert_int_equal(rx(r, 1, 1, 11), REPLAY_FRESH);	/* 1 is now the most recent */
	assert_int_equal(rx(r, 5, 1, 10), REPLAY_FRESH);	/* evicts 2 */
	assert_int_equal(crypto_replay_evictions(r), 1);
	assert_int_equal(rx(r, 1, 1, 11), REPLAY_DUPLICATE);
	assert_int_equal(rx(r, 3, 1, 10), REPLAY_DUPLICATE);
	/* The documented limitation: an evicted sender's old frame passes once. */
	assert_int_equal(rx(r, 2, 1, 10), REPLAY_FRESH);
	assert_int_equal(rx(r, 2, 1, 10), REPLAY_DUPLICATE);
	crypto_replay_free(r);
}

struct boots { unsigned n; uint32_t node, boot, counter; };

static void
on_boot(void *arg, uint32_t node, uint32_t boot, uint32_t counter)
{
	struct boots *b = arg;

	b->n++;
	b->node = node;
	b->boot = boot;
	b->counter = counter;
}

/*
 * Across a restart (relay/daemon/peerstate.c): a restored entry spends every counter
 * of its boot up to top and every older boot; only newer counters or a newer
 * boot pass.  It never lowers what the table knows.  Boot changes are told,
 * counters within a boot are not.
 */
static void
test_replay_restore(void **state)
{
	struct crypto_replay *r = crypto_replay_new(4);
	struct boots b = { 0 };
	uint32_t node, boot, top;
	size_t pos = 0;
	unsigned n = 0;

	crypto_replay_on_boot(r, on_boot, &b);
	crypto_replay_restore(r, 7, 3, 1000);
	assert_int_equal(b.n, 0);
	assert_true(crypto_replay_peek(r, 7, &boot, &top));
	assert_int_equal(boot, 3);
	assert_int_equal(top, 1000);
	assert_int_equal(rx(r, 7, 3, 1000), REPLAY_DUPLICATE);
	assert_int_equal(rx(r, 7, 3, 999), REPLAY_DUPLICATE);
	assert_int_equal(rx(r, 7, 3, 937), REPLAY_DUPLICATE);
	assert_int_equal(rx(r, 7, 3, 936), REPLAY_TOO_OLD);
	assert_int_equal(rx(r, 7, 3, 0), REPLAY_TOO_OLD);
	assert_int_equal(rx(r, 7, 2, 5000), REPLAY_OLD_BOOT);
	assert_int_equal(rx(r, 7, 3, 1001), REPLAY_FRESH);
	assert_int_equal(b.n, 0);			/* the same boot: not told */
	assert_int_equal(rx(r, 7, 3, 1001), REPLAY_DUPLICATE);
	/* Not lowered by an older save. */
	crypto_replay_restore(r, 7, 3, 10);
	crypto_replay_restore(r, 7, 2, 100000);
	assert_int_equal(rx(r, 7, 3, 1002), REPLAY_FRESH);
	assert_int_equal(rx(r, 7, 3, 1000), REPLAY_DUPLICATE);
	/* Raised by a newer one. */
	crypto_replay_restore(r, 7, 3, 5000);
	assert_int_equal(rx(r, 7, 3, 4000), REPLAY_TOO_OLD);
	assert_int_equal(rx(r, 7, 3, 5001), REPLAY_FRESH);
	/* A newer boot passes, and is told. */
	assert_int_equal(rx(r, 7, 4, 0), REPLAY_FRESH);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.node, 7);
	assert_int_equal(b.boot, 4);
	assert_int_equal(b.counter, 0);
	/* A sender first heard is told too. */
	assert_int_equal(rx(r, 8, 1, 42), REPLAY_FRESH);
	assert_int_equal(b.n, 2);
	assert_int_equal(b.node, 8);
	assert_int_equal(b.counter, 42);
	/* Every entry, once. */
	while (crypto_replay_next(r, &pos, &node, &boot, &top)) {
		n++;
		if (node == 7) {
			assert_int_equal(boot, 4);
			assert_int_equal(top, 0);
		} else {
			assert_int_equal(node, 8);
			assert_int_equal(top, 42);
		}
	}
	assert_int_equal(n, 2);
	assert_false(crypto_replay_next(r, &pos, &node, &boot, &top));
	crypto_replay_free(r);
}

/* Skipped counters are never handed out; skipping past the end spends them all. */
static void
test_sender_skip(void **state)
{
	struct crypto_sender s;
	uint32_t c;

	assert_int_equal(crypto_sender_init(&s, 5, 2), 0);
	assert_int_equal(crypto_sender_next(&s, &c), 0);
	crypto_sender_skip(&s, CRYPTO_RESTART_MARGIN);
	assert_int_equal(crypto_sender_next(&s, &c), 0);
	assert_int_equal(c, 1 + CRYPTO_RESTART_MARGIN);
	s.next = UINT32_MAX - 1;
	crypto_sender_skip(&s, UINT32_MAX);
	assert_int_equal(crypto_sender_next(&s, &c), -EOVERFLOW);
}

static char kpath[64];
static char err[512];

static int
load_keys(const char *text, mode_t mode, struct crypto_keyring *kr)
{
	FILE *fp;
	int fd;

	strcpy(kpath, "/tmp/test_crypto.XXXXXX");
	fd = mkstemp(kpath);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(kpath, mode), 0);
	err[0] = '\0';
	int r = crypto_keyfile_load(kpath, kr, err, sizeof(err));
	unlink(kpath);
	return r;
}

#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2 "8081828384858687888990919293949596979899a0a1a2a3a4a5a6a7a8a9aaab"

static void
expect_line_error(const char *text, int line, const char *msg)
{
	struct crypto_keyring kr;
	char prefix[128];

	assert_int_equal(load_keys(text, 0600, &kr), -EINVAL);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", kpath, line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, msg) == NULL)
		fail_msg("expected '%s...%s', got '%s'", prefix, msg, err);
	assert_int_equal(kr.n, 0);
}

static void
test_keyfile(void **state)
{
	struct crypto_keyring kr;
	const struct crypto_key *k;
	uint8_t want[32];

	assert_int_equal(load_keys("# network keys\n\n1 " K1 "\n  2 " K2 "  # the new one\n", 0600, &kr), 0);
	assert_int_equal(kr.n, 2);
	k = crypto_keyring_send_key(&kr);
	assert_non_null(k);
	assert_int_equal(k->id, 2);		/* highest id */
	unhex(K2, want, 32);
	assert_memory_equal(k->key, want, 32);
	k = crypto_keyring_find(&kr, 1);
	assert_non_null(k);
	unhex(K1, want, 32);
	assert_memory_equal(k->key, want, 32);
	assert_null(crypto_keyring_find(&kr, 3));
	crypto_keyring_clear(&kr);
	assert_null(crypto_keyring_send_key(&kr));

	/* A marked key wins over a higher id, wherever it is. */
	assert_int_equal(load_keys("1 " K1 " send\n200 " K2 "\n", 0400, &kr), 0);
	assert_int_equal(crypto_keyring_send_key(&kr)->id, 1);
	assert_non_null(crypto_keyring_find(&kr, 200));
}

static void
test_keyfile_permissions(void **state)
{
	struct crypto_keyring kr;
	static const mode_t bad[] = { 0644, 0640, 0604, 0620, 0602, 0660, 0666, 0610 };

	assert_int_equal(load_keys("1 " K1 "\n", 0600, &kr), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load_keys("1 " K1 "\n", bad[i], &kr), -EACCES);
		assert_non_null(strstr(err, kpath));
		assert_non_null(strstr(err, "group or others"));
		assert_non_null(strstr(err, "chmod 600"));
		assert_int_equal(kr.n, 0);
	}
	assert_int_equal(load_keys("1 " K1 "\n", 0644, &kr), -EACCES);
	char mode[16];
	snprintf(mode, sizeof(mode), "mode 0644");
	assert_non_null(strstr(err, mode));

	assert_true(crypto_keyfile_load("/nonexistent/keys", &kr, err, sizeof(err)) == -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/keys"));
	assert_int_equal(crypto_keyfile_load("/tmp", &kr, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "not a regular file"));
}

/* Owned by someone else: only testable as root (chown). */
static void
test_keyfile_owner(void **state)
{
	struct crypto_keyring kr;
	FILE *fp;
	int fd;

	if (geteuid() != 0)
		skip();
	strcpy(kpath, "/tmp/test_crypto.XXXXXX");
	fd = mkstemp(kpath);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs("1 " K1 "\n", fp);
	fclose(fp);
	assert_int_equal(chmod(kpath, 0600), 0);
	assert_int_equal(chown(kpath, 12345, 12345), 0);
	assert_int_equal(crypto_keyfile_load(kpath, &kr, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "owned by uid 12345"));
	unlink(kpath);
}

static void
test_keyfile_syntax(void **state)
{
	expect_line_error("# x\n1 " K1 "\n2 00112233445566778899aabbccddeeffgg112233445566778899aabbccddeeff\n",
	    3, "64 hex digits");
	expect_line_error("1 " K1 "00\n", 1, "64 hex digits");
	expect_line_error("1 0102\n", 1, "64 hex digits");
	expect_line_error("\n\n1\n", 3, "expected");
	expect_line_error("256 " K1 "\n", 1, "0..255");
	expect_line_error("-1 " K1 "\n", 1, "0..255");
	expect_line_error("x1 " K1 "\n", 1, "0..255");
	expect_line_error("1 " K1 "\n1 " K2 "\n", 2, "given twice");
	expect_line_error("1 " K1 " send\n2 " K2 " send\n", 2, "more than one key marked");
	expect_line_error("1 " K1 " now\n", 1, "\"send\"");
	expect_line_error("1 " K1 " send extra\n", 1, "trailing");
	expect_line_error("1 0000000000000000000000000000000000000000000000000000000000000000\n", 1, "all-zero");

	struct crypto_keyring kr;
	assert_int_equal(load_keys("# only a comment\n\n", 0600, &kr), -EINVAL);
	assert_non_null(strstr(err, "no key"));
}

static int
setup(void **state)
{
	return crypto_init();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_2_4_2_chacha20),
		cmocka_unit_test(test_rfc_2_5_2_poly1305),
		cmocka_unit_test(test_rfc_2_6_2_poly1305_keygen),
		cmocka_unit_test(test_rfc_2_8_2_aead),
		cmocka_unit_test(test_matches_libsodium),
		cmocka_unit_test(test_bit_flips_rejected),
		cmocka_unit_test(test_auth_only),
		cmocka_unit_test(test_nonce_layout),
		cmocka_unit_test(test_sender_counter),
		cmocka_unit_test(test_replay_window),
		cmocka_unit_test(test_replay_eviction),
		cmocka_unit_test(test_replay_restore),
		cmocka_unit_test(test_sender_skip),
		cmocka_unit_test(test_keyfile),
		cmocka_unit_test(test_keyfile_permissions),
		cmocka_unit_test(test_keyfile_owner),
		cmocka_unit_test(test_keyfile_syntax),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
