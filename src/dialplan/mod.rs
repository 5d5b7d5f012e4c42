//! Dialplans (`dialplans/*.toml`): load and validate rule files, then decide, purely, where a call
//! goes: a queue, a SIP target, a registered user, or a rejection, plus attributes for later stages.

mod model;
mod number;
mod raw;
mod validate;

pub use model::{Action, CallAttributes, IpNet, NumberMatch, Rule, SourceMatch, TimeWindow, Trunk};
pub use number::normalise;

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use crate::config::ConfigErrors;

/// All rules of all files, in file-name order then file order.
#[derive(Debug, Clone, Default)]
pub struct Dialplan {
    pub trunks: Vec<Trunk>,
    pub rules: Vec<Rule>,
}

/// What the dialplan is asked about one call.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// Request-URI or To (any form: sip:, tel:, bare number).
    pub to: String,
    /// The From URI. `decide` uses it unless the source is a trusted trunk that sent
    /// `asserted` (P-Asserted-Identity).
    pub from: String,
    pub asserted: Option<String>,
    pub source_ip: Option<IpAddr>,
    /// The digest-authenticated user, if any.
    pub authenticated_user: Option<String>,
    /// Header (lower-case name, value) pairs the rules may test.
    pub headers: Vec<(String, String)>,
    /// Seconds since the Unix epoch (UTC); time windows convert with the file's offset.
    pub unix_time: i64,
}

/// The dialplan's answer, with the trace an operator needs to see why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub action: Action,
    /// The rule that chose the action; `None` when no rule matched.
    pub rule: Option<String>,
    /// Every rule that matched, in order (attribute rules and the final one).
    pub matched: Vec<String>,
    pub attributes: CallAttributes,
    /// The trunk the call came from, if the source address belongs to one.
    pub trunk: Option<String>,
    /// The calling identity used (normalised).
    pub caller: String,
    pub called: String,
    /// Stable cause code for CDRs when the action is a rejection.
    pub cause: Option<&'static str>,
}

impl Dialplan {
    /// Loads every `*.toml` in `dir`, reporting all errors of all files.
    pub fn load_dir(dir: &Path) -> Result<Dialplan, ConfigErrors> {
        validate::load_dir(dir)
    }

    /// Parses one file's text (for tests and `check`).
    pub fn from_text(source: &str, text: &str) -> Result<Dialplan, ConfigErrors> {
        validate::from_text(source, text)
    }

    /// The trunk a source address belongs to.
    pub fn trunk_for(&self, ip: IpAddr) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.nets.iter().any(|n| n.contains(ip)))
    }

    /// Decides where a call goes. Pure: everything it needs is in `call`.
    pub fn decide(&self, call: &CallInfo) -> Decision {
        let trunk = call.source_ip.and_then(|ip| self.trunk_for(ip));
        // RFC 3325: believe P-Asserted-Identity only from a trusted peer.
        let caller_raw = match (&call.asserted, trunk) {
            (Some(pai), Some(t)) if t.trusted => pai.as_str(),
            _ => call.from.as_str(),
        };
        let caller = normalise(caller_raw);
        let called = normalise(&call.to);
        let mut attributes = CallAttributes::default();
        let mut matched = Vec::new();
        for rule in &self.rules {
            if !self.rule_matches(rule, call, trunk, &caller, &called) {
                continue;
            }
            matched.push(rule.name.clone());
            attributes.merge(&rule.set);
            if let Some(action) = &rule.action {
                let action = match action {
                    Action::User(u) if u == "$to" => Action::User(called.clone()),
                    other => other.clone(),
                };
                let cause = matches!(action, Action::Reject { .. }).then_some("dialplan.rejected");
                return Decision {
                    action,
                    rule: Some(rule.name.clone()),
                    matched,
                    attributes,
                    trunk: trunk.map(|t| t.name.clone()),
                    caller,
                    called,
                    cause,
                };
            }
        }
        Decision {
            action: Action::Reject { status: 404, reason: Some("No Route".into()) },
            rule: None,
            matched,
            attributes,
            trunk: trunk.map(|t| t.name.clone()),
            caller,
            called,
            cause: Some("dialplan.no_match"),
        }
    }

    fn rule_matches(&self, rule: &Rule, call: &CallInfo, trunk: Option<&Trunk>, caller: &str, called: &str) -> bool {
        let source_ok = match &rule.source {
            SourceMatch::Any => true,
            SourceMatch::Authenticated => call.authenticated_user.is_some(),
            SourceMatch::Trusted => trunk.is_some_and(|t| t.trusted),
            SourceMatch::Trunk(name) => trunk.is_some_and(|t| &t.name == name),
        };
        source_ok
            && rule.to.as_ref().is_none_or(|m| m.matches(called))
            && rule.from.as_ref().is_none_or(|m| m.matches(caller))
            && rule.headers.iter().all(|(name, re)| {
                call.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(name) && re.is_match(v))
            })
            && rule.time.as_ref().is_none_or(|w| {
                let (weekday, minute) = local_time(call.unix_time, w.utc_offset_min);
                w.contains(weekday, minute)
            })
    }
}

/// (weekday with 0 = Monday, minute of day) at `unix_time` shifted by `offset_min`.
pub fn local_time(unix_time: i64, offset_min: i32) -> (u8, u16) {
    let t = unix_time + i64::from(offset_min) * 60;
    let days = t.div_euclid(86_400);
    let minute = (t.rem_euclid(86_400) / 60) as u16;
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    let weekday = (days + 3).rem_euclid(7) as u8;
    (weekday, minute)
}

/// Validates one dialplan file (for `ncgw check`).
pub fn check_file(path: &Path) -> Result<Dialplan, ConfigErrors> {
    validate::load_file(path)
}

#[cfg(test)]
mod tests;
