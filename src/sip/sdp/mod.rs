//! SDP (RFC 8866): typed session descriptions, parsed from and written to bytes.
