//! The run engine's own promises, shared by batches, streaming runs and par calls: pause and
//! resume, the deadline on every request, lazy input. Against real loopback servers.

mod support;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use httpbatch::prelude::*;
use httpbatch::{
    BatchControl, BatchEvent, BatchExecutor, BatchOptions, ErrorKind, HttpClient, Outcome,
    ParExecutor, Request,
};
use support::{Server, eventually, steady};

fn executor(workers: usize) -> BatchExecutor<HttpClient> {
    BatchExecutor::new(HttpClient::new(), workers).unwrap()
}

/// Pauses `control` once the server has seen `after` requests, checks that nothing new reaches
/// the server for `quiet` once the requests in flight have drained, then resumes. Returns the
/// number of requests the server saw while paused.
fn pause_and_watch(
    server: &Server,
    control: &BatchControl,
    in_flight: impl Fn() -> u64,
    after: u64,
    quiet: Duration,
) -> u64 {
    assert!(eventually(Duration::from_secs(20), || server.requests() >= after));
    control.pause();
    // A runner may have taken an item just before the pause: wait until nothing has reached
    // the server for 100 ms (the requests take 10 ms each).
    let before = steady(Duration::from_secs(20), Duration::from_millis(100), || {
        (server.requests(), server.in_flight(), in_flight())
    })
    .expect("the run pauses");
    assert_eq!((before.1, before.2), (0, 0), "requests in flight finish");
    let before = before.0;
    let end = Instant::now() + quiet;
    let mut during = 0;
    while Instant::now() < end {
        during = during.max(server.requests() - before);
        std::thread::sleep(Duration::from_millis(5));
    }
    control.resume();
    during
}

#[test]
fn pause_stops_dispatch_and_resume_settles_every_slot() {
    let server = Server::start().unwrap();
    let ex = executor(4);
    let control = BatchControl::new();
    let requests: Vec<_> = (0..120)
        .map(|_| Request::get(&server.url("/delay/10")))
        .collect();
    let mut paused_seen = false;
    let mut events = (0, 0, Duration::ZERO);
    let (result, during) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            pause_and_watch(
                &server,
                &control,
                || ex.stats().in_flight,
                20,
                Duration::from_millis(500),
            )
        });
        let result = ex.execute_batch(
            requests,
            BatchOptions::new()
                .control(control.clone())
                .on_progress(Duration::from_millis(10), |p| paused_seen |= p.paused)
                .on_event(|e| match e {
                    BatchEvent::Paused => events.0 += 1,
                    BatchEvent::Resumed { paused_for } => {
                        events.1 += 1;
                        events.2 = *paused_for;
                    }
                    _ => {}
                }),
        );
        (result, watcher.join().unwrap())
    });
    assert_eq!(during, 0, "no new request reached the server while paused");
    assert_eq!(
        result.summary.succeeded, 120,
        "every slot settles after resume"
    );
    assert_eq!(server.requests(), 120);
    assert!(paused_seen, "progress reported the paused state");
    assert_eq!((events.0, events.1), (1, 1));
    assert!(events.2 >= Duration::from_millis(500), "{:?}", events.2);
}

#[test]
fn cancel_while_paused_settles_every_slot_cancelled() {
    let server = Server::start().unwrap();
    let ex = executor(4);
    let control = BatchControl::new();
    control.pause();
    let started = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            // Cancel once the run has begun (its progress callback ran), still paused.
            assert!(eventually(Duration::from_secs(20), || started.load(Ordering::SeqCst)));
            control.cancel();
        });
        ex.execute_batch(
            (0..500).map(|_| Request::get(&server.url("/ok"))),
            BatchOptions::new()
                .control(control.clone())
                .on_progress(Duration::ZERO, |_| started.store(true, Ordering::SeqCst)),
        )
    });
    assert_eq!(server.requests(), 0, "nothing was sent while paused");
    assert_eq!(result.outcomes.len(), 500);
    assert_eq!(result.summary.cancelled, 500);
}

#[test]
fn the_deadline_runs_while_paused() {
    let server = Server::start().unwrap();
    let ex = executor(2);
    let control = BatchControl::new();
    control.pause();
    let result = ex.execute_batch(
        (0..50).map(|_| Request::get(&server.url("/ok"))),
        BatchOptions::new()
            .control(control)
            .batch_timeout(Duration::from_millis(50)),
    );
    assert_eq!(result.summary.not_run, 50);
    assert_eq!(server.requests(), 0);
}

#[test]
fn a_past_deadline_sends_nothing() {
    let server = Server::start().unwrap();
    let ex = executor(32);
    let par = ParExecutor::new(HttpClient::new(), 32).unwrap();
    for round in 0..50 {
        let past = Instant::now() - Duration::from_millis(1);
        let result = ex.execute_batch(
            (0..2000).map(|_| Request::get(&server.url("/ok"))),
            BatchOptions::new().deadline(past),
        );
        assert_eq!(result.summary.not_run, 2000, "round {round}");
        let kinds = (0..100)
            .map(|_| Request::get(&server.url("/ok")))
            .par_map(par.with_options(BatchOptions::new().deadline(past)), |r| {
                r.unwrap_err().kind()
            });
        assert!(
            kinds.iter().all(|k| *k == ErrorKind::NotRun),
            "round {round}"
        );
    }
    assert_eq!(
        server.requests(),
        0,
        "a deadline already past sends nothing"
    );
    assert_eq!(server.accepted(), 0);
}

