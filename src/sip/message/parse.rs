//! Reading one SIP message from bytes ([`Message::parse`]): one pass over the header lines, no
//! regexes, one allocation per header.
use std::borrow::Cow;

use bytes::Bytes;

use super::error::{ParseError, ParseErrorKind as Kind, Seen};
use super::scan::{find_byte, is_token_byte, is_ws, trim_ws};
use super::uri::valid_scheme;
use super::{HeaderName, Headers, Message, Method, Request, Response};

/// Splits text into lines ending in LF (a preceding CR is dropped).
pub(crate) struct Lines<'a> {
    text: &'a str,
    pos: usize,
    /// Lines that ended in CR LF.
    crlf: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lines { text, pos: 0, crlf: 0 }
    }

    /// The next line, or `None` at the end. A last line without LF is returned too.
    pub(crate) fn next_line(&mut self) -> Option<&'a str> {
        let rest = self.text.get(self.pos..).filter(|r| !r.is_empty())?;
        let (line, advance) = match find_byte(b'\n', rest.as_bytes()) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        match line.strip_suffix('\r') {
            Some(l) => {
                self.crlf += 1;
                Some(l)
            }
            None => Some(line),
        }
    }

    /// True when the next line is a continuation (starts with SP or HTAB).
    pub(crate) fn continues(&self) -> bool {
        matches!(self.text.as_bytes().get(self.pos), Some(b' ' | b'\t'))
    }
}

/// Header text as UTF-8; invalid sequences (rare, always the peer's fault) become U+FFFD.
pub(crate) fn text(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Number of CR/LF bytes at the start of `buf`.
pub(crate) fn leading_crlf(buf: &[u8]) -> usize {
    buf.iter().position(|b| *b != b'\r' && *b != b'\n').unwrap_or(buf.len())
}

/// Parses a decimal Content-Length; `None` if it is not one. Values too large for memory are
/// clamped to `usize::MAX` so that the caller reports them as a truncated or oversized body.
pub(crate) fn parse_length(v: &[u8]) -> Option<usize> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().try_fold(0usize, |n, d| n.checked_mul(10)?.checked_add(usize::from(d - b'0'))).unwrap_or(usize::MAX))
}

/// The start line: a request or a status line.
enum Start {
    Request(Method, String),
    Response(u16, String),
}

/// A `SIP/x.y` version: `Ok(true)` for 2.0, `Ok(false)` for another well-formed one.
fn version(v: &[u8]) -> Result<bool, ()> {
    if v.len() < 4 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(());
    }
    let num = &v[4..];
    let dot = num.iter().position(|b| *b == b'.').ok_or(())?;
    let (major, minor) = (&num[..dot], &num[dot + 1..]);
    if major.is_empty() || minor.is_empty() || !major.iter().chain(minor).all(u8::is_ascii_digit) {
        return Err(());
    }
    Ok(major == b"2" && minor == b"0")
}

pub(crate) fn is_response_line(line: &[u8]) -> bool {
    line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/")
}

/// Whether the first line starts like a request (`token SP`, then something with a colon, as a
/// URI or a version has): then errors can be answered. Anything else is garbage, never answered.
pub(crate) fn looks_like_request(line: &[u8]) -> bool {
    let line = &line[..find_byte(b'\n', line).unwrap_or(line.len())];
    match find_byte(b' ', line) {
        Some(sp) => {
            sp > 0
                && line[..sp].iter().all(|b| is_token_byte(*b))
                && (find_byte(b':', &line[sp..]).is_some() || line.windows(4).any(|w| w.eq_ignore_ascii_case(b"SIP/")))
        }
        None => false,
    }
}

fn parse_start(line: &str) -> Result<Start, Kind> {
    let bytes = line.as_bytes();
    if is_response_line(bytes) {
        let mut parts = line.splitn(3, ' ');
        let ver = parts.next().unwrap_or_default().as_bytes();
        let code = parts.next().unwrap_or_default().as_bytes();
        let reason = parts.next().unwrap_or_default();
        if version(ver) != Ok(true) || code.len() != 3 || !code.iter().all(u8::is_ascii_digit) || code[0] < b'1' || code[0] > b'6' {
            return Err(Kind::BadStatusLine);
        }
        if reason.contains('\r') {
            return Err(Kind::BadStatusLine);
        }
        let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        return Ok(Start::Response(status, reason.to_owned()));
    }
    if !looks_like_request(bytes) {
        return Err(Kind::BadStartLine);
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(ver), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Kind::BadRequestLine);
    };
    if uri.is_empty() || ver.is_empty() {
        return Err(Kind::BadRequestLine);
    }
    match version(ver.as_bytes()) {
        Ok(true) => {}
        Ok(false) => return Err(Kind::UnsupportedVersion),
        Err(()) => return Err(Kind::BadRequestLine),
    }
    let uri_ok = uri.bytes().all(|b| b > b' ' && b < 0x7f)
        && uri.split_once(':').is_some_and(|(scheme, rest)| !rest.is_empty() && valid_scheme(scheme));
    if !uri_ok {
        return Err(Kind::BadRequestUri);
    }
    Ok(Start::Request(Method::from_token(method), uri.to_owned()))
}

/// The header section parsed: fields, first fault, Content-Length.
struct HeaderSection {
    headers: Headers,
    fault: Option<Kind>,
    content_length: Option<usize>,
    /// Where the header section ends in the text (just past the blank line).
    end: usize,
}

