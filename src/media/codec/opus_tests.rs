//! Tests of the Opus encoder and decoder: tone, speech, DTX, FEC recovery, garbage.

use super::super::test_signal::{self, best_correlation, dominant_frequency, rms};
use super::*;

fn params(fec: bool, dtx: bool) -> OpusParams {
    OpusParams { use_inband_fec: fec, use_dtx: dtx, ..OpusParams::default() }
}

fn encode_all(enc: &mut OpusEncoder, input: &[i16]) -> Vec<Vec<u8>> {
    input
        .chunks_exact(960)
        .map(|frame| {
            let mut p = Vec::new();
            enc.encode(frame, &mut p).unwrap();
            p
        })
        .collect()
}

#[test]
fn tone_round_trip() {
    let tone = test_signal::tone(1000.0, 48_000, 48_000, 0.5);
    let mut enc = OpusEncoder::new(&params(false, false), &EncoderOptions::default()).unwrap();
    let mut dec = OpusDecoder::new(1).unwrap();
    let mut out = Vec::new();
    for p in encode_all(&mut enc, &tone) {
        assert!(p.len() > 10 && p.len() < 200, "packet of {} bytes", p.len());
        assert_eq!(dec.decode(&p, &mut out).unwrap(), 960);
    }
    let f = dominant_frequency(&out[9_600..], 48_000);
    assert!((f - 1000.0).abs() <= 20.0, "dominant frequency {f} Hz");
    let (c, lag) = best_correlation(&tone[..40_000], &out, 2_000);
    eprintln!("opus tone: dominant {f} Hz, correlation {c:.3} at lag {lag}");
    assert!(c > 0.99, "tone correlation {c:.3} at lag {lag}");
}

#[test]
fn speech_round_trip() {
    let Some(speech) = test_signal::speech(48_000) else { return };
    let mut enc = OpusEncoder::new(&params(true, false), &EncoderOptions::default()).unwrap();
    let mut dec = OpusDecoder::new(1).unwrap();
    let mut out = Vec::new();
    for p in encode_all(&mut enc, &speech) {
        dec.decode(&p, &mut out).unwrap();
    }
    let (c, lag) = best_correlation(&speech[..speech.len() - 4_800], &out, 2_000);
    eprintln!("opus speech: correlation {c:.3} at lag {lag}");
    assert!(c > 0.88, "speech correlation {c:.3} at lag {lag}");
}

#[test]
fn dtx_sends_nothing_in_silence() {
    let mut enc = OpusEncoder::new(&params(false, true), &EncoderOptions::default()).unwrap();
    let silence = vec![0i16; 960 * 50];
    let sizes: Vec<usize> = encode_all(&mut enc, &silence).iter().map(Vec::len).collect();
    assert!(sizes.iter().filter(|&&n| n == 0).count() > 30, "sizes {sizes:?}");
}

#[test]
fn fec_rebuilds_a_lost_packet_better_than_plc() {
    let Some(speech) = test_signal::speech(48_000) else { return };
    let mut enc = OpusEncoder::new(&params(true, false), &EncoderOptions::default()).unwrap();
    enc.set_expected_loss(20);
    let packets = encode_all(&mut enc, &speech);
    // Lose several voiced packets, one at a time, and compare both recoveries with no loss.
    let mut reference = OpusDecoder::new(1).unwrap();
    let mut clean = Vec::new();
    for p in &packets {
        reference.decode(p, &mut clean).unwrap();
    }
    let (mut fec_err, mut plc_err) = (0.0, 0.0);
    for lost in (20..packets.len() - 1).step_by(9) {
        let want = &clean[lost * 960..(lost + 1) * 960];
        if rms(want) < 500.0 {
            continue;
        }
        for use_fec in [true, false] {
            let mut dec = OpusDecoder::new(1).unwrap();
            let mut out = Vec::new();
            for p in &packets[..lost] {
                dec.decode(p, &mut out).unwrap();
            }
            let start = out.len();
            let n = if use_fec {
                dec.conceal_from_next(&packets[lost + 1], &mut out).unwrap()
            } else {
                dec.conceal(&mut out).unwrap()
            };
            assert_eq!(n, 960);
            let got = &out[start..];
            assert!(got.iter().any(|&s| s != 0));
            let err: f64 = want.iter().zip(got).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
            if use_fec {
                fec_err += err
            } else {
                plc_err += err
            }
        }
    }
    eprintln!("opus loss: squared error FEC {fec_err:.3e}, PLC {plc_err:.3e}");
    assert!(fec_err < plc_err, "FEC error {fec_err:.3e} not below PLC error {plc_err:.3e}");
}

