//! The call manager: owns every call, maps dialogs and transactions to calls, and runs the
//! B2BUA logic. Sans-IO: the caller passes time, the transaction layer and an `Env` to each input.

mod in_dialog;
mod progress;
mod queue;
mod queue_agent;
mod setup;
mod siprec;
mod teardown;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::call::{Call, CallInfo, CallState, CallSummary, Side};
use super::env::{Env, MediaId};
use crate::acd::CallKey;
use crate::dialplan::CallAttributes;
use crate::sip::dialog::DialogId;
use crate::sip::message::{Host, HeaderName, Request, Response, Via};
use crate::sip::peer::Peer;
use crate::sip::transaction::{ClientTxId, ServerTxId, TransactionLayer, TxId};

/// Time as the call logic needs it: a monotonic instant for timers, wall time for records.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub instant: Instant,
    pub unix_ms: i64,
}

/// Settings of the call logic.
#[derive(Debug, Clone)]
pub struct B2buaConfig {
    pub server_name: String,
    /// How long the callee may ring before we give up (CANCEL, 480 to the caller).
    pub no_answer: Duration,
    /// Longest call; then both legs get BYE.
    pub max_duration: Duration,
    /// T1/T2 for retransmitting our 2xx until ACK (RFC 3261 §13.3.1.4).
    pub t1: Duration,
    pub t2: Duration,
    /// The SIPREC recording server every answered call is forked to (`[recording] siprec_server`).
    pub siprec_server: Option<String>,
}

impl Default for B2buaConfig {
    fn default() -> Self {
        B2buaConfig {
            server_name: "ncgw".into(),
            no_answer: Duration::from_secs(90),
            max_duration: Duration::from_secs(4 * 3600),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            siprec_server: None,
        }
    }
}

