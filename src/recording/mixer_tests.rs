//! Timeline tests: placement by timestamp, silence for gaps, both channels, segment cutting.
use std::time::Duration;

use super::*;
use crate::media::codec::{G711Encoder, G711Law};
use crate::media::codec::AudioEncoder;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An RTP packet of 20 ms PCMA carrying a constant level.
fn pcma(seq: u16, ts: u32, ssrc: u32, level: i16) -> Vec<u8> {
    let mut enc = G711Encoder::new(G711Law::A, 20).unwrap();
    let mut payload = Vec::new();
    enc.encode(&[level; 160], &mut payload).unwrap();
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&payload);
    p
}

fn frames(blocks: &[Block]) -> Vec<[i16; 2]> {
    blocks.iter().flat_map(|b| b.pcm.chunks(2).map(|c| [c[0], c[1]])).collect()
}

#[test]
fn two_sides_land_on_their_channels_at_their_time() {
    let mut m = Mixer::new(Duration::from_secs(1), ms(200));
    // Customer from 0 ms, agent from 500 ms; 1 s each.
    for i in 0..50u32 {
        m.push(Track::audio(0), ms(u64::from(i) * 20), &pcma(i as u16, 1000 + i * 160, 1, 1000), 0);
        m.push(Track::audio(1), ms(500 + u64::from(i) * 20), &pcma(i as u16, 9000 + i * 160, 2, -2000), 0);
    }
    assert!(m.poll(ms(1100)).is_none(), "not yet past the margin");
    let b0 = m.poll(ms(1200)).expect("first second");
    assert_eq!((b0.index, b0.start_sample, b0.frames()), (0, 0, 8000));
    let mut blocks = vec![b0];
    blocks.extend(m.finish(ms(2000)));
    let f = frames(&blocks);
    assert_eq!(f.len(), 16000, "timeline = 2 s");
    assert!((f[100][0] - 1000).abs() < 40 && f[100][1] == 0);
    assert!((f[5000][1] + 2000).abs() < 80, "agent at 0.625 s: {:?}", f[5000]);
    assert_eq!(f[8100][0], 0, "customer stopped at 1 s");
    assert!((f[11000][1] + 2000).abs() < 80);
    assert_eq!(f[13000], [0, 0]);
    assert_eq!(m.stats().decoded, 100);
}

#[test]
fn timestamps_not_arrival_jitter_place_audio() {
    let mut m = Mixer::new(Duration::from_secs(2), ms(0));
    // Packet 1 arrives late (jitter) but its timestamp puts it right after packet 0.
    m.push(Track::audio(0), ms(0), &pcma(0, 0, 7, 500), 0);
    m.push(Track::audio(0), ms(45), &pcma(1, 160, 7, 900), 0);
    // Silence suppression: the next packet comes 400 ms of timestamps later.
    m.push(Track::audio(0), ms(420), &pcma(2, 160 + 3200, 7, 700), 0);
    let f = frames(&m.finish(ms(1000)));
    assert!((f[170][0] - 900).abs() < 40, "second packet at 20 ms");
    assert_eq!(f[400][0], 0, "nothing between 40 and 420 ms");
    assert!((f[160 + 3200 + 10][0] - 700).abs() < 40);
    assert_eq!(f.len(), 8000);
}

#[test]
fn new_ssrc_or_wild_timestamp_reanchors_on_arrival() {
    let mut m = Mixer::new(Duration::from_secs(5), ms(0));
    m.push(Track::audio(1), ms(0), &pcma(0, 0, 1, 300), 0);
    m.push(Track::audio(1), ms(1000), &pcma(1, 4_000_000, 1, 300), 0);
    m.push(Track::audio(1), ms(2000), &pcma(0, 77, 2, 300), 0);
    let f = frames(&m.finish(ms(3000)));
    assert_ne!(f[8000 + 10][1], 0);
    assert_ne!(f[16000 + 10][1], 0);
}

