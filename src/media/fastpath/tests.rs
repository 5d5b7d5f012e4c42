//! The fast path against the real kernel on loopback: A (peer) → X (our socket) is forwarded by the
//! program to B (the other peer) as if sent from Y (our socket on the other leg).
//!
//! These need root (CAP_BPF + CAP_NET_ADMIN); where `open` answers NotPermitted or Unsupported the
//! test prints why and passes without checking anything — the only case allowed to skip.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::{FastPath, FastPathError, Rule};

const SSRC: u32 = 0x0bad_cafe;

fn open() -> Option<FastPath> {
    match FastPath::open(IpAddr::V4(Ipv4Addr::LOCALHOST), 64) {
        Ok(fp) => Some(fp),
        Err(e @ (FastPathError::NotPermitted { .. } | FastPathError::Unsupported { .. })) => {
            eprintln!("kernel fast path not available here, test skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// A loopback socket whose reads wait at most two seconds (bounded waits, no sleeps).
fn sock() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn v4(s: &UdpSocket) -> SocketAddrV4 {
    match s.local_addr().unwrap() {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("{a}"),
    }
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = s.recv_from(&mut buf).unwrap_or_else(|e| panic!("nothing arrived at {}: {e}", v4(s)));
    (buf[..n].to_vec(), from)
}

/// Asserts that nothing is queued on `s` (called once the packet in question arrived elsewhere,
/// so it can no longer come here).
fn assert_empty(s: &UdpSocket) {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    let r = s.recv_from(&mut buf);
    s.set_nonblocking(false).unwrap();
    match r {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("{} received {other:?}", v4(s)),
    }
}

/// Peer A, our sockets X and Y, peer B; a rule for X: A's RTP goes to B from Y.
struct Legs {
    a: UdpSocket,
    x: UdpSocket,
    y: UdpSocket,
    b: UdpSocket,
}

impl Legs {
    fn new() -> Legs {
        Legs { a: sock(), x: sock(), y: sock(), b: sock() }
    }
    fn rule(&self) -> Rule {
        Rule { from: v4(&self.a), ssrc: SSRC, via: v4(&self.y), to: v4(&self.b) }
    }
}

#[test]
fn forwards_rtp_from_the_latched_peer_counts_it_and_stops_on_remove() {
    let Some(fp) = open() else { return };
    assert_eq!(fp.interfaces(), ["lo"]);
    let l = Legs::new();
    fp.install(v4(&l.x), &l.rule()).unwrap();
    assert_eq!(fp.read(v4(&l.x)).unwrap(), Some(Default::default()));
    let unbound = Rule { via: "0.0.0.0:4000".parse().unwrap(), ..l.rule() };
    assert!(matches!(fp.install(v4(&l.x), &unbound), Err(FastPathError::InvalidRule { what: "via", .. })));
    let before = FastPath::now_ns();

    let payload: Vec<u8> = (0..160u32).map(|i| (i * 7) as u8).collect();
    let p1 = rtp(0, 1000, 160_000, SSRC, &payload);
    let p2 = rtp(0, 1001, 160_160, SSRC, &payload);
    l.a.send_to(&p1, v4(&l.x)).unwrap();
    l.a.send_to(&p2, v4(&l.x)).unwrap();
    let (got1, from) = recv(&l.b);
    assert_eq!(from, SocketAddr::V4(v4(&l.y)), "B sees our other-leg socket as the source");
    assert_eq!(got1, p1, "header and payload byte-identical");
    assert_eq!(recv(&l.b).0, p2);
    assert_empty(&l.x);
    assert_empty(&l.y);

    let c = fp.read(v4(&l.x)).unwrap().unwrap();
    assert_eq!(c.packets, 2);
    assert_eq!(c.bytes, (p1.len() + p2.len()) as u64, "UDP payload bytes");
    assert_eq!((c.last_seq, c.last_ts), (1001, 160_160));
    assert!(c.last_ns >= before && c.last_ns <= FastPath::now_ns(), "{} not in the test's window", c.last_ns);

    let fin = fp.remove(v4(&l.x)).unwrap().unwrap();
    assert_eq!(fin, c);
    assert_eq!(fp.remove(v4(&l.x)).unwrap(), None);
    assert_eq!(fp.read(v4(&l.x)).unwrap(), None);
    let p3 = rtp(0, 1002, 160_320, SSRC, &payload);
    l.a.send_to(&p3, v4(&l.x)).unwrap();
    assert_eq!(recv(&l.x), (p3, SocketAddr::V4(v4(&l.a))), "after remove, userspace gets it");
    assert_empty(&l.b);
}

#[test]
fn everything_but_the_offloaded_stream_goes_to_userspace() {
    let Some(fp) = open() else { return };
    let l = Legs::new();
    fp.install(v4(&l.x), &l.rule()).unwrap();
    let x = v4(&l.x);
    let stranger = sock();
    let cases: [(&str, &UdpSocket, Vec<u8>); 5] = [
        ("a foreign source", &stranger, rtp(0, 1, 0, SSRC, &[1; 20])),
        ("another SSRC", &l.a, rtp(0, 2, 0, SSRC ^ 1, &[2; 20])),
        ("RTCP-mux (PT 200, SR)", &l.a, rtp(200, 3, 0, SSRC, &[3; 20])),
        ("RTCP-mux (PT 72 with marker = RR 201)", &l.a, rtp(0x80 | 73, 4, 0, SSRC, &[4; 20])),
        ("not RTP", &l.a, b"hello, this is not RTP at all".to_vec()),
    ];
    for (what, from, pkt) in cases {
        from.send_to(&pkt, x).unwrap();
        assert_eq!(recv(&l.x), (pkt, from.local_addr().unwrap()), "{what}: userspace must get it");
        assert_empty(&l.b);
    }
    // Too short for an RTP header: not even looked at.
    l.a.send_to(&[0x80, 0, 0, 1], x).unwrap();
    assert_eq!(recv(&l.x).0, [0x80, 0, 0, 1]);
    assert_eq!(fp.read(x).unwrap().unwrap().packets, 0);
    // And the stream itself still goes through.
    let p = rtp(8, 7, 7, SSRC, &[5; 20]);
    l.a.send_to(&p, x).unwrap();
    assert_eq!(recv(&l.b).0, p);
}

/// A sender using UDP GSO (UDP_SEGMENT) hands loopback one skb for several datagrams; the program
/// must leave such super-packets to the stack (it would count one packet and rewrite only the
/// first header's view of them).
#[test]
fn gso_super_packets_go_to_userspace() {
    let Some(fp) = open() else { return };
    let l = Legs::new();
    fp.install(v4(&l.x), &l.rule()).unwrap();
    let seg: libc::c_int = 172;
    // SAFETY: a valid socket fd and a c_int option value (UDP_SEGMENT = 103, Linux 4.18+).
    let r = unsafe {
        libc::setsockopt(
            l.a.as_raw_fd(),
            libc::SOL_UDP,
            103,
            &seg as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "UDP_SEGMENT: {}", std::io::Error::last_os_error());
    let mut two = rtp(0, 10, 10, SSRC, &[1; 160]);
    two.extend_from_slice(&rtp(0, 11, 11, SSRC, &[2; 160]));
    l.a.send_to(&two, v4(&l.x)).unwrap();
    assert_eq!(recv(&l.x).0, two[..172]);
    assert_eq!(recv(&l.x).0, two[172..]);
    assert_eq!(fp.read(v4(&l.x)).unwrap().unwrap().packets, 0);
    assert_empty(&l.b);
}

/// Raises the receive buffer past rmem_max (root: SO_RCVBUFFORCE) so a burst is not dropped.
fn big_rcvbuf(s: &UdpSocket) {
    let size: libc::c_int = 8 << 20;
    // SAFETY: a valid socket fd and a c_int option value of the given size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &size as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
}

#[test]
fn a_burst_of_1000_packets_arrives_complete_and_in_order() {
    let Some(fp) = open() else { return };
    let l = Legs::new();
    big_rcvbuf(&l.b);
    fp.install(v4(&l.x), &l.rule()).unwrap();
    for seq in 0..1000u16 {
        l.a.send_to(&rtp(0, seq, seq as u32 * 160, SSRC, &[seq as u8; 160]), v4(&l.x)).unwrap();
    }
    for seq in 0..1000u16 {
        let (p, _) = recv(&l.b);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), seq);
        assert_eq!(p.len(), 172);
    }
    let c = fp.read(v4(&l.x)).unwrap().unwrap();
    assert_eq!((c.packets, c.bytes, c.last_seq, c.last_ts), (1000, 172_000, 999, 999 * 160));
    assert_empty(&l.x);
}

#[test]
fn dropping_the_fast_path_detaches_it() {
    let Some(fp) = open() else { return };
    let l = Legs::new();
    fp.install(v4(&l.x), &l.rule()).unwrap();
    let p = rtp(0, 1, 1, SSRC, &[9; 40]);
    l.a.send_to(&p, v4(&l.x)).unwrap();
    assert_eq!(recv(&l.b).0, p);
    drop(fp);
    l.a.send_to(&p, v4(&l.x)).unwrap();
    assert_eq!(recv(&l.x).0, p, "with the links closed the packet reaches our socket");
    assert_empty(&l.b);
}

/// One's-complement sum over 16-bit words.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    for ch in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([ch[0], *ch.get(1).unwrap_or(&0)]));
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// An IPv4/UDP datagram from `from` to `to`, built by hand for a raw socket; `csum` picks the UDP
/// checksum: `Some(true)` correct, `Some(false)` wrong, `None` zero ("no checksum").
fn datagram(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8], csum: Option<bool>) -> Vec<u8> {
    let udp_len = 8 + payload.len() as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
    ip.extend_from_slice(&from.ip().octets());
    ip.extend_from_slice(&to.ip().octets());
    let ip_csum = fold(sum16(&ip, 0));
    ip[10..12].copy_from_slice(&ip_csum.to_be_bytes());
    let mut udp = Vec::new();
    udp.extend_from_slice(&from.port().to_be_bytes());
    udp.extend_from_slice(&to.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&from.ip().octets());
    pseudo.extend_from_slice(&to.ip().octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&udp_len.to_be_bytes());
    let mut c = fold(sum16(&udp, sum16(&pseudo, 0)));
    if c == 0 {
        c = 0xffff;
    }
    let c = match csum {
        Some(true) => c,
        Some(false) => c ^ 0x5a5a,
        None => 0,
    };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&udp);
    ip
}

/// Loopback skbs from a UDP socket are CHECKSUM_PARTIAL: the receiver trusts them, so they prove
/// nothing about our checksum arithmetic. A raw IP_HDRINCL socket sends CHECKSUM_NONE skbs carrying
/// a full checksum that B's kernel verifies in software before queueing (it drops a bad one). So:
/// a datagram with a wrong checksum, forwarded, must NOT reach B (the kernel does check); one with
/// a right checksum, forwarded with rewritten addresses and ports, must (our incremental update of
/// the IPv4 and UDP checksums is right); one with checksum 0 must too (it stays "none",
/// BPF_F_MARK_MANGLED_0). B reading exactly the good and the zero one, in order, proves all three.
#[test]
fn udp_checksums_stay_valid_across_the_rewrite() {
    let Some(fp) = open() else { return };
    let l = Legs::new();
    fp.install(v4(&l.x), &l.rule()).unwrap();
    // SAFETY: plain socket(2); the fd is owned by the OwnedFd below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    assert!(raw >= 0, "raw socket: {}", std::io::Error::last_os_error());
    // SAFETY: raw is a fresh fd we own.
    let raw = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let send = |pkt: &[u8]| {
        let dst = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(Ipv4Addr::LOCALHOST.octets()) },
            sin_zero: [0; 8],
        };
        // SAFETY: valid buffer and sockaddr_in of the given sizes.
        let n = unsafe {
            libc::sendto(
                raw.as_raw_fd(),
                pkt.as_ptr() as *const libc::c_void,
                pkt.len(),
                0,
                &dst as *const libc::sockaddr_in as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        assert_eq!(n, pkt.len() as isize, "sendto: {}", std::io::Error::last_os_error());
    };
    let bad = rtp(0, 1, 1, SSRC, &[0xbb; 33]);
    let good = rtp(0, 2, 2, SSRC, &[0x99; 33]);
    let zero = rtp(0, 3, 3, SSRC, &[0x77; 33]);
    send(&datagram(v4(&l.a), v4(&l.x), &bad, Some(false)));
    send(&datagram(v4(&l.a), v4(&l.x), &good, Some(true)));
    send(&datagram(v4(&l.a), v4(&l.x), &zero, None));
    assert_eq!(recv(&l.b), (good, SocketAddr::V4(v4(&l.y))), "the bad one was dropped, the good one passed");
    assert_eq!(recv(&l.b).0, zero, "a zero checksum stays zero");
    assert_eq!(fp.read(v4(&l.x)).unwrap().unwrap().packets, 3, "all three went through the program");
    assert_empty(&l.x);
}

/// Several ncgw processes each attach their own program to lo: a packet no rule of the first one
/// matches reaches the second. A map of one rule refuses a second one with Full.
#[test]
fn two_fast_paths_on_one_interface_and_a_full_map() {
    let Some(first) = open() else { return };
    let second = match FastPath::open(IpAddr::V4(Ipv4Addr::LOCALHOST), 1) {
        Ok(fp) => fp,
        Err(e) => panic!("the second attach failed where the first worked: {e}"),
    };
    let (l, m) = (Legs::new(), Legs::new());
    first.install(v4(&l.x), &l.rule()).unwrap();
    second.install(v4(&m.x), &m.rule()).unwrap();
    assert!(matches!(second.install(v4(&l.x), &l.rule()), Err(FastPathError::Full)));
    // Replacing the one rule there is still fine.
    second.install(v4(&m.x), &m.rule()).unwrap();
    let p = rtp(0, 5, 5, SSRC, &[6; 30]);
    l.a.send_to(&p, v4(&l.x)).unwrap();
    m.a.send_to(&p, v4(&m.x)).unwrap();
    assert_eq!(recv(&l.b).0, p);
    assert_eq!(recv(&m.b).0, p);
    assert_eq!(first.read(v4(&l.x)).unwrap().unwrap().packets, 1);
    assert_eq!(second.read(v4(&m.x)).unwrap().unwrap().packets, 1);
    assert_eq!(first.read(v4(&m.x)).unwrap(), None);
}
