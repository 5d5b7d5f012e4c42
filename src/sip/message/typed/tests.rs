//! Tests of the typed header accessors on hand-built header lists.
use super::super::uri::{Host, Uri};
use super::super::{HeaderName, Headers, Method};
use super::*;

fn headers(list: &[(&str, &str)]) -> Headers {
    let mut h = Headers::new();
    for (n, v) in list {
        h.push(HeaderName::from_name(n), *v);
    }
    h
}

#[test]
fn vias_split_and_params() {
    let h = headers(&[
        ("v", "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , SIP/2.0/UDP [2001:db8::1]:5062;rport;received=192.0.2.1"),
        ("Via", "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKx;rport=5060"),
    ]);
    let vias = h.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].transport, "TCP");
    assert_eq!(vias[0].protocol, "SIP/2.0");
    assert_eq!(vias[0].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[1].host, Host::V6("2001:db8::1".parse().unwrap()));
    assert_eq!(vias[1].port, Some(5062));
    assert_eq!(vias[1].rport(), Some(None));
    assert_eq!(vias[1].received(), Some("192.0.2.1"));
    assert_eq!(vias[2].rport(), Some(Some(5060)));
    assert_eq!(h.top_via().unwrap(), vias[0]);
    let mut v = vias[1].clone();
    v.set_rport(4000);
    v.set_received("198.51.100.7".parse().unwrap());
    assert_eq!(v.to_string(), "SIP/2.0/UDP [2001:db8::1]:5062;rport=4000;received=198.51.100.7");
    assert_eq!(v.sent_by_string(), "[2001:db8::1]:5062");
    assert!(headers(&[("Via", "SIP/2.0/UDP 192.0.2.15;;,;,,")]).vias().is_err());
    assert!(headers(&[("Via", "SIP/2.0/UDP")]).vias().is_err());
}

#[test]
fn cseq_and_rack() {
    let h = headers(&[("CSeq", "0009\r\n  INVITE".replace("\r\n", " ").as_str()), ("RAck", "776656 1 INVITE")]);
    let c = h.cseq().unwrap();
    assert_eq!((c.seq, c.method.clone()), (9, Method::Invite));
    assert_eq!(c.to_string(), "9 INVITE");
    let r = h.rack().unwrap().unwrap();
    assert_eq!((r.rseq, r.cseq, r.method), (776656, 1, Method::Invite));
    assert!(matches!(headers(&[("CSeq", "2147483648 INVITE")]).cseq(), Err(HeaderError::OutOfRange { .. })));
    assert!(matches!(headers(&[("CSeq", "36893488147419103232 REGISTER")]).cseq(), Err(HeaderError::OutOfRange { .. })));
    assert!(headers(&[("CSeq", "1")]).cseq().is_err());
    assert_eq!(headers(&[]).cseq(), Err(HeaderError::Missing(HeaderName::CSeq)));
    assert_eq!(headers(&[("CSeq", "1 A"), ("CSeq", "2 A")]).cseq(), Err(HeaderError::Multiple(HeaderName::CSeq)));
}

