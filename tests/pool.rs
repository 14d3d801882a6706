//! ConnectionPool against real loopback servers: warmup, the in-flight cap, health checks and the
//! circuit, retries under a rate limiter, statistics.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use httpbatch::{
    BatchExecutor, BatchOptions, CancelToken, ConnectionPool, Context, ErrorKind, Execute,
    HealthCheckConfig, HealthState, Jitter, Method, Rate, RateLimitedExecutor, RateLimiter,
    Request, RetryPolicy,
};
use support::{Mode, Server, eventually, serial, threads_named};

/// `httpbatch-health`, as Linux shows it (thread names are cut to 15 bytes).
const HEALTH_THREAD: &str = "httpbatch-healt";

fn quick_retries() -> RetryPolicy {
    RetryPolicy::builder()
        .base_delay(Duration::from_millis(5))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn get(url: &str) -> Request {
    Request::get(url).unwrap()
}

#[test]
fn enabling_health_checks_twice_runs_one_thread_and_disable_or_drop_stops_it() {
    let _serial = serial();
    let server = Server::start().unwrap();
    let other = Server::start().unwrap();
    let pool = ConnectionPool::new();
    assert_eq!(threads_named(HEALTH_THREAD), 0);

    pool.enable_health_check(&[&server.url("/")], Duration::from_millis(20), "/ok")
        .unwrap();
    pool.enable_health_check(
        &[&server.url("/"), &other.url("/")],
        Duration::from_millis(30),
        "/ok",
    )
    .unwrap();
    pool.enable_health_check(&[&other.url("/")], Duration::from_millis(25), "/ok")
        .unwrap();
    assert_eq!(threads_named(HEALTH_THREAD), 1);
    assert!(pool.is_health_check_enabled());
    // The last call's host list is the one probed.
    assert!(eventually(Duration::from_secs(5), || {
        pool.host_health(&other.base_url())
            .is_some_and(|h| h.checks >= 2)
    }));
    assert!(pool.host_health(&server.base_url()).is_none());
    assert_eq!(pool.health().len(), 1);

    let start = Instant::now();
    pool.disable_health_check();
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    // Joined already (the call returned); Linux may list a joined thread for a moment longer.
    assert!(
        eventually(Duration::from_secs(1), || threads_named(HEALTH_THREAD) == 0),
        "disable joins the thread"
    );
    assert!(!pool.is_health_check_enabled());
    assert!(pool.health().is_empty());

    // Enabling again after a disable starts one loop again; dropping the pool stops it.
    pool.enable_health_check(&[&server.url("/")], Duration::from_secs(3600), "/ok")
        .unwrap();
    assert_eq!(threads_named(HEALTH_THREAD), 1);
    let start = Instant::now();
    drop(pool);
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    // Joined already (the call returned); Linux may list a joined thread for a moment longer.
    assert!(
        eventually(Duration::from_secs(1), || threads_named(HEALTH_THREAD) == 0),
        "drop joins the thread"
    );
}

#[test]
fn a_zero_health_interval_is_rejected() {
    let _serial = serial();
    let server = Server::start().unwrap();
    let pool = ConnectionPool::new();
    let err = pool
        .enable_health_check(&[&server.url("/")], Duration::ZERO, "/ok")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(!pool.is_health_check_enabled());
    assert_eq!(threads_named(HEALTH_THREAD), 0);
}

#[test]
fn success_rate_is_never_nan_or_out_of_range() {
    let pool = ConnectionPool::builder()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let s = pool.stats();
    assert_eq!(s.success_rate(), 1.0, "fresh pool: nothing failed");
    assert_eq!((s.requests, s.failures, s.connections_live), (0, 0, 0));

    // A port nobody listens on: every request fails.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    for _ in 0..3 {
        let e = pool.execute(get(&refused), &Context::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectRefused);
    }
    let s = pool.stats();
    assert_eq!((s.requests, s.failures, s.succeeded), (3, 3, 0));
    assert_eq!(s.success_rate(), 0.0);

    let server = Server::start().unwrap();
    pool.execute(get(&server.url("/ok")), &Context::new())
        .unwrap();
    let rate = pool.stats().success_rate();
    assert!((rate - 0.25).abs() < 1e-9, "{rate}");
    for h in pool.host_stats() {
        let r = h.success_rate();
        assert!((0.0..=1.0).contains(&r), "{h:?}");
    }

    pool.reset_stats();
    let s = pool.stats();
    assert_eq!((s.requests, s.failures, s.connections_opened), (0, 0, 0));
    assert_eq!(s.success_rate(), 1.0);
    assert_eq!(s.connections_live, 1, "live is a level, not reset");
}

