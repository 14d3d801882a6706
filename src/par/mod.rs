//! Parallel maps over request lists, and pipelines over arbitrary items, on a thread pool sized
//! for I/O.
//!
//! A [`ParExecutor`] wraps any [`Execute`] stack with its own rayon [`ThreadPool`](rayon::ThreadPool)
//! (threads named `httpbatch-par-N`) and one concurrency limit: a counting semaphore that every
//! request of every call takes a permit from, so the number of requests in flight never exceeds
//! it, even when one item issues several requests. The pool is created once and reused by every
//! call; it is never rayon's global pool, which is sized for CPU work.
//!
//! The [`ParMap`] extension trait (in [`prelude`](crate::prelude)) gives request lists and item
//! lists rayon-like methods:
//!
//! | Method | Closure | Returns | On the first error |
//! |---|---|---|---|
//! | [`par_map`](ParMap::par_map) | `Result<Response, Error> -> R` | `Vec<R>` | runs everything |
//! | [`try_par_map`](ParMap::try_par_map) | `Result<Response, Error> -> Result<R, Error>` | `Result<Vec<R>, ParError>` | stops dispatching |
//! | [`par_map_collect_errors`](ParMap::par_map_collect_errors) | same | [`ParCollected<R>`] | runs everything |
//! | [`par_pipeline`](ParMap::par_pipeline) then [`try_run`](Pipeline::try_run) | `(&ParClient, T) -> Result<R, Error>` | `Result<Vec<R>, ParError>` | stops dispatching |
//! | [`par_pipeline`](ParMap::par_pipeline) then [`run`](Pipeline::run) | same | [`ParCollected<R>`] | runs everything |
//!
//! Results are always in input order. Within one call, items of higher priority
//! ([`Request::priority`], or [`Pipeline::priority`]) are dispatched first, input order otherwise,
//! and requests waiting for a permit are served in the same order. Cancellation, deadlines and
//! progress work as in [`BatchExecutor::execute_batch`](crate::BatchExecutor::execute_batch):
//! pass [`ParOptions`] with [`ParExecutor::with_options`]. The progress callback runs on the
//! calling thread and never after the call returns; the item closures run on the pool.
//!
//! A panic in an item closure stops the call (nothing more is dispatched, requests in flight are
//! interrupted) and is re-raised on the caller once every running item has settled; the pool's
//! threads survive it.
//!
//! ```
//! use httpbatch::prelude::*;
//! use httpbatch::{HttpClient, ParExecutor, Request};
//! use httpbatch_testserver::Server;
//!
//! let server = Server::start()?;
//! let par = ParExecutor::new(HttpClient::new(), 16)?;
//! let requests: Vec<_> = (0..50).map(|i| Request::get(&server.url(&format!("/bytes/{i}")))).collect();
//! let sizes = requests.par_map(&par, |res| res.map_or(0, |r| r.body().len()));
//! assert_eq!(sizes, (0..50).collect::<Vec<_>>());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod engine;
mod permits;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::batch::{IntoBatchItem, ProgressSnapshot, panic_message};
use crate::error::{Error, ErrorKind};
use crate::execute::{CancelToken, Context, Execute};
use crate::request::Request;
use crate::response::Response;

use self::engine::Settled;
use self::permits::Permits;

/// Sends a request under the executor's permit gate. Object-safe, so [`ParClient`] is not
/// generic over the executor stack.
pub(crate) trait Gate: Sync {
    fn gated(&self, request: Request, priority: i32, ctx: &Context) -> Result<Response, Error>;
}

#[derive(Default)]
pub(crate) struct Counters {
    calls: AtomicU64,
    items: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    waited: AtomicU64,
}

struct Inner<E> {
    executor: E,
    pool: rayon::ThreadPool,
    permits: Permits,
    threads: usize,
    concurrency: usize,
    counters: Counters,
}

