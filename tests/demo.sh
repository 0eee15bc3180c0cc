#!/bin/bash
# demo.sh BUILD - what `make demo` runs: a small deployment on this machine.
#
#   backpack-1 (ipn:21) --mesh--+                      satellite (emulated:
#                               +-- vehicle (ipn:5) ==== 64 kbit/s, 300 ms) ==== command center (ipn:1)
#   backpack-2 (ipn:22) --mesh--+
#
# UDP links on loopback; the satellite hop goes through tests/sim/linkemu.
# Routes are learned (distance vector); the backpacks know only the vehicle.
# Messages flow, the satellite link is cut and restored, and the demo shows
# what was sent, held and delivered; then an agent (fieldrelay-echo at the
# center) answers pings from a backpack, and the tracking agents show two
# teams walking on the center's map (`fieldrelay track list`).  Ctrl-C stops everything, leaving nothing.
set -eu
BUILD=${1:-build}
D=$(mktemp -d /tmp/fieldrelay-demo.XXXXXX)
PIDS=""
GROUPS_=""
cleanup() {
	trap - EXIT INT TERM
	for g in $GROUPS_; do kill -- "-$g" 2>/dev/null || true; done
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$D"
}
trap cleanup EXIT
trap 'echo; echo "interrupted: stopping everything"; exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fr() { local who=$1; shift; echo "[$who] \$ fieldrelay $*"; timeout 120 "$BUILD/fieldrelay" -s "$D/$who/control.sock" "$@"; }
frq() { local who=$1; shift; "$BUILD/fieldrelay" -s "$D/$who/control.sock" "$@"; }

