//! A new INVITE: authentication, dialplan, target, media, and the callee leg's INVITE.

use super::{CallManager, Now, Purpose, TimerKind};
use crate::b2bua::call::{Call, CallStart, Leg, Side};
use crate::b2bua::cause;
use crate::b2bua::env::{AuthCheck, Env};
use crate::b2bua::{negotiate, sdp_rewrite};
use crate::dialplan::{Action, CallInfo as PlanInput};
use crate::sip::message::{HeaderName, Method, Request, Response};
use crate::sip::peer::Peer;
use crate::sip::sdp::SessionDescription;
use crate::sip::transaction::{ServerTxId, TransactionLayer};

/// The SDP body of a message, if it has one and it parses.
pub(crate) fn sdp_body(headers: &crate::sip::message::Headers, body: &[u8]) -> Result<Option<SessionDescription>, ()> {
    if body.is_empty() {
        return Ok(None);
    }
    match headers.content_type() {
        Ok(Some(ct)) if ct.is("application", "sdp") => SessionDescription::parse(body).map(Some).map_err(|_| ()),
        _ => Ok(None),
    }
}

pub(super) fn looks_like_number(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

impl CallManager {
    #[allow(clippy::too_many_arguments)]
    fn refuse(&mut self, now: Now, tx: ServerTxId, req: &Request, status: u16, reason: Option<&str>, extra: &[(HeaderName, String)], txl: &mut TransactionLayer) {
        let mut resp = Response::for_request(req, status);
        if let Some(r) = reason {
            resp.reason = r.to_owned();
        }
        let tag = self.token();
        resp.set_to_tag(&tag);
        for (n, v) in extra {
            resp.headers.push(n.clone(), v.clone());
        }
        self.finish_response(&mut resp);
        let _ = txl.respond(now.instant, tx, resp);
    }

    /// A call that never reached a callee: answered with `status`, recorded with `cause`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fail_early(&mut self, now: Now, tx: ServerTxId, req: &Request, status: u16, reason: Option<&str>, cause: &'static str, decision: crate::dialplan::Decision, source: String, txl: &mut TransactionLayer) {
        // A 503 is a passing condition (no ports, overload): say when to come back (RFC 3261 §21.5.4).
        let retry = [(HeaderName::RetryAfter, "5".to_owned())];
        self.refuse(now, tx, req, status, reason, if status == 503 { &retry } else { &[] }, txl);
        let summary = crate::b2bua::call::CallSummary {
            id: format!("c{:012x}", self.random() >> 16),
            call_id_in: req.headers.call_id().unwrap_or("").to_owned(),
            call_id_out: None,
            caller: decision.caller.clone(),
            callee: decision.called.clone(),
            source,
            dialplan_rule: decision.rule.clone(),
            queue: match &decision.action {
                Action::Queue(q) => Some(q.clone()),
                _ => None,
            },
            agent: None,
            wait_ms: None,
            queue_outcome: None,
            started_ms: now.unix_ms,
            ringing_ms: None,
            answered_ms: None,
            ended_ms: now.unix_ms,
            cause,
            ended_by: "system",
            sip_code_in: Some(status),
            sip_code_out: None,
            media: Vec::new(),
            tags: decision.attributes.tags.clone(),
        };
        self.events.push_back(super::B2buaEvent::CallEnded(Box::new(summary)));
    }

    /// A new INVITE (no To tag) that passed the inbound checks.
    pub fn on_new_invite(&mut self, now: Now, tx: ServerTxId, req: Request, from: Peer, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let offer = match sdp_body(&req.headers, &req.body) {
            Ok(o) => o,
            Err(()) => {
                self.refuse(now, tx, &req, 400, Some("Bad Request (malformed SDP)"), &[], txl);
                self.events.push_back(super::B2buaEvent::Refused { status: 400, cause: cause::BAD_SDP });
                return;
            }
        };
        let headers: Vec<(String, String)> = req.headers.iter().map(|h| (h.name.as_str().to_ascii_lowercase(), h.value.clone())).collect();
        let mut input = PlanInput {
            to: req.uri.clone(),
            from: req.headers.from_addr().map(|f| f.uri.to_string()).unwrap_or_default(),
            asserted: req.headers.p_asserted_identities().ok().and_then(|v| v.first().map(|n| n.uri.to_string())),
            source_ip: Some(from.addr.ip()),
            authenticated_user: None,
            headers,
            unix_time: now.unix_ms / 1000,
        };
        let auth = env.authenticate(now.instant, &req);
        match &auth {
            AuthCheck::Authenticated(u) => input.authenticated_user = Some(u.clone()),
            AuthCheck::Absent => {}
            AuthCheck::Challenge(values) => {
                let extra: Vec<(HeaderName, String)> = values.iter().map(|v| (HeaderName::ProxyAuthenticate, v.clone())).collect();
                self.refuse(now, tx, &req, 407, None, &extra, txl);
                self.events.push_back(super::B2buaEvent::Refused { status: 407, cause: "auth.challenge" });
                return;
            }
            AuthCheck::Forbidden => {
                self.refuse(now, tx, &req, 403, None, &[], txl);
                self.events.push_back(super::B2buaEvent::Refused { status: 403, cause: cause::AUTH_FAILED });
                return;
            }
        }
        let decision = env.dialplan().decide(&input);
        let source = match (&decision.trunk, &input.authenticated_user) {
            (Some(t), _) => format!("trunk:{t}"),
            (None, Some(u)) => format!("user:{u}"),
            (None, None) => "untrusted".to_owned(),
        };
        // Anything but a public destination needs a known user: challenge rather than refuse.
        if matches!(decision.action, Action::Reject { .. }) && auth == AuthCheck::Absent {
            if let Some(values) = env.challenge(now.instant) {
                let extra: Vec<(HeaderName, String)> = values.into_iter().map(|v| (HeaderName::ProxyAuthenticate, v)).collect();
                self.refuse(now, tx, &req, 407, None, &extra, txl);
                self.events.push_back(super::B2buaEvent::Refused { status: 407, cause: "auth.challenge" });
                return;
            }
        }
        let (target_uri, peer) = match &decision.action {
            Action::Reject { status, reason } => {
                let c = decision.cause.unwrap_or(cause::DIALPLAN_REJECTED);
                let (status, reason) = (*status, reason.clone());
                self.fail_early(now, tx, &req, status, reason.as_deref(), c, decision, source, txl);
                return;
            }
            Action::Queue(_) => {
                self.on_queue_invite(now, tx, req, from, offer, decision, source, txl, env);
                return;
            }
            Action::Route(uri) => match env.resolve(uri) {
                Some(p) => (uri.clone(), p),
                None => {
                    self.fail_early(now, tx, &req, 502, Some("Bad Gateway (route target unreachable)"), cause::UNROUTABLE, decision, source, txl);
                    return;
                }
            },
            Action::User(u) => match env.locate(u) {
                Some((contact, p)) => (contact, p),
                None => {
                    self.fail_early(now, tx, &req, 480, None, cause::USER_OFFLINE, decision, source, txl);
                    return;
                }
            },
        };
        let Some(offer) = offer else {
            self.fail_early(now, tx, &req, 488, Some("Not Acceptable Here (an SDP offer is required)"), cause::NO_OFFER, decision, source, txl);
            return;
        };
        let relay = sdp_rewrite::relay_index(&offer);
        if relay.and_then(|i| offer.media.get(i)).is_some_and(|m| negotiate::classify(m) == negotiate::OfferKind::NoCommonCodec) {
            let reason = Some("Not Acceptable Here (no common codec)");
            self.fail_early(now, tx, &req, 488, reason, negotiate::NO_COMMON_CODEC, decision, source, txl);
            return;
        }
        let label = format!("c{:012x}", self.random() >> 16);
        let (media_id, a_media, b_media) = match env.media().open(&label) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "no media ports");
                self.fail_early(now, tx, &req, 503, Some("Service Unavailable (no media ports)"), cause::MEDIA_UNAVAILABLE, decision, source, txl);
                return;
            }
        };
        let a_sip = env.local_sip_addr(&from);
        let b_sip = env.local_sip_addr(&peer);
        // Media bound to a wildcard address is announced with the address facing each side.
        let concrete = |media: std::net::SocketAddr, sip: std::net::SocketAddr| {
            if media.ip().is_unspecified() { std::net::SocketAddr::new(sip.ip(), media.port()) } else { media }
        };
        let (a_media, b_media) = (concrete(a_media, a_sip), concrete(b_media, b_sip));
        let b_session = self.random() >> 1;
        let b_offer = sdp_rewrite::offer(&offer, relay, b_media, b_session, 1);
        if let Some(remote) = sdp_rewrite::remote_media(&offer, relay) {
            env.media().set_remote(media_id, Side::A, Some(remote));
        }

        // The callee's INVITE: nothing of the caller's Via, Contact, Call-ID, tags or addresses.
        let private = req.headers.privacy().unwrap_or_default().iter().any(|p| p.eq_ignore_ascii_case("id") || p.eq_ignore_ascii_case("header"));
        let display = req.headers.from_addr().ok().and_then(|f| f.display);
        let host = match b_sip {
            std::net::SocketAddr::V4(a) => a.ip().to_string(),
            std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let from_value = if private {
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>".to_owned()
        } else {
            let user = if decision.caller.is_empty() { "anonymous".to_owned() } else { decision.caller.clone() };
            let phone = if looks_like_number(&user) { ";user=phone" } else { "" };
            match display {
                Some(d) => format!("\"{}\" <sip:{user}@{host}{phone}>", d.replace('"', "")),
                None => format!("<sip:{user}@{host}{phone}>"),
            }
        };
        let b_tag = self.token();
        let b_call_id = format!("{}{}", self.token(), self.token());
        let mut invite = Request::new(Method::Invite, target_uri.clone());
        invite.headers.push(HeaderName::Via, Self::via(txl, &peer, b_sip).to_string());
        let mf = req.headers.max_forwards().ok().flatten().unwrap_or(70).clamp(1, 71) - 1;
        invite.headers.push(HeaderName::MaxForwards, mf.to_string());
        invite.headers.push(HeaderName::From, format!("{from_value};tag={b_tag}"));
        invite.headers.push(HeaderName::To, format!("<{target_uri}>"));
        invite.headers.push(HeaderName::CallId, b_call_id);
        invite.headers.push(HeaderName::CSeq, "1 INVITE");
        invite.headers.push(HeaderName::Contact, Self::contact(&peer, b_sip));
        invite.headers.push(HeaderName::Allow, crate::b2bua::inbound::ALLOW);
        invite.headers.push(HeaderName::UserAgent, self.config.server_name.clone());
        invite.headers.push(HeaderName::ContentType, "application/sdp");
        invite.body = b_offer.to_bytes();

        let b_tx = match txl.send_request(now.instant, invite.clone(), peer) {
            Ok(t) => t,
            Err(crate::sip::transaction::TxError::Overloaded { limit }) => {
                tracing::warn!(limit, cause = cause::OVERLOADED, "transaction limit reached: new call refused");
                env.media().close(media_id);
                self.fail_early(now, tx, &req, 503, Some("Service Unavailable (overloaded)"), cause::OVERLOADED, decision, source, txl);
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "bug: the B leg INVITE was refused by the transaction layer");
                env.media().close(media_id);
                self.fail_early(now, tx, &req, 500, None, "b2bua.internal", decision, source, txl);
                return;
            }
        };
        let key = self.next_key;
        self.next_key += 1;
        let a_tag = self.token();
        let a_session = self.random() >> 1;
        let call = Call {
            b: Some(Leg { local_sdp: Some(b_offer), sdp_version: 1, ..Leg::new(peer, b_media, b_sip) }),
            b_invite: Some(invite),
            b_invite_tx: Some(b_tx),
            ..Call::start(CallStart {
                label: label.clone(),
                a: Leg { codec: sdp_rewrite::codec_name(&offer, relay), remote_sdp: Some(offer), ..Leg::new(from, a_media, a_sip) },
                a_invite: req,
                a_invite_tx: tx,
                a_tag,
                media: media_id,
                relay,
                session_ids: (a_session, b_session),
                decision,
                source,
                started: now.instant,
                started_ms: now.unix_ms,
            })
        };
        self.calls.insert(key, Box::new(call));
        self.live += 1;
        self.by_media.insert(media_id, key);
        self.track_server(key, tx, Side::A, Purpose::Invite);
        self.track_client(key, b_tx, Side::B, Purpose::Invite);
        self.schedule(now.instant + self.config.no_answer, key, TimerKind::NoAnswer);
        self.events.push_back(super::B2buaEvent::CallStarted { id: label });
    }
}
