//! Queued calls on a virtual clock: the B2BUA and a real `Acd` wired by the same `acd_feed` /
//! `acd_drain` glue the runtime uses, scripted caller and agents.
use std::time::Duration;

use super::harness::*;
use crate::acd::{Acd, AcdConfig, AgentState};
use crate::b2bua::{PromptCodec, PromptRef, Side};
use crate::sip::message::{Message, Request};
use crate::sip::peer::Peer;

const AGENT1: &str = "10.0.0.11:5060";
const AGENT2: &str = "10.0.0.12:5060";

const QUEUES: &str = r#"
[[queue]]
name = "general"
ring_timeout_s = 15
wrap_up_s = 10
position_every_s = 30
overflow = { callback = true }

[[agent]]
id = "1001"

[[agent]]
id = "1002"
"#;

struct QBench {
    b: Bench,
    acd: Acd,
}

impl QBench {
    fn new() -> QBench {
        QBench::with(QUEUES)
    }

    fn with(queues: &str) -> QBench {
        let mut b = Bench::new();
        for (id, addr) in [("1001", AGENT1), ("1002", AGENT2)] {
            b.env.users.insert(id.into(), (format!("sip:{id}@{addr}"), Peer::udp(addr.parse().unwrap())));
        }
        QBench { b, acd: Acd::new(AcdConfig::from_text("queues", queues).unwrap()) }
    }

    /// Passes call events to the ACD and ACD events to the calls until both are quiet.
    fn pump(&mut self) {
        loop {
            let now = self.b.clock();
            let evs = std::mem::take(&mut self.b.events);
            for ev in &evs {
                self.b.node.calls.acd_feed(now, ev, &mut self.acd, &mut self.b.node.txl, &mut self.b.env);
            }
            let (n, _) = self.b.node.calls.acd_drain(now, &mut self.acd, &mut self.b.node.txl, &mut self.b.env);
            self.b.collect();
            if evs.is_empty() && n == 0 && self.b.events.is_empty() {
                break;
            }
        }
    }

    fn deliver(&mut self, from: &str, msg: Message) {
        self.b.deliver(from, msg);
        self.pump();
    }

    fn advance(&mut self, by: Duration) {
        let until = self.b.now + by;
        loop {
            let next = [self.b.node.poll_timeout(), self.acd.poll_timeout()].into_iter().flatten().min();
            let Some(t) = next.filter(|t| *t <= until) else { break };
            self.b.now = self.b.now.max(t);
            let now = self.b.clock();
            self.b.node.handle_timeout(now, &mut self.b.env);
            self.acd.handle_timeout(now.instant, now.unix_ms / 1000);
            self.b.collect();
            self.pump();
        }
        self.b.now = until;
    }

    fn login(&mut self, id: &str) {
        self.acd.agent_login(self.b.now, id, None).unwrap();
        self.pump();
    }

    fn state(&self, id: &str) -> AgentState {
        self.acd.agent(id).unwrap().state
    }
}

fn to_tag(m: &Message) -> String {
    match m {
        Message::Response(r) => r.headers.to_addr().unwrap().tag().unwrap().to_owned(),
        Message::Request(_) => panic!("not a response"),
    }
}

/// The caller's ACK or BYE in the dialog we answered with `our_tag`.
fn caller_request(a_invite: &Request, method: &str, cseq: u32, our_tag: &str) -> Message {
    let call_id = a_invite.headers.call_id().unwrap();
    Message::Request(parse_req(&format!(
        "{method} sip:ncgw@10.0.0.100:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{method}-{cseq}-{call_id}
Max-Forwards: 70
From: \"Customer\" <sip:+8613800138000@10.0.0.1>;tag=caller1
To: <sip:96666@10.0.0.100>;tag={our_tag}
Call-ID: {call_id}
CSeq: {cseq} {method}
Content-Length: 0

"
    )))
}

struct Waiting {
    q: QBench,
    a_invite: Request,
    a_tag: String,
}

