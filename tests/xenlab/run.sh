#!/bin/bash
# run.sh - xlmig's Xen lab: real Xen 4.17 hosts booted under QEMU (TCG),
# with scenarios run inside dom0 that prove xlmig against real Xen.
#
#   tests/xenlab/run.sh core        the scenarios marked core (make check)
#   tests/xenlab/run.sh all         every scenario
#   tests/xenlab/run.sh NAME...     these scenarios
#   tests/xenlab/run.sh list        the catalogue
#
# Scenarios needing one host share one boot; those needing two share one
# boot of a pair joined by a QEMU socket link.  A boot that breaks in the
# emulator (QEMU dies, Xen or a kernel panics, a dom0 process segfaults,
# dom0 never comes up, no power-off in time) and left a scenario without a
# verdict is run once more, and the scenarios say so.
#
# A scenario whose downtime is bounded by stock xl's (xenlab-baseline)
# gets that xl scenario run before it on the same boot, selected or not.
# The host-side checks of the lab's own verdict code (host-tests.sh) run
# first, without QEMU.
#
# Prints "ok NAME", "FAIL NAME (why)" or, when stock xl itself failed,
# "XLFAIL NAME (why)" per scenario (an XLFAIL counts as failed: the lab
# could not measure what it was to compare), the figures, and ends with
# "N passed, N failed, 0 skipped".  Logs: $XENLAB_DIR (build/xenlab).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

logs=$XENLAB_DIR/logs
results=$XENLAB_DIR/results
passed=0
failed=0
xlfailed=0

usage() {
	echo "usage: $0 core|all|list|SCENARIO..." >&2
	exit 2
}

select_scenarios() { # mode...
	local s
	case $1 in
	core) for s in $(lab_all_scenarios); do
		if [ "$(lab_meta "$s" core)" = yes ]; then echo "$s"; fi
	      done ;;
	all) lab_all_scenarios ;;
	*) for s in "$@"; do
		[ -f "$XENLAB_SCENARIOS/$s.sh" ] || { echo "xenlab: no scenario '$s'" >&2; return 1; }
		echo "$s"
	   done ;;
	esac
}

# The lab needs QEMU, Debian's Xen and kernel: install them when missing.
lab_prerequisites() {
	sh "$XENLAB_SRC/tools/install-deps.sh" lab > "$XENLAB_DIR/install.log" 2>&1
	command -v qemu-system-x86_64 > /dev/null || { echo "qemu-system-x86_64 is not installed"; return 1; }
	[ -e /boot/xen-4.17-amd64.gz ] || { echo "/boot/xen-4.17-amd64.gz is missing (xen-hypervisor-4.17-amd64)"; return 1; }
	[ -x /usr/lib/xen-4.17/bin/xl ] || { echo "xl is missing (xen-utils-4.17)"; return 1; }
	[ -n "$(lab_kernel_version)" ] || { echo "no kernel in /lib/modules (linux-image-amd64)"; return 1; }
	command -v gcc > /dev/null || { echo "gcc is missing (the guest workload is built with it)"; return 1; }
	return 0
}

boot_timeout() { # scenario...
	local t=90 s m
	for s in "$@"; do
		m=$(lab_meta "$s" timeout)
		t=$((t + ${m:-120}))
	done
	echo $t
}

# Boots run in the background and are waited for, so that a signal to
# this script is acted on at once (bash runs traps only between foreground
# commands); each boot.sh stops its QEMU when it exits.
boots=""
boot() { # boot.sh arguments
	"$here/boot.sh" "$@" &
	boots="$boots $!"
}

wait_boots() {
	local pid rc=0
	for pid in $boots; do
		wait "$pid" || rc=$?
	done
	boots=""
	return $rc
}

stop_boots() {
	[ -n "$boots" ] && kill $boots 2> /dev/null
	wait
	boots=""
}