#[test]
fn garbage_is_an_error() {
    let mut dec = OpusDecoder::new(1).unwrap();
    let mut out = Vec::new();
    assert!(dec.decode(&[], &mut out).is_err());
    // TOC code 3 (arbitrary frame count) with a frame count of 0 is invalid.
    assert!(matches!(dec.decode(&[0x03, 0x00], &mut out), Err(CodecError::MalformedPayload { .. })));
    // Code 3 claiming 48 frames of 60 ms exceeds 120 ms.
    assert!(dec.decode(&[0x1B, 0x30, 0, 0], &mut out).is_err());
    let mut seed = 1u32;
    for len in 1..300 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 24) as u8
            })
            .collect();
        let _ = dec.decode(&bytes, &mut out);
    }
    let mut lost = Vec::new();
    assert_eq!(dec.conceal(&mut lost).unwrap(), lost.len());
}

#[test]
fn wrong_frame_length_and_ptime() {
    let mut enc = OpusEncoder::new(&params(false, false), &EncoderOptions::default()).unwrap();
    assert!(matches!(enc.encode(&[0; 100], &mut Vec::new()), Err(CodecError::WrongFrameLength { .. })));
    let opts = EncoderOptions { ptime_ms: 30, ..EncoderOptions::default() };
    assert!(OpusEncoder::new(&params(false, false), &opts).is_err());
    let opts = EncoderOptions { ptime_ms: 60, ..EncoderOptions::default() };
    assert_eq!(OpusEncoder::new(&params(false, false), &opts).unwrap().frame_samples(), 2_880);
}

#[test]
fn concealment_is_audible_and_bounded() {
    let tone = test_signal::tone(1000.0, 48_000, 9_600, 0.3);
    let mut enc = OpusEncoder::new(&params(false, false), &EncoderOptions::default()).unwrap();
    let mut dec = OpusDecoder::new(1).unwrap();
    let mut out = Vec::new();
    for p in encode_all(&mut enc, &tone) {
        dec.decode(&p, &mut out).unwrap();
    }
    let mut lost = Vec::new();
    assert_eq!(dec.conceal(&mut lost).unwrap(), 960);
    let level = rms(&lost);
    eprintln!("opus concealment RMS {level:.0} after a tone of RMS {:.0}", rms(&tone));
    assert!(level > 1_000.0 && level < 2.0 * rms(&tone));
}

#[test]
fn stereo_encodes_and_decodes_to_mono_or_stereo() {
    let left = test_signal::tone(1000.0, 48_000, 9_600, 0.3);
    let right = test_signal::tone(500.0, 48_000, 9_600, 0.3);
    let stereo: Vec<i16> = left.iter().zip(&right).flat_map(|(&l, &r)| [l, r]).collect();
    let p = OpusParams { stereo: true, ..OpusParams::default() };
    let mut enc = OpusEncoder::with_channels(&p, &EncoderOptions::default(), 2).unwrap();
    assert_eq!(enc.channels(), 2);
    assert!(enc.encode(&stereo[..960], &mut Vec::new()).is_err());
    let (mut to_stereo, mut to_mono) = (OpusDecoder::new(2).unwrap(), OpusDecoder::new(1).unwrap());
    let (mut s_out, mut m_out) = (Vec::new(), Vec::new());
    for frame in stereo.chunks_exact(1_920) {
        let mut payload = Vec::new();
        enc.encode(frame, &mut payload).unwrap();
        assert_eq!(to_stereo.decode(&payload, &mut s_out).unwrap(), 960);
        assert_eq!(to_mono.decode(&payload, &mut m_out).unwrap(), 960);
    }
    assert_eq!(s_out.len(), 2 * m_out.len());
    let right_out: Vec<i16> = s_out.iter().skip(1).step_by(2).copied().collect();
    let f = dominant_frequency(&right_out[4_800..], 48_000);
    assert!((f - 500.0).abs() <= 20.0, "right channel at {f} Hz");
    assert!(OpusDecoder::new(3).is_err());
}
