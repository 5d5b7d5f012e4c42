//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616 as applied to SIP by RFC 8760),
//! sans-IO: challenges with stateless HMAC nonces, credential parsing, and verification against
//! stored HA1 values (never passwords), with nonce-count replay protection in bounded memory.
//!
//! Policy, in one place:
//! - Challenges offer the configured algorithms in order, SHA-256 then MD5 by default, one header
//!   value each with the same nonce (RFC 8760 §2.4), always with `qop="auth"`.
//! - Credentials without `qop` (RFC 2069 clients) are accepted, but their nonce is single-use:
//!   the next request with it gets a `stale=true` challenge, as there is no nonce count to stop a
//!   replay.
//! - A wrong response (or an unknown user, which looks the same to the client) is challenged
//!   again with a fresh nonce. A second wrong response with the *same* nonce, i.e. a client that
//!   ignored our new challenge and retried blindly, gets 403.
//! - A correct response with an expired, reused or unknown nonce gets `stale=true`: the client
//!   knows the password and only needs a fresh nonce (RFC 7616 §3.3).
//! - A `uri` that does not match the Request-URI is refused with 403 (RFC 7616 §3.4.6 suggests
//!   400; the outcome type has no such case and the request is not retried either way).
mod credentials;
mod digest;
mod nonce;

pub use credentials::{CredentialsError, DigestCredentials, Qop, MAX_CREDENTIALS_LEN};
pub use digest::{ha1, Algorithm, HashKind};

use std::time::{Duration, Instant};

use crate::sip::message::{HeaderName, Request, Response, Uri};
use digest::ResponseInput;
use nonce::{CountCheck, NonceCheck, NonceMint, NonceTracker};

/// What the credential store holds for one user: `H(username:realm:password)` in hex for each
/// hash. An empty string (or anything but a hex digest of the hash's length) means "not
/// provisioned": that algorithm then never verifies for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub ha1_md5: String,
    pub ha1_sha256: String,
}

impl Credentials {
    /// Both HA1 values computed from a password (for configuration with clear-text passwords and
    /// for tests; production stores should keep only the HA1 values).
    pub fn from_password(username: &str, realm: &str, password: &str) -> Credentials {
        Credentials {
            ha1_md5: ha1(HashKind::Md5, username, realm, password),
            ha1_sha256: ha1(HashKind::Sha256, username, realm, password),
        }
    }

    fn ha1_for(&self, hash: HashKind) -> Option<&str> {
        let v = match hash {
            HashKind::Md5 => &self.ha1_md5,
            HashKind::Sha256 => &self.ha1_sha256,
        };
        (v.len() == hash.hex_len()).then_some(v.as_str())
    }
}

/// Settings of an [`Authenticator`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// How long a nonce is accepted after it was issued; later uses get `stale=true`.
    pub nonce_lifetime: Duration,
    /// Algorithms offered, in order of preference. Credentials using another hash are refused;
    /// a `-sess` variant is accepted when its base algorithm is offered.
    pub algorithms: Vec<Algorithm>,
    /// Most nonces whose counts (and, separately, failures) are remembered at once.
    pub max_tracked_nonces: usize,
    /// This node's SIP addresses. A digest `uri` that names one of them (`sip:HOST[:PORT]`) is
    /// accepted as well as the Request-URI: clients such as SIPp 3.6.1 put the server's address
    /// there, and it still binds the credentials to this server (RFC 3261 §22.4).
    pub local_addrs: Vec<std::net::SocketAddr>,
}

/// An authentication setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// No algorithm to offer: every challenge would be empty.
    #[error("no digest algorithm configured")]
    NoAlgorithm,
    /// A nonce lifetime of zero makes every nonce stale at once.
    #[error("nonce lifetime must be positive")]
    ZeroLifetime,
    /// Nothing could be remembered about nonces.
    #[error("max_tracked_nonces must be at least 1")]
    ZeroTracking,
}

