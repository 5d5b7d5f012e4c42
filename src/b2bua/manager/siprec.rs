//! The external recorder (SIPREC, RFC 7866): when a call is answered we, as the session
//! recording client, open a dialog of our own to the recording server (our Call-ID, tags, CSeq;
//! Contact with `+sip.src`, `Require: siprec`) offering the call's two directions as labelled
//! `sendonly` streams with RFC 7865 metadata, and fork the media to where it answers. The
//! recording session never touches the call: its failure is reported (`siprec.failed`) and
//! counted, a BYE from the server ends only the recording, and the call's end BYEs it.
use std::collections::HashMap;
use std::net::SocketAddr;

use super::{B2buaEvent, CallManager, Now};
use crate::b2bua::env::{Env, MediaId};
use crate::b2bua::siprec_metadata as meta;
use crate::sip::dialog::{Dialog, DialogId};
use crate::sip::message::{HeaderName, Message, Method, Request, Response};
use crate::sip::peer::Peer;
use crate::sip::transaction::{ClientTxId, ServerTxId, TransactionLayer, TxId};

use crate::b2bua::cause::SIPREC_FAILED;

/// Where a recording session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Our INVITE is out.
    Inviting,
    /// The server answered 2xx; media is forked.
    Established,
    /// Over (BYE sent or received, failed, or cancelled); kept until its transactions end.
    Ended,
}

/// One recording session (one per recorded call).
#[derive(Debug)]
struct Session {
    call_label: String,
    /// The call's key, while the call lasts.
    call: Option<u64>,
    media: MediaId,
    peer: Peer,
    /// Our SIP address toward the server (Via, Contact).
    local_sip: SocketAddr,
    invite: Request,
    invite_tx: ClientTxId,
    dialog: Option<Dialog>,
    state: State,
    provisional: bool,
    /// The call ended before the server's final answer: CANCEL at its first provisional, BYE
    /// after a 2xx.
    call_ended: bool,
    last_ack: Option<Request>,
    open_txs: usize,
}

/// Every recording session of the node.
#[derive(Debug, Default)]
pub(crate) struct Recordings {
    sessions: HashMap<u64, Session>,
    by_call: HashMap<u64, u64>,
    by_tx: HashMap<ClientTxId, u64>,
    by_dialog: HashMap<DialogId, u64>,
    next: u64,
}

impl Recordings {
    pub(super) fn knows(&self, id: &DialogId) -> bool {
        self.by_dialog.contains_key(id)
    }

    pub(super) fn owns(&self, tx: ClientTxId) -> bool {
        self.by_tx.contains_key(&tx)
    }

    /// Recording sessions not yet over.
    pub fn active(&self) -> usize {
        self.sessions.values().filter(|s| s.state != State::Ended).count()
    }

    fn track(&mut self, rs: u64, tx: ClientTxId) {
        self.by_tx.insert(tx, rs);
        if let Some(s) = self.sessions.get_mut(&rs) {
            s.open_txs += 1;
        }
    }

    fn forget_if_done(&mut self, rs: u64) {
        if self.sessions.get(&rs).is_some_and(|s| s.state == State::Ended && s.open_txs == 0) {
            if let Some(s) = self.sessions.remove(&rs) {
                if let Some(d) = &s.dialog {
                    self.by_dialog.remove(&d.id());
                }
                if let Some(c) = s.call {
                    self.by_call.remove(&c);
                }
            }
            self.by_tx.retain(|_, v| *v != rs);
        }
    }
}

