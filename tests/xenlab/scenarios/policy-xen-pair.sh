# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 360
# xenlab-about: Xen's default pre-copy policy (libxl save) through xlmigd, guest dirtying 12 MiB/s over 48 MiB; compare with policy-xlmig-pair
. /lab/lib.sh
LAB_BASELINE=pair-policy   # no stock xl scenario runs this load: the bound is the lab ceiling
need_xlmig xlmigd
LAB_GUEST_BUSY="dirty 12 48"
XLMIG_OPTS="--policy xen"
migrate_pair xlmig-xlmigd g1
