//! RTP port pairs: an even RTP port and the odd RTCP port above it (RFC 3550 §11), handed out
//! round-robin from the configured range and returned when their lease is dropped.
//!
//! Round-robin rather than lowest-free keeps a just-released port out of use for as long as
//! possible, so late packets of an ended call do not land in a new one. A pair that fails to bind
//! (another process holds a port) is skipped and stays in the pool for the next round.
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard};

use super::MediaError;
use crate::metrics::metrics;

/// Socket buffers for one RTP socket: a few hundred milliseconds of video at a burst.
const SOCKET_BUFFER: usize = 256 << 10;

#[derive(Debug)]
struct Pool {
    range: RangeInclusive<u16>,
    first: u16,
    used: Vec<bool>,
    cursor: usize,
    in_use: usize,
    /// Leases parked with a closed session's sockets kept bound (`media::warm`).
    warm: usize,
}

/// The allocator; clones share one pool.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    pool: Arc<Mutex<Pool>>,
}

/// A bound RTP/RTCP socket pair (non-blocking std sockets) and the lease on its ports.
#[derive(Debug)]
pub struct PortPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub lease: PortLease,
}

/// Holds a port pair; dropping it returns the pair to the pool, on every path.
#[derive(Debug)]
pub struct PortLease {
    pool: Arc<Mutex<Pool>>,
    rtp_port: u16,
    /// Held by a closed session's kept sockets, not by a session: counted as warm, not in use.
    parked: bool,
}

impl PortLease {
    /// The even RTP port; RTCP is the next one.
    pub fn rtp_port(&self) -> u16 {
        self.rtp_port
    }

    /// The pair stays reserved but no session holds it (its sockets wait for the next session).
    pub fn park(&mut self) {
        if !std::mem::replace(&mut self.parked, true) {
            let mut pool = lock(&self.pool);
            pool.in_use -= 1;
            pool.warm += 1;
            metrics().rtp_ports_in_use.sub(2);
            metrics().rtp_ports_warm.add(2);
        }
    }

    /// A session holds the pair again.
    pub fn unpark(&mut self) {
        if std::mem::replace(&mut self.parked, false) {
            let mut pool = lock(&self.pool);
            pool.warm -= 1;
            pool.in_use += 1;
            metrics().rtp_ports_warm.sub(2);
            metrics().rtp_ports_in_use.add(2);
        }
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut pool = lock(&self.pool);
        let i = usize::from((self.rtp_port - pool.first) / 2);
        if let Some(slot) = pool.used.get_mut(i) {
            if std::mem::replace(slot, false) {
                if self.parked {
                    pool.warm -= 1;
                    metrics().rtp_ports_warm.sub(2);
                } else {
                    pool.in_use -= 1;
                    metrics().rtp_ports_in_use.sub(2);
                }
            }
        }
    }
}

fn lock(pool: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    // The pool's invariants hold between statements, so a panic elsewhere cannot leave it torn.
    pool.lock().unwrap_or_else(|e| e.into_inner())
}

impl PortAllocator {
    pub fn new(range: RangeInclusive<u16>) -> Result<PortAllocator, MediaError> {
        let (start, end) = (u32::from(*range.start()), u32::from(*range.end()));
        let first = start.max(2) + start.max(2) % 2;
        let pairs = if end > first { (end - first).div_ceil(2) as usize } else { 0 };
        if pairs == 0 {
            return Err(MediaError::EmptyRange { range });
        }
        let pool = Pool { range, first: first as u16, used: vec![false; pairs], cursor: 0, in_use: 0, warm: 0 };
        Ok(PortAllocator { pool: Arc::new(Mutex::new(pool)) })
    }

