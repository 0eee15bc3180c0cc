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

/* The two link kinds are config_sbd_kind and config_directip_kind (config_int.h). */

#endif
