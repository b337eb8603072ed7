# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 400
# xenlab-baseline: xl-local
# xenlab-about: xlmig migrate --plain to xlmig migrate-receive on localhost, three times: libxl's save (--policy xen), the native save, -C with an xl-format config
. /lab/lib.sh
need_xlmig xlmig
lab_log "move 1: --policy xen (libxl_domain_suspend)"
XLMIG_OPTS="--policy xen" migrate_local xlmig-xlmig g1
lab_log "move 2: the default policy (native xc_domain_save)"
XLMIG_OPTS="" migrate_local xlmig-xlmig g1
grep -q "native save" "$LAB_RUN/send.log" || fail "the PVH guest did not get the native save: $(send_error)"
lab_log "move 3: -C $LAB_RUN/g1.cfg (xl format)"
XLMIG_OPTS="-C $LAB_RUN/g1.cfg" migrate_local xlmig-xlmig g1
grep -q "xl format" "$LAB_RUN/send.log" || fail "the xl-format config was not converted (no note in the sender's log)"
pass
