//! ncgw: a SIP back-to-back user agent and media gateway. See ARCHITECTURE.md for the map.
pub mod acd;
pub mod admin;
pub mod b2bua;
pub mod civil_time;
pub mod cli;
pub mod config;
pub mod dialplan;
pub mod logging;
pub mod media;
pub mod metrics;
pub mod recording;
pub mod registrar;
pub mod runtime;
pub mod sip;
pub mod storage;
pub mod transport;

#[cfg(test)]
pub(crate) mod testing;
