//! What to retry and how long to wait: [`RetryPolicy`], its builder, and the backoff arithmetic.

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::request::Request;
use crate::retry::budget::RetryBudget;

/// How the backoff delay is randomised, so that clients that failed together do not retry
/// together.
///
/// With `d` the exponential delay for an attempt (already capped at
/// [`max_delay`](RetryPolicy::max_delay)) and `r` uniform in `[0, 1)`:
///
/// | variant | delay        | range         |
/// |---------|--------------|---------------|
/// | `None`  | `d`          | `d`           |
/// | `Full`  | `d·r`        | `[0, d)`      |
/// | `Equal` | `d/2 + d/2·r`| `[d/2, d)`    |
///
/// `Full` spreads retries the most and is the default (see AWS's "Exponential Backoff and
/// Jitter"); `Equal` keeps a guaranteed minimum wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// No randomisation: always the exponential delay.
    None,
    /// Uniform in `[0, d)`.
    #[default]
    Full,
    /// Uniform in `[d/2, d)`.
    Equal,
}

/// When a request is retried, how often, and how long to wait in between.
///
/// Built with [`RetryPolicy::builder`] (setters share the getters' names); [`RetryPolicy::default`]
/// is the policy described by the getters' defaults, and [`RetryPolicy::none`] never retries.
///
/// An attempt is retried when all of these hold:
/// - its outcome is a response whose status is in [`retry_statuses`](Self::retry_statuses), or a
///   transient transport error ([`ErrorKind::is_transient`]: refused, reset, timeout) and
///   [`retry_transport_errors`](Self::retry_transport_errors) is on;
/// - the request may be repeated: its method is idempotent, it opted in with
///   [`RequestBuilder::retry_non_idempotent`](crate::RequestBuilder::retry_non_idempotent), or
///   [`retry_non_idempotent`](Self::retry_non_idempotent) is on;
/// - fewer than [`max_attempts`](Self::max_attempts) attempts were made;
/// - the server's `Retry-After` (if honoured) is within
///   [`retry_after_cap`](Self::retry_after_cap);
/// - the [`budget`](Self::budget), if any, has a token;
/// - the wait ends before the context's deadline.
///
/// Otherwise the last outcome (response or error) is returned as it is.
///
/// ```
/// use httpbatch::{Jitter, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::builder()
///     .max_attempts(5)
///     .base_delay(Duration::from_millis(50))
///     .max_delay(Duration::from_secs(2))
///     .jitter(Jitter::None)
///     .retry_statuses([429, 503])
///     .build()
///     .unwrap();
/// assert_eq!(policy.max_attempts(), 5);
/// // Delay before the 2nd, 3rd, ... attempt: 50 ms, 100 ms, 200 ms, ... capped at 2 s.
/// assert_eq!(policy.backoff(1, 0.5), Duration::from_millis(50));
/// assert_eq!(policy.backoff(3, 0.5), Duration::from_millis(200));
/// assert_eq!(policy.backoff(30, 0.5), Duration::from_secs(2));
///
/// assert!(RetryPolicy::builder().max_attempts(0).build().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    multiplier: f64,
    jitter: Jitter,
    retry_statuses: Vec<u16>,
    retry_transport_errors: bool,
    respect_retry_after: bool,
    retry_after_cap: Duration,
    retry_non_idempotent: bool,
    budget: Option<RetryBudget>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: Jitter::Full,
            retry_statuses: vec![429, 502, 503, 504],
            retry_transport_errors: true,
            respect_retry_after: true,
            retry_after_cap: Duration::from_secs(60),
            retry_non_idempotent: false,
            budget: None,
        }
    }
}

