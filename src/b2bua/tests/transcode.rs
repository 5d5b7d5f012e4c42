//! Codec negotiation through the B2BUA: transcoding offers and answers, copy when the legs
//! agree, 488 when nothing can be bridged, and hold with transcoding on.
use super::flows::{in_dialog, to_tag};
use super::harness::*;
use crate::media::codec::CodecKind;
use crate::media::transcode::MediaPlan;
use crate::sip::message::{Message, Request};
use crate::sip::sdp::{AttributeSet, SessionDescription};

fn sdp(audio: &str, ip: &str, port: u16) -> String {
    format!("v=0\r\no=peer 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {}", audio.replace('\n', "\r\n"))
}

fn body(r: &Request) -> SessionDescription {
    SessionDescription::parse(&r.body).unwrap()
}

fn response_body(m: &Message) -> SessionDescription {
    match m {
        Message::Response(r) => SessionDescription::parse(&r.body).unwrap(),
        Message::Request(_) => panic!("not a response"),
    }
}

/// The payload type our offer to the callee gives `name/clock`.
fn pt_of(offer: &SessionDescription, name: &str, clock: u32) -> u8 {
    let m = &offer.media[0];
    m.payload_types().find(|&pt| m.codec(pt).is_some_and(|c| c.encoding.eq_ignore_ascii_case(name) && c.clock_rate == clock)).unwrap_or_else(|| panic!("{name}/{clock} not offered: {offer}"))
}

struct Setup {
    bench: Bench,
    a_invite: Request,
    b_invite: Request,
    a_tag: String,
    ok: SessionDescription,
}

