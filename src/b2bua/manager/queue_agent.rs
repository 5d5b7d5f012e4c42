//! The agent leg of a queued call: the INVITE that offers the call to an agent's registered
//! contact, its answers (2xx bridges, errors and timeouts go back to the ACD), withdrawn offers
//! (CANCEL, owed until a provisional) and late answers to them (ACK + BYE).
use std::net::SocketAddr;

use super::queue::{concrete, Phase, StaleOffer};
use super::setup::{looks_like_number, sdp_body};
use super::{B2buaEvent, CallManager, Now, Purpose};
use crate::acd::CallKey;
use crate::b2bua::call::{CallState, Leg, Side};
use crate::b2bua::cause;
use crate::b2bua::env::Env;
use crate::b2bua::sdp_rewrite;
use crate::sip::dialog::{Dialog, DialogState};
use crate::sip::message::{HeaderName, Method, Request, Response};
use crate::sip::transaction::{ClientTxId, TransactionLayer};

impl CallManager {
    /// Rings `agent` with a waiting call: an INVITE to its registered contact offering the
    /// caller's codec. `false` when the agent cannot be reached (the ACD then moves on).
    pub(super) fn queue_offer(&mut self, now: Now, call: CallKey, agent: &str, txl: &mut TransactionLayer, env: &mut dyn Env) -> bool {
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
            c.b = Some(Leg { local_sdp: Some(b_offer), sdp_version: 1, ..Leg::new(peer, b_media, b_sip) });
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
    pub(super) fn queue_withdraw(&mut self, now: Now, call: CallKey, agent: &str, txl: &mut TransactionLayer) {
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
            // The caller's own hold state again (it waited under the on-hold timeout).
            let caller = self.calls.get(&key).and_then(|c| sdp_rewrite::remote_media(c.a.remote_sdp.as_ref()?, c.relay));
            if let Some(remote) = caller {
                env.media().set_remote(m, Side::A, Some(remote));
            }
        }
        self.note_remote_sdp(key, Side::B, &answer, env, media);
        let agent = self.queued.get(&key).and_then(|q| q.agent.clone());
        self.announce_answered(now, key, agent.as_deref(), txl, env);
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
}