impl RetryPolicy {
    /// A builder starting from the defaults.
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: RetryPolicy::default(),
        }
    }

    /// A builder starting from this policy, to derive a variant.
    ///
    /// ```
    /// use httpbatch::RetryPolicy;
    /// let base = RetryPolicy::default();
    /// let patient = base.to_builder().max_attempts(10).build().unwrap();
    /// assert_eq!(patient.max_attempts(), 10);
    /// assert_eq!(patient.base_delay(), base.base_delay());
    /// ```
    pub fn to_builder(&self) -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: self.clone(),
        }
    }

    /// A policy that never retries (one attempt).
    ///
    /// ```
    /// assert_eq!(httpbatch::RetryPolicy::none().max_attempts(), 1);
    /// ```
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Checks the policy: at least one attempt, a finite multiplier of at least 1, a base delay
    /// not above the maximum delay, and status codes in `100..=599`.
    ///
    /// Errors are of kind [`ErrorKind::InvalidConfig`]. Extremes are otherwise allowed and mean
    /// what they say: `max_attempts(u32::MAX)` retries until another limit stops it, zero delays
    /// retry at once, `Duration::MAX` as `max_delay` or `retry_after_cap` is no cap (a wait
    /// that would end past the context's deadline, or past the end of time, is not started:
    /// the last outcome is returned).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: String| Err(Error::new(ErrorKind::InvalidConfig, why));
        if self.max_attempts == 0 {
            return bad("retry policy: max_attempts must be at least 1".into());
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return bad(format!(
                "retry policy: multiplier must be a finite number >= 1, got {}",
                self.multiplier
            ));
        }
        if self.base_delay > self.max_delay {
            return bad(format!(
                "retry policy: base_delay {:?} is above max_delay {:?}",
                self.base_delay, self.max_delay
            ));
        }
        if let Some(s) = self
            .retry_statuses
            .iter()
            .find(|s| !(100..=599).contains(*s))
        {
            return bad(format!("retry policy: {s} is not an HTTP status code"));
        }
        Ok(())
    }

    /// Total attempts, the first included: `3` means one try and up to two retries.
    /// Defaults to `3`.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay before the first retry, before jitter. Defaults to `100 ms`.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The largest delay between attempts from backoff (a `Retry-After` is bounded by
    /// [`retry_after_cap`](Self::retry_after_cap) instead). Defaults to `10 s`.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The factor by which the delay grows with each retry. Defaults to `2.0`.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// How the delay is randomised. Defaults to `Jitter::Full`.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The response statuses that are retried. Defaults to `[429, 502, 503, 504]`.
    pub fn retry_statuses(&self) -> &[u16] {
        &self.retry_statuses
    }

    /// Whether transient transport errors (connection refused or reset, timeouts) are retried.
    /// Defaults to `true`.
    pub fn retry_transport_errors(&self) -> bool {
        self.retry_transport_errors
    }

    /// Whether a `Retry-After` header on a retried status replaces the backoff delay.
    /// Defaults to `true`.
    pub fn respect_retry_after(&self) -> bool {
        self.respect_retry_after
    }

    /// The longest `Retry-After` that is waited for. A server asking for more gets its response
    /// returned as final, without a retry: retrying sooner than asked is impolite, and waiting
    /// longer than this would park a worker for longer than the user allowed. Defaults to `60 s`.
    pub fn retry_after_cap(&self) -> Duration {
        self.retry_after_cap
    }

    /// Whether every method is retried, POST and PATCH included, without a per-request opt-in.
    /// Defaults to `false`.
    pub fn retry_non_idempotent(&self) -> bool {
        self.retry_non_idempotent
    }

    /// The retry budget shared with other policies and executors, if any. Defaults to `None`.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }

    /// Whether `request` may be retried under this policy (its method, its opt-in, this policy's
    /// [`retry_non_idempotent`](Self::retry_non_idempotent)).
    pub fn may_retry(&self, request: &Request) -> bool {
        self.max_attempts > 1 && (self.retry_non_idempotent || request.is_retryable())
    }

    /// Whether a response with `status` is retried.
    pub fn retries_status(&self, status: u16) -> bool {
        self.retry_statuses.contains(&status)
    }

    /// Whether an error is retried.
    pub fn retries_error(&self, error: &Error) -> bool {
        self.retry_transport_errors && error.kind().is_transient()
    }

    /// The backoff delay before attempt `attempt + 1`: `attempt` 1 is the delay before the
    /// second attempt (the first retry); `attempt` 0 is zero.
    ///
    /// The delay is `base_delay · multiplier^(attempt-1)`, capped at `max_delay`, then jittered
    /// with `rng_value` (uniform in `[0, 1)`; values outside are clamped, NaN counts as 0). It
    /// never exceeds `max_delay` and is a pure function of its inputs.
    ///
    /// ```
    /// use httpbatch::{Jitter, RetryPolicy};
    /// use std::time::Duration;
    /// let p = RetryPolicy::builder().jitter(Jitter::Equal).build().unwrap();
    /// // 2nd retry: 100 ms · 2 = 200 ms, equal jitter keeps it in [100 ms, 200 ms).
    /// let d = p.backoff(2, 0.25);
    /// assert_eq!(d, Duration::from_millis(125));
    /// ```
    pub fn backoff(&self, attempt: u32, rng_value: f64) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let max = self.max_delay.as_secs_f64();
        let exp = self
            .multiplier
            .powi(attempt.saturating_sub(1).min(i32::MAX as u32) as i32);
        // A product that overflows to infinity (or a 0·inf NaN) is capped like any large one.
        let raw = self.base_delay.as_secs_f64() * exp;
        let capped = if raw.is_nan() || raw > max { max } else { raw };
        let r = if rng_value.is_nan() {
            0.0
        } else {
            rng_value.clamp(0.0, 1.0)
        };
        let secs = match self.jitter {
            Jitter::None => capped,
            Jitter::Full => capped * r,
            Jitter::Equal => capped / 2.0 + capped / 2.0 * r,
        };
        // Converting through f64 can round a hair above `max_delay` (or, near `Duration::MAX`,
        // out of `Duration`'s range): saturate at `max_delay`, never at zero.
        if secs >= max {
            return self.max_delay;
        }
        Duration::try_from_secs_f64(secs)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// Builds a [`RetryPolicy`]; each setter has the name of the getter it sets.
