/* sbd_port.c - the SBD modem core (radio/drivers/sbd.c) on a real serial
 * device, from the event loop; see sbd.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "sbd.h"

/* ---- the serial device ---------------------------------------------- */

static speed_t
baud_speed(unsigned baud)
{
	switch (baud) {
	case 1200: return B1200;
	case 2400: return B2400;
	case 4800: return B4800;
	case 9600: return B9600;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	case 460800: return B460800;
	default: return 0;
	}
}

int
sbd_serial_open(const char *path, unsigned baud, bool rtscts)
{
	speed_t sp = baud_speed(baud);
	struct termios t;
	int fd, err;

	if (sp == 0)
		return -EINVAL;
	if ((fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return -errno;
	if (tcgetattr(fd, &t) < 0)
		goto fail;
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(tcflag_t)CSTOPB;
	if (rtscts)
		t.c_cflag |= CRTSCTS;
	else
		t.c_cflag &= ~(tcflag_t)CRTSCTS;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, sp) < 0 || cfsetospeed(&t, sp) < 0 || tcsetattr(fd, TCSANOW, &t) < 0)
		goto fail;
	tcflush(fd, TCIOFLUSH);
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

struct sbd_port {
	struct loop *loop;
	struct sbd *core;
	char path[256];
	unsigned baud;
	bool rtscts;
	int fd;
	bool pollout;
	bool syncing;
	struct loop_timer timer;
};

static void port_sync(struct sbd_port *port);

static void
port_lost(struct sbd_port *port, const char *what, int err)
{
	char why[320];

	snprintf(why, sizeof(why), "device %s: %s: %s", port->path, what, strerror(err));
	loop_del_fd(port->loop, port->fd);
	close(port->fd);
	port->fd = -1;
	port->pollout = false;
	sbd_detach(port->core, loop_now(), why);
}

static void
port_flush(struct sbd_port *port)
{
	const uint8_t *p;
	size_t n;

	while (port->fd >= 0 && (n = sbd_output(port->core, &p)) > 0) {
		ssize_t w = write(port->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			port_lost(port, "write", errno);
			return;
		}
		sbd_output_done(port->core, (size_t)w);
	}
	if (port->fd >= 0) {
		bool want = sbd_output(port->core, &p) > 0;

		if (want != port->pollout) {
			loop_mod_fd(port->loop, port->fd, EPOLLIN | (want ? EPOLLOUT : 0));
			port->pollout = want;
		}
	}
}

static void
port_io(struct loop *l, int fd, uint32_t events, void *arg)
{
	struct sbd_port *port = arg;
	uint8_t buf[512];

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));

			if (n > 0) {
				sbd_input(port->core, buf, (size_t)n, loop_now());
				if (port->fd != fd)
					break;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			port_lost(port, "read", n == 0 ? EPIPE : errno);
			break;
		}
	}
	port_sync(port);
}

static void
port_timer(struct loop *l, void *arg)
{
	struct sbd_port *port = arg;

	sbd_tick(port->core, loop_now());
	port_sync(port);
}

/* After anything the core did: open the device if it wants one, write, re-arm the timer. */
static void
port_sync(struct sbd_port *port)
{
	uint64_t now = loop_now(), d;

	if (port->syncing)
		return;
	port->syncing = true;
	if (port->fd < 0 && sbd_device_wanted(port->core, now)) {
		int fd = sbd_serial_open(port->path, port->baud, port->rtscts);

		if (fd < 0) {
			char why[320];

			snprintf(why, sizeof(why), "device %s: open: %s", port->path, strerror(-fd));
			sbd_detach(port->core, now, why);
		} else if (loop_add_fd(port->loop, fd, EPOLLIN, port_io, port) < 0) {
			close(fd);
			sbd_detach(port->core, now, "cannot watch the device");
		} else {
			port->fd = fd;
			sbd_attach(port->core, now);
		}
	}
	port_flush(port);
	d = sbd_deadline(port->core);
	if (d == UINT64_MAX)
		loop_timer_cancel(port->loop, &port->timer);
	else
		loop_timer_set(port->loop, &port->timer, d > now ? d - now : 0, port_timer, port);
	port->syncing = false;
}

struct sbd_port *
sbd_port_new(struct loop *l, const char *path, const struct sbd_params *p,
    const struct sbd_events *ev, void *arg)
{
	struct sbd_port *port;

	if (baud_speed(p->baud) == 0 || strlen(path) >= sizeof(port->path)) {
		errno = EINVAL;
		return NULL;
	}
	if ((port = calloc(1, sizeof(*port))) == NULL)
		return NULL;
	if ((port->core = sbd_new(p, ev, arg, loop_now())) == NULL) {
		free(port);
		return NULL;
	}
	port->loop = l;
	strcpy(port->path, path);
	port->baud = p->baud;
	port->rtscts = p->rtscts;
	port->fd = -1;
	port_sync(port);
	return port;
}

void
sbd_port_free(struct sbd_port *port)
{
	if (port == NULL)
		return;
	loop_timer_cancel(port->loop, &port->timer);
	if (port->fd >= 0) {
		loop_del_fd(port->loop, port->fd);
		close(port->fd);
	}
	sbd_free(port->core);
	free(port);
}

int
sbd_port_send(struct sbd_port *port, const void *msg, size_t len, int prio, void *ctx)
{
	int r = sbd_send(port->core, msg, len, prio, ctx, loop_now());

	port_sync(port);
	return r;
}

void
sbd_port_mailbox_check(struct sbd_port *port)
{
	sbd_mailbox_check(port->core, loop_now());
	port_sync(port);
}

void
sbd_port_stats(const struct sbd_port *port, struct sbd_stats *st)
{
	sbd_stats(port->core, loop_now(), st);
}

struct sbd *
sbd_port_core(struct sbd_port *port)
{
	return port->core;
}
