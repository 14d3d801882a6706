//! [`Headers`]: a response's header pairs in one exact-sized allocation.
//
// Layout of the block (one `Box<str>`, empty — no allocation — when there are no headers):
//
//   [w] [n: w digits] [2·n ends: w digits each] [text]
//
// `text` is every name followed by its value, in received order; for pair `i` the table holds
// where its name ends and where its value ends, counted from the start of `text` (its name
// starts where pair `i - 1`'s value ends, pair 0's at 0). Numbers are big-endian base-128
// digits, one ASCII byte each, so the whole block is valid UTF-8 and is read as a `str` without
// `unsafe`; `w` (1..=10, itself one byte) is the fewest digits that hold both `n` and the text's
// length, so there is no size limit and a usual head (under 16 KiB of text) costs four bytes of
// table per pair. The block is a function of the pairs alone, so equal pairs are equal blocks.
//
// Why one block: a response is built on a worker thread and freed on whichever thread the
// caller drops it, so every allocation it holds misses the allocator's per-thread cache twice.
// A vector of owned strings was 1 + 2·n of them.

use std::fmt;

/// A response's headers: `(name, value)` pairs in the order received, names lower-case,
/// repeated names kept as separate pairs.
///
/// All the text sits in one exact-sized allocation (none when empty), with the offsets that
/// make [`get`](Self::get) O(1). Values that were not valid UTF-8 on the wire hold their lossy
/// text (`U+FFFD` for each invalid sequence). There is no size limit other than memory.
///
/// ```
/// use httpbatch::{Headers, Response};
///
/// let res = Response::new(200, "hi")
///     .with_header("Content-Type", "text/plain")
///     .with_header("Set-Cookie", "a=1")
///     .with_header("set-cookie", "b=2");
/// let headers: &Headers = res.headers();
/// assert_eq!(headers.len(), 3);
/// assert_eq!(headers.get(0), Some(("content-type", "text/plain")));
/// assert_eq!(headers.first("SET-COOKIE"), Some("a=1"));
/// assert_eq!(headers.all("set-cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
/// for (name, value) in headers {
///     assert_eq!(name, name.to_ascii_lowercase());
///     assert!(!value.is_empty());
/// }
/// // Built from any pairs of strings; names are lower-cased.
/// let pairs = [("content-type", "text/plain"), ("SET-COOKIE", "a=1"), ("set-cookie", "b=2")];
/// let same: Headers = pairs.into_iter().collect();
/// assert_eq!(&same, headers);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Headers {
    block: Box<str>,
}

/// Digits per number for a block whose largest number is `max`.
fn width(max: usize) -> usize {
    let mut w = 1;
    while w < usize::BITS.div_ceil(7) as usize && max >> (7 * w) != 0 {
        w += 1;
    }
    w
}

fn push_number(block: &mut String, w: usize, x: usize) {
    for k in (0..w).rev() {
        // Seven bits per digit: always ASCII.
        block.push(char::from((x >> (7 * k)) as u8 & 0x7f));
    }
}

fn read_number(digits: &[u8]) -> usize {
    digits
        .iter()
        .fold(0, |x, &d| (x << 7) | usize::from(d & 0x7f))
}

