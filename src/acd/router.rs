//! Routing indexes and matching. Calls of a queue are grouped in classes by their exact
//! requirements; each class keeps its waiting calls ordered by (priority, entry) and the available
//! agents qualified for it ordered by (level sum, idle since). An event then costs a few ordered-set
//! operations per class touched, never a scan of all calls or all agents.
//!
//! Invariant after every input: no waiting call has an available agent in its class. So a call
//! that arrives takes the head of its class's agents, and an agent who becomes free takes the best
//! head among the classes it qualifies for.
use std::cmp::Reverse;
use std::time::Instant;

use super::{Acd, AcdEvent, Class, Reqs, St, Timer};
use crate::dialplan::CallAttributes;

/// The agent's level sum over `reqs` if it has every skill at the required level.
fn qualifies(skills: &Reqs, reqs: &Reqs) -> Option<u32> {
    let mut sum = 0u32;
    for (skill, min) in reqs {
        let i = skills.binary_search_by_key(skill, |s| s.0).ok()?;
        let level = skills[i].1;
        if level < *min {
            return None;
        }
        sum += u32::from(level);
    }
    Some(sum)
}

impl Acd {
    /// The requirements of a call in queue `q` after `relaxed` relax rules: the queue's skills, the
    /// call's skills and its language as `lang:<language>`, minus the dropped skills.
    pub(super) fn call_reqs(&mut self, q: usize, attrs: &CallAttributes, relaxed: usize) -> Reqs {
        let language = attrs.language.as_ref().map(|l| format!("lang:{l}"));
        let own = attrs.skills.iter().map(|(s, l)| (s.as_str(), (*l).max(1))).chain(language.as_deref().map(|l| (l, 1)));
        let mut reqs = self.reqs_of(own);
        for &(skill, level) in &self.queues[q].reqs {
            match reqs.binary_search_by_key(&skill, |r| r.0) {
                Ok(i) => reqs[i].1 = reqs[i].1.max(level),
                Err(i) => reqs.insert(i, (skill, level)),
            }
        }
        let dropped: Vec<_> = self.queues[q].relax.iter().take(relaxed).map(|r| r.1).collect();
        reqs.retain(|r| !dropped.contains(&r.0));
        reqs
    }

    /// The class of queue `q` for `reqs`, created (and filled with qualified agents) on first use.
    pub(super) fn class_for(&mut self, q: usize, reqs: Reqs) -> usize {
        if let Some(&c) = self.class_index.get(&(q, reqs.clone())) {
            return c;
        }
        let c = self.classes.len();
        self.classes.push(Class { reqs: reqs.clone(), waiting: Default::default(), available: Default::default() });
        self.class_index.insert((q, reqs), c);
        self.queues[q].classes.push(c);
        for i in 0..self.queues[q].agents.len() {
            let a = self.queues[q].agents[i];
            if let Some(sum) = qualifies(&self.agents[a].skills, &self.classes[c].reqs) {
                self.agents[a].classes.push((c, sum));
                if let (St::Available, Some(idle)) = (&self.agents[a].state, self.agents[a].idle_since) {
                    self.classes[c].available.insert((Reverse(sum), idle, a));
                }
            }
        }
        c
    }

    /// Works out which queues and classes a logging-in agent serves.
    pub(super) fn attach_agent(&mut self, a: usize) {
        let served: Vec<usize> = match &self.agents[a].login_queues {
            Some(list) => list.clone(),
            None => (0..self.queues.len()).filter(|&q| qualifies(&self.agents[a].skills, &self.queues[q].reqs).is_some()).collect(),
        };
        let mut classes = Vec::new();
        for &q in &served {
            self.queues[q].agents.push(a);
            for &c in &self.queues[q].classes {
                if let Some(sum) = qualifies(&self.agents[a].skills, &self.classes[c].reqs) {
                    classes.push((c, sum));
                }
            }
        }
        self.agents[a].queues = served;
        self.agents[a].classes = classes;
    }

    /// Undoes `attach_agent` (the agent must not be in any `available` set).
    pub(super) fn detach_agent(&mut self, a: usize) {
        for q in std::mem::take(&mut self.agents[a].queues) {
            self.queues[q].agents.retain(|&x| x != a);
        }
        self.agents[a].classes.clear();
    }

