# xenlab-boot: local
# xenlab-core: yes
# xenlab-timeout: 200
# xenlab-about: xlmig inspect on a stock `xl save -c` file of the PVH guest; --rewrite gives identical bytes (cmp)
. /lab/lib.sh
need_xlmig xlmig
guest_ensure g1
xl save -c g1 "$LAB_RUN/g1.save" || fail "xl save -c g1 failed"
guest_wait_n g1 $(($(guest_last_n g1) + 2)) 30 || fail "g1 did not go on after xl save -c"
inspect_save_file "$LAB_RUN/g1.save" g1 HVM
pass
