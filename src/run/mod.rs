//! The one run engine under every multi-request API: `execute_batch`, `execute_streaming`,
//! `par_map`, `try_par_map`, `par_map_collect_errors` and pipelines.
//!
//! How a run goes (invariants):
//! - The caller's thread owns the run. It reads the input lazily, keeping at most `queue_ahead`
//!   items queued or in flight beyond the runners (topped up in one push once half have gone;
//!   the first [`FIRST_PUSH`] go out before the rest of the first window is read; while runners
//!   starve it hands over what it read at once, in doubling pushes when the input says more is
//!   ready); it takes outcomes from the [`inbox`] a batch at a time and runs every
//!   callback itself. So callbacks need not be `Send`, and since the run happens inside
//!   `ThreadPool::in_place_scope`, which joins every runner, none runs after the call returns.
//! - The caller sleeps only in [`Inbox::wait`], parked in the kernel (never spinning or
//!   yielding), and only after checking, since its last callback, that no cancel, pause, resume
//!   or panic is pending. Runners unpark it only when it sleeps and has something to do: at
//!   once when each outcome must be delivered as it settles (events, a streaming consumer, a
//!   zero progress interval), else once [`SETTLE_SLICE`] outcomes, a refill's worth, or the
//!   last outcome of the run have arrived, or at once for an outcome that stops the run
//!   (fail-fast, a panic). Progress ticks, the deadline and the bell wake it on their own.
//! - In such a batch-wise run (and only while a refill's half window exceeds what all runners
//!   could hold), a runner may hold back up to [`runner::HOLD`] outcomes of quick items and
//!   hand them over in one go; it hands them over with its next slow or urgent outcome, before
//!   it would block on the queue (empty, paused) and when it leaves, so what the caller waits
//!   for always arrives.
//! - Runners are long-lived tasks on the executor's threads, at most one per item fed and at most
//!   the run's concurrency; each loops on the [`queue`]: pop, work, send the outcome. A slow item
//!   holds up only its own runner. The [`ramp`] starts as many as there are cores first and the
//!   rest once items prove slow, so items that take no time do not wake every thread.
//! - Stopping (cancel, deadline, shutdown, fail-fast, a panic) closes the queue; from then on the
//!   number popped is final and the caller waits for exactly that many outcomes (requests in
//!   flight are interrupted through the run's cancel token). Whatever was never popped, and the
//!   rest of the input, settles on the caller's thread as not run. Every input ends with exactly
//!   one outcome.
//! - The run's deadline is on every runner's [`Context`], and `pop` checks it, so nothing starts
//!   once it has passed, whether or not the caller has noticed yet.
//! - Cancel and pause listeners only set flags and ring the caller's [`Bell`](inbox::Bell) (a
//!   `'static` unpark); the caller then closes or wakes the queue. `pop` reads the stop token
//!   and the control's paused flag itself, so a pause or cancel takes effect before the caller
//!   wakes.
//! - A runner closes the queue *before* it sends a fail-fast outcome, so the caller sees the queue
//!   closed when it handles that outcome.
//! - A panic escaping `work` stops the run and is re-raised on the caller once everything has
//!   settled; so is a panic of a callback on the caller's thread.

mod control;
mod event;
mod inbox;
mod item;
mod options;
mod queue;
mod ramp;
mod runner;
mod sink;
#[cfg(test)]
mod tests;
mod workers;

pub use self::control::BatchControl;
pub use self::event::{BatchEvent, ProgressSnapshot};
pub(crate) use self::item::{Class, Input, NotRun, Work, Worker};
pub use self::options::{BatchOptions, ParOptions};
pub(crate) use self::sink::{Hooks, Ran, Sink};
pub(crate) use self::workers::Workers;

use std::panic::resume_unwind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::execute::{CancelReason, CancelToken, Context};

use self::event::{Counts, finish, report};
use self::inbox::Inbox;
use self::options::DEFAULT_QUEUE_AHEAD;
use self::queue::{Queue, Queued};
use self::ramp::Ramp;
use self::runner::{Msg, Shared, runner};

/// Outcomes a caller that needs none promptly lets accumulate before it wakes to settle them.
const SETTLE_SLICE: usize = 1024;

/// How many items a run reads before its first runners start (a shorter input is read whole
/// first, so it is dispatched in priority order from its first item).
const FIRST_PUSH: usize = 64;

