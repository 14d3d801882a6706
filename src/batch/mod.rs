//! BatchExecutor: runs batches of requests on a reusable pool of worker threads.
//!
//! How a batch runs (invariants):
//! - The caller's thread owns the batch: it submits `min(concurrency, workers)` runner jobs to the
//!   pool, then receives every outcome over a channel and runs every callback itself. So callbacks
//!   need not be `Send`, and none runs after `execute_batch` returns.
//! - Runners pop `(index, request)` from the batch's queue under its mutex and count the pop there.
//!   Stopping the batch (cancel, deadline, fail-fast, shutdown) closes the queue under the same
//!   mutex; from then on the number popped is fixed, the caller waits for exactly that many
//!   outcomes (in-flight requests are interrupted through the batch's cancel token), and every
//!   index never popped is settled by the caller as cancelled or not run. Every input ends with
//!   exactly one outcome.
//! - Executor panics are caught per item in the runner (the item fails with `Panicked`); callback
//!   panics are caught on the caller, stop the batch, and are re-raised once it has settled.

mod pool;

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use parking_lot::Mutex;

use crate::error::{Error, ErrorKind};
use crate::execute::{CancelReason, CancelToken, Context, Execute, InflightSlot};
use crate::request::Request;
use crate::response::Response;
use crate::stats::{Latency, LatencySummary, rate};

use self::pool::WorkerPool;

/// The outcome of one request of a batch. Every input gets exactly one, in input order.
#[derive(Debug)]
pub enum Outcome {
    /// The server answered (any status: a 404 is a response, not an error). Boxed so that an
    /// outcome is two words: a batch moves and stores outcomes by the hundred thousand.
    Response(Box<Response>),
    /// The request failed; [`Error::kind`] says how.
    Error(Error),
    /// The batch was cancelled (or the executor shut down) before or while this request ran.
    Cancelled,
    /// Never started: fail-fast tripped or the batch deadline passed first.
    NotRun,
}

impl Outcome {
    /// A response with a 1xx–3xx status.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Response(r) if r.status() < 400)
    }

    /// The response, if any.
    pub fn response(&self) -> Option<&Response> {
        match self {
            Outcome::Response(r) => Some(r),
            _ => None,
        }
    }

    /// The error, if any.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Error(e) => Some(e),
            _ => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        self.response().map(Response::status)
    }

    /// `"response"`, `"error"`, `"cancelled"` or `"not_run"`.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Outcome::Response(_) => "response",
            Outcome::Error(_) => "error",
            Outcome::Cancelled => "cancelled",
            Outcome::NotRun => "not_run",
        }
    }

    /// Converts to a `Result`, with `Cancelled`/`NotRun` as errors of those kinds.
    pub fn into_result(self) -> Result<Response, Error> {
        match self {
            Outcome::Response(r) => Ok(*r),
            Outcome::Error(e) => Err(e),
            Outcome::Cancelled => Err(Error::cancelled()),
            Outcome::NotRun => Err(Error::new(ErrorKind::NotRun, "not run")),
        }
    }

    fn from_result(r: Result<Response, Error>) -> Outcome {
        match r {
            Ok(r) => Outcome::Response(Box::new(r)),
            Err(e) => match e.kind() {
                ErrorKind::Cancelled => Outcome::Cancelled,
                ErrorKind::NotRun => Outcome::NotRun,
                _ => Outcome::Error(e),
            },
        }
    }
}

/// An input of a batch: a request, or the error that building it produced. Errors end as
/// [`Outcome::Error`] in their own slot, without stopping the rest.
pub trait IntoBatchItem {
    /// The request, or why there is none.
    fn into_batch_item(self) -> Result<Request, Error>;
}

impl IntoBatchItem for Request {
    fn into_batch_item(self) -> Result<Request, Error> {
        Ok(self)
    }
}

impl IntoBatchItem for Result<Request, Error> {
    fn into_batch_item(self) -> Result<Request, Error> {
        self
    }
}

/// Progress of a running batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressSnapshot {
    /// Outcomes settled so far (of any kind).
    pub completed: usize,
    /// Requests in the batch.
    pub total: usize,
    /// Responses with a status below 400.
    pub succeeded: usize,
    /// Everything else settled: error statuses, errors, cancelled, not run.
    pub failed: usize,
    /// `completed / total` in percent (100 for an empty batch).
    pub percent: f64,
    /// Time since the batch started.
    pub elapsed: Duration,
    /// Outcomes per second so far.
    pub throughput: f64,
    /// Estimated time remaining at the current throughput, once it can be estimated.
    pub eta: Option<Duration>,
}