#[test]
fn live_connections_go_down_when_the_server_closes_them() {
    let server = Server::start().unwrap();
    let pool = ConnectionPool::new();
    let report = pool.warmup(&[&server.url("/")], 4);
    assert_eq!(report.opened(), 4, "{report:?}");
    assert_eq!(pool.stats().connections_live, 4);

    // `/close` answers with `Connection: close`: each request takes an idle connection and the
    // server closes it after answering.
    for _ in 0..4 {
        let res = pool
            .execute(get(&server.url("/close")), &Context::new())
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let s = pool.stats();
    assert_eq!(s.connections_opened, 4, "{s:?}");
    assert_eq!(s.connections_closed, 4, "{s:?}");
    assert_eq!(s.connections_live, 0, "{s:?}");
    assert!(eventually(Duration::from_secs(5), || server
        .open_connections()
        == 0));

    // Again, with the server going away under idle connections.
    let report = pool.warmup(&[&server.url("/")], 3);
    assert_eq!(report.opened(), 3, "{report:?}");
    assert_eq!(pool.stats().connections_live, 3);
    server.stop();
    // The client learns of the closes when it next uses the pool for this origin.
    let _ = pool.execute(get(&server.url("/ok")), &Context::new());
    let s = pool.stats();
    assert!(s.connections_live < 3, "{s:?}");
    assert_eq!(
        s.connections_live,
        s.connections_opened - s.connections_closed
    );
    let host = &pool.host_stats()[0];
    assert_eq!(host.connections.live, s.connections_live);
}

#[test]
fn warmup_reports_a_404_as_a_status_not_a_warm_connection() {
    let server = Server::start().unwrap();
    let pool = ConnectionPool::builder()
        .warmup_path("/no-such-path")
        .build()
        .unwrap();
    let report = pool.warmup(&[&server.base_url()], 4);
    let host = &report.hosts[0];
    assert_eq!(host.statuses, vec![(404, 4)], "{host:?}");
    assert_eq!((host.ok, host.failed, host.attempted), (0, 4, 4));
    assert!(!host.all_ok() && !report.all_ok());
    assert!(host.errors.is_empty(), "a status is not a transport error");
    assert_eq!(host.opened, 4, "the sockets are real, and counted as such");
    assert_eq!(server.requests_for("/no-such-path"), 4);

    // A bad host is reported, not skipped.
    let report = pool.warmup(&["not a url"], 2);
    assert_eq!(report.hosts[0].errors[0].kind(), ErrorKind::InvalidUrl);
    assert_eq!(report.hosts[0].ok, 0);
}

#[test]
fn warmup_opens_eight_connections_that_eight_parallel_requests_then_reuse() {
    let server = Server::start().unwrap();
    let pool = ConnectionPool::new();
    let report = pool.warmup(&[&server.url("/")], 8);
    let host = &report.hosts[0];
    assert_eq!((host.opened, host.live, host.ok), (8, 8, 8), "{report:?}");
    assert_eq!(host.statuses, vec![(200, 8)]);
    assert_eq!(server.accepted(), 8);
    let s = pool.stats();
    assert_eq!((s.connections_opened, s.connections_live), (8, 8));
    assert_eq!(s.requests, 0, "warmup is not counted as requests");

    let batch = BatchExecutor::new(pool.clone(), 8).unwrap();
    let result = batch.execute_batch(
        (0..8).map(|_| Request::get(&server.url("/delay/50"))),
        BatchOptions::new(),
    );
    assert!(
        result.outcomes.iter().all(|o| o.status() == Some(200)),
        "{:?}",
        result.outcomes
    );
    assert_eq!(server.accepted(), 8, "no new connection");
    assert!(server.max_in_flight() >= 2, "the requests did overlap");
    let s = pool.stats();
    assert_eq!((s.connections_opened, s.connections_live), (8, 8), "{s:?}");
    assert_eq!(s.connections_reused, 8, "{s:?}");
}

#[test]
fn per_host_in_flight_cap_holds_with_more_workers_than_slots() {
    let server = Server::start().unwrap();
    let pool = ConnectionPool::builder()
        .max_in_flight_per_host(4)
        .build()
        .unwrap();
    let batch = BatchExecutor::new(pool.clone(), 32).unwrap();
    let result = batch.execute_batch(
        (0..96).map(|_| Request::get(&server.url("/delay/20"))),
        BatchOptions::new(),
    );
    assert!(
        result.outcomes.iter().all(|o| o.status() == Some(200)),
        "{:?}",
        result.outcomes
    );
    assert!(server.max_in_flight() <= 4, "{}", server.max_in_flight());
    assert_eq!(server.max_in_flight(), 4, "the cap is used, not undershot");
    let s = pool.stats();
    assert_eq!((s.requests, s.succeeded, s.failures), (96, 96, 0));
    assert!(s.connections_opened <= 4, "{s:?}");
    assert_eq!(s.in_flight, 0);
}

#[test]
fn cancel_while_waiting_for_an_in_flight_slot_returns_promptly() {
    let server = Server::start().unwrap();
    let pool = ConnectionPool::builder()
        .max_in_flight_per_host(1)
        .build()
        .unwrap();
    let holder = {
        let pool = pool.clone();
        let url = server.url("/delay/1500");
        std::thread::spawn(move || pool.execute(get(&url), &Context::new()))
    };
    assert!(eventually(Duration::from_secs(5), || server.in_flight() == 1));

    let token = CancelToken::new();
    let canceller = {
        let (token, pool) = (token.clone(), pool.clone());
        std::thread::spawn(move || {
            // Observed state, not a sleep: the second request is inside the pool, waiting for
            // the slot the holder keeps.
            assert!(eventually(Duration::from_secs(5), || pool
                .stats()
                .in_flight
                == 2));
            let at = Instant::now();
            token.cancel();
            at
        })
    };
    let err = pool
        .execute(get(&server.url("/ok")), &Context::new().with_cancel(token))
        .unwrap_err();
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err:?}");
    assert_eq!(err.attempts(), 0, "nothing went on the wire");
    let lag = returned.duration_since(cancelled_at);
    // The holder keeps the only slot for 1.5 s; returning well before that proves the wake.
    assert!(lag < Duration::from_secs(1), "{lag:?}");
    assert_eq!(server.requests_for("/ok"), 0, "never reached the wire");

    // A deadline ends the wait too.
    let start = Instant::now();
    let ctx = Context::new().with_deadline(start + Duration::from_millis(50));
    let err = pool.execute(get(&server.url("/ok")), &ctx).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err:?}");
    assert!(start.elapsed() < Duration::from_millis(500));

    assert_eq!(holder.join().unwrap().unwrap().status(), 200);
}

