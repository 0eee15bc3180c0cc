/*
 * views.h - the JSON views of the daemon's state, built in one place: the
 * control socket's answers (status, queue, links, ...), the rows of the
 * event stream, and through them what agents show (the web dashboard takes
 * these objects as they come, it does not build its own).  Each returns a
 * new object with "ok": true, or NULL with the reason in err.
 */
#ifndef FIELDRELAY_VIEWS_H
#define FIELDRELAY_VIEWS_H

#include <stddef.h>

#include <jansson.h>

struct node;
struct forward;
struct forward_link_info;

json_t *view_status(struct node *n, char *err, size_t errlen);
json_t *view_queue(struct node *n, char *err, size_t errlen);
/* The node's config file read again: {ok, path, errors, changes}. */
json_t *view_config_check(struct node *n);
/* what: "neighbors", "links" or "routes"; fw NULL: none known. */
json_t *view_network(struct forward *fw, const char *what);
/* One link's row of "links" (no "ok"). */
json_t *view_link(const struct forward_link_info *li);
json_t *view_flood(struct node *n);
json_t *view_registrations(struct node *n, char *err, size_t errlen);

#endif
