//! Datagram parsing and serialising: compact forms, folding, bodies, error responses.
use super::super::*;
use super::{fixture, round_trip};

const OPTIONS: &str = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n\
f: <sip:alice@example.com>;tag=1\r\n\
t: sip:bob@example.com\r\n\
i: abc@192.0.2.1\r\n\
CSeq: 7 OPTIONS\r\n\
m: <sip:alice@192.0.2.1>\r\n\
k: timer\r\n\
c: text/plain\r\n\
l: 5\r\n\
\r\n\
hello";

fn request(m: Message) -> Request {
    match m {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

#[test]
fn compact_forms_are_long_when_written() {
    let req = request(Message::parse(OPTIONS.as_bytes()).unwrap());
    assert_eq!(req.method, Method::Options);
    assert_eq!(req.uri, "sip:bob@example.com");
    assert_eq!(req.headers.call_id(), Ok("abc@192.0.2.1"));
    assert_eq!(req.headers.get(&HeaderName::ContentType), Some("text/plain"));
    assert_eq!(req.headers.supported().unwrap(), ["timer"]);
    assert_eq!(&req.body[..], b"hello");
    let text = String::from_utf8(req.to_bytes()).unwrap();
    assert!(text.starts_with("OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP"), "{text}");
    for long in ["\r\nFrom: ", "\r\nTo: ", "\r\nCall-ID: ", "\r\nContact: ", "\r\nSupported: ", "\r\nContent-Type: ", "\r\nContent-Length: 5\r\n\r\nhello"] {
        assert!(text.contains(long), "{long} in {text}");
    }
    assert_eq!(check_request(&req), Ok(()));
    round_trip(OPTIONS.as_bytes()).unwrap();
}

#[test]
fn folded_lines_join_with_one_space() {
    let msg = "INVITE sip:a@example.com SIP/2.0\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=z9hG4bK1\r\n\
Subject:\r\n\tfirst\r\n   second  \r\nX-Custom-Header:  keep   inner   spaces  \r\nl: 0\r\n\r\n";
    let req = request(Message::parse(msg.as_bytes()).unwrap());
    assert_eq!(req.headers.get(&HeaderName::Via), Some("SIP  /   2.0 /UDP 192.0.2.2;branch=z9hG4bK1"));
    assert_eq!(req.headers.get(&HeaderName::Subject), Some("first second"));
    assert_eq!(req.headers.get(&HeaderName::from_name("x-custom-header")), Some("keep   inner   spaces"));
    assert!(req.to_bytes().windows(17).any(|w| w == b"X-Custom-Header: "));
    assert_eq!(req.headers.top_via().unwrap().branch(), Some("z9hG4bK1"));
}

#[test]
fn content_length_limits_the_body() {
    // Two requests in one datagram: only the first is read (RFC 4475 §3.1.1.8).
    let buf = fixture("rfc4475/TC_DBLREQ.dat");
    let req = request(Message::parse(&buf).unwrap());
    assert_eq!(req.method, Method::Register);
    assert!(req.body.is_empty());
    // Without Content-Length the body is the rest of the datagram, and writing adds the header.
    let req = request(Message::parse(b"MESSAGE sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/UDP h.example\r\n\r\nhi there").unwrap());
    assert_eq!(&req.body[..], b"hi there");
    assert!(req.to_bytes().ends_with(b"Content-Length: 8\r\n\r\nhi there"));
}

#[test]
fn serialising_fixes_a_wrong_content_length() {
    let mut req = request(Message::parse(OPTIONS.as_bytes()).unwrap());
    req.body = bytes::Bytes::from_static(b"longer body");
    assert!(String::from_utf8(req.to_bytes()).unwrap().contains("Content-Length: 11\r\n\r\nlonger body"));
}

#[test]
fn truncated_body_is_answered_with_400() {
    let e = Message::parse(&fixture("rfc4475/TC_CLERR_I.dat")).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::BodyTruncated);
    assert_eq!(e.status(), Some(400));
    let resp = e.response().unwrap();
    assert_eq!(resp.status, 400);
    assert!(resp.reason.starts_with("Bad Request ("), "{}", resp.reason);
    assert_eq!(resp.headers.call_id(), Ok("clerr.0ha0isndaksdjweiafasdk3"));
    assert_eq!(resp.headers.vias().unwrap().len(), 1);
    assert_eq!(resp.headers.content_length(), Ok(Some(0)));
}

#[test]
fn other_version_gets_505() {
    let e = Message::parse(&fixture("rfc4475/TC_BADVERS_V.dat")).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::UnsupportedVersion);
    assert_eq!(e.status(), Some(505));
    assert_eq!(e.response().unwrap().reason, "Version Not Supported");
}

#[test]
fn garbage_and_broken_responses_are_not_answered() {
    for bad in [&b""[..], b"\r\n\r\n", b"\x00\x01garbage", b"hello world", b"SIP/2.0 2000 OK\r\n\r\n", b"SIP/3.0 200 OK\r\n\r\n"] {
        let e = Message::parse(bad).unwrap_err();
        assert_eq!(e.status(), None, "{:?}", String::from_utf8_lossy(bad));
        assert!(e.response().is_none());
    }
    // A request line without version: a 400, but with no Via nothing can be sent back.
    let e = Message::parse(b"INVITE sip:a@b.example\r\nTo: x\r\n\r\n").unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert!(e.response().is_none());
}

