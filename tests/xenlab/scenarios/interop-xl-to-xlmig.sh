# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 150
# xenlab-about: interop: stock xl migrate to xlmig migrate-receive
. /lab/lib.sh
migrate_local xl-xlmig g1
pass
