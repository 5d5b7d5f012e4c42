//! Stateless, unforgeable nonces and the bounded per-nonce state kept after a nonce is used.
//!
//! A nonce is `base64(issued_ms || serial || HMAC-SHA256(secret, issued_ms || serial || realm))`:
//! the server keeps nothing per challenge, a nonce cannot be made without the secret, and its age
//! is read back from it. `issued_ms` counts milliseconds since the [`super::Authenticator`] was
//! created; `serial` is a counter that makes every nonce unique, so that two clients challenged in
//! the same millisecond never share nonce-count state.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const MAC_LEN: usize = 32;
const NONCE_LEN: usize = 8 + 8 + MAC_LEN;

/// What reading a nonce back told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NonceCheck {
    /// Ours, for this realm, within its lifetime.
    Fresh { serial: u64, issued: Instant },
    /// Ours, for this realm, but too old (or stamped after `now`, which happens only if the
    /// secret outlived a restart).
    Stale,
    /// Not one of ours: bad encoding, wrong length, wrong MAC or another realm's.
    Invalid,
}

/// Mints and checks nonces with the node secret.
pub(super) struct NonceMint {
    secret: [u8; 32],
    epoch: Instant,
    next_serial: u64,
}

impl NonceMint {
    pub(super) fn new(secret: [u8; 32], epoch: Instant) -> Self {
        NonceMint { secret, epoch, next_serial: 1 }
    }

    fn mac(&self, stamp: &[u8], realm: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(stamp);
        mac.update(realm.as_bytes());
        mac
    }

    /// A new nonce for `realm`.
    pub(super) fn mint(&mut self, now: Instant, realm: &str) -> String {
        let ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut raw = [0u8; NONCE_LEN];
        raw[..8].copy_from_slice(&ms.to_be_bytes());
        raw[8..16].copy_from_slice(&serial.to_be_bytes());
        let tag = self.mac(&raw[..16], realm).finalize().into_bytes();
        raw[16..].copy_from_slice(&tag);
        STANDARD.encode(raw)
    }

    /// Checks a nonce received in credentials for `realm`.
    pub(super) fn check(&self, now: Instant, realm: &str, nonce: &str, lifetime: Duration) -> NonceCheck {
        // Decoding is bounded: anything longer than ours is refused before decoding.
        if nonce.len() > NONCE_LEN * 2 {
            return NonceCheck::Invalid;
        }
        let Ok(raw) = STANDARD.decode(nonce) else { return NonceCheck::Invalid };
        if raw.len() != NONCE_LEN {
            return NonceCheck::Invalid;
        }
        // verify_slice compares in constant time.
        if self.mac(&raw[..16], realm).verify_slice(&raw[16..]).is_err() {
            return NonceCheck::Invalid;
        }
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&raw[..8]);
        let mut serial = [0u8; 8];
        serial.copy_from_slice(&raw[8..16]);
        let Some(issued) = self.epoch.checked_add(Duration::from_millis(u64::from_be_bytes(ms))) else {
            return NonceCheck::Stale;
        };
        if issued > now || now.duration_since(issued) > lifetime {
            return NonceCheck::Stale;
        }
        NonceCheck::Fresh { serial: u64::from_be_bytes(serial), issued }
    }
}

/// The outcome of presenting a nonce count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CountCheck {
    /// Higher than any seen with this nonce: accepted and recorded.
    Accepted,
    /// Not higher than one already accepted: a replay (or a reordered request).
    Replayed,
    /// The nonce's state was evicted under memory pressure; we cannot tell, so it is refused.
    Forgotten,
}

/// Highest nonce count accepted per nonce, and nonces that already had a wrong response.
///
/// Memory is bounded: each map holds at most its capacity. Entries leave when their nonce
/// expires. When the count map is full the oldest nonce (lowest serial) is dropped and the
/// `watermark` rises to its serial, so any nonce at or below the watermark that is not in the map is
/// refused with a stale challenge: under a flood, clients re-authenticate instead of a replay
/// slipping through. Only requests whose digest verified can add count entries.
pub(super) struct NonceTracker {
    counts: BTreeMap<u64, CountEntry>,
    watermark: u64,
    failures: BTreeMap<u64, Instant>,
    capacity: usize,
}

#[derive(Debug, Clone, Copy)]
struct CountEntry {
    highest: u32,
    issued: Instant,
}

impl NonceTracker {
    pub(super) fn new(capacity: usize) -> Self {
        NonceTracker {
            counts: BTreeMap::new(),
            watermark: 0,
            failures: BTreeMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Drops state of nonces older than `lifetime`. Serials grow with time, so the oldest entries
    /// are at the front of each map.
    pub(super) fn expire(&mut self, now: Instant, lifetime: Duration) {
        let old = |issued: Instant| now.saturating_duration_since(issued) > lifetime;
        while let Some((&serial, e)) = self.counts.first_key_value() {
            if !old(e.issued) {
                break;
            }
            self.counts.remove(&serial);
            // Expired nonces are refused as stale anyway; keep the watermark meaningful.
            self.watermark = self.watermark.max(serial);
        }
        while let Some((&serial, &issued)) = self.failures.first_key_value() {
            if !old(issued) {
                break;
            }
            self.failures.remove(&serial);
        }
    }

    /// Records nonce count `nc` for nonce `serial` if it is new and higher than any before.
    pub(super) fn count(&mut self, serial: u64, issued: Instant, nc: u32) -> CountCheck {
        if let Some(e) = self.counts.get_mut(&serial) {
            if nc <= e.highest {
                return CountCheck::Replayed;
            }
            e.highest = nc;
            return CountCheck::Accepted;
        }
        if serial <= self.watermark {
            return CountCheck::Forgotten;
        }
        if self.counts.len() >= self.capacity {
            if let Some((oldest, _)) = self.counts.pop_first() {
                self.watermark = self.watermark.max(oldest);
            }
            if serial <= self.watermark {
                return CountCheck::Forgotten;
            }
        }
        self.counts.insert(serial, CountEntry { highest: nc, issued });
        CountCheck::Accepted
    }

    /// Marks a nonce used once and for all (the RFC 2069 form has no nonce count).
    pub(super) fn use_once(&mut self, serial: u64, issued: Instant) -> CountCheck {
        self.count(serial, issued, u32::MAX)
    }

    /// Notes a wrong response with nonce `serial`; true if one was already noted for it.
    /// Forgetting a failure under pressure only costs one more challenge, so the oldest goes.
    pub(super) fn note_failure(&mut self, serial: u64, issued: Instant) -> bool {
        if self.failures.contains_key(&serial) {
            return true;
        }
        if self.failures.len() >= self.capacity {
            self.failures.pop_first();
        }
        self.failures.insert(serial, issued);
        false
    }

    pub(super) fn tracked(&self) -> usize {
        self.counts.len() + self.failures.len()
    }
}
