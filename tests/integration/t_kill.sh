#!/bin/bash
# t_kill.sh - kill the receiving xlmigd at setup, during pre-copy and with
# the guest restored there: the source rolls back (guest running, counter
# advancing), and once restarted the destination has no copy and has
# closed its journaled job.
. "$(dirname "$0")/lib.sh"
# The daemons with fault-injection points (make faults-build).
use_fault_build || exit 1

kill_at() { # PHASE STALL MIGRATE-OPTIONS...
	local phase=$1 stall=$2; shift 2
	STALL_B=(); [ -n "$stall" ] && STALL_B=("XLMIG_FAULT=$stall")
	hosts_up
	xa create vm --memory 256M --rate 30M >/dev/null
	local job i bstep=""
	job=$(xa migrate vm "$(addr_b)" --detach "$@") || { fail "kill at $phase" "migrate refused"; return; }
	for i in $(seq 200); do
		bstep=$(xb jobs --json 2>/dev/null | jq -r '.jobs[-1].step // empty')
		[ "$bstep" = "$phase" ] && break
		sleep 0.05
	done
	[ "$bstep" = "$phase" ] || { fail "kill at $phase" "destination never reached $phase ($bstep)"; return; }
	host_kill b
	wait_final a "$job"
	local step
	step=$(step_of a "$job")
	[ "$step" = failed ] && ok "kill at $phase: source job failed and rolled back" ||
		fail "kill at $phase" "source job ended $step"
	check "kill at $phase: guest runs on the source" runs_on a vm
	STALL_B=()
	host_start b
	check "kill at $phase: no guest on the restarted destination" no_guests b
	bstep=$(xb jobs --json | jq -r '.jobs[-1].step')
	[ "$bstep" = failed ] && ok "kill at $phase: destination journal rolled back on restart" ||
		fail "kill at $phase" "destination job is $bstep after restart"
	hosts_down
}

kill_at setup handshake:stall:3000
kill_at precopy "" --bandwidth 20M
kill_at ready ready:stall:3000

# SIGTERM is a clean stop: the receiving daemon cancels its incoming job
# and tells the source, which rolls back at once.
stop_receiver() {
	hosts_up
	xa create vm --memory 256M --rate 30M >/dev/null
	local job
	job=$(xa migrate vm "$(addr_b)" --detach --bandwidth 20M) || { fail "stop receiver" "migrate refused"; return; }
	# Stopped once the destination's own job is receiving, not after a
	# fixed time: the stop must find a job to cancel and tell the source.
	wait_step a "$job" precopy
	local i
	for i in $(seq 400); do
		[ "$(xb jobs --json 2>/dev/null | jq -r '.jobs[-1].step // empty')" = precopy ] && break
		sleep 0.05
	done
	host_stop b
	wait_final a "$job"
	local msg
	msg=$(xa status "$job" --json | jq -r .message)
	[ "$(step_of a "$job")" = failed ] && grep -q "destination cancelled" <<<"$msg" &&
		ok "stop receiver: source told the destination cancelled" ||
		fail "stop receiver" "source job $(step_of a "$job"): $msg"
	check "stop receiver: guest runs on the source" runs_on a vm
	host_start b
	check "stop receiver: no guest on the destination" no_guests b
	[ "$(xb jobs --json | jq -r '.jobs[-1].step')" = cancelled ] &&
		ok "stop receiver: destination journaled its job as cancelled" ||
		fail "stop receiver" "destination job is $(xb jobs --json | jq -r '.jobs[-1].step')"
	hosts_down
}
stop_receiver

# Past GO the source may no longer take the guest back: losing the
# destination then leaves the state unknown, the source copy paused and
# renamed away, never a second running copy.
kill_after_go() {
	STALL_B=("XLMIG_FAULT=go:stall:3000")
	hosts_up
	xa create vm --memory 128M --rate 10M >/dev/null
	local job i bstep=""
	job=$(xa migrate vm "$(addr_b)" --detach) || { fail "kill after go" "migrate refused"; return; }
	for i in $(seq 200); do
		bstep=$(xb jobs --json 2>/dev/null | jq -r '.jobs[-1].step // empty')
		[ "$bstep" = go ] && break
		sleep 0.05
	done
	[ "$bstep" = go ] || { fail "kill after go" "destination never reached go ($bstep)"; return; }
	host_kill b
	wait_final a "$job"
	[ "$(step_of a "$job")" = unknown ] && ok "kill after go: source reports the state as unknown" ||
		fail "kill after go" "source job ended $(step_of a "$job")"
	[ "$(state a vm--migratedaway)" != running ] && ! has_guest a vm &&
		ok "kill after go: source copy kept aside, not running" ||
		fail "kill after go" "source has: $(xa list | tail -n +2)"
	STALL_B=()
	host_start b
	[ "$(xb jobs --json | jq -r '.jobs[-1].step')" = unknown ] &&
		ok "kill after go: restarted destination flags the job for the administrator" ||
		fail "kill after go" "destination job is $(xb jobs --json | jq -r '.jobs[-1].step')"
}
kill_after_go
