//! The core task: owns the SIP node (transactions, policy, calls), the runtime environment
//! (dialplan, media engine) and the connection table; turns transport events, media events,
//! timers and admin commands into inputs, and their outputs into sends and records.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

#[path = "acd_calls.rs"]
pub(super) mod acd_calls;
#[path = "core_turns.rs"]
mod core_turns;

use super::acd_admin::{self, AcdCommand};

/// Inbound messages the core handles per turn of its loop, at most (each one's output is sent
/// before the next is taken).
const INBOUND_BATCH: usize = 32;
use super::env::RuntimeEnv;
use super::outbound::{self, response_target};
use super::records;
use crate::b2bua::inbound::InboundPolicy;
use crate::b2bua::{B2buaConfig, B2buaEvent, CallDetail, CallInfo, NodeEvent, Now, SipNode};
use crate::logging::Pii;
use crate::media::engine::SessionEvent;
use crate::metrics::{method_label, metrics, status_class};
use crate::sip::message::{HeaderName, Message, Method, Request, Response};
use crate::sip::peer::{ConnId, Peer, Transport};
use crate::sip::transaction::{ClientTxId, TimerConfig, TxError, TxEvent, TxId, TxStats};
use crate::storage::Storage;
use crate::transport::{spawn_outbound, CloseReason, ConnEntry, Inbound, UdpListener};

/// Requests from the admin API and the embedding program.
#[derive(Debug)]
pub enum Command {
    /// Node health and counters.
    Status(oneshot::Sender<NodeStatus>),
    /// Send OPTIONS to a SIP peer through a real client transaction and report the outcome.
    Ping { target: SocketAddr, transport: Transport, reply: oneshot::Sender<PingResult> },
    /// Live calls.
    Calls(oneshot::Sender<Vec<CallInfo>>),
    /// One live call with its media counters.
    CallShow { id: String, reply: oneshot::Sender<Option<CallView>> },
    /// End a call (BYE both legs, or CANCEL/480 before answer).
    Hangup { id: String, reply: oneshot::Sender<bool> },
    /// Current registrations.
    Registrations(oneshot::Sender<Vec<RegistrationView>>),
    /// The users table changed: the new credentials.
    SetCredentials(Vec<crate::storage::UserCredentials>),
    /// Agents and queues (see `acd_admin`).
    Acd(AcdCommand),
    /// Stop taking new work, let calls and transactions finish (bounded), then stop.
    Shutdown,
}

/// One registration as `ncgw registrations` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationView {
    pub user: String,
    pub contact: String,
    pub source: String,
    pub expires_in_s: u64,
}

/// A call in detail with the media relay's counters per leg.
#[derive(Debug, Clone, Serialize)]
pub struct CallView {
    #[serde(flatten)]
    pub detail: CallDetail,
    pub media: Vec<crate::b2bua::LegStats>,
}

/// What `ncgw status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub version: String,
    pub uptime_s: u64,
    pub accepting: bool,
    pub sip_listen: Vec<String>,
    pub calls_active: usize,
    pub media_sessions: usize,
    pub rtp_ports_in_use: usize,
    pub cdr_pending: u64,
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

/// What the core needs to start.
pub(super) struct CoreParts {
    pub udp: Vec<UdpListener>,
    pub sip_addrs: Vec<SocketAddr>,
    pub conn_ids: Arc<AtomicU64>,
    pub inbound_tx: mpsc::Sender<Inbound>,
    pub shutdown: watch::Receiver<bool>,
    pub env: RuntimeEnv,
    pub storage: Storage,
    /// The agent queues, with the stored agents applied.
    pub acd: crate::acd::Acd,
    /// Agents log in and out with their registrations (`auto_login` in the queues file).
    pub acd_auto_login: bool,
}

