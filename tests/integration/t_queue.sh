#!/bin/bash
# t_queue.sh - with --max-jobs 1 a second migration waits in the queue
# until the first ends, then runs; both guests end on the destination.
. "$(dirname "$0")/lib.sh"
STALL_A=(-- --max-jobs 1)
hosts_up
xa create q1 --memory 128M >/dev/null
xa create q2 --memory 128M >/dev/null
j1=$(xa migrate q1 "$(addr_b)" --detach --bandwidth 30M)
j2=$(xa migrate q2 "$(addr_b)" --detach --bandwidth 30M)
wait_step a "$j1" precopy
s2=$(step_of a "$j2")
[ "$s2" = queued ] && ok "second job queued while the first runs" || fail "queue" "second job is $s2"
wait_final a "$j1"; wait_final a "$j2"
[ "$(step_of a "$j1")" = done ] && [ "$(step_of a "$j2")" = done ] &&
	ok "both queued jobs done" || fail "queue" "jobs ended $(step_of a "$j1") and $(step_of a "$j2")"
check "q1 runs on the destination" runs_on b q1
check "q2 runs on the destination" runs_on b q2
[ "$(xa jobs --json | jq '[.jobs[] | select(.step == "done")] | length')" = 2 ] &&
	ok "job history lists both" || fail "queue" "job history: $(xa jobs)"
