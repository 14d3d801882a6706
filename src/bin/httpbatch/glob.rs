//! URL globbing as curl does it: `[1-100]`, `[001-100]` (zero-padded), `[a-z]`, `[0-100:10]`
//! (a step) and `{one,two,three}`, expanded lazily (an odometer over the parts, the last part
//! turning fastest), so a pattern of a million URLs costs no memory up front.
//!
//! Rules, stricter than curl where curl surprises: a `[...]` that is not a range (an IPv6 address
//! such as `[::1]`) and a `{...}` without a comma (a template such as `{id}`) stay literal text;
//! `\[`, `\]`, `\{`, `\}` and `\,` escape; globs do not nest. `-g/--globoff` turns it all off.

use std::fmt;

/// Most URLs one pattern may expand to.
pub const MAX_EXPANSION: u64 = 10_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Set(Vec<String>),
    Numbers {
        start: u64,
        step: u64,
        count: u64,
        width: usize,
    },
    Letters {
        start: u8,
        step: u8,
        count: u64,
    },
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Text(_) => 1,
            Part::Set(v) => v.len() as u64,
            Part::Numbers { count, .. } | Part::Letters { count, .. } => *count,
        }
    }

    fn write(&self, i: u64, out: &mut String) {
        match self {
            Part::Text(t) => out.push_str(t),
            Part::Set(v) => out.push_str(&v[i as usize]),
            Part::Numbers {
                start, step, width, ..
            } => {
                let n = start + i * step;
                out.push_str(&format!("{n:0width$}"));
            }
            Part::Letters { start, step, .. } => out.push(char::from(start + i as u8 * step)),
        }
    }
}

/// Why a pattern cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError(String);

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed pattern: iterate it for its URLs.
#[derive(Debug, Clone)]
pub struct Glob {
    parts: Vec<Part>,
    total: u64,
    next: u64,
}

impl Glob {
    /// Parses `pattern`; a pattern without globs expands to itself (with escapes removed).
    pub fn parse(pattern: &str) -> Result<Glob, GlobError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = pattern;
        while let Some(c) = rest.chars().next() {
            let after = &rest[c.len_utf8()..];
            match c {
                '\\' if after.starts_with(['[', ']', '{', '}', ',']) => {
                    text.push_str(&after[..1]);
                    rest = &after[1..];
                }
                '[' | '{' => {
                    let close = if c == '[' { ']' } else { '}' };
                    let part = after
                        .find(close)
                        .and_then(|end| Some((parse_group(c, &after[..end])?, end)));
                    match part {
                        Some((part, end)) => {
                            if !text.is_empty() {
                                parts.push(Part::Text(std::mem::take(&mut text)));
                            }
                            parts.push(part?);
                            rest = &after[end + 1..];
                        }
                        None => {
                            text.push(c);
                            rest = after;
                        }
                    }
                }
                _ => {
                    text.push(c);
                    rest = after;
                }
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(Part::Text(text));
        }
        let total = parts
            .iter()
            .try_fold(1u64, |acc, p| acc.checked_mul(p.len()))
            .filter(|n| *n <= MAX_EXPANSION)
            .ok_or_else(|| {
                GlobError(format!(
                    "the pattern expands to more than {MAX_EXPANSION} URLs (-g turns globbing off)"
                ))
            })?;
        Ok(Glob {
            parts,
            total,
            next: 0,
        })
    }

    /// How many URLs the pattern expands to.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether the pattern has any glob in it.
    pub fn is_pattern(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }
}

impl Iterator for Glob {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.next >= self.total {
            return None;
        }
        // Mixed-radix digits of `next`, the last part least significant.
        let mut digits = vec![0u64; self.parts.len()];
        let mut n = self.next;
        for (d, p) in digits.iter_mut().zip(&self.parts).rev() {
            *d = n % p.len();
            n /= p.len();
        }
        self.next += 1;
        let mut out = String::new();
        for (p, d) in self.parts.iter().zip(digits) {
            p.write(d, &mut out);
        }
        Some(out)
    }
}

