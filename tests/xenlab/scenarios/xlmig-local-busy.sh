# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 180
# xenlab-about: xlmig migrate through xlmigd (xen backend) to localhost, guest dirtying 8 MiB/s over 32 MiB
. /lab/lib.sh
guest_ensure g1
guest_send g1 "dirty 8 32" || fail "cannot reach the guest's console"
sleep 2
migrate_local xlmig-xlmigd g1
guest_send g1 idle
pass
