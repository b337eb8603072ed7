# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 480
# xenlab-about: xlmig snapshot of a running PVH guest through xlmigd (xen backend): the guest runs on; the file restored by stock xl restore and by xlmig restore --name goes on counting from the checkpoint; stock xl save -c of the same guest for comparison
. /lab/lib.sh
need_xlmig xlmigd
FILE=$LAB_RUN/g1.ckpt

# The ticks at which guest NAME of boot BOOT reported a pause, counter
# FROM to TO: the checkpoint's is one of them.
pause_ticks() { # name boot from to
	guest_log "$1" | sed -n "s/^XLG gap n=\([0-9]*\) boot=$2 .*/\1/p" |
		awk -v from="$3" -v to="$4" '$1 >= from && $1 <= to { printf "%s ", $1 }'
}

# restored_from NAME LINES BOOT FROM TO TICKS: after its first LINES
# lines, NAME's console shows the counter of boot BOOT going on from a
# value in [FROM, TO + 1], then passing it by 2, and its first pause (the
# time since the checkpoint) at one of TICKS, where the original paused
# during the checkpoint: restored from the checkpoint's instant, not
# rebooted, and running.  FIRST = that first value.
restored_from() {
	local end=$(($(now_ms) + 60000)) first="" last="" tick
	while [ "$(now_ms)" -lt $end ]; do
		first=$(guest_log "$1" | tail -n +$(($2 + 1)) | sed -n "s/^XLG n=\([0-9]*\) boot=$3 .*/\1/p" | head -n 1)
		last=$(guest_log "$1" | tail -n +$(($2 + 1)) | sed -n "s/^XLG n=\([0-9]*\) boot=$3 .*/\1/p" | tail -n 1)
		[ -n "$first" ] && [ "$last" -ge $((first + 2)) ] && break
		sleep 0.5
	done
	guest_log "$1" | tail -n +$(($2 + 1)) | head -n 6 | sed "s/^/$1 restored: /"
	[ -n "$first" ] || fail "$1 restored from the checkpoint never counted in boot $3 (rebooted or stuck: $(guest_log "$1" | tail -n 1))"
	[ "$last" -ge $((first + 2)) ] || fail "$1 restored from the checkpoint stopped counting at $last"
	[ "$first" -ge "$4" ] && [ "$first" -le $(($5 + 1)) ] ||
		fail "$1 restored from the checkpoint counts from $first, not from the checkpoint's value ($4 to $5)"
	tick=$(guest_log "$1" | tail -n +$(($2 + 1)) | sed -n "s/^XLG gap n=\([0-9]*\) boot=$3 .*/\1/p" | head -n 1)
	case " $6 " in
	*" $tick "*) ;;
	*) fail "$1 restored from the checkpoint first paused at tick ${tick:-none}, the original at ${6:-none} during the checkpoint" ;;
	esac
	FIRST=$first
}

xlmigd_start || fail "xlmigd did not start"
guest_ensure g1
id=$(xl domid g1)
boot=$(guest_boot_id g1)
n0=$(guest_last_n g1)
rm -f "$FILE"
t0=$(now_ms)
xlmig snapshot g1 "$FILE" > "$LAB_RUN/snap.log" 2>&1
rc=$?
t1=$(now_ms)
n1=$(guest_last_n g1)
sed 's/^/snapshot: /' "$LAB_RUN/snap.log"
xlmigd_log_since_last
[ $rc = 0 ] || fail "xlmig snapshot g1 exited $rc: $(tail -n 1 "$LAB_RUN/snap.log")"
[ -s "$FILE" ] || fail "xlmig snapshot succeeded but $FILE is missing or empty"
[ -e "$FILE.xlmig-partial" ] && fail "the partial file $FILE.xlmig-partial was left behind"
# The guest ran on: same domain, running, counting, never rebooted.
check_stayed g1 "$id" "$n1" "$boot"
gap=$(guest_max_gap g1 "$boot" "$n0" "$(guest_last_n g1)")
ticks=$(pause_ticks g1 "$boot" "$n0" "$n1")
lab_log "the guest paused at ticks $ticks during the checkpoint"
msg=$(cat "$LAB_RUN/snap.log")
pause=$(echo "$msg" | sed -n 's/.*guest paused \([0-9.]*\) ms.*/\1/p')
passes=$(echo "$msg" | sed -n 's/.* bytes, \([0-9]*\) passes.*/\1/p')
size=$(wc -c < "$FILE")
xlmig inspect "$FILE" > "$LAB_RUN/inspect.txt" 2>&1 || fail "xlmig inspect of the checkpoint failed: $(tail -n 1 "$LAB_RUN/inspect.txt")"
grep -q "^domain: *name g1," "$LAB_RUN/inspect.txt" || fail "inspect did not find domain g1 in the checkpoint: $(head -n 3 "$LAB_RUN/inspect.txt")"

