/*
 * client.h - the CLI's side of the control protocol (see relay/control.h):
 * blocking, one connection, length-prefixed JSON messages with optional
 * raw bodies.
 */
#ifndef FIELDRELAY_CLIENT_H
#define FIELDRELAY_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Connect; on failure print a clear message and return -1. */
int client_connect(const char *path);
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
