//! `ncgw queues`: every queue's live figures and totals since start; `show NAME` adds the recent
//! statistics intervals.
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::agents::{dur, s};
use super::client;
use super::table::Table;
use super::Cli;

#[derive(Debug, Args)]
pub struct QueuesArgs {
    #[command(subcommand)]
    pub action: Option<QueuesAction>,
}

#[derive(Debug, Subcommand)]
pub enum QueuesAction {
    /// One queue: live figures and the recent statistics intervals.
    Show { name: String },
}

fn pct(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |p| format!("{p:.1}"))
}

fn agents_cell(q: &Value) -> String {
    let a = &q["agents"];
    format!("{}/{}/{}/{}/{}", s(&a["available"]), s(&a["offered"]), s(&a["on_call"]), s(&a["wrap_up"]), s(&a["break"]))
}

pub fn queues(cli: &Cli, args: &QueuesArgs) -> anyhow::Result<ExitCode> {
    match &args.action {
        None => {
            let v: Value = client::get(&cli.admin, "/api/v1/queues")?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = Table::new(&["QUEUE", "WAITING", "LONGEST", "AGENTS AV/RING/CALL/WRAP/BRK", "OFFERED", "ANSWERED", "ABANDONED", "SL %", "TARGET", "ASA", "OCC %"]);
            for q in v["queues"].as_array().cloned().unwrap_or_default() {
                let target = format!("{}%/{}s", s(&q["sl_target_pct"]), s(&q["sl_target_s"]));
                t.row(vec![s(&q["name"]), s(&q["waiting"]), dur(&q["longest_wait_s"]), agents_cell(&q), s(&q["offered"]), s(&q["answered"]), s(&q["abandoned"]), pct(&q["service_level_pct"]), target, dur(&q["asa_s"]), pct(&q["occupancy_pct"])]);
            }
            print!("{}", t.render());
        }
        Some(QueuesAction::Show { name }) => {
            let v: Value = client::get(&cli.admin, &format!("/api/v1/queues/{name}"))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(ExitCode::SUCCESS);
            }
            let q = &v["queue"];
            let mut t = Table::new(&["FIELD", "VALUE"]);
            let rows = [
                ("queue", s(&q["name"])),
                ("waiting", s(&q["waiting"])),
                ("ringing", s(&q["ringing"])),
                ("longest wait", dur(&q["longest_wait_s"])),
                ("agents available/ringing/on call/wrap-up/break", agents_cell(q)),
                ("occupancy now %", pct(&q["occupancy_now_pct"])),
                ("service level target", format!("{}% within {}s", s(&q["sl_target_pct"]), s(&q["sl_target_s"]))),
                ("offered", s(&q["offered"])),
                ("answered", s(&q["answered"])),
                ("answered within target", s(&q["answered_within_target"])),
                ("abandoned", s(&q["abandoned"])),
                ("overflowed", s(&q["overflowed"])),
                ("timed out", s(&q["timed_out"])),
                ("refused", s(&q["refused"])),
                ("service level %", pct(&q["service_level_pct"])),
                ("ASA", dur(&q["asa_s"])),
                ("occupancy %", pct(&q["occupancy_pct"])),
            ];
            for (k, val) in rows {
                t.row(vec![k.to_owned(), val]);
            }
            print!("{}", t.render());
            println!();
            let mut iv = Table::new(&["INTERVAL START", "OFFERED", "ANSWERED", "ABANDONED", "OVERFLOWED", "TIMED OUT", "SL %", "ASA", "OCC %"]);
            for i in q["intervals"].as_array().cloned().unwrap_or_default().iter().rev() {
                iv.row(vec![super::calls::time_of(&i["start_ms"]), s(&i["offered"]), s(&i["answered"]), s(&i["abandoned"]), s(&i["overflowed"]), s(&i["timed_out"]), pct(&i["service_level_pct"]), dur(&i["asa_s"]), pct(&i["occupancy_pct"])]);
            }
            print!("{}", iv.render());
        }
    }
    Ok(ExitCode::SUCCESS)
}
