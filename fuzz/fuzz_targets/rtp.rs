//! Fuzzes the RTP/RTCP views and the relay that rewrites packets in place: nothing may panic,
//! an identity header rewrite must reproduce the input, and the relay never changes a length.
#![no_main]
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ncgw::media::rtp::{classify, RtcpCompound, RtpHeaderMut, RtpPacket, TelephoneEvent};
use ncgw::media::{Bridge, Channel, RelayConfig, Remote, Side};

fn views(data: &[u8]) {
    let _ = classify(data);
    if let Ok(p) = RtpPacket::parse(data) {
        assert!(p.payload_offset() + p.payload().len() + p.padding_len() == data.len());
        let _ = (p.marker(), p.payload_type(), p.sequence(), p.timestamp(), p.ssrc(), p.csrcs().count());
        let _ = (p.extension_profile(), p.extension_len_words(), TelephoneEvent::parse(p.payload()));
        let mut copy = data.to_vec();
        let mut h = RtpHeaderMut::new(&mut copy).expect("parsed above");
        h.set_sequence(p.sequence());
        h.set_timestamp(p.timestamp());
        h.set_ssrc(p.ssrc());
        h.set_marker(p.marker());
        assert_eq!(copy, data);
    }
    let mut end = 0;
    for item in RtcpCompound::new(data) {
        match item {
            Ok((offset, p)) => {
                assert_eq!(offset, end);
                end = offset + p.bytes().len();
                let _ = (p.count(), p.packet_type(), p.length_words(), p.ssrc(), p.padding());
            }
            Err(_) => break,
        }
    }
    assert!(end <= data.len());
}

fuzz_target!(|data: &[u8]| {
    views(data);
    // The input as a sequence of datagrams: [control, length, bytes…]; the control byte picks the
    // side, the socket, the source address and how far the clock moves.
    let t0 = Instant::now();
    let config =
        RelayConfig { relatch_after: Duration::from_millis(100), rtp_timeout: Duration::from_millis(500), ..RelayConfig::default() };
    let mut bridge = Bridge::new(&config);
    let peer = |n: u8| -> SocketAddr { SocketAddr::from(([10, 0, 0, n % 4], 4000 + u16::from(n % 3))) };
    bridge.set_remote(t0, Side::A, Remote { rtp: Some(peer(1)), rtcp: None, clock_rate: 8000, hold: false });
    bridge.set_remote(t0, Side::B, Remote { rtp: Some(peer(2)), rtcp: Some(peer(6)), clock_rate: 48000, hold: false });
    let mut now = t0;
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let mut packet = tail[..n].to_vec();
        rest = &tail[n..];
        now += Duration::from_millis(u64::from(control >> 4) * 15);
        let side = if control & 1 == 0 { Side::A } else { Side::B };
        let channel = if control & 2 == 0 { Channel::Rtp } else { Channel::Rtcp };
        if control & 0x0c == 0x0c {
            bridge.set_remote(now, side, Remote { rtp: Some(peer(*len)), rtcp: None, clock_rate: 8000, hold: len & 1 == 1 });
        }
        let _ = bridge.handle_packet(now, side, channel, peer(control >> 2), &mut packet);
        assert_eq!(packet.len(), n);
        if let Some(deadline) = bridge.poll_timeout() {
            if deadline <= now {
                while bridge.handle_timeout(now).is_some() {}
            }
        }
    }
    let _ = (bridge.leg(Side::A).stats(), bridge.leg(Side::B).stats());
});