#[test]
fn streaming_reads_its_input_lazily() {
    let server = Server::start().unwrap();
    let ex = executor(8);
    let pulled = Cell::new(0usize);
    let mut settled = 0usize;
    let mut most_ahead = 0usize;
    let requests = (0..3000).map(|_| {
        pulled.set(pulled.get() + 1);
        Request::get(&server.url("/bytes/16"))
    });
    let summary = ex.execute_streaming(
        requests,
        BatchOptions::new().queue_ahead(64),
        |_, outcome| {
            assert!(outcome.is_success());
            settled += 1;
            most_ahead = most_ahead.max(pulled.get() - settled);
        },
    );
    assert_eq!((summary.total, summary.succeeded), (3000, 3000));
    // At most `queue_ahead` queued plus one per worker in flight, plus the one being read.
    assert!(most_ahead <= 64 + 8 + 1, "read {most_ahead} ahead");
    assert!(most_ahead >= 8, "the workers were kept busy: {most_ahead}");
}

#[test]
fn a_stopped_run_settles_the_rest_of_a_lazy_input() {
    let server = Server::start().unwrap();
    // One worker: nothing runs beside the failing request, so the counts are exact.
    let ex = executor(1);
    let mut requests: Vec<_> = (0..1000)
        .map(|_| Request::get(&server.url("/ok")))
        .collect();
    requests[3] = Request::get(&server.url("/reset"));
    let mut kinds = vec![""; 1000];
    let summary = ex.execute_streaming(
        requests,
        BatchOptions::new().fail_fast(true).queue_ahead(4),
        |i, o: Outcome| kinds[i] = o.kind_str(),
    );
    assert_eq!(summary.total, 1000);
    assert!(kinds.iter().all(|k| !k.is_empty()), "every index settles");
    assert_eq!(kinds[3], "error");
    assert_eq!(
        (summary.responses, summary.errors, summary.not_run),
        (3, 1, 996),
        "{summary:?}"
    );
    // The `/reset` on a reused connection is resent once by the leaf (stale keep-alive rule).
    assert_eq!(server.requests(), 5);
}

/// Holds each request until `want` requests have entered (at most 10 s; then answers 500).
struct Gathering {
    entered: std::sync::Mutex<usize>,
    all_in: std::sync::Condvar,
    want: usize,
}

impl httpbatch::Execute for Gathering {
    fn execute(
        &self,
        req: Request,
        _ctx: &httpbatch::Context,
    ) -> Result<httpbatch::Response, httpbatch::Error> {
        let mut n = self.entered.lock().unwrap();
        *n += 1;
        self.all_in.notify_all();
        let (n, _) = self
            .all_in
            .wait_timeout_while(n, Duration::from_secs(10), |n| *n < self.want)
            .unwrap();
        let status = if *n >= self.want { 200 } else { 500 };
        Ok(httpbatch::Response::new(status, Vec::new()).with_tag(req.tag()))
    }
}

/// The engine starts as many runners as cores first, and the rest once items prove slow: items
/// that each wait for the run's whole concurrency must all get it.
#[test]
fn slow_items_get_the_full_concurrency() {
    for c in [3, 16, 48] {
        let ex = BatchExecutor::new(
            Gathering {
                entered: std::sync::Mutex::new(0),
                all_in: std::sync::Condvar::new(),
                want: c,
            },
            64,
        )
        .unwrap();
        let requests: Vec<_> = (0..4 * c as u64)
            .map(|i| {
                Request::builder(httpbatch::Method::Get, "http://127.0.0.1/")
                    .tag(i)
                    .build()
            })
            .collect();
        let r = ex.execute_batch(requests, BatchOptions::new().concurrency(c));
        assert_eq!(r.summary.succeeded, 4 * c, "concurrency {c}");
    }
}

/// Answers at once and pauses `control` when it sees tag `pause_at`; counts its calls.
struct PausesAt {
    control: BatchControl,
    pause_at: u64,
    calls: std::sync::atomic::AtomicUsize,
}

impl httpbatch::Execute for PausesAt {
    fn execute(
        &self,
        req: Request,
        _ctx: &httpbatch::Context,
    ) -> Result<httpbatch::Response, httpbatch::Error> {
        if req.tag() == self.pause_at {
            self.control.pause();
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(httpbatch::Response::new(200, Vec::new()).with_tag(req.tag()))
    }
}

/// Runners may hold back the outcomes of quick items; none may stay held once the run pauses:
/// the caller must see every outcome of what started (it resumes only then), or the run would
/// never end. A deadline turns a lost outcome into a failure rather than a hang.
#[test]
fn a_paused_run_reports_every_outcome_of_what_started() {
    for round in 0..20u64 {
        let control = BatchControl::new();
        let ex = BatchExecutor::new(
            PausesAt {
                control: control.clone(),
                pause_at: 3000 + round * 97,
                calls: std::sync::atomic::AtomicUsize::new(0),
            },
            8,
        )
        .unwrap();
        let requests = (0..10_000u64).map(|i| {
            Request::builder(httpbatch::Method::Get, "http://127.0.0.1/")
                .tag(i)
                .build()
        });
        let resumed = Cell::new(false);
        let options = BatchOptions::new()
            .control(control.clone())
            .deadline(Instant::now() + Duration::from_secs(20))
            .on_progress(Duration::from_millis(1), |p| {
                let calls = ex.get_ref().calls.load(Ordering::SeqCst);
                if p.paused && p.completed == calls && !resumed.get() {
                    resumed.set(true);
                    control.resume();
                }
            });
        let r = ex.execute_batch(requests, options);
        assert!(resumed.get(), "round {round}: the pause saw every outcome");
        assert_eq!(r.summary.succeeded, 10_000, "round {round}");
    }
}
