//! Tests of the AMR and AMR-WB codecs through the system libraries and our RFC 4867 packer.

use super::super::amr_ffi::{FrameDecoder, FrameEncoder};
use super::super::test_signal::{self, best_correlation, dominant_frequency, rms};
use super::*;

const VARIANTS: [AmrVariant; 2] = [AmrVariant::Nb, AmrVariant::Wb];

fn params(variant: AmrVariant, octet_align: bool) -> AmrParams {
    AmrParams { octet_align, ..AmrParams::new(variant) }
}

fn opts(ptime_ms: u32) -> EncoderOptions {
    EncoderOptions { ptime_ms, ..EncoderOptions::default() }
}

/// Encodes and decodes `input` through payloads; returns the output and the payload sizes.
fn round_trip(p: &AmrParams, o: &EncoderOptions, input: &[i16]) -> (Vec<i16>, Vec<usize>) {
    let mut enc = AmrEncoder::new(p.clone(), o).unwrap();
    let mut dec = AmrDecoder::new(p.clone()).unwrap();
    let (mut out, mut sizes) = (Vec::new(), Vec::new());
    for block in input.chunks_exact(enc.frame_samples()) {
        let mut payload = Vec::new();
        sizes.push(enc.encode(block, &mut payload).unwrap());
        if payload.is_empty() {
            dec.conceal(&mut out).unwrap();
        } else {
            assert_eq!(dec.decode(&payload, &mut out).unwrap(), block.len());
        }
    }
    (out, sizes)
}

#[test]
fn tone_round_trip_in_both_payload_modes() {
    for variant in VARIANTS {
        let rate = variant.sample_rate();
        let tone = test_signal::tone(1000.0, rate, rate as usize, 0.3);
        for octet_align in [false, true] {
            let (out, sizes) = round_trip(&params(variant, octet_align), &opts(20), &tone);
            // 12.2 kbit/s: 32 bytes + CMR/ToC; 12.65: 33 bytes.
            let want = match (variant, octet_align) {
                (AmrVariant::Nb, false) => 32,
                (AmrVariant::Nb, true) => 33,
                (AmrVariant::Wb, false) => 33,
                (AmrVariant::Wb, true) => 34,
            };
            assert!(sizes.iter().all(|&n| n == want), "{variant:?} oa={octet_align}: {sizes:?}");
            let f = dominant_frequency(&out[rate as usize / 5..], rate);
            assert!((f - 1000.0).abs() <= 20.0, "{variant:?}: dominant {f} Hz");
            let (c, lag) = best_correlation(&tone[..rate as usize * 3 / 4], &out, rate as usize / 50);
            eprintln!("{variant:?} oa={octet_align} tone: dominant {f} Hz, correlation {c:.3} at lag {lag}");
            assert!(c > 0.98, "{variant:?} oa={octet_align}: correlation {c:.3} at lag {lag}");
        }
    }
}

#[test]
fn speech_round_trip() {
    for variant in VARIANTS {
        let Some(speech) = test_signal::speech(variant.sample_rate()) else { return };
        let n = speech.len() / 960 * 960;
        let (out, _) = round_trip(&params(variant, false), &opts(60), &speech[..n]);
        let (c, lag) = best_correlation(&speech[..n - 960], &out, 160);
        eprintln!("{variant:?} speech: correlation {c:.3} at lag {lag}");
        assert!(c > 0.88, "{variant:?}: speech correlation {c:.3} at lag {lag}");
    }
}

#[test]
fn system_decoder_decodes_what_we_pack() {
    // Tone → system encoder → storage frames → our BE packer (3 per packet) → our unpacker →
    // system decoder, against the same frames fed to the decoder straight from the encoder.
    for variant in VARIANTS {
        for octet_align in [false, true] {
            let p = params(variant, octet_align);
            let tone = test_signal::tone(440.0, variant.sample_rate(), variant.frame_samples() * 30, 0.3);
            let mut enc = FrameEncoder::new(variant, false).unwrap();
            let frames: Vec<AmrFrame> = tone
                .chunks_exact(variant.frame_samples())
                .enumerate()
                .map(|(i, f)| enc.encode((i % variant.speech_modes() as usize) as u8, f).unwrap())
                .collect();
            let (mut direct, mut packed) = (Vec::new(), Vec::new());
            let mut dec = FrameDecoder::new(variant).unwrap();
            for f in &frames {
                dec.decode(f, &mut direct);
            }
            let mut dec = FrameDecoder::new(variant).unwrap();
            for chunk in frames.chunks(3) {
                let mut payload = Vec::new();
                p.pack(&AmrPacket { cmr: 0, frames: chunk.to_vec() }, &mut payload).unwrap();
                let back = p.unpack(&payload).unwrap();
                assert_eq!(back.frames, chunk);
                for f in &back.frames {
                    dec.decode(f, &mut packed);
                }
            }
            assert_eq!(direct, packed, "{variant:?} oa={octet_align}");
            assert!(rms(&packed) > 1000.0);
        }
    }
}

