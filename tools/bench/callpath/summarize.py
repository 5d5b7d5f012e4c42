#!/usr/bin/env python3
"""Number crunching for run.sh (call-path benchmark). Three modes:

  step   DIR SYSTEM RATE CALLS SIPP_RC        -> one TSV row for part (a) from SIPp's files in DIR
  media  DIR SYSTEM CONC REP SIPP_RC HZ UP W0 W1 C0 C1 K0 K1 R0 R1 M0 M1 MT OWN0 OWN1
                                               -> one TSV row for part (b)
  report WORK COMMIT KVER RVER SVER NPROC STEP_S WIN0 WIN1 NCGW_THREADS RTPE_THREADS ELAPSED
                                               -> RESULTS.md (markdown) on stdout
"""
import csv
import glob
import struct
import math
import os
import re
import statistics
import sys
import datetime

SYS_NAME = {"ncgw": "ncgw", "kam": "kamailio+rtpengine"}


def pct(values, p):
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    v = sorted(values)
    k = max(1, math.ceil(p / 100.0 * len(v)))
    return v[k - 1]


def sipp_stats(d):
    """Last line of SIPp's -trace_stat file as a dict (cumulative columns end in '(C)')."""
    path = os.path.join(d, "stat.csv")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="latin-1") as f:
        rows = [r for r in csv.reader(f, delimiter=";") if r]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1]))


def as_int(d, key):
    try:
        return int(d.get(key, "0") or 0)
    except ValueError:
        return 0


def fail_codes(d):
    """What went wrong, from SIPp's error file and (ncgw) the change in ncgw_calls_total."""
    out = {}
    path = os.path.join(d, "err.log")
    if os.path.exists(path):
        text = open(path, encoding="latin-1").read()
        # only the lines saying why a call was aborted (the file also holds whole late messages)
        for m in re.finditer(r"Aborting call on unexpected message[^\n]*?received 'SIP/2\.0 (\d{3})", text):
            out["sip " + m.group(1)] = out.get("sip " + m.group(1), 0) + 1
        for m in re.finditer(r"Aborting call on unexpected message[^\n]*?received '([A-Z]+) ", text):
            out["req " + m.group(1)] = out.get("req " + m.group(1), 0) + 1
        for word, key in (("Max retrans", "retrans_timeout"), ("receive timeout", "recv_timeout")):
            n = len(re.findall(word, text, flags=re.I))
            if n:
                out[key] = n
    before, after = os.path.join(d, "causes.before"), os.path.join(d, "causes.after")
    if os.path.exists(before) and os.path.exists(after):
        def load(p):
            r = {}
            for line in open(p):
                parts = line.rsplit(None, 1)
                if len(parts) == 2:
                    r[parts[0]] = float(parts[1])
            return r
        b, a = load(before), load(after)
        for k, v in a.items():
            dv = v - b.get(k, 0)
            m = re.search(r'cause="([^"]*)"', k)
            cause = m.group(1) if m else k
            if dv > 0 and cause not in ("normal", "normal_clearing", "bye"):
                out["ncgw " + cause] = out.get("ncgw " + cause, 0) + int(dv)
    return ",".join(f"{k}:{v}" for k, v in sorted(out.items())) or "-"


def step(args):
    d, system, rate, calls, rc = args[0], args[1], int(args[2]), int(args[3]), int(args[4])
    after = args[5] if len(args) > 5 else "-"
    # one subdir i0, i1, ... per SIPp caller instance (older runs: the files in d itself)
    dirs = sorted(glob.glob(os.path.join(d, "i[0-9]*"))) or [d]
    ok = sum(as_int(sipp_stats(x), "SuccessfulCall(C)") for x in dirs)
    failed = calls - ok  # calls never started (SIPp stopped) count as failed too
    setup, bye, achieved = [], [], 0.0
    for x in dirs:
        s, b, rate_x = rtt_of(x)
        setup += s
        bye += b
        achieved += rate_x
    p99s, p99b = pct(setup, 99), pct(bye, 99)
    passed = (
        failed / calls < 0.001
        and p99s is not None and p99s < 50
        and p99b is not None and p99b < 50
        and achieved >= 0.95 * rate
    )
    merged = {}
    for c in [fail_codes(x) for x in dirs] + ([fail_codes(d)] if dirs != [d] else []):
        for item in c.split(","):
            key, _, n = item.rpartition(":")
            if key:
                merged[key] = merged.get(key, 0) + int(n)
    codes = ",".join(f"{k}:{v}" for k, v in sorted(merged.items())) or "-"
    fmt = lambda x: "-" if x is None else f"{x:.0f}"
    print("\t".join([system, str(rate), str(calls), str(ok), str(failed), str(rc), fmt(p99s), fmt(p99b),
                     f"{achieved:.0f}", "yes" if passed else "no", codes, after]))


