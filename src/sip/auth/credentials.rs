//! `Authorization` / `Proxy-Authorization` digest credentials (RFC 3261 §25.1 `credentials`,
//! RFC 7616 §3.4) parsed into a typed value, and challenge values written for
//! `WWW-Authenticate` / `Proxy-Authenticate`.
use std::borrow::Cow;

use super::digest::Algorithm;

/// Header values longer than this are refused before parsing; real ones are a few hundred bytes.
pub const MAX_CREDENTIALS_LEN: usize = 4096;

/// The quality of protection a client chose (`qop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    Auth,
    /// `auth-int`: parsed so that it can be refused by name; never offered.
    AuthInt,
}

impl Qop {
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

/// The digest credentials of one `Authorization` or `Proxy-Authorization` field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DigestCredentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    /// The `uri` parameter (RFC 3261 names it `digest-uri`), as sent.
    pub uri: String,
    /// The response digest in hex, as sent.
    pub response: String,
    /// `MD5` when the parameter is absent (RFC 7616 §3.4).
    pub algorithm: Algorithm,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    /// `None` for the RFC 2069 form that older clients send when they ignore `qop`.
    pub qop: Option<Qop>,
    /// The nonce count, present exactly when `qop` is.
    pub nc: Option<u32>,
}

/// Why a credentials value could not be read. The peer is at fault in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The scheme is not `Digest` (e.g. `Basic`, `Bearer`).
    #[error("not a Digest credential")]
    NotDigest,
    /// The value is longer than [`MAX_CREDENTIALS_LEN`].
    #[error("credentials too long")]
    TooLong,
    /// The parameter list does not follow `auth-param *( "," auth-param )`.
    #[error("bad credentials syntax ({0})")]
    Syntax(&'static str),
    /// A parameter appears twice (RFC 7616 §3.4: each at most once).
    #[error("parameter {0} given twice")]
    Duplicate(String),
    /// A parameter the computation needs is absent.
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// `algorithm` names one we do not implement.
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// `qop` is neither `auth` nor `auth-int`.
    #[error("unsupported qop {0:?}")]
    UnsupportedQop(String),
    /// `nc` is not 8 hex digits.
    #[error("bad nonce count")]
    BadNonceCount,
}

impl DigestCredentials {
    /// Parses one header value: `Digest` then comma-separated `name=value` pairs, values tokens or
    /// quoted strings (escapes removed), names case-insensitive, unknown parameters ignored.
    pub fn parse(value: &str) -> Result<DigestCredentials, CredentialsError> {
        if value.len() > MAX_CREDENTIALS_LEN {
            return Err(CredentialsError::TooLong);
        }
        let value = value.trim_matches(is_lws);
        let scheme_end = value.find(is_lws).unwrap_or(value.len());
        if !value[..scheme_end].eq_ignore_ascii_case("Digest") {
            return Err(CredentialsError::NotDigest);
        }
        let params = parse_params(&value[scheme_end..])?;

        let mut seen: Vec<&str> = Vec::with_capacity(params.len());
        for (name, _) in &params {
            if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                return Err(CredentialsError::Duplicate(name.to_ascii_lowercase()));
            }
            seen.push(name);
        }
        let get = |name: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref());
        let need = |name: &'static str| get(name).map(str::to_owned).ok_or(CredentialsError::Missing(name));

        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::from_token(a).ok_or_else(|| CredentialsError::UnsupportedAlgorithm(a.to_owned()))?,
        };
        let qop = match get("qop") {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
            Some(q) if q.eq_ignore_ascii_case("auth-int") => Some(Qop::AuthInt),
            Some(q) => return Err(CredentialsError::UnsupportedQop(q.to_owned())),
        };
        let nc = match (qop, get("nc")) {
            (Some(_), Some(nc)) => Some(parse_nc(nc)?),
            (Some(_), None) => return Err(CredentialsError::Missing("nc")),
            // An nc without qop means nothing in the RFC 2069 computation.
            (None, _) => None,
        };
        let cnonce = get("cnonce").map(str::to_owned);
        if qop.is_some() && cnonce.is_none() {
            return Err(CredentialsError::Missing("cnonce"));
        }
        Ok(DigestCredentials {
            username: need("username")?,
            realm: need("realm")?,
            nonce: need("nonce")?,
            uri: need("uri")?,
            response: need("response")?,
            algorithm,
            cnonce,
            opaque: get("opaque").map(str::to_owned),
            qop,
            nc,
        })
    }
}

fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `nc-value = 8LHEX`; upper-case hex is tolerated.
fn parse_nc(s: &str) -> Result<u32, CredentialsError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CredentialsError::BadNonceCount);
    }
    u32::from_str_radix(s, 16).map_err(|_| CredentialsError::BadNonceCount)
}

/// RFC 3261 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// Splits `name=value, name="value", …` (empty list elements tolerated, RFC 7230 §7).
fn parse_params(s: &str) -> Result<Vec<(&str, Cow<'_, str>)>, CredentialsError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_lws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\r' | b'\n') {
            *i += 1;
        }
    };
    loop {
        skip_lws(&mut i);
        while i < b.len() && b[i] == b',' {
            i += 1;
            skip_lws(&mut i);
        }
        if i >= b.len() {
            break;
        }
        let name_start = i;
        while i < b.len() && is_token_byte(b[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(CredentialsError::Syntax("expected a parameter name"));
        }
        let name = &s[name_start..i];
        skip_lws(&mut i);
        if b.get(i) != Some(&b'=') {
            return Err(CredentialsError::Syntax("expected '='"));
        }
        i += 1;
        skip_lws(&mut i);
        let value = if b.get(i) == Some(&b'"') {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            let mut seg = i;
            while i < b.len() {
                match b[i] {
                    b'\\' => {
                        v.push_str(&s[seg..i]);
                        // An escaped character stands for itself (RFC 3261 quoted-pair); a
                        // non-ASCII one is copied as the whole UTF-8 sequence.
                        let next = s[i + 1..].chars().next().ok_or(CredentialsError::Syntax("unterminated quoted string"))?;
                        v.push(next);
                        i += 1 + next.len_utf8();
                        seg = i;
                    }
                    b'"' => {
                        v.push_str(&s[seg..i]);
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => i += 1,
                }
            }
            if !closed {
                return Err(CredentialsError::Syntax("unterminated quoted string"));
            }
            Cow::Owned(v)
        } else {
            let start = i;
            while i < b.len() && is_token_byte(b[i]) {
                i += 1;
            }
            if i == start {
                return Err(CredentialsError::Syntax("expected a token or quoted string"));
            }
            Cow::Borrowed(&s[start..i])
        };
        out.push((name, value));
        skip_lws(&mut i);
        match b.get(i) {
            None => break,
            Some(b',') => i += 1,
            Some(_) => return Err(CredentialsError::Syntax("expected ',' between parameters")),
        }
    }
    Ok(out)
}

/// Writes `s` as a quoted string, escaping `"` and `\`.
pub(super) fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// One challenge value: `Digest realm="…", nonce="…", algorithm=…, qop="auth"[, stale=true]`.
pub(super) fn challenge_value(realm: &str, nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    let mut v = String::with_capacity(64 + realm.len() + nonce.len());
    v.push_str("Digest realm=");
    quote(realm, &mut v);
    v.push_str(", nonce=");
    quote(nonce, &mut v);
    v.push_str(", algorithm=");
    v.push_str(algorithm.as_str());
    v.push_str(", qop=\"auth\"");
    if stale {
        v.push_str(", stale=true");
    }
    v
}
