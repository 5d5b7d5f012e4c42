//! `ncgw recordings`: list, verify, export and the public key. These work on the data directory
//! (files, keys and index) of the node on this machine, running or not: a recording is checked
//! where it lies, with the keys that made it.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::table::Table;
use super::Cli;
use crate::recording::container::SegmentKey;
use crate::recording::keys::{self, Keys};
use crate::recording::{manifest, store};
use crate::storage::{RecordingFilter, RecordingIndex, RecordingRow};

#[derive(Debug, Args)]
pub struct RecordingsArgs {
    /// Configuration file of the node (for its data directory and key file).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory of the node (overrides the configuration).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    #[command(subcommand)]
    pub action: RecordingsAction,
}

#[derive(Debug, Subcommand)]
pub enum RecordingsAction {
    /// Search the index, newest first.
    List {
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        /// Only recordings started after this: 30m, 2h, 7d, or unix seconds.
        #[arg(long)]
        since: Option<String>,
        /// Business tag KEY=VALUE (repeat to require several).
        #[arg(long, value_name = "KEY=VALUE")]
        tag: Vec<String>,
        /// recording, complete, incomplete or damaged.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Check every segment, the hash chain, the signature and that the file is not cut short;
    /// exits 1 when anything fails.
    Verify {
        /// The call id of the recording.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every closed recording in the index.
        #[arg(long)]
        all: bool,
    },
    /// Verify, then write a playable WAV (customer left, agent right); audited.
    Export {
        id: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Who exports, for the audit log (default: the OS user).
        #[arg(long)]
        operator: Option<String>,
    },
    /// The node's public signing key (PEM; --hex for the raw key).
    Pubkey {
        #[arg(long)]
        hex: bool,
    },
    /// Who exported a recording, and when.
    Audit { id: String },
}

struct Local {
    data_dir: PathBuf,
    key_file: Option<PathBuf>,
}

fn local(args: &RecordingsArgs) -> anyhow::Result<Local> {
    let overrides = crate::config::Overrides { data_dir: args.data_dir.clone(), ..Default::default() };
    let settings = crate::config::load(args.config.as_deref(), &overrides).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Local { data_dir: settings.data_dir, key_file: settings.recording.key_file })
}

pub fn recordings(cli: &Cli, args: &RecordingsArgs) -> anyhow::Result<ExitCode> {
    let l = local(args)?;
    if let RecordingsAction::Pubkey { hex } = &args.action {
        let k = Keys::load(&l.data_dir, l.key_file.as_deref())?;
        if *hex {
            println!("{}", keys::hex(k.public().as_bytes()));
        } else {
            print!("{}", keys::public_pem(&k.public()));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let index = RecordingIndex::open(&l.data_dir).await?;
        match &args.action {
            RecordingsAction::List { agent, queue, since, tag, state, limit } => {
                let mut f = RecordingFilter { agent: agent.clone(), queue: queue.clone(), state: state.clone(), limit: *limit, ..Default::default() };
                if let Some(s) = since {
                    f.since = Some(super::calls::since_ms(s, crate::storage::now_ms())?);
                }
                for t in tag {
                    let (k, v) = t.split_once('=').ok_or_else(|| anyhow::anyhow!("--tag {t}: write KEY=VALUE"))?;
                    f.tags.push((k.to_owned(), v.to_owned()));
                }
                let rows = index.list(&f).await?;
                print_list(&rows, cli.json)?;
                Ok(ExitCode::SUCCESS)
            }
            RecordingsAction::Verify { id, all } => {
                let keys = Keys::load(&l.data_dir, l.key_file.as_deref())?;
                let rows = match (id, all) {
                    (Some(id), _) => vec![index.get(id).await?.ok_or_else(|| anyhow::anyhow!("no recording for call {id}"))?],
                    // Recordings still being written are not closed yet: not checked, not failures.
                    (None, _) => index.list(&RecordingFilter::default()).await?.into_iter().filter(|r| r.state != "recording").collect(),
                };
                let mut failed = 0;
                let mut reports = Vec::new();
                for row in &rows {
                    let report = check(&l.data_dir, row, &keys, None);
                    if !report.ok() {
                        failed += 1;
                    }
                    if !cli.json {
                        print_report(row, &report);
                    }
                    reports.push(report);
                }
                if cli.json {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "checked": rows.len(), "failed": failed, "recordings": reports }))?);
                } else {
                    println!("{} checked, {} failed", rows.len(), failed);
                }
                Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
            }
            RecordingsAction::Export { id, out, operator } => {
                let keys = Keys::load(&l.data_dir, l.key_file.as_deref())?;
                let row = index.get(id).await?.ok_or_else(|| anyhow::anyhow!("no recording for call {id}"))?;
                let mut blocks = Vec::new();
                let report = check(&l.data_dir, &row, &keys, Some(&mut blocks));
                if !report.ok() {
                    print_report(&row, &report);
                    anyhow::bail!("recording {id} did not verify; nothing exported");
                }
                let who = operator.clone().unwrap_or_else(os_user);
                // Audit first: an export that is not in the log does not happen.
                index.audit(crate::storage::now_ms(), id, "export", &who, Some(&out.display().to_string())).await?;
                std::fs::write(out, store::wav(&blocks, crate::recording::mixer::SAMPLE_RATE))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
                println!("exported {id} to {} ({} segments, verified; audited as {who})", out.display(), blocks.len());
                Ok(ExitCode::SUCCESS)
            }
            RecordingsAction::Audit { id } => {
                let log = index.audit_log(id).await?;
                if cli.json {
                    let v: Vec<_> = log.iter().map(|(at, action, who, detail)| serde_json::json!({ "at": at, "action": action, "operator": who, "detail": detail })).collect();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    let mut t = Table::new(&["AT (UTC)", "ACTION", "OPERATOR", "DETAIL"]);
                    for (at, action, who, detail) in log {
                        t.row(vec![manifest::utc(at), action, who, detail.unwrap_or_default()]);
                    }
                    print!("{}", t.render());
                }
                Ok(ExitCode::SUCCESS)
            }
            RecordingsAction::Pubkey { .. } => Ok(ExitCode::SUCCESS),
        }
    })
}

