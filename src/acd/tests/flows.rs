//! Agent and call life cycles: ring-no-answer, wrap-up, breaks, overflow, opening hours,
//! abandonment, logout, position announcements.
use super::*;

const TWO: &str = r#"
[[queue]]
name = "general"
ring_timeout_s = 10
wrap_up_s = 5
[[agent]]
id = "a"
[[agent]]
id = "b"
"#;

#[test]
fn ring_no_answer_goes_to_the_next_agent_and_puts_the_first_on_break_missed() {
    let mut s = Sim::new(TWO);
    s.login("a");
    s.at(1);
    s.login("b");
    s.plain(1, "general");
    assert_eq!(s.offers(), vec![(1, "a".to_string())]);
    s.at(10);
    assert!(s.offers().is_empty(), "still ringing at 9 s");
    s.at(11);
    let ev = s.events();
    assert!(ev.contains(&AcdEvent::OfferWithdrawn { call: CallKey(1), agent: "a".into() }));
    assert!(ev.contains(&AcdEvent::AgentState { agent: "a".into(), state: AgentState::Break { reason: BREAK_MISSED.into() } }));
    assert!(ev.contains(&AcdEvent::Offer { call: CallKey(1), agent: "b".into(), queue: "general".into() }));
    // b refuses (busy): back to the queue, b on break too; nobody left.
    s.acd.offer_failed(s.now, CallKey(1), "b").unwrap();
    assert_eq!(s.state("b"), AgentState::Break { reason: "missed".into() });
    assert!(s.offers().is_empty());
    assert_eq!(s.acd.offer_accepted(s.now, CallKey(1), "b"), Err(AcdError::NotOffered { call: CallKey(1), agent: "b".into() }));
    // a comes back from the break and gets the call.
    s.at(20);
    s.acd.agent_available(s.now, "a").unwrap();
    assert_eq!(s.offers(), vec![(1, "a".to_string())]);
}

#[test]
fn wrap_up_then_available_again_and_early_end_of_wrap_up() {
    let mut s = Sim::new(TWO);
    s.login("a");
    s.plain(1, "general");
    s.accept(1, "a");
    s.events();
    s.at(30);
    s.plain(2, "general");
    s.at(40);
    s.end("a");
    assert!(matches!(s.state("a"), AgentState::WrapUp { .. }));
    assert!(s.offers().is_empty(), "no call during wrap-up");
    s.at(44);
    assert!(s.offers().is_empty());
    s.at(45);
    assert_eq!(s.offers(), vec![(2, "a".to_string())], "wrap-up is 5 s");
    s.accept(2, "a");
    s.at(50);
    s.end("a");
    s.acd.agent_available(s.now, "a").unwrap();
    assert_eq!(s.state("a"), AgentState::Available, "the agent may end wrap-up early");
}

#[test]
fn agents_on_break_get_no_calls_and_a_break_asked_for_on_a_call_waits_for_its_end() {
    let mut s = Sim::new(TWO);
    s.login("a");
    s.login("b");
    s.acd.agent_break(s.now, "a", "lunch").unwrap();
    s.plain(1, "general");
    assert_eq!(s.offers(), vec![(1, "b".to_string())]);
    s.accept(1, "b");
    s.acd.agent_break(s.now, "b", "meeting").unwrap();
    assert_eq!(s.acd.agent("b").unwrap().pending_break.as_deref(), Some("meeting"));
    s.at(20);
    s.end("b");
    s.at(25);
    assert_eq!(s.state("b"), AgentState::Break { reason: "meeting".into() });
    s.plain(2, "general");
    assert!(s.offers().is_empty());
    s.acd.agent_available(s.now, "a").unwrap();
    assert_eq!(s.offers(), vec![(2, "a".to_string())]);
    assert_eq!(s.acd.agent_break(s.now, "nobody", "x"), Err(AcdError::UnknownAgent("nobody".into())));
}

const OVERFLOW: &str = r#"
[[queue]]
name = "loan"
skills = ["loan:3"]
max_wait_s = 30
overflow = { queue = "general" }
[[queue]]
name = "general"
max_length = 2
overflow = { callback = true }
[[queue]]
name = "video"
skills = ["video:1"]
max_wait_s = 20
overflow = { announce = "all-busy", then = "hangup" }
[[queue]]
name = "sign_language"
skills = ["sign_language:1"]
max_wait_s = 20
hours = { days = ["mon", "tue", "wed", "thu", "fri"], from = "08:00", to = "20:00", utc_offset = "+08:00" }
overflow = { announce = "closed", then = "hangup" }
[[agent]]
id = "loan-expert"
skills = ["loan:5"]
queues = ["loan"]
[[agent]]
id = "generalist"
skills = ["video:1", "sign_language:2"]
"#;