#[test]
fn retries_run_inside_the_pool_and_record_attempts() {
    let server = Server::start().unwrap();
    let pool = ConnectionPool::builder()
        .retry_policy(quick_retries())
        .build()
        .unwrap();
    let res = pool
        .execute(get(&server.url("/seq/k?s=503,503,200")), &Context::new())
        .unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 3));
    assert_eq!(server.requests_for("/seq/k"), 3);
    let s = pool.stats();
    assert_eq!((s.requests, s.attempts, s.retries), (1, 3, 2));
    assert_eq!(s.succeeded, 1);

    // A POST without opt-in is sent once.
    let post = Request::builder(Method::Post, &server.url("/seq/p?s=503,200"))
        .body("x")
        .build()
        .unwrap();
    let res = pool.execute(post, &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (503, 1));
    assert_eq!(server.requests_for("/seq/p"), 1);

    // With opt-in it is retried.
    let post = Request::builder(Method::Post, &server.url("/seq/q?s=503,200"))
        .body("x")
        .retry_non_idempotent(true)
        .build()
        .unwrap();
    let res = pool.execute(post, &Context::new()).unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 2));

    // The policy can be changed at run time.
    pool.set_retry_policy(RetryPolicy::none());
    let res = pool
        .execute(get(&server.url("/seq/n?s=503,200")), &Context::new())
        .unwrap();
    assert_eq!((res.status(), res.attempts()), (503, 1));
}

