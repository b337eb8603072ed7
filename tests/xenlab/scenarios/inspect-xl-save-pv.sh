# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 200
# xenlab-about: xlmig inspect on a stock `xl save` file of a PV guest; --rewrite gives identical bytes (cmp); a PV guest has no memory digest: xlmig list --digest and a --verify checkpoint refuse it, saying why, the guest running on
. /lab/lib.sh
need_xlmig xlmig
# Under the emulator a PV guest next to the PV dom0 has been seen to
# corrupt dom0 processes' TLS (segfaults in busybox): keep it short-lived.
guest_create gpv pv || fail "xl create of the PV guest failed"
guest_wait_n gpv 2 120 || { xl destroy gpv; fail "the PV guest never started counting"; }
# A PV guest has no memory digest (xen_memdigest.h): asked for one, xlmig
# says so, and a --verify checkpoint is refused before it writes a byte.
if xlmig_built xlmigd; then
	xlmigd_start || { xl destroy gpv; fail "xlmigd did not start"; }
	out=$(xlmig list gpv --digest 2>&1) && { xl destroy gpv; fail "xlmig list gpv --digest gave a digest of a PV guest: $out"; }
	echo "$out" | grep -q "is PV" || { xl destroy gpv; fail "xlmig list gpv --digest did not say why: $out"; }
	out=$(xlmig snapshot gpv "$LAB_RUN/gpv.ckpt" --verify 2>&1) && { xl destroy gpv; fail "a --verify checkpoint of a PV guest succeeded: $out"; }
	echo "$out" | grep -q "is PV" || { xl destroy gpv; fail "the --verify checkpoint of a PV guest did not say why: $out"; }
	[ -e "$LAB_RUN/gpv.ckpt" ] || [ -e "$LAB_RUN/gpv.ckpt.xlmig-partial" ] && { xl destroy gpv; fail "the refused checkpoint left a file"; }
	guest_running gpv || fail "the PV guest does not run after the refusals"
	lab_log "PV guest: digest and --verify checkpoint refused ($out)"
fi
xl save gpv "$LAB_RUN/gpv.save" || fail "xl save gpv failed"
inspect_save_file "$LAB_RUN/gpv.save" gpv PV
pass
