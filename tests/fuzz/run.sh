#!/bin/bash
# run.sh - run every built fuzzer for SECONDS each (or RUNS inputs, if
# that comes first) and end with the line "N passed, N failed, N skipped"
# (exit status 1 if any failed).  A tree with no fuzzer built reports one
# skip, not a silent zero.  Each fuzzer's executions and coverage are
# printed on its line.
#
#   tests/fuzz/run.sh SECONDS [RUNS]  B=DIR selects the build (default build),
#                                     FUZZ_ONLY="codec wire" some fuzzers only
#
# RUNS is a per-fuzzer budget for quick checks (make check): a fast parser
# is done in a second instead of holding the whole SECONDS.
# Builds nothing: each $B/fuzz/fuzz_NAME runs over a temporary copy of
# tests/fuzz/corpus/NAME/ (so the tree is never modified).  A crashing
# input is kept in $B/fuzz-artifacts/ and its log tail is shown.
#
# tests/fuzz/options/NAME, if there is one, gives that fuzzer's own
# libFuzzer flags, one a line ('#' starts a comment): -max_len=N where a
# larger input adds only time, "dict A B ..." to use the dictionaries
# tests/fuzz/dict/A.dict, B.dict, ... (joined: libFuzzer takes one), and
# "check-seconds N" to hold it to N seconds at most in a quick check
# (when RUNS is given): an end-to-end harness, which reaches a few
# hundred inputs a second, only replays its seeds and a little more
# there, and gets its depth from long runs.
set -u
cd "$(dirname "$0")/../.."
secs=${1:?usage: tests/fuzz/run.sh SECONDS [RUNS]}
runs=${2:-}
budget=()
[ -n "$runs" ] && budget=(-runs="$runs")
B=${B:-build}
pass=0
fail=0
shopt -s nullglob

for fuzzer in "$B"/fuzz/fuzz_*; do
	[ -f "$fuzzer" ] && [ -x "$fuzzer" ] || continue
	name=$(basename "$fuzzer")
	if [ -n "${FUZZ_ONLY:-}" ] && ! [[ " $FUZZ_ONLY " == *" ${name#fuzz_} "* ]]; then
		continue
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/xlmig-$name.XXXXXX")
	mkdir -p "$work/corpus" "$work/artifacts"
	if [ -d "tests/fuzz/corpus/${name#fuzz_}" ]; then
		cp -R "tests/fuzz/corpus/${name#fuzz_}/." "$work/corpus/"
	fi
	flags=()
	limit=$secs
	if [ -f "tests/fuzz/options/${name#fuzz_}" ]; then
		while read -r opt rest; do
			case "$opt" in
			'' | '#'*) ;;
			dict)
				for d in $rest; do
					cat "tests/fuzz/dict/$d.dict" >>"$work/dict" || exit 2
				done
				flags+=(-dict="$work/dict") ;;
			check-seconds)
				if [ -n "$runs" ] && [ "$rest" -lt "$limit" ]; then
					limit=$rest
				fi ;;
			*) flags+=("$opt") ;;
			esac
		done <"tests/fuzz/options/${name#fuzz_}"
	fi
	if "$fuzzer" -max_total_time="$limit" "${budget[@]}" "${flags[@]}" -timeout=20 -rss_limit_mb=2048 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
		# The last status line: executions, coverage, features, speed.
		stat=$(grep -E '^#[0-9]+' "$work/log" | tail -n 1 |
			sed -E 's/^#([0-9]+)[[:space:]]+[A-Z]+[[:space:]]+cov: ([0-9]+) ft: ([0-9]+).* exec\/s: ([0-9]+).*/\1 runs, cov \2, ft \3, \4 exec\/s/')
		echo "ok $name ($stat)"
		pass=$((pass + 1))
	else
		echo "FAIL $name"
		tail -n 30 "$work/log"
		mkdir -p "$B/fuzz-artifacts"
		cp "$work"/artifacts/* "$B/fuzz-artifacts/" 2>/dev/null &&
			echo "  crashing input kept in $B/fuzz-artifacts/"
		fail=$((fail + 1))
	fi
	rm -rf "$work"
done

skipped=0
if [ $((pass + fail)) = 0 ]; then
	echo "skip fuzz: no fuzzer is built in $B/fuzz (make fuzz-build; it needs clang)"
	skipped=1
fi
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
