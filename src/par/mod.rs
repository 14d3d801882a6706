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
//! progress work as in [`BatchExecutor::execute_batch`](crate::BatchExecutor::execute_batch) —
//! every form runs on the same engine: pass [`BatchOptions`] (also named
//! [`ParOptions`](crate::ParOptions)) with [`ParExecutor::with_options`]. The input is read lazily
//! and priorities order dispatch among the items read ahead
//! ([`BatchOptions::queue_ahead`](crate::BatchOptions::queue_ahead)). The progress callback runs
//! on the calling thread and never after the call returns; the item closures run on the pool.
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

mod call;
mod map;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::batch::panic_message;
use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::request::Request;
use crate::response::Response;
use crate::run::{BatchOptions, Workers};

pub use self::call::{IntoParCall, ParCall, ParClient, ParCollected, ParError, Pipeline};
pub use self::map::ParMap;
use crate::sync::Semaphore;

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
    workers: Workers,
    permits: Semaphore,
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
    thread_name: String,
}

impl Default for ParExecutorBuilder {
    fn default() -> Self {
        ParExecutorBuilder {
            concurrency: 32,
            threads: None,
            thread_name: "httpbatch-par".into(),
        }
    }
}

impl ParExecutorBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the concurrency limit: the most requests in flight at once, over every call running
    /// on the executor and every request of every item (see [`ParExecutor::concurrency`]).
    /// Defaults to `32`.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Sets the number of pool threads: the most items in progress at once (see
    /// [`ParExecutor::threads`]). More threads than the concurrency limit lets items do other work
    /// (parse, compute) between their requests while other items' requests use the permits.
    /// Defaults to the concurrency limit.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// Sets the thread name prefix (threads are named `PREFIX-0`, `PREFIX-1`, …). Defaults to
    /// `httpbatch-par`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// Starts the pool around `executor`.
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] for a concurrency or thread count outside
    /// `1..=4096`, and [`ErrorKind::Io`] if the first threads cannot be spawned (as many as the
    /// machine has cores start before this returns; the others start in the background).
    pub fn build<E: Execute>(self, executor: E) -> Result<ParExecutor<E>, Error> {
        let threads = self.threads.unwrap_or(self.concurrency);
        for (what, n) in [("concurrency", self.concurrency), ("threads", threads)] {
            if n == 0 || n > 4096 {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!("{what} must be in 1..=4096, got {n}"),
                ));
            }
        }
        let workers = Workers::new(threads, &self.thread_name)?;
        Ok(ParExecutor {
            inner: Box::new(Inner {
                executor,
                workers,
                permits: Semaphore::new(self.concurrency),
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
/// The pool's threads are joined when the executor is dropped (or by
/// [`into_inner`](Self::into_inner)). Share it across threads by reference or in an `Arc`.
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
    inner: Box<Inner<E>>,
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

    /// The wrapped executor, mutably.
    pub fn get_mut(&mut self) -> &mut E {
        &mut self.inner.executor
    }

    /// Stops the pool (joining its threads) and returns the wrapped executor.
    pub fn into_inner(self) -> E {
        self.inner.workers.shutdown();
        self.inner.executor
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
    pub fn with_options<'a>(&'a self, options: BatchOptions<'a>) -> ParCall<'a, E> {
        ParCall::new(self, options)
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

#[cfg(test)]
mod tests;
