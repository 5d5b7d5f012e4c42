//! Call flows: answer and hang up from either side, CANCEL and the 200/CANCEL race, busy, no
//! answer, missing ACK, hold by re-INVITE, glare, media timeout, dialplan outcomes.
use std::time::Duration;

use super::harness::*;
use crate::b2bua::Side;
use crate::sip::message::{HeaderName, Message, Method, Request};

/// A request inside the dialog a peer has with us. `peer_invite` is the INVITE as that peer saw
/// it; the caller sent it (From is theirs), the callee received it (To is theirs).
#[allow(clippy::too_many_arguments)]
pub(super) fn in_dialog(peer_invite: &Request, sent_by_caller: bool, method: &str, cseq: u32, our_tag: &str, their_tag: &str, ruri: &str, via_host: &str, body: Option<&str>) -> Message {
    let from = peer_invite.headers.from_addr().unwrap();
    let to = peer_invite.headers.to_addr().unwrap();
    let (mut mine, mut theirs) = if sent_by_caller { (from, to) } else { (to, from) };
    mine.params.remove("tag");
    theirs.params.remove("tag");
    let call_id = peer_invite.headers.call_id().unwrap();
    let mut text = format!(
        "{method} {ruri} SIP/2.0
Via: SIP/2.0/UDP {via_host};branch=z9hG4bK-{method}-{cseq}-{their_tag}
Max-Forwards: 70
From: {mine};tag={their_tag}
To: {theirs};tag={our_tag}
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: <sip:peer@{via_host}>
Content-Length: 0

"
    );
    if body.is_some() {
        text = text.replace("Content-Length: 0", "Content-Type: application/sdp\nContent-Length: 0");
    }
    let mut r = parse_req(&text);
    if let Some(b) = body {
        r.body = bytes::Bytes::from(b.to_owned());
    }
    Message::Request(r)
}

struct Answered {
    bench: Bench,
    a_invite: Request,
    b_invite: Request,
    a_tag: String,
}

pub(super) fn to_tag(m: &Message) -> String {
    match m {
        Message::Response(r) => r.headers.to_addr().unwrap().tag().unwrap().to_owned(),
        Message::Request(_) => panic!("not a response"),
    }
}