fn parse_headers(lines: &mut Lines<'_>) -> HeaderSection {
    let mut headers = Headers::with_capacity(32);
    let mut fault = None;
    let mut content_length: Option<usize> = None;
    while let Some(line) = lines.next_line() {
        if line.is_empty() {
            break;
        }
        // The name is a token, then optional white space, then the colon.
        let b = line.as_bytes();
        let name_end = b.iter().position(|c| !is_token_byte(*c)).unwrap_or(b.len());
        let colon = name_end + b[name_end..].iter().position(|c| !is_ws(*c)).unwrap_or(b.len() - name_end);
        if name_end == 0 || b.get(colon) != Some(&b':') {
            fault.get_or_insert(Kind::BadHeaderLine);
            while lines.continues() {
                lines.next_line();
            }
            continue;
        }
        let name = &line[..name_end];
        let first = trim_ws(&line[colon + 1..]);
        let value = if lines.continues() {
            let mut value = first.to_owned();
            while lines.continues() {
                let more = trim_ws(lines.next_line().unwrap_or_default());
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(more);
                }
            }
            value
        } else {
            first.to_owned()
        };
        let name = HeaderName::from_name(name);
        if name == HeaderName::ContentLength {
            match parse_length(value.as_bytes()) {
                Some(n) if content_length.is_none() => content_length = Some(n),
                Some(_) => {}
                None => {
                    fault.get_or_insert(Kind::BadContentLength);
                }
            }
        }
        headers.push(name, value);
    }
    // A CR inside a line is not SIP (RFC 3261 §25.1), and a peer that reads it as a line end would
    // see headers we did not: refuse it rather than forward it. Every CR must end a line; counting
    // them in one pass is cheaper than searching each line.
    let crs = memchr::memchr_iter(b'\r', &lines.text.as_bytes()[..lines.pos]).count();
    if crs != lines.crlf {
        fault.get_or_insert(Kind::BadHeaderLine);
    }
    HeaderSection { headers, fault, content_length, end: lines.pos }
}

/// The header fields of a complete header section (the start line skipped), so that a framing
/// error on a stream can still be answered with the request's Via, From, To, Call-ID and CSeq.
pub(crate) fn header_fields(head: &[u8]) -> Headers {
    let (text, _) = head_text(head);
    let mut lines = Lines::new(&text);
    lines.next_line();
    parse_headers(&mut lines).headers
}

/// The text holding the start line and headers. Normally a borrowed prefix of `buf`; if the header
/// section is not valid UTF-8, a lossy copy of it plus where the body starts in `buf`.
fn head_text(buf: &[u8]) -> (Cow<'_, str>, Option<usize>) {
    match std::str::from_utf8(buf) {
        Ok(s) => (Cow::Borrowed(s), None),
        Err(e) => {
            let valid = &buf[..e.valid_up_to()];
            match header_end(valid) {
                Some(end) => (text(&valid[..end]), None),
                None => {
                    let end = header_end(buf).unwrap_or(buf.len());
                    (text(&buf[..end]), Some(end))
                }
            }
        }
    }
}

impl Message {
    /// Parses one datagram. With Content-Length the body is exactly that long and any bytes after
    /// it are ignored (RFC 3261 §18.3); without it the body is the rest of the datagram.
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        let skip = leading_crlf(buf);
        if skip == buf.len() {
            return Err(ParseError::new(Kind::Empty, Seen::Unknown));
        }
        let buf = &buf[skip..];
        // One UTF-8 check covers the header section (and usually the body too); slicing the text
        // at ASCII delimiters afterwards is free.
        let (head, lossy_end) = head_text(buf);
        let mut lines = Lines::new(&head);
        let start_line = lines.next_line().unwrap_or_default();
        let start = parse_start(start_line);
        let seen = match &start {
            Ok(Start::Request(..)) => Seen::Request,
            Ok(Start::Response(..)) => Seen::Response,
            Err(_) if is_response_line(start_line.as_bytes()) => Seen::Response,
            Err(_) if looks_like_request(start_line.as_bytes()) => Seen::Request,
            Err(_) => Seen::Unknown,
        };
        if seen == Seen::Unknown {
            return Err(ParseError::new(Kind::BadStartLine, seen));
        }
        let section = parse_headers(&mut lines);
        let fail = |kind| Err(ParseError::new(kind, seen).with_headers(&section.headers));
        let start = match start {
            Ok(s) => s,
            Err(kind) => return fail(kind),
        };
        if let Some(kind) = section.fault {
            return fail(kind);
        }
        let rest = &buf[lossy_end.unwrap_or(section.end)..];
        let body = match section.content_length {
            Some(n) if n > rest.len() => return fail(Kind::BodyTruncated),
            Some(n) => &rest[..n],
            None => rest,
        };
        let body = Bytes::copy_from_slice(body);
        let headers = section.headers;
        Ok(match start {
            Start::Request(method, uri) => Message::Request(Request { method, uri, headers, body }),
            Start::Response(status, reason) => Message::Response(Response { status, reason, headers, body }),
        })
    }
}

/// The index just past the blank line ending the header section (CRLF CRLF, or bare LFs).
pub(crate) fn header_end(buf: &[u8]) -> Option<usize> {
    let mut pos = 0;
    while let Some(i) = find_byte(b'\n', &buf[pos..]) {
        let nl = pos + i;
        let next = &buf[nl + 1..];
        if next.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        if next.starts_with(b"\n") {
            return Some(nl + 2);
        }
        pos = nl + 1;
    }
    None
}
