//! The client non-INVITE transaction (RFC 3261 §17.1.2): Timer E retransmits over UDP, capped at T2,
//! Timer F gives up, Timer K absorbs retransmitted finals.
use std::time::Instant;

use super::timer::{Backoff, TimerConfig, TimerName};
use super::Action;
use crate::sip::message::{Message, Request, Response};

#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    request: Request,
    reliable: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    Trying {
        e: Option<Backoff>,
        f: Instant,
    },
    /// A provisional arrived: Timer E keeps running, at T2 once it next fires.
    Proceeding {
        e: Option<Backoff>,
        f: Instant,
    },
    Completed {
        k: Instant,
    },
    Terminated,
}

impl ClientNonInvite {
    pub(crate) fn start(
        now: Instant,
        request: Request,
        reliable: bool,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) -> ClientNonInvite {
        out.push(Action::Send {
            message: Message::Request(request.clone()),
            retransmission: false,
        });
        let e = (!reliable).then(|| Backoff::start(now, cfg.t1));
        ClientNonInvite {
            request,
            reliable,
            state: State::Trying {
                e,
                f: now + cfg.t1_x64(),
            },
        }
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self.state {
            State::Trying { .. } => "Trying",
            State::Proceeding { .. } => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Terminated => "Terminated",
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    pub(crate) fn terminate(&mut self) {
        self.state = State::Terminated;
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Trying { e, f } | State::Proceeding { e, f } => {
                Some(e.map_or(*f, |e| e.at.min(*f)))
            }
            State::Completed { k } => Some(*k),
            State::Terminated => None,
        }
    }

    pub(crate) fn handle_response(
        &mut self,
        now: Instant,
        response: Response,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) {
        match self.state {
            State::Trying { e, f } | State::Proceeding { e, f } => {
                if response.is_provisional() {
                    self.state = State::Proceeding { e, f };
                } else {
                    self.state = State::Completed {
                        k: now + cfg.t4_or_zero(self.reliable),
                    };
                }
                out.push(Action::Response(response));
            }
            State::Completed { .. } | State::Terminated => {}
        }
    }

    /// Fires every timer due at `now`, earliest first.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) {
        while self.next_timeout().is_some_and(|t| t <= now) {
            // In Proceeding every retransmission waits T2 (RFC 3261 §17.1.2.2).
            let proceeding = matches!(self.state, State::Proceeding { .. });
            match &mut self.state {
                State::Trying { e, f } | State::Proceeding { e, f } => match e {
                    Some(backoff) if backoff.at < *f => {
                        out.push(Action::Send {
                            message: Message::Request(self.request.clone()),
                            retransmission: true,
                        });
                        *backoff = if proceeding {
                            Backoff {
                                at: now + cfg.t2,
                                interval: cfg.t2,
                            }
                        } else {
                            backoff.next(now, Some(cfg.t2))
                        };
                    }
                    _ => {
                        out.push(Action::Timeout(TimerName::F));
                        self.state = State::Terminated;
                    }
                },
                State::Completed { .. } => self.state = State::Terminated,
                State::Terminated => break,
            }
        }
    }
}
