//! Server transactions: 100 Trying, answers to retransmissions, Timer G/H/I, RFC 6026 Accepted
//! with Timer L, non-INVITE Timer J.
use super::*;
use crate::sip::transaction::{ServerTxId, TxError, TxId};

const BRANCH: &str = "z9hG4bK74bf9";

/// Delivers a new request and returns its server transaction.
fn incoming(h: &mut Harness, req: Request, from: Peer) -> ServerTxId {
    h.recv_request(req, from);
    h.events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            TxEvent::Request { tx, .. } => Some(*tx),
            _ => None,
        })
        .expect("a Request event")
}

fn respond(h: &mut Harness, tx: ServerTxId, resp: Response) {
    let now = h.now;
    h.layer.respond(now, tx, resp).expect("response allowed");
    h.flush();
}

#[test]
fn an_invite_is_answered_with_100_at_once_and_passed_up() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, udp());
    let tx = incoming(&mut h, invite.clone(), udp());
    assert_eq!(h.sent_at(|t| is_status(t, 100)), vec![secs(0.0)]);
    assert_eq!(h.sent[0].1.to, udp());
    assert_eq!(
        h.take_events(),
        vec![TxEvent::Request {
            tx,
            request: invite,
            from: udp()
        }]
    );
    assert_eq!(h.layer.state_name(TxId::Server(tx)), Some("Proceeding"));
}

#[test]
fn a_retransmitted_invite_gets_the_last_provisional_and_is_not_passed_up() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, udp());
    let tx = incoming(&mut h, invite.clone(), udp());
    h.recv_request(invite.clone(), udp());
    respond(&mut h, tx, response(&invite, 180));
    h.recv_request(invite, udp());
    let statuses: Vec<u16> = h
        .take_sent()
        .iter()
        .filter_map(|t| match &t.message {
            Message::Response(r) => Some(r.status),
            Message::Request(_) => None,
        })
        .collect();
    assert_eq!(statuses, [100, 100, 180, 180]);
    let requests = h.events_at(|e| matches!(e, TxEvent::Request { .. }));
    assert_eq!(requests.len(), 1);
    assert_eq!(h.layer.stats().retransmissions_received, 2);
}

#[test]
fn a_non_2xx_final_is_retransmitted_on_timer_g_until_timer_h() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, udp());
    let tx = incoming(&mut h, invite.clone(), udp());
    respond(&mut h, tx, response(&invite, 486));
    h.run_until(secs(60.0));
    let finals = h.sent_at(|t| is_status(t, 486));
    let mut expected = vec![0.5, 1.0, 2.0];
    expected.extend(std::iter::repeat_n(4.0, 7));
    assert_eq!(
        gaps(&finals),
        expected.into_iter().map(secs).collect::<Vec<_>>()
    );
    assert_eq!(
        h.events_at(|e| *e == TxEvent::AckTimeout { tx }),
        vec![secs(32.0)]
    );
    let ended = h.events_at(|e| {
        *e == TxEvent::Terminated {
            tx: TxId::Server(tx),
        }
    });
    assert_eq!(ended, vec![secs(32.0)]);
    assert_eq!(h.layer.stats().timeouts, 1);
}

#[test]
fn the_ack_stops_timer_g_and_timer_i_absorbs_ack_retransmissions() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, udp());
    let tx = incoming(&mut h, invite.clone(), udp());
    respond(&mut h, tx, response(&invite, 480));
    h.run_until(secs(0.7));
    // A retransmitted INVITE in Completed gets the final again.
    h.recv_request(invite.clone(), udp());
    h.run_until(secs(1.0));
    h.recv_request(ack_for(&invite, BRANCH), udp());
    assert_eq!(h.layer.state_name(TxId::Server(tx)), Some("Confirmed"));
    h.run_until(secs(2.0));
    h.recv_request(ack_for(&invite, BRANCH), udp());
    h.run_until(secs(60.0));
    assert_eq!(
        h.sent_at(|t| is_status(t, 480)),
        vec![secs(0.0), secs(0.5), secs(0.7)]
    );
    assert!(
        !h.events
            .iter()
            .any(|(_, e)| matches!(e, TxEvent::Ack { .. })),
        "ACK absorbed"
    );
    let ended = h.events_at(|e| {
        *e == TxEvent::Terminated {
            tx: TxId::Server(tx),
        }
    });
    assert_eq!(ended, vec![secs(6.0)], "Timer I is T4 after the ACK");
}

