//! Serialising the model to SDP text: CRLF line endings, lines in RFC 8866 §5 order.

use std::fmt::{self, Display, Formatter, Write};

use bytes::Bytes;

use super::model::{
    Attribute, Bandwidth, Connection, MediaDescription, Origin, Repeat, SessionDescription,
    TimeUnit, TypedTime, UnknownLine,
};

impl SessionDescription {
    /// The description as bytes, ready to be a SIP body.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl Display for SessionDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "v={}\r\n", self.version)?;
        write!(f, "o={}\r\n", self.origin)?;
        // RFC 8866 §5.3: a single space stands for "no name"; an empty s= is invalid.
        let name = if self.session_name.is_empty() {
            " "
        } else {
            &self.session_name
        };
        write!(f, "s={name}\r\n")?;
        opt_line(f, 'i', self.info.as_deref())?;
        opt_line(f, 'u', self.uri.as_deref())?;
        for e in &self.emails {
            write!(f, "e={e}\r\n")?;
        }
        for p in &self.phones {
            write!(f, "p={p}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        if self.times.is_empty() {
            f.write_str("t=0 0\r\n")?;
        }
        for t in &self.times {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        if !self.zones.is_empty() {
            f.write_str("z=")?;
            for (i, z) in self.zones.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                write!(f, "{sep}{} {}", z.time, z.offset)?;
            }
            f.write_str("\r\n")?;
        }
        opt_line(f, 'k', self.key.as_deref())?;
        tail(f, &self.attributes, &self.unknown_lines)?;
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl Display for MediaDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.kind.as_str(), self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto.as_str())?;
        for fmt in &self.formats {
            write!(f, " {fmt}")?;
        }
        f.write_str("\r\n")?;
        opt_line(f, 'i', self.info.as_deref())?;
        for c in &self.connections {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={b}\r\n")?;
        }
        opt_line(f, 'k', self.key.as_deref())?;
        tail(f, &self.attributes, &self.unknown_lines)
    }
}

fn opt_line(f: &mut Formatter<'_>, kind: char, value: Option<&str>) -> fmt::Result {
    match value {
        Some(v) => write!(f, "{kind}={v}\r\n"),
        None => Ok(()),
    }
}

/// Attributes, then the lines we did not understand.
fn tail(f: &mut Formatter<'_>, attributes: &[Attribute], unknown: &[UnknownLine]) -> fmt::Result {
    for a in attributes {
        write!(f, "a={a}\r\n")?;
    }
    for l in unknown {
        write!(f, "{}={}\r\n", l.kind, l.value)?;
    }
    Ok(())
}

impl Display for Origin {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.nettype,
            self.addrtype,
            self.address
        )
    }
}

impl Display for Connection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.nettype, self.addrtype, self.address)?;
        if let Some(ttl) = self.ttl {
            write!(f, "/{ttl}")?;
        }
        if let Some(count) = self.count {
            write!(f, "/{count}")?;
        }
        Ok(())
    }
}

impl Display for Bandwidth {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

impl Display for Repeat {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.interval, self.duration)?;
        for o in &self.offsets {
            write!(f, " {o}")?;
        }
        Ok(())
    }
}

impl Display for TypedTime {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)?;
        match self.unit {
            TimeUnit::Seconds => Ok(()),
            TimeUnit::Days => f.write_char('d'),
            TimeUnit::Hours => f.write_char('h'),
            TimeUnit::Minutes => f.write_char('m'),
            TimeUnit::ExplicitSeconds => f.write_char('s'),
        }
    }
}

impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = &self.value {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}
