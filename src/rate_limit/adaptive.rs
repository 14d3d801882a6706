//! Adaptive per-host limits: each origin's bucket follows what its server says.
//!
//! Invariants:
//! - Only [`Adaptive::observe`] (called by the leaf after each answer, through the admission)
//!   changes a host's state; admissions only read it. A host's state is one small mutex,
//!   touched once per admission and once per answer.
//! - A hold (`Retry-After`, or a quota spent until its reset) only ever moves later; the rate
//!   set on the host bucket is always `min(configured, advertised)`, so following the server
//!   never raises a host above what the user configured.
//! - Time is the limiter's clock: holds are instants on it, waits go through it (cancel- and
//!   deadline-aware, virtual under a fake clock).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};

use super::limiter::RateLimiter;
use super::rate::Rate;
use crate::clock::Clock;
use crate::error::Error;
use crate::execute::{Answer, Context};
use crate::retry::parse_retry_after;

/// The options of adaptive limits ([`RateLimitedExecutor::adaptive`](crate::RateLimitedExecutor::adaptive)).
///
/// Read them with the getters; change them through [`AdaptiveLimits::builder`] (or
/// [`to_builder`](AdaptiveLimits::to_builder)), whose setters share the getters' names.
///
/// ```
/// use std::time::Duration;
/// use httpbatch::AdaptiveLimits;
///
/// let limits = AdaptiveLimits::builder()
///     .window(Duration::from_secs(3600)) // an hourly quota
///     .max_hold(Duration::from_secs(60))
///     .build();
/// assert_eq!(limits.window(), Duration::from_secs(3600));
/// assert_eq!(limits.max_hold(), Duration::from_secs(60));
/// assert_eq!(AdaptiveLimits::new().window(), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveLimits {
    window: Duration,
    max_hold: Duration,
}

impl Default for AdaptiveLimits {
    fn default() -> Self {
        AdaptiveLimits {
            window: Duration::from_secs(1),
            max_hold: Duration::from_secs(300),
        }
    }
}

impl AdaptiveLimits {
    /// The defaults.
    pub fn new() -> AdaptiveLimits {
        AdaptiveLimits::default()
    }

    /// A builder starting from the defaults.
    pub fn builder() -> AdaptiveLimitsBuilder {
        AdaptiveLimitsBuilder {
            limits: AdaptiveLimits::default(),
        }
    }

    /// A builder starting from these options.
    pub fn to_builder(&self) -> AdaptiveLimitsBuilder {
        AdaptiveLimitsBuilder { limits: *self }
    }

    /// The window a quota is assumed to cover when the server names none
    /// (`X-RateLimit-Limit`, or `RateLimit` without `RateLimit-Policy`'s `w`): the host's rate
    /// becomes the limit per this window. Defaults to `1 s`.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The longest a host is held for one answer (`Retry-After`, a reset): longer asks are cut
    /// to this. Defaults to `300 s`.
    pub fn max_hold(&self) -> Duration {
        self.max_hold
    }
}

/// Builds [`AdaptiveLimits`]; setters are named like the getters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveLimitsBuilder {
    limits: AdaptiveLimits,
}

impl AdaptiveLimitsBuilder {
    /// See [`AdaptiveLimits::window`]. Set it to your API's (an hourly quota: one hour). Zero is
    /// taken as one nanosecond.
    pub fn window(mut self, window: Duration) -> Self {
        self.limits.window = window.max(Duration::from_nanos(1));
        self
    }

    /// See [`AdaptiveLimits::max_hold`]: a broken header cannot stall a run for a day.
    pub fn max_hold(mut self, max: Duration) -> Self {
        self.limits.max_hold = max;
        self
    }

    /// The options.
    pub fn build(self) -> AdaptiveLimits {
        self.limits
    }
}

/// What adaptive limits know about one host ([`RateLimitedExecutor::adaptive_stats`](crate::RateLimitedExecutor::adaptive_stats)).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct AdaptiveHostStats {
    /// The host bucket's rate now, in requests per second: the configured rate, or the
    /// server's quota if lower.
    pub effective_rate_per_sec: f64,
    /// The quota the server last advertised, in requests per second, if any.
    pub advertised_rate_per_sec: Option<f64>,
    /// Answers that set a hold (a `Retry-After` on 429/503, or a spent quota).
    pub holds: u64,
    /// How long the host is still held, from now.
    pub held_for: Duration,
    /// Answers that carried quota headers.
    pub quota_answers: u64,
}

