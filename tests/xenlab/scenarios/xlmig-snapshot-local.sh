# xenlab-boot: local
# xenlab-core: yes
# xenlab-timeout: 240
# xenlab-about: xlmig snapshot of the running PVH guest through xlmigd (xen backend): the guest runs on, and stock xl restore of the file goes on counting from the checkpoint (snapshot-local, in the full run, adds xlmig inspect, xlmig restore and xl save -c)
#
# The core's checkpoint, on the local boot the core already makes: it
# takes over the guest the migrations there left running, and is the last
# scenario of that boot (scenarios run in name order, baselines first), as
# it leaves the guest restored from its checkpoint and then destroyed.
. /lab/lib.sh
need_xlmig xlmigd
FILE=$LAB_RUN/g1.ckpt

checkpoint_take g1 "$FILE"
checkpoint_xl_restore g1 "$FILE"
figure "snapshot_ms=$CKPT_MS pause_ms=${CKPT_PAUSE:-?} guest_gap_ms=$CKPT_GAP passes=${CKPT_PASSES:-?} file_bytes=$CKPT_BYTES" \
	"counter_before=$CKPT_N0 counter_after=$CKPT_N1 xl_restore_from=$CKPT_XL_FROM xl_restore_ms=$CKPT_XL_MS" \
	"checkpoint_ticks=$(echo $CKPT_TICKS | tr ' ' ,)"
lab_destroy_all
rm -f "$FILE"
pass "checkpoint $CKPT_BYTES bytes, guest paused ${CKPT_PAUSE:-?} ms (it saw $CKPT_GAP ms), restored by stock xl restore from counter $CKPT_XL_FROM"
