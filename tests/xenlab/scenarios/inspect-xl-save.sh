# xenlab-boot: local
# xenlab-core: yes
# xenlab-timeout: 240
# xenlab-about: xlmig inspect on stock `xl save` files of a PVH and a PV guest; --rewrite gives identical bytes
. /lab/lib.sh
need_xlmig xlmig

# inspect_file FILE NAME GUEST-KIND: inspect, check what it read, rewrite, cmp.
inspect_file() {
	local file=$1 name=$2 kind=$3 out=$LAB_RUN/inspect.txt
	xlmig inspect "$file" > "$out" 2>&1 || { cat "$out"; fail "xlmig inspect $name's save file: $(tail -n 1 "$out")"; }
	sed "s/^/inspect $name: /" "$out"
	grep -q "^domain: *name $name," "$out" || fail "inspect did not report domain $name"
	grep -q "^libxc stream: .*$kind guest" "$out" || fail "inspect did not report an x86 $kind guest for $name"
	grep -q "^pages: *[1-9]" "$out" || fail "inspect saw no pages in $name's save file"
	xlmig inspect "$file" --rewrite "$file.rewritten" > /dev/null 2>&1 ||
		fail "xlmig inspect --rewrite of $name's save file failed"
	cmp "$file" "$file.rewritten" || fail "--rewrite of $name's save file changed the bytes"
	figure "guest=$name kind=$kind file_bytes=$(wc -c < "$file") identical=yes"
	rm -f "$file" "$file.rewritten"
}

# The PV guest boots while the PVH one is saved.
guest_ensure g1
guest_create gpv pv || fail "xl create of the PV guest failed"

xl save -c g1 "$LAB_RUN/g1.save" || fail "xl save -c g1 failed"
guest_wait_n g1 $(($(guest_last_n g1) + 2)) 30 || fail "g1 did not go on after xl save -c"
inspect_file "$LAB_RUN/g1.save" g1 HVM

guest_wait_n gpv 2 120 || fail "the PV guest never started counting"
xl save gpv "$LAB_RUN/gpv.save" || fail "xl save gpv failed"
inspect_file "$LAB_RUN/gpv.save" gpv PV
pass