/// Caller → us → callee, answered and ACKed.
fn answered_call() -> Answered {
    let mut b = Bench::new();
    let inv = invite("95555", "call-1", OFFER);
    let a_invite = req_of(&inv).clone();
    b.deliver(CALLER, inv);
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100]);
    let out = b.take_to(CALLEE);
    assert_eq!(methods(&out), vec!["INVITE"]);
    let b_invite = req_of(&out[0]).clone();
    b.deliver(CALLEE, answer(&b_invite, 180, "callee1", "sip:agent@10.0.0.2:5070", None));
    let ringing = b.take_to(CALLER);
    assert_eq!(statuses(&ringing), vec![180]);
    let a_tag = to_tag(&ringing[0]);
    b.deliver(CALLEE, answer(&b_invite, 200, "callee1", "sip:agent@10.0.0.2:5070", Some(ANSWER)));
    assert_eq!(methods(&b.take_to(CALLEE)), vec!["ACK"], "the callee's 2xx is ACKed end to end");
    let ok = b.take_to(CALLER);
    assert_eq!(statuses(&ok), vec![200]);
    assert_eq!(to_tag(&ok[0]), a_tag, "the same dialog as the 180");
    b.deliver(CALLER, in_dialog(&a_invite, true, "ACK", 1, &a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", None));
    assert_eq!(b.node.calls.active(), 1);
    Answered { bench: b, a_invite, b_invite, a_tag }
}

#[test]
fn callee_leg_hides_the_caller_topology() {
    let c = answered_call();
    let text = String::from_utf8(Message::Request(c.b_invite.clone()).to_bytes()).unwrap();
    // 10.0.0.1 is the caller; 10.0.0.100 is us.
    assert!(!text.contains("10.0.0.1:") && !text.contains("10.0.0.1\r") && !text.contains("10.0.0.1;"), "caller address leaked:\n{text}");
    assert!(!text.contains("call-1") && !text.contains("caller1"), "caller Call-ID or tag leaked:\n{text}");
    assert!(text.contains("sip:+8613800138000@10.0.0.100;user=phone"), "the caller's number is kept:\n{text}");
    assert!(text.contains("m=audio 20006 RTP/AVP 0 101"), "our B-side media port:\n{text}");
    assert_eq!(c.b_invite.headers.max_forwards().unwrap(), Some(69));
    let media = &c.bench.env.media.open;
    let remotes = media.values().next().unwrap();
    assert!(remotes.iter().any(|(s, r)| *s == Side::A && r.unwrap().rtp == "10.0.0.1:40000".parse().unwrap()));
    assert!(remotes.iter().any(|(s, r)| *s == Side::B && r.unwrap().rtp == "10.0.0.2:50000".parse().unwrap()));
}

#[test]
fn caller_hangs_up() {
    let mut c = answered_call();
    // Were the node to die now, this is the call's record (`runtime::live_calls` keeps it).
    let live = c.bench.node.calls.live_summaries(1_798_761_609_000);
    assert_eq!(live.len(), 1);
    assert_eq!((live[0].cause, live[0].ended_by, live[0].ended_ms, live[0].sip_code_in), ("node.restart", "system", 1_798_761_609_000, Some(200)));
    assert!(live[0].answered_ms.is_some());
    let bye = in_dialog(&c.a_invite, true, "BYE", 2, &c.a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", None);
    c.bench.deliver(CALLER, bye);
    assert_eq!(statuses(&c.bench.take_to(CALLER)), vec![200]);
    let out = c.bench.take_to(CALLEE);
    assert_eq!(methods(&out), vec!["BYE"]);
    let bye_b = req_of(&out[0]).clone();
    assert!(bye_b.headers.get(&HeaderName::Reason).unwrap().contains("text=\"normal\""));
    c.bench.deliver(CALLEE, Message::Response(crate::sip::message::Response::for_request(&bye_b, 200)));
    assert_eq!(c.bench.records.len(), 1);
    assert_eq!(c.bench.node.calls.active(), 0, "the ended call no longer counts as active");
    let r = &c.bench.records[0];
    assert_eq!((r.cause, r.ended_by, r.sip_code_in, r.sip_code_out), ("normal", "caller", Some(200), Some(200)));
    assert!(c.bench.node.calls.live_summaries(0).is_empty(), "an ended call is not in the crash snapshot");
    assert!(r.answered_ms.is_some() && r.ringing_ms.is_some());
    assert_eq!(c.bench.env.media.closed.len(), 1, "media ports released");
    assert_eq!(r.media.iter().map(|l| l.codec.as_deref()).collect::<Vec<_>>(), vec![Some("PCMU/8000"), Some("PCMU/8000")], "each leg's codec");
    c.bench.advance(Duration::from_secs(40));
    assert_eq!(c.bench.node.calls.held(), 0, "the call is forgotten once its transactions end");
    assert_eq!(c.bench.node.calls.poll_timeout(), None, "and its timers (the 4-hour duration limit) with it");
}

#[test]
fn callee_hangs_up() {
    let mut c = answered_call();
    let bye = in_dialog(&c.b_invite, false, "BYE", 1, "", "callee1", "sip:ncgw@10.0.0.100:5060", "10.0.0.2:5070", None);
    // The callee's To tag is our B-leg From tag.
    let our_b_tag = c.b_invite.headers.from_addr().unwrap().tag().unwrap().to_owned();
    let bye = match bye {
        Message::Request(mut r) => {
            let to = r.headers.get(&HeaderName::To).unwrap().replace(";tag=", &format!(";tag={our_b_tag}"));
            r.headers.set(HeaderName::To, to);
            Message::Request(r)
        }
        m => m,
    };
    c.bench.deliver(CALLEE, bye);
    assert_eq!(statuses(&c.bench.take_to(CALLEE)), vec![200]);
    assert_eq!(methods(&c.bench.take_to(CALLER)), vec!["BYE"]);
    assert_eq!(c.bench.records[0].ended_by, "callee");
    assert_eq!(c.bench.records[0].cause, "normal");
}

#[test]
fn cancel_before_answer() {
    let mut b = Bench::new();
    let inv = invite("95555", "call-2", OFFER);
    let a_invite = req_of(&inv).clone();
    b.deliver(CALLER, inv);
    let b_invite = req_of(&b.take_to(CALLEE)[0]).clone();
    b.deliver(CALLEE, answer(&b_invite, 180, "callee1", "sip:agent@10.0.0.2:5070", None));
    b.take_to(CALLER);
    b.deliver(CALLER, cancel_of(&a_invite));
    let to_caller = statuses(&b.take_to(CALLER));
    assert!(to_caller.contains(&200) && to_caller.contains(&487), "{to_caller:?}");
    let out = b.take_to(CALLEE);
    assert_eq!(methods(&out), vec!["CANCEL"]);
    assert_eq!(req_of(&out[0]).headers.top_via().unwrap().branch(), b_invite.headers.top_via().unwrap().branch(), "CANCEL reuses the INVITE branch");
    assert_eq!(b.records[0].cause, "caller_cancel");
    assert_eq!(b.records[0].ended_by, "caller");
    assert_eq!(b.records[0].sip_code_in, Some(487));
    // The callee answers the CANCEL and ends its INVITE with 487; our layer ACKs it.
    b.deliver(CALLEE, Message::Response(crate::sip::message::Response::for_request(req_of(&out[0]), 200)));
    b.deliver(CALLEE, answer(&b_invite, 487, "callee1", "sip:agent@10.0.0.2:5070", None));
    assert_eq!(methods(&b.take_to(CALLEE)), vec!["ACK"]);
}

#[test]
fn ok_crossing_cancel_is_acked_then_byed() {
    let mut b = Bench::new();
    let inv = invite("95555", "call-3", OFFER);
    let a_invite = req_of(&inv).clone();
    b.deliver(CALLER, inv);
    let b_invite = req_of(&b.take_to(CALLEE)[0]).clone();
    b.deliver(CALLEE, answer(&b_invite, 183, "callee1", "sip:agent@10.0.0.2:5070", Some(ANSWER)));
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100, 183], "early media is relayed with our SDP");
    b.deliver(CALLER, cancel_of(&a_invite));
    assert_eq!(methods(&b.take_to(CALLEE)), vec!["CANCEL"]);
    b.deliver(CALLEE, answer(&b_invite, 200, "callee1", "sip:agent@10.0.0.2:5070", Some(ANSWER)));
    assert_eq!(methods(&b.take_to(CALLEE)), vec!["ACK", "BYE"]);
    let invite_200 = b.take_to(CALLER).iter().any(|m| matches!(m, Message::Response(r) if r.status == 200 && r.headers.cseq().unwrap().method == Method::Invite));
    assert!(!invite_200, "the caller never gets the callee's 200");
    assert_eq!(b.records.len(), 1);
}

