# lib.sh - what the lab scenarios share inside dom0 (busybox sh).
#
# Verdicts and figures go to the console, where the host reads them:
#   RESULT: PASS NAME [(note)]      RESULT: FAIL NAME (why)
#   RESULT: XLFAIL NAME (why)       stock xl itself failed (not xlmig)
#   FIGURE NAME key=value ...
# A scenario ends with pass or fail (both exit its shell).
#
# The guest is the lab's workload guest (guest/workload.c): it counts once
# a second ("XLG n=N boot=ID ..."), reports every pause it lived through
# ("XLG gap n=N boot=ID ms=MS") and dirties memory on command.  Scenarios
# share one guest per host when they can, because booting it costs about
# 15 s under the emulator; each checks the guest is sound before use.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin:/lab/bin
LAB_RUN=/run/lab
LAB_CONSOLE_LOGS=${LAB_CONSOLE_LOGS:-/var/log/xen/console}
LAB_GUEST_DIR=/lab/guest
LAB_XL_PORT=5555        # stock xl migrate-receive behind socat
LAB_SYNC_PORT=5600      # the pair's rendezvous, served by host b
LAB_CLOCK_PORT=5601     # host b's clock, for labclock
XLMIG_KEY=/etc/xlmig/xlmig.key
LAB_SCENARIO=${LAB_SCENARIO:-none}

# ---- verdicts, figures, diagnostics ----

lab_log() { echo "LAB: $*"; }

# The verdict carries the last move's downtime and bound (LAB_BOUND_NOTE).
pass() {
	local note="$*"
	[ -n "${LAB_BOUND_NOTE:-}" ] && note="${note:+$note; }$LAB_BOUND_NOTE"
	echo "RESULT: PASS $LAB_SCENARIO${note:+ ($note)}"
	exit 0
}

# While LAB_STOCK_XL is 1 the move under way is stock xl's own, and a
# failure is reported as xl's (XLFAIL), not as xlmig's.
fail() {
	if [ "${LAB_STOCK_XL:-0}" = 1 ]; then
		echo "RESULT: XLFAIL $LAB_SCENARIO (stock xl: $*)"
	else
		echo "RESULT: FAIL $LAB_SCENARIO ($*)"
	fi
	lab_diagnose
	exit 1
}

figure() { echo "FIGURE $LAB_SCENARIO $*"; }

# What an administrator would look at first, after a failure.
lab_diagnose() {
	echo "--- diagnostics for $LAB_SCENARIO on $LAB_HOST"
	xl list 2>&1
	for f in "$LAB_CONSOLE_LOGS"/guest-*.log; do
		[ -e "$f" ] || continue
		echo "--- tail of $f"
		tail -n 8 "$f"
	done
	[ -e "$LAB_RUN/xlmigd.log" ] && { echo "--- tail of xlmigd.log"; tail -n 30 "$LAB_RUN/xlmigd.log"; }
	xlmigd_threads
	echo "--- xl dmesg (tail)"
	xl dmesg 2>&1 | tail -n 15
	echo "--- end of diagnostics"
}

now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

# ratio A B: A/B with two decimals ("n/a" when B is 0 or missing).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }

# Keep a background process to be stopped when the scenario ends.
lab_background() { echo "$1" >> "$LAB_RUN/background.pids"; }

lab_stop_background() {
	[ -e "$LAB_RUN/background.pids" ] || return 0
	while read -r pid; do
		kill "$pid" 2>/dev/null
	done < "$LAB_RUN/background.pids"
	rm -f "$LAB_RUN/background.pids"
}

# ---- hosts and the link between a pair ----

lab_host_setup() {
	case $LAB_HOST in
	a) lab_net_up 10.99.0.1 ;;
	b) lab_net_up 10.99.0.2
	   labclock serve $LAB_CLOCK_PORT &
	   ;;
	esac
}

# Host a takes host b's time (see labclock.c), so the guest's own view of
# a migration between them is not skewed by the hosts' clocks.
lab_clock_sync() {
	local i=0 out
	[ "$LAB_HOST" = a ] || return 0
	until out=$(labclock sync 10.99.0.2 $LAB_CLOCK_PORT 2> /dev/null); do
		i=$((i + 1))
		[ $i -gt 60 ] && { lab_log "clock sync with host b failed"; return 1; }
		sleep 1
	done
	lab_log "clock set to host b's: $out"
}

lab_net_up() { # address
	local i=0
	while ! ip link show eth0 > /dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt 10 ] && { lab_log "no eth0"; return 1; }
		sleep 1
	done
	ip addr add "$1/24" dev eth0
	ip link set eth0 up
}

lab_peer_ip() {
	case $LAB_HOST in
	a) echo 10.99.0.2 ;;
	b) echo 10.99.0.1 ;;
	*) echo 127.0.0.1 ;;
	esac
}

# The interface whose counters measure the bytes a migration puts on the wire.
lab_wire_if() { [ "$LAB_HOST" = local ] && echo lo || echo eth0; }

# Bytes through the wire interface, both directions counted once: on lo
# every packet is sent once, on eth0 a packet is either sent or received.
wire_bytes() {
	local s=/sys/class/net/$(lab_wire_if)/statistics
	if [ "$LAB_HOST" = local ]; then
		cat "$s/tx_bytes"
	else
		echo $(($(cat "$s/tx_bytes") + $(cat "$s/rx_bytes")))
	fi
}

# lab_sync TAG [VALUE]: meet the peer at TAG; print the peer's VALUE.
# A scenario that moves the guest several times sets LAB_ROUND, so each
# move's meetings are its own.
# Host b serves, host a calls; a meeting at another TAG is answered and
# waited past on both sides (the other host is behind or ahead).  Fails
# after LAB_SYNC_TIMEOUT seconds (default 180).
lab_sync() {
	local tag="$LAB_SCENARIO${LAB_ROUND:+.$LAB_ROUND}:$1" value=${2:--} limit=${LAB_SYNC_TIMEOUT:-180} line="" end t
	end=$(($(now_ms) + limit * 1000))
	echo "$tag $value" > "$LAB_RUN/sync.out"
	while [ "$(now_ms)" -lt $end ]; do
		if [ "$LAB_HOST" = b ]; then
			rm -f "$LAB_RUN/sync.in"
			timeout $(((end - $(now_ms)) / 1000 + 1)) \
				socat TCP-LISTEN:$LAB_SYNC_PORT,reuseaddr EXEC:/lab/sync-reply.sh
			line=$(cat "$LAB_RUN/sync.in" 2> /dev/null)
		else
			# socat retries the connection itself: a new socat every
			# half second costs a fork, an exec and a dynamic link,
			# a quarter of this dom0's CPU while a migration runs.
			t=$(((end - $(now_ms)) / 1000 + 1))
			[ $t -le 60 ] || t=60
			line=$(timeout $t socat -t 60 - TCP:10.99.0.2:$LAB_SYNC_PORT,retry=$((2 * t)),interval=0.5 \
				< "$LAB_RUN/sync.out" 2> /dev/null)
		fi
		case $line in
		"$tag "*) echo "${line#"$tag "}"; return 0 ;;
		"") sleep 0.5 ;;
		*) lab_log "sync $tag: peer is at '${line%% *}', waiting" >&2; sleep 0.5 ;;
		esac
	done
	lab_log "sync $tag: the peer never came" >&2
	return 1
}

