//! Messages per second for parsing (and parsing + serialising) an IMS INVITE: ncgw against rsip 0.4.
//!
//! Run with `cargo run --release -p ncgw-bench --bin sip-parse`.
use std::hint::black_box;
use std::time::{Duration, Instant};

use ncgw::sip::message::Message;

const ROUNDS: usize = 25;
const ROUND_TIME: Duration = Duration::from_millis(80);

/// A clock of this thread's time on a CPU (Linux `schedstat`), so that time spent waiting for a
/// core while other builds run is not counted; wall time where that is not available.
struct CpuClock {
    wall: Instant,
    on_cpu: Option<u64>,
}

fn on_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

impl CpuClock {
    fn start() -> Self {
        CpuClock { wall: Instant::now(), on_cpu: on_cpu_ns() }
    }

    fn elapsed(&self) -> Duration {
        match (self.on_cpu, on_cpu_ns()) {
            (Some(a), Some(b)) if b > a => Duration::from_nanos(b - a),
            _ => self.wall.elapsed(),
        }
    }
}

/// Calls `f` about `ROUND_TIME` worth of times per round, for `ROUNDS` rounds, the cases taking turns
/// so that load from other processes on the machine hits them alike; returns each case's median
/// rate per second.
fn measure<const N: usize>(mut cases: [&mut dyn FnMut(); N]) -> [f64; N] {
    let counts: Vec<u64> = cases
        .iter_mut()
        .map(|f| {
            let mut n = 1u64;
            loop {
                let t = CpuClock::start();
                for _ in 0..n {
                    f();
                }
                let spent = t.elapsed();
                if spent >= ROUND_TIME / 10 {
                    break (n as f64 * ROUND_TIME.as_secs_f64() / spent.as_secs_f64()).max(1.0) as u64;
                }
                n *= 2;
            }
        })
        .collect();
    let mut rates: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        for (i, f) in cases.iter_mut().enumerate() {
            let t = CpuClock::start();
            for _ in 0..counts[i] {
                f();
            }
            rates[i].push(counts[i] as f64 / t.elapsed().as_secs_f64());
        }
    }
    rates.map(|mut r| {
        r.sort_by(f64::total_cmp);
        r[ROUNDS / 2]
    })
}

/// The INVITE with sip: URIs in place of the tel: To and Request-URI, which rsip cannot read.
fn rsip_compatible(invite: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(invite)
        .replace("To: <tel:+8613912345678>", "To: <sip:+8613912345678@ims.example.com;user=phone>")
        .replace("INVITE tel:+8613912345678 SIP/2.0", "INVITE sip:+8613912345678@ims.example.com;user=phone SIP/2.0")
        .into_bytes()
}

fn main() -> std::process::ExitCode {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/sip/ims_invite.sip");
    let invite = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };

    // `--profile ncgw|rsip N`: only that stack's parse+serialise, N times, for a profiler (perf,
    // or callgrind, whose instruction counts do not depend on the machine's load).
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, stack, n] = &args[..] {
        if flag == "--profile" {
            let n = n.parse::<u64>().unwrap_or(100_000);
            let mut out = Vec::with_capacity(4096);
            let patched = rsip_compatible(&invite);
            for _ in 0..n {
                if stack == "rsip" {
                    if let Ok(m) = rsip::SipMessage::try_from(black_box(&patched[..])) {
                        black_box(m.to_string());
                    }
                } else if let Ok(m) = Message::parse(black_box(&invite)) {
                    out.clear();
                    m.write_to(&mut out);
                    black_box(&out);
                }
            }
            return std::process::ExitCode::SUCCESS;
        }
    }

    // Both parsers must really read the message before we time them.
    let ours = Message::parse(&invite).expect("ncgw parses the IMS INVITE");
    assert_eq!(Message::parse(&ours.to_bytes()).as_ref(), Ok(&ours));

    let mut footnote = String::new();
    let rsip_input = match rsip::SipMessage::try_from(&invite[..]) {
        Ok(_) => invite.clone(),
        Err(e) => {
            // rsip cannot read tel: URIs with long numbers; give it sip: ones instead.
            let text = String::from_utf8_lossy(&invite)
                .replace("To: <tel:+8613912345678>", "To: <sip:+8613912345678@ims.example.com;user=phone>");
            footnote = format!("rsip fails on the original (\"{e}\"); its rows use a copy with a sip: To.\n");
            let patched = text.into_bytes();
            if let Err(e2) = rsip::SipMessage::try_from(&patched[..]) {
                let text = String::from_utf8_lossy(&patched).replace(
                    "INVITE tel:+8613912345678 SIP/2.0",
                    "INVITE sip:+8613912345678@ims.example.com;user=phone SIP/2.0",
                );
                footnote = format!(
                    "rsip fails on the original (\"{e}\") and on a sip: To (\"{e2}\"); its rows use a copy with sip: To and Request-URI.\n"
                );
                text.into_bytes()
            } else {
                patched
            }
        }
    };
    let rsip_msg = rsip::SipMessage::try_from(&rsip_input[..]).expect("rsip parses the (patched) INVITE");
    let rsip_headers = match &rsip_msg {
        rsip::SipMessage::Request(r) => r.headers.iter().count(),
        rsip::SipMessage::Response(r) => r.headers.iter().count(),
    };
    if rsip_headers != ours.headers().len() {
        footnote.push_str(&format!("rsip read {rsip_headers} headers, ncgw {}.\n", ours.headers().len()));
    }

    let mut out = Vec::with_capacity(4096);
    let mut ncgw_parse = || {
        black_box(Message::parse(black_box(&invite)).ok());
    };
    let mut ncgw_both = || {
        if let Ok(m) = Message::parse(black_box(&invite)) {
            out.clear();
            m.write_to(&mut out);
            black_box(&out);
        }
    };
    let mut rsip_parse = || {
        black_box(rsip::SipMessage::try_from(black_box(&rsip_input[..])).ok());
    };
    let mut rsip_both = || {
        if let Ok(m) = rsip::SipMessage::try_from(black_box(&rsip_input[..])) {
            black_box(m.to_string());
        }
    };
    let [ncgw_parse, ncgw_both, rsip_parse, rsip_both] =
        measure([&mut ncgw_parse, &mut ncgw_both, &mut rsip_parse, &mut rsip_both]);

    println!(
        "IMS INVITE, {} bytes; median of {ROUNDS} rounds of ~{} ms of on-CPU time, cases taking turns",
        invite.len(),
        ROUND_TIME.as_millis()
    );
    println!();
    println!("{:<26} {:>12} {:>10} {:>12}", "", "msg/s", "µs/msg", "ncgw/rsip");
    let row = |name: &str, rate: f64, ratio: Option<f64>| {
        let ratio = ratio.map_or(String::new(), |r| format!("{r:.1}×"));
        println!("{name:<26} {rate:>12.0} {:>10.2} {ratio:>12}", 1e6 / rate);
    };
    row("ncgw parse", ncgw_parse, Some(ncgw_parse / rsip_parse));
    row("ncgw parse+serialise", ncgw_both, Some(ncgw_both / rsip_both));
    row("rsip 0.4 parse", rsip_parse, None);
    row("rsip 0.4 parse+to_string", rsip_both, None);
    if !footnote.is_empty() {
        println!();
        print!("{footnote}");
    }
    std::process::ExitCode::SUCCESS
}
