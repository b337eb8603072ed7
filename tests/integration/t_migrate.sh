#!/bin/bash
# t_migrate.sh - idle and busy guests of several sizes, rates, channel
# counts, with and without compression, there and back.  After each: the
# destination's memory digest equals the source's at pause, the counter
# resumes from exactly where it stopped and advances, and the source has
# no copy left.
. "$(dirname "$0")/lib.sh"
hosts_up

# migrate_case NAME FROM TO OPTIONS...: the guest exists on FROM.
migrate_case() {
	local name=$1 from=$2 to=$3; shift 3
	local target out
	if [ "$to" = b ]; then target=$(addr_b); else target=${IP_A}:$PORT_A; [ $USE_NETNS = 1 ] || target=127.0.0.1:$PORT_A; fi
	out=$("$XLMIG" -S "$(sock "$from")" migrate "$name" "$target" --verify --json "$@")
	local tag="$name $from->$to ${*:-defaults}"
	if [ "$(json .step <<<"$out")" != done ]; then
		fail "$tag" "job ended $(json .step <<<"$out"): $(json .message <<<"$out")"
		return
	fi
	ok "$tag: done in $(json .stats.total_ms <<<"$out") ms, downtime $(json .stats.downtime_ms <<<"$out") ms, wire $(( $(json .stats.bytes_wire <<<"$out") >> 20 )) MiB"
	[ "$(json .stats.digest_source <<<"$out")" = "$(json .stats.digest_dest <<<"$out")" ] &&
		[ -n "$(json .stats.digest_dest <<<"$out")" ] &&
		ok "$tag: memory digest equal at both ends" ||
		fail "$tag" "memory digests differ"
	[ "$(json .stats.transport <<<"$out")" = tls ] && [ "$(json .stats.stream_digest <<<"$out")" = Poly1305 ] &&
		ok "$tag: between hosts over TLS, the stream checked by Poly1305" ||
		fail "$tag" "its channels went by $(json .stats.transport <<<"$out"), stream digest $(json .stats.stream_digest <<<"$out")"
	# --no-compress sends pages as they are: no delta cache on either end
	local cache
	cache=$(json .stats.codec.delta_cache_bytes <<<"$out")
	case " $* " in
	*" --no-compress "*) [ "$cache" = 0 ] ;;
	*) [ "${cache:-0}" -gt 0 ] 2>/dev/null ;;
	esac && ok "$tag: delta cache of $cache bytes a side" ||
		fail "$tag" "delta cache of ${cache:-(none)} bytes a side"
	local cs cd now
	cs=$(json .stats.counter_source <<<"$out"); cd=$(json .stats.counter_dest <<<"$out")
	now=$(counter "$to" "$name")
	[ "$cs" = "$cd" ] && [ "$now" -gt "$cd" ] &&
		ok "$tag: counter continues ($cs at pause, $cd on resume, $now now)" ||
		fail "$tag" "counter $cs at pause, $cd on resume, $now now"
	check "$tag: runs on the destination" runs_on "$to" "$name"
	if has_guest "$from" "$name" || has_guest "$from" "$name--migratedaway"; then
		fail "$tag" "a copy is left on the source"
	else
		ok "$tag: no copy left on the source"
	fi
}

xa create idle --memory 256M >/dev/null
migrate_case idle a b --channels 1

xa create busy --memory 512M --rate 40M >/dev/null
migrate_case busy a b --channels 4

xa create hot --memory 256M --rate 20M --pattern hot:32M --mix zero=10,file=30,random=60 >/dev/null
migrate_case hot a b --channels 2 --no-compress

# and back, with the other policy
migrate_case busy b a --channels 3 --policy xen

# xl migrate's options on the job path.  -D first, while the guest runs:
# the sim backend numbers its domains itself, so the preflight refuses it.
addr_a=${IP_A}:$PORT_A; [ $USE_NETNS = 1 ] || addr_a=127.0.0.1:$PORT_A
xa create xlopt --memory 64M --rate 1M >/dev/null
out=$(xa migrate xlopt "$(addr_b)" -D --json)
[ "$(json .step <<<"$out")" = failed ] && grep -q "sim backend" <<<"$(json .message <<<"$out")" &&
	[ "$(state a xlopt)" = running ] && ! has_guest b xlopt &&
	ok "xl -D: refused at preflight on sim, the guest runs on" ||
	fail "xl -D" "job $(json .step <<<"$out"): $(json .message <<<"$out"); state on a: $(state a xlopt)"
out=$(xa migrate -e -F --live xlopt "$(addr_b)" --json)
[ "$(json .step <<<"$out")" = done ] && [ "$(state b xlopt)" = running ] && ! has_guest a xlopt &&
	ok "xl -e -F --live: accepted, the guest runs on the destination" ||
	fail "xl -e -F --live" "job $(json .step <<<"$out"): $(json .message <<<"$out")"
out=$(xb migrate -p xlopt "$addr_a" --json)
c1=$(counter a xlopt); sleep 0.3; c2=$(counter a xlopt)
[ "$(json .step <<<"$out")" = done ] && [ "$(json .stats.left_paused <<<"$out")" = true ] &&
	[ "$(state a xlopt)" = paused ] && [ "$c1" = "$c2" ] && ! has_guest b xlopt &&
	! has_guest b xlopt--migratedaway &&
	ok "xl -p: the guest waits paused on the destination (counter $c1), none left on the source" ||
	fail "xl -p" "job $(json .step <<<"$out"): $(json .message <<<"$out"); state on a: $(state a xlopt), counter $c1 -> $c2"

# --check: the destination's preflight answer and nothing more.  (A guest
# too big for b cannot be made on sim: its memory is allocated, up to 8 GiB;
# the unit tests cover the refusal.)
xa create checked --memory 64M --rate 1M >/dev/null
c1=$(counter a checked)
out=$(xa migrate checked "$(addr_b)" --check)
status=$?
[ $status = 0 ] && grep -q "^preflight OK: $(addr_b) can take checked$" <<<"$out" &&
	[ "$(state a checked)" = running ] && [ "$(counter a checked)" -gt "$c1" ] &&
	! has_guest b checked && ! has_guest b checked--incoming &&
	ok "migrate --check: '$out', the guest runs on a, nothing on b" ||
	fail "migrate --check" "exit $status, '$out'; state on a: $(state a checked)"
out=$(xa migrate checked "$(addr_b)" --check --json)
[ "$(json .step <<<"$out")" = checked ] && [ "$(json .stats.preflight.accepted <<<"$out")" = true ] &&
	[ "$(json .stats.preflight.guest.need_bytes <<<"$out")" = $((64 << 20)) ] &&
	[ "$(json .stats.bytes_stream <<<"$out")" = 0 ] &&
	ok "migrate --check --json: the facts and the verdict, no stream" ||
	fail "migrate --check --json" "$out"
