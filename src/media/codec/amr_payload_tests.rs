//! Tests of the RFC 4867 packer and unpacker.

use super::*;

fn fmtp(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Deterministic pseudo-random bytes.
fn noise(seed: u32, n: usize) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
        .collect()
}

fn params(variant: AmrVariant, octet_align: bool) -> AmrParams {
    AmrParams { octet_align, ..AmrParams::new(variant) }
}

#[test]
fn frame_sizes_match_the_specs() {
    let nb: Vec<u16> = (0..=8).map(|ft| AmrVariant::Nb.frame_bits(ft).unwrap()).collect();
    assert_eq!(nb, [95, 103, 118, 134, 148, 159, 204, 244, 39]);
    let wb: Vec<u16> = (0..=9).map(|ft| AmrVariant::Wb.frame_bits(ft).unwrap()).collect();
    assert_eq!(wb, [132, 177, 253, 285, 317, 365, 397, 461, 477, 40]);
    for ft in 9..=14 {
        assert_eq!(AmrVariant::Nb.frame_bits(ft), None);
    }
    for ft in 10..=13 {
        assert_eq!(AmrVariant::Wb.frame_bits(ft), None);
    }
    assert_eq!(AmrVariant::Wb.frame_bits(14), Some(0));
    assert_eq!(AmrVariant::Nb.frame_bits(NO_DATA), Some(0));
    assert_eq!(AmrVariant::Nb.frame_bits(16), None);
}

#[test]
fn known_bytes_of_a_sid_frame() {
    let sid = AmrFrame::new(AmrVariant::Nb, 8, true, &[0xFF; 5]).unwrap();
    let packet = AmrPacket { cmr: 7, frames: vec![sid] };
    let mut be = Vec::new();
    params(AmrVariant::Nb, false).pack(&packet, &mut be).unwrap();
    // CMR 0111, ToC 0 1000 1, 39 one bits, 7 bits of padding.
    assert_eq!(be, [0x74, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0x80]);
    let mut oa = Vec::new();
    params(AmrVariant::Nb, true).pack(&packet, &mut oa).unwrap();
    assert_eq!(oa, [0x70, 0x44, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]);
    for (p, bytes) in [(params(AmrVariant::Nb, false), &be), (params(AmrVariant::Nb, true), &oa)] {
        assert_eq!(p.unpack(bytes).unwrap(), packet);
    }
}

#[test]
fn every_frame_type_round_trips_alone() {
    for variant in [AmrVariant::Nb, AmrVariant::Wb] {
        for octet_align in [false, true] {
            let p = params(variant, octet_align);
            for ft in 0..16u8 {
                let Some(bits) = variant.frame_bits(ft) else { continue };
                let frame = AmrFrame::new(variant, ft, ft % 2 == 0, &noise(ft as u32, 60)).unwrap();
                assert_eq!(frame.bit_len(), bits as usize);
                let packet = AmrPacket { cmr: NO_CMR, frames: vec![frame] };
                let mut out = Vec::new();
                let n = p.pack(&packet, &mut out).unwrap();
                let header = if octet_align { 16 } else { 10 };
                let frame_bits = if octet_align { (bits as usize).div_ceil(8) * 8 } else { bits as usize };
                assert_eq!(n, (header + frame_bits).div_ceil(8), "{variant:?} FT {ft}");
                assert_eq!(p.unpack(&out).unwrap(), packet, "{variant:?} FT {ft} oa={octet_align}");
            }
        }
    }
}

#[test]
fn three_frames_with_cmr_round_trip_in_both_modes() {
    for variant in [AmrVariant::Nb, AmrVariant::Wb] {
        for octet_align in [false, true] {
            let p = params(variant, octet_align);
            let frames = vec![
                AmrFrame::new(variant, 2, true, &noise(1, 60)).unwrap(),
                AmrFrame::new(variant, variant.sid_frame_type(), true, &noise(2, 60)).unwrap(),
                AmrFrame::new(variant, variant.speech_modes() - 1, false, &noise(3, 60)).unwrap(),
            ];
            let packet = AmrPacket { cmr: 1, frames };
            let mut out = vec![0xAB]; // packing appends
            p.pack(&packet, &mut out).unwrap();
            let back = p.unpack(&out[1..]).unwrap();
            assert_eq!(back, packet, "{variant:?} oa={octet_align}");
            assert_eq!(back.cmr, 1);
            assert!(!back.frames[2].quality());
            // The other mode cannot read it the same way.
            let other = params(variant, !octet_align);
            assert_ne!(other.unpack(&out[1..]).ok(), Some(packet));
        }
    }
}

