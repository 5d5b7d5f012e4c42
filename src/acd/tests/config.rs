//! Queue configuration: the shipped example, defaults, and errors that name line, field and fix.
use super::*;

#[test]
fn the_shipped_example_loads_with_the_demo_agents_and_queues() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/queues.toml");
    let config = AcdConfig::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = config.queues.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["general", "loan", "sign_language", "video"]);
    let ids: Vec<_> = config.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["1001", "1002", "1003", "1004"]);
    let sign = config.queue("sign_language").unwrap();
    assert_eq!(sign.relax, vec![Relax { after: secs(60), drop: "lang:yue".into() }]);
    assert_eq!(sign.overflow, Some(OverflowTarget::Announce { announcement: "sign-language-busy".into() }));
    assert_eq!(config.agents[2].skills.iter().find(|s| s.0 == "lang:yue"), Some(&("lang:yue".to_string(), 1)));
    assert!(!std::fs::read_to_string(&path).unwrap().to_lowercase().contains("password ="));
    // Who serves what: 1003 (sign language, video, retail) serves general, sign_language, video.
    let mut acd = Acd::new(config);
    let now = epoch();
    for id in ["1001", "1002", "1003", "1004"] {
        acd.agent_login(now, id, None).unwrap();
    }
    let served = |id: &str| acd.agent(id).unwrap().queues;
    assert_eq!(served("1001"), ["general", "video"]);
    assert_eq!(served("1002"), ["general", "loan", "video"]);
    assert_eq!(served("1003"), ["general", "sign_language", "video"]);
    assert_eq!(served("1004"), ["loan"]);
}

#[test]
fn defaults_fill_what_is_left_out() {
    let c = AcdConfig::from_text("q.toml", "[[queue]]\nname = \"q\"\n").unwrap();
    let q = &c.queues[0];
    assert_eq!((q.sl_target, q.sl_target_pct, q.ring_timeout, q.wrap_up, q.position_every), (secs(20), 80, secs(15), secs(10), secs(30)));
    assert_eq!((q.max_wait, q.max_length, &q.overflow, &q.hours), (None, None, &None, &None));
    assert_eq!((c.stats_interval, c.stats_keep), (secs(900), 96));
}

#[test]
fn errors_name_file_line_field_and_fix() {
    let text = r#"
[[queue]]
name = "a"
skills = ["loan:11"]
overflow = { queue = "nowhere" }
hours = { from = "8am", to = "20:00" }

[[queue]]
name = "a"
sl_target_pct = 120
overflow = { announce = "x", callback = true }

[[agent]]
id = "1001"
skills = ["retail:3", "retail:2"]
queues = ["b"]
"#;
    let errors = AcdConfig::from_text("queues.toml", text).unwrap_err().0;
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line.map_or(0, |l| l.0), e.field.as_str())).collect();
    assert_eq!(
        found,
        [
            (4, "queue.skills"),
            (6, "queue.hours.from"),
            (9, "queue.name"),
            (10, "queue.sl_target_pct"),
            (11, "queue.overflow"),
            (5, "queue.overflow.queue"),
            (15, "agent.skills"),
            (16, "agent.queues"),
        ]
    );
    assert!(errors.iter().all(|e| e.source == "queues.toml" && !e.fix.is_empty()));
    let shown = errors[0].to_string();
    assert!(shown.starts_with("queues.toml:4:") && shown.contains("fix:"), "{shown}");

    let unknown = AcdConfig::from_text("queues.toml", "[[queue]]\nname = \"a\"\nmax_wiat_s = 3\n").unwrap_err().0;
    assert_eq!(unknown[0].line.map(|l| l.0), Some(3));
    // Out-of-range numbers are errors, not overflows.
    let odd = AcdConfig::from_text("q.toml", "[[queue]]\nname = \"a\"\nhours = { from = \"9999:00\", to = \"24:00\", utc_offset = \"+99:00\" }\n").unwrap_err().0;
    let fields: Vec<_> = odd.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["queue.hours.from", "queue.hours.utc_offset"]);
    assert!(unknown[0].message.contains("unknown field"), "{}", unknown[0].message);
}

#[test]
fn a_login_naming_an_unknown_queue_or_agent_is_refused() {
    let mut acd = Acd::new(AcdConfig::from_text("q.toml", "[[queue]]\nname = \"q\"\n[[agent]]\nid = \"a\"\n").unwrap());
    let now = epoch();
    assert_eq!(acd.agent_login(now, "a", Some(vec!["x".into()])), Err(AcdError::UnknownQueue("x".into())));
    assert_eq!(acd.agent_login(now, "zz", None), Err(AcdError::UnknownAgent("zz".into())));
    assert_eq!(acd.enqueue(now, 0, CallKey(1), "x", CallAttributes::default()), Err(EnqueueRefused::UnknownQueue("x".into())));
}
