# container.sh - sourced: this host's own system booted under systemd in
# a container (systemd-nspawn -b), over a copy-on-write overlay of / on a
# tmpfs, so a test can install and start units without changing the host
# or downloading anything.  PID 1 here need not be systemd.
#
#   container_prepare DIR   lay the overlay; its root is $ROOTFS (writable)
#   container_boot          boot it (basic.target), wait for systemd
#   in_ct CMD...            run CMD inside
#   container_down          stop it and remove the overlay
# container_prepare and container_boot print the reason and return 1 where
# this cannot work (no root, no systemd-nspawn, no overlayfs).

ROOTFS=
CT_OVL=
CT_NSPAWN=
CT_LEADER=

container_prepare() {
	CT_OVL=$1/ovl
	ROOTFS=$CT_OVL/root
	[ "$(id -u)" = 0 ] || { echo "needs root"; return 1; }
	command -v systemd-nspawn >/dev/null || { echo "systemd-nspawn missing (apt-get install systemd-container)"; return 1; }
	[ -x /lib/systemd/systemd ] || { echo "no systemd to boot"; return 1; }
	mkdir -p "$CT_OVL" &&
		mount -t tmpfs -o size=1g tmpfs "$CT_OVL" && mkdir -p "$CT_OVL"/{upper,work,root} &&
		mount -t overlay overlay -o "lowerdir=/,upperdir=$CT_OVL/upper,workdir=$CT_OVL/work" "$ROOTFS" ||
		{ echo "cannot lay an overlay over / here"; return 1; }
}

in_ct() { nsenter -t "$CT_LEADER" -m -u -i -n -p -- "$@"; }

container_boot() { # LOG
	local i p
	systemd-nspawn -q -D "$ROOTFS" -M "xlmigct$$" --register=no --keep-unit --private-network \
		--console=passive -b -- systemd.unit=basic.target >"$1" 2>&1 &
	CT_NSPAWN=$!
	for i in $(seq 300); do
		for p in $(pgrep -P "$CT_NSPAWN"); do
			[ "$(readlink /proc/$p/ns/pid)" != "$(readlink /proc/self/ns/pid)" ] && CT_LEADER=$p
		done
		[ -n "$CT_LEADER" ] && break
		kill -0 "$CT_NSPAWN" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$CT_LEADER" ] || { echo "the container did not start: $(tail -5 "$1")"; return 1; }
	for i in $(seq 600); do
		in_ct test -S /run/systemd/private 2>/dev/null && break
		kill -0 "$CT_NSPAWN" 2>/dev/null || break
		sleep 0.1
	done
	timeout 120 nsenter -t "$CT_LEADER" -m -u -i -n -p -- systemctl is-system-running --wait >/dev/null 2>&1
	in_ct test -S /run/systemd/private || { echo "systemd did not come up: $(tail -5 "$1")"; return 1; }
}

container_down() {
	local i
	if [ -n "$CT_NSPAWN" ]; then
		kill "$CT_NSPAWN" 2>/dev/null
		for i in $(seq 100); do kill -0 "$CT_NSPAWN" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$CT_NSPAWN" 2>/dev/null
		wait "$CT_NSPAWN" 2>/dev/null
	fi
	[ -n "$ROOTFS" ] && mountpoint -q "$ROOTFS" && umount -l "$ROOTFS"
	[ -n "$CT_OVL" ] && mountpoint -q "$CT_OVL" && umount -l "$CT_OVL"
	CT_NSPAWN=
}
