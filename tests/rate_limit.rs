//! Rate limiting: the bucket's arithmetic and run-time changes on a fake clock, waking blocked
//! threads on the system clock (short bounded waits only), and the executor layer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use httpbatch::{
    CancelToken, Clock, Context, Error, ErrorKind, Execute, FakeClock, Rate, RateLimitedExecutor,
    RateLimiter, Request, Response, SystemClock, TryExecuteError,
};
use proptest::prelude::*;

fn fake(rate: &str, burst: u32) -> (RateLimiter, FakeClock) {
    let clock = FakeClock::new();
    let limiter = RateLimiter::new(Rate::parse(rate).unwrap(), burst)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    (limiter, clock)
}

fn real(rate: &str, burst: u32) -> RateLimiter {
    RateLimiter::new(Rate::parse(rate).unwrap(), burst).unwrap()
}

/// Polls (real time, bounded) until `limiter` has `n` blocked waiters.
fn until_waiters(limiter: &RateLimiter, n: u64) {
    let start = Instant::now();
    while limiter.stats().current_waiters != n {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "waiters never reached {n}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn no_one_second_window() {
    let (limiter, clock) = fake("10/s", 1);
    let ctx = Context::new();
    for _ in 0..20 {
        limiter.acquire(&ctx).unwrap();
    }
    let took = clock.elapsed();
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert!(took <= Duration::from_millis(2000), "{took:?}");
    let s = limiter.stats();
    assert_eq!((s.admitted, s.throttled), (20, 19));
    assert_eq!(s.total_wait, took);
    assert_eq!(s.max_wait, Duration::from_millis(100));
}

#[test]
fn burst_passes_at_once_then_one_per_interval() {
    let (limiter, clock) = fake("5000/h", 3);
    for _ in 0..3 {
        limiter.try_acquire().unwrap();
    }
    assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(720)));
    clock.advance(Duration::from_millis(719));
    assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(1)));
    clock.advance(Duration::from_millis(1));
    limiter.try_acquire().unwrap();
    // Idle time refills, but never beyond the burst.
    clock.advance(Duration::from_secs(3600));
    for _ in 0..3 {
        limiter.try_acquire().unwrap();
    }
    assert!(limiter.try_acquire().is_err());
}

