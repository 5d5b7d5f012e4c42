//! Transcoding end to end: SIPp callers and callees (signalling only, tools/sipp/transcode)
//! through ncgw, with RTP generated and checked by the test on its own UDP sockets, whose
//! addresses are in each side's SDP. Each side sends a tone (caller 1 kHz, callee 600 Hz) with
//! our encoders; what arrives on the other side is decoded and its frequency checked, RFC 4733
//! digits cross with the right clock, and with 5 % loss and 40 ms jitter on the caller's leg the
//! callee still hears continuous audio with a bounded delay.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ncgw::media::codec::{AudioDecoder, AudioEncoder, CodecConfig, EncoderOptions};
use serde_json::Value;
use tokio::net::UdpSocket;

use super::harness::{free_port, wait_udp_bound, wait_until, TestNode};
use super::sipp::Sipp;

/// One side's codec as the test plays it.
struct Codec {
    /// rtpmap, e.g. `AMR-WB/16000`.
    rtpmap: &'static str,
    fmtp: &'static str,
    /// Payload type the caller offers (a callee takes the one our offer gives).
    pt: u8,
    te_pt: u8,
    te_clock: u32,
}

const AMR_WB: Codec = Codec { rtpmap: "AMR-WB/16000", fmtp: "octet-align=1", pt: 104, te_pt: 110, te_clock: 16000 };
const AMR_NB: Codec = Codec { rtpmap: "AMR/8000", fmtp: "mode-change-capability=2", pt: 98, te_pt: 101, te_clock: 8000 };
const PCMU: Codec = Codec { rtpmap: "PCMU/8000", fmtp: "", pt: 0, te_pt: 0, te_clock: 8000 };
const OPUS: Codec = Codec { rtpmap: "opus/48000/2", fmtp: "", pt: 0, te_pt: 0, te_clock: 48000 };

fn config(c: &Codec) -> CodecConfig {
    let mut parts = c.rtpmap.split('/');
    let name = parts.next().unwrap_or_default();
    let clock = parts.next().and_then(|r| r.parse().ok()).unwrap_or(8000);
    let channels = parts.next().and_then(|r| r.parse().ok());
    let fmtp: Vec<(String, String)> = c.fmtp.split(';').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    CodecConfig::from_sdp(name, clock, channels, &fmtp).expect("a codec we build")
}

