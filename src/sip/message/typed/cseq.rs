//! CSeq (RFC 3261 §20.16) and RAck (RFC 3262 §7.2): sequence numbers paired with a method.
use std::fmt;

use super::super::scan::{is_token, trim_ws};
use super::super::{HeaderName, Method};
use super::{parse_number, HeaderError};

/// The largest CSeq or RSeq number allowed: below 2^31 (RFC 3261 §8.1.1.5).
const MAX_SEQ: u32 = (1 << 31) - 1;

/// `CSeq: <seq> <method>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

/// `RAck: <rseq> <cseq> <method>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    pub rseq: u32,
    pub cseq: u32,
    pub method: Method,
}

/// Splits at runs of white space.
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', '\t']).filter(|w| !w.is_empty())
}

fn method(word: Option<&str>, header: HeaderName) -> Result<Method, HeaderError> {
    match word {
        Some(m) if is_token(m) => Ok(Method::from_token(m)),
        _ => Err(HeaderError::malformed(header, "method")),
    }
}

impl CSeq {
    pub fn parse(s: &str) -> Result<CSeq, HeaderError> {
        let mut w = words(trim_ws(s));
        let seq = parse_number(w.next().unwrap_or(""), HeaderName::CSeq, MAX_SEQ)?;
        let method = method(w.next(), HeaderName::CSeq)?;
        if w.next().is_some() {
            return Err(HeaderError::malformed(HeaderName::CSeq, "trailing text"));
        }
        Ok(CSeq { seq, method })
    }
}

impl RAck {
    pub fn parse(s: &str) -> Result<RAck, HeaderError> {
        let mut w = words(trim_ws(s));
        let rseq = parse_number(w.next().unwrap_or(""), HeaderName::RAck, MAX_SEQ)?;
        let cseq = parse_number(w.next().unwrap_or(""), HeaderName::RAck, MAX_SEQ)?;
        let method = method(w.next(), HeaderName::RAck)?;
        if w.next().is_some() {
            return Err(HeaderError::malformed(HeaderName::RAck, "trailing text"));
        }
        Ok(RAck { rseq, cseq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}
