//! The retry layer against a scripted inner layer, on a fake clock (no test sleeps for real
//! except the cancellation one, which needs a real wait to interrupt).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use httpbatch::{
    Admission, CancelToken, Context, Error, ErrorKind, Execute, FakeClock, Jitter, Method, Request,
    Response, RetryBudget, RetryExecutor, RetryPolicy, SystemClock,
};
use parking_lot::Mutex;

/// One scripted outcome.
#[derive(Clone, Debug)]
enum Step {
    Status(u16),
    RetryAfter(u16, String),
    Fail(ErrorKind),
}

/// What the scripted layer saw of one attempt.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    body: Vec<u8>,
    at: Duration,
}

/// Answers with its script in order, repeating the last step when the script runs out, and
/// records every request it receives with the fake time it arrived at.
struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    seen: Mutex<Vec<Seen>>,
    clock: FakeClock,
}

impl Scripted {
    fn new(clock: &FakeClock, steps: impl IntoIterator<Item = Step>) -> Scripted {
        Scripted {
            steps: Mutex::new(steps.into_iter().collect()),
            seen: Mutex::new(Vec::new()),
            clock: clock.clone(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }

    fn calls(&self) -> usize {
        self.seen.lock().len()
    }
}

impl Execute for Scripted {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        ctx.check()?;
        ctx.admit(&req)?;
        self.seen.lock().push(Seen {
            method: req.method(),
            body: req.body().to_vec(),
            at: self.clock.elapsed(),
        });
        let step = {
            let mut steps = self.steps.lock();
            if steps.len() > 1 {
                steps.pop_front().unwrap()
            } else {
                steps.front().cloned().expect("empty script")
            }
        };
        match step {
            Step::Status(s) => Ok(Response::new(s, format!("status {s}")).with_tag(req.tag())),
            Step::RetryAfter(s, v) => {
                Ok(Response::new(s, Vec::new()).with_header("Retry-After", &v))
            }
            Step::Fail(kind) => Err(Error::new(kind, "scripted failure")),
        }
    }
}

fn retry(
    clock: &FakeClock,
    policy: RetryPolicy,
    steps: impl IntoIterator<Item = Step>,
) -> RetryExecutor<Scripted> {
    RetryExecutor::new(Scripted::new(clock, steps), policy)
        .unwrap()
        .with_clock(Arc::new(clock.clone()))
}

fn get() -> Request {
    Request::get("http://127.0.0.1:9/x").unwrap()
}

use Step::{Fail, RetryAfter, Status};

#[test]
fn retries_503_until_200_with_backoff_within_jitter_bounds() {
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::None] {
        let clock = FakeClock::new();
        let policy = RetryPolicy::builder().jitter(jitter).build().unwrap();
        let r = retry(&clock, policy, [Status(503), Status(503), Status(200)]);
        let res = r.execute(get(), &Context::new()).unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.attempts(), 3);
        let seen = r.get_ref().seen();
        assert_eq!(seen.len(), 3);
        let gaps = [seen[1].at - seen[0].at, seen[2].at - seen[1].at];
        // Exponential delays before jitter: 100 ms, then 200 ms.
        for (gap, d) in gaps.iter().zip([100u64, 200]) {
            let d = Duration::from_millis(d);
            let (lo, hi) = match jitter {
                Jitter::Full => (Duration::ZERO, d),
                Jitter::Equal => (d / 2, d),
                Jitter::None => (d, d),
            };
            assert!(
                *gap >= lo && *gap <= hi,
                "{jitter:?}: {gap:?} not in [{lo:?}, {hi:?}]"
            );
        }
        assert_eq!(res.timings().waited, clock.elapsed());
        let s = r.stats();
        assert_eq!((s.requests, s.attempts, s.retries, s.gave_up), (1, 3, 2, 0));
        assert_eq!(s.backoff_time, clock.elapsed());
    }
}

#[test]
fn gives_up_after_max_attempts_with_the_last_response() {
    let clock = FakeClock::new();
    let policy = RetryPolicy::builder().max_attempts(4).build().unwrap();
    let r = retry(&clock, policy, [Status(502)]);
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (502, 4));
    assert_eq!(r.get_ref().calls(), 4);
    assert_eq!(r.stats().gave_up, 1);
}

#[test]
fn other_statuses_are_final() {
    let clock = FakeClock::new();
    let r = retry(&clock, RetryPolicy::default(), [Status(500), Status(200)]);
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (500, 1));
    let policy = RetryPolicy::builder()
        .retry_statuses([500])
        .build()
        .unwrap();
    let r = retry(&clock, policy, [Status(500), Status(503), Status(200)]);
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (503, 2));
}

