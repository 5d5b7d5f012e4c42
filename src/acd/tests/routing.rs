//! Who gets which call: skills and levels, priority, longest idle, relaxation.
use super::*;

const LOANS: &str = r#"
[[queue]]
name = "general"
[[queue]]
name = "loan"
skills = ["loan:2"]
relax = [{ after_s = 60, drop = "lang:yue" }]

[[agent]]
id = "novice"
skills = ["loan:1", "retail:3"]
[[agent]]
id = "mid"
skills = ["loan:3", "retail:2"]
[[agent]]
id = "expert"
skills = ["loan:5"]
[[agent]]
id = "cantonese"
skills = ["loan:2", "lang:yue"]
"#;

#[test]
fn skills_and_levels_pick_the_most_skilled_qualified_agent() {
    let mut s = Sim::new(LOANS);
    for a in ["novice", "mid", "expert"] {
        s.login(a);
    }
    s.events();
    // The loan queue needs loan >= 2: novice never qualifies; expert (5) beats mid (3).
    s.plain(1, "loan");
    assert_eq!(s.offers(), vec![(1, "expert".to_string())]);
    // A call that needs loan:4 only expert can take; with expert ringing it waits, though mid is free.
    s.call(2, "loan", skills(&[("loan", 4)])).unwrap();
    assert_eq!(s.offers(), vec![]);
    s.plain(3, "loan");
    assert_eq!(s.offers(), vec![(3, "mid".to_string())], "mid qualifies for the queue's loan:2");
    s.at(5);
    s.accept(1, "expert");
    s.at(65);
    s.end("expert");
    s.at(75);
    assert_eq!(s.offers(), vec![(2, "expert".to_string())], "after wrap-up expert takes the loan:4 call");
    // The agent's queues: novice (no explicit queues) serves only what its skills qualify for.
    assert_eq!(s.acd.agent("novice").unwrap().queues, vec!["general".to_string()]);
    assert_eq!(s.acd.agent("expert").unwrap().queues, vec!["general".to_string(), "loan".to_string()]);
    // A call with a skill nobody has waits.
    s.call(4, "general", skills(&[("sign_language", 1)])).unwrap();
    assert_eq!(s.offers(), vec![], "novice is free but has no sign_language");
    assert_eq!(s.acd.queue_stats("general", s.now).unwrap().waiting, 1);
}

#[test]
fn a_language_is_a_required_skill_and_relaxes_after_the_configured_wait() {
    let mut s = Sim::new(LOANS);
    s.login("expert");
    s.events();
    let yue = CallAttributes { language: Some("yue".into()), ..Default::default() };
    s.call(1, "loan", yue.clone()).unwrap();
    assert_eq!(s.offers(), vec![], "expert has no lang:yue");
    s.at(59);
    assert_eq!(s.offers(), vec![]);
    s.at(60);
    assert_eq!(s.offers(), vec![(1, "expert".to_string())], "lang:yue dropped after 60 s");
    // With a Cantonese speaker available the call goes to her at once.
    s.login("cantonese");
    s.events();
    s.call(2, "loan", yue).unwrap();
    assert_eq!(s.offers(), vec![(2, "cantonese".to_string())]);
}

#[test]
fn priority_overtakes_earlier_calls_and_ties_go_by_wait() {
    let mut s = Sim::new(
        r#"
[[queue]]
name = "general"
priority_rules = [{ tag = "segment", equals = "elderly", priority = 10 }]
wrap_up_s = 0
[[agent]]
id = "a"
"#,
    );
    s.login("a");
    s.plain(1, "general");
    s.accept(1, "a");
    s.at(1);
    s.plain(2, "general");
    s.at(2);
    s.call(3, "general", priority(5)).unwrap();
    s.at(3);
    let mut elderly = CallAttributes::default();
    elderly.tags.insert("segment".into(), "elderly".into());
    s.call(4, "general", elderly).unwrap();
    s.at(4);
    s.plain(5, "general");
    s.events();
    let mut order = Vec::new();
    for t in 10..14 {
        s.at(t);
        s.end("a");
        let (call, _) = s.offers().pop().expect("an offer");
        s.accept(call, "a");
        order.push(call);
    }
    assert_eq!(order, vec![4, 3, 2, 5], "elderly (10), then 5, then by wait");
}

#[test]
fn longest_idle_agent_gets_the_next_call() {
    let mut s = Sim::new(
        r#"
[[queue]]
name = "general"
wrap_up_s = 0
[[agent]]
id = "a"
[[agent]]
id = "b"
[[agent]]
id = "c"
"#,
    );
    s.login("a");
    s.at(1);
    s.login("b");
    s.at(2);
    s.login("c");
    s.events();
    s.plain(1, "general");
    assert_eq!(s.offers(), vec![(1, "a".to_string())]);
    s.accept(1, "a");
    s.at(3);
    s.end("a"); // a is idle again, but since t=3: b and c have waited longer
    s.plain(2, "general");
    assert_eq!(s.offers(), vec![(2, "b".to_string())]);
    s.plain(3, "general");
    assert_eq!(s.offers(), vec![(3, "c".to_string())]);
    s.plain(4, "general");
    assert_eq!(s.offers(), vec![(4, "a".to_string())]);
}