impl ProgressSnapshot {
    /// The snapshot of a run that started at `start`, as of `now`. Shared with `par`, so both
    /// report progress by the same formulas.
    pub(crate) fn compute(
        start: Instant,
        now: Instant,
        total: usize,
        completed: usize,
        succeeded: usize,
    ) -> ProgressSnapshot {
        let elapsed = now.duration_since(start);
        let throughput = rate(completed as u64, elapsed);
        let left = total - completed;
        ProgressSnapshot {
            completed,
            total,
            succeeded,
            failed: completed - succeeded,
            percent: if total == 0 {
                100.0
            } else {
                completed as f64 * 100.0 / total as f64
            },
            elapsed,
            throughput,
            eta: if left == 0 {
                Some(Duration::ZERO)
            } else if throughput > 0.0 {
                Some(Duration::from_secs_f64(left as f64 / throughput))
            } else {
                None
            },
        }
    }
}

/// A per-item or batch event, delivered on the calling thread.
#[derive(Debug)]
pub enum BatchEvent<'a> {
    /// A worker started request `index`.
    Started {
        /// Input index.
        index: usize,
    },
    /// Request `index` got a response with a status below 400.
    Completed {
        /// Input index.
        index: usize,
        /// The response.
        response: &'a Response,
    },
    /// Request `index` settled without a successful response.
    Failed {
        /// Input index.
        index: usize,
        /// Its outcome.
        outcome: &'a Outcome,
    },
    /// Every request has settled; no callback follows.
    Drained {
        /// The batch's summary.
        summary: &'a BatchSummary,
    },
}

type ProgressFn<'a> = Box<dyn FnMut(&ProgressSnapshot) + 'a>;
type EventFn<'a> = Box<dyn FnMut(&BatchEvent<'_>) + 'a>;

/// Options of one batch. Callbacks run on the thread that called `execute_batch`, never after it
/// returns, so they may borrow locals and need not be `Send`.
///
/// ```
/// use httpbatch::{BatchOptions, CancelToken};
/// use std::time::Duration;
/// let token = CancelToken::new();
/// let mut calls = 0;
/// let opts = BatchOptions::new()
///     .cancel(token.clone())
///     .batch_timeout(Duration::from_secs(30))
///     .concurrency(8)
///     .fail_fast(true)
///     .on_progress(Duration::from_millis(100), |p| {
///         calls += 1;
///         eprintln!("{:.0}% ({}/{})", p.percent, p.completed, p.total);
///     });
/// # drop(opts);
/// ```
#[derive(Default)]
pub struct BatchOptions<'a> {
    cancel: Option<CancelToken>,
    deadline: Option<Instant>,
    batch_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    concurrency: Option<usize>,
    fail_fast: bool,
    progress: Option<(Duration, ProgressFn<'a>)>,
    events: Option<EventFn<'a>>,
}

impl fmt::Debug for BatchOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchOptions")
            .field("cancel", &self.cancel)
            .field("deadline", &self.deadline)
            .field("batch_timeout", &self.batch_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("concurrency", &self.concurrency)
            .field("fail_fast", &self.fail_fast)
            .field("progress", &self.progress.as_ref().map(|p| p.0))
            .field("events", &self.events.is_some())
            .finish()
    }
}

impl<'a> BatchOptions<'a> {
    /// No cancel token, no deadline, the executor's concurrency, no callbacks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the batch when `token` is cancelled (from any thread).
    pub fn cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Stops the batch at `deadline`: requests not started end [`Outcome::NotRun`], requests in
    /// flight are interrupted and fail with [`ErrorKind::DeadlineExceeded`].
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// A deadline `timeout` after the batch starts.
    pub fn batch_timeout(mut self, timeout: Duration) -> Self {
        self.batch_timeout = Some(timeout);
        self
    }

    /// The timeout of each request that sets none.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// At most `n` requests of this batch in flight at once (capped by the worker count).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// After the first failure (an error or a status ≥ 400), start nothing more: the requests not
    /// yet started end [`Outcome::NotRun`].
    pub fn fail_fast(mut self, yes: bool) -> Self {
        self.fail_fast = yes;
        self
    }

    /// Calls `f` at most once per `min_interval` while the batch runs, and once at the end with
    /// every outcome settled (100 %).
    pub fn on_progress(
        mut self,
        min_interval: Duration,
        f: impl FnMut(&ProgressSnapshot) + 'a,
    ) -> Self {
        self.progress = Some((min_interval, Box::new(f)));
        self
    }

