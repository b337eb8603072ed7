#!/bin/bash
# t_ocf.sh - the Pacemaker resource agent ocf:xlmig:guest on the two sim
# hosts: ocf-tester's checks (where resource-agents is installed), then
# start, monitor, migrate_to/migrate_from as Pacemaker calls them, a
# failed migrate_to that leaves the guest running on the source, stop.
. "$(dirname "$0")/lib.sh"
AGENT=$ROOT/ocf/guest
export OCF_ROOT=/usr/lib/ocf
if [ ! -r $OCF_ROOT/lib/heartbeat/ocf-shellfuncs ]; then
	skip ocf "resource-agents is not installed (its ocf-shellfuncs are needed)"
	exit 0
fi
hosts_up

# ra HOST ACTION [VAR=value...]: run the agent as Pacemaker does on HOST.
ra() {
	local h=$1 action=$2; shift 2
	env OCF_RESOURCE_INSTANCE=vm1 OCF_RESKEY_name=g1 OCF_RESKEY_socket="$(sock "$h")" \
		OCF_RESKEY_xlmig="$XLMIG" OCF_RESKEY_sim_options="--memory 64M --rate 1M" \
		OCF_RESKEY_CRM_meta_timeout=20000 "$@" "$AGENT" "$action" >>"$WORK/ra.log" 2>&1
}
expect() { # NAME WANT HOST ACTION [VAR=value...]
	local name=$1 want=$2; shift 2
	ra "$@"
	local rc=$?
	[ $rc = "$want" ] && ok "ocf: $name (rc $rc)" || fail "ocf: $name" "rc $rc, wanted $want: $(tail -3 "$WORK/ra.log")"
}

if command -v ocf-tester >/dev/null; then
	# ocf-tester also runs the agent as nobody, as Pacemaker may: it
	# gets a copy where an installed agent would be reachable (mode 755
	# on the way), not the checkout's, which may sit under a 0700 dir.
	tester_dir=$(mktemp -d /tmp/xlmig-ocf.XXXXXX) && chmod 755 "$tester_dir" &&
		install -m 755 "$AGENT" "$tester_dir/guest"
	if ocf-tester -n vm1 -o name=t1 -o socket="$(sock a)" -o xlmig="$XLMIG" \
		-o sim_options="--memory 64M" "$tester_dir/guest" >"$WORK/tester.log" 2>&1; then
		ok "ocf-tester: $(grep -c '^\*' "$WORK/tester.log") checks, $(tail -1 "$WORK/tester.log")"
	else
		fail "ocf-tester" "$(grep -vE '^\* (Your|Checking)' "$WORK/tester.log" | tail -8)"
	fi
	rm -rf "$tester_dir"
else
	skip ocf-tester "not installed"
fi

out=$("$AGENT" meta-data 2>&1)
grep -q '<action name="migrate_to"' <<<"$out" && xmllint --noout - <<<"$out" 2>/dev/null &&
	ok "ocf: meta-data is well-formed XML with migrate_to" || fail "meta-data" "$out"
expect "validate-all: a bad shutdown_timeout is a configuration error" 6 a validate-all OCF_RESKEY_shutdown_timeout=soon
expect "validate-all: a missing config file is not installed" 5 a validate-all OCF_RESKEY_config=/nonexistent.cfg
expect "validate-all: good parameters" 0 a validate-all
expect "monitor before start: not running" 7 a monitor
expect "start on a" 0 a start
expect "monitor on a: running" 0 a monitor
expect "monitor on b: not running" 7 b monitor
c1=$(counter a g1)
target=$IP_B; [ $USE_NETNS = 1 ] || target=127.0.0.1
expect "migrate_to b (xlmig migrate)" 0 a migrate_to OCF_RESKEY_CRM_meta_migrate_target=$target OCF_RESKEY_migrate_port=$PORT_B
expect "migrate_from on b" 0 b migrate_from
expect "monitor on a after migration: not running" 7 a monitor
expect "monitor on b after migration: running" 0 b monitor
c2=$(counter b g1)
[ -n "$c1" ] && [ -n "$c2" ] && [ "$c2" -ge "$c1" ] && runs_on b g1 &&
	ok "ocf: the guest kept running through the migration (counter $c1 -> $c2)" ||
	fail "ocf: continuity" "counter $c1 -> $c2"
# Back to a over a port where nobody listens: fails, the guest stays on b.
expect "migrate_to a nowhere fails" 1 b migrate_to OCF_RESKEY_CRM_meta_migrate_target=$target OCF_RESKEY_migrate_port=1
runs_on b g1 && ok "ocf: after the failed migrate_to the guest still runs on b" || fail "ocf: failed migrate" "g1 not running on b"
expect "stop on a (not there): success" 0 a stop
expect "stop on b" 0 b stop
expect "monitor on b after stop: not running" 7 b monitor
