//! Reason (RFC 3326): why a request was sent, e.g. `SIP;cause=200;text="Call completed elsewhere"`.
use std::fmt;

use super::super::params::Params;
use super::super::scan::{self, is_token, trim_ws};
use super::super::HeaderName;
use super::{parse_number, HeaderError};

/// One Reason value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `SIP`, `Q.850` or another token.
    pub protocol: String,
    pub cause: Option<u16>,
    /// The `text` parameter, unquoted.
    pub text: Option<String>,
}

impl Reason {
    pub fn parse(s: &str) -> Result<Reason, HeaderError> {
        let bad = |what| HeaderError::malformed(HeaderName::Reason, what);
        let (protocol, params) = match s.split_once(';') {
            Some((p, rest)) => (trim_ws(p), Params::parse_header(rest).map_err(|_| bad("parameters"))?),
            None => (trim_ws(s), Params::new()),
        };
        if !is_token(protocol) {
            return Err(bad("protocol"));
        }
        let cause = match params.get("cause") {
            None => None,
            Some(Some(c)) => Some(parse_number(c, HeaderName::Reason, u32::from(u16::MAX))? as u16),
            Some(None) => return Err(bad("cause")),
        };
        let text = params.value("text").map(|t| if t.starts_with('"') { scan::unquote(t) } else { t.to_owned() });
        Ok(Reason { protocol: protocol.to_owned(), cause, text })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.protocol)?;
        if let Some(c) = self.cause {
            write!(f, ";cause={c}")?;
        }
        if let Some(t) = &self.text {
            let mut q = String::new();
            scan::quote(t, &mut q);
            write!(f, ";text={q}")?;
        }
        Ok(())
    }
}
