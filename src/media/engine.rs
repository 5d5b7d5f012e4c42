//! The media engine: binds each session's RTP/RTCP sockets, runs one task per session that drives
//! its sans-IO `Bridge`, and reports media timeouts to the core over a channel.
//!
//! One task per session (not per socket): the task waits on the readiness of its four sockets,
//! drains each ready socket with `recvmmsg` (`mmsg`: every queued datagram in one syscall, which
//! also tells the queue is empty) into per-thread buffers and sends each with `try_send_to` from
//! the other side's socket, so a relayed packet costs a send plus its share of one receive, one
//! uncontended lock and no allocation; metrics are added and the clock read once per batch. On
//! a multi-thread runtime the tasks run on a few single-threaded relay runtimes
//! (`relay_threads`), so a packet's wake-up never crosses threads. The bridge sits behind a
//! `Mutex` only so that the core can call `set_remote`, `stats` and `close` synchronously; the
//! packet path holds it for the header rewrite alone, never across a send or an `await`.
//! The receive path is `engine_relay.rs`; every received datagram goes through its `relay_one`,
//! the single place a tap on relayed packets belongs (after the verdict).
//!
//! A session whose legs share no codec transcodes (`set_codecs` with a `Transcode` plan): its task
//! moves to a dedicated multi-thread runtime sized to the cores, so codec work never delays the
//! signalling core, and one task per call means no call waits on another's frames. The relay
//! still latches, counts and times out; accepted packets go to the [`Transcoding`] instead of
//! being forwarded, and a timer at each frame's playout time sends what it produces.
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use prometheus::IntCounter;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::ports::{PortAllocator, PortLease, PortPair};
use super::relay::{Bridge, Channel, DropReason, LegStats, MediaEvent, RelayConfig, Remote, Side, Verdict};
use super::transcode::MediaPlan;
use super::transcoding_session::Transcoding;
use super::mmsg;
use super::MediaError;
use crate::metrics::metrics;

/// Datagrams read from one socket before the task looks at the others again.
const BATCH: usize = 64;
/// Capacity of the event channel; events are rare (one per timeout), so a full channel means the
/// core is stuck and the event is dropped with a log line rather than blocking media.
const EVENT_QUEUE: usize = 1024;

/// A media session's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// Our local addresses for one side: what goes into that side's SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegAddrs {
    pub rtp: SocketAddr,
    pub rtcp: SocketAddr,
}

/// A session just opened: its id and the local addresses of side A and side B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    pub a: LegAddrs,
    pub b: LegAddrs,
}

/// What the engine tells the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    pub session: SessionId,
    pub event: MediaEvent,
}

/// Statistics of a session, per side.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionStats {
    pub label: String,
    pub a: LegStats,
    pub b: LegStats,
    /// Relayed datagrams the OS refused to send (socket buffer full, unreachable).
    pub send_failed: u64,
    /// Of the packets relayed from side A and from side B, those the kernel fast path forwarded
    /// (included in the legs' counters).
    pub kernel_forwarded: [u64; 2],
}

struct Shared {
    bridge: Mutex<Bridge>,
    /// Wakes the task after `set_remote` moved its next deadline.
    wake: Notify,
    send_failed: AtomicU64,
    /// Prompts being played toward either side (`player`).
    players: super::player::Slots,
    /// A codec plan the task has not applied yet (`Some(None)`: back to plain relaying).
    plan: Mutex<Option<Option<MediaPlan>>>,
    /// The task is transcoding (the stats then take `sent` for `packets_out`/`bytes_out`).
    transcoding: std::sync::atomic::AtomicBool,
    /// Which task owns the sockets: a task whose number is no longer this one stops.
    owner: AtomicU64,
    /// While transcoding: [packets, octets] sent to A and to B (the relay counts nothing then).
    sent: [[AtomicU64; 2]; 2],
    /// The recorder's fork, set once when the call is answered (see `crate::recording::tap`).
    tap: OnceLock<Arc<crate::recording::Tap>>,
    /// The external recorder's (SIPREC) fork, opened once when the call is answered.
    fork: OnceLock<super::fork::Fork>,
    /// Which directions the kernel fast path forwards (`engine_offload`).
    offload: offload::SessionOffload,
}