#[test]
fn encoder_writes_storage_frames_of_the_mode_asked() {
    for variant in VARIANTS {
        let mut enc = FrameEncoder::new(variant, false).unwrap();
        let tone = test_signal::tone(700.0, variant.sample_rate(), variant.frame_samples(), 0.3);
        for mode in 0..variant.speech_modes() {
            let f = enc.encode(mode, &tone).unwrap();
            assert_eq!(f.frame_type(), mode);
            assert!(f.quality());
        }
        assert!(enc.encode(variant.speech_modes(), &tone).is_err());
        assert!(enc.encode(0, &tone[1..]).is_err());
    }
}

#[test]
fn cmr_travels_and_steers_the_encoder() {
    for variant in VARIANTS {
        for octet_align in [false, true] {
            let p = params(variant, octet_align);
            let tone = test_signal::tone(1000.0, variant.sample_rate(), variant.frame_samples(), 0.3);
            let mut a = AmrEncoder::new(p.clone(), &opts(20)).unwrap();
            let mut b_dec = AmrDecoder::new(p.clone()).unwrap();
            let mut b_enc = AmrEncoder::new(p.clone(), &opts(20)).unwrap();
            a.request_peer_mode(Some(0));
            let mut payload = Vec::new();
            a.encode(&tone, &mut payload).unwrap();
            b_dec.decode(&payload, &mut Vec::new()).unwrap();
            let cmr = b_dec.take_mode_request();
            assert_eq!(cmr, Some(0));
            assert_eq!(b_dec.take_mode_request(), None);
            b_enc.apply_mode_request(cmr.unwrap());
            payload.clear();
            b_enc.encode(&tone, &mut payload).unwrap();
            let sent = p.unpack(&payload).unwrap();
            assert_eq!(sent.frames[0].frame_type(), 0);
            assert_eq!(sent.cmr, NO_CMR);
        }
    }
}

#[test]
fn mode_set_and_mode_change_rules() {
    let fmtp = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let p = AmrParams::from_fmtp(
        AmrVariant::Wb,
        &fmtp(&[("mode-set", "0,2,4,8"), ("mode-change-period", "2"), ("mode-change-neighbor", "1")]),
    )
    .unwrap();
    let mut enc = AmrEncoder::new(p.clone(), &EncoderOptions { amr_mode: Some(8), ..opts(20) }).unwrap();
    assert_eq!(enc.mode(), 8);
    enc.apply_mode_request(1); // → 0, the highest allowed not above 1
    let tone = test_signal::tone(1000.0, 16_000, 320, 0.3);
    let mut modes = Vec::new();
    for _ in 0..8 {
        let mut payload = Vec::new();
        enc.encode(&tone, &mut payload).unwrap();
        modes.push(p.unpack(&payload).unwrap().frames[0].frame_type());
    }
    // One neighbour of the set at a time, only on every other frame.
    assert_eq!(modes, [4, 4, 2, 2, 0, 0, 0, 0]);
    // Without a mode-set, AMR-WB starts at 12.65 kbit/s and AMR at 12.2.
    assert_eq!(AmrEncoder::new(AmrParams::new(AmrVariant::Wb), &opts(20)).unwrap().mode(), 2);
    assert_eq!(AmrEncoder::new(AmrParams::new(AmrVariant::Nb), &opts(20)).unwrap().mode(), 7);
    assert!(AmrEncoder::new(AmrParams::new(AmrVariant::Nb), &opts(30)).is_err());
    assert!(AmrEncoder::new(AmrParams::new(AmrVariant::Nb), &opts(260)).is_err());
}

