//! Stream framing: split reads, several messages per read, CRLF keep-alives, size limits.
use super::super::*;
use super::fixture;

/// Feeds `stream` in chunks of `chunk` bytes and collects what a `StreamFramer` finds.
fn drain(stream: &[u8], chunk: usize) -> Vec<Result<Vec<u8>, ParseError>> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut framer = StreamFramer::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match framer.frame(&buf) {
                Ok(Framed::Incomplete) => break,
                Ok(Framed::KeepAlive(n)) => {
                    out.push(Ok(buf[..n].to_vec()));
                    buf.drain(..n);
                }
                Ok(Framed::Message(n)) => {
                    out.push(Ok(buf[..n].to_vec()));
                    buf.drain(..n);
                }
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    out
}

#[test]
fn split_reads_and_several_messages_per_read() {
    let invite = fixture("sip/ims_invite.sip");
    let mut stream = invite.clone();
    stream.extend_from_slice(b"\r\n\r\n");
    stream.extend_from_slice(&invite);
    for chunk in [1, 7, 100, 1500, stream.len()] {
        let got = drain(&stream, chunk);
        let msgs: Vec<_> = got.iter().map(|r| r.as_ref().unwrap()).filter(|b| !b.starts_with(b"\r") && !b.starts_with(b"\n")).collect();
        assert_eq!(msgs.len(), 2, "chunk {chunk}");
        for m in msgs {
            assert_eq!(m, &invite);
            Message::parse(m).unwrap();
        }
        let keepalive: usize = got.iter().map(|r| r.as_ref().unwrap()).filter(|b| b.starts_with(b"\r") || b.starts_with(b"\n")).map(Vec::len).sum();
        assert_eq!(keepalive, 4, "chunk {chunk}");
    }
}

#[test]
fn keepalives() {
    assert_eq!(frame_stream(b"\r\n\r\n"), Ok(Framed::KeepAlive(4)));
    assert_eq!(frame_stream(b"\r\n"), Ok(Framed::KeepAlive(2)));
    assert_eq!(frame_stream(b"\r\n\r\nOPTIONS"), Ok(Framed::KeepAlive(4)));
    assert_eq!(frame_stream(b""), Ok(Framed::Incomplete));
    assert_eq!(frame_stream(b"OPTIONS sip:a@b SIP/2.0\r\n"), Ok(Framed::Incomplete));
}

#[test]
fn content_length_is_mandatory_and_bounded() {
    let e = frame_stream(b"OPTIONS sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n").unwrap_err();
    assert_eq!((e.kind(), e.status()), (ParseErrorKind::MissingContentLength, Some(400)));
    let e = frame_stream(b"OPTIONS sip:a@b.example SIP/2.0\r\nl: 5000000\r\n\r\n").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::BodyTooLarge);
    let e = frame_stream(b"OPTIONS sip:a@b.example SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::ConflictingContentLength);
    let e = frame_stream(b"OPTIONS sip:a@b.example SIP/2.0\r\nl: -1\r\n\r\n").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::BadContentLength);
    let mut huge = b"OPTIONS sip:a@b.example SIP/2.0\r\n".to_vec();
    while huge.len() <= MAX_STREAM_HEADERS {
        huge.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(frame_stream(&huge).unwrap_err().kind(), ParseErrorKind::HeadersTooLarge);
    assert_eq!(frame_stream(&huge[..1000]), Ok(Framed::Incomplete));
}

#[test]
fn body_split_across_reads() {
    let msg = b"MESSAGE sip:a@b.example SIP/2.0\r\nContent-Length: 10\r\n\r\n0123456789";
    for cut in 0..msg.len() {
        assert_eq!(frame_stream(&msg[..cut]), Ok(Framed::Incomplete), "cut {cut}");
    }
    assert_eq!(frame_stream(msg), Ok(Framed::Message(msg.len())));
    let mut two = msg.to_vec();
    two.extend_from_slice(msg);
    assert_eq!(frame_stream(&two), Ok(Framed::Message(msg.len())));
}

#[test]
fn oversized_headers_trickled_in_are_refused() {
    let mut framer = StreamFramer::new();
    let mut buf = b"OPTIONS sip:a@b.example SIP/2.0\r\n".to_vec();
    let line = b"X-Filler: 0123456789012345678901234567890123456789\r\n";
    loop {
        for b in line {
            buf.push(*b);
            match framer.frame(&buf) {
                Ok(Framed::Incomplete) => {}
                Err(e) => {
                    assert_eq!(e.kind(), ParseErrorKind::HeadersTooLarge);
                    assert_eq!(buf.len(), MAX_STREAM_HEADERS);
                    return;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn a_framing_error_on_a_request_can_still_be_answered() {
    let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: cl\r\nCSeq: 1 OPTIONS\r\nContent-Length: abc\r\n\r\n";
    let err = frame_stream(msg).unwrap_err();
    let resp = err.response().expect("the headers an answer needs were kept");
    assert_eq!(resp.status, 400);
    assert_eq!(resp.reason, "Bad Request (bad Content-Length)");
    assert_eq!(resp.headers.call_id().unwrap(), "cl");
    // A response with a broken length is never answered.
    let resp_msg = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx\r\nContent-Length: abc\r\n\r\n";
    assert!(frame_stream(resp_msg).unwrap_err().response().is_none());
}