#[test]
fn a_full_transaction_table_refuses_the_call_with_503_and_releases_its_media() {
    let mut b = Bench::new();
    // Room for the caller's INVITE transaction, none for the callee leg's.
    b.node.txl.set_max_transactions(std::num::NonZeroUsize::new(1).unwrap());
    b.deliver(CALLER, invite("95555", "call-o", OFFER));
    let out = b.take_to(CALLER);
    assert_eq!(statuses(&out), vec![100, 503]);
    let Message::Response(r) = &out[1] else { panic!("a response") };
    assert_eq!(r.headers.get(&HeaderName::RetryAfter), Some("5"));
    assert!(b.take_to(CALLEE).is_empty(), "no callee leg");
    assert_eq!((b.records.len(), b.records[0].cause), (1, "sip.overloaded"));
    assert_eq!(b.env.media.closed.len(), 1, "media ports released");
}

#[test]
fn callee_busy_passes_486_and_records_it() {
    let mut b = Bench::new();
    b.deliver(CALLER, invite("95555", "call-4", OFFER));
    let b_invite = req_of(&b.take_to(CALLEE)[0]).clone();
    b.deliver(CALLEE, answer(&b_invite, 486, "callee1", "sip:agent@10.0.0.2:5070", None));
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100, 486]);
    assert_eq!(methods(&b.take_to(CALLEE)), vec!["ACK"]);
    let r = &b.records[0];
    assert_eq!((r.cause, r.sip_code_in, r.sip_code_out), ("callee_busy", Some(486), Some(486)));
    assert_eq!(b.env.media.open.len(), 0, "ports released");
}

