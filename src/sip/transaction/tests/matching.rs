//! Matching and the layer's own duties: CANCEL, RFC 2543 peers, stray responses, garbage,
//! overload, transport errors, counters.
use std::num::NonZeroUsize;

use super::*;
use crate::sip::message::HeaderName;
use crate::sip::transaction::{TxError, TxId};

const BRANCH: &str = "z9hG4bKmatch1";

fn cancel_for(invite: &Request) -> Request {
    let mut cancel = invite.clone();
    cancel.method = Method::Cancel;
    cancel.headers.set(HeaderName::CSeq, "101 CANCEL");
    cancel
}

fn requests(h: &Harness) -> usize {
    h.events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::Request { .. }))
        .count()
}

#[test]
fn cancel_of_a_pending_invite_gets_200_and_tells_the_tu_once() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, udp());
    h.recv_request(invite.clone(), udp());
    let Some(TxEvent::Request { tx: invite_tx, .. }) = h.take_events().pop() else {
        panic!("INVITE passed up")
    };
    h.take_sent();

    let cancel = cancel_for(&invite);
    h.recv_request(cancel.clone(), udp());
    let sent = h.take_sent();
    let [Transmit {
        message: Message::Response(ok),
        ..
    }] = &sent[..]
    else {
        panic!("expected the 200 to CANCEL, got {sent:?}")
    };
    assert_eq!(ok.status, 200);
    assert_eq!(ok.headers.cseq().unwrap().method, Method::Cancel);
    assert_eq!(h.take_events(), vec![TxEvent::Cancelled { invite_tx }]);

    // The TU ends the INVITE with 487; a retransmitted CANCEL gets its 200 again, no new event.
    let now = h.now;
    h.layer
        .respond(now, invite_tx, response(&invite, 487))
        .unwrap();
    h.recv_request(cancel, udp());
    let statuses: Vec<u16> = h
        .take_sent()
        .iter()
        .filter_map(|t| match &t.message {
            Message::Response(r) => Some(r.status),
            Message::Request(_) => None,
        })
        .collect();
    assert_eq!(statuses, [487, 200]);
    assert!(
        h.take_events().is_empty(),
        "the CANCEL transaction is the layer's own"
    );
}

#[test]
fn cancel_after_the_final_gets_200_without_an_event() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, tcp());
    h.recv_request(invite.clone(), tcp());
    let Some(TxEvent::Request { tx, .. }) = h.take_events().pop() else {
        panic!("INVITE passed up")
    };
    let now = h.now;
    h.layer.respond(now, tx, response(&invite, 200)).unwrap();
    h.flush();
    h.take_sent();
    h.recv_request(cancel_for(&invite), tcp());
    let sent = h.take_sent();
    assert!(matches!(&sent[..], [t] if is_status(t, 200)), "{sent:?}");
    assert!(h.take_events().is_empty());
}

#[test]
fn cancel_matching_no_invite_gets_481() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, udp());
    h.recv_request(cancel_for(&invite), udp());
    assert!(matches!(&h.take_sent()[..], [t] if is_status(t, 481)));
    assert!(h.take_events().is_empty());
}

#[test]
fn rfc_2543_requests_match_without_the_magic_cookie() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, "", udp());
    h.recv_request(invite.clone(), udp());
    let Some(TxEvent::Request { tx, .. }) = h.take_events().pop() else {
        panic!("INVITE passed up")
    };
    h.recv_request(invite.clone(), udp());
    assert_eq!(
        requests(&h),
        0,
        "retransmission recognised by Call-ID, CSeq, From tag, Via, URI"
    );
    assert_eq!(h.sent_at(|t| is_status(t, 100)).len(), 2);

    let now = h.now;
    h.layer.respond(now, tx, response(&invite, 486)).unwrap();
    // An ACK with a To tag we never sent belongs to no transaction.
    let mut foreign = ack_for(&invite, "");
    foreign.headers.set(
        HeaderName::To,
        "<sip:+8610095566@gw.bank.example>;tag=other",
    );
    h.recv_request(foreign, udp());
    assert!(matches!(h.take_events()[..], [TxEvent::Ack { .. }]));
    // The ACK carries our To tag and no branch; it still finds the INVITE.
    h.recv_request(ack_for(&invite, ""), udp());
    assert_eq!(h.layer.state_name(TxId::Server(tx)), Some("Confirmed"));

    // A new CSeq is a new transaction.
    let mut next = invite.clone();
    next.headers.set(HeaderName::CSeq, "102 INVITE");
    h.recv_request(next, udp());
    assert_eq!(requests(&h), 1);
}

