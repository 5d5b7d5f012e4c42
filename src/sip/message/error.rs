//! Why bytes could not be read as a SIP message, and the response that tells the sender.
use std::fmt;

use super::{HeaderName, Headers, Response};

/// The faults [`super::Message::parse`] and [`super::frame_stream`] report. All are the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// No bytes, or only line breaks.
    Empty,
    /// The first line is neither a request line nor a status line.
    BadStartLine,
    /// The request line is not `Method SP Request-URI SP SIP-Version` with single spaces.
    BadRequestLine,
    /// The Request-URI is not `scheme:…` or contains characters a URI cannot hold.
    BadRequestUri,
    /// A well-formed `SIP/x.y` version other than 2.0.
    UnsupportedVersion,
    /// The status line is not `SIP/2.0 SP 3DIGIT SP Reason-Phrase`.
    BadStatusLine,
    /// A header line has no colon, a bad name, or is a continuation with nothing to continue.
    BadHeaderLine,
    /// Content-Length is not a decimal number.
    BadContentLength,
    /// Content-Length announces more bytes than the datagram holds.
    BodyTruncated,
    /// Several Content-Length values disagree, so a stream cannot be framed.
    ConflictingContentLength,
    /// A message on a stream has no Content-Length (RFC 3261 §18.3).
    MissingContentLength,
    /// The header section of a stream message exceeds 64 KiB.
    HeadersTooLarge,
    /// The body of a stream message exceeds 1 MiB.
    BodyTooLarge,
}

impl ParseErrorKind {
    /// A short name for reason phrases and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseErrorKind::Empty => "empty message",
            ParseErrorKind::BadStartLine => "bad start line",
            ParseErrorKind::BadRequestLine => "bad request line",
            ParseErrorKind::BadRequestUri => "bad Request-URI",
            ParseErrorKind::UnsupportedVersion => "unsupported SIP version",
            ParseErrorKind::BadStatusLine => "bad status line",
            ParseErrorKind::BadHeaderLine => "bad header line",
            ParseErrorKind::BadContentLength => "bad Content-Length",
            ParseErrorKind::BodyTruncated => "body shorter than Content-Length",
            ParseErrorKind::ConflictingContentLength => "conflicting Content-Length",
            ParseErrorKind::MissingContentLength => "missing Content-Length",
            ParseErrorKind::HeadersTooLarge => "header section too large",
            ParseErrorKind::BodyTooLarge => "body too large",
        }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the start line showed the message to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    Request,
    Response,
    Unknown,
}

/// Bytes that are not a SIP message. When they were recognisably a request, [`ParseError::status`]
/// says how to answer and [`ParseError::response`] builds the answer where enough was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
#[non_exhaustive]
pub struct ParseError {
    kind: ParseErrorKind,
    seen: Seen,
    /// Via, From, To, Call-ID and CSeq as read from a request, to answer it.
    answer: Option<Box<Headers>>,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, seen: Seen) -> Self {
        ParseError { kind, seen, answer: None }
    }

    /// Keeps the headers an error response must copy (RFC 3261 §8.2.6).
    pub(crate) fn with_headers(mut self, headers: &Headers) -> Self {
        if self.seen == Seen::Request {
            let mut keep = Headers::new();
            for h in headers {
                if matches!(h.name, HeaderName::Via | HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq) {
                    keep.push(h.name.clone(), h.value.clone());
                }
            }
            self.answer = Some(Box::new(keep));
        }
        self
    }

    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The status to answer with: 505 for another SIP version, 513 for an oversized message,
    /// 400 otherwise; `None` when the bytes were not recognisably a request (responses and garbage
    /// are dropped, never answered).
    pub fn status(&self) -> Option<u16> {
        if self.seen != Seen::Request {
            return None;
        }
        Some(match self.kind {
            ParseErrorKind::UnsupportedVersion => 505,
            ParseErrorKind::HeadersTooLarge | ParseErrorKind::BodyTooLarge => 513,
            _ => 400,
        })
    }

    /// The error response, when the request's Via, From, To, Call-ID and CSeq could be read.
    /// The reason phrase names the fault, e.g. `Bad Request (bad Content-Length)`.
    pub fn response(&self) -> Option<Response> {
        let status = self.status()?;
        let h = self.answer.as_deref()?;
        let needed = [HeaderName::Via, HeaderName::From, HeaderName::To, HeaderName::CallId, HeaderName::CSeq];
        if !needed.iter().all(|n| h.contains(n)) {
            return None;
        }
        let mut resp = Response::new(status);
        for f in h {
            resp.headers.push(f.name.clone(), f.value.clone());
        }
        resp.headers.push(HeaderName::ContentLength, "0");
        if status == 400 {
            resp.reason = format!("Bad Request ({})", self.kind);
        }
        Some(resp)
    }
}