# Host b's QEMU listens for the link before host a's may connect to it.
wait_listening() { # port seconds
	local i
	for i in $(seq $(($2 * 10))); do
		ss -Hltn "sport = :$1" 2> /dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# QEMU separates -initrd modules with commas, so the list uses "+".
join() { local IFS=+; echo "$*"; }

# run_local NAME SCENARIO...: one host; serial logs/NAME.serial
run_local() {
	local name=$1
	shift
	boot "$name" "$(boot_timeout "$@")" "xenlab.host=local xenlab.run=$(join "$@")" -net none
	wait_boots
}

# run_pair NAME SCENARIO...: hosts a and b, e1000 NICs on a socket link.
run_pair() {
	local name=$1 port=$((20000 + RANDOM % 20000)) t
	shift
	t=$(boot_timeout "$@")
	boot "$name-b" "$t" "xenlab.host=b xenlab.run=$(join "$@")" \
		-netdev socket,id=n0,listen=127.0.0.1:$port \
		-device e1000,netdev=n0,mac=52:54:00:12:34:02
	wait_listening $port 60 || lab_say "host b's QEMU never listened on port $port; host a connects anyway"
	boot "$name-a" "$t" "xenlab.host=a xenlab.run=$(join "$@")" \
		-netdev socket,id=n0,connect=127.0.0.1:$port \
		-device e1000,netdev=n0,mac=52:54:00:12:34:01
	wait_boots
}

serials_of() { # kind name
	if [ "$1" = local ]; then echo "$logs/$2.serial"; else echo "$logs/$2-a.serial $logs/$2-b.serial"; fi
}

boot_broke() { # kind name
	local f
	for f in $(serials_of "$1" "$2"); do
		lab_emulator_failure "$f" "${f%.serial}.qemu" && return 0
	done
	return 1
}

# run_group KIND SCENARIO...: boot, and once more if the emulator broke.
run_group() {
	local kind=$1 name=$1 note="" s f
	shift
	[ $# -gt 0 ] || return 0
	lab_say "booting $kind host(s) for: $*"
	"run_$kind" "$name" "$@"
	if boot_broke "$kind" "$name" && some_unfinished "$kind" "$name" "$@"; then
		for f in $(serials_of "$kind" "$name"); do
			cp "$f" "${f%.serial}.try1.serial"
			cp "${f%.serial}.qemu" "${f%.serial}.try1.qemu"
		done
		lab_say "the emulated $kind boot broke (see $logs/$name*.try1.serial); booting once more"
		note=" (retried after emulator failure)"
		"run_$kind" "$name" "$@"
	fi
	for s in "$@"; do
		record "$s" "$note" $(serials_of "$kind" "$name")
	done
}

# A scenario the broken boot never gave a verdict for on every host.
some_unfinished() { # kind name scenario...
	local kind=$1 name=$2 s
	shift 2
	for s in "$@"; do
		[ "$(lab_verdict "$s" $(serials_of "$kind" "$name"))" = NONE ] && return 0
	done
	return 1
}

record() { # scenario note serial...
	local s=$1 note=$2 v why
	shift 2
	v=$(lab_verdict "$s" "$@")
	grep -ah "^FIGURE $s " "$@" | tr -d '\r' >> "$results/figures.txt"
	case $v in
	PASS) why=$(grep -ah "^RESULT: PASS $s " "$@" | head -n 1 | tr -d '\r' | sed "s/^RESULT: PASS $s *//")
	      echo "ok $s${why:+ $why}$note"; passed=$((passed + 1)) ;;
	FAIL) why=$(lab_fail_reason "$s" "$@")
	      echo "FAIL $s $why$note"; failed=$((failed + 1)) ;;
	XLFAIL) why=$(lab_fail_reason "$s" "$@")
	      echo "XLFAIL $s $why$note"; failed=$((failed + 1)); xlfailed=$((xlfailed + 1)) ;;
	*) if boot_broke_any "$@"; then why="(never reached: the emulated host broke)"
	   else why="(no verdict from every host)"; fi
	   echo "FAIL $s $why$note"; failed=$((failed + 1)) ;;
	esac
}

boot_broke_any() { # serial...
	local f
	for f in "$@"; do lab_emulator_failure "$f" "${f%.serial}.qemu" && return 0; done
	return 1
}

