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

use futures::future::LocalBoxFuture;

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

    /// A future that completes after `ms` milliseconds on the runtime's timers, or `None`
    /// (the default) where there are none. A request that waits on work another request
    /// started (a shared key fetch or user look-up) races it against this: workerd cancels
    /// a request as hung when it waits on nothing of its own, and a timer is its own.
    fn sleep(&self, ms: u64) -> Option<LocalBoxFuture<'static, ()>> {
        let _ = ms;
        None
    }
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

    #[cfg(target_arch = "wasm32")]
    fn sleep(&self, ms: u64) -> Option<LocalBoxFuture<'static, ()>> {
        Timer::start(ms).map(|timer| Box::pin(timer) as LocalBoxFuture<'static, ()>)
    }
}

/// A `setTimeout` as a future; dropped before it fires, it clears the timer and settles its
/// promise itself. (The `worker` crate's `Delay` unwraps `setTimeout`'s id as a number,
/// which it is not under Node.)
///
/// The promise must settle: a `JsFuture` keeps its state and both callbacks alive in a
/// reference cycle that only the promise's settling breaks, so a timer cleared and left
/// pending would leak them at every race it lost, which is every KV call and every fetch
/// that answers in time.
///
/// ```no_run
/// # async fn demo() {
/// if let Some(timer) = remote_user_filter::Timer::start(50) {
///     timer.await;
/// }
/// # }
/// ```
#[cfg(target_arch = "wasm32")]
#[derive(Debug)]
pub struct Timer {
    fired: wasm_bindgen_futures::JsFuture,
    id: wasm_bindgen::JsValue,
    resolve: js_sys::Function,
    /// The promise behind the timer, for the test that watches it settle.
    #[cfg(test)]
    promise: js_sys::Promise,
}

#[cfg(target_arch = "wasm32")]
impl Timer {
    /// A timer of `ms` milliseconds; `None` where the runtime has no `setTimeout`.
    pub fn start(ms: u64) -> Option<Self> {
        use wasm_bindgen::JsCast;
        let global = js_sys::global();
        let set_timeout: js_sys::Function = js_sys::Reflect::get(&global, &"setTimeout".into())
            .ok()?
            .dyn_into()
            .ok()?;
        let mut started = None;
        // The executor runs at once, inside `new Promise`.
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            let id = set_timeout.call2(&global, &resolve, &(ms as f64).into());
            started = Some((id, resolve));
        });
        let (id, resolve) = started?;
        Some(Self {
            #[cfg(test)]
            promise: promise.clone(),
            fired: wasm_bindgen_futures::JsFuture::from(promise),
            id: id.ok()?,
            resolve,
        })
    }
}

#[cfg(target_arch = "wasm32")]
impl std::future::Future for Timer {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::future::Future::poll(std::pin::Pin::new(&mut self.fired), cx).map(|_| ())
    }
}

#[cfg(target_arch = "wasm32")]
impl Drop for Timer {
    fn drop(&mut self) {
        use wasm_bindgen::JsCast;
        let global = js_sys::global();
        if let Some(clear) = js_sys::Reflect::get(&global, &"clearTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        {
            let _ = clear.call1(&global, &self.id);
        }
        // Settle the promise (a no-op if the timer fired): its callbacks then run, once, and
        // free the `JsFuture`'s state.
        let _ = self.resolve.call0(&wasm_bindgen::JsValue::UNDEFINED);
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
    fn sleep(&self, ms: u64) -> Option<LocalBoxFuture<'static, ()>> {
        (**self).sleep(ms)
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod wasm_tests {
    use futures::future::{select, Either};
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::Timer;

    /// A `JsFuture` frees its state only when its promise settles; a timer that lost its race
    /// (every KV call and fetch) must not leave its promise pending.
    #[wasm_bindgen_test]
    async fn a_timer_dropped_before_it_fires_settles_its_promise() {
        let timer = Timer::start(60_000).expect("setTimeout");
        let promise = timer.promise.clone();
        drop(timer);
        let Some(deadline) = Timer::start(500) else {
            panic!("setTimeout");
        };
        match select(JsFuture::from(promise), deadline).await {
            Either::Left(_) => {}
            Either::Right(_) => {
                panic!("the dropped timer's promise is still pending: its JsFuture's state leaks")
            }
        }
    }
}
