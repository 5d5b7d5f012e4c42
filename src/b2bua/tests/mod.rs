//! B2BUA call flows (and queued calls with a real ACD) on a virtual clock with scripted peers
//! (no sockets, no sleeps).
mod flows;
mod harness;
mod queue;
mod siprec;
mod transcode;
