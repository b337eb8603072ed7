# xenlab-boot: local
# xenlab-core: yes
# xenlab-timeout: 300
# xenlab-about: xlmig snapshot of the running PVH guest through xlmigd (xen backend), held part-way by a migration of the guest that is then cancelled: the checkpoint goes on here from its partial file (through the filter), the guest runs on, and stock xl restore of the file goes on counting from the checkpoint (snapshot-local and snapshot-held-local, in the full run, add an uninterrupted checkpoint with xlmig inspect, xlmig restore and xl save -c, and one held by a migration that ends)
#
# The core's checkpoint, on the local boot the core already makes: it
# takes over the guest the migrations there left running, and is the last
# scenario of that boot (scenarios run in name order, baselines first), as
# it leaves the guest restored from its checkpoint and then destroyed.
. /lab/lib.sh
need_xlmig xlmigd
FILE=$LAB_RUN/g1.ckpt

checkpoint_held g1 "$FILE" cancel
checkpoint_xl_restore g1 "$FILE"
figure "held_at_bytes=$CKPT_HELD_AT continued_bytes=$CKPT_KEPT bytes_written=$CKPT_WROTE pages_unchanged=$CKPT_SAME file_bytes=$CKPT_BYTES" \
	"counter_before=$CKPT_N0 counter_after=$CKPT_N1 xl_restore_from=$CKPT_XL_FROM xl_restore_ms=$CKPT_XL_MS"
lab_destroy_all
rm -f "$FILE"
pass "held by a cancelled migration, continued: $CKPT_WROTE of $CKPT_BYTES bytes written after the hold ($CKPT_SAME pages kept); xl restore counts on from $CKPT_XL_FROM"
