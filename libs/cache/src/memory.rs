//! The in-process cache: a map behind one mutex (never held across an await), bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{Cache, CacheError, CacheFuture};

/// Default most entries kept.
const DEFAULT_MAX_ENTRIES: usize = 100_000;

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// The embedded default. When full, expired entries are swept first, then the entries closest to expiry (and,
/// among those without expiry, arbitrary ones) make room.
pub struct MemoryCache {
    entries: Mutex<HashMap<String, Entry>>,
    max_entries: usize,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache").field("max_entries", &self.max_entries).finish_non_exhaustive()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCache {
    /// A cache of at most 100,000 entries.
    pub fn new() -> Self {
        Self::with_max_entries(DEFAULT_MAX_ENTRIES)
    }

    /// A cache of at most `max_entries` entries (at least 1).
    pub fn with_max_entries(max_entries: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), max_entries: max_entries.max(1) }
    }

    /// Entries held now, expired ones included until swept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes room for one new key.
    fn make_room(&self, entries: &mut HashMap<String, Entry>, now: Instant) {
        if entries.len() < self.max_entries {
            return;
        }
        entries.retain(|_, e| e.live(now));
        if entries.len() < self.max_entries {
            return;
        }
        // Still full of live entries: drop a tenth, soonest-to-expire first.
        let mut keys: Vec<(Option<Instant>, String)> = entries.iter().map(|(k, e)| (e.expires, k.clone())).collect();
        keys.sort_by_key(|(expires, _)| expires.map_or((1, now), |at| (0, at)));
        for (_, key) in keys.into_iter().take((self.max_entries / 10).max(1)) {
            entries.remove(&key);
        }
    }

    fn insert(
        &self,
        entries: &mut HashMap<String, Entry>,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
        now: Instant,
    ) {
        if !entries.contains_key(key) {
            self.make_room(entries, now);
        }
        entries.insert(key.to_owned(), Entry { value, expires: ttl.map(|t| now + t) });
    }
}

impl Cache for MemoryCache {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Vec<u8>>> {
        let now = Instant::now();
        let mut entries = self.lock();
        let value = match entries.get(key) {
            Some(e) if e.live(now) => Some(e.value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        };
        Box::pin(std::future::ready(Ok(value)))
    }

    fn set<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Option<Duration>) -> CacheFuture<'a, ()> {
        let mut entries = self.lock();
        self.insert(&mut entries, key, value.to_vec(), ttl, Instant::now());
        Box::pin(std::future::ready(Ok(())))
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, bool> {
        let now = Instant::now();
        let removed = self.lock().remove(key).is_some_and(|e| e.live(now));
        Box::pin(std::future::ready(Ok(removed)))
    }

    fn increment<'a>(&'a self, key: &'a str, by: i64, ttl: Option<Duration>) -> CacheFuture<'a, i64> {
        let now = Instant::now();
        let mut entries = self.lock();
        let result = match entries.get_mut(key).filter(|e| e.live(now)) {
            Some(entry) => std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| CacheError::Invalid(format!("{key} does not hold an integer")))
                .and_then(|n| n.checked_add(by).ok_or_else(|| CacheError::Invalid(format!("{key} would overflow"))))
                .inspect(|n| entry.value = n.to_string().into_bytes()),
            None => {
                self.insert(&mut entries, key, by.to_string().into_bytes(), ttl, now);
                Ok(by)
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn set_if_absent<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Option<Duration>) -> CacheFuture<'a, bool> {
        let now = Instant::now();
        let mut entries = self.lock();
        let stored = if entries.get(key).is_some_and(|e| e.live(now)) {
            false
        } else {
            self.insert(&mut entries, key, value.to_vec(), ttl, now);
            true
        };
        Box::pin(std::future::ready(Ok(stored)))
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
