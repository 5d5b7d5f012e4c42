//! The pipeline on a virtual clock: tones through every codec pair with loss and jitter, RFC 4733
//! across clock rates, and in-band DTMF turned into events.

use std::time::{Duration, Instant};

use super::dtmf::synthesize;
use super::pipeline::{Direction, DirectionOptions, DirectionStats};
use super::plan::LegFormat;
use super::test_util::{dominant_frequency, rms, tone, Rng};
use crate::media::codec::{CodecConfig, EncoderOptions};
use crate::media::rtp::{RtpPacket, TelephoneEvent};
use crate::testing::epoch;

const MS: Duration = Duration::from_millis(1);

fn leg(name: &str, clock: u32, pt: u8, ptime_ms: u32, fmtp: &[(&str, &str)], te: Option<(u8, u32)>) -> LegFormat {
    let channels = (name == "opus").then_some(2);
    let fmtp: Vec<(String, String)> = fmtp.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LegFormat { pt, config: CodecConfig::from_sdp(name, clock, channels, &fmtp).unwrap(), ptime_ms, telephone_event: te }
}

/// What leg X sends: RTP packets with their send time in ms.
struct Sent(Vec<(u32, Vec<u8>)>);

/// Encodes `pcm` (at the input codec's rate) into RTP packets of `input`.
fn encode_input(input: &LegFormat, pcm: &[i16]) -> Sent {
    let mut enc = input.config.encoder(&EncoderOptions { ptime_ms: input.ptime_ms, ..Default::default() }).unwrap();
    let mut out = Vec::new();
    let (mut seq, mut ts) = (40_000u16, 4_000_000_000u32);
    for (i, frame) in pcm.chunks_exact(enc.frame_samples()).enumerate() {
        let mut payload = Vec::new();
        if enc.encode(frame, &mut payload).unwrap() > 0 {
            out.push((i as u32 * input.ptime_ms, crate::media::testpkt::rtp(input.pt, seq, ts, 0xabc, i == 0, &payload)));
            seq = seq.wrapping_add(1);
        }
        ts = ts.wrapping_add(enc.rtp_ticks_per_frame());
    }
    Sent(out)
}

/// Output datagrams with the virtual ms they came out at, and the direction's stats.
struct Received {
    packets: Vec<(u32, Vec<u8>)>,
    stats: DirectionStats,
}

/// Sends through a direction with `loss` (0..1) and uniform `jitter_ms`, stepping 1 ms.
fn drive(input: &LegFormat, output: &LegFormat, sent: Sent, loss: f64, jitter_ms: u32, seed: u64) -> Received {
    let mut dir = Direction::new(input, output, &DirectionOptions::new(0x5151, 1000, 77)).unwrap();
    let mut rng = Rng::new(seed);
    let mut arrivals: Vec<(u32, Vec<u8>)> = Vec::new();
    for (t, p) in sent.0 {
        let (lost, delay) = (rng.unit() < loss, rng.unit() * f64::from(jitter_ms));
        if !lost {
            arrivals.push((t + delay as u32, p));
        }
    }
    arrivals.sort_by_key(|(t, _)| *t);
    let end = arrivals.last().map_or(0, |(t, _)| *t) + 100;
    let t0: Instant = epoch();
    let mut packets = Vec::new();
    let mut next = 0;
    for ms in 0..end {
        let now = t0 + MS * ms;
        while next < arrivals.len() && arrivals[next].0 <= ms {
            dir.handle_packet(now, &arrivals[next].1).unwrap();
            next += 1;
        }
        if dir.poll_timeout().is_some_and(|t| t <= now) {
            while let Some(p) = dir.poll_output(now) {
                packets.push((ms, p));
            }
        }
    }
    Received { packets, stats: dir.stats() }
}

