#!/bin/bash
# run.sh - the fault matrix: every phase of a migration crossed with
# every fault, one cell each (cell.sh says what a cell does and the
# invariant it checks).  Ends with the matrix as a table, its size and
# pass count, and the line "N passed, N failed, N skipped".
#
#   tests/faults/run.sh full          all 81 cells (make faults)
#   tests/faults/run.sh reduced       every phase and every fault at
#                                     least once (make check)
#   tests/faults/run.sh PHASE:FAULT...   the cells named
#
# Needs root (network namespaces, tmpfs) and make faults-build.  A cell's
# log is in build/test-logs/faults/PHASE-FAULT.log.
set -u
cd "$(dirname "$0")"
PHASES="handshake precopy1 iteration stopcopy digest ready go unpause cleanup"
FAULTS="kill-src kill-dst simhost-src simhost-dst link-drop link-stall corrupt disk-full peer-cancel"
# A diagonal (each phase once, each fault once) and, where the diagonal
# puts a fault the sim guests cannot survive yet, the same phases with
# faults they can.
REDUCED="handshake:corrupt precopy1:link-drop iteration:simhost-src stopcopy:kill-src
digest:disk-full ready:peer-cancel go:kill-dst unpause:simhost-dst cleanup:link-stall
iteration:kill-dst go:corrupt unpause:disk-full"
CELL_TIMEOUT=${CELL_TIMEOUT:-300}
LOGS=../../build/test-logs/faults
mkdir -p "$LOGS"

case ${1:-reduced} in
full) cells=""; for p in $PHASES; do for f in $FAULTS; do cells="$cells $p:$f"; done; done ;;
reduced) cells=$REDUCED ;;
*) cells="$*" ;;
esac

declare -A R=()
pass=0 failed=0 skipped=0
start=$(date +%s)
# First the injection points themselves, as the test build has them.
unit=../../build/faults/unit
if [ -x $unit ]; then
	out=$($unit 2>&1); status=$?
	grep -E '^(ok|FAIL|skip) ' <<<"$out"
	pass=$((pass + $(grep -c '^ok ' <<<"$out")))
	failed=$((failed + $(grep -c '^FAIL ' <<<"$out")))
	[ "$status" = 0 ] || { echo "FAIL build/faults/unit: exited with status $status"; failed=$((failed + 1)); }
else
	echo "FAIL setup: $unit is missing: run make faults-build"; failed=$((failed + 1))
fi
for c in $cells; do
	p=${c%%:*} f=${c#*:}
	log=$LOGS/$p-$f.log
	t0=$(date +%s)
	timeout -k 10 "$CELL_TIMEOUT" bash ./cell.sh "$p" "$f" >"$log" 2>&1
	status=$?
	line=$(grep -E "^cell $p $f (pass|FAIL|skip)" "$log" | tail -n 1)
	res=$(awk '{print $4}' <<<"$line")
	why=${line#cell $p $f $res }
	if [ -z "$res" ] || { [ "$status" != 0 ] && [ "$res" != FAIL ]; }; then
		res=FAIL
		why="the cell exited with status $status without a result ($log)"
		[ "$status" = 124 ] && why="timed out after ${CELL_TIMEOUT}s ($log)"
	fi
	R[$p:$f]=$res
	case $res in
	pass) pass=$((pass + 1)); echo "ok   $p x $f: $why ($(( $(date +%s) - t0 )) s)" ;;
	skip) skipped=$((skipped + 1)); echo "skip $p x $f: $why" ;;
	*) failed=$((failed + 1)); echo "FAIL $p x $f: $why" ;;
	esac
done

# The table: a row per phase, a column per fault.
echo "# fault matrix: phase x fault (pass / FAIL / skip; '.' not run)"
printf '# %-10s' ""
for f in $FAULTS; do printf ' %-11s' "$f"; done
echo
for p in $PHASES; do
	printf '# %-10s' "$p"
	for f in $FAULTS; do printf ' %-11s' "${R[$p:$f]:-.}"; done
	echo
done
n=$(wc -w <<<"$cells")
cp=0 cf=0 cs=0
for c in "${!R[@]}"; do case ${R[$c]} in pass) cp=$((cp + 1)) ;; skip) cs=$((cs + 1)) ;; *) cf=$((cf + 1)) ;; esac; done
echo "# $n of $(( $(wc -w <<<"$PHASES") * $(wc -w <<<"$FAULTS") )) cells run: $cp passed, $cf failed, $cs skipped ($(( $(date +%s) - start )) s)"
echo "$pass passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