#[test]
fn overflow_on_max_wait_moves_to_the_next_queue_or_announces_or_times_out() {
    let mut s = Sim::new(OVERFLOW);
    s.login("loan-expert");
    s.login("generalist");
    s.plain(1, "loan");
    s.accept(1, "loan-expert");
    s.plain(2, "loan");
    s.events();
    s.acd.agent_break(s.now, "generalist", "coaching").unwrap();
    s.at(5);
    s.plain(3, "video");
    s.at(29);
    assert!(s.events().iter().all(|e| !matches!(e, AcdEvent::Overflow { call: CallKey(2), .. })));
    s.at(30);
    let ev = s.events();
    assert!(ev.contains(&AcdEvent::CallOutcome { call: CallKey(2), queue: "loan".into(), agent: None, wait: secs(30), outcome: Outcome::Overflowed }));
    assert!(ev.contains(&AcdEvent::Overflow { call: CallKey(2), to: OverflowTarget::Queue("general".into()) }));
    assert_eq!(s.acd.queue_stats("general", s.now).unwrap().waiting, 1, "call 2 waits in general now");
    s.at(25 + 5);
    assert!(s.events().is_empty());
    s.at(40);
    // (call 3 waited 20 s in video at t=25; checked below through the log)
    assert!(s.log.contains(&AcdEvent::Overflow { call: CallKey(3), to: OverflowTarget::Announce { announcement: "all-busy".into() } }));
    // In general (no max wait) the overflowed call is answered later; its CDR wait counts from
    // when it entered the ACD.
    s.acd.agent_available(s.now, "generalist").unwrap();
    assert_eq!(s.offers(), vec![(2, "generalist".to_string())]);
    s.accept(2, "generalist");
    assert!(s.events().contains(&AcdEvent::CallOutcome { call: CallKey(2), queue: "general".into(), agent: Some("generalist".into()), wait: secs(40), outcome: Outcome::Answered }));

    // Without an overflow target a waited-out call times out.
    let mut t = Sim::new("[[queue]]\nname = \"q\"\nmax_wait_s = 10\n[[agent]]\nid = \"a\"\n");
    t.login("a");
    t.plain(1, "q");
    t.plain(2, "q");
    t.at(10);
    let ev = t.events();
    assert!(ev.contains(&AcdEvent::TimedOut { call: CallKey(2) }));
    assert!(ev.contains(&AcdEvent::CallOutcome { call: CallKey(2), queue: "q".into(), agent: None, wait: secs(10), outcome: Outcome::TimedOut }));
    assert!(!ev.contains(&AcdEvent::TimedOut { call: CallKey(1) }), "a ringing call is not pulled");
}

#[test]
fn overflow_on_max_length() {
    let mut s = Sim::new(OVERFLOW);
    s.login("generalist");
    s.acd.agent_break(s.now, "generalist", "x").unwrap();
    s.plain(1, "general");
    s.plain(2, "general");
    assert_eq!(s.call(3, "general", CallAttributes::default()), Err(EnqueueRefused::Full { queue: "general".into(), overflow: Some(OverflowTarget::Callback) }));
    // A full queue reached by overflow passes the call on along its own overflow.
    s.login("loan-expert");
    s.acd.agent_break(s.now, "loan-expert", "x").unwrap();
    s.plain(4, "loan");
    s.at(30);
    assert!(s.events().contains(&AcdEvent::Overflow { call: CallKey(4), to: OverflowTarget::Callback }));
    let st = s.acd.queue_stats("general", s.now).unwrap();
    assert_eq!((st.waiting, st.total.counters.offered, st.total.counters.refused), (2, 2, 2));
}

#[test]
fn opening_hours_closed_calls_get_the_announcement() {
    let mut s = Sim::new(OVERFLOW);
    s.login("generalist");
    s.events();
    // Monday 10:00 local: open.
    s.call(1, "sign_language", CallAttributes::default()).unwrap();
    assert_eq!(s.offers(), vec![(1, "generalist".to_string())]);
    // 20:00 local is closing time (end exclusive).
    s.at(10 * 3600);
    let closed = EnqueueRefused::Closed { queue: "sign_language".into(), overflow: Some(OverflowTarget::Announce { announcement: "closed".into() }) };
    assert_eq!(closed.cause(), "acd.closed");
    assert_eq!(s.call(2, "sign_language", CallAttributes::default()), Err(closed));
    // Saturday 10:00 local: closed all day.
    s.at(5 * 86_400);
    assert!(matches!(s.call(3, "sign_language", CallAttributes::default()), Err(EnqueueRefused::Closed { .. })));
    // Next Monday 08:00 local: open again.
    s.at(7 * 86_400 - 2 * 3600);
    assert_eq!(s.call(4, "sign_language", CallAttributes::default()), Ok(()));
}