#[test]
fn invalid_configuration_is_rejected() {
    let rate = Rate::per_second(1.0).unwrap();
    assert_eq!(
        RateLimiter::new(rate, 0).unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
    let limiter = RateLimiter::new(rate, 1).unwrap();
    assert_eq!(
        limiter.set_burst(0).unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
    assert_eq!(limiter.burst(), 1);
}

#[test]
fn clones_share_one_bucket() {
    let (a, _clock) = fake("1/s", 2);
    let b = a.clone();
    a.try_acquire().unwrap();
    b.try_acquire().unwrap();
    assert!(a.try_acquire().is_err());
    assert!(b.try_acquire().is_err());
    assert_eq!(b.stats().admitted, 2);
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Try,
    Acquire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..300_000_000).prop_map(Op::Advance),
        (0u64..3_000_000).prop_map(Op::Advance),
        Just(Op::Try),
        Just(Op::Acquire),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Over every window between two admissions, admissions <= burst + rate x length: this covers
    /// windows from the start (admitted(t) <= burst + rate x t) and every sliding window.
    /// Also: a refused try_acquire's wait is exact (after it, the token is there).
    #[test]
    fn never_more_than_burst_plus_rate_times_window(
        count in 0.05f64..2000.0,
        per_ms in 1u64..5000,
        burst in 1u32..20,
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let rate = Rate::new(count, Duration::from_millis(per_ms)).unwrap();
        prop_assume!(rate.interval() <= Duration::from_secs(60));
        let clock = FakeClock::new();
        let limiter = RateLimiter::new(rate, burst).unwrap().with_clock(Arc::new(clock.clone()));
        let ctx = Context::new();
        let mut admitted: Vec<Duration> = Vec::new();
        for op in ops {
            match op {
                Op::Advance(ns) => clock.advance(Duration::from_nanos(ns)),
                Op::Try => match limiter.try_acquire() {
                    Ok(()) => admitted.push(clock.elapsed()),
                    Err(wait) => {
                        prop_assert!(wait > Duration::ZERO);
                        prop_assert!(wait <= rate.interval());
                        clock.advance(wait);
                        prop_assert_eq!(limiter.try_acquire(), Ok(()));
                        admitted.push(clock.elapsed());
                    }
                },
                Op::Acquire => {
                    let before = clock.elapsed();
                    let waited = limiter.acquire(&ctx).unwrap();
                    prop_assert_eq!(clock.elapsed() - before, waited);
                    prop_assert!(waited <= rate.interval());
                    admitted.push(clock.elapsed());
                }
            }
        }
        let per_sec = rate.as_per_second();
        for i in 0..admitted.len() {
            for j in i..admitted.len() {
                let n = (j - i + 1) as f64;
                let len = (admitted[j] - admitted[i]).as_secs_f64();
                let bound = f64::from(burst) + per_sec * len + 1e-9;
                prop_assert!(n <= bound, "{n} admissions in {len}s > {bound} ({rate}, burst {burst})");
            }
            // From the start (the bucket starts full at t = 0).
            let bound = f64::from(burst) + per_sec * admitted[i].as_secs_f64() + 1e-9;
            prop_assert!((i + 1) as f64 <= bound);
        }
        let s = limiter.stats();
        prop_assert_eq!(s.admitted, admitted.len() as u64);
        prop_assert!(!s.rate_per_sec.is_nan());
    }

    /// A rate change never hands out a fresh burst: right after it, at most the tokens that
    /// were available just before it are available (whether the rate went up or down).
    #[test]
    fn rate_changes_never_grant_a_fresh_burst(
        a in 1u32..1000,
        b in 1u32..1000,
        burst in 1u32..20,
        taken in 0u32..20,
        idle_us in 0u64..50_000,
    ) {
        // Two limiters with the same history; one counts what is available, the other what
        // is available after the change.
        let history = || {
            let (limiter, clock) = fake(&format!("{a}/s"), burst);
            for _ in 0..taken.min(burst) {
                limiter.try_acquire().unwrap();
            }
            clock.advance(Duration::from_micros(idle_us));
            limiter
        };
        let drain = |l: &RateLimiter| std::iter::from_fn(|| l.try_acquire().ok()).count();
        let available_before = drain(&history());
        let changed = history();
        changed.set_rate(Rate::per_second(f64::from(b)).unwrap());
        let available_after = drain(&changed);
        prop_assert!(
            available_after <= available_before,
            "{available_after} > {available_before}"
        );
    }
}

#[test]
fn lowering_the_rate_grants_no_fresh_burst() {
    let (limiter, clock) = fake("100/s", 10);
    for _ in 0..10 {
        limiter.try_acquire().unwrap();
    }
    limiter.set_rate(Rate::parse("1/s").unwrap());
    // The bucket stays empty: the next token is one *new* interval away, not 10 ms.
    assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(1)));
    let ctx = Context::new();
    for _ in 0..3 {
        limiter.acquire(&ctx).unwrap();
    }
    assert_eq!(clock.elapsed(), Duration::from_secs(3));
    assert_eq!(limiter.stats().rate_per_sec, 1.0);
}

#[test]
fn a_partly_refilled_token_is_carried_over_in_proportion() {
    let (limiter, clock) = fake("10/s", 1);
    limiter.try_acquire().unwrap();
    clock.advance(Duration::from_millis(50)); // half a token at 10/s
    limiter.set_rate(Rate::parse("1/s").unwrap());
    assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(500)));
    limiter.set_rate(Rate::parse("100/s").unwrap());
    assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(5)));
}

#[test]
fn raising_the_rate_shortens_the_wait_at_once() {
    let (limiter, _clock) = fake("0.1/s", 1);
    limiter.try_acquire().unwrap();
    assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(10)));
    limiter.set_rate(Rate::parse("100/s").unwrap());
    assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(10)));
}

#[test]
fn set_burst_neither_grants_nor_strands() {
    let (limiter, clock) = fake("10/s", 10);
    for _ in 0..10 {
        limiter.try_acquire().unwrap();
    }
    // Lowering: no grant, and the wait is one interval, not the old bucket's whole debt.
    limiter.set_burst(1).unwrap();
    assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(100)));
    clock.advance(Duration::from_millis(100));
    limiter.try_acquire().unwrap();
    // Raising: the room refills at the rate, it is not handed out at once.
    limiter.set_burst(5).unwrap();
    assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(100)));
    clock.advance(Duration::from_secs(10));
    for _ in 0..5 {
        limiter.try_acquire().unwrap();
    }
    assert!(limiter.try_acquire().is_err());
    assert_eq!(limiter.stats().burst, 5);
}

