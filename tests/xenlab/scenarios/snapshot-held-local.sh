# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 600
# xenlab-about: a checkpoint of a running PVH guest held by a local migration of the guest, then continued after it through the filter (the xen backend's save cannot skip pages): it keeps what the partial file held and writes less than a checkpoint started over; stock xl restore of the file counts on from the checkpoint
. /lab/lib.sh
need_xlmig xlmigd
FILE=$LAB_RUN/g1.ckpt
OVER=$LAB_RUN/g1-over.ckpt

checkpoint_held g1 "$FILE" migrate

# The same guest checkpointed from nothing: what starting over writes.
xlmig snapshot g1 "$OVER" --json > "$LAB_RUN/over.json" 2>&1 || fail "the fresh checkpoint failed: $(cat "$LAB_RUN/over.json")"
over=$(sed -n 's/.*"bytes_written": *\([0-9]*\).*/\1/p' "$LAB_RUN/over.json")
rm -f "$OVER"
[ "$CKPT_WROTE" -lt "${over:-0}" ] ||
	fail "continued, the checkpoint wrote $CKPT_WROTE bytes; started over, $over"

checkpoint_xl_restore g1 "$FILE"
figure "held_at_bytes=$CKPT_HELD_AT continued_bytes=$CKPT_KEPT bytes_written=$CKPT_WROTE pages_unchanged=$CKPT_SAME" \
	"started_over_bytes=$over file_bytes=$CKPT_BYTES restored_from=$CKPT_XL_FROM span=$CKPT_N0-$CKPT_N1"
lab_destroy_all
rm -f "$FILE"
pass "continued after the hold: $CKPT_WROTE bytes written ($CKPT_SAME pages kept from the partial file) against $over started over; xl restore counts on from $CKPT_XL_FROM"
