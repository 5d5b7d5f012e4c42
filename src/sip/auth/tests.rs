//! Digest authentication tests: RFC example vectors, round trips with a small client written
//! here (its own hashing, not the module's), nonce lifetime, forgery, replay and garbage input.
use std::time::Duration;

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::*;
use crate::sip::message::{Message, Method};
use crate::testing::epoch;

const SECRET: [u8; 32] = [7; 32];
const REALM: &str = "ncgw";
const RURI: &str = "sip:127.0.0.1:5060";

fn hexdigest(alg: &str, data: &str) -> String {
    let bytes: Vec<u8> = if alg.starts_with("SHA-256") {
        Sha256::digest(data.as_bytes()).to_vec()
    } else {
        Md5::digest(data.as_bytes()).to_vec()
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A parameter of a challenge, quoted or not (test-grade: no escapes in our values).
fn param(challenge: &str, name: &str) -> Option<String> {
    for part in challenge.trim_start_matches("Digest").split(',') {
        let (n, v) = part.trim().split_once('=')?;
        if n.trim().eq_ignore_ascii_case(name) {
            return Some(v.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// What a client needs to answer a challenge.
struct Client<'a> {
    user: &'a str,
    password: &'a str,
    uri: &'a str,
    method: &'a str,
    cnonce: &'a str,
}

impl Client<'_> {
    /// The credentials value answering `challenge` with nonce count `nc` (`None`: RFC 2069 form).
    fn answer(&self, challenge: &str, nc: Option<u32>) -> String {
        let realm = param(challenge, "realm").unwrap();
        let nonce = param(challenge, "nonce").unwrap();
        let alg = param(challenge, "algorithm").unwrap_or_else(|| "MD5".into());
        self.answer_with(&realm, &nonce, &alg, nc)
    }

    fn answer_with(&self, realm: &str, nonce: &str, alg: &str, nc: Option<u32>) -> String {
        let mut ha1 = hexdigest(alg, &format!("{}:{realm}:{}", self.user, self.password));
        if alg.ends_with("-sess") {
            ha1 = hexdigest(alg, &format!("{ha1}:{nonce}:{}", self.cnonce));
        }
        let ha2 = hexdigest(alg, &format!("{}:{}", self.method, self.uri));
        match nc {
            Some(nc) => {
                let nc = format!("{nc:08x}");
                let resp = hexdigest(alg, &format!("{ha1}:{nonce}:{nc}:{}:auth:{ha2}", self.cnonce));
                format!(
                    "Digest username=\"{}\",realm=\"{realm}\",cnonce=\"{}\",nc={nc},qop=auth,uri=\"{}\",nonce=\"{nonce}\",response=\"{resp}\",algorithm={alg}",
                    self.user, self.cnonce, self.uri
                )
            }
            None => {
                let resp = hexdigest(alg, &format!("{ha1}:{nonce}:{ha2}"));
                format!(
                    "Digest username=\"{}\",realm=\"{realm}\",nonce=\"{nonce}\",uri=\"{}\",response=\"{resp}\",algorithm={alg}",
                    self.user, self.uri
                )
            }
        }
    }
}

const ALICE: Client<'static> =
    Client { user: "1001", password: "s3cret", uri: RURI, method: "REGISTER", cnonce: "6b8b4567327b23c6" };

fn store(user: &str) -> Option<Credentials> {
    match user {
        "1001" => Some(Credentials::from_password("1001", REALM, "s3cret")),
        "1002" => Some(Credentials { ha1_md5: ha1(HashKind::Md5, "1002", REALM, "pw"), ha1_sha256: String::new() }),
        _ => None,
    }
}

fn request(auth: Option<&str>) -> Request {
    let mut req = Request::new(Method::Register, RURI);
    req.headers.push(HeaderName::Via, "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1");
    req.headers.push(HeaderName::From, "<sip:1001@127.0.0.1>;tag=1");
    req.headers.push(HeaderName::To, "<sip:1001@127.0.0.1>");
    req.headers.push(HeaderName::CallId, "reg-1");
    req.headers.push(HeaderName::CSeq, "1 REGISTER");
    if let Some(a) = auth {
        req.headers.push(HeaderName::Authorization, a);
    }
    req
}

fn challenge_for(auth: &mut Authenticator, now: Instant, alg: &str) -> String {
    auth.challenge(now, REALM, false).into_iter().find(|c| param(c, "algorithm").as_deref() == Some(alg)).unwrap()
}

fn authenticated(o: &AuthOutcome) -> bool {
    matches!(o, AuthOutcome::Authenticated { user, .. } if user == "1001")
}

#[test]
fn rfc7616_example_vectors() {
    // RFC 7616 §3.9.1: GET of /dir/index.html, qop=auth, nc=00000001.
    for (alg, expected) in [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ] {
        let header = format!(
            "Digest username=\"Mufasa\",\r\n realm=\"http-auth@example.org\", uri=\"/dir/index.html\", algorithm={alg}, \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, response=\"{expected}\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        );
        let c = DigestCredentials::parse(&header).unwrap();
        let alg = Algorithm::from_token(alg).unwrap();
        let ha1 = ha1(alg.hash(), "Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(c.expected_response("GET", &ha1).as_deref(), Some(expected));
        assert!(c.verify_response("GET", &ha1));
        let wrong = super::ha1(alg.hash(), "Mufasa", "http-auth@example.org", "Circle of life");
        assert!(!c.verify_response("GET", &wrong));
        assert_eq!(c.opaque.as_deref(), Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"));
    }
}

#[test]
fn rfc2617_example_vector() {
    let header = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
                  nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, \
                  nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", \
                  opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    let c = DigestCredentials::parse(header).unwrap();
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert!(c.verify_response("GET", &ha1(HashKind::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life")));
}

#[test]
fn challenge_offers_sha256_then_md5_with_one_nonce() {
    let mut auth = Authenticator::new(SECRET, epoch());
    let values = auth.challenge(epoch(), REALM, false);
    assert_eq!(values.len(), 2);
    assert_eq!(param(&values[0], "algorithm").as_deref(), Some("SHA-256"));
    assert_eq!(param(&values[1], "algorithm").as_deref(), Some("MD5"));
    assert_eq!(param(&values[0], "nonce"), param(&values[1], "nonce"));
    assert!(values[0].contains("qop=\"auth\"") && !values[0].contains("stale"));
    assert!(auth.challenge(epoch(), REALM, true)[0].ends_with(", stale=true"));
    // Every challenge has its own nonce, even within one millisecond.
    assert_ne!(param(&auth.challenge(epoch(), REALM, false)[0], "nonce"), param(&values[0], "nonce"));

    let resp = auth.challenge_response(epoch(), &request(None), REALM, false, false);
    assert_eq!(resp.status, 401);
    assert_eq!(resp.headers.get_all(&HeaderName::WwwAuthenticate).count(), 2);
    let resp = auth.challenge_response(epoch(), &request(None), REALM, true, false);
    assert_eq!(resp.status, 407);
    assert_eq!(resp.headers.get_all(&HeaderName::ProxyAuthenticate).count(), 2);
}

#[test]
fn sha256_md5_and_sess_round_trips() {
    let t0 = epoch();
    let mut auth = Authenticator::new(SECRET, t0);
    for alg in ["SHA-256", "MD5"] {
        let ch = challenge_for(&mut auth, t0, alg);
        let out = auth.verify(t0, &request(Some(&ALICE.answer(&ch, Some(1)))), REALM, false, store);
        assert_eq!(out, AuthOutcome::Authenticated { user: "1001".into(), algorithm: Algorithm::from_token(alg).unwrap() });
    }
    for alg in ["SHA-256-sess", "MD5-sess"] {
        let ch = challenge_for(&mut auth, t0, "MD5");
        let nonce = param(&ch, "nonce").unwrap();
        let a = ALICE.answer_with(REALM, &nonce, alg, Some(1));
        assert!(authenticated(&auth.verify(t0, &request(Some(&a)), REALM, false, store)), "{alg}");
    }
}

#[test]
fn no_qop_legacy_form_is_single_use() {
    let t0 = epoch();
    let mut auth = Authenticator::new(SECRET, t0);
    let a = ALICE.answer(&challenge_for(&mut auth, t0, "MD5"), None);
    assert!(authenticated(&auth.verify(t0, &request(Some(&a)), REALM, false, store)));
    assert_eq!(
        auth.verify(t0, &request(Some(&a)), REALM, false, store),
        AuthOutcome::Challenge { stale: true, reason: AuthFailure::Replayed }
    );
}

#[test]
fn nonce_goes_stale_after_its_lifetime() {
    let t0 = epoch();
    let mut auth = Authenticator::new(SECRET, t0);
    let ch = challenge_for(&mut auth, t0, "SHA-256");
    let ok = auth.verify(t0 + Duration::from_secs(299), &request(Some(&ALICE.answer(&ch, Some(1)))), REALM, false, store);
    assert!(authenticated(&ok));
    let late = auth.verify(t0 + Duration::from_secs(301), &request(Some(&ALICE.answer(&ch, Some(2)))), REALM, false, store);
    assert_eq!(late, AuthOutcome::Challenge { stale: true, reason: AuthFailure::StaleNonce });
    // A wrong password with a stale nonce is not told that only the nonce was wrong.
    let bad = Client { password: "nope", ..ALICE };
    let late = auth.verify(t0 + Duration::from_secs(301), &request(Some(&bad.answer(&ch, Some(3)))), REALM, false, store);
    assert_eq!(late, AuthOutcome::Challenge { stale: false, reason: AuthFailure::StaleNonce });
}

#[test]
fn forged_and_foreign_nonces_are_rejected() {
    let t0 = epoch();
    let mut auth = Authenticator::new(SECRET, t0);
    let nonce = param(&challenge_for(&mut auth, t0, "MD5"), "nonce").unwrap();
    // Flip one character of the MAC part.
    let mut forged: Vec<char> = nonce.chars().collect();
    let i = forged.len() - 5;
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let fake_stamp = base64::engine::general_purpose::STANDARD.encode([0u8; 48]);
    for n in [forged.as_str(), fake_stamp.as_str(), "abc", "", "%%%%"] {
        let a = ALICE.answer_with(REALM, n, "MD5", Some(1));
        let out = auth.verify(t0, &request(Some(&a)), REALM, false, store);
        assert!(matches!(out, AuthOutcome::Challenge { reason: AuthFailure::InvalidNonce, .. }), "{n}: {out:?}");
    }
    // Another node (other secret) and another realm's nonce.
    let other = param(&Authenticator::new([9; 32], t0).challenge(t0, REALM, false)[0], "nonce").unwrap();
    let a = ALICE.answer_with(REALM, &other, "MD5", Some(1));
    assert_eq!(
        auth.verify(t0, &request(Some(&a)), REALM, false, store),
        AuthOutcome::Challenge { stale: true, reason: AuthFailure::InvalidNonce }
    );
    let elsewhere = param(&auth.challenge(t0, "other.example", false)[0], "nonce").unwrap();
    let a = ALICE.answer_with(REALM, &elsewhere, "MD5", Some(1));
    assert!(matches!(
        auth.verify(t0, &request(Some(&a)), REALM, false, store),
        AuthOutcome::Challenge { reason: AuthFailure::InvalidNonce, .. }
    ));
}

#[test]
fn replayed_nonce_count_is_rejected() {
    let t0 = epoch();
    let mut auth = Authenticator::new(SECRET, t0);
    let ch = challenge_for(&mut auth, t0, "SHA-256");
    let first = request(Some(&ALICE.answer(&ch, Some(1))));
    assert!(authenticated(&auth.verify(t0, &first, REALM, false, store)));
    let replay = AuthOutcome::Challenge { stale: true, reason: AuthFailure::Replayed };
    assert_eq!(auth.verify(t0, &first, REALM, false, store), replay);
    assert!(authenticated(&auth.verify(t0, &request(Some(&ALICE.answer(&ch, Some(3)))), REALM, false, store)));
    assert_eq!(auth.verify(t0, &request(Some(&ALICE.answer(&ch, Some(2)))), REALM, false, store), replay);
}

#[test]
fn wrong_realm_uri_password_and_user() {
    let t0 = epoch();
    let mut auth = Authenticator::new(SECRET, t0);
    let ch = challenge_for(&mut auth, t0, "MD5");
    let nonce = param(&ch, "nonce").unwrap();

    let other_realm = ALICE.answer_with("elsewhere", &nonce, "MD5", Some(1));
    assert_eq!(
        auth.verify(t0, &request(Some(&other_realm)), REALM, false, store),
        AuthOutcome::Challenge { stale: false, reason: AuthFailure::NoCredentials }
    );

    let other_uri = Client { uri: "sip:10.0.0.1", ..ALICE }.answer(&ch, Some(1));
    assert_eq!(
        auth.verify(t0, &request(Some(&other_uri)), REALM, false, store),
        AuthOutcome::Forbidden { reason: AuthFailure::UriMismatch }
    );
    // An equivalent spelling of the Request-URI is accepted.
    let same_uri = Client { uri: "SIP:127.0.0.1:5060", ..ALICE }.answer(&ch, Some(1));
    assert!(authenticated(&auth.verify(t0, &request(Some(&same_uri)), REALM, false, store)));

    // Wrong password: challenged again; again with the same nonce: 403.
    let ch = challenge_for(&mut auth, t0, "MD5");
    let bad = Client { password: "guess", ..ALICE };
    assert_eq!(
        auth.verify(t0, &request(Some(&bad.answer(&ch, Some(1)))), REALM, false, store),
        AuthOutcome::Challenge { stale: false, reason: AuthFailure::BadResponse }
    );
    assert_eq!(
        auth.verify(t0, &request(Some(&bad.answer(&ch, Some(2)))), REALM, false, store),
        AuthOutcome::Forbidden { reason: AuthFailure::RepeatedBadResponse }
    );

    let ch = challenge_for(&mut auth, t0, "MD5");
    let nobody = Client { user: "9999", ..ALICE };
    assert_eq!(
        auth.verify(t0, &request(Some(&nobody.answer(&ch, Some(1)))), REALM, false, store),
        AuthOutcome::Challenge { stale: false, reason: AuthFailure::UnknownUser }
    );
    // 1002 has no SHA-256 HA1 provisioned: SHA-256 never verifies, MD5 does.
    let bob = Client { user: "1002", password: "pw", ..ALICE };
    let ch = challenge_for(&mut auth, t0, "SHA-256");
    assert!(matches!(auth.verify(t0, &request(Some(&bob.answer(&ch, Some(1)))), REALM, false, store), AuthOutcome::Challenge { .. }));
    let ch = challenge_for(&mut auth, t0, "MD5");
    assert!(matches!(auth.verify(t0, &request(Some(&bob.answer(&ch, Some(1)))), REALM, false, store), AuthOutcome::Authenticated { .. }));
}

#[test]
fn proxy_credentials_use_proxy_authorization() {
    let t0 = epoch();
    let mut auth = Authenticator::new(SECRET, t0);
    let a = ALICE.answer(&challenge_for(&mut auth, t0, "MD5"), Some(1));
    let mut req = request(None);
    req.headers.push(HeaderName::ProxyAuthorization, a.clone());
    assert!(matches!(auth.verify(t0, &req, REALM, false, store), AuthOutcome::Challenge { reason: AuthFailure::NoCredentials, .. }));
    assert!(authenticated(&auth.verify(t0, &req, REALM, true, store)));
}

#[test]
fn unoffered_algorithm_and_qop() {
    let t0 = epoch();
    let config = AuthConfig { algorithms: vec![Algorithm::Sha256], ..AuthConfig::default() };
    let mut auth = Authenticator::with_config(SECRET, config, t0);
    assert_eq!(auth.challenge(t0, REALM, false).len(), 1);
    let nonce = param(&auth.challenge(t0, REALM, false)[0], "nonce").unwrap();
    let md5 = ALICE.answer_with(REALM, &nonce, "MD5", Some(1));
    assert!(matches!(
        auth.verify(t0, &request(Some(&md5)), REALM, false, store),
        AuthOutcome::Challenge { reason: AuthFailure::AlgorithmNotOffered(Algorithm::Md5), .. }
    ));
    let int = ALICE.answer_with(REALM, &nonce, "SHA-256", Some(1)).replace("qop=auth", "qop=auth-int");
    assert!(matches!(
        auth.verify(t0, &request(Some(&int)), REALM, false, store),
        AuthOutcome::Challenge { reason: AuthFailure::QopNotOffered, .. }
    ));
}

#[test]
fn parses_quoting_case_and_spacing() {
    let c = DigestCredentials::parse(
        "digest  USERNAME = \"a\\\"b\\\\c\" ,, Realm=ncgw ,nonce=\"n,o\",uri=\"sip:x\",RESPONSE=\"ab\", qop=\"auth\", nc=0000000A, cnonce=\"c\", x-ext=foo,",
    )
    .unwrap();
    assert_eq!(c.username, "a\"b\\c");
    assert_eq!(c.realm, "ncgw");
    assert_eq!(c.nonce, "n,o");
    assert_eq!(c.qop, Some(Qop::Auth));
    assert_eq!(c.nc, Some(10));
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert_eq!(DigestCredentials::parse("Basic dXNlcjpwYXNz"), Err(CredentialsError::NotDigest));
    assert!(matches!(
        DigestCredentials::parse("Digest username=\"a\", username=\"b\""),
        Err(CredentialsError::Duplicate(_))
    ));
    let base = "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"00\"";
    assert!(DigestCredentials::parse(base).is_ok());
    assert_eq!(DigestCredentials::parse(&format!("{base}, qop=auth, cnonce=\"c\"")), Err(CredentialsError::Missing("nc")));
    assert_eq!(DigestCredentials::parse(&format!("{base}, qop=auth, nc=1, cnonce=\"c\"")), Err(CredentialsError::BadNonceCount));
    assert!(matches!(DigestCredentials::parse(&format!("{base}, algorithm=AKAv1-MD5")), Err(CredentialsError::UnsupportedAlgorithm(_))));
    assert!(matches!(DigestCredentials::parse("Digest username=\"u"), Err(CredentialsError::Syntax(_))));
    assert!(matches!(DigestCredentials::parse("Digest username"), Err(CredentialsError::Syntax(_))));
}

#[test]
fn garbage_authorization_never_panics() {
    let t0 = epoch();
    let mut auth = Authenticator::new(SECRET, t0);
    let mut cases: Vec<String> = [
        "", "Digest", "Digest ", "Digest ,", "Digest =", "Digest a=", "Digest a=\"", "Digest a=\"\\",
        "Digest a=\"\\\u{e9}\"", "Digest realm=ncgw, nonce=\"\", uri=\"\", username=\"\", response=\"\"",
        "Digest realm=\"ncgw\",username=\"1001\",nonce=\"////\",uri=\"sip:127.0.0.1:5060\",response=\"zz\",qop=auth,nc=ffffffff,cnonce=\"\"",
        "Digest realm=\"ncgw\",username=\"1001\",nonce=\"AAAA\",uri=\"sip:127.0.0.1:5060\",response=\"x\",algorithm=MD5-sess",
        "\u{0}\u{1}\u{7f}", "Digest realm=\"ncgw\"\"\"", "Digest ,,,,,,,,,,realm=\"ncgw\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cases.push(format!("Digest realm=\"{}\"", "x".repeat(10_000)));
    // Deterministic pseudo-random mutations of a valid header.
    let valid = ALICE.answer(&challenge_for(&mut auth, t0, "MD5"), Some(1));
    let alphabet = b"\",=\\ \tDigestrealmnonce0123456789abcdef/+";
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..2000 {
        let mut b = valid.clone().into_bytes();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pos = (x as usize) % b.len();
            match x % 3 {
                0 => b[pos] = alphabet[(x >> 32) as usize % alphabet.len()],
                1 => {
                    b.remove(pos);
                }
                _ => b.truncate(pos),
            }
            if b.is_empty() {
                break;
            }
        }
        cases.push(String::from_utf8_lossy(&b).into_owned());
    }
    for c in &cases {
        let _ = DigestCredentials::parse(c);
        let out = auth.verify(t0, &request(Some(c)), REALM, false, store);
        // A mutated header may still verify (e.g. a change in an ignored parameter); it must
        // never authenticate anyone but the real user.
        if let AuthOutcome::Authenticated { user, .. } = out {
            assert_eq!(user, "1001");
        }
    }
}

#[test]
fn replay_state_stays_bounded_under_load() {
    let t0 = epoch();
    let config = AuthConfig { max_tracked_nonces: 4, ..AuthConfig::default() };
    let mut auth = Authenticator::with_config(SECRET, config, t0);
    let challenges: Vec<String> = (0..10).map(|_| challenge_for(&mut auth, t0, "MD5")).collect();
    for ch in &challenges {
        assert!(authenticated(&auth.verify(t0, &request(Some(&ALICE.answer(ch, Some(1)))), REALM, false, store)));
        let bad = Client { password: "x", ..ALICE };
        let _ = auth.verify(t0, &request(Some(&bad.answer(ch, Some(2)))), REALM, false, store);
        assert!(auth.tracked_nonces() <= 8);
    }
    // The first nonce's count was evicted: it is refused (stale), not accepted as new.
    assert_eq!(
        auth.verify(t0, &request(Some(&ALICE.answer(&challenges[0], Some(5)))), REALM, false, store),
        AuthOutcome::Challenge { stale: true, reason: AuthFailure::StaleNonce }
    );
    // The newest still counts on.
    assert!(authenticated(&auth.verify(t0, &request(Some(&ALICE.answer(&challenges[9], Some(5)))), REALM, false, store)));
    // After the lifetime everything is gone.
    let later = t0 + Duration::from_secs(400);
    let ch = challenge_for(&mut auth, later, "MD5");
    assert!(authenticated(&auth.verify(later, &request(Some(&ALICE.answer(&ch, Some(1)))), REALM, false, store)));
    assert_eq!(auth.tracked_nonces(), 1);
}

/// A REGISTER as SIPp 3.6.1 sends it for `[authentication username=1001 password=s3cret]`:
/// parameters without spaces, cnonce/nc/qop first when qop was offered, `algorithm=MD5` last.
#[test]
fn sipp_style_register_verifies() {
    let t0 = epoch();
    let mut auth = Authenticator::new(SECRET, t0);
    let ha1 = hexdigest("MD5", "1001:ncgw:s3cret");
    let ha2 = hexdigest("MD5", "REGISTER:sip:127.0.0.1:5060");
    for qop in [true, false] {
        let nonce = param(&challenge_for(&mut auth, t0, "MD5"), "nonce").unwrap();
        let h = if qop {
            let r = hexdigest("MD5", &format!("{ha1}:{nonce}:00000001:6b8b4567:auth:{ha2}"));
            format!("Digest username=\"1001\",realm=\"ncgw\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"sip:127.0.0.1:5060\",nonce=\"{nonce}\",response=\"{r}\",algorithm=MD5")
        } else {
            let r = hexdigest("MD5", &format!("{ha1}:{nonce}:{ha2}"));
            format!("Digest username=\"1001\",realm=\"ncgw\",nonce=\"{nonce}\",uri=\"sip:127.0.0.1:5060\",response=\"{r}\",algorithm=MD5")
        };
        let raw = format!(
            "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1-1-2\r\n\
             From: sipp <sip:1001@127.0.0.1:5061>;tag=1\r\n\
             To: sipp <sip:1001@127.0.0.1:5060>\r\n\
             Call-ID: 1-4242@127.0.0.1\r\n\
             CSeq: 2 REGISTER\r\n\
             Contact: sip:1001@127.0.0.1:5061\r\n\
             Max-Forwards: 70\r\n\
             Expires: 3600\r\n\
             {}: {h}\r\n\
             Content-Length: 0\r\n\r\n",
            "Authorization"
        );
        let Ok(Message::Request(req)) = Message::parse(raw.as_bytes()) else { panic!("test message must parse") };
        assert_eq!(
            auth.verify(t0, &req, REALM, false, store),
            AuthOutcome::Authenticated { user: "1001".into(), algorithm: Algorithm::Md5 }
        );
    }
}

#[test]
fn a_digest_uri_naming_this_node_is_accepted() {
    // SIPp 3.6.1 sends uri="sip:<server address>" rather than the Request-URI of an INVITE.
    let t0 = epoch();
    let config = AuthConfig { local_addrs: vec!["127.0.0.1:5090".parse().unwrap()], ..AuthConfig::default() };
    let mut auth = Authenticator::with_config(SECRET, config, t0);
    let mut req = request(None);
    req.uri = "sip:1002@127.0.0.1:5090".into();
    let answer = |auth: &mut Authenticator, uri: &'static str| {
        let ch = challenge_for(auth, t0, "MD5");
        let mut r = req.clone();
        r.headers.push(HeaderName::Authorization, Client { uri, ..ALICE }.answer(&ch, Some(1)));
        auth.verify(t0, &r, REALM, false, store)
    };
    assert!(authenticated(&answer(&mut auth, "sip:127.0.0.1:5090")), "our own address");
    assert!(authenticated(&answer(&mut auth, "sip:1002@127.0.0.1:5090")), "the Request-URI");
    assert_eq!(answer(&mut auth, "sip:10.9.9.9:5090"), AuthOutcome::Forbidden { reason: AuthFailure::UriMismatch }, "another server");
    assert_eq!(answer(&mut auth, "sip:127.0.0.1:5091"), AuthOutcome::Forbidden { reason: AuthFailure::UriMismatch }, "another port");
    assert_eq!(answer(&mut auth, "sip:9999@127.0.0.1:5090"), AuthOutcome::Forbidden { reason: AuthFailure::UriMismatch }, "a user part that is not the Request-URI");
}
