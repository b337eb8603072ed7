# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 150
# xenlab-about: baseline: stock xl migrate to localhost, guest dirtying 8 MiB/s over 32 MiB
. /lab/lib.sh
LAB_BASELINE=local-busy
guest_ensure g1
guest_send g1 "dirty 8 32" || fail "cannot reach the guest's console"
sleep 2
migrate_local xl-xl g1
guest_send g1 idle
pass