impl<E: Execute> Gate for Inner<E> {
    fn gated(&self, request: Request, priority: i32, ctx: &Context) -> Result<Response, Error> {
        let (_permit, waited) = self.permits.acquire(priority, ctx)?;
        let c = &self.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        if waited {
            c.waited.fetch_add(1, Ordering::Relaxed);
        }
        let now = c.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        c.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        // Like the batch executor: a panicking layer fails its request, not the whole call.
        let result = catch_unwind(AssertUnwindSafe(|| self.executor.execute(request, ctx)))
            .unwrap_or_else(|p| {
                Err(Error::new(
                    ErrorKind::Panicked,
                    format!("executor panicked: {}", panic_message(&*p)),
                ))
            });
        c.in_flight.fetch_sub(1, Ordering::Relaxed);
        result
    }
}

/// Builds a [`ParExecutor`].
///
/// ```
/// use httpbatch::{HttpClient, ParExecutorBuilder};
/// let par = ParExecutorBuilder::new()
///     .concurrency(64)
///     .threads(96)
///     .thread_name("crawler")
///     .build(HttpClient::new())?;
/// assert_eq!((par.concurrency(), par.threads()), (64, 96));
/// # Ok::<(), httpbatch::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ParExecutorBuilder {
    concurrency: usize,
    threads: Option<usize>,
    name: String,
}

impl Default for ParExecutorBuilder {
    fn default() -> Self {
        ParExecutorBuilder {
            concurrency: 32,
            threads: None,
            name: "httpbatch-par".into(),
        }
    }
}

impl ParExecutorBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the concurrency limit.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// The most requests in flight at once, over every call running on the executor and every
    /// request of every item. Defaults to `32`.
    pub fn get_concurrency(&self) -> usize {
        self.concurrency
    }

    /// Sets the number of pool threads.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// Pool threads: the most items in progress at once. More threads than the concurrency
    /// limit lets items do other work (parse, compute) between their requests while other items'
    /// requests use the permits. Defaults to the concurrency limit.
    pub fn get_threads(&self) -> usize {
        self.threads.unwrap_or(self.concurrency)
    }

    /// Sets the thread name prefix (threads are named `PREFIX-0`, `PREFIX-1`, …).
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.name = prefix.into();
        self
    }

    /// Thread name prefix. Defaults to `httpbatch-par`.
    pub fn get_thread_name(&self) -> &str {
        &self.name
    }

    /// Starts the pool around `executor`.
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] for a concurrency or thread count outside
    /// `1..=4096`, and [`ErrorKind::Io`] if the threads cannot be spawned.
    pub fn build<E: Execute>(self, executor: E) -> Result<ParExecutor<E>, Error> {
        let threads = self.get_threads();
        for (what, n) in [("concurrency", self.concurrency), ("threads", threads)] {
            if n == 0 || n > 4096 {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!("{what} must be in 1..=4096, got {n}"),
                ));
            }
        }
        let name = self.name;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("{name}-{i}"))
            .build()
            .map_err(|e| Error::with_source(ErrorKind::Io, "could not start the par pool", e))?;
        Ok(ParExecutor {
            inner: Arc::new(Inner {
                executor,
                pool,
                permits: Permits::new(self.concurrency),
                threads,
                concurrency: self.concurrency,
                counters: Counters::default(),
            }),
        })
    }
}

/// Statistics of a [`ParExecutor`] since creation or the last
/// [`reset_stats`](ParExecutor::reset_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParStats {
    /// Calls run (`par_map`, pipelines, …).
    pub calls: u64,
    /// Items settled over every call (ran or not).
    pub items: u64,
    /// Requests that took a permit and went to the executor stack.
    pub requests: u64,
    /// Of those, requests that had to wait for a permit.
    pub waited: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// The most requests in flight at once; never above the concurrency limit.
    pub peak_in_flight: u64,
}

