//! The fork on the relay path: the media engine hands every accepted RTP packet of a recorded
//! session to [`Tap::offer`], which copies it into the call's bounded queue with `try_send`.
//! A full queue never blocks or delays the relay: the packet is dropped, counted, and the next
//! packet that gets through carries the count so the recorder can mark the gap.
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::mpsc;

use super::Track;

/// One forked packet.
#[derive(Debug)]
pub struct Frame {
    pub track: Track,
    pub at: Instant,
    pub data: Vec<u8>,
    /// Packets of this track the queue refused just before this one.
    pub dropped_before: u32,
}

/// The sending end of a call's recording queue, shared with the engine's session.
#[derive(Debug)]
pub struct Tap {
    tx: mpsc::Sender<Frame>,
    /// Refused packets per leg since the last one that got through.
    pending_drops: [AtomicU32; 2],
    dropped: AtomicU64,
    /// Codecs a mid-call offer/answer settled on, per side, not yet taken by the recorder.
    codecs: Mutex<Option<SideCodecs>>,
}

/// Per side (0 = A, 1 = B): payload type → codec.
pub type SideCodecs = [Vec<(u8, crate::media::codec::CodecConfig)>; 2];

impl Tap {
    /// A tap and its queue's receiving end, holding at most `capacity` packets.
    pub fn new(capacity: usize) -> (Tap, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Tap { tx, pending_drops: Default::default(), dropped: AtomicU64::new(0), codecs: Mutex::new(None) }, rx)
    }

    /// Copies one audio packet of `leg` (0 = side A, 1 = side B) that arrived `at`. Never waits.
    pub fn offer(&self, leg: u8, at: Instant, data: &[u8]) {
        let slot = &self.pending_drops[usize::from(leg.min(1))];
        let before = slot.swap(0, Ordering::Relaxed);
        let frame = Frame { track: Track::audio(leg), at, data: data.to_vec(), dropped_before: before };
        match self.tx.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                slot.fetch_add(before + 1, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The recording has finished; the session outlives it briefly.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// The call's codecs changed (re-INVITE, UPDATE): the recorder decodes by these from its next
    /// drain on. Called on the signalling path, never by the relay.
    pub fn update_codecs(&self, codecs: SideCodecs) {
        *self.codecs.lock().unwrap_or_else(|e| e.into_inner()) = Some(codecs);
    }

    /// The latest codec change not yet applied.
    pub fn take_codecs(&self) -> Option<SideCodecs> {
        self.codecs.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Packets refused since the tap was made.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Drops not yet reported through a frame, per leg (taken at the end of a recording).
    pub fn take_pending(&self) -> [u32; 2] {
        [self.pending_drops[0].swap(0, Ordering::Relaxed), self.pending_drops[1].swap(0, Ordering::Relaxed)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_counts_and_reports_the_gap() {
        let (tap, mut rx) = Tap::new(2);
        let t = Instant::now();
        for i in 0..5u8 {
            tap.offer(0, t, &[i]);
        }
        assert_eq!(tap.dropped(), 3);
        assert_eq!(rx.try_recv().unwrap().dropped_before, 0);
        assert_eq!(rx.try_recv().unwrap().dropped_before, 0);
        tap.offer(0, t, &[9]);
        let f = rx.try_recv().unwrap();
        assert_eq!((f.data[0], f.dropped_before), (9, 3));
        tap.offer(1, t, &[1]);
        tap.offer(1, t, &[2]);
        tap.offer(1, t, &[3]);
        assert_eq!(tap.take_pending(), [0, 1]);
    }
}
