# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 200
# xenlab-about: failure: xlmig migrate-receive killed mid-stream; the guest runs on at the source, nothing left behind
. /lab/lib.sh
need_xlmig xlmig
method_receiver_start xl-xlmig
failing_send_start xlmig-xlmig g1 127.0.0.1
wait_incoming g1 60 || fail "the restore never started"
kill -9 "$(pidof xlmig | tr ' ' '\n' | while read -r p; do grep -q migrate-receive /proc/$p/cmdline && echo $p; done | head -n 1)"
failing_send_finish 120
guest_send g1 idle
sleep 2
check_stayed g1 "$FAIL_ID" "$FAIL_N0" "$FAIL_BOOT"
pass
