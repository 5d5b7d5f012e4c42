//! The digest computations of RFC 7616 §3.4 (as used by SIP, RFC 3261 §22.4 and RFC 8760): HA1,
//! HA2 and the response, for MD5 and SHA-256 and their `-sess` variants.
use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A digest algorithm (the `algorithm` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

/// The hash function under an algorithm, which decides which stored HA1 applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashKind {
    Md5,
    Sha256,
}

impl Algorithm {
    /// Maps the parameter value (case-insensitive, RFC 7616 §3.3) to an algorithm; `None` for
    /// others (SHA-512-256, AKAv1-MD5, …).
    pub fn from_token(s: &str) -> Option<Algorithm> {
        [Algorithm::Md5, Algorithm::Md5Sess, Algorithm::Sha256, Algorithm::Sha256Sess]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The token as written in challenges and credentials.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    pub fn hash(self) -> HashKind {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashKind::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashKind::Sha256,
        }
    }

    /// `-sess`: HA1 also covers the nonce and cnonce (RFC 7616 §3.4.2).
    pub fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl HashKind {
    /// Length of a digest of this kind written in hex.
    pub fn hex_len(self) -> usize {
        match self {
            HashKind::Md5 => 32,
            HashKind::Sha256 => 64,
        }
    }

    /// `H(parts joined by ':')` in lower-case hex.
    pub fn hex_of(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex(&d.finalize())
        }
        match self {
            HashKind::Md5 => run::<Md5>(parts),
            HashKind::Sha256 => run::<Sha256>(parts),
        }
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// `H(username:realm:password)`: what a credential store keeps instead of the password.
pub fn ha1(hash: HashKind, username: &str, realm: &str, password: &str) -> String {
    hash.hex_of(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

/// The inputs of a response computation that come from the request and the credentials.
#[derive(Debug, Clone, Copy)]
pub struct ResponseInput<'a> {
    pub algorithm: Algorithm,
    /// The stored `H(username:realm:password)` in hex, for the algorithm's hash.
    pub ha1: &'a str,
    pub nonce: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    /// `Some((nc, cnonce, qop))` with qop; `None` for the RFC 2069 form without qop.
    pub qop: Option<(&'a str, &'a str, &'a str)>,
    /// The cnonce, needed by `-sess` algorithms (also present in `qop`).
    pub cnonce: Option<&'a str>,
}

/// The expected `response` value in lower-case hex (RFC 7616 §3.4.1). `None` when a `-sess`
/// algorithm comes without a cnonce.
pub fn response(input: &ResponseInput<'_>) -> Option<String> {
    let h = input.algorithm.hash();
    // Stored HA1 values may have been written in upper case; the hash input is lower-case hex.
    let mut ha1 = input.ha1.to_ascii_lowercase();
    if input.algorithm.is_sess() {
        let cnonce = input.cnonce?;
        ha1 = h.hex_of(&[ha1.as_bytes(), input.nonce.as_bytes(), cnonce.as_bytes()]);
    }
    let ha2 = h.hex_of(&[input.method.as_bytes(), input.uri.as_bytes()]);
    Some(match input.qop {
        Some((nc, cnonce, qop)) => h.hex_of(&[
            ha1.as_bytes(),
            input.nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            qop.as_bytes(),
            ha2.as_bytes(),
        ]),
        None => h.hex_of(&[ha1.as_bytes(), input.nonce.as_bytes(), ha2.as_bytes()]),
    })
}

/// Compares a received response with the expected one without leaking, through timing, how many
/// leading characters match. Hex case is ignored.
pub fn response_matches(expected: &str, received: &str) -> bool {
    if expected.len() != received.len() {
        return false;
    }
    let received = received.to_ascii_lowercase();
    expected.as_bytes().ct_eq(received.as_bytes()).into()
}
