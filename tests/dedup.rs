//! The dedup layer against a real loopback server: identical requests in flight at once reach the
//! server once, each caller gets its own outcome, waiters leave on their own cancel and deadline.
//!
//! A `Gate` below the dedup layer holds every wire request until the test has *observed* the
//! state it wants (so many waiters joined), then lets them through to the real server.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use httpbatch::{
    BatchExecutor, BatchOptions, CancelToken, Context, DedupConfig, DedupExecutor, Error,
    ErrorKind, Execute, HttpClient, Rate, RateLimitedExecutor, RateLimiter, Request, Response,
};
use parking_lot::{Condvar, Mutex};
use support::{Server, eventually};

/// Holds requests until opened; counts arrivals; reports a cancel it saw on a held request.
#[derive(Clone, Default)]
struct Gate {
    state: Arc<(Mutex<bool>, Condvar)>,
    arrived: Arc<AtomicUsize>,
    saw_cancel: Arc<AtomicBool>,
}

impl Gate {
    fn open(&self) {
        *self.state.0.lock() = true;
        self.state.1.notify_all();
    }
}

struct Gated<E> {
    gate: Gate,
    inner: E,
}

impl<E: Execute> Execute for Gated<E> {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        self.gate.arrived.fetch_add(1, Ordering::SeqCst);
        let mut open = self.gate.state.0.lock();
        while !*open {
            if ctx.check().is_err() {
                self.gate.saw_cancel.store(true, Ordering::SeqCst);
                return Err(ctx.check().unwrap_err());
            }
            self.gate
                .state
                .1
                .wait_for(&mut open, Duration::from_millis(1));
        }
        drop(open);
        self.inner.execute(req, ctx)
    }
}

fn gated_dedup(config: DedupConfig) -> (Gate, DedupExecutor<Gated<HttpClient>>) {
    let gate = Gate::default();
    let inner = Gated {
        gate: gate.clone(),
        inner: HttpClient::new(),
    };
    (gate, DedupExecutor::new(inner, config))
}

const WITHIN: Duration = Duration::from_secs(20);

#[test]
fn hundred_identical_requests_reach_the_server_once() {
    let server = Server::start().unwrap();
    let (gate, dedup) = gated_dedup(DedupConfig::new());
    let batch = BatchExecutor::new(&dedup, 100).unwrap();
    let url = server.url("/bytes/17");
    let probe = Request::get(&url).unwrap();
    std::thread::scope(|s| {
        let run = s.spawn(|| {
            let requests = (0..100).map(|i| {
                Request::builder(httpbatch::Method::Get, &url)
                    .tag(i)
                    .build()
            });
            batch.execute_batch(requests, BatchOptions::new())
        });
        assert!(eventually(WITHIN, || dedup.waiters(&probe) == 100));
        gate.open();
        let result = run.join().unwrap();
        assert_eq!(result.outcomes.len(), 100);
        for (i, o) in result.outcomes.iter().enumerate() {
            let res = o.response().expect("a response for every caller");
            assert_eq!((res.status(), res.body().len()), (200, 17));
            assert_eq!(res.tag(), i as u64, "each caller's own tag");
        }
    });
    assert_eq!(server.requests_for("/bytes/17"), 1);
    assert_eq!(gate.arrived.load(Ordering::SeqCst), 1);
    let st = dedup.stats();
    assert_eq!(
        (st.requests, st.wire, st.saved, st.in_flight),
        (100, 1, 99, 0)
    );
    // Nothing in flight: the next request is sent again.
    dedup.execute(probe, &Context::new()).unwrap();
    assert_eq!(server.requests_for("/bytes/17"), 2);
}

#[test]
fn mixed_keys_give_exact_server_counts_across_batches_and_callers() {
    let server = Server::start().unwrap();
    let (gate, dedup) = gated_dedup(DedupConfig::new());
    let key = |k: usize| server.url(&format!("/seq/k{k}?s=200"));
    std::thread::scope(|s| {
        let mut runs = Vec::new();
        // Two batches and some lone callers, 10 keys × 10 requests, plus 5 POSTs (never shared).
        for half in 0..2 {
            let (dedup, key) = (&dedup, &key);
            runs.push(s.spawn(move || {
                let batch = BatchExecutor::new(dedup, 40).unwrap();
                let reqs = (0..40).map(|i| Request::get(&key((i + half * 40) % 10)));
                let r = batch.execute_batch(reqs, BatchOptions::new());
                r.summary.succeeded
            }));
        }
        for i in 0..20 {
            let (dedup, key) = (&dedup, &key);
            runs.push(s.spawn(move || {
                dedup
                    .execute(Request::get(&key(i % 10)).unwrap(), &Context::new())
                    .map_or(0, |r| (r.status() == 200) as usize)
            }));
        }
        for _ in 0..5 {
            let dedup = &dedup;
            let url = server.url("/echo");
            runs.push(s.spawn(move || {
                dedup
                    .execute(
                        Request::post(&url, b"same".to_vec()).unwrap(),
                        &Context::new(),
                    )
                    .map_or(0, |r| (r.status() == 200) as usize)
            }));
        }
        let waiting = || {
            (0..10)
                .map(|k| dedup.waiters(&Request::get(&key(k)).unwrap()))
                .sum::<usize>()
        };
        assert!(eventually(WITHIN, || waiting() == 100
            && gate.arrived.load(Ordering::SeqCst) == 15));
        gate.open();
        let ok: usize = runs.into_iter().map(|r| r.join().unwrap()).sum();
        assert_eq!(ok, 105);
    });
    for k in 0..10 {
        assert_eq!(server.requests_for(&format!("/seq/k{k}")), 1, "key {k}");
    }
    assert_eq!(server.requests_for("/echo"), 5);
    let st = dedup.stats();
    assert_eq!(
        (st.requests, st.bypassed, st.wire, st.saved),
        (105, 5, 10, 90)
    );
}

