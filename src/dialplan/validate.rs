//! Turns raw dialplan files into validated rules; every error names file, line and field.
use std::path::Path;

use regex::Regex;
use toml::Spanned;

use super::model::{Action, CallAttributes, IpNet, NumberMatch, Rule, SourceMatch, TimeWindow, Trunk};
use super::raw::{RawFile, RawRule};
use super::Dialplan;
use crate::config::{ConfigError, ConfigErrors};

struct Ctx<'a> {
    source: &'a str,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn err<T>(&mut self, at: &Spanned<T>, field: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.errors.push(ConfigError::at(self.source, self.text, Some(at.span().start), field, message, fix));
    }

    fn line_of<T>(&self, at: &Spanned<T>) -> usize {
        crate::config::ConfigError::at(self.source, self.text, Some(at.span().start), "", "", "").line.map_or(0, |l| l.0)
    }

    fn regex(&mut self, s: &Spanned<String>, field: &str) -> Option<Regex> {
        match Regex::new(s.get_ref()) {
            Ok(r) => Some(r),
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or("invalid").trim().to_owned();
                self.err(s, field, format!("invalid regular expression: {first}"), "fix the pattern (Rust regex syntax)");
                None
            }
        }
    }

    fn number_match(&mut self, exact: &Option<Spanned<String>>, prefix: &Option<Spanned<String>>, regex: &Option<Spanned<String>>, base: &str) -> Option<NumberMatch> {
        let given = [exact.is_some(), prefix.is_some(), regex.is_some()].iter().filter(|b| **b).count();
        if given > 1 {
            let at = exact.as_ref().or(prefix.as_ref()).or(regex.as_ref()).expect("more than one is given");
            self.err(at, base, format!("give only one of {base}, {base}_prefix, {base}_regex"), "remove the others");
            return None;
        }
        if let Some(e) = exact {
            return Some(NumberMatch::Exact(super::normalise(e.get_ref())));
        }
        if let Some(p) = prefix {
            return Some(NumberMatch::Prefix(p.get_ref().clone()));
        }
        regex.as_ref().and_then(|r| self.regex(r, &format!("{base}_regex")).map(NumberMatch::Regex))
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    // Checked before multiplying: "9999:00" must be an error, not an overflow.
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then(|| h * 60 + m)
}

fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let minutes = i32::from(parse_hhmm(rest)?);
    (minutes <= 14 * 60).then_some(sign * minutes)
}

fn rule(c: &mut Ctx, r: &Spanned<RawRule>, offset: i32, trunk_names: &[String]) -> Option<Rule> {
    let line = c.line_of(r);
    let r = r.get_ref();
    let name = r.name.get_ref().clone();
    let before = c.errors.len();
    let to = c.number_match(&r.to, &r.to_prefix, &r.to_regex, "to");
    let from = c.number_match(&r.from, &r.from_prefix, &r.from_regex, "from");
    let source = match r.source.as_ref().map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "any")) => SourceMatch::Any,
        Some((_, "authenticated")) => SourceMatch::Authenticated,
        Some((_, "trusted")) => SourceMatch::Trusted,
        Some((s, other)) => match other.strip_prefix("trunk:") {
            Some(t) if trunk_names.iter().any(|n| n == t) => SourceMatch::Trunk(t.to_owned()),
            Some(t) => {
                c.err(s, "source", format!("no trunk named '{t}'"), format!("define it in a [[trunk]] table, or use one of: {}", trunk_names.join(", ")));
                SourceMatch::Any
            }
            None => {
                c.err(s, "source", format!("'{other}' is not a source"), "use any, authenticated, trusted or trunk:NAME");
                SourceMatch::Any
            }
        },
    };
    let mut headers = Vec::new();
    for h in &r.header {
        let h = h.get_ref();
        if let Some(re) = c.regex(&h.regex, "header.regex") {
            headers.push((h.name.get_ref().clone(), re));
        }
    }
    let time = if r.days.is_some() || r.hours.is_some() {
        let mut days = 0u8;
        match &r.days {
            None => days = 0x7f,
            Some(list) => {
                for d in list.get_ref() {
                    match DAYS.iter().position(|x| x.eq_ignore_ascii_case(d.get_ref())) {
                        Some(i) => days |= 1 << i,
                        None => c.err(d, "days", format!("'{}' is not a day", d.get_ref()), "use mon, tue, wed, thu, fri, sat, sun"),
                    }
                }
            }
        }
        let (start_min, end_min) = match &r.hours {
            None => (0, 1440),
            Some(h) => match h.get_ref().split_once('-').and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?))) {
                Some(v) => v,
                None => {
                    c.err(h, "hours", format!("'{}' is not HH:MM-HH:MM", h.get_ref()), "e.g. hours = \"08:30-20:00\"");
                    (0, 1440)
                }
            },
        };
        Some(TimeWindow { utc_offset_min: offset, days, start_min, end_min })
    } else {
        None
    };
    let mut actions = Vec::new();
    if let Some(q) = &r.queue {
        actions.push(Action::Queue(q.get_ref().clone()));
    }
    if let Some(t) = &r.route {
        if !(t.get_ref().starts_with("sip:") || t.get_ref().starts_with("sips:")) || crate::sip::message::Uri::parse(t.get_ref()).is_err() {
            c.err(t, "route", format!("'{}' is not a SIP URI", t.get_ref()), "e.g. route = \"sip:ivr@127.0.0.1:5070\"");
        }
        actions.push(Action::Route(t.get_ref().clone()));
    }
    if let Some(u) = &r.user {
        actions.push(Action::User(u.get_ref().clone()));
    }
    if let Some(s) = &r.reject {
        if !(400..=699).contains(s.get_ref()) {
            c.err(s, "reject", format!("{} is not a failure status", s.get_ref()), "use a status from 400 to 699, e.g. 403");
        }
        actions.push(Action::Reject { status: *s.get_ref(), reason: r.reason.as_ref().map(|r| r.get_ref().clone()) });
    }
    if actions.len() > 1 {
        c.err(&r.name, "rule", format!("rule '{name}' has {} actions", actions.len()), "give exactly one of queue, route, user, reject (or only set)");
    }
    if actions.is_empty() && r.set.is_none() {
        c.err(&r.name, "rule", format!("rule '{name}' does nothing"), "add queue, route, user, reject or set");
    }
    let mut set = CallAttributes::default();
    if let Some(s) = &r.set {
        let s = s.get_ref();
        set.priority = s.priority.as_ref().map(|p| *p.get_ref());
        for sk in &s.skills {
            let (skill, level) = match sk.get_ref().split_once(':') {
                Some((k, l)) => (k, l.parse::<u8>().ok().filter(|l| (1..=10).contains(l))),
                None => (sk.get_ref().as_str(), Some(1)),
            };
            match level {
                Some(level) if !skill.is_empty() => set.skills.push((skill.to_owned(), level)),
                _ => c.err(sk, "set.skills", format!("'{}' is not skill or skill:level (1-10)", sk.get_ref()), "e.g. \"sign_language:3\""),
            }
        }
        set.language = s.language.as_ref().map(|l| l.get_ref().clone());
        set.tags = s.tags.clone();
    }
    if c.errors.len() > before {
        return None;
    }
    Some(Rule { name, file: c.source.to_owned(), line, to, from, source, headers, time, action: actions.pop(), set })
}

