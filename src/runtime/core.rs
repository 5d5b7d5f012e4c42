//! The core task: owns the transaction layer, the inbound policy and the connection table; turns
//! transport events, timers and admin commands into inputs, and their outputs into sends.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use super::outbound::{self, response_target};
use crate::b2bua::inbound::{Decision, InboundPolicy};
use crate::config::Settings;
use crate::logging::Pii;
use crate::metrics::{method_label, metrics, status_class};
use crate::sip::message::{HeaderName, Message, Method, Request, Response};
use crate::sip::peer::{ConnId, Peer, Transport};
use crate::sip::transaction::{ClientTxId, TimerConfig, TransactionLayer, TxError, TxEvent, TxId, TxStats};
use crate::transport::{spawn_outbound, CloseReason, ConnEntry, Inbound, UdpListener};

/// Requests from the admin API and the embedding program.
#[derive(Debug)]
pub enum Command {
    /// Node health and counters.
    Status(oneshot::Sender<NodeStatus>),
    /// Send OPTIONS to a SIP peer through a real client transaction and report the outcome.
    Ping { target: SocketAddr, transport: Transport, reply: oneshot::Sender<PingResult> },
    /// Stop taking new work, let transactions finish (bounded by the drain timeout), then stop.
    Shutdown,
}

/// What `ncgw status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub version: String,
    pub uptime_s: u64,
    pub accepting: bool,
    pub sip_listen: Vec<String>,
    pub transactions: TransactionCounts,
    pub tcp_connections: usize,
}

/// Live transactions by kind, plus totals since start.
#[derive(Debug, Clone, Serialize)]
pub struct TransactionCounts {
    pub client_invite: usize,
    pub client_non_invite: usize,
    pub server_invite: usize,
    pub server_non_invite: usize,
    pub retransmissions_sent: u64,
    pub retransmissions_received: u64,
    pub timeouts: u64,
    pub overloads: u64,
}

impl From<TxStats> for TransactionCounts {
    fn from(s: TxStats) -> Self {
        TransactionCounts {
            client_invite: s.client_invite,
            client_non_invite: s.client_non_invite,
            server_invite: s.server_invite,
            server_non_invite: s.server_non_invite,
            retransmissions_sent: s.retransmissions_sent,
            retransmissions_received: s.retransmissions_received,
            timeouts: s.timeouts,
            overloads: s.overloads,
        }
    }
}

/// The outcome of an OPTIONS ping.
#[derive(Debug, Clone, Serialize)]
pub struct PingResult {
    /// `ok` (any final response), `timeout` (Timer F), `transport_error`, `refused` (we could not send).
    pub outcome: String,
    pub status: Option<u16>,
    pub reason: Option<String>,
    pub rtt_ms: f64,
    /// How many times the request was sent (1 + retransmissions).
    pub sends: u32,
}

struct PendingPing {
    branch: String,
    started: Instant,
    reply: oneshot::Sender<PingResult>,
    sends: u32,
}

pub(super) struct Core {
    txl: TransactionLayer,
    policy: InboundPolicy,
    udp: Vec<UdpListener>,
    sip_addrs: Vec<SocketAddr>,
    conns: HashMap<ConnId, ConnEntry>,
    by_remote: HashMap<(Transport, SocketAddr), ConnId>,
    conn_ids: Arc<AtomicU64>,
    inbound_tx: mpsc::Sender<Inbound>,
    shutdown: watch::Receiver<bool>,
    tcp_idle: Duration,
    drain_timeout: Duration,
    draining_since: Option<Instant>,
    started: Instant,
    pings: HashMap<ClientTxId, PendingPing>,
    server_name: String,
    last_stats: TxStats,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

impl Core {
    pub(super) fn new(
        settings: &Settings,
        udp: Vec<UdpListener>,
        sip_addrs: Vec<SocketAddr>,
        conn_ids: Arc<AtomicU64>,
        inbound_tx: mpsc::Sender<Inbound>,
        shutdown: watch::Receiver<bool>,
    ) -> Core {
        let timers = TimerConfig { t1: settings.t1, t2: settings.t2, t4: settings.t4, timer_d: settings.timer_d };
        let mut txl = TransactionLayer::new(timers, random_seed()).expect("timer values were validated with the settings");
        if let Some(max) = std::num::NonZeroUsize::new(settings.max_transactions) {
            txl.set_max_transactions(max);
        }
        Core {
            txl,
            policy: InboundPolicy::new(settings.server_name.clone(), random_seed()),
            udp,
            sip_addrs,
            conns: HashMap::new(),
            by_remote: HashMap::new(),
            conn_ids,
            inbound_tx,
            shutdown,
            tcp_idle: settings.tcp_idle_timeout,
            drain_timeout: settings.drain_timeout,
            draining_since: None,
            started: now(),
            pings: HashMap::new(),
            server_name: settings.server_name.clone(),
            last_stats: TxStats::default(),
        }
    }

