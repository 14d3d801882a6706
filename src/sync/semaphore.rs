//! The one cancel-aware semaphore of the crate: fair (FIFO within a priority), with priorities,
//! and waits that honour the request's [`Context`] (cancel and deadline). It caps requests in
//! flight across every call of a `ParExecutor`; [`Semaphore::acquire_owned`] gives a permit that
//! owns its handle, for caps that outlive a borrow.
//!
//! Invariants:
//! - `in_use <= cap` at all times; `in_use` and `waiters` are only touched under `state`.
//! - Waiters are served in (priority descending, arrival ascending) order: a waiter takes a permit
//!   only when one is free *and* it is first in `waiters`; the fast path takes a permit only when
//!   nobody waits, so a newcomer never overtakes a queued request (no barging).
//! - Whoever frees a permit or leaves the queue while a permit is free unparks the new first
//!   waiter ("passing the baton"), so a free permit never sits idle while someone waits. Unparks
//!   may be spurious; every waiter re-checks its condition under the lock.
//! - A cancelled or expired context wakes its waiter through a cancel listener (or a park timeout
//!   at the deadline); the waiter leaves the queue and reports why.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::Instant;

use parking_lot::Mutex;

use crate::error::Error;
use crate::execute::Context;

type Key = (Reverse<i32>, u64);

struct State {
    in_use: usize,
    seq: u64,
    waiters: BTreeMap<Key, Thread>,
}

pub(crate) struct Semaphore {
    cap: usize,
    state: Mutex<State>,
}

/// A held permit; dropping it frees it.
pub(crate) struct Permit<'a> {
    permits: &'a Semaphore,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.permits.release();
    }
}

/// A held permit that owns a handle on its semaphore; dropping it frees it.
pub(crate) struct OwnedPermit(Arc<Semaphore>);

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Semaphore {
    /// A semaphore of `cap` permits (zero is taken as one; `usize::MAX` never waits).
    pub(crate) fn new(cap: usize) -> Semaphore {
        Semaphore {
            cap: cap.max(1),
            state: Mutex::new(State {
                in_use: 0,
                seq: 0,
                waiters: BTreeMap::new(),
            }),
        }
    }

    pub(crate) fn in_use(&self) -> usize {
        self.state.lock().in_use
    }

    /// Threads waiting for a permit now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.state.lock().waiters.len()
    }

    fn release(&self) {
        let mut st = self.state.lock();
        st.in_use -= 1;
        self.pass_baton(&st);
    }

    /// Like [`acquire`](Self::acquire), with a permit that keeps the semaphore alive.
    pub(crate) fn acquire_owned(
        self: &Arc<Self>,
        priority: i32,
        ctx: &Context,
    ) -> Result<(OwnedPermit, bool), Error> {
        let (permit, waited) = self.acquire(priority, ctx)?;
        std::mem::forget(permit);
        Ok((OwnedPermit(self.clone()), waited))
    }

    fn pass_baton(&self, st: &State) {
        if st.in_use < self.cap {
            if let Some((_, t)) = st.waiters.first_key_value() {
                t.unpark();
            }
        }
    }

    /// Takes a permit, waiting behind higher priorities and earlier arrivals. Returns the permit
    /// and whether it had to wait; fails as soon as `ctx` is cancelled or its deadline passes.
    pub(crate) fn acquire(
        &self,
        priority: i32,
        ctx: &Context,
    ) -> Result<(Permit<'_>, bool), Error> {
        ctx.check()?;
        let key = {
            let mut st = self.state.lock();
            if st.in_use < self.cap && st.waiters.is_empty() {
                st.in_use += 1;
                return Ok((Permit { permits: self }, false));
            }
            let key = (Reverse(priority), st.seq);
            st.seq += 1;
            st.waiters.insert(key, thread::current());
            key
        };
        let me = thread::current();
        let _wake_on_cancel = ctx.cancel_token().map(|t| t.unpark_on_cancel(me));
        loop {
            {
                let mut st = self.state.lock();
                if let Err(e) = ctx.check() {
                    st.waiters.remove(&key);
                    self.pass_baton(&st);
                    return Err(e);
                }
                if st.in_use < self.cap
                    && st.waiters.first_key_value().map(|(k, _)| k) == Some(&key)
                {
                    st.waiters.remove(&key);
                    st.in_use += 1;
                    self.pass_baton(&st);
                    return Ok((Permit { permits: self }, true));
                }
            }
            match ctx.deadline() {
                Some(d) => thread::park_timeout(d.saturating_duration_since(Instant::now())),
                None => thread::park(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::execute::CancelToken;
    use std::time::Duration;

    #[test]
    fn waiters_are_served_by_priority_then_arrival() {
        let permits = Arc::new(Semaphore::new(1));
        let held = permits.acquire(0, &Context::new()).unwrap().0;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        // Queue up in a known arrival order: (priority, label).
        for (i, prio) in [0, 5, 0, 5, 9].into_iter().enumerate() {
            let p = permits.clone();
            let o = order.clone();
            handles.push(thread::spawn(move || {
                let (_permit, waited) = p.acquire(prio, &Context::new()).unwrap();
                assert!(waited);
                o.lock().push(i);
            }));
            while permits.state.lock().waiters.len() < i + 1 {
                thread::yield_now();
            }
        }
        drop(held);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*order.lock(), [4, 1, 3, 0, 2]);
        assert_eq!(permits.in_use(), 0);
    }

    #[test]
    fn cancel_and_deadline_wake_waiters_and_pass_the_baton() {
        let permits = Arc::new(Semaphore::new(1));
        let held = permits.acquire(0, &Context::new()).unwrap().0;
        let token = CancelToken::new();
        let p = permits.clone();
        let ctx = Context::new().with_cancel(token.clone());
        let cancelled = thread::spawn(move || p.acquire(0, &ctx).map(|_| ()).unwrap_err());
        while permits.state.lock().waiters.is_empty() {
            thread::yield_now();
        }
        token.cancel();
        assert_eq!(cancelled.join().unwrap().kind(), ErrorKind::Cancelled);

        let ctx = Context::new().with_deadline(Instant::now() + Duration::from_millis(30));
        let e = permits.acquire(0, &ctx).map(|_| ()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DeadlineExceeded);
        assert!(permits.state.lock().waiters.is_empty());
        drop(held);
        assert!(!permits.acquire(0, &Context::new()).unwrap().1);
    }

    #[test]
    fn owned_permits_release_on_drop_and_extremes_never_wait() {
        let sem = Arc::new(Semaphore::new(0));
        let (p, waited) = sem.acquire_owned(0, &Context::new()).unwrap();
        assert!(!waited);
        assert_eq!(sem.in_use(), 1);
        let ctx = Context::new().with_deadline(Instant::now());
        assert!(
            sem.acquire_owned(0, &ctx).is_err(),
            "zero is taken as one permit"
        );
        drop(p);
        assert_eq!(sem.in_use(), 0);
        let wide = Semaphore::new(usize::MAX);
        let held: Vec<_> = (0..1000)
            .map(|_| wide.acquire(0, &Context::new()).unwrap().0)
            .collect();
        assert_eq!(wide.in_use(), 1000);
        drop(held);
    }
}