fn from_raw(c: &mut Ctx, raw: RawFile, plan: &mut Dialplan) {
    let offset = match &raw.utc_offset {
        None => 0,
        Some(o) => parse_offset(o.get_ref()).unwrap_or_else(|| {
            c.err(o, "utc_offset", format!("'{}' is not an offset", o.get_ref()), "e.g. utc_offset = \"+08:00\"");
            0
        }),
    };
    for t in &raw.trunk {
        let t = t.get_ref();
        if plan.trunks.iter().any(|x| &x.name == t.name.get_ref()) {
            c.err(&t.name, "trunk.name", format!("trunk '{}' is defined twice", t.name.get_ref()), "give each trunk a unique name");
            continue;
        }
        let mut nets = Vec::new();
        for a in t.addresses.get_ref() {
            match IpNet::parse(a.get_ref()) {
                Some(n) => nets.push(n),
                None => c.err(a, "trunk.addresses", format!("'{}' is not an IP address or CIDR block", a.get_ref()), "e.g. \"192.0.2.10\" or \"192.0.2.0/24\""),
            }
        }
        if t.addresses.get_ref().is_empty() {
            c.err(&t.addresses, "trunk.addresses", "is empty", "list the addresses the trunk sends from");
        }
        plan.trunks.push(Trunk { name: t.name.get_ref().clone(), nets, trusted: t.trusted });
    }
    let names: Vec<String> = plan.trunks.iter().map(|t| t.name.clone()).collect();
    for r in &raw.rule {
        if plan.rules.iter().any(|x| &x.name == r.get_ref().name.get_ref()) {
            c.err(&r.get_ref().name, "rule.name", format!("rule '{}' is defined twice", r.get_ref().name.get_ref()), "give each rule a unique name");
        }
        if let Some(rule) = rule(c, r, offset, &names) {
            plan.rules.push(rule);
        }
    }
}

fn parse_into(source: &str, text: &str, plan: &mut Dialplan, errors: &mut Vec<ConfigError>) {
    let mut c = Ctx { source, text, errors: Vec::new() };
    match toml::from_str::<RawFile>(text) {
        Ok(raw) => from_raw(&mut c, raw, plan),
        Err(e) => {
            let msg = e.message().trim().to_owned();
            c.errors.push(ConfigError::at(source, text, e.span().map(|s| s.start), "", msg, "see dialplans/default.toml for the fields a rule takes"));
        }
    }
    errors.extend(c.errors);
}

pub fn from_text(source: &str, text: &str) -> Result<Dialplan, ConfigErrors> {
    let mut plan = Dialplan::default();
    let mut errors = Vec::new();
    parse_into(source, text, &mut plan, &mut errors);
    if errors.is_empty() { Ok(plan) } else { Err(ConfigErrors(errors)) }
}

pub fn load_file(path: &Path) -> Result<Dialplan, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors::one(ConfigError::io(path, format!("cannot read: {e}"), "check the file exists and is readable")))?;
    from_text(&path.display().to_string(), &text)
}

pub fn load_dir(dir: &Path) -> Result<Dialplan, ConfigErrors> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| ConfigErrors::one(ConfigError::io(dir, format!("cannot read dialplan directory: {e}"), "create it or set dialplan.dir")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut plan = Dialplan::default();
    let mut errors = Vec::new();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(text) => parse_into(&f.display().to_string(), &text, &mut plan, &mut errors),
            Err(e) => errors.push(ConfigError::io(&f, format!("cannot read: {e}"), "check the file is readable")),
        }
    }
    if errors.is_empty() { Ok(plan) } else { Err(ConfigErrors(errors)) }
}