/// Runs parallel maps and pipelines over any [`Execute`] stack, on its own thread pool, under one
/// concurrency limit. See the [module docs](crate::par) for the methods and their semantics.
///
/// A thin handle: cloning shares the pool, the limit and the statistics. The pool's threads
/// exit when the last handle is dropped.
///
/// `ParExecutor` implements [`Execute`] itself, so a single request sent through it (from any
/// thread, or from another layer) also takes a permit.
///
/// ```
/// use httpbatch::prelude::*;
/// use httpbatch::{HttpClient, ParExecutor, ParOptions, Request};
/// use httpbatch_testserver::Server;
///
/// let server = Server::start()?;
/// let par = ParExecutor::new(HttpClient::new(), 8)?;
/// let mut last_percent = 0.0;
/// let statuses = ["/ok", "/status/404", "/status/503"]
///     .iter()
///     .map(|p| Request::get(&server.url(p)))
///     .collect::<Vec<_>>()
///     .par_map(
///         par.with_options(ParOptions::new().on_progress(std::time::Duration::ZERO, |p| {
///             last_percent = p.percent
///         })),
///         |res| res.map(|r| r.status()).ok(),
///     );
/// assert_eq!(statuses, [Some(200), Some(404), Some(503)]);
/// assert_eq!(last_percent, 100.0);
/// assert!(par.stats().peak_in_flight <= 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ParExecutor<E> {
    inner: Arc<Inner<E>>,
}

impl<E> Clone for ParExecutor<E> {
    fn clone(&self) -> Self {
        ParExecutor {
            inner: self.inner.clone(),
        }
    }
}

impl<E> fmt::Debug for ParExecutor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParExecutor")
            .field("concurrency", &self.inner.concurrency)
            .field("threads", &self.inner.threads)
            .field("in_flight", &self.inner.permits.in_use())
            .finish()
    }
}

impl ParExecutor<crate::HttpClient> {
    /// A builder; see [`ParExecutorBuilder`].
    pub fn builder() -> ParExecutorBuilder {
        ParExecutorBuilder::default()
    }
}

impl<E: Execute> ParExecutor<E> {
    /// An executor around `executor` with `concurrency` pool threads and permits.
    pub fn new(executor: E, concurrency: usize) -> Result<Self, Error> {
        ParExecutorBuilder::new()
            .concurrency(concurrency)
            .build(executor)
    }

    /// The wrapped executor stack (to reach its statistics).
    pub fn get_ref(&self) -> &E {
        &self.inner.executor
    }

    /// The wrapped executor, mutably, when this is the only handle.
    pub fn get_mut(&mut self) -> Option<&mut E> {
        Arc::get_mut(&mut self.inner).map(|i| &mut i.executor)
    }

    /// Stops the pool and returns the wrapped executor, or hands `self` back while other handles
    /// exist.
    pub fn into_inner(self) -> Result<E, Self> {
        Arc::try_unwrap(self.inner)
            .map(|i| i.executor)
            .map_err(|inner| ParExecutor { inner })
    }

    /// The most requests in flight at once.
    pub fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    /// Pool threads: the most items in progress at once.
    pub fn threads(&self) -> usize {
        self.inner.threads
    }

    /// This executor with per-call options (cancel token, deadline, chunking, progress), to pass
    /// to the [`ParMap`] methods in place of `&executor`.
    pub fn with_options<'a>(&'a self, options: ParOptions<'a>) -> ParCall<'a, E> {
        ParCall { par: self, options }
    }

    /// Statistics since creation or the last reset.
    pub fn stats(&self) -> ParStats {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ParStats {
            calls: load(&c.calls),
            items: load(&c.items),
            requests: load(&c.requests),
            waited: load(&c.waited),
            in_flight: load(&c.in_flight),
            peak_in_flight: load(&c.peak_in_flight),
        }
    }