/// A caller dials the queue: answered at once with our SDP and the welcome prompt, then ACKs.
fn queued_call(q: QBench) -> Waiting {
    let mut q = q;
    let call_id = format!("qcall-{}", q.b.records.len() + q.b.node.calls.active());
    let inv = invite("96666", &call_id, OFFER);
    let a_invite = req_of(&inv).clone();
    q.deliver(CALLER, inv);
    let out = q.b.take_to(CALLER);
    assert_eq!(statuses(&out), vec![100, 200], "the caller is answered at once");
    let Message::Response(ok) = &out[1] else { unreachable!() };
    let sdp = String::from_utf8_lossy(&ok.body).into_owned();
    assert!(sdp.contains(" RTP/AVP 0 101\r\n"), "one codec we can play, plus telephone-event: {sdp}");
    let a_tag = to_tag(&out[1]);
    let (_, side, codec, prompts, then) = q.b.env.media.plays[0].clone();
    assert_eq!((side, codec), (Side::A, PromptCodec::Pcmu(0)));
    assert_eq!(prompts, vec![PromptRef::new("zh", "welcome"), PromptRef::new("en", "welcome")], "no language set: Mandarin, then English");
    assert_eq!(then, Some(PromptRef::new("tone", "comfort")));
    q.deliver(CALLER, caller_request(&a_invite, "ACK", 1, &a_tag));
    Waiting { q, a_invite, a_tag }
}

#[test]
fn a_queued_call_is_answered_with_prompts_then_bridged_to_the_agent() {
    let mut q = QBench::new();
    q.login("1001");
    let Waiting { mut q, a_invite, a_tag } = queued_call(q);
    let out = q.b.take_to(AGENT1);
    assert_eq!(methods(&out), vec!["INVITE"], "the ACD offered the call to the registered agent");
    let offer = req_of(&out[0]).clone();
    assert_eq!(offer.uri, "sip:1001@10.0.0.11:5060");
    let body = String::from_utf8_lossy(&offer.body).into_owned();
    assert!(body.contains("m=audio 20006 RTP/AVP 0 101") && !body.contains("10.0.0.1\r\n"), "the caller's codec, our address: {body}");
    assert!(matches!(q.state("1001"), AgentState::Offered { .. }));

    q.b.advance(Duration::from_secs(3));
    q.b.take_to(AGENT1);
    q.deliver(AGENT1, answer(&offer, 180, "agent1", "sip:1001@10.0.0.11:5060", None));
    assert!(q.b.take_to(CALLER).is_empty(), "the caller, already answered, hears nothing of the ringing");
    q.deliver(AGENT1, answer(&offer, 200, "agent1", "sip:1001@10.0.0.11:5060", Some(ANSWER)));
    assert_eq!(methods(&q.b.take_to(AGENT1)), vec!["ACK"]);
    assert_eq!(q.b.env.media.stops.len(), 1, "the prompts stop when the bridge starts");
    let media = q.b.env.media.open.values().next().unwrap();
    assert!(media.iter().any(|(s, r)| *s == Side::B && r.is_some_and(|r| r.rtp == "10.0.0.2:50000".parse().unwrap())), "the agent's media is bridged");
    assert!(matches!(q.state("1001"), AgentState::OnCall { .. }));
    let caller_media = media.iter().rev().find(|(s, _)| *s == Side::A).and_then(|(_, r)| *r).unwrap();
    assert!(!caller_media.hold, "bridged: the caller's own hold state again");

    q.b.advance(Duration::from_secs(60));
    q.deliver(CALLER, caller_request(&a_invite, "BYE", 2, &a_tag));
    assert_eq!(statuses(&q.b.take_to(CALLER)), vec![200]);
    assert_eq!(methods(&q.b.take_to(AGENT1)), vec!["BYE"]);
    let r = &q.b.records[0];
    assert_eq!((r.cause, r.queue.as_deref(), r.agent.as_deref(), r.queue_outcome), ("normal", Some("general"), Some("1001"), Some("answered")));
    assert_eq!(r.wait_ms, Some(3000));
    assert!(matches!(q.state("1001"), AgentState::WrapUp { .. }), "the agent's call ended: wrap-up");
    q.advance(Duration::from_secs(11));
    assert_eq!(q.state("1001"), AgentState::Available);
}

