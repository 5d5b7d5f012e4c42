//! ICE candidates (`a=candidate`, RFC 8839 §5.1) as a typed value.

use std::fmt::{self, Display, Formatter};

use super::error::AttributeError;
use super::parse::{digits_u16, digits_u32, digits_u64};

/// The candidate type after `typ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateType {
    Host,
    ServerReflexive,
    PeerReflexive,
    Relay,
    /// Anything else, verbatim.
    Other(String),
}

impl CandidateType {
    pub fn as_str(&self) -> &str {
        match self {
            CandidateType::Host => "host",
            CandidateType::ServerReflexive => "srflx",
            CandidateType::PeerReflexive => "prflx",
            CandidateType::Relay => "relay",
            CandidateType::Other(s) => s,
        }
    }

    fn from_token(s: &str) -> Self {
        match s {
            "host" => CandidateType::Host,
            "srflx" => CandidateType::ServerReflexive,
            "prflx" => CandidateType::PeerReflexive,
            "relay" => CandidateType::Relay,
            other => CandidateType::Other(other.to_owned()),
        }
    }
}

/// `a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
/// [raddr <address>] [rport <port>] *(<name> <value>)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub foundation: String,
    /// 1 for RTP, 2 for RTCP.
    pub component: u32,
    /// `UDP` or `TCP` as written (case varies between peers).
    pub transport: String,
    /// 32-bit in RFC 8445; some stacks write larger numbers, so it is kept as u64.
    pub priority: u64,
    /// An IP address or, from browsers hiding local addresses, an mDNS `.local` name.
    pub address: String,
    pub port: u16,
    pub typ: CandidateType,
    pub raddr: Option<String>,
    pub rport: Option<u16>,
    /// Extension name/value pairs (`generation 0`, `tcptype passive`, `network-id 1`, …).
    pub extensions: Vec<(String, String)>,
}

impl Candidate {
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let f: Vec<&str> = value.split_ascii_whitespace().collect();
        let [foundation, component, transport, priority, address, port, typ_kw, typ, rest @ ..] =
            &f[..]
        else {
            return Err(AttributeError::Missing("candidate fields"));
        };
        if !typ_kw.eq_ignore_ascii_case("typ") {
            return Err(AttributeError::Missing("typ"));
        }
        let mut c = Candidate {
            foundation: (*foundation).to_owned(),
            component: digits_u32(component).ok_or(AttributeError::Invalid("component-id"))?,
            transport: (*transport).to_owned(),
            priority: digits_u64(priority).ok_or(AttributeError::Invalid("priority"))?,
            address: (*address).to_owned(),
            port: digits_u16(port).ok_or(AttributeError::Invalid("port"))?,
            typ: CandidateType::from_token(typ),
            raddr: None,
            rport: None,
            extensions: Vec::new(),
        };
        if rest.len() % 2 != 0 {
            return Err(AttributeError::Invalid("extension without a value"));
        }
        for pair in rest.chunks_exact(2) {
            match pair[0] {
                "raddr" if c.raddr.is_none() => c.raddr = Some(pair[1].to_owned()),
                "rport" if c.rport.is_none() => {
                    c.rport = Some(digits_u16(pair[1]).ok_or(AttributeError::Invalid("rport"))?);
                }
                name => c.extensions.push((name.to_owned(), pair[1].to_owned())),
            }
        }
        Ok(c)
    }

    /// Whether the transport is UDP.
    pub fn is_udp(&self) -> bool {
        self.transport.eq_ignore_ascii_case("udp")
    }
}

impl Display for Candidate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            self.transport,
            self.priority,
            self.address,
            self.port,
            self.typ.as_str()
        )?;
        if let Some(a) = &self.raddr {
            write!(f, " raddr {a}")?;
        }
        if let Some(p) = self.rport {
            write!(f, " rport {p}")?;
        }
        for (name, value) in &self.extensions {
            write!(f, " {name} {value}")?;
        }
        Ok(())
    }
}
