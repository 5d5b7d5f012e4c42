//! Tests for the SDP model.
