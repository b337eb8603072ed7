#!/bin/bash
# t_switchover.sh - the network switchover of a migration, measured: a
# "switch" namespace with a Linux bridge (sw0), hosts a and b attached to
# it (their br0 each has an uplink port on sw0) and a client on it; a sim
# guest whose namespace is plugged into a's br0 and, at resume, into b's,
# as a vif moves from one host's bridge to the other's.  The client keeps
# a TCP connection and a ping stream (every 10 ms) to the guest across
# each migration.
#
# The switch must learn the guest's new port from the announce, not from
# the guest's own traffic, so the guest is kept quiet: IPv6 off in its
# namespace (no DAD, RS or MLD) and no multicast snooping on its NIC (no
# IGMP report), both sim_net's; no gratuitous ARP when its link comes up
# (arp_notify 0), a permanent neighbour entry for the
# client (no ARP of its own), and its TCP end only receives (it sends
# ACKs, never data).  A capture in the guest's namespace checks that
# nothing else leaves it, and one on the switch's port to the destination
# shows what first came from the guest's MAC there: the gratuitous ARP
# with the announce, an answer to the client without.
#
# The bridges' ageing time (sw0's and the hosts' br0) is lowered to 3 s
# (AGEING_CS=300), so that without the announce the stale entries for
# the guest expire in bounded time: sw0's pointing at the source, and
# the destination's br0's pointing at its uplink (learned from the
# announce of the guest's previous move, flooded to every host), after
# which the client's frames are flooded to the guest again.
#
# Runs SWITCHOVER_RUNS migrations (default 3, there and back in turn)
# with the announce (xlmigd's default, 5 rounds) and as many with
# xlmigd --announce-rounds 0.  Asserted: the TCP connection
# survives every run (every byte acknowledged and received, no reset);
# with the announce, the ping stream flows again within the migration's
# downtime + 500 ms (the new port forwards as soon as its link is up:
# the announce makes the kernel apply its carrier at once, offload.h;
# before Linux 6.7 the kernel may take a second more, so + 1500 ms);
# without it, not before the ageing time (else the
# switch was taught by something else).  FIGURE lines: each run's gap
# (longest interval between two echo replies), echo requests lost, the
# TCP stall and the downtime, and the medians of each mode.
. "$(dirname "$0")/lib.sh"
hosts_up
G=sw$ID
PEER=$ROOT/tests/integration/switchover_peer.py
RUNS=${SWITCHOVER_RUNS:-3}
AGEING_CS=300
BOUND_MS=500
kernel=$(uname -r)
kmajor=${kernel%%.*}
kminor=${kernel#*.}
kminor=${kminor%%[!0-9]*}
[ "$kmajor" -gt 6 ] || { [ "$kmajor" = 6 ] && [ "$kminor" -ge 7 ]; } || BOUND_MS=1500
if [ $USE_NETNS != 1 ] || ! command -v tcpdump >/dev/null || ! command -v python3 >/dev/null; then
	skip switchover "needs network namespaces (root), tcpdump and python3"
	exit 0
fi
NS_SW=xlmig-$ID-sw
NS_C=xlmig-$ID-c
GIP=10.77.0.5
CIP=10.77.0.1
declare -a BG=()
stop_bg() {
	local p
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	BG=()
}
trap 'stop_bg; guest_net_down $G; ip netns del $NS_SW 2>/dev/null; ip netns del $NS_C 2>/dev/null; cleanup' EXIT

# ---- the switch, the hosts' uplinks and the client ----
setup_switch() {
	local h ns
	ip netns add "$NS_SW" && ip netns add "$NS_C" &&
		ip -n "$NS_SW" link add sw0 type bridge ageing_time $AGEING_CS &&
		ip -n "$NS_SW" link set sw0 up || return 1
	for h in a b; do
		ns=$NS_A
		[ $h = b ] && ns=$NS_B
		ip -n "$ns" link add br0 type bridge ageing_time $AGEING_CS &&
			ip link add sw$h netns "$NS_SW" type veth peer name up0 netns "$ns" &&
			ip -n "$ns" link set up0 master br0 up && ip -n "$ns" link set br0 up &&
			ip -n "$NS_SW" link set sw$h master sw0 up || return 1
	done
	ip link add swc netns "$NS_SW" type veth peer name cl0 netns "$NS_C" &&
		ip -n "$NS_SW" link set swc master sw0 up &&
		ip -n "$NS_C" addr add $CIP/24 dev cl0 && ip -n "$NS_C" link set cl0 up &&
		ip -n "$NS_C" link set lo up
}
setup_switch || { fail setup "cannot build the switch, the uplinks or the client"; exit 0; }
for b in "$NS_SW sw0" "$NS_A br0" "$NS_B br0"; do
	[ "$(ip -n ${b% *} -d link show ${b#* } | grep -o 'ageing_time [0-9]*')" = "ageing_time $AGEING_CS" ] ||
		{ fail setup "${b#* }'s ageing time is not $AGEING_CS"; exit 0; }
done

xa create "$G" --memory 64M --nic bridge=br0,ip=$GIP/24 >/dev/null ||
	{ fail setup "xlmig create --nic failed"; exit 0; }
mac_of() { grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }
GMAC=$(gns $G ip -o link show eth0 | mac_of)
# Background processes in the guest's namespace: nsenter itself, so
# that its pid is theirs.
GNS=--net=/proc/$(guest_ns_pid $G)/ns/net
CMAC=$(ip -n "$NS_C" -o link show cl0 | mac_of)
# The guest's quiet: no gratuitous ARP of its own, no ARP for the client.
gns $G sysctl -q -w net.ipv4.conf.all.arp_notify=0 net.ipv4.conf.eth0.arp_notify=0 &&
	gns $G ip neigh replace $CIP lladdr "$CMAC" nud permanent dev eth0 &&
	ip -n "$NS_C" neigh replace $GIP lladdr "$GMAC" nud permanent dev cl0 ||
	{ fail setup "cannot quiet the guest"; exit 0; }
[ "$(gns $G sysctl -n net.ipv6.conf.default.disable_ipv6)" = 1 ] &&
	ok "the guest's namespace has IPv6 off for every interface, later ones too" ||
	fail quiet "IPv6 is on for new interfaces in the guest's namespace"
ip netns exec "$NS_C" ping -c 3 -i 0.2 -W 2 $GIP >/dev/null &&
	ok "the client reaches the guest ($GMAC) on a through the switch" ||
	{ fail setup "the client cannot ping the guest"; exit 0; }

# ---- one measured migration ----
# tcpdump in the background; waits until it captures.
capture() { # OUT NS ARGS...
	local out=$1 ns=$2 i p
	shift 2
	if [ "$ns" = guest ]; then
		nsenter "$GNS" tcpdump -U -l -nn -e -tt "$@" >"$out" 2>"$out.err" &
	else
		ip netns exec "$ns" tcpdump -U -l -nn -e -tt "$@" >"$out" 2>"$out.err" &
	fi
	p=$!
	BG+=("$p")
	for i in $(seq 100); do
		grep -q "listening on" "$out.err" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# The longest interval between two echo replies (ping -D), or between
# the last and the end ($2, seconds since the epoch), in ms.
longest_gap() {
	{ sed -n 's/^\[\([0-9.]*\)\] .* bytes from.*/\1/p' "$1"; echo "$2"; } |
		awk 'NR > 1 && ($1 - t) * 1000 > g { g = ($1 - t) * 1000 } { t = $1 } END { printf "%d\n", g }'
}
replies() { grep -c ' bytes from ' "$1"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# run MODE N FROM TO: migrate the guest while the client talks to it.
run() {
	local mode=$1 n=$2 from=$3 to=$4 tag="announce $1, run $2 ($3->$4)" port=$((5100 + RANDOM % 800))
	local d=$WORK/run-$mode-$n target out downtime sent count r0 i gap lost ptx prx tcp first end
	mkdir -p "$d"
	target=$(addr_b)
	[ "$to" = a ] && target=$IP_A:$PORT_A
	# The guest's TCP end: a sink on a port of this run.
	nsenter "$GNS" python3 "$PEER" sink $port "$d/count" >"$d/sink.err" 2>&1 &
	BG+=("$!")
	for i in $(seq 100); do
		gns $G ss -Hltn "sport = :$port" | grep -q LISTEN && break
		sleep 0.05
	done
	capture "$d/guest.cap" guest -i any -Q out &&
		capture "$d/port.cap" "$NS_SW" -i sw$to -Q in ether src "$GMAC" ||
		{ fail "$tag" "tcpdump did not start: $(cat "$d"/*.err)"; return; }
	mkfifo "$d/client.in"
	ip netns exec "$NS_C" python3 "$PEER" client $GIP $port <"$d/client.in" >"$d/client.out" 2>&1 &
	BG+=("$!")
	exec 7>"$d/client.in"
	ip netns exec "$NS_C" ping -D -i 0.01 -W 5 $GIP >"$d/ping" 2>&1 &
	local ping=$!
	BG+=("$ping")
	sleep 1
	if [ "$(replies "$d/ping")" -lt 20 ]; then
		exec 7>&-
		fail "$tag" "the guest did not answer the client before the migration ($(replies "$d/ping") replies in 1 s)"
		stop_bg
		return
	fi
	out=$("$XLMIG" -S "$(sock "$from")" migrate "$G" "$target" --json)
	if [ "$(json .step <<<"$out")" != done ]; then
		exec 7>&-
		fail "$tag" "job ended $(json .step <<<"$out"): $(json .message <<<"$out")"
		return
	fi
	downtime=$(json .stats.downtime_ms <<<"$out")
	# Traffic flows again: a second of replies after the migration ended
	# (without the announce, after the ageing time; at most 20 s).
	r0=$(replies "$d/ping")
	for i in $(seq 400); do
		[ $(($(replies "$d/ping") - r0)) -ge 100 ] && break
		sleep 0.05
	done
	end=$(date +%s.%N)
	kill -INT $ping
	wait $ping 2>/dev/null
	exec 7>&-
	for i in $(seq 700); do
		[ -s "$d/client.out" ] && [ -s "$d/count" ] && break
		sleep 0.05
	done
	stop_bg
	sleep 0.2
	gap=$(longest_gap "$d/ping" "$end")
	ptx=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1/p' "$d/ping")
	prx=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\2/p' "$d/ping")
	lost=$((ptx - prx))
	sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' "$d/client.out")
	tcp=$(sed -n 's/.*stall_ms=\([0-9]*\).*/\1/p' "$d/client.out")
	count=$(cat "$d/count" 2>/dev/null)
	echo "FIGURE switchover announce=$mode run=$n from=$from to=$to gap_ms=$gap lost=$lost sent=$ptx tcp_stall_ms=$tcp downtime_ms=$downtime"
	echo "$gap $lost $tcp" >>"$WORK/figures-$mode"

	grep -q "acked=yes error=none" "$d/client.out" && [ -n "$sent" ] && [ "$sent" = "$count" ] &&
		ok "$tag: the TCP connection survived ($sent bytes sent, all acknowledged and received; stalled $tcp ms)" ||
		fail "$tag" "TCP: client '$(cat "$d/client.out")', the guest received '${count:-nothing}'"
	# Nothing but answers left the guest: echo replies and the sink's
	# segments without data.
	local noise
	noise=$(grep -v -E "ICMP echo reply|\.$port > $CIP\.[0-9]+: Flags \[[^]]*\].* length 0$" "$d/guest.cap" | grep -v '^$')
	[ -z "$noise" ] && [ -s "$d/guest.cap" ] &&
		ok "$tag: the guest was quiet: only echo replies and its TCP ACKs left its namespace" ||
		fail "$tag" "the guest sent on its own: $(head -3 <<<"$noise")"
	first=$(head -1 "$d/port.cap")
	if [ "$mode" = on ]; then
		grep -q "ARP .*Request who-has $GIP tell $GIP" <<<"$first" &&
			ok "$tag: the first frame from the guest's MAC on the switch's port to $to is the gratuitous ARP" ||
			fail "$tag" "the switch learned $to's port from: ${first:-nothing}"
		[ "$gap" -le $((downtime + BOUND_MS)) ] &&
			ok "$tag: traffic flows again within the downtime + $BOUND_MS ms (gap $gap ms, downtime $downtime ms, $lost lost)" ||
			fail "$tag" "gap $gap ms > downtime $downtime ms + $BOUND_MS ms"
	else
		! grep -q ARP "$d/port.cap" && grep -q -E "ICMP echo reply|\.$port > " <<<"$first" &&
			ok "$tag: the first frame from the guest's MAC on the switch's port to $to is an answer, not an announce" ||
			fail "$tag" "first frame on sw$to: ${first:-nothing}"
		[ "$gap" -ge $((AGEING_CS * 10 - 100)) ] &&
			ok "$tag: without the announce traffic flows again only once sw0 forgot the old port (gap $gap ms >= ageing $((AGEING_CS * 10)) ms)" ||
			fail "$tag" "gap $gap ms is under sw0's ageing time: something else taught the switch"
	fi
	ip netns exec "$NS_SW" bridge fdb show br sw0 | grep -q "^$GMAC dev sw$to " &&
		ok "$tag: sw0 forwards to the guest on its port to $to" ||
		fail "$tag" "sw0's entry: $(ip netns exec "$NS_SW" bridge fdb show br sw0 | grep "^$GMAC")"
}

from=a to=b
for mode in on off; do
	if [ $mode = off ]; then
		host_start a -- --announce-rounds 0 && host_start b -- --announce-rounds 0 ||
			{ fail setup "xlmigd --announce-rounds 0 did not start"; exit 0; }
	fi
	for n in $(seq "$RUNS"); do
		run $mode "$n" $from $to
		t=$from from=$to to=$t
	done
	[ -s "$WORK/figures-$mode" ] &&
		echo "FIGURE switchover medians announce=$mode runs=$(wc -l <"$WORK/figures-$mode")" \
			"gap_ms=$(cut -d' ' -f1 "$WORK/figures-$mode" | median)" \
			"lost=$(cut -d' ' -f2 "$WORK/figures-$mode" | median)" \
			"tcp_stall_ms=$(cut -d' ' -f3 "$WORK/figures-$mode" | median)"
done
