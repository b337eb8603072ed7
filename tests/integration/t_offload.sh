#!/bin/bash
# t_offload.sh - a guest interface's offload state across a migration:
# a sim guest with a real interface (a veth from its host's bridge into a
# namespace of the guest's own) whose host-side offloads, MTU and queues
# an administrator changed on a arrives on b with the same settings, as
# the kernel shows them there and as the job's stats report them; then,
# back to a whose bridge cannot segment TCP, the fallback to software is
# applied and reported.  Needs the hosts in network namespaces (root).
. "$(dirname "$0")/lib.sh"
hosts_up
G=off$ID
if [ $USE_NETNS != 1 ] || ! command -v ethtool >/dev/null; then
	skip offload "needs network namespaces (root) and ethtool"
	exit 0
fi
trap 'guest_net_down $G; cleanup' EXIT
for ns in "$NS_A" "$NS_B"; do
	ip -n "$ns" link add br0 type bridge && ip -n "$ns" link set br0 up ||
		{ fail setup "no bridge in $ns"; exit 0; }
done
ena() { ip netns exec "$NS_A" ethtool "$@"; }
enb() { ip netns exec "$NS_B" ethtool "$@"; }
# feature IFACE NAME in namespace NS: on or off, as the kernel says.
feature() { ip netns exec "$1" ethtool -k "$2" | awk -v f="$3:" '$1 == f { print $2 }'; }
# The finished job's record with its stats (journaled just after the end).
with_stats() { # HOST ID
	local i j
	for i in $(seq 50); do
		j=$("$XLMIG" -S "$(sock "$1")" status "$2" --json 2>/dev/null)
		[ "$(jq -r '.stats != null' <<<"$j")" = true ] && { echo "$j"; return; }
		sleep 0.1
	done
	echo "$j"
}
vif_of() { ip -n "$1" -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | grep '^vs' | head -1; }

xa create "$G" --memory 64M --nic bridge=br0,ip=10.77.0.5/24 >/dev/null ||
	{ fail setup "xlmig create --nic failed"; exit 0; }
va=$(vif_of "$NS_A")
[ -n "$va" ] && [ "$(ip -n "$NS_A" -o link show "$va" | grep -o 'master br0')" = "master br0" ] &&
	gns $G ip -o addr show eth0 | grep -q 10.77.0.5/24 &&
	ok "the sim guest has a real interface: $va on a's br0, 10.77.0.5 in its namespace" ||
	fail "interface" "no vs interface on a's br0 ($va)"

# The administrator's settings on a's side.
ena -K "$va" tx-tcp-segmentation off rx-gro off >/dev/null 2>&1 &&
	ip -n "$NS_A" link set "$va" mtu 1400 && ena -L "$va" rx 2 tx 2 >/dev/null 2>&1 ||
	{ fail setup "ethtool on $va failed"; exit 0; }

# migrate --check: b forecasts the offloads only on a bridge its policy
# lets incoming guests join (default xenbr*: br0 is not probed), then,
# allowed, finds nothing that would leave hardware (b's br0 does all a's
# does).
out=$(xa migrate "$G" "$(addr_b)" --check --json)
[ "$(json .step <<<"$out")" = checked ] && [ "$(json .stats.offload_forecast <<<"$out")" = null ] &&
	grep -q "no offload forecast for $va: .*bridge br0 is not one incoming guests may join" "$WORK/b/log" &&
	ok "--check: b does not probe br0, which its policy does not let guests join" ||
	fail "check" "$(json .step <<<"$out"), forecast $(jq -c .stats.offload_forecast <<<"$out")"
host_start b -- --bridges br0 && host_start a -- --bridges br0 || { fail setup "xlmigd --bridges br0"; exit 0; }
out=$(xa migrate "$G" "$(addr_b)" --check)
grep -q "^preflight OK" <<<"$out" && ! grep -q "^warning" <<<"$out" &&
	[ "$(xa migrate "$G" "$(addr_b)" --check --json | jq -c .stats.offload_forecast)" = "[]" ] &&
	ok "--check: b's br0 keeps every offload of $va in hardware, no warning" || fail "check" "$out"

out=$(xa migrate "$G" "$(addr_b)" --json)
if [ "$(json .step <<<"$out")" != done ]; then
	fail migrate "job ended $(json .step <<<"$out"): $(json .message <<<"$out")"
	exit 0
fi
out=$(with_stats a "$(json .id <<<"$out")")
vb=$(vif_of "$NS_B")
echo "# b's interface $vb: $(jq -c '.stats.offload[0]' <<<"$out")"
[ "$(feature "$NS_B" "$vb" tx-tcp-segmentation)" = off ] && [ "$(feature "$NS_B" "$vb" generic-receive-offload)" = off ] &&
	[ "$(feature "$NS_B" "$vb" tx-checksum-ip-generic)" = on ] &&
	ok "b's new interface $vb has TSO and GRO off, checksumming on, as a's had" ||
	fail "kept" "b's $vb: tso $(feature "$NS_B" "$vb" tx-tcp-segmentation), gro $(feature "$NS_B" "$vb" generic-receive-offload)"
