#!/bin/bash
# t_systemd.sh - xlmigd.service as `make install` installs it, started by
# a real systemd: this machine's own system booted in a container
# (systemd-nspawn -b) over a copy-on-write overlay of /, so nothing of
# the host changes and nothing is downloaded.  Checks: the unit passes
# systemd-analyze verify; `systemctl start` returns once xlmigd said
# READY (Type=notify) and the control socket answers; its log is in the
# journal; `systemctl stop` in the middle of a migration cancels the job
# and resumes the guest; after a SIGKILL mid-migration the restarted
# service recovers the job before it reports ready.
#
# Skips (saying why) where systemd-nspawn, overlayfs or root are missing
# (see container.sh).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/container.sh"
trap 'container_down; cleanup' EXIT
container_prepare "$WORK" >"$WORK/why" || { echo "skip systemd: $(cat "$WORK/why")"; exit 0; }

# Install as an administrator would, into the container's copy of /.
make -s -C "$ROOT" install DESTDIR="$ROOTFS" PREFIX=/usr/local B="$BIN" >"$WORK/install.log" 2>&1 ||
	{ fail "make install" "$(tail -5 "$WORK/install.log")"; exit 1; }
out=$(systemd-analyze verify --man=no --root="$ROOTFS" /usr/local/lib/systemd/system/xlmigd.service 2>&1)
[ -z "$out" ] && ok "systemd-analyze verify: the installed unit is clean" || fail "verify" "$out"
rm -f "$ROOTFS/etc/xlmig/xlmigd.conf" "$ROOTFS/etc/xlmig/xlmig.key"
"$XLMIGD" --gen-key "$ROOTFS/etc/xlmig/xlmig.key" >/dev/null || exit 1
printf 'hv = sim\nlog_level = debug\n' >"$ROOTFS/etc/xlmig/xlmigd.conf"
# Its TLS identity where the unit's daemon looks for it (tls_dir's
# default), from a cluster CA of its own, as an administrator sets it up;
# it migrates to itself, so it is its own allowed peer.
rm -rf "$ROOTFS/etc/xlmig/tls"
"$XLMIG" setup-tls ca "$WORK/tls-ca" >/dev/null &&
"$XLMIG" setup-tls host --ca "$WORK/tls-ca" --out "$ROOTFS/etc/xlmig/tls" --allow ct ct 127.0.0.1 >/dev/null ||
	{ fail "setup-tls" "could not make the container's certificates"; exit 1; }
# The test's stall, so a migration can be caught at a step: the test
# build of the same daemon (fault-injection points) replaces the
# installed one, which reads no test variables.
use_fault_build || exit 1
install -m 0755 "$XLMIGD" "$ROOTFS/usr/local/sbin/xlmigd"
mkdir -p "$ROOTFS/etc/systemd/system/xlmigd.service.d"
printf '[Service]\nEnvironment=XLMIG_FAULT=ready:stall:20000\n' \
	>"$ROOTFS/etc/systemd/system/xlmigd.service.d/test.conf"

container_boot "$WORK/nspawn.log" >"$WORK/why" || { fail "boot" "$(cat "$WORK/why")"; exit 1; }
ok "booted this host's system under systemd in a container ($(in_ct systemctl is-system-running))"

X() { in_ct /usr/local/sbin/xlmig "$@"; }
t0=$(date +%s%N)
if in_ct systemctl start xlmigd.service; then
	# Type=notify: start returned after READY=1, so the socket answers at once.
	if X list >/dev/null 2>&1; then
		ok "systemctl start returned with xlmigd ready ($(( ($(date +%s%N) - t0) / 1000000 )) ms), socket answering"
	else
		fail "ready" "systemctl start returned but 'xlmig list' fails"
	fi
else
	fail "start" "$(in_ct systemctl status xlmigd --no-pager 2>&1 | tail -15)"
	exit 1
fi
st=$(in_ct systemctl show xlmigd -p Type -p ActiveState -p SubState -p StatusText -p KillMode | tr '\n' ' ')
[[ $st == *"Type=notify"* && $st == *"SubState=running"* && $st == *"StatusText=serving"* && $st == *"KillMode=mixed"* ]] &&
	ok "unit state: $st" || fail "unit state" "$st"
in_ct journalctl -u xlmigd --no-pager -o cat | grep -q "serving /run/xlmig/xlmigd.sock" &&
	ok "xlmigd's log is in the journal" || fail "journal" "no 'serving' line in journalctl -u xlmigd"

# Stop in the middle of a migration (held at 'ready', guest paused on
# both sides): the job is cancelled, the source resumes its guest.
X create g1 --memory 64M --rate 1M >/dev/null || fail "create" "xlmig create failed"
X migrate g1 127.0.0.1 >"$WORK/mig1" 2>&1 &
mig=$!
for i in $(seq 200); do
	in_ct journalctl -u xlmigd --no-pager -o cat | grep -q "fault point ready reached" && break
	sleep 0.1
done
X list g1 --json >"$WORK/paused" 2>&1
t0=$(date +%s%N)
in_ct systemctl stop xlmigd.service
stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $mig
log=$(in_ct journalctl -u xlmigd --no-pager -o cat)
res=$(in_ct systemctl show xlmigd -p Result --value)
if grep -q "fault point ready reached" <<<"$log" && grep -q "signal 15: cancelling" <<<"$log" &&
	grep -qi "cancel" <<<"$(grep -i "job" <<<"$log" | tail -5)" && [ "$res" = success ] && [ $stop_ms -lt 15000 ]; then
	ok "systemctl stop mid-migration: job cancelled, clean exit in $stop_ms ms (Result=$res)"
else
	fail "stop mid-migration" "result $res after $stop_ms ms; log tail: $(tail -8 <<<"$log")"
fi
grep -E "job .*(cancelled|resum)" <<<"$log" | tail -3 | sed 's/^/# /'

# SIGKILL mid-migration: the next start recovers the job, then says ready.
in_ct systemctl start xlmigd.service || fail "restart" "second start failed"
X create g2 --memory 64M --rate 1M >/dev/null
X migrate g2 127.0.0.1 >"$WORK/mig2" 2>&1 &
mig=$!
for i in $(seq 200); do
	[ "$(in_ct journalctl -u xlmigd --no-pager -o cat | grep -c "fault point ready reached")" -ge 2 ] && break
	sleep 0.1
done
in_ct systemctl kill -s KILL xlmigd.service
wait $mig 2>/dev/null
sleep 0.5
in_ct systemctl reset-failed xlmigd.service 2>/dev/null
in_ct systemctl start xlmigd.service
log=$(in_ct journalctl -u xlmigd --no-pager -o short-monotonic)
rec=$(grep -n "finished or rolled back" <<<"$log" | tail -1 | cut -d: -f1)
started=$(grep -n "Started xlmigd.service" <<<"$log" | tail -1 | cut -d: -f1)
if [ -n "$rec" ] && [ -n "$started" ] && [ "$rec" -lt "$started" ]; then
	ok "after SIGKILL mid-migration, recovery ran before systemd saw xlmigd ready: $(sed -n "${rec}p" <<<"$log" | sed 's/.*xlmigd\[[0-9]*\]: //')"
else
	fail "recovery before ready" "recovery line ${rec:-none}, Started line ${started:-none}: $(tail -6 <<<"$log")"
fi
in_ct systemctl stop xlmigd.service
