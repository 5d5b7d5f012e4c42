//! Group commit for appended segment records: instead of one fsync per segment (25 a second at
//! 100 calls with 4 s segments), writers mark the recording file's directory dirty and one
//! background thread makes every dirty filesystem durable with a single `syncfs` per interval
//! (which also covers the directory entry of a new file). A process crash (`kill -9`) loses
//! nothing written either way (the page cache survives it); after a power cut at most the last
//! interval of segments may be missing or torn, which `verify` reports and recovery cuts off.
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How often dirty filesystems are synced.
pub const INTERVAL: Duration = Duration::from_secs(1);

static DIRTY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static SYNCER: OnceLock<()> = OnceLock::new();

/// Marks `dir` as holding unsynced writes; the syncer makes them durable within `INTERVAL`.
pub fn defer(dir: &Path) {
    {
        let mut dirty = DIRTY.lock().unwrap_or_else(|e| e.into_inner());
        if !dirty.iter().any(|d| d == dir) {
            dirty.push(dir.to_owned());
        }
    }
    SYNCER.get_or_init(|| {
        let spawned = std::thread::Builder::new().name("ncgw-rec-sync".into()).spawn(|| loop {
            std::thread::sleep(INTERVAL);
            sync_dirty();
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "recording sync thread not started: segments are synced by the kernel's own writeback only");
        }
    });
}

/// Syncs every filesystem holding a dirty directory, once each; returns how many were synced.
pub fn sync_dirty() -> usize {
    let dirs = std::mem::take(&mut *DIRTY.lock().unwrap_or_else(|e| e.into_inner()));
    sync_dirs(dirs)
}

/// Syncs the filesystems of `dirs`, once per device; returns how many were synced.
fn sync_dirs(dirs: Vec<PathBuf>) -> usize {
    let mut devices = HashSet::new();
    for dir in dirs {
        let Ok(meta) = std::fs::metadata(&dir) else { continue };
        if !devices.insert(meta.dev()) {
            continue;
        }
        match std::fs::File::open(&dir) {
            // SAFETY: syncfs takes a file descriptor that `f` keeps open for the call.
            Ok(f) => {
                if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&f)) } != 0 {
                    tracing::warn!(dir = %dir.display(), error = %std::io::Error::last_os_error(), "syncfs failed");
                }
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "recording directory not synced"),
        }
    }
    devices.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_directories_on_one_filesystem_are_synced_once() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir_in(a.path()).unwrap();
        let gone = a.path().join("removed");
        assert_eq!(sync_dirs(vec![a.path().to_owned(), b.path().to_owned(), gone]), 1, "one device, a vanished directory skipped");
        assert_eq!(sync_dirs(Vec::new()), 0);
    }
}