pub(super) struct Core {
    node: SipNode,
    env: RuntimeEnv,
    storage: Storage,
    udp: Vec<UdpListener>,
    sip_addrs: Vec<SocketAddr>,
    conns: HashMap<ConnId, ConnEntry>,
    by_remote: HashMap<(Transport, SocketAddr), ConnId>,
    conn_ids: Arc<AtomicU64>,
    inbound_tx: mpsc::Sender<Inbound>,
    shutdown: watch::Receiver<bool>,
    tcp_idle: Duration,
    drain_timeout: Duration,
    /// A new INVITE that waited longer than this in the inbound queue is refused with 503.
    overload_delay: Duration,
    draining_since: Option<Instant>,
    started: Instant,
    pings: HashMap<ClientTxId, PendingPing>,
    server_name: String,
    last_stats: TxStats,
    /// The agent queues (`acd_calls` drives them, `acd_admin` serves the operators).
    acd: crate::acd::Acd,
    /// Agents log in and out with their registrations (`auto_login` in the queues file).
    acd_auto_login: bool,
    acd_metrics: acd_admin::AcdMetricsState,
    /// Times agent-available → offer on the wall clock (`ncgw_acd_offer_latency_seconds`).
    offer_clock: super::offer_clock::OfferClock,
    /// The live calls' records, snapshotted once a second for a crash.
    live: super::live_calls::LiveCalls,
}

fn now() -> Now {
    let unix_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    Now { instant: tokio::time::Instant::now().into_std(), unix_ms }
}

pub(super) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

impl Core {
    pub(super) fn new(settings: &crate::config::Settings, parts: CoreParts) -> Core {
        let timers = TimerConfig { t1: settings.t1, t2: settings.t2, t4: settings.t4, timer_d: settings.timer_d };
        let b2bua = B2buaConfig {
            server_name: settings.server_name.clone(),
            no_answer: settings.no_answer,
            max_duration: settings.max_call_duration,
            t1: settings.t1,
            t2: settings.t2,
            siprec_server: settings.siprec_server.clone(),
        };
        let policy = InboundPolicy::new(settings.server_name.clone(), random_seed());
        let mut node = SipNode::new(timers, policy, b2bua, random_seed()).expect("timer values were validated with the settings");
        if let Some(max) = std::num::NonZeroUsize::new(settings.max_transactions) {
            node.txl.set_max_transactions(max);
            // An ended call lingers with about three transactions (Timer J / RFC 6026).
            node.calls.reserve((max.get() / 3).min(1 << 17));
        }
        Core {
            node,
            env: parts.env,
            storage: parts.storage,
            udp: parts.udp,
            sip_addrs: parts.sip_addrs,
            conns: HashMap::new(),
            by_remote: HashMap::new(),
            conn_ids: parts.conn_ids,
            inbound_tx: parts.inbound_tx,
            shutdown: parts.shutdown,
            tcp_idle: settings.tcp_idle_timeout,
            drain_timeout: settings.drain_timeout,
            overload_delay: settings.overload_delay,
            draining_since: None,
            started: now().instant,
            pings: HashMap::new(),
            server_name: settings.server_name.clone(),
            last_stats: TxStats::default(),
            acd_auto_login: parts.acd_auto_login,
            acd: parts.acd,
            acd_metrics: Default::default(),
            offer_clock: Default::default(),
            live: super::live_calls::LiveCalls::new(&settings.data_dir),
        }
    }