    /// Calls `f` for every [`BatchEvent`].
    pub fn on_event(mut self, f: impl FnMut(&BatchEvent<'_>) + 'a) -> Self {
        self.events = Some(Box::new(f));
        self
    }
}

/// What a batch did, without the outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchSummary {
    /// Inputs.
    pub total: usize,
    /// Responses with a status below 400.
    pub succeeded: usize,
    /// Responses, any status.
    pub responses: usize,
    /// Responses by status class: index 0 is 1xx, … 4 is 5xx.
    pub status_classes: [usize; 5],
    /// Errors (not counting cancelled and not run).
    pub errors: usize,
    /// Cancelled.
    pub cancelled: usize,
    /// Not run.
    pub not_run: usize,
    /// Wall time of the batch.
    pub duration: Duration,
    /// Outcomes per second.
    pub throughput: f64,
    /// Latency of the requests that ran (start to outcome).
    pub latency: LatencySummary,
}

impl BatchSummary {
    /// Inputs without a successful response.
    pub fn failed(&self) -> usize {
        self.total - self.succeeded
    }
}

/// The outcomes of a batch, in input order, and its summary.
#[derive(Debug)]
pub struct BatchResult {
    /// One outcome per input, in input order.
    pub outcomes: Vec<Outcome>,
    /// Counts, duration, latency.
    pub summary: BatchSummary,
}

/// Executor-wide statistics since creation or the last [`BatchExecutor::reset_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchStats {
    /// Batches run.
    pub batches: u64,
    /// Requests submitted.
    pub requests: u64,
    /// Outcomes settled.
    pub completed: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// Responses by status class: index 0 is 1xx, … 4 is 5xx.
    pub status_classes: [u64; 5],
    /// Errors by kind (in code order); read one with [`BatchStats::errors_of`].
    pub errors: [u64; ErrorKind::COUNT],
    /// Cancelled outcomes.
    pub cancelled: u64,
    /// Not-run outcomes.
    pub not_run: u64,
    /// Latency of the requests that ran.
    pub latency: LatencySummary,
    /// Outcomes per second since creation or reset.
    pub throughput: f64,
    /// Time since creation or reset.
    pub elapsed: Duration,
}

impl BatchStats {
    /// Errors of `kind`.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    /// All errors.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    requests: AtomicU64,
    completed: AtomicU64,
    in_flight: AtomicU64,
    classes: [AtomicU64; 5],
    errors: [AtomicU64; ErrorKind::COUNT],
    cancelled: AtomicU64,
    not_run: AtomicU64,
}

struct Shared<E> {
    executor: E,
    pool: WorkerPool,
    shutdown: CancelToken,
    counters: Counters,
    latency: Mutex<Latency>,
    since: Mutex<Instant>,
}

/// Builds a [`BatchExecutor`].
#[derive(Debug, Clone)]
#[must_use]
pub struct BatchExecutorBuilder {
    workers: usize,
    name: String,
}

impl Default for BatchExecutorBuilder {
    fn default() -> Self {
        BatchExecutorBuilder {
            workers: 32,
            name: "httpbatch-worker".into(),
        }
    }
}

impl BatchExecutorBuilder {
    /// Sets the number of worker threads.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Worker threads, created once and reused by every batch: the most requests in flight at
    /// once. Defaults to `32`.
    pub fn get_workers(&self) -> usize {
        self.workers
    }

    /// Sets the thread name prefix (threads are named `PREFIX-0`, `PREFIX-1`, …).
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.name = prefix.into();
        self
    }

    /// Thread name prefix. Defaults to `httpbatch-worker`.
    pub fn get_thread_name(&self) -> &str {
        &self.name
    }

    /// Starts the workers around `executor`.
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] for zero workers (or more than 4096), and
    /// [`ErrorKind::Io`] if a thread cannot be spawned.
    pub fn build<E: Execute + 'static>(self, executor: E) -> Result<BatchExecutor<E>, Error> {
        if self.workers == 0 || self.workers > 4096 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("workers must be in 1..=4096, got {}", self.workers),
            ));
        }
        let pool = WorkerPool::new(self.workers, &self.name)?;
        Ok(BatchExecutor {
            shared: Arc::new(Shared {
                executor,
                pool,
                shutdown: CancelToken::new(),
                counters: Counters::default(),
                latency: Mutex::new(Latency::default()),
                since: Mutex::new(Instant::now()),
            }),
        })
    }
}

