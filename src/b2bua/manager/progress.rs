//! The callee's answers to our INVITE, the caller's CANCEL, and our 2xx retransmissions.
use std::time::Duration;

use super::setup::sdp_body;
use super::{CallManager, Now, Purpose, TimerKind};
use crate::b2bua::call::{Call, CallState, Pending2xx, Side};
use crate::b2bua::cause;
use crate::b2bua::env::{AnsweredCall, Env};
use crate::b2bua::{negotiate, sdp_rewrite};
use crate::media::transcode::MediaPlan;
use crate::sip::dialog::{Dialog, DialogState};
use crate::sip::message::{HeaderName, Method, Response};
use crate::sip::sdp::SessionDescription;
use crate::sip::transaction::{ClientTxId, ServerTxId, TransactionLayer};

impl CallManager {
    /// The offer we send to `side`, built from the other side's offer (its codecs plus those we
    /// can transcode to); the o= version moves only when the content changes (RFC 3264 §8).
    pub(super) fn sdp_for(&mut self, key: u64, side: Side, from_other: &SessionDescription) -> Option<SessionDescription> {
        self.store_local_sdp(key, side, |relay, local, session, version| sdp_rewrite::offer(from_other, relay, local, session, version))
    }

    /// The answer we send `side` (the offerer) from the other side's `answer`: the codec path is
    /// planned and handed to the media engine, and the answer narrowed to the one codec of
    /// `side`'s offer we use. `Err` when the answer leaves no path between the legs.
    pub(super) fn answer_for(&mut self, key: u64, side: Side, answer: &SessionDescription, env: &mut dyn Env) -> Result<Option<SessionDescription>, ()> {
        let (relay, media, offer) = {
            let Some(call) = self.calls.get(&key) else { return Ok(None) };
            (call.relay, call.media, call.leg(side).and_then(|l| l.remote_sdp.clone()))
        };
        let offer_m = relay.and_then(|i| offer.as_ref()?.media.get(i).cloned());
        let answer_m = relay.and_then(|i| answer.media.get(i)).filter(|m| m.port != 0);
        let (Some(offer_m), Some(answer_m)) = (offer_m, answer_m) else {
            return Ok(self.store_local_sdp(key, side, |relay, local, session, version| sdp_rewrite::rewrite(answer, relay, local, session, version)));
        };
        let plan = match negotiate::plan(&offer_m, answer_m, side) {
            negotiate::Outcome::Plan(p) => Some(p),
            negotiate::Outcome::PassThrough => None,
            negotiate::Outcome::NoCommonCodec => return Err(()),
        };
        if let Some(m) = media {
            env.media().set_codecs(m, plan.as_ref());
        }
        if let (Some(p), Some(call)) = (&plan, self.calls.get_mut(&key)) {
            for s in [Side::A, Side::B] {
                let f = negotiate::format_of(p, s);
                if let Some(leg) = call.leg_mut(s) {
                    leg.codec = Some(format!("{}/{}", f.config.kind.rtp_name(), f.config.clock_rate));
                }
            }
        }
        Ok(self.store_local_sdp(key, side, |relay, local, session, version| {
            let mut out = sdp_rewrite::rewrite(answer, relay, local, session, version);
            if let (Some(p), Some(m)) = (&plan, relay.and_then(|i| out.media.get_mut(i))) {
                negotiate::restrict_answer(m, &offer_m, negotiate::format_of(p, side), matches!(p, MediaPlan::Copy { .. }));
            }
            out
        }))
    }

    /// Builds the SDP for `side` with `build(relay, local media, session id, version)` and keeps
    /// it; the o= version moves only when the content changes (RFC 3264 §8).
    fn store_local_sdp(&mut self, key: u64, side: Side, build: impl Fn(Option<usize>, std::net::SocketAddr, u64, u64) -> SessionDescription) -> Option<SessionDescription> {
        let call = self.calls.get_mut(&key)?;
        let relay = call.relay;
        let session = match side {
            Side::A => call.session_ids.0,
            Side::B => call.session_ids.1,
        };
        let leg = call.leg_mut(side)?;
        let candidate = build(relay, leg.local_media, session, leg.sdp_version.max(1));
        if leg.local_sdp.as_ref() != Some(&candidate) {
            let version = if leg.local_sdp.is_some() { leg.sdp_version + 1 } else { leg.sdp_version.max(1) };
            leg.sdp_version = version;
            leg.local_sdp = Some(build(relay, leg.local_media, session, version));
        }
        leg.local_sdp.clone()
    }

