#!/bin/bash
# t_hostile.sh - peers that do not play by the rules: a host outside the
# peers file, a plain (non-TLS) client, a flood of idle connections from
# one address, a peer that dribbles bytes or stalls before it has
# authenticated (dropped at auth_timeout), frames that lie about their
# length or come out of order, a JOIN for a session that does not exist,
# a stream for a guest name that exists here (or is taken while the
# stream comes), a host of the cluster reflecting a's own HELLO back to
# a, an on-path attacker writing a forged CTRL GO raw into the TCP stream
# (mid-session, or after cutting the source's side of it), a peer name
# that is a number, and more migrations than max_incoming (the on-path
# host is tests/integration/onpath.py).  After each, the control
# socket answers and the guests on both hosts run on untouched; a
# migration from a host that is allowed still runs, and a refused one
# leaves its guest running on the source.
. "$(dirname "$0")/lib.sh"
hosts_up
[ $USE_NETNS = 1 ] || { skip "hostile peers" "needs network namespaces (root)"; exit 0; }
in_b() { ip netns exec "$NS_B" "$@"; }

xa create g1 --memory 64M --rate 1M >/dev/null || { fail setup "cannot create g1"; exit 1; }

# A host of the CA that b's peers file does not list: refused, and the
# guest runs on at the source.
printf 'b\n' > "$WORK/tls/b/peers"
host_start b || exit 1
out=$(xa migrate g1 "$(addr_b)" --json 2>/dev/null)
sleep 0.5
[ "$(json .step <<<"$out")" != done ] && has_guest a g1 && ! has_guest b g1 &&
	ok "a host not in the peers file is refused; the guest runs on at the source" ||
	fail "peers file" "job ended $(json .step <<<"$out"), guest on a: $(has_guest a g1 && echo yes)"
grep -q "'a' may not send migrations here" "$WORK/b/log" &&
	ok "the refusal names the host and the peers file" ||
	fail "peers refusal" "not in b's log"
runs_on a g1 && ok "g1 still runs on a" || fail "g1" "does not run on a"
printf 'a\nb\n' > "$WORK/tls/b/peers"
host_start b -- --auth-timeout 2 || exit 1

# A plain client speaking the xlmig protocol without TLS: refused, logged.
in_b bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT_B; printf 'xlmig plain hello' >&3; sleep 1" 2>/dev/null
grep -q "TLS handshake failed" "$WORK/b/log" &&
	ok "a plain connection is refused at the TLS handshake" ||
	fail "plain connection" "no TLS refusal in b's log"

# Sixty idle connections from one address (b's own loopback): at most 24
# wait at a time, the rest are closed at once; the control socket answers.
in_b bash -c "for i in \$(seq 60); do exec {fd}<>/dev/tcp/127.0.0.1/$PORT_B || true; done; sleep 8" 2>/dev/null &
flood=$!
sleep 1
check "control socket answers during the flood" xb list
# ... and a host that is allowed still migrates meanwhile, from another address.
out=$(xa migrate g1 "$(addr_b)" --json)
[ "$(json .step <<<"$out")" = done ] && ok "migration a->b during the flood" ||
	fail "migration during the flood" "$(json .message <<<"$out")"
grep -q "too many unauthenticated connections" "$WORK/b/log" &&
	ok "the flood was capped per source address" ||
	fail "flood cap" "b's log does not show the cap"
wait $flood


# ---- peers that authenticate too slowly, or lie ----

xb create h1 --memory 64M --rate 1M >/dev/null || { fail setup "cannot create h1 on b"; exit 1; }
h1_counter=$(counter b h1)

# The guests are untouched and b still serves: checked after each case.
# (g1 moved to b during the flood.)
unharmed() { # case
	xb list >/dev/null 2>&1 && runs_on b h1 && runs_on b g1 &&
		ok "$1: b serves, its guests run on" ||
		fail "$1" "b's control socket or a guest was harmed"
}

