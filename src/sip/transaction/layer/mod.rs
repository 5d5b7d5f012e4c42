//! The transaction layer: owns every transaction, matches messages to them, runs their timers, and
//! queues what to send and what to tell the TU.
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::mem;
use std::time::Instant;

mod client;
mod server;

use super::event::{ClientTxId, ServerTxId, Transmit, TxEvent, TxId, TxStats};
use super::key::{ClientKey, ServerKey, MAGIC_COOKIE};
use super::machine::{ClientMachine, ServerMachine};
use super::slab::{Handle, Slab};
use super::timer::{ConfigError, TimerConfig};
use super::{Action, TxError};
use crate::sip::message::{Message, Request};
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
        // Reserved up front (bounded): see `Slab::reserve`.
        let room = self.max_transactions.min(1 << 18);
        self.clients.reserve(room);
        self.servers.reserve(room);
        // The key maps too: growing one rehashes every key's strings at once.
        self.client_keys.reserve(room.saturating_sub(self.client_keys.len()));
        self.server_keys.reserve(room.saturating_sub(self.server_keys.len()));
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

    /// The limit for `request`: new work (a request outside a dialog: a new call, REGISTER,
    /// OPTIONS) is refused at `max_transactions`; a request inside a dialog (a To tag: BYE,
    /// re-INVITE, UPDATE, INFO) is refused only at twice that, so a node shedding new calls
    /// still ends the calls it has (a refused BYE would keep a call and its ports until the
    /// media timeout) while a flood of forged in-dialog requests stays bounded.
    fn at_limit_for(&self, request: &crate::sip::message::Request) -> bool {
        let in_dialog = request.headers.to_addr().ok().is_some_and(|to| to.tag().is_some());
        let limit = if in_dialog { self.max_transactions.saturating_mul(2) } else { self.max_transactions };
        self.clients.len() + self.servers.len() >= limit
    }

    fn overloaded(&mut self) -> TxError {
        self.stats.overloads += 1;
        TxError::Overloaded {
            limit: self.max_transactions,
        }
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
        self.handle_timeout_max(now, usize::MAX);
    }

    /// Fires at most `max` of the timers due at `now`; the others stay due (`poll_timeout`).
    pub fn handle_timeout_max(&mut self, now: Instant, max: usize) {
        let mut budget = max;
        while let Some(&Reverse((at, tx))) = self.timers.peek() {
            if at > now || budget == 0 {
                break;
            }
            budget -= 1;
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
        // Live counts are kept as transactions come and go: this is called after every event.
        self.stats
    }

    /// Counts a transaction of this kind in (`+1`) or out (`-1`).
    pub(super) fn tally(&mut self, client: bool, invite: bool, delta: isize) {
        let slot = match (client, invite) {
            (true, true) => &mut self.stats.client_invite,
            (true, false) => &mut self.stats.client_non_invite,
            (false, true) => &mut self.stats.server_invite,
            (false, false) => &mut self.stats.server_non_invite,
        };
        *slot = slot.saturating_add_signed(delta);
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
                self.tally(true, matches!(entry.machine, ClientMachine::Invite(_)), -1);
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
                self.tally(false, matches!(entry.machine, ServerMachine::Invite(_)), -1);
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
