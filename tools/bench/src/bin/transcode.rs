//! Transcoded calls per core: the full two-direction pipeline (`media::transcode::Direction`
//! both ways) against the bare codec work of the same call (the same decoders and encoders in a
//! tight loop), in one run, rounds interleaved, medians; and memory per transcoded call. The
//! `session` column is the engine's per-call object (`media::transcoding_session::Transcoding`:
//! both directions, our RTCP, the per-frame cost metric) without the sockets.
//!
//! Run with `cargo run --release -p ncgw-bench --bin transcode`.
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use ncgw::media::codec::{AudioDecoder, AudioEncoder, CodecConfig, EncoderOptions};
use ncgw::media::relay::{LegStats, Side as Leg};
use ncgw::media::transcode::{Direction, DirectionOptions, LegFormat, MediaPlan};
use ncgw::media::transcoding_session::Transcoding;

/// Counts the bytes the Rust side holds (the C codec libraries allocate with malloc directly;
/// `mallinfo2` covers those).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes malloc has handed out in the whole process (Rust and C), from glibc.
fn malloc_in_use() -> isize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as isize
}

const ROUNDS: usize = 21;
/// 20 ms steps per round (one second of call).
const STEPS: usize = 50;
/// Rounds are this many seconds of call.
const ROUND_SECONDS: usize = 4;
const CALLS_FOR_MEMORY: usize = 20;

/// This thread's CPU time, so other load on the machine is not counted. (The schedstat file
/// `sip-parse` reads advances by scheduler ticks while a thread runs, too coarse for rounds
/// of a few milliseconds.)
fn cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec, which lives on this stack frame.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "the thread CPU clock exists on Linux");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn leg(name: &str, clock: u32, channels: Option<u8>, pt: u8, te: (u8, u32)) -> LegFormat {
    LegFormat {
        pt,
        config: CodecConfig::from_sdp(name, clock, channels, &[]).expect("a valid codec"),
        ptime_ms: 20,
        telephone_event: Some(te),
    }
}

/// A voice-band test signal: three partials with a syllable-rate envelope and a little noise.
fn signal(rate: u32, n: usize) -> Vec<i16> {
    let mut x = 0x1234_5678u32;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let env = 0.4 + 0.6 * (std::f64::consts::PI * 3.0 * t).sin().abs();
            let s = (2.0 * std::f64::consts::PI * 220.0 * t).sin() * 0.5
                + (2.0 * std::f64::consts::PI * 1000.0 * t).sin() * 0.3
                + (2.0 * std::f64::consts::PI * 2300.0 * t).sin() * 0.15;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let noise = (x as f64 / u32::MAX as f64 - 0.5) * 0.05;
            ((s * env + noise) * 8000.0) as i16
        })
        .collect()
}

fn options() -> EncoderOptions {
    EncoderOptions { ptime_ms: 20, ..EncoderOptions::default() }
}

/// One leg's side of a call: what it sends (payloads of 1 s, cycled) and its PCM.
struct Side {
    format: LegFormat,
    payloads: Vec<Vec<u8>>,
    pcm: Vec<i16>,
    frame: usize,
    ticks: u32,
}

fn side(format: LegFormat) -> Side {
    let mut enc = format.config.encoder(&options()).expect("encoder");
    let rate = enc.sample_rate();
    let frame = enc.frame_samples();
    let pcm = signal(rate, frame * STEPS);
    let payloads = pcm
        .chunks_exact(frame)
        .map(|f| {
            let mut p = Vec::new();
            enc.encode(f, &mut p).expect("encode");
            p
        })
        .collect();
    Side { ticks: enc.rtp_ticks_per_frame(), format, payloads, pcm, frame }
}

/// The bare codec work of one call: both decoders and both encoders.
struct Bare {
    dec_a: Box<dyn AudioDecoder>,
    enc_b: Box<dyn AudioEncoder>,
    dec_b: Box<dyn AudioDecoder>,
    enc_a: Box<dyn AudioEncoder>,
    pcm: Vec<i16>,
    out: Vec<u8>,
}

impl Bare {
    fn new(a: &Side, b: &Side) -> Bare {
        Bare {
            dec_a: a.format.config.decoder().expect("decoder"),
            enc_b: b.format.config.encoder(&options()).expect("encoder"),
            dec_b: b.format.config.decoder().expect("decoder"),
            enc_a: a.format.config.encoder(&options()).expect("encoder"),
            pcm: Vec::with_capacity(4096),
            out: Vec::with_capacity(1500),
        }
    }

