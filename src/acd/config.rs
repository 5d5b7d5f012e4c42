//! Queue and agent definitions (`config/queues.toml`): raw serde with spans, then validated types.
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{ConfigError, ConfigErrors};
use crate::dialplan::TimeWindow;

/// Everything the ACD needs to know before the first call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcdConfig {
    /// Length of a statistics interval (default 15 minutes).
    pub stats_interval: Duration,
    /// How many past intervals are kept (default 96, one day of 15-minute buckets).
    pub stats_keep: usize,
    pub queues: Vec<QueueConfig>,
    pub agents: Vec<AgentConfig>,
    /// Log an agent in when its SIP user registers and out when its last registration goes
    /// (default true); explicit login/logout/state commands work either way.
    pub auto_login: bool,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    /// Skills every call of this queue needs, on top of the call's own.
    pub skills: Vec<SkillReq>,
    /// Priority given to calls that bring none; rules below may raise it.
    pub default_priority: i64,
    pub priority_rules: Vec<PriorityRule>,
    /// Service-level target: `sl_target_pct` % answered within `sl_target`.
    pub sl_target: Duration,
    pub sl_target_pct: u8,
    pub max_wait: Option<Duration>,
    pub max_length: Option<usize>,
    /// Where calls go when the queue is closed, full, unstaffed or waited out.
    pub overflow: Option<OverflowTarget>,
    /// Opening hours; `None` = always open.
    pub hours: Option<TimeWindow>,
    /// Requirements dropped after a wait, in order of `after`.
    pub relax: Vec<Relax>,
    pub ring_timeout: Duration,
    pub wrap_up: Duration,
    /// How often each waiting call is told its position.
    pub position_every: Duration,
}

/// A required skill and its minimum level (1–10).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkillReq {
    pub skill: String,
    pub min_level: u8,
}

/// A call whose tag `tag` equals `equals` gets at least `priority`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityRule {
    pub tag: String,
    pub equals: String,
    pub priority: i64,
}

/// After `after` in the queue, the requirement for `drop` is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relax {
    pub after: Duration,
    pub drop: String,
}

/// Where an overflowing call goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OverflowTarget {
    /// Into another queue (the ACD moves it there itself).
    Queue(String),
    /// Play the named announcement, then hang up.
    Announce { announcement: String },
    /// Offer the caller a callback request, then hang up.
    Callback,
}

/// One agent as configured; state lives in the ACD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub id: String,
    /// (skill, level); a skill written without a level (e.g. `lang:yue`) has level 1.
    pub skills: Vec<(String, u8)>,
    /// Queues served; `None` = every queue whose required skills the agent has.
    pub queues: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    stats_interval_s: Option<Spanned<u64>>,
    stats_keep: Option<Spanned<u64>>,
    auto_login: Option<bool>,
    #[serde(default)]
    queue: Vec<Spanned<RawQueue>>,
    #[serde(default)]
    agent: Vec<Spanned<RawAgent>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    name: Spanned<String>,
    #[serde(default)]
    skills: Vec<Spanned<String>>,
    priority: Option<Spanned<i64>>,
    #[serde(default)]
    priority_rules: Vec<Spanned<RawPriorityRule>>,
    sl_target_s: Option<Spanned<u64>>,
    sl_target_pct: Option<Spanned<u64>>,
    max_wait_s: Option<Spanned<u64>>,
    max_length: Option<Spanned<u64>>,
    overflow: Option<Spanned<RawOverflow>>,
    hours: Option<Spanned<RawHours>>,
    #[serde(default)]
    relax: Vec<Spanned<RawRelax>>,
    ring_timeout_s: Option<Spanned<u64>>,
    wrap_up_s: Option<Spanned<u64>>,
    position_every_s: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPriorityRule {
    tag: Spanned<String>,
    equals: Spanned<String>,
    priority: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverflow {
    queue: Option<Spanned<String>>,
    announce: Option<Spanned<String>>,
    then: Option<Spanned<String>>,
    callback: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    days: Option<Spanned<Vec<Spanned<String>>>>,
    from: Spanned<String>,
    to: Spanned<String>,
    utc_offset: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelax {
    after_s: Spanned<u64>,
    drop: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    id: Spanned<String>,
    #[serde(default)]
    skills: Vec<Spanned<String>>,
    queues: Option<Spanned<Vec<Spanned<String>>>>,
}

struct Ctx<'a> {
    source: &'a str,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn err<T>(&mut self, at: &Spanned<T>, field: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.errors.push(ConfigError::at(self.source, self.text, Some(at.span().start), field, message, fix));
    }

    fn secs(&mut self, v: &Option<Spanned<u64>>, field: &str, default: u64, min: u64, max: u64) -> Duration {
        match v {
            None => Duration::from_secs(default),
            Some(s) if (min..=max).contains(s.get_ref()) => Duration::from_secs(*s.get_ref()),
            Some(s) => {
                self.err(s, field, format!("{} is out of range", s.get_ref()), format!("use {min} to {max} seconds"));
                Duration::from_secs(default)
            }
        }
    }
}

