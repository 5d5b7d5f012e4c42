//! Wall-clock measurement of `ncgw_acd_offer_latency_seconds`: from the moment the input that
//! freed an agent (wrap-up timer, login command, registration with `auto_login`, the agent's
//! BYE with no wrap-up, back from a break) or returned a call from a failed or withdrawn offer
//! reaches the core, to the moment the INVITE offering a waiting call is handed to the
//! transport. The ACD core stays clock-free; only this runtime layer reads the clock.
use std::collections::HashSet;
use std::time::Instant;

use crate::acd::{AcdEvent, AgentState, CallKey};

/// What one input has done so far, and the offers it caused that are not on the wire yet.
#[derive(Debug, Default)]
pub(super) struct OfferClock {
    /// When the input being processed reached the core.
    input_at: Option<Instant>,
    /// Agents that became available during this input.
    freed: HashSet<String>,
    /// Calls whose offer failed during this input (they go back to the queue).
    returned: HashSet<CallKey>,
    /// (queue, input time) of offers made, until their INVITE is handed to the transport.
    pending: Vec<(String, Instant)>,
}

impl OfferClock {
    /// A new input reached the core at `at`.
    pub(super) fn input(&mut self, at: Instant) {
        self.input_at = Some(at);
        self.freed.clear();
        self.returned.clear();
    }

    /// An offer to this call failed (the agent refused it or did not answer).
    pub(super) fn returned(&mut self, call: CallKey) {
        self.returned.insert(call);
    }

    /// An event from the ACD, in order: an agent becoming available, or an offer whose INVITE
    /// is now queued for the transport. Only offers caused by this input's freed agent or
    /// returned call are timed; an offer for a call that just arrived to an idle agent is not an
    /// agent-available → offer latency.
    pub(super) fn acd_event(&mut self, ev: &AcdEvent, now: Instant) {
        match ev {
            AcdEvent::AgentState { agent, state: AgentState::Available } => {
                self.freed.insert(agent.clone());
            }
            // Ring timeout, or the agent logged out or took a break: the call is back.
            AcdEvent::OfferWithdrawn { call, .. } => {
                self.returned.insert(*call);
            }
            AcdEvent::Offer { call, agent, queue } if self.freed.contains(agent) || self.returned.contains(call) => {
                self.pending.push((queue.clone(), self.input_at.unwrap_or(now)));
            }
            _ => {}
        }
    }

    /// The transport has been handed every queued message: the pending offers are on their way.
    /// Returns (queue, seconds) per offer.
    pub(super) fn sent(&mut self, now: Instant) -> Vec<(String, f64)> {
        self.pending.drain(..).map(|(q, since)| (q, now.saturating_duration_since(since).as_secs_f64())).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn offer(call: u64, agent: &str) -> AcdEvent {
        AcdEvent::Offer { call: CallKey(call), agent: agent.into(), queue: "q".into() }
    }

    #[test]
    fn times_offers_to_freed_agents_and_returned_calls_from_the_input() {
        let t0 = Instant::now();
        let mut c = OfferClock::default();
        c.input(t0);
        c.acd_event(&AcdEvent::AgentState { agent: "a".into(), state: AgentState::Available }, t0);
        c.acd_event(&offer(1, "a"), t0 + Duration::from_micros(100));
        assert!(c.sent(t0 + Duration::from_millis(2)).iter().map(|(q, s)| (q.as_str(), (s * 1000.0).round() as u64)).eq([("q", 2)]));
        assert!(c.sent(t0 + Duration::from_millis(3)).is_empty(), "each offer is observed once");

        // A new call offered to an agent who was idle already: not this latency.
        c.input(t0 + Duration::from_secs(1));
        c.acd_event(&offer(2, "a"), t0 + Duration::from_secs(1));
        assert!(c.sent(t0 + Duration::from_secs(2)).is_empty());

        // A failed offer returns call 3, which goes to idle agent b.
        c.input(t0 + Duration::from_secs(5));
        c.returned(CallKey(3));
        c.acd_event(&offer(3, "b"), t0 + Duration::from_secs(5));
        let got = c.sent(t0 + Duration::from_secs(5) + Duration::from_millis(1));
        assert_eq!(got.len(), 1);
        assert!((got[0].1 - 0.001).abs() < 1e-9, "{got:?}");

        // A ring timeout withdraws call 5 from agent a; it goes to idle agent b.
        c.input(t0 + Duration::from_secs(20));
        c.acd_event(&AcdEvent::OfferWithdrawn { call: CallKey(5), agent: "a".into() }, t0 + Duration::from_secs(20));
        c.acd_event(&offer(5, "b"), t0 + Duration::from_secs(20));
        assert_eq!(c.sent(t0 + Duration::from_secs(21)).len(), 1);

        // The next input forgets who was freed before.
        c.input(t0 + Duration::from_secs(6));
        c.acd_event(&offer(4, "a"), t0 + Duration::from_secs(6));
        c.acd_event(&offer(3, "c"), t0 + Duration::from_secs(6));
        assert!(c.sent(t0 + Duration::from_secs(7)).is_empty());
    }
}
