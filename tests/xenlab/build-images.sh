#!/bin/bash
# build-images.sh - build what a lab boot needs, under $XENLAB_DIR/img:
#   xen         the Debian Xen 4.17 hypervisor, unpacked (QEMU boots it
#               directly as a multiboot kernel)
#   dom0.cpio   the dom0 initramfs: busybox, the Xen toolstack, bash and
#               the hotplug scripts, the kernel modules, xlmig's freshly
#               built programs with their libraries, hooks, a channel
#               key and each host role's certificate from a lab CA, the
#               lab's dom0 scripts and scenarios, and the guest
#   vmlinuz     the kernel for dom0 and for the guest
#
#   build-images.sh        (XENLAB_DIR, XLMIG_BUILD from the environment)
#
# The guest is the same Debian kernel with a small initramfs: busybox and
# the static workload program (guest/workload.c).  Everything is rebuilt
# each time; it takes a few seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

img=$XENLAB_DIR/img
work=$XENLAB_DIR/img.work
kver=$(lab_kernel_version)
xenbin=/usr/lib/xen-4.17/bin

# copy_with_libs ROOT FILE...: each file at its own path under ROOT, with
# the shared libraries ldd names for it.
copy_with_libs() {
	local root=$1 f l
	shift
	for f in "$@"; do
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
		for l in $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
			[ -e "$root$l" ] && continue
			mkdir -p "$root$(dirname "$l")"
			cp -L "$l" "$root$l"
		done
	done
}

add_busybox() { # root
	mkdir -p "$1/bin"
	cp /bin/busybox "$1/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ -e "$1/bin/$a" ] || ln -s busybox "$1/bin/$a"
	done
}

pack() { # root output
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$2"
}

build_guest() { # -> $work/guest.cpio
	local r=$work/guest ko
	mkdir -p "$r"/{proc,sys,dev}
	add_busybox "$r"
	gcc -static -O2 -Wall -Wextra -Werror -Wshadow -o "$r/bin/workload" "$here/guest/workload.c"
	install -m 755 "$here/guest/init" "$r/init"
	# netfront, for the scenarios that give the guest a vif
	mkdir -p "$r/lib/modules"
	for ko in $(modprobe -S "$kver" --show-depends xen-netfront | awk '$1 == "insmod" {print $2}'); do
		cp "$ko" "$r/lib/modules/"
	done
	pack "$r" "$work/guest.cpio"
}

add_xen_tools() { # root
	local r=$1 t
	copy_with_libs "$r" $xenbin/xl $xenbin/xenstored $xenbin/xenconsoled \
		$xenbin/xen-init-dom0 $xenbin/libxl-save-helper $xenbin/xenstore-control \
		/usr/bin/socat /usr/bin/bash /usr/sbin/ip /usr/bin/flock
	for t in read write ls list rm exists chmod watch; do
		[ -e /usr/bin/xenstore-$t ] && cp -L /usr/bin/xenstore-$t "$r/usr/bin/"
	done
	# glibc dlopens libgcc_s for pthread_cancel; xl aborts without it.
	cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$r/lib/x86_64-linux-gnu/"
	# ethtool: how offload-pair changes a vif's offloads on the source
	# and reads them back on the destination, as an administrator would.
	copy_with_libs "$r" /usr/sbin/ethtool
	mkdir -p "$r/etc/xen" "$r/var/lib/xen" "$r/var/lib/xenstored" "$r/var/log/xen/console"
	cp /etc/xen/xl.conf "$r/etc/xen/"
	# vif-bridge and friends: bash scripts run by libxl for each vif.
	cp -a /etc/xen/scripts "$r/etc/xen/"
	[ -e "$r/bin/bash" ] || ln -s /usr/bin/bash "$r/bin/bash"
	# What a stuck or slow daemon is looked at with, when the host has it:
	# strace always (small), perf only for a profiling run (it doubles
	# the initramfs).
	[ -x /usr/bin/strace ] && copy_with_libs "$r" /usr/bin/strace
	if [ "${XENLAB_PERF:-0}" = 1 ] && [ -x /usr/bin/perf ]; then
		copy_with_libs "$r" /usr/bin/perf
	fi
	return 0
}

