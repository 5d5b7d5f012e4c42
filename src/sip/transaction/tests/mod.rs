//! Tests for the transaction layer, driven on a virtual clock: a harness that advances time from
//! one deadline to the next and records what went out and what the TU was told, with the elapsed
//! time of each.
mod client;
mod matching;
mod pair;
mod server;
mod torture;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{TimerConfig, TransactionLayer, Transmit, TxEvent};
use crate::sip::message::{HeaderName, Message, Method, Request, Response};
use crate::sip::peer::{ConnId, Peer, Transport};

pub(super) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub(super) fn udp() -> Peer {
    Peer::udp(SocketAddr::from(([192, 0, 2, 10], 5060)))
}

pub(super) fn tcp() -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: SocketAddr::from(([192, 0, 2, 10], 5060)),
        conn: Some(ConnId(7)),
    }
}

/// A request as a carrier's SBC would send it; `branch` goes into the top Via verbatim.
pub(super) fn request(method: Method, branch: &str, peer: Peer) -> Request {
    let mut r = Request::new(method.clone(), "sip:+8610095566@gw.bank.example");
    let h = &mut r.headers;
    let via = match branch {
        "" => format!("SIP/2.0/{} 192.0.2.10:5060", peer.transport.as_via_str()),
        b => format!(
            "SIP/2.0/{} 192.0.2.10:5060;branch={b}",
            peer.transport.as_via_str()
        ),
    };
    h.push(HeaderName::Via, via);
    h.push(
        HeaderName::Via,
        "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKupstream",
    );
    h.push(HeaderName::MaxForwards, "70");
    h.push(HeaderName::Route, "<sip:sbc1.ims.example;lr>");
    h.push(HeaderName::Route, "<sip:sbc2.ims.example;lr>");
    h.push(HeaderName::From, "<tel:+8613800000000>;tag=from1");
    h.push(HeaderName::To, "<sip:+8610095566@gw.bank.example>");
    h.push(HeaderName::CallId, "c1@192.0.2.10");
    h.push(HeaderName::CSeq, format!("101 {method}"));
    h.push(HeaderName::ContentLength, "0");
    r
}

/// A response to `req`; above 100 it carries the To tag `totag`.
pub(super) fn response(req: &Request, status: u16) -> Response {
    let mut r = Response::for_request(req, status);
    if status > 100 {
        r.set_to_tag("totag");
    }
    r
}

/// The ACK a UAC sends for a non-2xx final: same branch, CSeq method ACK, To with our tag.
pub(super) fn ack_for(invite: &Request, branch: &str) -> Request {
    let mut ack = request(Method::Ack, branch, udp());
    ack.headers.set(
        HeaderName::To,
        "<sip:+8610095566@gw.bank.example>;tag=totag",
    );
    ack.uri = invite.uri.clone();
    ack
}

pub(super) fn is_request(t: &Transmit, method: &Method) -> bool {
    matches!(&t.message, Message::Request(r) if &r.method == method)
}

pub(super) fn is_status(t: &Transmit, status: u16) -> bool {
    matches!(&t.message, Message::Response(r) if r.status == status)
}

/// The layer plus a virtual clock and logs of everything it produced.
pub(super) struct Harness {
    pub layer: TransactionLayer,
    pub start: Instant,
    pub now: Instant,
    pub sent: Vec<(Duration, Transmit)>,
    pub events: Vec<(Duration, TxEvent)>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(TimerConfig::default())
    }

    pub fn with_config(config: TimerConfig) -> Harness {
        let start = crate::testing::epoch();
        let layer = TransactionLayer::new(config, 42).expect("test timer config is valid");
        Harness {
            layer,
            start,
            now: start,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves the layer's outputs into the logs.
    pub fn flush(&mut self) {
        let at = self.elapsed();
        while let Some(t) = self.layer.poll_transmit() {
            self.sent.push((at, t));
        }
        while let Some(e) = self.layer.poll_event() {
            self.events.push((at, e));
        }
    }

    /// Runs every timer up to `start + until`, stepping from deadline to deadline like a runtime
    /// would, then leaves the clock at `until`.
    pub fn run_until(&mut self, until: Duration) {
        let end = self.start + until;
        self.flush();
        while let Some(at) = self.layer.poll_timeout() {
            if at > end {
                break;
            }
            assert!(at >= self.now, "a deadline went backwards");
            self.now = at;
            self.layer.handle_timeout(at);
            self.flush();
        }
        self.now = end;
    }

    pub fn recv_request(&mut self, req: Request, from: Peer) {
        let now = self.now;
        self.layer
            .handle_request(now, req, from)
            .expect("request accepted");
        self.flush();
    }

    pub fn recv_response(&mut self, resp: Response, from: Peer) {
        let now = self.now;
        self.layer
            .handle_response(now, resp, from)
            .expect("response accepted");
        self.flush();
    }

    /// Elapsed times at which messages satisfying `pred` went out.
    pub fn sent_at(&self, pred: impl Fn(&Transmit) -> bool) -> Vec<Duration> {
        self.sent
            .iter()
            .filter(|(_, t)| pred(t))
            .map(|(at, _)| *at)
            .collect()
    }

    pub fn take_sent(&mut self) -> Vec<Transmit> {
        self.sent.drain(..).map(|(_, t)| t).collect()
    }

    pub fn take_events(&mut self) -> Vec<TxEvent> {
        self.events.drain(..).map(|(_, e)| e).collect()
    }

    /// Elapsed times of the events satisfying `pred`.
    pub fn events_at(&self, pred: impl Fn(&TxEvent) -> bool) -> Vec<Duration> {
        self.events
            .iter()
            .filter(|(_, e)| pred(e))
            .map(|(at, _)| *at)
            .collect()
    }
}

/// Gaps between consecutive times.
pub(super) fn gaps(times: &[Duration]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}
