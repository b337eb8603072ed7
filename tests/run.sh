#!/bin/bash
# run.sh - run every xlmig test suite and end with one line
# "N passed, N failed" (exit status 1 if anything failed).
#
#   tests/run.sh [SUITE...]    suites: unit asan valgrind fuzz integration xenlab
#
# A suite is a command whose output ends with its own "N passed, N failed"
# line; a suite that dies without one counts as one failure.  Logs are kept
# in build/test-logs/.
set -u
cd "$(dirname "$0")/.."
LOGS=build/test-logs
mkdir -p "$LOGS"
total_pass=0
total_fail=0
summary=""
# The valgrind suite: unit tests that run in seconds under valgrind and
# are not timing-bound (each test runs in its own forked child, which
# valgrind follows: a test with a memory error or a definite leak fails).
VALGRIND_TESTS="test_json.c test_common.c test_precopy.c test_wire.c test_xlproto.c
test_preflight.c test_ctl.c test_journal.c test_xlcompat.c stream_roundtrip_hvm stream_page_data
stream_unknown codec_roundtrip codec_xorrle"

run_suite() { # name command...
	local name=$1; shift
	local log=$LOGS/$name.log start end line p f
	echo "=== $name: $*"
	start=$(date +%s)
	"$@" 2>&1 | tee "$log"
	end=$(date +%s)
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=${line%% passed*}; f=${line#*, }; f=${f%% failed}
	else
		echo "=== $name: ended without a result line (see $log)"
		p=0; f=1
	fi
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
	summary="$summary$(printf '  %-12s %4d passed, %3d failed  (%ds)' "$name" "$p" "$f" $((end - start)))"$'\n'
}

suites=${*:-unit asan valgrind fuzz integration xenlab}
for s in $suites; do
	case $s in
	unit) run_suite unit build/unit ;;
	asan) ASAN_OPTIONS=detect_leaks=1 run_suite asan build/unit-asan ;;
	valgrind) run_suite valgrind valgrind -q --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite build/unit $VALGRIND_TESTS ;;
	fuzz) run_suite fuzz tests/fuzz/run.sh "${XLMIG_FUZZ_SECONDS:-15}" ;;
	integration) run_suite integration tests/integration/run.sh ;;
	xenlab) run_suite xenlab tests/xenlab/run.sh core ;;
	*) echo "run.sh: unknown suite $s"; total_fail=$((total_fail + 1)) ;;
	esac
done

echo "=== summary"
printf '%s' "$summary"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