#[derive(Default)]
struct HostState {
    hold_until: Option<Instant>,
    advertised: Option<f64>,
    holds: u64,
    quota_answers: u64,
}

pub(super) struct Adaptive {
    pub(super) limits: AdaptiveLimits,
    hosts: RwLock<HashMap<String, Mutex<HostState>>>,
}

/// A quota read from the headers: `limit` per `window` (if named), `remaining`, `reset`.
#[derive(Debug, Default, PartialEq)]
struct Quota {
    limit: Option<f64>,
    window: Option<Duration>,
    remaining: Option<u64>,
    reset: Option<Duration>,
}

impl Adaptive {
    pub(super) fn new(limits: AdaptiveLimits) -> Adaptive {
        Adaptive {
            limits,
            hosts: RwLock::new(HashMap::new()),
        }
    }

    /// Waits out `origin`'s hold, if any; returns the time waited (on `clock`).
    pub(super) fn wait(
        &self,
        origin: &str,
        clock: &dyn Clock,
        ctx: &Context,
    ) -> Result<Duration, Error> {
        let until = match self.hosts.read().get(origin) {
            Some(h) => h.lock().hold_until,
            None => return Ok(Duration::ZERO),
        };
        let Some(until) = until else {
            return Ok(Duration::ZERO);
        };
        let now = clock.now();
        if until <= now {
            return Ok(Duration::ZERO);
        }
        clock.sleep_until(until, ctx)?;
        Ok(until - now)
    }

    /// How long `origin` is still held, if it is.
    pub(super) fn held_for(&self, origin: &str, clock: &dyn Clock) -> Option<Duration> {
        let until = self.hosts.read().get(origin)?.lock().hold_until?;
        Some(until.saturating_duration_since(clock.now())).filter(|d| !d.is_zero())
    }

    /// Follows `answer` from `origin`: holds and the host bucket's rate (`configured` is the
    /// ceiling).
    pub(super) fn observe(
        &self,
        origin: &str,
        answer: &Answer<'_>,
        host: &RateLimiter,
        configured: Rate,
    ) {
        let quota = Quota::read(answer, self.limits.window);
        let retry = matches!(answer.status(), 429 | 503)
            .then(|| answer.header("retry-after"))
            .flatten()
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let spent = quota.remaining == Some(0);
        if quota.limit.is_none() && retry.is_none() && !spent {
            return;
        }
        if !self.hosts.read().contains_key(origin) {
            self.hosts.write().entry(origin.to_owned()).or_default();
        }
        let hosts = self.hosts.read();
        let mut st = hosts.get(origin).expect("inserted above").lock();
        let now = host.clock().now();
        let hold = match (retry, spent) {
            (Some(d), _) => Some(d),
            (None, true) => quota.reset,
            (None, false) => None,
        };
        if let Some(d) = hold.filter(|d| !d.is_zero()) {
            let until = now + d.min(self.limits.max_hold);
            st.hold_until = Some(st.hold_until.map_or(until, |u| u.max(until)));
            st.holds += 1;
        }
        if let (Some(limit), Some(window)) = (quota.limit, quota.window) {
            st.quota_answers += 1;
            let per_sec = limit / window.as_secs_f64();
            if per_sec > 0.0 && per_sec.is_finite() {
                st.advertised = Some(per_sec);
                let target = per_sec.min(configured.as_per_second());
                if (host.rate().as_per_second() - target).abs() > target * 1e-9 {
                    if let Ok(rate) = Rate::per_second(target) {
                        host.set_rate(rate);
                    }
                }
            }
        }
    }

    pub(super) fn hosts(&self) -> Vec<String> {
        let mut v: Vec<String> = self.hosts.read().keys().cloned().collect();
        v.sort();
        v
    }

    pub(super) fn stats(&self, origin: &str, host: &RateLimiter) -> Option<AdaptiveHostStats> {
        let hosts = self.hosts.read();
        let st = hosts.get(origin)?.lock();
        let now = host.clock().now();
        Some(AdaptiveHostStats {
            effective_rate_per_sec: host.rate().as_per_second(),
            advertised_rate_per_sec: st.advertised,
            holds: st.holds,
            held_for: st
                .hold_until
                .map_or(Duration::ZERO, |u| u.saturating_duration_since(now)),
            quota_answers: st.quota_answers,
        })
    }
}

