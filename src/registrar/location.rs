//! The location service: bindings per user, with an index of expiry times for the timer.
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::sip::message::{NameAddr, Uri};
use crate::sip::peer::Peer;

/// One contact registered for a user (RFC 3261 §10.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The address-of-record's user (the authenticated digest username).
    pub user: String,
    /// The Contact URI as registered (where requests for the user are addressed).
    pub contact_uri: String,
    /// The Contact value as registered, without `expires` (keeps `q`, `+sip.instance`, …).
    pub contact: NameAddr,
    /// Where the REGISTER came from: send requests there (behind NAT the Contact host is often
    /// unreachable) and over the same connection for TCP/TLS/WS.
    pub source: Peer,
    pub expires_at: Instant,
    /// The `q` parameter, when present and valid (0 to 1).
    pub q: Option<f32>,
    /// Call-ID and CSeq of the REGISTER that last set this binding (§10.3 step 7).
    pub call_id: String,
    pub cseq: u32,
    /// When the binding was created or last refreshed.
    pub updated_at: Instant,
    /// Store-wide id, for the expiry index.
    pub(super) id: u64,
}

impl Binding {
    /// The parsed Contact URI.
    pub fn uri(&self) -> &Uri {
        &self.contact.uri
    }
}

/// All bindings, per user, plus an ordered index of expiry times.
#[derive(Debug, Default)]
pub(super) struct LocationStore {
    users: HashMap<String, Vec<Binding>>,
    /// (expiry time, binding id) → user.
    expiry: BTreeMap<(Instant, u64), String>,
    total: usize,
    next_id: u64,
}

impl LocationStore {
    pub(super) fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn user(&self, user: &str) -> &[Binding] {
        self.users.get(user).map_or(&[], Vec::as_slice)
    }

    pub(super) fn total(&self) -> usize {
        self.total
    }

    /// Replaces a user's bindings with `new` (the result of one REGISTER, applied at once).
    pub(super) fn replace_user(&mut self, user: &str, new: Vec<Binding>) {
        if let Some(old) = self.users.remove(user) {
            self.total -= old.len();
            for b in &old {
                self.expiry.remove(&(b.expires_at, b.id));
            }
        }
        if new.is_empty() {
            return;
        }
        self.total += new.len();
        for b in &new {
            self.expiry.insert((b.expires_at, b.id), user.to_owned());
        }
        self.users.insert(user.to_owned(), new);
    }

    /// The earliest expiry time.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first_key_value().map(|((t, _), _)| *t)
    }

    /// Removes and returns every binding whose expiry time is at or before `now`.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<Binding> {
        let mut removed = Vec::new();
        while let Some(entry) = self.expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), user) = entry.remove_entry();
            if let Some(list) = self.users.get_mut(&user) {
                if let Some(i) = list.iter().position(|b| b.id == id) {
                    removed.push(list.remove(i));
                    self.total -= 1;
                }
                if list.is_empty() {
                    self.users.remove(&user);
                }
            }
        }
        removed
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Binding> {
        self.users.values().flatten()
    }
}
