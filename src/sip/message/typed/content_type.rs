//! Content-Type (RFC 3261 §20.15): `type/subtype` with parameters.
use std::fmt;

use super::super::params::Params;
use super::super::scan::{is_token, trim_ws};
use super::super::HeaderName;
use super::HeaderError;

/// A media type such as `application/sdp` or `multipart/mixed;boundary=x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub mtype: String,
    pub subtype: String,
    pub params: Params,
}

impl MediaType {
    pub fn parse(s: &str) -> Result<MediaType, HeaderError> {
        let bad = |what| HeaderError::malformed(HeaderName::ContentType, what);
        let (essence, params) = match s.split_once(';') {
            Some((e, p)) => (e, Params::parse_header(p).map_err(|_| bad("parameters"))?),
            None => (s, Params::new()),
        };
        let (t, st) = essence.split_once('/').ok_or_else(|| bad("missing '/'"))?;
        let (t, st) = (trim_ws(t), trim_ws(st));
        if !is_token(t) || !is_token(st) {
            return Err(bad("type/subtype"));
        }
        Ok(MediaType { mtype: t.to_owned(), subtype: st.to_owned(), params })
    }

    /// Case-insensitive match on `type/subtype`.
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// `application/sdp`.
    pub fn is_sdp(&self) -> bool {
        self.is("application", "sdp")
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.mtype, self.subtype, self.params)
    }
}