    /// Zeroes the statistics (the in-flight gauge is a level and is left alone; the peak restarts
    /// from it).
    pub fn reset_stats(&self) {
        let c = &self.inner.counters;
        for a in [&c.calls, &c.items, &c.requests, &c.waited] {
            a.store(0, Ordering::Relaxed);
        }
        c.peak_in_flight
            .store(c.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl<E: Execute> Execute for ParExecutor<E> {
    /// Sends one request under the concurrency limit (waiting for a permit by its priority).
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        let priority = request.priority();
        self.inner.gated(request, priority, ctx)
    }
}

type ProgressFn<'a> = Box<dyn FnMut(&ProgressSnapshot) + 'a>;
type PriorityFn<'a, T> = Box<dyn Fn(&T) -> i32 + 'a>;

/// Options of one call: cancellation, deadline, chunking and progress.
///
/// The progress callback runs on the calling thread, never after the call returns, so it may
/// borrow locals and need not be `Send`.
///
/// ```
/// use httpbatch::{CancelToken, ParOptions};
/// use std::time::Duration;
/// let token = CancelToken::new();
/// let opts = ParOptions::new()
///     .cancel(token.clone())
///     .timeout(Duration::from_secs(60))
///     .chunks(500, Duration::from_secs(1))
///     .on_progress(Duration::from_millis(250), |p| eprintln!("{:.0}%", p.percent));
/// # drop(opts);
/// ```
#[derive(Default)]
pub struct ParOptions<'a> {
    cancel: Option<CancelToken>,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    chunks: Option<(usize, Duration)>,
    progress: Option<(Duration, ProgressFn<'a>)>,
}

impl fmt::Debug for ParOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParOptions")
            .field("cancel", &self.cancel)
            .field("deadline", &self.deadline)
            .field("timeout", &self.timeout)
            .field("chunks", &self.chunks)
            .field("progress", &self.progress.as_ref().map(|p| p.0))
            .finish()
    }
}

impl<'a> ParOptions<'a> {
    /// No cancel token, no deadline, no chunking, no progress callback.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the call when `token` is cancelled (from any thread): nothing more is dispatched,
    /// requests in flight are interrupted (their sockets shut down) and fail with
    /// [`ErrorKind::Cancelled`], items never started end with that error too.
    pub fn cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Stops the call at `deadline`: items not started end [`ErrorKind::NotRun`], requests in
    /// flight fail with [`ErrorKind::DeadlineExceeded`].
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// A deadline `timeout` after the call starts.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Processes the items `size` at a time (in dispatch order): a chunk starts once the
    /// previous one has fully settled and `pause` has passed. For servers that want bursts
    /// spaced out. A `size` of 0 is taken as 1.
    pub fn chunks(mut self, size: usize, pause: Duration) -> Self {
        self.chunks = Some((size.max(1), pause));
        self
    }

    /// Calls `f` at most once per `min_interval` while the call runs, and once at the end with
    /// every item settled (100 %). A response with a status below 400 (or, for the `try_` and
    /// pipeline forms, an `Ok` from the closure) counts as succeeded.
    pub fn on_progress(
        mut self,
        min_interval: Duration,
        f: impl FnMut(&ProgressSnapshot) + 'a,
    ) -> Self {
        self.progress = Some((min_interval, Box::new(f)));
        self
    }
}

/// A [`ParExecutor`] with the options of one call; made by [`ParExecutor::with_options`], or
/// from `&ParExecutor` (default options) by [`IntoParCall`].
pub struct ParCall<'a, E> {
    par: &'a ParExecutor<E>,
    options: ParOptions<'a>,
}

impl<E> fmt::Debug for ParCall<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParCall")
            .field("par", self.par)
            .field("options", &self.options)
            .finish()
    }
}

/// What the [`ParMap`] methods accept as their executor: `&ParExecutor` (default options) or a
/// [`ParCall`] from [`ParExecutor::with_options`].
pub trait IntoParCall<'a> {
    /// The wrapped executor stack.
    type Executor: Execute;

    /// The executor and the call's options.
    fn into_par_call(self) -> ParCall<'a, Self::Executor>;
}

impl<'a, E: Execute> IntoParCall<'a> for &'a ParExecutor<E> {
    type Executor = E;

    fn into_par_call(self) -> ParCall<'a, E> {
        self.with_options(ParOptions::new())
    }
}

impl<'a, E: Execute> IntoParCall<'a> for ParCall<'a, E> {
    type Executor = E;

    fn into_par_call(self) -> ParCall<'a, E> {
        self
    }
}

/// The handle an item of a pipeline sends its requests through: every request takes a permit
/// of the executor's concurrency limit (by the item's priority, unless the request sets its own)
/// and runs under the call's [`Context`], so cancellation and the deadline reach it.
///
/// Send with [`send`](Self::send), or use it as an [`Execute`] with
/// [`context`](Self::context) (a context without the call's token is still checked against the
/// call's before the request starts).
pub struct ParClient<'a> {
    gate: &'a dyn Gate,
    ctx: &'a Context,
    index: usize,
    priority: i32,
}

