//! Fuzzes `frame_stream`: the input is a stream cut into reads (sizes taken from the first bytes);
//! framing must always make progress, never overrun, and give the same frames however it is cut,
//! incrementally (`StreamFramer`) or not (`frame_stream`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use ncgw::sip::message::{frame_stream, Framed, Message, StreamFramer};

/// Frames `stream` delivered in reads of the given sizes, with a `StreamFramer` if `incremental`
/// and with `frame_stream` otherwise; returns the frames and whether an error stopped it.
fn frames(stream: &[u8], sizes: &[u8], incremental: bool) -> (Vec<Vec<u8>>, bool) {
    let mut framer = StreamFramer::new();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < stream.len() {
        let n = usize::from(sizes.get(i % sizes.len().max(1)).copied().unwrap_or(255)).max(1);
        i += 1;
        let end = (pos + n).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        loop {
            let framed = if incremental { framer.frame(&buf) } else { frame_stream(&buf) };
            match framed {
                Ok(Framed::Incomplete) => break,
                Ok(Framed::KeepAlive(n)) | Ok(Framed::Message(n)) => {
                    assert!(n > 0 && n <= buf.len(), "frame of {n} in {} bytes", buf.len());
                    let frame: Vec<u8> = buf.drain(..n).collect();
                    if !frame.starts_with(b"\r") && !frame.starts_with(b"\n") {
                        let _ = Message::parse(&frame);
                    }
                    out.push(frame);
                }
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (sizes, stream) = data.split_at(4);
    let (whole, whole_err) = frames(stream, &[255], false);
    let (cut, cut_err) = frames(stream, sizes, true);
    // Keep-alive runs may be split differently; messages and errors must not be.
    let msgs = |f: &[Vec<u8>]| f.iter().filter(|m| !m.starts_with(b"\r") && !m.starts_with(b"\n")).cloned().collect::<Vec<_>>();
    if !whole_err && !cut_err {
        assert_eq!(msgs(&whole), msgs(&cut), "same messages however the stream is cut");
    }
});
