//! The retry loop, shared by [`RetryExecutor`](crate::RetryExecutor) and any layer that owns its
//! own attempt function (the connection pool).
//!
//! Invariants:
//! - `run` calls the attempt function at most `max_attempts` times, and admits nothing itself:
//!   the leaf passes the admissions registered on `ctx` before each write, so each attempt on the
//!   wire pays the rate limiters exactly once.
//! - Every wait goes through `state.clock.sleep_until(.., ctx)`; a wait the deadline cannot
//!   accommodate is never started.
//! - The request is cloned only for attempts that may be followed by another one; the last
//!   possible attempt gets the original.
//! - `RetryState` is a handle: clones share statistics, RNG and clock. Counters are relaxed
//!   atomics (they are statistics, not synchronisation).

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::execute::Context;
use crate::request::Request;
use crate::response::Response;
use crate::retry::policy::RetryPolicy;
use crate::retry::retry_after::parse_retry_after;

/// A snapshot of a retry layer's counters.
///
/// ```
/// use httpbatch::RetryStats;
/// let s = RetryStats::default();
/// assert_eq!(s.retries, 0);
/// assert_eq!(s.retry_ratio(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryStats {
    /// Requests run through the retry layer.
    pub requests: u64,
    /// Attempts made (calls to the layer below), first attempts included.
    pub attempts: u64,
    /// Attempts after the first (`attempts - requests` once all requests have settled).
    pub retries: u64,
    /// Requests whose last outcome was still retryable when `max_attempts` ran out.
    pub gave_up: u64,
    /// Retries not made because the retry budget was empty.
    pub budget_exhausted: u64,
    /// Waits that followed a server's `Retry-After` instead of the backoff.
    pub retry_after_waits: u64,
    /// Responses returned without a retry because their `Retry-After` exceeded the cap.
    pub retry_after_capped: u64,
    /// Retries not made because the wait would have overrun the deadline.
    pub deadline_stops: u64,
    /// Total time spent in backoff and `Retry-After` waits.
    pub backoff_time: Duration,
}

impl RetryStats {
    /// Retries per request (0 when no request ran).
    pub fn retry_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.retries as f64 / self.requests as f64
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    gave_up: AtomicU64,
    budget_exhausted: AtomicU64,
    retry_after_waits: AtomicU64,
    retry_after_capped: AtomicU64,
    deadline_stops: AtomicU64,
    backoff_ns: AtomicU64,
}

/// What one retry layer owns besides its policy: statistics, jitter RNG and clock.
#[derive(Clone)]
pub(crate) struct RetryState {
    counters: Arc<Counters>,
    rng: Arc<AtomicU64>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RetryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryState")
            .field("clock", &self.clock)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for RetryState {
    fn default() -> Self {
        RetryState::new(Arc::new(SystemClock))
    }
}

impl RetryState {
    /// Fresh counters, a randomly seeded RNG, and `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> RetryState {
        // RandomState is seeded from the OS once per process and perturbed per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        RetryState::with_seed(clock, h.finish())
    }

    /// Like [`new`](Self::new) with a fixed RNG seed (reproducible jitter).
    pub(crate) fn with_seed(clock: Arc<dyn Clock>, seed: u64) -> RetryState {
        RetryState {
            counters: Arc::default(),
            rng: Arc::new(AtomicU64::new(seed)),
            clock,
        }
    }

    /// The same counters and RNG on another clock.
    pub(crate) fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub(crate) fn stats(&self) -> RetryStats {
        let c = &*self.counters;
        RetryStats {
            requests: c.requests.load(Relaxed),
            attempts: c.attempts.load(Relaxed),
            retries: c.retries.load(Relaxed),
            gave_up: c.gave_up.load(Relaxed),
            budget_exhausted: c.budget_exhausted.load(Relaxed),
            retry_after_waits: c.retry_after_waits.load(Relaxed),
            retry_after_capped: c.retry_after_capped.load(Relaxed),
            deadline_stops: c.deadline_stops.load(Relaxed),
            backoff_time: Duration::from_nanos(c.backoff_ns.load(Relaxed)),
        }
    }

    pub(crate) fn reset_stats(&self) {
        let c = &*self.counters;
        for a in [
            &c.requests,
            &c.attempts,
            &c.retries,
            &c.gave_up,
            &c.budget_exhausted,
            &c.retry_after_waits,
            &c.retry_after_capped,
            &c.deadline_stops,
            &c.backoff_ns,
        ] {
            a.store(0, Relaxed);
        }
    }