#[test]
fn a_caller_who_hangs_up_while_queued_is_abandoned_with_the_wait() {
    let mut q = QBench::new();
    q.login("1001");
    q.acd.agent_break(q.b.now, "1001", "lunch").unwrap();
    let Waiting { mut q, a_invite, a_tag } = queued_call(q);
    assert!(q.b.take_to(AGENT1).is_empty(), "nobody available: the call waits");
    assert_eq!(q.acd.waiting(), 1);
    q.advance(Duration::from_secs(31));
    let (_, _, _, prompts, _) = q.b.env.media.plays.last().unwrap().clone();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(&names[..3], ["position_pre", "n1", "position_post"], "the position is announced");
    q.advance(Duration::from_secs(4));
    q.deliver(CALLER, caller_request(&a_invite, "BYE", 2, &a_tag));
    assert_eq!(statuses(&q.b.take_to(CALLER)), vec![200]);
    let r = &q.b.records[0];
    assert_eq!((r.cause, r.queue_outcome, r.agent.as_deref()), ("acd.abandoned", Some("abandoned"), None));
    assert_eq!(r.wait_ms, Some(35_000));
    assert_eq!(q.acd.waiting(), 0, "the ACD forgot the call");

    // Abandoned while the agent's phone rings: the agent leg is cancelled, the agent freed.
    q.acd.agent_available(q.b.now, "1001").unwrap();
    let Waiting { mut q, a_invite, a_tag } = queued_call(q);
    let offer = req_of(&q.b.take_to(AGENT1)[0]).clone();
    q.deliver(AGENT1, answer(&offer, 180, "agent1", "sip:1001@10.0.0.11:5060", None));
    q.deliver(CALLER, caller_request(&a_invite, "BYE", 2, &a_tag));
    assert_eq!(methods(&q.b.take_to(AGENT1)), vec!["CANCEL"]);
    assert_eq!(q.b.records[1].queue_outcome, Some("abandoned"));
    assert_eq!(q.state("1001"), AgentState::Available);
}

#[test]
fn an_agent_who_does_not_answer_is_skipped_for_the_next() {
    let mut q = QBench::new();
    q.login("1001");
    q.advance(Duration::from_secs(1));
    q.login("1002");
    let Waiting { mut q, a_invite, a_tag } = queued_call(q);
    let first = req_of(&q.b.take_to(AGENT1)[0]).clone();
    assert!(q.b.take_to(AGENT2).is_empty(), "the agent idle longest rings first");
    q.deliver(AGENT1, answer(&first, 180, "agent1", "sip:1001@10.0.0.11:5060", None));
    q.advance(Duration::from_secs(15));
    assert_eq!(methods(&q.b.take_to(AGENT1)), vec!["CANCEL"], "ring timeout");
    assert_eq!(q.state("1001"), AgentState::Break { reason: "missed".into() });
    let second = req_of(&q.b.take_to(AGENT2)[0]).clone();
    assert_eq!(second.uri, "sip:1002@10.0.0.12:5060");
    // The first agent's late 487 changes nothing; a late 200 would be ACKed and ended.
    q.deliver(AGENT1, answer(&first, 487, "agent1", "sip:1001@10.0.0.11:5060", None));
    assert!(q.b.records.is_empty());
    q.deliver(AGENT2, answer(&second, 200, "agent2", "sip:1002@10.0.0.12:5060", Some(ANSWER)));
    assert_eq!(methods(&q.b.take_to(AGENT2)), vec!["ACK"]);
    q.deliver(CALLER, caller_request(&a_invite, "BYE", 2, &a_tag));
    let r = &q.b.records[0];
    assert_eq!((r.agent.as_deref(), r.queue_outcome, r.wait_ms), (Some("1002"), Some("answered"), Some(15_000)));
}

#[test]
fn a_busy_agent_is_skipped_at_once() {
    let mut q = QBench::new();
    q.login("1001");
    q.advance(Duration::from_secs(1));
    q.login("1002");
    let Waiting { mut q, .. } = queued_call(q);
    let first = req_of(&q.b.take_to(AGENT1)[0]).clone();
    q.deliver(AGENT1, answer(&first, 486, "agent1", "sip:1001@10.0.0.11:5060", None));
    assert_eq!(methods(&q.b.take_to(AGENT2)), vec!["INVITE"]);
    assert_eq!(q.state("1001"), AgentState::Break { reason: "missed".into() });
}

#[test]
fn a_queue_nobody_serves_plays_the_overflow_prompt_then_hangs_up() {
    let mut q = QBench::new();
    q.deliver(CALLER, invite("96666", "qcall-overflow", OFFER));
    assert_eq!(statuses(&q.b.take_to(CALLER)), vec![100, 200], "answered to hear the announcement");
    assert_eq!(q.b.env.media.plays.len(), 1, "no welcome, only the announcement");
    let (_, _, _, prompts, then) = q.b.env.media.plays.last().unwrap().clone();
    assert_eq!(prompts, vec![PromptRef::new("zh", "callback"), PromptRef::new("en", "callback")]);
    assert_eq!(then, None);
    assert!(q.b.records.is_empty(), "the prompt plays first");
    q.advance(Duration::from_secs(3));
    assert_eq!(methods(&q.b.take_to(CALLER)).first().map(String::as_str), Some("BYE"));
    let r = &q.b.records[0];
    assert_eq!((r.cause, r.queue_outcome), ("acd.callback", Some("overflowed")));
}