    /// Builds a response to the caller's INVITE, with our tag and Contact.
    pub(super) fn a_response(&self, key: u64, status: u16, body: Option<&SessionDescription>) -> Option<Response> {
        let call = self.calls.get(&key)?;
        let mut resp = Response::for_request(&call.a_invite, status);
        resp.set_to_tag(&call.a_tag);
        if (101..300).contains(&status) {
            resp.headers.push(HeaderName::Contact, Self::contact(&call.a.peer, call.a.local_sip));
            resp.headers.push(HeaderName::Allow, crate::b2bua::inbound::ALLOW);
        }
        if let Some(sdp) = body {
            resp.headers.push(HeaderName::ContentType, "application/sdp");
            resp.body = sdp.to_bytes();
        }
        self.finish_response(&mut resp);
        Some(resp)
    }

    /// A response to a request we sent on a call.
    pub fn on_response(&mut self, now: Now, tx: ClientTxId, resp: Response, txl: &mut TransactionLayer, env: &mut dyn Env) -> bool {
        if self.siprec.owns(tx) {
            self.siprec_response(now, tx, resp, txl, env);
            return true;
        }
        let Some(&(key, side, purpose)) = self.by_client_tx.get(&tx) else { return false };
        match purpose {
            Purpose::Invite => self.on_invite_response(now, key, tx, resp, txl, env),
            Purpose::Offer => self.on_offer_response(now, key, side, resp, txl, env),
            Purpose::Relay(server_tx) => self.on_relay_response(now, key, server_tx, resp, txl),
            Purpose::Agent => self.on_agent_response(now, key, tx, resp, txl, env),
            Purpose::Ending | Purpose::Incoming => {}
        }
        true
    }

    /// Timer B/F on a request we sent on a call: treated as a 408 from that side.
    pub fn on_client_timeout(&mut self, now: Now, tx: ClientTxId, txl: &mut TransactionLayer, env: &mut dyn Env, cause_code: &'static str) -> bool {
        if self.siprec.owns(tx) {
            self.siprec_timeout(tx);
            return true;
        }
        let Some(&(key, _, purpose)) = self.by_client_tx.get(&tx) else { return false };
        match purpose {
            Purpose::Invite => {
                if self.calls.get(&key).is_some_and(|c| !c.is_ended()) {
                    self.fail_a(now, key, 408, cause_code, "system", txl, env);
                }
            }
            Purpose::Offer | Purpose::Relay(_) => {
                // RFC 3261 §12.2.1.2 and CONFORMANCE S4: a 408 on one leg ends both.
                if let Purpose::Relay(stx) = purpose {
                    self.answer_relayed(now, stx, 408, txl);
                }
                self.answer_pending_offer(now, key, 408, txl);
                self.teardown(now, key, cause::LEG_LOST, "system", None, txl, env);
            }
            Purpose::Agent => self.on_agent_failure(now, key, tx, None, txl, env),
            Purpose::Ending | Purpose::Incoming => {}
        }
        true
    }

    fn on_invite_response(&mut self, now: Now, key: u64, tx: ClientTxId, resp: Response, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let status = resp.status;
        if status == 100 {
            return;
        }
        let ended = self.calls.get(&key).is_none_or(|c| c.is_ended());
        if resp.is_provisional() {
            let cancel_now = {
                let Some(call) = self.calls.get_mut(&key) else { return };
                call.b_provisional = true;
                call.cancel_pending
            };
            if cancel_now {
                self.send_cancel(now, key, tx, txl);
                return;
            }
            if ended {
                return;
            }
            self.on_b_provisional(now, key, resp, txl, env);
            return;
        }
        if resp.is_success() {
            if ended {
                // A 2xx crossed our CANCEL (or came after the caller left): ACK it, then BYE.
                self.ack_and_bye_stray(now, key, &resp, txl, env);
                return;
            }
            if self.call_state(key).is_some_and(|s| matches!(s, CallState::Answered | CallState::Confirmed)) {
                self.reack(now, key, &resp, txl, env);
                return;
            }
            self.on_b_answer(now, key, resp, txl, env);
            return;
        }
        // A failure: the callee's leg is over.
        if let Some(call) = self.calls.get_mut(&key) {
            call.code_out = Some(status);
        }
        if ended {
            return;
        }
        let c = cause::for_callee_status(status);
        self.fail_a(now, key, cause::status_toward_caller(status), c, "callee", txl, env);
    }

