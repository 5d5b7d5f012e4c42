//! Runtime provisioning: add or change an agent (`upsert_agent`) and remove one (`remove_agent`)
//! while calls are being routed, without a restart.
//!
//! A change to a logged-in agent applies at once and keeps its state: new skills or queues move
//! it between routing classes, and an available agent who now qualifies for a waiting call is
//! offered it straight away. Queues the agent picked at login (`agent_login` with a list) stay
//! picked unless the change names new queues. The time of the state the agent is in when the
//! change lands is credited, at the next state change, to the queues it serves then.
//!
//! Removal is refused while a call rings at the agent or is connected to it
//! (`AcdError::AgentBusy`): the operator logs the agent out or waits for the call to end. A
//! logged-in agent with no call is logged out first (reported as an `AgentState` event), so
//! routing never points at a removed agent.
use std::cmp::Reverse;
use std::time::Instant;

use super::{Acd, AcdError, Agent, AgentConfig, St, Timer};

impl Acd {
    /// Adds an agent (logged out) or changes an existing one. An unknown queue name refuses the
    /// whole change.
    pub fn upsert_agent(&mut self, now: Instant, cfg: AgentConfig) -> Result<(), AcdError> {
        let login_queues = match &cfg.queues {
            None => None,
            Some(names) => Some(names.iter().map(|n| self.queue_index.get(n).copied().ok_or_else(|| AcdError::UnknownQueue(n.clone()))).collect::<Result<Vec<_>, _>>()?),
        };
        let skills = self.reqs_of(cfg.skills.iter().map(|(s, l)| (s.as_str(), *l)));
        let Some(&a) = self.agent_index.get(&cfg.id) else {
            self.agent_index.insert(cfg.id.clone(), self.agents.len());
            self.agents.push(Agent::logged_out(cfg, skills, login_queues));
            return Ok(());
        };
        // Queues chosen at login differ from the configured ones; they survive a change that
        // leaves the configured queues as they were.
        let configured: Option<Vec<usize>> = self.agents[a].cfg.queues.as_ref().map(|qs| qs.iter().filter_map(|q| self.queue_index.get(q).copied()).collect());
        let chosen_at_login = self.agents[a].state != St::LoggedOut && self.agents[a].login_queues != configured;
        let keep_login = chosen_at_login && cfg.queues == self.agents[a].cfg.queues;
        let new_login = if keep_login { self.agents[a].login_queues.clone() } else { login_queues };
        if self.agents[a].state == St::LoggedOut {
            let agent = &mut self.agents[a];
            (agent.cfg, agent.skills, agent.login_queues) = (cfg, skills, new_login);
            return Ok(());
        }
        let idle = match self.agents[a].state {
            St::Available => self.agents[a].idle_since,
            _ => None,
        };
        if let Some(idle) = idle {
            for &(c, sum) in &self.agents[a].classes {
                self.classes[c].available.remove(&(Reverse(sum), idle, a));
            }
        }
        self.detach_agent(a);
        let agent = &mut self.agents[a];
        (agent.cfg, agent.skills, agent.login_queues) = (cfg, skills, new_login);
        self.attach_agent(a);
        if let Some(idle) = idle {
            for &(c, sum) in &self.agents[a].classes {
                self.classes[c].available.insert((Reverse(sum), idle, a));
            }
            self.dispatch_agent(now, a);
        }
        Ok(())
    }

    /// Removes an agent; `Ok(false)` when there is none with this id. Refused with
    /// `AcdError::AgentBusy` while a call rings at the agent or is connected to it.
    pub fn remove_agent(&mut self, now: Instant, id: &str) -> Result<bool, AcdError> {
        let Some(&a) = self.agent_index.get(id) else { return Ok(false) };
        match self.agents[a].state {
            St::Offered { .. } | St::OnCall { .. } => return Err(AcdError::AgentBusy(id.to_owned())),
            St::LoggedOut => {}
            _ => self.agent_logout(now, id)?,
        }
        // Logged out: detached from queues and classes, no wrap-up timer, no offered call.
        self.agent_index.remove(id);
        let last = self.agents.len() - 1;
        self.agents.swap_remove(a);
        if a != last {
            self.renumber_agent(last, a);
        }
        Ok(true)
    }

