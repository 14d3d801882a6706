//! How a walk finds its next page: [`Strategy`].

use std::fmt::Write as _;

use crate::error::{Error, ErrorKind};

/// How [`paginate`](super::paginate) finds the next page, and where a page's items are.
///
/// | Strategy | Next page | Last page |
/// |---|---|---|
/// | [`link`](Self::link) | the `Link` header's `rel="next"` target (relative ones resolved against the page's URL) | no `next` link |
/// | [`cursor`](Self::cursor) | the value at a JSON pointer in the body, sent as a query parameter | the value is missing, `null` or `""` |
/// | [`page`](Self::page) | page number + 1 in a query parameter | an empty page, or the stated [`total`](Self::total) reached |
/// | [`offset`](Self::offset) | offset + items on this page in a query parameter | an empty page, or the stated [`total`](Self::total) reached |
///
/// Items are read from each page at the JSON pointer set with [`items`](Self::items) (default:
/// the body itself, which must then be an array).
///
/// ```
/// use httpbatch::Strategy;
/// let s = Strategy::cursor("/meta/next", "after").items("/data");
/// assert_eq!(s.items_pointer(), "/data");
/// let s = Strategy::page("page").first(0).total("/total");
/// assert_eq!(s.total_pointer(), Some("/total"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Strategy {
    pub(super) kind: Kind,
    pub(super) items: String,
    pub(super) total: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    Link,
    Cursor { pointer: String, param: String },
    Page { param: String, first: u64 },
    Offset { param: String },
}

impl Strategy {
    /// Follows `Link: <…>; rel="next"` (RFC 8288), as GitHub's API and many others send it.
    pub fn link() -> Strategy {
        Strategy::with(Kind::Link)
    }

    /// Reads the next cursor at JSON `pointer` (RFC 6901, e.g. `/meta/next_cursor`) in each
    /// page and sends it back as query parameter `param` of the first request's URL. A number
    /// is sent as its decimal text.
    pub fn cursor(pointer: &str, param: &str) -> Strategy {
        Strategy::with(Kind::Cursor {
            pointer: pointer.into(),
            param: param.into(),
        })
    }

    /// Sends page numbers in query parameter `param`, from [`first`](Self::first) (default 1)
    /// up.
    pub fn page(param: &str) -> Strategy {
        Strategy::with(Kind::Page {
            param: param.into(),
            first: 1,
        })
    }

    /// Sends item offsets in query parameter `param`, from 0 up by the items of each page.
    pub fn offset(param: &str) -> Strategy {
        Strategy::with(Kind::Offset {
            param: param.into(),
        })
    }

    fn with(kind: Kind) -> Strategy {
        Strategy {
            kind,
            items: String::new(),
            total: None,
        }
    }

    /// The first page number of [`page`](Self::page) (ignored by the others). Defaults to `1`.
    pub fn first(mut self, n: u64) -> Strategy {
        if let Kind::Page { first, .. } = &mut self.kind {
            *first = n;
        }
        self
    }

    /// The JSON pointer to each page's array of items. Defaults to `""`: the body itself.
    pub fn items(mut self, pointer: &str) -> Strategy {
        self.items = pointer.into();
        self
    }

    /// The items pointer. Defaults to `""`.
    pub fn items_pointer(&self) -> &str {
        &self.items
    }

    /// The JSON pointer to the total number of items, stated in the first page
    /// ([`page`](Self::page) and [`offset`](Self::offset) only). The walk then stops once that
    /// many items have been seen, and with [`Paginator::parallel`](super::Paginator::parallel)
    /// the remaining pages are fetched in parallel. Defaults to none.
    pub fn total(mut self, pointer: &str) -> Strategy {
        self.total = Some(pointer.into());
        self
    }

    /// The total pointer. Defaults to `None`.
    pub fn total_pointer(&self) -> Option<&str> {
        self.total.as_deref()
    }

    /// Whether pages must be parsed as JSON to walk on (all but `link`).
    pub(super) fn needs_json(&self) -> bool {
        !matches!(self.kind, Kind::Link)
    }
}

impl std::str::FromStr for Strategy {
    type Err = Error;

    /// Parses the CLI's and the C ABI's spelling: `link`, `cursor:POINTER:PARAM`,
    /// `page:PARAM` and `offset:PARAM` (items and total pointers are set apart).
    ///
    /// ```
    /// use httpbatch::Strategy;
    /// let s: Strategy = "cursor:/meta/next:after".parse()?;
    /// assert_eq!(s, Strategy::cursor("/meta/next", "after"));
    /// assert_eq!("page:p".parse::<Strategy>()?, Strategy::page("p"));
    /// assert!("cursor:/x".parse::<Strategy>().is_err());
    /// # Ok::<(), httpbatch::Error>(())
    /// ```
    fn from_str(spec: &str) -> Result<Strategy, Error> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidConfig,
                format!(
                    "bad pagination {spec:?}: want link, cursor:POINTER:PARAM, page:PARAM or \
                     offset:PARAM"
                ),
            )
        };
        let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let param = |p: &str| match p.is_empty() || p.contains(['&', '=', '#', ' ']) {
            true => Err(bad()),
            false => Ok(p.to_owned()),
        };
        match kind {
            "link" if rest.is_empty() => Ok(Strategy::link()),
            "cursor" => {
                let (pointer, p) = rest.rsplit_once(':').ok_or_else(bad)?;
                if !(pointer.is_empty() || pointer.starts_with('/')) {
                    return Err(bad());
                }
                Ok(Strategy::cursor(pointer, &param(p)?))
            }
            "page" => Ok(Strategy::page(&param(rest)?)),
            "offset" => Ok(Strategy::offset(&param(rest)?)),
            _ => Err(bad()),
        }
    }
}

/// `url` with query parameter `name` set to `value` (percent-encoded), replacing every existing
/// `name` and keeping any fragment out (fragments never go on the wire).
pub(super) fn set_param(url: &str, name: &str, value: &str) -> String {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut out = String::with_capacity(url.len() + name.len() + value.len() + 2);
    out.push_str(base);
    let mut sep = '?';
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if pair.split_once('=').map_or(pair, |(k, _)| k) != name {
            out.push(sep);
            out.push_str(pair);
            sep = '&';
        }
    }
    out.push(sep);
    out.push_str(name);
    out.push('=');
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_param_replaces_or_appends() {
        assert_eq!(set_param("http://a/x", "p", "2"), "http://a/x?p=2");
        assert_eq!(
            set_param("http://a/x?q=1&p=1&p=3", "p", "2"),
            "http://a/x?q=1&p=2"
        );
        assert_eq!(
            set_param("http://a/x?pp=1#f", "p", "a b&c"),
            "http://a/x?pp=1&p=a%20b%26c"
        );
    }
}
