//! `;name=value` parameter lists of header fields and URIs, in order, looked up case-insensitively.
use std::fmt;

use super::scan::{self, is_token, trim_ws};

/// Parameters in the order received. Names keep their case but are looked up case-insensitively;
/// quoted values keep their quotes so that writing them back gives the same text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    list: Vec<(String, Option<String>)>,
}

/// A parameter list was not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadParams;

impl Params {
    pub fn new() -> Self {
        Params { list: Vec::new() }
    }

    /// The value of parameter `name`: `None` when absent, `Some(None)` when present without value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.list.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref())
    }

    /// The value of `name` when it is present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` (replacing its value in place if present, appending otherwise).
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self.list.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.list.push((name.to_owned(), value)),
        }
    }

    /// Appends a parameter without looking for an existing one.
    pub fn push(&mut self, name: impl Into<String>, value: Option<String>) {
        self.list.push((name.into(), value));
    }

    /// Removes every parameter called `name`; true if there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.list.len();
        self.list.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before != self.list.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.list.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Parses header parameters (`generic-param` of RFC 3261): `s` is the text after the first `;`.
    /// White space around `;` and `=` is allowed; values are tokens, hosts or quoted strings.
    pub(crate) fn parse_header(s: &str) -> Result<Params, BadParams> {
        let mut params = Params::new();
        let items = scan::split_outside(s, b';').ok_or(BadParams)?;
        for item in items {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (trim_ws(n), Some(trim_ws(v))),
                None => (item, None),
            };
            if !is_token(name) {
                return Err(BadParams);
            }
            if let Some(v) = value {
                // RFC 3261 §25.1: via-received = "received" EQUAL (IPv4address / IPv6address),
                // so an IPv6 address appears there without brackets.
                let bare_v6 = name.eq_ignore_ascii_case("received") && v.parse::<std::net::Ipv6Addr>().is_ok();
                if !bare_v6 && !is_gen_value(v) {
                    return Err(BadParams);
                }
            }
            params.list.push((name.to_owned(), value.map(str::to_owned)));
        }
        Ok(params)
    }

    /// Parses URI parameters: `s` is the text after the first `;`, no white space allowed.
    pub(crate) fn parse_uri(s: &str) -> Result<Params, BadParams> {
        let mut params = Params::new();
        for item in s.split(';') {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (item, None),
            };
            if name.is_empty() || !scan::check_escaped(name, is_paramchar) {
                return Err(BadParams);
            }
            if let Some(v) = value {
                if v.is_empty() || !scan::check_escaped(v, is_paramchar) {
                    return Err(BadParams);
                }
            }
            params.list.push((name.to_owned(), value.map(str::to_owned)));
        }
        Ok(params)
    }
}

/// `paramchar` without the escapes: `param-unreserved` and `unreserved`.
fn is_paramchar(b: u8) -> bool {
    scan::is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

/// `gen-value = token / host / quoted-string`.
fn is_gen_value(v: &str) -> bool {
    let b = v.as_bytes();
    match b.first() {
        None => false,
        Some(b'"') => scan::quoted_len(b) == Some(b.len()),
        Some(b'[') => {
            b.last() == Some(&b']') && b[1..b.len() - 1].iter().all(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.')
        }
        Some(_) => is_token(v),
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in &self.list {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_params() {
        let p = Params::parse_header(" tag = 98asjd8 ; lr ; q=\"a;b\"").unwrap();
        assert_eq!(p.get("TAG"), Some(Some("98asjd8")));
        assert_eq!(p.get("lr"), Some(None));
        assert_eq!(p.value("q"), Some("\"a;b\""));
        assert_eq!(p.to_string(), ";tag=98asjd8;lr;q=\"a;b\"");
        assert!(Params::parse_header(";;").is_err());
        assert!(Params::parse_header("a=").is_err());
    }

    #[test]
    fn uri_params() {
        let p = Params::parse_uri("transport=tcp;lr;maddr=[::1]").unwrap();
        assert_eq!(p.value("Transport"), Some("tcp"));
        assert!(Params::parse_uri("a b").is_err());
    }
}
