# xenlab-boot: local
# xenlab-core: yes
# xenlab-timeout: 150
# xenlab-baseline: xl-local
# xenlab-about: interop: stock xl migrate to xlmig migrate-receive
. /lab/lib.sh
migrate_local xl-xlmig g1
pass
