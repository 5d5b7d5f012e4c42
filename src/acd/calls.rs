//! Call inputs (enqueue, abandon, the answer to an offer) and the timers that act on calls and
//! queues (ring timeout, max wait, relaxation, position announcements).
use std::cmp::Reverse;
use std::time::{Duration, Instant};

use super::{Acd, AcdError, AcdEvent, Call, CallKey, EnqueueRefused, Outcome, OverflowTarget, St, Timer, BREAK_MISSED};
use crate::dialplan::{local_time, CallAttributes};

enum Refusal {
    Closed,
    Full,
    NoAgents,
}

impl Acd {
    /// Puts a call in `queue`. `unix_s` (seconds since the Unix epoch, UTC) decides opening hours.
    /// A closed, full or unstaffed queue refuses the call; when its overflow target is another
    /// queue the call goes there instead (reported as `AcdEvent::Overflow`), otherwise the refusal
    /// names the target left to the B2BUA. The call may be offered at once: drain `poll_event`.
    pub fn enqueue(&mut self, now: Instant, unix_s: i64, call: CallKey, queue: &str, attrs: CallAttributes) -> Result<(), EnqueueRefused> {
        self.ensure_intervals(now);
        if self.call_index.contains_key(&call) {
            return Err(EnqueueRefused::Duplicate(call));
        }
        let q = *self.queue_index.get(queue).ok_or_else(|| EnqueueRefused::UnknownQueue(queue.to_owned()))?;
        let at = self.events.len();
        let placed = self.admit(now, unix_s, call, attrs, q, now, None, vec![q])?;
        if placed != q {
            // Reported before any offer the admission produced, so the B2BUA learns the queue first.
            let to = OverflowTarget::Queue(self.queues[placed].cfg.name.clone());
            self.events.insert(at, AcdEvent::Overflow { call, to });
        }
        Ok(())
    }

    /// The caller hung up while waiting or while an agent's phone rang (the B2BUA cancels that leg;
    /// the agent becomes available again).
    pub fn abandon(&mut self, now: Instant, call: CallKey) -> Result<(), AcdError> {
        let c = *self.call_index.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let Some(gone) = self.remove_call(c) else { return Err(AcdError::UnknownCall(call)) };
        self.record_outcome(now, &gone, None, Outcome::Abandoned);
        if let Some(a) = gone.offered_to {
            self.set_state(now, a, St::Available);
            self.dispatch_agent(now, a);
        }
        Ok(())
    }

    /// The agent answered the offered call: the call leaves the ACD, the agent is on the call.
    pub fn offer_accepted(&mut self, now: Instant, call: CallKey, agent: &str) -> Result<(), AcdError> {
        let (c, a) = self.offered_pair(call, agent)?;
        let Some(gone) = self.remove_call(c) else { return Err(AcdError::UnknownCall(call)) };
        self.set_state(now, a, St::OnCall { call, queue: gone.queue, since: now });
        self.record_outcome(now, &gone, Some(a), Outcome::Answered);
        Ok(())
    }

    /// The agent's leg failed (busy, rejected, unreachable): the agent goes on break `missed` and
    /// the call goes to the next agent.
    pub fn offer_failed(&mut self, now: Instant, call: CallKey, agent: &str) -> Result<(), AcdError> {
        let (c, a) = self.offered_pair(call, agent)?;
        self.miss(now, c, a, false);
        Ok(())
    }