def rtt_of(d):
    """One SIPp instance's setup and BYE response times and the rate its 200s came at (its
    timestamps are relative to its own start, so rates add up across instances)."""
    setup, bye, setup_t = [], [], []
    for path in glob.glob(os.path.join(d, "*_rtt.csv")):
        with open(path, encoding="latin-1") as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) < 3 or row[0].startswith("Date"):
                    continue
                try:
                    t, rtt = float(row[0]), float(row[1])
                except ValueError:
                    continue
                if row[2] == "setup":
                    setup.append(rtt)
                    setup_t.append(t)
                elif row[2] == "bye":
                    bye.append(rtt)
    achieved = 0.0
    if len(setup_t) > 1 and max(setup_t) > min(setup_t):
        achieved = (len(setup_t) - 1) / ((max(setup_t) - min(setup_t)) / 1000.0)
    return setup, bye, achieved


def media(args):
    (d, system, conc, rep, rc, hz, up, w0, w1, c0, c1, k0, k1, r0, r1, m0, m1, mt, own0, own1, s0, s1, g0, g1) = args
    # machine-wide share of CPU time not idle/iowait over the window (/proc/stat "cpu" lines)
    a0, a1 = [int(x) for x in s0.split()[1:]], [int(x) for x in s1.split()[1:]]
    dt = [y - x for x, y in zip(a0, a1)]
    busy = 100.0 * (sum(dt) - dt[3] - dt[4]) / sum(dt) if sum(dt) else float("nan")
    hz = float(hz)
    busy_s = (sum(dt) - dt[3] - dt[4]) / hz
    m0, m1, mt = ([int(x) for x in m.split()] for m in (m0, m1, mt))
    i_in, i_out = (0, 1) if system == "ncgw" else (2, 3)
    st = sipp_stats(d)
    failed = as_int(st, "FailedCall(C)")
    in_total, out_total = mt[i_in], mt[i_out]
    loss = 100.0 * (in_total - out_total) / in_total if in_total else float("nan")
    row = [
        system, conc, rep, up or "-", f"{float(w1) - float(w0):.2f}",
        f"{(int(c1) - int(c0)) / hz:.2f}", f"{(int(k1) - int(k0)) / hz:.2f}", f"{(int(r1) - int(r0)) / hz:.2f}",
        str(m1[i_out] - m0[i_out]), str(m1[i_in] - m0[i_in]), str(in_total), str(out_total), f"{loss:.3f}",
        str(int(own1) - int(own0)) if own0.isdigit() and own1.isdigit() else "-", str(failed if rc == "0" else f"{failed}(rc {rc})"), f"{busy:.0f}",
        f"{(int(g1) - int(g0)) / hz:.2f}", f"{busy_s:.2f}",
    ]
    print("\t".join(row))


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def table(headers, rows):
    """An aligned plain-text table (also valid as a markdown table)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def report(args):
    (work, commit, kver, rver, sver, nproc, step_s, win0, win1, ncgw_threads, rtpe_threads, elapsed,
     load0, load1) = args
    a = read_tsv(os.path.join(work, "a.tsv"))
    b = read_tsv(os.path.join(work, "b.tsv"))
    notes_a = open(os.path.join(work, "a.notes")).read().strip() if os.path.exists(os.path.join(work, "a.notes")) else ""
    notes_b = open(os.path.join(work, "b.notes")).read().strip() if os.path.exists(os.path.join(work, "b.notes")) else ""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    b_media = open(os.path.join(work, "b.media")).read().strip() if os.path.exists(os.path.join(work, "b.media")) else "pcap"
    if b_media == "stream":
        b_media_text = ("SIPp `rtp_stream` (ordinary UDP sockets, one per call) playing the PCMA payload of\n"
                        "  `/usr/share/sip-tester/g711a.pcap` (7.05 s of audio, sent as 160-byte 20 ms packets, 50 packets/s)\n"
                        "  four times back to back by the caller and by the agent (`uac_media.xml`, `uas_media.xml` with\n"
                        "  `play_pcap_audio` replaced by `rtp_stream`, `B_MEDIA=stream`)")
        meter_text = "this run's SIPp media ports or the ephemeral range 32768-60999 (`rtp_stream`\n  sends from either; the relays' own counters match these meters)"
    else:
        b_media_text = ("`/usr/share/sip-tester/g711a.pcap` (PCMA, 236 packets in 7.05 s,\n"
                        "  about 33.5 packets/s) played four times back to back by the caller and by the agent\n"
                        "  (`uac_media.xml`, `uas_media.xml`, `B_MEDIA=pcap`)")
        meter_text = "this run's SIPp media ports"

    # (a) per ladder: the highest passing rate below the first failing one; median over ladders
    ladders = sorted({r.get("ladder", "1") for r in a}, key=int)
    res_a = {}
    for s in ("ncgw", "kam"):
        per = []
        for l in ladders:
            rows = sorted((r for r in a if r["system"] == s and r.get("ladder", "1") == l), key=lambda r: int(r["rate"]))
            if not rows:
                continue
            best, failed_at = None, None
            for r in rows:
                if r["pass"] == "yes":
                    best = r
                else:
                    failed_at = r
                    break
            per.append(dict(ladder=l, best=best, open=failed_at is None, first=int(rows[0]["rate"])))
        vals = [int(x["best"]["rate"]) if x["best"] else 0 for x in per]
        res_a[s] = dict(per=per, median=statistics.median(vals) if vals else None,
                        any_open=any(x["open"] for x in per))

    def rate_txt(s):
        r = res_a[s]
        if r["median"] is None:
            return "-"
        parts = []
        for x in r["per"]:
            v = x["best"]["rate"] if x["best"] else f"<{x['first']}"
            parts.append(v + ("+" if x["open"] else ""))
        return f"{r['median']:g} ({', '.join(parts)})"

    def ratio(x, y):
        return x / y if x and y else None

    ra = ratio(res_a["ncgw"]["median"], res_a["kam"]["median"])
    a_bounded = not (res_a["ncgw"]["any_open"] or res_a["kam"]["any_open"])
    first_fail = {s: (None if res_a[s]["any_open"] else True) for s in ("ncgw", "kam")}

    # (b) medians over repetitions of µs CPU per relayed packet
    concs = sorted({int(r["conc"]) for r in b})
    bres = {}
    for c in concs:
        res = {}
        for s in ("ncgw", "kam"):
            rows = [r for r in b if r["system"] == s and int(r["conc"]) == c]
            us = [float(r["cpu_relay_s"]) * 1e6 / int(r["pkts_out_win"]) for r in rows if int(r["pkts_out_win"]) > 0]
            us_rtpe = [float(r["cpu_rtpe_s"]) * 1e6 / int(r["pkts_out_win"]) for r in rows if int(r["pkts_out_win"]) > 0]
            us_kam = [float(r["cpu_kam_s"]) * 1e6 / int(r["pkts_out_win"]) for r in rows if int(r["pkts_out_win"]) > 0]
            pps = [int(r["pkts_out_win"]) / float(r["win_s"]) for r in rows if float(r["win_s"]) > 0]
            # The whole path: the relay plus the SIPp caller and agent it serves (the kernel's
            # delivery of a packet is charged to whoever sends it, so a relay that forwards in
            # the kernel moves cost there), and the whole machine.
            us_path = [(float(r["cpu_relay_s"]) + float(r["cpu_sipp_s"])) * 1e6 / int(r["pkts_out_win"])
                       for r in rows if int(r["pkts_out_win"]) > 0 and r.get("cpu_sipp_s")]
            us_mach = [float(r["machine_busy_s"]) * 1e6 / int(r["pkts_out_win"])
                       for r in rows if int(r["pkts_out_win"]) > 0 and r.get("machine_busy_s")]
            losses = [float(r["loss_pct"]) for r in rows if r["loss_pct"] != "nan"]
            lost = [int(r["in_total"]) - int(r["out_total"]) for r in rows]
            res[s] = dict(
                n=len(rows), us=statistics.median(us) if us else None, us_all=us,
                us_rtpe=statistics.median(us_rtpe) if us_rtpe else None,
                us_kam=statistics.median(us_kam) if us_kam else None,
                pps=statistics.median(pps) if pps else None,
                us_path=statistics.median(us_path) if us_path else None,
                us_mach=statistics.median(us_mach) if us_mach else None,
                loss_max=max(losses) if losses else None, lost_max=max(lost) if lost else None,
                up=",".join(r["calls_up"] for r in rows),
                failed=",".join(r["sipp_failed"] for r in rows),
            )
        bres[c] = res

    f2 = lambda x, n=2: "-" if x is None else f"{x:.{n}f}"
    lines = []
    lines.append("# Call-path benchmark: ncgw vs kamailio + rtpengine")
    lines.append("")
    lines.append(f"Run {now}, ncgw commit `{commit}`, kamailio {kver}, rtpengine-daemon {rver} (userspace), "
                 f"SIPp {sver}; {nproc} cores, everything on 127.0.0.1, measurements took {elapsed} s; "
                 f"load average {load0} at the start, {load1} at the end. "
                 f"Made by `tools/bench/callpath/run.sh`.")
    lines.append("")
    lines.append("## Summary")
    lines.append("")
    hdr = ["measure", "ncgw", "kamailio+rtpengine", "ratio ncgw/peer", "target", "verdict"]
    rows = []
    ver = lambda ok: "-" if ok is None else ("MET" if ok else "MISSED")
    ok_a = None if ra is None else (ra >= 1.5)
    ok_a_txt = ver(ok_a)
    if ra is not None and not a_bounded:
        # a system that never failed a step gives only a lower bound on its rate
        n_open, k_open = first_fail["ncgw"] is None, first_fail["kam"] is None
        if n_open and k_open:
            ok_a_txt = "UNDECIDED (neither system reached its limit)"
        elif n_open:   # ratio is a lower bound
            ok_a_txt = "MET (lower bound)" if ok_a else "UNDECIDED (ncgw did not reach its limit)"
        else:          # the peer did not reach its limit: ratio is an upper bound
            ok_a_txt = "MISSED (upper bound)" if not ok_a else "UNDECIDED (peer did not reach its limit)"
    rows.append([f"(a) max call rate, cps, median of {len(ladders)} ladders (each ladder's result)",
                 rate_txt("ncgw"), rate_txt("kam"), f2(ra), ">= 1.5", ok_a_txt])
    for c in concs:
        n, k = bres[c]["ncgw"], bres[c]["kam"]
        rb = ratio(n["us"], k["us"])
        rb_rtpe = ratio(n["us"], k["us_rtpe"])
        zero_loss = n["lost_max"] == 0 if n["lost_max"] is not None else None
        ok_b = None if rb is None else (rb <= 0.6 and bool(zero_loss))
        why = "" if ok_b is None or ok_b or rb <= 0.6 else ""
        if ok_b is False and rb is not None and rb <= 0.6:
            why = " (ratio met, but ncgw lost packets)"
        rows.append([f"(b) CPU per relayed RTP packet @ {c} calls, us (median of {n['n']})",
                     f2(n["us"]), f2(k["us"]), f2(rb), "<= 0.6, 0 loss", ver(ok_b) + why])
        rows.append([f"    rtpengine alone / kamailio alone @ {c}, us", "",
                     f"{f2(k['us_rtpe'])} / {f2(k['us_kam'], 3)}", f"{f2(rb_rtpe)} (vs rtpengine alone)", "", ""])
        rows.append([f"    whole path (relay + its SIPp caller and agent) @ {c}, us", f2(n["us_path"]), f2(k["us_path"]),
                     f2(ratio(n["us_path"], k["us_path"])), "", ""])
        rows.append([f"    whole machine (busy CPU in the window / packets) @ {c}, us", f2(n["us_mach"]), f2(k["us_mach"]),
                     f2(ratio(n["us_mach"], k["us_mach"])), "", ""])
        rows.append([f"    relayed packets/s in the window @ {c} (median)", f2(n["pps"], 0), f2(k["pps"], 0), "", "", ""])
        rows.append([f"    worst loss over the repetitions @ {c}, packets (%)",
                     f"{n['lost_max']} ({f2(n['loss_max'], 3)})", f"{k['lost_max']} ({f2(k['loss_max'], 3)})", "", "0", ""])
    lines.append(table(hdr, rows))
    lines.append("")

    lines.append("## (a) call-rate steps")
    lines.append("")
    arows = [[r.get("ladder", "1"), SYS_NAME[r["system"]], r["rate"], r["calls"], r["failed"], r["p99_setup_ms"], r["p99_bye_ms"],
              r["achieved_cps"], r["pass"], r["fail_codes"], r.get("relay_after", "-")] for r in a]
    lines.append("A result marked `+` is a lower bound (that ladder never failed a step); `<N`: the first step failed.")
    lines.append("")
    lines.append(table(["ladder", "system", "cps asked", "calls", "failed", "p99 setup ms", "p99 BYE ms", "cps reached",
                        "pass", "failures seen", "held 2 s after"], arows))
    if notes_a:
        lines.append("")
        lines.append(f"Stopped early by the time budget: `{notes_a}`.")
    lines.append("")
    lines.append("## (b) CPU per packet, each run")
    lines.append("")
    brows = []
    for r in b:
        pk = int(r["pkts_out_win"])
        us = float(r["cpu_relay_s"]) * 1e6 / pk if pk else float("nan")
        brows.append([SYS_NAME[r["system"]], r["conc"], r["rep"], r["calls_up"], r["win_s"], r["cpu_relay_s"],
                      r["cpu_kam_s"] if r["system"] == "kam" else "-", r["cpu_rtpe_s"] if r["system"] == "kam" else "-",
                      r["pkts_in_win"], r["pkts_out_win"], f"{us:.2f}", r["in_total"], r["out_total"], r["loss_pct"],
                      r["own_counter_total"], r["sipp_failed"], r.get("machine_busy_pct", "-"), r.get("cpu_sipp_s", "-"),
                      r.get("machine_busy_s", "-")])
    lines.append(table(["system", "calls", "rep", "up mid-window", "window s", "CPU s", "kamailio CPU s",
                        "rtpengine CPU s", "pkts in (window)", "pkts out (window)", "us/pkt", "pkts in (run)", "pkts out (run)",
                        "loss %", "own counter (run)", "SIPp failed", "machine busy %", "SIPp CPU s", "machine busy CPU s"], brows))
    if notes_b:
        lines.append("")
        lines.append(f"Stopped early by the time budget: `{notes_b}`.")
    lines.append("")
    lines.append("## How it was measured")
    lines.append("")
    lines.append(f"""- Same SIPp caller and agent scenarios for both systems; each system has its own agent (a SIPp
  UAS on its own port) and its own caller ports. The steps and runs alternate between the two
  systems (which one goes first alternates too) so the noise of the 2-core machine falls on both.
