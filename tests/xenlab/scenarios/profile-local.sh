# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 1500
# xenlab-about: where the time goes: stock xl, then xlmig through xlmigd, to localhost, each under perf (when the image has it: XENLAB_PERF=1), with xlmig's job statistics
. /lab/lib.sh
need_xlmig xlmigd
command -v perf > /dev/null || lab_log "no perf in this image (build it with XENLAB_PERF=1): figures only"

# profiled METHOD: one local migration, sampled system-wide; the report
# goes to the console, also when the move failed its checks (a slow move
# is the one whose profile is wanted): its verdict is printed first, and
# the scenario ends after the report.
profiled() {
	local pid= rc=0
	if command -v perf > /dev/null; then
		perf record -a -g -e cpu-clock -F 100 -o "$LAB_RUN/perf.$1.data" > "$LAB_RUN/perf.log" 2>&1 &
		pid=$!
		sleep 1
	fi
	( migrate_local "$1" g1 ) || rc=$?
	if [ -n "$pid" ]; then
		kill -INT "$pid"
		wait "$pid" 2>/dev/null
		echo "--- perf $1: by program and object"
		perf report -i "$LAB_RUN/perf.$1.data" --stdio --no-children -q -g none --sort comm,dso 2>/dev/null | grep -v '^$' | head -n 30
		echo "--- perf $1: by symbol"
		perf report -i "$LAB_RUN/perf.$1.data" --stdio --no-children -q -g none --sort comm,sym 2>/dev/null | grep -v '^$' | head -n 60
		echo "--- perf $1: xlmigd by symbol"
		perf report -i "$LAB_RUN/perf.$1.data" --stdio --no-children -q --comm xlmigd -g none --sort dso,sym 2>/dev/null | grep -v '^$' | head -n 40
		echo "--- perf $1: the hottest call chains (callee first)"
		perf report -i "$LAB_RUN/perf.$1.data" --stdio --no-children -q --sort comm,sym \
			-g folded,0.5,callee,function,percent 2>/dev/null | grep -v '^$' | cut -c1-400 | head -n 100
	fi
	[ $rc = 0 ] || exit $rc
}

xlmigd_start || fail "xlmigd did not start"
profiled xl-xl
profiled xlmig-xlmigd
pass "profiled"
