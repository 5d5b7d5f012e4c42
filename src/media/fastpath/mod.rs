//! In-kernel RTP fast path: an eBPF program at tcx ingress forwards the steady-state RTP of a
//! relayed stream without waking userspace, the way rtpengine's kernel module does.
//!
//! Design. One hash map, keyed by our local socket (`daddr:dport` of incoming packets), holds a
//! [`Rule`] and its [`Counters`] (layout in `program.rs`). The program matches IPv4/UDP without
//! options or fragments, RTP version 2 that is not RTCP-mux, from exactly the latched peer and with
//! the rule's SSRC; it rewrites source to `via` and destination to `to` (IPv4 and UDP checksums
//! fixed with the kernel's csum helpers, so CHECKSUM_PARTIAL skbs from loopback and
//! CHECKSUM_COMPLETE/NONE skbs from a NIC both come out right) and counts the packet. When `to` is
//! loopback (and the packet came in on lo) it then simply continues up the stack to the socket now
//! named in its header; otherwise it is redirected out of the interface and to the MAC that
//! `bpf_fib_lookup` names. Anything else, and any FIB answer but success, continues unchanged
//! (TCX_NEXT) to our socket, where the userspace relay handles it as before.
//!
//! No clang is available, so the program is assembled in Rust (`asm.rs`, `program.rs`) and loaded
//! with the raw bpf(2) syscall (`sys.rs`); aya and libbpf both need an ELF object from clang or a
//! nightly bpf-linker. The program, the map and the tcx links are plain fds owned by [`FastPath`]:
//! dropping it, or the process dying by any signal, detaches everything.
//!
//! Notes for the caller: packets already queued in the local socket when a rule is installed are
//! still read by userspace; the routed path needs IPv4 forwarding enabled on the ingress interface
//! (`net.ipv4.conf.<if>.forwarding=1`), otherwise the FIB lookup answers "forwarding disabled" and
//! every packet goes to userspace (counters stay at 0); `FastPath::forwarding_disabled` names such
//! interfaces for the start-up log.

mod asm;
mod program;
mod sys;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_routed;

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};

use program::{KEY_SIZE, VALUE_SIZE};

/// Why the fast path could not be set up or updated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FastPathError {
    /// The host cannot run it (no bpf(2), no tcx, an IPv6 bind, no interface for the address):
    /// the caller relays in userspace.
    #[error("kernel fast path unsupported: {reason}")]
    Unsupported { reason: String },
    /// We may not load programs or attach them (not root / no CAP_BPF + CAP_NET_ADMIN).
    #[error("kernel fast path not permitted ({op}): {source}")]
    NotPermitted { op: &'static str, source: io::Error },
    /// The verifier refused the program: a bug in `program.rs`; the log says why.
    #[error("the verifier refused the fast-path program:\n{log}")]
    Verifier { log: String },
    /// A bpf(2) call failed for another reason.
    #[error("bpf {op}: {source}")]
    Syscall { op: &'static str, source: io::Error },
    /// The rule map holds `max_entries` rules already.
    #[error("the fast-path rule map is full")]
    Full,
    /// A caller bug: an address of the rule (or the local socket) is unspecified or has port 0;
    /// packets never arrive at 0.0.0.0 and must not leave from it.
    #[error("fast-path rule for {local}: {what} is not a concrete address")]
    InvalidRule { local: SocketAddrV4, what: &'static str },
}

/// One offloaded direction of a relayed RTP stream, keyed by OUR local socket the peer sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The latched peer: only packets from exactly this source match.
    pub from: SocketAddrV4,
    /// And only RTP with this SSRC (host order; compared to the packet's).
    pub ssrc: u32,
    /// Our local socket on the other leg: the new source address.
    pub via: SocketAddrV4,
    /// The other leg's peer: the new destination.
    pub to: SocketAddrV4,
}

/// What the kernel forwarded for one rule since it was installed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    /// UDP payload bytes (what userspace counts as data.len()).
    pub bytes: u64,
    /// bpf_ktime_get_ns() of the last packet (CLOCK_MONOTONIC); 0 = none.
    pub last_ns: u64,
    /// RTP sequence number of the last packet (host order).
    pub last_seq: u16,
    /// RTP timestamp of the last packet (host order).
    pub last_ts: u32,
}

/// A loaded fast path: one program + one hash map, attached at tcx ingress of some interfaces.
/// Send + Sync; every method is one or two bpf() syscalls; dropping it detaches everything (the
/// links and the map go with the fds, so a kill -9 leaves nothing behind).
#[derive(Debug)]
pub struct FastPath {
    // Field order is drop order: links first, then the program and the map.
    _links: Vec<OwnedFd>,
    _prog: OwnedFd,
    map: OwnedFd,
    interfaces: Vec<String>,
}