/// Parses `skill` or `skill:level`. A suffix that is not a number is part of the name
/// (`lang:yue` is the skill "lang:yue" at level 1); a numeric level must be 1–10.
pub fn parse_skill(s: &str) -> Option<(String, u8)> {
    let s = s.trim();
    let (name, level) = match s.rsplit_once(':') {
        Some((n, l)) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => (n, l.parse::<u8>().ok().filter(|l| (1..=10).contains(l))?),
        _ => (s, 1),
    };
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
    ok.then(|| (name.to_owned(), level))
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then(|| h * 60 + m)
}

fn parse_offset(s: &str) -> Option<i32> {
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let minutes = i32::from(parse_hhmm(&s[1..])?);
    (minutes <= 14 * 60).then_some(sign * minutes)
}

const SKILL_FIX: &str = "write skill or skill:level with level 1-10, e.g. \"loan:3\" or \"lang:yue\"";

fn hours(c: &mut Ctx, h: &RawHours) -> Option<TimeWindow> {
    let before = c.errors.len();
    let days = match &h.days {
        None => 0x7f,
        Some(list) => {
            let mut days = 0u8;
            for d in list.get_ref() {
                match DAYS.iter().position(|x| x.eq_ignore_ascii_case(d.get_ref())) {
                    Some(i) => days |= 1 << i,
                    None => c.err(d, "queue.hours.days", format!("'{}' is not a day", d.get_ref()), "use mon, tue, wed, thu, fri, sat, sun"),
                }
            }
            if list.get_ref().is_empty() {
                c.err(list, "queue.hours.days", "is empty: the queue would never open", "list the opening days, or remove hours to stay open");
            }
            days
        }
    };
    let mut time = |s: &Spanned<String>, field: &str| {
        parse_hhmm(s.get_ref()).or_else(|| {
            c.err(s, field, format!("'{}' is not HH:MM", s.get_ref()), "e.g. \"08:00\" (24-hour clock, 24:00 allowed as an end)");
            None
        })
    };
    let start_min = time(&h.from, "queue.hours.from");
    let end_min = time(&h.to, "queue.hours.to");
    let utc_offset_min = match &h.utc_offset {
        None => 0,
        Some(o) => parse_offset(o.get_ref()).unwrap_or_else(|| {
            c.err(o, "queue.hours.utc_offset", format!("'{}' is not a UTC offset", o.get_ref()), "e.g. \"+08:00\"");
            0
        }),
    };
    if let (Some(a), Some(b)) = (start_min, end_min) {
        if a == b {
            c.err(&h.from, "queue.hours", "from and to are equal: the queue would never open", "remove hours to stay open all day");
        }
    }
    (c.errors.len() == before).then(|| TimeWindow { utc_offset_min, days, start_min: start_min.unwrap_or(0), end_min: end_min.unwrap_or(0) })
}

