//! A runner: one long-lived task on an executor thread that pops items, works them and hands
//! each outcome to the caller's thread (see the invariants of [`super`]).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::agent::InflightSlot;
use crate::execute::{CancelReason, CancelToken, Context};

use super::inbox::Inbox;
use super::queue::Queue;
use super::{Class, Work, Worker};

pub(super) enum Msg<O> {
    Started(usize),
    Done {
        index: usize,
        out: O,
        class: Class,
        ran: Duration,
    },
    Panicked,
}

pub(super) struct Shared<'s, T, O> {
    pub(super) queue: Queue<T>,
    pub(super) stop: CancelToken,
    pub(super) ctx: Context,
    pub(super) start: Instant,
    pub(super) fail_fast: bool,
    pub(super) send_started: bool,
    /// Whether runners may hold back up to [`HOLD`] outcomes of quick items (a run whose caller
    /// only collects; see [`runner`]).
    pub(super) hold: bool,
    pub(super) work: &'s Work<'s, T, O>,
    pub(super) inbox: Inbox<Msg<O>>,
    pub(super) panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Set with `panic`, for a lock-free check on every turn of the caller's loop.
    pub(super) panicked: AtomicBool,
}

/// Most outcomes a runner holds back before it hands them over in one go.
pub(super) const HOLD: usize = 16;

/// Items quicker than this may have their outcome held back; a slower one hands over its own
/// and every held one at once.
const QUICK: Duration = Duration::from_micros(20);

/// Works items until the queue has no more for it.
///
/// When the run allows it (`hold`), the outcomes of quick items are handed over [`HOLD`] at a
/// time rather than one lock each; held outcomes go at once with a slow item's or an urgent
/// one, before the runner would block on the queue, and when it leaves. So none waits longer
/// than the runner's next item, and a caller waiting for the last outcomes always gets them.
pub(super) fn runner<T, O>(sh: &Shared<'_, T, O>) {
    let slot = Arc::new(InflightSlot::default());
    let canceller = slot.clone();
    let _registered = sh.stop.on_cancel(Arc::new(move || canceller.cancel()));
    let ctx = sh.ctx.clone().with_slot(slot);
    // When the last item ended (since the run's start), if the runner has not waited since:
    // the next one begins then. One clock read and one `Instant` subtraction per item: the item's
    // start and end are kept as offsets from the run's start, and its time is their difference.
    let mut last_end: Option<Duration> = None;
    let mut held: Vec<Msg<O>> = Vec::new();
    loop {
        let mut waited = false;
        let flush = (!held.is_empty()).then_some(|| sh.inbox.send_many(&mut held, false));
        // Kept where it was popped to and moved out only for the work: an item is a few hundred
        // bytes, and each move is a copy.
        let mut next = sh.queue.pop_waited(&mut waited, flush);
        let Some(&(index, priority, _)) = next.as_ref() else {
            if !held.is_empty() {
                sh.inbox.send_many(&mut held, false);
            }
            return;
        };
        if sh.send_started {
            sh.inbox.send(Msg::Started(index), false);
            waited = true;
        }
        let queued = match last_end.take() {
            Some(end) if !waited => end,
            _ => sh.start.elapsed(),
        };
        let worker = Worker {
            ctx: &ctx,
            index,
            priority,
            queued,
            stop: &sh.stop,
        };
        let mut urgent = false;
        let mut quick = false;
        let work = || match next.take() {
            Some((_, _, item)) => (sh.work)(&worker, item),
            None => unreachable!("the item was popped above"),
        };
        let msg = match catch_unwind(AssertUnwindSafe(work)) {
            Ok((out, class)) => {
                if sh.fail_fast && class == Class::Error {
                    sh.queue.close();
                    urgent = true;
                }
                let end = sh.start.elapsed();
                last_end = Some(end);
                let ran = end.saturating_sub(queued);
                quick = ran < QUICK;
                Msg::Done {
                    index,
                    out,
                    class,
                    ran,
                }
            }
            Err(payload) => {
                sh.queue.close();
                sh.panic.lock().get_or_insert(payload);
                sh.panicked.store(true, Ordering::Relaxed);
                // The run is lost: interrupt what is in flight so the panic surfaces promptly.
                sh.stop.cancel_with(CancelReason::User);
                Msg::Panicked
            }
        };
        if sh.hold && quick && !urgent {
            held.push(msg);
            if held.len() >= HOLD {
                sh.inbox.send_many(&mut held, false);
            }
        } else if held.is_empty() {
            sh.inbox.send(msg, urgent);
        } else {
            held.push(msg);
            sh.inbox.send_many(&mut held, urgent);
        }
    }
}