impl fmt::Debug for ParClient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParClient")
            .field("index", &self.index)
            .field("priority", &self.priority)
            .field("context", self.ctx)
            .finish()
    }
}

impl ParClient<'_> {
    /// Sends `request` under the call's context and the executor's concurrency limit.
    pub fn send(&self, request: Request) -> Result<Response, Error> {
        self.execute(request, self.ctx)
    }

    /// The call's context: its cancel token and deadline.
    pub fn context(&self) -> &Context {
        self.ctx
    }

    /// The input index of the item being processed.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The item's priority.
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// Whether the call has been stopped (cancelled, deadline passed, failed fast or panicked):
    /// a long item may check it between steps.
    pub fn is_stopped(&self) -> bool {
        self.ctx.check().is_err()
    }
}

impl Execute for ParClient<'_> {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        self.ctx.check()?;
        let priority = match request.priority() {
            0 => self.priority,
            p => p,
        };
        self.gate.gated(request, priority, ctx)
    }
}

/// The first failure of a fail-fast call: which input and why.
#[derive(Debug)]
pub struct ParError {
    /// Input index of the failed item.
    pub index: usize,
    /// Its error.
    pub error: Error,
}

impl fmt::Display for ParError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "item {} failed: {}", self.index, self.error)
    }
}

impl std::error::Error for ParError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Every result of a fail-safe call, and every error.
///
/// `values[i]` is `Some` exactly when no error in `errors` has index `i`; `errors` is sorted by
/// index.
#[derive(Debug)]
pub struct ParCollected<R> {
    /// By input index: the value, or `None` for a failed item.
    pub values: Vec<Option<R>>,
    /// The failed items, by input index.
    pub errors: Vec<ParError>,
}

impl<R> ParCollected<R> {
    /// Whether every item succeeded.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Every value, or the failure with the lowest index.
    pub fn into_result(self) -> Result<Vec<R>, ParError> {
        match self.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(self.values.into_iter().flatten().collect()),
        }
    }
}

/// A pipeline over arbitrary items, made by [`ParMap::par_pipeline`] or
/// [`ParCall::pipeline`]: each item runs a closure that is given a [`ParClient`], so one item can
/// issue several dependent requests (fetch a list, then each detail) while every request of
/// every item shares the executor's one concurrency limit.
///
/// ```
/// use httpbatch::prelude::*;
/// use httpbatch::{HttpClient, ParExecutor, Request};
/// use httpbatch_testserver::Server;
///
/// let server = Server::start()?;
/// let par = ParExecutor::new(HttpClient::new(), 4)?;
/// // Each item: fetch a "list" whose length says how many "details" to fetch next.
/// let totals = (1..=6usize)
///     .par_pipeline(&par)
///     .priority(|n| *n as i32) // bigger items first
///     .try_run(|client, n| {
///         let list = client.send(Request::get(&server.url(&format!("/bytes/{n}")))?)?;
///         let mut total = 0;
///         for _ in 0..list.body().len() {
///             total += client.send(Request::get(&server.url("/bytes/10"))?)?.body().len();
///         }
///         Ok(total)
///     })?;
/// assert_eq!(totals, [10, 20, 30, 40, 50, 60]);
/// assert!(par.stats().peak_in_flight <= 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a pipeline does nothing until `run` or `try_run`"]
pub struct Pipeline<'a, E, T> {
    call: ParCall<'a, E>,
    items: Vec<T>,
    priority: Option<PriorityFn<'a, T>>,
}

impl<E, T> fmt::Debug for Pipeline<'_, E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("call", &self.call)
            .field("items", &self.items.len())
            .field("priority", &self.priority.is_some())
            .finish()
    }
}

impl<'a, E: Execute, T: Send> Pipeline<'a, E, T> {
    /// Dispatches items with a higher `priority(item)` first (input order otherwise); their
    /// requests also wait for permits by it (unless a request sets its own priority).
    pub fn priority(mut self, priority: impl Fn(&T) -> i32 + 'a) -> Self {
        self.priority = Some(Box::new(priority));
        self
    }