#[test]
fn post_is_retried_only_when_opted_in_and_replays_the_body() {
    let clock = FakeClock::new();
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();

    let r = retry(&clock, RetryPolicy::default(), [Status(503), Status(200)]);
    let plain = Request::post("http://127.0.0.1:9/items", body.clone()).unwrap();
    let res = r.execute(plain, &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (503, 1));
    assert_eq!(r.get_ref().calls(), 1);
    assert_eq!(clock.elapsed(), Duration::ZERO);

    let r = retry(
        &clock,
        RetryPolicy::default(),
        [Status(503), Fail(ErrorKind::ConnectionReset), Status(200)],
    );
    let opted = Request::builder(Method::Post, "http://127.0.0.1:9/items")
        .body(body.clone())
        .retry_non_idempotent(true)
        .build()
        .unwrap();
    let res = r.execute(opted, &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 3));
    let seen = r.get_ref().seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.method, Method::Post);
        assert_eq!(s.body, body, "body replayed byte for byte");
    }

    // The policy can allow every method.
    let policy = RetryPolicy::builder()
        .retry_non_idempotent(true)
        .build()
        .unwrap();
    let r = retry(&clock, policy, [Status(503), Status(200)]);
    let patch = Request::builder(Method::Patch, "http://127.0.0.1:9/items")
        .body(&b"x"[..])
        .build()
        .unwrap();
    let res = r.execute(patch, &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 2));
}

#[test]
fn retry_after_seconds_replaces_the_backoff_exactly() {
    let clock = FakeClock::new();
    let policy = RetryPolicy::builder()
        .jitter(Jitter::None)
        .base_delay(Duration::from_secs(1))
        .build()
        .unwrap();
    let r = retry(&clock, policy, [RetryAfter(429, "7".into()), Status(200)]);
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 2));
    assert_eq!(clock.elapsed(), Duration::from_secs(7));
    assert_eq!(res.timings().waited, Duration::from_secs(7));
    assert_eq!(r.stats().retry_after_waits, 1);
}

#[test]
fn retry_after_http_date_is_honoured() {
    let clock = FakeClock::new();
    let when = http_date(SystemTime::now() + Duration::from_secs(30));
    let r = retry(
        &clock,
        RetryPolicy::default(),
        [RetryAfter(503, when), Status(200)],
    );
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!(res.status(), 200);
    // The date has whole seconds: the wait is 30 s less the fraction of the current second.
    let waited = clock.elapsed();
    assert!(
        waited > Duration::from_secs(28) && waited <= Duration::from_secs(30),
        "{waited:?}"
    );
}

#[test]
fn retry_after_above_the_cap_is_never_slept_and_returns_the_response() {
    let clock = FakeClock::new();
    let r = retry(
        &clock,
        RetryPolicy::default(),
        [RetryAfter(503, "3600".into()), Status(200)],
    );
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (503, 1));
    assert_eq!(res.header("retry-after"), Some("3600"));
    assert_eq!(clock.elapsed(), Duration::ZERO);
    assert_eq!(r.get_ref().calls(), 1);
    assert_eq!(r.stats().retry_after_capped, 1);

    // The user may allow it.
    let policy = RetryPolicy::builder()
        .retry_after_cap(Duration::from_secs(3600))
        .build()
        .unwrap();
    let clock = FakeClock::new();
    let r = retry(
        &clock,
        policy,
        [RetryAfter(503, "3600".into()), Status(200)],
    );
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 2));
    assert_eq!(clock.elapsed(), Duration::from_secs(3600));
}

#[test]
fn retry_after_can_be_ignored_in_favour_of_backoff() {
    let clock = FakeClock::new();
    let policy = RetryPolicy::builder()
        .respect_retry_after(false)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let r = retry(
        &clock,
        policy,
        [RetryAfter(503, "3600".into()), Status(200)],
    );
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 2));
    assert_eq!(clock.elapsed(), Duration::from_millis(100));
    assert_eq!(r.stats().retry_after_waits, 0);
    // An unparseable Retry-After also falls back to the backoff.
    let clock = FakeClock::new();
    let policy = RetryPolicy::builder().jitter(Jitter::None).build().unwrap();
    let r = retry(
        &clock,
        policy,
        [RetryAfter(503, "later".into()), Status(200)],
    );
    assert_eq!(r.execute(get(), &Context::new()).unwrap().status(), 200);
    assert_eq!(clock.elapsed(), Duration::from_millis(100));
}

