//! The transaction layer: owns every transaction, matches messages to them, runs their timers, and
//! queues what to send and what to tell the TU.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::mem;
use std::time::Instant;

use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::event::{ClientTxId, ServerTxId, Transmit, TxEvent, TxId, TxStats};
use super::key::{ClientKey, ServerKey, MAGIC_COOKIE};
use super::machine::{ClientMachine, ServerMachine};
use super::server_invite::ServerInvite;
use super::server_non_invite::ServerNonInvite;
use super::slab::{Handle, Slab};
use super::timer::{ConfigError, TimerConfig};
use super::{build, Action, TxError};
use crate::sip::message::{Message, Method, Request, Response};
use crate::sip::peer::Peer;

/// Default cap on live transactions (client and server together).
pub const DEFAULT_MAX_TRANSACTIONS: usize = 16_384;

#[derive(Debug)]
struct ClientEntry {
    key: ClientKey,
    peer: Peer,
    seq: u32,
    top_via: String,
    machine: ClientMachine,
}

#[derive(Debug)]
struct ServerEntry {
    key: ServerKey,
    peer: Peer,
    /// False for transactions the layer runs on its own (CANCEL): the TU never saw their handle,
    /// so it is not told when they end.
    announced: bool,
    /// RFC 2543 INVITEs only: the To tag of the final response, which their ACK must carry.
    final_to_tag: Option<String>,
    machine: ServerMachine,
}

/// The RFC 3261 transaction layer, sans-IO. See the module docs for the driving contract.
#[derive(Debug)]
pub struct TransactionLayer {
    config: TimerConfig,
    max_transactions: usize,
    rng: u64,
    clients: Slab<ClientEntry>,
    servers: Slab<ServerEntry>,
    client_keys: HashMap<ClientKey, Handle>,
    server_keys: HashMap<ServerKey, Handle>,
    /// Deadlines by transaction; entries go stale when a deadline moves and are skipped then.
    timers: BinaryHeap<Reverse<(Instant, TxId)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
    stats: TxStats,
    scratch: Vec<Action>,
}

impl TransactionLayer {
    /// A layer with validated timers; `seed` feeds the branch generator (the runtime passes OS
    /// randomness, tests a constant).
    pub fn new(config: TimerConfig, seed: u64) -> Result<TransactionLayer, ConfigError> {
        config.validate()?;
        Ok(TransactionLayer {
            config,
            max_transactions: DEFAULT_MAX_TRANSACTIONS,
            rng: seed,
            clients: Slab::new(),
            servers: Slab::new(),
            client_keys: HashMap::new(),
            server_keys: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: TxStats::default(),
            scratch: Vec::new(),
        })
    }

    /// Caps live transactions; past it new ones fail with `TxError::Overloaded`.
    pub fn set_max_transactions(&mut self, max: std::num::NonZeroUsize) {
        // Handles index slots with u32.
        self.max_transactions = max.get().min(u32::MAX as usize);
    }

    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// A fresh RFC 3261 branch: the magic cookie and 128 bits from the seeded generator.
    pub fn new_branch(&mut self) -> String {
        let (a, b) = (self.next_random(), self.next_random());
        format!("{MAGIC_COOKIE}{a:016x}{b:016x}")
    }

    fn next_random(&mut self) -> u64 {
        // SplitMix64: small, fast, and good enough for unique, unguessable-enough branches.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn at_limit(&self) -> bool {
        self.clients.len() + self.servers.len() >= self.max_transactions
    }

    fn overloaded(&mut self) -> TxError {
        self.stats.overloads += 1;
        TxError::Overloaded {
            limit: self.max_transactions,
        }
    }

    // ---- inputs -------------------------------------------------------------------------------

