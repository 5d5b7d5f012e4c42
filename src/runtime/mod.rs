//! The only async glue: binds sockets, spawns transport tasks, drives the sans-IO cores from one
//! core task, serves the admin API, and drains on shutdown.

mod acd_admin;
mod core;
mod env;
mod live_calls;
mod offer_clock;
mod outbound;
mod records;
mod siprec;

pub use self::acd_admin::{AcdCommand, AgentView, QueueDetail, QueueView};
pub use self::core::{CallView, Command, NodeStatus, PingResult, RegistrationView};
pub use self::env::resolve_uri;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::config::Settings;
use crate::metrics::metrics;
use crate::transport::{bind_pair, BindError, TcpListenerTask};

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A SIP listener could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The admin HTTP listener could not be bound.
    #[error("cannot listen on admin address {addr}: {source} (fix: choose another --admin-listen)")]
    Admin { addr: SocketAddr, source: std::io::Error },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source} (fix: choose a writable --data-dir)")]
    DataDir { path: String, source: std::io::Error },
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// The queue file does not load.
    #[error("queue file errors:\n{0}")]
    Queues(crate::config::ConfigErrors),
    /// The dialplans do not load.
    #[error("dialplan errors:\n{0}")]
    Dialplan(crate::config::ConfigErrors),
    /// The authentication settings cannot work.
    #[error("authentication settings: {0}")]
    Auth(String),
    /// The recorder's keys could not be loaded or created.
    #[error("recording: {0}")]
    Recording(crate::recording::RecordingError),
    /// The media engine could not start (bad port range or bind address).
    #[error("media engine: {0}")]
    Media(String),
}

/// A running node: its bound addresses, a way to talk to it and to stop it.
pub struct NodeHandle {
    /// SIP addresses actually bound (UDP and TCP share each).
    pub sip_addrs: Vec<SocketAddr>,
    pub admin_addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    done: oneshot::Receiver<()>,
}

impl NodeHandle {
    /// Asks the node to drain and stop; `wait` returns when it has.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }

    /// Resolves once the node has stopped.
    pub async fn wait(self) {
        let _ = self.done.await;
    }

    pub fn commands(&self) -> mpsc::Sender<Command> {
        self.commands.clone()
    }
}

