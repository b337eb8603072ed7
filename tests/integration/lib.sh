# lib.sh - shared by the integration tests (sourced): two xlmig hosts,
# each a sim host (xlmig-simhost, which owns the guests) and an xlmigd
# with the sim backend beside it, in its own network namespace, the two
# joined by a veth pair (or, where namespaces are not available, two
# daemons on loopback ports).  Everything started is stopped on exit.
#
#   hosts_up / hosts_down       create the hosts and start both daemons / remove them
#   host_start a|b [VAR=val..] [-- OPTS]  (re)start one daemon, env and options
#                               (and its sim host, if that is not running)
#   host_kill a|b               SIGKILL one daemon (its guests run on)
#   simhost_kill a|b            SIGKILL one sim host (its guests die with it)
#   xa ARGS / xb ARGS           run xlmig against host a / b
#   addr_b                      where host a reaches host b (HOST:PORT)
#   use_fault_build             run build/faults/xlmigd (XLMIG_FAULT arms a point)
#   shape_link RATE [DELAY]     tbf (and netem delay) on a's side of the link
#   ok NAME / fail NAME WHY     one result line
#   skip NAME WHY               a check that cannot run here (never a pass)
#   check NAME CMD...           ok if CMD succeeds, else fail
#   guest_ns_pid G / gns G CMD  a sim guest's network namespace (xlmig create --nic):
#                               its holder's pid / run CMD inside it
#   guest_net_down G            end that namespace (a test's exit trap)
#   backup_field H J F / backup_wait_state H J RE [tenths]  a backup job's field / wait for its state
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${B:-$ROOT/build}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
XLMIG=$BIN/xlmig
XLMIGD=$BIN/xlmigd
SIMHOST=$BIN/xlmig-simhost
PORT_A=8002
PORT_B=8002
ID=$$
WORK=$(mktemp -d /tmp/xlmig-it.XXXXXX)
NS_A=xlmig-$ID-a
NS_B=xlmig-$ID-b
VETH_A=xva$ID
VETH_B=xvb$ID
IP_A=10.231.0.1
IP_B=10.231.0.2
USE_NETNS=0
declare -A PID=()
declare -A SPID=()

ok() { echo "ok   $*"; }
fail() { local name=$1; shift; echo "FAIL $name: $*"; }
skip() { local name=$1; shift; echo "skip $name: $*"; }
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else fail "$name" "$* failed"; fi; }

netns_up() {
	ip netns add "$NS_A" 2>/dev/null || return 1
	ip netns add "$NS_B" || return 1
	ip link add "$VETH_A" netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B" || return 1
	ip -n "$NS_A" addr add $IP_A/24 dev "$VETH_A" &&
	ip -n "$NS_B" addr add $IP_B/24 dev "$VETH_B" &&
	ip -n "$NS_A" link set "$VETH_A" up && ip -n "$NS_B" link set "$VETH_B" up &&
	ip -n "$NS_A" link set lo up && ip -n "$NS_B" link set lo up
}

netns_down() {
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
}