impl AuthConfig {
    /// Checks the settings (for the configuration loader).
    pub fn check(&self) -> Result<(), AuthConfigError> {
        if self.algorithms.is_empty() {
            return Err(AuthConfigError::NoAlgorithm);
        }
        if self.nonce_lifetime.is_zero() {
            return Err(AuthConfigError::ZeroLifetime);
        }
        if self.max_tracked_nonces == 0 {
            return Err(AuthConfigError::ZeroTracking);
        }
        Ok(())
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            nonce_lifetime: Duration::from_secs(300),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            max_tracked_nonces: 65_536,
            local_addrs: Vec::new(),
        }
    }
}

/// Why a request was not authenticated. Logged and counted; never sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No Digest credentials for our realm (the normal first request).
    #[error("no credentials for the realm")]
    NoCredentials,
    /// Credentials for our realm could not be parsed.
    #[error("malformed credentials: {0}")]
    Malformed(CredentialsError),
    /// The client chose an algorithm we did not offer.
    #[error("algorithm {0} not offered")]
    AlgorithmNotOffered(Algorithm),
    /// The client chose `qop=auth-int`, which we do not offer.
    #[error("qop auth-int not offered")]
    QopNotOffered,
    /// The `uri` parameter is not the Request-URI.
    #[error("digest uri does not match the Request-URI")]
    UriMismatch,
    /// The nonce is ours but older than the nonce lifetime.
    #[error("stale nonce")]
    StaleNonce,
    /// The nonce was not issued by this node for this realm (forged, corrupted, another node's
    /// or from before the secret changed).
    #[error("invalid nonce")]
    InvalidNonce,
    /// The nonce count was not higher than one already accepted with this nonce, or a nonce
    /// without qop was used twice.
    #[error("nonce count replayed")]
    Replayed,
    /// The user is not in the credential store (or has no HA1 for the chosen hash).
    #[error("unknown user")]
    UnknownUser,
    /// The response digest is wrong: wrong password, or a client bug.
    #[error("wrong response digest")]
    BadResponse,
    /// A second wrong response with a nonce that already had one.
    #[error("wrong response digest repeated with the same nonce")]
    RepeatedBadResponse,
}

impl AuthFailure {
    /// Stable, greppable cause code for logs and metrics.
    pub fn cause_code(&self) -> &'static str {
        match self {
            AuthFailure::NoCredentials => "auth.no_credentials",
            AuthFailure::Malformed(_) => "auth.malformed",
            AuthFailure::AlgorithmNotOffered(_) => "auth.algorithm_not_offered",
            AuthFailure::QopNotOffered => "auth.qop_not_offered",
            AuthFailure::UriMismatch => "auth.uri_mismatch",
            AuthFailure::StaleNonce => "auth.stale_nonce",
            AuthFailure::InvalidNonce => "auth.invalid_nonce",
            AuthFailure::Replayed => "auth.replayed",
            AuthFailure::UnknownUser => "auth.unknown_user",
            AuthFailure::BadResponse => "auth.bad_response",
            AuthFailure::RepeatedBadResponse => "auth.repeated_bad_response",
        }
    }
}

/// The verdict on a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthOutcome {
    /// The credentials are valid; `user` is the digest username.
    Authenticated { user: String, algorithm: Algorithm },
    /// Answer 401/407 with a fresh challenge ([`Authenticator::challenge_response`]), passing
    /// `stale` on.
    Challenge { stale: bool, reason: AuthFailure },
    /// Answer 403.
    Forbidden { reason: AuthFailure },
}

/// The header that carries challenges: `Proxy-Authenticate` for a proxy (407), otherwise
/// `WWW-Authenticate` (401).
pub fn challenge_header(proxy: bool) -> HeaderName {
    if proxy {
        HeaderName::ProxyAuthenticate
    } else {
        HeaderName::WwwAuthenticate
    }
}

/// The header that carries credentials: `Proxy-Authorization` or `Authorization`.
pub fn credentials_header(proxy: bool) -> HeaderName {
    if proxy {
        HeaderName::ProxyAuthorization
    } else {
        HeaderName::Authorization
    }
}

