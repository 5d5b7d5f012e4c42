//! Automatic call distribution, sans-IO: queues, agents and skills-based routing. Inputs are
//! method calls with `now`; outputs are drained with `poll_event`, and `poll_timeout` says when to
//! call `handle_timeout` next.
//!
//! Routing: a waiting call goes to the available agent who has every required skill (the queue's,
//! the call's, and `lang:<language>` when the call names a language) at the required level, then
//! the highest sum of levels in those skills, then the longest idle. An agent who becomes free
//! takes the call with the highest priority, then the longest wait, among the calls it qualifies
//! for in the queues it serves.
//!
//! A queue with nobody logged in refuses new calls (`EnqueueRefused::NoAgents`, then its overflow
//! target): they would only wait out `max_wait`. Calls already waiting when the last agent logs out
//! stay queued until their `max_wait`.
//!
//! Cost: routing state is kept per class (a queue's calls with identical requirements, see
//! `router`), so an input costs a few ordered-set operations per class an agent qualifies for,
//! independent of the number of waiting calls and agents; the number of classes is bounded by the
//! distinct skill sets the dialplan and relax rules produce. `tools/bench` (`acd-route`) measures
//! it with 10,000 waiting calls and 2,000 agents.
//!
//! Service level = calls answered within the target / calls that left the queue (answered,
//! abandoned, overflowed, timed out); occupancy = agent time ringing, talking or in wrap-up /
//! that plus available time, summed over the agents serving the queue.

mod agents;
mod calls;
pub mod config;
pub mod model;
mod provision;
mod router;
pub mod stats;

#[cfg(test)]
mod tests;

pub use config::{AcdConfig, AgentConfig, OverflowTarget, PriorityRule, QueueConfig, Relax, SkillReq};
pub use model::{AcdError, AcdEvent, AgentInfo, AgentState, CallKey, EnqueueRefused, Outcome, BREAK_MISSED};
pub use stats::{Counters, Summary};

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::dialplan::CallAttributes;
use stats::{Intervals, QueueStatsAcc};

type SkillId = u32;
/// Required skills, sorted by skill id, one entry per skill.
type Reqs = Vec<(SkillId, u8)>;
/// Order of waiting calls: priority high first, then earliest entry.
type CallOrd = (Reverse<i64>, u64, usize);
/// Order of available agents for a class: level sum high first, then idle longest.
type AgentOrd = (Reverse<u32>, Instant, usize);

/// The agent-queue core. See the module documentation for the routing rules.
#[derive(Debug)]
pub struct Acd {
    stats_interval: Duration,
    stats_keep: usize,
    intervals: Option<Intervals>,
    skills: HashMap<String, SkillId>,
    queues: Vec<Queue>,
    queue_index: HashMap<String, usize>,
    agents: Vec<Agent>,
    agent_index: HashMap<String, usize>,
    classes: Vec<Class>,
    class_index: HashMap<(usize, Reqs), usize>,
    calls: Vec<Option<Call>>,
    free_calls: Vec<usize>,
    call_index: HashMap<CallKey, usize>,
    timers: BTreeSet<(Instant, Timer)>,
    events: VecDeque<AcdEvent>,
    next_seq: u64,
}

#[derive(Debug)]
struct Queue {
    cfg: QueueConfig,
    reqs: Reqs,
    /// (after, skill dropped), in order.
    relax: Vec<(Duration, SkillId)>,
    classes: Vec<usize>,
    /// Logged-in agents serving the queue, in any state.
    agents: Vec<usize>,
    /// Waiting (not offered) calls by entry sequence: the first has waited longest.
    waiting: BTreeMap<u64, usize>,
    position_at: Option<Instant>,
    stats: QueueStatsAcc,
    /// Handled calls and their total talk + wrap-up time, for position ETAs.
    handled: u64,
    handle_total: Duration,
}

/// The calls of one queue with the same requirements, and the available agents qualified for them.
#[derive(Debug)]
struct Class {
    reqs: Reqs,
    waiting: BTreeSet<CallOrd>,
    available: BTreeSet<AgentOrd>,
}

