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
    pub(super) work: &'s Work<'s, T, O>,
    pub(super) inbox: Inbox<Msg<O>>,
    pub(super) panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Set with `panic`, for a lock-free check on every turn of the caller's loop.
    pub(super) panicked: AtomicBool,
}

pub(super) fn runner<T, O>(sh: &Shared<'_, T, O>) {
    let slot = Arc::new(InflightSlot::default());
    let canceller = slot.clone();
    let _registered = sh.stop.on_cancel(Arc::new(move || canceller.cancel()));
    let ctx = sh.ctx.clone().with_slot(slot);
    // When the last item ended, if the runner has not waited since: the next one begins then
    // (one clock read per item, not two).
    let mut last_end: Option<Instant> = None;
    loop {
        let mut waited = false;
        let Some((index, priority, item)) = sh.queue.pop_waited(&mut waited) else {
            return;
        };
        if sh.send_started {
            sh.inbox.send(Msg::Started(index), false);
            waited = true;
        }
        let began = match last_end.take() {
            Some(end) if !waited => end,
            _ => Instant::now(),
        };
        let worker = Worker {
            ctx: &ctx,
            index,
            priority,
            start: sh.start,
            began,
            stop: &sh.stop,
        };
        let mut urgent = false;
        let msg = match catch_unwind(AssertUnwindSafe(|| (sh.work)(&worker, item))) {
            Ok((out, class)) => {
                if sh.fail_fast && class == Class::Error {
                    sh.queue.close();
                    urgent = true;
                }
                let end = Instant::now();
                last_end = Some(end);
                Msg::Done {
                    index,
                    out,
                    class,
                    ran: end.saturating_duration_since(began),
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
        sh.inbox.send(msg, urgent);
    }
}