# TLS to b as host a (a certificate b accepts), then the bytes printf
# makes of $1, then $2 seconds of silence.
tls_send() { # printf-format seconds
	in_b bash -c "{ printf '$1'; sleep $2; } | timeout $(($2 + 10)) openssl s_client -quiet \
		-cert $WORK/tls/a/host.crt -key $WORK/tls/a/host.key -CAfile $WORK/tls/a/ca.crt \
		-connect 127.0.0.1:$PORT_B" >/dev/null 2>&1
}

# Waits (up to $2 s) for b's log to show $1.
log_shows() { # regex seconds
	local i
	for i in $(seq $(($2 * 10))); do
		grep -Eq "$1" "$WORK/b/log" && return 0
		sleep 0.1
	done
	return 1
}

# Slowloris: one byte of a TLS ClientHello a second.  Each byte comes well
# within any read's timeout; the deadline from accept drops it.
start=$(date +%s)
in_b bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT_B; for i in \$(seq 12); do printf '\\x16' >&3 || exit 0; sleep 1; done" 2>/dev/null &
drip=$!
log_shows "dropped: not authenticated within 2 s" 8 &&
	ok "a peer dribbling its TLS handshake is dropped at auth_timeout" ||
	fail "slowloris" "not dropped within 8 s"
wait $drip
took=$(($(date +%s) - start))
[ $took -lt 10 ] && ok "the dribbling peer's connection ended after ${took} s" ||
	fail "slowloris" "its connection lasted ${took} s"
unharmed "slowloris"

# TLS done, then nothing: dropped at the same deadline.
n=$(grep -c "dropped: not authenticated" "$WORK/b/log")
tls_send '' 5
[ "$(grep -c "dropped: not authenticated" "$WORK/b/log")" -gt "$n" ] &&
	ok "a peer silent after TLS is dropped at auth_timeout" ||
	fail "silent peer" "not dropped"
unharmed "silent peer"

# A HELLO whose header announces 4 GiB: refused from the header alone.
tls_send 'XF\x01\x00\xf0\xff\xff\xffAAAAAAAA' 1
log_shows "HELLO frame with payload length 4294967280" 5 &&
	ok "a frame lying about its length is refused from its header" ||
	fail "length lie" "no refusal in b's log"
unharmed "length lie"

# A CTRL frame before any handshake.
tls_send 'XF\x21\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00' 1
log_shows "must start with HELLO or JOIN, not CTRL" 5 &&
	ok "a CTRL frame out of order is refused" ||
	fail "out of order" "no refusal in b's log"
unharmed "out of order"

# A JOIN for a session that does not exist (88 bytes of zeros).
tls_send "XF\\x05\\x00\\x58\\x00\\x00\\x00$(printf '\\x00%.0s' $(seq 96))" 5
log_shows "JOIN for a session that is not setting up" 8 &&
	ok "a JOIN for an unknown session is refused" ||
	fail "stray JOIN" "no refusal in b's log"
unharmed "stray JOIN"

# ---- authenticated sources asking for what they may not have ----

# (A digits-only guest name, which would read as a domain id, cannot be
# made on a sim host: test_guest_policy holds the rule the destination's
# PREFLIGHT applies; test_job holds its disk and bridge refusals.)

# A guest whose name b already has: refused at PREFLIGHT; both copies run.
xa create h1 --memory 64M --rate 1M >/dev/null || { fail setup "cannot create h1 on a"; exit 1; }
out=$(xa migrate h1 "$(addr_b)" --json 2>/dev/null)
[ "$(json .step <<<"$out")" != done ] && runs_on a h1 && runs_on b h1 &&
	ok "a stream for a name that exists here is refused; both guests run on" ||
	fail "existing name" "job $(json .step <<<"$out"): $(json .message <<<"$out")"
[ "$(counter b h1)" -gt "$h1_counter" ] && ok "b's h1 was never replaced (its counter only grew)" ||
	fail "existing name" "b's h1 counter went back"
xa destroy h1 >/dev/null 2>&1

unharmed "name checks"

# ---- an on-path host, and a host of the cluster that reflects ----

