//! `ncgw run`: load settings, start the node, stop cleanly on SIGINT/SIGTERM.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{self, Overrides};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (TOML). Without it the embedded defaults are used.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SIP listen address, UDP and TCP (repeat for several). Default 0.0.0.0:5060.
    #[arg(long, value_name = "ADDR:PORT")]
    pub sip_listen: Vec<String>,
    /// Admin HTTP listen address (metrics, health, API). Default 127.0.0.1:9060.
    #[arg(long, value_name = "ADDR:PORT")]
    pub admin_listen: Option<String>,
    /// Data directory (database, recordings, keys). Default ./data.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// RTP port range. Default 20000-29999.
    #[arg(long, value_name = "LOW-HIGH")]
    pub rtp_ports: Option<String>,
}

impl RunArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            sip_listen: self.sip_listen.clone(),
            admin_listen: self.admin_listen.clone(),
            data_dir: self.data_dir.clone(),
            rtp_ports: self.rtp_ports.clone(),
        }
    }
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let settings = match config::load(args.config.as_deref(), &args.overrides()) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("ncgw did not start: {} configuration error(s)", errors.0.len());
            return Ok(ExitCode::from(2));
        }
    };
    crate::logging::init(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(settings.sip_threads).enable_all().thread_name("ncgw").build()?;
    runtime.block_on(async move {
        let node = match crate::runtime::start(settings.clone()).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        let sip: Vec<String> = node.sip_addrs.iter().map(|a| a.to_string()).collect();
        eprintln!("ncgw {} ready", env!("CARGO_PKG_VERSION"));
        eprintln!("  sip (udp+tcp)  {}", sip.join(", "));
        eprintln!("  admin          http://{}  (/metrics, /healthz)", node.admin_addr);
        eprintln!("  data dir       {}", settings.data_dir.display());
        eprintln!("  stop with Ctrl-C (drains open transactions, up to {}s)", settings.drain_timeout.as_secs());
        let commands = node.commands();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("stopping: draining open transactions (Ctrl-C again to stop at once)");
            let _ = commands.send(crate::runtime::Command::Shutdown).await;
            wait_for_signal().await;
            eprintln!("stopped without draining");
            std::process::exit(130);
        });
        node.wait().await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
