//! Registrar tests on a virtual clock: challenge, register, refresh, expiry, removal, limits.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::sip::message::Message;
use crate::sip::peer::{ConnId, Transport};
use crate::testing::{digest_answer, epoch};

const RURI: &str = "sip:ncgw.test";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn store(user: &str) -> Option<Credentials> {
    ["1001", "1002", "1003"].contains(&user).then(|| Credentials::from_password(user, "ncgw", &format!("pw{user}")))
}

fn peer(port: u16) -> Peer {
    Peer::udp(SocketAddr::from(([192, 0, 2, 10], port)))
}

/// A REGISTER as text, parsed like one from the wire.
fn register(user: &str, call_id: &str, cseq: u32, contacts: &[&str], expires: Option<u32>, authz: Option<&str>) -> Request {
    let mut raw = format!(
        "REGISTER {RURI} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{call_id}{cseq}\r\n\
         From: <sip:{user}@ncgw.test>;tag=ft{user}\r\nTo: <sip:{user}@ncgw.test>\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n"
    );
    for c in contacts {
        raw.push_str(&format!("Contact: {c}\r\n"));
    }
    if let Some(e) = expires {
        raw.push_str(&format!("Expires: {e}\r\n"));
    }
    if let Some(a) = authz {
        raw.push_str(&format!("Authorization: {a}\r\n"));
    }
    raw.push_str("Content-Length: 0\r\n\r\n");
    match Message::parse(raw.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("test REGISTER must parse: {other:?}"),
    }
}

/// A node with a registrar and an authenticator, and a UA that answers challenges pre-emptively
/// (fresh nonce per request, as many phones do after their first 401).
struct Node {
    reg: Registrar,
    auth: Authenticator,
}

impl Node {
    fn new(t0: Instant, config: RegistrarConfig) -> Node {
        Node { reg: Registrar::new(config), auth: Authenticator::new([3; 32], t0) }
    }

    fn default(t0: Instant) -> Node {
        Node::new(t0, RegistrarConfig::default())
    }

    /// Sends `req` after adding credentials for `auth_user` answering a fresh MD5 challenge.
    fn send_as(&mut self, now: Instant, auth_user: &str, req: Request, from: Peer) -> RegisterOutcome {
        let challenge = self.auth.challenge(now, "ncgw", false).pop().expect("MD5 is offered");
        let mut req = req;
        let authz = digest_answer(&challenge, auth_user, &format!("pw{auth_user}"), "REGISTER", RURI, 1);
        req.headers.push(HeaderName::Authorization, authz);
        self.reg.handle_register(now, &req, from, &mut self.auth, store)
    }

    fn send(&mut self, now: Instant, user: &str, req: Request) -> RegisterOutcome {
        self.send_as(now, user, req, peer(5062))
    }
}

fn contacts(resp: &Response) -> Vec<String> {
    resp.headers.get_all(&HeaderName::Contact).map(str::to_owned).collect()
}

fn uris(list: &[Binding]) -> Vec<&str> {
    list.iter().map(|b| b.contact_uri.as_str()).collect()
}

#[test]
fn challenge_then_register_lists_the_binding() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    let first = register("1001", "c1", 1, &["<sip:1001@192.0.2.10:5062>"], None, None);
    let out = n.reg.handle_register(t0, &first, peer(5062), &mut n.auth, store);
    assert_eq!(out.response.status, 401);
    assert_eq!(out.cause, "auth.no_credentials");
    assert!(out.events.is_empty() && out.user.is_none());
    let challenges: Vec<&str> = out.response.headers.get_all(&HeaderName::WwwAuthenticate).collect();
    assert_eq!(challenges.len(), 2);
    assert!(out.response.headers.to_addr().unwrap().tag().is_some());

    // The UA answers the MD5 challenge of the 401, as SIPp would.
    let authz = digest_answer(challenges[1], "1001", "pw1001", "REGISTER", RURI, 1);
    let second = register("1001", "c1", 2, &["<sip:1001@192.0.2.10:5062>"], None, Some(&authz));
    let out = n.reg.handle_register(t0, &second, peer(5062), &mut n.auth, store);
    assert_eq!(out.response.status, 200, "{:?}", out.cause);
    assert_eq!(out.cause, "registrar.ok");
    assert_eq!(out.user.as_deref(), Some("1001"));
    assert_eq!(contacts(&out.response), ["<sip:1001@192.0.2.10:5062>;expires=3600"]);
    assert_eq!(
        out.events,
        [RegistrarEvent::BindingAdded { user: "1001".into(), contact: "sip:1001@192.0.2.10:5062".into() }]
    );
    let b = &n.reg.lookup("1001")[0];
    assert_eq!((b.source, b.expires_at, b.call_id.as_str(), b.cseq), (peer(5062), t0 + secs(3600), "c1", 2));
    assert_eq!(n.reg.binding_count(), 1);
    assert_eq!(n.reg.bindings().count(), 1);
}

