//! The run loop behind every `par_map` and pipeline form.
//!
//! How a run goes (invariants):
//! - The caller's thread owns the run. Inside `ThreadPool::in_place_scope` it opens the queue
//!   (chunk by chunk), spawns the first `min(threads, chunk)` item tasks, then receives every
//!   outcome over a channel and runs the progress callback itself. So callbacks need not be
//!   `Send`, and since the scope joins every task before it returns, none runs after the call.
//! - One rayon task per item: a task runs one item, sends its outcome, then pops the next item and
//!   spawns a task for it. Blocking items are never grouped into one task, so a slow item holds up
//!   only itself (rayon's default splitting would make whole groups wait behind it).
//! - The queue holds items in dispatch order (priority descending, input order within a
//!   priority). `pop` and `close` run under its mutex and `pop` counts what it hands out; once the
//!   run stops (cancel, deadline, fail-fast, a panic, a callback panic) the queue is closed, the
//!   number popped is final, and the caller waits for exactly that many outcomes. Whatever was
//!   never popped is settled by the caller as never run. Every item ends exactly once.
//! - A task closes the queue *before* it sends a failing outcome, so the caller sees the queue
//!   closed when it handles that outcome.
//! - A panic of the user's closure is caught in its task (the worker thread lives on), stops the
//!   run, interrupts requests in flight, and is re-raised on the caller once every task settled.

use std::any::Any;
use std::cmp::Reverse;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, unbounded};
use parking_lot::Mutex;
use rayon::Scope;

use crate::batch::ProgressSnapshot;
use crate::error::{Error, ErrorKind};
use crate::execute::{CancelReason, CancelToken, Context};

use super::{Counters, Gate, ParClient, ParOptions};

/// How an item's outcome counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Counts as succeeded in progress.
    Success,
    /// Counts as failed in progress; does not stop a fail-fast run.
    Failure,
    /// Counts as failed and stops a fail-fast run.
    Error,
}

/// The work of one item, run on a pool thread.
pub(crate) type Work<'w, T, O> = dyn Fn(&ParClient<'_>, T) -> (O, Settled) + Sync + 'w;

/// What a run produced.
pub(crate) struct Ran<T, O> {
    /// By input index: the outcome of every item that ran.
    pub(crate) outputs: Vec<Option<O>>,
    /// Items never started, in input order.
    pub(crate) unrun: Vec<(usize, T)>,
    /// The first item (in completion order) whose outcome was [`Settled::Error`].
    pub(crate) first_error: Option<usize>,
    pub(crate) stop: Option<CancelReason>,
}

impl<T, O> Ran<T, O> {
    /// Why the items in `unrun` never started.
    pub(crate) fn unrun_error(&self) -> Error {
        unrun_error(self.stop)
    }
}

/// The error of an item that never started, given why the run stopped.
pub(crate) fn unrun_error(stop: Option<CancelReason>) -> Error {
    {
        match stop {
            Some(CancelReason::User | CancelReason::Shutdown) => Error::cancelled(),
            Some(CancelReason::Deadline) => Error::new(
                ErrorKind::NotRun,
                "not run: the deadline passed before it started",
            ),
            None => Error::new(
                ErrorKind::NotRun,
                "not run: an earlier item failed (fail-fast)",
            ),
        }
    }
}

enum Msg<O> {
    Done {
        index: usize,
        out: O,
        settled: Settled,
    },
    Panicked,
    Unstarted,
}

struct Queue<T> {
    slots: Vec<Option<T>>,
    /// `(input index, priority)` in dispatch order.
    order: Vec<(usize, i32)>,
    next: usize,
    /// End (exclusive) of the open chunk in `order`.
    limit: usize,
    popped: usize,
    closed: bool,
}

struct Run<'r, T, O> {
    queue: Mutex<Queue<T>>,
    stop: CancelToken,
    ctx: Context,
    fail_fast: bool,
    gate: &'r dyn Gate,
    work: &'r Work<'r, T, O>,
    tx: Sender<Msg<O>>,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl<T, O> Run<'_, T, O> {
    fn pop(&self) -> Option<(usize, i32, T)> {
        let mut q = self.queue.lock();
        if q.closed || q.next >= q.limit || self.stop.is_cancelled() {
            return None;
        }
        // Past the deadline nothing starts, even before the caller notices and stops the run.
        if self.ctx.deadline().is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let (index, priority) = q.order[q.next];
        q.next += 1;
        q.popped += 1;
        let item = q.slots[index].take().expect("each item is popped once");
        Some((index, priority, item))
    }

    fn open_until(&self, limit: usize) {
        self.queue.lock().limit = limit;
    }

    fn is_closed(&self) -> bool {
        self.queue.lock().closed
    }

    /// Closes the queue; returns how many items were ever popped.
    fn close(&self) -> usize {
        let mut q = self.queue.lock();
        q.closed = true;
        q.popped
    }
}

