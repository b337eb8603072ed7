# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 300
# xenlab-about: failure: the destination xlmigd killed mid-stream; the guest runs on at the source, the restarted daemon leaves no partial domain
. /lab/lib.sh
need_xlmig xlmigd
pair_roles g1
xlmigd_start || fail "xlmigd did not start"
if [ $LAB_ROLE = src ]; then
	guest_ensure g1
	lab_sync ready > /dev/null || fail "the destination never got ready"
	failing_send_start xlmig-xlmigd g1 "$(lab_peer_ip)"
	failing_send_finish 240
	guest_send g1 idle
	check_stayed g1 "$FAIL_ID" "$FAIL_N0" "$FAIL_BOOT"
	dst=$(lab_sync after) || fail "the destination did not report"
	[ "$dst" = clean ] || fail "the destination says: $dst"
	pass
else
	lab_sync ready > /dev/null || fail "the source never came"
	wait_incoming g1 120 || { lab_sync after "no incoming domain seen" > /dev/null; fail "the stream never started"; }
	sleep 3   # well into the stream
	kill -9 "$(cat "$LAB_RUN/xlmigd.pid")"
	lab_log "xlmigd killed while restoring g1"
	sleep 2
	xlmigd_start || fail "xlmigd did not start again"
	i=0
	while [ -n "$(lab_leftovers)$(xl domid g1 2> /dev/null)" ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
	left="$(lab_leftovers) $(xl domid g1 > /dev/null 2>&1 && echo g1)"
	if [ -n "${left# }" ]; then
		lab_sync after "left ${left# }" > /dev/null
		fail "after the restart, still here: ${left# }"
	fi
	lab_sync after clean > /dev/null
	pass "the restarted daemon cleaned up in ${i}s"
fi
