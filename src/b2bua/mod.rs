//! Call logic, sans-IO: the first answer to each new request, and the back-to-back user agent
//! that bridges a caller's leg to a callee's leg with independent dialogs and our own media.
pub mod inbound;

mod call;
pub mod cause;
mod env;
mod manager;
pub mod negotiate;
pub mod node;
#[cfg(test)]
mod tests;
mod sdp_rewrite;
pub mod siprec_metadata;

pub use call::{CallDetail, CallInfo, CallState, CallSummary, LegInfo, LegStats, Side};
pub use env::{AnsweredCall, AuthCheck, Env, MediaControl, MediaId, PromptCodec, PromptRef, RemoteMedia};
pub use manager::{B2buaConfig, B2buaEvent, CallManager, Now};
pub use node::{NodeEvent, SipNode};
