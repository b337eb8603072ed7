#!/bin/bash
# evacuate.sh - measure what `xlmig evacuate --parallel auto` decides on:
# four guests with different dirtying rates leave host a for host b over a
# tbf-shaped link through `xlmig evacuate`, one at a time, two at a time,
# four at once and auto (its measured order, a heavy dirtier alone).
# Prints one line per guest and one total per run, then a JSON line per
# run.
#
#   bench/evacuate.sh [RATE]      link rate for tc (default 400mbit); needs root
#   PARALLEL="2 auto" bench/evacuate.sh    only these runs
. "$(dirname "$0")/../tests/integration/lib.sh"
LINK=${1:-400mbit}
GUESTS="idle:0 slow:2M mid:8M heavy:24M"

run() { # PARALLEL
	local par=$1 start end name rate job g
	hosts_up
	host_start a -- -j 4 || exit 1
	shape_link "$LINK" || { echo "# cannot shape the link (no network namespaces)"; exit 1; }
	for g in $GUESTS; do
		name=${g%%:*} rate=${g#*:}
		xa create "$name" --memory 128M $([ "$rate" != 0 ] && echo --rate "$rate") \
			--mix zero=10,file=40,random=50 >/dev/null || exit 1
	done
	sleep 1
	start=$(date +%s%N)
	xa evacuate --to "$(addr_b)" --parallel "$par" >"$WORK/evacuate.out" 2>&1
	end=$(date +%s%N)
	sed 's/^/#   /' "$WORK/evacuate.out"
	for g in $GUESTS; do
		name=${g%%:*}
		job=$(sed -n "s/^$name -> .*: migrating (job \([0-9]*\))$/\1/p" "$WORK/evacuate.out")
		[ -n "$job" ] && xa status "$job" --json >"$WORK/$name.json" 2>&1
	done
	local total_ms=$(( (end - start) / 1000000 )) bytes=0 json
	json="{\"parallel\":\"$par\",\"link\":\"$LINK\",\"total_ms\":$total_ms,\"guests\":["
	for g in $GUESTS; do
		name=${g%%:*} rate=${g#*:}
		local f=$WORK/$name.json step dt tt bw
		step=$(jq -r .step "$f" 2>/dev/null); dt=$(jq -r .stats.downtime_ms "$f" 2>/dev/null)
		tt=$(jq -r .stats.total_ms "$f" 2>/dev/null); bw=$(jq -r .stats.bytes_wire "$f" 2>/dev/null)
		printf '# parallel %-4s  %-6s dirty %-4s  %-6s total %6s ms  downtime %5s ms  wire %s MiB\n' \
			"$par" "$name" "$rate" "$step" "$tt" "$dt" "$(( ${bw:-0} / 1048576 ))"
		bytes=$((bytes + ${bw:-0}))
		json+="{\"name\":\"$name\",\"dirty\":\"$rate\",\"step\":\"$step\",\"total_ms\":${tt:-null},\"downtime_ms\":${dt:-null},\"bytes_wire\":${bw:-0}},"
	done
	echo "# parallel $par: all four in $total_ms ms, $(( bytes / 1048576 )) MiB on the wire"
	echo "${json%,}],\"bytes_wire\":$bytes}"
	hosts_down
}

for p in ${PARALLEL:-1 2 4 auto}; do run "$p"; done
