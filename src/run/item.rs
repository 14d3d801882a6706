//! The items of a run: what its input yields, how an outcome counts, why an item never started,
//! and what a runner hands the work of one item.

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::execute::{CancelReason, CancelToken, Context};

/// One item of a run's input: work for a runner, or an outcome known without running (an input
/// that failed to build).
pub(crate) enum Input<T, O> {
    Work { priority: i32, item: T },
    Settled(O, Class),
}

/// How an outcome counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Succeeded (counts in `succeeded`).
    Success,
    /// Failed, but does not stop a fail-fast run (a response whose status fail-fast ignores, a
    /// cancelled or not-run item).
    Failure,
    /// Failed and stops a fail-fast run.
    Error,
}

/// Why an item never started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotRun {
    /// The run was cancelled (or its executor shut down while it ran).
    Cancelled,
    /// The run's deadline passed first.
    Deadline,
    /// An earlier item failed and the run fails fast.
    FailFast,
    /// The executor was shut down before the run started.
    Stopped,
}

impl NotRun {
    pub(super) fn of(stop: Option<CancelReason>) -> NotRun {
        match stop {
            Some(CancelReason::User | CancelReason::Shutdown) => NotRun::Cancelled,
            Some(CancelReason::Deadline) => NotRun::Deadline,
            None => NotRun::FailFast,
        }
    }

    /// The error that stands for an item that never started, in the forms that report errors.
    pub(crate) fn error(self) -> Error {
        match self {
            NotRun::Cancelled => Error::cancelled(),
            NotRun::Deadline => Error::new(
                ErrorKind::NotRun,
                "not run: the deadline passed before it started",
            ),
            NotRun::FailFast => Error::new(
                ErrorKind::NotRun,
                "not run: an earlier item failed (fail-fast)",
            ),
            NotRun::Stopped => Error::stopped("the executor"),
        }
    }
}

/// What the runner hands `work`: the item's index and priority, and the context its requests
/// run under (the run's cancel token and deadline, and the runner's in-flight slot).
pub(crate) struct Worker<'r> {
    pub(crate) ctx: &'r Context,
    pub(crate) index: usize,
    pub(crate) priority: i32,
    /// How long after the run's start this item started on its runner (the run measures the
    /// item's time from there).
    pub(crate) queued: Duration,
    pub(super) stop: &'r CancelToken,
}

impl Worker<'_> {
    /// Why the run stopped, if it has.
    pub(crate) fn stop_reason(&self) -> Option<CancelReason> {
        self.stop.reason()
    }
}

/// The work of one item, run on a worker thread.
pub(crate) type Work<'w, T, O> = dyn Fn(&Worker<'_>, T) -> (O, Class) + Sync + 'w;
