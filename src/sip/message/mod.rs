//! SIP messages (RFC 3261 §7): the data model, parsing from bytes, serialising, typed header access.
//!
//! This module is the only place that knows SIP syntax; everything above it uses the types here.
//! Header values are kept as text exactly as received (after unfolding) and parsed into typed values
//! on demand, so unknown headers pass through verbatim and a bad value in a header nobody reads costs
//! nothing.
//!
//! - In: [`Message::parse`] for a datagram, [`StreamFramer`] / [`frame_stream`] to cut a stream into
//!   messages first. A [`ParseError`] says whether and how to answer ([`ParseError::response`]).
//! - Check: [`check_request`] before acting on a request (400 with a reason naming the fault).
//! - Read: accessors on [`Headers`] (`vias`, `cseq`, `from_addr`, `contacts`, …) and [`Uri::parse`].
//! - Out: [`Response::for_request`], then [`Message::write_to`] / `to_bytes`, which writes long header
//!   names and a Content-Length equal to the body.

mod builder;
mod check;
mod error;
mod frame;
mod header_name;
mod headers;
mod method;
mod params;
mod parse;
mod scan;
mod serialize;
mod tel;
pub mod typed;
pub mod uri;

pub use check::{check_request, check_response, RequestFault};
pub use error::{ParseError, ParseErrorKind};
pub use frame::{frame_stream, Framed, StreamFramer, MAX_STREAM_BODY, MAX_STREAM_HEADERS};
pub use header_name::HeaderName;
pub use headers::{Header, Headers};
pub use method::Method;
pub use params::Params;
pub use typed::{
    CSeq, ContactList, HeaderError, MediaType, NameAddr, RAck, Reason, Refresher, SessionExpires, Via,
};
pub use uri::{Host, SipUri, TelUri, Uri, UriError};

use bytes::Bytes;

/// The only protocol version we speak.
pub const SIP_VERSION: &str = "SIP/2.0";

/// A SIP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// A SIP request: method, Request-URI (kept as text; parse it with `uri::Uri::parse`), headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: String,
    pub headers: Headers,
    pub body: Bytes,
}

/// A SIP response: status code, reason phrase, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Bytes,
}

impl Message {
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }
}

impl Request {
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Request { method, uri: uri.into(), headers: Headers::new(), body: Bytes::new() }
    }
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            reason: default_reason(status).to_owned(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// 1xx.
    pub fn is_provisional(&self) -> bool {
        (100..200).contains(&self.status)
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// ≥ 200.
    pub fn is_final(&self) -> bool {
        self.status >= 200
    }
}

/// The RFC 3261 §21 reason phrase for a status code (or a class default).
// Known codes come first; the ranges after them are class defaults, so the overlap is intended.
#[allow(clippy::match_overlapping_arm)]
pub fn default_reason(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        101..=199 => "Session Progress",
        201..=299 => "OK",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Global Failure",
    }
}

#[cfg(test)]
mod tests;
