use super::*;

fn c(pt: u8, name: &str, clock: u32, fmtp: &[(&str, &str)]) -> OfferedCodec {
    OfferedCodec {
        pt,
        name: name.into(),
        clock_rate: clock,
        channels: (name == "opus").then_some(2),
        fmtp: fmtp.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn kinds(plan: &MediaPlan) -> (bool, CodecKind, CodecKind) {
    match plan {
        MediaPlan::Copy { a, b } => (true, a.config.kind, b.config.kind),
        MediaPlan::Transcode { a, b } => (false, a.config.kind, b.config.kind),
    }
}

#[test]
fn a_shared_codec_is_copied_with_each_legs_payload_type() {
    let a = [c(0, "PCMU", 8000, &[]), c(101, "telephone-event", 8000, &[])];
    let b = [c(111, "opus", 48000, &[]), c(0, "PCMU", 8000, &[])];
    let plan = plan_call(&a, None, &b, Some(40)).unwrap();
    assert_eq!(kinds(&plan), (true, CodecKind::Pcmu, CodecKind::Pcmu));
    let MediaPlan::Copy { a, b } = plan else { unreachable!() };
    assert_eq!((a.pt, a.ptime_ms, a.telephone_event), (0, 20, Some((101, 8000))));
    assert_eq!((b.pt, b.ptime_ms, b.telephone_event), (0, 40, None));
    // Opus with different fmtp is still one stream format.
    let plan = plan_call(&[c(96, "opus", 48000, &[("useinbandfec", "1")])], None, &[c(107, "opus", 48000, &[])], None);
    assert_eq!(kinds(&plan.unwrap()), (true, CodecKind::Opus, CodecKind::Opus));
}

#[test]
fn amr_copies_only_with_the_same_alignment_and_a_common_mode() {
    let be = [c(97, "AMR-WB", 16000, &[])];
    let oa = [c(98, "AMR-WB", 16000, &[("octet-align", "1")])];
    assert_eq!(kinds(&plan_call(&be, None, &oa, None).unwrap()), (false, CodecKind::AmrWb, CodecKind::AmrWb));
    let low = [c(97, "AMR-WB", 16000, &[("mode-set", "0,1,2")])];
    let high = [c(97, "AMR-WB", 16000, &[("mode-set", "7,8")])];
    assert!(!kinds(&plan_call(&low, None, &high, None).unwrap()).0);
    assert!(kinds(&plan_call(&low, None, &be, None).unwrap()).0);
}

#[test]
fn transcoding_keeps_wide_band_and_avoids_resampling() {
    // AMR-WB against G.722 and PCMU: G.722 (16 kHz, no resampling) beats PCMU (narrow-band).
    let a = [c(97, "AMR-WB", 16000, &[]), c(98, "AMR", 8000, &[]), c(100, "telephone-event", 16000, &[])];
    let b = [c(0, "PCMU", 8000, &[]), c(9, "G722", 8000, &[])];
    let plan = plan_call(&a, None, &b, None).unwrap();
    assert_eq!(kinds(&plan), (false, CodecKind::AmrWb, CodecKind::G722));
    let MediaPlan::Transcode { a: la, .. } = plan else { unreachable!() };
    assert_eq!(la.telephone_event, Some((100, 16000)));
    // AMR-WB against Opus: wide-band both sides.
    let b = [c(0, "PCMU", 8000, &[]), c(111, "opus", 48000, &[])];
    assert_eq!(kinds(&plan_call(&a, None, &b, None).unwrap()), (false, CodecKind::AmrWb, CodecKind::Opus));
    // Narrow-band only on one side: the cheapest pair without resampling (AMR ↔ PCMU).
    let a = [c(97, "AMR-WB", 16000, &[]), c(98, "AMR", 8000, &[])];
    let b = [c(0, "PCMU", 8000, &[]), c(8, "PCMA", 8000, &[])];
    assert_eq!(kinds(&plan_call(&a, None, &b, None).unwrap()), (false, CodecKind::Amr, CodecKind::Pcmu));
}

#[test]
fn evs_and_unknown_codecs_are_never_chosen() {
    let a = [c(96, "EVS", 16000, &[]), c(97, "AMR-WB", 16000, &[])];
    let b = [c(96, "EVS", 16000, &[]), c(111, "opus", 48000, &[])];
    assert_eq!(kinds(&plan_call(&a, None, &b, None).unwrap()), (false, CodecKind::AmrWb, CodecKind::Opus));
    let only_evs = [c(96, "EVS", 16000, &[]), c(99, "iLBC", 8000, &[])];
    assert!(matches!(plan_call(&only_evs, None, &b, None), Err(TranscodeError::NoUsableCodec { leg: "a" })));
    assert!(matches!(plan_call(&a, None, &only_evs, None), Err(TranscodeError::NoUsableCodec { leg: "b" })));
}

#[test]
fn a_ptime_the_codec_cannot_frame_falls_back_to_20_ms() {
    let a = [c(97, "AMR-WB", 16000, &[])];
    let b = [c(111, "opus", 48000, &[])];
    let MediaPlan::Transcode { a, b } = plan_call(&a, Some(30), &b, Some(40)).unwrap() else { panic!("transcode expected") };
    assert_eq!((a.ptime_ms, b.ptime_ms), (20, 40));
}
