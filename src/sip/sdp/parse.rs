//! Parsing SDP text into the model: lenient about line endings, trailing whitespace, line order
//! within a section and unknown lines; strict about the structure our call logic depends on.

use super::error::SdpError;
use super::model::{
    Attribute, Bandwidth, BandwidthType, Connection, MediaDescription, MediaKind, Origin, Proto,
    Repeat, SessionDescription, TimeUnit, Timing, TypedTime, UnknownLine, ZoneAdjustment,
};

/// The largest body we parse. Real offers are a few kB; a Chrome offer with many simulcast
/// layers and data channels stays well under this.
pub const MAX_SDP_LEN: usize = 128 * 1024;

/// The most m-lines we accept in one description.
pub const MAX_MEDIA: usize = 64;

/// One line: its 1-based number, type letter and value.
struct Line<'a> {
    number: usize,
    kind: char,
    value: &'a str,
}

impl Line<'_> {
    fn invalid(&self, reason: &'static str) -> SdpError {
        SdpError::InvalidField {
            line: self.number,
            field: self.kind,
            reason,
        }
    }
}

/// Splits the body into `x=value` lines, skipping blank ones.
fn lines(input: &[u8]) -> impl Iterator<Item = Result<Line<'_>, SdpError>> {
    input
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, raw)| {
            let number = i + 1;
            let end = raw
                .iter()
                .rposition(|&b| !matches!(b, b' ' | b'\t' | b'\r'))
                .map_or(0, |p| p + 1);
            let raw = &raw[..end];
            if raw.is_empty() {
                return None;
            }
            let Ok(text) = std::str::from_utf8(raw) else {
                return Some(Err(SdpError::InvalidUtf8 { line: number }));
            };
            let bytes = text.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_alphabetic() {
                return Some(Err(SdpError::MalformedLine { line: number }));
            }
            Some(Ok(Line {
                number,
                kind: char::from(bytes[0]),
                value: &text[2..],
            }))
        })
}

impl SessionDescription {
    /// Parses a session description. Accepts CRLF or LF line endings.
    pub fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
        if input.len() > MAX_SDP_LEN {
            return Err(SdpError::TooLarge {
                len: input.len(),
                max: MAX_SDP_LEN,
            });
        }
        // A UTF-8 byte order mark is not SDP, but some Windows softphones send one.
        let body = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let mut lines = lines(body);
        let first = lines.next().ok_or(SdpError::Empty)??;
        if first.kind != 'v' {
            return Err(SdpError::VersionNotFirst { line: first.number });
        }
        let version = digits_u64(first.value)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| first.invalid("version is not a number"))?;

        let mut session = SessionBuilder {
            version,
            ..SessionBuilder::default()
        };
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut media_seen = MediaSeen::default();
        for line in lines {
            let line = line?;
            if line.kind == 'm' {
                if media.len() >= MAX_MEDIA {
                    return Err(SdpError::TooManyMedia {
                        line: line.number,
                        max: MAX_MEDIA,
                    });
                }
                media.push(parse_media_line(&line)?);
                media_seen = MediaSeen::default();
            } else if let Some(m) = media.last_mut() {
                media_line(m, &mut media_seen, &line)?;
            } else {
                session.line(&line)?;
            }
        }
        session.finish(media)
    }
}

/// Session-level state while parsing: single-occurrence fields are options until the end.
#[derive(Default)]
struct SessionBuilder {
    version: u32,
    origin: Option<Origin>,
    session_name: Option<String>,
    info: Option<String>,
    uri: Option<String>,
    emails: Vec<String>,
    phones: Vec<String>,
    connection: Option<Connection>,
    bandwidths: Vec<Bandwidth>,
    times: Vec<Timing>,
    zones: Vec<ZoneAdjustment>,
    key: Option<String>,
    attributes: Vec<Attribute>,
    unknown_lines: Vec<UnknownLine>,
}

/// Puts a value in a once-only slot, or reports the duplicate.
fn once<T>(slot: &mut Option<T>, value: T, line: &Line<'_>) -> Result<(), SdpError> {
    if slot.is_some() {
        return Err(SdpError::DuplicateField {
            line: line.number,
            field: line.kind,
        });
    }
    *slot = Some(value);
    Ok(())
}