    /// Binds the next free pair on `ip`, trying every pair at most once.
    pub fn allocate(&self, ip: IpAddr) -> Result<PortPair, MediaError> {
        let pairs = lock(&self.pool).used.len();
        for _ in 0..pairs {
            let Some(port) = self.reserve() else { break };
            let lease = PortLease { pool: self.pool.clone(), rtp_port: port, parked: false };
            match (bind(SocketAddr::new(ip, port)), bind(SocketAddr::new(ip, port + 1))) {
                (Ok(rtp), Ok(rtcp)) => return Ok(PortPair { rtp, rtcp, lease }),
                // The lease drops here and frees the pair for a later round.
                _ => continue,
            }
        }
        Err(MediaError::PortsExhausted { range: lock(&self.pool).range.clone() })
    }

    /// Marks the next free pair after the cursor as used.
    fn reserve(&self) -> Option<u16> {
        let mut pool = lock(&self.pool);
        let n = pool.used.len();
        let i = (0..n).map(|k| (pool.cursor + k) % n).find(|&i| !pool.used[i])?;
        pool.used[i] = true;
        pool.in_use += 1;
        pool.cursor = (i + 1) % n;
        metrics().rtp_ports_in_use.add(2);
        Some(pool.first + 2 * i as u16)
    }

    /// Ports held by sessions (two per pair).
    pub fn in_use(&self) -> usize {
        2 * lock(&self.pool).in_use
    }

    /// Ports of ended sessions kept bound for the next ones (two per pair).
    pub fn warm(&self) -> usize {
        2 * lock(&self.pool).warm
    }

    /// How many pairs the range holds.
    pub fn capacity(&self) -> usize {
        lock(&self.pool).used.len()
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv6() { socket2::Domain::IPV6 } else { socket2::Domain::IPV4 };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn hands_out_even_pairs_round_robin_and_takes_them_back() {
        let ports = PortAllocator::new(42_101..=42_108).unwrap();
        assert_eq!(ports.capacity(), 3); // 42102, 42104, 42106 (42108 has no odd partner in range)
        let a = ports.allocate(LO).unwrap();
        let b = ports.allocate(LO).unwrap();
        assert_eq!((a.lease.rtp_port(), b.lease.rtp_port()), (42_102, 42_104));
        assert_eq!(a.rtcp.local_addr().unwrap().port(), 42_103);
        assert_eq!(ports.in_use(), 4);
        drop(a);
        assert_eq!(ports.in_use(), 2);
        // Round-robin: the next pair is the unused one after the cursor, not the one just freed.
        let c = ports.allocate(LO).unwrap();
        assert_eq!(c.lease.rtp_port(), 42_106);
        let d = ports.allocate(LO).unwrap();
        assert_eq!(d.lease.rtp_port(), 42_102);
        assert!(matches!(ports.allocate(LO), Err(MediaError::PortsExhausted { .. })));
        drop((b, c, d));
        assert_eq!(ports.in_use(), 0);
    }

    #[test]
    fn skips_a_pair_another_socket_holds() {
        let squatter = UdpSocket::bind((LO, 42_123)).unwrap();
        let ports = PortAllocator::new(42_120..=42_125).unwrap();
        let a = ports.allocate(LO).unwrap();
        let b = ports.allocate(LO).unwrap();
        assert_eq!((a.lease.rtp_port(), b.lease.rtp_port()), (42_120, 42_124));
        assert!(ports.allocate(LO).is_err());
        drop(squatter);
        drop(a);
        assert_eq!(ports.in_use(), 2);
        // The skipped pair was never lost: it binds now.
        let c = ports.allocate(LO).unwrap();
        let d = ports.allocate(LO).unwrap();
        let mut got = [c.lease.rtp_port(), d.lease.rtp_port()];
        got.sort();
        assert_eq!(got, [42_120, 42_122]);
    }

    #[test]
    fn refuses_a_range_without_a_pair() {
        assert!(matches!(PortAllocator::new(3000..=3000), Err(MediaError::EmptyRange { .. })));
        assert!(matches!(PortAllocator::new(65_535..=65_535), Err(MediaError::EmptyRange { .. })));
        assert_eq!(PortAllocator::new(0..=3).unwrap().capacity(), 1);
    }
}
