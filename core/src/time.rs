//! The caller's clock, as numbers: the core never reads a clock. The
//! adapter passes `now` into every call that may start or check a timer,
//! and the core answers with the next deadline.

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time on the caller's monotonic clock, in milliseconds since
/// an origin the caller chooses (boot, process start...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant { millis: 0 };

    /// The instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant { millis }
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

/// An instant or none, in the 8 bytes of an [`Instant`] where
/// `Option<Instant>` takes 16: the clock's last millisecond stands for
/// none (a deadline there is never reached, so a timer set to it is one
/// that never runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MaybeInstant(u64);

impl MaybeInstant {
    /// No instant.
    pub(crate) const NONE: MaybeInstant = MaybeInstant(u64::MAX);

    /// The instant, if any.
    pub(crate) fn get(self) -> Option<Instant> {
        (self.0 != u64::MAX).then_some(Instant::from_millis(self.0))
    }

    /// Whether there is an instant.
    pub(crate) fn is_some(self) -> bool {
        self.0 != u64::MAX
    }
}

impl From<Instant> for MaybeInstant {
    fn from(t: Instant) -> Self {
        MaybeInstant(t.millis)
    }
}

/// `d` in whole milliseconds, `u64::MAX` when more. Without
/// [`Duration::as_millis`]: its 128-bit arithmetic costs a microcontroller
/// flash at every use.
#[inline(never)]
pub(crate) fn whole_millis(d: Duration) -> u64 {
    d.as_secs()
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(u64::from(d.subsec_millis())))
        .unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant {
            millis: self.millis.saturating_add(whole_millis(d)),
        }
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        let ms = whole_millis(d);
        Instant {
            millis: self.millis.saturating_sub(ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maybe_instant_keeps_every_instant_but_the_last() {
        assert_eq!(MaybeInstant::NONE.get(), None);
        assert!(!MaybeInstant::NONE.is_some());
        for t in [0, 1, u64::MAX - 1] {
            let m = MaybeInstant::from(Instant::from_millis(t));
            assert_eq!(m.get(), Some(Instant::from_millis(t)));
            assert!(m.is_some());
        }
        assert_eq!(
            MaybeInstant::from(Instant::from_millis(u64::MAX)).get(),
            None
        );
    }

    #[test]
    fn whole_millis_is_as_millis_saturated() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(999_999),
            Duration::from_micros(1_500_999),
            Duration::from_secs(86_400 * 50),
            Duration::new(u64::MAX / 1000, 807_999_999),
            Duration::new(u64::MAX / 1000, 808_000_000),
            Duration::new(u64::MAX / 1000 + 1, 0),
            Duration::MAX,
        ] {
            let want = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            assert_eq!(whole_millis(d), want, "{d:?}");
        }
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(1000);
        assert_eq!((t + Duration::from_secs(2)).as_millis(), 3000);
        assert_eq!((t - Duration::from_secs(2)), Instant::ZERO);
        assert_eq!((t + Duration::MAX).as_millis(), u64::MAX);
        assert_eq!(
            Instant::from_millis(5).saturating_duration_since(t),
            Duration::ZERO
        );
        assert_eq!(
            t.saturating_duration_since(Instant::from_millis(400)),
            Duration::from_millis(600)
        );
    }
}
