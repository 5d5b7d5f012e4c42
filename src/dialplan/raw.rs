//! Dialplan files as written (TOML): unknown fields refused, spans kept for error messages.
use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Offset of local time from UTC for `days`/`hours`, e.g. "+08:00".
    pub utc_offset: Option<Spanned<String>>,
    #[serde(default)]
    pub trunk: Vec<Spanned<RawTrunk>>,
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrunk {
    pub name: Spanned<String>,
    /// IP addresses or CIDR blocks the trunk sends from.
    pub addresses: Spanned<Vec<Spanned<String>>>,
    /// A trusted trunk's P-Asserted-Identity is believed (RFC 3325).
    #[serde(default)]
    pub trusted: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Spanned<String>,
    // Conditions: all given must hold.
    pub to: Option<Spanned<String>>,
    pub to_prefix: Option<Spanned<String>>,
    pub to_regex: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub from_prefix: Option<Spanned<String>>,
    pub from_regex: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    #[serde(default)]
    pub header: Vec<Spanned<RawHeaderMatch>>,
    pub days: Option<Spanned<Vec<Spanned<String>>>>,
    pub hours: Option<Spanned<String>>,
    // Actions: exactly one of queue/route/user/reject, or `set` alone (then matching continues).
    pub queue: Option<Spanned<String>>,
    pub route: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub reject: Option<Spanned<u16>>,
    pub reason: Option<Spanned<String>>,
    pub set: Option<Spanned<RawSet>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderMatch {
    pub name: Spanned<String>,
    pub regex: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSet {
    pub priority: Option<Spanned<i64>>,
    #[serde(default)]
    pub skills: Vec<Spanned<String>>,
    pub language: Option<Spanned<String>>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}
