//! The SDP data model (RFC 8866 §5): session and media descriptions and their line values.
//!
//! Free-text and unknown values are kept as text exactly as received so that anything we do not
//! understand passes through a B2BUA unchanged; the fields our call logic reads are typed.

use super::attributes::Direction;
use super::AttributeSet;

/// A whole session description: the session-level lines followed by the media descriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `v=`; always 0 in practice.
    pub version: u32,
    /// `o=`.
    pub origin: Origin,
    /// `s=`; written as a single space when empty, as RFC 8866 §5.3 recommends.
    pub session_name: String,
    /// `i=`.
    pub info: Option<String>,
    /// `u=`.
    pub uri: Option<String>,
    /// `e=` lines.
    pub emails: Vec<String>,
    /// `p=` lines.
    pub phones: Vec<String>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Session-level `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines with their `r=` lines; `t=0 0` is written when this is empty.
    pub times: Vec<Timing>,
    /// The `z=` adjustments (all `z=` lines merged into one).
    pub zones: Vec<ZoneAdjustment>,
    /// `k=` (obsolete, kept verbatim).
    pub key: Option<String>,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute>,
    /// Session-level lines of a type RFC 8866 does not define, kept for pass-through.
    pub unknown_lines: Vec<UnknownLine>,
    /// `m=` sections, in order.
    pub media: Vec<MediaDescription>,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: u64,
    pub session_version: u64,
    pub nettype: String,
    pub addrtype: String,
    pub address: String,
}

/// `c=<nettype> <addrtype> <connection-address>`, with the multicast suffixes split off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub nettype: String,
    pub addrtype: String,
    /// The address without its `/ttl` or `/count` suffix.
    pub address: String,
    /// IPv4 multicast TTL (`/127`).
    pub ttl: Option<u8>,
    /// Number of consecutive multicast addresses (`/3`).
    pub count: Option<u32>,
}

/// `b=<bwtype>:<bandwidth>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    pub kind: BandwidthType,
    /// kbit/s for AS, CT; bit/s for RS, RR and TIAS.
    pub value: u64,
}

/// The bandwidth modifier of a `b=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BandwidthType {
    /// Conference total (RFC 8866).
    Ct,
    /// Application specific maximum, kbit/s (RFC 8866).
    As,
    /// RTCP bandwidth for senders, bit/s (RFC 3556).
    Rs,
    /// RTCP bandwidth for receivers, bit/s (RFC 3556).
    Rr,
    /// Transport-independent application maximum, bit/s (RFC 3890).
    Tias,
    /// Any other modifier, verbatim.
    Other(String),
}

/// One `t=` line and the `r=` lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// NTP seconds; 0 means unbounded.
    pub start: u64,
    pub stop: u64,
    pub repeats: Vec<Repeat>,
}

/// `r=<repeat interval> <active duration> <offsets from start-time>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    pub interval: TypedTime,
    pub duration: TypedTime,
    pub offsets: Vec<TypedTime>,
}

/// One `z=` pair: at `time` (NTP seconds) the base time shifts by `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneAdjustment {
    pub time: u64,
    pub offset: TypedTime,
}

/// A time with an optional unit letter (`7d`, `-1h`, `3600`), kept as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedTime {
    pub value: i64,
    pub unit: TimeUnit,
}

/// The unit suffix of a [`TypedTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// No suffix: seconds.
    Seconds,
    Days,
    Hours,
    Minutes,
    /// An explicit `s` suffix.
    ExplicitSeconds,
}

impl TypedTime {
    /// The value in seconds (saturating).
    pub fn seconds(&self) -> i64 {
        let factor = match self.unit {
            TimeUnit::Seconds | TimeUnit::ExplicitSeconds => 1,
            TimeUnit::Minutes => 60,
            TimeUnit::Hours => 3600,
            TimeUnit::Days => 86_400,
        };
        self.value.saturating_mul(factor)
    }
}

/// One `a=` line: `a=name` (a flag) or `a=name:value`. The value is kept verbatim, including any
/// leading space (Chrome writes `a=msid-semantic: WMS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

