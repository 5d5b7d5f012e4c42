//! The runtime's answers to the call logic: the loaded dialplan, the media engine, addressing,
//! and (with users provisioned) digest authentication and registered users.
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::outbound::local_addr_for;
use crate::b2bua::{AnsweredCall, AuthCheck, Env, LegStats, MediaControl, MediaId, PromptCodec, PromptRef, RemoteMedia, Side};
use crate::dialplan::Dialplan;
use crate::media::engine::{MediaEngine, SessionId};
use crate::media::relay::{Remote, Side as MediaSide};
use std::collections::HashMap;

use crate::registrar::Registrar;
use crate::sip::auth::{AuthOutcome, Authenticator, Credentials};
use crate::sip::message::{HeaderName, Host, Request, Response, Uri};
use crate::sip::peer::{Peer, Transport};

/// The media engine as the call logic's `MediaControl`.
pub struct EngineMedia {
    pub engine: MediaEngine,
    /// Prompts for queued callers, loaded at start.
    pub prompts: std::sync::Arc<super::core::acd_calls::PromptLibrary>,
    /// Seeds each player's SSRC, sequence and timestamp.
    pub seed: u64,
    /// `None` when recording is disabled.
    pub recorder: Option<crate::recording::Recorder>,
}

pub(super) fn media_side(side: Side) -> MediaSide {
    match side {
        Side::A => MediaSide::A,
        Side::B => MediaSide::B,
    }
}

pub fn leg_stats_of(leg: &str, s: &crate::media::relay::LegStats) -> LegStats {
    LegStats {
        leg: leg.to_owned(),
        codec: None,
        packets_in: s.packets_in,
        packets_out: s.packets_out,
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        lost: s.lost.max(0) as u64,
        jitter_ms: s.jitter_ms,
        dropped_foreign: s.dropped.foreign,
    }
}

impl MediaControl for EngineMedia {
    fn open(&mut self, label: &str) -> Result<(MediaId, SocketAddr, SocketAddr), String> {
        let info = self.engine.open_session(label).map_err(|e| e.to_string())?;
        Ok((MediaId(info.id.0), info.a.rtp, info.b.rtp))
    }

    fn set_remote(&mut self, id: MediaId, side: Side, remote: Option<RemoteMedia>) {
        let r = match remote {
            Some(r) => Remote {
                rtp: Some(r.rtp),
                // The engine takes `None` for RTCP multiplexed on the RTP address (RFC 5761).
                rtcp: r.rtcp.filter(|c| *c != r.rtp),
                clock_rate: r.clock_rate,
                hold: r.hold,
            },
            None => Remote { rtp: None, rtcp: None, clock_rate: 8000, hold: true },
        };
        if let Err(e) = self.engine.set_remote(SessionId(id.0), media_side(side), r) {
            tracing::debug!(error = %e, "set_remote on a closed media session");
        }
    }

    fn set_codecs(&mut self, id: MediaId, plan: Option<&crate::media::transcode::MediaPlan>) {
        if let Err(e) = self.engine.set_codecs(SessionId(id.0), plan.cloned()) {
            tracing::debug!(error = %e, "set_codecs on a closed media session");
        }
    }

    fn close(&mut self, id: MediaId) -> Vec<LegStats> {
        match self.engine.close(SessionId(id.0)) {
            Ok(s) => vec![leg_stats_of("a", &s.a), leg_stats_of("b", &s.b)],
            Err(_) => Vec::new(),
        }
    }

    fn play(&mut self, id: MediaId, side: Side, codec: PromptCodec, prompts: Vec<PromptRef>, then: Option<PromptRef>) -> std::time::Duration {
        super::core::acd_calls::play(self, id, side, codec, &prompts, then.as_ref())
    }

    fn answered(&mut self, id: MediaId, call: &AnsweredCall<'_>) {
        let Some(recorder) = self.recorder.as_mut() else { return };
        let info = crate::recording::AnswerInfo {
            call_id: call.call_id.to_owned(),
            caller: call.caller.to_owned(),
            callee: call.callee.to_owned(),
            answered_ms: call.unix_ms,
            at: tokio::time::Instant::now().into_std(),
            codecs: call.sdp.map(|s| s.map(|(sdp, m)| crate::recording::mixer::codecs_of(sdp, m)).unwrap_or_default()),
        };
        if let Some(tap) = recorder.start(info) {
            if self.engine.set_tap(SessionId(id.0), tap).is_err() {
                tracing::debug!(call = call.call_id, "call answered on a closed media session");
            }
        }
    }

    fn open_fork(&mut self, id: MediaId) -> Result<[SocketAddr; 2], String> {
        self.fork_open(id)
    }

    fn set_fork(&mut self, id: MediaId, to: [Option<SocketAddr>; 2]) {
        self.fork_to(id, to);
    }

    fn stop_play(&mut self, id: MediaId, side: Side) {
        let _ = self.engine.stop_play(SessionId(id.0), media_side(side));
    }

    fn codecs_changed(&mut self, id: MediaId, sdp: [Option<(&crate::sip::sdp::SessionDescription, usize)>; 2]) {
        if let Some(tap) = self.engine.tap(SessionId(id.0)) {
            tap.update_codecs(sdp.map(|s| s.map(|(sdp, m)| crate::recording::mixer::codecs_of(sdp, m)).unwrap_or_default()));
        }
    }
}

