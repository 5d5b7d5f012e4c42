//! Client transactions: retransmission schedules, timeouts, ACK for non-2xx, RFC 6026 Accepted,
//! CANCEL.
use std::time::Duration;

use super::*;
use crate::sip::message::HeaderName;
use crate::sip::transaction::{TimerName, TxError, TxId};

/// The TU's side of sending: a request with a fresh branch from the layer.
fn send(
    h: &mut Harness,
    method: Method,
    peer: Peer,
) -> (super::super::ClientTxId, Request, String) {
    let branch = h.layer.new_branch();
    let req = request(method, &branch, peer);
    let now = h.now;
    let tx = h
        .layer
        .send_request(now, req.clone(), peer)
        .expect("request sent");
    h.flush();
    (tx, req, branch)
}

fn schedule(times: &[f64]) -> Vec<Duration> {
    times.iter().map(|s| secs(*s)).collect()
}

#[test]
fn timer_a_doubles_from_half_a_second_then_timer_b_at_32s() {
    let mut h = Harness::new();
    let (tx, _, _) = send(&mut h, Method::Invite, udp());
    h.run_until(secs(60.0));
    let invites = h.sent_at(|t| is_request(t, &Method::Invite));
    assert_eq!(gaps(&invites), schedule(&[0.5, 1.0, 2.0, 4.0, 8.0, 16.0]));
    let timeouts = h.events_at(|e| {
        matches!(
            e,
            TxEvent::Timeout {
                timer: TimerName::B,
                ..
            }
        )
    });
    assert_eq!(timeouts, vec![secs(32.0)]);
    let events = h.take_events();
    assert_eq!(
        events,
        vec![
            TxEvent::Timeout {
                tx,
                timer: TimerName::B
            },
            TxEvent::Terminated {
                tx: TxId::Client(tx)
            }
        ]
    );
    assert_eq!(h.layer.poll_timeout(), None);
    assert_eq!(h.layer.stats().retransmissions_sent, 6);
    assert_eq!(h.layer.stats().timeouts, 1);
}

#[test]
fn configured_t1_scales_timers_a_and_b() {
    let config = TimerConfig {
        t1: Duration::from_millis(250),
        ..TimerConfig::default()
    };
    let mut h = Harness::with_config(config);
    send(&mut h, Method::Invite, udp());
    h.run_until(secs(60.0));
    let invites = h.sent_at(|t| is_request(t, &Method::Invite));
    assert_eq!(
        invites,
        schedule(&[0.0, 0.25, 0.75, 1.75, 3.75, 7.75, 15.75])
    );
    let timeouts = h.events_at(|e| matches!(e, TxEvent::Timeout { .. }));
    assert_eq!(timeouts, vec![secs(16.0)]);
}

#[test]
fn timer_e_doubles_up_to_t2_and_timer_f_fires_at_32s() {
    let mut h = Harness::new();
    send(&mut h, Method::Options, udp());
    h.run_until(secs(60.0));
    let sent = h.sent_at(|t| is_request(t, &Method::Options));
    let mut expected = vec![0.5, 1.0, 2.0];
    expected.extend(std::iter::repeat_n(4.0, 7));
    assert_eq!(gaps(&sent), schedule(&expected));
    assert_eq!(*sent.last().unwrap(), secs(31.5));
    let timeouts = h.events_at(|e| {
        matches!(
            e,
            TxEvent::Timeout {
                timer: TimerName::F,
                ..
            }
        )
    });
    assert_eq!(timeouts, vec![secs(32.0)]);
}

#[test]
fn timer_e_waits_t2_once_a_provisional_arrived() {
    let mut h = Harness::new();
    let (_, req, _) = send(&mut h, Method::Register, udp());
    h.run_until(secs(0.6));
    h.recv_response(response(&req, 100), udp());
    h.run_until(secs(13.0));
    let sent = h.sent_at(|t| is_request(t, &Method::Register));
    assert_eq!(sent, schedule(&[0.0, 0.5, 1.5, 5.5, 9.5]));
}

#[test]
fn nothing_is_retransmitted_over_tcp() {
    let mut h = Harness::new();
    send(&mut h, Method::Invite, tcp());
    send(&mut h, Method::Options, tcp());
    h.run_until(secs(60.0));
    assert_eq!(h.sent.len(), 2);
    assert!(h.sent.iter().all(|(at, t)| at.is_zero() && t.to == tcp()));
    let timeouts = h.events_at(|e| matches!(e, TxEvent::Timeout { .. }));
    assert_eq!(timeouts, vec![secs(32.0), secs(32.0)]);
}

