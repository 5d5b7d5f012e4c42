//! `tel:` URIs (RFC 3966): global `+E.164` or local numbers with a `phone-context`, and parameters.
use std::fmt;

use super::params::Params;
use super::scan;
use super::uri::{opt_eq_str, UriError};

/// A `tel:` URI. `digits` is kept as written (with `+` and visual separators `-.()`); use
/// [`TelUri::number`] for the digits alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri {
    pub digits: String,
    pub params: Params,
}

fn is_visual_separator(b: u8) -> bool {
    matches!(b, b'-' | b'.' | b'(' | b')')
}

impl TelUri {
    pub(crate) fn parse_rest(s: &str) -> Result<TelUri, UriError> {
        let (digits, params) = match s.split_once(';') {
            Some((d, p)) => (d, tel_params(p)?),
            None => (s, Params::new()),
        };
        let tel = TelUri { digits: digits.to_owned(), params };
        if let Some(global) = digits.strip_prefix('+') {
            let ok = global.bytes().all(|b| b.is_ascii_digit() || is_visual_separator(b))
                && global.bytes().any(|b| b.is_ascii_digit());
            if !ok {
                return Err(UriError::TelNumber);
            }
        } else {
            let ok = digits.bytes().all(|b| b.is_ascii_hexdigit() || b == b'*' || b == b'#' || is_visual_separator(b))
                && digits.bytes().any(|b| b.is_ascii_hexdigit() || b == b'*' || b == b'#');
            if !ok || tel.phone_context().is_none() {
                return Err(UriError::TelNumber);
            }
        }
        Ok(tel)
    }

    /// Starts with `+`.
    pub fn is_global(&self) -> bool {
        self.digits.starts_with('+')
    }

    /// The number without visual separators (keeping a leading `+`), hex digits upper-cased.
    pub fn number(&self) -> String {
        normalise(&self.digits)
    }

    pub fn phone_context(&self) -> Option<&str> {
        self.params.value("phone-context")
    }

    /// ISDN subaddress.
    pub fn isub(&self) -> Option<&str> {
        self.params.value("isub")
    }

    /// Extension.
    pub fn ext(&self) -> Option<&str> {
        self.params.value("ext")
    }

    /// RFC 3966 §4: same number once separators are removed, the same parameter names, each value
    /// equal (case-insensitively, after decoding; numbers in `ext`, `isub` and a numeric
    /// `phone-context` without separators).
    pub fn equivalent(&self, other: &TelUri) -> bool {
        if self.number() != other.number() || self.params.len() != other.params.len() {
            return false;
        }
        if !other.params.iter().all(|(name, _)| self.params.contains(name)) {
            return false;
        }
        // A repeated parameter counts by its first occurrence, on both sides.
        self.params.iter().all(|(name, _)| match (self.params.get(name).flatten(), other.params.get(name)) {
            (_, None) => false,
            (v, Some(v2)) => {
                let numeric = ["ext", "isub", "phone-context"].iter().any(|p| p.eq_ignore_ascii_case(name));
                match (v, v2) {
                    (Some(a), Some(b)) if numeric => normalise(a).eq_ignore_ascii_case(&normalise(b)),
                    _ => opt_eq_str(v, v2, true),
                }
            }
        })
    }
}

fn normalise(s: &str) -> String {
    s.bytes().filter(|b| !is_visual_separator(*b)).map(|b| b.to_ascii_uppercase() as char).collect()
}

/// `;name[=value]` with `pname = 1*(alphanum / "-")` and `pvalue = 1*paramchar`.
fn tel_params(s: &str) -> Result<Params, UriError> {
    let params = Params::parse_uri(s).map_err(|_| UriError::Params)?;
    for (name, _) in params.iter() {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(UriError::Params);
        }
    }
    if let Some(v) = params.value("isub") {
        if !scan::check_escaped(v, |b| b.is_ascii_graphic() && b != b'"' && b != b'<' && b != b'>') {
            return Err(UriError::Params);
        }
    }
    if let Some(ext) = params.get("ext") {
        let ok = ext.is_some_and(|e| e.bytes().all(|b| b.is_ascii_digit() || is_visual_separator(b)));
        if !ok {
            return Err(UriError::Params);
        }
    }
    if let Some(ctx) = params.get("phone-context") {
        if matches!(ctx, None | Some("")) {
            return Err(UriError::Params);
        }
    }
    Ok(params)
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}{}", self.digits, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::super::uri::Uri;
    use super::*;

    fn tel(s: &str) -> TelUri {
        match Uri::parse(s).unwrap() {
            Uri::Tel(t) => t,
            other => panic!("not tel: {other:?}"),
        }
    }

    #[test]
    fn long_global_number() {
        let t = tel("tel:+8675512345678");
        assert!(t.is_global());
        assert_eq!(t.number(), "+8675512345678");
        assert_eq!(t.to_string(), "tel:+8675512345678");
    }

    #[test]
    fn separators_and_params() {
        let t = tel("tel:+1-201-555-0123;ext=1234;isub=1411");
        assert_eq!(t.number(), "+12015550123");
        assert_eq!(t.ext(), Some("1234"));
        assert_eq!(t.isub(), Some("1411"));
        assert_eq!(t.to_string(), "tel:+1-201-555-0123;ext=1234;isub=1411");
        assert!(t.equivalent(&tel("tel:+1(201)5550123;ISUB=1411;ext=12-34")));
    }

    #[test]
    fn local_needs_context() {
        let t = tel("tel:7042;phone-context=example.com");
        assert_eq!(t.phone_context(), Some("example.com"));
        assert!(!t.is_global());
        assert!(Uri::parse("tel:7042").is_err());
        assert!(t.equivalent(&tel("tel:7042;phone-context=EXAMPLE.com")));
        assert!(!t.equivalent(&tel("tel:7042;phone-context=other.com")));
        assert!(!t.equivalent(&tel("tel:+7042")));
    }

    #[test]
    fn rejects() {
        for bad in ["tel:+", "tel:+12a", "tel:+1;ext=", "tel:+1;ext=x1", "tel:12 3;phone-context=a"] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }
}