#[test]
fn transient_transport_errors_are_retried_others_are_not() {
    let clock = FakeClock::new();
    let r = retry(
        &clock,
        RetryPolicy::default(),
        [
            Fail(ErrorKind::ConnectRefused),
            Fail(ErrorKind::Timeout),
            Status(200),
        ],
    );
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 3));

    let r = retry(
        &clock,
        RetryPolicy::default(),
        [Fail(ErrorKind::ConnectRefused)],
    );
    let err = r.execute(get(), &Context::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectRefused);
    assert_eq!(err.attempts(), 3);
    assert_eq!(r.get_ref().calls(), 3);
    assert_eq!(r.stats().gave_up, 1);

    for kind in [
        ErrorKind::InvalidUrl,
        ErrorKind::BodyTooLarge,
        ErrorKind::Tls,
        ErrorKind::Dns,
    ] {
        let r = retry(&clock, RetryPolicy::default(), [Fail(kind), Status(200)]);
        let err = r.execute(get(), &Context::new()).unwrap_err();
        assert_eq!(err.kind(), kind);
        assert_eq!(err.attempts(), 1);
        assert_eq!(r.get_ref().calls(), 1, "{kind:?} must not be retried");
    }

    let policy = RetryPolicy::builder()
        .retry_transport_errors(false)
        .build()
        .unwrap();
    let r = retry(
        &clock,
        policy,
        [Fail(ErrorKind::ConnectionReset), Status(200)],
    );
    let err = r.execute(get(), &Context::new()).unwrap_err();
    assert_eq!(
        (err.kind(), err.attempts()),
        (ErrorKind::ConnectionReset, 1)
    );
}

#[test]
fn budget_caps_retries_on_a_failing_host() {
    let clock = FakeClock::new();
    let budget = RetryBudget::new(0.1, 0.0)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let policy = RetryPolicy::builder().budget(budget).build().unwrap();
    let r = retry(&clock, policy, [Status(503)]);
    for _ in 0..100 {
        assert_eq!(r.execute(get(), &Context::new()).unwrap().status(), 503);
    }
    let s = r.stats();
    assert_eq!(s.requests, 100);
    assert!(s.retries <= 10, "{s:?}");
    assert!(s.retries >= 9, "the budget does allow its share: {s:?}");
    assert_eq!(s.attempts, 100 + s.retries);
    assert!(s.budget_exhausted >= 90, "{s:?}");
    // Without the budget the same traffic makes 200 retries.
    assert_eq!(r.get_ref().calls() as u64, s.attempts);
}

#[test]
fn budget_is_shared_across_clones_and_threads_with_a_reserve() {
    let clock = FakeClock::new();
    // 10% of traffic plus 1 retry/s: within a 10 s window, at most 10 + 10.
    let budget = RetryBudget::new(0.1, 1.0)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let policy = RetryPolicy::builder()
        .budget(budget)
        .jitter(Jitter::None)
        .base_delay(Duration::ZERO)
        .build()
        .unwrap();
    let r = Arc::new(retry(&clock, policy, [Status(503)]));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let r = r.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    r.execute(get(), &Context::new()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = r.stats();
    assert_eq!(s.requests, 100);
    assert!(s.retries <= 20 && s.retries >= 19, "{s:?}");
    assert!(s.budget_exhausted > 0);
}

#[test]
fn cancellation_interrupts_a_long_backoff() {
    let scripted = Scripted::new(&FakeClock::new(), [Status(503)]);
    let policy = RetryPolicy::builder()
        .jitter(Jitter::None)
        .base_delay(Duration::from_secs(30))
        .max_delay(Duration::from_secs(60))
        .build()
        .unwrap();
    let r = RetryExecutor::new(scripted, policy)
        .unwrap()
        .with_clock(Arc::new(SystemClock));
    let token = CancelToken::new();
    let ctx = Context::new().with_cancel(token.clone());
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        token.cancel();
    });
    let start = Instant::now();
    let err = r.execute(get(), &ctx).unwrap_err();
    let took = start.elapsed();
    canceller.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(err.attempts(), 1);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(r.get_ref().calls(), 1);
}

