//! The server INVITE transaction (RFC 3261 §17.2.1 with RFC 6026's Accepted state): answers 100 at
//! once, repeats the last response to retransmitted INVITEs, retransmits a non-2xx final on Timer G
//! until the ACK, gives up on Timer H.
use std::time::Instant;

use super::timer::{Backoff, TimerConfig, TimerName};
use super::{Action, TxError};
use crate::sip::message::{Message, Request, Response};

#[derive(Debug)]
pub(crate) struct ServerInvite {
    reliable: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Holds the last provisional sent (at least our 100 Trying).
    Proceeding {
        last: Response,
    },
    /// A non-2xx final was sent; Timer G (UDP only) repeats it until the ACK, Timer H gives up.
    Completed {
        last: Response,
        g: Option<Backoff>,
        h: Instant,
    },
    /// The ACK arrived; Timer I absorbs ACK retransmissions.
    Confirmed {
        i: Instant,
    },
    /// A 2xx was sent (RFC 6026); the TU retransmits it, Timer L absorbs INVITE retransmissions.
    Accepted {
        l: Instant,
    },
    Terminated,
}

impl ServerInvite {
    /// Starts the transaction by sending `trying` (a 100 built from the INVITE).
    pub(crate) fn start(trying: Response, reliable: bool, out: &mut Vec<Action>) -> ServerInvite {
        out.push(Action::Send {
            message: Message::Response(trying.clone()),
            retransmission: false,
        });
        ServerInvite {
            reliable,
            state: State::Proceeding { last: trying },
        }
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self.state {
            State::Proceeding { .. } => "Proceeding",
            State::Completed { .. } => "Completed",
            State::Confirmed { .. } => "Confirmed",
            State::Accepted { .. } => "Accepted",
            State::Terminated => "Terminated",
        }
    }

    /// No final response sent yet: a CANCEL still has an effect.
    pub(crate) fn is_proceeding(&self) -> bool {
        matches!(self.state, State::Proceeding { .. })
    }

    pub(crate) fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    pub(crate) fn terminate(&mut self) {
        self.state = State::Terminated;
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Proceeding { .. } | State::Terminated => None,
            State::Completed { g, h, .. } => Some(g.map_or(*h, |g| g.at.min(*h))),
            State::Confirmed { i } => Some(*i),
            State::Accepted { l } => Some(*l),
        }
    }

    /// A retransmission of the INVITE: repeat the last provisional or the non-2xx final; absorbed
    /// once the ACK arrived or a 2xx was sent (the TU retransmits 2xx itself).
    pub(crate) fn handle_retransmission(&mut self, out: &mut Vec<Action>) {
        match &self.state {
            State::Proceeding { last } | State::Completed { last, .. } => {
                out.push(Action::Send {
                    message: Message::Response(last.clone()),
                    retransmission: true,
                });
            }
            State::Confirmed { .. } | State::Accepted { .. } | State::Terminated => {}
        }
    }

    /// An ACK matching this transaction: for a non-2xx it ends Timer G; in Accepted it is handed to
    /// the TU (RFC 6026 §8.7); anything else is an absorbed retransmission.
    pub(crate) fn handle_ack(
        &mut self,
        now: Instant,
        ack: Request,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) {
        match self.state {
            State::Completed { .. } => {
                self.state = State::Confirmed {
                    i: now + cfg.t4_or_zero(self.reliable),
                };
            }
            State::Accepted { .. } => out.push(Action::Ack(ack)),
            State::Proceeding { .. } | State::Confirmed { .. } | State::Terminated => {}
        }
    }

    /// A response from the TU.
    pub(crate) fn respond(
        &mut self,
        now: Instant,
        response: Response,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) -> Result<(), TxError> {
        match &self.state {
            State::Proceeding { .. } => {
                let message = Message::Response(response.clone());
                out.push(Action::Send {
                    message,
                    retransmission: false,
                });
                self.state = if response.is_provisional() {
                    State::Proceeding { last: response }
                } else if response.is_success() {
                    State::Accepted {
                        l: now + cfg.t1_x64(),
                    }
                } else {
                    let g = (!self.reliable).then(|| Backoff::start(now, cfg.t1));
                    State::Completed {
                        last: response,
                        g,
                        h: now + cfg.t1_x64(),
                    }
                };
                Ok(())
            }
            State::Accepted { .. } if response.is_success() => {
                out.push(Action::Send {
                    message: Message::Response(response),
                    retransmission: true,
                });
                Ok(())
            }
            _ => Err(TxError::InvalidState {
                state: self.state_name(),
                status: response.status,
            }),
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
            match &mut self.state {
                State::Completed { last, g, h } => match g {
                    Some(backoff) if backoff.at < *h => {
                        out.push(Action::Send {
                            message: Message::Response(last.clone()),
                            retransmission: true,
                        });
                        *backoff = backoff.next(now, Some(cfg.t2));
                    }
                    _ => {
                        out.push(Action::Timeout(TimerName::H));
                        self.state = State::Terminated;
                    }
                },
                State::Confirmed { .. } | State::Accepted { .. } => self.state = State::Terminated,
                State::Proceeding { .. } | State::Terminated => break,
            }
        }
    }
}