- ncgw: `target/release/ncgw run` with a generated config (`log.level = "warn"`, RTP ports
  10000-20999, SQLite CDRs in a temp dir: ncgw writes a call record per call, kamailio does no
  accounting here). Tokio multi-thread runtime ({ncgw_threads} threads at start). The kernel fast
  path is on (`media.kernel_fast_path`, the default; the script runs as root): after each
  direction's first packets the relay hands the stream to its eBPF program at `lo`'s ingress, so
  the RTP of (b) is forwarded by the kernel, in the context of the SIPp process that sent it.
  rtpengine's own kernel module (`rtpengine-kernel-dkms`) is not used: it needs the headers of
  this machine's kernel, which Debian does not ship (the peer runs userspace, as it says above).
- Peer: kamailio {kver} with `tools/bench/callpath/kamailio.cfg` (4 UDP worker processes,
  record-route, `rtpengine_offer/answer/delete`), rtpengine {rver} userspace only
  (`--table=-1`, `--delete-delay=0`, default worker threads; {rtpe_threads} threads at start), RTP
  ports 21000-31999.
- (a) Calls: INVITE with SDP -> optional 100/180 -> 200 with SDP -> ACK -> 1 s hold with no RTP
  -> BYE -> 200 (`uac_short.xml`, agent `uas_quiet.xml`). Each step is {step_s} s worth of calls
  at the asked rate, split over several SIPp callers started together (one per 400 cps
  asked by default, `SIPP_CPS`; each `sipp -r RATE/N -m RATE/N*{step_s}` on its own ports) so that
  one SIPp's own limit is not what is measured. Failed = asked calls minus the callers' summed
  SuccessfulCall count; the rate reached is the sum of each caller's. SIP response times are SIPp `rtd` timers dumped per call
  (`-trace_rtt -rtt_freq 1`, 1 ms resolution): INVITE sent -> 200 received and BYE sent -> 200
  received at the caller; p99 is nearest-rank. A step passes with < 0.1 % failed, both p99 < 50 ms
  and >= 95 % of the asked rate reached (from the spread of the 200s' timestamps). Stepping stops
  for a system at its first failing step; the ladder's result is the last passing rate. The
  ladder (all rates, both systems) is run several times; the result is the median of the
  ladders' results. SIPp itself runs
  on the same 2 cores, so the top rates measure the machine as much as the system under test.
- (b) Calls: ~28.2 s each, {b_media_text}, started at 100 calls/s up to the fixed number of concurrent
  calls. Window: {win0} s to {win1} s after the first INVITE (ramp finished, no call ended; the
  "up mid-window" column is `ncgw_calls_active` / `rtpengine_sessions{{type="own"}}` at its middle).
  CPU = utime+stime from `/proc/PID/stat` (all threads) at the window's ends: ncgw's process;
  for the peer kamailio's processes plus rtpengine's (also shown apart). Packets = UDP
  datagrams leaving the relay's RTP port range in the window, counted by iptables rules on `lo`
  (the same meter for both relays). Loss = datagrams sent into the relay's port range minus
  datagrams leaving it, over the whole run (from before the first INVITE to 2 s after the last
  BYE). "own counter" is the relay's own count over the run as a cross-check:
  `ncgw_rtp_packets_total{{result="relayed"}}` and rtpengine's `rtpengine_packets_total{{type="userspace"}}`
  (rtpengine adds a call's packets when the call is deleted). The µs/packet figure is the
  median over the repetitions; ratios are of medians. "machine busy %" is the share of all
  cores' time not idle in the window (SIPp's two instances, the relay, and anything else the
  machine was running).
- Because a packet forwarded in the kernel costs CPU in whoever sent it (the sender's `sendto`
  runs the loopback receive path, our program included), the summary also gives two wider
  measures per relayed packet: the "whole path" (the relay's processes plus this system's SIPp
  caller and agent, utime+stime in the window) and the "whole machine" (busy CPU of all cores in
  the window, from `/proc/stat`, idle and iowait excluded). The verdict is on the relay's own CPU,
  as the target asks; the wider ratios show the saving is not just moved elsewhere.
- Why not SIPp's pcap play (`B_MEDIA=pcap`, the earlier runs): it sends through one raw socket
  per call (bound to 127.0.0.1, protocol UDP), and the kernel hands a clone of every UDP datagram
  delivered on 127.0.0.1 to each of them (dropped again on their full queues). With N calls up,
  every datagram a relay sends then costs about 2N raw-socket deliveries inside the relay's own
  `sendto`: the same cost for both relays, growing with the number of calls, so the measure was
  mostly SIPp's. A `perf` profile of ncgw at 500 calls (992 raw sockets open) put 65 % of its
  CPU in `raw_local_deliver`; at 200 calls, 24 %. `rtp_stream` uses ordinary UDP sockets.
- In (b), "pkts in (window)" far from "pkts out (window)" means datagrams waited in socket
  queues at one end of the window (the relay or the senders fell behind): the machine was not
  keeping up at that load. In (a), "held 2 s after" is what the relay still held 2 s after the
  step's last call ended (ncgw's `ncgw_rtp_ports_in_use`, rtpengine's own sessions).
- Meters: iptables counters on `lo`, matching only datagrams between the relay's RTP ports and
  {meter_text}: datagrams into a relay are counted in a chain jumped to from OUTPUT (as SIPp
  sends them), datagrams out of a relay in one jumped to from INPUT (as they are delivered to
  SIPp) — a packet the fast path forwards is rewritten at `lo`'s ingress and never passes
  OUTPUT again. Both relays pay the same rule cost.
""")
    return "\n".join(lines)


def alaw(args):
    """The RTP payloads of a pcap (Ethernet/IPv4/UDP/RTP), concatenated: SIPp rtp_stream's input."""
    src, dst = args
    d = open(src, "rb").read()
    end = "<" if struct.unpack("<I", d[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    l2 = {1: 14, 113: 16, 0: 4, 101: 0}.get(struct.unpack(end + "I", d[20:24])[0], 14)
    off, out = 24, bytearray()
    while off + 16 <= len(d):
        incl = struct.unpack(end + "I", d[off + 8:off + 12])[0]
        ip = d[off + 16 + l2:off + 16 + incl]
        off += 16 + incl
        rtp = ip[(ip[0] & 15) * 4 + 8:]
        out += rtp[12 + 4 * (rtp[0] & 15):]
    open(dst, "wb").write(out)


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "alaw":
        alaw(rest)
    elif mode == "step":
        step(rest)
    elif mode == "media":
        media(rest)
    elif mode == "report":
        print(report(rest))
    else:
        sys.exit(f"unknown mode {mode}")
