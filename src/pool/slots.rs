//! The per-origin in-flight cap: a counting semaphore built from a mutex and a condvar, whose
//! waits honour the request's [`Context`].
//!
//! Invariants:
//! - `used` is only read or written under its mutex, and never exceeds `cap` (a permit is taken
//!   only when `used < cap`). Every permit is a [`Permit`] whose drop gives it back, so a panic
//!   or an early return cannot leak a slot.
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

/// A counting semaphore with `cap` permits.
#[derive(Debug)]
pub(crate) struct Slots {
    cap: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    pub(crate) fn new(cap: usize) -> Slots {
        Slots {
            cap: cap.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Permits taken now.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        *self.used.lock()
    }

    /// Takes a permit, waiting while all are taken; fails with the context's error
    /// (`Cancelled`, `DeadlineExceeded`) if it is cancelled or its deadline passes first.
    pub(crate) fn acquire(self: &Arc<Self>, ctx: &Context) -> Result<Permit, Error> {
        {
            let mut used = self.used.lock();
            if *used < self.cap {
                *used += 1;
                return Ok(Permit(self.clone()));
            }
        }
        let me = self.clone();
        let _listener = ctx.on_cancel(Arc::new(move || {
            let _used = me.used.lock();
            me.freed.notify_all();
        }));
        let mut used = self.used.lock();
        loop {
            if *used < self.cap {
                *used += 1;
                return Ok(Permit(self.clone()));
            }
            ctx.check()?;
            match ctx.deadline() {
                Some(d) => {
                    // A timeout just loops: the check above reports the passed deadline.
                    self.freed.wait_until(&mut used, d);
                }
                None => self.freed.wait(&mut used),
            }
        }
    }
}

/// One taken slot; dropping it frees the slot and wakes one waiter.
#[derive(Debug)]
pub(crate) struct Permit(Arc<Slots>);

impl Drop for Permit {
    fn drop(&mut self) {
        let mut used = self.0.used.lock();
        *used -= 1;
        drop(used);
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
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            let at = Instant::now();
            token.cancel();
            at
        });
        let err = slots.acquire(&ctx).unwrap_err();
        let woke = Instant::now();
        let cancelled_at = t.join().unwrap();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
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
