//! The external recorder (SIPREC) as the runtime sees it: the media engine's fork behind
//! `MediaControl::open_fork`/`set_fork`, and the recording sessions' outcomes counted in
//! `ncgw_siprec_sessions_total{result}` (`established`, `failed`: cause `siprec.failed`).
use std::net::SocketAddr;
use std::sync::OnceLock;

use prometheus::IntCounterVec;

use super::env::EngineMedia;
use crate::b2bua::{B2buaEvent, MediaId};
use crate::media::engine::SessionId;

pub const SESSIONS: &str = "ncgw_siprec_sessions_total";

fn sessions() -> &'static IntCounterVec {
    static C: OnceLock<IntCounterVec> = OnceLock::new();
    C.get_or_init(|| {
        let m = IntCounterVec::new(prometheus::Opts::new(SESSIONS, "SIPREC recording sessions by result (established, failed)"), &["result"]).expect("metric definition is valid");
        if let Err(e) = crate::metrics::metrics().registry.register(Box::new(m.clone())) {
            tracing::debug!(error = %e, "SIPREC counter not registered");
        }
        m
    })
}

/// Counts a recording session's outcome (the B2BUA logged it with its cause already).
pub(super) fn count(ev: &B2buaEvent) {
    match ev {
        B2buaEvent::SiprecStarted { .. } => sessions().with_label_values(&["established"]).inc(),
        B2buaEvent::SiprecFailed { .. } => sessions().with_label_values(&["failed"]).inc(),
        _ => {}
    }
}

impl EngineMedia {
    pub(super) fn fork_open(&mut self, id: MediaId) -> Result<[SocketAddr; 2], String> {
        self.engine.open_fork(SessionId(id.0)).map_err(|e| e.to_string())
    }

    pub(super) fn fork_to(&mut self, id: MediaId, to: [Option<SocketAddr>; 2]) {
        if let Err(e) = self.engine.set_fork(SessionId(id.0), to) {
            tracing::debug!(error = %e, "set_fork on a closed media session");
        }
    }
}