# Stock xl save -c of the same guest, for the figures (not live: the
# guest is paused for the whole save).
n2=$(guest_last_n g1)
x0=$(now_ms)
LAB_STOCK_XL=1
xl save -c g1 "$LAB_RUN/g1.xlsave" > "$LAB_RUN/xlsave.log" 2>&1 || fail "xl save -c g1 failed: $(tail -n 1 "$LAB_RUN/xlsave.log")"
LAB_STOCK_XL=0
x1=$(now_ms)
guest_wait_n g1 $(($(guest_last_n g1) + 2)) 30 || fail "g1 did not go on after xl save -c"
xgap=$(guest_max_gap g1 "$boot" "$n2" "$(guest_last_n g1)")
xsize=$(wc -c < "$LAB_RUN/g1.xlsave")
rm -f "$LAB_RUN/g1.xlsave"

# Stock xl restore, the original gone first (same name).
xl destroy g1 || fail "xl destroy g1 failed"
lines=$(guest_log g1 | wc -l)
r0=$(now_ms)
LAB_STOCK_XL=1
xl restore "$FILE" > "$LAB_RUN/xlrestore.log" 2>&1 || fail "xl restore of xlmig's checkpoint failed: $(tail -n 2 "$LAB_RUN/xlrestore.log")"
LAB_STOCK_XL=0
r1=$(now_ms)
restored_from g1 "$lines" "$boot" "$n0" "$n1" "$ticks"
xl_first=$FIRST

# xlmig restore under a new name, beside the one xl restored.
r2=$(now_ms)
xlmig restore "$FILE" --name g1c > "$LAB_RUN/restore.log" 2>&1
rc=$?
r3=$(now_ms)
sed 's/^/restore: /' "$LAB_RUN/restore.log"
xlmigd_log_since_last
[ $rc = 0 ] || fail "xlmig restore --name g1c exited $rc: $(tail -n 1 "$LAB_RUN/restore.log")"
guest_running g1c || fail "g1c restored by xlmig restore is not running ($(xl list g1c 2>&1 | tail -n 1))"
restored_from g1c 0 "$boot" "$n0" "$n1" "$ticks"
xlmig_first=$FIRST

figure "snapshot_ms=$((t1 - t0)) pause_ms=${pause:-?} guest_gap_ms=$gap passes=${passes:-?} file_bytes=$size" \
	"xl_save_c_ms=$((x1 - x0)) xl_guest_gap_ms=$xgap xl_file_bytes=$xsize" \
	"counter_before=$n0 counter_after=$n1 xl_restore_from=$xl_first xl_restore_ms=$((r1 - r0))" \
	"xlmig_restore_from=$xlmig_first xlmig_restore_ms=$((r3 - r2)) checkpoint_ticks=$(echo $ticks | tr ' ' ,)"
lab_destroy_all
rm -f "$FILE"
pass "checkpoint $size bytes, guest paused ${pause:-?} ms (it saw $gap ms); xl save -c $xsize bytes, guest stopped $xgap ms"
