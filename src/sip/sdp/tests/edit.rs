//! Building and editing descriptions the way the B2BUA does when it writes offers and answers.

use super::round_trip;
use crate::sip::sdp::*;

fn audio_offer() -> SessionDescription {
    let mut sdp = SessionDescription::new(Origin::new("ncgw", 42, "192.0.2.5"), "ncgw");
    sdp.connection = Some(Connection::new("192.0.2.5"));
    let mut audio = MediaDescription::new(
        MediaKind::Audio,
        40000,
        Proto::RtpAvp,
        vec!["0".into(), "101".into()],
    );
    audio.add_attribute(Attribute::new("rtpmap", "0 PCMU/8000"));
    audio.add_attribute(Attribute::new("rtpmap", "101 telephone-event/8000"));
    audio.add_attribute(Attribute::new("fmtp", "101 0-15"));
    audio.add_attribute(Attribute::flag("sendrecv"));
    audio.add_attribute(Attribute::new("ptime", "20"));
    sdp.media.push(audio);
    sdp
}

#[test]
fn builds_a_valid_offer() {
    let sdp = audio_offer();
    assert_eq!(
        sdp.to_string(),
        "v=0\r\no=ncgw 42 42 IN IP4 192.0.2.5\r\ns=ncgw\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\na=sendrecv\r\na=ptime:20\r\n"
    );
    assert_eq!(round_trip(&sdp.to_bytes()), sdp);
}

#[test]
fn hold_replaces_the_direction_in_place() {
    let mut sdp = audio_offer();
    let audio = &mut sdp.media[0];
    audio.add_attribute(Attribute::flag("inactive"));
    audio.set_direction(Direction::SendOnly);
    let names: Vec<&str> = audio.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["rtpmap", "rtpmap", "fmtp", "sendonly", "ptime"]);
    assert_eq!(sdp.media_direction(&sdp.media[0]), Direction::SendOnly);
    assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
    sdp.set_direction(Direction::Inactive);
    assert_eq!(sdp.attributes, [Attribute::flag("inactive")]);
    // Media level still overrides the session level.
    assert_eq!(sdp.media_direction(&sdp.media[0]), Direction::SendOnly);
    sdp.media[0].remove_attributes("sendonly");
    assert_eq!(sdp.media_direction(&sdp.media[0]), Direction::Inactive);
}

