//! The SIP protocol core, sans-IO: messages, SDP, transactions. No sockets, tasks or clocks here.
pub mod auth;
pub mod dialog;
pub mod message;
pub mod peer;
pub mod sdp;
pub mod transaction;