#[test]
fn threads_on_a_fake_clock_keep_the_rate() {
    let (limiter, clock) = fake("100/s", 5);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let l = limiter.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    l.acquire(&Context::new()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(limiter.stats().admitted, 200);
    // 5 at once, then 195 more at 10 ms each.
    assert!(
        clock.elapsed() >= Duration::from_millis(1950),
        "{:?}",
        clock.elapsed()
    );
    assert_eq!(limiter.stats().current_waiters, 0);
}

#[test]
fn threads_continue_at_the_new_rate_after_set_rate() {
    let (limiter, clock) = fake("1000/s", 1);
    let changed_at = Arc::new(parking_lot::Mutex::new(None));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (l, clock, changed_at) = (limiter.clone(), clock.clone(), changed_at.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    l.acquire(&Context::new()).unwrap();
                    // One worker lowers the rate mid-run while the others are acquiring.
                    let admitted = l.stats().admitted;
                    if admitted >= 40 {
                        let mut at = changed_at.lock();
                        if at.is_none() {
                            l.set_rate(Rate::parse("10/s").unwrap());
                            *at = Some((clock.elapsed(), l.stats().admitted));
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (at, admitted_then) = changed_at.lock().unwrap();
    assert_eq!(limiter.stats().admitted, 200);
    // Whatever was admitted after the change ran at 10/s: n more need (n - 1) x 100 ms.
    // Allow one token part-earned at the old rate and one admission per other thread that
    // raced the change.
    let after = (200 - admitted_then) as u32;
    let took = clock.elapsed() - at;
    assert!(
        took >= Duration::from_millis(100) * (after - 5),
        "{after} admissions in {took:?}"
    );
}

#[test]
fn raising_the_rate_releases_a_long_parked_waiter() {
    let limiter = real("0.1/s", 1);
    limiter.try_acquire().unwrap();
    let (tx, rx) = mpsc::channel();
    let l = limiter.clone();
    let t = std::thread::spawn(move || tx.send(l.acquire(&Context::new())).unwrap());
    until_waiters(&limiter, 1);
    let changed = Instant::now();
    limiter.set_rate(Rate::parse("100/s").unwrap());
    let got = rx
        .recv_timeout(Duration::from_secs(1))
        .expect("the waiter stayed on the 10 s schedule");
    assert!(got.is_ok());
    assert!(changed.elapsed() < Duration::from_secs(1));
    t.join().unwrap();
}

#[test]
fn lowering_the_rate_holds_back_a_parked_waiter() {
    let limiter = real("20/s", 1); // 50 ms
    limiter.try_acquire().unwrap();
    let taken = Instant::now();
    let l = limiter.clone();
    let t = std::thread::spawn(move || l.acquire(&Context::new()));
    until_waiters(&limiter, 1);
    let changed = Instant::now();
    limiter.set_rate(Rate::parse("2/s").unwrap()); // 500 ms
    t.join().unwrap().unwrap();
    let after_change = changed.elapsed();
    // The part of the token still missing at the change refills at the new rate: ten times
    // slower than the old schedule, which would have admitted the waiter within 50 ms.
    let elapsed = changed - taken;
    if elapsed < Duration::from_millis(40) {
        let missing = 1.0 - elapsed.as_secs_f64() / 0.050;
        let expected = Duration::from_secs_f64(0.5 * missing);
        assert!(
            after_change + Duration::from_millis(20) >= expected,
            "admitted {after_change:?} after the change, expected about {expected:?}"
        );
    }
    assert!(after_change < Duration::from_secs(2));
}

#[test]
fn stop_wakes_a_blocked_waiter_and_refuses_later_calls() {
    let limiter = real("1/min", 1);
    limiter.try_acquire().unwrap();
    let l = limiter.clone();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || tx.send(l.acquire(&Context::new())).unwrap());
    until_waiters(&limiter, 1);
    limiter.stop();
    let err = rx
        .recv_timeout(Duration::from_secs(1))
        .expect("stop did not wake the waiter")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Stopped);
    t.join().unwrap();
    assert!(limiter.is_stopped());
    assert_eq!(
        limiter.acquire(&Context::new()).unwrap_err().kind(),
        ErrorKind::Stopped
    );
    assert_eq!(limiter.try_acquire(), Err(Duration::MAX));
    assert_eq!(limiter.stats().current_waiters, 0);
}

#[test]
fn cancel_wakes_a_blocked_waiter_and_consumes_nothing() {
    let limiter = real("1/min", 1);
    limiter.try_acquire().unwrap();
    let wait_before = limiter.try_acquire().unwrap_err();
    let token = CancelToken::new();
    let ctx = Context::new().with_cancel(token.clone());
    let l = limiter.clone();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || tx.send(l.acquire(&ctx)).unwrap());
    until_waiters(&limiter, 1);
    token.cancel();
    let err = rx
        .recv_timeout(Duration::from_secs(1))
        .expect("cancel did not wake the waiter")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    t.join().unwrap();
    // Nothing was reserved: the next token is no further away than before.
    assert!(limiter.try_acquire().unwrap_err() <= wait_before);
    assert_eq!(limiter.stats().admitted, 1);
}

#[test]
fn cancelled_context_fails_without_waiting_on_a_fake_clock() {
    let (limiter, clock) = fake("1/s", 1);
    limiter.try_acquire().unwrap();
    let token = CancelToken::new();
    token.cancel();
    let err = limiter
        .acquire(&Context::new().with_cancel(token))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(clock.elapsed(), Duration::ZERO);
    // The cancelled waiter left no trace in the bucket.
    assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(1)));
}

