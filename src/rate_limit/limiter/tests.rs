//! Property tests of the limiter over extreme configurations: any rate, any burst, run-time
//! changes and clock jumps never panic or overflow, and the only error a setter returns is
//! `InvalidConfig`.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::RateLimiter;
use crate::clock::{Clock, FakeClock};
use crate::error::ErrorKind;
use crate::error::extremes::{count32, duration, float, ok_or_invalid_config};
use crate::execute::Context;
use crate::rate_limit::Rate;

#[derive(Debug, Clone)]
enum Op {
    SetRate(f64, Duration),
    SetBurst(u32),
    TryAcquire,
    /// `acquire` with a deadline this far ahead (virtual time).
    Acquire(Duration),
    Advance(Duration),
    ResetStats,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (float(), duration()).prop_map(|(c, p)| Op::SetRate(c, p)),
        count32().prop_map(Op::SetBurst),
        Just(Op::TryAcquire),
        (0u64..86_400_000).prop_map(|ms| Op::Acquire(Duration::from_millis(ms))),
        (0u64..86_400_000_000).prop_map(|ms| Op::Advance(Duration::from_millis(ms))),
        Just(Op::ResetStats),
    ]
}

proptest! {
    #[test]
    fn any_configuration_and_changes_never_panic(
        count in float(),
        per in duration(),
        burst in count32(),
        ops in proptest::collection::vec(op(), 0..40),
    ) {
        let Ok(rate) = Rate::new(count, per) else {
            return Ok(());
        };
        let clock = FakeClock::new();
        let built = RateLimiter::with_parts(rate, burst, Arc::new(clock.clone()));
        ok_or_invalid_config(&built)?;
        let Ok(limiter) = built else {
            return Ok(());
        };
        for op in ops {
            match op {
                Op::SetRate(c, p) => {
                    if let Ok(r) = Rate::new(c, p) {
                        limiter.set_rate(r);
                    }
                }
                Op::SetBurst(b) => ok_or_invalid_config(&limiter.set_burst(b))?,
                Op::TryAcquire => {
                    let _ = limiter.try_acquire();
                }
                Op::Acquire(d) => {
                    let ctx = Context::new().with_deadline(clock.now() + d);
                    if let Err(e) = limiter.acquire(&ctx) {
                        prop_assert_eq!(e.kind(), ErrorKind::DeadlineExceeded, "{}", e);
                    }
                }
                Op::Advance(d) => clock.advance(d),
                Op::ResetStats => limiter.reset_stats(),
            }
        }
        let s = limiter.stats();
        prop_assert!(s.rate_per_sec > 0.0 && !s.rate_per_sec.is_nan());
        prop_assert!(s.burst >= 1);
        prop_assert_eq!(s.current_waiters, 0);
    }
}

#[test]
fn extreme_bursts_and_rates() {
    let clock = FakeClock::new();
    let slowest = Rate::new(1.0, Duration::from_secs(366 * 24 * 3600)).unwrap();
    let fastest = Rate::new(f64::MAX, Duration::from_nanos(1)).unwrap();
    let l = RateLimiter::with_parts(fastest, u32::MAX, Arc::new(clock.clone())).unwrap();
    for _ in 0..1000 {
        l.try_acquire().unwrap();
    }
    // Slowest rate with the largest burst: a bucket holds at most a century of tokens (100 at
    // 1 per 366 days), so the 1000 missing ones leave it empty; nothing overflows.
    let year = Duration::from_secs(366 * 24 * 3600);
    l.set_rate(slowest);
    assert_eq!(l.try_acquire(), Err(year));
    assert_eq!(l.set_burst(0).unwrap_err().kind(), ErrorKind::InvalidConfig);
    l.set_burst(1).unwrap();
    // Raising the burst grants nothing. (Before the century cap, `t × (burst - 1)` saturated
    // here and every request conformed.)
    l.set_burst(u32::MAX).unwrap();
    assert_eq!(l.try_acquire(), Err(year));
    clock.advance(year);
    l.try_acquire().unwrap();
    assert_eq!(l.try_acquire(), Err(year));
    let clock_before = clock.elapsed();
    let ctx = Context::new().with_deadline(clock.now() + Duration::from_secs(3600));
    let e = l.acquire(&ctx).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(clock.elapsed(), clock_before);
    assert_eq!(
        RateLimiter::new(fastest, 0).unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
}