/// Binds everything and starts the node's tasks on the current tokio runtime.
pub async fn start(settings: Settings) -> Result<NodeHandle, StartError> {
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|source| StartError::DataDir { path: settings.data_dir.display().to_string(), source })?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // Bounded: a flood fills it and further datagrams are dropped and counted, not queued forever.
    let (inbound_tx, inbound_rx) = mpsc::channel(16_384);
    let conn_ids = Arc::new(AtomicU64::new(1));

    let mut udp_sockets = Vec::new();
    let mut sip_addrs = Vec::new();
    for addr in &settings.sip_listen {
        let (udp, tcp) = bind_pair(*addr).await?;
        sip_addrs.push(udp.local_addr());
        udp_sockets.push(udp.clone());
        tokio::spawn(udp.run(inbound_tx.clone(), shutdown_rx.clone()));
        let task = TcpListenerTask {
            listener: tcp,
            ids: conn_ids.clone(),
            idle: settings.tcp_idle_timeout,
            max_connections: settings.max_tcp_connections,
        };
        tokio::spawn(task.run(inbound_tx.clone(), shutdown_rx.clone()));
    }

    let admin_listener = tokio::net::TcpListener::bind(settings.admin_listen)
        .await
        .map_err(|source| StartError::Admin { addr: settings.admin_listen, source })?;
    let admin_addr = admin_listener.local_addr().map_err(|source| StartError::Admin { addr: settings.admin_listen, source })?;

    let storage = crate::storage::Storage::open(&settings.data_dir).await?;
    live_calls::recover(&settings.data_dir, &storage).await;
    let recorder = crate::recording::writer::open_for_node(&settings, &storage).await.map_err(StartError::Recording)?;
    let amender = recorder.as_ref().map(crate::recording::Recorder::amender);
    let dialplan = crate::dialplan::Dialplan::load_dir(&settings.dialplan_dir).map_err(StartError::Dialplan)?;
    // Prompts sit next to the queues file: config/prompts/<lang>/<name>.wav.
    let prompts_dir = settings.queues_file.parent().unwrap_or(std::path::Path::new(".")).join("prompts");
    let prompts = std::sync::Arc::new(core::acd_calls::PromptLibrary::load(&prompts_dir));
    let relay = crate::media::relay::RelayConfig { rtp_timeout: settings.media_timeout, ..Default::default() };
    let mut engine = crate::media::engine::MediaEngine::new(settings.rtp_ports.clone(), settings.media_bind, relay).map_err(|e| StartError::Media(e.to_string()))?;
    if settings.kernel_fast_path {
        match engine.enable_fast_path() {
            Ok(interfaces) => tracing::info!(?interfaces, "kernel fast path on: the steady RTP of plain relayed calls is forwarded by the kernel (tcx/eBPF)"),
            Err(e) => tracing::info!(error = %e, "kernel fast path not available; the relay forwards every packet itself"),
        }
    }
    let media_events = engine.take_events().ok_or_else(|| StartError::Media("event channel already taken".into()))?;
    let mut secret = [0u8; 32];
    for (i, chunk) in secret.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&core::random_seed().wrapping_add(i as u64).to_le_bytes());
    }
    let auth_config = crate::sip::auth::AuthConfig { algorithms: settings.auth_algorithms.clone(), local_addrs: sip_addrs.clone(), ..Default::default() };
    auth_config.check().map_err(|e| StartError::Auth(e.to_string()))?;
    let auth = crate::sip::auth::Authenticator::with_config(secret, auth_config, tokio::time::Instant::now().into_std());
    let registrar = crate::registrar::Registrar::new(crate::registrar::RegistrarConfig { realm: settings.realm.clone(), ..Default::default() });
    let mut env = env::RuntimeEnv {
        dialplan,
        media: env::EngineMedia { engine, prompts, seed: core::random_seed(), recorder },
        sip_addrs: sip_addrs.clone(),
        registrar,
        auth,
        realm: settings.realm.clone(),
        credentials: Default::default(),
        registrations: Vec::new(),
    };
    // Like `ncgw check`: a queue file that is not there means no queues; one that is must load.
    let acd_config = if settings.queues_file.exists() {
        crate::acd::AcdConfig::load_file(&settings.queues_file).map_err(StartError::Queues)?
    } else {
        tracing::warn!(path = %settings.queues_file.display(), "no queue file: no agent queues (fix: set [acd] queues)");
        crate::acd::AcdConfig::from_text("(no queue file)", "").map_err(StartError::Queues)?
    };
    let stored_agents = acd_admin::load_stored(&storage, &acd_config, &settings.realm).await?;
    let acd_auto_login = acd_config.auto_login;
    let mut acd = crate::acd::Acd::new(acd_config);
    acd_admin::apply_stored(&mut acd, tokio::time::Instant::now().into_std(), &stored_agents);
    env.set_credentials(storage.all_credentials().await?);

    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (done_tx, done_rx) = oneshot::channel();
    let parts = core::CoreParts {
        udp: udp_sockets,
        sip_addrs: sip_addrs.clone(),
        conn_ids,
        inbound_tx,
        shutdown: shutdown_rx.clone(),
        env,
        storage: storage.clone(),
        acd,
        acd_auto_login,
    };
    let core = core::Core::new(&settings, parts);
    metrics().up.set(1);
    let admin_shutdown = shutdown_rx.clone();
    tokio::spawn(crate::admin::serve(admin_listener, cmd_tx.clone(), storage, settings.realm.clone(), amender, admin_shutdown));
    tokio::spawn(async move {
        core.run(inbound_rx, cmd_rx, media_events).await;
        let _ = shutdown_tx.send(true);
        metrics().up.set(0);
        let _ = done_tx.send(());
    });
    tracing::info!(sip = ?sip_addrs, admin = %admin_addr, "ncgw started");
    Ok(NodeHandle { sip_addrs, admin_addr, commands: cmd_tx, done: done_rx })
}
