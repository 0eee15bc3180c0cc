/*
 * test_app.c - libfieldrelay (relay/app/fieldrelay.h) on its own: an agent's
 * config (the socket from [control] or data_dir, its section's keys with
 * their lines, errors as file:line), the error for a daemon that is not
 * there, and pipelining against a stand-in daemon on a UNIX socket: answers matched in order, never more than FR_SEND_WINDOW
 * sends unanswered, a refusal reported with its code.  The real daemon is
 * tests/integration/test_api.py's.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "fieldrelay.h"

static char dir[64];

static int
setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_app.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *
write_conf(const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/f.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	return path;
}

struct kv {
	char keys[256];
};

static int
collect(void *arg, const char *key, const char *value, char *msg, size_t msglen)
{
	struct kv *kv = arg;

	if (strcmp(value, "bad") == 0) {
		snprintf(msg, msglen, "%s: 'bad' is not allowed", key);
		return -1;
	}
	snprintf(kv->keys + strlen(kv->keys), sizeof(kv->keys) - strlen(kv->keys), "%s=%s;", key, value);
	return 0;
}

static void
test_conf(void **state)
{
	char err[512];
	struct fr_conf *cf;
	struct kv kv = { "" };
	const char *p;

	p = write_conf("[node]\nid = 7\ndata_dir = /srv/fr\n[echo]\nservice = 9\n\nname = e1\n[other]\nx = 1\n");
	assert_non_null(cf = fr_conf_load(p, "echo", err, sizeof(err)));
	assert_string_equal(fr_conf_socket(cf), "/srv/fr/control.sock");
	assert_int_equal(fr_conf_node(cf), 7);
	assert_string_equal(fr_conf_get(cf, "service"), "9");
	assert_string_equal(fr_conf_get(cf, "name"), "e1");
	assert_null(fr_conf_get(cf, "x"));			/* another section's */
	assert_int_equal(fr_conf_line(cf, "name"), 7);
	assert_int_equal(fr_conf_each(cf, collect, &kv, err, sizeof(err)), 0);
	assert_string_equal(kv.keys, "service=9;name=e1;");
	fr_conf_free(cf);

	p = write_conf("[control]\nsocket = /run/fr.sock\n[echo]\nname = bad\n");
	assert_non_null(cf = fr_conf_load(p, "echo", err, sizeof(err)));
	assert_string_equal(fr_conf_socket(cf), "/run/fr.sock");
	assert_int_equal(fr_conf_each(cf, collect, &kv, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "f.conf:4: name: 'bad' is not allowed"));
	fr_conf_free(cf);

	p = write_conf("[echo]\nname = a\nname = b\n");
	assert_null(fr_conf_load(p, "echo", err, sizeof(err)));
	assert_non_null(strstr(err, "f.conf:3: "));
	assert_non_null(strstr(err, "name"));

	p = write_conf("[echo\n");
	assert_null(fr_conf_load(p, "echo", err, sizeof(err)));
	assert_non_null(strstr(err, "f.conf:1: "));

	assert_null(fr_conf_load("/nonexistent/f.conf", "echo", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/f.conf: No such file"));
}

static void
test_no_daemon(void **state)
{
	char err[512], path[128];

	snprintf(path, sizeof(path), "%s/none.sock", dir);
	assert_null(fr_open(path, 1000, err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "fieldrelayd is not running"));
}

/* ---- a stand-in daemon: answers each send in order, counting what is unanswered ---- */

struct fake {
	int lfd;
	unsigned answered, max_unanswered, requests;
};

static int
read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = read(fd, b, n);

		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Append one message to out (the answers of a burst go in one write, as the daemon's do). */
static void
reply(char *out, size_t *len, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	uint32_t n = (uint32_t)strlen(s);

	out[(*len)++] = (char)(n >> 24);
	out[(*len)++] = (char)(n >> 16);
	out[(*len)++] = (char)(n >> 8);
	out[(*len)++] = (char)n;
	memcpy(out + *len, s, n);
	*len += n;
	free(s);
	json_decref(o);
}

/* Reads in bursts: whatever the client wrote before it stopped to wait is unanswered at once. */
static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	json_t *pending[1024];
	unsigned n = 0;

	for (;;) {
		uint8_t h[4];
		char buf[65536];
		json_t *m, *tag;
		uint32_t len;

		if (read_full(fd, h, 4) < 0)
			break;
		len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		if (len >= sizeof(buf) || read_full(fd, buf, len) < 0)
			break;
		m = json_loadb(buf, len, 0, NULL);
		f->requests++;
		if (json_integer_value(json_object_get(m, "body")) > 0) {
			char body[4096];

			read_full(fd, body, (size_t)json_integer_value(json_object_get(m, "body")));
		}
		tag = json_incref(json_object_get(m, "tag"));
		json_decref(m);
		pending[n++] = tag;
		if (n > f->max_unanswered)
			f->max_unanswered = n;
		/* Answer once the client waits (nothing more to read now), or when full. */
		struct timeval tv = { 0, 20000 };
		fd_set rs;

		FD_ZERO(&rs);
		FD_SET(fd, &rs);
		if (n < 1024 && select(fd + 1, &rs, NULL, NULL, &tv) > 0)
			continue;
		static char out[1024 * 128];
		size_t olen = 0;

		for (unsigned i = 0; i < n; i++) {
			json_int_t t = json_integer_value(pending[i]);

			/* Every 100th is refused, the rest get an id. */
			if (t % 100 == 0)
				reply(out, &olen, json_pack("{s:b, s:s, s:s, s:o}", "ok", 0, "code", "quota", "error", "full",
				    "tag", pending[i]));
			else
				reply(out, &olen, json_pack("{s:b, s:s, s:o}", "ok", 1, "id", "ipn:1.5 0 1", "tag", pending[i]));
			f->answered++;
		}
		assert_int_equal(write(fd, out, olen), (ssize_t)olen);
		n = 0;
	}
	close(fd);
	return NULL;
}

struct tally {
	unsigned ok, refused;
	uint64_t last;
	bool in_order;
};

static void
sent(void *arg, const struct fr_sent *s)
{
	struct tally *t = arg;

	if (s->ticket != t->last + 1)
		t->in_order = false;
	t->last = s->ticket;
	if (s->ok) {
		t->ok++;
	} else {
		t->refused++;
		assert_string_equal(s->code, "quota");
	}
}

static void
test_pipelined_window(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct fake f = { 0 };
	struct tally t = { .in_order = true };
	pthread_t th;
	char err[256];
	struct fr *c;
	struct fr_send s = { .dst = "ipn:2.5" };

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/fake.sock", dir);
	assert_true((f.lfd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(f.lfd, 1), 0);
	assert_int_equal(pthread_create(&th, NULL, fake_main, &f), 0);
	assert_non_null(c = fr_open(sun.sun_path, 5000, err, sizeof(err)));
	for (int i = 0; i < 3000; i++)
		assert_int_equal(fr_send_async(c, &s, "payload", -1, 7, sent, &t, NULL), 0);
	assert_true(fr_send_pending(c) <= FR_SEND_WINDOW);
	assert_int_equal(fr_send_wait(c, 0), 0);
	assert_int_equal(fr_send_pending(c), 0);
	fr_close(c);
	pthread_join(th, NULL);
	close(f.lfd);
	assert_int_equal(t.ok + t.refused, 3000);
	assert_int_equal(t.refused, 30);		/* tickets 100, 200, ... 3000 */
	assert_true(t.in_order);
	assert_true(f.max_unanswered <= FR_SEND_WINDOW);
	assert_true(f.max_unanswered > 1);		/* pipelined, not one by one */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_conf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_daemon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_window, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
