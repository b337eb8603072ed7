# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 1800
# xenlab-about: stock xl against xlmig (through xlmigd) to localhost, idle guest, alternating on the same boot, 3 moves each: medians, ratios, and the target (time <= 0.8x xl's, downtime <= xl's)
. /lab/lib.sh
need_xlmig xlmigd
xlmigd_start || fail "xlmigd did not start"
rm -f "$LAB_RUN"/compare.*
i=0
while [ $i -lt $((2 * LAB_COMPARE_MOVES)) ]; do
	m=$(compare_method $i)
	lab_log "move $((i + 1)) of $((2 * LAB_COMPARE_MOVES)): $m"
	migrate_local "$m" g1
	compare_add "$m"
	i=$((i + 1))
done
compare_verdict
