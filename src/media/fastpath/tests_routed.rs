//! The routed path (FIB lookup, MAC rewrite, redirect out of another interface) on real devices:
//! two veth pairs to two network namespaces, peer A in one, peer B in the other, our sockets X and
//! Y on the host ends. Needs root and `ip` (iproute2); skips only where `open` says it may not run.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use super::{FastPath, FastPathError, Rule};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("`ip` (Debian package iproute2) is needed");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// Host ends h1 (A's side) and h2 (B's side); namespaces and veths go away on drop.
struct Topo {
    ns_a: String,
    ns_b: String,
    h1: String,
    h2: String,
    subnet: u8,
}

impl Topo {
    fn new() -> Topo {
        let id = std::process::id();
        let subnet = (id % 250) as u8 + 1;
        let (h1, h2) = (format!("fph1-{id}"), format!("fph2-{id}"));
        let t = Topo { ns_a: format!("ncgw-fpa-{id}"), ns_b: format!("ncgw-fpb-{id}"), h1, h2: h2.clone(), subnet };
        let (a, b) = (t.addr(1, 2).ip().to_string(), t.addr(2, 2).ip().to_string());
        let (x, y) = (t.addr(1, 1).ip().to_string(), t.addr(2, 1).ip().to_string());
        ip(&["netns", "add", &t.ns_a]);
        ip(&["netns", "add", &t.ns_b]);
        ip(&["link", "add", &t.h1, "type", "veth", "peer", "name", "a1", "netns", &t.ns_a]);
        ip(&["link", "add", &h2, "type", "veth", "peer", "name", "b1", "netns", &t.ns_b]);
        ip(&["addr", "add", &format!("{x}/24"), "dev", &t.h1]);
        ip(&["addr", "add", &format!("{y}/24"), "dev", &h2]);
        ip(&["link", "set", &t.h1, "up"]);
        ip(&["link", "set", &h2, "up"]);
        ip(&["-n", &t.ns_a, "addr", "add", &format!("{a}/24"), "dev", "a1"]);
        ip(&["-n", &t.ns_b, "addr", "add", &format!("{b}/24"), "dev", "b1"]);
        ip(&["-n", &t.ns_a, "link", "set", "a1", "up"]);
        ip(&["-n", &t.ns_b, "link", "set", "b1", "up"]);
        t
    }

    /// 10.201.subnet.host (side 1, A's) or 10.202.subnet.host (side 2, B's), port 0.
    fn addr(&self, side: u8, host: u8) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 200 + side, self.subnet, host), 0)
    }

    fn forwarding(&self, on: bool) {
        std::fs::write(format!("/proc/sys/net/ipv4/conf/{}/forwarding", self.h1), if on { "1" } else { "0" }).unwrap();
    }

    /// A socket bound in namespace `ns` (None: the host's).
    fn sock(&self, ns: Option<&str>, at: SocketAddrV4) -> UdpSocket {
        let path = ns.map(|n| format!("/run/netns/{n}"));
        let s = std::thread::spawn(move || {
            if let Some(path) = path {
                let f = File::open(&path).unwrap();
                // SAFETY: setns on this short-lived thread only; the socket keeps the namespace.
                assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns {path}");
            }
            UdpSocket::bind(at).unwrap()
        })
        .join()
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        // Deleting a host end deletes the pair at once (a namespace's own clean-up is deferred).
        for dev in [&self.h1, &self.h2] {
            let _ = Command::new("ip").args(["link", "del", dev]).output();
        }
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn v4(s: &UdpSocket) -> SocketAddrV4 {
    match s.local_addr().unwrap() {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("{a}"),
    }
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = s.recv_from(&mut buf).unwrap_or_else(|e| panic!("nothing arrived at {}: {e}", v4(s)));
    (buf[..n].to_vec(), from)
}

#[test]
fn routed_rtp_leaves_by_the_fib_interface_with_the_neighbour_mac() {
    let t = Topo::new();
    let fp = match FastPath::open(t.addr(1, 1).ip().to_owned().into(), 16) {
        Ok(fp) => fp,
        Err(e @ (FastPathError::NotPermitted { .. } | FastPathError::Unsupported { .. })) => {
            eprintln!("kernel fast path not available here, test skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(fp.interfaces(), std::slice::from_ref(&t.h1), "attached where X's address lives");
    let a = t.sock(Some(&t.ns_a), t.addr(1, 2));
    let b = t.sock(Some(&t.ns_b), t.addr(2, 2));
    let x = t.sock(None, t.addr(1, 1));
    let y = t.sock(None, t.addr(2, 1));

    // Userspace has talked to B already (as the relay would have), so the host knows B's MAC:
    // without a neighbour entry the FIB answers NO_NEIGH and the packet goes to userspace.
    y.send_to(b"warm-up", v4(&b)).unwrap();
    assert_eq!(recv(&b).0, b"warm-up");

    let ssrc = 0x5151_0001;
    fp.install(v4(&x), &Rule { from: v4(&a), ssrc, via: v4(&y), to: v4(&b) }).unwrap();
    let pkt = |seq: u16| {
        let mut p = vec![0x80, 0];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(seq as u32 * 160).to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[seq as u8; 160]);
        p
    };

    // Forwarding off on A's interface: the FIB says FWD_DISABLED, the packet reaches X untouched.
    t.forwarding(false);
    assert_eq!(fp.forwarding_disabled(), std::slice::from_ref(&t.h1));
    a.send_to(&pkt(1), v4(&x)).unwrap();
    assert_eq!(recv(&x), (pkt(1), SocketAddr::V4(v4(&a))));
    assert_eq!(fp.read(v4(&x)).unwrap().unwrap().packets, 0);

    // Forwarding on: out of h2 to B's MAC, from Y.
    t.forwarding(true);
    assert!(fp.forwarding_disabled().is_empty());
    a.send_to(&pkt(2), v4(&x)).unwrap();
    a.send_to(&pkt(3), v4(&x)).unwrap();
    assert_eq!(recv(&b), (pkt(2), SocketAddr::V4(v4(&y))));
    assert_eq!(recv(&b), (pkt(3), SocketAddr::V4(v4(&y))));
    let c = fp.read(v4(&x)).unwrap().unwrap();
    assert_eq!((c.packets, c.bytes, c.last_seq), (2, 2 * 172, 3));
    x.set_nonblocking(true).unwrap();
    assert!(x.recv_from(&mut [0u8; 64]).is_err(), "X got a forwarded packet");
}
