//! Agent and queue operations on the core's `Acd`: the admin commands (list, provision, login,
//! logout, state), the JSON views the CLI prints, the ACD metrics, and the agents of the database
//! applied at start (with a generated password, shown once, for queue-file agents that have none).
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;

use crate::acd::{Acd, AcdConfig, AcdError, AgentConfig, AgentState, Counters, Summary};
use crate::metrics::metrics;
use crate::storage::{format_skills, AgentRecord, Storage, StorageError};

/// Agent states in the order tables and metrics show them.
pub const AGENT_STATES: [&str; 6] = ["available", "offered", "on_call", "wrap_up", "break", "logged_out"];

/// What the admin API asks of the ACD; each carries its reply.
#[derive(Debug)]
pub enum AcdCommand {
    /// Every agent, by id.
    Agents(oneshot::Sender<Vec<AgentView>>),
    Agent { id: String, reply: oneshot::Sender<Option<AgentView>> },
    /// Whether these queue names are configured; `Err` names the first that is not.
    CheckQueues { names: Vec<String>, reply: oneshot::Sender<Result<(), AcdError>> },
    /// Adds or changes an agent (see `Acd::upsert_agent`).
    Upsert { agent: AgentConfig, reply: oneshot::Sender<Result<(), AcdError>> },
    /// Removes an agent; refused while it has a call. `Ok(false)`: no such agent.
    Remove { id: String, reply: oneshot::Sender<Result<bool, AcdError>> },
    Login { id: String, queues: Option<Vec<String>>, reply: oneshot::Sender<Result<AgentView, AcdError>> },
    Logout { id: String, reply: oneshot::Sender<Result<AgentView, AcdError>> },
    /// `available`, or a break with `Some(reason)`.
    State { id: String, on_break: Option<String>, reply: oneshot::Sender<Result<AgentView, AcdError>> },
    /// Every queue's live figures and totals since start.
    Queues(oneshot::Sender<Vec<QueueView>>),
    /// One queue with its recent intervals.
    Queue { name: String, reply: oneshot::Sender<Option<QueueDetail>> },
    /// Bring the `ncgw_acd_*` metrics up to date (before a scrape).
    RefreshMetrics(oneshot::Sender<()>),
}

/// One agent as `ncgw agents` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    pub id: String,
    /// One of [`AGENT_STATES`].
    pub state: &'static str,
    /// The break reason, when on break.
    pub reason: Option<String>,
    /// A break asked for during a call, taken when the call and its wrap-up end.
    pub pending_break: Option<String>,
    pub queues: Vec<String>,
    /// `name:level,...`.
    pub skills: String,
    /// The queued call ringing at or connected to the agent (the B2BUA's call key).
    pub call: Option<u64>,
    /// Seconds in the current state; `None` before the first login.
    pub since_s: Option<u64>,
}

/// One queue's live figures and its totals since start.
#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    pub name: String,
    pub waiting: usize,
    /// Calls ringing at an agent.
    pub ringing: usize,
    pub longest_wait_s: Option<f64>,
    /// Logged-in agents serving the queue, by state (every state listed, zeros included).
    pub agents: BTreeMap<&'static str, usize>,
    pub occupancy_now_pct: Option<f64>,
    pub sl_target_s: u64,
    pub sl_target_pct: u8,
    #[serde(flatten)]
    pub total: SummaryView,
}

/// Counts and derived figures over a span.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryView {
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    pub timed_out: u64,
    pub refused: u64,
    pub answered_within_target: u64,
    /// Answered within target / left the queue, in percent.
    pub service_level_pct: Option<f64>,
    /// Average speed of answer.
    pub asa_s: Option<f64>,
    pub occupancy_pct: Option<f64>,
}

/// One statistics interval.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalView {
    /// Unix milliseconds of the interval's start.
    pub start_ms: i64,
    #[serde(flatten)]
    pub summary: SummaryView,
}

/// `ncgw queues show NAME`: the live view and the kept intervals, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct QueueDetail {
    #[serde(flatten)]
    pub queue: QueueView,
    pub intervals: Vec<IntervalView>,
}

