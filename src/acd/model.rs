//! The ACD's public vocabulary: call keys, agent states, events out, outcomes and errors.
use std::time::{Duration, Instant};

use super::config::OverflowTarget;

/// The B2BUA's handle for a queued call; the ACD never looks inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct CallKey(pub u64);

/// The break reason given to an agent who let an offer ring out or refused it.
pub const BREAK_MISSED: &str = "missed";

/// Where an agent is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum AgentState {
    LoggedOut,
    /// Waiting for a call.
    Available,
    /// A call is ringing at the agent.
    Offered { call: CallKey },
    OnCall { call: CallKey },
    /// After a call, until `until` (or until the agent says available).
    WrapUp {
        #[serde(skip)]
        until: Instant,
    },
    /// Not taking calls; `missed` when put there for an unanswered offer.
    Break { reason: String },
}

impl AgentState {
    /// Stable lower-case name for tables, metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Available => "available",
            AgentState::Offered { .. } => "offered",
            AgentState::OnCall { .. } => "on_call",
            AgentState::WrapUp { .. } => "wrap_up",
            AgentState::Break { .. } => "break",
        }
    }
}

/// How a call left a queue, for the CDR's outcome field and the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    /// The caller hung up while waiting (or while an agent's phone rang).
    Abandoned,
    /// Waited out, full, closed or unstaffed, and sent to the queue's overflow target.
    Overflowed,
    /// Waited `max_wait` with no overflow target.
    TimedOut,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Abandoned => "abandoned",
            Outcome::Overflowed => "overflowed",
            Outcome::TimedOut => "timed_out",
        }
    }
}

/// What the ACD asks of the B2BUA, or tells it; drained with `Acd::poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdEvent {
    /// Ring `agent` with `call`; answer with `offer_accepted` or `offer_failed`.
    Offer { call: CallKey, agent: String, queue: String },
    /// Stop ringing `agent` (ring timeout, the agent logged out or took a break); the call stays
    /// queued and may be offered to someone else right after.
    OfferWithdrawn { call: CallKey, agent: String },
    /// The call leaves its queue for `to`. For `OverflowTarget::Queue` the ACD has already moved it
    /// there; for an announcement or a callback the call has left the ACD.
    Overflow { call: CallKey, to: OverflowTarget },
    /// The call waited `max_wait` and there is nowhere to send it: end it (cause `acd.timeout`).
    TimedOut { call: CallKey },
    /// For an announcement: the call is `position` (1 = next) in its queue; `eta` when the queue
    /// has handled calls to estimate from and has agents.
    Position { call: CallKey, queue: String, position: usize, eta: Option<Duration> },
    AgentState { agent: String, state: AgentState },
    /// One per call per queue it leaves, for the CDR: queue, agent, wait (since the call entered
    /// the ACD) and outcome.
    CallOutcome { call: CallKey, queue: String, agent: Option<String>, wait: Duration, outcome: Outcome },
}

/// Why `Acd::enqueue` did not take a call. When the queue names an overflow target that is a
/// queue, `enqueue` follows it itself; `overflow` is the target left for the B2BUA (an
/// announcement or a callback), if any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueRefused {
    /// The dialplan named a queue that is not configured (our configuration is wrong).
    #[error("no queue named '{0}'")]
    UnknownQueue(String),
    /// Outside the queue's opening hours.
    #[error("queue '{queue}' is closed")]
    Closed { queue: String, overflow: Option<OverflowTarget> },
    /// `max_length` calls are already waiting.
    #[error("queue '{queue}' is full")]
    Full { queue: String, overflow: Option<OverflowTarget> },
    /// Nobody who serves the queue is logged in: a call would only wait for `max_wait`.
    #[error("nobody is logged in to queue '{queue}'")]
    NoAgents { queue: String, overflow: Option<OverflowTarget> },
    /// The B2BUA's bug: the call is already queued.
    #[error("call {0:?} is already queued")]
    Duplicate(CallKey),
}

impl EnqueueRefused {
    /// The overflow target left for the B2BUA, if any.
    pub fn overflow(&self) -> Option<&OverflowTarget> {
        match self {
            EnqueueRefused::Closed { overflow, .. } | EnqueueRefused::Full { overflow, .. } | EnqueueRefused::NoAgents { overflow, .. } => overflow.as_ref(),
            _ => None,
        }
    }

    /// Stable cause code for the CDR when the call ends here.
    pub fn cause(&self) -> &'static str {
        match self {
            EnqueueRefused::UnknownQueue(_) => "acd.unknown_queue",
            EnqueueRefused::Closed { .. } => "acd.closed",
            EnqueueRefused::Full { .. } => "acd.full",
            EnqueueRefused::NoAgents { .. } => "acd.no_agent",
            EnqueueRefused::Duplicate(_) => "acd.duplicate",
        }
    }
}

/// An input the ACD cannot apply; the caller's state and the ACD's disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcdError {
    /// No agent with this id is configured.
    #[error("no agent '{0}'")]
    UnknownAgent(String),
    /// A login named a queue that is not configured.
    #[error("no queue named '{0}'")]
    UnknownQueue(String),
    /// The call is not (or no longer) in the ACD, e.g. it was abandoned meanwhile.
    #[error("call {0:?} is not queued")]
    UnknownCall(CallKey),
    /// The call is not offered to this agent (the offer was withdrawn or moved on).
    #[error("call {call:?} is not offered to agent '{agent}'")]
    NotOffered { call: CallKey, agent: String },
    /// The agent must be logged in for this.
    #[error("agent '{0}' is not logged in")]
    NotLoggedIn(String),
    /// The agent has a call ringing or connected.
    #[error("agent '{0}' has a call")]
    AgentBusy(String),
    /// `call_ended` for an agent with no call.
    #[error("agent '{0}' is not on a call")]
    NotOnCall(String),
}

/// One agent as `Acd::agents` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentInfo {
    pub id: String,
    pub state: AgentState,
    /// Queues served now (empty when logged out).
    pub queues: Vec<String>,
    pub skills: Vec<(String, u8)>,
    /// A break requested during a call, taken when the call and wrap-up end.
    pub pending_break: Option<String>,
}
