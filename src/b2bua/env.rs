//! What the call logic asks of its surroundings: dialplan, registrar, authentication, addressing
//! and media. The runtime implements it with real parts; tests with fakes. No I/O passes here.
use std::net::SocketAddr;
use std::time::Instant;

use super::call::{LegStats, Side};
use crate::dialplan::Dialplan;
use crate::sip::message::Request;
use crate::sip::peer::Peer;

/// A media session (two relay legs) in the media engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaId(pub u64);

/// One side's media destination, from its SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteMedia {
    pub rtp: SocketAddr,
    pub rtcp: Option<SocketAddr>,
    pub clock_rate: u32,
    /// sendonly/recvonly/inactive: no media timeout while held.
    pub hold: bool,
}

/// The media engine as the call logic sees it. Calls are synchronous (ports are bound at once).
pub trait MediaControl {
    /// Opens a bridge of two legs; returns our RTP addresses toward side A and side B.
    fn open(&mut self, label: &str) -> Result<(MediaId, SocketAddr, SocketAddr), String>;
    /// Where to send this side's media (or `None` to stop until known).
    fn set_remote(&mut self, id: MediaId, side: Side, remote: Option<RemoteMedia>);
    /// Stops the bridge, releases its ports, returns the legs' counters.
    fn close(&mut self, id: MediaId) -> Vec<LegStats>;
    /// The call was answered: its media from now on is the call's (the recorder starts here).
    fn answered(&mut self, id: MediaId, call: &AnsweredCall<'_>) {
        let _ = (id, call);
    }
}

/// A call at the moment it is answered, for the recorder.
#[derive(Debug, Clone, Copy)]
pub struct AnsweredCall<'a> {
    pub call_id: &'a str,
    pub caller: &'a str,
    pub callee: &'a str,
    /// Wall-clock time of the answer (the call record's `answered_at`).
    pub unix_ms: i64,
    /// The callee's SDP answer and the index of the relayed m-line (the recorder's codecs).
    pub answer: Option<(&'a crate::sip::sdp::SessionDescription, usize)>,
}

/// The result of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthCheck {
    /// Valid credentials for this user.
    Authenticated(String),
    /// No credentials in the request.
    Absent,
    /// Credentials present but stale or wrong: challenge again with these header values.
    Challenge(Vec<String>),
    /// Credentials that will never work (wrong realm, replay): refuse with 403.
    Forbidden,
}

/// Everything outside the call logic.
pub trait Env {
    fn dialplan(&self) -> &Dialplan;
    /// The registered contact of a user and the peer it registered from (newest binding).
    fn locate(&self, user: &str) -> Option<(String, Peer)>;
    /// Checks Proxy-Authorization on a request from a caller.
    fn authenticate(&mut self, now: Instant, req: &Request) -> AuthCheck;
    /// Proxy-Authenticate values for a new challenge, or `None` when nobody can authenticate
    /// (no users provisioned).
    fn challenge(&mut self, now: Instant) -> Option<Vec<String>>;
    /// Our SIP address toward a peer (for Via and Contact).
    fn local_sip_addr(&self, peer: &Peer) -> SocketAddr;
    /// The peer a SIP URI points at, when it can be reached (IP literal hosts for now).
    fn resolve(&self, uri: &str) -> Option<Peer>;
    fn media(&mut self) -> &mut dyn MediaControl;
    /// A REGISTER (RFC 3261 §10): the registrar's complete answer and a cause code.
    fn register(&mut self, now: Instant, req: &Request, source: Peer) -> (crate::sip::message::Response, &'static str);
}