# ---- the guest ----

guest_cfg() { # name type [extra-cfg-line...]
	local name=$1 type=$2
	shift 2
	{
		echo "name = \"$name\""
		echo "type = \"$type\""
		echo "kernel = \"$LAB_GUEST_DIR/vmlinuz\""
		echo "ramdisk = \"$LAB_GUEST_DIR/guest.cpio\""
		echo "memory = ${LAB_GUEST_MEM:-128}"
		echo "vcpus = 1"
		echo "on_crash = \"preserve\""
		# Xen traps RDTSCP for an emulated TSC and TCG's SVM cannot
		# decode it for Xen (no NRIPS): keep the TSC native.
		echo "tsc_mode = \"native\""
		for l in "$@"; do echo "$l"; done
		# LAB_GUEST_EXTRA: more guest kernel arguments (xlg_ip=...)
		echo "extra = \"console=hvc0 rdinit=/init loglevel=4 ${LAB_GUEST_EXTRA:-}\""
	} > "$LAB_RUN/$name.cfg"
}

# guest_create NAME [TYPE] [cfg-line...]: a fresh guest, its old console
# logs removed; returns when xl create does.
guest_create() {
	local name=$1 type=${2:-pvh}
	[ $# -ge 2 ] && shift 2 || shift 1
	rm -f "$LAB_CONSOLE_LOGS/guest-$name.log" "$LAB_CONSOLE_LOGS/guest-$name--incoming.log"
	guest_cfg "$name" "$type" "$@"
	xl create "$LAB_RUN/$name.cfg"
}

# Every console line the guest NAME printed on this host, under any name.
guest_log() { cat "$LAB_CONSOLE_LOGS/guest-$1.log" "$LAB_CONSOLE_LOGS/guest-$1--incoming.log" 2>/dev/null; }

# The guest's counter in its latest boot (an older boot's lines, still in
# a console log this host appended to, count from 0 and do not count).
guest_last_n() {
	local boot
	boot=$(guest_boot_id "$1")
	guest_log "$1" | sed -n "s/^XLG n=\([0-9]*\) boot=$boot .*/\1/p" | sort -n | tail -n 1
}

guest_boot_id() {
	guest_log "$1" | sed -n 's/^XLG n=[0-9]* boot=\([0-9a-f]*\) .*/\1/p' | tail -n 1
}

# How many different boots of the guest this host has seen.
guest_boot_count() {
	guest_log "$1" | sed -n 's/^XLG .*boot=\([0-9a-f]*\).*/\1/p' | sort -u | wc -l
}

guest_wait_n() { # name min timeout
	local end=$(($(now_ms) + $3 * 1000)) n
	while [ "$(now_ms)" -lt $end ]; do
		n=$(guest_last_n "$1")
		[ -n "$n" ] && [ "$n" -ge "$2" ] && return 0
		sleep 0.5
	done
	return 1
}

# The longest pause the guest reported during one migration, in ms (0
# when it reported none: every pause was under its 100 ms threshold).
# Only that migration's window counts: lines of the migrating boot BOOT
# (a guest rebooted after a failed scenario counts from 0 again, so an
# earlier boot's gaps would look recent), at counter values FROM (read
# just before the migration began) to TO (read once it had arrived), so
# neither an earlier nor a later pause of the same boot is counted.
guest_max_gap() { # name boot from to
	guest_log "$1" | tr -d '\r' | awk -v boot="$2" -v from="$3" -v to="$4" '
		$1 == "XLG" && $2 == "gap" {
			n = ""; b = ""; ms = 0
			for (i = 3; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "n") n = kv[2]
				else if (kv[1] == "boot") b = kv[2]
				else if (kv[1] == "ms") ms = kv[2] + 0
			}
			# b "" and boot "": compared as strings, for busybox awk
			# takes a boot id such as 224e5773 for a number (infinity)
			if (b "" == boot "" && n != "" && n + 0 >= from + 0 && n + 0 <= to + 0 && ms > max)
				max = ms
		}
		END { print max + 0 }'
}

# Send a command line to the guest's workload through its console.
guest_send() { # name command
	local id tty
	id=$(xl domid "$1") || return 1
	tty=$(xenstore-read "/local/domain/$id/console/tty") || return 1
	echo "$2" > "$tty"
}

# xl list's State is its fifth column (Name ID Mem VCPUs State Time):
# paused, shut down, crashed or dying is not running.
guest_running() { # name
	xl list "$1" 2>/dev/null | awk -v n="$1" '$1 == n && $5 !~ /[pscd]/ { ok = 1 } END { exit !ok }'
}

# A guest that runs, counts, and was booted once.
guest_sound() { # name
	local n
	guest_running "$1" || return 1
	n=$(guest_last_n "$1")
	[ -n "$n" ] && guest_wait_n "$1" $((n + 1)) 5 && [ "$(guest_boot_count "$1")" = 1 ]
}

# guest_ensure NAME: the guest runs and counts, booting it if needed.
guest_ensure() {
	guest_sound "$1" && return 0
	lab_destroy_all
	guest_create "$1" pvh || fail "xl create $1 failed"
	guest_wait_n "$1" 2 120 || fail "guest $1 never started counting"
}

lab_destroy_all() { lab_destroy_all_but ""; }

lab_destroy_all_but() { # name to keep ("" for none)
	local d
	for d in $(xl list | awk -v keep="$1" 'NR > 1 && $2 != 0 && $1 != keep { print $2 }'); do
		xl destroy "$d"
	done
}

# Domains a migration must not leave behind, on this host.
lab_leftovers() {
	xl list | awk 'NR > 1 && ($1 ~ /--incoming$/ || $1 ~ /--migratedaway$/) { print $1 }'
}

# ---- xlmig ----

xlmig_built() { [ -x /usr/sbin/xlmig ] && { [ "$1" != xlmigd ] || [ -x /usr/sbin/xlmigd ]; }; }

need_xlmig() { # xlmig | xlmigd
	xlmig_built "$1" || fail "$1 is not built in this tree (build/$1 missing): nothing to test"
}

# Start xlmigd on this host unless it runs; its log goes to xlmigd.log.
xlmigd_start() {
	if [ -e "$LAB_RUN/xlmigd.pid" ] && kill -0 "$(cat "$LAB_RUN/xlmigd.pid")" 2>/dev/null; then
		return 0
	fi
	# A daemon killed earlier left its socket file: only an answer on
	# it says the new one serves (it recovers old jobs first).
	rm -f /run/xlmig/xlmigd.sock
	# The lab's guests boot from $LAB_GUEST_DIR: the incoming-guest
	# policy must allow their kernel and ramdisk there (xlmigd.conf(5) boot).
	# LAB_DIGEST_DUMP=1: every memory digest also lists its pages'
	# digests (xen_memdigest.h), for finding the pages two digests
	# disagree on; it hashes each page twice, inside the guest's pause.
	if [ "${LAB_DIGEST_DUMP:-0}" = 1 ]; then
		export XLMIG_MEM_DIGEST_DUMP=$LAB_RUN/digest-pages.txt
	else
		unset XLMIG_MEM_DIGEST_DUMP
	fi
	xlmigd --foreground --hv xen --key "$XLMIG_KEY" --tls-dir "/etc/xlmig/tls-$LAB_HOST" \
		--boot "$LAB_GUEST_DIR" >> "$LAB_RUN/xlmigd.log" 2>&1 &
	echo $! > "$LAB_RUN/xlmigd.pid"
	local i=0 t0
	t0=$(now_ms)
	until [ -S /run/xlmig/xlmigd.sock ] && xlmig jobs > /dev/null 2>&1; do
		i=$((i + 1))
		kill -0 "$(cat "$LAB_RUN/xlmigd.pid")" 2>/dev/null || { tail -n 20 "$LAB_RUN/xlmigd.log"; return 1; }
		[ $i -gt ${XLMIGD_START_TRIES:-120} ] && return 1
		sleep 0.25
	done
	lab_log "xlmigd serves after $(( $(now_ms) - t0 )) ms"
}