#[test]
fn every_attempt_pays_a_token_of_a_limiter_above_the_pool() {
    let server = Server::start().unwrap();
    let pool = ConnectionPool::builder()
        .retry_policy(quick_retries())
        .build()
        .unwrap();
    let limiter = RateLimiter::new(Rate::per_second(1000.0).unwrap(), 10).unwrap();
    let limited = RateLimitedExecutor::new(pool.clone(), limiter);
    let res = limited
        .execute(get(&server.url("/seq/r?s=503,503,200")), &Context::new())
        .unwrap();
    assert_eq!((res.status(), res.attempts()), (200, 3));
    assert_eq!(limited.stats().admitted, 3, "{:?}", limited.stats());
    assert_eq!(server.requests_for("/seq/r"), 3);
    assert_eq!(pool.stats().attempts, 3);

    // The same through a batch: 4 requests, each 2 attempts.
    let batch = BatchExecutor::new(limited, 4).unwrap();
    let result = batch.execute_batch(
        (0..4).map(|i| Request::get(&server.url(&format!("/seq/b{i}?s=502,200")))),
        BatchOptions::new(),
    );
    assert!(result.outcomes.iter().all(|o| o.status() == Some(200)));
    assert_eq!(batch.get_ref().stats().admitted, 3 + 8);
}

/// Polls the pool until `origin` is in `state`, for at most 5 s; returns how long it took.
fn wait_for_state(pool: &ConnectionPool, origin: &str, state: HealthState) -> Duration {
    let start = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || {
            pool.host_health(origin).is_some_and(|h| h.state == state)
        }),
        "{origin} never became {state}: {:?}",
        pool.host_health(origin)
    );
    start.elapsed()
}

fn unhealthy_host_fails_fast_and_recovers(outage: Mode) {
    let _serial = serial();
    let server = Server::start().unwrap();
    let origin = server.base_url();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let interval = Duration::from_millis(50);
    let pool = ConnectionPool::builder()
        .health_check(HealthCheckConfig::default().probe_timeout(Duration::from_millis(40)))
        .on_health_change(move |origin, old, new| {
            log.lock().unwrap().push((origin.to_owned(), old, new));
        })
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    pool.enable_health_check(&[&origin], interval, "/ok")
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        pool.host_health(&origin).is_some_and(|h| h.checks >= 1)
    }));
    assert_eq!(
        pool.host_health(&origin).unwrap().state,
        HealthState::Healthy
    );
    assert_eq!(
        pool.execute(get(&server.url("/ok")), &Context::new())
            .unwrap()
            .status(),
        200
    );

    server.set_mode(outage);
    let took = wait_for_state(&pool, &origin, HealthState::Unhealthy);
    // Two failed probes: at most two intervals plus a probe timeout, with slack for a busy box.
    assert!(took < Duration::from_millis(1000), "{took:?}");
    let h = pool.host_health(&origin).unwrap();
    assert!(
        h.unhealthy_since.is_some() && h.last_error.is_some(),
        "{h:?}"
    );
    assert!(h.consecutive_failures >= 2, "{h:?}");

    let before = pool.stats();
    let start = Instant::now();
    let err = pool
        .execute(get(&server.url("/ok")), &Context::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CircuitOpen, "{err:?}");
    assert_eq!(err.attempts(), 0);
    // No socket is opened (checked below through the server and the stats); the bound only
    // rules out waiting for a timeout.
    assert!(start.elapsed() < Duration::from_millis(500), "fails fast");
    let after = pool.stats();
    assert_eq!(after.attempts, before.attempts, "nothing went on the wire");
    assert_eq!(after.circuit_open, before.circuit_open + 1);
    assert_eq!(
        pool.host_stats()
            .iter()
            .find(|h| h.origin == origin)
            .unwrap()
            .health,
        Some(HealthState::Unhealthy)
    );

    server.set_mode(Mode::Normal);
    wait_for_state(&pool, &origin, HealthState::Healthy);
    assert_eq!(pool.host_health(&origin).unwrap().unhealthy_since, None);
    assert_eq!(
        pool.execute(get(&server.url("/ok")), &Context::new())
            .unwrap()
            .status(),
        200
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            (origin.clone(), HealthState::Healthy, HealthState::Unhealthy),
            (origin.clone(), HealthState::Unhealthy, HealthState::Healthy),
        ]
    );
}

