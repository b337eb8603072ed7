# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 420
# xenlab-about: pre-copy policy on real Xen, guest dirtying 12 MiB/s over 48 MiB: Xen's default (libxl save) vs xlmig's (native save), both through xlmigd
. /lab/lib.sh
need_xlmig xlmigd
LAB_GUEST_BUSY="dirty 12 48"
XLMIG_OPTS="--policy xen" LAB_MOVE_LABEL=xen-policy pair_move xlmig-xlmigd g1
XLMIG_OPTS="--policy xlmig --downtime 300 --auto-converge" LAB_MOVE_LABEL=xlmig-policy pair_move xlmig-xlmigd g1
pass "$LAB_ROLE"
