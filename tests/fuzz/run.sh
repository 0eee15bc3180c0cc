#!/bin/sh
# run.sh BUILD SECONDS - run every libFuzzer target for SECONDS each, with
# its corpus in BUILD/fuzz-corpus/NAME (seeded from tests/fuzz/seeds/NAME and
# real data where we have it); see tests/fuzz/README.md.
set -u
BUILD=$1
SECS=${2:-20}
cd "$(dirname "$0")/../.."
rc=0
for f in "$BUILD"/tests/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	case "$f" in *.d|*.o) continue ;; esac
	name=$(basename "$f")
	corpus="$BUILD/fuzz-corpus/$name"
	mkdir -p "$corpus"
	[ -d "tests/fuzz/seeds/$name" ] && cp -n tests/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null
	[ "$name" = fuzz_bundle ] && cp -n tests/data/bpv7/*.bpv7 "$corpus"/ 2>/dev/null
	[ "$name" = fuzz_config ] && cp -n configs/*.conf "$corpus"/ 2>/dev/null
	echo "== $name for ${SECS}s"
	if "$f" -max_total_time="$SECS" -max_len=65536 -print_final_stats=1 "$corpus" \
	    >"$BUILD/$name.log" 2>&1; then
		grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss" "$BUILD/$name.log" | tr '\n' ' '
		echo "-> no crash"
	else
		tail -n 40 "$BUILD/$name.log"
		echo "$name: FOUND A CRASH (see $BUILD/$name.log)"
		rc=1
	fi
done
exit $rc
