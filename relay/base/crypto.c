/*
 * crypto.c - RFC 8439 AEAD from libsodium primitives, authenticate-only
 * mode, replay window, network key file.  See crypto.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto.h"

int
crypto_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

void
crypto_nonce(uint8_t nonce[CRYPTO_NONCE_LEN], uint32_t node, uint32_t boot, uint32_t counter)
{
	put_be32(nonce, node);
	put_be32(nonce + 4, boot);
	put_be32(nonce + 8, counter);
}

void
crypto_poly1305_key(uint8_t otk[32], const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN])
{
	/* The first 32 bytes of the keystream of block 0. */
	crypto_stream_chacha20_ietf(otk, 32, nonce, key);
}

static const uint8_t zeros[16];

/* Poly1305 input for a piece of data: the data itself, then zeros up to a multiple of 16. */
static void
mac_padded(crypto_onetimeauth_poly1305_state *st, const uint8_t *p, size_t n, size_t *total)
{
	if (n)
		crypto_onetimeauth_poly1305_update(st, p, n);
	*total += n;
}

static void
mac_pad16(crypto_onetimeauth_poly1305_state *st, size_t total)
{
	if (total % 16)
		crypto_onetimeauth_poly1305_update(st, zeros, 16 - total % 16);
}

/*
 * The full RFC 8439 section 2.8 tag.  The associated data may come in two
 * pieces (a1 || a2, for the authenticate-only mode) so nothing is copied.
 */
static void
aead_tag(uint8_t tag[CRYPTO_TAG_LEN], const uint8_t *a1, size_t n1, const uint8_t *a2, size_t n2,
    const uint8_t *ct, size_t len, const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN])
{
	crypto_onetimeauth_poly1305_state st;
	uint8_t otk[32], lens[16];
	size_t aadlen = 0, ctlen = 0;

	crypto_poly1305_key(otk, nonce, key);
	crypto_onetimeauth_poly1305_init(&st, otk);
	mac_padded(&st, a1, n1, &aadlen);
	mac_padded(&st, a2, n2, &aadlen);
	mac_pad16(&st, aadlen);
	mac_padded(&st, ct, len, &ctlen);
	mac_pad16(&st, ctlen);
	put_le64(lens, aadlen);
	put_le64(lens + 8, ctlen);
	crypto_onetimeauth_poly1305_update(&st, lens, sizeof(lens));
	crypto_onetimeauth_poly1305_final(&st, tag);
	sodium_memzero(otk, sizeof(otk));
	sodium_memzero(&st, sizeof(st));
}

static bool
taglen_ok(size_t taglen)
{
	return taglen == CRYPTO_TAG_LEN || taglen == CRYPTO_TAG_SHORT;
}

int
crypto_seal(uint8_t *ct, uint8_t *tag, size_t taglen, const uint8_t *pt, size_t len,
    const uint8_t *aad, size_t aadlen, const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t full[CRYPTO_TAG_LEN];

	if (!taglen_ok(taglen))
		return -EINVAL;
	/* Encryption starts at block 1: block 0 gave the Poly1305 key. */
	if (len)
		crypto_stream_chacha20_ietf_xor_ic(ct, pt, len, nonce, 1, key);
	aead_tag(full, aad, aadlen, NULL, 0, ct, len, nonce, key);
	memcpy(tag, full, taglen);
	sodium_memzero(full, sizeof(full));
	return 0;
}

int
crypto_open(uint8_t *pt, const uint8_t *ct, size_t len, const uint8_t *tag, size_t taglen,
    const uint8_t *aad, size_t aadlen, const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t full[CRYPTO_TAG_LEN];
	int bad;

	if (!taglen_ok(taglen))
		return -EINVAL;
	aead_tag(full, aad, aadlen, NULL, 0, ct, len, nonce, key);
	bad = sodium_memcmp(full, tag, taglen);
	sodium_memzero(full, sizeof(full));
	if (bad)
		return -EBADMSG;
	if (len)
		crypto_stream_chacha20_ietf_xor_ic(pt, ct, len, nonce, 1, key);
	return 0;
}

int
crypto_authonly_tag(uint8_t *tag, size_t taglen, const uint8_t *aad, size_t aadlen,
    const uint8_t *msg, size_t len, const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t full[CRYPTO_TAG_LEN];

	if (!taglen_ok(taglen))
		return -EINVAL;
	aead_tag(full, aad, aadlen, msg, len, NULL, 0, nonce, key);
	memcpy(tag, full, taglen);
	sodium_memzero(full, sizeof(full));
	return 0;
}

