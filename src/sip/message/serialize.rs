//! Writing SIP messages as bytes: long header names, CRLF line ends, Content-Length equal to the body.
use super::{HeaderName, Headers, Message, Request, Response, SIP_VERSION};

/// Appends `n` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends text with CR and LF turned into spaces: parsed text never holds them, but text set by
/// application code might, and it must not start a line of its own.
fn push_sanitised(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
}

/// CR and LF bytes in `b` (memchr counts with SIMD).
fn count_cr_lf(b: &[u8]) -> usize {
    memchr::memchr_iter(b'\r', b).count() + memchr::memchr_iter(b'\n', b).count()
}

/// Writes every header (Content-Length rewritten to `body_len`, added if absent) and the blank line.
/// The first pass copies values as they are; if a count shows a CR or LF inside one, the section
/// is written again with them replaced.
fn write_headers(headers: &Headers, body_len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    write_header_lines(headers, body_len, out, false);
    let lines = headers.len() + 1 + usize::from(!headers.contains(&HeaderName::ContentLength));
    if count_cr_lf(&out[start..]) != 2 * lines {
        out.truncate(start);
        write_header_lines(headers, body_len, out, true);
    }
}

fn write_header_lines(headers: &Headers, body_len: usize, out: &mut Vec<u8>, sanitise: bool) {
    let mut wrote_length = false;
    for h in headers {
        out.extend_from_slice(h.name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        if h.name == HeaderName::ContentLength {
            push_decimal(out, body_len);
            wrote_length = true;
        } else if sanitise {
            push_sanitised(out, &h.value);
        } else {
            out.extend_from_slice(h.value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, body_len);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A size guess for the output buffer.
fn estimate(headers: &Headers, first_line: usize, body: usize) -> usize {
    first_line + body + 32 + headers.iter().map(|h| h.name.as_str().len() + h.value.len() + 4).sum::<usize>()
}

impl Request {
    /// Appends the request to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(estimate(&self.headers, self.uri.len() + 24, self.body.len()));
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        push_sanitised(out, &self.uri);
        out.push(b' ');
        out.extend_from_slice(SIP_VERSION.as_bytes());
        out.extend_from_slice(b"\r\n");
        write_headers(&self.headers, self.body.len(), out);
        out.extend_from_slice(&self.body);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

impl Response {
    /// Appends the response to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(estimate(&self.headers, self.reason.len() + 16, self.body.len()));
        out.extend_from_slice(SIP_VERSION.as_bytes());
        out.push(b' ');
        // Status codes are three digits; anything else is written as is.
        if self.status < 100 {
            out.extend_from_slice(if self.status < 10 { b"00" } else { b"0" });
        }
        push_decimal(out, usize::from(self.status));
        out.push(b' ');
        push_sanitised(out, &self.reason);
        out.extend_from_slice(b"\r\n");
        write_headers(&self.headers, self.body.len(), out);
        out.extend_from_slice(&self.body);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

impl Message {
    /// Appends the message to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}