    /// Fail-fast: runs `f` on every item until the first `Err` (or a cancel or deadline), then
    /// dispatches nothing more. Items in flight finish; their results are dropped. Returns every
    /// value in input order, or the first failure to settle.
    pub fn try_run<R, F>(self, f: F) -> Result<Vec<R>, ParError>
    where
        R: Send,
        F: Fn(&ParClient<'_>, T) -> Result<R, Error> + Sync,
    {
        let (call, items, prios) = self.parts();
        let work = |c: &ParClient<'_>, item: T| classify(f(c, item));
        let ran = call.engine(items, prios, true, &work);
        try_collect(ran)
    }

    /// Fail-safe: runs `f` on every item (unless cancelled or past the deadline) and returns every
    /// value plus every error.
    pub fn run<R, F>(self, f: F) -> ParCollected<R>
    where
        R: Send,
        F: Fn(&ParClient<'_>, T) -> Result<R, Error> + Sync,
    {
        let (call, items, prios) = self.parts();
        let work = |c: &ParClient<'_>, item: T| classify(f(c, item));
        let ran = call.engine(items, prios, false, &work);
        collect(ran)
    }

    fn parts(self) -> (ParCall<'a, E>, Vec<T>, Vec<i32>) {
        let prios = match &self.priority {
            Some(p) => self.items.iter().map(p).collect(),
            None => vec![0; self.items.len()],
        };
        (self.call, self.items, prios)
    }
}

fn classify<R>(r: Result<R, Error>) -> (Result<R, Error>, Settled) {
    let s = if r.is_ok() {
        Settled::Success
    } else {
        Settled::Error
    };
    (r, s)
}

fn try_collect<T, R>(mut ran: engine::Ran<T, Result<R, Error>>) -> Result<Vec<R>, ParError> {
    if let Some(index) = ran.first_error {
        let error = match ran.outputs[index].take() {
            Some(Err(e)) => e,
            _ => unreachable!("the first error's slot holds its error"),
        };
        return Err(ParError { index, error });
    }
    if let Some(&(index, _)) = ran.unrun.first() {
        return Err(ParError {
            index,
            error: ran.unrun_error(),
        });
    }
    Ok(ran
        .outputs
        .into_iter()
        .map(|o| match o {
            Some(Ok(v)) => v,
            _ => unreachable!("without an error or an unrun item, every item succeeded"),
        })
        .collect())
}

fn collect<T, R>(ran: engine::Ran<T, Result<R, Error>>) -> ParCollected<R> {
    let mut errors = Vec::new();
    let stop = ran.stop;
    let values = ran
        .outputs
        .into_iter()
        .enumerate()
        .map(|(index, o)| match o {
            Some(Ok(v)) => Some(v),
            Some(Err(error)) => {
                errors.push(ParError { index, error });
                None
            }
            None => {
                errors.push(ParError {
                    index,
                    error: engine::unrun_error(stop),
                });
                None
            }
        })
        .collect();
    ParCollected { values, errors }
}

fn request_settled(r: &Result<Response, Error>) -> Settled {
    match r {
        Ok(res) if res.status() < 400 => Settled::Success,
        _ => Settled::Failure,
    }
}

fn send_item(c: &ParClient<'_>, item: Result<Request, Error>) -> Result<Response, Error> {
    item.and_then(|req| c.send(req))
}

impl<'a, E: Execute> ParCall<'a, E> {
    fn engine<T: Send, O: Send>(
        self,
        items: Vec<T>,
        priorities: Vec<i32>,
        fail_fast: bool,
        work: &engine::Work<'_, T, O>,
    ) -> engine::Ran<T, O> {
        let inner = &*self.par.inner;
        engine::run(
            &inner.pool,
            inner.threads,
            inner,
            &inner.counters,
            items,
            priorities,
            self.options,
            fail_fast,
            work,
        )
    }

    fn requests<I>(requests: I) -> (Vec<Result<Request, Error>>, Vec<i32>)
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
    {
        let items: Vec<_> = requests
            .into_iter()
            .map(IntoBatchItem::into_batch_item)
            .collect();
        let prios = items
            .iter()
            .map(|r| r.as_ref().map_or(0, Request::priority))
            .collect();
        (items, prios)
    }

    /// See [`ParMap::par_map`].
    pub fn map<I, R, F>(self, requests: I, f: F) -> Vec<R>
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
        R: Send,
        F: Fn(Result<Response, Error>) -> R + Sync,
    {
        let (items, prios) = Self::requests(requests);
        let work = |c: &ParClient<'_>, item| {
            let res = send_item(c, item);
            let s = request_settled(&res);
            (f(res), s)
        };
        let ran = self.engine(items, prios, false, &work);
        let mut outputs = ran.outputs;
        for (i, _) in ran.unrun {
            outputs[i] = Some(f(Err(engine::unrun_error(ran.stop))));
        }
        outputs
            .into_iter()
            .map(|o| o.expect("every item ran or was settled as never run"))
            .collect()
    }

    /// See [`ParMap::try_par_map`].
    pub fn try_map<I, R, F>(self, requests: I, f: F) -> Result<Vec<R>, ParError>
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
        R: Send,
        F: Fn(Result<Response, Error>) -> Result<R, Error> + Sync,
    {
        let (items, prios) = Self::requests(requests);
        let work = |c: &ParClient<'_>, item| classify(f(send_item(c, item)));
        try_collect(self.engine(items, prios, true, &work))
    }

    /// See [`ParMap::par_map_collect_errors`].
    pub fn map_collect_errors<I, R, F>(self, requests: I, f: F) -> ParCollected<R>
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
        R: Send,
        F: Fn(Result<Response, Error>) -> Result<R, Error> + Sync,
    {
        let (items, prios) = Self::requests(requests);
        let work = |c: &ParClient<'_>, item| classify(f(send_item(c, item)));
        collect(self.engine(items, prios, false, &work))
    }

    /// A [`Pipeline`] over `items`; see [`ParMap::par_pipeline`].
    pub fn pipeline<I>(self, items: I) -> Pipeline<'a, E, I::Item>
    where
        I: IntoIterator,
        I::Item: Send,
    {
        Pipeline {
            call: self,
            items: items.into_iter().collect(),
            priority: None,
        }
    }
}

/// Rayon-like parallel methods for lists of requests (any `IntoIterator` of [`Request`] or
/// `Result<Request, Error>`) and, through [`par_pipeline`](Self::par_pipeline), of arbitrary
/// items. Implemented for every `IntoIterator`; bring it in with `use httpbatch::prelude::*`.
///
/// The first argument is `&ParExecutor` or [`ParExecutor::with_options`]. Every request goes
/// through the executor stack's [`Execute::execute`], so its own limits (rate limits, per-host
/// caps, retries) hold as well as the `ParExecutor`'s concurrency limit.
///
/// # Panics
///
/// Each method re-raises a panic of its closure (or of the progress callback) once the items in
/// flight have settled. Calling a method from inside an item of the same `ParExecutor` panics
/// (it would wait on the threads it occupies); send nested requests through the [`ParClient`].
pub trait ParMap: IntoIterator + Sized {
    /// Sends every request and maps each outcome with `f` (on the pool's threads); returns the
    /// mapped values in input order. Nothing stops early, except a cancel or a deadline: then `f`
    /// gets the error of each request that was interrupted or never started (the latter on the
    /// calling thread).
    ///
    /// ```
    /// use httpbatch::prelude::*;
    /// use httpbatch::{HttpClient, ParExecutor, Request};
    /// use httpbatch_testserver::Server;
    /// let server = Server::start()?;
    /// let par = ParExecutor::new(HttpClient::new(), 8)?;
    /// let statuses = vec![
    ///     Request::get(&server.url("/status/201")),
    ///     Request::get("not a url"),
    ///     Request::get(&server.url("/status/404")),
    /// ]
    /// .par_map(&par, |res| res.map(|r| r.status()).map_err(|e| e.kind()));
    /// assert_eq!(statuses, [Ok(201), Err(httpbatch::ErrorKind::InvalidUrl), Ok(404)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn par_map<'a, P, R, F>(self, par: P, f: F) -> Vec<R>
    where
        Self::Item: IntoBatchItem,
        P: IntoParCall<'a> + 'a,
        R: Send,
        F: Fn(Result<Response, Error>) -> R + Sync,
    {
        par.into_par_call().map(self, f)
    }

