#!/bin/bash
# t_evacuate.sh - xlmig evacuate between the sim hosts: the plan comes
# first (--dry-run moves nothing), every movable guest ends on b running,
# a guest that b refuses (its name is taken there) is reported and stays
# on a running, and a destination that does not answer is passed over.
# The plan orders by the dirty rate each check measured: a guest that
# dirties fast goes last and, with --parallel auto, alone.
. "$(dirname "$0")/lib.sh"
hosts_up

xa create small --memory 64M >/dev/null && xa create mid --memory 128M --rate 1M >/dev/null &&
	xa create hot --memory 64M --rate 64M >/dev/null &&
	xa create dup --memory 64M >/dev/null && xb create dup --memory 64M >/dev/null ||
	{ fail setup "xlmig create failed"; exit 0; }
nowhere=$IP_B:1; [ $USE_NETNS = 1 ] || nowhere=127.0.0.1:1

out=$(xa evacuate --to "$(addr_b)" --dry-run 2>&1)
st=$?
hot_rate=$(grep -E "3\. hot " <<<"$out" | grep -oE "dirties +[0-9.]+ MiB/s" | grep -oE "[0-9.]+")
if [ $st = 1 ] && grep -q "plan: 4 guest(s), 1 at a time" <<<"$out" && grep -qE "1\. small .* -> " <<<"$out" &&
	grep -qE "2\. mid .* dirties .* -> " <<<"$out" && grep -qE "3\. hot .* -> [^ ]*$" <<<"$out" &&
	awk -v r="$hot_rate" 'BEGIN { exit !(r >= 16 && r <= 80) }' &&
	grep -qE "dup .* stays here: " <<<"$out" && ! grep -q migrating <<<"$out"; then
	ok "evacuate --dry-run: slow dirtiers first, hot (measured $hot_rate MiB/s of 64) last, one at a time, dup refused, exit 1"
else
	fail "dry-run" "status $st: $out"
fi
out=$(xa evacuate --to "$(addr_b)" --dry-run --parallel 2 2>&1)
grep -q "plan: 4 guest(s), 2 at a time" <<<"$out" && grep -qE "3\. hot .* -> .* \(alone\)$" <<<"$out" &&
	ok "evacuate --parallel 2: the heavy dirtier is planned alone" || fail "alone" "$out"
runs_on a small && runs_on a mid && has_guest b dup && ! has_guest b small &&
	ok "evacuate --dry-run moved nothing" || fail "dry-run" "guests moved"

c1=$(counter a mid)
out=$(xa evacuate --to "$nowhere" --to "$(addr_b)" 2>&1)
st=$?
echo "$out" | sed 's/^/# /'
line() { grep -n "$1" <<<"$out" | head -1 | cut -d: -f1; }
if [ $st = 1 ] && grep -q "small -> .*: done in" <<<"$out" && grep -q "mid -> .*: done in" <<<"$out" &&
	grep -q "hot -> .*: done in" <<<"$out" &&
	[ "$(line 'hot -> .*: migrating')" -gt "$(line 'small -> .*: done in')" ] &&
	[ "$(line 'hot -> .*: migrating')" -gt "$(line 'mid -> .*: done in')" ] &&
	grep -q "evacuation: 3 moved, 0 failed (still here), 1 not movable (still here)" <<<"$out"; then
	ok "evacuate: 3 moved past an unreachable host (one at a time, hot after the others), 1 not movable, summary, exit 1"
else
	fail "evacuate" "status $st"
fi
runs_on b small && runs_on b mid && runs_on b hot && ! has_guest a small && ! has_guest a mid && ! has_guest a hot &&
	ok "the moved guests run on b and are gone from a" || fail "moved" "small/mid not on b alone"
[ "$(counter b mid)" -ge "$c1" ] && ok "mid's counter went on from $c1 on b" || fail "continuity" "counter went back"
runs_on a dup && ok "the refused guest still runs on a" || fail "refused" "dup not running on a"
out=$(xa evacuate --to "$(addr_b)" --parallel 0 2>&1)
[ $? = 2 ] && grep -q "from 1 to 64 or auto" <<<"$out" && ok "evacuate --parallel 0 is a usage error" ||
	fail "usage" "$out"
