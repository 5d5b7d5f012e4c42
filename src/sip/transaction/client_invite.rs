//! The client INVITE transaction (RFC 3261 §17.1.1 with RFC 6026's Accepted state): retransmits the
//! INVITE on Timer A over UDP, gives up on Timer B, acknowledges non-2xx finals itself.
use std::time::Instant;

use super::timer::{Backoff, TimerConfig, TimerName};
use super::Action;
use crate::sip::message::{HeaderName, Message, Request, Response};

#[derive(Debug)]
pub(crate) struct ClientInvite {
    request: Request,
    /// The hop-by-hop ACK for a non-2xx final, complete but for the To header, which comes from the
    /// response (RFC 3261 §17.1.1.3).
    ack_template: Request,
    reliable: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    /// INVITE sent, nothing heard. Timer A only over UDP.
    Calling {
        a: Option<Backoff>,
        b: Instant,
    },
    /// A provisional arrived. `cancelled_at` is set once the TU sent a CANCEL: if no final response
    /// arrives 64·T1 after that, the transaction is destroyed (RFC 3261 §9.1).
    Proceeding {
        give_up: Option<Instant>,
    },
    /// A non-2xx final arrived and was acknowledged; retransmitted finals get the ACK again.
    Completed {
        ack: Request,
        d: Instant,
    },
    /// A 2xx arrived (RFC 6026); further 2xx (retransmissions, forks) go to the TU for re-ACK.
    Accepted {
        m: Instant,
    },
    Terminated,
}

impl ClientInvite {
    /// Starts the transaction and queues the first transmission.
    pub(crate) fn start(
        now: Instant,
        request: Request,
        ack_template: Request,
        reliable: bool,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) -> ClientInvite {
        out.push(Action::Send {
            message: Message::Request(request.clone()),
            retransmission: false,
        });
        let a = (!reliable).then(|| Backoff::start(now, cfg.t1));
        let state = State::Calling {
            a,
            b: now + cfg.t1_x64(),
        };
        ClientInvite {
            request,
            ack_template,
            reliable,
            state,
        }
    }

    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self.state {
            State::Calling { .. } => "Calling",
            State::Proceeding { .. } => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Accepted { .. } => "Accepted",
            State::Terminated => "Terminated",
        }
    }

    /// A CANCEL may be sent only once a provisional response has arrived (RFC 3261 §9.1).
    pub(crate) fn can_cancel(&self) -> bool {
        matches!(self.state, State::Proceeding { .. })
    }

    /// Records that the TU sent a CANCEL: the transaction now ends 64·T1 later if no final arrives.
    pub(crate) fn cancel_sent(&mut self, now: Instant, cfg: &TimerConfig) {
        if let State::Proceeding { give_up } = &mut self.state {
            give_up.get_or_insert(now + cfg.t1_x64());
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
            State::Calling { a, b } => Some(a.map_or(*b, |a| a.at.min(*b))),
            State::Proceeding { give_up } => *give_up,
            State::Completed { d, .. } => Some(*d),
            State::Accepted { m } => Some(*m),
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
        match &self.state {
            State::Calling { .. } | State::Proceeding { .. } => {
                if response.is_provisional() {
                    if let State::Calling { .. } = self.state {
                        self.state = State::Proceeding { give_up: None };
                    }
                } else if response.is_success() {
                    self.state = State::Accepted {
                        m: now + cfg.t1_x64(),
                    };
                } else {
                    let ack = self.build_ack(&response);
                    out.push(Action::Send {
                        message: Message::Request(ack.clone()),
                        retransmission: false,
                    });
                    self.state = State::Completed {
                        ack,
                        d: now + cfg.timer_d(self.reliable),
                    };
                }
                out.push(Action::Response(response));
            }
            State::Completed { ack, .. } => {
                if response.is_final() && !response.is_success() {
                    out.push(Action::Send {
                        message: Message::Request(ack.clone()),
                        retransmission: true,
                    });
                }
            }
            State::Accepted { .. } => {
                if response.is_success() {
                    out.push(Action::Response(response));
                }
            }
            State::Terminated => {}
        }
    }

    /// Fires every timer due at `now`, earliest first.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        while self.next_timeout().is_some_and(|t| t <= now) {
            match &mut self.state {
                State::Calling { a, b } => match a {
                    Some(backoff) if backoff.at < *b => {
                        out.push(Action::Send {
                            message: Message::Request(self.request.clone()),
                            retransmission: true,
                        });
                        *backoff = backoff.next(now, None);
                    }
                    _ => {
                        out.push(Action::Timeout(TimerName::B));
                        self.state = State::Terminated;
                    }
                },
                State::Proceeding { .. } | State::Completed { .. } | State::Accepted { .. } => {
                    self.state = State::Terminated;
                }
                State::Terminated => break,
            }
        }
    }

    fn build_ack(&self, response: &Response) -> Request {
        let mut ack = self.ack_template.clone();
        if let Some(to) = response.headers.get(&HeaderName::To) {
            ack.headers.set(HeaderName::To, to);
        }
        ack
    }
}