#[test]
fn a_host_that_resets_connections_goes_unhealthy_fails_fast_and_recovers() {
    unhealthy_host_fails_fast_and_recovers(Mode::Reset);
}

#[test]
fn a_host_that_hangs_goes_unhealthy_fails_fast_and_recovers() {
    unhealthy_host_fails_fast_and_recovers(Mode::Hang);
}

#[test]
fn a_stopped_host_goes_unhealthy() {
    let _serial = serial();
    let server = Server::start().unwrap();
    let origin = server.base_url();
    let pool = ConnectionPool::new();
    pool.enable_health_check(&[&origin], Duration::from_millis(50), "/ok")
        .unwrap();
    wait_for_state(&pool, &origin, HealthState::Healthy);
    server.stop();
    let took = wait_for_state(&pool, &origin, HealthState::Unhealthy);
    assert!(took < Duration::from_millis(1000), "{took:?}");
    let err = pool
        .execute(get(&server.url("/ok")), &Context::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CircuitOpen);
    // Disabling health checks closes every circuit: requests go to the wire again.
    pool.disable_health_check();
    let err = pool
        .execute(get(&server.url("/ok")), &Context::new())
        .unwrap_err();
    assert_ne!(err.kind(), ErrorKind::CircuitOpen, "{err:?}");
}

#[test]
fn warmup_pays_the_limiters_of_its_context_and_health_probes_pay_none() {
    let server = Server::start().unwrap();
    let pool = ConnectionPool::new();
    let limiter = RateLimiter::new(Rate::per_second(1000.0).unwrap(), 100).unwrap();
    let limited = RateLimitedExecutor::new(pool.clone(), limiter);

    // Warmup is real traffic: one token per warmup request, counted at the limiter.
    let ctx = Context::new().with_admission(limited.admission());
    let report = pool.warmup_with(&[&server.url("/")], 4, &ctx);
    assert_eq!((report.ok(), report.opened()), (4, 4), "{report:?}");
    assert_eq!(limited.stats().admitted, 4);
    // Without a limiter on its context there is nothing to pay.
    let report = pool.warmup(&[&server.url("/")], 2);
    assert_eq!(report.ok(), 2, "{report:?}");
    assert_eq!(limited.stats().admitted, 4);

    // Health probes never pay, even once the limiter is stopped: they keep probing.
    pool.enable_health_check(&[&server.url("/")], Duration::from_millis(10), "/ok")
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || server
        .requests_for("/ok")
        >= 3));
    limited
        .execute(get(&server.url("/after")), &Context::new())
        .unwrap();
    assert_eq!(limited.stats().admitted, 5);
    limited.stop();
    let probes = server.requests_for("/ok");
    assert!(eventually(Duration::from_secs(5), || server
        .requests_for("/ok")
        >= probes + 2));
    let err = limited
        .execute(get(&server.url("/refused")), &Context::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Stopped);
    assert_eq!(server.requests_for("/refused"), 0);
    assert_eq!(limited.stats().admitted, 5);
    pool.disable_health_check();
}

#[test]
fn warmup_beyond_the_thread_cap_opens_every_connection_on_a_pool_without_a_cap() {
    let server = Server::start().unwrap();
    // usize::MAX in flight is "no cap" (it used to panic with "capacity overflow" in warmup).
    let pool = ConnectionPool::builder()
        .max_in_flight_per_host(usize::MAX)
        .build()
        .unwrap();
    // More connections than warmup threads (64): each thread holds a chain of them.
    let report = pool.warmup(&[&server.base_url()], 150);
    let host = &report.hosts[0];
    assert_eq!(
        (host.attempted, host.ok, host.opened, host.live),
        (150, 150, 150, 150),
        "{:?}",
        host.errors.first()
    );
    assert_eq!(server.accepted(), 150);
    let res = pool
        .execute(get(&server.url("/ok")), &Context::new())
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        pool.stats().connections_opened,
        150,
        "a warm connection was reused"
    );
}
