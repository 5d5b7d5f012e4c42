//! Server-side inputs of the layer: requests from the network (new, retransmitted, ACK, CANCEL)
//! and the TU's responses.
use std::mem;
use std::time::Instant;

use super::{ServerEntry, TransactionLayer};
use crate::sip::message::{Message, Method, Request, Response};
use crate::sip::peer::Peer;
use crate::sip::transaction::event::{ServerTxId, Transmit, TxEvent, TxId};
use crate::sip::transaction::key::ServerKey;
use crate::sip::transaction::machine::ServerMachine;
use crate::sip::transaction::server_invite::ServerInvite;
use crate::sip::transaction::server_non_invite::ServerNonInvite;
use crate::sip::transaction::TxError;

impl TransactionLayer {
    /// A request from the network. New requests become server transactions and `TxEvent::Request`;
    /// retransmissions are answered here. An error means the runtime answers statelessly: 400 for
    /// a bad message (`TxError::is_bad_message`), 503 for `Overloaded`.
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: Request,
        from: Peer,
    ) -> Result<(), TxError> {
        let key = ServerKey::for_request(&request)?;
        if request.method == Method::Ack {
            return self.handle_ack(now, key, request, from);
        }
        if let Some(&h) = self.server_keys.get(&key) {
            self.stats.retransmissions_received += 1;
            self.with_server(now, h, |m, _, out| match m {
                ServerMachine::Invite(tx) => tx.handle_retransmission(out),
                ServerMachine::NonInvite(tx) => tx.handle_retransmission(out),
            });
            return Ok(());
        }
        if request.method == Method::Cancel {
            return self.handle_cancel(now, key, request, from);
        }
        if self.at_limit_for(&request) {
            return Err(self.overloaded());
        }
        let reliable = from.transport.is_reliable();
        let mut out = mem::take(&mut self.scratch);
        let machine = if request.method == Method::Invite {
            // RFC 3261 §17.2.1: the TU may take longer than 200 ms, so answer 100 at once.
            ServerMachine::Invite(ServerInvite::start(
                Response::for_request(&request, 100),
                reliable,
                &mut out,
            ))
        } else {
            ServerMachine::NonInvite(ServerNonInvite::new(reliable))
        };
        self.tally(false, matches!(machine, ServerMachine::Invite(_)), 1);
        let h = self.servers.insert(ServerEntry {
            key: key.clone(),
            peer: from,
            announced: true,
            final_to_tag: None,
            machine,
        });
        self.server_keys.insert(key, h);
        let tx = ServerTxId(h);
        self.apply(TxId::Server(tx), from, &mut out);
        self.scratch = out;
        self.events
            .push_back(TxEvent::Request { tx, request, from });
        Ok(())
    }

    fn handle_ack(
        &mut self,
        now: Instant,
        key: ServerKey,
        ack: Request,
        from: Peer,
    ) -> Result<(), TxError> {
        let mut found = self.server_keys.get(&key).copied();
        if found.is_none() {
            if let Some((untagged, tag)) = key.without_to_tag() {
                found = self.server_keys.get(&untagged).copied().filter(|&h| {
                    self.servers.get(h).and_then(|e| e.final_to_tag.as_deref()) == Some(tag)
                });
            }
        }
        let invite = found.filter(|&h| {
            matches!(
                self.servers.get(h).map(|e| &e.machine),
                Some(ServerMachine::Invite(_))
            )
        });
        match invite {
            Some(h) => {
                let config = self.config;
                self.with_server(now, h, |m, _, out| {
                    if let ServerMachine::Invite(tx) = m {
                        tx.handle_ack(now, ack, &config, out);
                    }
                });
            }
            None => self.events.push_back(TxEvent::Ack { request: ack, from }),
        }
        Ok(())
    }

    /// A new CANCEL: answered here, 200 when it matches an INVITE (which the TU is told about if no
    /// final was sent yet), 481 when it matches none (RFC 3261 §9.2).
    fn handle_cancel(
        &mut self,
        now: Instant,
        key: ServerKey,
        cancel: Request,
        from: Peer,
    ) -> Result<(), TxError> {
        let invite = self
            .server_keys
            .get(&key.with_method(Method::Invite))
            .copied();
        let pending = invite.filter(|&h| match self.servers.get(h).map(|e| &e.machine) {
            Some(ServerMachine::Invite(tx)) => tx.is_proceeding(),
            _ => false,
        });
        let status = if invite.is_some() { 200 } else { 481 };
        let response = Response::for_request(&cancel, status);
        if self.at_limit() {
            // Never shed a CANCEL for load: that would keep its INVITE ringing. Answer statelessly.
            self.transmits.push_back(Transmit {
                to: from,
                message: Message::Response(response),
            });
        } else {
            let reliable = from.transport.is_reliable();
            let machine = ServerMachine::NonInvite(ServerNonInvite::new(reliable));
            self.tally(false, false, 1);
            let h = self.servers.insert(ServerEntry {
                key: key.clone(),
                peer: from,
                announced: false,
                final_to_tag: None,
                machine,
            });
            self.server_keys.insert(key, h);
            self.with_server(now, h, |m, cfg, out| {
                if let ServerMachine::NonInvite(tx) = m {
                    // A fresh Trying transaction accepts any response.
                    let _ = tx.respond(now, response, cfg, out);
                }
            });
        }
        if let Some(h) = pending {
            self.events.push_back(TxEvent::Cancelled {
                invite_tx: ServerTxId(h),
            });
        }
        Ok(())
    }

    /// A response from the TU on a server transaction. Responses go back to where the request came
    /// from (same connection on reliable transports, the source address on UDP, like `rport`).
    pub fn respond(
        &mut self,
        now: Instant,
        tx: ServerTxId,
        response: Response,
    ) -> Result<(), TxError> {
        if !(100..=699).contains(&response.status) {
            return Err(TxError::InvalidStatus(response.status));
        }
        let entry = self
            .servers
            .get_mut(tx.0)
            .ok_or(TxError::UnknownTransaction)?;
        if response.is_final() && matches!(entry.key, ServerKey::Rfc2543 { .. }) {
            let to = response.headers.to_addr().ok();
            entry.final_to_tag = to.and_then(|to| to.tag().map(str::to_owned));
        }
        let mut result = Ok(());
        self.with_server(now, tx.0, |m, cfg, out| {
            result = match m {
                ServerMachine::Invite(t) => t.respond(now, response, cfg, out),
                ServerMachine::NonInvite(t) => t.respond(now, response, cfg, out),
            };
        });
        result
    }
}
