//! Dialog creation from both sides, in-dialog requests, CSeq ordering, target refresh.
use super::*;
use crate::sip::message::{Host, Message};

fn req(text: &str) -> Request {
    match Message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

fn resp(text: &str) -> Response {
    match Message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap() {
        Message::Response(r) => r,
        Message::Request(_) => panic!("expected a response"),
    }
}

const INVITE: &str = "INVITE sip:95555@gw.example SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1
Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>
From: \"Alice\" <sip:alice@a.example>;tag=aaa
To: <sip:95555@gw.example>
Call-ID: call-1
CSeq: 10 INVITE
Contact: <sip:alice@10.0.0.1:5060>
Content-Length: 0

";

fn via() -> Via {
    Via::new("UDP", Host::V4("127.0.0.1".parse().unwrap()), Some(5060), "z9hG4bKnew")
}

#[test]
fn uas_dialog_routes_in_order_and_counts_cseq() {
    let invite = req(INVITE);
    let mut d = Dialog::as_uas(&invite, "ours", DialogState::Confirmed).unwrap();
    assert_eq!(d.id(), DialogId { call_id: "call-1".into(), local_tag: "ours".into(), remote_tag: "aaa".into() });
    assert_eq!(d.remote_target, "sip:alice@10.0.0.1:5060");
    let bye = d.request(Method::Bye, &via());
    assert_eq!(bye.uri, "sip:alice@10.0.0.1:5060");
    let routes: Vec<&str> = bye.headers.get_all(&HeaderName::Route).collect();
    assert_eq!(routes, vec!["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
    assert_eq!(bye.headers.from_addr().unwrap().tag(), Some("ours"));
    assert_eq!(bye.headers.to_addr().unwrap().tag(), Some("aaa"));
    assert_eq!(bye.headers.cseq().unwrap().seq, 1);
    crate::sip::message::check_request(&bye).unwrap();
    // Their next request must have a higher CSeq.
    let mut again = invite.clone();
    again.headers.set(HeaderName::CSeq, "10 INVITE");
    assert!(matches!(d.accept_remote_cseq(&again), Err(DialogError::CSeqOutOfOrder { .. })));
    again.headers.set(HeaderName::CSeq, "11 INVITE");
    d.accept_remote_cseq(&again).unwrap();
}

#[test]
fn uac_dialog_reverses_record_route_and_acks_with_invite_cseq() {
    let mut invite = req(INVITE);
    invite.headers.remove(&HeaderName::RecordRoute);
    let ok = resp("SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1
Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>
From: \"Alice\" <sip:alice@a.example>;tag=aaa
To: <sip:95555@gw.example>;tag=bbb
Call-ID: call-1
CSeq: 10 INVITE
Contact: <sip:agent@10.0.0.9:5070>
Content-Length: 0

");
    let mut d = Dialog::as_uac(&invite, &ok).unwrap();
    assert_eq!(d.state, DialogState::Confirmed);
    assert_eq!(d.route_set, vec!["<sip:p2.example;lr>", "<sip:p1.example;lr>"]);
    let ack = d.ack(10, &via());
    assert_eq!(ack.headers.cseq().unwrap().seq, 10);
    assert_eq!(ack.headers.cseq().unwrap().method, Method::Ack);
    assert_eq!(ack.uri, "sip:agent@10.0.0.9:5070");
    let bye = d.request(Method::Bye, &via());
    assert_eq!(bye.headers.cseq().unwrap().seq, 11);
    // Target refresh from a re-INVITE's Contact.
    let mut h = crate::sip::message::Headers::new();
    h.push(HeaderName::Contact, "<sip:agent@10.0.0.9:5080>");
    d.refresh_target(&h);
    assert_eq!(d.request(Method::Bye, &via()).uri, "sip:agent@10.0.0.9:5080");
}

#[test]
fn strict_route_moves_target_last() {
    let mut invite = req(INVITE);
    invite.headers.set(HeaderName::RecordRoute, "<sip:strict.example>");
    let mut d = Dialog::as_uas(&invite, "x", DialogState::Confirmed).unwrap();
    let bye = d.request(Method::Bye, &via());
    assert_eq!(bye.uri, "sip:strict.example");
    assert_eq!(bye.headers.get(&HeaderName::Route), Some("<sip:alice@10.0.0.1:5060>"));
}

#[test]
fn missing_tags_and_contacts_are_errors() {
    let mut invite = req(INVITE);
    invite.headers.set(HeaderName::From, "<sip:alice@a.example>");
    assert!(matches!(Dialog::as_uas(&invite, "x", DialogState::Early), Err(DialogError::MissingTag("From"))));
    let mut invite = req(INVITE);
    invite.headers.remove(&HeaderName::Contact);
    assert!(matches!(Dialog::as_uas(&invite, "x", DialogState::Early), Err(DialogError::BadContact)));
}
