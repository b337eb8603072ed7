#!/bin/bash
# t_cancel.sh - cancel a migration at setup, during pre-copy and with the
# destination ready: the guest goes on running on the source and nothing
# is left on the destination.
. "$(dirname "$0")/lib.sh"
# The daemons with fault-injection points (make faults-build).
use_fault_build || exit 1

cancel_at() { # PHASE STALL MIGRATE-OPTIONS...
	local phase=$1 stall=$2; shift 2
	STALL_A=(); [ -n "$stall" ] && STALL_A=("XLMIG_FAULT=$stall")
	hosts_up
	xa create vm --memory 256M --rate 30M >/dev/null
	local job c0
	c0=$(counter a vm)
	job=$(xa migrate vm "$(addr_b)" --detach "$@") || { fail "cancel at $phase" "migrate refused"; return; }
	if ! wait_step a "$job" "$phase"; then
		fail "cancel at $phase" "job never reached $phase"
		return
	fi
	check "cancel at $phase: accepted" xa cancel "$job"
	wait_final a "$job"
	local step
	step=$(step_of a "$job")
	[ "$step" = cancelled ] && ok "cancel at $phase: job cancelled" || fail "cancel at $phase" "job ended $step"
	check "cancel at $phase: guest runs on the source" runs_on a vm
	[ "$(counter a vm)" -gt "$c0" ] && ok "cancel at $phase: counter kept advancing" ||
		fail "cancel at $phase" "counter went back"
	local i
	for i in $(seq 200); do no_guests b && break; sleep 0.1; done
	check "cancel at $phase: nothing left on the destination" no_guests b
	hosts_down
}

cancel_at setup handshake:stall:3000
cancel_at precopy "" --bandwidth 20M
cancel_at ready ready:stall:3000