impl SessionBuilder {
    fn line(&mut self, line: &Line<'_>) -> Result<(), SdpError> {
        match line.kind {
            'v' => {
                return Err(SdpError::DuplicateField {
                    line: line.number,
                    field: 'v',
                })
            }
            'o' => once(&mut self.origin, parse_origin(line)?, line)?,
            's' => once(&mut self.session_name, line.value.to_owned(), line)?,
            'i' => once(&mut self.info, line.value.to_owned(), line)?,
            'u' => once(&mut self.uri, line.value.to_owned(), line)?,
            'e' => self.emails.push(line.value.to_owned()),
            'p' => self.phones.push(line.value.to_owned()),
            'c' => once(&mut self.connection, parse_connection(line)?, line)?,
            'b' => self.bandwidths.push(parse_bandwidth(line)?),
            't' => self.times.push(parse_timing(line)?),
            'r' => {
                let repeat = parse_repeat(line)?;
                match self.times.last_mut() {
                    Some(t) => t.repeats.push(repeat),
                    None => {
                        return Err(SdpError::Misplaced {
                            line: line.number,
                            field: 'r',
                        })
                    }
                }
            }
            'z' => self.zones.extend(parse_zones(line)?),
            'k' => once(&mut self.key, line.value.to_owned(), line)?,
            'a' => self.attributes.push(parse_attribute(line.value)),
            kind => self.unknown_lines.push(UnknownLine {
                kind,
                value: line.value.to_owned(),
            }),
        }
        Ok(())
    }

    fn finish(self, media: Vec<MediaDescription>) -> Result<SessionDescription, SdpError> {
        Ok(SessionDescription {
            version: self.version,
            origin: self.origin.ok_or(SdpError::MissingField { field: 'o' })?,
            session_name: self
                .session_name
                .ok_or(SdpError::MissingField { field: 's' })?,
            info: self.info,
            uri: self.uri,
            emails: self.emails,
            phones: self.phones,
            connection: self.connection,
            bandwidths: self.bandwidths,
            times: self.times,
            zones: self.zones,
            key: self.key,
            attributes: self.attributes,
            unknown_lines: self.unknown_lines,
            media,
        })
    }
}

/// Which once-only media-level lines have been seen in the current section.
#[derive(Default)]
struct MediaSeen {
    info: bool,
    key: bool,
}

fn media_line(
    m: &mut MediaDescription,
    seen: &mut MediaSeen,
    line: &Line<'_>,
) -> Result<(), SdpError> {
    match line.kind {
        'i' => {
            if std::mem::replace(&mut seen.info, true) {
                return Err(SdpError::DuplicateField {
                    line: line.number,
                    field: 'i',
                });
            }
            m.info = Some(line.value.to_owned());
        }
        'c' => m.connections.push(parse_connection(line)?),
        'b' => m.bandwidths.push(parse_bandwidth(line)?),
        'k' => {
            if std::mem::replace(&mut seen.key, true) {
                return Err(SdpError::DuplicateField {
                    line: line.number,
                    field: 'k',
                });
            }
            m.key = Some(line.value.to_owned());
        }
        'a' => m.attributes.push(parse_attribute(line.value)),
        'v' | 'o' | 's' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' => {
            return Err(SdpError::Misplaced {
                line: line.number,
                field: line.kind,
            });
        }
        kind => m.unknown_lines.push(UnknownLine {
            kind,
            value: line.value.to_owned(),
        }),
    }
    Ok(())
}

/// A decimal number made only of ASCII digits (no sign, no spaces), as SDP's grammar has it.
pub(crate) fn digits_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub(crate) fn digits_u16(s: &str) -> Option<u16> {
    digits_u64(s).and_then(|v| u16::try_from(v).ok())
}

pub(crate) fn digits_u32(s: &str) -> Option<u32> {
    digits_u64(s).and_then(|v| u32::try_from(v).ok())
}

