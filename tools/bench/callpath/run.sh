#!/usr/bin/env bash
# Call-path benchmark: SIPp load through ncgw (B2BUA + its own RTP relay) and, side by side in the
# same run, through kamailio + rtpengine (the peer doing the same job: route 95555 to an agent,
# record-route, relay the media). Everything on 127.0.0.1; every load run is bounded in calls
# and time; the whole script stops itself after $TOTAL_LIMIT seconds.
#
#   (a) call-rate step test: the highest rate whose step had < 0.1 % failed calls, SIP p99 < 50 ms
#       (INVITE->200 and BYE->200, seen by the caller) and reached >= 95 % of the asked rate.
#       Calls: INVITE with SDP, 200, ACK, 1 s hold WITHOUT RTP, BYE (uac_short.xml / uas_quiet.xml).
#   (b) CPU per relayed RTP packet at a fixed number of concurrent calls (200, 500), ~28 s calls
#       with g711a.pcap played both ways (uac_media.xml / uas_media.xml); CPU = utime+stime of
#       the relay processes over a steady window; packets = datagrams leaving the relay's RTP
#       port range (iptables counters on lo, the same meter for both); loss = datagrams into the
#       relay's port range minus datagrams out of it, over the whole run.
#
# Usage: tools/bench/callpath/run.sh            (as root, or with sudo available)
# Knobs (environment): RATES, SIPP_CPS, STEP_SECONDS, B_MEDIA (stream|pcap), REPEATS_A (ladders), CONCURRENCY, REPEATS_B, TOTAL_LIMIT (seconds for the
# measurements, after installs and the build; default 1800), SKIP_BUILD=1.
# Output: an aligned table on stdout and tools/bench/callpath/RESULTS.md; raw logs in $WORK.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)

RATES=${RATES:-"200 400 600 800 1000 1200 1400 1600 2000 2400 2800 3200"}
SIPP_CPS=${SIPP_CPS:-400}   # (a): calls/s per SIPp caller instance; a step runs ceil(rate/SIPP_CPS) of them
REPEATS_A=${REPEATS_A:-3}
STEP_SECONDS=${STEP_SECONDS:-10}
CONCURRENCY=${CONCURRENCY:-"200 500"}
REPEATS_B=${REPEATS_B:-2}
TOTAL_LIMIT=${TOTAL_LIMIT:-1800}
# (b) RTP source: "stream" (SIPp rtp_stream, ordinary UDP sockets) or "pcap" (play_pcap_audio, which
# sends through one raw socket per call; the kernel then clones every loopback UDP datagram to each
# of them, a cost that lands in the relay's own sendto: see RESULTS.md).
B_MEDIA=${B_MEDIA:-stream}
T0=$(date +%s)

# --- ports (all on 127.0.0.1) ------------------------------------------------------------------
NCGW_SIP=5160 NCGW_ADMIN=9160 NCGW_UAS=5170 NCGW_UAS_MP=6170 NCGW_UAC=5161 NCGW_UAC_MP=6160
KAM_SIP=5180 KAM_UAS=5190 KAM_UAS_MP=6190 KAM_UAC=5181 KAM_UAC_MP=6180
RTPE_NG=9182 RTPE_CLI=9183 RTPE_HTTP=9184
# Relay port ranges: below the ephemeral range (32768+) so the iptables meters see only RTP.
NCGW_RTP_LO=10000 NCGW_RTP_HI=20999
RTPE_RTP_LO=21000 RTPE_RTP_HI=31999
CHAIN=NCGW_CALLPATH_BENCH