/// Caller offers `offer`; the callee answers with `answer(our offer)`; the call is confirmed.
fn call(offer: &str, answer_of: impl Fn(&SessionDescription) -> String) -> Setup {
    let mut b = Bench::new();
    let inv = invite("95555", "x-1", offer);
    let a_invite = req_of(&inv).clone();
    b.deliver(CALLER, inv);
    let out = b.take_to(CALLEE);
    let b_invite = req_of(&out[0]).clone();
    let reply = answer_of(&body(&b_invite));
    b.deliver(CALLEE, answer(&b_invite, 200, "callee1", "sip:agent@10.0.0.2:5070", Some(&reply)));
    assert_eq!(methods(&b.take_to(CALLEE)), vec!["ACK"]);
    let ok = b.take_to(CALLER);
    assert_eq!(statuses(&ok), vec![100, 200]);
    let a_tag = to_tag(&ok[1]);
    let ok = response_body(&ok[1]);
    b.deliver(CALLER, in_dialog(&a_invite, true, "ACK", 1, &a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", None));
    Setup { bench: b, a_invite, b_invite, a_tag, ok }
}

fn last_plan(b: &Bench) -> MediaPlan {
    b.env.media.codecs.last().and_then(|(_, p)| p.clone()).expect("a codec plan reached the media engine")
}

const AMR_WB: &str = "104 110\na=rtpmap:104 AMR-WB/16000\na=fmtp:104 mode-set=0,1,2;octet-align=1\na=rtpmap:110 telephone-event/16000\na=fmtp:110 0-15\n";

#[test]
fn an_amr_wb_caller_reaches_a_g711_only_callee_through_transcoding() {
    let s = call(&sdp(AMR_WB, "10.0.0.1", 40000), |offer| {
        let (pcmu, te) = (pt_of(offer, "PCMU", 8000), pt_of(offer, "telephone-event", 8000));
        assert!(offer.media[0].formats.starts_with(&["104".into(), "110".into()]), "the caller's codecs first: {offer}");
        sdp(&format!("{pcmu} {te}\na=rtpmap:{te} telephone-event/8000\na=ptime:20\n"), "10.0.0.2", 50000)
    });
    let m = &s.ok.media[0];
    assert_eq!(m.formats, ["104", "110"], "exactly the caller's codec and its telephone-event: {}", s.ok);
    assert_eq!(m.fmtp("104").and_then(|f| f.get("mode-set").map(str::to_owned)).as_deref(), Some("0,1,2"));
    assert_eq!(m.port, 20004, "our A-side media port");
    let MediaPlan::Transcode { a, b } = last_plan(&s.bench) else { panic!("transcoding expected") };
    assert_eq!((a.config.kind, a.pt, a.telephone_event), (CodecKind::AmrWb, 104, Some((110, 16000))));
    assert_eq!((b.config.kind, b.pt, b.telephone_event.map(|t| t.1)), (CodecKind::Pcmu, 0, Some(8000)));
}

#[test]
fn an_opus_caller_and_an_amr_nb_callee_transcode_with_each_legs_fmtp_and_ptime() {
    let offer = sdp("111 101\na=rtpmap:111 opus/48000/2\na=fmtp:111 useinbandfec=1;maxaveragebitrate=24000\na=rtpmap:101 telephone-event/48000\na=ptime:20\n", "10.0.0.1", 40000);
    let s = call(&offer, |o| {
        let amr = pt_of(o, "AMR", 8000);
        sdp(&format!("{amr}\na=rtpmap:{amr} AMR/8000\na=fmtp:{amr} octet-align=1;mode-set=7\na=ptime:40\n"), "10.0.0.2", 50000)
    });
    let m = &s.ok.media[0];
    assert_eq!(m.formats, ["111", "101"]);
    assert_eq!(m.fmtp("111").and_then(|f| f.get("useinbandfec").map(str::to_owned)).as_deref(), Some("1"));
    assert_eq!(m.ptime(), Some(20));
    let MediaPlan::Transcode { a, b } = last_plan(&s.bench) else { panic!("transcoding expected") };
    assert_eq!((a.config.kind, a.ptime_ms, a.telephone_event), (CodecKind::Opus, 20, Some((101, 48000))));
    assert_eq!((b.config.kind, b.ptime_ms, b.telephone_event), (CodecKind::Amr, 40, None));
}

#[test]
fn identical_codecs_are_copied_without_transcoding() {
    let s = call(OFFER, |_| ANSWER.to_owned());
    assert!(matches!(last_plan(&s.bench), MediaPlan::Copy { .. }));
    assert_eq!(s.ok.media[0].formats, ["0", "101"]);
}

#[test]
fn an_offer_with_no_common_codec_is_refused_with_488() {
    let mut b = Bench::new();
    b.deliver(CALLER, invite("95555", "x-2", &sdp("96 101\na=rtpmap:96 EVS/16000\na=rtpmap:101 telephone-event/16000\n", "10.0.0.1", 40000)));
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100, 488]);
    assert!(b.take_to(CALLEE).is_empty(), "nothing reached the callee");
    assert_eq!(b.records[0].cause, "media.no_common_codec");
    assert!(b.env.media.open.is_empty() && b.env.media.closed.is_empty(), "no media session was opened");
}

#[test]
fn an_answer_nobody_can_bridge_ends_the_call_with_488() {
    let mut b = Bench::new();
    b.deliver(CALLER, invite("95555", "x-3", OFFER));
    let out = b.take_to(CALLEE);
    let b_invite = req_of(&out[0]).clone();
    let gsm = sdp("3\n", "10.0.0.2", 50000);
    b.deliver(CALLEE, answer(&b_invite, 200, "callee1", "sip:agent@10.0.0.2:5070", Some(&gsm)));
    assert_eq!(methods(&b.take_to(CALLEE)), vec!["ACK", "BYE"]);
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100, 488]);
    assert_eq!(b.records[0].cause, "media.no_common_codec");
}