/// Goertzel power of `x` at `f` Hz.
fn power(x: &[i16], rate: u32, f: f64) -> f64 {
    let k = 2.0 * (2.0 * std::f64::consts::PI * f / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = f64::from(v) + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - k * s1 * s2
}

/// The strongest frequency of `x` between 100 Hz and 3.5 kHz, 10 Hz steps.
fn dominant(x: &[i16], rate: u32) -> f64 {
    (10..350).map(|i| f64::from(i) * 10.0).map(|f| (f, power(x, rate, f))).fold((0.0, f64::MIN), |b, c| if c.1 > b.1 { c } else { b }).0
}

fn tone(freq: f64, rate: u32, n: usize) -> Vec<i16> {
    (0..n).map(|i| ((2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() * 0.3 * 32767.0) as i16).collect()
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// One RTP packet received: arrival, payload type, sequence number, timestamp, payload.
struct Got {
    at: Instant,
    pt: u8,
    seq: u16,
    ts: u32,
    payload: Vec<u8>,
}

/// A test-owned media endpoint: what it sends (frames with their send time) and what it got.
struct Endpoint {
    sock: UdpSocket,
    /// Datagrams to send, at ms after the start; sorted by time.
    plan: Vec<(u64, Vec<u8>)>,
    next: usize,
    got: Vec<Got>,
}

impl Endpoint {
    async fn bind() -> Endpoint {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("test RTP socket");
        Endpoint { sock, plan: Vec::new(), next: 0, got: Vec::new() }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Plans `secs` of a `freq` tone in `codec` (payload type `pt`), 20 ms frames, and digit
    /// `digit` as RFC 4733 on `te_pt` at 1 s. `impair` drops 5 % and delays each
    /// packet by 0–40 ms (seeded).
    fn play(&mut self, codec: &Codec, (pt, te_pt): (u8, u8), freq: f64, secs: f64, digit: u8, impair: bool) {
        let cfg = config(codec);
        let mut enc: Box<dyn AudioEncoder> = cfg.encoder(&EncoderOptions::default()).expect("encoder");
        let rate = enc.sample_rate();
        let pcm = tone(freq, rate, (f64::from(rate) * secs) as usize);
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 11) as f64 / (1u64 << 53) as f64
        };
        let ssrc = 0x5eed_0000 | u32::from(pt);
        let (mut seq, mut ts) = (1000u16, 90_000u32);
        for (i, frame) in pcm.chunks_exact(enc.frame_samples()).enumerate() {
            let mut payload = Vec::new();
            enc.encode(frame, &mut payload).expect("encode");
            let at = i as u64 * 20;
            let (lost, delay) = if impair { (rand() < 0.05 && i > 2, (rand() * 40.0) as u64) } else { (false, 0) };
            if !lost {
                self.plan.push((at + delay, rtp(pt, seq, ts, ssrc, i == 0, &payload)));
            }
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(enc.rtp_ticks_per_frame());
            if at == 1000 {
                // 100 ms of the digit on the telephone-event clock: two updates and three ends.
                let step = codec_te_ticks(codec, 50);
                for (k, end) in [(1u16, false), (2, false), (2, true), (2, true), (2, true)] {
                    let duration = (step * u32::from(k)) as u16;
                    let payload = [digit, if end { 0x80 | 10 } else { 10 }, (duration >> 8) as u8, duration as u8];
                    self.plan.push((at + u64::from(k) * 50, rtp(te_pt, seq, ts, ssrc, k == 1 && !end, &payload)));
                    seq = seq.wrapping_add(1);
                }
            }
        }
        self.plan.sort_by_key(|(t, _)| *t);
    }

    /// Sends what is due at `elapsed_ms` to `to`, and takes in what arrived.
    fn pump(&mut self, elapsed_ms: u64, to: SocketAddr) {
        while let Some((t, data)) = self.plan.get(self.next) {
            if *t > elapsed_ms {
                break;
            }
            let _ = self.sock.try_send_to(data, to);
            self.next += 1;
        }
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.sock.try_recv_from(&mut buf) {
            let d = &buf[..n];
            if n >= 12 && d[0] >> 6 == 2 && !(200..=207).contains(&d[1]) {
                self.got.push(Got {
                    at: Instant::now(),
                    pt: d[1] & 0x7f,
                    seq: u16::from_be_bytes([d[2], d[3]]),
                    ts: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                    payload: d[12..].to_vec(),
                });
            }
        }
    }

    fn done(&self) -> bool {
        self.next >= self.plan.len()
    }

    /// The audio received in payload type `pt`, decoded.
    fn decoded(&self, codec: &Codec, pt: u8) -> (Vec<i16>, u32) {
        let mut dec: Box<dyn AudioDecoder> = config(codec).decoder().expect("decoder");
        let mut pcm = Vec::new();
        for g in self.got.iter().filter(|g| g.pt == pt) {
            dec.decode(&g.payload, &mut pcm).expect("what ncgw sends decodes");
        }
        (pcm, dec.sample_rate())
    }

    /// The RFC 4733 events received on `pt`.
    fn digits(&self, pt: u8) -> Vec<u8> {
        let mut v: Vec<u8> = self.got.iter().filter(|g| g.pt == pt && !g.payload.is_empty()).map(|g| g.payload[0]).collect();
        v.dedup();
        v
    }
}

/// Telephone-event ticks in `ms` on this codec's telephone-event clock.
fn codec_te_ticks(codec: &Codec, ms: u32) -> u32 {
    codec.te_clock / 1000 * ms
}

/// A payload type of `what` (`PCMU/8000`, `telephone-event/8000` …) in an SDP text.
fn pt_in(sdp: &str, what: &str) -> Option<u8> {
    sdp.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("a=rtpmap:")?;
        let (pt, map) = rest.split_once(' ')?;
        map.eq_ignore_ascii_case(what).then(|| pt.parse().ok()).flatten()
    })
}

/// What one transcoded call gave each side.
struct Outcome {
    caller: Endpoint,
    callee: Endpoint,
    callee_pt: u8,
    callee_te: u8,
    started: Instant,
    cdr: Value,
    /// The node's Prometheus text after the call.
    metrics: String,
}