# A background onpath.py in b's namespace (or a's, for the reflection),
# killed when the case ends; its lines go to $WORK/onpath.log.
ONPATH_PORT=$((PORT_B + 11))
onpath_start() { # ns mode target args...
	local ns=$1; shift
	: >"$WORK/onpath.log"
	ip netns exec "$ns" python3 "$(dirname "$0")/onpath.py" "$1" "$2:$ONPATH_PORT" "${@:3}" \
		>>"$WORK/onpath.log" 2>&1 &
	onpath=$!
	for i in $(seq 50); do
		grep -q "listening on $2:$ONPATH_PORT" "$WORK/onpath.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
onpath_stop() { kill "$onpath" 2>/dev/null; wait "$onpath" 2>/dev/null; }

# b's own guests run on, and neither host holds a copy of the guest $2
# it should not: $1 names the case.
after_onpath() { # case guest
	unharmed "$1"
	xa list >/dev/null && runs_on a "$2" && ! has_guest b "$2" && ! has_guest b "$2--incoming" &&
		! has_guest a "$2--incoming" &&
		ok "$1: $2 runs on at a, one copy, none left half-made" ||
		fail "$1" "$2 on a: $(state a "$2"), on b: $(state b "$2") $(state b "$2--incoming")"
}

# Each daemon's open fds and anonymous memory, to hold them bounded.
fds_of() { ls "/proc/${PID[$1]}/fd" | wc -l; }
rss_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/${PID[$1]}/status"; }
fds_a=$(fds_of a) fds_b=$(fds_of b) rss_b=$(rss_kb b)

xa create r1 --memory 64M --rate 1M >/dev/null || { fail setup "cannot create r1"; exit 1; }

# Reflection: a host of the cluster (it holds b's certificate, which a
# dials by b's address) answers a's migration by replaying a's own
# HELLO, and everything after it, to a's own listener.  a refuses the
# relayed proof, naming why; its migration fails, its guest runs on.
onpath_start "$NS_B" reflect "$IP_B" "$IP_A:$PORT_A" "$WORK/tls/b/host.crt" "$WORK/tls/b/host.key" \
	"$WORK/tls/b/ca.crt" || fail "reflection" "onpath.py did not start"
out=$(xa migrate r1 "$IP_B:$ONPATH_PORT" --json 2>/dev/null)
onpath_stop
grep -q "relaying" "$WORK/onpath.log" && grep -q "proof does not match this connection" "$WORK/a/log" &&
	ok "a's HELLO reflected to its own listener is refused there, named as relayed" ||
	fail "reflection" "not refused by a's listener: $(grep -c relaying "$WORK/onpath.log") relays"
[ "$(json .step <<<"$out")" = failed ] && grep -q "proof" <<<"$(json .message <<<"$out")" &&
	ok "the reflected migration fails, saying the proof did not match" ||
	fail "reflection" "job $(json .step <<<"$out"): $(json .message <<<"$out")"
after_onpath "reflection" r1

# A forged GO injected raw into channel 0's TCP stream mid-transfer: not
# a TLS record of the session, so b drops the session and rolls back; a
# resumes its guest.  Then the same after the attacker cut a's side of
# the session: b reads no plain frame after TLS, whatever comes.
for mode in inject cut; do
	onpath_start "$NS_B" "$mode" "$IP_B" "$IP_B:$PORT_B" 1048576 ||
		fail "forged CTRL ($mode)" "onpath.py did not start"
	b_log_from=$(($(wc -l <"$WORK/b/log") + 1))
	out=$(xa migrate r1 "$IP_B:$ONPATH_PORT" --bandwidth 16M --json 2>/dev/null)
	onpath_stop
	# b may learn of the end after a does: wait for its word on this job.
	for _ in $(seq 50); do
		b_said=$(tail -n +"$b_log_from" "$WORK/b/log" | grep '(incoming) failed' | tail -1)
		[ -n "$b_said" ] && break
		sleep 0.2
	done
	grep -q "forged CTRL GO written" "$WORK/onpath.log" && [ "$(json .step <<<"$out")" = failed ] &&
		ok "a forged CTRL GO ($mode) fails the migration: $(json .message <<<"$out" | cut -c1-120)" ||
		fail "forged CTRL ($mode)" "injected: $(grep -c written "$WORK/onpath.log"), job $(json .step <<<"$out"): $(json .message <<<"$out")"
	# Where the forged bytes fall decides what TLS reports: inside one of
	# the session's records, a record that fails its MAC; between two, a
	# record header that is not TLS; after the cut, also a frame cut
	# short.  Either way b says it stopped receiving, and why.
	why="bad record mac|wrong version number|record layer failure|packet length too long"
	[ $mode = cut ] && why="$why|closed in the middle of a frame|unexpected eof"
	grep -Eq "failed: while receiving: .*($why)" <<<"$b_said" &&
		ok "forged CTRL ($mode): b drops the session, saying why" ||
		fail "forged CTRL ($mode)" "b's log does not say one of '$why': ${b_said:-nothing}"
	after_onpath "forged CTRL ($mode)" r1
done

# A guest of the same name appears here while the stream comes: b
# refuses before READY, naming it; the source resumes, b's own guest of
# that name is untouched.
job=$(xa migrate r1 "$(addr_b)" --bandwidth 8M --detach)
wait_step a "$job" 'precopy' || fail "name taken" "the job never reached precopy"
xb create r1 --memory 64M --rate 1M >/dev/null || fail "name taken" "cannot create r1 on b"
for i in 1 2 3; do wait_final a "$job" 2>/dev/null && break; done
msg=$("$XLMIG" -S "$(sock a)" status "$job" --json | jq -r .message)
[ "$(step_of a "$job")" = failed ] && grep -q "name was taken here during the migration: a domain named r1 already exists" <<<"$msg" &&
	ok "a stream for a name taken here meanwhile is refused, naming it" ||
	fail "name taken" "job $(step_of a "$job"): $msg"
runs_on a r1 && runs_on b r1 && ! has_guest b r1--incoming &&
	[ "$(xb list --json | jq '[.domains[] | select(.name == "r1")] | length')" = 1 ] &&
	ok "name taken: r1 runs on at a, b's own r1 runs on, no copy left on b" ||
	fail "name taken" "a: $(state a r1), b: $(state b r1), b's incoming: $(state b r1--incoming)"
xa destroy r1 >/dev/null 2>&1; xb destroy r1 >/dev/null 2>&1
unharmed "on-path cases"
sleep 1   # the sessions' threads end
[ "$(fds_of a)" -le $((fds_a + 2)) ] && [ "$(fds_of b)" -le $((fds_b + 2)) ] &&
	ok "on-path cases: fds bounded (a $fds_a -> $(fds_of a), b $fds_b -> $(fds_of b))" ||
	fail "on-path fds" "a $fds_a -> $(fds_of a), b $fds_b -> $(fds_of b)"
[ "$(rss_kb b)" -le $((rss_b + 32768)) ] &&
	ok "on-path cases: b's memory bounded (RssAnon $rss_b -> $(rss_kb b) kB)" ||
	fail "on-path memory" "b's RssAnon $rss_b -> $(rss_kb b) kB"

# More migrations than b takes at once (max_incoming 1): the second is
# refused naming the setting, its guest runs on at a.
host_start b -- --auth-timeout 2 --max-incoming 1 || exit 1
xa create g2 --memory 64M --rate 1M >/dev/null && xa create g3 --memory 64M --rate 1M >/dev/null ||
	{ fail setup "cannot create g2, g3"; exit 1; }
job=$(xa migrate g2 "$(addr_b)" --bandwidth 8M --detach)
wait_step a "$job" 'precopy' || fail "max_incoming" "the first job never reached precopy"
out=$(xa migrate g3 "$(addr_b)" --json 2>/dev/null)
grep -q "max_incoming" <<<"$out" && runs_on a g3 && ! has_guest b g3 &&
	ok "a migration over max_incoming is refused, naming it; the guest runs on at a" ||
	fail "max_incoming" "second job: $(json .step <<<"$out") $(json .message <<<"$out")"
# 64 MiB at 8 MiB/s: give a loaded machine a minute (wait_final waits 20 s).
for i in 1 2 3; do wait_final a "$job" 2>/dev/null && break; done
[ "$(step_of a "$job")" = done ] && runs_on b g2 &&
	ok "the first migration finished meanwhile" ||
	fail "max_incoming" "the first job ended $(step_of a "$job")"
unharmed "max_incoming"