/// What the call logic reports to the runtime.
#[derive(Debug, Clone)]
pub enum B2buaEvent {
    /// A call reached the callee (B leg sent).
    CallStarted { id: String },
    /// A call ended; its record.
    CallEnded(Box<CallSummary>),
    /// A REGISTER-less request was challenged or refused before a call existed (for logs).
    Refused { status: u16, cause: &'static str },
    /// The caller was answered and waits for an agent: put it in the ACD (`acd_feed`).
    Queued { call: CallKey, queue: String, attributes: CallAttributes },
    /// The offered agent answered; the legs are bridged.
    AgentAnswered { call: CallKey, agent: String },
    /// The offered agent's leg failed (error response, timeout, unreachable).
    AgentFailed { call: CallKey, agent: String },
    /// The caller left while waiting or while an agent rang.
    Abandoned { call: CallKey },
    /// A call an agent took has ended: the agent goes to wrap-up.
    AgentCallEnded { agent: String },
    /// The call's external recording (SIPREC) is set up: media is forked to the server.
    SiprecStarted { call: String },
    /// The call's external recording could not be set up (cause `siprec.failed`): the server's
    /// status, or `None` for no answer or no way to reach it. The call is not affected.
    SiprecFailed { call: String, status: Option<u16> },
}

/// Why a transaction belongs to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// The caller's INVITE, or the callee's INVITE we sent.
    Invite,
    /// A re-INVITE/UPDATE relayed to this side.
    Offer,
    /// Another in-dialog request relayed to this side, answered back on `server_tx`.
    Relay(ServerTxId),
    /// A BYE or CANCEL we sent; its answer changes nothing.
    Ending,
    /// A request received from this side (re-INVITE, BYE, …).
    Incoming,
    /// An INVITE offering a queued call to an agent.
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TimerKind {
    Retransmit2xx(Side),
    NoAnswer,
    MaxDuration,
    Reap,
    /// A queued call's closing announcement is over: hang up.
    QueueHangup,
}

/// Every call, indexed by dialog and transaction.
pub struct CallManager {
    pub(super) config: B2buaConfig,
    /// Boxed: a `Call` is ~4.7 KB, and an ended call stays until its transactions end (~32 s),
    /// so at 1,000+ calls/s the map holds tens of thousands; growing it moved every call inline
    /// (a 50-90 ms stall of the core, seen as the call-rate bench's p99).
    pub(super) calls: HashMap<u64, Box<Call>>,
    pub(super) by_dialog: HashMap<DialogId, (u64, Side)>,
    pub(super) by_client_tx: HashMap<ClientTxId, (u64, Side, Purpose)>,
    pub(super) by_server_tx: HashMap<ServerTxId, (u64, Side, Purpose)>,
    pub(super) by_media: HashMap<MediaId, u64>,
    pub(super) timers: BTreeMap<(Instant, u64), (u64, TimerKind)>,
    pub(super) timer_seq: u64,
    pub(super) events: VecDeque<B2buaEvent>,
    pub(super) next_key: u64,
    /// Requests relayed to the other side (INFO, MESSAGE, NOTIFY), answered when it answers.
    pub(super) relayed: HashMap<ServerTxId, Request>,
    /// Calls created and not yet ended (kept as they change: read after every event).
    pub(super) live: usize,
    /// Calls answered for a queue (waiting, ringing an agent, or bridged to one).
    pub(super) queued: HashMap<u64, queue::Queued>,
    /// Recording sessions with the SIPREC server.
    pub(super) siprec: siprec::Recordings,
    rng: u64,
}

impl CallManager {
    pub fn new(config: B2buaConfig, seed: u64) -> CallManager {
        CallManager {
            config,
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            by_client_tx: HashMap::new(),
            by_server_tx: HashMap::new(),
            by_media: HashMap::new(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            events: VecDeque::new(),
            next_key: 1,
            relayed: HashMap::new(),
            live: 0,
            queued: HashMap::new(),
            siprec: Default::default(),
            rng: seed | 1,
        }
    }

    /// Makes room for `calls` calls held at once (live or lingering for their transactions):
    /// growing the dialog index rehashes every dialog's Call-ID and tags at once — a 90 ms turn
    /// of the core at 57,000 calls held (2,400 calls/s). Address space only until used.
    pub fn reserve(&mut self, calls: usize) {
        self.calls.reserve(calls.saturating_sub(self.calls.len()));
        self.by_dialog.reserve((2 * calls).saturating_sub(self.by_dialog.len()));
        self.by_client_tx.reserve((2 * calls).saturating_sub(self.by_client_tx.len()));
        self.by_server_tx.reserve((2 * calls).saturating_sub(self.by_server_tx.len()));
        self.by_media.reserve(calls.saturating_sub(self.by_media.len()));
    }

    /// A random 64-bit value (xorshift64*), for tags, Call-IDs and labels.
    pub(super) fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn token(&mut self) -> String {
        format!("{:016x}", self.random())
    }

    /// Calls not yet ended.
    pub fn active(&self) -> usize {
        self.live
    }

    /// Recording sessions with the SIPREC server not yet over.
    pub fn recordings_active(&self) -> usize {
        self.siprec.active()
    }

    /// Calls kept in memory, including ended ones waiting for their transactions.
    pub fn held(&self) -> usize {
        self.calls.len()
    }

    pub fn poll_event(&mut self) -> Option<B2buaEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(t, _)| *t)
    }