fn overflow(c: &mut Ctx, o: &Spanned<RawOverflow>) -> Option<OverflowTarget> {
    let r = o.get_ref();
    let kinds = [r.queue.is_some(), r.announce.is_some(), r.callback.is_some()].iter().filter(|b| **b).count();
    if kinds != 1 {
        c.err(o, "queue.overflow", "needs exactly one of queue, announce, callback", "e.g. overflow = { queue = \"general\" }, { announce = \"closed\", then = \"hangup\" } or { callback = true }");
        return None;
    }
    if let Some(t) = &r.then {
        if r.announce.is_none() || t.get_ref() != "hangup" {
            c.err(t, "queue.overflow.then", format!("'{}' is not supported here", t.get_ref()), "only `then = \"hangup\"`, and only after announce");
        }
    }
    if let Some(q) = &r.queue {
        return Some(OverflowTarget::Queue(q.get_ref().clone()));
    }
    if let Some(a) = &r.announce {
        if a.get_ref().trim().is_empty() {
            c.err(a, "queue.overflow.announce", "is empty", "name the announcement to play, e.g. \"closed\"");
        }
        return Some(OverflowTarget::Announce { announcement: a.get_ref().clone() });
    }
    match &r.callback {
        Some(b) if *b.get_ref() => Some(OverflowTarget::Callback),
        Some(b) => {
            c.err(b, "queue.overflow.callback", "callback = false names no target", "use callback = true or another target");
            None
        }
        None => None,
    }
}

fn queue(c: &mut Ctx, q: &RawQueue) -> QueueConfig {
    let mut skills = Vec::new();
    for s in &q.skills {
        match parse_skill(s.get_ref()) {
            Some((skill, min_level)) => skills.push(SkillReq { skill, min_level }),
            None => c.err(s, "queue.skills", format!("'{}' is not a skill", s.get_ref()), SKILL_FIX),
        }
    }
    let pct = match &q.sl_target_pct {
        None => 80,
        Some(p) if (1..=100).contains(p.get_ref()) => *p.get_ref() as u8,
        Some(p) => {
            c.err(p, "queue.sl_target_pct", format!("{} is not a percentage", p.get_ref()), "use 1 to 100");
            80
        }
    };
    let max_length = match &q.max_length {
        Some(m) if *m.get_ref() == 0 => {
            c.err(m, "queue.max_length", "0 would refuse every call", "use at least 1, or remove it for no limit");
            None
        }
        m => m.as_ref().map(|m| usize::try_from(*m.get_ref()).unwrap_or(usize::MAX)),
    };
    let max_wait = q.max_wait_s.as_ref().map(|_| c.secs(&q.max_wait_s, "queue.max_wait_s", 300, 1, 86_400));
    let mut relax: Vec<Relax> = Vec::new();
    for r in &q.relax {
        let r = r.get_ref();
        let after = c.secs(&Some(r.after_s.clone()), "queue.relax.after_s", 60, 1, 86_400);
        match parse_skill(r.drop.get_ref()) {
            Some((drop, _)) => relax.push(Relax { after, drop }),
            None => c.err(&r.drop, "queue.relax.drop", format!("'{}' is not a skill", r.drop.get_ref()), "name the skill to drop, e.g. \"lang:yue\""),
        }
    }
    relax.sort_by_key(|r| r.after);
    let priority_rules = q
        .priority_rules
        .iter()
        .map(|r| {
            let r = r.get_ref();
            PriorityRule { tag: r.tag.get_ref().clone(), equals: r.equals.get_ref().clone(), priority: *r.priority.get_ref() }
        })
        .collect();
    QueueConfig {
        name: q.name.get_ref().clone(),
        skills,
        default_priority: q.priority.as_ref().map_or(0, |p| *p.get_ref()),
        priority_rules,
        sl_target: c.secs(&q.sl_target_s, "queue.sl_target_s", 20, 1, 3_600),
        sl_target_pct: pct,
        max_wait,
        max_length,
        overflow: q.overflow.as_ref().and_then(|o| overflow(c, o)),
        hours: q.hours.as_ref().and_then(|h| hours(c, h.get_ref())),
        relax,
        ring_timeout: c.secs(&q.ring_timeout_s, "queue.ring_timeout_s", 15, 1, 300),
        wrap_up: c.secs(&q.wrap_up_s, "queue.wrap_up_s", 10, 0, 3_600),
        position_every: c.secs(&q.position_every_s, "queue.position_every_s", 30, 5, 3_600),
    }
}