#[test]
fn without_a_codec_for_prompts_a_refused_call_gets_480_with_the_cause() {
    let mut q = QBench::new();
    let amr = "v=0\r\no=caller 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 104\r\na=rtpmap:104 AMR-WB/16000\r\n";
    q.deliver(CALLER, invite("96666", "qcall-amr", amr));
    assert_eq!(statuses(&q.b.take_to(CALLER)), vec![100, 480], "nobody logged in, nothing to play");
    let r = &q.b.records[0];
    assert_eq!((r.cause, r.queue_outcome, r.wait_ms), ("acd.no_agent", Some("refused"), Some(0)));
    assert!(q.b.env.media.plays.is_empty());
    assert_eq!(q.b.env.media.closed.len(), 1, "the media session is closed");
}

#[test]
fn a_call_that_waits_out_max_wait_hears_the_busy_prompt_and_is_ended() {
    let mut q = QBench::with("[[queue]]\nname = \"general\"\nmax_wait_s = 20\n[[agent]]\nid = \"1001\"\n");
    q.login("1001");
    q.acd.agent_break(q.b.now, "1001", "meeting").unwrap();
    let Waiting { mut q, .. } = queued_call(q);
    let media = *q.b.env.media.open.keys().next().unwrap();
    let hold = |q: &QBench| q.b.env.media.open[&media].iter().rev().find(|(s, _)| *s == Side::A).and_then(|(_, r)| r.map(|r| r.hold));
    assert_eq!(hold(&q), Some(true), "a waiting caller may be silent: the on-hold media timeout applies");
    q.advance(Duration::from_secs(20));
    let (_, _, _, prompts, then) = q.b.env.media.plays.last().unwrap().clone();
    assert_eq!((prompts[0].name.as_str(), then), ("busy", None));
    assert!(q.b.records.is_empty());
    q.advance(Duration::from_secs(3));
    assert_eq!(methods(&q.b.take_to(CALLER)).first().map(String::as_str), Some("BYE"));
    let r = &q.b.records[0];
    assert_eq!((r.cause, r.queue_outcome, r.wait_ms, r.agent.as_deref()), ("acd.timeout", Some("timed_out"), Some(20_000), None));
}

#[test]
fn a_waiting_caller_who_puts_us_on_hold_is_answered_here() {
    let mut q = QBench::new();
    q.login("1001");
    q.acd.agent_break(q.b.now, "1001", "lunch").unwrap();
    let Waiting { mut q, a_invite, a_tag } = queued_call(q);
    let Message::Request(mut reinvite) = caller_request(&a_invite, "INVITE", 2, &a_tag) else { unreachable!() };
    reinvite.headers.push(crate::sip::message::HeaderName::ContentType, "application/sdp");
    reinvite.body = bytes::Bytes::from(OFFER.replace("a=rtpmap:101", "a=sendonly\r\na=rtpmap:101"));
    q.deliver(CALLER, Message::Request(reinvite));
    let out = q.b.take_to(CALLER);
    assert_eq!(statuses(&out), vec![100, 200]);
    let Message::Response(ok) = &out[1] else { unreachable!() };
    let sdp = String::from_utf8_lossy(&ok.body).into_owned();
    assert!(sdp.contains("a=recvonly") && sdp.contains("o=ncgw ") && sdp.contains(" 2 IN IP4 10.0.0.100"), "{sdp}");
    // A codec we cannot keep playing in: 488, nothing changes.
    let Message::Request(mut amr) = caller_request(&a_invite, "INVITE", 3, &a_tag) else { unreachable!() };
    amr.headers.push(crate::sip::message::HeaderName::ContentType, "application/sdp");
    amr.body = bytes::Bytes::from(OFFER.replace("RTP/AVP 0 101", "RTP/AVP 8").replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"));
    q.deliver(CALLER, caller_request(&a_invite, "ACK", 2, &a_tag));
    q.deliver(CALLER, Message::Request(amr));
    let st = statuses(&q.b.take_to(CALLER));
    assert!(st.contains(&488), "{st:?}");
    assert!(q.b.records.is_empty(), "the call waits on");
}
