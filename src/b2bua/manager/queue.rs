//! Queued calls: the caller is answered at once and hears prompts while the ACD looks for an
//! agent; an offer becomes an INVITE to the agent's registered contact, and the agent's 2xx
//! bridges the legs. The ACD itself lives in the runtime; `acd_feed` and `acd_drain` pass
//! events both ways so tests drive the same glue on a virtual clock.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::setup::{looks_like_number, sdp_body};
use super::{B2buaEvent, CallManager, Now, Purpose, TimerKind};
use crate::acd::{Acd, AcdEvent, CallKey, EnqueueRefused, OverflowTarget};
use crate::b2bua::call::{Call, CallState, Leg, Side};
use crate::b2bua::cause;
use crate::b2bua::env::{Env, PromptCodec, PromptRef};
use crate::b2bua::sdp_rewrite;
use crate::dialplan::{CallAttributes, Decision};
use crate::sip::dialog::{Dialog, DialogState};
use crate::sip::message::{HeaderName, Method, Request, Response};
use crate::sip::peer::Peer;
use crate::sip::sdp::SessionDescription;
use crate::sip::transaction::{ClientTxId, ServerTxId, TransactionLayer};

/// Where a queued call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// In the ACD, no agent ringing.
    Waiting,
    /// An agent's phone rings (our INVITE `tx`).
    Offered { agent: String, tx: ClientTxId },
    /// Bridged to the agent.
    Connected { agent: String },
    /// Out of the ACD (timed out, overflowed, refused, or the call ended): a closing prompt plays
    /// until the hangup timer, or nothing is left to do.
    Left,
}

/// An offer that was withdrawn or failed: a late 2xx is ACKed and ended with BYE, a late 1xx
/// gets the CANCEL owed to it.
#[derive(Debug, Clone)]
pub(crate) struct StaleOffer {
    invite: Request,
    peer: Peer,
    local: SocketAddr,
    cancel_pending: bool,
}

/// The queue side of a call.
#[derive(Debug)]
pub(crate) struct Queued {
    /// The queue the call is in now (overflow may move it).
    pub queue: String,
    pub phase: Phase,
    /// When the call entered the ACD.
    since: Instant,
    codec: Option<PromptCodec>,
    langs: Vec<&'static str>,
    /// Our media address toward agents.
    b_media: SocketAddr,
    /// The caller's offer reduced to the codec the caller was answered with: what agents get.
    offer: SessionDescription,
    pub agent: Option<String>,
    pub wait_ms: Option<i64>,
    pub outcome: Option<&'static str>,
    /// The cause of the hangup after a closing prompt.
    leave_cause: &'static str,
    stale: HashMap<ClientTxId, StaleOffer>,
}

/// The prompt directory of the comfort tone, which has no language.
pub const TONE_DIR: &str = "tone";
const COMFORT: &str = "comfort";

/// Prompt languages for a call: the dialplan's `language`, else Mandarin then English.
fn languages(attrs: &CallAttributes) -> Vec<&'static str> {
    match attrs.language.as_deref().map(str::to_ascii_lowercase) {
        Some(l) if l.starts_with("en") => vec!["en"],
        Some(l) if l.starts_with("zh") || l.starts_with("cmn") || l.starts_with("yue") => vec!["zh"],
        _ => vec!["zh", "en"],
    }
}

/// The G.711 payload type the caller offered first, if any.
fn prompt_codec(m: &crate::sip::sdp::MediaDescription) -> Option<(u8, PromptCodec)> {
    m.payload_types().find_map(|pt| {
        let c = m.codec(pt)?;
        match (c.encoding.to_ascii_uppercase().as_str(), c.clock_rate) {
            ("PCMU", 8000) => Some((pt, PromptCodec::Pcmu(pt))),
            ("PCMA", 8000) => Some((pt, PromptCodec::Pcma(pt))),
            _ => None,
        }
    })
}

/// `sdp` with the relayed stream reduced to the payload types in `keep`.
fn restrict(sdp: &SessionDescription, idx: usize, keep: &[u8]) -> SessionDescription {
    let mut out = sdp.clone();
    if let Some(m) = out.media.get_mut(idx) {
        let kept = |pt: Option<u8>| pt.is_some_and(|p| keep.contains(&p));
        m.formats.retain(|f| kept(f.parse().ok()));
        m.attributes.retain(|a| match a.name.as_str() {
            "rtpmap" | "fmtp" => kept(a.value.as_deref().and_then(|v| v.split_whitespace().next()).and_then(|p| p.parse().ok())),
            _ => true,
        });
    }
    out
}

