#!/bin/bash
# deb-check.sh - build the Debian package from this tree, lint it, then
# install it on this host's own system booted under systemd in a container
# (tests/integration/container.sh), check that xlmigd runs, and purge it.
# Ends with "N passed, N failed".
#
#   tools/deb-check.sh          (make deb-check)   needs root for the container
#
# The .deb, the lintian report and the logs stay in build/deb/.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$ROOT/build/deb
WORK=$(mktemp -d /tmp/xlmig-deb.XXXXXX)
pass=0
failed=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
fail() { local n=$1; shift; echo "FAIL $n: $*"; failed=$((failed + 1)); }
. tests/integration/container.sh
finish() {
	container_down
	rm -rf "$WORK"
	echo "$pass passed, $failed failed"
}
trap finish EXIT
trap 'exit 130' INT TERM

rm -rf "$OUT"
mkdir -p "$OUT" "$WORK/src"
# The tree as committed plus what is not yet, without build products.
git ls-files -co --exclude-standard | grep -vE '^(build/|config\.mk$)' |
	tar -cf - -T - | tar -xf - -C "$WORK/src" || { fail build "cannot copy the tree"; exit 1; }

start=$(date +%s)
if (cd "$WORK/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" nice dpkg-buildpackage -us -uc -b) \
	>"$OUT/build.log" 2>&1; then
	cp "$WORK"/*.deb "$WORK"/*.changes "$WORK"/*.buildinfo "$OUT/"
	deb=$(ls "$OUT"/xlmig_*.deb)
	ok "dpkg-buildpackage -us -uc -b: $(basename "$deb") in $(( $(date +%s) - start )) s"
else
	fail dpkg-buildpackage "see $OUT/build.log: $(tail -5 "$OUT/build.log")"
	exit 1
fi

start=$(date +%s)
lintian --tag-display-limit 0 "$OUT"/xlmig_*.changes >"$OUT/lintian.txt" 2>&1
errors=$(grep -c '^E: ' "$OUT/lintian.txt")
warnings=$(grep -c '^W: ' "$OUT/lintian.txt")
if [ "$errors" = 0 ]; then
	ok "lintian: 0 errors, $warnings warnings ($(( $(date +%s) - start )) s; $OUT/lintian.txt)"
else
	fail lintian "$errors errors: $(grep '^E: ' "$OUT/lintian.txt" | head -5)"
fi
grep -E '^[EWI]: ' "$OUT/lintian.txt" | sed 's/^/# /'

if ! container_prepare "$WORK" >"$WORK/why"; then
	echo "skip install, start and purge: $(cat "$WORK/why")"
	exit 0
fi
# The host may have xlmig installed by hand: the container starts clean.
# And it is an ordinary Debian host: a container image's policy-rc.d
# (exit 101, "start no services") would keep the package from starting xlmigd.
rm -f "$ROOTFS/usr/sbin/policy-rc.d"
rm -rf "$ROOTFS/etc/xlmig" "$ROOTFS/var/lib/xlmig" "$ROOTFS"/usr/local/lib/systemd/system/xlmigd.service
cp "$deb" "$ROOTFS/root/"
container_boot "$WORK/nspawn.log" >"$WORK/why" || { fail boot "$(cat "$WORK/why")"; exit 1; }
if in_ct dpkg -i "/root/$(basename "$deb")" >"$OUT/install.log" 2>&1; then
	ok "dpkg -i under systemd"
else
	fail "dpkg -i" "$(tail -5 "$OUT/install.log")"
	exit 1
fi
state=$(in_ct systemctl is-active xlmigd.service)
enabled=$(in_ct systemctl is-enabled xlmigd.service)
if [ "$state" = active ] && [ "$enabled" = enabled ] && in_ct xlmig list >/dev/null 2>&1; then
	ok "xlmigd.service enabled and started by the package, xlmig list answers"
else
	fail "service" "$state/$enabled: $(in_ct systemctl status xlmigd --no-pager 2>&1 | tail -8)"
fi
in_ct xlmigd --check-config >/dev/null 2>&1 && ! in_ct test -e /etc/xlmig/xlmig.key &&
	in_ct systemctl show -P StatusText xlmigd.service | grep -q "serving locally only: no TLS identity" &&
	grep -q "no TLS identity yet" "$OUT/install.log" &&
	ok "the packaged xlmigd.conf checks OK; with no TLS identity yet the service serves locally and says why" ||
	fail "conffile/identity" "$(in_ct xlmigd --check-config 2>&1 | tail -3); $(in_ct systemctl show -P StatusText xlmigd.service)"
in_ct bash -c '. /usr/share/bash-completion/bash_completion && . /usr/share/bash-completion/completions/xlmig &&
	COMP_WORDS=(xlmig mig); COMP_CWORD=1; COMP_LINE="xlmig mig"; COMP_POINT=9; _xlmig; [ "${COMPREPLY[*]}" = "migrate migrate-receive" ]' &&
	ok "installed bash completion completes commands" || fail completion "xlmig mig<TAB> did not give migrate"

if in_ct dpkg --purge xlmig >"$OUT/purge.log" 2>&1; then
	left=$(in_ct bash -c 'ls -d /etc/xlmig /var/lib/xlmig /lib/systemd/system/xlmigd.service /usr/sbin/xlmigd \
		/etc/systemd/system/multi-user.target.wants/xlmigd.service 2>/dev/null')
	running=$(in_ct systemctl is-active xlmigd.service)
	if [ -z "$left" ] && [ "$running" != active ] && ! in_ct pgrep -x xlmigd >/dev/null; then
		ok "dpkg --purge: service stopped, nothing left"
	else
		fail purge "left: $left; service $running"
	fi
else
	fail purge "$(tail -5 "$OUT/purge.log")"
fi
exit 0
