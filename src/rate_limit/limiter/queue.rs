//! The limiter's slow path: the FIFO queue of waiting threads, where only the head reads the
//! bucket and sleeps until its token conforms. The invariants are at the top of `limiter.rs`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Inner, RateLimiter};
use crate::error::{Error, ErrorKind};
use crate::execute::{CancelToken, Context};

/// A thread blocked in `acquire`, in the queue.
pub(super) struct Waiter {
    /// The private token the waiter sleeps on now; cancelling it wakes the waiter to re-read
    /// its position and the bucket. Replaced under the queue lock before every sleep.
    pub(super) wake: Mutex<CancelToken>,
}

/// Whether the head should wake precisely (sleep, then spin the last 250 µs on the system clock).
///
/// With burst 1 a late wake-up is rate lost for good (GCRA restarts from `now`), so always. A
/// larger bucket holds the token until the late waiter takes it, so the rate stays exact without
/// spinning; only the spacing jitters by the wake-up delay (measured p99 650 µs at 200/s against
/// 147 µs precise). Spin while that jitter matters, at intervals of 2 ms or more, where the spin
/// costs at most an eighth of a core; at higher rates, sleep plainly.
fn precise(inner: &Inner) -> bool {
    const SPIN_WORTH_IT_NS: u64 = 2_000_000;
    inner.burst.load(Ordering::Relaxed) == 1
        || inner.t_ns.load(Ordering::Relaxed) >= SPIN_WORTH_IT_NS
}

/// How long a parked waiter with no deadline sleeps before looking around anyway. Nothing
/// depends on it (every event that concerns a parked waiter wakes it); it is a backstop.
const PARK: Duration = Duration::from_secs(3600);

/// A waiter's place in the queue: leaving it (however `wait` returns) removes the waiter and,
/// if it was the head, wakes the next one.
struct Queued<'a> {
    inner: &'a Inner,
    me: Arc<Waiter>,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let next = {
            let mut q = self.inner.queue.lock();
            let pos = q.iter().position(|w| Arc::ptr_eq(w, &self.me));
            if let Some(pos) = pos {
                q.remove(pos);
            }
            self.inner
                .hot
                .queued
                .store(q.len() as u64, Ordering::Relaxed);
            match (pos, q.front()) {
                (Some(0), Some(head)) => Some(head.wake.lock().clone()),
                _ => None,
            }
        };
        if let Some(token) = next {
            token.cancel();
        }
    }
}

impl RateLimiter {
    /// The slow path: queue; at the head, sleep precisely until the token conforms, re-check,
    /// repeat; elsewhere, park until it is this waiter's turn.
    #[cold]
    pub(super) fn wait(&self, ctx: &Context, start: u64, take: bool) -> Result<Duration, Error> {
        let inner = &*self.inner;
        let me = Arc::new(Waiter {
            wake: Mutex::new(CancelToken::new()),
        });
        {
            let mut q = inner.queue.lock();
            q.push_back(me.clone());
            inner.hot.queued.store(q.len() as u64, Ordering::Relaxed);
        }
        let queued = Queued { inner, me };
        loop {
            // A fresh token under the lock, before reading the position and the state, so a
            // concurrent promotion, set_rate or stop is either seen below or cancels it.
            let token = CancelToken::new();
            let head = {
                let q = inner.queue.lock();
                *queued.me.wake.lock() = token.clone();
                q.front().is_some_and(|w| Arc::ptr_eq(w, &queued.me))
            };
            if self.is_stopped() {
                return Err(self.reject(Error::stopped("rate limiter")));
            }
            let now = self.now_ns();
            let wait = match self.conform(now, take && head, 0) {
                Ok(()) if head => break,
                // Tokens are there, but the head takes first.
                Ok(()) => 0,
                Err(wait) => wait,
            };
            // `None`: a token further away than `Instant` can count (centuries at the slowest
            // rate and the largest burst); no deadline is that far.
            let wake = inner
                .base
                .checked_add(Duration::from_nanos(now.saturating_add(wait)));
            // Checked for every waiter, at the head or not: no waiter can be admitted before
            // the bucket's next token, whatever happens to the queue ahead of it.
            if ctx.deadline().is_some_and(|d| wake.is_none_or(|w| w > d)) {
                return Err(self.reject(
                    Error::new(
                        ErrorKind::DeadlineExceeded,
                        "rate limiter: the deadline falls before the next token",
                    )
                    .with_retry_after(Duration::from_nanos(wait)),
                ));
            }
            // The clock only wakes for its context's token: sleep on the private one, which
            // the caller's token (through a listener), the setters and a promotion can cancel.
            let private = token.clone();
            let _relay = ctx.on_cancel(Arc::new(move || private.cancel()));
            let sleep_ctx = ctx.clone().with_cancel(token);
            // Past the end of time, look again after a park (a set_rate may bring it closer).
            let wake = wake.unwrap_or_else(|| Instant::now() + PARK);
            let slept = if head && precise(inner) {
                inner.clock.sleep_until_precise(wake, &sleep_ctx)
            } else if head {
                inner.clock.sleep_until(wake, &sleep_ctx)
            } else {
                // Parked in real time, not on the clock: a fake clock must not advance for a
                // thread that is only waiting for its turn.
                sleep_ctx.wait_until(ctx.deadline().unwrap_or_else(|| Instant::now() + PARK))
            };
            if let Err(e) = slept {
                if self.is_stopped() {
                    return Err(self.reject(Error::stopped("rate limiter")));
                }
                if let Err(e) = ctx.check() {
                    return Err(self.reject(e));
                }
                if e.kind() != ErrorKind::Cancelled {
                    return Err(self.reject(e));
                }
                // Woken by a promotion or set_rate/set_burst: re-read the position and state.
            }
        }
        // Hand the head over before the bookkeeping.
        drop(queued);
        let waited = self.now_ns().saturating_sub(start);
        if take {
            let c = &inner.counters;
            c.admitted.fetch_add(1, Ordering::Relaxed);
            c.throttled.fetch_add(1, Ordering::Relaxed);
            c.total_wait_ns.fetch_add(waited, Ordering::Relaxed);
            c.max_wait_ns.fetch_max(waited, Ordering::Relaxed);
        }
        Ok(Duration::from_nanos(waited))
    }

    /// Wakes the head of the queue (the only waiter reading the bucket) to re-read it.
    pub(super) fn wake_head(&self) {
        // Cancel outside the lock: a woken waiter takes the lock to re-read its position.
        let token = self
            .inner
            .queue
            .lock()
            .front()
            .map(|w| w.wake.lock().clone());
        if let Some(t) = token {
            t.cancel();
        }
    }

    /// Wakes every waiter, queued or at the head.
    pub(super) fn wake_all(&self) {
        let tokens: Vec<CancelToken> = self
            .inner
            .queue
            .lock()
            .iter()
            .map(|w| w.wake.lock().clone())
            .collect();
        for t in tokens {
            t.cancel();
        }
    }
}
