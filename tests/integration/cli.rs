//! The `ncgw` binary as an operator uses it: help, check (ok and broken files), status against a node.

use super::harness::{ncgw, TestNode};

#[test]
fn help_lists_the_commands() {
    let (code, out, _) = ncgw(&["--help"]);
    assert_eq!(code, 0);
    for cmd in ["run", "check", "status", "ping", "drain"] {
        assert!(out.contains(cmd), "{cmd} missing from help:\n{out}");
    }
    let (code, out, _) = ncgw(&["run", "--help"]);
    assert_eq!(code, 0);
    for flag in ["--config", "--sip-listen", "--admin-listen", "--data-dir", "--rtp-ports"] {
        assert!(out.contains(flag), "{flag} missing from run help:\n{out}");
    }
}

#[test]
fn check_passes_on_the_shipped_config_and_dialplans() {
    let (code, out, err) = ncgw(&["check", "--config", "config/ncgw.toml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("config/ncgw.toml") && out.contains("dialplans/default.toml") && out.contains("config/queues.toml"), "{out}");
    assert!(!out.contains("error"), "{out}");
    let (code, out, err) = ncgw(&["check", "--config", "config/demo/ncgw.toml"]);
    assert_eq!(code, 0, "the demo config checks too: {out}{err}");
    let (code, out, _) = ncgw(&["check", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["check"].as_array().unwrap().iter().all(|f| f["ok"] == true), "{v}");
}

#[test]
fn check_names_file_line_and_field_of_each_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[sip]\nlisten = [\"0.0.0.0:5060\"]\nt1_ms = 0\n\n[admin]\nlisten = \"localhost:9060\"\n").unwrap();
    let plans = dir.path().join("plans");
    std::fs::create_dir(&plans).unwrap();
    std::fs::write(plans.join("a.toml"), "[[rule]]\nname = \"x\"\nqueue = \"q\"\nreject = 99\n").unwrap();
    let cfg_s = cfg.display().to_string();
    let (code, _out, err) = ncgw(&["check", "--config", &cfg_s, "--dialplans", &plans.display().to_string()]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{cfg_s}:3:9: sip.t1_ms: 0 is out of range")), "{err}");
    assert!(err.contains(&format!("{cfg_s}:6:10: admin.listen")), "{err}");
    assert!(err.contains("a.toml:4:10: reject: 99 is not a failure status"), "{err}");
    assert!(err.contains("fix:"), "errors say how to fix them: {err}");
    // `run` refuses to start on the same file, with the same messages.
    let (code, _, err) = ncgw(&["run", "--config", &cfg_s]);
    assert_eq!(code, 2);
    assert!(err.contains("sip.t1_ms") && err.contains("did not start"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_against_a_running_node() {
    let node = TestNode::start().await;
    let admin = node.admin.to_string();
    let (code, out, err) = tokio::task::spawn_blocking({
        let admin = admin.clone();
        move || ncgw(&["status", "--admin", &admin])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().unwrap().starts_with("FIELD"), "{out}");
    assert!(out.contains("accepting") && out.contains("true"), "{out}");
    let (code, out, _) = tokio::task::spawn_blocking(move || ncgw(&["status", "--admin", &admin, "--json"])).await.unwrap();
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"]["sip_listen"][0], node.sip.to_string());
    node.stop().await;
    let (code, _, err) = ncgw(&["status", "--admin", "127.0.0.1:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the node's admin API") && err.contains("fix:"), "{err}");
}

#[test]
fn dialplan_test_shows_decision_and_trace() {
    let (code, out, err) = ncgw(&["dialplan", "test", "--from", "+8613800138000", "--to", "tel:955551", "--source", "carrier", "--header", "X-Bank-Segment: elderly"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queue general"), "{out}");
    assert!(out.contains("elderly-first → sign-language-line → hotline"), "{out}");
    assert!(out.contains("sign_language:3"), "{out}");
    let (code, out, _) = ncgw(&["dialplan", "test", "--from", "1001", "--to", "1002", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"]["action"]["reject"]["status"], 404, "unauthenticated extension dialling is refused");
    let (code, out, _) = ncgw(&["dialplan", "test", "--from", "1001", "--to", "1002", "--authenticated", "1001", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"]["action"]["user"], "1002");
    let (code, _, err) = ncgw(&["dialplan", "test", "--from", "a", "--to", "b", "--source", "nosuchtrunk"]);
    assert_eq!(code, 1);
    assert!(err.contains("neither an IP address nor a trunk"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_registrations_calls_and_cdr_from_the_cli() {
    let node = TestNode::start().await;
    let admin = node.admin.to_string();
    let run = move |args: Vec<String>| {
        let admin = admin.clone();
        tokio::task::spawn_blocking(move || {
            let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
            a.extend(["--admin", &admin]);
            ncgw(&a)
        })
    };
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (code, out, err) = run(v(&["users", "add", "1011", "--password", "a-long-secret", "--display", "Agent One"])).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("user 1011 added"), "{out}");
    let (code, _, err) = run(v(&["users", "add", "1011", "--password", "a-long-secret"])).await.unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("409") || err.contains("exists"), "a second add is refused: {err}");
    let (code, _, err) = run(v(&["users", "add", "bad id", "--password", "x"])).await.unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("id") || err.contains("password"), "the field is named: {err}");
    let (code, out, _) = run(v(&["users", "list"])).await.unwrap();
    assert_eq!(code, 0);
    assert!(out.starts_with("ID") && out.contains("1011") && out.contains("Agent One"), "{out}");
    assert!(!out.contains("a-long-secret"), "no secret is shown");
    let (_, out, _) = run(v(&["users", "list", "--json"])).await.unwrap();
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(j["users"].as_array().unwrap().iter().any(|u| u["id"] == "1011"), "{j}");
    for cmd in [&["registrations", "--json"][..], &["calls", "--json"][..], &["cdr", "--json"][..]] {
        let (code, out, err) = run(v(cmd)).await.unwrap();
        assert_eq!(code, 0, "{cmd:?}: {err}");
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        let key = if cmd[0] == "registrations" { "registrations" } else { cmd[0] };
        assert!(j[key].is_array(), "{cmd:?} prints {{\"{key}\": [...]}}: {out}");
    }
    let (code, out, _) = run(v(&["users", "remove", "1011"])).await.unwrap();
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = run(v(&["users", "remove", "1011"])).await.unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("no user 1011"), "{err}");
    node.stop().await;
}