impl Shared {
    fn bridge(&self) -> MutexGuard<'_, Bridge> {
        // The bridge has no invariant spanning a panic point worth refusing service for.
        self.bridge.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes any offloaded direction back into the relay after the core changed the session.
    /// Always under the bridge lock, which the task holds from its `may_offload` check to the
    /// install: either the task saw the change, or its rule is removed here.
    fn take_back(&self) {
        self.offload.take_back_all(&mut self.bridge(), false);
    }

    /// Nothing but the relay needs the packets arriving on `side`: they may go by the kernel.
    fn may_offload(&self, side: Side) -> bool {
        let plan_pending = self.plan.lock().unwrap_or_else(|e| e.into_inner()).is_some();
        self.tap.get().is_none() && self.fork.get().is_none() && !plan_pending && !self.transcoding.load(Relaxed) && !self.players.playing(side.other())
    }

    /// The pending plan, for the task numbered `owner` only (the owner moves before a plan is
    /// stored, so a task being replaced never takes its successor's plan).
    fn take_plan(&self, owner: u64) -> Option<Option<MediaPlan>> {
        let mut slot = self.plan.lock().unwrap_or_else(|e| e.into_inner());
        if self.owner.load(Relaxed) != owner {
            return None;
        }
        slot.take()
    }
}

struct Session {
    label: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    sockets: Arc<Sockets>,
    /// The runtime whose reactor the sockets are registered with.
    runtime: tokio::runtime::Handle,
    /// The local addresses of side A and side B.
    addrs: [LegAddrs; 2],
    /// The task runs on the transcoding runtime.
    moved: bool,
    /// Dropped with the session on every path (close, engine drop), which frees the ports.
    _leases: [PortLease; 2],
    /// The SIPREC fork's ports, freed the same way.
    _fork_leases: Option<[PortLease; 2]>,
}

/// Owns the media sessions of a node. Used from the core task; every method is synchronous.
pub struct MediaEngine {
    ports: PortAllocator,
    bind_ip: IpAddr,
    config: RelayConfig,
    sessions: HashMap<SessionId, Session>,
    next_id: u64,
    events_tx: mpsc::Sender<SessionEvent>,
    events_rx: Option<mpsc::Receiver<SessionEvent>>,
    /// The kernel fast path, when enabled and the kernel allows it (`enable_fast_path`).
    fast: Option<Arc<super::fastpath::FastPath>>,
    /// Closed sessions' sockets, bound and registered, for the next sessions.
    warm: warm::WarmPool,
}

impl MediaEngine {
    /// An engine binding on `bind_ip` with ports from `rtp_ports` (`Settings::rtp_ports`).
    pub fn new(rtp_ports: RangeInclusive<u16>, bind_ip: IpAddr, config: RelayConfig) -> Result<MediaEngine, MediaError> {
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        Ok(MediaEngine {
            ports: PortAllocator::new(rtp_ports)?,
            bind_ip,
            config,
            sessions: HashMap::new(),
            next_id: 1,
            events_tx,
            events_rx: Some(events_rx),
            fast: None,
            warm: Default::default(),
        })
    }

    /// Lets the kernel forward the steady RTP of plain relayed calls (`media::fastpath`); on an
    /// error (no privilege, old kernel) every packet keeps going through the relay. Returns the
    /// interfaces it attached to.
    pub fn enable_fast_path(&mut self) -> Result<Vec<String>, super::fastpath::FastPathError> {
        // Two rules per session; a session holds two pairs of the range.
        let rules = u32::try_from(self.ports.capacity()).unwrap_or(u32::MAX).max(32);
        let fast = super::fastpath::FastPath::open(self.bind_ip, rules)?;
        let names = fast.interfaces().to_vec();
        let off = fast.forwarding_disabled();
        if !off.is_empty() {
            tracing::warn!(interfaces = ?off, "IPv4 forwarding is off on these interfaces: the kernel fast path cannot route between them (net.ipv4.conf.<if>.forwarding=1); their RTP stays in the relay");
        }
        self.fast = Some(Arc::new(fast));
        Ok(names)
    }

    /// The kernel fast path is in use.
    pub fn fast_path_enabled(&self) -> bool {
        self.fast.is_some()
    }

    /// The receiving end of the event channel; `Some` once.
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<SessionEvent>> {
        self.events_rx.take()
    }

