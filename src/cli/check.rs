//! `ncgw check`: validates configuration and every dialplan, printing file:line: field: problem.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::table::Table;
use crate::config::{self, Overrides};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration file to check; without it the embedded defaults are checked.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Dialplan directory (default: the one the configuration names).
    #[arg(long, value_name = "DIR")]
    pub dialplans: Option<PathBuf>,
}

/// One dialplan file's verdict.
struct FileReport {
    path: String,
    errors: Vec<String>,
}

fn dialplan_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

pub fn check(args: &CheckArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    let config_name = args.config.as_ref().map_or("<embedded defaults>".to_owned(), |p| p.display().to_string());
    let settings = match config::load(args.config.as_deref(), &Overrides::default()) {
        Ok(s) => {
            reports.push(FileReport { path: config_name, errors: vec![] });
            Some(s)
        }
        Err(errors) => {
            reports.push(FileReport { path: config_name, errors: errors.0.iter().map(|e| e.to_string()).collect() });
            None
        }
    };
    let dir = args.dialplans.clone().or_else(|| settings.as_ref().map(|s| s.dialplan_dir.clone()));
    if let Some(dir) = dir {
        match dialplan_files(&dir) {
            Ok(files) => {
                for f in files {
                    let errors = crate::dialplan::check_file(&f).err().map(|e| e.0.iter().map(|e| e.to_string()).collect()).unwrap_or_default();
                    reports.push(FileReport { path: f.display().to_string(), errors });
                }
            }
            Err(e) => reports.push(FileReport {
                path: dir.display().to_string(),
                errors: vec![format!("{}: cannot read dialplan directory: {e} (fix: create it or set dialplan.dir)", dir.display())],
            }),
        }
    }
    // Queues and agents: checked when the file exists (agent queues are not wired to calls yet).
    if let Some(s) = &settings {
        if s.queues_file.exists() {
            let errors = crate::acd::AcdConfig::load_file(&s.queues_file).err().map(|e| e.0.iter().map(|e| e.to_string()).collect()).unwrap_or_default();
            reports.push(FileReport { path: s.queues_file.display().to_string(), errors });
        }
    }
    let failed = reports.iter().filter(|r| !r.errors.is_empty()).count();
    if json {
        let v: Vec<_> = reports
            .iter()
            .map(|r| serde_json::json!({ "file": r.path, "ok": r.errors.is_empty(), "errors": r.errors }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "check": v }))?);
    } else {
        let mut t = Table::new(&["FILE", "RESULT"]);
        for r in &reports {
            let result = if r.errors.is_empty() { "ok".to_owned() } else { format!("{} error(s)", r.errors.len()) };
            t.row(vec![r.path.clone(), result]);
        }
        print!("{}", t.render());
        for r in &reports {
            for e in &r.errors {
                eprintln!("{e}");
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
