//! The in-memory store: bounded by bytes and by entries, least recently used out first.
//!
//! Invariants:
//! - `map` and `order` hold the same keys; each entry's `tick` is its key in `order`, and a
//!   get or put moves it to a new, larger tick. Both change only under the one mutex.
//! - `bytes` is the sum of the entries' [`Entry::size`]; after every put it is at most the byte
//!   bound and the entry count at most the entry bound (an entry larger than the byte bound is
//!   not stored at all).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use super::entry::Entry;

struct Slot {
    entry: Arc<Entry>,
    tick: u64,
}

#[derive(Default)]
struct Lru {
    map: HashMap<String, Slot>,
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: u64,
}

pub(crate) struct MemoryStore {
    max_bytes: u64,
    max_entries: usize,
    lru: Mutex<Lru>,
}

impl MemoryStore {
    pub(crate) fn new(max_bytes: u64, max_entries: usize) -> MemoryStore {
        MemoryStore {
            max_bytes,
            max_entries,
            lru: Mutex::new(Lru::default()),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let mut lru = self.lru.lock();
        let lru = &mut *lru;
        lru.tick += 1;
        let slot = lru.map.get_mut(key)?;
        lru.order.remove(&slot.tick);
        slot.tick = lru.tick;
        lru.order.insert(slot.tick, key.to_owned());
        Some(slot.entry.clone())
    }

    /// Stores `entry` (replacing the key's old one); returns how many entries were evicted to
    /// make room.
    pub(crate) fn put(&self, entry: Arc<Entry>) -> u64 {
        let size = entry.size();
        if size > self.max_bytes || self.max_entries == 0 {
            self.remove(&entry.key);
            return 0;
        }
        let mut lru = self.lru.lock();
        let lru = &mut *lru;
        if let Some(old) = lru.map.remove(&entry.key) {
            lru.order.remove(&old.tick);
            lru.bytes -= old.entry.size();
        }
        let mut evicted = 0;
        while lru.bytes + size > self.max_bytes || lru.map.len() >= self.max_entries {
            let Some((_, key)) = lru.order.pop_first() else {
                break;
            };
            if let Some(old) = lru.map.remove(&key) {
                lru.bytes -= old.entry.size();
                evicted += 1;
            }
        }
        lru.tick += 1;
        lru.bytes += size;
        lru.order.insert(lru.tick, entry.key.clone());
        let key = entry.key.clone();
        lru.map.insert(
            key,
            Slot {
                entry,
                tick: lru.tick,
            },
        );
        evicted
    }

    pub(crate) fn remove(&self, key: &str) {
        let mut lru = self.lru.lock();
        if let Some(old) = lru.map.remove(key) {
            lru.order.remove(&old.tick);
            lru.bytes -= old.entry.size();
        }
    }

    /// Entries and bytes held now.
    pub(crate) fn usage(&self) -> (u64, u64) {
        let lru = self.lru.lock();
        (lru.map.len() as u64, lru.bytes)
    }

    pub(crate) fn clear(&self) {
        *self.lru.lock() = Lru::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn entry(key: &str, body: usize) -> Arc<Entry> {
        Arc::new(Entry {
            key: key.into(),
            stored_at: UNIX_EPOCH,
            vary_headers: Vec::new(),
            status: 200,
            headers: Default::default(),
            body: vec![b'x'; body],
            url: String::new(),
            policy: Default::default(),
        })
    }

    #[test]
    fn least_recently_used_goes_first_by_entries_and_by_bytes() {
        let one = entry("a", 100).size();
        let s = MemoryStore::new(one * 3, 2);
        assert_eq!(s.put(entry("a", 100)), 0);
        assert_eq!(s.put(entry("b", 100)), 0);
        assert!(s.get("a").is_some()); // b is now the least recently used
        assert_eq!(s.put(entry("c", 100)), 1);
        assert!(s.get("b").is_none() && s.get("a").is_some() && s.get("c").is_some());
        assert_eq!(s.usage(), (2, one * 2));

        let s = MemoryStore::new(one * 2, 100);
        s.put(entry("a", 100));
        s.put(entry("b", 100));
        assert_eq!(s.put(entry("c", 100)), 1, "the byte bound evicts too");
        assert!(s.get("a").is_none());
        assert_eq!(
            s.put(entry("huge", 10_000)),
            0,
            "too big for the store: not stored"
        );
        assert!(s.get("huge").is_none());
        s.put(entry("b", 10)); // replacing an entry re-counts its bytes
        assert_eq!(s.usage(), (2, one + entry("b", 10).size()));
        s.remove("b");
        s.clear();
        assert_eq!(s.usage(), (0, 0));
    }
}