    pub(super) async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>, mut commands: mpsc::Receiver<Command>, mut media: mpsc::Receiver<SessionEvent>) {
        let mut hung_up = false;
        let mut snapshot = tokio::time::interval(Duration::from_secs(1));
        snapshot.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut turns = core_turns::TurnMeter::default();
        loop {
            let deadline = [self.node.poll_timeout(), self.env.poll_timeout(), self.acd.poll_timeout()].into_iter().flatten().min().map(tokio::time::Instant::from_std);
            let drain_deadline = self.draining_since.map(|t| tokio::time::Instant::from_std(t + self.drain_timeout));
            let wake = tokio::select! {
                Some(ev) = inbound.recv() => Wake::Inbound(ev),
                Some(cmd) = commands.recv() => Wake::Command(cmd),
                Some(ev) = media.recv() => Wake::Media(ev),
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => Wake::Timer,
                _ = snapshot.tick() => Wake::Snapshot,
                _ = tokio::time::sleep_until(drain_deadline.unwrap_or_else(far_future)), if drain_deadline.is_some() => Wake::DrainTimeout,
            };
            let turn = turns.start(wake.label());
            match wake {
                Wake::Inbound(ev) => {
                    let n = self.input_now();
                    self.on_inbound(n, ev);
                    // Under load, take what else is queued in the same turn: the loop's own cost
                    // (deadlines, timer registration, select) is paid once per batch, not per
                    // message. Bounded, so timers and commands still get their turn.
                    for _ in 1..INBOUND_BATCH {
                        let Ok(ev) = inbound.try_recv() else { break };
                        self.drain_outputs(now());
                        let n = self.input_now();
                        self.on_inbound(n, ev);
                    }
                }
                Wake::Command(cmd) => {
                    let n = self.input_now();
                    self.on_command(n, cmd)
                }
                Wake::Media(ev) => {
                    let n = self.input_now();
                    self.on_media(n, ev)
                }
                Wake::Timer => {
                    let n = self.input_now();
                    self.env.handle_timeout(n.instant);
                    self.acd_timeout(n);
                    self.node.handle_timeout(n, &mut self.env);
                }
                Wake::Snapshot => {
                    let n = now();
                    let records: Vec<_> = self.node.calls.live_summaries(n.unix_ms).iter().map(super::records::cdr_of).collect();
                    // The write runs on the blocking pool; the next tick skips while it does.
                    let _ = self.live.snapshot(records);
                    // Sockets of calls ended long ago go back to the system (after a peak).
                    self.env.media.engine.expire_warm();
                }
                Wake::DrainTimeout => {
                    if hung_up || self.node.calls.active() == 0 {
                        tracing::warn!(open = self.node.txl.stats().active(), "drain timeout: stopping with transactions open");
                        break;
                    }
                    // Calls still up when the drain time is over are ended cleanly, then we wait
                    // one more drain period at most for their BYEs.
                    tracing::warn!(calls = self.node.calls.active(), "drain timeout: ending the remaining calls");
                    let n = now();
                    self.node.calls.hangup_all(n, &mut self.node.txl, &mut self.env);
                    self.node.process(n, &mut self.env);
                    self.draining_since = Some(n.instant);
                    hung_up = true;
                }
            }
            self.drain_outputs(now());
            turns.finish(turn, self.node.calls.held(), self.node.txl.stats().active());
            if self.draining_since.is_some() && self.node.txl.stats().active() == 0 && self.pings.is_empty() && self.node.calls.held() == 0 {
                break;
            }
        }
        if let Some(r) = self.env.media.recorder.as_mut() {
            r.shutdown(self.drain_timeout).await;
        }
        if let Err(e) = self.storage.flush().await {
            tracing::warn!(error = %e, "call records left in the journal at shutdown; they are written at the next start");
        }
        if self.node.calls.active() == 0 {
            self.live.clear();
        }
        tracing::info!("ncgw stopped");
    }

    fn on_command(&mut self, now: Now, cmd: Command) {
        match cmd {
            Command::Status(reply) => {
                let _ = reply.send(self.status(now.instant));
            }
            Command::Ping { target, transport, reply } => self.start_ping(now.instant, target, transport, reply),
            Command::Calls(reply) => {
                let _ = reply.send(self.node.calls.calls(now.instant));
            }
            Command::CallShow { id, reply } => {
                let view = self.node.calls.call_detail(now.instant, &id).map(|(detail, media)| {
                    let media = media
                        .and_then(|m| self.env.media.engine.stats(crate::media::engine::SessionId(m.0)).ok())
                        .map(|s| vec![super::env::leg_stats_of("a", &s.a), super::env::leg_stats_of("b", &s.b)])
                        .unwrap_or_default();
                    CallView { detail, media }
                });
                let _ = reply.send(view);
            }
            Command::Hangup { id, reply } => {
                let done = self.node.calls.hangup(now, &id, &mut self.node.txl, &mut self.env);
                self.node.process(now, &mut self.env);
                let _ = reply.send(done);
            }
            Command::Registrations(reply) => {
                let mut v: Vec<RegistrationView> = self
                    .env
                    .registrar
                    .bindings()
                    .map(|b| RegistrationView {
                        user: b.user.clone(),
                        contact: b.contact_uri.clone(),
                        source: format!("{}", Pii(b.source)),
                        expires_in_s: b.expires_at.saturating_duration_since(now.instant).as_secs(),
                    })
                    .collect();
                v.sort_by(|a, b| a.user.cmp(&b.user));
                let _ = reply.send(v);
            }
            Command::SetCredentials(users) => {
                self.env.set_credentials(users);
                tracing::info!(users = self.env.credentials.len(), "user credentials reloaded");
            }
            Command::Acd(cmd) => acd_admin::handle(&mut self.acd, &mut self.acd_metrics, now.instant, now.unix_ms, cmd),
            Command::Shutdown => {
                if self.draining_since.is_none() {
                    tracing::info!(calls = self.node.calls.active(), open = self.node.txl.stats().active(), "draining: refusing new calls, letting open ones finish");
                    self.draining_since = Some(now.instant);
                    self.node.policy.accepting = false;
                    metrics().up.set(0);
                }
            }
        }
    }

    fn on_media(&mut self, now: Now, ev: SessionEvent) {
        let crate::media::relay::MediaEvent::Timeout { side, on_hold, silent_for } = ev.event;
        tracing::info!(cause = "media.timeout", session = %ev.session, ?side, on_hold, silent_ms = silent_for.as_millis() as u64, "no media");
        self.node.calls.on_media_timeout(now, crate::b2bua::MediaId(ev.session.0), &mut self.node.txl, &mut self.env);
        self.node.process(now, &mut self.env);
    }

    fn status(&self, now: Instant) -> NodeStatus {
        NodeStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: now.duration_since(self.started).as_secs(),
            accepting: self.node.policy.accepting,
            sip_listen: self.sip_addrs.iter().map(|a| a.to_string()).collect(),
            calls_active: self.node.calls.active(),
            media_sessions: self.env.media.engine.session_count(),
            rtp_ports_in_use: self.env.media.engine.ports().in_use(),
            cdr_pending: self.storage.pending(),
            transactions: self.node.txl.stats().into(),
            tcp_connections: self.conns.len(),
        }
    }

    fn on_inbound(&mut self, now: Now, ev: Inbound) {
        match ev {
            Inbound::Message { message, peer, received } => {
                let kind = match &message {
                    Message::Request(r) => method_label(r.method.as_str()),
                    Message::Response(r) => status_class(r.status),
                };
                metrics().sip_messages.with_label_values(&["in", transport_label(peer.transport), kind]).inc();
                match message {
                    Message::Request(mut req) => {
                        outbound::stamp_via(&mut req, peer.addr);
                        // Only new calls are shed: retransmissions never reach the policy.
                        let waited = now.instant.saturating_duration_since(received);
                        metrics().sip_inbound_wait_seconds.observe(waited.as_secs_f64());
                        self.node.policy.shedding = waited > self.overload_delay;
                        if self.node.policy.shedding && req.method == Method::Invite {
                            metrics().sip_dropped.with_label_values(&["overload_delay"]).inc();
                        }
                        let fallback = Response::for_request(&req, 400);
                        if let Err(e) = self.node.handle_request(now, req, peer, &mut self.env) {
                            self.refuse_request(e, fallback, peer);
                        }
                    }
                    Message::Response(resp) => {
                        if let Err(e) = self.node.handle_response(now, resp, peer, &mut self.env) {
                            metrics().sip_parse_failures.with_label_values(&["bad response header"]).inc();
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
                        self.node.txl.handle_transport_error(now.instant, Peer { transport: Transport::Tcp, addr: entry.remote, conn: Some(id) });
                        self.node.process(now, &mut self.env);
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

    fn drain_outputs(&mut self, now: Now) {
        loop {
            let mut progressed = false;
            while let Some(t) = self.node.poll_transmit() {
                progressed = true;
                self.send(t.to, t.message);
            }
            self.offers_sent();
            while let Some(ev) = self.node.poll_event() {
                progressed = true;
                if let NodeEvent::Call(c) = &ev {
                    if self.acd_node_event(now, c) {
                        continue;
                    }
                }
                self.on_node_event(now.instant, ev);
            }
            progressed |= self.acd_pump(now);
            if !progressed {
                break;
            }
        }
        self.update_gauges();
    }

    fn update_gauges(&mut self) {
        let s = self.node.txl.stats();
        let m = metrics();
        let g = &m.sip_transactions_active;
        g.with_label_values(&["client_invite"]).set(s.client_invite as i64);
        g.with_label_values(&["client_non_invite"]).set(s.client_non_invite as i64);
        g.with_label_values(&["server_invite"]).set(s.server_invite as i64);
        g.with_label_values(&["server_non_invite"]).set(s.server_non_invite as i64);
        let delta = s.retransmissions_sent.saturating_sub(self.last_stats.retransmissions_sent);
        if delta > 0 {
            m.sip_retransmissions.inc_by(delta);
        }
        self.last_stats = s;
        m.calls_active.set(self.node.calls.active() as i64);
        m.cdr_pending.set(self.storage.pending() as i64);
    }

    fn on_node_event(&mut self, now: Instant, ev: NodeEvent) {
        match ev {
            NodeEvent::Answered { method, status, cause, request, from } => log_outcome("server", &method, status, cause, &request, from),
            NodeEvent::Call(B2buaEvent::CallStarted { id }) => tracing::debug!(call = %id, "call started"),
            NodeEvent::Call(B2buaEvent::Refused { status, cause }) => {
                metrics().sip_transaction_outcomes.with_label_values(&["server", "INVITE", status_class(status)]).inc();
                tracing::info!(status, cause, "call attempt refused");
            }
            NodeEvent::Call(B2buaEvent::CallEnded(summary)) => {
                records::count(&summary);
                tracing::info!(
                    call = %summary.id,
                    cause = summary.cause,
                    ended_by = summary.ended_by,
                    code_in = summary.sip_code_in,
                    caller = %Pii(&summary.caller),
                    callee = %Pii(&summary.callee),
                    talk_ms = summary.answered_ms.map(|a| summary.ended_ms - a),
                    "call ended"
                );
                if let Some(r) = self.env.media.recorder.as_mut() {
                    r.finish(&summary.id, crate::recording::writer::end_of(&summary));
                }
                if let Err(e) = self.storage.submit_cdr(records::cdr_of(&summary)) {
                    tracing::error!(error = %e, call = %summary.id, "call record could not be stored or journalled");
                }
            }
            NodeEvent::Tx(ev) => self.on_tx_event(now, ev),
            NodeEvent::Call(ev @ (B2buaEvent::SiprecStarted { .. } | B2buaEvent::SiprecFailed { .. })) => super::siprec::count(&ev),
            // Handled by `acd_node_event` before.
            NodeEvent::Call(_) => {}
        }
    }

    /// Transaction events the call logic does not own: our OPTIONS pings.
    fn on_tx_event(&mut self, now: Instant, ev: TxEvent) {
        let (tx, result) = match ev {
            TxEvent::Response { tx, response } if response.is_final() => (tx, ("ok", Some(response.status), Some(response.reason.clone()))),
            TxEvent::Timeout { tx, timer } => {
                metrics().sip_transaction_outcomes.with_label_values(&["client", "OPTIONS", "timeout"]).inc();
                tracing::info!(cause = timer.cause_code(), "OPTIONS ping timed out");
                (tx, ("timeout", None, None))
            }
            TxEvent::TransportError { tx: TxId::Client(tx) } => (tx, ("transport_error", None, None)),
            _ => return,
        };
        if let Some(p) = self.pings.remove(&tx) {
            let _ = p.reply.send(PingResult {
                outcome: result.0.into(),
                status: result.1,
                reason: result.2,
                rtt_ms: now.duration_since(p.started).as_secs_f64() * 1000.0,
                sends: p.sends,
            });
        }
    }

    fn start_ping(&mut self, now: Instant, target: SocketAddr, transport: Transport, reply: oneshot::Sender<PingResult>) {
        let local = outbound::local_addr_for(target, &self.sip_addrs);
        let branch = self.node.txl.new_branch();
        let tag = self.node.txl.new_branch();
        let req = outbound::options_request(target, transport, local, &branch, &self.server_name, &tag);
        let peer = Peer { transport, addr: target, conn: None };
        match self.node.txl.send_request(now, req, peer) {
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
                self.count_ping_send(r);
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

    /// Counts each send of a ping (first + retransmissions) by its branch.
    fn count_ping_send(&mut self, r: &Request) {
        if r.method != Method::Options || self.pings.is_empty() {
            return;
        }
        if let Ok(via) = r.headers.top_via() {
            if let Some(p) = self.pings.values_mut().find(|p| via.branch() == Some(p.branch.as_str())) {
                p.sends += 1;
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
                // The peer is not reading: its queue is full. Better to drop than to grow memory.
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

/// What woke the core's loop.
enum Wake {
    Inbound(Inbound),
    Command(Command),
    Media(SessionEvent),
    Timer,
    Snapshot,
    DrainTimeout,
}

impl Wake {
    fn label(&self) -> &'static str {
        match self {
            Wake::Inbound(_) => "inbound",
            Wake::Command(_) => "command",
            Wake::Media(_) => "media",
            Wake::Timer => "timer",
            Wake::Snapshot => "snapshot",
            Wake::DrainTimeout => "drain",
        }
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