fn parse_origin(line: &Line<'_>) -> Result<Origin, SdpError> {
    let f: Vec<&str> = line.value.split_ascii_whitespace().collect();
    let [username, id, version, nettype, addrtype, address] = f[..] else {
        return Err(line.invalid("expected 6 fields"));
    };
    Ok(Origin {
        username: username.to_owned(),
        session_id: digits_u64(id).ok_or_else(|| line.invalid("sess-id is not a 64-bit number"))?,
        session_version: digits_u64(version)
            .ok_or_else(|| line.invalid("sess-version is not a 64-bit number"))?,
        nettype: nettype.to_owned(),
        addrtype: addrtype.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_connection(line: &Line<'_>) -> Result<Connection, SdpError> {
    let f: Vec<&str> = line.value.split_ascii_whitespace().collect();
    let [nettype, addrtype, full] = f[..] else {
        return Err(line.invalid("expected 3 fields"));
    };
    let mut parts = full.split('/');
    let address = parts.next().unwrap_or_default().to_owned();
    let suffixes: Vec<&str> = parts.collect();
    let (ttl, count) = match (addrtype.eq_ignore_ascii_case("IP4"), &suffixes[..]) {
        (_, []) => (None, None),
        (true, [ttl]) => (Some(parse_ttl(line, ttl)?), None),
        (true, [ttl, count]) => (Some(parse_ttl(line, ttl)?), Some(parse_count(line, count)?)),
        (false, [count]) => (None, Some(parse_count(line, count)?)),
        _ => return Err(line.invalid("too many `/` suffixes on the address")),
    };
    Ok(Connection {
        nettype: nettype.to_owned(),
        addrtype: addrtype.to_owned(),
        address,
        ttl,
        count,
    })
}

fn parse_ttl(line: &Line<'_>, s: &str) -> Result<u8, SdpError> {
    digits_u64(s)
        .and_then(|v| u8::try_from(v).ok())
        .ok_or_else(|| line.invalid("bad multicast TTL"))
}

fn parse_count(line: &Line<'_>, s: &str) -> Result<u32, SdpError> {
    digits_u32(s).ok_or_else(|| line.invalid("bad multicast address count"))
}

fn parse_bandwidth(line: &Line<'_>) -> Result<Bandwidth, SdpError> {
    let (kind, value) = line
        .value
        .split_once(':')
        .ok_or_else(|| line.invalid("missing `:`"))?;
    if kind.is_empty() || kind.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(line.invalid("bad bandwidth type"));
    }
    let value =
        digits_u64(value.trim()).ok_or_else(|| line.invalid("bandwidth is not a number"))?;
    Ok(Bandwidth {
        kind: BandwidthType::from_token(kind),
        value,
    })
}

fn parse_timing(line: &Line<'_>) -> Result<Timing, SdpError> {
    let f: Vec<&str> = line.value.split_ascii_whitespace().collect();
    let [start, stop] = f[..] else {
        return Err(line.invalid("expected start and stop time"));
    };
    Ok(Timing {
        start: digits_u64(start).ok_or_else(|| line.invalid("start time is not a number"))?,
        stop: digits_u64(stop).ok_or_else(|| line.invalid("stop time is not a number"))?,
        repeats: Vec::new(),
    })
}

fn parse_typed_time(s: &str) -> Option<TypedTime> {
    let (number, unit) = match s.as_bytes().last()? {
        b'd' => (&s[..s.len() - 1], TimeUnit::Days),
        b'h' => (&s[..s.len() - 1], TimeUnit::Hours),
        b'm' => (&s[..s.len() - 1], TimeUnit::Minutes),
        b's' => (&s[..s.len() - 1], TimeUnit::ExplicitSeconds),
        _ => (s, TimeUnit::Seconds),
    };
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let magnitude = i64::try_from(digits_u64(digits)?).ok()?;
    Some(TypedTime {
        value: if negative { -magnitude } else { magnitude },
        unit,
    })
}

fn parse_repeat(line: &Line<'_>) -> Result<Repeat, SdpError> {
    let mut times = Vec::new();
    for field in line.value.split_ascii_whitespace() {
        times.push(parse_typed_time(field).ok_or_else(|| line.invalid("bad typed time"))?);
    }
    if times.len() < 3 {
        return Err(line.invalid("expected interval, duration and at least one offset"));
    }
    let offsets = times.split_off(2);
    Ok(Repeat {
        interval: times[0],
        duration: times[1],
        offsets,
    })
}

fn parse_zones(line: &Line<'_>) -> Result<Vec<ZoneAdjustment>, SdpError> {
    let f: Vec<&str> = line.value.split_ascii_whitespace().collect();
    if f.len() % 2 != 0 {
        return Err(line.invalid("expected pairs of time and offset"));
    }
    f.chunks_exact(2)
        .map(|pair| {
            Ok(ZoneAdjustment {
                time: digits_u64(pair[0])
                    .ok_or_else(|| line.invalid("adjustment time is not a number"))?,
                offset: parse_typed_time(pair[1]).ok_or_else(|| line.invalid("bad offset"))?,
            })
        })
        .collect()
}

/// Splits `a;b="x;y";c` at the separators that are not inside double quotes (dcmap labels and
/// some fmtp values are quoted strings that may contain the separator).
pub(crate) fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut start = 0;
    let mut done = false;
    let mut chars = s.char_indices();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        for (i, c) in chars.by_ref() {
            if c == '"' {
                quoted = !quoted;
            } else if c == sep && !quoted {
                let piece = &s[start..i];
                start = i + c.len_utf8();
                return Some(piece);
            }
        }
        done = true;
        Some(&s[start..])
    })
}

/// `name` or `name:value`; never fails, so unknown attributes always pass through.
pub(crate) fn parse_attribute(value: &str) -> Attribute {
    match value.split_once(':') {
        Some((name, v)) => Attribute::new(name, v),
        None => Attribute::flag(value),
    }
}

fn parse_media_line(line: &Line<'_>) -> Result<MediaDescription, SdpError> {
    let mut f = line.value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (f.next(), f.next(), f.next()) else {
        return Err(line.invalid("expected media, port, proto and formats"));
    };
    let (port, port_count) = match port.split_once('/') {
        Some((p, n)) => (
            p,
            Some(digits_u16(n).ok_or_else(|| line.invalid("bad number of ports"))?),
        ),
        None => (port, None),
    };
    let port = digits_u16(port).ok_or_else(|| line.invalid("port is not a number in 0..=65535"))?;
    let mut media = MediaDescription::new(
        MediaKind::from_token(kind),
        port,
        Proto::from_token(proto),
        f.map(str::to_owned).collect(),
    );
    media.port_count = port_count;
    Ok(media)
}