    /// The port allocator (for the `ncgw_rtp_ports_in_use` gauge and tests).
    pub fn ports(&self) -> &PortAllocator {
        &self.ports
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Binds two legs (side A, side B) and starts relaying between them; needs a tokio runtime
    /// (`MediaError::NoRuntime` otherwise). `label` names the session in logs and stats (a call id, not a phone number).
    pub fn open_session(&mut self, label: &str) -> Result<SessionInfo, MediaError> {
        let caller = tokio::runtime::Handle::try_current().map_err(|_| MediaError::NoRuntime)?;
        let t = now();
        let (runtime, sockets, [a_addrs, b_addrs], [a_lease, b_lease]) = match self.warm.take(t, false) {
            Some(w) => (w.runtime, w.sockets, w.addrs, w.leases),
            None => match self.bind_session(&caller) {
                Ok(fresh) => fresh,
                Err(e @ MediaError::PortsExhausted { .. }) => {
                    let w = self.warm.take(t, true).ok_or(e)?;
                    (w.runtime, w.sockets, w.addrs, w.leases)
                }
                Err(e) => return Err(e),
            },
        };
        let id = SessionId(self.next_id);
        self.next_id += 1;
        let shared = Arc::new(Shared {
            bridge: Mutex::new(Bridge::new(&self.config)),
            wake: Notify::new(),
            send_failed: Default::default(),
            plan: Mutex::new(None),
            transcoding: Default::default(),
            owner: AtomicU64::new(0),
            sent: Default::default(),
            players: Default::default(),
            tap: OnceLock::new(),
            fork: OnceLock::new(),
            offload: offload::SessionOffload::new(self.fast.clone(), a_addrs, b_addrs),
        });
        let task = runtime.spawn(run(id, 0, shared.clone(), sockets.clone(), self.events_tx.clone()));
        tracing::debug!(session = %id, label, a = %a_addrs.rtp, b = %b_addrs.rtp, "media session opened");
        self.sessions.insert(id, Session { label: label.to_owned(), shared, task, sockets, runtime, addrs: [a_addrs, b_addrs], moved: false, _leases: [a_lease, b_lease], _fork_leases: None });
        Ok(SessionInfo { id, a: a_addrs, b: b_addrs })
    }

    /// Binds two fresh port pairs, registered with the reactor of the relay thread they will run on.
    #[allow(clippy::type_complexity)]
    fn bind_session(&self, caller: &tokio::runtime::Handle) -> Result<(tokio::runtime::Handle, Arc<Sockets>, [LegAddrs; 2], [PortLease; 2]), MediaError> {
        let runtime = super::relay_threads::relay_runtime(caller).unwrap_or(caller).clone();
        let a = self.ports.allocate(self.bind_ip)?;
        let b = self.ports.allocate(self.bind_ip)?;
        // The sockets belong to the reactor of the runtime the task runs on.
        let entered = runtime.enter();
        let (a_rtp, a_rtcp, a_lease, a_addrs) = register(a)?;
        let (b_rtp, b_rtcp, b_lease, b_addrs) = register(b)?;
        drop(entered);
        Ok((runtime, Arc::new(Sockets { a_rtp, a_rtcp, b_rtp, b_rtcp }), [a_addrs, b_addrs], [a_lease, b_lease]))
    }

    /// Applies one side's SDP (peer addresses, clock rate, hold).
    pub fn set_remote(&mut self, session: SessionId, side: Side, remote: Remote) -> Result<(), MediaError> {
        let s = self.sessions.get(&session).ok_or(MediaError::UnknownSession(session))?;
        // One lock for both: the kernel's part is folded in before the bridge changes, and the
        // task cannot install a rule for the old addresses in between.
        let mut bridge = s.shared.bridge();
        s.shared.offload.take_back_all(&mut bridge, false);
        bridge.set_remote(now(), side, remote);
        drop(bridge);
        s.shared.wake.notify_one();
        Ok(())
    }

    /// Plays prompts toward `side` (see `player::Slots::play`); the session task sends them.
    #[allow(clippy::too_many_arguments)]
    pub fn play(&mut self, session: SessionId, side: Side, pt: u8, law: super::player::Law, clips: Vec<super::player::Clip>, then: Option<super::player::Clip>, seed: u64) -> Result<(), MediaError> {
        let s = self.sessions.get(&session).ok_or(MediaError::UnknownSession(session))?;
        s.shared.players.play(now(), side, pt, law, clips, then, seed);
        s.shared.take_back();
        s.shared.wake.notify_one();
        Ok(())
    }

    /// The codecs offer/answer settled on: a `Transcode` plan makes the session transcode (its
    /// task moves to the transcoding runtime), `Copy` or `None` relays packets untouched.
    pub fn set_codecs(&mut self, session: SessionId, plan: Option<MediaPlan>) -> Result<(), MediaError> {
        let s = self.sessions.get_mut(&session).ok_or(MediaError::UnknownSession(session))?;
        let transcode = matches!(plan, Some(MediaPlan::Transcode { .. }));
        if transcode && !s.moved {
            if let Some(rt) = transcoding_runtime() {
                // The relay task may be running on another thread right now: it sees the new
                // owner at its next turn and stops without touching the plan.
                let owner = s.shared.owner.fetch_add(1, Relaxed) + 1;
                s.task.abort();
                s.task = rt.spawn(run(session, owner, s.shared.clone(), s.sockets.clone(), self.events_tx.clone()));
                s.moved = true;
            }
        }
        *s.shared.plan.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan);
        s.shared.take_back();
        s.shared.wake.notify_one();
        Ok(())
    }