#[test]
fn refresh_updates_expiry_and_source() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    let c = ["<sip:1001@192.0.2.10:5062>"];
    assert_eq!(n.send(t0, "1001", register("1001", "c1", 1, &c, Some(600), None)).response.status, 200);
    // The NAT rebinds: same contact, new source port, over TCP this time.
    let tcp = Peer { transport: Transport::Tcp, addr: SocketAddr::from(([192, 0, 2, 10], 40000)), conn: Some(ConnId(7)) };
    let out = n.send_as(t0 + secs(300), "1001", register("1001", "c1", 2, &c, Some(600), None), tcp);
    assert_eq!(out.response.status, 200);
    assert_eq!(out.events, [RegistrarEvent::BindingRefreshed { user: "1001".into(), contact: "sip:1001@192.0.2.10:5062".into() }]);
    assert_eq!(contacts(&out.response), ["<sip:1001@192.0.2.10:5062>;expires=600"]);
    let b = &n.reg.lookup("1001")[0];
    assert_eq!((b.source, b.expires_at, b.cseq), (tcp, t0 + secs(900), 2));
    assert_eq!(n.reg.poll_timeout(), Some(t0 + secs(900)));
}

#[test]
fn expiry_removes_the_binding_at_the_right_time() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    n.send(t0, "1001", register("1001", "c1", 1, &["<sip:1001@192.0.2.10:5062>"], Some(120), None));
    assert_eq!(n.reg.poll_timeout(), Some(t0 + secs(120)));
    assert!(n.reg.handle_timeout(t0 + secs(119)).is_empty());
    // One second before the end, the 200 to a query says one second is left.
    let out = n.send(t0 + Duration::from_millis(119_500), "1001", register("1001", "c1", 2, &[], None, None));
    assert_eq!(contacts(&out.response), ["<sip:1001@192.0.2.10:5062>;expires=1"]);
    assert_eq!(
        n.reg.handle_timeout(t0 + secs(120)),
        [RegistrarEvent::BindingRemoved {
            user: "1001".into(),
            contact: "sip:1001@192.0.2.10:5062".into(),
            cause: RemovalCause::Expired
        }]
    );
    assert!(n.reg.lookup("1001").is_empty());
    assert_eq!(n.reg.poll_timeout(), None);
    assert_eq!(n.reg.binding_count(), 0);
}

#[test]
fn expires_zero_removes_one_and_star_removes_all() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    let two = ["<sip:1001@192.0.2.10:5062>", "<sip:1001@192.0.2.11:5062>"];
    let out = n.send(t0, "1001", register("1001", "c1", 1, &two, Some(600), None));
    assert_eq!(out.events.len(), 2);
    let out = n.send(t0, "1001", register("1001", "c1", 2, &["<sip:1001@192.0.2.10:5062>;expires=0"], None, None));
    assert_eq!(out.response.status, 200);
    assert_eq!(contacts(&out.response), ["<sip:1001@192.0.2.11:5062>;expires=600"]);
    assert!(matches!(&out.events[..], [RegistrarEvent::BindingRemoved { cause: RemovalCause::Unregistered, .. }]));

    // '*' needs Expires: 0, and must be alone.
    assert_eq!(n.send(t0, "1001", register("1001", "c1", 3, &["*"], Some(60), None)).response.status, 400);
    assert_eq!(n.send(t0, "1001", register("1001", "c1", 4, &["*"], None, None)).response.status, 400);
    let mixed = n.send(t0, "1001", register("1001", "c1", 5, &["*", "<sip:1001@192.0.2.12>"], Some(0), None));
    assert_eq!((mixed.response.status, mixed.cause), (400, "registrar.bad_contact"));

    n.send(t0, "1001", register("1001", "c2", 1, &["<sip:1001@192.0.2.12:5062>"], Some(600), None));
    let out = n.send(t0, "1001", register("1001", "c1", 6, &["*"], Some(0), None));
    assert_eq!(out.response.status, 200);
    assert_eq!(out.events.len(), 2);
    assert!(contacts(&out.response).is_empty());
    assert!(n.reg.lookup("1001").is_empty());
    assert_eq!(n.reg.poll_timeout(), None);
}

