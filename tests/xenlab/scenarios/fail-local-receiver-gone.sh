# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 300
# xenlab-about: failure: native save, then the receiver's answer never comes ("ready" lost): the suspended guest is resumed at the source
. /lab/lib.sh
need_xlmig xlmig
guest_ensure g1
# The receiver restores the whole stream, but only its banner (xl's
# 54-byte migrate-receive banner) reaches the sender through head, so
# "ready" never does; socat -t keeps the stream flowing after head is gone.
socat -t 600 -b 262144 TCP-LISTEN:$LAB_XL_PORT,reuseaddr \
	SYSTEM:'xlmig migrate-receive | head -c 54' > "$LAB_RUN/receiver.log" 2>&1 &
echo $! > "$LAB_RUN/receiver.pid"
FAIL_ID=$(xl domid g1)
FAIL_N0=$(guest_last_n g1)
FAIL_BOOT=$(guest_boot_id g1)
rm -f "$LAB_RUN/send.rc"
( method_send xlmig-xlmig g1 127.0.0.1; echo $? > "$LAB_RUN/send.rc" ) &
FAIL_PID=$!
failing_send_finish 240
method_receiver_wait 30 || lab_log "receiver did not finish"
grep -q "native save" "$LAB_RUN/send.log" || fail "not the native save: $(send_error)"
grep -q "Resumed OK" "$LAB_RUN/send.log" || fail "the sender did not resume its guest: $(send_error)"
check_stayed g1 "$FAIL_ID" "$FAIL_N0" "$FAIL_BOOT"
pass
