//! Tests for the SDP model: fixtures from the specs and real peers, broken input, editing.

mod edit;
mod errors;
mod fixtures;

use super::SessionDescription;

/// Parses, writes, re-parses and writes again; the two written forms must be identical and the
/// two models equal. Returns the first model.
pub(super) fn round_trip(input: &[u8]) -> SessionDescription {
    let first = SessionDescription::parse(input).expect("fixture parses");
    let written = first.to_bytes();
    let second = SessionDescription::parse(&written).expect("our own output parses");
    assert_eq!(second.to_bytes(), written, "writing is a fixed point");
    assert_eq!(second, first, "re-parsing gives the same model");
    first
}