impl Headers {
    /// No headers (no allocation).
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Builds the block from `pairs`: one exact allocation. Names are lower-cased when `lower`.
    pub(crate) fn build<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)], lower: bool) -> Headers {
        if pairs.is_empty() {
            return Headers::new();
        }
        let n = pairs.len();
        let text: usize = pairs
            .iter()
            .map(|(name, value)| name.as_ref().len() + value.as_ref().len())
            .sum();
        let w = width(n.max(text));
        let table = 1 + w + 2 * n * w;
        let mut block = String::with_capacity(table + text);
        block.push(char::from(w as u8));
        push_number(&mut block, w, n);
        // The table needs every end before the text starts, so it goes first.
        let mut end = 0;
        for (name, value) in pairs {
            end += name.as_ref().len();
            push_number(&mut block, w, end);
            end += value.as_ref().len();
            push_number(&mut block, w, end);
        }
        for (name, value) in pairs {
            let start = block.len();
            block.push_str(name.as_ref());
            if lower {
                block[start..].make_ascii_lowercase();
            }
            block.push_str(value.as_ref());
        }
        debug_assert_eq!(block.len(), table + text);
        Headers {
            block: block.into_boxed_str(),
        }
    }

    /// A response head's headers, as the leaf keeps them: names as `http` holds them
    /// (lower-case), values copied as they are when UTF-8 (visible ASCII always is) and through
    /// lossy UTF-8 otherwise.
    pub(crate) fn from_map(map: &ureq::http::HeaderMap) -> Headers {
        // The usual head: up to 16 pairs, all text, each value checked once, borrowed on the
        // stack while the block is sized and written (setting the array up is 64 stores, less
        // than a second walk of the map with a second check of each value).
        let mut on_stack = [("", ""); 16];
        if map.len() <= on_stack.len() {
            let mut text = true;
            for (slot, (n, v)) in on_stack.iter_mut().zip(map) {
                match std::str::from_utf8(v.as_bytes()) {
                    Ok(v) => *slot = (n.as_str(), v),
                    Err(_) => {
                        text = false;
                        break;
                    }
                }
            }
            if text {
                return Headers::build(&on_stack[..map.len()], false);
            }
        }
        // More pairs, or a value to make text of: borrowed from the heap instead (this thread's).
        let pairs: Vec<_> = map
            .iter()
            .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())))
            .collect();
        Headers::build(&pairs, false)
    }

    /// These headers with `(name, value)` added at the end (the name lower-cased).
    pub(crate) fn with(&self, name: &str, value: &str) -> Headers {
        let pairs: Vec<_> = self.iter().chain([(name, value)]).collect();
        Headers::build(&pairs, true)
    }

    /// The number of pairs (a repeated name counts once per value).
    pub fn len(&self) -> usize {
        self.parts().map_or(0, |p| p.n)
    }

    /// Every name followed by its value, in received order, back to back (what the C ABI copies
    /// out in one piece).
    pub(crate) fn text(&self) -> &str {
        self.parts().map_or("", |p| p.text)
    }

    /// [`text`](Self::text) and [`iter`](Self::iter) from one look at the block.
    pub(crate) fn text_and_iter(&self) -> (&str, Iter<'_>) {
        match self.parts() {
            None => ("", self.iter()),
            Some(parts) => (
                parts.text,
                Iter {
                    front: 0,
                    back: parts.n,
                    parts,
                    at: 0,
                },
            ),
        }
    }

    /// The number of pairs and the length of [`text`](Self::text), from one look at the block.
    pub(crate) fn count_and_len(&self) -> (usize, usize) {
        self.parts().map_or((0, 0), |p| (p.n, p.text.len()))
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// Pair `i` in received order, `None` past the end. O(1).
    pub fn get(&self, i: usize) -> Option<(&str, &str)> {
        let p = self.parts()?;
        (i < p.n).then(|| p.pair(i))
    }

    /// The pairs in received order.
    pub fn iter(&self) -> Iter<'_> {
        match self.parts() {
            None => Iter {
                parts: Parts::EMPTY,
                front: 0,
                back: 0,
                at: 0,
            },
            Some(parts) => Iter {
                front: 0,
                back: parts.n,
                parts,
                at: 0,
            },
        }
    }

    /// The first value of header `name` (any case).
    pub fn first(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// Every value of header `name` (any case), in received order.
    pub fn all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether header `name` (any case) is present.
    pub fn contains(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    #[inline]
    fn parts(&self) -> Option<Parts<'_>> {
        let b = self.block.as_bytes();
        let w = usize::from(*b.first()?);
        let n = number(b, 1, w);
        let table = 1 + w;
        let text = table + 2 * n * w;
        Some(Parts {
            table: &b[table..text],
            text: &self.block[text..],
            w,
            n,
        })
    }
}

/// The `w`-digit number at `b[at..]`. One or two digits cover every head under 16 KiB of text,
/// so those are read without the loop (readers go through every pair on every lookup).
#[inline]
fn number(b: &[u8], at: usize, w: usize) -> usize {
    match w {
        1 => usize::from(b[at]),
        2 => usize::from(b[at]) << 7 | usize::from(b[at + 1]),
        _ => read_number(&b[at..at + w]),
    }
}

/// The decoded head of a non-empty block.
#[derive(Clone, Copy)]
struct Parts<'a> {
    table: &'a [u8],
    text: &'a str,
    w: usize,
    n: usize,
}

impl<'a> Parts<'a> {
    const EMPTY: Parts<'static> = Parts {
        table: &[],
        text: "",
        w: 1,
        n: 0,
    };

    #[inline]
    fn end(&self, k: usize) -> usize {
        number(self.table, k * self.w, self.w)
    }

    /// Pair `i`, whose name starts at `start` (where pair `i - 1`'s value ends).
    #[inline]
    fn pair_from(&self, i: usize, start: usize) -> (&'a str, &'a str) {
        let name_end = self.end(2 * i);
        let value_end = self.end(2 * i + 1);
        (&self.text[start..name_end], &self.text[name_end..value_end])
    }

    #[inline]
    fn pair(&self, i: usize) -> (&'a str, &'a str) {
        let start = if i == 0 { 0 } else { self.end(2 * i - 1) };
        self.pair_from(i, start)
    }
}

/// Iterator over [`Headers`] pairs, in received order ([`Headers::iter`]).
#[derive(Clone)]
pub struct Iter<'a> {
    parts: Parts<'a>,
    front: usize,
    back: usize,
    /// Where pair `front`'s name starts in the text.
    at: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        if self.front == self.back {
            return None;
        }
        let (name, value) = self.parts.pair_from(self.front, self.at);
        self.front += 1;
        self.at += name.len() + value.len();
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.back - self.front;
        (left, Some(left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        Some(self.parts.pair(self.back))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl std::iter::FusedIterator for Iter<'_> {}

impl fmt::Debug for Iter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Collects pairs of any strings, lower-casing the names (ASCII).
impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Headers {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(pairs: T) -> Headers {
        let pairs: Vec<(N, V)> = pairs.into_iter().collect();
        Headers::build(&pairs, true)
    }
}

/// Looks like the list of pairs: `[("content-type", "text/plain")]`.
impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests;