/// Runs batches of requests on a pool of worker threads over any [`Execute`] stack.
///
/// - One outcome per input, in input order: [`Outcome::Response`] (any status), `Error`,
///   `Cancelled` or `NotRun`; never an empty slot.
/// - Worker threads are created once and reused; a batch may cap its own concurrency.
/// - A cancel token and a deadline reach queued work, rate-limiter waits, retry backoff and
///   sockets in flight; the call returns promptly with partial results.
/// - Progress and events are delivered on the calling thread.
///
/// ```
/// use httpbatch::{BatchExecutor, BatchOptions, HttpClient, Request, loopback::Server};
///
/// let server = Server::start().unwrap();
/// let executor = BatchExecutor::builder().workers(8).build(HttpClient::new()).unwrap();
/// let requests: Vec<_> = ["/ok", "/status/404", "/status/503"]
///     .iter()
///     .map(|p| Request::get(&server.url(p)))
///     .collect();
/// let result = executor.execute_batch(requests, BatchOptions::new());
/// let statuses: Vec<_> = result.outcomes.iter().map(|o| o.status()).collect();
/// assert_eq!(statuses, [Some(200), Some(404), Some(503)]);
/// assert_eq!(result.summary.succeeded, 1);
/// ```
pub struct BatchExecutor<E: Execute + 'static> {
    shared: Arc<Shared<E>>,
}

impl<E: Execute + 'static> fmt::Debug for BatchExecutor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchExecutor")
            .field("workers", &self.shared.pool.size())
            .field("shut_down", &self.shared.pool.is_shut_down())
            .finish()
    }
}

impl BatchExecutor<crate::HttpClient> {
    /// A builder; see [`BatchExecutorBuilder`].
    pub fn builder() -> BatchExecutorBuilder {
        BatchExecutorBuilder::default()
    }
}

enum Msg {
    Started(usize),
    Done {
        index: usize,
        outcome: Outcome,
        ran: Duration,
    },
    Wake,
}

struct Queue {
    requests: std::vec::IntoIter<Request>,
    /// Input index of each queued request, when priorities reordered them.
    order: Option<std::vec::IntoIter<usize>>,
    next: usize,
    popped: usize,
    closed: bool,
}

struct Batch {
    queue: Mutex<Queue>,
    stop: CancelToken,
    start: Instant,
    request_timeout: Option<Duration>,
    fail_fast: bool,
    send_started: bool,
}

impl Batch {
    fn pop(&self) -> Option<(usize, Request)> {
        let mut q = self.queue.lock();
        if q.closed || self.stop.is_cancelled() {
            return None;
        }
        let req = q.requests.next()?;
        let index = match &mut q.order {
            Some(order) => order.next().expect("order has one index per request"),
            None => q.next,
        };
        q.next += 1;
        q.popped += 1;
        Some((index, req))
    }

    fn is_closed(&self) -> bool {
        self.queue.lock().closed
    }

    /// Closes the queue; returns how many requests were ever popped.
    fn close(&self) -> usize {
        let mut q = self.queue.lock();
        q.closed = true;
        q.popped
    }
}

fn run_batch<E: Execute + 'static>(shared: &Shared<E>, batch: &Batch, tx: &Sender<Msg>) {
    let slot = Arc::new(InflightSlot::default());
    let canceller = slot.clone();
    let _registered = batch.stop.on_cancel(Arc::new(move || canceller.cancel()));
    let ctx = Context::new()
        .with_cancel(batch.stop.clone())
        .with_slot(slot);
    while let Some((index, mut req)) = batch.pop() {
        if batch.send_started {
            let _ = tx.send(Msg::Started(index));
        }
        if req.timeout().is_none() {
            req.set_timeout(batch.request_timeout);
        }
        shared.counters.in_flight.fetch_add(1, Ordering::Relaxed);
        let began = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| shared.executor.execute(req, &ctx)))
            .unwrap_or_else(|p| {
                Err(Error::new(
                    ErrorKind::Panicked,
                    format!("executor panicked: {}", panic_message(&*p)),
                ))
            });
        let ran = began.elapsed();
        shared.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        let mut outcome = match result {
            // A request interrupted by a stopped batch reports why the batch stopped.
            Err(e) if e.kind() == ErrorKind::Cancelled || e.kind() == ErrorKind::Timeout => {
                match batch.stop.reason() {
                    Some(CancelReason::Deadline) => {
                        Outcome::Error(Error::deadline_exceeded().with_attempts(e.attempts()))
                    }
                    Some(CancelReason::User | CancelReason::Shutdown) => Outcome::Cancelled,
                    _ => Outcome::from_result(Err(e)),
                }
            }
            r => Outcome::from_result(r),
        };
        if let Outcome::Response(r) = &mut outcome {
            let t = r.timings_mut();
            t.queued = began.duration_since(batch.start);
            t.total = t.queued + ran;
        }
        // Fail-fast starts nothing more but lets requests in flight finish. Close before sending,
        // so the caller sees the queue closed when it handles this outcome.
        if batch.fail_fast && !outcome.is_success() {
            batch.close();
        }
        let _ = tx.send(Msg::Done {
            index,
            outcome,
            ran,
        });
    }
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

