//! Requests inside a call's dialogs: ACK, BYE, re-INVITE/UPDATE (relayed with SDP rewritten),
//! and other requests relayed to the other side.
use super::setup::sdp_body;
use super::{CallManager, Now, Purpose};
use crate::b2bua::call::{CallState, Relayed, Side};
use crate::b2bua::cause;
use crate::b2bua::env::Env;
use crate::sip::dialog::DialogId;
use crate::sip::message::{HeaderName, Method, Request, Response};
use crate::sip::peer::Peer;
use crate::sip::transaction::{ServerTxId, TransactionLayer};

impl CallManager {
    /// Answers a request we received on a call.
    pub(super) fn reply(&mut self, now: Now, tx: ServerTxId, req: &Request, status: u16, txl: &mut TransactionLayer) {
        let mut r = Response::for_request(req, status);
        if status == 405 {
            r.headers.push(HeaderName::Allow, crate::b2bua::inbound::ALLOW);
        }
        self.finish_response(&mut r);
        let _ = txl.respond(now.instant, tx, r);
    }

    /// A request inside a dialog we hold; `false` if the dialog is unknown (the caller answers 481).
    pub fn on_in_dialog(&mut self, now: Now, tx: ServerTxId, req: Request, _from: Peer, txl: &mut TransactionLayer, env: &mut dyn Env) -> bool {
        if self.siprec_in_dialog(now, tx, &req, txl, env) {
            return true;
        }
        let Some(id) = DialogId::of_incoming(&req) else { return false };
        let Some(&(key, side)) = self.by_dialog.get(&id) else { return false };
        if self.calls.get(&key).is_none_or(|c| c.is_ended()) {
            return false;
        }
        self.track_server(key, tx, side, Purpose::Incoming);
        let order = self.calls.get_mut(&key).and_then(|c| c.leg_mut(side)).and_then(|l| l.dialog.as_mut()).map(|d| d.accept_remote_cseq(&req));
        if let Some(Err(e)) = order {
            tracing::info!(error = %e, "in-dialog request out of order");
            self.reply(now, tx, &req, 500, txl);
            return true;
        }
        match req.method {
            Method::Bye => {
                self.reply(now, tx, &req, 200, txl);
                let by = if side == Side::A { "caller" } else { "callee" };
                let early = self.call_state(key).is_some_and(|s| matches!(s, CallState::Calling | CallState::Early));
                if early && side == Side::A {
                    // A caller may BYE its early dialog (RFC 3261 §15): finish its INVITE with 487.
                    self.fail_a(now, key, 487, cause::CALLER_CANCEL, "caller", txl, env);
                } else {
                    self.teardown(now, key, cause::NORMAL, by, Some(side), txl, env);
                }
            }
            Method::Invite | Method::Update => self.relay_offer(now, key, side, tx, req, txl, env),
            Method::Options => {
                let mut r = Response::for_request(&req, 200);
                r.headers.push(HeaderName::Allow, crate::b2bua::inbound::ALLOW);
                r.headers.push(HeaderName::Accept, crate::b2bua::inbound::ACCEPT);
                self.finish_response(&mut r);
                let _ = txl.respond(now.instant, tx, r);
            }
            // Transfers are re-bridged inside the B2BUA by a later feature; never passed on.
            Method::Refer | Method::Prack => self.reply(now, tx, &req, if req.method == Method::Prack { 481 } else { 405 }, txl),
            Method::Info | Method::Message | Method::Notify => self.relay_other(now, key, side, tx, req, txl),
            _ => self.reply(now, tx, &req, 405, txl),
        }
        true
    }

    /// An ACK for a 2xx we sent (the initial answer or a re-INVITE's).
    pub fn on_ack(&mut self, req: &Request) -> bool {
        let Some(id) = DialogId::of_incoming(req) else { return false };
        let Some(&(key, side)) = self.by_dialog.get(&id) else { return false };
        let Some(call) = self.calls.get_mut(&key) else { return false };
        if let Some(leg) = call.leg_mut(side) {
            leg.pending_2xx = None;
        }
        if side == Side::A && call.state == CallState::Answered {
            call.state = CallState::Confirmed;
        }
        true
    }

