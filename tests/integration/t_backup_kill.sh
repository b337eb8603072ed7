#!/bin/bash
# t_backup_kill.sh - a backup held by a migration when xlmigd dies in the
# middle of the hand-over.  The sim guests live in their sim hosts and
# outlive xlmigd, as Xen's do.  The source's xlmigd is killed during
# pre-copy (the job held on a) and after READY (the job in transit); the
# destination's after GO, between its rename and unpause, and after the
# guest runs.  Whichever host the guest runs on after the restarts, the
# job resumes there exactly once, finishes there with a complete backup,
# and is active nowhere else.  (xlmig's own checkpoint held by a
# migration, and killed in its final pause: t_snapshot_move.sh.)
. "$(dirname "$0")/lib.sh"
use_fault_build || exit 1

EX="$(cd "$(dirname "$0")/../../hooks/examples" && pwd)"
SHARED="$WORK/shared"         # storage both hosts see
mkdir -p "$SHARED"
head -c $((8 << 20)) /dev/urandom >"$SHARED/disk.img"

hooks_for() { # HOST: backup-resume starts the example agent, resumes are recorded
	local h=$1 d="$WORK/hooks-$1"
	mkdir -p "$d/backup-resume" "$d/backup-ended"
	cat >"$d/backup-resume/10-record" <<EOS
#!/bin/sh
echo "\$XLMIG_EVENT job=\$XLMIG_JOB host=\$XLMIG_HOST" >> "$WORK/events"
EOS
	cp "$d/backup-resume/10-record" "$d/backup-ended/10-record"
	cat >"$d/backup-resume/60-chunk-agent" <<EOS
#!/bin/sh
[ "\$XLMIG_AGENT" = chunk-agent ] || exit 0
export XLMIG_BIN="$XLMIG" XLMIG_CHUNK_AGENT_LOG="$WORK/agent-$h.log" XLMIG_AGENT_DELAY=0.05
exec "$EX/60-chunk-agent"
EOS
	chmod 755 "$d"/*/*
	echo "$d"
}
OPTS_A=(--hooks-dir "$(hooks_for a)" --host-name hostA --hold-ack 10)
OPTS_B=(--hooks-dir "$(hooks_for b)" --host-name hostB --hold-ack 10)

agent_start() {
	XLMIG_BIN="$XLMIG" XLMIG_AGENT_SOCKET="$WORK/a-backup/agent.sock" XLMIG_AGENT_DELAY=0.1 \
		"$EX/xlmig-chunk-agent" begin vm "$SHARED/disk.img" "$SHARED/backup.img" 64 \
		>>"$WORK/agent-a.log" 2>&1 &
}
active_on() { # HOST JOB: 1 if the job is active (here, not final) there
	"$XLMIG" -S "$(sock "$1")" backup list --json 2>/dev/null |
		jq --arg j "$2" '[.jobs[] | select(.id == $j)] | length'
}
resumed_on() { grep -c "backup-resume job=$1 host=$2" "$WORK/events" 2>/dev/null || true; }

# One hand-over with one daemon killed: FAULT_A / FAULT_B arm the test
# build's fault points (libxlmig/fault.h); WHERE is the host the guest
# must run on at the end.
handover() { # NAME FAULT_A FAULT_B WHERE
	local name=$1 fa=$2 fb=$3 where=$4 other job mig i
	other=a; [ "$where" = a ] && other=b
	STALL_A=(XLMIG_FAULT_TIMEOUT_DIV=10); [ -n "$fa" ] && STALL_A+=("XLMIG_FAULT=$fa")
	STALL_B=(XLMIG_FAULT_TIMEOUT_DIV=10); [ -n "$fb" ] && STALL_B+=("XLMIG_FAULT=$fb")
	STALL_A+=(-- "${OPTS_A[@]}")
	STALL_B+=(-- "${OPTS_B[@]}")
	hosts_up
	rm -f "$SHARED/backup.img" "$WORK/events"
	xa create vm --memory 128M --rate 4M >/dev/null
	agent_start
	for i in $(seq 100); do
		job=$(xa backup list vm --json | jq -r '.jobs[0].id // empty')
		[ -n "$job" ] && [ -n "$(backup_field a "$job" token_text)" ] && break
		sleep 0.1
	done
	[ -n "$job" ] || { fail "$name" "the agent never began: $(cat "$WORK/agent-a.log")"; hosts_down; return; }
	mig=$(xa migrate vm "$(addr_b)" --detach --downtime 10000)
	# The armed daemon kills itself at its point; wait for that.
	for i in $(seq 600); do
		{ [ -n "$fa" ] && ! kill -0 "${PID[a]}" 2>/dev/null; } && break
		{ [ -n "$fb" ] && ! kill -0 "${PID[b]}" 2>/dev/null; } && break
		sleep 0.1
	done
	if [ -n "$fa" ]; then
		kill -0 "${PID[a]}" 2>/dev/null && { fail "$name" "xlmigd a never reached $fa"; hosts_down; return; }
		wait "${PID[a]}" 2>/dev/null; unset "PID[a]"
		# b notices the source is gone and gives its copy up first.
		for i in $(seq 300); do has_guest b vm || has_guest b vm--incoming || break; sleep 0.1; done
		STALL_A=(-- "${OPTS_A[@]}")
		host_start a "${STALL_A[@]}" || exit 1
	else
		kill -0 "${PID[b]}" 2>/dev/null && { fail "$name" "xlmigd b never reached $fb"; hosts_down; return; }
		wait "${PID[b]}" 2>/dev/null; unset "PID[b]"
		STALL_B=(-- "${OPTS_B[@]}")
		host_start b "${STALL_B[@]}" || exit 1
	fi
	for i in $(seq 100); do runs_on "$where" vm && break; sleep 0.1; done
	if runs_on "$where" vm && ! { [ "$(state "$other" vm)" = running ]; }; then
		ok "$name: the guest runs on $where only"
	else
		fail "$name" "guest on a: $(state a vm), on b: $(state b vm)"
	fi
	if backup_wait_state "$where" "$job" done 900 && cmp -s "$SHARED/disk.img" "$SHARED/backup.img"; then
		ok "$name: job $job finished on $where with a complete backup"
	else
		fail "$name" "job on $where: $(backup_field "$where" "$job" state); agent: $(tail -3 "$WORK"/agent-*.log)"
	fi
	[ "$(resumed_on "$job" "host$(tr a-b A-B <<<"$where")")" = 1 ] && [ "$(backup_field "$where" "$job" resumes)" = 1 ] &&
		ok "$name: resumed exactly once, on $where" ||
		fail "$name" "resume hooks: $(cat "$WORK/events" 2>/dev/null | tr '\n' ';') resumes=$(backup_field "$where" "$job" resumes)"
	# A source that lost its destination after GO is in doubt (its copy
	# paused as vm--migratedaway), and a destination may still wait for
	# a GO that will not come: the job waits there in transit, never
	# resumed, until the migration settles or a restart settles it by
	# where the guest runs.
	st=$(backup_field "$other" "$job" state)
	if [ "$(resumed_on "$job" "host$(tr a-b A-B <<<"$other")")" = 0 ] &&
	   { [ "$(active_on "$other" "$job")" = 0 ] || [ "$st" = in-transit ]; }; then
		ok "$name: never resumed on $other (there: ${st:-none}$([ "$st" = in-transit ] && echo ', waiting for its migration to settle'))"
	else
		fail "$name" "on $other: $("$XLMIG" -S "$(sock "$other")" backup show "$job" --json 2>&1)"
	fi
	# A restart of the other host does not bring the job back there.
	host_stop "$other"
	STALL_A=(-- "${OPTS_A[@]}"); STALL_B=(-- "${OPTS_B[@]}")
	if [ "$other" = a ]; then host_start a "${STALL_A[@]}"; else host_start b "${STALL_B[@]}"; fi || exit 1
	sleep 1
	[ "$(resumed_on "$job" "host$(tr a-b A-B <<<"$other")")" = 0 ] && [ "$(active_on "$other" "$job")" = 0 ] &&
		ok "$name: still not on $other after its restart" || fail "$name" "$other took it after its restart"
	hosts_down
}

handover "a killed in pre-copy, job held" precopy1:kill "" a
handover "a killed after READY, job in transit" ready:kill "" a
handover "b killed after GO" "" go:kill b
handover "b killed between rename and unpause" "" unpause:kill b
handover "b killed after the guest ran there" "" cleanup:kill b
