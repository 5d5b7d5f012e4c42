//! UDP: one socket per listen address; a reader task parses datagrams for the core.
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::{is_keepalive, Inbound};
use crate::metrics::metrics;
use crate::sip::message::Message;
use crate::sip::peer::{Peer, Transport};

/// A bound UDP socket; the core sends with `try_send_to` so it never waits on the network.
#[derive(Clone, Debug)]
pub struct UdpListener {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
}

impl UdpListener {
    pub fn bind(addr: SocketAddr) -> std::io::Result<UdpListener> {
        let domain = if addr.is_ipv6() { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        // Room for bursts: a loaded trunk delivers thousands of datagrams between two polls.
        let _ = s.set_recv_buffer_size(4 << 20);
        let _ = s.set_send_buffer_size(4 << 20);
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        let socket = UdpSocket::from_std(s.into())?;
        let local = socket.local_addr()?;
        Ok(UdpListener { socket: Arc::new(socket), local })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends without waiting; a full socket buffer drops the datagram (retransmission covers it).
    pub fn try_send(&self, data: &[u8], to: SocketAddr) -> std::io::Result<usize> {
        self.socket.try_send_to(data, to)
    }

    /// Reads datagrams until shutdown; each becomes one `Inbound`.
    pub async fn run(self, tx: mpsc::Sender<Inbound>, mut shutdown: watch::Receiver<bool>) {
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, from) = tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok(v) => v,
                    Err(e) => {
                        // ICMP errors surface here on some systems; the socket stays usable.
                        tracing::debug!(error = %e, "udp receive error");
                        continue;
                    }
                },
                _ = shutdown.changed() => return,
            };
            let data = &buf[..n];
            if n == 0 || is_keepalive(data) {
                continue;
            }
            let peer = Peer { transport: Transport::Udp, addr: from, conn: None };
            let event = match Message::parse(data) {
                Ok(message) => Inbound::Message { message, peer, received: tokio::time::Instant::now().into_std() },
                Err(error) => Inbound::Garbage { error, peer },
            };
            if tx.try_send(event).is_err() {
                metrics().sip_dropped.with_label_values(&["inbound_queue_full"]).inc();
            }
        }
    }
}
