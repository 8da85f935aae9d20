//! A bounded map keyed by strings, for what an isolate remembers: tokens already verified
//! (session cookies, gateway assertions, so a client's next request with the same token
//! skips the signature check), email-and-groups profiles by digest, users looked up, login
//! stamps.
//!
//! An entry is found only by the whole key, compared byte for byte: a token that differs in
//! any byte (another payload with a copied signature, say) is a miss and is verified in
//! full. Each entry keeps what the caller needs to re-check on every hit (expiry, key
//! generation, the time it was stored); the map itself only bounds memory: at most
//! `capacity` entries, first in first out, and keys longer than `max_token_len` are never
//! kept.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// Its `Debug` shows no key: keys may be bearer tokens.
pub(crate) struct BoundedMap<V> {
    entries: HashMap<Rc<str>, V>,
    order: VecDeque<Rc<str>>,
    capacity: usize,
    max_token_len: usize,
}

/// Shows how many entries, never a key (keys may be bearer tokens).
impl<V> std::fmt::Debug for BoundedMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedMap")
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl<V> BoundedMap<V> {
    pub(crate) fn new(capacity: usize, max_token_len: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            max_token_len,
        }
    }

    /// The entry for `token`; an over-long token is never kept, so it is not even hashed.
    pub(crate) fn get(&self, token: &str) -> Option<&V> {
        if token.len() > self.max_token_len {
            return None;
        }
        self.entries.get(token)
    }

    pub(crate) fn remove(&mut self, token: &str) {
        self.entries.remove(token);
    }

    /// Remember `token`, evicting the oldest entries beyond capacity. The order queue is
    /// bounded too, so tokens removed on expiry cannot make it grow.
    pub(crate) fn insert(&mut self, token: &str, value: V) {
        if token.len() > self.max_token_len {
            return;
        }
        if let Some(slot) = self.entries.get_mut(token) {
            // Already kept: a new value, no eviction, its place in the queue unchanged.
            *slot = value;
            return;
        }
        while self.entries.len() >= self.capacity || self.order.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        let token: Rc<str> = token.into();
        if self.entries.insert(Rc::clone(&token), value).is_none() {
            self.order.push_back(token);
        }
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (self.entries.len(), self.order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::BoundedMap;

    #[test]
    fn bounded_fifo_and_whole_token_match() {
        let mut cache = BoundedMap::new(2, 8);
        cache.insert("a.b.c", 1);
        cache.insert("a.b.d", 2);
        assert_eq!(cache.get("a.b.c"), Some(&1));
        assert_eq!(cache.get("a.b.cx"), None);
        cache.insert("a.b.e", 3);
        assert_eq!(cache.get("a.b.c"), None, "the oldest entry is evicted");
        assert_eq!(cache.get("a.b.e"), Some(&3));
        cache.insert("too.long.token", 4);
        assert_eq!(cache.get("too.long.token"), None);
    }

    #[test]
    fn replacing_a_value_evicts_nothing() {
        let mut cache = BoundedMap::new(2, 8);
        cache.insert("a", 1);
        cache.insert("b", 2);
        cache.insert("b", 3);
        assert_eq!((cache.get("a"), cache.get("b")), (Some(&1), Some(&3)));
        assert_eq!(cache.len(), (2, 2));
    }

    #[test]
    fn removals_do_not_grow_the_queue() {
        let mut cache = BoundedMap::new(4, 64);
        for i in 0..1000 {
            let token = format!("t{i}");
            cache.insert(&token, i);
            cache.remove(&token);
        }
        let (entries, queued) = cache.len();
        assert_eq!(entries, 0);
        assert!(queued <= 4, "queue holds {queued}");
        cache.insert("x", 1);
        assert_eq!(cache.get("x"), Some(&1));
    }
}