#[test]
fn request_line_needs_single_spaces() {
    for bad in ["INVITE  sip:a@b.example SIP/2.0", "INVITE sip:a@b.example SIP/2.0 ", "INVITE <sip:a@b.example> SIP/2.0", "INVITE sip:a@b.example; lr SIP/2.0"] {
        let e = Message::parse(format!("{bad}\r\nl: 0\r\n\r\n").as_bytes()).unwrap_err();
        assert_eq!(e.status(), Some(400), "{bad}");
    }
}

#[test]
fn responses() {
    let resp = Message::parse(&fixture("rfc4475/TC_NOREASON_V.dat")).unwrap();
    let Message::Response(r) = resp else { panic!("not a response") };
    assert_eq!((r.status, r.reason.as_str()), (100, ""));
    assert!(r.to_bytes().starts_with(b"SIP/2.0 100 \r\n"));
    assert_eq!(check_response(&r), Ok(()));
    let m = Message::parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/TCP h.example;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert!(matches!(m, Message::Response(ref r) if r.is_provisional() && r.reason == "Ringing"));
}

#[test]
fn response_for_request_copies_dialog_headers() {
    let req = request(Message::parse(OPTIONS.as_bytes()).unwrap());
    let mut resp = Response::for_request(&req, 200);
    assert_eq!(resp.reason, "OK");
    assert_eq!(resp.headers.len(), 6);
    assert_eq!(resp.headers.cseq().unwrap().seq, 7);
    resp.set_to_tag("xyz");
    assert_eq!(resp.headers.to_addr().unwrap().tag(), Some("xyz"));
    resp.set_to_tag("other");
    assert_eq!(resp.headers.to_addr().unwrap().tag(), Some("xyz"));
    round_trip(&resp.to_bytes()).unwrap();
}

#[test]
fn semantic_faults_are_found_by_check_request() {
    let req = request(Message::parse(&fixture("rfc4475/TC_MISMATCH01_V.dat")).unwrap());
    let fault = check_request(&req).unwrap_err();
    assert_eq!(fault, RequestFault::CSeqMethodMismatch);
    assert_eq!(fault.response(&req).status, 400);
    let req = request(Message::parse(&fixture("rfc4475/TC_SCALAR02_V.dat")).unwrap());
    assert_eq!(check_request(&req).unwrap_err().reason(), "Bad Request (bad CSeq)");
    let req = request(Message::parse(&fixture("rfc4475/TC_MULTI01_I.dat")).unwrap());
    assert!(matches!(check_request(&req), Err(RequestFault::Header(HeaderError::Multiple(_)))));
}

#[test]
fn ims_invite_round_trip_and_typed_headers() {
    let buf = fixture("sip/ims_invite.sip");
    let out = round_trip(&buf).unwrap();
    // The fixture is written the way we write: serialising gives it back byte for byte.
    assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&buf));
    let req = request(Message::parse(&buf).unwrap());
    check_request(&req).unwrap();
    let h = &req.headers;
    assert!(matches!(Uri::parse(&req.uri), Ok(Uri::Tel(t)) if t.number() == "+8613912345678"));
    assert!(matches!(h.to_addr().unwrap().uri, Uri::Tel(_)));
    assert_eq!(h.top_via().unwrap().host, Host::V6("2001:db8:0:1::10".parse().unwrap()));
    assert_eq!(h.supported().unwrap(), ["100rel", "timer", "precondition"]);
    assert_eq!(h.session_expires().unwrap().unwrap().refresher, Some(Refresher::Uac));
    assert_eq!(h.min_se(), Ok(Some(90)));
    let pai = h.p_asserted_identities().unwrap();
    assert!(matches!(&pai[0].uri, Uri::Sip(_)) && matches!(&pai[1].uri, Uri::Tel(_)));
    let ContactList::Addrs(contacts) = h.contacts().unwrap() else { panic!("star") };
    assert_eq!(contacts[0].params.value("+sip.instance"), Some("\"<urn:gsma:imei:35209900-176148-0>\""));
    assert!(h.get(&HeaderName::PChargingVector).unwrap().contains("icid-value="));
    assert!(h.get(&HeaderName::PAccessNetworkInfo).unwrap().starts_with("3GPP-E-UTRAN-FDD"));
    assert!(h.content_type().unwrap().unwrap().is_sdp());
    assert_eq!(h.content_length(), Ok(Some(req.body.len())));
    assert!(std::str::from_utf8(&req.body).unwrap().contains("a=des:qos mandatory local sendrecv"));
}

#[test]
fn no_header_injection() {
    // A bare CR inside a header line is refused: a peer might read it as a line end.
    let e = Message::parse(b"OPTIONS sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nX-A: a\rVia: evil\r\nl: 0\r\n\r\n").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::BadHeaderLine);
    // Values set by code cannot start a line of their own when written.
    let mut req = Request::new(Method::Options, "sip:a@b.example");
    req.headers.push(HeaderName::Subject, "hi\r\nVia: SIP/2.0/UDP evil");
    let text = String::from_utf8(req.to_bytes()).unwrap();
    assert!(text.contains("Subject: hi  Via: SIP/2.0/UDP evil\r\n"), "{text}");
    assert_eq!(Message::parse(text.as_bytes()).unwrap().headers().vias().unwrap().len(), 0);
}
