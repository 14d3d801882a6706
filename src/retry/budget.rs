//! The retry budget: a sliding window of deposits (one per request) and withdrawals (one per
//! retry), so retries stay a fraction of the traffic.
//!
//! Invariants: the window is only touched under its mutex; amounts are fixed-point integers
//! (`SCALE` per token), so ten deposits of 0.1 make exactly one token. Entries older than
//! `TTL` expire: a withdrawal expiring is what refills the `min_per_sec` reserve.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};

/// Fixed-point units per token.
const SCALE: f64 = 1_000_000.0;
/// How long a deposit or a withdrawal counts.
const TTL: Duration = Duration::from_secs(10);
/// The window is kept in this many slots of `TTL / SLOTS` each.
const SLOTS: usize = 10;

/// A budget that keeps retries to a fraction of requests, so that a failing host does not get a
/// retry storm on top of its load (the Finagle / tower "TPS budget").
///
/// Every request run under a policy with this budget deposits `ratio` of a token; every retry
/// withdraws one whole token, and is not made when there is none (the last outcome is returned
/// and [`RetryStats::budget_exhausted`](crate::RetryStats::budget_exhausted) counts it). On top
/// of the deposits, a reserve lets `min_per_sec` retries per second through even at low traffic.
/// Deposits and withdrawals count for 10 seconds, so the budget follows recent traffic rather
/// than the whole history.
///
/// The handle is cheap to clone; clones share one budget, across policies, executors and
/// threads.
///
/// ```
/// use httpbatch::{FakeClock, RetryBudget};
/// use std::sync::Arc;
///
/// // Retries up to 10% of requests, no reserve.
/// let budget = RetryBudget::new(0.1, 0.0)
///     .unwrap()
///     .with_clock(Arc::new(FakeClock::new()));
/// for _ in 0..9 {
///     budget.deposit();
/// }
/// assert!(!budget.try_withdraw()); // 0.9 of a token
/// budget.deposit();
/// assert!(budget.try_withdraw()); // 1 token
/// assert!(!budget.try_withdraw());
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    ratio: f64,
    min_per_sec: f64,
    deposit: i64,
    reserve: i64,
    clock: Arc<dyn Clock>,
    window: Mutex<Window>,
}

struct Window {
    slots: [i64; SLOTS],
    /// Index of the current slot.
    current: usize,
    /// When the current slot started.
    started: Instant,
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ratio", &self.inner.ratio)
            .field("min_per_sec", &self.inner.min_per_sec)
            .field("balance", &self.balance())
            .finish()
    }
}

impl RetryBudget {
    /// A budget allowing `ratio` retries per request (0.1: one retry per ten requests) plus
    /// `min_per_sec` retries per second, on the system clock.
    ///
    /// Both must be finite and non-negative, and `ratio` at most 1000; otherwise the error is
    /// of kind [`ErrorKind::InvalidConfig`]. `RetryBudget::new(0.0, 0.0)` allows no retries.
    pub fn new(ratio: f64, min_per_sec: f64) -> Result<RetryBudget, Error> {
        RetryBudget::with_parts(ratio, min_per_sec, Arc::new(SystemClock))
    }

    /// The same configuration reading time from `clock` (a [`FakeClock`](crate::FakeClock) in
    /// tests), as a new, empty budget. Call it while building, before cloning the handle:
    /// existing clones keep the old budget. Defaults to [`SystemClock`].
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> RetryBudget {
        RetryBudget::with_parts(self.ratio(), self.min_per_sec(), clock)
            .expect("the configuration was validated when the budget was made")
    }

    /// The clock this budget reads time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    fn with_parts(
        ratio: f64,
        min_per_sec: f64,
        clock: Arc<dyn Clock>,
    ) -> Result<RetryBudget, Error> {
        if !(ratio.is_finite() && (0.0..=1000.0).contains(&ratio)) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("retry budget: ratio must be in [0, 1000], got {ratio}"),
            ));
        }
        if !(min_per_sec.is_finite() && (0.0..=1e9).contains(&min_per_sec)) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("retry budget: min_per_sec must be in [0, 1e9], got {min_per_sec}"),
            ));
        }
        let started = clock.now();
        Ok(RetryBudget {
            inner: Arc::new(Inner {
                ratio,
                min_per_sec,
                deposit: (ratio * SCALE).round() as i64,
                reserve: (min_per_sec * TTL.as_secs_f64() * SCALE).round() as i64,
                clock,
                window: Mutex::new(Window {
                    slots: [0; SLOTS],
                    current: 0,
                    started,
                }),
            }),
        })
    }

    /// Retries allowed per request.
    pub fn ratio(&self) -> f64 {
        self.inner.ratio
    }

    /// Retries allowed per second regardless of traffic.
    pub fn min_per_sec(&self) -> f64 {
        self.inner.min_per_sec
    }

    /// Records one request (the retry engine calls it once per request).
    pub fn deposit(&self) {
        let mut w = self.window();
        let c = w.current;
        w.slots[c] = w.slots[c].saturating_add(self.inner.deposit);
    }

    /// Takes one token for a retry; `false` (and nothing taken) when the budget is empty.
    pub fn try_withdraw(&self) -> bool {
        let mut w = self.window();
        if self.inner.reserve.saturating_add(w.sum()) < SCALE as i64 {
            return false;
        }
        let c = w.current;
        w.slots[c] = w.slots[c].saturating_sub(SCALE as i64);
        true
    }

    /// The retries available now (may be fractional).
    pub fn balance(&self) -> f64 {
        let w = self.window();
        self.inner.reserve.saturating_add(w.sum()) as f64 / SCALE
    }

    /// The window, with expired slots cleared.
    fn window(&self) -> parking_lot::MutexGuard<'_, Window> {
        let mut w = self.inner.window.lock();
        let now = self.inner.clock.now();
        let slot = TTL / SLOTS as u32;
        let elapsed = now.saturating_duration_since(w.started);
        if elapsed >= slot {
            let steps = (elapsed.as_nanos() / slot.as_nanos()).min(SLOTS as u128) as usize;
            for _ in 0..steps {
                w.current = (w.current + 1) % SLOTS;
                let c = w.current;
                w.slots[c] = 0;
            }
            // Keep slot boundaries on a fixed grid, unless the gap outran the whole window.
            w.started = if elapsed >= TTL {
                now
            } else {
                w.started + slot * steps as u32
            };
        }
        w
    }
}

