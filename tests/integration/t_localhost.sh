#!/bin/bash
# t_localhost.sh - one xlmigd migrating a guest to itself, as `xl migrate`
# to localhost does: by 127.0.0.1 and by its own address.  After each:
# a new domain id, the counter resumes from exactly where it stopped and
# advances, and one copy is left under the guest's name.  A guest of the
# same name on another host still refuses the migration.
. "$(dirname "$0")/lib.sh"
hosts_up

domid() { "$XLMIG" -S "$(sock "$1")" list "$2" --json 2>/dev/null | jq -r .domain.domid; }
jobs_done() { xa jobs --json | jq --arg n "$1" '[.jobs[] | select(.domain == $n and .step == "done")] | length'; }
copies() { "$XLMIG" -S "$(sock "$1")" list --json | jq --arg n "$2" '[.domains[] | select(.name | startswith($n))] | length'; }

# self_case NAME TARGET: NAME on host a migrates to a itself at TARGET.
self_case() {
	local name=$1 target=$2 before done0 out tag="$1 a->a via $2"
	before=$(domid a "$name")
	done0=$(jobs_done "$name")
	out=$(xa migrate "$name" "$target" --verify --json)
	if [ "$(json .step <<<"$out")" != done ]; then
		fail "$tag" "job ended $(json .step <<<"$out"): $(json .message <<<"$out")"
		return
	fi
	ok "$tag: done in $(json .stats.total_ms <<<"$out") ms, downtime $(json .stats.downtime_ms <<<"$out") ms"
	[ "$(json .stats.transport <<<"$out")" = in-process ] &&
		[ "$(json .stats.stream_digest <<<"$out")" = none ] &&
		ok "$tag: over one in-process channel, not the network, and no stream digest" ||
		fail "$tag" "its channels went by $(json .stats.transport <<<"$out"), stream digest $(json .stats.stream_digest <<<"$out")"
	local after cs cd now
	after=$(domid a "$name")
	[ -n "$after" ] && [ "$after" != null ] && [ "$after" != "$before" ] &&
		ok "$tag: new domain id ($before -> $after)" ||
		fail "$tag" "domain id $before before, $after after"
	cs=$(json .stats.counter_source <<<"$out"); cd=$(json .stats.counter_dest <<<"$out")
	now=$(counter a "$name")
	[ "$cs" = "$cd" ] && [ "$now" -gt "$cd" ] &&
		ok "$tag: counter continues ($cs at pause, $cd on resume, $now now)" ||
		fail "$tag" "counter $cs at pause, $cd on resume, $now now"
	check "$tag: runs" runs_on a "$name"
	[ "$(copies a "$name")" = 1 ] && ! has_guest a "$name--migratedaway" && ! has_guest a "$name--incoming" &&
		ok "$tag: one copy left" ||
		fail "$tag" "$(copies a "$name") domains named $name* on the host"
	[ "$(jobs_done "$name")" = $((done0 + 2)) ] &&
		ok "$tag: both sides' jobs journaled as done" ||
		fail "$tag" "jobs: $(xa jobs --json | jq -c '[.jobs[] | {id, role, step, domain}]')"
}

xa create g1 --memory 128M --rate 10M >/dev/null
self_case g1 127.0.0.1:$PORT_A
own=${IP_A}:$PORT_A; [ $USE_NETNS = 1 ] || own=127.0.0.1:$PORT_A
self_case g1 "$own"

# Another host's guest of the same name is not the migrating one.
xa create g2 --memory 64M >/dev/null
xb create g2 --memory 64M >/dev/null
out=$(xa migrate g2 "$(addr_b)" --json)
[ "$(json .step <<<"$out")" = failed ] && grep -q "already exists" <<<"$(json .message <<<"$out")" &&
	[ "$(state a g2)" = running ] && [ "$(state b g2)" = running ] &&
	ok "a name taken on another host is still refused" ||
	fail "name taken on another host" "job $(json .step <<<"$out"): $(json .message <<<"$out")"
