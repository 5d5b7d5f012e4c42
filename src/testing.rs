//! Test-only helpers shared by the sans-IO cores: a virtual clock epoch.
use std::time::Instant;

/// A fixed base instant for virtual-clock tests. Sans-IO code never reads the clock; tests take one
/// reading here and advance it by adding durations.
pub fn epoch() -> Instant {
    Instant::now()
}