/// Caller `a` → ncgw → callee `b`: tones and digits both ways, the caller's leg impaired if
/// asked. The callee's payload types are read from the SIPp trace of the offer it received.
async fn transcoded_call(a: &Codec, b: &Codec, impair: bool) -> Outcome {
    let uas_port = free_port();
    let plan = format!("[[rule]]\nname = \"to-uas\"\nto = \"95555\"\nroute = \"sip:agent@127.0.0.1:{uas_port}\"\n");
    let node = TestNode::with_plan(&plan, |_| {}).await;
    let (mut caller, mut callee) = (Endpoint::bind().await, Endpoint::bind().await);
    let callee_port = callee.port().to_string();
    let scenario = format!("transcode/uas_answer_{}.xml", b.rtpmap.split('/').next().unwrap_or_default().to_ascii_lowercase());
    let uas = tokio::spawn(Sipp::at_port(None, &scenario, uas_port).args(&["-m", "1", "-key", "rtp_port", &callee_port]).run());
    wait_udp_bound(uas_port).await;
    let (pt, te_pt, te) = (a.pt.to_string(), a.te_pt.to_string(), a.te_clock.to_string());
    let caller_port = caller.port().to_string();
    let uac = tokio::spawn(
        Sipp::new(Some(node.sip), "transcode/uac_offer.xml")
            .args(&["-s", "95555", "-m", "1", "-d", "4500"])
            .args(&["-key", "rtp_port", &caller_port, "-key", "pt", &pt, "-key", "codec", a.rtpmap, "-key", "fmtp", a.fmtp])
            .args(&["-key", "te_pt", &te_pt, "-key", "te_clock", &te])
            .run(),
    );
    // Our media addresses toward each side, once the call is up.
    let admin = node.admin;
    let legs: Vec<Value> = wait_until("an answered call", Duration::from_secs(10), || async move {
        let (_, body) = super::harness::admin_get(admin, "/api/v1/calls").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        let id = v["calls"][0]["id"].as_str()?.to_owned();
        (v["calls"][0]["state"] == "confirmed").then_some(())?;
        let (_, body) = super::harness::admin_get(admin, &format!("/api/v1/calls/{id}")).await;
        let d: Value = serde_json::from_str(&body).ok()?;
        d["legs"].as_array().cloned()
    })
    .await;
    let media = |side: &str| -> SocketAddr {
        let l = legs.iter().find(|l| l["side"] == side).expect("both legs");
        l["local_media"].as_str().and_then(|s| s.parse().ok()).expect("a media address")
    };
    let (to_a, to_b) = (media("a"), media("b"));
    let callee_codec = legs.iter().find(|l| l["side"] == "b").and_then(|l| l["codec"].as_str()).unwrap_or_default().to_owned();
    assert!(b.rtpmap.to_ascii_lowercase().starts_with(&callee_codec.to_ascii_lowercase()), "the callee's codec: {callee_codec}");

    // The callee answered with the payload types of our offer: take them from its B-leg SDP.
    let (callee_pt, callee_te) = callee_pts(a, b);
    caller.play(a, (a.pt, a.te_pt), 1000.0, 2.5, 1, impair);
    callee.play(b, (callee_pt, callee_te), 600.0, 2.5, 9, false);
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    while started.elapsed() < Duration::from_millis(3200) || !(caller.done() && callee.done()) {
        tick.tick().await;
        let ms = started.elapsed().as_millis() as u64;
        caller.pump(ms, to_a);
        callee.pump(ms, to_b);
        assert!(ms < 10_000, "streaming took too long");
    }
    let (uac, uas) = (uac.await.expect("caller task"), uas.await.expect("callee task"));
    uac.assert_ok();
    uas.assert_ok();
    let cdr = node.cdrs(1).await.remove(0);
    let (_, metrics) = super::harness::admin_get(node.admin, "/metrics").await;
    node.stop().await;
    Outcome { caller, callee, callee_pt, callee_te, started, cdr, metrics }
}

/// The callee's payload types for its codec and telephone-event in the offer ncgw sends it
/// for caller codec `a` (built by the same offer code; the SIPp callee picks the same ones).
fn callee_pts(a: &Codec, b: &Codec) -> (u8, u8) {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP {} {}\r\na=rtpmap:{} {}\r\na=fmtp:{} {}\r\na=rtpmap:{} telephone-event/{}\r\n",
        a.pt, a.te_pt, a.pt, a.rtpmap, a.pt, a.fmtp, a.te_pt, a.te_clock
    );
    let mut offer = ncgw::sip::sdp::SessionDescription::parse(sdp.as_bytes()).expect("offer parses");
    ncgw::b2bua::negotiate::extend_offer(&mut offer.media[0]);
    let text = offer.to_string();
    let pt = pt_in(&text, b.rtpmap).expect("our offer carries the callee's codec");
    let te = pt_in(&text, &format!("telephone-event/{}", b.te_clock)).expect("and its telephone-event");
    (pt, te)
}

