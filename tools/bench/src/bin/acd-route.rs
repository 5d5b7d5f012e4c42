//! ACD routing cost with 10,000 waiting calls and 2,000 agents of mixed skills: decisions per
//! second, and the time from an agent becoming available to its offer (p50/p99), measured around
//! the core's calls (the core itself runs on a virtual clock).
//!
//! Run with `cargo run --release -p ncgw-bench --bin acd-route`.
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ncgw::acd::{Acd, AcdConfig, AcdEvent, CallKey};
use ncgw::dialplan::CallAttributes;

const AGENTS: usize = 2_000;
const WAITING: usize = 10_000;
const CYCLES: usize = 200_000;

const CONFIG: &str = r#"
[[queue]]
name = "general"
wrap_up_s = 0
ring_timeout_s = 300
relax = [{ after_s = 60, drop = "lang:yue" }]
priority_rules = [{ tag = "segment", equals = "elderly", priority = 10 }]
[[queue]]
name = "loan"
skills = ["loan:3"]
wrap_up_s = 0
ring_timeout_s = 300
[[queue]]
name = "video"
skills = ["video:1"]
wrap_up_s = 0
ring_timeout_s = 300
[[queue]]
name = "sign_language"
skills = ["sign_language:2", "video:1"]
wrap_up_s = 0
ring_timeout_s = 300
"#;

/// xorshift64*: deterministic, so every run routes the same calls.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

fn config(rng: &mut Rng) -> AcdConfig {
    let mut text = CONFIG.to_owned();
    for i in 0..AGENTS {
        let mut skills = vec![format!("retail:{}", 1 + rng.below(5))];
        if rng.chance(40) {
            skills.push(format!("loan:{}", 1 + rng.below(5)));
        }
        if rng.chance(60) {
            skills.push("video:1".into());
        }
        if rng.chance(5) {
            skills.push(format!("sign_language:{}", 2 + rng.below(4)));
        }
        if rng.chance(20) {
            skills.push("lang:yue".into());
        }
        if rng.chance(20) {
            skills.push("lang:en".into());
        }
        let list = skills.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
        text.push_str(&format!("[[agent]]\nid = \"{}\"\nskills = [{list}]\n", 10_000 + i));
    }
    AcdConfig::from_text("bench", &text).unwrap_or_else(|e| panic!("bench config: {e}"))
}

/// A call of the mix: mostly general, some loan and video, a few sign language; some elderly
/// (priority), some with a retail level or a language.
fn call(rng: &mut Rng) -> (&'static str, CallAttributes) {
    let queue = match rng.below(100) {
        0..55 => "general",
        55..75 => "loan",
        75..95 => "video",
        _ => "sign_language",
    };
    let mut attrs = CallAttributes::default();
    if rng.chance(10) {
        attrs.tags.insert("segment".into(), "elderly".into());
    }
    if rng.chance(30) {
        attrs.skills.push(("retail".into(), 1 + rng.below(3) as u8));
    }
    if queue == "general" && rng.chance(10) {
        attrs.language = Some(if rng.chance(50) { "yue" } else { "en" }.into());
    }
    (queue, attrs)
}

struct Bench {
    acd: Acd,
    t0: Instant,
    /// Virtual time in milliseconds since t0.
    ms: u64,
    rng: Rng,
    next_call: u64,
    on_call: VecDeque<String>,
    offers: Vec<(CallKey, String)>,
}

impl Bench {
    fn now(&self) -> Instant {
        self.t0 + Duration::from_millis(self.ms)
    }

    /// Drains events; offers are collected. Returns whether `agent` got an offer.
    fn drain(&mut self, agent: Option<&str>) -> bool {
        let mut offered = false;
        while let Some(e) = self.acd.poll_event() {
            if let AcdEvent::Offer { call, agent: a, .. } = e {
                offered |= agent == Some(a.as_str());
                self.offers.push((call, a));
            }
        }
        offered
    }

    fn accept_offers(&mut self) {
        let now = self.now();
        for (call, agent) in std::mem::take(&mut self.offers) {
            self.acd.offer_accepted(now, call, &agent).unwrap_or_else(|e| panic!("accept: {e}"));
            self.on_call.push_back(agent);
        }
        self.drain(None);
    }

