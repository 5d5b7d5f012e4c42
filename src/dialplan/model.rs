//! The validated dialplan: trunks, rules with their conditions and actions, and where each came from.
use std::collections::BTreeMap;
use std::net::IpAddr;

use regex::Regex;

/// A carrier or PBX peer, recognised by source address.
#[derive(Debug, Clone)]
pub struct Trunk {
    pub name: String,
    pub nets: Vec<IpNet>,
    pub trusted: bool,
}

/// An address block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Option<IpNet> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => mask_eq(u128::from(u32::from(n)) << 96, u128::from(u32::from(i)) << 96, self.prefix),
            (IpAddr::V6(n), IpAddr::V6(i)) => mask_eq(u128::from(n), u128::from(i), self.prefix),
            (IpAddr::V6(n), IpAddr::V4(i)) => n.to_ipv4_mapped() == Some(i) && self.prefix == 128,
            (IpAddr::V4(n), IpAddr::V6(i)) => i.to_ipv4_mapped().is_some_and(|i| IpNet { addr: IpAddr::V4(n), prefix: self.prefix }.contains(IpAddr::V4(i))),
        }
    }
}

fn mask_eq(a: u128, b: u128, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(prefix));
    a & mask == b & mask
}

/// How a number is matched.
#[derive(Debug, Clone)]
pub enum NumberMatch {
    Exact(String),
    Prefix(String),
    Regex(Regex),
}

impl NumberMatch {
    pub fn matches(&self, number: &str) -> bool {
        match self {
            NumberMatch::Exact(n) => n == number,
            NumberMatch::Prefix(p) => number.starts_with(p.as_str()),
            NumberMatch::Regex(r) => r.is_match(number),
        }
    }
}

/// Which sources a rule accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceMatch {
    /// Anyone, including unauthenticated internet callers.
    Any,
    /// A SIP user who passed digest authentication.
    Authenticated,
    /// Any configured trunk marked trusted.
    Trusted,
    /// One named trunk.
    Trunk(String),
}

/// A time window in the dialplan's local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    /// The file's local time offset from UTC, in minutes.
    pub utc_offset_min: i32,
    /// Bit d set = weekday d allowed (0 = Monday).
    pub days: u8,
    /// Minutes after local midnight, start inclusive, end exclusive; start > end spans midnight.
    pub start_min: u16,
    pub end_min: u16,
}

impl TimeWindow {
    pub fn contains(&self, weekday: u8, minute: u16) -> bool {
        if self.days & (1 << weekday) == 0 {
            return false;
        }
        if self.start_min <= self.end_min {
            (self.start_min..self.end_min).contains(&minute)
        } else {
            minute >= self.start_min || minute < self.end_min
        }
    }
}

/// Attributes a rule sets on the call for later rules, queues and records.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallAttributes {
    pub priority: Option<i64>,
    /// (skill, minimum level).
    pub skills: Vec<(String, u8)>,
    pub language: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl CallAttributes {
    /// Later values win; skills and tags accumulate.
    pub fn merge(&mut self, other: &CallAttributes) {
        if other.priority.is_some() {
            self.priority = other.priority;
        }
        for (skill, level) in &other.skills {
            match self.skills.iter_mut().find(|(s, _)| s == skill) {
                Some(existing) => existing.1 = *level,
                None => self.skills.push((skill.clone(), *level)),
            }
        }
        if other.language.is_some() {
            self.language.clone_from(&other.language);
        }
        self.tags.extend(other.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// To an agent queue.
    Queue(String),
    /// To a fixed SIP target.
    Route(String),
    /// To a registered user; `$to` means the called number.
    User(String),
    /// Refuse with a SIP status.
    Reject { status: u16, reason: Option<String> },
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub file: String,
    pub line: usize,
    pub to: Option<NumberMatch>,
    pub from: Option<NumberMatch>,
    pub source: SourceMatch,
    pub headers: Vec<(String, Regex)>,
    pub time: Option<TimeWindow>,
    /// A terminal action, or `None` for a rule that only sets attributes.
    pub action: Option<Action>,
    pub set: CallAttributes,
}
