//! Runs SIPp (Debian `sip-tester`) scenarios from tools/sipp against a node, bounded in time.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::harness::free_port;

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/sipp").join(name)
}

/// The outcome of one SIPp run.
pub struct SippRun {
    pub code: Option<i32>,
    pub messages: String,
    pub errors: String,
}

pub struct Sipp {
    pub args: Vec<String>,
    pub timeout: Duration,
    pub local_port: u16,
    /// The SIP port was picked here for a UAC, so a bind failure may retry on another one.
    own_port: bool,
}

/// SIPp's exit code for "fatal error binding a socket" (-2): a port `free_port` returned was taken
/// by a parallel test before SIPp bound it.
const SIPP_BIND_FAILED: i32 = 254;

impl Sipp {
    /// A UAC (or UAS with `-sf` of a UAS scenario) talking to `target`, on its own free ports.
    pub fn new(target: Option<SocketAddr>, scenario_file: &str) -> Sipp {
        // A UAC's own port matters to nobody else; a UAS's port is routed to, so it stays.
        Sipp { own_port: target.is_some(), ..Self::at_port(target, scenario_file, free_port()) }
    }

    /// Like `new`, on a given local SIP port (a UAS the dialplan routes to, a registered phone).
    pub fn at_port(target: Option<SocketAddr>, scenario_file: &str, local_port: u16) -> Sipp {
        let media_port = free_port();
        let mut args = vec![
            "-sf".into(),
            scenario(scenario_file).display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            local_port.to_string(),
            "-mp".into(),
            media_port.to_string(),
            "-nostdin".into(),
            "-trace_msg".into(),
            "-trace_err".into(),
            "-timeout".into(),
            "30s".into(),
            "-timeout_error".into(),
        ];
        if let Some(t) = target {
            args.insert(0, t.to_string());
        }
        Sipp { args, timeout: Duration::from_secs(60), local_port, own_port: false }
    }

    pub fn args(mut self, list: &[&str]) -> Sipp {
        self.args.extend(list.iter().map(|s| s.to_string()));
        self
    }

    /// Runs SIPp to completion (killed after the timeout) and returns its exit code and traces.
    /// A start that fails to bind a port (taken by a parallel test in the meantime) is retried on
    /// fresh ports, at most three times.
    pub async fn run(mut self) -> SippRun {
        assert!(which("sipp"), "SIPp is not installed: run ./tools/setup (apt-get install sip-tester)");
        let mut attempt = 1;
        loop {
            let run = self.run_once().await;
            if run.code != Some(SIPP_BIND_FAILED) || attempt == 3 {
                return run;
            }
            attempt += 1;
            self.set_arg("-mp", free_port());
            if self.own_port {
                self.local_port = free_port();
                self.set_arg("-p", self.local_port);
            }
        }
    }

    fn set_arg(&mut self, flag: &str, port: u16) {
        if let Some(i) = self.args.iter().position(|a| a == flag) {
            self.args[i + 1] = port.to_string();
        }
    }

    async fn run_once(&self) -> SippRun {
        let dir = tempfile::tempdir().expect("temp dir");
        let msg = dir.path().join("messages.log");
        let err = dir.path().join("errors.log");
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr file");
        let mut cmd = tokio::process::Command::new("sipp");
        cmd.args(&self.args)
            .arg("-message_file")
            .arg(&msg)
            .arg("-error_file")
            .arg(&err)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("sipp starts");
        let code = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(status) => status.expect("sipp status").code(),
            Err(_) => {
                let _ = child.kill().await;
                None
            }
        };
        let mut errors = std::fs::read_to_string(&err).unwrap_or_default();
        errors.push_str(&std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default());
        SippRun { code, messages: std::fs::read_to_string(&msg).unwrap_or_default(), errors }
    }
}

pub fn which(prog: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(prog).is_file()))
}

impl SippRun {
    /// Asserts a clean SIPp exit (0 = every call succeeded), showing its traces otherwise.
    pub fn assert_ok(&self) {
        assert_eq!(self.code, Some(0), "sipp failed\n--- errors ---\n{}\n--- messages ---\n{}", self.errors, self.messages);
    }

    /// Each traced message: (timestamp in seconds since midnight, "sent"/"received", first line).
    pub fn trace(&self) -> Vec<(f64, String, String)> {
        let mut out = Vec::new();
        let mut blocks = self.messages.split("----------------------------------------------- ").skip(1);
        for block in &mut blocks {
            let mut lines = block.lines();
            let stamp = lines.next().unwrap_or("");
            let time = stamp.split(' ').nth(1).unwrap_or("0:0:0");
            let secs = time.split(':').map(|p| p.parse::<f64>().unwrap_or(0.0)).fold(0.0, |acc, p| acc * 60.0 + p);
            let dir = lines.next().unwrap_or("");
            let dir = if dir.contains("received") { "received" } else { "sent" };
            let first = lines.find(|l| !l.trim().is_empty()).unwrap_or("").to_owned();
            out.push((secs, dir.to_owned(), first));
        }
        out
    }
}