# Ports outside the kernel's ephemeral range and free right now (the test
# harness's free_ports), so a demo beside a test run does not collide with it.
set -- $(cd "$(dirname "$0")" && /usr/bin/python3 -c 'import harness; print(*harness.free_ports(8))')
[ $# -eq 8 ] || { echo "no free ports"; exit 1; }
P_BP1=$1; P_BP2=$2; P_VEH=$3; P_CC=$4; P_SAT_A=$5; P_SAT_B=$6; P_GPS1=$7; P_GPS2=$8

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/^/1 /; s/$/ send\n/' >"$D/network.key"
chmod 600 "$D/network.key"

node() {	# node NAME ID PORT PEER...
	local name=$1 id=$2 port=$3; shift 3
	mkdir -p "$D/$name"
	{
		printf '[node]\nid = %s\nname = %s\ndata_dir = %s\n' "$id" "$name" "$D/$name"
		printf '[security]\nkey_file = %s\n' "$D/network.key"
		printf '[link mesh]\ntype = udp\nport = %s\n' "$port"
		for p in "$@"; do printf 'peer = 127.0.0.1:%s\n' "$p"; done
	} >"$D/$name.conf"
	"$BUILD/fieldrelayd" -n -c "$D/$name.conf" >/dev/null
	"$BUILD/fieldrelayd" -d -c "$D/$name.conf" 2>"$D/$name.log" &
	PIDS="$PIDS $!"
}

say "Four relays start: two backpacks, the command vehicle, the command center"
node backpack-1 21 $P_BP1 $P_VEH
node backpack-2 22 $P_BP2 $P_VEH
node vehicle 5 $P_VEH $P_BP1 $P_BP2 $P_SAT_A
node center 1 $P_CC $P_SAT_B
# The satellite hop: 64 kbit/s, 300 ms each way, 1% loss; commands on its stdin.
exec 3> >(exec "$BUILD/tests/sim/linkemu" -a 127.0.0.1:$P_SAT_A -b 127.0.0.1:$P_SAT_B \
	-A 127.0.0.1:$P_VEH -B 127.0.0.1:$P_CC -r 64k -d 300ms -l 0.01 -s 7 >"$D/sat.log" 2>&1)
PIDS="$PIDS $!"

wait_for() {	# wait_for SECONDS DESCRIPTION COMMAND...
	local t=$1 what=$2 i=0; shift 2
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -lt $((t * 10)) ] || { echo "timed out waiting for $what"; tail -n 5 "$D"/*.log; exit 1; }
		sleep 0.1
	done
}
has_route() { frq "$1" --json routes | grep -q "\"dst\": *$2, *\"via\": *[0-9]"; }
wait_for 30 "routes to the command center" has_route backpack-1 1
wait_for 30 "routes to the command center" has_route backpack-2 1
fr backpack-1 neighbors
fr backpack-1 routes

say "Teams report in; the center alerts everyone (bundles cross 2-3 hops)"
fr backpack-1 send ipn:1.5 "Team 1 at shelter 4: 12 people, 2 injured"
fr backpack-2 send -p position ipn:1.3 "team-2 45.4123N 14.0711E"
fr center send -p urgent ipn:21.2 "EVACUATE sector B: river rising"
fr center send -p urgent ipn:22.2 "EVACUATE sector B: river rising"
fr center recv -n 1 -w 5
fr center recv -n 1 -w 3
fr backpack-1 recv -n 1 -w 2
fr backpack-2 recv -n 1 -w 2

say "The satellite link goes down; messages keep coming and are held"
echo "down" >&3
for i in 1 2 3; do frq backpack-1 send ipn:1.5 "Status report $i from team 1" >/dev/null; done
head -c 40000 /dev/urandom >"$D/photo.jpg"
frq backpack-2 send -f "$D/photo.jpg" -p bulk ipn:1.8 >/dev/null
sleep 3
fr vehicle queue
fr vehicle links

say "The satellite link returns: what was held is delivered"
echo "up" >&3
fr center recv -n 3 -w 5
fr center recv -n 1 -w -o "$D" 8
fr vehicle queue

say "An agent: the echo responder at the center; ping times the round trip over the satellite"
"$BUILD/fieldrelay-echo" -c "$D/center.conf" 2>"$D/echo.log" &
PIDS="$PIDS $!"
wait_for 20 "the echo agent at the center" grep -q "answering on" "$D/echo.log"
fr backpack-1 ping -c 3 -i 0.5 ipn:1

say "Every relay lets go of a bundle once the next hop has committed it"
empty() { frq "$1" --json status | grep -q '"bundles":0,'; }
for n in backpack-1 backpack-2 vehicle center; do
	wait_for 90 "$n to hand everything on" empty $n
	printf '%-11s holds %s bundles now\n' "$n" 0
done
fr vehicle links

say "Tracking: two teams walk (a real hike, through gpsbabel, gpsfake and gpsd); the center maps them"
# Each backpack's GPS: gpsd fed by gpsfake, team 2 on the same trail, further on.
(cd "$(dirname "$0")" && /usr/bin/python3 - "$D" <<'PYEOF'
import sys
import time
from pathlib import Path
from harness import TEST_DATA
from harness.gpsd import NO_FIX, gpx_nmea
d = Path(sys.argv[1])
for name, skip in (("team1", 0), ("team2", 250)):
    # Now, at 320 times the walking speed: the hike's 3.7 h in 42 s.
    gpx_nmea(TEST_DATA / "gpxpy_korita-zbevnica.gpx", d / f"{name}.nmea", skip=skip,
             start_ms=time.time() * 1000 + 2000, speedup=320)
    log = d / f"{name}.nmea"
    log.write_bytes(NO_FIX * 100 + log.read_bytes())
PYEOF
)
for t in 1 2; do
	port=$P_GPS1; [ $t = 2 ] && port=$P_GPS2
	setsid /usr/bin/gpsfake -p -1 -c 0.03 -P "$port" "$D/team$t.nmea" >"$D/gpsfake$t.log" 2>&1 &
	GROUPS_="$GROUPS_ $!"
	printf '[track]\ngpsd = 127.0.0.1:%s\nunit = Team %s\ndb = %s\nbattery = none\ninterval = mesh 1s 60s\n' \
		"$port" "$t" "$D/backpack-$t/track.db" >>"$D/backpack-$t.conf"
done
printf '[track]\ngpsd = none\nunit = Command\ndb = %s\n' "$D/center/track.db" >>"$D/center.conf"
for n in backpack-1 backpack-2 center; do
	"$BUILD/fieldrelay-track" -c "$D/$n.conf" 2>"$D/track-$n.log" &
	PIDS="$PIDS $!"
done
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for 20 "gpsd for team 1" listening $P_GPS1
wait_for 20 "gpsd for team 2" listening $P_GPS2
units() { [ "$(frq center --config "$D/center.conf" --json track list | grep -o '"unit": *"Team' | wc -l)" -ge 2 ]; }
wait_for 60 "both teams at the center" units
sleep 4
fr center --config "$D/center.conf" track list
sleep 12
echo "... twelve seconds later (the teams walk at 320 times their speed):"
fr center --config "$D/center.conf" track list
fr center --config "$D/center.conf" track show "Team 1" -n 5

echo "sent 8 bundles: 4 messages, 1 position, 2 alerts, 1 photo (40 kB); each delivered once;"
echo "4 were held at the vehicle while the satellite was down, and left when it came back;"
echo "3 pings went to the echo agent at the center and back, each timed;"
echo "two teams' GPS tracks reached the center's track DB and its map."
echo "demo done"
