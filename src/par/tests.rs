//! Engine tests against an in-memory executor (no sockets); the loopback tests are in
//! `tests/par.rs`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::*;
use crate::{CancelToken, Method, ParMap, ParOptions};

/// Waits the number of milliseconds in the URL's last segment (cancel-aware), records the order
/// requests started in and the peak in flight. A last segment `fail` answers an error.
#[derive(Debug, Default)]
struct Fake {
    started: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Execute for Fake {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        ctx.check()?;
        let last = req
            .url()
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        self.started.lock().push(last.clone());
        if last == "fail" {
            return Err(Error::new(ErrorKind::ConnectionReset, "fake failure"));
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let ms: u64 = last.parse().unwrap_or(0);
        // Like a socket timeout: wait until the deadline, then fail (`wait_until` alone would
        // fail at once a wait that cannot end before the deadline).
        let until = Instant::now() + Duration::from_millis(ms);
        let capped = ctx.deadline().map_or(until, |d| d.min(until));
        let waited = ctx.wait_until(capped).and_then(|()| {
            if capped < until {
                Err(Error::deadline_exceeded())
            } else {
                Ok(())
            }
        });
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        waited?;
        Ok(Response::new(200, last.into_bytes()).with_tag(req.tag()))
    }
}

fn get(path: &str) -> Request {
    Request::get(&format!("http://fake/{path}")).unwrap()
}

fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ParExecutor<crate::HttpClient>>();
    is::<ParClient<'_>>();
    is::<ParError>();
}

#[test]
fn order_kept_and_threads_named() {
    let par = ParExecutor::new(Fake::default(), 8).unwrap();
    let reqs: Vec<_> = (0..64).map(|i| get(&format!("{}", (i * 7) % 11))).collect();
    let names = Mutex::new(Vec::new());
    let out = reqs.par_map(&par, |r| {
        names
            .lock()
            .push(std::thread::current().name().unwrap_or("").to_owned());
        r.unwrap().text().into_owned()
    });
    let want: Vec<_> = (0..64).map(|i| format!("{}", (i * 7) % 11)).collect();
    assert_eq!(out, want);
    assert!(
        names.lock().iter().all(|n| n.starts_with("httpbatch-par-")),
        "{:?}",
        names.lock()
    );
    let s = par.stats();
    assert_eq!((s.calls, s.items, s.requests, s.in_flight), (1, 64, 64, 0));
    assert!(s.peak_in_flight <= 8);
}

#[test]
fn priorities_dispatch_first_and_stay_stable() {
    let par = ParExecutor::new(Fake::default(), 1).unwrap();
    let reqs: Vec<_> = [(0, "a"), (5, "b"), (0, "c"), (9, "d"), (5, "e")]
        .into_iter()
        .map(|(p, name)| {
            Request::builder(Method::Get, &format!("http://fake/{name}"))
                .priority(p)
                .build()
        })
        .collect();
    let out = reqs.par_map(&par, |r| r.unwrap().text().into_owned());
    assert_eq!(
        out,
        ["a", "b", "c", "d", "e"],
        "results stay in input order"
    );
    assert_eq!(*par.get_ref().started.lock(), ["d", "b", "e", "a", "c"]);
}

#[test]
fn try_form_stops_dispatching_and_names_the_index() {
    let par = ParExecutor::new(Fake::default(), 2).unwrap();
    let reqs: Vec<_> = (0..100)
        .map(|i| get(if i == 10 { "fail" } else { "2" }))
        .collect();
    let err = reqs
        .try_par_map(&par, |r| r.map(|r| r.status()))
        .unwrap_err();
    assert_eq!(err.index, 10);
    assert_eq!(err.error.kind(), ErrorKind::ConnectionReset);
    let started = par.get_ref().started.lock().len();
    assert!((11..=14).contains(&started), "started {started}");
    assert!(err.to_string().starts_with("item 10 failed"));
}

#[test]
fn collect_errors_runs_everything() {
    let par = ParExecutor::new(Fake::default(), 3).unwrap();
    let reqs = (0..30).map(|i| {
        if i % 10 == 3 {
            Request::get("nope")
        } else {
            Ok(get(if i % 10 == 7 { "fail" } else { "1" }))
        }
    });
    let out = reqs.par_map_collect_errors(&par, |r| r.map(|r| r.status()));
    let idx: Vec<_> = out.errors.iter().map(|e| e.index).collect();
    assert_eq!(idx, [3, 7, 13, 17, 23, 27]);
    assert_eq!(out.errors[0].error.kind(), ErrorKind::InvalidUrl);
    assert_eq!(out.values.iter().flatten().count(), 24);
    assert!(!out.is_ok());
    assert_eq!(out.into_result().unwrap_err().index, 3);
}