cleanup() {
	local h
	for h in "${!PID[@]}"; do
		kill -9 "${PID[$h]}" 2>/dev/null
		wait "${PID[$h]}" 2>/dev/null
	done
	for h in "${!SPID[@]}"; do
		kill -9 "${SPID[$h]}" 2>/dev/null
		wait "${SPID[$h]}" 2>/dev/null
	done
	[ $USE_NETNS = 1 ] && netns_down
	if [ -n "${KEEP_WORK:-}" ]; then echo "# work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sock() { echo "$WORK/$1/xlmigd.sock"; }
simsock() { echo "$WORK/$1/simhost.sock"; }
xa() { "$XLMIG" -S "$(sock a)" "$@"; }
xb() { "$XLMIG" -S "$(sock b)" "$@"; }
addr_b() { if [ $USE_NETNS = 1 ]; then echo "$IP_B:$PORT_B"; else echo "127.0.0.1:$PORT_B"; fi; }

# The sim host of a|b, in the background (the guests' home: it outlives
# any xlmigd restart, as Xen does).
simhost_start() {
	local h=$1 ns=$NS_A i
	[ "$h" = b ] && ns=$NS_B
	mkdir -p "$WORK/$h"
	# A killed sim host leaves its socket behind: waiting for the file
	# would return at once, and a request sent there is refused.
	rm -f "$(simsock "$h")"
	local cmd=("$SIMHOST" --foreground --socket "$(simsock "$h")" --log-level debug
		   --log-file "$WORK/$h/simhost.log")
	if [ $USE_NETNS = 1 ]; then
		ip netns exec "$ns" "${cmd[@]}" </dev/null >>"$WORK/$h/simhost.out" 2>&1 &
	else
		"${cmd[@]}" </dev/null >>"$WORK/$h/simhost.out" 2>&1 &
	fi
	SPID[$h]=$!
	# The file exists from bind(), before listen(): wait for an answer.
	for i in $(seq 100); do
		[ -S "$(simsock "$h")" ] && socat -u OPEN:/dev/null "UNIX-CONNECT:$(simsock "$h")" 2>/dev/null && return 0
		kill -0 "${SPID[$h]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "# xlmig-simhost $h did not start; its log:" >&2
	tail -n 20 "$WORK/$h/simhost.log" "$WORK/$h/simhost.out" >&2
	return 1
}

simhost_kill() {
	kill -9 "${SPID[$1]}" 2>/dev/null
	wait "${SPID[$1]}" 2>/dev/null
	unset "SPID[$1]"
}

simhost_running() { [ -n "${SPID[$1]:-}" ] && kill -0 "${SPID[$1]}" 2>/dev/null; }

host_start() { # a|b [VAR=value...] [-- XLMIGD-OPTIONS...]
	local h=$1; shift
	local port=$PORT_A ns=$NS_A env=() opts=()
	[ "$h" = b ] && port=$PORT_B ns=$NS_B
	while [ $# -gt 0 ] && [ "$1" != -- ]; do env+=("$1"); shift; done
	[ $# -gt 0 ] && shift && opts=("$@")
	# Never lose track of a daemon: a host has one at a time.
	[ -n "${PID[$h]:-}" ] && host_kill "$h"
	mkdir -p "$WORK/$h"
	simhost_running "$h" || simhost_start "$h" || return 1
	local cmd=(env "${env[@]}" "$XLMIGD" -f --hv sim -s "$WORK/$h/state" -S "$(sock "$h")"
		   --simhost-socket "$(simsock "$h")"
		   -p "$port" -k "$WORK/key" --tls-dir "$WORK/tls/$h" --log-level debug --log-file "$WORK/$h/log" "${opts[@]}")
	if [ $USE_NETNS = 1 ]; then
		ip netns exec "$ns" "${cmd[@]}" </dev/null >>"$WORK/$h/out" 2>&1 &
	else
		"${cmd[@]}" </dev/null >>"$WORK/$h/out" 2>&1 &
	fi
	PID[$h]=$!
	local i
	for i in $(seq 100); do
		"$XLMIG" -S "$(sock "$h")" list >/dev/null 2>&1 && return 0
		kill -0 "${PID[$h]}" 2>/dev/null || break
		sleep 0.05
	done
	echo "# xlmigd $h did not start; its log:" >&2
	tail -n 20 "$WORK/$h/log" "$WORK/$h/out" >&2
	return 1
}

host_kill() {
	kill -9 "${PID[$1]}" 2>/dev/null
	wait "${PID[$1]}" 2>/dev/null
	unset "PID[$1]"
}

host_stop() {
	kill -TERM "${PID[$1]}" 2>/dev/null
	wait "${PID[$1]}" 2>/dev/null
	unset "PID[$1]"
}

# Stop both hosts and remove them (a test may then call hosts_up again).
hosts_down() {
	local h
	for h in "${!PID[@]}"; do host_kill "$h"; done
	for h in "${!SPID[@]}"; do simhost_kill "$h"; done
	[ $USE_NETNS = 1 ] && netns_down
	rm -rf "$WORK"/a "$WORK"/b
}

hosts_up() {
	[ -x "$XLMIGD" ] && [ -x "$XLMIG" ] && [ -x "$SIMHOST" ] ||
		{ echo "FAIL setup: build first ($XLMIGD, $XLMIG or $SIMHOST missing)"; exit 1; }
	if [ "$(id -u)" = 0 ] && [ -z "${XLMIG_NO_NETNS:-}" ] && netns_up; then
		USE_NETNS=1
	else
		netns_down
		PORT_A=$((20000 + RANDOM % 20000)); PORT_B=$((PORT_A + 1))
		echo "# network namespaces unavailable: two daemons on loopback ports $PORT_A and $PORT_B"
	fi
	[ -f "$WORK/key" ] || "$XLMIGD" --gen-key "$WORK/key" || exit 1
	[ -d "$WORK/tls" ] || tls_up || exit 1
	host_start a "${STALL_A[@]}" && host_start b "${STALL_B[@]}" || exit 1
}
STALL_A=()
STALL_B=()

# A test CA, and each host's certificate for its name and addresses; each
# accepts migrations from both (a from itself too: localhost migration).
tls_up() {
	mkdir -p "$WORK/tls" && "$XLMIG" setup-tls ca "$WORK/tls/ca" >/dev/null &&
	"$XLMIG" setup-tls host --ca "$WORK/tls/ca" --out "$WORK/tls/a" --allow a --allow b \
		a 127.0.0.1 $IP_A >/dev/null &&
	"$XLMIG" setup-tls host --ca "$WORK/tls/ca" --out "$WORK/tls/b" --allow a --allow b \
		b 127.0.0.1 $IP_B >/dev/null
}

# Run the test build of xlmigd, with its fault-injection points
# (libxlmig/fault.h, make faults-build): XLMIG_FAULT in a host's
# environment then arms one of them.
use_fault_build() {
	XLMIGD=$BIN/faults/xlmigd
	[ -x "$XLMIGD" ] || { echo "FAIL setup: $XLMIGD is missing: run make faults-build"; return 1; }
}

shape_link() { # RATE [DELAY]: shape what a sends to b
	[ $USE_NETNS = 1 ] || return 1
	ip netns exec "$NS_A" tc qdisc replace dev "$VETH_A" root tbf rate "$1" burst 64kb latency 100ms || return 1
	if [ -n "${2:-}" ]; then
		ip netns exec "$NS_B" tc qdisc replace dev "$VETH_B" root netem delay "$2"
	fi
}

# ---- guest checks ----

json() { jq -r "$1"; }
counter() { "$XLMIG" -S "$(sock "$1")" list "$2" --json 2>/dev/null | jq -r .counter; }
state() { "$XLMIG" -S "$(sock "$1")" list "$2" --json 2>/dev/null | jq -r .domain.state; }
has_guest() { "$XLMIG" -S "$(sock "$1")" list "$2" >/dev/null 2>&1; }
no_guests() { [ "$("$XLMIG" -S "$(sock "$1")" list --json | jq '.domains | length')" = 0 ]; }

# The guest runs on host $1: its counter advances.
runs_on() {
	local c1 c2
	c1=$(counter "$1" "$2") || return 1
	sleep 0.3
	c2=$(counter "$1" "$2") || return 1
	[ "$(state "$1" "$2")" = running ] && [ "$c2" -gt "$c1" ]
}

# Wait until job $2 on host $1 reaches a step matching $3 (regex).
wait_step() {
	local i step
	for i in $(seq 400); do
		step=$("$XLMIG" -S "$(sock "$1")" status "$2" --json 2>/dev/null | jq -r .step)
		[[ $step =~ ^($3)$ ]] && return 0
		sleep 0.05
	done
	echo "# job $2 on $1 is at '$step', wanted $3" >&2
	return 1
}

wait_final() { wait_step "$1" "$2" 'done|failed|cancelled|unknown'; }
step_of() { "$XLMIG" -S "$(sock "$1")" status "$2" --json | jq -r .step; }

# A backup job's FIELD on a host, and a wait (in tenths of a second,
# 30 s by default) for its state to match a regex.
backup_field() { "$XLMIG" -S "$(sock "$1")" backup show "$2" --json 2>/dev/null | jq -r ".$3"; }
backup_wait_state() { # HOST JOB STATE-REGEX [tenths]
	local i
	for i in $(seq "${4:-300}"); do
		[[ "$(backup_field "$1" "$2" state)" =~ ^($3)$ ]] && return 0
		sleep 0.1
	done
	return 1
}

# ---- a sim guest's network (sim_net.h) ----

# Its namespace is held by a process named in /run/xlmig-simnet/G.
guest_ns_pid() { sed -n 2p "/run/xlmig-simnet/$1" 2>/dev/null; }
gns() { local g=$1; shift; nsenter --net=/proc/"$(guest_ns_pid "$g")"/ns/net "$@"; }
guest_net_down() {
	local p
	p=$(guest_ns_pid "$1")
	[ -n "$p" ] && kill "$p" 2>/dev/null
	rm -f "/run/xlmig-simnet/$1"
}
