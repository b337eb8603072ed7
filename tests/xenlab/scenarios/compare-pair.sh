# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 2400
# xenlab-about: stock xl against xlmig (through xlmigd, TLS) between two hosts, idle guest, alternating on the same boot, 3 moves each, each way in turn: medians, ratios, and the target (time <= 0.8x xl's, downtime <= xl's)
. /lab/lib.sh
compare_run pair
