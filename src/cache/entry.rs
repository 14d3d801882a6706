//! A stored response and its byte format.
//!
//! Invariants:
//! - An entry is immutable once built; stores share it behind an `Arc`, and an update (a `304`
//!   that refreshed the headers) replaces it whole.
//! - `decode` never trusts its input: a wrong magic, a length that runs past the end, a checksum
//!   that does not match, text that is not UTF-8 or a key other than the one asked for all make
//!   it return `None`, which every caller treats as a miss. So a torn or flipped file is a miss,
//!   never a wrong answer.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_cache_semantics::CachePolicy;

use crate::response::Headers;

/// Format tag and version of an encoded entry.
const MAGIC: &[u8; 4] = b"HBC1";
/// Magic, CRC-32 and the payload's length.
const HEADER_LEN: usize = 4 + 4 + 8;

/// A stored response, with what its freshness is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `METHOD URL`: what the entry answers.
    pub(crate) key: String,
    /// When the response was received (or last revalidated).
    pub(crate) stored_at: SystemTime,
    /// The request headers the response varies on (named by its `Vary`), lower-case names.
    pub(crate) vary_headers: Vec<(String, String)>,
    pub(crate) status: u16,
    /// The response headers, lower-case names, in order (one block, as a response holds them).
    pub(crate) headers: Headers,
    pub(crate) body: Vec<u8>,
    /// The URL that answered.
    pub(crate) url: String,
    /// The policy computed from the fields above, once per entry (not stored on disk).
    pub(crate) policy: PolicyCell,
}

/// An entry's policy, computed on first use: a memory hit then costs no header parsing. Not
/// part of the entry's value (equal entries may have computed it or not).
#[derive(Debug, Default)]
pub(crate) struct PolicyCell(pub(crate) OnceLock<CachePolicy>);

impl Clone for PolicyCell {
    fn clone(&self) -> Self {
        PolicyCell::default()
    }
}

impl PartialEq for PolicyCell {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for PolicyCell {}

impl Entry {
    /// Bytes the entry accounts for in a store's budget.
    pub(crate) fn size(&self) -> u64 {
        let text = |v: &mut dyn Iterator<Item = (&str, &str)>| -> usize {
            v.map(|(n, v)| n.len() + v.len() + 8).sum()
        };
        let vary = &mut self
            .vary_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()));
        (self.key.len()
            + self.url.len()
            + self.body.len()
            + text(&mut self.headers.iter())
            + text(vary)
            + HEADER_LEN
            + 32) as u64
    }

    /// The entry as bytes: magic, CRC-32 of the payload, payload length, payload.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.size() as usize);
        put_str(&mut p, &self.key);
        let millis = self
            .stored_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        p.extend_from_slice(&millis.to_le_bytes());
        let vary = self.vary_headers.iter();
        put_pairs(&mut p, vary.map(|(n, v)| (n.as_str(), v.as_str())));
        p.extend_from_slice(&self.status.to_le_bytes());
        put_pairs(&mut p, self.headers.iter());
        put_bytes(&mut p, &self.body);
        put_str(&mut p, &self.url);
        let mut out = Vec::with_capacity(HEADER_LEN + p.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&crc32fast::hash(&p).to_le_bytes());
        out.extend_from_slice(&(p.len() as u64).to_le_bytes());
        out.extend_from_slice(&p);
        out
    }

    /// Decodes `bytes` as the entry for `key`; `None` unless every check passes.
    pub(crate) fn decode(bytes: &[u8], key: &str) -> Option<Entry> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return None;
        }
        let crc = u32::from_le_bytes(bytes[4..8].try_into().ok()?);
        let len = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
        let payload = &bytes[HEADER_LEN..];
        if payload.len() as u64 != len || crc32fast::hash(payload) != crc {
            return None;
        }
        let mut r = Reader(payload);
        let stored_key = r.string()?;
        if stored_key != key {
            return None;
        }
        let millis = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let entry = Entry {
            key: stored_key,
            stored_at: UNIX_EPOCH.checked_add(Duration::from_millis(millis))?,
            vary_headers: r.pairs()?,
            status: u16::from_le_bytes(r.take(2)?.try_into().ok()?),
            headers: r.pairs()?.into_iter().collect(),
            body: r.bytes()?.to_vec(),
            url: r.string()?,
            policy: PolicyCell::default(),
        };
        r.0.is_empty().then_some(entry)
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_pairs<'a>(out: &mut Vec<u8>, pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>) {
    out.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
    for (n, v) in pairs {
        put_str(out, n);
        put_str(out, v);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn len(&mut self) -> Option<usize> {
        let n = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
        usize::try_from(n).ok().filter(|&n| n <= self.0.len())
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }

    fn pairs(&mut self) -> Option<Vec<(String, String)>> {
        let n = self.len()?; // each pair takes at least 16 bytes: bounded by what is left
        (0..n)
            .map(|_| Some((self.string()?, self.string()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            key: "GET http://127.0.0.1/a".into(),
            stored_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            vary_headers: vec![("accept".into(), "text/plain".into())],
            status: 200,
            headers: [("cache-control", "max-age=60"), ("etag", "\"x\"")]
                .into_iter()
                .collect(),
            body: b"hello body".to_vec(),
            url: "http://127.0.0.1/a".into(),
            policy: PolicyCell::default(),
        }
    }

    #[test]
    fn round_trips() {
        let e = entry();
        assert_eq!(Entry::decode(&e.encode(), &e.key), Some(e.clone()));
        assert_eq!(Entry::decode(&e.encode(), "GET http://127.0.0.1/b"), None);
    }

    #[test]
    fn any_flipped_byte_or_truncation_is_rejected() {
        let e = entry();
        let bytes = e.encode();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert_eq!(Entry::decode(&b, &e.key), None, "byte {i} bit {bit:#x}");
            }
            assert_eq!(Entry::decode(&bytes[..i], &e.key), None, "cut at {i}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Entry::decode(&longer, &e.key), None);
    }
}