fn task<'s, 'r: 's, T: Send + 's, O: Send + 's>(
    s: &Scope<'s>,
    run: &'s Run<'r, T, O>,
    index: usize,
    priority: i32,
    item: T,
) {
    if run.stop.is_cancelled() {
        // Popped but stopped before it started: hand the item back, it settles as never run.
        run.queue.lock().slots[index] = Some(item);
        let _ = run.tx.send(Msg::Unstarted);
        return;
    }
    let client = ParClient {
        gate: run.gate,
        ctx: &run.ctx,
        index,
        priority,
    };
    let msg = match catch_unwind(AssertUnwindSafe(|| (run.work)(&client, item))) {
        Ok((out, settled)) => {
            if run.fail_fast && settled == Settled::Error {
                run.close();
            }
            Msg::Done {
                index,
                out,
                settled,
            }
        }
        Err(payload) => {
            run.close();
            run.panic.lock().get_or_insert(payload);
            // The run is lost: interrupt what is in flight so the panic surfaces promptly.
            run.stop.cancel_with(CancelReason::User);
            Msg::Panicked
        }
    };
    let _ = run.tx.send(msg);
    if let Some((index, priority, item)) = run.pop() {
        s.spawn(move |s| task(s, run, index, priority, item));
    }
}

/// Runs `work` over `items` on `pool`; see the module invariants.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<T: Send, O: Send>(
    pool: &rayon::ThreadPool,
    threads: usize,
    gate: &dyn Gate,
    counters: &Counters,
    items: Vec<T>,
    priorities: Vec<i32>,
    mut options: ParOptions<'_>,
    fail_fast: bool,
    work: &Work<'_, T, O>,
) -> Ran<T, O> {
    assert!(
        pool.current_thread_index().is_none(),
        "httpbatch: a ParExecutor call was made from inside one of its own items; \
         issue nested requests through the ParClient, or use another ParExecutor"
    );
    let start = Instant::now();
    let n = items.len();
    counters.calls.fetch_add(1, Ordering::Relaxed);
    let mut order: Vec<(usize, i32)> = priorities.into_iter().enumerate().collect();
    if order.iter().any(|&(_, p)| p != 0) {
        // Stable: equal priorities keep input order.
        order.sort_by_key(|&(_, p)| Reverse(p));
    }
    let deadline = match (options.deadline, options.timeout) {
        (Some(d), Some(t)) => Some(d.min(start + t)),
        (d, t) => d.or(t.map(|t| start + t)),
    };
    let (chunk, pause) = options
        .chunks
        .map_or((n.max(1), std::time::Duration::ZERO), |(c, p)| {
            (c.max(1), p)
        });

    let stop = CancelToken::new();
    let mut ctx = Context::new().with_cancel(stop.clone());
    if let Some(d) = deadline {
        ctx = ctx.with_deadline(d);
    }
    let (tx, rx): (Sender<Msg<O>>, Receiver<Msg<O>>) = unbounded();
    // Wakes the caller while it pauses between chunks (no outcome is due then). While items
    // run, their outcomes wake it: a stop interrupts their requests through the context.
    let (wake_tx, wake_rx) = bounded::<()>(1);
    let _wake_guard = stop.on_cancel(Arc::new(move || {
        let _ = wake_tx.try_send(());
    }));
    let stop_on_user = stop.clone();
    let _user_guard = options.cancel.as_ref().map(|t| {
        t.on_cancel(Arc::new(move || {
            stop_on_user.cancel_with(CancelReason::User);
        }))
    });

    let run = Run {
        queue: Mutex::new(Queue {
            slots: items.into_iter().map(Some).collect(),
            order,
            next: 0,
            limit: 0,
            popped: 0,
            closed: false,
        }),
        stop: stop.clone(),
        ctx,
        fail_fast,
        gate,
        work,
        tx,
        panic: Mutex::new(None),
    };

    let mut outputs: Vec<Option<O>> = (0..n).map(|_| None).collect();
    let mut done = 0usize;
    let mut succeeded = 0usize;
    let mut first_error = None;
    let mut callback_panic: Option<Box<dyn Any + Send>> = None;
    let mut last_progress = start;

    pool.in_place_scope(|s| {
        let run = &run;
        // Items popped once the run stopped: the outcomes still to wait for.
        let mut expected: Option<usize> = None;
        let mut chunk_end = 0usize;
        let mut pause_until: Option<Instant> = None;
        loop {
            if expected.is_none() && (stop.is_cancelled() || run.is_closed()) {
                expected = Some(run.close());
            }
            let mut wait_until = deadline;
            if done >= expected.unwrap_or(chunk_end) {
                if expected.is_some() || chunk_end >= n {
                    break;
                }
                // Before the first chunk, or between chunks once the previous one settled.
                let now = Instant::now();
                let open = chunk_end == 0
                    || pause.is_zero()
                    || now >= *pause_until.get_or_insert(now + pause);
                if open {
                    pause_until = None;
                    let from = chunk_end;
                    chunk_end = (chunk_end + chunk).min(n);
                    run.open_until(chunk_end);
                    for _ in 0..threads.min(chunk_end - from) {
                        match run.pop() {
                            Some((index, priority, item)) => {
                                s.spawn(move |s| task(s, run, index, priority, item))
                            }
                            None => break,
                        }
                    }
                    continue;
                }
                let until = pause_until.expect("set above");
                wait_until = Some(wait_until.map_or(until, |d| d.min(until)));
            }
            let pausing = pause_until.is_some();
            if let Some((every, _)) = &options.progress {
                let tick = last_progress + *every;
                wait_until = Some(wait_until.map_or(tick, |d| d.min(tick)));
            }
            let msg = match (pausing, wait_until) {
                (true, Some(t)) => {
                    // Woken by a stop or the pause's end: nothing to handle either way.
                    let _ = wake_rx.recv_deadline(t);
                    Err(RecvTimeoutError::Timeout)
                }
                (_, Some(t)) => rx.recv_deadline(t),
                (_, None) => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(Msg::Done {
                    index,
                    out,
                    settled,
                }) => {
                    done += 1;
                    match settled {
                        Settled::Success => succeeded += 1,
                        Settled::Error => {
                            first_error.get_or_insert(index);
                        }
                        Settled::Failure => {}
                    }
                    outputs[index] = Some(out);
                }
                Ok(Msg::Panicked | Msg::Unstarted) => done += 1,
                Err(RecvTimeoutError::Timeout) => {}
                // `run` holds a sender for as long as this loop runs.
                Err(RecvTimeoutError::Disconnected) => unreachable!("the run holds a sender"),
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                stop.cancel_with(CancelReason::Deadline);
            }
            if callback_panic.is_none() && run.panic.lock().is_none() {
                if let Some((every, f)) = options.progress.as_mut() {
                    if now.duration_since(last_progress) >= *every {
                        last_progress = now;
                        let snap = ProgressSnapshot::compute(start, now, n, done, succeeded);
                        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&snap))) {
                            callback_panic = Some(p);
                            stop.cancel_with(CancelReason::User);
                        }
                    }
                }
            }
        }
    });

    // Every task has returned; settle what never started.
    let stop_reason = stop.reason();
    let unrun: Vec<(usize, T)> = run
        .queue
        .into_inner()
        .slots
        .into_iter()
        .enumerate()
        .filter_map(|(i, slot)| slot.map(|t| (i, t)))
        .collect();
    counters.items.fetch_add(n as u64, Ordering::Relaxed);

    if let Some(p) = run.panic.into_inner() {
        resume_unwind(p);
    }
    if callback_panic.is_none() {
        if let Some((_, f)) = options.progress.as_mut() {
            let snap = ProgressSnapshot::compute(start, Instant::now(), n, n, succeeded);
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(&snap))) {
                callback_panic = Some(p);
            }
        }
    }
    if let Some(p) = callback_panic {
        resume_unwind(p);
    }
    Ran {
        outputs,
        unrun,
        first_error,
        stop: stop_reason,
    }
}
