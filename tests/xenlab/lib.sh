# lib.sh - what the lab's host-side scripts share: where things are, the
# scenario catalogue, and the reading of verdicts from serial logs.
# Sourced by run.sh, build-images.sh and boot.sh (bash).

XENLAB_SRC=${XENLAB_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
XENLAB_DIR=${XENLAB_DIR:-$XENLAB_SRC/build/xenlab}
XLMIG_BUILD=${XLMIG_BUILD:-$XENLAB_SRC/build}
XENLAB_SCENARIOS=$XENLAB_SRC/tests/xenlab/scenarios
export XENLAB_SRC XENLAB_DIR XLMIG_BUILD

lab_say() { echo "xenlab: $*"; }

lab_kernel_version() {
	ls /lib/modules | sort -V | tail -n 1
}

lab_built_programs() {
	local p
	for p in xlmig xlmigd; do
		[ -x "$XLMIG_BUILD/$p" ] && echo "$p"
	done
	return 0
}

# ---- the scenario catalogue ----
# Each scenarios/NAME.sh starts with header lines:
#   # xenlab-boot: local|pair      one Xen host, or two joined by a link
#   # xenlab-core: yes|no          part of `run.sh core`
#   # xenlab-timeout: SECONDS      inside dom0, for the whole scenario
#   # xenlab-baseline: SCENARIO    the stock xl scenario whose downtime
#                                  bounds this one's: run first, same boot
#   # xenlab-about: one line       printed by `run.sh list`

lab_meta() { # scenario key
	sed -n "s/^# xenlab-$2: *//p" "$XENLAB_SCENARIOS/$1.sh" | head -n 1
}

lab_all_scenarios() {
	local f
	for f in "$XENLAB_SCENARIOS"/*.sh; do
		basename "$f" .sh
	done
}

# The scenarios with the stock xl baselines they need, baselines first
# (the rest keep their order).
lab_with_baselines() { # scenario...
	local s b first=""
	for s in "$@"; do
		b=$(lab_meta "$s" baseline)
		[ -n "$b" ] || continue
		case " $first " in *" $b "*) ;; *) first="$first $b" ;; esac
	done
	for s in $first; do echo "$s"; done
	for s in "$@"; do
		case " $first " in *" $s "*) ;; *) echo "$s" ;; esac
	done
}

# ---- verdicts from the serial logs ----
# dom0 prints "RESULT: PASS name", "RESULT: FAIL name (why)" or, when
# stock xl itself failed, "RESULT: XLFAIL name (why)"; a scenario passes
# when every host of its boot passed it and none failed it.

cr=$'\r'   # the serial console ends lines with CR LF

lab_verdict() { # scenario serial...
	local s=$1 f
	shift
	for f in "$@"; do
		grep -aq "^RESULT: FAIL $s\([ $cr]\|$\)" "$f" && { echo FAIL; return; }
	done
	for f in "$@"; do
		grep -aq "^RESULT: XLFAIL $s\([ $cr]\|$\)" "$f" && { echo XLFAIL; return; }
	done
	for f in "$@"; do
		grep -aq "^RESULT: PASS $s\([ $cr]\|$\)" "$f" || { echo NONE; return; }
	done
	echo PASS
}

lab_fail_reason() { # scenario serial...
	local s=$1
	shift
	grep -ah "^RESULT: \(XL\)\{0,1\}FAIL $s\([ $cr]\|$\)" "$@" | head -n 1 | tr -d '\r' |
		sed "s/^RESULT: [A-Z]* $s *//"
}

# Signs that the emulator or the emulated machine broke, rather than a
# scenario: worth one more boot.
lab_emulator_failure() { # serial qemu-log
	grep -aqE 'Panic on CPU|Kernel panic|segfault at|Unhandled: vec|Insn len emulation failed|invalid opcode' "$1" && return 0
	grep -aqE 'qemu-system-x86_64: |Aborted|core dumped' "$2" 2>/dev/null && return 0
	grep -aq '^LAB: dom0 ready' "$1" || return 0
	grep -aq '^LAB: boot finished' "$1" || return 0
	return 1
}