fn summary_view(s: &Summary) -> SummaryView {
    let c = &s.counters;
    SummaryView {
        offered: c.offered,
        answered: c.answered,
        abandoned: c.abandoned,
        overflowed: c.overflowed,
        timed_out: c.timed_out,
        refused: c.refused,
        answered_within_target: c.answered_within_target,
        service_level_pct: s.service_level.map(|x| round1(x * 100.0)),
        asa_s: s.asa.map(|d| round1(d.as_secs_f64())),
        occupancy_pct: s.occupancy.map(|x| round1(x * 100.0)),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn agent_view(acd: &Acd, now: Instant, id: &str) -> Option<AgentView> {
    let info = acd.agent(id)?;
    let (reason, call) = match &info.state {
        AgentState::Break { reason } => (Some(reason.clone()), None),
        AgentState::Offered { call } | AgentState::OnCall { call } => (None, Some(call.0)),
        _ => (None, None),
    };
    Some(AgentView {
        id: info.id,
        state: info.state.name(),
        reason,
        pending_break: info.pending_break,
        queues: info.queues,
        skills: format_skills(&info.skills),
        call,
        since_s: acd.agent_since(id).map(|s| now.saturating_duration_since(s).as_secs()),
    })
}

fn queue_view(acd: &Acd, now: Instant, name: &str) -> Option<(QueueView, Vec<Summary>)> {
    let s = acd.queue_stats(name, now)?;
    let agents = AGENT_STATES[..5].iter().map(|st| (*st, s.agents.get(st).copied().unwrap_or(0))).collect();
    let view = QueueView {
        name: s.queue.clone(),
        waiting: s.waiting,
        ringing: s.offered_now,
        longest_wait_s: s.longest_wait.map(|d| round1(d.as_secs_f64())),
        agents,
        occupancy_now_pct: s.occupancy_now.map(|x| round1(x * 100.0)),
        sl_target_s: s.sl_target.as_secs(),
        sl_target_pct: s.sl_target_pct,
        total: summary_view(&s.total),
    };
    Some((view, s.intervals))
}

/// Answers one admin command and refreshes the metrics. Inputs that change agents may produce
/// ACD events (offers, states); the core drains them after every input as usual.
pub fn handle(acd: &mut Acd, metrics_state: &mut AcdMetricsState, now: Instant, unix_ms: i64, cmd: AcdCommand) {
    match cmd {
        AcdCommand::RefreshMetrics(reply) => {
            refresh_metrics(acd, metrics_state, now);
            let _ = reply.send(());
            return;
        }
        AcdCommand::Agents(reply) => {
            let mut ids: Vec<String> = acd.agents().into_iter().map(|a| a.id).collect();
            ids.sort();
            let _ = reply.send(ids.iter().filter_map(|id| agent_view(acd, now, id)).collect());
        }
        AcdCommand::Agent { id, reply } => {
            let _ = reply.send(agent_view(acd, now, &id));
        }
        AcdCommand::CheckQueues { names, reply } => {
            let known = acd.queue_names();
            let unknown = names.into_iter().find(|n| !known.contains(&n.as_str()));
            let _ = reply.send(unknown.map_or(Ok(()), |n| Err(AcdError::UnknownQueue(n))));
        }
        AcdCommand::Upsert { agent, reply } => {
            let id = agent.id.clone();
            let result = acd.upsert_agent(now, agent);
            if result.is_ok() {
                tracing::info!(agent = %id, "agent provisioned");
            }
            let _ = reply.send(result);
        }
        AcdCommand::Remove { id, reply } => {
            let _ = reply.send(acd.remove_agent(now, &id));
        }
        AcdCommand::Login { id, queues, reply } => {
            let result = acd.agent_login(now, &id, queues).map(|()| agent_view(acd, now, &id));
            let _ = reply.send(result.and_then(|v| v.ok_or(AcdError::UnknownAgent(id))));
        }
        AcdCommand::Logout { id, reply } => {
            let result = acd.agent_logout(now, &id).map(|()| agent_view(acd, now, &id));
            let _ = reply.send(result.and_then(|v| v.ok_or(AcdError::UnknownAgent(id))));
        }
        AcdCommand::State { id, on_break, reply } => {
            let result = match &on_break {
                Some(reason) => acd.agent_break(now, &id, reason),
                None => acd.agent_available(now, &id),
            };
            let _ = reply.send(result.map(|()| agent_view(acd, now, &id)).and_then(|v| v.ok_or(AcdError::UnknownAgent(id))));
        }
        AcdCommand::Queues(reply) => {
            let names: Vec<String> = acd.queue_names().iter().map(|n| n.to_string()).collect();
            let _ = reply.send(names.iter().filter_map(|n| queue_view(acd, now, n).map(|v| v.0)).collect());
        }
        AcdCommand::Queue { name, reply } => {
            let detail = queue_view(acd, now, &name).map(|(queue, intervals)| QueueDetail {
                queue,
                intervals: intervals
                    .iter()
                    .map(|s| {
                        let ago = s.start.map_or(Duration::ZERO, |st| now.saturating_duration_since(st));
                        IntervalView { start_ms: unix_ms - i64::try_from(ago.as_millis()).unwrap_or(0), summary: summary_view(s) }
                    })
                    .collect(),
            });
            let _ = reply.send(detail);
        }
    }
    refresh_metrics(acd, metrics_state, now);
}

/// What the metrics last saw, so counters advance by the ACD's totals' growth.
#[derive(Debug, Default)]
pub struct AcdMetricsState {
    totals: HashMap<String, Counters>,
}

/// Sets the ACD gauges and advances its counters from the queue summaries: O(queues + calls +
/// agents serving them), run for each scrape of /metrics and after each admin command, never
/// on the call path.
pub fn refresh_metrics(acd: &Acd, state: &mut AcdMetricsState, now: Instant) {
    let m = &metrics().acd;
    for name in acd.queue_names() {
        let Some(s) = acd.queue_stats(name, now) else { continue };
        let q = [name];
        m.waiting.with_label_values(&q).set(i64::try_from(s.waiting).unwrap_or(i64::MAX));
        m.longest_wait_seconds.with_label_values(&q).set(s.longest_wait.map_or(0.0, |d| d.as_secs_f64()));
        m.service_level.with_label_values(&q).set(s.total.service_level.unwrap_or(1.0));
        for st in &AGENT_STATES[..5] {
            m.agents.with_label_values(&[name, st]).set(i64::try_from(s.agents.get(st).copied().unwrap_or(0)).unwrap_or(i64::MAX));
        }
        let now_c = s.total.counters;
        let last = state.totals.entry(name.to_owned()).or_default();
        for (counter, new, old) in [
            (&m.offered, now_c.offered, last.offered),
            (&m.answered, now_c.answered, last.answered),
            (&m.abandoned, now_c.abandoned, last.abandoned),
            (&m.overflowed, now_c.overflowed, last.overflowed),
            (&m.timed_out, now_c.timed_out, last.timed_out),
        ] {
            // Touch the series even at zero so every queue is listed from the start.
            counter.with_label_values(&q).inc_by(new.saturating_sub(old));
        }
        *last = now_c;
    }
}

/// The agents to apply to the ACD at start: the database's live agents (which win over the
/// queue file from the first start on) and the ids removed with `ncgw agents remove`.
#[derive(Debug, Default)]
pub struct StoredAgents {
    pub live: Vec<AgentRecord>,
    pub removed: Vec<String>,
}

/// Records the queue file's agents in the database the first time it sees them, and gives each
/// one that has no SIP credentials a random password, stored as HA1 only and printed once here on
/// stdout (the log says only that it was printed). Returns what to apply with [`apply_stored`].
pub async fn load_stored(storage: &Storage, config: &AcdConfig, realm: &str) -> Result<StoredAgents, StorageError> {
    let removed = storage.removed_agents().await?;
    for agent in &config.agents {
        if let Err(e) = crate::storage::validate_id(&agent.id) {
            tracing::warn!(agent = %agent.id, error = %e, "queue-file agent cannot be a SIP user; not stored (fix: use letters and digits in its id)");
            continue;
        }
        storage.seed_agent(agent).await?;
        if removed.contains(&agent.id) || storage.get_credentials(&agent.id).await?.is_some() {
            continue;
        }
        let password = random_password()?;
        storage.set_password(&agent.id, &password, realm).await?;
        println!("agent {} password: {password}  (shown once; change it with `ncgw agents set {} --password NEW`)", agent.id, agent.id);
        tracing::warn!(agent = %agent.id, "generated a SIP password for a queue-file agent; it was printed once on stdout");
    }
    Ok(StoredAgents { live: storage.list_agents().await?, removed })
}

/// Applies the database's agents to a freshly built ACD (all logged out at this point).
pub fn apply_stored(acd: &mut Acd, now: Instant, stored: &StoredAgents) {
    for id in &stored.removed {
        let _ = acd.remove_agent(now, id);
    }
    for rec in &stored.live {
        if let Err(e) = acd.upsert_agent(now, rec.to_config()) {
            tracing::warn!(agent = %rec.id, error = %e, "stored agent not applied (fix: `ncgw agents set` it to configured queues)");
        }
    }
}

/// 16 characters from an unambiguous alphabet (about 92 bits), from the OS random source.
fn random_password() -> Result<String, StorageError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let path = std::path::Path::new("/dev/urandom");
    let mut out = String::with_capacity(16);
    let mut file = std::fs::File::open(path).map_err(|e| StorageError::io(path, e))?;
    while out.len() < 16 {
        let mut buf = [0u8; 32];
        std::io::Read::read_exact(&mut file, &mut buf).map_err(|e| StorageError::io(path, e))?;
        // Rejection sampling keeps every character equally likely.
        let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
        out.extend(buf.iter().filter(|&&b| b < limit).map(|&b| ALPHABET[usize::from(b) % ALPHABET.len()] as char).take(16 - out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_random_and_valid() {
        let a = random_password().unwrap();
        let b = random_password().unwrap();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert!(crate::storage::validate_password(&a).is_ok());
    }

    #[test]
    fn metrics_follow_the_queue_summaries() {
        // A queue name no other test uses: the metrics registry is process-wide.
        let text = "[[queue]]\nname = \"metrics_probe\"\nsl_target_s = 20\n[[agent]]\nid = \"m1\"\n";
        let mut acd = Acd::new(AcdConfig::from_text("q.toml", text).unwrap());
        let mut state = AcdMetricsState::default();
        let t0 = crate::testing::epoch();
        let m = &metrics().acd;
        let q = ["metrics_probe"];
        acd.agent_login(t0, "m1", None).unwrap();
        refresh_metrics(&acd, &mut state, t0);
        assert_eq!(m.agents.with_label_values(&["metrics_probe", "available"]).get(), 1);
        assert_eq!(m.offered.with_label_values(&q).get(), 0);
        let key = crate::acd::CallKey(1);
        acd.enqueue(t0, 0, key, "metrics_probe", Default::default()).unwrap();
        acd.enqueue(t0, 0, crate::acd::CallKey(2), "metrics_probe", Default::default()).unwrap();
        let t1 = t0 + Duration::from_secs(5);
        acd.offer_accepted(t1, key, "m1").unwrap();
        assert_eq!(m.offered.with_label_values(&q).get(), 0, "nothing moves between refreshes");
        refresh_metrics(&acd, &mut state, t1);
        assert_eq!((m.offered.with_label_values(&q).get(), m.answered.with_label_values(&q).get()), (2, 1));
        assert_eq!(m.waiting.with_label_values(&q).get(), 1);
        assert!((m.longest_wait_seconds.with_label_values(&q).get() - 5.0).abs() < 1e-9);
        assert_eq!(m.agents.with_label_values(&["metrics_probe", "on_call"]).get(), 1);
        assert!((m.service_level.with_label_values(&q).get() - 1.0).abs() < 1e-9, "answered within 20 s");
        // Counters advance by the growth only.
        acd.abandon(t1, crate::acd::CallKey(2)).unwrap();
        refresh_metrics(&acd, &mut state, t1);
        refresh_metrics(&acd, &mut state, t1);
        assert_eq!((m.offered.with_label_values(&q).get(), m.abandoned.with_label_values(&q).get()), (2, 1));
        crate::metrics::acd_offer_latency("metrics_probe", 0.002);
        assert_eq!(m.offer_latency_seconds.with_label_values(&q).get_sample_count(), 1);
    }

    #[tokio::test]
    async fn first_start_generates_passwords_once_and_the_database_wins_after() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).await.unwrap();
        let text = "[[queue]]\nname = \"general\"\n[[agent]]\nid = \"1001\"\nskills = [\"retail:3\"]\n[[agent]]\nid = \"1002\"\n";
        let config = AcdConfig::from_text("q.toml", text).unwrap();
        storage.set_password("1002", "operator-set", "ncgw").await.unwrap();
        let first = load_stored(&storage, &config, "ncgw").await.unwrap();
        assert_eq!(first.live.len(), 2);
        let c1 = storage.get_credentials("1001").await.unwrap().expect("1001 got a password");
        assert_eq!(storage.get_credentials("1002").await.unwrap().unwrap().ha1_md5, crate::storage::ha1_md5("1002", "ncgw", "operator-set"), "an existing password is kept");
        let change = crate::storage::AgentChange { skills: Some(vec![("loan".into(), 5)]), ..Default::default() };
        storage.update_agent("1001", &change, "ncgw").await.unwrap();
        let second = load_stored(&storage, &config, "ncgw").await.unwrap();
        assert_eq!(storage.get_credentials("1001").await.unwrap().unwrap(), c1, "no new password at the next start");
        let mut acd = Acd::new(config);
        apply_stored(&mut acd, crate::testing::epoch(), &second);
        assert_eq!(acd.agent("1001").unwrap().skills, vec![("loan".to_owned(), 5)], "the database wins over the file");
        storage.remove_agent("1002").await.unwrap();
        let third = load_stored(&storage, &AcdConfig::from_text("q.toml", text).unwrap(), "ncgw").await.unwrap();
        assert!(storage.get_credentials("1002").await.unwrap().is_none(), "a removed agent gets no new password");
        let mut acd = Acd::new(AcdConfig::from_text("q.toml", text).unwrap());
        apply_stored(&mut acd, crate::testing::epoch(), &third);
        assert!(acd.agent("1002").is_none());
    }
}
