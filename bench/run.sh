#!/bin/sh
# run.sh - run every built benchmark ($B/bench/*, B defaults to build) and
# print the JSON line each one writes.  Arguments go to every bench.
# Exit status 1 if a bench failed or none was built.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
status=0
found=0
for b in "$B"/bench/*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	found=1
	if ! "$b" "$@"; then
		echo "bench/run.sh: $b failed" >&2
		status=1
	fi
done
if [ "$found" = 0 ]; then
	echo "bench/run.sh: no benchmark in $B/bench; build with make B=$B build" >&2
	exit 1
fi
exit "$status"