impl Window {
    /// Saturating: at the largest ratio, slots cannot overflow in any real run, but the sum of
    /// saturated slots must not either.
    fn sum(&self) -> i64 {
        self.slots.iter().fold(0i64, |a, s| a.saturating_add(*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::error::extremes::float;
    use proptest::prelude::*;

    proptest! {
        /// Any ratio and reserve: `Ok` or `InvalidConfig`, never a panic; a built budget takes
        /// any sequence of deposits, withdrawals and clock jumps without overflow, and its
        /// balance is a number.
        #[test]
        fn any_budget_is_ok_or_invalid_config(
            ratio in prop_oneof![float(), Just(1000.0), 0.0f64..1000.0],
            min_per_sec in prop_oneof![float(), Just(1e9), 0.0f64..1e9],
            ops in proptest::collection::vec((0u8..3, 0u64..100_000_000_000), 0..200),
        ) {
            let clock = FakeClock::new();
            match RetryBudget::new(ratio, min_per_sec).map(|b| b.with_clock(Arc::new(clock.clone()))) {
                Err(e) => prop_assert_eq!(e.kind(), ErrorKind::InvalidConfig),
                Ok(b) => {
                    for (op, ms) in ops {
                        match op {
                            0 => b.deposit(),
                            1 => {
                                let _ = b.try_withdraw();
                            }
                            _ => clock.advance(Duration::from_millis(ms)),
                        }
                    }
                    prop_assert!(!b.balance().is_nan());
                }
            }
        }
    }

    #[test]
    fn saturated_slots_do_not_overflow() {
        let b = RetryBudget::new(1000.0, 1e9)
            .unwrap()
            .with_clock(Arc::new(FakeClock::new()));
        // Fill every slot to the brim, then sum them: saturates instead of overflowing.
        b.inner.window.lock().slots = [i64::MAX; SLOTS];
        assert!(b.balance() > 0.0);
        assert!(b.try_withdraw());
        b.inner.window.lock().slots = [i64::MIN; SLOTS];
        assert!(!b.try_withdraw());
    }

    #[test]
    fn validation() {
        for (r, m) in [
            (-0.1, 0.0),
            (f64::NAN, 0.0),
            (1001.0, 0.0),
            (0.1, -1.0),
            (0.1, f64::INFINITY),
        ] {
            let e = RetryBudget::new(r, m).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        }
        let none = RetryBudget::new(0.0, 0.0).unwrap();
        none.deposit();
        assert!(!none.try_withdraw());
    }

    #[test]
    fn reserve_refills_over_time() {
        let clock = FakeClock::new();
        let b = RetryBudget::new(0.0, 1.0)
            .unwrap()
            .with_clock(Arc::new(clock.clone()));
        // 1/s over a 10 s window: ten retries at once, then one more per second.
        for _ in 0..10 {
            assert!(b.try_withdraw());
        }
        assert!(!b.try_withdraw());
        clock.advance(Duration::from_secs(5));
        assert!(!b.try_withdraw(), "withdrawals still inside the window");
        clock.advance(Duration::from_secs(5));
        assert!(b.try_withdraw());
    }

    #[test]
    fn deposits_expire() {
        let clock = FakeClock::new();
        let b = RetryBudget::new(0.5, 0.0)
            .unwrap()
            .with_clock(Arc::new(clock.clone()));
        b.deposit();
        b.deposit();
        assert!((b.balance() - 1.0).abs() < 1e-9);
        clock.advance(Duration::from_secs(11));
        assert_eq!(b.balance(), 0.0);
        assert!(!b.try_withdraw());
    }

    #[test]
    fn clones_share_one_budget_across_threads() {
        let b = RetryBudget::new(1.0, 0.0)
            .unwrap()
            .with_clock(Arc::new(FakeClock::new()));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        b.deposit();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut n = 0;
        while b.try_withdraw() {
            n += 1;
        }
        assert_eq!(n, 4000);
    }
}
