//! Batched datagram receive for the relay's fast path: one `recvmmsg` returns every datagram
//! queued on a socket (up to [`SLOTS`]) and, when it returns fewer, tells that the queue is empty,
//! so a wake-up costs one receive syscall instead of a receive plus a receive that fails with
//! `EAGAIN`. Linux only; elsewhere it falls back to one `try_recv_from` per datagram.
use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;

/// Datagrams one call can return.
pub(super) const SLOTS: usize = 16;
/// Bytes per slot; a longer datagram is reported truncated.
pub(super) const SLOT_BYTES: usize = 8192;

/// Reusable receive buffers (one per thread: `drain` never holds it across an `await`).
pub(super) struct RecvBatch {
    bufs: Box<[[u8; SLOT_BYTES]]>,
    /// Per received datagram: length, sender, and whether it was cut to `SLOT_BYTES`.
    meta: [(usize, SocketAddr, bool); SLOTS],
}

/// What one [`RecvBatch::recv`] got: `count` datagrams; `drained`: the socket's queue was empty
/// after them (otherwise more may be queued).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Got {
    pub count: usize,
    pub drained: bool,
}

impl RecvBatch {
    pub(super) fn new() -> RecvBatch {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        RecvBatch { bufs: vec![[0u8; SLOT_BYTES]; SLOTS].into_boxed_slice(), meta: [(0, unspecified, false); SLOTS] }
    }

    /// Datagram `i` of the last receive: its bytes (empty when it was truncated, so the relay
    /// counts it malformed) and its sender.
    pub(super) fn datagram(&mut self, i: usize) -> (&mut [u8], SocketAddr) {
        let (len, from, truncated) = self.meta[i];
        let len = if truncated { 0 } else { len };
        (&mut self.bufs[i][..len], from)
    }

    /// Receives what is queued on `socket` without blocking. `Err` with `WouldBlock` when nothing
    /// was queued (tokio then waits for the next readiness); another error is per datagram (an
    /// ICMP error from an earlier send) and leaves the socket usable.
    #[cfg(target_os = "linux")]
    pub(super) fn recv(&mut self, socket: &UdpSocket) -> io::Result<Got> {
        use std::os::fd::AsRawFd;
        let fd = socket.as_raw_fd();
        let mut got = 0usize;
        let r = socket.try_io(tokio::io::Interest::READABLE, || {
            let n = sys::recvmmsg(fd, &mut self.bufs, &mut self.meta)?;
            got = n;
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if n < SLOTS {
                // The queue is empty: report it so tokio clears the readiness now (its tick check
                // keeps a readiness that arrived after the call), and hand the datagrams over below.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match r {
            Ok(()) => Ok(Got { count: got, drained: false }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(Got { count: got, drained: true }),
            Err(e) => Err(e),
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn recv(&mut self, socket: &UdpSocket) -> io::Result<Got> {
        let (n, from) = socket.try_recv_from(&mut self.bufs[0])?;
        self.meta[0] = (n, from, n == SLOT_BYTES);
        Ok(Got { count: 1, drained: false })
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::RawFd;

    use super::{SLOTS, SLOT_BYTES};

    /// One non-blocking `recvmmsg` into `bufs`; fills `meta` for the datagrams it returns.
    pub(super) fn recvmmsg(fd: RawFd, bufs: &mut [[u8; SLOT_BYTES]], meta: &mut [(usize, SocketAddr, bool); SLOTS]) -> io::Result<usize> {
        // SAFETY: all-zero is a valid value of these plain C structs.
        let mut addrs: [libc::sockaddr_storage; SLOTS] = unsafe { zeroed() };
        let mut iovs: [libc::iovec; SLOTS] = unsafe { zeroed() };
        let mut msgs: [libc::mmsghdr; SLOTS] = unsafe { zeroed() };
        let slots = bufs.len().min(SLOTS);
        for i in 0..slots {
            iovs[i] = libc::iovec { iov_base: bufs[i].as_mut_ptr().cast(), iov_len: SLOT_BYTES };
            msgs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every message points at a live buffer of SLOT_BYTES and a sockaddr_storage of
        // the declared length, all outliving the call; the kernel writes at most `slots` messages.
        let n = unsafe { libc::recvmmsg(fd, msgs.as_mut_ptr(), slots as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            let from = to_socket_addr(&addrs[i]).unwrap_or(meta[i].1);
            let truncated = msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            meta[i] = ((msgs[i].msg_len as usize).min(SLOT_BYTES), from, truncated);
        }
        Ok(n)
    }

    fn to_socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match i32::from(s.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
                let a: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let a: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "mmsg_tests.rs"]
mod tests;