#[test]
fn no_data_frames_and_cmr_only_packets() {
    let p = params(AmrVariant::Wb, false);
    let packet = AmrPacket { cmr: 2, frames: vec![AmrFrame::no_data()] };
    let mut out = Vec::new();
    p.pack(&packet, &mut out).unwrap();
    // CMR 0010, ToC 0 1111 1, six bits of padding.
    assert_eq!(out, [0x27, 0xC0]);
    assert_eq!(p.unpack(&out).unwrap(), packet);
    // An invalid CMR (12) is read as "no request"; packing one writes 15.
    let got = p.unpack(&[0xC7, 0xC0]).unwrap();
    assert_eq!(got.cmr, NO_CMR);
}

#[test]
fn mode_set_restricts_what_we_pack() {
    let p = AmrParams::from_fmtp(
        AmrVariant::Wb,
        &fmtp(&[("mode-set", "0,1,2"), ("octet-align", "1"), ("mode-change-capability", "2"), ("max-red", "220")]),
    )
    .unwrap();
    assert!(p.octet_align);
    assert_eq!(p.mode_set, Some(0b111));
    assert_eq!(p.mode_change_capability, 2);
    assert_eq!(p.max_red, Some(220));
    assert_eq!(p.modes().collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(
        p.to_fmtp(),
        fmtp(&[("mode-set", "0,1,2"), ("octet-align", "1"), ("mode-change-capability", "2"), ("max-red", "220")])
    );
    assert_eq!(AmrParams::from_fmtp(AmrVariant::Wb, &p.to_fmtp()).unwrap(), p);
    assert_eq!(p.clamp_mode(8), 2);
    assert_eq!(p.clamp_mode(1), 1);
    let frame = AmrFrame::new(AmrVariant::Wb, 8, true, &[0; 60]).unwrap();
    let err = p.pack(&AmrPacket { cmr: NO_CMR, frames: vec![frame] }, &mut Vec::new());
    assert_eq!(err, Err(AmrPayloadError::ModeNotAllowed(8)));
    // SID is not a mode: always allowed.
    let sid = AmrFrame::new(AmrVariant::Wb, 9, true, &[0; 5]).unwrap();
    assert!(p.pack(&AmrPacket { cmr: NO_CMR, frames: vec![sid] }, &mut Vec::new()).is_ok());
    let sparse = AmrParams::from_fmtp(AmrVariant::Nb, &fmtp(&[("mode-set", "2,5")])).unwrap();
    assert_eq!(sparse.clamp_mode(4), 2);
    assert_eq!(sparse.clamp_mode(0), 2);
    assert_eq!(sparse.clamp_mode(7), 5);
}

#[test]
fn fmtp_errors_and_unsupported_options() {
    let bad = |pairs: &[(&str, &str)]| AmrParams::from_fmtp(AmrVariant::Nb, &fmtp(pairs));
    assert!(matches!(bad(&[("mode-set", "0,8")]), Err(CodecError::BadFmtp { .. })));
    assert!(matches!(bad(&[("mode-set", "")]), Err(CodecError::BadFmtp { .. })));
    assert!(matches!(bad(&[("octet-align", "2")]), Err(CodecError::BadFmtp { .. })));
    assert!(matches!(bad(&[("mode-change-period", "3")]), Err(CodecError::BadFmtp { .. })));
    assert!(matches!(bad(&[("interleaving", "4")]), Err(CodecError::UnsupportedFmtp { .. })));
    assert!(matches!(bad(&[("crc", "1")]), Err(CodecError::UnsupportedFmtp { .. })));
    assert!(bad(&[("crc", "0"), ("robust-sorting", "0"), ("unknown", "x")]).is_ok());
    assert!(AmrParams::from_fmtp(AmrVariant::Wb, &fmtp(&[("mode-set", "8")])).is_ok());
}

#[test]
fn malformed_payloads_are_errors() {
    for variant in [AmrVariant::Nb, AmrVariant::Wb] {
        for octet_align in [false, true] {
            let p = params(variant, octet_align);
            assert_eq!(p.unpack(&[]), Err(AmrPayloadError::Empty));
            let frames = (0..3).map(|i| AmrFrame::new(variant, i, true, &noise(i as u32, 60)).unwrap()).collect();
            let mut good = Vec::new();
            p.pack(&AmrPacket { cmr: 0, frames }, &mut good).unwrap();
            // Every strict prefix is truncated (the last frame's bits are missing).
            for cut in 0..good.len() {
                assert!(p.unpack(&good[..cut]).is_err(), "{variant:?} oa={octet_align} cut {cut}");
            }
            // Trailing bytes are tolerated.
            let mut longer = good.clone();
            longer.push(0);
            assert!(p.unpack(&longer).is_ok());
        }
        // A reserved frame type in the ToC (AMR 9..=14, AMR-WB 10..=13).
        let ft = if variant == AmrVariant::Nb { 11 } else { 12 };
        let oa = [0xF0, ft << 3 | 0x04, 0, 0, 0, 0, 0, 0];
        assert_eq!(params(variant, true).unpack(&oa), Err(AmrPayloadError::ReservedFrameType(ft)));
        // A ToC that never ends.
        assert!(params(variant, true).unpack(&[0xF0; 100]).is_err());
        assert_eq!(
            params(variant, true).unpack(&[0xF0, 0xFC, 0xFC]).unwrap_err(),
            AmrPayloadError::Truncated { needed: 32, available: 24 }
        );
        assert_eq!(params(variant, false).unpack(&[0xFF; 200]), Err(AmrPayloadError::TooManyFrames));
    }
    // Garbage of every length never panics.
    for variant in [AmrVariant::Nb, AmrVariant::Wb] {
        for octet_align in [false, true] {
            let p = params(variant, octet_align);
            for len in 0..200 {
                let _ = p.unpack(&noise(len as u32 * 7 + 1, len));
            }
        }
    }
}

#[test]
fn storage_format_round_trips() {
    let frame = AmrFrame::new(AmrVariant::Nb, 7, true, &noise(9, 31)).unwrap();
    let mut buf = [0u8; 64];
    let n = frame.write_storage(&mut buf);
    assert_eq!(n, 32); // the 12.2 kbit/s storage frame is 32 bytes
    assert_eq!(buf[0], 0x3C);
    let (back, used) = AmrFrame::from_storage(AmrVariant::Nb, &buf[..n]).unwrap();
    assert_eq!((back, used), (frame, 32));
    assert!(AmrFrame::from_storage(AmrVariant::Nb, &buf[..10]).is_err());
    assert!(AmrFrame::from_storage(AmrVariant::Nb, &[]).is_err());
}

#[test]
fn random_packets_round_trip_and_reparse_stably() {
    let mut seed = 0x1234_5678u32;
    let mut next = move |n: u32| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) % n
    };
    for variant in [AmrVariant::Nb, AmrVariant::Wb] {
        let types: Vec<u8> = (0..16).filter(|&ft| variant.frame_bits(ft).is_some()).collect();
        for octet_align in [false, true] {
            let p = params(variant, octet_align);
            for round in 0..300u32 {
                // Valid packets of 1..=12 frames survive pack → unpack unchanged.
                let frames = (0..1 + next(12))
                    .map(|i| {
                        let ft = types[next(types.len() as u32) as usize];
                        AmrFrame::new(variant, ft, next(2) == 1, &noise(round * 16 + i, 60)).unwrap()
                    })
                    .collect();
                let cmr = [next(variant.speech_modes() as u32) as u8, NO_CMR][next(2) as usize];
                let packet = AmrPacket { cmr, frames };
                let mut bytes = Vec::new();
                p.pack(&packet, &mut bytes).unwrap();
                assert_eq!(p.unpack(&bytes).unwrap(), packet);
                // Random bytes that parse re-encode to bytes that parse the same.
                let garbage = noise(round + 1_000, 1 + next(80) as usize);
                if let Ok(parsed) = p.unpack(&garbage) {
                    let mut again = Vec::new();
                    p.pack(&parsed, &mut again).unwrap();
                    assert_eq!(p.unpack(&again).unwrap(), parsed);
                    assert!(again.len() <= garbage.len());
                }
            }
        }
    }
}