    fn index_available(&mut self, a: usize, idle: Instant) {
        for &(c, sum) in &self.agents[a].classes {
            self.classes[c].available.insert((Reverse(sum), idle, a));
        }
    }

    fn unindex_available(&mut self, a: usize) {
        let Some(idle) = self.agents[a].idle_since else { return };
        for &(c, sum) in &self.agents[a].classes {
            self.classes[c].available.remove(&(Reverse(sum), idle, a));
        }
    }

    /// Moves agent `a` to `new`: credits the time spent in the old state to the queues it serves,
    /// keeps the available index right and reports the change.
    pub(super) fn set_state(&mut self, now: Instant, a: usize, new: St) {
        let iv = self.ensure_intervals(now);
        if self.agents[a].state == St::Available {
            self.unindex_available(a);
        }
        if let (Some(busy), Some(since)) = (super::state_time(&self.agents[a].state), self.agents[a].since) {
            for i in 0..self.agents[a].queues.len() {
                let q = self.agents[a].queues[i];
                self.queues[q].stats.agent_time(&iv, since, now, busy);
            }
        }
        if let St::WrapUp { until } = self.agents[a].state {
            self.timers.remove(&(until, Timer::WrapUp(a)));
        }
        let available = new == St::Available;
        self.agents[a].state = new;
        self.agents[a].since = Some(now);
        if available {
            self.agents[a].idle_since = Some(now);
            self.index_available(a, now);
        }
        let state = self.public_agent_state(&self.agents[a]);
        self.events.push_back(AcdEvent::AgentState { agent: self.agents[a].cfg.id.clone(), state });
    }

    /// Puts a call (not offered) among the waiting.
    pub(super) fn wait_call(&mut self, c: usize) {
        let Some(call) = self.calls[c].as_ref() else { return };
        let (class, q, key) = (call.class, call.queue, (Reverse(call.priority), call.seq, c));
        self.classes[class].waiting.insert(key);
        self.queues[q].waiting.insert(key.1, c);
    }

    pub(super) fn unwait_call(&mut self, c: usize) {
        let Some(call) = self.calls[c].as_ref() else { return };
        let (class, q, key) = (call.class, call.queue, (Reverse(call.priority), call.seq, c));
        self.classes[class].waiting.remove(&key);
        self.queues[q].waiting.remove(&key.1);
    }

    /// Offers waiting call `c` to the best available agent of its class, if there is one.
    pub(super) fn dispatch_call(&mut self, now: Instant, c: usize) {
        let Some(call) = self.calls[c].as_ref() else { return };
        if call.offered_to.is_some() {
            return;
        }
        if let Some(&(_, _, a)) = self.classes[call.class].available.first() {
            self.offer(now, c, a);
        }
    }

    /// Gives available agent `a` the best waiting call it qualifies for, if any.
    pub(super) fn dispatch_agent(&mut self, now: Instant, a: usize) {
        if self.agents[a].state != St::Available {
            return;
        }
        let best = self.agents[a].classes.iter().filter_map(|&(c, _)| self.classes[c].waiting.first()).min().copied();
        if let Some((_, _, c)) = best {
            self.offer(now, c, a);
        }
    }

    fn offer(&mut self, now: Instant, c: usize, a: usize) {
        self.unwait_call(c);
        let Some(call) = self.calls[c].as_mut() else { return };
        call.offered_to = Some(a);
        let (key, q) = (call.key, call.queue);
        let ring = now + self.queues[q].cfg.ring_timeout;
        self.schedule_call(c, ring, Timer::Ring(c));
        self.set_state(now, a, St::Offered { call: c });
        self.events.push_back(AcdEvent::Offer { call: key, agent: self.agents[a].cfg.id.clone(), queue: self.queues[q].cfg.name.clone() });
    }

    pub(super) fn schedule_call(&mut self, c: usize, at: Instant, timer: Timer) {
        if let Some(call) = self.calls[c].as_mut() {
            call.timers.push((at, timer));
            self.timers.insert((at, timer));
        }
    }

    pub(super) fn cancel_call_timer(&mut self, c: usize, timer: Timer) {
        if let Some(call) = self.calls[c].as_mut() {
            call.timers.retain(|&(at, t)| {
                if t == timer {
                    self.timers.remove(&(at, t));
                }
                t != timer
            });
        }
    }
}
