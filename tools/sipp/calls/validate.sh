#!/usr/bin/env bash
# Validates the call-path SIPp scenarios pairwise, with no ncgw in between: for each pair the
# UAS scenario runs in the background on one loopback port and the UAC scenario is run
# against it; the pair passes when both SIPp processes exit 0 (plus a per-pair extra check
# where noted). "Negative" pairs check that a scenario's assertion really bites: there the
# pair passes when the UAC fails.
#
#   tools/sipp/calls/validate.sh             # all pairs
#   tools/sipp/calls/validate.sh cancel      # only pairs whose name contains "cancel"
#   KEEP_LOGS=1 tools/sipp/calls/validate.sh # keep the SIPp traces even when all pass
#
# Prints "PAIR  RESULT  SECONDS"; exits 1 if any pair fails. Traffic stays on 127.0.0.1;
# every SIPp run is bounded (timeout 90, -timeout 60s).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
filter=${1:-}
command -v sipp >/dev/null 2>&1 || { echo "sipp not found (Debian/Ubuntu: apt-get install sip-tester)" >&2; exit 2; }
[ -r /usr/share/sip-tester/g711a.pcap ] || { echo "missing /usr/share/sip-tester/g711a.pcap (sip-tester package)" >&2; exit 2; }

logs=$(mktemp -d "${TMPDIR:-/tmp}/ncgw-sipp-validate.XXXXXX")

# N consecutive free UDP ports on 127.0.0.1 (checked by binding them), printed as the first.
free_ports() {
    local n=$1 base p ok
    for _ in $(seq 1 200); do
        base=$(( 20000 + (RANDOM % 1000) * 16 ))
        ok=1
        for ((p = base; p < base + n; p++)); do
            if command -v python3 >/dev/null 2>&1; then
                python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",int(sys.argv[1])))' "$p" 2>/dev/null || { ok=0; break; }
            elif ss -Hlun "sport = :$p" 2>/dev/null | grep -q .; then
                ok=0; break
            fi
        done
        [ $ok = 1 ] && { echo "$base"; return 0; }
    done
    return 1
}

# "Retrans" column of the first 200 row of a SIPp screen dump.
retrans_200() {
    awk '/ 200 <-/ { n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) v[++n] = $i; print v[3]; exit }' "$1"
}

common=(-i 127.0.0.1 -nostdin -m 1 -timeout 60s -timeout_error -trace_err -trace_msg -trace_screen)

# name | uas scenario | uac scenario | expect (pass/uac-fails) | extra
pairs=(
    "answer|uas_answer.xml|uac_call.xml|pass|"
    "busy|uas_busy.xml|uac_call_busy.xml|pass|"
    "cancel|uas_ring_until_cancel.xml|uac_cancel.xml|pass|"
    "cancel_race|uas_cancel_race.xml|uac_cancel_race.xml|pass|"
    "callee_hangup_wait_bye|uas_hangup.xml|uac_call_wait_bye.xml|pass|"
    "callee_hangup_expect_bye|uas_hangup.xml|uac_call_expect_bye.xml|pass|"
    "hold_resume_by_caller|uas_answer_reinvite.xml|uac_hold_resume.xml|pass|"
    "hold_resume_by_callee|uas_hold.xml|uac_call_accept_reinvite.xml|pass|"
    "no_ack|uas_no_ack_bye.xml|uac_no_ack.xml|pass|retrans200>=3"
    "callee_vanishes|uas_answer_then_vanish.xml|uac_call_bye_unanswered.xml|pass|"
    "register_auth|uas_register_challenge.xml|uac_register_auth.xml|pass|inf"
    "neg:cancel_gets_200|uas_cancel_race.xml|uac_cancel.xml|uac-fails|"
    "neg:bye_answered|uas_answer.xml|uac_call_bye_unanswered.xml|uac-fails|"
)

failures=0
printf '%-74s %-6s %s\n' PAIR RESULT SECONDS
for entry in "${pairs[@]}"; do
    IFS='|' read -r name uas uac expect extra <<<"$entry"
    [ -n "$filter" ] && [[ "$name $uas $uac" != *"$filter"* ]] && continue
    dir="$logs/${name//:/_}"; mkdir -p "$dir"
    base=$(free_ports 12) || { echo "no free ports" >&2; exit 2; }
    uas_port=$base; uac_port=$((base + 1)); uas_mp=$((base + 4)); uac_mp=$((base + 8))  # media: mp..mp+3
    uas_cp=$((base + 2)); uac_cp=$((base + 3))  # SIPp control ports (else both want 8888)
    inf=()
    [ "$extra" = inf ] && inf=(-inf "$here/users.csv")
    start=$(date +%s.%N)

    (cd "$dir" && exec timeout 90 sipp -sf "$here/$uas" -p "$uas_port" -mp "$uas_mp" -cp "$uas_cp" "${common[@]}" "${inf[@]}" >uas.out 2>&1) &
    uas_pid=$!
    # wait (max 5 s) until the UAS listens
    for _ in $(seq 1 50); do
        ss -Hlun "sport = :$uas_port" 2>/dev/null | grep -q . && break
        sleep 0.1
    done

    (cd "$dir" && timeout 90 sipp "127.0.0.1:$uas_port" -sf "$here/$uac" -s 95555 -p "$uac_port" -mp "$uac_mp" -cp "$uac_cp" "${common[@]}" "${inf[@]}" >uac.out 2>&1)
    uac_rc=$?

    if [ $uac_rc -ne 0 ]; then
        # the UAS may now wait for messages that never come: give it 3 s, then stop it
        for _ in $(seq 1 30); do kill -0 $uas_pid 2>/dev/null || break; sleep 0.1; done
        kill $uas_pid 2>/dev/null
    fi
    wait $uas_pid
    uas_rc=$?
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

    result=FAIL; why="uas=$uas_rc uac=$uac_rc"
    if [ "$expect" = pass ]; then
        if [ $uas_rc -eq 0 ] && [ $uac_rc -eq 0 ]; then
            result=ok; why=""
            if [ "$extra" = "retrans200>=3" ]; then
                n=$(retrans_200 "$(ls "$dir"/uac_no_ack_*_screen.log 2>/dev/null | head -1)")
                if [ "${n:-0}" -ge 3 ] 2>/dev/null; then why="(200 retransmissions: $n)"; else result=FAIL; why="200 retransmissions seen: ${n:-?} (< 3)"; fi
            fi
        fi
    else
        [ $uac_rc -ne 0 ] && { result=ok; why="(UAC failed as it should)"; }
    fi
    [ "$result" = ok ] || failures=$((failures + 1))
    printf '%-74s %-6s %s %s\n' "$name: $uas <- $uac" "$result" "$secs" "$why"
done

if [ $failures -ne 0 ] || [ -n "${KEEP_LOGS:-}" ]; then
    echo "SIPp traces: $logs"
else
    rm -rf "$logs"
fi
[ $failures -eq 0 ]
