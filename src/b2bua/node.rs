//! The whole SIP behaviour of a node, sans-IO: the transaction layer, the inbound policy and the
//! call manager wired together. The runtime feeds it messages and time and sends what it emits;
//! tests drive it the same way with scripted peers.
use std::collections::VecDeque;
use std::time::Instant;

use super::inbound::{Decision, InboundPolicy};
use super::manager::{B2buaConfig, B2buaEvent, CallManager, Now};
use super::Env;
use crate::sip::message::{Method, Request, Response};
use crate::sip::peer::Peer;
use crate::sip::transaction::{TimerConfig, TransactionLayer, Transmit, TxError, TxEvent, TxId};

/// What the node reports besides messages to send.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    /// The call logic reports (call started/ended, refusals).
    Call(B2buaEvent),
    /// A request answered outside any call, for the transaction log line.
    Answered { method: Method, status: u16, cause: &'static str, request: Box<Request>, from: Peer },
    /// Transaction events the call logic does not own (e.g. our OPTIONS pings).
    Tx(TxEvent),
}

/// Timers each layer handles per `handle_timeout`, at most.
pub const TIMER_BATCH: usize = 1024;

pub struct SipNode {
    pub txl: TransactionLayer,
    pub policy: InboundPolicy,
    pub calls: CallManager,
    events: VecDeque<NodeEvent>,
}

impl SipNode {
    pub fn new(timers: TimerConfig, policy: InboundPolicy, b2bua: B2buaConfig, seed: u64) -> Result<SipNode, crate::sip::transaction::ConfigError> {
        Ok(SipNode {
            txl: TransactionLayer::new(timers, seed)?,
            policy,
            calls: CallManager::new(b2bua, seed.rotate_left(17) ^ 0x5bd1_e995),
            events: VecDeque::new(),
        })
    }

    pub fn handle_request(&mut self, now: Now, req: Request, from: Peer, env: &mut dyn Env) -> Result<(), TxError> {
        self.txl.handle_request(now.instant, req, from)?;
        self.process(now, env);
        Ok(())
    }

    pub fn handle_response(&mut self, now: Now, resp: Response, from: Peer, env: &mut dyn Env) -> Result<(), TxError> {
        self.txl.handle_response(now.instant, resp, from)?;
        self.process(now, env);
        Ok(())
    }

    /// Handles the timers due at `now`, at most `TIMER_BATCH` of each layer: after the node was
    /// held up, tens of thousands can be due at once (a 244 ms turn was seen on a saturated
    /// machine), and the messages waiting meanwhile would wait for all of them. What is left
    /// stays due, so the runtime comes back at once, taking its turns with the inbound queue.
    pub fn handle_timeout(&mut self, now: Now, env: &mut dyn Env) {
        self.txl.handle_timeout_max(now.instant, TIMER_BATCH);
        self.calls.handle_timeout(now, &mut self.txl, env, TIMER_BATCH);
        self.process(now, env);
    }

    /// Anything the runtime did directly on the call manager (hangup, media timeout) may have
    /// produced transaction events; this routes them.
    pub fn process(&mut self, now: Now, env: &mut dyn Env) {
        while let Some(ev) = self.txl.poll_event() {
            self.on_tx_event(now, ev, env);
        }
        while let Some(ev) = self.calls.poll_event() {
            self.events.push_back(NodeEvent::Call(ev));
        }
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        match (self.txl.poll_timeout(), self.calls.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.txl.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    fn on_tx_event(&mut self, now: Now, ev: TxEvent, env: &mut dyn Env) {
        match ev {
            TxEvent::Request { tx, request, from } => {
                let in_dialog = request.headers.to_addr().ok().is_some_and(|t| t.tag().is_some());
                if in_dialog && self.calls.knows_dialog(&request) {
                    self.calls.on_in_dialog(now, tx, request, from, &mut self.txl, env);
                    return;
                }
                // The policy answers everything but a new INVITE; in-dialog requests for dialogs we do
                // not hold get 481 there.
                match self.policy.decide(&request) {
                    Decision::Call => self.calls.on_new_invite(now, tx, request, from, &mut self.txl, env),
                    Decision::Register => {
                        let (response, cause) = env.register(now.instant, &request, from);
                        self.answer(now, tx, request, from, Decision::Respond { response, cause });
                    }
                    d => self.answer(now, tx, request, from, d),
                }
            }
            TxEvent::Ack { request, .. } => {
                self.calls.on_ack(&request);
            }
            TxEvent::Cancelled { invite_tx } => {
                self.calls.on_cancelled(now, invite_tx, &mut self.txl, env);
            }
            TxEvent::Response { tx, response } => {
                if !self.calls.on_response(now, tx, response.clone(), &mut self.txl, env) {
                    self.events.push_back(NodeEvent::Tx(TxEvent::Response { tx, response }));
                }
            }
            TxEvent::Timeout { tx, timer } => {
                if !self.calls.on_client_timeout(now, tx, &mut self.txl, env, timer.cause_code()) {
                    self.events.push_back(NodeEvent::Tx(TxEvent::Timeout { tx, timer }));
                }
            }
            TxEvent::TransportError { tx: TxId::Client(tx) } => {
                if !self.calls.on_client_timeout(now, tx, &mut self.txl, env, super::cause::TRANSPORT_ERROR) {
                    self.events.push_back(NodeEvent::Tx(TxEvent::TransportError { tx: TxId::Client(tx) }));
                }
            }
            TxEvent::Terminated { tx } => {
                self.calls.on_terminated(tx);
                self.events.push_back(NodeEvent::Tx(TxEvent::Terminated { tx }));
            }
            other => self.events.push_back(NodeEvent::Tx(other)),
        }
    }

    fn answer(&mut self, now: Now, tx: crate::sip::transaction::ServerTxId, request: Request, from: Peer, d: Decision) {
        if let Decision::Respond { response, cause } = d {
            let status = response.status;
            if let Err(e) = self.txl.respond(now.instant, tx, response) {
                tracing::error!(error = %e, "bug: response refused by the transaction layer");
            }
            self.events.push_back(NodeEvent::Answered { method: request.method.clone(), status, cause, request: Box::new(request), from });
        }
    }
}
