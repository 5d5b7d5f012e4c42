//! Two layers talking over a lossy virtual link, every message going through the wire format
//! (`to_bytes`, then `Message::parse`): the UAC side of one ncgw leg against the UAS side of another.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::sip::transaction::{ClientTxId, ServerTxId, TxId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Uac,
    Uas,
}

/// One message on the link: when, who sent it, its start line, and whether the link lost it.
#[derive(Debug)]
struct Wire {
    at: Duration,
    from: Side,
    line: String,
    lost: bool,
}

/// Decides whether the link loses a message, from its sender and start line.
type LossRule = Box<dyn FnMut(Side, &str) -> bool>;

struct Pair {
    uac: TransactionLayer,
    uas: TransactionLayer,
    start: Instant,
    now: Instant,
    wire: Vec<Wire>,
    lose: LossRule,
    uac_events: Vec<(Duration, TxEvent)>,
    uas_events: Vec<(Duration, TxEvent)>,
}

fn addr(side: Side) -> Peer {
    let ip = match side {
        Side::Uac => [192, 0, 2, 1],
        Side::Uas => [192, 0, 2, 2],
    };
    Peer::udp(SocketAddr::from((ip, 5060)))
}

fn start_line(m: &Message) -> String {
    match m {
        Message::Request(r) => r.method.to_string(),
        Message::Response(r) => {
            let method = r
                .headers
                .cseq()
                .map(|c| c.method.to_string())
                .unwrap_or_default();
            format!("{} {method}", r.status)
        }
    }
}

