//! SDP (RFC 8866): typed session descriptions, parsed from and written to bytes.
//!
//! [`SessionDescription::parse`] reads what real peers send (Chrome, VoLTE UEs, IMS cores, SIP
//! softphones): CRLF or bare LF, trailing whitespace, session-level lines out of order, unknown
//! line types and attributes. It rejects descriptions whose structure is broken with a
//! [`SdpError`] naming the line. Writing ([`Display`](std::fmt::Display),
//! [`SessionDescription::to_bytes`]) uses CRLF and RFC 8866 line order, and is a fixed point:
//! `parse(write(parse(x)))` writes exactly what `parse(x)` wrote.
//!
//! Attributes stay an ordered list of [`Attribute`]s so that everything we do not understand
//! passes through verbatim; the [`AttributeSet`] trait reads them as typed values.

mod access;
mod attributes;
mod datachannel;
mod error;
mod ice;
mod model;
mod parse;
mod precondition;
mod write;

#[cfg(test)]
mod tests;

pub use access::AttributeSet;
pub use attributes::{
    Crypto, Direction, Extmap, Fingerprint, Fmtp, FmtpParam, Group, Rtcp, RtcpFb, Rtpmap, Setup,
    Ssrc,
};
pub use datachannel::{Dcmap, Dcsa};
pub use error::{AttributeError, SdpError};
pub use ice::{Candidate, CandidateType};
pub use model::{
    Attribute, Bandwidth, BandwidthType, Connection, MediaDescription, MediaKind, Origin, Proto,
    Repeat, SessionDescription, TimeUnit, Timing, TypedTime, UnknownLine, ZoneAdjustment,
};
pub use parse::{MAX_MEDIA, MAX_SDP_LEN};
pub use precondition::{PrecondDirection, Precondition, PreconditionKind, StatusType, Strength};
