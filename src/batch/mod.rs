//! BatchExecutor: batches and streaming runs of requests on a reusable pool of worker threads,
//! over the one run engine ([`crate::run`]).
//!
//! This file maps the engine to requests: each item is a [`Request`] (or the error building it
//! produced, which settles in its slot at once); a runner sends it through the executor stack
//! under the run's [`Context`] and turns the result into an [`Outcome`]. Executor panics are
//! caught per item (the item fails with `Panicked`); counting and events run on the caller's
//! thread in [`BatchSink`].

mod outcome;
mod stats;

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Error, ErrorKind};
use crate::execute::{CancelReason, CancelToken, Execute};
use crate::request::Request;
use crate::run::{self, BatchEvent, BatchOptions, Class, Hooks, Input, NotRun, Sink, Workers};
use crate::stats::Latency;

pub use self::outcome::{IntoBatchItem, Outcome};
pub use self::stats::{BatchStats, BatchSummary};
use self::stats::{Counters, Settle};

/// The outcomes of a batch, in input order, and its summary.
#[derive(Debug)]
pub struct BatchResult {
    /// One outcome per input, in input order.
    pub outcomes: Vec<Outcome>,
    /// Counts, duration, latency.
    pub summary: BatchSummary,
}

struct Shared<E> {
    executor: E,
    workers: Workers,
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
    thread_name: String,
}

impl Default for BatchExecutorBuilder {
    fn default() -> Self {
        BatchExecutorBuilder {
            workers: 32,
            thread_name: "httpbatch-worker".into(),
        }
    }
}

