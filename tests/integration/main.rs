//! ncgw integration tests: one binary (one link on a 2-core machine) with a shared harness.
//! Every test starts its own node on free loopback ports and stops it; peers are real (SIPp).

mod harness;
mod sipp;

mod acd_ops;
mod acd_sipp;
mod admin_api;
mod call_flows;
mod cli;
mod recording;
mod recording_backpressure;
mod recording_crash;
mod registrar_sipp;
mod rfc4475_wire;
mod sip_wire;
mod siprec;
mod transcode_sipp;