impl DigestCredentials {
    /// The response these credentials should carry for `method` given the stored `ha1` of the
    /// algorithm's hash; `None` for a `-sess` algorithm without cnonce.
    pub fn expected_response(&self, method: &str, ha1: &str) -> Option<String> {
        let nc = self.nc.map(|n| format!("{n:08x}"));
        let qop = match (self.qop, &nc, &self.cnonce) {
            (Some(q), Some(nc), Some(c)) => Some((nc.as_str(), c.as_str(), q.as_str())),
            _ => None,
        };
        digest::response(&ResponseInput {
            algorithm: self.algorithm,
            ha1,
            nonce: &self.nonce,
            method,
            uri: &self.uri,
            qop,
            cnonce: self.cnonce.as_deref(),
        })
    }

    /// Whether the response is right for `method` and `ha1` (constant-time comparison).
    pub fn verify_response(&self, method: &str, ha1: &str) -> bool {
        match self.expected_response(method, ha1) {
            Some(expected) => digest::response_matches(&expected, &self.response),
            None => false,
        }
    }
}

/// Issues challenges and verifies credentials for one node. Nonces carry their issue time
/// relative to this authenticator's creation, so they mean something only to the process that
/// issued them: give each process a fresh random 32-byte secret. A nonce from an earlier process
/// then fails its MAC and the client, whose response is otherwise right, gets `stale=true`.
pub struct Authenticator {
    config: AuthConfig,
    mint: NonceMint,
    tracker: NonceTracker,
}

impl Authenticator {
    /// An authenticator with the default settings. `secret` is 32 random bytes.
    pub fn new(secret: [u8; 32], now: Instant) -> Authenticator {
        Authenticator::with_config(secret, AuthConfig::default(), now)
    }

