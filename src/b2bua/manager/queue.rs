//! Queued calls: the caller is answered as soon as the queue takes the call and hears prompts
//! while the ACD looks for an agent (the agent leg is in `queue_agent`). The ACD itself lives in
//! the runtime; `acd_feed` and `acd_drain` pass events both ways, so tests drive the same glue
//! on a virtual clock.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{B2buaEvent, CallManager, Now, Purpose, TimerKind};
use crate::acd::{Acd, AcdEvent, CallKey, EnqueueRefused, OverflowTarget};
use crate::b2bua::call::{Call, CallStart, CallState, Leg, Side};
use crate::b2bua::cause;
use crate::b2bua::env::{Env, PromptCodec, PromptRef, RemoteMedia};
use crate::b2bua::sdp_rewrite;
use crate::dialplan::{CallAttributes, Decision};
use crate::sip::dialog::DialogState;
use crate::sip::message::Request;
use crate::sip::peer::Peer;
use crate::sip::sdp::{AttributeSet, SessionDescription};
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
    pub(super) invite: Request,
    pub(super) peer: Peer,
    pub(super) local: SocketAddr,
    pub(super) cancel_pending: bool,
}

/// The queue side of a call.
#[derive(Debug)]
pub(crate) struct Queued {
    /// The queue the call is in now (overflow may move it).
    pub(super) queue: String,
    pub(super) phase: Phase,
    /// When the call entered the ACD.
    pub(super) since: Instant,
    pub(super) codec: Option<PromptCodec>,
    pub(super) langs: Vec<&'static str>,
    /// Our media address toward agents.
    pub(super) b_media: SocketAddr,
    /// The caller's offer reduced to the codec the caller was answered with: what agents get.
    pub(super) offer: SessionDescription,
    pub(super) agent: Option<String>,
    pub(super) wait_ms: Option<i64>,
    pub(super) outcome: Option<&'static str>,
    /// The cause of the hangup after a closing prompt.
    pub(super) leave_cause: &'static str,
    pub(super) stale: HashMap<ClientTxId, StaleOffer>,
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
pub(super) fn concrete(media: SocketAddr, sip: SocketAddr) -> SocketAddr {
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
            // A waiting caller may well be silent (muted, VAD): the on-hold timeout applies
            // until an agent answers.
            env.media().set_remote(media_id, Side::A, Some(RemoteMedia { hold: true, ..remote }));
        }
        let a_session = self.random() >> 1;
        let answer = sdp_rewrite::rewrite(&offer, Some(relay), a_media, a_session, 1);
        let key = self.next_key;
        self.next_key += 1;
        let a_tag = self.token();
        let b_session = self.random() >> 1;
        let call = Call::start(CallStart {
            label: label.clone(),
            a: Leg {
                codec: sdp_rewrite::codec_name(&offer, Some(relay)),
                remote_sdp: Some(offer.clone()),
                local_sdp: Some(answer.clone()),
                sdp_version: 1,
                ..Leg::new(from, a_media, a_sip)
            },
            a_invite: req,
            a_invite_tx: tx,
            a_tag,
            media: media_id,
            relay: Some(relay),
            session_ids: (a_session, b_session),
            decision,
            source,
            started: now.instant,
            started_ms: now.unix_ms,
        });
        let attributes = call.decision.attributes.clone();
        self.calls.insert(key, Box::new(call));
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

