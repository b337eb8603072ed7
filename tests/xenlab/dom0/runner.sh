#!/bin/sh
# runner.sh - run the lab scenarios one after the other inside dom0.
#
#   runner.sh HOST NAME+NAME+...      HOST: local, or a / b of a pair
#
# Each scenario runs in its own shell under its time limit, and must print
# its verdict ("RESULT: PASS|FAIL NAME ..."); one that prints none, or runs
# out of time, is failed here.  Between scenarios whatever a scenario
# started in the background is stopped and every guest but the shared one
# (g1) destroyed, so the next one starts clean; g1 may stay, and the next
# scenario checks it before using it.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
export LAB_HOST=$1
. /lab/lib.sh

lab_host_setup
for s in $(echo "$2" | tr '+' ' '); do
	out=$LAB_RUN/$s.out
	limit=$(sed -n 's/^# xenlab-timeout: *//p' "/lab/scenarios/$s.sh")
	echo "LAB: scenario $s begin uptime=$(cut -d' ' -f1 /proc/uptime)"
	LAB_SCENARIO=$s timeout "${limit:-120}" sh "/lab/scenarios/$s.sh" 2>&1 | tee "$out"
	if ! grep -q "^RESULT: [A-Z]* $s\( \|$\)" "$out"; then
		echo "RESULT: FAIL $s (no verdict within ${limit:-120}s: timed out or died)"
		LAB_SCENARIO=$s lab_diagnose
	fi
	lab_stop_background
	# A socat a killed scenario left listening would hold its port (this
	# dom0 runs nothing but the lab, so every socat is a scenario's).
	killall -q socat
	lab_destroy_all_but g1
	guest_send g1 idle 2> /dev/null
	echo "LAB: scenario $s end uptime=$(cut -d' ' -f1 /proc/uptime)"
done
