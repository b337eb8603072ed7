# xenlab-boot: pair
# xenlab-core: yes
# xenlab-timeout: 300
# xenlab-about: failure: the source xlmigd SIGKILLed during pre-copy; the guest runs on at the source (it lives in the hypervisor), the restarted daemon reports the job rolled back, exactly one guest runs
. /lab/lib.sh
need_xlmig xlmigd
pair_roles g1
xlmigd_start || fail "xlmigd did not start"

# job_step JOB: the step xlmig status reports for JOB on this host.
job_step() {
	xlmig status "$1" --json 2>/dev/null | sed -n 's/.*"step": *"\([a-z]*\)".*/\1/p' | head -n 1
}

if [ $LAB_ROLE = src ]; then
	guest_ensure g1
	lab_sync ready > /dev/null || fail "the destination never got ready"
	XLMIG_OPTS=--detach failing_send_start xlmig-xlmigd g1 "$(lab_peer_ip)"
	timeout 30 sh -c "while kill -0 $FAIL_PID 2>/dev/null; do sleep 0.5; done"
	job=$(grep -o '[0-9][0-9]*' "$LAB_RUN/send.log" | tail -n 1)
	[ -n "$job" ] || fail "xlmig migrate --detach printed no job id: $(cat "$LAB_RUN/send.log")"
	i=0
	while [ "$(job_step "$job")" != precopy ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i + 1)); done
	[ "$(job_step "$job")" = precopy ] || fail "job $job never reached pre-copy (at '$(job_step "$job")')"
	lab_sync streaming > /dev/null || fail "the destination never saw the stream"
	[ "$(job_step "$job")" = precopy ] || fail "job $job left pre-copy before the kill (at '$(job_step "$job")')"
	kill -9 "$(cat "$LAB_RUN/xlmigd.pid")"
	rm -f "$LAB_RUN/xlmigd.pid"
	lab_log "source xlmigd SIGKILLed during pre-copy of g1 (job $job)"
	# The guest lives in the hypervisor: it runs on without its toolstack.
	n=$(guest_last_n g1)
	guest_running g1 || fail "g1 does not run after the source xlmigd died ($(xl list g1 | tail -n 1))"
	guest_wait_n g1 $((n + 2)) 30 || fail "g1 stopped counting at $(guest_last_n g1) after the source xlmigd died"
	# Recovery comes before serving and is bounded by xlmigd itself; a
	# minute is far more than it needs here.
	XLMIGD_START_TRIES=240 xlmigd_start || { xlmigd_log_since_last; fail "xlmigd did not serve within 60 s of its restart"; }
	xlmigd_log_since_last
	step=$(job_step "$job")
	[ "$step" = failed ] || fail "after the restart job $job is '$step', not failed (rolled back)"
	msg=$(xlmig status "$job" 2>&1 | head -n 3)
	lab_log "job $job after the restart: $msg"
	echo "$msg" | grep -q "rolled back" || fail "the restarted daemon does not say job $job was rolled back: $msg"
	guest_send g1 idle
	check_stayed g1 "$FAIL_ID" "$FAIL_N0" "$FAIL_BOOT"
	dst=$(lab_sync after) || fail "the destination did not report"
	[ "$dst" = clean ] || fail "the destination says: $dst"
	pass "job $job rolled back after the restart; g1 runs on the source only"
else
	lab_sync ready > /dev/null || fail "the source never came"
	wait_incoming g1 120 || { lab_sync streaming > /dev/null; lab_sync after "no incoming domain seen" > /dev/null; fail "the stream never started"; }
	lab_sync streaming > /dev/null || fail "the source went away"
	# The source's death ends the stream: this host's job fails and its
	# partial domain goes, without any restart here.
	i=0
	while [ -n "$(lab_leftovers)$(xl domid g1 2> /dev/null)" ] && [ $i -lt 90 ]; do sleep 1; i=$((i + 1)); done
	left="$(lab_leftovers) $(xl domid g1 > /dev/null 2>&1 && echo g1)"
	xlmigd_log_since_last
	if [ -n "${left# }" ]; then
		lab_sync after "left ${left# }" > /dev/null
		fail "after the source died, still here: ${left# }"
	fi
	lab_sync after clean > /dev/null
	pass "the partial domain was gone ${i}s after the source died"
fi
