# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 2400
# xenlab-about: stock xl against xlmig (through xlmigd, TLS) between two hosts, idle guest, alternating on the same boot, 3 moves each, each way in turn: medians, ratios, and the target (time <= 0.8x xl's, downtime <= xl's)
. /lab/lib.sh
need_xlmig xlmigd
xlmigd_start || fail "xlmigd did not start"
rm -f "$LAB_RUN"/compare.*
i=0
while [ $i -lt $((2 * LAB_COMPARE_MOVES)) ]; do
	m=$(compare_method $i)
	lab_log "move $((i + 1)) of $((2 * LAB_COMPARE_MOVES)): $m"
	pair_move "$m" g1
	compare_add_pair "$m"
	i=$((i + 1))
done
compare_verdict
