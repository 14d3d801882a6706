//! The one options type of every run: batches, streaming runs, `par_map` and pipelines.

use std::fmt;
use std::time::{Duration, Instant};

use crate::execute::CancelToken;

use super::control::BatchControl;
use super::event::{BatchEvent, ProgressSnapshot};

pub(crate) type ProgressFn<'a> = Box<dyn FnMut(&ProgressSnapshot) + 'a>;
pub(crate) type EventFn<'a> = Box<dyn FnMut(&BatchEvent<'_>) + 'a>;
pub(crate) type StatusFn<'a> = Box<dyn Fn(u16) -> bool + Send + Sync + 'a>;
pub(crate) type ReadyFn<'a> = Box<dyn FnMut() -> bool + 'a>;

/// How many requests a run pulls from its input ahead of the workers, by default.
pub(crate) const DEFAULT_QUEUE_AHEAD: usize = 4096;

/// Options of one run. The same type serves [`BatchExecutor`](crate::BatchExecutor) (batches and
/// streaming runs) and [`ParExecutor`](crate::ParExecutor) (`par_map` and pipelines), so every
/// option means the same thing in both.
///
/// Callbacks run on the thread that started the run, never after it returns, so they may borrow
/// locals and need not be `Send`.
///
/// ```
/// use httpbatch::{BatchControl, BatchOptions};
/// use std::time::Duration;
/// let control = BatchControl::new();
/// let mut calls = 0;
/// let opts = BatchOptions::new()
///     .control(control.clone())
///     .batch_timeout(Duration::from_secs(30))
///     .concurrency(8)
///     .fail_fast(true)
///     .fail_fast_on_status(|status| status >= 500)
///     .on_progress(Duration::from_millis(100), |p| {
///         calls += 1;
///         eprintln!("{:.0}% ({}/{}){}", p.percent, p.completed, p.total,
///             if p.paused { " paused" } else { "" });
///     });
/// # drop(opts);
/// ```
#[derive(Default)]
pub struct BatchOptions<'a> {
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) control: Option<BatchControl>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) batch_timeout: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) fail_fast: bool,
    pub(crate) fail_status: Option<StatusFn<'a>>,
    pub(crate) chunks: Option<(usize, Duration)>,
    pub(crate) queue_ahead: Option<usize>,
    pub(crate) input_ready: Option<ReadyFn<'a>>,
    pub(crate) progress: Option<(Duration, ProgressFn<'a>)>,
    pub(crate) events: Option<EventFn<'a>>,
}

/// The options of a [`ParExecutor`](crate::ParExecutor) call: the same type as
/// [`BatchOptions`].
pub type ParOptions<'a> = BatchOptions<'a>;