#[test]
fn a_provisional_stops_timer_a_and_timer_b() {
    let mut h = Harness::new();
    let (tx, req, _) = send(&mut h, Method::Invite, udp());
    h.run_until(secs(0.7));
    h.recv_response(response(&req, 180), udp());
    h.run_until(secs(120.0));
    assert_eq!(h.sent_at(|_| true), schedule(&[0.0, 0.5]));
    assert!(
        matches!(&h.take_events()[..], [TxEvent::Response { response, .. }] if response.status == 180)
    );
    assert_eq!(h.layer.state_name(TxId::Client(tx)), Some("Proceeding"));
}

#[test]
fn a_non_2xx_final_is_acked_on_the_invite_branch_and_again_on_retransmission() {
    let mut h = Harness::new();
    let (tx, req, branch) = send(&mut h, Method::Invite, udp());
    h.recv_response(response(&req, 183), udp());
    h.run_until(secs(2.0));
    h.take_sent();
    h.recv_response(response(&req, 486), udp());

    let sent = h.take_sent();
    let [Transmit {
        to,
        message: Message::Request(ack),
    }] = &sent[..]
    else {
        panic!("expected one ACK, got {sent:?}")
    };
    assert_eq!(*to, udp());
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, req.uri);
    let via = ack.headers.vias().expect("ACK has Via");
    assert_eq!(via.len(), 1, "only the top Via of the INVITE");
    assert_eq!(via[0].branch(), Some(branch.as_str()));
    assert_eq!(ack.headers.to_addr().unwrap().tag(), Some("totag"));
    assert_eq!(ack.headers.from_addr().unwrap().tag(), Some("from1"));
    assert_eq!(ack.headers.call_id().unwrap(), "c1@192.0.2.10");
    let cseq = ack.headers.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (101, Method::Ack));
    let routes: Vec<_> = ack.headers.get_all(&HeaderName::Route).collect();
    assert_eq!(
        routes,
        ["<sip:sbc1.ims.example;lr>", "<sip:sbc2.ims.example;lr>"]
    );

    // A retransmitted final is acknowledged again, and not passed up a second time.
    h.run_until(secs(3.0));
    h.recv_response(response(&req, 486), udp());
    assert!(matches!(&h.take_sent()[..], [t] if is_request(t, &Method::Ack)));
    let finals =
        h.events_at(|e| matches!(e, TxEvent::Response { response, .. } if response.status == 486));
    assert_eq!(finals, vec![secs(2.0)]);

    // Timer D: 32 s after the final.
    h.run_until(secs(60.0));
    let ended = h.events_at(|e| {
        *e == TxEvent::Terminated {
            tx: TxId::Client(tx),
        }
    });
    assert_eq!(ended, vec![secs(34.0)]);
}

#[test]
fn timer_d_is_zero_over_tcp() {
    let mut h = Harness::new();
    let (tx, req, _) = send(&mut h, Method::Invite, tcp());
    h.recv_response(response(&req, 603), tcp());
    assert!(h.take_events().contains(&TxEvent::Terminated {
        tx: TxId::Client(tx)
    }));
    assert!(matches!(&h.take_sent()[..], [_, t] if is_request(t, &Method::Ack)));
}

#[test]
fn a_2xx_enters_accepted_where_2xx_retransmissions_pass_up_until_timer_m() {
    let mut h = Harness::new();
    let (tx, req, _) = send(&mut h, Method::Invite, udp());
    h.run_until(secs(1.0));
    h.recv_response(response(&req, 200), udp());
    h.run_until(secs(2.0));
    h.recv_response(response(&req, 200), udp());
    assert_eq!(h.layer.state_name(TxId::Client(tx)), Some("Accepted"));
    // The layer never ACKs a 2xx: that is the dialog layer's end-to-end ACK.
    assert!(!h.sent.iter().any(|(_, t)| is_request(t, &Method::Ack)));
    let oks =
        h.events_at(|e| matches!(e, TxEvent::Response { response, .. } if response.status == 200));
    assert_eq!(oks, vec![secs(1.0), secs(2.0)]);

    h.run_until(secs(40.0));
    let ended = h.events_at(|e| {
        *e == TxEvent::Terminated {
            tx: TxId::Client(tx),
        }
    });
    assert_eq!(ended, vec![secs(33.0)]);
    h.recv_response(response(&req, 200), udp());
    assert!(matches!(
        h.take_events().last(),
        Some(TxEvent::StrayResponse { .. })
    ));
}

#[test]
fn timer_k_absorbs_retransmitted_finals_for_t4() {
    let mut h = Harness::new();
    let (tx, req, _) = send(&mut h, Method::Bye, udp());
    h.recv_response(response(&req, 200), udp());
    h.run_until(secs(1.0));
    h.recv_response(response(&req, 200), udp());
    h.run_until(secs(10.0));
    let ended = h.events_at(|e| {
        *e == TxEvent::Terminated {
            tx: TxId::Client(tx),
        }
    });
    assert_eq!(ended, vec![secs(5.0)]);
    let oks = h.events_at(|e| matches!(e, TxEvent::Response { .. }));
    assert_eq!(oks.len(), 1);
    assert_eq!(h.sent.len(), 1, "no retransmission after the final");

    let (tcp_tx, req, _) = send(&mut h, Method::Bye, tcp());
    h.recv_response(response(&req, 200), tcp());
    assert_eq!(
        h.layer.state_name(TxId::Client(tcp_tx)),
        None,
        "Timer K is zero over TCP"
    );
}

