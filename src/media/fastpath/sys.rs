//! The raw `bpf(2)` commands the fast path needs, each with its `union bpf_attr` layout as a
//! `#[repr(C)]` struct (the kernel zero-extends a shorter attr; every unused field here is 0).
//!
//! File descriptors come back as `OwnedFd`, so maps, programs and links are released when the
//! owner drops them (and by the kernel when the process dies, even by SIGKILL).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::asm::Insn;

// Commands (enum bpf_cmd).
const MAP_CREATE: libc::c_long = 0;
const MAP_LOOKUP_ELEM: libc::c_long = 1;
const MAP_UPDATE_ELEM: libc::c_long = 2;
const MAP_DELETE_ELEM: libc::c_long = 3;
const PROG_LOAD: libc::c_long = 5;
const MAP_LOOKUP_AND_DELETE_ELEM: libc::c_long = 21;
const LINK_CREATE: libc::c_long = 28;

/// enum bpf_map_type: BPF_MAP_TYPE_HASH.
pub const MAP_TYPE_HASH: u32 = 1;
/// enum bpf_prog_type: BPF_PROG_TYPE_SCHED_CLS (tc and tcx programs).
pub const PROG_TYPE_SCHED_CLS: u32 = 3;
/// enum bpf_attach_type: BPF_TCX_INGRESS (46 since Linux 6.6; checked against the kernel's
/// include/uapi/linux/bpf.h: ... BPF_STRUCT_OPS = 44, BPF_NETFILTER = 45, BPF_TCX_INGRESS = 46).
pub const ATTACH_TCX_INGRESS: u32 = 46;
/// BPF_ANY: create or replace.
const UPDATE_ANY: u64 = 0;
/// Size of the verifier log buffer asked for when a load fails.
const LOG_SIZE: usize = 64 * 1024;

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    // tcx: relative_fd/relative_id (0: append) and expected_revision (0: any).
    relative: u32,
    _pad: u32,
    expected_revision: u64,
}

/// One bpf(2) call; the attr is passed by pointer with its size.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, fully initialised #[repr(C)] bpf_attr prefix of the given size;
    // every pointer inside it refers to memory that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>() as libc::c_uint) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd_from(r: libc::c_long) -> OwnedFd {
    // SAFETY: a successful MAP_CREATE/PROG_LOAD/LINK_CREATE returns a new fd that we own.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = b;
    }
    out
}

/// BPF_MAP_CREATE of a (preallocated) hash map.
pub fn map_create_hash(name: &str, key_size: u32, value_size: u32, max_entries: u32) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: MAP_TYPE_HASH,
        key_size,
        value_size,
        max_entries,
        map_name: name16(name),
        ..Default::default()
    };
    bpf(MAP_CREATE, &mut attr).map(fd_from)
}

fn elem_attr(map: &OwnedFd, key: &[u8], value: *mut u8, flags: u64) -> MapElemAttr {
    MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value as u64,
        flags,
        ..Default::default()
    }
}

/// BPF_MAP_UPDATE_ELEM with BPF_ANY (insert or replace).
pub fn map_update(map: &OwnedFd, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = elem_attr(map, key, value.as_ptr() as *mut u8, UPDATE_ANY);
    bpf(MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// BPF_MAP_LOOKUP_ELEM; `Ok(false)` when the key is absent (ENOENT).
pub fn map_lookup(map: &OwnedFd, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = elem_attr(map, key, value.as_mut_ptr(), 0);
    absent_is_false(bpf(MAP_LOOKUP_ELEM, &mut attr))
}

/// BPF_MAP_LOOKUP_AND_DELETE_ELEM (hash maps: Linux 5.14+); `Ok(false)` when absent.
pub fn map_lookup_and_delete(map: &OwnedFd, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = elem_attr(map, key, value.as_mut_ptr(), 0);
    absent_is_false(bpf(MAP_LOOKUP_AND_DELETE_ELEM, &mut attr))
}

/// BPF_MAP_DELETE_ELEM; `Ok(false)` when absent.
pub fn map_delete(map: &OwnedFd, key: &[u8]) -> io::Result<bool> {
    let mut attr = elem_attr(map, key, std::ptr::null_mut(), 0);
    absent_is_false(bpf(MAP_DELETE_ELEM, &mut attr))
}

fn absent_is_false(r: io::Result<libc::c_long>) -> io::Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Why a PROG_LOAD failed: the errno and, when the verifier said something, its log.
#[derive(Debug)]
pub struct LoadError {
    pub source: io::Error,
    pub log: String,
}

/// BPF_PROG_LOAD. The first attempt runs without a log (a log that overflows its buffer fails
/// the load with ENOSPC); on failure the load is repeated with log_level 1 and a 64 KiB buffer
/// so the error carries the verifier's reasoning.
pub fn prog_load(prog_type: u32, name: &str, insns: &[Insn], license: &str) -> Result<OwnedFd, LoadError> {
    let raw: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let license = CString::new(license).map_err(|e| LoadError { source: io::Error::other(e), log: String::new() })?;
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut attr = ProgLoadAttr {
            prog_type,
            insn_cnt: insns.len() as u32,
            insns: raw.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_name: name16(name),
            ..Default::default()
        };
        if let Some(buf) = log {
            attr.log_level = 1;
            attr.log_size = buf.len() as u32;
            attr.log_buf = buf.as_mut_ptr() as u64;
        }
        bpf(PROG_LOAD, &mut attr).map(fd_from)
    };
    match attempt(None) {
        Ok(fd) => Ok(fd),
        Err(first) => {
            let mut buf = vec![0u8; LOG_SIZE];
            match attempt(Some(&mut buf)) {
                Ok(fd) => Ok(fd),
                Err(_) => {
                    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
                    Err(LoadError { source: first, log: String::from_utf8_lossy(&buf[..end]).into_owned() })
                }
            }
        }
    }
}

/// BPF_LINK_CREATE: attaches `prog` at `attach_type` of interface `ifindex`, appended after the
/// programs already there. The attachment lives as long as the returned link fd.
pub fn link_create(prog: &OwnedFd, ifindex: u32, attach_type: u32) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        ..Default::default()
    };
    bpf(LINK_CREATE, &mut attr).map(fd_from)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The attr structs must match the kernel's field offsets.
    #[test]
    fn attr_layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<MapCreateAttr>(), 44);
        assert_eq!(std::mem::size_of::<MapElemAttr>(), 32);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(std::mem::offset_of!(LinkCreateAttr, expected_revision), 24);
    }
}
