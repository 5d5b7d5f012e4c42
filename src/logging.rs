//! Log set-up and `Pii<T>`: phone numbers, URIs and addresses are masked in logs unless disabled.
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::{LogFormat, Settings};

static REDACT: AtomicBool = AtomicBool::new(true);

/// Whether `Pii` values are masked (the default).
pub fn set_redaction(on: bool) {
    REDACT.store(on, Ordering::Relaxed);
}

/// Wraps personal data for logging. Redacted, it shows the length and a short non-reversible
/// fingerprint, so lines about the same party can still be correlated without showing who it is.
pub struct Pii<T>(pub T);

impl<T: fmt::Display> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !REDACT.load(Ordering::Relaxed) {
            return self.0.fmt(f);
        }
        let text = self.0.to_string();
        // FNV-1a: not a secret hash, only a stable tag that hides the digits.
        let mut h: u32 = 0x811c_9dc5;
        for b in text.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        write!(f, "<redacted:{}:{:06x}>", text.len(), h & 0xff_ffff)
    }
}

impl<T: fmt::Display> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the configured level.
pub fn init(settings: &Settings) {
    set_redaction(settings.redact);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("ncgw={0},{0}", settings.log_level)));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let result = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // A second init (tests start several nodes in one process) keeps the first subscriber.
    drop(result);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_and_correlates() {
        set_redaction(true);
        let a = Pii("tel:+8613800138000").to_string();
        assert!(!a.contains("138"), "{a}");
        assert_eq!(a, Pii("tel:+8613800138000").to_string());
        assert_ne!(a, Pii("tel:+8613800138001").to_string());
    }
}
