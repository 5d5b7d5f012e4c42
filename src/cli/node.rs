//! Commands that talk to a running node: status, ping, drain.
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use super::client;
use super::table::Table;
use super::Cli;

#[derive(Debug, Args)]
pub struct PingArgs {
    /// The peer, as IP:port (e.g. 127.0.0.1:5070 or [::1]:5070).
    pub target: String,
    /// udp or tcp.
    #[arg(long, default_value = "udp")]
    pub transport: String,
}

fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn status(cli: &Cli) -> anyhow::Result<ExitCode> {
    let v: Value = client::get(&cli.admin, "/api/v1/status")?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "status": v }))?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["FIELD", "VALUE"]);
    t.row(vec!["version".into(), show(&v["version"])]);
    t.row(vec!["uptime".into(), format!("{}s", show(&v["uptime_s"]))]);
    t.row(vec!["accepting".into(), show(&v["accepting"])]);
    let listen: Vec<String> = v["sip_listen"].as_array().map(|a| a.iter().map(show).collect()).unwrap_or_default();
    t.row(vec!["sip listen (udp+tcp)".into(), listen.join(", ")]);
    t.row(vec!["tcp connections".into(), show(&v["tcp_connections"])]);
    for k in ["server_invite", "server_non_invite", "client_invite", "client_non_invite"] {
        t.row(vec![format!("transactions {}", k.replace('_', " ")), show(field(&v, &["transactions", k]))]);
    }
    for k in ["retransmissions_sent", "retransmissions_received", "timeouts", "overloads"] {
        t.row(vec![k.replace('_', " "), show(field(&v, &["transactions", k]))]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}

pub fn ping(cli: &Cli, args: &PingArgs) -> anyhow::Result<ExitCode> {
    eprintln!("sending OPTIONS to {} over {} (up to 32 s with the default T1)…", args.target, args.transport);
    let path = format!("/api/v1/ping?target={}&transport={}", urlencode(&args.target), urlencode(&args.transport));
    let v: Value = client::post(&cli.admin, &path, Duration::from_secs(130))?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "ping": v }))?);
    } else {
        let mut t = Table::new(&["TARGET", "OUTCOME", "STATUS", "RTT_MS", "SENDS"]);
        let status = match (&v["status"], &v["reason"]) {
            (Value::Number(n), Value::String(r)) => format!("{n} {r}"),
            _ => "-".into(),
        };
        let rtt = v["rtt_ms"].as_f64().map_or("-".into(), |r| format!("{r:.1}"));
        t.row(vec![args.target.clone(), show(&v["outcome"]), status, rtt, show(&v["sends"])]);
        print!("{}", t.render());
    }
    Ok(if v["outcome"] == "ok" { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub fn drain(cli: &Cli) -> anyhow::Result<ExitCode> {
    let v: Value = client::post(&cli.admin, "/api/v1/drain", Duration::from_secs(10))?;
    if cli.json {
        println!("{v}");
    } else {
        println!("draining: new calls are refused with 503; the node stops when open transactions finish");
    }
    Ok(ExitCode::SUCCESS)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
