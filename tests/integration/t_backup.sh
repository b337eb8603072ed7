#!/bin/bash
# t_backup.sh - the backup coordinator on one host: the verbs through the
# agents' socket, hooks with their variables (and hooks that fail, hang or
# print garbage), a lease that runs out, and every job kept across a
# killed xlmigd.
. "$(dirname "$0")/lib.sh"

HOOKS="$WORK/hooks"
mkdir -p "$HOOKS"/backup-ended "$HOOKS"/backup-expired "$HOOKS"/backup-resume
for ev in backup-ended backup-expired backup-resume; do
	cat >"$HOOKS/$ev/10-record" <<EOS
#!/bin/sh
echo "\$XLMIG_EVENT job=\$XLMIG_JOB dom=\$XLMIG_DOMAIN agent=\$XLMIG_AGENT outcome=\$XLMIG_OUTCOME token=\$XLMIG_TOKEN on=\$XLMIG_DEST_HOST" >> "$WORK/hooklog"
EOS
done
printf '#!/bin/sh\necho disk full >&2\nexit 4\n' >"$HOOKS/backup-ended/20-fail"
printf '#!/bin/sh\nexec sleep 60\n' >"$HOOKS/backup-ended/30-hang"
printf '#!/bin/sh\nprintf "\\001\\377\\n"\n' >"$HOOKS/backup-ended/40-garbage"
printf '#!/bin/sh\necho must not run >> %s\n' "$WORK/hooklog" >"$HOOKS/backup-ended/50-old~"
chmod 755 "$HOOKS"/*/*

STALL_A=(-- --hooks-dir "$HOOKS" --hook-timeout 1 --host-name hostA)
hosts_up
AG="$WORK/a-backup/agent.sock"
ag() { "$XLMIG" -S "$AG" "$@"; }
xa create vm --memory 64M --rate 1M >/dev/null

job=$(ag backup begin vm --agent acme --json | jq -r .id)
[ -n "$job" ] && [ "$job" != null ] && ok "begin through the agents' socket: job $job" || fail "begin" "no job id"
check "the agents' socket refuses other verbs" bash -c "! '$XLMIG' -S '$AG' list"
if command -v setpriv >/dev/null; then
	check "a user outside root and the group is refused" \
		bash -c "! setpriv --reuid 65534 --regid 65534 --clear-groups '$XLMIG' -S '$AG' backup list"
else
	echo "skip user refusal: setpriv missing"
fi
check "begin of a guest that is not here is refused" bash -c "! '$XLMIG' -S '$AG' backup begin nosuch --agent acme"
r=$(ag backup progress "$job" --token-text 'offset=4096' --json)
[ "$(jq -r .token_text <<<"$r")" = offset=4096 ] && ok "progress keeps the token" || fail "progress" "$r"
[ "$(jq -r .state <<<"$r")" = running ] && ok "job running" || fail "job state" "$r"

# Killed and restarted: the job, its token and its lease are still there.
host_kill a
host_start a "${STALL_A[@]}" || exit 1
# Until sim guests live in their own process, they die with xlmigd.
has_guest a vm || xa create vm --memory 64M --rate 1M >/dev/null
r=$(ag backup show "$job" --json)
[ "$(jq -r .state <<<"$r")" = running ] && [ "$(jq -r .token_text <<<"$r")" = offset=4096 ] &&
	ok "after kill -9 the job and its token are known" || fail "restart" "$r"

check "end" ag backup end "$job" --message "42 GiB written"
check "a job ends once" bash -c "! '$XLMIG' -S '$AG' backup end '$job'"
for i in $(seq 100); do grep -q "backup-ended job=$job" "$WORK/hooklog" 2>/dev/null && break; sleep 0.1; done
grep -q "backup-ended job=$job dom=vm agent=acme outcome=done token=6f66667365743d34303936 on=hostA" "$WORK/hooklog" &&
	ok "backup-ended hook ran with its variables" || fail "hook variables" "$(cat "$WORK/hooklog" 2>/dev/null)"
# The failing, hanging and garbage hooks are logged, and the hang was cut.
for i in $(seq 60); do grep -q "40-garbage printed bytes" "$WORK/a/log" && break; sleep 0.1; done
grep -q "20-fail failed with exit status 4; output: disk full" "$WORK/a/log" && ok "a failing hook is logged with status and output" ||
	fail "failing hook" "not in the log"
grep -q "30-hang did not finish within its timeout and was killed" "$WORK/a/log" && ok "a hanging hook is killed and logged" ||
	fail "hanging hook" "not in the log"
grep -q '40-garbage.*\\x01\\xff' "$WORK/a/log" && ok "garbage output is logged escaped" || fail "garbage hook" "not in the log"
grep -q "must not run" "$WORK/hooklog" && fail "run-parts names" "a backup file ran" || ok "backup files (name~) never run"
[ "$(jq -r .state <<<"$(ag backup show "$job" --json)")" = done ] && ok "the hooks' failures did not change the job" ||
	fail "job after hooks" "not done"

short=$(ag backup begin vm --agent slow --lease 1 --json | jq -r .id)
for i in $(seq 50); do [ "$(ag backup show "$short" --json | jq -r .state)" = expired ] && break; sleep 0.1; done
[ "$(ag backup show "$short" --json | jq -r .state)" = expired ] && ok "a job whose lease ran out expired" || fail "lease" "not expired"
for i in $(seq 50); do grep -q "backup-expired job=$short" "$WORK/hooklog" && break; sleep 0.1; done
grep -q "backup-expired job=$short" "$WORK/hooklog" && ok "backup-expired hook ran" || fail "expired hook" "did not run"

# Leases run out while xlmigd is down too.
j2=$(ag backup begin vm --agent acme --lease 2 --json | jq -r .id)
host_kill a
sleep 3
host_start a "${STALL_A[@]}" || exit 1
has_guest a vm || xa create vm --memory 64M --rate 1M >/dev/null
[ "$(ag backup show "$j2" --json | jq -r .state)" = expired ] && ok "a lease that ran out while xlmigd was down expires at start" ||
	fail "lease across restart" "$(ag backup show "$j2" --json)"
[ "$(ag backup list --json | jq '.jobs | length')" = 0 ] && ok "list shows no active job" || fail "list" "jobs left"
[ "$(ag backup list --all --json | jq '.jobs | length')" = 3 ] && ok "list --all shows the history" || fail "list --all" "not 3"
hosts_down
