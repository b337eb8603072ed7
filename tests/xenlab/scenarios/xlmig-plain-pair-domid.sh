# xenlab-boot: pair
# xenlab-core: no
# xenlab-timeout: 300
# xenlab-about: xlmig migrate --plain -D between two hosts: the guest keeps its domid where Xen would have picked another
. /lab/lib.sh
need_xlmig xlmig
pair_roles g1
rc=0
if [ $LAB_ROLE = src ]; then
	# Use up a domid here first, so that g1's is not the one the other
	# host would pick by itself (nor one it used recently: libxl refuses
	# those even when asked for).
	if ! guest_sound g1; then
		guest_cfg burn pvh
		xl create -p "$LAB_RUN/burn.cfg" > /dev/null 2>&1 && xl destroy burn
	fi
	guest_ensure g1
	id=$(xl domid g1)
	lab_sync ready "$id $(guest_last_n g1) $(guest_boot_id g1)" > /dev/null || fail "the receiver never got ready"
	XLMIG_OPTS=-D method_send xlmig-xlmig g1 "$(lab_peer_ip)" || rc=$?
	sed 's/^/sender: /' "$LAB_RUN/send.log"
	lab_sync sent $rc > /dev/null || fail "the receiver went away"
	[ $rc = 0 ] || fail "xlmig migrate --plain -D exited $rc: $(send_error)"
	check_left g1
	pass "sent with domid $id"
else
	method_receiver_start xlmig-xlmig
	info=$(lab_sync ready) || fail "the sender never came"
	set -- $info
	rc=$(LAB_SYNC_TIMEOUT=300 lab_sync sent) || fail "the sender never finished"
	method_receiver_wait 30 || lab_log "receiver did not finish"
	[ "$rc" = 0 ] || fail "the sender's migration failed (exit $rc)"
	check_arrived g1 - "$2" "$3"
	got=$(xl domid g1)
	[ "$got" = "$1" ] || fail "g1 arrived as domid $got, the sender had $1"
	pass "received with the same domid $got"
fi