#[test]
fn pipeline_shares_one_cap_across_items() {
    let par = ParExecutorBuilder::new()
        .concurrency(3)
        .threads(8)
        .build(Fake::default())
        .unwrap();
    let out = (0..24u64)
        .par_pipeline(&par)
        .try_run(|c, i| {
            let a = c.send(get("3"))?;
            let b = c.send(get("2"))?;
            Ok(i + a.body().len() as u64 + b.body().len() as u64)
        })
        .unwrap();
    assert_eq!(out, (0..24).map(|i| i + 2).collect::<Vec<_>>());
    assert_eq!(par.get_ref().peak.load(Ordering::SeqCst), 3);
    let s = par.stats();
    assert_eq!((s.requests, s.peak_in_flight), (48, 3));
    assert!(s.waited > 0, "8 threads over 3 permits must queue");
}

#[test]
fn panic_is_reraised_and_pool_survives() {
    let par = ParExecutor::new(Fake::default(), 4).unwrap();
    for _ in 0..3 {
        let reqs: Vec<_> = (0..40).map(|_| get("1")).collect();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            reqs.par_map(&par, |r| {
                if r.unwrap().tag() == 0 && std::thread::current().name().is_some() {
                    panic!("item boom");
                }
            })
        }));
        assert_eq!(
            panic_message(&*caught.unwrap_err()),
            "item boom",
            "the closure's own payload"
        );
        let ok = (0..8)
            .map(|_| get("0"))
            .par_map(&par, |r| r.is_ok())
            .into_iter()
            .all(|b| b);
        assert!(ok);
    }
    assert_eq!(par.stats().in_flight, 0);
}

#[test]
fn executor_panic_fails_only_its_request() {
    struct Boom;
    impl Execute for Boom {
        fn execute(&self, req: Request, _: &Context) -> Result<Response, Error> {
            if req.url().as_str().ends_with("/boom") {
                panic!("executor boom");
            }
            Ok(Response::new(200, Vec::new()))
        }
    }
    let par = ParExecutor::new(Boom, 2).unwrap();
    let out = [get("ok"), get("boom"), get("ok")]
        .into_iter()
        .par_map(&par, |r| r.map(|r| r.status()).map_err(|e| e.kind()));
    assert_eq!(out, [Ok(200), Err(ErrorKind::Panicked), Ok(200)]);
}

#[test]
fn cancel_returns_promptly_with_every_item_settled() {
    let par = ParExecutor::new(Fake::default(), 4).unwrap();
    let token = CancelToken::new();
    // Items wait 10 s unless interrupted: returning well before that shows the cancel reached them.
    let reqs: Vec<_> = (0..10_000).map(|_| get("10000")).collect();
    let (out, since_cancel) = std::thread::scope(|s| {
        let canceller = s.spawn(|| {
            // Cancel once all four threads hold an item (observed, not slept on).
            while par.get_ref().started.lock().len() < 4 {
                std::thread::yield_now();
            }
            token.cancel();
            Instant::now()
        });
        let out = reqs.par_map(
            par.with_options(ParOptions::new().cancel(token.clone())),
            |r| r.map(|_| ()).map_err(|e| e.kind()),
        );
        (out, canceller.join().unwrap().elapsed())
    });
    assert!(
        since_cancel < Duration::from_secs(5),
        "took {since_cancel:?}"
    );
    assert_eq!(out.len(), 10_000);
    assert!(out.iter().all(|r| *r == Err(ErrorKind::Cancelled)));
    assert_eq!(par.get_ref().started.lock().len(), 4);
}