#[test]
fn the_same_branch_from_another_sent_by_is_another_transaction() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, udp());
    h.recv_request(invite.clone(), udp());
    let mut other = invite;
    other.headers.remove_first(&HeaderName::Via);
    other.headers.push_front(
        HeaderName::Via,
        format!("SIP/2.0/UDP 203.0.113.5;branch={BRANCH}"),
    );
    h.recv_request(other, udp());
    assert_eq!(requests(&h), 2);
}

#[test]
fn a_response_matching_nothing_is_stray() {
    let mut h = Harness::new();
    let options = request(Method::Options, "z9hG4bKnotours", udp());
    h.recv_response(response(&options, 200), udp());
    assert!(matches!(
        &h.take_events()[..],
        [TxEvent::StrayResponse { response, from }] if response.status == 200 && *from == udp()
    ));
    assert_eq!(h.layer.stats().stray_responses, 1);

    // Same branch as a live transaction but another method: also stray.
    let branch = h.layer.new_branch();
    let invite = request(Method::Invite, &branch, udp());
    let now = h.now;
    h.layer.send_request(now, invite.clone(), udp()).unwrap();
    h.recv_response(response(&cancel_for(&invite), 200), udp());
    assert!(matches!(
        h.take_events().last(),
        Some(TxEvent::StrayResponse { .. })
    ));
}

#[test]
fn garbage_is_a_typed_error_never_a_panic() {
    let mut h = Harness::new();
    let now = h.now;
    let mut no_via = request(Method::Invite, BRANCH, udp());
    no_via.headers.remove(&HeaderName::Via);
    let err = h.layer.handle_request(now, no_via, udp()).unwrap_err();
    assert!(matches!(err, TxError::BadHeader(_)) && err.is_bad_message());

    let mut bad_cseq = request(Method::Invite, BRANCH, udp());
    bad_cseq.headers.set(HeaderName::CSeq, "one INVITE");
    assert!(h
        .layer
        .handle_request(now, bad_cseq, udp())
        .unwrap_err()
        .is_bad_message());

    let mut mismatch = request(Method::Invite, BRANCH, udp());
    mismatch.headers.set(HeaderName::CSeq, "101 BYE");
    let err = h.layer.handle_request(now, mismatch, udp()).unwrap_err();
    assert!(matches!(err, TxError::MethodMismatch { .. }));

    let mut resp = response(&request(Method::Options, BRANCH, udp()), 200);
    resp.headers.remove(&HeaderName::CSeq);
    assert!(h
        .layer
        .handle_response(now, resp, udp())
        .unwrap_err()
        .is_bad_message());
    let mut resp = response(&request(Method::Options, BRANCH, udp()), 200);
    resp.status = 42;
    assert!(matches!(
        h.layer.handle_response(now, resp, udp()),
        Err(TxError::InvalidStatus(42))
    ));

    h.flush();
    assert!(h.events.is_empty() && h.sent.is_empty());
    assert_eq!(h.layer.stats().active(), 0);
}

#[test]
fn past_the_limit_new_transactions_are_refused_but_cancel_is_answered() {
    let mut h = Harness::new();
    h.layer.set_max_transactions(NonZeroUsize::new(2).unwrap());
    let first = request(Method::Invite, "z9hG4bKone", udp());
    h.recv_request(first.clone(), udp());
    h.recv_request(request(Method::Invite, "z9hG4bKtwo", udp()), udp());
    let now = h.now;
    let third = h
        .layer
        .handle_request(now, request(Method::Invite, "z9hG4bKthree", udp()), udp());
    assert!(matches!(third, Err(TxError::Overloaded { limit: 2 })));
    let out = h
        .layer
        .send_request(now, request(Method::Options, "z9hG4bKout", udp()), udp());
    assert!(matches!(out, Err(TxError::Overloaded { limit: 2 })));
    // Retransmissions of live transactions are still answered.
    h.recv_request(first.clone(), udp());
    h.take_sent();
    h.recv_request(cancel_for(&first), udp());
    assert!(matches!(&h.take_sent()[..], [t] if is_status(t, 200)));
    assert!(matches!(
        h.take_events().last(),
        Some(TxEvent::Cancelled { .. })
    ));
    assert_eq!(h.layer.stats().overloads, 2);
}

#[test]
fn a_transport_error_fails_every_transaction_on_that_peer() {
    let mut h = Harness::new();
    h.recv_request(request(Method::Invite, BRANCH, tcp()), tcp());
    let branch = h.layer.new_branch();
    let now = h.now;
    let out = h
        .layer
        .send_request(now, request(Method::Options, &branch, tcp()), tcp())
        .unwrap();
    h.layer
        .send_request(now, request(Method::Options, "z9hG4bKudp", udp()), udp())
        .unwrap();
    h.take_events();
    h.layer.handle_transport_error(now, tcp());
    h.flush();
    let events = h.take_events();
    assert!(events.contains(&TxEvent::TransportError {
        tx: TxId::Client(out)
    }));
    assert!(events.contains(&TxEvent::Terminated {
        tx: TxId::Client(out)
    }));
    assert_eq!(events.len(), 4);
    assert_eq!(h.layer.stats().active(), 1, "the UDP transaction lives on");
}

