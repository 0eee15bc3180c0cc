/*
 * fuzz_control.c - libFuzzer target: whatever a local client writes to the
 * control socket (frames, JSON, bodies, acks, garbage) must never crash the
 * daemon.  A real node (store in a scratch directory) and a real control
 * socket; each input is one client connection that writes the input and
 * hangs up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop *loop;
static struct control *ctl;
static struct sockaddr_un sun = { .sun_family = AF_UNIX };

static void
setup(void)
{
	static struct config cfg;
	char dir[] = "/tmp/fuzz-control.XXXXXX", conf[64], err[4096];
	struct node *n;
	FILE *fp;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(conf, sizeof(conf), "%s/c.conf", dir);
	if ((fp = fopen(conf, "w")) == NULL)
		abort();
	fprintf(fp, "[node]\nid = 1\ndata_dir = %s\n[store]\nquota = 64M\nmax_bundle_size = 64K\n"
	    "[log]\nlevel = error\n", dir);
	fclose(fp);
	log_setlevel(LOG_LVL_ERR);
	if (config_load(conf, &cfg, err, sizeof(err)) < 0 || (loop = loop_new()) == NULL ||
	    (n = node_new(&cfg, loop, err, sizeof(err))) == NULL ||
	    (ctl = control_new(n, loop, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_control setup: %s\n", err);
		abort();
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", cfg.socket_path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[65536];
	int fd, i;

	if (loop == NULL)
		setup();
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		abort();
	loop_once(loop, 0);	/* accept */
	for (size_t off = 0; off < size;) {
		ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);

		if (w > 0)
			off += (size_t)w;
		else if (recv(fd, buf, sizeof(buf), 0) <= 0 && loop_once(loop, 10) < 0)
			break;
		loop_once(loop, 0);
	}
	shutdown(fd, SHUT_WR);
	/* Let the daemon answer (store commits included) and hang up. */
	for (i = 0; i < 200; i++) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r == 0)
			break;
		loop_once(loop, r > 0 ? 0 : 5);
	}
	close(fd);
	loop_once(loop, 0);
	return 0;
}
