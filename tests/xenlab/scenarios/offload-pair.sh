# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 420
# xenlab-about: a PVH guest's vif on xenbr0 with IPv6 TSO and GRO off and MTU 1400 set on the source (ethtool, ip) moves with xlmig through xlmigd: the destination's new vif has the source's settings as its kernel reports them once the guest reconnected, and xlmig's per-feature report says what that kernel shows
. /lab/lib.sh
GIP=10.99.0.11
MAC=00:16:3e:4c:00:11
MTU=1400

# vif_state IF: the interface's MTU and offload features as the kernel
# reports them (ethtool -k), one "name=on|off" each, under the kernel's
# feature names (ethtool prints four under older names).
vif_state() {
	echo "mtu=$(cat "/sys/class/net/$1/mtu")"
	ethtool -k "$1" | awk -F': ' '
		BEGIN {
			alias["rx-checksumming"] = "rx-checksum"
			alias["generic-receive-offload"] = "rx-gro"
			alias["generic-segmentation-offload"] = "tx-generic-segmentation"
			alias["large-receive-offload"] = "rx-lro"
		}
		NF == 2 {
			name = $1; gsub(/^[ \t]+/, "", name)
			if (name in alias) name = alias[name]
			split($2, v, " ")
			if (v[1] == "on" || v[1] == "off") print name "=" v[1]
		}'
}

# The backend of vif D.0 is connected (XenbusStateConnected): the new
# frontend has said what it can do, and netback's features are final.
vif_connected() { # domid timeout
	local end=$(($(now_ms) + $2 * 1000))
	while [ "$(now_ms)" -lt $end ]; do
		[ "$(xenstore-read "/local/domain/0/backend/vif/$1/0/state" 2>/dev/null)" = 4 ] && return 0
		sleep 0.5
	done
	return 1
}

reach() { ping -c 3 -W 2 $GIP > /dev/null 2>&1 && echo yes || echo no; }

# check_report REPORT SRC DST UP: every feature of xlmig's report against
# the destination kernel's state (DST), the source's (SRC) and that of the
# destination's bridge (UP), all as vif_state prints them.  A feature the
# report says fell back to software is off on the vif, or on the vif but
# not on the bridge its frames leave by (which shows checksumming for
# every protocol as tx-checksum-ip-generic).  Prints the FIGURE's fields,
# then a "MISMATCH ..." line for each disagreement.
check_report() {
	awk -v src="$2" -v dst="$3" -v up="$4" '
		function load(s, into,   a, i, kv) {
			split(s, a, " ")
			for (i in a) { split(a[i], kv, "="); into[kv[1]] = kv[2] }
		}
		function bridge_has(f) {
			return U[f] == "on" || ((f == "tx-checksum-ipv4" || f == "tx-checksum-ipv6") && U["tx-checksum-ip-generic"] == "on")
		}
		function short(o) {
			if (o == "kept in hardware") return "kept"
			if (o == "off, as on the source") return "kept-off"
			if (o == "fell back to software") return "software"
			if (o == "not available") return "unavailable"
			if (o == "on, fixed on this host") return "stuck-on"
			return "failed"
		}
		BEGIN { load(src, S); load(dst, D); load(up, U) }
		/^  interface / {
			sub(/^  interface +/, "")
			ifname = $1; was = $3; sub(/,$/, "", was)
			mtu = $0; sub(/.*: MTU /, "", mtu); mtuv = mtu; sub(/ .*/, "", mtuv)
			mtuo = mtu; sub(/^[0-9]+ /, "", mtuo); sub(/, queues.*/, "", mtuo)
			out = out " if=" ifname " was=" was " mtu=" mtuv ":" short(mtuo)
			if (mtuv != D["mtu"]) bad = bad "\nMISMATCH mtu: reported " mtuv ", the kernel shows " D["mtu"]
			if (D["mtu"] != S["mtu"]) bad = bad "\nMISMATCH mtu: " D["mtu"] " here, " S["mtu"] " on the source"
			next
		}
		/^    [a-z]/ {
			name = $1; o = $0; sub(/^ +[^ ]+ +/, "", o)
			n++
			out = out " " name "=" short(o)
			want = (o == "kept in hardware" || o == "on, fixed on this host") ? "on" : "off"
			if (!(name in D))
				bad = bad "\nMISMATCH " name ": reported " o ", the kernel does not list it"
			else if (want == "off" && D[name] == "on" && (o == "fell back to software" || o == "not available")) {
				if (bridge_has(name))
					bad = bad "\nMISMATCH " name ": reported " o ", on here and on the bridge"
			} else if (D[name] != want)
				bad = bad "\nMISMATCH " name ": reported " o ", the kernel shows " D[name]
			if ((name in S) && (name in D) && S[name] != D[name] && o != "fell back to software" && o != "not available")
				bad = bad "\nMISMATCH " name ": " D[name] " here, " S[name] " on the source, reported " o
		}
		END {
			if (!n) bad = bad "\nMISMATCH no feature in the report"
			print "features=" n out bad
		}' "$1"
}

