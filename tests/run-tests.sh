#!/bin/sh
# run-tests.sh - what `make check` runs: a -Werror build, an ASan+UBSan build,
# the C unit tests (cmocka) in both, the pytest integration tests against the
# sanitized daemon, then one line "N passed, N failed".  Exit 1 on any failure.
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
JOBS=$(nproc 2>/dev/null || echo 2)
pass=0
fail=0
failed_names=""
log=build/test-logs
mkdir -p "$log"

note_fail() { fail=$((fail + 1)); failed_names="$failed_names $1"; }

build() {	# build BUILDDIR extra-make-args...
	dir=$1; shift
	echo "== build $dir $*"
	if make -j"$JOBS" --no-print-directory BUILD="$dir" WERROR=1 "$@" tests >"$log/build-$dir.log" 2>&1; then
		pass=$((pass + 1))
		return 0
	fi
	tail -n 30 "$log/build-$dir.log"
	note_fail "build:$dir"
	return 1
}

unit() {	# unit BUILDDIR: run every unit test binary, count cmocka's TAP lines
	dir=$1
	for t in "$dir"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		case "$t" in *.o|*.d) continue ;; esac
		name=$(basename "$t")
		out="$log/$(echo "$dir" | tr / _)-$name.tap"
		CMOCKA_MESSAGE_OUTPUT=TAP timeout 900 "$t" >"$out" 2>&1
		rc=$?
		p=$(grep -c '^ok ' "$out")
		# cmocka's skip() prints "not ok N # SKIP name": a skip, not a failure.
		k=$(grep -c '^not ok [0-9]* # SKIP' "$out")
		f=$(($(grep -c '^not ok ' "$out") - k))
		pass=$((pass + p))
		fail=$((fail + f))
		if [ "$f" -gt 0 ]; then
			failed_names="$failed_names $dir:$name"
			grep -B2 -A8 '^not ok ' "$out" | head -n 60
		elif [ "$rc" -ne 0 ] || [ "$p" -eq 0 ]; then
			echo "$dir/$name exited $rc"; tail -n 30 "$out"
			note_fail "$dir:$name(exit $rc)"
		fi
		skipped=""
		[ "$k" -gt 0 ] && skipped=", $k skipped"
		echo "   $dir/$name: $p passed, $f failed$skipped"
	done
}

build build && unit build
build build-asan SAN=1 && unit build-asan

echo "== integration tests (pytest, daemon built with ASan+UBSan)"
if [ -x build-asan/fieldrelayd ]; then
	FIELDRELAY_BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    timeout 3600 $PY -m pytest -q -p no:cacheprovider --junitxml="$log/pytest.xml" \
	    ${PYTEST_ARGS:-} tests/integration 2>&1 | tee "$log/pytest.log" | tail -n 40
	if [ -f "$log/pytest.xml" ]; then
		set -- $($PY - "$log/pytest.xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
k = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - k, f, k)
PYEOF
)
		pass=$((pass + $1)); fail=$((fail + $2))
		[ "$2" -gt 0 ] && failed_names="$failed_names pytest($2)"
		[ "$3" -gt 0 ] && echo "   ($3 integration tests skipped)"
	else
		note_fail "pytest(no report)"
	fi
else
	note_fail "pytest(no daemon built)"
fi

echo "== fuzz smoke (each libFuzzer target for ${FUZZ_SECONDS:-10}s)"
# The library is compiled once for all targets (build/fuzz/libfieldrelay-fuzz.a).
if make -j"$JOBS" --no-print-directory BUILD=build fuzz-build >"$log/build-fuzz.log" 2>&1; then
	for f in build/tests/fuzz/fuzz_*; do
		case "$f" in *.d|*.o|*.log) continue ;; esac
		[ -x "$f" ] || continue
		name=$(basename "$f")
		corpus=build/fuzz-corpus/$name
		mkdir -p "$corpus"
		[ -d "tests/fuzz/seeds/$name" ] && cp tests/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null
		if "$f" -max_total_time="${FUZZ_SECONDS:-10}" -max_len=65536 -print_final_stats=1 "$corpus" \
		    >"$log/$name.log" 2>&1; then
			pass=$((pass + 1))
			echo "   $name: no crash, $(sed -n 's/^stat::number_of_executed_units: *//p' "$log/$name.log") runs"
		else
			tail -n 30 "$log/$name.log"; note_fail "$name"
		fi
	done
else
	tail -n 20 "$log/build-fuzz.log"; note_fail "build:fuzz"
fi

[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
