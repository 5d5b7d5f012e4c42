//! A small blocking HTTP client for the admin API, with errors that tell the operator what to do.
use std::time::Duration;

use anyhow::{anyhow, Context};
use serde::de::DeserializeOwned;

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into()
}

fn url(admin: &str, path: &str) -> String {
    let base = if admin.starts_with("http://") { admin.to_owned() } else { format!("http://{admin}") };
    format!("{}{}", base.trim_end_matches('/'), path)
}

fn unreachable(admin: &str, e: ureq::Error) -> anyhow::Error {
    anyhow!("cannot reach the node's admin API at {admin}: {e} (fix: start it with `ncgw run`, or point --admin / NCGW_ADMIN at its admin address)")
}

fn decode<T: DeserializeOwned>(admin: &str, mut resp: ureq::http::Response<ureq::Body>) -> anyhow::Result<T> {
    let status = resp.status();
    let body = resp.body_mut().read_to_string().with_context(|| format!("reading the answer from {admin}"))?;
    if !status.is_success() {
        let msg = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or(body);
        return Err(anyhow!("the node answered {status}: {}", msg.trim()));
    }
    serde_json::from_str(&body).with_context(|| format!("the node at {admin} sent JSON this CLI does not understand"))
}

pub fn get<T: DeserializeOwned>(admin: &str, path: &str) -> anyhow::Result<T> {
    let resp = agent(Duration::from_secs(10)).get(&url(admin, path)).call().map_err(|e| unreachable(admin, e))?;
    decode(admin, resp)
}

pub fn post<T: DeserializeOwned>(admin: &str, path: &str, timeout: Duration) -> anyhow::Result<T> {
    let resp = agent(timeout).post(&url(admin, path)).send_empty().map_err(|e| unreachable(admin, e))?;
    decode(admin, resp)
}

pub fn post_json<T: DeserializeOwned>(admin: &str, path: &str, body: &serde_json::Value, timeout: Duration) -> anyhow::Result<T> {
    let resp = agent(timeout).post(&url(admin, path)).send_json(body).map_err(|e| unreachable(admin, e))?;
    decode(admin, resp)
}

pub fn put_json<T: DeserializeOwned>(admin: &str, path: &str, body: &serde_json::Value) -> anyhow::Result<T> {
    let resp = agent(Duration::from_secs(10)).put(&url(admin, path)).send_json(body).map_err(|e| unreachable(admin, e))?;
    decode(admin, resp)
}

pub fn delete<T: DeserializeOwned>(admin: &str, path: &str) -> anyhow::Result<T> {
    let resp = agent(Duration::from_secs(10)).delete(&url(admin, path)).call().map_err(|e| unreachable(admin, e))?;
    decode(admin, resp)
}
