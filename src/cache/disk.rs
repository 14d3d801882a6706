//! The on-disk store: one file per key under a directory, written whole or not at all.
//!
//! Invariants:
//! - A file is only ever created by writing a temporary file in `tmp/` (same file system) and
//!   renaming it over `entries/<hash>`: a reader — in this process or another — sees the old
//!   file or the new one, never a mix. Two processes may share one directory; the last writer of
//!   a key wins, which is a valid answer either way.
//! - A file name is a hash of the key; the key itself is inside the file and checked on read,
//!   with a CRC-32 of the whole payload ([`Entry::decode`]). A collision, a torn write (a crash
//!   before the rename leaves only a temporary file, removed by an open an hour later), a flipped byte or a truncated file is a
//!   miss, never another key's or a damaged answer.
//! - `index` is this process's view of the directory (scanned at open, updated on each put,
//!   get and eviction) and drives the byte bound: the least recently used files this process
//!   knows of are deleted until the total is within the bound. Files written by another process
//!   join the index when this one reads them; the bound is thus kept per process, exactly for a
//!   directory used by one process at a time.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::entry::Entry;

/// Age after which a temporary file is taken as abandoned.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(3600);

#[derive(Default)]
struct Index {
    /// File name → (size in bytes, last use tick).
    files: HashMap<String, (u64, u64)>,
    bytes: u64,
    tick: u64,
}

impl Index {
    fn touch(&mut self, name: &str, size: u64) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(old) = self.files.insert(name.to_owned(), (size, tick)) {
            self.bytes -= old.0;
        }
        self.bytes += size;
    }

    fn forget(&mut self, name: &str) {
        if let Some((size, _)) = self.files.remove(name) {
            self.bytes -= size;
        }
    }
}

pub(crate) struct DiskStore {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    seq: AtomicU64,
}

