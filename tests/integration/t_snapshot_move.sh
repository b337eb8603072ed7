#!/bin/bash
# t_snapshot_move.sh - xlmig's own checkpoint across a migration and a
# killed daemon.
#
# Held by a migration of its guest, the checkpoint travels and goes on
# on the destination from the partial file it left on storage both hosts
# see: only the pages that changed since they were written are written
# again.  The result restores there to the counter and memory digest of
# its final pause, and the bytes it wrote on the destination are printed
# against those of a checkpoint of the same guest started over (FIGURE
# lines).  A compressed checkpoint held the same way starts over on the
# destination, saying why, and restores there.  Then xlmigd killed inside a checkpoint's final pause (the
# guest suspended, its last pages written): after the restart the guest
# runs, no file passes for a checkpoint, and the job ended exactly once.
. "$(dirname "$0")/lib.sh"
use_fault_build || exit 1

SHARED="$WORK/shared"         # storage both hosts see
mkdir -p "$SHARED"
hooks_for() { # HOST: every backup-ended is recorded
	local d="$WORK/hooks-$1"
	mkdir -p "$d/backup-ended"
	cat >"$d/backup-ended/10-record" <<EOS
#!/bin/sh
echo "\$XLMIG_EVENT job=\$XLMIG_JOB host=\$XLMIG_HOST" >> "$WORK/events"
EOS
	chmod 755 "$d"/*/*
	echo "$d"
}
OPTS_A=(--hooks-dir "$(hooks_for a)" --host-name hostA --hold-ack 10)
OPTS_B=(--hooks-dir "$(hooks_for b)" --host-name hostB --hold-ack 10)
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
ended() { grep -c "backup-ended job=$1 " "$WORK/events" 2>/dev/null || true; }

# ---- held by a migration, continued on b ----
STALL_A=(-- "${OPTS_A[@]}"); STALL_B=(-- "${OPTS_B[@]}")
hosts_up
# A guest dirtying 16 MiB/s: the checkpoint may be in pre-copy or already
# in its final pause when the migration comes (the migration then waits
# for its save to stop; the section below holds it there on purpose).
RATE=${XLMIG_T_RATE:-16}; HOLD_AT=${XLMIG_T_HOLD_AT:-32}   # MiB/s dirtied; MiB written before the hold
ITERS=${XLMIG_T_ITERS:-1000}
xa create vm --memory 512M --rate "${RATE}M" >/dev/null
P="$SHARED/vm.ckpt.xlmig-partial"
j=$(xa snapshot vm "$SHARED/vm.ckpt" --downtime 1 --max-iters "$ITERS" --verify --detach --json | jq -r .job)
# Mid-way (by default through its first pass), the checkpoint still runs.
for i in $(seq 1500); do [ "$(size_of "$P")" -gt $((HOLD_AT << 20)) ] && break; sleep 0.02; done
[ "$(size_of "$P")" -gt 0 ] && ok "checkpoint $j writing on a ($(size_of "$P") bytes so far)" ||
	fail "checkpoint" "never started"
mig=$(xa migrate vm "$(addr_b)" --detach --downtime 10000)
wait_final a "$mig"
[ "$(step_of a "$mig")" = done ] && ok "the migration held the checkpoint and moved the guest" ||
	fail "migration" "$(step_of a "$mig"): $(xa status "$mig" 2>&1 | tail -2); $(grep -v "simhost\|sim host" "$WORK/a/log" | tail -25)"
held_bytes=$(grep -o "checkpoint $j of vm: stopped for a migration" "$WORK/a/log" | head -1)
[ -n "$held_bytes" ] && ok "a stopped it for the migration and kept its partial file" ||
	fail "hold" "$(grep "checkpoint $j" "$WORK/a/log" | tail -3)"
backup_wait_state b "$j" done 1200 && ok "the checkpoint finished on b" ||
	fail "checkpoint on b" "$(xb backup show "$j" --json 2>&1)"
r=$(xb snapshot --status "$j" --json)
cont=$(jq -r .continued_bytes <<<"$r"); wrote=$(jq -r .bytes_written <<<"$r")
total=$(jq -r .file_bytes <<<"$r"); same=$(jq -r .pages_unchanged <<<"$r")
echo "# on b: $(jq -c '{file_bytes,bytes_written,continued_bytes,pages_unchanged,pages_sent,pages_total,iterations,pause_ms,total_ms,start_note}' <<<"$r")"
if [ "$cont" -gt 0 ] 2>/dev/null && [ "$same" -gt 0 ] && [ "$wrote" -lt "$total" ]; then
	ok "b continued a's partial file: $cont bytes kept, $same pages not written again"
else
	fail "continued" "$r"
fi
[ "$(backup_field b "$j" resumes)" = 1 ] && [ "$(backup_field a "$j" here)" = false ] && ok "resumed once, on b; history on a" ||
	fail "checkpoint hand-over" "resumes $(backup_field b "$j" resumes), here on a $(backup_field a "$j" here)"
[ ! -e "$P" ] && ok "no partial file left" || fail "partial" "left"
rs=$(xb restore "$SHARED/vm.ckpt" --name vm-copy --paused --verify --json)
[ "$(jq -r .succeeded <<<"$rs")" = true ] && ok "the continued checkpoint restores on b" || fail "restore" "$rs"
[ "$(jq -r .mem_digest <<<"$rs")" = "$(jq -r .mem_digest <<<"$r")" ] && [ "$(jq -r .mem_digest <<<"$r")" != null ] &&
	ok "restored memory digest = digest at the final pause on b" ||
	fail "restored digest" "$(jq -r .mem_digest <<<"$rs") vs $(jq -r .mem_digest <<<"$r")"
[ "$(jq -r .counter <<<"$rs")" = "$(jq -r .counter <<<"$r")" ] &&
	ok "restored counter = counter at the final pause ($(jq -r .counter <<<"$r"))" ||
	fail "restored counter" "$(jq -r .counter <<<"$rs") vs $(jq -r .counter <<<"$r")"
check "the continued file reads as a save file" "$XLMIG" inspect "$SHARED/vm.ckpt"
xb destroy vm-copy >/dev/null
# The same guest on b, checkpointed from nothing: what starting over costs.
f=$(xb snapshot vm "$SHARED/vm-over.ckpt" --downtime 1 --max-iters "$ITERS" --verify --json)
over=$(jq -r .bytes_written <<<"$f")
echo "FIGURE checkpoint-continued guest_mib=512 rate_mib_s=$RATE held_after_mib=$HOLD_AT bytes_written=$wrote continued_bytes=$cont file_bytes=$total pages_unchanged=$same pause_ms=$(jq -r .pause_ms <<<"$r")"
echo "FIGURE checkpoint-started-over guest_mib=512 rate_mib_s=$RATE bytes_written=$over file_bytes=$(jq -r .file_bytes <<<"$f") pause_ms=$(jq -r .pause_ms <<<"$f")"
# Later passes re-send what the guest dirties, as many as it takes, in
# both: the totals are figures, the first pass is what continuing saves.
[ "$over" -gt 0 ] 2>/dev/null && ok "started over on b: $over bytes written; continued: $wrote" ||
	fail "figures" "started over: $f"
xb destroy vm >/dev/null

# A compressed checkpoint held by a migration is not continued: it starts
# over on b, saying why, and restores there.
xa create cz --memory 128M --rate "${RATE}M" >/dev/null
PZ="$SHARED/cz.ckpt.xlmig-partial"
j=$(xa snapshot cz "$SHARED/cz.ckpt" --compress --downtime 1 --max-iters "$ITERS" --verify --detach --json | jq -r .job)
for i in $(seq 1500); do [ "$(size_of "$PZ")" -gt $((4 << 20)) ] && break; sleep 0.02; done
mig=$(xa migrate cz "$(addr_b)" --detach --downtime 10000)
wait_final a "$mig"
[ "$(step_of a "$mig")" = done ] && ok "the migration held the compressed checkpoint and moved the guest" ||
	fail "compressed: migration" "$(step_of a "$mig")"
backup_wait_state b "$j" done 1200 && ok "the compressed checkpoint finished on b" ||
	fail "compressed on b" "$(xb backup show "$j" --json 2>&1)"
r=$(xb snapshot --status "$j" --json)
echo "# compressed, on b: $(jq -c '{file_bytes,stream_bytes,bytes_written,continued_bytes,start_note}' <<<"$r")"
jq -e '.continued_bytes == 0 and (.start_note | test("compressed checkpoint is not continued"))' <<<"$r" >/dev/null &&
	ok "b started it over, saying why" || fail "compressed start over" "$r"
rs=$(xb restore "$SHARED/cz.ckpt" --name cz-copy --paused --verify --json)
[ "$(jq -r .mem_digest <<<"$rs")" = "$(jq -r .mem_digest <<<"$r")" ] && [ "$(jq -r .counter <<<"$rs")" = "$(jq -r .counter <<<"$r")" ] &&
	ok "it restores on b to the counter and digest of its final pause" || fail "compressed restore" "$rs"
hosts_down

# ---- a migration that comes while a checkpoint is in its final pause ----
# The checkpoint is held at checkpoint-pause (its guest suspended, its
# save not over) and its job cancelled: nothing is left to hold, yet the
# save still owns the guest.  The migration must wait until the save has
# stopped and given the guest back, not fail finding it suspended.
rm -f "$WORK/events" "$SHARED"/*
FDIR="$WORK/faultdir"; mkdir -p "$FDIR"; HIT="$FDIR/checkpoint-pause.hit"
STALL_A=(XLMIG_FAULT=checkpoint-pause:signal XLMIG_FAULT_DIR="$FDIR" -- "${OPTS_A[@]}"); STALL_B=(-- "${OPTS_B[@]}")
hosts_up
xa create vm --memory 128M --rate 16M >/dev/null
j=$(xa snapshot vm "$SHARED/vm.ckpt" --detach --json | jq -r .job)
for i in $(seq 600); do [ -e "$HIT" ] && break; sleep 0.1; done
if [ ! -e "$HIT" ]; then
	fail "final pause" "xlmigd a never reached checkpoint-pause"
else
	[ "$(state a vm)" = suspended ] && ok "checkpoint $j in its final pause: the guest is suspended" ||
		fail "final pause" "guest $(state a vm)"
	xa backup cancel "$j" >/dev/null
	mig=$(xa migrate vm "$(addr_b)" --detach)
	for i in $(seq 100); do grep -q "checkpoint $j of vm: the migration waits for its save to stop" "$WORK/a/log" && break; sleep 0.1; done
	grep -q "checkpoint $j of vm: the migration waits for its save to stop" "$WORK/a/log" &&
		ok "the migration waits for the checkpoint's save to stop" ||
		fail "wait" "$(step_of a "$mig"): $(xa status "$mig" 2>&1 | tail -2)"
	rm -f "$HIT"                    # the checkpoint leaves its final pause
	wait_final a "$mig"
	[ "$(step_of a "$mig")" = done ] && ok "then it moved the guest" ||
		fail "migration" "$(step_of a "$mig"): $(xa status "$mig" 2>&1 | tail -2)"
	for i in $(seq 100); do runs_on b vm && break; sleep 0.1; done
	check "the guest runs on b" runs_on b vm
	[ ! -e "$SHARED/vm.ckpt" ] && [ ! -e "$SHARED/vm.ckpt.xlmig-partial" ] &&
		ok "the checkpoint cancelled in its final pause published no file" ||
		fail "cancelled checkpoint" "$(ls -l "$SHARED")"
fi
hosts_down

# ---- xlmigd killed inside the checkpoint's final pause ----
rm -f "$WORK/events" "$SHARED"/*
STALL_A=(XLMIG_FAULT=checkpoint-pause:kill -- "${OPTS_A[@]}"); STALL_B=(-- "${OPTS_B[@]}")
hosts_up
xa create vm --memory 128M --rate 4M >/dev/null
j=$(xa snapshot vm "$SHARED/vm.ckpt" --verify --detach --json | jq -r .job)
for i in $(seq 600); do kill -0 "${PID[a]}" 2>/dev/null || break; sleep 0.1; done
if kill -0 "${PID[a]}" 2>/dev/null; then
	fail "final pause" "xlmigd a never reached checkpoint-pause"
else
	wait "${PID[a]}" 2>/dev/null; unset "PID[a]"
	[ "$(size_of "$SHARED/vm.ckpt.xlmig-partial")" -gt 0 ] && [ ! -e "$SHARED/vm.ckpt" ] &&
		ok "xlmigd died in the final pause: its partial file written, not renamed" ||
		fail "final pause" "$(ls -l "$SHARED")"
	STALL_A=(-- "${OPTS_A[@]}")
	host_start a "${STALL_A[@]}" || exit 1
	for i in $(seq 100); do runs_on a vm && break; sleep 0.1; done
	check "after the restart the guest runs" runs_on a vm
	grep -q "interrupted checkpoint of vm: the guest was suspended and runs again" "$WORK/a/log" &&
		ok "it was suspended in the final pause, and the restart resumed it" ||
		fail "resume" "$(grep -i checkpoint "$WORK/a/log" | tail -3)"
	[ ! -e "$SHARED/vm.ckpt" ] && [ ! -e "$SHARED/vm.ckpt.xlmig-partial" ] &&
		ok "no file passes for a checkpoint, no partial file" || fail "files" "$(ls -l "$SHARED")"
	[ "$(backup_field a "$j" state)" = failed ] && [ "$(ended "$j")" = 1 ] &&
		ok "the job ended once, failed: $(backup_field a "$j" message)" ||
		fail "job" "$(backup_field a "$j" state), ended $(ended "$j") times"
	host_stop a
	host_start a "${STALL_A[@]}" || exit 1
	sleep 1
	[ "$(backup_field a "$j" state)" = failed ] && [ "$(ended "$j")" = 1 ] && runs_on a vm &&
		ok "a second restart ends nothing again" || fail "second restart" "ended $(ended "$j") times"
	r=$(xa snapshot vm "$SHARED/vm.ckpt" --verify --json)
	[ "$(jq -r .succeeded <<<"$r")" = true ] && ok "a new checkpoint of the guest then succeeds" || fail "again" "$r"
fi
hosts_down
