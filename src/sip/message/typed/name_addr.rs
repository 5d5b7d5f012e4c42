//! Address headers (From, To, Contact, Route, Record-Route, P-Asserted-Identity): `name-addr` or
//! `addr-spec` followed by header parameters (RFC 3261 §20.10, §25.1).
use std::fmt;

use super::super::params::Params;
use super::super::scan::{self, is_token_byte, trim_ws};
use super::super::uri::Uri;
use super::super::HeaderName;
use super::HeaderError;

/// An address with optional display name and header parameters (`tag`, `expires`, `q`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped.
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

/// The values of the Contact header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactList {
    /// `Contact: *` (REGISTER: remove all bindings).
    Star,
    Addrs(Vec<NameAddr>),
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr { display: None, uri, params: Params::new() }
    }

    /// Parses one address value (no list splitting). `header` names the field in errors.
    pub fn parse(s: &str, header: HeaderName) -> Result<NameAddr, HeaderError> {
        let bad = |what| HeaderError::malformed(header.clone(), what);
        let s = trim_ws(s);
        let b = s.as_bytes();
        let (display, uri_text, rest) = if b.first() == Some(&b'"') {
            let end = scan::quoted_len(b).ok_or_else(|| bad("unterminated quoted string"))?;
            let after = s[end..].trim_start_matches([' ', '\t']);
            let inner = after.strip_prefix('<').ok_or_else(|| bad("expected '<' after display name"))?;
            let close = inner.find('>').ok_or_else(|| bad("missing '>'"))?;
            (Some(scan::unquote(&s[..end])), &inner[..close], &inner[close + 1..])
        } else if let Some(open) = s.find('<') {
            let name = trim_ws(&s[..open]);
            if !name.bytes().all(|c| is_token_byte(c) || c == b' ' || c == b'\t') {
                return Err(bad("display name must be tokens or a quoted string"));
            }
            let inner = &s[open + 1..];
            let close = inner.find('>').ok_or_else(|| bad("missing '>'"))?;
            let display = if name.is_empty() { None } else { Some(name.to_owned()) };
            (display, &inner[..close], &inner[close + 1..])
        } else {
            // addr-spec: the URI cannot hold `;`, `?` or `,`, so any `;` starts header parameters.
            let (uri, rest) = match s.find(';') {
                Some(i) => (&s[..i], &s[i..]),
                None => (s, ""),
            };
            let uri = trim_ws(uri);
            if uri.contains('?') || uri.contains(',') || uri.contains(['>', '"', ' ', '\t']) {
                return Err(bad("URI with '?' or ',' must be inside '<>'"));
            }
            (None, uri, rest)
        };
        let uri = Uri::parse(uri_text).map_err(|_| bad("bad URI"))?;
        let rest = trim_ws(rest);
        let params = if rest.is_empty() {
            Params::new()
        } else {
            let p = rest.strip_prefix(';').ok_or_else(|| bad("text after the address"))?;
            Params::parse_header(p).map_err(|_| bad("bad parameters"))?
        };
        Ok(NameAddr { display, uri, params })
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    pub fn set_tag(&mut self, tag: &str) {
        self.params.set("tag", Some(tag));
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            let mut q = String::with_capacity(d.len() + 2);
            scan::quote(d, &mut q);
            write!(f, "{q} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

impl fmt::Display for ContactList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContactList::Star => f.write_str("*"),
            ContactList::Addrs(list) => {
                for (i, a) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                Ok(())
            }
        }
    }
}
