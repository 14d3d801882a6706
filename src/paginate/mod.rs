//! Pagination: walk a paginated API page by page, or item by item, through any [`Execute`]
//! stack.
//!
//! Invariants:
//! - Every page request goes through the caller's stack (so limiter tokens, retries, pool caps
//!   and the admission gate apply) or, for the parallel phase, through the caller's
//!   [`ParExecutor`], which wraps a stack of its own.
//! - The state changes only when a page is yielded: after an error it still names the page that
//!   failed, so a resumed walk fetches that page again and nothing is skipped or seen twice.
//! - At most one page (sequential) or one window of pages (parallel) is held at a time, so
//!   memory stays flat however long the walk.

mod link;
mod page;
mod state;
mod strategy;
#[cfg(feature = "json")]
mod typed;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

pub use self::page::{Page, PageError};
use self::state::Next;
pub use self::state::PageState;
pub use self::strategy::Strategy;
use self::strategy::{Kind, set_param};
#[cfg(feature = "json")]
pub use self::typed::TypedItems;
use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::par::{ParExecutor, ParMap};
use crate::request::{Request, Url};
use crate::response::Response;
use crate::run::BatchOptions;

/// Walks the pages of `request` under `strategy`, each page through `executor`.
///
/// The [`Paginator`] is an iterator of pages; [`items`](Paginator::items) turns it into an
/// iterator of items. A failed page (a transport error, a status of 400 or more, a body the
/// strategy cannot read) ends the walk with a [`PageError`]; [`Paginator::state`] then still
/// points at that page, to [`resume`](Paginator::resume) later.
///
/// ```
/// use httpbatch::{HttpClient, Request, Strategy, paginate};
/// use httpbatch_testserver::Server;
///
/// let server = Server::start()?;
/// let client = HttpClient::new();
/// // 25 items, 10 to a page, linked with `Link: <…>; rel="next"` (relative URLs).
/// let first = Request::get(&server.url("/pages/link/25?per=10"))?;
/// let ids: Vec<u64> = paginate(&client, first, Strategy::link().items("/items"))
///     .items()
///     .map(|item| item.map(|v| v["id"].as_u64().unwrap()))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(ids, (1..=25).collect::<Vec<_>>());
/// assert_eq!(server.requests_for("/pages/link/25"), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn paginate<E: Execute>(executor: &E, request: Request, strategy: Strategy) -> Paginator<'_> {
    Paginator::with(Exec::Borrowed(executor), request, strategy)
}

/// A walk that owns its stack (for the C ABI, which holds no borrow across calls).
pub(crate) fn paginate_owned(
    executor: Arc<dyn Execute>,
    request: Request,
    strategy: Strategy,
) -> Paginator<'static> {
    Paginator::with(Exec::Owned(executor), request, strategy)
}

/// The stack a walk sends its pages through.
enum Exec<'a> {
    Borrowed(&'a dyn Execute),
    Owned(Arc<dyn Execute>),
}

impl Exec<'_> {
    fn get(&self) -> &dyn Execute {
        match self {
            Exec::Borrowed(e) => *e,
            Exec::Owned(e) => &**e,
        }
    }
}

impl<'a> Paginator<'a> {
    fn with(executor: Exec<'a>, request: Request, strategy: Strategy) -> Paginator<'a> {
        Paginator {
            executor,
            request,
            strategy,
            ctx: Context::new(),
            state: PageState::new(),
            max_pages: u64::MAX,
            max_items: u64::MAX,
            parse_items: false,
            par: None,
            window: 0,
            total: None,
            plan: None,
            ahead: VecDeque::new(),
            failed: false,
        }
    }
}

/// Fetches a window of pages in parallel, in order. Object-safe, so [`Paginator`] is not
/// generic over the parallel executor's stack.
trait FetchAll: Sync {
    fn fetch_all(&self, requests: Vec<Request>, ctx: &Context) -> Vec<Result<Response, Error>>;
    fn concurrency(&self) -> usize;
}

impl<E: Execute> FetchAll for ParExecutor<E> {
    fn fetch_all(&self, requests: Vec<Request>, ctx: &Context) -> Vec<Result<Response, Error>> {
        let mut options = BatchOptions::new();
        if let Some(t) = ctx.cancel_token() {
            options = options.cancel(t.clone());
        }
        if let Some(d) = ctx.deadline() {
            options = options.deadline(d);
        }
        requests.par_map(self.with_options(options), |r| r)
    }

