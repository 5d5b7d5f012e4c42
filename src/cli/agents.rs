//! `ncgw agents`: list agents with their live state, provision them (database and live ACD),
//! log them in and out, and set them available or on break.
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::client;
use super::table::Table;
use super::Cli;

#[derive(Debug, Args)]
pub struct AgentsArgs {
    #[command(subcommand)]
    pub action: Option<AgentsAction>,
}

#[derive(Debug, Subcommand)]
pub enum AgentsAction {
    /// Add an agent; it is also a SIP user (the password is stored only as digest hashes).
    Add {
        id: String,
        #[arg(long)]
        password: String,
        /// Skills with levels 1-10, e.g. retail:3,loan:5,lang:yue
        #[arg(long, default_value = "")]
        skills: String,
        /// Queues served, e.g. general,loan (default: every queue the skills qualify for).
        #[arg(long)]
        queues: Option<String>,
        #[arg(long)]
        display: Option<String>,
    },
    /// Change an agent's password, skills or queues (`--queues all`: every qualifying queue).
    Set {
        id: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        skills: Option<String>,
        #[arg(long)]
        queues: Option<String>,
        #[arg(long)]
        display: Option<String>,
    },
    /// Remove an agent and its SIP user (refused while it has a call).
    Remove { id: String },
    /// Log an agent in: available at once.
    Login {
        id: String,
        /// Serve only these queues for this login (comma-separated).
        #[arg(long)]
        queue: Option<String>,
    },
    /// Log an agent out (a call ringing at it goes to the next agent).
    Logout { id: String },
    /// Set an agent available, or on break (after its current call, if it has one).
    State {
        id: String,
        state: StateArg,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateArg {
    Available,
    Break,
}

pub(super) fn s(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Seconds as `45s`, `12m05s`, `3h02m`.
pub(super) fn dur(v: &Value) -> String {
    let Some(secs) = v.as_f64() else { return "-".into() };
    let secs = secs.max(0.0).round() as u64;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

fn print_agents(list: &[Value]) {
    let mut t = Table::new(&["ID", "STATE", "REASON", "QUEUES", "SKILLS", "CALL", "SINCE"]);
    for a in list {
        let reason = match &a["pending_break"] {
            Value::String(p) => format!("break after call: {p}"),
            _ => s(&a["reason"]),
        };
        t.row(vec![s(&a["id"]), s(&a["state"]), reason, s(&a["queues"]), s(&a["skills"]), s(&a["call"]), dur(&a["since_s"])]);
    }
    print!("{}", t.render());
}

fn done(cli: &Cli, v: &Value, message: String) -> anyhow::Result<ExitCode> {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        println!("{message}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn agents(cli: &Cli, args: &AgentsArgs) -> anyhow::Result<ExitCode> {
    let Some(action) = &args.action else {
        let v: Value = client::get(&cli.admin, "/api/v1/agents")?;
        if cli.json {
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            print_agents(&v["agents"].as_array().cloned().unwrap_or_default());
        }
        return Ok(ExitCode::SUCCESS);
    };
    match action {
        AgentsAction::Add { id, password, skills, queues, display } => {
            let body = serde_json::json!({ "mode": "add", "password": password, "skills": skills, "queues": queues, "display": display });
            let v: Value = client::put_json(&cli.admin, &format!("/api/v1/agents/{id}"), &body)?;
            let serves = queues.clone().unwrap_or_else(|| "every queue its skills qualify for".into());
            done(cli, &v, format!("agent {id} added (skills {}, serves {serves}); it can register as SIP user {id}; log it in with `ncgw agents login {id}`", s(&v["agent"]["skills"])))
        }
        AgentsAction::Set { id, password, skills, queues, display } => {
            if password.is_none() && skills.is_none() && queues.is_none() && display.is_none() {
                anyhow::bail!("nothing to change (fix: give --password, --skills, --queues or --display)");
            }
            let body = serde_json::json!({ "mode": "set", "password": password, "skills": skills, "queues": queues, "display": display });
            let v: Value = client::put_json(&cli.admin, &format!("/api/v1/agents/{id}"), &body)?;
            done(cli, &v, format!("agent {id} changed (skills {}, state {})", s(&v["agent"]["skills"]), s(&v["agent"]["state"])))
        }
        AgentsAction::Remove { id } => {
            let v: Value = client::delete(&cli.admin, &format!("/api/v1/agents/{id}"))?;
            done(cli, &v, format!("agent {id} removed (and its SIP user)"))
        }
        AgentsAction::Login { id, queue } => {
            let q = queue.as_ref().map(|q| format!("?queue={q}")).unwrap_or_default();
            let v: Value = client::post(&cli.admin, &format!("/api/v1/agents/{id}/login{q}"), Duration::from_secs(10))?;
            done(cli, &v, format!("agent {id} logged in: {} for {}", s(&v["agent"]["state"]), s(&v["agent"]["queues"])))
        }
        AgentsAction::Logout { id } => {
            let v: Value = client::post(&cli.admin, &format!("/api/v1/agents/{id}/logout"), Duration::from_secs(10))?;
            done(cli, &v, format!("agent {id} logged out"))
        }
        AgentsAction::State { id, state, reason } => {
            let name = match state {
                StateArg::Available => "available",
                StateArg::Break => "break",
            };
            if reason.is_some() && matches!(state, StateArg::Available) {
                anyhow::bail!("--reason goes with `break` only (fix: drop --reason)");
            }
            let body = serde_json::json!({ "state": name, "reason": reason });
            let v: Value = client::post_json(&cli.admin, &format!("/api/v1/agents/{id}/state"), &body, Duration::from_secs(10))?;
            let a = &v["agent"];
            let message = match (&a["pending_break"], name) {
                (Value::String(p), _) => format!("agent {id}: break ({p}) after the current call"),
                (_, "break") => format!("agent {id}: break ({})", s(&a["reason"])),
                _ => format!("agent {id}: {}", s(&a["state"])),
            };
            done(cli, &v, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(dur(&Value::from(7)), "7s");
        assert_eq!(dur(&Value::from(725)), "12m05s");
        assert_eq!(dur(&Value::from(10_920.4)), "3h02m");
        assert_eq!(dur(&Value::Null), "-");
    }

    #[test]
    fn lists_and_empties_print_compactly() {
        assert_eq!(s(&serde_json::json!(["general", "loan"])), "general,loan");
        assert_eq!(s(&serde_json::json!([])), "-");
        assert_eq!(s(&serde_json::json!("")), "-");
    }
}