impl CallManager {
    /// The call `key` was answered: opens its recording session when a server is configured.
    /// Anything that goes wrong is reported and leaves the call alone.
    pub(super) fn siprec_start(&mut self, now: Now, key: u64, agent: Option<&str>, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let Some(server) = self.config.siprec_server.clone() else { return };
        if self.siprec.by_call.contains_key(&key) {
            return;
        }
        let Some(call) = self.calls.get(&key) else { return };
        let Some(media) = call.media else { return };
        let label = call.label.clone();
        let Some(peer) = env.resolve(&server) else {
            self.siprec_failed(&label, None, "the server URI cannot be reached (IP literal needed)");
            return;
        };
        let streams = Self::stream_formats(call);
        let (caller, callee) = (call.decision.caller.clone(), agent.unwrap_or(&call.decision.called).to_owned());
        let local_sip = env.local_sip_addr(&peer);
        let local = match env.media().open_fork(media) {
            Ok(l) => l.map(|a| if a.ip().is_unspecified() { SocketAddr::new(local_sip.ip(), a.port()) } else { a }),
            Err(e) => {
                self.siprec_failed(&label, None, &format!("no fork ports: {e}"));
                return;
            }
        };
        let host = match local_sip {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let sdp = meta::offer(local, &streams, self.random() >> 1);
        let metadata = meta::metadata(&meta::Participants { call_label: &label, caller: &caller, callee: &callee, domain: &host, unix_ms: now.unix_ms });
        let boundary = format!("ncgw-rs-{}", self.token());
        let (body, content_type) = meta::multipart(&sdp, &metadata, &boundary);

        let mut invite = Request::new(Method::Invite, server.clone());
        invite.headers.push(HeaderName::Via, Self::via(txl, &peer, local_sip).to_string());
        invite.headers.push(HeaderName::MaxForwards, "70");
        invite.headers.push(HeaderName::From, format!("<sip:ncgw@{host}>;tag={}", self.token()));
        invite.headers.push(HeaderName::To, format!("<{server}>"));
        invite.headers.push(HeaderName::CallId, format!("{}{}", self.token(), self.token()));
        invite.headers.push(HeaderName::CSeq, "1 INVITE");
        // RFC 7866 §6.1.1: the SRC's Contact carries `+sip.src` and it requires `siprec`.
        invite.headers.push(HeaderName::Contact, format!("{};+sip.src", Self::contact(&peer, local_sip)));
        invite.headers.push(HeaderName::Require, "siprec");
        invite.headers.push(HeaderName::Allow, crate::b2bua::inbound::ALLOW);
        invite.headers.push(HeaderName::UserAgent, self.config.server_name.clone());
        invite.headers.push(HeaderName::ContentType, content_type);
        invite.body = body.into();
        let tx = match txl.send_request(now.instant, invite.clone(), peer) {
            Ok(tx) => tx,
            Err(e) => {
                self.siprec_failed(&label, None, &format!("INVITE refused by the transaction layer: {e}"));
                return;
            }
        };
        let rs = self.siprec.next;
        self.siprec.next += 1;
        let session = Session { call_label: label, call: Some(key), media, peer, local_sip, invite, invite_tx: tx, dialog: None, state: State::Inviting, provisional: false, call_ended: false, last_ack: None, open_txs: 0 };
        self.siprec.sessions.insert(rs, session);
        self.siprec.by_call.insert(key, rs);
        self.siprec.track(rs, tx);
    }

    /// The formats each side sends (its relayed m-line, as the recorder reads it too); G.711
    /// A-law for a side with none we know.
    fn stream_formats(call: &crate::b2bua::call::Call) -> [meta::StreamFormat; 2] {
        Self::sending_sdp(call).map(|s| s.and_then(|(sdp, i)| sdp.media.get(i)).filter(|m| !m.formats.is_empty()).map_or_else(meta::StreamFormat::fallback, meta::StreamFormat::of))
    }

    fn siprec_failed(&mut self, call: &str, status: Option<u16>, why: &str) {
        tracing::warn!(call, status, cause = SIPREC_FAILED, why, "external recording failed; the call goes on");
        self.events.push_back(B2buaEvent::SiprecFailed { call: call.to_owned(), status });
    }

    /// A response to a request of a recording session.
    pub(super) fn siprec_response(&mut self, now: Now, tx: ClientTxId, resp: Response, txl: &mut TransactionLayer, env: &mut dyn Env) {
        let Some(&rs) = self.siprec.by_tx.get(&tx) else { return };
        let Some(s) = self.siprec.sessions.get_mut(&rs) else { return };
        if tx != s.invite_tx || resp.status == 100 {
            return;
        }
        if resp.is_provisional() {
            s.provisional = true;
            if s.call_ended && s.state == State::Inviting {
                self.siprec_cancel(now, rs, txl);
            }
            return;
        }
        if !resp.is_success() {
            if s.state == State::Inviting {
                s.state = State::Ended;
                let (label, ended) = (s.call_label.clone(), s.call_ended);
                if !ended || resp.status != 487 {
                    self.siprec_failed(&label, Some(resp.status), "the recording server refused the session");
                }
            }
            return;
        }
        if s.state != State::Inviting {
            // A retransmitted 2xx: our ACK was lost.
            let tag = resp.headers.to_addr().ok().and_then(|t| t.tag().map(str::to_owned));
            let same = s.dialog.as_ref().map(|d| &d.remote_tag) == tag.as_ref();
            if let (true, Some(ack)) = (same, s.last_ack.clone()) {
                txl.send_stateless(Message::Request(ack), s.peer);
            }
            return;
        }
        let mut dialog = match Dialog::as_uac(&s.invite, &resp) {
            Ok(d) => d,
            Err(e) => {
                s.state = State::Ended;
                let label = s.call_label.clone();
                self.siprec_failed(&label, Some(resp.status), &format!("the server's 2xx forms no dialog: {e}"));
                return;
            }
        };
        dialog.state = crate::sip::dialog::DialogState::Confirmed;
        let via = Self::via(txl, &s.peer, s.local_sip);
        let ack = dialog.ack(1, &via);
        txl.send_stateless(Message::Request(ack.clone()), s.peer);
        s.last_ack = Some(ack);
        self.siprec.by_dialog.insert(dialog.id(), rs);
        s.dialog = Some(dialog);
        s.state = State::Established;
        if s.call_ended {
            self.siprec_bye(now, rs, txl);
            return;
        }
        let media = s.media;
        let label = s.call_label.clone();
        let answer = meta::answer_sdp(resp.headers.content_type().ok().flatten().as_ref(), &resp.body);
        let to = answer.as_ref().map(meta::destinations).unwrap_or([None, None]);
        if answer.is_none() {
            tracing::warn!(call = %label, cause = SIPREC_FAILED, "the recording server's 2xx has no SDP answer; nothing is forked");
        }
        env.media().set_fork(media, to);
        tracing::info!(call = %label, streams = to.iter().flatten().count(), "external recording started");
        self.events.push_back(B2buaEvent::SiprecStarted { call: label });
    }

    /// Timer B/F or a transport error on a recording session's request.
    pub(super) fn siprec_timeout(&mut self, tx: ClientTxId) {
        let Some(&rs) = self.siprec.by_tx.get(&tx) else { return };
        let Some(s) = self.siprec.sessions.get_mut(&rs) else { return };
        if tx == s.invite_tx && s.state == State::Inviting {
            s.state = State::Ended;
            let label = s.call_label.clone();
            self.siprec_failed(&label, None, "the recording server did not answer");
        }
    }

    /// A recording session's transaction is over; the session is forgotten with its last one.
    pub(super) fn siprec_terminated(&mut self, tx: TxId) -> bool {
        let TxId::Client(c) = tx else { return false };
        let Some(rs) = self.siprec.by_tx.remove(&c) else { return false };
        if let Some(s) = self.siprec.sessions.get_mut(&rs) {
            s.open_txs = s.open_txs.saturating_sub(1);
        }
        self.siprec.forget_if_done(rs);
        true
    }

    /// The recorded call is over: its recording session ends too.
    pub(super) fn siprec_call_ended(&mut self, now: Now, key: u64, txl: &mut TransactionLayer) {
        let Some(rs) = self.siprec.by_call.remove(&key) else { return };
        let Some(s) = self.siprec.sessions.get_mut(&rs) else { return };
        s.call = None;
        s.call_ended = true;
        match s.state {
            State::Established => self.siprec_bye(now, rs, txl),
            State::Inviting if s.provisional => self.siprec_cancel(now, rs, txl),
            // No provisional yet: CANCEL when one comes, BYE after a 2xx (RFC 3261 §9.1).
            State::Inviting | State::Ended => self.siprec.forget_if_done(rs),
        }
    }

    fn siprec_cancel(&mut self, now: Now, rs: u64, txl: &mut TransactionLayer) {
        let Some(tx) = self.siprec.sessions.get(&rs).map(|s| s.invite_tx) else { return };
        match txl.cancel(now.instant, tx, Some(&crate::b2bua::cause::reason_header(crate::b2bua::cause::NORMAL))) {
            Ok(c) => self.siprec.track(rs, c),
            Err(e) => tracing::debug!(error = %e, "CANCEL to the recording server not sent"),
        }
    }

    fn siprec_bye(&mut self, now: Now, rs: u64, txl: &mut TransactionLayer) {
        let Some(s) = self.siprec.sessions.get_mut(&rs) else { return };
        s.state = State::Ended;
        let via = Self::via(txl, &s.peer, s.local_sip);
        let Some(d) = s.dialog.as_mut() else { return };
        let mut bye = d.request(Method::Bye, &via);
        bye.headers.push(HeaderName::Reason, crate::b2bua::cause::reason_header(crate::b2bua::cause::NORMAL));
        let peer = s.peer;
        match txl.send_request(now.instant, bye, peer) {
            Ok(tx) => self.siprec.track(rs, tx),
            Err(e) => tracing::warn!(error = %e, "BYE to the recording server not sent"),
        }
    }

    /// A request from the recording server inside its dialog: BYE ends only the recording;
    /// a new offer is declined (the session keeps what it has); OPTIONS is answered.
    pub(super) fn siprec_in_dialog(&mut self, now: Now, tx: ServerTxId, req: &Request, txl: &mut TransactionLayer, env: &mut dyn Env) -> bool {
        let Some(id) = DialogId::of_incoming(req) else { return false };
        let Some(&rs) = self.siprec.by_dialog.get(&id) else { return false };
        let status = match req.method {
            Method::Bye => 200,
            Method::Options => 200,
            Method::Invite | Method::Update => 488,
            _ => 405,
        };
        self.reply(now, tx, req, status, txl);
        if req.method == Method::Bye {
            if let Some(s) = self.siprec.sessions.get_mut(&rs) {
                let live = s.call.is_some();
                s.state = State::Ended;
                if live {
                    env.media().set_fork(s.media, [None, None]);
                }
                tracing::info!(call = %s.call_label, "the recording server ended the recording; the call goes on");
                if let Some(c) = s.call.take() {
                    self.siprec.by_call.remove(&c);
                }
            }
            self.siprec.forget_if_done(rs);
        }
        true
    }
}