/// How often a run whose input had nothing ready asks again ([`BatchOptions::input_ready`]).
const INPUT_POLL: Duration = Duration::from_millis(2);

/// Queues what was read (the batch whole: `batch` is left empty, holding a spent batch's buffer
/// if the queue had one, and `last` set to its length); if the queue closed meanwhile
/// (fail-fast, deadline), it settles as never run.
#[allow(clippy::too_many_arguments)]
fn push<T, O>(
    queue: &Queue<T>,
    batch: &mut Vec<Queued<T>>,
    last: &mut usize,
    fed: &mut usize,
    counts: &mut Counts,
    stop: &CancelToken,
    sink: &mut dyn Sink<T, O>,
    hooks: &mut Hooks<'_, '_>,
) {
    let n = batch.len();
    if n == 0 {
        return;
    }
    *last = n;
    if queue.push_many(batch).is_ok() {
        *fed += n;
    } else {
        let why = NotRun::of(stop.reason());
        for (index, _, item) in batch.drain(..) {
            counts.completed += 1;
            sink.not_run(index, item, why, hooks);
        }
    }
}

/// The executor-side parameters of a run.
pub(crate) struct Plan<'p> {
    /// The executor's workers.
    pub(crate) workers: &'p Workers,
    /// Most runners (the executor's own cap; the run's `concurrency` may lower it).
    pub(crate) max_runners: usize,
    /// Tokens whose cancel stops the run as a shutdown.
    pub(crate) shutdown: Option<&'p CancelToken>,
}

