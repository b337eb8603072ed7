# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 240
# xenlab-about: the xen backend's dirty_rate (Xen's log-dirty mode, 500 ms, as xlmig migrate --check and evacuate measure it) on the PVH guest idle and asked to dirty 4 and 16 MiB/s: each figure within what the guest says it wrote meanwhile (half the least to 1.25x the most, plus 1 MiB/s of its own), an idle guest under 1 MiB/s
. /lab/lib.sh
need_xlmig xlmigd

# measure: R = the rate --check reports, in bytes a second; LO and HI =
# the least and the most the guest wrote a second (its "wrote=" pages) in
# the lines it printed from the check's start to a second after its end.
measure() {
	local lines
	lines=$(guest_log g1 | wc -l)
	xlmig migrate --check --json g1 127.0.0.1 > "$LAB_RUN/check.json" 2>&1 ||
		fail "xlmig migrate --check g1 127.0.0.1 failed: $(tail -c 300 "$LAB_RUN/check.json")"
	R=$(sed -n 's/.*"dirty_rate_bps":\([0-9]*\).*/\1/p' "$LAB_RUN/check.json")
	[ -n "$R" ] || { xlmigd_log_since_last; fail "--check reported no dirty rate: $(tail -c 300 "$LAB_RUN/check.json")"; }
	sleep 1.5
	set -- $(guest_log g1 | tail -n +$((lines + 1)) | tr -d '\r' | sed -n 's/^XLG n=.* wrote=\([0-9]*\)$/\1/p' |
		sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%d %d", lo * 4096, hi * 4096 }')
	LO=${1:-0}
	HI=${2:-0}
}

mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

# plausible R LO HI: half of LO MiB/s <= R <= 1.25 HI + 1 MiB/s
plausible() {
	awk -v r="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(r >= lo / 2 && r <= hi * 1.25 + 1048576) }'
}

xlmigd_start || fail "xlmigd did not start"
guest_ensure g1
guest_send g1 idle
sleep 2
measure
idle=$R
lab_log "idle: measured $(mib "$idle") MiB/s"
out="idle_bps=$idle"
for rate in 4 16; do
	guest_send g1 "dirty $rate 32" || fail "cannot reach the guest's console"
	# The buffer is touched whole when the dirtier starts: let that pass.
	sleep 4
	guest_log g1 | grep -q "^XLG dirtying rate=$rate wss=32" ||
		fail "the guest did not start dirtying $rate MiB/s: $(guest_log g1 | tail -n 2)"
	guest_running g1 || fail "g1 stopped while dirtying: $(xl list g1 | tail -n 1)"
	measure
	guest_running g1 || fail "g1 stopped after its dirty rate was measured: $(xl list g1 | tail -n 1)"
	lab_log "asked to dirty $rate MiB/s over 32 MiB: measured $(mib "$R") MiB/s, the guest wrote $(mib "$LO") to $(mib "$HI") MiB/s meanwhile"
	out="$out dirty${rate}_bps=$R dirty${rate}_mib_s=$(mib "$R") wrote${rate}_mib_s=$(mib "$LO")-$(mib "$HI")"
	plausible "$R" "$LO" "$HI" ||
		fail "asked to dirty $rate MiB/s, the guest wrote $(mib "$LO") to $(mib "$HI") MiB/s while xlmig measured $(mib "$R") MiB/s"
	[ "$HI" -gt 0 ] || fail "the guest reports no pages written while asked to dirty $rate MiB/s"
done
guest_send g1 idle
figure "$out idle_mib_s=$(mib "$idle")"
[ "$idle" -le 1048576 ] || fail "an idle guest measured $(mib "$idle") MiB/s (over 1)"
pass "idle $(mib "$idle") MiB/s; each busy figure within what the guest wrote"
