# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 240
# xenlab-baseline: xl-pair-busy
# xenlab-about: xlmig migrate through xlmigd between two Xen hosts, guest dirtying 8 MiB/s over 32 MiB
. /lab/lib.sh
LAB_GUEST_BUSY="dirty 8 32" migrate_pair xlmig-xlmigd g1
