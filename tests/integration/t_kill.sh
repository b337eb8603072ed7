#!/bin/bash
# t_kill.sh - kill an xlmigd mid-migration, as a dom0 toolstack can die,
# while its sim host (xlmig-simhost, the guests' home) runs on:
#  - the receiving xlmigd at setup, during pre-copy and with the guest
#    restored there: the source rolls back (guest running, counter
#    advancing), and once restarted the destination's recovery removes
#    the incoming copy that really survived in its sim host and closes
#    its journaled job;
#  - the sending xlmigd during pre-copy (the guest runs on) and with the
#    guest stopped for the last pass (it resumes when the restarted
#    xlmigd recovers): never zero copies, never two, the counter goes on;
#  - the receiving xlmigd after GO: the restarted one finishes the job
#    with the copy its sim host kept;
#  - xlmigd stopped with SIGTERM in a localhost migration held at READY:
#    the guest runs on as one copy and the source job says it was
#    cancelled.
. "$(dirname "$0")/lib.sh"
# The daemons with fault-injection points (make faults-build).
use_fault_build || exit 1

# How many of the two hosts run a guest named $1 (renamed copies count).
running_copies() {
	local n=0 h
	for h in a b; do
		n=$((n + $("$XLMIG" -S "$(sock "$h")" list --json |
			jq --arg g "$1" '[.domains[] | select((.name | startswith($g)) and .state == "running")] | length')))
	done
	echo "$n"
}

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
	simhost_running b && ok "kill at $phase: the destination's sim host runs on" ||
		fail "kill at $phase" "killing xlmigd b took its sim host with it"
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
	# The incoming copy outlived xlmigd b in its sim host: the restarted
	# daemon must finish the job with it, the source having committed.
	[ "$(xb jobs --json | jq -r '.jobs[-1].step')" = done ] &&
		ok "kill after go: the restarted destination finishes the job with the copy that survived" ||
		fail "kill after go" "destination job is $(xb jobs --json | jq -r '.jobs[-1].step')"
	check "kill after go: the guest runs on the destination" runs_on b vm
	[ "$(running_copies vm)" = 1 ] && ok "kill after go: exactly one copy runs" ||
		fail "kill after go" "$(running_copies vm) running copies"
	hosts_down
}
kill_after_go

# The sending xlmigd dies; its sim host keeps the guest.  During pre-copy
# the guest runs on; stopped for the last pass (the source stalls at
# ready) it is suspended until the restarted xlmigd rolls back.  The
# destination drops its incoming copy when the stream breaks.
kill_source_at() { # PHASE STALL MIGRATE-OPTIONS...
	local phase=$1 stall=$2; shift 2
	STALL_A=(); [ -n "$stall" ] && STALL_A=("XLMIG_FAULT=$stall")
	hosts_up
	xa create vm --memory 256M --rate 30M >/dev/null
	local job cb c0 c1 i
	job=$(xa migrate vm "$(addr_b)" --detach "$@") || { fail "kill source at $phase" "migrate refused"; return; }
	wait_step a "$job" "$phase" || { fail "kill source at $phase" "job never reached $phase"; return; }
	cb=$(counter a vm)
	host_kill a
	simhost_running a && ok "kill source at $phase: the source's sim host runs on" ||
		fail "kill source at $phase" "killing xlmigd a took its sim host with it"
	for i in $(seq 100); do no_guests b && break; sleep 0.1; done
	check "kill source at $phase: the destination dropped its incoming copy" no_guests b
	STALL_A=()
	host_start a
	[ "$(step_of a "$job")" = failed ] && ok "kill source at $phase: the restarted source rolled the job back" ||
		fail "kill source at $phase" "source job is $(step_of a "$job") after restart"
	check "kill source at $phase: the guest runs on the source" runs_on a vm
	c0=$(counter a vm)
	[ -n "$cb" ] && [ -n "$c0" ] && [ "$cb" -gt 0 ] && [ "$c0" -gt "$cb" ] &&
		ok "kill source at $phase: counter continues ($cb before the kill, $c0 now)" ||
		fail "kill source at $phase" "counter was '$cb' before the kill, is '$c0'"
	[ "$(running_copies vm)" = 1 ] && ok "kill source at $phase: exactly one copy runs" ||
		fail "kill source at $phase" "$(running_copies vm) running copies"
	# The guest's memory is still what it was: a later migration of it
	# arrives whole (the digests at both ends agree).
	c1=$(xa migrate vm "$(addr_b)" --verify --json 2>/dev/null | jq -r '.step // empty')
	[ "$c1" = done ] && ok "kill source at $phase: the guest migrates afterwards, memory verified" ||
		fail "kill source at $phase" "the later migration ended '$c1'"
	hosts_down
}
kill_source_at precopy "" --bandwidth 20M
kill_source_at ready ready:stall:3000

# The source's sim host dies mid-migration, as a hypervisor crash would:
# its guest dies with it; xlmigd notices, fails the job cleanly and says
# why, nothing is left on the destination, and a new sim host is found
# by the next request.
kill_source_simhost() {
	hosts_up
	xa create vm --memory 256M --rate 30M >/dev/null
	local job msg
	job=$(xa migrate vm "$(addr_b)" --detach --bandwidth 20M) || { fail "kill sim host" "migrate refused"; return; }
	wait_step a "$job" precopy || { fail "kill sim host" "job never reached precopy"; return; }
	simhost_kill a
	wait_final a "$job"
	msg=$(xa status "$job" --json | jq -r .message)
	[ "$(step_of a "$job")" = failed ] && grep -q "sim host" <<<"$msg" &&
		ok "kill sim host: the job failed, saying the sim host went away" ||
		fail "kill sim host" "job $(step_of a "$job"): $msg"
	grep -q "went away" "$WORK/a/log" && ok "kill sim host: xlmigd reported it in its log" ||
		fail "kill sim host" "nothing about the lost sim host in xlmigd's log"
	local i
	for i in $(seq 100); do no_guests b && break; sleep 0.1; done
	check "kill sim host: nothing left on the destination" no_guests b
	simhost_start a
	check "kill sim host: xlmigd finds the restarted sim host (no guests: they died)" no_guests a
	hosts_down
}
kill_source_simhost

# xlmigd stopped cleanly (SIGTERM, as `systemctl stop`) in the middle of
# a localhost migration held at READY: both ends are cancelled, and after
# the restart the guest runs on as the one copy and the source job says
# it was cancelled (not another error left over from the shutdown).
stop_localhost_at_ready() {
	STALL_A=("XLMIG_FAULT=ready:stall:20000")
	hosts_up
	STALL_A=()
	xa create vm --memory 64M --rate 1M >/dev/null
	local job i
	job=$(xa migrate vm "127.0.0.1:$PORT_A" --detach) || { fail "stop at ready" "migrate refused"; return; }
	for i in $(seq 200); do grep -q "fault point ready reached" "$WORK/a/log" && break; sleep 0.1; done
	host_stop a
	host_start a
	check "stop at ready (localhost): the guest runs on" runs_on a vm
	[ "$(running_copies vm)" = 1 ] && ok "stop at ready (localhost): exactly one copy runs" ||
		fail "stop at ready (localhost)" "$(running_copies vm) running copies"
	[ "$(step_of a "$job")" = cancelled ] && ! grep -q "job $job failed: no domain" "$WORK/a/log" &&
		ok "stop at ready (localhost): the source job ended cancelled, saying so" ||
		fail "stop at ready (localhost)" "job $(step_of a "$job"): $(grep "job $job failed" "$WORK/a/log" | tail -1)"
	hosts_down
}
stop_localhost_at_ready
