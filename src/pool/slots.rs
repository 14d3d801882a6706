//! The per-origin in-flight cap: a counting semaphore built from a mutex and a condvar, whose
//! waits honour the request's [`Context`].
//!
//! Invariants:
//! - `used` and `waiting` are only read or written under the mutex; `used` never exceeds `cap`
//!   (a permit is taken only when `used < cap`). Every permit is a [`Permit`] whose drop gives
//!   it back, so a panic or an early return cannot leak a slot.
//! - A waiter checks for a free slot before it checks its context: a wake-up meant for a free
//!   slot is never swallowed by a waiter that then leaves because it was cancelled (the request
//!   then fails its own `ctx.check` below and gives the slot straight back).
//! - The cancel listener takes the mutex before it notifies. A waiter holds the mutex from its
//!   context check until the condvar releases it, so the listener either runs before the check
//!   (which then sees the cancellation) or while the waiter is parked (which it then wakes): no
//!   lost wake-up, so a cancelled waiter returns at once.
//! - Deadline: waits are bounded by the context's deadline; nothing waits forever unless the
//!   caller gave neither a deadline nor a cancel token, and then only while the slots are
//!   really taken by requests that are themselves bounded by their timeouts.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::execute::Context;

/// A counting semaphore with `cap` permits (`usize::MAX`: no cap, it never blocks).
#[derive(Debug)]
pub(crate) struct Slots {
    cap: usize,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Permits taken.
    used: usize,
    /// Threads parked in `acquire` (what tests wait for, instead of sleeping).
    waiting: usize,
}

impl Slots {
    pub(crate) fn new(cap: usize) -> Slots {
        Slots {
            cap: cap.max(1),
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
        }
    }

    /// Permits taken now.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.state.lock().used
    }

    /// Threads waiting for a permit now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.state.lock().waiting
    }

    /// Takes a permit, waiting while all are taken; fails with the context's error
    /// (`Cancelled`, `DeadlineExceeded`) if it is cancelled or its deadline passes first.
    pub(crate) fn acquire(self: &Arc<Self>, ctx: &Context) -> Result<Permit, Error> {
        {
            let mut state = self.state.lock();
            if state.used < self.cap {
                state.used += 1;
                return Ok(Permit(self.clone()));
            }
        }
        let me = self.clone();
        let _listener = ctx.on_cancel(Arc::new(move || {
            let _state = me.state.lock();
            me.freed.notify_all();
        }));
        let mut state = self.state.lock();
        state.waiting += 1;
        let result = loop {
            if state.used < self.cap {
                state.used += 1;
                break Ok(Permit(self.clone()));
            }
            if let Err(e) = ctx.check() {
                break Err(e);
            }
            match ctx.deadline() {
                Some(d) => {
                    // A timeout just loops: the check above reports the passed deadline.
                    self.freed.wait_until(&mut state, d);
                }
                None => self.freed.wait(&mut state),
            }
        };
        state.waiting -= 1;
        result
    }
}

/// One taken slot; dropping it frees the slot and wakes one waiter.
#[derive(Debug)]
pub(crate) struct Permit(Arc<Slots>);

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        state.used -= 1;
        drop(state);
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::execute::CancelToken;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn never_more_than_cap_holders() {
        let slots = Arc::new(Slots::new(3));
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let (slots, now, peak) = (slots.clone(), now.clone(), peak.clone());
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let _p = slots.acquire(&Context::new()).unwrap();
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        std::thread::yield_now();
                        now.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert_eq!(slots.in_use(), 0);
    }

    #[test]
    fn cancel_and_deadline_end_the_wait() {
        let slots = Arc::new(Slots::new(1));
        let held = slots.acquire(&Context::new()).unwrap();

        let token = CancelToken::new();
        let ctx = Context::new().with_cancel(token.clone());
        let watched = slots.clone();
        let t = std::thread::spawn(move || {
            // Cancel once the waiter is observed parked, so the listener's wake-up is tested.
            while watched.waiting() == 0 {
                std::thread::yield_now();
            }
            let at = Instant::now();
            token.cancel();
            at
        });
        let err = slots.acquire(&ctx).unwrap_err();
        let woke = Instant::now();
        let cancelled_at = t.join().unwrap();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert_eq!(slots.waiting(), 0, "a waiter that left is not counted");
        // Without the cancel listener the wait would never end (no deadline); the bound only
        // leaves room for a loaded machine.
        assert!(woke.duration_since(cancelled_at) < Duration::from_millis(500));

        let ctx = Context::new().with_deadline(Instant::now() + Duration::from_millis(30));
        let err = slots.acquire(&ctx).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);

        drop(held);
        assert_eq!(slots.in_use(), 0);
        let _again = slots.acquire(&Context::new()).unwrap();
        assert_eq!(slots.in_use(), 1);
    }
}