    /// Fail-fast: sends the requests and maps each outcome with `f` until `f` returns the first
    /// `Err` (or the call is cancelled or passes its deadline); from then on nothing more is
    /// dispatched, and the requests in flight finish with their results dropped (cancel through
    /// [`ParOptions::cancel`] to interrupt them). Returns every value in input order, or which
    /// item failed first and why.
    ///
    /// A response with any status is an `Ok` outcome; return `Err` from `f` to treat a status as
    /// a failure.
    ///
    /// ```
    /// use httpbatch::prelude::*;
    /// use httpbatch::{Error, ErrorKind, HttpClient, ParExecutor, Request};
    /// use httpbatch_testserver::Server;
    /// let server = Server::start()?;
    /// let par = ParExecutor::new(HttpClient::new(), 1)?;
    /// let paths = ["/ok", "/ok", "/status/500", "/ok", "/ok"];
    /// let err = paths
    ///     .iter()
    ///     .map(|p| Request::get(&server.url(p)))
    ///     .try_par_map(&par, |res| {
    ///         let r = res?;
    ///         if r.status() >= 400 {
    ///             return Err(Error::new(ErrorKind::Protocol, format!("status {}", r.status())));
    ///         }
    ///         Ok(r.text().into_owned())
    ///     })
    ///     .unwrap_err();
    /// assert_eq!(err.index, 2);
    /// assert_eq!(server.requests(), 3); // concurrency 1: nothing after the failure was sent
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn try_par_map<'a, P, R, F>(self, par: P, f: F) -> Result<Vec<R>, ParError>
    where
        Self::Item: IntoBatchItem,
        P: IntoParCall<'a> + 'a,
        R: Send,
        F: Fn(Result<Response, Error>) -> Result<R, Error> + Sync,
    {
        par.into_par_call().try_map(self, f)
    }

