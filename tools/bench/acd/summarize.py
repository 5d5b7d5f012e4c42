#!/usr/bin/env python3
"""Summarises one tools/bench/acd/run.sh run into RESULTS.md (printed on stdout).

Inputs in WORK: metrics.before / metrics.after (the node's /metrics), queue.json (`ncgw queues
show bench --json`), uas/msg.log (the agents' SIPp -trace_msg), uac/stat.csv and uas/stat.csv
(SIPp statistics), queue_samples.txt (`ncgw queues --json` once a second during the run).
"""
import json
import re
import sys
from collections import defaultdict

METRIC = "ncgw_acd_offer_latency_seconds"


def buckets(path):
    """{le: cumulative count} and (sum, count) of the bench queue's offer latency histogram."""
    b, total, count = {}, 0.0, 0
    for line in open(path, encoding="utf-8", errors="replace"):
        if not line.startswith(METRIC) or 'queue="bench"' not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith(METRIC + "_bucket"):
            le = re.search(r'le="([^"]+)"', name).group(1)
            b[float("inf") if le == "+Inf" else float(le)] = float(value)
        elif name.startswith(METRIC + "_sum"):
            total = float(value)
        elif name.startswith(METRIC + "_count"):
            count = int(float(value))
    return b, total, count


def hist_quantile(q, cum):
    """Prometheus-style histogram_quantile: linear inside the bucket holding the rank."""
    les = sorted(cum)
    n = cum[les[-1]] if les else 0
    if n == 0:
        return None
    rank, prev_le, prev_c = q * n, 0.0, 0.0
    for le in les:
        c = cum[le]
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-12)
        prev_le, prev_c = le, c
    return les[-1]


def quantile(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def trace(path):
    """SIPp -trace_msg blocks: (seconds since midnight, 'sent'/'received', message text)."""
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return []
    out = []
    for block in text.split("----------------------------------------------- ")[1:]:
        lines = block.split("\n")
        stamp = lines[0].split(" ")
        if len(stamp) < 2:
            continue
        h, m, s = stamp[1].strip().split(":")
        t = int(h) * 3600 + int(m) * 60 + float(s)
        d = "received" if "received" in lines[1] else "sent"
        out.append((t, d, "\n".join(lines[2:]).strip()))
    return out


def header(msg, name):
    m = re.search(r"^" + name + r":\s*(.*)$", msg, re.M | re.I)
    return m.group(1).strip() if m else ""


def wire(path, wrap_s):
    """Per agent: the 200 to its BYE (received) -> the next INVITE to it, minus the wrap-up."""
    user_of, invites, frees, seen = {}, defaultdict(list), defaultdict(list), set()
    for t, d, msg in trace(path):
        first = msg.split("\n", 1)[0]
        cid = header(msg, "Call-ID")
        if d == "received" and first.startswith("INVITE "):
            if cid in seen:
                continue  # a retransmission
            seen.add(cid)
            m = re.match(r"INVITE sips?:([^@;>]+)@", first)
            user = m.group(1) if m else "?"
            user_of[cid] = user
            invites[user].append(t)
        elif d == "received" and first.startswith("SIP/2.0 200") and header(msg, "CSeq").endswith("BYE"):
            if cid in user_of:
                frees[user_of[cid]].append(t)
    gaps, idle = [], 0
    for user, fr in frees.items():
        inv = sorted(invites[user])
        for f in sorted(set(fr)):
            nxt = next((i for i in inv if i > f), None)
            if nxt is None:
                idle += 1
                continue
            g = nxt - f - wrap_s
            # An agent freed while nobody waited is offered the next arriving call much later.
            if g < 0.5:
                gaps.append(g)
            else:
                idle += 1
    return gaps, idle, sum(len(v) for v in invites.values())


def sipp_stat(path):
    try:
        rows = [l.rstrip("\n").split(";") for l in open(path, encoding="utf-8", errors="replace") if l.strip()]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1]))


def ms(x):
    return "-" if x is None else f"{x * 1000:.3f}"


