//! Admin API for recordings: `GET /api/v1/recordings` searches the index,
//! `POST /api/v1/calls/{id}/tags` attaches business metadata to a call's recording (during the
//! call the tags go into the signed manifest; after it they are kept in the index).
use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{error, AppState};
use crate::storage::RecordingFilter;

#[derive(Deserialize)]
pub(super) struct ListQuery {
    agent: Option<String>,
    queue: Option<String>,
    /// Unix milliseconds.
    since: Option<i64>,
    /// `k=v[,k2=v2]`
    tag: Option<String>,
    state: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    let mut tags = Vec::new();
    for t in q.tag.iter().flat_map(|t| t.split(',')).filter(|t| !t.is_empty()) {
        let Some((k, v)) = t.split_once('=') else {
            return error(StatusCode::BAD_REQUEST, "tag must be key=value[,key=value]");
        };
        tags.push((k.to_owned(), v.to_owned()));
    }
    let f = RecordingFilter { agent: q.agent, queue: q.queue, since: q.since, tags, state: q.state, limit: q.limit.unwrap_or(50).clamp(1, 10_000) };
    match state.storage.recordings().list(&f).await {
        Ok(v) => Json(serde_json::json!({ "recordings": v })).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {e}")),
    }
}

fn valid_tag(k: &str, v: &str) -> bool {
    !k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) && v.len() <= 256 && !v.chars().any(char::is_control)
}

pub(super) async fn tag(State(state): State<AppState>, Path(id): Path<String>, Json(tags): Json<BTreeMap<String, String>>) -> Response {
    if tags.is_empty() || tags.len() > 32 || !tags.iter().all(|(k, v)| valid_tag(k, v)) {
        return error(StatusCode::BAD_REQUEST, "send a JSON object of 1-32 tags: keys [A-Za-z0-9_.-]{1,64}, values up to 256 characters");
    }
    match state.storage.recordings().add_tags(&id, &tags).await {
        Ok(true) => Json(serde_json::json!({ "call_id": id, "tags": tags })).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, &format!("no recording for call {id} (calls are recorded once answered)")),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {e}")),
    }
}