    /// A new offer (re-INVITE or UPDATE) from `side`: relayed to the other side with our
    /// addresses; the answer comes back the same way. One exchange at a time (RFC 3261 §14.1).
    #[allow(clippy::too_many_arguments)]
    fn relay_offer(&mut self, now: Now, key: u64, side: Side, tx: ServerTxId, req: Request, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let is_invite = req.method == Method::Invite;
        let busy = self.calls.get(&key).is_some_and(|c| c.pending.is_some() || (is_invite && c.state != CallState::Confirmed) || c.leg(side).is_some_and(|l| l.pending_2xx.is_some()));
        if busy {
            // Glare: the other exchange goes on; this one backs off (RFC 3261 §14.2).
            self.reply(now, tx, &req, 491, txl);
            return;
        }
        let offer = match sdp_body(&req.headers, &req.body) {
            Ok(o) => o,
            Err(()) => {
                self.reply(now, tx, &req, 400, txl);
                return;
            }
        };
        if let Some(leg) = self.calls.get_mut(&key).and_then(|c| c.leg_mut(side)) {
            if let Some(d) = leg.dialog.as_mut() {
                d.refresh_target(&req.headers);
            }
        }
        let Some(offer) = offer else {
            // An offerless re-INVITE (session refresh): offer what we last sent this side.
            let body = self.calls.get(&key).and_then(|c| c.leg(side)).and_then(|l| l.local_sdp.clone());
            let mut r = Response::for_request(&req, 200);
            if let Some(call) = self.calls.get(&key) {
                if let Some(leg) = call.leg(side) {
                    r.headers.push(HeaderName::Contact, Self::contact(&leg.peer, leg.local_sip));
                }
            }
            if let Some(sdp) = body {
                r.headers.push(HeaderName::ContentType, "application/sdp");
                r.body = sdp.to_bytes();
            }
            self.finish_response(&mut r);
            let _ = txl.respond(now.instant, tx, r.clone());
            if is_invite {
                let t1 = self.config.t1;
                self.start_2xx(now, key, side, tx, r, t1);
            }
            return;
        };
        if self.queue_answers_offer(now, key, side, tx, &req, &offer, txl, env) {
            return;
        }
        let media = self.calls.get(&key).and_then(|c| c.media);
        self.note_remote_sdp(key, side, &offer, env, media);
        let other = side.other();
        let Some(body) = self.sdp_for(key, other, &offer) else {
            self.reply(now, tx, &req, 500, txl);
            return;
        };
        let Some(out) = self.build_in_dialog(key, other, req.method.clone(), txl) else {
            self.reply(now, tx, &req, 500, txl);
            return;
        };
        let mut out = out;
        out.headers.push(HeaderName::ContentType, "application/sdp");
        out.body = body.to_bytes();
        let peer = self.calls.get(&key).and_then(|c| c.leg(other)).map(|l| l.peer).expect("the other leg exists");
        match txl.send_request(now.instant, out, peer) {
            Ok(ctx) => {
                self.track_client(key, ctx, other, Purpose::Offer);
                if let Some(c) = self.calls.get_mut(&key) {
                    c.pending = Some(Relayed { from: side, server_tx: tx, request: req });
                }
            }
            Err(_) => self.reply(now, tx, &req, 500, txl),
        }
    }

    /// A request inside `side`'s dialog, with our Contact.
    pub(super) fn build_in_dialog(&mut self, key: u64, side: Side, method: Method, txl: &mut TransactionLayer) -> Option<Request> {
        let call = self.calls.get_mut(&key)?;
        let leg = call.leg_mut(side)?;
        let via = Self::via(txl, &leg.peer, leg.local_sip);
        let contact = Self::contact(&leg.peer, leg.local_sip);
        let d = leg.dialog.as_mut()?;
        let mut req = d.request(method.clone(), &via);
        if matches!(method, Method::Invite | Method::Update) {
            req.headers.push(HeaderName::Contact, contact);
        }
        Some(req)
    }