    fn on_b_provisional(&mut self, now: Now, key: u64, resp: Response, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let status = resp.status;
        let sdp = sdp_body(&resp.headers, &resp.body).ok().flatten();
        let media = {
            let Some(call) = self.calls.get_mut(&key) else { return };
            if resp.headers.to_addr().ok().and_then(|t| t.tag().map(str::to_owned)).is_some() {
                if let (Some(b), Some(inv)) = (call.b.as_mut(), call.b_invite.as_ref()) {
                    if b.dialog.is_none() {
                        b.dialog = Dialog::as_uac(inv, &resp).ok();
                    }
                }
            }
            if call.ringing_ms.is_none() {
                call.ringing_ms = Some(now.unix_ms);
            }
            call.state = CallState::Early;
            call.media
        };
        if let Some(b) = self.calls.get(&key).and_then(|c| c.b.as_ref()).and_then(|b| b.dialog.as_ref()).map(|d| d.id()) {
            self.by_dialog.entry(b).or_insert((key, Side::B));
        }
        let body = match &sdp {
            Some(answer) => {
                self.note_remote_sdp(key, Side::B, answer, env, media);
                // Early media nobody can bridge: the final answer will tell.
                self.answer_for(key, Side::A, answer, env).unwrap_or(None)
            }
            None => None,
        };
        // Only 180 and 183 are worth relaying; other 1xx tell the caller nothing useful.
        let code = if body.is_some() { 183 } else if status == 183 || status == 180 { 180 } else { return };
        let Some(r) = self.a_response(key, code, body.as_ref()) else { return };
        self.ensure_a_dialog(key, DialogState::Early);
        if let Some(call) = self.calls.get(&key) {
            let _ = txl.respond(now.instant, call.a_invite_tx, r);
        }
    }