impl BatchExecutorBuilder {
    /// Sets the number of worker threads, created once and reused by every batch: the most
    /// requests in flight at once (see [`BatchExecutor::workers`]). Defaults to `32`.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Sets the thread name prefix (threads are named `PREFIX-0`, `PREFIX-1`, …). Defaults to
    /// `httpbatch-worker`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// Starts the workers around `executor`.
    ///
    /// As many threads as the machine has cores start before this returns; the others start in
    /// the background, while the first run's first requests are already on their way (a thread
    /// that cannot start then leaves the pool smaller).
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] for zero workers (or more than 4096), and
    /// [`ErrorKind::Io`] if the first threads cannot be spawned.
    pub fn build<E: Execute>(self, executor: E) -> Result<BatchExecutor<E>, Error> {
        let workers = Workers::new(self.workers, &self.thread_name)?;
        Ok(BatchExecutor {
            shared: Box::new(Shared {
                executor,
                workers,
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
/// - The input is read lazily ([`BatchOptions::queue_ahead`]), so a streaming run over an
///   iterator of a million requests holds only what is queued and in flight.
/// - A cancel token, a [`BatchControl`](crate::BatchControl) (pause, resume, cancel) and a
///   deadline reach queued work, rate-limiter waits, retry backoff and sockets in flight; the call
///   returns promptly with partial results.
/// - Progress and events are delivered on the calling thread.
///
/// `BatchExecutor`, [`ParExecutor`](crate::ParExecutor) and their forms all run on one engine,
/// so cancel, deadline, pause, fail-fast and progress mean the same thing in each.
///
/// ```
/// use httpbatch::{BatchExecutor, BatchOptions, HttpClient, Request};
/// use httpbatch_testserver::Server;
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
pub struct BatchExecutor<E: Execute> {
    shared: Box<Shared<E>>,
}

impl<E: Execute> fmt::Debug for BatchExecutor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchExecutor")
            .field("workers", &self.shared.workers.size())
            .field("shut_down", &self.shared.workers.is_shut_down())
            .finish()
    }
}

impl BatchExecutor<crate::HttpClient> {
    /// A builder; see [`BatchExecutorBuilder`].
    pub fn builder() -> BatchExecutorBuilder {
        BatchExecutorBuilder::default()
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

/// The outcome of an item that never started.
fn never_ran(why: NotRun) -> Outcome {
    match why {
        NotRun::Cancelled => Outcome::Cancelled,
        NotRun::Deadline | NotRun::FailFast => Outcome::NotRun,
        NotRun::Stopped => Outcome::Error(why.error()),
    }
}

/// Counts and delivers outcomes on the caller's thread.
struct BatchSink<'c, 'd, E: Execute> {
    shared: &'c Shared<E>,
    settle: Settle,
    to: Deliver<'d>,
}

/// Where a batch's outcomes go.
enum Deliver<'c> {
    /// Into their input slots (`execute_batch`): no user code, so no panic to catch, and no
    /// outcome needed promptly.
    Collect(&'c mut Vec<Option<Outcome>>),
    /// To the user's consumer as each settles (`execute_streaming`).
    Stream(&'c mut dyn FnMut(usize, Outcome)),
}

impl<E: Execute> Sink<Request, Outcome> for BatchSink<'_, '_, E> {
    fn settled(
        &mut self,
        index: usize,
        outcome: Outcome,
        _class: Class,
        ran: Option<Duration>,
        hooks: &mut Hooks,
    ) {
        let mut outcome = outcome;
        if let Some(ran) = ran {
            if let Outcome::Response(r) = &mut outcome {
                let t = r.timings_mut();
                t.total = t.queued + ran;
            }
            if matches!(outcome, Outcome::Response(_) | Outcome::Error(_)) {
                // The executor-wide histogram takes the run's samples when the run returns.
                self.settle.latency.record(ran);
            }
        }
        self.settle.count(&outcome, &self.shared.counters);
        if hooks.wants_events() {
            let ev = match &outcome {
                Outcome::Response(r) if r.is_success() => {
                    BatchEvent::Completed { index, response: r }
                }
                o => BatchEvent::Failed { index, outcome: o },
            };
            hooks.event(&ev);
        }
        match &mut self.to {
            Deliver::Collect(slots) => {
                if index >= slots.len() {
                    slots.resize_with(index + 1, || None);
                }
                debug_assert!(slots[index].is_none(), "index {index} settled twice");
                slots[index] = Some(outcome);
            }
            Deliver::Stream(consumer) => hooks.guard(|| consumer(index, outcome)),
        }
    }

    fn not_run(&mut self, index: usize, _request: Request, why: NotRun, hooks: &mut Hooks) {
        self.settled(index, never_ran(why), Class::Failure, None, hooks);
    }

    fn prompt(&self) -> bool {
        matches!(self.to, Deliver::Stream(_))
    }
}

impl<E: Execute> BatchExecutor<E> {
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

    /// The wrapped executor, mutably.
    pub fn get_mut(&mut self) -> &mut E {
        &mut self.shared.executor
    }

    /// Shuts the workers down (joining them) and returns the wrapped executor.
    pub fn into_inner(self) -> E {
        self.shutdown();
        self.shared.executor
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.workers.size()
    }

    /// Stops the executor: running batches end their queued and in-flight work as cancelled,
    /// later batches fail every request with [`ErrorKind::Stopped`], and the workers are joined
    /// (unless called from inside a run of this executor, such as a progress callback: then the
    /// threads exit once that run returns). Idempotent; dropping the executor does the same.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel_with(CancelReason::Shutdown);
        self.shared.workers.shutdown();
    }

    /// Executor-wide statistics. Counts move as outcomes settle; latency percentiles take a
    /// run's samples when that run returns.
    pub fn stats(&self) -> BatchStats {
        let elapsed = self.shared.since.lock().elapsed();
        let latency = self.shared.latency.lock().summary();
        self.shared.counters.snapshot(latency, elapsed)
    }

    /// Zeroes the statistics (the in-flight gauge is left alone: it is a level, not a count).
    pub fn reset_stats(&self) {
        self.shared.counters.reset();
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
    /// Re-raises a panic of a progress or event callback, after the batch has settled. Panics if
    /// called from one of this executor's own worker threads.
    pub fn execute_batch<I>(&self, requests: I, options: BatchOptions<'_>) -> BatchResult
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
    {
        // Each slot is two words (the response is boxed), so placing outcomes by index costs
        // little memory and no sort. Sized up front when the input says how long it is.
        let requests = requests.into_iter();
        let mut slots: Vec<Option<Outcome>> = Vec::new();
        slots.resize_with(requests.size_hint().0, || None);
        let summary = self.run(requests, options, Deliver::Collect(&mut slots));
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
    /// once. The input is read lazily: an iterator is pulled as workers free up (see
    /// [`BatchOptions::queue_ahead`]), so memory stays bounded by what is queued and in flight.
    ///
    /// ```
    /// use httpbatch::{BatchExecutor, BatchOptions, HttpClient, Request};
    /// use httpbatch_testserver::Server;
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
        self.run(requests, options, Deliver::Stream(&mut consumer))
    }

    fn run<I>(&self, requests: I, mut options: BatchOptions<'_>, to: Deliver<'_>) -> BatchSummary
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
    {
        let shared = &*self.shared;
        shared.counters.batches.fetch_add(1, Ordering::Relaxed);
        let counters = &shared.counters;
        let fail_fast = options.fail_fast;
        let input = requests.into_iter().map(|item| {
            counters.requests.fetch_add(1, Ordering::Relaxed);
            match item.into_batch_item() {
                Ok(request) => Input::Work {
                    priority: request.priority(),
                    item: request,
                },
                Err(e) => Input::Settled(Outcome::Error(e), Class::Error),
            }
        });
        let request_timeout = options.request_timeout;
        // The work runs on the workers: it takes the fail-fast status rule out of the options
        // (whose callbacks stay on this thread).
        let fail_status = options.fail_status.take();
        let status_fails = |s: u16| fail_fast && fail_status.as_ref().is_some_and(|f| f(s));
        let work = |w: &run::Worker<'_>, mut req: Request| {
            if req.timeout().is_none() {
                req.set_timeout(request_timeout);
            }
            counters.in_flight.fetch_add(1, Ordering::Relaxed);
            let result = catch_unwind(AssertUnwindSafe(|| shared.executor.execute(req, w.ctx)))
                .unwrap_or_else(|p| {
                    Err(Error::new(
                        ErrorKind::Panicked,
                        format!("executor panicked: {}", panic_message(&*p)),
                    ))
                });
            counters.in_flight.fetch_sub(1, Ordering::Relaxed);
            let e = match result {
                Ok(mut r) => {
                    // Finished before it is boxed (one move into the box, none after).
                    // `total` is set on the caller's thread from the run's own measure.
                    r.timings_mut().queued = w.queued;
                    let class = if r.is_success() {
                        Class::Success
                    } else if status_fails(r.status()) {
                        Class::Error
                    } else {
                        Class::Failure
                    };
                    return (Outcome::Response(Box::new(r)), class);
                }
                Err(e) => e,
            };
            let outcome = match w.stop_reason() {
                // A request interrupted by a stopped run reports why the run stopped.
                Some(why) if matches!(e.kind(), ErrorKind::Cancelled | ErrorKind::Timeout) => {
                    match why {
                        CancelReason::Deadline => {
                            Outcome::Error(Error::deadline_exceeded().with_attempts(e.attempts()))
                        }
                        CancelReason::User | CancelReason::Shutdown => Outcome::Cancelled,
                    }
                }
                _ => Outcome::from_result(Err(e)),
            };
            let class = match outcome {
                Outcome::Error(_) => Class::Error,
                _ => Class::Failure,
            };
            (outcome, class)
        };
        let plan = run::Plan {
            workers: &shared.workers,
            max_runners: shared.workers.size(),
            shutdown: Some(&shared.shutdown),
        };
        let mut sink = BatchSink {
            shared,
            settle: Settle::new(Instant::now()),
            to,
        };
        let mut ran = run::run(&plan, input, &mut options, &work, &mut sink);
        shared.latency.lock().merge(&sink.settle.latency);
        let mut settle = sink.settle;
        settle.start = ran.start;
        settle.total = ran.total;
        let summary = settle.summary(Instant::now());
        if ran.panic.is_none() {
            if let Some(f) = options.events.as_mut() {
                let ev = BatchEvent::Drained { summary: &summary };
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&ev))) {
                    ran.panic = Some(p);
                }
            }
        }
        ran.reraise();
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::Context;
    use crate::response::Response;
    use crate::stats::LatencySummary;

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
