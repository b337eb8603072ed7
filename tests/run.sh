#!/bin/bash
# run.sh - run every xlmig test suite and end with one line
# "N passed, N failed, N skipped" (exit status 1 if anything failed).
#
#   tests/run.sh [SUITE...]    suites: unit asan valgrind fuzz integration faults xenlab
#
# A suite is a command whose output ends with its own "N passed, N failed,
# N skipped" line.  What the suite's process says counts as much as its
# line: a suite that exits non-zero (a crash after its summary, a sanitizer
# report, valgrind's error exit) or runs out of time fails, whatever it
# printed; one that ends without a result line counts as one failure.
#
# A skipped test is never a pass.  On the supported machine (Debian 12, as
# root, after tools/install-deps.sh) nothing is skipped, so a skip means
# something is missing and fails the run; XLMIG_ALLOW_SKIPS=1 accepts
# skips (elsewhere: not root, no Xen headers), still reporting each one.
#
# Each suite runs under a time limit (XLMIG_SUITE_TIMEOUT seconds, or the
# suite's own default below).  Logs are kept in build/test-logs/.
set -u
cd "$(dirname "$0")/.."
LOGS=build/test-logs
mkdir -p "$LOGS"
total_pass=0
total_fail=0
total_skip=0
summary=""
ran_logs=()
# The valgrind suite: unit tests that run in seconds under valgrind and
# are not timing-bound (each test runs in its own forked child, which
# valgrind follows: a test with a memory error or a definite leak fails).
# conn's tests (sessions over TCP) are in test_handshake.c.  Of xfer's,
# three are left to the ASan suite: xfer_identity_random_streams and
# xfer_identity_four_channels_compressed push 32 MiB streams through the
# codec (30-50 s each under valgrind, on paths the others cover), and
# xfer_reorder_bound_with_slow_channel is timing-bound (a relay that
# sleeps per chunk to make one channel slow), as is
# xfer_dropped_connection_fails_both_sides (both sides must see the drop
# within 30 s, against a 60 s I/O timeout): under valgrind one side
# sometimes waits out that timeout instead, which the unit and ASan
# suites have not shown; the cause is not yet known.
VALGRIND_TESTS="test_json.c test_common.c test_policy.c test_wire.c test_xlproto.c
test_preflight.c test_ctl.c test_journal.c test_bufpool.c test_xl_config.c test_migrate_args.c stream_roundtrip_hvm stream_page_data
stream_unknown codec_roundtrip codec_xorrle codec_two_step test_job.c test_handshake.c
xfer_identity_one_channel_compressed xfer_identity_four_channels_plain xfer_pages_coded_on_every_channel
xfer_corruption_in_flight_fails xfer_cancel_on_source
xfer_cancel_on_destination xfer_truncated_source_stream xfer_from_a_pipe xfer_skipped_frame_is_an_error
xfer_source_hangs_up_after_end xfer_restore_gone_is_an_error_not_sigpipe"

# Seconds a suite may take before it is stopped and failed.
suite_timeout() { # suite
	local t
	case $1 in
	unit) t=900 ;;
	asan) t=1500 ;;
	valgrind) t=1500 ;;
	fuzz) t=$((${XLMIG_FUZZ_SECONDS:-12} * 20 + 300)) ;;
	integration) t=1500 ;;
	faults) t=900 ;;
	xenlab) t=2700 ;;
	*) t=900 ;;
	esac
	echo "${XLMIG_SUITE_TIMEOUT:-$t}"
}

# The counts of a result line "N passed, N failed[, N skipped]".
RESULT_RE='^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'

run_suite() { # name command...
	local name=$1; shift
	local log=$LOGS/$name.log start end line p f s=0 rc limit why=""
	limit=$(suite_timeout "$name")
	echo "=== $name: $* (time limit ${limit}s)"
	ran_logs+=("$log")
	start=$(date +%s)
	# timeout stops the whole process group of the suite (QEMU included).
	timeout -k 30 "$limit" "$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	end=$(date +%s)
	line=$(grep -E "$RESULT_RE" "$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=${line%% passed*}
		f=${line#*, }; f=${f%% failed*}
		case $line in *skipped) s=${line##*failed, }; s=${s%% skipped} ;; esac
	else
		p=0; f=0
		why="ended without a result line"
	fi
	case $rc in
	0) ;;
	124|137) why="ran out of its ${limit}s time limit" ;;
	*) [ -z "$why" ] && [ "$f" = 0 ] && why="exited with status $rc after reporting no failure" ;;
	esac
	if [ -n "$why" ]; then
		echo "=== $name: FAIL: $why (see $log)"
		f=$((f + 1))
	elif [ "$rc" != 0 ]; then
		: # its failures are in its own count
	elif [ "$f" != 0 ]; then
		echo "=== $name: FAIL: $f failed but the suite exited 0"
	fi
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
	summary="$summary$(printf '  %-12s %4d passed, %3d failed, %3d skipped  (%ds)%s' \
		"$name" "$p" "$f" "$s" $((end - start)) "${why:+  $why}")"$'\n'
}

suites=${*:-unit asan valgrind fuzz integration faults xenlab}
for s in $suites; do
	case $s in
	unit) run_suite unit build/unit ;;
	asan) ASAN_OPTIONS=detect_leaks=1 run_suite asan build/unit-asan ;;
	valgrind) run_suite valgrind valgrind -q --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite build/unit $VALGRIND_TESTS ;;
	# Each fuzzer at most 12 s (fuzz_xfer_recv and fuzz_xl_receive, end to
	# end, 6: tests/fuzz/options) or 200000 inputs: the fast parsers are
	# done in a few seconds (make fuzz runs them for depth; 27 harnesses
	# so keep make check within its half hour).
	fuzz) run_suite fuzz tests/fuzz/run.sh "${XLMIG_FUZZ_SECONDS:-12}" "${XLMIG_FUZZ_RUNS:-200000}" ;;
	integration) run_suite integration tests/integration/run.sh ;;
	faults) run_suite faults tests/faults/run.sh reduced ;;
	xenlab) run_suite xenlab tests/xenlab/run.sh core ;;
	*) echo "run.sh: unknown suite $s"; total_fail=$((total_fail + 1)) ;;
	esac
done

echo "=== summary"
printf '%s' "$summary"
if [ "$total_skip" != 0 ]; then
	grep -ah '^skip ' "${ran_logs[@]}" | sed 's/^/  /'
	if [ "${XLMIG_ALLOW_SKIPS:-0}" = 1 ]; then
		echo "=== $total_skip skipped (accepted: XLMIG_ALLOW_SKIPS=1); a skip is not a pass"
	else
		echo "=== FAIL: $total_skip skipped: on the supported machine (Debian 12, root, after" \
			"tools/install-deps.sh) nothing is skipped; install what the skips name," \
			"or set XLMIG_ALLOW_SKIPS=1 where that cannot be done (see README)"
		total_fail=$((total_fail + 1))
	fi
fi
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