# Copy to the console what xlmigd logged since the last call: the save
# path it took, its iterations, what went wrong.
xlmigd_log_since_last() {
	local seen=0 now
	[ -e "$LAB_RUN/xlmigd.log" ] || return 0
	[ -e "$LAB_RUN/xlmigd.log.seen" ] && seen=$(cat "$LAB_RUN/xlmigd.log.seen")
	now=$(wc -l < "$LAB_RUN/xlmigd.log")
	[ "$now" -lt "$seen" ] && seen=0
	tail -n +$((seen + 1)) "$LAB_RUN/xlmigd.log" | head -n 60 | sed 's/^/xlmigd: /'
	echo "$now" > "$LAB_RUN/xlmigd.log.seen"
}

# Where a live xlmigd's threads wait: each one's kernel wait channel,
# system call and kernel stack, and a second of strace (when dom0 has it).
xlmigd_threads() {
	local pid t
	[ -e "$LAB_RUN/xlmigd.pid" ] || return 0
	pid=$(cat "$LAB_RUN/xlmigd.pid")
	[ -d "/proc/$pid" ] || return 0
	echo "--- xlmigd $pid threads"
	for t in /proc/$pid/task/*; do
		echo "thread ${t##*/} $(cat $t/comm) state=$(awk '{print $3}' $t/stat)" \
			"wchan=$(cat $t/wchan 2>/dev/null) syscall=$(cut -d' ' -f1-4 $t/syscall 2>/dev/null)"
		sed 's/^/  /' $t/stack 2>/dev/null
	done
	ls -l /proc/$pid/fd 2>/dev/null | sed -n 's/.* \([0-9]* -> .*\)/  fd \1/p'
	command -v strace > /dev/null && timeout 2 strace -f -tt -p "$pid" 2>&1 | head -n 40
}

# The last outgoing job xlmigd ran here ("" if none).
xlmigd_last_job() {
	xlmig jobs 2>/dev/null | awk 'NR > 1 && $2 == "out" { id = $1 } END { print id }'
}

# That job's statistics on one line, to the console: setup, the window's
# phases, the codec's choices and why, each pass (where the time went).
xlmigd_job_stats() {
	local job
	job=$(xlmigd_last_job)
	[ -n "$job" ] || return 0
	echo "stats: job $job $(xlmig status "$job" --json 2>&1 | tr -d '\n')"
}

xlmigd_stop() {
	[ -e "$LAB_RUN/xlmigd.pid" ] || return 0
	kill "$(cat "$LAB_RUN/xlmigd.pid")" 2>/dev/null
	rm -f "$LAB_RUN/xlmigd.pid"
}

# ---- migration methods ----
# A method is SENDER-RECEIVER:
#   xl-xl        stock xl migrate to stock xl migrate-receive (behind socat)
#   xlmig-xlmigd xlmig migrate through xlmigd to the peer's xlmigd
#   xlmig-xl     xlmig migrate, xl transport, to stock xl migrate-receive
#   xl-xlmig     stock xl migrate to xlmig migrate-receive (behind socat)
#   xlmig-xlmig  xlmig migrate --plain (xl's protocol) to xlmig migrate-receive

method_receiver_start() { # method
	case $1 in
	*-xlmigd) need_xlmig xlmigd; xlmigd_start || fail "xlmigd did not start" ;;
	*-xlmig)
		need_xlmig xlmig
		socat -b 262144 TCP-LISTEN:$LAB_XL_PORT,reuseaddr EXEC:"xlmig migrate-receive" \
			> "$LAB_RUN/receiver.log" 2>&1 &
		echo $! > "$LAB_RUN/receiver.pid" ;;
	*-xl)
		socat -b 262144 TCP-LISTEN:$LAB_XL_PORT,reuseaddr EXEC:"xl migrate-receive" \
			> "$LAB_RUN/receiver.log" 2>&1 &
		echo $! > "$LAB_RUN/receiver.pid" ;;
	esac
}

# Wait for a socat-hosted receiver to finish; print its status.
method_receiver_wait() { # timeout
	local pid rc=0
	[ -e "$LAB_RUN/receiver.pid" ] || return 0
	pid=$(cat "$LAB_RUN/receiver.pid")
	rm -f "$LAB_RUN/receiver.pid"
	timeout "$1" sh -c "while kill -0 $pid 2>/dev/null; do sleep 0.2; done" || rc=1
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	sed 's/^/receiver: /' "$LAB_RUN/receiver.log"
	return $rc
}

# method_send METHOD NAME DEST: the migration command, output in send.log.
# XLMIG_OPTS adds options to xlmig migrate (e.g. --policy xen).
method_send() {
	local transport="socat -b 262144 - TCP:$3:$LAB_XL_PORT,retry=60,interval=0.5"
	case $1 in
	xl-*) xl migrate -s "" "$2" "$transport" ;;
	xlmig-xlmigd) need_xlmig xlmigd; xlmigd_start && xlmig migrate ${XLMIG_OPTS:-} "$2" "$3" ;;
	xlmig-xl) need_xlmig xlmig; xlmig migrate --xl-receiver ${XLMIG_OPTS:-} -s "" "$2" "$transport" ;;
	xlmig-xlmig) need_xlmig xlmig; xlmig migrate --plain ${XLMIG_OPTS:-} -s "" "$2" "$transport" ;;
	esac > "$LAB_RUN/send.log" 2>&1
}

# The line of send.log that says what went wrong.
send_error() {
	grep -m 1 -i 'fail\|error\|unrecognized\|refus' "$LAB_RUN/send.log" || tail -n 1 "$LAB_RUN/send.log"
}

# ---- downtime bounds ----
# Every migration's guest-seen downtime has a bound, stated with its
# figures and enforced.  Under the emulator an absolute target means
# little, so the bound is relative to stock xl: the xl-* scenarios record
# xl's downtime for their kind of move (local or pair, idle or busy) in
# this boot's /run/lab, and a move by or to xlmig of the same kind may
# take at most LAB_XL_FACTOR times that, or xlmig's own downtime target
# where that is looser.  Nothing passes beyond LAB_CEILING_MS, which is
# also the bound where this boot has no stock xl figure of that kind
# (stock xl failed, or no xl scenario measures that load).
LAB_XL_FACTOR=3
LAB_CEILING_MS=10000
LAB_XLMIG_TARGET_MS=100         # xlmig migrate's default --downtime