    fn enqueue(&mut self) {
        let (queue, attrs) = call(&mut self.rng);
        self.next_call += 1;
        let now = self.now();
        let unix = 1_795_399_200 + (self.ms / 1000) as i64;
        self.acd.enqueue(now, unix, CallKey(self.next_call), queue, attrs).unwrap_or_else(|e| panic!("enqueue: {e}"));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

struct Row {
    name: &'static str,
    samples: Vec<Duration>,
    total: Duration,
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let config = config(&mut rng);
    let t0 = Instant::now();
    let mut b = Bench { acd: Acd::new(config), t0, ms: 0, rng, next_call: 0, on_call: VecDeque::new(), offers: Vec::new() };
    let ids: Vec<String> = b.acd.agents().into_iter().map(|a| a.id).collect();

    // Scenario 1: every agent free; calls arrive one by one and are offered at once.
    for id in &ids {
        b.acd.agent_login(b.now(), id, None).unwrap_or_else(|e| panic!("login: {e}"));
    }
    b.drain(None);
    let mut arrive = Row { name: "call arrives -> offer (agents free)", samples: Vec::new(), total: Duration::ZERO };
    let loop_start = Instant::now();
    for _ in 0..CYCLES / 4 {
        b.ms += 1;
        let start = Instant::now();
        b.enqueue();
        b.drain(None);
        arrive.samples.push(start.elapsed());
        let now = b.now();
        for (call, agent) in std::mem::take(&mut b.offers) {
            b.acd.offer_accepted(now, call, &agent).unwrap_or_else(|e| panic!("accept: {e}"));
            b.acd.call_ended(now, &agent).unwrap_or_else(|e| panic!("end: {e}"));
        }
        b.drain(None);
    }
    arrive.total = loop_start.elapsed();

    // Fill: every agent on a call, then 10,000 calls waiting.
    while b.acd.waiting() < WAITING {
        b.ms += 1;
        b.enqueue();
        b.drain(None);
        b.accept_offers();
    }
    let busy = b.on_call.len();

    // Scenario 2: an agent's call ends (no wrap-up) and it takes the best waiting call it
    // qualifies for; the answered call is replaced by a new one, so 10,000 keep waiting.
    let mut freed = Row { name: "agent available -> offer (10k waiting)", samples: Vec::new(), total: Duration::ZERO };
    let mut cycle = Row { name: "full cycle: end+offer+answer+new call", samples: Vec::new(), total: Duration::ZERO };
    let mut timers = Row { name: "timer pass (relax, positions)", samples: Vec::new(), total: Duration::ZERO };
    let mut no_offer = 0usize;
    let loop_start = Instant::now();
    for i in 0..CYCLES {
        b.ms += 1;
        let cycle_start = Instant::now();
        let Some(agent) = b.on_call.pop_front() else { break };
        let start = Instant::now();
        b.acd.call_ended(b.now(), &agent).unwrap_or_else(|e| panic!("end: {e}"));
        let offered = b.drain(Some(&agent));
        let took = start.elapsed();
        if offered {
            freed.samples.push(took);
        } else {
            no_offer += 1;
        }
        b.accept_offers();
        if b.acd.waiting() < WAITING {
            b.enqueue();
            b.drain(None);
            b.accept_offers();
        }
        cycle.samples.push(cycle_start.elapsed());
        if i % 100 == 0 {
            let start = Instant::now();
            let unix = 1_795_399_200 + (b.ms / 1000) as i64;
            b.acd.handle_timeout(b.now(), unix);
            b.drain(None);
            timers.samples.push(start.elapsed());
            b.accept_offers();
        }
    }
    cycle.total = loop_start.elapsed();
    freed.total = freed.samples.iter().sum();
    timers.total = timers.samples.iter().sum();

    println!("acd-route: {AGENTS} agents (mixed skills), {WAITING} waiting calls, 4 queues; {busy} agents on calls at the start");
    println!("virtual time {:.0} s; {no_offer} freed agents found no call they qualify for\n", b.ms as f64 / 1000.0);
    println!("{:<40} {:>8} {:>12} {:>9} {:>9} {:>9}", "case", "ops", "ops/s", "p50 µs", "p99 µs", "max µs");
    for row in [&mut arrive, &mut freed, &mut cycle, &mut timers] {
        let n = row.samples.len();
        row.samples.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let rate = if row.total.is_zero() { 0.0 } else { n as f64 / row.total.as_secs_f64() };
        println!(
            "{:<40} {:>8} {:>12.0} {:>9.1} {:>9.1} {:>9.1}",
            row.name,
            n,
            rate,
            us(percentile(&row.samples, 0.5)),
            us(percentile(&row.samples, 0.99)),
            us(row.samples.last().copied().unwrap_or_default())
        );
    }
    let p99 = percentile(&freed.samples, 0.99);
    println!("\ntarget: offer within 5 ms p99 of an agent becoming available: {} (p99 {:.1} µs)", if p99 < Duration::from_millis(5) { "met" } else { "MISSED" }, p99.as_secs_f64() * 1e6);
}
