# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 200
# xenlab-about: a PVH guest whose kernel crashed (kept by on_crash="preserve") is not taken for running: xlmig list does not call it running, and xlmig migrate and migrate --check refuse it at once, saying so
. /lab/lib.sh
need_xlmig xlmigd
xlmigd_start || fail "xlmigd did not start"
guest_create gcrash pvh || fail "xl create gcrash failed"
guest_wait_n gcrash 2 120 || fail "gcrash never started counting"
guest_send gcrash crash || fail "cannot reach gcrash's console"
i=0
until xl list gcrash 2>/dev/null | awk '$1 == "gcrash" && $5 ~ /c/ { ok = 1 } END { exit !ok }'; do
	i=$((i + 1))
	[ $i -gt 60 ] && fail "gcrash did not crash: $(xl list gcrash 2>&1 | tail -n 1); $(guest_log gcrash | tail -n 2)"
	sleep 0.5
done
lab_log "xl list: $(xl list gcrash | tail -n 1)"
guest_running gcrash && fail "the lab's own guest_running calls the crashed gcrash running"
state=$(xlmig list 2>&1 | awk '$2 == "gcrash" { print $NF }')
lab_log "xlmig list: $(xlmig list 2>&1 | grep gcrash)"
[ -n "$state" ] || fail "xlmig list does not show gcrash: $(xlmig list 2>&1 | tail -n 3)"
[ "$state" != running ] || fail "xlmig list calls the crashed gcrash running"
for check in --check ""; do
	t0=$(now_ms)
	xlmig migrate $check gcrash 127.0.0.1 > "$LAB_RUN/send.log" 2>&1 && fail "xlmig migrate $check of a crashed guest succeeded: $(tail -n 2 "$LAB_RUN/send.log")"
	t1=$(now_ms)
	sed 's/^/sender: /' "$LAB_RUN/send.log"
	grep -q "not running" "$LAB_RUN/send.log" || fail "xlmig migrate $check of a crashed guest did not say it is not running: $(tail -n 2 "$LAB_RUN/send.log")"
	[ $((t1 - t0)) -lt 20000 ] || fail "xlmig migrate $check took $((t1 - t0)) ms to refuse a crashed guest"
done
xlmigd_log_since_last
[ -z "$(lab_leftovers)" ] || fail "left behind: $(lab_leftovers)"
xl destroy gcrash
figure "xlmig_list_state=$state refused_ms=$((t1 - t0))"
pass "xlmig list shows it $state; migrate and --check refuse it"
