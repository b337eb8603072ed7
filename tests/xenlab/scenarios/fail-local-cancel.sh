# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 200
# xenlab-about: failure: xlmig cancel mid-stream; the guest runs on at the source, nothing left behind
. /lab/lib.sh
need_xlmig xlmigd
XLMIG_OPTS=--detach failing_send_start xlmig-xlmigd g1 127.0.0.1
failing_send_finish 30 2> /dev/null || true
job=$(tail -n 1 "$LAB_RUN/send.log")
[ -n "$job" ] || fail "xlmig migrate --detach printed no job id"
wait_incoming g1 60 || fail "the restore never started"
xlmig cancel "$job" || fail "xlmig cancel $job failed"
timeout 120 sh -c "until xlmig status $job 2>&1 | grep -q 'cancel\|rolled\|failed'; do sleep 1; done" ||
	fail "job $job never ended after the cancel: $(xlmig status "$job" 2>&1 | tail -n 1)"
xlmig status "$job" 2>&1 | sed 's/^/status: /'
guest_send g1 idle
sleep 2
check_stayed g1 "$FAIL_ID" "$FAIL_N0" "$FAIL_BOOT"
pass