fn validate(c: &mut Ctx, raw: RawFile) -> AcdConfig {
    let mut queues: Vec<QueueConfig> = Vec::new();
    for q in &raw.queue {
        let name = &q.get_ref().name;
        if name.get_ref().trim().is_empty() {
            c.err(name, "queue.name", "is empty", "give the queue a name, e.g. \"general\"");
        } else if queues.iter().any(|x| &x.name == name.get_ref()) {
            c.err(name, "queue.name", format!("queue '{}' is defined twice", name.get_ref()), "give each queue a unique name");
        }
        queues.push(queue(c, q.get_ref()));
    }
    let names: Vec<&str> = queues.iter().map(|q| q.name.as_str()).collect();
    for (q, raw_q) in queues.iter().zip(&raw.queue) {
        if let (Some(OverflowTarget::Queue(to)), Some(o)) = (&q.overflow, &raw_q.get_ref().overflow) {
            if to == &q.name {
                c.err(o, "queue.overflow.queue", format!("queue '{to}' overflows into itself"), "name another queue, an announcement or a callback");
            } else if !names.contains(&to.as_str()) {
                c.err(o, "queue.overflow.queue", format!("no queue named '{to}'"), format!("use one of: {}", names.join(", ")));
            }
        }
    }
    let mut agents: Vec<AgentConfig> = Vec::new();
    for a in &raw.agent {
        let a = a.get_ref();
        if a.id.get_ref().trim().is_empty() {
            c.err(&a.id, "agent.id", "is empty", "give the agent its extension or login, e.g. \"1001\"");
        } else if agents.iter().any(|x| &x.id == a.id.get_ref()) {
            c.err(&a.id, "agent.id", format!("agent '{}' is defined twice", a.id.get_ref()), "give each agent a unique id");
        }
        let mut skills: Vec<(String, u8)> = Vec::new();
        for s in &a.skills {
            match parse_skill(s.get_ref()) {
                Some(sk) if skills.iter().any(|x| x.0 == sk.0) => c.err(s, "agent.skills", format!("skill '{}' is listed twice", sk.0), "keep one level per skill"),
                Some(sk) => skills.push(sk),
                None => c.err(s, "agent.skills", format!("'{}' is not a skill", s.get_ref()), SKILL_FIX),
            }
        }
        let queues = a.queues.as_ref().map(|list| {
            for q in list.get_ref() {
                if !names.contains(&q.get_ref().as_str()) {
                    c.err(q, "agent.queues", format!("no queue named '{}'", q.get_ref()), format!("use one of: {}", names.join(", ")));
                }
            }
            list.get_ref().iter().map(|q| q.get_ref().clone()).collect()
        });
        agents.push(AgentConfig { id: a.id.get_ref().clone(), skills, queues });
    }
    let stats_interval = c.secs(&raw.stats_interval_s, "stats_interval_s", 900, 60, 86_400);
    let stats_keep = match &raw.stats_keep {
        None => 96,
        Some(k) if (1..=10_000).contains(k.get_ref()) => *k.get_ref() as usize,
        Some(k) => {
            c.err(k, "stats_keep", format!("{} is out of range", k.get_ref()), "keep 1 to 10000 intervals");
            96
        }
    };
    AcdConfig { stats_interval, stats_keep, queues, agents, auto_login: raw.auto_login.unwrap_or(true) }
}

impl AcdConfig {
    /// Parses and validates one file's text; all problems are reported, each with file:line, field
    /// and the fix.
    pub fn from_text(source: &str, text: &str) -> Result<AcdConfig, ConfigErrors> {
        let mut c = Ctx { source, text, errors: Vec::new() };
        let config = match toml::from_str::<RawFile>(text) {
            Ok(raw) => validate(&mut c, raw),
            Err(e) => {
                let message = e.message().trim().to_owned();
                let fix = if message.contains("unknown field") {
                    "remove the field or correct its spelling; config/queues.toml lists every field"
                } else {
                    "correct the TOML syntax or the value's type; see config/queues.toml"
                };
                return Err(ConfigErrors::one(ConfigError::at(source, text, e.span().map(|s| s.start), "", message, fix)));
            }
        };
        if c.errors.is_empty() { Ok(config) } else { Err(ConfigErrors(c.errors)) }
    }

    /// Reads and validates a queues file.
    pub fn load_file(path: &Path) -> Result<AcdConfig, ConfigErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors::one(ConfigError::io(path, format!("cannot read: {e}"), "check the file exists and is readable")))?;
        AcdConfig::from_text(&path.display().to_string(), &text)
    }

    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.queues.iter().find(|q| q.name == name)
    }
}
