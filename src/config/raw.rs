//! The configuration file as written: every field optional, unknown fields refused, spans kept.
use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub sip: RawSip,
    pub call: RawCall,
    pub admin: RawAdmin,
    pub media: RawMedia,
    pub storage: RawStorage,
    pub log: RawLog,
    pub dialplan: RawDialplan,
    pub acd: RawAcd,
    pub recording: RawRecording,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAcd {
    /// The queues and agents file.
    pub queues: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSip {
    /// Addresses to listen on, UDP and TCP each.
    pub listen: Option<Spanned<Vec<Spanned<String>>>>,
    pub t1_ms: Option<Spanned<u64>>,
    pub t2_ms: Option<Spanned<u64>>,
    pub t4_ms: Option<Spanned<u64>>,
    pub timer_d_ms: Option<Spanned<u64>>,
    pub max_transactions: Option<Spanned<u64>>,
    pub tcp_idle_timeout_s: Option<Spanned<u64>>,
    pub max_tcp_connections: Option<Spanned<u64>>,
    pub drain_timeout_s: Option<Spanned<u64>>,
    pub overload_delay_ms: Option<Spanned<u64>>,
    pub threads: Option<Spanned<u64>>,
    pub server_name: Option<Spanned<String>>,
    pub realm: Option<Spanned<String>>,
    pub auth_algorithms: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdmin {
    pub listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMedia {
    pub rtp_ports: Option<Spanned<String>>,
    pub timeout_s: Option<Spanned<u64>>,
    pub bind: Option<Spanned<String>>,
    pub kernel_fast_path: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCall {
    pub no_answer_s: Option<Spanned<u64>>,
    pub max_duration_s: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStorage {
    pub data_dir: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRecording {
    pub enabled: Option<Spanned<bool>>,
    pub key_file: Option<Spanned<String>>,
    pub segment_s: Option<Spanned<u64>>,
    pub queue_packets: Option<Spanned<u64>>,
    /// The SIPREC recording server every answered call is also forked to (unset = off).
    pub siprec_server: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub level: Option<Spanned<String>>,
    pub format: Option<Spanned<String>>,
    pub redact: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDialplan {
    pub dir: Option<Spanned<String>>,
}

impl RawConfig {
    /// Parses TOML text; a syntax error or an unknown field names its line.
    pub fn parse(source: &str, text: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str::<RawConfig>(text).map_err(|e| {
            let message = e.message().trim().to_owned();
            let fix = if message.contains("unknown field") {
                "remove the field or correct its spelling; config/ncgw.toml lists every field"
            } else {
                "correct the TOML syntax or the value's type"
            };
            ConfigError::at(source, text, e.span().map(|s| s.start), "", message, fix)
        })
    }
}
