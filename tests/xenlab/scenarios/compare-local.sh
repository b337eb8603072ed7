# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 1800
# xenlab-about: stock xl against xlmig (through xlmigd) to localhost, idle guest, alternating on the same boot, 3 moves each: medians, ratios, and the target (time <= 0.8x xl's, downtime <= xl's)
. /lab/lib.sh
compare_run local
