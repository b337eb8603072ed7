#!/bin/bash
# t_hostile.sh - peers that do not play by the rules: a host outside the
# peers file, a plain (non-TLS) client, and a flood of idle connections
# from one address.  Each is refused or outlasted with the control socket
# answering throughout; a migration from a host that is allowed still
# runs, and a refused one leaves its guest running on the source.
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
host_start b || exit 1

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