impl FastPath {
    /// Loads the program, creates the map (max_entries), attaches at tcx ingress of every interface
    /// that can carry packets for `bind` (loopback ip → "lo"; unspecified → every interface that is
    /// up; else the interface holding that address, found with getifaddrs). IPv6 bind → Unsupported.
    pub fn open(bind: IpAddr, max_entries: u32) -> Result<FastPath, FastPathError> {
        let IpAddr::V4(bind) = bind else {
            return Err(FastPathError::Unsupported { reason: "the fast path is IPv4 only".into() });
        };
        let names = interfaces_for(bind)?;
        let map = sys::map_create_hash("ncgw_fp_rules", KEY_SIZE as u32, VALUE_SIZE as u32, max_entries.max(1))
            .map_err(|e| load_error("map create", e))?;
        let insns = program::build(map.as_raw_fd())
            .map_err(|e| FastPathError::Verifier { log: format!("assembler: {e}") })?;
        let prog = sys::prog_load(sys::PROG_TYPE_SCHED_CLS, "ncgw_fastpath", &insns, "GPL").map_err(|e| {
            if e.log.trim().is_empty() {
                load_error("prog load", e.source)
            } else {
                FastPathError::Verifier { log: e.log }
            }
        })?;
        let mut links = Vec::with_capacity(names.len());
        for name in &names {
            let cname = std::ffi::CString::new(name.as_str())
                .map_err(|_| FastPathError::Unsupported { reason: format!("interface name {name:?}") })?;
            // SAFETY: cname is a valid NUL-terminated string.
            let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
            if ifindex == 0 {
                return Err(FastPathError::Unsupported { reason: format!("interface {name} vanished") });
            }
            let link = sys::link_create(&prog, ifindex, sys::ATTACH_TCX_INGRESS)
                .map_err(|e| load_error("tcx attach", e))?;
            links.push(link);
        }
        Ok(FastPath { _links: links, _prog: prog, map, interfaces: names })
    }

    /// Installs (or replaces) the rule for `local`; its counters start at 0.
    /// Every address must be concrete (a socket bound to 0.0.0.0 is named by the address its
    /// peer uses, the one in our SDP).
    pub fn install(&self, local: SocketAddrV4, rule: &Rule) -> Result<(), FastPathError> {
        for (what, addr) in [("local", local), ("from", rule.from), ("via", rule.via), ("to", rule.to)] {
            if addr.ip().is_unspecified() || addr.port() == 0 {
                return Err(FastPathError::InvalidRule { local, what });
            }
        }
        let value = encode(rule);
        sys::map_update(&self.map, &key(local), &value).map_err(|e| match e.raw_os_error() {
            Some(libc::E2BIG) | Some(libc::ENOMEM) => FastPathError::Full,
            _ => FastPathError::Syscall { op: "map update", source: e },
        })
    }

    /// The counters of the rule for `local`, `None` without one.
    pub fn read(&self, local: SocketAddrV4) -> Result<Option<Counters>, FastPathError> {
        let mut value = [0u8; VALUE_SIZE];
        let found = sys::map_lookup(&self.map, &key(local), &mut value)
            .map_err(|e| FastPathError::Syscall { op: "map lookup", source: e })?;
        Ok(found.then(|| decode(&value)))
    }

    /// Atomically removes the rule (MAP_LOOKUP_AND_DELETE_ELEM) and returns its final counters.
    pub fn remove(&self, local: SocketAddrV4) -> Result<Option<Counters>, FastPathError> {
        let mut value = [0u8; VALUE_SIZE];
        match sys::map_lookup_and_delete(&self.map, &key(local), &mut value) {
            Ok(found) => Ok(found.then(|| decode(&value))),
            // Kernels before 5.14 lack it for hash maps: read, then delete (a packet forwarded in
            // between is not counted).
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(ENOTSUPP)) => {
                let counters = self.read(local)?;
                sys::map_delete(&self.map, &key(local))
                    .map_err(|e| FastPathError::Syscall { op: "map delete", source: e })?;
                Ok(counters)
            }
            Err(e) => Err(FastPathError::Syscall { op: "map lookup and delete", source: e }),
        }
    }

    /// Where it is attached, for the start-up log.
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// The attached interfaces (other than lo) with IPv4 forwarding off, for the start-up log:
    /// there the FIB lookup answers "forwarding disabled" and routed streams stay in userspace.
    /// Fix: `sysctl net.ipv4.conf.<if>.forwarding=1`. (Loopback destinations need no forwarding.)
    pub fn forwarding_disabled(&self) -> Vec<String> {
        self.interfaces
            .iter()
            .filter(|name| name.as_str() != "lo")
            .filter(|name| {
                std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{name}/forwarding"))
                    .map(|v| v.trim() != "1")
                    .unwrap_or(true)
            })
            .cloned()
            .collect()
    }

    /// Monotonic now in the clock of `Counters::last_ns` (clock_gettime(CLOCK_MONOTONIC)).
    pub fn now_ns() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// The kernel's ENOTSUPP (524, "operation not supported" from bpf), which libc does not export.
const ENOTSUPP: i32 = 524;

