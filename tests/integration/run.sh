#!/bin/bash
# run.sh - run every integration test (t_*.sh, each builds its own pair of
# hosts) and end with "N passed, N failed".  Needs root for the network
# namespaces; without them the tests fall back to loopback ports.
#
#   tests/integration/run.sh [t_NAME.sh...]      B=BUILD_DIR selects binaries
set -u
cd "$(dirname "$0")"
pass=0
failed=0
tests=${*:-$(ls t_*.sh)}
start=$(date +%s)
for t in $tests; do
	echo "# $t"
	out=$(bash "$t" 2>&1)
	status=$?
	echo "$out"
	p=$(grep -c '^ok ' <<<"$out")
	f=$(grep -c '^FAIL ' <<<"$out")
	if [ "$status" != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL $t: exited with status $status"
		f=1
	fi
	pass=$((pass + p))
	failed=$((failed + f))
done
echo "# $(( $(date +%s) - start )) s"
echo "$pass passed, $failed failed"
[ "$failed" = 0 ]
