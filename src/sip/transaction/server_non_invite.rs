//! The server non-INVITE transaction (RFC 3261 §17.2.2): repeats the last response to retransmitted
//! requests, Timer J absorbs them after the final.
use std::time::Instant;

use super::timer::TimerConfig;
use super::{Action, TxError};
use crate::sip::message::{Message, Response};

#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    reliable: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Nothing sent yet: retransmissions are absorbed.
    Trying,
    Proceeding {
        last: Response,
    },
    Completed {
        last: Response,
        j: Instant,
    },
    Terminated,
}

impl ServerNonInvite {
    pub(crate) fn new(reliable: bool) -> ServerNonInvite {
        ServerNonInvite {
            reliable,
            state: State::Trying,
        }
    }

    pub(crate) fn state_name(&self) -> &'static str {
        match self.state {
            State::Trying => "Trying",
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
            State::Completed { j, .. } => Some(*j),
            _ => None,
        }
    }

    pub(crate) fn handle_retransmission(&mut self, out: &mut Vec<Action>) {
        match &self.state {
            State::Proceeding { last } | State::Completed { last, .. } => {
                out.push(Action::Send {
                    message: Message::Response(last.clone()),
                    retransmission: true,
                });
            }
            State::Trying | State::Terminated => {}
        }
    }

    pub(crate) fn respond(
        &mut self,
        now: Instant,
        response: Response,
        cfg: &TimerConfig,
        out: &mut Vec<Action>,
    ) -> Result<(), TxError> {
        match self.state {
            State::Trying | State::Proceeding { .. } => {
                out.push(Action::Send {
                    message: Message::Response(response.clone()),
                    retransmission: false,
                });
                self.state = if response.is_provisional() {
                    State::Proceeding { last: response }
                } else {
                    State::Completed {
                        last: response,
                        j: now + cfg.timer_j(self.reliable),
                    }
                };
                Ok(())
            }
            State::Completed { .. } | State::Terminated => Err(TxError::InvalidState {
                state: self.state_name(),
                status: response.status,
            }),
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.next_timeout().is_some_and(|t| t <= now) {
            self.state = State::Terminated;
        }
    }
}