    /// Stops prompts toward `side`.
    pub fn stop_play(&mut self, session: SessionId, side: Side) -> Result<(), MediaError> {
        let s = self.sessions.get(&session).ok_or(MediaError::UnknownSession(session))?;
        s.shared.players.stop(side);
        Ok(())
    }

    /// Forks the session's accepted RTP to a recorder from now on; `false` if it already had one.
    pub fn set_tap(&mut self, session: SessionId, tap: Arc<crate::recording::Tap>) -> Result<bool, MediaError> {
        let s = self.sessions.get(&session).ok_or(MediaError::UnknownSession(session))?;
        let set = s.shared.tap.set(tap).is_ok();
        s.shared.take_back();
        Ok(set)
    }

    /// The session's recording tap, when it is recorded.
    pub fn tap(&self, session: SessionId) -> Option<Arc<crate::recording::Tap>> {
        self.sessions.get(&session)?.shared.tap.get().cloned()
    }

    /// Opens the session's fork to an external recorder (two RTP ports from the range) and
    /// returns its addresses; the same ones again if it has one.
    pub fn open_fork(&mut self, session: SessionId) -> Result<[SocketAddr; 2], MediaError> {
        let s = self.sessions.get_mut(&session).ok_or(MediaError::UnknownSession(session))?;
        if let Some(f) = s.shared.fork.get() {
            return Ok(f.local());
        }
        let (fork, leases) = super::fork::Fork::open(&self.ports, self.bind_ip)?;
        let local = fork.local();
        let _ = s.shared.fork.set(fork);
        s.shared.take_back();
        s._fork_leases = Some(leases);
        Ok(local)
    }

    /// Where the fork's streams go (see `fork::Fork::set_destinations`).
    pub fn set_fork(&mut self, session: SessionId, to: [Option<SocketAddr>; 2]) -> Result<(), MediaError> {
        let s = self.sessions.get(&session).ok_or(MediaError::UnknownSession(session))?;
        if let Some(f) = s.shared.fork.get() {
            f.set_destinations(to);
        }
        Ok(())
    }

    /// A snapshot of the session's statistics.
    pub fn stats(&self, session: SessionId) -> Result<SessionStats, MediaError> {
        let s = self.sessions.get(&session).ok_or(MediaError::UnknownSession(session))?;
        s.shared.offload.sync(&mut s.shared.bridge());
        Ok(snapshot(s))
    }

    /// Closes the kept sockets of sessions that ended more than 30 s ago (call it now and then:
    /// `open_session` does too, but an idle node opens none).
    pub fn expire_warm(&mut self) {
        self.warm.expire(now());
    }

    /// Stops relaying, frees the ports and returns the final statistics. The sockets close when the
    /// aborted task is dropped by the runtime, moments later; a pair reused before that fails to
    /// bind and is skipped by the allocator.
    pub fn close(&mut self, session: SessionId) -> Result<SessionStats, MediaError> {
        let s = self.sessions.remove(&session).ok_or(MediaError::UnknownSession(session))?;
        s.task.abort();
        // Before the ports go back to the allocator: a rule left behind would take the packets
        // of the next call on these ports.
        s.shared.offload.take_back_all(&mut s.shared.bridge(), true);
        let stats = snapshot(&s);
        tracing::debug!(session = %session, label = %s.label, "media session closed");
        // A session that never moved to the transcoding runtime leaves its sockets for the next.
        if !s.moved {
            let Session { sockets, runtime, addrs, _leases, .. } = s;
            self.warm.put(warm::Warm { closed: now(), runtime, sockets, addrs, leases: _leases });
        }
        Ok(stats)
    }
}