/// A group's part, `None` when it is literal text (not a range, or a set without a comma), or an
/// error for a malformed range.
fn parse_group(open: char, inner: &str) -> Option<Result<Part, GlobError>> {
    if open == '{' {
        if !inner.contains(',') || inner.contains('{') {
            return None;
        }
        return Some(Ok(Part::Set(inner.split(',').map(str::to_owned).collect())));
    }
    let (range, step) = match inner.split_once(':') {
        Some((r, s)) if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => (r, Some(s)),
        _ => (inner, None),
    };
    let (a, b) = range.split_once('-')?;
    let bad = |why: &str| Some(Err(GlobError(format!("bad range [{inner}]: {why}"))));
    let step: u64 = match step.map(str::parse) {
        None => 1,
        Some(Ok(0)) | Some(Err(_)) => return bad("the step must be 1 or more"),
        Some(Ok(s)) => s,
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if digits(a) && digits(b) {
        let (Ok(start), Ok(end)) = (a.parse::<u64>(), b.parse::<u64>()) else {
            return bad("number too large");
        };
        if end < start {
            return bad("the end is below the start");
        }
        let width = if a.starts_with('0') && a.len() > 1 {
            a.len()
        } else {
            0
        };
        let count = (end - start) / step + 1;
        return Some(Ok(Part::Numbers {
            start,
            step,
            count,
            width,
        }));
    }
    let letter = |s: &str| s.len() == 1 && s.as_bytes()[0].is_ascii_alphabetic();
    if letter(a) && letter(b) {
        let (start, end) = (a.as_bytes()[0], b.as_bytes()[0]);
        if end < start || start.is_ascii_lowercase() != end.is_ascii_lowercase() {
            return bad("letters must ascend within one case");
        }
        let step = u8::try_from(step).unwrap_or(u8::MAX);
        return Some(Ok(Part::Letters {
            start,
            step,
            count: u64::from((end - start) / step) + 1,
        }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(p: &str) -> Vec<String> {
        Glob::parse(p).unwrap().collect()
    }

    #[test]
    fn ranges_sets_and_padding() {
        assert_eq!(
            expand("http://h/[1-3]"),
            ["http://h/1", "http://h/2", "http://h/3"]
        );
        assert_eq!(expand("h/[08-10]"), ["h/08", "h/09", "h/10"]);
        assert_eq!(expand("h/[0-10:5]"), ["h/0", "h/5", "h/10"]);
        assert_eq!(expand("h/[a-c]"), ["h/a", "h/b", "h/c"]);
        assert_eq!(
            expand("h/{x,y}/[1-2]"),
            ["h/x/1", "h/x/2", "h/y/1", "h/y/2"]
        );
        assert_eq!(Glob::parse("h/[1-100]{a,b}").unwrap().total(), 200);
    }

    #[test]
    fn literal_brackets_and_escapes() {
        assert_eq!(expand("http://[::1]:8080/x"), ["http://[::1]:8080/x"]);
        assert_eq!(expand("h/items/{id}"), ["h/items/{id}"]);
        assert_eq!(expand(r"h/\[1-2\]\{a\,b\}"), ["h/[1-2]{a,b}"]);
        assert_eq!(expand("h/[1-2"), ["h/[1-2"]);
        assert!(!Glob::parse("http://h/").unwrap().is_pattern());
    }

    #[test]
    fn bad_ranges_and_the_cap() {
        assert!(Glob::parse("h/[5-1]").is_err());
        assert!(Glob::parse("h/[1-5:0]").is_err());
        assert!(Glob::parse("h/[a-Z]").is_err());
        let e = Glob::parse("h/[1-10000][1-10000]").unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
        assert_eq!(
            Glob::parse("h/[1-10000][1-1000]").unwrap().total(),
            MAX_EXPANSION
        );
    }
}
