//! Typed header values, parsed on demand from the header text: accessors on [`Headers`].
mod content_type;
mod cseq;
mod name_addr;
mod reason;
mod session_timer;
mod via;

pub use content_type::MediaType;
pub use cseq::{CSeq, RAck};
pub use name_addr::{ContactList, NameAddr};
pub use reason::Reason;
pub use session_timer::{Refresher, SessionExpires};
pub use via::Via;

use super::scan::{self, is_token};
use super::{HeaderName, Headers};

/// A header needed by the caller is missing or does not follow its grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// A header that must be present is absent.
    #[error("missing {0}")]
    Missing(HeaderName),
    /// A header allowed once appears in several fields or with several values.
    #[error("more than one {0} value")]
    Multiple(HeaderName),
    /// The value does not follow the header's grammar; `what` names the faulty part.
    #[error("bad {header} ({what})")]
    Malformed { header: HeaderName, what: &'static str },
    /// A number is outside the range the header allows.
    #[error("{header} out of range ({what})")]
    OutOfRange { header: HeaderName, what: &'static str },
}

impl HeaderError {
    /// The header at fault.
    pub fn header(&self) -> &HeaderName {
        match self {
            HeaderError::Missing(h) | HeaderError::Multiple(h) => h,
            HeaderError::Malformed { header, .. } | HeaderError::OutOfRange { header, .. } => header,
        }
    }

    pub(crate) fn malformed(header: HeaderName, what: &'static str) -> Self {
        HeaderError::Malformed { header, what }
    }
}

/// Parses `1*DIGIT` into a u32: `Malformed` if not digits, `OutOfRange` above `max`.
pub(crate) fn parse_number(s: &str, header: HeaderName, max: u32) -> Result<u32, HeaderError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::malformed(header, "not a number"));
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 10 {
        return Err(HeaderError::OutOfRange { header, what: "too large" });
    }
    match digits.parse::<u64>() {
        Ok(v) if v <= u64::from(max) => Ok(v as u32),
        Ok(_) => Err(HeaderError::OutOfRange { header, what: "too large" }),
        Err(_) if digits.is_empty() => Ok(0),
        Err(_) => Err(HeaderError::OutOfRange { header, what: "too large" }),
    }
}

impl Headers {
    /// The one field of `name`, if any; an error if there are several.
    fn single(&self, name: HeaderName) -> Result<Option<&str>, HeaderError> {
        let mut it = self.iter().filter(|h| h.name == name).map(|h| h.value.as_str());
        let first = it.next();
        if it.next().is_some() {
            return Err(HeaderError::Multiple(name));
        }
        Ok(first)
    }

    fn required(&self, name: HeaderName) -> Result<&str, HeaderError> {
        match self.single(name.clone())? {
            Some(v) => Ok(v),
            None => Err(HeaderError::Missing(name)),
        }
    }

    /// One optional value that must not be a comma-separated list.
    fn single_value(&self, name: HeaderName) -> Result<Option<&str>, HeaderError> {
        match self.single(name.clone())? {
            Some(v) if v.contains(',') => Err(HeaderError::Multiple(name)),
            other => Ok(other),
        }
    }

    /// Every value of every field of `name`, split at commas outside quotes and `<…>`; empty
    /// elements are skipped.
    fn list(&self, name: HeaderName) -> Result<Vec<&str>, HeaderError> {
        let mut out = Vec::new();
        for field in self.iter().filter(|h| h.name == name).map(|h| h.value.as_str()) {
            let parts = scan::split_outside(field, b',')
                .ok_or_else(|| HeaderError::malformed(name.clone(), "unbalanced quotes or brackets"))?;
            out.extend(parts.into_iter().filter(|p| !p.is_empty()));
        }
        Ok(out)
    }

    /// All Via values in order, top first.
    pub fn vias(&self) -> Result<Vec<Via>, HeaderError> {
        self.list(HeaderName::Via)?.into_iter().map(Via::parse).collect()
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Result<Via, HeaderError> {
        let field = self.get(&HeaderName::Via).ok_or(HeaderError::Missing(HeaderName::Via))?;
        let parts = scan::split_outside(field, b',')
            .ok_or_else(|| HeaderError::malformed(HeaderName::Via, "unbalanced quotes"))?;
        // Empty list elements are skipped, as in `vias()`.
        match parts.into_iter().find(|p| !p.is_empty()) {
            Some(first) => Via::parse(first),
            None => Err(HeaderError::malformed(HeaderName::Via, "empty")),
        }
    }

    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        CSeq::parse(self.required(HeaderName::CSeq)?)
    }

    /// The Call-ID, which must be one non-empty word without white space.
    pub fn call_id(&self) -> Result<&str, HeaderError> {
        let v = self.required(HeaderName::CallId)?;
        if v.is_empty() || v.bytes().any(|b| b <= b' ') {
            return Err(HeaderError::malformed(HeaderName::CallId, "empty or contains white space"));
        }
        Ok(v)
    }

