//! [`Page`] and [`PageError`]: what a walk yields.

use std::fmt;

use serde_json::Value;

use crate::error::Error;
use crate::response::Response;

/// One page: its response and the items read from it.
#[derive(Debug, Clone)]
pub struct Page {
    pub(super) response: Response,
    pub(super) items: Vec<Value>,
    pub(super) index: u64,
}

impl Page {
    /// The page's response (status below 400).
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// The response, dropping the parsed items.
    pub fn into_response(self) -> Response {
        self.response
    }

    /// The items read from the page at the strategy's items pointer. Empty for a `link` walk
    /// unless items were asked for ([`Strategy::items`](crate::Strategy::items) or [`Paginator::items`](crate::Paginator::items)).
    pub fn items(&self) -> &[Value] {
        &self.items
    }

    /// Takes the items out.
    pub fn take_items(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.items)
    }

    /// The page's place in the walk, from 0 (counting pages before a resume).
    pub fn index(&self) -> u64 {
        self.index
    }
}

/// Why a walk stopped early, or (only [`PageError::Item`]) why one item was skipped.
#[derive(Debug)]
#[non_exhaustive]
pub enum PageError {
    /// The page request failed: transport, cancel, deadline, limiter.
    Request(Error),
    /// The page answered a status of 400 or more.
    Status(Box<Response>),
    /// The page's body or headers are not what the strategy reads (not JSON, no array at the
    /// items pointer, an unusable `Link` target or cursor).
    Body {
        /// The page.
        response: Box<Response>,
        /// What was wrong.
        message: String,
    },
    /// One item does not deserialise into the type asked for (`Paginator::items_as`, feature
    /// `json`). Unlike the other variants it does not end the walk: the next call yields the
    /// next item.
    Item {
        /// The item's place in the walk, from 0 (counting items before a resume).
        index: u64,
        /// The item as the page had it.
        item: Box<Value>,
        /// Why it does not fit the type (line, column and what was expected).
        source: serde_json::Error,
    },
}

impl PageError {
    /// The failed page's response, if one came back.
    pub fn response(&self) -> Option<&Response> {
        match self {
            PageError::Request(_) | PageError::Item { .. } => None,
            PageError::Status(r) | PageError::Body { response: r, .. } => Some(r),
        }
    }

    /// The failed page's status, if one came back.
    pub fn status(&self) -> Option<u16> {
        self.response().map(Response::status)
    }

    /// Whether only one item failed ([`PageError::Item`]) and the walk goes on.
    pub fn is_item(&self) -> bool {
        matches!(self, PageError::Item { .. })
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageError::Request(e) => write!(f, "page request failed: {e}"),
            PageError::Status(r) => write!(f, "page {} answered {}", r.url(), r.status()),
            PageError::Body { response, message } => {
                write!(f, "page {}: {message}", response.url())
            }
            PageError::Item { index, source, .. } => {
                write!(f, "item {index} does not fit the type asked for: {source}")
            }
        }
    }
}

impl std::error::Error for PageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PageError::Request(e) => Some(e),
            PageError::Item { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        PageError::Request(e)
    }
}
