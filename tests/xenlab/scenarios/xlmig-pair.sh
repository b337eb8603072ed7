# xenlab-boot: pair
# xenlab-core: yes
# xenlab-timeout: 240
# xenlab-baseline: xl-pair
# xenlab-about: xlmig migrate through xlmigd between two Xen hosts, guest idle
. /lab/lib.sh
migrate_pair xlmig-xlmigd g1