# The kind of move, for the baselines: local|pair, -busy when the guest
# dirties memory (LAB_BASELINE names another kind).
lab_move_kind() {
	if [ -n "${LAB_BASELINE:-}" ]; then
		echo "$LAB_BASELINE"
	elif [ "$LAB_HOST" = local ]; then
		echo "local${LAB_GUEST_BUSY:+-busy}"
	else
		echo "pair${LAB_GUEST_BUSY:+-busy}"
	fi
}

# Stock xl's downtime for this kind of move, recorded on this boot.
lab_record_baseline() { # downtime-ms
	echo "$1" > "$LAB_RUN/baseline.$(lab_move_kind)"
}

# xlmig's own downtime target for this move: --downtime in XLMIG_OPTS.
xlmig_target_ms() {
	local t
	t=$(echo " ${XLMIG_OPTS:-} " | sed -n 's/.* --downtime \([0-9][0-9]*\) .*/\1/p')
	echo "${t:-$LAB_XLMIG_TARGET_MS}"
}

# downtime_bound METHOD: "MS why" for this move.
downtime_bound() {
	local kind xl b why target
	kind=$(lab_move_kind)
	if [ "$1" = xl-xl ]; then
		echo "$LAB_CEILING_MS the lab's ceiling (stock xl is the baseline)"
		return
	fi
	if [ ! -s "$LAB_RUN/baseline.$kind" ]; then
		echo "$LAB_CEILING_MS the lab's ceiling: no stock xl figure for a $kind move on this boot"
		return
	fi
	xl=$(cat "$LAB_RUN/baseline.$kind")
	target=$(xlmig_target_ms)
	b=$((xl * LAB_XL_FACTOR))
	why="${LAB_XL_FACTOR}x stock xl's $xl ms for a $kind move on this boot"
	if [ "$target" -gt "$b" ]; then
		b=$target
		why="xlmig's own target $target ms (looser than ${LAB_XL_FACTOR}x stock xl's $xl ms)"
	fi
	if [ "$b" -gt "$LAB_CEILING_MS" ]; then
		b=$LAB_CEILING_MS
		why="the lab's ceiling (below ${LAB_XL_FACTOR}x stock xl's $xl ms)"
	fi
	echo "$b $why"
}

# check_downtime METHOD DOWNTIME-MS: fail beyond the move's bound, saying
# so; stock xl's own figure becomes this boot's baseline.  Sets
# LAB_BOUND_NOTE for the verdict.
check_downtime() {
	local bound why
	bound=$(downtime_bound "$1")
	why=${bound#* }
	bound=${bound%% *}
	lab_log "downtime bound for this $1 move: $bound ms ($why)"
	[ "$2" -le "$bound" ] ||
		fail "guest-seen downtime $2 ms is over its bound of $bound ms ($why)"
	[ "$1" = xl-xl ] && lab_record_baseline "$2"
	LAB_BOUND_NOTE="downtime $2 ms, bound $bound ms: $why"
}

# ---- the checks every migration scenario makes ----

# The guest left this host: no domain of that name, nothing renamed aside.
check_left() { # name
	xl domid "$1" > /dev/null 2>&1 && fail "$1 still on the source after migrating"
	[ -z "$(lab_leftovers)" ] || fail "left behind on the source: $(lab_leftovers)"
}

# The guest's latest boot id is BOOT.  An empty read is tried once more:
# under the emulator a dom0 process of the pipeline has been seen to
# segfault, which is not the guest's doing.
check_same_boot() { # name boot-id
	local now
	now=$(guest_boot_id "$1")
	[ -n "$now" ] || now=$(guest_boot_id "$1")
	[ -n "$now" ] || fail "could not read $1's boot id from its console log"
	[ "$now" = "$2" ] || fail "$1 runs with boot id $now, was $2: it was restarted, not migrated"
}

# The guest runs here as a different domain (not checked when OLD-DOMID
# is "-": it was another host's), its counter went on from
# BEFORE, and it is the same boot: migrated, not restarted.
check_arrived() { # name old-domid before-n boot-id
	local id
	id=$(xl domid "$1" 2>/dev/null) || fail "$1 not running on the destination"
	[ "$2" = - ] || [ "$id" != "$2" ] || fail "$1 kept domid $id: it never moved"
	guest_running "$1" || fail "$1 is not running after migration ($(xl list "$1" | tail -n 1))"
	guest_wait_n "$1" $(($3 + 2)) 30 || fail "$1's counter stopped at $(guest_last_n "$1") (was $3 before)"
	check_same_boot "$1" "$4"
	[ -z "$(lab_leftovers)" ] || fail "left behind on the destination: $(lab_leftovers)"
}

# migrate_local METHOD NAME: migrate the guest to this same host and check
# it; prints figures time_ms, downtime_ms (as the guest saw it), wire_bytes.
migrate_local() {
	local method=$1 name=$2 id0 n0 n1 boot t0 t1 b0 b1 gap rc=0
	guest_ensure "$name"
	id0=$(xl domid "$name")
	n0=$(guest_last_n "$name")
	boot=$(guest_boot_id "$name")
	[ "$method" = xl-xl ] && LAB_STOCK_XL=1
	method_receiver_start "$method"
	b0=$(wire_bytes)
	t0=$(now_ms)
	method_send "$method" "$name" 127.0.0.1 || rc=$?
	t1=$(now_ms)
	b1=$(wire_bytes)
	method_receiver_wait 30 || lab_log "receiver did not finish"
	sed 's/^/sender: /' "$LAB_RUN/send.log"
	xlmigd_log_since_last
	[ "$method" = xlmig-xlmigd ] && xlmigd_job_stats
	guest_log "$name" | tail -n 12 | sed 's/^/guest: /'
	[ $rc = 0 ] || fail "$method migration exited $rc: $(send_error)"
	check_arrived "$name" "$id0" "$n0" "$boot"
	n1=$(guest_last_n "$name")
	gap=$(guest_max_gap "$name" "$boot" "$n0" "$n1")
	figure "method=$method time_ms=$((t1 - t0)) downtime_ms=$gap" \
		"bound_ms=$(downtime_bound "$method" | cut -d' ' -f1)" \
		"wire_bytes=$((b1 - b0)) domid=$id0->$(xl domid "$name")"
	echo "$((t1 - t0)) $gap $((b1 - b0))" > "$LAB_RUN/last-figures"
	check_downtime "$method" "$gap"
	LAB_STOCK_XL=0
}

# ---- two hosts ----

# pair_roles NAME: the host that holds the guest sends it (LAB_ROLE=src),
# the other receives (dst); when neither does, host a boots one.  The
# clocks are synced again, as emulated clocks drift.
pair_roles() {
	local mine=0 theirs
	guest_sound "$1" && mine=1
	theirs=$(lab_sync roles $mine) || fail "the peer host never met us at the start"
	if [ $mine = 1 ] && { [ "$theirs" = 0 ] || [ "$LAB_HOST" = a ]; }; then
		LAB_ROLE=src
	elif [ "$theirs" = 1 ]; then
		LAB_ROLE=dst
	else
		[ "$LAB_HOST" = a ] && LAB_ROLE=src || LAB_ROLE=dst
	fi
	if [ $LAB_ROLE = dst ]; then
		lab_destroy_all
		# This host's console logs of an earlier stay are not this
		# move's (the guest may even have been rebooted since).
		rm -f "$LAB_CONSOLE_LOGS/guest-$1.log" "$LAB_CONSOLE_LOGS/guest-$1--incoming.log"
	fi
	lab_clock_sync
	lab_sync clock > /dev/null || fail "the peer host did not come back after the clock sync"
	lab_log "$LAB_HOST is the $LAB_ROLE of $1"
}

# pair_move METHOD NAME: move the guest to the other host; the sender
# reports time and bytes, the receiver what the guest saw.  With
# LAB_GUEST_BUSY set (a workload command such as "dirty 8 32") the guest
# dirties memory during the migration; LAB_MOVE_LABEL tags the figures.
pair_move() {
	pair_roles "$2"
	if [ $LAB_ROLE = src ]; then
		pair_move_send "$@"
	else
		pair_move_receive "$@"
	fi
}

migrate_pair() { # method name
	pair_move "$@"
	pass "$LAB_ROLE"
}

pair_move_send() { # method name
	local method=$1 name=$2 peer n0 boot t0 t1 b0 b1 rc=0 seen
	guest_ensure "$name"
	if [ -n "${LAB_GUEST_BUSY:-}" ]; then
		guest_send "$name" "$LAB_GUEST_BUSY" || fail "cannot reach the guest's console"
		sleep 2
	fi
	n0=$(guest_last_n "$name")
	boot=$(guest_boot_id "$name")
	peer=$(lab_peer_ip)
	lab_sync ready "$n0 $boot" > /dev/null || fail "the receiver never got ready"
	[ "$method" = xl-xl ] && LAB_STOCK_XL=1
	b0=$(wire_bytes)
	t0=$(now_ms)
	method_send "$method" "$name" "$peer" || rc=$?
	t1=$(now_ms)
	b1=$(wire_bytes)
	sed 's/^/sender: /' "$LAB_RUN/send.log"
	xlmigd_log_since_last
	[ "$method" = xlmig-xlmigd ] && xlmigd_job_stats
	lab_sync sent $rc > /dev/null || fail "the receiver went away"
	[ $rc = 0 ] || fail "$method migration exited $rc: $(send_error)"
	check_left "$name"
	seen=$(lab_sync seen) || fail "the receiver did not report"
	[ "$seen" = fail ] && fail "the receiver found the guest wrong (see its log)"
	figure "${LAB_MOVE_LABEL:+label=$LAB_MOVE_LABEL }method=$method time_ms=$((t1 - t0))" \
		"downtime_ms=$seen bound_ms=$(downtime_bound "$method" | cut -d' ' -f1) wire_bytes=$((b1 - b0))"
	echo "$((t1 - t0)) $seen $((b1 - b0))" > "$LAB_RUN/last-figures"
	check_downtime "$method" "$seen"
	LAB_STOCK_XL=0
}

pair_move_receive() { # method name
	local method=$1 name=$2 info n0 boot rc gap
	method_receiver_start "$method"
	info=$(lab_sync ready) || fail "the sender never came"
	[ "$method" = xl-xl ] && LAB_STOCK_XL=1
	n0=${info% *}
	boot=${info#* }
	rc=$(LAB_SYNC_TIMEOUT=300 lab_sync sent) || fail "the sender never finished"
	method_receiver_wait 30 || lab_log "receiver did not finish"
	xlmigd_log_since_last
	if [ "$rc" != 0 ]; then
		lab_sync seen fail > /dev/null
		fail "the sender's migration failed (exit $rc)"
	fi
	( check_arrived "$name" - "$n0" "$boot" ) || { lab_sync seen fail > /dev/null; exit 1; }
	guest_log "$name" | tail -n 6 | sed 's/^/guest: /'
	[ -n "${LAB_GUEST_BUSY:-}" ] && guest_send "$name" idle
	gap=$(guest_max_gap "$name" "$boot" "$n0" "$(guest_last_n "$name")")
	lab_sync seen "$gap" > /dev/null
	# The sender states the bound and gives the verdict on it; the
	# baseline is this host's too, for a move the other way.
	[ "$method" = xl-xl ] && lab_record_baseline "$gap"
	LAB_STOCK_XL=0
}

# ---- stock xl against xlmig, on the same boot and guest ----
# Moves alternate in the order xl, xlmig, xlmig, xl, xl, xlmig, ... so
# that each method gets as many early turns as late ones (and, on a pair,
# as many moves each way).  Each move's time and guest-seen downtime go
# to $LAB_RUN/compare.METHOD, one "time downtime" line per move.
LAB_COMPARE_MOVES=${LAB_COMPARE_MOVES:-3}   # per method

compare_method() { # move-index
	case $(($1 % 4)) in 0|3) echo xl-xl ;; *) echo xlmig-xlmigd ;; esac
}