impl<E: Execute + 'static> BatchExecutor<E> {
    /// An executor with `workers` threads around `executor`.
    pub fn new(executor: E, workers: usize) -> Result<Self, Error> {
        BatchExecutorBuilder::default()
            .workers(workers)
            .build(executor)
    }

    /// The wrapped executor (to reach its statistics).
    pub fn get_ref(&self) -> &E {
        &self.shared.executor
    }

    /// The wrapped executor, mutably, when no batch is running on another thread.
    pub fn get_mut(&mut self) -> Option<&mut E> {
        Arc::get_mut(&mut self.shared).map(|s| &mut s.executor)
    }

    /// Shuts the workers down and returns the wrapped executor.
    pub fn into_inner(self) -> E {
        self.shutdown();
        let mut shared = self.shared.clone();
        drop(self);
        loop {
            match Arc::try_unwrap(shared) {
                Ok(s) => return s.executor,
                // A runner job of a batch that already returned may still be unwinding on a
                // worker that shutdown could not join (only when called from a worker).
                Err(s) => {
                    shared = s;
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.pool.size()
    }

    /// Stops the executor: running batches end their queued and in-flight work as cancelled,
    /// later batches fail every request with [`ErrorKind::Stopped`], and the workers are joined.
    /// Idempotent; also done on drop.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel_with(CancelReason::Shutdown);
        self.shared.pool.shutdown();
    }

    /// Executor-wide statistics.
    pub fn stats(&self) -> BatchStats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let elapsed = self.shared.since.lock().elapsed();
        let completed = load(&c.completed);
        BatchStats {
            batches: load(&c.batches),
            requests: load(&c.requests),
            completed,
            in_flight: load(&c.in_flight),
            status_classes: std::array::from_fn(|i| load(&c.classes[i])),
            errors: std::array::from_fn(|i| load(&c.errors[i])),
            cancelled: load(&c.cancelled),
            not_run: load(&c.not_run),
            latency: self.shared.latency.lock().summary(),
            throughput: rate(completed, elapsed),
            elapsed,
        }
    }

    /// Zeroes the statistics (the in-flight gauge is left alone: it is a level, not a count).
    pub fn reset_stats(&self) {
        let c = &self.shared.counters;
        for a in [
            &c.batches,
            &c.requests,
            &c.completed,
            &c.cancelled,
            &c.not_run,
        ]
        .into_iter()
        .chain(&c.classes)
        .chain(&c.errors)
        {
            a.store(0, Ordering::Relaxed);
        }
        self.shared.latency.lock().reset();
        *self.shared.since.lock() = Instant::now();
    }

    /// Runs every request and returns one outcome per input, in input order.
    ///
    /// Inputs may be [`Request`]s or `Result<Request, Error>`s: an `Err` input ends as
    /// [`Outcome::Error`] in its slot without affecting the rest. Returns when every outcome has
    /// settled: all ran, or the batch was cancelled / timed out / failed fast and the requests in
    /// flight were interrupted.
    ///
    /// # Panics
    ///
    /// Re-raises a panic of a progress or event callback, after the batch has settled.
    pub fn execute_batch<I>(&self, requests: I, options: BatchOptions<'_>) -> BatchResult
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
    {
        // Each slot is two words (the response is boxed), so placing outcomes by index costs
        // little memory and no sort.
        let mut slots: Vec<Option<Outcome>> = Vec::new();
        let summary = self.run(requests, options, &mut |index, outcome| {
            if index >= slots.len() {
                slots.resize_with(index + 1, || None);
            }
            debug_assert!(slots[index].is_none(), "index {index} settled twice");
            slots[index] = Some(outcome);
        });
        BatchResult {
            outcomes: slots
                .into_iter()
                .map(|o| o.expect("every input settles exactly once"))
                .collect(),
            summary,
        }
    }

    /// Runs every request and hands each outcome to `consumer` as it settles (in completion
    /// order, with its input index), without keeping responses: the form for huge batches.
    /// `consumer` runs on the calling thread. Every index in `0..total` is delivered exactly
    /// once.
    ///
    /// ```
    /// use httpbatch::{BatchExecutor, BatchOptions, HttpClient, Request, loopback::Server};
    /// let server = Server::start().unwrap();
    /// let executor = BatchExecutor::new(HttpClient::new(), 4).unwrap();
    /// let requests = (0..100).map(|_| Request::get(&server.url("/bytes/64")));
    /// let mut bytes = 0;
    /// let summary = executor.execute_streaming(requests, BatchOptions::new(), |_index, outcome| {
    ///     bytes += outcome.response().map_or(0, |r| r.body().len());
    /// });
    /// assert_eq!((summary.succeeded, bytes), (100, 6400));
    /// ```
    pub fn execute_streaming<I>(
        &self,
        requests: I,
        options: BatchOptions<'_>,
        mut consumer: impl FnMut(usize, Outcome),
    ) -> BatchSummary
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
    {
        self.run(requests, options, &mut consumer)
    }

    fn run<I>(
        &self,
        requests: I,
        mut options: BatchOptions<'_>,
        consumer: &mut dyn FnMut(usize, Outcome),
    ) -> BatchSummary
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
    {
        let start = Instant::now();
        let shared = &self.shared;
        let mut state = Settle::new(start);
        let mut callback_panic: Option<Box<dyn Any + Send>> = None;

        // Split valid requests from inputs that failed to build; the latter settle at once.
        let mut valid = Vec::new();
        let mut index_of = Vec::new();
        let mut invalid = Vec::new();
        for (i, item) in requests.into_iter().enumerate() {
            match item.into_batch_item() {
                Ok(r) => {
                    valid.push(r);
                    index_of.push(i);
                }
                Err(e) => invalid.push((i, e)),
            }
        }
        let total = valid.len() + invalid.len();
        state.total = total;
        shared.counters.batches.fetch_add(1, Ordering::Relaxed);
        shared
            .counters
            .requests
            .fetch_add(total as u64, Ordering::Relaxed);

        let mut deliver = |state: &mut Settle,
                           options: &mut BatchOptions<'_>,
                           panic: &mut Option<Box<dyn Any + Send>>,
                           index: usize,
                           outcome: Outcome| {
            state.count(&outcome, &shared.counters);
            if panic.is_none() {
                if let Some(f) = options.events.as_mut() {
                    let ev = match &outcome {
                        Outcome::Response(r) if r.status() < 400 => {
                            BatchEvent::Completed { index, response: r }
                        }
                        o => BatchEvent::Failed { index, outcome: o },
                    };
                    if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&ev))) {
                        *panic = Some(p);
                    }
                }
            }
            consumer(index, outcome);
        };

        for (i, e) in invalid {
            deliver(
                &mut state,
                &mut options,
                &mut callback_panic,
                i,
                Outcome::Error(e),
            );
        }

        // With no index map needed (every input valid and no priorities), runners use positions.
        let has_priorities = valid.iter().any(|r| r.priority() != 0);
        let all_valid = index_of.len() == total;
        let order = if has_priorities {
            let mut perm: Vec<usize> = (0..valid.len()).collect();
            perm.sort_by_key(|&k| std::cmp::Reverse(valid[k].priority()));
            let mut slots: Vec<Option<Request>> = valid.into_iter().map(Some).collect();
            valid = perm
                .iter()
                .map(|&k| slots[k].take().expect("each position taken once"))
                .collect();
            Some(perm.into_iter().map(|k| index_of[k]).collect::<Vec<_>>())
        } else if all_valid {
            None
        } else {
            Some(index_of)
        };
        let queued = valid.len();

        let stop = CancelToken::new();
        let (tx, rx): (Sender<Msg>, Receiver<Msg>) = unbounded();
        let batch = Arc::new(Batch {
            queue: Mutex::new(Queue {
                requests: valid.into_iter(),
                order: order.map(Vec::into_iter),
                next: 0,
                popped: 0,
                closed: false,
            }),
            stop: stop.clone(),
            start,
            request_timeout: options.request_timeout,
            fail_fast: options.fail_fast,
            send_started: options.events.is_some(),
        });
        let wake = tx.clone();
        let _wake_guard = stop.on_cancel(Arc::new(move || {
            let _ = wake.send(Msg::Wake);
        }));
        let stop_on_user = stop.clone();
        let _user_guard = options.cancel.as_ref().map(|t| {
            t.on_cancel(Arc::new(move || {
                stop_on_user.cancel_with(CancelReason::User);
            }))
        });
        let stop_on_shutdown = stop.clone();
        let _shutdown_guard = shared.shutdown.on_cancel(Arc::new(move || {
            stop_on_shutdown.cancel_with(CancelReason::Shutdown);
        }));

        let runners = options
            .concurrency
            .unwrap_or(usize::MAX)
            .min(shared.pool.size())
            .min(queued);
        for _ in 0..runners {
            let shared = self.shared.clone();
            let batch = batch.clone();
            let tx = tx.clone();
            let job = Box::new(move || run_batch(&shared, &batch, &tx));
            if self.shared.pool.submit(job).is_err() {
                stop.cancel_with(CancelReason::Shutdown);
                break;
            }
        }
        drop(tx);

        let deadline = match (options.deadline, options.batch_timeout) {
            (Some(d), Some(t)) => Some(d.min(start + t)),
            (d, t) => d.or(t.map(|t| start + t)),
        };
        let mut expected = if stop.is_cancelled() {
            Some(batch.close())
        } else {
            None
        };
        let mut done = 0usize;
        let mut last_progress = start;

        loop {
            if expected.is_none_or(|e| done < e) && done < queued {
                let mut wait_until = deadline;
                if let Some((every, _)) = &options.progress {
                    let tick = last_progress + *every;
                    wait_until = Some(wait_until.map_or(tick, |d| d.min(tick)));
                }
                let msg = match wait_until {
                    Some(t) => rx.recv_deadline(t),
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match msg {
                    Ok(Msg::Done {
                        index,
                        outcome,
                        ran,
                    }) => {
                        done += 1;
                        if matches!(outcome, Outcome::Response(_) | Outcome::Error(_)) {
                            state.latency.record(ran);
                            shared.latency.lock().record(ran);
                        }
                        deliver(
                            &mut state,
                            &mut options,
                            &mut callback_panic,
                            index,
                            outcome,
                        );
                    }
                    Ok(Msg::Started(index)) => {
                        if callback_panic.is_none() {
                            if let Some(f) = options.events.as_mut() {
                                let ev = BatchEvent::Started { index };
                                if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&ev))) {
                                    callback_panic = Some(p);
                                }
                            }
                        }
                    }
                    Ok(Msg::Wake) => {}
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        // Every runner has exited; whatever was never popped settles below.
                        if expected.is_none() {
                            expected = Some(batch.close());
                        }
                        if expected.is_some_and(|e| done >= e) {
                            continue;
                        }
                        // Unreachable in practice: runners send before they exit.
                        break;
                    }
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    stop.cancel_with(CancelReason::Deadline);
                }
                if callback_panic.is_some() {
                    stop.cancel_with(CancelReason::User);
                }
                if expected.is_none() && (stop.is_cancelled() || batch.is_closed()) {
                    expected = Some(batch.close());
                }
                if callback_panic.is_none() {
                    if let Some((every, f)) = options.progress.as_mut() {
                        let now = Instant::now();
                        if now.duration_since(last_progress) >= *every {
                            last_progress = now;
                            let snap = state.snapshot(now);
                            if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&snap))) {
                                callback_panic = Some(p);
                            }
                        }
                    }
                }
                continue;
            }
            break;
        }

        // Settle what never started.
        let popped = batch.close();
        let never = match stop.reason() {
            Some(CancelReason::User | CancelReason::Shutdown) => Outcome::Cancelled,
            _ => Outcome::NotRun,
        };
        let shut_down_before_start = self.shared.pool.is_shut_down() && popped == 0;
        let mut rest = std::mem::replace(
            &mut *batch.queue.lock(),
            Queue {
                requests: Vec::new().into_iter(),
                order: None,
                next: 0,
                popped: 0,
                closed: true,
            },
        );
        let mut next = rest.next;
        while rest.requests.next().is_some() {
            let index = match &mut rest.order {
                Some(o) => o.next().expect("order has one index per request"),
                None => next,
            };
            next += 1;
            let outcome = if shut_down_before_start {
                Outcome::Error(Error::stopped("the batch executor"))
            } else {
                match never {
                    Outcome::Cancelled => Outcome::Cancelled,
                    _ => Outcome::NotRun,
                }
            };
            deliver(
                &mut state,
                &mut options,
                &mut callback_panic,
                index,
                outcome,
            );
        }

        let summary = state.summary(Instant::now());
        if callback_panic.is_none() {
            if let Some((_, f)) = options.progress.as_mut() {
                let snap = state.snapshot(Instant::now());
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&snap))) {
                    callback_panic = Some(p);
                }
            }
        }
        if callback_panic.is_none() {
            if let Some(f) = options.events.as_mut() {
                let ev = BatchEvent::Drained { summary: &summary };
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&ev))) {
                    callback_panic = Some(p);
                }
            }
        }
        if let Some(p) = callback_panic {
            resume_unwind(p);
        }
        summary
    }
}