#[test]
fn no_answer_cancels_after_the_ring_timeout() {
    let mut b = Bench::new();
    b.deliver(CALLER, invite("95555", "call-5", OFFER));
    let b_invite = req_of(&b.take_to(CALLEE)[0]).clone();
    b.deliver(CALLEE, answer(&b_invite, 180, "callee1", "sip:agent@10.0.0.2:5070", None));
    b.take_to(CALLER);
    b.advance(Duration::from_secs(89));
    assert!(b.records.is_empty());
    b.advance(Duration::from_secs(2));
    assert!(statuses(&b.take_to(CALLER)).contains(&480));
    let to_callee = methods(&b.take_to(CALLEE));
    assert!(!to_callee.is_empty() && to_callee.iter().all(|m| m == "CANCEL"), "CANCEL (and its retransmissions): {to_callee:?}");
    assert_eq!(b.records[0].cause, "no_answer");
}

#[test]
fn caller_that_never_acks_gets_2xx_retransmissions_then_bye() {
    let mut b = Bench::new();
    b.deliver(CALLER, invite("95555", "call-6", OFFER));
    let b_invite = req_of(&b.take_to(CALLEE)[0]).clone();
    b.deliver(CALLEE, answer(&b_invite, 200, "callee1", "sip:agent@10.0.0.2:5070", Some(ANSWER)));
    b.take_to(CALLEE);
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100, 200]);
    let mut times = Vec::new();
    let start = b.now;
    for _ in 0..400 {
        b.advance(Duration::from_millis(100));
        let got = b.take_to(CALLER);
        for m in &got {
            if matches!(m, Message::Response(r) if r.status == 200) {
                times.push(b.now.duration_since(start).as_millis() as u64);
            }
            if let Message::Request(r) = m {
                assert_eq!(r.method, Method::Bye);
                times.push(u64::MAX);
            }
        }
        if times.last() == Some(&u64::MAX) {
            break;
        }
    }
    // First 200 at 0 (taken before), then 0.5, 1.5, 3.5, 7.5, 11.5 … every 4 s until 32 s.
    assert_eq!(&times[..5], &[500, 1500, 3500, 7500, 11500], "{times:?}");
    assert_eq!(times.last(), Some(&u64::MAX), "BYE after 64·T1");
    assert_eq!(methods(&b.take_to(CALLEE)), vec!["BYE"]);
    assert_eq!(b.records[0].cause, "sip.no_ack");
}

#[test]
fn hold_by_reinvite_from_the_callee_is_relayed() {
    let mut c = answered_call();
    let our_b_tag = c.b_invite.headers.from_addr().unwrap().tag().unwrap().to_owned();
    let held = ANSWER.replace("a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:0 PCMU/8000\r\na=sendonly\r\n").replace("o=callee 9 9", "o=callee 9 10");
    let reinvite = in_dialog(&c.b_invite, false, "INVITE", 1, &our_b_tag, "callee1", "sip:ncgw@10.0.0.100:5060", "10.0.0.2:5070", Some(&held));
    c.bench.deliver(CALLEE, reinvite);
    assert_eq!(statuses(&c.bench.take_to(CALLEE)), vec![100]);
    let out = c.bench.take_to(CALLER);
    assert_eq!(methods(&out), vec!["INVITE"]);
    let to_caller = req_of(&out[0]).clone();
    let body = String::from_utf8(to_caller.body.to_vec()).unwrap();
    assert!(body.contains("a=sendonly") && body.contains("c=IN IP4 10.0.0.100") && !body.contains("10.0.0.2"), "{body}");
    assert!(body.contains("o=ncgw") && body.contains(" 2 IN IP4"), "the caller's SDP version moves on: {body}");
    // The caller answers recvonly; the callee gets 200 with our address.
    let reply = OFFER.replace("a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:0 PCMU/8000\r\na=recvonly\r\n");
    c.bench.deliver(CALLER, answer(&to_caller, 200, &c.a_tag, "sip:caller@10.0.0.1:5060", Some(&reply)));
    assert_eq!(methods(&c.bench.take_to(CALLER)), vec!["ACK"]);
    let back = c.bench.take_to(CALLEE);
    assert_eq!(statuses(&back), vec![200]);
    let media = c.bench.env.media.open.values().next().unwrap();
    assert!(media.iter().any(|(s, r)| *s == Side::B && r.unwrap().hold), "media knows the callee holds");
}

