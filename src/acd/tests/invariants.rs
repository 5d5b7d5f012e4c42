//! Random inputs against the routing indexes: after every input no waiting call has an available
//! qualified agent, and calls, agents and indexes agree.
use super::*;

const MIX: &str = r#"
[[queue]]
name = "general"
ring_timeout_s = 8
wrap_up_s = 3
max_wait_s = 40
overflow = { callback = true }
relax = [{ after_s = 10, drop = "lang:yue" }]
[[queue]]
name = "loan"
skills = ["loan:3"]
max_wait_s = 20
overflow = { queue = "general" }
wrap_up_s = 0
[[agent]]
id = "a1"
skills = ["loan:5", "lang:yue"]
[[agent]]
id = "a2"
skills = ["loan:3", "retail:2"]
[[agent]]
id = "a3"
skills = ["retail:4", "lang:yue"]
[[agent]]
id = "a4"
skills = ["loan:4"]
queues = ["loan"]
[[agent]]
id = "a5"
"#;

impl Acd {
    fn check_invariants(&self) {
        let mut waiting_total = 0;
        for (ci, class) in self.classes.iter().enumerate() {
            assert!(class.waiting.is_empty() || class.available.is_empty(), "class {ci}: a waiting call has a free agent");
            for &(_, _, a) in &class.available {
                assert_eq!(self.agents[a].state, St::Available);
                assert!(self.agents[a].classes.iter().any(|&(c, _)| c == ci));
            }
            for &(_, _, c) in &class.waiting {
                let call = self.call(c).expect("waiting call exists");
                assert_eq!((call.class, call.offered_to), (ci, None));
            }
            waiting_total += class.waiting.len();
        }
        assert_eq!(waiting_total, self.queues.iter().map(|q| q.waiting.len()).sum::<usize>());
        for (ai, agent) in self.agents.iter().enumerate() {
            match agent.state {
                St::Offered { call } => assert_eq!(self.call(call).and_then(|c| c.offered_to), Some(ai)),
                St::Available => {
                    for &(c, _) in &agent.classes {
                        assert!(self.classes[c].available.iter().any(|x| x.2 == ai));
                    }
                }
                St::LoggedOut => assert!(agent.queues.is_empty()),
                _ => {}
            }
        }
        for (c, call) in self.calls.iter().enumerate() {
            if let Some(call) = call {
                assert_eq!(self.call_index.get(&call.key), Some(&c));
            }
        }
        assert_eq!(self.call_index.len(), self.calls.iter().flatten().count());
    }
}

#[test]
fn random_inputs_keep_the_routing_indexes_consistent() {
    let agents = ["a1", "a2", "a3", "a4", "a5"];
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut s = Sim::new(MIX);
    let mut t = 0;
    let mut key = 0;
    for _ in 0..20_000 {
        let agent = agents[next(5) as usize];
        let now = s.now;
        // Inputs may be refused (e.g. a break for a logged-out agent); the core must stay consistent.
        match next(11) {
            0 | 1 => {
                key += 1;
                let mut attrs = if next(2) == 0 { CallAttributes::default() } else { skills(&[("retail", 1 + next(4) as u8)]) };
                if next(4) == 0 {
                    attrs.language = Some("yue".into());
                }
                attrs.priority = (next(3) == 0).then(|| next(5) as i64);
                let _ = s.call(key, if next(3) == 0 { "loan" } else { "general" }, attrs);
            }
            2 => {
                let _ = s.acd.abandon(now, CallKey(1 + next(key.max(1))));
            }
            3 => {
                let _ = s.acd.agent_login(now, agent, None);
            }
            4 => {
                let _ = s.acd.agent_logout(now, agent);
            }
            5 => {
                let _ = s.acd.agent_break(now, agent, "x");
            }
            6 => {
                let _ = s.acd.agent_available(now, agent);
            }
            7 | 8 => {
                if let Some(AgentState::Offered { call }) = s.acd.agent(agent).map(|a| a.state) {
                    let _ = if next(4) == 0 { s.acd.offer_failed(now, call, agent) } else { s.acd.offer_accepted(now, call, agent) };
                }
            }
            9 => {
                let _ = s.acd.call_ended(now, agent);
            }
            _ => {
                t += next(4);
                s.at(t);
            }
        }
        s.pump();
        s.acd.check_invariants();
    }
    let offered = s.log.iter().filter(|e| matches!(e, AcdEvent::Offer { .. })).count();
    let answered = s.log.iter().filter(|e| matches!(e, AcdEvent::CallOutcome { outcome: Outcome::Answered, .. })).count();
    assert!(offered > 1000 && answered > 500, "the mix exercised routing: {offered} offers, {answered} answered");
}
