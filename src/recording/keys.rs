//! Key material of the recorder: the AES-256 segment key (`[recording] key_file`) and the
//! node's Ed25519 signing key (`DATA_DIR/recording-signing.key`). Both are generated on first
//! start from the OS random source, written hex-encoded with mode 0600, and never logged.
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::RecordingError;

/// The signing key's file inside the data directory.
pub const SIGNING_KEY_FILE: &str = "recording-signing.key";
/// The segment key's default file inside the data directory.
pub const DEFAULT_KEY_FILE: &str = "recording.key";

/// Fills `buf` from the OS random source.
pub fn random(buf: &mut [u8]) -> Result<(), RecordingError> {
    getrandom::getrandom(buf).map_err(|e| RecordingError::Key { path: "<os random>".into(), reason: e.to_string() })
}

fn key_err(path: &Path, reason: impl ToString) -> RecordingError {
    RecordingError::Key { path: path.display().to_string(), reason: reason.to_string() }
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a 32-byte secret (64 hex digits); `None` when the file does not exist.
fn read_secret(path: &Path) -> Result<Option<[u8; 32]>, RecordingError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_hex32(&text).map(Some).ok_or_else(|| key_err(path, "expected 64 hex digits")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(key_err(path, e)),
    }
}

/// Reads the secret at `path`, creating it (mode 0600, fsynced) when absent.
fn load_or_create(path: &Path) -> Result<[u8; 32], RecordingError> {
    if let Some(k) = read_secret(path)? {
        return Ok(k);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| key_err(dir, e))?;
    }
    let mut key = [0u8; 32];
    random(&mut key)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => {
            f.write_all(format!("{}\n", hex(&key)).as_bytes()).and_then(|_| f.sync_all()).map_err(|e| key_err(path, e))?;
            tracing::info!(path = %path.display(), "recording key generated");
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_secret(path)?.ok_or_else(|| key_err(path, "vanished")),
        Err(e) => Err(key_err(path, e)),
    }
}

/// The keys a node records, verifies and exports with.
#[derive(Clone)]
pub struct Keys {
    pub segment: [u8; 32],
    pub signing: SigningKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys {{ public: {} }}", hex(self.signing.verifying_key().as_bytes()))
    }
}

/// Where the keys live for a data directory and an optional configured key file.
pub fn key_paths(data_dir: &Path, key_file: Option<&Path>) -> (PathBuf, PathBuf) {
    let seg = match key_file {
        Some(p) if p.is_absolute() => p.to_owned(),
        Some(p) => p.to_owned(),
        None => data_dir.join(DEFAULT_KEY_FILE),
    };
    (seg, data_dir.join(SIGNING_KEY_FILE))
}

impl Keys {
    /// Loads both keys, generating the missing ones.
    pub fn load_or_create(data_dir: &Path, key_file: Option<&Path>) -> Result<Keys, RecordingError> {
        let (seg, sig) = key_paths(data_dir, key_file);
        let segment = load_or_create(&seg)?;
        let signing = SigningKey::from_bytes(&load_or_create(&sig)?);
        Ok(Keys { segment, signing })
    }

    /// Loads both keys without creating anything (for the CLI on an existing data directory).
    pub fn load(data_dir: &Path, key_file: Option<&Path>) -> Result<Keys, RecordingError> {
        let (seg, sig) = key_paths(data_dir, key_file);
        let segment = read_secret(&seg)?.ok_or_else(|| key_err(&seg, "missing"))?;
        let signing = SigningKey::from_bytes(&read_secret(&sig)?.ok_or_else(|| key_err(&sig, "missing"))?);
        Ok(Keys { segment, signing })
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }
}

/// The public key as PEM (SubjectPublicKeyInfo, RFC 8410), readable by `openssl pkey -pubin`.
pub fn public_pem(key: &VerifyingKey) -> String {
    use base64::Engine;
    let mut der = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    der.extend_from_slice(key.as_bytes());
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", base64::engine::general_purpose::STANDARD.encode(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_generated_once_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::load_or_create(dir.path(), None).unwrap();
        let b = Keys::load_or_create(dir.path(), None).unwrap();
        assert_eq!(a.segment, b.segment);
        assert_eq!(a.public(), b.public());
        assert_ne!(a.segment, [0; 32]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEFAULT_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(Keys::load(dir.path(), None).unwrap().segment, a.segment);
        std::fs::write(dir.path().join(DEFAULT_KEY_FILE), "zz").unwrap();
        assert!(Keys::load(dir.path(), None).is_err());
        assert!(public_pem(&a.public()).starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    }
}
