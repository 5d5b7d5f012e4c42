//! ncgw: a SIP back-to-back user agent and media gateway. See ARCHITECTURE.md for the map.
pub mod sip;

#[cfg(test)]
pub(crate) mod testing;
