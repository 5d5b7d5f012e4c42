//! `ncgw users` (SIP users for registration and digest authentication) and `ncgw registrations`.
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde_json::Value;

use super::client;
use super::table::Table;
use super::Cli;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Provision a user (the password is stored only as digest hashes).
    Add {
        id: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        display: Option<String>,
    },
    /// List users (no secrets).
    List,
    /// Remove a user; its registrations expire on their own.
    Remove { id: String },
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn users(cli: &Cli, cmd: &UsersCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UsersCommand::Add { id, password, display } => {
            let body = serde_json::json!({ "id": id, "password": password, "display": display });
            let v: Value = client::post_json(&cli.admin, "/api/v1/users", &body, Duration::from_secs(10))?;
            if cli.json {
                println!("{v}");
            } else {
                println!("user {id} added (realm {})", s(&v["realm"]));
            }
        }
        UsersCommand::List => {
            let v: Value = client::get(&cli.admin, "/api/v1/users")?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let mut t = Table::new(&["ID", "DISPLAY", "REALM"]);
                for u in v["users"].as_array().cloned().unwrap_or_default() {
                    t.row(vec![s(&u["id"]), s(&u["display"]), s(&u["realm"])]);
                }
                print!("{}", t.render());
            }
        }
        UsersCommand::Remove { id } => {
            let v: Value = client::delete(&cli.admin, &format!("/api/v1/users/{id}"))?;
            if cli.json {
                println!("{v}");
            } else {
                println!("user {id} removed");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn registrations(cli: &Cli) -> anyhow::Result<ExitCode> {
    let v: Value = client::get(&cli.admin, "/api/v1/registrations")?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["USER", "CONTACT", "SOURCE", "EXPIRES IN"]);
    for r in v["registrations"].as_array().cloned().unwrap_or_default() {
        t.row(vec![s(&r["user"]), s(&r["contact"]), s(&r["source"]), format!("{}s", s(&r["expires_in_s"]))]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}
