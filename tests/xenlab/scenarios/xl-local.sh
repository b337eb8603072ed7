# xenlab-boot: local
# xenlab-core: yes
# xenlab-timeout: 150
# xenlab-about: baseline: stock xl migrate of the idle PVH guest to localhost
. /lab/lib.sh
migrate_local xl-xl g1
pass
