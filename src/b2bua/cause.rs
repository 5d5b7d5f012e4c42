//! Stable cause codes for call outcomes (CDRs, metrics, logs) and how SIP codes map to them.

pub const NORMAL: &str = "normal";
pub const CALLER_CANCEL: &str = "caller_cancel";
pub const CALLEE_BUSY: &str = "callee_busy";
pub const CALLEE_REJECTED: &str = "callee_rejected";
pub const CALLEE_UNAVAILABLE: &str = "callee_unavailable";
pub const NO_ANSWER: &str = "no_answer";
pub const TIMEOUT_B: &str = "sip.timeout_b";
pub const NO_ACK: &str = "sip.no_ack";
pub const TRANSPORT_ERROR: &str = "sip.transport_error";
pub const LEG_LOST: &str = "sip.leg_lost";
pub const MEDIA_TIMEOUT: &str = "media.timeout";
pub const MEDIA_UNAVAILABLE: &str = "media.no_ports";
pub const NO_OFFER: &str = "b2bua.no_offer";
pub const BAD_SDP: &str = "b2bua.bad_sdp";
pub const DIALPLAN_REJECTED: &str = "dialplan.rejected";
pub const DIALPLAN_NO_MATCH: &str = "dialplan.no_match";
pub const UNROUTABLE: &str = "dialplan.unroutable";
pub const USER_OFFLINE: &str = "user.not_registered";
/// The caller hung up while waiting in a queue (or while an agent's phone rang).
pub const ACD_ABANDONED: &str = "acd.abandoned";
/// The call waited the queue's `max_wait` and had nowhere to go.
pub const ACD_TIMEOUT: &str = "acd.timeout";
/// The call overflowed to an announcement, then was ended.
pub const ACD_OVERFLOW: &str = "acd.overflow";
/// The call overflowed to a callback request, then was ended.
pub const ACD_CALLBACK: &str = "acd.callback";
/// The agent's answer could not be bridged (no SDP answer).
pub const ACD_AGENT_BAD_SDP: &str = "acd.agent_bad_sdp";
pub const AUTH_FAILED: &str = "auth.failed";
pub const MAX_DURATION: &str = "call.max_duration";
pub const ADMIN_HANGUP: &str = "admin.hangup";
pub const NODE_SHUTDOWN: &str = "node.shutdown";
/// The transaction layer is at its limit (`sip.max_transactions`): a new call is answered 503.
pub const OVERLOADED: &str = "sip.overloaded";
/// The node died with the call up (`kill -9`, power): its record is the last snapshot of the
/// live calls, written at the next start; `ended_at` is when that snapshot was taken.
pub const NODE_RESTART: &str = "node.restart";
/// The call's external recording (SIPREC) could not be set up: the server refused, did not
/// answer or cannot be reached. Logged and counted; the call itself goes on.
pub const SIPREC_FAILED: &str = "siprec.failed";

/// The cause for a callee's final failure response.
pub fn for_callee_status(status: u16) -> &'static str {
    match status {
        486 | 600 => CALLEE_BUSY,
        408 | 480 => NO_ANSWER,
        404 | 410 | 484 | 604 => CALLEE_UNAVAILABLE,
        _ => CALLEE_REJECTED,
    }
}

/// What the caller is told when the callee fails with `status` (RFC 3261 §16.7-style mapping:
/// 6xx and client errors pass through; server errors become 502 so the caller does not blame us).
pub fn status_toward_caller(status: u16) -> u16 {
    match status {
        400..=499 | 600..=699 => {
            // Hop-by-hop or authentication codes are about the B leg, not the caller's request.
            if matches!(status, 401 | 407 | 413 | 414 | 415 | 416 | 420 | 421 | 423 | 483) {
                502
            } else {
                status
            }
        }
        500..=599
            if status == 503 => {
                503
            }
        _ => 502,
    }
}

/// The Reason header (RFC 3326) we put on a BYE or CANCEL we originate for `cause`.
pub fn reason_header(cause: &str) -> String {
    let q850 = match cause {
        NORMAL | CALLER_CANCEL | ADMIN_HANGUP | MAX_DURATION => 16,
        MEDIA_TIMEOUT | NO_ACK | LEG_LOST | TRANSPORT_ERROR | TIMEOUT_B => 41,
        NO_ANSWER => 19,
        NODE_SHUTDOWN => 27,
        _ => 31,
    };
    format!("Q.850;cause={q850};text=\"{cause}\"")
}