#[test]
fn interval_too_brief_and_too_long() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    let out = n.send(t0, "1001", register("1001", "c1", 1, &["<sip:1001@192.0.2.10>"], Some(30), None));
    assert_eq!(out.response.status, 423);
    assert_eq!(out.response.headers.get(&HeaderName::MinExpires), Some("60"));
    assert!(n.reg.lookup("1001").is_empty());
    // The Contact parameter wins over the header, both ways.
    let out = n.send(t0, "1001", register("1001", "c1", 2, &["<sip:1001@192.0.2.10>;expires=59"], Some(3600), None));
    assert_eq!(out.response.status, 423);
    let out = n.send(t0, "1001", register("1001", "c1", 3, &["<sip:1001@192.0.2.10>;expires=120"], Some(30), None));
    assert_eq!(contacts(&out.response), ["<sip:1001@192.0.2.10>;expires=120"]);
    // Longer than max_expires is shortened.
    let out = n.send(t0, "1001", register("1001", "c1", 4, &["<sip:1001@192.0.2.10>"], Some(86400), None));
    assert_eq!(contacts(&out.response), ["<sip:1001@192.0.2.10>;expires=3600"]);
    let out = n.send(t0, "1001", register("1001", "c1", 5, &["<sip:1001@192.0.2.10>;expires=soon"], None, None));
    assert_eq!(out.response.status, 400);
}

#[test]
fn multiple_contacts_with_their_own_expiry() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    let req = register(
        "1001",
        "c1",
        1,
        &["<sip:1001@192.0.2.10:5062;transport=tcp>;q=0.7;expires=300, \"Desk\" <sip:1001@192.0.2.11>", "<sip:1001@192.0.2.12>;q=0.1"],
        Some(900),
        None,
    );
    let out = n.send(t0, "1001", req);
    assert_eq!(out.response.status, 200);
    assert_eq!(out.events.len(), 3);
    let list = n.reg.lookup("1001");
    assert_eq!(list.len(), 3);
    let find = |u: &str| list.iter().find(|b| b.contact_uri == u).unwrap();
    assert_eq!(find("sip:1001@192.0.2.10:5062;transport=tcp").expires_at, t0 + secs(300));
    assert_eq!(find("sip:1001@192.0.2.10:5062;transport=tcp").q, Some(0.7));
    assert_eq!(find("sip:1001@192.0.2.11").expires_at, t0 + secs(900));
    assert_eq!(find("sip:1001@192.0.2.12").q, Some(0.1));
    assert!(contacts(&out.response).contains(&"<sip:1001@192.0.2.10:5062;transport=tcp>;q=0.7;expires=300".to_owned()));
    // The earliest expiry wakes the registrar.
    assert_eq!(n.reg.poll_timeout(), Some(t0 + secs(300)));
    assert_eq!(n.reg.handle_timeout(t0 + secs(300)).len(), 1);
    assert_eq!(n.reg.lookup("1001").len(), 2);
}

#[test]
fn binding_limits() {
    let t0 = epoch();
    let config = RegistrarConfig { max_bindings_per_user: 2, max_bindings_total: 3, ..RegistrarConfig::default() };
    let mut n = Node::new(t0, config);
    let out = n.send(t0, "1001", register("1001", "a", 1, &["<sip:1001@192.0.2.1>", "<sip:1001@192.0.2.2>"], None, None));
    assert_eq!(out.response.status, 200);
    let out = n.send(t0, "1001", register("1001", "a", 2, &["<sip:1001@192.0.2.3>"], None, None));
    assert_eq!((out.response.status, out.cause), (403, "registrar.too_many_bindings"));
    assert_eq!(n.reg.lookup("1001").len(), 2, "a refused request changes nothing");
    // Replacing one binding by another in one request stays within the limit.
    let out = n.send(t0, "1001", register("1001", "a", 3, &["<sip:1001@192.0.2.1>;expires=0", "<sip:1001@192.0.2.3>"], None, None));
    assert_eq!(out.response.status, 200);

    assert_eq!(n.send(t0, "1002", register("1002", "b", 1, &["<sip:1002@192.0.2.9>"], None, None)).response.status, 200);
    let out = n.send(t0, "1003", register("1003", "c", 1, &["<sip:1003@192.0.2.8>"], None, None));
    assert_eq!((out.response.status, out.cause), (503, "registrar.store_full"));
    assert!(out.response.headers.contains(&HeaderName::RetryAfter));
    // A refresh in a full store is fine.
    assert_eq!(n.send(t0, "1002", register("1002", "b", 2, &["<sip:1002@192.0.2.9>"], None, None)).response.status, 200);
}

#[test]
fn to_must_be_the_authenticated_user() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    let out = n.send_as(t0, "1002", register("1001", "c1", 1, &["<sip:1001@192.0.2.10>"], None, None), peer(5062));
    assert_eq!((out.response.status, out.cause), (403, "registrar.not_owner"));
    assert_eq!(out.user.as_deref(), Some("1002"));
    assert!(n.reg.lookup("1001").is_empty());
}