int
crypto_authonly_verify(const uint8_t *tag, size_t taglen, const uint8_t *aad, size_t aadlen,
    const uint8_t *msg, size_t len, const uint8_t nonce[CRYPTO_NONCE_LEN],
    const uint8_t key[CRYPTO_KEY_LEN])
{
	uint8_t full[CRYPTO_TAG_LEN];
	int bad;

	if (!taglen_ok(taglen))
		return -EINVAL;
	aead_tag(full, aad, aadlen, msg, len, NULL, 0, nonce, key);
	bad = sodium_memcmp(full, tag, taglen);
	sodium_memzero(full, sizeof(full));
	return bad ? -EBADMSG : 0;
}

/* ---- sender ---- */

int
crypto_sender_init(struct crypto_sender *s, uint64_t node, uint64_t boot)
{
	if (node > UINT32_MAX || boot > UINT32_MAX)
		return -ERANGE;
	s->node = node;
	s->boot = boot;
	s->next = 0;
	return 0;
}

int
crypto_sender_next(struct crypto_sender *s, uint32_t *counter)
{
	if (s->next > UINT32_MAX)
		return -EOVERFLOW;
	*counter = s->next++;
	return 0;
}

void
crypto_sender_skip(struct crypto_sender *s, uint32_t n)
{
	s->next += n;
	if (s->next > (uint64_t)UINT32_MAX + 1)
		s->next = (uint64_t)UINT32_MAX + 1;	/* spent: crypto_sender_next says so */
}

/* ---- replay window ---- */

/*
 * One sender: the newest boot seen, the highest frame counter of that boot,
 * and a bitmap of the CRYPTO_REPLAY_WINDOW counters at and below it (bit i:
 * top - i was seen).
 *
 * The table is bounded; when it is full the sender heard from least
 * recently is evicted.  What that can and cannot open:
 *  - entries are only created by crypto_replay_update(), i.e. for frames
 *    whose tag verified, so someone without the network key cannot fill the
 *    table: only genuine senders (or replays of their genuine frames) take
 *    slots;
 *  - so as long as the table is larger than the number of nodes that ever
 *    sent with the network key (a few dozen in a deployment; 256 by
 *    default), no entry is ever evicted and the window is exact;
 *  - if more senders exist, an evicted sender's earlier frames become
 *    acceptable once more (each at most once, until its entry fills up
 *    again).  Those are genuine frames, and everything above the link is
 *    idempotent (bundles are deduplicated by id in the store, segments and
 *    acks are idempotent in the session), so a replay costs airtime, not
 *    correctness.  crypto_replay_evictions() counts it so it shows.
 */
struct replay_entry {
	uint32_t node, boot, top;
	uint64_t seen;			/* bitmap below top */
	uint64_t used;			/* last update tick; 0: free slot */
};

struct crypto_replay {
	size_t cap;
	uint64_t tick, evictions;
	crypto_replay_boot_fn *on_boot;
	void *on_boot_arg;
	struct replay_entry e[];
};

struct crypto_replay *
crypto_replay_new(size_t max_senders)
{
	struct crypto_replay *r;

	if (max_senders == 0)
		max_senders = CRYPTO_REPLAY_SENDERS;
	if (max_senders > 65536) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r) + max_senders * sizeof(r->e[0]));
	if (r == NULL)
		return NULL;
	r->cap = max_senders;
	return r;
}

void
crypto_replay_free(struct crypto_replay *r)
{
	free(r);
}

static struct replay_entry *
replay_find(const struct crypto_replay *r, uint32_t node)
{
	for (size_t i = 0; i < r->cap; i++)
		if (r->e[i].used && r->e[i].node == node)
			return (struct replay_entry *)&r->e[i];
	return NULL;
}

enum crypto_replay_verdict
crypto_replay_check(const struct crypto_replay *r, uint32_t node, uint32_t boot, uint32_t counter)
{
	const struct replay_entry *e = replay_find(r, node);
	uint32_t behind;

	if (e == NULL || boot > e->boot)
		return REPLAY_FRESH;
	if (boot < e->boot)
		return REPLAY_OLD_BOOT;
	if (counter > e->top)
		return REPLAY_FRESH;
	behind = e->top - counter;
	if (behind >= CRYPTO_REPLAY_WINDOW)
		return REPLAY_TOO_OLD;
	return (e->seen >> behind) & 1 ? REPLAY_DUPLICATE : REPLAY_FRESH;
}