#[test]
fn a_deadline_that_cannot_be_met_fails_at_once() {
    let (limiter, clock) = fake("1/s", 1);
    limiter.try_acquire().unwrap();
    let ctx = Context::new().with_deadline(clock.now() + Duration::from_millis(500));
    let err = limiter.acquire(&ctx).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(clock.elapsed(), Duration::ZERO, "virtual time advanced");
    assert_eq!(limiter.stats().rejected, 1);
    // A deadline that can be met is waited for.
    let ctx = Context::new().with_deadline(clock.now() + Duration::from_secs(5));
    assert_eq!(limiter.acquire(&ctx).unwrap(), Duration::from_secs(1));
}

#[test]
fn stats_have_no_nan_and_reset() {
    let (limiter, _clock) = fake("2/s", 1);
    let s = limiter.stats();
    assert_eq!(s.mean_wait(), Duration::ZERO);
    assert_eq!(s.rate_per_sec, 2.0);
    assert!(!s.rate_per_sec.is_nan());
    limiter.acquire(&Context::new()).unwrap();
    limiter.acquire(&Context::new()).unwrap();
    assert!(limiter.try_acquire().is_err());
    let s = limiter.stats();
    assert_eq!((s.admitted, s.throttled, s.rejected, s.burst), (2, 1, 1, 1));
    assert_eq!(s.mean_wait(), Duration::from_millis(500));
    limiter.reset_stats();
    let s = limiter.stats();
    assert_eq!((s.admitted, s.throttled, s.rejected), (0, 0, 0));
    assert_eq!((s.total_wait, s.max_wait), (Duration::ZERO, Duration::ZERO));
    assert_eq!(s.rate_per_sec, 2.0);
}

// ---- The waiter queue: FIFO, one waiter awake, hand-over ----

/// Watches a clock: counts calls that sleep on it and the most threads ever asleep on it at
/// once. With a queue, only its head sleeps on the clock; the others park elsewhere.
#[derive(Debug)]
struct Watched<C> {
    clock: C,
    sleeps: AtomicUsize,
    sleeping: AtomicUsize,
    max_sleeping: AtomicUsize,
}

impl<C: Clock> Watched<C> {
    fn new(clock: C) -> Arc<Watched<C>> {
        Arc::new(Watched {
            clock,
            sleeps: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            max_sleeping: AtomicUsize::new(0),
        })
    }

    fn watch(&self, sleep: impl FnOnce() -> Result<(), Error>) -> Result<(), Error> {
        self.sleeps.fetch_add(1, Ordering::SeqCst);
        let n = self.sleeping.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_sleeping.fetch_max(n, Ordering::SeqCst);
        let r = sleep();
        self.sleeping.fetch_sub(1, Ordering::SeqCst);
        r
    }