#[test]
fn lookup_is_newest_first() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    n.send(t0, "1001", register("1001", "c1", 1, &["<sip:1001@192.0.2.1>"], None, None));
    n.send(t0 + secs(10), "1001", register("1001", "c2", 1, &["<sip:1001@192.0.2.2>"], None, None));
    assert_eq!(uris(&n.reg.lookup("1001")), ["sip:1001@192.0.2.2", "sip:1001@192.0.2.1"]);
    n.send(t0 + secs(20), "1001", register("1001", "c1", 2, &["<sip:1001@192.0.2.1>"], None, None));
    assert_eq!(uris(&n.reg.lookup("1001")), ["sip:1001@192.0.2.1", "sip:1001@192.0.2.2"]);
    assert!(n.reg.lookup("1002").is_empty());
}

#[test]
fn call_id_and_cseq_ordering() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    let c = ["<sip:1001@192.0.2.1>"];
    n.send(t0, "1001", register("1001", "c1", 5, &c, Some(600), None));
    // Same Call-ID, CSeq not higher: refused, nothing changes.
    for cseq in [5, 4] {
        let out = n.send(t0 + secs(1), "1001", register("1001", "c1", cseq, &c, Some(0), None));
        assert_eq!((out.response.status, out.cause), (500, "registrar.out_of_order"));
        assert_eq!(n.reg.lookup("1001").len(), 1);
    }
    let out = n.send(t0 + secs(1), "1001", register("1001", "c1", 4, &["*"], Some(0), None));
    assert_eq!(out.response.status, 500);
    // Another Call-ID (a rebooted phone) may update whatever its CSeq.
    let out = n.send(t0 + secs(2), "1001", register("1001", "other", 1, &c, Some(300), None));
    assert_eq!(out.response.status, 200);
    assert_eq!(n.reg.lookup("1001")[0].call_id, "other");
}

#[test]
fn query_without_contact_changes_nothing() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    n.send(t0, "1001", register("1001", "c1", 1, &["<sip:1001@192.0.2.1>"], Some(600), None));
    let out = n.send(t0 + secs(100), "1001", register("1001", "c1", 2, &[], None, None));
    assert_eq!(out.response.status, 200);
    assert!(out.events.is_empty());
    assert_eq!(contacts(&out.response), ["<sip:1001@192.0.2.1>;expires=500"]);
}

#[test]
fn wrong_password_is_challenged_and_bad_requests_answered() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    let challenge = n.auth.challenge(t0, "ncgw", false).pop().unwrap();
    let authz = digest_answer(&challenge, "1001", "wrong", "REGISTER", RURI, 1);
    let req = register("1001", "c1", 1, &["<sip:1001@192.0.2.1>"], None, Some(&authz));
    let out = n.reg.handle_register(t0, &req, peer(5062), &mut n.auth, store);
    assert_eq!((out.response.status, out.cause), (401, "auth.bad_response"));
    let req = register("1001", "c1", 2, &["<sip:1001@192.0.2.1>"], None, Some(&authz));
    let out = n.reg.handle_register(t0, &req, peer(5062), &mut n.auth, store);
    assert_eq!((out.response.status, out.cause), (403, "auth.repeated_bad_response"));

    let mut invite = register("1001", "c1", 3, &[], None, None);
    invite.method = Method::Invite;
    assert_eq!(n.reg.handle_register(t0, &invite, peer(5062), &mut n.auth, store).response.status, 405);
    let out = n.send(t0, "1001", register("1001", "c1", 4, &["<sip:1001@192.0.2.1"], None, None));
    assert_eq!(out.response.status, 400);
}

#[test]
fn contact_listed_twice_in_one_request() {
    let t0 = epoch();
    let mut n = Node::default(t0);
    let c = ["<sip:1001@192.0.2.1>", "<sip:1001@192.0.2.1>;expires=120"];
    let out = n.send(t0, "1001", register("1001", "c1", 1, &c, None, None));
    assert_eq!(out.response.status, 200, "{}", out.cause);
    assert_eq!(contacts(&out.response), ["<sip:1001@192.0.2.1>;expires=120"]);
    assert_eq!(out.events.len(), 2);
}

#[test]
fn config_checks() {
    assert_eq!(RegistrarConfig::default().check(), Ok(()));
    let bad = RegistrarConfig { min_expires: 600, default_expires: 300, ..RegistrarConfig::default() };
    assert!(matches!(bad.check(), Err(RegistrarConfigError::ExpiryBounds { .. })));
    let bad = RegistrarConfig { max_bindings_total: 0, ..RegistrarConfig::default() };
    assert_eq!(bad.check(), Err(RegistrarConfigError::ZeroLimit));
    assert_eq!(crate::sip::auth::AuthConfig::default().check(), Ok(()));
}