#[test]
fn concealment_is_audible_and_bounded() {
    for variant in VARIANTS {
        let p = params(variant, false);
        let rate = variant.sample_rate();
        let tone = test_signal::tone(1000.0, rate, rate as usize / 2, 0.3);
        let mut enc = AmrEncoder::new(p.clone(), &opts(40)).unwrap();
        let mut dec = AmrDecoder::new(p).unwrap();
        let mut out = Vec::new();
        for block in tone.chunks_exact(enc.frame_samples()) {
            let mut payload = Vec::new();
            enc.encode(block, &mut payload).unwrap();
            dec.decode(&payload, &mut out).unwrap();
        }
        let mut lost = Vec::new();
        assert_eq!(dec.conceal(&mut lost).unwrap(), 2 * variant.frame_samples());
        assert_eq!(lost.len(), 2 * variant.frame_samples());
        let level = rms(&lost);
        eprintln!("{variant:?} concealment RMS {level:.0} after a tone of RMS {:.0}", rms(&tone));
        assert!(level > 300.0 && level < 2.0 * rms(&tone), "{variant:?}: concealment RMS {level:.0}");
    }
}

#[test]
fn dtx_sends_sid_then_nothing_in_silence() {
    for variant in VARIANTS {
        let o = EncoderOptions { dtx: true, ..opts(20) };
        let mut enc = AmrEncoder::new(params(variant, false), &o).unwrap();
        let mut dec = AmrDecoder::new(params(variant, false)).unwrap();
        let silence = vec![0i16; variant.frame_samples()];
        let (mut sizes, mut out) = (Vec::new(), Vec::new());
        for _ in 0..60 {
            let mut payload = Vec::new();
            let n = enc.encode(&silence, &mut payload).unwrap();
            sizes.push(n);
            if n > 0 {
                dec.decode(&payload, &mut out).unwrap();
            } else {
                dec.conceal(&mut out).unwrap();
            }
        }
        assert!(sizes.iter().filter(|&&n| n == 0).count() > 30, "{variant:?}: {sizes:?}");
        // SID payloads: CMR + ToC + 39/40 bits.
        assert!(sizes.contains(&7), "{variant:?}: {sizes:?}");
        assert!(out.iter().all(|&s| s.unsigned_abs() < 2_000));
    }
}

#[test]
fn malformed_payloads_are_errors() {
    for variant in VARIANTS {
        for octet_align in [false, true] {
            let mut dec = AmrDecoder::new(params(variant, octet_align)).unwrap();
            let mut out = Vec::new();
            assert!(dec.decode(&[], &mut out).is_err());
            assert!(dec.decode(&[0xF0], &mut out).is_err());
            assert!(matches!(dec.decode(&[0xF0, 0x3C, 1, 2], &mut out), Err(CodecError::AmrPayload(_))));
            let mut s = 7u32;
            for len in 1..120 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (s >> 24) as u8
                    })
                    .collect();
                let before = out.len();
                if let Ok(n) = dec.decode(&bytes, &mut out) {
                    assert_eq!(out.len() - before, n);
                }
            }
        }
    }
}

#[test]
fn mode_requests_pass_through_trait_objects() {
    use crate::media::codec::CodecConfig;
    let fmtp = vec![("mode-set".to_owned(), "0,1,2".to_owned())];
    let config = CodecConfig::from_sdp("AMR-WB", 16_000, None, &fmtp).unwrap();
    let mut a_enc = config.encoder(&opts(20)).unwrap();
    let mut b_dec = config.decoder().unwrap();
    let mut b_enc = config.encoder(&opts(20)).unwrap();
    let tone = test_signal::tone(1000.0, 16_000, 320, 0.3);
    a_enc.request_peer_mode(Some(1));
    let mut payload = Vec::new();
    a_enc.encode(&tone, &mut payload).unwrap();
    b_dec.decode(&payload, &mut Vec::new()).unwrap();
    b_enc.apply_mode_request(b_dec.take_mode_request().unwrap());
    payload.clear();
    b_enc.encode(&tone, &mut payload).unwrap();
    let AmrPacket { frames, .. } = AmrParams::new(AmrVariant::Wb).unpack(&payload).unwrap();
    assert_eq!(frames[0].frame_type(), 1);
}
