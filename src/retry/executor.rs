//! [`RetryExecutor`]: the retry policy as its own layer.

use std::sync::Arc;

use crate::clock::Clock;
use crate::error::Error;
use crate::execute::{Context, Execute};
use crate::request::Request;
use crate::response::Response;
use crate::retry::engine::{self, RetryState, RetryStats};
use crate::retry::policy::RetryPolicy;

/// Retries the requests its inner layer fails transiently, under a [`RetryPolicy`].
///
/// It sees each request before its inner layer, and calls the inner layer once per attempt.
/// It admits nothing itself: the leaf passes every rate limiter registered on the [`Context`]
/// before each request it writes ([`Context::admit`]), so a limiter above or below this layer
/// charges every attempt. Either way each request on the wire pays one token.
///
/// The returned response or error records the attempts made; response timings include the
/// backoff in `waited`. Statistics are shared by clones (when the inner layer is `Clone`).
///
/// ```
/// use httpbatch::{Context, Error, Execute, FakeClock, Request, Response, RetryExecutor, RetryPolicy};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// /// Fails with 503 twice, then answers 200.
/// struct Flaky(AtomicU32);
/// impl Execute for Flaky {
///     fn execute(&self, _: Request, _: &Context) -> Result<Response, Error> {
///         let n = self.0.fetch_add(1, Ordering::SeqCst);
///         Ok(Response::new(if n < 2 { 503 } else { 200 }, Vec::new()))
///     }
/// }
///
/// let clock = FakeClock::new(); // backoff in virtual time: the example does not sleep
/// let retry = RetryExecutor::new(Flaky(AtomicU32::new(0)), RetryPolicy::default())
///     .unwrap()
///     .with_clock(Arc::new(clock.clone()));
/// let res = retry
///     .execute(Request::get("http://127.0.0.1/").unwrap(), &Context::new())
///     .unwrap();
/// assert_eq!((res.status(), res.attempts()), (200, 3));
/// assert_eq!(retry.stats().retries, 2);
/// assert!(res.timings().waited <= std::time::Duration::from_millis(300));
/// ```
pub struct RetryExecutor<E> {
    inner: E,
    policy: RetryPolicy,
    state: RetryState,
}

impl<E: Clone> Clone for RetryExecutor<E> {
    fn clone(&self) -> Self {
        RetryExecutor {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
            state: self.state.clone(),
        }
    }
}

impl<E: std::fmt::Debug> std::fmt::Debug for RetryExecutor<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryExecutor")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .field("state", &self.state)
            .finish()
    }
}

impl<E: Execute> RetryExecutor<E> {
    /// Wraps `inner`; fails with [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig)
    /// if `policy` does not [`validate`](RetryPolicy::validate).
    pub fn new(inner: E, policy: RetryPolicy) -> Result<RetryExecutor<E>, Error> {
        policy.validate()?;
        Ok(RetryExecutor {
            inner,
            policy,
            state: RetryState::default(),
        })
    }

    /// The same executor reading time and sleeping through `clock` (a
    /// [`FakeClock`](crate::FakeClock) in tests). Defaults to [`SystemClock`](crate::SystemClock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> RetryExecutor<E> {
        self.state.set_clock(clock);
        self
    }

    /// The clock the backoff reads and sleeps on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.state.clock()
    }

    /// The inner layer.
    pub fn get_ref(&self) -> &E {
        &self.inner
    }

    /// The inner layer, mutably.
    pub fn get_mut(&mut self) -> &mut E {
        &mut self.inner
    }

    /// Unwraps the inner layer.
    pub fn into_inner(self) -> E {
        self.inner
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// A snapshot of the counters (shared with clones of this executor).
    pub fn stats(&self) -> RetryStats {
        self.state.stats()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.state.reset_stats();
    }
}

impl<E: Execute> Execute for RetryExecutor<E> {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        engine::run(&self.policy, &self.state, request, ctx, |req, ctx| {
            self.inner.execute(req, ctx)
        })
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<RetryExecutor<Box<dyn Execute>>>();
    is::<RetryPolicy>();
    is::<crate::retry::RetryBudget>();
    is::<RetryStats>();
}