    /// The other side answered a relayed offer.
    pub(super) fn on_offer_response(&mut self, now: Now, key: u64, side: Side, resp: Response, txl: &mut TransactionLayer, env: &mut dyn Env) {
        if resp.is_provisional() {
            return;
        }
        let Some(pending) = self.calls.get_mut(&key).and_then(|c| c.pending.take()) else {
            // An answer after the call ended or a repeated 2xx: ACK a 2xx so the peer stops.
            if resp.is_success() {
                self.ack_offer(key, side, &resp, txl);
            }
            return;
        };
        let is_invite = pending.request.method == Method::Invite;
        if resp.is_success() {
            if is_invite {
                self.ack_offer(key, side, &resp, txl);
            }
            if let Some(d) = self.calls.get_mut(&key).and_then(|c| c.leg_mut(side)).and_then(|l| l.dialog.as_mut()) {
                d.refresh_target(&resp.headers);
            }
            let answer = sdp_body(&resp.headers, &resp.body).ok().flatten();
            let media = self.calls.get(&key).and_then(|c| c.media);
            let body = match &answer {
                Some(a) => {
                    self.note_remote_sdp(key, side, a, env, media);
                    match self.answer_for(key, pending.from, a, env) {
                        Ok(body) => {
                            self.announce_codecs(key, env);
                            body
                        }
                        Err(()) => {
                            // The offerer keeps the session it had; the other side got what it answered.
                            self.reply(now, pending.server_tx, &pending.request, 488, txl);
                            return;
                        }
                    }
                }
                None => None,
            };
            let mut r = Response::for_request(&pending.request, 200);
            if let Some(leg) = self.calls.get(&key).and_then(|c| c.leg(pending.from)) {
                r.headers.push(HeaderName::Contact, Self::contact(&leg.peer, leg.local_sip));
            }
            if let Some(sdp) = body {
                r.headers.push(HeaderName::ContentType, "application/sdp");
                r.body = sdp.to_bytes();
            }
            self.finish_response(&mut r);
            let _ = txl.respond(now.instant, pending.server_tx, r.clone());
            if is_invite {
                let t1 = self.config.t1;
                self.start_2xx(now, key, pending.from, pending.server_tx, r, t1);
            }
            return;
        }
        // A failure passes back as it is (491 makes the offerer back off and retry).
        self.reply(now, pending.server_tx, &pending.request, resp.status, txl);
        if matches!(resp.status, 481 | 408) {
            // CONFORMANCE S4: a 481 or 408 on one leg tears down both.
            self.teardown(now, key, cause::LEG_LOST, "system", None, txl, env);
        }
    }

    fn ack_offer(&mut self, key: u64, side: Side, resp: &Response, txl: &mut TransactionLayer) {
        let seq = resp.headers.cseq().map_or(1, |c| c.seq);
        let Some(leg) = self.calls.get_mut(&key).and_then(|c| c.leg_mut(side)) else { return };
        let via = Self::via(txl, &leg.peer, leg.local_sip);
        let Some(d) = leg.dialog.as_ref() else { return };
        let ack = d.ack(seq, &via);
        leg.last_ack = Some(ack.clone());
        txl.send_stateless(crate::sip::message::Message::Request(ack), leg.peer);
    }

    /// Answers a pending offer's originator (when the exchange cannot finish).
    pub(super) fn answer_pending_offer(&mut self, now: Now, key: u64, status: u16, txl: &mut TransactionLayer) {
        if let Some(p) = self.calls.get_mut(&key).and_then(|c| c.pending.take()) {
            self.reply(now, p.server_tx, &p.request, status, txl);
        }
    }

    /// INFO, MESSAGE, NOTIFY: passed to the other side, its answer passed back.
    fn relay_other(&mut self, now: Now, key: u64, side: Side, tx: ServerTxId, req: Request, txl: &mut TransactionLayer) {
        let other = side.other();
        let Some(mut out) = self.build_in_dialog(key, other, req.method.clone(), txl) else {
            self.reply(now, tx, &req, 481, txl);
            return;
        };
        for name in [HeaderName::ContentType, HeaderName::Event, HeaderName::Other("Info-Package".into())] {
            if let Some(v) = req.headers.get(&name) {
                out.headers.push(name.clone(), v.to_owned());
            }
        }
        out.body = req.body.clone();
        let peer = self.calls.get(&key).and_then(|c| c.leg(other)).map(|l| l.peer).expect("the other leg exists");
        match txl.send_request(now.instant, out, peer) {
            Ok(ctx) => {
                self.track_client(key, ctx, other, Purpose::Relay(tx));
                self.relayed.insert(tx, req);
            }
            Err(_) => self.reply(now, tx, &req, 500, txl),
        }
    }

    pub(super) fn on_relay_response(&mut self, now: Now, _key: u64, server_tx: ServerTxId, resp: Response, txl: &mut TransactionLayer) {
        if resp.is_final() {
            self.answer_relayed(now, server_tx, resp.status, txl);
        }
    }

    pub(super) fn answer_relayed(&mut self, now: Now, server_tx: ServerTxId, status: u16, txl: &mut TransactionLayer) {
        if let Some(req) = self.relayed.remove(&server_tx) {
            self.reply(now, server_tx, &req, status, txl);
        }
    }
}
