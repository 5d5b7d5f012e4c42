//! `ncgw calls` (live calls, show, hangup) and `ncgw cdr` (call records).
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::client;
use super::table::Table;
use super::Cli;

#[derive(Debug, Args)]
pub struct CallsArgs {
    #[command(subcommand)]
    pub action: Option<CallsAction>,
}

#[derive(Debug, Subcommand)]
pub enum CallsAction {
    /// One call in detail: legs, dialogs, codecs, media counters.
    Show { id: String },
    /// End a call (BYE to both legs, or CANCEL/480 before answer).
    Hangup { id: String },
}

#[derive(Debug, Args)]
pub struct CdrArgs {
    /// Only calls started after this: a duration back from now (30m, 2h, 7d) or unix seconds.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many records, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn calls(cli: &Cli, args: &CallsArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        None => {
            let v: Value = client::get(&cli.admin, "/api/v1/calls")?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = Table::new(&["ID", "AGE", "FROM", "TO", "STATE", "LEGS", "CODEC", "SOURCE"]);
            for c in v["calls"].as_array().cloned().unwrap_or_default() {
                t.row(vec![s(&c["id"]), format!("{}s", s(&c["age_s"])), s(&c["from"]), s(&c["to"]), s(&c["state"]), s(&c["legs"]), s(&c["codec"]), s(&c["source"])]);
            }
            print!("{}", t.render());
            Ok(ExitCode::SUCCESS)
        }
        Some(CallsAction::Show { id }) => {
            let v: Value = client::get(&cli.admin, &format!("/api/v1/calls/{id}"))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "call": v }))?);
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = Table::new(&["FIELD", "VALUE"]);
            for k in ["id", "state", "from", "to", "source", "rule", "queue", "age_s"] {
                t.row(vec![k.replace('_', " "), s(&v[k])]);
            }
            print!("{}", t.render());
            println!();
            let mut legs = Table::new(&["LEG", "PEER", "DIALOG", "CODEC", "HOLD", "LOCAL MEDIA", "REMOTE MEDIA", "PKTS IN", "PKTS OUT", "LOST", "JITTER MS", "FOREIGN"]);
            let media = v["media"].as_array().cloned().unwrap_or_default();
            for leg in v["legs"].as_array().cloned().unwrap_or_default() {
                let side = s(&leg["side"]);
                let m = media.iter().find(|m| m["leg"] == side.as_str()).cloned().unwrap_or(Value::Null);
                let jitter = m["jitter_ms"].as_f64().map_or("-".into(), |j| format!("{j:.1}"));
                legs.row(vec![side, s(&leg["peer"]), s(&leg["dialog"]), s(&leg["codec"]), s(&leg["hold"]), s(&leg["local_media"]), s(&leg["remote_media"]), s(&m["packets_in"]), s(&m["packets_out"]), s(&m["lost"]), jitter, s(&m["dropped_foreign"])]);
            }
            print!("{}", legs.render());
            Ok(ExitCode::SUCCESS)
        }
        Some(CallsAction::Hangup { id }) => {
            let v: Value = client::post(&cli.admin, &format!("/api/v1/calls/{id}/hangup"), Duration::from_secs(10))?;
            if cli.json {
                println!("{v}");
            } else {
                println!("call {id} is being ended (BYE to both legs)");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Parses `--since`: `30m`, `2h`, `7d`, `45s`, or unix seconds; returns unix milliseconds.
pub fn since_ms(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    let text = text.trim();
    let unit = text.chars().last().unwrap_or('0');
    if unit.is_ascii_alphabetic() {
        let n: i64 = text[..text.len() - 1].parse().map_err(|_| anyhow::anyhow!("--since {text}: write a number with s, m, h or d, e.g. 30m"))?;
        let secs = match unit {
            's' => n,
            'm' => n * 60,
            'h' => n * 3600,
            'd' => n * 86_400,
            _ => anyhow::bail!("--since {text}: the unit must be s, m, h or d"),
        };
        return Ok(now_ms - secs * 1000);
    }
    let secs: i64 = text.parse().map_err(|_| anyhow::anyhow!("--since {text}: give a duration (30m, 2h) or unix seconds"))?;
    Ok(secs * 1000)
}

pub(super) fn time_of(ms: &Value) -> String {
    ms.as_i64().map_or_else(|| "-".into(), crate::civil_time::table)
}

pub fn cdr(cli: &Cli, args: &CdrArgs) -> anyhow::Result<ExitCode> {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let mut path = format!("/api/v1/cdr?limit={}", args.limit);
    if let Some(since) = &args.since {
        path.push_str(&format!("&since={}", since_ms(since, now_ms)?));
    }
    let v: Value = client::get(&cli.admin, &path)?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["ID", "STARTED", "FROM", "TO", "OUTCOME", "CAUSE", "BY", "SETUP MS", "TALK S", "CODES", "RULE", "QUEUE", "AGENT", "WAIT S", "QUEUE OUTCOME"]);
    for r in v["cdr"].as_array().cloned().unwrap_or_default() {
        let talk = r["talk_ms"].as_i64().map_or("-".into(), |t| format!("{:.1}", t as f64 / 1000.0));
        let codes = format!("{}/{}", s(&r["sip_code_in"]), s(&r["sip_code_out"]));
        let wait = r["wait_ms"].as_i64().map_or("-".into(), |w| format!("{:.1}", w as f64 / 1000.0));
        t.row(vec![s(&r["id"]), time_of(&r["started_at"]), s(&r["caller"]), s(&r["callee"]), s(&r["outcome"]), s(&r["cause"]), s(&r["ended_by"]), s(&r["setup_ms"]), talk, codes, s(&r["dialplan_rule"]), s(&r["queue"]), s(&r["agent"]), wait, s(&r["queue_outcome"])]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_unix_seconds() {
        assert_eq!(since_ms("30m", 10_000_000).unwrap(), 10_000_000 - 1_800_000);
        assert_eq!(since_ms("2d", 1_000_000_000).unwrap(), 1_000_000_000 - 172_800_000);
        assert_eq!(since_ms("1795744800", 0).unwrap(), 1_795_744_800_000);
        assert!(since_ms("5y", 0).is_err());
        assert!(since_ms("abc", 0).is_err());
    }

    #[test]
    fn times_print_as_utc() {
        assert_eq!(time_of(&Value::from(1_795_744_800_000i64)), "2026-11-27 02:00:00Z");
        assert_eq!(time_of(&Value::from(0)), "1970-01-01 00:00:00Z");
    }
}
