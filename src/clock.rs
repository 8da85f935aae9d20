//! Where time comes from. `SystemTime::now()` panics on wasm32, so the worker reads
//! `Date.now()` and native tests drive a [`ManualClock`].
//!
//! ```
//! use remote_user_filter::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(1_700_000_000);
//! clock.advance(60);
//! assert_eq!(clock.now_secs(), 1_700_000_060);
//! ```

use std::cell::Cell;

/// A source of the current time in whole seconds since the Unix epoch.
///
/// ```
/// use remote_user_filter::Clock;
/// struct Fixed;
/// impl Clock for Fixed { fn now_secs(&self) -> u64 { 42 } }
/// assert_eq!(Fixed.now_secs(), 42);
/// ```
pub trait Clock {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now_secs(&self) -> u64;
}

/// The host's clock: `SystemTime` natively, `Date.now()` on wasm32.
///
/// ```
/// use remote_user_filter::{Clock, SystemClock};
/// assert!(SystemClock.now_secs() > 1_600_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(not(target_arch = "wasm32"))]
    fn now_secs(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    #[cfg(target_arch = "wasm32")]
    fn now_secs(&self) -> u64 {
        (js_sys::Date::now() / 1000.0) as u64
    }
}

/// A clock that only moves when told to; for tests.
///
/// ```
/// use remote_user_filter::{Clock, ManualClock};
/// let c = ManualClock::new(10);
/// c.set(20);
/// assert_eq!(c.now_secs(), 20);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(Cell<u64>);

impl ManualClock {
    /// A clock standing at `now` seconds.
    pub fn new(now: u64) -> Self {
        Self(Cell::new(now))
    }

    /// Move the clock forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.set(self.0.get() + secs);
    }

    /// Set the clock to `now`.
    pub fn set(&self, now: u64) {
        self.0.set(now);
    }
}

impl Clock for ManualClock {
    fn now_secs(&self) -> u64 {
        self.0.get()
    }
}

impl<C: Clock + ?Sized> Clock for std::rc::Rc<C> {
    fn now_secs(&self) -> u64 {
        (**self).now_secs()
    }
}
