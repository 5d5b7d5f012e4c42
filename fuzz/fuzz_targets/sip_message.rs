//! Fuzzes `Message::parse`: no panics; parse → serialise → parse is a fixed point; typed headers,
//! URIs and the request checks run on whatever parses, and their Display output parses back equal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ncgw::sip::message::{check_request, check_response, ContactList, Headers, Message, NameAddr, Uri, Via};

fuzz_target!(|data: &[u8]| {
    match Message::parse(data) {
        Ok(msg) => {
            let bytes = msg.to_bytes();
            let again = Message::parse(&bytes).expect("a serialised message parses");
            assert_eq!(again.to_bytes(), bytes, "parse(serialise(parse(x))) is a fixed point");
            typed(again.headers());
            match &again {
                Message::Request(r) => {
                    let _ = check_request(r);
                    if let Ok(u) = Uri::parse(&r.uri) {
                        uri_round_trip(&u);
                    }
                }
                Message::Response(r) => {
                    let _ = check_response(r);
                }
            }
        }
        Err(e) => {
            let status = e.status();
            if let Some(resp) = e.response() {
                assert_eq!(Some(resp.status), status);
                let bytes = resp.to_bytes();
                Message::parse(&bytes).expect("our error response parses");
            }
        }
    }
});

fn uri_round_trip(u: &Uri) {
    let text = u.to_string();
    let back = Uri::parse(&text).expect("a displayed URI parses");
    assert_eq!(&back, u, "URI display round trip: {text}");
    assert!(u.equivalent(&back), "a URI is equivalent to itself: {text}");
}

fn addr_round_trip(a: &NameAddr, header: ncgw::sip::message::HeaderName) {
    let text = a.to_string();
    let back = NameAddr::parse(&text, header).expect("a displayed address parses");
    assert_eq!(&back, a, "address display round trip: {text}");
    uri_round_trip(&a.uri);
}

fn typed(h: &Headers) {
    use ncgw::sip::message::HeaderName as H;
    if let Ok(vias) = h.vias() {
        for v in vias {
            let text = v.to_string();
            assert_eq!(Via::parse(&text).as_ref(), Ok(&v), "Via display round trip: {text}");
            let _ = (v.branch(), v.received(), v.rport(), v.sent_by_string());
        }
    }
    let _ = h.top_via();
    if let Ok(c) = h.cseq() {
        assert_eq!(ncgw::sip::message::CSeq::parse(&c.to_string()).as_ref(), Ok(&c));
    }
    let _ = h.call_id();
    if let Ok(a) = h.from_addr() {
        addr_round_trip(&a, H::From);
    }
    if let Ok(a) = h.to_addr() {
        addr_round_trip(&a, H::To);
    }
    let _ = (h.max_forwards(), h.content_length(), h.content_type(), h.expires(), h.min_se(), h.rseq(), h.rack());
    let _ = (h.session_expires(), h.reasons());
    if let Ok(ContactList::Addrs(list)) = h.contacts() {
        for a in &list {
            addr_round_trip(a, H::Contact);
        }
    }
    for list in [h.routes(), h.record_routes(), h.p_asserted_identities()].into_iter().flatten() {
        for a in &list {
            addr_round_trip(a, H::Route);
        }
    }
    let _ = (h.require(), h.supported(), h.proxy_require(), h.unsupported(), h.allow(), h.privacy());
}
