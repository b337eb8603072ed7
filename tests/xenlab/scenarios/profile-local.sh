# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 1500
# xenlab-about: where the time goes: stock xl, then xlmig through xlmigd, to localhost, each under perf (when the image has it: XENLAB_PERF=1), with xlmig's job statistics
. /lab/lib.sh
need_xlmig xlmigd
command -v perf > /dev/null || lab_log "no perf in this image (build it with XENLAB_PERF=1): figures only"
xlmigd_start || fail "xlmigd did not start"
lab_profiled xl-xl migrate_local xl-xl g1
lab_profiled xlmig-xlmigd migrate_local xlmig-xlmigd g1
pass "profiled"
