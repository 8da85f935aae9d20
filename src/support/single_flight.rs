//! One piece of work, however many requests in the isolate need it at once: the first
//! request starts it and drives it; the others wait for it to end and take its result. Used
//! for user look-ups (and, through [`signal`], for key fetches).
//!
//! How waiters wait matters in workerd: a request must not be resumed by another request's
//! Rust waker (it would then run, and do its own I/O, in the other request's context), nor
//! wait on a promise it made itself that another request resolves (the runtime cancels it
//! as hung). What works is awaiting a promise the working request made. So the work is not
//! a `Shared` future that any waiter may poll: the working request holds a [`signal::Fire`],
//! and each waiter awaits its own future of the [`signal::Done`], attached from its own
//! request, then reads the result the worker left. A waiter also races its own timer (its
//! `guard`), so a waiter whose worker went away is not stranded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;

use futures::future::{select, Either, LocalBoxFuture};

/// How the requests waiting for some work learn that it ended, however it ended.
///
/// Natively a `Shared` oneshot receiver; on wasm32 a JS promise the working request made,
/// which each waiter awaits through its own `JsFuture`.
pub(crate) mod signal {
    #[cfg(not(target_arch = "wasm32"))]
    mod imp {
        use std::future::Future;

        use futures::channel::oneshot;
        use futures::future::{FutureExt, Shared};

        /// Held by the working request; dropping it fires the signal.
        pub(crate) struct Fire {
            _sender: oneshot::Sender<()>,
        }

        /// What the waiters wait for.
        #[derive(Clone)]
        pub(crate) struct Done(Shared<oneshot::Receiver<()>>);

        pub(crate) fn signal() -> (Fire, Done) {
            let (sender, done) = oneshot::channel();
            (Fire { _sender: sender }, Done(done.shared()))
        }

        impl Done {
            /// Ready once the signal fired.
            pub(crate) fn wait(&self) -> impl Future<Output = ()> + 'static {
                self.0.clone().map(|_| ())
            }
        }
    }

    #[cfg(target_arch = "wasm32")]
    mod imp {
        use std::future::Future;

        use futures::future::FutureExt;
        use js_sys::{Function, Promise};
        use wasm_bindgen::JsValue;
        use wasm_bindgen_futures::JsFuture;

        /// Held by the working request; dropping it resolves the promise.
        pub(crate) struct Fire(Option<Function>);

        impl Drop for Fire {
            fn drop(&mut self) {
                if let Some(resolve) = self.0.take() {
                    // Resolving a promise cannot fail.
                    let _ = resolve.call0(&JsValue::UNDEFINED);
                }
            }
        }

        /// The promise the working request made.
        #[derive(Clone)]
        pub(crate) struct Done(Promise);

        pub(crate) fn signal() -> (Fire, Done) {
            let mut resolve = None;
            // The executor runs at once, so `resolve` is set; were it not, the promise would
            // be an already resolved one and nobody would wait.
            let promise = Promise::new(&mut |res, _reject| resolve = Some(res));
            match resolve {
                Some(resolve) => (Fire(Some(resolve)), Done(promise)),
                None => (Fire(None), Done(Promise::resolve(&JsValue::UNDEFINED))),
            }
        }

        impl Done {
            /// Ready once the signal fired; call it from the waiting request itself.
            pub(crate) fn wait(&self) -> impl Future<Output = ()> + 'static {
                JsFuture::from(self.0.clone()).map(|_| ())
            }
        }
    }

    pub(crate) use imp::{signal, Done, Fire};
}

/// Work under way: its signal, and the slot its result goes to.
struct Flight<T> {
    id: u64,
    done: signal::Done,
    result: Rc<RefCell<Option<T>>>,
}

/// Work under way, by key.
pub(crate) struct SingleFlight<T> {
    running: Rc<RefCell<HashMap<String, Flight<T>>>>,
    next_id: std::cell::Cell<u64>,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            running: Rc::default(),
            next_id: std::cell::Cell::new(0),
        }
    }
}

/// Ends a flight when dropped, finished or abandoned: forgets it and fires its signal.
struct Working<T> {
    running: Rc<RefCell<HashMap<String, Flight<T>>>>,
    key: String,
    id: u64,
    _fire: signal::Fire,
}

impl<T> Drop for Working<T> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.try_borrow_mut() {
            if running.get(&self.key).is_some_and(|f| f.id == self.id) {
                running.remove(&self.key);
            }
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// The result of the work under `key`: taken from the request already doing it, else
    /// done here with `work`. A waiter races the wait against `guard`: `None` when the
    /// guard fired first, or the working request went away without a result.
    pub(crate) async fn run<F: Future<Output = T>>(
        &self,
        key: &str,
        work: impl FnOnce() -> F,
        guard: Option<LocalBoxFuture<'static, ()>>,
    ) -> Option<T> {
        let joined = self
            .running
            .borrow()
            .get(key)
            .map(|f| (f.done.clone(), Rc::clone(&f.result)));
        if let Some((done, result)) = joined {
            let wait = Box::pin(done.wait());
            match guard {
                Some(guard) => {
                    if let Either::Right(_) = select(wait, guard).await {
                        return None;
                    }
                }
                None => wait.await,
            }
            return result.borrow().clone();
        }
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let (fire, done) = signal::signal();
        let result = Rc::new(RefCell::new(None));
        self.running.borrow_mut().insert(
            key.to_owned(),
            Flight {
                id,
                done,
                result: Rc::clone(&result),
            },
        );
        let working = Working {
            running: Rc::clone(&self.running),
            key: key.to_owned(),
            id,
            _fire: fire,
        };
        let value = work().await;
        *result.borrow_mut() = Some(value.clone());
        drop(working);
        Some(value)
    }
}