impl Drop for MediaEngine {
    fn drop(&mut self) {
        for s in self.sessions.values() {
            s.task.abort();
        }
    }
}

fn snapshot(s: &Session) -> SessionStats {
    let b = s.shared.bridge();
    let (mut a, mut bs) = (b.leg(Side::A).stats(), b.leg(Side::B).stats());
    if s.shared.transcoding.load(Relaxed) {
        let sent = &s.shared.sent;
        (a.packets_out, a.bytes_out) = (sent[0][0].load(Relaxed), sent[0][1].load(Relaxed));
        (bs.packets_out, bs.bytes_out) = (sent[1][0].load(Relaxed), sent[1][1].load(Relaxed));
    }
    SessionStats { label: s.label.clone(), a, b: bs, send_failed: s.shared.send_failed.load(Relaxed), kernel_forwarded: s.shared.offload.forwarded() }
}

fn register(pair: PortPair) -> Result<(UdpSocket, UdpSocket, PortLease, LegAddrs), MediaError> {
    let conv = |s: std::net::UdpSocket| {
        let addr = s.local_addr().map_err(|source| MediaError::Register { addr: SocketAddr::new([0, 0, 0, 0].into(), 0), source })?;
        let socket = UdpSocket::from_std(s).map_err(|source| MediaError::Register { addr, source })?;
        Ok::<_, MediaError>((socket, addr))
    };
    let (rtp, rtp_addr) = conv(pair.rtp)?;
    let (rtcp, rtcp_addr) = conv(pair.rtcp)?;
    Ok((rtp, rtcp, pair.lease, LegAddrs { rtp: rtp_addr, rtcp: rtcp_addr }))
}

/// The engine's clock: tokio's, so paused-time tests and the timers agree.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct Sockets {
    a_rtp: UdpSocket,
    a_rtcp: UdpSocket,
    b_rtp: UdpSocket,
    b_rtcp: UdpSocket,
}

impl Sockets {
    /// The first of the four sockets with a datagram queued, starting at a different one each
    /// `turn` so a flooded socket cannot starve the others. Registers the task's waker with each
    /// socket not ready, in the socket's single reader slot (no waiter list to join and leave on
    /// every turn, as `readable()` futures do).
    fn poll_any_readable(&self, cx: &mut std::task::Context<'_>, turn: usize) -> std::task::Poll<(Side, Channel)> {
        const ORDER: [(Side, Channel); 4] = [(Side::A, Channel::Rtp), (Side::B, Channel::Rtp), (Side::A, Channel::Rtcp), (Side::B, Channel::Rtcp)];
        for k in 0..ORDER.len() {
            let (side, channel) = ORDER[(turn + k) % ORDER.len()];
            // An error here is the registration's (never for a live socket): treat it as ready so
            // the receive reports it rather than waiting forever.
            if self.get(side, channel).poll_recv_ready(cx).is_ready() {
                return std::task::Poll::Ready((side, channel));
            }
        }
        std::task::Poll::Pending
    }

    fn get(&self, side: Side, channel: Channel) -> &UdpSocket {
        match (side, channel) {
            (Side::A, Channel::Rtp) => &self.a_rtp,
            (Side::A, Channel::Rtcp) => &self.a_rtcp,
            (Side::B, Channel::Rtp) => &self.b_rtp,
            (Side::B, Channel::Rtcp) => &self.b_rtcp,
        }
    }
}

/// Metric handles resolved once, so the packet path only increments.
struct Counters {
    /// [direction][result] in the order of `RESULTS`.
    c: [[IntCounter; 6]; 2],
}

const RESULTS: [&str; 6] =
    ["relayed", "dropped_foreign", "dropped_malformed", "dropped_not_latched", "dropped_no_destination", "send_failed"];