/* A free slot, or the one heard from least recently. */
static struct replay_entry *
replay_slot(struct crypto_replay *r)
{
	struct replay_entry *lru = &r->e[0];

	for (size_t i = 0; i < r->cap; i++) {
		if (!r->e[i].used)
			return &r->e[i];
		if (r->e[i].used < lru->used)
			lru = &r->e[i];
	}
	r->evictions++;
	return lru;
}

void
crypto_replay_update(struct crypto_replay *r, uint32_t node, uint32_t boot, uint32_t counter)
{
	struct replay_entry *e = replay_find(r, node);

	if (e == NULL) {
		e = replay_slot(r);
		e->node = node;
		e->boot = boot;
		e->top = counter;
		e->seen = 1;
		if (r->on_boot)
			r->on_boot(r->on_boot_arg, node, boot, counter);
	} else if (boot > e->boot) {
		/* A newer boot: its counters start afresh. */
		e->boot = boot;
		e->top = counter;
		e->seen = 1;
		if (r->on_boot)
			r->on_boot(r->on_boot_arg, node, boot, counter);
	} else if (boot < e->boot) {
		return;
	} else if (counter > e->top) {
		uint32_t shift = counter - e->top;

		e->seen = shift >= 64 ? 0 : e->seen << shift;
		e->seen |= 1;
		e->top = counter;
	} else if (e->top - counter < CRYPTO_REPLAY_WINDOW) {
		e->seen |= UINT64_C(1) << (e->top - counter);
	}
	e->used = ++r->tick;
}

void
crypto_replay_restore(struct crypto_replay *r, uint32_t node, uint32_t boot, uint32_t top)
{
	struct replay_entry *e = replay_find(r, node);

	if (e != NULL && (e->boot > boot || (e->boot == boot && e->top >= top)))
		return;
	if (e == NULL)
		e = replay_slot(r);
	e->node = node;
	e->boot = boot;
	e->top = top;
	e->seen = ~UINT64_C(0);	/* all of it, up to top: spent */
	e->used = ++r->tick;
}

bool
crypto_replay_next(const struct crypto_replay *r, size_t *pos, uint32_t *node, uint32_t *boot,
    uint32_t *top)
{
	for (; *pos < r->cap; (*pos)++) {
		const struct replay_entry *e = &r->e[*pos];

		if (e->used) {
			*node = e->node;
			*boot = e->boot;
			*top = e->top;
			(*pos)++;
			return true;
		}
	}
	return false;
}

void
crypto_replay_on_boot(struct crypto_replay *r, crypto_replay_boot_fn *fn, void *arg)
{
	r->on_boot = fn;
	r->on_boot_arg = arg;
}

bool
crypto_replay_peek(const struct crypto_replay *r, uint32_t node, uint32_t *boot, uint32_t *top)
{
	const struct replay_entry *e = replay_find(r, node);

	if (e == NULL)
		return false;
	*boot = e->boot;
	*top = e->top;
	return true;
}

uint64_t
crypto_replay_evictions(const struct crypto_replay *r)
{
	return r->evictions;
}

/* ---- keys ---- */

void
crypto_keyring_init(struct crypto_keyring *kr)
{
	memset(kr, 0, sizeof(*kr));
	kr->send = -1;
}

void
crypto_keyring_clear(struct crypto_keyring *kr)
{
	sodium_memzero(kr, sizeof(*kr));
	kr->send = -1;
}

int
crypto_keyring_add(struct crypto_keyring *kr, uint8_t id, const uint8_t key[CRYPTO_KEY_LEN], bool send)
{
	if (crypto_keyring_find(kr, id))
		return -EEXIST;
	if (kr->n >= CRYPTO_MAX_KEYS)
		return -ENOSPC;
	kr->keys[kr->n].id = id;
	memcpy(kr->keys[kr->n].key, key, CRYPTO_KEY_LEN);
	if (send) {
		if (kr->marked)
			return -EBUSY;
		kr->send = kr->n;
		kr->marked = true;
	} else if (!kr->marked && (kr->send < 0 || id > kr->keys[kr->send].id)) {
		kr->send = kr->n;
	}
	kr->n++;
	return 0;
}

const struct crypto_key *
crypto_keyring_find(const struct crypto_keyring *kr, uint8_t id)
{
	for (unsigned i = 0; i < kr->n; i++)
		if (kr->keys[i].id == id)
			return &kr->keys[i];
	return NULL;
}