/// Checks one side's audio: mostly there, at `freq`, and the other side's digit.
fn assert_heard(who: &str, e: &Endpoint, codec: &Codec, pt: u8, te_pt: u8, freq: f64, digit: u8) {
    let (pcm, rate) = e.decoded(codec, pt);
    assert!(pcm.len() as f64 >= f64::from(rate) * 2.0, "{who}: {} samples of audio, expected about 2.5 s", pcm.len());
    let window = &pcm[pcm.len() / 3..pcm.len() / 3 + rate as usize / 2];
    let f = dominant(window, rate);
    assert!((f - freq).abs() <= 20.0, "{who} heard {f} Hz, expected {freq} Hz");
    let digits = e.digits(te_pt);
    assert_eq!(digits, vec![digit], "{who}: RFC 4733 digits received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amr_wb_caller_and_g711_callee_hear_each_other_and_digits_cross() {
    let o = transcoded_call(&AMR_WB, &PCMU, false).await;
    assert_heard("the G.711 callee", &o.callee, &PCMU, o.callee_pt, o.callee_te, 1000.0, 1);
    assert_heard("the AMR-WB caller", &o.caller, &AMR_WB, AMR_WB.pt, AMR_WB.te_pt, 600.0, 9);
    let legs = o.cdr["media"].as_array().cloned().unwrap_or_default();
    let codecs: Vec<&str> = legs.iter().filter_map(|l| l["codec"].as_str()).collect();
    assert_eq!(codecs, ["AMR-WB/16000", "PCMU/8000"], "{}", o.cdr);
    // The per-frame cost of each direction and the transcoded call are in the metrics.
    for needle in ["ncgw_transcode_frame_seconds_count{pair=\"amr-wb>pcmu\"}", "ncgw_transcode_frame_seconds_count{pair=\"pcmu>amr-wb\"}", "ncgw_transcoded_calls_total{pair=\"amr-wb>pcmu\"}"] {
        assert!(o.metrics.contains(needle), "{needle} missing from the metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amr_nb_caller_and_opus_callee_hear_each_other_and_digits_cross() {
    let o = transcoded_call(&AMR_NB, &OPUS, false).await;
    assert_heard("the Opus callee", &o.callee, &OPUS, o.callee_pt, o.callee_te, 1000.0, 1);
    assert_heard("the AMR-NB caller", &o.caller, &AMR_NB, AMR_NB.pt, AMR_NB.te_pt, 600.0, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_and_jitter_on_the_caller_leg_still_give_continuous_audio() {
    let o = transcoded_call(&AMR_WB, &PCMU, true).await;
    assert_heard("the G.711 callee", &o.callee, &PCMU, o.callee_pt, o.callee_te, 1000.0, 1);
    let audio: Vec<&Got> = o.callee.got.iter().filter(|g| g.pt == o.callee_pt).collect();
    // Continuous: every 20 ms of RTP time has a packet (concealment fills the losses).
    for w in audio.windows(2) {
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts), 160, "no timestamp gap: one frame at a time");
    }
    // Audio and the translated digit share one sequence space, with no hole.
    for w in o.callee.got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "no sequence gap");
    }
    // Bounded delay: packet k leaves no later than frame k was due at the caller + 300 ms.
    let worst = audio.iter().enumerate().map(|(k, g)| g.at.saturating_duration_since(o.started + Duration::from_millis(20 * k as u64))).max().unwrap_or_default();
    assert!(worst <= Duration::from_millis(300), "jitter-buffer delay {worst:?}");
    let gaps = audio.windows(2).map(|w| w[1].at.duration_since(w[0].at)).max().unwrap_or_default();
    assert!(gaps <= Duration::from_millis(100), "largest arrival gap {gaps:?}");
    eprintln!("5% loss + 40 ms jitter: {} audio packets out, worst delay {worst:?}, largest arrival gap {gaps:?}", audio.len());
}