#[test]
fn deadline_stops_the_call() {
    let par = ParExecutor::new(Fake::default(), 2).unwrap();
    let began = Instant::now();
    let out = (0..20).map(|_| get("30")).par_map_collect_errors(
        par.with_options(ParOptions::new().batch_timeout(Duration::from_millis(100))),
        |r| r.map(|r| r.status()),
    );
    assert!(began.elapsed() < Duration::from_millis(300));
    let kinds: Vec<_> = out.errors.iter().map(|e| e.error.kind()).collect();
    let cut = kinds
        .iter()
        .filter(|k| **k == ErrorKind::DeadlineExceeded)
        .count();
    let not_run = kinds.iter().filter(|k| **k == ErrorKind::NotRun).count();
    let ran = out.values.iter().flatten().count();
    assert_eq!(ran + cut + not_run, 20, "{kinds:?}");
    // Two threads, 30 ms items, a 100 ms deadline: 3 rounds ran, the 4th was cut short.
    assert!((4..=6).contains(&ran) && cut == 2, "ran {ran}, {kinds:?}");
}

#[test]
fn deadline_leaves_unstarted_items_not_run() {
    let par = ParExecutor::new(Fake::default(), 1).unwrap();
    // A single thread on a long item: the rest are still queued at the deadline.
    let out = ["30", "0", "0"]
        .map(get)
        .into_iter()
        .par_map_collect_errors(
            par.with_options(ParOptions::new().batch_timeout(Duration::from_millis(10))),
            |r| r.map(|r| r.status()),
        );
    let kinds: Vec<_> = out
        .errors
        .iter()
        .map(|e| (e.index, e.error.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            (0, ErrorKind::DeadlineExceeded),
            (1, ErrorKind::NotRun),
            (2, ErrorKind::NotRun)
        ]
    );
}

#[test]
fn chunks_pause_between_them() {
    let par = ParExecutor::new(Fake::default(), 8).unwrap();
    let began = Instant::now();
    let out = (0..9).map(|_| get("0")).par_map(
        par.with_options(ParOptions::new().chunks(3, Duration::from_millis(60))),
        |r| r.is_ok(),
    );
    assert!(out.iter().all(|b| *b));
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(120), "two pauses: {took:?}");
    assert!(took < Duration::from_millis(600), "{took:?}");
}

#[test]
fn progress_on_calling_thread_ends_at_100() {
    let par = ParExecutor::new(Fake::default(), 4).unwrap();
    let me = std::thread::current().id();
    let mut snaps = Vec::new();
    let out = (0..40)
        .map(|i| get(if i % 4 == 0 { "fail" } else { "2" }))
        .par_map(
            par.with_options(ParOptions::new().on_progress(Duration::ZERO, |p| {
                assert_eq!(std::thread::current().id(), me);
                snaps.push(*p);
            })),
            |r| r.is_ok(),
        );
    assert_eq!(out.iter().filter(|b| **b).count(), 30);
    let last = snaps.last().unwrap();
    assert_eq!(
        (last.completed, last.total, last.succeeded, last.failed),
        (40, 40, 30, 10)
    );
    assert_eq!(last.percent, 100.0);
    assert!(snaps.windows(2).all(|w| w[0].completed <= w[1].completed));
}

#[test]
fn progress_callback_panic_stops_and_is_reraised() {
    let par = ParExecutor::new(Fake::default(), 2).unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        (0..1000).map(|_| get("1")).par_map(
            par.with_options(ParOptions::new().on_progress(Duration::ZERO, |p| {
                if p.completed >= 5 {
                    panic!("progress boom")
                }
            })),
            |r| r.is_ok(),
        )
    }));
    assert_eq!(panic_message(&*caught.unwrap_err()), "progress boom");
    assert!(par.get_ref().started.lock().len() < 50);
}

#[test]
#[should_panic(expected = "from inside one of its own items")]
fn nested_call_on_the_same_executor_panics() {
    let par = ParExecutor::new(Fake::default(), 2).unwrap();
    let _ = (0..2).par_pipeline(&par).try_run(|_, _| {
        (0..2).map(|_| get("0")).par_map(&par, |r| r.is_ok());
        Ok(())
    });
}

#[test]
fn empty_inputs_and_bad_config() {
    let par = ParExecutor::new(Fake::default(), 2).unwrap();
    assert!(
        Vec::<Request>::new()
            .par_map(&par, |r| r.is_ok())
            .is_empty()
    );
    assert_eq!(
        Vec::<Request>::new()
            .try_par_map(&par, |r| r.map(|_| ()))
            .unwrap(),
        []
    );
    for (c, t) in [(0, 1), (1, 0), (5000, 1)] {
        let e = ParExecutorBuilder::new()
            .concurrency(c)
            .threads(t)
            .build(Fake::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    }
    let fake: Fake = par.into_inner();
    assert!(fake.started.lock().is_empty());
}