    fn step(&mut self, i: usize, a: &Side, b: &Side) {
        let k = i % STEPS;
        self.pcm.clear();
        self.dec_a.decode(&a.payloads[k], &mut self.pcm).expect("decode");
        self.out.clear();
        self.enc_b.encode(&b.pcm[k * b.frame..(k + 1) * b.frame], &mut self.out).expect("encode");
        self.pcm.clear();
        self.dec_b.decode(&b.payloads[k], &mut self.pcm).expect("decode");
        self.out.clear();
        self.enc_a.encode(&a.pcm[k * a.frame..(k + 1) * a.frame], &mut self.out).expect("encode");
        black_box(&self.out);
    }
}

/// A transcoded call: both directions, fed packets on a virtual 20 ms clock.
struct Call {
    a_to_b: Direction,
    b_to_a: Direction,
    t0: Instant,
    packet: Vec<u8>,
    out: Vec<u8>,
    sent: u64,
}

impl Call {
    fn new(a: &Side, b: &Side) -> Call {
        Call {
            a_to_b: Direction::new(&a.format, &b.format, &DirectionOptions::new(1, 0, 0)).expect("pipeline"),
            b_to_a: Direction::new(&b.format, &a.format, &DirectionOptions::new(2, 0, 0)).expect("pipeline"),
            t0: Instant::now(),
            packet: Vec::with_capacity(1500),
            out: Vec::with_capacity(1500),
            sent: 0,
        }
    }

    fn step(&mut self, i: usize, a: &Side, b: &Side) {
        let now = self.t0 + Duration::from_millis(20 * i as u64);
        for (side, dir, ssrc) in [(a, &mut self.a_to_b, 0xa), (b, &mut self.b_to_a, 0xb)] {
            rtp(&mut self.packet, side.format.pt, i, side.ticks, ssrc, &side.payloads[i % STEPS]);
            dir.handle_packet(now, &self.packet).expect("our own packets parse");
            while dir.poll_output_into(now, &mut self.out) {
                self.sent += 1;
            }
        }
        black_box(&self.out);
    }
}

/// The engine's session object for the same call (two directions, RTCP, metrics).
struct Session {
    x: Transcoding,
    t0: Instant,
    packet: Vec<u8>,
    out: Vec<u8>,
    sent: u64,
}

impl Session {
    fn new(a: &Side, b: &Side) -> Session {
        let plan = MediaPlan::Transcode { a: a.format.clone(), b: b.format.clone() };
        let t0 = Instant::now();
        let x = Transcoding::new(&plan, 7, t0).expect("a transcode plan").expect("pipelines");
        Session { x, t0, packet: Vec::with_capacity(1500), out: Vec::with_capacity(1500), sent: 0 }
    }

    fn step(&mut self, i: usize, a: &Side, b: &Side) {
        let now = self.t0 + Duration::from_millis(20 * i as u64);
        for (side, leg, ssrc) in [(a, Leg::A, 0xa), (b, Leg::B, 0xb)] {
            rtp(&mut self.packet, side.format.pt, i, side.ticks, ssrc, &side.payloads[i % STEPS]);
            self.x.on_rtp(now, leg, &self.packet);
        }
        while self.x.poll_output(now, &mut self.out, |_| LegStats::default()).is_some() {
            self.sent += 1;
        }
        black_box(&self.out);
    }
}

