//! The recording file: one append-only file per call, `<call-id>.nrec`, a fixed header followed
//! by framed records. Blocking file I/O (the writer calls it from `spawn_blocking`).
//!
//! ```text
//! file   = "NCGWREC" | version u8 (1) | record*
//! record = type u8 | len u32 BE | payload [len]
//! ```
//!
//! Record types:
//!
//! - `0x10 + stream` (`0x10..=0x1f`): a segment of media stream `stream`; the payload is the
//!   sealed segment exactly as [`super::container::seal`] makes it (its own magic, index, nonce,
//!   AES-256-GCM ciphertext). Stream 0 is the two-channel audio timeline (customer left, agent
//!   right), the only stream written today.
//! - `0x01`: the manifest (the exact signed JSON body), written once at close.
//! - `0x02`: the signature over it (the bytes `manifest.sig` held in the per-call directories
//!   of earlier versions, including the RFC 3161 token), right after the manifest.
//! - `0x03`, `0x04`: a signed amendment (business tags attached after the close, see
//!   [`super::amend`]) and its signature, appended after the manifest's signature.
//!
//! Video comes as another stream: segment records of type `0x11` (and up), each stream with its
//! own index sequence and sealed-block format, interleaved in the one file in write order; the
//! manifest then lists each stream's segments (an entry without a stream is stream 0). Readers
//! of this version report a record type they do not know instead of guessing, so old files stay
//! valid and new streams do not need another framing.
//!
//! Appending is crash-safe by construction: a `kill -9` can only leave the last record cut
//! short, which [`scan`] reports and recovery cuts off (setting the bytes aside).
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::container;
use super::RecordingError;

/// File name extension of a recording.
pub const EXTENSION: &str = "nrec";
/// The file header: magic and format version.
pub const HEADER: &[u8; 8] = b"NCGWREC\x01";
/// Bytes before a record's payload.
pub const FRAME: usize = 5;

pub const TYPE_MANIFEST: u8 = 0x01;
pub const TYPE_SIGNATURE: u8 = 0x02;
/// A signed amendment (tags attached after the close, `amend`) and its signature.
pub const TYPE_AMENDMENT: u8 = 0x03;
pub const TYPE_AMENDMENT_SIGNATURE: u8 = 0x04;
/// Segment records: `TYPE_SEGMENT + stream`.
pub const TYPE_SEGMENT: u8 = 0x10;
const LAST_STREAM: u8 = 0x0f;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Segment { stream: u8 },
    Manifest,
    Signature,
    Amendment,
    AmendmentSignature,
    Unknown(u8),
}

impl Kind {
    pub fn of(byte: u8) -> Kind {
        match byte {
            TYPE_MANIFEST => Kind::Manifest,
            TYPE_SIGNATURE => Kind::Signature,
            TYPE_AMENDMENT => Kind::Amendment,
            TYPE_AMENDMENT_SIGNATURE => Kind::AmendmentSignature,
            b if (TYPE_SEGMENT..=TYPE_SEGMENT + LAST_STREAM).contains(&b) => Kind::Segment { stream: b - TYPE_SEGMENT },
            b => Kind::Unknown(b),
        }
    }
}

/// The frame in front of a payload of `len` bytes.
pub fn frame(kind: u8, len: usize) -> [u8; FRAME] {
    let l = (len as u32).to_be_bytes();
    [kind, l[0], l[1], l[2], l[3]]
}

/// Appends one whole record to `out`.
pub fn push_record(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    out.extend_from_slice(&frame(kind, payload.len()));
    out.extend_from_slice(payload);
}

/// One record found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    /// Offset of the record's frame in the file.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
    /// For a segment record: the index its clear header claims.
    pub segment: Option<u32>,
}

impl Record {
    pub fn end(&self) -> u64 {
        self.offset + FRAME as u64 + u64::from(self.len)
    }
}

/// A record the file ends in the middle of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Torn {
    pub offset: u64,
    /// What its frame says, when the frame itself is whole.
    pub kind: Option<Kind>,
    pub segment: Option<u32>,
}

/// The records of a file, in order.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The file starts with [`HEADER`]; `false` leaves `records` empty.
    pub header_ok: bool,
    pub records: Vec<Record>,
    /// Where the whole records end (the file's length unless a record is torn).
    pub end: u64,
    pub size: u64,
    pub torn: Option<Torn>,
}

impl Scan {
    pub fn segments(&self) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(|r| matches!(r.kind, Kind::Segment { .. }))
    }
}

/// Reads the frames of `file` (payloads are skipped, only a segment's clear index is read).
pub fn scan(file: &File) -> std::io::Result<Scan> {
    let size = file.metadata()?.len();
    let mut s = Scan { size, ..Default::default() };
    let mut head = [0u8; 8];
    if size < HEADER.len() as u64 || file.read_exact_at(&mut head, 0).is_err() || &head != HEADER {
        return Ok(s);
    }
    s.header_ok = true;
    let mut at = HEADER.len() as u64;
    while at < size {
        let mut f = [0u8; FRAME];
        if size - at < FRAME as u64 {
            s.torn = Some(Torn { offset: at, kind: None, segment: None });
            break;
        }
        file.read_exact_at(&mut f, at)?;
        let kind = Kind::of(f[0]);
        let len = u32::from_be_bytes([f[1], f[2], f[3], f[4]]);
        let segment = match kind {
            Kind::Segment { .. } => {
                let mut h = [0u8; 12];
                let avail = (size - at - FRAME as u64).min(12) as usize;
                file.read_exact_at(&mut h[..avail], at + FRAME as u64)?;
                container::claimed_index(&h[..avail.min(len as usize)])
            }
            _ => None,
        };
        let r = Record { kind, offset: at, len, segment };
        if r.end() > size {
            s.torn = Some(Torn { offset: at, kind: Some(kind), segment });
            break;
        }
        s.records.push(r);
        at = r.end();
    }
    s.end = at.min(size);
    if s.torn.is_some() {
        s.end = s.records.last().map_or(HEADER.len() as u64, Record::end);
    }
    Ok(s)
}

