# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 180
# xenlab-baseline: xl-local-busy
# xenlab-about: xlmig migrate --auto-converge through xlmigd (xen backend) to localhost, guest dirtying 8 MiB/s over 32 MiB
. /lab/lib.sh
LAB_BASELINE=local-busy
guest_ensure g1
guest_send g1 "dirty 8 32" || fail "cannot reach the guest's console"
sleep 2
# Sender and receiver share dom0's one emulated vCPU, which sends slower
# than this guest dirties: without auto-converge xlmig's policy refuses
# the 13 s downtime that stopping it would take (xl just stops it).
XLMIG_OPTS=--auto-converge migrate_local xlmig-xlmigd g1
guest_send g1 idle
pass