impl Attribute {
    /// A flag attribute such as `a=rtcp-mux`.
    pub fn flag(name: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: None,
        }
    }

    /// A property attribute such as `a=ptime:20`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// A line whose type letter RFC 8866 does not define; kept so it can be passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLine {
    pub kind: char,
    pub value: String,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    pub kind: MediaKind,
    /// 0 means the stream is rejected or disabled (RFC 3264 §6).
    pub port: u16,
    /// The `/<number of ports>` suffix.
    pub port_count: Option<u16>,
    pub proto: Proto,
    /// Formats: RTP payload types as text, or e.g. `webrtc-datachannel`.
    pub formats: Vec<String>,
    /// `i=`.
    pub info: Option<String>,
    /// Media-level `c=` lines (more than one only for multicast).
    pub connections: Vec<Connection>,
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` (obsolete, kept verbatim).
    pub key: Option<String>,
    pub attributes: Vec<Attribute>,
    /// Lines of a type RFC 8866 does not define, kept for pass-through.
    pub unknown_lines: Vec<UnknownLine>,
}

/// The `<media>` field of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    Application,
    Text,
    Message,
    /// Anything else, verbatim (`image` for T.38, …).
    Other(String),
}

/// The `<proto>` field of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proto {
    /// `RTP/AVP`: plain RTP, the IMS default.
    RtpAvp,
    /// `RTP/AVPF`: RTP with RTCP feedback.
    RtpAvpf,
    /// `RTP/SAVP`: SRTP, keyed by `a=crypto` for SIP softphones.
    RtpSavp,
    /// `RTP/SAVPF`.
    RtpSavpf,
    /// `UDP/TLS/RTP/SAVPF`: DTLS-SRTP, what WebRTC uses.
    UdpTlsRtpSavpf,
    /// `UDP/DTLS/SCTP`: data channels over UDP.
    UdpDtlsSctp,
    /// `TCP/DTLS/SCTP`: data channels over TCP.
    TcpDtlsSctp,
    /// Anything else, verbatim.
    Other(String),
}

impl MediaKind {
    pub fn as_str(&self) -> &str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Application => "application",
            MediaKind::Text => "text",
            MediaKind::Message => "message",
            MediaKind::Other(s) => s,
        }
    }

    pub fn from_token(s: &str) -> Self {
        match s {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "application" => MediaKind::Application,
            "text" => MediaKind::Text,
            "message" => MediaKind::Message,
            other => MediaKind::Other(other.to_owned()),
        }
    }
}

impl Proto {
    pub fn as_str(&self) -> &str {
        match self {
            Proto::RtpAvp => "RTP/AVP",
            Proto::RtpAvpf => "RTP/AVPF",
            Proto::RtpSavp => "RTP/SAVP",
            Proto::RtpSavpf => "RTP/SAVPF",
            Proto::UdpTlsRtpSavpf => "UDP/TLS/RTP/SAVPF",
            Proto::UdpDtlsSctp => "UDP/DTLS/SCTP",
            Proto::TcpDtlsSctp => "TCP/DTLS/SCTP",
            Proto::Other(s) => s,
        }
    }

    pub fn from_token(s: &str) -> Self {
        match s {
            "RTP/AVP" => Proto::RtpAvp,
            "RTP/AVPF" => Proto::RtpAvpf,
            "RTP/SAVP" => Proto::RtpSavp,
            "RTP/SAVPF" => Proto::RtpSavpf,
            "UDP/TLS/RTP/SAVPF" => Proto::UdpTlsRtpSavpf,
            "UDP/DTLS/SCTP" => Proto::UdpDtlsSctp,
            "TCP/DTLS/SCTP" => Proto::TcpDtlsSctp,
            other => Proto::Other(other.to_owned()),
        }
    }

    /// Whether the formats are RTP payload types.
    pub fn is_rtp(&self) -> bool {
        match self {
            Proto::RtpAvp
            | Proto::RtpAvpf
            | Proto::RtpSavp
            | Proto::RtpSavpf
            | Proto::UdpTlsRtpSavpf => true,
            Proto::UdpDtlsSctp | Proto::TcpDtlsSctp => false,
            Proto::Other(s) => s.contains("RTP/"),
        }
    }
}

impl BandwidthType {
    pub fn as_str(&self) -> &str {
        match self {
            BandwidthType::Ct => "CT",
            BandwidthType::As => "AS",
            BandwidthType::Rs => "RS",
            BandwidthType::Rr => "RR",
            BandwidthType::Tias => "TIAS",
            BandwidthType::Other(s) => s,
        }
    }

    pub fn from_token(s: &str) -> Self {
        match s {
            "CT" => BandwidthType::Ct,
            "AS" => BandwidthType::As,
            "RS" => BandwidthType::Rs,
            "RR" => BandwidthType::Rr,
            "TIAS" => BandwidthType::Tias,
            other => BandwidthType::Other(other.to_owned()),
        }
    }
}

impl Origin {
    /// An `IN` origin; the address type is derived from the address.
    pub fn new(username: impl Into<String>, session_id: u64, address: impl Into<String>) -> Self {
        let address = address.into();
        Origin {
            username: username.into(),
            session_id,
            session_version: session_id,
            nettype: "IN".to_owned(),
            addrtype: addrtype_of(&address).to_owned(),
            address,
        }
    }
}

impl Connection {
    /// A unicast `IN` connection; the address type is derived from the address.
    pub fn new(address: impl Into<String>) -> Self {
        let address = address.into();
        Connection {
            nettype: "IN".to_owned(),
            addrtype: addrtype_of(&address).to_owned(),
            address,
            ttl: None,
            count: None,
        }
    }
}

/// `IP6` if the address looks like an IPv6 literal, otherwise `IP4`.
fn addrtype_of(address: &str) -> &'static str {
    if address.contains(':') {
        "IP6"
    } else {
        "IP4"
    }
}

impl SessionDescription {
    /// A minimal description: `v=0`, the origin, the session name and `t=0 0`.
    pub fn new(origin: Origin, session_name: impl Into<String>) -> Self {
        SessionDescription {
            version: 0,
            origin,
            session_name: session_name.into(),
            info: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            times: vec![Timing {
                start: 0,
                stop: 0,
                repeats: Vec::new(),
            }],
            zones: Vec::new(),
            key: None,
            attributes: Vec::new(),
            unknown_lines: Vec::new(),
            media: Vec::new(),
        }
    }

    /// The media descriptions of one kind, with their indexes (m-line order matters in
    /// offer/answer, so callers usually need the index too).
    pub fn media_of_kind<'a>(
        &'a self,
        kind: &'a MediaKind,
    ) -> impl Iterator<Item = (usize, &'a MediaDescription)> + 'a {
        self.media
            .iter()
            .enumerate()
            .filter(move |(_, m)| &m.kind == kind)
    }

    /// The first media description of a kind.
    pub fn first_media(&self, kind: &MediaKind) -> Option<&MediaDescription> {
        self.media.iter().find(|m| &m.kind == kind)
    }

    /// The first media description of a kind, for editing.
    pub fn first_media_mut(&mut self, kind: &MediaKind) -> Option<&mut MediaDescription> {
        self.media.iter_mut().find(|m| &m.kind == kind)
    }

    /// The media description with this `a=mid`.
    pub fn media_by_mid(&self, mid: &str) -> Option<&MediaDescription> {
        self.media.iter().find(|m| m.mid() == Some(mid))
    }

    /// The connection that applies to a media description: its own first `c=`, else the
    /// session's.
    pub fn connection_for<'a>(&'a self, media: &'a MediaDescription) -> Option<&'a Connection> {
        media.connections.first().or(self.connection.as_ref())
    }

    /// The direction that applies to a media description: its own direction attribute, else the
    /// session's, else sendrecv (RFC 3264 §5.1).
    pub fn media_direction(&self, media: &MediaDescription) -> Direction {
        media
            .explicit_direction()
            .or_else(|| self.explicit_direction())
            .unwrap_or_default()
    }
}

impl MediaDescription {
    /// A media description with no lines other than `m=`.
    pub fn new(kind: MediaKind, port: u16, proto: Proto, formats: Vec<String>) -> Self {
        MediaDescription {
            kind,
            port,
            port_count: None,
            proto,
            formats,
            info: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
            unknown_lines: Vec::new(),
        }
    }

    /// Whether the stream is rejected or disabled (port 0).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// Rejects this stream in an answer (RFC 3264 §6): port 0, keeping the m-line, its formats
    /// and its position so the answer has as many m-lines as the offer.
    pub fn reject(&mut self) {
        self.port = 0;
        self.port_count = None;
    }

    /// Points this stream at a new transport address: one media-level `c=` with the address and
    /// the new port on the m-line.
    pub fn set_connection(&mut self, address: impl Into<String>, port: u16) {
        self.connections = vec![Connection::new(address)];
        self.port = port;
    }

    /// The value of a bandwidth modifier, if present.
    pub fn bandwidth(&self, kind: &BandwidthType) -> Option<u64> {
        self.bandwidths
            .iter()
            .find(|b| &b.kind == kind)
            .map(|b| b.value)
    }

    /// Sets (or replaces) a bandwidth modifier.
    pub fn set_bandwidth(&mut self, kind: BandwidthType, value: u64) {
        match self.bandwidths.iter_mut().find(|b| b.kind == kind) {
            Some(b) => b.value = value,
            None => self.bandwidths.push(Bandwidth { kind, value }),
        }
    }
}