fn counters() -> &'static Counters {
    static C: OnceLock<Counters> = OnceLock::new();
    C.get_or_init(|| {
        let m = &metrics().rtp_packets;
        let row = |dir: &str| RESULTS.map(|r| m.with_label_values(&[dir, r]));
        Counters { c: [row("a_to_b"), row("b_to_a")] }
    })
}

fn result_index(v: Verdict) -> usize {
    match v {
        Verdict::Forward { .. } => 0,
        Verdict::Drop(DropReason::Foreign) => 1,
        Verdict::Drop(DropReason::NotLatched) => 3,
        Verdict::Drop(DropReason::NoDestination) => 4,
        Verdict::Drop(_) => 2,
    }
}

async fn run(id: SessionId, owner: u64, shared: Arc<Shared>, sockets: Arc<Sockets>, events: mpsc::Sender<SessionEvent>) {
    let mut xcode: Option<Transcoding> = None;
    let mut scratch = Vec::with_capacity(mmsg::SLOT_BYTES);
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);
    // The deadline the sleep is set to. It is only moved earlier; when it fires early (media kept
    // the deadline moving later) the loop just re-reads the bridge's deadline.
    let mut armed: Option<Instant> = None;
    // The prompt players' next packet, on its own sleep (reset only when it moves).
    let play_sleep = tokio::time::sleep_until(far);
    tokio::pin!(play_sleep);
    let mut play_armed: Option<Instant> = None;
    // Kept across turns (re-created only once it fired), so a turn does not re-register it.
    let woken = shared.wake.notified();
    tokio::pin!(woken);
    let mut turn = 0usize;
    loop {
        if shared.owner.load(Relaxed) != owner {
            return;
        }
        apply_plan(id, owner, &shared, &mut xcode);
        let next = shared.bridge().poll_timeout();
        let next = [next, xcode.as_ref().and_then(Transcoding::poll_timeout), shared.offload.next_sync()].into_iter().flatten().min();
        if let Some(n) = next {
            if armed.is_none_or(|a| n < a) {
                sleep.as_mut().reset(tokio::time::Instant::from_std(n));
                armed = Some(n);
            }
        }
        let play_at = shared.players.poll_timeout();
        if play_at != play_armed {
            play_sleep.as_mut().reset(play_at.map_or(far, tokio::time::Instant::from_std));
            play_armed = play_at;
        }
        turn = turn.wrapping_add(1);
        let (side, channel) = tokio::select! {
            ready = std::future::poll_fn(|cx| sockets.poll_any_readable(cx, turn)) => ready,
            _ = &mut woken => {
                woken.set(shared.wake.notified());
                continue;
            }
            _ = &mut sleep, if armed.is_some() => {
                armed = None;
                sleep.as_mut().reset(far);
                // The kernel's packets count for the deadlines (and the live statistics).
                shared.offload.sync(&mut shared.bridge());
                fire_timeouts(id, &shared, &events);
                if let Some(x) = xcode.as_mut() {
                    send_transcoded(&shared, &sockets, x, &mut scratch);
                }
                continue;
            }
            _ = &mut play_sleep, if play_armed.is_some() => {
                play_armed = None;
                let t = now();
                let route = |side, data: &mut [u8]| shared.bridge().inject_rtp(t, side, data, 8000);
                shared.players.emit(t, route, |side, data, to| {
                    let _ = sockets.get(side, Channel::Rtp).try_send_to(data, to);
                });
                continue;
            }
        };

        drain(&shared, &sockets, side, channel, xcode.as_mut(), &mut scratch);
    }
}

fn fire_timeouts(id: SessionId, shared: &Shared, events: &mpsc::Sender<SessionEvent>) {
    let mut bridge = shared.bridge();
    while let Some(event) = bridge.handle_timeout(now()) {
        tracing::info!(session = %id, ?event, cause = "media.timeout", "media timeout");
        if events.try_send(SessionEvent { session: id, event }).is_err() {
            tracing::warn!(session = %id, "media event queue full; event dropped");
        }
    }
}

#[path = "engine_offload.rs"]
mod offload;

#[path = "engine_warm.rs"]
mod warm;

#[path = "engine_relay.rs"]
mod relay_path;
use relay_path::drain;

#[path = "engine_xcode.rs"]
mod xcode;
use xcode::{apply_plan, send_transcoded, transcoding_runtime};

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "engine_offload_tests.rs"]
mod offload_tests;
