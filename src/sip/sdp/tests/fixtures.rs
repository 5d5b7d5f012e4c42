//! Each fixture round-trips and its typed accessors return what the text says.

use super::round_trip;
use crate::sip::sdp::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sdp/",
            $name
        ))
    };
}

/// CRLF fixtures in RFC 8866 line order are written back byte for byte.
#[test]
fn crlf_fixtures_round_trip_byte_for_byte() {
    let all: [&[u8]; 8] = [
        fixture!("rfc8866_example.sdp"),
        fixture!("rfc8866_multicast_repeat.sdp"),
        fixture!("ts26114_a4_2a_video.sdp"),
        fixture!("ts26114_a15_anbr.sdp"),
        fixture!("ts26114_a17_datachannel.sdp"),
        fixture!("chrome_offer.sdp"),
        fixture!("volte_amrwb_preconditions.sdp"),
        fixture!("softphone_srtp.sdp"),
    ];
    for input in all {
        let sdp = round_trip(input);
        assert_eq!(
            &sdp.to_bytes()[..],
            input,
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn rfc8866_example() {
    let sdp = round_trip(fixture!("rfc8866_example.sdp"));
    assert_eq!(sdp.version, 0);
    assert_eq!(sdp.origin.username, "jdoe");
    assert_eq!(sdp.origin.session_id, 3_724_394_400);
    assert_eq!(sdp.origin.session_version, 3_724_394_405);
    assert_eq!(sdp.origin.address, "198.51.100.1");
    assert_eq!(sdp.session_name, "Call to John Smith");
    assert_eq!(sdp.info.as_deref(), Some("SDP Offer #1"));
    assert_eq!(
        sdp.uri.as_deref(),
        Some("http://www.jdoe.example.com/home.html")
    );
    assert_eq!(sdp.emails, ["Jane Doe <jane@jdoe.example.com>"]);
    assert_eq!(sdp.phones, ["+1 617 555-6011"]);
    assert_eq!(sdp.times.len(), 1);
    assert_eq!(sdp.media.len(), 3);
    assert_eq!(sdp.media_of_kind(&MediaKind::Audio).count(), 2);
    let video = sdp.first_media(&MediaKind::Video).unwrap();
    assert_eq!(video.port, 51372);
    assert_eq!(video.proto, Proto::RtpAvp);
    assert_eq!(video.formats, ["99"]);
    let c = sdp.connection_for(video).unwrap();
    assert_eq!(
        (c.addrtype.as_str(), c.address.as_str()),
        ("IP6", "2001:db8::2")
    );
    let audio = &sdp.media[0];
    assert_eq!(sdp.connection_for(audio).unwrap().address, "198.51.100.1");
    let map = video.rtpmap(99).unwrap();
    assert_eq!(
        (map.encoding.as_str(), map.clock_rate, map.channels),
        ("h263-1998", 90000, None)
    );
    assert!(map.is("H263-1998"));
    assert_eq!(sdp.media_direction(video), Direction::SendRecv);
    // PT 0 has no rtpmap: the static RFC 3551 assignment applies.
    assert_eq!(audio.payload_types().collect::<Vec<_>>(), [0]);
    assert_eq!(audio.rtpmap(0), None);
    assert_eq!(audio.codec(0).unwrap().encoding, "PCMU");
    assert_eq!(video.codec(99).unwrap().encoding, "h263-1998");
}

#[test]
fn multicast_repeats_zones_and_key() {
    let sdp = round_trip(fixture!("rfc8866_multicast_repeat.sdp"));
    let c = sdp.connection.as_ref().unwrap();
    assert_eq!(
        (c.address.as_str(), c.ttl, c.count),
        ("233.252.0.1", Some(127), None)
    );
    assert_eq!(
        sdp.bandwidths,
        [Bandwidth {
            kind: BandwidthType::Ct,
            value: 256
        }]
    );
    let t = &sdp.times[0];
    assert_eq!((t.start, t.stop), (3_034_423_619, 3_042_462_419));
    assert_eq!(t.repeats.len(), 2);
    assert_eq!(t.repeats[0].interval.seconds(), 604_800);
    assert_eq!(t.repeats[0].duration.seconds(), 3600);
    assert_eq!(t.repeats[0].offsets[1].seconds(), 90_000);
    assert_eq!(
        t.repeats[0],
        Repeat {
            ..t.repeats[0].clone()
        }
    );
    assert_eq!(sdp.zones.len(), 2);
    assert_eq!(sdp.zones[0].offset.seconds(), -3600);
    assert_eq!(sdp.key.as_deref(), Some("prompt"));
    assert_eq!(sdp.explicit_direction(), Some(Direction::RecvOnly));
    // Session-level recvonly applies to media that say nothing.
    assert_eq!(sdp.media_direction(&sdp.media[0]), Direction::RecvOnly);
    let video = &sdp.media[1];
    assert_eq!(video.port_count, Some(2));
    assert_eq!(video.connections.len(), 2);
    assert_eq!(video.connections[0].ttl, Some(127));
    assert_eq!(video.connections[0].count, Some(2));
    assert_eq!(video.connections[1].count, Some(3));
    assert_eq!(video.connections[1].ttl, None);
    assert_eq!(video.bandwidth(&BandwidthType::As), Some(128));
    let wb = &sdp.media[2];
    assert_eq!(wb.kind, MediaKind::Application);
    assert_eq!(wb.proto, Proto::Other("udp".into()));
    assert!(!wb.proto.is_rtp());
    assert_eq!(wb.attribute("orient"), Some("portrait"));
}

#[test]
fn ts26114_a4_2a_video_offer() {
    let sdp = round_trip(fixture!("ts26114_a4_2a_video.sdp"));
    let video = sdp.first_media(&MediaKind::Video).unwrap();
    assert_eq!(video.proto, Proto::RtpAvp);
    assert_eq!(video.bandwidth(&BandwidthType::As), Some(315));
    assert_eq!(video.bandwidth(&BandwidthType::Rs), Some(0));
    assert_eq!(video.bandwidth(&BandwidthType::Rr), Some(2500));
    assert_eq!(video.attribute("tcap"), Some("1 RTP/AVPF"));
    assert_eq!(video.attribute("pcfg"), Some("1 t=1"));
    let fmtp = video.fmtp("99").unwrap();
    assert_eq!(fmtp.get("packetization-mode"), Some("0"));
    assert_eq!(fmtp.get("profile-level-id"), Some("42e00c"));
    assert_eq!(
        fmtp.get("sprop-parameter-sets"),
        Some("J0LgDJWgUH6Af1A=,KM46gA==")
    );
    let fb = video.rtcp_fbs();
    assert_eq!(fb.len(), 5);
    assert_eq!(fb[0].fb_type, "trr-int");
    assert_eq!(fb[0].parameter.as_deref(), Some("5000"));
    assert_eq!(
        (fb[3].fb_type.as_str(), fb[3].parameter.as_deref()),
        ("ccm", Some("fir"))
    );
    assert!(fb.iter().all(|f| f.applies_to("99")));
    let ext = video.extmaps();
    assert_eq!(
        (ext[0].id, ext[0].uri.as_str(), ext[0].direction),
        (4, "urn:3gpp:video-orientation", None)
    );
    let audio = sdp.first_media(&MediaKind::Audio).unwrap();
    assert_eq!(audio.ptime(), Some(20));
    assert_eq!(audio.maxptime(), Some(240));
    let dtmf = audio.fmtp("98").unwrap();
    assert!(dtmf.has("0-15"));
    assert_eq!(dtmf.get("0-15"), None);
}

#[test]
fn ts26114_a15_anbr_offer() {
    let sdp = round_trip(fixture!("ts26114_a15_anbr.sdp"));
    let audio = &sdp.media[0];
    let maps = audio.rtpmaps();
    assert_eq!(maps.len(), 5);
    assert_eq!(
        (
            maps[0].payload_type,
            maps[0].encoding.as_str(),
            maps[0].channels
        ),
        (97, "EVS", Some(1))
    );
    assert_eq!(maps[4].clock_rate, 8000);
    assert_eq!(audio.fmtp("97").unwrap().get("br"), Some("5.9-24.4"));
    assert_eq!(audio.fmtp("99").unwrap().get("octet-align"), Some("1"));
    assert_eq!(audio.fmtp("98").unwrap().get("octet-align"), None);
    assert!(audio.has_attribute("anbr"));
    assert_eq!(audio.attribute("anbr"), None);
}

#[test]
fn ts26114_a17_data_channel_offer() {
    let sdp = round_trip(fixture!("ts26114_a17_datachannel.sdp"));
    assert!(sdp.ice_lite());
    assert_eq!(sdp.ice_options(), ["ice2"]);
    let dc = sdp.first_media(&MediaKind::Application).unwrap();
    assert_eq!(dc.proto, Proto::UdpDtlsSctp);
    assert_eq!(dc.formats, ["webrtc-datachannel"]);
    assert_eq!(dc.sctp_port(), Some(5000));
    assert_eq!(dc.max_message_size(), Some(1024));
    assert_eq!(dc.setup(), Some(Setup::ActPass));
    assert_eq!(dc.tls_id(), Some("abc3de65cddef001be82"));
    let fp = &dc.fingerprints()[0];
    assert_eq!(fp.hash_function, "SHA-1");
    assert_eq!(fp.bytes().unwrap().len(), 20);
    let cand = &dc.candidates()[0];
    assert_eq!(cand.foundation, "1");
    assert_eq!(
        (cand.component, cand.priority, cand.port),
        (1, 2_130_706_431, 52718)
    );
    assert_eq!(cand.typ, CandidateType::Host);
    assert!(cand.is_udp());
    assert_eq!(dc.ice_ufrag(), Some("8hhY"));
    assert_eq!(sdp.ice_pwd_for(dc), Some("asd88fgpdd777uzjYhagZg"));
    let maps = dc.dcmaps();
    assert_eq!(maps.len(), 3);
    assert_eq!(
        (maps[0].stream_id, maps[0].subprotocol()),
        (0, Some("http"))
    );
    assert!(maps[0].is_bootstrap() && maps[1].is_bootstrap() && !maps[2].is_bootstrap());
    assert_eq!(maps[1].get("max-retr"), Some("2"));
    assert_eq!(maps[2].label(), Some("bank-form"));
    let dcsa = &dc.dcsas()[0];
    assert_eq!(dcsa.stream_id, 1000);
    assert_eq!(
        dcsa.attribute,
        Attribute::new("3gpp-req-app", "bank.example.com/forms")
    );
    assert_eq!(dc.attribute("3gpp-qos-hint"), Some("loss=0.01;latency=100"));
}

#[test]
fn chrome_offer() {
    let sdp = round_trip(fixture!("chrome_offer.sdp"));
    assert_eq!(sdp.origin.username, "-");
    assert_eq!(sdp.origin.session_id, 4_215_775_240_449_105_457);
    assert_eq!(sdp.bundle().unwrap(), ["0", "1", "2"]);
    assert_eq!(
        sdp.attribute("msid-semantic"),
        Some(" WMS 5d1c7b8e-3a8e-4c41-9a2f-6f1b0d8e2c47")
    );
    assert!(sdp.has_attribute("extmap-allow-mixed"));
    let audio = sdp.media_by_mid("0").unwrap();
    assert_eq!(audio.proto, Proto::UdpTlsRtpSavpf);
    assert!(audio.rtcp_mux() && audio.rtcp_rsize());
    let rtcp = audio.rtcp().unwrap();
    assert_eq!(rtcp.port, 9);
    assert_eq!(
        rtcp.address,
        Some(("IN".into(), "IP4".into(), "0.0.0.0".into()))
    );
    let opus = audio.rtpmap(111).unwrap();
    assert_eq!(
        (opus.encoding.as_str(), opus.clock_rate, opus.channels),
        ("opus", 48000, Some(2))
    );
    assert_eq!(audio.fmtp("111").unwrap().get("useinbandfec"), Some("1"));
    assert_eq!(audio.rtpmap(110).unwrap().clock_rate, 48000);
    let cands = audio.candidates();
    assert_eq!(cands.len(), 3);
    assert!(cands[0].address.ends_with(".local"));
    assert_eq!(cands[0].extensions[0], ("generation".into(), "0".into()));
    assert_eq!(cands[1].typ, CandidateType::ServerReflexive);
    assert_eq!(
        (cands[1].raddr.as_deref(), cands[1].rport),
        (Some("0.0.0.0"), Some(0))
    );
    assert_eq!(cands[2].transport, "tcp");
    assert!(cands[2]
        .extensions
        .contains(&("tcptype".into(), "active".into())));
    assert_eq!(
        cands[2].to_string(),
        sdp.media[0].attribute_values("candidate").nth(2).unwrap()
    );
    assert_eq!(audio.ice_ufrag(), Some("Zq9t"));
    assert_eq!(audio.ice_options(), ["trickle"]);
    let fp = &sdp.fingerprints_for(audio)[0];
    assert_eq!(fp.hash_function, "sha-256");
    assert_eq!(fp.bytes().unwrap().len(), 32);
    assert_eq!(sdp.setup_for(audio), Some(Setup::ActPass));
    assert_eq!(
        audio.extmaps()[3].uri,
        "urn:ietf:params:rtp-hdrext:sdes:mid"
    );
    let ssrcs = audio.ssrcs();
    assert_eq!(
        (ssrcs[0].id, ssrcs[0].attribute.as_str()),
        (2_840_150_423, "cname")
    );
    assert_eq!(ssrcs[0].value.as_deref(), Some("pQx7dK2mV9sL4bNw"));
    let video = sdp.media_by_mid("1").unwrap();
    assert_eq!(video.fmtp("97").unwrap().get("apt"), Some("96"));
    let h264 = video.fmtp("108").unwrap();
    assert_eq!(h264.get("profile-level-id"), Some("42e01f"));
    assert_eq!(h264.get("PACKETIZATION-MODE"), Some("1"));
    assert_eq!(
        video
            .rtcp_fbs()
            .iter()
            .filter(|f| f.applies_to("96"))
            .count(),
        5
    );
    let fid = &video.ssrc_groups()[0];
    assert_eq!((fid.semantics.as_str(), fid.ids.len()), ("FID", 2));
    assert_eq!(video.extmaps().len(), 8);
    let dc = sdp.media_by_mid("2").unwrap();
    assert_eq!(dc.sctp_port(), Some(5000));
    assert_eq!(dc.max_message_size(), Some(262_144));
    assert!(sdp
        .media
        .iter()
        .all(|m| sdp.media_direction(m) == Direction::SendRecv));
}

#[test]
fn volte_amr_wb_with_preconditions() {
    let sdp = round_trip(fixture!("volte_amrwb_preconditions.sdp"));
    assert_eq!(sdp.origin.addrtype, "IP6");
    let audio = &sdp.media[0];
    assert_eq!(audio.bandwidth(&BandwidthType::As), Some(41));
    assert_eq!(audio.bandwidth(&BandwidthType::Rs), Some(0));
    assert_eq!(audio.bandwidth(&BandwidthType::Rr), Some(0));
    assert_eq!(audio.bandwidth(&BandwidthType::Tias), None);
    let amr = audio.fmtp("96").unwrap();
    assert_eq!(amr.get("mode-set"), Some("0,1,2"));
    assert_eq!(amr.get("octet-align"), Some("1"));
    assert_eq!(amr.params.len(), 4);
    let te = audio.rtpmap(111).unwrap();
    assert_eq!(
        (te.encoding.as_str(), te.clock_rate),
        ("telephone-event", 16000)
    );
    let pre = audio.preconditions();
    assert_eq!(pre.len(), 4);
    assert_eq!(pre[0].kind, PreconditionKind::Current);
    assert_eq!(pre[0].precondition_type, "qos");
    assert_eq!(
        (pre[0].status_type, pre[0].direction),
        (StatusType::Local, PrecondDirection::None)
    );
    assert_eq!(pre[2].kind, PreconditionKind::Desired);
    assert_eq!(pre[2].strength, Some(Strength::Mandatory));
    assert_eq!(
        (pre[2].status_type, pre[2].direction),
        (StatusType::Local, PrecondDirection::SendRecv)
    );
    assert_eq!(pre[3].strength, Some(Strength::Optional));
    assert_eq!(pre[2].to_string(), "qos mandatory local sendrecv");
    assert_eq!(pre[2].attribute_name(), "des");
    assert_eq!(
        audio.rtcp(),
        Some(Rtcp {
            port: 31001,
            address: None
        })
    );
    assert_eq!(audio.explicit_direction(), Some(Direction::SendRecv));
}

#[test]
fn softphone_sdes_srtp() {
    let sdp = round_trip(fixture!("softphone_srtp.sdp"));
    let audio = &sdp.media[0];
    assert_eq!(audio.proto, Proto::RtpSavp);
    assert_eq!(audio.formats, ["9", "0", "8", "101"]);
    assert_eq!(audio.rtpmap(9).unwrap().encoding, "G722");
    let c = audio.cryptos();
    assert_eq!(c.len(), 2);
    assert_eq!(
        (c[0].tag, c[0].suite.as_str()),
        (1, "AES_CM_128_HMAC_SHA1_80")
    );
    assert_eq!(c[0].inline_key().unwrap().len(), 40);
    assert!(c[0].session_params.is_empty());
    assert_eq!(c[1].session_params, ["UNENCRYPTED_SRTCP"]);
}

#[test]
fn hold_offer_with_lf_endings_and_trailing_whitespace() {
    let input = fixture!("hold_sendonly_lf.sdp");
    assert!(!input.contains(&b'\r'));
    let sdp = round_trip(input);
    assert_eq!(sdp.connection.as_ref().unwrap().address, "10.20.30.40");
    let audio = &sdp.media[0];
    assert_eq!(audio.rtpmap(0).unwrap().encoding, "PCMU");
    assert_eq!(sdp.media_direction(audio), Direction::SendOnly);
    let written = sdp.to_string();
    assert!(written
        .split_inclusive('\n')
        .all(|l| l.ends_with("\r\n") && !l.ends_with(" \r\n")));
    assert!(written.contains("c=IN IP4 10.20.30.40\r\n"));
}