#[test]
fn drops_become_gaps_and_unknown_codecs_are_kept_raw() {
    let mut m = Mixer::new(Duration::from_secs(1), ms(0));
    m.push(Track::audio(0), ms(0), &pcma(0, 0, 1, 300), 0);
    m.push(Track::audio(0), ms(600), &pcma(30, 4800, 1, 300), 29);
    let mut raw = pcma(1, 160, 5, 0);
    raw[1] = 111;
    m.push(Track::audio(1), ms(20), &raw, 0);
    m.push(Track::audio(1), ms(20), &[1, 2, 3], 0);
    assert_eq!(m.gaps(), &[Gap { track: "customer".into(), from_ms: 0, to_ms: 600, packets: 29 }]);
    let blocks = m.finish(ms(1500));
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1].frames(), 4000);
    assert_eq!(blocks[0].raw.len(), 1);
    assert_eq!((blocks[0].raw[0].side, blocks[0].raw[0].payload_type, blocks[0].raw[0].position), (1, 111, 160));
    let s = m.stats();
    assert_eq!((s.dropped, s.raw, s.malformed), (29, 1, 1));
}

#[test]
fn late_packets_for_sealed_blocks_are_counted() {
    let mut m = Mixer::new(Duration::from_secs(1), ms(0));
    m.push(Track::audio(0), ms(0), &pcma(0, 0, 1, 300), 0);
    assert!(m.poll(ms(1000)).is_some());
    m.push(Track::audio(0), ms(1010), &pcma(1, 160, 1, 300), 0);
    assert_eq!(m.stats().late, 1);
    assert!(m.finish(ms(0)).is_empty());
}

#[test]
fn dynamic_payload_types_from_the_sdp_are_decoded() {
    use crate::media::codec::{CodecConfig, EncoderOptions};
    let sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 96 101 0\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\n";
    let sdp = crate::sip::sdp::SessionDescription::parse(sdp.as_bytes()).unwrap();
    let codecs = codecs_of(&sdp, 0);
    let pts: Vec<u8> = codecs.iter().map(|(pt, _)| *pt).collect();
    assert_eq!(pts, vec![96, 0], "telephone-event is not audio");
    assert!(codecs_of(&sdp, 3).is_empty());
    let opus = CodecConfig::from_sdp("opus", 48000, Some(2), &[]).unwrap();
    let mut enc = opus.encoder(&EncoderOptions { ptime_ms: 20, ..EncoderOptions::default() }).unwrap();
    let mut m = Mixer::new(Duration::from_secs(1), ms(0));
    for (pt, c) in codecs {
        m.set_codec(1, pt, c);
    }
    for i in 0..25u32 {
        let pcm: Vec<i16> = (0..960).map(|n| ((f64::from(i * 960 + n) * 2.0 * std::f64::consts::PI * 440.0 / 48000.0).sin() * 8000.0) as i16).collect();
        let mut payload = Vec::new();
        enc.encode(&pcm, &mut payload).unwrap();
        let mut p = vec![0x80, 96];
        p.extend_from_slice(&(i as u16).to_be_bytes());
        p.extend_from_slice(&(i * 960).to_be_bytes());
        p.extend_from_slice(&9u32.to_be_bytes());
        p.extend_from_slice(&payload);
        m.push(Track::audio(1), ms(u64::from(i) * 20), &p, 0);
        if i == 0 {
            // The customer's leg did not announce 96 (a transcoded call): kept raw, not decoded.
            m.push(Track::audio(0), ms(0), &p, 0);
        }
    }
    let f = frames(&m.finish(ms(1000)));
    let energy: i64 = f[1000..3000].iter().map(|s| i64::from(s[1]).abs()).sum();
    assert!(energy / 2000 > 1000, "Opus decoded into the agent channel: mean {}", energy / 2000);
    assert_eq!(m.stats().raw, 1, "only the customer-side packet stays raw");
}
