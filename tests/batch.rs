//! BatchExecutor over the ureq leaf, against real loopback servers.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use httpbatch::{
    BatchEvent, BatchExecutor, BatchOptions, CancelToken, ErrorKind, HttpClient, HttpClientConfig,
    Method, Outcome, Request,
};
use support::{Server, eventually, threads_named};

fn executor(workers: usize) -> BatchExecutor<HttpClient> {
    BatchExecutor::builder()
        .workers(workers)
        .build(HttpClient::new())
        .unwrap()
}

/// A status for request `i` that the test can recompute: a mix of 200, 404 and 500.
fn scripted(i: usize) -> u16 {
    match (i * 7919) % 10 {
        0..=5 => 200,
        6..=7 => 404,
        _ => 500,
    }
}

#[test]
fn thousand_requests_keep_input_order_and_connections_are_counted_exactly() {
    let server = Server::start().unwrap();
    let ex = executor(32);
    let requests: Vec<_> = (0..1000)
        .map(|i| {
            Request::builder(
                Method::Get,
                &server.url(&format!("/status/{}", scripted(i))),
            )
            .tag(i as u64)
            .build()
        })
        .collect();
    let result = ex.execute_batch(requests, BatchOptions::new().concurrency(32));
    assert_eq!(result.outcomes.len(), 1000);
    for (i, o) in result.outcomes.iter().enumerate() {
        let r = o.response().unwrap_or_else(|| panic!("slot {i}: {o:?}"));
        assert_eq!(r.status(), scripted(i), "slot {i}");
        assert_eq!(r.tag(), i as u64);
        assert_eq!(r.text(), scripted(i).to_string());
    }
    assert_eq!(server.requests(), 1000);
    assert!(server.accepted() <= 32, "accepted {}", server.accepted());
    let conns = ex.get_ref().connection_stats();
    assert_eq!(conns.opened, server.accepted());
    assert_eq!(conns.requests, 1000);
    assert_eq!(conns.reused, 1000 - conns.opened);
    let s = result.summary;
    assert_eq!(s.responses, 1000);
    assert_eq!(
        s.succeeded,
        (0..1000).filter(|&i| scripted(i) == 200).count()
    );
    assert_eq!(
        s.status_classes[3],
        (0..1000).filter(|&i| scripted(i) == 404).count()
    );
    let stats = ex.stats();
    assert_eq!(stats.completed, 1000);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.latency.count, 1000);
    assert!(stats.latency.p50 <= stats.latency.p99 && stats.latency.p99 <= stats.latency.max);
}

#[test]
fn cancel_with_ten_thousand_queued_and_thirty_two_stuck_returns_promptly() {
    let server = Arc::new(Server::start().unwrap());
    let ex = executor(32);
    let requests: Vec<_> = (0..10_000)
        .map(|_| Request::get(&server.url("/delay/60000")))
        .collect();
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        let server = server.clone();
        std::thread::spawn(move || {
            // Cancel once the 32 workers are stuck in the server.
            let until = Instant::now() + Duration::from_secs(10);
            while server.in_flight() < 32 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            token.cancel();
            Instant::now()
        })
    };
    let result = ex.execute_batch(requests, BatchOptions::new().cancel(token));
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    assert!(
        returned.duration_since(cancelled_at) < Duration::from_secs(2),
        "took {:?} after cancel",
        returned.duration_since(cancelled_at)
    );
    assert_eq!(result.outcomes.len(), 10_000);
    assert!(
        result
            .outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Cancelled))
    );
    assert_eq!(result.summary.cancelled, 10_000);
    assert_eq!(
        server.requests(),
        32,
        "only the 32 stuck requests reached the server"
    );
    assert_eq!(ex.stats().in_flight, 0);
}