#[derive(Debug)]
struct Call {
    key: CallKey,
    attrs: CallAttributes,
    queue: usize,
    class: usize,
    priority: i64,
    seq: u64,
    entered_acd: Instant,
    entered_queue: Instant,
    /// How many of the queue's relax rules have applied.
    relaxed: usize,
    offered_to: Option<usize>,
    /// Scheduled timers, removed with the call.
    timers: Vec<(Instant, Timer)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum St {
    LoggedOut,
    Available,
    Offered { call: usize },
    OnCall { call: CallKey, queue: usize, since: Instant },
    WrapUp { until: Instant },
    Break(String),
}

#[derive(Debug)]
struct Agent {
    cfg: AgentConfig,
    skills: Reqs,
    /// Queues named at login (or in the configuration); `None` = every qualifying queue.
    login_queues: Option<Vec<usize>>,
    queues: Vec<usize>,
    /// Classes the agent qualifies for, with its level sum there.
    classes: Vec<(usize, u32)>,
    state: St,
    /// When the current state began (`None` before the first login).
    since: Option<Instant>,
    /// When the agent last became available; the key of its place in `Class::available`.
    idle_since: Option<Instant>,
    pending_break: Option<String>,
}

impl Agent {
    /// A provisioned agent before its first login.
    fn logged_out(cfg: AgentConfig, skills: Reqs, login_queues: Option<Vec<usize>>) -> Agent {
        Agent { cfg, skills, login_queues, queues: Vec::new(), classes: Vec::new(), state: St::LoggedOut, since: None, idle_since: None, pending_break: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    MaxWait(usize),
    Relax(usize),
    Ring(usize),
    WrapUp(usize),
    Position(usize),
}

/// A queue's figures as `Acd::queue_stats` reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStats {
    pub queue: String,
    pub waiting: usize,
    /// Calls ringing at an agent.
    pub offered_now: usize,
    pub longest_wait: Option<Duration>,
    /// Logged-in agents serving the queue, by state name (`available`, `offered`, `on_call`,
    /// `wrap_up`, `break`).
    pub agents: BTreeMap<&'static str, usize>,
    /// Busy / (busy + available) agents now.
    pub occupancy_now: Option<f64>,
    pub sl_target: Duration,
    pub sl_target_pct: u8,
    pub total: Summary,
    /// Kept intervals, oldest first; the last is the current one.
    pub intervals: Vec<Summary>,
}

impl Acd {
    pub fn new(config: AcdConfig) -> Acd {
        let mut acd = Acd {
            stats_interval: config.stats_interval,
            stats_keep: config.stats_keep.max(1),
            intervals: None,
            skills: HashMap::new(),
            queues: Vec::new(),
            queue_index: HashMap::new(),
            agents: Vec::new(),
            agent_index: HashMap::new(),
            classes: Vec::new(),
            class_index: HashMap::new(),
            calls: Vec::new(),
            free_calls: Vec::new(),
            call_index: HashMap::new(),
            timers: BTreeSet::new(),
            events: VecDeque::new(),
            next_seq: 0,
        };
        for q in config.queues {
            let reqs = acd.reqs_of(q.skills.iter().map(|s| (s.skill.as_str(), s.min_level)));
            let relax = q.relax.iter().map(|r| (r.after, acd.skill_id(&r.drop))).collect();
            acd.queue_index.insert(q.name.clone(), acd.queues.len());
            acd.queues.push(Queue {
                cfg: q,
                reqs,
                relax,
                classes: Vec::new(),
                agents: Vec::new(),
                waiting: BTreeMap::new(),
                position_at: None,
                stats: QueueStatsAcc::new(),
                handled: 0,
                handle_total: Duration::ZERO,
            });
        }
        for a in config.agents {
            let skills = acd.reqs_of(a.skills.iter().map(|(s, l)| (s.as_str(), *l)));
            let login_queues = a.queues.as_ref().map(|qs| qs.iter().filter_map(|q| acd.queue_index.get(q).copied()).collect());
            acd.agent_index.insert(a.id.clone(), acd.agents.len());
            acd.agents.push(Agent::logged_out(a, skills, login_queues));
        }
        acd
    }

    /// The next event, if any. Drain after every input.
    pub fn poll_event(&mut self) -> Option<AcdEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|t| t.0)
    }

    /// Every configured agent with its state.
    pub fn agents(&self) -> Vec<AgentInfo> {
        self.agents.iter().map(|a| self.agent_info(a)).collect()
    }

    /// One agent by id.
    pub fn agent(&self, id: &str) -> Option<AgentInfo> {
        self.agent_index.get(id).map(|&i| self.agent_info(&self.agents[i]))
    }

    /// Names of the configured queues, in configuration order.
    pub fn queue_names(&self) -> Vec<&str> {
        self.queues.iter().map(|q| q.cfg.name.as_str()).collect()
    }