lab_destroy_all
lab_bridge_up xenbr0 || fail "cannot make the bridge xenbr0"
command -v ethtool > /dev/null || fail "the dom0 image has no ethtool (build-images.sh adds it from the host)"
lab_clock_sync
if [ "$LAB_HOST" = a ]; then
	need_xlmig xlmigd
	xlmigd_start || fail "xlmigd did not start"
	LAB_GUEST_EXTRA="xlg_ip=$GIP" guest_create gnet pvh "vif = [ \"bridge=xenbr0,mac=$MAC\" ]" ||
		fail "xl create of a guest with a vif failed"
	guest_wait_n gnet 2 120 || fail "the guest with a vif never started counting"
	id=$(xl domid gnet)
	vif=vif$id.0
	vif_connected "$id" 60 || fail "$vif never connected to the guest's netfront"
	[ "$(reach)" = yes ] || fail "the guest is not reachable from its host before the move"
	lab_log "$vif as created: $(vif_state "$vif" | tr '\n' ' ')"
	# Away from netback's defaults, through the kernel as an administrator would.
	# IPv4 TSO stays on: netback holds it back on the destination's new
	# vif until the guest reconnects, which the report must see through.
	ethtool -K "$vif" tx-tcp6-segmentation off gro off || fail "ethtool -K $vif tx-tcp6-segmentation off gro off failed"
	ip link set "$vif" mtu $MTU || fail "cannot set $vif's MTU to $MTU"
	src=$(vif_state "$vif" | tr '\n' ' ')
	lab_log "$vif before the move: $src"
	case " $src " in
	*" tx-tcp-segmentation=on "*" tx-tcp6-segmentation=off "*" rx-gro=off "*) ;;
	*) fail "the kernel did not take IPv6 TSO and GRO off (and IPv4 TSO on) on $vif: $src" ;;
	esac
	n0=$(guest_last_n gnet)
	boot=$(guest_boot_id gnet)
	lab_sync ready "$n0 $boot" > /dev/null || fail "host b never got ready"
	t0=$(now_ms)
	xlmig migrate gnet 10.99.0.2 > "$LAB_RUN/send.log" 2>&1
	rc=$?
	t1=$(now_ms)
	sed 's/^/sender: /' "$LAB_RUN/send.log"
	xlmigd_log_since_last
	lab_sync sent $rc > /dev/null
	[ $rc = 0 ] || fail "xlmig migrate of the guest with a vif exited $rc: $(send_error)"
	check_left gnet
	job=$(sed -n 's/^job \([^:]*\): gnet to .*/\1/p' "$LAB_RUN/send.log" | head -n 1)
	seen=$(LAB_SYNC_TIMEOUT=240 lab_sync seen) || fail "host b did not report"
	[ "${seen%% *}" = fail ] && fail "host b found the guest or its vif wrong: ${seen#fail}"
	# The report travels to the source in READY; the job's record with
	# its stats is journaled just after the end.
	i=0
	until xlmig status "$job" > "$LAB_RUN/status.txt" 2>&1 && grep -q "^  interface " "$LAB_RUN/status.txt"; do
		i=$((i + 1))
		[ $i -gt 20 ] && { cat "$LAB_RUN/status.txt"; fail "job $job's status has no offload report"; }
		sleep 0.5
	done
	sed 's/^/status: /' "$LAB_RUN/status.txt"
	dst=${seen#* }
	up=${dst#*|}
	dst=${dst%|*}
	lab_log "b's vif once the guest reconnected: $dst"
	lab_log "b's bridge: $up"
	verdict=$(check_report "$LAB_RUN/status.txt" "$src" "$dst" "$up")
	echo "$verdict" | sed -n 's/^MISMATCH /LAB: mismatch: /p'
	figure "time_ms=$((t1 - t0)) $(echo "$verdict" | head -n 1)"
	lab_bridge_down xenbr0
	echo "$verdict" | grep -q "^MISMATCH" &&
		fail "xlmig's offload report or the carried settings differ from the kernel on b: $(echo "$verdict" | sed -n 's/^MISMATCH //p' | tr '\n' ';')"
	pass "report matches b's kernel: $(echo "$verdict" | head -n 1 | cut -d' ' -f1-4)"
else
	method_receiver_start xlmig-xlmigd
	info=$(lab_sync ready) || fail "host a never came"
	rc=$(LAB_SYNC_TIMEOUT=300 lab_sync sent) || fail "host a never finished"
	xlmigd_log_since_last
	[ "$rc" = 0 ] || { lab_sync seen fail > /dev/null; fail "host a's migration failed"; }
	( check_arrived gnet - "${info% *}" "${info#* }" ) || { lab_sync seen fail > /dev/null; exit 1; }
	id=$(xl domid gnet)
	vif=vif$id.0
	vif_connected "$id" 60 || { lab_sync seen "fail $vif never connected" > /dev/null; fail "$vif never connected to the guest's netfront"; }
	after=$(reach)
	vb=$(guest_vif_bridge gnet)
	state=$(vif_state "$vif" | tr '\n' ' ')
	lab_log "$vif after the move (bridge ${vb:-none}, reachable $after): $state"
	if [ "$after" != yes ] || [ "$vb" != xenbr0 ]; then
		lab_sync seen "fail bridge ${vb:-none}, reachable $after" > /dev/null
		fail "after the move $vif is on '${vb:-no bridge}' and the guest reachable: $after"
	fi
	lab_sync seen "$vif $state|$(vif_state xenbr0 | tr '\n' ' ')" > /dev/null
	xl destroy gnet
	lab_bridge_down xenbr0
	pass "the guest reachable on xenbr0 through $vif"
fi
