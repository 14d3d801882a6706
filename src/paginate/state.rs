//! [`PageState`]: where a walk is, as JSON, to restart it later.

use serde_json::{Map, Value, json};

use crate::error::{Error, ErrorKind};

/// Where a walk stands: what to fetch next (a URL, a cursor or a number), the pages and items
/// seen so far, and whether it is over. It serialises to JSON ([`to_json`](Self::to_json)) so a
/// walk that failed or was stopped — in this process or a crashed one — restarts where it was
/// with [`Paginator::resume`](super::Paginator::resume).
///
/// ```
/// use httpbatch::PageState;
/// let state = PageState::from_json(r#"{"next":{"cursor":"c1e"},"pages":3,"items":30,"done":false}"#)?;
/// assert_eq!((state.pages(), state.items(), state.is_done()), (3, 30, false));
/// assert_eq!(PageState::from_json(&state.to_json())?, state);
/// # Ok::<(), httpbatch::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageState {
    pub(super) next: Next,
    pub(super) pages: u64,
    pub(super) items: u64,
    pub(super) done: bool,
    /// Items of the next page already handed out (a page cut by `max_items`).
    pub(super) skip: u64,
}

/// What the next request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) enum Next {
    /// The first request, as given.
    #[default]
    Start,
    /// An absolute URL (from a `Link` header).
    Url(String),
    /// A cursor for the strategy's parameter.
    Cursor(String),
    /// A page number or an offset for the strategy's parameter.
    Number(u64),
}

impl PageState {
    /// The state of a walk not started yet.
    pub fn new() -> PageState {
        PageState::default()
    }

    /// Pages yielded so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Items seen so far (on the pages yielded).
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Whether the walk reached its last page.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next URL (the `link` strategy), if the walk has one.
    pub fn next_url(&self) -> Option<&str> {
        match &self.next {
            Next::Url(u) => Some(u),
            _ => None,
        }
    }

    /// The next cursor (the `cursor` strategy), if the walk has one.
    pub fn next_cursor(&self) -> Option<&str> {
        match &self.next {
            Next::Cursor(c) => Some(c),
            _ => None,
        }
    }

    /// The next page number or offset (the `page` and `offset` strategies), if the walk has one.
    pub fn next_number(&self) -> Option<u64> {
        match self.next {
            Next::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The state as one JSON object:
    /// `{"next":{"url":U}|{"cursor":C}|{"number":N}|null,"pages":P,"items":I,"done":B}`, with
    /// `"skip":S` when a page was cut by [`max_items`](super::Paginator::max_items): its first S
    /// items were handed out, and a resumed walk fetches it again for the rest.
    pub fn to_json(&self) -> String {
        let next = match &self.next {
            Next::Start => Value::Null,
            Next::Url(u) => json!({ "url": u }),
            Next::Cursor(c) => json!({ "cursor": c }),
            Next::Number(n) => json!({ "number": n }),
        };
        let mut v =
            json!({ "next": next, "pages": self.pages, "items": self.items, "done": self.done });
        if self.skip > 0 {
            v["skip"] = json!(self.skip);
        }
        v.to_string()
    }

    /// Parses what [`to_json`](Self::to_json) wrote; anything else is
    /// [`ErrorKind::InvalidConfig`].
    pub fn from_json(text: &str) -> Result<PageState, Error> {
        let bad = |why: &str| Error::new(ErrorKind::InvalidConfig, format!("page state: {why}"));
        let v: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let num = |m: &Map<String, Value>, k: &str| {
            m.get(k)
                .and_then(Value::as_u64)
                .ok_or_else(|| bad(&format!("{k:?} is not a count")))
        };
        let next = match obj.get("next") {
            None | Some(Value::Null) => Next::Start,
            Some(Value::Object(m)) => match (m.get("url"), m.get("cursor"), m.get("number")) {
                (Some(Value::String(u)), None, None) => Next::Url(u.clone()),
                (None, Some(Value::String(c)), None) => Next::Cursor(c.clone()),
                (None, None, Some(_)) => Next::Number(num(m, "number")?),
                _ => return Err(bad("\"next\" wants one of url, cursor, number")),
            },
            Some(_) => return Err(bad("\"next\" is not an object")),
        };
        Ok(PageState {
            next,
            pages: num(obj, "pages")?,
            items: num(obj, "items")?,
            done: obj
                .get("done")
                .and_then(Value::as_bool)
                .ok_or_else(|| bad("\"done\" is not a boolean"))?,
            skip: match obj.get("skip") {
                None => 0,
                Some(_) => num(obj, "skip")?,
            },
        })
    }
}
