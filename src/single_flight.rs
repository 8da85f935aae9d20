//! One piece of work, however many requests in the isolate need it at once: the first
//! starts it, the others wait on the same future (`futures::future::Shared`), and it is
//! forgotten when done. Used for key fetches and user look-ups.
//!
//! In workerd a request that waits only on another request's I/O is cancelled as hung, so
//! a waiter also holds a timer of its own (its `guard`, from [`Clock::sleep`]); should that
//! fire first (the request doing the work went away), the waiter gets `None`.
//!
//! [`Clock::sleep`]: crate::Clock::sleep

use std::cell::RefCell;
use std::collections::HashMap;

use futures::future::{select, Either, FutureExt, LocalBoxFuture, Shared};

/// Work under way, by key.
pub(crate) struct SingleFlight<T: Clone> {
    running: RefCell<HashMap<String, Shared<LocalBoxFuture<'static, T>>>>,
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            running: RefCell::default(),
        }
    }
}

impl<T: Clone + 'static> SingleFlight<T> {
    /// The result of the work under `key`: joined if under way, else begun with `start`.
    /// A waiter races it against `guard`; `None` when the guard fired first.
    pub(crate) async fn run(
        &self,
        key: &str,
        start: impl FnOnce() -> LocalBoxFuture<'static, T>,
        guard: Option<LocalBoxFuture<'static, ()>>,
    ) -> Option<T> {
        let running = self.running.borrow().get(key).cloned();
        let (shared, joined) = match running {
            Some(shared) => (shared, true),
            None => {
                let shared = start().shared();
                self.running
                    .borrow_mut()
                    .insert(key.to_owned(), shared.clone());
                (shared, false)
            }
        };
        let result = match guard.filter(|_| joined) {
            Some(guard) => match select(shared.clone(), guard).await {
                Either::Left((value, _)) => Some(value),
                Either::Right(((), _)) => None,
            },
            None => Some(shared.clone().await),
        };
        let mut running = self.running.borrow_mut();
        if running
            .get(key)
            .is_some_and(|current| Shared::ptr_eq(current, &shared))
        {
            running.remove(key);
        }
        result
    }
}
