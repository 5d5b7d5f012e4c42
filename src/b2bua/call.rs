//! One call: two legs with independent dialogs, its state, times and outcome.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use serde::Serialize;

use super::env::MediaId;
use crate::dialplan::Decision;
use crate::sip::dialog::Dialog;
use crate::sip::message::{Request, Response};
use crate::sip::peer::Peer;
use crate::sip::sdp::SessionDescription;
use crate::sip::transaction::{ClientTxId, ServerTxId};

/// Which leg: A faces the caller (we are its UAS), B faces the callee (we are its UAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::A => "a",
            Side::B => "b",
        }
    }
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// The B leg's INVITE is out; nothing heard back beyond 100.
    Calling,
    /// The callee rings or plays early media.
    Early,
    /// We sent 200 to the caller and wait for its ACK.
    Answered,
    /// Both legs confirmed; media flows.
    Confirmed,
    /// Ended; kept only to absorb late messages until its transactions finish.
    Ended,
}

/// One side's SIP and media state.
#[derive(Debug, Clone)]
pub struct Leg {
    pub peer: Peer,
    pub dialog: Option<Dialog>,
    /// Our media address toward this side.
    pub local_media: SocketAddr,
    /// Our SIP address toward this side (Via, Contact).
    pub local_sip: SocketAddr,
    /// The last SDP this side sent us.
    pub remote_sdp: Option<SessionDescription>,
    /// The last SDP we sent this side (resent for an offerless re-INVITE).
    pub local_sdp: Option<SessionDescription>,
    /// o= session version of the SDP we send this side.
    pub sdp_version: u64,
    pub hold: bool,
    pub codec: Option<String>,
    /// Our 2xx to an INVITE from this side, retransmitted until ACK (RFC 3261 §13.3.1.4).
    pub pending_2xx: Option<Pending2xx>,
    /// The last ACK we sent this side for its 2xx, resent when the 2xx is retransmitted.
    pub last_ack: Option<Request>,
}

impl Leg {
    /// A leg with no dialog, no SDP exchanged yet and nothing pending.
    pub fn new(peer: Peer, local_media: SocketAddr, local_sip: SocketAddr) -> Leg {
        Leg { peer, dialog: None, local_media, local_sip, remote_sdp: None, local_sdp: None, sdp_version: 0, hold: false, codec: None, pending_2xx: None, last_ack: None }
    }
}

#[derive(Debug, Clone)]
pub struct Pending2xx {
    pub tx: ServerTxId,
    pub response: Response,
    pub next: Instant,
    pub interval: std::time::Duration,
    pub give_up: Instant,
}

/// A request relayed from one side to the other, waiting for the other side's answer.
#[derive(Debug, Clone)]
pub struct Relayed {
    pub from: Side,
    pub server_tx: ServerTxId,
    pub request: Request,
}

#[derive(Debug)]
pub struct Call {
    pub label: String,
    pub state: CallState,
    pub a: Leg,
    pub b: Option<Leg>,
    pub a_invite: Request,
    pub a_invite_tx: ServerTxId,
    /// Our To tag toward the caller.
    pub a_tag: String,
    pub b_invite: Option<Request>,
    pub b_invite_tx: Option<ClientTxId>,
    pub b_provisional: bool,
    pub cancel_pending: bool,
    pub media: Option<MediaId>,
    /// Index of the relayed m-line in every SDP of this call.
    pub relay: Option<usize>,
    /// o= session ids of the SDP we send to A and to B.
    pub session_ids: (u64, u64),
    pub decision: Decision,
    pub source: String,
    pub started: Instant,
    pub started_ms: i64,
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub cause: Option<&'static str>,
    pub ended_by: Option<&'static str>,
    pub code_in: Option<u16>,
    pub code_out: Option<u16>,
    /// An offer/answer exchange in progress (re-INVITE or UPDATE); a second one gets 491.
    pub pending: Option<Relayed>,
    /// Open transactions of this call; it is forgotten when this reaches zero after it ended.
    pub open_txs: usize,
    /// Which those are (the manager's transaction indexes are cleaned up through these, not by
    /// scanning them: at a thousand calls a second they hold tens of thousands of entries).
    pub client_txs: Vec<crate::sip::transaction::ClientTxId>,
    pub server_txs: Vec<crate::sip::transaction::ServerTxId>,
    /// The manager's timers scheduled for this call (removed with it: a 4-hour duration limit
    /// must not outlive a 1-second call in the timer wheel).
    pub timer_keys: Vec<(std::time::Instant, u64)>,
    pub tags: BTreeMap<String, String>,
}

