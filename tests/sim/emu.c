/* emu.c - what the emulators in tests/sim share; see emu.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"

const char *emu_progname = "emu";

static void
vlog(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", emu_progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
emu_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void
emu_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
	exit(2);
}

int64_t
emu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * EMU_NSEC + ts.tv_nsec;
}

uint64_t
emu_rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double
emu_rng_uniform(uint64_t *s)
{
	return (double)(emu_rng_next(s) >> 11) * 0x1.0p-53;
}

/* Box-Muller (one of the pair is enough here). */
double
emu_rng_normal(uint64_t *s)
{
	double u1 = 1.0 - emu_rng_uniform(s), u2 = emu_rng_uniform(s);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t
emu_random_seed(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)emu_now() ^ (uint64_t)getpid();
	return seed;
}

int
emu_parse_duration(const char *s, int64_t *out)
{
	static const struct { const char *sfx; double mul; } units[] = {
		{ "", 1e6 }, { "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 },
		{ "s", 1e9 }, { "min", 60e9 },
	};
	char *end;
	double v = strtod(s, &end);

	if (end == s || !(v >= 0) || v > 1e6)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].sfx) == 0) {
			*out = (int64_t)llround(v * units[i].mul);
			return 0;
		}
	return -EINVAL;
}

int
emu_parse_rate(const char *s, uint64_t *out)
{
	char *end;
	double v, mul = 1;

	if (strcmp(s, "off") == 0 || strcmp(s, "unlimited") == 0) {
		*out = 0;
		return 0;
	}
	v = strtod(s, &end);
	if (end == s || !(v >= 0) || v > 1e12)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1e3; end++; break;
	case 'M': mul = 1e6; end++; break;
	case 'G': mul = 1e9; end++; break;
	}
	if (*end && strcmp(end, "bit") && strcmp(end, "bps") && strcmp(end, "bit/s"))
		return -EINVAL;
	v *= mul;
	if (v != 0 && v < 1)
		return -EINVAL;
	*out = (uint64_t)llround(v);
	return 0;
}

int
emu_parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end), mul = 1;

	if (end == s || !(v >= 0) || v > 1e12)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1024; end++; break;
	case 'M': mul = 1024 * 1024; end++; break;
	case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	}
	if (*end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*out = (uint64_t)llround(v * mul);
	return 0;
}

int
emu_parse_prob(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s)
		return -EINVAL;
	if (*end == '%') {
		v /= 100;
		end++;
	}
	if (*end || !(v >= 0 && v <= 1))
		return -EINVAL;
	*out = v;
	return 0;
}

int
emu_parse_outage(const char *s, struct emu_outage *o)
{
	char buf[128], *plus, *at;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	plus = strchr(buf, '+');
	if (!plus)
		return -EINVAL;
	*plus++ = '\0';
	at = strchr(plus, '@');
	if (at)
		*at++ = '\0';
	o->every = 0;
	if (emu_parse_duration(buf, &o->at) || emu_parse_duration(plus, &o->dur) || o->dur <= 0)
		return -EINVAL;
	if (at && (emu_parse_duration(at, &o->every) || o->every <= o->dur))
		return -EINVAL;
	return 0;
}

bool
emu_outage_on(const struct emu_outage *o, int n, int64_t rel)
{
	for (int i = 0; i < n; i++) {
		if (rel < o[i].at)
			continue;
		if (o[i].every ? (rel - o[i].at) % o[i].every < o[i].dur : rel < o[i].at + o[i].dur)
			return true;
	}
	return false;
}

/* ---- directions ---- */

unsigned
emu_dir_prefix(const char *arg, const char **val)
{
	*val = arg;
	if (strncmp(arg, "ab:", 3) == 0 || strncmp(arg, "ba:", 3) == 0) {
		*val = arg + 3;
		return arg[0] == 'a' ? 1u : 2u;
	}
	return EMU_DIRS_BOTH;
}

unsigned
emu_take_dirs(char **tok, int *ntok)
{
	unsigned m;

	if (*ntok == 0 || (strcmp(tok[0], "ab") != 0 && strcmp(tok[0], "ba") != 0 && strcmp(tok[0], "both") != 0))
		return EMU_DIRS_BOTH;
	m = tok[0][0] == 'a' ? 1u : tok[0][1] == 'a' ? 2u : EMU_DIRS_BOTH;
	memmove(tok, tok + 1, (size_t)(*ntok - 1) * sizeof(*tok));
	(*ntok)--;
	return m;
}

void
emu_add_outage(const char *arg, struct emu_outage *outages[2], int *n[2])
{
	struct emu_outage o;
	const char *val;
	unsigned mask = emu_dir_prefix(arg, &val);

	if (emu_parse_outage(val, &o))
		emu_fatal("bad --outage \"%s\" (want AT+FOR[@EVERY], EVERY > FOR)", arg);
	for (int i = 0; i < 2; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (*n[i] == EMU_MAX_OUTAGES)
			emu_fatal("too many --outage");
		outages[i][(*n[i])++] = o;
	}
}

