//! Agent and queue operations as an operator does them: the `ncgw` binary against a running node
//! (provisioning, login, break, the `--json` listings and their numbers), agents registering with
//! the password they were given, provisioning surviving a restart, and the ACD series in /metrics.

use serde_json::Value;

use super::harness::{admin_get, ncgw, TestNode};
use super::sipp::Sipp;

/// Runs `ncgw ARGS --admin NODE` on a blocking thread.
pub(super) async fn cli(node: &TestNode, args: &[&str]) -> (i32, String, String) {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.extend(["--admin".to_owned(), node.admin.to_string()]);
    tokio::task::spawn_blocking(move || ncgw(&a.iter().map(String::as_str).collect::<Vec<_>>())).await.expect("cli task")
}

pub(super) async fn json(node: &TestNode, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, out, err) = cli(node, &a).await;
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} prints JSON ({e}): {out}"))
}

pub(super) fn agent<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list["agents"].as_array()?.iter().find(|a| a["id"] == id)
}

pub(super) fn queue<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["queues"].as_array().and_then(|l| l.iter().find(|q| q["name"] == name)).unwrap_or_else(|| panic!("queue {name} in {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acd_agents_are_provisioned_logged_in_and_counted_from_the_cli() {
    let node = TestNode::start().await;
    // The queue file's demo agents are there, logged out.
    let list = json(&node, &["agents"]).await;
    for id in ["1001", "1002", "1003", "1004"] {
        assert_eq!(agent(&list, id).map(|a| a["state"].clone()), Some(Value::from("logged_out")), "{list}");
    }

    let (code, out, err) = cli(&node, &["agents", "add", "2001", "--password", "agent-2001-pw", "--skills", "loan:4,lang:yue", "--queues", "loan", "--display", "Ann"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("agent 2001 added"), "{out}");
    // Mistakes are refused, naming the field and the fix.
    let (code, _, err) = cli(&node, &["agents", "add", "2001", "--password", "agent-2001-pw"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("already exists") && err.contains("agents set"), "{err}");
    let (code, _, err) = cli(&node, &["agents", "add", "2002", "--password", "agent-2002-pw", "--skills", "loan:11"]).await;
    assert_eq!((code, err.contains("skills:") && err.contains("1 to 10")), (1, true), "{err}");
    let (code, _, err) = cli(&node, &["agents", "add", "2002", "--password", "agent-2002-pw", "--queues", "nosuch"]).await;
    assert_eq!((code, err.contains("queues:") && err.contains("nosuch")), (1, true), "{err}");
    let (code, _, err) = cli(&node, &["agents", "add", "2002", "--password", "short"]).await;
    assert_eq!((code, err.contains("password")), (1, true), "{err}");
    let (code, _, err) = cli(&node, &["agents", "state", "1004", "break"]).await;
    assert_eq!((code, err.contains("not logged in") && err.contains("agents login 1004")), (1, true), "{err}");

    for args in [&["agents", "login", "2001"][..], &["agents", "login", "1001"], &["agents", "login", "1002", "--queue", "loan"], &["agents", "login", "1003"]] {
        let (code, _, err) = cli(&node, args).await;
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, out, err) = cli(&node, &["agents", "state", "1001", "break", "--reason", "lunch"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("break (lunch)"), "{out}");
    let (code, _, _) = cli(&node, &["agents", "logout", "1003"]).await;
    assert_eq!(code, 0);

    let list = json(&node, &["agents"]).await;
    let a2001 = agent(&list, "2001").expect("2001 listed");
    assert_eq!((a2001["state"].as_str(), a2001["skills"].as_str()), (Some("available"), Some("loan:4,lang:yue")), "{a2001}");
    assert_eq!(a2001["queues"], serde_json::json!(["loan"]));
    let a1001 = agent(&list, "1001").unwrap();
    assert_eq!((a1001["state"].as_str(), a1001["reason"].as_str()), (Some("break"), Some("lunch")), "{a1001}");
    assert_eq!(agent(&list, "1002").unwrap()["queues"], serde_json::json!(["loan"]), "login --queue limits the queues");
    assert_eq!(agent(&list, "1003").unwrap()["state"], "logged_out");

    let queues = json(&node, &["queues"]).await;
    let general = queue(&queues, "general");
    assert_eq!(general["agents"], serde_json::json!({ "available": 0, "offered": 0, "on_call": 0, "wrap_up": 0, "break": 1 }), "{general}");
    assert_eq!((general["waiting"].as_u64(), general["offered"].as_u64(), general["sl_target_pct"].as_u64()), (Some(0), Some(0), Some(80)));
    let loan = queue(&queues, "loan");
    assert_eq!(loan["agents"]["available"], 2, "2001 and 1002 serve loan: {loan}");
    let show = json(&node, &["queues", "show", "loan"]).await;
    assert_eq!(show["queue"]["name"], "loan");
    assert!(!show["queue"]["intervals"].as_array().expect("intervals").is_empty(), "{show}");
    let (code, _, err) = cli(&node, &["queues", "show", "nosuch"]).await;
    assert_eq!((code, err.contains("no queue named 'nosuch'")), (1, true), "{err}");

    // The tables line up under their headers.
    let (_, table, _) = cli(&node, &["agents"]).await;
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("ID") && header.contains("STATE") && header.contains("SINCE"), "{table}");
    let col = header.find("STATE").unwrap();
    assert!(table.lines().skip(1).all(|l| l.len() > col && l.as_bytes()[col - 1] == b' '), "{table}");
    let (_, table, _) = cli(&node, &["queues"]).await;
    assert!(table.starts_with("QUEUE") && table.contains("general") && table.contains("SL %"), "{table}");

    // Changes apply to the live agent; removal takes the SIP user too.
    let (code, _, err) = cli(&node, &["agents", "set", "2001", "--skills", "loan:5,video:1", "--queues", "all"]).await;
    assert_eq!(code, 0, "{err}");
    let list = json(&node, &["agents"]).await;
    let a2001 = agent(&list, "2001").unwrap();
    assert_eq!(a2001["skills"], "loan:5,video:1");
    assert_eq!(a2001["queues"], serde_json::json!(["general", "loan", "video"]), "every queue the skills qualify for");
    let (code, _, err) = cli(&node, &["agents", "set", "9999", "--skills", "x:1"]).await;
    assert_eq!((code, err.contains("no agent 9999")), (1, true), "{err}");
    let users = json(&node, &["users", "list"]).await;
    assert!(users["users"].as_array().unwrap().iter().any(|u| u["id"] == "2001"), "an agent is a SIP user: {users}");
    let (code, _, err) = cli(&node, &["agents", "remove", "2001"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(agent(&json(&node, &["agents"]).await, "2001").is_none());
    let users = json(&node, &["users", "list"]).await;
    assert!(!users["users"].as_array().unwrap().iter().any(|u| u["id"] == "2001"), "{users}");

    // The ACD series are exported.
    let (_, metrics) = admin_get(node.admin, "/metrics").await;
    for series in [
        "ncgw_acd_waiting_calls{queue=\"general\"}",
        "ncgw_acd_longest_wait_seconds{queue=\"loan\"}",
        "ncgw_acd_offered_total{queue=\"general\"}",
        "ncgw_acd_answered_total{queue=\"general\"}",
        "ncgw_acd_abandoned_total{queue=\"general\"}",
        "ncgw_acd_overflowed_total{queue=\"loan\"}",
        "ncgw_acd_timed_out_total{queue=\"video\"}",
        "ncgw_acd_agents{queue=\"general\",state=\"break\"}",
        "ncgw_acd_service_level{queue=\"general\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    node.stop().await;
}

/// An agent's password set with `ncgw agents set` is the one its phone registers with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acd_agent_registers_with_the_password_it_was_given() {
    // SIPp 3.6.1 answers only an MD5 challenge offered first.
    let node = TestNode::start_with(|s| s.auth_algorithms = vec![ncgw::sip::auth::Algorithm::Md5, ncgw::sip::auth::Algorithm::Sha256]).await;
    let csv = tempfile::tempdir().unwrap();
    let inf = csv.path().join("agent.csv");
    std::fs::write(&inf, "SEQUENTIAL\n1002;agent-1002-pw;[authentication username=1002 password=agent-1002-pw]\n").unwrap();
    let inf = inf.display().to_string();
    // The generated password is unknown to the phone: refused.
    let refused = Sipp::new(Some(node.sip), "calls/uac_register_auth.xml").args(&["-m", "1", "-inf", &inf]).run().await;
    assert_ne!(refused.code, Some(0), "a wrong password does not register");
    let (code, _, err) = cli(&node, &["agents", "set", "1002", "--password", "agent-1002-pw"]).await;
    assert_eq!(code, 0, "{err}");
    Sipp::new(Some(node.sip), "calls/uac_register_auth.xml").args(&["-m", "1", "-inf", &inf]).run().await.assert_ok();
    let (_, regs) = admin_get(node.admin, "/api/v1/registrations").await;
    assert!(regs.contains("\"user\":\"1002\""), "{regs}");
    node.stop().await;
}

/// Agents added, changed and removed are still so after a restart on the same data directory,
/// and the demo agents get no new password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acd_provisioning_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let node = TestNode::start_with(|s| s.data_dir = dir.clone()).await;
    let before = json(&node, &["users", "list"]).await;
    for args in [
        &["agents", "add", "2001", "--password", "agent-2001-pw", "--skills", "retail:2"][..],
        &["agents", "set", "1002", "--skills", "retail:4"],
        &["agents", "remove", "1003"],
    ] {
        let (code, _, err) = cli(&node, args).await;
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    node.stop().await;

    let node = TestNode::start_with(|s| s.data_dir = dir.clone()).await;
    let list = json(&node, &["agents"]).await;
    assert_eq!(agent(&list, "2001").map(|a| a["skills"].clone()), Some(Value::from("retail:2")), "{list}");
    assert_eq!(agent(&list, "1002").unwrap()["skills"], "retail:4", "the database wins over the queue file");
    assert!(agent(&list, "1003").is_none(), "a removed demo agent stays removed: {list}");
    let after = json(&node, &["users", "list"]).await;
    let created = |v: &Value, id: &str| v["users"].as_array().unwrap().iter().find(|u| u["id"] == id).map(|u| u["created_at"].clone());
    assert_eq!(created(&after, "1001"), created(&before, "1001"), "1001's generated password was not replaced");
    node.stop().await;
}

/// A JSON request to the admin API from a test: (status, body).
async fn api(node: &TestNode, method: &'static str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("http://{}{path}", node.admin);
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut resp = match (method, body) {
            ("PUT", Some(b)) => agent.put(&url).send_json(&b),
            ("POST", Some(b)) => agent.post(&url).send_json(&b),
            ("POST", None) => agent.post(&url).send_empty(),
            ("DELETE", _) => agent.delete(&url).call(),
            _ => agent.get(&url).call(),
        }
        .expect("admin reachable");
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (resp.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
    })
    .await
    .expect("api task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acd_admin_api_answers_json_and_names_the_field_in_errors() {
    let node = TestNode::start().await;
    let (code, v) = api(&node, "GET", "/api/v1/agents/1003", None).await;
    assert_eq!((code, v["agent"]["skills"].as_str()), (200, Some("retail:1,sign_language:4,video:1,lang:yue")), "{v}");
    let (code, v) = api(&node, "GET", "/api/v1/agents/nobody", None).await;
    assert_eq!(code, 404, "{v}");
    // PUT creates (a password is needed) or changes.
    let (code, v) = api(&node, "PUT", "/api/v1/agents/3001", Some(serde_json::json!({ "skills": "retail:2" }))).await;
    assert_eq!(code, 400);
    assert!(v["error"].as_str().unwrap().starts_with("password:"), "{v}");
    let (code, v) = api(&node, "PUT", "/api/v1/agents/3001", Some(serde_json::json!({ "skills": "retail:2", "password": "agent-3001-pw" }))).await;
    assert_eq!((code, v["created"].as_bool()), (200, Some(true)), "{v}");
    let (code, v) = api(&node, "PUT", "/api/v1/agents/3001", Some(serde_json::json!({ "queues": "general" }))).await;
    assert_eq!((code, v["created"].as_bool(), v["agent"]["skills"].as_str()), (200, Some(false), Some("retail:2")), "{v}");
    let (code, v) = api(&node, "PUT", "/api/v1/agents/3001", Some(serde_json::json!({ "mode": "replace" }))).await;
    assert_eq!(code, 400);
    assert!(v["error"].as_str().unwrap().starts_with("mode:"), "{v}");
    // Login, a break, back, logout.
    let (code, v) = api(&node, "POST", "/api/v1/agents/3001/login", None).await;
    assert_eq!((code, v["agent"]["state"].as_str(), v["agent"]["queues"].clone()), (200, Some("available"), serde_json::json!(["general"])), "{v}");
    let (code, v) = api(&node, "POST", "/api/v1/agents/3001/state", Some(serde_json::json!({ "state": "break", "reason": "training" }))).await;
    assert_eq!((code, v["agent"]["state"].as_str(), v["agent"]["reason"].as_str()), (200, Some("break"), Some("training")), "{v}");
    let (code, v) = api(&node, "POST", "/api/v1/agents/3001/state", Some(serde_json::json!({ "state": "asleep" }))).await;
    assert_eq!(code, 400);
    assert!(v["error"].as_str().unwrap().starts_with("state:"), "{v}");
    let (code, v) = api(&node, "POST", "/api/v1/agents/3001/state", Some(serde_json::json!({ "state": "available" }))).await;
    assert_eq!((code, v["agent"]["state"].as_str()), (200, Some("available")), "{v}");
    let (code, v) = api(&node, "POST", "/api/v1/agents/3001/login?queue=nosuch", None).await;
    assert_eq!(code, 400, "{v}");
    let (code, v) = api(&node, "POST", "/api/v1/agents/3001/logout", None).await;
    assert_eq!((code, v["agent"]["state"].as_str()), (200, Some("logged_out")), "{v}");
    // Queues.
    let (code, v) = api(&node, "GET", "/api/v1/queues", None).await;
    assert_eq!(code, 200);
    let names: Vec<_> = v["queues"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["general", "loan", "sign_language", "video"]);
    let (code, v) = api(&node, "GET", "/api/v1/queues/general", None).await;
    assert_eq!((code, v["queue"]["sl_target_s"].as_u64()), (200, Some(20)), "{v}");
    assert!(v["queue"]["intervals"][0]["start_ms"].as_i64().is_some_and(|t| t > 1_700_000_000_000), "{v}");
    // Removal.
    let (code, _) = api(&node, "DELETE", "/api/v1/agents/3001", None).await;
    assert_eq!(code, 200);
    let (code, v) = api(&node, "DELETE", "/api/v1/agents/3001", None).await;
    assert_eq!(code, 404, "{v}");
    node.stop().await;
}