    pub(super) fn schedule(&mut self, at: Instant, key: u64, kind: TimerKind) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), (key, kind));
        if let Some(c) = self.calls.get_mut(&key) {
            c.timer_keys.push((at, self.timer_seq));
        }
    }

    /// Fires at most `max` of the timers due at `now`; the others stay due (`poll_timeout`).
    /// Stale timers (their call moved on) are skipped.
    pub fn handle_timeout(&mut self, now: Now, txl: &mut TransactionLayer, env: &mut dyn Env, max: usize) {
        let mut budget = max;
        while let Some((&(at, seq), &(key, kind))) = self.timers.iter().next() {
            if at > now.instant || budget == 0 {
                break;
            }
            budget -= 1;
            self.timers.remove(&(at, seq));
            if let Some(c) = self.calls.get_mut(&key) {
                c.timer_keys.retain(|k| *k != (at, seq));
            }
            match kind {
                TimerKind::Retransmit2xx(side) => self.retransmit_2xx(now, key, side, txl, env),
                TimerKind::NoAnswer => self.no_answer(now, key, txl, env),
                TimerKind::MaxDuration => {
                    if self.calls.get(&key).is_some_and(|c| !c.is_ended()) {
                        self.teardown(now, key, super::cause::MAX_DURATION, "system", None, txl, env);
                    }
                }
                TimerKind::QueueHangup => self.queue_hangup(now, key, txl, env),
                TimerKind::Reap => {
                    if self.calls.get(&key).is_some_and(|c| c.is_ended()) {
                        self.forget(key);
                    }
                }
            }
        }
    }

    /// A transaction ended; an ended call is forgotten when its last transaction is gone.
    pub fn on_terminated(&mut self, tx: TxId) {
        if self.siprec_terminated(tx) {
            return;
        }
        let key = match tx {
            TxId::Client(c) => self.by_client_tx.remove(&c).map(|v| v.0),
            TxId::Server(s) => self.by_server_tx.remove(&s).map(|v| v.0),
        };
        let Some(key) = key else { return };
        if let Some(call) = self.calls.get_mut(&key) {
            match tx {
                TxId::Client(c) => call.client_txs.retain(|t| *t != c),
                TxId::Server(s) => call.server_txs.retain(|t| *t != s),
            }
            call.open_txs = call.open_txs.saturating_sub(1);
            if call.is_ended() && call.open_txs == 0 {
                self.forget(key);
            }
        }
    }

    pub(super) fn forget(&mut self, key: u64) {
        if let Some(call) = self.calls.remove(&key) {
            for k in &call.timer_keys {
                self.timers.remove(k);
            }
            for tx in &call.client_txs {
                if self.by_client_tx.get(tx).is_some_and(|v| v.0 == key) {
                    self.by_client_tx.remove(tx);
                }
            }
            for tx in &call.server_txs {
                if self.by_server_tx.get(tx).is_some_and(|v| v.0 == key) {
                    self.by_server_tx.remove(tx);
                }
            }
            for leg in [Some(&call.a), call.b.as_ref()].into_iter().flatten() {
                if let Some(d) = &leg.dialog {
                    self.by_dialog.remove(&d.id());
                }
            }
            if let Some(m) = call.media {
                self.by_media.remove(&m);
            }
        }
        self.queued.remove(&key);
    }

    pub(super) fn track_client(&mut self, key: u64, tx: ClientTxId, side: Side, purpose: Purpose) {
        let fresh = self.by_client_tx.insert(tx, (key, side, purpose)).is_none();
        if let Some(c) = self.calls.get_mut(&key) {
            c.open_txs += 1;
            if fresh {
                c.client_txs.push(tx);
            }
        }
    }

    pub(super) fn track_server(&mut self, key: u64, tx: ServerTxId, side: Side, purpose: Purpose) {
        if self.by_server_tx.insert(tx, (key, side, purpose)).is_none() {
            if let Some(c) = self.calls.get_mut(&key) {
                c.open_txs += 1;
                c.server_txs.push(tx);
            }
        }
    }

    /// A Via with a fresh branch for a request we send toward `peer` from `local`.
    pub(super) fn via(txl: &mut TransactionLayer, peer: &Peer, local: SocketAddr) -> Via {
        let host = match local.ip() {
            std::net::IpAddr::V4(v4) => Host::V4(v4),
            std::net::IpAddr::V6(v6) => Host::V6(v6),
        };
        let mut via = Via::new(peer.transport.as_via_str(), host, Some(local.port()), &txl.new_branch());
        via.params.push("rport", None);
        via
    }

    /// Our Contact toward a side.
    pub(super) fn contact(peer: &Peer, local: SocketAddr) -> String {
        let host = match local {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        match peer.transport {
            crate::sip::peer::Transport::Udp => format!("<sip:ncgw@{host}>"),
            t => format!("<sip:ncgw@{host};transport={}>", t.as_via_str().to_ascii_lowercase()),
        }
    }

    /// Adds the headers every response of ours carries.
    pub(super) fn finish_response(&self, resp: &mut Response) {
        resp.headers.push(HeaderName::Server, self.config.server_name.clone());
    }

    /// Live calls for the CLI, oldest first.
    pub fn calls(&self, now: Instant) -> Vec<CallInfo> {
        let mut v: Vec<&Call> = self.calls.values().map(Box::as_ref).filter(|c| !c.is_ended()).collect();
        v.sort_by_key(|c| c.started);
        v.into_iter()
            .map(|c| CallInfo {
                id: c.label.clone(),
                age_s: now.saturating_duration_since(c.started).as_secs(),
                from: c.decision.caller.clone(),
                to: c.decision.called.clone(),
                state: c.state,
                legs: 1 + usize::from(c.b.is_some()),
                codec: c.a.codec.clone().or_else(|| c.b.as_ref().and_then(|b| b.codec.clone())),
                source: c.source.clone(),
                rule: c.decision.rule.clone(),
            })
            .collect()
    }

    /// One live call in detail (`ncgw calls show`); the runtime adds media counters.
    pub fn call_detail(&self, now: Instant, label: &str) -> Option<(super::call::CallDetail, Option<MediaId>)> {
        let c = self.calls.values().find(|c| c.label == label && !c.is_ended())?;
        let info = self.calls(now).into_iter().find(|i| i.id == label)?;
        let legs = [Some(&c.a), c.b.as_ref()]
            .into_iter()
            .flatten()
            .zip([Side::A, Side::B])
            .map(|(l, side)| super::call::LegInfo {
                side,
                peer: format!("{}", crate::logging::Pii(l.peer)),
                call_id: l.dialog.as_ref().map(|d| d.call_id.clone()).or_else(|| match side {
                    Side::A => c.a_invite.headers.call_id().ok().map(str::to_owned),
                    Side::B => c.b_invite.as_ref().and_then(|i| i.headers.call_id().ok().map(str::to_owned)),
                }),
                local_media: l.local_media.to_string(),
                remote_media: l.remote_sdp.as_ref().and_then(|s| super::sdp_rewrite::remote_media(s, c.relay)).map(|r| format!("{}", crate::logging::Pii(r.rtp))),
                codec: l.codec.clone(),
                hold: l.hold,
                dialog: match l.dialog.as_ref().map(|d| d.state) {
                    None => "none",
                    Some(crate::sip::dialog::DialogState::Early) => "early",
                    Some(crate::sip::dialog::DialogState::Confirmed) => "confirmed",
                },
            })
            .collect();
        let detail = super::call::CallDetail {
            info,
            started_ms: c.started_ms,
            ringing_ms: c.ringing_ms,
            answered_ms: c.answered_ms,
            queue: match &c.decision.action {
                crate::dialplan::Action::Queue(q) => Some(q.clone()),
                _ => None,
            },
            tags: c.tags.clone(),
            legs,
        };
        Some((detail, c.media))
    }

    /// Ends a call by its id (`ncgw calls hangup`).
    pub fn hangup(&mut self, now: Now, label: &str, txl: &mut TransactionLayer, env: &mut dyn Env) -> bool {
        let Some(key) = self.calls.iter().find(|(_, c)| c.label == label && !c.is_ended()).map(|(k, _)| *k) else {
            return false;
        };
        self.teardown(now, key, super::cause::ADMIN_HANGUP, "system", None, txl, env);
        true
    }

    /// Ends every call (node shutdown after the drain timeout).
    pub fn hangup_all(&mut self, now: Now, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let keys: Vec<u64> = self.calls.iter().filter(|(_, c)| !c.is_ended()).map(|(k, _)| *k).collect();
        for key in keys {
            self.teardown(now, key, super::cause::NODE_SHUTDOWN, "system", None, txl, env);
        }
    }

    /// The media engine reports no RTP from one side for too long.
    pub fn on_media_timeout(&mut self, now: Now, media: MediaId, txl: &mut TransactionLayer, env: &mut dyn Env) {
        if let Some(&key) = self.by_media.get(&media) {
            if self.calls.get(&key).is_some_and(|c| !c.is_ended()) {
                self.teardown(now, key, super::cause::MEDIA_TIMEOUT, "system", None, txl, env);
            }
        }
    }

    /// Whether this request is for a call we hold (a new INVITE, or inside a known dialog).
    pub fn knows_dialog(&self, req: &Request) -> bool {
        DialogId::of_incoming(req).is_some_and(|id| self.by_dialog.contains_key(&id) || self.siprec.knows(&id))
    }

    pub(super) fn call_state(&self, key: u64) -> Option<CallState> {
        self.calls.get(&key).map(|c| c.state)
    }
}
