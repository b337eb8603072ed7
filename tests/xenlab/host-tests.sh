#!/bin/bash
# host-tests.sh - the lab's own verdict code, checked on the host with
# canned input (no QEMU, a second or so): the guest-seen downtime counts
# only the migration's own window, the bounds, stock xl's failures kept
# apart, verdicts read from serial logs, baselines ordered first.
#
# Prints "ok host-tests: NAME" / "FAIL host-tests: NAME: why" and ends with
# "N passed, N failed, 0 skipped".  Run by run.sh before any boot.
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/xenlab-host-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

expect() { # name want got
	if [ "$2" = "$3" ]; then
		echo "ok host-tests: $1"
		passed=$((passed + 1))
	else
		echo "FAIL host-tests: $1: wanted '$2', got '$3'"
		failed=$((failed + 1))
	fi
}

# ---- dom0's side (dom0/lib.sh, as the scenarios use it) ----
# In a subshell each: a scenario's fail() exits its shell.
dom0() {
	(
		export LAB_CONSOLE_LOGS=$work/console LAB_HOST=${LAB_HOST:-local} LAB_SCENARIO=canned
		LAB_RUN=$work/run
		. "$here/dom0/lib.sh"
		LAB_RUN=$work/run
		lab_diagnose() { :; }     # no Xen here to ask
		# dom0's awk is busybox's, which reads some strings as numbers
		# where other awks do not: test with the one dom0 runs.
		awk() { busybox awk "$@"; }
		"$@"
	)
}
mkdir -p "$work/console" "$work/run"

# A console log as a receiving host can hold it (CR LF, as xenconsoled
# writes it): an earlier boot of the guest that paused 6951 ms at counter
# 35, then the migrating boot, counting from 1 again, with a pause before
# the window (n=12), one in it (n=21, 1234 ms) and one after it (n=30).
boot_old=1111aaaa
boot_new=2222bbbb
{
	echo "XLG start boot=$boot_old tick=10"
	for n in $(seq 1 40); do
		echo "XLG n=$n boot=$boot_old bt=$((n * 1000)) dirty=0"
		[ $n = 35 ] && echo "XLG gap n=35 boot=$boot_old ms=6951"
	done
	echo "XLG start boot=$boot_new tick=10"
	for n in $(seq 1 32); do
		echo "XLG n=$n boot=$boot_new bt=$((n * 1000)) dirty=0"
		[ $n = 12 ] && echo "XLG gap n=12 boot=$boot_new ms=2500"
		[ $n = 21 ] && echo "XLG gap n=21 boot=$boot_new ms=1234"
		[ $n = 30 ] && echo "XLG gap n=30 boot=$boot_new ms=4000"
	done
} | sed 's/$/\r/' > "$work/console/guest-g1--incoming.log"

expect "downtime counts only this boot and this window" 1234 "$(dom0 guest_max_gap g1 $boot_new 20 24)"
expect "an earlier boot's gap is not counted" 0 "$(dom0 guest_max_gap g1 $boot_new 31 32)"
expect "the earlier boot's gap is there to be found" 6951 "$(dom0 guest_max_gap g1 $boot_old 20 40)"
expect "a gap before the window is not counted" 0 "$(dom0 guest_max_gap g1 $boot_new 13 20)"
expect "a gap after the window is not counted" 1234 "$(dom0 guest_max_gap g1 $boot_new 21 29)"
# A boot id that reads as a number (224 x 10^5773) is still a boot id.
printf 'XLG n=14 boot=224e5773 bt=1 dirty=0\r\nXLG gap n=14 boot=224e5773 ms=937\r\n' \
	> "$work/console/guest-g2.log"
expect "a boot id that looks like a number" 937 "$(dom0 guest_max_gap g2 224e5773 13 15)"
expect "the latest boot is the guest's" $boot_new "$(dom0 guest_boot_id g1)"
expect "the counter is the latest boot's" 32 "$(dom0 guest_last_n g1)"

# Bounds: 3x stock xl's figure of the same kind of move on this boot, or
# xlmig's own target where looser, never over the ceiling; no figure:
# the ceiling.
expect "no baseline: the lab's ceiling" 10000 "$(dom0 downtime_bound xlmig-xlmigd | cut -d' ' -f1)"
echo 1500 > "$work/run/baseline.local"
expect "3x stock xl's downtime" 4500 "$(dom0 downtime_bound xlmig-xlmigd | cut -d' ' -f1)"
expect "xlmig's own target where looser" 6000 \
	"$(XLMIG_OPTS="--auto-converge --downtime 6000" dom0 downtime_bound xlmig-xlmigd | cut -d' ' -f1)"
expect "a busy move has its own baseline" 10000 \
	"$(LAB_GUEST_BUSY="dirty 8 32" dom0 downtime_bound xlmig-xlmigd | cut -d' ' -f1)"
echo 4000 > "$work/run/baseline.pair"
expect "never over the ceiling" 10000 "$(LAB_HOST=a dom0 downtime_bound xlmig-xlmigd | cut -d' ' -f1)"
out=$(dom0 check_downtime xlmig-xlmigd 28000)
expect "a 28 s downtime fails, saying so" \
	"RESULT: FAIL canned (guest-seen downtime 28000 ms is over its bound of 4500 ms (3x stock xl's 1500 ms for a local move on this boot))" \
	"$(grep '^RESULT' <<< "$out")"
out=$(dom0 check_downtime xlmig-xlmigd 4500; echo "rc=$?")
expect "a downtime at its bound passes" "rc=0" "$(tail -n 1 <<< "$out")"
rm -f "$work/run/baseline.local"
dom0 check_downtime xl-xl 1700 > /dev/null
expect "stock xl's downtime becomes the baseline" 1700 "$(cat "$work/run/baseline.local" 2> /dev/null)"
out=$(LAB_STOCK_XL=1 dom0 fail "xl migrate exited 1")
expect "stock xl's failure is its own verdict" "RESULT: XLFAIL canned (stock xl: xl migrate exited 1)" \
	"$(grep '^RESULT' <<< "$out")"

# ---- the host's side (lib.sh) ----
. "$here/lib.sh"
printf 'LAB: dom0 ready\r\nRESULT: PASS s1 (a)\r\nRESULT: FAIL s2 (broke)\r\nRESULT: XLFAIL s3 (stock xl: no)\r\n' > "$work/a.serial"
printf 'RESULT: PASS s1\r\nRESULT: PASS s2\r\nRESULT: XLFAIL s3 (stock xl: no)\r\nRESULT: PASS s4\r\n' > "$work/b.serial"
expect "pass on every host" PASS "$(lab_verdict s1 "$work/a.serial" "$work/b.serial")"
expect "a failure on one host" FAIL "$(lab_verdict s2 "$work/a.serial" "$work/b.serial")"
expect "stock xl's failure" XLFAIL "$(lab_verdict s3 "$work/a.serial" "$work/b.serial")"
expect "no verdict from one host" NONE "$(lab_verdict s4 "$work/a.serial" "$work/b.serial")"
expect "why stock xl failed" "(stock xl: no)" "$(lab_fail_reason s3 "$work/a.serial")"
expect "baselines run first, once" "xl-local xl-pair interop-xl-to-xlmig xlmig-local xlmig-pair" \
	"$(echo $(lab_with_baselines interop-xl-to-xlmig xlmig-local xl-local xlmig-pair))"

echo "$passed passed, $failed failed, 0 skipped"
[ $failed = 0 ]
