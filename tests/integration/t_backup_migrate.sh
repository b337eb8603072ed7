#!/bin/bash
# t_backup_migrate.sh - backups and migrations between two hosts: a
# backup running on a when its guest migrates to b is held, travels with
# the guest, resumes on b from its token and finishes there with a backup
# identical to the disk it copied; a backup asked for during a migration
# is deferred, then granted on the destination; a held backup resumes on
# a after a cancelled migration and after one whose destination died.
# The agent is the shipped example (hooks/examples/xlmig-chunk-agent).
. "$(dirname "$0")/lib.sh"
use_fault_build || exit 1

EX="$(cd "$(dirname "$0")/../../hooks/examples" && pwd)"
SHARED="$WORK/shared"         # storage both hosts see
mkdir -p "$SHARED"
head -c $((8 << 20)) /dev/urandom >"$SHARED/disk.img"

hooks_for() { # HOST: backup-resume starts the example agent, every event is recorded
	local h=$1 d="$WORK/hooks-$1" ev
	for ev in backup-hold backup-resume backup-ended migration-pre migration-post; do
		mkdir -p "$d/$ev"
		cat >"$d/$ev/10-record" <<EOS
#!/bin/sh
echo "\$XLMIG_EVENT job=\$XLMIG_JOB host=\$XLMIG_HOST outcome=\$XLMIG_OUTCOME resumes=\$XLMIG_RESUMES" >> "$WORK/events-$h"
EOS
	done
	cat >"$d/backup-resume/60-chunk-agent" <<EOS
#!/bin/sh
export XLMIG_BIN="$XLMIG" XLMIG_CHUNK_AGENT_LOG="$WORK/agent-$h.log" XLMIG_AGENT_DELAY=0.05
exec "$EX/60-chunk-agent"
EOS
	chmod 755 "$d"/*/*
	echo "$d"
}
OPTS_A=(-- --hooks-dir "$(hooks_for a)" --host-name hostA --hold-ack 10)
OPTS_B=(-- --hooks-dir "$(hooks_for b)" --host-name hostB --hold-ack 10)
STALL_A=("${OPTS_A[@]}")
STALL_B=("${OPTS_B[@]}")

agent_start() { # HOST [DOMAIN]: start the example agent on HOST's agents' socket
	XLMIG_BIN="$XLMIG" XLMIG_AGENT_SOCKET="$WORK/$1-backup/agent.sock" XLMIG_AGENT_DELAY=0.05 \
		"$EX/xlmig-chunk-agent" begin "${2:-vm}" "$SHARED/disk.img" "$SHARED/backup.img" 64 \
		>>"$WORK/agent-$1.log" 2>&1 &
}
job_on() { "$XLMIG" -S "$(sock "$1")" backup list --all "${2:-vm}" --json | jq -r '.jobs[-1].id // empty'; }
offset_of() { backup_field "$1" "$2" token_text | sed -n 's/^offset=\([0-9]*\).*/\1/p'; }
addr_a() { if [ $USE_NETNS = 1 ]; then echo "$IP_A:$PORT_A"; else echo "127.0.0.1:$PORT_A"; fi; }
count() { grep -c "$1" "$WORK/events-$2" 2>/dev/null || true; }

# ---- held on a, travels, resumes on b from its token, finishes on b ----
hosts_up
xa create vm --memory 256M --rate 2M >/dev/null
agent_start a
for i in $(seq 100); do job=$(job_on a); [ -n "$job" ] && break; sleep 0.1; done
for i in $(seq 100); do [ "$(offset_of a "$job")" -gt $((1 << 20)) ] 2>/dev/null && break; sleep 0.1; done
off0=$(offset_of a "$job")
[ -n "$job" ] && [ "${off0:-0}" -gt 0 ] && ok "backup $job running on a (offset $off0)" || fail "agent on a" "$(cat "$WORK/agent-a.log")"
mig=$(xa migrate vm "$(addr_b)" --detach --downtime 10000) || fail "migrate" "refused"
wait_final a "$mig"
[ "$(step_of a "$mig")" = done ] && ok "migration done while a backup ran" || fail "migration" "$(step_of a "$mig")"
[ "$(backup_field a "$job" here)" = false ] && [ "$(backup_field a "$job" host)" = "$(addr_b | sed "s/:.*//")" ] &&
	ok "a: the job left with its guest for $(backup_field a "$job" host)" || fail "a after the move" "$(xa backup show "$job" --json)"
backup_wait_state b "$job" done 600 && ok "b: the job finished there" || fail "b" "$(xb backup show "$job" --json 2>&1; cat "$WORK/agent-b.log")"
[ "$(backup_field b "$job" resumes)" = 1 ] && ok "b: resumed exactly once" || fail "resumes" "$(backup_field b "$job" resumes)"
grep -q "resumes at offset [1-9]" "$WORK/agent-b.log" && ok "b: the agent carried on from its token ($(grep -o 'resumes at offset [0-9]*' "$WORK/agent-b.log"))" ||
	fail "resume offset" "$(cat "$WORK/agent-b.log")"
cmp -s "$SHARED/disk.img" "$SHARED/backup.img" && ok "the backup equals the disk it copied" || fail "backup content" "differs"
[ "$(count "backup-hold job=$job" a)" = 1 ] && ok "a: one backup-hold hook" || fail "hold hook" "$(count backup-hold a)"
[ "$(count "backup-resume job=$job" a)" = 0 ] && [ "$(count "backup-resume job=$job" b)" = 1 ] &&
	ok "the resume hook ran once, on b only" || fail "resume hooks" "a $(count backup-resume a) b $(count backup-resume b)"
[ "$(count "backup-ended job=$job host=hostB outcome=done" b)" = 1 ] && [ "$(count "backup-ended job=$job" a)" = 0 ] &&
	ok "ended once, on b" || fail "ended hooks" "$(cat "$WORK/events-a" "$WORK/events-b")"
grep -q "migration-post.*outcome=moved" "$WORK/events-a" && grep -q "migration-post.*outcome=arrived" "$WORK/events-b" &&
	ok "migration-pre/post hooks with the outcome on both hosts" || fail "migration hooks" "missing"

# ---- deferred during a migration, granted on the destination ----
xb create vm2 --memory 512M --rate 20M >/dev/null
mig=$(xb migrate vm2 "$(addr_a)" --detach --bandwidth 30M --downtime 10000)
wait_step b "$mig" precopy
out=$(xb backup begin vm2 --agent late 2>&1) && fail "deferral" "begin was granted during a migration: $out" ||
	{ grep -q deferred <<<"$out" && ok "a backup asked for during a migration is deferred" || fail "deferral" "$out"; }
xb backup begin vm2 --agent late --wait >"$WORK/wait.out" 2>&1 &
waiter=$!
wait_final b "$mig"
wait "$waiter"
grep -q "granted on .* (the guest moved there)" "$WORK/wait.out" && ok "--wait: granted where the guest runs now ($(tail -1 "$WORK/wait.out"))" ||
	fail "--wait" "$(cat "$WORK/wait.out")"
late=$(xa backup list vm2 --json | jq -r '.jobs[0].id // empty')
[ -n "$late" ] && [ "$(backup_field a "$late" state)" = running ] && ok "a: the deferred job runs there" || fail "granted job" "$(xa backup list --all --json)"
xa backup end "$late" >/dev/null

# ---- held, then resumed on a after a cancelled migration ----
rm -f "$SHARED/backup.img"
xa create vm3 --memory 256M --rate 2M >/dev/null
agent_start a vm3
for i in $(seq 100); do job2=$(job_on a vm3); [ -n "$job2" ] && break; sleep 0.1; done
for i in $(seq 100); do [ "$(offset_of a "$job2")" -gt 0 ] 2>/dev/null && break; sleep 0.1; done
mig=$(xa migrate vm3 "$(addr_b)" --detach --bandwidth 5M) || { fail "migrate vm3" "refused"; hosts_down; exit 0; }
wait_step a "$mig" precopy
backup_wait_state a "$job2" held 100 && ok "cancelled migration: the job is held" || fail "hold" "$(backup_field a "$job2" state)"
xa cancel "$mig" >/dev/null
wait_final a "$mig"
backup_wait_state a "$job2" "resuming|running|done" && ok "after the cancel the job resumes on a" || fail "resume on a" "$(backup_field a "$job2" state)"
backup_wait_state a "$job2" done 600 && cmp -s "$SHARED/disk.img" "$SHARED/backup.img" &&
	ok "and finishes there with a complete backup" || fail "finish on a" "$(cat "$WORK/agent-a.log")"
[ "$(xb backup list --all --json | jq --arg j "$job2" '[.jobs[] | select(.id == $j and .here)] | length')" = 0 ] &&
	ok "b never took it" || fail "b" "has $job2"

# ---- held, then resumed on a when the destination dies after taking the record ----
hosts_down
STALL_A=("${OPTS_A[@]}")
STALL_B=(XLMIG_FAULT=ready:stall:4000 "${OPTS_B[@]}")
hosts_up
rm -f "$SHARED/backup.img" "$WORK/events-a" "$WORK/events-b"
xa create vm --memory 128M --rate 2M >/dev/null
agent_start a
for i in $(seq 100); do job3=$(job_on a); [ -n "$job3" ] && break; sleep 0.1; done
for i in $(seq 100); do [ "$(offset_of a "$job3")" -gt 0 ] 2>/dev/null && break; sleep 0.1; done
mig=$(xa migrate vm "$(addr_b)" --detach --downtime 10000)
# In transit on a once the stream ended; b then stalls at ready, and dies.
backup_wait_state a "$job3" in-transit 300 && ok "a: the job is in transit at the end of the stream" || fail "in transit on a" "$(backup_field a "$job3" state)"
sleep 1
host_kill b
wait_final a "$mig"
backup_wait_state a "$job3" "resuming|running|done" && ok "b killed at ready: the job resumes on a" || fail "resume on a" "$(backup_field a "$job3" state)"
STALL_B=("${OPTS_B[@]}")
host_start b "${STALL_B[@]}" || exit 1
[ "$(xb backup list --json | jq --arg j "$job3" '[.jobs[] | select(.id == $j)] | length')" = 0 ] &&
	ok "b restarted: the job is not active there" || fail "b after restart" "$(xb backup list --all --json)"
backup_wait_state a "$job3" done 600 && cmp -s "$SHARED/disk.img" "$SHARED/backup.img" && ok "finished on a, complete" || fail "finish" "$(cat "$WORK/agent-a.log")"
[ "$(backup_field a "$job3" resumes)" = 1 ] && ok "resumed exactly once" || fail "resumes" "$(backup_field a "$job3" resumes)"
# xlmigd killed on the source or on the destination during a hand-over:
# t_backup_kill.sh.
hosts_down
