//! Dialplan tests: the shipped plan's decisions, matching rules, and error messages.
use super::*;

fn shipped() -> Dialplan {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans/default.toml");
    Dialplan::from_text(path, &std::fs::read_to_string(path).unwrap()).unwrap()
}

fn call(from: &str, to: &str) -> CallInfo {
    CallInfo {
        to: to.into(),
        from: from.into(),
        asserted: None,
        source_ip: Some("192.0.2.50".parse().unwrap()),
        authenticated_user: None,
        headers: vec![],
        unix_time: 1_790_000_000,
    }
}

#[test]
fn hotline_forms_all_reach_general_queue() {
    let plan = shipped();
    for to in ["95555", "sip:95555@bank.example;user=phone", "tel:95555;phone-context=+86", "<sip:95555@127.0.0.1>"] {
        let d = plan.decide(&call("sip:someone@example.com", to));
        assert_eq!(d.action, Action::Queue("general".into()), "{to}");
        assert_eq!(d.rule.as_deref(), Some("hotline"));
    }
}

#[test]
fn sign_language_line_sets_skills_then_queues() {
    let d = shipped().decide(&call("sip:x@example.com", "955551"));
    assert_eq!(d.action, Action::Queue("general".into()));
    assert_eq!(d.matched, vec!["sign-language-line", "hotline"]);
    assert_eq!(d.attributes.skills, vec![("sign_language".to_owned(), 3), ("video".to_owned(), 1)]);
}

#[test]
fn elderly_mark_only_from_trusted_trunk() {
    let plan = shipped();
    let mut c = call("sip:x@example.com", "95555");
    c.headers.push(("x-bank-segment".into(), "elderly".into()));
    assert_eq!(plan.decide(&c).attributes.priority, None, "untrusted source cannot set priority");
    c.source_ip = Some("127.0.0.2".parse().unwrap());
    let d = plan.decide(&c);
    assert_eq!(d.attributes.priority, Some(10));
    assert_eq!(d.trunk.as_deref(), Some("carrier"));
}

#[test]
fn pai_believed_only_from_trusted_trunk() {
    let plan = shipped();
    let mut c = call("sip:anonymous@anonymous.invalid", "95555");
    c.asserted = Some("tel:+86-138-0013-8000".into());
    assert_eq!(plan.decide(&c).caller, "anonymous");
    c.source_ip = Some("127.0.0.2".parse().unwrap());
    assert_eq!(plan.decide(&c).caller, "+8613800138000");
}

#[test]
fn extensions_need_authentication_and_nothing_reaches_outside() {
    let plan = shipped();
    let d = plan.decide(&call("sip:1001@bank", "1002"));
    assert_eq!(d.action, Action::Reject { status: 404, reason: Some("No Route".into()) });
    assert_eq!(d.cause, Some("dialplan.rejected"));
    let mut c = call("sip:1001@bank", "sip:1002@bank");
    c.authenticated_user = Some("1001".into());
    assert_eq!(plan.decide(&c).action, Action::User("1002".into()));
    for to in ["+8613800138000", "0085212345678", "110"] {
        assert!(matches!(plan.decide(&c_with(&c, to)).action, Action::Reject { .. }), "{to}");
    }
}

fn c_with(c: &CallInfo, to: &str) -> CallInfo {
    CallInfo { to: to.into(), ..c.clone() }
}

#[test]
fn time_windows_use_the_file_offset() {
    let text = "utc_offset = \"+08:00\"\n[[rule]]\nname = \"office\"\ndays = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"]\nhours = \"09:00-17:00\"\nqueue = \"day\"\n[[rule]]\nname = \"night\"\nqueue = \"night\"\n";
    let plan = Dialplan::from_text("t", text).unwrap();
    // 2026-11-27 (a Friday) 02:00 UTC = 10:00 at +08:00.
    let friday_10_local = 1_795_744_800;
    assert_eq!(local_time(friday_10_local, 480), (4, 600));
    let mut c = call("a", "b");
    c.unix_time = friday_10_local;
    assert_eq!(plan.decide(&c).action, Action::Queue("day".into()));
    c.unix_time += 8 * 3600; // 18:00 local
    assert_eq!(plan.decide(&c).action, Action::Queue("night".into()));
    c.unix_time += 24 * 3600 - 8 * 3600; // Saturday 10:00
    assert_eq!(plan.decide(&c).action, Action::Queue("night".into()));
}

#[test]
fn overnight_window() {
    let w = TimeWindow { utc_offset_min: 0, days: 0x7f, start_min: 22 * 60, end_min: 6 * 60 };
    assert!(w.contains(0, 23 * 60));
    assert!(w.contains(0, 5 * 60));
    assert!(!w.contains(0, 12 * 60));
}

#[test]
fn errors_name_file_line_and_field() {
    let text = "[[rule]]\nname = \"a\"\nto_regex = \"([\"\nqueue = \"q\"\n\n[[rule]]\nname = \"b\"\nsource = \"trunk:nope\"\nreject = 200\n[[rule]]\nname = \"c\"\nqueue = \"x\"\nroute = \"sip:a@b\"\n";
    let e = Dialplan::from_text("plan.toml", text).unwrap_err();
    let lines: Vec<String> = e.0.iter().map(|e| e.to_string()).collect();
    assert_eq!(e.0.len(), 4, "{lines:#?}");
    assert!(lines[0].starts_with("plan.toml:3:") && lines[0].contains("to_regex"), "{}", lines[0]);
    assert!(lines[1].starts_with("plan.toml:8:") && lines[1].contains("no trunk named 'nope'"), "{}", lines[1]);
    assert!(lines[2].starts_with("plan.toml:9:") && lines[2].contains("reject"), "{}", lines[2]);
    assert!(lines[3].contains("has 2 actions"), "{}", lines[3]);
}

#[test]
fn unknown_field_is_refused_with_line() {
    let e = Dialplan::from_text("p.toml", "[[rule]]\nname = \"a\"\nqueeu = \"general\"\n").unwrap_err();
    assert!(e.to_string().starts_with("p.toml:3:"), "{e}");
    assert!(e.to_string().contains("unknown field"), "{e}");
}

#[test]
fn cidr_matching() {
    let n = IpNet::parse("10.1.0.0/16").unwrap();
    assert!(n.contains("10.1.200.3".parse().unwrap()));
    assert!(!n.contains("10.2.0.1".parse().unwrap()));
    let v6 = IpNet::parse("2001:db8::/32").unwrap();
    assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
    assert!(IpNet::parse("10.0.0.0/33").is_none());
}

#[test]
fn absurd_hours_are_an_error_not_a_panic() {
    // Regression: "9999:00" overflowed the minute computation.
    for hours in ["9999:00-10:00", "08:00-65535:59", "24:30-25:00"] {
        let text = format!("[[rule]]\nname = \"t\"\nhours = \"{hours}\"\nqueue = \"q\"\n");
        let e = Dialplan::from_text("p.toml", &text).unwrap_err();
        assert!(e.to_string().contains("hours"), "{hours}: {e}");
    }
}
