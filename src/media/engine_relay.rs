//! The relay's receive path: drains a ready socket with `recvmmsg` into per-thread buffers and
//! puts each datagram through the session's bridge (`relay_one`), then sends it on or hands it to
//! the transcoder. Metrics are added and the clock read once per batch. `relay_one` is the one
//! place every received datagram passes, right after the relay's verdict: where a tap on the
//! relayed packets belongs.
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::{counters, now, result_index, Shared, Sockets, BATCH};
use crate::media::mmsg::{self, RecvBatch};
use crate::media::relay::{Channel, DropReason, Side, Verdict};
use crate::media::transcoding_session::Transcoding;

thread_local! {
    /// The receive buffers of the sessions this thread runs (`drain` never holds them across an
    /// `await`, so one set per thread is enough).
    static RECV: RefCell<RecvBatch> = RefCell::new(RecvBatch::new());
}

/// Per-batch packet counts by result (in the order of `RESULTS`), added to the metrics once per
/// batch rather than once per packet.
#[derive(Default)]
struct Tally([u64; 6], Fork);

/// Copies sent to / refused on the way to a SIPREC server in the batch.
#[derive(Default)]
struct Fork {
    sent: u64,
    failed: u64,
}

impl Tally {
    fn fork(&mut self, outcome: Option<bool>) {
        match outcome {
            Some(true) => self.1.sent += 1,
            Some(false) => self.1.failed += 1,
            None => {}
        }
    }

    fn flush(&self, side: Side) {
        if self.1.sent + self.1.failed > 0 {
            let c = crate::media::fork::counters();
            c.sent.inc_by(self.1.sent);
            c.failed.inc_by(self.1.failed);
        }
        let dir = match side {
            Side::A => 0,
            Side::B => 1,
        };
        for (counter, &n) in counters().c[dir].iter().zip(&self.0) {
            if n > 0 {
                counter.inc_by(n);
            }
        }
    }
}

/// Reads up to `BATCH` datagrams from one socket, `recvmmsg` by `recvmmsg` with one clock read
/// each, and relays each (or, transcoding, hands each packet the relay accepted to `xcode`;
/// `scratch` keeps the bytes the relay rewrites).
pub(super) fn drain(shared: &Shared, sockets: &Sockets, side: Side, channel: Channel, xcode: Option<&mut Transcoding>, scratch: &mut Vec<u8>) {
    RECV.with_borrow_mut(|batch| drain_into(batch, shared, sockets, side, channel, xcode, scratch));
}

#[allow(clippy::too_many_arguments)]
fn drain_into(batch: &mut RecvBatch, shared: &Shared, sockets: &Sockets, side: Side, channel: Channel, mut xcode: Option<&mut Transcoding>, scratch: &mut Vec<u8>) {
    let socket = sockets.get(side, channel);
    let mut tally = Tally::default();
    for _ in 0..BATCH.div_ceil(mmsg::SLOTS) {
        let got = match batch.recv(socket) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // An ICMP error from an earlier send surfaces here; the socket stays usable.
            Err(_) => continue,
        };
        let now = now();
        crate::media::relay_threads::note_received(got.count);
        for i in 0..got.count {
            // A truncated datagram comes back empty: the relay counts it malformed rather than
            // forwarding it cut.
            let (data, from) = batch.datagram(i);
            let packet = Packet { side, channel, from, now };
            relay_one(shared, sockets, packet, data, xcode.as_deref_mut(), scratch, &mut tally);
        }
        if got.drained {
            break;
        }
    }
    tally.flush(side);
    if xcode.is_none() && channel == Channel::Rtp && shared.offload.wants(side) {
        let bridge = shared.bridge();
        // Checked under the bridge lock: see `Shared::take_back`.
        if shared.may_offload(side) {
            shared.offload.try_offload(&bridge, side);
        }
    }
}

/// Where a received datagram came from, and when.
#[derive(Clone, Copy)]
struct Packet {
    side: Side,
    channel: Channel,
    from: SocketAddr,
    now: Instant,
}

/// One received datagram through the relay: the verdict, then the send (or the transcoder).
fn relay_one(shared: &Shared, sockets: &Sockets, p: Packet, data: &mut [u8], xcode: Option<&mut Transcoding>, scratch: &mut Vec<u8>, tally: &mut Tally) {
    let Packet { side, channel, from, now } = p;
    if let Some(x) = xcode {
        scratch.clear();
        scratch.extend_from_slice(data);
        let verdict = shared.bridge().handle_packet(now, side, channel, from, data);
        tally.0[result_index(verdict)] += 1;
        if matches!(verdict, Verdict::Forward { .. } | Verdict::Drop(DropReason::NoDestination)) {
            if channel == Channel::Rtcp || crate::media::rtp::classify(scratch) == crate::media::rtp::PacketKind::Rtcp {
                x.on_rtcp(side, scratch);
            } else {
                x.on_rtp(now, side, scratch);
                // The packet as the peer sent it (the recorder decodes by this side's codecs).
                if let Some(tap) = shared.tap.get() {
                    tap.offer(side as u8, now, scratch);
                }
                if let Some(fork) = shared.fork.get() {
                    tally.fork(fork.send(side, scratch));
                }
            }
        }
        return;
    }
    let verdict = {
        let mut bridge = shared.bridge();
        if channel == Channel::Rtp && shared.offload.is_active(side) {
            // Rare: the kernel forwards this direction's steady stream, so this is another
            // source, another SSRC, RTCP, or a packet queued before the rule went in.
            let ssrc = (crate::media::rtp::classify(data) == crate::media::rtp::PacketKind::Rtp)
                .then(|| data.get(8..12).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
                .flatten();
            shared.offload.before_userspace(&mut bridge, side, from, ssrc);
        }
        bridge.handle_packet(now, side, channel, from, data)
    };
    tally.0[result_index(verdict)] += 1;
    if let Verdict::Forward { to, via } = verdict {
        if sockets.get(side.other(), via).try_send_to(data, to).is_err() {
            shared.send_failed.fetch_add(1, Relaxed);
            tally.0[5] += 1;
        }
        // After the send: the fork adds nothing to the relayed packet's latency.
        if let (Some(tap), Channel::Rtp) = (shared.tap.get(), channel) {
            tap.offer(side as u8, now, data);
        }
        if let (Some(fork), Channel::Rtp) = (shared.fork.get(), channel) {
            tally.fork(fork.send(side, data));
        }
    }
}
