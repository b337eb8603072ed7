# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 300
# xenlab-about: pre-copy policy on real Xen, guest dirtying 12 MiB/s over 48 MiB: Xen's default vs xlmig's (native save)
. /lab/lib.sh
need_xlmig xlmig

# One migration with xlmig's xl-protocol sender and receiver, the given
# policy options, the guest dirtying throughout.
busy_migration() { # label options...
	local label=$1
	shift
	guest_ensure g1
	guest_send g1 "dirty 12 48" || fail "cannot reach the guest's console"
	sleep 3
	XLMIG_OPTS="$*" migrate_local xlmig-xlmig g1
	guest_send g1 idle
	read -r t d w < "$LAB_RUN/last-figures"
	echo "$label $t $d $w" >> "$LAB_RUN/policy-figures"
}

rm -f "$LAB_RUN/policy-figures"
busy_migration xen --policy xen
busy_migration xlmig --policy xlmig --downtime 300 --auto-converge
awk '{ t[$1] = $2; d[$1] = $3; w[$1] = $4 }
     END { printf "FIGURE %s xen_downtime_ms=%d xlmig_downtime_ms=%d downtime_ratio=%.2f xen_time_ms=%d xlmig_time_ms=%d xen_wire_bytes=%d xlmig_wire_bytes=%d\n",
		   ENVIRON["LAB_SCENARIO"], d["xen"], d["xlmig"], d["xen"] ? d["xlmig"] / d["xen"] : 0,
		   t["xen"], t["xlmig"], w["xen"], w["xlmig"] }' "$LAB_RUN/policy-figures"
pass