say() { printf '[%s +%ss] %s\n' "$(date -u +%H:%M:%S)" "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { say "FATAL: $*"; exit 1; }
elapsed() { echo $(( $(date +%s) - T0 )); }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

# --- 1. install what is missing, build ncgw ----------------------------------------------------
need=()
for p in kamailio rtpengine-daemon sip-tester iptables curl python3; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
# rtpengine_offer()/answer()/delete() live in kamailio's own package (rtpengine.so), not in
# kamailio-extra-modules (checked with dpkg -L kamailio on Debian 12).
if [ ${#need[@]} -gt 0 ]; then
  say "installing: ${need[*]} (rtpengine-daemon is the userspace relay; no kernel module is used)"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
[ -f /usr/lib/x86_64-linux-gnu/kamailio/modules/rtpengine.so ] || ls /usr/lib/*/kamailio/modules/rtpengine.so >/dev/null \
  || die "kamailio's rtpengine module not found"
PCAP=/usr/share/sip-tester/g711a.pcap
[ -f "$PCAP" ] || die "$PCAP missing (package sip-tester)"

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building ncgw (release)"
  (cd "$ROOT" && cargo build --release --bin ncgw)
fi
NCGW_BIN="$ROOT/target/release/ncgw"
[ -x "$NCGW_BIN" ] || die "$NCGW_BIN not built"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo "+dirty" || true)

WORK=$(mktemp -d /tmp/ncgw-callpath.XXXXXX)
say "work dir (logs, raw numbers): $WORK"
# (b) scenarios: as shipped (pcap), or with the pcap's audio sent by rtp_stream from ordinary sockets
echo "$B_MEDIA" >"$WORK/b.media"
if [ "$B_MEDIA" = stream ]; then
  python3 "$HERE/summarize.py" alaw "$PCAP" "$WORK/g711a.alaw"
  for f in uac_media uas_media; do
    sed -e "s#<exec play_pcap_audio=\"$PCAP\"/>#<exec rtp_stream=\"$WORK/g711a.alaw,1,8\"/>#" \
        -e 's#\[media_port\]#[rtpstream_audio_port]#' "$HERE/$f.xml" >"$WORK/$f.xml"
  done
  B_UAC="$WORK/uac_media.xml" B_UAS="$WORK/uas_media.xml"
else
  B_UAC="$HERE/uac_media.xml" B_UAS="$HERE/uas_media.xml"
fi

# --- process bookkeeping, cleanup on exit -------------------------------------------------------
PIDS=()            # everything started in the background, stopped on exit
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  $SUDO iptables -D OUTPUT -o lo -p udp -j "$CHAIN" 2>/dev/null || true
  $SUDO iptables -D INPUT -i lo -p udp -j "${CHAIN}_IN" 2>/dev/null || true
  for c in "$CHAIN" "${CHAIN}_IN"; do $SUDO iptables -F "$c" 2>/dev/null || true; $SUDO iptables -X "$c" 2>/dev/null || true; done
  say "stopped everything started here (exit $rc); logs in $WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# watchdog: the measurements are bounded (installs and the cargo build above are not counted)
T0=$(date +%s)
MAIN=$$
( trap 'kill $sp 2>/dev/null; exit 0' TERM
  sleep "$TOTAL_LIMIT" & sp=$!; wait $sp
  echo "run.sh: total time limit ${TOTAL_LIMIT}s reached, stopping" >&2; kill -TERM $MAIN ) &
PIDS+=($!)

for port in $NCGW_SIP $NCGW_ADMIN $NCGW_UAS $KAM_SIP $KAM_UAS $RTPE_NG $RTPE_CLI $RTPE_HTTP; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "127.0.0.1:$port is in use"; fi
done

# --- RTP meters: iptables counters on lo, same rules for both relays ----------------------------
$SUDO iptables -D OUTPUT -o lo -p udp -j "$CHAIN" 2>/dev/null || true   # left over from a killed run
$SUDO iptables -D INPUT -i lo -p udp -j "${CHAIN}_IN" 2>/dev/null || true
for c in "$CHAIN" "${CHAIN}_IN"; do $SUDO iptables -F "$c" 2>/dev/null || true; $SUDO iptables -X "$c" 2>/dev/null || true; done
$SUDO iptables -N "$CHAIN"
$SUDO iptables -N "${CHAIN}_IN"
# Only datagrams between the relay's port range and this script's SIPp media ports are counted,
# so RTP of anything else running on the machine does not leak into the meters.
if [ "$B_MEDIA" = stream ]; then
  # rtp_stream sends from the -mp socket or from sockets on ephemeral ports: count both.
  NCGW_EP="$NCGW_UAC_MP,$NCGW_UAS_MP,32768:60999" KAM_EP="$KAM_UAC_MP,$KAM_UAS_MP,32768:60999"
  $SUDO iptables -A "$CHAIN" -p udp --dport $NCGW_RTP_LO:$NCGW_RTP_HI -m multiport --sports $NCGW_EP -j RETURN  # 1 into ncgw
  $SUDO iptables -A "${CHAIN}_IN" -p udp --sport $NCGW_RTP_LO:$NCGW_RTP_HI -m multiport --dports $NCGW_EP -j RETURN  # 2 out of ncgw
  $SUDO iptables -A "$CHAIN" -p udp --dport $RTPE_RTP_LO:$RTPE_RTP_HI -m multiport --sports $KAM_EP -j RETURN   # 3 into rtpengine
  $SUDO iptables -A "${CHAIN}_IN" -p udp --sport $RTPE_RTP_LO:$RTPE_RTP_HI -m multiport --dports $KAM_EP -j RETURN   # 4 out of rtpengine
else
  NCGW_EP="$NCGW_UAC_MP,$NCGW_UAS_MP" KAM_EP="$KAM_UAC_MP,$KAM_UAS_MP"
  $SUDO iptables -A "$CHAIN" -p udp --dport $NCGW_RTP_LO:$NCGW_RTP_HI -m multiport --sports $NCGW_EP -j RETURN  # 1 into ncgw
  $SUDO iptables -A "${CHAIN}_IN" -p udp --sport $NCGW_RTP_LO:$NCGW_RTP_HI -m multiport --dports $NCGW_EP -j RETURN  # 2 out of ncgw
  $SUDO iptables -A "$CHAIN" -p udp --dport $RTPE_RTP_LO:$RTPE_RTP_HI -m multiport --sports $KAM_EP -j RETURN   # 3 into rtpengine
  $SUDO iptables -A "${CHAIN}_IN" -p udp --sport $RTPE_RTP_LO:$RTPE_RTP_HI -m multiport --dports $KAM_EP -j RETURN   # 4 out of rtpengine
fi
# Packets into a relay are counted as they leave SIPp (OUTPUT), packets out of a relay as they
# are delivered to SIPp (INPUT): ncgw's kernel fast path redirects a packet at lo's ingress, where
# it never passes OUTPUT again, so counting both ends on OUTPUT would miss what it forwards.
$SUDO iptables -I OUTPUT 1 -o lo -p udp -j "$CHAIN"
$SUDO iptables -I INPUT 1 -i lo -p udp -j "${CHAIN}_IN"
# prints "ncgw_in ncgw_out rtpe_in rtpe_out" packet counts
meters() {
  local i o
  i=$($SUDO iptables -L "$CHAIN" -n -v -x | awk 'NR>2 {print $1}')
  o=$($SUDO iptables -L "${CHAIN}_IN" -n -v -x | awk 'NR>2 {print $1}')
  paste -d' ' <(echo "$i") <(echo "$o") | tr '\n' ' '; echo
}

cpu_of() {  # utime+stime in clock ticks (all threads of each process), summed over the given pids
  local t=0 pid v
  for pid in "$@"; do
    # fields after "(comm) " start at field 3, so utime (14) and stime (15) are $12 and $13 there
    v=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat" 2>/dev/null) || v=0
    t=$(( t + ${v:-0} ))
  done
  echo $t
}
HZ=$(getconf CLK_TCK)

metric() {  # metric URL NAME-REGEX: sum of matching samples, "-" when the URL does not answer in 5 s
  local body
  body=$(curl -s --max-time 5 "$1") || { echo "-"; return 0; }
  awk -v re="$2" '$0 !~ /^#/ && $1 ~ re {s += $2} END {printf "%.0f\n", s}' <<<"$body"
}

# --- 2. start the systems -----------------------------------------------------------------------
mkdir -p "$WORK/ncgw/dialplans" "$WORK/ncgw/data" "$WORK/kamailio" "$WORK/rtpengine"
cat >"$WORK/ncgw/ncgw.toml" <<EOF
# generated by tools/bench/callpath/run.sh
[sip]
listen = ["127.0.0.1:$NCGW_SIP"]
[admin]
listen = "127.0.0.1:$NCGW_ADMIN"
[storage]
data_dir = "$WORK/ncgw/data"
[dialplan]
dir = "$WORK/ncgw/dialplans"
[media]
rtp_ports = "$NCGW_RTP_LO-$NCGW_RTP_HI"
# The peer relays without recording: so does ncgw here (recording cost: --bin record).
[recording]
enabled = false
[log]
level = "warn"
EOF
cat >"$WORK/ncgw/dialplans/bench.toml" <<EOF
[[rule]]
name = "bench-to-agent"
to_regex = "^95555[0-9]*\$"
route = "sip:agent@127.0.0.1:$NCGW_UAS"

[[rule]]
name = "no-route"
reject = 404
reason = "No Route"
EOF
"$NCGW_BIN" check --config "$WORK/ncgw/ncgw.toml" >"$WORK/ncgw/check.log" 2>&1 || { cat "$WORK/ncgw/check.log"; die "ncgw check failed"; }

"$NCGW_BIN" run --config "$WORK/ncgw/ncgw.toml" >"$WORK/ncgw/ncgw.log" 2>&1 &
NCGW_PID=$!; PIDS+=($NCGW_PID)

rtpengine --interface=127.0.0.1 --listen-ng=127.0.0.1:$RTPE_NG --listen-cli=127.0.0.1:$RTPE_CLI \
  --listen-http=127.0.0.1:$RTPE_HTTP --port-min=$RTPE_RTP_LO --port-max=$RTPE_RTP_HI \
  --table=-1 --delete-delay=0 --foreground --log-stderr --log-level=4 \
  >"$WORK/rtpengine/rtpengine.log" 2>&1 &
RTPE_PID=$!; PIDS+=($RTPE_PID)
for _ in $(seq 50); do curl -sf --max-time 1 "http://127.0.0.1:$RTPE_HTTP/metrics" >/dev/null && break; sleep 0.1; done

kamailio -DD -E -f "$HERE/kamailio.cfg" -l udp:127.0.0.1:$KAM_SIP -n 4 -m 512 -M 32 -Y "$WORK/kamailio" \
  -A "RTPE_SOCK=\"udp:127.0.0.1:$RTPE_NG\"" -A "AGENT=\"sip:agent@127.0.0.1:$KAM_UAS\"" \
  >"$WORK/kamailio/kamailio.log" 2>&1 &
KAM_PID=$!; PIDS+=($KAM_PID)

sleep 3
kill -0 $NCGW_PID 2>/dev/null || { tail -20 "$WORK/ncgw/ncgw.log"; die "ncgw did not start"; }
kill -0 $RTPE_PID 2>/dev/null || { tail -20 "$WORK/rtpengine/rtpengine.log"; die "rtpengine did not start"; }
kill -0 $KAM_PID 2>/dev/null || { tail -20 "$WORK/kamailio/kamailio.log"; die "kamailio did not start"; }
curl -sf --max-time 2 "http://127.0.0.1:$NCGW_ADMIN/metrics" >/dev/null || die "ncgw /metrics not answering"
curl -sf --max-time 2 "http://127.0.0.1:$RTPE_HTTP/metrics" >/dev/null || die "rtpengine /metrics not answering"
KAM_PIDS=($KAM_PID $(pgrep -P $KAM_PID || true))
say "started: ncgw pid $NCGW_PID; kamailio pids ${KAM_PIDS[*]}; rtpengine pid $RTPE_PID"
ncgw_threads=$(ls /proc/$NCGW_PID/task | wc -l); rtpe_threads=$(ls /proc/$RTPE_PID/task | wc -l)

UAS_PID=()
start_uas() {  # start_uas SCENARIO: one agent per system, on its own ports
  local sf=$1 d
  for sys in ncgw kam; do
    d="$WORK/uas-$sys-$(basename "$sf" .xml)"; mkdir -p "$d"
    if [ $sys = ncgw ]; then p=$NCGW_UAS mp=$NCGW_UAS_MP; else p=$KAM_UAS mp=$KAM_UAS_MP; fi
    (cd "$d" && exec timeout "$TOTAL_LIMIT" sipp -sf "$sf" -i 127.0.0.1 -p $p -mp $mp -nostdin \
        -trace_err -error_file err.log -trace_stat -stf stat.csv -fd 5 >sipp.out 2>&1) &
    UAS_PID+=($!); PIDS+=($!)
  done
  sleep 1
}
stop_uas() { for pid in "${UAS_PID[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; UAS_PID=(); sleep 1; }

target_of() { if [ "$1" = ncgw ]; then echo "127.0.0.1:$NCGW_SIP $NCGW_UAC $NCGW_UAC_MP"; else echo "127.0.0.1:$KAM_SIP $KAM_UAC $KAM_UAC_MP"; fi; }

# --- 3. (a) call-rate step test ---------------------------------------------------------------
A_TSV="$WORK/a.tsv"
printf 'ladder\tsystem\trate\tcalls\tsuccessful\tfailed\tsipp_rc\tp99_setup_ms\tp99_bye_ms\tachieved_cps\tpass\tfail_codes\trelay_after\n' >"$A_TSV"
rate_step() {  # rate_step SYSTEM RATE LADDER -> appends a row, returns 0 if the step passed
  local sys=$1 rate=$2 calls=$(( $2 * STEP_SECONDS )) d="$WORK/a/$3-$1-$2" rc=0 ladder=$3
  read -r target port mp <<<"$(target_of "$sys")"
  mkdir -p "$d"
  local before_causes=""
  [ "$sys" = ncgw ] && curl -s "http://127.0.0.1:$NCGW_ADMIN/metrics" | grep '^ncgw_calls_total' >"$d/causes.before" || true
  # SIPp callers: one per SIPP_CPS of asked rate (so one SIPp's own limit is not what is measured),
  # each on its own ports (SIP and media ports 40 apart per instance), each in its own subdir.
  local n=$(( (rate + SIPP_CPS - 1) / SIPP_CPS )) k pids=() r_k m_k
  for k in $(seq 0 $(( n - 1 ))); do
    r_k=$(( rate / n + (k < rate % n ? 1 : 0) )); m_k=$(( r_k * STEP_SECONDS ))
    mkdir -p "$d/i$k"
    (cd "$d/i$k" && exec timeout $(( STEP_SECONDS * 2 + 45 )) sipp "$target" -sf "$HERE/uac_short.xml" -s 95555 \
        -i 127.0.0.1 -p $(( port + 40 * k )) -mp $(( mp + 40 * k )) -nostdin -r "$r_k" -m "$m_k" -l $(( r_k * 10 + 100 )) \
        -recv_timeout 20000 -trace_rtt -rtt_freq 1 -trace_stat -stf stat.csv -fd 1 \
        -trace_err -error_file err.log >sipp.out 2>&1) &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
  [ "$sys" = ncgw ] && curl -s "http://127.0.0.1:$NCGW_ADMIN/metrics" | grep '^ncgw_calls_total' >"$d/causes.after" || true
  # what the relay still holds 2 s after the step's last call: ncgw RTP ports / rtpengine sessions
  sleep 2
  local after
  if [ "$sys" = ncgw ]; then after="ports:$(metric "http://127.0.0.1:$NCGW_ADMIN/metrics" '^ncgw_rtp_ports_in_use$')"
  else after="sessions:$(metric "http://127.0.0.1:$RTPE_HTTP/metrics" '^rtpengine_sessions\\{type="own"')"; fi
  printf '%s\t' "$ladder" >>"$A_TSV"
  python3 "$HERE/summarize.py" step "$d" "$sys" "$rate" "$calls" "$rc" "$after" >>"$A_TSV"
  local row; row=$(tail -1 "$A_TSV")
  say "(a) ladder $ladder $sys $rate cps: $(echo "$row" | cut -f4-13 | tr '\t' ' ')"
  [ "$(echo "$row" | cut -f11)" = yes ]
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
say "(a) call-rate steps, ${REPEATS_A} ladders: ${RATES} cps, ${STEP_SECONDS} s of calls each, 1 s calls without RTP"
start_uas "$HERE/uas_quiet.xml"
# A ladder ends with each system's first failing step, often an overload: both then spend tens of
# seconds on its leftovers (ncgw's transactions linger 32 s, kamailio retransmits, rtpengine holds
# sessions). The next ladder waits, bounded, until both hold nothing, so its low steps do not
# measure the last ladder's debris (seen: both systems failing the 200 cps step right after).
settle() {
  local k n c r
  for k in $(seq 60); do
    n=$(metric "http://127.0.0.1:$NCGW_ADMIN/metrics" '^ncgw_sip_transactions_active')
    c=$(metric "http://127.0.0.1:$NCGW_ADMIN/metrics" '^ncgw_calls_active$')
    r=$(metric "http://127.0.0.1:$RTPE_HTTP/metrics" '^rtpengine_sessions\\{type="own"')
    [ "$n" = 0 ] && [ "$c" = 0 ] && { [ "$r" = 0 ] || [ "$r" = - ]; } && break
    sleep 1
  done
  say "(a) settled after ${k} s: ncgw transactions ${n:-?}, calls ${c:-?}; rtpengine sessions ${r:-?}"
}
# A system's failing step is often an overload whose retransmissions go on for up to 64*T1 = 32 s
# (RFC 3261 Timer B/F): the other system's next steps would measure them (seen: ncgw's 1600 and
# 2000 cps steps right after kamailio's failed 1400, p99 36 and 52 ms). So the other system goes
# on only after that time. Applied the same way to both.
quiet_after_failure() {
  if [ "$alive_ncgw" = 1 ] || [ "$alive_kam" = 1 ]; then
    say "(a) $1 failed its step: 32 s for its retransmissions to end before the other system goes on"
    sleep 32
  fi
}
i=0
for ladder in $(seq 1 "$REPEATS_A"); do
  alive_ncgw=1 alive_kam=1
  [ "$ladder" -gt 1 ] && settle
  for rate in $RATES; do
    # a step costs ~STEP_SECONDS+5 s per system; part (a) gets 65 % of the time budget
    if [ $(( $(elapsed) + 2 * (STEP_SECONDS + 6) )) -gt $(( TOTAL_LIMIT * 65 / 100 )) ]; then
      say "(a) time budget for part (a) used up in ladder $ladder before $rate cps"
      echo "ladder $ladder cut before $rate cps" >>"$WORK/a.notes"; break 2
    fi
    # alternate which system goes first at each step
    if [ $(( i % 2 )) -eq 0 ]; then order="ncgw kam"; else order="kam ncgw"; fi; i=$(( i + 1 ))
    for sys in $order; do
      if [ $sys = ncgw ] && [ $alive_ncgw = 1 ]; then rate_step ncgw "$rate" "$ladder" || { alive_ncgw=0; quiet_after_failure ncgw; }; fi
      if [ $sys = kam ] && [ $alive_kam = 1 ]; then rate_step kam "$rate" "$ladder" || { alive_kam=0; quiet_after_failure kam; }; fi
    done
    [ $alive_ncgw = 0 ] && [ $alive_kam = 0 ] && break
  done
done
stop_uas

# --- 4. (b) CPU per relayed RTP packet at fixed concurrency -------------------------------------
B_TSV="$WORK/b.tsv"
printf 'system\tconc\trep\tcalls_up\twin_s\tcpu_relay_s\tcpu_kam_s\tcpu_rtpe_s\tpkts_out_win\tpkts_in_win\tin_total\tout_total\tloss_pct\town_counter_total\tsipp_failed\tmachine_busy_pct\tcpu_sipp_s\tmachine_busy_s\n' >"$B_TSV"
WIN_START=9 WIN_END=25        # seconds after the first INVITE: ramp (100 cps) done, no call ended
media_run() {  # media_run SYSTEM CONC REP
  local sys=$1 conc=$2 rep=$3 d="$WORK/b/$1-$2-$3" rc=0 pid
  read -r target port mp <<<"$(target_of "$sys")"
  mkdir -p "$d"
  $SUDO iptables -Z "$CHAIN"; $SUDO iptables -Z "${CHAIN}_IN"
  local own0
  if [ $sys = ncgw ]; then own0=$(metric "http://127.0.0.1:$NCGW_ADMIN/metrics" '^ncgw_rtp_packets_total\\{.*result="relayed"')
  else own0=$(metric "http://127.0.0.1:$RTPE_HTTP/metrics" '^rtpengine_packets_total\\{type="userspace"'); fi
  local t_start; t_start=$(date +%s.%N)
  (cd "$d" && exec timeout 75 sipp "$target" -sf "$B_UAC" -s 95555 -i 127.0.0.1 -p "$port" -mp "$mp" \
      -nostdin -r 100 -m "$conc" -l "$conc" -recv_timeout 20000 -trace_stat -stf stat.csv -fd 5 \
      -trace_err -error_file err.log >sipp.out 2>&1) &
  pid=$!; PIDS+=($pid)
  sleep "$(python3 -c "import time; print(max(0, $t_start + $WIN_START - time.time()))")"
  # This system's SIPp caller and agent (children of their `timeout` wrappers): where the kernel
  # work of delivering the relay's packets is charged, fast path or not.
  local uas_w sipps g0 g1
  if [ $sys = ncgw ]; then uas_w=${UAS_PID[0]}; else uas_w=${UAS_PID[1]}; fi
  sipps=$(pgrep -P "$pid" -x sipp; pgrep -P "$uas_w" -x sipp)
  g0=$(cpu_of $sipps)
  local c0 k0 r0 m0 c1 k1 r1 m1 up
  if [ $sys = ncgw ]; then c0=$(cpu_of $NCGW_PID); else c0=$(( $(cpu_of "${KAM_PIDS[@]}") + $(cpu_of $RTPE_PID) )); fi
  k0=$(cpu_of "${KAM_PIDS[@]}"); r0=$(cpu_of $RTPE_PID); m0=$(meters); local w0; w0=$(date +%s.%N)
  local s0; s0=$(head -1 /proc/stat)
  sleep "$(python3 -c "import time; print(max(0, $t_start + ($WIN_START + $WIN_END) / 2 - time.time()))")"
  if [ $sys = ncgw ]; then up=$(metric "http://127.0.0.1:$NCGW_ADMIN/metrics" '^ncgw_calls_active$')
  else up=$(metric "http://127.0.0.1:$RTPE_HTTP/metrics" '^rtpengine_sessions\\{type="own"'); fi
  sleep "$(python3 -c "import time; print(max(0, $t_start + $WIN_END - time.time()))")"
  if [ $sys = ncgw ]; then c1=$(cpu_of $NCGW_PID); else c1=$(( $(cpu_of "${KAM_PIDS[@]}") + $(cpu_of $RTPE_PID) )); fi
  k1=$(cpu_of "${KAM_PIDS[@]}"); r1=$(cpu_of $RTPE_PID); m1=$(meters); local w1; w1=$(date +%s.%N)
  local s1; s1=$(head -1 /proc/stat); g1=$(cpu_of $sipps)
  wait $pid || rc=$?
  sleep 2
  local mt own1; mt=$(meters)
  if [ $sys = ncgw ]; then own1=$(metric "http://127.0.0.1:$NCGW_ADMIN/metrics" '^ncgw_rtp_packets_total\\{.*result="relayed"')
  else own1=$(metric "http://127.0.0.1:$RTPE_HTTP/metrics" '^rtpengine_packets_total\\{type="userspace"'); fi
  [ $sys = ncgw ] && curl -s "http://127.0.0.1:$NCGW_ADMIN/metrics" | grep -E '^ncgw_(rtp_packets_total|calls_total)' >"$d/ncgw_metrics.after" || true
  python3 "$HERE/summarize.py" media "$d" "$sys" "$conc" "$rep" "$rc" "$HZ" "$up" "$w0" "$w1" \
      "$c0" "$c1" "$k0" "$k1" "$r0" "$r1" "$m0" "$m1" "$mt" "$own0" "$own1" "$s0" "$s1" "$g0" "$g1" >>"$B_TSV"
  say "(b) $sys $conc calls rep $rep: $(tail -1 "$B_TSV" | cut -f4-15 | tr '\t' ' ')"
}

# Calls left over from an overloaded step of (a) (kept until their transactions time out) would
# still cost CPU in the first (b) window: wait (bounded) until both relays hold no call.
for _ in $(seq 60); do
  n=$(metric "http://127.0.0.1:$NCGW_ADMIN/metrics" '^ncgw_calls_active$')
  r=$(metric "http://127.0.0.1:$RTPE_HTTP/metrics" '^rtpengine_sessions\\{type="own"')
  [ "$n" = 0 ] && { [ "$r" = 0 ] || [ "$r" = - ]; } && break
  sleep 1
done
say "(b) relays idle before (b): ncgw calls ${n:-?}, rtpengine sessions ${r:-?}"
# ...and until ncgw's lingering transactions of (a)'s last steps are gone (their expiry cost
# 2.6 s of ncgw CPU in the first (b) window of the run on 5394438).
settle
say "(b) CPU per relayed packet at ${CONCURRENCY} concurrent calls, ${REPEATS_B} repetitions, window ${WIN_START}-${WIN_END} s"
start_uas "$B_UAS"
for rep in $(seq 1 "$REPEATS_B"); do
  for conc in $CONCURRENCY; do
    if [ $(( $(elapsed) + 2 * 45 )) -gt $(( TOTAL_LIMIT - 20 )) ]; then
      say "(b) time budget used up before rep $rep at $conc calls"; echo "budget_stop $rep $conc" >>"$WORK/b.notes"; continue
    fi
    if [ $(( rep % 2 )) -eq 1 ]; then order="ncgw kam"; else order="kam ncgw"; fi
    for sys in $order; do media_run "$sys" "$conc" "$rep"; sleep 3; done
  done
done
stop_uas

# --- 5. the table --------------------------------------------------------------------------------
kver=$(kamailio -v 2>/dev/null | awk 'NR==1 {print $3}')
rver=$(dpkg-query -W -f='${Version}' rtpengine-daemon 2>/dev/null)
sver=$(dpkg-query -W -f='${Version}' sip-tester 2>/dev/null)
python3 "$HERE/summarize.py" report "$WORK" "$COMMIT$DIRTY" "$kver" "$rver" "$sver" \
  "$(nproc)" "$STEP_SECONDS" "$WIN_START" "$WIN_END" "$ncgw_threads" "$rtpe_threads" "$(elapsed)" \
  "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  >"$WORK/RESULTS.md"
cat "$WORK/RESULTS.md"
cp "$WORK/RESULTS.md" "$HERE/RESULTS.md"
say "written $HERE/RESULTS.md"
