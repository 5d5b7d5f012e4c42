//! `/api/v1/agents` and `/api/v1/queues`: agent provisioning (database first, then the live ACD),
//! login, logout and state, and the queues' live figures.
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::{ask, error, reload_credentials, AppState, CORE_TIMEOUT};
use crate::acd::{AcdError, AgentConfig};
use crate::runtime::{AcdCommand, Command};
use crate::storage::{parse_queues, parse_skills, AgentChange, StorageError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agents", get(list))
        .route("/api/v1/agents/{id}", get(show).put(put).delete(remove))
        .route("/api/v1/agents/{id}/login", post(login))
        .route("/api/v1/agents/{id}/logout", post(logout))
        .route("/api/v1/agents/{id}/state", post(state))
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/queues/{name}", get(queue))
}

fn acd_error(e: &AcdError) -> Response {
    match e {
        AcdError::UnknownAgent(id) => error(StatusCode::NOT_FOUND, &format!("no agent {id} (see `ncgw agents`; add one with `ncgw agents add`)")),
        AcdError::UnknownQueue(q) => error(StatusCode::BAD_REQUEST, &format!("queues: no queue named '{q}' (see `ncgw queues` for the configured ones)")),
        AcdError::NotLoggedIn(id) => error(StatusCode::CONFLICT, &format!("agent {id} is not logged in (fix: `ncgw agents login {id}` first)")),
        AcdError::AgentBusy(id) => error(StatusCode::CONFLICT, &format!("agent {id} has a call ringing or connected (fix: wait until it ends, or `ncgw agents logout {id}` for afterwards)")),
        other => error(StatusCode::CONFLICT, &other.to_string()),
    }
}

fn storage_error(e: StorageError) -> Response {
    match e {
        StorageError::InvalidInput { field, reason } => error(StatusCode::BAD_REQUEST, &format!("{field}: {reason}")),
        StorageError::AgentExists { .. } => error(StatusCode::CONFLICT, &e.to_string()),
        other => error(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {other}")),
    }
}

async fn list(State(state): State<AppState>) -> Response {
    match ask(&state, |r| Command::Acd(AcdCommand::Agents(r)), CORE_TIMEOUT).await {
        Ok(v) => Json(serde_json::json!({ "agents": v })).into_response(),
        Err(e) => e,
    }
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match ask(&state, |reply| Command::Acd(AcdCommand::Agent { id: id.clone(), reply }), CORE_TIMEOUT).await {
        Ok(Some(v)) => Json(serde_json::json!({ "agent": v })).into_response(),
        Ok(None) => acd_error(&AcdError::UnknownAgent(id)),
        Err(e) => e,
    }
}

/// The body of `PUT /api/v1/agents/{id}`; absent fields stay as they are.
#[derive(Debug, Deserialize)]
struct AgentBody {
    password: Option<String>,
    /// `name:level,...`
    skills: Option<String>,
    /// `q1,q2`, or `all` for every queue the skills qualify for.
    queues: Option<String>,
    display: Option<String>,
    /// `add` (refuse an existing agent), `set` (refuse a missing one), or create-or-change.
    #[serde(default)]
    mode: Option<String>,
}

async fn put(State(state): State<AppState>, Path(id): Path<String>, Json(b): Json<AgentBody>) -> Response {
    let skills = match b.skills.as_deref().map(parse_skills).transpose() {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("skills: {e}")),
    };
    let queues = match b.queues.as_deref().map(str::trim) {
        None => None,
        Some("all") => Some(None),
        Some(text) => match parse_queues(text) {
            Ok(q) => Some(Some(q)),
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("queues: {e} (or `all` for every queue the skills qualify for)")),
        },
    };
    if let Some(Some(names)) = &queues {
        match ask(&state, |reply| Command::Acd(AcdCommand::CheckQueues { names: names.clone(), reply }), CORE_TIMEOUT).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return acd_error(&e),
            Err(e) => return e,
        }
    }
    let mode = b.mode.as_deref().unwrap_or("upsert");
    if !matches!(mode, "add" | "set" | "upsert") {
        return error(StatusCode::BAD_REQUEST, "mode: must be add, set or upsert");
    }
    let change = AgentChange { password: b.password.clone(), skills: skills.clone(), queues: queues.clone(), display: b.display.clone() };
    let existing = if mode == "add" { None } else {
        match state.storage.update_agent(&id, &change, &state.realm).await {
            Ok(r) => r,
            Err(e) => return storage_error(e),
        }
    };
    let (record, created) = match existing {
        Some(r) => (r, false),
        None if mode == "set" => return acd_error(&AcdError::UnknownAgent(id)),
        None => {
            let Some(password) = &b.password else {
                return error(StatusCode::BAD_REQUEST, "password: required for a new agent (fix: add --password, at least 8 characters)");
            };
            let q = queues.clone().flatten();
            match state.storage.add_agent(&id, b.display.as_deref(), &skills.clone().unwrap_or_default(), q.as_deref(), password, &state.realm).await {
                Ok(r) => (r, true),
                Err(e) => return storage_error(e),
            }
        }
    };
    if b.password.is_some() {
        reload_credentials(&state).await;
    }
    let agent: AgentConfig = record.to_config();
    match ask(&state, |reply| Command::Acd(AcdCommand::Upsert { agent, reply }), CORE_TIMEOUT).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return acd_error(&e),
        Err(e) => return e,
    }
    match ask(&state, |reply| Command::Acd(AcdCommand::Agent { id: id.clone(), reply }), CORE_TIMEOUT).await {
        Ok(v) => Json(serde_json::json!({ "agent": v, "created": created, "display": record.display })).into_response(),
        Err(e) => e,
    }
}

