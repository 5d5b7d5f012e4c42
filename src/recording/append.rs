//! Appending a call's blocks to its recording file: each block is sealed straight into a reused
//! buffer behind its record frame and written with one call on the blocking pool; the chain is
//! extended with what landed, and a failed write becomes a signed gap.
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use super::close::Chain;
use super::container::{self, Block};
use super::keys::hex;
use super::manifest::{self, SegmentEntry};
use super::mixer::Mixer;
use super::records::{self, RecordingFile};
use super::writer::Context;
use super::RecordingError;

thread_local! {
    /// The record being built, per blocking-pool thread: reused, so a segment costs no fresh
    /// large allocation (and no page faults) and no copy between encoding and encryption.
    static RECORD: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Seals `block` straight into a reused buffer behind its record frame, appends the record with
/// one write (no fsync: the group syncer covers it) and returns the sealed segment's place,
/// length and hash.
fn append_segment(ctx: &Context, call_id: &str, salt: [u8; 8], block: &Block, file: &Mutex<RecordingFile>) -> Result<(u64, u64, [u8; 32]), RecordingError> {
    RECORD.with(|cell| {
        let mut buf = cell.borrow_mut();
        buf.clear();
        buf.extend_from_slice(&[0; records::FRAME]);
        container::seal_into(&ctx.key, call_id, salt, block, &mut buf);
        let len = buf.len() - records::FRAME;
        buf[..records::FRAME].copy_from_slice(&records::frame(records::TYPE_SEGMENT, len));
        let hash = manifest::segment_hash(&buf[records::FRAME..]);
        let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(test)]
        if ctx.hooks.fail_segment == Some(block.index) {
            // Half a record lands, then the disk is full: the half must be cut back off.
            return f.append_failing(&buf).map(|_| (0, 0, hash));
        }
        let offset = f.append(&buf)?;
        if let Some(dir) = f.path().parent() {
            super::durable::defer(dir);
        }
        // A rare long segment's buffer is not kept for the thread's lifetime.
        if buf.capacity() > 4 << 20 {
            *buf = Vec::new();
        }
        Ok((offset, len as u64, hash))
    })
}

pub(super) async fn write_block(ctx: &Arc<Context>, call_id: &str, file: &Arc<Mutex<RecordingFile>>, salt: [u8; 8], block: Block, chain: &mut Chain, mixer: &mut Mixer) {
    let (ctx2, id, file2) = (ctx.clone(), call_id.to_owned(), file.clone());
    let index = block.index;
    let frames = block.frames() as u64;
    let start = block.start_sample;
    let written = tokio::task::spawn_blocking(move || {
        let r = append_segment(&ctx2, &id, salt, &block, &file2);
        (r, block.pcm)
    })
    .await;
    match written {
        Ok((Ok((offset, bytes, h)), pcm)) => {
            mixer.recycle(pcm);
            chain.head = manifest::link(&chain.head, index, &h);
            chain.bytes += bytes;
            chain.entries.push(SegmentEntry { index, offset, bytes, frames, sha256: hex(&h), link: hex(&chain.head) });
        }
        Ok((Err(e), _)) => {
            tracing::error!(call = %call_id, segment = index, cause = e.cause_code(), error = %e, "segment not written");
            chain.failed.push((index, start, frames));
        }
        Err(e) => {
            tracing::error!(call = %call_id, segment = index, error = %e, "segment task failed");
            chain.failed.push((index, start, frames));
        }
    }
}
