//! The registrar (RFC 3261 §10.3) and location service, sans-IO: REGISTER in, the full response
//! and binding events out, expiry driven by `handle_timeout` / `poll_timeout`.
//!
//! Processing order follows §10.3: authenticate (digest, [`crate::sip::auth`]), check that the To
//! user is the authenticated user, read Contact and Expires, then apply every binding change of
//! the request at once or none of them. Choices where the RFC leaves room:
//! - A REGISTER with the same Call-ID as a binding and a CSeq not above the stored one is
//!   refused with 500 and changes nothing ("the update MUST be aborted and the request fails").
//! - Expiry above `max_expires` is lowered to it; a non-zero one below `min_expires` gets 423
//!   with Min-Expires.
//! - Too many bindings for one user is 403; the store-wide limit is 503 with Retry-After.
//! - The To host is not checked against a domain list: the node serves one realm.
mod location;

pub use location::Binding;

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::sip::auth::{AuthOutcome, Authenticator, Credentials};
use crate::sip::message::{ContactList, HeaderName, Method, NameAddr, Request, Response};
use crate::sip::peer::Peer;
use location::LocationStore;

/// Registrar settings, all resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// The digest realm challenged with.
    pub realm: String,
    /// Shortest registration accepted, in seconds (423 below it).
    pub min_expires: u32,
    /// Longest registration granted; longer requests are shortened to it.
    pub max_expires: u32,
    /// Used when neither the Contact nor the request gives an expiry.
    pub default_expires: u32,
    pub max_bindings_per_user: usize,
    /// Bindings over all users; past it new bindings get 503.
    pub max_bindings_total: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            realm: "ncgw".into(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings_per_user: 10,
            max_bindings_total: 100_000,
        }
    }
}

/// A registrar setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrarConfigError {
    /// Expiry bounds out of order: need 0 < min_expires ≤ default_expires ≤ max_expires.
    #[error("expiry bounds must satisfy 0 < min ({min}) <= default ({default}) <= max ({max})")]
    ExpiryBounds { min: u32, default: u32, max: u32 },
    /// A binding limit of zero would refuse every registration.
    #[error("binding limits must be at least 1")]
    ZeroLimit,
    /// The realm is empty.
    #[error("empty realm")]
    EmptyRealm,
}

impl RegistrarConfig {
    /// Checks the settings (for the configuration loader).
    pub fn check(&self) -> Result<(), RegistrarConfigError> {
        let (min, default, max) = (self.min_expires, self.default_expires, self.max_expires);
        if min == 0 || min > default || default > max {
            return Err(RegistrarConfigError::ExpiryBounds { min, default, max });
        }
        if self.max_bindings_per_user == 0 || self.max_bindings_total == 0 {
            return Err(RegistrarConfigError::ZeroLimit);
        }
        if self.realm.is_empty() {
            return Err(RegistrarConfigError::EmptyRealm);
        }
        Ok(())
    }
}

/// A change in the location service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrarEvent {
    BindingAdded { user: String, contact: String },
    BindingRefreshed { user: String, contact: String },
    BindingRemoved { user: String, contact: String, cause: RemovalCause },
}

/// Why a binding went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemovalCause {
    /// The user removed it (expires 0 or `Contact: *`).
    Unregistered,
    /// Its registration ran out.
    Expired,
}

