//! Broken descriptions are rejected with the line and the reason.

use crate::sip::sdp::{SdpError, SessionDescription, MAX_MEDIA, MAX_SDP_LEN};

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";

fn err(text: &str) -> SdpError {
    SessionDescription::parse(text.as_bytes()).expect_err("must be rejected")
}

#[test]
fn empty_body() {
    assert_eq!(err(""), SdpError::Empty);
    assert_eq!(err("\r\n\r\n"), SdpError::Empty);
}

#[test]
fn missing_version() {
    assert_eq!(
        err("o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"),
        SdpError::VersionNotFirst { line: 1 }
    );
}

#[test]
fn missing_origin_and_session_name() {
    assert_eq!(
        err("v=0\r\ns=-\r\nt=0 0\r\n"),
        SdpError::MissingField { field: 'o' }
    );
    assert_eq!(
        err("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\n"),
        SdpError::MissingField { field: 's' }
    );
}

#[test]
fn line_without_equals() {
    assert_eq!(
        err(&format!("{HEAD}m=audio 4000 RTP/AVP 0\r\nhello world\r\n")),
        SdpError::MalformedLine { line: 6 }
    );
    assert_eq!(
        err(&format!("{HEAD}=foo\r\n")),
        SdpError::MalformedLine { line: 5 }
    );
    assert_eq!(
        err(&format!("{HEAD}ab=c\r\n")),
        SdpError::MalformedLine { line: 5 }
    );
    assert_eq!(
        err(&format!("{HEAD} a=sendrecv\r\n")),
        SdpError::MalformedLine { line: 5 }
    );
}

#[test]
fn bad_media_lines() {
    let e = err(&format!("{HEAD}m=audio\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'm',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}m=audio port RTP/AVP 0\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'm',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}m=audio 70000 RTP/AVP 0\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'm',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}m=audio -1 RTP/AVP 0\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'm',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}m=audio 4000/x RTP/AVP 0\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'm',
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().starts_with("line 5: bad `m=` line"), "{e}");
}

#[test]
fn bad_origin_connection_bandwidth_time() {
    let e = err("v=0\r\no=- x 1 IN IP4 192.0.2.1\r\ns=-\r\n");
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 2,
                field: 'o',
                ..
            }
        ),
        "{e}"
    );
    let e = err("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n");
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 2,
                field: 'o',
                ..
            }
        ),
        "{e}"
    );
    let e = err("v=0\r\no=- 99999999999999999999 1 IN IP4 192.0.2.1\r\ns=-\r\n");
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 2,
                field: 'o',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}c=IN IP4\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'c',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}c=IN IP4 233.252.0.1/300\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'c',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}c=IN IP6 ff15::1/3/4\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'c',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}b=AS\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'b',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}b=AS:lots\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'b',
                ..
            }
        ),
        "{e}"
    );
    let e = err("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0\r\n");
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 4,
                field: 't',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}r=7d 1h\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'r',
                ..
            }
        ),
        "{e}"
    );
    let e = err(&format!("{HEAD}z=2882844526\r\n"));
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 5,
                field: 'z',
                ..
            }
        ),
        "{e}"
    );
    let e = err("v=zero\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n");
    assert!(
        matches!(
            e,
            SdpError::InvalidField {
                line: 1,
                field: 'v',
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn duplicates_and_misplaced_lines() {
    assert_eq!(
        err(&format!("{HEAD}s=again\r\n")),
        SdpError::DuplicateField {
            line: 5,
            field: 's'
        }
    );
    assert_eq!(
        err(&format!("{HEAD}v=0\r\n")),
        SdpError::DuplicateField {
            line: 5,
            field: 'v'
        }
    );
    assert_eq!(
        err(&format!("{HEAD}m=audio 4000 RTP/AVP 0\r\ni=a\r\ni=b\r\n")),
        SdpError::DuplicateField {
            line: 7,
            field: 'i'
        }
    );
    assert_eq!(
        err("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nr=7d 1h 0\r\nt=0 0\r\n"),
        SdpError::Misplaced {
            line: 4,
            field: 'r'
        }
    );
    assert_eq!(
        err(&format!("{HEAD}m=audio 4000 RTP/AVP 0\r\nt=0 0\r\n")),
        SdpError::Misplaced {
            line: 6,
            field: 't'
        }
    );
    assert_eq!(
        err(&format!(
            "{HEAD}m=audio 4000 RTP/AVP 0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
        )),
        SdpError::Misplaced {
            line: 6,
            field: 'o'
        }
    );
}

#[test]
fn invalid_utf8_names_the_line() {
    let mut body = HEAD.as_bytes().to_vec();
    body.extend_from_slice(b"i=caf\xe9\r\n");
    assert_eq!(
        SessionDescription::parse(&body),
        Err(SdpError::InvalidUtf8 { line: 5 })
    );
}

#[test]
fn size_limits() {
    let big = vec![b'a'; MAX_SDP_LEN + 1];
    assert_eq!(
        SessionDescription::parse(&big),
        Err(SdpError::TooLarge {
            len: MAX_SDP_LEN + 1,
            max: MAX_SDP_LEN
        })
    );
    let mut text = HEAD.to_owned();
    for _ in 0..=MAX_MEDIA {
        text.push_str("m=audio 0 RTP/AVP 0\r\n");
    }
    assert_eq!(
        err(&text),
        SdpError::TooManyMedia {
            line: 5 + MAX_MEDIA,
            max: MAX_MEDIA
        }
    );
}

#[test]
fn lenient_where_harmless() {
    // Unknown line types, odd attributes, blank lines, no t=, session lines out of order.
    let text = "v=0\no=- 1 1 IN IP4 192.0.2.1\na=tool:x\ns=\n\nc=IN IP4 192.0.2.1\ny=whatever\n\
                m=audio 4000 RTP/AVP\nx=unknown media line\na=\na=:odd\na=rtpmap:bad\na=fmtp:\n";
    let sdp = SessionDescription::parse(text.as_bytes()).expect("lenient parse");
    assert_eq!(sdp.session_name, "");
    assert_eq!(sdp.unknown_lines.len(), 1);
    assert!(sdp.media[0].formats.is_empty());
    assert_eq!(sdp.media[0].unknown_lines[0].kind, 'x');
    use crate::sip::sdp::AttributeSet;
    assert!(sdp.media[0].rtpmaps().is_empty());
    assert!(sdp.media[0].fmtp("").is_none());
    let written = sdp.to_string();
    assert!(
        written.contains("s= \r\n") && written.contains("t=0 0\r\n"),
        "{written}"
    );
    let again = SessionDescription::parse(written.as_bytes()).unwrap();
    assert_eq!(again.to_string(), written);
}