compare_add() { # method: the move just made, from last-figures
	local t d
	read -r t d _ < "$LAB_RUN/last-figures"
	echo "$t $d" >> "$LAB_RUN/compare.$1"
}

# compare_add on a pair: the sender has the move's figures; both hosts
# keep them, so that either gives the same verdict.
compare_add_pair() { # method
	local mine=- theirs
	[ "$LAB_ROLE" = src ] && read -r mine < "$LAB_RUN/last-figures"
	theirs=$(lab_sync figures "$mine") || fail "the peer host did not share the move's figures"
	[ "$LAB_ROLE" = src ] || echo "$theirs" > "$LAB_RUN/last-figures"
	compare_add "$1"
}

# lab_profiled NAME COMMAND...: COMMAND (one move) sampled system-wide by
# perf on this host, when the image has it (XENLAB_PERF=1).  The report
# goes to the console also when the move failed its checks (a slow move
# is the one whose profile is wanted): its verdict is printed first, and
# the scenario ends after the report.
lab_profiled() {
	local name=$1 pid= rc=0 data
	shift
	data=$LAB_RUN/perf.$name.data
	if command -v perf > /dev/null; then
		perf record -a -g -e cpu-clock -F 100 -o "$data" > "$LAB_RUN/perf.log" 2>&1 &
		pid=$!
		sleep 1
	fi
	( "$@" ) || rc=$?
	if [ -n "$pid" ]; then
		kill -INT "$pid"
		wait "$pid" 2>/dev/null
		echo "--- perf $name: by program and object"
		perf report -i "$data" --stdio --no-children -q -g none --sort comm,dso 2>/dev/null | grep -v '^$' | head -n 30
		echo "--- perf $name: by symbol"
		perf report -i "$data" --stdio --no-children -q -g none --sort comm,sym 2>/dev/null | grep -v '^$' | head -n 60
		echo "--- perf $name: the hottest call chains (callee first)"
		perf report -i "$data" --stdio --no-children -q --sort comm,sym \
			-g folded,0.5,callee,function,percent 2>/dev/null | grep -v '^$' | cut -c1-400 | head -n 100
	fi
	[ $rc = 0 ] || exit $rc
}

# compare_run local|pair: the alternating moves of one comparison, then
# its verdict.
compare_run() {
	local i=0 m
	need_xlmig xlmigd
	xlmigd_start || fail "xlmigd did not start"
	rm -f "$LAB_RUN"/compare.*
	while [ $i -lt $((2 * LAB_COMPARE_MOVES)) ]; do
		m=$(compare_method $i)
		lab_log "move $((i + 1)) of $((2 * LAB_COMPARE_MOVES)): $m"
		if [ "$1" = local ]; then
			migrate_local "$m" g1
			compare_add "$m"
		else
			pair_move "$m" g1
			compare_add_pair "$m"
		fi
		i=$((i + 1))
	done
	compare_verdict
}

