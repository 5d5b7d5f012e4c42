//! Media: RTP relay, codecs.
pub mod codec;
