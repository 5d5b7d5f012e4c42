//! URIs in SIP messages: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), others kept as text.
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::params::Params;
use super::scan;
pub use super::tel::TelUri;

/// A URI that could not be parsed; says which part is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// No `scheme:` prefix, or the scheme has characters a scheme cannot have.
    #[error("missing or bad URI scheme")]
    Scheme,
    /// The user or password part has characters that must be escaped, or a bad `%` escape.
    #[error("bad user part")]
    User,
    /// The host is empty or not a valid domain name, IPv4 or bracketed IPv6 address.
    #[error("bad host")]
    Host,
    /// The port is not a number from 0 to 65535.
    #[error("bad port")]
    Port,
    /// A `;param` is malformed.
    #[error("bad URI parameter")]
    Params,
    /// A `?header=value` is malformed.
    #[error("bad URI header")]
    Headers,
    /// A tel: number is malformed (bad digits, or a local number without `phone-context`).
    #[error("bad telephone number")]
    TelNumber,
}

/// A parsed URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    Tel(TelUri),
    /// Any other scheme; `rest` is everything after the colon.
    Other { scheme: String, rest: String },
}

/// A `sip:` or `sips:` URI. Text parts keep their `%` escapes (so Display gives back what was
/// received); comparisons decode them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:`.
    pub secure: bool,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
    /// `?name=value&…` header components, still escaped.
    pub headers: Vec<(String, String)>,
}

/// The host part of a SIP URI or Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Domain(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Host {
    /// Parses a domain name, dotted IPv4 address or bracketed IPv6 reference.
    pub fn parse(s: &str) -> Result<Host, UriError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(UriError::Host)?;
            return inner.parse().map(Host::V6).map_err(|_| UriError::Host);
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return s.parse().map(Host::V4).map_err(|_| UriError::Host);
        }
        if !valid_domain(s) {
            return Err(UriError::Host);
        }
        Ok(Host::Domain(s.to_owned()))
    }

    /// Case-insensitive for names, by value for addresses.
    pub fn equivalent(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

/// RFC 3261 `hostname`: labels of alphanumerics and `-` (`_` tolerated, it is common in the wild),
/// the last one starting with a letter.
fn valid_domain(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        return false;
    }
    let mut last = "";
    for label in s.split('.') {
        let b = label.as_bytes();
        if b.is_empty()
            || !b[0].is_ascii_alphanumeric()
            || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        {
            return false;
        }
        last = label;
    }
    last.as_bytes()[0].is_ascii_alphabetic()
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Splits `host[:port]` (port optional, IPv6 in brackets).
pub(crate) fn parse_hostport(s: &str) -> Result<(Host, Option<u16>), UriError> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or(UriError::Host)?;
        let rest = &s[end + 1..];
        let port = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':').ok_or(UriError::Host)?),
        };
        (&s[..=end], port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((Host::parse(host)?, port))
}

fn parse_port(p: &str) -> Result<u16, UriError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::Port);
    }
    p.parse().map_err(|_| UriError::Port)
}