median() { # numbers on stdin
	sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) print 0
		else if (NR % 2) print v[(NR + 1) / 2]
		else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The medians, their ratios and issue 10's target for this idle move:
# xlmig's total time at most 0.8x stock xl's, its guest-seen downtime at
# most xl's.  A missed target fails the scenario, saying by how much.
compare_verdict() {
	local x=$LAB_RUN/compare.xl-xl m=$LAB_RUN/compare.xlmig-xlmigd xt xd mt md tr dr
	[ -s "$x" ] && [ -s "$m" ] || fail "no moves to compare"
	xt=$(cut -d' ' -f1 "$x" | median); xd=$(cut -d' ' -f2 "$x" | median)
	mt=$(cut -d' ' -f1 "$m" | median); md=$(cut -d' ' -f2 "$m" | median)
	tr=$(ratio "$mt" "$xt"); dr=$(ratio "$md" "$xd")
	lab_log "moves (time_ms downtime_ms): xl $(tr '\n' ';' < "$x") xlmig $(tr '\n' ';' < "$m")"
	figure "medians moves=$(wc -l < "$x")+$(wc -l < "$m") xl_time_ms=$xt xlmig_time_ms=$mt time_ratio=$tr" \
		"xl_downtime_ms=$xd xlmig_downtime_ms=$md downtime_ratio=$dr"
	if awk -v mt="$mt" -v xt="$xt" -v md="$md" -v xd="$xd" 'BEGIN { exit !(mt <= 0.8 * xt && md <= xd) }'; then
		pass "target met: xlmig's time x$tr of xl's (<= 0.8), downtime x$dr (<= 1.0), medians"
	else
		fail "target missed: xlmig's time x$tr of xl's (target <= 0.8), downtime x$dr (target <= 1.0), medians of $(wc -l < "$m") moves each"
	fi
}

# ---- live checkpoints (xlmig snapshot) ----
# A checkpoint is proven by restoring it: the restored guest counts on
# from the value it had at the checkpoint's final pause, in the same
# boot, and its first reported pause is one the original reported during
# the checkpoint (the checkpoint's own).  snapshot-local (full run) and
# xlmig-snapshot-local (core) share this.

# The ticks at which guest NAME of boot BOOT reported a pause, counter
# FROM to TO: the checkpoint's is one of them.
pause_ticks() { # name boot from to
	guest_log "$1" | sed -n "s/^XLG gap n=\([0-9]*\) boot=$2 .*/\1/p" |
		awk -v from="$3" -v to="$4" '$1 >= from && $1 <= to { printf "%s ", $1 }'
}

# restored_from NAME LINES BOOT FROM TO TICKS: after its first LINES
# lines, NAME's console shows the counter of boot BOOT going on from a
# value in [FROM, TO + 1], then passing it by 2, and its first pause (the
# time since the checkpoint) at one of TICKS, where the original paused
# during the checkpoint: restored from the checkpoint's instant, not
# rebooted, and running.  FIRST = that first value.
restored_from() {
	local end=$(($(now_ms) + 60000)) first="" last="" tick
	while [ "$(now_ms)" -lt $end ]; do
		first=$(guest_log "$1" | tail -n +$(($2 + 1)) | sed -n "s/^XLG n=\([0-9]*\) boot=$3 .*/\1/p" | head -n 1)
		last=$(guest_log "$1" | tail -n +$(($2 + 1)) | sed -n "s/^XLG n=\([0-9]*\) boot=$3 .*/\1/p" | tail -n 1)
		[ -n "$first" ] && [ "$last" -ge $((first + 2)) ] && break
		sleep 0.5
	done
	guest_log "$1" | tail -n +$(($2 + 1)) | head -n 6 | sed "s/^/$1 restored: /"
	[ -n "$first" ] || fail "$1 restored from the checkpoint never counted in boot $3 (rebooted or stuck: $(guest_log "$1" | tail -n 1))"
	[ "$last" -ge $((first + 2)) ] || fail "$1 restored from the checkpoint stopped counting at $last"
	[ "$first" -ge "$4" ] && [ "$first" -le $(($5 + 1)) ] ||
		fail "$1 restored from the checkpoint counts from $first, not from the checkpoint's value ($4 to $5)"
	tick=$(guest_log "$1" | tail -n +$(($2 + 1)) | sed -n "s/^XLG gap n=\([0-9]*\) boot=$3 .*/\1/p" | head -n 1)
	case " $6 " in
	*" $tick "*) ;;
	*) fail "$1 restored from the checkpoint first paused at tick ${tick:-none}, the original at ${6:-none} during the checkpoint" ;;
	esac
	FIRST=$first
}

# json_member TEXT KEY: the value of KEY (a number or a string) in the
# JSON xlmig printed, one member a line.
json_member() {
	echo "$1" | sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p" | head -n 1
}

# CKPT_VERIFY=1: checkpoint_take and checkpoint_held take --verify
# checkpoints, whose digest of the guest's memory at the final pause
# (CKPT_DIGEST) checkpoint_xl_restore then proves the restore by.
CKPT_VERIFY=${CKPT_VERIFY:-0}
CKPT_DIGEST=""

# checkpoint_take NAME FILE: xlmig snapshot of the running guest through
# xlmigd into FILE; the guest must run on as the same domain and boot,
# and the file be there whole (no partial file left).  Sets CKPT_ID,
# CKPT_BOOT, CKPT_N0 and CKPT_N1 (the counter before and after),
# CKPT_MS (how long the command took), CKPT_GAP (the longest pause the
# guest saw), CKPT_TICKS (the ticks of its pauses meanwhile), CKPT_PAUSE
# and CKPT_PASSES (as xlmig reports them), CKPT_BYTES (the file's size),
# CKPT_DIGEST (with CKPT_VERIFY=1).
checkpoint_take() {
	local name=$1 file=$2 t0 t1 rc=0 msg verify=""
	[ "$CKPT_VERIFY" = 1 ] && verify="--verify --json"
	xlmigd_start || fail "xlmigd did not start"
	guest_ensure "$name"
	CKPT_ID=$(xl domid "$name")
	CKPT_BOOT=$(guest_boot_id "$name")
	CKPT_N0=$(guest_last_n "$name")
	rm -f "$file" "$file.xlmig-partial"
	t0=$(now_ms)
	# shellcheck disable=SC2086
	xlmig snapshot "$name" "$file" $verify > "$LAB_RUN/snap.log" 2>&1 || rc=$?
	t1=$(now_ms)
	CKPT_N1=$(guest_last_n "$name")
	sed 's/^/snapshot: /' "$LAB_RUN/snap.log"
	xlmigd_log_since_last
	[ $rc = 0 ] || fail "xlmig snapshot $name exited $rc: $(tail -n 1 "$LAB_RUN/snap.log")"
	[ -s "$file" ] || fail "xlmig snapshot succeeded but $file is missing or empty"
	[ -e "$file.xlmig-partial" ] && fail "the partial file $file.xlmig-partial was left behind"
	check_stayed "$name" "$CKPT_ID" "$CKPT_N1" "$CKPT_BOOT"
	CKPT_MS=$((t1 - t0))
	CKPT_GAP=$(guest_max_gap "$name" "$CKPT_BOOT" "$CKPT_N0" "$(guest_last_n "$name")")
	CKPT_TICKS=$(pause_ticks "$name" "$CKPT_BOOT" "$CKPT_N0" "$CKPT_N1")
	lab_log "the guest paused at ticks $CKPT_TICKS during the checkpoint"
	msg=$(cat "$LAB_RUN/snap.log")
	CKPT_PAUSE=$(echo "$msg" | sed -n 's/.*guest paused \([0-9.]*\) ms.*/\1/p')
	CKPT_PASSES=$(echo "$msg" | sed -n 's/.*, \([0-9]*\) passes,.*/\1/p')
	CKPT_BYTES=$(wc -c < "$file")
	CKPT_DIGEST=""
	if [ "$CKPT_VERIFY" = 1 ]; then
		CKPT_PAUSE=$(json_member "$msg" pause_ms)
		CKPT_PASSES=$(json_member "$msg" iterations)
		CKPT_DIGEST=$(json_member "$msg" mem_digest)
		[ -n "$CKPT_DIGEST" ] || fail "xlmig snapshot --verify reported no memory digest"
	fi
}

