//! Test-only helpers shared by the sans-IO cores: a virtual clock epoch.
use std::time::Instant;

/// A fixed base instant for virtual-clock tests. Sans-IO code never reads the clock; tests take one
/// reading here and advance it by adding durations.
pub fn epoch() -> Instant {
    Instant::now()
}

/// A test client's answer to a digest challenge (`WWW-Authenticate` value), computed here with the
/// hash crates directly rather than through `sip::auth`, with qop=auth and nonce count `nc`.
pub fn digest_answer(challenge: &str, user: &str, password: &str, method: &str, uri: &str, nc: u32) -> String {
    use sha2::Digest as _;
    let param = |name: &str| {
        challenge.trim_start_matches("Digest").split(',').find_map(|p| {
            let (n, v) = p.trim().split_once('=')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim_matches('"').to_owned())
        })
    };
    let realm = param("realm").expect("challenge has a realm");
    let nonce = param("nonce").expect("challenge has a nonce");
    let alg = param("algorithm").unwrap_or_else(|| "MD5".into());
    let h = |s: String| -> String {
        let bytes = if alg == "SHA-256" { sha2::Sha256::digest(s.as_bytes()).to_vec() } else { md5::Md5::digest(s.as_bytes()).to_vec() };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let ha1 = h(format!("{user}:{realm}:{password}"));
    let ha2 = h(format!("{method}:{uri}"));
    let nc = format!("{nc:08x}");
    let cnonce = "0a4f113b";
    let response = h(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", \
         algorithm={alg}, qop=auth, nc={nc}, cnonce=\"{cnonce}\""
    )
}