    pub(super) async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>, mut commands: mpsc::Receiver<Command>) {
        loop {
            let deadline = self.txl.poll_timeout().map(tokio::time::Instant::from_std);
            let drain_deadline = self.draining_since.map(|t| tokio::time::Instant::from_std(t + self.drain_timeout));
            tokio::select! {
                Some(ev) = inbound.recv() => self.on_inbound(now(), ev),
                Some(cmd) = commands.recv() => self.on_command(now(), cmd),
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                    self.txl.handle_timeout(now());
                }
                _ = tokio::time::sleep_until(drain_deadline.unwrap_or_else(far_future)), if drain_deadline.is_some() => {
                    tracing::warn!(open = self.txl.stats().active(), "drain timeout: stopping with transactions open");
                    break;
                }
            }
            self.drain_outputs(now());
            if self.draining_since.is_some() && self.txl.stats().active() == 0 && self.pings.is_empty() {
                break;
            }
        }
        tracing::info!("ncgw stopped");
    }

    fn on_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Status(reply) => {
                let _ = reply.send(self.status(now));
            }
            Command::Ping { target, transport, reply } => self.start_ping(now, target, transport, reply),
            Command::Shutdown => {
                if self.draining_since.is_none() {
                    tracing::info!(open = self.txl.stats().active(), "draining: refusing new calls, finishing transactions");
                    self.draining_since = Some(now);
                    self.policy.accepting = false;
                    metrics().up.set(0);
                }
            }
        }
    }

    fn status(&self, now: Instant) -> NodeStatus {
        NodeStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: now.duration_since(self.started).as_secs(),
            accepting: self.policy.accepting,
            sip_listen: self.sip_addrs.iter().map(|a| a.to_string()).collect(),
            transactions: self.txl.stats().into(),
            tcp_connections: self.conns.len(),
        }
    }

    fn on_inbound(&mut self, now: Instant, ev: Inbound) {
        match ev {
            Inbound::Message { message, peer } => {
                let kind = match &message {
                    Message::Request(r) => method_label(r.method.as_str()),
                    Message::Response(r) => status_class(r.status),
                };
                metrics().sip_messages.with_label_values(&["in", transport_label(peer.transport), kind]).inc();
                match message {
                    Message::Request(mut req) => {
                        outbound::stamp_via(&mut req, peer.addr);
                        let fallback = Response::for_request(&req, 400);
                        match self.txl.handle_request(now, req, peer) {
                            Ok(()) => {}
                            Err(e) => self.refuse_request(e, fallback, peer),
                        }
                    }
                    Message::Response(resp) => {
                        if let Err(e) = self.txl.handle_response(now, resp, peer) {
                            metrics().sip_parse_failures.with_label_values(&["bad_response_header"]).inc();
                            tracing::debug!(error = %e, peer = %Pii(peer), "response dropped");
                        }
                    }
                }
            }
            Inbound::Garbage { error, peer } => {
                metrics().sip_parse_failures.with_label_values(&[error.kind().as_str()]).inc();
                tracing::info!(cause = "sip.parse_error", reason = error.kind().as_str(), peer = %Pii(peer), "unparseable message");
                if let Some(mut resp) = error.response() {
                    resp.headers.push(HeaderName::Server, self.server_name.clone());
                    self.send(peer, Message::Response(resp));
                }
            }
            Inbound::ConnOpened { id, remote, writer, outbound } => {
                if !outbound {
                    self.by_remote.insert((Transport::Tcp, remote), id);
                }
                self.conns.entry(id).or_insert(ConnEntry { remote, writer });
            }
            Inbound::ConnClosed { id, reason } => {
                if let Some(entry) = self.conns.remove(&id) {
                    if self.by_remote.get(&(Transport::Tcp, entry.remote)) == Some(&id) {
                        self.by_remote.remove(&(Transport::Tcp, entry.remote));
                    }
                    tracing::debug!(conn = id.0, reason = reason.code(), remote = %Pii(entry.remote), "connection closed");
                    if reason == CloseReason::ConnectFailed {
                        self.txl.handle_transport_error(now, Peer { transport: Transport::Tcp, addr: entry.remote, conn: Some(id) });
                    }
                }
            }
        }
    }

    /// A request the transaction layer could not take: 400 for a bad header, 503 when overloaded.
    fn refuse_request(&mut self, e: TxError, mut resp: Response, peer: Peer) {
        let (status, cause) = match &e {
            TxError::Overloaded { .. } => (503, "sip.overload"),
            _ if e.is_bad_message() => (400, "sip.bad_request"),
            _ => (500, "sip.internal"),
        };
        metrics().sip_dropped.with_label_values(&[cause]).inc();
        tracing::info!(cause, error = %e, peer = %Pii(peer), "request refused statelessly");
        // Without a usable Via there is nowhere to answer; the request is dropped and counted.
        if resp.headers.top_via().is_err() {
            return;
        }
        resp.status = status;
        resp.reason = crate::sip::message::default_reason(status).to_owned();
        if status == 400 {
            resp.reason = format!("Bad Request ({e})");
        }
        if status == 503 {
            resp.headers.push(HeaderName::RetryAfter, "5");
        }
        resp.headers.push(HeaderName::Server, self.server_name.clone());
        self.send(peer, Message::Response(resp));
    }

    fn drain_outputs(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.txl.poll_transmit() {
                progressed = true;
                self.send(t.to, t.message);
            }
            while let Some(ev) = self.txl.poll_event() {
                progressed = true;
                self.on_tx_event(now, ev);
            }
            if !progressed {
                break;
            }
        }
        self.update_gauges();
    }

    fn update_gauges(&mut self) {
        let s = self.txl.stats();
        let g = &metrics().sip_transactions_active;
        g.with_label_values(&["client_invite"]).set(s.client_invite as i64);
        g.with_label_values(&["client_non_invite"]).set(s.client_non_invite as i64);
        g.with_label_values(&["server_invite"]).set(s.server_invite as i64);
        g.with_label_values(&["server_non_invite"]).set(s.server_non_invite as i64);
        let delta = s.retransmissions_sent.saturating_sub(self.last_stats.retransmissions_sent);
        if delta > 0 {
            metrics().sip_retransmissions.inc_by(delta);
        }
        self.last_stats = s;
    }

    fn on_tx_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Request { tx, request, from } => match self.policy.decide(&request) {
                Decision::Respond { response, cause } => {
                    log_outcome("server", &request.method, response.status, cause, &request, from);
                    if let Err(e) = self.txl.respond(now, tx, response) {
                        tracing::error!(error = %e, "bug: response refused by the transaction layer");
                    }
                }
                Decision::Absorb { .. } => {}
                Decision::Call => {
                    let mut response = Response::for_request(&request, 480);
                    response.set_to_tag(&self.txl.new_branch()[7..]);
                    log_outcome("server", &request.method, 480, "b2bua.no_call_path", &request, from);
                    let _ = self.txl.respond(now, tx, response);
                }
            },
            TxEvent::Ack { .. } => {}
            // Every INVITE is answered at once until the call path exists, so a CANCEL never finds
            // one pending; the transaction layer has already answered the CANCEL itself.
            TxEvent::Cancelled { .. } => {}
            TxEvent::Response { tx, response } => {
                if response.is_final() {
                    if let Some(p) = self.pings.remove(&tx) {
                        let result = PingResult {
                            outcome: "ok".into(),
                            status: Some(response.status),
                            reason: Some(response.reason.clone()),
                            rtt_ms: now.duration_since(p.started).as_secs_f64() * 1000.0,
                            sends: p.sends,
                        };
                        let _ = p.reply.send(result);
                    }
                }
            }
            TxEvent::Timeout { tx, timer } => {
                metrics().sip_transaction_outcomes.with_label_values(&["client", "OPTIONS", "timeout"]).inc();
                if let Some(p) = self.pings.remove(&tx) {
                    tracing::info!(cause = timer.cause_code(), "OPTIONS ping timed out");
                    let _ = p.reply.send(PingResult {
                        outcome: "timeout".into(),
                        status: None,
                        reason: None,
                        rtt_ms: now.duration_since(p.started).as_secs_f64() * 1000.0,
                        sends: p.sends,
                    });
                }
            }
            TxEvent::TransportError { tx: TxId::Client(tx) } => {
                if let Some(p) = self.pings.remove(&tx) {
                    let _ = p.reply.send(PingResult {
                        outcome: "transport_error".into(),
                        status: None,
                        reason: None,
                        rtt_ms: now.duration_since(p.started).as_secs_f64() * 1000.0,
                        sends: p.sends,
                    });
                }
            }
            TxEvent::StrayResponse { response, from } => {
                tracing::debug!(status = response.status, peer = %Pii(from), "stray response");
            }
            _ => {}
        }
    }

    fn start_ping(&mut self, now: Instant, target: SocketAddr, transport: Transport, reply: oneshot::Sender<PingResult>) {
        let local = outbound::local_addr_for(target, &self.sip_addrs);
        let branch = self.txl.new_branch();
        let tag = self.txl.new_branch();
        let req = outbound::options_request(target, transport, local, &branch, &self.server_name, &tag);
        let peer = Peer { transport, addr: target, conn: None };
        match self.txl.send_request(now, req, peer) {
            Ok(tx) => {
                self.pings.insert(tx, PendingPing { branch, started: now, reply, sends: 0 });
            }
            Err(e) => {
                let _ = reply.send(PingResult { outcome: format!("refused: {e}"), status: None, reason: None, rtt_ms: 0.0, sends: 0 });
            }
        }
    }

    /// Serialises and sends one message; never waits on the network.
    fn send(&mut self, peer: Peer, message: Message) {
        let kind = match &message {
            Message::Request(r) => {
                if r.method == Method::Options && !self.pings.is_empty() {
                    // Count each send of a ping (first + retransmissions) by its branch.
                    if let Ok(via) = r.headers.top_via() {
                        if let Some(p) = self.pings.values_mut().find(|p| via.branch() == Some(p.branch.as_str())) {
                            p.sends += 1;
                        }
                    }
                }
                method_label(r.method.as_str())
            }
            Message::Response(r) => status_class(r.status),
        };
        metrics().sip_messages.with_label_values(&["out", transport_label(peer.transport), kind]).inc();
        let bytes = Bytes::from(message.to_bytes());
        match peer.transport {
            Transport::Udp => {
                let dest = match &message {
                    Message::Response(r) => r.headers.top_via().map_or(peer.addr, |v| response_target(&v, peer.addr)),
                    Message::Request(_) => peer.addr,
                };
                let Some(sock) = self.udp.iter().find(|s| s.local_addr().is_ipv4() == dest.is_ipv4()) else {
                    metrics().sip_dropped.with_label_values(&["no_socket_for_family"]).inc();
                    return;
                };
                if sock.try_send(&bytes, dest).is_err() {
                    metrics().sip_dropped.with_label_values(&["send_would_block"]).inc();
                }
            }
            Transport::Tcp => self.send_tcp(peer, bytes),
            _ => {
                metrics().sip_dropped.with_label_values(&["transport_not_supported"]).inc();
            }
        }
    }

    fn send_tcp(&mut self, peer: Peer, bytes: Bytes) {
        let id = peer
            .conn
            .filter(|id| self.conns.contains_key(id))
            .or_else(|| self.by_remote.get(&(Transport::Tcp, peer.addr)).copied());
        if let Some(id) = id {
            let entry = self.conns.get(&id).expect("connection ids in by_remote are in conns");
            if entry.writer.try_send(bytes).is_err() {
                // The peer is not reading: its queue is full. Better to cut it than to grow memory.
                metrics().sip_dropped.with_label_values(&["connection_backlog"]).inc();
            }
            return;
        }
        // No connection: open one (RFC 3261 §18.1.1 / §18.2.2), queueing the message for it.
        let id = ConnId(self.conn_ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let (writer, queue) = mpsc::channel(1024);
        let _ = writer.try_send(bytes);
        self.conns.insert(id, ConnEntry { remote: peer.addr, writer: writer.clone() });
        self.by_remote.insert((Transport::Tcp, peer.addr), id);
        spawn_outbound(peer.addr, id, writer, queue, self.inbound_tx.clone(), self.tcp_idle, self.shutdown.clone());
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

fn transport_label(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
        Transport::Ws => "ws",
        Transport::Wss => "wss",
    }
}

/// One structured line per transaction outcome; identities are redacted.
fn log_outcome(side: &'static str, method: &Method, status: u16, cause: &'static str, req: &Request, peer: Peer) {
    metrics().sip_transaction_outcomes.with_label_values(&[side, method_label(method.as_str()), status_class(status)]).inc();
    let call_id = req.headers.call_id().unwrap_or("");
    tracing::info!(
        side,
        method = method.as_str(),
        status,
        cause,
        call_id = %Pii(call_id),
        ruri = %Pii(&req.uri),
        peer = %Pii(peer),
        "transaction"
    );
}