const struct crypto_key *
crypto_keyring_send_key(const struct crypto_keyring *kr)
{
	return kr->send < 0 ? NULL : &kr->keys[kr->send];
}

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One non-blank, comment-stripped line: "KEYID HEX64 [send]".  NULL or a reason. */
static const char *
parse_key_line(char *line, uint8_t *id, uint8_t key[CRYPTO_KEY_LEN], bool *send)
{
	char *tok[4], *save = NULL, *end;
	int n = 0;
	unsigned long v;

	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 4)
			break;
		tok[n++] = t;
	}
	if (n < 2)
		return "expected \"KEYID HEX64 [send]\"";
	if (n > 3)
		return "trailing text after the key";
	if (!isdigit((unsigned char)tok[0][0]))
		return "key id must be a number 0..255";
	errno = 0;
	v = strtoul(tok[0], &end, 10);
	if (errno || *end || v > 255)
		return "key id must be a number 0..255";
	*id = v;
	if (strlen(tok[1]) != 2 * CRYPTO_KEY_LEN)
		return "key must be 64 hex digits (32 bytes)";
	for (int i = 0; i < CRYPTO_KEY_LEN; i++) {
		int hi = hexval(tok[1][2 * i]), lo = hexval(tok[1][2 * i + 1]);

		if (hi < 0 || lo < 0)
			return "key must be 64 hex digits (32 bytes)";
		key[i] = hi << 4 | lo;
	}
	if (sodium_is_zero(key, CRYPTO_KEY_LEN))
		return "all-zero key (a placeholder?)";
	*send = false;
	if (n == 3) {
		if (strcmp(tok[2], "send") != 0)
			return "third field may only be \"send\"";
		*send = true;
	}
	return NULL;
}

int
crypto_keyfile_load(const char *path, struct crypto_keyring *kr, char *err, size_t errlen)
{
	char line[512];
	uint8_t key[CRYPTO_KEY_LEN];
	struct stat st;
	FILE *fp = NULL;
	int fd, r = 0, lineno = 0;

	crypto_keyring_init(kr);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	/* Check the file we opened, not the name, so it cannot be swapped in between. */
	if (fstat(fd, &st) < 0) {
		r = -errno;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EACCES;
		seterr(err, errlen, "%s: not a regular file", path);
		goto out_close;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		r = -EACCES;
		seterr(err, errlen, "%s: owned by uid %u, not by this user (uid %u) or root",
		    path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out_close;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		r = -EACCES;
		seterr(err, errlen, "%s: mode %04o lets group or others at the network key: chmod 600 %s",
		    path, (unsigned)(st.st_mode & 07777), path);
		goto out_close;
	}
	fp = fdopen(fd, "r");
	if (fp == NULL) {
		r = -errno;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out_close;
	}
	while (fgets(line, sizeof(line), fp)) {
		const char *why;
		char *p, *hash;
		uint8_t id;
		bool send;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			r = -EINVAL;
			seterr(err, errlen, "%s:%d: line too long", path, lineno);
			goto out_wipe;
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '\0')
			continue;
		if ((why = parse_key_line(p, &id, key, &send)) != NULL) {
			r = -EINVAL;
			seterr(err, errlen, "%s:%d: %s", path, lineno, why);
			goto out_wipe;
		}
		switch (crypto_keyring_add(kr, id, key, send)) {
		case 0:
			break;
		case -EBUSY:
			r = -EINVAL;
			seterr(err, errlen, "%s:%d: more than one key marked \"send\"", path, lineno);
			goto out_wipe;
		case -EEXIST:
			r = -EINVAL;
			seterr(err, errlen, "%s:%d: key id %u given twice", path, lineno, id);
			goto out_wipe;
		default:
			r = -EINVAL;
			seterr(err, errlen, "%s:%d: more than %d keys", path, lineno, CRYPTO_MAX_KEYS);
			goto out_wipe;
		}
	}
	if (ferror(fp)) {
		r = -EIO;
		seterr(err, errlen, "%s: read error", path);
		goto out_wipe;
	}
	if (kr->n == 0) {
		r = -EINVAL;
		seterr(err, errlen, "%s: no key in the file", path);
		goto out_wipe;
	}
out_wipe:
	sodium_memzero(line, sizeof(line));
	sodium_memzero(key, sizeof(key));
	if (r < 0)
		crypto_keyring_clear(kr);
	fclose(fp);
	return r;
out_close:
	close(fd);
	crypto_keyring_clear(kr);
	return r;
}
