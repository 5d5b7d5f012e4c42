//! Header names: the ones ncgw reads as variants (compact forms folded in), others kept verbatim.
use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal $(, $compact:literal)? ;)*) => {
        /// A header field name. Matching is case-insensitive and compact forms (RFC 3261 §7.3.3,
        /// RFC 3515, RFC 4028, …) map to the same variant as the long form.
        #[derive(Debug, Clone)]
        pub enum HeaderName {
            $( $variant, )*
            /// Any other header; the name is kept as received.
            Other(Box<str>),
        }

        impl HeaderName {
            /// Every long name, for tests.
            #[cfg(test)]
            pub(crate) const ALL_NAMES: &'static [&'static str] = &[$( $canonical, )*];

            /// Maps a received name to a header name.
            pub fn from_name(name: &str) -> HeaderName {
                if name.len() == 1 {
                    let c = name.as_bytes()[0].to_ascii_lowercase();
                    $( $( if c == $compact.as_bytes()[0] { return HeaderName::$variant; } )? )*
                    return HeaderName::Other(name.into());
                }
                // The length test rejects most candidates before comparing bytes; measured faster
                // than a hash table here, since each comparison is against a literal.
                $( if name.len() == $canonical.len() && name.eq_ignore_ascii_case($canonical) {
                    return HeaderName::$variant;
                } )*
                HeaderName::Other(name.into())
            }

            /// The long form, as ncgw writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other(s) => s,
                }
            }

            /// The compact form, where one exists.
            pub fn compact(&self) -> Option<&'static str> {
                match self {
                    $( $( HeaderName::$variant => Some($compact), )? )*
                    _ => None,
                }
            }
        }
    };
}

header_names! {
    Via => "Via", "v";
    From => "From", "f";
    To => "To", "t";
    CallId => "Call-ID", "i";
    CSeq => "CSeq";
    Contact => "Contact", "m";
    MaxForwards => "Max-Forwards";
    Route => "Route";
    RecordRoute => "Record-Route";
    ContentType => "Content-Type", "c";
    ContentLength => "Content-Length", "l";
    ContentEncoding => "Content-Encoding", "e";
    ContentDisposition => "Content-Disposition";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Supported => "Supported", "k";
    Unsupported => "Unsupported";
    Allow => "Allow";
    Accept => "Accept";
    AllowEvents => "Allow-Events", "u";
    Event => "Event", "o";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    UserAgent => "User-Agent";
    Server => "Server";
    Subject => "Subject", "s";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    RetryAfter => "Retry-After";
    Timestamp => "Timestamp";
    PAssertedIdentity => "P-Asserted-Identity";
    PPreferredIdentity => "P-Preferred-Identity";
    Privacy => "Privacy";
    SessionExpires => "Session-Expires", "x";
    MinSe => "Min-SE";
    RSeq => "RSeq";
    RAck => "RAck";
    Reason => "Reason";
    ReferTo => "Refer-To", "r";
    ReferredBy => "Referred-By", "b";
    Replaces => "Replaces";
    AcceptContact => "Accept-Contact", "a";
    RejectContact => "Reject-Contact", "j";
    RequestDisposition => "Request-Disposition", "d";
    Identity => "Identity", "y";
    PAccessNetworkInfo => "P-Access-Network-Info";
    PChargingVector => "P-Charging-Vector";
    PAssertedService => "P-Asserted-Service";
    PEarlyMedia => "P-Early-Media";
    SessionId => "Session-ID";
    FeatureCaps => "Feature-Caps";
}

/// Names compare case-insensitively (RFC 3261 §7.3.1), `Other` names included.
impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (HeaderName::Other(_), _) | (_, HeaderName::Other(_)) => false,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for HeaderName {}

impl std::hash::Hash for HeaderName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        if let HeaderName::Other(s) = self {
            for b in s.bytes() {
                state.write_u8(b.to_ascii_lowercase());
            }
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn every_name_maps_back_in_any_case() {
        for &n in HeaderName::ALL_NAMES {
            let h = HeaderName::from_name(n);
            assert!(!matches!(h, HeaderName::Other(_)), "{n}");
            assert_eq!(h.as_str(), n);
            assert_eq!(HeaderName::from_name(&n.to_ascii_lowercase()), h);
            assert_eq!(HeaderName::from_name(&n.to_ascii_uppercase()), h);
            assert_eq!(HeaderName::from_name(h.as_str()), h);
        }
        for (c, long) in [("v", "Via"), ("I", "Call-ID"), ("l", "Content-Length"), ("x", "Session-Expires"), ("k", "Supported")] {
            assert_eq!(HeaderName::from_name(c).as_str(), long);
        }
        for other in ["X-Foo", "P-Preferred-Service", "Vias", "", "z", "Content-Lengt"] {
            assert_eq!(HeaderName::from_name(other), HeaderName::Other(other.into()));
        }
        assert_eq!(HeaderName::from_name("x-foo"), HeaderName::from_name("X-FOO"));
    }
}
