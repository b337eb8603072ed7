# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 300
# xenlab-about: a PVH guest with a vif on a bridge in each dom0 (vif-bridge, netback): reachable before and after stock xl migrate
. /lab/lib.sh
GIP=10.99.0.10
MAC=00:16:3e:4c:00:10

# reach WHERE: ping the guest, record it as a figure field.
reach() {
	if ping -c 3 -W 2 $GIP > /dev/null 2>&1; then echo "$1=yes"; else echo "$1=no"; fi
}

# The bridged guest alone on each host: dom0 processes of the receiving
# host (busybox, xl) have segfaulted under the emulator right after the
# guest arrived, once with the shared guest running beside it.
lab_destroy_all
lab_bridge_up xenbr0 || fail "cannot make the bridge xenbr0"
lab_clock_sync
if [ "$LAB_HOST" = a ]; then
	LAB_GUEST_EXTRA="xlg_ip=$GIP" guest_create gnet pvh "vif = [ \"bridge=xenbr0,mac=$MAC\" ]" ||
		fail "xl create of a guest with a vif failed"
	guest_wait_n gnet 2 120 || fail "the guest with a vif never started counting"
	guest_log gnet | grep -q "^XLG net eth0=" || fail "the guest found no eth0 (netfront): $(guest_log gnet | grep '^XLG net')"
	[ "$(guest_vif_bridge gnet)" = xenbr0 ] || fail "vif-bridge did not put the vif on xenbr0: $(ip -o link | grep vif)"
	before=$(reach ping_from_src)
	n0=$(guest_last_n gnet)
	boot=$(guest_boot_id gnet)
	lab_sync ready "$n0 $boot" > /dev/null || fail "host b never got ready"
	xl migrate -s "" gnet "socat -b 262144 - TCP:10.99.0.2:$LAB_XL_PORT,retry=60,interval=0.5" > "$LAB_RUN/send.log" 2>&1
	rc=$?
	sed 's/^/sender: /' "$LAB_RUN/send.log"
	lab_sync sent $rc > /dev/null
	[ $rc = 0 ] || fail "xl migrate of the guest with a vif exited $rc"
	check_left gnet
	after=$(reach ping_from_peer_after)
	seen=$(lab_sync seen) || fail "host b did not report"
	figure "vif_on_bridge=yes $before $after $seen"
	lab_bridge_down xenbr0
	echo "$before $seen" | grep -q "ping_from_src=yes.*ping_from_dst_after=yes" ||
		fail "the guest was not reachable on both hosts: $before $seen"
	pass
else
	method_receiver_start xl-xl
	info=$(lab_sync ready) || fail "host a never came"
	rc=$(LAB_SYNC_TIMEOUT=300 lab_sync sent) || fail "host a never finished"
	method_receiver_wait 30
	[ "$rc" = 0 ] || { lab_sync seen fail > /dev/null; fail "host a's migration failed"; }
	( check_arrived gnet - "${info% *}" "${info#* }" ) || { lab_sync seen fail > /dev/null; exit 1; }
	vb=$(guest_vif_bridge gnet)
	after=$(reach ping_from_dst_after)
	lab_sync seen "vif_on_dst_bridge=${vb:-none} $after" > /dev/null
	xl destroy gnet
	lab_bridge_down xenbr0
	[ "$vb" = xenbr0 ] || fail "after migration the vif is on '${vb:-no bridge}', not xenbr0"
	pass
fi
