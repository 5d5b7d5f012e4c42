//! Admin API for recordings: `GET /api/v1/recordings` searches the index,
//! `POST /api/v1/calls/{id}/tags` attaches business metadata to a call's recording: during the
//! call the tags go into the signed manifest; after it they are appended to the recording file
//! as a signed amendment (`recording::amend`). Both are searchable in the index, and every
//! tagging is in the audit log with the operator (`X-Ncgw-Operator`, else `admin-api`).
use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
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

/// Who is tagging: the `X-Ncgw-Operator` header (validated like a tag value), else `admin-api`.
fn operator(headers: &HeaderMap) -> Option<String> {
    match headers.get("x-ncgw-operator").map(|v| v.to_str()) {
        None => Some("admin-api".to_owned()),
        Some(Ok(v)) if valid_tag("operator", v) && !v.is_empty() && v.len() <= 64 => Some(v.to_owned()),
        Some(_) => None,
    }
}

pub(super) async fn tag(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, Json(tags): Json<BTreeMap<String, String>>) -> Response {
    if tags.is_empty() || tags.len() > 32 || !tags.iter().all(|(k, v)| valid_tag(k, v)) {
        return error(StatusCode::BAD_REQUEST, "send a JSON object of 1-32 tags: keys [A-Za-z0-9_.-]{1,64}, values up to 256 characters");
    }
    let Some(by) = operator(&headers) else {
        return error(StatusCode::BAD_REQUEST, "X-Ncgw-Operator must be 1-64 printable characters");
    };
    let index = state.storage.recordings();
    match index.add_tags(&id, &tags).await {
        Ok(true) => {}
        Ok(false) => return error(StatusCode::NOT_FOUND, &format!("no recording for call {id} (calls are recorded once answered)")),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {e}")),
    }
    let now = crate::storage::now_ms();
    let row = match index.get(&id).await {
        Ok(Some(row)) => row,
        Ok(None) => return error(StatusCode::NOT_FOUND, &format!("no recording for call {id}")),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &format!("database: {e}")),
    };
    let signed = match (&state.amender, row.state.as_str()) {
        (_, "recording") => serde_json::json!("manifest"),
        (Some(amender), _) => {
            let (amender, path, call, t, who) = (amender.clone(), row.path.clone(), id.clone(), tags.clone(), by.clone());
            match tokio::task::spawn_blocking(move || amender.amend_tags(&path, &call, &t, &who, now)).await {
                Ok(Ok(_)) => serde_json::json!("amendment"),
                Ok(Err(e)) => {
                    tracing::warn!(call = %id, cause = e.cause_code(), error = %e, "tags kept in the index only: the recording could not be amended");
                    serde_json::Value::Null
                }
                Err(e) => {
                    tracing::warn!(call = %id, error = %e, "amendment task failed");
                    serde_json::Value::Null
                }
            }
        }
        (None, _) => serde_json::Value::Null,
    };
    let detail = serde_json::to_string(&tags).unwrap_or_default();
    if let Err(e) = index.audit(now, &id, "tag", &by, Some(&detail)).await {
        tracing::warn!(call = %id, error = %e, "tagging not audited");
    }
    Json(serde_json::json!({ "call_id": id, "tags": tags, "signed": signed, "by": by })).into_response()
}