#[test]
fn addresses() {
    let h = headers(&[
        ("f", r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#),
        ("t", "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"),
        ("P-Asserted-Identity", "\"Alice\" <sip:+8613800000000@ims.example.com;user=phone>, <tel:+8613800000000>"),
    ]);
    let f = h.from_addr().unwrap();
    assert_eq!(f.display.as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(f.tag(), Some("98asjd8"));
    let mut t = h.to_addr().unwrap();
    assert_eq!(t.tag(), Some("1918181833n"));
    t.set_tag("abc");
    assert_eq!(t.to_string(), "<sip:vivekg@chair-dnrc.example.com>;tag=abc");
    let pai = h.p_asserted_identities().unwrap();
    assert_eq!(pai.len(), 2);
    assert!(matches!(&pai[1].uri, Uri::Tel(t) if t.number() == "+8613800000000"));
    assert_eq!(pai[0].to_string(), "\"Alice\" <sip:+8613800000000@ims.example.com;user=phone>");
    for bad in [
        "\"Mr. J. User <sip:j.user@example.com>",
        "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
        "\"Watson, Thomas\" < sip:t.watson@example.org >",
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
    ] {
        assert!(NameAddr::parse(bad, HeaderName::To).is_err(), "{bad}");
    }
}

#[test]
fn contacts() {
    assert_eq!(headers(&[("Contact", " * ")]).contacts().unwrap(), ContactList::Star);
    assert!(headers(&[("Contact", "*, <sip:a@b>")]).contacts().is_err());
    let h = headers(&[("m", "\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33"), ("Contact", "<sip:%00@host5.example.com>;expires=3600")]);
    match h.contacts().unwrap() {
        ContactList::Addrs(a) => {
            assert_eq!(a.len(), 2);
            assert_eq!(a[0].params.value("q"), Some("0.33"));
            assert_eq!(a[1].params.value("expires"), Some("3600"));
        }
        ContactList::Star => panic!("not star"),
    }
    let r = headers(&[("Route", "<sip:services.example.com;lr;unknownwith=value;unknown-no-value>")]).routes().unwrap();
    assert!(r[0].uri.as_sip().unwrap().lr());
}

#[test]
fn scalars_and_tokens() {
    let h = headers(&[
        ("MaX-fOrWaRdS", "0068"),
        ("l", "150"),
        ("c", "application/sdp"),
        ("k", "100rel, timer ,precondition"),
        ("Require", "100rel"),
        ("Allow", "INVITE, ACK, BYE"),
        ("Privacy", "id; header"),
        ("x", "1800;refresher=uac"),
        ("Min-SE", "90"),
        ("Expires", "3600"),
        ("RSeq", "988789"),
        ("Reason", "SIP ;cause=200 ;text=\"Call completed elsewhere\", Q.850;cause=16"),
    ]);
    assert_eq!(h.max_forwards(), Ok(Some(68)));
    assert_eq!(h.content_length(), Ok(Some(150)));
    assert!(h.content_type().unwrap().unwrap().is_sdp());
    assert_eq!(h.supported().unwrap(), ["100rel", "timer", "precondition"]);
    assert_eq!(h.require().unwrap(), ["100rel"]);
    assert_eq!(h.allow().unwrap().len(), 3);
    assert_eq!(h.privacy().unwrap(), ["id", "header"]);
    assert_eq!(h.session_expires(), Ok(Some(SessionExpires { delta: 1800, refresher: Some(Refresher::Uac) })));
    assert_eq!(h.min_se(), Ok(Some(90)));
    assert_eq!(h.expires(), Ok(Some(3600)));
    assert_eq!(h.rseq(), Ok(Some(988789)));
    let r = h.reasons().unwrap();
    assert_eq!(r[0], Reason { protocol: "SIP".into(), cause: Some(200), text: Some("Call completed elsewhere".into()) });
    assert_eq!(r[1].cause, Some(16));
    assert_eq!(headers(&[]).max_forwards(), Ok(None));
    assert!(headers(&[("Max-Forwards", "300")]).max_forwards().is_err());
    assert!(headers(&[("Content-Length", "-999")]).content_length().is_err());
    assert!(headers(&[("Expires", "10000000000000000000000")]).expires().is_err());
    assert!(headers(&[("Supported", "a b")]).supported().is_err());
}

#[test]
fn via_received_may_hold_a_bare_ipv6_address() {
    // RFC 3261 §25.1 grammar: via-received = "received" EQUAL (IPv4address / IPv6address).
    let v = Via::parse("SIP/2.0/UDP [::1]:5060;branch=z9hG4bKa;rport=5060;received=::1").unwrap();
    assert_eq!(v.received(), Some("::1"));
    let v = Via::parse("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKa;received=[2001:db8::9]").unwrap();
    assert_eq!(v.received(), Some("[2001:db8::9]"));
    assert!(Via::parse("SIP/2.0/UDP h;branch=z9hG4bKa;maddr=::1").is_err(), "only received takes a bare IPv6 address");
}