///
/// ```
/// use httpbatch::{RetryBudget, RetryPolicy};
/// use std::time::Duration;
/// let policy = RetryPolicy::builder()
///     .retry_after_cap(Duration::from_secs(5))
///     .budget(RetryBudget::new(0.2, 1.0).unwrap())
///     .build()
///     .unwrap();
/// assert!(policy.budget().is_some());
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl RetryPolicyBuilder {
    /// Sets [`RetryPolicy::max_attempts`].
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.policy.max_attempts = n;
        self
    }

    /// Sets [`RetryPolicy::base_delay`].
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.policy.base_delay = d;
        self
    }

    /// Sets [`RetryPolicy::max_delay`].
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.policy.max_delay = d;
        self
    }

    /// Sets [`RetryPolicy::multiplier`].
    pub fn multiplier(mut self, m: f64) -> Self {
        self.policy.multiplier = m;
        self
    }

    /// Sets [`RetryPolicy::jitter`].
    pub fn jitter(mut self, j: Jitter) -> Self {
        self.policy.jitter = j;
        self
    }

    /// Sets [`RetryPolicy::retry_statuses`] (replacing the defaults).
    pub fn retry_statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.policy.retry_statuses = statuses.into_iter().collect();
        self
    }

    /// Sets [`RetryPolicy::retry_transport_errors`].
    pub fn retry_transport_errors(mut self, yes: bool) -> Self {
        self.policy.retry_transport_errors = yes;
        self
    }

    /// Sets [`RetryPolicy::respect_retry_after`].
    pub fn respect_retry_after(mut self, yes: bool) -> Self {
        self.policy.respect_retry_after = yes;
        self
    }

    /// Sets [`RetryPolicy::retry_after_cap`].
    pub fn retry_after_cap(mut self, d: Duration) -> Self {
        self.policy.retry_after_cap = d;
        self
    }

    /// Sets [`RetryPolicy::retry_non_idempotent`].
    pub fn retry_non_idempotent(mut self, yes: bool) -> Self {
        self.policy.retry_non_idempotent = yes;
        self
    }

    /// Sets [`RetryPolicy::budget`] (`None` removes it).
    pub fn budget(mut self, budget: impl Into<Option<RetryBudget>>) -> Self {
        self.policy.budget = budget.into();
        self
    }

    /// Validates ([`RetryPolicy::validate`]) and builds the policy.
    pub fn build(self) -> Result<RetryPolicy, Error> {
        self.policy.validate()?;
        Ok(self.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::extremes::{duration, float};
    use proptest::prelude::*;

    #[test]
    fn validation() {
        let b = RetryPolicy::builder;
        assert!(b().build().is_ok());
        assert!(RetryPolicy::none().validate().is_ok());
        for bad in [
            b().max_attempts(0),
            b().multiplier(0.5),
            b().multiplier(f64::NAN),
            b().multiplier(f64::INFINITY),
            b().base_delay(Duration::from_secs(11)),
            b().retry_statuses([503, 99]),
            b().retry_statuses([600]),
        ] {
            let e = bad.build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
        }
    }

    #[test]
    fn backoff_grows_then_caps() {
        let p = RetryPolicy::builder().jitter(Jitter::None).build().unwrap();
        let ms = |a| p.backoff(a, 0.0).as_millis();
        assert_eq!(ms(0), 0);
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(7), ms(8)],
            [100, 200, 400, 800, 6400, 10_000]
        );
        assert_eq!(p.backoff(u32::MAX, 0.0), Duration::from_secs(10));
        let full = RetryPolicy::default();
        assert_eq!(full.backoff(1, 0.0), Duration::ZERO);
        assert_eq!(full.backoff(1, 0.5), Duration::from_millis(50));
        assert_eq!(full.backoff(1, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn duration_max_delays_saturate_instead_of_vanishing() {
        let p = RetryPolicy::builder()
            .base_delay(Duration::MAX)
            .max_delay(Duration::MAX)
            .jitter(Jitter::None)
            .build()
            .unwrap();
        assert_eq!(p.backoff(1, 0.0), Duration::MAX);
        assert_eq!(p.backoff(u32::MAX, 0.0), Duration::MAX);
        let zero = RetryPolicy::builder()
            .base_delay(Duration::ZERO)
            .max_delay(Duration::ZERO)
            .multiplier(f64::MAX)
            .build()
            .unwrap();
        assert_eq!(zero.backoff(u32::MAX, 0.9), Duration::ZERO);
    }

    fn jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal)]
    }

    proptest! {
        #[test]
        fn backoff_bounds(
            base_ms in 0u64..5_000,
            extra_ms in 0u64..120_000,
            multiplier in 1.0f64..16.0,
            attempt in 0u32..200,
            r in 0.0f64..1.0,
            j in jitter(),
        ) {
            let p = RetryPolicy::builder()
                .base_delay(Duration::from_millis(base_ms))
                .max_delay(Duration::from_millis(base_ms + extra_ms))
                .multiplier(multiplier)
                .jitter(j)
                .build()
                .unwrap();
            let unjittered = p.to_builder().jitter(Jitter::None).build().unwrap();
            let d = p.backoff(attempt, r);
            let raw = unjittered.backoff(attempt, r);
            prop_assert!(d <= p.max_delay());
            prop_assert!(raw <= p.max_delay());
            // Non-decreasing before jitter.
            prop_assert!(unjittered.backoff(attempt + 1, r) >= raw);
            // Jitter stays within its bounds (1 µs of slack for float rounding).
            let slack = Duration::from_micros(1);
            match j {
                Jitter::None => prop_assert_eq!(d, raw),
                Jitter::Full => prop_assert!(d <= raw),
                Jitter::Equal => {
                    prop_assert!(d + slack >= raw / 2);
                    prop_assert!(d <= raw);
                }
            }
            if attempt >= 1 {
                prop_assert!(raw + slack >= p.base_delay().min(p.max_delay()));
            }
        }

        /// Any option values: `build` is `Ok` or `InvalidConfig`, never a panic, and a built
        /// policy's backoff stays within `[0, max_delay]` for any attempt and random value.
        #[test]
        fn any_options_build_or_fail_with_invalid_config(
            max_attempts in any::<u32>(),
            base in duration(),
            max in duration(),
            multiplier in float(),
            cap in duration(),
            statuses in proptest::collection::vec(any::<u16>(), 0..4),
            j in jitter(),
            attempt in any::<u32>(),
            r in float(),
        ) {
            let built = RetryPolicy::builder()
                .max_attempts(max_attempts)
                .base_delay(base)
                .max_delay(max)
                .multiplier(multiplier)
                .retry_after_cap(cap)
                .retry_statuses(statuses)
                .jitter(j)
                .build();
            match built {
                Ok(p) => prop_assert!(p.backoff(attempt, r) <= p.max_delay()),
                Err(e) => prop_assert_eq!(e.kind(), ErrorKind::InvalidConfig),
            }
        }

        #[test]
        fn backoff_never_panics(
            base_ns in any::<u64>(),
            multiplier in any::<f64>(),
            attempt in any::<u32>(),
            r in any::<f64>(),
        ) {
            let p = RetryPolicy {
                base_delay: Duration::from_nanos(base_ns),
                max_delay: Duration::from_secs(u64::MAX),
                multiplier,
                ..RetryPolicy::default()
            };
            prop_assert!(p.backoff(attempt, r) <= p.max_delay);
        }
    }
}