# Side by side: xlmig against stock xl on the same guest and host.
compare() { # xl-scenario xlmig-scenario
	local f=$results/figures.txt
	grep -q "^FIGURE $1 " "$f" && grep -q "^FIGURE $2 " "$f" || return 0
	awk -v a="$1" -v b="$2" '
		function val(line, key,   i, kv) {
			for (i = 3; i <= split(line, w, " "); i++) { split(w[i], kv, "="); if (kv[1] == key) return kv[2] }
		}
		function r(x, y) { return y + 0 == 0 ? "n/a" : sprintf("%.2f", x / y) }
		$2 == a { xl = $0 } $2 == b { xm = $0 }
		END {
			printf "compare %s vs %s: time %s/%s ms (x%s), guest-seen downtime %s/%s ms (x%s), wire %s/%s bytes (x%s)\n",
				b, a, val(xm, "time_ms"), val(xl, "time_ms"), r(val(xm, "time_ms"), val(xl, "time_ms")),
				val(xm, "downtime_ms"), val(xl, "downtime_ms"), r(val(xm, "downtime_ms"), val(xl, "downtime_ms")),
				val(xm, "wire_bytes"), val(xl, "wire_bytes"), r(val(xm, "wire_bytes"), val(xl, "wire_bytes"))
		}' "$f" | tee -a "$results/compare.txt"
}

# The lab's own verdict code, checked on this host with canned input.
host_tests() {
	local out
	out=$(bash "$here/host-tests.sh" 2>&1)
	echo "$out" | grep -v '^[0-9]* passed, '
	passed=$((passed + $(grep -c '^ok ' <<< "$out")))
	failed=$((failed + $(grep -c '^FAIL ' <<< "$out")))
	grep -q '^[0-9]* passed, 0 failed' <<< "$out" ||
		{ grep -q '^FAIL ' <<< "$out" || { echo "FAIL host-tests (ended without a result)"; failed=$((failed + 1)); }; }
}

main() {
	local mode=${1:-core} scenarios local_list="" pair_list="" s why t0
	[ "$mode" = list ] && {
		for s in $(lab_all_scenarios); do
			printf '%-22s %-5s core=%-3s %s\n' "$s" "$(lab_meta "$s" boot)" "$(lab_meta "$s" core)" "$(lab_meta "$s" about)"
		done
		return 0
	}
	scenarios=$(select_scenarios "$@") || usage
	scenarios=$(lab_with_baselines $scenarios)
	mkdir -p "$logs" "$results"
	# Two runs in one directory would write into each other's serial logs.
	exec 9> "$XENLAB_DIR/lock"
	flock -n 9 || { lab_say "another lab run uses $XENLAB_DIR; set XENLAB_DIR to run beside it"; return 2; }
	trap 'lab_say "stopped: stopping the emulated hosts"; stop_boots; exit 143' TERM INT HUP
	rm -f "$results/figures.txt" "$results/compare.txt" "$logs"/*.serial "$logs"/*.qemu
	t0=$(date +%s)
	host_tests
	if ! why=$(lab_prerequisites) ||
	   ! why=$(timeout 300 "$here/build-images.sh" > "$logs/build.log" 2>&1 || { tail -n 5 "$logs/build.log"; exit 1; }); then
		lab_say "this machine cannot run the Xen lab: $why"
		for s in $scenarios; do echo "FAIL $s (lab unavailable: $why)"; done
		echo "$passed passed, $((failed + $(echo $scenarios | wc -w))) failed, 0 skipped"
		return 1
	fi
	lab_say "$(tail -n 1 "$logs/build.log")"
	for s in $scenarios; do
		case $(lab_meta "$s" boot) in
		pair) pair_list="$pair_list $s" ;;
		*) local_list="$local_list $s" ;;
		esac
	done
	run_group local $local_list
	run_group pair $pair_list
	[ -s "$results/figures.txt" ] && { echo "figures:"; sed 's/^FIGURE /  /' "$results/figures.txt"; }
	compare xl-local xlmig-local
	compare xl-local-busy xlmig-local-busy
	compare xl-pair xlmig-pair
	compare xl-pair-busy xlmig-pair-busy
	compare policy-xen-pair policy-xlmig-pair
	# The alternating comparisons' medians (compare-local, compare-pair).
	[ -s "$results/figures.txt" ] && grep -h '^FIGURE compare-[a-z]* medians ' "$results/figures.txt" |
		sed 's/^FIGURE /compare /' | tee -a "$results/compare.txt"
	lab_say "$(($(date +%s) - t0))s; logs in $logs"
	[ $xlfailed = 0 ] || lab_say "$xlfailed of the failures are stock xl's own (XLFAIL), not xlmig's"
	echo "$passed passed, $failed failed, 0 skipped"
	[ $failed = 0 ]
}

main "$@"