#[test]
fn stats_count_live_transactions_by_kind() {
    let mut h = Harness::new();
    h.recv_request(request(Method::Invite, "z9hG4bKs1", udp()), udp());
    h.recv_request(request(Method::Options, "z9hG4bKs2", udp()), udp());
    let now = h.now;
    h.layer
        .send_request(now, request(Method::Invite, "z9hG4bKc1", udp()), udp())
        .unwrap();
    h.layer
        .send_request(now, request(Method::Bye, "z9hG4bKc2", udp()), udp())
        .unwrap();
    h.layer
        .send_request(now, request(Method::Info, "z9hG4bKc3", udp()), udp())
        .unwrap();
    let stats = h.layer.stats();
    assert_eq!(
        (
            stats.server_invite,
            stats.server_non_invite,
            stats.client_invite,
            stats.client_non_invite
        ),
        (1, 1, 1, 2)
    );
    assert_eq!(stats.active(), 5);
}

#[test]
fn bad_timer_configurations_are_refused() {
    let config = TimerConfig {
        t2: secs(0.1),
        ..TimerConfig::default()
    };
    assert!(TransactionLayer::new(config, 1).is_err());
}

#[test]
fn live_counts_follow_transactions_in_and_out() {
    let mut h = Harness::new();
    h.recv_request(request(Method::Invite, "z9hG4bKlive1", udp()), udp());
    h.recv_request(request(Method::Options, "z9hG4bKlive2", udp()), udp());
    h.recv_request(request(Method::Options, "z9hG4bKlive3", udp()), udp());
    let s = h.layer.stats();
    assert_eq!((s.server_invite, s.server_non_invite, s.client_invite, s.client_non_invite), (1, 2, 0, 0));
    // A retransmission is absorbed: no new transaction is counted.
    h.recv_request(request(Method::Options, "z9hG4bKlive2", udp()), udp());
    assert_eq!(h.layer.stats().server_non_invite, 2);
    // Unanswered, the non-INVITE server transactions stay; nothing terminates them but answers.
    for ev in h.take_events() {
        if let TxEvent::Request { tx, request, .. } = ev {
            let status = if request.method == Method::Invite { 486 } else { 200 };
            let now = h.now;
            h.layer.respond(now, tx, response(&request, status)).unwrap();
        }
    }
    // Timers J (32 s on UDP) and H (32 s without ACK) end them all.
    h.run_until(Duration::from_secs(70));
    let s = h.layer.stats();
    assert_eq!(s.active(), 0, "{s:?}");
}

/// `request` inside a dialog: the To header carries a tag.
fn in_dialog(method: Method, branch: &str) -> Request {
    let mut r = request(method, branch, udp());
    let to = r.headers.get(&HeaderName::To).unwrap().to_owned();
    r.headers.set(HeaderName::To, format!("{to};tag=callee1"));
    r
}

#[test]
fn past_the_limit_requests_inside_a_dialog_still_get_in_until_twice_the_limit() {
    let mut h = Harness::new();
    h.layer.set_max_transactions(NonZeroUsize::new(2).unwrap());
    h.recv_request(request(Method::Invite, "z9hG4bKone", udp()), udp());
    h.recv_request(request(Method::Invite, "z9hG4bKtwo", udp()), udp());
    let now = h.now;
    // A new call is shed...
    let new_call = h.layer.handle_request(now, request(Method::Invite, "z9hG4bKthree", udp()), udp());
    assert!(matches!(new_call, Err(TxError::Overloaded { limit: 2 })));
    // ...but a BYE ending a call is taken, and so is the BYE we send on the other leg.
    assert!(h.layer.handle_request(now, in_dialog(Method::Bye, "z9hG4bKbye1"), udp()).is_ok());
    assert!(h.layer.send_request(now, in_dialog(Method::Bye, "z9hG4bKbye2"), udp()).is_ok());
    // At twice the limit even those are refused: forged in-dialog floods stay bounded.
    let flood = h.layer.handle_request(now, in_dialog(Method::Bye, "z9hG4bKbye3"), udp());
    assert!(matches!(flood, Err(TxError::Overloaded { limit: 2 })));
    assert_eq!(h.layer.stats().active(), 4);
}
