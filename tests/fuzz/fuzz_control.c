/*
 * fuzz_control.c - libFuzzer target: whatever a local client writes to the
 * control socket (frames, JSON, bodies, acks, garbage) must never crash the
 * daemon.  A real node and a real control socket, made once in
 * LLVMFuzzerInitialize with the store on tmpfs; each input is written by
 * two client connections in turn (at once, then one message at a time), each
 * of which reads every answer and hangs up.
 *
 * Every op of the protocol (relay/ctl/PROTOCOL.md) has a seed: hello, send,
 * recv (anonymous and named), ack, register, unregister, registrations,
 * watch, live, and the views.
 *
 * Fast and reproducible: nothing waits on a clock.  The store's writer is
 * made to commit at once (store_flush) and its answers are dispatched
 * before the next step, and whatever an input stored is deleted before the
 * next one (its registrations too), so that every input starts from the same empty store and a
 * crash input replays alone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUNDS_MAX	10000	/* a connection the daemon never closes is a hang */

static struct loop *loop;
static struct node *node;
static struct store *store;
static struct control *ctl;
static struct config cfg;
static struct sockaddr_un sun = { .sun_family = AF_UNIX };
static char dir[64], conf[96];
static int64_t deleted;		/* rowids up to this one are deleted */

static void
teardown(void)
{
	char path[160];

	control_free(ctl);
	node_free(node);
	loop_free(loop);
	unlink(conf);
	for (const char **f = (const char *[]){ "bundles.db", "bundles.db-wal", "bundles.db-shm", NULL }; *f; f++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *f);
		unlink(path);
	}
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[4096];
	struct stat sb;
	FILE *fp;

	/* tmpfs: the store's fsyncs cost nothing there. */
	snprintf(dir, sizeof(dir), "%s/fuzz-control.XXXXXX",
	    stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	/* A file, because the config-check op reads the daemon's config again. */
	snprintf(conf, sizeof(conf), "%s/c.conf", dir);
	if ((fp = fopen(conf, "w")) == NULL)
		abort();
	fprintf(fp, "[node]\nid = 1\ndata_dir = %s\n[store]\nquota = 64M\nmax_bundle_size = 64K\n"
	    "[log]\nlevel = error\n", dir);
	fclose(fp);
	log_setlevel(LOG_LVL_ERR);
	if (config_load(conf, &cfg, err, sizeof(err)) < 0 || (loop = loop_new()) == NULL ||
	    (node = node_new(&cfg, loop, err, sizeof(err))) == NULL ||
	    (ctl = control_new(node, loop, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_control setup: %s\n", err);
		abort();
	}
	store = node_store(node);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cfg.socket_path);
	atexit(teardown);
	return 0;
}

static uint64_t
store_ops(void)
{
	struct store_stats st;

	store_stats(store, &st);
	return st.ops;
}

/*
 * Hand out the store's answers, run what is ready and commit what that
 * queued, until a round changes nothing: an answer may queue more work (a
 * report, the next pipelined send), and every operation the writer
 * finishes counts in store_stats().ops.
 */
static void
settle(void)
{
	uint64_t ops = store_ops(), now;

	for (int i = 0; i < ROUNDS_MAX; i++) {
		int n;

		store_dispatch(store);
		n = loop_once(loop, 0);
		store_flush(store);
		if ((now = store_ops()) == ops && n == 0)
			return;
		ops = now;
	}
	fprintf(stderr, "fuzz_control: the store never settles\n");
	abort();
}

/* Read what the daemon answered; true once it has hung up. */
static bool
drain(int fd)
{
	char buf[65536];
	ssize_t r;

	while ((r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR);
}

/*
 * Where the client pauses: paced, after each message as its length prefix
 * says, and after the body its "body" announces; else never.
 */
static size_t
chunk_end(const uint8_t *data, size_t size, size_t off, bool paced)
{
	json_t *msg, *body;
	size_t end;
	uint32_t n;

	if (!paced || size - off < 4)
		return size;
	n = (uint32_t)data[off] << 24 | (uint32_t)data[off + 1] << 16 | (uint32_t)data[off + 2] << 8 | data[off + 3];
	if (n == 0 || n > CONTROL_MAX_MSG || n > size - off - 4)
		return size;
	end = off + 4 + n;
	msg = json_loadb((const char *)data + off + 4, n, 0, NULL);
	body = json_object_get(msg, "body");
	if (json_is_integer(body) && json_integer_value(body) >= 0)
		end = (uint64_t)json_integer_value(body) < size - end ? end + (size_t)json_integer_value(body) : size;
	json_decref(msg);
	return end;
}

static void
unregister(void *arg, int64_t id, uint64_t service, const char *name, uint64_t created, uint64_t pending)
{
	store_reg_remove(store, service, name, NULL, NULL);
}

/* One client connection: write the input, read every answer, hang up. */
static void
client(const uint8_t *data, size_t size, bool paced)
{
	bool gone = false;
	int64_t last;
	int fd, i;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		abort();
	loop_once(loop, 0);	/* accept */
	for (size_t off = 0, end = chunk_end(data, size, 0, paced); off < size && !gone;) {
		ssize_t w = send(fd, data + off, end - off, MSG_NOSIGNAL);

		if (w > 0)
			off += (size_t)w;
		else if (errno != EAGAIN && errno != EINTR)
			break;		/* the daemon closed the connection */
		gone = drain(fd);
		settle();
		if (off == end)
			end = chunk_end(data, size, off, paced);
	}
	shutdown(fd, SHUT_WR);
	/* Let the daemon answer (store commits included) and hang up. */
	for (i = 0; i < ROUNDS_MAX && !gone; i++) {
		settle();
		gone = drain(fd);
	}
	if (!gone) {
		fprintf(stderr, "fuzz_control: the daemon never closed a connection its client left\n");
		abort();
	}
	close(fd);	/* the last settle() left nothing to do: no need for another */

	/* Start the next client from an empty store (rowids are never reused) ... */
	if ((last = store_max_rowid(store)) > deleted) {
		for (; deleted < last; deleted++)
			store_delete(store, deleted + 1, NULL, NULL);
		settle();
	}
	/* ... and without the registrations it made. */
	if (store_registrations(store, unregister, NULL) > 0)
		settle();
}

/*
 * Each input twice: written at once (requests pipelined, read in one
 * piece), and paced, the daemon's answers awaited after each message (a
 * bundle sent is durable before the next request: a recv then finds it).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	client(data, size, false);
	client(data, size, true);
	return 0;
}