add_modules() { # root
	local r=$1 m ko
	: > "$r/modules.list"
	for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-blkback \
		 xen-netback bridge e1000; do
		for ko in $(modprobe -S "$kver" --show-depends $m | awk '$1 == "insmod" {print $2}'); do
			grep -qx "$ko" "$r/modules.list" && continue
			echo "$ko" >> "$r/modules.list"
			mkdir -p "$r$(dirname "$ko")"
			cp "$ko" "$r$ko"
		done
	done
}

# xlmig's programs as the tree last built them; a scenario that needs one
# that is missing fails and says so.
add_xlmig() { # root
	local r=$1 p
	mkdir -p "$r/usr/sbin" "$r/etc/xlmig" "$r/usr/lib/xlmig/hooks" "$r/var/lib/xlmig"
	for p in xlmig xlmigd; do
		[ -x "$XLMIG_BUILD/$p" ] || continue
		copy_with_libs "$r" "$(readlink -f "$XLMIG_BUILD/$p")"
		mv "$r$(readlink -f "$XLMIG_BUILD/$p")" "$r/usr/sbin/$p"
	done
	if [ -d "$XENLAB_SRC/hooks" ]; then
		cp -a "$XENLAB_SRC/hooks/." "$r/usr/lib/xlmig/hooks/"
	fi
	# One key for every lab host: they are all the same initramfs.
	(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$r/etc/xlmig/xlmig.key" &&
		echo >> "$r/etc/xlmig/xlmig.key")
	# The lab's CA, and a certificate for each host role (the initramfs
	# is the same for all; xlmigd takes /etc/xlmig/tls-ROLE).
	if [ -x "$XLMIG_BUILD/xlmig" ]; then
		rm -rf "$work/tls-ca"
		"$XLMIG_BUILD/xlmig" setup-tls ca "$work/tls-ca" > /dev/null
		tls_host "$r" a 10.99.0.1
		tls_host "$r" b 10.99.0.2
		tls_host "$r" local
	fi
}

tls_host() { # root role [address]: names and addresses peers dial the role by
	"$XLMIG_BUILD/xlmig" setup-tls host --ca "$work/tls-ca" --out "$1/etc/xlmig/tls-$2" \
		--allow a --allow b --allow local "$2" 127.0.0.1 ${3:-} > /dev/null
}

add_lab() { # root
	local r=$1
	mkdir -p "$r/lab/scenarios" "$r/lab/guest" "$r/lab/bin"
	gcc -static -O2 -Wall -Wextra -Werror -Wshadow -o "$r/lab/bin/labclock" "$here/dom0/labclock.c"
	install -m 755 "$here/dom0/init" "$r/init"
	install -m 755 "$here/dom0/runner.sh" "$r/lab/runner.sh"
	install -m 644 "$here/dom0/lib.sh" "$r/lab/lib.sh"
	install -m 755 "$here/dom0/sync-reply.sh" "$r/lab/sync-reply.sh"
	install -m 644 "$here"/scenarios/*.sh "$r/lab/scenarios/"
	cp "/boot/vmlinuz-$kver" "$r/lab/guest/vmlinuz"
	cp "$work/guest.cpio" "$r/lab/guest/guest.cpio"
}

build_dom0() { # -> $img/dom0.cpio
	local r=$work/dom0
	mkdir -p "$r"/{proc,sys,dev,tmp,run,etc,root,var/lib,lib/modules}
	ln -s ../run "$r/var/run"
	add_busybox "$r"
	add_xen_tools "$r"
	add_modules "$r"
	add_xlmig "$r"
	add_lab "$r"
	echo 'root:x:0:0:root:/root:/bin/sh' > "$r/etc/passwd"
	echo 'root:x:0:' > "$r/etc/group"
	echo '127.0.0.1 localhost' > "$r/etc/hosts"
	pack "$r" "$img/dom0.cpio.new"
	mv "$img/dom0.cpio.new" "$img/dom0.cpio"
}

rm -rf "$work"
mkdir -p "$work" "$img"
zcat /boot/xen-4.17-amd64.gz > "$img/xen"
cp "/boot/vmlinuz-$kver" "$img/vmlinuz"
build_guest
build_dom0
echo "build-images: dom0.cpio $(du -h "$img/dom0.cpio" | cut -f1)," \
	"xlmig programs: $(lab_built_programs | tr '\n' ' ')"
