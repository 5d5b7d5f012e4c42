//! Where a SIP message came from or goes to: transport, socket address and, for connection-oriented
//! transports, which connection the runtime holds.
use std::fmt;
use std::net::SocketAddr;

/// A SIP transport (RFC 3261 §18, RFC 7118 for WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl Transport {
    /// Reliable transports deliver in order without loss, so the transaction layer does not
    /// retransmit over them and its wait timers (D, I, J, K) are zero (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The token written in the Via header's sent-protocol (`SIP/2.0/UDP`).
    pub fn as_via_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// Maps a Via transport token (case-insensitive) to a transport; `None` for ones we do not speak
    /// (SCTP, DTLS, …).
    pub fn from_via_str(token: &str) -> Option<Transport> {
        [
            Transport::Udp,
            Transport::Tcp,
            Transport::Tls,
            Transport::Ws,
            Transport::Wss,
        ]
        .into_iter()
        .find(|t| t.as_via_str().eq_ignore_ascii_case(token))
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_via_str())
    }
}

/// The runtime's handle on one transport connection (TCP, TLS or WebSocket). Opaque to the cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The other end of a hop: the transport, the remote socket address and, when the message came
/// over (or must go over) a particular connection, that connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
    pub conn: Option<ConnId>,
}

impl Peer {
    /// A peer reached over UDP.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr,
            conn: None,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)?;
        if let Some(c) = self.conn {
            write!(f, "#{}", c.0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reliability_and_via_tokens() {
        assert!(!Transport::Udp.is_reliable());
        assert!(Transport::Tcp.is_reliable() && Transport::Wss.is_reliable());
        assert_eq!(Transport::from_via_str("tls"), Some(Transport::Tls));
        assert_eq!(Transport::from_via_str("SCTP"), None);
        assert_eq!(Transport::Ws.as_via_str(), "WS");
    }
}