#[test]
fn a_backoff_past_the_deadline_returns_the_last_outcome_at_once() {
    let clock = FakeClock::new();
    let policy = RetryPolicy::builder()
        .jitter(Jitter::None)
        .base_delay(Duration::from_secs(2))
        .max_attempts(5)
        .build()
        .unwrap();
    // Deadline 5 s ahead: the 2 s wait fits, the following 4 s one does not.
    let ctx = Context::new().with_deadline(Instant::now() + Duration::from_secs(5));
    let r = retry(&clock, policy.clone(), [Status(503)]);
    let res = r.execute(get(), &ctx).unwrap();
    assert_eq!((res.status(), res.attempts()), (503, 2));
    assert_eq!(clock.elapsed(), Duration::from_secs(2));
    assert_eq!(r.stats().deadline_stops, 1);

    // The same with an error outcome, and with a Retry-After that would overrun.
    // A retry the deadline stops does not spend a budget token (a reserve of exactly one here).
    let clock = FakeClock::new();
    let budget = RetryBudget::new(0.0, 0.1)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let with_budget = policy.to_builder().budget(budget.clone()).build().unwrap();
    let r = retry(&clock, with_budget, [Fail(ErrorKind::Timeout)]);
    let ctx = Context::new().with_deadline(Instant::now() + Duration::from_secs(1));
    let err = r.execute(get(), &ctx).unwrap_err();
    assert_eq!((err.kind(), err.attempts()), (ErrorKind::Timeout, 1));
    assert_eq!(clock.elapsed(), Duration::ZERO);
    assert_eq!(budget.balance(), 1.0);

    let r = retry(&clock, policy, [RetryAfter(503, "30".into()), Status(200)]);
    let res = r.execute(get(), &ctx).unwrap();
    assert_eq!((res.status(), res.attempts()), (503, 1));
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

/// Counts admissions, like a rate limiter above the retry layer would see them.
struct CountAdmissions(AtomicUsize);

impl Admission for CountAdmissions {
    fn admit(&self, _: &Request, ctx: &Context) -> Result<(), Error> {
        ctx.check()?;
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn every_attempt_passes_the_registered_admissions_once() {
    for (steps, attempts) in [
        (vec![Status(503), Status(503), Status(200)], 3),
        (vec![Status(502)], 3),
        (vec![Status(200)], 1),
        (vec![Fail(ErrorKind::ConnectRefused), Status(204)], 2),
    ] {
        let clock = FakeClock::new();
        let counter = Arc::new(CountAdmissions(AtomicUsize::new(0)));
        let ctx = Context::new().with_admission(counter.clone());
        let r = retry(&clock, RetryPolicy::default(), steps);
        let outcome = r.execute(get(), &ctx).unwrap();
        assert_eq!(outcome.attempts(), attempts);
        // The fake leaf passes the gate before each write; the retry loop adds nothing.
        assert_eq!(counter.0.load(Ordering::SeqCst), attempts as usize);
    }
}

#[test]
fn a_failing_admission_ends_the_retries() {
    /// Admits the first write, then fails every later one with `fail`'s error.
    struct FailsAfterFirst(AtomicUsize, fn() -> Error);
    impl Admission for FailsAfterFirst {
        fn admit(&self, _: &Request, _: &Context) -> Result<(), Error> {
            match self.0.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(()),
                _ => Err((self.1)()),
            }
        }
    }
    let clock = FakeClock::new();
    let r = retry(&clock, RetryPolicy::default(), [Status(503), Status(200)]);
    let stopped = FailsAfterFirst(AtomicUsize::new(0), || Error::stopped("rate limiter"));
    let err = r
        .execute(get(), &Context::new().with_admission(Arc::new(stopped)))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Stopped);
    assert_eq!(
        r.get_ref().calls(),
        1,
        "the refused retry never reached the leaf's write"
    );

    // A limiter that cannot admit before the deadline: the last outcome is more useful.
    let r = retry(&clock, RetryPolicy::default(), [Status(503), Status(200)]);
    let no_time = FailsAfterFirst(AtomicUsize::new(0), Error::deadline_exceeded);
    let res = r
        .execute(get(), &Context::new().with_admission(Arc::new(no_time)))
        .unwrap();
    assert_eq!((res.status(), res.attempts()), (503, 1));
}

#[test]
fn none_policy_and_stats_reset_and_clones_share_stats() {
    let clock = FakeClock::new();
    let r = retry(&clock, RetryPolicy::none(), [Status(503), Status(200)]);
    let res = r.execute(get(), &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (503, 1));
    assert_eq!(r.stats().requests, 1);
    r.reset_stats();
    assert_eq!(r.stats(), httpbatch::RetryStats::default());

    let shared = RetryExecutor::new(
        Arc::new(Scripted::new(&clock, [Status(503), Status(200)])),
        RetryPolicy::default(),
    )
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    let clone = shared.clone();
    clone.execute(get(), &Context::new()).unwrap();
    assert_eq!(shared.stats().retries, 1);
    assert_eq!(shared.policy().max_attempts(), 3);
    let inner: Arc<Scripted> = shared.into_inner();
    assert_eq!(inner.calls(), 2);
}

#[test]
fn invalid_policies_are_rejected() {
    let e = RetryPolicy::builder().multiplier(0.9).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    let e = RetryPolicy::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
}

/// IMF-fixdate of `t` (whole seconds).
fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WD[days.rem_euclid(7) as usize],
        d,
        MON[m as usize - 1],
        y,
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}
