//! What a UAS checks before processing a request (RFC 3261 §8.2, §16.3), and a response's
//! mandatory headers (§18.1.2): the faults, each answered with 400 and a reason naming it.
use super::typed::HeaderError;
use super::uri::{Uri, UriError};
use super::{HeaderName, Headers, Request, Response};

/// Why a parsed request must be refused (or a parsed response discarded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestFault {
    /// The Request-URI is not a valid URI.
    #[error("bad Request-URI: {0}")]
    BadRequestUri(UriError),
    /// `?header=value` components are not allowed in a Request-URI (RFC 3261 §19.1.1).
    #[error("headers in Request-URI")]
    HeadersInRequestUri,
    /// A mandatory header is missing, repeated or malformed.
    #[error("{0}")]
    Header(HeaderError),
    /// The CSeq method is not the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq method mismatch")]
    CSeqMethodMismatch,
    /// Content-Length is not the body length.
    #[error("Content-Length mismatch")]
    ContentLengthMismatch,
    /// The Date header is not an RFC 1123 date in GMT (RFC 3261 §20.17).
    #[error("bad Date")]
    BadDate,
}

impl From<HeaderError> for RequestFault {
    fn from(e: HeaderError) -> Self {
        RequestFault::Header(e)
    }
}

impl RequestFault {
    /// The status to answer with.
    pub fn status(&self) -> u16 {
        400
    }

    /// A reason phrase naming the fault, e.g. `Bad Request (bad CSeq)`.
    pub fn reason(&self) -> String {
        let short = match self {
            RequestFault::Header(HeaderError::Missing(h)) => format!("missing {h}"),
            RequestFault::Header(HeaderError::Multiple(h)) => format!("multiple {h}"),
            RequestFault::Header(e) => format!("bad {}", e.header()),
            other => other.to_string(),
        };
        format!("Bad Request ({short})")
    }

    /// The response that refuses `req`.
    pub fn response(&self, req: &Request) -> Response {
        let mut resp = Response::for_request(req, self.status());
        resp.reason = self.reason();
        resp
    }
}

/// Headers that may appear once only.
const SINGLE: [HeaderName; 7] = [
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
    HeaderName::ContentLength,
    HeaderName::ContentType,
];

/// Validates a request before a UAS or proxy acts on it. Unknown URI schemes pass (that is a 416
/// decision for the caller); Max-Forwards may be absent.
pub fn check_request(req: &Request) -> Result<(), RequestFault> {
    match Uri::parse(&req.uri) {
        Err(e) => return Err(RequestFault::BadRequestUri(e)),
        Ok(Uri::Sip(u)) if !u.headers.is_empty() => return Err(RequestFault::HeadersInRequestUri),
        Ok(_) => {}
    }
    check_common(&req.headers)?;
    if req.headers.cseq()?.method != req.method {
        return Err(RequestFault::CSeqMethodMismatch);
    }
    req.headers.max_forwards()?;
    req.headers.contacts()?;
    req.headers.expires()?;
    if let Some(n) = req.headers.content_length()? {
        if n != req.body.len() {
            return Err(RequestFault::ContentLengthMismatch);
        }
    }
    Ok(())
}

/// Validates the headers every response must carry; a response failing this is discarded.
pub fn check_response(resp: &Response) -> Result<(), RequestFault> {
    check_common(&resp.headers)
}

fn check_common(h: &Headers) -> Result<(), RequestFault> {
    for name in SINGLE {
        if h.get_all(&name).nth(1).is_some() {
            return Err(HeaderError::Multiple(name).into());
        }
    }
    for name in [HeaderName::To, HeaderName::From, HeaderName::CallId, HeaderName::CSeq, HeaderName::Via] {
        if !h.contains(&name) {
            return Err(HeaderError::Missing(name).into());
        }
    }
    h.from_addr()?;
    h.to_addr()?;
    h.call_id()?;
    h.cseq()?;
    h.vias()?;
    h.content_type()?;
    let date = HeaderName::from_name("Date");
    if let Some(d) = h.get(&date) {
        if !is_rfc1123_gmt(d) {
            return Err(RequestFault::BadDate);
        }
    }
    Ok(())
}

/// `Date: Sat, 13 Nov 2010 23:29:00 GMT` — the only form RFC 3261 allows.
fn is_rfc1123_gmt(s: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let w: Vec<&str> = s.split(' ').collect();
    let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    let time_ok = |t: &str| {
        let p: Vec<&str> = t.split(':').collect();
        p.len() == 3 && p.iter().all(|x| digits(x, 2))
    };
    w.len() == 6
        && w[0].strip_suffix(',').is_some_and(|d| DAYS.contains(&d))
        && digits(w[1], 2)
        && MONTHS.contains(&w[2])
        && digits(w[3], 4)
        && time_ok(w[4])
        && w[5] == "GMT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_rfc1123_gmt("Sat, 13 Nov 2010 23:29:00 GMT"));
        assert!(!is_rfc1123_gmt("Fri, 01 Jan 2010 16:00:00 EST"));
        assert!(!is_rfc1123_gmt("Fri, 1 Jan 2010 16:00:00 GMT"));
    }
}
