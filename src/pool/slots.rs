//! The per-origin in-flight cap: the crate's one cancel-aware semaphore
//! ([`Semaphore`](crate::sync::Semaphore)), fair in arrival order, whose waits honour the
//! request's [`Context`] (cancel and deadline). Every permit is a [`Permit`] whose drop gives it
//! back, so a panic or an early return cannot leak a slot.

use std::sync::Arc;

use crate::error::Error;
use crate::execute::Context;
use crate::sync::Semaphore;
use crate::sync::semaphore::OwnedPermit;

/// One host's slots: `cap` requests in flight at once.
pub(crate) type Slots = Semaphore;

/// One taken slot; dropping it frees the slot and wakes the next waiter.
pub(crate) type Permit = OwnedPermit;

/// Takes a slot of `slots`, waiting in arrival order while all are taken; fails with the context's
/// error (`Cancelled`, `DeadlineExceeded`) if it is cancelled or its deadline passes first.
pub(crate) fn acquire(slots: &Arc<Slots>, ctx: &Context) -> Result<Permit, Error> {
    slots.acquire_owned(0, ctx).map(|(permit, _)| permit)
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
                        let _p = acquire(&slots, &Context::new()).unwrap();
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
        let held = acquire(&slots, &Context::new()).unwrap();

        let token = CancelToken::new();
        let ctx = Context::new().with_cancel(token.clone());
        let waiter = {
            let slots = slots.clone();
            std::thread::spawn(move || acquire(&slots, &ctx).map(|_| ()).unwrap_err())
        };
        // Cancel once the waiter is queued (observed, not slept on): without the cancel the wait
        // would never end, as it has no deadline.
        while slots.waiting() == 0 {
            std::thread::yield_now();
        }
        token.cancel();
        assert_eq!(waiter.join().unwrap().kind(), ErrorKind::Cancelled);

        let ctx = Context::new().with_deadline(Instant::now() + Duration::from_millis(30));
        let err = acquire(&slots, &ctx).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);

        drop(held);
        assert_eq!(slots.in_use(), 0);
        let _again = acquire(&slots, &Context::new()).unwrap();
        assert_eq!(slots.in_use(), 1);
    }
}
