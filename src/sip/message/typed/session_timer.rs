//! Session-Expires (RFC 4028 §4): the session interval and who refreshes it.
use std::fmt;

use super::super::params::Params;
use super::super::scan::trim_ws;
use super::super::HeaderName;
use super::{parse_number, HeaderError};

/// Which side refreshes the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

/// `Session-Expires: <delta>[;refresher=uac|uas]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta: u32,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    pub fn parse(s: &str) -> Result<SessionExpires, HeaderError> {
        let header = HeaderName::SessionExpires;
        let (delta, params) = match s.split_once(';') {
            Some((d, p)) => (d, Params::parse_header(p).map_err(|_| HeaderError::malformed(header.clone(), "parameters"))?),
            None => (s, Params::new()),
        };
        let delta = parse_number(trim_ws(delta), header.clone(), u32::MAX)?;
        let refresher = match params.get("refresher") {
            None => None,
            Some(Some(r)) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(Some(r)) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return Err(HeaderError::malformed(header, "refresher")),
        };
        Ok(SessionExpires { delta, refresher })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac"),
            Some(Refresher::Uas) => f.write_str(";refresher=uas"),
            None => Ok(()),
        }
    }
}