impl<E: Execute + 'static> Drop for BatchExecutor<E> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Counting on the caller's thread.
struct Settle {
    start: Instant,
    total: usize,
    completed: usize,
    succeeded: usize,
    responses: usize,
    classes: [usize; 5],
    errors: usize,
    cancelled: usize,
    not_run: usize,
    latency: Latency,
}

impl Settle {
    fn new(start: Instant) -> Settle {
        Settle {
            start,
            total: 0,
            completed: 0,
            succeeded: 0,
            responses: 0,
            classes: [0; 5],
            errors: 0,
            cancelled: 0,
            not_run: 0,
            latency: Latency::default(),
        }
    }

    fn count(&mut self, o: &Outcome, c: &Counters) {
        self.completed += 1;
        c.completed.fetch_add(1, Ordering::Relaxed);
        match o {
            Outcome::Response(r) => {
                self.responses += 1;
                if r.status() < 400 {
                    self.succeeded += 1;
                }
                let class = (usize::from(r.status() / 100)).clamp(1, 5) - 1;
                self.classes[class] += 1;
                c.classes[class].fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Error(e) => {
                self.errors += 1;
                c.errors[e.kind().index()].fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Cancelled => {
                self.cancelled += 1;
                c.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::NotRun => {
                self.not_run += 1;
                c.not_run.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn snapshot(&self, now: Instant) -> ProgressSnapshot {
        ProgressSnapshot::compute(self.start, now, self.total, self.completed, self.succeeded)
    }

    fn summary(&self, now: Instant) -> BatchSummary {
        let duration = now.duration_since(self.start);
        BatchSummary {
            total: self.total,
            succeeded: self.succeeded,
            responses: self.responses,
            status_classes: self.classes,
            errors: self.errors,
            cancelled: self.cancelled,
            not_run: self.not_run,
            duration,
            throughput: rate(self.completed as u64, duration),
            latency: self.latency.summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _assert_send_sync() {
        fn is<T: Send + Sync>() {}
        is::<BatchExecutor<crate::HttpClient>>();
        is::<Outcome>();
    }

    #[test]
    fn outcome_is_two_words() {
        assert!(std::mem::size_of::<Outcome>() <= 2 * std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Option<Outcome>>(),
            std::mem::size_of::<Outcome>()
        );
    }

    /// Answers with the status in the URL's last path segment, without a network.
    struct Echo;

    impl Execute for Echo {
        fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
            ctx.check()?;
            let status = req
                .url()
                .as_str()
                .rsplit('/')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(200);
            if status == 999 {
                panic!("boom");
            }
            Ok(Response::new(status, Vec::new()).with_tag(req.tag()))
        }
    }

    #[test]
    fn order_kept_and_panics_caught() {
        let ex = BatchExecutor::new(Echo, 4).unwrap();
        let reqs: Vec<_> = (0..200)
            .map(|i| {
                let s = if i == 7 { 999 } else { 200 + i % 3 };
                Request::builder(crate::Method::Get, &format!("http://h/{s}"))
                    .tag(i)
                    .build()
            })
            .collect();
        let r = ex.execute_batch(reqs, BatchOptions::new());
        assert_eq!(r.outcomes.len(), 200);
        for (i, o) in r.outcomes.iter().enumerate() {
            if i == 7 {
                assert_eq!(o.error().unwrap().kind(), ErrorKind::Panicked);
            } else {
                let res = o.response().unwrap();
                assert_eq!(res.tag(), i as u64);
                assert_eq!(res.status(), 200 + (i as u16) % 3);
            }
        }
        // The worker that caught the panic still serves the next batch.
        let again = ex.execute_batch(
            vec![Request::get("http://h/204").unwrap()],
            BatchOptions::new(),
        );
        assert_eq!(again.outcomes[0].status(), Some(204));
    }

    #[test]
    fn empty_batch_and_fresh_stats() {
        let ex = BatchExecutor::new(Echo, 2).unwrap();
        let s = ex.stats();
        assert_eq!(s.throughput, 0.0);
        assert_eq!(s.latency, LatencySummary::default());
        let mut last = None;
        let r = ex.execute_batch(
            Vec::<Request>::new(),
            BatchOptions::new().on_progress(Duration::ZERO, |p| last = Some(*p)),
        );
        assert!(r.outcomes.is_empty());
        assert_eq!(last.unwrap().percent, 100.0);
    }

    #[test]
    fn shut_down_executor_fails_new_batches_with_stopped() {
        let ex = BatchExecutor::new(Echo, 2).unwrap();
        ex.shutdown();
        let r = ex.execute_batch(
            vec![Request::get("http://h/200").unwrap()],
            BatchOptions::new(),
        );
        assert_eq!(r.outcomes[0].error().unwrap().kind(), ErrorKind::Stopped);
    }

    #[test]
    fn callback_panic_is_reraised_after_settling() {
        let ex = BatchExecutor::new(Echo, 2).unwrap();
        let reqs: Vec<_> = (0..50).map(|_| Request::get("http://h/200")).collect();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            ex.execute_batch(
                reqs,
                BatchOptions::new().on_event(|e| {
                    if let BatchEvent::Completed { index: 3, .. } = e {
                        panic!("callback boom")
                    }
                }),
            )
        }));
        let p = caught.unwrap_err();
        assert_eq!(panic_message(&*p), "callback boom");
        assert_eq!(ex.stats().in_flight, 0);
    }
}