/// Runs `input` through `work` on `plan`'s workers; see the module invariants.
///
/// # Panics
///
/// When called from one of the executor's own workers (it would wait on the threads it
/// occupies), and re-raises a panic of `work` once the run has settled. A callback's panic comes
/// back in [`Ran::panic`].
pub(crate) fn run<T: Send, O: Send>(
    plan: &Plan<'_>,
    input: impl IntoIterator<Item = Input<T, O>>,
    options: &mut BatchOptions<'_>,
    work: &Work<'_, T, O>,
    sink: &mut dyn Sink<T, O>,
) -> Ran {
    assert!(
        !plan.workers.is_worker(),
        "httpbatch: a run was started from inside one of its own items (on one of its executor's \
         workers); send nested requests through the executor stack or the ParClient, or use \
         another executor"
    );
    let start = Instant::now();
    let mut input = input.into_iter();
    let mut counts = Counts::default();
    if let (lo, Some(hi)) = input.size_hint() {
        if lo == hi {
            counts.total = lo;
            counts.total_known = true;
        }
    }
    let deadline = options.deadline_from(start);
    let mut hooks = Hooks {
        events: options.events.as_mut(),
        panic: None,
    };
    let mut progress = options.progress.as_mut();
    let control = options.control.clone();

    let stop = CancelToken::new();
    let inbox = Inbox::new();
    let bell = inbox.bell();
    let _guards = {
        let b = bell.clone();
        let on_stop = stop.on_cancel(Arc::new(move || b.ring()));
        let relay = |t: &CancelToken, why: CancelReason| {
            let stop = stop.clone();
            t.on_cancel(Arc::new(move || {
                stop.cancel_with(why);
            }))
        };
        let user = options
            .cancel
            .as_ref()
            .map(|t| relay(t, CancelReason::User));
        let by_control = control
            .as_ref()
            .map(|c| relay(c.cancel_token(), CancelReason::User));
        let shutdown = plan.shutdown.map(|t| relay(t, CancelReason::Shutdown));
        let paused = control.as_ref().map(|c| {
            let b = bell.clone();
            c.on_change(Arc::new(move |_| b.ring()))
        });
        (on_stop, user, by_control, shutdown, paused)
    };
    let mut paused = control.as_ref().is_some_and(BatchControl::is_paused);
    if paused {
        counts.paused_since = Some(start);
    }

    let lease = plan.workers.lease();
    let Some(lease) = lease else {
        // Shut down before this run: nothing runs, every item settles at once.
        let mut index = 0;
        for item in input {
            match item {
                Input::Work { item, .. } => sink.not_run(index, item, NotRun::Stopped, &mut hooks),
                Input::Settled(out, class) => sink.settled(index, out, class, None, &mut hooks),
            }
            index += 1;
        }
        counts.total = index;
        counts.completed = index;
        return finish(start, &counts, &mut progress, hooks);
    };

    let mut ctx = Context::new().with_cancel(stop.clone());
    if let Some(d) = deadline {
        ctx = ctx.with_deadline(d);
    }
    let target = options
        .concurrency
        .unwrap_or(usize::MAX)
        .min(plan.max_runners)
        .max(1);
    let ahead = options.queue_ahead.unwrap_or(DEFAULT_QUEUE_AHEAD);
    let window = ahead.saturating_add(target);
    // A zero progress interval reports after each message, not once per batch of them.
    let every_message = progress.as_ref().is_some_and(|(every, _)| every.is_zero());
    // Whether each outcome must reach the caller as it settles (events, a consumer that
    // streams, a progress report per message); if not, the caller sleeps through batches.
    let prompt = every_message || hooks.wants_events() || sink.prompt();
    let shared = Shared {
        queue: Queue::new(deadline, stop.clone(), control.clone()),
        stop: stop.clone(),
        ctx,
        start,
        fail_fast: options.fail_fast,
        send_started: hooks.wants_events(),
        // Outcomes held back on runners must never hold up a refill: at most a hold's worth per
        // runner, well under the half window a refill waits for.
        hold: !prompt && window / 2 >= target.saturating_mul(runner::HOLD * 2),
        work,
        inbox,
        panic: Mutex::new(None),
        panicked: AtomicBool::new(false),
    };
    let (chunk, chunk_pause) = options.chunks.unwrap_or((usize::MAX, Duration::ZERO));
    let mut last_progress = start;
    // A first report as the run starts (0 settled; paused, if it starts paused): a run whose
    // first outcome is long in coming, or that waits paused, still reports that it is running.
    if let Some((_, f)) = progress.as_mut() {
        let snap = ProgressSnapshot::compute(start, start, &counts);
        hooks.guard(|| f(&snap));
    }

    lease.pool.in_place_scope(|s| {
        let sh = &shared;
        let mut spawned = 0usize;
        // Items read from the input, and of those: sent to the queue, settled.
        let mut pulled = 0usize;
        let mut fed = 0usize;
        let mut done_fed = 0usize;
        let mut input_done = false;
        let mut expected: Option<usize> = None;
        let mut in_chunk = 0usize;
        let mut chunk_wait: Option<Option<Instant>> = None;
        // What was read and not yet pushed; sized as each batch begins (see below).
        let mut batch: Vec<Queued<T>> = Vec::new();
        let mut last_push = 0usize;
        // Outcomes taken from the inbox and not yet settled.
        let mut msgs: Vec<Msg<O>> = Vec::new();
        let mut input_ready = options.input_ready.take();
        let mut ramp = Ramp::new(target);
        // Whether the last read stopped because the input had nothing ready.
        let mut starved_input = false;
        loop {
            // Read ahead: once at most half the window is queued or in flight, top it up in one
            // push, so runners rarely find the queue empty and the queue's lock is taken once per
            // refill, not once per item.
            if !input_done
                && expected.is_none()
                && in_chunk < chunk
                && fed - done_fed <= window / 2
                && !stop.is_cancelled()
            {
                starved_input = false;
                let mut early = 1usize;
                while in_chunk < chunk && fed + batch.len() - done_fed < window {
                    // An input that would block waits while there is other work to do.
                    if fed + batch.len() > done_fed {
                        if let Some(ready) = input_ready.as_mut() {
                            if !ready() {
                                starved_input = true;
                                break;
                            }
                        }
                    }
                    match input.next() {
                        None => {
                            input_done = true;
                            counts.total = pulled;
                            counts.total_known = true;
                            break;
                        }
                        Some(Input::Settled(out, class)) => {
                            let index = pulled;
                            pulled += 1;
                            in_chunk += 1;
                            counts.completed += 1;
                            counts.succeeded += usize::from(class == Class::Success);
                            counts.total = counts.total.max(pulled);
                            sink.settled(index, out, class, None, &mut hooks);
                            if options.fail_fast && class == Class::Error {
                                sh.queue.close();
                                break;
                            }
                        }
                        Some(Input::Work { priority, item }) => {
                            if batch.capacity() == 0 {
                                // A push takes the batch whole (handing back a spent one's
                                // buffer when there is one): size a new one for the room left in
                                // the window, not grown by copying (an input that does not say
                                // how much is left: as large as the last push).
                                let room = window.saturating_sub(fed - done_fed);
                                let hint = input.size_hint().0.saturating_add(1).max(last_push);
                                batch.reserve(room.min(hint).min(DEFAULT_QUEUE_AHEAD * 2));
                            }
                            batch.push((pulled, priority, item));
                            pulled += 1;
                            in_chunk += 1;
                            counts.total = counts.total.max(pulled);
                            // Runners idle for want of work get what was read at once, before
                            // the next read (which may block on a slow producer). An input that
                            // says more is ready (a lower size bound) is read on in doubling
                            // pushes, so a fast input is not handed over one wake-up per item.
                            // Runners not started yet count as idle: the first items go out
                            // once [`FIRST_PUSH`] are read, not after a whole window (so a
                            // priority further in orders only what is queued by then).
                            let first = spawned < ramp.allowed && batch.len() >= FIRST_PUSH;
                            if first || (sh.queue.is_starving() && batch.len() >= early) {
                                if input.size_hint().0 > 0 {
                                    early = early.saturating_mul(2);
                                }
                                push(
                                    &sh.queue,
                                    &mut batch,
                                    &mut last_push,
                                    &mut fed,
                                    &mut counts,
                                    &stop,
                                    sink,
                                    &mut hooks,
                                );
                                spawn_runners(s, sh, &mut spawned, ramp.allowed.min(fed));
                            }
                        }
                    }
                }
                push(
                    &sh.queue,
                    &mut batch,
                    &mut last_push,
                    &mut fed,
                    &mut counts,
                    &stop,
                    sink,
                    &mut hooks,
                );
                if input_done {
                    // After the push: a runner that finds the queue empty now may leave.
                    sh.queue.input_done();
                }
            }
            // The clock only when something here is timed (a deadline, chunk pauses, the ramp).
            let now =
                (deadline.is_some() || chunk != usize::MAX || ramp.pending()).then(Instant::now);
            if let Some(now) = now {
                ramp.check(now, done_fed, fed, spawned);
            }
            spawn_runners(s, sh, &mut spawned, ramp.allowed.min(fed));
            if spawned > 0 {
                ramp.begin(done_fed);
            }
            if deadline.is_some_and(|d| now.is_some_and(|n| n >= d)) {
                stop.cancel_with(CancelReason::Deadline);
            }
            if hooks.panic.is_some() || sh.panicked.load(Ordering::Relaxed) {
                stop.cancel_with(CancelReason::User);
            }
            if expected.is_none() && (stop.is_cancelled() || sh.queue.is_closed()) {
                expected = Some(sh.queue.close());
            }
            match expected {
                Some(e) if done_fed >= e => break,
                None if input_done && done_fed >= fed => break,
                _ => {}
            }
            // Between chunks: once a chunk has settled, wait out the pause, then open the next.
            if expected.is_none() && in_chunk >= chunk && done_fed >= fed {
                let now = now.unwrap_or_else(Instant::now);
                let until = *chunk_wait.get_or_insert_with(|| now.checked_add(chunk_pause));
                if until.is_some_and(|u| now >= u) {
                    chunk_wait = None;
                    in_chunk = 0;
                    continue;
                }
            }

            // Timers to wake for: never one already past (that would spin the loop): a deadline
            // that has fired is handled, and a zero progress interval reports after each message,
            // not on a timer.
            let mut wait_until = deadline.filter(|_| !stop.is_cancelled());
            if starved_input {
                let poll = Instant::now() + INPUT_POLL;
                wait_until = Some(wait_until.map_or(poll, |d| d.min(poll)));
            }
            if let Some(Some(u)) = chunk_wait {
                wait_until = Some(wait_until.map_or(u, |d| d.min(u)));
            }
            if let Some(r) = ramp.next_check(fed - done_fed, spawned) {
                wait_until = Some(wait_until.map_or(r, |d| d.min(r)));
            }
            if let Some((every, _)) = progress.as_ref().filter(|(every, _)| !every.is_zero()) {
                if let Some(tick) = last_progress.checked_add(*every) {
                    wait_until = Some(wait_until.map_or(tick, |d| d.min(tick)));
                }
            }
            if msgs.is_empty() {
                // Nothing left from the last batch: sleep only if nothing changed meanwhile (a
                // cancel or pause rang the bell before this check is caught by the park token).
                let changed = (expected.is_none() && stop.is_cancelled())
                    || sh.panicked.load(Ordering::Relaxed)
                    || control.as_ref().is_some_and(BatchControl::is_paused) != paused;
                if changed {
                    sh.inbox.take(&mut msgs);
                } else {
                    // How many outcomes the caller needs before it has anything to do: every one
                    // when each is delivered as it settles; otherwise those that end the run, or
                    // that make a refill of the input due.
                    let need = if prompt {
                        1
                    } else {
                        let open = expected.unwrap_or(fed).saturating_sub(done_fed);
                        let due = if expected.is_none() && !input_done {
                            open.min((fed - done_fed).saturating_sub(window / 2))
                        } else {
                            open
                        };
                        // Settle in slices meanwhile, so the caller's share overlaps the runners'
                        // instead of all coming at the end.
                        due.min(SETTLE_SLICE)
                    };
                    sh.inbox.wait(&mut msgs, wait_until, need);
                }
            }
            // Settle the batch taken in; the loop's checks run again after it.
            for msg in msgs.drain(..) {
                // A lost run (see below) counts the rest of the batch but runs no user code on it.
                let lost = sh.panicked.load(Ordering::Relaxed);
                match msg {
                    Msg::Done {
                        index,
                        out,
                        class,
                        ran,
                    } => {
                        done_fed += 1;
                        counts.completed += 1;
                        counts.succeeded += usize::from(class == Class::Success);
                        if !lost {
                            sink.settled(index, out, class, Some(ran), &mut hooks);
                        }
                    }
                    Msg::Started(index) if !lost => hooks.event(&BatchEvent::Started { index }),
                    Msg::Started(_) => {}
                    Msg::Panicked => {
                        done_fed += 1;
                        counts.completed += 1;
                    }
                }
                if every_message {
                    report(
                        &mut progress,
                        &mut hooks,
                        &mut last_progress,
                        start,
                        &counts,
                        false,
                    );
                }
            }
            let now_paused = control.as_ref().is_some_and(BatchControl::is_paused);
            let mut force_progress = false;
            if now_paused != paused {
                paused = now_paused;
                sh.queue.wake();
                let now = Instant::now();
                if paused {
                    counts.paused_since = Some(now);
                    hooks.event(&BatchEvent::Paused);
                } else {
                    let began = counts.paused_since.take().unwrap_or(now);
                    let paused_for = now.saturating_duration_since(began);
                    counts.paused_total += paused_for;
                    hooks.event(&BatchEvent::Resumed { paused_for });
                }
                force_progress = true;
            }
            if !every_message || force_progress {
                report(
                    &mut progress,
                    &mut hooks,
                    &mut last_progress,
                    start,
                    &counts,
                    force_progress,
                );
            }
        }

        if sh.panicked.load(Ordering::Relaxed) {
            // The run is lost and its panic is re-raised below: settle nothing more (that would
            // run user code for items of a run that no longer returns).
            return;
        }
        // Settle what never started: the queue's rest, then the input's.
        let why = NotRun::of(stop.reason());
        for (index, item) in sh.queue.drain() {
            counts.completed += 1;
            sink.not_run(index, item, why, &mut hooks);
        }
        for item in input.by_ref() {
            let index = pulled;
            pulled += 1;
            counts.completed += 1;
            match item {
                Input::Work { item, .. } => sink.not_run(index, item, why, &mut hooks),
                Input::Settled(out, class) => {
                    counts.succeeded += usize::from(class == Class::Success);
                    sink.settled(index, out, class, None, &mut hooks);
                }
            }
        }
        counts.total = pulled;
        counts.total_known = true;
    });
    if let Some(p) = counts.paused_since.take() {
        counts.paused_total += p.elapsed();
    }
    drop(lease);
    if let Some(p) = shared.panic.into_inner() {
        resume_unwind(p);
    }
    finish(start, &counts, &mut progress, hooks)
}

/// Starts runners until `upto` run.
fn spawn_runners<'s, T: Send, O: Send>(
    s: &rayon::Scope<'s>,
    sh: &'s Shared<'s, T, O>,
    spawned: &mut usize,
    upto: usize,
) {
    while *spawned < upto {
        s.spawn(move |_| runner(sh));
        *spawned += 1;
    }
}