/// Checks the output stream and returns its decoded audio.
fn check_stream(output: &LegFormat, got: &Received) -> Vec<i16> {
    let mut dec = output.config.decoder().unwrap();
    let enc = output.config.encoder(&EncoderOptions { ptime_ms: output.ptime_ms, ..Default::default() }).unwrap();
    let ticks = enc.rtp_ticks_per_frame();
    let mut pcm = Vec::new();
    let mut last: Option<(u32, u32)> = None;
    let mut seq = 1000u16;
    for (ms, data) in &got.packets {
        let p = RtpPacket::parse(data).unwrap();
        assert_eq!(p.ssrc(), 0x5151);
        assert_eq!(p.sequence(), seq, "sequence numbers continuous over audio and events");
        seq = seq.wrapping_add(1);
        if p.payload_type() != output.pt {
            continue;
        }
        if let Some((last_ms, last_ts)) = last {
            assert_eq!(p.timestamp(), last_ts.wrapping_add(ticks), "timestamps continuous");
            assert!(ms - last_ms <= output.ptime_ms + 1, "a gap of {} ms at {ms} ms", ms - last_ms);
        } else {
            assert!(p.marker(), "the first packet starts a talkspurt");
            assert_eq!((p.sequence(), p.timestamp()), (1000, 77));
        }
        last = Some((*ms, p.timestamp()));
        dec.decode(p.payload(), &mut pcm).unwrap();
    }
    pcm
}

/// After the first 300 ms the tone is at 1 kHz with no audio gap longer than one 20 ms block.
///
fn check_tone(pcm: &[i16], rate: u32, what: &str) {
    let block = rate as usize / 50;
    let steady = &pcm[(rate as usize * 3 / 10).min(pcm.len())..pcm.len().saturating_sub(block * 5)];
    assert!(steady.len() > rate as usize, "{what}: only {} samples", steady.len());
    let level = rms(steady);
    let levels: Vec<f64> = steady.chunks_exact(block).map(rms).collect();
    // No gap longer than one frame: never two blocks in a row below 10 % of the level (a
    // concealed frame re-encoded by another codec can dip alone; measured dips stay above 10 %).
    for (i, pair) in levels.windows(2).enumerate() {
        let quiet = pair.iter().filter(|&&l| l < level * 0.1).count();
        assert!(quiet < 2, "{what}: blocks {i}, {} are nearly silent ({pair:?} vs {level:.0})", i + 1);
    }
    let dips = levels.iter().filter(|&&l| l < level * 0.2).count();
    assert!(dips <= 3, "{what}: {dips} blocks below 20 % of the level");
    let f = dominant_frequency(&steady[..rate as usize / 5], rate);
    assert!((f - 1000.0).abs() <= 10.0, "{what}: {f} Hz");
    let f = dominant_frequency(&steady[steady.len() - rate as usize / 5..], rate);
    assert!((f - 1000.0).abs() <= 10.0, "{what}: {f} Hz at the end");
}

fn tone_through(input: &LegFormat, output: &LegFormat, loss: f64, jitter_ms: u32) -> DirectionStats {
    let rate = input.config.kind.sample_rate();
    let pcm = tone(1000.0, rate, rate as usize * 3, 0.3);
    let seed = 42 + u64::from(input.pt) * 131 + u64::from(output.pt) + u64::from(output.ptime_ms);
    let got = drive(input, output, encode_input(input, &pcm), loss, jitter_ms, seed);
    let out = check_stream(output, &got);
    let what = format!("{:?}/{} -> {:?}/{}", input.config.kind, input.ptime_ms, output.config.kind, output.ptime_ms);
    check_tone(&out, output.config.kind.sample_rate(), &what);
    let j = &got.stats.jitter;
    eprintln!(
        "{what} loss {loss} jitter {jitter_ms} ms: concealed {} (FEC {}), late {}, stretched {}, skipped {}, delay p50 {} p99 {} max {} ms",
        got.stats.concealed, got.stats.fec_used, j.late, j.stretched, j.skipped, j.delay_p50_ms, j.delay_p99_ms, j.delay_max_ms
    );
    // The bound: the configured 200 ms maximum; with 40 ms of jitter the buffer stays near 60 ms.
    assert!(j.delay_max_ms <= 200 && j.delay_p99_ms <= 100, "{what}: {j:?}");
    got.stats
}

