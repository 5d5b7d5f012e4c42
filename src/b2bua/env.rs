//! What the call logic asks of its surroundings: dialplan, registrar, authentication, addressing
//! and media. The runtime implements it with real parts; tests with fakes. No I/O passes here.
use std::net::SocketAddr;
use std::time::Instant;

use super::call::{LegStats, Side};
use crate::dialplan::Dialplan;
use crate::media::transcode::MediaPlan;
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

/// A recorded prompt: `<lang>/<name>` under the prompts directory (`config/prompts/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromptRef {
    pub lang: String,
    pub name: String,
}

impl PromptRef {
    pub fn new(lang: &str, name: impl Into<String>) -> PromptRef {
        PromptRef { lang: lang.to_owned(), name: name.into() }
    }
}

/// The codec prompts are played in toward one side: G.711 with the payload type that side
/// negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptCodec {
    Pcmu(u8),
    Pcma(u8),
}

/// The media engine as the call logic sees it. Calls are synchronous (ports are bound at once).
pub trait MediaControl {
    /// Opens a bridge of two legs; returns our RTP addresses toward side A and side B.
    fn open(&mut self, label: &str) -> Result<(MediaId, SocketAddr, SocketAddr), String>;
    /// Where to send this side's media (or `None` to stop until known).
    fn set_remote(&mut self, id: MediaId, side: Side, remote: Option<RemoteMedia>);
    /// The codecs offer/answer settled on, per side (payload type, codec and fmtp, ptime,
    /// telephone-event): `Transcode` runs the call through the transcoding pipeline, `Copy` or
    /// `None` (a codec we do not know, relayed untouched) keeps the plain relay.
    fn set_codecs(&mut self, id: MediaId, plan: Option<&MediaPlan>) {
        let _ = (id, plan);
    }
    /// Stops the bridge, releases its ports, returns the legs' counters.
    fn close(&mut self, id: MediaId) -> Vec<LegStats>;
    /// Plays `prompts` in order to `side` as RTP (20 ms packets, one SSRC and sequence for the
    /// whole session), then `then` in a loop until the next `play` or `stop_play`. Returns how
    /// long `prompts` last (unknown prompts count nothing).
    fn play(&mut self, id: MediaId, side: Side, codec: PromptCodec, prompts: Vec<PromptRef>, then: Option<PromptRef>) -> std::time::Duration {
        let _ = (id, side, codec, prompts, then);
        std::time::Duration::ZERO
    }
    /// Stops playing to `side`; the relay's stream (if bridged) continues the same RTP stream.
    fn stop_play(&mut self, id: MediaId, side: Side) {
        let _ = (id, side);
    }
    /// The call was answered: its media from now on is the call's (the recorder starts here).
    fn answered(&mut self, id: MediaId, call: &AnsweredCall<'_>) {
        let _ = (id, call);
    }
    /// Opens the two local RTP sockets of the call's external recording (SIPREC), from the RTP
    /// port range: stream 1 carries what side A sends, stream 2 what side B sends. Their
    /// addresses go into the recording server's offer; the ports close with the session.
    fn open_fork(&mut self, id: MediaId) -> Result<[SocketAddr; 2], String> {
        let _ = id;
        Err("this media engine cannot fork to an external recorder".into())
    }
    /// Where each forked stream goes once the recording server answered (`None`: not wanted,
    /// or stop). Copies are sent after the relay's own send, never delaying it.
    fn set_fork(&mut self, id: MediaId, to: [Option<SocketAddr>; 2]) {
        let _ = (id, to);
    }
    /// A re-INVITE or UPDATE settled new SDP on an answered call: per side, as in
    /// [`AnsweredCall::sdp`] (the recorder follows a codec change mid-call).
    fn codecs_changed(&mut self, id: MediaId, sdp: [Option<(&crate::sip::sdp::SessionDescription, usize)>; 2]) {
        let _ = (id, sdp);
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
    /// Per side (caller, callee): the SDP whose payload types that side sends — the answer we
    /// gave the caller, the callee's answer — with the relayed m-line's index (the recorder's
    /// codecs; the two differ when the call is transcoded).
    pub sdp: [Option<(&'a crate::sip::sdp::SessionDescription, usize)>; 2],
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