impl fmt::Debug for BatchOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchOptions")
            .field("cancel", &self.cancel)
            .field("control", &self.control)
            .field("deadline", &self.deadline)
            .field("batch_timeout", &self.batch_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("concurrency", &self.concurrency)
            .field("fail_fast", &self.fail_fast)
            .field("fail_fast_on_status", &self.fail_status.is_some())
            .field("chunks", &self.chunks)
            .field("queue_ahead", &self.queue_ahead)
            .field("input_ready", &self.input_ready.is_some())
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

    /// Cancels the run when `token` is cancelled (from any thread): nothing more starts, requests
    /// in flight are interrupted (their sockets shut down), and every request that did not finish
    /// settles [`Cancelled`](crate::Outcome::Cancelled).
    pub fn cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Steers the run with `control`: pause, resume and cancel from any thread. See
    /// [`BatchControl`].
    pub fn control(mut self, control: BatchControl) -> Self {
        self.control = Some(control);
        self
    }

    /// Stops the run at `deadline`: requests not started end [`NotRun`](crate::Outcome::NotRun),
    /// requests in flight are interrupted and fail with
    /// [`DeadlineExceeded`](crate::ErrorKind::DeadlineExceeded). Every request of the run carries
    /// the deadline on its [`Context`](crate::Context), so no wait below starts that cannot end in
    /// time, and a deadline already past sends nothing. It keeps running while the run is paused.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// A deadline `timeout` after the run starts. A timeout too large to add to the clock (such
    /// as `Duration::MAX`) means no deadline.
    pub fn batch_timeout(mut self, timeout: Duration) -> Self {
        self.batch_timeout = Some(timeout);
        self
    }

    /// The timeout of each request that sets none.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// At most `n` requests of this run in flight at once, capped by the executor's workers.
    /// Zero is taken as one; `usize::MAX` means the executor's limit.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// After the first failed item, start nothing more: the items not yet started end
    /// [`NotRun`](crate::Outcome::NotRun); items in flight finish. An item fails when it ends
    /// with an error (for `par` forms: when its closure returns `Err`), or, with
    /// [`fail_fast_on_status`](Self::fail_fast_on_status), with a response whose status the
    /// predicate picks. A response of any status is otherwise not a failure.
    pub fn fail_fast(mut self, yes: bool) -> Self {
        self.fail_fast = yes;
        self
    }

    /// With [`fail_fast`](Self::fail_fast), also stop after a response whose status `f` picks
    /// (for example `|s| s >= 500`). Applies to the response forms (`execute_batch`,
    /// `execute_streaming`, `par_map`).
    pub fn fail_fast_on_status(mut self, f: impl Fn(u16) -> bool + Send + Sync + 'a) -> Self {
        self.fail_status = Some(Box::new(f));
        self
    }

    /// Runs the input `size` items at a time: a chunk starts once the previous one has fully
    /// settled and `pause` has passed. For servers that want bursts spaced out. A `size` of 0 is
    /// taken as 1; the deadline and cancel reach the pause.
    pub fn chunks(mut self, size: usize, pause: Duration) -> Self {
        self.chunks = Some((size.max(1), pause));
        self
    }

    /// Pulls at most `n` items from the input ahead of the workers (zero is taken as one). The
    /// input is read lazily, so a run over an iterator holds only this many items plus those in
    /// flight. Priorities ([`Request::priority`](crate::Request::priority)) order dispatch among
    /// the items pulled ahead. Defaults to `4096`.
    pub fn queue_ahead(mut self, n: usize) -> Self {
        self.queue_ahead = Some(n.max(1));
        self
    }

    /// Tells the run whether its input can yield an item without blocking, for inputs that wait
    /// on a producer (a pipe, a socket, a channel). While items read earlier are queued or in
    /// flight, the run reads further only when `f` says so, and otherwise goes on dispatching,
    /// delivering outcomes and calling back, asking again every few milliseconds; with nothing
    /// left to do it reads (and may block) whatever `f` says. Without it, the run reads whenever
    /// it has room, which suits inputs that never block (collections, files, generators).
    pub fn input_ready(mut self, f: impl FnMut() -> bool + 'a) -> Self {
        self.input_ready = Some(Box::new(f));
        self
    }

    /// Calls `f` at most once per `min_interval` while the run goes on (and on pause and
    /// resume), and once at the end with every item settled (100 %).
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

    /// The deadline of a run that starts at `start`.
    pub(crate) fn deadline_from(&self, start: Instant) -> Option<Instant> {
        let by_timeout = self.batch_timeout.and_then(|t| start.checked_add(t));
        match (self.deadline, by_timeout) {
            (Some(d), Some(t)) => Some(d.min(t)),
            (d, t) => d.or(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_timeouts_never_panic() {
        let start = Instant::now();
        let o = BatchOptions::new().batch_timeout(Duration::MAX);
        assert_eq!(o.deadline_from(start), None);
        let o = BatchOptions::new()
            .batch_timeout(Duration::MAX)
            .deadline(start + Duration::from_secs(1));
        assert_eq!(o.deadline_from(start), Some(start + Duration::from_secs(1)));
        let o = BatchOptions::new().batch_timeout(Duration::ZERO);
        assert_eq!(o.deadline_from(start), Some(start));
        let o = BatchOptions::new()
            .concurrency(0)
            .queue_ahead(0)
            .chunks(0, Duration::MAX);
        assert_eq!(
            (o.concurrency, o.queue_ahead, o.chunks),
            (Some(1), Some(1), Some((1, Duration::MAX)))
        );
    }
}