    fn concurrency(&self) -> usize {
        ParExecutor::concurrency(self)
    }
}

/// The pages still to fetch in parallel: `count` positions from `next`, `step` apart.
#[derive(Debug, Clone, Copy)]
struct Plan {
    next: u64,
    step: u64,
    count: u64,
}

/// An iterator over the pages of a walk; see [`paginate`].
///
/// Configure it before the first `next()`: limits ([`max_pages`](Self::max_pages),
/// [`max_items`](Self::max_items)), a [`Context`] (cancel and deadline), a saved state to
/// [`resume`](Self::resume) from, and a [`ParExecutor`] to fetch the remaining pages in
/// parallel once the total is known ([`parallel`](Self::parallel)).
pub struct Paginator<'a> {
    executor: Exec<'a>,
    request: Request,
    strategy: Strategy,
    ctx: Context,
    state: PageState,
    max_pages: u64,
    max_items: u64,
    parse_items: bool,
    par: Option<&'a dyn FetchAll>,
    window: usize,
    total: Option<u64>,
    plan: Option<Plan>,
    ahead: VecDeque<(u64, Result<Response, Error>)>,
    failed: bool,
}

impl fmt::Debug for Paginator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paginator")
            .field("request", &self.request.url())
            .field("strategy", &self.strategy)
            .field("state", &self.state)
            .finish()
    }
}

impl<'a> Paginator<'a> {
    /// Stops after `n` pages (counting pages before a resume). Defaults to no limit.
    pub fn max_pages(mut self, n: u64) -> Self {
        self.max_pages = n;
        self
    }

    /// Stops once `n` items have been seen (counting items before a resume); the page that
    /// reaches the limit is cut to it. Defaults to no limit.
    pub fn max_items(mut self, n: u64) -> Self {
        self.max_items = n;
        self
    }

    /// Runs every page request under `ctx` (its cancel token and deadline).
    pub fn context(mut self, ctx: Context) -> Self {
        self.ctx = ctx;
        self
    }

    /// Continues a walk from `state` (see [`PageState`]); give the same first request and
    /// strategy as the walk that saved it.
    pub fn resume(mut self, state: PageState) -> Self {
        self.state = state;
        self
    }

    /// Once the first page states the total ([`Strategy::total`], with the `page` or `offset`
    /// strategy), fetches the remaining pages on `par` — `window` pages at a time, yielded in
    /// order — instead of one by one. `window` 0 means `par`'s concurrency.
    pub fn parallel<P: Execute>(mut self, par: &'a ParExecutor<P>, window: usize) -> Self {
        self.par = Some(par);
        self.window = window;
        self
    }

    /// The same walk with its strategy changed (before the first page).
    pub(crate) fn with_strategy(mut self, f: impl FnOnce(Strategy) -> Strategy) -> Self {
        self.strategy = f(self.strategy);
        self
    }

    /// Where the walk stands: save it ([`PageState::to_json`]) to resume later.
    pub fn state(&self) -> &PageState {
        &self.state
    }