    /// Number of calls waiting (not ringing) in all queues.
    pub fn waiting(&self) -> usize {
        self.queues.iter().map(|q| q.waiting.len()).sum()
    }

    /// Live figures and interval statistics of one queue; `None` for an unknown name.
    pub fn queue_stats(&self, name: &str, now: Instant) -> Option<QueueStats> {
        let qi = *self.queue_index.get(name)?;
        let q = &self.queues[qi];
        let iv = self.intervals.unwrap_or(Intervals { origin: now, length: self.stats_interval, keep: self.stats_keep });
        let mut acc = q.stats.clone();
        let mut agents = BTreeMap::new();
        let (mut busy, mut idle) = (0usize, 0usize);
        for &ai in &q.agents {
            let a = &self.agents[ai];
            *agents.entry(state_name(&a.state)).or_insert(0) += 1;
            match state_time(&a.state) {
                Some(true) => busy += 1,
                Some(false) => idle += 1,
                None => {}
            }
            if let (Some(b), Some(since)) = (state_time(&a.state), a.since) {
                acc.agent_time(&iv, since, now, b);
            }
        }
        let (total, intervals) = acc.summaries(&iv);
        let offered_now = self.calls.iter().flatten().filter(|c| c.queue == qi && c.offered_to.is_some()).count();
        Some(QueueStats {
            queue: q.cfg.name.clone(),
            waiting: q.waiting.len(),
            offered_now,
            longest_wait: q.waiting.values().next().and_then(|&c| self.call(c)).map(|c| now.saturating_duration_since(c.entered_queue)),
            agents,
            occupancy_now: (busy + idle > 0).then(|| busy as f64 / (busy + idle) as f64),
            sl_target: q.cfg.sl_target,
            sl_target_pct: q.cfg.sl_target_pct,
            total,
            intervals,
        })
    }

    fn agent_info(&self, a: &Agent) -> AgentInfo {
        AgentInfo {
            id: a.cfg.id.clone(),
            state: self.public_agent_state(a),
            queues: a.queues.iter().map(|&q| self.queues[q].cfg.name.clone()).collect(),
            skills: a.cfg.skills.clone(),
            pending_break: a.pending_break.clone(),
        }
    }

    fn public_agent_state(&self, a: &Agent) -> AgentState {
        match &a.state {
            St::LoggedOut => AgentState::LoggedOut,
            St::Available => AgentState::Available,
            // An offered call is in the slab until it is answered or leaves.
            St::Offered { call } => AgentState::Offered { call: self.call(*call).map_or(CallKey(u64::MAX), |c| c.key) },
            St::OnCall { call, .. } => AgentState::OnCall { call: *call },
            St::WrapUp { until } => AgentState::WrapUp { until: *until },
            St::Break(r) => AgentState::Break { reason: r.clone() },
        }
    }

    fn call(&self, idx: usize) -> Option<&Call> {
        self.calls.get(idx).and_then(Option::as_ref)
    }

    fn skill_id(&mut self, name: &str) -> SkillId {
        let next = self.skills.len() as SkillId;
        *self.skills.entry(name.to_owned()).or_insert(next)
    }

    /// Interns skills and merges duplicates (highest level wins).
    fn reqs_of<'a>(&mut self, list: impl Iterator<Item = (&'a str, u8)>) -> Reqs {
        let mut reqs: Reqs = list.map(|(s, l)| (self.skill_id(s), l)).collect();
        reqs.sort_unstable();
        reqs.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = earlier.1.max(later.1);
            }
            same
        });
        reqs
    }

    fn ensure_intervals(&mut self, now: Instant) -> Intervals {
        *self.intervals.get_or_insert(Intervals { origin: now, length: self.stats_interval, keep: self.stats_keep })
    }
}

/// `Some(true)` for states counted as busy in occupancy, `Some(false)` for idle, `None` otherwise.
fn state_time(s: &St) -> Option<bool> {
    match s {
        St::Offered { .. } | St::OnCall { .. } | St::WrapUp { .. } => Some(true),
        St::Available => Some(false),
        St::LoggedOut | St::Break(_) => None,
    }
}

fn state_name(s: &St) -> &'static str {
    match s {
        St::LoggedOut => "logged_out",
        St::Available => "available",
        St::Offered { .. } => "offered",
        St::OnCall { .. } => "on_call",
        St::WrapUp { .. } => "wrap_up",
        St::Break(_) => "break",
    }
}