impl Pair {
    fn new(lose: impl FnMut(Side, &str) -> bool + 'static) -> Pair {
        let start = crate::testing::epoch();
        let layer = |seed| TransactionLayer::new(TimerConfig::default(), seed).expect("valid");
        Pair {
            uac: layer(1),
            uas: layer(2),
            start,
            now: start,
            wire: Vec::new(),
            lose: Box::new(lose),
            uac_events: Vec::new(),
            uas_events: Vec::new(),
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Delivers everything in flight (instantly), then steps both layers from deadline to
    /// deadline until `until`.
    fn drive(&mut self, until: Duration) {
        let end = self.start + until;
        loop {
            while self.deliver() {}
            let next = [self.uac.poll_timeout(), self.uas.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= end => {
                    self.now = at;
                    self.uac.handle_timeout(at);
                    self.uas.handle_timeout(at);
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// Moves one round of messages across the link; false when nothing was in flight.
    fn deliver(&mut self) -> bool {
        let mut moved = false;
        for from in [Side::Uac, Side::Uas] {
            loop {
                let layer = if from == Side::Uac {
                    &mut self.uac
                } else {
                    &mut self.uas
                };
                let Some(t) = layer.poll_transmit() else {
                    break;
                };
                moved = true;
                let sender = addr(from);
                let to_side = if from == Side::Uac {
                    Side::Uas
                } else {
                    Side::Uac
                };
                assert_eq!(t.to, addr(to_side), "sent to the peer it talks to");
                let line = start_line(&t.message);
                let lost = (self.lose)(from, &line);
                let at = self.elapsed();
                self.wire.push(Wire {
                    at,
                    from,
                    line,
                    lost,
                });
                if lost {
                    continue;
                }
                let bytes = t.message.to_bytes();
                let message = Message::parse(&bytes).expect("our own output parses");
                let now = self.now;
                let receiver = if to_side == Side::Uac {
                    &mut self.uac
                } else {
                    &mut self.uas
                };
                match message {
                    Message::Request(r) => receiver
                        .handle_request(now, r, sender)
                        .expect("valid request"),
                    Message::Response(r) => receiver
                        .handle_response(now, r, sender)
                        .expect("valid response"),
                }
            }
        }
        let at = self.elapsed();
        while let Some(e) = self.uac.poll_event() {
            self.uac_events.push((at, e));
        }
        while let Some(e) = self.uas.poll_event() {
            self.uas_events.push((at, e));
        }
        moved
    }

    fn send(&mut self, method: Method) -> (ClientTxId, Request) {
        let branch = self.uac.new_branch();
        let mut req = request(method, &branch, addr(Side::Uac));
        req.headers.remove(&HeaderName::Via);
        req.headers.push_front(
            HeaderName::Via,
            format!("SIP/2.0/UDP 192.0.2.1:5060;branch={branch}"),
        );
        let now = self.now;
        let tx = self
            .uac
            .send_request(now, req.clone(), addr(Side::Uas))
            .expect("sent");
        (tx, req)
    }

    /// The last request the UAS's TU was given.
    fn uas_request(&self) -> (ServerTxId, Request) {
        self.uas_events
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                TxEvent::Request { tx, request, .. } => Some((*tx, request.clone())),
                _ => None,
            })
            .expect("the UAS got a request")
    }

    fn respond(&mut self, tx: ServerTxId, req: &Request, status: u16) {
        let now = self.now;
        self.uas
            .respond(now, tx, response(req, status))
            .expect("response allowed");
    }

    fn wire_at(&self, from: Side, line: &str) -> Vec<(f64, bool)> {
        self.wire
            .iter()
            .filter(|w| w.from == from && w.line == line)
            .map(|w| (w.at.as_secs_f64(), w.lost))
            .collect()
    }
}

#[test]
fn lost_invites_and_a_lost_final_recover_through_timers_a_and_g() {
    let mut lost_invites = 0;
    let mut lost_finals = 0;
    let mut pair = Pair::new(move |from, line| match (from, line) {
        (Side::Uac, "INVITE") if lost_invites < 2 => {
            lost_invites += 1;
            true
        }
        (Side::Uas, "486 INVITE") if lost_finals < 1 => {
            lost_finals += 1;
            true
        }
        _ => false,
    });
    let (uac_tx, _) = pair.send(Method::Invite);
    pair.drive(secs(2.0));
    let (uas_tx, invite) = pair.uas_request();
    pair.respond(uas_tx, &invite, 486);
    pair.drive(secs(60.0));

    assert_eq!(
        pair.wire_at(Side::Uac, "INVITE"),
        [(0.0, true), (0.5, true), (1.5, false)]
    );
    assert_eq!(pair.wire_at(Side::Uas, "100 INVITE"), [(1.5, false)]);
    assert_eq!(
        pair.wire_at(Side::Uas, "486 INVITE"),
        [(2.0, true), (2.5, false)]
    );
    assert_eq!(pair.wire_at(Side::Uac, "ACK"), [(2.5, false)]);
    assert!(pair.uac_events.iter().any(|(at, e)| *at == secs(34.5)
        && *e
            == TxEvent::Terminated {
                tx: TxId::Client(uac_tx)
            }));
    assert!(pair.uas_events.iter().any(|(at, e)| *at == secs(7.5)
        && *e
            == TxEvent::Terminated {
                tx: TxId::Server(uas_tx)
            }));
    assert!(!pair
        .uas_events
        .iter()
        .any(|(_, e)| matches!(e, TxEvent::Ack { .. })));
}

#[test]
fn a_lost_final_to_a_non_invite_is_repeated_by_the_server_transaction() {
    let mut lost = false;
    let mut pair = Pair::new(move |from, line| {
        let lose = from == Side::Uas && line == "200 OPTIONS" && !lost;
        lost |= lose;
        lose
    });
    let (uac_tx, _) = pair.send(Method::Options);
    pair.drive(secs(0.1));
    let (uas_tx, options) = pair.uas_request();
    pair.respond(uas_tx, &options, 200);
    pair.drive(secs(60.0));
    assert_eq!(
        pair.wire_at(Side::Uac, "OPTIONS"),
        [(0.0, false), (0.5, false)]
    );
    assert_eq!(
        pair.wire_at(Side::Uas, "200 OPTIONS"),
        [(0.1, true), (0.5, false)]
    );
    let requests = pair
        .uas_events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::Request { .. }));
    assert_eq!(requests.count(), 1);
    assert!(pair.uac_events.iter().any(|(at, e)| *at == secs(5.5)
        && *e
            == TxEvent::Terminated {
                tx: TxId::Client(uac_tx)
            }));
}

#[test]
fn cancel_flow_200_then_487_then_ack() {
    let mut pair = Pair::new(|_, _| false);
    let (invite_tx, _) = pair.send(Method::Invite);
    pair.drive(secs(0.1));
    let (uas_tx, invite) = pair.uas_request();
    pair.respond(uas_tx, &invite, 180);
    pair.drive(secs(3.0));
    let now = pair.now;
    let cancel_tx = pair
        .uac
        .cancel(now, invite_tx, Some("Q.850;cause=16"))
        .expect("after 180");
    pair.drive(secs(3.1));
    assert!(pair
        .uas_events
        .iter()
        .any(|(_, e)| *e == TxEvent::Cancelled { invite_tx: uas_tx }));
    pair.respond(uas_tx, &invite, 487);
    pair.drive(secs(60.0));
    let lines: Vec<(f64, Side, &str)> = pair
        .wire
        .iter()
        .map(|w| (w.at.as_secs_f64(), w.from, w.line.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (0.0, Side::Uac, "INVITE"),
            (0.0, Side::Uas, "100 INVITE"),
            (0.1, Side::Uas, "180 INVITE"),
            (3.0, Side::Uac, "CANCEL"),
            (3.0, Side::Uas, "200 CANCEL"),
            (3.1, Side::Uas, "487 INVITE"),
            (3.1, Side::Uac, "ACK"),
        ]
    );
    let uac_responses: Vec<(ClientTxId, u16)> = pair
        .uac_events
        .iter()
        .filter_map(|(_, e)| match e {
            TxEvent::Response { tx, response } => Some((*tx, response.status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        uac_responses,
        [
            (invite_tx, 100),
            (invite_tx, 180),
            (cancel_tx, 200),
            (invite_tx, 487)
        ]
    );
    assert_eq!(pair.uac.stats().active(), 0);
    assert_eq!(pair.uas.stats().active(), 0);
}

#[test]
fn a_2xx_and_its_retransmission_reach_the_tu_which_acks_end_to_end() {
    let mut pair = Pair::new(|_, _| false);
    let (invite_tx, _) = pair.send(Method::Invite);
    pair.drive(secs(0.1));
    let (uas_tx, invite) = pair.uas_request();
    pair.respond(uas_tx, &invite, 200);
    pair.drive(secs(0.2));
    // The dialog layer's ACK for the 2xx: a new branch, outside any transaction (RFC 3261 §13.2.2.4).
    let branch = pair.uac.new_branch();
    let mut ack = request(Method::Ack, &branch, addr(Side::Uac));
    ack.headers.remove(&HeaderName::Via);
    ack.headers.push_front(
        HeaderName::Via,
        format!("SIP/2.0/UDP 192.0.2.1:5060;branch={branch}"),
    );
    pair.uac
        .send_stateless(Message::Request(ack.clone()), addr(Side::Uas));
    pair.drive(secs(0.5));
    // The UAS dialog layer retransmits its 2xx as if the ACK were late (RFC 3261 §13.3.1.4).
    pair.respond(uas_tx, &invite, 200);
    pair.drive(secs(60.0));

    let acks = pair
        .uas_events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::Ack { .. }));
    assert_eq!(acks.count(), 1);
    let oks: Vec<f64> = pair
        .uac_events
        .iter()
        .filter(|(_, e)| {
            matches!(e, TxEvent::Response { tx, response } if *tx == invite_tx && response.status == 200)
        })
        .map(|(at, _)| at.as_secs_f64())
        .collect();
    assert_eq!(
        oks,
        [0.1, 0.5],
        "Accepted passes the retransmitted 2xx up (RFC 6026)"
    );
    assert!(pair.uac_events.iter().any(|(at, e)| *at == secs(32.1)
        && *e
            == TxEvent::Terminated {
                tx: TxId::Client(invite_tx)
            }));
    assert!(pair.uas_events.iter().any(|(at, e)| *at == secs(32.1)
        && *e
            == TxEvent::Terminated {
                tx: TxId::Server(uas_tx)
            }));
}
