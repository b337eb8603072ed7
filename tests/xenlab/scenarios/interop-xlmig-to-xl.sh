# xenlab-boot: local
# xenlab-core: yes
# xenlab-timeout: 150
# xenlab-baseline: xl-local
# xenlab-about: interop: xlmig migrate (xl protocol) to a stock xl migrate-receive
. /lab/lib.sh
migrate_local xlmig-xl g1
pass
