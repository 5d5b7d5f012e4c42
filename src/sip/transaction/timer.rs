//! Transaction timer values (RFC 3261 §17 and Table 4, RFC 6026) and their validation.
use std::fmt;
use std::time::Duration;

/// The base timer values. Every transaction timer derives from these (Table 4 of RFC 3261).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate; first retransmission interval. Default 500 ms.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE responses. Default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network. Default 5 s.
    pub t4: Duration,
    /// Timer D: how long a client INVITE transaction absorbs retransmitted final responses over
    /// UDP. At least 32 s (RFC 3261 §17.1.1.2). Default 32 s.
    pub timer_d: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
        }
    }
}

/// A timer configuration that cannot be used. Our configuration is wrong, not the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// T1 is zero: retransmissions would spin.
    #[error("T1 must be greater than zero")]
    ZeroT1,
    /// T1 exceeds the sanity bound (64·T1 is every transaction's lifetime).
    #[error("T1 of {0:?} is above the {MAX_T1:?} limit")]
    T1TooLarge(Duration),
    /// T2 is below T1, so the retransmission cap would be below the first interval.
    #[error("T2 ({t2:?}) must not be below T1 ({t1:?})")]
    T2BelowT1 { t1: Duration, t2: Duration },
    /// T4 is zero: unreliable transactions would not absorb retransmissions at all.
    #[error("T4 must be greater than zero")]
    ZeroT4,
    /// Timer D is below the 32 s RFC 3261 §17.1.1.2 requires.
    #[error("Timer D of {0:?} is below the 32 s minimum")]
    TimerDTooShort(Duration),
}

/// Upper bound accepted for T1; RFC 3261 allows larger T1 on high-latency links, not minutes.
pub const MAX_T1: Duration = Duration::from_secs(10);

/// Minimum Timer D over UDP (RFC 3261 §17.1.1.2).
pub const MIN_TIMER_D: Duration = Duration::from_secs(32);

impl TimerConfig {
    /// Checks the values against RFC 3261's constraints.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.t1.is_zero() {
            return Err(ConfigError::ZeroT1);
        }
        if self.t1 > MAX_T1 {
            return Err(ConfigError::T1TooLarge(self.t1));
        }
        if self.t2 < self.t1 {
            return Err(ConfigError::T2BelowT1 {
                t1: self.t1,
                t2: self.t2,
            });
        }
        if self.t4.is_zero() {
            return Err(ConfigError::ZeroT4);
        }
        if self.timer_d < MIN_TIMER_D {
            return Err(ConfigError::TimerDTooShort(self.timer_d));
        }
        Ok(())
    }

    /// 64·T1: Timers B, F, H, L and M, and J over UDP.
    pub fn t1_x64(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer D for a transport: the configured value over UDP, zero over a reliable one.
    pub(crate) fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.timer_d
        }
    }

    /// Timers I and K: T4 over UDP, zero over a reliable transport.
    pub(crate) fn t4_or_zero(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J: 64·T1 over UDP, zero over a reliable transport.
    pub(crate) fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1_x64()
        }
    }
}

/// The RFC 3261 / RFC 6026 timer names, as reported in events and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerName {
    A,
    B,
    D,
    E,
    F,
    G,
    H,
    I,
    J,
    K,
    L,
    M,
}

impl TimerName {
    /// A stable cause code for CDRs and metrics (`sip.timeout_b`).
    pub fn cause_code(self) -> &'static str {
        match self {
            TimerName::A => "sip.timer_a",
            TimerName::B => "sip.timeout_b",
            TimerName::D => "sip.timer_d",
            TimerName::E => "sip.timer_e",
            TimerName::F => "sip.timeout_f",
            TimerName::G => "sip.timer_g",
            TimerName::H => "sip.timeout_h",
            TimerName::I => "sip.timer_i",
            TimerName::J => "sip.timer_j",
            TimerName::K => "sip.timer_k",
            TimerName::L => "sip.timer_l",
            TimerName::M => "sip.timer_m",
        }
    }
}

impl fmt::Display for TimerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timer {self:?}")
    }
}

/// A retransmission timer (A, E or G): when it fires next and the interval after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) at: std::time::Instant,
    pub(crate) interval: Duration,
}

impl Backoff {
    /// First firing one `interval` after `now`.
    pub(crate) fn start(now: std::time::Instant, interval: Duration) -> Backoff {
        Backoff {
            at: now + interval,
            interval,
        }
    }

    /// After firing at `now`: doubles the interval, capped at `cap` when there is one.
    pub(crate) fn next(self, now: std::time::Instant, cap: Option<Duration>) -> Backoff {
        let doubled = self.interval.saturating_mul(2);
        let interval = match cap {
            Some(cap) => doubled.min(cap),
            None => doubled,
        };
        Backoff {
            at: now + interval,
            interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_do_not() {
        assert_eq!(TimerConfig::default().validate(), Ok(()));
        let bad_t2 = TimerConfig {
            t2: Duration::from_millis(100),
            ..TimerConfig::default()
        };
        assert!(matches!(
            bad_t2.validate(),
            Err(ConfigError::T2BelowT1 { .. })
        ));
        let zero = TimerConfig {
            t1: Duration::ZERO,
            ..TimerConfig::default()
        };
        assert_eq!(zero.validate(), Err(ConfigError::ZeroT1));
        let short_d = TimerConfig {
            timer_d: Duration::from_secs(5),
            ..TimerConfig::default()
        };
        assert_eq!(
            short_d.validate(),
            Err(ConfigError::TimerDTooShort(Duration::from_secs(5)))
        );
    }
}
