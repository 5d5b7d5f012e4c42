//! Typed values of the attributes our call logic reads: RTP maps and format parameters,
//! direction, RTCP, SSRC, BUNDLE groups, DTLS, SDES crypto, RTCP feedback, extmap.
//!
//! Each type parses from the attribute's value (the text after `name:`) and prints back to it.

use std::fmt::{self, Display, Formatter};

use super::error::AttributeError;
use super::parse::{digits_u16, digits_u32, digits_u64, split_unquoted};

/// Media direction (RFC 8866 §6.7). The default, when nothing is said, is sendrecv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The attribute name (`sendrecv`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub fn from_name(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The direction seen from the other end (what an answer to this offer mirrors).
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    /// Audio channels (the encoding parameters); absent means 1.
    pub channels: Option<u16>,
}

impl Rtpmap {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let (pt, rest) = value
            .split_once(' ')
            .ok_or(AttributeError::Missing("encoding"))?;
        let payload_type = digits_u64(pt)
            .and_then(|v| u8::try_from(v).ok())
            .filter(|&v| v < 128)
            .ok_or(AttributeError::Invalid("payload type"))?;
        let mut parts = rest.trim().split('/');
        let encoding = parts
            .next()
            .filter(|e| !e.is_empty())
            .ok_or(AttributeError::Missing("encoding"))?;
        let clock_rate = digits_u32(parts.next().ok_or(AttributeError::Missing("clock rate"))?)
            .ok_or(AttributeError::Invalid("clock rate"))?;
        let channels = match parts.next() {
            Some(c) => Some(digits_u16(c).ok_or(AttributeError::Invalid("channels"))?),
            None => None,
        };
        Ok(Rtpmap {
            payload_type,
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        })
    }

    /// The RFC 3551 §6 mapping of a static payload type, for peers that omit `a=rtpmap` for
    /// them (RFC 8866 allows it, and old SIP phones do it for PCMU and PCMA).
    pub fn static_payload_type(pt: u8) -> Option<Rtpmap> {
        let (encoding, clock_rate, channels) = match pt {
            0 => ("PCMU", 8000, None),
            3 => ("GSM", 8000, None),
            4 => ("G723", 8000, None),
            5 => ("DVI4", 8000, None),
            6 => ("DVI4", 16000, None),
            7 => ("LPC", 8000, None),
            8 => ("PCMA", 8000, None),
            9 => ("G722", 8000, None),
            10 => ("L16", 44100, Some(2)),
            11 => ("L16", 44100, None),
            12 => ("QCELP", 8000, None),
            13 => ("CN", 8000, None),
            14 => ("MPA", 90000, None),
            15 => ("G728", 8000, None),
            16 => ("DVI4", 11025, None),
            17 => ("DVI4", 22050, None),
            18 => ("G729", 8000, None),
            25 => ("CelB", 90000, None),
            26 => ("JPEG", 90000, None),
            28 => ("nv", 90000, None),
            31 => ("H261", 90000, None),
            32 => ("MPV", 90000, None),
            33 => ("MP2T", 90000, None),
            34 => ("H263", 90000, None),
            _ => return None,
        };
        Some(Rtpmap {
            payload_type: pt,
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
        })
    }

    /// Whether this is the encoding `name`, compared case-insensitively as RFC 4855 requires.
    pub fn is(&self, name: &str) -> bool {
        self.encoding.eq_ignore_ascii_case(name)
    }
}

impl Display for Rtpmap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// `a=fmtp:<format> <parameters>`, with `;`-separated parameters split into name and value.
/// A parameter without `=` (telephone-event's `0-15`) has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    pub format: String,
    pub params: Vec<FmtpParam>,
}

/// One `name=value` (or bare `name`) item of an `a=fmtp` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FmtpParam {
    pub name: String,
    pub value: Option<String>,
}

