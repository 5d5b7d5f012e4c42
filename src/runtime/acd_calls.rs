//! The core task's ACD glue: drives the one `Acd` from call events, registrations and its own
//! timers, applies its events to the calls, and loads the prompts queued callers hear.
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::Core;
use crate::acd::{AcdEvent, AgentState};
use crate::b2bua::{B2buaEvent, MediaId, Now, PromptCodec, PromptRef, Side};
use crate::media::engine::SessionId;
use crate::media::player::{parse_wav, Clip, Law};
use crate::registrar::RegistrarEvent;
use crate::runtime::env::{media_side, EngineMedia};

/// Prompt clips by (directory, name): `<dir>/<lang>/<name>.wav`, 8 kHz mono 16-bit.
#[derive(Debug, Default)]
pub struct PromptLibrary {
    clips: HashMap<(String, String), Clip>,
}

impl PromptLibrary {
    /// Loads every `*.wav` one directory level below `dir`; unusable files are logged and skipped
    /// (a caller then hears less, never a failed call).
    pub fn load(dir: &Path) -> PromptLibrary {
        let mut clips = HashMap::new();
        let Ok(langs) = std::fs::read_dir(dir) else {
            tracing::warn!(dir = %dir.display(), "no prompts directory: queued callers hear silence");
            return PromptLibrary { clips };
        };
        for lang in langs.flatten().filter(|e| e.path().is_dir()) {
            let lang_name = lang.file_name().to_string_lossy().into_owned();
            for f in std::fs::read_dir(lang.path()).into_iter().flatten().flatten() {
                let path = f.path();
                let (Some(stem), Some("wav")) = (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|s| s.to_str())) else { continue };
                match std::fs::read(&path).map_err(|e| e.to_string()).and_then(|d| parse_wav(&d).map_err(|e| e.to_string())) {
                    Ok(pcm) => {
                        clips.insert((lang_name.clone(), stem.to_owned()), Clip::from(pcm));
                    }
                    Err(e) => tracing::warn!(file = %path.display(), error = %e, "prompt skipped"),
                }
            }
        }
        tracing::info!(dir = %dir.display(), prompts = clips.len(), "prompts loaded");
        PromptLibrary { clips }
    }

    pub fn get(&self, p: &PromptRef) -> Option<Clip> {
        self.clips.get(&(p.lang.clone(), p.name.clone())).cloned()
    }
}

/// `MediaControl::play` for the engine: resolves prompts, returns their length.
pub(in crate::runtime) fn play(m: &mut EngineMedia, id: MediaId, side: Side, codec: PromptCodec, prompts: &[PromptRef], then: Option<&PromptRef>) -> Duration {
    let (pt, law) = match codec {
        PromptCodec::Pcmu(pt) => (pt, Law::Mu),
        PromptCodec::Pcma(pt) => (pt, Law::A),
    };
    let clips: Vec<Clip> = prompts.iter().filter_map(|p| m.prompts.get(p)).collect();
    let samples: usize = clips.iter().map(|c| c.len()).sum();
    let then = then.and_then(|p| m.prompts.get(p));
    m.seed = m.seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    if let Err(e) = m.engine.play(SessionId(id.0), media_side(side), pt, law, clips, then, m.seed) {
        tracing::debug!(error = %e, "prompt for a closed media session");
        return Duration::ZERO;
    }
    Duration::from_millis(samples as u64 / 8)
}

impl Core {
    /// The time an input reaches the core, noted for the offer latency.
    pub(super) fn input_now(&mut self) -> Now {
        let n = super::now();
        self.offer_clock.input(n.instant);
        n
    }

    /// Every message queued for the transport has been handed to it: the offers made since are
    /// on the wire, their latency is observed.
    pub(super) fn offers_sent(&mut self) {
        for (queue, secs) in self.offer_clock.sent(super::now().instant) {
            crate::metrics::acd_offer_latency(&queue, secs);
        }
    }

    /// ACD timers due at `now`.
    pub(super) fn acd_timeout(&mut self, now: Now) {
        self.acd.handle_timeout(now.instant, now.unix_ms / 1000);
    }

    /// The ACD's part of a call event; `true` when the event was only for the ACD.
    pub(super) fn acd_node_event(&mut self, now: Now, ev: &B2buaEvent) -> bool {
        let only_acd = matches!(ev, B2buaEvent::Queued { .. } | B2buaEvent::AgentAnswered { .. } | B2buaEvent::AgentFailed { .. } | B2buaEvent::Abandoned { .. } | B2buaEvent::AgentCallEnded { .. });
        if let B2buaEvent::AgentFailed { call, .. } = ev {
            self.offer_clock.returned(*call);
        }
        if only_acd {
            self.node.calls.acd_feed(now, ev, &mut self.acd, &mut self.node.txl, &mut self.env);
            self.node.process(now, &mut self.env);
        }
        only_acd
    }

    /// Registrations → agent logins, then the ACD's events → calls. `true` if anything happened.
    pub(super) fn acd_pump(&mut self, now: Now) -> bool {
        let regs = std::mem::take(&mut self.env.registrations);
        let mut progressed = !regs.is_empty();
        for ev in regs {
            self.auto_login(now.instant, ev);
        }
        let (handled, other) = self.node.calls.acd_drain(now, &mut self.acd, &mut self.node.txl, &mut self.env);
        if handled > 0 {
            self.node.process(now, &mut self.env);
            progressed = true;
        }
        for ev in other {
            self.offer_clock.acd_event(&ev, now.instant);
            match ev {
                AcdEvent::AgentState { agent, state } => tracing::info!(agent = %agent, state = state.name(), "agent state"),
                AcdEvent::CallOutcome { call, queue, agent, wait, outcome } => {
                    tracing::info!(call = call.0, queue = %queue, agent = ?agent, wait_ms = wait.as_millis() as u64, outcome = outcome.name(), "queue outcome")
                }
                _ => {}
            }
        }
        progressed
    }

    /// With `auto_login`, an agent is logged in when its SIP user registers and out when its
    /// last binding goes.
    fn auto_login(&mut self, now: Instant, ev: RegistrarEvent) {
        if !self.acd_auto_login {
            return;
        }
        match ev {
            RegistrarEvent::BindingAdded { user, .. } => {
                if self.acd.agent(&user).is_some_and(|a| a.state == AgentState::LoggedOut) {
                    match self.acd.agent_login(now, &user, None) {
                        Ok(()) => tracing::info!(agent = %user, "agent logged in on registration"),
                        Err(e) => tracing::warn!(agent = %user, error = %e, "agent login on registration failed"),
                    }
                }
            }
            RegistrarEvent::BindingRemoved { user, .. } => {
                let gone = self.env.registrar.lookup(&user).is_empty();
                if gone && self.acd.agent(&user).is_some_and(|a| a.state != AgentState::LoggedOut) {
                    match self.acd.agent_logout(now, &user) {
                        Ok(()) => tracing::info!(agent = %user, "agent logged out: no registration left"),
                        Err(e) => tracing::info!(agent = %user, error = %e, "agent stays logged in"),
                    }
                }
            }
            RegistrarEvent::BindingRefreshed { .. } => {}
        }
    }
}
