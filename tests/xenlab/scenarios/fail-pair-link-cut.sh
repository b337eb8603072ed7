# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 360
# xenlab-about: failure: the link cut for 90 s mid-stream; the guest runs on at the source, no partial domain on the destination
. /lab/lib.sh
need_xlmig xlmigd
pair_roles g1
xlmigd_start || fail "xlmigd did not start"
if [ $LAB_ROLE = src ]; then
	guest_ensure g1
	lab_sync ready > /dev/null || fail "the destination never got ready"
	failing_send_start xlmig-xlmigd g1 "$(lab_peer_ip)"
	failing_send_finish 200
	guest_send g1 idle
	check_stayed g1 "$FAIL_ID" "$FAIL_N0" "$FAIL_BOOT"
	dst=$(LAB_SYNC_TIMEOUT=200 lab_sync after) || fail "the destination did not report"
	[ "$dst" = clean ] || fail "the destination says: $dst"
	pass
else
	lab_sync ready > /dev/null || fail "the source never came"
	wait_incoming g1 120 || fail "the stream never started"
	ip link set eth0 down
	lab_log "link cut while restoring g1"
	sleep 90
	ip link set eth0 up
	lab_log "link back"
	i=0
	while [ -n "$(lab_leftovers)$(xl domid g1 2> /dev/null)" ] && [ $i -lt 90 ]; do sleep 1; i=$((i + 1)); done
	left="$(lab_leftovers) $(xl domid g1 > /dev/null 2>&1 && echo g1)"
	if [ -n "${left# }" ]; then
		lab_sync after "left ${left# }" > /dev/null
		fail "still here after the cut: ${left# }"
	fi
	lab_sync after clean > /dev/null
	pass
fi
