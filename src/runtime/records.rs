//! Turns a call's summary into its call record, and counts it in the metrics.
use crate::b2bua::CallSummary;
use crate::metrics::metrics;
use crate::storage::{CdrRecord, EndedBy, Outcome};

pub fn cdr_of(s: &CallSummary) -> CdrRecord {
    let outcome = if s.answered_ms.is_some() {
        Outcome::Answered
    } else if s.cause == crate::b2bua::cause::CALLER_CANCEL {
        Outcome::Abandoned
    } else {
        Outcome::Failed
    };
    let ended_by = match s.ended_by {
        "caller" => EndedBy::Caller,
        "callee" => EndedBy::Callee,
        _ => EndedBy::System,
    };
    CdrRecord {
        id: s.id.clone(),
        call_id_in: Some(s.call_id_in.clone()),
        call_id_out: s.call_id_out.clone(),
        caller: s.caller.clone(),
        callee: s.callee.clone(),
        source: s.source.clone(),
        dialplan_rule: s.dialplan_rule.clone(),
        queue: s.queue.clone(),
        agent: None,
        wait_ms: None,
        queue_outcome: None,
        outcome,
        started_at: s.started_ms,
        ringing_at: s.ringing_ms,
        answered_at: s.answered_ms,
        ended_at: Some(s.ended_ms),
        setup_ms: Some(s.answered_ms.unwrap_or(s.ended_ms) - s.started_ms),
        talk_ms: s.answered_ms.map(|a| s.ended_ms - a),
        cause: s.cause.to_owned(),
        ended_by,
        sip_code_in: s.sip_code_in,
        sip_code_out: s.sip_code_out,
        media: s.media.clone(),
        tags: s.tags.clone(),
    }
}

/// Counts an ended call: by cause, and its setup time when it was answered.
pub fn count(s: &CallSummary) {
    let m = metrics();
    m.calls_ended.with_label_values(&[s.cause]).inc();
    if let Some(a) = s.answered_ms {
        m.call_setup_seconds.observe((a - s.started_ms).max(0) as f64 / 1000.0);
    }
}
