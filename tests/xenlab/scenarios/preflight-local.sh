# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 200
# xenlab-about: xlmig preflight of live guests (CPU featureset, Xen version, memory, bridge) checked against this host; impossible facts refused, each named
. /lab/lib.sh
need_xlmig xlmig
guest_ensure g1
xlmig preflight g1 > "$LAB_RUN/facts.json" 2> "$LAB_RUN/pf.err" || fail "xlmig preflight g1: $(cat "$LAB_RUN/pf.err")"
lab_log "facts: $(cat "$LAB_RUN/facts.json")"
cat "$LAB_RUN/pf.err"
grep -q '"cpu_featureset":\[' "$LAB_RUN/facts.json" || fail "no CPU featureset in the facts"
grep -q '"xen_major":4,"xen_minor":17' "$LAB_RUN/facts.json" || fail "no Xen 4.17 in the facts"
xlmig preflight --check "$LAB_RUN/facts.json" || fail "the guest's own host refused it"
# Too much memory, a disk that does not exist, a bridge that does not:
# three failures, all to be reported.
sed 's/"need_bytes":[0-9]*/"need_bytes":1099511627776000/; s/"disks":\[\]/"disks":["\/nonexistent\/disk.img"]/; s/"bridges":\[\]/"bridges":["xenbr9"]/' \
	"$LAB_RUN/facts.json" > "$LAB_RUN/bad.json"
xlmig preflight --check "$LAB_RUN/bad.json" 2> "$LAB_RUN/bad.err" && fail "impossible facts accepted"
cat "$LAB_RUN/bad.err"
grep -q "3 preflight check(s) failed" "$LAB_RUN/bad.err" || fail "not every failure named: $(cat "$LAB_RUN/bad.err")"

# A guest with a vif on a bridge.  Disks are left to the unit tests: the
# lab's dom0 has no working block hotplug (the script times out).
ip link add xenbr0 type bridge && ip link set xenbr0 up || fail "cannot make the bridge xenbr0"
guest_create pf1 pvh "vif = [ \"bridge=xenbr0\" ]" || fail "xl create of a guest with a vif failed"
xlmig preflight pf1 > "$LAB_RUN/pf1.json" || fail "xlmig preflight pf1 failed"
lab_log "facts: $(cat "$LAB_RUN/pf1.json")"
grep -q '"bridges":\["xenbr0"\]' "$LAB_RUN/pf1.json" || fail "the bridge is not in the facts"
xlmig preflight --check - < "$LAB_RUN/pf1.json" || fail "pf1's own host refused it (facts on stdin)"
xl destroy pf1
ip link del xenbr0
xlmig preflight --check "$LAB_RUN/pf1.json" 2> "$LAB_RUN/pf1.err" && fail "a missing bridge was not noticed"
cat "$LAB_RUN/pf1.err"
grep -q "bridge xenbr0 does not exist" "$LAB_RUN/pf1.err" || fail "the missing bridge is not named: $(cat "$LAB_RUN/pf1.err")"
pass
