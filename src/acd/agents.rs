//! Agent inputs: login and logout, breaks, back to available, and the end of a call (wrap-up).
use std::time::Instant;

use super::{Acd, AcdError, St, Timer};

impl Acd {
    fn agent_idx(&self, id: &str) -> Result<usize, AcdError> {
        self.agent_index.get(id).copied().ok_or_else(|| AcdError::UnknownAgent(id.to_owned()))
    }

    /// Logs an agent in, available at once. `queues` overrides the configured queues for this
    /// login; with neither, the agent serves every queue whose required skills it has. Logging in
    /// again while logged in (not on a call) applies the new queue list.
    pub fn agent_login(&mut self, now: Instant, id: &str, queues: Option<Vec<String>>) -> Result<(), AcdError> {
        let a = self.agent_idx(id)?;
        let login_queues = match queues.or_else(|| self.agents[a].cfg.queues.clone()) {
            None => None,
            Some(names) => Some(names.iter().map(|n| self.queue_index.get(n).copied().ok_or_else(|| AcdError::UnknownQueue(n.clone()))).collect::<Result<Vec<_>, _>>()?),
        };
        match self.agents[a].state {
            St::Offered { .. } | St::OnCall { .. } => return Err(AcdError::AgentBusy(id.to_owned())),
            St::LoggedOut => {}
            _ => {
                self.set_state(now, a, St::LoggedOut);
                self.detach_agent(a);
            }
        }
        self.agents[a].login_queues = login_queues;
        self.agents[a].pending_break = None;
        self.attach_agent(a);
        self.set_state(now, a, St::Available);
        self.dispatch_agent(now, a);
        Ok(())
    }

    /// Logs an agent out. A call ringing at the agent is withdrawn and offered to the next agent;
    /// a connected call goes on in the B2BUA without the ACD. Calls waiting in the agent's queues
    /// stay queued.
    pub fn agent_logout(&mut self, now: Instant, id: &str) -> Result<(), AcdError> {
        let a = self.agent_idx(id)?;
        match self.agents[a].state {
            St::LoggedOut => return Ok(()),
            St::Offered { call } => {
                self.take_back(call, a, true);
                self.set_state(now, a, St::LoggedOut);
                self.detach_agent(a);
                self.requeue(now, call);
            }
            _ => {
                self.set_state(now, a, St::LoggedOut);
                self.detach_agent(a);
            }
        }
        self.agents[a].pending_break = None;
        Ok(())
    }

    /// Puts an agent on break. On a call, the break starts when the call and its wrap-up end; a
    /// call ringing at the agent is withdrawn and offered to the next agent.
    pub fn agent_break(&mut self, now: Instant, id: &str, reason: &str) -> Result<(), AcdError> {
        let a = self.agent_idx(id)?;
        match self.agents[a].state {
            St::LoggedOut => return Err(AcdError::NotLoggedIn(id.to_owned())),
            St::OnCall { .. } => self.agents[a].pending_break = Some(reason.to_owned()),
            St::Offered { call } => {
                self.take_back(call, a, true);
                self.set_state(now, a, St::Break(reason.to_owned()));
                self.requeue(now, call);
            }
            _ => self.set_state(now, a, St::Break(reason.to_owned())),
        }
        Ok(())
    }

    /// Back from a break, or wrap-up ended early by the agent.
    pub fn agent_available(&mut self, now: Instant, id: &str) -> Result<(), AcdError> {
        let a = self.agent_idx(id)?;
        match self.agents[a].state {
            St::LoggedOut => return Err(AcdError::NotLoggedIn(id.to_owned())),
            St::Offered { .. } | St::OnCall { .. } => return Err(AcdError::AgentBusy(id.to_owned())),
            St::Available => return Ok(()),
            St::WrapUp { .. } | St::Break(_) => {}
        }
        self.agents[a].pending_break = None;
        self.set_state(now, a, St::Available);
        self.dispatch_agent(now, a);
        Ok(())
    }

    /// The agent's call ended (either side hung up): wrap-up for the queue's `wrap_up`, then
    /// available (or the break asked for during the call).
    pub fn call_ended(&mut self, now: Instant, id: &str) -> Result<(), AcdError> {
        let a = self.agent_idx(id)?;
        let St::OnCall { queue, since, .. } = self.agents[a].state else { return Err(AcdError::NotOnCall(id.to_owned())) };
        let wrap = self.queues[queue].cfg.wrap_up;
        let q = &mut self.queues[queue];
        q.handled += 1;
        q.handle_total += now.saturating_duration_since(since) + wrap;
        if wrap.is_zero() {
            self.end_wrap_up(now, a);
        } else {
            let until = now + wrap;
            self.set_state(now, a, St::WrapUp { until });
            self.timers.insert((until, Timer::WrapUp(a)));
        }
        Ok(())
    }

    pub(super) fn end_wrap_up(&mut self, now: Instant, a: usize) {
        match self.agents[a].pending_break.take() {
            Some(reason) => self.set_state(now, a, St::Break(reason)),
            None => {
                self.set_state(now, a, St::Available);
                self.dispatch_agent(now, a);
            }
        }
    }
}