impl Fmtp {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let (format, rest) = match value.split_once(' ') {
            Some((f, r)) => (f, r),
            None => (value, ""),
        };
        if format.is_empty() {
            return Err(AttributeError::Missing("format"));
        }
        let params = split_unquoted(rest, ';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((n, v)) => FmtpParam {
                    name: n.trim().to_owned(),
                    value: Some(v.trim().to_owned()),
                },
                None => FmtpParam {
                    name: p.to_owned(),
                    value: None,
                },
            })
            .collect();
        Ok(Fmtp {
            format: format.to_owned(),
            params,
        })
    }

    /// The value of a parameter; names compare case-insensitively (RFC 4855 §3).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .and_then(|p| p.value.as_deref())
    }

    /// Whether a parameter is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.params
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(name))
    }
}

impl Display for Fmtp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format)?;
        for (i, p) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ";" })?;
            f.write_str(&p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    pub port: u16,
    /// `(nettype, addrtype, address)`.
    pub address: Option<(String, String, String)>,
}

impl Rtcp {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let f: Vec<&str> = value.split_ascii_whitespace().collect();
        let port = digits_u16(f.first().ok_or(AttributeError::Missing("port"))?)
            .ok_or(AttributeError::Invalid("port"))?;
        let address = match f[1..] {
            [] => None,
            [n, a, addr] => Some((n.to_owned(), a.to_owned(), addr.to_owned())),
            _ => return Err(AttributeError::Invalid("connection address")),
        };
        Ok(Rtcp { port, address })
    }
}

/// `a=ssrc:<ssrc-id> <attribute>[:<value>]` (RFC 5576).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssrc {
    pub id: u32,
    pub attribute: String,
    pub value: Option<String>,
}

impl Ssrc {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let (id, rest) = value
            .split_once(' ')
            .ok_or(AttributeError::Missing("source attribute"))?;
        let id = digits_u32(id).ok_or(AttributeError::Invalid("ssrc-id"))?;
        let (attribute, value) = match rest.split_once(':') {
            Some((a, v)) => (a, Some(v.to_owned())),
            None => (rest, None),
        };
        Ok(Ssrc {
            id,
            attribute: attribute.to_owned(),
            value,
        })
    }
}

/// `a=group:<semantics> <mid> …` (RFC 5888), e.g. `BUNDLE 0 1 2` or `FID` for ssrc-group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub semantics: String,
    pub ids: Vec<String>,
}

impl Group {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let mut f = value.split_ascii_whitespace();
        let semantics = f
            .next()
            .ok_or(AttributeError::Missing("semantics"))?
            .to_owned();
        Ok(Group {
            semantics,
            ids: f.map(str::to_owned).collect(),
        })
    }
}

/// `a=fingerprint:<hash function> <hex:hex:…>` (RFC 8122).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub hash_function: String,
    pub value: String,
}

impl Fingerprint {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let mut f = value.split_ascii_whitespace();
        let hash_function = f
            .next()
            .ok_or(AttributeError::Missing("hash function"))?
            .to_owned();
        let value = f
            .next()
            .ok_or(AttributeError::Missing("fingerprint"))?
            .to_owned();
        Ok(Fingerprint {
            hash_function,
            value,
        })
    }

    /// The fingerprint as bytes, or `None` if it is not colon-separated hex pairs.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        self.value
            .split(':')
            .map(|h| {
                if h.len() == 2 {
                    u8::from_str_radix(h, 16).ok()
                } else {
                    None
                }
            })
            .collect()
    }
}

/// `a=setup:` (RFC 4145): which side opens the DTLS (or TCP) connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Active,
    Passive,
    ActPass,
    HoldConn,
}

impl Setup {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        match value.trim() {
            "active" => Ok(Setup::Active),
            "passive" => Ok(Setup::Passive),
            "actpass" => Ok(Setup::ActPass),
            "holdconn" => Ok(Setup::HoldConn),
            _ => Err(AttributeError::Invalid("setup role")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
            Setup::HoldConn => "holdconn",
        }
    }
}

/// `a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]` (RFC 4568).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: String,
    /// The `;`-separated key parameters, e.g. `inline:<key||salt>|2^20|1:4`.
    pub key_params: Vec<String>,
    pub session_params: Vec<String>,
}

