# xenlab-boot: local
# xenlab-core: yes
# xenlab-timeout: 300
# xenlab-about: xlmig snapshot of the running PVH guest through xlmigd (xen backend), held part-way by a migration of the guest that is then cancelled: the checkpoint goes on here from its partial file (through the filter) as a --verify checkpoint, the guest runs on, and stock xl restore -p of the file has the memory digest of the checkpoint's final pause and, unpaused, goes on counting from the checkpoint (snapshot-local and snapshot-held-local, in the full run, add an uninterrupted checkpoint with xlmig inspect, xlmig restore and xl save -c, and one held by a migration that ends)
#
# The core's checkpoint, on the local boot the core already makes: it
# takes over the guest the migrations there left running, and is the last
# scenario of that boot (scenarios run in name order, baselines first), as
# it leaves the guest restored from its checkpoint and then destroyed.
. /lab/lib.sh
need_xlmig xlmigd
FILE=$LAB_RUN/g1.ckpt
# A --verify checkpoint: its digest of the guest's memory at the final
# pause, and the digest of the guest stock xl restore made of the file,
# paused, must be the same.
CKPT_VERIFY=1

checkpoint_held g1 "$FILE" cancel
checkpoint_xl_restore g1 "$FILE"
figure "held_at_bytes=$CKPT_HELD_AT continued_bytes=$CKPT_KEPT bytes_written=$CKPT_WROTE pages_unchanged=$CKPT_SAME file_bytes=$CKPT_BYTES" \
	"counter_before=$CKPT_N0 counter_after=$CKPT_N1 xl_restore_from=$CKPT_XL_FROM xl_restore_ms=$CKPT_XL_MS" \
	"verify_pause_ms=${CKPT_PAUSE:-?} restored_digest_ms=$CKPT_XL_DIGEST_MS digest=$(echo "$CKPT_DIGEST" | cut -c1-16)"
lab_destroy_all
rm -f "$FILE"
pass "held by a cancelled migration, continued: $CKPT_WROTE of $CKPT_BYTES bytes written after the hold ($CKPT_SAME pages kept); the guest xl restored has the memory digest of the final pause (${CKPT_PAUSE:-?} ms with the digest) and counts on from $CKPT_XL_FROM"
