//! B2BUA call flows on a virtual clock with scripted peers (no sockets, no sleeps).
mod flows;
mod harness;
mod transcode;
