#!/bin/bash
# run.sh - run every integration test (t_*.sh, each builds its own pair of
# hosts) and end with "N passed, N failed, N skipped".  Needs root for the
# network namespaces; without them the tests fall back to loopback ports,
# and a check that needs them prints "skip NAME: why" (counted as skipped).
#
#   tests/integration/run.sh [t_NAME.sh...]      B=BUILD_DIR selects binaries
set -u
cd "$(dirname "$0")"
pass=0
failed=0
skipped=0
tests=${*:-$(ls t_*.sh)}
start=$(date +%s)
for t in $tests; do
	echo "# $t"
	# A test that hangs is stopped (its trap removes its hosts) and fails.
	out=$(timeout -k 20 "${XLMIG_IT_TIMEOUT:-600}" bash "$t" 2>&1)
	status=$?
	echo "$out"
	p=$(grep -c '^ok ' <<<"$out")
	f=$(grep -c '^FAIL ' <<<"$out")
	s=$(grep -c '^skip ' <<<"$out")
	if [ "$status" = 124 ]; then
		echo "FAIL $t: ran out of its ${XLMIG_IT_TIMEOUT:-600}s time limit"
		f=$((f + 1))
	elif [ "$status" != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL $t: exited with status $status"
		f=1
	fi
	pass=$((pass + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
done
echo "# $(( $(date +%s) - start )) s"
echo "$pass passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