    /// A uniform value in `[0, 1)` (SplitMix64: lock-free, one atomic add per draw).
    fn next_f64(&self) -> f64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits, as a fraction of 2^53.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Why the loop stops retrying.
enum Stop {
    /// The outcome is not retryable (or the request may not be repeated).
    Final,
    /// Retryable, but `max_attempts` is used up.
    Exhausted,
}

/// Runs `request` under `policy`: calls `attempt`, and while the outcome is retryable and the
/// policy, budget and deadline allow, waits and calls it again with a copy of the request.
///
/// `attempt` is one try on the wire (the inner layer's `execute`, or a pool's own send); each
/// call gets the same `ctx`, so the leaf under it pays every registered admission per write.
///
/// The outcome records the attempts (the sum of what each call reports, at least one per call)
/// and, on a response, the retry waits in `timings.waited`, plus the `waited` and `wire` time of
/// the responses it discarded.
///
/// A wait that would end after the deadline is not started: the last outcome is returned as it
/// is (more useful than `DeadlineExceeded`). Cancellation during a wait returns that error with
/// the attempts recorded; so does a retry failing, except one that never reached the wire
/// because of the deadline (its admission could not be met in
/// time: `DeadlineExceeded` with no attempt), which also returns the last outcome.
pub(crate) fn run<F>(
    policy: &RetryPolicy,
    state: &RetryState,
    request: Request,
    ctx: &Context,
    mut attempt: F,
) -> Result<Response, Error>
where
    F: FnMut(Request, &Context) -> Result<Response, Error>,
{
    let c = &*state.counters;
    c.requests.fetch_add(1, Relaxed);
    if let Some(b) = policy.budget() {
        b.deposit();
    }
    if !policy.may_retry(&request) {
        c.attempts.fetch_add(1, Relaxed);
        return match attempt(request, ctx) {
            Ok(mut r) => {
                r.set_attempts(r.attempts().max(1));
                Ok(r)
            }
            Err(e) => {
                let n = e.attempts().max(1);
                Err(e.with_attempts(n))
            }
        };
    }

    let max = policy.max_attempts();
    let mut original = Some(request);
    let mut calls = 0u32;
    let mut attempts = 0u32;
    let mut waited = Duration::ZERO;
    let mut carried = (Duration::ZERO, Duration::ZERO); // (waited, wire) of discarded responses
    let finish = |outcome: Result<Response, Error>,
                  attempts: u32,
                  waited: Duration,
                  carried: (Duration, Duration)| match outcome {
        Ok(mut r) => {
            r.set_attempts(attempts);
            let t = r.timings_mut();
            t.waited += waited + carried.0;
            t.wire += carried.1;
            Ok(r)
        }
        Err(e) => Err(e.with_attempts(attempts)),
    };

    let mut last: Option<Result<Response, Error>> = None;
    loop {
        let req = if calls + 1 < max {
            original.clone().expect("request kept for retries")
        } else {
            original.take().expect("request kept for the last attempt")
        };
        calls += 1;
        c.attempts.fetch_add(1, Relaxed);
        if calls > 1 {
            c.retries.fetch_add(1, Relaxed);
        }
        let outcome = attempt(req, ctx);
        if let Some(prev) = last.take() {
            // A retry that the deadline kept off the wire (its admission could not be met in
            // time): the previous outcome says more.
            if matches!(&outcome, Err(e) if e.kind() == ErrorKind::DeadlineExceeded && e.attempts() == 0)
            {
                c.deadline_stops.fetch_add(1, Relaxed);
                return finish(prev, attempts, waited, carried);
            }
            if let Ok(prev) = prev {
                carried.0 += prev.timings().waited;
                carried.1 += prev.timings().wire;
            }
        }
        attempts = attempts.saturating_add(match &outcome {
            Ok(r) => r.attempts().max(1),
            Err(e) => e.attempts().max(1),
        });

        let stop = match &outcome {
            Ok(r) if policy.retries_status(r.status()) => None,
            Err(e) if policy.retries_error(e) => None,
            _ => Some(Stop::Final),
        }
        .or((calls >= max).then_some(Stop::Exhausted));
        if let Some(stop) = stop {
            if let Stop::Exhausted = stop {
                c.gave_up.fetch_add(1, Relaxed);
                log::info!(target: "httpbatch::retry", "giving up after {calls} attempts: {}", outcome_text(&outcome));
            }
            return finish(outcome, attempts, waited, carried);
        }

        let retry_after = match &outcome {
            Ok(r) if policy.respect_retry_after() => r
                .header("retry-after")
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
            _ => None,
        };
        let delay = match retry_after {
            Some(d) if d > policy.retry_after_cap() => {
                c.retry_after_capped.fetch_add(1, Relaxed);
                log::info!(target: "httpbatch::retry", "not retrying: Retry-After {d:?} is above the cap of {:?}", policy.retry_after_cap());
                return finish(outcome, attempts, waited, carried);
            }
            Some(d) => d,
            None => policy.backoff(calls, state.next_f64()),
        };
        let now = state.clock.now();
        let Some(until) = now.checked_add(delay) else {
            // Only a `Retry-After` under an unbounded cap gets here: a wait past the end of time.
            c.retry_after_capped.fetch_add(1, Relaxed);
            return finish(outcome, attempts, waited, carried);
        };
        if ctx.deadline().is_some_and(|d| until > d) {
            c.deadline_stops.fetch_add(1, Relaxed);
            log::debug!(target: "httpbatch::retry", "not retrying: a wait of {delay:?} would pass the deadline");
            return finish(outcome, attempts, waited, carried);
        }
        if let Some(b) = policy.budget() {
            if !b.try_withdraw() {
                c.budget_exhausted.fetch_add(1, Relaxed);
                log::info!(target: "httpbatch::retry", "not retrying: the retry budget is spent");
                return finish(outcome, attempts, waited, carried);
            }
        }
        if retry_after.is_some() {
            c.retry_after_waits.fetch_add(1, Relaxed);
        }
        log::debug!(target: "httpbatch::retry", "attempt {calls} of {max}: {}; retrying in {delay:?}{}", outcome_text(&outcome), if retry_after.is_some() { " (Retry-After)" } else { " (backoff)" });
        let slept = state.clock.sleep_until(until, ctx);
        let took = state.clock.now().saturating_duration_since(now);
        waited += took;
        c.backoff_ns
            .fetch_add(took.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
        match slept {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::DeadlineExceeded => {
                c.deadline_stops.fetch_add(1, Relaxed);
                return finish(outcome, attempts, waited, carried);
            }
            Err(e) => return Err(e.with_attempts(attempts)),
        }
        last = Some(outcome);
    }
}

/// An outcome in a log line: `status 503` or the error.
fn outcome_text(outcome: &Result<Response, Error>) -> String {
    match outcome {
        Ok(r) => format!("status {} from {}", r.status(), r.url()),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::retry::policy::Jitter;

    #[test]
    fn rng_is_uniform_enough_and_in_range() {
        let s = RetryState::with_seed(Arc::new(SystemClock), 42);
        let draws: Vec<f64> = (0..10_000).map(|_| s.next_f64()).collect();
        assert!(draws.iter().all(|r| (0.0..1.0).contains(r)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let low = draws.iter().filter(|r| **r < 0.1).count();
        assert!((800..1200).contains(&low), "{low}");
    }

    /// How a layer with its own attempt function (the pool) drives the engine.
    #[test]
    fn run_with_an_owned_attempt_function_sums_attempts_and_timings() {
        let clock = FakeClock::new();
        let state = RetryState::with_seed(Arc::new(clock.clone()), 7);
        let policy = RetryPolicy::builder().jitter(Jitter::None).build().unwrap();
        let req = Request::get("http://127.0.0.1:9/").unwrap();
        let mut calls = 0;
        let res = run(&policy, &state, req, &Context::new(), |req, ctx| {
            ctx.check()?;
            calls += 1;
            let mut r =
                Response::new(if calls < 3 { 503 } else { 200 }, Vec::new()).with_tag(req.tag());
            r.timings_mut().wire = Duration::from_millis(10);
            r.timings_mut().waited = Duration::from_millis(1);
            Ok(r)
        })
        .unwrap();
        assert_eq!((res.status(), res.attempts(), calls), (200, 3, 3));
        let t = res.timings();
        assert_eq!(t.wire, Duration::from_millis(30));
        // 100 ms + 200 ms of backoff, plus what each attempt reported waiting.
        assert_eq!(t.waited, Duration::from_millis(303));
        assert_eq!(state.stats().backoff_time, Duration::from_millis(300));
    }

    #[test]
    fn nested_retries_add_up_attempts() {
        let state = RetryState::with_seed(Arc::new(FakeClock::new()), 1);
        let req = Request::get("http://127.0.0.1:9/").unwrap();
        let mut calls = 0;
        let err = run(
            &RetryPolicy::default(),
            &state,
            req,
            &Context::new(),
            |_, _| {
                calls += 1;
                Err(Error::new(ErrorKind::Timeout, "inner gave up").with_attempts(2))
            },
        )
        .unwrap_err();
        assert_eq!((calls, err.attempts()), (3, 6));
    }
}