/// 64-bit FNV-1a: stable across builds and platforms (std's hasher promises neither), so every
/// process names a key's file the same way. Collisions are caught by the key check on read.
fn hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl DiskStore {
    /// Opens (creating it if needed) the store in `dir`, bounded to about `max_bytes`.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> io::Result<DiskStore> {
        fs::create_dir_all(dir.join("entries"))?;
        fs::create_dir_all(dir.join("tmp"))?;
        // A temporary file older than this was left by a writer that died before its rename
        // (a live writer renames within moments): never an entry, only disk space.
        for e in fs::read_dir(dir.join("tmp"))?.flatten() {
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TMP);
            if stale {
                let _ = fs::remove_file(e.path());
            }
        }
        let mut found = Vec::new();
        for e in fs::read_dir(dir.join("entries"))? {
            let e = e?;
            let meta = e.metadata()?;
            if let Some(name) = e.file_name().to_str() {
                found.push((meta.modified().ok(), name.to_owned(), meta.len()));
            }
        }
        found.sort(); // oldest first: they are the first to go
        let mut index = Index::default();
        for (_, name, size) in found {
            index.touch(&name, size);
        }
        Ok(DiskStore {
            dir: dir.to_owned(),
            max_bytes,
            index: Mutex::new(index),
            seq: AtomicU64::new(0),
        })
    }

    fn name(key: &str) -> String {
        format!("{:016x}.hbc", hash(key))
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<Entry>> {
        let name = Self::name(key);
        let path = self.dir.join("entries").join(&name);
        let Ok(bytes) = fs::read(&path) else {
            self.index.lock().forget(&name);
            return None;
        };
        match Entry::decode(&bytes, key) {
            Some(e) => {
                self.index.lock().touch(&name, bytes.len() as u64);
                Some(Arc::new(e))
            }
            // Damaged (or another key's, after a hash collision): a miss. The put that follows
            // the miss replaces the file.
            None => None,
        }
    }

    /// Writes `entry` atomically; returns how many files were evicted to stay in the bound.
    pub(crate) fn put(&self, entry: &Entry) -> io::Result<u64> {
        let bytes = entry.encode();
        if bytes.len() as u64 > self.max_bytes {
            self.remove(&entry.key);
            return Ok(0);
        }
        let name = Self::name(&entry.key);
        let tmp = self.dir.join("tmp").join(format!(
            "{}-{}-{}.tmp",
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed),
            name
        ));
        let written = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            fs::rename(&tmp, self.dir.join("entries").join(&name))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let mut index = self.index.lock();
        index.touch(&name, bytes.len() as u64);
        let mut evicted = 0;
        while index.bytes > self.max_bytes {
            let Some(oldest) = index
                .files
                .iter()
                .filter(|(n, _)| **n != name)
                .min_by_key(|(_, (_, tick))| *tick)
                .map(|(n, _)| n.clone())
            else {
                break;
            };
            let _ = fs::remove_file(self.dir.join("entries").join(&oldest));
            index.forget(&oldest);
            evicted += 1;
        }
        Ok(evicted)
    }

    pub(crate) fn remove(&self, key: &str) {
        let name = Self::name(key);
        let _ = fs::remove_file(self.dir.join("entries").join(&name));
        self.index.lock().forget(&name);
    }

    /// Files and bytes this process knows of.
    pub(crate) fn usage(&self) -> (u64, u64) {
        let index = self.index.lock();
        (index.files.len() as u64, index.bytes)
    }

    /// The file that holds `key`'s entry (for tests and tools).
    pub(crate) fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join("entries").join(Self::name(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn entry(key: &str, body: usize) -> Entry {
        Entry {
            key: key.into(),
            stored_at: UNIX_EPOCH,
            vary_headers: Vec::new(),
            status: 200,
            headers: [("etag", "\"1\"")].into_iter().collect(),
            body: vec![b'y'; body],
            url: key.into(),
            policy: Default::default(),
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("httpbatch-disk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn survives_reopen_and_is_bounded() {
        let dir = tmpdir("reopen");
        let one = entry("a", 1000).encode().len() as u64;
        let s = DiskStore::open(&dir, one * 2).unwrap();
        assert_eq!(s.put(&entry("a", 1000)).unwrap(), 0);
        assert_eq!(s.put(&entry("b", 1000)).unwrap(), 0);
        assert!(s.get("a").is_some()); // b is older now
        assert_eq!(s.put(&entry("c", 1000)).unwrap(), 1);
        drop(s);
        let s = DiskStore::open(&dir, one * 2).unwrap();
        assert_eq!(s.usage(), (2, one * 2));
        assert_eq!(*s.get("a").unwrap(), entry("a", 1000));
        assert!(s.get("b").is_none());
        assert!(fs::read_dir(dir.join("tmp")).unwrap().next().is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn abandoned_temporary_files_are_removed_at_open() {
        let dir = tmpdir("abandoned");
        drop(DiskStore::open(&dir, 1 << 20).unwrap());
        let old = dir.join("tmp").join("1-0-dead.tmp");
        let new = dir.join("tmp").join("2-0-live.tmp");
        fs::write(&old, b"half").unwrap();
        fs::write(&new, b"half").unwrap();
        let f = fs::File::options().write(true).open(&old).unwrap();
        f.set_modified(std::time::SystemTime::now() - 2 * STALE_TMP)
            .unwrap();
        drop(f);
        let s = DiskStore::open(&dir, 1 << 20).unwrap();
        assert!(!old.exists() && new.exists());
        assert_eq!(s.usage(), (0, 0), "a temporary file is never an entry");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_or_truncated_file_is_a_miss() {
        let dir = tmpdir("damaged");
        let s = DiskStore::open(&dir, 1 << 20).unwrap();
        s.put(&entry("k", 500)).unwrap();
        let path = s.path_of("k");
        let good = fs::read(&path).unwrap();
        let mut bad = good.clone();
        bad[good.len() / 2] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        assert!(s.get("k").is_none());
        fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert!(s.get("k").is_none());
        fs::write(&path, &good).unwrap();
        assert!(s.get("k").is_some());
        let _ = fs::remove_dir_all(&dir);
    }
}