    /// A request from the network. New requests become server transactions and `TxEvent::Request`;
    /// retransmissions are answered here. An error means the runtime answers statelessly: 400 for
    /// a bad message (`TxError::is_bad_message`), 503 for `Overloaded`.
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: Request,
        from: Peer,
    ) -> Result<(), TxError> {
        let key = ServerKey::for_request(&request)?;
        if request.method == Method::Ack {
            return self.handle_ack(now, key, request, from);
        }
        if let Some(&h) = self.server_keys.get(&key) {
            self.stats.retransmissions_received += 1;
            self.with_server(now, h, |m, _, out| match m {
                ServerMachine::Invite(tx) => tx.handle_retransmission(out),
                ServerMachine::NonInvite(tx) => tx.handle_retransmission(out),
            });
            return Ok(());
        }
        if request.method == Method::Cancel {
            return self.handle_cancel(now, key, request, from);
        }
        if self.at_limit() {
            return Err(self.overloaded());
        }
        let reliable = from.transport.is_reliable();
        let mut out = mem::take(&mut self.scratch);
        let machine = if request.method == Method::Invite {
            // RFC 3261 §17.2.1: the TU may take longer than 200 ms, so answer 100 at once.
            ServerMachine::Invite(ServerInvite::start(
                Response::for_request(&request, 100),
                reliable,
                &mut out,
            ))
        } else {
            ServerMachine::NonInvite(ServerNonInvite::new(reliable))
        };
        let h = self.servers.insert(ServerEntry {
            key: key.clone(),
            peer: from,
            announced: true,
            final_to_tag: None,
            machine,
        });
        self.server_keys.insert(key, h);
        let tx = ServerTxId(h);
        self.apply(TxId::Server(tx), from, &mut out);
        self.scratch = out;
        self.events
            .push_back(TxEvent::Request { tx, request, from });
        Ok(())
    }

    fn handle_ack(
        &mut self,
        now: Instant,
        key: ServerKey,
        ack: Request,
        from: Peer,
    ) -> Result<(), TxError> {
        let mut found = self.server_keys.get(&key).copied();
        if found.is_none() {
            if let Some((untagged, tag)) = key.without_to_tag() {
                found = self.server_keys.get(&untagged).copied().filter(|&h| {
                    self.servers.get(h).and_then(|e| e.final_to_tag.as_deref()) == Some(tag)
                });
            }
        }
        let invite = found.filter(|&h| {
            matches!(
                self.servers.get(h).map(|e| &e.machine),
                Some(ServerMachine::Invite(_))
            )
        });
        match invite {
            Some(h) => {
                let config = self.config;
                self.with_server(now, h, |m, _, out| {
                    if let ServerMachine::Invite(tx) = m {
                        tx.handle_ack(now, ack, &config, out);
                    }
                });
            }
            None => self.events.push_back(TxEvent::Ack { request: ack, from }),
        }
        Ok(())
    }

    /// A new CANCEL: answered here, 200 when it matches an INVITE (which the TU is told about if no
    /// final was sent yet), 481 when it matches none (RFC 3261 §9.2).
    fn handle_cancel(
        &mut self,
        now: Instant,
        key: ServerKey,
        cancel: Request,
        from: Peer,
    ) -> Result<(), TxError> {
        let invite = self
            .server_keys
            .get(&key.with_method(Method::Invite))
            .copied();
        let pending = invite.filter(|&h| match self.servers.get(h).map(|e| &e.machine) {
            Some(ServerMachine::Invite(tx)) => tx.is_proceeding(),
            _ => false,
        });
        let status = if invite.is_some() { 200 } else { 481 };
        let response = Response::for_request(&cancel, status);
        if self.at_limit() {
            // Never shed a CANCEL for load: that would keep its INVITE ringing. Answer statelessly.
            self.transmits.push_back(Transmit {
                to: from,
                message: Message::Response(response),
            });
        } else {
            let reliable = from.transport.is_reliable();
            let machine = ServerMachine::NonInvite(ServerNonInvite::new(reliable));
            let h = self.servers.insert(ServerEntry {
                key: key.clone(),
                peer: from,
                announced: false,
                final_to_tag: None,
                machine,
            });
            self.server_keys.insert(key, h);
            self.with_server(now, h, |m, cfg, out| {
                if let ServerMachine::NonInvite(tx) = m {
                    // A fresh Trying transaction accepts any response.
                    let _ = tx.respond(now, response, cfg, out);
                }
            });
        }
        if let Some(h) = pending {
            self.events.push_back(TxEvent::Cancelled {
                invite_tx: ServerTxId(h),
            });
        }
        Ok(())
    }

    /// A response from the network. Matching ones go to their client transaction; others become
    /// `TxEvent::StrayResponse`. An error means the response is garbage and is dropped.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: Response,
        from: Peer,
    ) -> Result<(), TxError> {
        if !(100..=699).contains(&response.status) {
            return Err(TxError::InvalidStatus(response.status));
        }
        let h =
            ClientKey::for_response(&response)?.and_then(|key| self.client_keys.get(&key).copied());
        let Some(h) = h else {
            self.stats.stray_responses += 1;
            self.events
                .push_back(TxEvent::StrayResponse { response, from });
            return Ok(());
        };
        self.with_client(now, h, |m, cfg, out| match m {
            ClientMachine::Invite(tx) => tx.handle_response(now, response, cfg, out),
            ClientMachine::NonInvite(tx) => tx.handle_response(now, response, cfg, out),
        });
        Ok(())
    }

    /// Starts a client transaction for `request`, whose top Via carries a branch from
    /// `new_branch`. ACK is not a transaction: use `send_stateless`.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        to: Peer,
    ) -> Result<ClientTxId, TxError> {
        if request.method == Method::Ack {
            return Err(TxError::AckNotATransaction);
        }
        let (key, seq, top_via) = ClientKey::for_request(&request)?;
        if self.client_keys.contains_key(&key) {
            return Err(TxError::DuplicateBranch(key.branch().to_owned()));
        }
        if self.at_limit() {
            return Err(self.overloaded());
        }
        Ok(self.start_client(now, key, seq, top_via, request, to))
    }

    fn start_client(
        &mut self,
        now: Instant,
        key: ClientKey,
        seq: u32,
        top_via: String,
        request: Request,
        to: Peer,
    ) -> ClientTxId {
        let reliable = to.transport.is_reliable();
        let mut out = mem::take(&mut self.scratch);
        let machine = if request.method == Method::Invite {
            let ack = build::ack_template(&request, &top_via, seq);
            ClientMachine::Invite(ClientInvite::start(
                now,
                request,
                ack,
                reliable,
                &self.config,
                &mut out,
            ))
        } else {
            ClientMachine::NonInvite(ClientNonInvite::start(
                now,
                request,
                reliable,
                &self.config,
                &mut out,
            ))
        };
        let next = machine.next_timeout();
        let h = self.clients.insert(ClientEntry {
            key: key.clone(),
            peer: to,
            seq,
            top_via,
            machine,
        });
        self.client_keys.insert(key, h);
        let tx = ClientTxId(h);
        self.apply(TxId::Client(tx), to, &mut out);
        self.scratch = out;
        if let Some(at) = next {
            self.timers.push(Reverse((at, TxId::Client(tx))));
        }
        tx
    }

    /// Cancels a client INVITE that has seen a provisional and no final (RFC 3261 §9.1): sends a
    /// CANCEL on the INVITE's branch, as its own client transaction whose handle is returned.
    /// `reason` becomes a Reason header (RFC 3326). If no final arrives within 64·T1, the INVITE
    /// transaction ends without one.
    pub fn cancel(
        &mut self,
        now: Instant,
        invite: ClientTxId,
        reason: Option<&str>,
    ) -> Result<ClientTxId, TxError> {
        let entry = self
            .clients
            .get_mut(invite.0)
            .ok_or(TxError::UnknownTransaction)?;
        let ClientMachine::Invite(tx) = &mut entry.machine else {
            return Err(TxError::CannotCancel {
                state: "non-INVITE",
            });
        };
        if !tx.can_cancel() {
            return Err(TxError::CannotCancel {
                state: tx.state_name(),
            });
        }
        let key = entry.key.with_method(Method::Cancel);
        if self.client_keys.contains_key(&key) {
            return Err(TxError::DuplicateBranch(key.branch().to_owned()));
        }
        let before = tx.next_timeout();
        tx.cancel_sent(now, &self.config);
        let after = tx.next_timeout();
        let cancel = build::cancel(tx.request(), &entry.top_via, entry.seq, reason);
        let (seq, top_via, to) = (entry.seq, entry.top_via.clone(), entry.peer);
        if let Some(at) = after.filter(|_| after != before) {
            self.timers.push(Reverse((at, TxId::Client(invite))));
        }
        // Like a received CANCEL, ours is never refused for load.
        Ok(self.start_client(now, key, seq, top_via, cancel, to))
    }

    /// A response from the TU on a server transaction. Responses go back to where the request came
    /// from (same connection on reliable transports, the source address on UDP, like `rport`).
    pub fn respond(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        response: Response,
    ) -> Result<(), TxError> {
        if !(100..=699).contains(&response.status) {
            return Err(TxError::InvalidStatus(response.status));
        }
        let entry = self
            .servers
            .get_mut(tx.0)
            .ok_or(TxError::UnknownTransaction)?;
        if response.is_final() && matches!(entry.key, ServerKey::Rfc2543 { .. }) {
            let to = response.headers.to_addr().ok();
            entry.final_to_tag = to.and_then(|to| to.tag().map(str::to_owned));
        }
        let mut result = Ok(());
        self.with_server(now, tx.0, |m, cfg, out| {
            result = match m {
                ServerMachine::Invite(t) => t.respond(now, response, cfg, out),
                ServerMachine::NonInvite(t) => t.respond(now, response, cfg, out),
            };
        });
        result
    }

    /// Sends a message outside any transaction: the ACK for a 2xx, or a stateless 400/503.
    pub fn send_stateless(&mut self, message: Message, to: Peer) {
        self.transmits.push_back(Transmit { to, message });
    }

    /// The runtime could not reach `peer` (connection closed, ICMP unreachable): every transaction
    /// bound to it fails with `TxEvent::TransportError` and ends.
    pub fn handle_transport_error(&mut self, now: Instant, peer: Peer) {
        let clients: Vec<Handle> = self
            .clients
            .iter()
            .filter(|(_, e)| e.peer == peer)
            .map(|(h, _)| h)
            .collect();
        let servers: Vec<Handle> = self
            .servers
            .iter()
            .filter(|(_, e)| e.peer == peer)
            .map(|(h, _)| h)
            .collect();
        for h in clients {
            self.events.push_back(TxEvent::TransportError {
                tx: TxId::Client(ClientTxId(h)),
            });
            self.with_client(now, h, |m, _, _| m.terminate());
        }
        for h in servers {
            if !self.servers.get(h).is_some_and(|e| e.announced) {
                self.with_server(now, h, |m, _, _| m.terminate());
                continue;
            }
            self.events.push_back(TxEvent::TransportError {
                tx: TxId::Server(ServerTxId(h)),
            });
            self.with_server(now, h, |m, _, _| m.terminate());
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, tx))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            // `with_*` fire whatever is due; a stale entry finds nothing due and changes nothing.
            match tx {
                TxId::Client(c) => self.with_client(now, c.0, |_, _, _| {}),
                TxId::Server(s) => self.with_server(now, s.0, |_, _, _| {}),
            }
        }
    }

    // ---- outputs ------------------------------------------------------------------------------

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next, if any transaction has a timer running.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, tx))) = self.timers.peek() {
            if self.deadline(tx) == Some(at) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Live transactions by kind and the counters.
    pub fn stats(&self) -> TxStats {
        let mut stats = self.stats;
        for (_, e) in self.clients.iter() {
            match e.machine {
                ClientMachine::Invite(_) => stats.client_invite += 1,
                ClientMachine::NonInvite(_) => stats.client_non_invite += 1,
            }
        }
        for (_, e) in self.servers.iter() {
            match e.machine {
                ServerMachine::Invite(_) => stats.server_invite += 1,
                ServerMachine::NonInvite(_) => stats.server_non_invite += 1,
            }
        }
        stats
    }

    /// The RFC state name of a live transaction (`"Proceeding"`), for logs and tests.
    pub fn state_name(&self, tx: TxId) -> Option<&'static str> {
        match tx {
            TxId::Client(c) => self.clients.get(c.0).map(|e| e.machine.state_name()),
            TxId::Server(s) => self.servers.get(s.0).map(|e| e.machine.state_name()),
        }
    }

    /// The request a client transaction sends.
    pub fn client_request(&self, tx: ClientTxId) -> Option<&Request> {
        self.clients.get(tx.0).map(|e| e.machine.request())
    }

    // ---- plumbing -----------------------------------------------------------------------------

    fn deadline(&self, tx: TxId) -> Option<Instant> {
        match tx {
            TxId::Client(c) => self.clients.get(c.0).and_then(|e| e.machine.next_timeout()),
            TxId::Server(s) => self.servers.get(s.0).and_then(|e| e.machine.next_timeout()),
        }
    }

    /// Runs `f` on a client machine, fires what is due (zero-length timers on reliable transports
    /// end a transaction at once), then routes the actions and reschedules or removes it.
    fn with_client(
        &mut self,
        now: Instant,
        h: Handle,
        f: impl FnOnce(&mut ClientMachine, &TimerConfig, &mut Vec<Action>),
    ) {
        let Some(entry) = self.clients.get_mut(h) else {
            return;
        };
        let mut out = mem::take(&mut self.scratch);
        let before = entry.machine.next_timeout();
        f(&mut entry.machine, &self.config, &mut out);
        if entry.machine.next_timeout().is_some_and(|t| t <= now) {
            entry.machine.handle_timeout(now, &self.config, &mut out);
        }
        let (after, peer, terminated) = (
            entry.machine.next_timeout(),
            entry.peer,
            entry.machine.is_terminated(),
        );
        let tx = TxId::Client(ClientTxId(h));
        self.apply(tx, peer, &mut out);
        self.scratch = out;
        if terminated {
            if let Some(entry) = self.clients.remove(h) {
                self.client_keys.remove(&entry.key);
            }
            self.events.push_back(TxEvent::Terminated { tx });
        } else if let Some(at) = after.filter(|_| after != before) {
            self.timers.push(Reverse((at, tx)));
        }
    }

    /// `with_client` for server transactions.
    fn with_server(
        &mut self,
        now: Instant,
        h: Handle,
        f: impl FnOnce(&mut ServerMachine, &TimerConfig, &mut Vec<Action>),
    ) {
        let Some(entry) = self.servers.get_mut(h) else {
            return;
        };
        let mut out = mem::take(&mut self.scratch);
        let before = entry.machine.next_timeout();
        f(&mut entry.machine, &self.config, &mut out);
        if entry.machine.next_timeout().is_some_and(|t| t <= now) {
            entry.machine.handle_timeout(now, &self.config, &mut out);
        }
        let (after, peer, terminated) = (
            entry.machine.next_timeout(),
            entry.peer,
            entry.machine.is_terminated(),
        );
        let announced = entry.announced;
        let tx = TxId::Server(ServerTxId(h));
        self.apply(tx, peer, &mut out);
        self.scratch = out;
        if terminated {
            if let Some(entry) = self.servers.remove(h) {
                self.server_keys.remove(&entry.key);
            }
            if announced {
                self.events.push_back(TxEvent::Terminated { tx });
            }
        } else if let Some(at) = after.filter(|_| after != before) {
            self.timers.push(Reverse((at, tx)));
        }
    }

    fn apply(&mut self, tx: TxId, peer: Peer, out: &mut Vec<Action>) {
        for action in out.drain(..) {
            match (action, tx) {
                (
                    Action::Send {
                        message,
                        retransmission,
                    },
                    _,
                ) => {
                    if retransmission {
                        self.stats.retransmissions_sent += 1;
                    }
                    self.transmits.push_back(Transmit { to: peer, message });
                }
                (Action::Response(response), TxId::Client(tx)) => {
                    self.events.push_back(TxEvent::Response { tx, response });
                }
                (Action::Timeout(timer), TxId::Client(tx)) => {
                    self.stats.timeouts += 1;
                    self.events.push_back(TxEvent::Timeout { tx, timer });
                }
                (Action::Timeout(_), TxId::Server(tx)) => {
                    self.stats.timeouts += 1;
                    self.events.push_back(TxEvent::AckTimeout { tx });
                }
                (Action::Ack(request), _) => self.events.push_back(TxEvent::Ack {
                    request,
                    from: peer,
                }),
                // Server machines hand no responses up.
                (Action::Response(_), TxId::Server(_)) => {}
            }
        }
    }
}