/// Verifies one indexed recording; the index's manifest hash must match the file's too, and a
/// file cut short is measured against the index's segment count.
pub fn check(data_dir: &Path, row: &RecordingRow, keys: &Keys, blocks: Option<&mut Vec<crate::recording::container::Block>>) -> store::Report {
    let file = data_dir.join(&row.path);
    if row.state == "recording" {
        let mut r = store::Report { call_id: row.call_id.clone(), ..Default::default() };
        r.problems.push(store::Problem { segment: None, what: "still recording (not closed yet)".into() });
        return r;
    }
    let (mut report, _) = store::verify(&file, &row.call_id, &SegmentKey::new(&keys.segment), &keys.public(), blocks);
    report.expect_segments(u32::try_from(row.segments).unwrap_or(0));
    if let (Some(expected), Some(found)) = (&row.manifest_sha256, &report.manifest_sha256) {
        if expected != found {
            report.problems.push(store::Problem { segment: None, what: "manifest differs from the one indexed".into() });
        }
    }
    report
}

fn os_user() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into())
}

fn print_report(row: &RecordingRow, r: &store::Report) {
    if r.ok() {
        let amended = match r.amendments.len() {
            0 => String::new(),
            n => format!(", {n} signed tag amendment{}", if n == 1 { "" } else { "s" }),
        };
        println!("OK    {}  {} segments, chain and signature valid{amended}", row.call_id, r.segments);
        return;
    }
    match r.first_bad_segment() {
        Some(s) => println!("FAIL  {}  first bad segment: {s}", row.call_id),
        None => println!("FAIL  {}", row.call_id),
    }
    for p in &r.problems {
        println!("      {}", p.what);
    }
}

fn print_list(rows: &[RecordingRow], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "recordings": rows }))?);
        return Ok(());
    }
    let mut t = Table::new(&["CALL", "STARTED (UTC)", "DURATION", "STATE", "AGENT", "QUEUE", "TAGS", "MANIFEST SHA-256"]);
    for r in rows {
        let tags: Vec<String> = r.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let state = match &r.reason {
            Some(reason) => format!("{} ({reason})", r.state),
            None => r.state.clone(),
        };
        t.row(vec![
            r.call_id.clone(),
            manifest::utc(r.started_at),
            r.duration_ms.map_or("-".into(), |d| format!("{:.1}s", d as f64 / 1000.0)),
            state,
            r.agent.clone().unwrap_or_else(|| "-".into()),
            r.queue.clone().unwrap_or_else(|| "-".into()),
            if tags.is_empty() { "-".into() } else { tags.join(",") },
            r.manifest_sha256.as_deref().map_or("-".into(), |h| h[..16.min(h.len())].to_owned()),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}