[ "$(ip -n "$NS_B" -o link show "$vb" | grep -o 'mtu [0-9]*')" = "mtu 1400" ] &&
	enb -l "$vb" | awk '/Current/,0' | grep -q "^RX:[[:space:]]*2" &&
	ok "b's interface has MTU 1400 and 2 queues" || fail "kept" "MTU or queues not carried"
r=.stats.offload[0]
# The destination applies the record and logs each feature's outcome
# before READY (the source's SIDE_END comes before it), and READY brings
# the report into the source's stats.
[ "$(json "$r.interface" <<<"$out")" = "$vb" ] && [ "$(json "$r.source_interface" <<<"$out")" = "$va" ] &&
	[ "$(json "$r.features[\"tx-tcp-segmentation\"]" <<<"$out")" = "off, as on the source" ] &&
	[ "$(json "$r.features[\"rx-gro\"]" <<<"$out")" = "off, as on the source" ] &&
	[ "$(json "$r.features[\"tx-checksum-ip-generic\"]" <<<"$out")" = "kept in hardware" ] &&
	[ "$(json "$r.mtu" <<<"$out")" = "kept in hardware" ] && [ "$(json "$r.queues" <<<"$out")" = "kept in hardware" ] &&
	ok "the source's stats report each feature as the kernel shows it on b" || fail "report" "$(jq -c "$r" <<<"$out")"
id=$(json .id <<<"$out")
st=$(xa status "$id")
grep -q "interface *$vb (was $va, MAC .*): MTU 1400 kept in hardware, queues kept in hardware" <<<"$st" &&
	grep -q -E "^ +tx-checksum-ip-generic +kept in hardware$" <<<"$st" &&
	grep -q -E "^ +tx-tcp-segmentation +off, as on the source$" <<<"$st" &&
	ok "xlmig status shows the interface's outcome and each feature's" || fail "status" "$st"

# Back to a, whose bridge no longer segments TCP: the guest's TSO (on
# again on b) falls back to software segmentation there.
enb -K "$vb" tx-tcp-segmentation on >/dev/null 2>&1
ena -K br0 tx-tcp-segmentation off >/dev/null 2>&1
[ "$(feature "$NS_A" br0 tx-tcp-segmentation)" = off ] || { fail setup "cannot turn a's br0 TSO off"; exit 0; }
addr_a=$IP_A:$PORT_A
# --check warns before the move, per interface and feature.
out=$(xb migrate "$G" "$addr_a" --check)
grep -q "^preflight OK" <<<"$out" &&
	grep -q "^warning: on $addr_a, interface $vb (bridge br0): tx-tcp-segmentation would fall back to software$" <<<"$out" &&
	grep -q "on $IP_A, $vb's tx-tcp-segmentation would fall back to software (its bridge br0 there cannot do it)" "$WORK/b/log" &&
	ok "--check warns that $vb's TSO would fall back to software on a (its br0 cannot)" ||
	fail "check" "$out"
out=$(xb migrate "$G" "$addr_a" --json)
[ "$(json .step <<<"$out")" = done ] || { fail "migrate back" "$(json .message <<<"$out")"; exit 0; }
out=$(with_stats b "$(json .id <<<"$out")")
va=$(vif_of "$NS_A")
[ "$(json "$r.features[\"tx-tcp-segmentation\"]" <<<"$out")" = "fell back to software" ] &&
	[ "$(feature "$NS_A" "$va" tx-tcp-segmentation)" = on ] &&
	ok "a's bridge cannot segment: TSO reported as fallen back to software (the vif keeps it, GSO segments)" ||
	fail "fallback" "$(jq -c "$r" <<<"$out")"
xb status "$(json .id <<<"$out")" | grep -q -E "^ +tx-tcp-segmentation +fell back to software$" &&
	ok "xlmig status on b shows TSO as fallen back to software on a" ||
	fail "status" "$(xb status "$(json .id <<<"$out")")"
grep -q "tx-tcp-segmentation: fell back to software" "$WORK/a/log" &&
	ok "a's log says which feature fell back" || fail "fallback" "not in a's log"
p=$(guest_ns_pid $G)
# The holder runs sleep until the guest's last host lets go of it.
holding() { readlink "/proc/$p/exe" 2>/dev/null | grep -q sleep; }
xa destroy "$G" >/dev/null
for i in $(seq 40); do holding || break; sleep 0.05; done
! holding && [ ! -e "/run/xlmig-simnet/$G" ] &&
	ok "destroying the guest's last copy removes its namespace" || fail "destroy" "namespace left"
