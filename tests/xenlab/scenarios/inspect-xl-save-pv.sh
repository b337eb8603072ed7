# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 200
# xenlab-about: xlmig inspect on a stock `xl save` file of a PV guest; --rewrite gives identical bytes (cmp)
. /lab/lib.sh
need_xlmig xlmig
# Under the emulator a PV guest next to the PV dom0 has been seen to
# corrupt dom0 processes' TLS (segfaults in busybox): keep it short-lived.
guest_create gpv pv || fail "xl create of the PV guest failed"
guest_wait_n gpv 2 120 || { xl destroy gpv; fail "the PV guest never started counting"; }
xl save gpv "$LAB_RUN/gpv.save" || fail "xl save gpv failed"
inspect_save_file "$LAB_RUN/gpv.save" gpv PV
pass