# digest_pages_differ DOMID_A DOMID_B: the pfns whose pages the dump
# (LAB_DIGEST_DUMP=1) lists differently for the two digests, at most 40.
digest_pages_differ() {
	[ -s "$LAB_RUN/digest-pages.txt" ] || { echo "(no page dump: run with LAB_DIGEST_DUMP=1)"; return 0; }
	awk -v a="$1" -v b="$2" '
		$1 == a { A[$2] = $3; S[$2] = $4 } $1 == b { B[$2] = $3; S[$2] = $4 }
		END {
			for (p in A) if (A[p] != B[p]) print p, S[p], "before=" A[p], "after=" (p in B ? B[p] : "absent")
			for (p in B) if (!(p in A)) print p, S[p], "before=absent", "after=" B[p]
		}' "$LAB_RUN/digest-pages.txt" | sort | head -n 40
}

# checkpoint_xl_restore NAME FILE: stock xl restore of the checkpoint
# taken of NAME (checkpoint_take), the original destroyed first (the
# file names it); the restored guest must go on from the checkpoint.
# With a digest of the checkpoint's final pause (CKPT_DIGEST), it is
# restored paused (xl restore -p) and its memory digest, through xlmig,
# must be that digest before it runs.  Sets CKPT_XL_FROM (its first
# counter value), CKPT_XL_MS and CKPT_XL_DIGEST_MS (the digest's time).
checkpoint_xl_restore() {
	local name=$1 file=$2 r0 r1 paused="" out dig id old
	old=$(xl domid "$name" 2>/dev/null)
	xl destroy "$name" || fail "xl destroy $name failed"
	# The restored guest's console starts a log of its own: the
	# original's (under NAME--incoming after a local migration, which
	# guest_log reads after NAME's) would otherwise come after it.
	rm -f "$LAB_CONSOLE_LOGS/guest-$name.log" "$LAB_CONSOLE_LOGS/guest-$name--incoming.log"
	[ -n "$CKPT_DIGEST" ] && paused=-p
	r0=$(now_ms)
	LAB_STOCK_XL=1
	xl restore $paused "$file" > "$LAB_RUN/xlrestore.log" 2>&1 ||
		fail "xl restore of xlmig's checkpoint failed: $(tail -n 2 "$LAB_RUN/xlrestore.log")"
	LAB_STOCK_XL=0
	r1=$(now_ms)
	CKPT_XL_DIGEST_MS=""
	if [ -n "$CKPT_DIGEST" ]; then
		id=$(xl domid "$name")
		out=$(xlmig list "$name" --digest 2>&1) || fail "xlmig list $name --digest of the restored guest failed: $out"
		CKPT_XL_DIGEST_MS=$(($(now_ms) - r1))
		xlmigd_log_since_last | grep "memory digest"
		dig=$(echo "$out" | sed -n 's/.* digest=\([0-9a-f]*\).*/\1/p')
		# The dump shows the pages the rule leaves out differing too.
		[ "${LAB_DIGEST_DUMP:-0}" = 1 ] && digest_pages_differ "$old" "$id" | sed 's/^/page differs: pfn /'
		if [ "$dig" != "$CKPT_DIGEST" ]; then
			fail "the restored guest's memory digest ${dig:-none} is not the checkpoint's at its final pause ($CKPT_DIGEST)"
		fi
		lab_log "the restored guest's memory digest is the checkpoint's ($dig, ${CKPT_XL_DIGEST_MS} ms)"
		xl unpause "$name" || fail "xl unpause $name failed"
	fi
	restored_from "$name" 0 "$CKPT_BOOT" "$CKPT_N0" "$CKPT_N1" "$CKPT_TICKS"
	CKPT_XL_FROM=$FIRST
	CKPT_XL_MS=$((r1 - r0))
}

