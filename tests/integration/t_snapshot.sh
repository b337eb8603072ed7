#!/bin/bash
# t_snapshot.sh - xlmig snapshot, a live checkpoint of a running guest
# into a file, and xlmig restore: the restored guest's counter and memory
# digest are those of the checkpoint's final pause; a checkpoint that is
# cancelled, runs out of disk, or whose xlmigd is killed leaves the guest
# running unchanged and no file (nor partial file) behind.  Compressed
# (--compress), inspect --rewrite gives back the stream the save wrote and
# both files restore to the final pause.  Prints the figures (time, pages,
# guest-seen pause, compressed against uncompressed size and time).
. "$(dirname "$0")/lib.sh"

SMALL="$WORK/small"
mkdir -p "$SMALL"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=16m xlmig-small "$SMALL" 2>/dev/null; then
	trap 'umount "$SMALL" 2>/dev/null; cleanup' EXIT
	have_small=1
else
	have_small=0
fi
hosts_up
D=$WORK/a/ckpt
mkdir -p "$D"
partials() { ls "$1"/*.xlmig-partial 2>/dev/null | wc -l; }
job_state() { xa backup show "$1" --json | jq -r .state; }

xa create vm --memory 256M --rate 8M >/dev/null
r=$(xa snapshot vm "$D/vm.ckpt" --verify --json) && [ "$(jq -r .succeeded <<<"$r")" = true ] &&
	ok "snapshot of a running, writing guest" || fail "snapshot" "$r"
echo "# figures: $(jq -c '{file_bytes,iterations,pages_total,pages_sent,precopy_ms,pause_ms,total_ms}' <<<"$r")"
[ -s "$D/vm.ckpt" ] && [ "$(partials "$D")" = 0 ] && ok "the file is there, no partial file" || fail "file" "$(ls -l "$D")"
check "the guest runs on after its checkpoint" runs_on a vm
pause=$(jq -r .pause_ms <<<"$r")
awk -v p="$pause" 'BEGIN { exit !(p > 0 && p < 5000) }' && ok "paused only for the final pass ($pause ms)" ||
	fail "pause" "$pause ms"
# Without --verify no digest is taken while the guest is paused.
r2=$(xa snapshot vm "$D/vm2.ckpt" --json) && [ "$(jq -r .succeeded <<<"$r2")" = true ] &&
	ok "snapshot without --verify" || fail "snapshot without --verify" "$r2"
echo "# figures without --verify: $(jq -c '{file_bytes,iterations,pages_sent,precopy_ms,pause_ms,total_ms}' <<<"$r2")"
rm -f "$D/vm2.ckpt"
job=$(jq -r .job <<<"$r")
[ "$(job_state "$job")" = done ] && ok "its backup job ($job, kind checkpoint) is done" || fail "job" "$(xa backup show "$job")"
check "the checkpoint reads as a save file" "$XLMIG" inspect "$D/vm.ckpt"

rs=$(xa restore "$D/vm.ckpt" --name vm-restored --paused --verify --json) && [ "$(jq -r .succeeded <<<"$rs")" = true ] &&
	ok "restore" || fail "restore" "$rs"
echo "# restore: $(jq -c '{restore_ms,domid}' <<<"$rs")"
[ "$(jq -r .counter <<<"$rs")" = "$(jq -r .counter <<<"$r")" ] &&
	ok "restored counter = counter at the final pause ($(jq -r .counter <<<"$r"))" ||
	fail "restored counter" "$(jq -r .counter <<<"$rs") vs $(jq -r .counter <<<"$r")"
[ "$(jq -r .mem_digest <<<"$rs")" = "$(jq -r .mem_digest <<<"$r")" ] && [ "$(jq -r .mem_digest <<<"$r")" != null ] &&
	ok "restored memory digest = digest at the final pause" || fail "restored digest" "differs"
[ "$(state a vm-restored)" = paused ] && ok "--paused leaves it paused" || fail "paused" "$(state a vm-restored)"
xa destroy vm-restored >/dev/null
check "restore refuses a name in use, creating nothing" bash -c "! '$XLMIG' -S '$(sock a)' restore '$D/vm.ckpt' --name vm"
truncate -s 1M "$D/vm.ckpt"
check "restore refuses a cut file" bash -c "! '$XLMIG' -S '$(sock a)' restore '$D/vm.ckpt' --name vm-cut"
has_guest a vm-cut && fail "cut restore" "left a domain" || ok "a failed restore leaves no domain"

# Compressed (--compress): the standard mix guest checkpointed both ways,
# sizes and times printed; the compressed file is recognised by inspect,
# rewritten into Xen's format it is the stream the save wrote (its SHA-256
# as the checkpoint took it), and both restore to the final pause.
xa create mix --memory 256M --rate 1M --mix zero=40,file=30,random=30 >/dev/null
rp=$(xa snapshot mix "$D/mix.ckpt" --verify --json)
rz=$(xa snapshot mix "$D/mix.ckpt.z" --compress --verify --json)
[ "$(jq -r .succeeded <<<"$rp")" = true ] && [ "$(jq -r .succeeded <<<"$rz")" = true ] &&
	ok "snapshot --compress of a running guest" || fail "snapshot --compress" "$rz"
echo "FIGURE checkpoint-compress guest_mib=256 mix=40/30/30 plain_bytes=$(jq -r .file_bytes <<<"$rp") plain_ms=$(jq -r .total_ms <<<"$rp") plain_pause_ms=$(jq -r .pause_ms <<<"$rp") compressed_bytes=$(jq -r .file_bytes <<<"$rz") stream_bytes=$(jq -r .stream_bytes <<<"$rz") compressed_ms=$(jq -r .total_ms <<<"$rz") pause_ms=$(jq -r .pause_ms <<<"$rz")"
awk -v z="$(jq -r .file_bytes <<<"$rz")" -v s="$(jq -r .stream_bytes <<<"$rz")" 'BEGIN { exit !(z > 0 && z < s * 0.75) }' &&
	ok "the compressed file is under 3/4 of its stream" || fail "compressed size" "$(jq -c '{file_bytes,stream_bytes}' <<<"$rz")"
"$XLMIG" inspect "$D/mix.ckpt.z" | grep -q '^container: *xlmig compressed checkpoint (XLMIGCKZ version 1)' &&
	ok "inspect recognises the container" || fail "inspect" "$("$XLMIG" inspect "$D/mix.ckpt.z" 2>&1 | head -3)"
"$XLMIG" inspect "$D/mix.ckpt.z" --rewrite "$D/mix.xen" >/dev/null &&
	[ "$(sha256sum <"$D/mix.xen" | cut -d' ' -f1)" = "$(jq -r .stream_sha256 <<<"$rz")" ] &&
	[ "$(stat -c %s "$D/mix.xen")" = "$(jq -r .stream_bytes <<<"$rz")" ] &&
	ok "inspect --rewrite gives back the stream the save wrote, byte for byte" ||
	fail "rewrite" "$(sha256sum "$D/mix.xen") vs $(jq -r .stream_sha256 <<<"$rz")"
! "$XLMIG" inspect "$D/mix.xen" | grep -q '^container:' && "$XLMIG" inspect "$D/mix.xen" --rewrite "$D/mix.xen2" >/dev/null &&
	cmp -s "$D/mix.xen" "$D/mix.xen2" && ok "the rewritten file is a plain Xen save file" || fail "rewritten" "not plain"
for f in mix.ckpt.z mix.xen; do
	rs=$(xa restore "$D/$f" --name mix-back --paused --verify --json)
	[ "$(jq -r .counter <<<"$rs")" = "$(jq -r .counter <<<"$rz")" ] &&
		[ "$(jq -r .mem_digest <<<"$rs")" = "$(jq -r .mem_digest <<<"$rz")" ] &&
		ok "restore of $f: counter and memory digest of the final pause" ||
		fail "restore $f" "$(jq -c '{counter,mem_digest,message}' <<<"$rs")"
	xa destroy mix-back >/dev/null 2>&1
done
printf '\x5a' | dd of="$D/mix.ckpt.z" bs=1 seek=$(($(stat -c %s "$D/mix.ckpt.z") / 2)) conv=notrunc 2>/dev/null
out=$(xa restore "$D/mix.ckpt.z" --name mix-bad 2>&1) && fail "damaged" "restored: $out" ||
	ok "a damaged compressed file is refused: $(tail -n1 <<<"$out" | cut -c1-140)"
has_guest a mix-bad && fail "damaged restore" "left a domain" || ok "and leaves no domain"
xa destroy mix >/dev/null
rm -f "$D"/mix.*

# Cancelled mid-way: a big guest dirtying memory against a 1 ms target.
xa create big --memory 1G --rate 64M >/dev/null
c0=$(counter a big)
j=$(xa snapshot big "$D/big.ckpt" --downtime 1 --detach --json | jq -r .job)
for i in $(seq 200); do [ "$(partials "$D")" = 1 ] && break; sleep 0.05; done
xa backup cancel "$j" >/dev/null
for i in $(seq 200); do [ "$(partials "$D")" = 0 ] && break; sleep 0.05; done
if [ "$(job_state "$j")" = failed ] && [ ! -e "$D/big.ckpt" ] && [ "$(partials "$D")" = 0 ]; then
	ok "a cancelled checkpoint leaves no file"
else
	fail "cancel" "$(job_state "$j"); $(ls "$D")"
fi
check "the guest runs on after the cancel" runs_on a big

# xlmigd killed mid-way: the guest runs on in its sim host; the restarted
# daemon removes the partial file and ends the job as failed.
j=$(xa snapshot big "$D/big.ckpt" --downtime 1 --detach --json | jq -r .job)
for i in $(seq 200); do [ "$(partials "$D")" = 1 ] && break; sleep 0.05; done
[ "$(partials "$D")" = 1 ] || fail "kill" "the checkpoint never started writing"
host_kill a
host_start a || exit 1
check "the guest runs on after xlmigd was killed during its checkpoint" runs_on a big
if [ "$(job_state "$j")" = failed ] && [ ! -e "$D/big.ckpt" ] && [ "$(partials "$D")" = 0 ]; then
	ok "after the restart: job failed, no file, partial file removed"
else
	fail "restart" "$(job_state "$j"); $(ls "$D")"
fi
grep -q "xlmigd stopped during the checkpoint" "$WORK/a/log" && ok "the restart says what happened" ||
	fail "restart message" "not in the log"

# A full disk: 16 MiB of space for a 256 MiB guest.
if [ $have_small = 1 ]; then
	out=$(xa snapshot vm "$SMALL/vm.ckpt" 2>&1) && fail "full disk" "succeeded: $out" ||
		ok "a checkpoint onto a full disk fails: $(tail -n1 <<<"$out" | cut -c1-120)"
	[ -z "$(ls -A "$SMALL")" ] && ok "and leaves nothing on that disk" || fail "full disk" "$(ls -l "$SMALL")"
	check "the guest runs on after the full disk" runs_on a vm
else
	skip "full disk" "needs root to mount a small tmpfs"
fi

# One checkpoint per guest: its dirty log has one owner.
j=$(xa snapshot big "$D/big2.ckpt" --downtime 1 --detach --json | jq -r .job)
check "a second checkpoint of the same guest is refused" bash -c "! '$XLMIG' -S '$(sock a)' snapshot big '$D/big3.ckpt'"
xa backup cancel "$j" >/dev/null
hosts_down
