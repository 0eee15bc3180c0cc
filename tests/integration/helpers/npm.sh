#!/bin/sh
# npm.sh [BUILD] - node-mavlink (tests only: tests/integration/helpers/mavcheck.js)
# into BUILD/npm (default build/npm), once: does nothing when the pinned
# version is there.  Exit 0 when it is installed; 77 with a line saying why
# when it cannot be (no node or npm, or npm cannot reach its registry): the
# tests that need it then fail with that line.
set -u
cd "$(dirname "$0")/../../.."
BUILD=${1:-build}
PREFIX="$BUILD/npm"
VERSION=2.3.0
PKG="$PREFIX/node_modules/node-mavlink/package.json"

installed() {
	[ -f "$PKG" ] && grep -q "\"version\": \"$VERSION\"" "$PKG"
}

installed && exit 0
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "npm.sh: node and npm are needed for node-mavlink (tests/deps.sh install)"
	exit 77
fi
mkdir -p "$PREFIX"
if ! timeout 300 npm install --prefix "$PREFIX" --no-audit --no-fund --silent "node-mavlink@$VERSION" \
    >"$PREFIX/install.log" 2>&1; then
	echo "npm.sh: npm could not install node-mavlink@$VERSION (offline? see $PREFIX/install.log)"
	exit 77
fi
if ! installed; then
	echo "npm.sh: node-mavlink@$VERSION not found in $PREFIX after npm install"
	exit 77
fi
exit 0