fn number(v: &str) -> Option<f64> {
    v.trim()
        .trim_matches('"')
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
}

/// `key=value` parameters of a structured header, separated by `,` or `;` (both the IETF
/// draft's older `limit=100, remaining=50, reset=30` and its newer `"name";r=50;t=30`).
fn params(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value.split([',', ';']).filter_map(|p| {
        let (k, v) = p.split_once('=')?;
        Some((k.trim(), v.trim()))
    })
}

impl Quota {
    fn read(answer: &Answer<'_>, assumed_window: Duration) -> Quota {
        let mut q = Quota::default();
        let secs = |v: &str| number(v).map(|s| Duration::from_secs_f64(s.min(1e9)));
        if let Some(v) = answer.header("ratelimit") {
            for (k, v) in params(v) {
                match k {
                    "limit" | "q" => q.limit = number(v),
                    "remaining" | "r" => q.remaining = number(v).map(|x| x as u64),
                    "reset" | "t" => q.reset = secs(v),
                    _ => {}
                }
            }
        }
        if let Some(v) = answer.header("ratelimit-policy") {
            // The first policy: `100;w=60` or `"name";q=100;w=60`.
            let first = v.split(',').next().unwrap_or_default();
            if let Some(n) = first.split(';').next().and_then(number) {
                q.limit = Some(n);
            }
            for (k, v) in params(first) {
                match k {
                    "q" => q.limit = number(v),
                    "w" => q.window = secs(v),
                    _ => {}
                }
            }
        }
        for prefix in ["x-ratelimit-", "ratelimit-"] {
            let h = |name: &str| answer.header(&format!("{prefix}{name}"));
            if q.limit.is_none() {
                q.limit = h("limit").and_then(number);
            }
            if q.remaining.is_none() {
                q.remaining = h("remaining").and_then(number).map(|x| x as u64);
            }
            if q.reset.is_none() {
                q.reset = h("reset").and_then(number).map(|s| {
                    // Large values are Unix times (the GitHub style), small ones delta seconds.
                    if s > 1e9 {
                        let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(s);
                        at.duration_since(SystemTime::now())
                            .unwrap_or(Duration::ZERO)
                    } else {
                        Duration::from_secs_f64(s)
                    }
                });
            }
        }
        if q.limit.is_some() && q.window.is_none() {
            q.window = Some(assumed_window);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::Response;

    fn quota(headers: &[(&str, &str)]) -> Quota {
        let mut res = Response::new(200, "");
        for (n, v) in headers {
            res = res.with_header(n, v);
        }
        Quota::read(&Answer::from_response(&res), Duration::from_secs(1))
    }

    #[test]
    fn reads_both_header_styles() {
        let q = quota(&[
            ("RateLimit", "limit=100, remaining=50, reset=30"),
            ("RateLimit-Policy", "100;w=60"),
        ]);
        assert_eq!(q.limit, Some(100.0));
        assert_eq!(q.window, Some(Duration::from_secs(60)));
        assert_eq!(q.remaining, Some(50));
        assert_eq!(q.reset, Some(Duration::from_secs(30)));
        let q = quota(&[
            ("RateLimit", "\"default\";r=0;t=7"),
            ("RateLimit-Policy", "\"default\";q=10;w=2"),
        ]);
        assert_eq!((q.limit, q.remaining), (Some(10.0), Some(0)));
        assert_eq!(q.window, Some(Duration::from_secs(2)));
        assert_eq!(q.reset, Some(Duration::from_secs(7)));
        let q = quota(&[
            ("X-RateLimit-Limit", "20"),
            ("X-RateLimit-Remaining", "3"),
            ("X-RateLimit-Reset", "4"),
        ]);
        assert_eq!(q.limit, Some(20.0));
        assert_eq!(q.window, Some(Duration::from_secs(1)));
        assert_eq!(
            (q.remaining, q.reset),
            (Some(3), Some(Duration::from_secs(4)))
        );
        assert_eq!(quota(&[("X-RateLimit-Limit", "junk")]), Quota::default());
    }
}
