//! Framing SIP on streams (TCP, TLS; RFC 3261 §18.3): where each message ends, CRLF keep-alives
//! (RFC 5626 §3.5.1), and the size limits that keep a peer from holding unbounded memory.
use super::error::{ParseError, ParseErrorKind as Kind, Seen};
use super::parse::{header_end, header_fields, is_response_line, leading_crlf, looks_like_request, parse_length, text, Lines};
use super::scan::trim_ws;

/// Largest header section accepted on a stream.
pub const MAX_STREAM_HEADERS: usize = 64 * 1024;
/// Largest body accepted on a stream.
pub const MAX_STREAM_BODY: usize = 1024 * 1024;

/// What the front of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed {
    /// A whole message of this many bytes: hand `&buf[..n]` to [`super::Message::parse`].
    Message(usize),
    /// CRLF keep-alives of this many bytes, to consume (and answer a `\r\n\r\n` ping with `\r\n`).
    KeepAlive(usize),
    /// Not enough bytes yet.
    Incomplete,
}

/// Finds the first message (or keep-alive) at the front of a stream buffer. Content-Length is
/// mandatory; headers are limited to 64 KiB and bodies to 1 MiB.
///
/// This rescans the buffer on every call; a connection should keep a [`StreamFramer`], which
/// resumes where it stopped, so that a peer sending one byte at a time costs linear time.
pub fn frame_stream(buf: &[u8]) -> Result<Framed, ParseError> {
    StreamFramer::new().frame(buf)
}

/// Incremental [`frame_stream`] for one connection. Call [`StreamFramer::frame`] with the
/// connection's buffer after each read; after `Message(n)` or `KeepAlive(n)`, remove the first `n`
/// bytes from the buffer before calling again. Between those, the buffer may only grow at the end.
#[derive(Debug, Clone, Default)]
pub struct StreamFramer {
    /// Bytes already searched for the end of the header section without finding it.
    scanned: usize,
    /// Header section length and Content-Length, once known, while the body arrives.
    pending: Option<(usize, usize)>,
}

impl StreamFramer {
    pub fn new() -> Self {
        StreamFramer::default()
    }

    /// What the front of `buf` holds; see [`frame_stream`].
    pub fn frame(&mut self, buf: &[u8]) -> Result<Framed, ParseError> {
        let result = self.frame_inner(buf);
        if !matches!(result, Ok(Framed::Incomplete)) {
            *self = StreamFramer::default();
        }
        result
    }

    fn frame_inner(&mut self, buf: &[u8]) -> Result<Framed, ParseError> {
        if let Some((end, length)) = self.pending {
            return Ok(if buf.len() - end.min(buf.len()) >= length { Framed::Message(end + length) } else { Framed::Incomplete });
        }
        let mut skip = leading_crlf(buf);
        if skip == buf.len() && buf.ends_with(b"\r") {
            // Wait for the LF of a CRLF split across reads.
            skip -= 1;
        }
        if skip > 0 {
            return Ok(Framed::KeepAlive(skip));
        }
        if buf.is_empty() || buf == b"\r" {
            return Ok(Framed::Incomplete);
        }
        let seen = if is_response_line(buf) {
            Seen::Response
        } else if looks_like_request(buf) {
            Seen::Request
        } else {
            Seen::Unknown
        };
        let limit = buf.len().min(MAX_STREAM_HEADERS);
        // A blank line needs at most 3 bytes ("\n\r\n"): resume just before the unsearched part.
        let from = self.scanned.saturating_sub(2).min(limit);
        let Some(end) = header_end(&buf[from..limit]).map(|e| e + from) else {
            if buf.len() >= MAX_STREAM_HEADERS {
                return Err(ParseError::new(Kind::HeadersTooLarge, seen));
            }
            self.scanned = limit;
            return Ok(Framed::Incomplete);
        };
        // The stream cannot be framed past this point; answerable errors carry the headers for a 400.
        let answerable = |e: ParseError| e.with_headers(&header_fields(&buf[..end]));
        let length = content_length(&buf[..end], seen).map_err(answerable)?;
        if length > MAX_STREAM_BODY {
            return Err(answerable(ParseError::new(Kind::BodyTooLarge, seen)));
        }
        if buf.len() - end >= length {
            Ok(Framed::Message(end + length))
        } else {
            self.pending = Some((end, length));
            Ok(Framed::Incomplete)
        }
    }
}

/// The Content-Length of a complete header section; all values must agree.
fn content_length(head: &[u8], seen: Seen) -> Result<usize, ParseError> {
    let head = text(head);
    let mut lines = Lines::new(&head);
    lines.next_line();
    let mut length: Option<usize> = None;
    while let Some(line) = lines.next_line() {
        // Continuation lines belong to the header above; Message::parse reads them the same way.
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = trim_ws(name);
        if !(name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")) {
            continue;
        }
        let mut v = trim_ws(value);
        if v.is_empty() && lines.continues() {
            v = trim_ws(lines.next_line().unwrap_or_default());
        }
        let n = parse_length(v.as_bytes()).ok_or(ParseError::new(Kind::BadContentLength, seen))?;
        if length.is_some_and(|l| l != n) {
            return Err(ParseError::new(Kind::ConflictingContentLength, seen));
        }
        length = Some(n);
    }
    length.ok_or(ParseError::new(Kind::MissingContentLength, seen))
}
