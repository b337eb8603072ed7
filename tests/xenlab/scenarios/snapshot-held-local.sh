# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 600
# xenlab-about: a checkpoint of a running PVH guest held by a local migration of the guest, then continued through the filter (the xen backend's save cannot skip pages): it keeps what the partial file held and writes less than a checkpoint started over; stock xl restore of the file counts on from the checkpoint
. /lab/lib.sh
need_xlmig xlmigd
FILE=$LAB_RUN/g1.ckpt
P=$FILE.xlmig-partial
OVER=$LAB_RUN/g1-over.ckpt

json_num() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" | head -n 1; }
json_str() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1; }
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

xlmigd_start || fail "xlmigd did not start"
guest_ensure g1
boot=$(guest_boot_id g1)
n0=$(guest_last_n g1)
rm -f "$FILE" "$P" "$OVER"
xlmig snapshot g1 "$FILE" --detach --json > "$LAB_RUN/snap.json" 2>&1 ||
	fail "xlmig snapshot --detach failed: $(cat "$LAB_RUN/snap.json")"
job=$(json_str job < "$LAB_RUN/snap.json")
[ -n "$job" ] || fail "xlmig snapshot --detach printed no job: $(cat "$LAB_RUN/snap.json")"

# Held part-way through its first pass by a migration of its guest (to
# this host: the checkpoint goes on here once the guest runs again).
end=$(($(now_ms) + 120000))
while [ "$(size_of "$P")" -lt $((24 << 20)) ] && [ "$(now_ms)" -lt $end ]; do sleep 0.2; done
held_at=$(size_of "$P")
[ "$held_at" -ge $((24 << 20)) ] || fail "the checkpoint wrote only $held_at bytes in 120 s"
lab_log "holding checkpoint $job at $held_at bytes"
xlmig migrate g1 127.0.0.1 > "$LAB_RUN/send.log" 2>&1 || fail "the migration failed: $(tail -n 2 "$LAB_RUN/send.log")"
xlmigd_log_since_last | grep -i "checkpoint\|hold\|backup" | head -n 20

end=$(($(now_ms) + 300000))
while [ "$(now_ms)" -lt $end ]; do
	state=$(xlmig backup show "$job" --json 2>&1 | json_str state)
	case $state in done|failed|expired|cancelled) break ;; esac
	sleep 1
done
xlmig snapshot --status "$job" --json > "$LAB_RUN/status.json" 2>&1
sed 's/^/status: /' "$LAB_RUN/status.json" | head -n 40
[ "$state" = done ] || fail "checkpoint $job ended '$state' after the hold: $(xlmig backup show "$job" 2>&1 | tail -n 3)"
note=$(json_str start_note < "$LAB_RUN/status.json")
kept=$(json_num continued_bytes < "$LAB_RUN/status.json")
wrote=$(json_num bytes_written < "$LAB_RUN/status.json")
same=$(json_num pages_unchanged < "$LAB_RUN/status.json")
n1=$(guest_last_n g1)
[ -z "$note" ] || fail "the checkpoint started over: $note"
[ "${kept:-0}" -gt 0 ] && [ "${same:-0}" -gt 0 ] ||
	fail "the checkpoint did not continue its partial file: continued_bytes=$kept pages_unchanged=$same"
[ -e "$P" ] && fail "the partial file was left behind"
xlmig inspect "$FILE" > "$LAB_RUN/inspect.txt" 2>&1 || fail "xlmig inspect of the continued file failed: $(tail -n 1 "$LAB_RUN/inspect.txt")"

# The same guest checkpointed from nothing: what starting over writes.
xlmig snapshot g1 "$OVER" --json > "$LAB_RUN/over.json" 2>&1 || fail "the fresh checkpoint failed: $(cat "$LAB_RUN/over.json")"
over=$(json_num bytes_written < "$LAB_RUN/over.json")
rm -f "$OVER"
[ "${wrote:-0}" -lt "${over:-0}" ] ||
	fail "continued, the checkpoint wrote $wrote bytes; started over, $over"

# Stock xl restore of the continued file, the original gone first: the
# guest counts on in the same boot from the checkpoint's final pause.
CKPT_BOOT=$boot CKPT_N0=$n0 CKPT_N1=$n1
CKPT_TICKS=$(pause_ticks g1 "$boot" "$n0" "$n1")
checkpoint_xl_restore g1 "$FILE"
first=$CKPT_XL_FROM
figure "held_at_bytes=$held_at continued_bytes=$kept bytes_written=$wrote pages_unchanged=$same" \
	"started_over_bytes=$over file_bytes=$(size_of "$FILE") restored_from=$first span=$n0-$n1"
lab_destroy_all
rm -f "$FILE"
pass "continued after the hold: $wrote bytes written ($same pages kept from the partial file) against $over started over; xl restore counts on from $first"