fn amr_wb() -> LegFormat {
    leg("AMR-WB", 16000, 97, 20, &[("octet-align", "1")], None)
}
fn amr() -> LegFormat {
    leg("AMR", 8000, 96, 20, &[], None)
}
fn opus() -> LegFormat {
    leg("opus", 48000, 111, 20, &[("useinbandfec", "1")], None)
}
fn pcmu(ptime: u32) -> LegFormat {
    leg("PCMU", 8000, 0, ptime, &[], None)
}

#[test]
fn clean_tones_come_out_at_1khz_for_every_pair() {
    for (a, b) in [(amr_wb(), opus()), (opus(), amr_wb()), (amr(), opus()), (pcmu(20), opus()), (amr_wb(), pcmu(20)), (pcmu(20), pcmu(40))] {
        let s = tone_through(&a, &b, 0.0, 0);
        // Every packet decoded; the only losses are after the stream ends.
        assert_eq!((s.decoded, s.jitter.late, s.jitter.stretched), (150, 0, 0), "{s:?}");
    }
}

#[test]
fn loss_and_jitter_leave_the_output_continuous_amr_wb_opus() {
    let s = tone_through(&amr_wb(), &opus(), 0.05, 40);
    assert!(s.concealed > 0 && s.decoded > 100, "{s:?}");
}

#[test]
fn loss_and_jitter_leave_the_output_continuous_opus_amr_wb_with_fec() {
    let s = tone_through(&opus(), &amr_wb(), 0.05, 40);
    assert!(s.fec_used > 0, "{s:?}");
}

#[test]
fn loss_and_jitter_leave_the_output_continuous_narrow_band() {
    tone_through(&amr(), &opus(), 0.05, 40);
    tone_through(&pcmu(20), &opus(), 0.05, 40);
    tone_through(&amr_wb(), &pcmu(20), 0.05, 40);
    // 20 ms in, 40 ms out: one output packet per two input frames.
    let s = tone_through(&pcmu(20), &leg("PCMA", 8000, 8, 40, &[], None), 0.05, 40);
    assert!(s.packets_out * 2 <= s.decoded + s.concealed + 2, "{s:?}");
}

/// RFC 4733 packets of one event: (event code, start timestamp, duration, end).
fn events(received: &Received, pt: u8) -> Vec<(u32, bool, TelephoneEvent)> {
    received
        .packets
        .iter()
        .filter_map(|(_, d)| RtpPacket::parse(d).ok().filter(|p| p.payload_type() == pt))
        .map(|p| (p.timestamp(), p.marker(), TelephoneEvent::parse(p.payload()).unwrap()))
        .collect()
}