#[test]
fn cancel_waits_for_a_provisional_and_reuses_branch_and_cseq_number() {
    let mut h = Harness::new();
    let (invite_tx, req, branch) = send(&mut h, Method::Invite, udp());
    let now = h.now;
    let early = h.layer.cancel(now, invite_tx, None);
    assert!(matches!(
        early,
        Err(TxError::CannotCancel { state: "Calling" })
    ));

    h.recv_response(response(&req, 180), udp());
    h.take_sent();
    let reason = "Q.850;cause=16;text=\"Normal call clearing\"";
    let cancel_tx = h
        .layer
        .cancel(now, invite_tx, Some(reason))
        .expect("cancel allowed");
    h.flush();
    let sent = h.take_sent();
    let [Transmit {
        message: Message::Request(cancel),
        ..
    }] = &sent[..]
    else {
        panic!("expected one CANCEL, got {sent:?}")
    };
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, req.uri);
    assert_eq!(
        cancel.headers.top_via().unwrap().branch(),
        Some(branch.as_str())
    );
    let cseq = cancel.headers.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (101, Method::Cancel));
    assert_eq!(cancel.headers.to_addr().unwrap().tag(), None);
    assert_eq!(cancel.headers.get(&HeaderName::Reason), Some(reason));

    // The 200 to the CANCEL and the 487 to the INVITE share the branch; CSeq keeps them apart.
    h.recv_response(response(cancel, 200), udp());
    h.recv_response(response(&req, 487), udp());
    let events = h.take_events();
    assert!(events.iter().any(
        |e| matches!(e, TxEvent::Response { tx, response } if *tx == cancel_tx && response.status == 200)
    ));
    assert!(events.iter().any(
        |e| matches!(e, TxEvent::Response { tx, response } if *tx == invite_tx && response.status == 487)
    ));
    assert!(matches!(&h.take_sent()[..], [t] if is_request(t, &Method::Ack)));
}

#[test]
fn a_cancelled_invite_without_final_ends_64_t1_after_the_cancel() {
    let mut h = Harness::new();
    let (invite_tx, req, _) = send(&mut h, Method::Invite, tcp());
    h.recv_response(response(&req, 180), tcp());
    h.run_until(secs(10.0));
    let now = h.now;
    h.layer
        .cancel(now, invite_tx, None)
        .expect("cancel allowed");
    h.run_until(secs(100.0));
    let ended = h.events_at(|e| {
        *e == TxEvent::Terminated {
            tx: TxId::Client(invite_tx),
        }
    });
    assert_eq!(ended, vec![secs(42.0)]);
}

#[test]
fn send_request_refuses_tu_mistakes() {
    let mut h = Harness::new();
    let now = h.now;
    let no_cookie = request(Method::Options, "abc123", udp());
    assert!(matches!(
        h.layer.send_request(now, no_cookie, udp()),
        Err(TxError::MissingBranch)
    ));
    let ack = request(Method::Ack, "z9hG4bKack", udp());
    assert!(matches!(
        h.layer.send_request(now, ack, udp()),
        Err(TxError::AckNotATransaction)
    ));
    let first = request(Method::Options, "z9hG4bKsame", udp());
    h.layer
        .send_request(now, first.clone(), udp())
        .expect("first use of the branch");
    assert!(matches!(
        h.layer.send_request(now, first, udp()),
        Err(TxError::DuplicateBranch(_))
    ));
}

#[test]
fn branches_are_unique_and_carry_the_magic_cookie() {
    let mut h = Harness::new();
    let a = h.layer.new_branch();
    let b = h.layer.new_branch();
    assert!(a.starts_with("z9hG4bK") && a.len() > 20);
    assert_ne!(a, b);
}

#[test]
fn a_bounded_timeout_call_fires_at_most_its_budget_and_leaves_the_rest_due() {
    let mut h = Harness::new();
    for _ in 0..10 {
        send(&mut h, Method::Options, udp());
    }
    let sent = h.sent.len();
    let due = h.layer.poll_timeout().expect("Timer E runs");
    h.layer.handle_timeout_max(due, 4);
    h.flush();
    assert_eq!(h.sent.len() - sent, 4, "four retransmissions");
    assert_eq!(h.layer.poll_timeout(), Some(due), "the other six are still due");
    h.layer.handle_timeout_max(due, usize::MAX);
    h.flush();
    assert_eq!(h.sent.len() - sent, 10);
    assert!(h.layer.poll_timeout().is_some_and(|t| t > due));
}