#[test]
fn abandoned_calls_are_counted_with_their_wait_and_free_a_ringing_agent() {
    let mut s = Sim::new(TWO);
    s.login("a");
    s.plain(1, "general");
    s.plain(2, "general");
    s.events();
    s.at(8);
    s.acd.abandon(s.now, CallKey(2)).unwrap();
    assert_eq!(s.events(), vec![AcdEvent::CallOutcome { call: CallKey(2), queue: "general".into(), agent: None, wait: secs(8), outcome: Outcome::Abandoned }]);
    s.at(9); // call 1 is still ringing at a (ring timeout 10 s)
    s.acd.abandon(s.now, CallKey(1)).unwrap();
    let ev = s.events();
    assert!(ev.contains(&AcdEvent::AgentState { agent: "a".into(), state: AgentState::Available }), "{ev:?}");
    assert_eq!(s.acd.abandon(s.now, CallKey(1)), Err(AcdError::UnknownCall(CallKey(1))));
    let st = s.acd.queue_stats("general", s.now).unwrap();
    assert_eq!((st.total.counters.abandoned, st.total.counters.abandon_wait_total), (2, secs(17)));
}

#[test]
fn logout_keeps_waiting_calls_queued_and_hands_an_offered_call_to_the_next_agent() {
    let mut s = Sim::new(TWO);
    s.login("a");
    s.plain(1, "general");
    s.accept(1, "a");
    s.plain(2, "general");
    s.acd.agent_logout(s.now, "a").unwrap();
    assert_eq!(s.state("a"), AgentState::LoggedOut);
    // Call 2 stays queued though nobody is logged in; new calls are refused.
    assert_eq!(s.acd.queue_stats("general", s.now).unwrap().waiting, 1);
    assert_eq!(s.call(3, "general", CallAttributes::default()), Err(EnqueueRefused::NoAgents { queue: "general".into(), overflow: None }));
    s.events();
    s.at(5);
    s.login("b");
    assert_eq!(s.offers(), vec![(2, "b".to_string())]);
    // b logs out while call 2 rings at b: withdrawn, and offered to a, who logs in.
    s.login("a");
    s.acd.agent_logout(s.now, "b").unwrap();
    let ev = s.events();
    assert!(ev.contains(&AcdEvent::OfferWithdrawn { call: CallKey(2), agent: "b".into() }));
    assert!(ev.contains(&AcdEvent::Offer { call: CallKey(2), agent: "a".into(), queue: "general".into() }));
    assert_eq!(s.acd.call_ended(s.now, "b"), Err(AcdError::NotOnCall("b".into())));
}

#[test]
fn position_announcements_come_at_intervals_in_queue_order_with_an_estimate() {
    let mut s = Sim::new("[[queue]]\nname = \"q\"\nposition_every_s = 10\nwrap_up_s = 10\n[[agent]]\nid = \"a\"\n");
    let positions = |ev: Vec<AcdEvent>| -> Vec<(u64, usize, Option<Duration>)> {
        ev.into_iter()
            .filter_map(|e| match e {
                AcdEvent::Position { call, position, eta, .. } => Some((call.0, position, eta)),
                _ => None,
            })
            .collect()
    };
    s.login("a");
    s.plain(1, "q");
    s.accept(1, "a");
    s.plain(2, "q");
    s.call(3, "q", priority(1)).unwrap();
    s.events();
    s.at(10);
    assert_eq!(positions(s.events()), vec![(3, 1, None), (2, 2, None)], "no handled call to estimate from yet");
    s.at(15);
    s.end("a"); // handled: 15 s talk + 10 s wrap-up = 25 s per call, one agent
    s.at(20);
    assert_eq!(positions(s.events()), vec![(3, 1, Some(secs(25))), (2, 2, Some(secs(50)))]);
}

#[test]
fn a_closed_queue_overflowing_into_an_open_one_takes_the_call_there() {
    let mut s = Sim::new(
        r#"
[[queue]]
name = "night"
hours = { from = "22:00", to = "08:00", utc_offset = "+08:00" }
overflow = { queue = "day" }
[[queue]]
name = "day"
[[agent]]
id = "a"
"#,
    );
    s.login("a");
    s.events();
    assert_eq!(s.call(1, "night", CallAttributes::default()), Ok(()), "10:00 local: night is closed, day takes it");
    let ev = s.events();
    assert_eq!(ev[0], AcdEvent::Overflow { call: CallKey(1), to: OverflowTarget::Queue("day".into()) });
    assert!(ev.contains(&AcdEvent::Offer { call: CallKey(1), agent: "a".into(), queue: "day".into() }));
    assert_eq!(s.acd.queue_stats("night", s.now).unwrap().total.counters.refused, 1);
}