#[test]
fn reject_keeps_the_m_line() {
    let mut sdp = SessionDescription::parse(include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sdp/ts26114_a17_datachannel.sdp"
    )))
    .unwrap();
    let dc = sdp.first_media_mut(&MediaKind::Application).unwrap();
    dc.reject();
    assert!(dc.is_rejected());
    let written = sdp.to_string();
    assert!(written.contains("m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
    assert_eq!(sdp.media.len(), 2);
    assert!(!sdp.media[0].is_rejected());
}

#[test]
fn set_connection_port_and_attributes() {
    let mut sdp = audio_offer();
    let audio = &mut sdp.media[0];
    audio.set_connection("2001:db8::7", 50000);
    audio.set_bandwidth(BandwidthType::As, 80);
    audio.set_bandwidth(BandwidthType::As, 64);
    audio.set_attribute(Attribute::new("ptime", "30"));
    audio.add_attribute(Attribute::new("ptime", "40"));
    audio.set_attribute(Attribute::new("ptime", "20"));
    assert_eq!(audio.attribute_values("ptime").collect::<Vec<_>>(), ["20"]);
    assert_eq!(audio.remove_attributes("fmtp"), 1);
    let written = sdp.to_string();
    assert!(
        written.contains("m=audio 50000 RTP/AVP 0 101\r\nc=IN IP6 2001:db8::7\r\nb=AS:64\r\n"),
        "{written}"
    );
    assert_eq!(
        sdp.connection_for(&sdp.media[0]).unwrap().address,
        "2001:db8::7"
    );
    round_trip(written.as_bytes());
}

#[test]
fn typed_values_print_back_to_their_text() {
    for v in ["97 AMR-WB/16000/1", "0 PCMU/8000"] {
        assert_eq!(Rtpmap::parse(v).unwrap().to_string(), v);
    }
    assert_eq!(
        Fmtp::parse("96 mode-set=0,1,2;octet-align=1")
            .unwrap()
            .to_string(),
        "96 mode-set=0,1,2;octet-align=1"
    );
    let c = "842163049 1 udp 1686052607 203.0.113.45 52811 typ srflx raddr 10.0.0.1 rport 5000 generation 0";
    assert_eq!(Candidate::parse(c).unwrap().to_string(), c);
    assert!(Candidate::parse("1 1 UDP 1 192.0.2.1 5000 host").is_err());
    assert!(Candidate::parse("1 1 UDP 1 192.0.2.1 5000 typ host generation").is_err());
    assert_eq!(Setup::parse("passive").unwrap().as_str(), "passive");
    assert!(Rtpmap::parse("200 X/8000").is_err());
    assert!(Precondition::parse(PreconditionKind::Current, "qos mandatory local none").is_err());
    let e = Extmap::parse("2/sendonly urn:ietf:params:rtp-hdrext:toffset").unwrap();
    assert_eq!(e.direction, Some(Direction::SendOnly));
}

#[test]
fn quoted_parameters_keep_their_separators() {
    let d = Dcmap::parse("1000 label=\"a;b\";subprotocol=\"http\"").unwrap();
    assert_eq!(d.label(), Some("a;b"));
    assert_eq!(d.subprotocol(), Some("http"));
    let f = Fmtp::parse("100 name=\"x;y\";z=1").unwrap();
    assert_eq!(f.get("name"), Some("\"x;y\""));
    assert_eq!(f.get("z"), Some("1"));
}

#[test]
fn byte_order_mark_is_skipped() {
    let body = b"\xEF\xBB\xBFv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";
    let sdp = SessionDescription::parse(body).unwrap();
    assert_eq!(&sdp.to_bytes()[..], &body[3..]);
}

#[test]
fn media_direction_defaults() {
    let sdp = round_trip(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\na=inactive\r\nm=audio 4000 RTP/AVP 8\r\n");
    assert_eq!(sdp.direction(), Direction::Inactive);
    assert_eq!(sdp.media[0].direction(), Direction::SendRecv);
    assert_eq!(sdp.media_direction(&sdp.media[0]), Direction::Inactive);
    assert_eq!(sdp.media[0].codec(8).unwrap().encoding, "PCMA");
}

/// Every typed value prints back to the text it was parsed from, so answers can be built from
/// typed values.
#[test]
fn typed_values_round_trip_through_display() {
    fn check<T: std::fmt::Display, E: std::fmt::Debug>(
        parse: impl Fn(&str) -> Result<T, E>,
        text: &str,
    ) {
        assert_eq!(parse(text).unwrap().to_string(), text);
    }
    check(Rtcp::parse, "9 IN IP4 0.0.0.0");
    check(Rtcp::parse, "31001");
    check(Ssrc::parse, "2840150423 cname:pQx7dK2mV9sL4bNw");
    check(Group::parse, "BUNDLE 0 1 2");
    check(Fingerprint::parse, "sha-256 9F:2A:61");
    check(
        Crypto::parse,
        "1 AES_CM_128_HMAC_SHA1_80 inline:abcd|2^20|1:32 UNENCRYPTED_SRTCP",
    );
    check(RtcpFb::parse, "* ccm tmmbr");
    check(RtcpFb::parse, "96 nack");
    check(Extmap::parse, "4 urn:3gpp:video-orientation");
    check(Extmap::parse, "2/recvonly urn:example:ext attr");
    check(Dcmap::parse, "0 subprotocol=\"http\"");
    check(Dcmap::parse, "1000 label=\"form\";max-retr=3");
    check(Dcsa::parse, "1000 3gpp-req-app:bank");
    check(
        |v| Precondition::parse(PreconditionKind::Desired, v),
        "qos mandatory e2e sendrecv",
    );
    check(
        |v| Precondition::parse(PreconditionKind::Confirm, v),
        "qos remote recv",
    );
}
