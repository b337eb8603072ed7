# xenlab-boot: local
# xenlab-core: yes
# xenlab-timeout: 180
# xenlab-baseline: xl-local
# xenlab-about: xlmig migrate through xlmigd (xen backend) to localhost, guest idle
. /lab/lib.sh
migrate_local xlmig-xlmigd g1
pass