/// Why a REGISTER was refused (authentication aside). Each maps to one status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Not a REGISTER (a routing bug in the caller).
    #[error("not a REGISTER")]
    NotRegister,
    /// To is missing, malformed, or has no user part.
    #[error("bad To header")]
    BadTo,
    /// The To user is not the authenticated user.
    #[error("To user is not the authenticated user")]
    NotOwner,
    /// Contact is malformed.
    #[error("bad Contact header")]
    BadContact,
    /// Expires header or a Contact's expires parameter is malformed.
    #[error("bad expires value")]
    BadExpires,
    /// `Contact: *` without `Expires: 0`.
    #[error("Contact '*' needs Expires: 0")]
    StarWithoutExpiresZero,
    /// Call-ID, CSeq missing or malformed.
    #[error("bad Call-ID or CSeq")]
    BadCallIdOrCSeq,
    /// A non-zero expiry below `min_expires`.
    #[error("expiry below the minimum of {min} s")]
    IntervalTooBrief { min: u32 },
    /// Same Call-ID as a binding with a CSeq not above the stored one.
    #[error("REGISTER out of order")]
    OutOfOrder,
    /// The user would have more than `max_bindings_per_user` bindings.
    #[error("too many bindings for the user")]
    TooManyBindings,
    /// The store holds `max_bindings_total` bindings.
    #[error("location service full")]
    StoreFull,
}

impl RegisterError {
    pub fn status(&self) -> u16 {
        match self {
            RegisterError::NotRegister => 405,
            RegisterError::BadTo
            | RegisterError::BadContact
            | RegisterError::BadExpires
            | RegisterError::StarWithoutExpiresZero
            | RegisterError::BadCallIdOrCSeq => 400,
            RegisterError::NotOwner | RegisterError::TooManyBindings => 403,
            RegisterError::IntervalTooBrief { .. } => 423,
            RegisterError::OutOfOrder => 500,
            RegisterError::StoreFull => 503,
        }
    }

    /// Stable cause code for logs and metrics.
    pub fn cause_code(&self) -> &'static str {
        match self {
            RegisterError::NotRegister => "registrar.not_register",
            RegisterError::BadTo => "registrar.bad_to",
            RegisterError::NotOwner => "registrar.not_owner",
            RegisterError::BadContact => "registrar.bad_contact",
            RegisterError::BadExpires => "registrar.bad_expires",
            RegisterError::StarWithoutExpiresZero => "registrar.star_without_expires_zero",
            RegisterError::BadCallIdOrCSeq => "registrar.bad_call_id_or_cseq",
            RegisterError::IntervalTooBrief { .. } => "registrar.interval_too_brief",
            RegisterError::OutOfOrder => "registrar.out_of_order",
            RegisterError::TooManyBindings => "registrar.too_many_bindings",
            RegisterError::StoreFull => "registrar.store_full",
        }
    }
}

/// What to do with one REGISTER.
#[derive(Debug, Clone)]
pub struct RegisterOutcome {
    /// The final response to send (To tag included).
    pub response: Response,
    /// Binding changes made by this request, in order.
    pub events: Vec<RegistrarEvent>,
    /// The authenticated user, once authentication succeeded.
    pub user: Option<String>,
    /// `registrar.ok`, an `auth.*` code when authentication failed, or a `registrar.*` one.
    pub cause: &'static str,
}

/// The registrar and its location service.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    store: LocationStore,
}

/// A contact of the request with its granted expiry.
struct Requested {
    contact: NameAddr,
    expires: u32,
    q: Option<f32>,
}

