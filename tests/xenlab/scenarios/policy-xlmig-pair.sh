# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 360
# xenlab-about: xlmig's pre-copy policy (native save, 300 ms target, auto-converge) through xlmigd, guest dirtying 12 MiB/s over 48 MiB; compare with policy-xen-pair
. /lab/lib.sh
LAB_BASELINE=pair-policy   # no stock xl scenario runs this load: the bound is the lab ceiling
need_xlmig xlmigd
LAB_GUEST_BUSY="dirty 12 48"
XLMIG_OPTS="--policy xlmig --downtime 300 --auto-converge"
migrate_pair xlmig-xlmigd g1
