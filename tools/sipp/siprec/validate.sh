#!/usr/bin/env bash
# Validates the SIPREC recording-server scenario (srs_uas.xml) without ncgw: it runs on a
# loopback port and src_uac.xml, a recording client in the shape ncgw sends, calls it; the pair
# passes when both SIPp processes exit 0. The negative pair checks that srs_uas's checks bite:
# a plain call (calls/uac_call.xml: no Require: siprec, no multipart body) must make it fail.
#
#   tools/sipp/siprec/validate.sh
#
# Prints "PAIR  RESULT"; exits 1 if any pair fails. Every SIPp run is bounded (timeout 30).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
command -v sipp >/dev/null 2>&1 || { echo "sipp not found (Debian/Ubuntu: apt-get install sip-tester)" >&2; exit 2; }
logs=$(mktemp -d "${TMPDIR:-/tmp}/ncgw-siprec-validate.XXXXXX")
common=(-i 127.0.0.1 -nostdin -m 1 -timeout 20s -timeout_error -trace_err -trace_msg)
failures=0

# name | uac scenario | expect (pass / srs-fails)
for entry in "answer|$here/src_uac.xml|pass" "neg:plain_call_refused|$here/../calls/uac_call.xml|srs-fails"; do
    IFS='|' read -r name uac expect <<<"$entry"
    dir="$logs/${name//:/_}"; mkdir -p "$dir"
    # A random port taken by someone else makes SIPp exit 254 (cannot bind): retry elsewhere.
    for attempt in 1 2 3; do
    base=$(( 30000 + (RANDOM % 1000) * 16 ))
    srs=$base; src=$((base + 1)); srs_cp=$((base + 2)); src_cp=$((base + 3)); srs_mp=$((base + 4)); src_mp=$((base + 8))
    (cd "$dir" && exec timeout 30 sipp -sf "$here/srs_uas.xml" -p "$srs" -mp "$srs_mp" -cp "$srs_cp" -key port1 40000 -key port2 40002 "${common[@]}" >srs.out 2>&1) &
    srs_pid=$!
    for _ in $(seq 1 50); do
        ss -Hlun "sport = :$srs" 2>/dev/null | grep -q . && break
        sleep 0.1
    done
    (cd "$dir" && timeout 30 sipp "127.0.0.1:$srs" -sf "$uac" -s srs -p "$src" -mp "$src_mp" -cp "$src_cp" "${common[@]}" >src.out 2>&1)
    src_rc=$?
    wait $srs_pid
    srs_rc=$?
    [ $srs_rc -ne 254 ] && [ $src_rc -ne 254 ] && break
    done
    result=FAIL
    if [ "$expect" = pass ]; then
        [ $srs_rc -eq 0 ] && [ $src_rc -eq 0 ] && result=ok
    else
        [ $srs_rc -ne 0 ] && result=ok
    fi
    [ "$result" = ok ] || failures=$((failures + 1))
    printf '%-40s %-6s srs=%s src=%s\n' "$name" "$result" "$srs_rc" "$src_rc"
done

if [ $failures -ne 0 ] || [ -n "${KEEP_LOGS:-}" ]; then echo "SIPp traces: $logs"; else rm -rf "$logs"; fi
[ $failures -eq 0 ]
