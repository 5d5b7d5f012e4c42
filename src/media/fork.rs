//! The fork to an external recorder (SIPREC): two local RTP sockets from the node's port range,
//! one per direction of the call, and a copy of every RTP packet the relay accepted sent from
//! the side's socket to where the recording server asked for that stream. Sent with a
//! non-blocking `send_to` after the relay's own send: a slow or unreachable server never delays
//! or blocks the relay; what the OS refuses is dropped and counted.
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::OnceLock;

use prometheus::IntCounter;

use super::ports::{PortAllocator, PortLease};
use super::relay::Side;
use super::MediaError;

/// `ncgw_siprec_fork_packets_total{result}`: forked RTP packets sent to recording servers, or
/// refused by the OS (`send_failed`).
pub const FORK_PACKETS: &str = "ncgw_siprec_fork_packets_total";

pub(super) struct Counters {
    pub(super) sent: IntCounter,
    pub(super) failed: IntCounter,
}

pub(super) fn counters() -> &'static Counters {
    static C: OnceLock<Counters> = OnceLock::new();
    C.get_or_init(|| {
        let m = prometheus::IntCounterVec::new(prometheus::Opts::new(FORK_PACKETS, "RTP packets forked to SIPREC recording servers, by result"), &["result"])
            .expect("metric definition is valid");
        if let Err(e) = crate::metrics::metrics().registry.register(Box::new(m.clone())) {
            tracing::debug!(error = %e, "fork counter not registered");
        }
        Counters { sent: m.with_label_values(&["sent"]), failed: m.with_label_values(&["send_failed"]) }
    })
}

/// A call's fork: the sockets of stream 1 (what side A sends) and stream 2 (side B).
#[derive(Debug)]
pub struct Fork {
    sockets: [UdpSocket; 2],
    /// The RTCP halves of the pairs, held so the ports stay ours (nothing is sent on them).
    _rtcp: [UdpSocket; 2],
    local: [SocketAddr; 2],
    /// Set once, when the server answered; a stream it declined stays unset.
    dest: [OnceLock<SocketAddr>; 2],
    stopped: AtomicBool,
}

impl Fork {
    /// Binds two RTP/RTCP pairs on `ip` from the node's range; the leases go with the session.
    pub fn open(ports: &PortAllocator, ip: IpAddr) -> Result<(Fork, [PortLease; 2]), MediaError> {
        let one = ports.allocate(ip)?;
        let two = ports.allocate(ip)?;
        let addr = |s: &UdpSocket| s.local_addr().map_err(|source| MediaError::Register { addr: SocketAddr::new(ip, 0), source });
        let local = [addr(&one.rtp)?, addr(&two.rtp)?];
        let fork = Fork { sockets: [one.rtp, two.rtp], _rtcp: [one.rtcp, two.rtcp], local, dest: Default::default(), stopped: AtomicBool::new(false) };
        Ok((fork, [one.lease, two.lease]))
    }

    /// Our addresses of stream 1 and stream 2 (what goes into the offer).
    pub fn local(&self) -> [SocketAddr; 2] {
        self.local
    }

    /// Where the streams go; `[None, None]` stops the fork for good (the server ended it).
    pub fn set_destinations(&self, to: [Option<SocketAddr>; 2]) {
        if to.iter().all(Option::is_none) {
            self.stopped.store(true, Relaxed);
            return;
        }
        for (slot, to) in self.dest.iter().zip(to) {
            if let Some(to) = to {
                let _ = slot.set(to);
            }
        }
    }