/* ---- command lines ---- */

int
emu_split_command(char *line, char **word, char **tok, int max, bool verbose)
{
	char *save = NULL, *w;
	int ntok = -1;

	for (w = strtok_r(line, " \t\r\n", &save); w && ntok < max; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (ntok < 0)
			*word = w;
		else
			tok[ntok] = w;
		ntok++;
	}
	if (verbose && ntok >= 0) {
		char msg[EMU_LINE_MAX];

		snprintf(msg, sizeof(msg), "%s", *word);
		for (int i = 0; i < ntok; i++) {
			strncat(msg, " ", sizeof(msg) - strlen(msg) - 1);
			strncat(msg, tok[i], sizeof(msg) - strlen(msg) - 1);
		}
		emu_log("command: %s", msg);
	}
	return ntok;
}

void
emu_epoll_add(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		emu_fatal("epoll_ctl: %s", strerror(errno));
}

/* Split buffered input into lines and answer each; -1 if a line was too
 * long or the reply could not be written (the caller drops that input). */
static int
feed_lines(struct emu_ctl *c, char *buf, size_t *len, int fd_out)
{
	char *nl, reply[4096];
	size_t used = 0;

	while ((nl = memchr(buf + used, '\n', *len - used))) {
		*nl = '\0';
		c->command(c->arg, buf + used, reply, sizeof(reply));
		used = (size_t)(nl - buf) + 1;
		if (reply[0]) {
			if (fd_out == STDOUT_FILENO) {
				fputs(reply, stdout);
				fflush(stdout);
			} else if (write(fd_out, reply, strlen(reply)) != (ssize_t)strlen(reply)) {
				return -1;	/* a client not reading its replies */
			}
		}
	}
	memmove(buf, buf + used, *len - used);
	*len -= used;
	return *len >= EMU_LINE_MAX - 1 ? -1 : 0;
}

static int
open_control(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	/* A socket left by an earlier run that died is replaced. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

void
emu_ctl_open(struct emu_ctl *c, int ep, const char *path, bool use_stdin, emu_command_fn *fn, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->ep = ep;
	c->listen_fd = -1;
	c->path = path;
	c->command = fn;
	c->arg = arg;
	for (int i = 0; i < EMU_MAX_CLIENTS; i++)
		c->clients[i].fd = -1;
	if (path) {
		if ((c->listen_fd = open_control(path)) < 0)
			emu_fatal("control socket %s: %s", path, strerror(errno));
		emu_epoll_add(ep, c->listen_fd, EMU_EV(EMU_EV_LISTEN, 0));
	}
	if (use_stdin) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EMU_EV(EMU_EV_STDIN, 0) };

		/* stdin may be a file or /dev/null, which epoll refuses: then ignore it. */
		c->use_stdin = epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == 0;
	}
}

static void
on_stdin(struct emu_ctl *c)
{
	ssize_t n = read(STDIN_FILENO, c->stdin_buf + c->stdin_len, sizeof(c->stdin_buf) - 1 - c->stdin_len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF: keep running, just stop listening to stdin. */
		epoll_ctl(c->ep, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
		return;
	}
	c->stdin_len += (size_t)n;
	if (feed_lines(c, c->stdin_buf, &c->stdin_len, STDOUT_FILENO) < 0) {
		emu_log("stdin: line too long, discarded");
		c->stdin_len = 0;
	}
}

static void
client_close(struct emu_client *cl)
{
	close(cl->fd);
	cl->fd = -1;
	cl->len = 0;
}

static void
on_listen(struct emu_ctl *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < EMU_MAX_CLIENTS; i++)
		if (c->clients[i].fd < 0) {
			c->clients[i].fd = fd;
			c->clients[i].len = 0;
			emu_epoll_add(c->ep, fd, EMU_EV(EMU_EV_CLIENT, i));
			return;
		}
	emu_log("control: too many clients");
	close(fd);
}

static void
on_client(struct emu_ctl *c, struct emu_client *cl)
{
	ssize_t n = read(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	if (feed_lines(c, cl->buf, &cl->len, cl->fd) < 0)
		client_close(cl);
}

bool
emu_ctl_event(struct emu_ctl *c, uint64_t tag)
{
	uint32_t idx = EMU_EV_IDX(tag);

	switch (EMU_EV_KIND(tag)) {
	case EMU_EV_STDIN:
		on_stdin(c);
		return true;
	case EMU_EV_LISTEN:
		on_listen(c);
		return true;
	case EMU_EV_CLIENT:
		if (idx < EMU_MAX_CLIENTS && c->clients[idx].fd >= 0)
			on_client(c, &c->clients[idx]);
		return true;
	}
	return false;
}

void
emu_ctl_close(struct emu_ctl *c)
{
	for (int i = 0; i < EMU_MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			client_close(&c->clients[i]);
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
		c->listen_fd = -1;
	}
}
