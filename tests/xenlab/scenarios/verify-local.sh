# xenlab-boot: local
# xenlab-core: no
# xenlab-timeout: 480
# xenlab-about: xlmig migrate --verify through xlmigd to localhost: the memory digest of the suspended source and of the restored, still paused destination are compared before the commit (Xen's backend has no guest counter: the digest alone verifies); the digests count in the downtime, which is bound by a minute
. /lab/lib.sh
need_xlmig xlmigd
# The digests are inside the downtime, by design: under emulation each
# end's took 7-10 s for 128 MiB (17 s of downtime in all), so this move
# is bound by a minute, not by the lab's 10 s ceiling (no stock xl
# baseline runs for it).
LAB_CEILING_MS=60000
XLMIG_OPTS="--verify --json"
migrate_local xlmig-xlmigd g1
src=$(json_member "$(cat "$LAB_RUN/send.log")" digest_source)
dst=$(json_member "$(cat "$LAB_RUN/send.log")" digest_dest)
verify_ms=$(json_member "$(cat "$LAB_RUN/send.log")" verify_ms)
[ -n "$src" ] || fail "xlmig migrate --verify reported no source memory digest"
[ "$src" = "$dst" ] || fail "the digests differ and the migration still committed: source $src, destination $dst"
figure "verify_ms=${verify_ms:-?} digest=$(echo "$src" | cut -c1-16)"
pass "memory digest equal on both ends ($(echo "$src" | cut -c1-16)...), destination's digest ${verify_ms:-?} ms"