#[test]
fn deadline_settles_every_outcome() {
    let server = Server::start().unwrap();
    let ex = executor(32);
    let requests: Vec<_> = (0..500)
        .map(|_| Request::get(&server.url("/delay/60000")))
        .collect();
    let started = Instant::now();
    let result = ex.execute_batch(
        requests,
        BatchOptions::new().batch_timeout(Duration::from_millis(200)),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(result.outcomes.len(), 500);
    let mut in_flight = 0;
    for o in &result.outcomes {
        match o {
            Outcome::Error(e) => {
                assert_eq!(e.kind(), ErrorKind::DeadlineExceeded, "{e:?}");
                in_flight += 1;
            }
            Outcome::NotRun => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(in_flight, 32);
    assert_eq!(result.summary.not_run, 468);
}

#[test]
fn invalid_inputs_end_as_typed_errors_in_their_own_slots() {
    let server = Server::start().unwrap();
    let ex = executor(4);
    let inputs = vec![
        Request::get(&server.url("/ok")),
        Request::get("http//missing-colon"),
        Request::get(&server.url("/status/201")),
        Request::get("gopher://127.0.0.1/"),
        Request::builder(Method::Get, &server.url("/ok"))
            .header("x-evil", "a\r\nInjected: 1")
            .build(),
        Request::get(&server.url("/status/404")),
    ];
    let r = ex.execute_batch(inputs, BatchOptions::new());
    let kinds: Vec<_> = r
        .outcomes
        .iter()
        .map(|o| o.error().map(|e| e.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            Some(ErrorKind::InvalidUrl),
            None,
            Some(ErrorKind::InvalidUrl),
            Some(ErrorKind::InvalidHeader),
            None
        ]
    );
    assert_eq!(r.outcomes[0].status(), Some(200));
    assert_eq!(r.outcomes[2].status(), Some(201));
    assert_eq!(r.outcomes[5].status(), Some(404));
    assert_eq!(server.requests(), 3);
}

#[test]
fn progress_is_monotonic_ends_at_100_and_stops_at_return() {
    let server = Server::start().unwrap();
    let ex = executor(8);
    let requests: Vec<_> = (0..300)
        .map(|i| Request::get(&server.url(&format!("/delay/{}", i % 3))))
        .collect();
    let mut seen = Vec::new();
    let mut events = (0usize, 0usize, 0usize, 0usize);
    let calls_after = Arc::new(AtomicBool::new(false));
    {
        let returned = Arc::new(AtomicBool::new(false));
        let r = ex.execute_batch(
            requests,
            BatchOptions::new()
                .on_progress(Duration::ZERO, |p| {
                    if returned.load(Ordering::SeqCst) {
                        calls_after.store(true, Ordering::SeqCst);
                    }
                    seen.push(*p)
                })
                .on_event(|e| match e {
                    BatchEvent::Started { .. } => events.0 += 1,
                    BatchEvent::Completed { .. } => events.1 += 1,
                    BatchEvent::Failed { .. } => events.2 += 1,
                    BatchEvent::Drained { .. } => events.3 += 1,
                    _ => {}
                }),
        );
        returned.store(true, Ordering::SeqCst);
        assert_eq!(r.summary.succeeded, 300);
    }
    assert!(!calls_after.load(Ordering::SeqCst));
    assert!(seen.len() >= 2);
    for w in seen.windows(2) {
        assert!(w[1].completed >= w[0].completed);
        assert!(w[1].percent >= w[0].percent);
        assert!(w[1].elapsed >= w[0].elapsed);
    }
    let last = seen.last().unwrap();
    assert_eq!(
        (last.completed, last.total, last.percent),
        (300, 300, 100.0)
    );
    assert_eq!(last.eta, Some(Duration::ZERO));
    assert!(
        seen.iter()
            .all(|p| p.throughput.is_finite() && p.throughput >= 0.0)
    );
    assert_eq!(events, (300, 300, 0, 1));
}

#[test]
fn fresh_stats_have_no_nan() {
    let ex = executor(2);
    let s = ex.stats();
    assert!(s.throughput.is_finite() && s.throughput >= 0.0);
    assert_eq!(s.completed, 0);
    assert_eq!(s.latency.count, 0);
    ex.reset_stats();
    assert!(ex.stats().throughput == 0.0);
}

#[test]
fn fail_fast_leaves_not_run_slots_never_empty_ones() {
    let server = Server::start().unwrap();
    let ex = executor(4);
    let mut requests: Vec<_> = (0..200)
        .map(|_| Request::get(&server.url("/delay/5")))
        .collect();
    requests[10] = Request::get(&server.url("/status/500"));
    let r = ex.execute_batch(
        requests,
        BatchOptions::new()
            .fail_fast(true)
            .fail_fast_on_status(|s| s >= 500)
            .concurrency(4),
    );
    assert_eq!(r.outcomes.len(), 200);
    assert_eq!(r.outcomes[10].status(), Some(500));
    let not_run = r
        .outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::NotRun))
        .count();
    let ran = r.outcomes.iter().filter(|o| o.response().is_some()).count();
    assert_eq!(not_run + ran, 200, "every slot is a response or not run");
    assert!(
        not_run >= 150,
        "dispatch stopped soon after the failure: {not_run} not run"
    );
    assert_eq!(server.requests() as usize, ran);
}

#[test]
fn fail_fast_trips_on_an_error_outcome_but_not_on_a_status_unless_asked() {
    let server = Server::start().unwrap();
    let ex = executor(1);
    let paths = ["/ok", "/status/500", "/ok", "/reset", "/ok", "/ok"];
    let requests = || paths.iter().map(|p| Request::get(&server.url(p)));
    let r = ex.execute_batch(requests(), BatchOptions::new().fail_fast(true));
    let kinds: Vec<_> = r.outcomes.iter().map(Outcome::kind_str).collect();
    assert_eq!(
        kinds,
        [
            "response", "response", "response", "error", "not_run", "not_run"
        ],
        "a 500 is a response; the reset connection is the first error"
    );
    // `/reset` closes the reused connection without an answer, like a stale keep-alive
    // connection: the leaf resends it once on a new connection (which closes too).
    assert_eq!(server.requests(), 5);
    let r = ex.execute_batch(
        requests(),
        BatchOptions::new()
            .fail_fast(true)
            .fail_fast_on_status(|s| s >= 500),
    );
    let kinds: Vec<_> = r.outcomes.iter().map(Outcome::kind_str).collect();
    assert_eq!(
        kinds,
        [
            "response", "response", "not_run", "not_run", "not_run", "not_run"
        ]
    );
}

#[test]
fn per_batch_concurrency_cap_is_respected_at_the_server() {
    let server = Server::start().unwrap();
    let ex = executor(16);
    let requests: Vec<_> = (0..64)
        .map(|_| Request::get(&server.url("/delay/10")))
        .collect();
    let r = ex.execute_batch(requests, BatchOptions::new().concurrency(3));
    assert_eq!(r.summary.succeeded, 64);
    assert!(server.max_in_flight() <= 3, "{}", server.max_in_flight());
}

#[test]
fn streaming_delivers_each_index_once_without_keeping_responses() {
    let server = Server::start().unwrap();
    let ex = executor(8);
    let mut seen = vec![0u8; 500];
    let summary = ex.execute_streaming(
        (0..500).map(|_| Request::get(&server.url("/bytes/100"))),
        BatchOptions::new(),
        |i, o| {
            assert_eq!(o.response().unwrap().body().len(), 100);
            seen[i] += 1;
        },
    );
    assert!(seen.iter().all(|&n| n == 1));
    assert_eq!(summary.succeeded, 500);
}

#[test]
fn body_limit_and_refused_connections_are_typed() {
    let server = Server::start().unwrap();
    let client = HttpClient::with_config(HttpClientConfig::default().max_body_size(1000));
    let ex = BatchExecutor::builder().workers(2).build(client).unwrap();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = ex.execute_batch(
        vec![
            Request::get(&server.url("/bytes/1000")),
            Request::get(&server.url("/bytes/1001")),
            Request::get(&format!("http://127.0.0.1:{closed_port}/")),
            Request::get(&server.url("/reset")),
        ],
        BatchOptions::new(),
    );
    assert_eq!(r.outcomes[0].response().unwrap().body().len(), 1000);
    assert_eq!(
        r.outcomes[1].error().unwrap().kind(),
        ErrorKind::BodyTooLarge
    );
    assert_eq!(
        r.outcomes[2].error().unwrap().kind(),
        ErrorKind::ConnectRefused
    );
    let reset = r.outcomes[3].error().unwrap();
    assert!(
        matches!(
            reset.kind(),
            ErrorKind::ConnectionReset | ErrorKind::Protocol
        ),
        "{reset:?}"
    );
    let stats = ex.stats();
    assert_eq!(stats.errors_of(ErrorKind::BodyTooLarge), 1);
    assert_eq!(stats.errors_of(ErrorKind::ConnectRefused), 1);
}

#[test]
fn live_connections_fall_when_the_server_closes_them() {
    let server = Server::start().unwrap();
    let ex = executor(4);
    let r = ex.execute_batch(
        (0..8).map(|_| Request::get(&server.url("/close"))),
        BatchOptions::new(),
    );
    assert_eq!(r.summary.succeeded, 8);
    let c = ex.get_ref().connection_stats();
    assert_eq!(c.opened, 8);
    assert_eq!(c.live, 0, "{c:?}");
    assert_eq!(c.closed, 8);
}

#[test]
fn shutdown_joins_workers_and_ends_queued_work_cancelled() {
    let server = Server::start().unwrap();
    let ex = Arc::new(
        BatchExecutor::builder()
            .workers(4)
            .thread_name("shutdown-t")
            .build(HttpClient::new())
            .unwrap(),
    );
    // A thread names itself as it starts, so give them a moment to appear.
    assert!(eventually(Duration::from_secs(2), || threads_named(
        "shutdown-t"
    ) == 4));
    let runner = {
        let ex = ex.clone();
        let url = server.url("/delay/60000");
        std::thread::spawn(move || {
            ex.execute_batch((0..100).map(|_| Request::get(&url)), BatchOptions::new())
        })
    };
    let until = Instant::now() + Duration::from_secs(10);
    while server.in_flight() < 4 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    ex.shutdown();
    let r = runner.join().unwrap();
    assert_eq!(r.outcomes.len(), 100);
    assert!(r.outcomes.iter().all(|o| matches!(o, Outcome::Cancelled)));
    assert!(
        eventually(Duration::from_secs(2), || threads_named("shutdown-t") == 0),
        "workers joined"
    );
}
