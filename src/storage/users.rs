//! Registrar users: input checks and digest HA1 values (RFC 2617 / RFC 8760); never a password.
use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::StorageError;

/// A user as listed to operators: no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub id: String,
    pub display: Option<String>,
    pub realm: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// What digest authentication needs for one user: HA1 = H(id:realm:password), lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCredentials {
    pub id: String,
    pub realm: String,
    /// MD5 HA1 (RFC 2617 `algorithm=MD5`).
    pub ha1_md5: String,
    /// SHA-256 HA1 (RFC 8760 `algorithm=SHA-256`).
    pub ha1_sha256: String,
}

/// Longest accepted user id; SIP allows more, but ids are typed by operators and shown in tables.
pub const MAX_ID_LEN: usize = 64;
/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password, display name or realm; keeps rows and headers small.
pub const MAX_TEXT_LEN: usize = 128;

/// Checks a user id: 1–64 characters, each an ASCII letter, digit or one of `-_.!~*'()`
/// (the RFC 3261 `unreserved` set, so the id needs no escaping in a SIP URI user part).
pub fn validate_id(id: &str) -> Result<(), StorageError> {
    if id.is_empty() {
        return Err(invalid("id", "is empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(invalid("id", "is longer than 64 characters"));
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c);
    if !id.chars().all(ok) {
        return Err(invalid("id", "may hold only letters, digits and -_.!~*'()"));
    }
    Ok(())
}

/// Checks a password: 8 to 128 characters, no control characters.
pub fn validate_password(password: &str) -> Result<(), StorageError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(invalid("password", "is shorter than 8 characters"));
    }
    if len > MAX_TEXT_LEN {
        return Err(invalid("password", "is longer than 128 characters"));
    }
    if password.chars().any(char::is_control) {
        return Err(invalid("password", "contains a control character"));
    }
    Ok(())
}

/// Checks a realm: it goes into a quoted string in `WWW-Authenticate`, so no `"`, `\` or
/// control characters, and it is part of HA1, so it must not be empty.
pub fn validate_realm(realm: &str) -> Result<(), StorageError> {
    if realm.is_empty() {
        return Err(invalid("realm", "is empty"));
    }
    if realm.chars().count() > MAX_TEXT_LEN {
        return Err(invalid("realm", "is longer than 128 characters"));
    }
    if realm.chars().any(|c| c.is_control() || c == '"' || c == '\\') {
        return Err(invalid("realm", "contains a quote, backslash or control character"));
    }
    Ok(())
}

/// Checks a display name: at most 128 characters, no control characters.
pub fn validate_display(display: &str) -> Result<(), StorageError> {
    if display.chars().count() > MAX_TEXT_LEN {
        return Err(invalid("display", "is longer than 128 characters"));
    }
    if display.chars().any(char::is_control) {
        return Err(invalid("display", "contains a control character"));
    }
    Ok(())
}

/// HA1 = MD5(id ":" realm ":" password), lowercase hex.
pub fn ha1_md5(id: &str, realm: &str, password: &str) -> String {
    hex(&Md5::new().chain_update(id).chain_update(":").chain_update(realm).chain_update(":").chain_update(password).finalize())
}

/// HA1 = SHA-256(id ":" realm ":" password), lowercase hex (RFC 8760 §2).
pub fn ha1_sha256(id: &str, realm: &str, password: &str) -> String {
    hex(&Sha256::new().chain_update(id).chain_update(":").chain_update(realm).chain_update(":").chain_update(password).finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn invalid(field: &'static str, reason: &'static str) -> StorageError {
    StorageError::InvalidInput { field, reason }
}
