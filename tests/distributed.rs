//! The shared limiter and the work list against a real `redis-server` (started per test on a
//! free loopback port). Separate `RedisRateLimiter` handles share nothing but Redis, exactly
//! like separate processes; tests/distributed_cli.rs runs real worker processes.
//!
//! Timing assertions are one-sided where load can only make things slower (a wait ends late,
//! never early), so they hold on a loaded machine; exact figures are in benches/distributed.rs.

#[path = "support/redis.rs"]
mod redis_server;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use httpbatch::distributed::{OnUnreachable, RedisRateLimiter, WorkList, Worker};
use httpbatch::{
    BatchExecutor, BatchOptions, CancelToken, Context, ErrorKind, HttpClient, Rate, RateLimiter,
    Request, Stack,
};
use redis_server::RedisServer;

fn req() -> Request {
    Request::get("http://127.0.0.1:9/").unwrap()
}

fn limiter(url: &str, key: &str, rate: &str, burst: u32) -> RedisRateLimiter {
    RedisRateLimiter::builder(url, Rate::parse(rate).unwrap(), burst)
        .key(key)
        .build()
        .unwrap()
}

/// Runs `n` admissions alternating over `handles`; returns when the last was admitted.
fn admit_all(handles: &[RedisRateLimiter], n: usize) -> Duration {
    let start = Instant::now();
    let ctx = Context::new();
    for i in 0..n {
        handles[i % handles.len()].acquire(&req(), &ctx).unwrap();
    }
    start.elapsed()
}

#[test]
fn burst_then_rate_across_handles() {
    let redis = RedisServer::start();
    let a = limiter(&redis.url(), "k", "20/s", 5);
    let b = limiter(&redis.url(), "k", "20/s", 5);
    // The burst of 5 is shared: 5 at once between the two handles...
    let burst = admit_all(&[a.clone(), b.clone()], 5);
    // ...then one per 50 ms for both together: 10 more take at least 450 ms (the 10th is due
    // 500 ms after the bucket emptied, minus at most one interval of refill during the burst).
    let paced = admit_all(&[a.clone(), b.clone()], 10);
    assert!(
        paced >= Duration::from_millis(450),
        "{paced:?} after a burst of {burst:?}"
    );
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.limiter.admitted + sb.limiter.admitted, 15);
    assert!(sa.limiter.throttled + sb.limiter.throttled >= 9);
    // One round trip per admission, plus one EVAL per handle after the first NOSCRIPT.
    assert!(sa.round_trips + sb.round_trips <= 15 + 2, "{sa:?} {sb:?}");
}

#[test]
fn set_rate_from_one_handle_applies_to_all_without_a_free_burst() {
    let redis = RedisServer::start();
    let a = limiter(&redis.url(), "k", "10/s", 10);
    let b = limiter(&redis.url(), "k", "10/s", 10);
    admit_all(std::slice::from_ref(&a), 10); // the burst, emptied
    b.set_rate(Rate::parse("20/s").unwrap()).unwrap();
    assert_eq!(
        a.stored_config().unwrap(),
        Some((Duration::from_millis(50), 10))
    );
    // The bucket stays empty across the change: 10 more take ~500 ms at the new rate (at least
    // 450 ms, never the instant a fresh burst would allow)...
    let t = admit_all(std::slice::from_ref(&a), 10);
    assert!(t >= Duration::from_millis(450), "{t:?}");
    // ...and a slower rate applies at once to the other handle too.
    b.set_rate(Rate::parse("5/s").unwrap()).unwrap();
    let t = admit_all(std::slice::from_ref(&a), 3);
    assert!(t >= Duration::from_millis(400), "{t:?}");
    b.set_burst(2).unwrap();
    assert_eq!(
        a.stored_config().unwrap(),
        Some((Duration::from_millis(200), 2))
    );
}

