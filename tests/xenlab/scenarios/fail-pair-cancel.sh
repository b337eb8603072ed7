# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 300
# xenlab-about: failure: xlmig cancel mid-stream; the guest runs on at the source, no partial domain on the destination
. /lab/lib.sh
need_xlmig xlmigd
pair_roles g1
xlmigd_start || fail "xlmigd did not start"
if [ $LAB_ROLE = src ]; then
	guest_ensure g1
	lab_sync ready > /dev/null || fail "the destination never got ready"
	XLMIG_OPTS=--detach failing_send_start xlmig-xlmigd g1 "$(lab_peer_ip)"
	timeout 30 sh -c "while kill -0 $FAIL_PID 2>/dev/null; do sleep 0.5; done"
	job=$(grep -o '[0-9][0-9]*' "$LAB_RUN/send.log" | tail -n 1)
	[ -n "$job" ] || fail "xlmig migrate --detach printed no job id: $(cat "$LAB_RUN/send.log")"
	lab_sync streaming > /dev/null || fail "the destination never saw the stream"
	xlmig cancel "$job" || fail "xlmig cancel $job failed"
	timeout 120 sh -c "while xlmig status $job --json 2>&1 | grep -q '\"step\": *\"\(queued\|setup\|precopy\|ready\)\"'; do sleep 1; done" ||
		fail "job $job still running 120 s after the cancel"
	xlmig status "$job" 2>&1 | sed 's/^/status: /'
	xlmig status "$job" --json 2>&1 | grep -q '"step": *"cancelled"' ||
		fail "job $job did not end as cancelled: $(xlmig status "$job" 2>&1 | head -n 1)"
	guest_send g1 idle
	check_stayed g1 "$FAIL_ID" "$FAIL_N0" "$FAIL_BOOT"
	dst=$(lab_sync after) || fail "the destination did not report"
	[ "$dst" = clean ] || fail "the destination says: $dst"
	pass "$LAB_ROLE"
else
	lab_sync ready > /dev/null || fail "the source never came"
	wait_incoming g1 120 || fail "the stream never started"
	sleep 3   # well into the stream
	lab_sync streaming > /dev/null || fail "the source went away"
	i=0
	while [ -n "$(lab_leftovers)$(xl domid g1 2> /dev/null)" ] && [ $i -lt 90 ]; do sleep 1; i=$((i + 1)); done
	left="$(lab_leftovers) $(xl domid g1 > /dev/null 2>&1 && echo g1)"
	if [ -n "${left# }" ]; then
		lab_sync after "left ${left# }" > /dev/null
		fail "still here after the cancel: ${left# }"
	fi
	lab_sync after clean > /dev/null
	pass "$LAB_ROLE"
fi