/// Everything the call logic may ask of the node.
pub struct RuntimeEnv {
    pub dialplan: Dialplan,
    pub media: EngineMedia,
    pub sip_addrs: Vec<SocketAddr>,
    pub registrar: Registrar,
    pub auth: Authenticator,
    pub realm: String,
    /// Digest credentials of provisioned users, loaded from storage (never passwords).
    pub credentials: HashMap<String, Credentials>,
    /// Registration changes not yet seen by the core (agents log in and out with them).
    pub registrations: Vec<crate::registrar::RegistrarEvent>,
}

impl RuntimeEnv {
    /// Replaces the credentials cache (after users were added or removed).
    pub fn set_credentials(&mut self, users: Vec<crate::storage::UserCredentials>) {
        self.credentials = users
            .into_iter()
            .filter(|u| u.realm == self.realm)
            .map(|u| (u.id, Credentials { ha1_md5: u.ha1_md5, ha1_sha256: u.ha1_sha256 }))
            .collect();
    }

    /// Expires registrations that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        for ev in self.registrar.handle_timeout(now) {
            tracing::info!(event = ?crate::logging::Pii(format!("{ev:?}")), "registration expired");
            self.registrations.push(ev);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.registrar.poll_timeout()
    }
}

impl Env for RuntimeEnv {
    fn dialplan(&self) -> &Dialplan {
        &self.dialplan
    }

    fn locate(&self, user: &str) -> Option<(String, Peer)> {
        self.registrar.lookup(user).into_iter().next().map(|b| (b.contact_uri, b.source))
    }

    fn authenticate(&mut self, now: Instant, req: &Request) -> AuthCheck {
        if !req.headers.contains(&HeaderName::ProxyAuthorization) {
            return AuthCheck::Absent;
        }
        let creds = &self.credentials;
        match self.auth.verify(now, req, &self.realm, true, |u| creds.get(u).cloned()) {
            AuthOutcome::Authenticated { user, .. } => AuthCheck::Authenticated(user),
            AuthOutcome::Challenge { stale, reason } => {
                tracing::info!(cause = reason.cause_code(), "caller challenged again");
                AuthCheck::Challenge(self.auth.challenge(now, &self.realm, stale))
            }
            AuthOutcome::Forbidden { reason } => {
                tracing::info!(cause = reason.cause_code(), "caller refused");
                AuthCheck::Forbidden
            }
        }
    }

    fn challenge(&mut self, now: Instant) -> Option<Vec<String>> {
        if self.credentials.is_empty() {
            return None;
        }
        Some(self.auth.challenge(now, &self.realm, false))
    }

    fn register(&mut self, now: Instant, req: &Request, source: Peer) -> (Response, &'static str) {
        let creds = &self.credentials;
        let out = self.registrar.handle_register(now, req, source, &mut self.auth, |u| creds.get(u).cloned());
        for ev in &out.events {
            tracing::info!(event = %crate::logging::Pii(format!("{ev:?}")), "registration");
        }
        self.registrations.extend(out.events.iter().cloned());
        (out.response, out.cause)
    }

    fn local_sip_addr(&self, peer: &Peer) -> SocketAddr {
        local_addr_for(peer.addr, &self.sip_addrs)
    }

    fn resolve(&self, uri: &str) -> Option<Peer> {
        resolve_uri(uri)
    }

    fn media(&mut self) -> &mut dyn MediaControl {
        &mut self.media
    }
}

/// The peer a `sip:`/`sips:` URI with an IP-literal host points at (port default 5060/5061,
/// `transport=` honoured). Names need DNS (RFC 3263), which this node does not do yet.
pub fn resolve_uri(uri: &str) -> Option<Peer> {
    let Ok(Uri::Sip(u)) = Uri::parse(uri) else { return None };
    let ip: IpAddr = match u.host {
        Host::V4(v4) => IpAddr::V4(v4),
        Host::V6(v6) => IpAddr::V6(v6),
        Host::Domain(_) => return None,
    };
    let transport = match u.transport().map(str::to_ascii_lowercase).as_deref() {
        None | Some("udp") => Transport::Udp,
        Some("tcp") => Transport::Tcp,
        _ => return None,
    };
    let port = u.port.unwrap_or(if u.secure { 5061 } else { 5060 });
    Some(Peer { transport, addr: SocketAddr::new(ip, port), conn: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_ip_literal_uris() {
        assert_eq!(resolve_uri("sip:agent@127.0.0.1:5070"), Some(Peer::udp("127.0.0.1:5070".parse().unwrap())));
        assert_eq!(resolve_uri("sip:agent@[::1]:5070;transport=tcp").map(|p| p.transport), Some(Transport::Tcp));
        assert_eq!(resolve_uri("sip:agent@127.0.0.1").map(|p| p.addr.port()), Some(5060));
        assert_eq!(resolve_uri("sip:agent@example.com"), None);
        assert_eq!(resolve_uri("tel:+8613800138000"), None);
    }
}