#[test]
fn glare_gets_491() {
    let mut c = answered_call();
    let our_b_tag = c.b_invite.headers.from_addr().unwrap().tag().unwrap().to_owned();
    c.bench.deliver(CALLEE, in_dialog(&c.b_invite, false, "INVITE", 1, &our_b_tag, "callee1", "sip:ncgw@10.0.0.100:5060", "10.0.0.2:5070", Some(ANSWER)));
    c.bench.take_to(CALLEE);
    c.bench.take_to(CALLER);
    // While that exchange is open, the caller re-INVITEs too.
    c.bench.deliver(CALLER, in_dialog(&c.a_invite, true, "INVITE", 2, &c.a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", Some(OFFER)));
    assert_eq!(statuses(&c.bench.take_to(CALLER)), vec![100, 491]);
}

#[test]
fn media_timeout_ends_both_legs_with_a_reason() {
    let mut c = answered_call();
    let media = *c.bench.env.media.open.keys().next().unwrap();
    let now = crate::b2bua::Now { instant: c.bench.now, unix_ms: 1_800_000_100_000 };
    c.bench.node.calls.on_media_timeout(now, media, &mut c.bench.node.txl, &mut c.bench.env);
    c.bench.collect();
    for peer in [CALLER, CALLEE] {
        let out = c.bench.take_to(peer);
        assert_eq!(methods(&out), vec!["BYE"], "{peer}");
        assert!(req_of(&out[0]).headers.get(&HeaderName::Reason).unwrap().contains("media.timeout"));
    }
    assert_eq!(c.bench.records[0].cause, "media.timeout");
}

#[test]
fn dialplan_outcomes_are_answered_and_recorded() {
    let mut b = Bench::new();
    b.deliver(CALLER, invite("12345", "call-7", OFFER));
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100, 404]);
    assert_eq!(b.records[0].cause, "dialplan.rejected");
    b.deliver(CALLER, invite("95555", "call-9", ""));
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100, 488], "an INVITE without an offer");
    b.env.media.fail = true;
    b.deliver(CALLER, invite("95555", "call-10", OFFER));
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100, 503]);
    assert_eq!(b.records.last().unwrap().cause, "media.no_ports");
    assert!(b.take_to(CALLEE).is_empty(), "nothing reached the callee");
}

#[test]
fn a_481_on_one_leg_tears_down_both() {
    let mut c = answered_call();
    c.bench.deliver(CALLER, in_dialog(&c.a_invite, true, "INVITE", 2, &c.a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", Some(OFFER)));
    c.bench.take_to(CALLER);
    let out = c.bench.take_to(CALLEE);
    let reinv = req_of(&out[0]).clone();
    c.bench.deliver(CALLEE, answer(&reinv, 481, "callee1", "sip:agent@10.0.0.2:5070", None));
    assert!(statuses(&c.bench.take_to(CALLER)).contains(&481));
    assert_eq!(c.bench.records[0].cause, "sip.leg_lost");
}

#[test]
fn the_call_duration_limit_ends_both_legs() {
    let mut c = answered_call();
    // The default limit is 4 h; nothing happens before it.
    c.bench.advance(Duration::from_secs(4 * 3600 - 10));
    c.bench.sent.clear();
    assert!(c.bench.records.is_empty());
    c.bench.advance(Duration::from_secs(20));
    for peer in [CALLER, CALLEE] {
        let out = c.bench.take_to(peer);
        assert_eq!(methods(&out).first().map(String::as_str), Some("BYE"), "{peer}");
        assert!(req_of(&out[0]).headers.get(&HeaderName::Reason).unwrap().contains("call.max_duration"));
    }
    assert_eq!(c.bench.records[0].cause, "call.max_duration");
}

#[test]
fn the_call_indexes_are_reserved_for_the_calls_the_node_may_hold() {
    let mut m = crate::b2bua::manager::CallManager::new(crate::b2bua::manager::B2buaConfig::default(), 7);
    m.reserve(10_000);
    // Growing them later would rehash every key at once on the core.
    assert!(m.calls.capacity() >= 10_000 && m.by_dialog.capacity() >= 20_000);
    assert!(m.by_client_tx.capacity() >= 20_000 && m.by_server_tx.capacity() >= 20_000 && m.by_media.capacity() >= 10_000);
}