#[test]
fn deadline_refuses_at_once_and_cancel_wakes_a_waiter() {
    let redis = RedisServer::start();
    let l = limiter(&redis.url(), "k", "1/min", 1);
    l.acquire(&req(), &Context::new()).unwrap();
    // The next token is a minute away: a 1 s deadline cannot be met, so nothing is taken.
    let ctx = Context::new().with_deadline(Instant::now() + Duration::from_secs(1));
    let start = Instant::now();
    let err = l.acquire(&req(), &ctx).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(start.elapsed() < Duration::from_millis(900));
    // A waiter without deadline: cancel it once its reservation is made (observed as a round
    // trip), and it returns Cancelled.
    let token = CancelToken::new();
    let before = l.stats().round_trips;
    let waiter = {
        let (l, token) = (l.clone(), token.clone());
        std::thread::spawn(move || l.acquire(&req(), &Context::new().with_cancel(token)))
    };
    while l.stats().round_trips == before {
        std::thread::yield_now();
    }
    token.cancel();
    assert_eq!(
        waiter.join().unwrap().unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    assert_eq!(l.stats().limiter.rejected, 2);
}

#[test]
fn leasing_takes_k_tokens_per_round_trip() {
    let redis = RedisServer::start();
    let l = RedisRateLimiter::builder(redis.url(), Rate::parse("2000/s").unwrap(), 10)
        .key("k")
        .lease(10)
        .lease_ttl(Duration::from_secs(600)) // no slot expires, however slow this machine
        .build()
        .unwrap();
    admit_all(std::slice::from_ref(&l), 100);
    let s = l.stats();
    assert_eq!(s.limiter.admitted, 100);
    assert_eq!(s.from_lease, 90);
    assert!(s.round_trips <= 11, "{s:?}"); // 10 leases, one NOSCRIPT
}

#[test]
fn per_host_buckets_are_shared_and_separate() {
    let redis = RedisServer::start();
    let build = || {
        RedisRateLimiter::builder(redis.url(), Rate::parse("1000/s").unwrap(), 100)
            .key("k")
            .per_host(Rate::parse("10/s").unwrap(), 1)
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let ctx = Context::new();
    let host1 = Request::get("http://127.0.0.1:1/").unwrap();
    let host2 = Request::get("http://127.0.0.1:2/").unwrap();
    let start = Instant::now();
    a.acquire(&host1, &ctx).unwrap();
    b.acquire(&host2, &ctx).unwrap(); // another host's bucket: no wait for host1's
    b.acquire(&host1, &ctx).unwrap(); // host1's bucket is shared: 100 ms after the first
    assert!(start.elapsed() >= Duration::from_millis(90));
}

#[test]
fn fail_closed_waits_for_redis_and_recovers() {
    let mut redis = RedisServer::start();
    let l = limiter(&redis.url(), "k", "100/s", 1);
    l.acquire(&req(), &Context::new()).unwrap();
    redis.stop();
    let waiter = {
        let l = l.clone();
        std::thread::spawn(move || l.acquire(&req(), &Context::new()))
    };
    while l.stats().switches == 0 {
        std::thread::yield_now();
    }
    assert!(l.stats().degraded);
    assert!(!waiter.is_finished());
    redis.restart();
    waiter.join().unwrap().unwrap();
    let s = l.stats();
    assert_eq!((s.limiter.admitted, s.switches, s.recoveries), (2, 1, 1));
    assert!(!s.degraded && s.redis_errors >= 1 && s.fallback_admitted == 0);
}

#[test]
fn fail_open_runs_at_its_share_and_switches_back() {
    let mut redis = RedisServer::start();
    let l = RedisRateLimiter::builder(redis.url(), Rate::parse("100/s").unwrap(), 1)
        .key("k")
        .on_unreachable(OnUnreachable::LocalShare(0.5))
        .build()
        .unwrap();
    l.acquire(&req(), &Context::new()).unwrap();
    redis.stop();
    // 11 admissions at 50/s: at least 200 ms, none refused.
    let t = admit_all(std::slice::from_ref(&l), 11);
    assert!(t >= Duration::from_millis(190), "{t:?}");
    let s = l.stats();
    assert_eq!(s.fallback_admitted, 11);
    assert_eq!((s.switches, s.recoveries, s.degraded), (1, 0, true));
    redis.restart();
    // Redis is tried again after the backoff (at most 1 s); then the fallback stops.
    while l.stats().degraded {
        l.acquire(&req(), &Context::new()).unwrap();
    }
    assert_eq!(l.stats().recoveries, 1);
}

#[test]
fn work_list_two_workers_one_outcome_per_id() {
    let redis = RedisServer::start();
    let server = support::Server::start().unwrap();
    let list = WorkList::open(&redis.url(), "jobs").unwrap();
    let n = list
        .submit((0..60).map(|i| (format!("r{i}"), server.url(&format!("/ok?i={i}")))))
        .unwrap();
    assert_eq!(n, 60);
    let run = |name: &str| {
        let list = WorkList::open(&redis.url(), "jobs").unwrap();
        let name = name.to_owned();
        std::thread::spawn(move || {
            let exec = BatchExecutor::new(Arc::new(HttpClient::new()), 4).unwrap();
            Worker::new(&list, name)
                .exit_when_complete(true)
                .read_batch(4)
                .run(
                    &exec,
                    BatchOptions::new(),
                    |e| Request::get(&e.payload),
                    |e, o| format!("{}:{}", e.id, o.status().unwrap_or(0)),
                )
        })
    };
    let (w1, w2) = (run("w1"), run("w2"));
    let (s1, s2) = (w1.join().unwrap(), w2.join().unwrap());
    assert_eq!(s1.recorded + s2.recorded, 60);
    assert_eq!(s1.duplicates + s2.duplicates, 0);
    assert_eq!(server.requests_for("/ok"), 60);
    let st = list.status().unwrap();
    assert_eq!(
        (st.total, st.recorded, st.pending, st.queued),
        (60, 60, 0, 0)
    );
    let done: u64 = st.workers.iter().map(|w| w.done).sum();
    assert_eq!(done, 60);
    let ordered = list.in_order(0, 100).unwrap();
    assert_eq!(ordered.len(), 60);
    for (i, (id, outcome)) in ordered.iter().enumerate() {
        assert_eq!(id, &format!("r{i}"));
        assert_eq!(outcome.as_deref(), Some(format!("r{i}:200").as_str()));
    }
    assert_eq!(list.completed(0, 100).unwrap().len(), 60);
}

#[test]
fn entries_of_a_dead_worker_are_reclaimed_then_dead_lettered() {
    let redis = RedisServer::start();
    let server = support::Server::start().unwrap();
    let list = WorkList::open(&redis.url(), "jobs").unwrap();
    list.submit([
        ("a".to_string(), server.url("/ok")),
        ("b".to_string(), server.url("/ok")),
    ])
    .unwrap();
    // A "worker" reads both and dies without an outcome.
    assert_eq!(
        list.read("ghost", 10, Duration::from_millis(10))
            .unwrap()
            .len(),
        2
    );
    // Another claims "a" again (second delivery) and dies too.
    let exec = BatchExecutor::new(Arc::new(HttpClient::new()), 2).unwrap();
    let st = list.status().unwrap();
    assert_eq!((st.pending, st.queued), (2, 0));
    // A worker that allows 2 deliveries: both entries have been delivered once, so it claims
    // and runs them (second delivery) after the visibility timeout.
    let s = Worker::new(&list, "w")
        .visibility_timeout(Duration::from_millis(50))
        .max_deliveries(2)
        .exit_when_complete(true)
        .run(
            &exec,
            BatchOptions::new(),
            |e| Request::get(&e.payload),
            |_, o| o.kind_str().to_owned(),
        );
    assert_eq!((s.reclaimed, s.recorded, s.dead), (2, 2, 0));
    // A poison entry: delivered twice without an outcome, then dead-lettered, not run.
    list.submit([("c".to_string(), server.url("/ok"))]).unwrap();
    assert_eq!(
        list.read("ghost", 10, Duration::from_millis(10))
            .unwrap()
            .len(),
        1
    );
    std::thread::sleep(Duration::from_millis(60));
    let (again, _) = list
        .reclaim("ghost2", Duration::from_millis(50), 10, 10)
        .unwrap();
    assert_eq!(again[0].deliveries, 2);
    let s = Worker::new(&list, "w")
        .visibility_timeout(Duration::from_millis(50))
        .max_deliveries(2)
        .exit_when_complete(true)
        .run(
            &exec,
            BatchOptions::new(),
            |e| Request::get(&e.payload),
            |_, o| o.kind_str().to_owned(),
        );
    assert_eq!((s.dead, s.recorded), (1, 0));
    let st = list.status().unwrap();
    assert_eq!((st.total, st.recorded, st.dead, st.pending), (3, 3, 1, 0));
    assert_eq!(server.requests_for("/ok"), 2);
    let c = &list.in_order(2, 1).unwrap()[0];
    assert!(c.1.as_deref().unwrap().contains("dead_letter"), "{c:?}");
}

/// Two stacks (as two processes would build them) with the shared limiter in the stack's
/// limiter place: every request on the wire takes a shared slot, one stack's local limiter
/// passes first, and the shared statistics are in `StackStats`.
#[test]
fn stacks_share_one_limit_through_the_stack_builder() {
    let redis = RedisServer::start();
    let server = support::Server::builder()
        .record_arrivals(true)
        .start()
        .unwrap();
    let (la, lb) = (
        limiter(&redis.url(), "stack", "50/s", 5),
        limiter(&redis.url(), "stack", "50/s", 5),
    );
    let a = Stack::builder()
        .workers(4)
        .shared_rate_limiter(la.clone())
        .build()
        .unwrap();
    let local = RateLimiter::new(Rate::parse("1000/s").unwrap(), 100).unwrap();
    let b = Stack::builder()
        .workers(4)
        .rate_limiter(local.clone())
        .shared_rate_limiter(lb)
        .build()
        .unwrap();
    assert!(a.shared_rate_limiter().is_some() && a.rate_limited().is_none());
    let n = 15;
    std::thread::scope(|s| {
        for stack in [&a, &b] {
            s.spawn(|| {
                let requests = (0..n).map(|i| Request::get(&server.url(&format!("/ok?i={i}"))));
                let r = stack.execute_batch(requests, BatchOptions::new());
                assert_eq!(r.summary.succeeded, n);
            });
        }
    });
    let (sa, sb) = (a.stats(), b.stats());
    let (shared_a, shared_b) = (sa.shared_limiter.unwrap(), sb.shared_limiter.unwrap());
    assert_eq!(shared_a, la.stats());
    assert_eq!(
        shared_a.limiter.admitted + shared_b.limiter.admitted,
        2 * n as u64
    );
    assert_eq!(sb.limiter.unwrap().admitted, n as u64);
    // 30 requests under one 50/s limit with a burst of 5: the 30th slot is 25 intervals (500 ms)
    // after the first. Load only delays arrivals, so the span is at least that, less the one
    // interval the bucket may refill while the burst goes out.
    let t: Vec<Instant> = server.arrivals().iter().map(|x| x.at).collect();
    assert_eq!(t.len(), 2 * n);
    let span = *t.iter().max().unwrap() - *t.iter().min().unwrap();
    assert!(span >= Duration::from_millis(480), "{span:?}");
}
