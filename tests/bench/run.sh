#!/bin/sh
# run.sh - what `make bench` runs: build the benchmarks (BUILD=build-bench),
# run every tests/bench/bench_* binary, then every tests/bench/bench_*.py
# (/usr/bin/python3) and bench_*.sh, and summarise the figures.  Each
# benchmark prints lines "bench NAME: ... PASS|FAIL", every figure a ratio to
# a reference measured in the same run (DESIGN.md section 8).  Scripts get
# the build directory as $1 and in $FIELDRELAY_BUILD.  Exit 1 if a figure
# FAILs or a benchmark does not run to its end.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-bench}
PY=/usr/bin/python3
JOBS=$(nproc 2>/dev/null || echo 2)
log=$BUILD/bench-logs
rm -rf "$log"
mkdir -p "$log"
export FIELDRELAY_BUILD="$BUILD"

bins=""
for src in tests/bench/bench_*.c; do
	[ -e "$src" ] || continue
	bins="$bins $BUILD/${src%.c}"
done
scripts=""
for s in tests/bench/bench_*.py tests/bench/bench_*.sh; do
	[ -e "$s" ] && scripts="$scripts $s"
done

errors=""
echo "== build $BUILD:$bins"
if ! make -j"$JOBS" --no-print-directory BUILD="$BUILD" $bins >"$BUILD/bench-build.log" 2>&1; then
	tail -n 30 "$BUILD/bench-build.log"
	echo "bench summary: build failed"
	exit 1
fi
# The scripts drive the daemon and the CLI, and some the emulators and
# simulators of tests/sim; without them they cannot run.
if [ -n "$scripts" ]; then
	echo "== build $BUILD: all (for$scripts)"
	if ! make -j"$JOBS" --no-print-directory BUILD="$BUILD" all sims >"$BUILD/bench-build-all.log" 2>&1; then
		tail -n 30 "$BUILD/bench-build-all.log"
		for s in $scripts; do
			errors="$errors $(basename "$s")(not built)"
		done
		scripts=""
	fi
fi

run() {	# run NAME COMMAND...: run one benchmark, keep its output
	name=$1; shift
	echo "== $name"
	"$@" 2>&1 | tee "$log/$name.log"
	# tee hides the status: a benchmark that stops early prints no last line
	# of its own, so look for its exit code in a marker file.
	rc=$(cat "$log/$name.rc" 2>/dev/null || echo 1)
	# Exit 1 is a FAIL figure, said as such; anything else is a breakdown.
	if [ "$rc" -gt 1 ] || ! grep -q '^bench ' "$log/$name.log" ||
	    { [ "$rc" -eq 1 ] && ! grep -q '^bench .*FAIL$' "$log/$name.log"; }; then
		errors="$errors $name(exit $rc)"
	fi
}
status() {	# status NAME COMMAND...: run, record the exit code for run()
	name=$1; shift
	"$@"
	echo $? >"$log/$name.rc"
}

for b in $bins; do
	name=$(basename "$b")
	run "$name" status "$name" "$b"
done
for s in $scripts; do
	name=$(basename "$s")
	case "$s" in
	*.py) run "$name" status "$name" "$PY" "$s" "$BUILD" ;;
	*.sh) run "$name" status "$name" sh "$s" "$BUILD" ;;
	esac
done

echo "== bench summary"
cat "$log"/*.log 2>/dev/null | grep '^bench '
npass=$(cat "$log"/*.log 2>/dev/null | grep -c '^bench .*PASS$')
nfail=$(cat "$log"/*.log 2>/dev/null | grep -c '^bench .*FAIL$')
echo "bench summary: $npass passed, $nfail failed${errors:+, did not finish:$errors}"
[ "$nfail" -eq 0 ] && [ -z "$errors" ]
