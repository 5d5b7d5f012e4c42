//! The engine's transcoding helpers: the runtime transcoding sessions run on, applying a codec
//! plan inside a session's task, and sending what the transcoders produce.
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;

use super::{now, Shared, SessionId, Sockets};
use crate::media::relay::{Channel, Side};
use crate::media::transcoding_session::Transcoding;

/// The runtime transcoding sessions run on: multi-threaded, one worker per core, started on
/// first use; `None` (stay on the caller's runtime) if the OS refuses the threads.
pub(super) fn transcoding_runtime() -> Option<&'static tokio::runtime::Handle> {
    static RT: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RT.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).thread_name("ncgw-media").enable_all().build();
        rt.inspect_err(|e| tracing::warn!(error = %e, "no transcoding runtime; transcoding on the main one")).ok()
    })
    .as_ref()
    .map(|rt| rt.handle())
}

/// Applies a plan `set_codecs` left: builds the transcoding pipelines (here, off the core) or
/// drops them. The same plan again (a re-INVITE for hold) keeps the running pipelines.
pub(super) fn apply_plan(id: SessionId, owner: u64, shared: &Shared, xcode: &mut Option<Transcoding>) {
    let Some(plan) = shared.take_plan(owner) else { return };
    let next = match plan {
        Some(plan) if xcode.as_ref().is_some_and(|x| x.plan == plan) => return,
        Some(plan) => match Transcoding::new(&plan, id.0 ^ u64::from(std::process::id()) << 32, now()) {
            Some(Ok(x)) => Some(x),
            Some(Err(e)) => {
                tracing::warn!(session = %id, error = %e, cause = "media.transcode_setup", "cannot transcode; relaying as is");
                None
            }
            None => None,
        },
        None => None,
    };
    tracing::debug!(session = %id, transcoding = next.is_some(), "media path set");
    shared.transcoding.store(next.is_some(), Relaxed);
    *xcode = next;
}

/// Sends everything the transcoders have due, each to its leg's latched (or signalled) peer.
pub(super) fn send_transcoded(shared: &Shared, sockets: &Sockets, xcode: &mut Transcoding, out: &mut Vec<u8>) {
    let now = now();
    while let Some((side, channel)) = xcode.poll_output(now, out, |s| shared.bridge().leg(s).stats()) {
        let dest = {
            let bridge = shared.bridge();
            let leg = bridge.leg(side);
            match channel {
                Channel::Rtp => leg.rtp_destination().map(|a| (a, Channel::Rtp)),
                Channel::Rtcp => leg.rtcp_destination(),
            }
        };
        let Some((to, via)) = dest else { continue };
        if sockets.get(side, via).try_send_to(out, to).is_ok() {
            let i = usize::from(side == Side::B);
            shared.sent[i][0].fetch_add(1, Relaxed);
            shared.sent[i][1].fetch_add(out.len() as u64, Relaxed);
        } else {
            shared.send_failed.fetch_add(1, Relaxed);
        }
    }
}