    /// Applies the ACD's pending events to the calls. Events about agents and outcomes, the
    /// offers whose INVITE went to the transaction layer and the withdrawn offers are returned
    /// for the runtime (logs, metrics), in the order the ACD emitted them.
    pub fn acd_drain(&mut self, now: Now, acd: &mut Acd, txl: &mut TransactionLayer, env: &mut dyn Env) -> (usize, Vec<AcdEvent>) {
        let mut other = Vec::new();
        let mut handled = 0;
        while let Some(ev) = acd.poll_event() {
            handled += 1;
            match ev {
                AcdEvent::Offer { call, agent, queue } => {
                    if self.queue_offer(now, call, &agent, txl, env) {
                        other.push(AcdEvent::Offer { call, agent, queue });
                    } else {
                        let _ = acd.offer_failed(now.instant, call, &agent);
                    }
                }
                AcdEvent::OfferWithdrawn { call, agent } => {
                    self.queue_withdraw(now, call, &agent, txl);
                    other.push(AcdEvent::OfferWithdrawn { call, agent });
                }
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


    /// A caller's re-INVITE/UPDATE with an offer while no agent is bridged: answered here with
    /// our address and the codec the caller was answered with (488 if the offer dropped it).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn queue_answers_offer(&mut self, now: Now, key: u64, side: Side, tx: ServerTxId, req: &Request, offer: &SessionDescription, txl: &mut TransactionLayer, env: &mut dyn Env) -> bool {
        let waiting = self.queued.get(&key).is_some_and(|q| !matches!(q.phase, Phase::Connected { .. }));
        if side != Side::A || !waiting {
            return false;
        }
        let Some(call) = self.calls.get(&key) else { return false };
        let relay = call.relay;
        let ours = call.a.local_sdp.as_ref().and_then(|s| s.media.get(relay?)).and_then(|m| m.payload_types().find(|&pt| m.codec(pt).is_some_and(|c| !c.is("telephone-event"))).and_then(|pt| Some((pt, m.codec(pt)?))));
        let m = relay.and_then(|i| offer.media.get(i)).filter(|m| m.port != 0);
        let (Some((pt, codec)), Some(m)) = (ours, m) else {
            self.reply(now, tx, req, 488, txl);
            return true;
        };
        let offered = m.payload_types().any(|p| p == pt) && m.codec(pt).is_some_and(|c| c.encoding.eq_ignore_ascii_case(&codec.encoding) && c.clock_rate == codec.clock_rate);
        if !offered {
            self.reply(now, tx, req, 488, txl);
            return true;
        }
        let mut keep = vec![pt];
        keep.extend(m.payload_types().filter(|&p| m.codec(p).is_some_and(|c| c.is("telephone-event") && c.clock_rate == codec.clock_rate)));
        let direction = m.explicit_direction().or(offer.explicit_direction());
        let (local, session, version, peer, local_sip, media) = (call.a.local_media, call.session_ids.0, call.a.sdp_version + 1, call.a.peer, call.a.local_sip, call.media);
        let Some(idx) = relay else { return false };
        let mut answer = sdp_rewrite::rewrite(&restrict(offer, idx, &keep), relay, local, session, version);
        if let Some(d) = direction {
            answer.remove_attributes("sendrecv");
            answer.remove_attributes("sendonly");
            answer.remove_attributes("recvonly");
            answer.remove_attributes("inactive");
            if let Some(am) = answer.media.get_mut(idx) {
                am.set_direction(d.reversed());
            }
        }
        self.note_remote_sdp(key, Side::A, offer, env, media);
        if let (Some(mid), Some(remote)) = (media, sdp_rewrite::remote_media(offer, relay)) {
            env.media().set_remote(mid, Side::A, Some(RemoteMedia { hold: true, ..remote }));
        }
        if let Some(c) = self.calls.get_mut(&key) {
            c.a.local_sdp = Some(answer.clone());
            c.a.sdp_version = version;
        }
        let mut r = crate::sip::message::Response::for_request(req, 200);
        r.headers.push(crate::sip::message::HeaderName::Contact, Self::contact(&peer, local_sip));
        r.headers.push(crate::sip::message::HeaderName::ContentType, "application/sdp");
        r.body = answer.to_bytes();
        self.finish_response(&mut r);
        let _ = txl.respond(now.instant, tx, r.clone());
        if req.method == crate::sip::message::Method::Invite {
            let t1 = self.config.t1;
            self.start_2xx(now, key, Side::A, tx, r, t1);
        }
        true
    }
}
