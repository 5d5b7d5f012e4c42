//! Ending a call from any state: each leg gets the right ending (final response, CANCEL or BYE
//! with a Reason header), media is closed, and exactly one call record is emitted.
use super::{CallManager, Now, Purpose, TimerKind};
use crate::b2bua::call::{CallState, CallSummary, Side};
use crate::b2bua::cause;
use crate::b2bua::env::Env;
use crate::dialplan::Action;
use crate::sip::message::{HeaderName, Method};
use crate::sip::transaction::TransactionLayer;

impl CallManager {
    /// Ends the call `key` for `cause_code`. `done` is a side already finished (it sent BYE and
    /// got our 200, or its INVITE got its final response): it gets nothing more.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn teardown(&mut self, now: Now, key: u64, cause_code: &'static str, ended_by: &'static str, done: Option<Side>, txl: &mut TransactionLayer, env: &mut dyn Env) {
        if self.calls.get(&key).is_none_or(|c| c.is_ended()) {
            return;
        }
        let cause_code = self.queue_teardown(now, key, cause_code);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let before = call.state;
        call.state = CallState::Ended;
        self.live = self.live.saturating_sub(1);
        call.cause = Some(cause_code);
        call.ended_by = Some(ended_by);
        call.ended_ms = Some(now.unix_ms);
        call.a.pending_2xx = None;
        if let Some(b) = call.b.as_mut() {
            b.pending_2xx = None;
        }
        let answered = matches!(before, CallState::Answered | CallState::Confirmed);
        self.answer_pending_offer(now, key, 487, txl);
        let txs = self.calls.get(&key).map(|c| c.client_txs.clone()).unwrap_or_default();
        let relayed: Vec<_> = txs.iter().filter_map(|t| self.by_client_tx.get(t)).filter(|v| v.0 == key).filter_map(|v| if let Purpose::Relay(s) = v.2 { Some(s) } else { None }).collect();
        for s in relayed {
            self.answer_relayed(now, s, 481, txl);
        }

        // The caller's side.
        if done != Some(Side::A) {
            if answered {
                self.send_bye(now, key, Side::A, cause_code, txl);
            } else if let Some(r) = self.a_response(key, 480, None) {
                let call = self.calls.get_mut(&key).expect("the call exists");
                call.code_in = Some(480);
                let _ = txl.respond(now.instant, call.a_invite_tx, r);
            }
        }
        // The callee's side.
        if done != Some(Side::B) {
            let b_answered = self.calls.get(&key).and_then(|c| c.b.as_ref()).and_then(|b| b.dialog.as_ref()).is_some_and(|d| d.state == crate::sip::dialog::DialogState::Confirmed);
            if b_answered {
                self.send_bye(now, key, Side::B, cause_code, txl);
            } else {
                let (tx, provisional, final_seen) = {
                    let c = self.calls.get(&key).expect("the call exists");
                    (c.b_invite_tx, c.b_provisional, c.code_out.is_some_and(|s| s >= 200))
                };
                if let (Some(tx), false) = (tx, final_seen) {
                    if provisional {
                        self.send_cancel(now, key, tx, txl);
                    } else if let Some(c) = self.calls.get_mut(&key) {
                        // CANCEL only after a provisional (RFC 3261 §9.1): sent when one arrives.
                        c.cancel_pending = true;
                    }
                }
            }
        }

        self.siprec_call_ended(now, key, txl);
        let media_id = self.calls.get(&key).and_then(|c| c.media);
        let stats = media_id.map(|m| env.media().close(m)).unwrap_or_default();
        let Some(summary) = self.summary_of(key, now.unix_ms, cause_code, ended_by, stats) else { return };
        self.events.push_back(super::B2buaEvent::CallEnded(Box::new(summary)));
        if let Some(m) = media_id {
            self.by_media.remove(&m);
        }
        if let Some(c) = self.calls.get_mut(&key) {
            c.media = None;
            if c.open_txs == 0 {
                self.forget(key);
                return;
            }
        }
        // Safety net: forget the call even if a transaction never reports its end.
        let reap = now.instant + self.config.t1 * 64 + std::time::Duration::from_secs(5);
        self.schedule(reap, key, TimerKind::Reap);
    }

    fn send_bye(&mut self, now: Now, key: u64, side: Side, cause_code: &'static str, txl: &mut TransactionLayer) {
        let Some(mut bye) = self.build_in_dialog(key, side, Method::Bye, txl) else { return };
        bye.headers.push(HeaderName::Reason, cause::reason_header(cause_code));
        let Some(peer) = self.calls.get(&key).and_then(|c| c.leg(side)).map(|l| l.peer) else { return };
        match txl.send_request(now.instant, bye, peer) {
            Ok(tx) => self.track_client(key, tx, side, Purpose::Ending),
            Err(e) => tracing::warn!(error = %e, "BYE not sent"),
        }
    }
}

impl CallManager {
    /// The call record of `key` as if it ended at `ended_ms` for `cause_code`; `media` are the
    /// legs' counters (the codec each side negotiated is filled in here).
    fn summary_of(&self, key: u64, ended_ms: i64, cause_code: &'static str, ended_by: &'static str, mut media: Vec<crate::b2bua::call::LegStats>) -> Option<CallSummary> {
        let call = self.calls.get(&key)?;
        let queued = self.queued.get(&key).map(|q| (q.queue.clone(), q.agent.clone(), q.wait_ms, q.outcome));
        for s in &mut media {
            let leg = if s.leg == "a" { Some(&call.a) } else { call.b.as_ref() };
            if s.codec.is_none() {
                s.codec = leg.and_then(|l| l.codec.clone());
            }
        }
        Some(CallSummary {
            id: call.label.clone(),
            call_id_in: call.a_invite.headers.call_id().unwrap_or("").to_owned(),
            call_id_out: call.b_invite.as_ref().and_then(|i| i.headers.call_id().ok().map(str::to_owned)),
            caller: call.decision.caller.clone(),
            callee: call.decision.called.clone(),
            source: call.source.clone(),
            dialplan_rule: call.decision.rule.clone(),
            queue: match (&queued, &call.decision.action) {
                (Some(q), _) => Some(q.0.clone()),
                (None, Action::Queue(q)) => Some(q.clone()),
                _ => None,
            },
            agent: queued.as_ref().and_then(|q| q.1.clone()),
            wait_ms: queued.as_ref().and_then(|q| q.2),
            queue_outcome: queued.as_ref().and_then(|q| q.3),
            started_ms: call.started_ms,
            ringing_ms: call.ringing_ms,
            answered_ms: call.answered_ms,
            ended_ms,
            cause: cause_code,
            ended_by,
            sip_code_in: call.code_in,
            sip_code_out: call.code_out,
            media,
            tags: call.tags.clone(),
        })
    }

    /// The records the live calls would get if the node died now (cause `node_restart`, ended by
    /// the system): what the runtime keeps on disk so a `kill -9` leaves a record of every call.
    pub fn live_summaries(&self, now_ms: i64) -> Vec<CallSummary> {
        let mut keys: Vec<u64> = self.calls.iter().filter(|(_, c)| !c.is_ended()).map(|(k, _)| *k).collect();
        keys.sort_unstable();
        keys.into_iter().filter_map(|k| self.summary_of(k, now_ms, cause::NODE_RESTART, "system", Vec::new())).collect()
    }
}