fn rtp(out: &mut Vec<u8>, pt: u8, i: usize, ticks: u32, ssrc: u32, payload: &[u8]) {
    out.clear();
    out.extend_from_slice(&[0x80, pt]);
    out.extend_from_slice(&(i as u16).to_be_bytes());
    out.extend_from_slice(&(i as u32).wrapping_mul(ticks).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

struct Row {
    name: &'static str,
    bare_us: f64,
    pipeline_us: f64,
    session_us: f64,
    rust_bytes: isize,
    total_bytes: isize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run(name: &'static str, a: LegFormat, b: LegFormat) -> Row {
    let (a, b) = (side(a), side(b));
    let mut bare = Bare::new(&a, &b);
    let mut call = Call::new(&a, &b);
    let mut session = Session::new(&a, &b);
    // Warm up: fill the jitter buffers and caches.
    let (mut i_bare, mut i_call, mut i_session) = (0, 0, 0);
    for _ in 0..STEPS {
        bare.step(i_bare, &a, &b);
        call.step(i_call, &a, &b);
        session.step(i_session, &a, &b);
        i_bare += 1;
        i_call += 1;
        i_session += 1;
    }
    let (mut bare_t, mut call_t, mut session_t) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let steps = STEPS * ROUND_SECONDS;
        let t = cpu_ns();
        for _ in 0..steps {
            bare.step(i_bare, &a, &b);
            i_bare += 1;
        }
        bare_t.push((cpu_ns() - t) as f64 / 1000.0 / steps as f64);
        let t = cpu_ns();
        for _ in 0..steps {
            call.step(i_call, &a, &b);
            i_call += 1;
        }
        call_t.push((cpu_ns() - t) as f64 / 1000.0 / steps as f64);
        let t = cpu_ns();
        for _ in 0..steps {
            session.step(i_session, &a, &b);
            i_session += 1;
        }
        session_t.push((cpu_ns() - t) as f64 / 1000.0 / steps as f64);
    }
    assert!(session.sent as usize >= (i_session - STEPS) * 2, "the session sends a packet per frame each way");
    assert!(call.sent as usize >= (i_call - STEPS) * 2, "the pipeline sends a packet per frame each way");
    // Memory: CALLS_FOR_MEMORY calls built and run for a second, divided.
    let (rust0, total0) = (LIVE.load(Ordering::Relaxed), malloc_in_use());
    let mut calls: Vec<Call> = (0..CALLS_FOR_MEMORY).map(|_| Call::new(&a, &b)).collect();
    for c in &mut calls {
        for i in 0..STEPS {
            c.step(i, &a, &b);
        }
    }
    let rust_bytes = (LIVE.load(Ordering::Relaxed) - rust0) / CALLS_FOR_MEMORY as isize;
    let total_bytes = (malloc_in_use() - total0) / CALLS_FOR_MEMORY as isize;
    drop(calls);
    Row { name, bare_us: median(bare_t), pipeline_us: median(call_t), session_us: median(session_t), rust_bytes, total_bytes }
}

fn main() {
    let amr_wb = || leg("AMR-WB", 16000, None, 97, (100, 16000));
    let amr = || leg("AMR", 8000, None, 96, (101, 8000));
    let opus = || leg("opus", 48000, Some(2), 111, (110, 48000));
    let pcmu = || leg("PCMU", 8000, None, 0, (101, 8000));
    let rows = [
        run("AMR-WB <-> Opus", amr_wb(), opus()),
        run("AMR-NB <-> Opus", amr(), opus()),
        run("G.711 <-> Opus", pcmu(), opus()),
        run("AMR-WB <-> G.711", amr_wb(), pcmu()),
    ];
    println!(
        "Transcoded call, both directions, per 20 ms of audio (thread CPU time, median of {ROUNDS} interleaved rounds of {} frames;",
        STEPS * ROUND_SECONDS
    );
    println!("Opus complexity 5, 20 ms ptime, telephone-event on both legs; memory over {CALLS_FOR_MEMORY} calls)");
    println!();
    println!(
        "{:<17} {:>10} {:>13} {:>6} {:>11} {:>15} {:>11} {:>14} {:>11}",
        "pair", "bare µs", "pipeline µs", "ratio", "calls/core", "bare calls/core", "heap/call", "+C codec/call", "session µs"
    );
    for r in &rows {
        println!(
            "{:<17} {:>10.1} {:>13.1} {:>6.2} {:>11.0} {:>15.0} {:>9.1} KiB {:>10.1} KiB {:>11.1}",
            r.name,
            r.bare_us,
            r.pipeline_us,
            r.pipeline_us / r.bare_us,
            20_000.0 / r.pipeline_us,
            20_000.0 / r.bare_us,
            r.rust_bytes as f64 / 1024.0,
            r.total_bytes as f64 / 1024.0,
            r.session_us,
        );
    }
    println!();
    println!("size_of::<Direction>() = {} bytes (two per call)", std::mem::size_of::<Direction>());
    let target = rows.iter().all(|r| r.pipeline_us <= 1.2 * r.bare_us);
    println!("target (pipeline <= 1.2 x bare codec work): {}", if target { "met" } else { "MISSED" });
}
