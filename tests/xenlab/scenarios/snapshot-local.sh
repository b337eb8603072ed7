# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 480
# xenlab-about: xlmig snapshot of a running PVH guest through xlmigd (xen backend): the guest runs on; the file read by xlmig inspect and restored by stock xl restore and by xlmig restore --name goes on counting from the checkpoint; stock xl save -c of the same guest for comparison
. /lab/lib.sh
need_xlmig xlmigd
FILE=$LAB_RUN/g1.ckpt

checkpoint_take g1 "$FILE"
xlmig inspect "$FILE" > "$LAB_RUN/inspect.txt" 2>&1 || fail "xlmig inspect of the checkpoint failed: $(tail -n 1 "$LAB_RUN/inspect.txt")"
grep -q "^domain: *name g1," "$LAB_RUN/inspect.txt" || fail "inspect did not find domain g1 in the checkpoint: $(head -n 3 "$LAB_RUN/inspect.txt")"

# Stock xl save -c of the same guest, for the figures (not live: the
# guest is paused for the whole save).
n2=$(guest_last_n g1)
x0=$(now_ms)
LAB_STOCK_XL=1
xl save -c g1 "$LAB_RUN/g1.xlsave" > "$LAB_RUN/xlsave.log" 2>&1 || fail "xl save -c g1 failed: $(tail -n 1 "$LAB_RUN/xlsave.log")"
LAB_STOCK_XL=0
x1=$(now_ms)
guest_wait_n g1 $(($(guest_last_n g1) + 2)) 30 || fail "g1 did not go on after xl save -c"
xgap=$(guest_max_gap g1 "$CKPT_BOOT" "$n2" "$(guest_last_n g1)")
xsize=$(wc -c < "$LAB_RUN/g1.xlsave")
rm -f "$LAB_RUN/g1.xlsave"

# Stock xl restore, the original gone first (same name).
checkpoint_xl_restore g1 "$FILE"

# xlmig restore under a new name, beside the one xl restored.
r2=$(now_ms)
xlmig restore "$FILE" --name g1c > "$LAB_RUN/restore.log" 2>&1
rc=$?
r3=$(now_ms)
sed 's/^/restore: /' "$LAB_RUN/restore.log"
xlmigd_log_since_last
[ $rc = 0 ] || fail "xlmig restore --name g1c exited $rc: $(tail -n 1 "$LAB_RUN/restore.log")"
guest_running g1c || fail "g1c restored by xlmig restore is not running ($(xl list g1c 2>&1 | tail -n 1))"
restored_from g1c 0 "$CKPT_BOOT" "$CKPT_N0" "$CKPT_N1" "$CKPT_TICKS"
xlmig_first=$FIRST

figure "snapshot_ms=$CKPT_MS pause_ms=${CKPT_PAUSE:-?} guest_gap_ms=$CKPT_GAP passes=${CKPT_PASSES:-?} file_bytes=$CKPT_BYTES" \
	"xl_save_c_ms=$((x1 - x0)) xl_guest_gap_ms=$xgap xl_file_bytes=$xsize" \
	"counter_before=$CKPT_N0 counter_after=$CKPT_N1 xl_restore_from=$CKPT_XL_FROM xl_restore_ms=$CKPT_XL_MS" \
	"xlmig_restore_from=$xlmig_first xlmig_restore_ms=$((r3 - r2)) checkpoint_ticks=$(echo $CKPT_TICKS | tr ' ' ,)"
lab_destroy_all
rm -f "$FILE"
pass "checkpoint $CKPT_BYTES bytes, guest paused ${CKPT_PAUSE:-?} ms (it saw $CKPT_GAP ms); xl save -c $xsize bytes, guest stopped $xgap ms"
