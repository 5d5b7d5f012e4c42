//! Simulations of the ACD on a virtual clock: a harness that drives timers like the runtime will,
//! and scenario tests grouped by concern.
use std::time::{Duration, Instant};

use super::*;
use crate::testing::epoch;

mod config;
mod flows;
mod invariants;
mod routing;
mod service_level;

/// Monday 2026-11-23 10:00 at +08:00 (02:00 UTC), the simulation's wall clock at t = 0.
const MONDAY_10AM_CST: i64 = 1_795_399_200;

struct Sim {
    acd: Acd,
    t0: Instant,
    now: Instant,
    unix0: i64,
    log: Vec<AcdEvent>,
    seen: usize,
}

impl Sim {
    fn new(toml: &str) -> Sim {
        let config = AcdConfig::from_text("test.toml", toml).unwrap_or_else(|e| panic!("config: {e}"));
        let t0 = epoch();
        Sim { acd: Acd::new(config), t0, now: t0, unix0: MONDAY_10AM_CST, log: Vec::new(), seen: 0 }
    }

    fn t(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    fn unix(&self) -> i64 {
        self.unix0 + (self.now - self.t0).as_secs() as i64
    }

    /// Advances the clock to `secs`, running every timer on the way at its own instant.
    fn at(&mut self, secs: u64) {
        let target = self.t(secs);
        assert!(target >= self.now, "time goes forward");
        while let Some(due) = self.acd.poll_timeout().filter(|d| *d <= target) {
            self.now = due.max(self.now);
            let unix = self.unix();
            self.acd.handle_timeout(self.now, unix);
            self.pump();
        }
        self.now = target;
        self.pump();
    }

    fn pump(&mut self) {
        while let Some(e) = self.acd.poll_event() {
            self.log.push(e);
        }
    }

    /// Events since the last call.
    fn events(&mut self) -> Vec<AcdEvent> {
        self.pump();
        let new = self.log[self.seen..].to_vec();
        self.seen = self.log.len();
        new
    }

    /// The (call, agent) offers since the last call of `events`/`offers`.
    fn offers(&mut self) -> Vec<(u64, String)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                AcdEvent::Offer { call, agent, .. } => Some((call.0, agent)),
                _ => None,
            })
            .collect()
    }

    fn call(&mut self, key: u64, queue: &str, attrs: CallAttributes) -> Result<(), EnqueueRefused> {
        let (now, unix) = (self.now, self.unix());
        let r = self.acd.enqueue(now, unix, CallKey(key), queue, attrs);
        self.pump();
        r
    }

    fn plain(&mut self, key: u64, queue: &str) {
        self.call(key, queue, CallAttributes::default()).expect("enqueued");
    }

    fn login(&mut self, id: &str) {
        self.acd.agent_login(self.now, id, None).expect("login");
        self.pump();
    }

    fn accept(&mut self, key: u64, agent: &str) {
        self.acd.offer_accepted(self.now, CallKey(key), agent).expect("accept");
        self.pump();
    }

    fn end(&mut self, agent: &str) {
        self.acd.call_ended(self.now, agent).expect("call ended");
        self.pump();
    }

    fn state(&self, agent: &str) -> AgentState {
        self.acd.agent(agent).expect("agent").state
    }
}

fn skills(list: &[(&str, u8)]) -> CallAttributes {
    CallAttributes { skills: list.iter().map(|(s, l)| (s.to_string(), *l)).collect(), ..Default::default() }
}

fn priority(p: i64) -> CallAttributes {
    CallAttributes { priority: Some(p), ..Default::default() }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