async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let live = match ask(&state, |reply| Command::Acd(AcdCommand::Remove { id: id.clone(), reply }), CORE_TIMEOUT).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return acd_error(&e),
        Err(e) => return e,
    };
    let stored = match state.storage.remove_agent(&id).await {
        Ok(found) => found,
        Err(e) => return storage_error(e),
    };
    if !live && !stored {
        return acd_error(&AcdError::UnknownAgent(id));
    }
    reload_credentials(&state).await;
    Json(serde_json::json!({ "removed": id })).into_response()
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    /// `q1,q2`: serve only these for this login.
    queue: Option<String>,
}

async fn login(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<LoginQuery>) -> Response {
    let queues = match q.queue.as_deref().map(parse_queues).transpose() {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("queue: {e}")),
    };
    agent_reply(ask(&state, |reply| Command::Acd(AcdCommand::Login { id: id.clone(), queues, reply }), CORE_TIMEOUT).await)
}

async fn logout(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    agent_reply(ask(&state, |reply| Command::Acd(AcdCommand::Logout { id: id.clone(), reply }), CORE_TIMEOUT).await)
}

#[derive(Debug, Deserialize)]
struct StateBody {
    /// `available` or `break`.
    state: String,
    reason: Option<String>,
}

async fn state(State(st): State<AppState>, Path(id): Path<String>, Json(b): Json<StateBody>) -> Response {
    let on_break = match b.state.as_str() {
        "available" => None,
        "break" => {
            let reason = b.reason.unwrap_or_else(|| "break".to_owned());
            if reason.is_empty() || reason.len() > 64 || reason.chars().any(char::is_control) {
                return error(StatusCode::BAD_REQUEST, "reason: 1 to 64 characters, no control characters");
            }
            Some(reason)
        }
        _ => return error(StatusCode::BAD_REQUEST, "state: must be available or break"),
    };
    agent_reply(ask(&st, |reply| Command::Acd(AcdCommand::State { id: id.clone(), on_break, reply }), CORE_TIMEOUT).await)
}

fn agent_reply(r: Result<Result<crate::runtime::AgentView, AcdError>, Response>) -> Response {
    match r {
        Ok(Ok(v)) => Json(serde_json::json!({ "agent": v })).into_response(),
        Ok(Err(e)) => acd_error(&e),
        Err(e) => e,
    }
}

async fn queues(State(state): State<AppState>) -> Response {
    match ask(&state, |r| Command::Acd(AcdCommand::Queues(r)), CORE_TIMEOUT).await {
        Ok(v) => Json(serde_json::json!({ "queues": v })).into_response(),
        Err(e) => e,
    }
}

async fn queue(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match ask(&state, |reply| Command::Acd(AcdCommand::Queue { name: name.clone(), reply }), CORE_TIMEOUT).await {
        Ok(Some(v)) => Json(serde_json::json!({ "queue": v })).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("no queue named '{name}' (see `ncgw queues`)")),
        Err(e) => e,
    }
}
