/*
 * crypto.h - link security (DESIGN.md section 6): ChaCha20-Poly1305 per
 * RFC 8439 with a full or truncated tag, an authenticate-only mode, the
 * nonce layout, a replay window per sender, and the network key file.
 *
 * The AEAD is computed from libsodium's primitives (ChaCha20 with a 96-bit
 * nonce and an initial block counter, and one-time Poly1305), because
 * libsodium's AEAD API only checks 16-byte tags; for the 16-byte case our
 * construction is the same bytes as crypto_aead_chacha20poly1305_ietf_*
 * (tests/unit/test_crypto.c proves it).  A truncated tag is the first 8
 * bytes of the full one, compared in constant time.
 *
 * Nonce (12 bytes), each field big-endian (network order):
 *
 *   0..3   sender node id (32 bits)
 *   4..7   boot counter of the sender (32 bits), persisted by the store
 *          before the first frame of a boot is sent
 *   8..11  frame counter (32 bits), per boot, never reused
 *
 * Every sender's nonces are distinct from every other sender's (node id),
 * from its earlier boots (boot counter), and from each other (frame
 * counter).  The frame counter belongs to the node, not to a link: all links
 * that share a network key must draw from the same crypto_sender.  When the
 * frame counter would wrap, the node must persist a new boot counter first.
 */
#ifndef FIELDRELAY_CRYPTO_H
#define FIELDRELAY_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN		32
#define CRYPTO_NONCE_LEN	12
#define CRYPTO_TAG_LEN		16	/* full Poly1305 tag */
#define CRYPTO_TAG_SHORT	8	/* truncated tag for narrow links */
#define CRYPTO_MAX_KEYS		16	/* keys in one key file */
#define CRYPTO_REPLAY_WINDOW	64	/* frames behind the newest still accepted */
#define CRYPTO_REPLAY_SENDERS	256	/* default size of the replay table */

/*
 * libsodium's sodium_init(); 0 or -EIO.  Safe to call more than once.
 * (crypto_ is libsodium's prefix too: our names are chosen not to collide.)
 */
int crypto_init(void);

void crypto_nonce(uint8_t nonce[CRYPTO_NONCE_LEN], uint32_t node, uint32_t boot, uint32_t counter);

/* The Poly1305 one-time key for (key, nonce): ChaCha20 block 0 (RFC 8439 2.6). */
void crypto_poly1305_key(uint8_t otk[32], const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN]);

/*
 * AEAD_CHACHA20_POLY1305: encrypt len bytes of pt into ct (ct may be pt) and
 * write taglen (8 or 16) bytes of tag.  0, or -EINVAL for another taglen.
 */
int crypto_seal(uint8_t *ct, uint8_t *tag, size_t taglen, const uint8_t *pt, size_t len,
    const uint8_t *aad, size_t aadlen, const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN]);

/*
 * Check the tag over aad and ct first; only if it matches, decrypt into pt
 * (pt may be ct).  0, -EBADMSG (pt untouched) or -EINVAL.
 */
int crypto_open(uint8_t *pt, const uint8_t *ct, size_t len, const uint8_t *tag, size_t taglen,
    const uint8_t *aad, size_t aadlen, const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN]);

/*
 * Authenticate-only (links where encryption is not allowed): the message
 * travels in clear and the tag is the RFC 8439 AEAD tag with associated data
 * aad || msg and an empty ciphertext, i.e. Poly1305 over
 * aad || msg || pad16 || le64(aadlen + len) || le64(0).  Same key, same
 * nonce space as the encrypting mode; the frame flags in aad say which mode
 * was used, so a frame cannot be switched from one to the other.
 */
int crypto_authonly_tag(uint8_t *tag, size_t taglen, const uint8_t *aad, size_t aadlen,
    const uint8_t *msg, size_t len, const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN]);
/* 0, -EBADMSG or -EINVAL. */
int crypto_authonly_verify(const uint8_t *tag, size_t taglen, const uint8_t *aad, size_t aadlen,
    const uint8_t *msg, size_t len, const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN]);

/* ---- sending: the frame counter of this boot ---- */

struct crypto_sender {
	uint32_t node, boot;
	uint64_t next;			/* next frame counter; 2^32 when spent */
};

/* -ERANGE if the node id or boot counter does not fit the nonce's 32 bits. */
int crypto_sender_init(struct crypto_sender *s, uint64_t node, uint64_t boot);
/*
 * The next frame counter.  -EOVERFLOW once all 2^32 are used: persist a new
 * boot counter and crypto_sender_init() again; never send with a reused one.
 */
int crypto_sender_next(struct crypto_sender *s, uint32_t *counter);
/*
 * Leave n frame counters unused (always safe: a nonce is never reused).
 * A sender does it when a neighbour (re)appears, by CRYPTO_RESTART_MARGIN:
 * that neighbour may have restarted and put its replay window for us
 * that far above the last counter it stored (see crypto_replay_restore).
 */