    /// The total number of items the pages stated, once known.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// An iterator over the items of every page, in order.
    pub fn items(mut self) -> Items<'a> {
        self.parse_items = true;
        Items {
            pages: self,
            current: Vec::new().into_iter(),
        }
    }

    /// The request for position `next`.
    fn request_for(&self, next: &Next) -> Result<Request, Error> {
        let url = match (next, &self.strategy.kind) {
            (Next::Start, _) => return Ok(self.request.clone()),
            (Next::Url(u), _) => u.clone(),
            (Next::Cursor(c), Kind::Cursor { param, .. }) => {
                set_param(self.request.url().as_str(), param, c)
            }
            (Next::Number(n), Kind::Page { param, .. } | Kind::Offset { param }) => {
                set_param(self.request.url().as_str(), param, &n.to_string())
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    "page state does not fit the strategy",
                ));
            }
        };
        Ok(self.request.redirected(Url::parse(&url)?, false))
    }

    /// The number a `page`/`offset` position stands for.
    fn number(&self, next: &Next) -> u64 {
        match (next, &self.strategy.kind) {
            (Next::Number(n), _) => *n,
            (_, Kind::Page { first, .. }) => *first,
            _ => 0,
        }
    }

    /// Turns the outcome for position `sent` into a page (or the end, or an error), and moves
    /// the state on.
    fn settle(
        &mut self,
        sent: Next,
        outcome: Result<Response, Error>,
    ) -> Option<Result<Page, PageError>> {
        let fail = |this: &mut Self, e: PageError| {
            this.failed = true;
            this.ahead.clear();
            Some(Err(e))
        };
        let mut res = match outcome {
            Ok(r) => r,
            Err(e) => return fail(self, PageError::Request(e)),
        };
        if !res.is_success() {
            return fail(self, PageError::Status(Box::new(res)));
        }
        let body_err = |res: Response, message: String| PageError::Body {
            response: Box::new(res),
            message,
        };
        let wants_json =
            self.strategy.needs_json() || self.parse_items || !self.strategy.items.is_empty();
        let mut body = Value::Null;
        let mut items = Vec::new();
        if wants_json {
            body = match serde_json::from_slice(res.body()) {
                Ok(v) => v,
                Err(e) => return fail(self, body_err(res, format!("body is not JSON: {e}"))),
            };
            items = match body.pointer_mut(&self.strategy.items).map(Value::take) {
                Some(Value::Array(a)) => a,
                _ => {
                    let m = format!("no array at items pointer {:?}", self.strategy.items);
                    return fail(self, body_err(res, m));
                }
            };
            // Parsed: the raw body is not needed twice.
            if self.parse_items {
                res.take_body();
            }
        }
        if self.total.is_none() {
            if let Some(p) = &self.strategy.total {
                match body.pointer(p).and_then(Value::as_u64) {
                    Some(t) => self.total = Some(t),
                    None => {
                        let m = format!("no count at total pointer {p:?}");
                        return fail(self, body_err(res, m));
                    }
                }
            }
        }
        let n = items.len() as u64;
        let next = match &self.strategy.kind {
            Kind::Link => {
                // Names are lower-case: an exact match is `all`'s case-insensitive one.
                let target = link::next_target(res.headers().all("link"));
                match target {
                    None => None,
                    Some(t) => {
                        let base = match res.url() {
                            "" => self.request.url().as_str(),
                            u => u,
                        };
                        match crate::agent::resolve_reference(base, t)
                            .and_then(|u| Url::parse(&u).ok())
                        {
                            Some(u) => Some(Next::Url(u.as_str().to_owned())),
                            None => {
                                let m = format!("unusable Link target {t:?}");
                                return fail(self, body_err(res, m));
                            }
                        }
                    }
                }
            }
            Kind::Cursor { pointer, .. } => match body.pointer(pointer) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(Value::String(s)) => Some(Next::Cursor(s.clone())),
                Some(Value::Number(x)) => Some(Next::Cursor(x.to_string())),
                Some(other) => {
                    let m = format!("cursor at {pointer:?} is not a string or number: {other}");
                    return fail(self, body_err(res, m));
                }
            },
            Kind::Page { .. } if n == 0 => None,
            Kind::Offset { .. } if n == 0 => None,
            Kind::Page { .. } => Some(Next::Number(self.number(&sent).saturating_add(1))),
            Kind::Offset { .. } => Some(Next::Number(self.number(&sent).saturating_add(n))),
        };
        if n == 0 && matches!(self.strategy.kind, Kind::Page { .. } | Kind::Offset { .. }) {
            // An empty page ends the walk and is not a page of it.
            self.state.done = true;
            self.ahead.clear();
            self.plan = None;
            return None;
        }
        // A page cut by `max_items` before a resume: its first `skip` items were seen already.
        let again = self.state.skip > 0;
        let skipped = self.state.skip.min(n);
        items.drain(..skipped as usize);
        let fresh = n - skipped;
        let room = self.max_items.saturating_sub(self.state.items);
        items.truncate(room.min(usize::MAX as u64) as usize);
        let page = Page {
            response: res,
            items,
            index: self.state.pages.saturating_sub(u64::from(again)),
        };
        if !again {
            self.state.pages += 1;
        }
        self.state.items += fresh.min(room);
        if fresh > room {
            // The rest of this page is unseen: a resumed walk fetches it again and skips what
            // was handed out, so nothing is lost or seen twice.
            self.state.skip = skipped + room;
            self.state.next = sent;
            return Some(Ok(page));
        }
        self.state.skip = 0;
        let reached_total = self.total.is_some_and(|t| self.state.items >= t);
        match next {
            Some(next) if !reached_total => self.state.next = next,
            _ => {
                self.state.done = true;
                self.ahead.clear();
                self.plan = None;
            }
        }
        if !self.state.done && self.plan.is_none() && self.ahead.is_empty() {
            self.plan_parallel(n);
        }
        Some(Ok(page))
    }

    /// With a parallel executor and a known total, plans the remaining pages.
    fn plan_parallel(&mut self, per_page: u64) {
        let (Some(_), Some(total), Next::Number(next)) = (self.par, self.total, &self.state.next)
        else {
            return;
        };
        if per_page == 0 {
            return;
        }
        let left = total.saturating_sub(self.state.items);
        let count = left
            .div_ceil(per_page)
            .min(self.max_pages.saturating_sub(self.state.pages));
        let step = match self.strategy.kind {
            Kind::Page { .. } => 1,
            _ => per_page,
        };
        self.plan = Some(Plan {
            next: *next,
            step,
            count,
        });
    }

    /// Fetches the next window of planned pages into `ahead`.
    fn fetch_window(&mut self) {
        let (Some(par), Some(plan)) = (self.par, self.plan.as_mut()) else {
            return;
        };
        let window = match self.window {
            0 => par.concurrency(),
            w => w,
        } as u64;
        let n = plan.count.min(window.max(1));
        let positions: Vec<u64> = (0..n)
            .map(|i| plan.next.saturating_add(i.saturating_mul(plan.step)))
            .collect();
        plan.next = plan.next.saturating_add(n.saturating_mul(plan.step));
        plan.count -= n;
        if plan.count == 0 {
            self.plan = None;
        }
        let mut requests = Vec::with_capacity(positions.len());
        for &p in &positions {
            match self.request_for(&Next::Number(p)) {
                Ok(r) => requests.push(r),
                Err(e) => {
                    self.ahead.push_back((p, Err(e)));
                    return;
                }
            }
        }
        let outcomes = par.fetch_all(requests, &self.ctx);
        self.ahead.extend(positions.into_iter().zip(outcomes));
    }
}