def main():
    (work, commit, agents, callers, rate, talk_ms, wrap_s, uac_rc, uas_rc, load_start, load_end, cpus, sipp_ver, elapsed, ncgw_cpu) = sys.argv[1:16]
    wrap = float(wrap_s)
    b0, s0, n0 = buckets(f"{work}/metrics.before")
    b1, s1, n1 = buckets(f"{work}/metrics.after")
    cum = {le: b1[le] - b0.get(le, 0.0) for le in b1}
    n = n1 - n0
    h50, h99 = hist_quantile(0.5, cum), hist_quantile(0.99, cum)
    within5 = cum.get(0.005, 0.0)
    mean = (s1 - s0) / n if n else None
    gaps, idle, invites = wire(f"{work}/uas/msg.log", wrap)
    w50, w99, wmax = quantile(gaps, 0.5), quantile(gaps, 0.99), (max(gaps) if gaps else None)
    q = json.load(open(f"{work}/queue.json"))["queue"]
    uac, uas = sipp_stat(f"{work}/uac/stat.csv"), sipp_stat(f"{work}/uas/stat.csv")
    samples = []
    for line in open(f"{work}/queue_samples.txt", encoding="utf-8", errors="replace"):
        p = line.split()
        if len(p) == 6:
            samples.append([float(x) for x in p])
    peak_wait = max((s[1] for s in samples), default=0)
    peak_long = max((s[2] for s in samples), default=0)
    neg = sum(1 for g in gaps if g < 0)
    cap = int(agents) / (int(talk_ms) / 1000 + wrap)
    target = "met" if h99 is not None and within5 >= 0.99 * n and (w99 is None or w99 <= 0.005) else "NOT met"

    def c(d, k):
        return d.get(k, "-")

    print(f"""# ACD end-to-end benchmark: agent available -> offer

Reproduce: `tools/bench/acd/run.sh` (as here: `AGENTS={agents} CALLERS={callers} RATE={rate} TALK_MS={talk_ms} WRAP_S={wrap_s}`).
Commit {commit}; {cpus} CPUs; SIPp {sipp_ver}; run took {elapsed} s; ncgw used {ncgw_cpu} of calls; load average (1/5/15 min) {load_start} at the start, {load_end} at the end
(the machine is shared with other builds; a load above {cpus} means ncgw and SIPp competed for the CPUs).

Setup: one release `ncgw run` on 127.0.0.1 with queue `bench` (wrap-up {wrap_s} s, auto_login); {agents} agents added with
`ncgw agents add`, registered with digest auth from one SIPp (`uac_register_auth.xml`, CSV of {agents} users) whose port is
then the SIPp UAS all contacts point to (`uas_agent.xml`: answers, plays g711a.pcap, talks {talk_ms} ms, sends BYE);
{callers} callers from one SIPp UAC at {rate} calls/s (`uac_call_wait_bye.xml`: INVITE, queued and answered at once by
ncgw with prompts, bridged to an agent when one is free, waits for the BYE). The agents handle at most
{cap:.1f} calls/s ({agents} / ({talk_ms} ms talk + {wrap_s} s wrap-up)) against {rate} arriving, so callers queue (peak
{peak_wait:.0f} waiting, longest wait {peak_long:.1f} s, sampled once a second with `ncgw queues --json`) and agents become
available while calls wait: those are the offers measured.

## Agent available -> offer (target: p99 <= 5 ms)

| measure | offers | p50 ms | p99 ms | max ms | mean ms |
|---|---:|---:|---:|---:|---:|
| `ncgw_acd_offer_latency_seconds{{queue="bench"}}` (node clock: input that freed the agent reaches the core -> INVITE handed to the transport; histogram, linear within buckets) | {n} | {ms(h50)} | {ms(h99)} | - | {ms(mean)} |
| wire, at the agents' SIPp: 200 to the agent's BYE -> next INVITE to that agent, minus the {wrap_s} s wrap-up | {len(gaps)} | {ms(w50)} | {ms(w99)} | {ms(wmax)} | {ms(sum(gaps) / len(gaps) if gaps else None)} |

Offers within 5 ms by the histogram: {within5:.0f} of {n}. Target (p99 <= 5 ms by the histogram and on the wire): {target}.
The wire figure includes the wrap-up timer's granularity (tokio timers fire on a 1 ms tick, so up to ~1 ms late) and
SIPp's receive loop ({neg} gaps came out negative: SIPp read the 200 late, i.e. SIPp itself was short of CPU); agents freed while nobody waited ({idle}, e.g. the first {agents} calls' agents at the end) are left out of it.
Histogram buckets (cumulative, this run): {", ".join(f"<= {le * 1000:g} ms: {cum[le]:.0f}" for le in sorted(cum) if le != float("inf"))}.

## Calls

| | count |
|---|---:|
| callers offered to the queue | {q.get("offered")} |
| answered by an agent | {q.get("answered")} |
| abandoned | {q.get("abandoned")} |
| overflowed / timed out / refused | {q.get("overflowed")} / {q.get("timed_out")} / {q.get("refused")} |
| average speed of answer (s) | {q.get("asa_s")} |
| service level (% within {q.get("sl_target_s")} s) | {q.get("service_level_pct")} |
| INVITEs to agents (wire) | {invites} |
| callers' SIPp: successful / failed calls (exit {uac_rc}) | {c(uac, "SuccessfulCall(C)")} / {c(uac, "FailedCall(C)")} |
| agents' SIPp: successful / failed calls (exit {uas_rc}) | {c(uas, "SuccessfulCall(C)")} / {c(uas, "FailedCall(C)")} |
""")


if __name__ == "__main__":
    main()