#[test]
fn rfc4733_digits_from_amr_wb_arrive_at_48khz_on_opus() {
    let input = leg("AMR-WB", 16000, 97, 20, &[], Some((100, 16000)));
    let output = leg("opus", 48000, 111, 20, &[], Some((101, 48000)));
    let pcm = tone(1000.0, 16000, 16000 * 6, 0.2);
    let mut sent = encode_input(&input, &pcm);
    // 12 digits, 100 ms each (1600 ticks at 16 kHz), one every 300 ms from 500 ms on.
    let codes: Vec<u8> = (0..12).collect();
    for (k, &code) in codes.iter().enumerate() {
        let start_ms = 500 + 300 * k as u32;
        let ts = 4_000_000_000u32.wrapping_add(start_ms * 16);
        let mut seq = 60_000u16.wrapping_add(10 * k as u16);
        for step in 1..=8u32 {
            let end = step >= 6;
            let duration = (step.min(5) * 320) as u16;
            let payload = [code, if end { 0x80 | 10 } else { 10 }, (duration >> 8) as u8, duration as u8];
            let pkt = crate::media::testpkt::rtp(100, seq, ts, 0xabc, step == 1, &payload);
            sent.0.push((start_ms + 20 * step.min(5), pkt));
            seq = seq.wrapping_add(1);
        }
    }
    sent.0.sort_by_key(|(t, _)| *t);
    let got = drive(&input, &output, sent, 0.0, 0, 1);
    check_stream(&output, &got);
    let evs = events(&got, 101);
    let starts: Vec<u32> = {
        let mut s: Vec<u32> = evs.iter().map(|e| e.0).collect();
        s.dedup();
        s
    };
    assert_eq!(starts.len(), 12, "{evs:?}");
    for (k, start) in starts.iter().enumerate() {
        let of: Vec<_> = evs.iter().filter(|e| e.0 == *start).collect();
        assert!(of[0].1 && of[1..].iter().all(|e| !e.1), "marker on the first packet only");
        assert!(of.iter().all(|e| e.2.event == codes[k]));
        let ends: Vec<_> = of.iter().filter(|e| e.2.end).collect();
        assert_eq!(ends.len(), 3, "end sent three times");
        assert!(ends.iter().all(|e| e.2.duration == 4800), "100 ms at 48 kHz: {ends:?}");
    }
    // Event starts sit on the output's 48 kHz timeline, 300 ms (14 400 ticks) apart.
    for w in starts.windows(2) {
        assert_eq!(w[1].wrapping_sub(w[0]), 14_400);
    }
    assert_eq!(got.stats.events_in, 12);
}

#[test]
fn inband_digits_on_a_leg_without_telephone_event_become_events() {
    let input = pcmu(20);
    let output = leg("opus", 48000, 111, 20, &[], Some((101, 48000)));
    let digits = [1u8, 5, 9, 0, 11, 10];
    let mut pcm = vec![0i16; 1600];
    for &d in &digits {
        synthesize(d, 8000, 0, 960, 0.25, &mut pcm); // 120 ms
        pcm.resize(pcm.len() + 800, 0);
    }
    let got = drive(&input, &output, encode_input(&input, &pcm), 0.0, 0, 1);
    check_stream(&output, &got);
    let evs = events(&got, 101);
    let mut found: Vec<u8> = evs.iter().filter(|e| e.1).map(|e| e.2.event).collect();
    found.dedup();
    assert_eq!(found, digits);
    assert_eq!(evs.iter().filter(|e| e.2.end).count(), 3 * digits.len());
    assert_eq!(got.stats.digits_detected, digits.len() as u64);
}



#[test]
fn garbage_and_oversized_packets_do_not_stop_or_bloat_the_pipeline() {
    let input = opus();
    let output = pcmu(20);
    let mut dir = Direction::new(&input, &output, &DirectionOptions::new(1, 0, 0)).unwrap();
    let t0 = epoch();
    // A 120 ms Opus packet every 20 ms of timestamps, a malformed payload, a stray payload type.
    let mut enc = input.config.encoder(&EncoderOptions { ptime_ms: 60, ..Default::default() }).unwrap();
    let mut long = Vec::new();
    enc.encode(&tone(1000.0, 48000, 2880, 0.3), &mut long).unwrap();
    let mut sent = 0;
    for i in 0..200u32 {
        let now = t0 + MS * (20 * i);
        let payload: &[u8] = if i % 7 == 3 { &[0xff, 0xff, 0xff] } else { &long };
        dir.handle_packet(now, &crate::media::testpkt::rtp(111, i as u16, i * 960, 9, false, payload)).unwrap();
        assert!(dir.handle_packet(now, &crate::media::testpkt::rtp(55, i as u16, 0, 9, false, &[1])).is_err());
        assert!(dir.handle_packet(now, &[0x80, 1]).is_err());
        while dir.poll_output(now).is_some() {
            sent += 1;
        }
    }
    let s = dir.stats();
    assert!(s.decode_errors > 0 && s.pcm_dropped_ms > 0 && s.unknown_pt == 200, "{s:?}");
    // Output keeps its cadence: about one packet per 20 ms, not three.
    assert!((190..=260).contains(&sent), "{sent} packets");
}

