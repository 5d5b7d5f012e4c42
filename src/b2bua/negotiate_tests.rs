use super::*;
use crate::sip::sdp::SessionDescription;

fn audio(lines: &str) -> MediaDescription {
    let text = format!("v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n{}", lines.replace('\n', "\r\n"));
    SessionDescription::parse(text.as_bytes()).unwrap().media.remove(0)
}

fn names(m: &MediaDescription) -> Vec<String> {
    offered_codecs(m).iter().map(|c| format!("{}/{}", c.name, c.clock_rate)).collect()
}

#[test]
fn an_amr_wb_offer_gains_what_we_transcode_to_in_a_sane_order() {
    let mut m = audio("m=audio 4000 RTP/AVP 104 110\na=rtpmap:104 AMR-WB/16000\na=fmtp:104 octet-align=1\na=rtpmap:110 telephone-event/16000\na=ptime:20\n");
    assert_eq!(classify(&m), OfferKind::Transcodable);
    extend_offer(&mut m);
    assert_eq!(
        names(&m),
        ["AMR-WB/16000", "telephone-event/16000", "G722/8000", "opus/48000", "PCMU/8000", "PCMA/8000", "AMR/8000", "telephone-event/8000", "telephone-event/48000"]
    );
    let opus = offered_codecs(&m).into_iter().find(|c| c.name == "opus").unwrap();
    assert_eq!(opus.channels, Some(2));
    assert_eq!(opus.fmtp, vec![("useinbandfec".to_owned(), "1".to_owned())]);
    assert_eq!(m.ptime(), Some(20), "the offerer's ptime stays");
}

#[test]
fn evs_is_negotiated_away_and_an_evs_only_offer_has_no_common_codec() {
    let mut m = audio("m=audio 4000 RTP/AVP 96 104\na=rtpmap:96 EVS/16000\na=rtpmap:104 AMR-WB/16000\n");
    extend_offer(&mut m);
    assert!(!names(&m).iter().any(|n| n.starts_with("EVS")), "{:?}", names(&m));
    assert!(!m.formats.contains(&"96".to_owned()) || offered_codecs(&m).iter().any(|c| c.pt == 96 && c.name != "EVS"));
    let evs = audio("m=audio 4000 RTP/AVP 96 101\na=rtpmap:96 EVS/16000\na=rtpmap:101 telephone-event/16000\n");
    assert_eq!(classify(&evs), OfferKind::NoCommonCodec);
    let ilbc = audio("m=audio 4000 RTP/AVP 97\na=rtpmap:97 iLBC/8000\n");
    assert_eq!(classify(&ilbc), OfferKind::PassThrough);
}

#[test]
fn the_answer_to_the_offerer_carries_one_codec_its_fmtp_and_ptime() {
    let offer = audio("m=audio 4000 RTP/AVP 98 101\na=rtpmap:98 AMR/8000\na=fmtp:98 mode-set=0,2,4,7;octet-align=1\na=rtpmap:101 telephone-event/8000\na=ptime:40\n");
    let mut relayed = offer.clone();
    extend_offer(&mut relayed);
    let answer = audio("m=audio 5000 RTP/AVP 96 97\na=rtpmap:96 opus/48000/2\na=fmtp:96 useinbandfec=1;maxaveragebitrate=20000\na=rtpmap:97 telephone-event/48000\n");
    let Outcome::Plan(p) = plan(&offer, &answer, Side::A) else { panic!("a plan") };
    let MediaPlan::Transcode { a, b } = &p else { panic!("transcode expected: {p:?}") };
    assert_eq!((a.pt, a.ptime_ms, a.telephone_event), (98, 40, Some((101, 8000))));
    assert_eq!((b.pt, b.ptime_ms, b.telephone_event), (96, 20, Some((97, 48000))));
    let mut back = answer.clone();
    restrict_answer(&mut back, &offer, a, false);
    assert_eq!(back.formats, ["98", "101"]);
    let text = back.to_string();
    assert!(text.contains("a=rtpmap:98 AMR/8000") && text.contains("a=fmtp:98 mode-set=0,2,4,7;octet-align=1"), "{text}");
    assert!(text.contains("a=rtpmap:101 telephone-event/8000") && text.contains("a=ptime:40") && !text.contains("opus"), "{text}");
    // The same plan seen from a re-offer by side B swaps the legs.
    let Outcome::Plan(MediaPlan::Transcode { a: sa, .. }) = plan(&answer, &offer, Side::B) else { panic!() };
    assert_eq!(sa.config.kind, CodecKind::Amr);
}

#[test]
fn identical_codecs_copy_and_unknown_answers_pass_through_or_fail() {
    let offer = audio("m=audio 4000 RTP/AVP 0 97 101\na=rtpmap:97 iLBC/8000\na=rtpmap:101 telephone-event/8000\n");
    let pcmu = audio("m=audio 5000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n");
    assert!(matches!(plan(&offer, &pcmu, Side::A), Outcome::Plan(MediaPlan::Copy { .. })));
    let ilbc = audio("m=audio 4000 RTP/AVP 97\na=rtpmap:97 iLBC/8000\n");
    assert_eq!(plan(&ilbc, &ilbc, Side::A), Outcome::PassThrough);
    let gsm = audio("m=audio 5000 RTP/AVP 3\n");
    assert_eq!(plan(&ilbc, &gsm, Side::A), Outcome::NoCommonCodec);
}
