#!/bin/bash
# demo.sh - xlmig end to end on one machine: two hosts (network
# namespaces joined by a veth pair, else two loopback ports), each with
# its own sim host (xlmig-simhost, where the guests live) and xlmigd,
# state, control socket and certificate from a demo CA (the channels
# between them are TLS 1.3); a
# 1 GiB guest with a running workload on host A is live-migrated to host
# B; the demo proves it kept running (its counter resumes on B exactly
# where it stopped on A, and B's memory digest equals A's at pause) and
# prints the figures.  Everything it starts is stopped on exit.
#
#   tools/demo.sh            (make demo builds first; B=DIR picks binaries)
set -u
. "$(dirname "$0")/../tests/integration/lib.sh"

say() { printf '\n== %s\n' "$*"; }

say "starting two xlmig hosts"
hosts_up
if [ $USE_NETNS = 1 ]; then
	echo "host A: namespace $NS_A, $IP_A    host B: namespace $NS_B, $IP_B (veth pair)"
else
	echo "host A: 127.0.0.1:$PORT_A    host B: 127.0.0.1:$PORT_B"
fi
echo "each host: xlmig-simhost (the guests) and xlmigd beside it; state, sockets and logs under $WORK"
echo "TLS 1.3 between the hosts: certificates for a and b from a demo CA in $WORK/tls"

say "host A: create a 1 GiB guest writing 40 MiB/s (hot set 256 MiB)"
xa create web1 --memory 1G --rate 40M --pattern hot:256M --mix zero=25,file=60,random=15
xa list
c1=$(counter a web1); sleep 1; c2=$(counter a web1)
echo "web1 counter on A: $c1, one second later $c2 (the guest is running)"

say "migrate web1 from A to B ($(addr_b)), 4 channels, compressed, verified"
# xlmig follows the job: a live progress line on a terminal, then the summary.
xa migrate web1 "$(addr_b)" --channels 4 --verify || { echo "demo: the migration did not complete (see above)"; exit 1; }
job=$(xa jobs --json | jq -r '.jobs[-1].id')
st=$(xa status "$job" --json) || exit 1

say "proof: the guest kept running"
xb list
cs=$(jq -r .stats.counter_source <<<"$st"); cd=$(jq -r .stats.counter_dest <<<"$st")
b1=$(counter b web1); sleep 1; b2=$(counter b web1)
echo "counter at pause on A: $cs; on resume on B: $cd; on B now: $b1, a second later: $b2"
ds=$(jq -r .stats.digest_source <<<"$st"); dd=$(jq -r .stats.digest_dest <<<"$st")
echo "memory digest on A at pause: $ds"
echo "memory digest on B at resume: $dd"
has_guest a web1 && echo "host A still has web1: NOT expected" || echo "host A: web1 is gone (no second copy)"
[ "$cs" = "$cd" ] && [ "$b2" -gt "$b1" ] && [ "$ds" = "$dd" ] && ! has_guest a web1 || {
	echo "demo: a check failed"
	exit 1
}

# Hashing 1 GiB twice while the guest is stopped is the proof, not the
# product: the way back runs without it, to show the real downtime.
say "and back from B to A, without --verify"
target_a=$IP_A:$PORT_A; [ $USE_NETNS = 1 ] || target_a=127.0.0.1:$PORT_A
back=$(xb migrate web1 "$target_a" --channels 4 --json) || { echo "demo: the way back failed"; exit 1; }
jq -r '"job \(.id): \(.step) - \(.message)"' <<<"$back"
check_back=$(counter a web1) && [ "$check_back" -gt "$b2" ] &&
	echo "web1 runs on A again, counter $check_back" || { echo "demo: web1 is not running on A"; exit 1; }

summary() { # TITLE JOB-JSON
	echo "$1"
	jq -r '"  total time        \(.stats.total_ms) ms (setup \(.stats.setup_ms) ms)",
	       "  downtime          \(.stats.downtime_ms) ms\(if .stats.verify_ms then ", of which \(.stats.verify_ms) ms memory verification (--verify)" else "" end)",
	       "  guest memory      \(.stats.mem_bytes / 1048576) MiB",
	       "  bytes on the wire \(.stats.bytes_wire / 1048576 | floor) MiB (\(.stats.bytes_wire * 100 / .stats.mem_bytes | floor)% of guest memory; Xen stream \(.stats.bytes_stream / 1048576 | floor) MiB)",
	       "  iterations        \(.stats.iterations) (\(.stats.policy_reason))"' <<<"$2"
}
say "summary"
summary "A -> B, verified:" "$st"
summary "B -> A:" "$back"
echo
echo "demo: ok (the hosts are stopped now)"
