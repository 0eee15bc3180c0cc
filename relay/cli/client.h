/*
 * client.h - the CLI's side of the control protocol (see relay/ctl/control.h):
 * blocking, one connection, length-prefixed JSON messages with optional
 * raw bodies.
 */
#ifndef FIELDRELAY_CLIENT_H
#define FIELDRELAY_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/*
 * Every call below gives up with -ETIMEDOUT (errno ETIMEDOUT) when the
 * daemon has not answered or taken what is written within this many
 * milliseconds (-1: wait for ever, for a stream that waits by design).
 */
#define CLIENT_TIMEOUT_MS	10000
void client_set_timeout(int ms);
int client_timeout(void);

/* Connect; on failure return -1 with a clear message in err. */
int client_connect(const char *path, char *err, size_t errlen);
/* Write n bytes (pipelined requests already packed): 0 or -errno. */
int client_write(int fd, const void *p, size_t n);
/* Send msg (not stolen) followed by len body bytes from mem or fd (mem NULL). 0 or -errno. */
int client_send(int fd, json_t *msg, const void *mem, int body_fd, uint64_t len,
    void (*progress)(uint64_t done, uint64_t total));
/* Queue msg without blocking into buf for pipelining: returns bytes appended or -1. */
int client_pack(json_t *msg, const void *body, size_t len, char **buf, size_t *used, size_t *cap);
/* Read one message; NULL on EOF or error (errno set; 0 on clean EOF). */
json_t *client_recv(int fd);
/* Read a body of len bytes, passing chunks to sink (which may be NULL to drop). 0 or -errno. */
int client_body(int fd, uint64_t len, void (*sink)(void *arg, const uint8_t *p, size_t n), void *arg);
/* One request (the reference is stolen), one answer. */
json_t *client_call(int fd, json_t *req);

#endif