/// A wildcard media address announced with the address facing the peer.
fn concrete(media: SocketAddr, sip: SocketAddr) -> SocketAddr {
    if media.ip().is_unspecified() { SocketAddr::new(sip.ip(), media.port()) } else { media }
}

impl CallManager {
    /// `Action::Queue`: open media and choose one codec we can play prompts in, then ask the
    /// runtime to enqueue the call (`B2buaEvent::Queued`); `acd_feed` answers the caller once
    /// the queue took it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_queue_invite(&mut self, now: Now, tx: ServerTxId, req: Request, from: Peer, offer: Option<SessionDescription>, decision: Decision, source: String, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let crate::dialplan::Action::Queue(queue) = decision.action.clone() else { return };
        let Some((offer, relay)) = offer.and_then(|o| sdp_rewrite::relay_index(&o).map(|i| (o, i))) else {
            self.fail_early(now, tx, &req, 488, Some("Not Acceptable Here (an audio offer is required)"), cause::NO_OFFER, decision, source, txl);
            return;
        };
        let m = &offer.media[relay];
        let chosen = prompt_codec(m);
        // Without G.711 the caller still waits (in silence) with the codec it prefers.
        let Some(main_pt) = chosen.map(|c| c.0).or_else(|| m.payload_types().find(|&pt| m.codec(pt).is_some_and(|c| !c.is("telephone-event")))) else {
            self.fail_early(now, tx, &req, 488, Some("Not Acceptable Here (no usable codec)"), cause::NO_OFFER, decision, source, txl);
            return;
        };
        let rate = m.codec(main_pt).map_or(8000, |c| c.clock_rate);
        let mut keep = vec![main_pt];
        keep.extend(m.payload_types().filter(|&pt| m.codec(pt).is_some_and(|c| c.is("telephone-event") && c.clock_rate == rate)));
        let offer = restrict(&offer, relay, &keep);
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
        let a_media = concrete(a_media, a_sip);
        if let Some(remote) = sdp_rewrite::remote_media(&offer, Some(relay)) {
            env.media().set_remote(media_id, Side::A, Some(remote));
        }
        let a_session = self.random() >> 1;
        let answer = sdp_rewrite::rewrite(&offer, Some(relay), a_media, a_session, 1);
        let key = self.next_key;
        self.next_key += 1;
        let a_tag = self.token();
        let b_session = self.random() >> 1;
        let call = Call {
            label: label.clone(),
            state: CallState::Calling,
            a: Leg {
                peer: from,
                dialog: None,
                local_media: a_media,
                local_sip: a_sip,
                codec: sdp_rewrite::codec_name(&offer, Some(relay)),
                remote_sdp: Some(offer.clone()),
                local_sdp: Some(answer.clone()),
                sdp_version: 1,
                hold: false,
                pending_2xx: None,
                last_ack: None,
            },
            b: None,
            relay: Some(relay),
            session_ids: (a_session, b_session),
            a_invite: req,
            a_invite_tx: tx,
            a_tag,
            b_invite: None,
            b_invite_tx: None,
            b_provisional: false,
            cancel_pending: false,
            media: Some(media_id),
            tags: decision.attributes.tags.clone(),
            decision,
            source,
            started: now.instant,
            started_ms: now.unix_ms,
            ringing_ms: None,
            answered_ms: None,
            ended_ms: None,
            cause: None,
            ended_by: None,
            code_in: None,
            code_out: None,
            pending: None,
            open_txs: 0,
        };
        let attributes = call.decision.attributes.clone();
        self.calls.insert(key, call);
        self.live += 1;
        self.by_media.insert(media_id, key);
        self.track_server(key, tx, Side::A, Purpose::Invite);
        let langs = languages(&attributes);
        let codec = chosen.map(|c| c.1);
        let q = Queued {
            queue: queue.clone(),
            phase: Phase::Waiting,
            since: now.instant,
            codec,
            langs,
            b_media,
            offer,
            agent: None,
            wait_ms: None,
            outcome: None,
            leave_cause: cause::NORMAL,
            stale: HashMap::new(),
        };
        self.queued.insert(key, q);
        self.events.push_back(B2buaEvent::CallStarted { id: label });
        self.events.push_back(B2buaEvent::Queued { call: CallKey(key), queue, attributes });
    }

    /// Passes a call-logic event's consequence to the ACD (enqueue, answer, failure, abandon,
    /// wrap-up). A refused enqueue is handled here (overflow prompt or hangup).
    pub fn acd_feed(&mut self, now: Now, ev: &B2buaEvent, acd: &mut Acd, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let r = match ev {
            B2buaEvent::Queued { call, queue, attributes } => {
                // Answered before the ACD's events are drained, so an offer never precedes it.
                match acd.enqueue(now.instant, now.unix_ms / 1000, *call, queue, attributes.clone()) {
                    Ok(()) => self.queue_answer(now, call.0, true, txl, env),
                    Err(refused) => {
                        tracing::info!(cause = refused.cause(), %refused, "queue refused the call");
                        self.queue_refused(now, *call, &refused, txl, env);
                    }
                }
                Ok(())
            }
            B2buaEvent::AgentAnswered { call, agent } => acd.offer_accepted(now.instant, *call, agent),
            B2buaEvent::AgentFailed { call, agent } => acd.offer_failed(now.instant, *call, agent),
            B2buaEvent::Abandoned { call } => acd.abandon(now.instant, *call),
            B2buaEvent::AgentCallEnded { agent } => acd.call_ended(now.instant, agent),
            _ => Ok(()),
        };
        if let Err(e) = r {
            // The ACD moved on first (e.g. a ring timeout crossed the agent's answer).
            tracing::debug!(error = %e, "ACD input not applied");
        }
    }

    /// Applies the ACD's pending events to the calls. Events about agents and outcomes are
    /// returned for the runtime (logs, metrics).
    pub fn acd_drain(&mut self, now: Now, acd: &mut Acd, txl: &mut TransactionLayer, env: &mut dyn Env) -> (usize, Vec<AcdEvent>) {
        let mut other = Vec::new();
        let mut handled = 0;
        while let Some(ev) = acd.poll_event() {
            handled += 1;
            match ev {
                AcdEvent::Offer { call, agent, .. } => {
                    if !self.queue_offer(now, call, &agent, txl, env) {
                        let _ = acd.offer_failed(now.instant, call, &agent);
                    }
                }
                AcdEvent::OfferWithdrawn { call, agent } => self.queue_withdraw(now, call, &agent, txl),
                AcdEvent::Overflow { call, to } => match to {
                    OverflowTarget::Queue(q) => {
                        if let Some(c) = self.queued.get_mut(&call.0) {
                            c.queue = q;
                        }
                    }
                    OverflowTarget::Announce { announcement } => self.queue_leave(now, call, cause::ACD_OVERFLOW, "overflowed", &[&announcement, "busy"], txl, env),
                    OverflowTarget::Callback => self.queue_leave(now, call, cause::ACD_CALLBACK, "overflowed", &["callback"], txl, env),
                },
                AcdEvent::TimedOut { call } => self.queue_leave(now, call, cause::ACD_TIMEOUT, "timed_out", &["busy"], txl, env),
                AcdEvent::Position { call, position, eta, .. } => self.queue_position(call, position, eta, env),
                other_ev => other.push(other_ev),
            }
        }
        (handled, other)
    }

    /// Answers a queued caller (200 with our SDP, retransmitted until ACK) and starts the
    /// welcome prompt (or nothing: `welcome` false) with the comfort tone after it.
    fn queue_answer(&mut self, now: Now, key: u64, welcome: bool, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let Some(call) = self.calls.get_mut(&key).filter(|c| c.state == CallState::Calling) else { return };
        call.state = CallState::Answered;
        call.answered_ms = Some(now.unix_ms);
        call.code_in = Some(200);
        let (tx, media, answer) = (call.a_invite_tx, call.media, call.a.local_sdp.clone());
        if let Some(r) = self.a_response(key, 200, answer.as_ref()) {
            self.ensure_a_dialog(key, DialogState::Confirmed);
            let _ = txl.respond(now.instant, tx, r.clone());
            let t1 = self.config.t1;
            self.start_2xx(now, key, Side::A, tx, r, t1);
        }
        self.schedule(now.instant + self.config.max_duration, key, TimerKind::MaxDuration);
        let Some(q) = self.queued.get(&key) else { return };
        if let (true, Some(c), Some(m)) = (welcome, q.codec, media) {
            let prompts = q.langs.iter().map(|l| PromptRef::new(l, "welcome")).collect();
            env.media().play(m, Side::A, c, prompts, Some(PromptRef::new(TONE_DIR, COMFORT)));
        }
    }

    /// The queue did not take the call: the caller is answered to hear the overflow
    /// announcement (or "busy"/"closed"), then hung up; without a codec to play prompts in, a
    /// final 480 with the refusal's cause.
    fn queue_refused(&mut self, now: Now, call: CallKey, refused: &EnqueueRefused, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let playable = self.queued.get(&call.0).is_some_and(|q| q.codec.is_some());
        if !playable {
            if let Some(q) = self.queued.get_mut(&call.0) {
                q.phase = Phase::Left;
                q.outcome = Some("refused");
                q.wait_ms = Some(0);
            }
            let status = if matches!(refused, EnqueueRefused::UnknownQueue(_) | EnqueueRefused::Duplicate(_)) { 500 } else { 480 };
            self.fail_a(now, call.0, status, refused.cause(), "system", txl, env);
            return;
        }
        self.queue_answer(now, call.0, false, txl, env);
        match refused.overflow() {
            Some(OverflowTarget::Announce { announcement }) => self.queue_leave(now, call, cause::ACD_OVERFLOW, "overflowed", &[announcement, "busy"], txl, env),
            Some(OverflowTarget::Callback) => self.queue_leave(now, call, cause::ACD_CALLBACK, "overflowed", &["callback"], txl, env),
            _ => {
                let prompt = if matches!(refused, EnqueueRefused::Closed { .. }) { "closed" } else { "busy" };
                self.queue_leave(now, call, refused.cause(), "refused", &[prompt], txl, env);
            }
        }
    }

    /// The call leaves the ACD without an agent: a closing prompt (the first of `prompts` that
    /// exists), then BYE with `cause_code`.
    #[allow(clippy::too_many_arguments)]
    fn queue_leave(&mut self, now: Now, call: CallKey, cause_code: &'static str, outcome: &'static str, prompts: &[&str], txl: &mut TransactionLayer, env: &mut dyn Env) {
        let key = call.0;
        let Some(q) = self.queued.get_mut(&key) else { return };
        if q.phase == Phase::Left {
            return;
        }
        if let Phase::Offered { agent, .. } = q.phase.clone() {
            self.queue_withdraw(now, call, &agent, txl);
        }
        let Some(q) = self.queued.get_mut(&key) else { return };
        q.phase = Phase::Left;
        q.outcome = Some(outcome);
        q.wait_ms = Some(now.instant.saturating_duration_since(q.since).as_millis() as i64);
        q.leave_cause = cause_code;
        let (codec, langs) = (q.codec, q.langs.clone());
        let media = self.calls.get(&key).and_then(|c| c.media);
        let mut length = Duration::ZERO;
        if let (Some(codec), Some(m)) = (codec, media) {
            for name in prompts {
                let seq: Vec<PromptRef> = langs.iter().map(|l| PromptRef::new(l, *name)).collect();
                length = env.media().play(m, Side::A, codec, seq, None);
                if !length.is_zero() {
                    break;
                }
            }
        }
        if length.is_zero() {
            self.teardown(now, key, cause_code, "system", None, txl, env);
        } else {
            self.schedule(now.instant + length + Duration::from_millis(500), key, TimerKind::QueueHangup);
        }
    }

    /// The closing prompt is over.
    pub(super) fn queue_hangup(&mut self, now: Now, key: u64, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let Some(q) = self.queued.get(&key) else { return };
        let c = q.leave_cause;
        if q.phase == Phase::Left && self.calls.get(&key).is_some_and(|c| !c.is_ended()) {
            self.teardown(now, key, c, "system", None, txl, env);
        }
    }

    /// "You are number N in the queue; the estimated wait is M minutes", then the comfort tone.
    fn queue_position(&mut self, call: CallKey, position: usize, eta: Option<Duration>, env: &mut dyn Env) {
        let Some(q) = self.queued.get(&call.0) else { return };
        let (Some(codec), Phase::Waiting) = (q.codec, &q.phase) else { return };
        let Some(media) = self.calls.get(&call.0).and_then(|c| c.media) else { return };
        let minutes = eta.map(|e| e.as_secs().div_ceil(60).max(1)).filter(|m| *m <= 20);
        let mut seq = Vec::new();
        for l in &q.langs {
            if (1..=20).contains(&position) {
                seq.extend([PromptRef::new(l, "position_pre"), PromptRef::new(l, format!("n{position}")), PromptRef::new(l, "position_post")]);
            }
            if let Some(m) = minutes {
                seq.extend([PromptRef::new(l, "wait_pre"), PromptRef::new(l, format!("n{m}")), PromptRef::new(l, "wait_post")]);
            }
        }
        if !seq.is_empty() {
            env.media().play(media, Side::A, codec, seq, Some(PromptRef::new(TONE_DIR, COMFORT)));
        }
    }

    /// Rings `agent` with a waiting call: an INVITE to its registered contact offering the
    /// caller's codec. `false` when the agent cannot be reached (the ACD then moves on).
    fn queue_offer(&mut self, now: Now, call: CallKey, agent: &str, txl: &mut TransactionLayer, env: &mut dyn Env) -> bool {
        let key = call.0;
        let Some(q) = self.queued.get(&key) else { return false };
        if q.phase != Phase::Waiting || self.calls.get(&key).is_none_or(|c| c.is_ended()) {
            return false;
        }
        let Some((contact, peer)) = env.locate(agent) else {
            tracing::info!(agent, cause = "acd.agent_not_registered", "offer to an agent with no registration");
            return false;
        };
        let b_sip = env.local_sip_addr(&peer);
        let b_media = concrete(q.b_media, b_sip);
        let call_ref = self.calls.get(&key).expect("checked above");
        let b_offer = sdp_rewrite::rewrite(&q.offer, call_ref.relay, b_media, call_ref.session_ids.1, 1);
        let host = match b_sip {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let private = call_ref.a_invite.headers.privacy().unwrap_or_default().iter().any(|p| p.eq_ignore_ascii_case("id") || p.eq_ignore_ascii_case("header"));
        let caller = &call_ref.decision.caller;
        let from_value = if private || caller.is_empty() {
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>".to_owned()
        } else {
            let phone = if looks_like_number(caller) { ";user=phone" } else { "" };
            format!("<sip:{caller}@{host}{phone}>")
        };
        let queue_name = q.queue.clone();
        let b_tag = self.token();
        let b_call_id = format!("{}{}", self.token(), self.token());
        let mut invite = Request::new(Method::Invite, contact.clone());
        invite.headers.push(HeaderName::Via, Self::via(txl, &peer, b_sip).to_string());
        invite.headers.push(HeaderName::MaxForwards, "70");
        invite.headers.push(HeaderName::From, format!("{from_value};tag={b_tag}"));
        invite.headers.push(HeaderName::To, format!("<{contact}>"));
        invite.headers.push(HeaderName::CallId, b_call_id);
        invite.headers.push(HeaderName::CSeq, "1 INVITE");
        invite.headers.push(HeaderName::Contact, Self::contact(&peer, b_sip));
        invite.headers.push(HeaderName::Allow, crate::b2bua::inbound::ALLOW);
        invite.headers.push(HeaderName::UserAgent, self.config.server_name.clone());
        invite.headers.push(HeaderName::Subject, format!("queue {queue_name}"));
        invite.headers.push(HeaderName::ContentType, "application/sdp");
        invite.body = b_offer.to_bytes();
        let tx = match txl.send_request(now.instant, invite.clone(), peer) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, agent, "agent INVITE not sent");
                return false;
            }
        };
        if let Some(c) = self.calls.get_mut(&key) {
            c.b = Some(Leg {
                peer,
                dialog: None,
                local_media: b_media,
                local_sip: b_sip,
                remote_sdp: None,
                local_sdp: Some(b_offer),
                sdp_version: 1,
                hold: false,
                codec: None,
                pending_2xx: None,
                last_ack: None,
            });
            c.b_invite = Some(invite);
            c.b_invite_tx = Some(tx);
            c.b_provisional = false;
            c.cancel_pending = false;
            c.code_out = None;
        }
        if let Some(q) = self.queued.get_mut(&key) {
            q.phase = Phase::Offered { agent: agent.to_owned(), tx };
        }
        self.track_client(key, tx, Side::B, Purpose::Agent);
        true
    }

    /// Takes the agent leg off the call (kept as stale for late answers); `cancel` sends or owes
    /// it a CANCEL.
    fn drop_offer(&mut self, now: Now, key: u64, tx: ClientTxId, cancel: bool, txl: &mut TransactionLayer) {
        let Some(c) = self.calls.get_mut(&key) else { return };
        let provisional = c.b_provisional;
        let (Some(b), Some(invite)) = (c.b.take(), c.b_invite.take()) else { return };
        c.b_invite_tx = None;
        c.b_provisional = false;
        c.cancel_pending = false;
        let mut stale = StaleOffer { invite, peer: b.peer, local: b.local_sip, cancel_pending: false };
        if cancel {
            if provisional {
                self.cancel_offer(now, key, tx, txl);
            } else {
                // CANCEL only after a provisional (RFC 3261 §9.1): sent when one arrives.
                stale.cancel_pending = true;
            }
        }
        if let Some(q) = self.queued.get_mut(&key) {
            q.stale.insert(tx, stale);
        }
    }

    fn cancel_offer(&mut self, now: Now, key: u64, tx: ClientTxId, txl: &mut TransactionLayer) {
        match txl.cancel(now.instant, tx, Some(&cause::reason_header(cause::NO_ANSWER))) {
            Ok(ctx) => self.track_client(key, ctx, Side::B, Purpose::Ending),
            Err(e) => tracing::debug!(error = %e, "CANCEL to the agent not sent"),
        }
    }

    /// The ACD took the offer back (ring timeout, agent logged out): stop ringing.
    fn queue_withdraw(&mut self, now: Now, call: CallKey, agent: &str, txl: &mut TransactionLayer) {
        let key = call.0;
        let Some(Phase::Offered { agent: a, tx }) = self.queued.get(&key).map(|q| q.phase.clone()) else { return };
        if a != agent {
            return;
        }
        self.drop_offer(now, key, tx, true, txl);
        if let Some(q) = self.queued.get_mut(&key) {
            q.phase = Phase::Waiting;
        }
    }

    /// A response from an agent we rang.
    pub(super) fn on_agent_response(&mut self, now: Now, key: u64, tx: ClientTxId, resp: Response, txl: &mut TransactionLayer, env: &mut dyn Env) {
        if resp.status == 100 {
            return;
        }
        let current = match self.queued.get(&key).map(|q| &q.phase) {
            Some(Phase::Offered { tx: t, .. }) => *t == tx && self.calls.get(&key).is_some_and(|c| !c.is_ended()),
            _ => false,
        };
        if !current {
            self.late_agent_response(now, key, tx, &resp, txl);
            return;
        }
        if resp.is_provisional() {
            if let Some(c) = self.calls.get_mut(&key) {
                c.b_provisional = true;
                if c.ringing_ms.is_none() {
                    c.ringing_ms = Some(now.unix_ms);
                }
            }
            return;
        }
        if !resp.is_success() {
            self.on_agent_failure(now, key, tx, Some(resp.status), txl, env);
            return;
        }
        let Some(Phase::Offered { agent, .. }) = self.queued.get(&key).map(|q| q.phase.clone()) else { return };
        let media = {
            let Some(c) = self.calls.get_mut(&key) else { return };
            c.code_out = Some(resp.status);
            match c.b_invite.as_ref().map(|inv| Dialog::as_uac(inv, &resp)) {
                Some(Ok(mut d)) => {
                    d.state = DialogState::Confirmed;
                    if let Some(b) = c.b.as_mut() {
                        b.dialog = Some(d);
                    }
                }
                _ => tracing::info!("agent's 2xx cannot form a dialog"),
            }
            c.media
        };
        self.send_b_ack(key, txl);
        if let Some(id) = self.calls.get(&key).and_then(|c| c.b.as_ref()?.dialog.as_ref().map(|d| d.id())) {
            self.by_dialog.insert(id, (key, Side::B));
        }
        if let Some(q) = self.queued.get_mut(&key) {
            q.phase = Phase::Connected { agent: agent.clone() };
            q.agent = Some(agent.clone());
            q.outcome = Some("answered");
            q.wait_ms = Some(now.instant.saturating_duration_since(q.since).as_millis() as i64);
        }
        self.events.push_back(B2buaEvent::AgentAnswered { call: CallKey(key), agent });
        let Some(answer) = sdp_body(&resp.headers, &resp.body).ok().flatten() else {
            self.teardown(now, key, cause::ACD_AGENT_BAD_SDP, "system", None, txl, env);
            return;
        };
        if let Some(m) = media {
            env.media().stop_play(m, Side::A);
        }
        self.note_remote_sdp(key, Side::B, &answer, env, media);
        if let Some(c) = self.calls.get_mut(&key) {
            if c.state == CallState::Answered && c.a.pending_2xx.is_none() {
                c.state = CallState::Confirmed;
            }
        }
    }

    /// The agent leg failed (error response, timeout, transport error): back to waiting, and the
    /// ACD is told (it puts the agent on break `missed` and offers the call again).
    pub(super) fn on_agent_failure(&mut self, now: Now, key: u64, tx: ClientTxId, status: Option<u16>, txl: &mut TransactionLayer, _env: &mut dyn Env) {
        let Some(Phase::Offered { agent, tx: t }) = self.queued.get(&key).map(|q| q.phase.clone()) else { return };
        if t != tx || self.calls.get(&key).is_none_or(|c| c.is_ended()) {
            return;
        }
        tracing::info!(agent = %agent, status, "agent did not take the call");
        if let Some(c) = self.calls.get_mut(&key) {
            c.code_out = status;
        }
        self.drop_offer(now, key, tx, false, txl);
        if let Some(q) = self.queued.get_mut(&key) {
            q.phase = Phase::Waiting;
        }
        self.events.push_back(B2buaEvent::AgentFailed { call: CallKey(key), agent });
    }

    /// A response on an offer that is no longer current: CANCEL owed to a 1xx, ACK + BYE to a 2xx.
    fn late_agent_response(&mut self, now: Now, key: u64, tx: ClientTxId, resp: &Response, txl: &mut TransactionLayer) {
        let from_call = self.calls.get(&key).filter(|c| c.b_invite_tx == Some(tx)).and_then(|c| {
            let b = c.b.as_ref()?;
            Some(StaleOffer { invite: c.b_invite.clone()?, peer: b.peer, local: b.local_sip, cancel_pending: c.cancel_pending })
        });
        let stale = self.queued.get_mut(&key).and_then(|q| q.stale.get_mut(&tx)).map(|s| {
            let copy = s.clone();
            // The owed CANCEL goes out once.
            if copy.cancel_pending {
                s.cancel_pending = false;
            }
            copy
        });
        let Some(offer) = stale.or(from_call) else { return };
        if resp.is_provisional() {
            if let Some(c) = self.calls.get_mut(&key).filter(|c| c.b_invite_tx == Some(tx)) {
                c.b_provisional = true;
                if c.cancel_pending {
                    self.send_cancel(now, key, tx, txl);
                }
            } else if offer.cancel_pending {
                self.cancel_offer(now, key, tx, txl);
            }
            return;
        }
        if !resp.is_success() {
            return;
        }
        let Ok(mut d) = Dialog::as_uac(&offer.invite, resp) else { return };
        let seq = offer.invite.headers.cseq().map_or(1, |c| c.seq);
        let via = Self::via(txl, &offer.peer, offer.local);
        txl.send_stateless(crate::sip::message::Message::Request(d.ack(seq, &via)), offer.peer);
        let via = Self::via(txl, &offer.peer, offer.local);
        let mut bye = d.request(Method::Bye, &via);
        bye.headers.push(HeaderName::Reason, cause::reason_header(cause::NO_ANSWER));
        if let Ok(btx) = txl.send_request(now.instant, bye, offer.peer) {
            self.track_client(key, btx, Side::B, Purpose::Ending);
        }
    }

    /// The queue's part of ending a call: the ACD hears of an abandon or of the agent's call
    /// ending; returns the cause to record (`acd.abandoned` for a caller who gave up waiting).
    pub(super) fn queue_teardown(&mut self, now: Now, key: u64, cause_code: &'static str) -> &'static str {
        let Some(q) = self.queued.get_mut(&key) else { return cause_code };
        let call = CallKey(key);
        let phase = std::mem::replace(&mut q.phase, Phase::Left);
        match phase {
            Phase::Waiting | Phase::Offered { .. } => {
                q.wait_ms = Some(now.instant.saturating_duration_since(q.since).as_millis() as i64);
                q.outcome = Some("abandoned");
                self.events.push_back(B2buaEvent::Abandoned { call });
                if cause_code == cause::NORMAL || cause_code == cause::CALLER_CANCEL {
                    return cause::ACD_ABANDONED;
                }
                cause_code
            }
            Phase::Connected { agent } => {
                self.events.push_back(B2buaEvent::AgentCallEnded { agent });
                cause_code
            }
            Phase::Left => cause_code,
        }
    }
}
