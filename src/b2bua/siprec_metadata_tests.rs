use super::*;

fn streams() -> [StreamFormat; 2] {
    let sdp = SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n").unwrap();
    let s = StreamFormat::of(&sdp.media[0]);
    [s.clone(), s]
}

#[test]
fn offer_has_two_labelled_sendonly_lines_with_the_relayed_codecs() {
    let local = ["10.0.0.100:30000".parse().unwrap(), "10.0.0.100:30002".parse().unwrap()];
    let text = offer(local, &streams(), 7).to_string();
    let sdp = SessionDescription::parse(text.as_bytes()).unwrap();
    assert_eq!(sdp.media.len(), 2, "{text}");
    for (i, m) in sdp.media.iter().enumerate() {
        assert_eq!(m.port, local[i].port());
        assert_eq!(m.formats, ["8", "101"]);
        let attrs: Vec<String> = m.attributes.iter().map(|a| format!("{}{}", a.name, a.value.as_deref().map(|v| format!(":{v}")).unwrap_or_default())).collect();
        assert!(attrs.contains(&format!("label:{}", i + 1)) && attrs.contains(&"sendonly".to_owned()), "{attrs:?}");
        assert!(attrs.contains(&"rtpmap:8 PCMA/8000".to_owned()) && attrs.contains(&"ptime:20".to_owned()), "{attrs:?}");
        // A payload type the m-line does not list is not described, and no direction but sendonly.
        assert!(!attrs.iter().any(|a| a.starts_with("rtpmap:0 ") || a == "sendrecv"), "{attrs:?}");
    }
    assert_eq!(sdp.connection.as_ref().map(|c| c.address.as_str()), Some("10.0.0.100"));
}

#[test]
fn metadata_associates_each_participant_with_the_stream_it_sends() {
    let p = Participants { call_label: "c0000000000ab", caller: "+8613800138000", callee: "1001", domain: "10.0.0.100", unix_ms: 1_800_000_000_000 };
    let x = metadata(&p);
    assert!(x.contains("xmlns=\"urn:ietf:params:xml:ns:recording:1\""), "{x}");
    assert!(x.contains("<nameID aor=\"tel:+8613800138000\"/>") && x.contains("<nameID aor=\"sip:1001@10.0.0.100\"/>"), "{x}");
    assert!(x.contains("<label>1</label>") && x.contains("<label>2</label>"));
    assert!(x.contains("<start-time>2027-01-15T08:00:00Z</start-time>"), "{x}");
    assert!(x.contains(">c0000000000ab</ncgw:call-id>"));
    let (s1, s2) = (id(p.call_label, "stream-1"), id(p.call_label, "stream-2"));
    let caller = id(p.call_label, "participant-caller");
    let assoc = format!("<participantstreamassoc participant_id=\"{caller}\">\r\n    <send>{s1}</send>\r\n    <recv>{s2}</recv>");
    assert!(x.contains(&assoc), "the caller sends stream 1 and receives stream 2:\n{x}");
    // Ids are 128 bits in base64 (RFC 7865 §6).
    assert_eq!(s1.len(), 24);
    assert_ne!(s1, s2);
}

#[test]
fn escapes_what_would_break_the_document() {
    let p = Participants { call_label: "c<1>", caller: "a\"&b", callee: "", domain: "h", unix_ms: 0 };
    let x = metadata(&p);
    assert!(x.contains(">c&lt;1&gt;</ncgw:call-id>"), "{x}");
    assert!(x.contains("sip:anonymous@anonymous.invalid"), "{x}");
    assert!(!x.contains("a\"&b"));
    assert_eq!(utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
}

#[test]
fn multipart_round_trips_and_the_answer_gives_a_destination_per_label() {
    let local = ["10.0.0.100:30000".parse().unwrap(), "10.0.0.100:30002".parse().unwrap()];
    let sdp = offer(local, &streams(), 7);
    let (body, ct) = multipart(&sdp, "<recording/>", "b0undary");
    let ct = crate::sip::message::MediaType::parse(&ct).unwrap();
    let got = parts(&body, "b0undary");
    assert_eq!(got.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["application/sdp", METADATA_TYPE]);
    assert_eq!(got[1].1, b"<recording/>");
    assert_eq!(answer_sdp(Some(&ct), &body), Some(sdp));

    // The server's answer: stream 2 first and declined, stream 1 at its own address.
    let answer = "v=0\r\no=srs 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 0 RTP/AVP 8\r\na=label:2\r\nm=audio 6000 RTP/AVP 8\r\nc=IN IP4 10.0.0.10\r\na=label:1\r\na=recvonly\r\n";
    let sdp_ct = crate::sip::message::MediaType::parse("application/sdp").unwrap();
    let a = answer_sdp(Some(&sdp_ct), answer.as_bytes()).unwrap();
    assert_eq!(destinations(&a), [Some("10.0.0.10:6000".parse().unwrap()), None]);
    // Without labels, m-line order; garbage gives nothing rather than a panic.
    let plain = "v=0\r\no=srs 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\nm=audio 6002 RTP/AVP 8\r\n";
    let a = answer_sdp(Some(&sdp_ct), plain.as_bytes()).unwrap();
    assert_eq!(destinations(&a), [Some("10.0.0.9:6000".parse().unwrap()), Some("10.0.0.9:6002".parse().unwrap())]);
    assert_eq!(answer_sdp(Some(&ct), b"--b0undary\r\nno headers end"), None);
    assert!(parts(b"--x", "x").is_empty());
}