impl Crypto {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let mut f = value.split_ascii_whitespace();
        let tag = digits_u32(f.next().ok_or(AttributeError::Missing("tag"))?)
            .ok_or(AttributeError::Invalid("tag"))?;
        let suite = f
            .next()
            .ok_or(AttributeError::Missing("crypto-suite"))?
            .to_owned();
        let key_params = f
            .next()
            .ok_or(AttributeError::Missing("key-params"))?
            .split(';')
            .map(str::to_owned)
            .collect();
        Ok(Crypto {
            tag,
            suite,
            key_params,
            session_params: f.map(str::to_owned).collect(),
        })
    }

    /// The base64 `key||salt` of the first `inline:` key parameter.
    pub fn inline_key(&self) -> Option<&str> {
        let p = self.key_params.first()?.strip_prefix("inline:")?;
        Some(p.split('|').next().unwrap_or(p))
    }
}

/// `a=rtcp-fb:<pt or *> <type> [<parameter>]` (RFC 4585), e.g. `* ccm fir`, `96 nack pli`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcpFb {
    /// A payload type, or `*` for all.
    pub format: String,
    pub fb_type: String,
    /// The rest of the line (`pli`, `fir`, `5000` for trr-int).
    pub parameter: Option<String>,
}

impl RtcpFb {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let (format, rest) = value
            .split_once(' ')
            .ok_or(AttributeError::Missing("feedback type"))?;
        let rest = rest.trim();
        let (fb_type, parameter) = match rest.split_once(' ') {
            Some((t, p)) => (t, Some(p.trim().to_owned())),
            None => (rest, None),
        };
        if fb_type.is_empty() {
            return Err(AttributeError::Missing("feedback type"));
        }
        Ok(RtcpFb {
            format: format.to_owned(),
            fb_type: fb_type.to_owned(),
            parameter,
        })
    }

    /// Whether this applies to a payload type (`*` applies to all).
    pub fn applies_to(&self, pt: &str) -> bool {
        self.format == "*" || self.format == pt
    }
}

/// `a=extmap:<id>[/<direction>] <uri> [<attributes>]` (RFC 8285).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extmap {
    pub id: u16,
    pub direction: Option<Direction>,
    pub uri: String,
    pub attributes: Option<String>,
}

impl Extmap {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let (head, rest) = value
            .split_once(' ')
            .ok_or(AttributeError::Missing("uri"))?;
        let (id, direction) = match head.split_once('/') {
            Some((id, d)) => (
                id,
                Some(Direction::from_name(d).ok_or(AttributeError::Invalid("direction"))?),
            ),
            None => (head, None),
        };
        let id = digits_u16(id).ok_or(AttributeError::Invalid("id"))?;
        let rest = rest.trim();
        let (uri, attributes) = match rest.split_once(' ') {
            Some((u, a)) => (u, Some(a.trim().to_owned())),
            None => (rest, None),
        };
        if uri.is_empty() {
            return Err(AttributeError::Missing("uri"));
        }
        Ok(Extmap {
            id,
            direction,
            uri: uri.to_owned(),
            attributes,
        })
    }
}

impl Display for Rtcp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some((n, a, addr)) = &self.address {
            write!(f, " {n} {a} {addr}")?;
        }
        Ok(())
    }
}

impl Display for Ssrc {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.attribute)?;
        if let Some(v) = &self.value {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}

impl Display for Group {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.semantics)?;
        for id in &self.ids {
            write!(f, " {id}")?;
        }
        Ok(())
    }
}

impl Display for Fingerprint {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.hash_function, self.value)
    }
}

impl Display for Crypto {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.tag,
            self.suite,
            self.key_params.join(";")
        )?;
        for p in &self.session_params {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl Display for RtcpFb {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.format, self.fb_type)?;
        if let Some(p) = &self.parameter {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl Display for Extmap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if let Some(d) = self.direction {
            write!(f, "/{}", d.as_str())?;
        }
        write!(f, " {}", self.uri)?;
        if let Some(a) = &self.attributes {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}