file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# checkpoint_held NAME FILE HOW: xlmig snapshot of the running guest
# through xlmigd into FILE, held part-way through its first pass by a
# migration of the guest to this host, which then ends (HOW=migrate) or
# is cancelled (HOW=cancel); either way the checkpoint goes on here once
# the guest runs again, continuing its partial file (through the filter:
# the xen backend's save cannot skip pages).  It must end done, having
# kept what the file held and left pages as the file held them.  Sets
# CKPT_BOOT, CKPT_N0, CKPT_N1 and CKPT_TICKS (as checkpoint_take),
# CKPT_HELD_AT (the file's size when the migration began), CKPT_KEPT,
# CKPT_WROTE, CKPT_SAME (continued bytes, bytes written after the hold,
# pages not written again) and CKPT_BYTES.
checkpoint_held() {
	local name=$1 file=$2 how=$3 job mig end state status
	xlmigd_start || fail "xlmigd did not start"
	guest_ensure "$name"
	CKPT_BOOT=$(guest_boot_id "$name")
	CKPT_N0=$(guest_last_n "$name")
	rm -f "$file" "$file.xlmig-partial"
	# shellcheck disable=SC2046
	xlmig snapshot "$name" "$file" --detach --json $([ "$CKPT_VERIFY" = 1 ] && echo --verify) > "$LAB_RUN/snap.json" 2>&1 ||
		fail "xlmig snapshot --detach failed: $(cat "$LAB_RUN/snap.json")"
	job=$(sed -n 's/.*"job": *"\([^"]*\)".*/\1/p' "$LAB_RUN/snap.json")
	[ -n "$job" ] || fail "xlmig snapshot --detach printed no job: $(cat "$LAB_RUN/snap.json")"
	end=$(($(now_ms) + 120000))
	while [ "$(file_size "$file.xlmig-partial")" -lt $((24 << 20)) ] && [ "$(now_ms)" -lt $end ]; do sleep 0.2; done
	CKPT_HELD_AT=$(file_size "$file.xlmig-partial")
	[ "$CKPT_HELD_AT" -ge $((24 << 20)) ] || fail "the checkpoint wrote only $CKPT_HELD_AT bytes in 120 s"
	lab_log "checkpoint $job at $CKPT_HELD_AT bytes: a migration of $name holds it ($how)"
	if [ "$how" = migrate ]; then
		xlmig migrate "$name" 127.0.0.1 > "$LAB_RUN/send.log" 2>&1 ||
			fail "the migration failed: $(tail -n 2 "$LAB_RUN/send.log")"
	else
		mig=$(xlmig migrate "$name" 127.0.0.1 --detach 2> "$LAB_RUN/send.log")
		[ -n "$mig" ] || fail "xlmig migrate --detach printed no job id: $(cat "$LAB_RUN/send.log")"
		end=$(($(now_ms) + 120000))
		until xlmig backup show "$job" --json 2>&1 | grep -q '"state": *"held"'; do
			[ "$(now_ms)" -lt $end ] || fail "checkpoint $job was never held by migration $mig"
			sleep 0.2
		done
		xlmig cancel "$mig" || fail "xlmig cancel $mig failed"
	fi
	end=$(($(now_ms) + 300000))
	while [ "$(now_ms)" -lt $end ]; do
		state=$(xlmig backup show "$job" --json 2>&1 | sed -n 's/.*"state": *"\([^"]*\)".*/\1/p' | head -n 1)
		case $state in done|failed|expired|cancelled) break ;; esac
		sleep 1
	done
	xlmigd_log_since_last | grep -i "checkpoint\|hold\|backup\|cancel\|memory digest" | head -n 20
	status=$(xlmig snapshot --status "$job" --json 2>&1)
	echo "$status" | sed 's/^/status: /' | head -n 20
	[ "$state" = done ] || fail "checkpoint $job ended '$state' after the hold: $(xlmig backup show "$job" 2>&1 | tail -n 3)"
	CKPT_N1=$(guest_last_n "$name")
	CKPT_TICKS=$(pause_ticks "$name" "$CKPT_BOOT" "$CKPT_N0" "$CKPT_N1")
	CKPT_KEPT=$(echo "$status" | sed -n 's/.*"continued_bytes": *\([0-9]*\).*/\1/p')
	CKPT_WROTE=$(echo "$status" | sed -n 's/.*"bytes_written": *\([0-9]*\).*/\1/p')
	CKPT_SAME=$(echo "$status" | sed -n 's/.*"pages_unchanged": *\([0-9]*\).*/\1/p')
	CKPT_BYTES=$(file_size "$file")
	CKPT_PAUSE=$(json_member "$status" pause_ms)
	CKPT_DIGEST=""
	if [ "$CKPT_VERIFY" = 1 ]; then
		CKPT_DIGEST=$(json_member "$status" mem_digest)
		[ -n "$CKPT_DIGEST" ] || fail "the --verify checkpoint reported no memory digest"
	fi
	echo "$status" | grep -q '"start_note": *"[^"]' &&
		fail "the checkpoint started over: $(echo "$status" | sed -n 's/.*"start_note": *"\([^"]*\)".*/\1/p')"
	[ "${CKPT_KEPT:-0}" -gt 0 ] && [ "${CKPT_SAME:-0}" -gt 0 ] && [ "${CKPT_WROTE:-0}" -lt "$CKPT_BYTES" ] ||
		fail "the checkpoint did not continue its partial file: continued_bytes=$CKPT_KEPT pages_unchanged=$CKPT_SAME written=$CKPT_WROTE of $CKPT_BYTES"
	[ -e "$file.xlmig-partial" ] && fail "the partial file was left behind"
	return 0
}

# ---- failures ----

# The guest is still here as the same domain, running, counting on from
# BEFORE, the same boot; nothing half-made is left next to it.
check_stayed() { # name domid before-n boot-id
	local id
	id=$(xl domid "$1" 2>/dev/null) || fail "$1 is gone from the source"
	[ "$id" = "$2" ] || fail "$1 is now domid $id, was $2"
	guest_running "$1" || fail "$1 is not running on the source ($(xl list "$1" | tail -n 1))"
	guest_wait_n "$1" $(($3 + 2)) 30 || fail "$1's counter stopped at $(guest_last_n "$1")"
	check_same_boot "$1" "$4"
	[ -z "$(lab_leftovers)" ] || fail "left behind: $(lab_leftovers)"
}

# Wait until this host is restoring NAME (the stream is flowing).
wait_incoming() { # name timeout
	local end=$(($(now_ms) + $2 * 1000))
	while [ "$(now_ms)" -lt $end ]; do
		xl domid "$1--incoming" > /dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# The sender of a migration that must fail, in the background.  The
# guest dirties memory and xlmigd's wire is capped (LAB_FAIL_BANDWIDTH), so
# that the migration is still in pre-copy, the guest running, when the
# scenario interrupts it: without the cap a compressed idle guest can
# reach its final pass, the guest suspended, within a status round trip.
LAB_FAIL_BANDWIDTH=2M
failing_send_start() { # method name dest
	local opts="${XLMIG_OPTS:-}"
	case $1 in xlmig-xlmigd) opts="--bandwidth $LAB_FAIL_BANDWIDTH $opts" ;; esac
	guest_ensure "$2"
	guest_send "$2" "dirty 8 32" || fail "cannot reach the guest's console"
	sleep 1
	FAIL_ID=$(xl domid "$2")
	FAIL_N0=$(guest_last_n "$2")
	FAIL_BOOT=$(guest_boot_id "$2")
	( XLMIG_OPTS="$opts" method_send "$@"; echo $? > "$LAB_RUN/send.rc" ) &
	FAIL_PID=$!
	rm -f "$LAB_RUN/send.rc"
}

# Wait for that sender; it must report failure.
failing_send_finish() { # timeout
	timeout "$1" sh -c "while kill -0 $FAIL_PID 2>/dev/null; do sleep 0.5; done" ||
		fail "the sender did not give up within $1 s"
	sed 's/^/sender: /' "$LAB_RUN/send.log"
	[ "$(cat "$LAB_RUN/send.rc" 2>/dev/null)" != 0 ] || fail "the sender claims success"
}

# ---- bridged guest networking ----

# Put eth0 and this host's address on a bridge, as a Xen host with
# bridged guests has it (the guest's vif joins it through vif-bridge).
lab_bridge_up() { # bridge
	local addr
	addr=$(ip -4 -o addr show dev eth0 | awk '{ print $4 }')
	ip link add "$1" type bridge stp_state 0 forward_delay 0 || return 1
	ip addr flush dev eth0
	ip link set eth0 master "$1"
	ip addr add "$addr" dev "$1"
	ip link set "$1" up
}

lab_bridge_down() { # bridge
	local addr
	addr=$(ip -4 -o addr show dev "$1" | awk '{ print $4 }')
	ip link set eth0 nomaster
	ip link del "$1"
	[ -n "$addr" ] && ip addr add "$addr" dev eth0
	ip link set eth0 up
}

# The bridge the guest's first vif is attached to ("" if none).
guest_vif_bridge() { # name
	local id
	id=$(xl domid "$1") || return 1
	ip -o link show "vif$id.0" 2>/dev/null | sed -n 's/.* master \([^ ]*\) .*/\1/p'
}

# inspect_save_file FILE NAME KIND: xlmig inspect reads the stock xl save
# file and reports the domain and pages; --rewrite gives identical bytes.
inspect_save_file() {
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

