//! SDP through the B2BUA: each side sees our media address, never the other side's; streams we
//! do not relay yet (video, data channels) are declined with port 0 so the m-line count and order
//! stay (RFC 3264 §6, CONFORMANCE D1: a data-channel offer never breaks the call).
use std::net::{IpAddr, SocketAddr};

use super::env::RemoteMedia;
use crate::sip::sdp::{AttributeSet, Connection, Direction, MediaDescription, MediaKind, SessionDescription};

/// Attributes that describe the other side's transport and would leak its topology.
const TRANSPORT_ATTRS: &[&str] = &["candidate", "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "end-of-candidates", "remote-candidates", "rtcp"];

/// The m-line we relay: the first audio stream over RTP with a non-zero port.
pub fn relay_index(sdp: &SessionDescription) -> Option<usize> {
    sdp.media.iter().position(|m| m.kind == MediaKind::Audio && m.port != 0 && m.proto.is_rtp())
}

fn connection_for(ip: IpAddr) -> Connection {
    Connection {
        nettype: "IN".into(),
        addrtype: if ip.is_ipv4() { "IP4".into() } else { "IP6".into() },
        address: ip.to_string(),
        ttl: None,
        count: None,
    }
}

/// `sdp` as we present it to the other side: our address and port on the relayed audio stream,
/// every other stream declined, our own origin line.
pub fn rewrite(sdp: &SessionDescription, relayed: Option<usize>, local: SocketAddr, session_id: u64, version: u64) -> SessionDescription {
    let mut out = sdp.clone();
    out.origin.username = "ncgw".into();
    out.origin.session_id = session_id;
    out.origin.session_version = version;
    out.origin.nettype = "IN".into();
    out.origin.addrtype = if local.is_ipv4() { "IP4".into() } else { "IP6".into() };
    out.origin.address = local.ip().to_string();
    out.connection = Some(connection_for(local.ip()));
    out.session_name = "ncgw".into();
    for name in TRANSPORT_ATTRS {
        out.remove_attributes(name);
    }
    for (i, m) in out.media.iter_mut().enumerate() {
        m.connections.clear();
        for name in TRANSPORT_ATTRS {
            m.remove_attributes(name);
        }
        if Some(i) == relayed && m.port != 0 {
            m.port = local.port();
            m.port_count = None;
        } else {
            decline(m);
        }
    }
    out
}

/// An offer we relay: [`rewrite`], plus the codecs we can transcode to on the relayed stream
/// (see [`super::negotiate::extend_offer`]).
pub fn offer(sdp: &SessionDescription, relayed: Option<usize>, local: SocketAddr, session_id: u64, version: u64) -> SessionDescription {
    let mut out = rewrite(sdp, relayed, local, session_id, version);
    if let Some(m) = relayed.and_then(|i| out.media.get_mut(i)).filter(|m| m.port != 0) {
        if super::negotiate::classify(m) == super::negotiate::OfferKind::Transcodable {
            super::negotiate::extend_offer(m);
        }
    }
    out
}

/// Port 0 keeps the m-line (RFC 3264 §6) but nothing of the declined stream's setup.
fn decline(m: &mut MediaDescription) {
    m.port = 0;
    m.port_count = None;
    m.bandwidths.clear();
    m.attributes.retain(|a| a.name == "mid" || a.name == "rtpmap" || a.name == "fmtp");
}

/// Where one side wants its relayed media, from its SDP.
pub fn remote_media(sdp: &SessionDescription, relayed: Option<usize>) -> Option<RemoteMedia> {
    let m = sdp.media.get(relayed?)?;
    if m.port == 0 {
        return None;
    }
    let conn = m.connections.first().or(sdp.connection.as_ref())?;
    let ip: IpAddr = conn.address.parse().ok()?;
    let direction = m.explicit_direction().or(sdp.explicit_direction()).unwrap_or(Direction::SendRecv);
    // c=0.0.0.0 is RFC 2543-style hold; still seen from old equipment.
    let hold = direction != Direction::SendRecv || ip.is_unspecified();
    let rtp = SocketAddr::new(ip, m.port);
    let rtcp = if m.rtcp_mux() {
        Some(rtp)
    } else {
        match m.rtcp() {
            Some(r) => Some(SocketAddr::new(r.address.as_ref().and_then(|(_, _, a)| a.parse().ok()).unwrap_or(ip), r.port)),
            None => Some(SocketAddr::new(ip, m.port.wrapping_add(1))),
        }
    };
    let clock_rate = m.payload_types().next().and_then(|pt| m.codec(pt)).map_or(8000, |c| c.clock_rate);
    Some(RemoteMedia { rtp, rtcp, clock_rate, hold })
}

/// The codec of the relayed stream as `NAME/RATE`, for records and the CLI.
pub fn codec_name(sdp: &SessionDescription, relayed: Option<usize>) -> Option<String> {
    let m = sdp.media.get(relayed?)?;
    let c = m.payload_types().next().and_then(|pt| m.codec(pt))?;
    Some(format!("{}/{}", c.encoding, c.clock_rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=alice 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 104 110\r\na=rtpmap:104 AMR-WB/16000\r\na=fmtp:104 mode-change-capability=2\r\na=rtpmap:110 telephone-event/16000\r\na=rtcp:4001\r\na=candidate:1 1 UDP 1 10.1.1.1 4000 typ host\r\nm=video 4002 RTP/AVP 99\r\na=rtpmap:99 H264/90000\r\nm=application 5000 UDP/DTLS/SCTP webrtc-datachannel\r\na=dcmap:0 subprotocol=\"http\"\r\na=sctp-port:5000\r\n";

    fn offer() -> SessionDescription {
        SessionDescription::parse(OFFER.as_bytes()).unwrap()
    }

    #[test]
    fn rewrite_hides_topology_and_declines_unrelayed_streams() {
        let sdp = offer();
        let idx = relay_index(&sdp);
        assert_eq!(idx, Some(0));
        let out = rewrite(&sdp, idx, "127.0.0.1:20000".parse().unwrap(), 77, 3);
        let text = out.to_string();
        assert!(!text.contains("10.1.1.1"), "{text}");
        assert!(text.contains("o=ncgw 77 3 IN IP4 127.0.0.1"), "{text}");
        assert!(text.contains("m=audio 20000 RTP/AVP 104 110"), "{text}");
        assert!(text.contains("m=video 0 RTP/AVP 99"), "{text}");
        assert!(text.contains("m=application 0 UDP/DTLS/SCTP webrtc-datachannel"), "{text}");
        assert!(!text.contains("candidate") && !text.contains("a=rtcp:") && !text.contains("dcmap"), "{text}");
        assert!(text.contains("a=fmtp:104 mode-change-capability=2"), "codec parameters are kept: {text}");
        assert_eq!(out.media.len(), 3, "m-line count and order are kept");
        // The rewritten SDP parses again (what the other side will do).
        SessionDescription::parse(text.as_bytes()).unwrap();
    }

    #[test]
    fn remote_media_reads_address_rtcp_clock_and_hold() {
        let sdp = offer();
        let r = remote_media(&sdp, Some(0)).unwrap();
        assert_eq!(r.rtp, "10.1.1.1:4000".parse().unwrap());
        assert_eq!(r.rtcp, Some("10.1.1.1:4001".parse().unwrap()));
        assert_eq!(r.clock_rate, 16000);
        assert!(!r.hold);
        assert_eq!(codec_name(&sdp, Some(0)).as_deref(), Some("AMR-WB/16000"));
        let held = SessionDescription::parse(OFFER.replace("a=rtcp:4001", "a=sendonly").as_bytes()).unwrap();
        let r = remote_media(&held, Some(0)).unwrap();
        assert!(r.hold);
        assert_eq!(r.rtcp, Some("10.1.1.1:4001".parse().unwrap()), "RTCP defaults to RTP + 1");
    }

    #[test]
    fn rejected_audio_has_no_remote() {
        let sdp = SessionDescription::parse(OFFER.replace("m=audio 4000", "m=audio 0").as_bytes()).unwrap();
        assert_eq!(relay_index(&sdp), None);
        assert_eq!(remote_media(&sdp, Some(0)), None);
    }
}
