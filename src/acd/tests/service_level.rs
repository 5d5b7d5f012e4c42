//! Service-level figures against values computed by hand.
use super::*;

#[test]
fn service_level_numbers_match_a_hand_computed_scenario() {
    // One agent, target 20 s, no wrap-up, 60-second intervals.
    let mut s = Sim::new(
        r#"
stats_interval_s = 60
[[queue]]
name = "general"
sl_target_s = 20
ring_timeout_s = 30
wrap_up_s = 0
[[agent]]
id = "a"
"#,
    );
    s.login("a"); //                 t=0  a available
    s.plain(1, "general"); //        t=0  call 1 rings at a at once
    s.at(5);
    s.accept(1, "a"); //             t=5  answered after 5 s (within 20 s)
    s.at(10);
    s.plain(2, "general"); //        t=10 call 2 waits
    s.at(30);
    s.end("a"); //                   t=30 call 2 rings at a
    s.at(32);
    s.accept(2, "a"); //             t=32 answered after 22 s (outside 20 s)
    s.at(40);
    s.plain(3, "general"); //        t=40 call 3 waits
    s.at(45);
    let live = s.acd.queue_stats("general", s.now).unwrap();
    assert_eq!(live.waiting, 1);
    assert_eq!(live.longest_wait, Some(secs(5)));
    assert_eq!(live.agents.get("on_call"), Some(&1));
    assert_eq!(live.occupancy_now, Some(1.0));
    s.at(50);
    s.acd.abandon(s.now, CallKey(3)).unwrap(); // t=50 abandoned after 10 s
    s.at(60);
    s.end("a"); //                   t=60 a idle until the query at t=100
    s.at(100);

    let st = s.acd.queue_stats("general", s.now).unwrap();
    let c = st.total.counters;
    assert_eq!((c.offered, c.answered, c.abandoned, c.answered_within_target), (3, 2, 1, 1));
    assert_eq!(st.total.asa, Some(Duration::from_millis(13_500)), "(5 + 22) / 2");
    assert_eq!(st.total.service_level, Some(1.0 / 3.0), "1 within target of 3 that left the queue");
    // a: busy (ringing or talking) 0–60, idle 60–100: 60 / 100.
    assert_eq!((c.agent_busy, c.agent_idle), (secs(60), secs(40)));
    assert_eq!(st.total.occupancy, Some(0.6));
    assert_eq!(c.abandon_wait_total, secs(10));
    assert_eq!(st.longest_wait, None);
    assert_eq!(st.agents.get("available"), Some(&1));
    assert_eq!(st.occupancy_now, Some(0.0));

    // Intervals [0, 60) and [60, 120).
    assert_eq!(st.intervals.len(), 2);
    let (first, second) = (&st.intervals[0], &st.intervals[1]);
    assert_eq!(first.start, Some(s.t(0)));
    assert_eq!((first.counters.offered, first.counters.answered, first.counters.abandoned), (3, 2, 1));
    assert_eq!(first.occupancy, Some(1.0));
    assert_eq!(second.start, Some(s.t(60)));
    assert_eq!(second.counters.offered, 0);
    assert_eq!((second.counters.agent_busy, second.counters.agent_idle), (secs(0), secs(40)));
    assert_eq!(second.occupancy, Some(0.0));
    assert_eq!(second.service_level, None);
    assert_eq!((st.sl_target, st.sl_target_pct), (secs(20), 80));
}

#[test]
fn outcomes_carry_queue_agent_and_wait_for_the_cdr() {
    let mut s = Sim::new("[[queue]]\nname = \"general\"\n[[agent]]\nid = \"1001\"\n");
    s.login("1001");
    s.at(3);
    s.acd.agent_break(s.now, "1001", "x").unwrap();
    s.plain(7, "general");
    s.at(9);
    s.acd.agent_available(s.now, "1001").unwrap();
    s.accept(7, "1001");
    let outcome = s.events().into_iter().find(|e| matches!(e, AcdEvent::CallOutcome { .. }));
    assert_eq!(outcome, Some(AcdEvent::CallOutcome { call: CallKey(7), queue: "general".into(), agent: Some("1001".into()), wait: secs(6), outcome: Outcome::Answered }));
    assert_eq!(Outcome::Answered.name(), "answered");
}