#[test]
fn hold_and_resume_keep_transcoding() {
    let mut s = call(&sdp(AMR_WB, "10.0.0.1", 40000), |o| {
        let pcma = pt_of(o, "PCMA", 8000);
        sdp(&format!("{pcma}\n"), "10.0.0.2", 50000)
    });
    let plans = s.bench.env.media.codecs.len();
    for (cseq, dir) in [(2, "sendonly"), (3, "sendrecv")] {
        let held = sdp(&format!("{AMR_WB}a={dir}\n"), "10.0.0.1", 40000).replace("o=peer 1 1", &format!("o=peer 1 {cseq}"));
        s.bench.deliver(CALLER, in_dialog(&s.a_invite, true, "INVITE", cseq, &s.a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", Some(&held)));
        let out = s.bench.take_to(CALLEE);
        let reinvite = out.iter().map(req_of).find(|r| r.method == crate::sip::message::Method::Invite).expect("a re-INVITE to the callee").clone();
        let offer = body(&reinvite);
        assert!(offer.to_string().contains(&format!("a={dir}")), "{offer}");
        let pcma = pt_of(&offer, "PCMA", 8000);
        let reply_dir = if dir == "sendonly" { "recvonly" } else { "sendrecv" };
        let reply = sdp(&format!("{pcma}\na={reply_dir}\n"), "10.0.0.2", 50000);
        s.bench.deliver(CALLEE, answer(&reinvite, 200, "callee1", "sip:agent@10.0.0.2:5070", Some(&reply)));
        let back = s.bench.take_to(CALLER);
        let ok = back.iter().find(|m| matches!(m, Message::Response(r) if r.status == 200)).expect("200 to the caller");
        let ok = response_body(ok);
        assert_eq!(ok.media[0].formats, ["104", "110"], "{ok}");
        assert!(ok.to_string().contains(&format!("a={reply_dir}")), "{ok}");
        assert!(matches!(last_plan(&s.bench), MediaPlan::Transcode { .. }));
        s.bench.deliver(CALLER, in_dialog(&s.a_invite, true, "ACK", cseq, &s.a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", None));
    }
    assert_eq!(s.bench.env.media.codecs.len(), plans + 2);
    let _ = &s.b_invite;
}

#[test]
fn a_reinvite_from_the_g711_callee_is_offered_to_the_caller_with_transcodable_codecs() {
    let mut s = call(&sdp(AMR_WB, "10.0.0.1", 40000), |o| {
        let pcmu = pt_of(o, "PCMU", 8000);
        sdp(&format!("{pcmu}\n"), "10.0.0.2", 50000)
    });
    let our_b_tag = s.b_invite.headers.from_addr().unwrap().tag().unwrap().to_owned();
    let held = sdp("0\na=sendonly\n", "10.0.0.2", 50000).replace("o=peer 1 1", "o=peer 1 2");
    s.bench.deliver(CALLEE, in_dialog(&s.b_invite, false, "INVITE", 1, &our_b_tag, "callee1", "sip:ncgw@10.0.0.100:5060", "10.0.0.2:5070", Some(&held)));
    let out = s.bench.take_to(CALLER);
    let reinvite = out.iter().map(req_of).find(|r| r.method == crate::sip::message::Method::Invite).expect("a re-INVITE to the caller").clone();
    let offer = body(&reinvite);
    assert_eq!(offer.media[0].formats[0], "0", "the callee's codec first: {offer}");
    let amr_wb = pt_of(&offer, "AMR-WB", 16000);
    let reply = sdp(&format!("{amr_wb}\na=rtpmap:{amr_wb} AMR-WB/16000\na=fmtp:{amr_wb} octet-align=1\na=recvonly\n"), "10.0.0.1", 40000);
    s.bench.deliver(CALLER, answer(&reinvite, 200, &s.a_tag, "sip:caller@10.0.0.1:5060", Some(&reply)));
    let back = s.bench.take_to(CALLEE);
    let ok = back.iter().find(|m| matches!(m, Message::Response(r) if r.status == 200)).expect("200 to the callee");
    let ok = response_body(ok);
    assert_eq!(ok.media[0].formats, ["0"], "the callee gets exactly its own codec back: {ok}");
    let MediaPlan::Transcode { a, b } = last_plan(&s.bench) else { panic!("still transcoding") };
    assert_eq!((a.config.kind, b.config.kind), (CodecKind::AmrWb, CodecKind::Pcmu));
    assert_eq!(a.pt, amr_wb, "side A's payload type is the one the caller answered");
    // The recorder is told: side A sends what our offer to it listed, side B its own PCMU.
    let (_, [a_fmts, b_fmts]) = s.bench.env.media.codec_changes.last().cloned().expect("the codec change is announced");
    assert!(a_fmts.is_some_and(|f| f.contains(&amr_wb.to_string())), "side A's formats");
    assert_eq!(b_fmts, Some(vec!["0".to_owned()]));
}
