#!/bin/sh
# install-deps.sh - install the Debian packages xlmig needs to build, test,
# benchmark and run its Xen lab.  Does nothing when they are all present;
# otherwise needs root (apt-get update, then apt-get install).
#
#   tools/install-deps.sh [build|lab|all]     (default: all)
set -u

build_pkgs="gcc make pkg-config libxen-dev libzstd-dev libevent-dev libtdb-dev
libssl-dev clang libclang-rt-14-dev iproute2 zstd valgrind tdb-tools procps
python3 jq systemd systemd-container dpkg-dev debhelper fakeroot lintian
resource-agents bash-completion ethtool iputils-ping tcpdump"
lab_pkgs="qemu-system-x86 xen-hypervisor-4.17-amd64 xen-utils-4.17
linux-image-amd64 busybox-static cpio socat kmod ethtool"

case ${1:-all} in
build) pkgs=$build_pkgs ;;
lab) pkgs=$lab_pkgs ;;
all) pkgs="$build_pkgs $lab_pkgs" ;;
*) echo "usage: $0 [build|lab|all]" >&2; exit 2 ;;
esac

need=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		need="$need $p"
done
[ -z "$need" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$need" >&2
	echo "install-deps: run as root, or: sudo apt-get install$need" >&2
	exit 1
fi
echo "install-deps: installing$need"
log=${TMPDIR:-/tmp}/xlmig-apt.log
if ! apt-get update -q >"$log" 2>&1 ||
   ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >>"$log" 2>&1; then
	echo "install-deps: apt-get failed; last lines of $log:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
echo "install-deps: done"
