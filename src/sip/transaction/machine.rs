//! The two client and two server state machines behind one type each, so the layer stores and
//! drives them uniformly.
use std::time::Instant;

use super::client_invite::ClientInvite;
use super::client_non_invite::ClientNonInvite;
use super::server_invite::ServerInvite;
use super::server_non_invite::ServerNonInvite;
use super::timer::TimerConfig;
use super::Action;
use crate::sip::message::Request;

#[derive(Debug)]
pub(crate) enum ClientMachine {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

#[derive(Debug)]
pub(crate) enum ServerMachine {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

impl ClientMachine {
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        match self {
            ClientMachine::Invite(t) => t.next_timeout(),
            ClientMachine::NonInvite(t) => t.next_timeout(),
        }
    }

    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) {
        match self {
            ClientMachine::Invite(t) => t.handle_timeout(now, out),
            ClientMachine::NonInvite(t) => t.handle_timeout(now, cfg, out),
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        match self {
            ClientMachine::Invite(t) => t.is_terminated(),
            ClientMachine::NonInvite(t) => t.is_terminated(),
        }
    }

    pub(crate) fn terminate(&mut self) {
        match self {
            ClientMachine::Invite(t) => t.terminate(),
            ClientMachine::NonInvite(t) => t.terminate(),
        }
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self {
            ClientMachine::Invite(t) => t.state_name(),
            ClientMachine::NonInvite(t) => t.state_name(),
        }
    }

    pub(crate) fn request(&self) -> &Request {
        match self {
            ClientMachine::Invite(t) => t.request(),
            ClientMachine::NonInvite(t) => t.request(),
        }
    }
}

impl ServerMachine {
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        match self {
            ServerMachine::Invite(t) => t.next_timeout(),
            ServerMachine::NonInvite(t) => t.next_timeout(),
        }
    }

    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) {
        match self {
            ServerMachine::Invite(t) => t.handle_timeout(now, cfg, out),
            ServerMachine::NonInvite(t) => t.handle_timeout(now),
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        match self {
            ServerMachine::Invite(t) => t.is_terminated(),
            ServerMachine::NonInvite(t) => t.is_terminated(),
        }
    }

    pub(crate) fn terminate(&mut self) {
        match self {
            ServerMachine::Invite(t) => t.terminate(),
            ServerMachine::NonInvite(t) => t.terminate(),
        }
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self {
            ServerMachine::Invite(t) => t.state_name(),
            ServerMachine::NonInvite(t) => t.state_name(),
        }
    }
}
