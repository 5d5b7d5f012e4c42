//! The call detail record: one row per call, written once when the call ends.
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What happened to a call, as an operator reads it in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Both legs were connected (a 2xx reached the caller).
    Answered,
    /// The call never connected: rejected, busy, no answer, timeout or error (see `cause`).
    Failed,
    /// The caller hung up before the call was answered.
    Abandoned,
}

impl Outcome {
    /// The stable text stored in the database and shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Failed => "failed",
            Outcome::Abandoned => "abandoned",
        }
    }

    /// Parses [`Outcome::as_str`] back; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "answered" => Some(Outcome::Answered),
            "failed" => Some(Outcome::Failed),
            "abandoned" => Some(Outcome::Abandoned),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndedBy {
    /// The calling party (BYE or CANCEL from leg A).
    Caller,
    /// The called party or agent (BYE or a final error from leg B).
    Callee,
    /// The node itself: a timer, a media timeout, a dialplan reject, a drain.
    System,
}

impl EndedBy {
    /// The stable text stored in the database and shown by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Caller => "caller",
            EndedBy::Callee => "callee",
            EndedBy::System => "system",
        }
    }

    /// Parses [`EndedBy::as_str`] back; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "caller" => Some(EndedBy::Caller),
            "callee" => Some(EndedBy::Callee),
            "system" => Some(EndedBy::System),
            _ => None,
        }
    }
}

impl fmt::Display for EndedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RTP counters for one leg of a call, as the media relay saw them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LegMediaStats {
    /// Which leg: `a` (caller side), `b` (callee/agent side), or a stream label.
    pub leg: String,
    /// The negotiated codec, e.g. `PCMA/8000`; `None` when no media flowed.
    pub codec: Option<String>,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Packets lost, from sequence-number gaps.
    pub lost: u64,
    /// Interarrival jitter (RFC 3550 §6.4.1) in milliseconds, at the end of the call.
    pub jitter_ms: f64,
    /// Packets that came from an address other than the negotiated one and were dropped.
    pub dropped_foreign: u64,
}

/// One call as it ended. `id` is the idempotency key: storing the same record twice keeps one.
///
/// Times are unix milliseconds; a time is `None` when the call never reached that point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdrRecord {
    /// The node's call id; unique, and the key that makes replays idempotent.
    pub id: String,
    /// SIP Call-ID of the inbound (caller) leg.
    pub call_id_in: Option<String>,
    /// SIP Call-ID of the outbound (callee/agent) leg, when one was created.
    pub call_id_out: Option<String>,
    /// Normalised caller identity.
    pub caller: String,
    /// Normalised called identity.
    pub callee: String,
    /// Where the call came from: a trunk name, `user:ID`, or `untrusted`.
    pub source: String,
    /// The dialplan rule that decided the call, if one matched.
    pub dialplan_rule: Option<String>,
    /// The queue the call waited in, if any.
    pub queue: Option<String>,
    /// The agent who took the call, if any.
    pub agent: Option<String>,
    /// Time spent waiting in the queue.
    pub wait_ms: Option<i64>,
    /// How the call left its queue: `answered`, `abandoned`, `overflowed`, `timed_out`
    /// (`acd::Outcome::name`) or `refused` (turned away at the door); `None` for a call that
    /// never queued. Journal lines written
    /// before this field existed read back as `None`.
    #[serde(default)]
    pub queue_outcome: Option<String>,
    pub outcome: Outcome,
    pub started_at: i64,
    pub ringing_at: Option<i64>,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// From `started_at` to the answer (or to the final failure).
    pub setup_ms: Option<i64>,
    /// From the answer to the end.
    pub talk_ms: Option<i64>,
    /// Stable cause code: `normal`, `caller_cancel`, `callee_busy`, `no_answer`, `sip.timeout_b`,
    /// `media.timeout`, `dialplan.rejected`, …
    pub cause: String,
    pub ended_by: EndedBy,
    /// Final SIP status sent to the caller.
    pub sip_code_in: Option<u16>,
    /// Final SIP status received from the callee.
    pub sip_code_out: Option<u16>,
    /// Per-leg media counters (a JSON column).
    #[serde(default)]
    pub media: Vec<LegMediaStats>,
    /// Free-form attributes from the dialplan and the call (a JSON column).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}
