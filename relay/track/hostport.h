/*
 * hostport.h - the HOST:PORT of the [track] section's endpoints (gpsd, CoT,
 * MAVLink), and the two clocks the agent's modules read.
 */
#ifndef FIELDRELAY_TRACK_HOSTPORT_H
#define FIELDRELAY_TRACK_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * "HOST:PORT", "[V6]:PORT" or ":PORT" into host ("" for none: the caller
 * decides what that means) and port (a number 1..65535): 0, or -EINVAL.
 */
int hostport_split(const char *s, char *host, size_t hostcap, char *port, size_t portcap);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ms. */
int64_t now_mono_ms(void);
int64_t now_wall_ms(void);

#endif
