/* fragment.c - BPv7 fragmentation and reassembly, see fragment.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bundle.h"
#include "fragment.h"
#include "log.h"

#define COPY_CHUNK	(64 * 1024)
#define PIECES_MAX	65536	/* 16 MB in 256-byte pieces: more is not a bundle of ours */

/* An unlinked file in the data directory: gone by itself when closed. */
static int
tmpfile_open(const struct fragment_host *n)
{
	int fd = open(n->data_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	return fd < 0 ? -errno : fd;
}

static int
write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Copy len stored bytes of rowid from offset `from` to fd at `to`. */
static int
copy_stored(struct store *st, int64_t rowid, uint64_t from, uint64_t len, int fd, uint64_t to, uint8_t *buf)
{
	while (len > 0) {
		size_t want = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		long got = store_read(st, rowid, from, buf, want);
		int r;

		if (got < 0)
			return (int)got;
		if ((size_t)got != want)
			return -EIO;	/* shorter than its row says */
		if ((r = write_all(fd, buf, want, to)) < 0)
			return r;
		from += want;
		to += want;
		len -= want;
	}
	return 0;
}

/* The stored bundle e, contiguous in an unlinked file and mapped (the decoder wants it whole). */
static int
map_stored(const struct fragment_host *n, const struct store_entry *e, int *fdp, const uint8_t **mapp)
{
	uint8_t *buf = malloc(COPY_CHUNK);
	void *map;
	int fd, r;

	if (buf == NULL)
		return -ENOMEM;
	if ((fd = tmpfile_open(n)) < 0) {
		free(buf);
		return fd;
	}
	r = copy_stored(n->store, e->rowid, 0, e->size, fd, 0, buf);
	free(buf);
	if (r == 0 && (map = mmap(NULL, e->size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*fdp = fd;
	*mapp = map;
	return 0;
}

/* ---- splitting ---- */

struct split {
	const struct fragment_host *node;
	fragment_done_fn *fn;
	void *arg;
	int64_t original;
	unsigned pending, count;
	int result;
	int64_t *made;			/* rows of the fragments stored so far */
	unsigned n_made;
	char id[BUNDLE_ID_MAX];
};

static void
split_finish(struct split *s, int result)
{
	s->fn(s->arg, result);
	free(s->made);
	free(s);
}

static void
split_deleted(void *arg, int result, int64_t rowid)
{
	struct split *s = arg;

	/* The fragments are durable either way; -ENOENT: somebody took the original meanwhile. */
	if (result < 0 && result != -ENOENT)
		log_warnx("fragment: %s: cannot delete it after splitting: %s (it may travel twice; "
		    "the receiver drops the copy)", s->id, store_strerror(result));
	log_info("fragment: %s split into %u fragments", s->id, s->count);
	split_finish(s, 0);
}

static void
split_put_done(void *arg, int result, int64_t rowid)
{
	struct split *s = arg;

	if (result == 0)
		s->made[s->n_made++] = rowid;
	else if (result != -EEXIST && s->result == 0)	/* -EEXIST: made before a power cut */
		s->result = result;
	if (--s->pending > 0)
		return;
	if (s->result == 0) {
		if (store_delete(s->node->store, s->original, split_deleted, s) == 0)
			return;
		s->result = -EIO;
	}
	/* All or nothing: take back the fragments that were made. */
	for (unsigned i = 0; i < s->n_made; i++)
		store_delete(s->node->store, s->made[i], NULL, NULL);
	log_warnx("fragment: cannot split %s: %s", s->id, store_strerror(s->result));
	split_finish(s, s->result);
}

/* Store piece [off, off + len) of the payload of b (mapped from fd) as a fragment. */
static int
split_piece(struct split *s, const struct store_entry *e, const struct bundle *b, int fd, uint64_t poff,
    uint64_t off, uint64_t len)
{
	struct store_put p = { 0 };
	struct bundle f = *b;
	char id[BUNDLE_ID_MAX];
	uint8_t *head, tail[16];
	size_t cap = e->head_len + 64;
	ssize_t hl, tl;
	int r;

	f.flags |= BF_IS_FRAGMENT;
	f.frag_offset = (b->flags & BF_IS_FRAGMENT ? b->frag_offset : 0) + off;
	f.adu_len = b->flags & BF_IS_FRAGMENT ? b->adu_len : b->payload_len;
	f.payload_len = len;
	f.payload_crc = CRC_NONE;
	/* Blocks not marked for replication go in the first fragment only. */
	f.n_other = 0;
	for (size_t i = 0; i < b->n_other; i++)
		if (f.frag_offset == 0 || (b->other[i].flags & BLF_REPLICATE))
			f.other[f.n_other++] = b->other[i];
	if ((head = malloc(cap)) == NULL)
		return -ENOMEM;
	if ((hl = bundle_encode_head(&f, head, cap)) < 0 || (tl = bundle_encode_tail(&f, tail, sizeof(tail))) < 0 ||
	    bundle_id(&f, id, sizeof(id)) < 0) {
		free(head);
		return -EINVAL;
	}
	p.id = id;
	p.src = e->src;
	p.dst = e->dst;
	p.dst_node = e->dst_node;
	p.dst_service = e->dst_service;
	p.priority = e->priority;
	p.state = STORE_QUEUED;
	p.expires = e->expires;
	p.head = head;
	p.head_len = (size_t)hl;
	p.payload_fd = fd;
	p.payload_off = poff + off;
	p.payload_len = len;
	p.tail = tail;
	p.tail_len = (size_t)tl;
	r = store_put(s->node->store, &p, split_put_done, s);
	free(head);
	return r;
}

int
fragment_split(const struct fragment_host *n, const struct store_entry *e, uint64_t limit, fragment_done_fn *fn, void *arg)
{
	const uint8_t *map;
	const char *why;
	struct split *s;
	struct bundle b;
	uint64_t poff;
	int fd, r;

	if (limit == 0)
		return -EPERM;
	if ((r = map_stored(n, e, &fd, &map)) < 0)
		return r;
	if ((r = bundle_decode(&b, map, e->size, &why)) < 0) {
		log_warnx("fragment: stored bundle %s does not decode: %s", e->id, why);
		goto out;
	}
	if ((b.flags & BF_NO_FRAGMENT) || b.payload_len <= limit) {
		r = -EPERM;
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->made = calloc((size_t)((b.payload_len + limit - 1) / limit), sizeof(*s->made))) == NULL) {
		free(s);
		r = -ENOMEM;
		goto out;
	}
	s->node = n;
	s->fn = fn;
	s->arg = arg;
	s->original = e->rowid;
	snprintf(s->id, sizeof(s->id), "%s", e->id);
	poff = (uint64_t)(b.payload - map);
	for (uint64_t off = 0; off < b.payload_len; off += limit) {
		uint64_t len = b.payload_len - off < limit ? b.payload_len - off : limit;

		if ((r = split_piece(s, e, &b, fd, poff, off, len)) < 0)
			break;
		s->pending++;
		s->count++;
	}
	if (s->pending == 0) {	/* nothing under way: fn must not run */
		free(s->made);
		free(s);
		goto out;
	}
	if (r < 0)
		s->result = r;	/* the ones under way finish, then all are taken back */
	r = 0;
out:
	munmap((void *)map, e->size);
	close(fd);	/* store_put() keeps its own descriptor */
	return r;
}

/* ---- reassembly ---- */

struct piece {
	int64_t rowid;
	uint64_t off, len, head_len;
};

struct rebuild {
	const struct fragment_host *node;
	struct piece *pieces;
	size_t n;
	char id[BUNDLE_ID_MAX];
};

static int
piece_cmp(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static void
rebuilt(void *arg, int result)
{
	struct rebuild *rb = arg;

	if (result == 0 || result == -EEXIST) {
		/* The whole bundle is durable (or was delivered before): the pieces may go. */
		for (size_t i = 0; i < rb->n; i++)
			store_delete(rb->node->store, rb->pieces[i].rowid, NULL, NULL);
		log_info("fragment: %s reassembled from %zu fragments%s", rb->id, rb->n,
		    result == -EEXIST ? " (it had arrived before: fragments dropped)" : "");
	} else {
		log_warnx("fragment: cannot store reassembled %s: %s (the fragments stay; retried at the next "
		    "fragment or restart)", rb->id, store_strerror(result));
	}
	free(rb->pieces);
	free(rb);
}

/* Pieces of whole (sorted by offset) and the total ADU length; 1 if they cover it all. */
static int
collect(struct store *st, const char *prefix, struct piece **out, size_t *np, uint64_t *adu)
{
	struct piece *p = NULL, *q;
	size_t n = 0, cap = 0;
	struct store_entry e;
	uint64_t covered = 0, off, len, total;
	int64_t after = 0;
	int r;

	*adu = 0;
	while ((r = store_next_fragment(st, prefix, after, &e)) == 0) {
		after = e.rowid;
		if (sscanf(e.id + strlen(prefix), "%" SCNu64 " %" SCNu64 " %" SCNu64, &off, &len, &total) != 3 ||
		    len != e.payload_len)
			continue;
		if (*adu == 0)
			*adu = total;
		if (total != *adu || n == PIECES_MAX)
			continue;	/* cannot be a piece of the same bundle */
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if ((q = realloc(p, cap * sizeof(*p))) == NULL) {
				free(p);
				return -ENOMEM;
			}
			p = q;
		}
		p[n++] = (struct piece){ .rowid = e.rowid, .off = off, .len = e.payload_len, .head_len = e.head_len };
	}
	if (r != -ENOENT) {
		free(p);
		return r;
	}
	if (*adu > BUNDLE_MAX_SIZE) {
		log_warnx("fragment: %s: pieces of a %" PRIu64 "-byte bundle, over the size limit: not rebuilt",
		    prefix, *adu);
		n = 0;
	}
	qsort(p, n, sizeof(*p), piece_cmp);
	for (size_t i = 0; i < n && p[i].off <= covered; i++)
		if (p[i].off + p[i].len > covered)
			covered = p[i].off + p[i].len;
	*out = p;
	*np = n;
	return n > 0 && covered >= *adu;
}

/* Write the whole bundle into fd: the first piece's blocks, every piece's bytes. */
static ssize_t
rebuild_file(const struct fragment_host *n, const struct piece *p, size_t np, uint64_t adu, int fd)
{
	struct store *st = n->store;
	struct store_entry e;
	uint8_t *head = NULL, tail[16], *buf = NULL;
	const uint8_t *map = NULL;
	const char *why;
	struct bundle b;
	uint64_t covered = 0;
	ssize_t hl = -ENOMEM, tl;
	int mfd = -1, r;

	if ((r = store_get(st, p[0].rowid, &e)) < 0 || (r = map_stored(n, &e, &mfd, &map)) < 0)
		return r;
	if ((r = bundle_decode(&b, map, e.size, &why)) < 0) {
		hl = r;
		goto out;
	}
	b.flags &= ~(uint64_t)BF_IS_FRAGMENT;
	b.frag_offset = b.adu_len = 0;
	b.payload_len = adu;
	b.payload_crc = CRC_NONE;
	if ((head = malloc(e.head_len + 64)) == NULL || (buf = malloc(COPY_CHUNK)) == NULL)
		goto out;
	if ((hl = bundle_encode_head(&b, head, e.head_len + 64)) < 0 ||
	    (tl = bundle_encode_tail(&b, tail, sizeof(tail))) < 0) {
		hl = -EINVAL;
		goto out;
	}
	if ((r = write_all(fd, head, (size_t)hl, 0)) < 0)
		goto fail;
	for (size_t i = 0; i < np && covered < adu; i++) {
		uint64_t end = p[i].off + p[i].len < adu ? p[i].off + p[i].len : adu;

		if (end <= covered)
			continue;	/* overlaps what an earlier piece brought */
		if ((r = copy_stored(st, p[i].rowid, p[i].head_len + (covered - p[i].off), end - covered, fd,
		    (uint64_t)hl + covered, buf)) < 0)
			goto fail;
		covered = end;
	}
	if ((r = write_all(fd, tail, (size_t)tl, (uint64_t)hl + adu)) < 0)
		goto fail;
	hl += (ssize_t)adu + tl;
	goto out;
fail:
	hl = r;
out:
	free(buf);
	free(head);
	munmap((void *)map, e.size);
	close(mfd);
	return hl;
}

void
fragment_arrived(const struct fragment_host *n, const char *id)
{
	char prefix[BUNDLE_ID_MAX + 1];
	struct rebuild *rb;
	struct piece *p = NULL;
	const char *why = NULL;
	uint64_t adu;
	ssize_t total;
	size_t np = 0;
	int fd, r;

	snprintf(prefix, sizeof(prefix), "%s ", id);
	if ((r = collect(n->store, prefix, &p, &np, &adu)) <= 0) {
		if (r < 0)
			log_warnx("fragment: %s: cannot list its fragments: %s", id, strerror(-r));
		free(p);
		return;
	}
	if ((fd = tmpfile_open(n)) < 0) {
		log_warnx("fragment: %s: no room to reassemble in %s: %s", id, n->data_dir,
		    strerror(-fd));
		free(p);
		return;
	}
	if ((total = rebuild_file(n, p, np, adu, fd)) < 0 || (rb = calloc(1, sizeof(*rb))) == NULL) {
		log_warnx("fragment: %s: cannot reassemble: %s", id, strerror(total < 0 ? (int)-total : ENOMEM));
		goto out;
	}
	*rb = (struct rebuild){ .node = n, .pieces = p, .n = np };
	snprintf(rb->id, sizeof(rb->id), "%s", id);
	/* Delivered like a bundle from a link (checked again, stored for its service), not a hop. */
	if ((r = n->receive(n->arg, fd, (uint64_t)total, rebuilt, rb, &why)) < 0) {
		log_warnx("fragment: %s: reassembled bundle refused: %s", id, why ? why : strerror(-r));
		free(rb);
		goto out;
	}
	p = NULL;	/* rb owns it */
out:
	free(p);
	close(fd);
}

void
fragment_resume(const struct fragment_host *n)
{
	struct store_entry e;
	char id[BUNDLE_ID_MAX], last[BUNDLE_ID_MAX] = "";
	int64_t after = 0;

	/* Fragments of one bundle usually lie together in rowid order: each bundle is tried about once. */
	while (store_next_fragment(n->store, "", after, &e) == 0) {
		char *sp;

		after = e.rowid;
		snprintf(id, sizeof(id), "%s", e.id);
		/* Strip " OFFSET LENGTH ADU": what is left is the whole bundle's id. */
		for (int k = 0; k < 3 && (sp = strrchr(id, ' ')) != NULL; k++)
			*sp = '\0';
		if (strcmp(id, last) == 0)
			continue;
		snprintf(last, sizeof(last), "%s", id);
		fragment_arrived(n, id);
	}
}
