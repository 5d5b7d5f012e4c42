//! The Via header (RFC 3261 §20.42, RFC 3581 rport): sent-protocol, sent-by and parameters.
use std::fmt;
use std::net::IpAddr;

use super::super::params::Params;
use super::super::scan::{is_token_byte, is_ws, trim_ws};
use super::super::uri::{parse_hostport, Host};
use super::super::HeaderName;
use super::HeaderError;

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Protocol name and version, normally `SIP/2.0`.
    pub protocol: String,
    /// `UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP` or another token, as received.
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

fn bad(what: &'static str) -> HeaderError {
    HeaderError::malformed(HeaderName::Via, what)
}

/// Takes a token from the start of `s` (after white space); returns it and the rest.
fn take_token(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    let end = s.bytes().position(|b| !is_token_byte(b)).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn take_slash(s: &str) -> Result<&str, HeaderError> {
    s.trim_start_matches([' ', '\t']).strip_prefix('/').ok_or(bad("sent-protocol"))
}

impl Via {
    /// A Via for a request we send: `SIP/2.0/<transport> <host>[:port];branch=<branch>`.
    pub fn new(transport: &str, host: Host, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::new();
        params.push("branch", Some(branch.to_owned()));
        Via { protocol: "SIP/2.0".to_owned(), transport: transport.to_owned(), host, port, params }
    }

    /// Parses one Via value (no commas).
    pub fn parse(s: &str) -> Result<Via, HeaderError> {
        let (name, rest) = take_token(s);
        let rest = take_slash(rest)?;
        let (version, rest) = take_token(rest);
        let rest = take_slash(rest)?;
        let (transport, rest) = take_token(rest);
        if name.is_empty() || version.is_empty() || transport.is_empty() {
            return Err(bad("sent-protocol"));
        }
        if !rest.starts_with([' ', '\t']) {
            return Err(bad("sent-protocol"));
        }
        let (sent_by, params) = match rest.split_once(';') {
            Some((sb, p)) => (sb, Params::parse_header(p).map_err(|_| bad("parameters"))?),
            None => (rest, Params::new()),
        };
        let sent_by = trim_ws(sent_by);
        // `COLON = SWS ":" SWS`: white space may surround the port separator.
        let (host, port) = if sent_by.bytes().any(is_ws) {
            let compact: String = sent_by.chars().filter(|c| *c != ' ' && *c != '\t').collect();
            if !(compact.len() < sent_by.len() && sent_by.contains(':')) {
                return Err(bad("sent-by"));
            }
            parse_hostport(&compact).map_err(|_| bad("sent-by"))?
        } else {
            parse_hostport(sent_by).map_err(|_| bad("sent-by"))?
        };
        let via = Via { protocol: format!("{name}/{version}"), transport: transport.to_owned(), host, port, params };
        via.check_params()?;
        Ok(via)
    }

    fn check_params(&self) -> Result<(), HeaderError> {
        if let Some(ttl) = self.params.get("ttl") {
            if ttl.is_none_or(|t| t.parse::<u8>().is_err()) {
                return Err(bad("ttl"));
            }
        }
        if let Some(r) = self.params.get("received") {
            if !r.is_some_and(|r| r.parse::<IpAddr>().is_ok() || r.starts_with('[')) {
                return Err(bad("received"));
            }
        }
        if let Some(Some(p)) = self.params.get("rport") {
            if p.parse::<u16>().is_err() {
                return Err(bad("rport"));
            }
        }
        if let Some(b) = self.params.get("branch") {
            if b.is_none() {
                return Err(bad("branch"));
            }
        }
        Ok(())
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&str> {
        self.params.value("received")
    }

    /// `None` without `rport`; `Some(None)` for a bare `rport` (a request asking for it);
    /// `Some(Some(port))` once filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.get("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }

    pub fn set_received(&mut self, addr: IpAddr) {
        self.params.set("received", Some(&addr.to_string()));
    }

    pub fn set_rport(&mut self, port: u16) {
        self.params.set("rport", Some(&port.to_string()));
    }

    /// `host[:port]` as it would be written.
    pub fn sent_by_string(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.protocol, self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}