    /// Polls (real time, bounded) until `n` threads sleep on the clock.
    fn until_sleeping(&self, n: usize) {
        let start = Instant::now();
        while self.sleeping.load(Ordering::SeqCst) != n {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "sleepers never reached {n}"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl<C: Clock> Clock for Watched<C> {
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn sleep_until(&self, until: Instant, ctx: &Context) -> Result<(), Error> {
        self.watch(|| self.clock.sleep_until(until, ctx))
    }

    fn sleep_until_precise(&self, until: Instant, ctx: &Context) -> Result<(), Error> {
        self.watch(|| self.clock.sleep_until_precise(until, ctx))
    }
}

/// A clock whose time moves only when the test advances it; `sleep_until` blocks (in real
/// time, cancel-aware) until then. Lets a test hold waiters in place and release them one by one.
#[derive(Debug)]
struct ManualClock {
    base: Instant,
    offset: parking_lot::Mutex<Duration>,
    moved: parking_lot::Condvar,
}

impl ManualClock {
    fn new() -> ManualClock {
        ManualClock {
            // An hour ahead of real time: a deadline set on this clock is also checked against
            // real time (by the context), and must not expire while the test runs.
            base: Instant::now() + Duration::from_secs(3600),
            offset: parking_lot::Mutex::new(Duration::ZERO),
            moved: parking_lot::Condvar::new(),
        }
    }
}

impl Watched<ManualClock> {
    fn advance(&self, d: Duration) {
        *self.clock.offset.lock() += d;
        self.clock.moved.notify_all();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + *self.offset.lock()
    }

    fn sleep_until(&self, until: Instant, ctx: &Context) -> Result<(), Error> {
        let mut offset = self.offset.lock();
        loop {
            ctx.check()?;
            if self.base + *offset >= until {
                return Ok(());
            }
            // Cancellation is polled: the clock has no listener on the token.
            self.moved.wait_for(&mut offset, Duration::from_millis(1));
        }
    }
}

fn manual(rate: &str, burst: u32) -> (RateLimiter, Arc<Watched<ManualClock>>) {
    let clock = Watched::new(ManualClock::new());
    let limiter = RateLimiter::new(Rate::parse(rate).unwrap(), burst)
        .unwrap()
        .with_clock(clock.clone());
    (limiter, clock)
}

/// Spawns a thread that acquires with `ctx` and sends the outcome and its `id`; returns once
/// the thread is queued (`queued_before + 1` waiters).
fn spawn_waiter(
    limiter: &RateLimiter,
    ctx: Context,
    id: usize,
    tx: &mpsc::Sender<(usize, Result<Duration, Error>)>,
    queued_before: u64,
) -> std::thread::JoinHandle<()> {
    let (l, tx) = (limiter.clone(), tx.clone());
    let t = std::thread::spawn(move || tx.send((id, l.acquire(&ctx))).unwrap());
    until_waiters(limiter, queued_before + 1);
    t
}

fn recv(rx: &mpsc::Receiver<(usize, Result<Duration, Error>)>) -> (usize, Result<Duration, Error>) {
    rx.recv_timeout(Duration::from_secs(5))
        .expect("no waiter returned")
}

#[test]
fn blocked_threads_are_admitted_in_arrival_order() {
    let (limiter, clock) = manual("10/s", 1);
    limiter.try_acquire().unwrap();
    let (tx, rx) = mpsc::channel();
    let n = 6;
    let threads: Vec<_> = (0..n)
        .map(|i| spawn_waiter(&limiter, Context::new(), i, &tx, i as u64))
        .collect();
    for expected in 0..n {
        // Only the head sleeps on the clock; the others are parked until their turn.
        clock.until_sleeping(1);
        clock.advance(Duration::from_millis(100));
        let (id, got) = recv(&rx);
        assert_eq!(id, expected, "admitted out of arrival order");
        assert_eq!(
            got.unwrap(),
            Duration::from_millis(100) * (expected as u32 + 1)
        );
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(clock.max_sleeping.load(Ordering::SeqCst), 1);
    assert_eq!(
        clock.sleeps.load(Ordering::SeqCst),
        n,
        "one sleep per admission"
    );
    let s = limiter.stats();
    assert_eq!((s.admitted, s.throttled, s.current_waiters), (7, 6, 0));
}

#[test]
fn cancelling_the_head_hands_the_turn_to_the_next_waiter() {
    let (limiter, clock) = manual("10/s", 1);
    limiter.try_acquire().unwrap();
    let (tx, rx) = mpsc::channel();
    let head = CancelToken::new();
    let a = spawn_waiter(
        &limiter,
        Context::new().with_cancel(head.clone()),
        0,
        &tx,
        0,
    );
    clock.until_sleeping(1);
    let b = spawn_waiter(&limiter, Context::new(), 1, &tx, 1);
    head.cancel();
    let (id, got) = recv(&rx);
    assert_eq!(id, 0);
    assert_eq!(got.unwrap_err().kind(), ErrorKind::Cancelled);
    // The next waiter takes over the head's sleep (it would otherwise stay parked).
    until_waiters(&limiter, 1);
    clock.until_sleeping(1);
    clock.advance(Duration::from_millis(100));
    let (id, got) = recv(&rx);
    assert_eq!(id, 1);
    assert_eq!(got.unwrap(), Duration::from_millis(100));
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(clock.max_sleeping.load(Ordering::SeqCst), 1);
    let s = limiter.stats();
    assert_eq!((s.admitted, s.rejected, s.current_waiters), (2, 1, 0));
}

#[test]
fn cancelling_a_queued_waiter_keeps_the_others_in_order() {
    let (limiter, clock) = manual("10/s", 1);
    limiter.try_acquire().unwrap();
    let (tx, rx) = mpsc::channel();
    let middle = CancelToken::new();
    let threads = [
        spawn_waiter(&limiter, Context::new(), 0, &tx, 0),
        spawn_waiter(
            &limiter,
            Context::new().with_cancel(middle.clone()),
            1,
            &tx,
            1,
        ),
        spawn_waiter(&limiter, Context::new(), 2, &tx, 2),
    ];
    middle.cancel();
    let (id, got) = recv(&rx);
    assert_eq!(id, 1);
    assert_eq!(got.unwrap_err().kind(), ErrorKind::Cancelled);
    for expected in [0, 2] {
        clock.until_sleeping(1);
        clock.advance(Duration::from_millis(100));
        assert_eq!(recv(&rx).0, expected);
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(limiter.stats().admitted, 3);
}

#[test]
fn arrivals_do_not_jump_the_queue() {
    let (limiter, clock) = manual("10/s", 1);
    limiter.try_acquire().unwrap();
    let (tx, rx) = mpsc::channel();
    let t = spawn_waiter(&limiter, Context::new(), 0, &tx, 0);
    clock.until_sleeping(1);
    // The token the head waits for exists, but the head has not taken it yet: a newcomer
    // neither takes it nor is told it is there.
    *clock.clock.offset.lock() += Duration::from_millis(100);
    assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(100)));
    clock.advance(Duration::ZERO);
    assert_eq!(recv(&rx).0, 0);
    t.join().unwrap();
    assert_eq!(limiter.stats().admitted, 2);
}

#[test]
fn only_the_head_sleeps_on_the_system_clock() {
    let clock = Watched::new(SystemClock);
    let limiter = RateLimiter::new(Rate::parse("200/s").unwrap(), 1)
        .unwrap()
        .with_clock(clock.clone());
    let start = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let l = limiter.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    l.acquire(&Context::new()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // 40 admissions at 5 ms, the first free: never faster than 195 ms.
    assert!(start.elapsed() >= Duration::from_millis(195));
    assert_eq!(clock.max_sleeping.load(Ordering::SeqCst), 1);
    let s = limiter.stats();
    assert!(clock.sleeps.load(Ordering::SeqCst) as u64 <= s.throttled + 4);
}

#[test]
fn stop_wakes_every_queued_waiter() {
    let limiter = real("1/min", 1);
    limiter.try_acquire().unwrap();
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..4)
        .map(|i| spawn_waiter(&limiter, Context::new(), i, &tx, i as u64))
        .collect();
    let stopped = Instant::now();
    limiter.stop();
    for _ in 0..4 {
        assert_eq!(recv(&rx).1.unwrap_err().kind(), ErrorKind::Stopped);
    }
    assert!(stopped.elapsed() < Duration::from_secs(1));
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(limiter.stats().current_waiters, 0);
}

#[test]
fn a_queued_waiter_fails_at_its_deadline_when_the_head_is_held_back() {
    let limiter = real("10/s", 1);
    limiter.try_acquire().unwrap();
    let (tx, rx) = mpsc::channel();
    let head = spawn_waiter(&limiter, Context::new(), 0, &tx, 0);
    let deadline = Instant::now() + Duration::from_millis(150);
    // The bucket's next token is 100 ms away: the deadline can be met, so the waiter queues.
    let late = spawn_waiter(&limiter, Context::new().with_deadline(deadline), 1, &tx, 1);
    // Now the head's token is a second away: the queued waiter must give up at its deadline,
    // not when its turn comes.
    limiter.set_rate(Rate::parse("1/s").unwrap());
    let (id, got) = recv(&rx);
    assert_eq!(id, 1);
    assert_eq!(got.unwrap_err().kind(), ErrorKind::DeadlineExceeded);
    assert!(Instant::now() < deadline + Duration::from_millis(500));
    limiter.stop();
    assert_eq!(recv(&rx).1.unwrap_err().kind(), ErrorKind::Stopped);
    head.join().unwrap();
    late.join().unwrap();
}

#[test]
fn a_waiter_whose_turn_comes_too_late_for_its_deadline_fails_at_once() {
    let (limiter, clock) = manual("10/s", 1);
    limiter.try_acquire().unwrap();
    let (tx, rx) = mpsc::channel();
    let a = spawn_waiter(&limiter, Context::new(), 0, &tx, 0);
    // Meetable by the bucket alone (100 ms), not once the head has taken that token (200 ms).
    let ctx = Context::new().with_deadline(clock.now() + Duration::from_millis(150));
    let b = spawn_waiter(&limiter, ctx, 1, &tx, 1);
    clock.until_sleeping(1);
    clock.advance(Duration::from_millis(100));
    // The head hands over before its thread reports, so the two may report in either order.
    let mut got = [recv(&rx), recv(&rx)];
    got.sort_by_key(|(id, _)| *id);
    let [(_, a_got), (_, b_got)] = got;
    assert_eq!(a_got.unwrap(), Duration::from_millis(100));
    let err = b_got.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(err.retry_after(), Some(Duration::from_millis(100)));
    assert_eq!(
        clock.clock.now() - clock.clock.base,
        Duration::from_millis(100)
    );
    a.join().unwrap();
    b.join().unwrap();
}

// ---- The executor layer ----

/// A fake leaf: passes the admission gate, then answers 200 with the request's tag.
struct Ok200;

impl Execute for Ok200 {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        ctx.check()?;
        let waited = ctx.admit(&req)?;
        let mut res = Response::new(200, Vec::new()).with_tag(req.tag());
        res.timings_mut().waited += waited;
        Ok(res)
    }
}

/// Simulates a pool with retries below the limiter: three writes per request, each passing
/// the admission gate first, as the leaf does.
struct RetriesTwice {
    attempts: AtomicU32,
}

impl Execute for RetriesTwice {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        for _ in 0..3 {
            ctx.admit(&req)?;
            self.attempts.fetch_add(1, Ordering::SeqCst);
        }
        let mut res = Response::new(200, Vec::new()).with_tag(req.tag());
        res.set_attempts(3);
        Ok(res)
    }
}

fn get(url: &str, tag: u64) -> Request {
    Request::builder(httpbatch::Method::Get, url)
        .tag(tag)
        .build()
        .unwrap()
}

#[test]
fn execute_records_the_wait_in_timings() {
    let (limiter, _clock) = fake("4/s", 1);
    let exec = RateLimitedExecutor::new(Ok200, limiter);
    let ctx = Context::new();
    let a = exec.execute(get("http://127.0.0.1/", 1), &ctx).unwrap();
    let b = exec.execute(get("http://127.0.0.1/", 2), &ctx).unwrap();
    assert_eq!(a.timings().waited, Duration::ZERO);
    assert_eq!(b.timings().waited, Duration::from_millis(250));
    assert_eq!(b.tag(), 2);
    assert_eq!(exec.stats().admitted, 2);
}

#[test]
fn try_execute_hands_the_request_back() {
    let (limiter, _clock) = fake("1/s", 1);
    let exec = RateLimitedExecutor::new(Ok200, limiter);
    let ctx = Context::new();
    assert_eq!(
        exec.try_execute(get("http://127.0.0.1/a", 7), &ctx)
            .unwrap()
            .tag(),
        7
    );
    match exec.try_execute(get("http://127.0.0.1/b?x=1", 8), &ctx) {
        Err(TryExecuteError::WouldBlock { request, wait }) => {
            assert_eq!(request.tag(), 8);
            assert_eq!(request.url().as_str(), "http://127.0.0.1/b?x=1");
            assert_eq!(wait, Duration::from_secs(1));
        }
        other => panic!("expected WouldBlock, got {other:?}"),
    }
    let err = exec
        .try_execute(get("http://127.0.0.1/c", 9), &ctx)
        .unwrap_err();
    assert!(err.to_string().contains("http://127.0.0.1/c"), "{err}");
    assert_eq!(err.into_request().unwrap().tag(), 9);
    exec.limiter().stop();
    match exec.try_execute(get("http://127.0.0.1/d", 10), &ctx) {
        Err(TryExecuteError::Failed(e)) => assert_eq!(e.kind(), ErrorKind::Stopped),
        other => panic!("expected Failed(Stopped), got {other:?}"),
    }
}

#[test]
fn per_host_buckets_give_each_origin_its_own_burst() {
    let (global, _clock) = fake("1000/s", 100);
    let exec = RateLimitedExecutor::new(Ok200, global)
        .per_host(Rate::parse("1/s").unwrap(), 2)
        .unwrap();
    let ctx = Context::new();
    for url in [
        "http://a.test/1",
        "http://a.test:80/2",
        "http://b.test/1",
        "http://b.test/2",
    ] {
        exec.try_execute(get(url, 0), &ctx).unwrap();
    }
    for url in ["http://a.test/3", "http://b.test/3"] {
        match exec.try_execute(get(url, 0), &ctx) {
            Err(TryExecuteError::WouldBlock { wait, .. }) => {
                assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
            }
            other => panic!("{url}: expected WouldBlock, got {other:?}"),
        }
    }
    // A third origin still has its whole burst.
    exec.try_execute(get("https://a.test/1", 0), &ctx).unwrap();
    assert_eq!(exec.host_stats("http://a.test:80").unwrap().admitted, 2);
    assert_eq!(exec.host_stats("http://b.test:80").unwrap().admitted, 2);
    assert_eq!(exec.host_stats("https://a.test:443").unwrap().admitted, 1);
    // A refused per-host request took no global token.
    assert_eq!(exec.stats().admitted, 5);
    assert!(exec.host_stats("http://c.test:80").is_none());
}

#[test]
fn per_host_blocking_waits_on_the_host_bucket() {
    let (global, clock) = fake("1000/s", 100);
    let exec = RateLimitedExecutor::new(Ok200, global)
        .per_host(Rate::parse("2/s").unwrap(), 1)
        .unwrap();
    let ctx = Context::new();
    for i in 0..3 {
        exec.execute(get("http://a.test/", i), &ctx).unwrap();
    }
    assert_eq!(clock.elapsed(), Duration::from_secs(1));
    let host = exec.host_stats("http://a.test:80").unwrap();
    assert_eq!((host.admitted, host.throttled), (3, 2));
    assert_eq!(host.total_wait, Duration::from_secs(1));
    let res = exec.execute(get("http://b.test/", 9), &ctx).unwrap();
    assert_eq!(res.timings().waited, Duration::ZERO);
    assert_eq!(exec.stats().admitted, 4);
}

#[test]
fn retries_below_the_limiter_pay_a_token_each() {
    let (global, clock) = fake("10/s", 1);
    let exec = RateLimitedExecutor::new(
        RetriesTwice {
            attempts: AtomicU32::new(0),
        },
        global,
    )
    .per_host(Rate::parse("100/s").unwrap(), 10)
    .unwrap();
    let ctx = Context::new();
    for i in 0..2 {
        let res = exec.execute(get("http://a.test/", i), &ctx).unwrap();
        assert_eq!(res.attempts(), 3);
    }
    assert_eq!(exec.get_ref().attempts.load(Ordering::SeqCst), 6);
    assert_eq!(exec.stats().admitted, 6, "three tokens per request");
    assert_eq!(exec.host_stats("http://a.test:80").unwrap().admitted, 6);
    // Six tokens at 10/s with burst 1: 500 ms of virtual time.
    assert_eq!(clock.elapsed(), Duration::from_millis(500));
    let inner = exec.into_inner();
    assert_eq!(inner.attempts.load(Ordering::SeqCst), 6);
}

#[test]
fn retries_fail_when_the_limiter_stops() {
    let (global, _clock) = fake("10/s", 1);
    let exec = RateLimitedExecutor::new(
        RetriesTwice {
            attempts: AtomicU32::new(0),
        },
        global,
    );
    exec.stop();
    let err = exec
        .execute(get("http://a.test/", 0), &Context::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Stopped);
    assert_eq!(exec.get_ref().attempts.load(Ordering::SeqCst), 0);
}

#[test]
fn a_limiter_is_an_admission() {
    let (limiter, clock) = fake("10/s", 1);
    let ctx = Context::new().with_admission(Arc::new(limiter.clone()));
    let req = get("http://a.test/", 0);
    ctx.admit(&req).unwrap();
    ctx.admit(&req).unwrap();
    assert_eq!(limiter.stats().admitted, 2);
    assert_eq!(clock.elapsed(), Duration::from_millis(100));
}

#[test]
fn get_mut_reaches_the_inner_executor() {
    let (limiter, _clock) = fake("10/s", 1);
    let mut exec = RateLimitedExecutor::new(
        RetriesTwice {
            attempts: AtomicU32::new(0),
        },
        limiter,
    );
    *exec.get_mut().attempts.get_mut() = 41;
    assert_eq!(exec.get_ref().attempts.load(Ordering::SeqCst), 41);
}
