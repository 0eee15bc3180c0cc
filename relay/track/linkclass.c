/*
 * linkclass.c - the class of link a position must get through, and the
 * other facts the agent reads off the daemon's views (linkclass.h).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "linkclass.h"

enum link_class
linkclass_of(const char *kind, uint64_t rate_bps, bool metered)
{
	if (strcmp(kind, "kiss") == 0)
		return LINK_NARROWBAND;
	if (strcmp(kind, "sbd") == 0 || strcmp(kind, "directip") == 0)
		return LINK_SATELLITE;
	if (rate_bps && rate_bps <= LINKCLASS_NARROW_BPS)
		return LINK_NARROWBAND;
	return metered ? LINK_IP : LINK_MESH;
}

int
linkclass_parse(const char *json, struct linkclass_view *v)
{
	json_t *root = json_loads(json, 0, NULL), *links, *l;
	size_t i;

	memset(v, 0, sizeof(*v));
	v->narrowest = LINK_MESH;
	if (root == NULL || !json_is_array(links = json_object_get(root, "links"))) {
		json_decref(root);
		return -EBADMSG;
	}
	json_array_foreach(links, i, l) {
		const char *kind = json_string_value(json_object_get(l, "kind"));
		const char *name = json_string_value(json_object_get(l, "name"));
		json_t *rate = json_object_get(l, "rate_bps");
		enum link_class c;

		v->links++;
		if (kind == NULL || !json_is_true(json_object_get(l, "up")))
			continue;
		c = linkclass_of(kind, json_is_integer(rate) && json_integer_value(rate) > 0 ?
		    (uint64_t)json_integer_value(rate) : 0, json_object_get(l, "budget_bytes") != NULL);
		if (v->up++ == 0 || c > v->narrowest) {
			v->narrowest = c;
			snprintf(v->narrowest_link, sizeof(v->narrowest_link), "%s", name ? name : kind);
		}
	}
	json_decref(root);
	return 0;
}

int
linkclass_route_link(const char *json, uint64_t node, char *link, size_t cap)
{
	json_t *root = json_loads(json, 0, NULL), *routes, *r;
	int ret = -ENOENT;
	size_t i;

	if (root == NULL || !json_is_array(routes = json_object_get(root, "routes"))) {
		json_decref(root);
		return -EBADMSG;
	}
	json_array_foreach(routes, i, r) {
		const char *l = json_string_value(json_object_get(r, "link"));

		if (json_integer_value(json_object_get(r, "dst")) == (json_int_t)node && l) {
			snprintf(link, cap, "%s", l);
			ret = 0;
			break;
		}
	}
	json_decref(root);
	return ret;
}

int
linkclass_flood_taken(const char *json, const char *id)
{
	json_t *root = json_loads(json, 0, NULL), *rows, *row, *h;
	int ret = -ENOENT;
	size_t i, j;

	if (root == NULL || !json_is_array(rows = json_object_get(root, "flood"))) {
		json_decref(root);
		return -EBADMSG;
	}
	json_array_foreach(rows, i, row) {
		const char *rid = json_string_value(json_object_get(row, "id"));

		if (rid == NULL || strcmp(rid, id) != 0)
			continue;
		ret = 0;
		/* "offered" is not yet taken: only a neighbour that has it counts. */
		json_array_foreach(json_object_get(row, "holders"), j, h) {
			const char *how = json_string_value(json_object_get(h, "how"));

			if (how && (strcmp(how, "sent") == 0 || strcmp(how, "from") == 0))
				ret = 1;
		}
		break;
	}
	json_decref(root);
	return ret;
}

bool
linkclass_clock_trusted(const char *json)
{
	json_t *root = json_loads(json, 0, NULL);
	bool t = root != NULL && json_is_true(json_object_get(root, "clock_trusted"));

	json_decref(root);
	return t;
}