    /// Sends a copy of an RTP packet `side` sent (RTCP multiplexed on the RTP port is not
    /// forked); never waits. `Some(sent)` when a copy was attempted: the relay counts these per
    /// batch into `ncgw_siprec_fork_packets_total`.
    pub fn send(&self, side: Side, data: &[u8]) -> Option<bool> {
        let i = usize::from(side == Side::B);
        let to = self.dest[i].get()?;
        if self.stopped.load(Relaxed) || super::rtp::classify(data) != super::rtp::PacketKind::Rtp {
            return None;
        }
        Some(self.sockets[i].send_to(data, to).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn copies_each_side_to_its_stream_and_stops_when_told() {
        let ports = PortAllocator::new(42_201..=42_230).unwrap();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (fork, leases) = Fork::open(&ports, lo).unwrap();
        assert_eq!(ports.in_use(), 4, "two RTP/RTCP pairs");
        let rx = [UdpSocket::bind((lo, 0)).unwrap(), UdpSocket::bind((lo, 0)).unwrap()];
        // Nothing goes anywhere before the server answered.
        let rtp = |s: &[u8]| [&[0x80u8, 8][..], s].concat();
        fork.send(Side::A, &rtp(b"early"));
        fork.set_destinations([Some(rx[0].local_addr().unwrap()), Some(rx[1].local_addr().unwrap())]);
        fork.send(Side::A, &[0x80, 200, 0, 1]); // RTCP on the RTP port: not forked
        fork.send(Side::A, &rtp(b"from a"));
        fork.send(Side::B, &rtp(b"from b"));
        let mut buf = [0u8; 64];
        for (sock, (want, from)) in rx.iter().zip([(rtp(b"from a"), fork.local()[0]), (rtp(b"from b"), fork.local()[1])]) {
            sock.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
            let (n, src) = sock.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], src), (&want[..], from));
        }
        fork.set_destinations([None, None]);
        fork.send(Side::A, &rtp(b"late"));
        rx[0].set_nonblocking(true).unwrap();
        assert!(rx[0].recv_from(&mut buf).is_err(), "nothing after the stop");
        drop(leases);
        assert_eq!(ports.in_use(), 0);
    }

    /// Through the engine: each relayed packet reaches its stream's server address after it
    /// reached the other side, and the fork's ports close with the session.
    #[tokio::test]
    async fn the_engine_forks_relayed_packets_and_frees_the_ports_on_close() {
        use crate::media::engine::MediaEngine;
        use crate::media::relay::{RelayConfig, Remote};
        use tokio::net::UdpSocket as TokioUdp;
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut engine = MediaEngine::new(42_300..=42_339, lo, RelayConfig::default()).unwrap();
        let info = engine.open_session("fork-test").unwrap();
        let sock = || async { TokioUdp::bind((lo, 0)).await.unwrap() };
        let (pa, pb, srs1, srs2) = (sock().await, sock().await, sock().await, sock().await);
        for (side, p) in [(Side::A, &pa), (Side::B, &pb)] {
            let remote = Remote { rtp: Some(p.local_addr().unwrap()), rtcp: None, clock_rate: 8000, hold: false };
            engine.set_remote(info.id, side, remote).unwrap();
        }
        let local = engine.open_fork(info.id).unwrap();
        assert_eq!(engine.open_fork(info.id).unwrap(), local, "one fork per session");
        assert_eq!(engine.ports().in_use(), 8);
        engine.set_fork(info.id, [Some(srs1.local_addr().unwrap()), Some(srs2.local_addr().unwrap())]).unwrap();
        let wait = std::time::Duration::from_secs(5);
        let sent_before = counters().sent.get();
        let mut buf = [0u8; 512];
        for seq in 0..5u16 {
            pa.send_to(&crate::media::testpkt::rtp(8, seq, 160 * u32::from(seq), 0xaaaa, false, &[1; 160]), info.a.rtp).await.unwrap();
            pb.send_to(&crate::media::testpkt::rtp(8, seq, 160 * u32::from(seq), 0xbbbb, false, &[2; 160]), info.b.rtp).await.unwrap();
            for (srs, from, ssrc) in [(&srs1, local[0], 0xaaaa), (&srs2, local[1], 0xbbbb)] {
                let (n, src) = tokio::time::timeout(wait, srs.recv_from(&mut buf)).await.expect("a forked packet").unwrap();
                let p = crate::media::rtp::RtpPacket::parse(&buf[..n]).unwrap();
                assert_eq!((src, p.ssrc(), p.sequence()), (from, ssrc, seq));
            }
        }
        // Counted per receive batch, right after the batch's sends (the counter is process-wide:
        // at least these ten).
        let counted = tokio::time::timeout(wait, async {
            while counters().sent.get() < sent_before + 10 {
                tokio::task::yield_now().await;
            }
        });
        counted.await.expect("the ten copies are counted");
        engine.close(info.id).unwrap();
        assert_eq!(engine.ports().in_use(), 0);
    }
}
