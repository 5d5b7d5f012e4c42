//! Client-side inputs of the layer: the TU's requests and CANCELs, responses from the network.
use std::cmp::Reverse;
use std::mem;
use std::time::Instant;

use super::{ClientEntry, TransactionLayer};
use crate::sip::message::{Method, Request, Response};
use crate::sip::peer::Peer;
use crate::sip::transaction::build;
use crate::sip::transaction::client_invite::ClientInvite;
use crate::sip::transaction::client_non_invite::ClientNonInvite;
use crate::sip::transaction::event::{ClientTxId, TxEvent, TxId};
use crate::sip::transaction::key::ClientKey;
use crate::sip::transaction::machine::ClientMachine;
use crate::sip::transaction::TxError;

impl TransactionLayer {
    /// A response from the network. Matching ones go to their client transaction; others become
    /// `TxEvent::StrayResponse`. An error means the response is garbage and is dropped.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: Response,
        from: Peer,
    ) -> Result<(), TxError> {
        if !(100..=699).contains(&response.status) {
            return Err(TxError::InvalidStatus(response.status));
        }
        let h =
            ClientKey::for_response(&response)?.and_then(|key| self.client_keys.get(&key).copied());
        let Some(h) = h else {
            self.stats.stray_responses += 1;
            self.events
                .push_back(TxEvent::StrayResponse { response, from });
            return Ok(());
        };
        self.with_client(now, h, |m, cfg, out| match m {
            ClientMachine::Invite(tx) => tx.handle_response(now, response, cfg, out),
            ClientMachine::NonInvite(tx) => tx.handle_response(now, response, cfg, out),
        });
        Ok(())
    }

    /// Starts a client transaction for `request`, whose top Via carries a branch from
    /// `new_branch`. ACK is not a transaction: use `send_stateless`.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        to: Peer,
    ) -> Result<ClientTxId, TxError> {
        if request.method == Method::Ack {
            return Err(TxError::AckNotATransaction);
        }
        let (key, seq, top_via) = ClientKey::for_request(&request)?;
        if self.client_keys.contains_key(&key) {
            return Err(TxError::DuplicateBranch(key.branch().to_owned()));
        }
        if self.at_limit_for(&request) {
            return Err(self.overloaded());
        }
        Ok(self.start_client(now, key, seq, top_via, request, to))
    }

    fn start_client(
        &mut self,
        now: Instant,
        key: ClientKey,
        seq: u32,
        top_via: String,
        request: Request,
        to: Peer,
    ) -> ClientTxId {
        let reliable = to.transport.is_reliable();
        let mut out = mem::take(&mut self.scratch);
        let machine = if request.method == Method::Invite {
            let ack = build::ack_template(&request, &top_via, seq);
            ClientMachine::Invite(ClientInvite::start(
                now,
                request,
                ack,
                reliable,
                &self.config,
                &mut out,
            ))
        } else {
            ClientMachine::NonInvite(ClientNonInvite::start(
                now,
                request,
                reliable,
                &self.config,
                &mut out,
            ))
        };
        let next = machine.next_timeout();
        self.tally(true, matches!(machine, ClientMachine::Invite(_)), 1);
        let h = self.clients.insert(ClientEntry {
            key: key.clone(),
            peer: to,
            seq,
            top_via,
            machine,
        });
        self.client_keys.insert(key, h);
        let tx = ClientTxId(h);
        self.apply(TxId::Client(tx), to, &mut out);
        self.scratch = out;
        if let Some(at) = next {
            self.timers.push(Reverse((at, TxId::Client(tx))));
        }
        tx
    }

    /// Cancels a client INVITE that has seen a provisional and no final (RFC 3261 §9.1): sends a
    /// CANCEL on the INVITE's branch, as its own client transaction whose handle is returned.
    /// `reason` becomes a Reason header (RFC 3326). If no final arrives within 64·T1, the INVITE
    /// transaction ends without one.
    pub fn cancel(
        &mut self,
        now: Instant,
        invite: ClientTxId,
        reason: Option<&str>,
    ) -> Result<ClientTxId, TxError> {
        let entry = self
            .clients
            .get_mut(invite.0)
            .ok_or(TxError::UnknownTransaction)?;
        let ClientMachine::Invite(tx) = &mut entry.machine else {
            return Err(TxError::CannotCancel {
                state: "non-INVITE",
            });
        };
        if !tx.can_cancel() {
            return Err(TxError::CannotCancel {
                state: tx.state_name(),
            });
        }
        let key = entry.key.with_method(Method::Cancel);
        if self.client_keys.contains_key(&key) {
            return Err(TxError::DuplicateBranch(key.branch().to_owned()));
        }
        let before = tx.next_timeout();
        tx.cancel_sent(now, &self.config);
        let after = tx.next_timeout();
        let cancel = build::cancel(tx.request(), &entry.top_via, entry.seq, reason);
        let (seq, top_via, to) = (entry.seq, entry.top_via.clone(), entry.peer);
        if let Some(at) = after.filter(|_| after != before) {
            self.timers.push(Reverse((at, TxId::Client(invite))));
        }
        // Like a received CANCEL, ours is never refused for load.
        Ok(self.start_client(now, key, seq, top_via, cancel, to))
    }
}