impl Iterator for Paginator<'_> {
    type Item = Result<Page, PageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed
            || self.state.done
            || self.state.pages >= self.max_pages
            || self.state.items >= self.max_items
        {
            return None;
        }
        if self.ahead.is_empty() && self.plan.is_some() {
            self.fetch_window();
        }
        if let Some((pos, outcome)) = self.ahead.pop_front() {
            return self.settle(Next::Number(pos), outcome);
        }
        let sent = self.state.next.clone();
        let outcome = self
            .request_for(&sent)
            .and_then(|req| self.executor.get().execute(req, &self.ctx));
        self.settle(sent, outcome)
    }
}

/// An iterator over the items of a walk, page after page; see [`Paginator::items`].
#[derive(Debug)]
pub struct Items<'a> {
    pages: Paginator<'a>,
    current: std::vec::IntoIter<Value>,
}

impl Items<'_> {
    /// Where the walk stands (after the pages whose items were handed out or are being handed
    /// out now).
    pub fn state(&self) -> &PageState {
        self.pages.state()
    }
}

impl Iterator for Items<'_> {
    type Item = Result<Value, PageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(v) = self.current.next() {
                return Some(Ok(v));
            }
            match self.pages.next()? {
                Ok(mut page) => self.current = page.take_items().into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[allow(dead_code)]
fn assert_send() {
    fn is<T: Send>() {}
    is::<Page>();
    is::<PageError>();
    is::<PageState>();
}