void crypto_sender_skip(struct crypto_sender *s, uint32_t n);

/* ---- receiving: replay window per (sender, boot) ---- */

enum crypto_replay_verdict {
	REPLAY_FRESH = 0,
	REPLAY_DUPLICATE,		/* inside the window, already seen */
	REPLAY_TOO_OLD,			/* more than CRYPTO_REPLAY_WINDOW behind the newest */
	REPLAY_OLD_BOOT,		/* a boot older than the newest seen from that sender */
};

struct crypto_replay;

/* max_senders 0: CRYPTO_REPLAY_SENDERS.  NULL with errno set. */
struct crypto_replay *crypto_replay_new(size_t max_senders);
void crypto_replay_free(struct crypto_replay *r);

/* Would this frame be fresh?  Changes nothing: call before the tag check. */
enum crypto_replay_verdict crypto_replay_check(const struct crypto_replay *r,
    uint32_t node, uint32_t boot, uint32_t counter);
/* Record a frame whose tag was verified (and which crypto_replay_check passed). */
void crypto_replay_update(struct crypto_replay *r, uint32_t node, uint32_t boot, uint32_t counter);
/*
 * The newest boot and highest frame counter recorded for node; false if it
 * has no entry.  Compact frame headers (radio/frame.c) leave the boot out
 * and carry only the low bits of the counter: the rest comes from here.
 */
bool crypto_replay_peek(const struct crypto_replay *r, uint32_t node, uint32_t *boot, uint32_t *top);
/* Senders pushed out of the table so far (see crypto.c on what that means). */
uint64_t crypto_replay_evictions(const struct crypto_replay *r);

/*
 * Across restarts (relay/daemon/peerstate.c keeps the table in the store): after a
 * restart, every counter of boot `boot` up to `top` counts as seen, and
 * every older boot as old; a newer entry already in the table stays.  The
 * caller passes the stored high-water mark plus CRYPTO_RESTART_MARGIN: more
 * than the frames one sender can get accepted between two saves, so that a
 * kill -9 after the last save opens no frame to a replay.  A live sender
 * goes on above it because it skips as many counters when it hears this
 * node again (crypto_sender_skip).
 */
#define CRYPTO_RESTART_MARGIN	(1u << 18)
void crypto_replay_restore(struct crypto_replay *r, uint32_t node, uint32_t boot, uint32_t top);
/*
 * The entries one by one, for saving them: start with *pos 0; false at the
 * end.  Cheap enough to run every few hundred milliseconds.
 */
bool crypto_replay_next(const struct crypto_replay *r, size_t *pos, uint32_t *node, uint32_t *boot,
    uint32_t *top);
/*
 * fn(arg, node, boot, counter) whenever an entry is created or its boot
 * advances (a sender first heard, or restarted): so that the new boot can
 * be saved at once, not at the next periodic save.  Never once per frame.
 */
typedef void crypto_replay_boot_fn(void *arg, uint32_t node, uint32_t boot, uint32_t counter);
void crypto_replay_on_boot(struct crypto_replay *r, crypto_replay_boot_fn *fn, void *arg);

/* ---- network keys ---- */

struct crypto_key {
	uint8_t id;
	uint8_t key[CRYPTO_KEY_LEN];
};

struct crypto_keyring {
	struct crypto_key keys[CRYPTO_MAX_KEYS];
	unsigned n;
	int send;			/* index of the key to send with, -1 if none */
	bool marked;			/* send was chosen explicitly */
};

void crypto_keyring_init(struct crypto_keyring *kr);
/* Wipe the key material. */
void crypto_keyring_clear(struct crypto_keyring *kr);
/*
 * Add a key; mark it as the one to send with if send, or if no key is marked
 * and its id is the highest so far.  -EEXIST (id taken), -EBUSY (another
 * key is already marked), -ENOSPC.
 */
int crypto_keyring_add(struct crypto_keyring *kr, uint8_t id, const uint8_t key[CRYPTO_KEY_LEN], bool send);
const struct crypto_key *crypto_keyring_find(const struct crypto_keyring *kr, uint8_t id);
const struct crypto_key *crypto_keyring_send_key(const struct crypto_keyring *kr);

/*
 * Load a key file:
 *
 *   # comment (also after a key)
 *   KEYID HEX64 [send]
 *
 * KEYID is decimal 0..255, HEX64 the 32-byte key in hex.  The key marked
 * "send" (at most one) is used for sending, otherwise the highest id; all
 * are accepted when receiving.  The file must be a regular file owned by the
 * running user or root, with no group or other permission bits (0600 or
 * 0400).  Returns 0, -EACCES (permissions), -EINVAL (syntax, with
 * "PATH:LINE: ..." in err) or another -errno from open; err always says why.
 */
int crypto_keyfile_load(const char *path, struct crypto_keyring *kr, char *err, size_t errlen);

#endif