    /// Runs every timer due at `now`. `unix_s` is the wall clock for opening hours of queues that
    /// calls overflow into.
    pub fn handle_timeout(&mut self, now: Instant, unix_s: i64) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, timer));
            match timer {
                Timer::MaxWait(c) | Timer::Relax(c) | Timer::Ring(c) => {
                    if let Some(call) = self.calls[c].as_mut() {
                        call.timers.retain(|t| *t != (at, timer));
                    }
                }
                Timer::WrapUp(_) | Timer::Position(_) => {}
            }
            match timer {
                Timer::Ring(c) => {
                    if let Some(a) = self.call(c).and_then(|call| call.offered_to) {
                        self.miss(now, c, a, true);
                    }
                }
                Timer::MaxWait(c) => self.max_wait(now, unix_s, c),
                Timer::Relax(c) => self.relax(now, c),
                Timer::Position(q) => self.announce_positions(now, q),
                Timer::WrapUp(a) => {
                    if matches!(self.agents[a].state, St::WrapUp { until } if until == at) {
                        self.end_wrap_up(now, a);
                    }
                }
            }
        }
    }

    fn offered_pair(&self, call: CallKey, agent: &str) -> Result<(usize, usize), AcdError> {
        let a = *self.agent_index.get(agent).ok_or_else(|| AcdError::UnknownAgent(agent.to_owned()))?;
        let c = *self.call_index.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if self.call(c).and_then(|x| x.offered_to) != Some(a) {
            return Err(AcdError::NotOffered { call, agent: agent.to_owned() });
        }
        Ok((c, a))
    }

    /// Takes an offered call back from agent `a` (who goes on break `missed`) and queues it again.
    fn miss(&mut self, now: Instant, c: usize, a: usize, withdraw: bool) {
        self.take_back(c, a, withdraw);
        self.set_state(now, a, St::Break(BREAK_MISSED.to_owned()));
        self.requeue(now, c);
    }

    /// Ends an offer on the call's side; the caller sets the agent's new state, then `requeue`s.
    pub(super) fn take_back(&mut self, c: usize, a: usize, withdraw: bool) {
        self.cancel_call_timer(c, Timer::Ring(c));
        let Some(call) = self.calls[c].as_mut() else { return };
        call.offered_to = None;
        if withdraw {
            let key = call.key;
            self.events.push_back(AcdEvent::OfferWithdrawn { call: key, agent: self.agents[a].cfg.id.clone() });
        }
    }

    /// A call whose offer ended waits again at its old place, and is offered to the next agent.
    pub(super) fn requeue(&mut self, now: Instant, c: usize) {
        let Some(call) = self.calls[c].as_ref() else { return };
        let q = call.queue;
        let overdue = self.queues[q].cfg.max_wait.is_some_and(|mw| now >= call.entered_queue + mw)
            && !call.timers.iter().any(|t| matches!(t.1, Timer::MaxWait(_)));
        self.wait_call(c);
        if overdue {
            // Its max wait passed while it rang; handle_timeout (which knows the wall clock for
            // the overflow queue's hours) moves it on now, unless an agent takes it first.
            self.schedule_call(c, now, Timer::MaxWait(c));
        }
        self.dispatch_call(now, c);
    }

    #[allow(clippy::too_many_arguments)]
    fn admit(&mut self, now: Instant, unix_s: i64, key: CallKey, attrs: CallAttributes, first: usize, entered_acd: Instant, seq: Option<u64>, mut visited: Vec<usize>) -> Result<usize, EnqueueRefused> {
        let iv = self.ensure_intervals(now);
        let mut q = first;
        loop {
            let queue = &self.queues[q];
            let open = queue.cfg.hours.as_ref().is_none_or(|w| {
                let (day, minute) = local_time(unix_s, w.utc_offset_min);
                w.contains(day, minute)
            });
            let refusal = if !open {
                Some(Refusal::Closed)
            } else if queue.cfg.max_length.is_some_and(|m| queue.waiting.len() >= m) {
                Some(Refusal::Full)
            } else if queue.agents.is_empty() {
                Some(Refusal::NoAgents)
            } else {
                None
            };
            let Some(refusal) = refusal else {
                self.insert_call(now, key, attrs, q, entered_acd, seq);
                return Ok(q);
            };
            self.queues[q].stats.count(&iv, now, |c| c.refused += 1);
            let overflow = self.queues[q].cfg.overflow.clone();
            let next = match &overflow {
                Some(OverflowTarget::Queue(name)) => self.queue_index.get(name).copied().filter(|n| !visited.contains(n)),
                _ => None,
            };
            if let Some(n) = next {
                visited.push(n);
                q = n;
                continue;
            }
            // An overflow chain that loops back ends here with nothing left for the B2BUA.
            let overflow = overflow.filter(|o| !matches!(o, OverflowTarget::Queue(_)));
            let queue = self.queues[q].cfg.name.clone();
            return Err(match refusal {
                Refusal::Closed => EnqueueRefused::Closed { queue, overflow },
                Refusal::Full => EnqueueRefused::Full { queue, overflow },
                Refusal::NoAgents => EnqueueRefused::NoAgents { queue, overflow },
            });
        }
    }

    fn insert_call(&mut self, now: Instant, key: CallKey, attrs: CallAttributes, q: usize, entered_acd: Instant, seq: Option<u64>) {
        let seq = seq.unwrap_or_else(|| {
            self.next_seq += 1;
            self.next_seq
        });
        let cfg = &self.queues[q].cfg;
        let base = attrs.priority.unwrap_or(cfg.default_priority);
        let priority = cfg.priority_rules.iter().filter(|r| attrs.tags.get(&r.tag) == Some(&r.equals)).map(|r| r.priority).fold(base, i64::max);
        let (max_wait, position_every) = (cfg.max_wait, cfg.position_every);
        let first_relax = self.queues[q].relax.first().map(|r| r.0);
        let reqs = self.call_reqs(q, &attrs, 0);
        let class = self.class_for(q, reqs);
        let call = Call { key, attrs, queue: q, class, priority, seq, entered_acd, entered_queue: now, relaxed: 0, offered_to: None, timers: Vec::new() };
        let c = match self.free_calls.pop() {
            Some(c) => {
                self.calls[c] = Some(call);
                c
            }
            None => {
                self.calls.push(Some(call));
                self.calls.len() - 1
            }
        };
        self.call_index.insert(key, c);
        self.wait_call(c);
        let iv = self.ensure_intervals(now);
        self.queues[q].stats.count(&iv, now, |s| s.offered += 1);
        if let Some(mw) = max_wait {
            self.schedule_call(c, now + mw, Timer::MaxWait(c));
        }
        if let Some(after) = first_relax {
            self.schedule_call(c, now + after, Timer::Relax(c));
        }
        if self.queues[q].position_at.is_none() {
            let at = now + position_every;
            self.queues[q].position_at = Some(at);
            self.timers.insert((at, Timer::Position(q)));
        }
        self.dispatch_call(now, c);
    }

    /// Takes a call out of every index and timer; the slot is reused.
    fn remove_call(&mut self, c: usize) -> Option<Call> {
        if self.call(c)?.offered_to.is_none() {
            self.unwait_call(c);
        }
        let call = self.calls[c].take()?;
        for t in &call.timers {
            self.timers.remove(t);
        }
        self.call_index.remove(&call.key);
        self.free_calls.push(c);
        Some(call)
    }

    fn record_outcome(&mut self, now: Instant, call: &Call, agent: Option<usize>, outcome: Outcome) {
        let iv = self.ensure_intervals(now);
        let q = &mut self.queues[call.queue];
        let target = q.cfg.sl_target;
        q.stats.outcome(&iv, now, outcome, now.saturating_duration_since(call.entered_queue), target);
        self.events.push_back(AcdEvent::CallOutcome {
            call: call.key,
            queue: q.cfg.name.clone(),
            agent: agent.map(|a| self.agents[a].cfg.id.clone()),
            wait: now.saturating_duration_since(call.entered_acd),
            outcome,
        });
    }

    fn max_wait(&mut self, now: Instant, unix_s: i64, c: usize) {
        let Some(call) = self.call(c) else { return };
        if call.offered_to.is_some() {
            // Ringing now; `requeue` reschedules this if the offer fails.
            return;
        }
        let Some(gone) = self.remove_call(c) else { return };
        let target = self.queues[gone.queue].cfg.overflow.clone();
        let outcome = if target.is_some() { Outcome::Overflowed } else { Outcome::TimedOut };
        self.record_outcome(now, &gone, None, outcome);
        let key = gone.key;
        let event = match target {
            None => AcdEvent::TimedOut { call: key },
            Some(OverflowTarget::Queue(name)) => match self.queue_index.get(&name).copied() {
                None => AcdEvent::TimedOut { call: key },
                Some(next) => {
                    let at = self.events.len();
                    match self.admit(now, unix_s, key, gone.attrs, next, gone.entered_acd, Some(gone.seq), vec![gone.queue, next]) {
                        Ok(placed) => {
                            let to = OverflowTarget::Queue(self.queues[placed].cfg.name.clone());
                            self.events.insert(at, AcdEvent::Overflow { call: key, to });
                            return;
                        }
                        Err(e) => match e.overflow() {
                            Some(t) => AcdEvent::Overflow { call: key, to: t.clone() },
                            None => AcdEvent::TimedOut { call: key },
                        },
                    }
                }
            },
            Some(t) => AcdEvent::Overflow { call: key, to: t },
        };
        self.events.push_back(event);
    }

    fn relax(&mut self, now: Instant, c: usize) {
        let Some(call) = self.call(c) else { return };
        let (q, relaxed, waiting) = (call.queue, call.relaxed + 1, call.offered_to.is_none());
        let attrs = call.attrs.clone();
        let entered = call.entered_queue;
        let reqs = self.call_reqs(q, &attrs, relaxed);
        let class = self.class_for(q, reqs);
        if waiting {
            self.unwait_call(c);
        }
        if let Some(call) = self.calls[c].as_mut() {
            call.relaxed = relaxed;
            call.class = class;
        }
        if let Some(&(after, _)) = self.queues[q].relax.get(relaxed) {
            self.schedule_call(c, entered + after, Timer::Relax(c));
        }
        if waiting {
            self.wait_call(c);
            self.dispatch_call(now, c);
        }
    }

    fn announce_positions(&mut self, now: Instant, q: usize) {
        self.queues[q].position_at = None;
        if self.queues[q].waiting.is_empty() {
            return;
        }
        let mut order: Vec<(Reverse<i64>, u64, usize)> = self.queues[q].classes.iter().flat_map(|&cl| self.classes[cl].waiting.iter().copied()).collect();
        order.sort_unstable();
        let queue = &self.queues[q];
        let staffed = queue.agents.iter().filter(|&&a| !matches!(self.agents[a].state, St::Break(_) | St::LoggedOut)).count() as u32;
        let aht = (queue.handled > 0).then(|| queue.handle_total / u32::try_from(queue.handled).unwrap_or(u32::MAX));
        for (i, &(_, _, c)) in order.iter().enumerate() {
            let Some(call) = self.call(c) else { continue };
            let position = i + 1;
            let eta = match aht {
                Some(aht) if staffed > 0 => Some(aht * (u32::try_from(position).unwrap_or(u32::MAX).div_ceil(staffed))),
                _ => None,
            };
            self.events.push_back(AcdEvent::Position { call: call.key, queue: queue.cfg.name.clone(), position, eta });
        }
        let at = now + queue.cfg.position_every.max(Duration::from_secs(1));
        self.queues[q].position_at = Some(at);
        self.timers.insert((at, Timer::Position(q)));
    }
}
