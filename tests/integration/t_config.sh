#!/bin/bash
# t_config.sh - xlmigd's configuration file: --check-config answers OK or
# lists every error with its line; a daemon refuses to start on a bad or
# missing named file; a running daemon takes its settings from the file
# and a command-line flag overrides the file.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/good.conf" <<'CONF'
# a valid file
hv = "sim"
listen = 127.0.0.1      # loopback only
port = 9999
max_jobs = 1
log_level = "warn"
CONF
cat >"$WORK/bad.conf" <<'CONF'
port = 70000
max_jobs = 2
colour = blue
hv = kvm
CONF

out=$("$XLMIGD" --check-config "$WORK/good.conf" 2>&1) && [ "$out" = "$WORK/good.conf: OK" ] &&
	ok "check-config: a valid file is OK (exit 0)" || fail "check-config good" "$out"

out=$("$XLMIGD" --check-config="$WORK/bad.conf" 2>&1)
st=$?
if [ $st = 1 ] && grep -q "bad.conf:1: port wants a whole number from 1 to 65535" <<<"$out" &&
	grep -q "bad.conf:3: unknown setting 'colour'" <<<"$out" &&
	grep -q "bad.conf:4: hv is one of auto|sim|xen" <<<"$out" && ! grep -q "bad.conf:2" <<<"$out"; then
	ok "check-config: every error with its line, exit 1"
else
	fail "check-config bad" "status $st: $out"
fi

out=$("$XLMIGD" -f -c "$WORK/missing.conf" -s "$WORK/s" -S "$WORK/s.sock" 2>&1)
st=$?
[ $st != 0 ] && grep -q "cannot open $WORK/missing.conf" <<<"$out" &&
	ok "a named configuration file that is missing stops the start" ||
	fail "missing config" "status $st: $out"

out=$("$XLMIGD" -f -c "$WORK/bad.conf" -s "$WORK/s" -S "$WORK/s.sock" 2>&1)
st=$?
[ $st != 0 ] && grep -q "bad.conf:3: unknown setting" <<<"$out" && [ ! -S "$WORK/s.sock" ] &&
	ok "a bad configuration file stops the start, with its line numbers" ||
	fail "bad config start" "status $st: $out"

# host a reads good.conf; host_start's -p overrides its port 9999.
hosts_up
host_start a -- -c "$WORK/good.conf" || exit 1
ns=(); [ $USE_NETNS = 1 ] && ns=(ip netns exec "$NS_A")
listening=$("${ns[@]}" ss -ltnpH 2>/dev/null | grep "pid=${PID[a]}," | awk '{print $4}')
[ "$listening" = "127.0.0.1:$PORT_A" ] &&
	ok "the file sets the listen address, -p overrides its port ($listening)" ||
	fail "file and flags" "daemon listens on '$listening', wanted 127.0.0.1:$PORT_A"
grep -q "serving" "$WORK/a/log" &&
	ok "--log-level debug on the command line overrides log_level = warn" ||
	fail "log level" "no info lines in the log"

# A freshly installed host has no TLS identity: xlmigd serves its control
# socket, listens on no network port, and refuses to send a guest, which
# keeps running here.
host_start a -- --tls-dir "$WORK/no-tls" || exit 1
listening=$("${ns[@]}" ss -ltnpH 2>/dev/null | grep -c "pid=${PID[a]},")
grep -q "no TLS identity in $WORK/no-tls" "$WORK/a/log" && [ "$listening" = 0 ] &&
	ok "no TLS identity: xlmigd serves locally and listens on no port" ||
	fail "no identity" "listening sockets: $listening; $(tail -3 "$WORK/a/log")"
xa create lonely --memory 64M >/dev/null
out=$(xa migrate lonely "$(addr_b)" 2>&1)
st=$?
[ $st != 0 ] && grep -q "setup-tls" <<<"$out" && [ "$(state a lonely)" = running ] &&
	ok "no TLS identity: a migration is refused, the guest runs on" ||
	fail "no identity migrate" "status $st, state $(state a lonely): $out"

# The default listen addresses: the migration network, not every address.
# a gets a default route through its veth and a second interface (a veth
# of its own) on another network: restarted without listen, it listens on
# loopback (::1 too where lo has it) and its veth's address only; with no
# default route, on every address, and says so.
if [ $USE_NETNS = 1 ]; then
	ip -n "$NS_A" link add xlmig-other type veth peer name xlmig-other1 && ip -n "$NS_A" addr add 10.231.9.1/24 dev xlmig-other &&
		ip -n "$NS_A" link set xlmig-other up && ip -n "$NS_A" route add default via "$IP_B" ||
		fail "listen default" "cannot set up a's networks"
	host_start a || exit 1
	listening=$("${ns[@]}" ss -ltnpH 2>/dev/null | grep "pid=${PID[a]}," | awk '{print $4}' | sort | xargs)
	[ "${listening/ \[::1\]:$PORT_A/}" = "$IP_A:$PORT_A 127.0.0.1:$PORT_A" ] &&
		grep -Eq "listening for migrations on 127.0.0.1, (::1, )?$IP_A port $PORT_A: loopback and $VETH_A" "$WORK/a/log" &&
		ok "by default xlmigd listens on loopback and the default route's interface ($listening)" ||
		fail "listen default" "listening on '$listening'"
	xb create far --memory 64M >/dev/null
	out=$(xb migrate far "$IP_A:$PORT_A" --json)
	[ "$(json .step <<<"$out")" = done ] && runs_on a far &&
		ok "a migration reaches a on the default route's address" ||
		fail "listen default" "b -> a: $(json .message <<<"$out")"
	ip -n "$NS_A" route del default
	host_start a || exit 1
	listening=$("${ns[@]}" ss -ltnpH 2>/dev/null | grep "pid=${PID[a]}," | awk '{print $4}' | xargs)
	[ "$listening" = "0.0.0.0:$PORT_A" ] && grep -q "no default route: listening for migrations on every address" "$WORK/a/log" &&
		ok "without a default route xlmigd listens on every address and warns" ||
		fail "listen no route" "listening on '$listening'"
else
	skip "listen default" "needs network namespaces (root)"
fi