    /// Records the SDP a side sent and points the media engine at it.
    pub(super) fn note_remote_sdp(&mut self, key: u64, side: Side, sdp: &SessionDescription, env: &mut dyn Env, media: Option<crate::b2bua::env::MediaId>) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let relay = call.relay;
        let remote = sdp_rewrite::remote_media(sdp, relay);
        if let Some(leg) = call.leg_mut(side) {
            leg.hold = remote.is_some_and(|r| r.hold);
            leg.codec = sdp_rewrite::codec_name(sdp, relay).or(leg.codec.take());
            leg.remote_sdp = Some(sdp.clone());
        }
        if let Some(m) = media {
            env.media().set_remote(m, side, remote);
        }
    }

    pub(super) fn ensure_a_dialog(&mut self, key: u64, state: DialogState) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        match &mut call.a.dialog {
            Some(d) => {
                if state == DialogState::Confirmed {
                    d.state = state;
                }
            }
            None => {
                if let Ok(d) = Dialog::as_uas(&call.a_invite, &call.a_tag, state) {
                    self.by_dialog.insert(d.id(), (key, Side::A));
                    call.a.dialog = Some(d);
                }
            }
        }
    }

    fn on_b_answer(&mut self, now: Now, key: u64, resp: Response, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let answer = sdp_body(&resp.headers, &resp.body).ok().flatten();
        let media = {
            let Some(call) = self.calls.get_mut(&key) else { return };
            call.code_out = Some(resp.status);
            let Some(b) = call.b.as_mut() else { return };
            match Dialog::as_uac(call.b_invite.as_ref().expect("a B leg has its INVITE"), &resp) {
                Ok(mut d) => {
                    d.state = DialogState::Confirmed;
                    b.dialog = Some(d);
                }
                Err(e) => {
                    tracing::info!(error = %e, "callee's 2xx cannot form a dialog");
                }
            }
            call.media
        };
        // ACK the 2xx end to end (a new transaction, RFC 3261 §13.2.2.4).
        self.send_b_ack(key, txl);
        if let Some(id) = self.calls.get(&key).and_then(|c| c.b.as_ref()?.dialog.as_ref().map(|d| d.id())) {
            self.by_dialog.insert(id, (key, Side::B));
        }
        let Some(answer) = answer else {
            // We offered; a 2xx without an answer cannot set up media.
            self.teardown(now, key, cause::BAD_SDP, "system", None, txl, env);
            return;
        };
        self.note_remote_sdp(key, Side::B, &answer, env, media);
        let Ok(body) = self.answer_for(key, Side::A, &answer, env) else {
            self.fail_a(now, key, 488, negotiate::NO_COMMON_CODEC, "system", txl, env);
            return;
        };
        let Some(r) = self.a_response(key, 200, body.as_ref()) else { return };
        self.ensure_a_dialog(key, DialogState::Confirmed);
        let (tx, t1) = {
            let call = self.calls.get_mut(&key).expect("the call exists");
            call.state = CallState::Answered;
            call.answered_ms = Some(now.unix_ms);
            call.code_in = Some(200);
            (call.a_invite_tx, self.config.t1)
        };
        let _ = txl.respond(now.instant, tx, r.clone());
        self.announce_answered(now, key, None, txl, env);
        self.start_2xx(now, key, Side::A, tx, r, t1);
        self.schedule(now.instant + self.config.max_duration, key, TimerKind::MaxDuration);
    }

    /// Tells the media side the call is answered (the recorder starts); `agent` for a queued call.
    /// The external recorder (SIPREC), when configured, is invited here too.
    pub(super) fn announce_answered(&mut self, now: Now, key: u64, agent: Option<&str>, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let Some((call, m)) = self.calls.get(&key).and_then(|c| Some((c, c.media?))) else { return };
        let sdp = Self::sending_sdp(call);
        let callee = agent.unwrap_or(&call.decision.called);
        let info = AnsweredCall { call_id: &call.label, caller: &call.decision.caller, callee, unix_ms: now.unix_ms, sdp };
        env.media().answered(m, &info);
        self.siprec_start(now, key, agent, txl, env);
    }

    /// Tells the media side a mid-call offer/answer is done (the recorder follows new codecs).
    pub(super) fn announce_codecs(&mut self, key: u64, env: &mut dyn Env) {
        let Some((call, m)) = self.calls.get(&key).and_then(|c| Some((c, c.media?))) else { return };
        if call.answered_ms.is_some() {
            env.media().codecs_changed(m, Self::sending_sdp(call));
        }
    }

    /// Per side, the SDP whose payload types that side sends, with the relayed m-line: the one we
    /// gave the caller, the callee's own.
    pub(super) fn sending_sdp(call: &Call) -> [Option<(&SessionDescription, usize)>; 2] {
        let relay = call.relay;
        [call.a.local_sdp.as_ref().zip(relay), call.b.as_ref().and_then(|b| b.remote_sdp.as_ref()).zip(relay)]
    }

    pub(super) fn send_b_ack(&mut self, key: u64, txl: &mut TransactionLayer) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(b) = call.b.as_mut() else { return };
        let Some(d) = b.dialog.as_ref() else { return };
        let seq = call.b_invite.as_ref().and_then(|i| i.headers.cseq().ok()).map_or(1, |c| c.seq);
        let via = Self::via(txl, &b.peer, b.local_sip);
        let ack = d.ack(seq, &via);
        b.last_ack = Some(ack.clone());
        txl.send_stateless(crate::sip::message::Message::Request(ack), b.peer);
    }

    /// A retransmitted 2xx from the callee: our ACK was lost; send it again.
    fn reack(&mut self, now: Now, key: u64, resp: &Response, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let same = self.calls.get(&key).and_then(|c| c.b.as_ref()).and_then(|b| b.dialog.as_ref()).map(|d| d.remote_tag.clone());
        let tag = resp.headers.to_addr().ok().and_then(|t| t.tag().map(str::to_owned));
        if same.is_some() && same == tag {
            if let Some((ack, peer)) = self.calls.get(&key).and_then(|c| c.b.as_ref()).and_then(|b| Some((b.last_ack.clone()?, b.peer))) {
                txl.send_stateless(crate::sip::message::Message::Request(ack), peer);
            }
        } else {
            // A second fork answered: we keep the first, so ACK and BYE this one.
            self.ack_and_bye_stray(now, key, resp, txl, env);
        }
    }

    /// ACKs and BYEs a 2xx we do not want (after CANCEL, or a second fork).
    fn ack_and_bye_stray(&mut self, now: Now, key: u64, resp: &Response, txl: &mut TransactionLayer, _env: &mut dyn Env) {
        let Some(call) = self.calls.get(&key) else { return };
        let (Some(b), Some(inv)) = (call.b.as_ref(), call.b_invite.as_ref()) else { return };
        let Ok(mut d) = Dialog::as_uac(inv, resp) else { return };
        let (peer, local) = (b.peer, b.local_sip);
        let seq = inv.headers.cseq().map_or(1, |c| c.seq);
        let via = Self::via(txl, &peer, local);
        txl.send_stateless(crate::sip::message::Message::Request(d.ack(seq, &via)), peer);
        let via = Self::via(txl, &peer, local);
        let mut bye = d.request(Method::Bye, &via);
        bye.headers.push(HeaderName::Reason, cause::reason_header(cause::CALLER_CANCEL));
        if let Ok(tx) = txl.send_request(now.instant, bye, peer) {
            self.track_client(key, tx, Side::B, Purpose::Ending);
        }
    }

    pub(super) fn send_cancel(&mut self, now: Now, key: u64, tx: ClientTxId, txl: &mut TransactionLayer) {
        let reason = self.calls.get(&key).and_then(|c| c.cause).map(cause::reason_header);
        match txl.cancel(now.instant, tx, reason.as_deref()) {
            Ok(ctx) => {
                if let Some(c) = self.calls.get_mut(&key) {
                    c.cancel_pending = false;
                }
                self.track_client(key, ctx, Side::B, Purpose::Ending);
            }
            Err(e) => tracing::debug!(error = %e, "CANCEL not sent"),
        }
    }

    /// The caller's CANCEL matched its INVITE (the transaction layer answered the CANCEL).
    pub fn on_cancelled(&mut self, now: Now, invite_tx: ServerTxId, txl: &mut TransactionLayer, env: &mut dyn Env) -> bool {
        let Some(&(key, Side::A, Purpose::Invite)) = self.by_server_tx.get(&invite_tx) else { return false };
        if self.calls.get(&key).is_some_and(|c| !c.is_ended() && matches!(c.state, CallState::Calling | CallState::Early)) {
            self.fail_a(now, key, 487, cause::CALLER_CANCEL, "caller", txl, env);
        }
        true
    }

    /// The callee did not answer in time.
    pub(super) fn no_answer(&mut self, now: Now, key: u64, txl: &mut TransactionLayer, env: &mut dyn Env) {
        if self.calls.get(&key).is_some_and(|c| !c.is_ended() && matches!(c.state, CallState::Calling | CallState::Early)) {
            self.fail_a(now, key, 480, cause::NO_ANSWER, "system", txl, env);
        }
    }

    /// Ends an unanswered call: `status` to the caller, CANCEL to the callee.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fail_a(&mut self, now: Now, key: u64, status: u16, cause_code: &'static str, ended_by: &'static str, txl: &mut TransactionLayer, env: &mut dyn Env) {
        if let Some(r) = self.a_response(key, status, None) {
            if let Some(call) = self.calls.get_mut(&key) {
                call.code_in = Some(status);
                let _ = txl.respond(now.instant, call.a_invite_tx, r);
            }
        }
        self.teardown(now, key, cause_code, ended_by, Some(Side::A), txl, env);
    }

    /// Starts retransmitting our 2xx to `side` until its ACK (T1 doubling to T2, 64·T1 at most).
    pub(super) fn start_2xx(&mut self, now: Now, key: u64, side: Side, tx: ServerTxId, response: Response, t1: Duration) {
        let give_up = now.instant + t1 * 64;
        if let Some(leg) = self.calls.get_mut(&key).and_then(|c| c.leg_mut(side)) {
            leg.pending_2xx = Some(Pending2xx { tx, response, next: now.instant + t1, interval: t1, give_up });
        }
        self.schedule(now.instant + t1, key, TimerKind::Retransmit2xx(side));
    }

    pub(super) fn retransmit_2xx(&mut self, now: Now, key: u64, side: Side, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let t2 = self.config.t2;
        let Some(leg) = self.calls.get_mut(&key).and_then(|c| c.leg_mut(side)) else { return };
        let Some(p) = leg.pending_2xx.as_mut() else { return };
        if now.instant >= p.give_up {
            leg.pending_2xx = None;
            // RFC 3261 §13.3.1.4: no ACK within 64·T1 — end the dialog with BYE.
            if self.calls.get(&key).is_some_and(|c| !c.is_ended()) {
                self.teardown(now, key, cause::NO_ACK, "system", None, txl, env);
            }
            return;
        }
        if now.instant < p.next {
            return;
        }
        let _ = txl.respond(now.instant, p.tx, p.response.clone());
        p.interval = (p.interval * 2).min(t2);
        p.next = now.instant + p.interval;
        let next = p.next.min(p.give_up);
        self.schedule(next, key, TimerKind::Retransmit2xx(side));
    }
}
