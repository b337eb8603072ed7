#!/bin/bash
# boot.sh - boot one Xen 4.17 host under QEMU (TCG) and wait until dom0
# powers it off, or the time runs out.
#
#   boot.sh NAME TIMEOUT "DOM0-ARGS" [QEMU-ARGS...]
#
# The Xen serial console (Xen, dom0 kernel and the lab's own lines) goes
# to $XENLAB_DIR/logs/NAME.serial, QEMU's own messages to NAME.qemu.
# Exit status: QEMU's, or 124 when the time ran out (QEMU is killed).
#
# Every setting below is needed for a stable boot under TCG:
#   -cpu max            SVM and NPT, so Xen has HAP for PVH guests and log-dirty
#   -fsgsbase           dom0 userspace saw its FS base corrupted
#   -avx,-avx2,...      the nested PVH guest took random #UD on VEX instructions
#   smap=0              dom0 died with #PF in create_bounce_frame
#   dom0_max_vcpus=1    two dom0 vCPUs gave random segfaults and xl assertions
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

name=$1 timeout=$2 dom0_args=$3
shift 3
img=$XENLAB_DIR/img
logs=$XENLAB_DIR/logs
mkdir -p "$logs"
serial=$logs/$name.serial
xen_args="console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 smap=0 bootscrub=0 loglvl=all guest_loglvl=all console_timestamps=boot"
cpu="max,-fsgsbase,-avx,-avx2,-fma,-f16c,-vaes,-vpclmulqdq"

: > "$serial"
start=$(date +%s)
# Stopped from outside (a harness's timeout, Ctrl-C, run.sh's own trap),
# the emulated host must not outlive us.
qpid=""
trap '[ -n "$qpid" ] && kill $qpid 2>/dev/null' EXIT
trap 'exit 143' TERM INT HUP
qemu-system-x86_64 -accel tcg,thread=multi -cpu "$cpu" -m 2048 -smp 2 \
	-nographic -no-reboot -serial "file:$serial" -monitor none -display none \
	-kernel "$img/xen" -append "$xen_args" \
	-initrd "$img/vmlinuz console=hvc0 earlyprintk=xen rdinit=/init $dom0_args,$img/dom0.cpio" \
	"$@" > "$logs/$name.qemu" 2>&1 &
qpid=$!
rc=0
while kill -0 $qpid 2>/dev/null; do
	if [ $(($(date +%s) - start)) -ge "$timeout" ]; then
		echo "boot $name: no power-off within ${timeout}s, stopping QEMU" >> "$logs/$name.qemu"
		kill $qpid
		rc=124
		break
	fi
	sleep 1
done
wait $qpid
qrc=$?
qpid=""
[ $rc = 0 ] && rc=$qrc
echo "boot $name: QEMU ended (status $rc) after $(($(date +%s) - start))s" >> "$logs/$name.qemu"
exit $rc
