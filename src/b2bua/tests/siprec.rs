//! The external recorder (SIPREC) on a virtual clock: the INVITE to the recording server and its
//! two-part body, ACK on 200 and the fork pointed at its answer, BYE at the end of the call,
//! a refusing or silent server leaving the call alone, and the server's own BYE.
use std::time::Duration;

use super::flows::{in_dialog, to_tag};
use super::harness::*;
use crate::b2bua::siprec_metadata::{answer_sdp, parts, METADATA_TYPE};
use crate::b2bua::{B2buaConfig, B2buaEvent};
use crate::sip::message::{HeaderName, Message, Request};
use crate::sip::sdp::SessionDescription;

const SRS: &str = "10.0.0.9:5080";
const SRS_ANSWER: &str = "v=0\r\no=srs 5 5 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=label:1\r\na=recvonly\r\nm=audio 0 RTP/AVP 0\r\na=label:2\r\n";

/// A recorded call, answered and ACKed, with the INVITE the recording server received.
struct Recorded {
    bench: Bench,
    a_invite: Request,
    a_tag: String,
    srs_invite: Request,
}

fn recorded_call() -> Recorded {
    let mut b = Bench::with_config(B2buaConfig { server_name: "ncgw-test".into(), siprec_server: Some(format!("sip:srs@{SRS}")), ..Default::default() });
    let inv = invite("95555", "call-1", OFFER);
    let a_invite = req_of(&inv).clone();
    b.deliver(CALLER, inv);
    let b_invite = req_of(&b.take_to(CALLEE)[0]).clone();
    assert!(b.take_to(SRS).is_empty(), "nothing is recorded before the answer");
    b.deliver(CALLEE, answer(&b_invite, 200, "callee1", "sip:agent@10.0.0.2:5070", Some(ANSWER)));
    let ok = b.take_to(CALLER);
    let a_tag = to_tag(ok.iter().find(|m| matches!(m, Message::Response(r) if r.status == 200)).expect("200 to the caller"));
    b.deliver(CALLER, in_dialog(&a_invite, true, "ACK", 1, &a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", None));
    b.take_to(CALLEE);
    b.take_to(CALLER);
    let to_srs = b.take_to(SRS);
    assert_eq!(methods(&to_srs), vec!["INVITE"], "the answer opens the recording session");
    let srs_invite = req_of(&to_srs[0]).clone();
    Recorded { bench: b, a_invite, a_tag, srs_invite }
}

fn srs_tag(r: &Recorded) -> String {
    r.srs_invite.headers.from_addr().unwrap().tag().unwrap().to_owned()
}

#[test]
fn the_invite_carries_a_labelled_sendonly_offer_and_metadata() {
    let r = recorded_call();
    let inv = &r.srs_invite;
    assert_eq!(inv.uri, format!("sip:srs@{SRS}"));
    assert_eq!(inv.headers.get(&HeaderName::Require), Some("siprec"));
    let contact = inv.headers.get(&HeaderName::Contact).unwrap();
    assert!(contact.ends_with(";+sip.src") && contact.contains("10.0.0.100:5060"), "{contact}");
    // A dialog of our own: nothing of either leg's Call-ID or tags.
    let call_id = inv.headers.call_id().unwrap();
    assert!(call_id != "call-1" && !call_id.contains("10.0.0.1"), "{call_id}");
    let ct = inv.headers.content_type().unwrap().unwrap();
    assert!(ct.is("multipart", "mixed"), "{ct}");
    let boundary = ct.params.get("boundary").flatten().unwrap().to_owned();
    let body = parts(&inv.body, &boundary);
    assert_eq!(body.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["application/sdp", METADATA_TYPE]);
    assert!(String::from_utf8_lossy(&inv.body).contains("Content-Disposition: recording-session"));

    let sdp = answer_sdp(Some(&ct), &inv.body).expect("an SDP offer");
    assert_eq!(sdp.media.len(), 2);
    for (i, m) in sdp.media.iter().enumerate() {
        // Our fork sockets, announced with the address facing the server; the call's codec.
        assert_eq!(sdp.connection_for(m).unwrap().address, "10.0.0.100");
        assert_eq!(m.port, 30004 + 2 * i as u16);
        assert_eq!(m.formats[0], "0", "PCMU as relayed");
        let label = m.attributes.iter().find(|a| a.name == "label").and_then(|a| a.value.clone());
        assert_eq!(label.as_deref(), Some(["1", "2"][i]));
        assert!(m.attributes.iter().any(|a| a.name == "sendonly"));
    }
    let xml = String::from_utf8_lossy(body[1].1).into_owned();
    assert!(xml.contains("<nameID aor=\"tel:+8613800138000\"/>"), "the caller as the dialplan normalised it:\n{xml}");
    assert!(xml.contains("95555"), "{xml}");
    assert_eq!(xml.matches("<participantstreamassoc").count(), 2);
    assert_eq!(xml.matches("<send>").count(), 2);
    assert!(!xml.contains("10.0.0.2") && !xml.contains("10.0.0.1:") && !xml.contains("call-1") && !xml.contains("caller1"), "no address, Call-ID or tag of the legs:\n{xml}");
    assert_eq!(r.bench.env.media.forks.len(), 1);
}

#[test]
fn a_200_is_acked_the_fork_follows_the_answer_and_the_call_end_byes_it() {
    let mut r = recorded_call();
    let b = &mut r.bench;
    b.deliver(SRS, answer(&r.srs_invite, 200, "srs1", &format!("sip:srs@{SRS}"), Some(SRS_ANSWER)));
    let acks = b.take_to(SRS);
    assert_eq!(methods(&acks), vec!["ACK"]);
    assert_eq!(req_of(&acks[0]).headers.call_id().unwrap(), r.srs_invite.headers.call_id().unwrap());
    // Stream 1 to the server's port, stream 2 declined with port 0.
    let media = *b.env.media.open.keys().next().unwrap();
    assert_eq!(b.env.media.fork_to, vec![(media, [Some("10.0.0.9:6000".parse().unwrap()), None])]);
    assert!(b.events.iter().any(|e| matches!(e, B2buaEvent::SiprecStarted { .. })));
    assert_eq!(b.node.calls.recordings_active(), 1);

    // The caller hangs up: both legs and the recording session get BYE.
    b.deliver(CALLER, in_dialog(&r.a_invite, true, "BYE", 2, &r.a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", None));
    assert_eq!(methods(&b.take_to(CALLEE)), vec!["BYE"]);
    let bye = b.take_to(SRS);
    assert_eq!(methods(&bye), vec!["BYE"]);
    let bye = req_of(&bye[0]).clone();
    assert_eq!(bye.headers.call_id().unwrap(), r.srs_invite.headers.call_id().unwrap());
    assert_eq!(bye.headers.cseq().unwrap().seq, 2);
    assert_eq!(b.records[0].cause, "normal");
    b.deliver(SRS, answer(&bye, 200, "srs1", &format!("sip:srs@{SRS}"), None));
    assert_eq!(b.node.calls.recordings_active(), 0);
    // Everything is forgotten once the transactions are over.
    b.advance(Duration::from_secs(70));
    assert_eq!(b.node.calls.held(), 0);
    assert!(b.take_to(SRS).is_empty(), "no retransmission after the 200: {:?}", methods(&b.take_to(SRS)));
}

#[test]
fn a_refusing_server_leaves_the_call_alone() {
    let mut r = recorded_call();
    let b = &mut r.bench;
    b.deliver(SRS, answer(&r.srs_invite, 488, "srs1", &format!("sip:srs@{SRS}"), None));
    assert_eq!(methods(&b.take_to(SRS)), vec!["ACK"], "the transaction layer ACKs the failure");
    assert!(b.events.iter().any(|e| matches!(e, B2buaEvent::SiprecFailed { status: Some(488), .. })), "{:?}", b.events);
    assert_eq!(b.node.calls.active(), 1);
    assert!(b.take_to(CALLER).is_empty() && b.take_to(CALLEE).is_empty(), "nothing reaches the call's legs");
    assert!(b.env.media.fork_to.is_empty());
    b.deliver(CALLER, in_dialog(&r.a_invite, true, "BYE", 2, &r.a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", None));
    assert_eq!(b.records[0].cause, "normal");
    assert!(methods(&b.take_to(SRS)).is_empty(), "no BYE for a session that never was");
}

#[test]
fn a_silent_server_times_out_and_the_call_goes_on() {
    let mut r = recorded_call();
    let b = &mut r.bench;
    b.advance(Duration::from_secs(40));
    let sent = methods(&b.take_to(SRS));
    assert!(sent.len() > 3 && sent.iter().all(|m| m == "INVITE"), "Timer A retransmissions only: {sent:?}");
    assert!(b.events.iter().any(|e| matches!(e, B2buaEvent::SiprecFailed { status: None, .. })), "{:?}", b.events);
    assert_eq!(b.node.calls.active(), 1);
    assert!(b.records.is_empty());
    assert!(b.take_to(CALLER).is_empty() && b.take_to(CALLEE).is_empty());
}

#[test]
fn the_servers_bye_ends_only_the_recording() {
    let mut r = recorded_call();
    let tag = srs_tag(&r);
    let b = &mut r.bench;
    b.deliver(SRS, answer(&r.srs_invite, 200, "srs1", &format!("sip:srs@{SRS}"), Some(SRS_ANSWER)));
    b.take_to(SRS);
    b.deliver(SRS, in_dialog(&r.srs_invite, false, "BYE", 1, &tag, "srs1", "sip:ncgw@10.0.0.100:5060", SRS, None));
    assert_eq!(statuses(&b.take_to(SRS)), vec![200]);
    let media = *b.env.media.open.keys().next().unwrap();
    assert_eq!(b.env.media.fork_to.last(), Some(&(media, [None, None])), "the fork stops");
    assert_eq!(b.node.calls.active(), 1);
    assert!(b.take_to(CALLER).is_empty() && b.take_to(CALLEE).is_empty());
    assert_eq!(b.node.calls.recordings_active(), 0);
    b.deliver(CALLER, in_dialog(&r.a_invite, true, "BYE", 2, &r.a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", None));
    assert_eq!(b.records[0].cause, "normal");
    assert!(b.take_to(SRS).is_empty(), "no BYE to a session the server ended");
}

#[test]
fn a_call_ending_before_the_servers_answer_cancels_or_byes_it() {
    let mut r = recorded_call();
    let b = &mut r.bench;
    let srs_uri = format!("sip:srs@{SRS}");
    b.deliver(CALLER, in_dialog(&r.a_invite, true, "BYE", 2, &r.a_tag, "caller1", "sip:ncgw@10.0.0.100:5060", "10.0.0.1:5060", None));
    assert!(b.take_to(SRS).is_empty(), "no CANCEL before a provisional (RFC 3261 §9.1)");
    b.deliver(SRS, answer(&r.srs_invite, 180, "srs1", &srs_uri, None));
    assert_eq!(methods(&b.take_to(SRS)), vec!["CANCEL"]);
    // The server's 200 crossed the CANCEL: ACK, then BYE.
    b.deliver(SRS, answer(&r.srs_invite, 200, "srs1", &srs_uri, Some(SRS_ANSWER)));
    assert_eq!(methods(&b.take_to(SRS)), vec!["ACK", "BYE"]);
    assert!(b.env.media.fork_to.is_empty(), "nothing forked for an ended call");
    assert!(!b.events.iter().any(|e| matches!(e, B2buaEvent::SiprecFailed { .. })));
    let _ = SessionDescription::parse(SRS_ANSWER.as_bytes()).unwrap();
}

/// Passes call events to the ACD and back until both are quiet (as `runtime::acd_calls` does).
fn pump(b: &mut Bench, acd: &mut crate::acd::Acd) {
    loop {
        let now = b.clock();
        let evs = std::mem::take(&mut b.events);
        for ev in &evs {
            b.node.calls.acd_feed(now, ev, acd, &mut b.node.txl, &mut b.env);
        }
        let (n, _) = b.node.calls.acd_drain(now, acd, &mut b.node.txl, &mut b.env);
        b.collect();
        if evs.is_empty() && n == 0 && b.events.is_empty() {
            break;
        }
    }
}

#[test]
fn a_queued_call_is_recorded_once_the_agent_answers_with_the_agent_as_participant() {
    const AGENT: &str = "10.0.0.11:5060";
    let mut b = Bench::with_config(B2buaConfig { server_name: "ncgw-test".into(), siprec_server: Some(format!("sip:srs@{SRS}")), ..Default::default() });
    b.env.users.insert("1001".into(), ("sip:1001@10.0.0.11:5060".into(), crate::sip::peer::Peer::udp(AGENT.parse().unwrap())));
    let mut acd = crate::acd::Acd::new(crate::acd::AcdConfig::from_text("queues", "[[queue]]\nname = \"general\"\n\n[[agent]]\nid = \"1001\"\n").unwrap());
    acd.agent_login(b.now, "1001", None).unwrap();
    b.deliver(CALLER, invite("96666", "qcall-1", OFFER));
    pump(&mut b, &mut acd);
    assert_eq!(statuses(&b.take_to(CALLER)), vec![100, 200], "answered by the queue");
    let offer = req_of(&b.take_to(AGENT)[0]).clone();
    assert!(b.take_to(SRS).is_empty(), "prompts are not the call: nothing recorded yet");
    b.deliver(AGENT, answer(&offer, 200, "agent1", "sip:1001@10.0.0.11:5060", Some(ANSWER)));
    pump(&mut b, &mut acd);
    let to_srs = b.take_to(SRS);
    assert_eq!(methods(&to_srs), vec!["INVITE"], "the agent's answer starts the recording");
    let xml = String::from_utf8_lossy(&req_of(&to_srs[0]).body).into_owned();
    assert!(xml.contains("<nameID aor=\"sip:1001@10.0.0.100\"/>") && xml.contains("tel:+8613800138000"), "{xml}");
}
