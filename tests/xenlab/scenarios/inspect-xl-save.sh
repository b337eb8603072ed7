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
	cmp "$file" "$file.rewritten" ||
		fail "--rewrite of $name's save file changed the bytes: $(cmp "$file" "$file.rewritten" 2>&1 | head -n 1)," \
			"sizes $(wc -c < "$file") and $(wc -c < "$file.rewritten"), second cmp $(cmp "$file" "$file.rewritten" > /dev/null && echo same || echo differs)"
	figure "guest=$name kind=$kind file_bytes=$(wc -c < "$file") identical=yes"
	rm -f "$file" "$file.rewritten"
}

guest_ensure g1
xl save -c g1 "$LAB_RUN/g1.save" || fail "xl save -c g1 failed"
guest_wait_n g1 $(($(guest_last_n g1) + 2)) 30 || fail "g1 did not go on after xl save -c"
inspect_file "$LAB_RUN/g1.save" g1 HVM

# Under the emulator a PV guest next to the PV dom0 has been seen to
# corrupt dom0 processes' TLS (segfaults in busybox): keep it short-lived.
guest_create gpv pv || fail "xl create of the PV guest failed"
guest_wait_n gpv 2 120 || { xl destroy gpv; fail "the PV guest never started counting"; }
xl save gpv "$LAB_RUN/gpv.save" || fail "xl save gpv failed"
inspect_file "$LAB_RUN/gpv.save" gpv PV
pass
