//! Tests of parsing, framing and serialising whole messages, and the RFC 4475 torture corpus.
mod framing;
mod parse;
mod rfc4475;

use super::Message;

/// Reads a fixture under `tests/fixtures/`.
pub(super) fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Parse → serialise → parse → serialise must give the same bytes both times; returns them.
pub(super) fn round_trip(input: &[u8]) -> Result<Vec<u8>, String> {
    let first = Message::parse(input).map_err(|e| format!("parse: {e}"))?;
    let bytes = first.to_bytes();
    let second = Message::parse(&bytes).map_err(|e| format!("re-parse: {e}"))?;
    let again = second.to_bytes();
    if again != bytes {
        return Err(format!(
            "not a fixed point:\n{}\n---\n{}",
            String::from_utf8_lossy(&bytes),
            String::from_utf8_lossy(&again)
        ));
    }
    if Message::parse(&again).as_ref() != Ok(&second) {
        return Err("the re-parsed message differs".into());
    }
    Ok(bytes)
}
