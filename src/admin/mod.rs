//! The admin HTTP listener: `/metrics` (Prometheus), `/healthz`, and the JSON API the CLI uses.
mod agents;
mod recordings;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crate::storage::StorageError;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::metrics::metrics;
use crate::runtime::{Command, PingResult};
use crate::sip::peer::Transport;

/// How long an API call waits for the core before answering 503.
const CORE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
struct AppState {
    core: mpsc::Sender<Command>,
    storage: crate::storage::Storage,
    realm: String,
    /// Signs tags attached to closed recordings (`None` with recording off).
    amender: Option<crate::recording::Amender>,
}

/// Serves until shutdown.
pub async fn serve(listener: TcpListener, core: mpsc::Sender<Command>, storage: crate::storage::Storage, realm: String, amender: Option<crate::recording::Amender>, mut shutdown: watch::Receiver<bool>) {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/api/v1/status", get(status))
        .route("/api/v1/ping", post(ping))
        .route("/api/v1/drain", post(drain))
        .route("/api/v1/calls", get(calls))
        .route("/api/v1/calls/{id}", get(call_show))
        .route("/api/v1/calls/{id}/hangup", post(call_hangup))
        .route("/api/v1/calls/{id}/tags", post(recordings::tag))
        .route("/api/v1/recordings", get(recordings::list))
        .route("/api/v1/cdr", get(cdr))
        .route("/api/v1/registrations", get(registrations))
        .route("/api/v1/users", get(users_list).post(users_add))
        .route("/api/v1/users/{id}", axum::routing::delete(users_remove))
        .merge(agents::routes())
        .with_state(AppState { core, storage, realm, amender });
    let stop = async move {
        let _ = shutdown.changed().await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
        tracing::error!(error = %e, "admin listener failed");
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn ask<T>(state: &AppState, make: impl FnOnce(oneshot::Sender<T>) -> Command, wait: Duration) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    if state.core.send(make(tx)).await.is_err() {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "node is stopping"));
    }
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(v)) => Ok(v),
        _ => Err(error(StatusCode::SERVICE_UNAVAILABLE, "node did not answer in time")),
    }
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    // The ACD figures are brought up to date by the core first; a busy core delays a scrape by
    // at most this much, and the last figures are served.
    let _ = ask(&state, |r| Command::Acd(crate::runtime::AcdCommand::RefreshMetrics(r)), Duration::from_millis(500)).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics().render())
}

async fn healthz(State(state): State<AppState>) -> Response {
    match ask(&state, Command::Status, CORE_TIMEOUT).await {
        Ok(s) if s.accepting => (StatusCode::OK, "ok\n").into_response(),
        Ok(_) => (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response(),
        Err(e) => e,
    }
}

async fn status(State(state): State<AppState>) -> Response {
    match ask(&state, Command::Status, CORE_TIMEOUT).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => e,
    }
}

#[derive(Deserialize)]
struct PingQuery {
    target: String,
    #[serde(default)]
    transport: Option<String>,
}

async fn ping(State(state): State<AppState>, Query(q): Query<PingQuery>) -> Response {
    let Ok(target) = q.target.parse::<SocketAddr>() else {
        return error(StatusCode::BAD_REQUEST, "target must be IP:port, e.g. 127.0.0.1:5070 or [::1]:5070");
    };
    let transport = match q.transport.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("udp") => Transport::Udp,
        Some("tcp") => Transport::Tcp,
        Some(_) => return error(StatusCode::BAD_REQUEST, "transport must be udp or tcp"),
    };
    // Timer F is 64·T1 (32 s by default); wait a little longer than that.
    let wait = Duration::from_secs(120);
    match ask(&state, |reply| Command::Ping { target, transport, reply }, wait).await {
        Ok::<PingResult, _>(r) => Json(r).into_response(),
        Err(e) => e,
    }
}

async fn drain(State(state): State<AppState>) -> Response {
    if state.core.send(Command::Shutdown).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "node is stopping");
    }
    Json(serde_json::json!({ "draining": true })).into_response()
}

async fn calls(State(state): State<AppState>) -> Response {
    match ask(&state, Command::Calls, CORE_TIMEOUT).await {
        Ok(v) => Json(serde_json::json!({ "calls": v })).into_response(),
        Err(e) => e,
    }
}

async fn call_show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match ask(&state, |reply| Command::CallShow { id: id.clone(), reply }, CORE_TIMEOUT).await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("no live call {id} (see `ncgw calls`)")),
        Err(e) => e,
    }
}

async fn call_hangup(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match ask(&state, |reply| Command::Hangup { id: id.clone(), reply }, CORE_TIMEOUT).await {
        Ok(true) => Json(serde_json::json!({ "hangup": id })).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, &format!("no live call {id} (see `ncgw calls`)")),
        Err(e) => e,
    }
}

#[derive(Deserialize)]
struct CdrQuery {
    /// Unix milliseconds.
    since: Option<i64>,
    limit: Option<u32>,
}

async fn cdr(State(state): State<AppState>, Query(q): Query<CdrQuery>) -> Response {
    let limit = q.limit.unwrap_or(50).clamp(1, 10_000);
    match state.storage.list_cdrs(q.since, limit).await {
        Ok(v) => Json(serde_json::json!({ "cdr": v })).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {e}")),
    }
}

async fn registrations(State(state): State<AppState>) -> Response {
    match ask(&state, Command::Registrations, CORE_TIMEOUT).await {
        Ok(v) => Json(serde_json::json!({ "registrations": v })).into_response(),
        Err(e) => e,
    }
}

async fn users_list(State(state): State<AppState>) -> Response {
    match state.storage.list_users().await {
        Ok(v) => Json(serde_json::json!({ "users": v })).into_response(),
        Err(e) => storage_error(e),
    }
}

#[derive(Deserialize)]
struct NewUser {
    id: String,
    password: String,
    display: Option<String>,
}

fn storage_error(e: StorageError) -> Response {
    match e {
        StorageError::InvalidInput { .. } => error(StatusCode::BAD_REQUEST, &e.to_string()),
        StorageError::UserExists { .. } => error(StatusCode::CONFLICT, &e.to_string()),
        other => error(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {other}")),
    }
}

/// After a change, the core gets the new credentials so digest checks see it at once.
async fn reload_credentials(state: &AppState) {
    if let Ok(all) = state.storage.all_credentials().await {
        let _ = state.core.send(Command::SetCredentials(all)).await;
    }
}

async fn users_add(State(state): State<AppState>, Json(u): Json<NewUser>) -> Response {
    let realm = state.realm.clone();
    match state.storage.add_user(&u.id, u.display.as_deref(), &u.password, &realm).await {
        Ok(()) => {
            reload_credentials(&state).await;
            Json(serde_json::json!({ "added": u.id, "realm": realm })).into_response()
        }
        Err(e) => storage_error(e),
    }
}

async fn users_remove(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.storage.remove_user(&id).await {
        Ok(true) => {
            reload_credentials(&state).await;
            Json(serde_json::json!({ "removed": id })).into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, &format!("no user {id} (see `ncgw users list`)")),
        Err(e) => storage_error(e),
    }
}
