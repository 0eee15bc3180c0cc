/*
 * config_sbd.h - the [link NAME] keys of Iridium SBD links (type = sbd, the
 * field side) and of the command center's DirectIP side (type = directip),
 * kept apart from config.c; documented in the README and configs/.
 */
#ifndef FIELDRELAY_CONFIG_SBD_H
#define FIELDRELAY_CONFIG_SBD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/*
 * Default fragment sizes: a bundle fragment with this much payload still
 * fits one MO (340 bytes) or MT (270 bytes) message with a 16-byte tag: the
 * frame header (at most 19), the tag, the BUNDLES body's counts and the
 * compact header of a fragment (tests/unit/test_sbdmsg.c checks the worst
 * case: 32-bit node numbers, 16 MB offsets, every optional block).
 */
#define SBD_FRAGMENT_MO		240
#define SBD_FRAGMENT_MT		170

/*
 * One key of a link section: 0 not one of these, 1 an sbd/directip key,
 * 2 a serial key (device, baud: kiss links take them too), -1 a bad value
 * (why in msg).
 */
int config_sbd_key(struct config_link *l, const char *name, const char *value, char *msg, size_t msglen);
/* The defaults of an sbd or directip link, for what the section did not set. */
void config_sbd_defaults(struct config_link *l, bool rate_set, bool fragment_set, bool classes_set);
/* What an sbd or directip link section lacks: 0, or -1 with why in msg. */
int config_sbd_check(const struct config_link *l, char *msg, size_t msglen);

#endif