    pub fn from_addr(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse(self.required(HeaderName::From)?, HeaderName::From)
    }

    pub fn to_addr(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse(self.required(HeaderName::To)?, HeaderName::To)
    }

    /// Max-Forwards, 0 to 255.
    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        self.number(HeaderName::MaxForwards, 255)
    }

    pub fn content_length(&self) -> Result<Option<usize>, HeaderError> {
        Ok(self.number(HeaderName::ContentLength, u32::MAX)?.map(|n| n as usize))
    }

    pub fn content_type(&self) -> Result<Option<MediaType>, HeaderError> {
        self.single(HeaderName::ContentType)?.map(MediaType::parse).transpose()
    }

    fn number(&self, name: HeaderName, max: u32) -> Result<Option<u32>, HeaderError> {
        self.single_value(name.clone())?.map(|v| parse_number(v, name, max)).transpose()
    }

    /// Contact: `*` (only in REGISTER, alone) or addresses.
    pub fn contacts(&self) -> Result<ContactList, HeaderError> {
        let values = self.list(HeaderName::Contact)?;
        if values.contains(&"*") {
            if values.len() != 1 {
                return Err(HeaderError::malformed(HeaderName::Contact, "'*' mixed with addresses"));
            }
            return Ok(ContactList::Star);
        }
        self.addr_list(values, HeaderName::Contact).map(ContactList::Addrs)
    }

    pub fn routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.addr_list(self.list(HeaderName::Route)?, HeaderName::Route)
    }

    pub fn record_routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.addr_list(self.list(HeaderName::RecordRoute)?, HeaderName::RecordRoute)
    }

    pub fn p_asserted_identities(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.addr_list(self.list(HeaderName::PAssertedIdentity)?, HeaderName::PAssertedIdentity)
    }

    fn addr_list(&self, values: Vec<&str>, name: HeaderName) -> Result<Vec<NameAddr>, HeaderError> {
        values.into_iter().map(|v| NameAddr::parse(v, name.clone())).collect()
    }

    fn tokens(&self, name: HeaderName) -> Result<Vec<String>, HeaderError> {
        let values = self.list(name.clone())?;
        let mut out = Vec::with_capacity(values.len());
        for v in values {
            if !is_token(v) {
                return Err(HeaderError::malformed(name, "not a token"));
            }
            out.push(v.to_owned());
        }
        Ok(out)
    }

    pub fn require(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens(HeaderName::Require)
    }

    pub fn supported(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens(HeaderName::Supported)
    }

    pub fn proxy_require(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens(HeaderName::ProxyRequire)
    }

    pub fn unsupported(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens(HeaderName::Unsupported)
    }

    pub fn allow(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens(HeaderName::Allow)
    }

    /// Privacy values (RFC 3323), which may also be separated by `;`.
    pub fn privacy(&self) -> Result<Vec<String>, HeaderError> {
        let mut out = Vec::new();
        for v in self.list(HeaderName::Privacy)? {
            for p in v.split(';').map(scan::trim_ws) {
                if !is_token(p) {
                    return Err(HeaderError::malformed(HeaderName::Privacy, "not a token"));
                }
                out.push(p.to_owned());
            }
        }
        Ok(out)
    }

    /// Expires in seconds.
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        self.number(HeaderName::Expires, u32::MAX)
    }

    pub fn session_expires(&self) -> Result<Option<SessionExpires>, HeaderError> {
        self.single_value(HeaderName::SessionExpires)?.map(SessionExpires::parse).transpose()
    }

    /// Min-SE in seconds (parameters ignored).
    pub fn min_se(&self) -> Result<Option<u32>, HeaderError> {
        let Some(v) = self.single_value(HeaderName::MinSe)? else { return Ok(None) };
        let delta = scan::trim_ws(v.split(';').next().unwrap_or(v));
        parse_number(delta, HeaderName::MinSe, u32::MAX).map(Some)
    }

    /// RSeq (RFC 3262), 1 to 2^31 - 1.
    pub fn rseq(&self) -> Result<Option<u32>, HeaderError> {
        match self.number(HeaderName::RSeq, (1 << 31) - 1)? {
            Some(0) => Err(HeaderError::OutOfRange { header: HeaderName::RSeq, what: "zero" }),
            other => Ok(other),
        }
    }

    pub fn rack(&self) -> Result<Option<RAck>, HeaderError> {
        self.single_value(HeaderName::RAck)?.map(RAck::parse).transpose()
    }

    /// Reason values (RFC 3326), in order.
    pub fn reasons(&self) -> Result<Vec<Reason>, HeaderError> {
        self.list(HeaderName::Reason)?.into_iter().map(Reason::parse).collect()
    }
}

#[cfg(test)]
mod tests;