/// What a call is made of when the caller's INVITE is taken; the rest starts empty.
pub struct CallStart {
    pub label: String,
    pub a: Leg,
    pub a_invite: Request,
    pub a_invite_tx: ServerTxId,
    pub a_tag: String,
    pub media: MediaId,
    pub relay: Option<usize>,
    pub session_ids: (u64, u64),
    pub decision: Decision,
    pub source: String,
    pub started: Instant,
    pub started_ms: i64,
}

impl Call {
    /// A new call in state `Calling`, with no B leg yet and the dialplan's tags.
    pub fn start(s: CallStart) -> Call {
        Call {
            label: s.label,
            state: CallState::Calling,
            a: s.a,
            b: None,
            a_invite: s.a_invite,
            a_invite_tx: s.a_invite_tx,
            a_tag: s.a_tag,
            b_invite: None,
            b_invite_tx: None,
            b_provisional: false,
            cancel_pending: false,
            media: Some(s.media),
            relay: s.relay,
            session_ids: s.session_ids,
            tags: s.decision.attributes.tags.clone(),
            decision: s.decision,
            source: s.source,
            started: s.started,
            started_ms: s.started_ms,
            ringing_ms: None,
            answered_ms: None,
            ended_ms: None,
            cause: None,
            ended_by: None,
            code_in: None,
            code_out: None,
            pending: None,
            open_txs: 0,
            client_txs: Vec::new(),
            server_txs: Vec::new(),
            timer_keys: Vec::new(),
        }
    }

    pub fn leg(&self, side: Side) -> Option<&Leg> {
        match side {
            Side::A => Some(&self.a),
            Side::B => self.b.as_ref(),
        }
    }

    pub fn leg_mut(&mut self, side: Side) -> Option<&mut Leg> {
        match side {
            Side::A => Some(&mut self.a),
            Side::B => self.b.as_mut(),
        }
    }

    pub fn is_ended(&self) -> bool {
        self.state == CallState::Ended
    }
}

/// Media counters of one leg: the call record's own type, so nothing is copied field by field.
pub use crate::storage::LegMediaStats as LegStats;

/// What the call record says; emitted once per call when it ends.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummary {
    pub id: String,
    pub call_id_in: String,
    pub call_id_out: Option<String>,
    pub caller: String,
    pub callee: String,
    pub source: String,
    pub dialplan_rule: Option<String>,
    pub queue: Option<String>,
    /// The agent who took a queued call.
    pub agent: Option<String>,
    /// How long a queued call waited for an agent (until answered or gone).
    pub wait_ms: Option<i64>,
    /// How a queued call left its queue: `answered`, `abandoned`, `overflowed`, `timed_out`,
    /// `refused`.
    pub queue_outcome: Option<&'static str>,
    pub started_ms: i64,
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
    pub cause: &'static str,
    pub ended_by: &'static str,
    pub sip_code_in: Option<u16>,
    pub sip_code_out: Option<u16>,
    pub media: Vec<LegStats>,
    pub tags: BTreeMap<String, String>,
}

/// A live call as the CLI shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CallInfo {
    pub id: String,
    pub age_s: u64,
    pub from: String,
    pub to: String,
    pub state: CallState,
    pub legs: usize,
    pub codec: Option<String>,
    pub source: String,
    pub rule: Option<String>,
}

/// One leg as `ncgw calls show` presents it.
#[derive(Debug, Clone, Serialize)]
pub struct LegInfo {
    pub side: Side,
    pub peer: String,
    pub call_id: Option<String>,
    pub local_media: String,
    pub remote_media: Option<String>,
    pub codec: Option<String>,
    pub hold: bool,
    pub dialog: &'static str,
}

/// A call in detail.
#[derive(Debug, Clone, Serialize)]
pub struct CallDetail {
    #[serde(flatten)]
    pub info: CallInfo,
    pub started_ms: i64,
    pub ringing_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub queue: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub legs: Vec<LegInfo>,
}