    /// Fail-safe: sends every request, maps each outcome with `f`, and returns every value plus
    /// every error (including the items a cancel or deadline stopped).
    ///
    /// ```
    /// use httpbatch::prelude::*;
    /// use httpbatch::{HttpClient, ParExecutor, Request};
    /// use httpbatch_testserver::Server;
    /// let server = Server::start()?;
    /// let par = ParExecutor::new(HttpClient::new(), 4)?;
    /// let out = ["/bytes/3", "/reset", "/bytes/5"]
    ///     .iter()
    ///     .map(|p| Request::get(&server.url(p)))
    ///     .par_map_collect_errors(&par, |res| res.map(|r| r.body().len()));
    /// assert_eq!(out.values, [Some(3), None, Some(5)]);
    /// assert_eq!(out.errors.len(), 1);
    /// assert_eq!(out.errors[0].index, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn par_map_collect_errors<'a, P, R, F>(self, par: P, f: F) -> ParCollected<R>
    where
        Self::Item: IntoBatchItem,
        P: IntoParCall<'a> + 'a,
        R: Send,
        F: Fn(Result<Response, Error>) -> Result<R, Error> + Sync,
    {
        par.into_par_call().map_collect_errors(self, f)
    }

    /// A [`Pipeline`] over these items: finish it with [`try_run`](Pipeline::try_run)
    /// (fail-fast) or [`run`](Pipeline::run) (fail-safe), optionally after
    /// [`priority`](Pipeline::priority).
    fn par_pipeline<'a, P>(self, par: P) -> Pipeline<'a, P::Executor, Self::Item>
    where
        Self::Item: Send,
        P: IntoParCall<'a> + 'a,
    {
        par.into_par_call().pipeline(self)
    }
}

impl<I: IntoIterator> ParMap for I {}

#[cfg(test)]
mod tests;
