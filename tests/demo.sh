#!/bin/sh
# demo.sh BUILD - what `make demo` runs: one fieldrelayd in a scratch directory;
# a few bundles sent and received through its store; status and queue shown;
# a clean stop.  Ctrl-C stops everything and leaves nothing running.
set -eu
BUILD=${1:-build}
D=$(mktemp -d /tmp/fieldrelay-demo.XXXXXX)
PID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fr() { echo "\$ fieldrelay $*"; "$BUILD/fieldrelay" -s "$D/control.sock" "$@"; }

cat >"$D/backpack.conf" <<CONF
[node]
id = 21
name = backpack-team-2
data_dir = $D
clock = untrusted
[store]
quota = 64M
reserve_urgent = 4M
[control]
socket = $D/control.sock
CONF

say "A backpack relay (node ipn:21) starts with its own durable store"
"$BUILD/fieldrelayd" -n -c "$D/backpack.conf"
"$BUILD/fieldrelayd" -d -c "$D/backpack.conf" 2>"$D/daemon.log" &
PID=$!
i=0
until [ -S "$D/control.sock" ] && "$BUILD/fieldrelay" -s "$D/control.sock" status >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 200 ] || { cat "$D/daemon.log"; exit 1; }
	sleep 0.05
done
fr status

say "Messages for two services of this node, and some for other nodes (held: no links yet)"
fr send -p urgent ipn:21.2 "EVACUATE sector B: river rising"
fr send ipn:21.5 "Team 2 at shelter 4, 12 people, 2 injured"
fr send ipn:21.5 "Need insulin at shelter 4"
head -c 200000 /dev/urandom >"$D/photo.jpg"
fr send -f "$D/photo.jpg" -p bulk ipn:1.8
fr send -p position ipn:1.3 "45.4123N 14.0711E"
fr queue

say "The alert and the messages are delivered locally, from the store"
fr recv 2
fr recv 5

say "A crash: kill -9, restart; what was accepted is still there"
fr send ipn:21.5 "sent just before the power went"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
"$BUILD/fieldrelayd" -d -c "$D/backpack.conf" 2>>"$D/daemon.log" &
PID=$!
until "$BUILD/fieldrelay" -s "$D/control.sock" status >/dev/null 2>&1; do sleep 0.05; done
fr recv 5
fr status

say "Clean stop (SIGTERM)"
kill -TERM "$PID"; wait "$PID"; PID=""
tail -n 3 "$D/daemon.log"
echo "demo done"