    pub fn with_config(secret: [u8; 32], config: AuthConfig, now: Instant) -> Authenticator {
        let tracker = NonceTracker::new(config.max_tracked_nonces);
        Authenticator { config, mint: NonceMint::new(secret, now), tracker }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Challenge header values for `realm`, one per offered algorithm, sharing a fresh nonce.
    pub fn challenge(&mut self, now: Instant, realm: &str, stale: bool) -> Vec<String> {
        let nonce = self.mint.mint(now, realm);
        self.config.algorithms.iter().map(|a| credentials::challenge_value(realm, &nonce, *a, stale)).collect()
    }

    /// A 401 (or 407 when `proxy`) response to `req` carrying a fresh challenge. The caller adds
    /// a To tag if it keeps one per request.
    pub fn challenge_response(&mut self, now: Instant, req: &Request, realm: &str, proxy: bool, stale: bool) -> Response {
        let mut resp = Response::for_request(req, if proxy { 407 } else { 401 });
        for value in self.challenge(now, realm, stale) {
            resp.headers.push(challenge_header(proxy), value);
        }
        resp
    }

    /// Number of nonces with remembered state (counts or failures); bounded by twice
    /// `max_tracked_nonces`.
    pub fn tracked_nonces(&self) -> usize {
        self.tracker.tracked()
    }

    /// Verifies the request's credentials for `realm`. `lookup` maps a digest username to its
    /// stored HA1 values. Credentials for other realms are ignored, as a request may carry one
    /// per proxy on its path (RFC 3261 §22.3).
    pub fn verify(
        &mut self,
        now: Instant,
        req: &Request,
        realm: &str,
        proxy: bool,
        lookup: impl Fn(&str) -> Option<Credentials>,
    ) -> AuthOutcome {
        let lifetime = self.config.nonce_lifetime;
        self.tracker.expire(now, lifetime);

        let header = credentials_header(proxy);
        let mut malformed = None;
        let mut found = None;
        for value in req.headers.get_all(&header) {
            match DigestCredentials::parse(value) {
                Ok(c) if c.realm == realm => {
                    found = Some(c);
                    break;
                }
                Ok(_) | Err(CredentialsError::NotDigest) => {}
                Err(e) => {
                    malformed.get_or_insert(e);
                }
            }
        }
        let Some(creds) = found else {
            let reason = malformed.map_or(AuthFailure::NoCredentials, AuthFailure::Malformed);
            return AuthOutcome::Challenge { stale: false, reason };
        };

        if creds.qop == Some(Qop::AuthInt) {
            return AuthOutcome::Challenge { stale: false, reason: AuthFailure::QopNotOffered };
        }
        let hash = creds.algorithm.hash();
        if !self.config.algorithms.iter().any(|a| a.hash() == hash) {
            return AuthOutcome::Challenge { stale: false, reason: AuthFailure::AlgorithmNotOffered(creds.algorithm) };
        }
        if !uri_matches(&creds.uri, &req.uri) && !names_us(&creds.uri, &self.config.local_addrs) {
            return AuthOutcome::Forbidden { reason: AuthFailure::UriMismatch };
        }

        let stored = lookup(&creds.username);
        let ha1 = stored.as_ref().and_then(|s| s.ha1_for(hash));
        // Compute a digest for unknown users too, so that timing does not tell them apart.
        let placeholder = "0".repeat(hash.hex_len());
        let response_ok = creds.verify_response(req.method.as_str(), ha1.unwrap_or(&placeholder)) && ha1.is_some();
        let wrong = if ha1.is_some() { AuthFailure::BadResponse } else { AuthFailure::UnknownUser };

        let (serial, issued) = match self.mint.check(now, realm, &creds.nonce, lifetime) {
            NonceCheck::Fresh { serial, issued } => (serial, issued),
            NonceCheck::Stale => {
                return AuthOutcome::Challenge { stale: response_ok, reason: AuthFailure::StaleNonce };
            }
            NonceCheck::Invalid => {
                return AuthOutcome::Challenge { stale: response_ok, reason: AuthFailure::InvalidNonce };
            }
        };
        if !response_ok {
            if self.tracker.note_failure(serial, issued) {
                return AuthOutcome::Forbidden { reason: AuthFailure::RepeatedBadResponse };
            }
            return AuthOutcome::Challenge { stale: false, reason: wrong };
        }
        let counted = match creds.nc {
            Some(nc) => self.tracker.count(serial, issued, nc),
            None => self.tracker.use_once(serial, issued),
        };
        match counted {
            CountCheck::Accepted => AuthOutcome::Authenticated { user: creds.username, algorithm: creds.algorithm },
            CountCheck::Replayed => AuthOutcome::Challenge { stale: true, reason: AuthFailure::Replayed },
            CountCheck::Forgotten => AuthOutcome::Challenge { stale: true, reason: AuthFailure::StaleNonce },
        }
    }
}

/// The digest `uri` must name the Request-URI: same text, or equivalent URIs (RFC 3261 §19.1.4),
/// which tolerates case and parameter-order differences introduced by clients.
/// Whether a digest uri is a SIP URI without user part for one of our addresses (a wildcard
/// listener matches any address on its port).
fn names_us(digest_uri: &str, local: &[std::net::SocketAddr]) -> bool {
    let Ok(Uri::Sip(u)) = Uri::parse(digest_uri) else { return false };
    if u.user.is_some() {
        return false;
    }
    let ip: std::net::IpAddr = match u.host {
        crate::sip::message::Host::V4(v4) => v4.into(),
        crate::sip::message::Host::V6(v6) => v6.into(),
        crate::sip::message::Host::Domain(_) => return false,
    };
    let port = u.port.unwrap_or(if u.secure { 5061 } else { 5060 });
    local.iter().any(|a| a.port() == port && (a.ip() == ip || a.ip().is_unspecified()))
}

fn uri_matches(digest_uri: &str, request_uri: &str) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    match (Uri::parse(digest_uri), Uri::parse(request_uri)) {
        (Ok(a), Ok(b)) => a.equivalent(&b),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