impl Registrar {
    pub fn new(config: RegistrarConfig) -> Registrar {
        Registrar { config, store: LocationStore::default() }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Handles a REGISTER received from `source`: authenticates it with `auth` (`lookup` gives
    /// a username's stored HA1 values), applies it, and returns the response and events.
    pub fn handle_register(
        &mut self,
        now: Instant,
        req: &Request,
        source: Peer,
        auth: &mut Authenticator,
        lookup: impl Fn(&str) -> Option<Credentials>,
    ) -> RegisterOutcome {
        if req.method != Method::Register {
            return self.reject(req, RegisterError::NotRegister, None);
        }
        let realm = self.config.realm.clone();
        let user = match auth.verify(now, req, &realm, false, lookup) {
            AuthOutcome::Authenticated { user, .. } => user,
            AuthOutcome::Challenge { stale, reason } => {
                let mut response = auth.challenge_response(now, req, &realm, false, stale);
                set_tag(&mut response, req);
                return RegisterOutcome { response, events: Vec::new(), user: None, cause: reason.cause_code() };
            }
            AuthOutcome::Forbidden { reason } => {
                let mut response = Response::for_request(req, 403);
                set_tag(&mut response, req);
                return RegisterOutcome { response, events: Vec::new(), user: None, cause: reason.cause_code() };
            }
        };
        match self.apply(now, req, source, &user) {
            Ok(events) => {
                let mut response = Response::for_request(req, 200);
                for b in self.newest_first(&user) {
                    let mut contact = b.contact.clone();
                    let left = b.expires_at.saturating_duration_since(now);
                    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                    contact.params.set("expires", Some(&secs.to_string()));
                    response.headers.push(HeaderName::Contact, contact.to_string());
                }
                set_tag(&mut response, req);
                RegisterOutcome { response, events, user: Some(user), cause: "registrar.ok" }
            }
            Err(e) => self.reject(req, e, Some(user)),
        }
    }

    fn reject(&self, req: &Request, e: RegisterError, user: Option<String>) -> RegisterOutcome {
        let mut response = Response::for_request(req, e.status());
        match e {
            RegisterError::IntervalTooBrief { min } => response.headers.push(HeaderName::MinExpires, min.to_string()),
            RegisterError::StoreFull => response.headers.push(HeaderName::RetryAfter, "60"),
            RegisterError::NotRegister => response.headers.push(HeaderName::Allow, "REGISTER"),
            _ => {}
        }
        set_tag(&mut response, req);
        RegisterOutcome { response, events: Vec::new(), user, cause: e.cause_code() }
    }

    /// §10.3 steps 5–7: checks the request and applies all its binding changes, or none.
    fn apply(&mut self, now: Instant, req: &Request, source: Peer, user: &str) -> Result<Vec<RegistrarEvent>, RegisterError> {
        let to = req.headers.to_addr().map_err(|_| RegisterError::BadTo)?;
        let to_user = to.uri.as_sip().and_then(|u| u.user.as_deref()).ok_or(RegisterError::BadTo)?;
        if to_user != user {
            return Err(RegisterError::NotOwner);
        }
        let call_id = req.headers.call_id().map_err(|_| RegisterError::BadCallIdOrCSeq)?.to_owned();
        let cseq = req.headers.cseq().map_err(|_| RegisterError::BadCallIdOrCSeq)?.seq;
        let expires_header = req.headers.expires().map_err(|_| RegisterError::BadExpires)?;
        let contacts = if req.headers.contains(&HeaderName::Contact) {
            req.headers.contacts().map_err(|_| RegisterError::BadContact)?
        } else {
            ContactList::Addrs(Vec::new())
        };

        let current = self.store.user(user).to_vec();
        let out_of_order = |b: &Binding| b.call_id == call_id && cseq <= b.cseq;
        let mut events = Vec::new();
        let next: Vec<Binding> = match contacts {
            ContactList::Star => {
                if expires_header != Some(0) {
                    return Err(RegisterError::StarWithoutExpiresZero);
                }
                if current.iter().any(out_of_order) {
                    return Err(RegisterError::OutOfOrder);
                }
                for b in &current {
                    events.push(removed(b, RemovalCause::Unregistered));
                }
                Vec::new()
            }
            ContactList::Addrs(list) if list.is_empty() => return Ok(events),
            ContactList::Addrs(list) => {
                let requested = list
                    .into_iter()
                    .map(|c| self.requested(c, expires_header))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut next = current.clone();
                for r in requested {
                    let uri_text = r.contact.uri.to_string();
                    match next.iter().position(|b| b.contact.uri.equivalent(&r.contact.uri)) {
                        Some(i) => {
                            // Ordering is judged against the binding as it was before this
                            // request: one listing a contact twice must not trip over itself.
                            if current.iter().any(|b| b.id == next[i].id && out_of_order(b)) {
                                return Err(RegisterError::OutOfOrder);
                            }
                            if r.expires == 0 {
                                events.push(removed(&next[i], RemovalCause::Unregistered));
                                next.remove(i);
                            } else {
                                let b = &mut next[i];
                                b.contact = r.contact;
                                b.contact_uri = uri_text.clone();
                                b.source = source;
                                b.expires_at = now + Duration::from_secs(u64::from(r.expires));
                                b.q = r.q;
                                b.call_id = call_id.clone();
                                b.cseq = cseq;
                                b.updated_at = now;
                                events.push(RegistrarEvent::BindingRefreshed { user: user.to_owned(), contact: uri_text });
                            }
                        }
                        None if r.expires == 0 => {}
                        None => {
                            next.push(Binding {
                                user: user.to_owned(),
                                contact_uri: uri_text.clone(),
                                contact: r.contact,
                                source,
                                expires_at: now + Duration::from_secs(u64::from(r.expires)),
                                q: r.q,
                                call_id: call_id.clone(),
                                cseq,
                                updated_at: now,
                                id: self.store.alloc_id(),
                            });
                            events.push(RegistrarEvent::BindingAdded { user: user.to_owned(), contact: uri_text });
                        }
                    }
                }
                if next.len() > self.config.max_bindings_per_user {
                    return Err(RegisterError::TooManyBindings);
                }
                let total_after = self.store.total() - current.len() + next.len();
                if next.len() > current.len() && total_after > self.config.max_bindings_total {
                    return Err(RegisterError::StoreFull);
                }
                next
            }
        };
        self.store.replace_user(user, next);
        Ok(events)
    }

    /// A Contact of the request with its expiry worked out (§10.3 step 6).
    fn requested(&self, mut contact: NameAddr, expires_header: Option<u32>) -> Result<Requested, RegisterError> {
        let param = match contact.params.get("expires") {
            None => None,
            Some(Some(v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                // Longer than any u32 is simply "very long"; it is lowered to max_expires.
                Some(v.parse::<u32>().unwrap_or(u32::MAX))
            }
            Some(_) => return Err(RegisterError::BadExpires),
        };
        contact.params.remove("expires");
        let asked = param.or(expires_header).unwrap_or(self.config.default_expires);
        if asked != 0 && asked < self.config.min_expires {
            return Err(RegisterError::IntervalTooBrief { min: self.config.min_expires });
        }
        let q = contact.params.value("q").and_then(|v| v.parse::<f32>().ok()).filter(|q| (0.0..=1.0).contains(q));
        Ok(Requested { contact, expires: asked.min(self.config.max_expires), q })
    }

    /// Removes bindings whose time is up and reports them.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<RegistrarEvent> {
        self.store.expire(now).iter().map(|b| removed(b, RemovalCause::Expired)).collect()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.store.next_expiry()
    }

    /// The user's bindings, most recently registered or refreshed first. Expired bindings stay
    /// until `handle_timeout` runs.
    pub fn lookup(&self, user: &str) -> Vec<Binding> {
        self.newest_first(user).into_iter().cloned().collect()
    }

    fn newest_first(&self, user: &str) -> Vec<&Binding> {
        let mut list: Vec<&Binding> = self.store.user(user).iter().collect();
        list.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
        list
    }

    /// Every binding, in no particular order (for `ncgw registrations`).
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.store.iter()
    }

    /// Number of bindings over all users.
    pub fn binding_count(&self) -> usize {
        self.store.total()
    }
}

fn removed(b: &Binding, cause: RemovalCause) -> RegistrarEvent {
    RegistrarEvent::BindingRemoved { user: b.user.clone(), contact: b.contact_uri.clone(), cause }
}

/// Gives the response a To tag derived from the request (Call-ID, From tag, CSeq): every final
/// response needs one (RFC 3261 §8.2.6.2) and this layer has no random source. A repeat of the
/// same request gets the same tag, which is what a retransmission should see.
fn set_tag(resp: &mut Response, req: &Request) {
    let mut h = Sha256::new();
    for name in [HeaderName::CallId, HeaderName::From, HeaderName::CSeq] {
        h.update(req.headers.get(&name).unwrap_or("").as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    resp.set_to_tag(&tag);
}

#[cfg(test)]
mod tests;