/// Classifies a failure while setting up: permission and missing-feature errors let the caller
/// fall back to userspace quietly.
fn load_error(op: &'static str, e: io::Error) -> FastPathError {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => FastPathError::NotPermitted { op, source: e },
        Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) | Some(ENOTSUPP) => {
            FastPathError::Unsupported { reason: format!("{op}: {e}") }
        }
        _ => FastPathError::Syscall { op, source: e },
    }
}

fn key(local: SocketAddrV4) -> [u8; KEY_SIZE] {
    let mut k = [0u8; KEY_SIZE];
    k[0..4].copy_from_slice(&local.ip().octets());
    k[4..6].copy_from_slice(&local.port().to_be_bytes());
    k
}

fn encode(rule: &Rule) -> [u8; VALUE_SIZE] {
    use program::*;
    let mut v = [0u8; VALUE_SIZE];
    v[V_FROM_IP..V_FROM_IP + 4].copy_from_slice(&rule.from.ip().octets());
    v[V_FROM_PORT..V_FROM_PORT + 2].copy_from_slice(&rule.from.port().to_be_bytes());
    let flags = if rule.to.ip().is_loopback() { FLAG_LOCAL } else { 0 };
    v[V_FLAGS..V_FLAGS + 2].copy_from_slice(&flags.to_ne_bytes());
    v[V_SSRC..V_SSRC + 4].copy_from_slice(&rule.ssrc.to_be_bytes());
    v[V_VIA_IP..V_VIA_IP + 4].copy_from_slice(&rule.via.ip().octets());
    v[V_TO_IP..V_TO_IP + 4].copy_from_slice(&rule.to.ip().octets());
    v[V_VIA_PORT..V_VIA_PORT + 2].copy_from_slice(&rule.via.port().to_be_bytes());
    v[V_TO_PORT..V_TO_PORT + 2].copy_from_slice(&rule.to.port().to_be_bytes());
    v
}

fn decode(v: &[u8; VALUE_SIZE]) -> Counters {
    use program::*;
    let u64_at = |o: usize| u64::from_ne_bytes([v[o], v[o + 1], v[o + 2], v[o + 3], v[o + 4], v[o + 5], v[o + 6], v[o + 7]]);
    Counters {
        packets: u64_at(V_PACKETS),
        bytes: u64_at(V_BYTES),
        last_ns: u64_at(V_LAST_NS),
        last_seq: u16::from_be_bytes([v[V_LAST_SEQ], v[V_LAST_SEQ + 1]]),
        last_ts: u32::from_be_bytes([v[V_LAST_TS], v[V_LAST_TS + 1], v[V_LAST_TS + 2], v[V_LAST_TS + 3]]),
    }
}

/// The interfaces whose ingress can carry packets for a socket bound to `bind`.
fn interfaces_for(bind: Ipv4Addr) -> Result<Vec<String>, FastPathError> {
    if bind.is_loopback() {
        return Ok(vec!["lo".to_string()]);
    }
    let mut names: Vec<String> = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(FastPathError::Syscall { op: "getifaddrs", source: io::Error::last_os_error() });
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() || ifa.ifa_flags & libc::IFF_UP as u32 == 0 {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
        let wanted = if bind.is_unspecified() {
            true
        } else if ifa.ifa_addr.is_null() {
            false
        } else {
            // SAFETY: ifa_addr is non-null and its family says which sockaddr it is.
            let sa = unsafe { &*ifa.ifa_addr };
            sa.sa_family as i32 == libc::AF_INET && {
                // SAFETY: an AF_INET ifa_addr is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)) == bind
            }
        };
        if wanted && !names.contains(&name) {
            names.push(name);
        }
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    if names.is_empty() {
        return Err(FastPathError::Unsupported { reason: format!("no interface that is up holds {bind}") });
    }
    Ok(names)
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn value_round_trips_the_rule_fields_in_packet_order() {
        let rule = Rule {
            from: "10.0.0.1:4000".parse().unwrap(),
            ssrc: 0x1122_3344,
            via: "10.0.0.2:30002".parse().unwrap(),
            to: "127.0.0.1:5000".parse().unwrap(),
        };
        let v = encode(&rule);
        assert_eq!(&v[0..6], &[10, 0, 0, 1, 0x0f, 0xa0]);
        assert_eq!(&v[8..12], &[0x11, 0x22, 0x33, 0x44]);
        // via ip, to ip, via port, to port: what the program copies into saddr,daddr and sport,dport.
        assert_eq!(&v[12..24], &[10, 0, 0, 2, 127, 0, 0, 1, 0x75, 0x32, 0x13, 0x88]);
        assert_eq!(u16::from_ne_bytes([v[6], v[7]]), program::FLAG_LOCAL);
        assert_eq!(decode(&v), Counters::default());
        assert_eq!(&key("127.0.0.1:30000".parse().unwrap()), &[127, 0, 0, 1, 0x75, 0x30, 0, 0]);
    }
}
