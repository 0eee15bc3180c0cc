#!/bin/sh
# deps.sh install|ensure - the Debian packages fieldrelay needs to build and test.
# "install" installs whatever is missing; "ensure" does so only when something
# is missing (so `make check` on a fresh Debian 12 pulls them in by itself).
# Idempotent and non-interactive.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev
libsqlite3-dev sqlite3 libinih-dev libjansson-dev libsodium-dev libsystemd-dev
libnl-3-dev libnl-route-3-dev libnl-genl-3-dev libpcap-dev libgps-dev libopus-dev libcodec2-dev libogg-dev opus-tools
libcmocka-dev python3 python3-pytest python3-cbor2 iproute2 procps babeld
direwolf libfaketime
gpsd gpsd-clients python3-gps gpsbabel gdal-bin python3-lxml"
# Node.js and npm (node-mavlink checks our MAVLink in the tests): the machine's
# own when it has one, else Debian's.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || apt-get update
apt-get install -y -qq --no-install-recommends $missing
