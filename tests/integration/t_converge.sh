#!/bin/bash
# t_converge.sh - a guest that dirties memory faster than a shaped link
# sends it: the policy reports non-convergence and aborts (guest still
# running on the source), or converges by throttling with --auto-converge.
. "$(dirname "$0")/lib.sh"
hosts_up
if ! shape_link 200mbit; then
	skip "non-convergence and auto-converge" "no network namespaces to shape a link in (needs root)"
	exit 0
fi
xa create vm --memory 64M --rate 64M --pattern hot:48M --mix zero=0,file=0,random=100 >/dev/null

out=$(xa migrate vm "$(addr_b)" --json --max-iters 8)
step=$(json .step <<<"$out")
msg=$(json .message <<<"$out")
[ "$step" = failed ] && ok "no auto-converge: aborted ($msg)" || fail "no auto-converge" "job ended $step: $msg"
grep -qi "converge" <<<"$msg" && ok "no auto-converge: reported as non-convergence" ||
	fail "no auto-converge" "message does not say it did not converge: $msg"
check "no auto-converge: guest runs on the source" runs_on a vm
check "no auto-converge: nothing on the destination" no_guests b

out=$(xa migrate vm "$(addr_b)" --json --auto-converge --max-iters 30 --verify)
step=$(json .step <<<"$out")
[ "$step" = done ] && ok "auto-converge: done in $(json .stats.total_ms <<<"$out") ms" ||
	fail "auto-converge" "job ended $step: $(json .message <<<"$out")"
throttle=$(json '[.stats.iters[].throttle_pct] | max' <<<"$out")
[ "${throttle:-0}" -gt 0 ] && ok "auto-converge: guest throttled up to $throttle%" ||
	fail "auto-converge" "no throttle was applied"
check "auto-converge: guest runs on the destination" runs_on b vm
[ "$(json .stats.digest_source <<<"$out")" = "$(json .stats.digest_dest <<<"$out")" ] &&
	ok "auto-converge: memory digest equal" || fail "auto-converge" "memory digests differ"
