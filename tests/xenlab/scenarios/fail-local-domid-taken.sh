# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 200
# xenlab-about: failure: xlmig migrate --plain -D to this same host, where the domid is taken: the receiver refuses, the guest runs on at the source
. /lab/lib.sh
need_xlmig xlmig
guest_ensure g1
method_receiver_start xlmig-xlmig
XLMIG_OPTS=-D failing_send_start xlmig-xlmig g1 127.0.0.1
failing_send_finish 60
method_receiver_wait 30 || lab_log "receiver did not finish"
grep -q "asked for" "$LAB_RUN/receiver.log" || fail "the receiver did not say the domid was asked for: $(tail -n 1 "$LAB_RUN/receiver.log")"
guest_send g1 idle
check_stayed g1 "$FAIL_ID" "$FAIL_N0" "$FAIL_BOOT"
pass