    /// When the agent's current state began (`None` before its first login, or no such agent).
    pub fn agent_since(&self, id: &str) -> Option<Instant> {
        self.agent_index.get(id).and_then(|&a| self.agents[a].since)
    }

    /// The agent that was at index `from` is now at `to`: every index that names it follows.
    fn renumber_agent(&mut self, from: usize, to: usize) {
        self.agent_index.insert(self.agents[to].cfg.id.clone(), to);
        for &q in &self.agents[to].queues {
            for x in &mut self.queues[q].agents {
                if *x == from {
                    *x = to;
                }
            }
        }
        if let (St::Available, Some(idle)) = (&self.agents[to].state, self.agents[to].idle_since) {
            for &(c, sum) in &self.agents[to].classes {
                self.classes[c].available.remove(&(Reverse(sum), idle, from));
                self.classes[c].available.insert((Reverse(sum), idle, to));
            }
        }
        match self.agents[to].state {
            St::Offered { call } => {
                if let Some(call) = self.calls.get_mut(call).and_then(Option::as_mut) {
                    call.offered_to = Some(to);
                }
            }
            St::WrapUp { until } if self.timers.remove(&(until, Timer::WrapUp(from))) => {
                self.timers.insert((until, Timer::WrapUp(to)));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::acd::{AcdConfig, AcdEvent, AgentState, CallKey};
    use crate::dialplan::CallAttributes;

    const CONF: &str = r#"
[[queue]]
name = "general"
wrap_up_s = 10
[[queue]]
name = "loan"
skills = ["loan:3"]
wrap_up_s = 0
[[agent]]
id = "a1"
skills = ["retail:2"]
[[agent]]
id = "a2"
skills = ["loan:3"]
[[agent]]
id = "a3"
skills = ["retail:1"]
"#;

    struct T {
        acd: Acd,
        now: Instant,
    }

    impl T {
        fn new() -> T {
            let cfg = AcdConfig::from_text("t.toml", CONF).expect("config");
            T { acd: Acd::new(cfg), now: crate::testing::epoch() }
        }

        fn at(&mut self, secs: u64, t0: Instant) {
            let target = t0 + Duration::from_secs(secs);
            while let Some(due) = self.acd.poll_timeout().filter(|d| *d <= target) {
                self.now = due.max(self.now);
                self.acd.handle_timeout(self.now, 1_795_399_200);
            }
            self.now = target;
        }

        /// Offers among the pending events, as (call, agent).
        fn offers(&mut self) -> Vec<(u64, String)> {
            std::iter::from_fn(|| self.acd.poll_event())
                .filter_map(|e| match e {
                    AcdEvent::Offer { call, agent, .. } => Some((call.0, agent)),
                    _ => None,
                })
                .collect()
        }

        fn call(&mut self, key: u64, queue: &str, skills: &[(&str, u8)]) {
            let attrs = CallAttributes { skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(), ..Default::default() };
            self.acd.enqueue(self.now, 1_795_399_200, CallKey(key), queue, attrs).expect("enqueued");
        }

        fn state(&self, id: &str) -> AgentState {
            self.acd.agent(id).expect("agent").state
        }

        /// Every index that names an agent names the right one.
        fn check(&self) {
            let acd = &self.acd;
            assert_eq!(acd.agent_index.len(), acd.agents.len());
            for (i, a) in acd.agents.iter().enumerate() {
                assert_eq!(acd.agent_index.get(&a.cfg.id), Some(&i));
                for &q in &a.queues {
                    assert!(acd.queues[q].agents.contains(&i));
                }
                if let St::Offered { call } = a.state {
                    assert_eq!(acd.calls[call].as_ref().and_then(|c| c.offered_to), Some(i));
                }
            }
            for class in &acd.classes {
                for &(_, _, a) in &class.available {
                    assert_eq!(acd.agents[a].state, St::Available);
                }
            }
            for q in &acd.queues {
                assert!(q.agents.iter().all(|&a| a < acd.agents.len()));
            }
        }
    }

    fn agent(id: &str, skills: &[(&str, u8)], queues: Option<&[&str]>) -> AgentConfig {
        AgentConfig {
            id: id.into(),
            skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
            queues: queues.map(|q| q.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn a_new_agent_starts_logged_out_and_takes_a_waiting_call_at_login() {
        let mut t = T::new();
        t.acd.agent_login(t.now, "a1", None).unwrap();
        t.call(1, "general", &[]);
        assert_eq!(t.offers(), vec![(1, "a1".into())]);
        t.acd.offer_accepted(t.now, CallKey(1), "a1").unwrap();
        t.call(2, "general", &[]);
        assert!(t.offers().is_empty(), "nobody free");
        t.acd.upsert_agent(t.now, agent("n1", &[("retail", 3)], None)).unwrap();
        assert_eq!(t.state("n1"), AgentState::LoggedOut);
        assert!(t.offers().is_empty(), "a new agent is logged out");
        t.acd.agent_login(t.now, "n1", None).unwrap();
        assert_eq!(t.offers(), vec![(2, "n1".into())]);
    }

    #[test]
    fn new_skills_apply_at_once_to_an_available_agent() {
        let mut t = T::new();
        t.acd.agent_login(t.now, "a2", None).unwrap();
        t.call(1, "loan", &[("video", 1)]);
        assert!(t.offers().is_empty(), "a2 has no video skill");
        t.acd.upsert_agent(t.now, agent("a2", &[("loan", 3), ("video", 1)], None)).unwrap();
        assert_eq!(t.offers(), vec![(1, "a2".into())], "the waiting call is offered as soon as a2 qualifies");
        assert_eq!(t.acd.agent("a2").unwrap().skills, vec![("loan".into(), 3), ("video".into(), 1)]);
    }

    #[test]
    fn losing_a_skill_moves_the_agent_out_of_the_queue() {
        let mut t = T::new();
        t.acd.agent_login(t.now, "a2", None).unwrap();
        assert_eq!(t.acd.agent("a2").unwrap().queues, vec!["general", "loan"]);
        t.acd.upsert_agent(t.now, agent("a2", &[("retail", 1)], None)).unwrap();
        assert_eq!(t.acd.agent("a2").unwrap().queues, vec!["general"]);
        assert_eq!(t.acd.queue_stats("loan", t.now).unwrap().agents.get("available"), None);
        assert_eq!(t.state("a2"), AgentState::Available, "state is kept");
    }

    #[test]
    fn queues_picked_at_login_survive_a_skill_change_but_not_new_queues() {
        let mut t = T::new();
        t.acd.agent_login(t.now, "a2", Some(vec!["loan".into()])).unwrap();
        t.acd.upsert_agent(t.now, agent("a2", &[("loan", 4)], None)).unwrap();
        assert_eq!(t.acd.agent("a2").unwrap().queues, vec!["loan"]);
        t.acd.upsert_agent(t.now, agent("a2", &[("loan", 4)], Some(&["general"]))).unwrap();
        assert_eq!(t.acd.agent("a2").unwrap().queues, vec!["general"]);
    }

    #[test]
    fn an_unknown_queue_refuses_the_change() {
        let mut t = T::new();
        let err = t.acd.upsert_agent(t.now, agent("a1", &[], Some(&["nope"]))).unwrap_err();
        assert_eq!(err, AcdError::UnknownQueue("nope".into()));
        assert_eq!(t.acd.agent("a1").unwrap().skills, vec![("retail".into(), 2)], "unchanged");
        assert!(t.acd.upsert_agent(t.now, agent("n1", &[], Some(&["nope"]))).is_err());
        assert!(t.acd.agent("n1").is_none());
    }

    #[test]
    fn removal_is_refused_while_ringing_or_talking_and_allowed_in_wrap_up() {
        let mut t = T::new();
        let t0 = t.now;
        t.acd.agent_login(t.now, "a1", None).unwrap();
        t.call(1, "general", &[]);
        assert_eq!(t.offers(), vec![(1, "a1".into())]);
        assert_eq!(t.acd.remove_agent(t.now, "a1"), Err(AcdError::AgentBusy("a1".into())), "ringing");
        t.acd.offer_accepted(t.now, CallKey(1), "a1").unwrap();
        assert_eq!(t.acd.remove_agent(t.now, "a1"), Err(AcdError::AgentBusy("a1".into())), "on the call");
        t.at(5, t0);
        t.acd.call_ended(t.now, "a1").unwrap();
        assert!(matches!(t.state("a1"), AgentState::WrapUp { .. }));
        assert_eq!(t.acd.remove_agent(t.now, "a1"), Ok(true));
        assert!(t.acd.agent("a1").is_none());
        assert_eq!(t.acd.remove_agent(t.now, "a1"), Ok(false), "already gone");
        // The wrap-up timer of the removed agent must not fire on whoever took its slot.
        t.at(60, t0);
        assert_eq!(t.state("a3"), AgentState::LoggedOut);
        assert_eq!(t.acd.agents().len(), 2);
    }

    #[test]
    fn agents_moved_into_a_removed_slot_keep_their_timers_offers_and_routing() {
        let mut t = T::new();
        let t0 = t.now;
        // a3 (last slot) in wrap-up when a1 (slot 0) is removed: a3 moves to slot 0.
        t.acd.agent_login(t.now, "a3", None).unwrap();
        t.call(1, "general", &[]);
        assert_eq!(t.offers(), vec![(1, "a3".into())]);
        t.acd.offer_accepted(t.now, CallKey(1), "a3").unwrap();
        t.acd.call_ended(t.now, "a3").unwrap();
        assert_eq!(t.acd.remove_agent(t.now, "a1"), Ok(true));
        t.check();
        t.at(10, t0);
        assert_eq!(t.state("a3"), AgentState::Available, "a3's wrap-up timer followed it");
        t.call(2, "general", &[]);
        assert_eq!(t.offers(), vec![(2, "a3".into())]);
        t.acd.offer_accepted(t.now, CallKey(2), "a3").unwrap();
        // An available agent moved by a removal is still found by the routing index.
        t.acd.upsert_agent(t.now, agent("z9", &[("retail", 1)], None)).unwrap();
        t.acd.agent_login(t.now, "z9", None).unwrap();
        assert_eq!(t.acd.remove_agent(t.now, "a2"), Ok(true));
        t.check();
        t.call(3, "general", &[]);
        assert_eq!(t.offers(), vec![(3, "z9".into())]);
        // An agent with a call ringing, moved by a removal, can still answer it.
        t.acd.upsert_agent(t.now, agent("y0", &[], None)).unwrap();
        t.acd.upsert_agent(t.now, agent("y1", &[], None)).unwrap();
        t.acd.agent_login(t.now, "y1", None).unwrap();
        t.call(4, "general", &[]);
        assert_eq!(t.offers(), vec![(4, "y1".into())]);
        assert_eq!(t.acd.remove_agent(t.now, "y0"), Ok(true));
        t.check();
        t.acd.offer_accepted(t.now, CallKey(4), "y1").unwrap();
        assert!(matches!(t.state("y1"), AgentState::OnCall { .. }));
        let mut ids: Vec<_> = t.acd.agents().into_iter().map(|a| a.id).collect();
        ids.sort();
        assert_eq!(ids, vec!["a3", "y1", "z9"]);
    }

    #[test]
    fn removing_a_logged_in_agent_logs_it_out_first() {
        let mut t = T::new();
        t.acd.agent_login(t.now, "a2", None).unwrap();
        let _ = t.offers();
        assert_eq!(t.acd.remove_agent(t.now, "a2"), Ok(true));
        let states: Vec<_> = std::iter::from_fn(|| t.acd.poll_event()).collect();
        assert!(states.contains(&AcdEvent::AgentState { agent: "a2".into(), state: AgentState::LoggedOut }), "{states:?}");
        assert!(t.acd.queue_stats("loan", t.now).unwrap().agents.is_empty());
        assert!(t.acd.agent_since("a2").is_none());
    }
}
