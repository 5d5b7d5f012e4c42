//! `ncgw dialplan test`: shows where a call would go and which rules matched, without placing it.
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::table::Table;
use crate::config::{self, Overrides};
use crate::dialplan::{Action, CallInfo, Dialplan};

#[derive(Debug, Subcommand)]
pub enum DialplanCommand {
    /// Decide one call and show the decision and the rules that matched.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Caller (From), as a number or URI.
    #[arg(long)]
    pub from: String,
    /// Called number or URI.
    #[arg(long)]
    pub to: String,
    /// Where the call comes from: a trunk name or an IP address.
    #[arg(long)]
    pub source: Option<String>,
    /// P-Asserted-Identity (believed only from a trusted trunk).
    #[arg(long)]
    pub pai: Option<String>,
    /// The caller passed digest authentication as this user.
    #[arg(long, value_name = "USER")]
    pub authenticated: Option<String>,
    /// A header the rules may test, as "Name: value" (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// When the call happens, as Unix seconds (default: now).
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub at: Option<i64>,
    /// Dialplan directory (default: the configuration's).
    #[arg(long, value_name = "DIR")]
    pub dialplans: Option<PathBuf>,
    /// Configuration file naming the dialplan directory.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(cmd: &DialplanCommand, json: bool) -> anyhow::Result<ExitCode> {
    let DialplanCommand::Test(args) = cmd;
    let dir = match &args.dialplans {
        Some(d) => d.clone(),
        None => match config::load(args.config.as_deref(), &Overrides::default()) {
            Ok(s) => s.dialplan_dir,
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let plan = match Dialplan::load_dir(&dir) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let source_ip = match &args.source {
        None => None,
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => match plan.trunks.iter().find(|t| &t.name == s) {
                Some(t) => t.nets.first().map(|n| n.addr),
                None => {
                    let names: Vec<&str> = plan.trunks.iter().map(|t| t.name.as_str()).collect();
                    anyhow::bail!("--source {s}: neither an IP address nor a trunk (trunks: {})", names.join(", "));
                }
            },
        },
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        let (n, v) = h.split_once(':').ok_or_else(|| anyhow::anyhow!("--header {h:?}: write it as \"Name: value\""))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let unix_time = args.at.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    });
    let call = CallInfo {
        to: args.to.clone(),
        from: args.from.clone(),
        asserted: args.pai.clone(),
        source_ip,
        authenticated_user: args.authenticated.clone(),
        headers,
        unix_time,
    };
    let d = plan.decide(&call);
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "decision": d }))?);
        return Ok(ExitCode::SUCCESS);
    }
    let action = match &d.action {
        Action::Queue(q) => format!("queue {q}"),
        Action::Route(t) => format!("route to {t}"),
        Action::User(u) => format!("registered user {u}"),
        Action::Reject { status, reason } => format!("reject {status}{}", reason.as_ref().map(|r| format!(" {r}")).unwrap_or_default()),
    };
    let mut t = Table::new(&["FIELD", "VALUE"]);
    t.row(vec!["called".into(), d.called.clone()]);
    t.row(vec!["caller".into(), d.caller.clone()]);
    t.row(vec!["trunk".into(), d.trunk.clone().unwrap_or_else(|| "-".into())]);
    t.row(vec!["action".into(), action]);
    t.row(vec!["decided by".into(), d.rule.clone().unwrap_or_else(|| "(no rule matched)".into())]);
    t.row(vec!["rules matched".into(), if d.matched.is_empty() { "-".into() } else { d.matched.join(" → ") }]);
    if let Some(p) = d.attributes.priority {
        t.row(vec!["priority".into(), p.to_string()]);
    }
    if !d.attributes.skills.is_empty() {
        let s: Vec<String> = d.attributes.skills.iter().map(|(k, l)| format!("{k}:{l}")).collect();
        t.row(vec!["skills".into(), s.join(", ")]);
    }
    if let Some(l) = &d.attributes.language {
        t.row(vec!["language".into(), l.clone()]);
    }
    if !d.attributes.tags.is_empty() {
        let s: Vec<String> = d.attributes.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        t.row(vec!["tags".into(), s.join(", ")]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}