#[test]
fn a_waiter_that_cancels_leaves_the_others_outcome_intact() {
    let server = Server::start().unwrap();
    let (gate, dedup) = gated_dedup(DedupConfig::new());
    let url = server.url("/bytes/5");
    let probe = Request::get(&url).unwrap();
    let tokens: Vec<_> = (0..3).map(|_| CancelToken::new()).collect();
    std::thread::scope(|s| {
        let calls: Vec<_> = tokens
            .iter()
            .map(|t| {
                let ctx = Context::new().with_cancel(t.clone());
                let (dedup, url) = (&dedup, &url);
                s.spawn(move || dedup.execute(Request::get(url).unwrap(), &ctx))
            })
            .collect();
        assert!(eventually(WITHIN, || dedup.waiters(&probe) == 3));
        // One caller cancels (the shared request runs on the layer's own thread, so which caller
        // started it does not matter): it returns while the shared request is still held at the
        // gate, and the others keep waiting.
        tokens[0].cancel();
        let mut calls = calls.into_iter();
        let first = calls.next().unwrap().join().unwrap();
        assert_eq!(first.unwrap_err().kind(), ErrorKind::Cancelled);
        assert_eq!(dedup.waiters(&probe), 2);
        assert!(!gate.saw_cancel.load(Ordering::SeqCst));
        gate.open();
        for c in calls {
            let res = c.join().unwrap().unwrap();
            assert_eq!((res.status(), res.body().len()), (200, 5));
        }
    });
    assert_eq!(server.requests_for("/bytes/5"), 1);
    let st = dedup.stats();
    assert_eq!((st.wire, st.saved, st.left, st.abandoned), (1, 2, 1, 0));
}

#[test]
fn when_every_waiter_leaves_the_shared_request_is_cancelled() {
    let server = Server::start().unwrap();
    let (gate, dedup) = gated_dedup(DedupConfig::new());
    let url = server.url("/ok");
    let probe = Request::get(&url).unwrap();
    let token = CancelToken::new();
    let deadline = Instant::now() + Duration::from_millis(100);
    std::thread::scope(|s| {
        let ctx = Context::new().with_cancel(token.clone());
        let (d, u) = (&dedup, &url);
        let a = s.spawn(move || d.execute(Request::get(u).unwrap(), &ctx));
        // The second waiter leaves at its own deadline.
        let ctx = Context::new().with_deadline(deadline);
        let b = s.spawn(move || d.execute(Request::get(u).unwrap(), &ctx));
        assert!(eventually(WITHIN, || dedup.waiters(&probe) == 2));
        let b = b.join().unwrap().unwrap_err();
        assert_eq!(b.kind(), ErrorKind::DeadlineExceeded);
        assert!(Instant::now() >= deadline);
        assert!(
            !gate.saw_cancel.load(Ordering::SeqCst),
            "one waiter is left"
        );
        token.cancel();
        assert_eq!(a.join().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
        assert!(eventually(WITHIN, || gate
            .saw_cancel
            .load(Ordering::SeqCst)));
    });
    assert_eq!(server.requests_for("/ok"), 0);
    let st = dedup.stats();
    assert_eq!((st.wire, st.left, st.abandoned), (1, 2, 1));
    assert!(eventually(WITHIN, || dedup.stats().in_flight == 0));
}

#[test]
fn an_error_is_shared_like_a_response() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (gate, dedup) = gated_dedup(DedupConfig::new());
    let url = format!("http://127.0.0.1:{port}/gone");
    let probe = Request::get(&url).unwrap();
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..10)
            .map(|_| s.spawn(|| dedup.execute(Request::get(&url).unwrap(), &Context::new())))
            .collect();
        assert!(eventually(WITHIN, || dedup.waiters(&probe) == 10));
        gate.open();
        for c in calls {
            let e = c.join().unwrap().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectRefused, "{e}");
        }
    });
    assert_eq!(gate.arrived.load(Ordering::SeqCst), 1);
    assert_eq!(dedup.stats().saved, 9);
}

#[test]
fn the_admission_gate_charges_one_token_for_the_one_wire_request() {
    let server = Server::start().unwrap();
    let gate = Gate::default();
    let limiter = RateLimiter::new(Rate::parse("1000/s").unwrap(), 1000).unwrap();
    // The limiter below dedup (the usual order) and a second one above it: both charge once.
    let below = RateLimitedExecutor::new(
        Gated {
            gate: gate.clone(),
            inner: HttpClient::new(),
        },
        limiter.clone(),
    );
    let dedup = DedupExecutor::new(below, DedupConfig::new());
    let above_limiter = RateLimiter::new(Rate::parse("1000/s").unwrap(), 1000).unwrap();
    let above = RateLimitedExecutor::new(dedup.clone(), above_limiter.clone());
    let url = server.url("/bytes/3");
    let probe = Request::get(&url).unwrap();
    std::thread::scope(|s| {
        let run = s.spawn(|| {
            let batch = BatchExecutor::new(&above, 50).unwrap();
            batch.execute_batch(vec![Request::get(&url).unwrap(); 50], BatchOptions::new())
        });
        assert!(eventually(WITHIN, || dedup.waiters(&probe) == 50));
        gate.open();
        assert_eq!(run.join().unwrap().summary.succeeded, 50);
    });
    assert_eq!(server.requests_for("/bytes/3"), 1);
    assert_eq!(limiter.stats().admitted, 1);
    assert_eq!(above_limiter.stats().admitted, 1);
}