/// A record's payload into `buf` (replacing what it held).
pub fn read_payload(file: &File, r: &Record, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    buf.resize(r.len as usize, 0);
    file.read_exact_at(buf, r.offset + FRAME as u64)
}

fn io(path: &Path, e: std::io::Error) -> RecordingError {
    RecordingError::Io { path: path.display().to_string(), source: e }
}

/// An open recording file being appended to.
#[derive(Debug)]
pub struct RecordingFile {
    path: PathBuf,
    file: File,
    /// Length of the whole records written so far.
    len: u64,
}

impl RecordingFile {
    /// Creates the file (and its dated directory when missing) with its header; an existing
    /// file is never overwritten.
    pub fn create(path: &Path) -> Result<RecordingFile, RecordingError> {
        let open = || OpenOptions::new().write(true).create_new(true).open(path);
        let mut file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
                }
                open()
            }
            other => other,
        }
        .map_err(|e| io(path, e))?;
        file.write_all(HEADER).map_err(|e| io(path, e))?;
        Ok(RecordingFile { path: path.to_owned(), file, len: HEADER.len() as u64 })
    }

    /// Opens an existing file whose whole records end at `len` (recovery, after cutting a tail).
    pub fn reopen(path: &Path, len: u64) -> Result<RecordingFile, RecordingError> {
        let file = OpenOptions::new().write(true).open(path).map_err(|e| io(path, e))?;
        Ok(RecordingFile { path: path.to_owned(), file, len })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= HEADER.len() as u64
    }

    /// Appends whole records with one write at the end of the last whole record; returns where
    /// they start. A failed write (disk full) is cut back off, so later records still follow
    /// whole ones.
    pub fn append(&mut self, bytes: &[u8]) -> Result<u64, RecordingError> {
        let at = self.len;
        let written = self.file.write_all_at(bytes, at);
        self.settle(at, bytes.len(), written)
    }

    fn settle(&mut self, at: u64, n: usize, written: std::io::Result<()>) -> Result<u64, RecordingError> {
        match written {
            Ok(()) => {
                self.len = at + n as u64;
                Ok(at)
            }
            Err(e) => {
                let _ = self.file.set_len(at);
                Err(io(&self.path, e))
            }
        }
    }

    /// Test hook: half of `bytes` lands, then the write fails as on a full disk.
    #[cfg(test)]
    pub(super) fn append_failing(&mut self, bytes: &[u8]) -> Result<u64, RecordingError> {
        let at = self.len;
        let _ = self.file.write_all_at(&bytes[..bytes.len() / 2], at);
        self.settle(at, bytes.len(), Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "test: disk full")))
    }

    /// Makes the file's contents durable (its directory entry is the group syncer's).
    pub fn sync(&self) -> Result<(), RecordingError> {
        self.file.sync_data().map_err(|e| io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_types_leave_room_for_more_streams() {
        assert_eq!(Kind::of(0x10), Kind::Segment { stream: 0 });
        assert_eq!(Kind::of(0x11), Kind::Segment { stream: 1 });
        assert_eq!(Kind::of(0x1f), Kind::Segment { stream: 15 });
        assert_eq!(Kind::of(0x20), Kind::Unknown(0x20));
        assert_eq!(Kind::of(TYPE_MANIFEST), Kind::Manifest);
        assert_eq!(Kind::of(TYPE_SIGNATURE), Kind::Signature);
        assert_eq!(frame(0x10, 0x0102_0304), [0x10, 1, 2, 3, 4]);
    }

    #[test]
    fn scan_finds_records_and_a_torn_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/c1.nrec");
        let mut f = RecordingFile::create(&path).unwrap();
        assert!(RecordingFile::create(&path).is_err(), "never overwritten");
        let mut seg = b"NCGWSEG1".to_vec();
        seg.extend_from_slice(&7u32.to_le_bytes());
        seg.extend_from_slice(&[0; 20]);
        let mut buf = Vec::new();
        push_record(&mut buf, TYPE_SEGMENT, &seg);
        assert_eq!(f.append(&buf).unwrap(), 8);
        buf.clear();
        push_record(&mut buf, TYPE_MANIFEST, b"{}");
        let m = f.append(&buf).unwrap();
        let file = File::open(&path).unwrap();
        let s = scan(&file).unwrap();
        assert!(s.header_ok && s.torn.is_none());
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.records[0].segment, Some(7));
        assert_eq!((s.records[1].kind, s.records[1].offset, s.end), (Kind::Manifest, m, f.len()));
        let mut p = Vec::new();
        read_payload(&file, &s.records[1], &mut p).unwrap();
        assert_eq!(p, b"{}");
        // Cut inside the segment record: the segment is named from its clear header.
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(8 + 5 + 14).unwrap();
        let s = scan(&File::open(&path).unwrap()).unwrap();
        assert_eq!(s.torn, Some(Torn { offset: 8, kind: Some(Kind::Segment { stream: 0 }), segment: Some(7) }));
        assert_eq!((s.records.len(), s.end, s.size), (0, 8, 27));
        std::fs::write(&path, b"NCGW").unwrap();
        assert!(!scan(&File::open(&path).unwrap()).unwrap().header_ok);
    }
}