impl Uri {
    /// Parses a URI. The scheme is case-insensitive; `sip`, `sips` and `tel` are parsed in full.
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        let (scheme, rest) = s.split_once(':').ok_or(UriError::Scheme)?;
        if !valid_scheme(scheme) {
            return Err(UriError::Scheme);
        }
        if scheme.eq_ignore_ascii_case("sip") {
            SipUri::parse_rest(false, rest).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_rest(true, rest).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            TelUri::parse_rest(rest).map(Uri::Tel)
        } else {
            if rest.is_empty() || rest.bytes().any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"' || b >= 0x7f) {
                return Err(UriError::Scheme);
            }
            Ok(Uri::Other { scheme: scheme.to_owned(), rest: rest.to_owned() })
        }
    }

    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    pub fn as_tel(&self) -> Option<&TelUri> {
        match self {
            Uri::Tel(u) => Some(u),
            _ => None,
        }
    }

    /// URI equivalence: RFC 3261 §19.1.4 for SIP, RFC 3966 §4 for tel, exact text (scheme
    /// case-insensitive) otherwise. URIs of different schemes are never equivalent.
    pub fn equivalent(&self, other: &Uri) -> bool {
        match (self, other) {
            (Uri::Sip(a), Uri::Sip(b)) => a.equivalent(b),
            (Uri::Tel(a), Uri::Tel(b)) => a.equivalent(b),
            (Uri::Other { scheme: s1, rest: r1 }, Uri::Other { scheme: s2, rest: r2 }) => {
                s1.eq_ignore_ascii_case(s2) && r1 == r2
            }
            _ => false,
        }
    }
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
pub(crate) fn valid_scheme(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

fn is_user_char(b: u8) -> bool {
    scan::is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn is_password_char(b: u8) -> bool {
    scan::is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

fn is_hnv_char(b: u8) -> bool {
    scan::is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

impl SipUri {
    /// A plain `sip:host` URI.
    pub fn new(host: Host) -> Self {
        SipUri { secure: false, user: None, password: None, host, port: None, params: Params::new(), headers: Vec::new() }
    }

    fn parse_rest(secure: bool, s: &str) -> Result<SipUri, UriError> {
        // The user part may hold `;` and `?` (user-unreserved) but never an unescaped `@`, and
        // neither may the host, parameters or headers: the first `@` ends the userinfo.
        let (user, password, hostpart) = match s.find('@') {
            Some(at) => {
                let (user, password) = match s[..at].split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (&s[..at], None),
                };
                if user.is_empty() || !scan::check_escaped(user, is_user_char) {
                    return Err(UriError::User);
                }
                if let Some(p) = password {
                    if !scan::check_escaped(p, is_password_char) {
                        return Err(UriError::User);
                    }
                }
                (Some(user.to_owned()), password.map(str::to_owned), &s[at + 1..])
            }
            None => (None, None, s),
        };
        let (before_headers, headers) = match hostpart.split_once('?') {
            Some((a, h)) => (a, Some(h)),
            None => (hostpart, None),
        };
        let (hostport, params) = match before_headers.split_once(';') {
            Some((hp, p)) => (hp, Params::parse_uri(p).map_err(|_| UriError::Params)?),
            None => (before_headers, Params::new()),
        };
        let (host, port) = parse_hostport(hostport)?;
        let mut hdrs = Vec::new();
        if let Some(h) = headers {
            for item in h.split('&') {
                let (n, v) = item.split_once('=').ok_or(UriError::Headers)?;
                if n.is_empty() || !scan::check_escaped(n, is_hnv_char) || !scan::check_escaped(v, is_hnv_char) {
                    return Err(UriError::Headers);
                }
                hdrs.push((n.to_owned(), v.to_owned()));
            }
        }
        Ok(SipUri { secure, user, password, host, port, params, headers: hdrs })
    }

    /// The `user=` parameter (`phone`, `ip`, …).
    pub fn user_param(&self) -> Option<&str> {
        self.params.value("user")
    }

    /// The `transport=` parameter.
    pub fn transport(&self) -> Option<&str> {
        self.params.value("transport")
    }

    /// The `lr` flag (loose routing, RFC 3261 §19.1.1).
    pub fn lr(&self) -> bool {
        self.params.contains("lr")
    }

    /// RFC 3261 §19.1.4.
    pub fn equivalent(&self, other: &SipUri) -> bool {
        if self.secure != other.secure
            || !opt_eq(&self.user, &other.user, false)
            || !opt_eq(&self.password, &other.password, false)
            || !self.host.equivalent(&other.host)
            || self.port != other.port
        {
            return false;
        }
        // A repeated parameter counts by its first occurrence, on both sides.
        for (name, _) in self.params.iter() {
            let value = self.params.get(name).flatten();
            match other.params.get(name) {
                Some(v2) if !opt_eq_str(value, v2, true) => return false,
                Some(_) => {}
                None if is_must_match_param(name) => return false,
                None => {}
            }
        }
        for (name, _) in other.params.iter() {
            if is_must_match_param(name) && !self.params.contains(name) {
                return false;
            }
        }
        if self.headers.len() != other.headers.len() {
            return false;
        }
        self.headers.iter().all(|(n, v)| {
            other.headers.iter().any(|(n2, v2)| {
                scan::unescape(n).eq_ignore_ascii_case(&scan::unescape(n2)) && scan::unescape(v) == scan::unescape(v2)
            })
        })
    }
}

/// Parameters that, present in one URI, must be present in the other (RFC 3261 §19.1.4).
fn is_must_match_param(name: &str) -> bool {
    ["user", "ttl", "method", "maddr", "transport"].iter().any(|p| p.eq_ignore_ascii_case(name))
}

fn opt_eq(a: &Option<String>, b: &Option<String>, ci: bool) -> bool {
    opt_eq_str(a.as_deref(), b.as_deref(), ci)
}

/// Compares two optional escaped strings after decoding, case-insensitively if `ci`.
pub(crate) fn opt_eq_str(a: Option<&str>, b: Option<&str>, ci: bool) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let (a, b) = (scan::unescape(a), scan::unescape(b));
            if ci {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        }
        _ => false,
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(u) => u.fmt(f),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s).unwrap() {
            Uri::Sip(u) => u,
            other => panic!("not sip: {other:?}"),
        }
    }

    #[test]
    fn sips_ipv6_with_port() {
        let u = sip("sips:[2001:db8::1]:5061");
        assert!(u.secure);
        assert_eq!(u.host, Host::V6("2001:db8::1".parse().unwrap()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.to_string(), "sips:[2001:db8::1]:5061");
    }

    #[test]
    fn full_sip_uri() {
        let u = sip("sip:alice:secret@Example.COM:5070;transport=tcp;lr?Subject=hi&Priority=urgent");
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.lr());
        assert_eq!(u.headers.len(), 2);
        assert_eq!(u.to_string(), "sip:alice:secret@Example.COM:5070;transport=tcp;lr?Subject=hi&Priority=urgent");
    }

    #[test]
    fn user_with_semicolon_and_escape() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(u.host, Host::Domain("example.com".into()));
    }

    #[test]
    fn rejects() {
        for bad in ["sip:", "<sip:a@b>", "sip:a b@c", "sip:host:99999", "sip:a@[::1", "sip:%zz@h", "sip:a@-x.com", "1sip:x"] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3261_equivalent_pairs() {
        let eq = [
            ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5"),
            ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com", "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
            ("sip:alice@atlanta.com?subject=project%20x&priority=urgent", "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
        ];
        for (a, b) in eq {
            assert!(Uri::parse(a).unwrap().equivalent(&Uri::parse(b).unwrap()), "{a} == {b}");
        }
        let ne = [
            ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
            ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
        ];
        for (a, b) in ne {
            assert!(!Uri::parse(a).unwrap().equivalent(&Uri::parse(b).unwrap()), "{a} != {b}");
        }
    }

    #[test]
    fn repeated_parameter_is_equivalent_to_itself() {
        // Found by fuzzing: the second `a` used to be compared with the first.
        let u = Uri::parse("sip:h.example;a=1;a=2").unwrap();
        assert!(u.equivalent(&u.clone()));
        let t = Uri::parse("tel:+1;x=1;x=2").unwrap();
        assert!(t.equivalent(&t.clone()));
    }

    #[test]
    fn other_scheme_kept() {
        let u = Uri::parse("urn:service:sos").unwrap();
        assert_eq!(u.to_string(), "urn:service:sos");
    }
}
