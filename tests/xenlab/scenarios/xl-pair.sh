# xenlab-boot: pair
# xenlab-core: yes
# xenlab-timeout: 200
# xenlab-about: baseline: stock xl migrate of the idle PVH guest between two Xen hosts
. /lab/lib.sh
migrate_pair xl-xl g1