#[test]
fn over_tcp_there_is_no_timer_g_and_timer_i_is_zero() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, tcp());
    let tx = incoming(&mut h, invite.clone(), tcp());
    respond(&mut h, tx, response(&invite, 404));
    h.run_until(secs(3.0));
    assert_eq!(h.sent_at(|t| is_status(t, 404)), vec![secs(0.0)]);
    h.recv_request(ack_for(&invite, BRANCH), tcp());
    assert_eq!(h.layer.state_name(TxId::Server(tx)), None);
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn a_2xx_enters_accepted_where_the_tu_retransmits_and_timer_l_ends_it() {
    let mut h = Harness::new();
    let invite = request(Method::Invite, BRANCH, udp());
    let tx = incoming(&mut h, invite.clone(), udp());
    respond(&mut h, tx, response(&invite, 200));
    assert_eq!(h.layer.state_name(TxId::Server(tx)), Some("Accepted"));
    h.run_until(secs(0.5));
    // The TU (dialog layer) retransmits its 2xx through the transaction; INVITEs are absorbed.
    respond(&mut h, tx, response(&invite, 200));
    h.recv_request(invite.clone(), udp());
    assert_eq!(h.sent_at(|t| is_status(t, 200)), vec![secs(0.0), secs(0.5)]);
    let now = h.now;
    let late = h.layer.respond(now, tx, response(&invite, 500));
    assert!(matches!(
        late,
        Err(TxError::InvalidState {
            state: "Accepted",
            status: 500
        })
    ));

    // The ACK for a 2xx is a new transaction on its own branch: it goes to the dialog layer.
    let ack = ack_for(&invite, "z9hG4bKe2e-ack");
    h.recv_request(ack.clone(), udp());
    assert!(h.events.iter().any(|(_, e)| *e
        == TxEvent::Ack {
            request: ack.clone(),
            from: udp()
        }));

    h.run_until(secs(60.0));
    let ended = h.events_at(|e| {
        *e == TxEvent::Terminated {
            tx: TxId::Server(tx),
        }
    });
    assert_eq!(ended, vec![secs(32.0)]);
}

#[test]
fn a_non_invite_repeats_its_final_until_timer_j() {
    let mut h = Harness::new();
    let bye = request(Method::Bye, BRANCH, udp());
    let tx = incoming(&mut h, bye.clone(), udp());
    // Trying: nothing to repeat yet, and no automatic 100 for non-INVITE.
    h.recv_request(bye.clone(), udp());
    assert!(h.sent.is_empty());
    respond(&mut h, tx, response(&bye, 200));
    h.run_until(secs(10.0));
    h.recv_request(bye.clone(), udp());
    assert_eq!(
        h.sent_at(|t| is_status(t, 200)),
        vec![secs(0.0), secs(10.0)]
    );
    let now = h.now;
    let second = h.layer.respond(now, tx, response(&bye, 500));
    assert!(matches!(
        second,
        Err(TxError::InvalidState {
            state: "Completed",
            ..
        })
    ));
    h.run_until(secs(60.0));
    let ended = h.events_at(|e| {
        *e == TxEvent::Terminated {
            tx: TxId::Server(tx),
        }
    });
    assert_eq!(ended, vec![secs(32.0)]);

    let bye = request(Method::Bye, "z9hG4bKtcp", tcp());
    let tx = incoming(&mut h, bye.clone(), tcp());
    respond(&mut h, tx, response(&bye, 200));
    assert_eq!(
        h.layer.state_name(TxId::Server(tx)),
        None,
        "Timer J is zero over TCP"
    );
}

#[test]
fn a_non_invite_repeats_its_last_provisional() {
    let mut h = Harness::new();
    let msg = request(Method::Message, BRANCH, udp());
    let tx = incoming(&mut h, msg.clone(), udp());
    respond(&mut h, tx, response(&msg, 100));
    h.recv_request(msg, udp());
    assert_eq!(h.sent_at(|t| is_status(t, 100)).len(), 2);
    assert_eq!(h.layer.stats().retransmissions_sent, 1);
}

#[test]
fn responding_on_an_ended_or_unknown_transaction_is_an_error() {
    let mut h = Harness::new();
    let bye = request(Method::Bye, BRANCH, tcp());
    let tx = incoming(&mut h, bye.clone(), tcp());
    respond(&mut h, tx, response(&bye, 200));
    let now = h.now;
    assert!(matches!(
        h.layer.respond(now, tx, response(&bye, 200)),
        Err(TxError::UnknownTransaction)
    ));
    assert!(matches!(
        h.layer.respond(now, tx, response(&bye, 99)),
        Err(TxError::InvalidStatus(99))
    ));
    assert_eq!(
        h.events_at(|e| matches!(e, TxEvent::AckTimeout { .. } | TxEvent::Timeout { .. }))
            .len(),
        0
    );
}
