//! The key-value store under the default backend: Workers KV in the worker, [`MemoryStore`]
//! in tests. The core knows nothing of any particular store.
//!
//! ```
//! use remote_user_filter::{MemoryStore, UserStore};
//!
//! # futures::executor::block_on(async {
//! let store = MemoryStore::new();
//! store.put("user:ann", r#"{"username":"ann"}"#).await.unwrap();
//! assert_eq!(store.get("user:ann").await.unwrap().as_deref(), Some(r#"{"username":"ann"}"#));
//! assert_eq!((store.reads(), store.writes()), (1, 1));
//! # });
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::StoreError;

/// Two verbs over string values: the part of Workers KV the backend uses.
///
/// Futures need not be `Send`: `worker` types are not.
///
/// ```
/// use remote_user_filter::{async_trait, StoreError, UserStore};
///
/// struct Nothing;
/// #[async_trait(?Send)]
/// impl UserStore for Nothing {
///     async fn get(&self, _key: &str) -> Result<Option<String>, StoreError> { Ok(None) }
///     async fn put(&self, _key: &str, _value: &str) -> Result<(), StoreError> {
///         Err(StoreError("read-only".into()))
///     }
/// }
/// ```
#[async_trait(?Send)]
pub trait UserStore {
    /// The value under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Store `value` under `key`, replacing what was there.
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// The binding this store needs, when it is not there (checked before the first request).
    fn missing_binding(&self) -> Option<&str> {
        None
    }
}

/// An in-memory store that counts its calls and can be told to fail; for tests and demos.
///
/// ```
/// use remote_user_filter::{MemoryStore, UserStore};
/// # futures::executor::block_on(async {
/// let store = MemoryStore::new();
/// store.set_failing(true);
/// assert!(store.get("user:ann").await.is_err());
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    values: RefCell<BTreeMap<String, String>>,
    reads: Cell<usize>,
    writes: Cell<usize>,
    failing: Cell<bool>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Put a value without counting it as a call (test set-up).
    pub fn seed(&self, key: &str, value: &str) {
        self.values
            .borrow_mut()
            .insert(key.to_owned(), value.to_owned());
    }

    /// Remove `key` without counting a call (test set-up: an admin deleting a user).
    ///
    /// ```
    /// let store = remote_user_filter::MemoryStore::new();
    /// store.seed("user:ann", "{}");
    /// store.delete("user:ann");
    /// assert!(store.is_empty());
    /// ```
    pub fn delete(&self, key: &str) {
        self.values.borrow_mut().remove(key);
    }

    /// The value under `key`, without counting a call (test inspection).
    pub fn peek(&self, key: &str) -> Option<String> {
        self.values.borrow().get(key).cloned()
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.values.borrow().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.values.borrow().is_empty()
    }

    /// `get` calls so far.
    pub fn reads(&self) -> usize {
        self.reads.get()
    }

    /// `put` calls so far (successful or not).
    pub fn writes(&self) -> usize {
        self.writes.get()
    }

    /// Make every later call fail (or succeed again), as an unreachable KV would.
    pub fn set_failing(&self, failing: bool) {
        self.failing.set(failing);
    }
}

#[async_trait(?Send)]
impl UserStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        if self.failing.get() {
            return Err(StoreError("memory store set to fail".into()));
        }
        Ok(self.values.borrow().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.writes.set(self.writes.get() + 1);
        if self.failing.get() {
            return Err(StoreError("memory store set to fail".into()));
        }
        self.seed(key, value);
        Ok(())
    }
}

#[async_trait(?Send)]
impl<S: UserStore + ?Sized> UserStore for std::rc::Rc<S> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        (**self).get(key).await
    }
    async fn put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        (**self).put(key, value).await
    }
    fn missing_binding(&self) -> Option<&str> {
        (**self).missing_binding()
    }
}