#[test]
fn rfc4733_digits_toward_a_leg_without_telephone_event_are_played_in_band() {
    let input = leg("opus", 48000, 111, 20, &[], Some((101, 48000)));
    let output = pcmu(20);
    let mut sent = encode_input(&input, &vec![0i16; 48000 * 3]);
    let digits = [3u8, 8, 11, 0];
    for (k, &code) in digits.iter().enumerate() {
        let start_ms = 400 + 500 * k as u32;
        let ts = 4_000_000_000u32.wrapping_add(start_ms * 48);
        for step in 1..=9u32 {
            let end = step >= 7;
            let duration = (step.min(6) * 960) as u16;
            let payload = [code, if end { 0x80 | 10 } else { 10 }, (duration >> 8) as u8, duration as u8];
            let seq = 30_000u16.wrapping_add((10 * k as u32 + step) as u16);
            sent.0.push((start_ms + 20 * step.min(6), crate::media::testpkt::rtp(101, seq, ts, 0xabc, step == 1, &payload)));
        }
    }
    sent.0.sort_by_key(|(t, _)| *t);
    let got = drive(&input, &output, sent, 0.0, 0, 1);
    let pcm = check_stream(&output, &got);
    let mut d = super::dtmf::DtmfDetector::new(8000);
    let mut found = Vec::new();
    let mut last = None;
    for block in pcm.chunks(160) {
        let now = d.process(block);
        if now.is_some() && now != last {
            found.extend(now);
        }
        last = now;
    }
    assert_eq!(found, digits);
    assert_eq!(got.stats.events_in, 4);
}

#[test]
fn a_quiet_input_stops_the_output_and_resuming_skips_the_pause_in_timestamps() {
    let (a, b) = (leg("PCMU", 8000, 0, 20, &[], None), leg("PCMA", 8000, 8, 20, &[], None));
    let mut dir = Direction::new(&a, &b, &DirectionOptions::new(0x5151, 1000, 0)).unwrap();
    let t0: Instant = epoch();
    let sent = encode_input(&a, &tone(1000.0, 8000, 8000, 0.3)).0;
    let (mut out, mut last_ms) = (Vec::new(), 0);
    for ms in 0..3000u32 {
        let now = t0 + MS * ms;
        // 10 packets, 2 s of nothing, then the rest with timestamps that skip the pause.
        if ms % 20 == 0 && !(200..2200).contains(&ms) {
            let i = if ms < 200 { ms / 20 } else { 10 + (ms - 2200) / 20 };
            if let Some((_, p)) = sent.get(i as usize) {
                dir.handle_packet(now, p).unwrap();
            }
        }
        while let Some(p) = dir.poll_output(now) {
            out.push((ms, RtpPacket::parse(&p).unwrap().timestamp(), RtpPacket::parse(&p).unwrap().marker()));
            last_ms = ms;
        }
        if (1500..2200).contains(&ms) {
            assert!(dir.poll_timeout().is_none(), "nothing scheduled while the input is quiet ({ms} ms)");
        }
    }
    let quiet_at = out.iter().take_while(|(ms, _, _)| *ms < 1500).last().unwrap().0;
    assert!(quiet_at <= 200 + 20 * 25 + 100, "the output stopped at {quiet_at} ms");
    let resumed = out.iter().position(|(ms, _, _)| *ms >= 2200).unwrap();
    let (ms, ts, marker) = out[resumed];
    assert!(marker, "the first packet after the pause starts a talkspurt");
    let (prev_ms, prev, _) = out[resumed - 1];
    let skipped = i64::from(ts.wrapping_sub(prev));
    let wall = i64::from(ms - prev_ms) * 8;
    assert!(skipped % 160 == 0 && (skipped - wall).abs() <= 3 * 160, "the timestamps skip the pause: {skipped} ticks over {wall}");
    assert!(last_ms > 2800);
}
